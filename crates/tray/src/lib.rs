//! Nightjar's desktop tray process (`nightjar-tray`): the tray icon, the
//! scheduler (the same service as `nightjar run`), "Backup now", restores
//! and checks started from the window, and desktop notifications.
//!
//! It links no GUI toolkit, so the process that runs all day stays small.
//! The window is a separate process (`nightjar-desktop`, a Tauri web view)
//! that the tray starts when the user opens it and that exits when they
//! close it; the two talk over [`proto`]. What the window shares with this
//! process (the view models, the protocol, the status summaries, the state
//! both open and the read-only helpers) is in `nightjar-desktop-shared`, so
//! the window links neither this crate nor its D-Bus libraries.

pub mod host;
pub mod notify;
pub mod runs;
pub mod tray;

mod process;

pub use nightjar_desktop_shared::{AppState, i18n, launch, local, lookup, models, proto, state, summary};
pub use process::main;
