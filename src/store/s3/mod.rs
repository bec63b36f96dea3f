//! The S3 backend: a store in a bucket, under the keys the registry's s3
//! driver writes (`<rootdirectory>/docker/registry/v2/...`).
//!
//! The cost is requests, so each area of the store (`blobs/`,
//! `repositories/`) is listed flat once, in key ranges listed in parallel,
//! and every listing, stat and "is it there" question of the mark is
//! answered from that listing: no request per key where the listing
//! already says it. A link whose ETag is the MD5 of the digest it should
//! hold is not fetched. Reads run on the I/O pool (many in flight);
//! deletions go out 1,000 keys a request.

mod index;

use super::{Backend, Contents, Entry, FileRead, PendingUpload, RequestCounts, Stat, StoreError};
use crate::config::S3Config;
use crate::delete::{check_target, Target};
use crate::error::Fault;
use crate::layout::Layout;
use crate::objstore::lock::S3Lock;
use crate::objstore::{ClientConfig, ClientError, S3Client};
use index::{Index, Object};
use md5::Digest as _;
use std::any::Any;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Name of the lock object, beside `docker/` under the root.
const LOCK_OBJECT: &str = "registry-gc.lock";
/// How long a lock stays valid without being refreshed (every third of it).
const LOCK_TTL: Duration = Duration::from_secs(120);

/// Keys a listing reads in one sequential stream before it lists the
/// area's parts in parallel instead: one page.
const FIRST_PAGE: usize = 1000;

/// Most pages the listing of `blobs/` goes on reading one after the other,
/// when its first page says (see [`estimated_blob_keys`]) that the rest is
/// that small: fewer requests than its [`LISTING_GROUPS`] listings in
/// parallel (each ends with a partial page), for pages read one by one.
const SEQUENTIAL_PAGES: u64 = 16;

/// Most listings an area is split into (as many as are in flight at once).
const LISTING_GROUPS: usize = 16;

/// One area's listing, made on first use (and again after a refresh).
type Listing = Result<Arc<Index>, Fault>;

/// A store in an S3 bucket.
#[derive(Debug)]
pub(crate) struct S3Backend {
    client: S3Client,
    /// `s3://<bucket>/<root>`: the layout's root, which faults name.
    root: PathBuf,
    /// `<root>/docker/registry/v2`, what every path is located against.
    v2: PathBuf,
    /// Key prefix of the root (`registry/`, or empty).
    key_root: String,
    blobs: RwLock<Option<Listing>>,
    repositories: RwLock<Option<Listing>>,
    /// Set by a refresh: the `blobs/` listing (kept, it is the costly one)
    /// is older than it, so a blob missing from it may have been pushed
    /// since, and a read of one asks the bucket.
    blobs_stale: AtomicBool,
    /// The run lock this run holds (the caller owns it), checked before
    /// every delete batch: a run that lost it deletes nothing more.
    lock: Mutex<Weak<S3Lock>>,
}

/// The layout of the store `config` names, read and deleted through S3
/// with at most `max_in_flight` requests at once.
pub(crate) fn open(config: &S3Config, max_in_flight: usize) -> Result<Layout, StoreError> {
    let root = PathBuf::from(format!("s3://{}", config.bucket));
    let client = S3Client::new(ClientConfig {
        endpoint: config.endpoint.clone(),
        path_style: config.path_style,
        access_key: config.access_key.clone(),
        secret_key: config.secret_key.clone(),
        skip_verify: config.skip_verify,
        max_in_flight,
        ..ClientConfig::new(&config.bucket, &config.region)
    })
    .map_err(|e| StoreError::Unreadable(Fault::new(e.to_string(), &root)))?;
    let key_root = config
        .key_prefix
        .strip_suffix("docker/registry/v2/")
        .unwrap_or_default()
        .to_string();
    let root = match key_root.trim_end_matches('/') {
        "" => root,
        dir => root.join(dir),
    };
    let backend = S3Backend::new(client, root.clone(), key_root);
    Ok(Layout::with_backend(root, Arc::new(backend)))
}

impl S3Backend {
    /// The store under `root` (`s3://<bucket>/<dir>`), whose keys start with
    /// `key_root`, nothing listed yet.
    fn new(client: S3Client, root: PathBuf, key_root: String) -> S3Backend {
        S3Backend {
            client,
            v2: root.join("docker/registry/v2"),
            root,
            key_root,
            blobs: RwLock::new(None),
            repositories: RwLock::new(None),
            blobs_stale: AtomicBool::new(false),
            lock: Mutex::new(Weak::new()),
        }
    }

    /// The object key of a path under the root.
    fn key(&self, path: &Path) -> Option<String> {
        object_key(&self.root, &self.key_root, path)
    }

    /// The path that names `key` in faults.
    fn path_of(&self, key: &str) -> PathBuf {
        self.root
            .join(key.strip_prefix(&self.key_root).unwrap_or(key))
    }

    /// A failed request as a fault naming its key.
    fn fault(&self, key: &str, e: &ClientError) -> Fault {
        Fault::new(
            format!("S3 {}: {}", e.operation(), e.detail()),
            &self.path_of(key),
        )
    }

    /// `<root>docker/registry/v2/`, as a key prefix.
    fn v2_key(&self) -> String {
        format!("{}docker/registry/v2/", self.key_root)
    }

    /// A path's key relative to `docker/registry/v2/` and the listing of
    /// its area; `None` outside `blobs/` and `repositories/`; the listing's
    /// failure if it could not be made.
    fn locate(&self, path: &Path) -> Result<Option<(String, Arc<Index>)>, Fault> {
        let Some(rel) = path.strip_prefix(&self.v2).ok().and_then(|r| r.to_str()) else {
            return Ok(None);
        };
        let listing = match rel.split('/').next() {
            Some("blobs") => self.listing(&self.blobs, "blobs", 2),
            Some("repositories") => self.listing(&self.repositories, "repositories", 1),
            _ => return Ok(None),
        };
        Ok(Some((rel.to_string(), listing?)))
    }

    /// The listing of `area`, made now if it was not yet.
    fn listing(&self, slot: &RwLock<Option<Listing>>, area: &str, depth: usize) -> Listing {
        if let Some(l) = slot.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return l;
        }
        let mut guard = slot.write().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = guard.clone() {
            return l;
        }
        let listed = self.list_area(area, depth).map(Arc::new);
        *guard = Some(listed.clone());
        listed
    }

    /// Lists `area` flat: one page if that is all of it, else its parts
    /// `depth` levels down (`blobs/<alg>/<hh>/`, `repositories/<name>/`)
    /// in parallel, each flat.
    fn list_area(&self, area: &str, depth: usize) -> Result<Index, Fault> {
        let v2 = self.v2_key();
        let prefix = format!("{v2}{area}/");
        let started = std::time::Instant::now();
        let fail = |key: &str, e: ClientError| self.fault(key, &e);
        let keep = |o: crate::objstore::ObjectInfo| {
            let key = o.key.strip_prefix(&v2)?;
            Some(Object::new(key, o.size, o.modified, o.etag.as_deref()))
        };
        let (first, complete) = self
            .client
            .list_first(&prefix, FIRST_PAGE)
            .map_err(|e| fail(&prefix, e))?;
        let mut objects: Vec<Object> = Vec::new();
        let last = first.last().map(|o| o.key.clone()).unwrap_or_default();
        let small = area == "blobs"
            && last
                .strip_prefix(&prefix)
                .and_then(estimated_blob_keys)
                .is_some_and(|keys| keys <= SEQUENTIAL_PAGES * FIRST_PAGE as u64);
        if complete {
            objects.extend(first.into_iter().filter_map(keep));
        } else if small {
            objects.extend(first.into_iter().filter_map(keep));
            objects.extend(
                self.client
                    .list_after_map(&prefix, &last, keep)
                    .map_err(|e| fail(&prefix, e))?,
            );
        } else {
            drop(first);
            let mut parts = vec![prefix.clone()];
            for _ in 0..depth {
                let mut below = Vec::new();
                for part in &parts {
                    let (files, dirs) = self.client.list_dirs(part).map_err(|e| fail(part, e))?;
                    objects.extend(files.into_iter().filter_map(keep));
                    below.extend(dirs);
                }
                parts = below;
            }
            // At most as many listings as are in flight at once (each ends
            // with a partial page): 16 of sha256 blobs rather than 256.
            let groups = grouped(&parts, LISTING_GROUPS);
            objects.extend(
                self.client
                    .list_many_map(&groups, keep)
                    .map_err(|e| fail(&prefix, e))?,
            );
        }
        tracing::debug!(
            "listed {} keys under {prefix} in {:.3} s",
            objects.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(Index::new(objects))
    }

    /// The keys a target stands for: every key below a directory target,
    /// the link for a layer link; none for the "only if empty" targets (S3
    /// has no directories to remove).
    fn target_keys(&self, layout: &Layout, target: &Target<'_>) -> Result<Vec<String>, Fault> {
        let path = target.path(layout);
        if matches!(
            target,
            Target::EmptyBlobPrefix(_) | Target::EmptyLayerDir { .. }
        ) {
            return Ok(Vec::new());
        }
        let Some((rel, index)) = self.locate(&path)? else {
            return Err(Fault::new(
                "refusing to delete: not inside the store",
                &path,
            ));
        };
        let v2 = self.v2_key();
        let keys = match target {
            Target::LayerLink { .. } => index
                .get(&rel)
                .map(|o| vec![format!("{v2}{}", o.key)])
                .unwrap_or_default(),
            _ => index
                .under(&format!("{rel}/"))
                .iter()
                .map(|o| format!("{v2}{}", o.key))
                .collect(),
        };
        Ok(keys)
    }
}

impl Backend for S3Backend {
    fn check(&self, layout: &Layout) -> Result<Contents, StoreError> {
        // A bucket without `repositories/` is a registry nobody pushed to:
        // nothing can be marked, so nothing may be swept.
        match self.locate(&layout.repositories()) {
            Ok(Some((_, index))) if index.is_empty() => Ok(Contents::Empty),
            Ok(Some(_)) => Ok(Contents::Store),
            Ok(None) => Ok(Contents::Empty),
            Err(f) => Err(StoreError::Unreadable(f)),
        }
    }

    fn list(&self, dir: &Path) -> Result<Option<Vec<Entry>>, Fault> {
        let Some((rel, index)) = self.locate(dir)? else {
            return Ok(None);
        };
        Ok(index.list(&rel))
    }

    fn stat(&self, path: &Path) -> Result<Option<Stat>, Fault> {
        let Some((rel, index)) = self.locate(path)? else {
            return Ok(None);
        };
        Ok(index.stat(&rel))
    }

    fn stat_children(
        &self,
        dir: &Path,
        names: &[&OsStr],
        file: &str,
    ) -> Result<Vec<std::io::Result<Option<Stat>>>, Fault> {
        names
            .iter()
            .map(|n| Ok(Ok(self.stat(&dir.join(n).join(file))?)))
            .collect()
    }

    fn read(&self, path: &Path, limit: u64, with_mtime: bool) -> Result<Option<FileRead>, Fault> {
        let Some((rel, index)) = self.locate(path)? else {
            return Ok(None);
        };
        let key = format!("{}{rel}", self.v2_key());
        let (size, modified) = match index.get(&rel) {
            Some(object) => (object.size, object.modified),
            // Not listed: gone, unless pushed after a listing that a refresh
            // has made stale (a manifest the re-check must read).
            None if rel.starts_with("blobs/") && self.blobs_stale.load(Ordering::SeqCst) => {
                match self.client.head(&key) {
                    Ok(Some(info)) => (info.size, info.modified),
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(self.fault(&key, &e)),
                }
            }
            None => return Ok(None),
        };
        let modified = with_mtime.then_some(modified);
        if size > limit {
            // Over the caller's limit: it says so without the bytes.
            return Ok(Some(FileRead {
                bytes: Vec::new(),
                size,
                modified,
            }));
        }
        match self.client.get(&key, limit) {
            Ok(Some(bytes)) => Ok(Some(FileRead {
                size: bytes.len() as u64,
                bytes,
                modified,
            })),
            // Listed, then gone: deleted during the run.
            Ok(None) => Ok(None),
            Err(e) => Err(self.fault(&key, &e)),
        }
    }

    fn read_expected(
        &self,
        path: &Path,
        expected: &[u8],
        with_mtime: bool,
    ) -> Result<Option<FileRead>, Fault> {
        if let Some((rel, index)) = self.locate(path)? {
            let Some(object) = index.get(&rel) else {
                return Ok(None);
            };
            let matches = object.size == expected.len() as u64
                && object.etag == Some(md5::Md5::digest(expected).into());
            if matches {
                return Ok(Some(FileRead {
                    bytes: expected.to_vec(),
                    size: object.size,
                    modified: with_mtime.then_some(object.modified),
                }));
            }
        }
        self.read(path, 1024, with_mtime)
    }

    fn exists_now(&self, path: &Path) -> Result<bool, Fault> {
        let Some(key) = self.key(path) else {
            return Ok(false);
        };
        self.client
            .head(&key)
            .map(|o| o.is_some())
            .map_err(|e| self.fault(&key, &e))
    }

    fn refresh(&self) {
        *self.repositories.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.blobs_stale.store(true, Ordering::SeqCst);
    }

    fn remove(&self, layout: &Layout, targets: &[Target<'_>]) -> Vec<Result<bool, Fault>> {
        let held = self
            .lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade();
        if let Some(Err(e)) = held.map(|l| l.check()) {
            let fault = Fault::new(
                format!("not deleting: {e}"),
                &self.path_of(&format!("{}{LOCK_OBJECT}", self.key_root)),
            );
            return targets.iter().map(|_| Err(fault.clone())).collect();
        }
        let mut keys: Vec<String> = Vec::new();
        let mut spans: Vec<Result<std::ops::Range<usize>, Fault>> = Vec::new();
        for target in targets {
            let span = check_target(layout, target)
                .and_then(|()| self.target_keys(layout, target))
                .map(|k| {
                    let start = keys.len();
                    keys.extend(k);
                    start..keys.len()
                });
            spans.push(span);
        }
        let results = if keys.is_empty() {
            Vec::new()
        } else {
            self.client.delete(&keys)
        };
        let failed: std::collections::HashMap<&str, &str> = results
            .iter()
            .filter_map(|(k, r)| r.as_ref().err().map(|e| (k.as_str(), e.as_str())))
            .collect();
        spans
            .into_iter()
            .map(|span| {
                let span = span?;
                if span.is_empty() {
                    return Ok(false);
                }
                for key in &keys[span] {
                    if let Some(e) = failed.get(key.as_str()) {
                        return Err(Fault::new(format!("delete: {e}"), &self.path_of(key)));
                    }
                }
                Ok(true)
            })
            .collect()
    }

    fn lock(&self, _layout: &Layout) -> Result<Box<dyn Any + Send>, Fault> {
        let key = format!("{}{LOCK_OBJECT}", self.key_root);
        let host = hostname();
        let lock = S3Lock::acquire(&self.client, &key, &host, LOCK_TTL)
            .map_err(|e| Fault::new(e.to_string(), &self.path_of(&key)))?;
        let lock = Arc::new(lock);
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&lock);
        Ok(Box::new(lock))
    }

    fn pending_uploads(&self) -> Result<Vec<PendingUpload>, Fault> {
        let v2 = self.v2_key();
        let uploads = self
            .client
            .list_multipart_uploads(&v2)
            .map_err(|e| self.fault(&v2, &e))?;
        Ok(uploads
            .into_iter()
            .filter_map(|u| {
                Some(PendingUpload {
                    key: u.key.strip_prefix(&v2)?.to_string(),
                    id: u.upload_id,
                    started: u.initiated,
                })
            })
            .collect())
    }

    fn abort_upload(&self, upload: &PendingUpload) -> Result<(), Fault> {
        // Only uploads below the store's own keys, listed from there.
        let key = format!("{}{}", self.v2_key(), upload.key);
        if upload.key.is_empty() || upload.key.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(Fault::new(
                "refusing to abort a multipart upload: not a key of the store",
                &self.path_of(&key),
            ));
        }
        self.client
            .abort_multipart_upload(&key, &upload.id)
            .map_err(|e| self.fault(&key, &e))
    }

    fn requests(&self) -> Option<RequestCounts> {
        let r = self.client.requests();
        Some(RequestCounts::from([
            ("list", r.list),
            ("get", r.get),
            ("head", r.head),
            ("put", r.put),
            ("delete", r.delete),
            ("other", r.other),
        ]))
    }
}

/// Directory prefixes (`.../sha256/ab/`, `.../repositories/<name>/`), sorted,
/// grouped into at most `max` plain prefixes (`.../sha256/a`) where they
/// allow it: first by each directory's parent and the first character of its
/// name, then the group with the most directories is split by longer
/// prefixes, as long as the groups stay within `max`. A group may cover keys
/// beside its directories (`.../sha256/a_stray`, `.../repositories/ab2/` for
/// `ab`): they are listed twice at most and merged.
fn grouped(dirs: &[String], max: usize) -> Vec<String> {
    let names: Vec<(&str, &str)> = dirs
        .iter()
        .map(|dir| {
            let trimmed = dir.trim_end_matches('/');
            trimmed.split_at(trimmed.rfind('/').map_or(0, |i| i + 1))
        })
        .collect();
    let key = |i: usize, len: usize| {
        let (parent, name) = names[i];
        let end = name
            .char_indices()
            .nth(len)
            .map_or(name.len(), |(at, _)| at);
        format!("{parent}{}", &name[..end])
    };
    // Groups as (first name, end, prefix length in characters): the runs of
    // names in `range` that share their first `len` characters.
    let split = |range: std::ops::Range<usize>, len: usize| {
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for i in range {
            match runs.last_mut() {
                Some(run) if key(run.0, len) == key(i, len) => run.1 = i + 1,
                _ => runs.push((i, i + 1, len)),
            }
        }
        runs
    };
    let mut groups = split(0..names.len(), 1);
    let largest = |groups: &[(usize, usize, usize)]| {
        (0..groups.len())
            .filter(|&g| groups[g].1 - groups[g].0 > 1)
            .max_by_key(|&g| groups[g].1 - groups[g].0)
    };
    while let Some(at) = largest(&groups) {
        let (first, end, len) = groups[at];
        let longest = (first..end).map(|i| names[i].1.chars().count()).max();
        let mut parts = split(first..end, len + 1);
        while parts.len() == 1 && parts[0].2 <= longest.unwrap_or(0) {
            parts = split(first..end, parts[0].2 + 1);
        }
        if parts.len() == 1 || groups.len() - 1 + parts.len() > max {
            break;
        }
        groups.splice(at..=at, parts);
    }
    let mut prefixes: Vec<String> = groups.iter().map(|&(i, _, len)| key(i, len)).collect();
    // One that starts with the one before is already covered by it.
    prefixes.dedup_by(|next, kept| next.starts_with(kept.as_str()));
    prefixes
}

/// How many keys `blobs/` holds, estimated from the last key (relative to
/// `blobs/`) of a first page of [`FIRST_PAGE`] keys: sha256 digests are
/// uniform, so the share of the digest space that page covered is its share
/// of the blobs. `None` when the key is not a sha256 blob's.
fn estimated_blob_keys(last: &str) -> Option<u64> {
    let hex = last.strip_prefix("sha256/")?.get(3..7)?;
    let covered = u64::from_str_radix(hex, 16).ok()? + 1;
    Some(FIRST_PAGE as u64 * 65_536 / covered)
}

/// The key of `path` in a bucket whose store `root` has keys starting with
/// `key_root`; `None` outside the root (or not UTF-8).
fn object_key(root: &Path, key_root: &str, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    Some(format!("{key_root}{rel}"))
}

/// This machine's name, for the lock object.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    /// A backend for `s3://b/reg` at an endpoint where nothing listens.
    fn unreachable() -> S3Backend {
        let client = crate::objstore::unreachable_client("b");
        S3Backend::new(client, PathBuf::from("s3://b/reg"), "reg/".into())
    }

    #[test]
    fn only_an_upload_below_the_store_is_aborted() {
        let backend = unreachable();
        let upload = |key: &str| PendingUpload {
            key: key.into(),
            id: "u".into(),
            started: SystemTime::UNIX_EPOCH,
        };
        for key in ["", "/", "a//b", "a/", "/a", "..", "../x", "a/../../b"] {
            let f = backend.abort_upload(&upload(key)).unwrap_err();
            assert_eq!(
                f.message, "refusing to abort a multipart upload: not a key of the store",
                "{key:?}"
            );
        }
        assert_eq!(backend.client.requests().total(), 0);
        // A key of the store gets as far as the request.
        let f = backend
            .abort_upload(&upload("repositories/a/_uploads/u/data"))
            .unwrap_err();
        assert!(f.message.contains("cannot connect"), "{}", f.message);
    }

    #[test]
    fn a_path_under_the_root_is_its_key_with_the_key_prefix() {
        // The key the re-check and the sweep ask about before a deletion.
        let root = Path::new("s3://b/reg");
        let data = "docker/registry/v2/blobs/sha256/ab/abcd/data";
        assert_eq!(
            object_key(root, "reg/", &root.join(data)),
            Some(format!("reg/{data}"))
        );
        assert_eq!(
            object_key(root, "reg/", Path::new("s3://other/reg/x")),
            None
        );
    }

    #[test]
    fn blob_keys_are_estimated_from_the_digest_space_a_page_covered() {
        let key = |hex: &str| format!("sha256/{}/{hex}/data", &hex[..2]);
        // A page that ends a quarter of the way through holds a quarter.
        assert_eq!(estimated_blob_keys(&key("3fff0000")), Some(4_000));
        assert_eq!(estimated_blob_keys(&key("ffff0000")), Some(1_000));
        assert_eq!(estimated_blob_keys(&key("0000aaaa")), Some(65_536_000));
        assert_eq!(estimated_blob_keys("sha512/ab/abcd/data"), None);
        assert_eq!(estimated_blob_keys("sha256/ab"), None);
        let strings = |v: &[&str]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        let dirs = strings(&[
            "r/b/sha256/0a/",
            "r/b/sha256/0b/",
            "r/b/sha256/a0/",
            "r/b/sha512/é1/",
        ]);
        assert_eq!(
            grouped(&dirs, 3),
            ["r/b/sha256/0", "r/b/sha256/a", "r/b/sha512/é"]
        );
        assert_eq!(
            grouped(&dirs, 4),
            [
                "r/b/sha256/0a",
                "r/b/sha256/0b",
                "r/b/sha256/a",
                "r/b/sha512/é"
            ]
        );
        let repos = strings(&[
            "r/x/app-1/",
            "r/x/app-2/",
            "r/x/base/",
            "r/x/base2/",
            "r/x/c/",
        ]);
        assert_eq!(grouped(&repos, 3), ["r/x/a", "r/x/b", "r/x/c"]);
        assert_eq!(
            grouped(&repos, 2),
            ["r/x/a", "r/x/b", "r/x/c"],
            "no fewer than by one character"
        );
        assert_eq!(
            grouped(&repos, 4),
            ["r/x/a", "r/x/base", "r/x/c"],
            "base2 under base"
        );
        assert_eq!(
            grouped(&repos, 16),
            ["r/x/app-1", "r/x/app-2", "r/x/base", "r/x/c"],
            "base covers base2"
        );
        let hexes: Vec<String> = (0..256).map(|i| format!("r/b/sha256/{i:02x}/")).collect();
        assert_eq!(grouped(&hexes, 16).len(), 16);
        let many: Vec<String> = (0..470).map(|i| format!("r/x/repo-{i:03}/")).collect();
        let groups = grouped(&many, 16);
        assert!((12..=16).contains(&groups.len()), "{groups:?}");
        assert!(grouped(&[], 16).is_empty());
    }
}
