//! Test helpers: small stores written by hand, and property tests on
//! random stores.

use crate::digest::Digest;
use crate::layout::Layout;
use crate::plan::{plan, Options, Plan};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A small store written by hand.
pub(crate) struct Store {
    _dir: tempfile::TempDir,
    pub(crate) layout: Layout,
}

impl Store {
    pub(crate) fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.repositories()).unwrap();
        fs::create_dir_all(layout.blobs()).unwrap();
        Store { _dir: dir, layout }
    }

    pub(crate) fn blob(&self, content: &[u8]) -> Digest {
        let d = Digest::sha256_of(content);
        fs::create_dir_all(self.layout.blob_dir(&d)).unwrap();
        fs::write(self.layout.blob_data(&d), content).unwrap();
        d
    }

    pub(crate) fn link(&self, path: std::path::PathBuf, d: &Digest) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, d.to_string()).unwrap();
    }

    /// An OCI image with a config and `layers` (by content), linked in `repo`.
    pub(crate) fn image(&self, repo: &str, layers: &[&str]) -> Digest {
        let config = self.blob(format!("config of {layers:?}").as_bytes());
        let layer_digests: Vec<Digest> = layers.iter().map(|l| self.blob(l.as_bytes())).collect();
        for d in std::iter::once(&config).chain(&layer_digests) {
            self.link(self.layout.layer_link(repo, d), d);
        }
        let layers_json: Vec<String> = layer_digests
            .iter()
            .map(|d| format!(r#"{{"digest":"{d}"}}"#))
            .collect();
        let m = self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{config}"}},"layers":[{}]}}"#,
                crate::manifest::OCI_MANIFEST,
                layers_json.join(",")
            )
            .as_bytes(),
        );
        self.link(self.layout.revision_dir(repo, &m).join("link"), &m);
        m
    }

    /// An OCI artifact whose `subject` is `subject` (a signature, an SBOM)
    /// and whose one layer is `payload`, with a revision in `repo`.
    pub(crate) fn referrer(&self, repo: &str, subject: &Digest, payload: &str) -> Digest {
        let config = self.blob(b"{}");
        let layer = self.blob(payload.as_bytes());
        for d in [&config, &layer] {
            self.link(self.layout.layer_link(repo, d), d);
        }
        let m = self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{config}"}},"layers":[{{"digest":"{layer}"}}],"subject":{{"digest":"{subject}"}}}}"#,
                crate::manifest::OCI_MANIFEST,
            )
            .as_bytes(),
        );
        self.link(self.layout.revision_dir(repo, &m).join("link"), &m);
        m
    }

    /// An OCI index over `children`, with a revision in `repo`.
    pub(crate) fn index(&self, repo: &str, children: &[&Digest]) -> Digest {
        let list: Vec<String> = children
            .iter()
            .map(|d| format!(r#"{{"digest":"{d}"}}"#))
            .collect();
        let m = self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
                crate::manifest::OCI_INDEX,
                list.join(",")
            )
            .as_bytes(),
        );
        self.link(self.layout.revision_dir(repo, &m).join("link"), &m);
        m
    }

    /// Points `tag` at `d`, keeping the tag's history in `index/`.
    pub(crate) fn tag(&self, repo: &str, tag: &str, d: &Digest) {
        self.link(self.layout.tag_current_link(repo, tag), d);
        self.link(self.layout.tag_index_entry(repo, tag, d).join("link"), d);
    }

    pub(crate) fn plan(&self, delete_untagged: bool) -> Plan {
        plan(
            &self.layout,
            Options {
                delete_untagged,
                ..Options::default()
            },
        )
        .unwrap()
    }

    /// Every file below the store, relative to `v2/`.
    pub(crate) fn files(&self) -> std::collections::BTreeSet<String> {
        walkdir::WalkDir::new(self.layout.v2())
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                e.path()
                    .strip_prefix(self.layout.v2())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect()
    }
}

/// Paths armed to make their next operation fail with an OS error: how
/// tests make the kernel fail on demand (EIO, EBUSY, EROFS even as root)
/// at the seams of the filesystem backend.
pub(crate) struct ArmedFaults(std::sync::Mutex<Vec<(PathBuf, i32)>>);

impl ArmedFaults {
    pub(crate) const fn new() -> ArmedFaults {
        ArmedFaults(std::sync::Mutex::new(Vec::new()))
    }

    /// Makes the next operation on `path` fail with OS error `errno`.
    pub(crate) fn arm(&self, path: &Path, errno: i32) {
        self.0.lock().unwrap().push((path.to_path_buf(), errno));
    }

    /// The error armed for `path` (disarming it), if any.
    pub(crate) fn take(&self, path: &Path) -> std::io::Result<()> {
        let mut armed = self.0.lock().unwrap();
        match armed.iter().position(|(p, _)| p == path) {
            Some(i) => Err(std::io::Error::from_raw_os_error(armed.remove(i).1)),
            None => Ok(()),
        }
    }
}

/// `depth` directories named `d`, each inside the previous, below `dir`,
/// made and removed with `mkdirat`/`openat`/`unlinkat` since their paths
/// outgrow `PATH_MAX`. Removed on drop.
pub(crate) struct DeepTree {
    top: PathBuf,
    depth: usize,
}

const D: &std::ffi::CStr = c"d";

/// Opens `name` below the directory `fd` (no symlink followed).
fn open_dir_at(fd: &OwnedFd, name: &std::ffi::CStr) -> OwnedFd {
    // SAFETY: `name` is NUL-terminated; a non-negative result is an fd we own.
    let child = unsafe {
        libc::openat(
            fd.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    assert!(child >= 0, "openat: {}", std::io::Error::last_os_error());
    // SAFETY: `child` is a fresh fd owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(child) }
}

impl DeepTree {
    pub(crate) fn new(dir: &Path, depth: usize) -> DeepTree {
        let mut fd: OwnedFd = fs::File::open(dir).unwrap().into();
        for _ in 0..depth {
            // SAFETY: `D` is NUL-terminated.
            let rc = unsafe { libc::mkdirat(fd.as_raw_fd(), D.as_ptr(), 0o755) };
            assert_eq!(rc, 0, "mkdirat: {}", std::io::Error::last_os_error());
            fd = open_dir_at(&fd, D);
        }
        DeepTree {
            top: dir.to_path_buf(),
            depth,
        }
    }
}

impl Drop for DeepTree {
    fn drop(&mut self) {
        let Ok(top) = fs::File::open(&self.top) else {
            return;
        };
        let mut fd: OwnedFd = top.into();
        for _ in 0..self.depth {
            fd = open_dir_at(&fd, D);
        }
        for _ in 0..self.depth {
            let parent = open_dir_at(&fd, c"..");
            // SAFETY: `D` is NUL-terminated.
            unsafe { libc::unlinkat(parent.as_raw_fd(), D.as_ptr(), libc::AT_REMOVEDIR) };
            fd = parent;
        }
    }
}

mod properties {
    use super::Store;
    use crate::cache::MarkCache;
    use crate::delete::Target;
    use crate::digest::Digest;
    use crate::manifest;
    use crate::sweep;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    const REPOS: [&str; 3] = ["a", "b", "b/c"];

    /// A random store: per repository some images over a shared layer
    /// pool, some indexes over them, tags moved around, some revisions
    /// deleted through the API, and orphan blobs.
    #[derive(Debug, Clone)]
    struct Model {
        repos: Vec<RepoModel>,
        orphans: u8,
    }

    #[derive(Debug, Clone)]
    struct RepoModel {
        images: Vec<Vec<u8>>,
        indexes: Vec<Vec<u8>>,
        tag_moves: Vec<(u8, u8)>,
        api_deleted: Vec<u8>,
    }

    fn repo_model() -> impl Strategy<Value = RepoModel> {
        (
            prop::collection::vec(prop::collection::vec(0u8..8, 1..4), 1..5),
            prop::collection::vec(prop::collection::vec(0u8..8, 1..3), 0..3),
            prop::collection::vec((0u8..3, 0u8..16), 0..6),
            prop::collection::vec(0u8..16, 0..2),
        )
            .prop_map(|(images, indexes, tag_moves, api_deleted)| RepoModel {
                images,
                indexes,
                tag_moves,
                api_deleted,
            })
    }

    fn model() -> impl Strategy<Value = Model> {
        (prop::collection::vec(repo_model(), 1..4), 0u8..3)
            .prop_map(|(repos, orphans)| Model { repos, orphans })
    }

    /// Manifests a correct collector must keep in one repository, and the
    /// revisions it still has (children are followed only through those).
    struct Keep {
        all: Vec<Digest>,
        tagged: Vec<Digest>,
        live: BTreeSet<Digest>,
    }

    /// Writes the model; returns the store and what each repository keeps.
    fn build(m: &Model) -> (Store, Vec<Keep>) {
        let s = Store::new();
        let mut keep = Vec::new();
        for (repo, rm) in REPOS.iter().zip(&m.repos) {
            let images: Vec<Digest> = rm
                .images
                .iter()
                .map(|layers| {
                    let names: Vec<String> = layers.iter().map(|l| format!("layer {l}")).collect();
                    s.image(repo, &names.iter().map(String::as_str).collect::<Vec<_>>())
                })
                .collect();
            let indexes: Vec<Digest> = rm
                .indexes
                .iter()
                .map(|children| {
                    let picked: Vec<&Digest> = children
                        .iter()
                        .map(|c| &images[*c as usize % images.len()])
                        .collect();
                    s.index(repo, &picked)
                })
                .collect();
            let all: Vec<Digest> = images.iter().chain(&indexes).cloned().collect();
            let mut current = std::collections::BTreeMap::new();
            for (tag, target) in &rm.tag_moves {
                let d = &all[*target as usize % all.len()];
                s.tag(repo, &format!("t{tag}"), d);
                current.insert(*tag, d.clone());
            }
            let mut deleted = BTreeSet::new();
            for victim in &rm.api_deleted {
                let d = &all[*victim as usize % all.len()];
                if !current.values().any(|c| c == d) {
                    std::fs::remove_file(s.layout.revision_dir(repo, d).join("link")).unwrap();
                    deleted.insert(d.clone());
                }
            }
            let live: BTreeSet<Digest> = all
                .iter()
                .filter(|d| !deleted.contains(*d))
                .cloned()
                .collect();
            keep.push(Keep {
                all: live.iter().cloned().collect(),
                tagged: current.into_values().collect(),
                live,
            });
        }
        for i in 0..m.orphans {
            s.blob(format!("orphan {i}").as_bytes());
        }
        (s, keep)
    }

    /// Every blob manifest `d` needs: itself and what it references,
    /// following children of indexes that still have a revision.
    fn closure(s: &Store, d: &Digest, live: &BTreeSet<Digest>, out: &mut BTreeSet<Digest>) {
        if !out.insert(d.clone()) {
            return;
        }
        let m = manifest::parse(&std::fs::read(s.layout.blob_data(d)).unwrap()).unwrap();
        let follow = !m.children().is_empty();
        for r in m.references {
            if follow && live.contains(&r) {
                closure(s, &r, live, out);
            } else {
                out.insert(r);
            }
        }
    }

    /// The files a plan's deletions cover, relative to `v2/`.
    fn planned_files(
        s: &Store,
        p: &crate::plan::Plan,
        before: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let rel = |t: Target| {
            s.layout
                .display(&t.path(&s.layout))
                .trim_start_matches("/docker/registry/v2/")
                .to_string()
        };
        let mut prefixes: Vec<String> = p
            .blobs
            .iter()
            .map(|b| format!("{}/", rel(Target::Blob(&b.digest))))
            .collect();
        for r in &p.repos {
            for m in &r.manifests {
                prefixes.push(format!(
                    "{}/",
                    rel(Target::Revision {
                        repo: &r.name,
                        digest: &m.digest
                    })
                ));
                for tag in &m.tag_index {
                    prefixes.push(format!(
                        "{}/",
                        rel(Target::TagIndexEntry {
                            repo: &r.name,
                            tag,
                            digest: &m.digest
                        })
                    ));
                }
            }
            for d in &r.layer_links {
                prefixes.push(rel(Target::LayerLink {
                    repo: &r.name,
                    digest: d,
                }));
            }
        }
        before
            .iter()
            .filter(|f| {
                prefixes
                    .iter()
                    .any(|p| f.starts_with(p.as_str()) || *f == p)
            })
            .cloned()
            .collect()
    }

    /// The mark cache a property run plans with.
    #[derive(Debug, Clone, Copy)]
    enum Cache {
        /// None (`--no-cache`).
        Off,
        /// An empty one (a first run).
        Cold,
        /// One saved by an earlier plan of the same store.
        Warm,
        /// A saved one, damaged: refused, so the run starts empty.
        Corrupt,
    }

    /// Gives `s` the mark cache `state` (warmed by a plan with
    /// `warmed_untagged`); returns the directory its file is in.
    fn use_cache(s: &mut Store, state: Cache, warmed_untagged: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mark.bin");
        let key = "test store";
        let base = s.layout.clone();
        // Blob prefix directories are remembered once settled: wait that long.
        let settle = std::time::Duration::from_millis(40);
        std::thread::sleep(settle + settle / 2);
        let warm = Arc::new(MarkCache::empty(key).settling(settle));
        s.layout = base.clone().with_cache(warm.clone());
        s.plan(warmed_untagged);
        warm.save(&path).unwrap();
        let cache = match state {
            Cache::Off => MarkCache::disabled(),
            Cache::Cold => MarkCache::empty(key),
            Cache::Warm => MarkCache::load(&path, key).unwrap().settling(settle),
            Cache::Corrupt => {
                let mut bytes = std::fs::read(&path).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x55;
                std::fs::write(&path, bytes).unwrap();
                assert!(MarkCache::load(&path, key).is_err());
                MarkCache::empty(key)
            }
        };
        s.layout = base.with_cache(Arc::new(cache));
        dir
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn real_run_does_exactly_the_dry_run_and_keeps_what_is_reachable(
            m in model(),
            untagged in any::<bool>(),
            cache in prop_oneof![Just(Cache::Off), Just(Cache::Cold), Just(Cache::Warm), Just(Cache::Corrupt)],
            warmed_untagged in any::<bool>(),
        ) {
            let (mut s, keep) = build(&m);
            let before = s.files();
            let uncached = planned_files(&s, &s.plan(untagged), &before);
            let _cache_dir = use_cache(&mut s, cache, warmed_untagged);
            let dry = s.plan(untagged);
            let expected = planned_files(&s, &dry, &before);
            prop_assert_eq!(&expected, &uncached, "the mark cache changes nothing planned");
            if matches!(cache, Cache::Warm) && warmed_untagged == untagged {
                prop_assert_eq!(s.layout.cache().reads().read, 0, "a warm cache answers every read");
                prop_assert_eq!(s.layout.cache().listings().listed, 0, "and every blob listing");
            }
            prop_assert_eq!(&s.files(), &before, "planning changes nothing");
            sweep::apply(&s.layout, &dry).1.unwrap();
            let after = s.files();
            let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
            prop_assert_eq!(gone, expected);

            let again = s.plan(untagged);
            prop_assert_eq!((again.blobs.len(), again.manifest_count(), again.layer_link_count()), (0, 0, 0));

            let mut needed = BTreeSet::new();
            for k in &keep {
                for d in if untagged { &k.tagged } else { &k.all } {
                    closure(&s, d, &k.live, &mut needed);
                }
            }
            for d in &needed {
                prop_assert!(s.layout.blob_data(d).exists(), "swept {} which a kept manifest needs", d);
            }
        }
    }
}
