//! Command-line options.

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

/// Writes a synthetic distribution-registry filesystem store under `ROOT/docker/registry/v2/`
/// and `ROOT/expected.json` with the counts a correct garbage collector must report.
///
/// Output is deterministic for a given set of options (including `--seed`).
#[derive(Parser, Serialize, Debug, Clone)]
#[command(name = "synth-store", version)]
pub struct Options {
    /// Store root (the registry's `rootdirectory`); `ROOT/docker/registry/v2` must not exist or be empty
    #[serde(skip)]
    pub root: PathBuf,

    /// Number of repositories; every 5th is nested three deep (`group<g>/app<i>/sub`) and every
    /// 7th is nested inside the previous repository (`<previous>/api`)
    #[arg(long, default_value_t = 10)]
    pub repos: usize,

    /// Manifests pushed per repository, index children included (API-deleted ones included)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub manifests: u64,

    /// Layers per image manifest
    #[arg(long, default_value_t = 5)]
    pub layers: usize,

    /// Probability that a layer comes from a pool shared by all repositories
    #[arg(long, default_value_t = 0.2, value_parser = fraction)]
    pub shared_fraction: f64,

    /// Size of the shared layer pool (0: about one pool layer per 16 shared uses)
    #[arg(long, default_value_t = 0)]
    pub shared_pool: usize,

    /// Probability that a top-level manifest is an index (OCI index or Docker manifest list)
    /// with 2-3 image manifest children
    #[arg(long, default_value_t = 0.1, value_parser = fraction)]
    pub index_fraction: f64,

    /// Probability that a top-level manifest has a revision but no current tag (its former tag's
    /// `index/` still lists it)
    #[arg(long, default_value_t = 0.2, value_parser = fraction)]
    pub untagged_fraction: f64,

    /// Probability that a top-level manifest was deleted through the API (revision link removed,
    /// empty revision directory and blob kept, tag directories gone)
    #[arg(long, default_value_t = 0.05, value_parser = fraction)]
    pub deleted_fraction: f64,

    /// Number of orphan blobs (referenced by nothing)
    #[arg(long, default_value_t = 100)]
    pub orphans: usize,

    /// Tags per tagged manifest
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub tags_per_manifest: u64,

    /// Probability that a tagged manifest gets one extra tag
    #[arg(long, default_value_t = 0.125, value_parser = fraction)]
    pub extra_tag_fraction: f64,

    /// Exact size of every layer blob in bytes (default: 16-64 bytes each); layers always
    /// start with a unique header, so very small sizes are rounded up to it
    #[arg(long)]
    pub layer_bytes: Option<usize>,

    /// Random seed
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Options {
    /// Parses the command line and checks option combinations.
    pub fn parse_checked() -> Self {
        let options = Options::parse();
        if options.untagged_fraction + options.deleted_fraction > 1.0 {
            use clap::CommandFactory;
            Options::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--untagged-fraction plus --deleted-fraction must not exceed 1",
                )
                .exit();
        }
        options
    }
}

/// Parses a probability in `[0, 1]`.
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}
