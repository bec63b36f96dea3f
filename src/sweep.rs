//! Applies a plan: manifests, then blobs, then layer links, then the
//! directories those deletions emptied. Work runs in parallel batches and
//! is logged in plan order. Any prefix of this order leaves a store in
//! which every kept image is whole, and a rerun finishes the job.

use crate::delete::{remove, Target};
use crate::error::{Fault, GcError};
use crate::interrupt;
use crate::layout::Layout;
use crate::plan::Plan;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

const BATCH: usize = 1024;

/// Test hook: abort the process after this many deletions, to check that
/// a crash at any point loses nothing (see `tests/crash.rs`).
pub const CRASH_AFTER_ENV: &str = "RGC_TEST_CRASH_AFTER";

/// What a real run deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub manifests: u64,
    pub tag_references: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub layer_links: u64,
}

/// Counts deletions, stops on a signal, and hosts the crash hook.
struct Sweeper<'a> {
    layout: &'a Layout,
    done: AtomicU64,
    crash_after: Option<u64>,
}

impl Sweeper<'_> {
    /// Deletes one target unless a stop was asked for.
    fn remove(&self, target: Target<'_>) -> Result<bool, Fault> {
        if interrupt::requested() {
            return Ok(false);
        }
        let removed = remove(self.layout, target)?;
        if removed {
            let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
            if self.crash_after == Some(n) {
                std::process::abort();
            }
        }
        Ok(removed)
    }

    /// A log line naming a target's path as upstream prints it.
    fn line(&self, what: &str, target: Target<'_>) -> String {
        format!("{what}: {}", self.layout.display(&target.path(self.layout)))
    }
}

/// Deletes everything in `plan`. Returns what was deleted and how the sweep
/// ended: it stops at the first failing batch, or between two deletions on
/// SIGINT/SIGTERM; what was deleted before stays deleted.
pub fn apply(layout: &Layout, plan: &Plan) -> (Applied, Result<(), GcError>) {
    let crash_after = std::env::var(CRASH_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let sweeper = Sweeper {
        layout,
        done: AtomicU64::new(0),
        crash_after,
    };
    let counters: [AtomicU64; 5] = Default::default();
    let [manifests, tag_refs, blobs, bytes, links] = &counters;
    let result = sweep(&sweeper, plan, [manifests, tag_refs, blobs, bytes, links]);
    let [manifests, tag_references, blobs, blob_bytes, layer_links] =
        counters.map(AtomicU64::into_inner);
    let result = result.and_then(|_| {
        if interrupt::requested() {
            Err(GcError::Interrupted)
        } else {
            Ok(())
        }
    });
    (
        Applied {
            manifests,
            tag_references,
            blobs,
            blob_bytes,
            layer_links,
        },
        result,
    )
}

fn sweep(
    s: &Sweeper<'_>,
    plan: &Plan,
    [manifests, tag_refs, blobs, bytes, links]: [&AtomicU64; 5],
) -> Result<(), GcError> {
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
            if s.remove(target).map_err(&fail)? {
                tag_refs.fetch_add(1, Ordering::Relaxed);
                lines.push(s.line("deleting manifest tag reference", target));
            }
        }
        let target = Target::Revision {
            repo,
            digest: &m.digest,
        };
        if s.remove(target).map_err(&fail)? {
            manifests.fetch_add(1, Ordering::Relaxed);
            lines.push(s.line("deleting manifest", target));
        }
        Ok(lines)
    })?;

    in_batches(&plan.blobs, |b| {
        let target = Target::Blob(&b.digest);
        if !s
            .remove(target)
            .map_err(failed(format!("blob {}", b.digest)))?
        {
            return Ok(Vec::new());
        }
        blobs.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(b.size, Ordering::Relaxed);
        Ok(vec![s.line("Deleting blob", target)])
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
        .try_for_each(|(_, d)| s.remove(Target::EmptyBlobPrefix(d)).map(drop))
        .map_err(failed("empty blob prefix directory".into()))?;

    let swept: std::collections::HashSet<&crate::digest::Digest> =
        plan.blobs.iter().map(|b| &b.digest).collect();
    let link_jobs: Vec<_> = plan
        .repos
        .iter()
        .flat_map(|r| r.layer_links.iter().map(move |d| (r.name.as_str(), d)))
        .collect();
    in_batches(&link_jobs, |(repo, digest)| {
        let fail = failed(format!("layer link {digest} of repo {repo}"));
        let target = Target::LayerLink { repo, digest };
        // A blob that was missing may have been pushed again meanwhile.
        if !swept.contains(digest) && s.layout.blob_data(digest).exists() {
            return Ok(Vec::new());
        }
        if !s.remove(target).map_err(&fail)? {
            return Ok(Vec::new());
        }
        links.fetch_add(1, Ordering::Relaxed);
        s.remove(Target::EmptyLayerDir { repo, digest })
            .map_err(&fail)?;
        Ok(vec![s.line("Deleting layer link path", target)])
    })
}

/// Runs `work` over `items` in parallel batches, logging each item's lines
/// in item order; stops after the first batch with a failure, or when a
/// stop was asked for.
fn in_batches<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<Vec<String>, GcError> + Sync,
) -> Result<(), GcError> {
    for chunk in items.chunks(BATCH) {
        if interrupt::requested() {
            return Ok(());
        }
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
