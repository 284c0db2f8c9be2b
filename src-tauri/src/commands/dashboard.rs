//! Dashboard: job cards, "Backup now" with live progress, cancel, pause.

use chrono::Utc;
use nightjar_core::clock::SystemClock;
use nightjar_core::config::Job;
use nightjar_core::model::Trigger;
use nightjar_core::observer::{Event, RunObserver as _};
use nightjar_core::runner::{BackupOptions, Runner};
use nightjar_core::state::{ScheduleState, StateFile};
use nightjar_core::ErrorKind;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::events::AppObserver;
use crate::models::{BackupOutcome, CmdResult, JobCard, Overview, ProgressEvent, UiError};
use crate::state::AppState;

/// The dump tool and destination problems of `job` (cheap: tool lookup is
/// cached by the core, the folder check is a stat and a statvfs).
fn health(job: &Job) -> Vec<String> {
    let tool = nightjar_core::status::tool_health(job).problem;
    let dest = match &job.destination {
        nightjar_core::config::DestinationSpec::Folder(_) => nightjar_core::status::destination_health(&job.destination).problem,
        nightjar_core::config::DestinationSpec::OneDrive(_) => None,
    };
    tool.into_iter().chain(dest).collect()
}

/// The Dashboard's data.
#[tauri::command]
pub async fn overview<R: Runtime>(app: AppHandle<R>) -> CmdResult<Overview> {
    // On a blocking thread: the tool lookup may start `pg_dump --version`.
    crate::commands::blocking(move || overview_now(&app.state::<AppState>())).await
}

fn overview_now(state: &AppState) -> CmdResult<Overview> {
    let now = Utc::now();
    let paused = StateFile::in_dir(state.data.root()).load();
    let (jobs, config_error) = match state.load_config() {
        Ok(c) => {
            let cards: CmdResult<Vec<JobCard>> = c
                .jobs
                .iter()
                .map(|j| {
                    let mut card = crate::summary::job_card(&state.history, j, now, state.is_running(&j.name))?;
                    card.health = health(j);
                    Ok(card)
                })
                .collect();
            (cards?, None)
        }
        Err(e) => (Vec::new(), Some(e.message().to_string())),
    };
    let onedrive_folders = if jobs.is_empty() { crate::commands::settings::onedrive_folders() } else { Vec::new() };
    Ok(Overview {
        jobs,
        paused: paused.is_paused(now),
        resume_at: paused.resume_at.map(|t| t.to_rfc3339()),
        config_path: state.config_path.display().to_string(),
        onedrive_folders,
        config_error,
        data_dir: state.data.root().display().to_string(),
    })
}

/// Backs one job up through the core runner (the same path as the tray and
/// `nightjar backup`), reporting to `observer`. Recorded in the history as manual.
fn backup_one<R: Runtime>(app: &AppHandle<R>, job: &Job, observer: &AppObserver<R>) -> BackupOutcome {
    let state = app.state::<AppState>();
    observer.send(ProgressEvent::Started { job: job.name.clone() });
    let own_schedule = state.scheduled.lock().expect("scheduled lock").as_deref() == Some(job.name.as_str());
    let cancel = if own_schedule { None } else { state.begin_run(&job.name) };
    let Some(cancel) = cancel else {
        let message = format!("A backup of \"{}\" is already running in Nightjar; wait for it to finish, its result shows here.", job.name);
        tracing::warn!(job = %job.name, "backup skipped: this app is already backing the job up");
        observer.send(ProgressEvent::Failed { job: job.name.clone(), message: message.clone(), busy: true });
        return BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), busy: true };
    };
    observer.event(&Event::RunStarted { job: job.name.clone(), trigger: Trigger::Manual });
    let runner = Runner { history: &state.history, data: &state.data, secrets: state.secrets.as_ref(), clock: &SystemClock, observer, cancel: &cancel };
    let result = runner.backup(job, &BackupOptions::new(Trigger::Manual));
    state.end_run(&job.name);
    match result {
        Ok(mut r) => {
            // The History shows the recorded duration: the page and the
            // notification say the same.
            if let Some(ms) = state.history.get(r.run_id).ok().flatten().and_then(|rec| rec.duration_ms) {
                r.duration_ms = ms;
            }
            let event = Event::RunFinished { job: r.job.clone(), trigger: Trigger::Manual, file: r.file.clone(), size: r.size, duration_ms: r.duration_ms };
            observer.send(ProgressEvent::Finished { job: r.job.clone(), file: r.file.clone(), name: r.name.clone(), size: r.size, duration_ms: r.duration_ms });
            observer.event(&event);
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
            if !busy {
                observer.event(&Event::RunFailed { job: job.name.clone(), trigger: Trigger::Manual, message: message.clone(), retry_at: None });
            } else {
                crate::events::refresh(app);
            }
            BackupOutcome { job: job.name.clone(), ok: false, file: None, name: None, size: None, duration_ms: None, error: Some(message), busy }
        }
    }
}

/// Backs up `job`, or every job when `None`, one after another.
pub fn backup_jobs<R: Runtime>(app: &AppHandle<R>, job: Option<&str>, channel: Option<Channel<ProgressEvent>>) -> CmdResult<Vec<BackupOutcome>> {
    let config = app.state::<AppState>().load_config()?;
    let jobs: Vec<&Job> = match job {
        Some(name) => vec![config.job(name)?],
        None => config.jobs.iter().collect(),
    };
    if jobs.is_empty() {
        return Err(UiError::new("There are no backup jobs yet; add one in Settings."));
    }
    let observer = AppObserver::new(app.clone(), channel);
    Ok(jobs.into_iter().map(|j| backup_one(app, j, &observer)).collect())
}

/// "Backup now" from the page: one job or all, progress through `on_progress`.
#[tauri::command]
pub async fn backup_now<R: Runtime>(app: AppHandle<R>, job: Option<String>, on_progress: Channel<ProgressEvent>) -> CmdResult<Vec<BackupOutcome>> {
    crate::commands::blocking(move || backup_jobs(&app, job.as_deref(), Some(on_progress))).await
}

#[cfg_attr(test, allow(dead_code))] // called from the tray
/// "Backup now" from the tray: runs in the background; the page follows
/// through global events.
pub fn spawn_backup<R: Runtime>(app: &AppHandle<R>, job: Option<String>) {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = backup_jobs(&app, job.as_deref(), None) {
            tracing::error!("backup from the tray: {e}");
            crate::notify::send(&app, "Backup failed", &e.message, "settings", crate::notify::Level::Failure);
        }
    });
}

/// Stops the running backup of `job` (nothing is left under a final name).
#[tauri::command]
pub fn cancel_run(state: State<'_, AppState>, job: String) -> bool {
    state.cancel_run(&job)
}

pub fn set_paused_inner<R: Runtime>(app: &AppHandle<R>, paused: bool) -> CmdResult<()> {
    let state = app.state::<AppState>();
    StateFile::in_dir(state.data.root()).save(&ScheduleState { paused, resume_at: None })?;
    // The scheduler reads the file on its next check; wake it now.
    state.control.wake.store(true, std::sync::atomic::Ordering::SeqCst);
    tracing::info!(paused, "schedules {} from the app", if paused { "paused" } else { "resumed" });
    crate::events::refresh(app);
    Ok(())
}

/// Pauses or resumes all schedules (shared with `nightjar run` through the state file).
#[tauri::command]
pub fn set_paused<R: Runtime>(app: AppHandle<R>, paused: bool) -> CmdResult<()> {
    set_paused_inner(&app, paused)
}
