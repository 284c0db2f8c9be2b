//! Windows: Ctrl-C, Ctrl-Break and closing the console quit cleanly (a
//! running backup is cancelled, its partial file removed). There is no
//! SIGHUP: the scheduler reloads the config when the file changes, and the
//! window tells the tray process when Settings saved it (`Op::Changed`).

use std::sync::Arc;

use crate::host::Host;

/// Quits on Ctrl-C, Ctrl-Break and console close.
pub(super) fn watch_signals(host: &Arc<Host>) {
    let host = host.clone();
    if let Err(e) = ctrlc::set_handler(move || host.quit()) {
        tracing::warn!("Ctrl-C is not handled: {e}");
    }
}
