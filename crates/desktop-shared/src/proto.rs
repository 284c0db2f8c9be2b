//! How the window process talks to the tray process: JSON lines over a
//! local socket ([`crate::local`]): a Unix socket in the data folder
//! (`desktop.sock`), a named pipe named after the data folder on Windows.
//!
//! The window sends [`Request`]s; the tray answers each with a
//! [`Message::Reply`] carrying the same id (an error as a
//! [`crate::models::UiError`]: `{"code", "message"}`, the code the page
//! switches on), streams [`Message::Progress`] for a run the request
//! started, and pushes page events ([`Message::Emit`]), "show yourself" and
//! "quit" to every window.
//!
//! # Who may ask what
//!
//! - The socket file is the owner's only (0600, never looser, not even for
//!   a moment), and the tray process checks every connection's peer uid
//!   (`SO_PEERCRED`; `getpeereid` on macOS): another user's program is
//!   refused and logged. On
//!   Windows the pipe's DACL lets no other user write to it (see
//!   [`crate::local`]).
//! - Each tray process has a window token ([`new_token`]: 32 random bytes,
//!   hex). It is handed to the other process at start on that process's
//!   stdin, never on a command line: by the tray process to the window it
//!   starts (`nightjar-desktop --window`), or by a window started by hand to
//!   the tray process it starts (`nightjar-tray --no-window`). A window
//!   started by hand while a tray process runs asks it to [`Op::Open`] its
//!   own window and exits.
//! - A connection presents the token once, in its [`Op::Window`] handshake.
//!   Without it only [`Op::Window`] (the handshake itself), [`Op::Open`]
//!   (what a second launch sends: it shows or starts the real window) and
//!   [`Op::Quit`] (`nightjar-tray --quit`; the same user can stop the
//!   process with a signal anyway) are answered. Everything else — the runs
//!   ([`Op::Backup`], [`Op::Restore`], [`Op::Verify`], [`Op::Cancel`]),
//!   [`Op::Paused`] (writes the schedule state), [`Op::Changed`],
//!   [`Op::TestNotification`], [`Op::TakeNavigation`] and [`Op::Running`] —
//!   is refused with a reply saying so ([`TOKEN_REFUSED`]). Deleting a
//!   backup, saving settings and storing passwords are not on the socket at
//!   all: the window does them itself, in its own process.
//! - A restore carries the database name the user typed; the tray process
//!   checks it against the plan's real target (the new name when restoring
//!   as new) before anything runs.
//! - A line longer than [`MAX_LINE`] is refused without being buffered, and
//!   a request that is not one of the operations below gets an error reply;
//!   the connection goes on either way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use nightjar_core::ErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::local::{self, Stream};
use crate::models::{CmdResult, UiError};

/// Event the page listens to: the runs or the history changed; reload.
pub const RUNS_CHANGED: &str = "runs-changed";
/// Progress of a run the page did not start (scheduled, tray).
pub const RUN_PROGRESS: &str = "run-progress";
/// Ask the page to show a view (`{"view": "history"}`), e.g. after a notification click.
pub const NAVIGATE: &str = "navigate";

/// The longest request line the tray process reads (1 MiB); a longer one is refused.
pub const MAX_LINE: usize = 1 << 20;

/// The reply to a request that needs the window's token on a connection that did not present it.
pub const TOKEN_REFUSED: &str = "Only Nightjar's own window may do this; open the window from the tray (or run nightjar-desktop) and do it there.";

/// The socket of the tray process for the data folder `root` (Unix; on
/// Windows the pipe's name is [`crate::local::address`]).
#[must_use]
pub fn socket_path(root: &Path) -> PathBuf {
    root.join("desktop.sock")
}

/// A new window token: 32 random bytes from the OS (`getrandom` on Linux,
/// `ProcessPrng` on Windows), as 64 hex digits.
///
/// # Errors
/// When the OS gives no random bytes.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(format!("no random bytes from the OS: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `s` looks like a token [`new_token`] made.
fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads the window token the parent process wrote on our stdin (one line);
/// `None` when stdin is a terminal or holds no token.
#[must_use]
pub fn token_from_stdin() -> Option<String> {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return None;
    }
    let mut line = String::new();
    // A token line is 65 bytes: never read more than that much.
    stdin.lock().take(128).read_line(&mut line).ok()?;
    let token = line.trim();
    is_token(token).then(|| token.to_string())
}

/// Compares a presented token with the real one in time that does not
/// depend on where they differ.
#[must_use]
pub fn token_matches(presented: &str, token: &str) -> bool {
    presented.len() == token.len() && presented.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// One line read by [`read_line_bounded`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline), or the last bytes before the end.
    Text(Vec<u8>),
    /// Longer than the limit: what was read of it is dropped, the rest is
    /// still to be skipped with [`skip_line`].
    TooLong,
    /// The other end closed the connection.
    End,
}

/// Reads one line of at most `max` bytes, never holding more than that.
///
/// # Errors
/// When reading fails.
pub fn read_line_bounded(r: &mut impl BufRead, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(if line.is_empty() { Line::End } else { Line::Text(line) });
        }
        let (take, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            // Keep the newline (if it is here) for `skip_line`.
            r.consume(take);
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take + usize::from(newline));
        if newline {
            return Ok(Line::Text(line));
        }
    }
}

/// Skips the rest of a line [`read_line_bounded`] found too long, without
/// keeping it; false when the connection ended first.
///
/// # Errors
/// When reading fails.
pub fn skip_line(r: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            r.consume(i + 1);
            return Ok(true);
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// What a window (or a second launch) asks of the tray process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// The handshake: this connection is the window, with the token its
    /// tray process handed over; send it page events, show and quit.
    Window { token: String },
    /// Show the window (start one if none runs), optionally on a view.
    Open { view: Option<Value> },
    /// "Backup now": one job or all. Replies `Vec<BackupOutcome>`.
    Backup { job: Option<String> },
    /// Stop the running backup or restore of a job. Replies a bool.
    Cancel { job: String },
    /// Pause or resume the schedules.
    Paused { paused: bool },
    /// A confirmed restore. Replies the `RestoreReport`.
    Restore { request: crate::models::RestoreRequest, confirm: String },
    /// Check a backup from the history (`run`: its row's id; not `id`,
    /// which is the request's); with `test_restore`, also restored into a
    /// scratch database on its job's server and dropped again. Replies the
    /// `VerifyReport`.
    Verify {
        run: i64,
        #[serde(default)]
        test_restore: bool,
    },
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

impl Op {
    /// Whether the connection must have presented the window's token (see
    /// the module docs): all but the handshake, [`Op::Open`] and [`Op::Quit`].
    #[must_use]
    pub fn needs_token(&self) -> bool {
        !matches!(self, Self::Window { .. } | Self::Open { .. } | Self::Quit)
    }
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
    writer: Mutex<Stream>,
    reader: Mutex<Option<Stream>>,
    pending: Arc<Mutex<Pending>>,
    next: AtomicU64,
}

fn lost() -> UiError {
    UiError::new(ErrorKind::Other, "Nightjar's tray process is not running; start Nightjar again.")
}

impl HostClient {
    /// Connects to the tray process of the data folder `root`.
    ///
    /// # Errors
    /// When no tray process listens there.
    pub fn connect(root: &Path) -> std::io::Result<Self> {
        let stream = local::connect(root)?;
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
    let mut stream = local::connect(root)?;
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
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert!(is_token(&a) && is_token(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(token_matches(&a, &a.clone()));
        assert!(!token_matches(&a, &b) && !token_matches(&a, "") && !token_matches(&a, &a[..63]));
    }

    #[test]
    fn a_line_over_the_limit_is_refused_and_the_next_one_is_read() {
        let mut input = Vec::new();
        input.extend_from_slice(b"short\n");
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\nexactly-10\neleven-byte\nlast");
        // A small buffer, so the long line spans several reads.
        let mut r = BufReader::with_capacity(8, input.as_slice());
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::Text(b"short".to_vec()));
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::TooLong);
        assert!(skip_line(&mut r).unwrap());
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::Text(b"exactly-10".to_vec()));
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::TooLong, "11 bytes are over 10");
        assert!(skip_line(&mut r).unwrap());
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::Text(b"last".to_vec()));
        assert_eq!(read_line_bounded(&mut r, 10).unwrap(), Line::End);
    }

    #[test]
    fn only_the_handshake_open_and_quit_go_without_the_token() {
        assert!(!Op::Window { token: String::new() }.needs_token());
        assert!(!Op::Open { view: None }.needs_token());
        assert!(!Op::Quit.needs_token());
        for op in [Op::Backup { job: None }, Op::Verify { run: 1, test_restore: false }, Op::Cancel { job: "a".into() }, Op::Paused { paused: true }, Op::Changed, Op::Running, Op::TakeNavigation, Op::TestNotification] {
            assert!(op.needs_token(), "{op:?}");
        }
    }

    #[test]
    fn requests_and_messages_round_trip_as_one_json_line() {
        let r = Request { id: 7, op: Op::Backup { job: Some("tg".into()) } };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"id":7,"op":"backup","job":"tg"}"#);
        assert!(matches!(serde_json::from_str::<Request>(&s).unwrap().op, Op::Backup { job: Some(j) } if j == "tg"));
        let m = Message::Reply { id: 7, result: Err(UiError::new(ErrorKind::Busy, "No.")) };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"{"type":"reply","id":7,"result":{"Err":{"code":"busy","message":"No."}}}"#);
        assert!(matches!(serde_json::from_str::<Message>(&s).unwrap(), Message::Reply { id: 7, result: Err(e) } if e.message == "No." && e.code == ErrorKind::Busy));
        assert!(!s.contains('\n'));
        let r = Request { id: 7, op: Op::Verify { run: 5, test_restore: true } };
        let s = serde_json::to_string(&r).unwrap();
        assert!(matches!(serde_json::from_str::<Request>(&s).unwrap(), Request { id: 7, op: Op::Verify { run: 5, test_restore: true } }), "{s}");
    }
}
