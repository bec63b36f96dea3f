//! The re-check before a real sweep: revision links and tag links written
//! while the run was planning are read, what they reach is marked, and
//! that is dropped from the plan. (What is written after the re-check is
//! covered only by a grace period; see README.)

use crate::digest::Digest;
use crate::discover;
use crate::error::{Fault, GcError};
use crate::fsutil::io_pool;
use crate::layout::Layout;
use crate::manifest::Manifest;
use crate::manifests;
use crate::mark;
use crate::plan::Plan;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// What the re-check took out of the plan.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rescued {
    /// Manifests found (new revisions, or newly tagged with `-m`).
    pub roots: usize,
    pub blobs: usize,
    pub manifests: usize,
    pub layer_links: usize,
}

/// Looks at the store again and removes from `plan` everything a manifest
/// written since planning reaches. Any doubt is an error: nothing is
/// deleted then.
pub fn recheck(layout: &Layout, plan: &mut Plan) -> Result<Rescued, GcError> {
    // What was listed during planning is stale by now.
    layout.backend().refresh();
    let repos = discover::discover_with(layout, plan.options.keep_going)?;
    let index: HashMap<String, usize> = plan
        .repos
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let no_revisions = HashSet::new();
    let empty_deletions = Vec::new();
    let no_tags = HashMap::new();
    // Listing the revisions again waits on the disk: the I/O pool.
    let found: Vec<(String, HashSet<Digest>, usize)> = io_pool()
        .install(|| {
            repos
                .par_iter()
                .filter(|r| r.invalid.is_none())
                .map(|repo| {
                    let (known, planned, tags) = match index.get(repo.name.as_str()) {
                        Some(&i) => (
                            &plan.repos[i].live,
                            &plan.repos[i].manifests,
                            &plan.repos[i].tag_links,
                        ),
                        None => (&no_revisions, &empty_deletions, &no_tags),
                    };
                    let (reached, roots) =
                        rescue_in(layout, &repo.name, known, planned, tags, &plan.options)?;
                    Ok((repo.name.clone(), reached, roots))
                })
                .collect::<Result<_, Fault>>()
        })
        .map_err(GcError::Mark)?;

    let mut rescued = Rescued::default();
    let mut everywhere: HashSet<Digest> = HashSet::new();
    for (name, reached, roots) in &found {
        rescued.roots += roots;
        everywhere.extend(reached.iter().cloned());
        if let Some(&i) = index.get(name.as_str()) {
            let before = plan.repos[i].manifests.len();
            plan.repos[i]
                .manifests
                .retain(|m| !reached.contains(&m.digest));
            rescued.manifests += before - plan.repos[i].manifests.len();
        }
    }
    let before = plan.blobs.len();
    plan.blobs.retain(|b| !everywhere.contains(&b.digest));
    rescued.blobs = before - plan.blobs.len();
    for r in &mut plan.repos {
        let before = r.layer_links.len();
        r.layer_links.retain(|d| !everywhere.contains(d));
        rescued.layer_links += before - r.layer_links.len();
    }
    Ok(rescued)
}

/// In one repository: the new roots (revisions not read during planning,
/// and with `-m` planned deletions that a tag now names) and all they reach.
/// `known_tags` is what each tag named during planning: a remote backend
/// confirms an unchanged tag link by its ETag instead of reading it again.
fn rescue_in(
    layout: &Layout,
    repo: &str,
    known: &HashSet<Digest>,
    planned: &[crate::plan::ManifestDeletion],
    known_tags: &HashMap<String, Digest>,
    options: &crate::plan::Options,
) -> Result<(HashSet<Digest>, usize), Fault> {
    let mut live: HashSet<Digest> = known.clone();
    let mut roots: Vec<Digest> = Vec::new();
    for dir in mark::revision_dirs(layout, &layout.revisions(repo))? {
        let name_digest = manifests::digest_of_dir(&dir);
        if name_digest.as_ref().is_some_and(|d| known.contains(d)) {
            continue;
        }
        let Some((d, _)) = manifests::read_revision_link(layout, repo, &dir, false)? else {
            continue;
        };
        if layout.backend().exists_now(&layout.blob_data(&d))? {
            live.insert(d.clone());
            roots.push(d);
        }
    }
    if options.delete_untagged && !planned.is_empty() {
        let tags = mark::read_tags(layout, repo, known_tags)?;
        roots.extend(
            planned
                .iter()
                .filter(|m| tags.current.contains(&m.digest))
                .map(|m| m.digest.clone()),
        );
    }
    let mut count = roots.len();
    let mut reached: HashSet<Digest> = HashSet::new();
    let mut cache = HashMap::new();
    reach(layout, repo, &roots, &live, &mut cache, &mut reached)?;
    if options.delete_untagged && options.keep_referrers {
        // Planned deletions whose subject is now reached are referrers to keep.
        let mut waiting: Vec<(Digest, Option<String>)> = Vec::new();
        for m in planned.iter().filter(|m| !reached.contains(&m.digest)) {
            waiting.push((
                m.digest.clone(),
                manifests::read(layout, &m.digest)?.subject,
            ));
        }
        loop {
            let subject_kept = |s: &Option<String>| {
                s.as_deref()
                    .and_then(|s| Digest::parse(s).ok())
                    .is_some_and(|s| reached.contains(&s))
            };
            let (kept, rest): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .partition(|(d, s)| !reached.contains(d) && subject_kept(s));
            if kept.is_empty() {
                break;
            }
            count += kept.len();
            waiting = rest;
            let kept: Vec<Digest> = kept.into_iter().map(|(d, _)| d).collect();
            reach(layout, repo, &kept, &live, &mut cache, &mut reached)?;
        }
    }
    Ok((reached, count))
}

/// Adds `roots` and everything they reach to `reached`: the references of
/// each manifest (and the stored digest behind a `sha512:` alias link, a
/// root's too), following children of lists and indexes that are live
/// revisions.
fn reach(
    layout: &Layout,
    repo: &str,
    roots: &[Digest],
    live: &HashSet<Digest>,
    cache: &mut HashMap<Digest, Manifest>,
    reached: &mut HashSet<Digest>,
) -> Result<(), Fault> {
    for root in manifests::reach(layout, repo, roots, live, cache)? {
        reached.extend(manifests::resolve_alias(layout, repo, &root.digest)?);
        reached.insert(root.digest);
        reached.extend(root.reached);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Options};
    use crate::testing::Store;

    #[test]
    fn a_manifest_pushed_again_during_the_run_is_rescued_never_through_a_symlink() {
        let s = Store::new();
        let kept = s.image("r", &["kept"]);
        s.tag("r", "v1", &kept);
        // Deleted through the API before the run, pushed again during it.
        let again = s.image("r", &["pushed again"]);
        let link = s.layout.revision_dir("r", &again).join("link");
        std::fs::remove_file(&link).unwrap();
        let mut p = s.plan(false);
        assert_eq!((p.blobs.len(), p.layer_link_count()), (3, 2));
        s.link(link, &again);

        // Its manifest is not read through a symlink (moved out, linked back).
        let data = s.layout.blob_data(&again);
        let outside = tempfile::tempdir().unwrap();
        let moved = outside.path().join("data");
        std::fs::rename(&data, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &data).unwrap();
        match recheck(&s.layout, &mut p) {
            Err(GcError::Mark(f)) => {
                assert_eq!(f, crate::fsutil::symlink_fault(&data));
            }
            other => panic!("expected a symlink fault, got {other:?}"),
        }
        std::fs::remove_file(&data).unwrap();
        std::fs::rename(&moved, &data).unwrap();

        let rescued = recheck(&s.layout, &mut p).unwrap();
        assert_eq!(
            (rescued.roots, rescued.blobs, rescued.layer_links),
            (1, 3, 2)
        );
        assert_eq!((p.blobs.len(), p.layer_link_count()), (0, 0));
    }

    #[test]
    fn referrers_of_a_manifest_tagged_meanwhile_are_rescued() {
        let s = Store::new();
        let tagged = s.image("r", &["kept"]);
        s.tag("r", "v1", &tagged);
        let image = s.image("r", &["tagged during the run"]);
        let signature = s.referrer("r", &image, "signature");
        let countersignature = s.referrer("r", &signature, "countersignature");
        let options = Options {
            delete_untagged: true,
            keep_referrers: true,
            ..Options::default()
        };
        let mut p = plan(&s.layout, options).unwrap();
        let planned: Vec<&Digest> = p.repos[0].manifests.iter().map(|m| &m.digest).collect();
        assert_eq!(planned.len(), 3);
        assert!(planned.contains(&&countersignature));
        s.tag("r", "v2", &image);
        let rescued = recheck(&s.layout, &mut p).unwrap();
        assert!(
            p.repos[0].manifests.is_empty(),
            "{:?}",
            p.repos[0].manifests
        );
        assert_eq!((rescued.manifests, rescued.roots), (3, 3));
        assert!(p.blobs.is_empty(), "{:?}", p.blobs);
    }

    #[test]
    fn without_keep_referrers_the_recheck_rescues_no_referrer() {
        let s = Store::new();
        let image = s.image("r", &["tagged during the run"]);
        let signature = s.referrer("r", &image, "signature");
        let mut p = plan(
            &s.layout,
            Options {
                delete_untagged: true,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(p.manifest_count(), 2);
        s.tag("r", "v2", &image);
        let rescued = recheck(&s.layout, &mut p).unwrap();
        assert_eq!((rescued.manifests, rescued.roots), (1, 1));
        assert_eq!(p.repos[0].manifests[0].digest, signature);
    }

    #[test]
    fn with_keep_referrers_an_unchanged_store_rescues_nothing() {
        let s = Store::new();
        let image = s.image("r", &["untagged"]);
        s.referrer("r", &image, "signature");
        let options = Options {
            delete_untagged: true,
            keep_referrers: true,
            ..Options::default()
        };
        let mut p = plan(&s.layout, options).unwrap();
        assert_eq!(p.manifest_count(), 2);
        let rescued = recheck(&s.layout, &mut p).unwrap();
        assert_eq!((rescued.manifests, rescued.roots), (0, 0));
        assert_eq!(p.manifest_count(), 2);
    }
}
