//! registry-gc: a parallel, fail-closed garbage collector for the stores of
//! the distribution registry, on a filesystem or in an S3 bucket.

pub mod config;
mod digest;
pub mod error;
pub mod fsutil;
pub mod gc;
#[cfg(test)]
mod guard_tests;
pub mod interrupt;
pub mod inventory;
pub mod layout;
pub mod logging;
mod manifest;
pub mod metrics;
pub mod objstore;
pub mod progress;
pub mod prune;
mod reference;
pub mod report;
pub mod report_file;
pub mod run_report;
pub mod store;
pub(crate) use gc::scan;
pub use gc::{blobs, cache, discover, mark, plan, recheck, sweep};
pub(crate) use gc::{manifests, marked};
pub(crate) use store::delete;
pub use store::fs::lock;
#[cfg(test)]
mod testing;
pub mod units;
pub mod uploads;
