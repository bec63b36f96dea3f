//! The collection pipeline, over any storage backend: discover the
//! repositories, enumerate the blobs, mark what the manifests reach, plan,
//! re-check what changed meanwhile, sweep.

pub mod blobs;
pub mod cache;
pub mod discover;
pub(crate) mod manifests;
pub mod mark;
pub(crate) mod marked;
pub mod plan;
pub mod recheck;
pub(crate) mod scan;
pub mod sweep;
