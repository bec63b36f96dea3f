//! The generator's model of a store: digests, blobs, manifests, tags and repositories.
//!
//! A [`RepoPlan`] carries the bytes of the blobs a repository owns until they are written;
//! afterwards only its [`RepoModel`] (digests and structure) is kept, and `expected.json` is
//! computed from those models alone.

use sha2::{Digest as _, Sha256};

/// A sha256 digest.
pub type Digest = [u8; 32];

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// The 64 lowercase hex characters of a digest.
pub fn hex_of(digest: &Digest) -> String {
    hex::encode(digest)
}

/// The canonical `sha256:<hex>` form, as stored in link files and descriptors.
pub fn digest_string(digest: &Digest) -> String {
    format!("sha256:{}", hex_of(digest))
}

/// Content-addressed bytes.
pub struct Blob {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Wraps `bytes`, computing their digest.
    pub fn new(bytes: Vec<u8>) -> Self {
        Blob {
            digest: sha256(&bytes),
            bytes,
        }
    }

    /// A reference to this blob: digest and real size.
    pub fn reference(&self) -> BlobRef {
        BlobRef {
            digest: self.digest,
            size: self.bytes.len() as u64,
        }
    }
}

/// Digest and size of a blob, enough to build a descriptor.
#[derive(Clone, Copy)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// One manifest of a repository.
pub struct Manifest {
    pub digest: Digest,
    /// Direct references, in document order: config then layers, or index children.
    pub refs: Vec<Digest>,
    /// Whether `_manifests/revisions/sha256/<hex>/link` exists (false once deleted through the API).
    pub revision: bool,
    pub is_index: bool,
}

/// A tag directory: `tags/<name>/current/link` and `tags/<name>/index/sha256/*/link`.
pub struct Tag {
    pub name: String,
    pub current: Digest,
    /// Every digest listed under `index/`, `current` included.
    pub history: Vec<Digest>,
}

/// Structure of one repository, without blob bytes.
pub struct RepoModel {
    pub name: String,
    pub manifests: Vec<Manifest>,
    pub tags: Vec<Tag>,
    /// Distinct `_layers` links (configs and layers), in first-use order.
    pub layer_links: Vec<Digest>,
    /// Blobs written by (and unique to) this repository: manifests, configs, unique layers.
    pub owned_blobs: Vec<Digest>,
    /// Distinct shared-pool layers this repository uses.
    pub pool_layers: Vec<usize>,
}

impl RepoModel {
    /// Number of link files this repository has on disk.
    pub fn link_files(&self) -> u64 {
        let revisions = self.manifests.iter().filter(|m| m.revision).count();
        let tag_links: usize = self.tags.iter().map(|t| 1 + t.history.len()).sum();
        (self.layer_links.len() + revisions + tag_links) as u64
    }
}

/// A repository ready to be written: its model plus the bytes of the blobs it owns.
pub struct RepoPlan {
    pub model: RepoModel,
    pub blobs: Vec<Blob>,
}
