//! Human-readable output, JSON output, and the progress line.

use std::io::Write as _;
use std::path::Path;
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nightjar_core::catalog::BackupEntry;
use nightjar_core::config::Job;
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_core::{Error, ErrorKind};
use nightjar_core::history::{CloudCopy, CloudState, JobStats, RunRecord};
use nightjar_core::observer::{Progress, RunObserver, Stage};
use nightjar_core::runner::{BackupReport, PruneReport};
use nightjar_core::status::JobStatus;
use serde::Serialize;

pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process printed its JSON document already.
pub fn json_printed() -> bool {
    JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The document of a `--json` command that failed before it had a result
/// of its own: `{"status": "failed", "error": …, "error_kind": …}`, the
/// fields a failed backup's record has (`error_kind` "usage" for a command
/// line clap refused).
pub fn print_json_failure(error: &str, error_kind: &str) {
    print_json(&serde_json::json!({ "status": "failed", "error": error, "error_kind": error_kind }));
}

/// "12.3 MiB" (the core's formatter, as the tray and the window show sizes).
pub fn size(bytes: u64) -> String {
    nightjar_core::units::format_bytes(bytes)
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A time in the zone `tz`, saying which ("2026-12-07 00:00:00 EET").
pub fn at(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// A time in this computer's zone, saying which.
pub fn local(t: DateTime<Utc>) -> String {
    at(t, nightjar_core::config::system_time_zone())
}

/// The zone a job's times are shown in: its own (the system's when its
/// name does not parse, which a loaded config never has).
fn zone(name: &str) -> Tz {
    name.parse().unwrap_or_else(|_| nightjar_core::config::system_time_zone())
}

/// One job's record in `nightjar backup --json`: the finished backup, or
/// what is known of a failed one.
#[derive(Serialize)]
#[serde(untagged)]
pub enum BackupRecord {
    Done(BackupReport),
    Failed(FailedBackup),
}

/// The record of a backup that failed: the fields of a finished one
/// ([`BackupReport`]), empty where nothing is known (`file` is null), with
/// `"status": "failed"` (or `"interrupted"`) and the error.
#[derive(Serialize)]
pub struct FailedBackup {
    /// History row id, when the failure was recorded.
    run_id: Option<i64>,
    /// The job; null when the command failed before a job was known.
    job: Option<String>,
    status: RunStatus,
    trigger: Trigger,
    /// The one sentence also printed on stderr.
    error: String,
    /// Its stable category (`auth`, `connection`, `config`, ...).
    error_kind: &'static str,
    file: Option<String>,
    name: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    dump_size: Option<u64>,
    duration_ms: Option<u64>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    destination: Option<String>,
    server_version: Option<String>,
    tool_version: Option<String>,
    pruned: Vec<String>,
    warnings: Vec<String>,
}

impl FailedBackup {
    fn new(job: Option<String>, e: &Error, started_at: DateTime<Utc>, finished_at: DateTime<Utc>) -> Self {
        Self {
            run_id: None,
            job,
            status: if e.kind() == ErrorKind::Interrupted { RunStatus::Interrupted } else { RunStatus::Failed },
            trigger: Trigger::Manual,
            error: e.message().to_string(),
            error_kind: e.kind().code(),
            file: None,
            name: None,
            size: None,
            sha256: None,
            dump_size: None,
            duration_ms: u64::try_from((finished_at - started_at).num_milliseconds()).ok(),
            started_at,
            finished_at,
            destination: None,
            server_version: None,
            tool_version: None,
            pruned: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The command failed before any backup started (config, flags).
    pub fn not_started(job: Option<&str>, e: &Error, started_at: DateTime<Utc>) -> Self {
        Self::new(job.map(str::to_string), e, started_at, Utc::now())
    }

    /// A run of `job` that failed; `row` is its history row when it was recorded.
    pub fn of_run(job: &Job, e: &Error, row: Option<RunRecord>, started_at: DateTime<Utc>, finished_at: DateTime<Utc>) -> Self {
        let mut r = Self::new(Some(job.name.clone()), e, started_at, finished_at);
        r.destination = Some(job.destination.display());
        if let Some(row) = row {
            r.run_id = Some(row.id);
            r.started_at = row.started_at;
            r.finished_at = row.finished_at.unwrap_or(finished_at);
            r.duration_ms = row.duration_ms.or(r.duration_ms);
            r.destination = Some(row.destination);
        }
        r
    }
}

pub fn print_backup(r: &BackupReport) {
    println!("{}: saved {} ({}, {} of dump, in {})", r.job, r.file, size(r.size), size(r.dump_size), secs(r.duration_ms));
    for p in &r.pruned {
        println!("{}: retention deleted {p}", r.job);
    }
}

pub fn print_entries(entries: &[BackupEntry]) {
    if entries.is_empty() {
        println!("No backups found.");
        return;
    }
    for e in entries {
        let flag = if e.size_matches { "" } else { "  (size differs from its manifest!)" };
        println!("{:<20} {}  {:>10}  {:<11} {}{flag}", e.job, local(e.taken_at), size(e.size), e.trigger, e.path);
    }
}

pub fn print_prune(reports: &[PruneReport]) {
    if reports.is_empty() {
        println!("No backups found.");
    }
    for r in reports {
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        println!("{} ({}):", r.job, r.policy);
        for d in &r.plan.decisions {
            let what = if d.keep { "keep  " } else if r.dry_run { "delete" } else if r.deleted.contains(&d.name) { "DELETED" } else { "FAILED" };
            println!("  {what} {}  ({})", d.name, d.reasons.join(", "));
        }
        let n = if r.dry_run { r.plan.to_delete().count() } else { r.deleted.len() };
        println!("  {verb} {n} file(s), {}", size(r.plan.bytes_freed()));
    }
}

pub fn print_status(config: &Path, statuses: &[JobStatus], empty: bool, cloud: &std::collections::BTreeMap<String, CloudCopy>) {
    println!("Config: {}", config.display());
    if empty {
        println!("No jobs yet: add a [[job]] section to the config file (see the README).");
        return;
    }
    for s in statuses {
        let tz = zone(&s.timezone);
        let state = match (s.enabled, s.stale) {
            (false, _) => " (disabled)",
            (true, true) => " — STALE: no good backup within its deadline",
            _ => "",
        };
        println!("\n{}{state}", s.job);
        match &s.last_run {
            Some(r) => {
                let detail = match (&r.error, r.size) {
                    (Some(e), _) => format!(": {e}"),
                    (None, Some(sz)) => format!(", {}", size(sz)),
                    _ => String::new(),
                };
                println!("  last run:    {} {}{detail}", at(r.started_at, tz), r.status);
            }
            None => println!("  last run:    never"),
        }
        if let Some(ok) = &s.last_success {
            println!("  last good:   {}", at(ok.started_at, tz));
        }
        match (&s.schedule, s.next_runs.first()) {
            (Some(sch), Some(next)) => println!("  next run:    {} ({sch}, {})", at(*next, tz), s.timezone),
            (Some(sch), None) => println!("  schedule:    {sch} (not active)"),
            (None, _) => println!("  schedule:    none (manual only)"),
        }
        match (&s.tool.found, &s.tool.problem) {
            (_, Some(p)) => println!("  tool:        PROBLEM: {p}"),
            (Some(f), None) => println!("  tool:        {} {f}", s.tool.tool),
            _ => {}
        }
        let space = s.destination.space.map(|sp| format!(" ({} free of {})", size(sp.available), size(sp.total))).unwrap_or_default();
        println!("  destination: {}{space}", s.destination.location);
        if let Some(p) = &s.destination.problem {
            println!("               PROBLEM: {p}");
        }
        for d in s.destinations.iter().skip(1) {
            println!("               {d}");
        }
        if !s.copies.is_empty() {
            let line: Vec<String> = s.copies.iter().map(|c| format!("{} {}", c.destination, if c.status == nightjar_core::history::CopyStatus::Good { "✓" } else { "✗" })).collect();
            println!("  copies:      {}", line.join(", "));
            for c in s.copies.iter().filter_map(|c| c.error.as_ref().map(|e| (c, e))) {
                println!("               {}: {}", c.0.destination, c.1);
            }
        }
        if let Some(c) = cloud.get(&s.job) {
            let line = match c.state {
                CloudState::InCloud => format!("yes, OneDrive holds the last good backup (confirmed {})", at(c.confirmed_at.unwrap_or(c.since), tz)),
                CloudState::Pending => format!("not yet: waiting for the OneDrive client to upload the last good backup (written {})", at(c.since, tz)),
                CloudState::Late => format!("NO: the last good backup (written {}) has not reached OneDrive; check the OneDrive client", at(c.since, tz)),
                CloudState::Gone => "unknown: the last good backup was removed before OneDrive had it".to_string(),
            };
            println!("  in cloud:    {line}");
        }
    }
}

/// A run of `nightjar history` with its copies (one per destination of a
/// job with several; none otherwise).
#[derive(Debug, serde::Serialize)]
pub struct RunWithCopies {
    #[serde(flatten)]
    pub run: RunRecord,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<nightjar_core::history::CopyRecord>,
}

pub fn print_runs(runs: &[RunWithCopies]) {
    if runs.is_empty() {
        println!("No runs recorded yet.");
    }
    for RunWithCopies { run: r, copies } in runs {
        let dur = r.duration_ms.map(secs).unwrap_or_default();
        let what = match (&r.error, &r.file) {
            (Some(e), _) => e.clone(),
            (None, Some(f)) => format!("{} {}", r.size.map(size).unwrap_or_default(), f),
            _ => String::new(),
        };
        println!("{:>5} {} {:<16} {:<7} {:<11} {:<11} {:>7}  {what}", r.id, local(r.started_at), r.job, r.kind, r.trigger, r.status, dur);
        for c in copies {
            let how = match (c.status, &c.error, &c.copied_from) {
                (nightjar_core::history::CopyStatus::Good, _, Some(from)) => format!("✓ (copied from {from})"),
                (nightjar_core::history::CopyStatus::Good, _, None) => "✓".to_string(),
                (_, Some(e), _) => format!("✗ {e}"),
                (_, None, _) => "✗".to_string(),
            };
            println!("{:>5}   copy: {} {how}", "", c.destination);
        }
    }
}

pub fn print_stats(stats: &[JobStats]) {
    if stats.is_empty() {
        println!("No runs recorded yet.");
    }
    for s in stats {
        println!(
            "{}: {} runs, {} ok, {} failed, {} in successful backups (pruned ones included), oldest {}, newest {}",
            s.job,
            s.runs,
            s.successes,
            s.failures,
            size(s.total_size),
            s.oldest.map_or_else(|| "-".into(), local),
            s.newest.map_or_else(|| "-".into(), local)
        );
    }
}

/// A progress bar on a terminal's stderr (indicatif): the stage, bytes
/// written, rate, and, when the job has a good backup to compare with, how
/// far along this one is against its size with an ETA; a spinner with the
/// bytes otherwise.
pub struct ProgressLine {
    bar: ProgressBar,
    /// The last good backup's size per job (what this run is measured against).
    expected: Mutex<HashMap<String, u64>>,
    /// The job the bar shows now.
    showing: Mutex<Option<String>>,
}

/// A bar drawn on stderr when `enabled` (a terminal, no `--json`), hidden otherwise.
pub fn bar(enabled: bool) -> ProgressBar {
    let target = if enabled { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    ProgressBar::with_draw_target(None, target)
}

/// Starts `bar` over: against `total` (a bar with an ETA), or a spinner
/// ticking on its own when the total is not known.
pub fn restart(bar: &ProgressBar, total: Option<u64>) {
    bar.reset();
    bar.set_style(bar_style(total.is_some()));
    bar.set_length(total.unwrap_or(0));
    if total.is_none() {
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
    } else {
        bar.disable_steady_tick();
    }
}

/// The bar's look: against a known total (with an ETA), or a spinner.
fn bar_style(total_known: bool) -> ProgressStyle {
    let template = if total_known {
        "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} · {binary_bytes_per_sec} · ETA {eta}"
    } else {
        "{spinner} {msg} · {binary_bytes} · {binary_bytes_per_sec} · {elapsed}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

impl ProgressLine {
    pub fn new(enabled: bool) -> Self {
        Self { bar: bar(enabled), expected: Mutex::new(HashMap::new()), showing: Mutex::new(None) }
    }

    /// The size of `job`'s last good backup: the bar shows this run against it.
    pub fn expect(&self, job: &str, bytes: u64) {
        if bytes > 0 {
            self.expected.lock().expect("progress lock").insert(job.to_string(), bytes);
        }
    }

    /// Starts showing `job` when the bar shows another (or none).
    fn show(&self, job: &str) {
        let mut showing = self.showing.lock().expect("progress lock");
        if showing.as_deref() == Some(job) {
            return;
        }
        *showing = Some(job.to_string());
        restart(&self.bar, self.expected.lock().expect("progress lock").get(job).copied());
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
        *self.showing.lock().expect("progress lock") = None;
    }
}

impl RunObserver for ProgressLine {
    fn stage(&self, job: &str, stage: Stage) {
        self.show(job);
        self.bar.set_message(format!("{job}: {}", stage.label()));
    }

    fn progress(&self, job: &str, p: &Progress) {
        self.show(job);
        // Bigger than the last backup: the total grows with it.
        if let Some(len) = self.bar.length()
            && len > 0
            && p.bytes_out > len
        {
            self.bar.set_length(p.bytes_out + p.bytes_out / 20);
        }
        self.bar.set_message(format!("{job}: {} ({} dumped)", p.stage.label(), size(p.bytes_in)));
        self.bar.set_position(p.bytes_out);
    }

    fn warning(&self, job: &str, message: &str) {
        self.bar.suspend(|| eprintln!("nightjar: {job}: warning: {message}"));
    }

    /// Run events go to the log (stderr with `-v`), as `nightjar run` logs them.
    fn event(&self, e: &nightjar_core::observer::Event) {
        self.bar.suspend(|| nightjar_core::observer::log_event(e));
    }
}
