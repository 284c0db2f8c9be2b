//! Dashboard: job cards, "Backup now" with live progress, cancel, pause.

use chrono::Utc;
use nightjar_core::config::Job;
use nightjar_core::state::StateFile;
use nightjar_desktop_shared::proto::Op;
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::Link;
use crate::models::{CmdResult, JobCard, Overview};
use crate::state::AppState;

/// The dump tool and destination problems of `job` (cheap: tool lookup is
/// cached by the core, the folder check is a stat and a statvfs).
fn health(job: &Job) -> Vec<String> {
    let tool = nightjar_core::status::tool_health(job).problem;
    // Each destination: a folder that is gone or a disk nearly full (remote ones are checked when a run starts).
    let dest = job.destinations.iter().filter_map(|d| nightjar_core::status::destination_health(d).problem);
    tool.into_iter().chain(dest).collect()
}

/// The Dashboard's data.
#[tauri::command]
pub async fn overview<R: Runtime>(app: AppHandle<R>) -> CmdResult<Overview> {
    // On a blocking thread: the tool lookup may start `pg_dump --version`.
    crate::commands::blocking(move || {
        // What runs now is known to the tray process; without it (tests) nothing runs.
        let running: Vec<String> = app.state::<Link>().call_as(Op::Running).unwrap_or_default();
        overview_now(&app.state::<AppState>(), &running)
    })
    .await
}

fn overview_now(state: &AppState, running: &[String]) -> CmdResult<Overview> {
    let now = Utc::now();
    let paused = StateFile::in_dir(state.data.root()).load();
    let (jobs, config_error) = match state.load_config() {
        Ok(c) => {
            let cards: CmdResult<Vec<JobCard>> = c
                .jobs
                .iter()
                .map(|j| {
                    let mut card = crate::summary::job_card(&state.history, j, now, running.contains(&j.name))?;
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

/// Per job, the last runs as bars and the last days as a strip of slots (the Dashboard's charts).
#[tauri::command]
pub async fn job_charts<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<nightjar_core::charts::JobChart>> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let paused = StateFile::in_dir(state.data.root()).load().is_paused(Utc::now());
        let config = state.load_config()?;
        let clock = nightjar_core::clock::SystemClock;
        Ok(config.jobs.iter().map(|j| nightjar_core::charts::job_chart(&state.history, j, paused, &clock)).collect::<nightjar_core::Result<Vec<_>>>()?)
    })
    .await
}

/// "Backup now" from the page: one job or all, progress through `on_progress`.
/// The tray process runs it, so closing the window does not stop it.
#[tauri::command]
pub async fn backup_now(link: State<'_, Link>, job: Option<String>, on_progress: Channel<Value>) -> CmdResult<Value> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call(Op::Backup { job }, Some(on_progress))).await
}

/// Stops the running backup of `job` (nothing is left under a final name).
#[tauri::command]
pub async fn cancel_run(link: State<'_, Link>, job: String) -> CmdResult<bool> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call_as(Op::Cancel { job })).await
}

/// Pauses or resumes all schedules (shared with `nightjar run` through the state file).
#[tauri::command]
pub async fn set_paused(link: State<'_, Link>, paused: bool) -> CmdResult<()> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call(Op::Paused { paused }, None).map(drop)).await
}
