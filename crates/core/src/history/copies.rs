//! The copies of a backup with several destinations (`copies`, migration
//! 3): one row per destination of the run, saying whether that copy is
//! good, and, for a copy made later from another one, where it came from.

use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
use serde::Serialize;

use super::{get_time, History};
use crate::Result;

/// Whether a copy is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyStatus {
    /// Committed with its manifest.
    Good,
    /// Not made (or not finished); nothing is left under the backup's name.
    Failed,
}

impl CopyStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Failed => "failed",
        }
    }
}

/// One copy of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyRecord {
    /// The backup run.
    pub run_id: i64,
    /// The destination's place in the job's list (0: the primary).
    pub position: u32,
    /// The destination as the config names it (`s3://bucket/prefix`).
    pub destination: String,
    /// The full path or URL of the copy, when it is good.
    pub file: Option<String>,
    /// Good or failed.
    pub status: CopyStatus,
    /// Why it failed (one sentence).
    pub error: Option<String>,
    /// Size in bytes, when good.
    pub size: Option<u64>,
    /// The copy it was made from afterwards, instead of from the dump.
    pub copied_from: Option<String>,
    /// When this row was last written.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "run_id, position, destination, file, status, error, size, copied_from, updated_at";

fn read(row: &Row<'_>) -> rusqlite::Result<CopyRecord> {
    let status: String = row.get(4)?;
    Ok(CopyRecord {
        run_id: row.get(0)?,
        position: row.get(1)?,
        destination: row.get(2)?,
        file: row.get(3)?,
        status: if status == "good" { CopyStatus::Good } else { CopyStatus::Failed },
        error: row.get(5)?,
        size: row.get::<_, Option<i64>>(6)?.and_then(|s| u64::try_from(s).ok()),
        copied_from: row.get(7)?,
        updated_at: get_time(row, 8)?.unwrap_or_default(),
    })
}

impl History {
    /// Records (or replaces) the copy of `c.run_id` in `c.destination`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the row cannot be written.
    pub fn record_copy(&self, c: &CopyRecord) -> Result<()> {
        self.lock().execute(
            &format!("INSERT OR REPLACE INTO copies ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                c.run_id,
                c.position,
                c.destination,
                c.file,
                c.status.as_str(),
                c.error,
                c.size.and_then(|s| i64::try_from(s).ok()),
                c.copied_from,
                c.updated_at.timestamp_millis()
            ],
        )?;
        Ok(())
    }

    /// The copies of run `run_id`, primary first (empty for a backup with
    /// one destination).
    ///
    /// # Errors
    /// [`crate::ErrorKind::History`] if the history cannot be read.
    pub fn copies(&self, run_id: i64) -> Result<Vec<CopyRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM copies WHERE run_id = ?1 ORDER BY position"))?;
        let rows = st.query_map(params![run_id], read)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
