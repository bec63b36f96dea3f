//! `registry-gc garbage-collect`.

use registry_gc::error::GcError;
use registry_gc::metrics::RunMetrics;
use registry_gc::plan::Phase;
use registry_gc::sweep::Applied;
use registry_gc::units::human_bytes;
use registry_gc::{plan, progress, recheck, report, run_report, sweep};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "registry-gc garbage-collect [OPTIONS] [CONFIG]";
/// Exit code after SIGINT/SIGTERM stopped the sweep (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Flags of `garbage-collect`; booleans also take `=true`/`=false` as Go's pflag does.
#[derive(clap::Args)]
pub struct Args {
    /// do everything except remove the blobs
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = clap::builder::BoolishValueParser::new())]
    dry_run: bool,
    /// delete manifests that are not currently referenced via tag
    #[arg(short = 'm', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = clap::builder::BoolishValueParser::new())]
    delete_untagged: bool,
    /// silence output
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = clap::builder::BoolishValueParser::new())]
    quiet: bool,
    /// keep blobs, and with -m untagged manifests, written less than this long
    /// ago (e.g. 30m, 1h, 2d); recommended when the registry is running
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    grace_period: Option<Duration>,
    /// list unreadable files instead of aborting, and keep everything they
    /// might reference; exits 1 at the end if anything was unreadable
    #[arg(long)]
    keep_going: bool,
    /// with -m, also keep untagged manifests whose subject (OCI referrers:
    /// signatures, SBOMs, attestations) is kept, recursively
    #[arg(long)]
    keep_referrers: bool,
    /// write a JSON report of the run to this file (`-`: to stdout, instead
    /// of the text lines); see docs/gc-report.md
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// write Prometheus metrics of the run to this file (node_exporter's
    /// textfile format, replaced atomically; written on failure too)
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
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
        USAGE,
        args.dry_run,
        "failed to garbage collect",
    ) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (config, layout) = (&opened.config, &opened.layout);
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
                "re-check: {} manifests written during the run keep {} blobs, {} manifests and {} layer links",
                rescued.roots,
                rescued.blobs,
                rescued.manifests,
                rescued.layer_links
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
    match &applied {
        None => tracing::info!(
            "reclaimable: {} in {} blobs",
            human_bytes(plan.blob_bytes()),
            plan.blobs.len()
        ),
        Some(a) => tracing::info!("freed {} in {} blobs", human_bytes(a.blob_bytes), a.blobs),
    }
    if let Some(a) = applied.as_ref().filter(|a| a.blobs > 0) {
        let cache = config
            .blob_descriptor_cache
            .as_deref()
            .map(|c| format!(" (this configuration sets it to {c})"))
            .unwrap_or_default();
        tracing::warn!(
            "deleted {} blobs: restart any registry serving this store with storage.cache.blobdescriptor{cache}, or it will keep answering for deleted blobs",
            a.blobs
        );
    }
    let doc = run_report::build(
        &plan,
        args.dry_run,
        applied.as_ref(),
        rescued.as_ref(),
        &phases,
        result.as_ref().map(|_| ()),
    );
    metrics.record_gc(&doc);
    if let Some(path) = &args.report {
        if let Err(e) = write_report(path, &doc) {
            eprintln!("failed to write report {}: {e}", path.display());
            return ExitCode::FAILURE;
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

/// Writes the JSON report to stdout (`-`) or atomically to a file.
fn write_report(path: &Path, doc: &run_report::RunReport) -> io::Result<()> {
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, doc)?;
        return writeln!(out);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut file, doc)?;
    writeln!(file)?;
    file.persist(path).map(drop).map_err(|e| e.error)
}

fn done(a: &Applied) -> String {
    format!(
        "deleted {} manifests, {} tag references, {} blobs ({} bytes) and {} layer links",
        a.manifests, a.tag_references, a.blobs, a.blob_bytes, a.layer_links
    )
}

/// Exit 0, or 1 when `--keep-going` met unreadable files.
fn broken_files_exit(plan: &plan::Plan) -> ExitCode {
    if plan.faults.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "failed to garbage collect: {} unreadable files (listed above); everything they might reference was kept",
        plan.faults.len()
    );
    ExitCode::FAILURE
}

fn fail(message: &str) -> ExitCode {
    eprintln!("failed to garbage collect: {message}");
    ExitCode::FAILURE
}
