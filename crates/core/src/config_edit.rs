//! Editing the TOML config from a settings form while keeping the user's
//! comments, key order and layout (`toml_edit`), validating the result
//! through [`Config::parse`] before anything is written, and writing it
//! atomically (temp file, fsync, rename) with the file's own permissions,
//! through a symbolic link to the file it points to.
//!
//! The desktop Settings window is the caller; the CLI never edits the file.
//! Errors come back as a [`FieldError`] naming the TOML key, so a form can
//! show the message next to the field.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::{CatchUpPolicy, Config, NotifySettings, ParseEnv};
use crate::model::{Compression, Format};
use crate::retention::RetentionPolicy;

/// One job as a settings form shows and submits it. Keys are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobForm {
    /// Unique name.
    pub name: String,
    /// Database URL without a password.
    pub database: String,
    /// Docker container running the database (empty: none).
    #[serde(default)]
    pub docker_container: Option<String>,
    /// A folder, `onedrive:/path` or `s3://bucket/prefix`: the primary.
    pub destination: String,
    /// More places each backup is copied to (written as `destinations`
    /// with `destination` first; empty: the single `destination`).
    #[serde(default)]
    pub extra_destinations: Vec<String>,
    /// Cron expression or preset (empty: manual runs only).
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA time zone (empty: the system's).
    #[serde(default)]
    pub timezone: Option<String>,
    /// `plain` or `custom`.
    pub format: Format,
    /// `zstd`, `gzip` or `none`.
    pub compression: Compression,
    /// Tables to include.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables to leave out.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Schemas to include.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Schemas to leave out.
    #[serde(default)]
    pub exclude_schemas: Vec<String>,
    /// Whether the schedule runs.
    pub enabled: bool,
    /// `[job.retention]`.
    pub retention: RetentionPolicy,
    /// `[job.notify]`.
    pub notify: NotifySettings,
    /// How it runs: compression level, tools, catch-up, retries, staleness, test-restores.
    #[serde(flatten, default)]
    pub run: RunSettings,
}

/// The keys of a job that say how it runs (a form's "How it runs" part).
/// Keys are the TOML keys; each default is the config file's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    /// `compression_level` (empty: the compression's default, zstd 3, gzip 6).
    pub compression_level: Option<i32>,
    /// `tool_dir`: the folder holding the dump tools (empty: found on this computer).
    pub tool_dir: Option<String>,
    /// `catch_up`: `once`, `skip` or `if-stale`.
    pub catch_up: CatchUpPolicy,
    /// `retries` of a failed scheduled run (0 to 10).
    pub retries: u32,
    /// `stale_after` ("26h", "3d"; empty: one schedule interval plus a margin).
    pub stale_after: Option<String>,
    /// `verify_every`: test-restore every Nth scheduled backup (0: never).
    pub verify_every: u32,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self { compression_level: None, tool_dir: None, catch_up: CatchUpPolicy::Once, retries: crate::config::DEFAULT_RETRIES, stale_after: None, verify_every: 0 }
    }
}

impl RunSettings {
    fn from_raw(j: &crate::config::RawJob) -> Self {
        Self {
            compression_level: j.compression_level,
            tool_dir: j.tool_dir.as_ref().map(|p| p.display().to_string()),
            catch_up: j.catch_up,
            retries: j.retries,
            stale_after: j.stale_after.clone(),
            verify_every: j.verify_every,
        }
    }
}

/// Writes the run settings into a job table: a key already in the file is
/// kept and set, a default is not added.
fn fill_run(t: &mut Table, r: &RunSettings) {
    let d = RunSettings::default();
    match r.compression_level {
        Some(l) => set(t, "compression_level", i64::from(l)),
        None => {
            t.remove("compression_level");
        }
    }
    set_opt(t, "tool_dir", r.tool_dir.as_deref());
    set_if(t, "catch_up", r.catch_up.as_str(), r.catch_up == d.catch_up);
    set_if(t, "retries", i64::from(r.retries), r.retries == d.retries);
    set_opt(t, "stale_after", r.stale_after.as_deref());
    set_if(t, "verify_every", i64::from(r.verify_every), r.verify_every == d.verify_every);
}

impl JobForm {
    /// The form for an existing job of `config` (from its raw form).
    #[must_use]
    pub fn from_raw(j: &crate::config::RawJob) -> Self {
        Self {
            name: j.name.clone(),
            database: j.database.clone(),
            docker_container: j.docker_container.clone(),
            destination: j.destinations.as_ref().and_then(|d| d.first().cloned()).unwrap_or_else(|| j.destination.clone()),
            extra_destinations: j.destinations.as_ref().map(|d| d.iter().skip(1).cloned().collect()).unwrap_or_default(),
            schedule: j.schedule.clone(),
            timezone: j.timezone.clone(),
            format: j.format,
            compression: j.compression,
            tables: j.tables.clone(),
            exclude_tables: j.exclude_tables.clone(),
            schemas: j.schemas.clone(),
            exclude_schemas: j.exclude_schemas.clone(),
            enabled: j.enabled,
            retention: j.retention.clone(),
            notify: j.notify.clone(),
            run: RunSettings::from_raw(j),
        }
    }
}

/// Why a change was not saved. `field` is the TOML key (`schedule`,
/// `keep_days`, ...) when the problem is one field's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The key at fault, when known.
    pub field: Option<String>,
    /// One sentence.
    pub message: String,
}

impl FieldError {
    fn general(message: impl Into<String>) -> Self {
        Self { field: None, message: message.into() }
    }

    /// Reads the field out of a [`Config::parse`] message
    /// ("…, field `schedule`: …"), or `name` for a duplicate job name.
    #[must_use]
    pub fn from_config_message(message: &str) -> Self {
        let named = message.split_once("field `").and_then(|(_, rest)| rest.split_once('`'));
        if let Some((field, rest)) = named {
            // Next to its field the message drops "file: job "x", field `y`:".
            let what = rest.split_once(": ").map_or(rest, |(_, w)| w).trim();
            let mut short: String = what.chars().take(1).flat_map(char::to_uppercase).chain(what.chars().skip(1)).collect();
            if !short.ends_with('.') {
                short.push('.');
            }
            return Self { field: Some(field.to_string()), message: short };
        }
        let field = message.contains("appears twice").then(|| "name".to_string());
        Self { field, message: message.to_string() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn parse_doc(text: &str) -> Result<DocumentMut, FieldError> {
    text.parse::<DocumentMut>().map_err(|e| {
        FieldError::general(format!("The config file is not valid TOML ({}); fix it in a text editor first.", e.message().trim()))
    })
}

fn jobs_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, FieldError> {
    if !doc.contains_key("job") {
        doc.insert("job", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc["job"].as_array_of_tables_mut().ok_or_else(|| FieldError::general("The config file's `job` entry is not a list of [[job]] tables; fix it in a text editor first."))
}

fn find_job<'a>(jobs: &'a mut ArrayOfTables, name: &str) -> Option<&'a mut Table> {
    jobs.iter_mut().find(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

/// Sets `key` to `value`, keeping the old value's comments and spacing,
/// and leaving the text alone when the value did not change.
fn set(t: &mut Table, key: &str, value: impl Into<Value>) {
    let mut value: Value = value.into();
    if let Some(old) = t.get_mut(key).and_then(Item::as_value_mut) {
        let mut bare = old.clone();
        bare.decor_mut().clear();
        if bare.to_string() == value.to_string() {
            return;
        }
        *value.decor_mut() = old.decor().clone();
        *old = value;
        return;
    }
    t.insert(key, Item::Value(value));
}

fn set_opt(t: &mut Table, key: &str, value: Option<&str>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => set(t, key, v),
        None => {
            t.remove(key);
        }
    }
}

/// Writes a value only when the key is already there or the value differs
/// from the default, so untouched defaults do not clutter the file.
fn set_if<V: Into<Value>>(t: &mut Table, key: &str, value: V, is_default: bool) {
    if t.contains_key(key) || !is_default {
        set(t, key, value);
    }
}

fn list(items: &[String]) -> Array {
    items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect()
}

fn sub_table<'a>(t: &'a mut Table, key: &str) -> Result<&'a mut Table, FieldError> {
    if !t.contains_key(key) {
        let mut sub = Table::new();
        sub.set_implicit(false);
        t.insert(key, Item::Table(sub));
    }
    t[key].as_table_mut().ok_or_else(|| FieldError::general(format!("`{key}` in the config file is not a table; fix it in a text editor first.")))
}

fn fill(t: &mut Table, f: &JobForm, new: bool) -> Result<(), FieldError> {
    set(t, "name", f.name.trim());
    set(t, "database", f.database.trim());
    set_opt(t, "docker_container", f.docker_container.as_deref());
    let extra = list(&f.extra_destinations);
    if extra.is_empty() {
        t.remove("destinations");
        set(t, "destination", f.destination.trim());
    } else {
        t.remove("destination");
        let mut all = Array::new();
        all.push(f.destination.trim());
        all.extend(extra);
        t.insert("destinations", Item::Value(Value::Array(all)));
    }
    set_opt(t, "schedule", f.schedule.as_deref());
    set_opt(t, "timezone", f.timezone.as_deref());
    set_if(t, "format", f.format.as_str(), !new && f.format == Format::Plain);
    set_if(t, "compression", f.compression.as_str(), !new && f.compression == Compression::Zstd);
    for (key, items) in [("tables", &f.tables), ("exclude_tables", &f.exclude_tables), ("schemas", &f.schemas), ("exclude_schemas", &f.exclude_schemas)] {
        let is_empty = list(items).is_empty();
        if is_empty && key != "tables" {
            t.remove(key);
        } else {
            set_if(t, key, list(items), is_empty && !new);
        }
    }
    set_if(t, "enabled", f.enabled, f.enabled);
    fill_run(t, &f.run);
    let r = &f.retention;
    let d = RetentionPolicy::default();
    let n = &f.notify;
    let nd = NotifySettings::default();
    // A missing sub-table stays missing while it would only hold defaults.
    if new || t.contains_key("retention") || *r != d {
        fill_retention(sub_table(t, "retention")?, r, &d, new);
    }
    if new || t.contains_key("notify") || *n != nd {
        let no = sub_table(t, "notify")?;
        set_if(no, "on_success", n.on_success, !new && n.on_success == nd.on_success);
        set_if(no, "on_failure", n.on_failure, !new && n.on_failure == nd.on_failure);
        set_if(no, "on_stale", n.on_stale, n.on_stale == nd.on_stale);
    }
    Ok(())
}

fn fill_retention(ret: &mut Table, r: &RetentionPolicy, d: &RetentionPolicy, new: bool) {
    set_if(ret, "keep_days", i64::from(r.keep_days), !new && r.keep_days == d.keep_days);
    set_if(ret, "keep_last", i64::from(r.keep_last), !new && r.keep_last == d.keep_last);
    for (key, v) in [("daily", r.daily), ("weekly", r.weekly), ("monthly", r.monthly), ("yearly", r.yearly), ("max_backups", r.max_backups)] {
        set_if(ret, key, i64::from(v), v == 0);
    }
}

/// Adds the job (`original` = `None`) or changes the job called `original`
/// (which may be renamed) in `text`. No validation: see [`save_job`].
///
/// # Errors
/// The text is not TOML, or `original` names no job.
pub fn upsert_job(text: &str, original: Option<&str>, form: &JobForm) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let jobs = jobs_mut(&mut doc)?;
    match original {
        Some(name) => {
            let t = find_job(jobs, name)
                .ok_or_else(|| FieldError::general(format!("There is no job \"{name}\" in the config file any more; reload the settings.")))?;
            fill(t, form, false)?;
        }
        None => {
            let mut t = Table::new();
            fill(&mut t, form, true)?;
            jobs.push(t);
        }
    }
    Ok(doc.to_string())
}

/// Removes the job called `name` from `text`.
///
/// # Errors
/// The text is not TOML, or there is no such job.
pub fn delete_job(text: &str, name: &str) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let jobs = jobs_mut(&mut doc)?;
    let index = jobs
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| FieldError::general(format!("There is no job \"{name}\" in the config file any more; reload the settings.")))?;
    // Comments above the removed [[job]] (often the file's own header) stay.
    let prefix = jobs.get(index).and_then(|t| t.decor().prefix()).and_then(|p| p.as_str()).map(str::to_string);
    jobs.remove(index);
    if let (Some(prefix), Some(next)) = (prefix.filter(|p| p.contains('#')), jobs.get_mut(index)) {
        let rest = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
        next.decor_mut().set_prefix(format!("{prefix}{rest}"));
    }
    if jobs.is_empty() {
        doc.remove("job");
    }
    Ok(doc.to_string())
}

/// Sets `enabled` of the job called `name`.
///
/// # Errors
/// The text is not TOML, or there is no such job.
pub fn set_enabled(text: &str, name: &str, enabled: bool) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let jobs = jobs_mut(&mut doc)?;
    let t = find_job(jobs, name).ok_or_else(|| FieldError::general(format!("There is no job \"{name}\" in the config file any more; reload the settings.")))?;
    set_if(t, "enabled", enabled, enabled);
    Ok(doc.to_string())
}

/// Adds `recipient` to `[job.encryption] recipients` of the job called
/// `name` (the table is made when missing; a recipient already listed is
/// not added twice), or, with `recipient` = `None`, sets `passphrase = true`
/// (and removes `recipients`, which age cannot mix with a passphrase).
///
/// # Errors
/// The text is not TOML, or there is no such job.
pub fn set_encryption(
    text: &str,
    name: &str,
    recipient: Option<&str>,
) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let jobs = jobs_mut(&mut doc)?;
    let t = find_job(jobs, name).ok_or_else(|| {
        FieldError::general(format!(
            "There is no job \"{name}\" in the config file; add it first."
        ))
    })?;
    let enc = sub_table(t, "encryption")?;
    match recipient {
        Some(r) => {
            if !enc.contains_key("recipients") {
                enc.insert("recipients", Item::Value(Value::Array(Array::new())));
            }
            let list = enc["recipients"].as_array_mut().ok_or_else(|| FieldError {
                field: Some("encryption.recipients".into()),
                message: "`recipients` is not a list; fix it in a text editor first.".into(),
            })?;
            if !list.iter().any(|v| v.as_str() == Some(r)) {
                list.push(r);
            }
            if enc.get("passphrase").and_then(Item::as_bool) == Some(true) {
                set(enc, "passphrase", false);
            }
        }
        None => {
            enc.remove("recipients");
            set(enc, "passphrase", true);
        }
    }
    Ok(doc.to_string())
}

/// [`set_encryption`] on the file at `path`, validated and written atomically.
///
/// # Errors
/// As [`apply`].
pub fn save_encryption(
    path: &Path,
    env: &ParseEnv,
    name: &str,
    recipient: Option<&str>,
) -> Result<Config, FieldError> {
    apply(path, env, |text| set_encryption(text, name, recipient))
}

/// Sets the OneDrive application (client) id and tenant under `[onedrive]`
/// (made when missing), keeping the rest of the file. An empty id removes
/// the key; the tenant `common` is written only when the key exists already.
///
/// # Errors
/// When the text does not parse, or `[onedrive]` is not a table.
pub fn set_onedrive_app(text: &str, client_id: Option<&str>, tenant: &str) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let od = sub_table(doc.as_table_mut(), "onedrive")?;
    match client_id.map(str::trim).filter(|c| !c.is_empty()) {
        Some(id) => set(od, "client_id", id),
        None => {
            od.remove("client_id");
        }
    }
    let tenant = tenant.trim();
    let tenant = if tenant.is_empty() { "common" } else { tenant };
    if tenant != "common" || od.contains_key("tenant") {
        set(od, "tenant", tenant);
    }
    Ok(doc.to_string())
}

/// [`set_onedrive_app`] on the file at `path`, validated and written atomically.
///
/// # Errors
/// As [`apply`]; a field error names `client_id` or `tenant`.
pub fn save_onedrive_app(path: &Path, env: &ParseEnv, client_id: Option<&str>, tenant: &str) -> Result<Config, FieldError> {
    apply(path, env, |text| set_onedrive_app(text, client_id, tenant))
}

/// Sets `[ui] language` (made when missing), keeping the rest of the file:
/// `"auto"` (the system's language) is written only when the key exists
/// already. Any other value than the choices is refused by the validation
/// with a field error naming `language`.
///
/// # Errors
/// When the text does not parse, or `[ui]` is not a table.
pub fn set_language(text: &str, language: &str) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let language = language.trim();
    let has_ui = doc.as_table().contains_key("ui");
    if language == "auto" && !has_ui {
        return Ok(doc.to_string());
    }
    let ui = sub_table(doc.as_table_mut(), "ui")?;
    if language != "auto" || ui.contains_key("language") {
        set(ui, "language", language);
    }
    Ok(doc.to_string())
}

/// [`set_language`] on the file at `path`, validated and written atomically.
///
/// # Errors
/// As [`apply`]; a value that is not a language is a field error naming `language`.
pub fn save_language(path: &Path, env: &ParseEnv, language: &str) -> Result<Config, FieldError> {
    apply(path, env, |text| set_language(text, language))
}

/// Parses `text` as the config at `path` would be, turning an error into a
/// [`FieldError`].
///
/// # Errors
/// The first problem, with the field it concerns.
pub fn validate(text: &str, path: &Path, env: &ParseEnv) -> Result<Config, FieldError> {
    Config::parse(text, Some(path), env).map_err(|e| FieldError::from_config_message(e.message()))
}

/// Reads the config file (a missing file is an empty config).
///
/// # Errors
/// When the file exists but cannot be read.
pub fn read(path: &Path) -> Result<String, FieldError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(FieldError::general(format!("The config file {} cannot be read ({e}).", path.display()))),
    }
}

/// Writes `text` to `path` atomically: a temp file beside it, fsync, rename.
/// The file keeps its permissions (a new one is owner-only), and when
/// `path` is a symbolic link (a dotfiles repository, say) the file it points
/// to is written and the link stays.
///
/// # Errors
/// When the folder is not writable.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), FieldError> {
    let fail = |e: std::io::Error| FieldError::general(format!("The settings could not be saved to {} ({e}); check the folder's permissions.", path.display()));
    let target = link_target(path).map_err(fail)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private::create_dir_all(dir).map_err(fail)?;
    }
    let keep = std::fs::metadata(&target).ok().map(|m| m.permissions());
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = crate::private::create_file(&tmp).map_err(fail)?;
    if let Some(perms) = keep {
        f.set_permissions(perms).map_err(fail)?;
    }
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, &target).map_err(fail)
}

/// The file `path` finally names, following symbolic links (also one whose
/// target does not exist yet); `path` itself when it is no link.
fn link_target(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Applies `edit` to the file at `path`, validates the result and writes
/// it. Nothing is written when the result does not validate.
///
/// # Errors
/// The edit or the validation failed, or the file could not be written.
pub fn apply(path: &Path, env: &ParseEnv, edit: impl FnOnce(&str) -> Result<String, FieldError>) -> Result<Config, FieldError> {
    // One edit at a time in this process (the window runs its commands on
    // several threads): a read-change-write never undoes another's change.
    static EDITS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = EDITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = read(path)?;
    let new = edit(&text)?;
    let config = validate(&new, path, env)?;
    write_atomic(path, &new)?;
    Ok(config)
}

/// Adds or changes one job in the file at `path` (see [`upsert_job`]).
///
/// # Errors
/// As [`apply`]; a field error names the TOML key.
pub fn save_job(path: &Path, env: &ParseEnv, original: Option<&str>, form: &JobForm) -> Result<Config, FieldError> {
    if original.is_none() || original != Some(form.name.trim()) {
        let existing = read(path)?;
        if let Ok(c) = Config::parse(&existing, Some(path), env)
            && c.jobs.iter().any(|j| j.name == form.name.trim())
        {
            return Err(FieldError {
                field: Some("name".into()),
                message: format!("A job called \"{}\" already exists; pick another name.", form.name.trim()),
            });
        }
    }
    apply(path, env, |text| upsert_job(text, original, form))
}

// ---- the connection as fields ------------------------------------------

/// A job's connection as separate fields, the form's other way to write its
/// `database` URL; [`split_connection`] and [`join_connection`] keep the two
/// in step, with the URL parser the config file uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionParts {
    /// `postgres` or `mysql` (MariaDB too).
    pub engine: crate::model::Engine,
    /// Host name or address (empty: this computer, through the socket).
    pub host: String,
    /// TCP port (empty: the engine's default).
    pub port: Option<u16>,
    /// Login (empty: the user running Nightjar).
    pub user: String,
    /// Database name.
    pub database: String,
    /// A PostgreSQL socket folder or a MySQL/MariaDB socket file (empty: none).
    pub socket: String,
    /// Other URL parameters (`sslmode`, ...), kept as they are.
    pub params: std::collections::BTreeMap<String, String>,
}

impl Default for ConnectionParts {
    fn default() -> Self {
        Self { engine: crate::model::Engine::Postgres, host: String::new(), port: None, user: String::new(), database: String::new(), socket: String::new(), params: std::collections::BTreeMap::new() }
    }
}

fn url_error(e: &crate::Error) -> FieldError {
    let m = e.message();
    let mut short: String = m.chars().take(1).flat_map(char::to_uppercase).chain(m.chars().skip(1)).collect();
    if !short.ends_with('.') {
        short.push('.');
    }
    FieldError { field: Some("database".into()), message: short }
}

/// The fields of a `database` URL.
///
/// # Errors
/// A field error on `database` when the URL does not parse or holds a password.
pub fn split_connection(url: &str) -> Result<ConnectionParts, FieldError> {
    let db = crate::db::DbUrl::parse(url).map_err(|e| url_error(&e))?;
    if db.has_password() {
        return Err(FieldError { field: Some("database".into()), message: "Passwords never go in the URL: remove it and type it in the Password field, which keeps it in the keyring.".into() });
    }
    let mut params = db.params.clone();
    let (host, socket) = match (db.engine, db.host.clone().unwrap_or_default()) {
        (crate::model::Engine::Postgres, h) if h.starts_with('/') => (String::new(), h),
        (crate::model::Engine::Mysql, h) => (h, params.remove("socket").unwrap_or_default()),
        (_, h) => (h, String::new()),
    };
    Ok(ConnectionParts { engine: db.engine, host, port: db.port, user: db.user.clone().unwrap_or_default(), database: db.database.clone(), socket, params })
}

/// The `database` URL of the fields, checked by the parser the config file uses.
///
/// # Errors
/// A field error on the field at fault (`conn_database`, `conn_host`), or on
/// `database` when the result does not parse.
pub fn join_connection(p: &ConnectionParts) -> Result<String, FieldError> {
    use crate::db::enc;
    let at = |field: &str, message: &str| FieldError { field: Some(field.into()), message: message.into() };
    let (host, socket, database) = (p.host.trim(), p.socket.trim(), p.database.trim());
    if database.is_empty() {
        return Err(at("conn_database", "Type the database's name."));
    }
    if host.contains(['/', '@', '?', '#', ' ']) {
        return Err(at("conn_host", "A host is a name or an address (a socket goes in the Socket field)."));
    }
    let scheme = match p.engine {
        crate::model::Engine::Postgres => "postgres",
        crate::model::Engine::Mysql => "mysql",
    };
    let mut url = format!("{scheme}://");
    if !p.user.trim().is_empty() {
        url.push_str(&enc(p.user.trim()));
        url.push('@');
    }
    let host = if host.is_empty() && p.port.is_some() && socket.is_empty() { "localhost" } else { host };
    if host.contains(':') {
        url.push_str(&format!("[{host}]"));
    } else {
        url.push_str(host);
    }
    if let Some(port) = p.port {
        url.push_str(&format!(":{port}"));
    }
    url.push('/');
    url.push_str(&enc(database));
    let mut query: Vec<String> = Vec::new();
    if !socket.is_empty() {
        let key = if p.engine == crate::model::Engine::Postgres { "host" } else { "socket" };
        query.push(format!("{key}={}", enc(socket)));
    }
    for (k, v) in &p.params {
        query.push(format!("{}={}", enc(k), enc(v)));
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    crate::db::DbUrl::parse(&url).map_err(|e| url_error(&e))?;
    Ok(url)
}

fn alerts_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, FieldError> {
    if !doc.contains_key("alert") {
        doc.insert("alert", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc["alert"].as_array_of_tables_mut().ok_or_else(|| FieldError::general("The config file's `alert` entry is not a list of [[alert]] tables; fix it in a text editor first."))
}

fn set_list(t: &mut Table, key: &str, items: &[String]) {
    let items: Vec<String> = items.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        t.remove(key);
    } else {
        set(t, key, list(&items));
    }
}

/// Writes the fields of `a` into the `[[alert]]` table `t`; fields the
/// alert's kind does not use are removed.
fn fill_alert(t: &mut Table, a: &crate::alerts::AlertSpec) {
    use crate::alerts::AlertKind;
    set(t, "name", a.name.trim());
    set(t, "kind", a.kind.as_str());
    let events: Vec<String> = a.events.iter().map(|e| e.as_str().to_string()).collect();
    set_list(t, "events", &events);
    set_list(t, "jobs", &a.jobs);
    set_opt(t, "remind_every", a.remind_every.as_deref());
    let email = a.kind == AlertKind::Email;
    set_opt(t, "smtp", a.smtp.as_deref().filter(|_| email));
    set_opt(t, "tls", a.tls.filter(|_| email).map(|x| match x {
        crate::alerts::SmtpTls::Starttls => "starttls",
        crate::alerts::SmtpTls::Tls => "tls",
        crate::alerts::SmtpTls::None => "none",
    }));
    set_opt(t, "from", a.from.as_deref().filter(|_| email));
    set_list(t, "to", if email { &a.to } else { &[] });
    set_opt(t, "url", a.url.as_deref().filter(|_| matches!(a.kind, AlertKind::Webhook | AlertKind::Ping)));
    set_opt(t, "format", a.format.filter(|_| a.kind == AlertKind::Webhook).map(|f| match f {
        crate::alerts::WebhookFormat::Json => "json",
        crate::alerts::WebhookFormat::Slack => "slack",
        crate::alerts::WebhookFormat::Discord => "discord",
        crate::alerts::WebhookFormat::Teams => "teams",
    }));
    let tg = a.kind == AlertKind::Telegram;
    set_opt(t, "chat_id", a.chat_id.as_deref().filter(|_| tg));
    set_opt(t, "api_base_url", a.api_base_url.as_deref().filter(|_| tg));
}

/// Adds the alert `a` to `text` (`original` = `None`) or changes the one
/// called `original`, keeping comments and layout.
///
/// # Errors
/// The text is not TOML, or there is no alert called `original`.
pub fn upsert_alert(text: &str, original: Option<&str>, a: &crate::alerts::AlertSpec) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    // Comments at the end of the file (all of a file of comments only) stay
    // above a table added after them.
    let trailing = if original.is_none() { doc.trailing().as_str().unwrap_or("").to_string() } else { String::new() };
    if !trailing.trim().is_empty() {
        doc.set_trailing("");
    }
    let alerts = alerts_mut(&mut doc)?;
    match original {
        Some(name) => {
            let t = alerts
                .iter_mut()
                .find(|t| t.get("name").and_then(Item::as_str) == Some(name))
                .ok_or_else(|| FieldError::general(format!("There is no alert \"{name}\" in the config file any more; reload the settings.")))?;
            fill_alert(t, a);
        }
        None => {
            let mut t = Table::new();
            fill_alert(&mut t, a);
            if !trailing.trim().is_empty() {
                t.decor_mut().set_prefix(trailing);
            }
            alerts.push(t);
        }
    }
    Ok(doc.to_string())
}

/// Removes the alert called `name` from `text`.
///
/// # Errors
/// The text is not TOML, or there is no such alert.
pub fn delete_alert(text: &str, name: &str) -> Result<String, FieldError> {
    let mut doc = parse_doc(text)?;
    let alerts = alerts_mut(&mut doc)?;
    let index = alerts
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| FieldError::general(format!("There is no alert \"{name}\" in the config file any more; reload the settings.")))?;
    alerts.remove(index);
    if alerts.is_empty() {
        doc.remove("alert");
    }
    Ok(doc.to_string())
}

/// Adds or changes one alert in the file at `path` (see [`upsert_alert`]).
///
/// # Errors
/// As [`apply`]; a field error names the TOML key.
pub fn save_alert(path: &Path, env: &ParseEnv, original: Option<&str>, a: &crate::alerts::AlertSpec) -> Result<Config, FieldError> {
    if original != Some(a.name.trim()) {
        let existing = read(path)?;
        if let Ok(c) = Config::parse(&existing, Some(path), env)
            && c.raw.alerts.iter().any(|x| x.name == a.name.trim())
        {
            return Err(FieldError { field: Some("name".into()), message: format!("An alert called \"{}\" already exists; pick another name.", a.name.trim()) });
        }
    }
    apply(path, env, |text| upsert_alert(text, original, a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env() -> ParseEnv {
        ParseEnv { home: Some(PathBuf::from("/home/me")), system_tz: chrono_tz::Tz::UTC }
    }

    const TEXT: &str = r#"# My backups
[[job]]
name = "tgapp"
database = "postgres://tgapp@localhost:5432/tgapp"   # the app
destination = "/home/me/OneDrive/Backups/tg-app"
schedule = "0 0 * * *"                               # midnight
format = "plain"
tables = []

[job.retention]
keep_days = 7
keep_last = 0              # 0: no count limit
# daily = 7, weekly = 4, monthly = 12, yearly = 5

[onedrive]
tenant = "common"
"#;

    fn form(c: &Config, name: &str) -> JobForm {
        JobForm::from_raw(c.raw.jobs.iter().find(|j| j.name == name).unwrap())
    }

    #[test]
    fn editing_keeps_comments_and_changes_only_what_changed() {
        let c = Config::parse(TEXT, None, &env()).unwrap();
        let mut f = form(&c, "tgapp");
        f.retention.keep_days = 14;
        f.schedule = Some("daily 02:30".into());
        let out = upsert_job(TEXT, Some("tgapp"), &f).unwrap();
        assert!(out.contains("# My backups"), "{out}");
        assert!(out.contains("# the app"), "{out}");
        assert!(out.contains("keep_days = 14"), "{out}");
        assert!(out.contains("schedule = \"daily 02:30\"                               # midnight"), "{out}");
        assert!(out.contains("keep_last = 0              # 0: no count limit"), "{out}");
        assert!(out.contains("# daily = 7, weekly = 4, monthly = 12, yearly = 5"), "{out}");
        let again = Config::parse(&out, None, &env()).unwrap();
        assert_eq!(again.jobs[0].retention.keep_days, 14);
        // Saving an unchanged form changes nothing.
        let f = form(&c, "tgapp");
        assert_eq!(upsert_job(TEXT, Some("tgapp"), &f).unwrap(), TEXT);
        // The cap is written when set, and read back.
        let mut f = form(&c, "tgapp");
        f.retention.max_backups = 30;
        let out = upsert_job(TEXT, Some("tgapp"), &f).unwrap();
        assert!(out.contains("max_backups = 30"), "{out}");
        assert_eq!(Config::parse(&out, None, &env()).unwrap().jobs[0].retention.max_backups, 30);
    }

    #[test]
    fn the_onedrive_app_is_set_in_place_and_checked() {
        let id = "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901";
        let out = set_onedrive_app(TEXT, Some(id), "consumers").unwrap();
        assert!(out.contains("# My backups") && out.contains("# the app"), "{out}");
        let c = Config::parse(&out, None, &env()).unwrap();
        assert_eq!((c.raw.onedrive.client_id.as_deref(), c.raw.onedrive.tenant.as_str()), (Some(id), "consumers"));
        assert_eq!(c.jobs.len(), 1, "the jobs are kept");
        // No [onedrive] table yet: one is made after the jobs.
        let out = set_onedrive_app("[[job]]\nname = \"a\"\ndatabase = \"postgres://u@h/a\"\ndestination = \"/b\"\n", Some(id), "common").unwrap();
        let c = Config::parse(&out, None, &env()).unwrap();
        assert_eq!(c.raw.onedrive.client_id.as_deref(), Some(id), "{out}");
        assert!(!out.contains("tenant"), "the default tenant is not written: {out}");
        // An empty id removes the key.
        let out = set_onedrive_app(&out, Some(""), "common").unwrap();
        assert!(!out.contains("client_id"), "{out}");
        // A wrong id or tenant is a field error (validated like the file).
        let bad = set_onedrive_app(TEXT, Some("my app"), "common").unwrap();
        let e = validate(&bad, Path::new("/c.toml"), &env()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("client_id"), "{e}");
        assert!(e.message.contains("Application (client) ID"), "{e}");
        let bad = set_onedrive_app(TEXT, Some(id), "my company").unwrap();
        assert_eq!(validate(&bad, Path::new("/c.toml"), &env()).unwrap_err().field.as_deref(), Some("tenant"));
        let ok = set_onedrive_app(TEXT, Some(id), "contoso.onmicrosoft.com").unwrap();
        validate(&ok, Path::new("/c.toml"), &env()).unwrap();
    }

    #[test]
    fn the_language_is_set_in_place_and_checked() {
        use crate::config::Language;
        let out = set_language(TEXT, "ru").unwrap();
        assert!(out.contains("# My backups") && out.contains("[ui]"), "{out}");
        let c = validate(&out, Path::new("/c.toml"), &env()).unwrap();
        assert_eq!((c.raw.ui.language, c.jobs.len()), (Language::Ru, 1));
        let back = set_language(&out, "auto").unwrap();
        assert_eq!(validate(&back, Path::new("/c.toml"), &env()).unwrap().raw.ui.language, Language::Auto);
        assert_eq!(set_language(TEXT, "auto").unwrap(), TEXT, "auto on a file without [ui] changes nothing");
        let e = validate(&set_language(TEXT, "de").unwrap(), Path::new("/c.toml"), &env()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("language"), "{e}");
        assert!(e.message.contains("\"de\" is not a language") && e.message.contains("\"th\""), "{e}");
    }

    #[test]
    fn alerts_are_added_edited_and_deleted_in_place() {
        use crate::alerts::{AlertKind, AlertSpec, EventKind};
        let text = "# my config\n[[job]]\nname = \"app\"\ndatabase = \"postgres://u@h/app\"\ndestination = \"/b\"\n\n# team alerts\n[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://h/x\"  # the team hook\n";
        let mut tg = AlertSpec::new("tg", AlertKind::Telegram);
        tg.chat_id = Some("-100".into());
        tg.events = vec![EventKind::Failure, EventKind::Recovery];
        let added = upsert_alert(text, None, &tg).unwrap();
        let c = Config::parse(&added, None, &env()).unwrap();
        assert_eq!(c.raw.alerts.len(), 2);
        assert_eq!(c.raw.alerts[1], tg);
        assert!(added.contains("# team alerts") && added.contains("# the team hook"), "{added}");
        let mut hook = c.raw.alerts[0].clone();
        hook.format = Some(crate::alerts::WebhookFormat::Slack);
        let edited = upsert_alert(&added, Some("hook"), &hook).unwrap();
        assert!(edited.contains("url = \"http://h/x\"  # the team hook"), "{edited}");
        assert!(edited.contains("format = \"slack\""), "{edited}");
        let gone = delete_alert(&edited, "tg").unwrap();
        let c = Config::parse(&gone, None, &env()).unwrap();
        assert_eq!(c.raw.alerts, vec![hook]);
        assert!(delete_alert(&gone, "tg").is_err());
        let first = upsert_alert("# my settings\n", None, &tg).unwrap();
        assert!(first.starts_with("# my settings\n"), "{first}");
        assert_eq!(Config::parse(&first, None, &env()).unwrap().raw.alerts, vec![tg]);
    }

    #[test]
    fn add_and_delete_job() {
        let c = Config::parse(TEXT, None, &env()).unwrap();
        let mut f = form(&c, "tgapp");
        f.name = "billing".into();
        f.database = "postgres://b@db:5432/billing".into();
        f.docker_container = Some("billing-pg".into());
        f.notify.on_success = true;
        let out = upsert_job(TEXT, None, &f).unwrap();
        let c2 = Config::parse(&out, None, &env()).unwrap();
        assert_eq!(c2.jobs.len(), 2);
        let b = &c2.jobs[1];
        assert_eq!((b.name.as_str(), b.docker_container.as_deref(), b.notify.on_success), ("billing", Some("billing-pg"), true));
        assert_eq!(c2.raw.onedrive.tenant, "common");
        let out = delete_job(&out, "tgapp").unwrap();
        let c3 = Config::parse(&out, None, &env()).unwrap();
        assert_eq!(c3.jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), ["billing"]);
        assert!(out.contains("# My backups"));
        let out = set_enabled(&out, "billing", false).unwrap();
        assert!(!Config::parse(&out, None, &env()).unwrap().jobs[0].enabled);
    }

    #[test]
    fn encryption_is_added_in_place_keeping_comments() {
        let (_, a) = crate::crypt::generate_identity();
        let (_, b) = crate::crypt::generate_identity();
        let out = set_encryption(TEXT, "tgapp", Some(&a)).unwrap();
        let out = set_encryption(&out, "tgapp", Some(&b)).unwrap();
        let out = set_encryption(&out, "tgapp", Some(&a)).unwrap();
        for line in TEXT.lines().filter(|l| l.contains('#')) {
            assert!(out.contains(line), "comment kept: {line}\n{out}");
        }
        let c = Config::parse(&out, None, &env()).unwrap();
        let j = c.jobs.iter().find(|j| j.name == "tgapp").unwrap();
        assert_eq!(j.encryption.as_ref().unwrap().recipients, vec![a, b]);
        let out = set_encryption(&out, "tgapp", None).unwrap();
        let c = Config::parse(&out, None, &env()).unwrap();
        let e = c
            .jobs
            .iter()
            .find(|j| j.name == "tgapp")
            .unwrap()
            .encryption
            .clone()
            .unwrap();
        assert!(e.passphrase && e.recipients.is_empty());
        assert!(set_encryption(TEXT, "nope", None).is_err());
        // A settings-form save keeps the section it does not show.
        let f = form(&c, "tgapp");
        let saved = upsert_job(&out, Some("tgapp"), &f).unwrap();
        assert!(
            Config::parse(&saved, None, &env())
                .unwrap()
                .jobs
                .iter()
                .find(|j| j.name == "tgapp")
                .unwrap()
                .encryption
                .is_some()
        );
    }

    #[test]
    fn run_settings_are_written_in_place_only_when_set_and_checked_like_the_file() {
        let c = Config::parse(TEXT, None, &env()).unwrap();
        let mut f = form(&c, "tgapp");
        assert_eq!(f.run, RunSettings::default(), "nothing in the file: the file's defaults");
        f.run = RunSettings { compression_level: Some(9), tool_dir: Some("/usr/lib/postgresql/17/bin".into()), catch_up: CatchUpPolicy::IfStale, retries: 4, stale_after: Some("30h".into()), verify_every: 7 };
        let out = upsert_job(TEXT, Some("tgapp"), &f).unwrap();
        for line in TEXT.lines().filter(|l| l.contains('#')) {
            assert!(out.contains(line), "comment kept: {line}\n{out}");
        }
        let again = Config::parse(&out, None, &env()).unwrap();
        let j = &again.jobs[0];
        assert_eq!((j.compression_level, j.catch_up, j.retries, j.verify_every), (9, CatchUpPolicy::IfStale, 4, 7));
        assert_eq!((j.stale_after, j.tool_dir.as_deref()), (Some(chrono::Duration::hours(30)), Some(Path::new("/usr/lib/postgresql/17/bin"))));
        assert!(out.contains("catch_up = \"if-stale\"") && out.contains("stale_after = \"30h\""), "{out}");
        assert_eq!(form(&again, "tgapp").run, f.run, "read back as saved");
        // Back to the defaults: the keys set to a default stay, the optional ones go.
        let mut back = form(&again, "tgapp");
        back.run = RunSettings::default();
        let out = upsert_job(&out, Some("tgapp"), &back).unwrap();
        assert!(!out.contains("compression_level") && !out.contains("tool_dir") && !out.contains("stale_after"), "{out}");
        assert!(out.contains("retries = 2") && out.contains("catch_up = \"once\""), "{out}");
        // Bad values: the same field errors as the file.
        for (run, field, says) in [
            (RunSettings { compression_level: Some(40), ..RunSettings::default() }, "compression_level", "1 to 19"),
            (RunSettings { retries: 11, ..RunSettings::default() }, "retries", "0 to 10"),
            (RunSettings { stale_after: Some("soon".into()), ..RunSettings::default() }, "stale_after", "26h"),
        ] {
            let mut bad = form(&c, "tgapp");
            bad.run = run;
            let e = validate(&upsert_job(TEXT, Some("tgapp"), &bad).unwrap(), Path::new("/c.toml"), &env()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
            assert!(e.message.contains(says), "{e:?}");
        }
    }

    #[test]
    fn the_connection_splits_into_fields_and_joins_back() {
        use crate::db::DbUrl;
        for url in [
            "postgres://tgapp@localhost:5432/tgapp",
            "postgres://app@/shop?host=/var/run/postgresql",
            "postgresql://u@db.example.com/big%20db?sslmode=require",
            "postgres:///local",
            "mysql://root@localhost/shop?socket=/run/mysqld/mysqld.sock",
            "mysql://app@[::1]:3307/shop",
        ] {
            let parts = split_connection(url).unwrap();
            let joined = join_connection(&parts).unwrap();
            assert_eq!(DbUrl::parse(&joined).unwrap(), DbUrl::parse(url).unwrap(), "{url} -> {parts:?} -> {joined}");
            assert_eq!(split_connection(&joined).unwrap(), parts, "{joined}");
        }
        let p = split_connection("postgres://app@/shop?host=/var/run/postgresql").unwrap();
        assert_eq!((p.host.as_str(), p.socket.as_str(), p.user.as_str(), p.database.as_str()), ("", "/var/run/postgresql", "app", "shop"));
        let m = split_connection("mysql://root@localhost/shop?socket=/run/mysqld/mysqld.sock").unwrap();
        assert_eq!((m.engine, m.host.as_str(), m.socket.as_str()), (crate::model::Engine::Mysql, "localhost", "/run/mysqld/mysqld.sock"));
        let fields = ConnectionParts { host: "db".into(), port: Some(5433), user: "me".into(), database: "sales".into(), ..ConnectionParts::default() };
        assert_eq!(join_connection(&fields).unwrap(), "postgres://me@db:5433/sales");
        assert_eq!(join_connection(&ConnectionParts { database: String::new(), ..fields.clone() }).unwrap_err().field.as_deref(), Some("conn_database"));
        assert_eq!(join_connection(&ConnectionParts { host: "/tmp".into(), ..fields }).unwrap_err().field.as_deref(), Some("conn_host"));
        let e = split_connection("postgres://me:secret@db/sales").unwrap_err();
        assert!(e.field.as_deref() == Some("database") && !e.message.contains("secret"), "{e:?}");
        assert_eq!(split_connection("http://x/y").unwrap_err().field.as_deref(), Some("database"));
    }

    #[test]
    fn more_destinations_are_written_as_a_list_and_back_to_one() {
        let text = "[[job]]\nname = \"a\"\ndatabase = \"postgres://u@h/a\"\ndestination = \"/b\"\n";
        let c = Config::parse(text, None, &env()).unwrap();
        let mut f = JobForm::from_raw(&c.raw.jobs[0]);
        assert!(f.extra_destinations.is_empty());
        f.extra_destinations = vec!["s3://bucket/a".into(), " ".into(), "onedrive:/Backups/a".into()];
        let out = upsert_job(text, Some("a"), &f).unwrap();
        let c = Config::parse(&out, None, &env()).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(c.jobs[0].destinations.len(), 3, "{out}");
        assert!(!out.contains("destination ="), "one key, the list: {out}");
        let back = JobForm::from_raw(&c.raw.jobs[0]);
        assert_eq!((back.destination.as_str(), back.extra_destinations.clone()), ("/b", vec!["s3://bucket/a".to_string(), "onedrive:/Backups/a".to_string()]));
        // The same place twice is the list's field error.
        let mut dup = back.clone();
        dup.extra_destinations = vec!["/b/".into()];
        let e = Config::parse(&upsert_job(&out, Some("a"), &dup).unwrap(), None, &env()).unwrap_err();
        assert_eq!(FieldError::from_config_message(e.message()).field.as_deref(), Some("destinations"), "{e}");
        // Back to one place: `destination` again, no list.
        let mut one = back;
        one.extra_destinations.clear();
        let out = upsert_job(&out, Some("a"), &one).unwrap();
        assert!(out.contains("destination = \"/b\"") && !out.contains("destinations"), "{out}");
        assert_eq!(Config::parse(&out, None, &env()).unwrap().jobs[0].destinations.len(), 1);
    }

    #[test]
    fn first_job_in_an_empty_file() {
        let f = JobForm {
            name: "a".into(),
            database: "postgres://u@h/a".into(),
            docker_container: Some(String::new()),
            destination: "/b".into(),
            extra_destinations: vec![],
            schedule: Some("every 6h".into()),
            timezone: None,
            format: Format::Custom,
            compression: Compression::Gzip,
            tables: vec![],
            exclude_tables: vec![" ".into()],
            schemas: vec![],
            exclude_schemas: vec![],
            enabled: true,
            retention: RetentionPolicy::default(),
            notify: NotifySettings::default(),
            run: RunSettings::default(),
        };
        let out = upsert_job("", None, &f).unwrap();
        let c = Config::parse(&out, None, &env()).unwrap();
        assert_eq!(JobForm::from_raw(&c.raw.jobs[0]), JobForm { docker_container: None, exclude_tables: vec![], ..f });
        assert!(out.contains("[job.retention]") && out.contains("keep_days = 7"), "{out}");
    }

    #[test]
    fn save_rejects_bad_values_with_the_field_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, TEXT).unwrap();
        let c = Config::parse(TEXT, None, &env()).unwrap();
        let mut f = form(&c, "tgapp");
        f.schedule = Some("every 5h".into());
        let e = save_job(&path, &env(), Some("tgapp"), &f).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedule"), "{e:?}");
        assert!(e.message.starts_with("\"Every 5h\": the hours") || e.message.starts_with("\"every 5h\": the hours"), "{e:?}");
        assert!(e.message.ends_with('.') && !e.message.contains("config.toml"), "{e:?}");
        let mut f = form(&c, "tgapp");
        f.timezone = Some("Mars/Base".into());
        assert_eq!(save_job(&path, &env(), Some("tgapp"), &f).unwrap_err().field.as_deref(), Some("timezone"));
        let f = form(&c, "tgapp");
        assert_eq!(save_job(&path, &env(), None, &f).unwrap_err().field.as_deref(), Some("name"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), TEXT);
        let mut f = form(&c, "tgapp");
        f.retention.keep_days = 30;
        let saved = save_job(&path, &env(), Some("tgapp"), &f).unwrap();
        assert_eq!(saved.jobs[0].retention.keep_days, 30);
        assert!(std::fs::read_to_string(&path).unwrap().contains("keep_days = 30"));
    }
}
