//! The TOML configuration shared by the CLI, the daemon and the desktop app.
//!
//! Two stages, as ripgrep's low/high-level args: [`Config::parse`] turns text
//! into validated, typed jobs without any I/O (no files, no keyring, no
//! tool lookup); the runner resolves the rest (passwords, `pg_dump`) when a
//! job actually runs. Every error names the file, the job and the field, and
//! says what is allowed.
//!
//! No secret is ever stored here: a database URL that carries a password is
//! rejected with a pointer to `nightjar password set`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::db::{DbUrl, UrlOrigin};
use crate::model::{Compression, Format};
use crate::names::validate_job_name;
use crate::retention::RetentionPolicy;
use crate::schedule::Schedule;
use crate::{Error, Result};

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "NIGHTJAR_CONFIG";

/// The config file as written (raw serde shape, defaults applied).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The backup jobs (`[[job]]`).
    #[serde(default, rename = "job")]
    pub jobs: Vec<RawJob>,
    /// OneDrive settings (`[onedrive]`).
    #[serde(default)]
    pub onedrive: OneDriveSettings,
    /// S3-compatible storage settings (`[s3]`), used by `s3://` destinations.
    #[serde(default, skip_serializing_if = "S3Settings::is_default")]
    pub s3: S3Settings,
    /// Where secrets are kept (`[secrets]`).
    #[serde(default, skip_serializing_if = "SecretsSettings::is_default")]
    pub secrets: SecretsSettings,
    /// Alerts by email, webhook, Telegram or ping (`[[alert]]`).
    #[serde(default, rename = "alert", skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<crate::alerts::AlertSpec>,
    /// The desktop app's settings (`[ui]`).
    #[serde(default, skip_serializing_if = "UiSettings::is_default")]
    pub ui: UiSettings,
}

/// `[ui]`: how the desktop app (window, tray, notifications) speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// `auto` (the system's language) or one of [`Language`]'s codes.
    pub language: Language,
}

impl UiSettings {
    /// The default (`language = "auto"`).
    #[must_use]
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[ui] language`: `auto` follows the system's locale (English when it
/// is none of the others).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// The system's language.
    #[default]
    Auto,
    /// English.
    En,
    /// Russian.
    Ru,
    /// Turkish.
    Tr,
    /// French.
    Fr,
    /// Thai.
    Th,
}

impl Language {
    /// Every choice, as written in the file.
    pub const CHOICES: [&'static str; 6] = ["auto", "en", "ru", "tr", "fr", "th"];

    /// The value as written in the file (`auto`, `en`, …).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::En => "en",
            Self::Ru => "ru",
            Self::Tr => "tr",
            Self::Fr => "fr",
            Self::Th => "th",
        }
    }

    /// Reads a value as written in the file.
    ///
    /// # Errors
    /// A config error listing the choices.
    pub fn parse(s: &str) -> Result<Self> {
        let all = [Self::Auto, Self::En, Self::Ru, Self::Tr, Self::Fr, Self::Th];
        all.into_iter().find(|l| l.code() == s.trim()).ok_or_else(|| Error::config(format!("\"{s}\" is not a language; use {} (\"auto\" follows the system)", Self::choices_list())))
    }

    /// "\"auto\", \"en\", \"ru\", \"tr\", \"fr\" or \"th\"".
    fn choices_list() -> String {
        let quoted: Vec<String> = Self::CHOICES.iter().map(|c| format!("\"{c}\"")).collect();
        format!("{} or {}", quoted[..quoted.len() - 1].join(", "), quoted[quoted.len() - 1])
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// `[secrets]`: where database passwords, the OneDrive sign-in and the
/// manifest key are kept: the OS keyring (default), or, on a server with
/// no keyring, a private (0600) TOML file chosen here explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// `keyring` or `file`.
    pub store: SecretStoreKind,
    /// With `store = "file"`: the file (default `credentials.toml` beside
    /// the config file; `~/` is the home folder, a relative path is
    /// relative to the config file's folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// `[secrets] store`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStoreKind {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    #[default]
    Keyring,
    /// A 0600 TOML file of account = secret.
    File,
}

/// The credentials file's name beside the config file.
pub const CREDENTIALS_FILE: &str = "credentials.toml";

impl SecretsSettings {
    /// The default (the keyring).
    #[must_use]
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The credentials file of `store = "file"` for the config file at
    /// `config` (see [`SecretsSettings::file`]).
    #[must_use]
    pub fn file_path(&self, config: &Path, home: Option<&Path>) -> PathBuf {
        let dir = config.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match &self.file {
            None => dir.join(CREDENTIALS_FILE),
            Some(f) => match (f.strip_prefix("~"), home) {
                (Ok(rest), Some(h)) => h.join(rest),
                _ if f.is_absolute() => f.clone(),
                _ => dir.join(f),
            },
        }
    }

    /// The `[secrets]` section of the config file at `path` (the default
    /// when there is no such file), read without the rest being checked.
    ///
    /// # Errors
    /// When the file cannot be read or is not valid TOML, or the section is
    /// invalid.
    pub fn load(path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Only {
            #[serde(default)]
            secrets: SecretsSettings,
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::config(format!("The config file {} cannot be read ({e}).", path.display())).with_source(e)),
        };
        let only: Only = toml::from_str(&text).map_err(|e| Error::config(describe_toml_error(&path.display().to_string(), &text, &e)))?;
        only.secrets.validate(&path.display().to_string())?;
        Ok(only.secrets)
    }

    fn validate(&self, file: &str) -> Result<()> {
        if self.store == SecretStoreKind::Keyring && self.file.is_some() {
            return Err(Error::config(format!("{file}: [secrets], field `file`: it is only used with store = \"file\"; add that, or remove `file`.")));
        }
        Ok(())
    }
}

/// One `[[job]]` table as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// Unique name; used in file names.
    pub name: String,
    /// `postgres://user@host:port/db` (or `mysql://…`), without a password.
    pub database: String,
    /// Run the dump tool inside this Docker container (`docker exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_container: Option<String>,
    /// A folder, `onedrive:/path` or `s3://bucket/prefix` (or `destinations`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// Several places, each getting a copy of every backup (instead of `destination`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<String>>,
    /// Cron expression or preset; no schedule means manual runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// IANA time zone; default: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `plain` or `custom`.
    #[serde(default = "default_format")]
    pub format: Format,
    /// `zstd`, `gzip` or `none`.
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// Compression level (zstd 1–19, gzip 1–9); default zstd 3, gzip 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    /// Tables to include (`table` or `schema.table`); empty: all.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tables: Vec<String>,
    /// Schemas to include (PostgreSQL); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Schemas to leave out (PostgreSQL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_schemas: Vec<String>,
    /// Directory holding `pg_dump`/`psql` to use instead of the detected ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_dir: Option<PathBuf>,
    /// A disabled job keeps its settings but never runs on schedule.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What to do about a slot missed while the computer was off or asleep:
    /// `once` (default), `skip`, or `if-stale`.
    #[serde(default)]
    pub catch_up: CatchUpPolicy,
    /// How often a failed scheduled run is retried (with backoff) before it
    /// is reported as failed.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Report the job as stale when its newest good backup is older than
    /// this (e.g. "26h", "3d"); default: one schedule interval plus a margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<String>,
    /// Test-restore every Nth scheduled backup into a scratch database on
    /// the job's server and mark it verified (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub verify_every: u32,
    /// `[job.retention]`.
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// `[job.notify]`.
    #[serde(default)]
    pub notify: NotifySettings,
    /// `[job.encryption]`: encrypt backups with age (absent: not encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSettings>,
}

/// `[job.encryption]` as written: age recipients (X25519 public keys,
/// `age1…`), or a passphrase kept in the keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionSettings {
    /// X25519 public keys; any matching identity decrypts.
    pub recipients: Vec<String>,
    /// Encrypt to the passphrase kept in the keyring (age's scrypt recipient) instead.
    pub passphrase: bool,
}

fn default_format() -> Format {
    Format::Plain
}
fn default_compression() -> Compression {
    Compression::Zstd
}
fn yes() -> bool {
    true
}
/// `retries` when the file does not say.
pub const DEFAULT_RETRIES: u32 = 2;

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What to do about a schedule slot missed while Nightjar was not running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUpPolicy {
    /// Run once at the next start or wake, however many slots were missed.
    #[default]
    Once,
    /// Wait for the next slot.
    Skip,
    /// Run once only when the job is stale.
    IfStale,
}

impl CatchUpPolicy {
    /// The value as written in the config file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUpPolicy::Once => "once",
            CatchUpPolicy::Skip => "skip",
            CatchUpPolicy::IfStale => "if-stale",
        }
    }
}

/// Parses "90m", "26h", "3d", "1w" into a duration.
///
/// # Errors
/// A [`crate::ErrorKind::Config`] error whose message is a clause with the
/// allowed forms (the caller names the field).
pub fn parse_duration(text: &str) -> Result<chrono::Duration> {
    duration_clause(text).map_err(Error::config)
}

fn duration_clause(text: &str) -> std::result::Result<chrono::Duration, String> {
    let t = text.trim();
    let err = || format!("\"{text}\" is not a duration; write a number followed by m, h, d or w (e.g. \"26h\", \"3d\")");
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
    let n: i64 = num.parse().map_err(|_| err())?;
    let d = match unit.trim() {
        "m" | "min" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        _ => return Err(err()),
    };
    if n <= 0 {
        return Err(err());
    }
    Ok(d)
}

/// `[job.notify]`: which desktop notifications a job sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Notify when a backup succeeds (default off).
    pub on_success: bool,
    /// Notify when a run fails (default on).
    pub on_failure: bool,
    /// Notify when the job has had no good backup for too long (default on).
    pub on_stale: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { on_success: false, on_failure: true, on_stale: true }
    }
}

/// `[onedrive]`: Microsoft Graph settings (used by `onedrive:` destinations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneDriveSettings {
    /// `common`, `organizations`, `consumers` or a tenant id.
    pub tenant: String,
    /// The public-client application id; default: Nightjar's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Identity platform base URL.
    pub login_base_url: String,
    /// Graph base URL.
    pub graph_base_url: String,
    /// Local-folder mode, when signed in: how long a backup written into
    /// a OneDrive-synced folder may take to show up in OneDrive before a
    /// warning is raised (`"2h"`, `"90m"`).
    pub cloud_confirm_within: String,
    /// Spool uploads to a staging file in the data folder and save the
    /// upload session beside it, so an upload cut by a crash, reboot or
    /// sleep resumes at the next start instead of starting over.
    pub staging: bool,
}

impl OneDriveSettings {
    /// [`OneDriveSettings::cloud_confirm_within`] parsed (2 hours when it does not parse;
    /// [`Config::parse`] refuses such a file anyway).
    #[must_use]
    pub fn confirm_within(&self) -> chrono::Duration {
        parse_duration(&self.cloud_confirm_within).unwrap_or(chrono::Duration::hours(2))
    }
}

/// An application (client) id or tenant id: 8-4-4-4-12 hex digits.
#[must_use]
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl OneDriveSettings {
    /// Checks `client_id` and `tenant` (a field error names the key).
    fn validate(&self, file: &str) -> Result<()> {
        let field = |key: &str, msg: String| Err(Error::config(format!("{file}: [onedrive], field `{key}`: {msg}")));
        if let Some(id) = &self.client_id
            && !is_guid(id.trim())
        {
            return field(
                "client_id",
                format!("\"{id}\" is not an application id; copy the Application (client) ID from the app's Overview page in Microsoft Entra (it looks like 1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901)."),
            );
        }
        let t = self.tenant.trim();
        let named = ["common", "organizations", "consumers"].contains(&t);
        let domain = t.contains('.') && t.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !(named || is_guid(t) || domain) {
            return field(
                "tenant",
                format!("\"{t}\" is not a tenant; use \"common\" (any account), \"consumers\" (personal), \"organizations\" (work or school), or your directory's id or domain (contoso.onmicrosoft.com)."),
            );
        }
        Ok(())
    }
}

impl Default for OneDriveSettings {
    fn default() -> Self {
        Self {
            tenant: "common".into(),
            client_id: None,
            login_base_url: "https://login.microsoftonline.com".into(),
            graph_base_url: "https://graph.microsoft.com/v1.0".into(),
            cloud_confirm_within: "2h".into(),
            staging: false,
        }
    }
}

/// `[s3]`: how `s3://BUCKET/PREFIX` destinations are reached. Credentials
/// are never here: they come from `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`, the keyring (`nightjar password set --s3`) or
/// a `~/.aws/credentials` profile, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The server's URL (`http://127.0.0.1:9000`); none for AWS itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region (`us-east-1`; most self-hosted servers accept any).
    pub region: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`
    /// (MinIO and most self-hosted servers).
    pub path_style: bool,
    /// The `~/.aws/credentials` profile (default: `AWS_PROFILE`, else `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self { endpoint: None, region: "us-east-1".into(), path_style: false, profile: None }
    }
}

impl S3Settings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks `endpoint` and `region` (a field error names the key).
    fn validate(&self, file: &str) -> Result<()> {
        let field = |key: &str, msg: String| Err(Error::config(format!("{file}: [s3], field `{key}`: {msg}")));
        if let Some(e) = &self.endpoint {
            let ok = url::Url::parse(e.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if ok.is_none() {
                return field("endpoint", format!("\"{e}\" is not a server URL; write it as http://host:port or https://host (leave it out for AWS)."));
            }
        }
        let r = self.region.trim();
        if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return field("region", format!("\"{}\" is not a region; use the bucket's region, like \"us-east-1\" or \"eu-central-1\".", self.region));
        }
        if let Some(p) = &self.profile
            && p.trim().is_empty()
        {
            return field("profile", "is empty; name a profile of ~/.aws/credentials or leave it out.".into());
        }
        Ok(())
    }
}

/// Where a job's backups go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum DestinationSpec {
    /// A local (or OneDrive-synced) folder.
    Folder(PathBuf),
    /// A folder in OneDrive reached through Microsoft Graph.
    OneDrive(String),
    /// `BUCKET/PREFIX` (no leading or trailing slash) in S3-compatible storage.
    S3(String),
}

impl DestinationSpec {
    /// Parses `onedrive:/path` or a folder path (`~/` expands to `home`).
    ///
    /// # Errors
    /// A [`crate::ErrorKind::Config`] error whose message is a clause (the
    /// caller names the field) when the value is empty or relative.
    pub fn parse(text: &str, home: Option<&Path>) -> Result<Self> {
        Self::parse_clause(text, home).map_err(Error::config)
    }

    fn parse_clause(text: &str, home: Option<&Path>) -> std::result::Result<Self, String> {
        let t = text.trim();
        if let Some(p) = t.strip_prefix("onedrive:") {
            let p = p.trim_matches('/');
            return Ok(Self::OneDrive(format!("/{p}")));
        }
        if let Some(p) = t.strip_prefix("s3://") {
            let p = p.trim_matches('/');
            let bucket = p.split('/').next().unwrap_or("");
            let valid = (3..=63).contains(&bucket.len()) && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !valid {
                return Err(format!("\"{t}\" does not name a bucket; write it as \"s3://BUCKET/PREFIX\" (a bucket name is 3 to 63 lower-case letters, digits, dots and dashes)"));
            }
            if p.split('/').any(str::is_empty) {
                return Err(format!("\"{t}\" has an empty folder in its prefix; write it as \"s3://BUCKET/PREFIX\""));
            }
            return Ok(Self::S3(p.to_string()));
        }
        if t.is_empty() {
            return Err("the destination is empty; give a folder path or \"onedrive:/Backups/<name>\"".into());
        }
        let path = match (t.strip_prefix("~/"), home) {
            (Some(rest), Some(h)) => h.join(rest),
            _ => PathBuf::from(t),
        };
        if !path.is_absolute() {
            return Err(format!("the destination \"{t}\" is not an absolute folder path; write it in full (\"~/\" is allowed)"));
        }
        Ok(Self::Folder(path))
    }

    /// Human-readable form (a path, or `onedrive:/…`).
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::Folder(p) => p.display().to_string(),
            Self::OneDrive(p) => format!("onedrive:{p}"),
            Self::S3(p) => format!("s3://{p}"),
        }
    }
}

/// A validated job, ready to run (secrets and tools are resolved at run time).
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique job name.
    pub name: String,
    /// The parsed database URL.
    pub db: DbUrl,
    /// Docker container to `docker exec` the dump tool in.
    pub docker_container: Option<String>,
    /// Where backups go (the first of [`Job::destinations`]: the primary,
    /// used where one place is needed).
    pub destination: DestinationSpec,
    /// Every place a backup is copied to (one or more), the primary first.
    pub destinations: Vec<DestinationSpec>,
    /// When it runs (None: manual only).
    pub schedule: Option<Schedule>,
    /// The job's time zone (names, schedules, retention tiers).
    pub timezone: Tz,
    /// Dump format.
    pub format: Format,
    /// Outer compression.
    pub compression: Compression,
    /// Compression level (already defaulted and range-checked).
    pub compression_level: i32,
    /// Selection of what to dump.
    pub selection: Selection,
    /// Override directory for the dump tools.
    pub tool_dir: Option<PathBuf>,
    /// Whether the schedule is active.
    pub enabled: bool,
    /// Missed-slot policy.
    pub catch_up: CatchUpPolicy,
    /// Retries of a failed scheduled run.
    pub retries: u32,
    /// Explicit staleness deadline, if set.
    pub stale_after: Option<chrono::Duration>,
    /// Test-restore every Nth scheduled backup (0: never).
    pub verify_every: u32,
    /// Retention policy.
    pub retention: RetentionPolicy,
    /// Notification flags.
    pub notify: NotifySettings,
    /// age encryption of the stored file (None: stored as compressed).
    pub encryption: Option<crate::crypt::EncryptionSpec>,
}

impl Job {
    /// True when backups go to OneDrive through Graph rather than a folder.
    #[must_use]
    pub fn destination_is_remote(&self) -> bool {
        matches!(self.destination, DestinationSpec::OneDrive(_) | DestinationSpec::S3(_))
    }

    /// The places the job's backups go to, as the history and messages show
    /// them, joined with ", ".
    #[must_use]
    pub fn destinations_display(&self) -> String {
        self.destinations.iter().map(DestinationSpec::display).collect::<Vec<_>>().join(", ")
    }
}

/// What part of the database to dump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Tables to include; empty: all.
    pub tables: Vec<String>,
    /// Tables to exclude.
    pub exclude_tables: Vec<String>,
    /// Schemas to include; empty: all.
    pub schemas: Vec<String>,
    /// Schemas to exclude.
    pub exclude_schemas: Vec<String>,
}

impl Selection {
    /// True when the whole database is dumped.
    #[must_use]
    pub fn is_everything(&self) -> bool {
        self.tables.is_empty() && self.exclude_tables.is_empty() && self.schemas.is_empty() && self.exclude_schemas.is_empty()
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from (for messages); `None` for in-memory text.
    pub origin: Option<PathBuf>,
    /// The raw form (what the Settings window edits and writes back).
    pub raw: RawConfig,
    /// The validated jobs, in file order.
    pub jobs: Vec<Job>,
}

/// Values the parser needs from the environment, passed in so parsing stays
/// pure: the home directory (for `~/`) and the system time zone.
#[derive(Debug, Clone)]
pub struct ParseEnv {
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// The system's time zone (default for jobs without `timezone`).
    pub system_tz: Tz,
}

impl ParseEnv {
    /// Reads the home directory and the system time zone.
    #[must_use]
    pub fn from_system() -> Self {
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        Self { home, system_tz: system_time_zone() }
    }
}

/// The system's IANA time zone, or UTC when it cannot be determined.
#[must_use]
pub fn system_time_zone() -> Tz {
    if let Ok(tz) = std::env::var("TZ")
        && let Ok(tz) = tz.trim_start_matches(':').parse::<Tz>()
    {
        return tz;
    }
    iana_time_zone::get_timezone().ok().and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

impl Config {
    /// An empty configuration (no jobs).
    #[must_use]
    pub fn empty(origin: Option<PathBuf>) -> Self {
        Self { origin, raw: RawConfig::default(), jobs: Vec::new() }
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or does not parse; the message names the file.
    pub fn load(path: &Path, env: &ParseEnv) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "does not exist; create it (see the README's \"Config file\") or pass --config".to_string()
            } else {
                format!("cannot be read ({e})")
            };
            Error::config(format!("The config file {} {what}.", path.display())).with_source(e)
        })?;
        Self::parse(&text, Some(path), env)
    }

    /// Parses config text. No I/O.
    ///
    /// # Errors
    /// A config error naming the file, the job, the field and what is allowed.
    pub fn parse(text: &str, origin: Option<&Path>, env: &ParseEnv) -> Result<Self> {
        let file = origin.map_or_else(|| "the config".to_string(), |p| p.display().to_string());
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::config(describe_toml_error(&file, text, &e)))?;
        if let Err(e) = parse_duration(&raw.onedrive.cloud_confirm_within) {
            return Err(Error::config(format!("{file}: [onedrive], field `cloud_confirm_within`: {}.", e.message())));
        }
        raw.onedrive.validate(&file)?;
        raw.s3.validate(&file)?;
        raw.secrets.validate(&file)?;
        let mut jobs = Vec::with_capacity(raw.jobs.len());
        for (i, rj) in raw.jobs.iter().enumerate() {
            let job = validate_job(rj, env).map_err(|(field, msg)| {
                let who = if rj.name.is_empty() { format!("job #{}", i + 1) } else { format!("job \"{}\"", rj.name) };
                Error::config(format!("{file}: {who}, field `{field}`: {msg}."))
            })?;
            if jobs.iter().any(|j: &Job| j.name == job.name) {
                return Err(Error::config(format!(
                    "{file}: job \"{}\" appears twice; job names must be unique.",
                    job.name
                )));
            }
            jobs.push(job);
        }
        crate::alerts::validate(&raw.alerts, &raw.jobs, &file)?;
        Ok(Self { origin: origin.map(Path::to_path_buf), raw, jobs })
    }

    /// The jobs a command names: the job `name` (`--job NAME`), else
    /// every job (only the enabled ones with `enabled_only`).
    ///
    /// # Errors
    /// A config error listing the jobs that exist, for a name that is not one.
    pub fn select(&self, name: Option<&str>, enabled_only: bool) -> Result<Vec<&Job>> {
        Ok(match name {
            Some(n) => vec![self.job(n)?],
            None => self.jobs.iter().filter(|j| j.enabled || !enabled_only).collect(),
        })
    }

    /// The job called `name`.
    ///
    /// # Errors
    /// A [`crate::ErrorKind::NotFound`] error listing the jobs that exist.
    pub fn job(&self, name: &str) -> Result<&Job> {
        self.jobs.iter().find(|j| j.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
            let file = self.origin.as_ref().map_or_else(|| "the config".into(), |p| p.display().to_string());
            if names.is_empty() {
                Error::not_found(format!("There is no job \"{name}\": {file} has no jobs yet; add a [[job]] section."))
            } else {
                Error::not_found(format!("There is no job \"{name}\" in {file}; the jobs are: {}.", names.join(", ")))
            }
        })
    }

    /// Serializes the raw form back to TOML (for the Settings window).
    ///
    /// # Errors
    /// Only if serialization fails, which indicates a bug.
    pub fn to_toml(raw: &RawConfig) -> Result<String> {
        toml::to_string_pretty(raw).map_err(|e| Error::other("The settings could not be written as TOML.").with_source(e))
    }
}

/// A compression level `compression` accepts (message without the final period).
fn check_level(compression: Compression, level: i32) -> std::result::Result<(), String> {
    let range = compression.level_range();
    if range.contains(&level) {
        Ok(())
    } else if compression == Compression::None {
        Err("a level makes no sense with compression = \"none\"; remove it".to_string())
    } else {
        Err(format!("{level} is out of range for {compression}; use {} to {}", range.start(), range.end()))
    }
}

/// A dump format the engine writes (message without the final period).
fn check_format(engine: crate::model::Engine, format: Format) -> std::result::Result<(), String> {
    if engine == crate::model::Engine::Mysql && format == Format::Custom {
        return Err("the custom format is PostgreSQL's; MySQL jobs use \"plain\"".into());
    }
    Ok(())
}

/// Changes to a job for one run (`nightjar backup --format/--compress/--level/--table`).
#[derive(Debug, Clone, Default)]
pub struct JobOverrides {
    /// Dump format.
    pub format: Option<Format>,
    /// Compression (its default level unless `level` is given).
    pub compression: Option<Compression>,
    /// Compression level.
    pub level: Option<i32>,
    /// Only these tables.
    pub tables: Vec<String>,
}

impl Job {
    /// A job for one run against `db` into `destination`, with no config
    /// behind it (`nightjar backup --db URL --dest DIR`): named `name` or
    /// after the database, no schedule, no retention (an ad-hoc run never
    /// deletes anything), the config's defaults otherwise, checked by the
    /// same rules as a config job. The error is (field, message without
    /// the final period).
    ///
    /// # Errors
    /// A name, level or format the rules refuse.
    pub fn adhoc(db: DbUrl, destination: DestinationSpec, name: Option<&str>, env: &ParseEnv) -> std::result::Result<Job, (&'static str, String)> {
        let name = match name {
            Some(n) => n.to_string(),
            None => db.database.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect(),
        };
        let name = name.trim_start_matches(['.', '-']).to_string();
        // A name with no ASCII letters or digits (e.g. "магазин") leaves nothing usable.
        let name = if name.chars().any(|c| c.is_ascii_alphanumeric()) { name } else { "database".to_string() };
        validate_job_name(&name).map_err(|e| ("name", e.message().to_string()))?;
        let compression = Compression::Zstd;
        let job = Job {
            name,
            db,
            docker_container: None,
            destinations: vec![destination.clone()],
            destination,
            schedule: None,
            timezone: env.system_tz,
            format: Format::Plain,
            compression,
            compression_level: compression.default_level(),
            selection: Selection::default(),
            tool_dir: None,
            enabled: true,
            catch_up: CatchUpPolicy::Skip,
            retries: 0,
            stale_after: None,
            verify_every: 0,
            retention: RetentionPolicy { keep_days: 0, keep_last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, max_backups: 0 },
            notify: NotifySettings::default(),
            encryption: None,
        };
        Ok(job)
    }

    /// Applies `o`, checked by the rules of the config file. The error is
    /// (field, message without the final period).
    ///
    /// # Errors
    /// A level out of range, or a format the engine does not write.
    pub fn apply(&mut self, o: &JobOverrides) -> std::result::Result<(), (&'static str, String)> {
        if let Some(f) = o.format {
            self.format = f;
        }
        if let Some(c) = o.compression
            && c != self.compression
        {
            self.compression = c;
            self.compression_level = c.default_level();
        }
        if let Some(l) = o.level {
            check_level(self.compression, l).map_err(|e| ("compression_level", e))?;
            self.compression_level = l;
        }
        if !o.tables.is_empty() {
            self.selection = Selection { tables: o.tables.clone(), ..Selection::default() };
        }
        check_format(self.db.engine, self.format).map_err(|e| ("format", e))
    }
}

/// `destination` or `destinations` (exactly one of them; a list that is
/// not empty and names no place twice).
fn parse_destinations(rj: &RawJob, env: &ParseEnv) -> std::result::Result<Vec<DestinationSpec>, (&'static str, String)> {
    let single = !rj.destination.trim().is_empty();
    let list = match &rj.destinations {
        None => return DestinationSpec::parse(&rj.destination, env.home.as_deref()).map(|d| vec![d]).map_err(|e| ("destination", e.message().to_string())),
        Some(_) if single => return Err(("destinations", "give either `destination` or `destinations`, not both; move the one place into the list".into())),
        Some(l) if l.is_empty() => return Err(("destinations", "the list is empty; give at least one folder, \"onedrive:/…\" or \"s3://…\"".into())),
        Some(l) => l,
    };
    let mut out: Vec<DestinationSpec> = Vec::with_capacity(list.len());
    for d in list {
        let spec = DestinationSpec::parse(d, env.home.as_deref()).map_err(|e| ("destinations", e.message().to_string()))?;
        if out.iter().any(|o| same_place(o, &spec)) {
            return Err(("destinations", format!("\"{}\" is listed twice; give each place once", d.trim())));
        }
        out.push(spec);
    }
    Ok(out)
}

/// Two specs naming the same place (folders compared without a trailing slash).
fn same_place(a: &DestinationSpec, b: &DestinationSpec) -> bool {
    match (a, b) {
        (DestinationSpec::Folder(x), DestinationSpec::Folder(y)) => x.components().eq(y.components()),
        _ => a == b,
    }
}

/// Validates one job; the error is (field, message without the final period).
fn validate_job(rj: &RawJob, env: &ParseEnv) -> std::result::Result<Job, (&'static str, String)> {
    validate_job_name(&rj.name).map_err(|e| ("name", e.message().to_string()))?;
    let db = DbUrl::parse_without_password(&rj.database, UrlOrigin::ConfigJob(&rj.name)).map_err(|e| ("database", e.message().to_string()))?;
    if let Some(c) = &rj.docker_container
        && (c.is_empty() || !c.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
    {
        return Err(("docker_container", format!("\"{c}\" is not a valid container name (letters, digits, '_', '.', '-')")));
    }
    let destinations = parse_destinations(rj, env)?;
    let destination = destinations[0].clone();
    let schedule = match &rj.schedule {
        Some(s) if !s.trim().is_empty() => Some(Schedule::parse(s).map_err(|e| ("schedule", e.message().to_string()))?),
        _ => None,
    };
    let timezone = match &rj.timezone {
        Some(tz) => tz.parse::<Tz>().map_err(|_| {
            ("timezone", format!("\"{tz}\" is not an IANA time zone name; use a name such as \"Europe/Kyiv\" or \"UTC\""))
        })?,
        None => env.system_tz,
    };
    let compression_level = match rj.compression_level {
        None => rj.compression.default_level(),
        Some(l) => {
            check_level(rj.compression, l).map_err(|e| ("compression_level", e))?;
            l
        }
    };
    let stale_after = match &rj.stale_after {
        Some(t) => Some(parse_duration(t).map_err(|e| ("stale_after", e.message().to_string()))?),
        None => None,
    };
    if rj.retries > 10 {
        return Err(("retries", format!("{} is too many; use 0 to 10", rj.retries)));
    }
    check_format(db.engine, rj.format).map_err(|e| ("format", e))?;
    if db.engine == crate::model::Engine::Mysql && (!rj.schemas.is_empty() || !rj.exclude_schemas.is_empty()) {
        let field = if rj.schemas.is_empty() { "exclude_schemas" } else { "schemas" };
        return Err((field, "MySQL/MariaDB jobs back up the one database of their URL; choose tables with `tables` / `exclude_tables`".into()));
    }
    for (field, list) in [
        ("tables", &rj.tables),
        ("exclude_tables", &rj.exclude_tables),
        ("schemas", &rj.schemas),
        ("exclude_schemas", &rj.exclude_schemas),
    ] {
        for name in list {
            if name.trim().is_empty() || name.contains(['\0', '\n']) {
                return Err((field, format!("{name:?} is not a valid name")));
            }
        }
    }
    let encryption = match &rj.encryption {
        Some(e) => Some(crate::crypt::validate(
            &e.recipients,
            e.passphrase,
            &rj.name,
        )?),
        None => None,
    };
    Ok(Job {
        name: rj.name.clone(),
        db,
        docker_container: rj.docker_container.clone(),
        destination,
        destinations,
        schedule,
        timezone,
        format: rj.format,
        compression: rj.compression,
        compression_level,
        selection: Selection {
            tables: rj.tables.clone(),
            exclude_tables: rj.exclude_tables.clone(),
            schemas: rj.schemas.clone(),
            exclude_schemas: rj.exclude_schemas.clone(),
        },
        tool_dir: rj.tool_dir.clone(),
        enabled: rj.enabled,
        catch_up: rj.catch_up,
        retries: rj.retries,
        stale_after,
        verify_every: rj.verify_every,
        retention: rj.retention.clone(),
        notify: rj.notify.clone(),
        encryption,
    })
}

/// Turns a TOML/serde error into "file: job "x", field `y` (line n): what".
fn describe_toml_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().trim_end_matches('.');
    let Some(span) = e.span() else {
        return format!("{file}: {msg}.");
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    // Which [[job]] (if any) encloses the error, and its name.
    let before = &text[..span.start.min(text.len())];
    let job = before.rfind("[[job]]").map(|at| {
        let index = before[..at].matches("[[job]]").count();
        let after_header = &text[at..];
        let name = after_header
            .lines()
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with("[["))
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
            });
        name.map_or_else(|| format!("job #{}", index + 1), |n| format!("job \"{n}\""))
    });
    let key = line.split_once('=').map(|(k, _)| k.trim().to_string()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let mut out = file.to_string();
    if let Some(j) = job {
        let _ = write!(out, ": {j}");
    }
    match key {
        Some(k) if !msg.contains(&format!("`{k}`")) => {
            let _ = write!(out, ", field `{k}` (line {line_no}): {msg}.");
        }
        _ => {
            let _ = write!(out, " (line {line_no}): {msg}.");
        }
    }
    out
}

/// The config path: `explicit`, else `$NIGHTJAR_CONFIG`, else the OS config dir.
#[must_use]
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    crate::paths::project_dirs().map_or_else(|| PathBuf::from("nightjar.toml"), |d| d.config_dir().join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ParseEnv {
        ParseEnv { home: Some(PathBuf::from("/home/me")), system_tz: Tz::UTC }
    }

    const PRODUCT_EXAMPLE: &str = r#"
[[job]]
name = "tgapp"
database = "postgres://tgapp@localhost:5432/tgapp"   # or mysql://user@host:port/db
# docker_container = "tg-app-postgres"               # run the dump tool inside this container
destination = "/home/me/OneDrive/Backups/tg-app"     # a folder, or "onedrive:/Backups/tg-app"
schedule = "0 0 * * *"                               # cron; or "daily 00:00", "every 6h", "weekly sun 03:00"
timezone = "Europe/Kyiv"                             # IANA name; default: the system's
format = "plain"                                     # plain | custom
compression = "zstd"                                 # zstd | gzip | none
tables = []                                          # empty: the whole database

[job.retention]
keep_days = 7
keep_last = 0              # 0: no count limit
# max_backups = 30         # a cap: never more than N (the newest is always kept); 0: none
# daily = 7, weekly = 4, monthly = 12, yearly = 5

[job.notify]
on_success = false
on_failure = true

# [job.encryption]           # encrypt backups with age: <name>.<ext>.age (README "Encryption")
# recipients = ["age1..."]   # X25519 public keys (`nightjar key new --job tgapp`); any matching identity decrypts
# passphrase = false         # or true: a passphrase kept in the keyring (scrypt recipient)

[onedrive]                    # used by "onedrive:" destinations and the "in the cloud" check
tenant = "common"
# client_id = "…"            # your app's Application (client) ID (README "Signing in to OneDrive")
login_base_url = "https://login.microsoftonline.com"
graph_base_url = "https://graph.microsoft.com/v1.0"
"#;

    #[test]
    fn secrets_section_chooses_the_store_and_the_file() {
        let c = Config::parse("", None, &env()).unwrap();
        assert_eq!(c.raw.secrets.store, SecretStoreKind::Keyring);
        assert!(!Config::to_toml(&c.raw).unwrap().contains("[secrets]"), "the default is not written back");
        let c = Config::parse("[secrets]\nstore = \"file\"\n", None, &env()).unwrap();
        assert_eq!(c.raw.secrets.store, SecretStoreKind::File);
        let cfg = Path::new("/etc/nj/config.toml");
        let home = Some(Path::new("/home/me"));
        assert_eq!(c.raw.secrets.file_path(cfg, home), Path::new("/etc/nj/credentials.toml"));
        let with = |f: &str| SecretsSettings { store: SecretStoreKind::File, file: Some(PathBuf::from(f)) }.file_path(cfg, home);
        assert_eq!(with("~/.nj-secrets.toml"), Path::new("/home/me/.nj-secrets.toml"));
        assert_eq!(with("/srv/s.toml"), Path::new("/srv/s.toml"));
        assert_eq!(with("s.toml"), Path::new("/etc/nj/s.toml"));
        let e = Config::parse("[secrets]\nfile = \"/x\"\n", Some(Path::new("/x/config.toml")), &env()).unwrap_err();
        assert!(e.message().starts_with("/x/config.toml: [secrets], field `file`: it is only used with store = \"file\""), "{e}");
        assert!(Config::parse("[secrets]\nstore = \"plain\"\n", None, &env()).is_err());
        // Read on its own, without the jobs being checked; no file: the default.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        assert_eq!(SecretsSettings::load(&p).unwrap(), SecretsSettings::default());
        std::fs::write(&p, "[[job]]\nname = \"x\"\n[secrets]\nstore = \"file\"\nfile = \"s.toml\"\n").unwrap();
        assert_eq!(SecretsSettings::load(&p).unwrap().file_path(&p, None), dir.path().join("s.toml"));
    }

    #[test]
    fn onedrive_confirm_time_and_staging() {
        let c = Config::parse("", None, &env()).unwrap();
        assert_eq!(c.raw.onedrive.confirm_within(), chrono::Duration::hours(2));
        assert!(!c.raw.onedrive.staging);
        let c = Config::parse("[onedrive]\ncloud_confirm_within = \"45m\"\nstaging = true\n", None, &env()).unwrap();
        assert_eq!(c.raw.onedrive.confirm_within(), chrono::Duration::minutes(45));
        assert!(c.raw.onedrive.staging);
        let e = Config::parse("[onedrive]\ncloud_confirm_within = \"soon\"\n", Some(Path::new("/x/config.toml")), &env()).unwrap_err();
        assert!(e.message().starts_with("/x/config.toml: [onedrive], field `cloud_confirm_within`: \"soon\" is not a duration"), "{e}");
    }

    #[test]
    fn product_example_parses_and_means_what_it_says() {
        let c = Config::parse(PRODUCT_EXAMPLE, Some(Path::new("/x/config.toml")), &env()).unwrap();
        assert_eq!(c.jobs.len(), 1);
        let j = &c.jobs[0];
        assert_eq!(j.name, "tgapp");
        assert_eq!(j.db.engine, crate::model::Engine::Postgres);
        assert_eq!(j.db.database, "tgapp");
        assert_eq!(j.db.user.as_deref(), Some("tgapp"));
        assert_eq!(j.db.port, Some(5432));
        assert_eq!(j.destination, DestinationSpec::Folder("/home/me/OneDrive/Backups/tg-app".into()));
        assert_eq!(j.schedule.as_ref().unwrap().cron_pattern(), "0 0 * * *");
        assert_eq!(j.timezone, chrono_tz::Europe::Kyiv);
        assert_eq!((j.format, j.compression, j.compression_level), (Format::Plain, Compression::Zstd, 3));
        assert!(j.selection.is_everything());
        assert_eq!((j.retention.keep_days, j.retention.keep_last), (7, 0));
        assert!(!j.notify.on_success && j.notify.on_failure);
        assert_eq!(c.raw.onedrive.tenant, "common");
        assert!(j.enabled);
    }

    #[test]
    fn minimal_job_gets_defaults() {
        let c = Config::parse(
            "[[job]]\nname = \"a\"\ndatabase = \"postgres:///a?host=/tmp\"\ndestination = \"~/Backups\"\n",
            None,
            &env(),
        )
        .unwrap();
        let j = &c.jobs[0];
        assert_eq!(j.destination, DestinationSpec::Folder("/home/me/Backups".into()));
        assert_eq!(j.timezone, Tz::UTC);
        assert!(j.schedule.is_none());
        assert_eq!(j.retention.keep_days, 7);
        assert_eq!(j.db.host.as_deref(), Some("/tmp"));
    }

    fn err(text: &str) -> String {
        Config::parse(text, Some(Path::new("/etc/nj.toml")), &env()).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_job_field_and_what_is_allowed() {
        let base = "[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\n";
        let cases: &[(String, &[&str])] = &[
            (format!("{base}compression = \"bzip\"\n"), &["/etc/nj.toml", "job \"tg\"", "compression", "zstd", "gzip", "none"]),
            (format!("{base}formt = \"plain\"\n"), &["/etc/nj.toml", "job \"tg\"", "formt", "line 5"]),
            (format!("{base}schedule = \"every 5h\"\n"), &["job \"tg\"", "`schedule`", "divide 24"]),
            (format!("{base}timezone = \"Mars/Base\"\n"), &["job \"tg\"", "`timezone`", "IANA"]),
            (format!("{base}compression_level = 40\n"), &["`compression_level`", "1 to 19"]),
            (format!("{base}[job.retention]\nkeep_days = \"x\"\n"), &["job \"tg\"", "keep_days", "line 6"]),
            ("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u:secret@h/db\"\ndestination = \"/b\"\n".into(), &["`database`", "password", "nightjar password set --job tg"]),
            ("[[job]]\nname = \"tg\"\ndatabase = \"oracle://h/db\"\ndestination = \"/b\"\n".into(), &["`database`", "postgres://"]),
            // A URL that does not parse is shown with its password replaced.
            ("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u:secret@h:5432x/db\"\ndestination = \"/b\"\n".into(), &["`database`", "postgres://u:***@h:5432x/db", "invalid port"]),
            ("[[job]]\nname = \"tg\"\ndatabase = \"postgresql://u:secret@[::1/db\"\ndestination = \"/b\"\n".into(), &["`database`", "u:***@"]),
            ("[[job]]\nname = \"t g\"\ndatabase = \"postgres://h/db\"\ndestination = \"/b\"\n".into(), &["`name`", "letters"]),
            ("[[job]]\nname = \"tg\"\ndatabase = \"postgres://h/db\"\ndestination = \"rel/path\"\n".into(), &["`destination`", "absolute"]),
            (format!("{base}{base}"), &["appears twice"]),
            ("[[job]\nname=1".into(), &["/etc/nj.toml", "line 1"]),
            ("[other]\nx = 1\n".into(), &["/etc/nj.toml", "other"]),
            (format!("{base}[job.encryption]\nrecipients = [\"age1nope\"]\n"), &["job \"tg\"", "`encryption.recipients`", "not an age recipient", "\"age1\""]),
            (format!("{base}[job.encryption]\n"), &["`encryption.recipients`", "nightjar key new --job tg"]),
            (format!("{base}[job.encryption]\nrecipent = []\n"), &["recipent", "line 6"]),
        ];
        for (text, needles) in cases {
            let e = err(text);
            for n in *needles {
                assert!(e.contains(n), "error for {text:?} lacks {n:?}: {e}");
            }
            // (The `[secrets]` section's name may be listed among the allowed ones.)
            assert!(!e.replace("`secrets`", "").contains("secret"), "{e}");
        }
    }

    #[test]
    fn encryption_section_parses_and_round_trips() {
        let (_, public) = crate::crypt::generate_identity();
        let text = format!(
            "[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\n[job.encryption]\nrecipients = [\"{public}\"]\n"
        );
        let c = Config::parse(&text, None, &env()).unwrap();
        let e = c.jobs[0].encryption.as_ref().unwrap();
        assert_eq!((e.recipients.clone(), e.passphrase), (vec![public], false));
        let again = Config::parse(&Config::to_toml(&c.raw).unwrap(), None, &env()).unwrap();
        assert_eq!(again.raw, c.raw);
        let c = Config::parse("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\n[job.encryption]\npassphrase = true\n", None, &env()).unwrap();
        assert!(c.jobs[0].encryption.as_ref().unwrap().passphrase);
        assert!(
            Config::parse(PRODUCT_EXAMPLE, None, &env()).unwrap().jobs[0]
                .encryption
                .is_none()
        );
    }

    #[test]
    fn s3_destination_and_section_parse_with_field_errors() {
        assert_eq!(DestinationSpec::parse("s3://backups/app/", None).unwrap(), DestinationSpec::S3("backups/app".into()));
        assert_eq!(DestinationSpec::parse("s3://backups", None).unwrap().display(), "s3://backups");
        for bad in ["s3://", "s3://B/x", "s3://ab/x", "s3://bucket//x"] {
            let e = DestinationSpec::parse(bad, None).unwrap_err();
            assert!(e.message().contains("s3://BUCKET/PREFIX"), "{bad}: {e}");
        }
        let c = Config::parse("[s3]\nendpoint = \"http://127.0.0.1:9000\"\npath_style = true\n", None, &env()).unwrap();
        assert_eq!(c.raw.s3, S3Settings { endpoint: Some("http://127.0.0.1:9000".into()), region: "us-east-1".into(), path_style: true, profile: None });
        assert!(Config::to_toml(&c.raw).unwrap().contains("[s3]"));
        assert!(!Config::to_toml(&Config::parse("", None, &env()).unwrap().raw).unwrap().contains("[s3]"), "the default is not written back");
        let e = Config::parse("[s3]\nendpoint = \"127.0.0.1:9000\"\n", Some(Path::new("/x/c.toml")), &env()).unwrap_err();
        assert!(e.message().starts_with("/x/c.toml: [s3], field `endpoint`: \"127.0.0.1:9000\" is not a server URL"), "{e}");
        let e = Config::parse("[s3]\nregion = \"us east\"\n", None, &env()).unwrap_err();
        assert!(e.message().contains("[s3], field `region`"), "{e}");
        let e = Config::parse("[s3]\naccess_key_id = \"AKIA\"\n", None, &env()).unwrap_err();
        assert!(e.message().contains("access_key_id"), "credentials are refused in the config: {e}");
    }

    #[test]
    fn the_ui_language_is_auto_by_default_and_one_of_the_choices() {
        assert_eq!(Config::parse("", None, &env()).unwrap().raw.ui.language, Language::Auto);
        let c = Config::parse("[ui]\nlanguage = \"tr\"\n", None, &env()).unwrap();
        assert_eq!(c.raw.ui.language, Language::Tr);
        assert!(Config::to_toml(&c.raw).unwrap().contains("language = \"tr\""));
        assert!(!Config::to_toml(&Config::parse("", None, &env()).unwrap().raw).unwrap().contains("[ui]"), "the default is not written back");
        let e = Config::parse("[ui]\nlanguage = \"de\"\n", Some(Path::new("/x/c.toml")), &env()).unwrap_err();
        assert!(e.message().starts_with("/x/c.toml, field `language` (line 2): \"de\" is not a language; use \"auto\", \"en\", \"ru\", \"tr\", \"fr\" or \"th\""), "{e}");
        assert!(Config::parse("[ui]\ntheme = \"dark\"\n", None, &env()).is_err(), "unknown keys are refused");
    }

    #[test]
    fn onedrive_destination_parses() {
        assert_eq!(DestinationSpec::parse("onedrive:/Backups/tg-app/", None).unwrap(), DestinationSpec::OneDrive("/Backups/tg-app".into()));
    }

    #[test]
    fn raw_config_round_trips_through_toml() {
        let c = Config::parse(PRODUCT_EXAMPLE, None, &env()).unwrap();
        let text = Config::to_toml(&c.raw).unwrap();
        let again = Config::parse(&text, None, &env()).unwrap();
        assert_eq!(again.raw, c.raw);
    }
}
