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
//! Main types:
//! - [`config::Config`]: the TOML file, parsed without I/O, then resolved
//!   into [`config::ResolvedJob`]s.
//! - [`runner::Runner`]: runs one job once (lock, dump, pipeline, manifest,
//!   history, retention).
//! - [`history::History`]: the durable SQLite record of every run.
//! - [`retention::plan`]: the pure retention planner (`now` is an argument).
//!
//! Side effects sit behind small traits: [`destination::Destination`],
//! [`secrets::SecretStore`], [`clock::Clock`] and [`observer::RunObserver`].

pub mod catalog;
pub mod clock;
pub mod config;
pub mod config_edit;
pub mod db;
pub mod destination;
pub mod error;
pub mod history;
pub mod inspect;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod names;
pub mod observer;
pub mod paths;
pub mod platform;
pub mod pipeline;
pub mod private;
pub mod restore;
pub mod remote;
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
pub mod wake;

pub use error::{Error, ErrorKind, Result};
