//! The S3 client: object_store's `AmazonS3` behind synchronous calls, with a
//! tokio runtime of its own, callable from many rayon threads at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpClient, HttpConnector};
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::counting::{Counters, CountingConnector, RequestCounts};
use super::error::{ClientError, ErrorKind, Operation};

/// Requests in flight by default (listings of independent prefixes, deletes).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Total time a request may spend retrying by default. object_store's own
/// default is 180 s; a minute of 5xx, SlowDown or refused connections is
/// enough to call the server down. Backoff (100 ms doubling to 15 s, with
/// jitter) and the 10-retry cap stay object_store's defaults.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// Listings in flight at most: a page of 1,000 keys is ~350 KB of XML, held
/// until parsed, so 64 listings at once cost ~15 MB more memory than 16 for
/// little time (measured on 20k blobs on SeaweedFS: 40 MB and 4.3 s with 16
/// requests in flight, 55 MB and 4.1 s with 64).
const MAX_LISTINGS_IN_FLIGHT: usize = 16;

/// Keys per DeleteObjects request (the S3 maximum).
const DELETE_BATCH: usize = 1000;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Bucket name.
    pub bucket: String,
    /// Region used for signing (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Full endpoint URL (`http://minio:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted
    /// ones (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Access key; `None` with `secret_key` `None` uses the AWS default chain
    /// as object_store reads it (`AWS_*` environment variables, web identity,
    /// ECS task role, EC2 instance metadata; not the shared profile files).
    pub access_key: Option<String>,
    /// Secret key, set together with `access_key`.
    pub secret_key: Option<String>,
    /// Accept any TLS certificate.
    pub skip_verify: bool,
    /// Most requests in flight for the bulk calls ([`S3Client::list_many`],
    /// [`S3Client::delete`]).
    pub max_in_flight: usize,
    /// Most time one request may spend retrying ([`DEFAULT_RETRY_TIMEOUT`]).
    pub retry_timeout: Duration,
}

impl ClientConfig {
    /// Defaults for a bucket on AWS: virtual-hosted style, default credential
    /// chain, [`DEFAULT_MAX_IN_FLIGHT`], [`DEFAULT_RETRY_TIMEOUT`].
    pub fn new(bucket: &str, region: &str) -> Self {
        ClientConfig {
            bucket: bucket.to_string(),
            region: region.to_string(),
            endpoint: None,
            path_style: false,
            access_key: None,
            secret_key: None,
            skip_verify: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
        }
    }
}

/// One object as a listing or HEAD reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// LastModified.
    pub modified: SystemTime,
    /// ETag as the server sent it (quotes included), if any.
    pub etag: Option<String>,
}

impl From<ObjectMeta> for ObjectInfo {
    fn from(meta: ObjectMeta) -> Self {
        ObjectInfo {
            key: meta.location.to_string(),
            size: meta.size,
            modified: SystemTime::from(meta.last_modified),
            etag: meta.e_tag,
        }
    }
}

/// A client for one bucket. Cloning is cheap and shares the runtime, the
/// connection pool and the request counts.
#[derive(Debug, Clone)]
pub struct S3Client(pub(super) Arc<Inner>);

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) store: AmazonS3,
    /// The counted HTTP client, for the requests object_store does not make.
    pub(super) http: HttpClient,
    pub(super) bucket: String,
    pub(super) region: String,
    /// The bucket's URL, no trailing slash (`http://h:9000/b`, `https://b.s3.r.amazonaws.com`).
    pub(super) bucket_url: String,
    /// The endpoint as error messages name it.
    endpoint: String,
    max_in_flight: usize,
    pub(super) retry_timeout: Duration,
    counters: Arc<Counters>,
    pub(super) runtime: tokio::runtime::Runtime,
}

/// Where requests go: the endpoint to hand object_store (if any) and
/// whether that endpoint already names the bucket (virtual-hosted style).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    endpoint: Option<String>,
    virtual_hosted: bool,
    allow_http: bool,
    bucket_url: String,
}

/// object_store uses a custom endpoint as is in virtual-hosted style, so the
/// bucket goes in front of the host here: `http://h:9000` -> `http://b.h:9000`.
fn target(cfg: &ClientConfig) -> Result<Target, String> {
    let Some(endpoint) = &cfg.endpoint else {
        let (bucket, region) = (&cfg.bucket, &cfg.region);
        return Ok(Target {
            endpoint: None,
            virtual_hosted: !cfg.path_style,
            allow_http: false,
            bucket_url: if cfg.path_style {
                format!("https://s3.{region}.amazonaws.com/{bucket}")
            } else {
                format!("https://{bucket}.s3.{region}.amazonaws.com")
            },
        });
    };
    let endpoint = endpoint.trim_end_matches('/');
    let (scheme, host) = endpoint
        .split_once("://")
        .filter(|(scheme, host)| matches!(*scheme, "http" | "https") && !host.is_empty())
        .ok_or_else(|| format!("endpoint {endpoint} is not an http:// or https:// URL"))?;
    let bucket_endpoint = format!("{scheme}://{}.{host}", cfg.bucket);
    Ok(Target {
        endpoint: Some(if cfg.path_style {
            endpoint.to_string()
        } else {
            bucket_endpoint.clone()
        }),
        virtual_hosted: !cfg.path_style,
        allow_http: scheme == "http",
        bucket_url: if cfg.path_style {
            format!("{endpoint}/{}", cfg.bucket)
        } else {
            bucket_endpoint
        },
    })
}

/// Parses a key (or a prefix, trailing `/` ignored) into an object_store path.
pub(super) fn path(key: &str) -> Result<Path, String> {
    Path::parse(key.trim_end_matches('/')).map_err(|e| e.to_string())
}

impl S3Client {
    /// Builds the client. Nothing is sent until the first operation.
    pub fn new(cfg: ClientConfig) -> Result<S3Client, ClientError> {
        let setup_error = |detail: String| {
            ClientError::new(Operation::Setup, &cfg.bucket, "", ErrorKind::Config, detail)
        };
        let target = target(&cfg).map_err(setup_error)?;
        let mut builder = match (&cfg.access_key, &cfg.secret_key) {
            (None, None) => AmazonS3Builder::from_env(),
            (Some(access), Some(secret)) => AmazonS3Builder::new()
                .with_access_key_id(access)
                .with_secret_access_key(secret),
            _ => {
                return Err(setup_error(
                    "set both the access key and the secret key, or neither".into(),
                ))
            }
        };
        let counters = Arc::new(Counters::default());
        let options = ClientOptions::new()
            .with_allow_invalid_certificates(cfg.skip_verify)
            .with_allow_http(target.allow_http);
        let http = CountingConnector(Arc::clone(&counters))
            .connect(&options)
            .map_err(|e| setup_error(e.to_string()))?;
        builder = builder
            .with_client_options(options)
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_virtual_hosted_style_request(target.virtual_hosted)
            .with_retry(RetryConfig {
                retry_timeout: cfg.retry_timeout,
                ..RetryConfig::default()
            })
            .with_http_connector(CountingConnector(Arc::clone(&counters)));
        if let Some(endpoint) = &target.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()
            .map_err(|e| setup_error(format!("cannot start the I/O runtime: {e}")))?;
        let store = {
            let _context = runtime.enter();
            builder.build().map_err(|e| setup_error(e.to_string()))?
        };
        let endpoint = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", cfg.region));
        Ok(S3Client(Arc::new(Inner {
            store,
            http,
            bucket: cfg.bucket,
            region: cfg.region,
            bucket_url: target.bucket_url,
            endpoint,
            max_in_flight: cfg.max_in_flight.max(1),
            retry_timeout: cfg.retry_timeout,
            counters,
            runtime,
        })))
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.0.bucket
    }

    /// Requests sent so far, by operation, retries included.
    pub fn requests(&self) -> RequestCounts {
        self.0.counters.snapshot()
    }

    /// Every object under `prefix` (whole path segments: `a/b` lists
    /// `a/b/...`, not `a/bc`; empty lists the bucket), one flat paginated
    /// ListObjectsV2: one request per 1,000 keys.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ClientError> {
        self.0.runtime.block_on(self.list_async(prefix, &Some))
    }

    /// The objects whose keys start with each of `prefixes`, all listed
    /// concurrently (at most `max_in_flight` listings, and at most
    /// [`MAX_LISTINGS_IN_FLIGHT`], at a time), concatenated in the order of
    /// `prefixes`. Prefixes are plain strings: `blobs/sha256/a` covers
    /// `blobs/sha256/ab/...`; end one with `/` for a directory. The first
    /// failure fails the call.
    pub fn list_many(&self, prefixes: &[String]) -> Result<Vec<ObjectInfo>, ClientError> {
        self.list_many_map(prefixes, Some)
    }

    /// [`S3Client::list_many`], each object mapped by `keep` as it arrives
    /// (`None`: left out), so that only what the caller keeps is held.
    pub fn list_many_map<T: Send>(
        &self,
        prefixes: &[String],
        keep: impl Fn(ObjectInfo) -> Option<T> + Sync,
    ) -> Result<Vec<T>, ClientError> {
        let keep = &keep;
        self.0.runtime.block_on(async {
            let lists: Vec<Vec<T>> = futures::stream::iter(prefixes)
                .map(|prefix| self.list_raw_async(prefix, keep))
                .buffered(self.0.max_in_flight.min(MAX_LISTINGS_IN_FLIGHT))
                .try_collect()
                .await?;
            Ok(lists.into_iter().flatten().collect())
        })
    }

    async fn list_raw_async<T>(
        &self,
        prefix: &str,
        keep: &(impl Fn(ObjectInfo) -> Option<T> + Sync),
    ) -> Result<Vec<T>, ClientError> {
        use object_store::list::{PaginatedListOptions, PaginatedListStore};
        let mut out = Vec::new();
        let mut page_token = None;
        loop {
            let opts = PaginatedListOptions {
                page_token,
                ..PaginatedListOptions::default()
            };
            let page = self
                .0
                .store
                .list_paginated(Some(prefix), opts)
                .await
                .map_err(|e| self.error(Operation::List, prefix, &e))?;
            let objects = page.result.objects.into_iter();
            out.extend(objects.filter_map(|m| keep(ObjectInfo::from(m))));
            match page.page_token {
                Some(token) => page_token = Some(token),
                None => return Ok(out),
            }
        }
    }

    /// Every object under `prefix` whose key sorts after `start_after`, one
    /// flat paginated listing (ListObjectsV2 `start-after`), mapped by
    /// `keep` as it arrives.
    pub fn list_after_map<T>(
        &self,
        prefix: &str,
        start_after: &str,
        keep: impl Fn(ObjectInfo) -> Option<T> + Sync,
    ) -> Result<Vec<T>, ClientError> {
        let location = path(prefix).map_err(|e| self.invalid(Operation::List, prefix, e))?;
        let offset =
            path(start_after).map_err(|e| self.invalid(Operation::List, start_after, e))?;
        self.0.runtime.block_on(async {
            self.0
                .store
                .list_with_offset(Some(&location), &offset)
                .try_filter_map(|m| futures::future::ready(Ok(keep(ObjectInfo::from(m)))))
                .try_collect()
                .await
                .map_err(|e| self.error(Operation::List, prefix, &e))
        })
    }

    /// The first objects under `prefix` (at most `n`, one page for `n` up
    /// to 1,000), and whether they are all of them.
    pub fn list_first(
        &self,
        prefix: &str,
        n: usize,
    ) -> Result<(Vec<ObjectInfo>, bool), ClientError> {
        let location = path(prefix).map_err(|e| self.invalid(Operation::List, prefix, e))?;
        self.0.runtime.block_on(async {
            let mut listed: Vec<ObjectInfo> = self
                .0
                .store
                .list(Some(&location))
                .take(n + 1)
                .map_ok(ObjectInfo::from)
                .try_collect()
                .await
                .map_err(|e| self.error(Operation::List, prefix, &e))?;
            let complete = listed.len() <= n;
            listed.truncate(n);
            Ok((listed, complete))
        })
    }

    /// One level of `prefix`: the objects directly in it, and the prefixes
    /// (ending in `/`) of the "directories" below it.
    pub fn list_dirs(&self, prefix: &str) -> Result<(Vec<ObjectInfo>, Vec<String>), ClientError> {
        let location = path(prefix).map_err(|e| self.invalid(Operation::List, prefix, e))?;
        self.0.runtime.block_on(async {
            let listed = self
                .0
                .store
                .list_with_delimiter(Some(&location))
                .await
                .map_err(|e| self.error(Operation::List, prefix, &e))?;
            let dirs = listed
                .common_prefixes
                .into_iter()
                .map(|p| format!("{p}/"))
                .collect();
            Ok((
                listed.objects.into_iter().map(ObjectInfo::from).collect(),
                dirs,
            ))
        })
    }

    /// Every object under `prefix`, mapped by `keep` as it arrives.
    async fn list_async<T>(
        &self,
        prefix: &str,
        keep: &(impl Fn(ObjectInfo) -> Option<T> + Sync),
    ) -> Result<Vec<T>, ClientError> {
        let location = if prefix.trim_end_matches('/').is_empty() {
            None
        } else {
            Some(path(prefix).map_err(|e| self.invalid(Operation::List, prefix, e))?)
        };
        self.0
            .store
            .list(location.as_ref())
            .try_filter_map(|m| futures::future::ready(Ok(keep(ObjectInfo::from(m)))))
            .try_collect()
            .await
            .map_err(|e| self.error(Operation::List, prefix, &e))
    }

    /// The object's content; `None` if there is no such key. An object larger
    /// than `max_bytes` is an error ([`ErrorKind::TooLarge`]), found from its
    /// Content-Length before its body is read.
    pub fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, ClientError> {
        let location = path(key).map_err(|e| self.invalid(Operation::Get, key, e))?;
        self.0.runtime.block_on(async {
            let result = match self.0.store.get(&location).await {
                Ok(result) => result,
                Err(e) => return self.missing_or(Operation::Get, key, e),
            };
            let too_large = |size: u64| {
                ClientError::new(
                    Operation::Get,
                    &self.0.bucket,
                    key,
                    ErrorKind::TooLarge,
                    format!("the object is {size} bytes, more than the limit of {max_bytes}"),
                )
            };
            if result.meta.size > max_bytes {
                return Err(too_large(result.meta.size));
            }
            let mut body = Vec::with_capacity(result.meta.size as usize);
            let mut stream = result.into_stream();
            while let Some(chunk) = stream
                .try_next()
                .await
                .map_err(|e| self.error(Operation::Get, key, &e))?
            {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max_bytes {
                    return Err(too_large(body.len() as u64));
                }
            }
            Ok(Some(body))
        })
    }

    /// The object's metadata; `None` if there is no such key. A HEAD response
    /// has no body, so a missing bucket also reads as `None` here: list first.
    pub fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ClientError> {
        let location = path(key).map_err(|e| self.invalid(Operation::Head, key, e))?;
        self.0.runtime.block_on(async {
            match self.0.store.head(&location).await {
                Ok(meta) => Ok(Some(meta.into())),
                Err(e) => self.missing_or(Operation::Head, key, e),
            }
        })
    }

    /// Deletes the keys with DeleteObjects, 1,000 a request, up to
    /// `max_in_flight` requests at a time. One result per key, in order; a key
    /// that did not exist counts as deleted (S3 semantics).
    pub fn delete(&self, keys: &[String]) -> Vec<(String, Result<(), String>)> {
        let mut outcome: HashMap<&str, Result<(), String>> = HashMap::new();
        let mut valid = Vec::new();
        for key in keys {
            match path(key) {
                Ok(p) if p.as_ref() == key => valid.push(p),
                Ok(_) | Err(_) => {
                    outcome.insert(key, Err(format!("{key:?} is not a valid object key")));
                }
            }
        }
        let batches: Vec<Vec<Path>> = valid.chunks(DELETE_BATCH).map(<[Path]>::to_vec).collect();
        let results: Vec<(Vec<Path>, Vec<object_store::Result<Path>>)> = self.0.runtime.block_on(
            futures::stream::iter(batches)
                .map(|batch| async move {
                    let input = futures::stream::iter(batch.clone().into_iter().map(Ok));
                    let results = self.0.store.delete_stream(input.boxed()).collect().await;
                    (batch, results)
                })
                .buffer_unordered(self.0.max_in_flight)
                .collect(),
        );
        for (batch, results) in &results {
            let mut deleted = std::collections::HashSet::new();
            let mut errors = Vec::new();
            for result in results {
                match result {
                    Ok(p) => {
                        deleted.insert(p.as_ref());
                    }
                    Err(e) => errors.push((
                        e.to_string(),
                        super::error::describe(&self.0.bucket, &self.0.endpoint, e),
                    )),
                }
            }
            for p in batch {
                let key = p.as_ref();
                let result = if deleted.contains(key) {
                    Ok(())
                } else {
                    let mine = format!("for key {key}:");
                    Err(errors
                        .iter()
                        .find(|(e, _)| e.contains(&mine))
                        .or(errors.iter().find(|(e, _)| !e.contains("for key ")))
                        .map(|(_, detail)| detail.clone())
                        .unwrap_or_else(|| "the server did not confirm the deletion".into()))
                };
                outcome.insert(key, result);
            }
        }
        keys.iter()
            .map(|key| {
                let result = outcome
                    .get(key.as_str())
                    .cloned()
                    .unwrap_or_else(|| Err("no result for this key".into()));
                (key.clone(), result)
            })
            .collect()
    }

    /// Deletes one key (a DeleteObjects of one); a missing key is no error.
    pub fn delete_one(&self, key: &str) -> Result<(), ClientError> {
        let location = path(key).map_err(|e| self.invalid(Operation::Delete, key, e))?;
        self.0
            .runtime
            .block_on(self.0.store.delete(&location))
            .map_err(|e| self.error(Operation::Delete, key, &e))
    }

    /// Writes the object whether or not it exists.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.put_mode(key, bytes, PutMode::Overwrite).map(|_| ())
    }

    /// Creates the object only if the key is free (`If-None-Match: *`):
    /// `true` if this call created it, `false` if it already existed.
    pub fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<bool, ClientError> {
        self.put_mode(key, bytes, PutMode::Create)
    }

    fn put_mode(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<bool, ClientError> {
        let location = path(key).map_err(|e| self.invalid(Operation::Put, key, e))?;
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let put = self
            .0
            .store
            .put_opts(&location, PutPayload::from(bytes), options);
        match self.0.runtime.block_on(put) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error(Operation::Put, key, &e)),
        }
    }

    /// `Ok(None)` for a missing key (unless the bucket is what is missing).
    fn missing_or<T>(
        &self,
        op: Operation,
        key: &str,
        e: object_store::Error,
    ) -> Result<Option<T>, ClientError> {
        let error = self.error(op, key, &e);
        match e {
            object_store::Error::NotFound { .. } if error.kind() != ErrorKind::NoSuchBucket => {
                Ok(None)
            }
            _ => Err(error),
        }
    }

    pub(super) fn error(&self, op: Operation, key: &str, e: &object_store::Error) -> ClientError {
        ClientError::from_store(op, &self.0.bucket, key, &self.0.endpoint, e)
    }

    fn invalid(&self, op: Operation, key: &str, detail: String) -> ClientError {
        ClientError::new(op, &self.0.bucket, key, ErrorKind::InvalidKey, detail)
    }
}

/// A client for `bucket` at an endpoint where nothing listens, giving up
/// after 100 ms: for unit tests of what fails, or stops before a request.
#[cfg(test)]
pub(crate) fn unreachable_client(bucket: &str) -> S3Client {
    S3Client::new(ClientConfig {
        endpoint: Some("http://127.0.0.1:1".into()),
        path_style: true,
        access_key: Some("test".into()),
        secret_key: Some("test".into()),
        retry_timeout: Duration::from_millis(100),
        ..ClientConfig::new(bucket, "us-east-1")
    })
    .expect("a client for 127.0.0.1:1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: Option<&str>, path_style: bool) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.map(str::to_string),
            path_style,
            ..ClientConfig::new("reg", "us-east-1")
        }
    }

    #[test]
    fn virtual_hosted_style_puts_the_bucket_in_front_of_the_host() {
        let t = target(&cfg(Some("http://minio:9000/"), false)).unwrap();
        assert_eq!(
            t,
            Target {
                endpoint: Some("http://reg.minio:9000".into()),
                virtual_hosted: true,
                allow_http: true,
                bucket_url: "http://reg.minio:9000".into(),
            }
        );
        let t = target(&cfg(Some("https://s3.example.com"), true)).unwrap();
        assert_eq!(
            t,
            Target {
                endpoint: Some("https://s3.example.com".into()),
                virtual_hosted: false,
                allow_http: false,
                bucket_url: "https://s3.example.com/reg".into(),
            }
        );
        let t = target(&cfg(None, false)).unwrap();
        assert_eq!((t.endpoint, t.virtual_hosted), (None, true));
        assert_eq!(t.bucket_url, "https://reg.s3.us-east-1.amazonaws.com");
        let t = target(&cfg(None, true)).unwrap();
        assert_eq!(t.bucket_url, "https://s3.us-east-1.amazonaws.com/reg");
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_refused() {
        let e = S3Client::new(cfg(Some("minio:9000"), true)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(
            e.to_string(),
            "S3 setup of s3://reg/: endpoint minio:9000 is not an http:// or https:// URL"
        );
    }

    #[test]
    fn an_access_key_without_a_secret_is_refused() {
        let mut c = cfg(Some("http://h:1"), true);
        c.access_key = Some("a".into());
        let e = S3Client::new(c).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("set both the access key and the secret key, or neither"),
            "{e}"
        );
    }
}
