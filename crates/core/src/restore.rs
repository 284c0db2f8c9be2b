//! Restore and verify: the operations that run at the worst moment, for a
//! stressed person, and must not be able to lose anything.
//!
//! A restore ([`Restorer::restore`]) runs five stages; the target database
//! is touched only by the fourth, once everything checked out:
//!
//! ```text
//! 1. plan      plan.rs      plan_restore (the file alone), probe (lists databases and
//!                           sessions), Restorer::prepare (who made the file);
//!                           [confirmation by the caller]; Restorer::confirm when it runs
//!                           (the file's head, the acknowledgement, the server now)
//! 2. validate  validate.rs  check_head before reading; while loading: full decompression,
//!                           the psql-command guard (guard.rs, mysql::DumpGuard); check_end
//!                           after the last byte (sha256 against the manifest and the plan,
//!                           the dump tool's closing line)
//! 3. load      load.rs      CREATE DATABASE <db>__nightjar_restore_<ts>; the file read once,
//!                           hashed, decompressed and guarded on its way into
//!                           psql --single-transaction | pg_restore --exit-on-error | mysql
//! 4. swap      swap.rs      safety backup of the target (Runner::backup, trigger pre-restore),
//!                           then one transaction: end sessions, RENAME target →
//!                           <db>__before_restore_<ts>, RENAME tmp → target (or the rename
//!                           to the --as-new name)
//! 5. record    record.rs    the history row and the report
//! ```
//!
//! Validation runs while the file loads, into a database nobody uses yet:
//! the loader gets the end of its input only after the file proved itself
//! (psql's transaction commits then), and the swap happens only after the
//! loader exited cleanly. A failure at any stage before the swap leaves the
//! target exactly as it was and drops the temporary database; the swap is
//! a single transaction, so either both names change or neither does. The
//! safety backup is taken once the loaded copy checked out, so a bad file
//! costs no safety backup. The replaced database is kept under its
//! `__before_restore_` name until the user drops it ([`kept`]).
//!
//! Verify ([`verify`]) checks a file on its own ([`validate::validate`],
//! one read) and can load it into a scratch database on a server
//! (`<db>__nightjar_verify_<ts>`), count the rows of every table, drop it,
//! and mark the backup verified in the history.
//!
//! Every run and every refusal is recorded in the history (kind `restore`
//! or `verify`); the safety backup is a backup run of its own. The server
//! a restore talks to is [`target::DbServer`], over [`postgres`] (psql,
//! pg_restore) and [`mysql`] (the mariadb/mysql client).

pub mod kept;
pub mod mysql;
pub mod names;
pub mod plan;
pub mod postgres;
pub mod target;
pub mod validate;
pub mod verify;

mod feed;
#[cfg(test)]
mod fixtures;
mod guard;
mod load;
mod record;
mod session;
mod swap;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config::Job;
use crate::engine::RunContext;
use crate::history::{NewRun, RunKind};
use crate::lock::JobLock;
use crate::model::{Engine, Format};
use crate::observer::Stage;
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

use load::Expected;
use plan::changed_since_plan;
use record::{Done, RestoreState};

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

    /// Prepares and restores in one go (no confirmation step: for callers
    /// that confirmed otherwise).
    ///
    /// # Errors
    /// As [`Restorer::prepare`] and [`Restorer::restore`].
    pub fn run(&self, file: &Path, job: &Job, opts: &RestoreOptions) -> Result<RestoreReport> {
        let plan = self.prepare(file, job, opts)?;
        self.restore(&plan, job, opts)
    }

    /// Carries out a confirmed plan: load the file into a temporary
    /// database while checking it, safety backup, swap (see the module's
    /// opening comment). On any failure the target is as it was and the
    /// temporary database is gone. Recorded in the history.
    ///
    /// # Errors
    /// The first failure, as one sentence naming the file or database.
    pub fn restore(&self, plan: &RestorePlan, job: &Job, opts: &RestoreOptions) -> Result<RestoreReport> {
        let t0 = Instant::now();
        let mut run = self.new_run(RunKind::Restore, &job.name, job.db.display(), Some(&plan.inspection), Some(plan.database.clone()), self.clock.now());
        let mut state = RestoreState::default();
        let result = self.restore_steps(plan, job, opts, &mut run, &mut state);
        self.finish_record(result, plan, opts, &run, &state, t0)
    }

    /// The stages of one restore, in order.
    fn restore_steps(&self, plan: &RestorePlan, job: &Job, opts: &RestoreOptions, run: &mut NewRun, state: &mut RestoreState) -> Result<RestoreReport> {
        let label = job.name.as_str();
        let _restore_lock = self.restore_lock(job)?;
        self.observer.stage(label, Stage::Preparing);
        let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
        // 1. plan, looked at again.
        let confirmed = self.confirm(plan, job, opts, &server)?;
        run.format = Some(confirmed.inspection.format().unwrap_or(Format::Plain));
        let mode = confirmed.mode;
        let safety_backup = mode == RestoreMode::Replace && opts.safety_backup;
        self.check_cancel(&plan.inspection.name())?;
        // No backup of the job runs while this one holds it. Its history
        // row starts now, or after the safety backup (which marks every
        // row of the job still running as left by a dead process).
        let mut job_lock = Some(self.job_lock(job)?);
        if !safety_backup {
            self.start_record(run, state)?;
        }
        // 3. load, and 2. validate as the file streams by.
        self.observer.stage(label, Stage::Restoring);
        let like = match mode {
            RestoreMode::Create => None,
            RestoreMode::Replace | RestoreMode::AsNew => confirmed.target_info.as_ref(),
        };
        let tmp = self.create_temporary(&server, &plan.database, job, mode, like)?;
        let expected = Expected {
            inspection: &confirmed.inspection,
            sha256: plan.expected_sha256.iter().chain(plan.trust.as_ref().map(|t| &t.sha256)).map(|s| (s.clone(), changed_since_plan(&plan.inspection.path))).collect(),
        };
        let swapped = (|| -> Result<Done> {
            let loaded = self.load(&server, &tmp.name, &expected, label)?;
            state.sha256 = Some(loaded.streamed.sha256.clone());
            if let Some(p) = like {
                server.copy_properties(&tmp.name, p)?;
            }
            self.check_cancel(&plan.inspection.name())?;
            // 4. swap: the safety backup of the target first.
            let mut safety = None;
            if safety_backup {
                drop(job_lock.take()); // the backup takes it
                safety = Some(self.safety_backup(job, opts, &server, &plan.database)?);
                job_lock = Some(self.job_lock(job)?);
                self.start_record(run, state)?;
                self.check_cancel(&plan.inspection.name())?;
            }
            self.observer.stage(label, Stage::Swapping);
            let (closed, closed_sessions) = self.swap_in(&server, &plan.database, &tmp, mode, opts.terminate_connections)?;
            Ok(Done { mode, server: server.name(), loaded, kept_as: tmp.keep_as.clone(), safety, closed, closed_sessions })
        })();
        drop(job_lock);
        let done = swapped.map_err(|e| self.cleanup(&server, &tmp.name, e, mode, &plan.database))?;
        // 5. record (the row is finished by the caller).
        Ok(self.report(plan, job, done))
    }

    /// The keys that may open `file` when it is age-encrypted: those kept
    /// for the job named in its manifest and for `jobs`, and the identity
    /// file `identity`. `None` for a file that is not encrypted (the secret
    /// store is then not asked).
    ///
    /// # Errors
    /// An identity file that cannot be read.
    pub fn keys_for(
        &self,
        file: &Path,
        jobs: &[&str],
        identity: Option<&Path>,
    ) -> Result<Option<std::sync::Arc<crate::crypt::Keys>>> {
        let Ok(insp) = crate::inspect::inspect(file) else {
            return Ok(None);
        };
        if !insp.encrypted {
            return Ok(None);
        }
        let mut names: Vec<&str> = insp
            .manifest
            .as_ref()
            .map(|m| m.job.as_str())
            .into_iter()
            .collect();
        for j in jobs {
            if !names.contains(j) {
                names.push(j);
            }
        }
        Ok(Some(std::sync::Arc::new(crate::crypt::Keys::load(
            self.secrets,
            &names,
            identity,
        )?)))
    }

    /// One restore per job at a time.
    fn restore_lock(&self, job: &Job) -> Result<JobLock> {
        JobLock::try_acquire(&self.data.lock_dir(), &format!("{}.restore", job.name)).map_err(|e| {
            if e.kind() == ErrorKind::Busy {
                Error::new(ErrorKind::Busy, format!("Another restore of job \"{}\" is already running; wait for it to finish, then try again.", job.name))
            } else {
                e
            }
        })
    }

    /// The job's own lock (no backup of it meanwhile), waiting for a running backup.
    fn job_lock(&self, job: &Job) -> Result<JobLock> {
        JobLock::acquire_wait(&self.data.lock_dir(), &job.name, JOB_LOCK_WAIT, self.cancel)
    }

    fn check_cancel(&self, name: &str) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped before it changed anything.")));
        }
        Ok(())
    }
}
