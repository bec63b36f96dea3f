//! Applies a plan: manifests, then blobs, then layer links, then the
//! directories those deletions emptied. Work runs in parallel batches and
//! is logged in plan order. Any prefix of this order leaves a store in
//! which every kept image is whole, and a rerun finishes the job.

use crate::delete::Target;
use crate::digest::Digest;
use crate::error::{Fault, GcError};
use crate::interrupt;
use crate::layout::Layout;
use crate::plan::Plan;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

const BATCH: usize = 1024;

/// Test hook: abort the process after this many deletions, to check that
/// a crash at any point loses nothing (see `tests/crash.rs`).
pub(crate) const CRASH_AFTER_ENV: &str = "RGC_TEST_CRASH_AFTER";

/// What a real run deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub manifests: u64,
    pub tag_references: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub layer_links: u64,
    /// Per repository of the plan (same order): manifests and layer links deleted.
    pub(crate) per_repo: Vec<RepoApplied>,
}

/// What a real run deleted in one repository.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RepoApplied {
    pub(crate) manifests: u64,
    pub(crate) layer_links: u64,
}

/// Counts deletions, stops on a signal, and hosts the crash hook.
struct Sweeper<'a> {
    layout: &'a Layout,
    done: AtomicU64,
    crash_after: Option<u64>,
}

impl Sweeper<'_> {
    /// Deletes `targets` through the backend, in one batch (one at a time
    /// under the crash hook, so a test can stop the run after any single
    /// deletion); targets not tried because a stop was asked for count as
    /// not deleted. One result per target.
    fn remove_all(&self, targets: &[Target<'_>]) -> Vec<Result<bool, Fault>> {
        let step = if self.crash_after.is_some() {
            1
        } else {
            targets.len().max(1)
        };
        let mut out = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(step) {
            if interrupt::requested() {
                out.extend(chunk.iter().map(|_| Ok(false)));
                continue;
            }
            let results = self.layout.backend().remove(self.layout, chunk);
            for (target, result) in chunk.iter().zip(&results) {
                if !matches!(result, Ok(true)) {
                    continue;
                }
                if !matches!(
                    target,
                    Target::EmptyBlobPrefix(_) | Target::EmptyLayerDir { .. }
                ) {
                    crate::progress::deleted();
                }
                let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
                if self.crash_after == Some(n) {
                    std::process::abort();
                }
            }
            out.extend(results);
        }
        out
    }

    /// A log line naming a target's path as upstream prints it.
    fn line(&self, what: &str, target: Target<'_>) -> String {
        format!("{what}: {}", self.layout.display(&target.path(self.layout)))
    }
}

/// Deletion counts, shared by the parallel workers.
#[derive(Default)]
struct Counters {
    manifests: AtomicU64,
    tag_references: AtomicU64,
    blobs: AtomicU64,
    blob_bytes: AtomicU64,
    layer_links: AtomicU64,
    /// Per repository: manifests, layer links.
    per_repo: Vec<[AtomicU64; 2]>,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn into_applied(self) -> Applied {
        Applied {
            manifests: self.manifests.into_inner(),
            tag_references: self.tag_references.into_inner(),
            blobs: self.blobs.into_inner(),
            blob_bytes: self.blob_bytes.into_inner(),
            layer_links: self.layer_links.into_inner(),
            per_repo: self
                .per_repo
                .into_iter()
                .map(|[m, l]| RepoApplied {
                    manifests: m.into_inner(),
                    layer_links: l.into_inner(),
                })
                .collect(),
        }
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
    crate::progress::sweeping(plan.deletion_count());
    let counters = Counters {
        per_repo: plan.repos.iter().map(|_| Default::default()).collect(),
        ..Counters::default()
    };
    let result = sweep(&sweeper, plan, &counters);
    let result = result.and_then(|_| {
        if interrupt::requested() {
            Err(GcError::Interrupted)
        } else {
            Ok(())
        }
    });
    (counters.into_applied(), result)
}

fn sweep(s: &Sweeper<'_>, plan: &Plan, c: &Counters) -> Result<(), GcError> {
    let failed = |what: String| {
        move |fault: Fault| GcError::Delete {
            what: what.clone(),
            fault,
        }
    };

    let manifest_jobs: Vec<_> = plan
        .repos
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.manifests.iter().map(move |m| (i, r.name.as_str(), m)))
        .collect();
    in_batches(&manifest_jobs, |jobs| {
        // A manifest's tag references go first, then (if they all went) the
        // manifest itself.
        let mut out: Vec<Result<Vec<String>, GcError>> =
            jobs.iter().map(|_| Ok(Vec::new())).collect();
        let refs: Vec<(usize, Target<'_>)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, (_, repo, m))| {
                m.tag_index.iter().map(move |tag| {
                    (
                        j,
                        Target::TagIndexEntry {
                            repo,
                            tag,
                            digest: &m.digest,
                        },
                    )
                })
            })
            .collect();
        let targets: Vec<Target<'_>> = refs.iter().map(|(_, t)| *t).collect();
        for ((j, target), result) in refs.iter().zip(s.remove_all(&targets)) {
            let Ok(lines) = &mut out[*j] else { continue };
            match result {
                Ok(true) => {
                    Counters::add(&c.tag_references, 1);
                    lines.push(s.line("deleting manifest tag reference", *target));
                }
                Ok(false) => {}
                Err(fault) => {
                    out[*j] = Err(failed(format!("manifest {}", jobs[*j].2.digest))(fault))
                }
            }
        }
        let revisions: Vec<(usize, Target<'_>)> = jobs
            .iter()
            .enumerate()
            .filter(|(j, _)| out[*j].is_ok())
            .map(|(j, (_, repo, m))| {
                (
                    j,
                    Target::Revision {
                        repo,
                        digest: &m.digest,
                    },
                )
            })
            .collect();
        let targets: Vec<Target<'_>> = revisions.iter().map(|(_, t)| *t).collect();
        for ((j, target), result) in revisions.iter().zip(s.remove_all(&targets)) {
            let (i, _, m) = jobs[*j];
            match result {
                Ok(true) => {
                    Counters::add(&c.manifests, 1);
                    Counters::add(&c.per_repo[i][0], 1);
                    if let Ok(lines) = &mut out[*j] {
                        lines.push(s.line("deleting manifest", *target));
                    }
                }
                Ok(false) => {}
                Err(fault) => out[*j] = Err(failed(format!("manifest {}", m.digest))(fault)),
            }
        }
        out
    })?;

    in_batches(&plan.blobs, |blobs| {
        let targets: Vec<Target<'_>> = blobs.iter().map(|b| Target::Blob(&b.digest)).collect();
        blobs
            .iter()
            .zip(&targets)
            .zip(s.remove_all(&targets))
            .map(|((b, target), result)| match result {
                Ok(true) => {
                    Counters::add(&c.blobs, 1);
                    Counters::add(&c.blob_bytes, b.size);
                    Ok(vec![s.line("Deleting blob", *target)])
                }
                Ok(false) => Ok(Vec::new()),
                Err(fault) => Err(failed(format!("blob {}", b.digest))(fault)),
            })
            .collect()
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
    let targets: Vec<Target<'_>> = prefixes
        .values()
        .map(|d| Target::EmptyBlobPrefix(d))
        .collect();
    for result in s.remove_all(&targets) {
        result.map_err(failed("empty blob prefix directory".into()))?;
    }

    let swept: HashSet<&Digest> = plan.blobs.iter().map(|b| &b.digest).collect();
    let link_jobs: Vec<_> = plan
        .repos
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.layer_links.iter().map(move |d| (i, r.name.as_str(), d)))
        .collect();
    in_batches(&link_jobs, |jobs| {
        // A blob that was missing may have been pushed again meanwhile; an
        // alias link is checked through the digest it names. A blob that
        // cannot be looked at counts as there: its link stays.
        let kept: Vec<bool> = crate::fsutil::io_pool().install(|| {
            jobs.par_iter()
                .map(|(_, repo, digest)| {
                    let kept = |d: &Digest| {
                        !swept.contains(d)
                            && !matches!(
                                s.layout.backend().exists_now(&s.layout.blob_data(d)),
                                Ok(false)
                            )
                    };
                    let alias = crate::manifests::resolve_alias(s.layout, repo, digest)
                        .ok()
                        .flatten();
                    kept(digest) || alias.as_ref().is_some_and(kept)
                })
                .collect()
        });
        let mut out: Vec<Result<Vec<String>, GcError>> =
            jobs.iter().map(|_| Ok(Vec::new())).collect();
        let links: Vec<(usize, Target<'_>)> = jobs
            .iter()
            .enumerate()
            .filter(|(j, _)| !kept[*j])
            .map(|(j, (_, repo, digest))| (j, Target::LayerLink { repo, digest }))
            .collect();
        let targets: Vec<Target<'_>> = links.iter().map(|(_, t)| *t).collect();
        let mut removed = Vec::new();
        for ((j, target), result) in links.iter().zip(s.remove_all(&targets)) {
            let (i, repo, digest) = jobs[*j];
            match result {
                Ok(true) => {
                    Counters::add(&c.layer_links, 1);
                    Counters::add(&c.per_repo[i][1], 1);
                    out[*j] = Ok(vec![s.line("Deleting layer link path", *target)]);
                    removed.push((*j, Target::EmptyLayerDir { repo, digest }));
                }
                Ok(false) => {}
                Err(fault) => {
                    out[*j] = Err(failed(format!("layer link {digest} of repo {repo}"))(fault))
                }
            }
        }
        let targets: Vec<Target<'_>> = removed.iter().map(|(_, t)| *t).collect();
        for ((j, _), result) in removed.iter().zip(s.remove_all(&targets)) {
            if let Err(fault) = result {
                let (_, repo, digest) = jobs[*j];
                out[*j] = Err(failed(format!("layer link {digest} of repo {repo}"))(fault));
            }
        }
        out
    })
}

/// Runs `work` over `items` in batches (it returns one result per item of
/// its batch), logging each item's lines in item order; stops after the
/// first batch with a failure, or when a stop was asked for.
fn in_batches<T: Sync>(
    items: &[T],
    work: impl Fn(&[T]) -> Vec<Result<Vec<String>, GcError>>,
) -> Result<(), GcError> {
    for chunk in items.chunks(BATCH) {
        if interrupt::requested() {
            return Ok(());
        }
        let mut first_error = None;
        for result in work(chunk) {
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
