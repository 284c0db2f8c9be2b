//! Nightjar's desktop shell: a tray icon, one window with the static `ui/`
//! page, and thin IPC commands over `nightjar-core`.
//!
//! [`run`] is what `main` calls. [`run_app`] takes the builder and an extra
//! setup hook so tests can drive the same wiring with
//! `tauri::test::mock_builder()`.
//!
//! Closing the window hides it; the app keeps running in the tray until the
//! user picks "Quit".

mod commands;
mod models;
// Unit tests drive the shell with a mock runtime and no display: no tray there.
#[cfg(all(desktop, not(test)))]
mod tray;

use std::io::IsTerminal as _;

use tauri::{App, RunEvent, Runtime, WindowEvent};
use tracing_subscriber::EnvFilter;

/// Label of the main window, as declared in `tauri.conf.json`.
pub(crate) const MAIN_WINDOW: &str = "main";

/// Starts the desktop app and blocks until it exits.
///
/// Logs go to stderr; `RUST_LOG` overrides the default `info` level.
pub fn run() {
    init_tracing();
    run_app(tauri::Builder::default(), |_app| {});
}

/// Wires commands, the tray and window behaviour onto `builder`, calls
/// `setup`, and runs the event loop.
///
/// # Panics
/// Panics if the app cannot be built (for example, no display to open the
/// window on).
pub fn run_app<R: Runtime, F: FnOnce(&App<R>) + Send + 'static>(
    builder: tauri::Builder<R>,
    setup: F,
) {
    let app = builder
        .invoke_handler(tauri::generate_handler![commands::app_info])
        .setup(move |app| {
            #[cfg(all(desktop, not(test)))]
            tray::create_tray(app.handle())?;
            setup(app);
            Ok(())
        })
        .on_window_event(|window, event| {
            // A tray app outlives its window: closing only hides it.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == MAIN_WINDOW
            {
                api.prevent_close();
                if let Err(error) = window.hide() {
                    tracing::warn!(%error, "could not hide the main window");
                }
            }
        })
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("failed to build the Nightjar desktop app");

    app.run(|_app, event| {
        // `code` is `None` when the last window went away, `Some` after `app.exit()`.
        if let RunEvent::ExitRequested { api, code, .. } = event
            && code.is_none()
        {
            api.prevent_exit();
        }
    });
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init` so a second call (tests, embedding) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal, so log files and CI greps stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
