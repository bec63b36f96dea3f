//! `registry-gc completions SHELL`.

use clap_complete::Shell;
use std::io;
use std::process::ExitCode;

/// Flags of `completions`.
#[derive(clap::Args)]
#[command(
    after_help = "Install, e.g.:\n  registry-gc completions bash > /etc/bash_completion.d/registry-gc\n  registry-gc completions zsh > /usr/local/share/zsh/site-functions/_registry-gc\n  registry-gc completions fish > ~/.config/fish/completions/registry-gc.fish"
)]
pub struct Args {
    /// the shell to complete in
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script of `cli` (the whole command line) for the shell.
pub fn run(args: &Args, mut cli: clap::Command) -> ExitCode {
    clap_complete::generate(args.shell, &mut cli, "registry-gc", &mut io::stdout());
    ExitCode::SUCCESS
}
