//! Unix: SIGTERM and SIGINT quit cleanly, SIGHUP reloads the config.

use std::sync::Arc;

use crate::host::Host;

/// SIGTERM and SIGINT quit cleanly (a running backup is cancelled, its
/// partial file removed); SIGHUP reloads the config.
pub(super) fn watch_signals(host: &Arc<Host>) {
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
