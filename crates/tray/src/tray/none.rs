//! Where no tray backend is built (not Linux, Windows or macOS): no icon;
//! the schedules, the window channel and the notifications run anyway.

use std::sync::Arc;

use crate::host::Host;
use crate::state::AppState;

/// No tray.
pub struct TrayHandle;

impl TrayHandle {
    /// # Errors
    /// Always: this build has no tray icon for this OS.
    pub fn spawn(_host: &Arc<Host>) -> Result<Self, String> {
        Err("this build has no tray icon for this OS yet".into())
    }

    pub fn refresh(&self, _state: &AppState) {}

    pub fn shutdown(&self) {}
}

/// Blocks until quit.
pub fn wait_for_quit(host: &Arc<Host>) {
    host.wait_for_quit();
}
