//! Desktop notifications through `notify-rust` (org.freedesktop.Notifications
//! on Linux, toasts on Windows, the notification centre on macOS): failure always (per the job's `[job.notify]`), success
//! when asked, stale jobs, OneDrive sign-in expired. Clicking one opens the
//! window on the view that explains it, where the server reports clicks.

use std::sync::Arc;

use nightjar_core::observer::Event;

use crate::state::AppState;

/// What a click on a notification does with the view it names.
pub type OnClick = Arc<dyn Fn(&'static str) + Send + Sync>;

/// "850 ms", "12 s", "3 min 5 s".
pub fn human_duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{} s", ms / 1000),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The notification for `e`, if the job wants one: (summary, body, view to open).
pub fn message_for(e: &Event, notify: &nightjar_core::config::NotifySettings) -> Option<(String, String, &'static str)> {
    match e {
        Event::RunFailed { job, message, retry_at: None, .. } if notify.on_failure => {
            Some((format!("Backup failed: {job}"), message.clone(), "history"))
        }
        Event::RunFinished { job, file, size, duration_ms, .. } if notify.on_success => {
            let name = std::path::Path::new(file).file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            Some((format!("Backup finished: {job}"), format!("{name}, {}, {}", nightjar_core::units::format_bytes(*size), human_duration(*duration_ms)), "history"))
        }
        Event::JobStale { job, last_success, .. } if notify.on_stale => {
            let when = last_success.map_or_else(
                || "It has never had a good backup".to_string(),
                |t| format!("Its last good backup is from {}", t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")),
            );
            Some((format!("No recent backup: {job}"), format!("{when}; open Nightjar to see why."), "dashboard"))
        }
        Event::NotInCloud { job, message, .. } if notify.on_failure => Some((format!("Backup not in OneDrive: {job}"), message.clone(), "history")),
        Event::OneDriveSignInExpired { message, .. } => Some(("OneDrive sign-in expired".to_string(), message.clone(), "settings")),
        _ => None,
    }
}

/// Sends the notification `e` calls for, on a thread of its own.
pub fn for_event(state: &AppState, e: &Event, on_click: &OnClick) {
    let job = match e {
        Event::RunFailed { job, .. } | Event::RunFinished { job, .. } | Event::JobStale { job, .. } | Event::NotInCloud { job, .. } | Event::OneDriveSignInExpired { job, .. } => job,
        _ => return,
    };
    let notify = state
        .load_config()
        .ok()
        .and_then(|c| c.jobs.iter().find(|j| &j.name == job).map(|j| j.notify.clone()))
        .unwrap_or_default();
    if let Some((summary, body, view)) = message_for(e, &notify) {
        let level = if matches!(e, Event::RunFinished { .. }) { Level::Info } else { Level::Failure };
        send(&summary, &body, view, level, on_click.clone());
    }
}

/// How a notification looks: a failure is critical, with an error icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Failure,
    Info,
}

/// The AppUserModelID toasts are shown under on Windows: the app's
/// identifier in tauri.conf.json.
#[cfg(windows)]
pub const APP_USER_MODEL_ID: &str = "app.nightjar.desktop";

/// Calls `clicked` when the user clicks the notification (its body, or
/// "Open Nightjar" where the server shows actions); returns once it is gone.
#[cfg(all(unix, not(target_os = "macos")))]
fn wait_for_click(handle: notify_rust::NotificationHandle, clicked: impl FnOnce()) {
    handle.wait_for_action(|action| {
        if action == "default" {
            clicked();
        }
    });
}

/// Calls `clicked` when the user clicks the toast or the banner; returns
/// once it is gone. Clicks arrive while this process runs (the tray
/// process always does); on macOS they need the main run loop, which the
/// tray icon runs there.
#[cfg(any(windows, target_os = "macos"))]
fn wait_for_click(handle: notify_rust::NotificationHandle, clicked: impl FnOnce()) {
    use notify_rust::NotificationResponse;
    let r = handle.wait_for_response(|r: &NotificationResponse| {
        if matches!(r, NotificationResponse::Default) || matches!(r, NotificationResponse::Action(a) if a == "default") {
            clicked();
        }
    });
    if let Err(e) = r {
        tracing::debug!("no answer from the notification: {e}");
    }
}

/// Shows a notification; a click opens the window on `view`.
pub fn send(summary: &str, body: &str, view: &'static str, level: Level, on_click: OnClick) {
    let failure = level == Level::Failure;
    let (summary, body) = (summary.to_string(), body.to_string());
    let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
        let mut n = notify_rust::Notification::new();
        n.appname("Nightjar").summary(&summary).body(&body).icon(if failure { "dialog-error" } else { "dialog-information" });
        #[cfg(all(unix, not(target_os = "macos")))]
        if failure {
            n.urgency(notify_rust::Urgency::Critical);
        }
        #[cfg(all(unix, not(target_os = "macos")))]
        n.action("default", "Open Nightjar");
        // A toast shows under the app's AppUserModelID: the installer's Start
        // menu shortcut carries it (Tauri's bundler uses the identifier in
        // tauri.conf.json). A failure stays on screen until dismissed.
        #[cfg(windows)]
        {
            n.app_id(APP_USER_MODEL_ID);
            if failure {
                n.urgency(notify_rust::Urgency::Critical);
            }
        }
        match n.show() {
            Ok(handle) => {
                tracing::info!(summary, "notification sent");
                wait_for_click(handle, move || on_click(view));
            }
            Err(e) => tracing::warn!(summary, "the desktop notification could not be shown: {e}"),
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("could not start the notification thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightjar_core::config::NotifySettings;
    use nightjar_core::model::Trigger;

    #[test]
    fn failure_always_success_only_when_asked() {
        let failed = Event::RunFailed { job: "tg".into(), trigger: Trigger::Scheduled, message: "The server refused the password.".into(), retry_at: None };
        let (s, b, v) = message_for(&failed, &NotifySettings::default()).unwrap();
        assert_eq!((s.as_str(), b.as_str(), v), ("Backup failed: tg", "The server refused the password.", "history"));
        let retrying = Event::RunFailed { job: "tg".into(), trigger: Trigger::Scheduled, message: "x".into(), retry_at: Some(chrono::Utc::now()) };
        assert!(message_for(&retrying, &NotifySettings::default()).is_none());
        let ok = Event::RunFinished { job: "tg".into(), trigger: Trigger::Manual, file: "/b/tg_2026.sql.zst".into(), size: 12_345_678, duration_ms: 4200 };
        assert!(message_for(&ok, &NotifySettings::default()).is_none());
        let on = NotifySettings { on_success: true, ..NotifySettings::default() };
        assert_eq!(message_for(&ok, &on).unwrap().1, "tg_2026.sql.zst, 11.8 MiB, 4 s");
    }

    #[test]
    fn a_backup_missing_from_onedrive_is_reported_like_a_failure() {
        let late = Event::NotInCloud { job: "tg".into(), file: "tg_2026.sql.zst".into(), message: "The backup tg_2026.sql.zst has not reached OneDrive after 2 hour(s).".into() };
        let (s, b, v) = message_for(&late, &NotifySettings::default()).unwrap();
        assert_eq!((s.as_str(), v), ("Backup not in OneDrive: tg", "history"));
        assert!(b.contains("has not reached OneDrive"));
        let off = NotifySettings { on_failure: false, ..NotifySettings::default() };
        assert!(message_for(&late, &off).is_none());
    }
}
