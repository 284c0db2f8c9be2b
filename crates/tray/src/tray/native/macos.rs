//! macOS: the status item on the main thread, which runs AppKit's event
//! loop until quit.
//!
//! tray-icon's rule on macOS: the icon is made on the main thread, and that
//! thread runs the event loop. This process's main thread would otherwise
//! only wait for quit, so here it does both: [`TrayHandle::spawn`] (called
//! on the main thread) makes an accessory `NSApplication` (no Dock icon, no
//! menu bar of its own) and the icon, and [`wait_for_quit`] waits for quit
//! on another thread while the main thread takes AppKit's events (clicks on
//! the status item and its menu, notification clicks) and the tray's
//! commands (redraw, shut down), at least four times a second.
//!
//! Written against objc2-app-kit 0.3's documented API and type-checked for
//! `x86_64-apple-darwin` on Linux; never run on a Mac. The one `unsafe` is
//! reading AppKit's `NSDefaultRunLoopMode` constant.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use objc2::MainThreadMarker;
use objc2::rc::Retained;
use objc2_app_kit::{NSApplication, NSApplicationActivationPolicy, NSEventMask};
use objc2_foundation::{NSDate, NSDefaultRunLoopMode};
use tray_icon::TrayIcon;

use super::{Actions, Command, apply, make};
use crate::host::Host;
use crate::state::AppState;

/// What lives on the main thread between [`TrayHandle::spawn`] and [`wait_for_quit`].
struct MainTray {
    app: Retained<NSApplication>,
    tray: TrayIcon,
    actions: Actions,
    commands: Receiver<Command>,
}

thread_local! {
    static MAIN: RefCell<Option<MainTray>> = const { RefCell::new(None) };
}

/// The running tray.
pub struct TrayHandle {
    commands: Mutex<mpsc::Sender<Command>>,
}

impl TrayHandle {
    /// Makes the status item; must be called on the main thread.
    ///
    /// # Errors
    /// Off the main thread, or when the icon or its menu cannot be made.
    pub fn spawn(host: &Arc<Host>) -> Result<Self, String> {
        let mtm = MainThreadMarker::new().ok_or("the macOS tray icon must be made on the main thread")?;
        let app = NSApplication::sharedApplication(mtm);
        app.setActivationPolicy(NSApplicationActivationPolicy::Accessory);
        app.finishLaunching();
        let (tray, actions) = make(&Arc::downgrade(host), &host.summary())?;
        let (tx, rx) = mpsc::channel();
        MAIN.with(|m| *m.borrow_mut() = Some(MainTray { app, tray, actions, commands: rx }));
        Ok(Self { commands: Mutex::new(tx) })
    }

    fn send(&self, c: Command) {
        let _ = self.commands.lock().expect("tray commands lock").send(c);
    }

    /// Recomputes the status line, the pause label and the icon.
    pub fn refresh(&self, state: &AppState) {
        self.send(Command::Refresh(crate::summary::tray_summary(state, Utc::now())));
    }

    /// Ends the main thread's event loop (the icon goes with it).
    pub fn shutdown(&self) {
        self.send(Command::Shutdown);
    }
}

/// Blocks until quit. With the status item made, the main thread runs
/// AppKit's events meanwhile and quit is waited for on another thread.
pub fn wait_for_quit(host: &Arc<Host>) {
    let Some(main) = MAIN.with(|m| m.borrow_mut().take()) else {
        host.wait_for_quit();
        return;
    };
    let waiting = host.clone();
    let waiter = match std::thread::Builder::new().name("quit".into()).spawn(move || waiting.wait_for_quit()) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("could not wait for quit beside the tray icon ({e}); removing the icon");
            drop(main);
            host.wait_for_quit();
            return;
        }
    };
    'events: loop {
        let until = NSDate::dateWithTimeIntervalSinceNow(0.25);
        // SAFETY: reads an immutable AppKit constant (an NSString).
        let mode = unsafe { NSDefaultRunLoopMode };
        if let Some(event) = main.app.nextEventMatchingMask_untilDate_inMode_dequeue(NSEventMask::Any, Some(&until), mode, true) {
            main.app.sendEvent(&event);
        }
        for c in main.commands.try_iter() {
            match c {
                Command::Refresh(s) => apply(&main.tray, &s, &main.actions),
                Command::Shutdown => break 'events,
            }
        }
        if waiter.is_finished() {
            break;
        }
    }
    drop(main);
    let _ = waiter.join();
}
