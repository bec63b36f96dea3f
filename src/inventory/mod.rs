//! `inventory`: what uses the disk, per repository and for the whole store.
//!
//! Computed from the collector's own building blocks (discovery, blob
//! enumeration and the mark, run once with every revision as a root and
//! once with only tagged ones), so its predictions are exactly what
//! `garbage-collect` and `garbage-collect -m` free. It only reads.

mod glob;
mod render;

pub use glob::{warn_unmatched, Glob};
pub use render::{write_csv, write_json, write_table};

use crate::blobs::Blob;
use crate::digest::Digest;
use crate::error::{Fault, GcError};
use crate::layout::Layout;
use crate::manifest::Manifest;
use crate::manifests;
use crate::mark::{self, find_blob, MarkOptions, RepoMark};
use crate::scan::{scan, Scan};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

/// A number of distinct blobs and the bytes of their `data` files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) blobs: u64,
    pub(crate) bytes: u64,
}

impl Usage {
    /// Usage of the digests that are present in the store (each counted once).
    fn of<'a>(present: &[Blob], digests: impl IntoIterator<Item = &'a Digest>) -> Usage {
        let mut usage = Usage::default();
        for blob in digests.into_iter().filter_map(|d| find_blob(present, d)) {
            usage.blobs += 1;
            usage.bytes += blob.size;
        }
        usage
    }
}

/// One tag of a repository (listed with `--tags`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) name: String,
    /// What `current/link` names; `None` if the tag has no current link.
    pub(crate) digest: Option<Digest>,
    /// Modification time of `current/link`: when the tag was last pushed.
    pub(crate) pushed: Option<SystemTime>,
    /// Bytes of the blobs its manifest reaches, the manifest included;
    /// `None` if the manifest is not a live revision of the repository.
    pub(crate) bytes: Option<u64>,
}

/// What one repository uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepoInventory {
    pub(crate) name: String,
    /// Tag directories.
    pub(crate) tag_count: usize,
    /// Live revisions (link parses, blob exists) some tag reaches.
    pub(crate) tagged_manifests: usize,
    /// Live revisions no tag reaches (what `-m` deletes).
    pub(crate) untagged_manifests: usize,
    /// Blobs its revisions reach (every revision a root, as a plain GC marks).
    pub(crate) referenced: Usage,
    /// Of `referenced`, the blobs no other repository references.
    pub(crate) unique: Usage,
    /// Of `referenced`, the blobs its tags reach.
    pub(crate) tagged: Usage,
    /// Digests it references that have no blob in the store.
    pub(crate) missing_blobs: u64,
    /// Its tags sorted by name; empty unless asked for.
    pub(crate) tags: Vec<Tag>,
}

/// Store-wide totals; each blob is in exactly one of `tagged`,
/// `untagged_only` and `orphan`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoreTotals {
    /// Every repository of the store (whatever the filter).
    pub(crate) repositories: usize,
    /// Every blob of the store.
    pub(crate) total: Usage,
    /// Blobs some tag reaches: what `garbage-collect -m` keeps.
    pub(crate) tagged: Usage,
    /// Blobs only untagged manifests reach: what `-m` frees on top of a plain GC.
    pub(crate) untagged_only: Usage,
    /// Blobs no revision reaches: what a plain `garbage-collect` frees.
    pub(crate) orphan: Usage,
    /// Distinct digests referenced that have no blob in the store.
    pub(crate) missing_blobs: u64,
}

/// The whole inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    /// Selected repositories, by referenced bytes descending, then name.
    pub(crate) repos: Vec<RepoInventory>,
    pub(crate) store: StoreTotals,
    /// With `keep_going`: the files that could not be read. What they might
    /// reference counts as referenced, as `garbage-collect --keep-going`
    /// keeps it.
    pub faults: Vec<Fault>,
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only repositories matching one of these (all when empty); totals,
    /// and what is unique to a repository, still cover the whole store.
    pub repos: Vec<Glob>,
    /// Read each tag of the selected repositories.
    pub tags: bool,
    /// List unreadable files in `faults` instead of failing.
    pub keep_going: bool,
}

/// Takes the inventory of the store. Reads only; takes no lock.
pub fn inventory(layout: &Layout, options: &Options) -> Result<Inventory, GcError> {
    let keep_going = options.keep_going;
    let Scan {
        repos,
        blobs: present,
        mut faults,
        unsure,
        ..
    } = scan(layout, keep_going)?;
    let mark = |delete_untagged| {
        let options = MarkOptions {
            delete_untagged,
            keep_going,
            unsure: unsure.clone(),
            ..MarkOptions::default()
        };
        mark::mark_all_with(layout, &repos, &present, &options)
    };
    let (all, tagged) = rayon::join(|| mark(false), || mark(true));
    let (all, tagged) = (all?, tagged?);
    for fault in all.iter().chain(&tagged).filter_map(|m| m.fault.as_ref()) {
        if !faults.contains(fault) {
            faults.push(fault.clone());
        }
    }
    let all_sets: Vec<HashSet<&Digest>> = all.iter().map(marked).collect();
    let tagged_sets: Vec<HashSet<&Digest>> = tagged.iter().map(marked).collect();

    let mut holders: HashMap<&Digest, usize> = HashMap::new();
    for d in all_sets.iter().flatten() {
        *holders.entry(d).or_default() += 1;
    }
    let all_union: HashSet<&Digest> = holders.keys().copied().collect();
    let tagged_union: HashSet<&Digest> = tagged_sets.iter().flatten().copied().collect();
    let store = StoreTotals {
        repositories: repos.len(),
        total: Usage::of(&present, present.iter().map(|b| &b.digest)),
        tagged: Usage::of(&present, tagged_union.iter().copied()),
        untagged_only: Usage::of(&present, all_union.difference(&tagged_union).copied()),
        orphan: Usage::of(
            &present,
            present
                .iter()
                .map(|b| &b.digest)
                .filter(|d| !all_union.contains(d)),
        ),
        missing_blobs: missing(&present, all_union.iter().copied()),
    };

    warn_unmatched(&options.repos, all.iter().map(|r| r.name.as_str()));
    let selected =
        |name: &str| options.repos.is_empty() || options.repos.iter().any(|g| g.matches(name));
    let mut out: Vec<RepoInventory> = (0..repos.len())
        .into_par_iter()
        .filter(|&i| selected(&all[i].name))
        .map(|i| {
            let (refs, tag_mark) = (&all_sets[i], &tagged[i]);
            let (tags, tag_faults) = match options.tags {
                true => read_tags(layout, tag_mark, &present, keep_going)?,
                false => (Vec::new(), Vec::new()),
            };
            let repo = RepoInventory {
                name: all[i].name.clone(),
                tag_count: tag_mark.tags.len(),
                tagged_manifests: tag_mark.live.len() - tag_mark.untagged.len(),
                untagged_manifests: tag_mark.untagged.len(),
                referenced: Usage::of(&present, refs.iter().copied()),
                unique: Usage::of(&present, refs.iter().copied().filter(|d| holders[d] == 1)),
                tagged: Usage::of(&present, tagged_sets[i].iter().copied()),
                missing_blobs: missing(&present, refs.iter().copied()),
                tags,
            };
            Ok((repo, tag_faults))
        })
        .collect::<Result<Vec<_>, GcError>>()?
        .into_iter()
        .map(|(repo, tag_faults)| {
            faults.extend(tag_faults);
            repo
        })
        .collect();
    out.sort_by(|a, b| {
        b.referenced
            .bytes
            .cmp(&a.referenced.bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(Inventory {
        repos: out,
        store,
        faults,
    })
}

/// Every digest a repository's mark reached, roots included, and (for a
/// repository that could not be read) everything it might reference.
fn marked(m: &RepoMark) -> HashSet<&Digest> {
    m.roots
        .iter()
        .flat_map(|r| std::iter::once(&r.digest).chain(&r.reached))
        .chain(&m.protected)
        .collect()
}

fn missing<'a>(present: &[Blob], digests: impl IntoIterator<Item = &'a Digest>) -> u64 {
    let absent = digests
        .into_iter()
        .filter(|d| find_blob(present, d).is_none());
    absent.count() as u64
}

/// Reads each tag's `current/link` (and its mtime) and sizes what it reaches.
/// With `keep_going`, a tag that cannot be read is listed without digest
/// or size, and the fault returned.
fn read_tags(
    layout: &Layout,
    m: &RepoMark,
    present: &[Blob],
    keep_going: bool,
) -> Result<(Vec<Tag>, Vec<Fault>), GcError> {
    let mut faults = Vec::new();
    let mut tags = Vec::with_capacity(m.tags.len());
    let mut cache = HashMap::new();
    let live: HashSet<Digest> = m.live.iter().cloned().collect();
    for name in &m.tags {
        match read_tag(layout, m, name, &live, present, &mut cache) {
            Ok(tag) => tags.push(tag),
            Err(GcError::Mark(fault)) if keep_going => {
                faults.push(fault);
                tags.push(Tag {
                    name: name.clone(),
                    digest: None,
                    pushed: None,
                    bytes: None,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok((tags, faults))
}

fn read_tag(
    layout: &Layout,
    m: &RepoMark,
    name: &str,
    live: &HashSet<Digest>,
    present: &[Blob],
    cache: &mut HashMap<Digest, Manifest>,
) -> Result<Tag, GcError> {
    let (digest, pushed) = match manifests::read_tag_link(layout, &m.name, name, None, true) {
        Ok(Some((d, pushed))) => (Some(d), pushed),
        Ok(None) => (None, None),
        Err(fault) => return Err(GcError::Mark(fault)),
    };
    let bytes = match &digest {
        Some(d) if live.contains(d) => {
            let roots = manifests::reach(layout, &m.name, std::slice::from_ref(d), live, cache)
                .map_err(GcError::Mark)?;
            let reached: HashSet<&Digest> = roots
                .iter()
                .flat_map(|r| std::iter::once(&r.digest).chain(&r.reached))
                .collect();
            Some(Usage::of(present, reached).bytes)
        }
        _ => None,
    };
    Ok(Tag {
        name: name.to_string(),
        digest,
        pushed,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Options as PlanOptions};
    use crate::testing::Store;

    fn take(s: &Store, options: &Options) -> Inventory {
        inventory(&s.layout, options).unwrap()
    }

    fn freed(s: &Store, delete_untagged: bool) -> u64 {
        let options = PlanOptions {
            delete_untagged,
            ..PlanOptions::default()
        };
        plan(&s.layout, options).unwrap().blob_bytes()
    }

    #[test]
    fn shared_unique_untagged_and_orphan_bytes() {
        let s = Store::new();
        let a1 = s.image("a", &["base", "a-only"]);
        s.tag("a", "v1", &a1);
        let a0 = s.image("a", &["old layer"]);
        s.tag("a", "v0", &a0);
        s.tag("a", "v0", &a1); // moved: a0 is untagged now
        let b1 = s.image("b", &["base", "b-only layer"]);
        s.tag("b", "latest", &b1);
        let orphan = s.blob(b"nobody references me");
        let inv = take(&s, &Options::default());
        assert_eq!(inv.store.repositories, 2);
        let size = |content: &[u8]| content.len() as u64;
        let (a, b) = (&inv.repos[0], &inv.repos[1]);
        assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b"));
        assert_eq!(
            (a.tag_count, a.tagged_manifests, a.untagged_manifests),
            (2, 1, 1)
        );
        assert_eq!(a.referenced.blobs, 7, "2 manifests, 2 configs, 3 layers");
        assert_eq!(a.unique.blobs, 6, "base is shared with b");
        assert_eq!(a.unique.bytes, a.referenced.bytes - size(b"base"));
        assert_eq!(a.tagged.blobs, 4);
        assert_eq!(
            inv.store.orphan,
            Usage {
                blobs: 1,
                bytes: size(b"nobody references me")
            }
        );
        assert_eq!(inv.store.untagged_only.blobs, 3, "a0, its config and layer");
        assert_eq!(inv.store.orphan.bytes, freed(&s, false));
        let m_frees = inv.store.orphan.bytes + inv.store.untagged_only.bytes;
        assert_eq!(m_frees, freed(&s, true));
        let st = &inv.store;
        assert_eq!(
            st.tagged.bytes + st.untagged_only.bytes + st.orphan.bytes,
            st.total.bytes
        );
        assert!(find_blob(&crate::blobs::enumerate(&s.layout).unwrap(), &orphan).is_some());
    }

    #[test]
    fn tags_filter_and_missing_blobs() {
        let s = Store::new();
        let amd = s.image("multi", &["common", "amd"]);
        let arm = s.image("multi", &["common", "arm"]);
        let idx = s.index("multi", &[&amd, &arm]);
        s.tag("multi", "1.0", &idx);
        s.tag("multi", "amd", &amd);
        let gone = Digest::sha256_of(b"deleted blob");
        s.link(s.layout.tag_current_link("multi", "broken"), &gone);
        let other = s.image("other", &["x"]);
        s.tag("other", "t", &other);
        std::fs::remove_dir_all(s.layout.blob_dir(&Digest::sha256_of(b"x"))).unwrap();
        let options = Options {
            repos: vec![Glob::new("mul*")],
            tags: true,
            keep_going: false,
        };
        let inv = take(&s, &options);
        assert_eq!(inv.repos.len(), 1);
        assert_eq!(inv.store.repositories, 2);
        assert_eq!(inv.store.missing_blobs, 1);
        let multi = &inv.repos[0];
        assert_eq!(multi.untagged_manifests, 0, "children of a tagged index");
        let names: Vec<&str> = multi.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["1.0", "amd", "broken"]);
        assert_eq!(multi.tags[0].bytes, Some(multi.referenced.bytes));
        let amd_bytes = multi.tags[1].bytes.unwrap();
        assert!(amd_bytes < multi.referenced.bytes && amd_bytes > 0);
        assert!(multi.tags[0].pushed.is_some());
        assert_eq!(
            (multi.tags[2].digest.as_ref(), multi.tags[2].bytes),
            (Some(&gone), None)
        );
    }
}
