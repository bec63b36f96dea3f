//! Command line of registry-gc: argument parsing and printing only.

mod cmd;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Delete blobs no manifest references (with -m, also manifests no tag reaches)
    GarbageCollect(cmd::gc::Args),
    /// Delete tags by age and count; garbage-collect -m then reclaims their manifests
    PruneTags(cmd::prune_tags::Args),
    /// Delete abandoned uploads (as the registry's own upload purger)
    PurgeUploads(cmd::purge_uploads::Args),
    /// Show what uses the disk: per repository and for the whole store
    Inventory(cmd::inventory::Args),
    /// Print a shell completion script (bash, zsh, fish, ...)
    Completions(cmd::completions::Args),
    /// Write the man pages (registry-gc.1, one per subcommand)
    Man(cmd::man::Args),
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
        Command::GarbageCollect(args) => cmd::gc::run(&args),
        Command::PruneTags(args) => cmd::prune_tags::run(&args),
        Command::PurgeUploads(args) => cmd::purge_uploads::run(&args),
        Command::Inventory(args) => cmd::inventory::run(&args),
        Command::Completions(args) => cmd::completions::run(&args, Cli::command()),
        Command::Man(args) => cmd::man::run(&args, Cli::command()),
    }
}
