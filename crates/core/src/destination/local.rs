//! A local folder (typically one that OneDrive or another client syncs).
//!
//! Writes go to `<name>.partial` in the same folder (same file system, so
//! the rename is atomic), are fsynced, renamed without replacing anything,
//! and the folder is fsynced so the rename survives a power loss. Files
//! (backups, manifests, `.partial`s) are created owner-only, and so is the
//! folder when Nightjar creates it (see [`crate::private`]).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Destination, PendingFile, Space, StoredFile};
use crate::names::PARTIAL_SUFFIX;
use crate::{Error, Result};

/// A folder destination.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    dir: PathBuf,
}

impl LocalFolder {
    /// A destination writing into `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_error(&self, what: &str, path: &Path, e: io::Error) -> Error {
        Error::destination_io(describe_io(what, path, &self.dir, &e), e)
    }
}

/// One sentence for an I/O failure on the destination, by cause.
pub(crate) fn describe_io(what: &str, path: &Path, dir: &Path, e: &io::Error) -> String {
    let d = dir.display();
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            format!("The destination folder {d} is full; free some space or choose another folder (nothing was saved).")
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            format!("The destination folder {d} is on a read-only file system; choose a writable folder.")
        }
        io::ErrorKind::PermissionDenied => {
            format!("Nightjar may not write to the destination folder {d}; fix its permissions or choose another folder.")
        }
        io::ErrorKind::NotFound => format!("The destination folder {d} does not exist; create it or fix the job's destination."),
        _ => format!("Could not {what} {} ({e}); check the destination folder {d}.", path.display()),
    }
}

impl Destination for LocalFolder {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn full_name(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn prepare(&self) -> Result<()> {
        match fs::metadata(&self.dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::destination(format!(
                    "The destination {} is a file, not a folder; choose a folder.",
                    self.dir.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Create the leaf only: a missing parent usually means the
                // synced drive is not mounted, and writing elsewhere would
                // quietly keep backups off the cloud.
                let parent = self.dir.parent().filter(|p| p.is_dir());
                if parent.is_none() {
                    return Err(Error::destination(format!(
                        "The destination folder {} does not exist, nor does its parent; create it (or mount the drive) or fix the job's destination.",
                        self.dir.display()
                    )));
                }
                crate::private::create_dir(&self.dir).map_err(|e| self.io_error("create", &self.dir, e))?;
            }
            Err(e) => return Err(self.io_error("open", &self.dir, e)),
        }
        // Probe writability up front so a read-only folder fails before the dump starts.
        let probe = self.dir.join(format!(".nightjar-probe-{}{PARTIAL_SUFFIX}", std::process::id()));
        match crate::private::create_new_file(&probe) {
            Ok(_) => {
                let _ = fs::remove_file(&probe);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&probe);
                Ok(())
            }
            Err(e) => Err(self.io_error("write in", &self.dir, e)),
        }
    }

    fn create(&self, name: &str) -> Result<Box<dyn PendingFile>> {
        let final_path = self.dir.join(name);
        if final_path.exists() {
            return Err(Error::destination(format!(
                "{} already exists; Nightjar never overwrites a backup.",
                final_path.display()
            )));
        }
        let partial = self.dir.join(format!("{name}{PARTIAL_SUFFIX}"));
        // A leftover from a crashed run of this job (the caller holds the job lock).
        let _ = fs::remove_file(&partial);
        let file = crate::private::create_new_file(&partial).map_err(|e| self.io_error("create", &partial, e))?;
        Ok(Box::new(LocalPending {
            syncer: Syncer::start(&file),
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            partial,
            final_path,
            dir: self.dir.clone(),
            unsynced: 0,
        }))
    }

    fn list(&self) -> Result<Vec<StoredFile>> {
        let rd = fs::read_dir(&self.dir).map_err(|e| self.io_error("list", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| self.io_error("list", &self.dir, e))?;
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            out.push(StoredFile { name, size: meta.len(), modified: meta.modified().ok().map(DateTime::<Utc>::from) });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        let p = self.dir.join(name);
        let f = File::open(&p).map_err(|e| {
            Error::destination(format!("{} cannot be opened ({e}).", p.display())).with_source(e)
        })?;
        Ok(Box::new(io::BufReader::with_capacity(1 << 20, f)))
    }

    fn remove(&self, name: &str) -> Result<()> {
        let p = self.dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("delete", &p, e)),
        }
    }

    fn exists(&self, name: &str) -> Result<bool> {
        let p = self.dir.join(name);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error("inspect", &p, e)),
        }
    }

    fn local_path(&self, name: &str) -> Option<PathBuf> {
        Some(self.dir.join(name))
    }

    fn space(&self) -> Result<Option<Space>> {
        let space = crate::platform::disk_space(&self.dir).map_err(|e| self.io_error("inspect", &self.dir, e))?;
        Ok(space.map(|s| Space { available: s.available, total: s.total, used: s.used }))
    }
}

struct LocalPending {
    writer: Option<BufWriter<File>>,
    partial: PathBuf,
    final_path: PathBuf,
    dir: PathBuf,
    syncer: Option<Syncer>,
    unsynced: u64,
}

/// Flush written data to disk in the background every [`SYNC_EVERY`]
/// bytes, so the fsync before the rename has little left to do and the
/// page cache never holds a whole backup's worth of dirty pages.
const SYNC_EVERY: u64 = 64 << 20;

struct Syncer {
    tx: std::sync::mpsc::SyncSender<()>,
    handle: std::thread::JoinHandle<io::Result<()>>,
}

impl Syncer {
    fn start(file: &File) -> Option<Syncer> {
        let clone = file.try_clone().ok()?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("partial-sync".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    clone.sync_data()?;
                }
                Ok(())
            })
            .ok()?;
        Some(Syncer { tx, handle })
    }

    /// Stops the thread; its first sync error, if any.
    fn finish(self) -> io::Result<()> {
        drop(self.tx);
        self.handle.join().unwrap_or(Ok(()))
    }
}

impl LocalPending {
    fn fail(&self, what: &str, e: io::Error) -> Error {
        let _ = fs::remove_file(&self.partial);
        Error::destination_io(describe_io(what, &self.final_path, &self.dir, &e), e)
    }
}

impl Write for LocalPending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.writer.as_mut().expect("written after commit").write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            if let Some(s) = &self.syncer {
                // A sync still running is fine: skip this nudge.
                let _ = s.tx.try_send(());
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("flushed after commit").flush()
    }
}

impl PendingFile for LocalPending {
    fn commit(mut self: Box<Self>) -> Result<()> {
        let writer = self.writer.take().expect("committed twice");
        if let Some(s) = self.syncer.take()
            && let Err(e) = s.finish()
        {
            return Err(self.fail("sync", e));
        }
        let file = match writer.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let err = io::Error::new(e.error().kind(), e.error().to_string());
                return Err(self.fail("write", err));
            }
        };
        if let Err(e) = file.sync_all() {
            return Err(self.fail("sync", e));
        }
        drop(file);
        // Never replace: the final name is refused if it exists.
        match crate::platform::rename_no_replace(&self.partial, &self.final_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&self.partial);
                Err(Error::destination(format!(
                    "{} appeared while the backup was written; Nightjar never overwrites a backup, so this one was discarded.",
                    self.final_path.display()
                )))
            }
            Err(e) => Err(self.fail("rename", e)),
        }
    }

    fn abort(mut self: Box<Self>) {
        self.writer.take();
        let _ = fs::remove_file(&self.partial);
    }
}

impl Drop for LocalPending {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_under_final_name_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalFolder::new(dir.path());
        d.prepare().unwrap();
        let mut p = d.create("a.sql.zst").unwrap();
        p.write_all(b"hello").unwrap();
        assert!(!dir.path().join("a.sql.zst").exists());
        assert!(dir.path().join("a.sql.zst.partial").exists());
        p.commit().unwrap();
        assert_eq!(fs::read(dir.path().join("a.sql.zst")).unwrap(), b"hello");
        assert!(!dir.path().join("a.sql.zst.partial").exists());
        assert!(d.create("a.sql.zst").is_err(), "never overwrites");
        let mut q = d.create("b.sql").unwrap();
        q.write_all(b"x").unwrap();
        drop(q);
        assert_eq!(d.list().unwrap().iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["a.sql.zst"]);
        d.remove("a.sql.zst").unwrap();
        d.remove("a.sql.zst").unwrap();
        assert!(d.space().unwrap().unwrap().total > 0);
    }

    #[test]
    fn free_space_is_counted_like_df() {
        // A thin-provisioned disk: 252 GiB nominal, 37 used, 54 available.
        let s = Space { available: 54, total: 252, used: 37 };
        assert!((s.free_percent() - 59.34).abs() < 0.01, "{}", s.free_percent());
        assert!(Space { available: 0, total: 0, used: 0 }.free_percent().abs() < f64::EPSILON);
    }

    #[cfg(unix)]
    #[test]
    fn partial_backup_and_created_folder_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let leaf = dir.path().join("leaf");
        let d = LocalFolder::new(&leaf);
        d.prepare().unwrap();
        assert_eq!(mode(&leaf), 0o700);
        let mut p = d.create("a.sql.zst").unwrap();
        p.write_all(b"secret rows").unwrap();
        assert_eq!(mode(&leaf.join("a.sql.zst.partial")), 0o600);
        p.commit().unwrap();
        assert_eq!(mode(&leaf.join("a.sql.zst")), 0o600);
        // A folder that exists is left as the user made it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o750)).unwrap();
        LocalFolder::new(dir.path()).prepare().unwrap();
        assert_eq!(mode(dir.path()), 0o750);
    }

    #[test]
    fn prepare_creates_leaf_but_not_missing_parents() {
        let dir = tempfile::tempdir().unwrap();
        LocalFolder::new(dir.path().join("leaf")).prepare().unwrap();
        assert!(dir.path().join("leaf").is_dir());
        let e = LocalFolder::new(dir.path().join("no/such")).prepare().unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
