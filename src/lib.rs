//! registry-gc: a parallel, fail-closed garbage collector for stores of the
//! distribution registry's filesystem driver.

pub mod config;
pub mod digest;
pub mod error;
pub mod layout;
pub mod logging;
pub mod discover;
pub mod fsutil;
pub mod reference;
pub mod manifest;
pub mod blobs;
pub mod mark;
pub mod delete;
pub mod plan;
pub mod report;
pub mod sweep;
