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
//!   destination's own delete.

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

impl Engine {
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
