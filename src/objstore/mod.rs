//! The S3 request layer the S3 backend sits on: a synchronous client over
//! object_store (its own tokio runtime, usable from many threads at once),
//! counted requests, classified errors, and a run lock object.

mod client;
mod counting;
mod error;
pub mod lock;
mod multipart;

#[cfg(test)]
pub(crate) use client::unreachable_client;
pub use client::{
    ClientConfig, ObjectInfo, S3Client, DEFAULT_MAX_IN_FLIGHT, DEFAULT_RETRY_TIMEOUT,
};
pub use counting::RequestCounts;
pub use error::{ClientError, ErrorKind, Operation};
pub use multipart::MultipartUpload;
