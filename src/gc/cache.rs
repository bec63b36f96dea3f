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

use crate::config::Storage;
use crate::digest::Digest;
use crate::layout::Layout;
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// First bytes of a cache file.
const MAGIC: &[u8; 8] = b"rgc-mark";
/// Version of the file's layout; a file with another one is rebuilt.
const FORMAT: u32 = 1;
/// Magic, format, then the sha256 of the body.
const HEADER: usize = MAGIC.len() + 4 + 32;

/// Tags of one repository and the digest each named.
type TagMap = HashMap<String, Digest>;

/// What a run knows about manifests and tags before reading them, and
/// what it learns; shared by the threads of a run.
#[derive(Debug, Default)]
pub struct MarkCache {
    /// Off (`--no-cache`, or a subcommand without a cache): nothing is
    /// looked up or learnt; reads are still counted.
    enabled: bool,
    /// The store this cache describes (see [`store_key`]).
    store: String,
    loaded: HashMap<Digest, Loaded>,
    learned: Mutex<HashMap<Digest, Manifest>>,
    loaded_tags: HashMap<String, TagMap>,
    learned_tags: Mutex<HashMap<String, TagMap>>,
    from_cache: AtomicU64,
    read: AtomicU64,
}

#[derive(Debug)]
struct Loaded {
    manifest: Manifest,
    /// Looked up by this run: kept when the cache is saved.
    used: AtomicBool,
}

/// The file's body, after the header.
#[derive(Serialize, Deserialize)]
struct Body {
    /// `registry-gc <version>`: a cache written by another version is
    /// rebuilt, as its parsing of manifests may differ.
    producer: String,
    store: String,
    manifests: Vec<(Digest, Manifest)>,
    tags: Vec<(String, Vec<(String, Digest)>)>,
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

fn producer() -> String {
    format!("registry-gc {}", env!("CARGO_PKG_VERSION"))
}

impl MarkCache {
    /// A cache that looks nothing up and learns nothing.
    pub fn disabled() -> MarkCache {
        MarkCache::default()
    }

    /// An empty cache for `store`, learning from this run.
    pub fn empty(store: &str) -> MarkCache {
        MarkCache {
            enabled: true,
            store: store.to_string(),
            ..MarkCache::default()
        }
    }

    /// Reads the cache file at `path`, which must describe `store`.
    pub fn load(path: &Path, store: &str) -> Result<MarkCache, CacheError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CacheError::Missing(path.to_path_buf()))
            }
            Err(e) => return Err(unusable(path, e.to_string())),
        };
        let body = decode(&bytes, store).map_err(|why| unusable(path, why))?;
        let mut cache = MarkCache::empty(store);
        for (d, manifest) in body.manifests {
            let used = AtomicBool::new(false);
            cache.loaded.insert(d, Loaded { manifest, used });
        }
        for (repo, tags) in body.tags {
            cache.loaded_tags.insert(repo, tags.into_iter().collect());
        }
        Ok(cache)
    }

    /// The manifest `d`, if known (and the cache is on).
    pub(crate) fn manifest(&self, d: &Digest) -> Option<Manifest> {
        if !self.enabled {
            return None;
        }
        let found = match self.loaded.get(d) {
            Some(l) => {
                l.used.store(true, Ordering::Relaxed);
                Some(l.manifest.clone())
            }
            None => self.lock_learned().get(d).cloned(),
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
            self.lock_learned().insert(d.clone(), manifest.clone());
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

    /// How this run's manifests were had so far.
    pub fn reads(&self) -> ManifestReads {
        ManifestReads {
            from_cache: self.from_cache.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
        }
    }

    /// Whether lookups and learning are on.
    pub fn enabled(&self) -> bool {
        self.enabled
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
        let mut manifests: Vec<(Digest, Manifest)> = self
            .loaded
            .iter()
            .filter(|(d, l)| l.used.load(Ordering::Relaxed) && !learned.contains_key(*d))
            .map(|(d, l)| (d.clone(), l.manifest.clone()))
            .chain(learned.iter().map(|(d, m)| (d.clone(), m.clone())))
            .collect();
        drop(learned);
        manifests.sort_by(|a, b| a.0.cmp(&b.0));
        let learned_tags = self.learned_tags.lock().unwrap_or_else(|e| e.into_inner());
        let tag_source = match learned_tags.is_empty() {
            true => &self.loaded_tags,
            false => &*learned_tags,
        };
        let mut tags: Vec<(String, Vec<(String, Digest)>)> = tag_source
            .iter()
            .map(|(repo, t)| {
                let mut t: Vec<(String, Digest)> =
                    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                t.sort();
                (repo.clone(), t)
            })
            .collect();
        drop(learned_tags);
        tags.sort();
        let count = manifests.len();
        let body = Body {
            producer: producer(),
            store: self.store.clone(),
            manifests,
            tags,
        };
        let bytes = encode(&body).map_err(|e| fail(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
        file.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
        file.as_file().sync_all().map_err(|e| fail(e.to_string()))?;
        file.persist(path).map_err(|e| fail(e.error.to_string()))?;
        Ok(count)
    }

    fn lock_learned(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Manifest>> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn unusable(path: &Path, why: String) -> CacheError {
    CacheError::Unusable {
        path: path.to_path_buf(),
        why,
    }
}

fn encode(body: &Body) -> Result<Vec<u8>, postcard::Error> {
    let payload = postcard::to_stdvec(body)?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&sha2::Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks a file's header, checksum and identity; says why it fails.
fn decode(bytes: &[u8], store: &str) -> Result<Body, String> {
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
    let body: Body = postcard::from_bytes(payload).map_err(|e| format!("corrupt: {e}"))?;
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
    if let Some((d, _)) = body
        .manifests
        .iter()
        .find(|(_, m)| m.roles.len() != m.references.len())
    {
        return Err(format!(
            "corrupt: manifest {d} has roles that do not match its references"
        ));
    }
    Ok(body)
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
        let old = Body {
            producer: "registry-gc 0.0.1".into(),
            store: STORE.into(),
            manifests: vec![],
            tags: vec![],
        };
        assert_eq!(
            why(&put(&encode(&old).unwrap()), STORE),
            format!("written by registry-gc 0.0.1, this is {}", producer())
        );
        let (d, mut m) = MarkCache::load(&path, STORE)
            .unwrap()
            .loaded
            .into_iter()
            .map(|(d, l)| (d, l.manifest))
            .next()
            .unwrap();
        m.roles.pop();
        let bad = Body {
            producer: producer(),
            store: STORE.into(),
            manifests: vec![(d.clone(), m)],
            tags: vec![],
        };
        assert_eq!(
            why(&put(&encode(&bad).unwrap()), STORE),
            format!("corrupt: manifest {d} has roles that do not match its references")
        );
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

    #[test]
    fn each_store_has_a_file_of_its_own() {
        let key = "s3 s3://b/r/docker/registry/v2 at http://127.0.0.1:9000 (us-east-1)";
        let f = file_in(Path::new("/c"), key);
        assert!(f.starts_with("/c") && f.to_string_lossy().ends_with(".bin"));
        assert_ne!(f, file_in(Path::new("/c"), STORE), "one file per store");
    }
}
