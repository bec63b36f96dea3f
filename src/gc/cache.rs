//! The mark cache: what every manifest read references (a manifest is
//! immutable for its digest, so this never goes stale) and what each tag
//! named, kept between runs so that an unchanged store is marked without
//! reading its manifests again.
//!
//! A manifest is learnt only after its bytes hashed to its digest (see
//! [`crate::manifests::read`]). The file carries a format version, the
//! version of registry-gc that wrote it, the store it describes and a
//! checksum of its content; a file that fails any of these is ignored as a
//! whole and rebuilt, never partly trusted. Tag memories are only hints: a
//! remote backend confirms them by ETag and reads the tag again otherwise.
//!
//! Manifests are kept encoded (postcard), in one buffer per source (the
//! file, this run's reads) with an index by digest, and decoded when looked
//! up: a third of the memory of parsed ones.

use crate::blobs::Blob;
use crate::config::Storage;
use crate::digest::Digest;
use crate::layout::Layout;
use crate::manifest::Manifest;
use crate::store::DirVersion;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::{Seek, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// First bytes of a cache file.
const MAGIC: &[u8; 8] = b"rgc-mark";
/// Version of the file's layout; a file with another one is rebuilt.
const FORMAT: u32 = 1;
/// Magic, format, then the sha256 of the body.
const HEADER: usize = MAGIC.len() + 4 + 32;

/// Tags of one repository and the digest each named.
type TagMap = HashMap<String, Digest>;

/// A blob prefix directory's listing is remembered only if the directory
/// had not changed for this long when the run started (see
/// [`DirVersion::settled_before`]).
const SETTLE: Duration = Duration::from_secs(5);

/// What a run knows about manifests and tags before reading them, and
/// what it learns; shared by the threads of a run.
#[derive(Debug, Default)]
pub struct MarkCache {
    /// Off (`--no-cache`, or a subcommand without a cache): nothing is
    /// looked up or learnt; reads are still counted.
    enabled: bool,
    /// The store this cache describes (see [`store_key`]).
    store: String,
    /// The manifests of the file (the file's bytes, cut after them).
    loaded: Arena<Digest>,
    /// Which of `loaded` this run looked up (kept when saved), by slot.
    used: Box<[AtomicBool]>,
    learned: Mutex<Arena<Digest>>,
    loaded_tags: HashMap<String, TagMap>,
    learned_tags: Mutex<HashMap<String, TagMap>>,
    /// Blob prefix directories (`sha256/ab`): their version and blobs, as
    /// the file has them and as this run listed them.
    loaded_prefixes: Arena<String>,
    used_prefixes: Box<[AtomicBool]>,
    learned_prefixes: Mutex<Arena<String>>,
    /// When this run started: what changed since is not remembered.
    started: Option<SystemTime>,
    settle: Duration,
    from_cache: AtomicU64,
    read: AtomicU64,
    prefixes_from_cache: AtomicU64,
    prefixes_listed: AtomicU64,
}

/// Encoded values (manifests, prefix listings) in one buffer, found by key.
#[derive(Debug)]
struct Arena<K> {
    bytes: Vec<u8>,
    /// Where each value's encoding lies in `bytes`, and its slot.
    index: Index<K>,
}

impl<K> Default for Arena<K> {
    fn default() -> Self {
        Arena {
            bytes: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Arena<K> {
    fn get(&self, k: &K) -> Option<(&[u8], usize)> {
        let (range, slot) = self.index.get(k)?;
        Some((self.bytes.get(range.clone())?, *slot))
    }

    fn push<T: Serialize>(&mut self, k: &K, value: &T) {
        if self.index.contains_key(k) {
            return;
        }
        let start = self.bytes.len();
        match postcard::to_extend(value, std::mem::take(&mut self.bytes)) {
            Ok(bytes) => self.bytes = bytes,
            Err(_) => return, // not learnt: read again next time
        }
        let slot = self.index.len();
        self.index
            .insert(k.clone(), (start..self.bytes.len(), slot));
    }

    /// The entries to save: those of `self` that `used` marks, then all of
    /// `learned`, sorted by key.
    fn to_save<'a>(
        &'a self,
        used: &[AtomicBool],
        learned: &'a Arena<K>,
    ) -> Vec<(&'a K, Encoded<'a>)>
    where
        K: Ord,
    {
        let mut out: Vec<(&K, Encoded)> = self
            .index
            .iter()
            .filter(|(k, (_, slot))| {
                used[*slot].load(Ordering::Relaxed) && !learned.index.contains_key(*k)
            })
            .filter_map(|(k, _)| Some((k, Encoded(self.get(k)?.0))))
            .chain(
                learned
                    .index
                    .keys()
                    .filter_map(|k| Some((k, Encoded(learned.get(k)?.0)))),
            )
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

/// A manifest's encoding, written as a byte string.
struct Encoded<'a>(&'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The file's body, after the header, as written.
#[derive(Serialize)]
struct BodyOut<'a> {
    /// `registry-gc <version>`: a cache written by another version is
    /// rebuilt, as its parsing of manifests may differ.
    producer: String,
    store: &'a str,
    tags: Vec<(&'a String, Vec<(&'a String, &'a Digest)>)>,
    manifests: Vec<(&'a Digest, Encoded<'a>)>,
    /// `(DirVersion, Vec<Blob>)` per blob prefix directory.
    prefixes: Vec<(&'a String, Encoded<'a>)>,
}

/// The file's body as read: manifests stay encoded, borrowed from the file.
#[derive(Deserialize)]
struct BodyIn<'a> {
    producer: String,
    store: String,
    tags: Vec<(String, Vec<(String, Digest)>)>,
    #[serde(borrow)]
    manifests: Vec<(Digest, &'a [u8])>,
    #[serde(borrow)]
    prefixes: Vec<(String, &'a [u8])>,
}

/// Why a cache file was not used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no mark cache yet at {0}")]
    Missing(PathBuf),
    #[error("ignoring the mark cache {path}: {why}; it is rebuilt")]
    Unusable { path: PathBuf, why: String },
    #[error("could not write the mark cache {path}: {why}")]
    Write { path: PathBuf, why: String },
}

/// How a run's manifests were had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ManifestReads {
    /// Answered by the mark cache (from an earlier run or this one).
    pub from_cache: u64,
    /// Read from the store (and hashed).
    pub read: u64,
}

/// How a run had its blob prefix directories' listings (on disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrefixListings {
    /// Unchanged since an earlier run listed them: not listed again.
    pub from_cache: u64,
    /// Listed (and their blobs' `data` stat'ed).
    pub listed: u64,
}

fn producer() -> String {
    format!("registry-gc {}", env!("CARGO_PKG_VERSION"))
}

impl MarkCache {
    /// A cache that looks nothing up and learns nothing.
    pub fn disabled() -> MarkCache {
        MarkCache::default()
    }

    /// An empty cache for `store`, learning from this run (which starts now).
    pub fn empty(store: &str) -> MarkCache {
        MarkCache {
            enabled: true,
            store: store.to_string(),
            started: Some(SystemTime::now()),
            settle: SETTLE,
            ..MarkCache::default()
        }
    }

    /// This cache, remembering blob prefix directories unchanged for
    /// `settle` before the run started (tests; the default is 5 s).
    #[cfg(test)]
    pub(crate) fn settling(mut self, settle: Duration) -> MarkCache {
        self.settle = settle;
        self
    }

    /// Reads the cache file at `path`, which must describe `store`.
    pub fn load(path: &Path, store: &str) -> Result<MarkCache, CacheError> {
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CacheError::Missing(path.to_path_buf()))
            }
            Err(e) => return Err(unusable(path, e.to_string())),
        };
        let decoded = decode(&bytes, store).map_err(|why| unusable(path, why))?;
        let mut cache = MarkCache::empty(store);
        let unused = |n: usize| (0..n).map(|_| AtomicBool::new(false)).collect();
        cache.used = unused(decoded.manifests.len());
        cache.used_prefixes = unused(decoded.prefixes.len());
        // The prefixes come last in the file: moved to their own buffer, so
        // the file's is cut to what the manifests need.
        let mut cut = bytes.len();
        let total = decoded.prefixes.values().map(|(r, _)| r.len()).sum();
        cache.loaded_prefixes.bytes.reserve_exact(total);
        for (key, (range, slot)) in decoded.prefixes {
            cut = cut.min(range.start);
            let start = cache.loaded_prefixes.bytes.len();
            cache.loaded_prefixes.bytes.extend_from_slice(&bytes[range]);
            let end = cache.loaded_prefixes.bytes.len();
            cache.loaded_prefixes.index.insert(key, (start..end, slot));
        }
        bytes.truncate(cut);
        bytes.shrink_to_fit();
        cache.loaded = Arena {
            bytes,
            index: decoded.manifests,
        };
        cache.loaded_tags = decoded.tags;
        Ok(cache)
    }

    /// The manifest `d`, if known (and the cache is on).
    pub(crate) fn manifest(&self, d: &Digest) -> Option<Manifest> {
        if !self.enabled {
            return None;
        }
        let found = match self.loaded.get(d) {
            Some((bytes, slot)) => {
                self.used[slot].store(true, Ordering::Relaxed);
                postcard::from_bytes(bytes).ok()
            }
            None => {
                let learned = self.lock_learned();
                learned
                    .get(d)
                    .and_then(|(b, _)| postcard::from_bytes(b).ok())
            }
        };
        if found.is_some() {
            self.from_cache.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Counts a manifest read from the store and (if the cache is on)
    /// learns it; `manifest` must be what bytes hashing to `d` parse to.
    pub(crate) fn learn(&self, d: &Digest, manifest: &Manifest) {
        self.read.fetch_add(1, Ordering::Relaxed);
        if self.enabled {
            self.lock_learned().push(d, manifest);
        }
    }

    /// What each tag of `repo` named when last read, if remembered.
    pub(crate) fn tags(&self, repo: &str) -> TagMap {
        match self.enabled {
            true => self.loaded_tags.get(repo).cloned().unwrap_or_default(),
            false => TagMap::new(),
        }
    }

    /// Remembers what every tag of `repo` names now.
    pub(crate) fn learn_tags(&self, repo: &str, tags: &TagMap) {
        if self.enabled {
            let mut learned = self.learned_tags.lock().unwrap_or_else(|e| e.into_inner());
            learned.insert(repo.to_string(), tags.clone());
        }
    }

    /// The blobs of prefix directory `key` (`sha256/ab`) as an earlier run
    /// listed them, if the directory is still at that `version`.
    pub(crate) fn blob_prefix(&self, key: &str, version: &DirVersion) -> Option<Vec<Blob>> {
        if !self.enabled {
            return None;
        }
        let (bytes, slot) = self.loaded_prefixes.get(&key.to_string())?;
        let (was, blobs): (DirVersion, Vec<Blob>) = postcard::from_bytes(bytes).ok()?;
        if was != *version {
            return None;
        }
        self.used_prefixes[slot].store(true, Ordering::Relaxed);
        self.prefixes_from_cache.fetch_add(1, Ordering::Relaxed);
        Some(blobs)
    }

    /// Counts a listing of prefix directory `key` (on disk) and remembers its `blobs`
    /// when it is `complete` (every entry a blob, nothing unreadable) and
    /// its `version` (taken before listing it) had settled when the run
    /// started: a change made since gets other timestamps.
    pub(crate) fn learn_blob_prefix(
        &self,
        key: &str,
        version: Option<&DirVersion>,
        blobs: &[Blob],
        complete: bool,
    ) {
        // Without a version (object storage) there is nothing to remember,
        // nor a directory listing to count: the flat listing answered it.
        let Some(version) = version else {
            return;
        };
        self.prefixes_listed.fetch_add(1, Ordering::Relaxed);
        let Some(started) = self.started else {
            return;
        };
        if self.enabled && complete && version.settled_before(started, self.settle) {
            let mut learned = self
                .learned_prefixes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            learned.push(&key.to_string(), &(version, blobs));
        }
    }

    /// How this run had its blob prefix listings so far.
    pub fn listings(&self) -> PrefixListings {
        PrefixListings {
            from_cache: self.prefixes_from_cache.load(Ordering::Relaxed),
            listed: self.prefixes_listed.load(Ordering::Relaxed),
        }
    }

    /// How this run's manifests were had so far.
    pub fn reads(&self) -> ManifestReads {
        ManifestReads {
            from_cache: self.from_cache.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
        }
    }

    /// Writes what this run used and learnt to `path`, atomically (a
    /// concurrent run reads the old file or the new one, never a mix).
    /// Manifests of earlier runs that this run did not look up are
    /// dropped, so the file follows the store; tags too, when this run
    /// read any. Returns how many manifests it holds.
    pub fn save(&self, path: &Path) -> Result<usize, CacheError> {
        let fail = |why: String| CacheError::Write {
            path: path.to_path_buf(),
            why,
        };
        let learned = self.lock_learned();
        let manifests = self.loaded.to_save(&self.used, &learned);
        let learned_prefixes = self
            .learned_prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let prefixes = self
            .loaded_prefixes
            .to_save(&self.used_prefixes, &learned_prefixes);
        let learned_tags = self.learned_tags.lock().unwrap_or_else(|e| e.into_inner());
        let tag_source = match learned_tags.is_empty() {
            true => &self.loaded_tags,
            false => &*learned_tags,
        };
        let mut tags: Vec<(&String, Vec<(&String, &Digest)>)> = tag_source
            .iter()
            .map(|(repo, t)| {
                let mut t: Vec<(&String, &Digest)> = t.iter().collect();
                t.sort();
                (repo, t)
            })
            .collect();
        tags.sort();
        let count = manifests.len();
        let body = BodyOut {
            producer: producer(),
            store: &self.store,
            tags,
            manifests,
            prefixes,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
        let file = write(file, &body).map_err(|e| fail(e.to_string()))?;
        file.persist(path).map_err(|e| fail(e.error.to_string()))?;
        Ok(count)
    }

    fn lock_learned(&self) -> std::sync::MutexGuard<'_, Arena<Digest>> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn unusable(path: &Path, why: String) -> CacheError {
    CacheError::Unusable {
        path: path.to_path_buf(),
        why,
    }
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: sha2::Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the header and `body` to `file`, streaming (no copy of the body
/// in memory), then the body's checksum into the header, and syncs.
fn write(
    file: tempfile::NamedTempFile,
    body: &BodyOut,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut out = std::io::BufWriter::new(file);
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_le_bytes())?;
    out.write_all(&[0; 32])?;
    let hashing = Hashing {
        inner: out,
        hash: sha2::Sha256::new(),
    };
    let mut hashing = postcard::to_io(body, hashing).map_err(std::io::Error::other)?;
    hashing.flush()?;
    let sum = hashing.hash.finalize();
    let mut file = hashing.inner.into_inner().map_err(|e| e.into_error())?;
    file.seek(std::io::SeekFrom::Start((MAGIC.len() + 4) as u64))?;
    file.write_all(&sum)?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Where each value of a file lies in its bytes, and its slot.
type Index<K> = HashMap<K, (Range<usize>, usize)>;

/// What a cache file holds, as positions in its bytes.
struct Decoded {
    manifests: Index<Digest>,
    prefixes: Index<String>,
    tags: HashMap<String, TagMap>,
}

/// The index of a file's manifests and prefix listings (each decoded once,
/// to refuse a file with a bad one) and its tags, after checking its
/// header, checksum and identity; or why it cannot be used.
fn decode(bytes: &[u8], store: &str) -> Result<Decoded, String> {
    if !bytes.starts_with(MAGIC) {
        return Err("not a registry-gc mark cache".into());
    }
    if bytes.len() < HEADER {
        return Err("truncated".into());
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if format != FORMAT {
        return Err(format!("format {format}, this registry-gc writes {FORMAT}"));
    }
    let (sum, payload) = bytes[12..].split_at(32);
    if sha2::Sha256::digest(payload).as_slice() != sum {
        return Err("checksum mismatch (truncated or corrupt)".into());
    }
    let body: BodyIn = postcard::from_bytes(payload).map_err(|e| format!("corrupt: {e}"))?;
    if body.producer != producer() {
        return Err(format!(
            "written by {}, this is {}",
            body.producer,
            producer()
        ));
    }
    if body.store != store {
        return Err(format!("it describes another store ({})", body.store));
    }
    let base = bytes.as_ptr() as usize;
    let range = |encoded: &[u8]| {
        let start = encoded.as_ptr() as usize - base;
        start..start + encoded.len()
    };
    let mut manifests = Index::with_capacity(body.manifests.len());
    for (slot, (d, encoded)) in body.manifests.into_iter().enumerate() {
        let bad = |why: &str| format!("corrupt: manifest {d}: {why}");
        let m: Manifest = postcard::from_bytes(encoded).map_err(|e| bad(&e.to_string()))?;
        if m.roles.len() != m.references.len() {
            return Err(bad("its roles do not match its references"));
        }
        manifests.insert(d, (range(encoded), slot));
    }
    let mut prefixes = Index::with_capacity(body.prefixes.len());
    for (slot, (key, encoded)) in body.prefixes.into_iter().enumerate() {
        let bad = |why: &str| format!("corrupt: blob prefix {key}: {why}");
        let (_, blobs): (DirVersion, Vec<Blob>) =
            postcard::from_bytes(encoded).map_err(|e| bad(&e.to_string()))?;
        let outside = |b: &Blob| {
            let (alg, hh) = key.split_once('/').unwrap_or_default();
            b.digest.algorithm().name() != alg || !b.digest.hex().starts_with(hh)
        };
        if let Some(b) = blobs.iter().find(|b| outside(b)) {
            return Err(bad(&format!("{} does not belong there", b.digest)));
        }
        prefixes.insert(key, (range(encoded), slot));
    }
    let tags = body
        .tags
        .into_iter()
        .map(|(repo, t)| (repo, t.into_iter().collect()))
        .collect();
    Ok(Decoded {
        manifests,
        prefixes,
        tags,
    })
}

/// What identifies a store: its resolved root on disk, or its bucket, root
/// and endpoint on object storage.
pub fn store_key(storage: &Storage, layout: &Layout) -> String {
    match storage {
        Storage::Filesystem { .. } => format!("filesystem {}", layout.v2().display()),
        Storage::S3(s3) => {
            let endpoint = s3.endpoint.as_deref().unwrap_or("aws");
            format!("s3 {} at {endpoint} ({})", layout.v2().display(), s3.region)
        }
    }
}

/// Where caches live by default: `$XDG_CACHE_HOME/registry-gc`, or
/// `$HOME/.cache/registry-gc`; `None` without either.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })
        .map(|d| d.join("registry-gc"))
}

/// The cache file of store `key` in `dir`: one file per store.
pub fn file_in(dir: &Path, key: &str) -> PathBuf {
    let id = hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8]);
    dir.join(format!("mark-{id}.bin"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use std::sync::Arc;

    const STORE: &str = "filesystem /x/docker/registry/v2";

    /// A store with one tagged image, its manifest read once through a
    /// fresh cache, which is then saved; returns the store, the image and
    /// the saved file.
    fn saved() -> (crate::testing::Store, Digest, tempfile::TempDir, PathBuf) {
        let s = crate::testing::Store::new();
        let image = s.image("r", &["one", "two"]);
        let cache = Arc::new(MarkCache::empty(STORE));
        let layout = s.layout.clone().with_cache(cache.clone());
        manifests::read(&layout, &image).unwrap();
        let mut tags = TagMap::new();
        tags.insert("v1".into(), image.clone());
        cache.learn_tags("r", &tags);
        let dir = tempfile::tempdir().unwrap();
        let path = file_in(dir.path(), STORE);
        assert_eq!(cache.save(&path).unwrap(), 1);
        (s, image, dir, path)
    }

    fn why(path: &Path, store: &str) -> String {
        match MarkCache::load(path, store) {
            Err(CacheError::Unusable { why, .. }) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_saved_cache_answers_the_next_run_without_reading() {
        let (s, image, _dir, path) = saved();
        let expected = manifests::read(&s.layout, &image).unwrap();
        // The blob goes: only the cache can answer now.
        std::fs::remove_file(s.layout.blob_data(&image)).unwrap();
        let cache = Arc::new(MarkCache::load(&path, STORE).unwrap());
        let layout = s.layout.clone().with_cache(cache.clone());
        assert_eq!(manifests::read(&layout, &image).unwrap(), expected);
        assert_eq!(
            cache.reads(),
            ManifestReads {
                from_cache: 1,
                read: 0
            }
        );
        assert_eq!(cache.tags("r").get("v1"), Some(&image));
        assert!(cache.tags("other").is_empty());
        // Off, it looks nothing up, and counts only reads (the one above).
        let off = s.layout.clone();
        assert!(manifests::read(&off, &image).is_err());
        assert_eq!(
            off.cache().reads(),
            ManifestReads {
                from_cache: 0,
                read: 1
            }
        );
    }

    #[test]
    fn a_save_keeps_what_the_run_used_or_learnt_and_the_latest_tags() {
        let (s, image, _dir, path) = saved();
        let other = s.image("r", &["three"]);
        // A run that uses nothing of the file and reads another manifest.
        let cache = Arc::new(MarkCache::load(&path, STORE).unwrap());
        let layout = s.layout.clone().with_cache(cache.clone());
        manifests::read(&layout, &other).unwrap();
        assert_eq!(cache.save(&path).unwrap(), 1);
        let again = MarkCache::load(&path, STORE).unwrap();
        assert!(again.manifest(&image).is_none());
        assert!(again.manifest(&other).is_some());
        assert_eq!(
            again.tags("r").get("v1"),
            Some(&image),
            "no tag read: the remembered ones stay"
        );
        // A run that read tags replaces them.
        again.learn_tags("q", &TagMap::new());
        again.save(&path).unwrap();
        assert!(MarkCache::load(&path, STORE).unwrap().tags("r").is_empty());
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_whole() {
        let (_s, _image, dir, path) = saved();
        let good = std::fs::read(&path).unwrap();
        let put = |bytes: &[u8]| {
            let p = dir.path().join("damaged");
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let missing = dir.path().join("none");
        assert!(matches!(
            MarkCache::load(&missing, STORE),
            Err(CacheError::Missing(p)) if p == missing
        ));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            why(&put(&flipped), STORE),
            "checksum mismatch (truncated or corrupt)"
        );
        assert_eq!(
            why(&put(&good[..good.len() - 1]), STORE),
            "checksum mismatch (truncated or corrupt)"
        );
        assert_eq!(why(&put(&good[..20]), STORE), "truncated");
        // Cut inside the checksum: refused, not sliced past its end.
        assert_eq!(why(&put(&good[..40]), STORE), "truncated");
        // Unreadable is not missing: said, not taken for a first run.
        assert!(why(dir.path(), STORE).starts_with("Is a directory"));
        // The file names the registry-gc that wrote it, as it is.
        let writer = format!("registry-gc {}", env!("CARGO_PKG_VERSION"));
        assert!(good.windows(writer.len()).any(|w| w == writer.as_bytes()));
        assert_eq!(why(&put(b"hello"), STORE), "not a registry-gc mark cache");
        let mut other_format = good.clone();
        other_format[8] = 9;
        assert_eq!(
            why(&put(&other_format), STORE),
            "format 9, this registry-gc writes 1"
        );
        assert_eq!(
            why(&path, "filesystem /y/docker/registry/v2"),
            format!("it describes another store ({STORE})")
        );
        // Well-formed files that must still be refused.
        let written = |producer: String, manifests: Vec<(&Digest, Encoded)>| {
            let body = BodyOut {
                producer,
                store: STORE,
                tags: vec![],
                manifests,
                prefixes: vec![],
            };
            let file = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
            std::fs::read(write(file, &body).unwrap().path()).unwrap()
        };
        assert_eq!(
            why(&put(&written("registry-gc 0.0.1".into(), vec![])), STORE),
            format!("written by registry-gc 0.0.1, this is {}", producer())
        );
        let loaded = MarkCache::load(&path, STORE).unwrap();
        let d = loaded.loaded.index.keys().next().unwrap().clone();
        let mut m: Manifest = postcard::from_bytes(loaded.loaded.get(&d).unwrap().0).unwrap();
        m.roles.pop();
        let bad = postcard::to_stdvec(&m).unwrap();
        assert_eq!(
            why(&put(&written(producer(), vec![(&d, Encoded(&bad))])), STORE),
            format!("corrupt: manifest {d}: its roles do not match its references")
        );
        assert!(
            why(&put(&written(producer(), vec![(&d, Encoded(b"x"))])), STORE)
                .starts_with(&format!("corrupt: manifest {d}: "))
        );
        // A blob listed under a prefix its digest does not start with.
        let version = crate::store::DirVersion {
            dev: 1,
            ino: 2,
            mtime: (0, 0),
            ctime: (0, 0),
        };
        let stray = Blob {
            digest: Digest::parse(&format!("sha256:cd{}", "0".repeat(62))).unwrap(),
            size: 1,
            modified: SystemTime::UNIX_EPOCH,
        };
        let listing = postcard::to_stdvec(&(version, vec![stray])).unwrap();
        let key = "sha256/ab".to_string();
        let body = BodyOut {
            producer: producer(),
            store: STORE,
            tags: vec![],
            manifests: vec![],
            prefixes: vec![(&key, Encoded(&listing))],
        };
        let file = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        let misplaced = std::fs::read(write(file, &body).unwrap().path()).unwrap();
        assert_eq!(
            why(&put(&misplaced), STORE),
            "corrupt: blob prefix sha256/ab: sha256:cd00000000000000000000000000000000000000000000000000000000000000 does not belong there"
        );
        // A header alone, its checksum right: an empty body is corrupt.
        let mut header = good[..12].to_vec();
        header.extend_from_slice(&sha2::Sha256::digest(b""));
        assert!(why(&put(&header), STORE).starts_with("corrupt: "));
        let message = MarkCache::load(&put(b"hello"), STORE)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!(
                "ignoring the mark cache {}: not a registry-gc mark cache; it is rebuilt",
                dir.path().join("damaged").display()
            )
        );
    }

    #[test]
    fn a_manifest_that_does_not_hash_to_its_digest_is_refused_and_not_learnt() {
        let s = crate::testing::Store::new();
        let image = s.image("r", &["one"]);
        let other = s.image("r", &["two"]);
        let content = std::fs::read(s.layout.blob_data(&other)).unwrap();
        std::fs::write(s.layout.blob_data(&image), &content).unwrap();
        let cache = Arc::new(MarkCache::empty(STORE));
        let layout = s.layout.clone().with_cache(cache.clone());
        let fault = manifests::read(&layout, &image).unwrap_err();
        assert_eq!(
            fault.to_string(),
            format!(
                "failed to retrieve manifest for digest {image}: its content hashes to {other}, not to its digest: the blob is corrupt (in {})",
                s.layout.blob_data(&image).display()
            )
        );
        assert!(cache.manifest(&image).is_none());
        assert_eq!(cache.reads().read, 0);
    }

    /// The digests `layout` enumerates, and how its prefixes were had.
    fn enumerated(layout: &Layout) -> (Vec<Digest>, PrefixListings) {
        let blobs = crate::blobs::enumerate(layout).unwrap();
        let digests = blobs.into_iter().map(|b| b.digest).collect();
        (digests, layout.cache().listings())
    }

    #[test]
    fn blob_prefixes_are_listed_again_only_when_changed_or_incomplete() {
        let s = crate::testing::Store::new();
        let blobs: Vec<Digest> = (0..40)
            .map(|i| s.blob(format!("b{i}").as_bytes()))
            .collect();
        // A blob directory whose `data` is not there yet (a push mid-way).
        let pending = Digest::sha256_of(b"pending");
        std::fs::create_dir_all(s.layout.blob_dir(&pending)).unwrap();
        let prefixes = |ds: &[&Digest]| {
            let mut p: Vec<String> = ds.iter().map(|d| d.hex()[..2].to_string()).collect();
            p.sort();
            p.dedup();
            p.len() as u64
        };
        let all: Vec<&Digest> = blobs.iter().chain([&pending]).collect();
        let n = prefixes(&all);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        let settle = std::time::Duration::from_millis(40);
        std::thread::sleep(settle * 2);
        let run = |cache: MarkCache| {
            let cache = Arc::new(cache.settling(settle));
            let layout = s.layout.clone().with_cache(cache.clone());
            let got = enumerated(&layout);
            cache.save(&path).unwrap();
            got
        };
        let mut expected = blobs.clone();
        expected.sort();
        let listed = |n| PrefixListings {
            from_cache: 0,
            listed: n,
        };
        assert_eq!(run(MarkCache::empty(STORE)), (expected.clone(), listed(n)));
        // Unchanged: all but the incomplete prefix come from the cache.
        let again = run(MarkCache::load(&path, STORE).unwrap());
        let one = PrefixListings {
            from_cache: n - 1,
            listed: 1,
        };
        assert_eq!(again, (expected.clone(), one));
        // The pending blob's `data` arrives: its prefix was listed again.
        std::fs::write(s.layout.blob_data(&pending), b"pending").unwrap();
        let (got, _) = run(MarkCache::load(&path, STORE).unwrap());
        assert!(got.contains(&pending));
        // A blob goes (its prefix directory changes): listed again, gone.
        std::fs::remove_dir_all(s.layout.blob_dir(&blobs[0])).unwrap();
        // (Served from the cache it would still be there.)
        let (got, _) = run(MarkCache::load(&path, STORE).unwrap());
        assert!(!got.contains(&blobs[0]) && got.contains(&blobs[1]));
        // A prefix changed just before a run is listed but not remembered.
        std::thread::sleep(settle * 2);
        run(MarkCache::load(&path, STORE).unwrap());
        let moved = s.blob(b"new");
        let hh = &moved.hex()[..2];
        let fresh = run(MarkCache::load(&path, STORE).unwrap());
        assert!(fresh.0.contains(&moved));
        let later = run(MarkCache::load(&path, STORE).unwrap());
        assert!(later.0.contains(&moved));
        assert!(
            later.1.listed >= 1,
            "{hh}/ changed within the settle time: {later:?}"
        );
        // Off: always listed.
        let off = s.layout.clone();
        assert_eq!(enumerated(&off).1.from_cache, 0);
    }

    #[test]
    fn a_store_on_disk_is_known_by_its_path() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = |dir: &tempfile::TempDir| {
            let storage = crate::config::Storage::Filesystem {
                root: dir.path().to_path_buf(),
                max_threads: 100,
            };
            store_key(&storage, &Layout::new(dir.path()))
        };
        let expected = Layout::new(one.path()).v2().display().to_string();
        assert_eq!(key(&one), format!("filesystem {expected}"));
        assert_ne!(key(&one), key(&two));
    }

    #[test]
    fn each_store_has_a_file_of_its_own() {
        let key = "s3 s3://b/r/docker/registry/v2 at http://127.0.0.1:9000 (us-east-1)";
        let f = file_in(Path::new("/c"), key);
        assert!(f.starts_with("/c") && f.to_string_lossy().ends_with(".bin"));
        assert_ne!(f, file_in(Path::new("/c"), STORE), "one file per store");
    }
}
