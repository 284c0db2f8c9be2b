//! Where backups are stored, behind one trait so the local folder and
//! OneDrive share the runner, retention and the conformance tests.
//!
//! Contract: a file becomes visible under its final name only through
//! [`PendingFile::commit`], after all its bytes are durable. A pending file
//! that is dropped or aborted leaves nothing under a final name. Every
//! destination passes the same suite ([`conformance`], feature `testing`):
//! the local folder in this crate's tests, OneDrive against the Graph fake
//! in `nightjar-onedrive`'s.

pub mod local;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

pub use local::LocalFolder;

/// A file in a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFile {
    /// File name (no directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when known.
    pub modified: Option<DateTime<Utc>>,
}

/// Free and total space of a destination's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Space {
    /// Bytes available to us.
    pub available: u64,
    /// Total size.
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
}

impl Space {
    /// Percentage of the space that is free (0–100), as `df` shows it:
    /// available / (used + available). Blocks reserved for root, or not
    /// backed on a thin-provisioned disk, do not count either way.
    #[must_use]
    pub fn free_percent(&self) -> f64 {
        let usable = self.used.saturating_add(self.available);
        if usable == 0 { 0.0 } else { self.available as f64 * 100.0 / usable as f64 }
    }
}

/// A file being written; invisible under its final name until committed.
pub trait PendingFile: Write + Send {
    /// Makes the file durable and visible under its final name.
    ///
    /// # Errors
    /// A destination error; the pending data is removed.
    fn commit(self: Box<Self>) -> Result<()>;
    /// Discards the file. Dropping without commit does the same, best effort.
    fn abort(self: Box<Self>);
}

/// A place that stores backup files.
pub trait Destination: Send + Sync {
    /// Where it is, for messages and the history (`/path` or `onedrive:/path`).
    fn location(&self) -> String;
    /// The full path or URL of `name` for the history and `--json` output.
    fn full_name(&self, name: &str) -> String;
    /// Checks the destination exists and accepts writes, creating the leaf
    /// folder when its parent exists.
    ///
    /// # Errors
    /// A destination error naming the place and what to do.
    fn prepare(&self) -> Result<()>;
    /// Starts writing `name`.
    ///
    /// # Errors
    /// When the file cannot be created, or a file of that name exists.
    fn create(&self, name: &str) -> Result<Box<dyn PendingFile>>;
    /// Lists the files (not folders) in the destination.
    ///
    /// # Errors
    /// When the destination cannot be listed.
    fn list(&self) -> Result<Vec<StoredFile>>;
    /// Opens `name` for reading.
    ///
    /// # Errors
    /// When it does not exist or cannot be read.
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send>>;
    /// Deletes `name`; a file that is already gone counts as deleted.
    ///
    /// # Errors
    /// When the file exists and cannot be deleted.
    fn remove(&self, name: &str) -> Result<()>;
    /// Free space, when the destination can tell.
    ///
    /// # Errors
    /// When the query fails.
    fn space(&self) -> Result<Option<Space>>;
    /// Whether a committed file `name` is there.
    ///
    /// # Errors
    /// When the destination cannot be asked.
    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.list()?.iter().any(|f| f.name == name))
    }
    /// The local path of `name` when the destination is a folder on this
    /// machine (restores read it in place); `None` when it must be
    /// downloaded first ([`crate::remote::fetch`]).
    fn local_path(&self, _name: &str) -> Option<std::path::PathBuf> {
        None
    }
}
