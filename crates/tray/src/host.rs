//! The tray process: owns the scheduler, the runs, the tray icon and the
//! notifications, and serves the window process over [`crate::proto`].
//!
//! It links no GUI toolkit. The window (`nightjar-desktop --window`, a
//! Tauri web view) is started when the user opens it and exits when they
//! close it, so an idle Nightjar costs one small process.

use std::io::{BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use nightjar_core::ErrorKind;
use nightjar_core::observer::{Event, Progress, RunObserver, Stage};
use nightjar_core::state::{ScheduleState, StateFile};
use serde_json::{Value, json};

use crate::i18n::{Lang, t};
use crate::launch::WINDOW_FLAG;
use crate::local::{self, Listener, Stream};
use crate::models::{CmdResult, ProgressEvent, UiError};
use crate::notify::{self, Level, OnClick};
use crate::proto::{self, Line, Message, Op, Request};
pub use crate::state::install_onedrive;
use crate::state::AppState;

/// One connected client (a window, or a one-off request).
pub struct Conn {
    id: u64,
    writer: Mutex<Stream>,
    window: AtomicBool,
    /// Presented the window's token (see [`proto`]).
    trusted: AtomicBool,
}

impl Conn {
    fn send(&self, msg: &Message) {
        let Ok(mut line) = serde_json::to_vec(msg) else { return };
        line.push(b'\n');
        let mut w = self.writer.lock().expect("conn lock");
        if let Err(e) = w.write_all(&line).and_then(|()| w.flush()) {
            tracing::debug!("a window connection went away: {e}");
        }
    }
}

/// The tray process's state.
pub struct Host {
    pub state: AppState,
    conns: Mutex<Vec<Arc<Conn>>>,
    next_conn: AtomicU64,
    tray: Mutex<Option<crate::tray::TrayHandle>>,
    /// The window process this one started, while it runs.
    window: Mutex<Option<Child>>,
    window_exe: PathBuf,
    /// The window token: handed to the window this process starts, asked
    /// of every connection before it may change anything.
    token: String,
    quitting: Mutex<bool>,
    quit_cv: Condvar,
}

impl Host {
    #[must_use]
    pub fn new(state: AppState, window_exe: PathBuf, token: String) -> Arc<Self> {
        Arc::new(Self {
            token,
            state,
            conns: Mutex::default(),
            next_conn: AtomicU64::new(1),
            tray: Mutex::default(),
            window: Mutex::default(),
            window_exe,
            quitting: Mutex::new(false),
            quit_cv: Condvar::new(),
        })
    }

    pub fn set_tray(&self, tray: crate::tray::TrayHandle) {
        *self.tray.lock().expect("tray lock") = Some(tray);
    }

    /// Sends a page event to every window.
    pub fn emit(&self, name: &str, payload: Value) {
        let msg = Message::Emit { name: name.to_string(), payload };
        for c in self.windows() {
            c.send(&msg);
        }
    }

    fn windows(&self) -> Vec<Arc<Conn>> {
        self.conns.lock().expect("conns lock").iter().filter(|c| c.window.load(Ordering::SeqCst)).cloned().collect()
    }

    /// Ends this app's run of `job` and draws the tray and the pages again:
    /// the run's events arrived while the job still counted as running.
    pub fn end_run(&self, job: &str) {
        self.state.end_run(job);
        self.refresh();
    }

    /// Updates the tray and tells the pages to reload.
    pub fn refresh(&self) {
        if let Some(t) = self.tray.lock().expect("tray lock").as_ref() {
            t.refresh(&self.state);
        }
        self.emit(proto::RUNS_CHANGED, Value::Null);
    }

    /// Shows a desktop notification; clicking it opens the window on `view`.
    pub fn notify(self: &Arc<Self>, summary: &str, body: &str, view: &'static str, level: Level) {
        notify::send(summary, body, view, level, self.lang(), self.on_click());
    }

    /// The language the tray and the notifications speak now (`[ui]
    /// language`, read afresh, so a change in Settings applies at once).
    #[must_use]
    pub fn lang(&self) -> Lang {
        crate::summary::language(self.state.load_config().ok().as_ref())
    }

    fn on_click(self: &Arc<Self>) -> OnClick {
        let weak = Arc::downgrade(self);
        Arc::new(move |view| {
            if let Some(host) = weak.upgrade() {
                host.open_window(Some(json!({ "view": view })));
            }
        })
    }

    /// Shows the window, starting the window process when none runs; `view`
    /// (`{"view": "restore", "pick": true}`) is kept until the page takes it.
    pub fn open_window(self: &Arc<Self>, view: Option<Value>) {
        if let Some(v) = &view {
            *self.state.pending_navigation.lock().expect("navigation lock") = Some(v.clone());
        }
        let windows = self.windows();
        if !windows.is_empty() {
            for c in &windows {
                c.send(&Message::Show);
                if let Some(v) = &view {
                    c.send(&Message::Emit { name: proto::NAVIGATE.into(), payload: v.clone() });
                }
            }
            return;
        }
        self.start_window(1);
    }

    /// Starts the window process unless one is starting already, and watches
    /// it until it connects: one that stops before (a display that was not
    /// ready, a crash at start) is started once more, then reported.
    fn start_window(self: &Arc<Self>, attempt: u32) {
        let mut child = self.window.lock().expect("window lock");
        if let Some(c) = child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            // Started and not yet connected: it shows itself and takes the view.
            return;
        }
        // The token goes on the window's stdin: never on a command line,
        // which every user can read in /proc.
        match Command::new(&self.window_exe).arg(WINDOW_FLAG).stdin(Stdio::piped()).spawn() {
            Ok(mut c) => {
                tracing::info!(pid = c.id(), "window opened");
                if let Some(mut stdin) = c.stdin.take()
                    && let Err(e) = writeln!(stdin, "{}", self.token)
                {
                    tracing::warn!("could not hand the window its token: {e}");
                }
                *child = Some(c);
            }
            Err(e) => {
                *child = None;
                drop(child);
                tracing::error!(exe = %self.window_exe.display(), "could not open the window: {e}");
                let lang = self.lang();
                let body = t(lang, "notify.window_failed_start", &[("exe", &self.window_exe.display().to_string()), ("error", &e.to_string())]);
                self.notify(&t(lang, "notify.window_failed", &[]), &body, "dashboard", Level::Failure);
                return;
            }
        }
        drop(child);
        let host = self.clone();
        let _ = std::thread::Builder::new().name("window-start".into()).spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && host.windows().is_empty() {
                let exited = host.window.lock().expect("window lock").as_mut().and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    *host.window.lock().expect("window lock") = None;
                    if *host.quitting.lock().expect("quit lock") || status.success() {
                        return;
                    }
                    if attempt == 1 {
                        tracing::warn!(%status, "the window stopped while starting; starting it again");
                        host.start_window(2);
                    } else {
                        tracing::error!(%status, "the window stopped while starting");
                        let lang = host.lang();
                        let body = t(lang, "notify.window_stopped", &[("status", &status.to_string())]);
                        host.notify(&t(lang, "notify.window_failed", &[]), &body, "dashboard", Level::Failure);
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }

    /// Collects the exit of the window process this one started (no zombie
    /// is left while the app sits in the tray).
    fn reap_window(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mut child = self.window.lock().expect("window lock");
            match child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => {}
                Some(Ok(Some(status))) => {
                    tracing::debug!(%status, "window process exited");
                    *child = None;
                    return;
                }
                Some(Err(_)) | None => return,
            }
            drop(child);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Quit: stops the scheduler and any run (nothing is left under a final
    /// name), closes the window, and lets [`Self::wait_for_quit`] return.
    pub fn quit(&self) {
        tracing::info!("quit requested");
        self.state.cancel_all();
        *self.quitting.lock().expect("quit lock") = true;
        self.quit_cv.notify_all();
    }

    /// Blocks until [`Self::quit`]; then waits (up to 60 s) for runs to
    /// clean up, closes the window and returns.
    pub fn wait_for_quit(&self) {
        let mut q = self.quitting.lock().expect("quit lock");
        while !*q {
            q = self.quit_cv.wait(q).expect("quit lock");
        }
        drop(q);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.state.any_running().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for c in self.windows() {
            c.send(&Message::Quit);
        }
        if let Some(mut c) = self.window.lock().expect("window lock").take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(t) = self.tray.lock().expect("tray lock").take() {
            t.shutdown();
        }
    }

    /// Logs an event, updates the tray, tells the pages, and notifies.
    pub fn on_event(self: &Arc<Self>, e: &Event) {
        let state = &self.state;
        match e {
            // The scheduler's runs (not the user's, nor a restore's safety backup).
            Event::RunStarted { job, trigger } if scheduled(*trigger) => {
                *state.scheduled.lock().expect("scheduled lock") = Some(job.clone());
            }
            Event::RunFinished { job, trigger, .. } | Event::RunFailed { job, trigger, .. } | Event::RunSkipped { job, trigger, .. } if scheduled(*trigger) => {
                let mut s = state.scheduled.lock().expect("scheduled lock");
                if s.as_deref() == Some(job.as_str()) {
                    *s = None;
                }
            }
            _ => {}
        }
        nightjar_core::observer::log_event(e);
        notify::for_event(state, e, &self.on_click());
        self.refresh();
    }

    /// Pauses or resumes the schedules (shared with `nightjar run` through the state file).
    ///
    /// # Errors
    /// When the state file cannot be written.
    pub fn set_paused(&self, paused: bool) -> CmdResult<()> {
        StateFile::in_dir(self.state.data.root()).save(&ScheduleState { paused, resume_at: None })?;
        // The scheduler reads the file on its next check; wake it now.
        self.state.control.wake.store(true, Ordering::SeqCst);
        tracing::info!(paused, "schedules {} from the app", if paused { "paused" } else { "resumed" });
        self.refresh();
        Ok(())
    }

    /// "Backup now" from the tray: runs in the background; the page follows
    /// through global events.
    pub fn spawn_backup(self: &Arc<Self>, job: Option<String>) {
        let host = self.clone();
        let _ = std::thread::Builder::new().name("backup".into()).spawn(move || {
            let observer = HostObserver::new(host.clone(), None);
            if let Err(e) = crate::runs::backup_jobs(&host, job.as_deref(), &observer) {
                tracing::error!("backup from the tray: {e}", e = e.message);
                let lang = host.lang();
                host.notify(&t(lang, "notify.backup_failed_plain", &[]), &e.message, "settings", Level::Failure);
            }
        });
    }

    /// The config changed (Settings saved it): reload everything that reads it.
    fn changed(&self) {
        if let Ok(config) = self.state.load_config() {
            install_onedrive(&self.state, &config);
        }
        self.state.control.reload.store(true, Ordering::SeqCst);
        self.refresh();
    }

    /// Serves window connections on the socket until the process exits.
    pub fn serve(self: &Arc<Self>, listener: Listener) {
        let host = self.clone();
        let _ = std::thread::Builder::new().name("socket".into()).spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => host.accept(s),
                    Err(e) => tracing::warn!("window connection failed: {e}"),
                }
            }
        });
    }

    fn accept(self: &Arc<Self>, stream: Stream) {
        // Another user is refused (and logged) even where the socket's
        // own permissions were loosened by hand.
        if !local::check_peer(&stream) {
            return;
        }
        let Ok(reader) = stream.try_clone() else { return };
        let conn = Arc::new(Conn {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            writer: Mutex::new(stream),
            window: AtomicBool::new(false),
            trusted: AtomicBool::new(false),
        });
        self.conns.lock().expect("conns lock").push(conn.clone());
        let host = self.clone();
        let _ = std::thread::Builder::new().name("conn".into()).spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                match proto::read_line_bounded(&mut reader, proto::MAX_LINE) {
                    Ok(Line::Text(line)) => host.clone().dispatch(&conn, &line),
                    Ok(Line::TooLong) => {
                        tracing::warn!("refused a request over 1 MiB on the window socket");
                        Self::reply(&conn, 0, Err(UiError::new(ErrorKind::Config, "The request is longer than 1 MiB and was refused.")));
                        if !matches!(proto::skip_line(&mut reader), Ok(true)) {
                            break;
                        }
                    }
                    Ok(Line::End) | Err(_) => break,
                }
            }
            host.conns.lock().expect("conns lock").retain(|c| c.id != conn.id);
            if conn.window.load(Ordering::SeqCst) && !*host.quitting.lock().expect("quit lock") {
                tracing::info!("window closed; Nightjar keeps running in the tray");
                host.reap_window();
            }
        });
    }

    fn reply(conn: &Conn, id: u64, result: CmdResult<Value>) {
        conn.send(&Message::Reply { id, result });
    }

    /// Decodes one request line and handles it; what is not a request gets
    /// an error reply (with its id when it has one) and the connection goes on.
    fn dispatch(self: Arc<Self>, conn: &Arc<Conn>, line: &[u8]) {
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("unreadable request on the window socket: {e}");
                Self::reply(conn, 0, Err(UiError::new(ErrorKind::Config, "The request is not JSON and was refused.")));
                return;
            }
        };
        let id = value.get("id").and_then(Value::as_u64).unwrap_or(0);
        match serde_json::from_value::<Request>(value.clone()) {
            Ok(req) => self.handle(conn, req),
            Err(e) => {
                let op = value.get("op").and_then(Value::as_str).unwrap_or("").chars().take(64).collect::<String>();
                tracing::warn!(op, "refused a request on the window socket: {e}");
                Self::reply(conn, id, Err(UiError::new(ErrorKind::Config, format!("Unknown or malformed request \"{op}\" ({e}); this Nightjar does not know it."))));
            }
        }
    }
}

fn to_value<T: serde::Serialize>(r: CmdResult<T>) -> CmdResult<Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| UiError::new(ErrorKind::Other, e.to_string())))
}

impl Host {
    fn handle(self: Arc<Self>, conn: &Arc<Conn>, req: Request) {
        let id = req.id;
        if req.op.needs_token() && !conn.trusted.load(Ordering::SeqCst) {
            tracing::warn!(request = ?req.op, "refused a request without the window's token");
            Self::reply(conn, id, Err(UiError::new(ErrorKind::Auth, proto::TOKEN_REFUSED)));
            return;
        }
        match req.op {
            Op::Window { token } => {
                if proto::token_matches(&token, &self.token) {
                    conn.trusted.store(true, Ordering::SeqCst);
                    conn.window.store(true, Ordering::SeqCst);
                    tracing::info!("window connected");
                    Self::reply(conn, id, Ok(Value::Null));
                } else {
                    tracing::warn!("refused a window whose token is wrong");
                    Self::reply(conn, id, Err(UiError::new(ErrorKind::Auth, "This window was not started by the running Nightjar; open the window from the tray.")));
                }
            }
            Op::Open { view } => {
                self.open_window(view);
                Self::reply(conn, id, Ok(Value::Null));
            }
            Op::Cancel { job } => Self::reply(conn, id, Ok(Value::Bool(self.state.cancel_run(&job)))),
            Op::Paused { paused } => Self::reply(conn, id, to_value(self.set_paused(paused))),
            Op::Running => {
                let running: Vec<String> = self.state.running_jobs();
                Self::reply(conn, id, to_value(Ok(running)));
            }
            Op::TakeNavigation => {
                let nav = self.state.pending_navigation.lock().expect("navigation lock").take();
                Self::reply(conn, id, Ok(nav.unwrap_or(Value::Null)));
            }
            Op::TestNotification => {
                let lang = self.lang();
                self.notify(&t(lang, "notify.test_title", &[]), &t(lang, "notify.test_body", &[]), "settings", Level::Info);
                Self::reply(conn, id, Ok(Value::Null));
            }
            Op::Changed => {
                self.changed();
                Self::reply(conn, id, Ok(Value::Null));
            }
            Op::Quit => {
                Self::reply(conn, id, Ok(Value::Null));
                self.quit();
            }
            // Long runs: on a thread of their own, so the connection keeps
            // serving (cancel arrives on it while a backup runs).
            Op::Backup { .. } | Op::Restore { .. } | Op::Verify { .. } => {
                let conn = conn.clone();
                let _ = std::thread::Builder::new().name("run".into()).spawn(move || {
                    let observer = HostObserver::new(self.clone(), Some((conn.clone(), id)));
                    let result = match req.op {
                        Op::Backup { job } => to_value(crate::runs::backup_jobs(&self, job.as_deref(), &observer)),
                        Op::Restore { request, confirm } => to_value(crate::runs::restore(&self, &request, &confirm, &observer)),
                        Op::Verify { run, test_restore } => to_value(crate::runs::verify(&self, run, test_restore, &observer)),
                        _ => unreachable!("only runs are spawned"),
                    };
                    Self::reply(&conn, id, result);
                });
            }
        }
    }

    /// Runs the schedules: the core's scheduler service (the one behind
    /// `nightjar run`), with catch-up on start and on wake. The per-job lock
    /// keeps it and a `nightjar run` elsewhere from running the same job at once.
    pub fn start_scheduler(self: &Arc<Self>) {
        let host = self.clone();
        let spawned = std::thread::Builder::new().name("scheduler".into()).spawn(move || {
            let state = &host.state;
            let observer = HostObserver::new(host.clone(), None);
            let path = state.config_path.clone();
            let load = move || crate::state::load_config(&path);
            let tick = std::env::var("NIGHTJAR_TICK_SECS").ok().and_then(|s| s.parse().ok()).map_or(Duration::from_secs(60), Duration::from_secs);
            let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            loop {
                match state.engine.service(&observer, &state.control, &load, Some(state.config_path.clone()), tick).and_then(|s| s.run()) {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::error!("the scheduler is waiting for a valid config: {e}");
                        if e.kind() == nightjar_core::ErrorKind::Config {
                            // Nothing runs until the file is fixed: say so, once per version of the file.
                            let message = format!("No backup runs until the config file is fixed: {}", e.message());
                            observer.event(&nightjar_core::observer::Event::ConfigInvalid { message });
                        }
                        // Wait for the file to change or Settings to save it.
                        let seen = mtime(&state.config_path);
                        while !state.control.shutdown.load(Ordering::SeqCst)
                            && !state.control.reload.swap(false, Ordering::SeqCst)
                            && mtime(&state.config_path) == seen
                        {
                            std::thread::sleep(Duration::from_secs(2));
                        }
                        if state.control.shutdown.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("the scheduler could not start: {e}");
        }
    }

    /// Keeps the tray's status line ("today 02:00", "next tomorrow 00:00") current.
    pub fn start_minute_refresh(self: &Arc<Self>) {
        let host = Arc::downgrade(self);
        let _ = std::thread::Builder::new().name("tray-refresh".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(60));
                let Some(host) = host.upgrade() else { break };
                if host.state.control.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                if let Some(t) = host.tray.lock().expect("tray lock").as_ref() {
                    t.refresh(&host.state);
                }
            }
        });
    }

    /// The summary the tray shows now.
    #[must_use]
    pub fn summary(&self) -> crate::summary::TraySummary {
        crate::summary::tray_summary(&self.state, Utc::now())
    }
}

/// Whether a run of `trigger` is the scheduler's.
fn scheduled(trigger: nightjar_core::model::Trigger) -> bool {
    matches!(trigger, nightjar_core::model::Trigger::Scheduled | nightjar_core::model::Trigger::CatchUp)
}

/// Forwards a run's stages and progress to the window that started it (or
/// to every window, throttled, for scheduled and tray runs) and its events
/// to the tray and notifications.
pub struct HostObserver {
    host: Arc<Host>,
    sink: Option<(Arc<Conn>, u64)>,
    last_emit: Mutex<Option<Instant>>,
}

impl HostObserver {
    #[must_use]
    pub fn new(host: Arc<Host>, sink: Option<(Arc<Conn>, u64)>) -> Self {
        Self { host, sink, last_emit: Mutex::new(None) }
    }

    /// Sends to the page: to the request's window when a window started the
    /// run, else as a global event.
    pub fn send(&self, event: ProgressEvent) {
        let Ok(value) = serde_json::to_value(&event) else { return };
        match &self.sink {
            Some((conn, id)) => conn.send(&Message::Progress { id: *id, event: value }),
            None => self.host.emit(proto::RUN_PROGRESS, value),
        }
    }
}

impl RunObserver for HostObserver {
    fn stage(&self, job: &str, stage: Stage) {
        self.send(ProgressEvent::Stage { job: job.to_string(), stage, label: stage.label() });
    }

    fn progress(&self, job: &str, p: &Progress) {
        // Global events are throttled to 2 a second; the requester gets what the runner sends.
        if self.sink.is_none() {
            let mut last = self.last_emit.lock().expect("emit lock");
            if last.is_some_and(|t| t.elapsed().as_millis() < 500) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.send(ProgressEvent::Progress {
            job: job.to_string(),
            stage: p.stage,
            bytes_in: p.bytes_in,
            bytes_out: p.bytes_out,
            elapsed_ms: u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX),
            rate: p.rate(),
        });
    }

    fn warning(&self, job: &str, message: &str) {
        tracing::warn!(job, "{message}");
        self.send(ProgressEvent::Warning { job: job.to_string(), message: message.to_string() });
    }

    fn event(&self, e: &Event) {
        self.host.on_event(e);
    }
}
