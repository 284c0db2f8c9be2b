//! `nightjar-tray`'s start and end: one tray process per data folder, the
//! socket the window connects to, signals, and the log.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use nightjar_core::paths::DataDir;

use crate::host::Host;
use crate::launch::{HIDDEN_FLAG, NO_WINDOW_FLAG, QUIT_FLAG, init_tracing, window_exe};
use crate::proto::{self, Op};
use crate::state::AppState;

/// Holds the data folder's single-instance lock for the process's life;
/// false when another tray process holds it.
fn take_instance_lock(root: &Path) -> std::io::Result<bool> {
    let file = nightjar_core::private::file_options().create(true).truncate(false).write(true).open(root.join("desktop.lock"))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            // The kernel releases the lock when the process ends, however it ends.
            std::mem::forget(file);
            Ok(true)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Binds the window socket at `socket` so that it is never reachable by
/// another user, not even for a moment.
///
/// The socket file's mode comes from the umask at `bind`, and the umask is
/// the whole process's: changing it here would race the log writer's thread,
/// which may be creating a file at that moment. So the socket is bound
/// inside a fresh folder of its own that only the owner can enter (0700),
/// made owner-only (0600) there, and only then renamed into place; the
/// rename also replaces the socket a killed tray process left behind.
fn bind_private(socket: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = socket.with_file_name(format!(".desktop.sock.{}", std::process::id()));
    // Left by an earlier process with the same pid: nothing else uses it (this one holds the instance lock).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let bound = (|| {
        let inner = dir.join("desktop.sock");
        let listener = UnixListener::bind(&inner)?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&inner, socket)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    bound
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
        return match proto::one_shot(&root, Op::Quit, true) {
            Ok(_) => 0,
            Err(_) => {
                eprintln!("nightjar-tray: Nightjar is not running.");
                0
            }
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
    let socket = proto::socket_path(&root);
    let listener = match bind_private(&socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", socket.display());
            eprintln!("nightjar-tray: cannot listen on {} ({e}).", socket.display());
            return 1;
        }
    };
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
        host.notify("Backup history damaged", &m.message(), "history", crate::notify::Level::Failure);
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
        Err(e) => tracing::warn!("no tray icon (is there a desktop session bus?): {e}; the schedules run anyway"),
    }
    host.start_scheduler();
    host.start_minute_refresh();
    watch_signals(&host);
    if !no_window {
        host.open_window(None);
    }
    host.wait_for_quit();
    let _ = std::fs::remove_file(&socket);
    tracing::info!("Nightjar stopped");
    0
}

/// SIGTERM and SIGINT quit cleanly (a running backup is cancelled, its
/// partial file removed); SIGHUP reloads the config.
fn watch_signals(host: &std::sync::Arc<Host>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("signals are not handled: {e}");
            return;
        }
    };
    let host = host.clone();
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                host.state.control.reload.store(true, std::sync::atomic::Ordering::SeqCst);
            } else {
                host.quit();
            }
        }
    });
}
