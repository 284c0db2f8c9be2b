//! Serde DTOs that cross the IPC boundary to `ui/`.
//!
//! JSON field names are camelCase, except the job form, whose keys are the
//! TOML keys (so a field error's `field` names the input it belongs to).
//! Keep the `JSDoc` typedefs in `ui/js/ipc.js` in step with them.

use nightjar_core::config_edit::{FieldError, JobForm};
use nightjar_core::history::RunRecord;
use nightjar_core::observer::Stage;
use serde::{Deserialize, Serialize};

/// What the window shows in its footer: the shell's version and the engine it wraps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Version of the desktop app (the workspace version).
    pub version: &'static str,
    /// Name of the backup engine crate.
    pub core: &'static str,
}

/// The error every command returns: one sentence, and the form field it
/// concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiError {
    /// One sentence saying what went wrong and what to do.
    pub message: String,
    /// TOML key of the settings field at fault.
    pub field: Option<String>,
}

impl UiError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), field: None }
    }
}

impl From<nightjar_core::Error> for UiError {
    fn from(e: nightjar_core::Error) -> Self {
        tracing::debug!("{}", e.detailed());
        Self::new(e.message())
    }
}

impl From<FieldError> for UiError {
    fn from(e: FieldError) -> Self {
        Self { message: e.message, field: e.field }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type CmdResult<T> = Result<T, UiError>;

/// One job on the Dashboard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCard {
    pub name: String,
    pub enabled: bool,
    pub database: String,
    pub destination: String,
    pub schedule: Option<String>,
    pub timezone: String,
    /// Next scheduled runs (RFC 3339), empty when manual or disabled.
    pub next_runs: Vec<String>,
    pub last_run: Option<RunRecord>,
    pub last_success: Option<RunRecord>,
    pub stale: bool,
    /// A backup of this job is running in this app now.
    pub running: bool,
    /// Problems that will make the next run fail or need attention (dump
    /// tool missing, folder missing, disk almost full). Filled for the
    /// Dashboard only.
    pub health: Vec<String>,
    /// Whether OneDrive holds the last good backup, for a job writing into
    /// a OneDrive-synced folder while signed in; `None` when not tracked.
    pub cloud: Option<CloudLine>,
}

/// Where the last good backup of a synced-folder job stands in OneDrive
/// (the page words it, with its own time format).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudLine {
    /// `in-cloud`, `pending`, `late` or `gone`.
    pub state: nightjar_core::history::CloudState,
    /// When OneDrive was seen holding it (`in-cloud`), else when the backup
    /// was written (RFC 3339).
    pub at: String,
}

/// The Dashboard's data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub jobs: Vec<JobCard>,
    pub paused: bool,
    pub resume_at: Option<String>,
    pub config_path: String,
    /// Set when the config file does not parse (the jobs list is then empty).
    pub config_error: Option<String>,
    /// OneDrive-synced folders found here, for the first-run hint (only when there are no jobs).
    pub onedrive_folders: Vec<String>,
    pub data_dir: String,
}

/// Live progress of a backup, restore or verify, sent through a `Channel`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ProgressEvent {
    /// A job's backup began (several jobs run one after another).
    Started { job: String },
    /// A new stage.
    Stage { job: String, stage: Stage, label: &'static str },
    /// Bytes so far.
    Progress { job: String, stage: Stage, bytes_in: u64, bytes_out: u64, elapsed_ms: u64, rate: f64 },
    /// Something worth showing that did not stop the run.
    Warning { job: String, message: String },
    /// A job's backup is in place.
    Finished { job: String, file: String, name: String, size: u64, duration_ms: u64 },
    /// A job's backup failed (or was refused because another run holds the job).
    Failed { job: String, message: String, busy: bool },
}

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

/// One job's outcome of "Backup now".
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupOutcome {
    pub job: String,
    pub ok: bool,
    pub file: Option<String>,
    pub name: Option<String>,
    pub size: Option<u64>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// Refused because another run (this app's scheduler or `nightjar run`) holds the job.
    pub busy: bool,
}

/// One job in Settings: the form plus what the page may know about secrets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSettings {
    pub form: JobForm,
    /// A password is stored in the keyring (the password itself never leaves the shell).
    pub password_stored: bool,
}

/// The Settings view's data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub config_path: String,
    pub config_error: Option<String>,
    pub jobs: Vec<JobSettings>,
    pub system_timezone: String,
    /// OneDrive-synced folders found on this computer (offered as destinations).
    pub onedrive_folders: Vec<String>,
    /// The Microsoft account signed in for `onedrive:` destinations.
    pub onedrive_account: Option<String>,
    pub autostart: bool,
    pub keyring_off: bool,
}

/// What a restore will do, for the confirmation step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlanView {
    pub job: String,
    pub file: String,
    pub file_name: String,
    pub size: u64,
    /// When the backup was taken (manifest), else the file's modification time.
    pub taken_at: Option<String>,
    pub describe: String,
    /// "verified against the manifest" or why it cannot be.
    pub checksum: String,
    pub has_manifest: bool,
    pub server: String,
    pub target: String,
    /// The database the user must type to confirm.
    pub database: String,
    pub mode: nightjar_core::restore::RestoreMode,
    pub action: String,
    pub safety_backup: bool,
    pub safety_destination: Option<String>,
    pub sessions: usize,
    pub warnings: Vec<String>,
    /// in-history, authentic-manifest or not-ours (the "I trust this file" box shows for not-ours).
    pub origin: nightjar_core::trust::FileOrigin,
    /// The sentence saying which case applies and what it means.
    pub origin_message: String,
}

/// The tail of the log file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogTail {
    pub file: Option<String>,
    pub text: String,
}

/// A connection test's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    pub ok: bool,
    /// One line per finding; a single "ok" sentence when all is well.
    pub messages: Vec<String>,
}
