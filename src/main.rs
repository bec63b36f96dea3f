//! Command line of registry-gc: argument parsing and printing only.

use clap::{Args, Parser, Subcommand};
use registry_gc::config::{self, ConfigError};
use registry_gc::layout::Layout;
use registry_gc::{logging, plan, report, sweep};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "registry-gc",
    version,
    about = "Garbage collector for distribution registry filesystem stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// `garbage-collect` deletes layers not referenced by any manifests
    GarbageCollect(GcArgs),
}

#[derive(Args)]
struct GcArgs {
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::GarbageCollect(args) => garbage_collect(&args),
    }
}

fn garbage_collect(args: &GcArgs) -> ExitCode {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let loaded = match config::load(args.config.as_deref(), &vars) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            if matches!(e, ConfigError::Invalid(_)) {
                eprintln!("\nUsage: registry-gc garbage-collect [OPTIONS] [CONFIG]\n\nFor more information, try '--help'.");
            }
            return ExitCode::FAILURE;
        }
    };
    for warning in &loaded.warnings {
        eprintln!("{}", logging::default_line(tracing::Level::WARN, warning));
    }
    let config = loaded.config;
    logging::init(&config.log);

    let layout = Layout::new(&config.root);
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

fn fail(e: &registry_gc::error::GcError) -> ExitCode {
    eprintln!("failed to garbage collect: {e}");
    ExitCode::FAILURE
}
