//! The mark phase, one repository at a time and repositories in parallel:
//! which manifests are roots, and everything they reach.

use crate::blobs::Blob;
use crate::digest::{Algorithm, Digest};
use crate::error::{Fault, GcError};
use crate::fsutil::{list_sorted, read_optional, symlink_fault, Kind};
use crate::layout::Layout;
use crate::manifest::{self, Manifest, MAX_MANIFEST_BYTES};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A marked root manifest and what it reached first, in depth-first order.
#[derive(Clone, Debug)]
pub struct Root {
    pub digest: Digest,
    /// References reached from this root and not from an earlier root of
    /// the same repository (children of indexes are followed recursively).
    pub reached: Vec<Digest>,
}

/// Everything the mark phase learnt about one repository.
#[derive(Debug, Default)]
pub struct RepoMark {
    pub name: String,
    /// Roots in revision walk order.
    pub roots: Vec<Root>,
    /// With `-m`: revisions no tag of this repository reaches, sorted.
    pub untagged: Vec<Digest>,
    /// With `-m`: every tag name, sorted.
    pub tags: Vec<String>,
    /// With `-m`: for each digest, the tags whose `index/` lists it.
    pub tag_index: HashMap<Digest, Vec<String>>,
    /// Digests named by the `_layers/<alg>/<hex>/` directories.
    pub layer_dirs: Vec<Digest>,
}

/// Looks a blob up in the sorted enumeration.
pub fn find_blob<'a>(blobs: &'a [Blob], d: &Digest) -> Option<&'a Blob> {
    blobs
        .binary_search_by(|b| b.digest.cmp(d))
        .ok()
        .map(|i| &blobs[i])
}

/// Marks every repository (in parallel), keeping walk order in the result.
pub fn mark_all(
    layout: &Layout,
    repos: &[String],
    blobs: &[Blob],
    delete_untagged: bool,
) -> Result<Vec<RepoMark>, GcError> {
    repos
        .par_iter()
        .map(|name| mark_repository(layout, name, blobs, delete_untagged).map_err(GcError::Mark))
        .collect()
}

/// Marks one repository. Without `-m` every revision whose blob exists is
/// a root; with it only those a tag's `current/link` names.
pub fn mark_repository(
    layout: &Layout,
    name: &str,
    blobs: &[Blob],
    delete_untagged: bool,
) -> Result<RepoMark, Fault> {
    let revisions = read_revisions(layout, name, blobs)?;
    let revision_set: HashSet<Digest> = revisions.iter().cloned().collect();
    let tags = if delete_untagged {
        read_tags(layout, name)?
    } else {
        Tags::default()
    };
    let roots: Vec<Digest> = if delete_untagged {
        revisions
            .iter()
            .filter(|d| tags.current.contains(*d))
            .cloned()
            .collect()
    } else {
        revisions.clone()
    };
    let manifests = load_reachable(layout, &roots, &revision_set, blobs)?;
    let (roots, seen) = walk_roots(&roots, &revision_set, &manifests);
    let mut untagged: Vec<Digest> = if delete_untagged {
        revisions
            .into_iter()
            .filter(|d| !seen.contains(d))
            .collect()
    } else {
        Vec::new()
    };
    untagged.sort();
    Ok(RepoMark {
        name: name.to_string(),
        roots,
        untagged,
        tags: tags.names,
        tag_index: tags.index,
        layer_dirs: digest_dirs(&layout.layers(name))?,
    })
}

/// Revision digests whose link parses and whose blob exists, in walk order.
fn read_revisions(layout: &Layout, repo: &str, blobs: &[Blob]) -> Result<Vec<Digest>, Fault> {
    let dirs = revision_dirs(&layout.revisions(repo))?;
    let found: Vec<Option<Digest>> = dirs
        .par_iter()
        .map(|dir| {
            let link = dir.join("link");
            let Some(bytes) = read_optional(&link)? else {
                return Ok(None);
            };
            let d = Digest::parse_bytes(&bytes).map_err(|e| Fault::new(e.to_string(), &link))?;
            if layout.revision_dir(repo, &d) != *dir && !canonical_link_names(layout, repo, &d)? {
                return Ok(None);
            }
            Ok(find_blob(blobs, &d).map(|_| d))
        })
        .collect::<Result<_, Fault>>()?;
    let mut seen = HashSet::new();
    Ok(found
        .into_iter()
        .flatten()
        .filter(|d| seen.insert(d.clone()))
        .collect())
}

/// `revisions/<alg>/<hex>/` directories, sorted.
fn revision_dirs(revisions: &Path) -> Result<Vec<std::path::PathBuf>, Fault> {
    let mut dirs = Vec::new();
    for alg in list_sorted(revisions)?.unwrap_or_default() {
        let alg_path = revisions.join(&alg.name);
        match alg.kind {
            Kind::Dir => {}
            Kind::Symlink => return Err(symlink_fault(&alg_path)),
            _ => continue,
        }
        for hex in list_sorted(&alg_path)?.unwrap_or_default() {
            match hex.kind {
                Kind::Dir => dirs.push(alg_path.join(&hex.name)),
                Kind::Symlink => return Err(symlink_fault(&alg_path.join(&hex.name))),
                _ => {}
            }
        }
    }
    Ok(dirs)
}

/// A misplaced link (directory A naming B) counts only if B's own revision
/// link exists and names B, as upstream looks it up again by digest.
fn canonical_link_names(layout: &Layout, repo: &str, d: &Digest) -> Result<bool, Fault> {
    let link = layout.revision_dir(repo, d).join("link");
    Ok(read_optional(&link)?.is_some_and(|b| Digest::parse_bytes(&b).as_ref() == Ok(d)))
}

/// The tags of one repository, each `current/link` and `index/` read once.
#[derive(Default)]
struct Tags {
    names: Vec<String>,
    current: HashSet<Digest>,
    index: HashMap<Digest, Vec<String>>,
}

fn read_tags(layout: &Layout, repo: &str) -> Result<Tags, Fault> {
    let dir = layout.tags(repo);
    let mut names = Vec::new();
    for entry in list_sorted(&dir)?.unwrap_or_default() {
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
            let link = layout.tag_current_link(repo, tag);
            let current = match read_optional(&link)? {
                Some(b) => Some(
                    Digest::parse_bytes(&b)
                        .map_err(|e| Fault::new(format!("failed to retrieve tags: {e}"), &link))?,
                ),
                None => None,
            };
            Ok((current, digest_dirs(&layout.tag_index(repo, tag))?))
        })
        .collect::<Result<_, Fault>>()?;
    let mut tags = Tags::default();
    for (name, (current, index)) in names.iter().zip(per_tag) {
        tags.current.extend(current);
        for d in index {
            tags.index.entry(d).or_default().push(name.clone());
        }
    }
    tags.names = names;
    Ok(tags)
}

/// Digests named by `<dir>/<alg>/<hex>/` directories; other names are ignored.
fn digest_dirs(dir: &Path) -> Result<Vec<Digest>, Fault> {
    let mut out = Vec::new();
    for alg in list_sorted(dir)?.unwrap_or_default() {
        let Some(algorithm) = alg.name_str().and_then(Algorithm::from_name) else {
            continue;
        };
        let alg_path = dir.join(&alg.name);
        match alg.kind {
            Kind::Dir => {}
            Kind::Symlink => return Err(symlink_fault(&alg_path)),
            _ => continue,
        }
        for hex in list_sorted(&alg_path)?.unwrap_or_default() {
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

/// Parses the roots and, level by level, every manifest they reach within
/// the repository; each level is read in parallel and each file once.
fn load_reachable(
    layout: &Layout,
    roots: &[Digest],
    revisions: &HashSet<Digest>,
    blobs: &[Blob],
) -> Result<HashMap<Digest, Manifest>, Fault> {
    let mut manifests: HashMap<Digest, Manifest> = HashMap::new();
    let mut level: Vec<Digest> = roots.to_vec();
    while !level.is_empty() {
        let loaded: Vec<(Digest, Manifest)> = level
            .par_iter()
            .map(|d| Ok((d.clone(), load_manifest(layout, d, blobs)?)))
            .collect::<Result<_, Fault>>()?;
        manifests.extend(loaded);
        let mut next: Vec<Digest> = Vec::new();
        for d in &level {
            for r in &manifests[d].references {
                if revisions.contains(r) && !manifests.contains_key(r) && !next.contains(r) {
                    next.push(r.clone());
                }
            }
        }
        level = next;
    }
    Ok(manifests)
}

fn load_manifest(layout: &Layout, d: &Digest, blobs: &[Blob]) -> Result<Manifest, Fault> {
    let path = layout.blob_data(d);
    let fail = |e: String| {
        Fault::new(
            format!("failed to retrieve manifest for digest {d}: {e}"),
            &path,
        )
    };
    if find_blob(blobs, d).is_some_and(|b| b.size > MAX_MANIFEST_BYTES) {
        return Err(fail(format!(
            "larger than the registry's {MAX_MANIFEST_BYTES}-byte manifest limit"
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| fail(crate::error::os_message(&e)))?;
    manifest::parse(&bytes).map_err(fail)
}

/// Depth-first from each root in order; a reference that is a revision of
/// this repository is followed. Returns the roots with what each reached
/// first, and everything reached.
fn walk_roots(
    roots: &[Digest],
    revisions: &HashSet<Digest>,
    manifests: &HashMap<Digest, Manifest>,
) -> (Vec<Root>, HashSet<Digest>) {
    let mut seen: HashSet<Digest> = HashSet::new();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        seen.insert(root.clone());
        let mut reached = Vec::new();
        let mut stack: Vec<(&Digest, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let refs = &manifests[top.0].references;
            let Some(r) = refs.get(top.1) else {
                stack.pop();
                continue;
            };
            top.1 += 1;
            if seen.insert(r.clone()) {
                reached.push(r.clone());
                if revisions.contains(r) {
                    stack.push((r, 0));
                }
            }
        }
        out.push(Root {
            digest: root.clone(),
            reached,
        });
    }
    (out, seen)
}
