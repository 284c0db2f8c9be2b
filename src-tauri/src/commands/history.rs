//! History: runs with filters, statistics, and the row actions (reveal,
//! verify with or without a test restore, save a copy, delete) for backups
//! in a folder, OneDrive or S3 alike.

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

/// "Reveal": a backup in a folder is shown in the file manager; one in
/// OneDrive opens its page on the OneDrive website (the item's `webUrl`),
/// whose address is returned. A backup in S3 has neither: said so.
#[tauri::command]
pub async fn reveal_file<R: Runtime>(app: AppHandle<R>, id: i64) -> CmdResult<Option<String>> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let rec = record(&state, id)?;
        let address = backup_address(&rec)?;
        if address.trim_start().starts_with("onedrive:") {
            let url = onedrive_page(&state, address)?;
            open_url(&app, &url)?;
            return Ok(Some(url));
        }
        let file = local_file(&rec)?;
        if !file.exists() {
            return Err(UiError::new(ErrorKind::NotFound, format!("{} no longer exists (deleted by retention or by hand).", file.display())));
        }
        #[cfg(not(test))]
        {
            use tauri_plugin_opener::OpenerExt as _;
            app.opener().reveal_item_in_dir(&file).map_err(|e| UiError::new(ErrorKind::Other, format!("The file manager could not be opened ({e}).")))?;
        }
        Ok(None)
    })
    .await
}

/// The OneDrive website's page of the backup at `address` (`onedrive:/folder/file`).
fn onedrive_page(state: &AppState, address: &str) -> CmdResult<String> {
    let (_, name) = nightjar_core::remote::split(address)?;
    let path = address.trim().trim_start_matches("onedrive:").trim_matches('/').to_string();
    let settings = state.load_config()?.raw.onedrive;
    let graph = nightjar_onedrive::graph::Graph::new(nightjar_onedrive::GraphConfig::from_settings(&settings), state.secrets.clone())?;
    let item = graph
        .item(&path)?
        .ok_or_else(|| UiError::new(ErrorKind::NotFound, format!("{name} is no longer in OneDrive (deleted by retention or by hand); reload the view.")))?;
    item.web_url
        .filter(|u| u.starts_with("https://"))
        .ok_or_else(|| UiError::new(ErrorKind::Destination, format!("OneDrive gives no web page for {name}; use Save a copy… to get it here.")))
}

/// Opens `url` in the browser.
fn open_url<R: Runtime>(app: &AppHandle<R>, url: &str) -> CmdResult<()> {
    #[cfg(not(test))]
    {
        use tauri_plugin_opener::OpenerExt as _;
        app.opener().open_url(url, None::<&str>).map_err(|e| UiError::new(ErrorKind::Other, format!("The browser could not be opened ({e}); open {url} by hand.")))?;
    }
    #[cfg(test)]
    let _ = (app, url);
    Ok(())
}

/// Checks a backup (decompression, format, checksum against its manifest),
/// downloading a remote one first; with `test_restore`, also restores it
/// into a scratch database on its job's server and drops it again. The
/// tray process does it and marks the row.
#[tauri::command]
pub async fn verify_backup(link: State<'_, Link>, id: i64, test_restore: Option<bool>, on_progress: Channel<Value>) -> CmdResult<Value> {
    let link = link.inner().clone();
    let test_restore = test_restore.unwrap_or(false);
    crate::commands::blocking(move || link.call(Op::Verify { run: id, test_restore }, Some(on_progress))).await
}

/// Deletes a backup file (and its manifest), in a folder, OneDrive or S3,
/// and its history row. Only files this history knows as Nightjar backups
/// are touched. A job's newest good backup is refused
/// (`needs-confirmation`) unless `force` (the user's "Delete anyway"), as
/// `nightjar delete` without and with `--force`.
#[tauri::command]
pub async fn delete_backup<R: Runtime>(app: AppHandle<R>, link: State<'_, Link>, id: i64, force: Option<bool>) -> CmdResult<()> {
    let link = link.inner().clone();
    let force = force.unwrap_or(false);
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let rec = record(&state, id)?;
        if rec.kind == RunKind::Backup && rec.status == RunStatus::Success {
            let address = backup_address(&rec)?;
            state.engine.configure(&state.load_config()?);
            if !force && let Some(job) = state.engine.newest_good_of(address)? {
                return Err(UiError::new(
                    ErrorKind::NeedsConfirmation,
                    format!("This is the newest good backup of \"{job}\"; without it the last restorable state is older. Nothing was deleted."),
                ));
            }
            state.engine.delete_backup(address)?;
            tracing::info!(job = %rec.job, file = %address, force, "backup deleted from the History view");
        }
        state.history.delete(id)?;
        link.changed();
        Ok(())
    })
    .await
}

/// "Save a copy…": a save dialog, then the backup (from any destination)
/// downloaded there with its manifest beside it, size and sha256 checked
/// on arrival; never overwrites, a partial copy is removed on failure
/// (the core's [`nightjar_core::Engine::download_backup`], as `nightjar
/// download`). `None` when the dialog was cancelled.
#[tauri::command]
pub async fn save_copy<R: Runtime>(app: AppHandle<R>, id: i64) -> CmdResult<Option<nightjar_core::backups::Download>> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let rec = record(&state, id)?;
        if rec.kind != RunKind::Backup || rec.status != RunStatus::Success {
            return Err(UiError::new(ErrorKind::NotFound, "This run left no backup to save."));
        }
        let address = backup_address(&rec)?.to_string();
        let name = address.rsplit(['/', '\\']).next().unwrap_or(&address).to_string();
        let Some(out) = save_dialog(&app, &name) else { return Ok(None) };
        if out.exists() {
            return Err(UiError::new(ErrorKind::Config, format!("{} already exists; Nightjar never overwrites a file, so choose another name (nothing was saved).", out.display())));
        }
        state.engine.configure(&state.load_config()?);
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let saved = state.engine.download_backup(&address, &out, &cancel)?;
        tracing::info!(job = %rec.job, file = %address, to = %saved.saved_to.display(), "backup copy saved from the History view");
        Ok(Some(saved))
    })
    .await
}

/// Native save dialog for a copy of the backup `name`.
fn save_dialog<R: Runtime>(app: &AppHandle<R>, name: &str) -> Option<std::path::PathBuf> {
    #[cfg(not(test))]
    {
        use tauri_plugin_dialog::DialogExt as _;
        let mut dialog = app.dialog().file().set_title(format!("Save a copy of {name}")).set_file_name(name);
        if let Ok(dir) = app.path().download_dir().or_else(|_| app.path().home_dir()) {
            dialog = dialog.set_directory(dir);
        }
        dialog.blocking_save_file().and_then(|p| p.into_path().ok())
    }
    #[cfg(test)]
    {
        let _ = (app, name);
        None
    }
}
