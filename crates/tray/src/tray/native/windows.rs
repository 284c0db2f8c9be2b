//! Windows: the icon on a thread of its own running a Win32 message loop.
//!
//! tray-icon needs a Win32 message loop on the thread that created the icon
//! (its hidden window and the menu live there). So the icon gets a thread
//! running `GetMessageW`/`DispatchMessageW`; [`TrayHandle`] hands it work
//! through a channel and wakes it with a thread message. Menu clicks and a
//! left click on the icon arrive through tray-icon's event handlers, called
//! on that thread while it dispatches.
//!
//! When the notification area is not there yet (Explorer still starting),
//! tray-icon keeps its window and adds the icon when the taskbar appears;
//! without a display at all (Wine headless) the icon is not made, which is
//! logged, and the schedules run on.
#![allow(unsafe_code)]

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use windows_sys::Win32::System::Threading::GetCurrentThreadId;
use windows_sys::Win32::UI::WindowsAndMessaging::{DispatchMessageW, GetMessageW, MSG, PM_NOREMOVE, PeekMessageW, PostThreadMessageW, TranslateMessage, WM_APP};

use super::{Command, apply, make};
use crate::host::Host;
use crate::state::AppState;
use crate::summary::TraySummary;

/// Posted to the tray thread: commands are waiting in its channel.
const WM_COMMANDS: u32 = WM_APP + 1;

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
    let (tray, actions) = match make(&host, &summary) {
        Ok(made) => made,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
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

/// Blocks until quit (the icon has its own thread here).
pub fn wait_for_quit(host: &Arc<Host>) {
    host.wait_for_quit();
}
