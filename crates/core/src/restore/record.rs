//! Stage 5, record: the history rows of restores (every run and every
//! refusal), and the report a finished restore returns.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Job;
use crate::history::{NewRun, RunKind, RunOutcome};
use crate::inspect::Inspection;
use crate::model::{RunStatus, Trigger};
use crate::runner::BackupReport;
use crate::trust::Trust;
use crate::{Error, Result};

use super::load::Loaded;
use super::postgres::describe_sessions;
use super::{ms, name_origin, ChecksumStatus, RestoreMode, RestoreOptions, RestorePlan, Restorer, Session};

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

/// What a restore run has done so far (for recording its end).
#[derive(Debug, Default)]
pub(super) struct RestoreState {
    /// Its history row, once started.
    pub(super) run_id: Option<i64>,
    /// The file's sha256, once it was read.
    pub(super) sha256: Option<String>,
}

/// How a restore ended, for its report.
pub(super) struct Done {
    /// What was done.
    pub(super) mode: RestoreMode,
    /// `host:port`.
    pub(super) server: String,
    /// The file as it was loaded.
    pub(super) loaded: Loaded,
    /// The replaced database's new name (replace only).
    pub(super) kept_as: Option<String>,
    /// The safety backup, when one was taken.
    pub(super) safety: Option<BackupReport>,
    /// Sessions ended at the swap, and who they were.
    pub(super) closed: u64,
    /// Who they were (as seen just before).
    pub(super) closed_sessions: Vec<Session>,
}

impl Restorer<'_> {
    /// Starts the restore's history row. The caller holds the job's lock,
    /// so a row of the job still `running` was left by a process that died.
    pub(super) fn start_record(&self, run: &NewRun, state: &mut RestoreState) -> Result<()> {
        self.history.mark_interrupted(
            &run.job,
            self.clock.now(),
            "Interrupted: Nightjar stopped before this run finished (crash, power loss or kill); a later run replaced it.",
        )?;
        state.run_id = Some(self.history.start_run(run)?);
        Ok(())
    }

    /// The report of a restore that finished.
    pub(super) fn report(&self, plan: &RestorePlan, job: &Job, done: Done) -> RestoreReport {
        let name = plan.inspection.name();
        let db = &plan.database;
        let server = &done.server;
        let kept = done.kept_as.clone().unwrap_or_default();
        let mut message = match done.mode {
            RestoreMode::Replace => {
                format!("Restored {name} into \"{db}\" on {server}; the previous \"{db}\" is kept as \"{kept}\" until you drop it.")
            }
            RestoreMode::Create => format!("Restored {name} into the new database \"{db}\" on {server}."),
            RestoreMode::AsNew => format!("Restored {name} into the new database \"{db}\" on {server}; \"{}\" was not touched.", plan.target),
        };
        if done.closed > 0 {
            let who = &done.closed_sessions;
            let whom = if who.is_empty() { String::new() } else { format!(": {}", describe_sessions(who)) };
            message.push_str(&format!(" Closed {} connection{} to \"{db}\" at the swap{whom}.", done.closed, if done.closed == 1 { "" } else { "s" }));
        }
        RestoreReport {
            run_id: 0,
            job: job.name.clone(),
            status: RunStatus::Success,
            file: plan.inspection.path.display().to_string(),
            server: done.server,
            database: db.clone(),
            mode: done.mode,
            kept_as: done.kept_as,
            safety_backup: done.safety.as_ref().map(|s| s.file.clone()),
            safety_backup_run_id: done.safety.as_ref().map(|s| s.run_id),
            closed_connections: done.closed,
            closed_sessions: done.closed_sessions,
            size: done.loaded.streamed.file_bytes,
            data_size: done.loaded.streamed.data_bytes,
            sha256: done.loaded.streamed.sha256,
            checksum: done.loaded.checksum,
            trust: plan.trust.clone(),
            duration_ms: 0,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            message,
        }
    }

    /// Records how a restore ended: finishes its row (or writes a whole
    /// failed row when it failed before the row was started), and names
    /// the `onedrive:` origin instead of the local copy.
    pub(super) fn finish_record(
        &self,
        result: Result<RestoreReport>,
        plan: &RestorePlan,
        opts: &RestoreOptions,
        run: &NewRun,
        state: &RestoreState,
        t0: Instant,
    ) -> Result<RestoreReport> {
        match (result, state.run_id) {
            (Ok(mut report), Some(id)) => {
                report.run_id = id;
                if let Some(o) = &opts.origin {
                    report.file.clone_from(o);
                }
                report.started_at = run.started_at;
                report.finished_at = self.clock.now();
                report.duration_ms = ms(t0.elapsed());
                self.history.finish_run(
                    id,
                    &RunOutcome::success(report.finished_at, report.file.clone(), report.size, report.sha256.clone()),
                )?;
                tracing::info!(job = %run.job, database = %report.database, file = %report.file, "restore finished: {}", report.message);
                Ok(report)
            }
            (Ok(_), None) => unreachable!("a successful restore has a history row"),
            (Err(e), run_id) => {
                let e = name_origin(e, &plan.inspection.path, opts.origin.as_ref());
                let shown = opts.origin.as_ref().map_or_else(|| plan.inspection.path.clone(), PathBuf::from);
                let mut outcome = self.failed_outcome(&e, Some(&shown), Some(plan.inspection.size));
                outcome.sha256.clone_from(&state.sha256);
                let recorded = match run_id {
                    Some(id) => self.history.finish_run(id, &outcome),
                    None => self.history.record_failure(run, &outcome).map(drop),
                };
                if let Err(h) = recorded {
                    tracing::error!(job = %run.job, "could not record the failure in the history: {}", h.detailed());
                }
                tracing::warn!(job = %run.job, "restore failed: {}", e.detailed());
                Err(e)
            }
        }
    }

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
        RunOutcome::failure(e, self.clock.now(), file.map(|f| f.display().to_string()), size)
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
        crate::remote::fetch(self.engine, origin, self.observer, job, self.cancel).inspect_err(|e| {
            let run = self.new_run(kind, job, destination, None, database, started_at);
            self.record_refusal(&run, e, Path::new(origin.trim()), None);
        })
    }
}
