//! History: runs with filters, statistics, and the row actions (reveal,
//! verify, delete).

use nightjar_core::ErrorKind;
use nightjar_core::history::{JobStats, RunFilter, RunKind, RunRecord};
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_desktop_shared::lookup::{backup_address, local_file, record};
use nightjar_desktop_shared::proto::Op;
use serde::Deserialize;
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::Link;
use crate::models::{CmdResult, UiError};
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

/// Shows the backup file in the file manager.
#[tauri::command]
pub fn reveal_file<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, id: i64) -> CmdResult<()> {
    let file = local_file(&record(&state, id)?)?;
    if !file.exists() {
        return Err(UiError::new(ErrorKind::NotFound, format!("{} no longer exists (deleted by retention or by hand).", file.display())));
    }
    #[cfg(not(test))]
    {
        use tauri_plugin_opener::OpenerExt as _;
        app.opener().reveal_item_in_dir(&file).map_err(|e| UiError::new(ErrorKind::Other, format!("The file manager could not be opened ({e}).")))?;
    }
    #[cfg(test)]
    let _ = app;
    Ok(())
}

/// Checks a backup file (decompression, format, checksum against its manifest);
/// the tray process does it and marks the row.
#[tauri::command]
pub async fn verify_backup(link: State<'_, Link>, id: i64, on_progress: Channel<Value>) -> CmdResult<Value> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call(Op::Verify { run: id }, Some(on_progress))).await
}

/// Deletes a backup file (and its manifest), in a folder or in OneDrive,
/// and its history row. Only files this history knows as Nightjar backups
/// are touched.
#[tauri::command]
pub async fn delete_backup<R: Runtime>(app: AppHandle<R>, link: State<'_, Link>, id: i64) -> CmdResult<()> {
    let link = link.inner().clone();
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let rec = record(&state, id)?;
        if rec.kind == RunKind::Backup && rec.status == RunStatus::Success {
            let address = backup_address(&rec)?;
            state.engine.configure(&state.load_config()?);
            state.engine.delete_backup(address)?;
            tracing::info!(job = %rec.job, file = %address, "backup deleted from the History view");
        }
        state.history.delete(id)?;
        link.changed();
        Ok(())
    })
    .await
}
