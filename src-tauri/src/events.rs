//! Run events → the page (typed `Channel` for the run the page started,
//! global events for the rest), the tray icon and desktop notifications.

use std::sync::Mutex;
use std::time::Instant;

use nightjar_core::observer::{Event, Progress, RunObserver, Stage};
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter as _, Manager as _, Runtime};

use crate::models::ProgressEvent;
use crate::state::AppState;

/// Event the page listens to: the runs or the history changed; reload.
pub const RUNS_CHANGED: &str = "runs-changed";
/// Progress of a run the page did not start (scheduled, tray).
pub const RUN_PROGRESS: &str = "run-progress";
/// Ask the page to show a view (`{"view": "history"}`), e.g. after a notification click.
pub const NAVIGATE: &str = "navigate";

/// Opens the window on `view` (tray item, notification click). The request
/// is also kept in the state until the page takes it, so a window that is
/// only now being built still gets it.
pub fn navigate<R: Runtime>(app: &AppHandle<R>, request: serde_json::Value) {
    *app.state::<AppState>().pending_navigation.lock().expect("navigation lock") = Some(request.clone());
    crate::show_main_window(app);
    let _ = app.emit(NAVIGATE, request);
}

/// Forwards a run's stages and progress to the page and its events to the
/// tray and notifications.
pub struct AppObserver<R: Runtime> {
    app: AppHandle<R>,
    channel: Option<Channel<ProgressEvent>>,
    last_emit: Mutex<Option<Instant>>,
}

impl<R: Runtime> AppObserver<R> {
    pub fn new(app: AppHandle<R>, channel: Option<Channel<ProgressEvent>>) -> Self {
        Self { app, channel, last_emit: Mutex::new(None) }
    }

    /// Sends to the page: through the channel when the page started the
    /// run, else as a global event.
    pub fn send(&self, event: ProgressEvent) {
        match &self.channel {
            Some(c) => {
                if let Err(e) = c.send(event) {
                    tracing::debug!("progress channel closed: {e}");
                }
            }
            None => {
                let _ = self.app.emit(RUN_PROGRESS, event);
            }
        }
    }
}

impl<R: Runtime> RunObserver for AppObserver<R> {
    fn stage(&self, job: &str, stage: Stage) {
        self.send(ProgressEvent::Stage { job: job.to_string(), stage, label: stage.label() });
    }

    fn progress(&self, job: &str, p: &Progress) {
        // Global events are throttled to 2 a second; the channel gets what the runner sends.
        if self.channel.is_none() {
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
        on_event(&self.app, e);
    }
}

/// Logs an event, updates the tray, tells the page, and notifies.
pub fn on_event<R: Runtime>(app: &AppHandle<R>, e: &Event) {
    let state = app.state::<AppState>();
    match e {
        Event::RunStarted { job, trigger } => {
            tracing::info!(job, %trigger, "backup started");
            if *trigger != nightjar_core::model::Trigger::Manual {
                *state.scheduled.lock().expect("scheduled lock") = Some(job.clone());
            }
        }
        Event::RunFinished { job, trigger, .. } | Event::RunFailed { job, trigger, .. } | Event::RunSkipped { job, trigger, .. } => {
            if *trigger != nightjar_core::model::Trigger::Manual {
                let mut s = state.scheduled.lock().expect("scheduled lock");
                if s.as_deref() == Some(job.as_str()) {
                    *s = None;
                }
            }
            match e {
                Event::RunFailed { message, retry_at: Some(at), .. } => tracing::warn!(job, retry_at = %at, "backup failed, will retry: {message}"),
                Event::RunFailed { message, .. } => tracing::error!(job, "backup failed: {message}"),
                Event::RunSkipped { message, .. } => tracing::info!(job, "{message}"),
                _ => {}
            }
        }
        Event::JobStale { job, .. } => tracing::error!(job, "job is stale: no good backup within its deadline"),
        Event::JobRecovered { job } => tracing::info!(job, "job has a fresh backup again"),
        Event::SchedulesPaused { .. } => tracing::info!("schedules paused"),
        Event::SchedulesResumed => tracing::info!("schedules resumed"),
        Event::HealthWarning { job, message } => tracing::warn!(job, "health: {message}"),
        Event::HealthFailure { job, message } => tracing::error!(job, "health: {message}"),
        Event::NotInCloud { job, message, .. } => tracing::warn!(job, "{message}"),
        Event::OneDriveSignInExpired { job, message, .. } => tracing::error!(job, "{message}"),
    }
    crate::notify::for_event(app, e);
    refresh(app);
}

/// Updates the tray and tells the page to reload.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(all(desktop, not(test)))]
    crate::tray::refresh(app);
    let _ = app.emit(RUNS_CHANGED, ());
}
