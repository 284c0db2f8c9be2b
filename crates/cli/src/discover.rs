//! `nightjar discover`: the database servers this user can reach, how
//! Nightjar logs in to each, their databases, and `--protect DB` to make
//! the proposed job for one and run its first backup.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use nightjar_core::discover::{self, Database, Discovery, Endpoint, LoginHow, Server};
use nightjar_core::model::Trigger;
use nightjar_core::runner::BackupOptions;
use nightjar_core::{Error, ErrorKind, Result};

use crate::cli::DiscoverArgs;
use crate::commands::Ctx;
use crate::output::{self, ProgressLine, print_json};

pub fn run(ctx: &Ctx, a: &DiscoverArgs) -> Result<ExitCode> {
    let config = ctx.config_or_empty()?;
    let defaults = discover::Defaults::system(nightjar_onedrive::synced::detect_folders());
    let probe = discover::SystemProbe;
    let secrets = ctx.engine.secrets().clone();
    let dctx = discover::Context { probe: &probe, secrets: secrets.as_ref(), config: &config, defaults: &defaults };
    let found = discover::discover(&dctx);
    let Some(db) = &a.protect else {
        if a.json {
            print_json(&found);
        } else {
            print_discovery(&found);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let server = pick_server(&found, db, a.server.as_deref())?;
    let form = discover::protect(&dctx, &ctx.config_path, &ctx.env, server, db)?;
    eprintln!("Saved the job \"{}\": {} backed up daily at 00:00 into {}, kept 7 days and the last 3.", form.name, db, form.destination);
    // The first backup, as `nightjar backup --job NAME` runs it.
    let job = ctx.config()?.job(&form.name)?.clone();
    ctx.history()?;
    let cancel = crate::commands::cancel_flag();
    let progress = ProgressLine::new(!a.json && std::io::stderr().is_terminal());
    let runner = ctx.engine.runner(&progress, &cancel)?;
    let result = runner.backup(&job, &BackupOptions::new(Trigger::Manual));
    progress.clear();
    match result {
        Ok(r) => {
            if a.json {
                print_json(&serde_json::json!({ "job": form, "backup": output::BackupRecord::Done(r) }));
            } else {
                output::print_backup(&r);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                print_json(&serde_json::json!({ "job": form, "error": e.message() }));
            }
            Err(Error::new(e.kind(), format!("The job \"{}\" was saved but its first backup failed: {}", form.name, e.message())))
        }
    }
}

/// The server whose database `db` is to be protected: `--server ID`, else
/// the only server listing a database of that name.
fn pick_server<'a>(found: &'a Discovery, db: &str, id: Option<&str>) -> Result<&'a Server> {
    if let Some(id) = id {
        return found
            .servers
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("No server \"{id}\" was found; `nightjar discover` lists the servers and their ids.")));
    }
    let with: Vec<&Server> = found.servers.iter().filter(|s| s.databases.iter().any(|d| d.name == db)).collect();
    match with.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::new(
            ErrorKind::NotFound,
            format!("No server Nightjar can log in to has a database \"{db}\"; `nightjar discover` lists the databases it found."),
        )),
        several => Err(Error::config(format!(
            "Several servers have a database \"{db}\"; add --server with one of: {}.",
            several.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn print_discovery(found: &Discovery) {
    if found.servers.is_empty() {
        println!("No database server was found.");
    }
    for s in &found.servers {
        println!("{}  [{}]", s.label, s.id);
        println!("  found by: {}", s.found_by.join("; "));
        match s.login.how {
            LoginHow::Works => println!("  login:    {}", s.login.message),
            LoginHow::NeedsPassword => {
                println!("  login:    {}", s.login.message);
                println!("            {}", password_hint(s));
            }
            LoginHow::Unreachable => println!("  login:    not reachable: {}", s.login.message),
        }
        if s.login.how == LoginHow::Works {
            if s.databases.is_empty() {
                println!("  no databases of its own yet");
            }
            let width = s.databases.iter().map(|d| d.name.chars().count()).max().unwrap_or(0);
            for d in &s.databases {
                let pad = " ".repeat(width.saturating_sub(d.name.chars().count()));
                println!("    {}{pad}  {:>10}  {}", d.name, output::size(d.size_bytes), action(found, s, d));
            }
        }
        println!();
    }
    if let Some(od) = &found.onedrive_folder {
        println!("New jobs back up into {} (the OneDrive folder {od}).", found.destination_hint);
    }
    for n in &found.notes {
        println!("{n}");
    }
}

fn action(found: &Discovery, s: &Server, d: &Database) -> String {
    if !d.protected_by.is_empty() {
        return format!("protected by {}", d.protected_by.join(", "));
    }
    let shared = found.servers.iter().filter(|o| o.databases.iter().any(|x| x.name == d.name)).count() > 1;
    let server = if shared { format!(" --server {}", s.id) } else { String::new() };
    format!("not backed up: nightjar discover --protect {}{server}", shell_word(&d.name))
}

/// What to run to store the password the server wants.
fn password_hint(s: &Server) -> String {
    let user = s.login.user.as_deref().unwrap_or("USER");
    match s.endpoints.iter().find(|e| !matches!(e, Endpoint::Docker { .. })) {
        Some(e) => {
            let db = if s.kind == nightjar_core::model::Engine::Postgres { "postgres" } else { "mysql" };
            let url = discover::url_for(s.kind, e, Some(user), db);
            format!("Store it with: nightjar password set --db '{url}' (or in the window's discovery), then run nightjar discover again.")
        }
        None => "Enter it in the window's discovery (Nightjar > Discover), which stores it in the keyring.".into(),
    }
}

fn shell_word(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}
