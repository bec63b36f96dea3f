//! Request counting: an HTTP service wrapped around object_store's own
//! reqwest client, so every request object_store sends (retries included)
//! is counted by S3 operation, the way S3 bills them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;
use serde::Serialize;

/// Requests sent, by operation. A retry is a request of its own; an attempt
/// whose connection was refused reached no server and is not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// ListObjectsV2 pages (`GET ?list-type=2`) and multipart-upload listings (`GET ?uploads`).
    pub list: u64,
    /// GetObject (`GET` of a key).
    pub get: u64,
    /// HeadObject.
    pub head: u64,
    /// PutObject (conditional or not).
    pub put: u64,
    /// DeleteObjects (`POST ?delete`, up to 1,000 keys each) and single `DELETE`s.
    pub delete: u64,
    /// Anything else.
    pub other: u64,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.list + self.get + self.head + self.put + self.delete + self.other
    }
}

/// The S3 operation a request stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Get,
    Head,
    Put,
    Delete,
    Other,
}

/// Classifies a request by method and query string.
fn classify(method: &http::Method, query: Option<&str>) -> Op {
    let has =
        |name: &str| query.is_some_and(|q| q.split('&').any(|p| p.split('=').next() == Some(name)));
    match *method {
        http::Method::GET if has("list-type") || has("uploads") => Op::List,
        http::Method::GET => Op::Get,
        http::Method::HEAD => Op::Head,
        http::Method::PUT => Op::Put,
        http::Method::POST if has("delete") => Op::Delete,
        http::Method::DELETE => Op::Delete,
        _ => Op::Other,
    }
}

/// Shared live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; 6]);

impl Counters {
    fn bump(&self, op: Op) {
        self.0[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the counts so far.
    pub(crate) fn snapshot(&self) -> RequestCounts {
        let n = |op: Op| self.0[op as usize].load(Ordering::Relaxed);
        RequestCounts {
            list: n(Op::List),
            get: n(Op::Get),
            head: n(Op::Head),
            put: n(Op::Put),
            delete: n(Op::Delete),
            other: n(Op::Other),
        }
    }
}

/// Builds object_store's reqwest client and wraps it in [`CountingService`].
#[derive(Debug)]
pub(crate) struct CountingConnector(pub(crate) Arc<Counters>);

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(CountingService {
            inner,
            counters: Arc::clone(&self.0),
        }))
    }
}

/// Counts each request, then hands it to the real client.
#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
    counters: Arc<Counters>,
}

#[async_trait::async_trait]
impl HttpService for CountingService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let op = classify(req.method(), req.uri().query());
        let result = self.inner.execute(req).await;
        if !matches!(&result, Err(e) if e.kind() == HttpErrorKind::Connect) {
            self.counters.bump(op);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn requests_are_classified_by_method_and_query() {
        let cases = [
            (Method::GET, Some("list-type=2&prefix=a%2F"), Op::List),
            (Method::GET, Some("uploads&prefix=a"), Op::List),
            (Method::GET, None, Op::Get),
            (Method::GET, Some("x-id=GetObject"), Op::Get),
            (Method::HEAD, None, Op::Head),
            (Method::PUT, None, Op::Put),
            (Method::POST, Some("delete"), Op::Delete),
            (Method::DELETE, Some("uploadId=1"), Op::Delete),
            (Method::POST, Some("uploads"), Op::Other),
        ];
        for (method, query, want) in cases {
            assert_eq!(classify(&method, query), want, "{method} {query:?}");
        }
    }

    #[test]
    fn snapshot_reports_each_operation_in_its_field() {
        let c = Counters::default();
        for op in [
            Op::List,
            Op::Get,
            Op::Get,
            Op::Head,
            Op::Put,
            Op::Delete,
            Op::Other,
        ] {
            c.bump(op);
        }
        let s = c.snapshot();
        assert_eq!(
            (s.list, s.get, s.head, s.put, s.delete, s.other, s.total()),
            (1, 2, 1, 1, 1, 1, 7)
        );
    }
}
