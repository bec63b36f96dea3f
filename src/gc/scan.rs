//! What a store holds before anything is marked: its repositories and its
//! blobs, found in parallel. Shared by the plan and the inventory.

use crate::blobs::{self, Blob, Unsure};
use crate::discover::{self, Repository};
use crate::error::{Fault, GcError};
use crate::layout::Layout;
use crate::plan::Phase;

/// The repositories and blobs of a store, and what could not be read.
pub(crate) struct Scan {
    pub repos: Vec<Repository>,
    pub blobs: Vec<Blob>,
    /// Unreadable parts of the blob store (`--keep-going` only).
    pub faults: Vec<Fault>,
    /// Where a blob may exist that was not found.
    pub unsure: Unsure,
    /// The discovery and enumeration phases (they overlap).
    pub phases: [Phase; 2],
}

/// Discovers the repositories while enumerating the blobs.
pub(crate) fn scan(layout: &Layout, keep_going: bool) -> Result<Scan, GcError> {
    let ((repos, discovered), (found, enumerated)) = rayon::join(
        || Phase::time("discover", || discover::discover_with(layout, keep_going)),
        || {
            Phase::time("enumerate blobs", || {
                blobs::enumerate_with(layout, keep_going)
            })
        },
    );
    let repos = repos?;
    let blobs::Enumeration {
        blobs,
        faults,
        unsure,
    } = found?;
    Ok(Scan {
        repos,
        blobs,
        faults,
        unsure,
        phases: [discovered, enumerated],
    })
}
