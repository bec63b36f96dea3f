//! One plan per run: what a dry run prints and a real run applies.

use crate::blobs::{self, Blob};
use crate::digest::Digest;
use crate::discover;
use crate::error::GcError;
use crate::fsutil::read_optional;
use crate::layout::Layout;
use crate::mark::{self, find_blob, Root};
use rayon::prelude::*;
use std::collections::HashSet;

/// What the run was asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `-m`: delete manifests no tag of their repository reaches.
    pub delete_untagged: bool,
}

/// An untagged manifest to delete from one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestDeletion {
    pub digest: Digest,
    /// Tags whose `index/` lists this digest; those entries go too.
    pub tag_index: Vec<String>,
}

/// The plan for one repository.
#[derive(Debug)]
pub struct RepoPlan {
    pub name: String,
    /// Marked roots, for the `marking` lines.
    pub roots: Vec<Root>,
    /// With `-m`: every tag of the repository, sorted (for the eligible line).
    pub tags: Vec<String>,
    /// Manifests to delete, sorted by digest.
    pub manifests: Vec<ManifestDeletion>,
    /// `_layers` links whose blob is gone after the sweep, sorted.
    pub layer_links: Vec<Digest>,
}

/// Everything a run will delete, computed before anything is deleted.
#[derive(Debug)]
pub struct Plan {
    pub options: Options,
    /// Repositories in walk order.
    pub repos: Vec<RepoPlan>,
    /// Number of distinct digests marked.
    pub marked: usize,
    /// Blobs to delete, sorted by digest.
    pub blobs: Vec<Blob>,
}

impl Plan {
    /// Number of (repository, manifest) deletions.
    pub fn manifest_count(&self) -> usize {
        self.repos.iter().map(|r| r.manifests.len()).sum()
    }

    /// Number of `_layers` links to delete.
    pub fn layer_link_count(&self) -> usize {
        self.repos.iter().map(|r| r.layer_links.len()).sum()
    }

    /// Bytes of blob data the plan deletes.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Marks, enumerates and decides. Reads the store; changes nothing.
pub fn plan(layout: &Layout, options: Options) -> Result<Plan, GcError> {
    let (repos, present) = rayon::join(|| discover::discover(layout), || blobs::enumerate(layout));
    let repos: Vec<String> = repos?.into_iter().map(|r| r.name).collect();
    let present = present?;
    let marks = mark::mark_all(layout, &repos, &present, options.delete_untagged)?;

    let mut marked: HashSet<Digest> = HashSet::new();
    for m in &marks {
        for root in &m.roots {
            marked.insert(root.digest.clone());
            marked.extend(root.reached.iter().cloned());
        }
    }
    let doomed: Vec<Blob> = present
        .iter()
        .filter(|b| !marked.contains(&b.digest))
        .cloned()
        .collect();
    let gone = |d: &Digest| !marked.contains(d) || find_blob(&present, d).is_none();

    let repo_plans: Vec<RepoPlan> = marks
        .into_par_iter()
        .map(|m| {
            let mut layer_links: Vec<Digest> = m
                .layer_dirs
                .iter()
                .filter(|d| gone(d) && layer_link_names(layout, &m.name, d))
                .cloned()
                .collect();
            layer_links.sort();
            let manifests = m
                .untagged
                .iter()
                .map(|d| ManifestDeletion {
                    digest: d.clone(),
                    tag_index: m.tag_index.get(d).cloned().unwrap_or_default(),
                })
                .collect();
            RepoPlan {
                name: m.name,
                roots: m.roots,
                tags: m.tags,
                manifests,
                layer_links,
            }
        })
        .collect();
    Ok(Plan {
        options,
        repos: repo_plans,
        marked: marked.len(),
        blobs: doomed,
    })
}

/// A dangling `_layers` link is deleted only if it names its own
/// directory's digest; anything else is left alone with a warning.
fn layer_link_names(layout: &Layout, repo: &str, d: &Digest) -> bool {
    let link = layout.layer_link(repo, d);
    match read_optional(&link) {
        Ok(None) => false,
        Ok(Some(b)) if Digest::parse_bytes(&b).as_ref() == Ok(d) => true,
        Ok(Some(_)) => {
            tracing::warn!(
                "leaving layer link that does not name its own digest: {}",
                link.display()
            );
            false
        }
        Err(f) => {
            tracing::warn!("leaving unreadable layer link: {f}");
            false
        }
    }
}
