//! `registry-gc inventory`.

use registry_gc::inventory::{self, Glob};
use registry_gc::layout::Layout;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "registry-gc inventory [OPTIONS] [CONFIG]";

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
    /// only list repositories matching GLOB (`*` within a path component,
    /// `**` across them, `?` one character); repeatable; totals still cover
    /// the whole store
    #[arg(long = "repo", value_name = "GLOB")]
    repos: Vec<String>,
    /// also list each tag with its manifest digest, push time and size
    #[arg(long)]
    tags: bool,
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Prints what uses the disk, per repository and for the whole store.
/// Reads only and takes no lock.
pub fn run(args: &Args) -> ExitCode {
    let config = match super::load_config(args.config.as_deref(), USAGE) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let layout = Layout::new(&config.root);
    let options = inventory::Options {
        repos: args.repos.iter().map(|g| Glob::new(g)).collect(),
        tags: args.tags,
    };
    let inv = match inventory::inventory(&layout, &options) {
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
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("failed to write output: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
