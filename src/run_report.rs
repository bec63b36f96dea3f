//! `garbage-collect --report`: one JSON document describing a run (see
//! `docs/gc-report.md`).

use crate::cache::{ManifestReads, PrefixListings};
use crate::error::GcError;
use crate::layout::Layout;
use crate::plan::{Phase, Plan};
use crate::recheck::Rescued;
use crate::store::RequestCounts;
use crate::sweep::Applied;
use serde::Serialize;
use std::time::SystemTime;

/// Version of the document's shape.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub(crate) schema_version: u32,
    /// `registry-gc <version>`.
    pub(crate) tool: String,
    pub(crate) mode: Mode,
    /// RFC 3339, when planning started.
    pub(crate) started: String,
    /// `completed`, `interrupted`, `failed`, or `unreadable-files` (with `--keep-going`).
    pub(crate) outcome: &'static str,
    pub(crate) error: Option<String>,
    pub(crate) phases: Vec<PhaseReport>,
    pub(crate) counts: Counts,
    pub(crate) bytes: Bytes,
    /// What the re-check before the sweep took out of the plan (real runs).
    pub(crate) recheck: Option<Rescued>,
    /// Repositories in walk order.
    pub(crate) repositories: Vec<RepoReport>,
    /// With `--keep-going`: the files that could not be read.
    pub(crate) unreadable_files: Vec<String>,
    /// How many manifests the mark cache answered and how many were read.
    pub(crate) manifests: ManifestReads,
    /// On disk: how many blob prefix directories were found unchanged
    /// since the mark cache listed them, and how many were listed.
    pub(crate) blob_prefixes: PrefixListings,
    /// On object storage: the requests made, by operation (`list`, `get`,
    /// `head`, `put`, `delete`, `other`); absent for a filesystem store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) requests: Option<RequestCounts>,
}

/// The flags the run was given.
#[derive(Debug, Serialize)]
pub(crate) struct Mode {
    pub(crate) dry_run: bool,
    pub(crate) delete_untagged: bool,
    pub(crate) grace_period_seconds: Option<u64>,
    pub(crate) keep_going: bool,
    pub(crate) keep_referrers: bool,
}

/// One phase of the run.
#[derive(Debug, Serialize)]
pub(crate) struct PhaseReport {
    pub(crate) name: &'static str,
    pub(crate) started: String,
    pub(crate) seconds: f64,
}

/// What was counted. `*_deleted` are 0 in a dry run.
#[derive(Debug, Serialize)]
pub(crate) struct Counts {
    pub(crate) repositories: usize,
    pub(crate) manifests_marked: usize,
    pub(crate) blobs_marked: usize,
    pub(crate) blobs_eligible: usize,
    pub(crate) blobs_deleted: u64,
    pub(crate) manifests_eligible: usize,
    pub(crate) manifests_deleted: u64,
    pub(crate) tag_references_deleted: u64,
    pub(crate) layer_links_eligible: usize,
    pub(crate) layer_links_deleted: u64,
    pub(crate) blobs_kept_young: usize,
    pub(crate) manifests_kept_young: usize,
}

/// Sizes of blob `data` files.
#[derive(Debug, Serialize)]
pub(crate) struct Bytes {
    pub(crate) eligible: u64,
    pub(crate) freed: u64,
    pub(crate) kept_young: u64,
}

/// One repository's part of the run.
#[derive(Debug, Serialize)]
pub(crate) struct RepoReport {
    pub(crate) name: String,
    pub(crate) manifests_eligible: usize,
    pub(crate) manifests_deleted: u64,
    pub(crate) layer_links_eligible: usize,
    pub(crate) layer_links_deleted: u64,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Builds the report of a run: `applied` and `rescued` are `None` in a dry
/// run; `phases` are the ones run after planning (re-check, sweep);
/// `layout` counted the requests and manifest reads.
pub fn build(
    plan: &Plan,
    dry_run: bool,
    applied: Option<&Applied>,
    rescued: Option<&Rescued>,
    phases: &[Phase],
    result: Result<(), &GcError>,
    layout: &Layout,
) -> RunReport {
    let none = Applied::default();
    let applied = applied.unwrap_or(&none);
    let (outcome, error) = match result {
        Ok(()) if plan.faults.is_empty() => ("completed", None),
        Ok(()) => ("unreadable-files", None),
        Err(GcError::Interrupted) => ("interrupted", Some(GcError::Interrupted.to_string())),
        Err(e) => ("failed", Some(e.to_string())),
    };
    let repositories = plan
        .repos
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let done = applied.per_repo.get(i).cloned().unwrap_or_default();
            RepoReport {
                name: r.name.clone(),
                manifests_eligible: r.manifests.len(),
                manifests_deleted: done.manifests,
                layer_links_eligible: r.layer_links.len(),
                layer_links_deleted: done.layer_links,
            }
        })
        .collect();
    RunReport {
        schema_version: SCHEMA_VERSION,
        tool: concat!("registry-gc ", env!("CARGO_PKG_VERSION")).to_string(),
        mode: Mode {
            dry_run,
            delete_untagged: plan.options.delete_untagged,
            grace_period_seconds: plan.options.grace_period.map(|g| g.as_secs()),
            keep_going: plan.options.keep_going,
            keep_referrers: plan.options.keep_referrers,
        },
        started: rfc3339(plan.started),
        outcome,
        error,
        phases: plan
            .phases
            .iter()
            .chain(phases)
            .map(|p| PhaseReport {
                name: p.name,
                started: rfc3339(p.started),
                seconds: p.duration.as_secs_f64(),
            })
            .collect(),
        counts: Counts {
            repositories: plan.repos.len(),
            manifests_marked: plan.repos.iter().map(|r| r.roots.len()).sum(),
            blobs_marked: plan.marked,
            blobs_eligible: plan.blobs.len(),
            blobs_deleted: applied.blobs,
            manifests_eligible: plan.manifest_count(),
            manifests_deleted: applied.manifests,
            tag_references_deleted: applied.tag_references,
            layer_links_eligible: plan.layer_link_count(),
            layer_links_deleted: applied.layer_links,
            blobs_kept_young: plan.young_blobs.len(),
            manifests_kept_young: plan.young_manifests,
        },
        bytes: Bytes {
            eligible: plan.blob_bytes(),
            freed: applied.blob_bytes,
            kept_young: plan.young_blobs.iter().map(|b| b.size).sum(),
        },
        recheck: rescued.cloned(),
        repositories,
        unreadable_files: plan.faults.iter().map(|f| f.to_string()).collect(),
        manifests: layout.cache().reads(),
        blob_prefixes: layout.cache().listings(),
        requests: layout.requests(),
    }
}
