//! Nightjar's desktop tray process (`nightjar-tray`): the tray icon, the
//! scheduler (the same service as `nightjar run`), "Backup now", restores
//! and checks started from the window, and desktop notifications.
//!
//! It links no GUI toolkit, so the process that runs all day stays small.
//! The window is a separate process (`nightjar-desktop`, a Tauri web view)
//! that the tray starts when the user opens it and that exits when they
//! close it; the two talk over [`proto`]. Shared with the window: the view
//! models ([`models`]), the status summaries ([`summary`]) and the state
//! both open ([`state`]).

pub mod host;
pub mod models;
pub mod notify;
pub mod proto;
pub mod runs;
pub mod state;
pub mod summary;
pub mod tray;

mod process;

pub use process::{HIDDEN_FLAG, NO_WINDOW_FLAG, QUIT_FLAG, init_tracing, main, sibling_exe, window_exe};
pub use state::AppState;
