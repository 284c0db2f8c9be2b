//! Nightjar's backup engine, free of any GUI dependency.
//!
//! The desktop app (`src-tauri/`) and the `nightjar` CLI are thin adapters
//! over this crate. A backup run streams a database dump through
//! compression and a checksum into a destination:
//!
//! ```text
//! source (pg_dump) ──► compress (zstd | gzip | none) ──► sha256 + size ──► destination (.partial → rename)
//! ```
//!
//! What a front end uses (the CLI, `nightjar run`, the tray process, the
//! window): one [`Engine`] per process, built with its data folder, secret
//! store, clock, destination openers and background tasks, and the runs
//! made from it:
//! - [`Engine::runner`] → [`Runner`]: runs one job once (lock, dump,
//!   pipeline, manifest, history, retention), checks a job, prunes.
//! - [`Engine::restorer`] → [`Restorer`]: restores, verifies, kept databases.
//! - [`Engine::service`] → [`Service`]: the scheduler loop.
//! - [`Config`]: the TOML file, parsed without I/O, then resolved into [`Job`]s.
//! - [`History`]: the durable SQLite record of every run.
//! - [`RunObserver`]: receives stages, progress and lifecycle [`Event`]s.
//!
//! Side effects sit behind small traits: [`Destination`],
//! [`secrets::SecretStore`], [`clock::Clock`] and [`RunObserver`]. Modules
//! below the first group are the engine's own.

// The front: what front ends use.
pub mod alerts;
pub mod backups;
pub mod catalog;
pub mod charts;
pub mod clock;
pub mod config;
pub mod config_edit;
pub mod crypt;
pub mod db;
pub mod discover;
pub mod destination;
pub mod engine;
pub mod fanout;
pub mod error;
pub mod history;
pub mod inspect;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod names;
pub mod observer;
pub mod paths;
pub mod private;
pub mod remote;
pub mod restore;
pub mod retention;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod source;
pub mod state;
pub mod status;
pub mod tasks;
pub mod trust;
pub mod units;

// The engine's own.
pub(crate) mod pipeline;
pub(crate) mod platform;
pub(crate) mod wake;

/// The age crate, for front ends handling keys.
pub use age;
pub use config::{Config, DestinationSpec, Job};
pub use destination::Destination;
pub use engine::{Engine, EngineBuilder, RunContext};
pub use error::{Error, ErrorKind, Result};
pub use history::History;
pub use observer::{Event, RunObserver, Stage};
pub use paths::DataDir;
pub use restore::Restorer;
pub use runner::{BackupOptions, Runner};
pub use service::{Service, ServiceControl};
