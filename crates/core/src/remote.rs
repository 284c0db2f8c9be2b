//! Restoring and verifying backups kept in a remote destination
//! (`onedrive:/Backups/app/app_2025-01-31_02-00-00.dump.zst`).
//!
//! The restore path (inspect, validate, load) works on a local file, so a
//! remote backup is first downloaded, with the manifest beside it, into a
//! private folder under the data directory (`downloads/`, mode 0700 on
//! Unix). The download is streamed: size and sha256 are computed on the
//! way and checked against the manifest before anything else runs. The
//! copy is removed when the [`LocalCopy`] is dropped, also after a failure;
//! copies left by a crash are swept by the next download.
//!
//! Core stays free of HTTP: the bytes come from the remote destination's
//! [`Destination::open`], opened through the engine's opener of its scheme
//! ([`crate::engine::EngineBuilder::destination`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::config::DestinationSpec;
use crate::destination::Destination;
use crate::manifest::Manifest;
use crate::names::MANIFEST_SUFFIX;
use crate::observer::{Progress, RunObserver, Stage};
use crate::paths::DataDir;
use crate::{Engine, Error, ErrorKind, Result};

/// Manifests larger than this are not ours.
const MAX_MANIFEST: u64 = 64 * 1024;
/// Copies older than this in `downloads/` were left by a crash.
const STALE_COPY: Duration = Duration::from_secs(24 * 3600);

/// True for a backup named by a remote URL (`onedrive:/…`, `s3://…`) rather than a path.
#[must_use]
pub fn is_remote(file: &str) -> bool {
    let f = file.trim_start();
    f.starts_with("onedrive:") || f.starts_with("s3://")
}

/// Splits `onedrive:/Backups/app/file` into the folder's destination and
/// the file name.
///
/// # Errors
/// When it is not a remote URL or names no file.
pub fn split(file: &str) -> Result<(DestinationSpec, String)> {
    if let Some(rest) = file.trim().strip_prefix("s3://") {
        let (folder, name) = rest.trim_end_matches('/').rsplit_once('/').unwrap_or((rest, ""));
        if name.is_empty() || folder.is_empty() {
            return Err(Error::config(format!("{file} names a bucket or folder, not a backup file (s3://BUCKET/PREFIX/FILE); `nightjar list --job NAME` shows the backups.")));
        }
        let spec = DestinationSpec::parse(&format!("s3://{folder}"), None)?;
        return Ok((spec, name.to_string()));
    }
    let rest = file.trim().strip_prefix("onedrive:").ok_or_else(|| Error::config(format!("{file} is not a OneDrive address (onedrive:/folder/file).")))?;
    let rest = rest.trim_matches('/');
    let (folder, name) = rest.rsplit_once('/').unwrap_or(("", rest));
    if name.is_empty() {
        return Err(Error::config(format!("{file} names a folder, not a backup file; `nightjar list --job NAME` shows the backups.")));
    }
    Ok((DestinationSpec::OneDrive(format!("/{folder}")), name.to_string()))
}

/// A private local copy of a remote backup (and its manifest), removed on drop.
#[derive(Debug)]
pub struct LocalCopy {
    dir: PathBuf,
    path: PathBuf,
    origin: String,
    has_manifest: bool,
    sha256: String,
    size: u64,
}

impl LocalCopy {
    /// The local file to restore or verify.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where it came from (`onedrive:/…`), for the history and messages.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a manifest came with it (and size and sha256 were checked).
    #[must_use]
    pub fn has_manifest(&self) -> bool {
        self.has_manifest
    }

    /// sha256 of the downloaded bytes.
    #[must_use]
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size of the downloaded file.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `e` with the local copy's path replaced by the remote address, so a
    /// message names the backup the user picked.
    #[must_use]
    pub fn explain(&self, e: Error) -> Error {
        let local = self.path.display().to_string();
        if e.message().contains(&local) {
            let message = e.message().replace(&local, &self.origin);
            e.reworded(message)
        } else {
            e
        }
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "could not remove the downloaded copy: {e}");
        }
    }
}

/// The folder downloads go to.
#[must_use]
pub fn downloads_dir(data: &DataDir) -> PathBuf {
    data.root().join("downloads")
}

/// Removes copies a crashed run left behind (older than a day).
fn sweep(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else { return };
    for e in rd.flatten() {
        let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| SystemTime::now().duration_since(t).ok()).is_some_and(|age| age > STALE_COPY);
        if old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn private_dir(parent: &Path) -> std::io::Result<PathBuf> {
    crate::private::create_dir_all(parent)?;
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for n in 0..100u32 {
        let dir = parent.join(format!("fetch-{}-{nanos}-{n}", std::process::id()));
        match crate::private::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free folder name"))
}

fn read_manifest(dest: &dyn Destination, name: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    dest.open(name)?
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::destination(format!("{} could not be downloaded ({e}); check the connection and try again.", dest.full_name(name))).with_source(e))?;
    Ok(buf)
}

/// A download that could not be written into the data folder, as one
/// sentence (the copy, removed on drop, leaves nothing behind).
fn download_error(e: std::io::Error, copy: &LocalCopy, data: &DataDir, size: u64) -> Error {
    let root = data.root().display();
    let message = match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => format!(
            "The disk holding Nightjar's data folder {root} is full, so {} ({size} bytes) could not be downloaded into it; \
             free that much space there (or set NIGHTJAR_DATA_DIR to a folder on a bigger disk) and try again; nothing was changed.",
            copy.origin
        ),
        _ => format!("{} could not be saved in {} ({e}); check the data folder {root} and try again; nothing was changed.", copy.origin, copy.dir.display()),
    };
    Error::other(message).with_source(e)
}

/// Downloads the remote backup `origin` (and its manifest) into a private
/// folder under the engine's data folder, checking size and sha256 against the manifest on
/// the way. Progress is reported as [`Stage::Downloading`] under `label`.
///
/// # Errors
/// The address names no backup, the destination cannot be reached, the
/// download fails or is cancelled, or the bytes do not match the manifest
/// ([`ErrorKind::InvalidBackup`]).
pub fn fetch(engine: &Engine, origin: &str, observer: &dyn RunObserver, label: &str, cancel: &AtomicBool) -> Result<LocalCopy> {
    let (spec, name) = split(origin)?;
    let dest = engine.open_destination(&spec)?;
    let data = engine.data();
    let origin = dest.full_name(&name);
    observer.stage(label, Stage::Downloading);
    let files = dest.list()?;
    let Some(file) = files.iter().find(|f| f.name == name) else {
        return Err(Error::config(format!("{origin} does not exist; `nightjar list --job NAME` shows the backups there.")));
    };
    let manifest_name = format!("{name}{MANIFEST_SUFFIX}");
    let manifest_bytes = match files.iter().find(|f| f.name == manifest_name) {
        Some(m) if m.size <= MAX_MANIFEST => Some(read_manifest(dest.as_ref(), &manifest_name)?),
        _ => None,
    };
    let manifest = manifest_bytes.as_deref().and_then(Manifest::parse).filter(|m| m.file == name);

    let parent = downloads_dir(data);
    sweep(&parent);
    let dir = private_dir(&parent).map_err(|e| {
        Error::other(format!("No folder for the downloaded backup could be made in {} ({e}); check the data folder's permissions.", parent.display())).with_source(e)
    })?;
    let mut copy = LocalCopy { path: dir.join(&name), dir, origin, has_manifest: manifest.is_some(), sha256: String::new(), size: 0 };
    if let Some(bytes) = &manifest_bytes {
        crate::private::write_file(&copy.dir.join(&manifest_name), bytes).map_err(|e| download_error(e, &copy, data, file.size))?;
    }

    let t0 = Instant::now();
    let write_err = |e: std::io::Error, copy: &LocalCopy| download_error(e, copy, data, file.size);
    let mut out = crate::private::create_file(&copy.path).map_err(|e| write_err(e, &copy))?;
    let mut src = dest.open(&name)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    let mut last_report = Instant::now();
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Interrupted, format!("The download of {} was stopped; nothing was changed.", copy.origin)));
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(Error::new(
                    ErrorKind::InvalidBackup,
                    format!("{} arrived damaged (it does not match the destination's own checksum: {e}); try again, or pick another backup.", copy.origin),
                ));
            }
            Err(e) => {
                return Err(Error::destination(format!("{} could not be downloaded ({e}); check the connection and try again.", copy.origin)).with_source(e));
            }
        };
        out.write_all(&buf[..n]).map_err(|e| write_err(e, &copy))?;
        hasher.update(&buf[..n]);
        got += n as u64;
        if last_report.elapsed() >= Duration::from_millis(250) {
            last_report = Instant::now();
            observer.progress(label, &Progress { stage: Stage::Downloading, bytes_in: got, bytes_out: file.size, elapsed: t0.elapsed() });
        }
    }
    out.flush().map_err(|e| write_err(e, &copy))?;
    drop(out);
    observer.progress(label, &Progress { stage: Stage::Downloading, bytes_in: got, bytes_out: file.size, elapsed: t0.elapsed() });
    copy.size = got;
    copy.sha256 = crate::pipeline::hex(&hasher.finalize());
    if let Some(m) = &manifest {
        if m.size != got {
            return Err(Error::new(
                ErrorKind::InvalidBackup,
                format!("{} is {got} bytes but its manifest says {}, so the file is truncated or was changed; pick another backup.", copy.origin, m.size),
            ));
        }
        if !m.sha256.eq_ignore_ascii_case(&copy.sha256) {
            return Err(Error::new(
                ErrorKind::InvalidBackup,
                format!("{} does not match the sha256 in its manifest, so the file is damaged or was changed; pick another backup.", copy.origin),
            ));
        }
    }
    tracing::info!(origin = %copy.origin, size = got, "downloaded for restore/verify");
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::LocalFolder;

    #[test]
    fn split_names_folder_and_file() {
        let (spec, name) = split("onedrive:/Backups/app/app_2025.dump.zst").unwrap();
        assert_eq!(spec, DestinationSpec::OneDrive("/Backups/app".into()));
        assert_eq!(name, "app_2025.dump.zst");
        let (spec, name) = split("onedrive:x.sql").unwrap();
        assert_eq!(spec, DestinationSpec::OneDrive("/".into()));
        assert_eq!(name, "x.sql");
        assert!(split("onedrive:/").is_err());
        assert!(split("/tmp/x").is_err());
        assert!(is_remote("onedrive:/a/b") && !is_remote("/onedrive:/a"));
        let (spec, name) = split("s3://backups/app/app_2025.dump.zst").unwrap();
        assert_eq!((spec, name.as_str()), (DestinationSpec::S3("backups/app".into()), "app_2025.dump.zst"));
        let (spec, name) = split("s3://backups/x.sql").unwrap();
        assert_eq!((spec, name.as_str()), (DestinationSpec::S3("backups".into()), "x.sql"));
        assert!(split("s3://backups").is_err() && split("s3://backups/").is_err());
        assert!(is_remote("s3://b/x"));
    }

    /// An engine serving `onedrive:` from a local folder.
    fn engine_over(root: &Path, data: &Path) -> Engine {
        let root = root.to_path_buf();
        Engine::builder(DataDir::new(data))
            .secrets(std::sync::Arc::new(crate::secrets::NoSecrets))
            .destination(crate::engine::ONEDRIVE, move |p: &str, _: &crate::engine::OpenEnv<'_>| {
                Ok(Box::new(LocalFolder::new(root.join(p.trim_matches('/')))) as Box<dyn Destination>)
            })
            .build()
    }

    fn manifest_for(name: &str, bytes: &[u8]) -> Vec<u8> {
        use crate::model::{Compression, Engine, Format, Trigger};
        let at = chrono::Utc::now();
        Manifest {
            app: crate::manifest::APP.into(),
            manifest_version: crate::manifest::MANIFEST_VERSION,
            app_version: "0".into(),
            job: "app".into(),
            file: name.into(),
            size: bytes.len() as u64,
            sha256: crate::pipeline::hex(&Sha256::digest(bytes)),
            dump_size: bytes.len() as u64,
            engine: Engine::Postgres,
            database: "app".into(),
            server: "h:5432".into(),
            server_version: None,
            tool: "pg_dump".into(),
            tool_version: "17".into(),
            format: Format::Plain,
            compression: Compression::None,
            compression_level: 0,
            encryption: crate::manifest::ManifestEncryption::None,
            trigger: Trigger::Manual,
            timezone: "UTC".into(),
            selection: crate::config::Selection::default(),
            started_at: at,
            finished_at: at,
            hmac: None,
        }
        .to_json()
    }

    #[test]
    fn fetch_checks_the_manifest_and_removes_the_copy() {
        let remote = tempfile::tempdir().unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let engine = engine_over(remote.path(), data_dir.path());
        let data = engine.data();
        let folder = remote.path().join("Backups/app");
        std::fs::create_dir_all(&folder).unwrap();
        let body = b"-- PostgreSQL database dump\nselect 1;\n".repeat(1000);
        std::fs::write(folder.join("good.sql"), &body).unwrap();
        std::fs::write(folder.join("good.sql.json"), manifest_for("good.sql", &body)).unwrap();
        std::fs::write(folder.join("bad.sql"), &body[..body.len() - 1]).unwrap();
        std::fs::write(folder.join("bad.sql.json"), manifest_for("bad.sql", &body)).unwrap();
        let cancel = AtomicBool::new(false);
        let obs = crate::observer::NoopObserver;
        {
            let copy = fetch(&engine, "onedrive:/Backups/app/good.sql", &obs, "app", &cancel).unwrap();
            assert!(copy.has_manifest());
            assert_eq!(std::fs::read(copy.path()).unwrap(), body);
            assert!(copy.path().with_file_name("good.sql.json").is_file());
            let dir = copy.path().parent().unwrap().to_path_buf();
            #[cfg(unix)]
            assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions()) & 0o777, 0o700);
            let e = copy.explain(Error::config(format!("{} is damaged.", copy.path().display())));
            assert_eq!(e.message(), format!("{} is damaged.", copy.origin()));
            drop(copy);
            assert!(!dir.exists(), "the copy is removed");

            let e = fetch(&engine, "onedrive:/Backups/app/bad.sql", &obs, "app", &cancel).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidBackup, "{e}");
            assert!(e.message().contains("manifest says"), "{e}");
            let e = fetch(&engine, "onedrive:/Backups/app/missing.sql", &obs, "app", &cancel).unwrap_err();
            assert!(e.message().contains("does not exist"), "{e}");
            cancel.store(true, Ordering::SeqCst);
            let e = fetch(&engine, "onedrive:/Backups/app/good.sql", &obs, "app", &cancel).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Interrupted);
        }
        assert_eq!(std::fs::read_dir(downloads_dir(data)).unwrap().count(), 0, "failed downloads leave nothing");
    }
}
