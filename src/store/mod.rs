//! The storage seam: what the collection pipeline asks of a store, and the
//! backends that answer it (a filesystem, an S3 bucket).
//!
//! Paths are driver paths below the layout's root (`<root>/docker/registry/
//! v2/...`, built by [`crate::layout::Layout`] only); a backend decides what
//! a path is: a file on disk, or an object key. Reads and deletions are
//! shaped for remote stores: the pipeline issues many at once (from the
//! I/O pool) and deletes in batches.

pub(crate) mod delete;
pub mod fs;
mod s3;

pub use fs::check::{Contents, StoreError};
pub(crate) use fs::FsBackend;

use crate::config::Storage;
use crate::delete::Target;
use crate::error::Fault;
pub(crate) use crate::fsutil::{Entry, Kind, Stat};
use crate::layout::Layout;
use std::any::Any;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Requests kept in flight on object storage unless told otherwise: each
/// costs a thread and a connection with its buffers (20k blobs on
/// SeaweedFS, dry run: 16, 32 and 64 in flight take 4.3, 4.2 and 4.2 s
/// and 33, 37 and 54 MB), and 32 at 20 ms a request read ~1,600 manifests
/// a second.
pub const DEFAULT_IN_FLIGHT: usize = 32;

/// The layout of the store `storage` names, with its backend; on object
/// storage, at most `in_flight` requests at once (reads run one per I/O
/// thread). Nothing is read yet.
pub fn open(storage: &Storage, in_flight: usize) -> Result<Layout, StoreError> {
    match storage {
        Storage::Filesystem { root, .. } => Ok(Layout::new(root)),
        Storage::S3(config) => {
            crate::fsutil::set_io_threads(in_flight);
            limit_malloc_arenas();
            s3::open(config, in_flight)
        }
    }
}

/// Caps glibc's malloc arenas at two. Its default (eight per core) gives
/// each of the many threads waiting on the network an arena of its own,
/// which on 20k blobs costs ~5 MB of resident memory and no time.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before the
    // I/O threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// A file's bytes (at most the limit asked for, plus one) and, when the
/// backend knows it without another request or it was asked for, its
/// modification time.
#[derive(Debug)]
pub(crate) struct FileRead {
    pub(crate) bytes: Vec<u8>,
    /// The file's size; over the limit, the bytes may be left out.
    pub(crate) size: u64,
    pub(crate) modified: Option<SystemTime>,
}

/// An incomplete multipart upload on object storage: parts stored (and
/// billed) that no object uses, invisible to the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUpload {
    /// The key it would create, relative to `docker/registry/v2/`.
    pub key: String,
    /// Its upload id.
    pub id: String,
    /// When it was started.
    pub started: SystemTime,
}

/// Requests a remote backend made, by operation (what object storage bills).
pub type RequestCounts = std::collections::BTreeMap<&'static str, u64>;

/// Longest link file read: a link holds one digest (71 bytes for sha256);
/// anything longer fails to parse as one.
pub(crate) const MAX_LINK_BYTES: u64 = 1024;

/// A directory's identity and last change on a local filesystem: its
/// device and inode, and its modification and status-change times. Adding,
/// removing or renaming an entry changes its mtime (and ctime); replacing
/// or restoring the directory changes its inode or ctime, which no one can
/// set back. Equal versions mean the same entries, provided the change was
/// not within the timestamps' granularity of the earlier look (see
/// [`DirVersion::settled_before`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DirVersion {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// Seconds and nanoseconds since the epoch.
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
}

impl DirVersion {
    /// Whether the directory last changed at least `margin` before `t`:
    /// only then can a later change not share its timestamps (file times
    /// are coarse: a kernel tick on ext4, up to 2 s elsewhere).
    pub(crate) fn settled_before(&self, t: SystemTime, margin: Duration) -> bool {
        let Ok(since) = t.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let limit = since.saturating_sub(margin);
        let limit = (limit.as_secs() as i64, i64::from(limit.subsec_nanos()));
        self.mtime.max(self.ctime) < limit
    }
}

/// A store's storage: listing, reading, deleting, locking.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// What the store holds, checked before anything else touches it.
    fn check(&self, layout: &Layout) -> Result<Contents, StoreError>;

    /// The entries of directory `dir`, sorted bytewise by name; `None` if
    /// it does not exist.
    fn list(&self, dir: &Path) -> Result<Option<Vec<Entry>>, Fault>;

    /// What `path` is (never through a symlink); `None` if it does not exist.
    fn stat(&self, path: &Path) -> Result<Option<Stat>, Fault>;

    /// For each of `names` (entries of directory `dir`), the stat of
    /// `dir/<name>/<file>`: on disk one short lookup each relative to the
    /// open directory, on S3 the listing already says.
    fn stat_children(
        &self,
        dir: &Path,
        names: &[&std::ffi::OsStr],
        file: &str,
    ) -> Result<Vec<std::io::Result<Option<Stat>>>, Fault>;

    /// What identifies the current contents of directory `dir` without
    /// reading it (see [`DirVersion`]); `None` where the backend has no such
    /// thing (object storage) or `dir` cannot be stat'ed as a directory:
    /// then it is listed.
    fn dir_version(&self, _dir: &Path) -> Option<DirVersion> {
        None
    }

    /// Reads file `path` (never through a symlink): at most `limit + 1`
    /// bytes, so a caller sees a file over its limit without reading it
    /// all; with its modification time if `with_mtime`. `None` if missing.
    fn read(&self, path: &Path, limit: u64, with_mtime: bool) -> Result<Option<FileRead>, Fault>;

    /// [`Backend::read`] of a small file expected to hold `expected` (a
    /// link naming the digest of its own path). A backend may confirm the
    /// content without reading it (S3: the object's ETag is its MD5);
    /// whatever it returns is the file's real content.
    fn read_expected(
        &self,
        path: &Path,
        _expected: &[u8],
        with_mtime: bool,
    ) -> Result<Option<FileRead>, Fault> {
        self.read(path, MAX_LINK_BYTES, with_mtime)
    }

    /// Whether file `path` exists now: never answered from a listing made
    /// earlier in the run.
    fn exists_now(&self, path: &Path) -> Result<bool, Fault>;

    /// Forgets what was listed of `repositories/`, so the re-check before
    /// the sweep sees the pushes made during the run.
    fn refresh(&self) {}

    /// Deletes `targets` after checking each one's shape (see
    /// [`crate::delete`]); one result per target, in order: whether it was
    /// there. Targets of one call may be deleted in any order.
    fn remove(&self, layout: &Layout, targets: &[Target<'_>]) -> Vec<Result<bool, Fault>>;

    /// Takes the store's run lock, held until the value is dropped, or says
    /// who holds it.
    fn lock(&self, layout: &Layout) -> Result<Box<dyn Any + Send>, Fault>;

    /// Incomplete multipart uploads under the store (object storage only).
    fn pending_uploads(&self) -> Result<Vec<PendingUpload>, Fault> {
        Ok(Vec::new())
    }

    /// Aborts one of [`Backend::pending_uploads`]; `Ok` if already gone.
    fn abort_upload(&self, upload: &PendingUpload) -> Result<(), Fault> {
        Err(Fault::new(
            format!("no multipart upload {} to abort on this store", upload.id),
            Path::new(&upload.key),
        ))
    }

    /// Requests made so far, by operation; `None` for a local store.
    fn requests(&self) -> Option<RequestCounts> {
        None
    }
}
