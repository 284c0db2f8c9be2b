//! How the window process talks to the tray process: JSON lines over a Unix
//! socket in the data folder (`desktop.sock`, owner-only like the folder).
//!
//! The window sends [`Request`]s; the tray answers each with a
//! [`Message::Reply`] carrying the same id, streams [`Message::Progress`]
//! for a run the request started, and pushes page events
//! ([`Message::Emit`]), "show yourself" and "quit" to every window.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::models::{CmdResult, UiError};

/// Event the page listens to: the runs or the history changed; reload.
pub const RUNS_CHANGED: &str = "runs-changed";
/// Progress of a run the page did not start (scheduled, tray).
pub const RUN_PROGRESS: &str = "run-progress";
/// Ask the page to show a view (`{"view": "history"}`), e.g. after a notification click.
pub const NAVIGATE: &str = "navigate";

/// The socket of the tray process for the data folder `root`.
#[must_use]
pub fn socket_path(root: &Path) -> PathBuf {
    root.join("desktop.sock")
}

/// What a window (or a second launch) asks of the tray process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// This connection is the window: send it page events, show and quit.
    Window,
    /// Show the window (start one if none runs), optionally on a view.
    Open { view: Option<Value> },
    /// "Backup now": one job or all. Replies `Vec<BackupOutcome>`.
    Backup { job: Option<String> },
    /// Stop the running backup or restore of a job. Replies a bool.
    Cancel { job: String },
    /// Pause or resume the schedules.
    Paused { paused: bool },
    /// A confirmed restore. Replies the `RestoreReport`.
    Restore { request: crate::runs::RestoreRequest, confirm: String },
    /// Check a backup from the history. Replies the `VerifyReport`.
    Verify { id: i64 },
    /// The jobs running now. Replies `Vec<String>`.
    Running,
    /// The view the page should show, once (tray item, notification click).
    TakeNavigation,
    /// "Send a test notification" in Settings.
    TestNotification,
    /// The config or the history changed: reload, update the tray, tell the pages.
    Changed,
    /// Stop everything and exit.
    Quit,
}

/// A request with the id its reply carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// What the tray process sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// The answer to request `id`.
    Reply { id: u64, result: Result<Value, UiError> },
    /// Progress of the run request `id` started.
    Progress { id: u64, event: Value },
    /// A page event (`runs-changed`, `run-progress`, `navigate`).
    Emit { name: String, payload: Value },
    /// Bring the window to the front.
    Show,
    /// The app is quitting: close the window.
    Quit,
}

type Pending = HashMap<u64, (mpsc::Sender<Result<Value, UiError>>, Option<Box<dyn Fn(Value) + Send>>)>;

/// The window's end of the socket.
pub struct HostClient {
    writer: Mutex<UnixStream>,
    reader: Mutex<Option<UnixStream>>,
    pending: Arc<Mutex<Pending>>,
    next: AtomicU64,
}

fn lost() -> UiError {
    UiError::new("Nightjar's tray process is not running; start Nightjar again.")
}

impl HostClient {
    /// Connects to the tray process of the data folder `root`.
    ///
    /// # Errors
    /// When no tray process listens there.
    pub fn connect(root: &Path) -> std::io::Result<Self> {
        let stream = UnixStream::connect(socket_path(root))?;
        let reader = stream.try_clone()?;
        Ok(Self { writer: Mutex::new(stream), reader: Mutex::new(Some(reader)), pending: Arc::default(), next: AtomicU64::new(1) })
    }

    fn write(&self, req: &Request) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut w = self.writer.lock().expect("writer lock");
        w.write_all(&line)?;
        w.flush()
    }

    /// Sends `op` and waits for its reply; `progress` gets the run's
    /// progress events meanwhile. Needs [`Self::read_loop`] running.
    ///
    /// # Errors
    /// The tray process's error, or that it went away.
    pub fn call(&self, op: Op, progress: Option<Box<dyn Fn(Value) + Send>>) -> CmdResult<Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.pending.lock().expect("pending lock").insert(id, (tx, progress));
        if self.write(&Request { id, op }).is_err() {
            self.pending.lock().expect("pending lock").remove(&id);
            return Err(lost());
        }
        rx.recv().unwrap_or_else(|_| Err(lost()))
    }

    /// Sends `op` without waiting for the reply.
    ///
    /// # Errors
    /// When the tray process went away.
    pub fn send(&self, op: Op) -> CmdResult<()> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.write(&Request { id, op }).map_err(|_| lost())
    }

    /// Reads the tray process's messages until it closes the connection:
    /// replies and progress go to their callers, the rest to `other`.
    /// Pending calls fail when it returns.
    pub fn read_loop(&self, mut other: impl FnMut(Message)) {
        let Some(stream) = self.reader.lock().expect("reader lock").take() else { return };
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let msg: Message = match serde_json::from_str(&line) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("unreadable message from the tray process: {e}");
                    continue;
                }
            };
            match msg {
                Message::Reply { id, result } => {
                    if let Some((tx, _)) = self.pending.lock().expect("pending lock").remove(&id) {
                        let _ = tx.send(result);
                    }
                }
                Message::Progress { id, event } => {
                    if let Some((_, Some(f))) = self.pending.lock().expect("pending lock").get(&id) {
                        f(event);
                    }
                }
                m => other(m),
            }
        }
        // Dropping the senders fails every pending call.
        self.pending.lock().expect("pending lock").clear();
    }
}

/// A second connection's request for a one-off op (a second launch, `--quit`):
/// sends `op`, and returns once the tray process replied (or, with
/// `until_closed`, once it has exited).
///
/// # Errors
/// When no tray process listens for `root`.
pub fn one_shot(root: &Path, op: Op, until_closed: bool) -> std::io::Result<Option<Result<Value, UiError>>> {
    let mut stream = UnixStream::connect(socket_path(root))?;
    let mut line = serde_json::to_vec(&Request { id: 1, op }).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = None;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if let Ok(Message::Reply { id: 1, result }) = serde_json::from_str(&line) {
            reply = Some(result);
            if !until_closed {
                break;
            }
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_messages_round_trip_as_one_json_line() {
        let r = Request { id: 7, op: Op::Backup { job: Some("tg".into()) } };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"id":7,"op":"backup","job":"tg"}"#);
        assert!(matches!(serde_json::from_str::<Request>(&s).unwrap().op, Op::Backup { job: Some(j) } if j == "tg"));
        let m = Message::Reply { id: 7, result: Err(UiError::new("No.")) };
        let s = serde_json::to_string(&m).unwrap();
        assert!(matches!(serde_json::from_str::<Message>(&s).unwrap(), Message::Reply { id: 7, result: Err(e) } if e.message == "No."));
        assert!(!s.contains('\n'));
    }
}
