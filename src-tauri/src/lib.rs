//! Nightjar's window: the static `ui/` page in a Tauri web view, with thin
//! IPC commands over `nightjar-core`.
//!
//! The window is its own process. The tray process (`nightjar-tray`, no GUI
//! toolkit) owns the tray icon, the scheduler and every backup and restore;
//! it starts this program with `--window` when the user opens the window,
//! and this program exits when the window closes, so an idle Nightjar does
//! not keep a web engine in memory. Started by hand, this program asks the
//! running tray process to open its window and exits, or, when none runs,
//! starts the tray process and is the window. Either way the window holds
//! the tray process's window token (see `nightjar_desktop_shared::proto`),
//! handed over on stdin, without which the tray process changes nothing.
//! Commands that read (history, settings, plans, logs) run here against the
//! same files, with the helpers the tray process uses too
//! (`nightjar-desktop-shared`); runs, pause and notifications go to the tray
//! process over [`link`]. This crate does not link the tray process's code
//! or its D-Bus libraries.
//!
//! [`run`] is what `main` calls. [`build_app`] takes the builder, the state,
//! the link and a setup hook so tests can drive the same wiring with
//! `tauri::test::mock_builder()`.

mod commands;
pub mod link;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use nightjar_core::config::Config;
use nightjar_core::paths::DataDir;
use nightjar_desktop_shared::launch;
use nightjar_desktop_shared::proto::{self, HostClient, Op};
use tauri::{App, AppHandle, Manager as _, RunEvent, Runtime};

pub(crate) use nightjar_desktop_shared::{models, state, summary};
pub use nightjar_desktop_shared::AppState;
pub use link::Link;

/// Label of the main window, as declared in `tauri.conf.json`.
pub(crate) const MAIN_WINDOW: &str = "main";

/// Command-line flag (used by start at login) to start in the tray only.
pub const HIDDEN_FLAG: &str = launch::HIDDEN_FLAG;

/// The tray program: `$NIGHTJAR_TRAY_BIN`, else `nightjar-tray` next to this program.
fn tray_exe() -> std::path::PathBuf {
    launch::sibling_exe("NIGHTJAR_TRAY_BIN", "nightjar-tray")
}

/// Starts the tray process (in its own process group, so it outlives this
/// window and a Ctrl-C meant for it); `token`, when given, is written on its
/// stdin (never on its command line, which every user can read).
fn start_tray(flag: &str, token: Option<&str>) -> std::io::Result<std::process::Child> {
    use std::io::Write as _;
    let stdin = if token.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() };
    let mut cmd = std::process::Command::new(tray_exe());
    cmd.arg(flag).stdin(stdin);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // CREATE_NEW_PROCESS_GROUP: Ctrl-C in this window's console does not reach it.
    #[cfg(windows)]
    std::os::windows::process::CommandExt::creation_flags(&mut cmd, 0x0000_0200);
    let mut child = cmd.spawn()?;
    if let (Some(token), Some(mut pipe)) = (token, child.stdin.take()) {
        writeln!(pipe, "{token}")?;
    }
    Ok(child)
}

/// Asks the running tray process to show its window (starting one that
/// holds its token); this process then has nothing left to do.
fn hand_over(root: &std::path::Path) -> Result<(), String> {
    tracing::info!("Nightjar is already running; asking it to show its window");
    match proto::one_shot(root, Op::Open { view: None }, false) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("Nightjar is running but does not answer ({e}); quit it and start it again")),
    }
}

/// The tray process to work with and the window token it knows; `None`
/// when the running tray process was asked to open its own window instead.
///
/// Started by the tray process (`--window`), the token is on stdin. Started
/// by hand, this process cannot learn the running tray process's token, so
/// it hands over; when none runs, it makes a token and starts the tray
/// process with it.
fn connect(root: &std::path::Path) -> Result<Option<(HostClient, String)>, String> {
    let handed = if std::env::args().any(|a| a == launch::WINDOW_FLAG) { proto::token_from_stdin() } else { None };
    if let Some(token) = handed {
        return HostClient::connect(root).map(|c| Some((c, token))).map_err(|e| format!("cannot reach the tray process that started this window ({e})"));
    }
    if HostClient::connect(root).is_ok() {
        return hand_over(root).map(|()| None);
    }
    tracing::info!("starting the tray process");
    let token = proto::new_token().map_err(|e| format!("cannot make the window token ({e})"))?;
    let child = start_tray(launch::NO_WINDOW_FLAG, Some(&token)).map_err(|e| format!("could not start {} ({e}); reinstall Nightjar", tray_exe().display()))?;
    match wait_for_tray(root, child)? {
        TrayStart::Answering(c) => Ok(Some((c, token))),
        TrayStart::Silent => Err("the tray process did not answer within 20 s; see the log".into()),
    }
}

/// How a tray process just started turned out.
enum TrayStart {
    /// It answers (and is reaped in the background: it keeps running after this process).
    Answering(HostClient),
    /// No answer within 20 s (it may have exited 0: another one holds the data folder).
    Silent,
}

/// Waits up to 20 s for the tray process just started to answer.
///
/// # Errors
/// It exited with a failure.
fn wait_for_tray(root: &std::path::Path, mut child: std::process::Child) -> Result<TrayStart, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = HostClient::connect(root) {
            std::thread::spawn(move || child.wait());
            return Ok(TrayStart::Answering(c));
        }
        // Exiting 0 means another tray process holds the data folder and is about to listen.
        if let Ok(Some(status)) = child.try_wait()
            && !status.success()
        {
            return Err(format!("the tray process stopped at start ({status}); see the log"));
        }
        if Instant::now() >= deadline {
            return Ok(TrayStart::Silent);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start at login: returns once the tray process just started answers (so
/// whatever comes next, a quick `--quit` too, finds it), or it exited
/// because another one runs; the exit code for this process.
fn wait_until_listening(root: &std::path::Path, child: std::process::Child) -> i32 {
    match wait_for_tray(root, child) {
        Ok(TrayStart::Answering(_)) => 0,
        Ok(TrayStart::Silent) => {
            eprintln!("nightjar-desktop: the tray process did not answer within 20 s; it may still be starting (see the log).");
            0
        }
        Err(e) => {
            eprintln!("nightjar-desktop: {e}.");
            1
        }
    }
}

/// Starts the window (and the tray process when it is not running) and
/// blocks until the window closes. With `--hidden` (start at login) only
/// the tray process is started.
pub fn run() {
    let _guard = launch::init_tracing();
    if std::env::args().any(|a| a == HIDDEN_FLAG) {
        match start_tray(HIDDEN_FLAG, None) {
            Ok(child) => std::process::exit(wait_until_listening(DataDir::from_env().root(), child)),
            Err(e) => {
                eprintln!("nightjar-desktop: could not start {} ({e}).", tray_exe().display());
                std::process::exit(1);
            }
        }
    }
    let root = DataDir::from_env().root().to_path_buf();
    let (client, token) = match connect(&root) {
        Ok(Some(c)) => c,
        // The running tray process opens its own window.
        Ok(None) => return,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("nightjar-desktop: {e}");
            std::process::exit(1);
        }
    };
    let state = match AppState::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar-desktop: {e}");
            std::process::exit(1);
        }
    };
    let link = Link::new(client);
    let reader = link.clone();
    let builder = tauri::Builder::default()
        // First, so a second window process only focuses this one.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("second launch: focusing the window");
            show_main_window(app);
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, Some(vec![HIDDEN_FLAG])));
    run_app(builder, state, link, move |app| {
        // Only now: a second window process has been sent to the first by
        // the single-instance plugin before it gets here.
        reader.start_reader(app.handle().clone());
        if let Err(e) = reader.call(Op::Window { token }, None) {
            // Another tray process won the race to start (it has a token of
            // its own): it opens the window instead.
            tracing::warn!("{}", e.message);
            if let Err(e) = hand_over(&root) {
                tracing::error!("{e}");
            }
            app.handle().exit(0);
            return;
        }
        show_main_window(app.handle());
    });
}

/// Wires commands and state onto `builder`, calls `setup`, and runs the
/// event loop until the window closes or the tray process says quit.
///
/// # Panics
/// Panics if the app cannot be built (for example, no display to open the
/// window on).
pub fn run_app<R: Runtime, F: FnOnce(&App<R>) + Send + 'static>(builder: tauri::Builder<R>, state: AppState, link: Link, setup: F) {
    let app = build_app(builder, state, link, setup).build(tauri::generate_context!("../tauri.conf.json")).expect("failed to build the Nightjar window");
    app.run(|_app, event| {
        if let RunEvent::Exit = event {
            tracing::info!("window closed");
        }
    });
}

/// The builder with Nightjar's commands and state.
pub fn build_app<R: Runtime, F: FnOnce(&App<R>) + Send + 'static>(builder: tauri::Builder<R>, state: AppState, link: Link, setup: F) -> tauri::Builder<R> {
    if let Ok(config) = state.load_config() {
        install_onedrive(&state, &config);
    }
    builder
        .manage(state)
        .manage(link)
        .manage(commands::discover::DiscoverCache::default())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::take_navigation,
            commands::language::ui_language,
            commands::language::ui_language_set,
            commands::dashboard::overview,
            commands::dashboard::backup_now,
            commands::dashboard::cancel_run,
            commands::dashboard::set_paused,
            commands::dashboard::job_charts,
            commands::history::history_list,
            commands::history::history_stats,
            commands::history::reveal_file,
            commands::history::verify_backup,
            commands::history::delete_backup,
            commands::history::save_copy,
            commands::restore::pick_backup_file,
            commands::restore::pick_key_file,
            commands::restore::restore_plan,
            commands::restore::restore_run,
            commands::restore::job_backups,
            commands::settings::settings_get,
            commands::settings::job_save,
            commands::settings::job_delete,
            commands::settings::job_set_enabled,
            commands::settings::password_set,
            commands::settings::password_delete,
            commands::settings::test_connection,
            commands::settings::schedule_preview,
            commands::settings::connection_split,
            commands::settings::connection_join,
            commands::settings::onedrive_browse,
            commands::settings::pick_folder,
            commands::settings::encryption_new_key,
            commands::settings::encryption_passphrase,
            commands::settings::autostart_set,
            commands::settings::onedrive_sign_in,
            commands::settings::onedrive_sign_in_device,
            commands::settings::onedrive_app_save,
            commands::settings::open_onedrive_guide,
            commands::settings::autostart_offer,
            commands::settings::autostart_offer_answer,
            commands::settings::onedrive_sign_out,
            commands::settings::send_test_notification,
            commands::settings::alerts_get,
            commands::settings::alert_save,
            commands::settings::alert_delete,
            commands::settings::alert_secret_set,
            commands::settings::alert_test,
            commands::logs::logs_tail,
            commands::discover::discover,
            commands::discover::discover_login,
            commands::discover::protect,
        ])
        .setup(move |app| {
            setup(app);
            Ok(())
        })
}

/// Lets this process read `onedrive:` destinations with the config's settings.
pub(crate) fn install_onedrive(state: &AppState, config: &Config) {
    nightjar_desktop_shared::state::install_onedrive(state, config);
}

/// Shows the main window, building it when it is not there yet.
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
