//! Command-line flags (clap derive). Parsing only: no I/O happens here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use nightjar_core::model::{Compression, Format};

/// Nightjar: scheduled, verified database backups into a (OneDrive-synced) folder.
#[derive(Debug, Parser)]
#[command(name = "nightjar", version, about, max_term_width = 100)]
pub struct Cli {
    /// Config file (default: $NIGHTJAR_CONFIG, else the OS config folder).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up one job, every enabled job, or an ad-hoc database into a folder.
    Backup(BackupArgs),
    /// List the backups of a job, of every job, or in a folder.
    List(ListArgs),
    /// Delete old backups by the retention policy (only files Nightjar made).
    Prune(PruneArgs),
    /// Jobs with their last and next run, and the health of tools and destinations.
    Status(JsonFlag),
    /// The history of runs, with statistics.
    History(HistoryArgs),
    /// Store or remove a database password in the OS keyring.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Run the schedules (headless daemon; stop with SIGTERM, reload with SIGHUP).
    Run,
    /// Pause all schedules (optionally until a time or for a while).
    Pause(PauseArgs),
    /// Resume the schedules.
    Resume,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Resume automatically: a duration ("2h", "1d") or a time ("2026-11-22T08:00:00+02:00").
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Which job(s), or an ad-hoc database and folder.
#[derive(Debug, Args)]
pub struct Target {
    /// A job from the config file.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["db", "dest"])]
    pub job: Option<String>,
    /// A database URL (postgres://user@host:port/db, ?host=/socket/dir allowed).
    #[arg(long, value_name = "URL", requires = "dest")]
    pub db: Option<String>,
    /// The folder to write into (with --db).
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub target: Target,
    /// Name used in file names for an ad-hoc --db backup (default: the database name).
    #[arg(long, value_name = "NAME", requires = "db")]
    pub name: Option<String>,
    /// Dump format.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Compression.
    #[arg(long, value_parser = parse_compression)]
    pub compress: Option<Compression>,
    /// Compression level (zstd 1-19, gzip 1-9).
    #[arg(long)]
    pub level: Option<i32>,
    /// Only these tables (comma-separated; `table` or `schema.table`).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub tables: Vec<String>,
    /// zstd worker threads (default: the number of cores, at most 4; 0 = none).
    #[arg(long, hide = true)]
    pub threads: Option<u32>,
    /// Skip retention after the backup.
    #[arg(long)]
    pub no_prune: bool,
    /// If the job is already running, wait for that run to finish (up to SECONDS, default 6 h) instead of refusing.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "21600")]
    pub wait: Option<u64>,
    /// Print the finished record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A job from the config file.
    #[arg(long, value_name = "NAME", conflicts_with = "dest")]
    pub job: Option<String>,
    /// Any folder holding Nightjar backups.
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// A job from the config file (uses its retention policy).
    #[arg(long, value_name = "NAME", conflicts_with = "dest")]
    pub job: Option<String>,
    /// Any folder holding Nightjar backups (with --keep-days / --keep-last).
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// Keep backups younger than N days.
    #[arg(long, value_name = "N", requires = "dest")]
    pub keep_days: Option<u32>,
    /// Keep the newest N backups.
    #[arg(long, value_name = "N", requires = "dest")]
    pub keep_last: Option<u32>,
    /// Show what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this job.
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// At most N runs (newest first).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Per-job statistics instead of runs.
    #[arg(long)]
    pub stats: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Store a password (read from stdin, or prompted without echo on a terminal).
    Set(PasswordTarget),
    /// Remove a stored password.
    Delete(PasswordTarget),
}

#[derive(Debug, Args)]
pub struct PasswordTarget {
    /// The job whose database password this is.
    #[arg(long, value_name = "NAME", conflicts_with = "db", required_unless_present = "db")]
    pub job: Option<String>,
    /// An ad-hoc database URL (for `backup --db`).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    s.parse()
}
