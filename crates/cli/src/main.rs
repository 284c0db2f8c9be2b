//! `nightjar`: the headless face of Nightjar. Same core, same config file as
//! the desktop app; no GUI library is linked.
//!
//! Exit status: 0 success; 1 a run failed; 2 bad usage or configuration.
//! Failures print one line on stderr; `--json` prints one JSON document on
//! stdout.

mod cli;
mod commands;
mod daemon;
mod logging;
mod onedrive;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The daemon's log lines are its output; other commands stay quiet unless -v.
    let level = if matches!(args.command, cli::Command::Run) { args.verbose.max(1) } else { args.verbose };
    let _guard = logging::init(level);
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar: {e}");
            match e.kind() {
                nightjar_core::ErrorKind::Config => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}
