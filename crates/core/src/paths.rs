//! Where Nightjar keeps its own files: config, history, logs and locks.
//!
//! `NIGHTJAR_DATA_DIR` overrides the data directory (tests, portable
//! installs); the config path is chosen in [`crate::config::config_path`].

use std::path::PathBuf;

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

    /// The daily log file appender every Nightjar program writes through
    /// (`logs/nightjar.<date>.log`, 14 kept); `None` when the folder cannot be made.
    #[must_use]
    pub fn log_appender(&self) -> Option<tracing_appender::rolling::RollingFileAppender> {
        let dir = self.log_dir();
        std::fs::create_dir_all(&dir).ok()?;
        tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(LOG_PREFIX)
            .filename_suffix(LOG_SUFFIX)
            .max_log_files(14)
            .build(&dir)
            .ok()
    }

    /// The per-job lock files' directory.
    #[must_use]
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
}
