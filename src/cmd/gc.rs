//! `registry-gc garbage-collect`.

use registry_gc::error::GcError;
use registry_gc::layout::Layout;
use registry_gc::lock::StoreLock;
use registry_gc::{plan, report, sweep};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "registry-gc garbage-collect [OPTIONS] [CONFIG]";

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
            Err(f) => {
                eprintln!("failed to garbage collect: {f}");
                return ExitCode::FAILURE;
            }
        }
    };
    let options = plan::Options {
        delete_untagged: args.delete_untagged,
    };
    let plan = match plan::plan(&layout, options) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if !args.quiet {
        let mut out = BufWriter::new(io::stdout().lock());
        if let Err(e) = report::write_text(&plan, &mut out).and_then(|_| out.flush()) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                eprintln!("failed to write output: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if args.dry_run {
        return ExitCode::SUCCESS;
    }
    let applied = match sweep::apply(&layout, &plan) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
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
    ExitCode::SUCCESS
}

fn fail(e: &GcError) -> ExitCode {
    eprintln!("failed to garbage collect: {e}");
    ExitCode::FAILURE
}
