//! The tray icon and its menu, one interface ([`TrayHandle`]) per OS:
//!
//! - Linux: a StatusNotifierItem with a dbusmenu, spoken straight over the
//!   session bus (no GTK in this process): `tray/sni.rs`.
//! - Windows and macOS: the `tray-icon` crate (a native Win32
//!   notification-area icon or AppKit status item, and menu): on a thread
//!   running a Win32 message loop on Windows, on the main thread running
//!   AppKit's loop on macOS (so the main thread waits for quit through
//!   [`wait_for_quit`]): `tray/native.rs`.
//! - Elsewhere no icon: `tray/none.rs`.
//!
//! The first line is a disabled status item, updated after every run and
//! once a minute; the icon shows idle, running, or failed/stale; the
//! tooltip carries the status line. Every click goes through [`Action`] and
//! runs on a thread of its own, so the menu never waits for a backup. What
//! the menu holds ([`menu_spec`]) and the icons' pixels ([`icon_rgba`]) are
//! the same everywhere.

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use nightjar_core::state::StateFile;

use crate::host::Host;
use crate::i18n::t;
use crate::summary::{IconState, TraySummary};

#[cfg(target_os = "linux")]
mod sni;
#[cfg(target_os = "linux")]
pub use sni::TrayHandle;

#[cfg(any(windows, target_os = "macos"))]
mod native;
#[cfg(any(windows, target_os = "macos"))]
pub use native::{TrayHandle, wait_for_quit};

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod none;
#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
pub use none::{TrayHandle, wait_for_quit};

/// Blocks until quit ([`Host::wait_for_quit`]); the tray icon has its own
/// thread here.
#[cfg(target_os = "linux")]
pub fn wait_for_quit(host: &Arc<Host>) {
    host.wait_for_quit();
}

/// What a menu item does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Backup(Option<String>),
    Restore,
    Open,
    TogglePause,
    OpenFolder,
    Quit,
}

/// One menu line (`None` in the menu is a separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub enabled: bool,
    /// A submenu's items (the first is followed by a separator).
    pub sub: Vec<(String, Action)>,
    pub action: Option<Action>,
}

fn entry(label: &str, enabled: bool, action: Option<Action>) -> Option<Entry> {
    Some(Entry { label: label.to_string(), enabled, sub: Vec::new(), action })
}

/// The menu for a summary, in its language: labels, enabled states and
/// what each item does (kept apart from the tray backends so it is tested
/// without a bus). The config is read at every refresh, so a language
/// saved in Settings shows at once.
#[must_use]
pub fn menu_spec(s: &TraySummary) -> Vec<Option<Entry>> {
    let lang = s.lang;
    let backup_now = t(lang, "tray.backup_now", &[]);
    let backup = if s.jobs.len() > 1 {
        let mut sub = vec![(t(lang, "tray.all_jobs", &[]), Action::Backup(None))];
        sub.extend(s.jobs.iter().map(|j| (j.clone(), Action::Backup(Some(j.clone())))));
        Some(Entry { label: backup_now, enabled: true, sub, action: None })
    } else {
        entry(&backup_now, !s.jobs.is_empty(), Some(Action::Backup(None)))
    };
    let open = if s.not_set_up { t(lang, "tray.set_up", &[]) } else { t(lang, "tray.open", &[]) };
    let pause = if s.paused { t(lang, "tray.resume", &[]) } else { t(lang, "tray.pause", &[]) };
    vec![
        entry(&s.line, false, None),
        None,
        backup,
        entry(&t(lang, "tray.restore_from_file", &[]), true, Some(Action::Restore)),
        entry(&open, true, Some(Action::Open)),
        None,
        entry(&pause, true, Some(Action::TogglePause)),
        entry(&t(lang, "tray.open_folder", &[]), s.folder.is_some(), Some(Action::OpenFolder)),
        None,
        entry(&t(lang, "tray.quit", &[]), true, Some(Action::Quit)),
    ]
}

/// Carries out a menu item.
pub fn run_action(host: &Arc<Host>, action: Action) {
    match action {
        Action::Backup(job) => {
            tracing::info!(job = job.as_deref().unwrap_or("all"), "backup requested from tray");
            host.spawn_backup(job);
        }
        Action::Restore => {
            tracing::info!("restore requested from tray");
            host.open_window(Some(serde_json::json!({ "view": "restore", "pick": true })));
        }
        Action::Open => host.open_window(None),
        Action::TogglePause => {
            let paused = StateFile::in_dir(host.state.data.root()).load().is_paused(Utc::now());
            if let Err(e) = host.set_paused(!paused) {
                tracing::error!("{}", e.message);
            }
        }
        Action::OpenFolder => {
            if let Some(dir) = host.summary().folder
                && let Err(e) = open::that_detached(&dir)
            {
                tracing::warn!(dir = %dir.display(), "could not open the folder: {e}");
            }
        }
        Action::Quit => host.quit(),
    }
}

/// A tray icon's pixels: RGBA, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

fn decode(png_bytes: &[u8]) -> Rgba {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("tray icons are valid PNGs");
    let mut buf = vec![0; reader.output_buffer_size().expect("icon size")];
    let info = reader.next_frame(&mut buf).expect("tray icons are valid PNGs");
    assert_eq!(info.color_type, png::ColorType::Rgba, "tray icons are RGBA");
    buf.truncate(info.buffer_size());
    Rgba { width: info.width, height: info.height, data: buf }
}

/// The icon for `state` (icons/tray-*.png, decoded once).
pub fn icon_rgba(state: IconState) -> &'static Rgba {
    static ICONS: OnceLock<[Rgba; 3]> = OnceLock::new();
    let icons = ICONS.get_or_init(|| {
        [
            decode(include_bytes!("../../../icons/tray-idle.png")),
            decode(include_bytes!("../../../icons/tray-running.png")),
            decode(include_bytes!("../../../icons/tray-failed.png")),
        ]
    });
    match state {
        IconState::Idle => &icons[0],
        IconState::Running => &icons[1],
        IconState::Failed => &icons[2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn summary(jobs: &[&str], paused: bool) -> TraySummary {
        TraySummary {
            line: "No backups yet".into(),
            icon: IconState::Idle,
            jobs: jobs.iter().map(|j| (*j).to_string()).collect(),
            paused,
            folder: None,
            not_set_up: jobs.is_empty(),
            lang: Lang::En,
        }
    }

    #[test]
    fn the_menu_has_the_products_items_in_order() {
        let spec = menu_spec(&summary(&["tg"], false));
        let labels: Vec<&str> = spec.iter().map(|e| e.as_ref().map_or("-", |e| e.label.as_str())).collect();
        assert_eq!(labels, ["No backups yet", "-", "Backup now", "Restore from file…", "Open Nightjar", "-", "Pause schedules", "Open backup folder", "-", "Quit"]);
        let status = spec[0].as_ref().unwrap();
        assert!(!status.enabled, "the status line is not clickable");
        assert!(!spec[7].as_ref().unwrap().enabled, "no folder yet: Open backup folder is disabled");
        assert_eq!(spec[2].as_ref().unwrap().action, Some(Action::Backup(None)));
    }

    #[test]
    fn icons_decode_to_32_px_rgba() {
        for s in [IconState::Idle, IconState::Running, IconState::Failed] {
            let i = icon_rgba(s);
            assert_eq!((i.width, i.height, i.data.len()), (32, 32, 32 * 32 * 4));
        }
    }

    #[test]
    fn several_jobs_get_a_submenu_and_paused_offers_resume() {
        let spec = menu_spec(&summary(&["a", "b"], true));
        let backup = spec[2].as_ref().unwrap();
        let sub: Vec<&str> = backup.sub.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(sub, ["All jobs", "a", "b"]);
        assert_eq!(backup.sub[2].1, Action::Backup(Some("b".into())));
        assert_eq!(spec[6].as_ref().unwrap().label, "Resume schedules");
        let none = menu_spec(&summary(&[], false));
        assert!(!none[2].as_ref().unwrap().enabled, "no jobs: Backup now is disabled");
        assert_eq!(none[4].as_ref().unwrap().label, "Set up Nightjar…", "no jobs: the window opens on setting up");
    }

    #[test]
    fn a_russian_summary_gets_a_russian_menu() {
        let spec = menu_spec(&TraySummary { line: "Резервных копий пока нет".into(), lang: Lang::Ru, ..summary(&["a", "b"], false) });
        let labels: Vec<&str> = spec.iter().map(|e| e.as_ref().map_or("-", |e| e.label.as_str())).collect();
        assert_eq!(
            labels,
            ["Резервных копий пока нет", "-", "Создать копию сейчас", "Восстановить из файла…", "Открыть Nightjar", "-", "Приостановить расписания", "Открыть папку с копиями", "-", "Выход"]
        );
        assert_eq!(spec[2].as_ref().unwrap().sub[0].0, "Все задания");
        let paused = menu_spec(&TraySummary { lang: Lang::Ru, ..summary(&[], true) });
        assert_eq!((paused[4].as_ref().unwrap().label.as_str(), paused[6].as_ref().unwrap().label.as_str()), ("Настроить Nightjar…", "Возобновить расписания"));
    }
}
