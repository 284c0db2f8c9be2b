//! One run at a time per job, across processes (CLI, daemon, desktop app).
//!
//! An OS file lock (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`) on `<data>/locks/<job>.lock`. The kernel drops
//! it when the holder exits or crashes, so a dead run can never leave a job
//! stuck. The file's content (pid, start time) is informational only; the
//! file and its folder are owner-only.

use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::{Error, ErrorKind, Result};

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    file: File,
    path: PathBuf,
}

impl JobLock {
    /// Takes the lock for `job` in `dir` without waiting.
    ///
    /// # Errors
    /// [`ErrorKind::Busy`] when another run holds it (naming its pid when
    /// known); [`ErrorKind::Other`] when the lock file cannot be created.
    pub fn try_acquire(dir: &Path, job: &str) -> Result<JobLock> {
        crate::private::create_dir_all(dir).map_err(|e| {
            Error::other(format!("The lock folder {} cannot be created; check the data folder's permissions.", dir.display())).with_source(e)
        })?;
        let path = dir.join(format!("{job}.lock"));
        let mut file = crate::private::file_options().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| {
            Error::other(format!("The lock file {} cannot be opened; check the data folder's permissions.", path.display())).with_source(e)
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let who = holder.lines().next().filter(|l| !l.is_empty()).map(|l| format!(" ({l})")).unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!("Job \"{job}\" is already running{who}; wait for that run to finish, then try again."),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::other(format!("The lock file {} cannot be locked.", path.display())).with_source(e));
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "pid {} since {}", std::process::id(), chrono::Utc::now().to_rfc3339());
        Ok(JobLock { file, path })
    }

    /// Takes the lock, waiting up to `timeout` for another run to finish
    /// (checking `cancel` twice a second).
    ///
    /// # Errors
    /// As [`JobLock::try_acquire`] once the time is up, or
    /// [`ErrorKind::Interrupted`] when cancelled.
    pub fn acquire_wait(dir: &Path, job: &str, timeout: std::time::Duration, cancel: &std::sync::atomic::AtomicBool) -> Result<JobLock> {
        let deadline = std::time::Instant::now() + timeout;
        let mut logged = false;
        loop {
            match Self::try_acquire(dir, job) {
                Err(e) if e.kind() == ErrorKind::Busy && std::time::Instant::now() < deadline => {
                    if !logged {
                        tracing::info!(job, "waiting for the running backup of this job to finish");
                        logged = true;
                    }
                    if cancel.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(Error::new(ErrorKind::Interrupted, format!("Stopped while waiting for the running backup of \"{job}\" to finish.")));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// The lock file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let a = JobLock::try_acquire(dir.path(), "tg").unwrap();
        let e = JobLock::try_acquire(dir.path(), "tg").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(e.to_string().contains("already running"), "{e}");
        assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
        let _other = JobLock::try_acquire(dir.path(), "other").unwrap();
        drop(a);
        JobLock::try_acquire(dir.path(), "tg").unwrap();
    }
}
