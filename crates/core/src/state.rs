//! Small persisted app state shared by the daemon, the desktop app and the
//! CLI: whether schedules are paused (and until when).
//!
//! Kept as JSON in the data directory, written atomically (temp file,
//! fsync, rename), so a crash never leaves it half-written; owner-only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Whether schedules run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Paused by the user.
    pub paused: bool,
    /// Resume automatically at this time (only meaningful when paused).
    pub resume_at: Option<DateTime<Utc>>,
}

impl ScheduleState {
    /// True when schedules should not run at `now`.
    #[must_use]
    pub fn is_paused(&self, now: DateTime<Utc>) -> bool {
        self.paused && self.resume_at.is_none_or(|r| now < r)
    }
}

/// The state file in a data directory.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// `<data>/schedule-state.json`.
    #[must_use]
    pub fn in_dir(dir: &Path) -> Self {
        Self { path: dir.join("schedule-state.json") }
    }

    /// Reads the state; a missing or unreadable file means "not paused".
    #[must_use]
    pub fn load(&self) -> ScheduleState {
        std::fs::read(&self.path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Writes the state atomically.
    ///
    /// # Errors
    /// When the data directory is not writable.
    pub fn save(&self, state: &ScheduleState) -> Result<()> {
        let fail = |e: std::io::Error| {
            Error::other(format!("Could not save the schedule state in {}; check the data folder's permissions.", self.path.display()))
                .with_source(e)
        };
        if let Some(dir) = self.path.parent() {
            crate::private::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = crate::private::create_file(&tmp).map_err(fail)?;
        f.write_all(&serde_json::to_vec_pretty(state).expect("state serializes")).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pause_with_resume_at() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let s = ScheduleState { paused: true, resume_at: Some(t) };
        assert!(s.is_paused(t - chrono::Duration::seconds(1)));
        assert!(!s.is_paused(t));
        assert!(ScheduleState { paused: true, resume_at: None }.is_paused(t));
        assert!(!ScheduleState::default().is_paused(t));
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::in_dir(dir.path());
        assert_eq!(f.load(), ScheduleState::default());
        f.save(&s).unwrap();
        assert_eq!(f.load(), s);
    }
}
