//! Restore: pick a backup (the job's backups in its destination, the native
//! picker, or a history row), see the plan, confirm by typing the database
//! name, follow the progress. A backup in OneDrive or S3 is downloaded
//! first (size and sha256 checked against its manifest).

use nightjar_core::restore::RestorePlan;
use nightjar_core::trust::FileOrigin;
use nightjar_desktop_shared::models::RestoreRequest;
use nightjar_desktop_shared::proto::Op;
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::Link;
use crate::models::{CmdResult, RestorePlanView};
use crate::state::AppState;

/// A job's backups in its destination (a folder, OneDrive or S3), newest
/// first, as `nightjar list --job NAME` lists them, and the address of the
/// newest good one (its manifest present, its size matching).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobBackups {
    pub job: String,
    pub destination: String,
    pub backups: Vec<nightjar_core::catalog::BackupEntry>,
    pub newest_good: Option<String>,
}

/// The backups of `job` (the Restore view's list and "Restore latest").
#[tauri::command]
pub async fn job_backups<R: Runtime>(app: AppHandle<R>, job: String) -> CmdResult<JobBackups> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = state.load_config()?;
        state.engine.configure(&config);
        let job = config.job(&job)?;
        // At equal times a folder's copy first, so "Restore latest" reads from this computer.
        let (backups, errors) = state.engine.job_backups(job);
        if let Some((_, e)) = errors.into_iter().next() {
            return Err(e.into());
        }
        let newest_good = backups.iter().find(|b| b.size_matches).map(|b| b.path.clone());
        let destination = job.destinations.iter().map(nightjar_core::config::DestinationSpec::display).collect::<Vec<_>>().join(", ");
        Ok(JobBackups { job: job.name.clone(), destination, backups, newest_good })
    })
    .await
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
                .add_filter("Nightjar backups", &["zst", "gz", "sql", "dump", "age"])
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

/// Native file picker for the key file (age identity) of an encrypted backup.
#[tauri::command]
pub async fn pick_key_file<R: Runtime>(app: AppHandle<R>) -> CmdResult<Option<String>> {
    crate::commands::blocking(move || {
        #[cfg(not(test))]
        {
            use tauri_plugin_dialog::DialogExt as _;
            let picked = app.dialog().file().set_title("Choose the key file of the encrypted backup").blocking_pick_file();
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

fn view(plan: &RestorePlan, identity: Option<&str>) -> RestorePlanView {
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
        origin: plan.trust.as_ref().map_or(FileOrigin::NotOurs, |t| t.origin),
        origin_message: plan.trust.as_ref().map(|t| t.message.clone()).unwrap_or_default(),
        encrypted: i.encrypted,
        key_note: i.encrypted.then(|| key_note(i, identity)),
    }
}

/// How an encrypted backup will be opened.
fn key_note(i: &nightjar_core::inspect::Inspection, identity: Option<&str>) -> String {
    let passphrase = matches!(i.manifest.as_ref().map(|m| &m.encryption), Some(nightjar_core::manifest::ManifestEncryption::Age { passphrase: true, .. }));
    match identity.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => format!("Encrypted with age; opened with the key file {k}."),
        None if passphrase => "Encrypted with age; the passphrase was found in the keyring.".to_string(),
        None => "Encrypted with age; the key was found in the keyring.".to_string(),
    }
}

/// What a restore would do (probes the server; changes nothing).
#[tauri::command]
pub async fn restore_plan<R: Runtime>(app: AppHandle<R>, request: RestoreRequest) -> CmdResult<RestorePlanView> {
    // On a blocking thread: the plan asks the server (psql).
    crate::commands::blocking(move || {
        let (plan, _, backup) = nightjar_desktop_shared::lookup::prepare(&app.state::<AppState>(), &request, &nightjar_core::observer::NoopObserver)?;
        let mut v = view(&plan, request.identity.as_deref());
        // A remote backup was checked from a private local copy: name the backup the user picked.
        if let Some(origin) = backup.origin() {
            v.file = origin.to_string();
        }
        Ok(v)
    })
    .await
}

/// Runs a confirmed restore in the tray process (so closing the window does
/// not stop it). `confirm` must be the name of the database that will be
/// replaced or created.
#[tauri::command]
pub async fn restore_run(link: State<'_, Link>, request: RestoreRequest, confirm: String, on_progress: Channel<Value>) -> CmdResult<Value> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call(Op::Restore { request, confirm }, Some(on_progress))).await
}
