//! A backup by its address: a path (`/backups/app/app_2025-01-31_02-00-00.sql.zst`)
//! or a remote URL (`onedrive:/Backups/app/app_2025-01-31_02-00-00.dump.zst`).
//!
//! Restore, verify and delete take any address and reach the file
//! themselves, so no front end fetches:
//! - [`Restorer::open_backup`]: the file in place when its destination is
//!   a folder here ([`Destination::local_path`]), else a private local
//!   copy ([`crate::remote::fetch`]); a failed download is in the history.
//! - [`Restorer::plan_from`] → [`Restorer::restore_from`]: a restore of an
//!   address (plan, confirmation in between, then the run).
//! - [`Restorer::verify_address`]: a check (and test restore) of an address.
//! - [`Engine::delete_backup`]: the file and its manifest, through the
//!   destination's own delete; [`Engine::newest_good_of`] says when that
//!   would remove a job's newest good backup (`nightjar delete` refuses
//!   it without `--force`).
//! - [`Engine::download_backup`]: a copy (and its manifest) saved where the
//!   user asks, checked against the manifest on arrival; a partial copy is
//!   removed on failure.

use std::path::{Path, PathBuf};

use crate::config::{DestinationSpec, Job};
use crate::history::RunKind;
use crate::names::MANIFEST_SUFFIX;
use crate::remote::{self, LocalCopy};
use crate::restore::{RestoreOptions, RestorePlan, RestoreReport, Restorer, VerifyOptions, VerifyReport};
use crate::{Engine, Error, Result};

/// The destination and file name of a backup address. A relative path is
/// taken from the current folder.
///
/// # Errors
/// When the address names no file.
pub fn split(address: &str) -> Result<(DestinationSpec, String)> {
    if remote::is_remote(address) {
        return remote::split(address);
    }
    let path = std::path::absolute(Path::new(address)).unwrap_or_else(|_| PathBuf::from(address));
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((DestinationSpec::Folder(dir.to_path_buf()), name.to_string_lossy().into_owned())),
        _ => Err(Error::config(format!("{address} names no backup file; give the path of one (`nightjar list` shows them)."))),
    }
}

/// A backup reached for reading: the file itself, or a private local copy
/// of a remote one (removed when this is dropped).
#[derive(Debug)]
pub struct BackupFile {
    path: PathBuf,
    copy: Option<LocalCopy>,
}

impl BackupFile {
    /// The local file to read.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote address a local copy came from (`onedrive:/…`); `None`
    /// for a file read in place.
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        self.copy.as_ref().map(LocalCopy::origin)
    }

    /// `e` naming the backup the user picked rather than a local copy.
    #[must_use]
    pub fn explain(&self, e: Error) -> Error {
        match &self.copy {
            Some(c) => c.explain(e),
            None => e,
        }
    }
}

impl Restorer<'_> {
    /// Reaches the backup at `address` for a run of `kind` labelled `label`
    /// (progress, history): in place when it is in a folder here, else
    /// downloaded with its manifest into a private folder (size and sha256
    /// checked); a failed download is recorded in the history.
    ///
    /// # Errors
    /// The address names no file, or the download fails.
    pub fn open_backup(&self, address: &str, label: &str, kind: RunKind, destination: String, database: Option<String>) -> Result<BackupFile> {
        let (spec, name) = split(address)?;
        if let DestinationSpec::Folder(dir) = &spec {
            return Ok(BackupFile { path: dir.join(name), copy: None });
        }
        let dest = self.engine.open_destination(&spec)?;
        if let Some(path) = dest.local_path(&name) {
            return Ok(BackupFile { path, copy: None });
        }
        let copy = self.fetch(address, label, kind, destination, database)?;
        Ok(BackupFile { path: copy.path().to_path_buf(), copy: Some(copy) })
    }

    /// Plans a restore of the backup at `address` into `job`'s database
    /// ([`Restorer::prepare`]), reaching the file first. Keep the
    /// [`BackupFile`] until [`Restorer::restore_from`] has run.
    ///
    /// # Errors
    /// As [`Restorer::open_backup`] and [`Restorer::prepare`].
    pub fn plan_from(&self, address: &str, job: &Job, opts: &RestoreOptions) -> Result<(RestorePlan, BackupFile)> {
        let database = opts.as_new.clone().unwrap_or_else(|| job.db.database.clone());
        let file = self.open_backup(address, &job.name, RunKind::Restore, job.db.display(), Some(database))?;
        let plan = self.prepare(file.path(), job, &with_origin(opts, &file)).map_err(|e| file.explain(e))?;
        Ok((plan, file))
    }

    /// Runs a planned restore of `file` ([`Restorer::restore`]).
    ///
    /// # Errors
    /// As [`Restorer::restore`].
    pub fn restore_from(&self, plan: &RestorePlan, file: &BackupFile, job: &Job, opts: &RestoreOptions) -> Result<RestoreReport> {
        self.restore(plan, job, &with_origin(opts, file)).map_err(|e| file.explain(e))
    }

    /// Checks the backup at `address` (and test-restores it when `opts`
    /// says so), reaching the file first ([`Restorer::verify`]).
    ///
    /// # Errors
    /// As [`Restorer::open_backup`] and [`Restorer::verify`].
    pub fn verify_address(&self, address: &str, opts: &VerifyOptions) -> Result<VerifyReport> {
        let label = opts.restore_test.as_ref().map_or("verify", |j| j.name.as_str());
        let destination = opts.restore_test.as_ref().map_or_else(|| address.to_string(), |j| j.db.display());
        let file = self.open_backup(address, label, RunKind::Verify, destination, None)?;
        let mut opts = opts.clone();
        opts.origin = file.origin().map(str::to_string);
        self.verify(file.path(), &opts).map_err(|e| file.explain(e))
    }
}

fn with_origin(opts: &RestoreOptions, file: &BackupFile) -> RestoreOptions {
    let mut opts = opts.clone();
    opts.origin = file.origin().map(str::to_string);
    opts
}

/// A backup saved by [`Engine::download_backup`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Download {
    /// The backup's address.
    pub file: String,
    /// Where the copy is.
    pub saved_to: PathBuf,
    /// Its manifest beside it (`<copy>.json`), when the backup had one.
    pub manifest: Option<PathBuf>,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the copy.
    pub sha256: String,
    /// True when the size and sha256 were checked against the manifest.
    pub checked: bool,
}

/// Removes the partial download unless disarmed.
struct PartialGuard(Option<PathBuf>);

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Engine {
    /// The job whose newest good backup (manifest present, size matching)
    /// is the one at `address`, if any.
    ///
    /// # Errors
    /// The address names no file or its destination cannot be listed.
    pub fn newest_good_of(&self, address: &str) -> Result<Option<String>> {
        let (spec, name) = split(address)?;
        let dest = self.open_destination(&spec)?;
        let all = crate::catalog::all_backups(dest.as_ref())?;
        let Some(job) = all.iter().find(|e| e.name == name).map(|e| e.job.clone()) else { return Ok(None) };
        let newest = all.iter().find(|e| e.job == job && e.size_matches).map(|e| e.name.as_str());
        Ok((newest == Some(name.as_str())).then_some(job))
    }

    /// Saves a copy of the backup at `address` (any destination) to `out`
    /// (a file path, or a folder to put it in under its own name), with
    /// its manifest beside it; size and sha256 are checked against the
    /// manifest before the copy gets its name. Never overwrites; a partial
    /// copy is removed on any failure.
    ///
    /// # Errors
    /// The address names no backup, `out` exists, the download fails, is
    /// cancelled or does not match the manifest ([`crate::ErrorKind::InvalidBackup`]).
    pub fn download_backup(&self, address: &str, out: &Path, cancel: &std::sync::atomic::AtomicBool) -> Result<Download> {
        use sha2::Digest as _;
        use std::io::{Read as _, Write as _};
        let (spec, name) = split(address)?;
        let dest = self.open_destination(&spec)?;
        let origin = dest.full_name(&name);
        let target = if out.is_dir() { out.join(&name) } else { out.to_path_buf() };
        if target.exists() {
            return Err(Error::config(format!("{} already exists; choose another --out, or move that file first (nothing was downloaded).", target.display())));
        }
        let files = dest.list()?;
        let Some(file) = files.iter().find(|f| f.name == name) else {
            return Err(Error::not_found(format!("{origin} does not exist; `nightjar list --job NAME` shows the backups there.")));
        };
        let manifest_name = format!("{name}{MANIFEST_SUFFIX}");
        let manifest_bytes = match files.iter().find(|f| f.name == manifest_name) {
            Some(_) => {
                let mut b = Vec::new();
                dest.open(&manifest_name)?.take(64 * 1024).read_to_end(&mut b).map_err(|e| Error::destination(format!("The manifest of {origin} could not be read ({e}); try again.")))?;
                Some(b)
            }
            None => None,
        };
        let manifest = manifest_bytes.as_deref().and_then(crate::manifest::Manifest::parse).filter(|m| m.file == name);
        let partial = PathBuf::from(format!("{}{}", target.display(), crate::names::PARTIAL_SUFFIX));
        let write_err = |e: std::io::Error| Error::other(format!("The copy could not be written to {} ({e}); check that folder and its free space (nothing was kept).", partial.display())).with_source(e);
        let mut f = crate::private::create_new_file(&partial).map_err(write_err)?;
        let mut guard = PartialGuard(Some(partial.clone()));
        let mut src = dest.open(&name)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        loop {
            if cancel.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::new(crate::ErrorKind::Interrupted, format!("The download of {origin} was stopped; nothing was kept.")));
            }
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(Error::new(crate::ErrorKind::InvalidBackup, format!("{origin} arrived damaged ({e}); nothing was kept.")));
                }
                Err(e) => return Err(Error::destination(format!("{origin} could not be downloaded ({e}); check the connection and try again (nothing was kept).")).with_source(e)),
            };
            f.write_all(&buf[..n]).map_err(write_err)?;
            hasher.update(&buf[..n]);
            got += n as u64;
        }
        f.sync_all().map_err(write_err)?;
        drop(f);
        let sha256 = crate::pipeline::hex(&hasher.finalize());
        if let Some(m) = &manifest
            && (m.size != got || !m.sha256.eq_ignore_ascii_case(&sha256))
        {
            return Err(Error::new(
                crate::ErrorKind::InvalidBackup,
                format!("{origin} does not match its manifest ({got} bytes, sha256 {sha256}; the manifest says {} bytes, {}), so it is damaged or was changed; nothing was kept, pick another backup.", m.size, m.sha256),
            ));
        }
        let _ = file;
        let manifest_path = match &manifest_bytes {
            Some(b) if manifest.is_some() => {
                let p = PathBuf::from(format!("{}{MANIFEST_SUFFIX}", target.display()));
                if !p.exists() {
                    crate::private::write_file(&p, b).map_err(write_err)?;
                }
                Some(p)
            }
            _ => None,
        };
        crate::platform::rename_no_replace(&partial, &target).map_err(|e| {
            if let Some(p) = &manifest_path {
                let _ = std::fs::remove_file(p);
            }
            write_err(e)
        })?;
        guard.0 = None;
        tracing::info!(file = %origin, to = %target.display(), size = got, "backup downloaded");
        Ok(Download { file: origin, saved_to: target, manifest: manifest_path, size: got, sha256, checked: manifest.is_some() })
    }

    /// Deletes the backup at `address` and its manifest through its
    /// destination (a folder here or OneDrive); a file already gone counts
    /// as deleted.
    ///
    /// # Errors
    /// When the destination cannot be reached or refuses the delete.
    pub fn delete_backup(&self, address: &str) -> Result<()> {
        let (spec, name) = split(address)?;
        let dest = self.open_destination(&spec)?;
        dest.remove(&name)?;
        dest.remove(&format!("{name}{MANIFEST_SUFFIX}"))?;
        tracing::info!(file = %dest.full_name(&name), "backup deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_destination_and_name() {
        let (spec, name) = split("/b/app/app_1.sql.zst").unwrap();
        assert_eq!((spec, name.as_str()), (DestinationSpec::Folder("/b/app".into()), "app_1.sql.zst"));
        let (spec, name) = split("onedrive:/Backups/app/app_1.sql.zst").unwrap();
        assert_eq!((spec, name.as_str()), (DestinationSpec::OneDrive("/Backups/app".into()), "app_1.sql.zst"));
        assert!(split("/").is_err());
    }

    #[test]
    fn download_copies_never_overwrites_and_leaves_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder(crate::paths::DataDir::new(dir.path().join("data"))).secrets(std::sync::Arc::new(crate::secrets::NoSecrets)).build();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("app_1.sql"), b"backup bytes").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let address = src.join("app_1.sql").display().to_string();
        let d = engine.download_backup(&address, &out, &cancel).unwrap();
        assert_eq!((std::fs::read(&d.saved_to).unwrap(), d.checked, d.saved_to.clone()), (b"backup bytes".to_vec(), false, out.join("app_1.sql")));
        let e = engine.download_backup(&address, &out, &cancel).unwrap_err();
        assert!(e.message().contains("already exists"), "{e}");
        let e = engine.download_backup(&src.join("missing.sql").display().to_string(), &dir.path().join("m.sql"), &cancel).unwrap_err();
        assert!(e.message().contains("does not exist"), "{e}");
        assert!(!dir.path().join("m.sql.partial").exists() && !dir.path().join("m.sql").exists());
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        let e = engine.download_backup(&address, &dir.path().join("c.sql"), &cancel).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Interrupted);
        assert!(!dir.path().join("c.sql.partial").exists() && !dir.path().join("c.sql").exists(), "a stopped download leaves nothing");
    }

    #[test]
    fn delete_removes_the_file_and_its_manifest_and_a_gone_one_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder(crate::paths::DataDir::new(dir.path().join("data"))).secrets(std::sync::Arc::new(crate::secrets::NoSecrets)).build();
        let f = dir.path().join("app_1.sql.zst");
        std::fs::write(&f, b"x").unwrap();
        std::fs::write(dir.path().join("app_1.sql.zst.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("other.sql.zst"), b"y").unwrap();
        engine.delete_backup(&f.display().to_string()).unwrap();
        assert!(!f.exists() && !dir.path().join("app_1.sql.zst.json").exists());
        assert!(dir.path().join("other.sql.zst").exists());
        engine.delete_backup(&f.display().to_string()).unwrap();
    }
}
