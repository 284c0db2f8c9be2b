//! One function per subcommand: unpack flags, call the core, print.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nightjar_core::catalog::{self, BackupEntry};
use nightjar_core::clock::{Clock as _, SystemClock};
use nightjar_core::config::{self, Config, DestinationSpec, Job, JobOverrides, ParseEnv};
use nightjar_core::db::{DbUrl, UrlOrigin};
use nightjar_core::history::{History, RunFilter, RunKind};
use nightjar_core::model::Trigger;
use nightjar_core::paths::DataDir;
use nightjar_core::retention::RetentionPolicy;
use nightjar_core::remote;
use nightjar_core::runner::{BackupOptions, PruneReport};
use nightjar_core::secrets;
use nightjar_core::{status, Engine, Error, ErrorKind, Result};

use crate::cli::{BackupArgs, Cli, Command, HistoryArgs, ListArgs, PasswordCommand, PasswordTarget, PruneArgs};
use crate::output::{self, print_json, ProgressLine};

/// Everything a command needs, built once.
pub(crate) struct Ctx {
    pub(crate) config_path: std::path::PathBuf,
    pub(crate) env: ParseEnv,
    pub(crate) engine: Engine,
}

impl Ctx {
    fn data(&self) -> &DataDir {
        self.engine.data()
    }

    /// The config; its destination settings go to the engine.
    pub(crate) fn config(&self) -> Result<Config> {
        let config = Config::load(&self.config_path, &self.env)?;
        self.engine.configure(&config);
        Ok(config)
    }

    /// The config when it exists; an empty one when it does not (for
    /// commands that also work on ad-hoc folders).
    pub(crate) fn config_or_empty(&self) -> Result<Config> {
        if self.config_path.exists() { self.config() } else { Ok(Config::empty(Some(self.config_path.clone()))) }
    }

    /// The history; a damaged one is moved aside (and that said on stderr).
    pub(crate) fn history(&self) -> Result<&History> {
        let first = self.engine.history_moved_aside().is_none();
        let history = self.engine.history()?;
        if first && let Some(m) = self.engine.history_moved_aside() {
            eprintln!("nightjar: warning: {}", m.message());
        }
        Ok(history)
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Service(c) = cli.command {
        return crate::service::run(c, cli.config.as_deref());
    }
    let config_path = config::config_path(cli.config.as_deref());
    let store = Arc::new(secrets::ConfiguredSecrets::new(config_path.clone()));
    let engine = nightjar_s3::install(nightjar_onedrive::install(Engine::builder(DataDir::from_env()).secrets(store))).build();
    let ctx = Ctx { config_path, env: ParseEnv::from_system(), engine };
    let one_shot = !matches!(cli.command, Command::Run);
    let result = dispatch(&ctx, cli.command);
    // Alerts a one-shot command raised (a failed backup, the pings) get a
    // short, bounded time to go out; the rest stay queued for the next
    // Nightjar process. The daemon stops at once (its queue waits too).
    if one_shot {
        ctx.engine.alerts().flush(alert_flush_bound());
    }
    result
}

/// How long a one-shot command waits for its alerts before it exits:
/// `NIGHTJAR_ALERT_FLUSH_SECS`, else 10 seconds.
fn alert_flush_bound() -> std::time::Duration {
    std::time::Duration::from_secs(std::env::var("NIGHTJAR_ALERT_FLUSH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10))
}

fn dispatch(ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::Backup(a) => backup(ctx, a),
        Command::List(a) => list(ctx, &a),
        Command::Prune(a) => prune(ctx, &a),
        Command::Copy(a) => copy(ctx, &a),
        Command::Status(a) => status_cmd(ctx, a.json),
        Command::History(a) => history(ctx, &a),
        Command::Password(p) => password(ctx, p),
        Command::Key(k) => crate::key::run(ctx, k),
        Command::Alert(c) => crate::alert::run(ctx, c),
        Command::Restore(a) => restore(ctx, &a),
        Command::Verify(a) => verify(ctx, &a),
        Command::Kept(k) => kept(ctx, k),
        Command::Delete(a) => delete(ctx, &a),
        Command::Download(a) => download(ctx, &a),
        Command::Run => crate::daemon::run(&ctx.engine, &|| Config::load(&ctx.config_path, &ctx.env), ctx.config_path.clone()),
        Command::Pause(a) => pause(ctx, a.until.as_deref()),
        Command::Resume => resume(ctx),
        Command::Onedrive(c) => {
            let config = ctx.config_or_empty()?;
            crate::onedrive::run(&config.raw.onedrive, &config.raw.secrets, ctx.engine.secrets().clone(), c)
        }
        Command::Discover(a) => crate::discover::run(ctx, &a),
        Command::Service(_) => unreachable!("handled above"),
    }
}

/// `nightjar delete ADDRESS [--force]`.
fn delete(ctx: &Ctx, a: &crate::cli::DeleteArgs) -> Result<ExitCode> {
    ctx.config_or_empty()?;
    let address = a.address.trim();
    if !a.force
        && let Some(job) = ctx.engine.newest_good_of(address)?
    {
        return Err(Error::new(
            ErrorKind::NeedsConfirmation,
            format!("{address} is the newest good backup of job \"{job}\"; add --force to delete it anyway (nothing was deleted)."),
        ));
    }
    ctx.engine.delete_backup(address)?;
    if a.json {
        print_json(&serde_json::json!({ "deleted": address, "forced": a.force }));
    } else {
        eprintln!("Deleted {address} and its manifest.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `nightjar download ADDRESS --out PATH`.
fn download(ctx: &Ctx, a: &crate::cli::DownloadArgs) -> Result<ExitCode> {
    ctx.config_or_empty()?;
    let out = if a.out.is_absolute() { a.out.clone() } else { std::env::current_dir().map_or_else(|_| a.out.clone(), |c| c.join(&a.out)) };
    let cancel = cancel_flag();
    let d = ctx.engine.download_backup(a.address.trim(), &out, &cancel)?;
    if a.json {
        print_json(&d);
    } else {
        let how = if d.checked { "size and sha256 match its manifest" } else { "no manifest came with it, so it was not checked" };
        eprintln!("Saved {} to {} ({} bytes; {how}).", d.file, d.saved_to.display(), d.size);
    }
    Ok(ExitCode::SUCCESS)
}

/// Raised by SIGINT/SIGTERM/SIGHUP; a running backup stops cleanly.
pub(crate) fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

/// What `--dest` names: `onedrive:/folder` (as in a job's `destination`),
/// else a folder, relative to the current one when not absolute.
/// A OneDrive one reads the `[onedrive]` settings of the config (when there
/// is one) so it can be opened.
fn dest_spec(ctx: &Ctx, dest: &Path) -> Result<DestinationSpec> {
    let text = dest.to_string_lossy();
    if text.trim_start().starts_with("onedrive:") || text.trim_start().starts_with("s3://") {
        ctx.config_or_empty()?;
        return DestinationSpec::parse(&text, None).map_err(|e| Error::config(format!("--dest: {}.", e.message())));
    }
    let dest = if dest.is_absolute() { dest.to_path_buf() } else { std::env::current_dir().map_or_else(|_| dest.to_path_buf(), |c| c.join(dest)) };
    Ok(DestinationSpec::Folder(dest))
}

/// A `--db` value: refused when it carries a password (the shell history
/// and the process list would keep it), as the config file refuses one.
fn db_flag(url: &str) -> Result<DbUrl> {
    DbUrl::parse_without_password(url, UrlOrigin::CommandLine).map_err(|e| Error::config(format!("--db: {}.", e.message())))
}

/// A job for `backup --db URL --dest DIR` ([`Job::adhoc`]).
fn adhoc_job(url: &str, dest: DestinationSpec, name: Option<&str>, env: &ParseEnv) -> Result<Job> {
    Job::adhoc(db_flag(url)?, dest, name, env).map_err(flag_error)
}

/// The `--flag` a job field comes from on the command line.
fn flag_error((field, message): (&str, String)) -> Error {
    let flag = match field {
        "compression_level" => "--level",
        "format" => "--format",
        _ => "--name",
    };
    Error::config(format!("{flag}: {message}."))
}

fn apply_overrides(job: &mut Job, a: &BackupArgs) -> Result<()> {
    let o = JobOverrides { format: a.format, compression: a.compress, level: a.level, tables: a.tables.clone() };
    job.apply(&o).map_err(flag_error)
}

/// The jobs `nightjar backup` runs, with their options.
fn backup_work(ctx: &Ctx, a: &BackupArgs) -> Result<Vec<(Job, BackupOptions)>> {
    let mut work: Vec<(Job, BackupOptions)> = Vec::new();
    let mut base = BackupOptions::new(Trigger::Manual);
    base.threads = a.threads;
    base.prune = !a.no_prune;
    base.wait_for_lock = a.wait.map(std::time::Duration::from_secs);
    if let (Some(url), Some(dest)) = (&a.target.db, &a.target.dest) {
        let mut job = adhoc_job(url, dest_spec(ctx, dest)?, a.name.as_deref(), &ctx.env)?;
        apply_overrides(&mut job, a)?;
        let mut o = base.clone();
        o.password_account = Some(job.db.keyring_account());
        work.push((job, o));
    } else {
        let config = ctx.config()?;
        let jobs: Vec<Job> = config.select(a.target.job.as_deref(), true)?.into_iter().cloned().collect();
        if jobs.is_empty() {
            return Err(Error::config(format!(
                "{} has no enabled jobs; add a [[job]] section, or use --db URL --dest DIR.",
                ctx.config_path.display()
            )));
        }
        for mut job in jobs {
            apply_overrides(&mut job, a)?;
            work.push((job, base.clone()));
        }
    }
    Ok(work)
}

/// Backs up every job of [`backup_work`]. Every failure is told: a single
/// job's as the one error line (and, with `--json`, its record with
/// `"status": "failed"`), several jobs' as one line each and a summary.
fn backup(ctx: &Ctx, a: BackupArgs) -> Result<ExitCode> {
    let requested_at = SystemClock.now();
    let (work, history) = match backup_work(ctx, &a).and_then(|w| Ok((w, ctx.history()?))) {
        Ok(v) => v,
        Err(e) => {
            if a.json {
                print_json(&output::FailedBackup::not_started(a.target.job.as_deref(), &e, requested_at));
            }
            return Err(e);
        }
    };
    // Alerts earlier processes left queued go out alongside this run.
    if !ctx.engine.alerts().specs().is_empty() {
        ctx.engine.alerts().start();
    }
    let cancel = cancel_flag();
    let progress = ProgressLine::new(!a.json && std::io::stderr().is_terminal());
    for (job, _) in &work {
        if let Ok(Some(size)) = history.last_success(&job.name, RunKind::Backup).map(|r| r.and_then(|r| r.size)) {
            progress.expect(&job.name, size);
        }
    }
    let runner = ctx.engine.runner(&progress, &cancel)?;
    let several = work.len() > 1;
    let mut records: Vec<output::BackupRecord> = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    let mut last_error: Option<Error> = None;
    for (job, opts) in &work {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let started = SystemClock.now();
        let result = runner.backup(job, opts);
        progress.clear();
        match result {
            Ok(r) => {
                if !a.json {
                    output::print_backup(&r);
                }
                records.push(output::BackupRecord::Done(r));
            }
            Err(e) => {
                if several {
                    eprintln!("nightjar: {}: {e}", job.name);
                }
                let row = history
                    .runs(&RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), since: Some(started), limit: Some(1), ..RunFilter::default() })
                    .ok()
                    .and_then(|rows| rows.into_iter().next());
                records.push(output::BackupRecord::Failed(output::FailedBackup::of_run(job, &e, row, started, SystemClock.now())));
                failed.push(&job.name);
                last_error = Some(e);
            }
        }
    }
    if a.json {
        if several { print_json(&records) } else if let Some(r) = records.first() { print_json(r) }
    }
    let not_run: Vec<&str> = work.iter().skip(records.len()).map(|(j, _)| j.name.as_str()).collect();
    if !several {
        return match last_error {
            Some(e) => Err(e),
            None if not_run.is_empty() => Ok(ExitCode::SUCCESS),
            None => {
                let e = Error::new(ErrorKind::Interrupted, format!("The backup of \"{}\" was stopped before it started.", not_run.join(", ")));
                if a.json {
                    print_json(&output::FailedBackup::not_started(not_run.first().copied(), &e, requested_at));
                }
                Err(e)
            }
        };
    }
    if failed.is_empty() && not_run.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut summary = format!("{} of {} jobs backed up", records.len() - failed.len(), work.len());
    if !failed.is_empty() {
        summary.push_str(&format!("; failed: {}", failed.join(", ")));
    }
    if !not_run.is_empty() {
        summary.push_str(&format!("; not started (stopped): {}", not_run.join(", ")));
    }
    eprintln!("nightjar: {summary}.");
    Ok(ExitCode::from(1))
}

fn list(ctx: &Ctx, a: &ListArgs) -> Result<ExitCode> {
    let mut unreadable = 0usize;
    let entries: Vec<BackupEntry> = if let Some(dir) = &a.dest {
        catalog::all_backups(ctx.engine.open_destination(&dest_spec(ctx, dir)?)?.as_ref())?
    } else {
        let config = ctx.config()?;
        let jobs = config.select(a.job.as_deref(), false)?;
        let mut all = Vec::new();
        for job in jobs {
            if job.destinations.len() > 1 {
                // Each copy is a row of its own (its path says where), newest first.
                let (of_job, errors) = ctx.engine.job_backups(job);
                for (spec, e) in errors {
                    eprintln!("nightjar: {} ({}): {e}", job.name, spec.display());
                    unreadable += 1;
                }
                all.extend(of_job);
                continue;
            }
            let dest = ctx.engine.open_destination(&job.destination)?;
            match catalog::job_backups(dest.as_ref(), &job.name, job.timezone) {
                Ok(v) => all.extend(v),
                Err(e) if a.job.is_none() => {
                    eprintln!("nightjar: {}: {e}", job.name);
                    unreadable += 1;
                }
                Err(e) => return Err(e),
            }
        }
        all
    };
    if a.json {
        print_json(&entries);
    } else {
        output::print_entries(&entries);
    }
    // A place that could not be read is a failure, not "no backups".
    if unreadable > 0 {
        eprintln!("nightjar: {unreadable} backup place(s) could not be read; the list leaves their backups out.");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(ctx: &Ctx, a: &PruneArgs) -> Result<ExitCode> {
    let cancel = AtomicBool::new(false);
    let runner = ctx.engine.runner(&nightjar_core::observer::NoopObserver, &cancel)?;
    let reports: Vec<PruneReport> = if let Some(dir) = &a.dest {
        if a.keep_days.is_none() && a.keep_last.is_none() {
            return Err(Error::config("prune --dest needs --keep-days N and/or --keep-last N (a job's policy comes with --job)."));
        }
        let policy = RetentionPolicy { keep_days: a.keep_days.unwrap_or(0), keep_last: a.keep_last.unwrap_or(0), daily: 0, weekly: 0, monthly: 0, yearly: 0, max_backups: 0 };
        runner.prune_folder(&dest_spec(ctx, dir)?, &policy, ctx.env.system_tz, a.dry_run)?
    } else {
        let config = ctx.config()?;
        let jobs = config.select(a.job.as_deref(), false)?;
        jobs.into_iter().map(|job| runner.prune(job, a.dry_run)).collect::<Result<Vec<_>>>()?
    };
    let failed = reports.iter().any(|r| !r.errors.is_empty());
    if a.json {
        print_json(&reports);
    } else {
        output::print_prune(&reports);
    }
    for r in &reports {
        for e in &r.errors {
            eprintln!("nightjar: {e}");
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn copy(ctx: &Ctx, a: &crate::cli::CopyArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let history = ctx.engine.history()?;
    let run = history.get(a.run_id)?.ok_or_else(|| Error::config(format!("There is no run {} in the history; see `nightjar history`.", a.run_id)))?;
    let job = config.job(&run.job)?;
    let cancel = AtomicBool::new(false);
    let runner = ctx.engine.runner(&nightjar_core::observer::NoopObserver, &cancel)?;
    let copies = runner.copy_run(job, a.run_id)?;
    let good = copies.iter().all(|c| c.status == nightjar_core::history::CopyStatus::Good);
    if a.json {
        print_json(&copies);
    } else {
        for c in &copies {
            match (&c.status, &c.error) {
                (nightjar_core::history::CopyStatus::Good, _) => println!("✓ {}", c.file.as_deref().unwrap_or(&c.destination)),
                (_, e) => println!("✗ {}: {}", c.destination, e.as_deref().unwrap_or("failed")),
            }
        }
    }
    if !good {
        eprintln!("nightjar: some copies of run {} are still missing; try `nightjar copy {}` again later.", a.run_id, a.run_id);
    }
    Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn pause(ctx: &Ctx, until: Option<&str>) -> Result<ExitCode> {
    let now = SystemClock.now();
    let resume_at = match until {
        None => None,
        Some(text) => Some(match config::parse_duration(text) {
            Ok(d) => now + d,
            Err(_) => chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| Error::config(format!("--until \"{text}\" is neither a duration (\"2h\", \"1d\") nor a time (\"2026-11-22T08:00:00+02:00\").")))?
                .with_timezone(&chrono::Utc),
        }),
    };
    nightjar_core::state::StateFile::in_dir(ctx.data().root()).save(&nightjar_core::state::ScheduleState { paused: true, resume_at })?;
    match resume_at {
        Some(t) => eprintln!("Schedules paused until {}.", crate::output::local(t)),
        None => eprintln!("Schedules paused until `nightjar resume`."),
    }
    Ok(ExitCode::SUCCESS)
}

fn resume(ctx: &Ctx) -> Result<ExitCode> {
    nightjar_core::state::StateFile::in_dir(ctx.data().root()).save(&nightjar_core::state::ScheduleState::default())?;
    eprintln!("Schedules resumed; missed runs are caught up.");
    Ok(ExitCode::SUCCESS)
}

fn status_cmd(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let config = ctx.config_or_empty()?;
    let history = ctx.history()?;
    let now = SystemClock.now();
    let statuses = config.jobs.iter().map(|j| status::job_status(history, j, now)).collect::<Result<Vec<_>>>()?;
    let paused = nightjar_core::state::StateFile::in_dir(ctx.data().root()).load();
    // Damaged histories moved aside (by this or any earlier run), until the user deletes them.
    let moved_aside = nightjar_core::history::moved_aside(&ctx.data().history_file());
    // Local-folder jobs in a OneDrive-synced folder: whether the last good backup reached OneDrive.
    let mut cloud = BTreeMap::new();
    for st in &statuses {
        if let Some(c) = st.last_success.as_ref().map(|r| history.cloud_copy(r.id)).transpose()?.flatten() {
            cloud.insert(st.job.clone(), c);
        }
    }
    let alerts = crate::alert::statuses(&config.raw.alerts, ctx.data());
    if json {
        print_json(&serde_json::json!({
            "config": ctx.config_path,
            "data_dir": ctx.data().root(),
            "paused": paused.is_paused(now),
            "resume_at": paused.resume_at,
            "jobs": statuses,
            "cloud": cloud,
            "history_moved_aside": moved_aside,
            "alerts": alerts,
        }));
    } else {
        if paused.is_paused(now) {
            let until = paused.resume_at.map_or_else(|| "until `nightjar resume`".to_string(), |t| format!("until {}", crate::output::local(t)));
            println!("Schedules are PAUSED {until}.");
        }
        for m in &moved_aside {
            println!("{}", m.message());
        }
        output::print_status(&ctx.config_path, &statuses, config.jobs.is_empty(), &cloud);
        if !alerts.is_empty() {
            println!();
            crate::alert::print_alerts(&alerts);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn history(ctx: &Ctx, a: &HistoryArgs) -> Result<ExitCode> {
    let history = ctx.history()?;
    if a.stats {
        let stats = history.stats(a.job.as_deref())?;
        if a.json { print_json(&stats) } else { output::print_stats(&stats) }
        return Ok(ExitCode::SUCCESS);
    }
    let runs = history.runs(&RunFilter { job: a.job.clone(), limit: Some(a.limit), ..RunFilter::default() })?;
    // A backup of a job with several destinations has a row per copy.
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        let copies = if run.kind == RunKind::Backup { history.copies(run.id)? } else { Vec::new() };
        rows.push(output::RunWithCopies { run, copies });
    }
    if a.json { print_json(&rows) } else { output::print_runs(&rows) }
    Ok(ExitCode::SUCCESS)
}

fn password(ctx: &Ctx, cmd: PasswordCommand) -> Result<ExitCode> {
    let (target, set) = match &cmd {
        PasswordCommand::Set(t) => (t, true),
        PasswordCommand::Delete(t) => (t, false),
    };
    if target.s3 {
        return s3_credentials(ctx, target, set);
    }
    let account = account_for(ctx, target)?;
    let store = ctx.engine.secrets();
    if set {
        let pw = read_password(&account)?;
        store.set(&account, &pw)?;
        eprintln!("Stored the password for {} in {}.", describe_account(&account), store_name(ctx));
    } else if store.delete(&account)? {
        eprintln!("Removed the password for {} from {}.", describe_account(&account), store_name(ctx));
    } else {
        eprintln!("No password was stored for {}.", describe_account(&account));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where secrets are kept: "the OS keyring" or the credentials file.
pub(crate) fn store_name(ctx: &Ctx) -> String {
    match config::SecretsSettings::load(&ctx.config_path) {
        Ok(s) if s.store == config::SecretStoreKind::File => s.file_path(&ctx.config_path, ctx.env.home.as_deref()).display().to_string(),
        _ => "the OS keyring".to_string(),
    }
}

/// `password set --s3 --access-key-id ID` (the secret from stdin or a
/// prompt) and `password delete --s3`: the key pair `s3://` destinations
/// use when the AWS_* environment variables are not set.
fn s3_credentials(ctx: &Ctx, target: &PasswordTarget, set: bool) -> Result<ExitCode> {
    use nightjar_s3::{ACCESS_KEY_ACCOUNT, SECRET_KEY_ACCOUNT};
    let store = ctx.engine.secrets();
    if set {
        let Some(id) = target.access_key_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(Error::config("Give the access key id with --access-key-id ID; the secret access key is then read from stdin or prompted for."));
        };
        let secret = read_password("the S3 secret access key")?;
        store.set(SECRET_KEY_ACCOUNT, &secret)?;
        store.set(ACCESS_KEY_ACCOUNT, id)?;
        eprintln!("Stored the S3 access key {id} and its secret in {}.", store_name(ctx));
    } else {
        let had = store.delete(SECRET_KEY_ACCOUNT)?;
        let had = store.delete(ACCESS_KEY_ACCOUNT)? || had;
        if had {
            eprintln!("Removed the S3 access key from {}.", store_name(ctx));
        } else {
            eprintln!("No S3 access key was stored.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_account(account: &str) -> String {
    account.strip_prefix("job:").map_or_else(|| account.trim_start_matches("db:").to_string(), |j| format!("job \"{j}\""))
}

fn account_for(ctx: &Ctx, t: &PasswordTarget) -> Result<String> {
    match (&t.job, &t.db) {
        (Some(job), _) => {
            // Check the job exists when there is a config, to catch typos.
            if ctx.config_path.exists() {
                ctx.config()?.job(job)?;
            }
            Ok(secrets::job_account(job))
        }
        (None, Some(url)) => {
            Ok(db_flag(url)?.keyring_account())
        }
        (None, None) => Err(Error::config("Give --job NAME or --db URL.")),
    }
}

/// A secret (`what`: "password", "secret", ...) typed at the terminal
/// after `prompt` (not echoed), or the first line of stdin when it is not a
/// terminal; never from the command line. With `confirm`, a terminal is
/// asked twice and the two must agree.
pub(crate) fn read_secret(prompt: &str, what: &str, confirm: bool) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::other(format!("Could not read the {what} from stdin.")).with_source(e))?;
        return Ok(s.lines().next().unwrap_or("").to_string());
    }
    let read = |prompt: &str| rpassword::prompt_password(prompt).map_err(|e| Error::other(format!("Could not read the {what} from the terminal.")).with_source(e));
    let first = read(prompt)?;
    if confirm && read(&format!("The same {what} again: "))? != first {
        return Err(Error::new(ErrorKind::Config, format!("The two {what}s differ; nothing was changed.")));
    }
    Ok(first)
}

fn read_password(account: &str) -> Result<String> {
    let pw = read_secret(&format!("Password for {}: ", describe_account(account)), "password", false)?;
    if pw.is_empty() {
        return Err(Error::new(ErrorKind::Config, "The password is empty; nothing was stored."));
    }
    Ok(pw)
}

// ---- restore, verify, kept ----------------------------------------------

use nightjar_core::observer::{Progress, RunObserver, Stage};
use nightjar_core::restore::{KeptDatabase, RestoreMode, RestoreOptions, RestorePlan, RestoreReport, VerifyOptions, VerifyReport};

/// A restore's or verify's target server: a job from the config, or an ad-hoc
/// URL (an ad-hoc job whose destination receives the safety backup).
struct DbTarget {
    job: Job,
    password: Option<String>,
    account: Option<String>,
    /// How to name this server again on the command line (hints).
    flag: String,
}

fn db_target(ctx: &Ctx, db: Option<&str>, job: Option<&str>, dest: &Path) -> Result<DbTarget> {
    match (db, job) {
        (Some(url), _) => {
            // The ad-hoc name (file names, history) comes from the database's
            // name; one with no usable characters (e.g. Cyrillic) gets a neutral one.
            let dest = dest_spec(ctx, dest)?;
            let job = match adhoc_job(url, dest.clone(), None, &ctx.env) {
                Ok(v) => v,
                Err(_) => adhoc_job(url, dest, Some("database"), &ctx.env)?,
            };
            let account = Some(job.db.keyring_account());
            let flag = format!("--db '{}'", job.db.libpq_url());
            Ok(DbTarget { job, password: None, account, flag })
        }
        (None, Some(name)) => {
            let job = ctx.config()?.job(name)?.clone();
            Ok(DbTarget { flag: format!("--job {}", job.name), job, password: None, account: None })
        }
        (None, None) => Err(Error::config("Give --db URL or --job NAME.")),
    }
}

fn restore(ctx: &Ctx, a: &crate::cli::RestoreArgs) -> Result<ExitCode> {
    let history = ctx.history()?;
    let file: std::path::PathBuf = if a.latest {
        let name = a.job.as_deref().ok_or_else(|| Error::config("--latest needs --job NAME."))?;
        let job = ctx.config()?.job(name)?.clone();
        ctx.engine.latest_backup(&job)?.path.into()
    } else if let Some(id) = a.run {
        let row = history.get(id)?.ok_or_else(|| Error::config(format!("There is no run {id} in the history; `nightjar history` shows the ids.")))?;
        match (&row.file, row.kind, row.status) {
            (Some(f), RunKind::Backup, nightjar_core::model::RunStatus::Success) => f.into(),
            _ => return Err(Error::config(format!("Run {id} of the history is not a successful backup; pick a backup run (`nightjar history`)."))),
        }
    } else {
        a.file.clone().ok_or_else(|| Error::config("Give the backup FILE, or --job NAME --latest, or --run ID."))?
    };
    // A backup in OneDrive is restored from a private local copy, removed afterwards.
    let remote = remote::is_remote(&file.to_string_lossy());
    if remote && a.db.is_some() && a.safety_dir.is_none() && a.as_new.is_none() && !a.no_safety_backup {
        return Err(Error::config(
            "A backup restored from OneDrive has no folder beside it for the safety backup; give --safety-dir DIR, or --as-new NAME, or --no-safety-backup.",
        ));
    }
    let file = if remote { file } else { std::path::absolute(&file).unwrap_or(file) };
    let file_dir = file.parent().map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
    let safety_dir = a.safety_dir.clone().unwrap_or(file_dir);
    let target = db_target(ctx, a.db.as_deref(), a.job.as_deref(), &safety_dir)?;
    let cancel = cancel_flag();
    let progress = RestoreProgress::new(!a.json && std::io::stderr().is_terminal(), &file.to_string_lossy());
    let restorer = ctx.engine.restorer(&progress, &cancel)?;
    if remote {
        // The `[onedrive]` settings, when there is a config.
        ctx.config_or_empty()?;
    }
    let opts = RestoreOptions {
        as_new: a.as_new.clone(),
        safety_backup: !a.no_safety_backup,
        terminate_connections: !a.no_terminate,
        password: target.password.clone(),
        password_account: target.account.clone(),
        origin: None,
        trust_file: a.trust_file,
        identity: a.identity.clone(),
        keys: None,
    };
    let planned = restorer.plan_from(&file.to_string_lossy(), &target.job, &opts);
    progress.clear();
    let (plan, backup) = planned?;
    let origin = backup.origin().map(str::to_string);
    let refused = plan.trust.as_ref().is_none_or(|t| t.needs_acknowledgement()) && !a.trust_file;
    if refused {
        // Shown (the error says it too), then refused and recorded by the
        // restore itself: there is nothing to confirm.
        if a.json {
            print_json(&plan);
        } else if !a.yes {
            print_plan(&plan, origin.as_deref());
        }
    } else if !a.yes && a.json {
        // `--json` without `--yes`: the plan is the document; nothing is asked or changed.
        print_json(&plan);
        return Err(Error::new(ErrorKind::NeedsConfirmation, "Nothing was restored: this is the plan; add --yes to restore it."));
    } else if !a.yes {
        print_plan(&plan, origin.as_deref());
        confirm(&plan)?;
    }
    let report = restorer.restore_from(&plan, &backup, &target.job, &opts);
    progress.clear();
    let report = report?;
    if a.json {
        print_json(&report);
    } else {
        print_restore(&report, &target.flag);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &RestorePlan, origin: Option<&str>) {
    let i = &plan.inspection;
    let modified = if origin.is_some() { String::new() } else { i.modified.map(|m| format!(", modified {}", crate::output::local(m))).unwrap_or_default() };
    let shown = origin.map_or_else(|| i.path.display().to_string(), str::to_string);
    eprintln!("Restore plan");
    eprintln!("  file:          {shown} ({}{modified})", output::size(i.size));
    eprintln!("  content:       {}", i.describe());
    let checksum = match (&i.manifest, plan.has_manifest) {
        (Some(m), true) => format!("manifest found (backup of \"{}\" taken {}); the sha256 will be checked", m.database, crate::output::local(m.finished_at)),
        _ => "no manifest: the sha256 cannot be checked (decompression and format are still checked)".into(),
    };
    eprintln!("  checksum:      {checksum}");
    if let Some(t) = &plan.trust {
        eprintln!("  made by:       {}", t.message);
        if t.needs_acknowledgement() {
            eprintln!("  trust:         NOT MADE BY THIS NIGHTJAR: it is restored only with --trust-file");
        }
    }
    let version = plan.server_version.as_deref().map(|v| format!(" (PostgreSQL {})", nightjar_core::inspect::short_version(v))).unwrap_or_default();
    eprintln!("  server:        {}{version}", plan.server);
    let target = match plan.mode {
        RestoreMode::Replace => {
            let size = plan.target_size.map(|s| format!(", {}", output::size(s))).unwrap_or_default();
            let sessions = if plan.sessions.is_empty() { String::new() } else { format!(", {} session(s) connected", plan.sessions.len()) };
            format!("\"{}\" exists{size}{sessions}: it will be REPLACED (and kept as \"{}__before_restore_<time>\")", plan.database, plan.database)
        }
        RestoreMode::Create => format!("\"{}\" does not exist: it will be created", plan.database),
        RestoreMode::AsNew => format!("the new database \"{}\" will be created; \"{}\" is left alone", plan.database, plan.target),
    };
    eprintln!("  target:        {target}");
    let safety = match (plan.mode, plan.safety_backup) {
        (RestoreMode::Replace, true) => format!("yes, into {}", plan.safety_destination.as_deref().unwrap_or("the job's destination")),
        (RestoreMode::Replace, false) => "NO (--no-safety-backup)".into(),
        _ => "not needed (nothing is replaced)".into(),
    };
    eprintln!("  safety backup: {safety}");
    if let Some(s) = plan.estimated_size {
        eprintln!("  data:          about {} uncompressed", output::size(s));
    }
    for w in &plan.warnings {
        eprintln!("  note:          {w}");
    }
    eprintln!("{}", plan.action());
}

/// Asks for the database name on the terminal; refuses without one.
fn confirm(plan: &RestorePlan) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::config(format!(
            "Restoring into \"{}\" needs a confirmation and there is no terminal to ask on; check the plan above, then run the command again with --yes.",
            plan.database
        )));
    }
    let verb = match plan.mode {
        RestoreMode::Replace => "replace",
        RestoreMode::Create | RestoreMode::AsNew => "create",
    };
    eprint!("Type the name of the database to {verb} (\"{}\") to go ahead, anything else to stop: ", plan.database);
    let _ = std::io::Write::flush(&mut std::io::stderr());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| Error::other("Could not read the answer from the terminal.").with_source(e))?;
    if answer.trim_end_matches(['\r', '\n']) != plan.database {
        return Err(Error::new(ErrorKind::Interrupted, format!("The restore was stopped: the answer was not \"{}\"; nothing was changed.", plan.database)));
    }
    Ok(())
}

fn print_restore(r: &RestoreReport, flag: &str) {
    println!("{}", r.message);
    if let Some(s) = &r.safety_backup {
        println!("Safety backup: {s}");
    }
    if let Some(k) = &r.kept_as {
        println!("To drop the kept copy once you are sure: nightjar kept drop {k} {flag} --yes");
    }
    println!("{} read, {} restored, {:.1} s.", output::size(r.size), output::size(r.data_size), r.duration_ms as f64 / 1000.0);
}

fn verify(ctx: &Ctx, a: &crate::cli::VerifyArgs) -> Result<ExitCode> {
    let remote = remote::is_remote(&a.file.to_string_lossy());
    let file = if remote { a.file.clone() } else { std::path::absolute(&a.file).unwrap_or_else(|_| a.file.clone()) };
    ctx.history()?;
    let mut opts = VerifyOptions::default();
    if a.restore_test {
        let dir = file.parent().map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
        let target = db_target(ctx, a.db.as_deref(), a.job.as_deref(), &dir)
            .map_err(|e| if a.db.is_none() && a.job.is_none() { Error::config("--restore-test needs the server: --db URL or --job NAME.") } else { e })?;
        opts = VerifyOptions {
            restore_test: Some(target.job),
            password: target.password,
            password_account: target.account,
            origin: None,
            trust_file: a.trust_file,
            identity: None,
            keys: None,
        };
    }
    opts.identity.clone_from(&a.identity);
    let cancel = cancel_flag();
    let progress = RestoreProgress::new(!a.json && std::io::stderr().is_terminal(), &file.to_string_lossy());
    let restorer = ctx.engine.restorer(&progress, &cancel)?;
    if remote {
        // The `[onedrive]` settings, when there is a config.
        ctx.config_or_empty()?;
    }
    // A backup in OneDrive is verified from a private local copy, removed afterwards.
    let report = restorer.verify_address(&file.to_string_lossy(), &opts);
    progress.clear();
    let report = report?;
    if a.json {
        print_json(&report);
    } else {
        print_verify(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_verify(r: &VerifyReport) {
    println!("{}", r.message);
    println!("sha256 {}  {} ({} uncompressed)", r.sha256, output::size(r.size), output::size(r.data_size));
    if let Some(t) = &r.restore_test {
        println!("Test restore into \"{}\" ({:.1} s, dropped again):", t.scratch_database, t.duration_ms as f64 / 1000.0);
        let width = t.tables.iter().map(|x| x.schema.chars().count() + x.table.chars().count() + 1).max().unwrap_or(0);
        for x in &t.tables {
            let name = format!("{}.{}", x.schema, x.table);
            let pad = width.saturating_sub(name.chars().count());
            println!("  {name}{}  {:>10} rows", " ".repeat(pad), x.rows);
        }
        println!("  {} tables, {} rows", t.table_count, t.total_rows);
    }
}

fn kept(ctx: &Ctx, cmd: crate::cli::KeptCommand) -> Result<ExitCode> {
    use crate::cli::KeptCommand;
    let cancel = AtomicBool::new(false);
    let restorer = ctx.engine.restorer(&nightjar_core::observer::NoopObserver, &cancel)?;
    let here = Path::new(".");
    match cmd {
        KeptCommand::List(a) => {
            let t = db_target(ctx, a.server.db.as_deref(), a.server.job.as_deref(), here)?;
            let kept: Vec<KeptDatabase> = restorer.kept_databases(&t.job, t.password.as_ref(), t.account.as_ref())?;
            if a.json {
                print_json(&kept);
            } else if kept.is_empty() {
                println!("No databases kept by restores on {}.", t.job.db.server());
            } else {
                for k in &kept {
                    let size = k.size.map(output::size).unwrap_or_else(|| "?".into());
                    let conn = if k.connections > 0 { format!(", {} connected", k.connections) } else { String::new() };
                    println!("{:<63}  {:>10}  {}  {}{conn}", k.name, size, k.stamp, k.kind.describe());
                }
                println!("Drop one with: nightjar kept drop NAME {} --yes", t.flag);
            }
            Ok(ExitCode::SUCCESS)
        }
        KeptCommand::Drop(a) => {
            let t = db_target(ctx, a.server.db.as_deref(), a.server.job.as_deref(), here)?;
            if !a.yes {
                return Err(Error::config(format!("Dropping {} cannot be undone; add --yes to drop it.", a.names.join(", "))));
            }
            for name in &a.names {
                restorer.drop_kept(&t.job, name, t.password.as_ref(), t.account.as_ref())?;
                println!("Dropped \"{name}\".");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The progress bar of restores and verifies: the file read against its
/// size (when it is a local file), with the rate and an ETA; the safety
/// backup's dump shows as a backup does.
struct RestoreProgress {
    backup: ProgressLine,
    bar: indicatif::ProgressBar,
    /// The backup file's size, when known.
    total: Option<u64>,
    started: std::sync::atomic::AtomicBool,
}

impl RestoreProgress {
    fn new(enabled: bool, file: &str) -> Self {
        let total = std::fs::metadata(file).ok().filter(std::fs::Metadata::is_file).map(|m| m.len()).filter(|n| *n > 0);
        Self { backup: ProgressLine::new(enabled), bar: output::bar(enabled), total, started: std::sync::atomic::AtomicBool::new(false) }
    }

    fn clear(&self) {
        self.backup.clear();
        self.bar.finish_and_clear();
        self.started.store(false, Ordering::SeqCst);
    }
}

impl RunObserver for RestoreProgress {
    fn stage(&self, job: &str, stage: Stage) {
        if matches!(stage, Stage::Validating | Stage::Restoring) {
            self.backup.clear();
            self.bar.set_message(format!("{job}: {}", stage.label()));
        } else {
            self.bar.finish_and_clear();
            self.started.store(false, Ordering::SeqCst);
            self.backup.stage(job, stage);
        }
    }

    fn progress(&self, job: &str, p: &Progress) {
        if !matches!(p.stage, Stage::Validating | Stage::Restoring) {
            self.backup.progress(job, p);
            return;
        }
        if !self.started.swap(true, Ordering::SeqCst) {
            output::restart(&self.bar, self.total);
        }
        self.bar.set_message(format!("{job}: {} ({} of data)", p.stage.label(), output::size(p.bytes_out)));
        self.bar.set_position(p.bytes_in);
    }

    fn warning(&self, job: &str, message: &str) {
        self.bar.suspend(|| self.backup.warning(job, message));
    }

    fn event(&self, e: &nightjar_core::observer::Event) {
        self.bar.suspend(|| self.backup.event(e));
    }
}
