//! Enumerates `blobs/<alg>/<hh>/<hex>/data`, in parallel over the prefixes.

use crate::digest::{Algorithm, Digest};
use crate::error::{Fault, GcError};
use crate::fsutil::{io_pool, symlink_fault, Kind, Stat};
use crate::layout::Layout;
use rayon::prelude::*;
use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// A blob present in the store (its `data` file exists).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    pub digest: Digest,
    /// Size of `data` in bytes.
    pub(crate) size: u64,
    /// Modification time of `data`.
    pub(crate) modified: SystemTime,
}

/// Lists every blob, sorted by digest. One readdir per directory and one
/// lstat per blob directory (relative to its prefix directory), on the
/// I/O pool. A `data` file anywhere but at a canonical blob
/// path is an error (upstream would enumerate it and then fail or panic
/// midway through a sweep); other stray files are ignored, as upstream does.
pub fn enumerate(layout: &Layout) -> Result<Vec<Blob>, GcError> {
    enumerate_with(layout, false).map(|e| e.blobs)
}

/// What [`enumerate_with`] found.
#[derive(Debug, Default)]
pub(crate) struct Enumeration {
    /// The blobs, sorted by digest.
    pub(crate) blobs: Vec<Blob>,
    /// With `keep_going`: what could not be listed.
    pub(crate) faults: Vec<Fault>,
    /// Where those faults leave it unknown which blobs exist.
    pub(crate) unsure: Unsure,
}

/// Where the enumeration could not tell which blobs exist (with
/// `keep_going`): a blob missing from it there may well exist, so a revision
/// naming it must not be taken for one whose manifest is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Unsure {
    #[default]
    Nowhere,
    /// These prefix directories (`<alg>/<hh>`).
    Prefixes(HashSet<(Algorithm, [u8; 2])>),
    /// A digest algorithm's directory could not be listed.
    Everywhere,
}

impl Unsure {
    /// Whether blob `d` may exist although it was not enumerated.
    pub(crate) fn covers(&self, d: &Digest) -> bool {
        match self {
            Unsure::Nowhere => false,
            Unsure::Everywhere => true,
            Unsure::Prefixes(p) => p.contains(&(d.algorithm(), d.prefix())),
        }
    }
}

/// [`enumerate`]; with `keep_going`, a bad entry is left out (so it is never
/// deleted) and returned among the faults instead of ending the listing, and
/// where it leaves the blobs unknown is said.
pub(crate) fn enumerate_with(layout: &Layout, keep_going: bool) -> Result<Enumeration, GcError> {
    io_pool().install(|| enumerate_in(layout, keep_going))
}

fn enumerate_in(layout: &Layout, keep_going: bool) -> Result<Enumeration, GcError> {
    let root = layout.blobs();
    let store = layout.backend();
    let algs = match store.list(&root) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Err(GcError::Enumerate(Fault::new(
                "Path not found: /docker/registry/v2/blobs",
                &root,
            )))
        }
        Err(f) => return Err(GcError::Enumerate(f)),
    };
    let mut faults = Faults {
        keep_going,
        list: Vec::new(),
    };
    let mut prefixes = Vec::new();
    for entry in &algs {
        let path = root.join(&entry.name);
        match (entry.kind, entry.name_str().and_then(Algorithm::from_name)) {
            (Kind::Dir, Some(alg)) => match store.list(&path) {
                Ok(list) => prefixes.extend(
                    list.unwrap_or_default()
                        .into_iter()
                        .map(|p| (alg, path.join(&p.name), p)),
                ),
                Err(f) => faults.note(f)?,
            },
            (Kind::Dir, None) => faults.check(refuse_data_files(
                layout,
                &path,
                "unsupported digest algorithm",
            ))?,
            (Kind::Symlink, _) => faults.note(symlink_fault(&path))?,
            _ => {}
        }
    }
    // A fault above the prefixes: which blobs exist is unknown anywhere.
    let unsure_everywhere = !faults.list.is_empty();
    let per_prefix: Vec<(Vec<Blob>, Vec<Fault>)> = prefixes
        .par_iter()
        .map(|(alg, path, entry)| {
            let mut faults = Faults {
                keep_going,
                list: Vec::new(),
            };
            let hex_pair = |n: &str| {
                n.len() == 2
                    && n.bytes()
                        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            };
            let blobs = match entry.kind {
                Kind::Symlink => faults.note(symlink_fault(path)).map(|_| Vec::new())?,
                Kind::Dir if entry.name_str().is_some_and(hex_pair) => {
                    prefix_blobs(layout, *alg, path, &mut faults)?
                }
                Kind::Dir => {
                    let outside = refuse_data_files(
                        layout,
                        path,
                        "blob directory outside a two-character prefix directory",
                    );
                    faults.check(outside).map(|_| Vec::new())?
                }
                _ => Vec::new(),
            };
            crate::progress::blobs_listed(blobs.len() as u64);
            Ok((blobs, faults.list))
        })
        .collect::<Result<_, GcError>>()?;
    let mut blobs = Vec::with_capacity(per_prefix.iter().map(|(b, _)| b.len()).sum());
    let mut unsure_prefixes = HashSet::new();
    for ((alg, _, entry), (b, f)) in prefixes.iter().zip(per_prefix) {
        // Any fault in a prefix directory (its own, a blob's) leaves it
        // unsure; a name of other than two bytes is no digest's prefix.
        if !f.is_empty() {
            if let Ok(name) = <[u8; 2]>::try_from(entry.name.as_encoded_bytes()) {
                unsure_prefixes.insert((*alg, name));
            }
        }
        blobs.extend(b);
        faults.list.extend(f);
    }
    let unsure = if unsure_everywhere {
        Unsure::Everywhere
    } else if unsure_prefixes.is_empty() {
        Unsure::Nowhere
    } else {
        Unsure::Prefixes(unsure_prefixes)
    };
    blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
    Ok(Enumeration {
        blobs,
        faults: faults.list,
        unsure,
    })
}

/// Faults met while listing: an error, or (with `keep_going`) a list.
struct Faults {
    keep_going: bool,
    list: Vec<Fault>,
}

impl Faults {
    fn note(&mut self, fault: Fault) -> Result<(), GcError> {
        if self.keep_going {
            self.list.push(fault);
            Ok(())
        } else {
            Err(GcError::Enumerate(fault))
        }
    }

    fn check(&mut self, result: Result<(), Fault>) -> Result<(), GcError> {
        result.or_else(|f| self.note(f))
    }
}

fn prefix_blobs(
    layout: &Layout,
    alg: Algorithm,
    prefix: &Path,
    faults: &mut Faults,
) -> Result<Vec<Blob>, GcError> {
    let hh = prefix
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let store = layout.backend();
    // A directory unchanged since an earlier run listed it holds the same
    // blobs (see `DirVersion`); its version is taken before it is listed.
    // Failing to stat it only means listing it.
    let key = format!("{}/{hh}", alg.name());
    let version = store.dir_version(prefix);
    if let Some(blobs) = version.and_then(|v| layout.cache().blob_prefix(&key, &v)) {
        return Ok(blobs);
    }
    let faults_before = faults.list.len();
    let entries = match store.list(prefix) {
        Ok(e) => e.unwrap_or_default(),
        Err(f) => return faults.note(f).map(|_| Vec::new()),
    };
    let mut dirs = Vec::with_capacity(entries.len());
    for entry in &entries {
        match entry.kind {
            Kind::Dir => dirs.push(entry),
            Kind::Symlink => faults.note(symlink_fault(&prefix.join(&entry.name)))?,
            _ => {}
        }
    }
    if dirs.is_empty() {
        // Not remembered: listing it again costs one readdir.
        return Ok(Vec::new());
    }
    let names: Vec<&std::ffi::OsStr> = dirs.iter().map(|e| e.name.as_os_str()).collect();
    let stats = match store.stat_children(prefix, &names, "data") {
        Ok(s) => s,
        Err(f) => return faults.note(f).map(|_| Vec::new()),
    };
    let mut out = Vec::with_capacity(dirs.len());
    let dir_count = dirs.len();
    for (entry, stat) in dirs.into_iter().zip(stats) {
        let hex = entry.name_str().unwrap_or_default();
        match blob_in(alg, hh, &prefix.join(&entry.name), hex, stat) {
            Ok(Some(blob)) => out.push(blob),
            Ok(None) => {}
            Err(f) => faults.note(f)?,
        }
    }
    // Remembered only when every directory held its blob and nothing was
    // unreadable: a blob directory whose `data` is still being written
    // would otherwise be missed until the prefix changed again.
    let complete = out.len() == dir_count && faults.list.len() == faults_before;
    layout
        .cache()
        .learn_blob_prefix(&key, version.as_ref(), &out, complete);
    Ok(out)
}

/// The blob in directory `dir` (named `hex`, under prefix `hh`) whose `data`
/// was stat'ed as `stat`, if `data` exists. `dir` is only used in faults.
fn blob_in(
    alg: Algorithm,
    hh: &str,
    dir: &Path,
    hex: &str,
    stat: io::Result<Option<Stat>>,
) -> Result<Option<Blob>, Fault> {
    let meta = match stat {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Fault::io("stat", &dir.join("data"), &e)),
    };
    if meta.kind != Kind::File {
        let what = if meta.kind == Kind::Symlink {
            "a symbolic link"
        } else {
            "not a regular file"
        };
        return Err(Fault::new(
            format!("blob data is {what}"),
            &dir.join("data"),
        ));
    }
    let digest = Digest::from_hex(alg, hex).map_err(|e| Fault::new(e.to_string(), dir))?;
    if !hex.starts_with(hh) {
        return Err(Fault::new(
            "blob directory is not under its two-character prefix",
            dir,
        ));
    }
    Ok(Some(Blob {
        digest,
        size: meta.size,
        modified: meta.modified,
    }))
}

/// Fails if a file named `data` lies anywhere below `dir` (not following
/// links; at most [`MAX_STRAY_DEPTH`] levels down).
fn refuse_data_files(layout: &Layout, dir: &Path, message: &str) -> Result<(), Fault> {
    refuse_data_below(layout, dir, message, 0)
}

/// Levels below a stray directory that are searched for `data` files: a
/// blob directory is two levels below its algorithm's.
const MAX_STRAY_DEPTH: usize = 16;

fn refuse_data_below(
    layout: &Layout,
    dir: &Path,
    message: &str,
    depth: usize,
) -> Result<(), Fault> {
    if depth > MAX_STRAY_DEPTH {
        return Err(Fault::new(
            format!("{message}: directory nested deeper than {MAX_STRAY_DEPTH} levels"),
            dir,
        ));
    }
    for entry in layout.backend().list(dir)?.unwrap_or_default() {
        let path = dir.join(&entry.name);
        match entry.kind {
            Kind::Dir => refuse_data_below(layout, &path, message, depth + 1)?,
            _ if entry.name == "data" => return Err(Fault::new(message, &path)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HEX: &str = "fffe409406091f73cd9e93e113c16d73c417be88012a22cdd5ae2e6d5513a2d7";

    fn store() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), b"12345").unwrap();
        (dir, layout)
    }

    fn err(layout: &Layout) -> String {
        enumerate(layout).unwrap_err().to_string()
    }

    #[test]
    fn a_symlink_at_any_level_is_an_error_not_an_empty_directory() {
        let outside = tempfile::tempdir().unwrap();
        for rel in ["sha256", "sha256/ff", &format!("sha256/ff/{HEX}")] {
            let (_dir, layout) = store();
            let path = layout.blobs().join(rel);
            fs::rename(&path, outside.path().join("moved")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("moved"), &path).unwrap();
            assert_eq!(
                err(&layout),
                format!(
                    "error enumerating blobs: symbolic link inside the store: registry-gc does not follow it (in {})",
                    path.display()
                ),
                "{rel}"
            );
            fs::remove_file(&path).unwrap();
            fs::remove_dir_all(outside.path().join("moved")).unwrap();
        }
    }

    #[test]
    fn keep_going_says_which_prefixes_it_could_not_list() {
        let (_dir, layout) = store();
        let known = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let mut bad = Vec::new();
        for hh in ["0a", "0b"] {
            let d = Digest::parse(&format!("sha256:{hh}{}", &HEX[2..])).unwrap();
            let path = layout.blobs().join("sha256").join(hh);
            std::os::unix::fs::symlink(outside.path(), &path).unwrap();
            bad.push(d);
        }
        let found = enumerate_with(&layout, true).unwrap();
        assert_eq!(found.faults.len(), 2);
        assert!(
            bad.iter().all(|d| found.unsure.covers(d)),
            "{:?}",
            found.unsure
        );
        let elsewhere = Digest::parse(&format!("sha256:0c{}", &HEX[2..])).unwrap();
        assert!(!found.unsure.covers(&elsewhere) && !found.unsure.covers(&known));
        let (_clean, clean) = store();
        assert_eq!(
            enumerate_with(&clean, true).unwrap().unsure,
            Unsure::Nowhere
        );
    }

    #[test]
    fn finds_blobs_and_ignores_strays() {
        let (_dir, layout) = store();
        fs::create_dir_all(layout.blobs().join("sha256/ab").join("ab".repeat(32))).unwrap();
        fs::write(layout.blobs().join("sha256/README"), "x").unwrap();
        let blobs = enumerate(&layout).unwrap();
        assert_eq!(blobs.len(), 1);
        assert_eq!((blobs[0].digest.hex(), blobs[0].size), (HEX.to_string(), 5));
    }

    #[test]
    fn stray_directories_are_searched_for_data_down_to_the_depth_limit() {
        let (_dir, layout) = store();
        // Only a file named `data` is refused: other files in a stray
        // directory are left alone, as upstream does.
        let stray = layout.blobs().join("md5");
        fs::create_dir_all(stray.join("d4")).unwrap();
        fs::write(stray.join("README"), "x").unwrap();
        fs::write(stray.join("d4/notes"), "x").unwrap();
        assert_eq!(enumerate(&layout).unwrap().len(), 1);
        // A `data` file at the deepest level searched is found ...
        let mut deepest = stray.clone();
        for _ in 0..MAX_STRAY_DEPTH {
            deepest.push("d");
        }
        fs::create_dir_all(&deepest).unwrap();
        fs::write(deepest.join("data"), "x").unwrap();
        assert_eq!(
            err(&layout),
            format!(
                "error enumerating blobs: unsupported digest algorithm (in {})",
                deepest.join("data").display()
            )
        );
        // ... and a directory one level deeper is refused, not searched.
        fs::remove_file(deepest.join("data")).unwrap();
        fs::create_dir(deepest.join("d")).unwrap();
        assert_eq!(
            err(&layout),
            format!(
                "error enumerating blobs: unsupported digest algorithm: directory nested deeper than {MAX_STRAY_DEPTH} levels (in {})",
                deepest.join("d").display()
            )
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        let (_dir, layout) = store();
        let put = |rel: &str| {
            let p = layout.blobs().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "x").unwrap();
            p
        };
        let p = put("sha256/ab/x/data");
        assert!(err(&layout)
            .starts_with("error enumerating blobs: invalid checksum digest length (in "));
        fs::remove_file(&p).unwrap();
        let p = put("md5/d4/d41d8cd98f00b204e9800998ecf8427e/data");
        assert!(
            err(&layout).starts_with("error enumerating blobs: unsupported digest algorithm (in ")
        );
        fs::remove_dir_all(p.parent().unwrap().parent().unwrap().parent().unwrap()).unwrap();
        let p = put(&format!("sha256/{HEX}/data"));
        assert!(err(&layout).starts_with(
            "error enumerating blobs: blob directory outside a two-character prefix directory (in "
        ));
        fs::remove_dir_all(p.parent().unwrap()).unwrap();
        put("sha256/zz/zzzz/data");
        assert!(err(&layout).contains("outside a two-character prefix"));
        fs::remove_dir_all(layout.blobs()).unwrap();
        assert!(err(&layout).starts_with(
            "error enumerating blobs: Path not found: /docker/registry/v2/blobs (in "
        ));
    }
}
