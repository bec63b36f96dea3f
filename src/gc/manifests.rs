//! What a repository's manifests are and reach, read from the store: a
//! manifest blob, a link file (revision, tag or alias link), and the walk
//! from roots through lists and indexes. Mark, re-check, inventory and
//! prune-tags all read these through here, so they fail alike, with one
//! message naming the file.

use crate::digest::{Algorithm, Digest};
use crate::error::Fault;
use crate::fsutil::{symlink_fault, Kind};
use crate::layout::Layout;
use crate::manifest::{self, Manifest, MAX_MANIFEST_BYTES};
use crate::store::{FileRead, MAX_LINK_BYTES};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

/// A root manifest and what it reached first, in depth-first order.
#[derive(Clone, Debug)]
pub(crate) struct Root {
    pub(crate) digest: Digest,
    /// References reached from this root and not from an earlier root of
    /// the same walk (children of indexes are followed recursively).
    pub(crate) reached: Vec<Digest>,
}

/// The manifest blob `d`: from the mark cache when it holds it, else read
/// and parsed (and learnt by the cache). Fails, naming its `data` file,
/// when the file cannot be read, is larger than the registry's manifest
/// limit, is not a manifest, or does not hash to `d` (corruption).
pub(crate) fn read(layout: &Layout, d: &Digest) -> Result<Manifest, Fault> {
    let cache = layout.cache();
    if let Some(m) = cache.manifest(d) {
        return Ok(m);
    }
    let path = layout.blob_data(d);
    let fail = |e: String| {
        Fault::new(
            format!("failed to retrieve manifest for digest {d}: {e}"),
            &path,
        )
    };
    let too_large = || {
        fail(format!(
            "larger than the registry's {MAX_MANIFEST_BYTES}-byte manifest limit"
        ))
    };
    let read = layout
        .backend()
        .read(&path, MAX_MANIFEST_BYTES, false)
        .map_err(|f| fail(f.message))?;
    let Some(FileRead { bytes, size, .. }) = read else {
        return Err(fail("no such file or directory".into()));
    };
    if size > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    // Parsed first, so that an unparsable manifest fails with upstream's
    // message; one that parses must still be the manifest its digest names.
    let manifest = manifest::parse(&bytes).map_err(fail)?;
    if !d.matches(&bytes) {
        return Err(fail(format!(
            "its content hashes to {}, not to its digest: the blob is corrupt",
            Digest::of(d.algorithm(), &bytes)
        )));
    }
    cache.learn(d, &manifest);
    Ok(manifest)
}

/// A link file's bytes and (if asked for) its modification time.
pub(crate) type LinkRead = (Vec<u8>, Option<SystemTime>);

/// Reads a link file, never through a symlink, and, if asked, its
/// modification time; `None` if it does not exist. `expected` is what the
/// link should hold (the digest its path names), when there is one: a
/// remote backend may then confirm it without a GET.
pub(crate) fn read_link(
    layout: &Layout,
    path: &Path,
    expected: Option<&Digest>,
    with_mtime: bool,
) -> Result<Option<LinkRead>, Fault> {
    let store = layout.backend();
    let read = match expected {
        Some(d) => store.read_expected(path, d.to_string().as_bytes(), with_mtime)?,
        None => store.read(path, MAX_LINK_BYTES, with_mtime)?,
    };
    Ok(read.map(|r| (r.bytes, r.modified)))
}

/// The digest a tag's `current/link` names and (if asked for) when it was
/// written; `None` if the tag has no current link. Neither the `current`
/// directory nor the link is followed if it is a symlink. `expected` is
/// what it named when last read, if it was: a remote backend may then
/// confirm it without a GET.
pub(crate) fn read_tag_link(
    layout: &Layout,
    repo: &str,
    tag: &str,
    expected: Option<&Digest>,
    with_mtime: bool,
) -> Result<Option<(Digest, Option<SystemTime>)>, Fault> {
    let link = layout.tag_current_link(repo, tag);
    let current = link.parent().unwrap_or(&link);
    match layout.backend().stat(current)? {
        Some(s) if s.kind == Kind::Symlink => return Err(symlink_fault(current)),
        Some(_) => {}
        None => return Ok(None),
    }
    let Some((bytes, modified)) = read_link(layout, &link, expected, with_mtime)? else {
        return Ok(None);
    };
    let d = Digest::parse_bytes(&bytes)
        .map_err(|e| Fault::new(format!("failed to retrieve tags: {e}"), &link))?;
    Ok(Some((d, modified)))
}

/// A link whose content names another digest than its path: a corrupt
/// store (upstream handles the link as the digest it names, and sweeps the
/// blob its path names).
pub(crate) fn names_another_digest(named: &Digest, link: &Path) -> Fault {
    Fault::new(
        format!("link names {named}, another digest than its path"),
        link,
    )
}

/// The canonical digest a non-canonical reference (`sha512:`, `sha384:`)
/// stands for: the registry stores such an upload under its sha256 digest
/// and writes an alias link `_layers/<alg>/<hex>/link` naming it, through
/// which it serves the blob. `None` for a sha256 reference or without an
/// alias link.
pub(crate) fn resolve_alias(
    layout: &Layout,
    repo: &str,
    d: &Digest,
) -> Result<Option<Digest>, Fault> {
    if d.algorithm() == Algorithm::Sha256 {
        return Ok(None);
    }
    let link = layout.layer_link(repo, d);
    let Some((bytes, _)) = read_link(layout, &link, None, false)? else {
        return Ok(None);
    };
    let target = Digest::parse_bytes(&bytes).map_err(|e| Fault::new(e.to_string(), &link))?;
    if target == *d {
        return Ok(None);
    }
    if target.algorithm() == d.algorithm() {
        return Err(names_another_digest(&target, &link));
    }
    Ok(Some(target))
}

/// Marks, right after each non-canonical reference, the stored digest its
/// alias link names (see [`resolve_alias`]).
pub(crate) fn resolve_aliases(
    layout: &Layout,
    repo: &str,
    roots: &mut [Root],
) -> Result<(), Fault> {
    let mut resolved: HashSet<Digest> = HashSet::new();
    for root in roots {
        if root
            .reached
            .iter()
            .all(|d| d.algorithm() == Algorithm::Sha256)
        {
            continue;
        }
        let mut reached = Vec::with_capacity(root.reached.len() + 1);
        for d in std::mem::take(&mut root.reached) {
            let target = resolve_alias(layout, repo, &d)?;
            reached.push(d);
            reached.extend(target.filter(|t| resolved.insert(t.clone())));
        }
        root.reached = reached;
    }
    Ok(())
}

/// Everything `roots` reach within repository `repo`: [`load_reachable`],
/// [`walk`] and [`resolve_aliases`] in one. `manifests` caches what is read.
pub(crate) fn reach(
    layout: &Layout,
    repo: &str,
    roots: &[Digest],
    revisions: &HashSet<Digest>,
    manifests: &mut HashMap<Digest, Manifest>,
) -> Result<Vec<Root>, Fault> {
    load_reachable(layout, roots, revisions, manifests)?;
    let (mut roots, _) = walk(roots, revisions, manifests);
    resolve_aliases(layout, repo, &mut roots)?;
    Ok(roots)
}

/// Parses the roots and, level by level, every manifest they reach within
/// the repository (children of lists and indexes that are `revisions`)
/// into `manifests`; each level is read in parallel and each file once.
pub(crate) fn load_reachable(
    layout: &Layout,
    roots: &[Digest],
    revisions: &HashSet<Digest>,
    manifests: &mut HashMap<Digest, Manifest>,
) -> Result<(), Fault> {
    let mut level: Vec<Digest> = roots
        .iter()
        .filter(|d| !manifests.contains_key(*d))
        .cloned()
        .collect();
    while !level.is_empty() {
        let loaded: Vec<(Digest, Manifest)> = level
            .par_iter()
            .map(|d| Ok((d.clone(), read(layout, d)?)))
            .collect::<Result<_, Fault>>()?;
        manifests.extend(loaded);
        let mut next: Vec<Digest> = Vec::new();
        for d in &level {
            for r in manifests[d].children() {
                if revisions.contains(r) && !manifests.contains_key(r) && !next.contains(r) {
                    next.push(r.clone());
                }
            }
        }
        level = next;
    }
    Ok(())
}

/// Depth-first from each root in order, over manifests already loaded (see
/// [`load_reachable`]); a child of a list or index that is one of
/// `revisions` is followed (a config or layer is not, even when it is also
/// a revision). Returns the roots with what each reached first, and the
/// manifests walked: the roots and the children followed, which are what
/// `-m` keeps.
pub(crate) fn walk(
    roots: &[Digest],
    revisions: &HashSet<Digest>,
    manifests: &HashMap<Digest, Manifest>,
) -> (Vec<Root>, HashSet<Digest>) {
    let mut seen: HashSet<Digest> = HashSet::new();
    let mut walked: HashSet<Digest> = HashSet::new();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        seen.insert(root.clone());
        walked.insert(root.clone());
        let mut reached = Vec::new();
        let mut stack: Vec<(&Digest, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let manifest = &manifests[top.0];
            let follow = !manifest.children().is_empty();
            let Some(r) = manifest.references.get(top.1) else {
                stack.pop();
                continue;
            };
            top.1 += 1;
            if seen.insert(r.clone()) {
                reached.push(r.clone());
            }
            if follow && revisions.contains(r) && walked.insert(r.clone()) {
                stack.push((r, 0));
            }
        }
        reached.shrink_to_fit(); // kept until the plan is printed
        out.push(Root {
            digest: root.clone(),
            reached,
        });
    }
    (out, walked)
}

/// The digest the `link` of revision directory `dir` names and (if asked
/// for) when it was written; `None` without a link. A link that does not
/// parse, or names another digest than its directory, is a fault.
pub(crate) fn read_revision_link(
    layout: &Layout,
    repo: &str,
    dir: &Path,
    with_mtime: bool,
) -> Result<Option<(Digest, Option<SystemTime>)>, Fault> {
    let link = dir.join("link");
    let expected = digest_of_dir(dir);
    let Some((bytes, modified)) = read_link(layout, &link, expected.as_ref(), with_mtime)? else {
        return Ok(None);
    };
    let d = Digest::parse_bytes(&bytes).map_err(|e| Fault::new(e.to_string(), &link))?;
    if layout.revision_dir(repo, &d) != dir {
        return Err(names_another_digest(&d, &link));
    }
    Ok(Some((d, modified)))
}

/// The digest a `<alg>/<hex>` directory names, if it names one.
pub(crate) fn digest_of_dir(dir: &Path) -> Option<Digest> {
    let hex = dir.file_name()?.to_str()?;
    let alg = dir.parent()?.file_name()?.to_str()?;
    Digest::from_hex(Algorithm::from_name(alg)?, hex).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_links_resolve_to_another_algorithm_only() {
        let s = crate::testing::Store::new();
        let stored = s.blob(b"layer");
        let long = |c: &str| Digest::parse(&format!("sha512:{}", c.repeat(128))).unwrap();
        let (alias, own, other, garbage, none) =
            (long("a"), long("b"), long("c"), long("d"), long("e"));
        s.link(s.layout.layer_link("r", &alias), &stored);
        s.link(s.layout.layer_link("r", &own), &own);
        s.link(s.layout.layer_link("r", &other), &alias);
        std::fs::create_dir_all(s.layout.layer_link("r", &garbage).parent().unwrap()).unwrap();
        std::fs::write(s.layout.layer_link("r", &garbage), "garbage").unwrap();
        let resolve = |d: &Digest| resolve_alias(&s.layout, "r", d).map_err(|f| f.to_string());
        assert_eq!(resolve(&alias), Ok(Some(stored.clone())));
        assert_eq!(resolve(&own), Ok(None));
        assert_eq!(resolve(&none), Ok(None));
        assert_eq!(
            resolve(&stored),
            Ok(None),
            "sha256 is canonical: no link read"
        );
        let link = |d: &Digest| s.layout.layer_link("r", d).display().to_string();
        assert_eq!(
            resolve(&other),
            Err(format!(
                "link names {alias}, another digest than its path (in {})",
                link(&other)
            ))
        );
        assert_eq!(
            resolve(&garbage),
            Err(format!(
                "invalid checksum digest format (in {})",
                link(&garbage)
            ))
        );
    }

    #[test]
    fn aliases_are_marked_right_after_their_reference_once_per_walk() {
        let s = crate::testing::Store::new();
        let long = |c: &str| Digest::parse(&format!("sha512:{}", c.repeat(128))).unwrap();
        let (one, two) = (s.blob(b"one"), s.blob(b"two"));
        let (a, b) = (long("a"), long("b"));
        s.link(s.layout.layer_link("r", &a), &one);
        s.link(s.layout.layer_link("r", &b), &two);
        let config = s.blob(b"config");
        let root = |reached: &[&Digest]| Root {
            digest: config.clone(),
            reached: reached.iter().map(|d| (*d).clone()).collect(),
        };
        let mut roots = [
            root(&[&config, &a]),
            root(&[&b]),
            root(&[&a, &b]),
            root(&[&config]),
        ];
        resolve_aliases(&s.layout, "r", &mut roots).unwrap();
        let reached: Vec<Vec<Digest>> = roots.iter().map(|r| r.reached.clone()).collect();
        assert_eq!(
            reached,
            [
                vec![config.clone(), a.clone(), one],
                vec![b.clone(), two],
                vec![a, b],
                vec![config],
            ]
        );
    }
}
