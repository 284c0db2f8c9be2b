//! What Nightjar's two desktop processes share: the tray process
//! (`nightjar-tray`: tray icon, scheduler, runs, notifications) and the
//! window (`nightjar-desktop`: the Tauri web view).
//!
//! - [`models`]: the view models that cross to the page, and the error
//!   every command returns.
//! - [`proto`]: the socket protocol between the window and the tray process.
//! - [`local`]: the socket it runs on (a Unix socket, a named pipe on Windows).
//! - [`summary`]: what the Dashboard cards and the tray status line say.
//! - [`i18n`]: the languages (the catalogs in ui/i18n, the OS locale).
//! - [`state`]: the state both processes open (paths, history, secrets).
//! - [`lookup`]: read-only helpers both use (a restore's plan, a history
//!   row and its file).
//! - [`launch`]: the flags the two programs start each other with, where
//!   the other program is, and the log.
//!
//! It links no GUI toolkit and no D-Bus library, so the window does not
//! carry the tray's and the tray does not carry the window's.

pub mod i18n;
pub mod launch;
pub mod local;
pub mod lookup;
pub mod models;
pub mod proto;
pub mod state;
pub mod summary;

pub use state::AppState;
