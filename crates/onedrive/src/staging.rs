//! Uploads that survive the process (`[onedrive] staging = true`).
//!
//! Graph needs the total size in every fragment's `Content-Range`
//! (GRAPH.md §2.4), so a backup is always spooled before it goes up (see
//! [`crate::destination`]). By default the spool is an unlinked temporary
//! file: if Nightjar dies during the upload (crash, reboot, a sleep longer
//! than the session's life) the bytes are gone, the unfinished session
//! expires at Microsoft and nothing appears in OneDrive; the run is
//! counted as interrupted and the next one starts afresh.
//!
//! With staging on, the spool is a named file in the data folder
//! (`<data dir>/onedrive-staging/`, private), and beside it
//! `<name>.upload.json` records the target folder, size, quickXorHash and
//! the upload session's URL as soon as the session exists. When the
//! upload ends (committed or failed in the process) both are removed. What
//! a dead process left behind is picked up by [`resume_staged`] (the
//! scheduler's OneDrive upkeep calls it at start and then every few
//! minutes): it resumes the saved session from `nextExpectedRanges`, or
//! starts the upload over when the session has expired, uploads the
//! manifest that was staged beside it, and marks the interrupted history
//! row of that backup successful.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use nightjar_core::history::{History, RunOutcome};
use nightjar_core::manifest::Manifest;
use nightjar_core::model::RunStatus;
use nightjar_core::names::MANIFEST_SUFFIX;
use nightjar_core::observer::{Event, RunObserver};
use nightjar_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::graph::{Graph, ReadAt, Session};
use crate::qxh::QuickXorHash;

/// The staging folder in the data folder.
#[must_use]
pub fn default_dir(data: &nightjar_core::paths::DataDir) -> PathBuf {
    data.root().join("onedrive-staging")
}

/// The state file's suffix.
pub const STATE_SUFFIX: &str = ".upload.json";

/// What `<name>.upload.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedUpload {
    /// The OneDrive folder (`Backups/app`).
    pub folder: String,
    /// The file name.
    pub name: String,
    /// Its size.
    pub total: u64,
    /// Its quickXorHash (base64).
    pub quick_xor_hash: String,
    /// The upload session, once created (a bearer secret).
    pub upload_url: Option<String>,
    /// When the upload began.
    pub staged_at: DateTime<Utc>,
}

/// The state file of the staged `name`.
#[must_use]
pub fn state_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{STATE_SUFFIX}"))
}

/// Creates a private file (0600 on Unix).
///
/// # Errors
/// When it cannot be created.
pub fn create_private(path: &Path) -> io::Result<File> {
    nightjar_core::private::file_options().read(true).write(true).create(true).truncate(true).open(path)
}

/// Makes the staging folder (0700 on Unix).
///
/// # Errors
/// When it cannot be created.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    nightjar_core::private::create_dir_all(dir)
}

impl StagedUpload {
    /// Writes the state durably (temp file, fsync, rename).
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let path = state_path(dir, &self.name);
        let tmp = path.with_extension("tmp");
        let mut f = create_private(&tmp)?;
        f.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads a state file.
    ///
    /// # Errors
    /// When it cannot be read or parsed.
    pub fn load(path: &Path) -> io::Result<Self> {
        serde_json::from_slice(&std::fs::read(path)?).map_err(io::Error::other)
    }
}

/// Removes the staged `name` and its state (best effort).
pub fn remove(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
    let _ = std::fs::remove_file(state_path(dir, name));
}

/// A staged file opened again for reading.
struct Reopened(File);

impl ReadAt for Reopened {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read_exact(buf)
    }
}

/// Opens the staged file `path` and locks it; `None` while another
/// process (the one writing or uploading it) holds it.
fn open_locked(path: &Path) -> io::Result<Option<File>> {
    let f = File::open(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Uploads the staged `state` from the locked `data` (resuming its session
/// when it has one) unless OneDrive holds it already.
fn finish_one(graph: &Graph, dir: &Path, data: File, mut state: StagedUpload) -> Result<()> {
    let full = format!("{}/{}", state.folder, state.name);
    if let Some(item) = graph.item(&full)? {
        if item.size == state.total && item.quick_xor_hash().is_none_or(|h| h == state.quick_xor_hash) {
            tracing::info!(file = %full, "the staged upload had already committed");
            remove(dir, &state.name);
            return Ok(());
        }
        return Err(Error::destination(format!("onedrive:/{full} exists with other content; the staged copy in {} was kept, look at both.", dir.display())));
    }
    let url = state.upload_url.clone();
    let mut src = Reopened(data);
    let (folder, name, total, hash) = (state.folder.clone(), state.name.clone(), state.total, state.quick_xor_hash.clone());
    let mut save = |u: &str| {
        state.upload_url = Some(u.to_string());
        state.save(dir).map_err(|e| Error::destination(format!("The upload state in {} could not be saved ({e}).", dir.display())).with_source(e))
    };
    graph.upload_resumable(&folder, &name, &mut src, total, &hash, Session { resume_url: url, on_session: &mut save })?;
    remove(dir, &state.name);
    Ok(())
}

/// Finishes every upload a dead process left in `dir`: the backup (from
/// its saved session or afresh), then the manifest staged beside it, then
/// the backup's interrupted history row (when `history` knows it) is
/// marked successful and [`Event::RunFinished`] is reported. Returns the
/// `onedrive:` addresses of the backups that went up. A staged file that
/// a live process holds (locked while written and uploaded) is skipped.
///
/// # Errors
/// When the folder cannot be read; a failed upload is logged, kept, and
/// tried again on the next call.
pub fn resume_staged(graph: &Graph, dir: &Path, history: Option<&History>, observer: &dyn RunObserver) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::destination(format!("The OneDrive staging folder {} could not be read ({e}).", dir.display())).with_source(e)),
    };
    let mut states: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(STATE_SUFFIX)).collect();
    // A data file before its manifest.
    states.sort_by_key(|p| (p.to_string_lossy().ends_with(&format!("{MANIFEST_SUFFIX}{STATE_SUFFIX}")), p.clone()));
    let mut done = Vec::new();
    for path in states {
        if !path.exists() {
            continue; // handled with its backup
        }
        let Ok(state) = StagedUpload::load(&path) else {
            tracing::warn!(file = %path.display(), "unreadable upload state; removed");
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let mut data = match open_locked(&dir.join(&state.name)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                continue;
            }
        };
        let name = state.name.clone();
        let folder = state.folder.clone();
        // A manifest whose own upload was cut: its bytes complete the history below.
        let mut own_manifest = Vec::new();
        if name.ends_with(MANIFEST_SUFFIX) && data.read_to_end(&mut own_manifest).is_err() {
            continue;
        }
        if let Err(e) = finish_one(graph, dir, data, state) {
            tracing::warn!(file = %name, "a staged OneDrive upload could not be finished yet: {}", e.detailed());
            continue;
        }
        let (data_name, manifest_name) = match name.strip_suffix(MANIFEST_SUFFIX) {
            Some(base) => (base.to_string(), name.clone()),
            None => (name.clone(), format!("{name}{MANIFEST_SUFFIX}")),
        };
        let bytes = if manifest_name == name {
            own_manifest
        } else {
            // The manifest the runner staged beside the backup (its commit never ran).
            let manifest_path = dir.join(&manifest_name);
            let Ok(Some(mut f)) = open_locked(&manifest_path) else {
                tracing::warn!(file = %name, "the backup went up but no manifest was staged beside it; Nightjar will not list it as a backup");
                continue;
            };
            let mut bytes = Vec::new();
            if let Err(e) = f.read_to_end(&mut bytes) {
                tracing::warn!(file = %manifest_path.display(), "the staged manifest could not be read: {e}");
                continue;
            }
            let mut h = QuickXorHash::new();
            h.update(&bytes);
            let m = StagedUpload { folder: folder.clone(), name: manifest_name.clone(), total: bytes.len() as u64, quick_xor_hash: h.base64(), upload_url: None, staged_at: Utc::now() };
            // Saved first, so a failure here is finished on the next call.
            let _ = m.save(dir);
            if let Err(e) = finish_one(graph, dir, f, m) {
                tracing::warn!(file = %manifest_name, "the staged manifest could not be uploaded yet: {}", e.detailed());
                continue;
            }
            bytes
        };
        complete_history(history, observer, &folder, &bytes);
        done.push(format!("onedrive:/{folder}/{data_name}"));
    }
    Ok(done)
}

/// Marks the interrupted backup row a staged manifest describes successful.
fn complete_history(history: Option<&History>, observer: &dyn RunObserver, folder: &str, manifest: &[u8]) {
    let Some(m) = Manifest::parse(manifest) else { return };
    let file = format!("onedrive:/{folder}/{}", m.file);
    tracing::info!(job = %m.job, file = %file, "a backup interrupted during its upload is now in OneDrive");
    let Some(h) = history else { return };
    match h.backup_started_at(&m.job, m.started_at) {
        Ok(Some(id)) => {
            let outcome = RunOutcome {
                status: RunStatus::Success,
                finished_at: m.finished_at,
                size: Some(m.size),
                file: Some(file.clone()),
                sha256: Some(m.sha256.clone()),
                error: None,
                error_kind: None,
            };
            if let Err(e) = h.finish_run(id, &outcome) {
                tracing::error!("the resumed backup could not be recorded: {}", e.detailed());
                return;
            }
            observer.event(&Event::RunFinished {
                job: m.job.clone(),
                trigger: m.trigger,
                file,
                size: m.size,
                duration_ms: u64::try_from((m.finished_at - m.started_at).num_milliseconds()).unwrap_or(0),
            });
        }
        Ok(None) => tracing::warn!(job = %m.job, "the history has no row for the resumed backup"),
        Err(e) => tracing::error!("{}", e.detailed()),
    }
}
