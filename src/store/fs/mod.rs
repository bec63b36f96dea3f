//! The filesystem backend: a store under a local `rootdirectory`, read with
//! readdir's file types, never through a symlink, and deleted through
//! [`crate::delete::remove`].

pub(crate) mod check;
pub mod lock;

use super::delete::{remove, Target};
use super::{Backend, Contents, DirVersion, Entry, FileRead, Kind, Stat, StoreError};
use crate::error::Fault;
use crate::fsutil::{io_pool, list_sorted, open_nofollow, stat_at, symlink_fault};
use crate::layout::Layout;
use lock::StoreLock;
use rayon::prelude::*;
use std::any::Any;
use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A store on a local filesystem.
#[derive(Debug, Default)]
pub(crate) struct FsBackend;

impl Backend for FsBackend {
    fn check(&self, layout: &Layout) -> Result<Contents, StoreError> {
        check::check(layout)
    }

    fn list(&self, dir: &Path) -> Result<Option<Vec<Entry>>, Fault> {
        list_sorted(dir)
    }

    fn stat(&self, path: &Path) -> Result<Option<Stat>, Fault> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Fault::io("stat", path, &e)),
        };
        let kind = Kind::of(meta.file_type());
        let modified = meta.modified().map_err(|e| Fault::io("stat", path, &e))?;
        Ok(Some(Stat {
            kind,
            size: meta.len(),
            modified,
        }))
    }

    fn dir_version(&self, dir: &Path) -> Option<DirVersion> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir())?;
        Some(DirVersion {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    fn stat_children(
        &self,
        dir: &Path,
        names: &[&OsStr],
        file: &str,
    ) -> Result<Vec<io::Result<Option<Stat>>>, Fault> {
        // Looked up relative to the open directory: a two-component lookup
        // per child instead of the whole path's.
        let open = match sys::open_dir(dir) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(names.iter().map(|_| Ok(None)).collect())
            }
            Err(e) => return Err(Fault::io("open", dir, &e)),
        };
        let mut name = Vec::with_capacity(160);
        Ok(names
            .iter()
            .map(|child| {
                name.clear();
                name.extend_from_slice(child.as_bytes());
                name.push(b'/');
                name.extend_from_slice(file.as_bytes());
                match CString::new(name.as_slice()) {
                    Ok(c) => stat_at(&open, &c),
                    Err(_) => Err(io::Error::from(io::ErrorKind::InvalidInput)),
                }
            })
            .collect())
    }

    fn read(&self, path: &Path, limit: u64, with_mtime: bool) -> Result<Option<FileRead>, Fault> {
        let Some(file) = open_nofollow(path)? else {
            return Ok(None);
        };
        let modified = if with_mtime {
            let m = file
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| Fault::io("stat", path, &e))?;
            Some(m)
        } else {
            None
        };
        let mut bytes = Vec::with_capacity(128);
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Fault::io("read", path, &e))?;
        Ok(Some(FileRead {
            size: bytes.len() as u64,
            bytes,
            modified,
        }))
    }

    fn exists_now(&self, path: &Path) -> Result<bool, Fault> {
        match self.stat(path)? {
            Some(s) if s.kind == Kind::Symlink => Err(symlink_fault(path)),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    fn remove(&self, layout: &Layout, targets: &[Target<'_>]) -> Vec<Result<bool, Fault>> {
        // Deletions wait on the disk: run them on the I/O pool (16 threads),
        // which halves the sweep of a 100k-file store on 2 cores.
        io_pool().install(|| targets.par_iter().map(|t| remove(layout, *t)).collect())
    }

    fn lock(&self, layout: &Layout) -> Result<Box<dyn Any + Send>, Fault> {
        Ok(Box::new(StoreLock::acquire(layout.root())?))
    }
}

/// Opening a directory by path, through which tests make an open fail as
/// the kernel will not on demand. Outside tests it is `File::open`.
mod sys {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    #[cfg(not(test))]
    pub(super) fn open_dir(path: &Path) -> io::Result<File> {
        File::open(path)
    }

    #[cfg(test)]
    static ARMED: crate::testing::ArmedFaults = crate::testing::ArmedFaults::new();

    #[cfg(test)]
    pub(super) fn open_dir(path: &Path) -> io::Result<File> {
        ARMED.take(path).and_then(|()| File::open(path))
    }

    /// Makes the next open of directory `path` fail with OS error `errno`.
    #[cfg(test)]
    pub(crate) fn fail_next_open(path: &Path, errno: i32) {
        ARMED.arm(path, errno);
    }
}

/// Test seam: makes the next open of a directory fail with an OS error.
#[cfg(test)]
pub(crate) use sys::fail_next_open;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn read(path: &Path) -> Result<Option<FileRead>, Fault> {
        FsBackend.read(path, 4096, false)
    }

    #[test]
    fn read_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "sha256:x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let fault = read(&link).unwrap_err();
        assert_eq!(fault, symlink_fault(&link));
        assert!(read(&dir.path().join("none")).unwrap().is_none());
        assert_eq!(read(&outside).unwrap().unwrap().bytes, b"sha256:x");
        // Any other failure is an error of its own, neither absence nor a symlink.
        let below_a_file = outside.join("link");
        let fault = read(&below_a_file).unwrap_err();
        assert_eq!(fault.path, below_a_file);
        assert!(fault.message.contains("not a directory"), "{fault}");
    }
}
