//! `nightjar`: the headless face of Nightjar. Same core, same config file as
//! the desktop app; no GUI library is linked.
//!
//! Exit status: 0 success; 1 a run failed; 2 bad usage or configuration.
//! Failures print one line on stderr; `--json` prints one JSON document on
//! stdout.

mod alert;
mod cli;
mod commands;
mod daemon;
mod discover;
mod key;
mod logging;
mod onedrive;
mod output;
mod service;

use std::process::ExitCode;

use clap::Parser as _;
use std::io::IsTerminal as _;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(&e),
    };
    // The daemon's log lines are its output; other commands stay quiet unless -v.
    let level = if matches!(args.command, cli::Command::Run) { args.verbose.max(1) } else { args.verbose };
    let _guard = logging::init(level);
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar: {e}");
            match e.kind() {
                nightjar_core::ErrorKind::Config | nightjar_core::ErrorKind::NotFound | nightjar_core::ErrorKind::NeedsConfirmation => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// Prints clap's message (help, version, or a usage error) and returns its
/// exit code. A usage error may quote what was typed (`unexpected argument
/// 'postgres://u:pw@h/db'`), so every argument is shown with its URL
/// password replaced, even one that is not a well-formed URL.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let styled = e.render();
    let mut text = if std::io::stderr().is_terminal() { styled.ansi().to_string() } else { styled.to_string() };
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy();
        let shown = nightjar_core::db::redact_url(&arg);
        if shown != arg {
            text = text.replace(arg.as_ref(), &shown);
        }
    }
    eprint!("{}", nightjar_core::db::redact(&text));
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
