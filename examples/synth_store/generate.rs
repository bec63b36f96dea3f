//! Deterministic generation of repositories, shared layers and orphan blobs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::cli::Options;
use crate::model::{digest_string, Blob, BlobRef, Digest, Manifest, RepoModel, RepoPlan, Tag};
use crate::rng::{Rng, Stream};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Platforms given to index children, in order.
const PLATFORMS: [Platform; 4] = [
    Platform {
        architecture: "amd64",
        os: "linux",
        variant: None,
    },
    Platform {
        architecture: "arm64",
        os: "linux",
        variant: Some("v8"),
    },
    Platform {
        architecture: "arm",
        os: "linux",
        variant: Some("v7"),
    },
    Platform {
        architecture: "ppc64le",
        os: "linux",
        variant: None,
    },
];

/// Manifest format family; index children use the family of their index.
#[derive(Clone, Copy)]
enum Format {
    Docker,
    Oci,
}

impl Format {
    fn pick(rng: &mut Rng) -> Self {
        if rng.chance(0.5) {
            Format::Docker
        } else {
            Format::Oci
        }
    }

    fn manifest_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST,
            Format::Oci => OCI_MANIFEST,
        }
    }

    fn index_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_LIST,
            Format::Oci => OCI_INDEX,
        }
    }

    fn config_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_CONFIG,
            Format::Oci => OCI_CONFIG,
        }
    }

    fn layer_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_LAYER,
            Format::Oci => OCI_LAYER,
        }
    }
}

/// What happened to a top-level (taggable) manifest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Tagged,
    /// Revision kept, tag moved on to another manifest.
    Untagged,
    /// Deleted through the API.
    Deleted,
}

#[derive(Serialize, Clone, Copy)]
struct Platform {
    architecture: &'static str,
    os: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

impl Descriptor {
    fn new(media_type: &'static str, blob: BlobRef, platform: Option<Platform>) -> Self {
        Descriptor {
            media_type,
            size: blob.size,
            digest: digest_string(&blob.digest),
            platform,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexManifest {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// Serializes a manifest document the way registries store it (pretty JSON).
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("manifest serialization cannot fail")
}

/// `header` followed by random bytes up to `size` bytes in total (the header makes it unique).
fn layer_content(header: String, size: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = header.into_bytes();
    let pad = size.saturating_sub(bytes.len());
    rng.extend_bytes(&mut bytes, pad);
    bytes
}

/// Name of repository `index`: mostly `library/app<i>`, every 5th `group<g>/app<i>/sub`, and
/// every 7th (when not a 5th) nested inside the previous repository as `<previous>/api`.
pub fn repo_name(index: usize) -> String {
    if index % 5 == 4 {
        format!("group{}/app{index}/sub", index / 25)
    } else if index % 7 == 6 {
        format!("{}/api", repo_name(index - 1))
    } else {
        format!("library/app{index}")
    }
}

/// Options plus the shared layer pool, shared read-only by all generator threads.
pub struct Context {
    pub options: Options,
    /// Digest and size of every pool layer.
    pub pool: Vec<BlobRef>,
    /// Set by the first repository that writes a pool layer's blob.
    claimed: Vec<AtomicBool>,
}

impl Context {
    /// Precomputes the shared pool's digests (in parallel).
    pub fn new(options: Options) -> Self {
        let size = pool_size(&options);
        let pool: Vec<BlobRef> = (0..size)
            .into_par_iter()
            .map(|i| Blob::new(pool_layer_bytes(&options, i)).reference())
            .collect();
        let claimed = (0..size).map(|_| AtomicBool::new(false)).collect();
        Context {
            options,
            pool,
            claimed,
        }
    }

    /// True exactly once per pool layer: the caller must then write its blob.
    pub fn claim_pool_layer(&self, index: usize) -> bool {
        !self.claimed[index].swap(true, Ordering::Relaxed)
    }

    /// Bytes of pool layer `index`.
    pub fn pool_layer_bytes(&self, index: usize) -> Vec<u8> {
        pool_layer_bytes(&self.options, index)
    }

    /// Size of a layer: `--layer-bytes`, or 16-64 bytes.
    fn layer_size(&self, rng: &mut Rng) -> usize {
        self.options
            .layer_bytes
            .unwrap_or_else(|| 16 + rng.below(49) as usize)
    }
}

/// Pool size: `--shared-pool`, or one layer per ~16 expected shared uses.
fn pool_size(options: &Options) -> usize {
    if options.shared_fraction == 0.0 || options.layers == 0 {
        return 0;
    }
    if options.shared_pool > 0 {
        return options.shared_pool;
    }
    let uses = options.repos as f64
        * options.manifests as f64
        * options.layers as f64
        * options.shared_fraction;
    ((uses / 16.0).ceil() as usize).max(1)
}

fn pool_layer_bytes(options: &Options, index: usize) -> Vec<u8> {
    let mut rng = Rng::for_stream(options.seed, Stream::SharedLayer, index as u64);
    let size = options
        .layer_bytes
        .unwrap_or_else(|| 16 + rng.below(49) as usize);
    layer_content(format!("synth shared layer {index}\n"), size, &mut rng)
}

/// The blob of orphan `index`: referenced by nothing.
pub fn orphan_blob(options: &Options, index: usize) -> Blob {
    let mut rng = Rng::for_stream(options.seed, Stream::Orphan, index as u64);
    let size = 16 + rng.below(49) as usize;
    Blob::new(layer_content(
        format!("synth orphan {index}\n"),
        size,
        &mut rng,
    ))
}

/// Generates repository `index` (structure and blob bytes) deterministically.
pub fn plan_repo(context: &Context, index: usize) -> RepoPlan {
    let mut builder = RepoBuilder::new(context, index);
    let total = context.options.manifests as usize;
    let mut tops = Vec::new();
    while builder.manifests.len() < total {
        let remaining = total - builder.manifests.len();
        let fate = builder.draw_fate();
        let top = if remaining >= 3 && builder.rng.chance(context.options.index_fraction) {
            let children = (2 + builder.rng.below(2) as usize).min(remaining - 1);
            builder.add_index(children)
        } else {
            let format = Format::pick(&mut builder.rng);
            builder.add_image(format, None).0
        };
        builder.manifests[top].revision = fate != Fate::Deleted;
        tops.push((top, fate));
    }
    builder.assign_tags(&tops);
    builder.finish()
}

/// Accumulates one repository's manifests, links and blobs.
struct RepoBuilder<'a> {
    context: &'a Context,
    rng: Rng,
    name: String,
    manifests: Vec<Manifest>,
    tags: Vec<Tag>,
    layer_links: Vec<Digest>,
    linked: HashSet<Digest>,
    blobs: Vec<Blob>,
    pool_layers: Vec<usize>,
    pool_seen: HashSet<usize>,
}

impl<'a> RepoBuilder<'a> {
    fn new(context: &'a Context, index: usize) -> Self {
        RepoBuilder {
            context,
            rng: Rng::for_stream(context.options.seed, Stream::Repository, index as u64),
            name: repo_name(index),
            manifests: Vec::new(),
            tags: Vec::new(),
            layer_links: Vec::new(),
            linked: HashSet::new(),
            blobs: Vec::new(),
            pool_layers: Vec::new(),
            pool_seen: HashSet::new(),
        }
    }

    fn draw_fate(&mut self) -> Fate {
        let options = &self.context.options;
        let draw = self.rng.unit();
        if draw < options.deleted_fraction {
            Fate::Deleted
        } else if draw < options.deleted_fraction + options.untagged_fraction {
            Fate::Untagged
        } else {
            Fate::Tagged
        }
    }

    /// Records a blob this repository writes.
    fn own(&mut self, bytes: Vec<u8>) -> BlobRef {
        let blob = Blob::new(bytes);
        let reference = blob.reference();
        self.blobs.push(blob);
        reference
    }

    /// Adds a `_layers` link (once per digest).
    fn link_layer(&mut self, digest: Digest) {
        if self.linked.insert(digest) {
            self.layer_links.push(digest);
        }
    }

    /// Layer `layer` of manifest number `seq`: from the shared pool or unique to this repository.
    fn layer(&mut self, seq: usize, layer: usize) -> BlobRef {
        let pool = &self.context.pool;
        if !pool.is_empty() && self.rng.chance(self.context.options.shared_fraction) {
            // Squared draw: low pool indices (popular base layers) are used far more often.
            let u = self.rng.unit();
            let index = ((u * u * pool.len() as f64) as usize).min(pool.len() - 1);
            if self.pool_seen.insert(index) {
                self.pool_layers.push(index);
            }
            return pool[index];
        }
        let size = self.context.layer_size(&mut self.rng);
        let header = format!("synth layer {} #{seq}.{layer}\n", self.name);
        let bytes = layer_content(header, size, &mut self.rng);
        self.own(bytes)
    }

    /// Image config blob for manifest number `seq`.
    fn config(&mut self, seq: usize, platform: Platform, layers: &[BlobRef]) -> BlobRef {
        let diff_ids: Vec<String> = layers.iter().map(|l| digest_string(&l.digest)).collect();
        let config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": { "Labels": { "org.example.synth": format!("{}#{seq}", self.name) } },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        self.own(to_json(&config))
    }

    /// Adds an image manifest (config + layers); returns its position in `manifests` and its blob.
    fn add_image(&mut self, format: Format, platform: Option<Platform>) -> (usize, BlobRef) {
        let seq = self.manifests.len();
        let layers: Vec<BlobRef> = (0..self.context.options.layers)
            .map(|l| self.layer(seq, l))
            .collect();
        let config = self.config(seq, platform.unwrap_or(PLATFORMS[0]), &layers);
        let document = ImageManifest {
            schema_version: 2,
            media_type: format.manifest_type(),
            config: Descriptor::new(format.config_type(), config, None),
            layers: layers
                .iter()
                .map(|&l| Descriptor::new(format.layer_type(), l, None))
                .collect(),
        };
        let manifest = self.own(to_json(&document));
        self.link_layer(config.digest);
        let mut refs = vec![config.digest];
        for layer in &layers {
            self.link_layer(layer.digest);
            refs.push(layer.digest);
        }
        (self.push_manifest(manifest.digest, refs, false), manifest)
    }

    /// Adds an index with `children` image manifests (which get revisions, never tags).
    fn add_index(&mut self, children: usize) -> usize {
        let format = Format::pick(&mut self.rng);
        let mut descriptors = Vec::with_capacity(children);
        let mut refs = Vec::with_capacity(children);
        for platform in PLATFORMS.iter().cycle().take(children) {
            let (_, child) = self.add_image(format, Some(*platform));
            descriptors.push(Descriptor::new(
                format.manifest_type(),
                child,
                Some(*platform),
            ));
            refs.push(child.digest);
        }
        let document = IndexManifest {
            schema_version: 2,
            media_type: format.index_type(),
            manifests: descriptors,
        };
        let index = self.own(to_json(&document));
        self.push_manifest(index.digest, refs, true)
    }

    fn push_manifest(&mut self, digest: Digest, refs: Vec<Digest>, is_index: bool) -> usize {
        self.manifests.push(Manifest {
            digest,
            refs,
            revision: true,
            is_index,
        });
        self.manifests.len() - 1
    }

    /// Gives tags to tagged top-level manifests and lists each untagged one in the `index/` of
    /// the nearest later (else earlier) tagged manifest's first tag, as if that tag had been
    /// overwritten. Deleted manifests lost their tag directories.
    fn assign_tags(&mut self, tops: &[(usize, Fate)]) {
        let options = &self.context.options;
        let mut first_tag_of_top = vec![None; tops.len()];
        for (position, &(manifest, fate)) in tops.iter().enumerate() {
            if fate != Fate::Tagged {
                continue;
            }
            let extra = u64::from(self.rng.chance(options.extra_tag_fraction));
            let digest = self.manifests[manifest].digest;
            first_tag_of_top[position] = Some(self.tags.len());
            for alias in 0..options.tags_per_manifest + extra {
                let name = if alias == 0 {
                    format!("v{position}")
                } else {
                    format!("v{position}-alias{alias}")
                };
                self.tags.push(Tag {
                    name,
                    current: digest,
                    history: vec![digest],
                });
            }
        }
        for (position, &(manifest, fate)) in tops.iter().enumerate() {
            if fate != Fate::Untagged {
                continue;
            }
            let later = first_tag_of_top[position..].iter().flatten().next();
            let earlier = first_tag_of_top[..position].iter().rev().flatten().next();
            if let Some(&tag) = later.or(earlier) {
                let digest = self.manifests[manifest].digest;
                self.tags[tag].history.push(digest);
            }
        }
    }

    fn finish(self) -> RepoPlan {
        let owned_blobs = self.blobs.iter().map(|b| b.digest).collect();
        RepoPlan {
            model: RepoModel {
                name: self.name,
                manifests: self.manifests,
                tags: self.tags,
                layer_links: self.layer_links,
                owned_blobs,
                pool_layers: self.pool_layers,
            },
            blobs: self.blobs,
        }
    }
}
