//! `synth-store`: writes a synthetic distribution-registry filesystem store for testing and
//! benchmarking registry-gc, plus `ROOT/expected.json` with the counts a correct garbage
//! collector must report on it.
//!
//! ```text
//! cargo run --release --example synth-store -- ROOT [--repos 10] [--manifests 64] [--layers 5] ...
//! ```
//!
//! The store lives under `ROOT/docker/registry/v2/` in the exact on-disk layout of the
//! filesystem driver (blobs, `_layers`, revision and tag links, empty `_uploads/`). It contains
//! Docker schema2 and OCI image manifests, OCI indexes and Docker manifest lists (whose children
//! are untagged image manifests of the same repository), layers shared across repositories,
//! untagged revisions (overwritten tags), manifests deleted through the API and orphan blobs.
//! Output is deterministic for a given set of options.
//!
//! Repositories are generated and written in parallel (rayon, one task per repository).
//! stdout gets one line of JSON (the expected counts plus timing); stderr gets a human summary.

#[path = "synth_store/cli.rs"]
mod cli;
#[path = "synth_store/expected.rs"]
mod expected;
#[path = "synth_store/generate.rs"]
mod generate;
#[path = "synth_store/model.rs"]
mod model;
#[path = "synth_store/rng.rs"]
mod rng;
#[path = "synth_store/write.rs"]
mod write;

use std::error::Error;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rayon::prelude::*;

use cli::Options;
use expected::Expected;
use generate::{orphan_blob, plan_repo, Context};
use model::{Digest, RepoModel};
use write::Layout;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> ExitCode {
    let options = Options::parse_checked();
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("synth-store: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Generates, writes and reports the store.
fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    let root = options.root.clone();
    let layout = Layout::create(&root)?;
    let context = Context::new(options);
    let (repos, repo_files) = write_repositories(&layout, &context)?;
    let orphans = write_orphans(&layout, &context)?;
    let pool = used_pool_layers(&context, &repos);
    let expected = Expected::compute(&context.options, &repos, &pool, &orphans);
    let written = repo_files + orphans.len() as u64;
    if written != expected.files {
        return Err(format!(
            "wrote {written} files but the model expects {}",
            expected.files
        )
        .into());
    }
    write_expected(&root, &expected)?;
    report(&root, &expected, started.elapsed().as_secs_f64())
}

/// Plans and writes every repository in parallel; returns their models and the files written.
fn write_repositories(layout: &Layout, context: &Context) -> Result<(Vec<RepoModel>, u64)> {
    let results: Vec<(RepoModel, u64)> = (0..context.options.repos)
        .into_par_iter()
        .map(|index| {
            let plan = plan_repo(context, index);
            let files = layout.write_repo(context, &plan)?;
            Ok((plan.model, files))
        })
        .collect::<std::io::Result<_>>()?;
    let files = results.iter().map(|(_, files)| files).sum();
    Ok((results.into_iter().map(|(model, _)| model).collect(), files))
}

/// Writes the orphan blobs in parallel; returns their digests.
fn write_orphans(layout: &Layout, context: &Context) -> Result<Vec<Digest>> {
    let digests = (0..context.options.orphans)
        .into_par_iter()
        .map(|index| {
            let blob = orphan_blob(&context.options, index);
            layout.write_blob(&blob.digest, &blob.bytes)?;
            Ok(blob.digest)
        })
        .collect::<std::io::Result<_>>()?;
    Ok(digests)
}

/// Digests of the shared pool layers some repository uses (only those were written).
fn used_pool_layers(context: &Context, repos: &[RepoModel]) -> Vec<Digest> {
    let mut used: Vec<usize> = repos
        .iter()
        .flat_map(|r| r.pool_layers.iter().copied())
        .collect();
    used.sort_unstable();
    used.dedup();
    used.into_iter()
        .map(|index| context.pool[index].digest)
        .collect()
}

/// Writes `ROOT/expected.json` (pretty, deterministic: no timing).
fn write_expected(root: &Path, expected: &Expected) -> Result<()> {
    let mut text = serde_json::to_string_pretty(expected)?;
    text.push('\n');
    fs::write(root.join("expected.json"), text)?;
    Ok(())
}

/// Prints the one-line JSON summary on stdout and a human line on stderr.
fn report(root: &Path, expected: &Expected, elapsed: f64) -> Result<()> {
    let mut summary = serde_json::to_value(expected)?;
    if let Some(fields) = summary.as_object_mut() {
        fields.remove("params");
        fields.insert("root".into(), root.display().to_string().into());
        fields.insert(
            "elapsed_secs".into(),
            ((elapsed * 1000.0).round() / 1000.0).into(),
        );
    }
    println!("{summary}");
    eprintln!(
        "synth-store: wrote {} files ({} blobs, {} repositories) in {elapsed:.2}s",
        expected.files, expected.blobs, expected.repositories
    );
    Ok(())
}
