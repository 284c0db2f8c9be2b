//! Where Nightjar keeps its own files: config, history, logs and locks.
//!
//! `NIGHTJAR_DATA_DIR` overrides the data directory (tests, portable
//! installs); the config path is chosen in [`crate::config::config_path`].
//! The data folder and everything in it are owner-only (see
//! [`crate::private`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use directories::ProjectDirs;

/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "NIGHTJAR_DATA_DIR";

/// The OS-specific project directories (`~/.config/nightjar`, ...).
#[must_use]
pub fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("app", "Nightjar", "nightjar")
}

/// Nightjar's data directory layout.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// Log file names: `<LOG_PREFIX>.<date>.<LOG_SUFFIX>` in [`DataDir::log_dir`].
pub const LOG_PREFIX: &str = "nightjar";
/// See [`LOG_PREFIX`].
pub const LOG_SUFFIX: &str = "log";

impl DataDir {
    /// Uses `root` as the data directory.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$NIGHTJAR_DATA_DIR`, else the OS data directory, else `./nightjar-data`.
    #[must_use]
    pub fn from_env() -> Self {
        if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
            return Self::new(p);
        }
        Self::new(project_dirs().map_or_else(|| PathBuf::from("nightjar-data"), |d| d.data_dir().to_path_buf()))
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The SQLite history file.
    #[must_use]
    pub fn history_file(&self) -> PathBuf {
        self.root.join("history.sqlite3")
    }

    /// The rolling log files' directory.
    #[must_use]
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Creates the data folder owner-only (0700 on Unix) when it is missing,
    /// and takes group and other access away from one that is too open
    /// (made by an older version or by hand). Every program calls it at
    /// start, through [`DataDir::log_appender`].
    ///
    /// # Errors
    /// When the folder cannot be created; a folder whose permissions cannot
    /// be changed (someone else's) is only logged.
    pub fn ensure(&self) -> std::io::Result<()> {
        crate::private::create_dir_all(&self.root)?;
        if let Err(e) = crate::private::tighten(&self.root) {
            tracing::warn!(dir = %self.root.display(), "the data folder could not be made private: {e}");
        }
        Ok(())
    }

    /// The daily log file appender every Nightjar program writes through
    /// (`logs/nightjar.<date>.log`, 14 kept, owner-only); `None` when the
    /// folder cannot be made. Makes the data folder private first
    /// ([`DataDir::ensure`]).
    #[must_use]
    pub fn log_appender(&self) -> Option<LogFile> {
        self.ensure().ok()?;
        let dir = self.log_dir();
        crate::private::create_dir_all(&dir).ok()?;
        let _ = crate::private::tighten(&dir);
        let mut file = LogFile { inner: None, dir, day: None };
        // Today's file exists, owner-only, before the appender opens it.
        file.keep_private();
        file.inner = Some(
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(LOG_PREFIX)
                .filename_suffix(LOG_SUFFIX)
                .max_log_files(14)
                .build(&file.dir)
                .ok()?,
        );
        Some(file)
    }

    /// The per-job lock files' directory.
    #[must_use]
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
}

/// The daily rolling log file (see [`DataDir::log_appender`]): before the
/// first line of each day it creates that day's file owner-only, so the
/// appender, which opens files with the process umask, finds it there.
pub struct LogFile {
    inner: Option<tracing_appender::rolling::RollingFileAppender>,
    dir: PathBuf,
    day: Option<chrono::NaiveDate>,
}

impl std::fmt::Debug for LogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFile").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LogFile {
    /// The log file of `day` (the appender names files by the UTC date).
    #[must_use]
    pub fn path_for(dir: &Path, day: chrono::NaiveDate) -> PathBuf {
        dir.join(format!("{LOG_PREFIX}.{}.{LOG_SUFFIX}", day.format("%Y-%m-%d")))
    }

    fn keep_private(&mut self) {
        let today = chrono::Utc::now().date_naive();
        if self.day == Some(today) {
            return;
        }
        self.day = Some(today);
        let path = Self::path_for(&self.dir, today);
        // Created 0600 when missing; tightened when the appender beat us to it.
        let _ = crate::private::file_options().append(true).create(true).open(&path);
        let _ = crate::private::tighten(&path);
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.keep_private();
        match &mut self.inner {
            Some(a) => a.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.inner {
            Some(a) => a.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn data_folder_and_log_file_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = DataDir::new(&root);
        let mut log = data.log_appender().unwrap();
        writeln!(log, "hello").unwrap();
        log.flush().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&data.log_dir()), 0o700);
        let file = LogFile::path_for(&data.log_dir(), chrono::Utc::now().date_naive());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello\n");
        assert_eq!(mode(&file), 0o600);
    }
}
