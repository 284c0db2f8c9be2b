//! Linux: the tray as a StatusNotifierItem with a dbusmenu, spoken straight
//! over the session bus (ksni; no GTK in this process).

use std::sync::{Arc, Weak};

use chrono::Utc;
use ksni::blocking::TrayMethods as _;
use ksni::menu::{MenuItem, StandardItem, SubMenu};

use super::{Action, Entry, icon_rgba, menu_spec, run_action};
use crate::host::Host;
use crate::state::AppState;
use crate::summary::{IconState, TraySummary};

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

fn icon(state: IconState) -> ksni::Icon {
    let i = icon_rgba(state);
    // RGBA → ARGB32 in network byte order.
    let data = i.data.chunks_exact(4).flat_map(|p| [p[3], p[0], p[1], p[2]]).collect();
    ksni::Icon { width: i32::try_from(i.width).unwrap_or(32), height: i32::try_from(i.height).unwrap_or(32), data }
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

/// Quits the tray process when its desktop session ends, seen as the
/// session bus it started on going away (ksni keeps waiting on a closed
/// connection, and the process would run on with no tray and no session).
/// A connection of its own that only listens: it reads nothing but the
/// disconnection.
fn watch_session_bus(host: Weak<Host>) {
    let spawned = std::thread::Builder::new().name("session-bus".into()).spawn(move || {
        let conn = match dbus::blocking::Connection::new_session() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("the session bus cannot be watched ({e}); logging out will not stop Nightjar");
                return;
            }
        };
        while conn.process(std::time::Duration::from_secs(3600)).is_ok() {
            if host.strong_count() == 0 {
                return;
            }
        }
        if let Some(host) = host.upgrade() {
            tracing::info!("the desktop session ended (its session bus went away); Nightjar quits");
            host.quit();
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("the session bus cannot be watched ({e}); logging out will not stop Nightjar");
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
        watch_session_bus(Arc::downgrade(host));
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

    #[test]
    fn icons_decode_to_argb_pixmaps() {
        for s in [IconState::Idle, IconState::Running, IconState::Failed] {
            let i = icon(s);
            assert_eq!((i.width, i.height, i.data.len()), (32, 32, 32 * 32 * 4));
        }
    }
}
