//! `nightjar alert`: send a test through an alert, keep an alert's secret
//! (read from stdin or a prompt, never the command line), list the alerts
//! with their last delivery.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nightjar_core::alerts::{self, AlertSpec, Delivery};
use nightjar_core::{Error, ErrorKind, Result};
use serde::Serialize;

use crate::commands::Ctx;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a test message through one alert (or every alert) now, and say whether it arrived.
    Test(TestArgs),
    /// Store an alert's secret (SMTP password, bot token, or a webhook URL with a token), read from stdin or prompted.
    Secret(SecretArgs),
    /// The alerts, what they are sent for, and each one's last delivery.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The alert (default: every alert).
    pub name: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SecretArgs {
    /// The alert.
    pub name: String,
    /// Remove the stored secret instead.
    #[arg(long)]
    pub delete: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// One alert as `alert list --json` and `status --json` show it.
#[derive(Debug, Serialize)]
pub struct AlertStatus {
    /// Its name.
    pub name: String,
    /// email, webhook, telegram or ping.
    pub kind: &'static str,
    /// Where it goes (no secret).
    pub target: String,
    /// The events it is sent for.
    pub events: Vec<&'static str>,
    /// The jobs it covers (empty: every job).
    pub jobs: Vec<String>,
    /// Its last delivery attempt.
    pub last_delivery: Option<Delivery>,
    /// Alerts waiting to be sent.
    pub queued: usize,
}

/// Every configured alert with its last delivery (from the data folder).
pub fn statuses(specs: &[AlertSpec], data: &nightjar_core::DataDir) -> Vec<AlertStatus> {
    let (deliveries, queued) = alerts::last_deliveries(data);
    specs
        .iter()
        .map(|a| AlertStatus {
            name: a.name.clone(),
            kind: a.kind.as_str(),
            target: target(a),
            events: if a.kind == alerts::AlertKind::Ping {
                vec!["start", "success", "fail"]
            } else if a.events.is_empty() {
                alerts::EventKind::ALL.iter().map(|e| e.as_str()).collect()
            } else {
                a.events.iter().map(|e| e.as_str()).collect()
            },
            jobs: a.jobs.clone(),
            last_delivery: deliveries.get(&a.name).cloned(),
            queued: queued.get(&a.name).copied().unwrap_or(0),
        })
        .collect()
}

/// Where an alert goes, without its secret.
fn target(a: &AlertSpec) -> String {
    use alerts::AlertKind;
    match a.kind {
        AlertKind::Email => format!("{} via {}", a.to.join(", "), a.smtp.as_deref().and_then(|s| alerts::SmtpServer::parse(s).ok()).map_or_else(String::new, |s| s.host)),
        AlertKind::Webhook | AlertKind::Ping => a.url.as_deref().and_then(|u| url::Url::parse(u).ok()).and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "the URL in the keyring".into()),
        AlertKind::Telegram => format!("chat {}", a.chat_id.as_deref().unwrap_or("")),
    }
}

/// One line about a delivery ("delivered 2026-12-06 10:00:00 EET (failure)").
pub fn describe(d: &Delivery) -> String {
    let what = match &d.job {
        Some(j) => format!("{} of {j}", d.event),
        None => d.event.clone(),
    };
    let mut s = format!("{} {} ({what})", d.result, crate::output::local(d.at));
    if let Some(e) = &d.error {
        s.push_str(&format!(": {e}"));
    }
    s
}

pub fn run(ctx: &Ctx, cmd: AlertCommand) -> Result<ExitCode> {
    let config = ctx.config()?;
    match cmd {
        AlertCommand::Test(a) => {
            let results = ctx.engine.alerts().test(a.name.as_deref())?;
            if results.is_empty() {
                return Err(Error::config(format!("{} has no [[alert]] yet; add one (see the README's \"Alerts\").", ctx.config_path.display())));
            }
            if a.json {
                print_json(&results);
            } else {
                for r in &results {
                    match &r.error {
                        None => println!("{}: delivered.", r.alert),
                        Some(e) => println!("{}: NOT delivered: {e}.", r.alert),
                    }
                }
            }
            let failed: Vec<&str> = results.iter().filter(|r| !r.delivered).map(|r| r.alert.as_str()).collect();
            if failed.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("nightjar: the test did not arrive through {}; check the address and the secret (`nightjar alert secret NAME`), then test again.", failed.join(", "));
                Ok(ExitCode::from(1))
            }
        }
        AlertCommand::Secret(a) => {
            let alert = config.raw.alerts.iter().find(|x| x.name == a.name).ok_or_else(|| {
                let names: Vec<&str> = config.raw.alerts.iter().map(|x| x.name.as_str()).collect();
                Error::not_found(format!("There is no alert \"{}\" in {}; the alerts are: {}.", a.name, ctx.config_path.display(), if names.is_empty() { "none yet".into() } else { names.join(", ") }))
            })?;
            let store = ctx.engine.secrets();
            let account = alert.account();
            let label = alert.kind.secret_label();
            if a.delete {
                if store.delete(&account)? {
                    eprintln!("Removed {label} of alert \"{}\" from {}.", alert.name, crate::commands::store_name(ctx));
                } else {
                    eprintln!("No secret was stored for alert \"{}\".", alert.name);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let secret = read_secret(&format!("{} of alert \"{}\": ", capitalize(label), alert.name))?;
            store.set(&account, &secret)?;
            eprintln!("Stored {label} of alert \"{}\" in {}; try it with `nightjar alert test {}`.", alert.name, crate::commands::store_name(ctx), alert.name);
            Ok(ExitCode::SUCCESS)
        }
        AlertCommand::List(a) => {
            let list = statuses(&config.raw.alerts, ctx.engine.data());
            if a.json {
                print_json(&list);
            } else if list.is_empty() {
                println!("No alerts: add an [[alert]] to {} (see the README's \"Alerts\").", ctx.config_path.display());
            } else {
                print_alerts(&list);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The alerts block of `status` and `alert list`.
pub fn print_alerts(list: &[AlertStatus]) {
    for s in list {
        let jobs = if s.jobs.is_empty() { "every job".to_string() } else { s.jobs.join(", ") };
        println!("alert {} ({} to {}): {} for {jobs}", s.name, s.kind, s.target, s.events.join(", "));
        match &s.last_delivery {
            Some(d) => println!("  last delivery: {}", describe(d)),
            None => println!("  last delivery: none yet"),
        }
        if s.queued > 0 {
            println!("  waiting to be sent: {}", s.queued);
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

fn read_secret(prompt: &str) -> Result<String> {
    let s = crate::commands::read_secret(prompt, "secret", false)?.trim().to_string();
    if s.is_empty() {
        return Err(Error::new(ErrorKind::Config, "The secret is empty; nothing was stored."));
    }
    Ok(s)
}
