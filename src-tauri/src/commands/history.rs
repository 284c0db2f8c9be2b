//! History: runs with filters, statistics, and the row actions (reveal,
//! verify, delete).

use std::path::{Path, PathBuf};

use nightjar_core::clock::SystemClock;
use nightjar_core::history::{JobStats, RunFilter, RunKind, RunRecord};
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_core::restore::{Restorer, VerifyOptions, VerifyReport};
use serde::Deserialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::events::AppObserver;
use crate::models::{CmdResult, ProgressEvent, UiError};
use crate::state::AppState;

/// The History view's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryFilter {
    pub job: Option<String>,
    pub kind: Option<RunKind>,
    pub status: Option<RunStatus>,
    pub trigger: Option<Trigger>,
    pub limit: Option<usize>,
}

/// Runs, newest first.
#[tauri::command]
pub async fn history_list(state: State<'_, AppState>, filter: HistoryFilter) -> CmdResult<Vec<RunRecord>> {
    let f = RunFilter {
        job: filter.job.filter(|j| !j.is_empty()),
        kind: filter.kind,
        status: filter.status,
        trigger: filter.trigger,
        limit: Some(filter.limit.unwrap_or(500).min(5000)),
        ..RunFilter::default()
    };
    Ok(state.history.runs(&f)?)
}

/// Per-job statistics (count, total size, oldest and newest, successes and failures).
#[tauri::command]
pub async fn history_stats(state: State<'_, AppState>) -> CmdResult<Vec<JobStats>> {
    Ok(state.history.stats(None)?)
}

fn local_file(record: &RunRecord) -> CmdResult<PathBuf> {
    let file = record.file.as_deref().ok_or_else(|| UiError::new("This run left no file."))?;
    if file.starts_with("onedrive:") {
        return Err(UiError::new("This backup is in OneDrive; open it from onedrive.com."));
    }
    Ok(PathBuf::from(file))
}

fn record(state: &AppState, id: i64) -> CmdResult<RunRecord> {
    state.history.get(id)?.ok_or_else(|| UiError::new("This run is no longer in the history; reload the view."))
}

/// Shows the backup file in the file manager.
#[tauri::command]
pub fn reveal_file<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, id: i64) -> CmdResult<()> {
    let file = local_file(&record(&state, id)?)?;
    if !file.exists() {
        return Err(UiError::new(format!("{} no longer exists (deleted by retention or by hand).", file.display())));
    }
    #[cfg(not(test))]
    {
        use tauri_plugin_opener::OpenerExt as _;
        app.opener().reveal_item_in_dir(&file).map_err(|e| UiError::new(format!("The file manager could not be opened ({e}).")))?;
    }
    #[cfg(test)]
    let _ = app;
    Ok(())
}

/// Checks a backup file (decompression, format, checksum against its manifest).
#[tauri::command]
pub async fn verify_backup<R: Runtime>(app: AppHandle<R>, id: i64, on_progress: Channel<ProgressEvent>) -> CmdResult<VerifyReport> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let rec = record(&state, id)?;
        let file = local_file(&rec)?;
        let observer = AppObserver::new(app.clone(), Some(on_progress));
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let restorer = Restorer { history: &state.history, data: &state.data, secrets: state.secrets.as_ref(), clock: &SystemClock, observer: &observer, cancel: &cancel };
        let report = restorer.verify(&file, &VerifyOptions::default())?;
        crate::events::refresh(&app);
        Ok(report)
    })
    .await
}

fn remove_if_exists(p: &Path) -> CmdResult<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(UiError::new(format!("{} could not be deleted ({e}).", p.display()))),
    }
}

/// Deletes a backup file (and its manifest) and its history row. Only files
/// this history knows as Nightjar backups are touched.
#[tauri::command]
pub fn delete_backup<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, id: i64) -> CmdResult<()> {
    let rec = record(&state, id)?;
    if rec.kind == RunKind::Backup && rec.status == RunStatus::Success {
        let file = local_file(&rec)?;
        remove_if_exists(&file)?;
        remove_if_exists(&nightjar_core::inspect::manifest_path(&file))?;
        tracing::info!(job = %rec.job, file = %file.display(), "backup deleted from the History view");
    }
    state.history.delete(id)?;
    crate::events::refresh(&app);
    Ok(())
}
