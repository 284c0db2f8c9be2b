//! Cloud copies: backups written into a OneDrive-synced folder, tracked
//! until OneDrive (looked up through Graph) holds the same bytes. The rows
//! live in the history file (`cloud_copies`, migration 2) so `nightjar
//! status` and the desktop app can tell "in the cloud" from "still
//! syncing" and "not arrived".

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension as _, Row};
use serde::Serialize;

use super::{get_time, History};
use crate::Result;

/// Where a synced backup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudState {
    /// Written locally; OneDrive does not hold it (yet).
    Pending,
    /// OneDrive holds the same size and quickXorHash.
    InCloud,
    /// Not in OneDrive within the configured time; a warning was raised.
    /// Still checked: it becomes `InCloud` when it arrives.
    Late,
    /// The local file is gone (retention) before it was confirmed.
    Gone,
}

impl CloudState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InCloud => "in-cloud",
            Self::Late => "late",
            Self::Gone => "gone",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "in-cloud" => Self::InCloud,
            "late" => Self::Late,
            "gone" => Self::Gone,
            _ => Self::Pending,
        }
    }
}

/// One tracked backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudCopy {
    /// The backup's history row.
    pub run_id: i64,
    /// Its job.
    pub job: String,
    /// The local file.
    pub file: String,
    /// Its path inside OneDrive (`Backups/app/app_….dump.zst`).
    pub remote_path: String,
    /// Size of the local file.
    pub size: u64,
    /// quickXorHash (base64) of the local file.
    pub quick_xor_hash: String,
    /// Where it stands.
    pub state: CloudState,
    /// When tracking began (the backup's end).
    pub since: DateTime<Utc>,
    /// Last look-up through Graph.
    pub checked_at: Option<DateTime<Utc>>,
    /// When OneDrive was seen holding it.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When the "not arrived" warning was raised.
    pub warned_at: Option<DateTime<Utc>>,
}

/// A backup to start tracking.
#[derive(Debug, Clone)]
pub struct NewCloudCopy {
    /// The backup's history row.
    pub run_id: i64,
    /// Its job.
    pub job: String,
    /// The local file.
    pub file: String,
    /// Its path inside OneDrive.
    pub remote_path: String,
    /// Size of the local file.
    pub size: u64,
    /// quickXorHash (base64) of the local file.
    pub quick_xor_hash: String,
    /// When tracking begins.
    pub since: DateTime<Utc>,
}

const COLUMNS: &str = "run_id, job, file, remote_path, size, quick_xor, state, since, checked_at, confirmed_at, warned_at";

fn read(row: &Row<'_>) -> rusqlite::Result<CloudCopy> {
    let state: String = row.get(6)?;
    Ok(CloudCopy {
        run_id: row.get(0)?,
        job: row.get(1)?,
        file: row.get(2)?,
        remote_path: row.get(3)?,
        size: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
        quick_xor_hash: row.get(5)?,
        state: CloudState::parse(&state),
        since: get_time(row, 7)?.unwrap_or_default(),
        checked_at: get_time(row, 8)?,
        confirmed_at: get_time(row, 9)?,
        warned_at: get_time(row, 10)?,
    })
}

impl History {
    /// Starts tracking a backup (again: no-op when it is tracked already).
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the row cannot be written.
    pub fn track_cloud_copy(&self, c: &NewCloudCopy) -> Result<()> {
        self.lock().execute(
            "INSERT OR IGNORE INTO cloud_copies (run_id, job, file, remote_path, size, quick_xor, state, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            params![c.run_id, c.job, c.file, c.remote_path, i64::try_from(c.size).unwrap_or(i64::MAX), c.quick_xor_hash, c.since.timestamp_millis()],
        )?;
        Ok(())
    }

    /// Records a look-up: the new state, when it was made, and (for
    /// `InCloud`/`Late`) the confirmation or warning time.
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the row cannot be written.
    pub fn set_cloud_state(&self, run_id: i64, state: CloudState, at: DateTime<Utc>) -> Result<()> {
        let ms = at.timestamp_millis();
        self.lock().execute(
            "UPDATE cloud_copies SET state = ?2, checked_at = ?3,
                 confirmed_at = CASE WHEN ?2 = 'in-cloud' THEN ?3 ELSE confirmed_at END,
                 warned_at = CASE WHEN ?2 = 'late' AND warned_at IS NULL THEN ?3 ELSE warned_at END
             WHERE run_id = ?1",
            params![run_id, state.as_str(), ms],
        )?;
        Ok(())
    }

    /// The tracked backup of history row `run_id`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the history cannot be read.
    pub fn cloud_copy(&self, run_id: i64) -> Result<Option<CloudCopy>> {
        Ok(self.lock().query_row(&format!("SELECT {COLUMNS} FROM cloud_copies WHERE run_id = ?1"), params![run_id], read).optional()?)
    }

    /// The backup row of `job` that started at `started_at` (to the
    /// millisecond): how an upload finished by a later process (staged
    /// OneDrive uploads) finds the run it belongs to.
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the history cannot be read.
    pub fn backup_started_at(&self, job: &str, started_at: DateTime<Utc>) -> Result<Option<i64>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id FROM runs WHERE job = ?1 AND kind = 'backup' AND started_at = ?2 ORDER BY id DESC LIMIT 1",
                params![job, started_at.timestamp_millis()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Tracked backups not confirmed yet (pending or late), oldest first.
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the history cannot be read.
    pub fn unconfirmed_cloud_copies(&self) -> Result<Vec<CloudCopy>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM cloud_copies WHERE state IN ('pending', 'late') ORDER BY since, run_id"))?;
        let rows = st.query_map([], read)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn track_confirm_warn_and_list() {
        let h = History::open_in_memory().unwrap();
        let t0 = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let new = |id: i64| NewCloudCopy {
            run_id: id,
            job: "app".into(),
            file: format!("/home/u/OneDrive/b/{id}.zst"),
            remote_path: format!("b/{id}.zst"),
            size: 10,
            quick_xor_hash: "AAAA".into(),
            since: t0,
        };
        h.track_cloud_copy(&new(1)).unwrap();
        h.track_cloud_copy(&new(2)).unwrap();
        h.track_cloud_copy(&new(1)).unwrap();
        assert_eq!(h.unconfirmed_cloud_copies().unwrap().len(), 2);
        let t1 = t0 + chrono::Duration::hours(3);
        h.set_cloud_state(2, CloudState::Late, t1).unwrap();
        h.set_cloud_state(2, CloudState::Late, t1 + chrono::Duration::hours(1)).unwrap();
        h.set_cloud_state(1, CloudState::InCloud, t1).unwrap();
        let c1 = h.cloud_copy(1).unwrap().unwrap();
        assert_eq!((c1.state, c1.confirmed_at, c1.warned_at), (CloudState::InCloud, Some(t1), None));
        let c2 = h.cloud_copy(2).unwrap().unwrap();
        assert_eq!((c2.state, c2.warned_at, c2.checked_at), (CloudState::Late, Some(t1), Some(t1 + chrono::Duration::hours(1))));
        assert_eq!(h.unconfirmed_cloud_copies().unwrap().iter().map(|c| c.run_id).collect::<Vec<_>>(), vec![2]);
        assert!(h.cloud_copy(3).unwrap().is_none());
    }
}
