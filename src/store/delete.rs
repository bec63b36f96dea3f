//! The one function that deletes anything from a store, and what it may delete.

use crate::digest::Digest;
use crate::error::Fault;
use crate::layout::Layout;
use std::ffi::CStr;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Something a run may delete. Nothing else is ever deleted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    /// `blobs/<alg>/<hh>/<hex>/`, recursively.
    Blob(&'a Digest),
    /// `repositories/<r>/_manifests/tags/<t>/`, recursively: a tag delete.
    Tag { repo: &'a str, tag: &'a str },
    /// `repositories/<r>/_uploads/<uuid>/`, recursively: an abandoned upload.
    Upload { repo: &'a str, uuid: &'a str },
    /// `repositories/<r>/_manifests/revisions/<alg>/<hex>/`, recursively.
    Revision { repo: &'a str, digest: &'a Digest },
    /// `repositories/<r>/_manifests/tags/<t>/index/<alg>/<hex>/`, recursively.
    TagIndexEntry {
        repo: &'a str,
        tag: &'a str,
        digest: &'a Digest,
    },
    /// `repositories/<r>/_layers/<alg>/<hex>/link`.
    LayerLink { repo: &'a str, digest: &'a Digest },
    /// `blobs/<alg>/<hh>/`, only if empty.
    EmptyBlobPrefix(&'a Digest),
    /// `repositories/<r>/_layers/<alg>/<hex>/`, only if empty.
    EmptyLayerDir { repo: &'a str, digest: &'a Digest },
}

impl Target<'_> {
    /// The path this target names.
    pub(crate) fn path(&self, layout: &Layout) -> PathBuf {
        match *self {
            Target::Blob(d) => layout.blob_dir(d),
            Target::Tag { repo, tag } => layout.tag_dir(repo, tag),
            Target::Upload { repo, uuid } => layout.upload_dir(repo, uuid),
            Target::Revision { repo, digest } => layout.revision_dir(repo, digest),
            Target::TagIndexEntry { repo, tag, digest } => {
                layout.tag_index_entry(repo, tag, digest)
            }
            Target::LayerLink { repo, digest } => layout.layer_link(repo, digest),
            Target::EmptyBlobPrefix(d) => layout
                .blob_dir(d)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            Target::EmptyLayerDir { repo, digest } => layout
                .layer_link(repo, digest)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }
    }

    /// The components the path must have below `v2/`; `None` stands for the
    /// repository name's components.
    fn shape(&self) -> Vec<Option<String>> {
        let some = |s: &str| Some(s.to_string());
        let digest = |d: &Digest| vec![some(d.algorithm().name()), Some(d.hex())];
        let repo = |r: &str| -> Vec<Option<String>> {
            let mut v = vec![some("repositories")];
            v.extend(r.split('/').map(|_| None));
            v
        };
        match *self {
            Target::Blob(d) => vec![
                some("blobs"),
                some(d.algorithm().name()),
                Some(d.hex()[..2].to_string()),
                Some(d.hex()),
            ],
            Target::EmptyBlobPrefix(d) => vec![
                some("blobs"),
                some(d.algorithm().name()),
                Some(d.hex()[..2].to_string()),
            ],
            Target::Tag { repo: r, tag } => {
                [repo(r), vec![some("_manifests"), some("tags"), some(tag)]].concat()
            }
            Target::Upload { repo: r, uuid } => {
                [repo(r), vec![some("_uploads"), some(uuid)]].concat()
            }
            Target::Revision { repo: r, digest: d } => [
                repo(r),
                vec![some("_manifests"), some("revisions")],
                digest(d),
            ]
            .concat(),
            Target::TagIndexEntry {
                repo: r,
                tag,
                digest: d,
            } => [
                repo(r),
                vec![some("_manifests"), some("tags"), some(tag), some("index")],
                digest(d),
            ]
            .concat(),
            Target::LayerLink { repo: r, digest: d } => [
                repo(r),
                vec![some("_layers")],
                digest(d),
                vec![some("link")],
            ]
            .concat(),
            Target::EmptyLayerDir { repo: r, digest: d } => {
                [repo(r), vec![some("_layers")], digest(d)].concat()
            }
        }
    }
}

/// Deletes one `target` through the store's backend (which checks it as
/// [`remove`] does); whether it was there.
pub(crate) fn remove_one(layout: &Layout, target: Target<'_>) -> Result<bool, Fault> {
    layout
        .backend()
        .remove(layout, &[target])
        .pop()
        .unwrap_or(Ok(false))
}

/// Deletes `target` from a filesystem store after checking that its path lies inside the store,
/// has exactly the expected shape, and is a real directory (or, for a link,
/// a regular file) rather than a symlink. Returns false if it was already
/// gone, or (for the `Empty*` targets) is not empty.
pub(crate) fn remove(layout: &Layout, target: Target<'_>) -> Result<bool, Fault> {
    check_target(layout, &target)?;
    let path = target.path(layout);
    // The common cases in few system calls (and no directory read, which
    // on a cold cache waits on the disk); anything unusual is settled by
    // the general, checked path below.
    let fast = match target {
        Target::Blob(_) => remove_leaf_dir(&path, c"data")?,
        Target::Revision { .. } | Target::TagIndexEntry { .. } => remove_leaf_dir(&path, c"link")?,
        // rmdir never follows a symlink: it fails with ENOTDIR.
        Target::EmptyBlobPrefix(_) | Target::EmptyLayerDir { .. } => match sys::remove_dir(&path) {
            Ok(()) => Some(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(false),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Some(false),
            Err(_) => None,
        },
        _ => None,
    };
    if let Some(removed) = fast {
        return Ok(removed);
    }
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Fault::io("stat", &path, &e)),
    };
    let is_file_target = matches!(target, Target::LayerLink { .. });
    let expected = if is_file_target {
        meta.is_file()
    } else {
        meta.is_dir()
    };
    if !expected {
        let what = if meta.file_type().is_symlink() {
            "a symbolic link"
        } else {
            "not of the expected type"
        };
        return Err(Fault::new(
            format!("refusing to delete: it is {what}"),
            &path,
        ));
    }
    let result = match target {
        Target::LayerLink { .. } => sys::remove_file(&path),
        Target::EmptyBlobPrefix(_) | Target::EmptyLayerDir { .. } => match sys::remove_dir(&path) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => return Ok(false),
            other => other,
        },
        _ => sys::remove_dir_all(&path),
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Fault::io("delete", &path, &e)),
    }
}

/// Checks that `target`'s path lies inside the store and has exactly the
/// expected shape: every backend calls this before deleting anything.
pub(crate) fn check_target(layout: &Layout, target: &Target<'_>) -> Result<(), Fault> {
    let path = target.path(layout);
    check_shape(layout, &path, &target.shape())
        .map_err(|m| Fault::new(format!("refusing to delete: {m}"), &path))
}

/// Removes a directory that holds just `file` (a blob's `data`, a
/// revision's `link`): opens it without following a symlink, unlinks the
/// file relative to it, then removes the directory. `None` when the
/// directory is anything else (a symlink, not a directory, more entries):
/// the caller's general path decides.
fn remove_leaf_dir(path: &Path, file: &CStr) -> Result<Option<bool>, Fault> {
    let dir = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(false)),
        Err(_) => return Ok(None),
    };
    // SAFETY: `dir` is an open directory and `file` is NUL-terminated.
    let unlinked = unsafe { libc::unlinkat(dir.as_raw_fd(), file.as_ptr(), 0) } == 0;
    if !unlinked && io::Error::last_os_error().kind() != io::ErrorKind::NotFound {
        return Ok(None);
    }
    drop(dir);
    match sys::remove_dir(path) {
        Ok(()) => Ok(Some(true)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(unlinked)),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(None),
        Err(e) => Err(Fault::io("delete", path, &e)),
    }
}

/// The removals by path, through which tests make a removal fail as the
/// kernel will not on demand (EIO, EBUSY, EROFS even as root). Outside
/// tests these are `std::fs`'s own functions.
mod sys {
    #[cfg(not(test))]
    pub(crate) use std::fs::{remove_dir, remove_dir_all, remove_file};

    #[cfg(test)]
    pub(crate) use faults::{remove_dir, remove_dir_all, remove_file};

    #[cfg(test)]
    pub(crate) mod faults {
        use crate::testing::ArmedFaults;
        use std::io;
        use std::path::Path;

        static ARMED: ArmedFaults = ArmedFaults::new();

        /// Makes the next removal of `path` fail with OS error `errno`.
        pub(crate) fn arm(path: &Path, errno: i32) {
            ARMED.arm(path, errno);
        }

        pub(crate) fn remove_dir(path: &Path) -> io::Result<()> {
            ARMED.take(path).and_then(|()| std::fs::remove_dir(path))
        }

        pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
            ARMED
                .take(path)
                .and_then(|()| std::fs::remove_dir_all(path))
        }

        pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
            ARMED.take(path).and_then(|()| std::fs::remove_file(path))
        }
    }
}

/// Test seam: makes the next removal of a path fail with an OS error.
#[cfg(test)]
pub(crate) use sys::faults::arm as fail_next_removal;

fn check_shape(layout: &Layout, path: &Path, shape: &[Option<String>]) -> Result<(), String> {
    let rel = path
        .strip_prefix(layout.v2())
        .map_err(|_| "path is outside the store".to_string())?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().ok_or("path is not UTF-8"),
            _ => Err("path has a non-plain component"),
        })
        .collect::<Result<_, _>>()?;
    if parts.len() != shape.len() {
        return Err("path does not have the expected shape".into());
    }
    for (part, want) in parts.iter().zip(shape) {
        let ok = match want {
            Some(w) => part == w && !w.is_empty() && w != "." && w != "..",
            None => !part.is_empty() && !part.starts_with('_') && *part != "." && *part != "..",
        };
        if !ok {
            return Err(format!("unexpected path component {part:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        Digest::parse("sha256:fffe409406091f73cd9e93e113c16d73c417be88012a22cdd5ae2e6d5513a2d7")
            .unwrap()
    }

    #[test]
    fn deletes_only_well_shaped_paths() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), "x").unwrap();
        assert!(remove(&layout, Target::Blob(&d)).unwrap());
        assert!(!layout.blob_dir(&d).exists());
        assert!(!remove(&layout, Target::Blob(&d)).unwrap(), "already gone");
        assert!(remove(&layout, Target::EmptyBlobPrefix(&d)).unwrap());

        for bad in ["../../etc", "a/../../x", "_x", "a//b", ""] {
            let e = remove(
                &layout,
                Target::Revision {
                    repo: bad,
                    digest: &d,
                },
            )
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("refusing to delete"), "{bad}: {e}");
        }
        let e = remove(
            &layout,
            Target::TagIndexEntry {
                repo: "a",
                tag: "..",
                digest: &d,
            },
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("refusing to delete"));
    }

    #[test]
    fn tag_and_upload_targets() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        for tag in ["v1", "v2"] {
            fs::create_dir_all(layout.tag_index_entry("a/b", tag, &d)).unwrap();
            fs::create_dir_all(layout.tag_dir("a/b", tag).join("current")).unwrap();
            fs::write(layout.tag_current_link("a/b", tag), d.to_string()).unwrap();
        }
        let tag = |tag| Target::Tag { repo: "a/b", tag };
        assert!(remove(&layout, tag("v1")).unwrap());
        assert!(!layout.tag_dir("a/b", "v1").exists());
        assert!(
            layout.tag_current_link("a/b", "v2").exists(),
            "other tag stays"
        );
        assert!(!remove(&layout, tag("v1")).unwrap(), "already gone");
        for bad in ["", ".", "..", "x/y", "../v2"] {
            let e = remove(&layout, tag(bad)).unwrap_err().to_string();
            assert!(e.starts_with("refusing to delete"), "{bad:?}: {e}");
        }
        assert!(layout.tag_dir("a/b", "v2").exists());

        let upload = layout.upload_dir("a", "u-1");
        fs::create_dir_all(upload.join("hashstates/sha256")).unwrap();
        fs::write(upload.join("data"), "x").unwrap();
        let up = |uuid| Target::Upload { repo: "a", uuid };
        for bad in ["", "..", "u-1/data"] {
            let e = remove(&layout, up(bad)).unwrap_err().to_string();
            assert!(e.starts_with("refusing to delete"), "{bad:?}: {e}");
        }
        assert!(remove(&layout, up("u-1")).unwrap());
        assert!(!upload.exists());
        assert!(layout.uploads("a").is_dir(), "_uploads itself stays");

        // A symlinked tag directory is refused, and its target kept.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), layout.tag_dir("a/b", "v3")).unwrap();
        let e = remove(&layout, tag("v3")).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(outside.path().is_dir());
    }

    #[test]
    fn never_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("data"), "precious").unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        fs::create_dir_all(layout.blob_dir(&d).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(outside.path(), layout.blob_dir(&d)).unwrap();
        let e = remove(&layout, Target::Blob(&d)).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(outside.path().join("data").exists());
    }

    #[test]
    fn leaf_dirs_with_unexpected_entries_are_removed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        // A stray file beside `data`, and `data` that is a directory.
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), "x").unwrap();
        fs::write(layout.blob_dir(&d).join("stray"), "y").unwrap();
        assert!(remove(&layout, Target::Blob(&d)).unwrap());
        assert!(!layout.blob_dir(&d).exists());
        fs::create_dir_all(layout.blob_data(&d).join("deeper")).unwrap();
        assert!(remove(&layout, Target::Blob(&d)).unwrap());
        assert!(!layout.blob_dir(&d).exists());
        // A revision directory that is a symlink is refused, its target kept.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("link"), d.to_string()).unwrap();
        let rev = layout.revision_dir("a", &d);
        fs::create_dir_all(rev.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(outside.path(), &rev).unwrap();
        let target = Target::Revision {
            repo: "a",
            digest: &d,
        };
        let e = remove(&layout, target).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(outside.path().join("link").exists());
        // So is a symlinked empty-directory target.
        let prefix = layout.blob_dir(&d).parent().unwrap().to_path_buf();
        fs::remove_dir(&prefix).unwrap();
        std::os::unix::fs::symlink(outside.path(), &prefix).unwrap();
        let e = remove(&layout, Target::EmptyBlobPrefix(&d))
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn empty_dir_targets_keep_non_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        fs::create_dir_all(layout.layer_link("a", &d).parent().unwrap()).unwrap();
        fs::write(layout.layer_link("a", &d), d.to_string()).unwrap();
        assert!(!remove(
            &layout,
            Target::EmptyLayerDir {
                repo: "a",
                digest: &d
            }
        )
        .unwrap());
        assert!(remove(
            &layout,
            Target::LayerLink {
                repo: "a",
                digest: &d
            }
        )
        .unwrap());
        assert!(remove(
            &layout,
            Target::EmptyLayerDir {
                repo: "a",
                digest: &d
            }
        )
        .unwrap());
    }

    #[test]
    fn a_failed_stat_is_an_error_not_already_gone() {
        // A parent component that is a regular file: ENOTDIR, even as root.
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        let file_at = |p: PathBuf| {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "not a directory").unwrap();
            p
        };
        let blocked = [
            file_at(layout.tags("a")),
            file_at(layout.blob_dir(&d).parent().unwrap().to_path_buf()),
            file_at(layout.revisions("b")),
            file_at(layout.layer_link("c", &d).parent().unwrap().to_path_buf()),
            file_at(layout.uploads("e")),
        ];
        let targets = [
            Target::Tag {
                repo: "a",
                tag: "t",
            },
            Target::Blob(&d),
            Target::Revision {
                repo: "b",
                digest: &d,
            },
            Target::LayerLink {
                repo: "c",
                digest: &d,
            },
            Target::Upload {
                repo: "e",
                uuid: "u",
            },
        ];
        for target in targets {
            let e = remove(&layout, target).unwrap_err();
            assert_eq!(e.message, "stat: not a directory", "{target:?}");
            assert_eq!(e.path, target.path(&layout));
        }
        for p in &blocked {
            assert!(p.is_file(), "{} stays", p.display());
        }
        let e = remove(
            &layout,
            Target::EmptyLayerDir {
                repo: "c",
                digest: &d,
            },
        )
        .unwrap_err();
        assert!(e.message.starts_with("refusing to delete"), "{e}");
    }

    #[test]
    fn a_failed_removal_is_an_error_not_already_gone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        let eio = |e: Fault| assert_eq!(e.message, "delete: input/output error", "{e}");

        fs::create_dir_all(layout.tag_dir("a", "t").join("current")).unwrap();
        fail_next_removal(&layout.tag_dir("a", "t"), libc::EIO);
        eio(remove(
            &layout,
            Target::Tag {
                repo: "a",
                tag: "t",
            },
        )
        .unwrap_err());
        assert!(layout.tag_dir("a", "t").is_dir());

        fs::create_dir_all(layout.layer_link("a", &d).parent().unwrap()).unwrap();
        fs::write(layout.layer_link("a", &d), d.to_string()).unwrap();
        let link = Target::LayerLink {
            repo: "a",
            digest: &d,
        };
        fail_next_removal(&layout.layer_link("a", &d), libc::EIO);
        eio(remove(&layout, link).unwrap_err());
        assert!(layout.layer_link("a", &d).is_file());

        // The fast path (a blob directory holding just `data`).
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), "x").unwrap();
        fail_next_removal(&layout.blob_dir(&d), libc::EIO);
        eio(remove(&layout, Target::Blob(&d)).unwrap_err());
        assert!(layout.blob_dir(&d).is_dir());

        // The general path of an "only if empty" target.
        let prefix = Target::EmptyBlobPrefix(&d);
        fs::remove_dir(layout.blob_dir(&d)).unwrap();
        fail_next_removal(&prefix.path(&layout), libc::EIO);
        fail_next_removal(&prefix.path(&layout), libc::EIO);
        eio(remove(&layout, prefix).unwrap_err());
        assert!(prefix.path(&layout).is_dir());
        assert!(remove(&layout, prefix).unwrap());

        // Gone between the stat and the removal (a concurrent run): not an
        // error, on the general path and on the fast one.
        let tag = Target::Tag {
            repo: "a",
            tag: "t",
        };
        fail_next_removal(&layout.tag_dir("a", "t"), libc::ENOENT);
        assert!(!remove(&layout, tag).unwrap());
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), "x").unwrap();
        fail_next_removal(&layout.blob_dir(&d), libc::ENOENT);
        assert!(
            remove(&layout, Target::Blob(&d)).unwrap(),
            "its data was unlinked"
        );
    }

    #[test]
    fn only_if_empty_targets_are_never_removed_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        fs::create_dir_all(layout.blob_dir(&d)).unwrap();
        fs::write(layout.blob_data(&d), "live").unwrap();
        fs::create_dir_all(layout.layer_link("a", &d).parent().unwrap()).unwrap();
        fs::write(layout.layer_link("a", &d), d.to_string()).unwrap();
        let targets = [
            Target::EmptyBlobPrefix(&d),
            Target::EmptyLayerDir {
                repo: "a",
                digest: &d,
            },
        ];
        for target in targets {
            assert!(!remove(&layout, target).unwrap(), "{target:?}");
            // The first rmdir fails otherwise (EBUSY): the general path
            // must still remove only an empty directory.
            fail_next_removal(&target.path(&layout), libc::EBUSY);
            assert!(!remove(&layout, target).unwrap(), "{target:?}");
        }
        assert!(layout.blob_data(&d).is_file());
        assert!(layout.layer_link("a", &d).is_file());
    }

    #[test]
    fn names_that_shift_or_vanish_from_the_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let d = d();
        for tag in ["v2", "v3"] {
            fs::create_dir_all(layout.tag_index_entry("a/b", tag, &d)).unwrap();
        }
        fs::create_dir_all(layout.upload_dir("a/b", "u")).unwrap();
        fs::create_dir_all(layout.revision_dir("a/b", &d)).unwrap();
        let before: Vec<_> = walkdir::WalkDir::new(layout.v2())
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .collect();
        // `.` and empty names drop out of a path's components, and a `/`
        // shifts the fixed segments: each would name another directory.
        for tag in ["v2/.", "v2/", "./v2", "v2/index/..", "v3/./.", "."] {
            let e = remove(&layout, Target::Tag { repo: "a/b", tag }).unwrap_err();
            assert!(e.message.starts_with("refusing to delete"), "{tag:?}: {e}");
        }
        for repo in ["a/./b", "a/b/", "./a/b", "a/b/.", "a//b"] {
            let targets = [
                Target::Tag { repo, tag: "v2" },
                Target::Upload { repo, uuid: "u" },
                Target::Revision { repo, digest: &d },
            ];
            for target in targets {
                let e = remove(&layout, target).unwrap_err();
                assert!(
                    e.message.starts_with("refusing to delete"),
                    "{target:?}: {e}"
                );
            }
        }
        for uuid in [".", "", "u/."] {
            let e = remove(&layout, Target::Upload { repo: "a/b", uuid }).unwrap_err();
            assert!(e.message.starts_with("refusing to delete"), "{uuid:?}: {e}");
        }
        let e = remove(
            &layout,
            Target::TagIndexEntry {
                repo: "a/b",
                tag: "v2/.",
                digest: &d,
            },
        )
        .unwrap_err();
        assert!(e.message.starts_with("refusing to delete"), "{e}");
        let after: Vec<_> = walkdir::WalkDir::new(layout.v2())
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .collect();
        assert_eq!(before, after, "nothing deleted");
    }
}
