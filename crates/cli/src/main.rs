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

fn main() -> ExitCode {
    // `--json` asked for one document on stdout, on failure too.
    let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(&e, json),
    };
    // The daemon's log lines are its output; other commands stay quiet unless -v.
    let level = if matches!(args.command, cli::Command::Run) { args.verbose.max(1) } else { args.verbose };
    let _guard = logging::init(level);
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar: {e}");
            if json && !output::json_printed() {
                output::print_json_failure(&e.to_string(), e.kind().code());
            }
            match e.kind() {
                nightjar_core::ErrorKind::Config | nightjar_core::ErrorKind::NotFound | nightjar_core::ErrorKind::NeedsConfirmation => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// Prints clap's message (help, version, or a usage error) and returns its
/// exit code. A usage error is one line on stderr (what is wrong, clap's
/// tip, and where the help is), and with `--json` also the failure
/// document. It may quote what was typed (`unexpected argument
/// 'postgres://u:pw@h/db'`), so every argument is shown with its URL
/// password replaced, even one that is not a well-formed URL.
fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let mut text = one_line(&e.render().to_string(), subcommand().as_deref());
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy();
        let shown = nightjar_core::db::redact_url(&arg);
        if shown != arg {
            text = text.replace(arg.as_ref(), &shown);
        }
    }
    let text = nightjar_core::db::redact(&text);
    eprintln!("nightjar: {text}");
    if json {
        output::print_json_failure(&text, "usage");
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// The subcommand typed (`restore`), when the command line names one.
fn subcommand() -> Option<String> {
    use clap::CommandFactory as _;
    let cmd = cli::Cli::command();
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_string()).collect();
    // args_os: `std::env::args` panics on an argument that is not UTF-8 (a file name).
    std::env::args_os().skip(1).filter_map(|a| a.into_string().ok()).find(|a| names.contains(a))
}

/// Clap's message as one sentence: "error: the following required
/// arguments were not provided:\n  <FILE>\n\nUsage: …" becomes "the
/// following required arguments were not provided: <FILE>; see `nightjar
/// restore --help`."
fn one_line(rendered: &str, sub: Option<&str>) -> String {
    let body = rendered.split("\nUsage:").next().unwrap_or(rendered);
    let body = body.split("\nFor more information").next().unwrap_or(body);
    let mut out = String::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.strip_prefix("error: ").unwrap_or(line);
        if out.is_empty() {
            out.push_str(line);
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            out.push_str("; ");
            out.push_str(tip);
        } else if out.ends_with(':') {
            out.push(' ');
            out.push_str(line);
        } else {
            out.push_str(", ");
            out.push_str(line);
        }
    }
    let out = out.trim_end_matches(['.', ':']);
    match sub {
        Some(s) => format!("{out}; see `nightjar {s} --help`."),
        None => format!("{out}; see `nightjar --help`."),
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn clap_messages_become_one_line() {
        let missing = "error: the following required arguments were not provided:\n  <FILE>\n  --db <URL>\n\nUsage: nightjar restore <FILE> --db <URL>\n\nFor more information, try '--help'.\n";
        assert_eq!(one_line(missing, Some("restore")), "the following required arguments were not provided: <FILE>, --db <URL>; see `nightjar restore --help`.");
        let unexpected = "error: unexpected argument '--jbo' found\n\n  tip: a similar argument exists: '--job'\n\nUsage: nightjar backup --job <NAME>\n\nFor more information, try '--help'.\n";
        assert_eq!(one_line(unexpected, Some("backup")), "unexpected argument '--jbo' found; a similar argument exists: '--job'; see `nightjar backup --help`.");
        let unknown = "error: unrecognized subcommand 'frobnicate'\n\nUsage: nightjar [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n";
        assert_eq!(one_line(unknown, None), "unrecognized subcommand 'frobnicate'; see `nightjar --help`.");
    }
}
