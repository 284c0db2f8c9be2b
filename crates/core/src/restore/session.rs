//! One `psql` kept open on the maintenance database for the statements a
//! restore runs about databases (look up, create, rename, swap, drop).
//!
//! Starting psql and a server backend costs tens of milliseconds each time,
//! and a restore runs about ten such statements: on a small database that was
//! a tenth of the whole restore. The session sends each statement on psql's
//! standard input, then `\echo`es a marker and reads the output up to it.
//!
//! It keeps the semantics of `psql -c`, which is what the statements were
//! written for: psql runs with `ON_ERROR_STOP=1`, so the first error ends
//! psql, the server rolls back what was open, and the error is the same
//! [`ChildFailure`] (exit status and stderr) a `psql -c` would have given.
//! Statements that must happen together are sent between `BEGIN` and
//! `COMMIT` ([`Atomic::Yes`]), as `psql -c` ran a multi-statement string in
//! one implicit transaction. After a failure the session is gone; the next
//! statement starts a new one.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::source::ChildFailure;

/// How many bytes of stderr a failure keeps (as [`crate::source::child`]).
const STDERR_TAIL: usize = 8 * 1024;

/// Whether the statements of one call must all happen or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomic {
    /// One statement, sent as it is (`CREATE DATABASE` and `DROP DATABASE`
    /// cannot run inside a transaction block).
    No,
    /// Sent between `BEGIN` and `COMMIT`.
    Yes,
}

/// Why a statement sent through the session failed.
#[derive(Debug)]
pub enum SessionError {
    /// psql could not be started or talked to.
    Io(std::io::Error),
    /// psql ended (a failed statement, a lost or refused connection).
    Failed(ChildFailure),
}

/// A running `psql` reading statements from a pipe.
#[derive(Debug)]
pub struct PsqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: String,
    sent: u64,
    token: String,
}

impl PsqlSession {
    /// Starts `cmd` (a `psql` with its connection options, without `-c`)
    /// reading from a pipe. The connection is made by the first statement.
    ///
    /// # Errors
    /// When psql cannot be started.
    pub fn start(mut cmd: Command) -> std::io::Result<PsqlSession> {
        let program = std::path::Path::new(cmd.get_program()).file_name().map_or_else(|| "psql".into(), |n| n.to_string_lossy().into_owned());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = crate::platform::spawn_tool(&mut cmd)?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| std::io::Error::other("psql's output is not a pipe"))?);
        // Drained all along so a chatty psql (NOTICEs) never blocks on a full pipe.
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * STDERR_TAIL {
                        kept.drain(..kept.len() - STDERR_TAIL);
                    }
                }
                kept
            })
        });
        let token = format!("__nightjar_{}_{}__", std::process::id(), rand_suffix());
        Ok(PsqlSession { child, stdin, stdout, stderr, program, sent: 0, token })
    }

    /// Runs `sql` and returns what it printed (`-A -t` output, one line per
    /// row). On failure the session has ended and must be dropped.
    ///
    /// # Errors
    /// [`SessionError::Failed`] with psql's exit status and stderr when a
    /// statement failed or the connection did; [`SessionError::Io`] when
    /// psql could not be written to or read from.
    pub fn run(&mut self, sql: &str, atomic: Atomic) -> Result<String, SessionError> {
        self.sent += 1;
        let marker = format!("{}{}", self.token, self.sent);
        let mut script = String::with_capacity(sql.len() + 64);
        if atomic == Atomic::Yes {
            script.push_str("BEGIN;\n");
        }
        script.push_str(sql);
        // A lone `;` on its own line ends the statement even after a comment.
        script.push_str("\n;\n");
        if atomic == Atomic::Yes {
            script.push_str("COMMIT;\n");
        }
        script.push_str("\\echo ");
        script.push_str(&marker);
        script.push('\n');
        let written = match self.stdin.as_mut() {
            Some(w) => w.write_all(script.as_bytes()).and_then(|()| w.flush()),
            None => Err(std::io::Error::other("the psql session was closed")),
        };
        if written.is_err() {
            // psql already ended (its stdin is closed): report why.
            return Err(self.ended());
        }
        let mut out = String::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match self.stdout.read_until(b'\n', &mut line) {
                Ok(0) => return Err(self.ended()),
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if text.trim_end_matches(['\n', '\r']) == marker {
                        return Ok(out);
                    }
                    out.push_str(&text);
                }
                Err(e) => return Err(SessionError::Io(e)),
            }
        }
    }

    /// psql stopped: its exit status and the end of its stderr.
    fn ended(&mut self) -> SessionError {
        self.stdin = None;
        let status = match self.child.wait() {
            Ok(s) => s,
            Err(e) => return SessionError::Io(e),
        };
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let start = stderr.len().saturating_sub(STDERR_TAIL);
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        SessionError::Failed(ChildFailure {
            program: self.program.clone(),
            // A psql that ended with status 0 here still did not answer.
            code: Some(status.code().filter(|c| *c != 0).unwrap_or(2)).filter(|_| signal.is_none()),
            signal,
            stderr_tail: String::from_utf8_lossy(&stderr[start..]).into_owned(),
        })
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        // End of input: psql disconnects and exits.
        self.stdin = None;
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.wait();
        }
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
    }
}

/// A few random hex digits, so no row can be mistaken for the marker.
fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for psql: a shell that runs each line as a command, so a
    /// test can make it print, fail or exit.
    fn fake_psql(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn reads_up_to_the_marker_and_keeps_going() {
        // Echoes back every line except the statement terminators; `\echo X` prints X.
        let mut s = PsqlSession::start(fake_psql(
            r#"while IFS= read -r l; do case "$l" in '\echo '*) printf '%s\n' "${l#\\echo }";; ';'|'') ;; *) printf 'row:%s\n' "$l";; esac; done"#,
        ))
        .unwrap();
        assert_eq!(s.run("SELECT 1", Atomic::No).unwrap(), "row:SELECT 1\n");
        assert_eq!(s.run("a", Atomic::Yes).unwrap(), "row:BEGIN;\nrow:a\nrow:COMMIT;\n");
    }

    #[test]
    fn a_failure_carries_the_exit_status_and_stderr() {
        let mut s = PsqlSession::start(fake_psql("read -r l; echo 'ERROR:  relation \"x\" does not exist' >&2; exit 3")).unwrap();
        match s.run("SELECT * FROM x", Atomic::No) {
            Err(SessionError::Failed(f)) => {
                assert_eq!(f.code, Some(3));
                assert!(f.stderr_tail.contains("does not exist"), "{}", f.stderr_tail);
                assert_eq!(f.program, "sh");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        // Once ended, it stays ended.
        assert!(matches!(s.run("SELECT 1", Atomic::No), Err(SessionError::Failed(_))));
    }

    #[test]
    fn a_silent_exit_is_still_a_failure() {
        let mut s = PsqlSession::start(fake_psql("exit 0")).unwrap();
        match s.run("SELECT 1", Atomic::No) {
            Err(SessionError::Failed(f)) => assert_eq!(f.code, Some(2)),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
