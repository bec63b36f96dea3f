//! Whether the rootdirectory holds a registry store at all, checked before
//! anything else touches it (the run lock included), so that a wrong
//! `rootdirectory` is reported as such and leaves no file behind.

use crate::error::Fault;
use crate::layout::Layout;
use std::io;
use std::path::{Path, PathBuf};

/// What the rootdirectory holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    /// A store with repositories (or with blobs, whose missing
    /// `repositories/` the collector then reports as upstream does).
    Store,
    /// `docker/registry/v2` without `repositories/` and without blobs: a
    /// registry nobody has pushed to yet. There is nothing to do.
    Empty,
}

/// Why the rootdirectory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The rootdirectory does not exist.
    #[error("rootdirectory {} does not exist{}", .root.display(), relative_hint(.root))]
    Missing { root: PathBuf },
    /// It exists but has no `docker/registry/v2`.
    #[error("rootdirectory {} holds no registry store (no docker/registry/v2 in it){}", .root.display(), relative_hint(.root))]
    NotAStore { root: PathBuf },
    /// It could not be read.
    #[error(transparent)]
    Unreadable(Fault),
}

/// Checks the store at `layout` without writing anything.
pub(super) fn check(layout: &Layout) -> Result<Contents, StoreError> {
    let root = layout.root();
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(StoreError::NotAStore { root: root.into() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::Missing { root: root.into() })
        }
        Err(e) => return Err(StoreError::Unreadable(Fault::io("stat", root, &e))),
    }
    if !is_dir(layout.v2())? {
        return Err(StoreError::NotAStore { root: root.into() });
    }
    if is_dir(&layout.repositories())? || !is_empty_or_missing(&layout.blobs())? {
        return Ok(Contents::Store);
    }
    Ok(Contents::Empty)
}

/// `(relative to the working directory <cwd>)` for a relative root.
fn relative_hint(root: &Path) -> String {
    if root.is_absolute() {
        return String::new();
    }
    let cwd = std::env::current_dir()
        .map(|d| format!(" {}", d.display()))
        .unwrap_or_default();
    format!(" (relative to the working directory{cwd})")
}

/// Whether `path` is a directory (symlinks not followed); `false` when missing.
fn is_dir(path: &Path) -> Result<bool, StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Unreadable(Fault::io("stat", path, &e))),
    }
}

fn is_empty_or_missing(dir: &Path) -> Result<bool, StoreError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(StoreError::Unreadable(Fault::io("open", dir, &e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn missing_foreign_empty_and_real_stores() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let layout = Layout::new(&root);
        let e = check(&layout).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("rootdirectory {} does not exist", root.display())
        );
        fs::create_dir(&root).unwrap();
        let e = check(&layout).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "rootdirectory {} holds no registry store (no docker/registry/v2 in it)",
                root.display()
            )
        );
        fs::create_dir_all(layout.v2()).unwrap();
        assert_eq!(check(&layout).unwrap(), Contents::Empty);
        fs::create_dir_all(layout.blobs()).unwrap();
        assert_eq!(check(&layout).unwrap(), Contents::Empty);
        // Blobs without repositories/: not empty, the mark reports it.
        fs::create_dir_all(layout.blobs().join("sha256")).unwrap();
        assert_eq!(check(&layout).unwrap(), Contents::Store);
        fs::remove_dir(layout.blobs().join("sha256")).unwrap();
        fs::create_dir_all(layout.repositories()).unwrap();
        assert_eq!(check(&layout).unwrap(), Contents::Store);
    }

    #[test]
    fn a_relative_root_names_the_working_directory() {
        let layout = Layout::new(Path::new("no/such/store"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            check(&layout).unwrap_err().to_string(),
            format!(
                "rootdirectory no/such/store does not exist (relative to the working directory {})",
                cwd.display()
            )
        );
    }
}
