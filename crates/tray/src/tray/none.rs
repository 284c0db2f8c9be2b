//! Where no tray backend is wired (macOS for now): no icon; the schedules,
//! the window channel and the notifications run anyway.
//!
//! On macOS, tray-icon (AppKit's `NSStatusItem`) must be created on the main
//! thread and needs the main run loop running there. This process's main
//! thread waits for quit ([`crate::host::Host::wait_for_quit`]), so a macOS
//! backend moves that wait to a thread, makes the icon on the main thread and
//! runs `NSApplication` there (an accessory app, no Dock icon), stopping it on
//! quit; refreshes reach it through the main dispatch queue.

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
