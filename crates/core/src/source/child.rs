//! A child process read as a stream.
//!
//! stderr is drained on its own thread (a full stderr pipe would otherwise
//! block the child forever) keeping only its tail for the error message. A
//! stream dropped before [`ChildStream::finish`] kills the child so nothing
//! is left running.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

/// How much of stderr is kept.
const STDERR_TAIL: usize = 16 * 1024;

/// A running child whose stdout is read as a stream.
pub struct ChildStream {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: String,
    finished: bool,
}

/// Why a child's stream is not good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFailure {
    /// The program name.
    pub program: String,
    /// The exit code, or `None` when killed by a signal.
    pub code: Option<i32>,
    /// The signal number that killed it (Unix).
    pub signal: Option<i32>,
    /// The last part of its stderr, lossily decoded.
    pub stderr_tail: String,
}

impl ChildFailure {
    /// The last non-empty stderr line, for one-sentence messages.
    #[must_use]
    pub fn last_line(&self) -> &str {
        self.stderr_tail.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
    }

    /// "exit code 1" / "signal 9".
    #[must_use]
    pub fn status_text(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "unknown status".into(),
        }
    }

    /// The sentence for a dump that failed for no reason the engine
    /// recognised: killed by a signal, or the tool's exit status and its
    /// last stderr line.
    #[must_use]
    pub fn dump_error(&self) -> crate::Error {
        let program = program_name(&self.program);
        if let Some(sig) = self.signal {
            return crate::Error::new(crate::ErrorKind::Tool, format!("{program} was killed by signal {sig} before the dump finished; nothing was saved."));
        }
        let line = self.last_line();
        let detail = if line.is_empty() { self.status_text() } else { format!("{}: {line}", self.status_text()) };
        crate::Error::new(crate::ErrorKind::Tool, format!("{program} failed ({detail}); nothing was saved."))
    }
}

/// The file name of a program path (`/usr/bin/pg_dump` → `pg_dump`).
#[must_use]
pub fn program_name(p: &str) -> String {
    std::path::Path::new(p).file_name().map_or_else(|| p.to_string(), |n| n.to_string_lossy().into_owned())
}

impl ChildStream {
    /// Spawns `cmd` with stdout and stderr piped and stdin closed.
    ///
    /// # Errors
    /// The spawn error (`NotFound` when the program does not exist).
    pub fn spawn(mut cmd: Command) -> io::Result<ChildStream> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = crate::platform::spawn_tool(&mut cmd)?;
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let handle = drain_stderr_tail(stderr)?;
        Ok(ChildStream { child, stdout, stderr: Some(handle), program, finished: false })
    }

    /// The child's pid.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child (used on cancel); `finish` then reports the signal.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the child and turns its exit status into the verdict.
    ///
    /// # Errors
    /// [`ChildFailure`] unless it exited 0.
    pub fn finish(mut self) -> Result<String, ChildFailure> {
        // Drain what is left so the child is not blocked on a full pipe.
        let _ = io::copy(&mut self.stdout, &mut io::sink());
        let status = self.child.wait();
        self.finished = true;
        let tail = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let tail = String::from_utf8_lossy(&tail).into_owned();
        match status {
            Ok(s) if s.success() => Ok(tail),
            Ok(s) => Err(failure(&self.program, s, tail)),
            Err(e) => Err(ChildFailure { program: self.program.clone(), code: None, signal: None, stderr_tail: e.to_string() }),
        }
    }
}

/// Drains a child's stderr on its own thread (a full pipe would block the
/// child forever), keeping only the last [`STDERR_TAIL`] bytes.
///
/// # Errors
/// When the thread cannot be started.
pub(crate) fn drain_stderr_tail(mut stderr: std::process::ChildStderr) -> io::Result<JoinHandle<Vec<u8>>> {
    std::thread::Builder::new().name("child-stderr".into()).spawn(move || {
        let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL);
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if tail.len() == STDERR_TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(b);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        tail.into_iter().collect()
    })
}

/// Runs `work` while a watcher stops the child `pid` as soon as `cancel` is
/// raised. A child blocked on the server sends and reads nothing, so the
/// stream alone could not notice a cancel. The watcher ends the moment
/// `work` returns (no polling delay is added to the run).
pub(crate) fn with_cancel_watch<T>(pid: u32, cancel: &std::sync::atomic::AtomicBool, work: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let (done, finished) = channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends when `work` is done (the sender is dropped) or on cancel.
            while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(std::time::Duration::from_millis(100)) {
                if cancel.load(Ordering::Relaxed) {
                    crate::platform::terminate_tool(pid);
                    break;
                }
            }
        });
        let r = work();
        drop(done);
        r
    })
}

fn failure(program: &str, s: ExitStatus, stderr_tail: String) -> ChildFailure {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&s);
    #[cfg(not(unix))]
    let signal = None;
    ChildFailure { program: program.to_string(), code: s.code(), signal, stderr_tail }
}

impl Read for ChildStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Drop for ChildStream {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a short command to completion and returns its stdout.
///
/// # Errors
/// The spawn error, or the [`ChildFailure`] as an `io::Error::other`.
pub fn run_capture(cmd: Command) -> Result<String, CaptureError> {
    let mut s = ChildStream::spawn(cmd).map_err(CaptureError::Spawn)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(CaptureError::Spawn)?;
    s.finish().map_err(CaptureError::Failed)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Why [`run_capture`] failed.
#[derive(Debug)]
pub enum CaptureError {
    /// The program could not be started.
    Spawn(io::Error),
    /// It ran and failed.
    Failed(ChildFailure),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn exit_status_is_part_of_the_data() {
        let mut s = ChildStream::spawn(sh("echo hello; echo 'pg_dump: error: boom' >&2; exit 3")).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello\n");
        let f = s.finish().unwrap_err();
        assert_eq!(f.code, Some(3));
        assert_eq!(f.last_line(), "pg_dump: error: boom");
        let ok = ChildStream::spawn(sh("echo fine")).unwrap();
        assert!(ok.finish().is_ok());
    }

    #[test]
    fn large_stderr_does_not_block_and_keeps_the_tail() {
        let s = ChildStream::spawn(sh("i=0; while [ $i -lt 5000 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done; echo last >&2; exit 1")).unwrap();
        let f = s.finish().unwrap_err();
        assert_eq!(f.last_line(), "last");
        assert!(f.stderr_tail.len() <= STDERR_TAIL);
    }

    #[test]
    fn missing_program_and_drop_kills() {
        assert_eq!(ChildStream::spawn(Command::new("/nonexistent/pg_dump")).err().unwrap().kind(), io::ErrorKind::NotFound);
        let s = ChildStream::spawn(sh("sleep 30")).unwrap();
        let pid = s.id();
        drop(s);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| st.contains(") Z")));
    }
}
