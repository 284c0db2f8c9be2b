//! `nightjar-tray`'s start and end: one tray process per data folder, the
//! socket the window connects to, signals, and the log.
//!
//! What differs per OS is in `process/unix.rs` (signals) and
//! `process/windows.rs` (Ctrl-C and console close); the socket is
//! [`crate::local`]'s.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix::watch_signals;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::watch_signals;

use std::path::Path;
use std::time::{Duration, Instant};

use nightjar_core::paths::DataDir;

use crate::host::Host;
use crate::launch::{HIDDEN_FLAG, NO_WINDOW_FLAG, QUIT_FLAG, init_tracing, window_exe};
use crate::local;
use crate::proto::{self, Op};
use crate::state::AppState;

/// Holds the data folder's single-instance lock for the process's life;
/// false when another tray process holds it.
///
/// `File::try_lock`: `flock` on Linux (as before), `LockFileEx` on Windows.
fn take_instance_lock(root: &Path) -> std::io::Result<bool> {
    let file = nightjar_core::private::file_options().create(true).truncate(false).write(true).open(root.join("desktop.lock"))?;
    match file.try_lock() {
        Ok(()) => {
            // The OS releases the lock when the process ends, however it ends.
            std::mem::forget(file);
            Ok(true)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether another process holds the data folder's single-instance lock
/// (a tray process runs there), without creating anything.
fn instance_lock_held(root: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(root.join("desktop.lock")) else {
        return false;
    };
    // Taking it ourselves means none holds it; it goes again with `file`.
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Hands `op` to the tray process that holds the lock (it may still be
/// binding its socket: tries for 10 s).
fn hand_over(root: &Path, op: Op) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match proto::one_shot(root, op.clone(), matches!(op, Op::Quit)) {
            Ok(_) => return 0,
            Err(e) if Instant::now() >= deadline => {
                eprintln!("nightjar-tray: Nightjar is running but does not answer ({e}); quit it and start it again.");
                return 1;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `nightjar-tray [--hidden | --no-window | --quit]`; returns the exit code.
#[must_use]
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let data = DataDir::from_env();
    let root = data.root().to_path_buf();
    if has(QUIT_FLAG) {
        if proto::one_shot(&root, Op::Quit, true).is_ok() {
            return 0;
        }
        // No answer: either none runs, or one has just started and is still
        // binding its socket or pipe (start at login, then a quick --quit).
        // The single-instance lock tells which.
        return if instance_lock_held(&root) {
            hand_over(&root, Op::Quit)
        } else {
            eprintln!("nightjar-tray: Nightjar is not running.");
            0
        };
    }
    let _guard = init_tracing();
    let no_window = has(HIDDEN_FLAG) || has(NO_WINDOW_FLAG);
    if let Err(e) = data.ensure() {
        tracing::error!("cannot create the data folder {}: {e}", root.display());
        return 1;
    }
    match take_instance_lock(&root) {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("Nightjar is already running; showing its window");
            return if no_window { 0 } else { hand_over(&root, Op::Open { view: None }) };
        }
        Err(e) => {
            tracing::error!("cannot lock {}: {e}", root.join("desktop.lock").display());
            return 1;
        }
    }
    let listener = match local::bind(&root) {
        Ok(l) => l,
        Err(e) => {
            let at = local::address(&root);
            tracing::error!("cannot listen on {at}: {e}");
            eprintln!("nightjar-tray: cannot listen on {at} ({e}).");
            return 1;
        }
    };
    tracing::info!(at = %local::address(&root), "listening for the window");
    let state = match AppState::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{}", e.detailed());
            eprintln!("nightjar-tray: {e}");
            return 1;
        }
    };
    // The window process that started this one handed its token over on
    // stdin; else this process makes one and hands it to the windows it starts.
    let handed = if has(NO_WINDOW_FLAG) { proto::token_from_stdin() } else { None };
    let token = match handed.map_or_else(proto::new_token, Ok) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot make the window token: {e}");
            eprintln!("nightjar-tray: cannot make the window token ({e}).");
            return 1;
        }
    };
    let host = Host::new(state, window_exe(), token);
    if let Some(m) = &host.state.history_moved_aside {
        let lang = host.lang();
        host.notify(&crate::i18n::t(lang, "notify.history_damaged", &[]), &m.message(), "history", crate::notify::Level::Failure);
    }
    if let Ok(config) = host.state.load_config() {
        crate::host::install_onedrive(&host.state, &config);
    }
    host.serve(listener);
    match crate::tray::TrayHandle::spawn(&host) {
        Ok(t) => {
            host.set_tray(t);
            tracing::info!("tray ready");
        }
        #[cfg(target_os = "linux")]
        Err(e) => tracing::warn!("no tray icon (is there a desktop session bus?): {e}; the schedules run anyway"),
        #[cfg(not(target_os = "linux"))]
        Err(e) => tracing::warn!("no tray icon: {e}; the schedules run anyway"),
    }
    host.start_scheduler();
    host.start_minute_refresh();
    watch_signals(&host);
    if !no_window {
        host.open_window(None);
    }
    // On macOS the main thread runs the tray icon's event loop meanwhile.
    crate::tray::wait_for_quit(&host);
    local::unbind(&root);
    tracing::info!("Nightjar stopped");
    0
}
