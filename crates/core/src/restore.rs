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
//!
//! Where things are: [`plan`] (plan, probe, who made the file),
//! [`validate`] (the checks of a file), `load` (into a temporary
//! database), `swap`, `record` (history rows, the report), [`verify`],
//! [`kept`] (databases left on the server); the server a restore talks to
//! is [`target::DbServer`], over [`postgres`] and [`mysql`].

pub mod kept;
pub mod mysql;
pub mod names;
pub mod plan;
pub mod postgres;
pub mod target;
pub mod validate;
pub mod verify;

mod feed;
mod guard;
mod load;
mod record;
mod session;
mod swap;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::Utc;

use crate::catalog::{self, BackupEntry};
use crate::clock::Clock;
use crate::config::Job;
use crate::history::{History, NewRun, RunKind, RunOutcome};
use crate::lock::JobLock;
use crate::model::{Engine, Format, RunStatus, Trigger};
use crate::observer::{RunObserver, Stage};
use crate::paths::DataDir;
use crate::runner::{self, BackupOptions, Runner};
use crate::secrets::SecretStore;
use crate::source::postgres::PgTarget;
use crate::{Error, ErrorKind, Result};

pub use kept::KeptDatabase;
pub use names::{derived_name, KeptKind, BEFORE_MARKER, MAX_IDENTIFIER, RESTORE_MARKER, VERIFY_MARKER};
pub use plan::{check_restorable, plan_restore, probe, RestoreMode, RestoreOptions, RestorePlan};
pub use postgres::{DbInfo, Server, Session};
/// The PostgreSQL side under its former name.
#[doc(hidden)]
pub use postgres as server;
pub use record::RestoreReport;
pub use target::DbServer;
pub use validate::{validate, ChecksumStatus, ValidateOptions, Validation};
pub use verify::{RestoreTest, TableRows, VerifyOptions, VerifyReport};

use load::Loaded;

/// How long a restore waits for a running backup of the same job.
const JOB_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// How often the swap is tried when a client reconnects in between.
const SWAP_ATTEMPTS: u32 = 3;

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidBackup, message)
}

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

/// The newest backup of `job` in its destination (`restore --latest`).
///
/// # Errors
/// When the destination cannot be listed or holds no backup of the job.
pub fn latest_backup(job: &Job) -> Result<BackupEntry> {
    let dest = runner::open_destination(&job.destination)?;
    let entries = catalog::job_backups(dest.as_ref(), &job.name, job.timezone)?;
    entries.into_iter().next().ok_or_else(|| {
        Error::config(format!(
            "Job \"{}\" has no backups in {}; run `nightjar backup --job {}` first, or pick a file.",
            job.name,
            job.destination.display(),
            job.name
        ))
    })
}

/// Runs restores and verifies. Borrow-only, like [`Runner`].
pub struct Restorer<'a> {
    /// History store.
    pub history: &'a History,
    /// Data directory (locks).
    pub data: &'a DataDir,
    /// Secret store (database passwords).
    pub secrets: &'a dyn SecretStore,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Progress receiver.
    pub observer: &'a dyn RunObserver,
    /// Raised to stop a run.
    pub cancel: &'a AtomicBool,
}

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
            let runner = Runner { history: self.history, data: self.data, secrets: self.secrets, clock: self.clock, observer: self.observer, cancel: self.cancel };
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
            let whom = if who.is_empty() { String::new() } else { format!(": {}", postgres::describe_sessions(&who)) };
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
}

/// What a restore run has done so far (for recording its end).
#[derive(Debug, Default)]
struct RestoreState {
    run_id: Option<i64>,
    sha256: Option<String>,
}
