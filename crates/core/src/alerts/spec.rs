//! `[[alert]]` as written, and its validation (every error names the
//! alert and the field).

use serde::{Deserialize, Serialize};

use crate::config::{parse_duration, RawJob};
use crate::{Error, Result};

/// What an alert is (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A message through an SMTP server.
    Email,
    /// An HTTP POST (`format`: json, slack, discord, teams).
    Webhook,
    /// A Telegram bot message.
    Telegram,
    /// healthchecks.io-style pings: `URL/start`, `URL`, `URL/fail`.
    Ping,
}

impl AlertKind {
    /// As written in the config.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Email => "email",
            AlertKind::Webhook => "webhook",
            AlertKind::Telegram => "telegram",
            AlertKind::Ping => "ping",
        }
    }

    /// What the keyring entry `alert:NAME` holds for this kind.
    #[must_use]
    pub fn secret_label(self) -> &'static str {
        match self {
            AlertKind::Email => "the SMTP password",
            AlertKind::Webhook => "the webhook URL",
            AlertKind::Telegram => "the bot token",
            AlertKind::Ping => "the ping URL",
        }
    }
}

/// `tls` of an email alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte, port 465 by default.
    Tls,
    /// No encryption at all (local relays only), port 25 by default.
    None,
}

/// `format` of a webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The stable JSON body ([`super::Notice`]).
    #[default]
    Json,
    /// `{"text": …}` (Slack incoming webhooks, Mattermost, Rocket.Chat).
    Slack,
    /// `{"content": …}`.
    Discord,
    /// `{"text": …}` (Teams incoming webhooks and workflows).
    Teams,
}

/// What an alert is sent for (`events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A run failed for good (after its retries).
    Failure,
    /// The first good run after failures (or a stale job backed up again).
    Recovery,
    /// No good backup within the job's `stale_after`.
    Stale,
    /// A backup in a OneDrive-synced folder did not reach OneDrive.
    NotInCloud,
    /// The OneDrive sign-in needs renewing.
    SignInExpiring,
    /// The destination is short of space.
    DiskLow,
    /// The edited config file does not load.
    ConfigError,
    /// A scheduled test restore failed.
    VerifyFailed,
}

impl EventKind {
    /// Every event, in the order the README lists them.
    pub const ALL: [EventKind; 8] = [
        EventKind::Failure,
        EventKind::Recovery,
        EventKind::Stale,
        EventKind::NotInCloud,
        EventKind::SignInExpiring,
        EventKind::DiskLow,
        EventKind::ConfigError,
        EventKind::VerifyFailed,
    ];

    /// As written in the config and the JSON body.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Failure => "failure",
            EventKind::Recovery => "recovery",
            EventKind::Stale => "stale",
            EventKind::NotInCloud => "not-in-cloud",
            EventKind::SignInExpiring => "sign-in-expiring",
            EventKind::DiskLow => "disk-low",
            EventKind::ConfigError => "config-error",
            EventKind::VerifyFailed => "verify-failed",
        }
    }
}

/// One `[[alert]]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// Unique name (`nightjar alert test NAME`; the keyring entry `alert:NAME`).
    pub name: String,
    /// email, webhook, telegram or ping.
    pub kind: AlertKind,
    /// What it is sent for (default: every event; pings ignore it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// Which jobs (default: every job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<String>,
    /// While a problem lasts, remind at most this often (default "24h").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every: Option<String>,
    /// Email: `smtp://user@host:port` (the password in the keyring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// Email: starttls (default), tls or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SmtpTls>,
    /// Email: the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Email: the recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Webhook or ping: the URL (or none, when it is kept in the keyring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhook: json (default), slack, discord or teams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WebhookFormat>,
    /// Telegram: the chat (or channel) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// Telegram: the Bot API's address (default `https://api.telegram.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
}

/// The Telegram Bot API.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// Reminders while a problem lasts, by default.
pub const DEFAULT_REMIND: &str = "24h";

impl AlertSpec {
    /// A new alert of `kind` with nothing else set.
    #[must_use]
    pub fn new(name: &str, kind: AlertKind) -> Self {
        Self {
            name: name.to_string(),
            kind,
            events: Vec::new(),
            jobs: Vec::new(),
            remind_every: None,
            smtp: None,
            tls: None,
            from: None,
            to: Vec::new(),
            url: None,
            format: None,
            chat_id: None,
            api_base_url: None,
        }
    }

    /// The keyring account of its secret.
    #[must_use]
    pub fn account(&self) -> String {
        account(&self.name)
    }

    /// True when it is sent for `event` (pings: never; they have their own signals).
    #[must_use]
    pub fn wants(&self, event: EventKind) -> bool {
        self.kind != AlertKind::Ping && (self.events.is_empty() || self.events.contains(&event))
    }

    /// True when it covers `job` (events of no job are for every alert).
    #[must_use]
    pub fn covers(&self, job: Option<&str>) -> bool {
        job.is_none_or(|j| self.jobs.is_empty() || self.jobs.iter().any(|x| x == j))
    }

    /// `remind_every` (validated; the default when unset).
    #[must_use]
    pub fn remind(&self) -> chrono::Duration {
        parse_duration(self.remind_every.as_deref().unwrap_or(DEFAULT_REMIND)).unwrap_or_else(|_| chrono::Duration::hours(24))
    }

    /// Checks one alert (the message names the field).
    fn check(&self, jobs: &[RawJob]) -> std::result::Result<(), (&'static str, String)> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(("name", "use letters, digits, '-', '_' or '.' (it names the alert in commands and the keyring)".into()));
        }
        if let Some(r) = &self.remind_every {
            let d = parse_duration(r).map_err(|e| ("remind_every", e.message().trim_end_matches('.').to_string()))?;
            if d < chrono::Duration::minutes(1) {
                return Err(("remind_every", "use at least \"1m\"".into()));
            }
        }
        for j in &self.jobs {
            if !jobs.iter().any(|rj| &rj.name == j) {
                let names: Vec<&str> = jobs.iter().map(|rj| rj.name.as_str()).collect();
                return Err(("jobs", format!("there is no job \"{j}\" (the jobs are: {})", if names.is_empty() { "none yet".into() } else { names.join(", ") })));
            }
        }
        let only = |field: &'static str, set: bool, kinds: &str| if set { Err((field, format!("it is only used by {kinds} alerts; remove it"))) } else { Ok(()) };
        let email = self.kind == AlertKind::Email;
        only("smtp", !email && self.smtp.is_some(), "email")?;
        only("tls", !email && self.tls.is_some(), "email")?;
        only("from", !email && self.from.is_some(), "email")?;
        only("to", !email && !self.to.is_empty(), "email")?;
        only("url", !matches!(self.kind, AlertKind::Webhook | AlertKind::Ping) && self.url.is_some(), "webhook and ping")?;
        only("format", self.kind != AlertKind::Webhook && self.format.is_some(), "webhook")?;
        only("chat_id", self.kind != AlertKind::Telegram && self.chat_id.is_some(), "telegram")?;
        only("api_base_url", self.kind != AlertKind::Telegram && self.api_base_url.is_some(), "telegram")?;
        only("events", self.kind == AlertKind::Ping && !self.events.is_empty(), "email, webhook and telegram")?;
        match self.kind {
            AlertKind::Email => {
                let smtp = self.smtp.as_deref().ok_or(("smtp", "required: the SMTP server, e.g. \"smtp://user@smtp.example.com:587\"".to_string()))?;
                SmtpServer::parse(smtp).map_err(|m| ("smtp", m))?;
                let from = self.from.as_deref().ok_or(("from", "required: the sender address, e.g. \"nightjar@example.com\"".to_string()))?;
                if !looks_like_address(from) {
                    return Err(("from", format!("\"{from}\" is not an email address")));
                }
                if self.to.is_empty() {
                    return Err(("to", "required: at least one recipient, e.g. [\"ops@example.com\"]".into()));
                }
                if let Some(bad) = self.to.iter().find(|a| !looks_like_address(a)) {
                    return Err(("to", format!("\"{bad}\" is not an email address")));
                }
            }
            AlertKind::Webhook | AlertKind::Ping => {
                if let Some(u) = &self.url {
                    check_http_url(u).map_err(|m| ("url", m))?;
                }
            }
            AlertKind::Telegram => {
                if self.chat_id.as_deref().is_none_or(str::is_empty) {
                    return Err(("chat_id", "required: the chat id, e.g. \"-1001234567890\" (the bot token goes in the keyring)".into()));
                }
                if let Some(u) = &self.api_base_url {
                    check_http_url(u).map_err(|m| ("api_base_url", m))?;
                }
            }
        }
        Ok(())
    }
}

/// The keyring account of the alert `name`'s secret.
#[must_use]
pub fn account(name: &str) -> String {
    format!("alert:{name}")
}

fn looks_like_address(a: &str) -> bool {
    a.parse::<lettre::Address>().is_ok() || a.parse::<lettre::message::Mailbox>().is_ok()
}

fn check_http_url(u: &str) -> std::result::Result<(), String> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {
            if p.password().is_some() {
                return Err("the URL carries a password; leave `url` out and store the URL with `nightjar alert secret NAME`".into());
            }
            Ok(())
        }
        Ok(_) => Err(format!("\"{u}\" is not an http:// or https:// address")),
        Err(e) => Err(format!("\"{u}\" is not a URL ({e})")),
    }
}

/// `smtp` of an email alert, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// Host name.
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
    /// User name, when the server wants a login.
    pub user: Option<String>,
}

impl SmtpServer {
    /// Parses `smtp://user@host:port` (`smtps://` is taken as `smtp://`; `tls` decides).
    ///
    /// # Errors
    /// What is wrong, as the rest of a sentence.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let u = url::Url::parse(text).map_err(|e| format!("\"{text}\" is not a URL ({e}); write \"smtp://user@host:port\""))?;
        if !matches!(u.scheme(), "smtp" | "smtps") {
            return Err(format!("\"{text}\" does not start with smtp://"));
        }
        if u.password().is_some() {
            return Err("it carries a password; remove it and store the password with `nightjar alert secret NAME`".into());
        }
        let host = u.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("\"{text}\" has no host"))?.to_string();
        let user = (!u.username().is_empty()).then(|| percent_decode(u.username()));
        Ok(Self { host, port: u.port(), user })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks every `[[alert]]` of a config file.
///
/// # Errors
/// A config error naming the file, the alert and the field.
pub fn validate(alerts: &[AlertSpec], jobs: &[RawJob], file: &str) -> Result<()> {
    for (i, a) in alerts.iter().enumerate() {
        let who = if a.name.is_empty() { format!("alert #{}", i + 1) } else { format!("alert \"{}\"", a.name) };
        a.check(jobs).map_err(|(field, msg)| Error::config(format!("{file}: {who}, field `{field}`: {msg}.")))?;
        if alerts[..i].iter().any(|b| b.name == a.name) {
            return Err(Error::config(format!("{file}: alert \"{}\" appears twice; alert names must be unique.", a.name)));
        }
    }
    Ok(())
}
