//! Errors of a garbage-collection run, with upstream's message prefixes.

use std::io;
use std::path::{Path, PathBuf};

/// A problem with one file or directory of the store; always names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (in {})", path.display())]
pub struct Fault {
    /// What is wrong, in upstream's words where upstream has words for it.
    pub(crate) message: String,
    /// The file or directory at fault (an absolute path on disk).
    pub(crate) path: PathBuf,
}

impl Fault {
    /// A fault with a message about `path`.
    pub(crate) fn new(message: impl Into<String>, path: &Path) -> Fault {
        Fault {
            message: message.into(),
            path: path.to_path_buf(),
        }
    }

    /// A fault from an I/O error on `path`, worded as Go words it.
    pub(crate) fn io(op: &str, path: &Path, err: &io::Error) -> Fault {
        let message = if err.kind() == io::ErrorKind::NotFound {
            "Path not found".to_string()
        } else {
            format!("{op}: {}", os_message(err))
        };
        Fault::new(message, path)
    }
}

/// Why a run failed. `Display` gives the text after `failed to garbage collect: `.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Reading the repositories (discovery, links, manifests, tags).
    #[error("failed to mark: {0}")]
    Mark(Fault),
    /// Listing `blobs/`.
    #[error("error enumerating blobs: {0}")]
    Enumerate(Fault),
    /// A deletion failed; what was deleted before it stays deleted.
    #[error("failed to delete {what}: {fault}")]
    Delete { what: String, fault: Fault },
    /// SIGINT or SIGTERM stopped the sweep between two deletions.
    #[error("interrupted by a signal")]
    Interrupted,
}

/// An OS error's text as Go prints it (`no such file or directory`).
pub fn os_message(err: &io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_like_go() {
        let e = io::Error::from_raw_os_error(21);
        assert_eq!(os_message(&e), "is a directory");
        let f = Fault::io("read", Path::new("/x"), &io::Error::from_raw_os_error(13));
        assert_eq!(f.to_string(), "read: permission denied (in /x)");
        let f = Fault::io("read", Path::new("/x"), &io::Error::from_raw_os_error(2));
        assert_eq!(f.to_string(), "Path not found (in /x)");
    }
}
