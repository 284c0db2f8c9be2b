//! Writing to a history that another process keeps busy.
//!
//! Every write already waits [`super::BUSY_TIMEOUT`] for the other
//! process. A backup must not fail because its *record* cannot be written
//! in that time: the runner goes on with the dump and writes the record
//! once the history is free again, through [`History::write_patiently`],
//! which keeps trying for as long as the caller allows.

use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

use super::History;
use crate::{Error, Result};

/// How long a finished run waits for a busy history before giving up on
/// recording it (the backup file is kept either way).
pub const RECORD_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// True when `e` is a history write refused because another process holds
/// the history's write lock past the busy timeout.
#[must_use]
pub fn is_busy(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<rusqlite::Error>())
        .and_then(rusqlite::Error::sqlite_error_code)
        .is_some_and(|c| matches!(c, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

impl History {
    /// Record a whole run in one insert: for a run whose start could not
    /// be recorded while it ran (the history was busy).
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the row cannot be written.
    pub fn record_run(&self, run: &super::NewRun, outcome: &super::RunOutcome) -> Result<i64> {
        self.insert(run, Some(outcome))
    }

    /// Runs `write` until it is no longer refused as busy, for at most
    /// `patience` (each attempt itself waits up to the busy timeout).
    /// `what` names the write in the log ("the backup of \"app\"").
    ///
    /// # Errors
    /// The first error that is not "busy", or the last "busy" once
    /// `patience` has passed.
    pub fn write_patiently<T>(&self, patience: Duration, what: &str, mut write: impl FnMut(&History) -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let mut waited = false;
        loop {
            match write(self) {
                Err(e) if is_busy(&e) && started.elapsed() < patience => {
                    if !waited {
                        tracing::warn!("the backup history is busy in another process; {what} is recorded once it is free");
                        waited = true;
                    }
                    // A busy answer can also come at once (no waiting on a snapshot conflict).
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
                Ok(v) => {
                    if waited {
                        tracing::info!(waited_s = started.elapsed().as_secs(), "{what} is recorded in the history now that it is free");
                    }
                    return Ok(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{NewRun, RunFilter, RunKind};
    use crate::model::Trigger;

    #[test]
    fn a_write_waits_for_the_other_writer_and_then_happens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        let h = History::open(&path).unwrap();
        h.lock().busy_timeout(Duration::from_millis(100)).unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; DELETE FROM runs;").unwrap();
        let run = NewRun {
            job: "a".into(),
            kind: RunKind::Backup,
            trigger: Trigger::Manual,
            started_at: chrono::Utc::now(),
            destination: "/b".into(),
            engine: None,
            format: None,
            compression: None,
            database: None,
        };
        let e = h.start_run(&run).unwrap_err();
        assert!(is_busy(&e), "{e:?}");
        let e = h.write_patiently(Duration::from_millis(300), "a test run", |h| h.start_run(&run)).unwrap_err();
        assert!(is_busy(&e));
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            other.execute_batch("COMMIT;").unwrap();
        });
        h.write_patiently(Duration::from_secs(30), "a test run", |h| h.start_run(&run)).unwrap();
        release.join().unwrap();
        assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 1);
        assert!(!is_busy(&Error::other("x")));
    }
}
