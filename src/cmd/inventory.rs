//! `registry-gc inventory`.

use registry_gc::inventory::{self, Glob};
use registry_gc::units::plural;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Flags of `inventory`.
#[derive(clap::Args)]
pub struct Args {
    /// output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// only list repositories matching GLOB (* within a path component,
    /// ** across them, ? one character); repeatable; totals still cover
    /// the whole store
    #[arg(long = "repo", value_name = "GLOB")]
    repos: Vec<String>,
    /// also list each tag with its manifest digest, push time and size
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    tags: bool,
    /// list unreadable files instead of failing, count everything they might
    /// reference as referenced (as garbage-collect --keep-going keeps it),
    /// and exit 1 at the end if anything was unreadable
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    keep_going: bool,
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Prints what uses the disk, per repository and for the whole store.
/// Reads only and takes no lock.
pub fn run(args: &Args) -> ExitCode {
    let opened = match super::open_store(
        args.config.as_deref(),
        true,
        "failed to take inventory",
        registry_gc::store::DEFAULT_IN_FLIGHT,
    ) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let layout = &opened.layout;
    let options = inventory::Options {
        repos: args.repos.iter().map(|g| Glob::new(g)).collect(),
        tags: args.tags,
        keep_going: args.keep_going,
    };
    let inv = match inventory::inventory(layout, &options) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("failed to take inventory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let written = match args.format {
        Format::Table => inventory::write_table(&inv, args.tags, &mut out),
        Format::Json => inventory::write_json(&inv, layout.root(), args.tags, &mut out),
        Format::Csv => inventory::write_csv(&inv, args.tags, &mut out),
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("failed to write output: {e}");
            return ExitCode::FAILURE;
        }
    }
    if inv.faults.is_empty() {
        return ExitCode::SUCCESS;
    }
    for fault in &inv.faults {
        tracing::error!("unreadable, counted as referencing everything it might: {fault}");
    }
    eprintln!(
        "failed to take inventory: {} (listed above); everything {} might reference was counted as referenced",
        plural(inv.faults.len() as u64, "unreadable file"),
        if inv.faults.len() == 1 { "it" } else { "they" }
    );
    ExitCode::FAILURE
}
