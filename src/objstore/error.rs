//! One error type for every S3 request, classified so callers can print a
//! clear message: missing bucket, refused credentials, unreachable endpoint.

use std::error::Error as _;
use std::fmt;

use object_store::client::{HttpError, HttpErrorKind};

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Setting up the client from its configuration.
    Setup,
    /// ListObjectsV2.
    List,
    /// GetObject.
    Get,
    /// HeadObject.
    Head,
    /// PutObject.
    Put,
    /// DeleteObjects.
    Delete,
    /// ListMultipartUploads.
    ListUploads,
    /// AbortMultipartUpload.
    AbortUpload,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Setup => "setup",
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Head => "head",
            Operation::Put => "put",
            Operation::Delete => "delete",
            Operation::ListUploads => "list of multipart uploads",
            Operation::AbortUpload => "abort of multipart upload",
        })
    }
}

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bucket does not exist (`NoSuchBucket`).
    NoSuchBucket,
    /// The server refused the credentials or the request
    /// (`AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`, 401, 403).
    Credentials,
    /// No connection could be made to the endpoint.
    Unreachable,
    /// The object is larger than the caller's limit.
    TooLarge,
    /// The key cannot be expressed as an object_store path (empty segment, `.`, `..`).
    InvalidKey,
    /// The configuration is unusable.
    Config,
    /// Anything else (the message has the server's words).
    Other,
}

/// A failed S3 request: `S3 <operation> of s3://<bucket>/<key>: <detail>`.
#[derive(Debug, thiserror::Error)]
#[error("S3 {op} of s3://{bucket}/{key}: {detail}")]
pub struct ClientError {
    op: Operation,
    bucket: String,
    key: String,
    kind: ErrorKind,
    detail: String,
}

impl ClientError {
    /// An error of a known kind with its own wording.
    pub(crate) fn new(
        op: Operation,
        bucket: &str,
        key: &str,
        kind: ErrorKind,
        detail: String,
    ) -> Self {
        ClientError {
            op,
            bucket: bucket.to_string(),
            key: key.to_string(),
            kind,
            detail,
        }
    }

    /// Classifies an object_store error. `endpoint` is named when the
    /// server cannot be reached.
    pub(crate) fn from_store(
        op: Operation,
        bucket: &str,
        key: &str,
        endpoint: &str,
        err: &object_store::Error,
    ) -> Self {
        let (kind, detail) = classify(bucket, endpoint, err);
        ClientError::new(op, bucket, key, kind, detail)
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.op
    }

    /// What went wrong, without the operation and key.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// One line saying what went wrong in `err` (as [`ClientError::detail`]
/// words it): per-key failures of a DeleteObjects request name no
/// operation of their own.
pub(crate) fn describe(bucket: &str, endpoint: &str, err: &object_store::Error) -> String {
    classify(bucket, endpoint, err).1
}

/// The S3 error code and message of an error response, if its body is in the chain.
pub(crate) fn server_error(err: &object_store::Error) -> Option<(String, String)> {
    let text = err.to_string();
    let code = between(&text, "<Code>", "</Code>")?;
    let message = between(&text, "<Message>", "</Message>").unwrap_or_default();
    Some((code, message))
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(text[start..start + len].to_string())
}

fn classify(bucket: &str, endpoint: &str, err: &object_store::Error) -> (ErrorKind, String) {
    let (kind, detail) = classify_lines(bucket, endpoint, err);
    // Response bodies carry newlines; an error is one line of a log.
    (kind, detail.replace("\r\n", " ").replace(['\r', '\n'], " "))
}

fn classify_lines(bucket: &str, endpoint: &str, err: &object_store::Error) -> (ErrorKind, String) {
    // Before the connection check: the service that failed is not the endpoint.
    if let Some(source) = credential_source(err) {
        return (
            ErrorKind::Credentials,
            format!("no credentials: the config sets no accesskey and secretkey, the environment no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and the {source} gave none ({err})"),
        );
    }
    if let Some(e) = connect_error(err) {
        return (
            ErrorKind::Unreachable,
            format!(
                "cannot connect to the endpoint {endpoint}: {}",
                innermost(e)
            ),
        );
    }
    match server_error(err) {
        Some((code, message)) if code == "NoSuchBucket" => (
            ErrorKind::NoSuchBucket,
            format!("the bucket {bucket} does not exist ({code}: {message})"),
        ),
        Some((code, message))
            if matches!(
                code.as_str(),
                "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch"
            ) =>
        {
            (
                ErrorKind::Credentials,
                format!("the server refused the request: check the access key, the secret key and the bucket policy ({code}: {message})"),
            )
        }
        Some((code, message)) => (ErrorKind::Other, format!("{code}: {message}")),
        None => match err {
            object_store::Error::PermissionDenied { .. } => (
                ErrorKind::Credentials,
                "the server refused the request: check the access key, the secret key and the bucket policy (HTTP 403 Forbidden)".to_string(),
            ),
            object_store::Error::Unauthenticated { .. } => (
                ErrorKind::Credentials,
                "the server refused the request: check the access key, the secret key and the bucket policy (HTTP 401 Unauthorized)".to_string(),
            ),
            _ => (ErrorKind::Other, err.to_string()),
        },
    }
}

/// Which credential provider of the AWS default chain failed, if the error
/// comes from one rather than from the bucket's endpoint.
fn credential_source(err: &object_store::Error) -> Option<&'static str> {
    let text = err.to_string();
    [
        (
            "169.254.169.254",
            "instance metadata service (169.254.169.254)",
        ),
        (
            "169.254.170.2",
            "container credentials endpoint (169.254.170.2)",
        ),
        ("AssumeRoleWithWebIdentity", "web identity token exchange"),
    ]
    .into_iter()
    .find_map(|(mark, source)| text.contains(mark).then_some(source))
}

/// The transport error of a failed connection, if that is what happened.
fn connect_error(err: &object_store::Error) -> Option<&HttpError> {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return (http.kind() == HttpErrorKind::Connect).then_some(http);
        }
        source = e.source();
    }
    None
}

/// The most specific message in an error chain ("Connection refused (os error 111)").
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(body: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: body.to_string().into(),
        }
    }

    #[test]
    fn server_codes_pick_the_kind_and_keep_the_message() {
        let e = ClientError::from_store(
            Operation::List,
            "b",
            "docker/",
            "http://h:1",
            &generic("<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"),
        );
        assert_eq!(e.kind(), ErrorKind::NoSuchBucket);
        assert_eq!(
            e.to_string(),
            "S3 list of s3://b/docker/: the bucket b does not exist (NoSuchBucket: The specified bucket does not exist)"
        );
        for code in [
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
        ] {
            let body = format!("<Code>{code}</Code><Message>m</Message>");
            let e = ClientError::from_store(Operation::Get, "b", "k", "e", &generic(&body));
            assert_eq!(e.kind(), ErrorKind::Credentials, "{code}");
            assert!(e.to_string().ends_with(&format!("({code}: m)")), "{e}");
        }
        let e = ClientError::from_store(
            Operation::Get,
            "b",
            "k",
            "e",
            &generic("<Code>SlowDown</Code>"),
        );
        assert_eq!(
            (e.kind(), e.to_string()),
            (
                ErrorKind::Other,
                "S3 get of s3://b/k: SlowDown: ".to_string()
            )
        );
        // A HEAD has no body: the status alone says it.
        let head = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403".into(),
        };
        let e = ClientError::from_store(Operation::Head, "b", "k", "e", &head);
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert!(
            e.to_string().ends_with("policy (HTTP 403 Forbidden)"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_credential_provider_is_named_not_the_endpoint() {
        let e = ClientError::from_store(
            Operation::List,
            "b",
            "docker/",
            "https://s3.amazonaws.com",
            &generic("Error performing PUT http://169.254.169.254/latest/api/token in 10ms - Server returned non-2xx status code: 403 Forbidden"),
        );
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert!(
            e.detail().starts_with("no credentials: the config sets no accesskey and secretkey, the environment no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and the instance metadata service (169.254.169.254) gave none (Generic S3 error: Error performing PUT http://169.254.169.254/"),
            "{e}"
        );
    }

    #[test]
    fn a_response_body_without_an_s3_error_stays_on_one_line() {
        let e = ClientError::from_store(
            Operation::Delete,
            "b",
            "k",
            "e",
            &generic("503 Service Unavailable:\r\n<html>\nbusy\n</html>"),
        );
        assert_eq!(
            e.detail(),
            "Generic S3 error: 503 Service Unavailable: <html> busy </html>"
        );
    }
}
