//! One run of one job. No threads or timers of its own; the scheduler and
//! the front ends call it ([`Runner::run`], [`Runner::backup`]), and it
//! tells the observer the run's lifecycle (started, finished, skipped,
//! failed). Under the job's lock, with the run's history row started, a
//! backup goes through five stages, one function each:
//!
//! 1. `Runner::prepare`: destination ready, free space, stale partial
//!    files removed, dump tool and server checked, file name chosen;
//! 2. `Runner::dump`: the dump streams through compression and sha256
//!    into a pending file;
//! 3. `Runner::commit`: the signed manifest, then file and manifest live;
//! 4. `Runner::record`: the history row says success;
//! 5. `Runner::prune_after`: the job's retention.
//!
//! A job with several destinations goes through the same stages once per
//! run, the dump fanned out to every destination (`runner/many.rs`).
//!
//! Every failure, including the ones before the dump starts (destination
//! missing, lock busy, tool too old), is recorded in the history with the
//! same one-sentence message the caller gets.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog;
use crate::config::{DestinationSpec, Job};
use crate::destination::Destination;
use crate::engine::RunContext;
use crate::history::{self, NewRun, RunKind, RunOutcome};
use crate::lock::JobLock;
use crate::manifest::{InstallKeys, Manifest, APP, MANIFEST_VERSION};
use crate::model::{RunStatus, Trigger};
use crate::names::{backup_file_name, MANIFEST_SUFFIX};
use crate::observer::{Event, SkipReason, Stage};
use crate::pipeline::{self, CompressOptions, PipelineError};
use crate::retention::{self, Candidate, RetentionPlan, RetentionPolicy};
use crate::source::engine;
use crate::source::ChildStream;
use crate::{Error, ErrorKind, Result};

mod many;
pub use many::partial_failure;

/// The finished record of a successful backup (`nightjar backup --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// History row id.
    pub run_id: i64,
    /// Job name.
    pub job: String,
    /// Always "success" (failures are errors).
    pub status: RunStatus,
    /// Why it ran.
    pub trigger: Trigger,
    /// Full path (or URL) of the backup.
    pub file: String,
    /// File name only.
    pub name: String,
    /// Size of the stored file.
    pub size: u64,
    /// sha256 of the stored file.
    pub sha256: String,
    /// Size of the uncompressed dump.
    pub dump_size: u64,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Where it went.
    pub destination: String,
    /// Database server version.
    pub server_version: Option<String>,
    /// Dump tool and version.
    pub tool_version: String,
    /// Old backups deleted by retention after this run.
    pub pruned: Vec<String>,
    /// Non-fatal problems (e.g. a retention deletion that failed).
    pub warnings: Vec<String>,
    /// Each destination's copy, for a job with several (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<crate::history::CopyRecord>,
}

/// Options of one backup run (its `Debug` shows `***` for the password).
#[derive(Clone)]
pub struct BackupOptions {
    /// Why it runs.
    pub trigger: Trigger,
    /// A password given for this run only (e.g. from an ad-hoc `--db` URL).
    pub password: Option<String>,
    /// Keyring account to read the password from when none is given
    /// (default: the job's).
    pub password_account: Option<String>,
    /// Apply the job's retention after success.
    pub prune: bool,
    /// zstd worker threads (`None`: default).
    pub threads: Option<u32>,
    /// Wait this long for another run of the job to finish instead of
    /// refusing at once.
    pub wait_for_lock: Option<std::time::Duration>,
    /// Once the lock is held, do nothing (error [`crate::ErrorKind::Busy`],
    /// not recorded) when the job already has a good backup started at or
    /// after this time: a scheduled slot another process backed up while
    /// this run waited for the lock.
    pub skip_if_backed_up_since: Option<DateTime<Utc>>,
    /// Which attempt this is (0: the first) when the caller retries a
    /// failed run (the scheduler, up to the job's `retries`); `None`: no retry.
    pub attempt: Option<u32>,
}

impl std::fmt::Debug for BackupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupOptions")
            .field("trigger", &self.trigger)
            .field("password", &crate::db::hidden(self.password.as_ref()))
            .field("password_account", &self.password_account)
            .field("prune", &self.prune)
            .field("threads", &self.threads)
            .field("wait_for_lock", &self.wait_for_lock)
            .field("skip_if_backed_up_since", &self.skip_if_backed_up_since)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl BackupOptions {
    /// A run for `trigger` with defaults.
    #[must_use]
    pub fn new(trigger: Trigger) -> Self {
        Self { trigger, password: None, password_account: None, prune: true, threads: None, wait_for_lock: None, skip_if_backed_up_since: None, attempt: None }
    }
}

/// What a prune did (or would do, on a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The job.
    pub job: String,
    /// The policy applied.
    pub policy: String,
    /// The plan with a reason per file.
    pub plan: RetentionPlan,
    /// True when nothing was deleted on purpose.
    pub dry_run: bool,
    /// Deleted file names.
    pub deleted: Vec<String>,
    /// Failures (one sentence each).
    pub errors: Vec<String>,
}

/// Runs jobs: a view of a [`RunContext`], made by [`crate::Engine::runner`].
#[derive(Clone, Copy)]
pub struct Runner<'a>(pub(crate) RunContext<'a>);

/// Keyring account holding the signed-in Microsoft account's name.
pub const ONEDRIVE_ACCOUNT: &str = "onedrive:account";

/// The error of a run a dead process left `running`.
const LEFT_RUNNING: &str = "Interrupted: Nightjar stopped before this run finished (crash, power loss or kill); the next run replaced it.";

/// How a run ended ([`Runner::run`]); the observer got the same as an [`Event`].
#[derive(Debug)]
pub enum RunEnd {
    /// The backup is in place ([`Event::RunFinished`]).
    Done(Box<BackupReport>),
    /// The run did not happen ([`Event::RunSkipped`]); `error` says why
    /// ([`ErrorKind::Busy`]).
    Skipped {
        /// Why.
        reason: SkipReason,
        /// The same as one sentence.
        error: Error,
    },
    /// The run failed ([`Event::RunFailed`]), and is retried at `retry_at`
    /// when the caller retries ([`BackupOptions::attempt`]).
    Failed {
        /// The first failure.
        error: Error,
        /// When the next attempt is due, if any.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Why a run stopped before its end (internal).
enum Stop {
    Skipped(SkipReason, Error),
    Failed(Error),
}

/// What [`Runner::prepare`] hands to [`Runner::dump`].
struct Ready {
    /// The dump tool, checked against the server.
    tool: Option<engine::Prepared>,
    /// The backup's file name.
    name: String,
    /// No password because the keyring could not be reached.
    keyring_unreachable: bool,
    /// The credentials file, when the config keeps secrets in one.
    secrets_file: Option<std::path::PathBuf>,
    /// The encryptor of `[job.encryption]` (set up before the dump starts).
    encryptor: Option<age::Encryptor>,
}

impl Ready {
    /// A refused password with no password because the keyring was
    /// unreachable says that, rather than "none is stored".
    fn explain(&self, job: &Job, e: Error) -> Error {
        if e.kind() == ErrorKind::Auth && self.keyring_unreachable { engine::keyring_unreachable(job, self.secrets_file.as_deref()) } else { e }
    }
}

/// What [`Runner::dump`] hands to [`Runner::commit`].
struct Dumped {
    ready: Ready,
    pending: Box<dyn crate::destination::PendingFile>,
    figures: pipeline::PipelineOutput,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl Runner<'_> {
    /// Backs up `job` once ([`Runner::run`]), as a `Result`: a skipped run
    /// is an [`ErrorKind::Busy`] error.
    ///
    /// # Errors
    /// The first failure, as one sentence; it is also in the history.
    pub fn backup(&self, job: &Job, opts: &BackupOptions) -> Result<BackupReport> {
        match self.run(job, opts) {
            RunEnd::Done(report) => Ok(*report),
            RunEnd::Skipped { error, .. } | RunEnd::Failed { error, .. } => Err(error),
        }
    }

    /// Backs up `job` once, whatever started it (a user, the schedule, a
    /// catch-up, a restore's safety backup), and tells the observer its
    /// lifecycle: [`Event::RunStarted`], then [`Event::RunFinished`] (with
    /// the duration the history records), [`Event::RunSkipped`] (with its
    /// reason) or [`Event::RunFailed`] (with the retry time, when the
    /// caller retries).
    pub fn run(&self, job: &Job, opts: &BackupOptions) -> RunEnd {
        let name = job.name.clone();
        let trigger = opts.trigger;
        self.emit(&Event::RunStarted { job: name.clone(), trigger });
        match self.attempt(job, opts) {
            Ok(report) => {
                self.emit(&Event::RunFinished {
                    job: name,
                    trigger,
                    file: report.file.clone(),
                    size: report.size,
                    duration_ms: report.duration_ms,
                });
                RunEnd::Done(Box::new(report))
            }
            Err(Stop::Skipped(reason, error)) => {
                self.emit(&Event::RunSkipped { job: name, trigger, reason, message: error.message().to_string() });
                RunEnd::Skipped { reason, error }
            }
            Err(Stop::Failed(error)) => {
                let retry_at = opts
                    .attempt
                    .filter(|&n| error.kind() != ErrorKind::Interrupted && n < job.retries && !self.cancel.load(Ordering::SeqCst))
                    .map(|n| self.clock.now() + crate::scheduler::retry_backoff(n + 1));
                self.emit(&Event::RunFailed { job: name, trigger, message: error.message().to_string(), retry_at });
                RunEnd::Failed { error, retry_at }
            }
        }
    }

    /// One run: the history row, the stages, retention.
    fn attempt(&self, job: &Job, opts: &BackupOptions) -> std::result::Result<BackupReport, Stop> {
        let requested_at = self.clock.now();
        let mut new_run = NewRun {
            job: job.name.clone(),
            kind: RunKind::Backup,
            trigger: opts.trigger,
            started_at: requested_at,
            destination: job.destinations_display(),
            engine: Some(job.db.engine),
            format: Some(job.format),
            compression: Some(job.compression),
            database: Some(job.db.database.clone()),
        };
        let many = job.destinations.len() > 1;
        let failed = |e: &Error| RunOutcome::failure(e, self.clock.now(), None, None);
        let early = |e: Error| -> Error {
            if let Err(h) = self.history.record_failure(&new_run, &failed(&e)) {
                tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
            }
            tracing::warn!(job = %job.name, "backup failed: {}", e.detailed());
            e
        };
        // With several destinations, one that cannot be opened is one failed copy.
        let dest = if many { None } else { Some(self.engine.open_destination(&job.destination).map_err(early)?) };
        let locked = match opts.wait_for_lock {
            Some(t) => JobLock::acquire_wait(&self.data.lock_dir(), &job.name, t, self.cancel),
            None => JobLock::try_acquire(&self.data.lock_dir(), &job.name),
        };
        let _lock = match locked {
            Ok(l) => l,
            // A manual run does not queue behind another run of the job.
            Err(e) if e.kind() == ErrorKind::Busy && opts.trigger == Trigger::Manual => return Err(Stop::Skipped(SkipReason::JobBusy, early(e))),
            Err(e) => return Err(early(e).into()),
        };
        if let Some(since) = opts.skip_if_backed_up_since
            && self.history.last_success(&job.name, RunKind::Backup)?.is_some_and(|r| r.started_at >= since)
        {
            let message = format!("Run skipped: another Nightjar process (the desktop app or `nightjar run`) already backed \"{}\" up for this slot.", job.name);
            return Err(Stop::Skipped(SkipReason::BackedUpElsewhere, Error::new(ErrorKind::Busy, message)));
        }
        // A retry of a run whose dump was good but a copy failed copies from
        // a good copy instead of dumping again.
        if many
            && opts.attempt.is_some_and(|n| n > 0)
            && let Some(retried) = self.retry_by_copying(job)
        {
            return retried.map_err(Stop::Failed);
        }
        // The run starts now that it holds the lock: a run that waited behind
        // another is stamped (name, history, manifest) from here, not from
        // when it was asked for.
        let started_at = self.clock.now();
        let t0 = Instant::now();
        new_run.started_at = started_at;
        // A history busy in another process past its timeout does not stop
        // the dump: the run is then recorded when it ends (`write_outcome`).
        let run_id = match self.start_recording(&new_run, started_at) {
            Ok(id) => Some(id),
            Err(e) if history::is_busy(&e) => None,
            Err(e) => return Err(e.into()),
        };
        tracing::info!(job = %job.name, trigger = %opts.trigger, run_id, "backup started");
        let Some(dest) = dest else {
            return self.attempt_many(job, opts, &new_run, run_id, started_at, t0).map_err(Stop::Failed);
        };
        let dest = dest.as_ref();
        let made = self
            .prepare(job, opts, dest, started_at)
            .and_then(|ready| self.dump(job, opts, dest, ready, t0))
            .and_then(|dumped| self.commit(job, opts, dest, dumped, started_at));
        match made {
            Ok(mut report) => {
                self.record(run_id, &new_run, &mut report);
                self.prune_after(job, opts, dest, &mut report);
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(job = %job.name, run_id, "backup failed: {}", e.detailed());
                if let Err(h) = self.write_outcome(run_id, &new_run, &failed(&e)) {
                    tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
                }
                Err(e.into())
            }
        }
    }

    /// Marks runs a dead process left `running` (the caller holds the
    /// job's lock) and records that `run` starts; its row id.
    fn start_recording(&self, run: &NewRun, at: DateTime<Utc>) -> Result<i64> {
        self.history.mark_interrupted(&run.job, at, LEFT_RUNNING)?;
        self.history.start_run(run)
    }

    /// Records how the run ended: updates its row, or, when its start could
    /// not be recorded (busy history), writes the whole run now. Waits for a
    /// busy history up to [`history::RECORD_PATIENCE`]. The row id.
    fn write_outcome(&self, run_id: Option<i64>, run: &NewRun, outcome: &RunOutcome) -> Result<i64> {
        let what = format!("the backup of \"{}\"", run.job);
        self.history.write_patiently(history::RECORD_PATIENCE, &what, |h| match run_id {
            Some(id) => h.finish_run(id, outcome).map(|()| id),
            None => {
                // Still under the job's lock: `running` rows are a dead process's.
                h.mark_interrupted(&run.job, run.started_at, LEFT_RUNNING)?;
                h.record_run(run, outcome)
            }
        })
    }

    fn resolve_password(&self, job: &Job, opts: &BackupOptions) -> Option<String> {
        self.resolve_password_noting(job, opts, &AtomicBool::new(false))
    }

    fn resolve_password_noting(&self, job: &Job, opts: &BackupOptions, keyring_failed: &AtomicBool) -> Option<String> {
        crate::secrets::database_password(self.secrets, job, opts.password.as_deref(), opts.password_account.as_deref(), keyring_failed)
    }

    /// Stage 1, prepare: the destination is there and takes writes (an
    /// expired OneDrive sign-in is told), its free space is checked,
    /// partial files of interrupted runs go, the dump tool and the server
    /// are ready, and the file gets its name.
    fn prepare(&self, job: &Job, opts: &BackupOptions, dest: &dyn Destination, started_at: DateTime<Utc>) -> Result<Ready> {
        self.observer.stage(&job.name, Stage::Preparing);
        let files = self.prepare_destination(job, &job.destination, dest)?;
        self.prepare_dump(job, opts, &files, started_at)
    }

    /// Stage 1 for one destination: there and takes writes, free space,
    /// partial files of interrupted runs removed; the files it holds.
    fn prepare_destination(&self, job: &Job, spec: &DestinationSpec, dest: &dyn Destination) -> Result<Vec<crate::destination::StoredFile>> {
        if let Err(e) = dest.prepare() {
            if matches!(e.kind(), ErrorKind::Auth | ErrorKind::AuthExpired) && matches!(spec, DestinationSpec::OneDrive(_)) {
                self.emit(&Event::OneDriveSignInExpired {
                    job: job.name.clone(),
                    account: self.secrets.get(ONEDRIVE_ACCOUNT).ok().flatten(),
                    message: e.message().to_string(),
                });
            }
            return Err(e);
        }
        if let Ok(Some(space)) = dest.space()
            && space.free_percent() < crate::status::LOW_SPACE_PERCENT
        {
            let message = format!(
                "Only {:.0} % of the disk holding {} is free; free some space before backups fail.",
                space.free_percent(),
                dest.location()
            );
            self.observer.warning(&job.name, &message);
            self.emit(&Event::HealthWarning { job: job.name.clone(), message });
        }
        let files = dest.list()?;
        for stale in catalog::stale_partials(&files, &job.name, job.timezone) {
            tracing::info!(job = %job.name, file = %stale, "removing a partial file left by an interrupted run");
            let _ = dest.remove(&stale);
        }
        Ok(files)
    }

    /// Stage 1, the rest: the dump tool and the server are ready, and the
    /// file gets a name none of `files` has.
    fn prepare_dump(&self, job: &Job, opts: &BackupOptions, files: &[crate::destination::StoredFile], started_at: DateTime<Utc>) -> Result<Ready> {
        let keyring_failed = AtomicBool::new(false);
        let password = self.resolve_password_noting(job, opts, &keyring_failed);
        let mut ready = Ready {
            tool: None,
            name: String::new(),
            keyring_unreachable: password.is_none() && keyring_failed.load(Ordering::Relaxed),
            secrets_file: self.secrets.file(),
            encryptor: None,
        };
        if let Some(spec) = &job.encryption {
            ready.encryptor = Some(crate::crypt::encryptor(spec, self.secrets, &job.name)?);
        }
        ready.tool = Some(engine::prepare(job, password).map_err(|e| ready.explain(job, e))?);
        // Two runs in the same second (manual right after scheduled) get
        // distinct names: wait for the next second rather than stamping a
        // name in the future, which retention would treat as clock skew.
        let taken = |n: &str| files.iter().any(|f| f.name == n || f.name == format!("{n}{MANIFEST_SUFFIX}"));
        let mut at = started_at;
        let mut tries = 0;
        ready.name = loop {
            let mut n = backup_file_name(
                &job.name,
                at,
                job.timezone,
                opts.trigger,
                job.format,
                job.compression,
            );
            if job.encryption.is_some() {
                n.push_str(crate::crypt::AGE_SUFFIX);
            }
            if !taken(&n) {
                break n;
            }
            tries += 1;
            if tries <= 3 {
                std::thread::sleep(std::time::Duration::from_millis(1000 - u64::from(self.clock.now().timestamp_subsec_millis()).min(999)));
                at = self.clock.now().max(at + chrono::Duration::milliseconds(1));
            } else {
                at += chrono::Duration::seconds(1);
            }
        };
        Ok(ready)
    }

    /// Stage 2, dump: the dump tool's output streams through compression
    /// and the checksum into a pending file (invisible under its name);
    /// only a clean exit that wrote something counts.
    fn dump(
        &self,
        job: &Job,
        opts: &BackupOptions,
        dest: &dyn Destination,
        mut ready: Ready,
        t0: Instant,
    ) -> Result<Dumped> {
        let pending = dest.create(&ready.name)?;
        let name = ready.name.clone();
        let (pending, figures) = self.dump_into(job, opts, &mut ready, pending, t0, |e| many::write_error(&job.destination, &name, e))?;
        Ok(Dumped { ready, pending, figures })
    }

    /// Stage 2 into any sink (a pending file, or the fan-out to several);
    /// `write_error` words a failure to write it.
    fn dump_into<W: std::io::Write>(
        &self,
        job: &Job,
        opts: &BackupOptions,
        ready: &mut Ready,
        sink: W,
        t0: Instant,
        write_error: impl FnOnce(std::io::Error) -> Error,
    ) -> Result<(W, pipeline::PipelineOutput)> {
        let encryptor = ready.encryptor.take();
        let prepared = ready.tool.as_ref().expect("prepared");
        let cmd = prepared.dump_command(job);
        let mut child = ChildStream::spawn(cmd).map_err(|e| prepared.spawn_error(e))?;
        tracing::debug!(job = %job.name, pid = child.id(), tool = %prepared.tool(), "dump started");
        self.observer.stage(&job.name, Stage::Dumping);
        let copts = CompressOptions {
            compression: job.compression,
            level: job.compression_level,
            threads: opts.threads.unwrap_or_else(CompressOptions::default_threads),
        };
        let piped = crate::source::child::with_cancel_watch(child.id(), self.cancel, || {
            pipeline::run(
                &mut child,
                sink,
                copts,
                encryptor,
                self.observer,
                &job.name,
                t0,
                self.cancel,
            )
        });
        let piped = match piped {
            Ok(_) if self.cancel.load(Ordering::Relaxed) => Err(PipelineError::Cancelled),
            other => other,
        };
        let (sink, figures) = match piped {
            Ok(v) => v,
            Err(pe) => {
                child.kill();
                let child_result = child.finish();
                return Err(match pe {
                    PipelineError::Cancelled => Error::new(
                        ErrorKind::Interrupted,
                        format!("The backup of \"{}\" was stopped before it finished; nothing was saved.", job.name),
                    ),
                    PipelineError::Write(e) => write_error(e),
                    PipelineError::Read(e) => match child_result {
                        Err(f) => ready.explain(job, prepared.classify(&f)),
                        Ok(_) => Error::new(ErrorKind::Tool, format!("Reading {}'s output failed ({e}); nothing was saved.", prepared.tool())),
                    },
                });
            }
        };
        // The exit status is part of the data: only a clean exit makes a backup.
        if let Err(f) = child.finish() {
            drop(sink);
            return Err(ready.explain(job, prepared.classify(&f)));
        }
        if figures.bytes_in == 0 {
            drop(sink);
            return Err(Error::new(ErrorKind::Tool, format!("{} exited successfully but wrote nothing; nothing was saved.", prepared.tool())));
        }
        Ok((sink, figures))
    }

    /// Stage 3, commit: the signed manifest is staged, then the data file
    /// and the manifest go live under their names (the data file is
    /// removed again when the manifest cannot be committed).
    fn commit(&self, job: &Job, opts: &BackupOptions, dest: &dyn Destination, dumped: Dumped, started_at: DateTime<Utc>) -> Result<BackupReport> {
        let Dumped { ready, pending, figures } = dumped;
        let prepared = ready.tool.as_ref().expect("prepared");
        let name = ready.name.clone();
        self.observer.stage(&job.name, Stage::Finishing);
        let manifest = self.manifest(job, opts, &ready, &figures, started_at);
        let finished_at = manifest.finished_at;
        Self::commit_to(dest, &name, pending, &manifest)?;
        Ok(BackupReport {
            run_id: 0,
            job: job.name.clone(),
            status: RunStatus::Success,
            trigger: opts.trigger,
            file: dest.full_name(&name),
            name,
            size: figures.bytes_out,
            sha256: figures.sha256,
            dump_size: figures.bytes_in,
            // What the history records, so every front end shows the same.
            duration_ms: history::duration_ms(started_at, finished_at),
            started_at,
            finished_at,
            destination: dest.location(),
            server_version: prepared.server_version(),
            tool_version: format!("{} {}", prepared.tool(), prepared.tool_version()),
            pruned: Vec::new(),
            warnings: Vec::new(),
            copies: Vec::new(),
        })
    }

    /// The signed manifest of the backup `ready` names, finished now.
    fn manifest(&self, job: &Job, opts: &BackupOptions, ready: &Ready, figures: &pipeline::PipelineOutput, started_at: DateTime<Utc>) -> Manifest {
        let prepared = ready.tool.as_ref().expect("prepared");
        let name = ready.name.clone();
        let finished_at = self.clock.now();
        let mut manifest = Manifest {
            app: APP.into(),
            manifest_version: MANIFEST_VERSION,
            app_version: env!("CARGO_PKG_VERSION").into(),
            job: job.name.clone(),
            file: name.clone(),
            size: figures.bytes_out,
            sha256: figures.sha256.clone(),
            dump_size: figures.bytes_in,
            engine: job.db.engine,
            database: job.db.database.clone(),
            server: job.db.server(),
            server_version: prepared.server_version(),
            tool: prepared.tool(),
            tool_version: prepared.tool_version(),
            format: job.format,
            compression: job.compression,
            compression_level: job.compression_level,
            encryption: crate::manifest::ManifestEncryption::of(job.encryption.as_ref()),
            trigger: opts.trigger,
            timezone: job.timezone.name().to_string(),
            selection: job.selection.clone(),
            started_at,
            finished_at,
            hmac: None,
        };
        // Signed with this installation's key, so a restore can tell it
        // from a file changed (and re-hashed) by someone without the key.
        match InstallKeys::load_or_create(self.secrets, self.data) {
            Ok(keys) => {
                if let Some(k) = keys.signing() {
                    manifest.sign(k);
                }
            }
            Err(e) => tracing::warn!(job = %job.name, "the manifest is not signed: {}", e.detailed()),
        }
        manifest
    }

    /// Stage 3 in one destination: the manifest is staged, then the data
    /// file and the manifest go live (the data file is removed again when
    /// the manifest cannot be committed).
    fn commit_to(dest: &dyn Destination, name: &str, pending: Box<dyn crate::destination::PendingFile>, manifest: &Manifest) -> Result<()> {
        // Stage the manifest before the data goes live, so a failure here
        // leaves nothing behind.
        let mut manifest_file = dest.create(&format!("{name}{MANIFEST_SUFFIX}"))?;
        manifest_file
            .write_all(&manifest.to_json())
            .map_err(|e| Error::destination(format!("Could not write the manifest in {} ({e}); nothing was saved.", dest.location())))?;
        pending.commit()?;
        if let Err(e) = manifest_file.commit() {
            let _ = dest.remove(name);
            return Err(e);
        }
        Ok(())
    }

    /// Stage 4, record: the run's row says success, with the file and its
    /// sha256. A history that cannot be written leaves the good file in
    /// place and a warning in the report.
    fn record(&self, run_id: Option<i64>, new_run: &NewRun, report: &mut BackupReport) {
        let outcome = RunOutcome::success(report.finished_at, report.file.clone(), report.size, report.sha256.clone());
        match self.write_outcome(run_id, new_run, &outcome) {
            Ok(id) => report.run_id = id,
            Err(e) => {
                tracing::error!(job = %new_run.job, file = %report.file, "the finished backup could not be recorded in the history: {}", e.detailed());
                report.warnings.push(format!(
                    "The backup {} is complete, but it could not be recorded in the history ({}).",
                    report.file,
                    e.message().trim_end_matches('.')
                ));
            }
        }
        tracing::info!(job = %new_run.job, file = %report.file, size = report.size, duration_ms = report.duration_ms, "backup finished");
    }

    /// Stage 5, prune: the job's retention, when the run asks for it; what
    /// could not be deleted is a warning, not a failure.
    fn prune_after(&self, job: &Job, opts: &BackupOptions, dest: &dyn Destination, report: &mut BackupReport) {
        if !opts.prune || job.retention.keeps_everything() {
            return;
        }
        self.observer.stage(&job.name, Stage::Pruning);
        match self.prune_with(job, &job.retention, dest, false) {
            Ok(p) => {
                report.pruned = p.deleted;
                report.warnings.extend(p.errors);
            }
            Err(e) => report.warnings.push(e.message().to_string()),
        }
        for w in &report.warnings {
            self.observer.warning(&job.name, w);
            tracing::warn!(job = %job.name, "{w}");
        }
    }

    /// Checks what a run of `job` needs without running it: each destination
    /// folder and its free space, the dump tool, the server (its version
    /// against the tool's). Returns health events; none when all is well.
    #[must_use]
    pub fn check(&self, job: &Job) -> Vec<crate::observer::Event> {
        use crate::observer::Event;
        let mut events = Vec::new();
        // Every destination: a full disk under the second folder fails its copy too.
        for spec in &job.destinations {
            let d = crate::status::destination_health(spec);
            if let Some(message) = d.problem {
                let event = if d.space.is_some() {
                    Event::HealthWarning { job: job.name.clone(), message }
                } else {
                    Event::HealthFailure { job: job.name.clone(), message }
                };
                events.push(event);
            }
        }
        if let Err(e) = engine::prepare(job, self.resolve_password(job, &BackupOptions::new(Trigger::Scheduled))) {
            events.push(Event::HealthFailure { job: job.name.clone(), message: e.message().to_string() });
        }
        events
    }

    /// Applies (or previews) `job`'s retention now, holding the job's lock
    /// (no backup of it runs meanwhile).
    ///
    /// # Errors
    /// When the job is busy or the destination cannot be listed.
    pub fn prune(&self, job: &Job, dry_run: bool) -> Result<PruneReport> {
        let _lock = JobLock::try_acquire(&self.data.lock_dir(), &job.name)?;
        let dest = self.engine.open_destination(&job.destination)?;
        let mut report = self.prune_with(job, &job.retention, dest.as_ref(), dry_run)?;
        // Each further destination keeps its own set by the same rules.
        for spec in job.destinations.iter().skip(1) {
            match self.engine.open_destination(spec).and_then(|d| self.prune_with(job, &job.retention, d.as_ref(), dry_run)) {
                Ok(p) => {
                    report.deleted.extend(p.deleted);
                    report.errors.extend(p.errors);
                    report.plan.decisions.extend(p.plan.decisions);
                }
                Err(e) => report.errors.push(format!("{}: {}", spec.display(), e.message())),
            }
        }
        Ok(report)
    }

    /// Applies (or previews) `policy` to every job's backups in the folder
    /// `spec` (`nightjar prune --dest DIR`), each job's files on their own.
    ///
    /// # Errors
    /// When the destination cannot be opened or listed.
    pub fn prune_folder(&self, spec: &DestinationSpec, policy: &RetentionPolicy, tz: chrono_tz::Tz, dry_run: bool) -> Result<Vec<PruneReport>> {
        let dest = self.engine.open_destination(spec)?;
        let mut by_job: std::collections::BTreeMap<String, Vec<Candidate>> = std::collections::BTreeMap::new();
        for e in catalog::all_backups(dest.as_ref())? {
            by_job.entry(e.job.clone()).or_default().push(Candidate { name: e.name, taken_at: e.taken_at, size: e.size });
        }
        let now = self.clock.now();
        Ok(by_job
            .into_iter()
            .map(|(job, candidates)| apply_plan(&job, policy, retention::plan(policy, &candidates, now, tz), dest.as_ref(), dry_run))
            .collect())
    }

    /// Applies `policy` to `job`'s backups in `dest`.
    ///
    /// # Errors
    /// When the destination cannot be listed.
    pub fn prune_with(&self, job: &Job, policy: &RetentionPolicy, dest: &dyn Destination, dry_run: bool) -> Result<PruneReport> {
        let entries = catalog::job_backups(dest, &job.name, job.timezone)?;
        let candidates: Vec<Candidate> =
            entries.iter().map(|e| Candidate { name: e.name.clone(), taken_at: e.taken_at, size: e.size }).collect();
        let plan = retention::plan(policy, &candidates, self.clock.now(), job.timezone);
        Ok(apply_plan(&job.name, policy, plan, dest, dry_run))
    }
}

/// Deletes what `plan` says to delete (data file first, then its manifest).
#[must_use]
pub fn apply_plan(job: &str, policy: &RetentionPolicy, plan: RetentionPlan, dest: &dyn Destination, dry_run: bool) -> PruneReport {
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    if !dry_run {
        for d in plan.to_delete() {
            match dest.remove(&d.name) {
                Ok(()) => {
                    let _ = dest.remove(&format!("{}{MANIFEST_SUFFIX}", d.name));
                    tracing::info!(job, file = %d.name, "retention deleted an old backup");
                    deleted.push(d.name.clone());
                }
                Err(e) => errors.push(format!("Retention could not delete {}: {}", d.name, e.message())),
            }
        }
    }
    PruneReport { job: job.to_string(), policy: policy.describe(), plan, dry_run, deleted, errors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::paths::DataDir;
    use crate::config::{Config, ParseEnv};
    use crate::secrets::MemorySecrets;

    #[test]
    fn a_slot_another_process_backed_up_is_skipped_and_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@127.0.0.1:1/tg\"\ndestination = \"{}\"\n", dir.path().join("b").display());
        let config = Config::parse(&text, None, &ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC }).unwrap();
        let job = &config.jobs[0];
        let history = History::open_in_memory().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let now = Utc::now();
        let run = NewRun {
            job: "tg".into(),
            kind: RunKind::Backup,
            trigger: Trigger::Scheduled,
            started_at: now,
            destination: job.destination.display(),
            engine: None,
            format: None,
            compression: None,
            database: None,
        };
        let id = history.start_run(&run).unwrap();
        let outcome = RunOutcome { status: RunStatus::Success, finished_at: now, size: Some(1), file: Some("/b/tg.sql.zst".into()), sha256: None, error: None, error_kind: None };
        history.finish_run(id, &outcome).unwrap();
        let cancel = AtomicBool::new(false);
        let engine = crate::Engine::builder(data).history(std::sync::Arc::new(history)).secrets(std::sync::Arc::new(MemorySecrets::default())).build();
        let events = Events::default();
        let runner = engine.runner(&events, &cancel).unwrap();
        let mut opts = BackupOptions::new(Trigger::Scheduled);
        opts.wait_for_lock = Some(std::time::Duration::from_secs(1));
        opts.skip_if_backed_up_since = Some(now - chrono::Duration::minutes(1));
        let e = runner.backup(job, &opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(e.message().starts_with("Run skipped"), "{e}");
        assert_eq!(engine.history().unwrap().runs(&crate::history::RunFilter::default()).unwrap().len(), 1);
        let seen = events.take();
        assert!(matches!(&seen[..], [Event::RunStarted { trigger: Trigger::Scheduled, .. }, Event::RunSkipped { reason: SkipReason::BackedUpElsewhere, trigger: Trigger::Scheduled, .. }]), "{seen:?}");

        // A manual run does not queue behind another run of the job: skipped, busy.
        let _held = JobLock::try_acquire(&engine.data().lock_dir(), "tg").unwrap();
        let e = runner.backup(job, &BackupOptions::new(Trigger::Manual)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        let seen = events.take();
        assert!(matches!(&seen[..], [Event::RunStarted { trigger: Trigger::Manual, .. }, Event::RunSkipped { reason: SkipReason::JobBusy, .. }]), "{seen:?}");
        // A scheduled one that could not get the lock in time failed, and is retried.
        let mut opts = BackupOptions::new(Trigger::Scheduled);
        opts.wait_for_lock = Some(std::time::Duration::from_millis(100));
        opts.attempt = Some(0);
        let mut retrying = job.clone();
        retrying.retries = 1;
        assert!(matches!(runner.run(&retrying, &opts), RunEnd::Failed { retry_at: Some(_), .. }));
        let seen = events.take();
        assert!(matches!(&seen[..], [Event::RunStarted { .. }, Event::RunFailed { retry_at: Some(_), .. }]), "{seen:?}");
    }

    #[test]
    fn the_health_check_looks_at_every_destination() {
        let dir = tempfile::tempdir().unwrap();
        let (first, gone) = (dir.path().join("b"), dir.path().join("no-such").join("place"));
        let text = format!(
            "[[job]]\nname = \"two\"\ndatabase = \"postgres://u@127.0.0.1:1/two\"\ndestinations = [\"{}\", \"{}\"]\n",
            first.display(),
            gone.display()
        );
        let config = Config::parse(&text, None, &ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC }).unwrap();
        let cancel = AtomicBool::new(false);
        let engine = crate::Engine::builder(DataDir::new(dir.path().join("data")))
            .history(std::sync::Arc::new(History::open_in_memory().unwrap()))
            .secrets(std::sync::Arc::new(MemorySecrets::default()))
            .build();
        let events = Events::default();
        let runner = engine.runner(&events, &cancel).unwrap();
        let found = runner.check(&config.jobs[0]);
        let about_gone: Vec<_> = found
            .iter()
            .filter(|e| matches!(e, Event::HealthFailure { message, .. } if message.contains(&gone.display().to_string()) && message.contains("does not exist")))
            .collect();
        assert_eq!(about_gone.len(), 1, "{found:?}");
        assert!(!found.iter().any(|e| matches!(e, Event::HealthFailure { message, .. } | Event::HealthWarning { message, .. } if message.contains(&format!("{} ", first.display())))), "{found:?}");
    }

    #[derive(Default)]
    struct Events(std::sync::Mutex<Vec<Event>>);

    impl Events {
        fn take(&self) -> Vec<Event> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl crate::observer::RunObserver for Events {
        fn event(&self, e: &Event) {
            self.0.lock().unwrap().push(e.clone());
        }
    }
}
