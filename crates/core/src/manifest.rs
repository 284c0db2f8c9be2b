//! The sidecar manifest `<file>.json` written beside every backup.
//!
//! It lets anyone (Nightjar, a script, a person at 3 a.m.) check a backup
//! without the history: what it is, where it came from, and its sha256.
//! It also marks the file as created by this job, so retention never
//! touches anything else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Compression, Engine, Format, Trigger};

/// Value of the `app` field.
pub const APP: &str = "nightjar";
/// Current manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "nightjar".
    pub app: String,
    /// Manifest format version.
    pub manifest_version: u32,
    /// Nightjar's version that wrote it.
    pub app_version: String,
    /// The job (or ad-hoc name) that made it.
    pub job: String,
    /// The backup's file name.
    pub file: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// sha256 of the file, lower-case hex.
    pub sha256: String,
    /// Size of the uncompressed dump.
    pub dump_size: u64,
    /// Database engine.
    pub engine: Engine,
    /// Database name.
    pub database: String,
    /// Server host:port (no credentials).
    pub server: String,
    /// Server version, when known.
    pub server_version: Option<String>,
    /// Dump tool ("pg_dump").
    pub tool: String,
    /// Dump tool version.
    pub tool_version: String,
    /// Dump format.
    pub format: Format,
    /// Outer compression.
    pub compression: Compression,
    /// Compression level.
    pub compression_level: i32,
    /// "none" (encryption comes later).
    pub encryption: String,
    /// Why the backup was taken.
    pub trigger: Trigger,
    /// The job's time zone (the file name's stamp is in it).
    pub timezone: String,
    /// Tables/schemas selected; empty: the whole database.
    #[serde(default)]
    pub selection: crate::config::Selection,
    /// When the dump started.
    pub started_at: DateTime<Utc>,
    /// When the file was complete.
    pub finished_at: DateTime<Utc>,
}

impl Manifest {
    /// Parses manifest JSON; `None` when it is not a Nightjar manifest.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).ok()?;
        (m.app == APP).then_some(m)
    }

    /// Pretty JSON with a trailing newline.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }
}
