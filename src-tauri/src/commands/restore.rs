//! Restore: pick a file (native picker) or a history row, see the plan,
//! confirm by typing the database name, follow the progress.

use std::path::{Path, PathBuf};

use nightjar_core::clock::SystemClock;
use nightjar_core::config::{Config, Job};
use nightjar_core::restore::{RestoreOptions, RestorePlan, RestoreReport, Restorer};
use serde::Deserialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime};

use crate::events::AppObserver;
use crate::models::{CmdResult, ProgressEvent, RestorePlanView, UiError};
use crate::state::AppState;

/// What the Restore view submits.
#[derive(Debug, Clone, Deserialize)]
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
}

/// Native file picker for a backup file.
#[tauri::command]
pub async fn pick_backup_file<R: Runtime>(app: AppHandle<R>) -> CmdResult<Option<String>> {
    crate::commands::blocking(move || {
        #[cfg(not(test))]
        {
            use tauri_plugin_dialog::DialogExt as _;
            let picked = app
                .dialog()
                .file()
                .set_title("Choose a backup to restore")
                .add_filter("Nightjar backups", &["zst", "gz", "sql", "dump"])
                .add_filter("All files", &["*"])
                .blocking_pick_file();
            Ok(picked.and_then(|p| p.into_path().ok()).map(|p| p.display().to_string()))
        }
        #[cfg(test)]
        {
            let _ = app;
            Ok(None)
        }
    })
    .await
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

fn options(req: &RestoreRequest) -> RestoreOptions {
    RestoreOptions {
        as_new: req.as_new.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        safety_backup: req.safety_backup,
        ..RestoreOptions::default()
    }
}

fn view(plan: &RestorePlan) -> RestorePlanView {
    let i = &plan.inspection;
    let checksum = match (plan.has_manifest, &i.manifest) {
        (true, Some(_)) => "Will be checked against the manifest (sha256) before anything changes.".to_string(),
        _ => "No manifest beside the file: the checksum cannot be checked (decompression and format still are).".to_string(),
    };
    RestorePlanView {
        job: plan.job.clone(),
        file: i.path.display().to_string(),
        file_name: i.name(),
        size: i.size,
        taken_at: i.manifest.as_ref().map(|m| m.finished_at).or(i.modified).map(|t| t.to_rfc3339()),
        describe: i.describe(),
        checksum,
        has_manifest: plan.has_manifest,
        server: plan.server.clone(),
        target: plan.target.clone(),
        database: plan.database.clone(),
        mode: plan.mode,
        action: plan.action(),
        safety_backup: plan.safety_backup,
        safety_destination: plan.safety_destination.clone(),
        sessions: plan.sessions.len(),
        warnings: plan.warnings.clone(),
    }
}

fn prepare<R: Runtime>(app: &AppHandle<R>, req: &RestoreRequest, observer: &AppObserver<R>) -> CmdResult<(RestorePlan, Job)> {
    let state = app.state::<AppState>();
    let config = state.load_config()?;
    let file = PathBuf::from(req.file.trim());
    if req.file.trim().is_empty() {
        return Err(UiError { message: "Choose a backup file first.".into(), field: Some("file".into()) });
    }
    let job = target_job(&state, &config, &file, req.job.as_deref())?.clone();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let restorer = Restorer { history: &state.history, data: &state.data, secrets: state.secrets.as_ref(), clock: &SystemClock, observer, cancel: &cancel };
    let plan = restorer.prepare(&file, &job, &options(req))?;
    Ok((plan, job))
}

/// What a restore would do (probes the server; changes nothing).
#[tauri::command]
pub async fn restore_plan<R: Runtime>(app: AppHandle<R>, request: RestoreRequest) -> CmdResult<RestorePlanView> {
    crate::commands::blocking(move || {
        let observer = AppObserver::new(app.clone(), None);
        let (plan, _) = prepare(&app, &request, &observer)?;
        Ok(view(&plan))
    })
    .await
}

/// Runs a confirmed restore. `confirm` must be the name of the database
/// that will be replaced or created.
#[tauri::command]
pub async fn restore_run<R: Runtime>(app: AppHandle<R>, request: RestoreRequest, confirm: String, on_progress: Channel<ProgressEvent>) -> CmdResult<RestoreReport> {
    crate::commands::blocking(move || {
        let observer = AppObserver::new(app.clone(), Some(on_progress));
        let (plan, job) = prepare(&app, &request, &observer)?;
        if confirm.trim() != plan.database {
            return Err(UiError { message: format!("Type the database name \"{}\" exactly to confirm.", plan.database), field: Some("confirm".into()) });
        }
        let state = app.state::<AppState>();
        let Some(cancel) = state.begin_run(&job.name) else {
            return Err(UiError::new(format!("A backup or restore of \"{}\" is running in Nightjar; wait for it to finish.", job.name)));
        };
        tracing::info!(job = %job.name, file = %plan.file.display(), database = %plan.database, "restore confirmed in the window");
        let restorer = Restorer { history: &state.history, data: &state.data, secrets: state.secrets.as_ref(), clock: &SystemClock, observer: &observer, cancel: &cancel };
        let result = restorer.restore(&plan, &job, &options(&request));
        state.end_run(&job.name);
        crate::events::refresh(&app);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                crate::notify::send(&app, &format!("Restore failed: {}", job.name), e.message(), "restore", crate::notify::Level::Failure);
                Err(e.into())
            }
        }
    })
    .await
}
