//! Serde DTOs that cross the IPC boundary to `ui/`.
//!
//! JSON field names are camelCase, except the job form, whose keys are the
//! TOML keys (so a field error's `field` names the input it belongs to).
//! Keep the `JSDoc` typedefs in `ui/js/ipc.js` in step with them.

use nightjar_core::ErrorKind;
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

/// The error every command returns, over the socket and to the page, as
/// `{"code": "busy", "message": "..."}` (and `"field"` when a form input is
/// at fault). `code` is the core's [`ErrorKind::code`]; the page switches on
/// it (`busy`, `not-found`, `needs-confirmation`, `auth-expired`, ...) and
/// shows the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiError {
    /// What kind of failure, as a stable code.
    pub code: ErrorKind,
    /// One sentence saying what went wrong and what to do.
    pub message: String,
    /// The form input at fault: a settings field's TOML key, or `file`,
    /// `job`, `confirm` in the Restore view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl UiError {
    pub fn new(code: ErrorKind, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }

    /// The same error, placed at the form input `field`.
    #[must_use]
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }
}

impl From<nightjar_core::Error> for UiError {
    fn from(e: nightjar_core::Error) -> Self {
        tracing::debug!("{}", e.detailed());
        Self::new(e.kind(), e.message())
    }
}

impl From<FieldError> for UiError {
    fn from(e: FieldError) -> Self {
        Self { code: ErrorKind::Config, message: e.message, field: e.field }
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
    /// The copies of the last backup of a job with several destinations
    /// (empty otherwise), primary first.
    pub copies: Vec<CopyLine>,
}

/// One copy of the last backup on the card: where, and whether it is good.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyLine {
    pub destination: String,
    pub good: bool,
    /// Why it failed (one sentence).
    pub error: Option<String>,
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
    /// A job's backup failed (`code` is `busy` when it was refused because
    /// another run holds the job).
    Failed { job: String, message: String, code: ErrorKind },
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
    /// An age identity file (the recovery file) for an encrypted backup
    /// whose key is not in the keyring.
    #[serde(default)]
    pub identity: Option<String>,
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
    /// The failure's code; `busy` when another run (this app's scheduler or
    /// `nightjar run`) holds the job.
    pub code: Option<ErrorKind>,
}

/// One job in Settings: the form plus what the page may know about secrets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSettings {
    pub form: JobForm,
    /// A password is stored in the keyring (the password itself never leaves the shell).
    pub password_stored: bool,
    /// `[job.encryption]` and which of its keys this keyring holds.
    pub encryption: EncryptionView,
}

/// A job's encryption as Settings shows it: public keys only, never a secret.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionView {
    /// `off`, `keys` (age recipients) or `passphrase`.
    pub mode: String,
    /// The recipients (`age1…`) the job encrypts to.
    pub recipients: Vec<String>,
    /// The recipients whose key is kept in this keyring.
    pub kept: Vec<String>,
    /// Passphrase mode: the passphrase is kept in this keyring.
    pub passphrase_kept: bool,
}

/// What "Encrypt with a new key" made.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewKeyView {
    /// The new recipient (public key), now in the config.
    pub public: String,
    /// The recovery file written.
    pub recovery_file: String,
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
    /// `[onedrive] client_id` (the user's own app registration), if set.
    pub onedrive_client_id: Option<String>,
    /// `[onedrive] tenant`.
    pub onedrive_tenant: String,
    /// Whether a sign-in can be tried: an application id is set (or the
    /// sign-in service is not Microsoft's, as in demo mode).
    pub onedrive_ready: bool,
    /// The guide to registering the app (opened by "How to get one").
    pub onedrive_guide: String,
    pub autostart: bool,
    pub keyring_off: bool,
}

/// A device-code sign-in's code, for the page to show.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCodeView {
    pub user_code: String,
    pub verification_uri: String,
    /// Microsoft's own sentence ("To sign in, use a web browser to open …").
    pub message: String,
    pub expires_in: u64,
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
    /// The file is age-encrypted.
    pub encrypted: bool,
    /// How it will be decrypted, when it is encrypted.
    pub key_note: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_error_keeps_its_kind_as_the_code() {
        for kind in ErrorKind::ALL {
            let e = UiError::from(nightjar_core::Error::new(kind, "It failed."));
            assert_eq!((e.code, e.code.code(), e.message.as_str(), e.field), (kind, kind.code(), "It failed.", None));
        }
        let field = UiError::from(FieldError { field: Some("schedule".into()), message: "Bad.".into() });
        assert_eq!((field.code, field.field.as_deref()), (ErrorKind::Config, Some("schedule")));
    }

    #[test]
    fn an_error_serializes_as_code_and_message_and_the_field_only_when_there_is_one() {
        let busy = UiError::new(ErrorKind::Busy, "A backup of \"tg\" is running.");
        assert_eq!(serde_json::to_value(&busy).unwrap(), serde_json::json!({ "code": "busy", "message": "A backup of \"tg\" is running." }));
        let confirm = UiError::new(ErrorKind::NeedsConfirmation, "Type it.").at("confirm");
        let json = serde_json::to_value(&confirm).unwrap();
        assert_eq!(json, serde_json::json!({ "code": "needs-confirmation", "message": "Type it.", "field": "confirm" }));
        assert_eq!(serde_json::from_value::<UiError>(json).unwrap(), confirm, "it reads back (the socket)");
        let later: UiError = serde_json::from_value(serde_json::json!({ "code": "from-a-later-version", "message": "x" })).unwrap();
        assert_eq!(later.code, ErrorKind::Other, "an unknown code reads as other");
    }

    #[test]
    fn a_failed_backup_event_carries_its_code() {
        let e = ProgressEvent::Failed { job: "tg".into(), message: "Busy.".into(), code: ErrorKind::Busy };
        assert_eq!(serde_json::to_value(&e).unwrap(), serde_json::json!({ "kind": "failed", "job": "tg", "message": "Busy.", "code": "busy" }));
    }
}
