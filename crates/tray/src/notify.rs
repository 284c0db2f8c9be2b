//! Desktop notifications through `notify-rust` (org.freedesktop.Notifications
//! on Linux, toasts on Windows, the notification centre on macOS): failure always (per the job's `[job.notify]`), success
//! when asked, stale jobs, OneDrive sign-in expired. Clicking one opens the
//! window on the view that explains it, where the server reports clicks.
//!
//! Titles and the sentences written here are in the config's language
//! (`[ui] language`); an error's own sentence comes from the core and
//! stays English.

use std::sync::Arc;

use nightjar_core::observer::Event;

use crate::i18n::{self, Lang, t};
use crate::state::AppState;

/// What a click on a notification does with the view it names.
pub type OnClick = Arc<dyn Fn(&'static str) + Send + Sync>;

/// The notification for `e` in `lang`, if the job wants one: (summary,
/// body, view to open). A failure's body is the core's sentence (English).
pub fn message_for(e: &Event, notify: &nightjar_core::config::NotifySettings, lang: Lang) -> Option<(String, String, &'static str)> {
    match e {
        Event::RunFailed { job, message, retry_at: None, .. } if notify.on_failure => {
            Some((t(lang, "notify.backup_failed", &[("job", job)]), message.clone(), "history"))
        }
        Event::RunFinished { job, file, size, duration_ms, .. } if notify.on_success => {
            let name = std::path::Path::new(file).file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            let body = t(lang, "notify.finished_body", &[("file", &name), ("size", &i18n::format_bytes(lang, *size)), ("duration", &i18n::format_duration(lang, *duration_ms))]);
            Some((t(lang, "notify.backup_finished", &[("job", job)]), body, "history"))
        }
        Event::JobStale { job, last_success, .. } if notify.on_stale => {
            let body = last_success.map_or_else(
                || t(lang, "notify.stale_never", &[]),
                |at| t(lang, "notify.stale_since", &[("when", &i18n::format_time(lang, "format.datetime", &at.with_timezone(&chrono::Local)))]),
            );
            Some((t(lang, "notify.stale", &[("job", job)]), body, "dashboard"))
        }
        Event::NotInCloud { job, message, .. } if notify.on_failure => Some((t(lang, "notify.not_in_cloud", &[("job", job)]), message.clone(), "history")),
        Event::OneDriveSignInExpired { message, .. } => Some((t(lang, "notify.signin_expired", &[]), message.clone(), "settings")),
        Event::ConfigInvalid { message } => Some((t(lang, "notify.config_invalid", &[]), message.clone(), "settings")),
        _ => None,
    }
}

/// Sends the notification `e` calls for, on a thread of its own.
pub fn for_event(state: &AppState, e: &Event, on_click: &OnClick) {
    let job = match e {
        Event::RunFailed { job, .. } | Event::RunFinished { job, .. } | Event::JobStale { job, .. } | Event::NotInCloud { job, .. } | Event::OneDriveSignInExpired { job, .. } => job.as_str(),
        // Not a job's: always said (the job's own settings cannot be read).
        Event::ConfigInvalid { .. } => "",
        _ => return,
    };
    let config = state.load_config().ok();
    let notify = config.as_ref().and_then(|c| c.jobs.iter().find(|j| j.name == job).map(|j| j.notify.clone())).unwrap_or_default();
    let lang = crate::summary::language(config.as_ref());
    if let Some((summary, body, view)) = message_for(e, &notify, lang) {
        let level = if matches!(e, Event::RunFinished { .. }) { Level::Info } else { Level::Failure };
        send(&summary, &body, view, level, lang, on_click.clone());
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

/// Shows a notification (its "Open Nightjar" action in `lang`); a click
/// opens the window on `view`.
pub fn send(summary: &str, body: &str, view: &'static str, level: Level, lang: Lang, on_click: OnClick) {
    let failure = level == Level::Failure;
    let (summary, body) = (summary.to_string(), body.to_string());
    #[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(unused_variables))]
    let open_label = t(lang, "notify.open", &[]);
    let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
        let mut n = notify_rust::Notification::new();
        n.appname("Nightjar").summary(&summary).body(&body).icon(if failure { "dialog-error" } else { "dialog-information" });
        #[cfg(all(unix, not(target_os = "macos")))]
        if failure {
            n.urgency(notify_rust::Urgency::Critical);
        }
        #[cfg(all(unix, not(target_os = "macos")))]
        n.action("default", &open_label);
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
        let (s, b, v) = message_for(&failed, &NotifySettings::default(), Lang::En).unwrap();
        assert_eq!((s.as_str(), b.as_str(), v), ("Backup failed: tg", "The server refused the password.", "history"));
        let retrying = Event::RunFailed { job: "tg".into(), trigger: Trigger::Scheduled, message: "x".into(), retry_at: Some(chrono::Utc::now()) };
        assert!(message_for(&retrying, &NotifySettings::default(), Lang::En).is_none());
        let ok = Event::RunFinished { job: "tg".into(), trigger: Trigger::Manual, file: "/b/tg_2026.sql.zst".into(), size: 12_345_678, duration_ms: 4200 };
        assert!(message_for(&ok, &NotifySettings::default(), Lang::En).is_none());
        let on = NotifySettings { on_success: true, ..NotifySettings::default() };
        assert_eq!(message_for(&ok, &on, Lang::En).unwrap().1, "tg_2026.sql.zst, 11.8 MiB, 4 s");
    }

    #[test]
    fn a_backup_missing_from_onedrive_is_reported_like_a_failure() {
        let late = Event::NotInCloud { job: "tg".into(), file: "tg_2026.sql.zst".into(), message: "The backup tg_2026.sql.zst has not reached OneDrive after 2 hour(s).".into() };
        let (s, b, v) = message_for(&late, &NotifySettings::default(), Lang::En).unwrap();
        assert_eq!((s.as_str(), v), ("Backup not in OneDrive: tg", "history"));
        assert!(b.contains("has not reached OneDrive"));
        let off = NotifySettings { on_failure: false, ..NotifySettings::default() };
        assert!(message_for(&late, &off, Lang::En).is_none());
    }

    #[test]
    fn a_russian_config_gets_russian_titles_and_keeps_the_cores_sentence() {
        let failed = Event::RunFailed { job: "tg".into(), trigger: Trigger::Scheduled, message: "The server refused the password.".into(), retry_at: None };
        let (s, b, v) = message_for(&failed, &NotifySettings::default(), Lang::Ru).unwrap();
        assert_eq!((s.as_str(), b.as_str(), v), ("Сбой резервного копирования: tg", "The server refused the password.", "history"));
        let ok = Event::RunFinished { job: "tg".into(), trigger: Trigger::Manual, file: "/b/tg_2026.sql.zst".into(), size: 12_345_678, duration_ms: 185_000 };
        let on = NotifySettings { on_success: true, ..NotifySettings::default() };
        let (s, b, _) = message_for(&ok, &on, Lang::Ru).unwrap();
        assert_eq!((s.as_str(), b.as_str()), ("Копия создана: tg", "tg_2026.sql.zst, 11,8 МиБ, 3 мин 5 с"));
        let stale = Event::JobStale { job: "tg".into(), last_success: None, deadline: chrono::Utc::now() };
        let (s, b, v) = message_for(&stale, &NotifySettings::default(), Lang::Ru).unwrap();
        assert_eq!((s.as_str(), v), ("Нет свежей копии: tg", "dashboard"));
        assert!(b.starts_with("Успешной копии ещё не было"), "{b}");
        let (s, _, _) = message_for(&stale, &NotifySettings::default(), Lang::Fr).unwrap();
        assert_eq!(s, "Pas de sauvegarde récente\u{202f}: tg", "French: a narrow no-break space before the colon");
    }
}
