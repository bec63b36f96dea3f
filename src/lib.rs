//! registry-gc: a parallel, fail-closed garbage collector for stores of the
//! distribution registry's filesystem driver.

pub mod blobs;
pub mod config;
mod delete;
mod digest;
pub mod discover;
pub mod error;
pub mod fsutil;
#[cfg(test)]
mod guard_tests;
pub mod interrupt;
pub mod inventory;
pub mod layout;
pub mod lock;
pub mod logging;
mod manifest;
mod manifests;
pub mod mark;
mod marked;
pub mod metrics;
pub mod objstore;
pub mod plan;
pub mod progress;
pub mod prune;
pub mod recheck;
mod reference;
pub mod report;
pub mod report_file;
pub mod run_report;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod testing;
pub mod units;
pub mod uploads;
