//! One run of one job: lock → prepare → dump → pipeline → commit → manifest
//! → history → retention. No threads or timers of its own; the scheduler
//! and the adapters call it.
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
use crate::clock::Clock;
use crate::config::{DestinationSpec, Job};
use crate::destination::{Destination, LocalFolder};
use crate::history::{self, History, NewRun, RunKind, RunOutcome};
use crate::lock::JobLock;
use crate::manifest::{InstallKeys, Manifest, APP, MANIFEST_VERSION};
use crate::model::{RunStatus, Trigger};
use crate::names::{backup_file_name, MANIFEST_SUFFIX};
use crate::observer::{RunObserver, Stage};
use crate::paths::DataDir;
use crate::pipeline::{self, CompressOptions, PipelineError};
use crate::retention::{self, Candidate, RetentionPlan, RetentionPolicy};
use crate::secrets::SecretStore;
use crate::source::engine;
use crate::source::ChildStream;
use crate::{Error, ErrorKind, Result};

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
            .finish()
    }
}

impl BackupOptions {
    /// A run for `trigger` with defaults.
    #[must_use]
    pub fn new(trigger: Trigger) -> Self {
        Self { trigger, password: None, password_account: None, prune: true, threads: None, wait_for_lock: None, skip_if_backed_up_since: None }
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

/// Runs jobs. Borrow-only: build one per call site.
pub struct Runner<'a> {
    /// History store.
    pub history: &'a History,
    /// Data directory (locks).
    pub data: &'a DataDir,
    /// Secret store.
    pub secrets: &'a dyn SecretStore,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Progress receiver.
    pub observer: &'a dyn RunObserver,
    /// Raised to stop a run (signal, shutdown, user cancel).
    pub cancel: &'a AtomicBool,
}

/// Keyring account holding the signed-in Microsoft account's name.
pub const ONEDRIVE_ACCOUNT: &str = "onedrive:account";

/// Opens an `onedrive:` destination from its path (`/Backups/app`).
pub type OneDriveOpener = dyn Fn(&str) -> Result<Box<dyn Destination>> + Send + Sync;

/// Installed by the adapters that link the Graph client (`nightjar-onedrive`).
/// Injected rather than depended on: that crate implements this crate's
/// `Destination` trait, so core cannot depend on it without a cycle, and
/// core stays free of the HTTP/TLS stack.
static ONEDRIVE_OPENER: std::sync::RwLock<Option<std::sync::Arc<OneDriveOpener>>> = std::sync::RwLock::new(None);

/// Installs (or, with `None`, removes) the opener of `onedrive:` destinations.
pub fn set_onedrive_opener(opener: Option<std::sync::Arc<OneDriveOpener>>) {
    *ONEDRIVE_OPENER.write().unwrap_or_else(std::sync::PoisonError::into_inner) = opener;
}

/// Opens the destination of a job.
///
/// # Errors
/// For destinations this build cannot reach.
pub fn open_destination(spec: &DestinationSpec) -> Result<Box<dyn Destination>> {
    match spec {
        DestinationSpec::Folder(p) => Ok(Box::new(LocalFolder::new(p.clone()))),
        DestinationSpec::OneDrive(p) => {
            let opener = ONEDRIVE_OPENER.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            match opener {
                Some(open) => open(p),
                None => Err(Error::config(format!(
                    "The destination onedrive:{p} needs Microsoft Graph upload support, which this build does not have yet; point the job at your OneDrive-synced folder instead."
                ))),
            }
        }
    }
}

/// The error of a run a dead process left `running`.
const LEFT_RUNNING: &str = "Interrupted: Nightjar stopped before this run finished (crash, power loss or kill); the next run replaced it.";

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Runner<'_> {
    /// Backs up `job` once.
    ///
    /// # Errors
    /// The first failure, as one sentence; it is also in the history.
    pub fn backup(&self, job: &Job, opts: &BackupOptions) -> Result<BackupReport> {
        let requested_at = self.clock.now();
        let mut new_run = NewRun {
            job: job.name.clone(),
            kind: RunKind::Backup,
            trigger: opts.trigger,
            started_at: requested_at,
            destination: job.destination.display(),
            engine: Some(job.db.engine),
            format: Some(job.format),
            compression: Some(job.compression),
            database: Some(job.db.database.clone()),
        };
        let failed = |e: &Error| RunOutcome {
            status: if e.kind() == ErrorKind::Interrupted { RunStatus::Interrupted } else { RunStatus::Failed },
            finished_at: self.clock.now(),
            size: None,
            file: None,
            sha256: None,
            error: Some(e.message().to_string()),
            error_kind: Some(e.kind().code().to_string()),
        };
        let early = |e: Error| -> Error {
            if let Err(h) = self.history.record_failure(&new_run, &failed(&e)) {
                tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
            }
            tracing::warn!(job = %job.name, "backup failed: {}", e.detailed());
            e
        };
        let dest = open_destination(&job.destination).map_err(early)?;
        let _lock = match opts.wait_for_lock {
            Some(t) => JobLock::acquire_wait(&self.data.lock_dir(), &job.name, t, self.cancel),
            None => JobLock::try_acquire(&self.data.lock_dir(), &job.name),
        }
        .map_err(early)?;
        if let Some(since) = opts.skip_if_backed_up_since
            && self.history.last_success(&job.name, RunKind::Backup)?.is_some_and(|r| r.started_at >= since)
        {
            return Err(Error::new(
                ErrorKind::Busy,
                format!("Run skipped: another Nightjar process (the desktop app or `nightjar run`) already backed \"{}\" up for this slot.", job.name),
            ));
        }
        // The run starts now that it holds the lock: a run that waited behind
        // another is stamped (name, history, manifest) from here, not from
        // when it was asked for.
        let started_at = self.clock.now();
        let t0 = Instant::now();
        new_run.started_at = started_at;
        // A history busy in another process past its timeout does not stop
        // the dump: the run is then recorded when it ends (`record`).
        let run_id = match self.start_recording(&new_run, started_at) {
            Ok(id) => Some(id),
            Err(e) if history::is_busy(&e) => None,
            Err(e) => return Err(e),
        };
        tracing::info!(job = %job.name, trigger = %opts.trigger, run_id, "backup started");
        match self.backup_locked(job, opts, dest.as_ref(), started_at, t0) {
            Ok(mut report) => {
                let outcome = RunOutcome {
                    status: RunStatus::Success,
                    finished_at: report.finished_at,
                    size: Some(report.size),
                    file: Some(report.file.clone()),
                    sha256: Some(report.sha256.clone()),
                    error: None,
                    error_kind: None,
                };
                match self.record(run_id, &new_run, &outcome) {
                    Ok(id) => report.run_id = id,
                    // The file is good and stays: say the record is missing, do not fail.
                    Err(e) => {
                        tracing::error!(job = %job.name, file = %report.file, "the finished backup could not be recorded in the history: {}", e.detailed());
                        report.warnings.push(format!(
                            "The backup {} is complete, but it could not be recorded in the history ({}).",
                            report.file,
                            e.message().trim_end_matches('.')
                        ));
                    }
                }
                tracing::info!(job = %job.name, file = %report.file, size = report.size, duration_ms = report.duration_ms, "backup finished");
                if opts.prune && !job.retention.keeps_everything() {
                    self.observer.stage(&job.name, Stage::Pruning);
                    match self.prune_with(job, &job.retention, dest.as_ref(), false) {
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
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(job = %job.name, run_id, "backup failed: {}", e.detailed());
                if let Err(h) = self.record(run_id, &new_run, &failed(&e)) {
                    tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
                }
                Err(e)
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
    fn record(&self, run_id: Option<i64>, run: &NewRun, outcome: &RunOutcome) -> Result<i64> {
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

    fn backup_locked(
        &self,
        job: &Job,
        opts: &BackupOptions,
        dest: &dyn Destination,
        started_at: DateTime<Utc>,
        t0: Instant,
    ) -> Result<BackupReport> {
        self.observer.stage(&job.name, Stage::Preparing);
        if let Err(e) = dest.prepare() {
            if matches!(e.kind(), ErrorKind::Auth | ErrorKind::AuthExpired) && matches!(job.destination, DestinationSpec::OneDrive(_)) {
                self.observer.event(&crate::observer::Event::OneDriveSignInExpired {
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
            self.observer.event(&crate::observer::Event::HealthWarning { job: job.name.clone(), message });
        }
        let files = dest.list()?;
        for stale in catalog::stale_partials(&files, &job.name, job.timezone) {
            tracing::info!(job = %job.name, file = %stale, "removing a partial file left by an interrupted run");
            let _ = dest.remove(&stale);
        }
        let keyring_failed = AtomicBool::new(false);
        let password = self.resolve_password_noting(job, opts, &keyring_failed);
        let no_password = password.is_none();
        // With no password because the keyring was unreachable, say that
        // rather than "none is stored".
        let explain = |e: Error| -> Error {
            if e.kind() == ErrorKind::Auth && no_password && keyring_failed.load(Ordering::Relaxed) {
                engine::keyring_unreachable(job)
            } else {
                e
            }
        };
        let prepared = engine::prepare(job, password).map_err(explain)?;
        // Two runs in the same second (manual right after scheduled) get
        // distinct names: wait for the next second rather than stamping a
        // name in the future, which retention would treat as clock skew.
        let taken = |n: &str| files.iter().any(|f| f.name == n || f.name == format!("{n}{MANIFEST_SUFFIX}"));
        let mut at = started_at;
        let mut tries = 0;
        let name = loop {
            let n = backup_file_name(&job.name, at, job.timezone, opts.trigger, job.format, job.compression);
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
        let pending = dest.create(&name)?;
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
            pipeline::run(&mut child, pending, copts, self.observer, &job.name, t0, self.cancel)
        });
        let piped = match piped {
            Ok(_) if self.cancel.load(Ordering::Relaxed) => Err(PipelineError::Cancelled),
            other => other,
        };
        let (pending, figures) = match piped {
            Ok(v) => v,
            Err(pe) => {
                child.kill();
                let child_result = child.finish();
                return Err(match pe {
                    PipelineError::Cancelled => Error::new(
                        ErrorKind::Interrupted,
                        format!("The backup of \"{}\" was stopped before it finished; nothing was saved.", job.name),
                    ),
                    PipelineError::Write(e) => {
                        let dir = match &job.destination {
                            DestinationSpec::Folder(p) => p.clone(),
                            DestinationSpec::OneDrive(p) => p.into(),
                        };
                        Error::destination_io(crate::destination::local::describe_io("write", &dir.join(&name), &dir, &e), e)
                    }
                    PipelineError::Read(e) => match child_result {
                        Err(f) => explain(prepared.classify(&f)),
                        Ok(_) => Error::new(ErrorKind::Tool, format!("Reading {}'s output failed ({e}); nothing was saved.", prepared.tool())),
                    },
                });
            }
        };
        // The exit status is part of the data: only a clean exit makes a backup.
        if let Err(f) = child.finish() {
            drop(pending);
            return Err(explain(prepared.classify(&f)));
        }
        if figures.bytes_in == 0 {
            drop(pending);
            return Err(Error::new(ErrorKind::Tool, format!("{} exited successfully but wrote nothing; nothing was saved.", prepared.tool())));
        }
        self.observer.stage(&job.name, Stage::Finishing);
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
            encryption: "none".into(),
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
        // Stage the manifest before the data goes live, so a failure here
        // leaves nothing behind.
        let mut manifest_file = dest.create(&format!("{name}{MANIFEST_SUFFIX}"))?;
        manifest_file
            .write_all(&manifest.to_json())
            .map_err(|e| Error::destination(format!("Could not write the manifest in {} ({e}); nothing was saved.", dest.location())))?;
        pending.commit()?;
        if let Err(e) = manifest_file.commit() {
            let _ = dest.remove(&name);
            return Err(e);
        }
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
            duration_ms: ms(t0.elapsed()),
            started_at,
            finished_at,
            destination: dest.location(),
            server_version: prepared.server_version(),
            tool_version: format!("{} {}", prepared.tool(), prepared.tool_version()),
            pruned: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// Checks what a run of `job` needs without running it: the destination
    /// folder and its free space, the dump tool, the server (its version
    /// against the tool's). Returns health events; none when all is well.
    #[must_use]
    pub fn check(&self, job: &Job) -> Vec<crate::observer::Event> {
        use crate::observer::Event;
        let mut events = Vec::new();
        let d = crate::status::destination_health(&job.destination);
        if let Some(message) = d.problem {
            let event = if d.space.is_some() {
                Event::HealthWarning { job: job.name.clone(), message }
            } else {
                Event::HealthFailure { job: job.name.clone(), message }
            };
            events.push(event);
        }
        if let Err(e) = engine::prepare(job, self.resolve_password(job, &BackupOptions::new(Trigger::Scheduled))) {
            events.push(Event::HealthFailure { job: job.name.clone(), message: e.message().to_string() });
        }
        events
    }

    /// Applies (or previews) `job`'s retention now.
    ///
    /// # Errors
    /// When the destination cannot be listed.
    pub fn prune(&self, job: &Job, dry_run: bool) -> Result<PruneReport> {
        let dest = open_destination(&job.destination)?;
        self.prune_with(job, &job.retention, dest.as_ref(), dry_run)
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
    use crate::clock::SystemClock;
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
        let runner = Runner { history: &history, data: &data, secrets: &MemorySecrets::default(), clock: &SystemClock, observer: &crate::observer::NoopObserver, cancel: &cancel };
        let mut opts = BackupOptions::new(Trigger::Scheduled);
        opts.wait_for_lock = Some(std::time::Duration::from_secs(1));
        opts.skip_if_backed_up_since = Some(now - chrono::Duration::minutes(1));
        let e = runner.backup(job, &opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(e.message().starts_with("Run skipped"), "{e}");
        assert_eq!(history.runs(&crate::history::RunFilter::default()).unwrap().len(), 1);
    }
}
