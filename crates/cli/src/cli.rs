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
    /// Back up one job, every enabled job, or an ad-hoc database into a folder or OneDrive.
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
    /// Make, import, export or list the age keys that encrypt a job's backups.
    #[command(subcommand)]
    Key(crate::key::KeyCommand),
    /// Alerts by email, webhook, Telegram or ping: send a test, store a secret, list them.
    #[command(subcommand)]
    Alert(crate::alert::AlertCommand),
    /// Restore a backup into a database: checked first, safety backup, then an all-or-nothing swap.
    Restore(RestoreArgs),
    /// Check a backup file (checksum, full decompression), optionally by a test restore.
    Verify(VerifyArgs),
    /// Delete one backup and its manifest (a path, onedrive:/… or s3://…); a job's newest good backup needs --force.
    Delete(DeleteArgs),
    /// Save a copy of a backup (and its manifest) from any destination, checked against the manifest on arrival.
    Download(DownloadArgs),
    /// Make the failed copies of a backup with several destinations again, from a good copy (no new dump).
    Copy(CopyArgs),
    /// List or drop the databases restores kept (`<db>__before_restore_<stamp>`).
    #[command(subcommand)]
    Kept(KeptCommand),
    /// Run the schedules (headless daemon; stop with SIGTERM, reload with SIGHUP).
    Run,
    /// Pause all schedules (optionally until a time or for a while).
    Pause(PauseArgs),
    /// Resume the schedules.
    Resume,
    /// Sign in to or out of OneDrive (Microsoft Graph), or show who is signed in.
    #[command(subcommand)]
    Onedrive(crate::onedrive::OneDriveCommand),
    /// Find the database servers you can reach and their databases; --protect DB makes a job for one and backs it up.
    Discover(DiscoverArgs),
    /// Run `nightjar run` as this user's service of the OS (systemd user unit, LaunchAgent, logon task).
    #[command(subcommand)]
    Service(crate::service::ServiceCommand),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The backup run (its id in `nightjar history`).
    #[arg(value_name = "RUN_ID")]
    pub run_id: i64,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Make the proposed job for this database (daily at 00:00, keep 7 days and the last 3) and run its first backup.
    #[arg(long, value_name = "DB")]
    pub protect: Option<String>,
    /// The server of --protect, when several have a database of that name (the id `discover` prints).
    #[arg(long, value_name = "ID", requires = "protect")]
    pub server: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
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
    /// The folder to write into (with --db), or `onedrive:/folder` (signed in with `nightjar onedrive login`).
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
    /// zstd worker threads (default: 1 on machines with two or more cores; 0 = compress on the reading thread).
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
    /// Any folder holding Nightjar backups, or `onedrive:/folder`.
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
    /// Any folder holding Nightjar backups, or `onedrive:/folder` (with --keep-days / --keep-last).
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

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The backup: a path, `onedrive:/folder/file` or `s3://bucket/prefix/file`.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Delete it even when it is the newest good backup of its job.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The backup: a path, `onedrive:/folder/file` or `s3://bucket/prefix/file`.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Where to save it: a file path, or a folder (the backup keeps its name). Never overwritten.
    #[arg(long, value_name = "PATH")]
    pub out: std::path::PathBuf,
    /// Print one JSON document.
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
    #[arg(long, value_name = "NAME", conflicts_with_all = ["db", "s3"], required_unless_present_any = ["db", "s3"])]
    pub job: Option<String>,
    /// An ad-hoc database URL (for `backup --db`).
    #[arg(long, value_name = "URL", conflicts_with = "s3")]
    pub db: Option<String>,
    /// The S3 secret access key of `s3://` destinations (with --access-key-id when setting it).
    #[arg(long)]
    pub s3: bool,
    /// With --s3: the access key id that goes with the secret.
    #[arg(long, value_name = "ID", requires = "s3")]
    pub access_key_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file to restore (or use --latest, or --run ID).
    #[arg(value_name = "FILE", required_unless_present_any = ["latest", "run"], conflicts_with_all = ["latest", "run"])]
    pub file: Option<PathBuf>,
    /// Restore into this database (postgres://user@host:port/db, ?host=/socket/dir allowed).
    #[arg(long, value_name = "URL", conflicts_with = "job", required_unless_present = "job")]
    pub db: Option<String>,
    /// Restore into this job's database (its safety backup goes to the job's destination).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Restore the newest backup of --job.
    #[arg(long, requires = "job", conflicts_with = "run")]
    pub latest: bool,
    /// Restore the file of this history run (`nightjar history` shows the ids).
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// Restore into this new database instead, leaving the target untouched.
    #[arg(long, value_name = "NAME")]
    pub as_new: Option<String>,
    /// Do not back the target up before replacing it.
    #[arg(long)]
    pub no_safety_backup: bool,
    /// Where the safety backup of an ad-hoc --db target goes (default: the folder of FILE).
    #[arg(long, value_name = "DIR", requires = "db")]
    pub safety_dir: Option<PathBuf>,
    /// Refuse, naming them, when sessions are connected to the target, instead of closing them.
    #[arg(long)]
    pub no_terminate: bool,
    /// Do not ask: restore without typing the database name (for scripts).
    #[arg(long)]
    pub yes: bool,
    /// Restore a file this Nightjar did not make (no manifest, another installation's, or changed since): it runs as SQL with the rights of the role the restore connects as.
    #[arg(long)]
    pub trust_file: bool,
    /// An age identity file that opens an encrypted backup (besides the keys kept for the job).
    #[arg(long, value_name = "KEYFILE")]
    pub identity: Option<PathBuf>,
    /// Print the finished record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also restore it into a scratch database on the server of --db (or --job), count rows, drop it.
    #[arg(long)]
    pub restore_test: bool,
    /// The server for --restore-test (any database URL on it).
    #[arg(long, value_name = "URL", requires = "restore_test", conflicts_with = "job")]
    pub db: Option<String>,
    /// Use this job's server for --restore-test.
    #[arg(long, value_name = "NAME", requires = "restore_test")]
    pub job: Option<String>,
    /// Test-restore a file this Nightjar did not make: it runs as SQL with the rights of the role the test restore connects as.
    #[arg(long, requires = "restore_test")]
    pub trust_file: bool,
    /// An age identity file that opens an encrypted backup (besides the keys kept for its job).
    #[arg(long, value_name = "KEYFILE")]
    pub identity: Option<PathBuf>,
    /// Print the finished record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeptCommand {
    /// The databases restores left on a server: replaced ones, and leftovers of interrupted runs.
    List(KeptListArgs),
    /// Drop kept databases (only names Nightjar made; needs --yes).
    Drop(KeptDropArgs),
}

/// The server to look at.
#[derive(Debug, Args)]
pub struct KeptServer {
    /// Any database URL on the server.
    #[arg(long, value_name = "URL", conflicts_with = "job", required_unless_present = "job")]
    pub db: Option<String>,
    /// The server of this job.
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeptListArgs {
    #[command(flatten)]
    pub server: KeptServer,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeptDropArgs {
    /// The databases to drop.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub server: KeptServer,
    /// Really drop them (this cannot be undone).
    #[arg(long)]
    pub yes: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    s.parse()
}
