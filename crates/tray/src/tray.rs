//! The tray icon and its menu: a StatusNotifierItem with a dbusmenu, spoken
//! straight over the session bus (no GTK in this process).
//!
//! The first line is a disabled status item, updated after every run and
//! once a minute; the icon shows idle, running, or failed/stale. Every
//! click goes through [`Action`] and runs on a thread of its own, so the
//! menu never waits for a backup.

use std::sync::{Arc, OnceLock, Weak};

use chrono::Utc;
use ksni::blocking::TrayMethods as _;
use ksni::menu::{MenuItem, StandardItem, SubMenu};
use nightjar_core::state::StateFile;

use crate::host::Host;
use crate::state::AppState;
use crate::summary::{IconState, TraySummary};

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

fn pause_label(paused: bool) -> &'static str {
    if paused { "Resume schedules" } else { "Pause schedules" }
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

/// The menu for a summary: labels, enabled states and what each item does
/// (kept apart from ksni so it is tested without a bus).
#[must_use]
pub fn menu_spec(s: &TraySummary) -> Vec<Option<Entry>> {
    let backup = if s.jobs.len() > 1 {
        let mut sub = vec![("All jobs".to_string(), Action::Backup(None))];
        sub.extend(s.jobs.iter().map(|j| (j.clone(), Action::Backup(Some(j.clone())))));
        Some(Entry { label: "Backup now".into(), enabled: true, sub, action: None })
    } else {
        entry("Backup now", !s.jobs.is_empty(), Some(Action::Backup(None)))
    };
    vec![
        entry(&s.line, false, None),
        None,
        backup,
        entry("Restore from file…", true, Some(Action::Restore)),
        entry("Open Nightjar", true, Some(Action::Open)),
        None,
        entry(pause_label(s.paused), true, Some(Action::TogglePause)),
        entry("Open backup folder", s.folder.is_some(), Some(Action::OpenFolder)),
        None,
        entry("Quit", true, Some(Action::Quit)),
    ]
}

/// The tray as ksni sees it.
pub struct NightjarTray {
    host: Weak<Host>,
    summary: TraySummary,
}

fn item(label: String, enabled: bool, action: Option<Action>) -> MenuItem<NightjarTray> {
    StandardItem {
        label,
        enabled,
        activate: Box::new(move |t: &mut NightjarTray| {
            if let Some(a) = &action {
                t.act(a.clone());
            }
        }),
        ..Default::default()
    }
    .into()
}

impl NightjarTray {
    fn act(&self, action: Action) {
        let Some(host) = self.host.upgrade() else { return };
        // Off the D-Bus thread: actions refresh the tray, which needs it.
        let _ = std::thread::Builder::new().name("tray-action".into()).spawn(move || run_action(&host, action));
    }
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

fn decode(png_bytes: &[u8]) -> ksni::Icon {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("tray icons are valid PNGs");
    let mut buf = vec![0; reader.output_buffer_size().expect("icon size")];
    let info = reader.next_frame(&mut buf).expect("tray icons are valid PNGs");
    assert_eq!(info.color_type, png::ColorType::Rgba, "tray icons are RGBA");
    // RGBA → ARGB32 in network byte order.
    let data = buf[..info.buffer_size()].chunks_exact(4).flat_map(|p| [p[3], p[0], p[1], p[2]]).collect();
    ksni::Icon { width: i32::try_from(info.width).unwrap_or(32), height: i32::try_from(info.height).unwrap_or(32), data }
}

fn icon(state: IconState) -> ksni::Icon {
    static ICONS: OnceLock<[ksni::Icon; 3]> = OnceLock::new();
    let icons = ICONS.get_or_init(|| {
        [
            decode(include_bytes!("../../../icons/tray-idle.png")),
            decode(include_bytes!("../../../icons/tray-running.png")),
            decode(include_bytes!("../../../icons/tray-failed.png")),
        ]
    });
    let i = match state {
        IconState::Idle => 0,
        IconState::Running => 1,
        IconState::Failed => 2,
    };
    ksni::Icon { width: icons[i].width, height: icons[i].height, data: icons[i].data.clone() }
}

impl ksni::Tray for NightjarTray {
    fn id(&self) -> String {
        "nightjar".into()
    }

    fn title(&self) -> String {
        "Nightjar".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![icon(self.summary.icon)]
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip { title: "Nightjar".into(), description: self.summary.line.clone(), ..Default::default() }
    }

    fn status(&self) -> ksni::Status {
        if self.summary.icon == IconState::Failed { ksni::Status::NeedsAttention } else { ksni::Status::Active }
    }

    /// A left click opens the window.
    fn activate(&mut self, _x: i32, _y: i32) {
        self.act(Action::Open);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        menu_spec(&self.summary)
            .into_iter()
            .map(|e| match e {
                None => MenuItem::Separator,
                Some(Entry { label, enabled, sub, action }) if sub.is_empty() => item(label, enabled, action),
                Some(Entry { label, enabled, sub, .. }) => {
                    let mut submenu = Vec::with_capacity(sub.len() + 2);
                    for (i, (l, a)) in sub.into_iter().enumerate() {
                        submenu.push(item(l, true, Some(a)));
                        if i == 0 {
                            submenu.push(MenuItem::Separator);
                        }
                    }
                    SubMenu { label, enabled, submenu, ..Default::default() }.into()
                }
            })
            .collect()
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        // Keep serving: a panel that restarts registers the item again.
        tracing::warn!("no tray host is showing the icon right now ({reason:?})");
        true
    }
}

/// The running tray.
pub struct TrayHandle(ksni::blocking::Handle<NightjarTray>);

impl TrayHandle {
    /// Publishes the tray on the session bus.
    ///
    /// # Errors
    /// When there is no session bus.
    pub fn spawn(host: &Arc<Host>) -> Result<Self, ksni::Error> {
        let tray = NightjarTray { host: Arc::downgrade(host), summary: host.summary() };
        // Without a tray host yet (a panel still starting) the item waits for one.
        let handle = tray.assume_sni_available(true).spawn()?;
        Ok(Self(handle))
    }

    /// Recomputes the status line, the pause label and the icon.
    pub fn refresh(&self, state: &AppState) {
        let s = crate::summary::tray_summary(state, Utc::now());
        self.0.update(|t| t.summary = s);
    }

    pub fn shutdown(&self) {
        self.0.shutdown().wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(jobs: &[&str], paused: bool) -> TraySummary {
        TraySummary { line: "No backups yet".into(), icon: IconState::Idle, jobs: jobs.iter().map(|j| (*j).to_string()).collect(), paused, folder: None }
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
    fn several_jobs_get_a_submenu_and_paused_offers_resume() {
        let spec = menu_spec(&summary(&["a", "b"], true));
        let backup = spec[2].as_ref().unwrap();
        let sub: Vec<&str> = backup.sub.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(sub, ["All jobs", "a", "b"]);
        assert_eq!(backup.sub[2].1, Action::Backup(Some("b".into())));
        assert_eq!(spec[6].as_ref().unwrap().label, "Resume schedules");
        let none = menu_spec(&summary(&[], false));
        assert!(!none[2].as_ref().unwrap().enabled, "no jobs: Backup now is disabled");
    }

    #[test]
    fn icons_decode_to_argb_pixmaps() {
        for s in [IconState::Idle, IconState::Running, IconState::Failed] {
            let i = icon(s);
            assert_eq!((i.width, i.height, i.data.len()), (32, 32, 32 * 32 * 4));
        }
    }
}
