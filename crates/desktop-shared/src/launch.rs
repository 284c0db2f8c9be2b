//! How the two desktop programs start each other and log: the flags, where
//! the other program is, and the log both write.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use nightjar_core::paths::DataDir;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Start in the tray only (start at login).
pub const HIDDEN_FLAG: &str = "--hidden";
/// Start in the tray only: a window process is starting this one and is the
/// window; it writes the window token on this process's stdin.
pub const NO_WINDOW_FLAG: &str = "--no-window";
/// Ask the running tray process to quit, and wait until it has.
pub const QUIT_FLAG: &str = "--quit";
/// Flag the tray process starts the window process with.
pub const WINDOW_FLAG: &str = "--window";

/// The program `$<env>` names, else `<name>` next to the running program
/// (the two desktop programs are installed side by side).
#[must_use]
pub fn sibling_exe(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let file = if cfg!(windows) { format!("{name}.exe") } else { name.to_string() };
    std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join(&file))).unwrap_or_else(|| PathBuf::from(file))
}

/// The window program: `$NIGHTJAR_WINDOW_BIN`, else `nightjar-desktop` next to this program.
#[must_use]
pub fn window_exe() -> PathBuf {
    sibling_exe("NIGHTJAR_WINDOW_BIN", "nightjar-desktop")
}

/// stderr plus the daily log file in the data folder that the Logs view
/// shows (the same files as the CLI's). Keep the guard until exit.
pub fn init_tracing() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour only on a terminal, so log files and CI greps stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    let (file, guard) = match DataDir::from_env().log_appender() {
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
