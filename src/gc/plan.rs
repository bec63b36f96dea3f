//! One plan per run: what a dry run prints and a real run applies.

use crate::blobs::Blob;
use crate::digest::Digest;
use crate::error::{Fault, GcError};
use crate::fsutil::io_pool;
use crate::layout::Layout;
use crate::manifests;
use crate::mark::{self, MarkOptions, Root};
use crate::marked::Marked;
use crate::scan::{scan, Scan};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

/// What the run was asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `-m`: delete manifests no tag of their repository reaches.
    pub delete_untagged: bool,
    /// Keep blobs (and, with `-m`, untagged manifests) written less than
    /// this long before the run started.
    pub grace_period: Option<Duration>,
    /// List unreadable files and protect what they might reference,
    /// instead of aborting.
    pub keep_going: bool,
    /// With `-m`: keep untagged manifests whose `subject` is kept.
    pub keep_referrers: bool,
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
    pub(crate) roots: Vec<Root>,
    /// With `-m`: every tag of the repository, sorted (for the eligible line).
    pub(crate) tags: Vec<String>,
    /// Manifests to delete, sorted by digest.
    pub manifests: Vec<ManifestDeletion>,
    /// `_layers` links whose blob is gone after the sweep, sorted.
    pub layer_links: Vec<Digest>,
    /// Revisions read during the mark (the re-check looks for others).
    pub(crate) live: HashSet<Digest>,
    /// With `-m`: what each tag named during the mark (the re-check
    /// confirms these without a GET where the backend can).
    pub(crate) tag_links: HashMap<String, Digest>,
}

/// When a phase of the run started and how long it took.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: &'static str,
    pub(crate) started: SystemTime,
    pub duration: Duration,
}

impl Phase {
    /// Runs `f`, timing it as phase `name`.
    pub fn time<T>(name: &'static str, f: impl FnOnce() -> T) -> (T, Phase) {
        let (started, clock) = (SystemTime::now(), Instant::now());
        let value = f();
        (
            value,
            Phase {
                name,
                started,
                duration: clock.elapsed(),
            },
        )
    }
}

/// Everything a run will delete, computed before anything is deleted.
#[derive(Debug)]
pub struct Plan {
    pub(crate) options: Options,
    /// The planning phases, in order (discovery and enumeration overlap).
    pub(crate) phases: Vec<Phase>,
    /// Repositories in walk order.
    pub repos: Vec<RepoPlan>,
    /// Number of distinct digests marked.
    pub(crate) marked: usize,
    /// Blobs to delete, sorted by digest.
    pub blobs: Vec<Blob>,
    /// When planning started.
    pub(crate) started: SystemTime,
    /// Blobs the grace period saved: those a run without it would delete
    /// (young unmarked blobs, and blobs only young untagged manifests reach).
    pub(crate) young_blobs: Vec<Blob>,
    /// Manifests the grace period saved: those `-m` would delete without it
    /// (young untagged revisions, and revisions only they reach).
    pub(crate) young_manifests: usize,
    /// With `--keep-going`: the files that could not be read.
    pub faults: Vec<Fault>,
}

impl Plan {
    /// Number of (repository, manifest) deletions.
    pub(crate) fn manifest_count(&self) -> usize {
        self.repos.iter().map(|r| r.manifests.len()).sum()
    }

    /// Number of `_layers` links to delete.
    pub(crate) fn layer_link_count(&self) -> usize {
        self.repos.iter().map(|r| r.layer_links.len()).sum()
    }

    /// Number of paths the sweep deletes (tag references, revisions, blobs, layer links).
    pub(crate) fn deletion_count(&self) -> u64 {
        let tag_refs: usize = self
            .repos
            .iter()
            .flat_map(|r| &r.manifests)
            .map(|m| m.tag_index.len())
            .sum();
        (tag_refs + self.manifest_count() + self.blobs.len() + self.layer_link_count()) as u64
    }

    /// Bytes of blob data the plan deletes.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Marks, enumerates and decides. Reads the store; changes nothing.
pub fn plan(layout: &Layout, options: Options) -> Result<Plan, GcError> {
    let started = SystemTime::now();
    let young_after = options
        .grace_period
        .map(|g| started.checked_sub(g).unwrap_or(SystemTime::UNIX_EPOCH));
    let Scan {
        repos,
        blobs: present,
        mut faults,
        unsure,
        phases: [discover_phase, enumerate_phase],
    } = scan(layout, options.keep_going)?;
    let mark_options = MarkOptions {
        delete_untagged: options.delete_untagged,
        young_after,
        keep_going: options.keep_going,
        keep_referrers: options.keep_referrers,
        unsure,
    };
    let (marks, mark_phase) = Phase::time("mark", || {
        mark::mark_all_with(layout, &repos, &present, &mark_options)
    });
    let marks = marks?;
    let decide_started = (SystemTime::now(), Instant::now());

    let mut marked = Marked::new(&present);
    // What a run without the grace period would mark: only built when young
    // untagged manifests keep something.
    let mut marked_untimed = marks
        .iter()
        .any(|m| !m.kept_young.is_empty())
        .then(|| Marked::new(&present));
    for m in &marks {
        let only_young: HashSet<&Digest> = m.kept_young.iter().collect();
        let reached = m
            .roots
            .iter()
            .flat_map(|r| std::iter::once(&r.digest).chain(&r.reached));
        for d in reached.chain(&m.protected) {
            marked.insert(d);
            if let Some(untimed) = marked_untimed.as_mut().filter(|_| !only_young.contains(d)) {
                untimed.insert(d);
            }
        }
    }
    let untimed = marked_untimed.as_ref().unwrap_or(&marked);
    let is_young = |b: &Blob| young_after.is_some_and(|after| b.modified >= after);
    // Swept without the grace period: kept with it if marked or young.
    let (mut young_blobs, mut doomed) = (Vec::new(), Vec::new());
    for (i, b) in present.iter().enumerate() {
        if untimed.has_blob(i) {
            continue;
        }
        match marked.has_blob(i) || is_young(b) {
            true => young_blobs.push(b.clone()),
            false => doomed.push(b.clone()),
        }
    }
    // A `_layers` link dangles after the sweep if its blob is swept, or if
    // it was not enumerated and (as it may have been written since) is
    // still not there when looked at again.
    let gone = |i: &u32| {
        let i = *i as usize;
        !marked.has_blob(i) && !is_young(&present[i])
    };
    // Gone only when known to be: a blob that cannot be looked at is kept.
    let absent_now =
        |d: &Digest| matches!(layout.backend().exists_now(&layout.blob_data(d)), Ok(false));
    let absent_gone = |d: &&Digest| absent_now(d);
    let target_gone = |d: &Digest| match mark::find_index(&present, d) {
        Some(i) => gone(&(i as u32)),
        None => absent_now(d),
    };

    let young_manifests = marks.iter().map(|m| m.kept_young_manifests).sum();
    // Reading the dangling links' contents waits on the disk: the I/O pool.
    let repo_plans: Vec<(RepoPlan, Option<Fault>)> = io_pool().install(|| {
        marks
            .into_par_iter()
            .map(|m| {
                let dirs = &m.layer_dirs;
                let candidates: Vec<&Digest> = dirs
                    .present
                    .iter()
                    .filter(|i| gone(i))
                    .map(|&i| &present[i as usize].digest)
                    .chain(dirs.absent.iter().filter(absent_gone))
                    .collect();
                let mut layer_links: Vec<Digest> = candidates
                    .into_par_iter()
                    .filter(|d| layer_link_dangles(layout, &m.name, d, young_after, &target_gone))
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
                let plan = RepoPlan {
                    name: m.name,
                    roots: m.roots,
                    tags: m.tags,
                    manifests,
                    layer_links,
                    live: m.live.into_iter().collect(),
                    tag_links: m.tag_links,
                };
                (plan, m.fault)
            })
            .collect::<Vec<_>>()
    });
    let repo_plans: Vec<RepoPlan> = repo_plans
        .into_iter()
        .map(|(plan, fault)| {
            faults.extend(fault);
            plan
        })
        .collect();
    let decide_phase = Phase {
        name: "decide",
        started: decide_started.0,
        duration: decide_started.1.elapsed(),
    };
    Ok(Plan {
        options,
        phases: vec![discover_phase, enumerate_phase, mark_phase, decide_phase],
        repos: repo_plans,
        marked: marked.len(),
        blobs: doomed,
        started,
        young_blobs,
        young_manifests,
        faults,
    })
}

/// A dangling `_layers` link is deleted only if it is not younger than the
/// grace period and names its own directory's digest, or is an alias (a
/// `sha512:` upload's link naming its stored sha256 digest) whose target is
/// gone after the sweep; anything else is left alone (with a warning if it
/// names another digest of its own algorithm).
fn layer_link_dangles(
    layout: &Layout,
    repo: &str,
    d: &Digest,
    young_after: Option<SystemTime>,
    target_gone: &(dyn Fn(&Digest) -> bool + Sync),
) -> bool {
    let link = layout.layer_link(repo, d);
    match manifests::read_link(layout, &link, Some(d), young_after.is_some()) {
        Ok(None) => false,
        Ok(Some((_, Some(modified)))) if young_after.is_some_and(|after| modified >= after) => {
            false
        }
        Ok(Some((b, _))) if Digest::parse_bytes(&b).as_ref() == Ok(d) => true,
        Ok(Some((b, _)))
            if Digest::parse_bytes(&b).is_ok_and(|t| t.algorithm() != d.algorithm()) =>
        {
            Digest::parse_bytes(&b).is_ok_and(|t| target_gone(&t))
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep;
    use crate::testing::Store;

    fn eligible(p: &Plan) -> Vec<Digest> {
        p.blobs.iter().map(|b| b.digest.clone()).collect()
    }

    #[test]
    fn index_children_are_kept_under_delete_untagged() {
        let s = Store::new();
        let amd = s.image("multi", &["common", "amd"]);
        let arm = s.image("multi", &["common", "arm"]);
        let idx = s.index("multi", &[&amd, &arm]);
        s.tag("multi", "1.0", &idx);
        let old = s.image("multi", &["old"]);
        s.tag("multi", "prev", &old);
        s.tag("multi", "prev", &idx); // overwritten: `old` is untagged now
        let p = s.plan(true);
        let repo = &p.repos[0];
        assert_eq!(
            repo.manifests,
            vec![ManifestDeletion {
                digest: old.clone(),
                tag_index: vec!["prev".into()]
            }]
        );
        assert_eq!(repo.tags, vec!["1.0".to_string(), "prev".to_string()]);
        // old's manifest, config and layer go; both children stay.
        assert_eq!(p.blobs.len(), 3);
        assert!(!eligible(&p).contains(&amd) && !eligible(&p).contains(&arm));
        assert_eq!(
            repo.layer_links.len(),
            2,
            "old's config and layer links dangle after the sweep"
        );
        let (applied, result) = sweep::apply(&s.layout, &p);
        result.unwrap();
        assert_eq!(
            (
                applied.manifests,
                applied.tag_references,
                applied.blobs,
                applied.layer_links
            ),
            (1, 1, 3, 2)
        );
        let again = s.plan(true);
        assert_eq!(
            (
                again.blobs.len(),
                again.manifest_count(),
                again.layer_link_count()
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn decisions_are_per_repository_and_blobs_global() {
        let s = Store::new();
        let m = s.image("a", &["shared"]);
        s.image("b", &["shared"]);
        s.tag("b", "latest", &m);
        // `a` holds the same manifest untagged: deleted from `a`, its blob
        // and layers kept because `b` marks them.
        let p = s.plan(true);
        assert_eq!(p.repos[0].name, "a");
        assert_eq!(p.repos[0].manifests.len(), 1);
        assert!(p.blobs.is_empty());
        assert!(p.repos[0].layer_links.is_empty());
        let p = s.plan(false);
        assert_eq!((p.marked, p.blobs.len()), (3, 0));
    }

    #[test]
    fn keep_going_protects_a_repository_whose_manifest_blob_could_not_be_listed() {
        let s = Store::new();
        let image = s.image("r", &["one", "two"]);
        s.tag("r", "v1", &image);
        let orphan = s.blob(b"orphan");
        let data = s.layout.blob_data(&image);
        std::fs::remove_file(&data).unwrap();
        std::fs::create_dir(&data).unwrap();
        for delete_untagged in [false, true] {
            let options = Options {
                delete_untagged,
                keep_going: true,
                ..Options::default()
            };
            let p = plan(&s.layout, options).unwrap();
            let doomed: Vec<&Digest> = p.blobs.iter().map(|b| &b.digest).collect();
            assert_eq!(doomed, [&orphan], "-m: {delete_untagged}");
            assert!(p.repos.iter().all(|r| r.layer_links.is_empty()));
            let faults: Vec<String> = p.faults.iter().map(|f| f.to_string()).collect();
            assert_eq!(faults.len(), 2, "{faults:?}");
            assert!(
                faults[0].starts_with("blob data is not a regular file"),
                "{faults:?}"
            );
            assert!(
                faults[1].contains("its blob directory could not be listed"),
                "{faults:?}"
            );
        }
    }

    #[test]
    fn dangling_links_of_missing_blobs_are_planned() {
        let s = Store::new();
        let m = s.image("a", &["x"]);
        s.tag("a", "t", &m);
        let gone = Digest::sha256_of(b"never stored");
        s.link(s.layout.layer_link("a", &gone), &gone);
        // A link naming another digest is left alone, even when that digest
        // (of the same algorithm) is gone: only an alias of another
        // algorithm follows its target.
        let odd = Digest::sha256_of(b"odd");
        s.link(s.layout.layer_link("a", &odd), &m);
        let odd_to_gone = Digest::sha256_of(b"odd, naming a missing blob");
        s.link(s.layout.layer_link("a", &odd_to_gone), &gone);
        let p = s.plan(false);
        assert_eq!(p.repos[0].layer_links, vec![gone]);
        assert!(p.blobs.is_empty());
    }
}
