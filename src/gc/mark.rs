//! The mark phase, one repository at a time and repositories in parallel:
//! which manifests are roots, and everything they reach.

use crate::blobs::{Blob, Unsure};
use crate::digest::{Algorithm, Digest};
use crate::discover::Repository;
use crate::error::{Fault, GcError};
use crate::fsutil::{io_pool, symlink_fault, Kind};
use crate::layout::Layout;
use crate::manifest::Manifest;
pub(crate) use crate::manifests::Root;
use crate::manifests::{load_reachable, read_revision_link, read_tag_link, resolve_aliases, walk};
// Sweep checks alias links through the mark's path to it.
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the mark phase is asked to do.
#[derive(Clone, Debug, Default)]
pub(crate) struct MarkOptions {
    /// `-m`: roots are only the manifests a tag's `current/link` names.
    pub(crate) delete_untagged: bool,
    /// With `-m`: an untagged revision whose link was written at or after
    /// this time is kept (and marked), as it may be a push about to be tagged.
    pub(crate) young_after: Option<SystemTime>,
    /// A repository that cannot be read is protected instead of aborting.
    pub(crate) keep_going: bool,
    /// With `-m`: an untagged manifest whose `subject` names a kept
    /// manifest of its repository is kept too (recursively).
    pub(crate) keep_referrers: bool,
    /// Where the blob enumeration could not tell which blobs exist (with
    /// `keep_going`): a revision whose blob is missing there makes its
    /// repository unreadable (so protected), never skipped.
    pub(crate) unsure: Unsure,
}

/// Everything the mark phase learnt about one repository.
#[derive(Debug, Default)]
pub struct RepoMark {
    pub(crate) name: String,
    /// Roots in revision walk order.
    pub(crate) roots: Vec<Root>,
    /// Revisions whose link parses and whose blob exists.
    pub(crate) live: Vec<Digest>,
    /// With `-m` and a grace period: what only the grace period keeps
    /// marked here, the digests (manifests and blobs) that untagged
    /// revisions younger than it reach and no tag of this repository does;
    /// sorted.
    pub(crate) kept_young: Vec<Digest>,
    /// How many of `kept_young` are revisions of this repository: the
    /// manifests `-m` would delete without the grace period.
    pub(crate) kept_young_manifests: usize,
    /// With `--keep-going`: why this repository could not be read; then
    /// `protected` holds every digest it might reference.
    pub(crate) fault: Option<Fault>,
    /// Digests kept because the repository is broken.
    pub(crate) protected: Vec<Digest>,
    /// With `-m`: revisions no tag of this repository reaches, sorted.
    pub(crate) untagged: Vec<Digest>,
    /// With `-m`: every tag name, sorted.
    pub(crate) tags: Vec<String>,
    /// With `-m`: for each digest, the tags whose `index/` lists it.
    pub(crate) tag_index: HashMap<Digest, Vec<String>>,
    /// With `-m`: what each tag's `current/link` named.
    pub(crate) tag_links: HashMap<String, Digest>,
    /// The `_layers/<alg>/<hex>/` directories.
    pub(crate) layer_dirs: LayerDirs,
}

/// The `_layers/<alg>/<hex>/` directories of one repository, compact:
/// positions in the sorted blob enumeration (4 bytes instead of a digest
/// each) and, for the few whose blob was not enumerated, their digests.
#[derive(Debug, Default)]
pub(crate) struct LayerDirs {
    pub(crate) present: Vec<u32>,
    pub(crate) absent: Vec<Digest>,
}

impl LayerDirs {
    fn new(digests: Vec<Digest>, blobs: &[Blob]) -> Self {
        let mut dirs = LayerDirs::default();
        for d in digests {
            match find_index(blobs, &d).and_then(|i| u32::try_from(i).ok()) {
                Some(i) => dirs.present.push(i),
                None => dirs.absent.push(d),
            }
        }
        dirs
    }
}

/// Looks a blob up in the sorted enumeration.
pub(crate) fn find_blob<'a>(blobs: &'a [Blob], d: &Digest) -> Option<&'a Blob> {
    find_index(blobs, d).map(|i| &blobs[i])
}

/// The position of `d` in the sorted enumeration.
/// Digests are uniformly distributed, so the search starts where the
/// digest's first bytes say it should be and gallops from there: about one
/// cache miss per lookup instead of twenty on a large store. Any order of
/// digests is still searched correctly.
pub(crate) fn find_index(blobs: &[Blob], d: &Digest) -> Option<usize> {
    let n = blobs.len();
    if n == 0 {
        return None;
    }
    let key = match d {
        Digest::Sha256(b) => u64::from_be_bytes(b[..8].try_into().unwrap()),
        _ => return binary(blobs, d, 0),
    };
    let guess = ((key as u128 * n as u128) >> 64) as usize;
    let (lo, hi) = match blobs[guess].digest.cmp(d) {
        std::cmp::Ordering::Equal => return Some(guess),
        std::cmp::Ordering::Less => {
            // d lies after guess: gallop right.
            let mut step = 1;
            let mut lo = guess + 1;
            loop {
                let probe = guess + step;
                if probe >= n {
                    break (lo, n);
                }
                match blobs[probe].digest.cmp(d) {
                    std::cmp::Ordering::Equal => return Some(probe),
                    std::cmp::Ordering::Less => lo = probe + 1,
                    std::cmp::Ordering::Greater => break (lo, probe),
                }
                step *= 2;
            }
        }
        std::cmp::Ordering::Greater => {
            // d lies before guess: gallop left.
            let mut step = 1;
            let mut hi = guess;
            loop {
                let Some(probe) = guess.checked_sub(step) else {
                    break (0, hi);
                };
                match blobs[probe].digest.cmp(d) {
                    std::cmp::Ordering::Equal => return Some(probe),
                    std::cmp::Ordering::Greater => hi = probe,
                    std::cmp::Ordering::Less => break (probe + 1, hi),
                }
                step *= 2;
            }
        }
    };
    binary(&blobs[lo..hi], d, lo)
}

fn binary(blobs: &[Blob], d: &Digest, offset: usize) -> Option<usize> {
    blobs
        .binary_search_by(|b| b.digest.cmp(d))
        .ok()
        .map(|i| offset + i)
}

/// Marks every repository (in parallel), keeping walk order in the result.
/// The benches' entry point (runs go through [`mark_all_with`]): not
/// mutated, as no run reaches it.
#[cfg_attr(test, mutants::skip)]
pub fn mark_all(
    layout: &Layout,
    repos: &[String],
    blobs: &[Blob],
    delete_untagged: bool,
) -> Result<Vec<RepoMark>, GcError> {
    let options = MarkOptions {
        delete_untagged,
        ..MarkOptions::default()
    };
    let repos: Vec<Repository> = repos
        .iter()
        .map(|name| Repository {
            name: name.clone(),
            invalid: None,
        })
        .collect();
    mark_all_with(layout, &repos, blobs, &options)
}

/// [`mark_all`] with every option. With `keep_going`, a repository that
/// cannot be read comes back with its `fault` set and everything it might
/// reference in `protected`. Runs on the I/O pool.
pub(crate) fn mark_all_with(
    layout: &Layout,
    repos: &[Repository],
    blobs: &[Blob],
    options: &MarkOptions,
) -> Result<Vec<RepoMark>, GcError> {
    io_pool().install(|| mark_all_in(layout, repos, blobs, options))
}

fn mark_all_in(
    layout: &Layout,
    repos: &[Repository],
    blobs: &[Blob],
    options: &MarkOptions,
) -> Result<Vec<RepoMark>, GcError> {
    repos
        .par_iter()
        .map(|repo| (repo.name.as_str(), repo.invalid.as_ref()))
        .map(|(name, invalid)| {
            match invalid {
                Some(why) => Err(Fault::new(why.clone(), &layout.repository(name))),
                None => mark_repository(layout, name, blobs, options),
            }
            .or_else(|fault| match options.keep_going {
                true => Ok(protect_repository(layout, name, fault)),
                false => Err(fault),
            })
            .inspect(|_| crate::progress::repository_marked())
            .map_err(GcError::Mark)
        })
        .collect()
}

/// Marks one repository. Without `-m` every revision whose blob exists is
/// a root; with it only those a tag's `current/link` names (and, with a
/// grace period, untagged ones written recently).
pub(crate) fn mark_repository(
    layout: &Layout,
    name: &str,
    blobs: &[Blob],
    options: &MarkOptions,
) -> Result<RepoMark, Fault> {
    let young_after = options.young_after.filter(|_| options.delete_untagged);
    let (revisions, young) = read_revisions(layout, name, blobs, young_after, &options.unsure)?;
    let revision_set: HashSet<Digest> = revisions.iter().cloned().collect();
    let tags = if options.delete_untagged {
        read_tags(layout, name, &layout.cache().tags(name))?
    } else {
        Tags::default()
    };
    let young_roots: HashSet<Digest> = young
        .into_iter()
        .filter(|d| !tags.current.contains(d))
        .collect();
    let root_digests: Vec<Digest> = if options.delete_untagged {
        revisions
            .iter()
            .filter(|d| tags.current.contains(*d) || young_roots.contains(*d))
            .cloned()
            .collect()
    } else {
        revisions.clone()
    };
    let mut manifests = HashMap::new();
    load_reachable(layout, &root_digests, &revision_set, &mut manifests)?;
    // Roots, what they reach (alias links resolved) and the manifests kept.
    let walk = |roots: &[Digest], manifests: &mut HashMap<Digest, Manifest>| {
        let (mut roots, mut kept) = walk(roots, &revision_set, manifests);
        if options.delete_untagged && options.keep_referrers {
            (roots, kept) = keep_referrers(layout, &revisions, roots, kept, manifests)?;
        }
        resolve_aliases(layout, name, &mut roots)?;
        Ok::<_, Fault>((roots, kept))
    };
    let (roots, kept) = walk(&root_digests, &mut manifests)?;
    // What the young roots alone keep: everything reached minus what the
    // tagged roots reach (an index child or a tagged revision is never
    // counted, however young).
    let kept_young: Vec<Digest> = if young_roots.is_empty() {
        Vec::new()
    } else {
        let tagged: Vec<Digest> = root_digests
            .iter()
            .filter(|d| tags.current.contains(*d))
            .cloned()
            .collect();
        let (tagged_roots, _) = walk(&tagged, &mut manifests)?;
        let without = reached_by(&tagged_roots);
        let mut only: Vec<Digest> = reached_by(&roots)
            .difference(&without)
            .map(|d| (*d).clone())
            .collect();
        only.sort();
        only
    };
    let kept_young_manifests = kept_young
        .iter()
        .filter(|d| revision_set.contains(*d))
        .count();
    let mut untagged: Vec<Digest> = if options.delete_untagged {
        revisions
            .iter()
            .filter(|d| !kept.contains(*d))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    untagged.sort();
    Ok(RepoMark {
        name: name.to_string(),
        roots,
        live: revisions,
        kept_young,
        kept_young_manifests,
        fault: None,
        protected: Vec::new(),
        untagged,
        tags: tags.names,
        tag_index: tags.index,
        tag_links: tags.links,
        layer_dirs: LayerDirs::new(digest_dirs(layout, &layout.layers(name))?, blobs),
    })
}

/// What a broken repository might reference: every `_layers` link (and
/// what an alias link names), every revision directory's digest and what
/// its link names, and what their readable manifests reference. Nothing of
/// it is swept and none of its manifests is deleted.
pub(crate) fn protect_repository(layout: &Layout, name: &str, fault: Fault) -> RepoMark {
    let layers = digest_dirs(layout, &layout.layers(name)).unwrap_or_default();
    let named = |link: PathBuf| {
        crate::manifests::read_link(layout, &link, None, false)
            .ok()
            .flatten()
            .and_then(|(b, _)| Digest::parse_bytes(&b).ok())
    };
    let aliased: Vec<Digest> = layers
        .iter()
        .filter(|d| d.algorithm() != Algorithm::Sha256)
        .filter_map(|d| named(layout.layer_link(name, d)))
        .collect();
    let mut protected: Vec<Digest> = layers.into_iter().chain(aliased).collect();
    let mut revisions = digest_dirs(layout, &layout.revisions(name)).unwrap_or_default();
    let linked: Vec<Digest> = revision_dirs(layout, &layout.revisions(name))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| named(dir.join("link")))
        .collect();
    revisions.extend(linked);
    revisions.sort();
    revisions.dedup();
    for d in &revisions {
        if let Ok(m) = crate::manifests::read(layout, d) {
            protected.extend(m.references);
        }
    }
    protected.extend(revisions.iter().cloned());
    protected.sort();
    protected.dedup();
    RepoMark {
        name: name.to_string(),
        fault: Some(fault),
        protected,
        live: revisions,
        ..RepoMark::default()
    }
}

/// Revision digests whose link parses and whose blob exists, in walk order,
/// and (when `young_after` is set) those whose link was written since then.
/// A revision whose blob was not enumerated where the enumeration is
/// `unsure` is a fault: its manifest may exist and reach anything.
fn read_revisions(
    layout: &Layout,
    repo: &str,
    blobs: &[Blob],
    young_after: Option<SystemTime>,
    unsure: &Unsure,
) -> Result<(Vec<Digest>, Vec<Digest>), Fault> {
    let dirs = revision_dirs(layout, &layout.revisions(repo))?;
    let found: Vec<Option<(Digest, bool)>> = dirs
        .par_iter()
        .map(|dir| {
            let Some((d, modified)) = read_revision_link(layout, repo, dir, young_after.is_some())?
            else {
                return Ok(None);
            };
            let young = matches!((young_after, modified), (Some(after), Some(m)) if m >= after);
            if find_blob(blobs, &d).is_none() && unsure.covers(&d) {
                return Err(Fault::new(
                    format!("failed to retrieve manifest for digest {d}: its blob directory could not be listed"),
                    &layout.blob_data(&d),
                ));
            }
            Ok(find_blob(blobs, &d).map(|_| (d, young)))
        })
        .collect::<Result<_, Fault>>()?;
    let mut seen = HashSet::new();
    let (mut live, mut young) = (Vec::new(), Vec::new());
    for (d, is_young) in found.into_iter().flatten() {
        if seen.insert(d.clone()) {
            if is_young {
                young.push(d.clone());
            }
            live.push(d);
        }
    }
    Ok((live, young))
}

/// `revisions/<alg>/<hex>/` directories, sorted.
pub(crate) fn revision_dirs(
    layout: &Layout,
    revisions: &Path,
) -> Result<Vec<std::path::PathBuf>, Fault> {
    let mut dirs = Vec::new();
    for alg in layout.backend().list(revisions)?.unwrap_or_default() {
        let alg_path = revisions.join(&alg.name);
        match alg.kind {
            Kind::Dir => {}
            Kind::Symlink => return Err(symlink_fault(&alg_path)),
            _ => continue,
        }
        for hex in layout.backend().list(&alg_path)?.unwrap_or_default() {
            match hex.kind {
                Kind::Dir => dirs.push(alg_path.join(&hex.name)),
                Kind::Symlink => return Err(symlink_fault(&alg_path.join(&hex.name))),
                _ => {}
            }
        }
    }
    Ok(dirs)
}

/// With `--keep-referrers`: untagged revisions whose `subject` names a
/// kept manifest become roots, until none is left (a signature of a
/// signature is kept too). Every untagged revision is read, so a broken
/// one stops the run: it might be a referrer.
fn keep_referrers(
    layout: &Layout,
    revisions: &[Digest],
    roots: Vec<Root>,
    mut walked: HashSet<Digest>,
    manifests: &mut HashMap<Digest, Manifest>,
) -> Result<(Vec<Root>, HashSet<Digest>), Fault> {
    let revision_set: HashSet<Digest> = revisions.iter().cloned().collect();
    let untagged: Vec<Digest> = revisions
        .iter()
        .filter(|d| !walked.contains(*d))
        .cloned()
        .collect();
    load_reachable(layout, &untagged, &revision_set, manifests)?;
    let mut subjects: HashMap<&Digest, Digest> = HashMap::new();
    for d in &untagged {
        if let Some(s) = &manifests[d].subject {
            let subject = Digest::parse(s).map_err(|e| {
                Fault::new(
                    format!("failed to retrieve manifest for digest {d}: subject {s:?}: {e}"),
                    &layout.blob_data(d),
                )
            })?;
            subjects.insert(d, subject);
        }
    }
    let mut kept: HashSet<Digest> = roots.iter().map(|r| r.digest.clone()).collect();
    let mut roots = roots;
    loop {
        let new: Vec<&Digest> = untagged
            .iter()
            .filter(|d| !walked.contains(*d))
            .filter(|d| subjects.get(d).is_some_and(|s| walked.contains(s)))
            .collect();
        if new.is_empty() {
            return Ok((roots, walked));
        }
        kept.extend(new.into_iter().cloned());
        let ordered: Vec<Digest> = revisions
            .iter()
            .filter(|d| kept.contains(*d))
            .cloned()
            .collect();
        (roots, walked) = walk(&ordered, &revision_set, manifests);
    }
}

/// The tags of one repository, each `current/link` and `index/` read once.
#[derive(Default)]
pub(crate) struct Tags {
    pub(crate) names: Vec<String>,
    pub(crate) current: HashSet<Digest>,
    /// What each tag's `current/link` names.
    pub(crate) links: HashMap<String, Digest>,
    pub(crate) index: HashMap<Digest, Vec<String>>,
}

/// Reads every tag of `repo`; `known` holds what tags named when last read
/// (the re-check's), which a remote backend confirms without a GET.
pub(crate) fn read_tags(
    layout: &Layout,
    repo: &str,
    known: &HashMap<String, Digest>,
) -> Result<Tags, Fault> {
    let dir = layout.tags(repo);
    let mut names = Vec::new();
    for entry in layout.backend().list(&dir)?.unwrap_or_default() {
        let path = dir.join(&entry.name);
        match (entry.kind, entry.name_str()) {
            (Kind::Dir, Some(n)) => names.push(n.to_string()),
            (Kind::Dir, None) => return Err(Fault::new("tag name is not UTF-8", &path)),
            (Kind::Symlink, _) => return Err(symlink_fault(&path)),
            _ => {}
        }
    }
    let per_tag: Vec<(Option<Digest>, Vec<Digest>)> = names
        .par_iter()
        .map(|tag| {
            let current = read_tag_link(layout, repo, tag, known.get(tag), false)?.map(|(d, _)| d);
            Ok((current, digest_dirs(layout, &layout.tag_index(repo, tag))?))
        })
        .collect::<Result<_, Fault>>()?;
    let mut tags = Tags::default();
    for (name, (current, index)) in names.iter().zip(per_tag) {
        if let Some(d) = &current {
            tags.links.insert(name.clone(), d.clone());
        }
        tags.current.extend(current);
        for d in index {
            tags.index.entry(d).or_default().push(name.clone());
        }
    }
    tags.names = names;
    layout.cache().learn_tags(repo, &tags.links);
    Ok(tags)
}

/// Digests named by `<dir>/<alg>/<hex>/` directories; other names are ignored.
pub(crate) fn digest_dirs(layout: &Layout, dir: &Path) -> Result<Vec<Digest>, Fault> {
    let mut out = Vec::new();
    for alg in layout.backend().list(dir)?.unwrap_or_default() {
        let Some(algorithm) = alg.name_str().and_then(Algorithm::from_name) else {
            continue;
        };
        let alg_path = dir.join(&alg.name);
        match alg.kind {
            Kind::Dir => {}
            Kind::Symlink => return Err(symlink_fault(&alg_path)),
            _ => continue,
        }
        let hexes = layout.backend().list(&alg_path)?.unwrap_or_default();
        out.reserve_exact(hexes.len());
        for hex in hexes {
            if hex.kind == Kind::Symlink {
                return Err(symlink_fault(&alg_path.join(&hex.name)));
            }
            if let (Kind::Dir, Some(Ok(d))) = (
                hex.kind,
                hex.name_str().map(|h| Digest::from_hex(algorithm, h)),
            ) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Every digest the roots are or reach.
fn reached_by(roots: &[Root]) -> HashSet<&Digest> {
    roots
        .iter()
        .flat_map(|r| std::iter::once(&r.digest).chain(&r.reached))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(digests: impl IntoIterator<Item = Digest>) -> Vec<Blob> {
        let mut v: Vec<Blob> = digests
            .into_iter()
            .map(|digest| Blob {
                digest,
                size: 0,
                modified: SystemTime::UNIX_EPOCH,
            })
            .collect();
        v.sort_by(|a, b| a.digest.cmp(&b.digest));
        v.dedup_by(|a, b| a.digest == b.digest);
        v
    }

    fn sha(i: u32) -> Digest {
        Digest::sha256_of(&i.to_le_bytes())
    }

    #[test]
    fn tag_links_are_read_without_following_a_symlinked_current_directory_or_blocking() {
        let s = crate::testing::Store::new();
        let d = s.image("r", &["layer"]);
        s.tag("r", "v1", &d);
        let current = s.layout.tag_current_link("r", "v1");
        let current = current.parent().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::rename(current, outside.path().join("current")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("current"), current).unwrap();
        let fault = read_tags(&s.layout, "r", &HashMap::new()).err().unwrap();
        assert_eq!(
            fault.to_string(),
            format!(
                "symbolic link inside the store: registry-gc does not follow it (in {})",
                current.display()
            )
        );
        std::fs::remove_file(current).unwrap();
        std::fs::create_dir(current).unwrap();
        let link = s.layout.tag_current_link("r", "v1");
        let c = std::ffi::CString::new(link.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let fault = read_tags(&s.layout, "r", &HashMap::new()).err().unwrap();
        assert_eq!(
            fault.to_string(),
            format!(
                "failed to retrieve tags: invalid checksum digest format (in {})",
                link.display()
            )
        );
    }

    #[test]
    fn find_blob_finds_every_digest_whatever_their_spread() {
        let skewed = |i: u32, first: u8| {
            let Digest::Sha256(mut b) = sha(i) else {
                unreachable!()
            };
            b[0] = first;
            Digest::Sha256(b)
        };
        let long = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
        let sets: Vec<Vec<Digest>> = vec![
            vec![],
            vec![sha(0)],
            (0..1000).map(sha).collect(),
            (0..500).map(|i| skewed(i, 0xff)).collect(),
            (0..500).map(|i| skewed(i, 0x00)).collect(),
            (0..300)
                .map(|i| skewed(i, if i % 2 == 0 { 0 } else { 0xff }))
                .chain([long.clone()])
                .collect(),
        ];
        for set in sets {
            let present = blobs(set.iter().cloned());
            for d in &set {
                assert_eq!(find_blob(&present, d).map(|b| &b.digest), Some(d));
            }
            for i in 5000..5300 {
                for d in [sha(i), skewed(i, 0), skewed(i, 0xff), skewed(i, 0x80)] {
                    assert!(find_blob(&present, &d).is_none() || set.contains(&d));
                }
            }
            let other = Digest::parse(&format!("sha384:{}", "cd".repeat(48))).unwrap();
            assert!(find_blob(&present, &other).is_none());
        }
    }
}
