//! `registry-gc garbage-collect`.

use registry_gc::cache::{self, CacheError, MarkCache};
use registry_gc::error::GcError;
use registry_gc::metrics::RunMetrics;
use registry_gc::plan::Phase;
use registry_gc::report_file::ReportFile;
use registry_gc::sweep::Applied;
use registry_gc::units::{human_bytes, plural};
use registry_gc::{plan, progress, recheck, report, run_report, sweep};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit code after SIGINT/SIGTERM stopped the sweep (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Flags of `garbage-collect`; booleans also take `=true`/`=false` (Go's
/// spellings only, see [`super::go_bool`]) as upstream's pflag flags do.
#[derive(clap::Args)]
pub struct Args {
    /// print what would be deleted; change nothing (takes no lock)
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    dry_run: bool,
    /// delete manifests that are not currently referenced via tag
    #[arg(short = 'm', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    delete_untagged: bool,
    /// no stdout and no progress line (log lines on stderr stay)
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    quiet: bool,
    /// keep blobs, and with -m untagged manifests, written less than this long
    /// ago (e.g. 30m, 1h, 2d); recommended when the registry is running
    #[arg(long, value_name = "DURATION", value_parser = registry_gc::units::parse_duration)]
    grace_period: Option<Duration>,
    /// list unreadable files instead of aborting, and keep everything they
    /// might reference; exits 1 at the end if anything was unreadable
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    keep_going: bool,
    /// with -m, also keep untagged manifests whose subject (OCI referrers:
    /// signatures, SBOMs, attestations) is kept, recursively
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    keep_referrers: bool,
    /// write a JSON report of the run to this file (- for stdout, instead
    /// of the text lines); see docs/gc-report.md
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// write Prometheus metrics of the run to this file (node_exporter's
    /// textfile format, replaced atomically; written on failure too)
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// on object storage (storage.s3): requests kept in flight at once
    /// (manifest and link reads, listings of key ranges, delete batches)
    #[arg(long, value_name = "N", default_value_t = registry_gc::store::DEFAULT_IN_FLIGHT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    requests_in_flight: usize,
    /// keep the mark cache (what each manifest references, so an unchanged
    /// store is marked without reading them again) in this directory
    /// [default: $XDG_CACHE_HOME/registry-gc or ~/.cache/registry-gc]
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// read every manifest from the store, and neither read nor write the
    /// mark cache
    #[arg(long)]
    no_cache: bool,
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Runs the collection and prints its plan (and, in a real run, applies it).
pub fn run(args: &Args) -> ExitCode {
    super::with_metrics(
        args.metrics_file.as_deref(),
        "garbage-collect",
        args.dry_run,
        "failed to garbage collect",
        |metrics| collect(args, metrics),
    )
}

fn collect(args: &Args, metrics: &mut RunMetrics) -> ExitCode {
    let opened = match super::open_store(
        args.config.as_deref(),
        args.dry_run,
        "failed to garbage collect",
        args.requests_in_flight,
    ) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let report_file = match args.report.as_deref().map(ReportFile::open).transpose() {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    let config = &opened.config;
    let (cache_file, cache, cache_missing) = open_cache(args, config, &opened.layout);
    let layout = &opened.layout.clone().with_cache(cache.clone());
    if args.keep_referrers && !args.delete_untagged {
        tracing::warn!("--keep-referrers does nothing without -m: every manifest is kept anyway");
    }
    let _spinner = (!args.quiet && io::stderr().is_terminal())
        .then(progress::Spinner::start)
        .flatten();
    let options = plan::Options {
        delete_untagged: args.delete_untagged,
        grace_period: args.grace_period.filter(|g| !g.is_zero()),
        keep_going: args.keep_going,
        keep_referrers: args.keep_referrers,
    };
    let mut plan = match plan::plan(layout, options) {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    let json_to_stdout = args.report.as_deref() == Some(Path::new("-"));
    if !args.quiet && !json_to_stdout {
        let mut out = BufWriter::new(io::stdout().lock());
        if let Err(e) = report::write_text(&plan, &mut out).and_then(|_| out.flush()) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return fail(&format!("failed to write output: {e}"));
            }
        }
    }
    for fault in &plan.faults {
        tracing::error!("unreadable, everything it might reference is kept: {fault}");
    }
    let (applied, rescued, phases, result) = if args.dry_run {
        (None, None, Vec::new(), Ok(()))
    } else {
        let (rescued, recheck_phase) =
            Phase::time("re-check", || recheck::recheck(layout, &mut plan));
        let rescued = match rescued {
            Ok(r) => r,
            Err(e) => return fail(&e.to_string()),
        };
        if rescued.roots > 0 {
            tracing::info!(
                "re-check: {} written during the run keep {}, {} and {}",
                plural(rescued.roots as u64, "manifest"),
                plural(rescued.blobs as u64, "blob"),
                plural(rescued.manifests as u64, "manifest"),
                plural(rescued.layer_links as u64, "layer link")
            );
        }
        let ((applied, result), sweep_phase) = Phase::time("sweep", || sweep::apply(layout, &plan));
        (
            Some(applied),
            Some(rescued),
            vec![recheck_phase, sweep_phase],
            result,
        )
    };
    if let Some(path) = &cache_file {
        save_cache(&cache, path, cache_missing);
    }
    match &applied {
        None => tracing::info!(
            "reclaimable: {} in {}",
            human_bytes(plan.blob_bytes()),
            plural(plan.blobs.len() as u64, "blob")
        ),
        Some(a) => tracing::info!(
            "freed {} in {}",
            human_bytes(a.blob_bytes),
            plural(a.blobs, "blob")
        ),
    }
    if let (Some(a), Some(cache)) = (
        applied.as_ref().filter(|a| a.blobs > 0),
        config.blob_descriptor_cache.as_deref(),
    ) {
        tracing::warn!(
            "deleted {}: restart any registry serving this store with this configuration (storage.cache.blobdescriptor: {cache}), or it will keep answering for deleted blobs",
            plural(a.blobs, "blob")
        );
    }
    let doc = run_report::build(
        &plan,
        args.dry_run,
        applied.as_ref(),
        rescued.as_ref(),
        &phases,
        result.as_ref().map(|_| ()),
        layout,
    );
    if let Some(requests) = layout.requests() {
        let total: u64 = requests.values().sum();
        let parts: Vec<String> = requests
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(op, n)| format!("{n} {op}"))
            .collect();
        tracing::info!("requests to object storage: {total} ({})", parts.join(", "));
    }
    metrics.record_gc(&doc);
    if let Some(report_file) = report_file {
        if let Err(e) = report_file.write(&doc) {
            return fail(&e.to_string());
        }
    }
    match (result, applied) {
        (Ok(()), _) => broken_files_exit(&plan),
        (Err(GcError::Interrupted), Some(a)) => {
            eprintln!("interrupted: {}; run again to finish", done(&a));
            ExitCode::from(INTERRUPTED)
        }
        (Err(e), a) => {
            eprintln!("failed to garbage collect: {e}");
            eprintln!("before the failure: {}", done(&a.unwrap_or_default()));
            ExitCode::FAILURE
        }
    }
}

/// The store's mark cache for this run, the file it is saved to (`None`
/// with `--no-cache` or without a cache directory) and whether that file
/// was missing; a cache that cannot be used is said so and rebuilt.
fn open_cache(
    args: &Args,
    config: &registry_gc::config::Config,
    layout: &registry_gc::layout::Layout,
) -> (Option<PathBuf>, Arc<MarkCache>, bool) {
    let dir = match (&args.cache, args.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => cache::default_dir().or_else(|| {
            tracing::info!("no mark cache: neither XDG_CACHE_HOME nor HOME is set (see --cache)");
            None
        }),
    };
    let Some(dir) = dir else {
        return (None, Arc::new(MarkCache::disabled()), false);
    };
    let key = cache::store_key(&config.storage, layout);
    let path = cache::file_in(&dir, &key);
    let (cache, missing) = match MarkCache::load(&path, &key) {
        Ok(c) => (c, false),
        Err(CacheError::Missing(_)) => (MarkCache::empty(&key), true),
        Err(e) => {
            tracing::warn!("{e}");
            (MarkCache::empty(&key), false)
        }
    };
    (Some(path), Arc::new(cache), missing)
}

/// Saves the mark cache and says how the run's manifests were had; a
/// failure to save is a warning (the run itself is done).
fn save_cache(cache: &MarkCache, path: &Path, was_missing: bool) {
    let (reads, listings) = (cache.reads(), cache.listings());
    let prefixes = match listings.from_cache + listings.listed {
        0 => String::new(),
        _ => format!(
            "; blob prefix directories: {} unchanged, {} listed",
            listings.from_cache, listings.listed
        ),
    };
    match cache.save(path) {
        Ok(n) => tracing::info!(
            "manifests: {} from the mark cache{}, {} read{prefixes}; {} saved to {}",
            reads.from_cache,
            if was_missing { " (none yet)" } else { "" },
            reads.read,
            plural(n as u64, "manifest"),
            path.display()
        ),
        Err(e) => tracing::warn!("{e}"),
    }
}

fn done(a: &Applied) -> String {
    format!(
        "deleted {}, {}, {} ({} bytes) and {}",
        plural(a.manifests, "manifest"),
        plural(a.tag_references, "tag reference"),
        plural(a.blobs, "blob"),
        a.blob_bytes,
        plural(a.layer_links, "layer link")
    )
}

/// Exit 0, or 1 when `--keep-going` met unreadable files.
fn broken_files_exit(plan: &plan::Plan) -> ExitCode {
    if plan.faults.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "failed to garbage collect: {} (listed above); everything {} might reference was kept",
        plural(plan.faults.len() as u64, "unreadable file"),
        if plan.faults.len() == 1 { "it" } else { "they" }
    );
    ExitCode::FAILURE
}

fn fail(message: &str) -> ExitCode {
    eprintln!("failed to garbage collect: {message}");
    ExitCode::FAILURE
}
