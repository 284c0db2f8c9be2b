//! Restore and verify: the operations that run at the worst moment, for a
//! stressed person, and must not be able to lose anything.
//!
//! A restore goes through fixed steps, and the database is touched only
//! after the file has passed every check:
//!
//! ```text
//! plan_restore (file only) → probe (list databases) → [confirmation by the caller]
//!   → validate (manifest sha256, full decompression, header / pg_restore --list)
//!   → safety backup of the target (Runner::backup, trigger pre-restore)
//!   → CREATE DATABASE <db>__nightjar_restore_<ts> → psql --single-transaction | pg_restore --exit-on-error
//!   → one transaction: end sessions, RENAME target → <db>__before_restore_<ts>, RENAME tmp → target
//! ```
//!
//! A failure at any step before the last leaves the target exactly as it
//! was and drops the temporary database; the last step is a single
//! transaction, so either both names change or neither does. The replaced
//! database is kept under its `__before_restore_` name until the user drops
//! it ([`Restorer::kept_databases`], [`Restorer::drop_kept`]).
//!
//! Verify checks a file the same way and can load it into a scratch
//! database on a server (`<db>__nightjar_verify_<ts>`), count the rows of
//! every table, drop it, and mark the backup verified in the history.
//!
//! Every run and every refusal is recorded in the history (kind `restore`
//! or `verify`); the safety backup is a backup run of its own.

pub mod admin;
pub mod mysql;
pub mod names;
pub mod server;
mod session;

mod feed;
mod guard;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Job;
use crate::db::DbUrl;
use crate::engine::RunContext;
use crate::history::{NewRun, RunKind, RunOutcome, RunRecord};
use crate::inspect::{self, Content, Inspection};
use crate::lock::JobLock;
use crate::model::{Compression, Engine, Format, RunStatus, Trigger};
use crate::observer::{Progress, RunObserver, Stage};
use crate::runner::{BackupOptions, Runner};
use crate::source::postgres::{self, PgTarget};
use crate::trust::{self, Trust};
use crate::{Error, ErrorKind, Result};

use feed::{FeedChild, LenientSink, StreamError, Stdout, Streamed};
pub use names::{derived_name, KeptKind, BEFORE_MARKER, MAX_IDENTIFIER, RESTORE_MARKER, VERIFY_MARKER};
pub use admin::DbServer;
pub use server::{DbInfo, Server, Session};

/// How long a restore waits for a running backup of the same job.
const JOB_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// How often the swap is tried when a client reconnects in between.
const SWAP_ATTEMPTS: u32 = 3;

/// Choices of one restore (`Debug` in [`crate::db`], without the password).
#[derive(Clone)]
pub struct RestoreOptions {
    /// Restore into this new database and leave the original alone.
    pub as_new: Option<String>,
    /// Back the target up first (trigger `pre-restore`) when it is replaced.
    pub safety_backup: bool,
    /// End the other sessions on the target at the swap; when false, a
    /// restore with sessions connected is refused, naming them.
    pub terminate_connections: bool,
    /// A password for this run only (e.g. from an ad-hoc URL).
    pub password: Option<String>,
    /// The keyring account to read the password from (default: the job's).
    pub password_account: Option<String>,
    /// Where the file came from when it is a local copy of a remote backup
    /// (`onedrive:/…`, see [`crate::remote`]): the history names it.
    pub origin: Option<String>,
    /// The user acknowledged restoring a file this Nightjar did not make
    /// (see [`crate::trust`]); without it such a file is refused.
    pub trust_file: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self { as_new: None, safety_backup: true, terminate_connections: true, password: None, password_account: None, origin: None, trust_file: false }
    }
}

/// What a restore does to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreMode {
    /// The target exists and is replaced (and kept under another name).
    Replace,
    /// The target does not exist and is created.
    Create,
    /// A new database is created and the target is left alone.
    AsNew,
}

/// Whether the file was checked against a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumStatus {
    /// Size and sha256 match the manifest beside the file.
    Verified,
    /// There is no manifest; only the decompression and format checks ran.
    NoManifest,
}

/// What a restore will do, computed before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    /// The job (or ad-hoc name) the restore belongs to.
    pub job: String,
    /// The file to restore.
    pub file: PathBuf,
    /// What the file is.
    pub inspection: Inspection,
    /// `host:port` of the server.
    pub server: String,
    /// The database named by the URL (the one replaced, or left alone with `as_new`).
    pub target: String,
    /// The database that will hold the restored data.
    pub database: String,
    /// Replace, create, or as-new.
    pub mode: RestoreMode,
    /// Whether the target exists (`None` until probed).
    pub target_exists: Option<bool>,
    /// The target's current size, when known.
    pub target_size: Option<u64>,
    /// Sessions connected to the target when probed.
    pub sessions: Vec<Session>,
    /// The server's version, once probed.
    pub server_version: Option<String>,
    /// A safety backup will be taken first.
    pub safety_backup: bool,
    /// Where the safety backup goes.
    pub safety_destination: Option<String>,
    /// A manifest is beside the file (its sha256 will be checked).
    pub has_manifest: bool,
    /// The sha256 the manifest states.
    pub expected_sha256: Option<String>,
    /// Size of the uncompressed dump, when known (manifest, or an
    /// uncompressed file).
    pub estimated_size: Option<u64>,
    /// Things the user should know before confirming.
    pub warnings: Vec<String>,
    /// Whether this Nightjar made the file (in-history, authentic-manifest,
    /// not-ours) and the sentence saying so; filled in by
    /// [`Restorer::prepare`]. A plan without it counts as not ours.
    pub trust: Option<Trust>,
}

impl RestorePlan {
    /// One sentence saying what will happen.
    #[must_use]
    pub fn action(&self) -> String {
        let name = self.inspection.name();
        match self.mode {
            RestoreMode::Replace => format!(
                "Replace the database \"{}\" on {} with the content of {name}; the current \"{}\" is kept under another name until you drop it.",
                self.database, self.server, self.database
            ),
            RestoreMode::Create => format!("Create the database \"{}\" on {} from {name} (it does not exist yet).", self.database, self.server),
            RestoreMode::AsNew => format!(
                "Create the new database \"{}\" on {} from {name}; \"{}\" is not touched.",
                self.database, self.server, self.target
            ),
        }
    }
}

/// The outcome of the checks of a file.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// What the file is.
    pub inspection: Inspection,
    /// sha256 of the whole file.
    pub sha256: String,
    /// Checked against a manifest or not.
    pub checksum: ChecksumStatus,
    /// Size of the decompressed content.
    pub data_size: u64,
    /// Entries in a custom archive's table of contents.
    pub archive_entries: Option<u64>,
    /// The first line of a plain script holding a string that psql reads
    /// differently with `standard_conforming_strings` off (see
    /// [`guard`]): such a file loads only through a psql that restricts
    /// commands itself.
    #[serde(skip)]
    pub ambiguous_line: Option<u64>,
    /// Time spent.
    pub duration_ms: u64,
}

/// How [`validate`] checks a file.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Refuse content of another engine, and content Nightjar cannot
    /// restore (`None`: only check integrity, as `verify` does).
    pub engine: Option<Engine>,
    /// The database it is meant for (messages).
    pub database: Option<String>,
    /// The `pg_restore` that reads custom archives (`None`: the newest installed).
    pub pg_restore: Option<PathBuf>,
    /// Where to look for the tools.
    pub tool_dir: Option<PathBuf>,
    /// Run `pg_restore` in this container instead.
    pub docker_container: Option<String>,
}

/// The finished record of a restore (`nightjar restore --json`).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// History row id.
    pub run_id: i64,
    /// Job (or ad-hoc name).
    pub job: String,
    /// Always success (failures are errors).
    pub status: RunStatus,
    /// Full path of the restored file.
    pub file: String,
    /// `host:port`.
    pub server: String,
    /// The database that now holds the restored data.
    pub database: String,
    /// What was done.
    pub mode: RestoreMode,
    /// The replaced database's new name (replace only).
    pub kept_as: Option<String>,
    /// The safety backup's file, when one was taken.
    pub safety_backup: Option<String>,
    /// The safety backup's history row.
    pub safety_backup_run_id: Option<i64>,
    /// Sessions on the target that were ended at the swap.
    pub closed_connections: u64,
    /// Who they were (as seen just before).
    pub closed_sessions: Vec<Session>,
    /// Size of the file.
    pub size: u64,
    /// Size of the decompressed content.
    pub data_size: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Checked against a manifest or not.
    pub checksum: ChecksumStatus,
    /// Whether this Nightjar made the file (from the plan).
    pub trust: Option<Trust>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// What happened, for people.
    pub message: String,
}

/// Rows of one table after a test restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Row count.
    pub rows: u64,
}

/// What a test restore found.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreTest {
    /// `host:port`.
    pub server: String,
    /// The scratch database (dropped again).
    pub scratch_database: String,
    /// Number of tables.
    pub table_count: usize,
    /// Sum of the row counts.
    pub total_rows: u64,
    /// Per table.
    pub tables: Vec<TableRows>,
    /// Time spent loading and counting.
    pub duration_ms: u64,
}

/// Choices of one verify (`Debug` in [`crate::db`], without the password).
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// Also restore into a scratch database on this job's server.
    pub restore_test: Option<Job>,
    /// A password for this run only.
    pub password: Option<String>,
    /// The keyring account to read the password from.
    pub password_account: Option<String>,
    /// Where the file came from when it is a local copy of a remote backup
    /// (`onedrive:/…`, see [`crate::remote`]): the history names it, and
    /// its backup row is the one marked verified.
    pub origin: Option<String>,
    /// The user acknowledged test-restoring a file this Nightjar did not
    /// make (see [`crate::trust`]); a plain check never needs it.
    pub trust_file: bool,
}

/// The finished record of a verify (`nightjar verify --json`).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// History row id of this verify.
    pub run_id: i64,
    /// Full path.
    pub file: String,
    /// Always success (failures are errors).
    pub status: RunStatus,
    /// What the file is.
    pub content: Content,
    /// Outer compression.
    pub compression: Compression,
    /// Size of the file.
    pub size: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Checked against a manifest or not.
    pub checksum: ChecksumStatus,
    /// Whether this Nightjar made the file.
    pub trust: Trust,
    /// Size of the decompressed content.
    pub data_size: u64,
    /// The test restore, when asked for.
    pub restore_test: Option<RestoreTest>,
    /// The backup's history row, when the history knows the file.
    pub backup_run_id: Option<i64>,
    /// When it was marked verified (test restores only).
    pub verified_at: Option<DateTime<Utc>>,
    /// Wall time.
    pub duration_ms: u64,
    /// What happened, for people.
    pub message: String,
}

/// A database a restore left on the server.
#[derive(Debug, Clone, Serialize)]
pub struct KeptDatabase {
    /// Its name.
    pub name: String,
    /// Why it exists.
    pub kind: KeptKind,
    /// The database it was (the name before the marker).
    pub base: String,
    /// The stamp in its name (local time of the restore).
    pub stamp: String,
    /// Size in bytes, when we may read it.
    pub size: Option<u64>,
    /// Sessions connected to it now.
    pub connections: u64,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidBackup, message)
}

/// Refuses what can never be restored into `target`, from the inspection alone.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] (not a backup, empty, another engine, a
/// cluster dump) or [`ErrorKind::Config`] (MySQL targets).
pub fn check_restorable(insp: &Inspection, engine: Engine, database: &str) -> Result<()> {
    let path = insp.path.display();
    if let Some(p) = &insp.decode_problem {
        return Err(invalid(format!("{path} cannot be restored: {p}, so the file is damaged; pick another backup.")));
    }
    match insp.content {
        Content::Empty => return Err(invalid(format!("{path} is empty, so it is not a backup; pick another file (`nightjar list` shows your backups)."))),
        Content::Unknown => {
            return Err(invalid(format!(
                "{path} is not a database backup (neither a pg_dump file nor a MySQL dump); pick another file (`nightjar list` shows your backups)."
            )));
        }
        Content::PostgresCluster => {
            return Err(invalid(format!(
                "{path} is a pg_dumpall dump of a whole cluster, and Nightjar restores one database at a time; restore it by hand with `psql -f`."
            )));
        }
        _ => {}
    }
    let file_engine = insp.engine().unwrap_or(Engine::Postgres);
    if file_engine != engine {
        let (what, into) = match engine {
            Engine::Postgres => ("a MySQL/MariaDB dump", "PostgreSQL"),
            Engine::Mysql => ("a PostgreSQL dump", "MySQL/MariaDB"),
        };
        return Err(invalid(format!("{path} is {what} and cannot be restored into the {into} database \"{database}\"; pick another backup, of a {into} database.")));
    }
    Ok(())
}

/// The plan for restoring `file` into `target`, computed from the file
/// alone: no database is contacted. [`probe`] fills in what only the
/// server knows (whether the target exists, who is connected).
///
/// # Errors
/// The file cannot be read, is not restorable into `target` (see
/// [`check_restorable`]), or `options.as_new` is not a usable name.
pub fn plan_restore(file: &Path, target: &DbUrl, options: &RestoreOptions) -> Result<RestorePlan> {
    let insp = inspect::inspect(file)?;
    check_restorable(&insp, target.engine, &target.database)?;
    let (mode, database) = match &options.as_new {
        Some(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::config("--as-new needs a database name."));
            }
            if name.len() > MAX_IDENTIFIER {
                return Err(Error::config(format!("The database name \"{name}\" is longer than {MAX_IDENTIFIER} bytes; pick a shorter one for --as-new.")));
            }
            if name == target.database {
                return Err(Error::config(format!("--as-new {name} names the target itself; pick another name, or leave --as-new out to replace \"{name}\".")));
            }
            (RestoreMode::AsNew, name.to_string())
        }
        None => (RestoreMode::Replace, target.database.clone()),
    };
    let mut warnings = Vec::new();
    match (&insp.manifest, &insp.manifest_problem) {
        (Some(m), _) => {
            if m.database != target.database && mode != RestoreMode::AsNew {
                warnings.push(format!("The backup is of the database \"{}\" and will be restored into \"{database}\".", m.database));
            }
        }
        (None, Some(p)) => warnings.push(format!("{p}, so the file's checksum cannot be checked; the decompression and format checks still run.")),
        (None, None) => warnings.push("There is no manifest beside the file, so its checksum cannot be checked; the decompression and format checks still run.".into()),
    }
    let estimated_size = insp.manifest.as_ref().map(|m| m.dump_size).or((insp.compression == Compression::None).then_some(insp.size));
    Ok(RestorePlan {
        job: String::new(),
        file: insp.path.clone(),
        server: target.server(),
        target: target.database.clone(),
        database,
        mode,
        target_exists: None,
        target_size: None,
        sessions: Vec::new(),
        server_version: None,
        safety_backup: options.safety_backup && mode == RestoreMode::Replace,
        safety_destination: None,
        has_manifest: insp.manifest.is_some(),
        expected_sha256: insp.manifest.as_ref().map(|m| m.sha256.clone()),
        estimated_size,
        warnings,
        trust: None,
        inspection: insp,
    })
}

/// Fills in what the server knows: whether the target exists (a restore
/// into a missing one creates it), its size and sessions, and the server
/// version. It only lists databases and sessions.
///
/// # Errors
/// When the server cannot be queried, or the `as_new` name is taken.
pub fn probe(server: &DbServer, plan: &mut RestorePlan, options: &RestoreOptions) -> Result<()> {
    plan.server_version = Some(server.version_text());
    let info = server.database_info(&plan.target)?;
    plan.target_exists = Some(info.is_some());
    plan.target_size = info.as_ref().and_then(|i| i.size);
    plan.sessions = info.map(|i| i.sessions).unwrap_or_default();
    match plan.mode {
        RestoreMode::AsNew => {
            if !server.existing(&[plan.database.as_str()])?.is_empty() {
                return Err(Error::config(format!(
                    "The database \"{}\" already exists on {}; pick another name for --as-new (Nightjar never overwrites it).",
                    plan.database, plan.server
                )));
            }
            plan.sessions.clear();
        }
        RestoreMode::Replace | RestoreMode::Create => {
            plan.mode = if plan.target_exists == Some(true) { RestoreMode::Replace } else { RestoreMode::Create };
        }
    }
    plan.safety_backup = options.safety_backup && plan.mode == RestoreMode::Replace;
    if plan.mode != RestoreMode::Replace {
        plan.sessions.clear();
    }
    if let DbServer::Mysql(my) = server
        && let Some(dumped) = plan.inspection.header.server_version.as_deref().and_then(crate::source::mysql::parse_server_version)
        && let Some(w) = mysql::compat_warning(&dumped, my.version())
    {
        plan.warnings.push(w);
    }
    if let Some(major) = server.pg_major()
        && let Some(dumped) = plan.inspection.header.server_version.as_deref().and_then(inspect::pg_major)
        && dumped > major
    {
        plan.warnings.push(format!(
            "The backup comes from PostgreSQL {dumped} and the server is PostgreSQL {major}; objects or settings new in {dumped} may fail to restore."
        ));
    }
    if plan.mode == RestoreMode::Replace && !plan.sessions.is_empty() {
        let n = plan.sessions.len();
        let verb = if options.terminate_connections { "will be closed just before the swap" } else { "must disconnect first (--no-terminate)" };
        plan.warnings.push(format!(
            "{n} session{} connected to \"{}\" {verb}: {}.",
            if n == 1 { " is" } else { "s are" },
            plan.target,
            server::describe_sessions(&plan.sessions)
        ));
    }
    Ok(())
}

/// Finds the `pg_restore` to read archives with, and wraps it for a container.
fn pg_restore_command(opts: &ValidateOptions, args: &[String]) -> Result<Command> {
    let dummy = PgTarget {
        url: DbUrl::parse("postgres://localhost/postgres").expect("a valid URL"),
        password: None,
        docker_container: opts.docker_container.clone(),
    };
    let program = match (&opts.pg_restore, &opts.docker_container) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => PathBuf::from("pg_restore"),
        (None, None) => postgres::installed_tools(opts.tool_dir.as_deref())
            .iter()
            .map(|t| postgres::sibling(t, "pg_restore"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Tool,
                    "pg_restore was not found, and it is needed to check a custom-format archive; install the PostgreSQL client tools (Debian/Ubuntu: sudo apt install postgresql-client) or set the job's `tool_dir`.",
                )
            })?,
    };
    let mut c = postgres::tool_command(&dummy, &program, args);
    c.env_remove("PGPASSWORD");
    Ok(c)
}

/// Checks a file completely without touching any database: the manifest's
/// size and sha256 when there is one, a full decompression pass (a
/// truncated or corrupted file fails here), the plain-SQL header and
/// pg_dump's closing line, or `pg_restore --list` for a custom archive;
/// with `opts.engine`, that the content fits the target.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] naming the file and what to do;
/// [`ErrorKind::Tool`] when `pg_restore` is missing; [`ErrorKind::Interrupted`].
pub fn validate(file: &Path, opts: &ValidateOptions, observer: &dyn RunObserver, label: &str, cancel: &AtomicBool) -> Result<Validation> {
    let t0 = Instant::now();
    let insp = inspect::inspect(file)?;
    let path = insp.path.display().to_string();
    match opts.engine {
        Some(engine) => check_restorable(&insp, engine, opts.database.as_deref().unwrap_or("?"))?,
        None => {
            if let Some(p) = &insp.decode_problem {
                return Err(invalid(format!("{path} is damaged: {p}; pick another backup.")));
            }
            match insp.content {
                Content::Empty => return Err(invalid(format!("{path} is empty, so it is not a backup; pick another file."))),
                Content::Unknown => return Err(invalid(format!("{path} is not a database backup (neither a pg_dump file nor a MySQL dump); pick another file."))),
                _ => {}
            }
        }
    }
    if let Some(m) = &insp.manifest
        && m.size != insp.size
    {
        return Err(invalid(format!(
            "{path} is {} bytes but its manifest says {}, so the file is truncated or was changed; pick another backup.",
            insp.size, m.size
        )));
    }
    observer.stage(label, Stage::Validating);
    let mut report = |file_bytes: u64, data_bytes: u64| {
        observer.progress(label, &Progress { stage: Stage::Validating, bytes_in: file_bytes, bytes_out: data_bytes, elapsed: t0.elapsed() });
    };
    let mut ambiguous_line = None;
    let (streamed, entries) = if insp.content == Content::PostgresCustom {
        let cmd = pg_restore_command(opts, &["--list".to_string()])?;
        let mut child = FeedChild::spawn(cmd, Stdout::CountEntries).map_err(|e| {
            Error::new(ErrorKind::Tool, format!("pg_restore could not be started ({e}); install the PostgreSQL client tools or set the job's `tool_dir`."))
        })?;
        let streamed = {
            let mut sink = LenientSink::new(&mut child);
            inspect_stream(&insp, &mut sink, &mut report, cancel)
        };
        let streamed = match streamed {
            Ok(s) => s,
            Err(e) => {
                child.kill();
                return Err(e);
            }
        };
        match child.finish() {
            Ok(n) => (streamed, Some(n)),
            Err(f) => {
                let line = server::error_line(&f.stderr_tail).unwrap_or_else(|| f.status_text());
                if f.stderr_tail.contains("unsupported version") {
                    return Err(Error::new(
                        ErrorKind::Tool,
                        format!("{path} was written by a newer pg_dump than this pg_restore can read ({line}); install newer PostgreSQL client tools or set the job's `tool_dir`."),
                    ));
                }
                return Err(invalid(format!("{path} is not a readable pg_dump archive ({line}), so it is damaged; pick another backup.")));
            }
        }
    } else if insp.content == Content::Mysql {
        let mut scan = mysql::DumpScan::default();
        let streamed = inspect_stream(&insp, &mut scan, &mut report, cancel)?;
        let _ = std::io::Write::flush(&mut scan);
        if let Some(line) = &scan.switches_database {
            return Err(invalid(format!(
                "{path} switches or creates databases itself (\"{line}\"), so it would not stay in the database it is restored into; restore it by hand with the mysql client, or pick a backup of one database."
            )));
        }
        (streamed, None)
    } else if insp.content == Content::PostgresPlain {
        // No psql command from a file ever runs: refuse it before anything is touched.
        let mut scan = guard::MetaGuard::new(std::io::sink(), false);
        let streamed = inspect_stream(&insp, &mut scan, &mut report, cancel);
        if let Err(r) = scan.finish() {
            return Err(invalid(format!("{path} cannot be restored: {r}.")));
        }
        ambiguous_line = scan.scanner().ambiguous_line();
        (streamed?, None)
    } else {
        (inspect_stream(&insp, &mut std::io::sink(), &mut report, cancel)?, None)
    };
    let checksum = match &insp.manifest {
        Some(m) if !m.sha256.eq_ignore_ascii_case(&streamed.sha256) => {
            return Err(invalid(format!(
                "{path} does not match the sha256 in its manifest, so the file is damaged or was changed; pick another backup."
            )));
        }
        Some(_) => ChecksumStatus::Verified,
        None => ChecksumStatus::NoManifest,
    };
    if insp.content == Content::PostgresPlain && !ends_like_pg_dump(&streamed.tail) {
        return Err(invalid(format!(
            "{path} ends before pg_dump's closing line (\"-- PostgreSQL database dump complete\"), so it is truncated; pick another backup."
        )));
    }
    if insp.content == Content::Mysql && !String::from_utf8_lossy(&streamed.tail).contains("-- Dump completed") {
        return Err(invalid(format!("{path} ends before the dump tool's closing line (\"-- Dump completed\"), so it is truncated; pick another backup.")));
    }
    Ok(Validation {
        sha256: streamed.sha256,
        checksum,
        data_size: streamed.data_bytes,
        archive_entries: entries,
        ambiguous_line,
        duration_ms: ms(t0.elapsed()),
        inspection: insp,
    })
}

/// pg_dump closes every plain script with this comment (followed, since
/// 2025's releases, by an `\unrestrict` line).
/// `message` with its first letter lower-cased when it opens with "The "
/// (a sentence continued after a colon).
fn lower_first(message: &str) -> String {
    match message.strip_prefix("The ") {
        Some(rest) => format!("the {rest}"),
        None => message.to_string(),
    }
}

/// True when a client's stderr says the database server's disk is full
/// (PostgreSQL: "could not extend file … No space left on device"; MySQL:
/// "The table … is full", errno 28).
pub(crate) fn server_disk_full(stderr: &str) -> bool {
    ["No space left on device", "could not extend file", "Disk full", "errno: 28", "Errcode: 28"].iter().any(|s| stderr.contains(s))
        || (stderr.contains("The table") && stderr.contains("is full"))
}

fn ends_like_pg_dump(tail: &[u8]) -> bool {
    String::from_utf8_lossy(tail).contains("-- PostgreSQL database dump complete")
}

fn inspect_stream(insp: &Inspection, sink: &mut dyn std::io::Write, report: &mut dyn FnMut(u64, u64), cancel: &AtomicBool) -> Result<Streamed> {
    let path = insp.path.display();
    feed::stream_file(&insp.path, insp.compression, sink, report, cancel).map_err(|e| match e {
        StreamError::Read(e) => invalid(format!("{path} could not be read to the end ({e}); check the disk, or pick another backup.")),
        StreamError::Decode(e) => invalid(format!("{path} is truncated or corrupted (its {} data fails to decompress: {e}); pick another backup.", insp.compression)),
        StreamError::Write(e) => Error::other(format!("Checking {path} failed ({e}).")),
        StreamError::Cancelled => Error::new(ErrorKind::Interrupted, format!("The check of {path} was stopped; nothing was changed.")),
    })
}

/// `e` naming `origin` (`onedrive:/…`) instead of the local copy `local`
/// it was restored or verified from, for the history and the user.
fn name_origin(e: Error, local: &Path, origin: Option<&String>) -> Error {
    let Some(origin) = origin else { return e };
    let mut message = e.message().to_string();
    let abs = std::path::absolute(local).unwrap_or_else(|_| local.to_path_buf());
    for p in [abs.display().to_string(), local.display().to_string()] {
        if !p.is_empty() {
            message = message.replace(&p, origin);
        }
    }
    if message == e.message() { e } else { Error::new(e.kind(), message) }
}

/// What loading a file into a database produced.
struct Loaded {
    streamed: Streamed,
}

/// Runs restores and verifies: a view of a [`RunContext`], made by
/// [`crate::Engine::restorer`].
#[derive(Clone, Copy)]
pub struct Restorer<'a>(pub(crate) RunContext<'a>);

impl Restorer<'_> {
    fn password(&self, job: &Job, password: Option<&String>, account: Option<&String>) -> Option<String> {
        crate::secrets::database_password(
            self.secrets,
            job,
            password.map(String::as_str),
            account.map(String::as_str),
            &AtomicBool::new(false),
        )
    }

    fn pg_target(&self, job: &Job, password: Option<&String>, account: Option<&String>) -> PgTarget {
        PgTarget { url: job.db.clone(), password: self.password(job, password, account), docker_container: job.docker_container.clone() }
    }

    /// Reaches the job's server: tools chosen, version read (nothing else).
    ///
    /// # Errors
    /// Tools missing, server unreachable, wrong password.
    pub fn server(&self, job: &Job, password: Option<&String>, account: Option<&String>) -> Result<DbServer> {
        match job.db.engine {
            Engine::Postgres => Server::connect(self.pg_target(job, password, account), job.tool_dir.as_deref()).map(DbServer::Postgres),
            Engine::Mysql => {
                let target = crate::source::mysql::MyTarget {
                    url: job.db.clone(),
                    password: self.password(job, password, account),
                    docker_container: job.docker_container.clone(),
                };
                mysql::MyServer::connect(target, job.tool_dir.as_deref()).map(DbServer::Mysql)
            }
        }
    }

    fn new_run(&self, kind: RunKind, job: &str, destination: String, insp: Option<&Inspection>, database: Option<String>, started_at: DateTime<Utc>) -> NewRun {
        NewRun {
            job: job.to_string(),
            kind,
            trigger: Trigger::Manual,
            started_at,
            destination,
            engine: insp.and_then(Inspection::engine),
            format: insp.and_then(Inspection::format),
            compression: insp.map(|i| i.compression),
            database,
        }
    }

    fn failed_outcome(&self, e: &Error, file: Option<&Path>, size: Option<u64>) -> RunOutcome {
        RunOutcome {
            status: if e.kind() == ErrorKind::Interrupted { RunStatus::Interrupted } else { RunStatus::Failed },
            finished_at: self.clock.now(),
            size,
            file: file.map(|f| f.display().to_string()),
            sha256: None,
            error: Some(e.message().to_string()),
            error_kind: Some(e.kind().code().to_string()),
        }
    }

    fn record_refusal(&self, run: &NewRun, e: &Error, file: &Path, size: Option<u64>) {
        if let Err(h) = self.history.record_failure(run, &self.failed_outcome(e, Some(file), size)) {
            tracing::error!(job = %run.job, "could not record the failure in the history: {}", h.detailed());
        }
        tracing::warn!(job = %run.job, kind = %run.kind, "refused: {}", e.detailed());
    }

    /// Downloads the remote backup `origin` ([`crate::remote::fetch`]) for
    /// a run of `kind` of `job` (progress under the job's name); a failed
    /// download (full data folder, lost connection, damaged file) is
    /// recorded in the history as a failed run.
    ///
    /// # Errors
    /// As [`crate::remote::fetch`].
    pub fn fetch(&self, origin: &str, job: &str, kind: RunKind, destination: String, database: Option<String>) -> Result<crate::remote::LocalCopy> {
        let started_at = self.clock.now();
        crate::remote::fetch(self.engine, origin, self.observer, job, self.cancel).inspect_err(|e| {
            let run = self.new_run(kind, job, destination, None, database, started_at);
            self.record_refusal(&run, e, Path::new(origin.trim()), None);
        })
    }

    /// Plans a restore of `file` into `job`'s database and probes the
    /// server (lists databases and sessions; nothing is changed). Show
    /// the plan, ask for confirmation, then call [`Restorer::restore`].
    /// A refusal is recorded in the history.
    ///
    /// # Errors
    /// The file is not restorable there, or the server cannot be reached.
    pub fn prepare(&self, file: &Path, job: &Job, opts: &RestoreOptions) -> Result<RestorePlan> {
        let started_at = self.clock.now();
        let result = (|| {
            let mut plan = plan_restore(file, &job.db, opts)?;
            plan.job = job.name.clone();
            let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
            probe(&server, &mut plan, opts)?;
            if plan.safety_backup {
                plan.safety_destination = Some(job.destination.display());
            }
            let role = trust::connecting_role(&job.db);
            plan.trust = Some(self.trust_of(&plan.inspection, None, opts.origin.as_deref(), Some(&role))?);
            Ok(plan)
        })();
        let result = result.map_err(|e| name_origin(e, file, opts.origin.as_ref()));
        if let Err(e) = &result {
            let insp = inspect::inspect(file).ok();
            let run = self.new_run(RunKind::Restore, &job.name, job.db.display(), insp.as_ref(), Some(opts.as_new.clone().unwrap_or_else(|| job.db.database.clone())), started_at);
            let shown = opts.origin.as_ref().map_or_else(|| insp.as_ref().map_or_else(|| file.to_path_buf(), |i| i.path.clone()), PathBuf::from);
            self.record_refusal(&run, e, &shown, insp.as_ref().map(|i| i.size));
        }
        result
    }

    /// Prepares and restores in one go (no confirmation step: for callers
    /// that confirmed otherwise).
    ///
    /// # Errors
    /// As [`Restorer::prepare`] and [`Restorer::restore`].
    pub fn run(&self, file: &Path, job: &Job, opts: &RestoreOptions) -> Result<RestoreReport> {
        let plan = self.prepare(file, job, opts)?;
        self.restore(&plan, job, opts)
    }

    /// Carries out a confirmed plan: validate, safety backup, load into a
    /// temporary database, swap. On any failure the target is as it was and
    /// the temporary database is gone. Recorded in the history.
    ///
    /// # Errors
    /// The first failure, as one sentence naming the file or database.
    pub fn restore(&self, plan: &RestorePlan, job: &Job, opts: &RestoreOptions) -> Result<RestoreReport> {
        let started_at = self.clock.now();
        let t0 = Instant::now();
        let mut run = self.new_run(RunKind::Restore, &job.name, job.db.display(), Some(&plan.inspection), Some(plan.database.clone()), started_at);
        let mut state = RestoreState::default();
        let result = self.restore_steps(plan, job, opts, &mut run, &mut state);
        match (result, state.run_id) {
            (Ok(mut report), Some(id)) => {
                report.run_id = id;
                if let Some(o) = &opts.origin {
                    report.file.clone_from(o);
                }
                report.started_at = started_at;
                report.finished_at = self.clock.now();
                report.duration_ms = ms(t0.elapsed());
                self.history.finish_run(
                    id,
                    &RunOutcome {
                        status: RunStatus::Success,
                        finished_at: report.finished_at,
                        size: Some(report.size),
                        file: Some(report.file.clone()),
                        sha256: Some(report.sha256.clone()),
                        error: None,
                        error_kind: None,
                    },
                )?;
                tracing::info!(job = %job.name, database = %report.database, file = %report.file, "restore finished: {}", report.message);
                Ok(report)
            }
            (Ok(_), None) => unreachable!("a successful restore has a history row"),
            (Err(e), run_id) => {
                let e = name_origin(e, &plan.inspection.path, opts.origin.as_ref());
                let shown = opts.origin.as_ref().map_or_else(|| plan.inspection.path.clone(), PathBuf::from);
                let mut outcome = self.failed_outcome(&e, Some(&shown), Some(plan.inspection.size));
                outcome.sha256 = state.sha256.clone();
                let recorded = match run_id {
                    Some(id) => self.history.finish_run(id, &outcome),
                    None => self.history.record_failure(&run, &outcome).map(drop),
                };
                if let Err(h) = recorded {
                    tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
                }
                tracing::warn!(job = %job.name, "restore failed: {}", e.detailed());
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn restore_steps(&self, plan: &RestorePlan, job: &Job, opts: &RestoreOptions, run: &mut NewRun, state: &mut RestoreState) -> Result<RestoreReport> {
        let label = job.name.as_str();
        let file = plan.inspection.path.clone();
        let name = plan.inspection.name();
        // One restore per job at a time.
        let _restore_lock = JobLock::try_acquire(&self.data.lock_dir(), &format!("{}.restore", job.name)).map_err(|e| {
            if e.kind() == ErrorKind::Busy {
                Error::new(ErrorKind::Busy, format!("Another restore of job \"{}\" is already running; wait for it to finish, then try again.", job.name))
            } else {
                e
            }
        })?;
        self.observer.stage(label, Stage::Preparing);
        let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
        let vopts = ValidateOptions {
            engine: Some(job.db.engine),
            database: Some(plan.database.clone()),
            pg_restore: job.docker_container.is_none().then(|| server.pg_restore()).flatten(),
            tool_dir: job.tool_dir.clone(),
            docker_container: job.docker_container.clone(),
        };
        let validation = validate(&file, &vopts, self.observer, label, self.cancel)?;
        state.sha256 = Some(validation.sha256.clone());
        let assessed = plan.trust.as_ref().map(|t| t.sha256.as_str());
        if plan.expected_sha256.as_deref().into_iter().chain(assessed).any(|s| !s.eq_ignore_ascii_case(&validation.sha256)) {
            return Err(invalid(format!("{} changed since the restore was planned; look at the file, then start the restore again.", file.display())));
        }
        // A file this Nightjar did not make runs only with the user's acknowledgement.
        match &plan.trust {
            Some(t) if t.needs_acknowledgement() && !opts.trust_file => return Err(t.refusal("restore it")),
            None if !opts.trust_file => return Err(Error::config(format!("It is not known who made {}; plan the restore again.", file.display()))),
            Some(t) if t.needs_acknowledgement() => tracing::warn!(job = %job.name, "restoring a file acknowledged by the user: {}", t.message),
            _ => {}
        }
        let format = validation.inspection.format().unwrap_or(Format::Plain);
        run.format = Some(format);
        self.psql_client(&server, &validation)?;
        self.check_cancel(&name)?;

        // What is on the server now (it may have changed since the plan was shown).
        let target_info = server.database_info(&plan.target)?;
        let mode = match plan.mode {
            RestoreMode::AsNew => {
                if !server.existing(&[plan.database.as_str()])?.is_empty() {
                    return Err(Error::config(format!(
                        "The database \"{}\" already exists on {}; pick another name for --as-new (Nightjar never overwrites it).",
                        plan.database, plan.server
                    )));
                }
                RestoreMode::AsNew
            }
            RestoreMode::Create if target_info.is_some() => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("The database \"{}\" was created on {} after the restore was planned; start the restore again to see what it would replace.", plan.database, plan.server),
                ));
            }
            RestoreMode::Replace if target_info.is_none() => RestoreMode::Create,
            m => m,
        };
        let like = target_info.clone();
        if mode == RestoreMode::Replace && !opts.terminate_connections {
            self.refuse_if_connected(&server, &plan.database, target_info.clone())?;
        }

        // Safety backup of what is about to be replaced.
        let mut safety = None;
        if mode == RestoreMode::Replace && opts.safety_backup {
            self.observer.stage(label, Stage::SafetyBackup);
            let runner = Runner(self.0);
            let mut bopts = BackupOptions::new(Trigger::PreRestore);
            bopts.prune = false; // retention must not delete the file being restored
            bopts.password = server.password();
            bopts.password_account.clone_from(&opts.password_account);
            bopts.wait_for_lock = Some(JOB_LOCK_WAIT);
            let report = runner.backup(job, &bopts).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("The safety backup of \"{}\" failed, so the restore did not start and nothing was changed: {}", plan.database, lower_first(e.message())),
                )
            })?;
            safety = Some(report);
        }
        self.check_cancel(&name)?;

        // From here on, this run holds the job: no backup of it runs meanwhile.
        let _job_lock = JobLock::acquire_wait(&self.data.lock_dir(), &job.name, JOB_LOCK_WAIT, self.cancel)?;
        self.history.mark_interrupted(
            &job.name,
            self.clock.now(),
            "Interrupted: Nightjar stopped before this run finished (crash, power loss or kill); a later run replaced it.",
        )?;
        state.run_id = Some(self.history.start_run(run)?);

        // Names for the temporary and the kept database, free on the server.
        let (tmp, keep_as) = self.free_names(&server, &plan.database, job, mode)?;
        self.observer.stage(label, Stage::Restoring);
        let props = match mode {
            RestoreMode::Create => None,
            RestoreMode::Replace | RestoreMode::AsNew => like.as_ref(),
        };
        server.create_database(&tmp, props)?;
        let outcome = (|| -> Result<(Loaded, u64, Vec<Session>)> {
            let loaded = self.load(&server, &tmp, &validation, label)?;
            if let Some(p) = props {
                server.copy_properties(&tmp, p)?;
            }
            self.check_cancel(&name)?;
            self.observer.stage(label, Stage::Swapping);
            let (closed, who) = match mode {
                RestoreMode::Replace => self.swap(&server, &plan.database, keep_as.as_deref().unwrap_or_default(), &tmp, opts.terminate_connections)?,
                RestoreMode::Create | RestoreMode::AsNew => {
                    server.rename(&tmp, &plan.database).map_err(|e| {
                        Error::new(e.kind(), format!("The restored data could not be given the name \"{}\": {}", plan.database, e.message()))
                    })?;
                    (0, Vec::new())
                }
            };
            Ok((loaded, closed, who))
        })();
        let (loaded, closed, who) = match outcome {
            Ok(v) => v,
            Err(e) => return Err(self.cleanup(&server, &tmp, e, mode, &plan.database)),
        };
        let mut message = match mode {
            RestoreMode::Replace => format!(
                "Restored {name} into \"{}\" on {}; the previous \"{}\" is kept as \"{}\" until you drop it.",
                plan.database,
                server.name(),
                plan.database,
                keep_as.as_deref().unwrap_or_default()
            ),
            RestoreMode::Create => format!("Restored {name} into the new database \"{}\" on {}.", plan.database, server.name()),
            RestoreMode::AsNew => format!("Restored {name} into the new database \"{}\" on {}; \"{}\" was not touched.", plan.database, server.name(), plan.target),
        };
        if closed > 0 {
            let whom = if who.is_empty() { String::new() } else { format!(": {}", server::describe_sessions(&who)) };
            message.push_str(&format!(" Closed {closed} connection{} to \"{}\" at the swap{whom}.", if closed == 1 { "" } else { "s" }, plan.database));
        }
        Ok(RestoreReport {
            run_id: 0,
            job: job.name.clone(),
            status: RunStatus::Success,
            file: file.display().to_string(),
            server: server.name(),
            database: plan.database.clone(),
            mode,
            kept_as: keep_as,
            safety_backup: safety.as_ref().map(|s| s.file.clone()),
            safety_backup_run_id: safety.as_ref().map(|s| s.run_id),
            closed_connections: closed,
            closed_sessions: who,
            size: loaded.streamed.file_bytes,
            data_size: loaded.streamed.data_bytes,
            sha256: loaded.streamed.sha256,
            checksum: validation.checksum,
            trust: plan.trust.clone(),
            duration_ms: 0,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            message,
        })
    }

    fn check_cancel(&self, name: &str) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped before it changed anything.")));
        }
        Ok(())
    }

    fn refuse_if_connected(&self, server: &DbServer, db: &str, info: Option<DbInfo>) -> Result<()> {
        let info = match info {
            Some(i) => Some(i),
            None => server.database_info(db)?,
        };
        let sessions = info.map(|i| i.sessions).unwrap_or_default();
        if sessions.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!(
                "\"{db}\" on {} has {} session{} connected ({}); disconnect them and restore again, or leave out --no-terminate to close them at the swap.",
                server.name(),
                sessions.len(),
                if sessions.len() == 1 { "" } else { "s" },
                server::describe_sessions(&sessions)
            ),
        ))
    }

    fn free_names(&self, server: &DbServer, db: &str, job: &Job, mode: RestoreMode) -> Result<(String, Option<String>)> {
        let mut at = self.clock.now();
        for _ in 0..120 {
            let stamp = names::stamp(at, job.timezone);
            let tmp = derived_name(db, RESTORE_MARKER, &stamp);
            let keep = (mode == RestoreMode::Replace).then(|| derived_name(db, BEFORE_MARKER, &stamp));
            let mut wanted = vec![tmp.as_str()];
            if let Some(k) = &keep {
                wanted.push(k);
            }
            if server.existing(&wanted)?.is_empty() {
                return Ok((tmp, keep));
            }
            at += chrono::Duration::seconds(1);
        }
        Err(Error::other(format!("No free name for the temporary copy of \"{db}\" on {}; drop old copies with `nightjar kept drop`.", server.name())))
    }

    /// Streams the validated file into `db` with psql or pg_restore.
    fn load(&self, server: &DbServer, db: &str, validation: &Validation, label: &str) -> Result<Loaded> {
        let t0 = Instant::now();
        let insp = &validation.inspection;
        let path = insp.path.display().to_string();
        let name = insp.name();
        let client = self.psql_client(server, validation)?;
        let (cmd, tool) = server.load_command(db, insp.format());
        let mut child = FeedChild::spawn(cmd, Stdout::Discard).map_err(|e| {
            Error::new(ErrorKind::Tool, format!("{tool} could not be started ({e}); install the database's client tools or set the job's `tool_dir`."))
        })?;
        let pid = child.id();
        let observer = self.observer;
        let mut report = |file_bytes: u64, data_bytes: u64| {
            observer.progress(label, &Progress { stage: Stage::Restoring, bytes_in: file_bytes, bytes_out: data_bytes, elapsed: t0.elapsed() });
        };
        let mut refusal = None;
        let streamed = crate::source::child::with_cancel_watch(pid, self.cancel, || match client {
            // A plain script: psql reads it through the guard (the file
            // read again may not be the file validated), inside Nightjar's
            // own `\restrict` where the client has it.
            Some(restricts) => {
                let mut guarded = guard::MetaGuard::new(&mut child, !restricts);
                if restricts {
                    let key = guard::restrict_key().map_err(StreamError::Write)?;
                    guarded.get_mut().write_all(format!("\\restrict {key}\n").as_bytes()).map_err(StreamError::Write)?;
                }
                let r = feed::stream_file(&insp.path, insp.compression, &mut guarded, &mut report, self.cancel);
                refusal = guarded.finish().err();
                r
            }
            None => feed::stream_file(&insp.path, insp.compression, &mut child, &mut report, self.cancel),
        });
        if let Some(r) = refusal {
            // Nothing of the refused line reached psql; it dies with the
            // transaction it was in, and the caller drops the database.
            child.kill();
            let _ = child.finish();
            return Err(invalid(format!("{path} cannot be restored: {r}.")));
        }
        let failed = |f: &crate::source::ChildFailure| {
            let line = server.error_line(&f.stderr_tail).unwrap_or_else(|| f.status_text());
            if server_disk_full(&f.stderr_tail) {
                return Error::new(
                    ErrorKind::Tool,
                    format!("The database server {} ran out of disk space while {name} was loaded into a temporary database ({tool}: {line}); free space on the server's disk, then try again", server.name()),
                );
            }
            Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool}: {line})"))
        };
        let streamed = match streamed {
            Ok(s) => s,
            Err(StreamError::Cancelled) => {
                child.kill();
                let _ = child.finish();
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            Err(_) if self.cancel.load(Ordering::SeqCst) => {
                child.kill();
                let _ = child.finish();
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            Err(StreamError::Write(e)) => {
                return Err(match child.finish() {
                    Err(f) => failed(&f),
                    Ok(_) => Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool} stopped reading before the end: {e})")),
                });
            }
            Err(StreamError::Decode(e)) => {
                child.kill();
                let _ = child.finish();
                return Err(invalid(format!("Restoring {path} failed (it no longer decompresses: {e})")));
            }
            Err(StreamError::Read(e)) => {
                child.kill();
                let _ = child.finish();
                return Err(invalid(format!("Restoring {path} failed (it could not be read: {e})")));
            }
        };
        if streamed.sha256 != validation.sha256 {
            child.kill();
            let _ = child.finish();
            return Err(invalid(format!("Restoring {path} failed (the file changed while it was being restored)")));
        }
        if let Err(f) = child.finish() {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            return Err(failed(&f));
        }
        Ok(Loaded { streamed })
    }

    /// For a plain PostgreSQL script: whether psql has `\restrict` (`None`
    /// for other loads). A file whose strings read differently without
    /// `standard_conforming_strings` is refused when it has not, as the
    /// guard alone could not tell what psql would run.
    fn psql_client(&self, server: &DbServer, validation: &Validation) -> Result<Option<bool>> {
        let DbServer::Postgres(pg) = server else { return Ok(None) };
        if validation.inspection.format() == Some(Format::Custom) {
            return Ok(None);
        }
        let restricts = pg.psql_has_restrict();
        if !restricts && let Some(line) = validation.ambiguous_line {
            let r = guard::Refusal { line, what: "\\'".into(), kind: guard::RefusalKind::AmbiguousString };
            return Err(invalid(format!("{} cannot be restored with {}: {r}.", validation.inspection.path.display(), pg.psql.display())));
        }
        Ok(Some(restricts))
    }

    /// The swap, retried when a client reconnected in between.
    fn swap(&self, server: &DbServer, target: &str, keep_as: &str, tmp: &str, terminate: bool) -> Result<(u64, Vec<Session>)> {
        let mut last = None;
        for attempt in 1..=SWAP_ATTEMPTS {
            let who = server.database_info(target)?.map(|i| i.sessions).unwrap_or_default();
            if !terminate && !who.is_empty() {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "\"{target}\" has {} session{} connected ({}), so it was not replaced (--no-terminate)",
                        who.len(),
                        if who.len() == 1 { "" } else { "s" },
                        server::describe_sessions(&who)
                    ),
                ));
            }
            match server.swap(target, keep_as, tmp, terminate) {
                Ok(n) => return Ok((n, who)),
                Err(e) => {
                    tracing::warn!(target, attempt, "swap failed: {}", e.detailed());
                    let retry = e.message().contains("being accessed by other users");
                    last = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        let e = last.expect("at least one attempt");
        Err(Error::new(e.kind(), format!("The restored copy could not be swapped in for \"{target}\": {}", e.message().trim_end_matches('.'))))
    }

    /// Drops the temporary database after a failure and completes the message.
    fn cleanup(&self, server: &DbServer, tmp: &str, e: Error, mode: RestoreMode, db: &str) -> Error {
        let unchanged = match mode {
            RestoreMode::Replace => format!("\"{db}\" was not changed"),
            RestoreMode::Create | RestoreMode::AsNew => format!("\"{db}\" was not created"),
        };
        let base = e.message().trim_end_matches('.').to_string();
        match server.drop_database(tmp, true) {
            Ok(()) => Error::new(e.kind(), format!("{base}; {unchanged} and the temporary copy was removed.")),
            Err(d) => {
                tracing::error!(tmp, "could not drop the temporary database: {}", d.detailed());
                Error::new(
                    e.kind(),
                    format!("{base}; {unchanged}, but the temporary database \"{tmp}\" could not be removed ({}) — drop it with `nightjar kept drop {tmp}`.", d.message().trim_end_matches('.')),
                )
            }
        }
    }

    /// Checks `file` (checksum, decompression, format) and optionally
    /// test-restores it into a scratch database, counts rows, drops it and
    /// marks the backup verified. Recorded in the history.
    ///
    /// # Errors
    /// The first problem found, as one sentence naming the file.
    pub fn verify(&self, file: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
        let started_at = self.clock.now();
        let t0 = Instant::now();
        let insp = inspect::inspect(file).ok();
        let path = insp.as_ref().map_or_else(|| std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()), |i| i.path.clone());
        // A local copy of a remote backup is recorded (and looked up) by its origin.
        let shown = opts.origin.as_ref().map_or_else(|| path.clone(), PathBuf::from);
        let path_text = shown.display().to_string();
        let backup_row = self.find_backup(&shown)?;
        let job = backup_row
            .as_ref()
            .map(|r| r.job.clone())
            .or_else(|| insp.as_ref().and_then(|i| i.manifest.as_ref()).map(|m| m.job.clone()))
            .unwrap_or_else(|| "verify".into());
        let destination = match &opts.restore_test {
            Some(j) => j.db.display(),
            None => shown.parent().map(|p| p.display().to_string()).unwrap_or_default(),
        };
        let database = insp.as_ref().and_then(|i| i.manifest.as_ref().map(|m| m.database.clone()));
        // Verifies of one job take turns on their own lock (not the job's: a
        // verify may run beside a backup). Holding it, any verify row of the
        // job still marked running was left by a process that died.
        let lock_name = format!("{}.verify", if crate::names::validate_job_name(&job).is_ok() { job.as_str() } else { "verify" });
        let _verify_lock = JobLock::acquire_wait(&self.data.lock_dir(), &lock_name, JOB_LOCK_WAIT, self.cancel).map_err(|e| {
            if e.kind() == ErrorKind::Busy {
                Error::new(ErrorKind::Busy, format!("Another verify of job \"{job}\" is still running; wait for it to finish, then try again."))
            } else {
                e
            }
        })?;
        self.history.mark_interrupted_kind(
            &job,
            RunKind::Verify,
            started_at,
            "Interrupted: Nightjar stopped before this verify finished (crash, power loss or kill).",
        )?;
        let run = self.new_run(RunKind::Verify, &job, destination, insp.as_ref(), database, started_at);
        let run_id = self.history.start_run(&run)?;
        let result = self.verify_steps(&path, opts, backup_row.as_ref(), &job);
        match result {
            Ok(mut report) => {
                report.run_id = run_id;
                report.duration_ms = ms(t0.elapsed());
                report.file.clone_from(&path_text);
                self.history.finish_run(
                    run_id,
                    &RunOutcome {
                        status: RunStatus::Success,
                        finished_at: self.clock.now(),
                        size: Some(report.size),
                        file: Some(path_text),
                        sha256: Some(report.sha256.clone()),
                        error: None,
                        error_kind: None,
                    },
                )?;
                tracing::info!(file = %report.file, "verify finished: {}", report.message);
                Ok(report)
            }
            Err(e) => {
                let e = name_origin(e, &path, opts.origin.as_ref());
                let outcome = self.failed_outcome(&e, Some(&shown), insp.as_ref().map(|i| i.size));
                if let Err(h) = self.history.finish_run(run_id, &outcome) {
                    tracing::error!("could not record the failure in the history: {}", h.detailed());
                }
                tracing::warn!(file = %path.display(), "verify failed: {}", e.detailed());
                Err(e)
            }
        }
    }

    fn verify_steps(&self, path: &Path, opts: &VerifyOptions, backup_row: Option<&RunRecord>, label: &str) -> Result<VerifyReport> {
        let (server, vopts) = match &opts.restore_test {
            Some(job) => {
                self.observer.stage(label, Stage::Preparing);
                let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
                let v = ValidateOptions {
                    engine: Some(job.db.engine),
                    database: Some(job.db.database.clone()),
                    pg_restore: job.docker_container.is_none().then(|| server.pg_restore()).flatten(),
                    tool_dir: job.tool_dir.clone(),
                    docker_container: job.docker_container.clone(),
                };
                (Some((server, job)), v)
            }
            None => (None, ValidateOptions::default()),
        };
        let validation = validate(path, &vopts, self.observer, label, self.cancel)?;
        let name = validation.inspection.name();
        let role = opts.restore_test.as_ref().map(|j| trust::connecting_role(&j.db));
        let trust = self.trust_of(&validation.inspection, Some(&validation.sha256), opts.origin.as_deref(), role.as_deref())?;
        // Only a test restore runs the file; a plain check needs no acknowledgement.
        if server.is_some() && trust.needs_acknowledgement() && !opts.trust_file {
            return Err(trust.refusal("test-restore it"));
        }
        let mut restore_test = None;
        let mut verified_at = None;
        if let Some((server, job)) = server {
            let t1 = Instant::now();
            let base = job.db.database.clone();
            let mut at = self.clock.now();
            let mut scratch = None;
            for _ in 0..120 {
                let n = derived_name(&base, VERIFY_MARKER, &names::stamp(at, job.timezone));
                if server.existing(&[n.as_str()])?.is_empty() {
                    scratch = Some(n);
                    break;
                }
                at += chrono::Duration::seconds(1);
            }
            let scratch = scratch.ok_or_else(|| {
                Error::other(format!("No free name for a scratch database on {}; drop old ones with `nightjar kept drop`.", server.name()))
            })?;
            self.psql_client(&server, &validation)?;
            self.observer.stage(label, Stage::Restoring);
            server.create_database(&scratch, None)?;
            let counted = (|| {
                self.load(&server, &scratch, &validation, label)?;
                self.observer.stage(label, Stage::Checking);
                server.table_counts(&scratch)
            })();
            let dropped = server.drop_database(&scratch, true);
            let counts = match counted {
                Ok(c) => c,
                Err(e) => {
                    let base = e.message().trim_end_matches('.').to_string();
                    let cleanup = match &dropped {
                        Ok(()) => "the scratch database was removed".to_string(),
                        Err(_) => format!("drop the scratch database with `nightjar kept drop {scratch}`"),
                    };
                    return Err(Error::new(e.kind(), format!("The test restore of {name} into a scratch database on {} failed: {base}; {cleanup}.", server.name())));
                }
            };
            if let Err(d) = dropped {
                tracing::warn!(scratch, "could not drop the scratch database: {}", d.detailed());
            }
            let tables: Vec<TableRows> = counts.into_iter().map(|(schema, table, rows)| TableRows { schema, table, rows }).collect();
            let now = self.clock.now();
            if let Some(row) = backup_row.filter(|r| trust.backup_run_id == Some(r.id)) {
                self.history.mark_verified(row.id, now)?;
                verified_at = Some(now);
            }
            restore_test = Some(RestoreTest {
                server: server.name(),
                scratch_database: scratch,
                table_count: tables.len(),
                total_rows: tables.iter().map(|t| t.rows).sum(),
                tables,
                duration_ms: ms(t1.elapsed()),
            });
        }
        let checksum_text = match validation.checksum {
            ChecksumStatus::Verified => "its sha256 matches the manifest",
            ChecksumStatus::NoManifest => "there is no manifest to check its sha256 against",
        };
        let mut message = format!("{name} is {} and decompresses completely; {checksum_text}. {}", validation.inspection.describe(), trust.message);
        if let Some(t) = &restore_test {
            message.push_str(&format!(" A test restore on {} loaded {} tables with {} rows.", t.server, t.table_count, t.total_rows));
            if verified_at.is_some() {
                message.push_str(" Marked verified in the history.");
            } else {
                message.push_str(" The file is not in the history, so nothing was marked verified.");
            }
        }
        Ok(VerifyReport {
            run_id: 0,
            file: path.display().to_string(),
            status: RunStatus::Success,
            content: validation.inspection.content,
            compression: validation.inspection.compression,
            size: validation.inspection.size,
            sha256: validation.sha256,
            checksum: validation.checksum,
            trust,
            data_size: validation.data_size,
            restore_test,
            backup_run_id: backup_row.map(|r| r.id),
            verified_at,
            duration_ms: 0,
            message,
        })
    }

    /// The backup run that wrote `path` (as given, or canonical).
    fn find_backup(&self, path: &Path) -> Result<Option<RunRecord>> {
        let mut candidates = vec![path.display().to_string()];
        if let Ok(c) = std::fs::canonicalize(path) {
            candidates.push(c.display().to_string());
        }
        for c in candidates {
            if let Some(r) = self.history.find_backup_by_file(&c)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Whether this Nightjar made `insp`'s file (see [`crate::trust`]),
    /// hashing it unless `sha256` is known; `origin` is its `onedrive:`
    /// address, `role` who a restore runs it as.
    fn trust_of(&self, insp: &Inspection, sha256: Option<&str>, origin: Option<&str>, role: Option<&str>) -> Result<Trust> {
        let shown = origin.map_or_else(|| insp.path.clone(), PathBuf::from);
        let by_path = self.find_backup(&shown)?;
        let keys = crate::manifest::InstallKeys::load(self.secrets, self.data);
        let assess = |sha256: &str| trust::assess(insp, sha256, &shown.display().to_string(), by_path.as_ref(), self.history, &keys, role);
        // Before the file is read (planning): what vouches for the sha256 its
        // manifest states. The validation pass then proves the file has it,
        // before anything is touched (a mismatch is refused there), so the
        // file is read twice in all, not three times.
        if sha256.is_none()
            && let Some(m) = insp.manifest.as_ref().filter(|m| m.size == insp.size)
        {
            let claimed = assess(&m.sha256)?;
            if !claimed.needs_acknowledgement() {
                return Ok(claimed);
            }
        }
        let sha256 = match sha256 {
            Some(s) => s.to_string(),
            None => std::fs::File::open(&insp.path).and_then(crate::pipeline::sha256_of).map(|(_, s)| s).map_err(|e| {
                invalid(format!("{} could not be read to the end ({e}); check the disk, or pick another backup.", insp.path.display()))
            })?,
        };
        assess(&sha256)
    }

    /// The databases restores left on `job`'s server: replaced ones kept on
    /// purpose, and temporary ones of interrupted runs.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn kept_databases(&self, job: &Job, password: Option<&String>, account: Option<&String>) -> Result<Vec<KeptDatabase>> {
        let server = self.server(job, password, account)?;
        let pattern = format!("({}|{}|{})[0-9]{{14}}$", BEFORE_MARKER, RESTORE_MARKER, VERIFY_MARKER);
        Ok(server
            .databases_matching(&pattern)?
            .into_iter()
            .filter_map(|(name, size, connections)| {
                let p = names::parse_db_name(&name)?;
                Some(KeptDatabase { kind: p.kind, base: p.base, stamp: p.at.format("%Y-%m-%d %H:%M:%S").to_string(), size, connections, name })
            })
            .collect())
    }

    /// Drops a database a restore left on `job`'s server. Only names made by
    /// Nightjar (`__before_restore_`, `__nightjar_restore_`,
    /// `__nightjar_verify_` + stamp) are accepted.
    ///
    /// # Errors
    /// Another name, a database that does not exist or is in use.
    pub fn drop_kept(&self, job: &Job, name: &str, password: Option<&String>, account: Option<&String>) -> Result<()> {
        if names::parse_db_name(name).is_none() {
            return Err(Error::config(format!(
                "\"{name}\" is not a database Nightjar kept; only names ending in {BEFORE_MARKER}, {RESTORE_MARKER} or {VERIFY_MARKER} and a stamp can be dropped here (`nightjar kept list` shows them)."
            )));
        }
        let server = self.server(job, password, account)?;
        match server.database_info(name)? {
            None => Err(Error::config(format!("There is no database \"{name}\" on {}; `nightjar kept list` shows the kept ones.", server.name()))),
            Some(info) if !info.sessions.is_empty() => Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "\"{name}\" on {} is in use ({}); disconnect those sessions, then drop it again.",
                    server.name(),
                    server::describe_sessions(&info.sessions)
                ),
            )),
            Some(_) => {
                server.drop_database(name, false)?;
                tracing::info!(database = name, server = %server.name(), "kept database dropped");
                Ok(())
            }
        }
    }
}

/// What a restore run has done so far (for recording its end).
#[derive(Debug, Default)]
struct RestoreState {
    run_id: Option<i64>,
    sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> DbUrl {
        DbUrl::parse("postgres://app@db.example:5433/shop").unwrap()
    }

    const PLAIN: &str = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.20\n-- Dumped by pg_dump version 15.20\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    fn zst(data: &[u8]) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn check(path: &Path) -> Result<Validation> {
        let opts = ValidateOptions { engine: Some(Engine::Postgres), database: Some("shop".into()), ..ValidateOptions::default() };
        validate(path, &opts, &crate::observer::NoopObserver, "t", &AtomicBool::new(false))
    }

    #[test]
    fn plan_needs_no_database_and_refuses_non_backups() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shop.sql.zst");
        std::fs::write(&f, zst(PLAIN.as_bytes())).unwrap();
        let plan = plan_restore(&f, &url(), &RestoreOptions::default()).unwrap();
        assert_eq!((plan.mode, plan.database.as_str(), plan.target_exists), (RestoreMode::Replace, "shop", None));
        assert!(plan.safety_backup && !plan.has_manifest);
        assert!(plan.warnings.iter().any(|w| w.contains("no manifest")), "{:?}", plan.warnings);
        let as_new = plan_restore(&f, &url(), &RestoreOptions { as_new: Some("shop_copy".into()), ..RestoreOptions::default() }).unwrap();
        assert_eq!((as_new.mode, as_new.database.as_str(), as_new.safety_backup), (RestoreMode::AsNew, "shop_copy", false));
        assert_eq!(plan_restore(&f, &url(), &RestoreOptions { as_new: Some("shop".into()), ..RestoreOptions::default() }).unwrap_err().kind(), ErrorKind::Config);

        for (name, bytes, needle) in [
            ("empty.sql", Vec::new(), "is empty"),
            ("random.bin", (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), "not a database backup"),
            ("my.sql", b"-- MySQL dump 10.13  Distrib 8.0.35\n--\n-- Host: localhost    Database: shop\n".to_vec(), "MySQL/MariaDB dump"),
            ("all.sql", b"--\n-- PostgreSQL database cluster dump\n--\n".to_vec(), "pg_dumpall"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = plan_restore(&p, &url(), &RestoreOptions::default()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidBackup, "{name}: {e}");
            assert!(e.to_string().contains(needle) && e.to_string().contains(name), "{name}: {e}");
        }
    }

    #[test]
    fn validate_checks_checksum_decompression_and_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shop.sql.zst");
        let bytes = zst(PLAIN.as_bytes());
        std::fs::write(&f, &bytes).unwrap();
        let v = check(&f).unwrap();
        assert_eq!(v.checksum, ChecksumStatus::NoManifest);
        assert_eq!(v.data_size, PLAIN.len() as u64);

        // A manifest with another sha256.
        let sha = crate::pipeline::sha256_of(&bytes[..]).unwrap().1;
        let manifest = |sha: &str, size: u64| {
            format!(
                r#"{{"app":"nightjar","manifest_version":1,"app_version":"0","job":"shop","file":"shop.sql.zst","size":{size},"sha256":"{sha}","dump_size":1,"engine":"postgres","database":"shop","server":"h","server_version":null,"tool":"pg_dump","tool_version":"15","format":"plain","compression":"zstd","compression_level":3,"encryption":"none","trigger":"manual","timezone":"UTC","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:00Z"}}"#
            )
        };
        std::fs::write(inspect::manifest_path(&f), manifest(&sha, bytes.len() as u64)).unwrap();
        assert_eq!(check(&f).unwrap().checksum, ChecksumStatus::Verified);
        std::fs::write(inspect::manifest_path(&f), manifest(&"0".repeat(64), bytes.len() as u64)).unwrap();
        let e = check(&f).unwrap_err();
        assert!(e.to_string().contains("does not match the sha256 in its manifest"), "{e}");
        std::fs::write(inspect::manifest_path(&f), manifest(&sha, 7)).unwrap();
        assert!(check(&f).unwrap_err().to_string().contains("its manifest says 7"));
        std::fs::remove_file(inspect::manifest_path(&f)).unwrap();

        // Truncated compressed data; a plain script cut before its end.
        std::fs::write(&f, &bytes[..bytes.len() - 3]).unwrap();
        let e = check(&f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidBackup);
        assert!(e.to_string().contains("truncated or corrupted"), "{e}");
        let cut = dir.path().join("cut.sql");
        std::fs::write(&cut, &PLAIN.as_bytes()[..PLAIN.len() - 40]).unwrap();
        assert!(check(&cut).unwrap_err().to_string().contains("closing line"));
    }
}
