//! Alerts that reach people away from this desk: email, chat webhooks,
//! Telegram, and pings to an external dead man's switch.
//!
//! ```text
//! run / scheduler events ──► Alerts::on_event ──► incidents (one alert per problem,
//!                                                  reminders every remind_every,
//!                                                  recovery after failures)
//!                                   │
//!                                   ▼
//!                      <data>/alerts.json queue (owner-only, survives restarts,
//!                                   │          expires after 24 h)
//!                                   ▼
//!                     delivery thread ──► Transport (SMTP, HTTP) with backoff
//! ```
//!
//! Events are queued on the run's thread (a small file write) and sent by
//! a thread of their own, so a slow or dead receiver never delays or fails
//! a backup. Every process that runs jobs (the daemon, the tray, a CLI
//! one-shot) sends what it queued and what earlier processes left; a CLI
//! one-shot waits a short, bounded time for its alerts before it exits
//! ([`Alerts::flush`]) and leaves the rest to the next process. Two
//! processes never send the same queued alert at once: a process claims an
//! item for itself ([`Claim`]) and others only take it over when that
//! process is gone (its sender lock in the lock folder is free).
//!
//! Secrets (SMTP password, bot token, a webhook URL with a token) are read
//! from the secret store when sending, never queued or logged; an error
//! text that would carry one has it replaced by `***`.

mod send;
mod spec;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use send::{NetTransport, Transport};
pub use spec::{account, validate, AlertKind, AlertSpec, EventKind, SmtpServer, SmtpTls, WebhookFormat, DEFAULT_REMIND, TELEGRAM_API};

use crate::clock::Clock;
use crate::observer::Event;
use crate::paths::DataDir;
use crate::secrets::SecretStore;
use crate::{Error, Result};

/// A queued alert is dropped this long after it was raised.
pub const EXPIRE_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Environment variable: the first retry's delay in seconds (default 30;
/// doubled on each attempt up to 30 minutes).
pub const RETRY_ENV: &str = "NIGHTJAR_ALERT_RETRY_SECS";

/// The alerts file in the data folder.
pub const FILE: &str = "alerts.json";

/// The stable JSON body of an alert (`format = "json"` webhooks) and what
/// every other format is written from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// failure, recovery, stale, not-in-cloud, sign-in-expiring, disk-low,
    /// config-error, verify-failed, test; pings: start, success, fail.
    pub event: String,
    /// The job, when the event is about one.
    pub job: Option<String>,
    /// failed, ok, warning (or running for a ping's start).
    pub status: String,
    /// One sentence.
    pub message: String,
    /// The backup file, when there is one.
    pub file: Option<String>,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// This computer's name.
    pub host: String,
    /// The run's history id, when there is one.
    pub run_id: Option<i64>,
    /// Why the run ran (scheduled, manual, catch-up, pre-restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

impl Notice {
    /// A notice of `event` at `at` on this computer.
    #[must_use]
    pub fn new(event: &str, job: Option<&str>, status: &str, message: impl Into<String>, at: DateTime<Utc>) -> Self {
        Notice {
            event: event.to_string(),
            job: job.map(str::to_string),
            status: status.to_string(),
            message: message.into(),
            file: None,
            size: None,
            at,
            host: host_name(),
            run_id: None,
            trigger: None,
        }
    }

    /// A one-line title ("Nightjar: backup of \"app\" failed on host").
    #[must_use]
    pub fn title(&self) -> String {
        let job = self.job.as_deref().map(|j| format!("\"{j}\"")).unwrap_or_default();
        let what = match self.event.as_str() {
            "failure" => format!("backup of {job} failed"),
            "recovery" => format!("{job} is back to normal"),
            "stale" => format!("{job} has no recent backup"),
            "not-in-cloud" => format!("a backup of {job} did not reach OneDrive"),
            "sign-in-expiring" => "the OneDrive sign-in needs renewing".to_string(),
            "disk-low" => format!("little space left for {job}"),
            "config-error" => "the config file has an error".to_string(),
            "verify-failed" => format!("the test restore of {job} failed"),
            "test" => "test alert".to_string(),
            other => format!("{other} {job}"),
        };
        format!("Nightjar: {} on {}", what.replace("  ", " ").trim(), self.host)
    }

    /// The readable text chat formats and emails carry.
    #[must_use]
    pub fn text(&self) -> String {
        let mut t = format!("{}\n{}", self.title(), self.message);
        if let Some(f) = &self.file {
            t.push_str(&format!("\nFile: {f}"));
            if let Some(s) = self.size {
                t.push_str(&format!(" ({})", crate::units::format_bytes(s)));
            }
        }
        if let Some(id) = self.run_id {
            t.push_str(&format!("\nRun: #{id} (`nightjar history`)"));
        }
        t.push_str(&format!("\nAt: {}", self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        t
    }
}

/// This computer's name (for the alert's `host`).
#[must_use]
pub fn host_name() -> String {
    crate::platform::host_name().unwrap_or_else(|| "this computer".to_string())
}

/// What the delivery thread sends: an alert's notice (pings: with their
/// signal in `event`: start, success, fail).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    id: u64,
    alert: String,
    notice: Notice,
    created_at: DateTime<Utc>,
    attempts: u32,
    next_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<Claim>,
}

/// A process sending a queued item; another process takes it over only
/// when the owner's sender lock is free (the owner is gone).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claim {
    owner: String,
}

/// A problem that lasts: when it was first and last said, how often it happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Incident {
    opened_at: DateTime<Utc>,
    last_sent: DateTime<Utc>,
    count: u32,
}

/// An alert's last delivery attempt (`nightjar status`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delivery {
    /// When.
    pub at: DateTime<Utc>,
    /// The event it carried.
    pub event: String,
    /// The job, if any.
    pub job: Option<String>,
    /// delivered, retrying or expired.
    pub result: String,
    /// Why it was not delivered (no secret in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts so far.
    pub attempts: u32,
}

/// The alerts file: queue, incidents and last deliveries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    next_id: u64,
    #[serde(default)]
    queue: Vec<Queued>,
    /// `alert/event/job` → incident.
    #[serde(default)]
    incidents: BTreeMap<String, Incident>,
    #[serde(default)]
    deliveries: BTreeMap<String, Delivery>,
}

impl State {
    fn push(&mut self, alert: &str, notice: Notice, now: DateTime<Utc>) {
        self.next_id += 1;
        self.queue.push(Queued { id: self.next_id, alert: alert.to_string(), notice, created_at: now, attempts: 0, next_at: now, claim: None });
    }
}

fn incident_key(alert: &str, kind: EventKind, job: Option<&str>) -> String {
    format!("{alert}/{}/{}", kind.as_str(), job.unwrap_or(""))
}

/// What an event means to the alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A problem of `kind` (one alert per incident, then reminders).
    Problem(EventKind, Notice),
    /// `job` is fine again after problems of `kind` (recovery, once).
    Resolved(EventKind, Option<String>, Notice),
    /// A run started (pings only).
    Started(Notice),
    /// A run succeeded (pings only).
    Succeeded(Notice),
    /// A run failed for good (pings only; the failure itself is a [`Signal::Problem`]).
    Failed(Notice),
}

/// Turns a run or scheduler event into what the alerts act on;
/// `run_id` is the run's history id when it has one.
#[must_use]
pub fn signals(e: &Event, run_id: Option<i64>, now: DateTime<Utc>) -> Vec<Signal> {
    let with = |mut n: Notice, trigger: Option<crate::model::Trigger>| {
        n.run_id = run_id;
        n.trigger = trigger.map(|t| t.to_string());
        n
    };
    match e {
        Event::RunStarted { job, trigger } => vec![Signal::Started(with(Notice::new("start", Some(job.as_str()), "running", format!("The backup of \"{job}\" started."), now), Some(*trigger)))],
        Event::RunFinished { job, trigger, file, size, .. } => {
            let mut n = with(Notice::new("success", Some(job.as_str()), "ok", format!("The backup of \"{job}\" finished."), now), Some(*trigger));
            n.file = Some(file.clone());
            n.size = Some(*size);
            vec![Signal::Succeeded(n.clone()), Signal::Resolved(EventKind::Failure, Some(job.clone()), n)]
        }
        Event::RunFailed { job, trigger, message, retry_at: None } => {
            let n = with(Notice::new("failure", Some(job.as_str()), "failed", message.clone(), now), Some(*trigger));
            let mut fail = n.clone();
            fail.event = "fail".into();
            vec![Signal::Failed(fail), Signal::Problem(EventKind::Failure, n)]
        }
        Event::JobStale { job, last_success, .. } => {
            let last = last_success.map_or_else(|| "it has never been backed up".to_string(), |t| format!("the last good backup is from {}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
            vec![Signal::Problem(EventKind::Stale, Notice::new("stale", Some(job.as_str()), "failed", format!("\"{job}\" has no good backup within its deadline: {last}; check the schedule and the computer."), now))]
        }
        Event::JobRecovered { job } => {
            vec![Signal::Resolved(EventKind::Stale, Some(job.clone()), Notice::new("recovery", Some(job.as_str()), "ok", format!("\"{job}\" has a fresh good backup again."), now))]
        }
        Event::HealthWarning { job, message } => vec![Signal::Problem(EventKind::DiskLow, Notice::new("disk-low", Some(job.as_str()), "warning", message.clone(), now))],
        Event::NotInCloud { job, file, message } => {
            let mut n = Notice::new("not-in-cloud", Some(job.as_str()), "warning", message.clone(), now);
            n.file = Some(file.clone());
            vec![Signal::Problem(EventKind::NotInCloud, n)]
        }
        Event::OneDriveSignInExpired { job, message, .. } => vec![Signal::Problem(EventKind::SignInExpiring, Notice::new("sign-in-expiring", Some(job.as_str()), "failed", message.clone(), now))],
        // A config that does not load is raised to the alerts by the service itself (EventKind::ConfigError).
        Event::RunFailed { .. } | Event::RunSkipped { .. } | Event::SchedulesPaused { .. } | Event::SchedulesResumed | Event::HealthFailure { .. } | Event::ConfigInvalid { .. } => Vec::new(),
    }
}

/// Decides what `signal` sends through each alert of `specs`, updating the
/// incidents; returns (alert name, notice) pairs to queue.
fn decide(state: &mut State, specs: &[AlertSpec], signal: &Signal, now: DateTime<Utc>) -> Vec<(String, Notice)> {
    let mut out = Vec::new();
    for a in specs {
        match signal {
            Signal::Started(n) | Signal::Succeeded(n) | Signal::Failed(n) => {
                if a.kind == AlertKind::Ping && a.covers(n.job.as_deref()) {
                    out.push((a.name.clone(), n.clone()));
                }
            }
            Signal::Problem(kind, n) => {
                if !a.wants(*kind) || !a.covers(n.job.as_deref()) {
                    continue;
                }
                let key = incident_key(&a.name, *kind, n.job.as_deref());
                match state.incidents.get_mut(&key) {
                    None => {
                        state.incidents.insert(key, Incident { opened_at: now, last_sent: now, count: 1 });
                        out.push((a.name.clone(), n.clone()));
                    }
                    Some(i) => {
                        i.count += 1;
                        if now - i.last_sent >= a.remind() {
                            i.last_sent = now;
                            let mut r = n.clone();
                            let since = i.opened_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                            r.message = format!("Still a problem ({} times since {since}): {}", i.count, n.message);
                            out.push((a.name.clone(), r));
                        }
                    }
                }
            }
            Signal::Resolved(kind, job, n) => {
                if !a.covers(job.as_deref()) {
                    continue;
                }
                let Some(i) = state.incidents.remove(&incident_key(&a.name, *kind, job.as_deref())) else { continue };
                if !a.wants(EventKind::Recovery) {
                    continue;
                }
                let mut r = n.clone();
                r.event = EventKind::Recovery.as_str().into();
                r.status = "ok".into();
                let name = job.as_deref().unwrap_or("");
                r.message = match kind {
                    EventKind::Failure => {
                        let runs = if i.count == 1 { "1 failed run".to_string() } else { format!("{} failed runs", i.count) };
                        format!("The backup of \"{name}\" is back to normal after {runs}.")
                    }
                    _ => n.message.clone(),
                };
                out.push((a.name.clone(), r));
            }
        }
    }
    out
}

/// Backoff before attempt `attempts + 1`.
fn backoff(attempts: u32) -> chrono::Duration {
    let base = std::env::var(RETRY_ENV).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(30).max(1);
    let secs = base.saturating_mul(1_i64 << attempts.saturating_sub(1).min(10)).min(30 * 60);
    chrono::Duration::seconds(secs)
}

/// The alerts of one process: configured from the config on every (re)load
/// ([`Alerts::configure`]), fed events ([`Alerts::on_event`]), and sending
/// from a thread of their own.
pub struct Alerts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").field("file", &self.inner.file).finish_non_exhaustive()
    }
}

struct Inner {
    file: PathBuf,
    lock_dir: PathBuf,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn Transport>,
    specs: RwLock<Arc<Vec<AlertSpec>>>,
    /// This process's sender id and the lock that says it is alive.
    owner: String,
    owner_lock: Mutex<Option<std::fs::File>>,
    /// Raised when something was queued; the delivery thread waits on it.
    wake: (Mutex<Wake>, Condvar),
}

#[derive(Default)]
struct Wake {
    pending: bool,
    started: bool,
    /// Items this process is sending right now.
    busy: usize,
}

/// The outcome of one send ([`Alerts::test`]).
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// The alert.
    pub alert: String,
    /// Its kind.
    pub kind: AlertKind,
    /// True when the receiver took it.
    pub delivered: bool,
    /// Why not (no secret in it).
    pub error: Option<String>,
}

impl Alerts {
    /// The alerts of the data folder `data`, sending with `transport`.
    #[must_use]
    pub fn new(data: &DataDir, secrets: Arc<dyn SecretStore>, clock: Arc<dyn Clock>, transport: Arc<dyn Transport>) -> Self {
        let mut id = [0u8; 8];
        let _ = getrandom::fill(&mut id);
        let owner = format!("{}-{}", std::process::id(), id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        Alerts {
            inner: Arc::new(Inner {
                file: data.root().join(FILE),
                lock_dir: data.lock_dir(),
                secrets,
                clock,
                transport,
                specs: RwLock::new(Arc::new(Vec::new())),
                owner,
                owner_lock: Mutex::new(None),
                wake: (Mutex::new(Wake::default()), Condvar::new()),
            }),
        }
    }

    /// Takes the `[[alert]]`s of the config just loaded.
    pub fn configure(&self, specs: &[AlertSpec]) {
        let mut cur = self.inner.specs.write().unwrap_or_else(PoisonError::into_inner);
        if cur.as_slice() != specs {
            *cur = Arc::new(specs.to_vec());
        }
    }

    /// The alerts configured.
    #[must_use]
    pub fn specs(&self) -> Arc<Vec<AlertSpec>> {
        self.inner.specs.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Acts on a run or scheduler event: queues what it sends and wakes the
    /// delivery thread. Cheap; never fails the caller (problems are logged).
    pub fn on_event(&self, e: &Event, run_id: Option<i64>) {
        let specs = self.specs();
        if specs.is_empty() {
            return;
        }
        let now = self.inner.clock.now();
        for s in signals(e, run_id, now) {
            self.signal(&specs, &s);
        }
    }

    /// Acts on one signal (see [`signals`]); also for events that are not
    /// run events (config errors, failed test restores).
    pub fn signal(&self, specs: &[AlertSpec], signal: &Signal) {
        if specs.is_empty() {
            return;
        }
        let now = self.inner.clock.now();
        let queued = self.inner.update(|st| {
            let out = decide(st, specs, signal, now);
            let n = out.len();
            for (alert, notice) in out {
                tracing::info!(alert = %alert, event = %notice.event, job = notice.job.as_deref().unwrap_or(""), "alert queued");
                st.push(&alert, notice, now);
            }
            n
        });
        match queued {
            Ok(0) => {}
            Ok(_) => self.kick(),
            Err(e) => tracing::error!("alerts: {}", e.detailed()),
        }
    }

    /// A problem that is not a run event ([`EventKind::ConfigError`], [`EventKind::VerifyFailed`]).
    pub fn problem(&self, kind: EventKind, job: Option<&str>, message: &str, file: Option<&str>) {
        let mut n = Notice::new(kind.as_str(), job, "failed", message, self.inner.clock.now());
        n.file = file.map(str::to_string);
        self.signal(&self.specs(), &Signal::Problem(kind, n));
    }

    /// Closes a problem that is not a run event (a config that loads again);
    /// sends a recovery.
    pub fn resolved(&self, kind: EventKind, job: Option<&str>, message: &str) {
        let n = Notice::new(EventKind::Recovery.as_str(), job, "ok", message, self.inner.clock.now());
        self.signal(&self.specs(), &Signal::Resolved(kind, job.map(str::to_string), n));
    }

    /// Starts the delivery thread (once per process); the daemon and the
    /// tray call it at start so what earlier processes queued goes out.
    pub fn start(&self) {
        let mut w = self.inner.wake.0.lock().unwrap_or_else(PoisonError::into_inner);
        if w.started {
            return;
        }
        w.started = true;
        w.pending = true;
        drop(w);
        self.inner.hold_owner_lock();
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new().name("alerts".into()).spawn(move || inner.deliver_loop());
        if let Err(e) = spawned {
            tracing::error!("alerts: the delivery thread could not start ({e}); alerts stay queued for the next Nightjar process");
        }
    }

    fn kick(&self) {
        self.start();
        let (m, c) = &self.inner.wake;
        m.lock().unwrap_or_else(PoisonError::into_inner).pending = true;
        c.notify_all();
    }

    /// Waits up to `max` for what is due to be sent (a CLI one-shot before
    /// it exits); what is still queued goes with the next Nightjar process.
    /// The number of alerts left queued.
    pub fn flush(&self, max: Duration) -> usize {
        if !self.inner.wake.0.lock().unwrap_or_else(PoisonError::into_inner).started {
            return 0;
        }
        let deadline = Instant::now() + max;
        loop {
            let due = self.inner.due_count();
            let busy = self.inner.wake.0.lock().unwrap_or_else(PoisonError::into_inner).busy;
            if (due == 0 && busy == 0) || Instant::now() >= deadline {
                let left = self.inner.load().map(|s| s.queue.len()).unwrap_or(0);
                if left > 0 {
                    tracing::info!(left, "alerts not yet delivered stay queued for the next Nightjar process");
                }
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a test message through `name` (every alert when `None`) now,
    /// not queued; records it as the alert's last delivery.
    ///
    /// # Errors
    /// When there is no alert of that name.
    pub fn test(&self, name: Option<&str>) -> Result<Vec<TestResult>> {
        let specs = self.specs();
        let chosen: Vec<&AlertSpec> = match name {
            Some(n) => vec![specs.iter().find(|a| a.name == n).ok_or_else(|| {
                let names: Vec<&str> = specs.iter().map(|a| a.name.as_str()).collect();
                if names.is_empty() {
                    Error::not_found(format!("There is no alert \"{n}\": the config has no [[alert]] yet; add one (see the README's \"Alerts\")."))
                } else {
                    Error::not_found(format!("There is no alert \"{n}\"; the alerts are: {}.", names.join(", ")))
                }
            })?],
            None => specs.iter().collect(),
        };
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        for a in chosen {
            let mut n = Notice::new("test", None, "ok", format!("A test of the alert \"{}\" from Nightjar; if you read this, it works.", a.name), now);
            if a.kind == AlertKind::Ping {
                n.event = "success".into();
            }
            let r = self.inner.send_one(a, &n, 1);
            let _ = self.inner.update(|st| {
                st.deliveries.insert(a.name.clone(), Delivery {
                    at: now,
                    event: "test".into(),
                    job: None,
                    result: if r.is_ok() { "delivered".into() } else { "failed".into() },
                    error: r.as_ref().err().cloned(),
                    attempts: 1,
                });
            });
            out.push(TestResult { alert: a.name.clone(), kind: a.kind, delivered: r.is_ok(), error: r.err() });
        }
        Ok(out)
    }

    /// Each alert's last delivery attempt.
    #[must_use]
    pub fn deliveries(&self) -> BTreeMap<String, Delivery> {
        self.inner.load().map(|s| s.deliveries).unwrap_or_default()
    }

    /// How many alerts wait in the queue, per alert.
    #[must_use]
    pub fn queued(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for q in self.inner.load().map(|s| s.queue).unwrap_or_default() {
            *m.entry(q.alert).or_insert(0) += 1;
        }
        m
    }
}

/// Each alert's last delivery as the data folder `data` records it (for
/// status, without an engine).
#[must_use]
pub fn last_deliveries(data: &DataDir) -> (BTreeMap<String, Delivery>, BTreeMap<String, usize>) {
    let st: State = std::fs::read(data.root().join(FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let mut queued = BTreeMap::new();
    for q in st.queue {
        *queued.entry(q.alert).or_insert(0) += 1;
    }
    (st.deliveries, queued)
}

impl Inner {
    fn load(&self) -> Result<State> {
        match std::fs::read(&self.file) {
            Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::error!("alerts: {} is damaged ({e}); starting an empty queue", self.file.display());
                State::default()
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::other(format!("The alerts file {} cannot be read; check the data folder's permissions.", self.file.display())).with_source(e)),
        }
    }

    /// Read-modify-write of the alerts file under a lock shared by every
    /// Nightjar process; written atomically, owner-only.
    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R> {
        let fail = |e: std::io::Error| Error::other(format!("The alerts file {} cannot be written; check the data folder's permissions.", self.file.display())).with_source(e);
        crate::private::create_dir_all(&self.lock_dir).map_err(fail)?;
        let lock = crate::private::file_options().read(true).write(true).create(true).truncate(false).open(self.lock_dir.join("alerts-file.lock")).map_err(fail)?;
        lock.lock().map_err(fail)?;
        let mut st = self.load()?;
        let r = f(&mut st);
        let tmp = self.file.with_extension("json.tmp");
        let mut out = crate::private::create_file(&tmp).map_err(fail)?;
        out.write_all(&serde_json::to_vec_pretty(&st).expect("alerts state serializes")).map_err(fail)?;
        out.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &self.file).map_err(fail)?;
        Ok(r)
    }

    fn hold_owner_lock(&self) {
        let path = self.lock_dir.join(format!("alerts-sender-{}.lock", self.owner));
        let held = crate::private::create_dir_all(&self.lock_dir)
            .and_then(|()| crate::private::file_options().read(true).write(true).create(true).truncate(false).open(&path))
            .and_then(|f| f.try_lock().map(|()| f).map_err(std::io::Error::other));
        match held {
            Ok(f) => *self.owner_lock.lock().unwrap_or_else(PoisonError::into_inner) = Some(f),
            Err(e) => tracing::warn!("alerts: the sender lock {} cannot be held ({e})", path.display()),
        }
    }

    /// True when the process that claimed an item is gone (its lock is free).
    fn owner_gone(&self, owner: &str) -> bool {
        if owner == self.owner {
            return false;
        }
        let path = self.lock_dir.join(format!("alerts-sender-{owner}.lock"));
        match std::fs::OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => match f.try_lock() {
                Ok(()) => {
                    drop(f);
                    let _ = std::fs::remove_file(&path);
                    true
                }
                Err(_) => false,
            },
            Err(_) => true,
        }
    }

    fn due_count(&self) -> usize {
        let now = self.clock.now();
        self.load().map(|s| s.queue.iter().filter(|q| q.next_at <= now && q.claim.as_ref().is_none_or(|c| c.owner == self.owner)).count()).unwrap_or(0)
    }

    /// Claims what is due (and what dead processes left claimed), drops
    /// what expired.
    fn claim_due(&self) -> Vec<Queued> {
        let now = self.clock.now();
        let r = self.update(|st| {
            let (expired, keep): (Vec<Queued>, Vec<Queued>) = std::mem::take(&mut st.queue).into_iter().partition(|q| now - q.created_at > EXPIRE_AFTER);
            st.queue = keep;
            for q in expired {
                tracing::error!(alert = %q.alert, event = %q.notice.event, attempts = q.attempts, "alert dropped: not delivered within 24 hours");
                st.deliveries.insert(q.alert.clone(), Delivery { at: now, event: q.notice.event.clone(), job: q.notice.job.clone(), result: "expired".into(), error: Some("not delivered within 24 hours".into()), attempts: q.attempts });
            }
            let mut taken = Vec::new();
            for q in &mut st.queue {
                let free = match &q.claim {
                    None => true,
                    Some(c) => c.owner != self.owner && self.owner_gone(&c.owner),
                };
                if free && q.next_at <= now {
                    q.claim = Some(Claim { owner: self.owner.clone() });
                    taken.push(q.clone());
                }
            }
            taken
        });
        r.unwrap_or_else(|e| {
            tracing::error!("alerts: {}", e.detailed());
            Vec::new()
        })
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.load().ok()?.queue.iter().filter(|q| q.claim.is_none()).map(|q| q.next_at).min()
    }

    fn deliver_loop(self: Arc<Self>) {
        loop {
            let items = self.claim_due();
            {
                let mut w = self.wake.0.lock().unwrap_or_else(PoisonError::into_inner);
                w.busy += items.len();
            }
            let specs = self.specs.read().unwrap_or_else(PoisonError::into_inner).clone();
            for q in items {
                self.deliver(&specs, q);
                self.wake.0.lock().unwrap_or_else(PoisonError::into_inner).busy -= 1;
            }
            // Sleep until something is queued or the next retry is due (at
            // most a minute: other processes queue too).
            let now = self.clock.now();
            let wait = self.next_due().map_or(Duration::from_secs(60), |t| (t - now).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(60)));
            let (m, c) = &self.wake;
            let mut w = m.lock().unwrap_or_else(PoisonError::into_inner);
            if !w.pending && !wait.is_zero() {
                w = c.wait_timeout(w, wait).unwrap_or_else(PoisonError::into_inner).0;
            }
            w.pending = false;
        }
    }

    fn deliver(&self, specs: &[AlertSpec], q: Queued) {
        let attempt = q.attempts + 1;
        let result = match specs.iter().find(|a| a.name == q.alert) {
            Some(a) => self.send_one(a, &q.notice, attempt),
            None => Err(format!("the alert \"{}\" is no longer in the config", q.alert)),
        };
        let gone = specs.iter().all(|a| a.name != q.alert);
        let now = self.clock.now();
        let r = self.update(|st| {
            let Some(pos) = st.queue.iter().position(|x| x.id == q.id) else { return };
            let delivery = |result: &str, error: Option<String>| Delivery { at: now, event: q.notice.event.clone(), job: q.notice.job.clone(), result: result.into(), error, attempts: attempt };
            match &result {
                Ok(()) => {
                    st.queue.remove(pos);
                    st.deliveries.insert(q.alert.clone(), delivery("delivered", None));
                }
                Err(_) if gone => {
                    st.queue.remove(pos);
                }
                Err(e) => {
                    let item = &mut st.queue[pos];
                    item.attempts = attempt;
                    item.next_at = now + backoff(attempt);
                    item.claim = None;
                    st.deliveries.insert(q.alert.clone(), delivery("retrying", Some(e.clone())));
                }
            }
        });
        if let Err(e) = r {
            tracing::error!("alerts: {}", e.detailed());
        }
    }

    /// One attempt through the transport, logged (without secrets).
    fn send_one(&self, a: &AlertSpec, n: &Notice, attempt: u32) -> std::result::Result<(), String> {
        let secret = match self.secrets.get(&a.account()) {
            Ok(s) => s,
            Err(e) => {
                let m = format!("{} could not be read ({})", a.kind.secret_label(), e.message().trim_end_matches('.'));
                tracing::warn!(alert = %a.name, event = %n.event, attempt, "alert not delivered: {m}");
                return Err(m);
            }
        };
        let r = self.transport.send(a, secret.as_deref(), n).map_err(|e| match secret.as_deref() {
            Some(s) if !s.is_empty() => e.replace(s, "***"),
            _ => e,
        });
        match &r {
            Ok(()) => tracing::info!(alert = %a.name, kind = a.kind.as_str(), event = %n.event, job = n.job.as_deref().unwrap_or(""), attempt, "alert delivered"),
            Err(e) => tracing::warn!(alert = %a.name, kind = a.kind.as_str(), event = %n.event, job = n.job.as_deref().unwrap_or(""), attempt, "alert not delivered: {e}"),
        }
        r
    }
}

#[cfg(test)]
mod tests;
