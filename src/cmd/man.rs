//! `registry-gc man --dir DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `man`.
#[derive(clap::Args)]
pub struct Args {
    /// write the pages into this directory (created if missing)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

/// Writes `registry-gc.1` and one `registry-gc-<subcommand>.1` per
/// subcommand of `cli`, all rendered from its clap definitions.
pub fn run(args: &Args, cli: clap::Command) -> ExitCode {
    match std::fs::create_dir_all(&args.dir).and_then(|()| clap_mangen::generate_to(cli, &args.dir))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failed to write man pages to {}: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}
