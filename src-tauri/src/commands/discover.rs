//! Discovery for the window's first run: the database servers this user
//! can reach, how Nightjar logs in to each, their databases and a ready job
//! per database ("Protect this database"). The page runs the first backup
//! of a protected database with `backup_now` (the tray process runs it).
//!
//! The servers of the last discovery are kept here, so `discover_login` and
//! `protect` name a server by its id; an id not seen yet runs discovery again.

use std::sync::Mutex;

use nightjar_core::ErrorKind;
use nightjar_core::config::ParseEnv;
use nightjar_core::discover::{self, Defaults, Discovery, Server, SystemProbe};
use serde::Serialize;
use tauri::{AppHandle, Manager as _, Runtime};

use crate::models::{CmdResult, UiError};
use crate::state::AppState;

/// The servers of the last discovery.
#[derive(Default)]
pub struct DiscoverCache(Mutex<Vec<Server>>);

/// What `protect` made.
#[derive(Debug, Serialize)]
pub struct Protected {
    /// The job's name (run its first backup with `backup_now`).
    pub job: String,
}

fn defaults() -> Defaults {
    let folders = crate::commands::settings::onedrive_folders().into_iter().map(std::path::PathBuf::from).collect();
    Defaults::system(folders)
}

/// Calls `f` with a discovery context: the config's jobs, the app's secret store.
fn with_context<T>(state: &AppState, f: impl FnOnce(&discover::Context<'_>) -> T) -> CmdResult<T> {
    let config = state.load_config()?;
    let defaults = defaults();
    Ok(f(&discover::Context { probe: &SystemProbe, secrets: state.secrets.as_ref(), config: &config, defaults: &defaults }))
}

/// Runs discovery with the config's jobs and the app's secret store.
fn run_discovery(state: &AppState) -> CmdResult<Discovery> {
    with_context(state, discover::discover)
}

fn remember<R: Runtime>(app: &AppHandle<R>, servers: &[Server]) {
    let cache = app.state::<DiscoverCache>();
    *cache.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = servers.to_vec();
}

/// The server `id` of the last discovery, or of a new one.
fn server<R: Runtime>(app: &AppHandle<R>, id: &str) -> CmdResult<Server> {
    let cached = app.state::<DiscoverCache>().0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().find(|s| s.id == id).cloned();
    if let Some(s) = cached {
        return Ok(s);
    }
    let found = run_discovery(&app.state::<AppState>())?;
    remember(app, &found.servers);
    found
        .servers
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| UiError::new(ErrorKind::NotFound, "That server is not found any more; look for servers again."))
}

fn replace<R: Runtime>(app: &AppHandle<R>, server: &Server) {
    let cache = app.state::<DiscoverCache>();
    let mut servers = cache.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match servers.iter_mut().find(|s| s.id == server.id) {
        Some(s) => *s = server.clone(),
        None => servers.push(server.clone()),
    }
}

/// `{servers, onedriveFolder, destinationHint, notes}`.
#[tauri::command]
pub async fn discover<R: Runtime>(app: AppHandle<R>) -> CmdResult<Discovery> {
    crate::commands::blocking(move || {
        let found = run_discovery(&app.state::<AppState>())?;
        tracing::info!(servers = found.servers.len(), "discovery ran");
        remember(&app, &found.servers);
        Ok(found)
    })
    .await
}

/// Logs in to the server with `user` and `password`; when that works the
/// password is stored in the keyring and the server (with its databases)
/// comes back. The password is never sent back.
#[tauri::command]
pub async fn discover_login<R: Runtime>(app: AppHandle<R>, server_id: String, user: String, password: String) -> CmdResult<Server> {
    if user.trim().is_empty() {
        return Err(UiError::new(ErrorKind::Config, "Type the user name first.").at("user"));
    }
    if password.is_empty() {
        return Err(UiError::new(ErrorKind::Config, "Type the password first.").at("password"));
    }
    crate::commands::blocking(move || {
        let server = server(&app, &server_id)?;
        let updated = with_context(&app.state::<AppState>(), |ctx| discover::discover_login(ctx, &server, &user, &password))?.map_err(|e| {
            let field = if e.kind() == ErrorKind::Auth || e.message().contains("password") { "password" } else { "user" };
            UiError::from(e).at(field)
        })?;
        tracing::info!(server = %updated.id, "discovery: logged in, password stored");
        replace(&app, &updated);
        Ok(updated)
    })
    .await
}

/// Saves the proposed job for `database` of the server `server_id`
/// (`{job: "<name>"}`); the page then runs its first backup with `backup_now`.
#[tauri::command]
pub async fn protect<R: Runtime>(app: AppHandle<R>, server_id: String, database: String) -> CmdResult<Protected> {
    crate::commands::blocking(move || {
        let mut server = server(&app, &server_id)?;
        let state = app.state::<AppState>();
        let form = with_context(&state, |ctx| discover::protect(ctx, &state.config_path, &ParseEnv::from_system(), &server, &database))??;
        if let Some(d) = server.databases.iter_mut().find(|d| d.name == database) {
            d.protected_by.push(form.name.clone());
        }
        replace(&app, &server);
        if let Ok(config) = state.load_config() {
            crate::commands::settings::after_change(&app, &config);
        }
        Ok(Protected { job: form.name })
    })
    .await
}
