//! The window's line to the tray process (see `nightjar_desktop_shared::proto`).

use std::sync::Arc;

use nightjar_core::ErrorKind;
use nightjar_desktop_shared::models::{CmdResult, UiError};
use nightjar_desktop_shared::proto::{HostClient, Message, Op};
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter as _, Runtime};

/// The connection to the tray process; none in unit tests.
#[derive(Clone, Default)]
pub struct Link(Option<Arc<HostClient>>);

impl Link {
    #[must_use]
    pub fn new(client: HostClient) -> Self {
        Self(Some(Arc::new(client)))
    }

    /// No tray process (unit tests): calls fail with a sentence, reads go on.
    #[must_use]
    pub fn none() -> Self {
        Self(None)
    }

    fn client(&self) -> CmdResult<&HostClient> {
        self.0.as_deref().ok_or_else(|| UiError::new(ErrorKind::Other, "Nightjar's tray process is not running; start Nightjar again."))
    }

    /// Asks the tray process; `progress` gets the run's progress events.
    ///
    /// # Errors
    /// The tray process's answer, or that it is gone.
    pub fn call(&self, op: Op, progress: Option<Channel<Value>>) -> CmdResult<Value> {
        let forward = progress.map(|c| -> Box<dyn Fn(Value) + Send> {
            Box::new(move |v| {
                if let Err(e) = c.send(v) {
                    tracing::debug!("progress channel closed: {e}");
                }
            })
        });
        self.client()?.call(op, forward)
    }

    /// Like [`Self::call`], decoding the answer.
    ///
    /// # Errors
    /// See [`Self::call`].
    pub fn call_as<T: serde::de::DeserializeOwned>(&self, op: Op) -> CmdResult<T> {
        serde_json::from_value(self.call(op, None)?).map_err(|e| UiError::new(ErrorKind::Other, format!("The tray process answered something unexpected ({e}); see the log.")))
    }

    /// Sends `op` without waiting for an answer.
    ///
    /// # Errors
    /// When there is no tray process.
    pub fn send(&self, op: Op) -> CmdResult<()> {
        self.client()?.send(op)
    }

    /// Tells the tray process the config or the history changed (it reloads,
    /// updates the tray and tells the page).
    pub fn changed(&self) {
        if let Ok(c) = self.client() {
            let _ = c.send(Op::Changed);
        }
    }

    /// Reads the tray process's messages on a thread: page events go to the
    /// page; "show" raises the window; "quit" or a lost connection closes it.
    pub fn start_reader<R: Runtime>(&self, app: AppHandle<R>) {
        let Some(client) = self.0.clone() else { return };
        let spawned = std::thread::Builder::new().name("tray-link".into()).spawn(move || {
            client.read_loop(|m| match m {
                Message::Emit { name, payload } => {
                    let _ = app.emit(&name, payload);
                }
                Message::Show => crate::show_main_window(&app),
                Message::Quit => app.exit(0),
                Message::Reply { .. } | Message::Progress { .. } => {}
            });
            tracing::info!("the tray process has gone; closing the window");
            app.exit(0);
        });
        if let Err(e) = spawned {
            tracing::error!("could not read from the tray process: {e}");
        }
    }
}
