//! `registry-gc garbage-collect`.

use registry_gc::error::GcError;
use registry_gc::layout::Layout;
use registry_gc::lock::StoreLock;
use registry_gc::sweep::Applied;
use registry_gc::{interrupt, plan, recheck, report, sweep};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
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
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Runs the collection and prints its plan (and, in a real run, applies it).
pub fn run(args: &Args) -> ExitCode {
    let config = match super::load_config(args.config.as_deref(), USAGE) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let layout = Layout::new(&config.root);
    let _lock = if args.dry_run {
        None
    } else {
        match StoreLock::acquire(layout.root()) {
            Ok(l) => Some(l),
            Err(f) => return fail(&f.to_string()),
        }
    };
    interrupt::install();
    let options = plan::Options {
        delete_untagged: args.delete_untagged,
        grace_period: args.grace_period.filter(|g| !g.is_zero()),
        keep_going: args.keep_going,
    };
    let mut plan = match plan::plan(&layout, options) {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    if !args.quiet {
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
    if args.dry_run {
        return broken_files_exit(&plan);
    }
    match recheck::recheck(&layout, &mut plan) {
        Ok(r) if r.roots > 0 => tracing::info!(
            "re-check: {} manifests written during the run keep {} blobs, {} manifests and {} layer links",
            r.roots,
            r.blobs,
            r.manifests,
            r.layer_links
        ),
        Ok(_) => {}
        Err(e) => return fail(&e.to_string()),
    }
    let (applied, result) = sweep::apply(&layout, &plan);
    if applied.blobs > 0 {
        let cache = config
            .blob_descriptor_cache
            .as_deref()
            .map(|c| format!(" (this configuration sets it to {c})"))
            .unwrap_or_default();
        tracing::warn!(
            "deleted {} blobs: restart any registry serving this store with storage.cache.blobdescriptor{cache}, or it will keep answering for deleted blobs",
            applied.blobs
        );
    }
    match result {
        Ok(()) => broken_files_exit(&plan),
        Err(GcError::Interrupted) => {
            eprintln!("interrupted: {}; run again to finish", done(&applied));
            ExitCode::from(INTERRUPTED)
        }
        Err(e) => {
            eprintln!("failed to garbage collect: {e}");
            eprintln!("before the failure: {}", done(&applied));
            ExitCode::FAILURE
        }
    }
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
