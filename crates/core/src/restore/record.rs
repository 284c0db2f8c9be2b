//! Stage 5, record: the history rows of restores (every run and every
//! refusal), and the report a finished restore returns.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::history::{NewRun, RunKind, RunOutcome};
use crate::inspect::Inspection;
use crate::model::{RunStatus, Trigger};
use crate::trust::Trust;
use crate::{Error, ErrorKind, Result};

use super::{ChecksumStatus, RestoreMode, Restorer, Session};

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

impl Restorer<'_> {
    pub(super) fn new_run(&self, kind: RunKind, job: &str, destination: String, insp: Option<&Inspection>, database: Option<String>, started_at: DateTime<Utc>) -> NewRun {
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

    pub(super) fn failed_outcome(&self, e: &Error, file: Option<&Path>, size: Option<u64>) -> RunOutcome {
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

    pub(super) fn record_refusal(&self, run: &NewRun, e: &Error, file: &Path, size: Option<u64>) {
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
        crate::remote::fetch(origin, self.data, self.observer, job, self.cancel).inspect_err(|e| {
            let run = self.new_run(kind, job, destination, None, database, started_at);
            self.record_refusal(&run, e, Path::new(origin.trim()), None);
        })
    }
}
