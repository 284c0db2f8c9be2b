//! The runs the tray process does for the tray menu and the window: "Backup
//! now", a confirmed restore, a backup check. They run here, not in the
//! window, so closing the window never stops one halfway.

use std::sync::Arc;

use nightjar_core::ErrorKind;
use nightjar_core::config::Job;
use nightjar_core::model::Trigger;
use nightjar_core::restore::{RestoreReport, VerifyOptions, VerifyReport};
use nightjar_core::runner::BackupOptions;

use crate::host::{Host, HostObserver};
use crate::lookup::{backup_address, options, prepare, record};
use crate::models::{BackupOutcome, CmdResult, ProgressEvent, RestoreRequest, UiError};

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
        observer.send(ProgressEvent::Failed { job: job.name.clone(), message: message.clone(), code: ErrorKind::Busy });
        return BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), code: Some(ErrorKind::Busy) };
    };
    let mut opts = BackupOptions::new(Trigger::Manual);
    // Rides out a moment's hold (the scheduler checking the job at start);
    // a backup in progress elsewhere still answers "busy".
    opts.wait_for_lock = Some(MANUAL_LOCK_WAIT);
    let result = state.engine.runner(observer, &cancel).and_then(|runner| runner.backup(job, &opts));
    host.end_run(&job.name);
    match result {
        // The runner told the observer (notifications, the tray) how it went;
        // the page gets the outcome. Its duration is the history's.
        Ok(r) => {
            observer.send(ProgressEvent::Finished { job: r.job.clone(), file: r.file.clone(), name: r.name.clone(), size: r.size, duration_ms: r.duration_ms });
            BackupOutcome { job: r.job, ok: true, file: Some(r.file), name: Some(r.name), size: Some(r.size), duration_ms: Some(r.duration_ms), error: None, code: None }
        }
        Err(e) => {
            let busy = e.kind() == ErrorKind::Busy;
            let message = if busy {
                tracing::warn!(job = %job.name, "backup skipped: another Nightjar process (the scheduler or `nightjar run`) holds the job: {}", e.message());
                format!("Another Nightjar process (such as `nightjar run`) is backing up \"{}\" right now; try again when it finishes.", job.name)
            } else {
                e.message().to_string()
            };
            observer.send(ProgressEvent::Failed { job: job.name.clone(), message: message.clone(), code: e.kind() });
            BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), code: Some(e.kind()) }
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
        return Err(UiError::new(ErrorKind::Config, "There are no backup jobs yet; add one in Settings."));
    }
    Ok(jobs.into_iter().map(|j| backup_one(host, j, observer)).collect())
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
        return Err(UiError::new(ErrorKind::NeedsConfirmation, format!("Type the database name \"{}\" exactly to confirm.", plan.database)).at("confirm"));
    }
    let Some(cancel) = state.begin_run(&job.name) else {
        return Err(UiError::new(ErrorKind::Busy, format!("A backup or restore of \"{}\" is running in Nightjar; wait for it to finish.", job.name)));
    };
    tracing::info!(job = %job.name, file = %plan.file.display(), database = %plan.database, "restore confirmed in the window");
    let result = state.engine.restorer(observer, &cancel).and_then(|restorer| restorer.restore_from(&plan, &backup, &job, &options(req)));
    host.end_run(&job.name);
    result.map_err(|e| {
        let lang = host.lang();
        host.notify(&crate::i18n::t(lang, "notify.restore_failed", &[("job", &job.name)]), e.message(), "restore", crate::notify::Level::Failure);
        e.into()
    })
}

/// Checks a backup from the history (decompression, format, checksum
/// against its manifest), in a folder, OneDrive or S3 (a remote one is
/// downloaded first, with progress); with `test_restore`, also restored
/// into a scratch database on its job's server and dropped again (as
/// `nightjar verify --restore-test --job NAME`).
///
/// # Errors
/// The row or file is gone, the job is no longer configured (test
/// restore), or the check failed.
pub fn verify(host: &Arc<Host>, id: i64, test_restore: bool, observer: &HostObserver) -> CmdResult<VerifyReport> {
    let state = &host.state;
    let record = record(state, id)?;
    let address = backup_address(&record)?;
    let config = state.load_config()?;
    state.engine.configure(&config);
    let mut opts = VerifyOptions::default();
    if test_restore {
        let Some(job) = config.jobs.iter().find(|j| j.name == record.job) else {
            return Err(UiError::new(
                ErrorKind::Config,
                format!("The job \"{}\" is no longer in the settings, so there is no server to test-restore on; use Verify for a check without it.", record.job),
            ));
        };
        opts.restore_test = Some(job.clone());
    }
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let report = state.engine.restorer(observer, &cancel).and_then(|restorer| restorer.verify_address(address, &opts));
    host.refresh();
    Ok(report?)
}
