//! Every path under `<rootdirectory>/docker/registry/v2`, in one place.

use crate::digest::Digest;
use crate::error::Fault;
use crate::gc::cache::MarkCache;
use crate::store::{Backend, Contents, FsBackend, RequestCounts, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Driver-relative prefix that upstream prints in its log lines.
pub(crate) const V2_PREFIX: &str = "/docker/registry/v2";

/// The layout of one registry store, and the backend its paths are read
/// and deleted through.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    v2: PathBuf,
    backend: Arc<dyn Backend>,
    cache: Arc<MarkCache>,
}

impl Layout {
    /// Layout for a `rootdirectory`. A symlinked root is resolved once here,
    /// so every path built below it is free of symlinks we did not check.
    pub fn new(rootdirectory: &Path) -> Layout {
        let root =
            std::fs::canonicalize(rootdirectory).unwrap_or_else(|_| rootdirectory.to_path_buf());
        Layout::with_backend(root, Arc::new(FsBackend))
    }

    /// Layout of a store under `root` (a driver path, e.g. `s3://bucket/registry`)
    /// that `backend` reads and deletes.
    pub(crate) fn with_backend(root: PathBuf, backend: Arc<dyn Backend>) -> Layout {
        let v2 = root.join("docker/registry/v2");
        let cache = Arc::new(MarkCache::disabled());
        Layout {
            root,
            v2,
            backend,
            cache,
        }
    }

    /// This layout, with manifests and tags looked up in (and learnt by)
    /// `cache` before they are read from the store.
    pub fn with_cache(mut self, cache: Arc<MarkCache>) -> Layout {
        self.cache = cache;
        self
    }

    /// The mark cache manifest and tag reads go through.
    pub fn cache(&self) -> &MarkCache {
        &self.cache
    }

    /// The backend that reads and deletes this store's paths.
    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// What the store holds, checked before anything else touches it.
    pub fn check(&self) -> Result<Contents, StoreError> {
        self.backend.check(self)
    }

    /// Takes the store's run lock (held until the value is dropped), or
    /// says who holds it.
    pub fn lock(&self) -> Result<Box<dyn std::any::Any + Send>, Fault> {
        self.backend.lock(self)
    }

    /// Requests made to a remote store so far, by operation.
    pub fn requests(&self) -> Option<RequestCounts> {
        self.backend.requests()
    }

    /// The (resolved) rootdirectory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/docker/registry/v2`.
    pub fn v2(&self) -> &Path {
        &self.v2
    }

    /// `repositories/`.
    pub(crate) fn repositories(&self) -> PathBuf {
        self.v2.join("repositories")
    }

    /// `blobs/`.
    pub(crate) fn blobs(&self) -> PathBuf {
        self.v2.join("blobs")
    }

    /// `blobs/<alg>/<hh>/<hex>/`: the unit a sweep deletes.
    pub fn blob_dir(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.v2
            .join("blobs")
            .join(d.algorithm().name())
            .join(&hex[..2])
            .join(&hex)
    }

    /// `blobs/<alg>/<hh>/<hex>/data`.
    pub(crate) fn blob_data(&self, d: &Digest) -> PathBuf {
        self.blob_dir(d).join("data")
    }

    /// `repositories/<name>/`.
    pub(crate) fn repository(&self, repo: &str) -> PathBuf {
        self.repositories().join(repo)
    }

    /// `repositories/<name>/_manifests/revisions/`.
    pub(crate) fn revisions(&self, repo: &str) -> PathBuf {
        self.repository(repo).join("_manifests/revisions")
    }

    /// `repositories/<name>/_manifests/revisions/<alg>/<hex>/`.
    pub fn revision_dir(&self, repo: &str, d: &Digest) -> PathBuf {
        self.revisions(repo)
            .join(d.algorithm().name())
            .join(d.hex())
    }

    /// `repositories/<name>/_manifests/tags/`.
    pub(crate) fn tags(&self, repo: &str) -> PathBuf {
        self.repository(repo).join("_manifests/tags")
    }

    /// `repositories/<name>/_manifests/tags/<tag>/`: what a tag delete removes.
    pub(crate) fn tag_dir(&self, repo: &str, tag: &str) -> PathBuf {
        self.tags(repo).join(tag)
    }

    /// `repositories/<name>/_manifests/tags/<tag>/current/link`.
    pub(crate) fn tag_current_link(&self, repo: &str, tag: &str) -> PathBuf {
        self.tags(repo).join(tag).join("current/link")
    }

    /// `repositories/<name>/_manifests/tags/<tag>/index/`.
    pub(crate) fn tag_index(&self, repo: &str, tag: &str) -> PathBuf {
        self.tags(repo).join(tag).join("index")
    }

    /// `repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/`.
    pub fn tag_index_entry(&self, repo: &str, tag: &str, d: &Digest) -> PathBuf {
        self.tag_index(repo, tag)
            .join(d.algorithm().name())
            .join(d.hex())
    }

    /// `repositories/<name>/_layers/`.
    pub(crate) fn layers(&self, repo: &str) -> PathBuf {
        self.repository(repo).join("_layers")
    }

    /// `repositories/<name>/_layers/<alg>/<hex>/link`.
    pub fn layer_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.layers(repo)
            .join(d.algorithm().name())
            .join(d.hex())
            .join("link")
    }

    /// `repositories/<name>/_uploads/`.
    pub(crate) fn uploads(&self, repo: &str) -> PathBuf {
        self.repository(repo).join("_uploads")
    }

    /// `repositories/<name>/_uploads/<uuid>/`: one upload in progress.
    pub(crate) fn upload_dir(&self, repo: &str, uuid: &str) -> PathBuf {
        self.uploads(repo).join(uuid)
    }

    /// A path as upstream logs it: `/docker/registry/v2/...`.
    pub(crate) fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.v2) {
            Ok(rel) if rel.as_os_str().is_empty() => V2_PREFIX.to_string(),
            Ok(rel) => format!("{V2_PREFIX}/{}", rel.display()),
            Err(_) => path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_filesystem_driver() {
        let l = Layout::new(Path::new("/nonexistent/store"));
        let d = Digest::parse(
            "sha256:fffe409406091f73cd9e93e113c16d73c417be88012a22cdd5ae2e6d5513a2d7",
        )
        .unwrap();
        let hex = d.hex();
        assert_eq!(
            l.display(&l.blob_dir(&d)),
            format!("/docker/registry/v2/blobs/sha256/ff/{hex}")
        );
        assert_eq!(
            l.display(&l.revision_dir("team/app", &d)),
            format!("/docker/registry/v2/repositories/team/app/_manifests/revisions/sha256/{hex}")
        );
        assert_eq!(
            l.display(&l.tag_index_entry("a", "v1", &d)),
            format!("/docker/registry/v2/repositories/a/_manifests/tags/v1/index/sha256/{hex}")
        );
        assert_eq!(
            l.display(&l.layer_link("a", &d)),
            format!("/docker/registry/v2/repositories/a/_layers/sha256/{hex}/link")
        );
        assert_eq!(
            l.display(&l.tag_current_link("a", "v1")),
            "/docker/registry/v2/repositories/a/_manifests/tags/v1/current/link"
        );
        assert_eq!(
            l.display(&l.tag_dir("a/b", "v1")),
            "/docker/registry/v2/repositories/a/b/_manifests/tags/v1"
        );
        assert_eq!(
            l.display(&l.upload_dir("a", "u1")),
            "/docker/registry/v2/repositories/a/_uploads/u1"
        );
    }
}
