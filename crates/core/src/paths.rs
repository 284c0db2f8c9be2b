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

    /// The per-job lock files' directory.
    #[must_use]
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
}
