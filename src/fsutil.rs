//! Directory listing with readdir's file types (no stat per entry).

use crate::error::Fault;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;

/// What a directory entry is, as readdir reports it (symlinks not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// One entry of a listed directory.
#[derive(Debug)]
pub struct Entry {
    pub name: OsString,
    pub kind: Kind,
}

impl Entry {
    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&str> {
        self.name.to_str()
    }
}

/// Lists `dir` sorted bytewise by name; `Ok(None)` if it does not exist.
pub fn list_sorted(dir: &Path) -> Result<Option<Vec<Entry>>, Fault> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Fault::io("list", dir, &e)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Fault::io("list", dir, &e))?;
        let ft = entry
            .file_type()
            .map_err(|e| Fault::io("stat", &entry.path(), &e))?;
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        entries.push(Entry {
            name: entry.file_name(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    Ok(Some(entries))
}

/// Reads a small file; `Ok(None)` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Fault> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fault::io("read", path, &e)),
    }
}

/// The fault for a symlink met inside the store, which is never followed.
pub fn symlink_fault(path: &Path) -> Fault {
    Fault::new(
        "symbolic link inside the store: registry-gc does not follow it",
        path,
    )
}
