//! Writing the store to disk in the filesystem driver's layout.
//!
//! Every directory is created once, with `create_dir_all` on the deepest path (parents such as
//! `blobs/sha256/<hh>/` are created on first use), and every file with one `fs::write`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::generate::Context;
use crate::model::{digest_string, hex_of, Digest, RepoPlan};

/// `ROOT/docker/registry/v2`.
pub struct Layout {
    v2: PathBuf,
}

impl Layout {
    /// Creates `ROOT/docker/registry/v2/{blobs,repositories}`; refuses a non-empty `v2`.
    pub fn create(root: &Path) -> io::Result<Self> {
        let v2 = root.join("docker/registry/v2");
        if v2.exists() && fs::read_dir(&v2)?.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not empty; give an empty or new ROOT", v2.display()),
            ));
        }
        fs::create_dir_all(v2.join("blobs/sha256"))?;
        fs::create_dir_all(v2.join("repositories"))?;
        Ok(Layout { v2 })
    }

    /// Writes `blobs/sha256/<hh>/<hex>/data`.
    pub fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> io::Result<()> {
        let hex = hex_of(digest);
        let dir = self.v2.join("blobs/sha256").join(&hex[..2]).join(&hex);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("data"), bytes)
    }

    /// Writes all of a repository's blobs and links; returns the number of files written.
    pub fn write_repo(&self, context: &Context, plan: &RepoPlan) -> io::Result<u64> {
        let model = &plan.model;
        let repo = self.v2.join("repositories").join(&model.name);
        let layers = repo.join("_layers/sha256");
        let revisions = repo.join("_manifests/revisions/sha256");
        let tags = repo.join("_manifests/tags");
        for dir in [&repo.join("_uploads"), &layers, &revisions, &tags] {
            fs::create_dir_all(dir)?;
        }
        let mut files = 0;
        for blob in &plan.blobs {
            self.write_blob(&blob.digest, &blob.bytes)?;
            files += 1;
        }
        for &index in &model.pool_layers {
            if context.claim_pool_layer(index) {
                self.write_blob(
                    &context.pool[index].digest,
                    &context.pool_layer_bytes(index),
                )?;
                files += 1;
            }
        }
        for digest in &model.layer_links {
            write_link(&layers.join(hex_of(digest)), digest)?;
            files += 1;
        }
        for manifest in &model.manifests {
            let dir = revisions.join(hex_of(&manifest.digest));
            if manifest.revision {
                write_link(&dir, &manifest.digest)?;
                files += 1;
            } else {
                // Deleted through the API: the empty revision directory stays behind.
                fs::create_dir_all(&dir)?;
            }
        }
        for tag in &model.tags {
            let dir = tags.join(&tag.name);
            write_link(&dir.join("current"), &tag.current)?;
            let index = dir.join("index/sha256");
            for digest in &tag.history {
                write_link(&index.join(hex_of(digest)), digest)?;
            }
            files += 1 + tag.history.len() as u64;
        }
        Ok(files)
    }
}

/// Creates `dir` and writes `dir/link` holding `sha256:<hex>` with no trailing newline.
fn write_link(dir: &Path, digest: &Digest) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("link"), digest_string(digest))
}
