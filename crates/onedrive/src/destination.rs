//! [`OneDriveDestination`]: core's `Destination` over Microsoft Graph.
//!
//! Streaming and the declared size: GRAPH.md §2.4 says every fragment's
//! `Content-Range` declares the same total (`bytes a-b/N`), and `fileSize`
//! at session creation is what makes a full drive fail fast; an unknown
//! total (`/*`) is not documented (rclone refuses unknown-sized uploads),
//! so the fake rejects it too. The pipeline cannot know the compressed size
//! until it ends, so a pending file keeps the stream in memory up to
//! [`MEM_SPOOL`] (a backup that small goes up from memory) and beyond that
//! spools it to an unlinked temporary file (in `staging_dir`, or the
//! system temp folder). Memory stays at one fragment whatever the size
//! (the buffer of the fragment being sent, after the dump has ended);
//! the quickXorHash is computed while the bytes stream in. The upload
//! session is only created at `commit`, and the item only appears under
//! its final name when the last fragment commits (conflictBehavior=fail),
//! so a dropped or aborted pending file leaves nothing in OneDrive.
//!
//! The unlinked spool dies with the process, so by default an upload cut
//! by a crash, reboot or long sleep is simply lost (the run counts as
//! interrupted; nothing appears in OneDrive). With `[onedrive] staging =
//! true` ([`crate::config::GraphConfig::resume_dir`]) the spool is a named,
//! locked file in the data folder and the session is saved beside it, so a
//! later process resumes it ([`crate::staging`]).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use nightjar_core::destination::{Destination, PendingFile, Space, StoredFile};
use nightjar_core::{Error, Result};

use crate::graph::{Graph, ReadAt};
use crate::qxh::QuickXorHash;

/// A folder in OneDrive (`onedrive:/Backups/app`).
#[derive(Debug, Clone)]
pub struct OneDriveDestination {
    graph: Arc<Graph>,
    folder: String,
}

impl OneDriveDestination {
    /// The destination `onedrive:{path}`.
    #[must_use]
    pub fn new(graph: Arc<Graph>, path: &str) -> Self {
        Self { graph, folder: path.trim_matches('/').to_string() }
    }

    /// The Graph client.
    #[must_use]
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    fn path(&self, name: &str) -> String {
        if self.folder.is_empty() { name.to_string() } else { format!("{}/{name}", self.folder) }
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| "/\\*<>?:|\"#%".contains(c) || c.is_control()) {
        return Err(Error::destination(format!("\"{name}\" is not a valid OneDrive file name.")));
    }
    Ok(())
}

impl Destination for OneDriveDestination {
    fn location(&self) -> String {
        format!("onedrive:/{}", self.folder)
    }

    fn full_name(&self, name: &str) -> String {
        format!("onedrive:/{}", self.path(name))
    }

    fn prepare(&self) -> Result<()> {
        // Refreshes the token first, so an expired sign-in fails before the dump.
        self.graph.tokens().access_token()?;
        self.graph.ensure_folder(&self.folder)
    }

    fn create(&self, name: &str) -> Result<Box<dyn PendingFile>> {
        check_name(name)?;
        if self.graph.item(&self.path(name))?.is_some() {
            return Err(Error::destination(format!("{} already exists; Nightjar never overwrites a backup.", self.full_name(name))));
        }
        let cfg = self.graph.config();
        let (spool, staged) = match &cfg.resume_dir {
            Some(dir) => (Spool::staged(dir, name)?, Some(dir.clone())),
            None => (Spool::new(cfg.fragment().min(MEM_SPOOL), cfg.staging_dir.clone()), None),
        };
        Ok(Box::new(OneDrivePending { graph: self.graph.clone(), folder: self.folder.clone(), name: name.to_string(), spool, hash: QuickXorHash::new(), staged }))
    }

    fn list(&self) -> Result<Vec<StoredFile>> {
        let mut out: Vec<StoredFile> = self
            .graph
            .children(&self.folder)?
            .into_iter()
            .filter(|i| i.file.is_some() && i.folder.is_none() && i.package.is_none() && i.deleted.is_none())
            .map(|i| StoredFile { name: i.name, size: i.size, modified: i.last_modified_date_time })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(self.graph.open(&self.path(name))?))
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.graph.delete(&self.path(name))
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.graph.item(&self.path(name))?.is_some_and(|i| i.file.is_some() && i.deleted.is_none()))
    }

    fn space(&self) -> Result<Option<Space>> {
        Ok(self.graph.quota()?.map(|(available, total)| Space { available, total, used: total.saturating_sub(available) }))
    }
}

/// How much of a backup stays in memory before it is spooled to a file.
/// Small on purpose: it is held while the dump and its compressor run, so a
/// whole fragment here (10 MiB, grown to 16 MiB of capacity) put the peak
/// memory of an upload ~9 MiB above that of a backup into a folder.
pub const MEM_SPOOL: usize = 1 << 20;

/// The stream of one backup: memory up to [`MEM_SPOOL`], then a temp file.
struct Spool {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    limit: usize,
    dir: Option<PathBuf>,
    len: u64,
}

impl Spool {
    fn new(limit: usize, dir: Option<PathBuf>) -> Self {
        Self { mem: Vec::new(), file: None, limit, dir, len: 0 }
    }

    /// A named, locked file in the staging folder (`[onedrive] staging`):
    /// it outlives a crash, and the lock tells a resuming process that
    /// this one is still writing it.
    fn staged(dir: &std::path::Path, name: &str) -> Result<Self> {
        let fail = |e: io::Error| {
            Error::destination(format!("The staging copy of {name} could not be created in {} ({e}); check the data folder, or set [onedrive] staging = false.", dir.display())).with_source(e)
        };
        crate::staging::ensure_dir(dir).map_err(fail)?;
        let path = dir.join(name);
        let f = crate::staging::create_private(&path).map_err(fail)?;
        f.try_lock().map_err(|e| fail(io::Error::other(e.to_string())))?;
        Ok(Self { mem: Vec::new(), file: Some(BufWriter::with_capacity(1 << 20, f)), limit: 0, dir: None, len: 0 })
    }

    fn sync(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(w) => {
                w.flush()?;
                w.get_ref().sync_all()
            }
            None => Ok(()),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.mem.len() + buf.len() > self.limit {
            let f = match &self.dir {
                Some(d) => tempfile::tempfile_in(d)?,
                None => tempfile::tempfile()?,
            };
            let mut w = BufWriter::with_capacity(1 << 20, f);
            w.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(w);
        }
        match &mut self.file {
            Some(w) => w.write_all(buf)?,
            None => {
                if self.mem.capacity() == 0 {
                    // Exactly the limit: growing by doubling would overshoot it.
                    self.mem.reserve_exact(self.limit);
                }
                self.mem.extend_from_slice(buf);
            }
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl ReadAt for Spool {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match &mut self.file {
            None => {
                let start = usize::try_from(offset).map_err(io::Error::other)?;
                let src = self.mem.get(start..start + buf.len()).ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(src);
                Ok(())
            }
            Some(w) => {
                w.flush()?;
                let f = w.get_mut();
                f.seek(SeekFrom::Start(offset))?;
                f.read_exact(buf)?;
                // Writes append at the end (only before commit in practice).
                f.seek(SeekFrom::End(0))?;
                Ok(())
            }
        }
    }
}

struct OneDrivePending {
    graph: Arc<Graph>,
    folder: String,
    name: String,
    spool: Spool,
    hash: QuickXorHash,
    /// The staging folder, when the spool is a named file there.
    staged: Option<PathBuf>,
}

impl Drop for OneDrivePending {
    /// Committed, failed or dropped in this process: the staged copy has
    /// nothing left to resume (only a dead process leaves one behind).
    fn drop(&mut self) {
        if let Some(dir) = &self.staged {
            crate::staging::remove(dir, &self.name);
        }
    }
}

impl Write for OneDrivePending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.spool.write_all(buf)?;
        self.hash.update(buf);
        // A staged manifest is written before its backup's upload starts and
        // must be complete on disk if the process dies during that upload.
        if self.staged.is_some() && self.name.ends_with(nightjar_core::names::MANIFEST_SUFFIX) {
            self.spool.sync()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PendingFile for OneDrivePending {
    fn commit(mut self: Box<Self>) -> Result<()> {
        self.spool
            .flush()
            .map_err(|e| Error::destination(format!("The local staging copy of {} could not be written ({e}); free some space in the temp folder.", self.name)).with_source(e))?;
        let total = self.spool.len;
        let hash = self.hash.base64();
        let Self { graph, folder, name, spool, staged, .. } = &mut *self;
        let Some(dir) = staged.clone() else {
            graph.upload(folder, name, spool, total, &hash)?;
            return Ok(());
        };
        // Staged: durable data, then the state (and the session as soon as it exists).
        let state_err = |e: io::Error| Error::destination(format!("The upload state of {name} could not be saved in {} ({e}).", dir.display())).with_source(e);
        spool.sync().map_err(state_err)?;
        let mut state = crate::staging::StagedUpload { folder: folder.clone(), name: name.clone(), total, quick_xor_hash: hash.clone(), upload_url: None, staged_at: chrono::Utc::now() };
        state.save(&dir).map_err(state_err)?;
        let mut save = |url: &str| {
            state.upload_url = Some(url.to_string());
            state.save(&dir).map_err(state_err)
        };
        graph.upload_resumable(folder, name, spool, total, &hash, crate::graph::Session { resume_url: None, on_session: &mut save })?;
        Ok(())
    }

    fn abort(self: Box<Self>) {}
}
