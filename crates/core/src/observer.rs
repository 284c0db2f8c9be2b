//! Progress and lifecycle events pushed from a run to whoever shows them
//! (CLI log lines, the desktop's progress bar). Push model with no-op
//! defaults, like ripgrep's `Sink`: implement only what you display.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::Trigger;

/// The stage a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Checking the destination, locating tools, reading the server version.
    Preparing,
    /// Streaming the dump through compression into the destination.
    Dumping,
    /// Flushing, syncing and renaming the file; writing the manifest.
    Finishing,
    /// Applying retention.
    Pruning,
    /// Restore/verify: checking a backup file (checksum, full decompression, format).
    Validating,
    /// Restore: backing up the database about to be replaced.
    SafetyBackup,
    /// Restore/verify: loading the file into a fresh database.
    Restoring,
    /// Restore: swapping the restored database in for the target.
    Swapping,
    /// Verify: counting the rows of the test restore.
    Checking,
    /// Restore/verify: downloading a backup from a remote destination (OneDrive).
    Downloading,
}

impl Stage {
    /// A short label for UIs.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Stage::Preparing => "preparing",
            Stage::Dumping => "dumping",
            Stage::Finishing => "finishing",
            Stage::Pruning => "pruning old backups",
            Stage::Validating => "checking the file",
            Stage::SafetyBackup => "safety backup",
            Stage::Restoring => "restoring",
            Stage::Swapping => "swapping databases",
            Stage::Checking => "counting rows",
            Stage::Downloading => "downloading",
        }
    }
}

/// A progress sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Current stage.
    pub stage: Stage,
    /// Bytes read from the dump tool so far.
    pub bytes_in: u64,
    /// Bytes written to the destination so far.
    pub bytes_out: u64,
    /// Time since the run started.
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Progress {
    /// Average input rate in bytes per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.bytes_in as f64 / secs } else { 0.0 }
    }
}

/// Receives a run's events. All methods have no-op defaults and must be
/// cheap: they are called on the run's thread.
pub trait RunObserver: Send + Sync {
    /// A new stage began.
    fn stage(&self, _job: &str, _stage: Stage) {}
    /// Periodic progress (a few times per second at most).
    fn progress(&self, _job: &str, _progress: &Progress) {}
    /// A non-fatal problem worth showing (e.g. retention could not delete a file).
    fn warning(&self, _job: &str, _message: &str) {}
    /// A lifecycle event from the scheduler service (runs, staleness,
    /// pause, health); the desktop turns these into notifications.
    fn event(&self, _event: &Event) {}
}

/// What the scheduler service reports. Serialized with an `event` tag
/// (`{"event": "run-failed", "job": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A run began.
    RunStarted {
        /// Job name.
        job: String,
        /// Why.
        trigger: Trigger,
    },
    /// A backup finished and is in place.
    RunFinished {
        /// Job name.
        job: String,
        /// Why it ran.
        trigger: Trigger,
        /// Full path of the file.
        file: String,
        /// Size in bytes.
        size: u64,
        /// Duration.
        duration_ms: u64,
    },
    /// A run failed. `retry_at` is set when it will be retried; when it is
    /// `None` the failure is final and should be reported to the user.
    RunFailed {
        /// Job name.
        job: String,
        /// Why it ran.
        trigger: Trigger,
        /// One sentence.
        message: String,
        /// When the next attempt happens, if any.
        retry_at: Option<DateTime<Utc>>,
    },
    /// A run did not happen; `reason` says why.
    RunSkipped {
        /// Job name.
        job: String,
        /// Why it was due.
        trigger: Trigger,
        /// Why it did not run.
        reason: SkipReason,
        /// One sentence.
        message: String,
    },
    /// The job's newest good backup is older than its deadline.
    JobStale {
        /// Job name.
        job: String,
        /// Newest good backup, if any.
        last_success: Option<DateTime<Utc>>,
        /// The deadline that passed.
        deadline: DateTime<Utc>,
    },
    /// A stale job has a fresh good backup again.
    JobRecovered {
        /// Job name.
        job: String,
    },
    /// Schedules were paused.
    SchedulesPaused {
        /// Automatic resume time, if any.
        resume_at: Option<DateTime<Utc>>,
    },
    /// Schedules run again.
    SchedulesResumed,
    /// Something will likely make the next run fail or is worth attention
    /// (low disk space); the run still happens.
    HealthWarning {
        /// Job name.
        job: String,
        /// One sentence.
        message: String,
    },
    /// A check found a problem that will make the next run fail (tool
    /// missing or too old, server unreachable, folder missing).
    HealthFailure {
        /// Job name.
        job: String,
        /// One sentence.
        message: String,
    },
    /// A backup written into a OneDrive-synced folder has not reached
    /// OneDrive (same size and quickXorHash) within `[onedrive]
    /// cloud_confirm_within`; raised once per backup.
    NotInCloud {
        /// Job name.
        job: String,
        /// The backup file (its local path).
        file: String,
        /// One sentence.
        message: String,
    },
    /// The config file does not load (a schedule, a time zone or another
    /// field it cannot read): the scheduler keeps the settings it had, or
    /// waits when it has none, until the file is fixed. Raised once per
    /// change of the file.
    ConfigInvalid {
        /// One sentence: what is wrong and that the settings in use stay.
        message: String,
    },
    /// The OneDrive sign-in of an `onedrive:` job is missing or expired
    /// (refresh token refused): the user must sign in again.
    OneDriveSignInExpired {
        /// Job name.
        job: String,
        /// The Microsoft account, when known.
        account: Option<String>,
        /// One sentence.
        message: String,
    },
}

/// Why a run was skipped ([`Event::RunSkipped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Another Nightjar process (the desktop app or `nightjar run`, which
    /// share the job's lock) backed the job up for this slot while this
    /// run waited for the lock.
    BackedUpElsewhere,
    /// A manual run found the job busy (another run holds its lock) and
    /// did not wait; the history records it as failed (busy).
    JobBusy,
}

/// Writes `e` to the log (the daemon's log, the CLI's `-v`, the tray's
/// log). Runs' starts and ends are logged by the runner itself.
pub fn log_event(e: &Event) {
    match e {
        Event::RunStarted { .. } | Event::RunFinished { .. } => {}
        Event::RunFailed { job, message, retry_at: Some(at), .. } => tracing::warn!(job, retry_at = %at, "backup failed, will retry: {message}"),
        Event::RunFailed { job, message, retry_at: None, .. } => tracing::error!(job, "backup failed: {message}"),
        Event::RunSkipped { job, message, .. } => tracing::info!(job, "{message}"),
        Event::JobStale { job, last_success, deadline } => {
            let last = last_success.map_or_else(|| "never".to_string(), |t| t.to_rfc3339());
            tracing::error!(job, last_success = %last, deadline = %deadline, "job is stale: no good backup within its deadline");
        }
        Event::JobRecovered { job } => tracing::info!(job, "job has a fresh backup again"),
        Event::SchedulesPaused { resume_at } => tracing::info!(resume_at = ?resume_at, "schedules paused"),
        Event::SchedulesResumed => tracing::info!("schedules resumed"),
        Event::HealthWarning { job, message } => tracing::warn!(job, "health: {message}"),
        Event::HealthFailure { job, message } => tracing::error!(job, "health: {message}"),
        Event::NotInCloud { job, message, .. } => tracing::warn!(job, "{message}"),
        Event::OneDriveSignInExpired { job, message, .. } => tracing::error!(job, "{message}"),
        Event::ConfigInvalid { message } => tracing::error!("{message}"),
    }
}

/// Logs events and warnings ([`log_event`]): `nightjar run`'s observer.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogObserver;

impl RunObserver for LogObserver {
    fn warning(&self, job: &str, message: &str) {
        tracing::warn!(job, "{message}");
    }

    fn event(&self, e: &Event) {
        log_event(e);
    }
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl RunObserver for NoopObserver {}
