//! `registry-gc purge-uploads`.

use registry_gc::metrics::RunMetrics;
use registry_gc::plan::Phase;
use registry_gc::prune::format_age;
use registry_gc::units::{human_bytes, parse_duration, plural};
use registry_gc::uploads::{self, PurgeError, StartedFrom, UploadPlan};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Exit code after SIGINT/SIGTERM stopped the run (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Flags of `purge-uploads`.
#[derive(clap::Args)]
#[command(
    after_help = "An upload's age comes from its startedat file (RFC3339), or, when that is missing or unreadable, from the newest mtime of its directory and its data file."
)]
pub struct Args {
    /// print the uploads that would be deleted; change nothing
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    dry_run: bool,
    /// delete uploads started longer ago than this (as the registry's own purger)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "168h")]
    older_than: Duration,
    /// write Prometheus metrics of the run to this file (node_exporter's
    /// textfile format, replaced atomically; written on failure too)
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Plans the purge, prints it and, in a real run, applies it.
pub fn run(args: &Args) -> ExitCode {
    super::with_metrics(
        args.metrics_file.as_deref(),
        "purge-uploads",
        args.dry_run,
        "failed to purge uploads",
        |metrics| purge(args, metrics),
    )
}

fn purge(args: &Args, metrics: &mut RunMetrics) -> ExitCode {
    let opened = match super::open_store(
        args.config.as_deref(),
        args.dry_run,
        "failed to purge uploads",
        registry_gc::store::DEFAULT_IN_FLIGHT,
    ) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let layout = &opened.layout;
    let (plan, phase) = Phase::time("plan", || {
        uploads::plan(layout, args.older_than, SystemTime::now())
    });
    metrics.phase(phase.name, phase.duration);
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    metrics.record_purge(&plan, None);
    if !args.dry_run {
        let (done, phase) = Phase::time("delete", || uploads::apply(layout, &plan));
        metrics.phase(phase.name, phase.duration);
        match done {
            Ok(done) => metrics.record_purge(&plan, Some(done)),
            Err(PurgeError::Interrupted) => {
                eprintln!("interrupted: run again to finish");
                return ExitCode::from(INTERRUPTED);
            }
            Err(e) => return fail(&e.to_string()),
        }
    }
    let mut out = BufWriter::new(io::stdout().lock());
    match write_report(&plan, args.dry_run, &mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            fail(&format!("failed to write output: {e}"))
        }
        _ => ExitCode::SUCCESS,
    }
}

fn write_report(plan: &UploadPlan, dry_run: bool, out: &mut impl Write) -> io::Result<()> {
    let what = if dry_run {
        "eligible for deletion"
    } else {
        "deleted"
    };
    for u in &plan.purge {
        let since = match u.from {
            StartedFrom::StartedAt => "started",
            StartedFrom::Mtime => "no startedat, last written",
        };
        let age = format_age(u.age);
        writeln!(
            out,
            "{}: upload {} {what}, {since} {age} ago, {}",
            u.repo,
            u.uuid,
            human_bytes(u.bytes)
        )?;
    }
    writeln!(
        out,
        "{} {what} ({}), {} younger kept",
        plural(plan.purge.len() as u64, "upload"),
        human_bytes(plan.bytes()),
        plan.kept
    )?;
    if plan.multipart.is_empty() && plan.multipart_kept == 0 {
        return Ok(());
    }
    let what = if dry_run { "to abort" } else { "aborted" };
    for m in &plan.multipart {
        writeln!(
            out,
            "multipart upload {} ({}) {what}, started {} ago",
            m.upload.key,
            m.upload.id,
            format_age(m.age)
        )?;
    }
    writeln!(
        out,
        "{} {what}, {} younger kept",
        plural(plan.multipart.len() as u64, "incomplete multipart upload"),
        plan.multipart_kept
    )
}

fn fail(message: &str) -> ExitCode {
    eprintln!("failed to purge uploads: {message}");
    ExitCode::FAILURE
}
