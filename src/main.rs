//! Command line of registry-gc: argument parsing and printing only.

mod cmd;

use clap::{Parser, Subcommand};
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
    GarbageCollect(cmd::gc::Args),
    /// `inventory` shows what uses the disk: per repository and for the whole store
    Inventory(cmd::inventory::Args),
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
        Command::Inventory(args) => cmd::inventory::run(&args),
    }
}
