//! The durable local record of every run: backups, restores and verifies,
//! failures included.
//!
//! The history is one SQLite file in the OS data directory, shared by the
//! `nightjar` CLI and the desktop app, which may both have it open at once.
//! It is built to survive a crash in the middle of a write and to let two
//! processes write in turn:
//!
//! - WAL journal, `synchronous=FULL` (a committed run is on disk when the
//!   call returns), `busy_timeout` of 10 s (a writer waits for the other
//!   process instead of failing), `foreign_keys=ON`.
//! - Every write is a single statement or an `IMMEDIATE` transaction, so it
//!   is all-or-nothing and never deadlocks on a lock upgrade.
//! - A run is inserted as `running` before the work starts
//!   ([`History::start_run`]) and updated when it ends
//!   ([`History::finish_run`]). A process that dies in between leaves a
//!   `running` row, which the next run of the job turns into `interrupted`
//!   ([`History::mark_interrupted`]) once it holds the job's lock.
//!
//! The schema is versioned with `PRAGMA user_version`: [`MIGRATIONS`]`[i]`
//! brings the file from version `i` to `i + 1`, each in its own transaction.
//! To change the schema, append a migration; never edit a published one. A
//! file written by a newer Nightjar (a higher version than this build knows)
//! is refused rather than misread.
//!
//! Times are stored as unix milliseconds (UTC) in `INTEGER` columns:
//! sortable, compact and unambiguous. They therefore round-trip at
//! millisecond precision. Enumerations are stored as their stable
//! identifiers (`as_str()`), the same ones used in config files and JSON.
//!
//! Nothing secret is stored here: callers pass clean strings (destination
//! descriptions and error sentences that never contain a password).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, ToSql, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Compression, Engine, Format, RunStatus, Trigger};

/// How long a write waits for the other process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

mod cloud;
mod copies;
pub use copies::{CopyRecord, CopyStatus};
pub use cloud::{CloudCopy, CloudState, NewCloudCopy};

mod busy;
mod recover;
pub use busy::{is_busy, RECORD_PATIENCE};
pub use recover::{moved_aside, MovedAside};

/// The schema migrations, in order. `MIGRATIONS[i]` upgrades a file whose
/// `user_version` is `i` to `i + 1`. Append only.
pub const MIGRATIONS: &[&str] = &[
    // 1: the runs table.
    "CREATE TABLE runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        job           TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        triggered_by  TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER,
        duration_ms   INTEGER,
        size          INTEGER,
        file          TEXT,
        sha256        TEXT,
        destination   TEXT    NOT NULL,
        engine        TEXT,
        format        TEXT,
        compression   TEXT,
        database_name TEXT,
        error         TEXT,
        error_kind    TEXT,
        verified_at   INTEGER
    );
    CREATE INDEX runs_job_kind_started ON runs (job, kind, started_at);
    CREATE INDEX runs_started ON runs (started_at);
    CREATE INDEX runs_file ON runs (file);
    CREATE INDEX runs_status ON runs (status);",
    // 2: backups written into a OneDrive-synced folder, until OneDrive holds them (history/cloud.rs).
    "CREATE TABLE cloud_copies (
        run_id       INTEGER PRIMARY KEY,
        job          TEXT    NOT NULL,
        file         TEXT    NOT NULL,
        remote_path  TEXT    NOT NULL,
        size         INTEGER NOT NULL,
        quick_xor    TEXT    NOT NULL,
        state        TEXT    NOT NULL,
        since        INTEGER NOT NULL,
        checked_at   INTEGER,
        confirmed_at INTEGER,
        warned_at    INTEGER
    );
    CREATE INDEX cloud_copies_state ON cloud_copies (state);",
    // 3: one row per destination of a backup with several (history/copies.rs).
    "CREATE TABLE copies (
        run_id       INTEGER NOT NULL,
        position     INTEGER NOT NULL,
        destination  TEXT    NOT NULL,
        file         TEXT,
        status       TEXT    NOT NULL,
        error        TEXT,
        size         INTEGER,
        copied_from  TEXT,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (run_id, destination)
    );",
];

/// The schema version this build writes and understands.
#[must_use]
pub fn schema_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// A dump written to a destination.
    Backup,
    /// A backup file loaded into a database.
    Restore,
    /// A backup file checked (checksum, optionally a test restore).
    Verify,
}

impl RunKind {
    /// Every value, in declaration order.
    pub const ALL: &'static [RunKind] = &[RunKind::Backup, RunKind::Restore, RunKind::Verify];

    /// The identifier stored in the history and used in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Restore => "restore",
            RunKind::Verify => "verify",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RunKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("\"{s}\" is not one of backup, restore or verify"))
    }
}

/// What is known about a run when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The job name (or an ad-hoc name for `--db URL --dest DIR` runs).
    pub job: String,
    /// Backup, restore or verify.
    pub kind: RunKind,
    /// Why the run happened.
    pub trigger: Trigger,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// A description of the destination (folder path or `onedrive:/folder`), without secrets.
    pub destination: String,
    /// The database engine, when known.
    pub engine: Option<Engine>,
    /// The dump format, when known.
    pub format: Option<Format>,
    /// The compression, when known.
    pub compression: Option<Compression>,
    /// The database name (not a URL: URLs may carry credentials).
    pub database: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// `success`, `failed` or `interrupted`.
    pub status: RunStatus,
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    /// Size in bytes of the file written (backup) or read (restore, verify).
    pub size: Option<u64>,
    /// Full path or URL of the backup file.
    pub file: Option<String>,
    /// Hex SHA-256 of the file.
    pub sha256: Option<String>,
    /// The user-facing error sentence, for failed and interrupted runs.
    pub error: Option<String>,
    /// The error's stable category ([`ErrorKind::code`]).
    pub error_kind: Option<String>,
}

impl RunOutcome {
    /// A run that ended well at `finished_at`, with the file it wrote or
    /// read, its size and its sha256.
    #[must_use]
    pub fn success(finished_at: DateTime<Utc>, file: String, size: u64, sha256: String) -> Self {
        Self { status: RunStatus::Success, finished_at, size: Some(size), file: Some(file), sha256: Some(sha256), error: None, error_kind: None }
    }

    /// A run that ended with `e` at `finished_at`: interrupted when `e`
    /// says so, else failed, with its sentence and kind.
    #[must_use]
    pub fn failure(e: &crate::Error, finished_at: DateTime<Utc>, file: Option<String>, size: Option<u64>) -> Self {
        Self {
            status: if e.kind() == crate::ErrorKind::Interrupted { RunStatus::Interrupted } else { RunStatus::Failed },
            finished_at,
            size,
            file,
            sha256: None,
            error: Some(e.message().to_string()),
            error_kind: Some(e.kind().code().to_string()),
        }
    }
}

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The row id, stable for the life of the history file.
    pub id: i64,
    /// The job name.
    pub job: String,
    /// Backup, restore or verify.
    pub kind: RunKind,
    /// Why the run happened.
    pub trigger: Trigger,
    /// `running` until the run is finished or marked interrupted.
    pub status: RunStatus,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run ended; for an interrupted run, when the interruption was recorded.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at`; empty while running and for interrupted
    /// runs whose real end is unknown.
    pub duration_ms: Option<u64>,
    /// Size in bytes of the file.
    pub size: Option<u64>,
    /// Full path or URL of the backup file.
    pub file: Option<String>,
    /// Hex SHA-256 of the file.
    pub sha256: Option<String>,
    /// A description of the destination.
    pub destination: String,
    /// The database engine.
    pub engine: Option<Engine>,
    /// The dump format.
    pub format: Option<Format>,
    /// The compression.
    pub compression: Option<Compression>,
    /// The database name.
    pub database: Option<String>,
    /// The user-facing error sentence.
    pub error: Option<String>,
    /// The error's stable category.
    pub error_kind: Option<String>,
    /// When the file was last verified successfully.
    pub verified_at: Option<DateTime<Utc>>,
}

/// Which runs [`History::runs`] returns. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this job.
    pub job: Option<String>,
    /// Only this kind.
    pub kind: Option<RunKind>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only this trigger.
    pub trigger: Option<Trigger>,
    /// Runs started at or after this time (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Runs started before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// At most this many rows (the newest ones).
    pub limit: Option<usize>,
}

/// Statistics of one job's backup runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStats {
    /// The job name.
    pub job: String,
    /// Number of backup runs, whatever their status.
    pub runs: u64,
    /// Successful backup runs.
    pub successes: u64,
    /// Failed and interrupted backup runs.
    pub failures: u64,
    /// Sum of the sizes of the successful backups (files since deleted by
    /// retention included: the history cannot know).
    pub total_size: u64,
    /// `started_at` of the oldest successful backup.
    pub oldest: Option<DateTime<Utc>>,
    /// `started_at` of the newest successful backup.
    pub newest: Option<DateTime<Utc>>,
    /// Status of the most recently started backup run.
    pub last_status: Option<RunStatus>,
}

/// The duration the history records for a run from `started_at` to
/// `finished_at` (whole milliseconds of each, never negative): what the
/// runner reports and the events say.
#[must_use]
pub fn duration_ms(started_at: DateTime<Utc>, finished_at: DateTime<Utc>) -> u64 {
    u64::try_from(finished_at.timestamp_millis() - started_at.timestamp_millis()).unwrap_or(0)
}

/// The history store. Cheap to share: `Send + Sync`, one connection behind a
/// mutex. Several `History` values (in one or several processes) may open
/// the same file.
pub struct History {
    conn: Mutex<Connection>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conn = self.lock();
        f.debug_struct("History")
            .field("path", &conn.path())
            .finish()
    }
}

/// The columns read by [`read_record`], in its order.
const RECORD_COLUMNS: &str = "id, job, kind, triggered_by, status, started_at, finished_at, \
     duration_ms, size, file, sha256, destination, engine, format, compression, database_name, \
     error, error_kind, verified_at";

/// Newest first; `id` breaks ties between runs started in the same millisecond.
const NEWEST_FIRST: &str = "ORDER BY started_at DESC, id DESC";

impl History {
    /// Open (or create) the history file at `path`: creates the parent
    /// folders and the file, sets the connection up and applies pending
    /// migrations.
    ///
    /// # Errors
    /// [`ErrorKind::History`] naming `path` when the folder cannot be
    /// created, the file is not a Nightjar history, or it was written by a
    /// newer version of Nightjar.
    pub fn open(path: &Path) -> Result<History> {
        let fail = |what: &str| {
            Error::new(
                ErrorKind::History,
                format!(
                    "The backup history at {} could not be opened; {what}",
                    path.display()
                ),
            )
        };
        const GENERIC: &str = "check that its folder exists and is writable and that the disk is not full, \
             or move the file aside to start a new history.";

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::private::create_dir_all(parent).map_err(|e| fail(GENERIC).with_source(e))?;
        }
        // Owner-only before SQLite opens it: its -wal and -shm get the file's mode.
        if let Err(e) = crate::private::sqlite_files(path) {
            tracing::warn!(path = %path.display(), "the history could not be made private: {e}");
        }
        let conn = Connection::open(path).map_err(|e| fail(GENERIC).with_source(e))?;
        let history = Self::setup(conn, true).map_err(|e| match e {
            SetupError::Sqlite(e) => fail(GENERIC).with_source(e),
            SetupError::TooNew { found, known } => fail(&format!(
                "it was written by a newer version of Nightjar (schema {found}, this version knows {known}); \
                 update Nightjar."
            )),
        })?;
        tracing::debug!(path = %path.display(), "history opened");
        Ok(history)
    }

    /// A fresh history that lives in memory only (tests, dry runs).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if SQLite cannot allocate the database.
    pub fn open_in_memory() -> Result<History> {
        let conn = Connection::open_in_memory()?;
        Self::setup(conn, false).map_err(|e| match e {
            SetupError::Sqlite(e) => Error::from(e),
            SetupError::TooNew { .. } => unreachable!("a new in-memory database has version 0"),
        })
    }

    fn setup(mut conn: Connection, on_disk: bool) -> std::result::Result<History, SetupError> {
        // busy_timeout first: switching to WAL may have to wait for the other process.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if on_disk {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(mode, "the history could not switch to WAL journaling");
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(History {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic while holding the lock cannot leave a
    /// transaction open (it rolls back on drop), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record that a run starts: inserts a `running` row, committed before
    /// this returns, and gives its id for [`History::finish_run`].
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the row cannot be written.
    pub fn start_run(&self, run: &NewRun) -> Result<i64> {
        self.insert(run, None)
    }

    /// Record how the run `id` ended. `duration_ms` ([`duration_ms`]) is computed from the
    /// stored `started_at`. Overwrites an earlier outcome.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the row cannot be written or no longer exists.
    pub fn finish_run(&self, id: i64, outcome: &RunOutcome) -> Result<()> {
        let changed = self.lock().execute(
            "UPDATE runs SET status = ?1, finished_at = ?2, duration_ms = MAX(?2 - started_at, 0),
                 size = ?3, file = ?4, sha256 = ?5, error = ?6, error_kind = ?7
             WHERE id = ?8",
            params![
                outcome.status.as_str(),
                outcome.finished_at.timestamp_millis(),
                size_column(outcome.size)?,
                outcome.file,
                outcome.sha256,
                outcome.error,
                outcome.error_kind,
                id
            ],
        )?;
        if changed == 0 {
            return Err(missing_run(id));
        }
        Ok(())
    }

    /// Record a run that failed before it could start (invalid config, job
    /// lock busy): one insert with the outcome already filled in.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the row cannot be written.
    pub fn record_failure(&self, run: &NewRun, outcome: &RunOutcome) -> Result<i64> {
        self.insert(run, Some(outcome))
    }

    /// Insert `run`, `running` when there is no outcome yet.
    fn insert(&self, run: &NewRun, outcome: Option<&RunOutcome>) -> Result<i64> {
        let status = outcome.map_or(RunStatus::Running, |o| o.status);
        let finished_at = outcome.map(|o| o.finished_at.timestamp_millis());
        let duration_ms = outcome.map(|o| i64::try_from(duration_ms(run.started_at, o.finished_at)).unwrap_or(i64::MAX));
        let size = size_column(outcome.and_then(|o| o.size))?;
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runs (job, kind, triggered_by, status, started_at, finished_at, duration_ms,
                 size, file, sha256, destination, engine, format, compression, database_name,
                 error, error_kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                run.job,
                run.kind.as_str(),
                run.trigger.as_str(),
                status.as_str(),
                run.started_at.timestamp_millis(),
                finished_at,
                duration_ms,
                size,
                outcome.and_then(|o| o.file.as_deref()),
                outcome.and_then(|o| o.sha256.as_deref()),
                run.destination,
                run.engine.map(Engine::as_str),
                run.format.map(Format::as_str),
                run.compression.map(Compression::as_str),
                run.database,
                outcome.and_then(|o| o.error.as_deref()),
                outcome.and_then(|o| o.error_kind.as_deref()),
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Turn every `running` backup or restore row of `job` into
    /// `interrupted`, with `error = reason`, `error_kind = "interrupted"` and
    /// `finished_at = at` (when the interruption was noticed; `duration_ms`
    /// stays empty since the real end is unknown). The caller holds the job's
    /// lock, which every backup and restore of the job holds while it runs, so
    /// none of these runs is really still going. Verify runs do not take the
    /// job's lock (a verify may run beside a backup), so they are left alone
    /// here: see [`History::mark_interrupted_kind`]. Returns how many rows
    /// changed.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the rows cannot be written.
    pub fn mark_interrupted(&self, job: &str, at: DateTime<Utc>, reason: &str) -> Result<usize> {
        self.mark_running_interrupted(job, None, at, reason)
    }

    /// Like [`History::mark_interrupted`], for the `running` rows of one kind
    /// only (including verify rows). The caller holds the lock every run of
    /// that kind of `job` holds (for verify: the job's verify lock).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the rows cannot be written.
    pub fn mark_interrupted_kind(&self, job: &str, kind: RunKind, at: DateTime<Utc>, reason: &str) -> Result<usize> {
        self.mark_running_interrupted(job, Some(kind), at, reason)
    }

    fn mark_running_interrupted(&self, job: &str, kind: Option<RunKind>, at: DateTime<Utc>, reason: &str) -> Result<usize> {
        // Without a kind: every kind the job's lock covers, i.e. all but verify.
        let (kind_clause, kind_value) = match kind {
            Some(k) => ("kind = ?7", k.as_str()),
            None => ("kind <> ?7", RunKind::Verify.as_str()),
        };
        let changed = self.lock().execute(
            &format!(
                "UPDATE runs SET status = ?1, finished_at = ?2, duration_ms = NULL, error = ?3, error_kind = ?4
                 WHERE job = ?5 AND status = ?6 AND {kind_clause}"
            ),
            params![
                RunStatus::Interrupted.as_str(),
                at.timestamp_millis(),
                reason,
                ErrorKind::Interrupted.code(),
                job,
                RunStatus::Running.as_str(),
                kind_value
            ],
        )?;
        if changed > 0 {
            tracing::info!(
                job,
                changed,
                "runs left running by an earlier process marked interrupted"
            );
        }
        Ok(changed)
    }

    /// The runs matching `filter`, newest first (by `started_at`).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if let Some(job) = &filter.job {
            clauses.push("job = ?");
            args.push(Value::Text(job.clone()));
        }
        if let Some(kind) = filter.kind {
            clauses.push("kind = ?");
            args.push(Value::Text(kind.as_str().to_owned()));
        }
        if let Some(status) = filter.status {
            clauses.push("status = ?");
            args.push(Value::Text(status.as_str().to_owned()));
        }
        if let Some(trigger) = filter.trigger {
            clauses.push("triggered_by = ?");
            args.push(Value::Text(trigger.as_str().to_owned()));
        }
        if let Some(since) = filter.since {
            clauses.push("started_at >= ?");
            args.push(Value::Integer(since.timestamp_millis()));
        }
        if let Some(until) = filter.until {
            clauses.push("started_at < ?");
            args.push(Value::Integer(until.timestamp_millis()));
        }
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM runs");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push(' ');
        sql.push_str(NEWEST_FIRST);
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        let conn = self.lock();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), read_record)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The run with this id.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn get(&self, id: i64) -> Result<Option<RunRecord>> {
        self.one(
            &format!("SELECT {RECORD_COLUMNS} FROM runs WHERE id = ?1"),
            &[&id],
        )
    }

    /// The newest run whose `file` is exactly `file` (full path or URL).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn find_by_file(&self, file: &str) -> Result<Option<RunRecord>> {
        self.one(
            &format!("SELECT {RECORD_COLUMNS} FROM runs WHERE file = ?1 {NEWEST_FIRST} LIMIT 1"),
            &[&file],
        )
    }

    /// The newest successful *backup* run whose `file` is exactly `file`
    /// (restore and verify runs name the file too; this skips them).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn find_backup_by_file(&self, file: &str) -> Result<Option<RunRecord>> {
        self.one(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM runs WHERE file = ?1 AND kind = ?2 AND status = ?3 {NEWEST_FIRST} LIMIT 1"
            ),
            &[&file, &RunKind::Backup.as_str(), &RunStatus::Success.as_str()],
        )
    }

    /// The newest successful backup run that recorded this sha256 (the
    /// same bytes, wherever the file is now).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn find_backup_by_sha256(&self, sha256: &str) -> Result<Option<RunRecord>> {
        let sha256 = sha256.to_ascii_lowercase();
        self.one(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM runs WHERE lower(sha256) = ?1 AND kind = ?2 AND status = ?3 {NEWEST_FIRST} LIMIT 1"
            ),
            &[&sha256, &RunKind::Backup.as_str(), &RunStatus::Success.as_str()],
        )
    }

    /// The most recently started run of `job` of this kind, whatever its status.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn last_run(&self, job: &str, kind: RunKind) -> Result<Option<RunRecord>> {
        self.one(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM runs WHERE job = ?1 AND kind = ?2 {NEWEST_FIRST} LIMIT 1"
            ),
            &[&job, &kind.as_str()],
        )
    }

    /// The most recently started successful run of `job` of this kind.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn last_success(&self, job: &str, kind: RunKind) -> Result<Option<RunRecord>> {
        self.one(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM runs WHERE job = ?1 AND kind = ?2 AND status = ?3 \
                 {NEWEST_FIRST} LIMIT 1"
            ),
            &[&job, &kind.as_str(), &RunStatus::Success.as_str()],
        )
    }

    fn one(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Option<RunRecord>> {
        let conn = self.lock();
        Ok(conn.query_row(sql, args, read_record).optional()?)
    }

    /// Record that the file of run `id` was verified successfully at `at`.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the row cannot be written or no longer exists.
    pub fn mark_verified(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        let changed = self.lock().execute(
            "UPDATE runs SET verified_at = ?1 WHERE id = ?2",
            params![at.timestamp_millis(), id],
        )?;
        if changed == 0 {
            return Err(missing_run(id));
        }
        Ok(())
    }

    /// Delete the row `id` (not the file). Returns whether it existed.
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the row cannot be deleted.
    pub fn delete(&self, id: i64) -> Result<bool> {
        let changed = self
            .lock()
            .execute("DELETE FROM runs WHERE id = ?1", [id])?;
        let _ = self.lock().execute("DELETE FROM copies WHERE run_id = ?1", [id]);
        Ok(changed > 0)
    }

    /// Statistics of the backup runs, one entry per job, sorted by job name;
    /// only `job` when given (an empty list if it has no backup runs).
    ///
    /// # Errors
    /// [`ErrorKind::History`] if the history cannot be read.
    pub fn stats(&self, job: Option<&str>) -> Result<Vec<JobStats>> {
        let sql = "SELECT job,
                COUNT(*),
                SUM(status = ?2),
                SUM(status IN (?3, ?4)),
                COALESCE(SUM(CASE WHEN status = ?2 THEN size END), 0),
                MIN(CASE WHEN status = ?2 THEN started_at END),
                MAX(CASE WHEN status = ?2 THEN started_at END),
                (SELECT r.status FROM runs AS r WHERE r.job = runs.job AND r.kind = ?1
                    ORDER BY r.started_at DESC, r.id DESC LIMIT 1)
            FROM runs
            WHERE kind = ?1 AND (?5 IS NULL OR job = ?5)
            GROUP BY job
            ORDER BY job";
        let conn = self.lock();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(
            params![
                RunKind::Backup.as_str(),
                RunStatus::Success.as_str(),
                RunStatus::Failed.as_str(),
                RunStatus::Interrupted.as_str(),
                job
            ],
            |row| {
                Ok(JobStats {
                    job: row.get(0)?,
                    runs: get_u64(row, 1)?.unwrap_or(0),
                    successes: get_u64(row, 2)?.unwrap_or(0),
                    failures: get_u64(row, 3)?.unwrap_or(0),
                    total_size: get_u64(row, 4)?.unwrap_or(0),
                    oldest: get_time(row, 5)?,
                    newest: get_time(row, 6)?,
                    last_status: get_enum(row, 7)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// A size as an SQLite integer (sizes beyond `i64::MAX` bytes cannot happen
/// in practice, but are refused rather than wrapped).
fn size_column(size: Option<u64>) -> Result<Option<i64>> {
    size.map(|s| {
        i64::try_from(s).map_err(|_| {
            Error::new(
                ErrorKind::History,
                format!("A size of {s} bytes is too large for the backup history."),
            )
        })
    })
    .transpose()
}

fn missing_run(id: i64) -> Error {
    Error::new(
        ErrorKind::History,
        format!(
            "Run {id} is no longer in the backup history; it may have been deleted from another window."
        ),
    )
}

/// Why [`History::setup`] failed.
enum SetupError {
    Sqlite(rusqlite::Error),
    TooNew { found: i64, known: usize },
}

impl From<rusqlite::Error> for SetupError {
    fn from(e: rusqlite::Error) -> Self {
        SetupError::Sqlite(e)
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Bring the schema to [`MIGRATIONS`]`.len()`. Each migration and its
/// version bump commit together; the version is read again under the write
/// lock so two processes opening a new file at once apply each step once.
fn migrate(conn: &mut Connection) -> std::result::Result<(), SetupError> {
    let known = MIGRATIONS.len();
    let too_new = |found: i64| usize::try_from(found).map_or(true, |f| f > known);
    let current = user_version(conn)?;
    if too_new(current) {
        return Err(SetupError::TooNew {
            found: current,
            known,
        });
    }
    if usize::try_from(current).is_ok_and(|c| c == known) {
        return Ok(());
    }
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        if too_new(current) {
            return Err(SetupError::TooNew {
                found: current,
                known,
            });
        }
        // `too_new` rejected negative and too-large values.
        let current = usize::try_from(current).unwrap_or(known);
        let Some(sql) = MIGRATIONS.get(current) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
        tracing::info!(version = current + 1, "history schema migrated");
    }
}

/// Read a row selected with [`RECORD_COLUMNS`].
fn read_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        job: row.get(1)?,
        kind: get_enum(row, 2)?.ok_or_else(|| null_in(2))?,
        trigger: get_enum(row, 3)?.ok_or_else(|| null_in(3))?,
        status: get_enum(row, 4)?.ok_or_else(|| null_in(4))?,
        started_at: get_time(row, 5)?.ok_or_else(|| null_in(5))?,
        finished_at: get_time(row, 6)?,
        duration_ms: get_u64(row, 7)?,
        size: get_u64(row, 8)?,
        file: row.get(9)?,
        sha256: row.get(10)?,
        destination: row.get(11)?,
        engine: get_enum(row, 12)?,
        format: get_enum(row, 13)?,
        compression: get_enum(row, 14)?,
        database: row.get(15)?,
        error: row.get(16)?,
        error_kind: row.get(17)?,
        verified_at: get_time(row, 18)?,
    })
}

fn null_in(idx: usize) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(idx, "NULL".into(), rusqlite::types::Type::Null)
}

fn conversion(idx: usize, ty: rusqlite::types::Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, msg.into())
}

/// An enumeration stored as its `as_str()` identifier.
fn get_enum<T: FromStr<Err = String>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    let Some(s) = row.get::<_, Option<String>>(idx)? else {
        return Ok(None);
    };
    s.parse()
        .map(Some)
        .map_err(|e| conversion(idx, rusqlite::types::Type::Text, e))
}

/// A time stored as unix milliseconds.
fn get_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let Some(ms) = row.get::<_, Option<i64>>(idx)? else {
        return Ok(None);
    };
    DateTime::from_timestamp_millis(ms)
        .map(Some)
        .ok_or_else(|| {
            conversion(
                idx,
                rusqlite::types::Type::Integer,
                format!("{ms} ms is out of range"),
            )
        })
}

/// A non-negative integer.
fn get_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    let Some(v) = row.get::<_, Option<i64>>(idx)? else {
        return Ok(None);
    };
    u64::try_from(v).map(Some).map_err(|_| {
        conversion(
            idx,
            rusqlite::types::Type::Integer,
            format!("{v} is negative"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, h, m, 0).unwrap()
    }

    fn new_run(job: &str, kind: RunKind, started_at: DateTime<Utc>) -> NewRun {
        NewRun {
            job: job.to_owned(),
            kind,
            trigger: Trigger::Scheduled,
            started_at,
            destination: "/backups".to_owned(),
            engine: Some(Engine::Postgres),
            format: Some(Format::Plain),
            compression: Some(Compression::Zstd),
            database: Some("app".to_owned()),
        }
    }

    fn outcome(status: RunStatus, finished_at: DateTime<Utc>, size: Option<u64>) -> RunOutcome {
        RunOutcome {
            status,
            finished_at,
            size,
            file: None,
            sha256: None,
            error: None,
            error_kind: None,
        }
    }

    /// Insert a finished run in one go.
    fn add(
        h: &History,
        job: &str,
        kind: RunKind,
        start: DateTime<Utc>,
        status: RunStatus,
        size: Option<u64>,
    ) -> i64 {
        let id = h.start_run(&new_run(job, kind, start)).unwrap();
        h.finish_run(
            id,
            &outcome(status, start + chrono::Duration::seconds(30), size),
        )
        .unwrap();
        id
    }

    fn version(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        user_version(&conn).unwrap()
    }

    #[test]
    fn history_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<History>();
    }

    #[test]
    fn run_kind_strings_and_serde() {
        for k in RunKind::ALL {
            assert_eq!(k.as_str().parse::<RunKind>().unwrap(), *k);
            assert_eq!(
                serde_json::to_string(k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(k.to_string(), k.as_str());
        }
        assert!("backups".parse::<RunKind>().is_err());
    }

    #[test]
    fn round_trip_every_field() {
        let h = History::open_in_memory().unwrap();
        let started = Utc.timestamp_millis_opt(1_741_946_400_123).unwrap();
        let run = NewRun {
            job: "tgapp".into(),
            kind: RunKind::Backup,
            trigger: Trigger::CatchUp,
            started_at: started,
            destination: "onedrive:/Backups/tgapp".into(),
            engine: Some(Engine::Mysql),
            format: Some(Format::Custom),
            compression: Some(Compression::Gzip),
            database: Some("tgapp_prod".into()),
        };
        let id = h.start_run(&run).unwrap();

        let running = h.get(id).unwrap().unwrap();
        assert_eq!(running.status, RunStatus::Running);
        assert_eq!(running.started_at, started);
        assert_eq!(running.finished_at, None);
        assert_eq!(running.duration_ms, None);

        let finished = started + chrono::Duration::milliseconds(61_500);
        let out = RunOutcome {
            status: RunStatus::Success,
            finished_at: finished,
            size: Some(5_000_000_000),
            file: Some("/backups/tgapp_2025-03-14_10-00-00_catch-up.dump.gz".into()),
            sha256: Some("ab".repeat(32)),
            error: Some("a warning".into()),
            error_kind: Some("tool".into()),
        };
        h.finish_run(id, &out).unwrap();
        let verified = finished + chrono::Duration::minutes(5);
        h.mark_verified(id, verified).unwrap();

        let rec = h.get(id).unwrap().unwrap();
        let expected = RunRecord {
            id,
            job: "tgapp".into(),
            kind: RunKind::Backup,
            trigger: Trigger::CatchUp,
            status: RunStatus::Success,
            started_at: started,
            finished_at: Some(finished),
            duration_ms: Some(61_500),
            size: Some(5_000_000_000),
            file: out.file.clone(),
            sha256: out.sha256.clone(),
            destination: "onedrive:/Backups/tgapp".into(),
            engine: Some(Engine::Mysql),
            format: Some(Format::Custom),
            compression: Some(Compression::Gzip),
            database: Some("tgapp_prod".into()),
            error: Some("a warning".into()),
            error_kind: Some("tool".into()),
            verified_at: Some(verified),
        };
        assert_eq!(rec, expected);

        // JSON keeps the stable identifiers and RFC 3339 times.
        let json = serde_json::to_value(&rec).unwrap();
        assert_eq!(json["kind"], "backup");
        assert_eq!(json["trigger"], "catch-up");
        assert_eq!(json["status"], "success");
        assert_eq!(json["compression"], "gzip");
        assert_eq!(json["duration_ms"], 61_500);
        assert_eq!(json["started_at"], "2025-03-14T10:00:00.123Z");
        let back: RunRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn round_trip_empty_optionals() {
        let h = History::open_in_memory().unwrap();
        let run = NewRun {
            job: "x".into(),
            kind: RunKind::Verify,
            trigger: Trigger::Manual,
            started_at: t(1, 0),
            destination: String::new(),
            engine: None,
            format: None,
            compression: None,
            database: None,
        };
        let id = h.start_run(&run).unwrap();
        let rec = h.get(id).unwrap().unwrap();
        assert_eq!(rec.kind, RunKind::Verify);
        assert_eq!(rec.trigger, Trigger::Manual);
        assert_eq!(
            (rec.engine, rec.format, rec.compression),
            (None, None, None)
        );
        assert_eq!(
            (rec.database, rec.file, rec.size, rec.verified_at),
            (None, None, None, None)
        );
    }

    #[test]
    fn record_failure_is_one_finished_row() {
        let h = History::open_in_memory().unwrap();
        let mut run = new_run("tgapp", RunKind::Backup, t(3, 0));
        run.trigger = Trigger::Manual;
        let out = RunOutcome {
            error: Some("Job \"tgapp\" is already running; wait for it to finish.".into()),
            error_kind: Some(ErrorKind::Busy.code().into()),
            ..outcome(
                RunStatus::Failed,
                t(3, 0) + chrono::Duration::milliseconds(250),
                None,
            )
        };
        let id = h.record_failure(&run, &out).unwrap();
        let rec = h.get(id).unwrap().unwrap();
        assert_eq!(rec.status, RunStatus::Failed);
        assert_eq!(rec.duration_ms, Some(250));
        assert_eq!(rec.error, out.error);
        assert_eq!(rec.error_kind.as_deref(), Some("busy"));
        assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 1);
    }

    #[test]
    fn finish_before_start_clamps_duration_to_zero() {
        let h = History::open_in_memory().unwrap();
        let id = h
            .start_run(&new_run("a", RunKind::Backup, t(5, 0)))
            .unwrap();
        h.finish_run(id, &outcome(RunStatus::Success, t(4, 59), Some(1)))
            .unwrap();
        assert_eq!(h.get(id).unwrap().unwrap().duration_ms, Some(0));
    }

    #[test]
    fn missing_rows() {
        let h = History::open_in_memory().unwrap();
        assert_eq!(h.get(42).unwrap(), None);
        let e = h
            .finish_run(42, &outcome(RunStatus::Success, t(1, 0), None))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::History);
        assert!(e.to_string().contains("42"), "{e}");
        assert_eq!(
            h.mark_verified(42, t(1, 0)).unwrap_err().kind(),
            ErrorKind::History
        );
        assert!(!h.delete(42).unwrap());
        assert_eq!(h.find_by_file("/nope").unwrap(), None);
        assert_eq!(h.last_run("a", RunKind::Backup).unwrap(), None);
        assert_eq!(h.last_success("a", RunKind::Backup).unwrap(), None);
        assert!(h.stats(None).unwrap().is_empty());
    }

    #[test]
    fn delete_removes_only_that_row() {
        let h = History::open_in_memory().unwrap();
        let a = add(
            &h,
            "a",
            RunKind::Backup,
            t(1, 0),
            RunStatus::Success,
            Some(1),
        );
        let b = add(
            &h,
            "a",
            RunKind::Backup,
            t(2, 0),
            RunStatus::Success,
            Some(1),
        );
        assert!(h.delete(a).unwrap());
        assert!(!h.delete(a).unwrap());
        assert_eq!(h.get(a).unwrap(), None);
        assert!(h.get(b).unwrap().is_some());
    }

    #[test]
    fn filters_and_order() {
        let h = History::open_in_memory().unwrap();
        let a1 = add(
            &h,
            "a",
            RunKind::Backup,
            t(1, 0),
            RunStatus::Success,
            Some(10),
        );
        let a2 = add(&h, "a", RunKind::Backup, t(2, 0), RunStatus::Failed, None);
        let a3 = add(&h, "a", RunKind::Restore, t(3, 0), RunStatus::Success, None);
        let b1 = add(
            &h,
            "b",
            RunKind::Backup,
            t(4, 0),
            RunStatus::Success,
            Some(20),
        );
        let mut manual = new_run("b", RunKind::Verify, t(5, 0));
        manual.trigger = Trigger::Manual;
        let b2 = h.start_run(&manual).unwrap();

        let ids = |f: RunFilter| {
            h.runs(&f)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };

        assert_eq!(ids(RunFilter::default()), vec![b2, b1, a3, a2, a1]);
        assert_eq!(
            ids(RunFilter {
                job: Some("a".into()),
                ..Default::default()
            }),
            vec![a3, a2, a1]
        );
        assert_eq!(
            ids(RunFilter {
                kind: Some(RunKind::Backup),
                ..Default::default()
            }),
            vec![b1, a2, a1]
        );
        assert_eq!(
            ids(RunFilter {
                status: Some(RunStatus::Success),
                ..Default::default()
            }),
            vec![b1, a3, a1]
        );
        assert_eq!(
            ids(RunFilter {
                status: Some(RunStatus::Running),
                ..Default::default()
            }),
            vec![b2]
        );
        assert_eq!(
            ids(RunFilter {
                trigger: Some(Trigger::Manual),
                ..Default::default()
            }),
            vec![b2]
        );
        // since inclusive, until exclusive.
        assert_eq!(
            ids(RunFilter {
                since: Some(t(2, 0)),
                until: Some(t(4, 0)),
                ..Default::default()
            }),
            vec![a3, a2]
        );
        assert_eq!(
            ids(RunFilter {
                limit: Some(2),
                ..Default::default()
            }),
            vec![b2, b1]
        );
        assert_eq!(
            ids(RunFilter {
                limit: Some(0),
                ..Default::default()
            }),
            Vec::<i64>::new()
        );
        assert_eq!(
            ids(RunFilter {
                job: Some("a".into()),
                kind: Some(RunKind::Backup),
                status: Some(RunStatus::Success),
                trigger: Some(Trigger::Scheduled),
                since: Some(t(0, 0)),
                until: Some(t(23, 0)),
                limit: Some(10),
            }),
            vec![a1]
        );
        assert!(
            ids(RunFilter {
                job: Some("zzz".into()),
                ..Default::default()
            })
            .is_empty()
        );
        // A job name with SQL in it is just a value.
        assert!(
            ids(RunFilter {
                job: Some("a' OR '1'='1".into()),
                ..Default::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn same_millisecond_runs_order_by_id() {
        let h = History::open_in_memory().unwrap();
        let first = h
            .start_run(&new_run("a", RunKind::Backup, t(1, 0)))
            .unwrap();
        let second = h
            .start_run(&new_run("a", RunKind::Backup, t(1, 0)))
            .unwrap();
        let ids: Vec<i64> = h
            .runs(&RunFilter::default())
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![second, first]);
        assert_eq!(
            h.last_run("a", RunKind::Backup).unwrap().unwrap().id,
            second
        );
    }

    #[test]
    fn last_run_last_success_and_find_by_file() {
        let h = History::open_in_memory().unwrap();
        // Inserted out of order: "last" is by started_at, not by id.
        let late = add(&h, "a", RunKind::Backup, t(9, 0), RunStatus::Failed, None);
        let early = add(
            &h,
            "a",
            RunKind::Backup,
            t(8, 0),
            RunStatus::Success,
            Some(5),
        );
        let older = add(
            &h,
            "a",
            RunKind::Backup,
            t(7, 0),
            RunStatus::Success,
            Some(5),
        );
        add(&h, "a", RunKind::Verify, t(10, 0), RunStatus::Success, None);
        add(&h, "b", RunKind::Backup, t(11, 0), RunStatus::Success, None);

        assert_eq!(h.last_run("a", RunKind::Backup).unwrap().unwrap().id, late);
        assert_eq!(
            h.last_success("a", RunKind::Backup).unwrap().unwrap().id,
            early
        );
        assert_eq!(h.last_run("a", RunKind::Restore).unwrap(), None);

        let file = "/backups/a_2025-03-14_08-00-00.sql.zst";
        let with_file = |status| RunOutcome {
            file: Some(file.into()),
            ..outcome(status, t(8, 1), Some(5))
        };
        h.finish_run(older, &with_file(RunStatus::Success)).unwrap();
        h.finish_run(early, &with_file(RunStatus::Success)).unwrap();
        assert_eq!(h.find_by_file(file).unwrap().unwrap().id, early);
        assert_eq!(h.find_by_file("/backups/other").unwrap(), None);
    }

    #[test]
    fn stats_per_job() {
        let h = History::open_in_memory().unwrap();
        add(
            &h,
            "b",
            RunKind::Backup,
            t(1, 0),
            RunStatus::Success,
            Some(100),
        );
        add(
            &h,
            "b",
            RunKind::Backup,
            t(3, 0),
            RunStatus::Success,
            Some(250),
        );
        add(
            &h,
            "b",
            RunKind::Backup,
            t(2, 0),
            RunStatus::Success,
            Some(50),
        );
        add(
            &h,
            "b",
            RunKind::Backup,
            t(4, 0),
            RunStatus::Failed,
            Some(999),
        );
        add(
            &h,
            "b",
            RunKind::Backup,
            t(5, 0),
            RunStatus::Interrupted,
            None,
        );
        // Not backups: ignored.
        add(
            &h,
            "b",
            RunKind::Restore,
            t(6, 0),
            RunStatus::Success,
            Some(7),
        );
        add(
            &h,
            "b",
            RunKind::Verify,
            t(7, 0),
            RunStatus::Failed,
            Some(7),
        );
        add(&h, "a", RunKind::Backup, t(1, 0), RunStatus::Failed, None);
        h.start_run(&new_run("a", RunKind::Backup, t(2, 0)))
            .unwrap();
        add(&h, "c", RunKind::Verify, t(1, 0), RunStatus::Success, None);

        let all = h.stats(None).unwrap();
        assert_eq!(
            all,
            vec![
                JobStats {
                    job: "a".into(),
                    runs: 2,
                    successes: 0,
                    failures: 1,
                    total_size: 0,
                    oldest: None,
                    newest: None,
                    last_status: Some(RunStatus::Running),
                },
                JobStats {
                    job: "b".into(),
                    runs: 5,
                    successes: 3,
                    failures: 2,
                    total_size: 400,
                    oldest: Some(t(1, 0)),
                    newest: Some(t(3, 0)),
                    last_status: Some(RunStatus::Interrupted),
                },
            ]
        );
        assert_eq!(h.stats(Some("b")).unwrap(), vec![all[1].clone()]);
        assert!(h.stats(Some("c")).unwrap().is_empty());
        assert!(h.stats(Some("nope")).unwrap().is_empty());
        let json = serde_json::to_value(&all[1]).unwrap();
        assert_eq!(json["last_status"], "interrupted");
        assert_eq!(json["total_size"], 400);
    }

    #[test]
    fn open_creates_parents_sets_pragmas_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/history.sqlite");
        let h = History::open(&path).unwrap();
        assert!(path.exists());
        {
            let conn = h.lock();
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode.to_ascii_lowercase(), "wal");
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "FULL");
            let fk: i64 = conn
                .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                .unwrap();
            assert_eq!(fk, 1);
            let busy: i64 = conn
                .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
                .unwrap();
            assert_eq!(busy, 10_000);
        }
        drop(h);
        assert_eq!(version(&path), i64::from(schema_version()));
        assert_eq!(schema_version(), 3);
    }

    #[test]
    fn migrations_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let id = {
            let h = History::open(&path).unwrap();
            add(
                &h,
                "a",
                RunKind::Backup,
                t(1, 0),
                RunStatus::Success,
                Some(3),
            )
        };
        for _ in 0..3 {
            let h = History::open(&path).unwrap();
            assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 1);
            assert_eq!(h.get(id).unwrap().unwrap().size, Some(3));
        }
        assert_eq!(version(&path), i64::from(schema_version()));
        let tables: i64 = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        drop(History::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let e = History::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::History);
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("newer version"), "{msg}");
        // Refusing did not touch the file.
        assert_eq!(version(&path), 99);
    }

    #[test]
    fn not_a_database_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let e = History::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::History);
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn unusable_parent_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let path = blocker.join("history.sqlite");
        let e = History::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::History);
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }

    #[test]
    fn crash_mid_run_then_mark_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let (crashed, done) = {
            let h = History::open(&path).unwrap();
            let done = add(
                &h,
                "a",
                RunKind::Backup,
                t(1, 0),
                RunStatus::Success,
                Some(9),
            );
            let crashed = h
                .start_run(&new_run("a", RunKind::Backup, t(2, 0)))
                .unwrap();
            // The process "dies" here: the handle goes away without finish_run.
            drop(h);
            (crashed, done)
        };
        let other_job = {
            let h = History::open(&path).unwrap();
            h.start_run(&new_run("b", RunKind::Backup, t(2, 0)))
                .unwrap()
        };

        let h = History::open(&path).unwrap();
        let rec = h.get(crashed).unwrap().unwrap();
        assert_eq!(rec.status, RunStatus::Running);

        let reason = "The previous run stopped before it finished (the computer shut down or the process was killed).";
        assert_eq!(h.mark_interrupted("a", t(3, 0), reason).unwrap(), 1);
        let rec = h.get(crashed).unwrap().unwrap();
        assert_eq!(rec.status, RunStatus::Interrupted);
        assert_eq!(rec.error.as_deref(), Some(reason));
        assert_eq!(rec.error_kind.as_deref(), Some("interrupted"));
        assert_eq!(rec.finished_at, Some(t(3, 0)));
        assert_eq!(rec.duration_ms, None);
        // Finished runs and other jobs are untouched; a second call finds nothing.
        assert_eq!(h.get(done).unwrap().unwrap().status, RunStatus::Success);
        assert_eq!(
            h.get(other_job).unwrap().unwrap().status,
            RunStatus::Running
        );
        assert_eq!(h.mark_interrupted("a", t(4, 0), reason).unwrap(), 0);
        assert_eq!(h.stats(Some("a")).unwrap()[0].failures, 1);
    }

    #[test]
    fn verify_rows_are_not_covered_by_the_job_lock() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("history.sqlite")).unwrap();
        let backup = h.start_run(&new_run("a", RunKind::Backup, t(1, 0))).unwrap();
        let verify = h.start_run(&new_run("a", RunKind::Verify, t(1, 0))).unwrap();
        // A backup taking the job lock must not end a verify that may still be going.
        assert_eq!(h.mark_interrupted("a", t(2, 0), "gone").unwrap(), 1);
        assert_eq!(h.get(backup).unwrap().unwrap().status, RunStatus::Interrupted);
        assert_eq!(h.get(verify).unwrap().unwrap().status, RunStatus::Running);
        // Whoever holds the verify lock may end the verify rows.
        assert_eq!(h.mark_interrupted_kind("a", RunKind::Verify, t(3, 0), "gone").unwrap(), 1);
        assert_eq!(h.get(verify).unwrap().unwrap().status, RunStatus::Interrupted);
    }

    #[test]
    fn two_handles_interleave_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let cli = History::open(&path).unwrap();
        let app = History::open(&path).unwrap();

        let from_cli = cli
            .start_run(&new_run("a", RunKind::Backup, t(1, 0)))
            .unwrap();
        let from_app = app
            .start_run(&new_run("b", RunKind::Backup, t(1, 1)))
            .unwrap();
        assert_ne!(from_cli, from_app);
        // A committed start is visible to the other handle at once.
        assert_eq!(
            app.get(from_cli).unwrap().unwrap().status,
            RunStatus::Running
        );
        app.finish_run(from_cli, &outcome(RunStatus::Success, t(1, 2), Some(1)))
            .unwrap();
        cli.finish_run(from_app, &outcome(RunStatus::Failed, t(1, 3), None))
            .unwrap();
        cli.mark_verified(from_cli, t(2, 0)).unwrap();
        assert_eq!(
            app.get(from_cli).unwrap().unwrap().verified_at,
            Some(t(2, 0))
        );
        assert!(app.delete(from_app).unwrap());
        assert_eq!(cli.get(from_app).unwrap(), None);
        assert_eq!(cli.runs(&RunFilter::default()).unwrap().len(), 1);
        assert_eq!(app.stats(None).unwrap()[0].successes, 1);
    }

    #[test]
    fn concurrent_writers_on_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        const WRITERS: usize = 4;
        const RUNS: usize = 25;
        std::thread::scope(|s| {
            for w in 0..WRITERS {
                let path = &path;
                s.spawn(move || {
                    // Each thread opens its own handle, like a separate process
                    // (including racing on the first migration).
                    let h = History::open(path).unwrap();
                    let job = format!("job{w}");
                    for i in 0..RUNS {
                        let start = t(1, 0) + chrono::Duration::seconds(i64::try_from(i).unwrap());
                        add(
                            &h,
                            &job,
                            RunKind::Backup,
                            start,
                            RunStatus::Success,
                            Some(1),
                        );
                    }
                });
            }
        });
        let h = History::open(&path).unwrap();
        let stats = h.stats(None).unwrap();
        assert_eq!(stats.len(), WRITERS);
        for s in &stats {
            assert_eq!(
                (s.runs, s.successes, s.total_size),
                (RUNS as u64, RUNS as u64, RUNS as u64)
            );
        }
        assert_eq!(version(&path), i64::from(schema_version()));
    }

    #[test]
    fn shared_handle_across_threads() {
        let h = std::sync::Arc::new(History::open_in_memory().unwrap());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    add(
                        &h,
                        &format!("j{i}"),
                        RunKind::Backup,
                        t(1, 0),
                        RunStatus::Success,
                        Some(2),
                    );
                })
            })
            .collect();
        for j in handles {
            j.join().unwrap();
        }
        assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 4);
    }

    #[test]
    fn unknown_enum_value_is_a_history_error() {
        let h = History::open_in_memory().unwrap();
        let id = h
            .start_run(&new_run("a", RunKind::Backup, t(1, 0)))
            .unwrap();
        h.lock()
            .execute("UPDATE runs SET status = 'weird' WHERE id = ?1", [id])
            .unwrap();
        assert_eq!(h.get(id).unwrap_err().kind(), ErrorKind::History);
    }
}
