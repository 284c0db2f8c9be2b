//! Windows and macOS: the tray icon with the `tray-icon` crate (the library
//! Tauri's own tray is built on: a native Win32 notification-area icon or an
//! AppKit status item, with a native menu; no GTK).
//!
//! What is the same on both is here: the menu built from [`menu_spec`], the
//! icons, the tooltip, and the click handlers (menu items and a left click
//! on the icon; they run on a thread of their own, as on Linux). Where the
//! icon lives differs, since tray-icon needs an event loop on the thread
//! that made it:
//!
//! - Windows (`native/windows.rs`): a thread of its own running a Win32
//!   message loop.
//! - macOS (`native/macos.rs`): the main thread, running AppKit's event
//!   loop until quit ([`wait_for_quit`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tray_icon::menu::{Menu, MenuEvent, MenuId, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

use super::{Action, Entry, icon_rgba, menu_spec, run_action};
use crate::host::Host;
use crate::summary::TraySummary;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{TrayHandle, wait_for_quit};

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::{TrayHandle, wait_for_quit};

/// What the tray's owner sends the thread the icon lives on.
enum Command {
    Refresh(TraySummary),
    Shutdown,
}

/// What each menu item does, by its id (replaced with the menu).
type Actions = Arc<Mutex<HashMap<MenuId, Action>>>;

/// Carries out `action` off the tray thread (actions refresh the tray, which
/// needs that thread).
fn act(host: &Weak<Host>, action: Action) {
    let Some(host) = host.upgrade() else { return };
    let _ = std::thread::Builder::new().name("tray-action".into()).spawn(move || run_action(&host, action));
}

/// A label as the menu takes it: on Windows `&` marks a mnemonic, so a
/// literal one is doubled.
fn label(s: &str) -> String {
    if cfg!(windows) { s.replace('&', "&&") } else { s.to_string() }
}

/// The tooltip: "Nightjar" and the status line (Windows keeps 127 characters).
fn tooltip(s: &TraySummary) -> String {
    format!("Nightjar\n{}", s.line).chars().take(120).collect()
}

fn icon(s: &TraySummary) -> Result<Icon, String> {
    let i = icon_rgba(s.icon);
    Icon::from_rgba(i.data.clone(), i.width, i.height).map_err(|e| e.to_string())
}

/// The menu for `summary` ([`menu_spec`]), recording what its items do in `actions`.
fn build_menu(summary: &TraySummary, actions: &Actions) -> Result<Menu, String> {
    let menu = Menu::new();
    let mut map = HashMap::new();
    let mut next = 0u32;
    let mut item = |text: &str, enabled: bool, action: Option<Action>| {
        next += 1;
        let id = MenuId::new(format!("nightjar-{next}"));
        if let Some(a) = action {
            map.insert(id.clone(), a);
        }
        MenuItem::with_id(id, label(text), enabled, None)
    };
    for e in menu_spec(summary) {
        let added = match e {
            None => menu.append(&PredefinedMenuItem::separator()),
            Some(Entry { label: text, enabled, sub, action }) if sub.is_empty() => menu.append(&item(&text, enabled, action)),
            Some(Entry { label: text, enabled, sub, .. }) => {
                let submenu = Submenu::new(label(&text), enabled);
                for (i, (l, a)) in sub.into_iter().enumerate() {
                    submenu.append(&item(&l, true, Some(a))).map_err(|e| e.to_string())?;
                    if i == 0 {
                        submenu.append(&PredefinedMenuItem::separator()).map_err(|e| e.to_string())?;
                    }
                }
                menu.append(&submenu)
            }
        };
        added.map_err(|e| e.to_string())?;
    }
    *actions.lock().expect("tray actions lock") = map;
    Ok(menu)
}

/// Draws `summary`: icon, tooltip, menu.
fn apply(tray: &TrayIcon, summary: &TraySummary, actions: &Actions) {
    match icon(summary) {
        Ok(i) => {
            if let Err(e) = tray.set_icon(Some(i)) {
                tracing::debug!("the tray icon could not be changed: {e}");
            }
        }
        Err(e) => tracing::debug!("the tray icon could not be made: {e}"),
    }
    if let Err(e) = tray.set_tooltip(Some(tooltip(summary))) {
        tracing::debug!("the tray tooltip could not be changed: {e}");
    }
    match build_menu(summary, actions) {
        Ok(menu) => tray.set_menu(Some(Box::new(menu))),
        Err(e) => tracing::warn!("the tray menu could not be rebuilt: {e}"),
    }
}

/// Makes the icon for `summary` with its menu, and routes its clicks to
/// `host` (tray-icon's handlers are process-wide; there is one tray). On
/// the thread that will run the event loop.
fn make(host: &Weak<Host>, summary: &TraySummary) -> Result<(TrayIcon, Actions), String> {
    let actions: Actions = Arc::default();
    let menu = build_menu(summary, &actions)?;
    let tray = TrayIconBuilder::new()
        .with_id("nightjar")
        .with_tooltip(tooltip(summary))
        .with_icon(icon(summary)?)
        .with_menu(Box::new(menu))
        // A left click opens the window (as on Linux); the right one shows the menu.
        .with_menu_on_left_click(false)
        .build()
        .map_err(|e| e.to_string())?;
    let (menu_actions, menu_host) = (actions.clone(), host.clone());
    MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
        let action = menu_actions.lock().expect("tray actions lock").get(&e.id).cloned();
        if let Some(a) = action {
            act(&menu_host, a);
        }
    }));
    let click_host = host.clone();
    TrayIconEvent::set_event_handler(Some(move |e: TrayIconEvent| {
        if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = e {
            act(&click_host, Action::Open);
        }
    }));
    Ok((tray, actions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_a_literal_ampersand_and_the_tooltip_fits() {
        assert_eq!(label("R&D db"), if cfg!(windows) { "R&&D db" } else { "R&D db" });
        let s = TraySummary { line: "x".repeat(300), icon: crate::summary::IconState::Idle, jobs: Vec::new(), paused: false, folder: None, not_set_up: false, lang: crate::i18n::Lang::En };
        assert!(tooltip(&s).chars().count() <= 120);
        assert!(icon(&s).is_ok());
    }
}
