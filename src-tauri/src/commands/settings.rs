//! Settings: jobs (add, edit, enable, delete) written into the same TOML
//! file with comments kept, passwords in the keyring (write-only from the
//! page), connection test, next runs of a schedule, start at login,
//! OneDrive sign-in, test notification.

use std::time::Duration;

use chrono::Utc;
use nightjar_core::ErrorKind;
use nightjar_core::config::{Config, ParseEnv};
use nightjar_core::config_edit::{self, JobForm};
use nightjar_core::crypt;
use nightjar_core::runner::ONEDRIVE_ACCOUNT;
use nightjar_core::schedule::Schedule;
use nightjar_core::secrets::job_account;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager as _, Runtime, State};

use crate::models::{CmdResult, ConnectionCheck, DeviceCodeView, EncryptionView, JobSettings, NewKeyView, SettingsView, UiError};
use crate::state::AppState;

fn keyring_off() -> bool {
    std::env::var("NIGHTJAR_KEYRING").is_ok_and(|v| v == "off")
}

pub(crate) fn after_change<R: Runtime>(app: &AppHandle<R>, config: &Config) {
    crate::install_onedrive(&app.state::<AppState>(), config);
    // The tray process reloads its scheduler, updates the tray and tells the page.
    app.state::<crate::Link>().changed();
}

/// Everything the Settings view shows. Passwords are never included: only
/// whether one is stored.
#[tauri::command]
pub async fn settings_get<R: Runtime>(app: AppHandle<R>) -> CmdResult<SettingsView> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let (jobs, config_error, onedrive) = match state.load_config() {
            Ok(c) => (
                c.raw.jobs.iter().map(|j| JobSettings { form: JobForm::from_raw(j), password_stored: password_stored(&state, &j.name), encryption: encryption_view(&state, j) }).collect(),
                None,
                c.raw.onedrive,
            ),
            Err(e) => (Vec::new(), Some(e.message().to_string()), nightjar_core::config::OneDriveSettings::default()),
        };
        let onedrive_folders = onedrive_folders();
        let onedrive_ready = nightjar_onedrive::GraphConfig::from_settings(&onedrive).check_client_id().is_ok();
        Ok(SettingsView {
            config_path: state.config_path.display().to_string(),
            config_error,
            jobs,
            system_timezone: nightjar_core::config::system_time_zone().name().to_string(),
            onedrive_folders,
            onedrive_account: state.secrets.get(ONEDRIVE_ACCOUNT).ok().flatten(),
            onedrive_client_id: onedrive.client_id,
            onedrive_tenant: onedrive.tenant,
            onedrive_ready,
            onedrive_guide: nightjar_onedrive::config::APP_REGISTRATION_GUIDE.to_string(),
            autostart: autostart_enabled(&app),
            keyring_off: keyring_off(),
        })
    })
    .await
}

/// OneDrive-synced folders on this computer (offered as destinations).
pub fn onedrive_folders() -> Vec<String> {
    let home = ParseEnv::from_system().home;
    nightjar_onedrive::synced::onedrive_folders(&|v| std::env::var(v).ok(), home.as_deref()).into_iter().map(|p| p.display().to_string()).collect()
}

fn password_stored(state: &AppState, job: &str) -> bool {
    state.secrets.get(&job_account(job)).ok().flatten().is_some()
}

/// A job's `[job.encryption]` and which of its keys this keyring holds.
fn encryption_view(state: &AppState, job: &nightjar_core::config::RawJob) -> EncryptionView {
    let Some(e) = &job.encryption else {
        return EncryptionView { mode: "off".into(), ..EncryptionView::default() };
    };
    let store = state.secrets.as_ref();
    let kept: Vec<String> = crypt::stored_identities(store, &job.name).unwrap_or_default().iter().map(|(_, id)| id.to_public().to_string()).collect();
    EncryptionView {
        mode: if e.passphrase { "passphrase" } else { "keys" }.into(),
        recipients: e.recipients.clone(),
        kept: e.recipients.iter().filter(|r| kept.contains(r)).cloned().collect(),
        passphrase_kept: e.passphrase && store.get(&crypt::passphrase_account(&job.name)).ok().flatten().is_some(),
    }
}

/// "Encrypt with a new key": the save dialog asks where the recovery file
/// goes, then the key is made, written there, kept in the keyring and its
/// public key added to the job ([`crypt::new_job_key`]). A cancelled dialog
/// changes nothing (`None`): no key is used that was not saved first.
#[tauri::command]
pub async fn encryption_new_key<R: Runtime>(app: AppHandle<R>, job: String) -> CmdResult<Option<NewKeyView>> {
    crate::commands::blocking(move || {
        let Some(path) = save_recovery_dialog(&app, &job) else { return Ok(None) };
        let state = app.state::<AppState>();
        let key = crypt::new_job_key(state.secrets.as_ref(), &state.config_path, &ParseEnv::from_system(), &job, Some(&path)).map_err(|e| UiError::from(e).at("encryption"))?;
        tracing::info!(job, recipient = %key.public, "new encryption key made from Settings");
        after_change(&app, &state.load_config()?);
        Ok(Some(NewKeyView { public: key.public, recovery_file: path.display().to_string() }))
    })
    .await
}

/// Native save dialog for a job's recovery file.
fn save_recovery_dialog<R: Runtime>(app: &AppHandle<R>, job: &str) -> Option<std::path::PathBuf> {
    #[cfg(not(test))]
    {
        use tauri_plugin_dialog::DialogExt as _;
        let mut dialog = app.dialog().file().set_title(format!("Save the recovery key of \"{job}\"")).set_file_name(format!("nightjar-{job}-key.txt"));
        if let Ok(docs) = app.path().document_dir() {
            dialog = dialog.set_directory(docs);
        }
        dialog.blocking_save_file().and_then(|p| p.into_path().ok())
    }
    #[cfg(test)]
    {
        let _ = (app, job);
        None
    }
}

/// "Encrypt with a passphrase": typed twice; kept in the keyring
/// ([`crypt::set_job_passphrase`]).
#[tauri::command]
pub async fn encryption_passphrase<R: Runtime>(app: AppHandle<R>, job: String, passphrase: String, again: String) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        if passphrase != again {
            return Err(UiError::new(ErrorKind::Config, "The two passphrases differ; type the same one twice. Nothing was changed.").at("passphrase_again"));
        }
        crypt::set_job_passphrase(state.secrets.as_ref(), &state.config_path, &ParseEnv::from_system(), &job, &passphrase).map_err(|e| UiError::from(e).at("passphrase"))?;
        tracing::info!(job, "encryption passphrase set from Settings");
        after_change(&app, &state.load_config()?);
        Ok(())
    })
    .await
}

/// Adds (`original` = null) or changes a job. A field error names the TOML key.
#[tauri::command]
pub async fn job_save<R: Runtime>(app: AppHandle<R>, original: Option<String>, form: JobForm) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = config_edit::save_job(&state.config_path, &ParseEnv::from_system(), original.as_deref(), &form)?;
        tracing::info!(job = %form.name, "job saved from Settings");
        // A renamed job keeps its password.
        if let Some(old) = original.as_deref().filter(|o| *o != form.name.trim())
            && let Ok(Some(p)) = state.secrets.get(&job_account(old))
            && state.secrets.set(&job_account(form.name.trim()), &p).is_ok()
        {
            let _ = state.secrets.delete(&job_account(old));
        }
        after_change(&app, &config);
        Ok(())
    })
    .await
}

/// Removes a job from the config (its backups and history stay).
#[tauri::command]
pub async fn job_delete<R: Runtime>(app: AppHandle<R>, name: String) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = config_edit::apply(&state.config_path, &ParseEnv::from_system(), |t| config_edit::delete_job(t, &name))?;
        let _ = state.secrets.delete(&job_account(&name));
        tracing::info!(job = %name, "job deleted from Settings");
        after_change(&app, &config);
        Ok(())
    })
    .await
}

/// Turns a job's schedule on or off.
#[tauri::command]
pub fn job_set_enabled<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, name: String, enabled: bool) -> CmdResult<()> {
    let config = config_edit::apply(&state.config_path, &ParseEnv::from_system(), |t| config_edit::set_enabled(t, &name, enabled))?;
    after_change(&app, &config);
    Ok(())
}

/// Stores a job's database password in the keyring. Returns whether one is
/// stored now; the password is never sent back.
#[tauri::command]
pub async fn password_set<R: Runtime>(app: AppHandle<R>, job: String, password: String) -> CmdResult<bool> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        if password.is_empty() {
            return Err(UiError::new(ErrorKind::Config, "Type the password first.").at("password"));
        }
        state.secrets.set(&job_account(&job), &password).map_err(|e| UiError::from(e).at("password"))?;
        tracing::info!(job, "database password stored in the keyring");
        Ok(true)
    })
    .await
}

/// Removes a job's password from the keyring.
#[tauri::command]
pub async fn password_delete<R: Runtime>(app: AppHandle<R>, job: String) -> CmdResult<bool> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        state.secrets.delete(&job_account(&job))?;
        Ok(false)
    })
    .await
}

/// The job the form describes, validated like the file would be (nothing saved).
fn form_job(form: &JobForm) -> CmdResult<nightjar_core::config::Job> {
    let text = config_edit::upsert_job("", None, form)?;
    let config = Config::parse(&text, None, &ParseEnv::from_system()).map_err(|e| UiError::from(config_edit::FieldError::from_config_message(e.message())))?;
    config.jobs.into_iter().next().ok_or_else(|| UiError::new(ErrorKind::Other, "The job could not be read back."))
}

/// Checks the dump tool, the server (with the stored password) and the
/// destination for the job as the form has it now.
#[tauri::command]
pub async fn test_connection<R: Runtime>(app: AppHandle<R>, form: JobForm) -> CmdResult<ConnectionCheck> {
    crate::commands::blocking(move || {
        let job = form_job(&form)?;
        let state = app.state::<AppState>();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let observer = nightjar_core::observer::NoopObserver;
        let runner = state.engine.runner(&observer, &cancel)?;
        let findings: Vec<String> = runner
            .check(&job)
            .into_iter()
            .filter_map(|e| match e {
                nightjar_core::observer::Event::HealthFailure { message, .. } | nightjar_core::observer::Event::HealthWarning { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        Ok(if findings.is_empty() {
            ConnectionCheck { ok: true, messages: vec![format!("Connected to {}; the dump tool and the destination are ready.", job.db.display())] }
        } else {
            ConnectionCheck { ok: false, messages: findings }
        })
    })
    .await
}

/// The fields of a connection URL (the job form's "Connection" fields).
#[tauri::command]
pub fn connection_split(url: String) -> CmdResult<config_edit::ConnectionParts> {
    Ok(config_edit::split_connection(&url)?)
}

/// The connection URL of the fields, checked as the config file would be.
#[tauri::command]
pub fn connection_join(parts: config_edit::ConnectionParts) -> CmdResult<String> {
    Ok(config_edit::join_connection(&parts)?)
}

/// The next `count` run times (RFC 3339) of a schedule in a time zone.
#[tauri::command]
pub fn schedule_preview(schedule: String, timezone: Option<String>, count: Option<usize>) -> CmdResult<Vec<String>> {
    let s = Schedule::parse(&schedule).map_err(|e| UiError::from(e).at("schedule"))?;
    let tz = match timezone.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.parse().map_err(|_| UiError::new(ErrorKind::Config, format!("\"{t}\" is not an IANA time zone name; use a name such as \"Europe/Kyiv\" or \"UTC\".")).at("timezone"))?,
        None => nightjar_core::config::system_time_zone(),
    };
    Ok(s.next_runs(tz, Utc::now(), count.unwrap_or(3).min(10)).iter().map(|t| t.with_timezone(&tz).to_rfc3339()).collect())
}

/// Native folder picker for a destination.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>) -> CmdResult<Option<String>> {
    crate::commands::blocking(move || {
        #[cfg(not(test))]
        {
            use tauri_plugin_dialog::DialogExt as _;
            let picked = app.dialog().file().set_title("Choose the backup folder").blocking_pick_folder();
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

fn autostart_enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    #[cfg(not(test))]
    {
        use tauri_plugin_autostart::ManagerExt as _;
        app.try_state::<tauri_plugin_autostart::AutoLaunchManager>().is_some() && app.autolaunch().is_enabled().unwrap_or(false)
    }
    #[cfg(test)]
    {
        let _ = app;
        false
    }
}

/// Starts Nightjar at login, or stops doing so.
#[tauri::command]
pub fn autostart_set<R: Runtime>(app: AppHandle<R>, enabled: bool) -> CmdResult<bool> {
    #[cfg(not(test))]
    {
        use tauri_plugin_autostart::ManagerExt as _;
        let m = app.autolaunch();
        let r = if enabled { m.enable() } else { m.disable() };
        r.map_err(|e| UiError::new(ErrorKind::Other, format!("Start at login could not be changed ({e}).")))?;
        tracing::info!(enabled, "start at login changed");
    }
    #[cfg(test)]
    let _ = enabled;
    Ok(autostart_enabled(&app))
}

/// Saves the OneDrive application (client) id and tenant under `[onedrive]`.
/// A field error names `client_id` or `tenant`.
#[tauri::command]
pub fn onedrive_app_save<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, client_id: Option<String>, tenant: String) -> CmdResult<()> {
    let config = config_edit::save_onedrive_app(&state.config_path, &ParseEnv::from_system(), client_id.as_deref(), &tenant)?;
    tracing::info!(tenant = %config.raw.onedrive.tenant, "OneDrive application saved from Settings");
    after_change(&app, &config);
    Ok(())
}

/// The folders in `path` of the signed-in OneDrive account, sorted (the
/// destination's folder browser); `""` is the drive's top.
#[tauri::command]
pub async fn onedrive_browse<R: Runtime>(app: AppHandle<R>, path: String) -> CmdResult<Vec<String>> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let settings = state.load_config()?.raw.onedrive;
        let graph = nightjar_onedrive::graph::Graph::new(nightjar_onedrive::GraphConfig::from_settings(&settings), state.secrets.clone())?;
        let mut names: Vec<String> = graph.children(path.trim_matches('/'))?.into_iter().filter(|i| i.folder.is_some()).map(|i| i.name).collect();
        names.sort_by_key(|n| n.to_lowercase());
        Ok(names)
    })
    .await
}

/// Opens the guide to registering a OneDrive application in the browser
/// (a fixed address: the page cannot open others).
#[tauri::command]
pub fn open_onedrive_guide<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    open_in_browser(&app, nightjar_onedrive::config::APP_REGISTRATION_GUIDE);
    Ok(())
}

fn open_in_browser<R: Runtime>(app: &AppHandle<R>, url: &str) {
    #[cfg(not(test))]
    {
        use tauri_plugin_opener::OpenerExt as _;
        if let Err(e) = app.opener().open_url(url, None::<&str>) {
            tracing::warn!("could not open the browser ({e}); open this address by hand: {url}");
        }
    }
    #[cfg(test)]
    let _ = (app, url);
}

fn graph_for<R: Runtime>(app: &AppHandle<R>) -> CmdResult<nightjar_onedrive::Graph> {
    if keyring_off() {
        return Err(UiError::new(ErrorKind::Secret, "The OneDrive sign-in is kept in the OS keyring, which is switched off (NIGHTJAR_KEYRING=off); unset it to sign in."));
    }
    let state = app.state::<AppState>();
    let config = state.load_config()?;
    let cfg = nightjar_onedrive::GraphConfig::from_settings(&config.raw.onedrive);
    cfg.check_client_id().map_err(|e| UiError::from(e).at("client_id"))?;
    Ok(nightjar_onedrive::Graph::new(cfg, state.secrets.clone())?)
}

/// Signs in with a code typed on any device (microsoft.com/devicelogin):
/// the code goes to the page through `on_code` and the sign-in page opens
/// in the browser; returns the account name once the user has signed in.
#[tauri::command]
pub async fn onedrive_sign_in_device<R: Runtime>(app: AppHandle<R>, on_code: Channel<DeviceCodeView>) -> CmdResult<String> {
    crate::commands::blocking(move || {
        // Built on the blocking thread: reqwest's blocking client may not
        // be made (or dropped) on the async runtime.
        let graph = graph_for(&app)?;
        let account = graph.login_device_code(&mut |dc| {
            tracing::info!("OneDrive sign-in: showing a device code");
            let _ = on_code.send(DeviceCodeView {
                user_code: dc.user_code.clone(),
                verification_uri: dc.verification_uri.clone(),
                message: dc.message.clone(),
                expires_in: dc.expires_in,
            });
            if dc.verification_uri.starts_with("https://") {
                open_in_browser(&app, &dc.verification_uri);
            }
        })?;
        tracing::info!(account = %account.username, "signed in to OneDrive with a device code");
        app.state::<crate::Link>().changed();
        Ok(account.username)
    })
    .await
}

/// Signs in to Microsoft in the system browser (PKCE, loopback redirect).
/// Returns the account name.
#[tauri::command]
pub async fn onedrive_sign_in<R: Runtime>(app: AppHandle<R>) -> CmdResult<String> {
    crate::commands::blocking(move || {
        let graph = graph_for(&app)?;
        let account = graph.login_browser(Duration::from_secs(300), &mut |url| {
            tracing::info!("OneDrive sign-in: opening the browser");
            open_in_browser(&app, url);
        })?;
        tracing::info!(account = %account.username, "signed in to OneDrive");
        app.state::<crate::Link>().changed();
        Ok(account.username)
    })
    .await
}

/// Forgets the OneDrive sign-in.
#[tauri::command]
pub async fn onedrive_sign_out<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = state.load_config()?;
        let graph = nightjar_onedrive::Graph::new(nightjar_onedrive::GraphConfig::from_settings(&config.raw.onedrive), state.secrets.clone())?;
        graph.tokens().logout()?;
        Ok(())
    })
    .await
}

/// The file that says the "start at login" offer was answered.
fn offer_marker(state: &AppState) -> std::path::PathBuf {
    state.data.root().join("autostart-offered")
}

/// Whether to offer "start at login" now: once, after the first good
/// backup, unless it is on already.
#[tauri::command]
pub fn autostart_offer<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> CmdResult<bool> {
    if offer_marker(&state).exists() || autostart_enabled(&app) {
        return Ok(false);
    }
    let filter = nightjar_core::history::RunFilter {
        kind: Some(nightjar_core::history::RunKind::Backup),
        status: Some(nightjar_core::model::RunStatus::Success),
        limit: Some(1),
        ..Default::default()
    };
    Ok(!state.history.runs(&filter)?.is_empty())
}

/// The answer to the offer: starts Nightjar at login when `enable`; either
/// way the offer is not made again. Returns whether start at login is on.
#[tauri::command]
pub fn autostart_offer_answer<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, enable: bool) -> CmdResult<bool> {
    nightjar_core::private::write_file(&offer_marker(&state), if enable { b"yes\n" } else { b"no\n" })
        .map_err(|e| UiError::new(ErrorKind::Other, format!("The answer could not be saved in {} ({e}).", state.data.root().display())))?;
    if enable { autostart_set(app, true) } else { Ok(autostart_enabled(&app)) }
}

/// Sends a sample notification so the user sees what failures look like.
#[tauri::command]
pub async fn send_test_notification(link: State<'_, crate::Link>) -> CmdResult<()> {
    let link = link.inner().clone();
    crate::commands::blocking(move || link.call(nightjar_desktop_shared::proto::Op::TestNotification, None).map(drop)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_gives_three_times_or_a_field_error() {
        let runs = schedule_preview("daily 02:30".into(), Some("Europe/Kyiv".into()), None).unwrap();
        assert_eq!(runs.len(), 3);
        assert!(runs.iter().all(|r| r.contains("T02:30:00+0")), "{runs:?}");
        assert_eq!(schedule_preview("every 5h".into(), None, None).unwrap_err().field.as_deref(), Some("schedule"));
        assert_eq!(schedule_preview("daily 00:00".into(), Some("Mars/Base".into()), None).unwrap_err().field.as_deref(), Some("timezone"));
    }
}

/// One alert as the Settings' Alerts section shows it: the `[[alert]]`
/// table, whether its secret is stored (never the secret) and its last delivery.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// The `[[alert]]` table.
    pub alert: nightjar_core::alerts::AlertSpec,
    /// What its keyring entry holds ("the bot token").
    pub secret_label: &'static str,
    /// Whether that is stored.
    pub secret_stored: bool,
    /// Its last delivery attempt.
    pub last_delivery: Option<nightjar_core::alerts::Delivery>,
}

/// The alerts of the config, for the Settings' Alerts section.
#[tauri::command]
pub async fn alerts_get<R: Runtime>(app: AppHandle<R>) -> CmdResult<Vec<AlertView>> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = state.load_config()?;
        let (deliveries, _) = nightjar_core::alerts::last_deliveries(state.engine.data());
        Ok(config
            .raw
            .alerts
            .into_iter()
            .map(|a| AlertView {
                secret_label: a.kind.secret_label(),
                secret_stored: state.secrets.get(&a.account()).ok().flatten().is_some(),
                last_delivery: deliveries.get(&a.name).cloned(),
                alert: a,
            })
            .collect())
    })
    .await
}

/// Adds (`original` = null) or changes an alert, comments in the file kept.
#[tauri::command]
pub async fn alert_save<R: Runtime>(app: AppHandle<R>, original: Option<String>, alert: nightjar_core::alerts::AlertSpec) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = config_edit::save_alert(&state.config_path, &ParseEnv::from_system(), original.as_deref(), &alert)?;
        tracing::info!(alert = %alert.name, "alert saved from Settings");
        // A renamed alert keeps its secret.
        if let Some(old) = original.as_deref().filter(|o| *o != alert.name.trim())
            && let Ok(Some(s)) = state.secrets.get(&nightjar_core::alerts::account(old))
            && state.secrets.set(&alert.account(), &s).is_ok()
        {
            let _ = state.secrets.delete(&nightjar_core::alerts::account(old));
        }
        after_change(&app, &config);
        Ok(())
    })
    .await
}

/// Removes an alert and its secret.
#[tauri::command]
pub async fn alert_delete<R: Runtime>(app: AppHandle<R>, name: String) -> CmdResult<()> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = config_edit::apply(&state.config_path, &ParseEnv::from_system(), |t| config_edit::delete_alert(t, &name))?;
        let _ = state.secrets.delete(&nightjar_core::alerts::account(&name));
        tracing::info!(alert = %name, "alert deleted from Settings");
        after_change(&app, &config);
        Ok(())
    })
    .await
}

/// Stores an alert's secret (SMTP password, bot token, webhook URL) in the
/// keyring; returns whether one is stored now (it is never sent back).
#[tauri::command]
pub async fn alert_secret_set<R: Runtime>(app: AppHandle<R>, name: String, secret: String) -> CmdResult<bool> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        if secret.trim().is_empty() {
            return Err(UiError::new(ErrorKind::Config, "Type the secret first.").at("secret"));
        }
        state.secrets.set(&nightjar_core::alerts::account(&name), secret.trim()).map_err(|e| UiError::from(e).at("secret"))?;
        tracing::info!(alert = %name, "alert secret stored in the keyring");
        Ok(true)
    })
    .await
}

/// Sends a test message through one alert now ("Send test").
#[tauri::command]
pub async fn alert_test<R: Runtime>(app: AppHandle<R>, name: String) -> CmdResult<nightjar_core::alerts::TestResult> {
    crate::commands::blocking(move || {
        let state = app.state::<AppState>();
        let config = state.load_config()?;
        state.engine.configure(&config);
        let mut results = state.engine.alerts().test(Some(&name))?;
        results.pop().ok_or_else(|| UiError::new(ErrorKind::Other, "The test did not run."))
    })
    .await
}
