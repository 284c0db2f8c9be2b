//! Read-only helpers both processes use: what a restore would do (the
//! window shows the plan, the tray process runs it), a history row and its
//! backup file.

use std::path::{Path, PathBuf};

use nightjar_core::ErrorKind;
use nightjar_core::backups::BackupFile;
use nightjar_core::config::{Config, Job};
use nightjar_core::observer::RunObserver;
use nightjar_core::restore::{RestoreOptions, RestorePlan};

use crate::models::{CmdResult, RestoreRequest, UiError};
use crate::state::AppState;

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
        [] => Err(UiError::new(ErrorKind::Config, "There are no jobs yet: add the database in Settings first, then restore into it.")),
        _ => Err(UiError::new(ErrorKind::Config, "Choose the job whose database this backup goes into.").at("job")),
    }
}

/// The core's restore options for a request.
#[must_use]
pub fn options(req: &RestoreRequest) -> RestoreOptions {
    RestoreOptions {
        as_new: req.as_new.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        safety_backup: req.safety_backup,
        trust_file: req.trust_file,
        identity: identity(req),
        ..RestoreOptions::default()
    }
}

/// The key file of a request, when one was chosen.
fn identity(req: &RestoreRequest) -> Option<PathBuf> {
    req.identity.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from)
}

/// An encrypted backup that no kept key (nor the chosen key file) opens, or
/// a key file that cannot be read: the window asks for the key file.
fn key_error(req: &RestoreRequest, e: nightjar_core::Error) -> UiError {
    let key_file = identity(req);
    if !nightjar_core::crypt::is_no_key(&e) {
        // A chosen key file that cannot be read or holds no key: said at its field.
        let names_key_file = e.kind() == ErrorKind::Config && key_file.as_ref().is_some_and(|k| e.message().contains(&k.display().to_string()));
        return if names_key_file { UiError::from(e).at("identity") } else { UiError::from(e) };
    }
    let manifest = nightjar_core::inspect::inspect(Path::new(req.file.trim())).ok().and_then(|i| i.manifest);
    let to = match manifest.map(|m| m.encryption) {
        Some(nightjar_core::manifest::ManifestEncryption::Age { passphrase: true, .. }) => "with a passphrase that is not kept here (set it in Settings → Encryption)".to_string(),
        Some(nightjar_core::manifest::ManifestEncryption::Age { recipients, .. }) if !recipients.is_empty() => format!("for {}", recipients.join(", ")),
        _ => "with age".to_string(),
    };
    let message = match key_file {
        Some(k) => format!("This backup is encrypted {to}, and {} does not open it; choose the key file saved when its key was made.", k.display()),
        None => format!("This backup is encrypted {to}, and no key kept here opens it; choose its key file (the recovery file saved when the key was made)."),
    };
    UiError::new(ErrorKind::Config, message).at("identity")
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
        return Err(UiError::new(ErrorKind::Config, "Choose a backup file first.").at("file"));
    }
    let job = target_job(state, &config, &file, req.job.as_deref())?.clone();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let restorer = state.engine.restorer(observer, &cancel)?;
    let (plan, backup) = restorer.plan_from(req.file.trim(), &job, &options(req)).map_err(|e| key_error(req, e))?;
    Ok((plan, job, backup))
}

/// The local file of a history row's backup.
///
/// # Errors
/// The run left no file, or the file is in OneDrive.
pub fn local_file(record: &nightjar_core::history::RunRecord) -> CmdResult<PathBuf> {
    let file = backup_address(record)?;
    if file.starts_with("onedrive:") {
        return Err(UiError::new(ErrorKind::Destination, "This backup is in OneDrive, not on this computer; open it from onedrive.com, or use Save a copy… to get it here."));
    }
    if file.starts_with("s3://") {
        return Err(UiError::new(ErrorKind::Destination, "This backup is in S3, not on this computer; use Save a copy… to get it here."));
    }
    Ok(PathBuf::from(file))
}

/// A history row by id.
///
/// # Errors
/// The row is gone.
pub fn record(state: &AppState, id: i64) -> CmdResult<nightjar_core::history::RunRecord> {
    state.history.get(id)?.ok_or_else(|| UiError::new(ErrorKind::NotFound, "This run is no longer in the history; reload the view."))
}

/// The backup address (a path or `onedrive:/…`) of a history row.
///
/// # Errors
/// The run left no file.
pub fn backup_address(record: &nightjar_core::history::RunRecord) -> CmdResult<&str> {
    record.file.as_deref().ok_or_else(|| UiError::new(ErrorKind::NotFound, "This run left no file."))
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
