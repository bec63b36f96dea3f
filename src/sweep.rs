//! Applies a plan: manifests, then blobs, then layer links, then the
//! directories those deletions emptied. Work runs in parallel batches and
//! is logged in plan order.

use crate::delete::{remove, Target};
use crate::error::{Fault, GcError};
use crate::layout::Layout;
use crate::plan::Plan;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

const BATCH: usize = 1024;

/// What a real run deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub manifests: u64,
    pub tag_references: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub layer_links: u64,
}

/// Deletes everything in `plan`. Stops at the first failing batch; what was
/// deleted before stays deleted, and the error says what failed.
pub fn apply(layout: &Layout, plan: &Plan) -> Result<Applied, GcError> {
    let manifests = AtomicU64::new(0);
    let tag_refs = AtomicU64::new(0);
    let blobs = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let links = AtomicU64::new(0);
    let failed = |what: String| {
        move |fault: Fault| GcError::Delete {
            what: what.clone(),
            fault,
        }
    };

    let manifest_jobs: Vec<_> = plan
        .repos
        .iter()
        .flat_map(|r| r.manifests.iter().map(move |m| (r.name.as_str(), m)))
        .collect();
    in_batches(&manifest_jobs, |(repo, m)| {
        let fail = failed(format!("manifest {}", m.digest));
        let mut lines = Vec::new();
        for tag in &m.tag_index {
            let target = Target::TagIndexEntry {
                repo,
                tag,
                digest: &m.digest,
            };
            if remove(layout, target).map_err(&fail)? {
                tag_refs.fetch_add(1, Ordering::Relaxed);
                lines.push(format!(
                    "deleting manifest tag reference: {}",
                    layout.display(&target.path(layout))
                ));
            }
        }
        let target = Target::Revision {
            repo,
            digest: &m.digest,
        };
        if remove(layout, target).map_err(&fail)? {
            manifests.fetch_add(1, Ordering::Relaxed);
            lines.push(format!(
                "deleting manifest: {}",
                layout.display(&target.path(layout))
            ));
        }
        Ok(lines)
    })?;

    in_batches(&plan.blobs, |b| {
        let target = Target::Blob(&b.digest);
        if !remove(layout, target).map_err(failed(format!("blob {}", b.digest)))? {
            return Ok(Vec::new());
        }
        blobs.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(b.size, Ordering::Relaxed);
        Ok(vec![format!(
            "Deleting blob: {}",
            layout.display(&target.path(layout))
        )])
    })?;
    let prefixes: BTreeMap<String, _> = plan
        .blobs
        .iter()
        .map(|b| {
            (
                format!("{}/{}", b.digest.algorithm().name(), &b.digest.hex()[..2]),
                &b.digest,
            )
        })
        .collect();
    prefixes
        .par_iter()
        .try_for_each(|(_, d)| remove(layout, Target::EmptyBlobPrefix(d)).map(drop))
        .map_err(failed("empty blob prefix directory".into()))?;

    let link_jobs: Vec<_> = plan
        .repos
        .iter()
        .flat_map(|r| r.layer_links.iter().map(move |d| (r.name.as_str(), d)))
        .collect();
    in_batches(&link_jobs, |(repo, digest)| {
        let fail = failed(format!("layer link {digest} of repo {repo}"));
        let target = Target::LayerLink { repo, digest };
        if !remove(layout, target).map_err(&fail)? {
            return Ok(Vec::new());
        }
        links.fetch_add(1, Ordering::Relaxed);
        remove(layout, Target::EmptyLayerDir { repo, digest }).map_err(&fail)?;
        Ok(vec![format!(
            "Deleting layer link path: {}",
            layout.display(&target.path(layout))
        )])
    })?;

    Ok(Applied {
        manifests: manifests.into_inner(),
        tag_references: tag_refs.into_inner(),
        blobs: blobs.into_inner(),
        blob_bytes: bytes.into_inner(),
        layer_links: links.into_inner(),
    })
}

/// Runs `work` over `items` in parallel batches, logging each item's lines
/// in item order; stops after the first batch with a failure.
fn in_batches<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<Vec<String>, GcError> + Sync,
) -> Result<(), GcError> {
    for chunk in items.chunks(BATCH) {
        let results: Vec<Result<Vec<String>, GcError>> = chunk.par_iter().map(&work).collect();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(lines) => lines.iter().for_each(|l| tracing::info!("{l}")),
                Err(e) => {
                    tracing::error!("failed to delete: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Ok(())
}
