//! One registry-gc at a time per store: an advisory `flock` on
//! `<rootdirectory>/registry-gc.lock`, released by the kernel when the
//! holder exits or dies, so a stale lock never blocks.

use crate::error::Fault;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Name of the lock file in the rootdirectory.
pub(crate) const LOCK_FILE: &str = "registry-gc.lock";

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store at `root`, or says who holds it.
    pub fn acquire(root: &Path) -> Result<StoreLock, Fault> {
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Fault::io("open lock", &path, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("pid {holder}")
                };
                return Err(Fault::new(
                    format!("another registry-gc is running on this store ({who} holds the lock)"),
                    &path,
                ));
            }
            Err(TryLockError::Error(e)) => return Err(Fault::io("lock", &path, &e)),
        }
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| write!(file, "{}", std::process::id()))
            .map_err(|e| Fault::io("write lock", &path, &e))?;
        Ok(StoreLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::acquire(dir.path()).unwrap();
        let e = StoreLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("pid {} holds the lock", std::process::id())),
            "{e}"
        );
        assert!(e.contains(LOCK_FILE));
        drop(first);
        // A lock file left behind by a dead holder does not block.
        StoreLock::acquire(dir.path()).unwrap();
    }
}
