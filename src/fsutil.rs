//! Directory listing with readdir's file types (no stat per entry), stats
//! relative to an open directory, and the thread pool the walks run on.

use crate::error::Fault;
use std::ffi::{CStr, OsString};
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Threads of the pool the store walks run on (`RGC_IO_THREADS` overrides it).
/// The walks wait on the disk far more than they compute: on a cold cache more
/// requests in flight are faster (measured on 2 cores: 100k files, dry run,
/// 4.8 s with 2 threads, 1.9 s with 8, 1.6 s with 16), and on a warm cache
/// the extra threads cost next to nothing.
pub(crate) const IO_THREADS: usize = 16;

/// Threads of the I/O pool unless `RGC_IO_THREADS` says otherwise: [`IO_THREADS`],
/// or the requests kept in flight on object storage (see [`set_io_threads`]).
static THREADS: AtomicU64 = AtomicU64::new(IO_THREADS as u64);

/// Sizes the I/O pool for a remote store, whose reads wait on the network:
/// one thread per request in flight. Takes effect before the pool's first use.
pub(crate) fn set_io_threads(threads: usize) {
    THREADS.store(threads.max(1) as u64, Ordering::Relaxed);
}

/// `storage.filesystem.maxthreads`, once set by [`cap_io_threads`].
static THREAD_CAP: AtomicU64 = AtomicU64::new(u64::MAX);

/// Caps the I/O pool at `storage.filesystem.maxthreads`, upstream's limit
/// on concurrent filesystem calls. Takes effect when called before the
/// pool's first use (the commands call it on loading the configuration).
/// `maxthreads` is at least 25, so it only lowers an `RGC_IO_THREADS` above
/// that; the default of 16 (`IO_THREADS`) is already below it.
pub fn cap_io_threads(max_threads: u64) {
    THREAD_CAP.store(max_threads, Ordering::Relaxed);
}

/// Threads of the I/O pool: `RGC_IO_THREADS` (a positive integer) or
/// `default`, at most `cap`.
fn io_threads(requested: Option<&str>, default: usize, cap: u64) -> usize {
    let threads = requested
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default);
    threads.min(usize::try_from(cap).unwrap_or(usize::MAX))
}

/// The pool for I/O-bound walks, built on first use.
pub(crate) fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = io_threads(
            std::env::var("RGC_IO_THREADS").ok().as_deref(),
            THREADS.load(Ordering::Relaxed) as usize,
            THREAD_CAP.load(Ordering::Relaxed),
        );
        tracing::debug!("I/O pool: {threads} threads");
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("registry-gc-io-{i}"))
            .build()
            .expect("build the I/O thread pool")
    })
}

/// What a directory entry is, as readdir reports it (symlinks not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

impl Kind {
    /// What a file type (symlinks not followed) says.
    pub(crate) fn of(ft: fs::FileType) -> Kind {
        if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        }
    }
}

/// One entry of a listed directory.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: OsString,
    pub(crate) kind: Kind,
}

impl Entry {
    /// The name as UTF-8, if it is.
    pub(crate) fn name_str(&self) -> Option<&str> {
        self.name.to_str()
    }
}

/// Lists `dir` sorted bytewise by name; `Ok(None)` if it does not exist.
pub(crate) fn list_sorted(dir: &Path) -> Result<Option<Vec<Entry>>, Fault> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Fault::io("list", dir, &e)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Fault::io("list", dir, &e))?;
        let kind = entry
            .file_type()
            .map(Kind::of)
            .map_err(|e| Fault::io("stat", &entry.path(), &e))?;
        entries.push(Entry {
            name: entry.file_name(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    Ok(Some(entries))
}

/// What `lstat` says about a file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stat {
    pub(crate) kind: Kind,
    pub(crate) size: u64,
    pub(crate) modified: SystemTime,
}

/// `lstat` of `name` relative to the open directory `dir` (one short path
/// lookup instead of the whole path's); `Ok(None)` if it does not exist.
pub(crate) fn stat_at(dir: &fs::File, name: &CStr) -> io::Result<Option<Stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `st` is written by the call before it is read.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::NotFound => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: fstatat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    };
    let modified = if st.st_mtime >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(st.st_mtime.unsigned_abs())
            + Duration::from_nanos(st.st_mtime_nsec as u64)
    };
    Ok(Some(Stat {
        kind,
        size: st.st_size as u64,
        modified,
    }))
}

/// Opens a file for reading without following a symlink in its last
/// component; `Ok(None)` if it does not exist, the symlink fault if it is one.
/// Non-blocking, so a FIFO in the store does not hang the run (it reads empty).
pub(crate) fn open_nofollow(path: &Path) -> Result<Option<fs::File>, Fault> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(symlink_fault(path)),
        Err(e) => Err(Fault::io("open", path, &e)),
    }
}

/// A temporary file in `path`'s directory (`.<name>.XXXXXX.tmp`), to be
/// persisted over `path` later: creating it shows the directory takes a
/// new file, and the final rename is atomic.
pub fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// The fault for a symlink met inside the store, which is never followed.
pub(crate) fn symlink_fault(path: &Path) -> Fault {
    Fault::new(
        "symbolic link inside the store: registry-gc does not follow it",
        path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_at_agrees_with_lstat() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "12345").unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("f", dir.path().join("l")).unwrap();
        let top = fs::File::open(dir.path()).unwrap();
        let stat = |name: &CStr| stat_at(&top, name).unwrap();
        assert_eq!(stat(c"d").unwrap().kind, Kind::Dir);
        assert_eq!(stat(c"l").unwrap().kind, Kind::Symlink);
        assert!(stat(c"none").is_none());
        let mut fifo = dir.path().join("p").into_os_string().into_encoded_bytes();
        fifo.push(0);
        // SAFETY: `fifo` is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr().cast(), 0o600) }, 0);
        assert_eq!(stat(c"p").unwrap().kind, Kind::Other);
        assert_eq!(
            stat_at(&fs::File::open(&file).unwrap(), c"x")
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotADirectory
        );
        // Modification times with nanoseconds, after and before 1970.
        for (secs, nanos, after) in [(1_700_000_000, 123_456_789, true), (5, 300_000_000, false)] {
            let d = Duration::new(secs, nanos);
            let when = if after {
                SystemTime::UNIX_EPOCH + d
            } else {
                SystemTime::UNIX_EPOCH - d
            };
            fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(when)
                .unwrap();
            let st = stat(c"f").unwrap();
            assert_eq!((st.kind, st.size), (Kind::File, 5));
            assert_eq!(st.modified, when);
            assert_eq!(
                st.modified,
                fs::symlink_metadata(&file).unwrap().modified().unwrap()
            );
        }
    }

    #[test]
    fn maxthreads_caps_the_io_pool() {
        assert_eq!(io_threads(None, IO_THREADS, u64::MAX), IO_THREADS);
        assert_eq!(io_threads(None, IO_THREADS, 100), IO_THREADS);
        assert_eq!(io_threads(Some("64"), IO_THREADS, 100), 64);
        assert_eq!(io_threads(Some("64"), IO_THREADS, 25), 25);
        assert_eq!(io_threads(Some("0"), IO_THREADS, 25), IO_THREADS);
        assert_eq!(io_threads(Some("many"), IO_THREADS, 4), 4);
    }
}
