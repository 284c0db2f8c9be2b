//! Linux: resume from sleep as logind broadcasts it (`PrepareForSleep(false)`
//! on the system bus).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dbus::blocking::Connection;
use dbus::message::MatchRule;

pub(crate) fn watch(wake: Arc<AtomicBool>, shutdown: Arc<AtomicBool>) -> bool {
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
