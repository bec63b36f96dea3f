//! Incomplete multipart uploads (billed, invisible to the registry).
//! object_store 0.14 aborts them (`MultipartStore::abort_multipart`) but has
//! no ListMultipartUploads, so that request is built here, signed by
//! object_store's own `AwsAuthorizer` and sent through the same counted HTTP
//! client, with a retry loop shaped like object_store's (5xx, 429 and
//! transport errors; backoff from 100 ms doubling to 15 s; 10 retries; within
//! the client's retry timeout).

use std::time::{Duration, Instant, SystemTime};

use object_store::aws::AwsAuthorizer;
use object_store::client::{HttpErrorKind, HttpRequestBody};
use object_store::multipart::MultipartStore;
use serde::Deserialize;

use super::client::path;
use super::error::{ClientError, ErrorKind, Operation};
use super::S3Client;

/// One incomplete multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    /// The key the upload would create.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
    /// When it was initiated.
    pub initiated: SystemTime,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<Upload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
    initiated: String,
}

const MAX_RETRIES: u32 = 10;

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl S3Client {
    /// The incomplete multipart uploads whose key starts with `prefix` (a
    /// plain string prefix, as S3 matches it), all pages.
    pub fn list_multipart_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, ClientError> {
        self.0.runtime.block_on(async {
            let mut uploads = Vec::new();
            let mut marker: Option<(String, String)> = None;
            loop {
                let mut query = format!("uploads&prefix={}", encode(prefix));
                if let Some((key, id)) = &marker {
                    query += &format!(
                        "&key-marker={}&upload-id-marker={}",
                        encode(key),
                        encode(id)
                    );
                }
                let body = self.signed_get(&query, prefix).await?;
                let page: Page = quick_xml::de::from_reader(body.as_slice()).map_err(|e| {
                    self.other(
                        prefix,
                        format!("unreadable ListMultipartUploads response: {e}"),
                    )
                })?;
                for upload in page.uploads {
                    let initiated =
                        humantime::parse_rfc3339_weak(&upload.initiated).map_err(|e| {
                            self.other(prefix, format!("bad Initiated {:?}: {e}", upload.initiated))
                        })?;
                    uploads.push(MultipartUpload {
                        key: upload.key,
                        upload_id: upload.upload_id,
                        initiated,
                    });
                }
                if !page.is_truncated {
                    return Ok(uploads);
                }
                marker = match (page.next_key_marker, page.next_upload_id_marker) {
                    (Some(key), Some(id)) => Some((key, id)),
                    _ => {
                        return Err(self.other(
                            prefix,
                            "a truncated ListMultipartUploads page without next markers".into(),
                        ))
                    }
                };
            }
        })
    }

    /// Aborts an incomplete multipart upload; one already gone is no error.
    pub fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<(), ClientError> {
        let location = path(key).map_err(|e| {
            ClientError::new(
                Operation::AbortUpload,
                self.bucket(),
                key,
                ErrorKind::InvalidKey,
                e,
            )
        })?;
        let upload_id = upload_id.to_string();
        let abort = self.0.store.abort_multipart(&location, &upload_id);
        match self.0.runtime.block_on(abort) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(Operation::AbortUpload, key, &e)),
        }
    }

    /// A signed GET on the bucket with `query`, retried; the response body.
    async fn signed_get(&self, query: &str, prefix: &str) -> Result<Vec<u8>, ClientError> {
        let op = Operation::ListUploads;
        let start = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut retries = 0;
        loop {
            let credential = self
                .0
                .store
                .credentials()
                .get_credential()
                .await
                .map_err(|e| self.error(op, prefix, &e))?;
            let mut request = http::Request::get(format!("{}?{query}", self.0.bucket_url))
                .body(HttpRequestBody::empty())
                .map_err(|e| self.other(prefix, e.to_string()))?;
            AwsAuthorizer::new(&credential, "s3", &self.0.region)
                .try_authorize(&mut request, None)
                .map_err(|e| self.error(op, prefix, &e))?;
            let give_up =
                retries >= MAX_RETRIES || start.elapsed() + backoff > self.0.retry_timeout;
            let failure = match self.0.http.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.into_body().bytes().await;
                    match body {
                        Ok(body) if status.is_success() => return Ok(body.to_vec()),
                        Ok(body) => {
                            let text = format!("HTTP {status}: {}", String::from_utf8_lossy(&body));
                            let error = if matches!(status.as_u16(), 401 | 403)
                                && !text.contains("<Code>")
                            {
                                object_store::Error::PermissionDenied {
                                    path: prefix.to_string(),
                                    source: text.into(),
                                }
                            } else {
                                object_store::Error::Generic {
                                    store: "S3",
                                    source: text.into(),
                                }
                            };
                            let retry = status.is_server_error() || status.as_u16() == 429;
                            (error, retry)
                        }
                        Err(e) => (
                            object_store::Error::Generic {
                                store: "S3",
                                source: Box::new(e),
                            },
                            true,
                        ),
                    }
                }
                Err(e) => {
                    let retry = matches!(
                        e.kind(),
                        HttpErrorKind::Connect
                            | HttpErrorKind::Request
                            | HttpErrorKind::Timeout
                            | HttpErrorKind::Interrupted
                    );
                    (
                        object_store::Error::Generic {
                            store: "S3",
                            source: Box::new(e),
                        },
                        retry,
                    )
                }
            };
            match failure {
                (error, true) if !give_up => {
                    tracing::info!("ListMultipartUploads failed, retrying in {backoff:?}: {error}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                    retries += 1;
                }
                (error, _) => return Err(self.error(op, prefix, &error)),
            }
        }
    }

    fn other(&self, prefix: &str, detail: String) -> ClientError {
        ClientError::new(
            Operation::ListUploads,
            self.bucket(),
            prefix,
            ErrorKind::Other,
            detail,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(
            encode("reg/docker/a b+c~_.-"),
            "reg%2Fdocker%2Fa%20b%2Bc~_.-"
        );
    }

    #[test]
    fn pages_parse_with_and_without_uploads() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
<MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
<Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2026-12-01T18:00:00.000Z</Initiated></Upload>
<Upload><Key>k2</Key><UploadId>u2</UploadId><Initiated>2026-12-01T18:00:01.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: Page = quick_xml::de::from_str(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(
            (
                page.uploads[1].key.as_str(),
                page.uploads[1].upload_id.as_str()
            ),
            ("k2", "u2")
        );
        assert_eq!(page.next_key_marker.as_deref(), Some("k2"));
        let empty: Page = quick_xml::de::from_str(
            "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(!empty.is_truncated && empty.uploads.is_empty());
    }
}
