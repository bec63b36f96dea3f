//! What a correct garbage collector must find, computed from the generator's model.
//!
//! Three marking rules are modelled:
//! - **plain** (no `-m`, identical in upstream 2.8.2 and registry-gc): every existing revision
//!   link is a root; the manifest and its direct references are marked.
//! - **`-m`, registry-gc**: roots are the manifests named by a tag's `current` link in the same
//!   repository; index children are followed recursively within the repository; a revision is
//!   eligible when no tag of its own repository reaches it.
//! - **`-m`, upstream 2.8.2** (reported separately): tagged revisions mark themselves and their
//!   direct references; every untagged revision is eligible and marks nothing, index children
//!   included (the multi-arch bug).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::cli::Options;
use crate::model::{Digest, Manifest, RepoModel};

/// Contents of `expected.json`.
#[derive(Serialize)]
pub struct Expected {
    /// Regular files under `docker/registry/v2/` (blob `data` plus all `link` files).
    pub files: u64,
    /// Blob `data` files.
    pub blobs: u64,
    pub repositories: u64,
    /// Existing revision links.
    pub manifests: u64,
    /// Without `-m`: distinct digests marked ("M blobs marked").
    pub marked: u64,
    /// Without `-m`: blobs not marked ("N blobs ... eligible").
    pub eligible_blobs: u64,
    /// Without `-m`: `_layers` links whose blob is swept.
    pub dangling_layer_links: u64,
    /// With `-m` (registry-gc rules): distinct digests marked.
    pub marked_m: u64,
    pub eligible_blobs_m: u64,
    /// (repository, digest) revisions no tag of that repository reaches.
    pub eligible_manifests_m: u64,
    pub dangling_layer_links_m: u64,
    /// With `-m` under upstream 2.8.2's rules, for comparison with `docker-registry -m`.
    pub upstream_2_8_2_m: UpstreamM,
    pub details: Details,
    pub params: Options,
}

/// Upstream 2.8.2 `-m` counts.
#[derive(Serialize)]
pub struct UpstreamM {
    pub marked: u64,
    pub eligible_blobs: u64,
    pub eligible_manifests: u64,
    /// `_layers` links left pointing at swept blobs (2.8.2 never deletes links).
    pub dangling_layer_links: u64,
}

/// Informational breakdown of the store.
#[derive(Serialize)]
pub struct Details {
    pub layer_links: u64,
    pub tags: u64,
    pub tag_index_links: u64,
    pub index_manifests: u64,
    pub deleted_manifests: u64,
    pub untagged_revisions: u64,
    pub shared_layers: u64,
    pub orphans: u64,
}

impl Expected {
    /// Computes every count from the repository models, the shared pool layers actually used
    /// and the orphan blobs.
    pub fn compute(
        options: &Options,
        repos: &[RepoModel],
        pool: &[Digest],
        orphans: &[Digest],
    ) -> Self {
        let blobs = all_blobs(repos, pool, orphans);
        let plain = mark_all_revisions(repos);
        let (tagged, eligible_manifests_m) = mark_tagged_recursive(repos);
        let (upstream, upstream_eligible_manifests) = mark_tagged_upstream(repos);
        let link_files: u64 = repos.iter().map(RepoModel::link_files).sum();
        Expected {
            files: blobs.len() as u64 + link_files,
            blobs: blobs.len() as u64,
            repositories: repos.len() as u64,
            manifests: count(
                repos
                    .iter()
                    .flat_map(|r| &r.manifests)
                    .filter(|m| m.revision),
            ),
            marked: plain.len() as u64,
            eligible_blobs: unmarked(&blobs, &plain),
            dangling_layer_links: dangling(repos, &plain),
            marked_m: tagged.len() as u64,
            eligible_blobs_m: unmarked(&blobs, &tagged),
            eligible_manifests_m,
            dangling_layer_links_m: dangling(repos, &tagged),
            upstream_2_8_2_m: UpstreamM {
                marked: upstream.len() as u64,
                eligible_blobs: unmarked(&blobs, &upstream),
                eligible_manifests: upstream_eligible_manifests,
                dangling_layer_links: dangling(repos, &upstream),
            },
            details: details(repos, pool, orphans),
            params: options.clone(),
        }
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    items.count() as u64
}

/// Every blob `data` file in the store.
fn all_blobs(repos: &[RepoModel], pool: &[Digest], orphans: &[Digest]) -> HashSet<Digest> {
    let owned = repos.iter().flat_map(|r| r.owned_blobs.iter());
    let blobs: HashSet<Digest> = owned.chain(pool).chain(orphans).copied().collect();
    let written =
        repos.iter().map(|r| r.owned_blobs.len()).sum::<usize>() + pool.len() + orphans.len();
    assert_eq!(blobs.len(), written, "generated blobs must be distinct");
    blobs
}

/// Blobs that are not marked (every marked digest exists in this model).
fn unmarked(blobs: &HashSet<Digest>, marked: &HashSet<Digest>) -> u64 {
    assert!(
        marked.iter().all(|d| blobs.contains(d)),
        "a marked digest has no blob"
    );
    (blobs.len() - marked.len()) as u64
}

/// `_layers` links whose blob is not marked, i.e. gone after the sweep.
fn dangling(repos: &[RepoModel], marked: &HashSet<Digest>) -> u64 {
    count(
        repos
            .iter()
            .flat_map(|r| &r.layer_links)
            .filter(|d| !marked.contains(*d)),
    )
}

/// Marks `manifest` and its direct references.
fn mark_direct(marked: &mut HashSet<Digest>, manifest: &Manifest) {
    marked.insert(manifest.digest);
    marked.extend(manifest.refs.iter().copied());
}

/// Without `-m`: every existing revision is a root (all blobs exist in this model).
fn mark_all_revisions(repos: &[RepoModel]) -> HashSet<Digest> {
    let mut marked = HashSet::new();
    for manifest in repos
        .iter()
        .flat_map(|r| &r.manifests)
        .filter(|m| m.revision)
    {
        mark_direct(&mut marked, manifest);
    }
    marked
}

/// Digests named by the `current` link of some tag of `repo`.
fn tagged_digests(repo: &RepoModel) -> HashSet<Digest> {
    repo.tags.iter().map(|t| t.current).collect()
}

/// registry-gc `-m`: from each tagged revision, mark everything reachable, following
/// references that are revisions of the same repository. Returns the marks and the number of
/// unreached revisions.
fn mark_tagged_recursive(repos: &[RepoModel]) -> (HashSet<Digest>, u64) {
    let mut marked = HashSet::new();
    let mut eligible = 0;
    for repo in repos {
        let revisions: HashMap<Digest, &Manifest> = repo
            .manifests
            .iter()
            .filter(|m| m.revision)
            .map(|m| (m.digest, m))
            .collect();
        let mut reached = HashSet::new();
        let mut stack: Vec<Digest> = tagged_digests(repo)
            .into_iter()
            .filter(|d| revisions.contains_key(d))
            .collect();
        while let Some(digest) = stack.pop() {
            if !reached.insert(digest) {
                continue;
            }
            let manifest = revisions[&digest];
            mark_direct(&mut marked, manifest);
            stack.extend(manifest.refs.iter().filter(|r| revisions.contains_key(*r)));
        }
        eligible += (revisions.len() - reached.len()) as u64;
    }
    (marked, eligible)
}

/// Upstream 2.8.2 `-m`: only tagged revisions mark (directly); the others are eligible.
fn mark_tagged_upstream(repos: &[RepoModel]) -> (HashSet<Digest>, u64) {
    let mut marked = HashSet::new();
    let mut eligible = 0;
    for repo in repos {
        let tagged = tagged_digests(repo);
        for manifest in repo.manifests.iter().filter(|m| m.revision) {
            if tagged.contains(&manifest.digest) {
                mark_direct(&mut marked, manifest);
            } else {
                eligible += 1;
            }
        }
    }
    (marked, eligible)
}

fn details(repos: &[RepoModel], pool: &[Digest], orphans: &[Digest]) -> Details {
    let manifests = || repos.iter().flat_map(|r| &r.manifests);
    let untagged: usize = repos
        .iter()
        .map(|r| {
            let tagged = tagged_digests(r);
            r.manifests
                .iter()
                .filter(|m| m.revision && !tagged.contains(&m.digest))
                .count()
        })
        .sum();
    Details {
        layer_links: count(repos.iter().flat_map(|r| &r.layer_links)),
        tags: count(repos.iter().flat_map(|r| &r.tags)),
        tag_index_links: repos
            .iter()
            .flat_map(|r| &r.tags)
            .map(|t| t.history.len() as u64)
            .sum(),
        index_manifests: count(manifests().filter(|m| m.is_index)),
        deleted_manifests: count(manifests().filter(|m| !m.revision)),
        untagged_revisions: untagged as u64,
        shared_layers: pool.len() as u64,
        orphans: orphans.len() as u64,
    }
}
