//! Windows: the tray icon with the `tray-icon` crate (the library Tauri's
//! own tray is built on): a notification-area icon and a native popup menu,
//! no GTK.
//!
//! tray-icon needs a Win32 message loop on the thread that created the icon
//! (its hidden window and the menu live there). So the icon gets a thread of
//! its own running `GetMessageW`/`DispatchMessageW`; [`TrayHandle`] hands it
//! work through a channel and wakes it with a thread message. Menu clicks
//! and a left click on the icon arrive through tray-icon's event handlers
//! (called on that thread while it dispatches) and run on a thread of their
//! own, as on Linux.
//!
//! When the notification area is not there yet (Explorer still starting,
//! or a Wine desktop without one), tray-icon keeps its window and adds the
//! icon when the taskbar appears; the schedules run either way.
//!
//! macOS is not wired: there the icon must be created on the main thread,
//! with AppKit's run loop running on it (tray-icon's rule), while this
//! process's main thread waits for quit; see the `none` backend.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use tray_icon::menu::{Menu, MenuEvent, MenuId, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use windows_sys::Win32::System::Threading::GetCurrentThreadId;
use windows_sys::Win32::UI::WindowsAndMessaging::{DispatchMessageW, GetMessageW, MSG, PM_NOREMOVE, PeekMessageW, PostThreadMessageW, TranslateMessage, WM_APP};

use super::{Action, Entry, icon_rgba, menu_spec, run_action};
use crate::host::Host;
use crate::state::AppState;
use crate::summary::TraySummary;

/// Posted to the tray thread: commands are waiting in its channel.
const WM_COMMANDS: u32 = WM_APP + 1;

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

/// A label as Win32 menus take it: `&` marks a mnemonic, so a literal one is doubled.
fn label(s: &str) -> String {
    s.replace('&', "&&")
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

/// The tray thread: makes the icon, reports its thread id (or why it could
/// not) on `ready`, then runs the message loop until [`Command::Shutdown`].
fn run(host: Weak<Host>, summary: TraySummary, commands: Receiver<Command>, ready: SyncSender<Result<u32, String>>) {
    // SAFETY: a zeroed MSG is a valid value (null handle, zero numbers).
    let mut msg: MSG = unsafe { std::mem::zeroed() };
    // SAFETY: plain user32/kernel32 calls with a pointer to the local MSG.
    // The first peek gives this thread its message queue, so a thread
    // message posted before the loop starts is kept.
    let thread_id = unsafe {
        PeekMessageW(&raw mut msg, std::ptr::null_mut(), 0, 0, PM_NOREMOVE);
        GetCurrentThreadId()
    };
    let actions: Actions = Arc::default();
    let built = build_menu(&summary, &actions).and_then(|menu| {
        TrayIconBuilder::new()
            .with_id("nightjar")
            .with_tooltip(tooltip(&summary))
            .with_icon(icon(&summary)?)
            .with_menu(Box::new(menu))
            // A left click opens the window (as on Linux); the right one shows the menu.
            .with_menu_on_left_click(false)
            .build()
            .map_err(|e| e.to_string())
    });
    let tray = match built {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // The handlers are process-wide and set once (there is one tray).
    let (menu_actions, menu_host) = (actions.clone(), host.clone());
    MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
        let action = menu_actions.lock().expect("tray actions lock").get(&e.id).cloned();
        if let Some(a) = action {
            act(&menu_host, a);
        }
    }));
    TrayIconEvent::set_event_handler(Some(move |e: TrayIconEvent| {
        if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = e {
            act(&host, Action::Open);
        }
    }));
    let _ = ready.send(Ok(thread_id));
    loop {
        // SAFETY: as above; the MSG outlives each call.
        let got = unsafe { GetMessageW(&raw mut msg, std::ptr::null_mut(), 0, 0) };
        if got == 0 || got == -1 {
            break;
        }
        if msg.hwnd.is_null() && msg.message == WM_COMMANDS {
            let mut stop = false;
            for c in commands.try_iter() {
                match c {
                    Command::Refresh(s) => apply(&tray, &s, &actions),
                    Command::Shutdown => stop = true,
                }
            }
            if stop {
                break;
            }
            continue;
        }
        // SAFETY: dispatches the message GetMessageW just filled in.
        unsafe {
            TranslateMessage(&raw const msg);
            DispatchMessageW(&raw const msg);
        }
    }
    tracing::debug!("tray thread: message loop ended");
    // Dropping it here, on its own thread, removes the icon.
    drop(tray);
    tracing::debug!("tray thread: icon removed");
}

/// The running tray.
pub struct TrayHandle {
    commands: Mutex<mpsc::Sender<Command>>,
    thread_id: u32,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TrayHandle {
    /// Adds the icon to the notification area, on a thread of its own.
    ///
    /// # Errors
    /// When the icon, its menu or its thread cannot be made.
    pub fn spawn(host: &Arc<Host>) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (weak, summary) = (Arc::downgrade(host), host.summary());
        let thread = std::thread::Builder::new().name("tray".into()).spawn(move || run(weak, summary, rx, ready_tx)).map_err(|e| e.to_string())?;
        match ready_rx.recv() {
            Ok(Ok(thread_id)) => Ok(Self { commands: Mutex::new(tx), thread_id, thread: Mutex::new(Some(thread)) }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("the tray thread stopped while starting".into()),
        }
    }

    /// Wakes the tray thread to read its commands.
    fn wake(&self) {
        // SAFETY: posts a message without pointers to a thread of this process.
        unsafe {
            PostThreadMessageW(self.thread_id, WM_COMMANDS, 0, 0);
        }
    }

    fn send(&self, c: Command) {
        if self.commands.lock().expect("tray commands lock").send(c).is_ok() {
            self.wake();
        }
    }

    /// Recomputes the status line, the pause label and the icon.
    pub fn refresh(&self, state: &AppState) {
        self.send(Command::Refresh(crate::summary::tray_summary(state, Utc::now())));
    }

    /// Removes the icon and ends its thread (waits up to 5 s, sending the
    /// wake-up again in case an open menu's own loop swallowed it; under
    /// Wine removing the icon alone takes 2 s).
    pub fn shutdown(&self) {
        self.send(Command::Shutdown);
        let Some(thread) = self.thread.lock().expect("tray thread lock").take() else { return };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            self.wake();
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("the tray icon's thread did not stop; exiting anyway");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_a_literal_ampersand_and_the_tooltip_fits() {
        assert_eq!(label("R&D db"), "R&&D db");
        let s = TraySummary { line: "x".repeat(300), icon: crate::summary::IconState::Idle, jobs: Vec::new(), paused: false, folder: None };
        assert!(tooltip(&s).chars().count() <= 120);
        assert!(icon(&s).is_ok());
    }
}
