//! Hearing about resume from sleep from the OS, so missed slots are caught
//! up right away. On Linux, logind broadcasts `PrepareForSleep(false)` on
//! the system bus after a resume. Where that is not available, the
//! scheduler's wall-clock jump check (see [`crate::scheduler::clock_jumped`])
//! still notices the sleep on its next tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Starts a background listener that raises `wake` after each resume.
/// Returns false when the OS signal is not available here (no system bus,
/// no logind, another OS); the clock-jump fallback covers that case.
pub fn watch_resume(wake: Arc<AtomicBool>, shutdown: Arc<AtomicBool>) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::watch(wake, shutdown)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (wake, shutdown);
        false
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Arc, AtomicBool, Ordering};
    use std::time::Duration;

    use dbus::blocking::Connection;
    use dbus::message::MatchRule;

    pub(super) fn watch(wake: Arc<AtomicBool>, shutdown: Arc<AtomicBool>) -> bool {
        let conn = match Connection::new_system() {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("no system bus, relying on clock-jump detection for resume: {e}");
                return false;
            }
        };
        let rule = MatchRule::new_signal("org.freedesktop.login1.Manager", "PrepareForSleep");
        let w = wake.clone();
        let added = conn.add_match(rule, move |(going_to_sleep,): (bool,), _, _| {
            if !going_to_sleep {
                tracing::info!("resumed from sleep (logind); checking for missed runs");
                w.store(true, Ordering::SeqCst);
            }
            true
        });
        if let Err(e) = added {
            tracing::debug!("cannot listen to logind, relying on clock-jump detection: {e}");
            return false;
        }
        std::thread::Builder::new()
            .name("resume-watch".into())
            .spawn(move || {
                while !shutdown.load(Ordering::SeqCst) {
                    if conn.process(Duration::from_millis(500)).is_err() {
                        break;
                    }
                }
            })
            .is_ok()
    }
}
