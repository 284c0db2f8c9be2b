//! Nightjar's desktop shell: a tray icon, one window with the static `ui/`
//! page, thin IPC commands over `nightjar-core`, and the same scheduler
//! service as `nightjar run`, running inside the app.
//!
//! [`run`] is what `main` calls. [`run_app`] takes the builder, the state
//! and an extra setup hook so tests can drive the same wiring with
//! `tauri::test::mock_builder()`.
//!
//! Closing the window destroys the web view (its memory goes back to the
//! system); the app keeps running in the tray until the user picks "Quit",
//! and "Open Nightjar" (or a second launch) opens the window again.

mod commands;
mod events;
mod models;
mod notify;
mod state;
mod summary;
#[cfg(test)]
mod tests;
// Unit tests drive the shell with a mock runtime and no display: no tray there.
#[cfg(all(desktop, not(test)))]
mod tray;

use std::io::IsTerminal as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nightjar_core::clock::SystemClock;
use nightjar_core::config::Config;
use nightjar_core::service::Service;
use tauri::{App, AppHandle, Manager as _, RunEvent, Runtime, WindowEvent};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use state::AppState;

/// Label of the main window, as declared in `tauri.conf.json`.
pub(crate) const MAIN_WINDOW: &str = "main";

/// Command-line flag (used by start at login) to start in the tray only.
pub const HIDDEN_FLAG: &str = "--hidden";

/// Starts the desktop app and blocks until it exits.
///
/// Logs go to stderr and to the log file in the data folder; `RUST_LOG`
/// overrides the default `info` level.
///
/// # Panics
/// When the history cannot be opened or the app cannot be built.
pub fn run() {
    let _guard = init_tracing();
    let state = match AppState::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar-desktop: {e}");
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        // First, so a second launch only focuses the running one.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("second launch: focusing the running Nightjar");
            show_main_window(app);
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, Some(vec![HIDDEN_FLAG])));
    let hidden = std::env::args().any(|a| a == HIDDEN_FLAG);
    run_app(builder, state, move |app| {
        start_scheduler(app.handle().clone());
        start_minute_refresh(app.handle().clone());
        // The window is declared with `create: false`: started at login
        // (`--hidden`) the app lives in the tray and no web view runs.
        if !hidden {
            show_main_window(app.handle());
        }
    });
}

/// Wires commands, state, the tray and window behaviour onto `builder`,
/// calls `setup`, and runs the event loop.
///
/// # Panics
/// Panics if the app cannot be built (for example, no display to open the
/// window on).
pub fn run_app<R: Runtime, F: FnOnce(&App<R>) + Send + 'static>(builder: tauri::Builder<R>, state: AppState, setup: F) {
    let app = build_app(builder, state, setup).build(tauri::generate_context!("../tauri.conf.json")).expect("failed to build the Nightjar desktop app");
    app.run(|app, event| match event {
        // `code` is `None` when the last window went away, `Some` after `app.exit()`.
        RunEvent::ExitRequested { api, code: None, .. } => api.prevent_exit(),
        RunEvent::Exit => app.state::<AppState>().cancel_all(),
        _ => {}
    });
}

/// The builder with Nightjar's commands, state and window behaviour.
pub fn build_app<R: Runtime, F: FnOnce(&App<R>) + Send + 'static>(builder: tauri::Builder<R>, state: AppState, setup: F) -> tauri::Builder<R> {
    if let Ok(config) = state.load_config() {
        install_onedrive(&state, &config);
    }
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::take_navigation,
            commands::dashboard::overview,
            commands::dashboard::backup_now,
            commands::dashboard::cancel_run,
            commands::dashboard::set_paused,
            commands::history::history_list,
            commands::history::history_stats,
            commands::history::reveal_file,
            commands::history::verify_backup,
            commands::history::delete_backup,
            commands::restore::pick_backup_file,
            commands::restore::restore_plan,
            commands::restore::restore_run,
            commands::settings::settings_get,
            commands::settings::job_save,
            commands::settings::job_delete,
            commands::settings::job_set_enabled,
            commands::settings::password_set,
            commands::settings::password_delete,
            commands::settings::test_connection,
            commands::settings::schedule_preview,
            commands::settings::pick_folder,
            commands::settings::autostart_set,
            commands::settings::onedrive_sign_in,
            commands::settings::onedrive_sign_out,
            commands::settings::send_test_notification,
            commands::logs::logs_tail,
        ])
        .setup(move |app| {
            #[cfg(all(desktop, not(test)))]
            tray::create_tray(app.handle())?;
            setup(app);
            Ok(())
        })
        .on_window_event(|window, event| {
            // A tray app outlives its window. Closing destroys the web view
            // (its processes and memory go away); "Open Nightjar" builds a
            // new one. The app itself keeps running (see `run_app`).
            if let WindowEvent::Destroyed = event
                && window.label() == MAIN_WINDOW
            {
                tracing::info!("window closed; Nightjar keeps running in the tray");
            }
        })
}

/// Lets the core reach `onedrive:` destinations with the config's settings,
/// and registers the scheduler's OneDrive upkeep (see
/// [`nightjar_onedrive::install_upkeep`]) as `nightjar run` does; called
/// again on every config change.
pub(crate) fn install_onedrive(state: &AppState, config: &Config) {
    let settings = config.raw.onedrive.clone();
    nightjar_onedrive::install_upkeep(&settings, state.secrets.clone());
    let secrets = state.secrets.clone();
    nightjar_core::runner::set_onedrive_opener(Some(std::sync::Arc::new(move |path: &str| {
        nightjar_onedrive::open_destination(&settings, secrets.clone(), path)
    })));
}

/// Shows the main window, building it again if it was closed.
pub(crate) fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(w) => w,
        None => {
            let built = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .ok_or_else(|| tauri::Error::WindowNotFound)
                .and_then(|conf| tauri::WebviewWindowBuilder::from_config(app, conf)?.build());
            match built {
                Ok(w) => w,
                Err(error) => {
                    tracing::warn!(%error, "could not open the main window");
                    return;
                }
            }
        }
    };
    let shown = window.unminimize().and_then(|()| window.show()).and_then(|()| window.set_focus());
    if let Err(error) = shown {
        tracing::warn!(%error, "could not show the main window");
    }
}

#[cfg_attr(test, allow(dead_code))] // called from the tray, which unit tests do not build
/// Quit: stops the scheduler and any run (nothing is left under a final name), exits 0.
pub(crate) fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("quit requested");
    app.state::<AppState>().cancel_all();
    app.exit(0);
}

/// Runs the schedules inside the app: the core's scheduler service (the
/// one behind `nightjar run`), with catch-up on start and on wake. The
/// per-job lock keeps it and a `nightjar run` elsewhere from running the
/// same job at once.
fn start_scheduler<R: Runtime>(app: AppHandle<R>) {
    let spawned = std::thread::Builder::new().name("scheduler".into()).spawn(move || {
        let state = app.state::<AppState>();
        let observer = events::AppObserver::new(app.clone(), None);
        let path = state.config_path.clone();
        let load = move || state::load_config(&path);
        let tick = std::env::var("NIGHTJAR_TICK_SECS").ok().and_then(|s| s.parse().ok()).map_or(Duration::from_secs(60), Duration::from_secs);
        let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        loop {
            let service = Service {
                load_config: &load,
                config_path: Some(state.config_path.clone()),
                history: &state.history,
                data: &state.data,
                secrets: state.secrets.as_ref(),
                clock: &SystemClock,
                observer: &observer,
                control: &state.control,
                tick,
            };
            match service.run() {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!("the scheduler is waiting for a valid config: {e}");
                    // Wait for the file to change or Settings to save it.
                    let seen = mtime(&state.config_path);
                    while !state.control.shutdown.load(Ordering::SeqCst)
                        && !state.control.reload.swap(false, Ordering::SeqCst)
                        && mtime(&state.config_path) == seen
                    {
                        std::thread::sleep(Duration::from_secs(2));
                    }
                    if state.control.shutdown.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("the scheduler could not start: {e}");
    }
}

/// Keeps the tray's status line ("today 02:00", "next tomorrow 00:00") current.
fn start_minute_refresh<R: Runtime>(app: AppHandle<R>) {
    let _ = std::thread::Builder::new().name("tray-refresh".into()).spawn(move || {
        while !app.state::<AppState>().control.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(60));
            #[cfg(all(desktop, not(test)))]
            tray::refresh(&app);
        }
    });
}

/// stderr (as before) plus the daily log file in the data folder that the
/// Logs view shows (the same files as the CLI's).
fn init_tracing() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour only on a terminal, so log files and CI greps stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    let dir = nightjar_core::paths::DataDir::from_env().log_dir();
    let appender = std::fs::create_dir_all(&dir).ok().and_then(|()| {
        tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("nightjar")
            .filename_suffix("log")
            .max_log_files(14)
            .build(&dir)
            .ok()
    });
    let (file, guard) = match appender {
        Some(a) => {
            let (writer, guard) = tracing_appender::non_blocking(a);
            (Some(tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_filter(filter())), Some(guard))
        }
        None => (None, None),
    };
    // `try_init` so a second call (tests, embedding) is harmless.
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
    guard
}
