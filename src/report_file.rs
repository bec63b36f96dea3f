//! Where `garbage-collect --report PATH` writes: opened before the run, so
//! that an unusable path fails before anything is deleted, and replaced
//! atomically at the end, so that a reader never sees half a report.

use crate::error::os_message;
use serde::Serialize;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// An opened report destination.
#[derive(Debug)]
pub enum ReportFile {
    /// `-`: standard output.
    Stdout,
    /// A file, written through a temporary file beside it.
    File { path: PathBuf, temp: NamedTempFile },
}

/// Why the report cannot be written; names the user's path, never the
/// temporary file.
#[derive(Debug, thiserror::Error)]
#[error("failed to write report {}: {message}", .path.display())]
pub struct ReportError {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

impl ReportFile {
    /// Checks that `path` (`-` for stdout) can be written: an existing file
    /// must be writable and not a directory, and its directory must take a
    /// new file. Nothing is left behind when it cannot.
    pub fn open(path: &Path) -> Result<ReportFile, ReportError> {
        if path == Path::new("-") {
            return Ok(ReportFile::Stdout);
        }
        let fail = |e: &io::Error| ReportError {
            path: path.to_path_buf(),
            message: os_message(e),
        };
        if std::fs::symlink_metadata(path).is_ok() {
            OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| fail(&e))?;
        }
        let temp = crate::fsutil::temp_beside(path).map_err(|e| fail(&e))?;
        Ok(ReportFile::File {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes `doc` as pretty JSON and, for a file, puts it in place.
    pub fn write(self, doc: &impl Serialize) -> Result<(), ReportError> {
        match self {
            ReportFile::Stdout => {
                let mut out = io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, doc)
                    .map_err(io::Error::from)
                    .and_then(|_| writeln!(out))
                    .map_err(|e| ReportError {
                        path: PathBuf::from("-"),
                        message: os_message(&e),
                    })
            }
            ReportFile::File { path, mut temp } => {
                let fail = |e: &io::Error| ReportError {
                    path: path.clone(),
                    message: os_message(e),
                };
                serde_json::to_writer_pretty(&mut temp, doc)
                    .map_err(io::Error::from)
                    .and_then(|_| writeln!(temp))
                    .map_err(|e| fail(&e))?;
                temp.persist(&path).map(drop).map_err(|e| fail(&e.error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_paths_fail_early_and_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/r.json");
        let e = ReportFile::open(&missing).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "failed to write report {}: no such file or directory",
                missing.display()
            )
        );
        let e = ReportFile::open(dir.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "failed to write report {}: is a directory",
                dir.path().display()
            )
        );
        let ok = dir.path().join("r.json");
        ReportFile::open(&ok).unwrap().write(&[1, 2]).unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "[\n  1,\n  2\n]\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }
}
