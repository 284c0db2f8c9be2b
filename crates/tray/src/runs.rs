//! The runs the tray process does for the tray menu and the window: "Backup
//! now", a confirmed restore, a backup check. They run here, not in the
//! window, so closing the window never stops one halfway.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nightjar_core::ErrorKind;
use nightjar_core::config::{Config, Job};
use nightjar_core::model::Trigger;
use nightjar_core::observer::RunObserver;
use nightjar_core::backups::BackupFile;
use nightjar_core::restore::{RestoreOptions, RestorePlan, RestoreReport, VerifyOptions, VerifyReport};
use nightjar_core::runner::BackupOptions;
use serde::{Deserialize, Serialize};

use crate::host::{Host, HostObserver};
use crate::models::{BackupOutcome, CmdResult, ProgressEvent, UiError};
use crate::state::AppState;

/// What the Restore view submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    /// The backup file.
    pub file: String,
    /// The job whose database is the target; default: the job that made the file.
    pub job: Option<String>,
    /// Restore into this new database instead of replacing.
    pub as_new: Option<String>,
    /// Back the current database up first.
    pub safety_backup: bool,
    /// "I trust this file": restore a file this Nightjar did not make.
    #[serde(default)]
    pub trust_file: bool,
}

/// How long "Backup now" waits for a job's lock before saying it is busy.
const MANUAL_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Backs one job up through the core runner (the same path as the
/// scheduler and `nightjar backup`). Recorded in the history as manual.
fn backup_one(host: &Arc<Host>, job: &Job, observer: &HostObserver) -> BackupOutcome {
    let state = &host.state;
    observer.send(ProgressEvent::Started { job: job.name.clone() });
    let own_schedule = state.scheduled.lock().expect("scheduled lock").as_deref() == Some(job.name.as_str());
    let cancel = if own_schedule { None } else { state.begin_run(&job.name) };
    let Some(cancel) = cancel else {
        let message = format!("A backup of \"{}\" is already running in Nightjar; wait for it to finish, its result shows here.", job.name);
        tracing::warn!(job = %job.name, "backup skipped: this app is already backing the job up");
        observer.send(ProgressEvent::Failed { job: job.name.clone(), message: message.clone(), busy: true });
        return BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), busy: true };
    };
    let mut opts = BackupOptions::new(Trigger::Manual);
    // Rides out a moment's hold (the scheduler checking the job at start);
    // a backup in progress elsewhere still answers "busy".
    opts.wait_for_lock = Some(MANUAL_LOCK_WAIT);
    let result = state.engine.runner(observer, &cancel).and_then(|runner| runner.backup(job, &opts));
    state.end_run(&job.name);
    match result {
        // The runner told the observer (notifications, the tray) how it went;
        // the page gets the outcome. Its duration is the history's.
        Ok(r) => {
            observer.send(ProgressEvent::Finished { job: r.job.clone(), file: r.file.clone(), name: r.name.clone(), size: r.size, duration_ms: r.duration_ms });
            BackupOutcome { job: r.job, ok: true, file: Some(r.file), name: Some(r.name), size: Some(r.size), duration_ms: Some(r.duration_ms), error: None, busy: false }
        }
        Err(e) => {
            let busy = e.kind() == ErrorKind::Busy;
            let message = if busy {
                tracing::warn!(job = %job.name, "backup skipped: another Nightjar process (the scheduler or `nightjar run`) holds the job: {}", e.message());
                format!("Another Nightjar process (such as `nightjar run`) is backing up \"{}\" right now; try again when it finishes.", job.name)
            } else {
                e.message().to_string()
            };
            observer.send(ProgressEvent::Failed { job: job.name.clone(), message: message.clone(), busy });
            if busy {
                host.refresh();
            }
            BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), busy }
        }
    }
}

/// Backs up `job`, or every job when `None`, one after another.
///
/// # Errors
/// When the config does not load, the job does not exist or there are no jobs.
pub fn backup_jobs(host: &Arc<Host>, job: Option<&str>, observer: &HostObserver) -> CmdResult<Vec<BackupOutcome>> {
    let config = host.state.load_config()?;
    let jobs = config.select(job, false)?;
    if jobs.is_empty() {
        return Err(UiError::new("There are no backup jobs yet; add one in Settings."));
    }
    Ok(jobs.into_iter().map(|j| backup_one(host, j, observer)).collect())
}

/// The job a restore of `file` goes to: the one asked for, else the one
/// named by the file's manifest or history row, else the only job.
fn target_job<'c>(state: &AppState, config: &'c Config, file: &Path, asked: Option<&str>) -> CmdResult<&'c Job> {
    if let Some(name) = asked.filter(|n| !n.is_empty()) {
        return Ok(config.job(name)?);
    }
    let from_manifest = nightjar_core::inspect::inspect(file).ok().and_then(|i| i.manifest).map(|m| m.job);
    let from_history = || state.history.find_backup_by_file(&file.display().to_string()).ok().flatten().map(|r| r.job);
    if let Some(job) = from_manifest.or_else(from_history).and_then(|n| config.jobs.iter().find(|j| j.name == n)) {
        return Ok(job);
    }
    match config.jobs.as_slice() {
        [only] => Ok(only),
        [] => Err(UiError::new("There are no jobs yet: add the database in Settings first, then restore into it.")),
        _ => Err(UiError { message: "Choose the job whose database this backup goes into.".into(), field: Some("job".into()) }),
    }
}

/// The core's restore options for a request.
#[must_use]
pub fn options(req: &RestoreRequest) -> RestoreOptions {
    RestoreOptions {
        as_new: req.as_new.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        safety_backup: req.safety_backup,
        trust_file: req.trust_file,
        ..RestoreOptions::default()
    }
}

/// What a restore of the request would do (probes the server; changes
/// nothing). A backup in OneDrive is downloaded first; keep the returned
/// file until the restore has run.
///
/// # Errors
/// No file, no job to restore into, or a file or server the core refuses.
pub fn prepare(state: &AppState, req: &RestoreRequest, observer: &dyn RunObserver) -> CmdResult<(RestorePlan, Job, BackupFile)> {
    let config = state.load_config()?;
    state.engine.configure(&config);
    let file = PathBuf::from(req.file.trim());
    if req.file.trim().is_empty() {
        return Err(UiError { message: "Choose a backup file first.".into(), field: Some("file".into()) });
    }
    let job = target_job(state, &config, &file, req.job.as_deref())?.clone();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let restorer = state.engine.restorer(observer, &cancel)?;
    let (plan, backup) = restorer.plan_from(req.file.trim(), &job, &options(req))?;
    Ok((plan, job, backup))
}

/// Runs a confirmed restore. `confirm` must be the name of the database
/// that will be replaced or created.
///
/// # Errors
/// A wrong confirmation, a job that is busy, or the restore's own error
/// (also sent as a notification).
pub fn restore(host: &Arc<Host>, req: &RestoreRequest, confirm: &str, observer: &HostObserver) -> CmdResult<RestoreReport> {
    let state = &host.state;
    let (plan, job, backup) = prepare(state, req, observer)?;
    if confirm.trim() != plan.database {
        return Err(UiError { message: format!("Type the database name \"{}\" exactly to confirm.", plan.database), field: Some("confirm".into()) });
    }
    let Some(cancel) = state.begin_run(&job.name) else {
        return Err(UiError::new(format!("A backup or restore of \"{}\" is running in Nightjar; wait for it to finish.", job.name)));
    };
    tracing::info!(job = %job.name, file = %plan.file.display(), database = %plan.database, "restore confirmed in the window");
    let result = state.engine.restorer(observer, &cancel).and_then(|restorer| restorer.restore_from(&plan, &backup, &job, &options(req)));
    state.end_run(&job.name);
    host.refresh();
    result.map_err(|e| {
        host.notify(&format!("Restore failed: {}", job.name), e.message(), "restore", crate::notify::Level::Failure);
        e.into()
    })
}

/// The local file of a history row's backup.
///
/// # Errors
/// The run left no file, or the file is in OneDrive.
pub fn local_file(record: &nightjar_core::history::RunRecord) -> CmdResult<PathBuf> {
    let file = record.file.as_deref().ok_or_else(|| UiError::new("This run left no file."))?;
    if file.starts_with("onedrive:") {
        return Err(UiError::new("This backup is in OneDrive; open it from onedrive.com."));
    }
    Ok(PathBuf::from(file))
}

/// A history row by id.
///
/// # Errors
/// The row is gone.
pub fn record(state: &AppState, id: i64) -> CmdResult<nightjar_core::history::RunRecord> {
    state.history.get(id)?.ok_or_else(|| UiError::new("This run is no longer in the history; reload the view."))
}

/// The backup address (a path or `onedrive:/…`) of a history row.
///
/// # Errors
/// The run left no file.
pub fn backup_address(record: &nightjar_core::history::RunRecord) -> CmdResult<&str> {
    record.file.as_deref().ok_or_else(|| UiError::new("This run left no file."))
}

/// Checks a backup from the history (decompression, format, checksum
/// against its manifest), in a folder or in OneDrive.
///
/// # Errors
/// The row or file is gone, or the check failed.
pub fn verify(host: &Arc<Host>, id: i64, observer: &HostObserver) -> CmdResult<VerifyReport> {
    let state = &host.state;
    let record = record(state, id)?;
    let address = backup_address(&record)?;
    state.engine.configure(&state.load_config()?);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let report = state.engine.restorer(observer, &cancel).and_then(|restorer| restorer.verify_address(address, &VerifyOptions::default()));
    host.refresh();
    Ok(report?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_box_reaches_the_restore_and_is_off_unless_sent() {
        let ticked: RestoreRequest = serde_json::from_str(r#"{"file":"/b/x.sql.zst","job":null,"asNew":null,"safetyBackup":true,"trustFile":true}"#).unwrap();
        assert!(options(&ticked).trust_file);
        let plain: RestoreRequest = serde_json::from_str(r#"{"file":"/b/x.sql.zst","job":null,"asNew":null,"safetyBackup":true}"#).unwrap();
        assert!(!options(&plain).trust_file, "a request without the box never trusts a file");
    }
}
