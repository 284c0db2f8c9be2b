//! `nightjar run`: the headless scheduler for servers (systemd) and
//! workstations without the tray app. SIGTERM/SIGINT stop it cleanly (a
//! running dump is cancelled and recorded as interrupted); SIGHUP or an
//! edited config file reloads the jobs.

use std::process::ExitCode;
use std::time::Duration;

use nightjar_core::config::Config;
use nightjar_core::observer::{Event, RunObserver};
use nightjar_core::service::ServiceControl;
use nightjar_core::{Engine, Result};

/// Turns service events into log lines (journald or the log file pick them up).
struct LogObserver;

impl RunObserver for LogObserver {
    fn warning(&self, job: &str, message: &str) {
        tracing::warn!(job, "{message}");
    }

    fn event(&self, e: &Event) {
        match e {
            // The runner itself logs each run's start and end.
            Event::RunStarted { .. } | Event::RunFinished { .. } => {}
            Event::RunFailed { job, message, retry_at: Some(at), .. } => {
                tracing::warn!(job, retry_at = %at, "backup failed, will retry: {message}");
            }
            Event::RunFailed { job, message, retry_at: None, .. } => tracing::error!(job, "backup failed: {message}"),
            Event::JobStale { job, last_success, deadline } => {
                let last = last_success.map_or_else(|| "never".to_string(), |t| t.to_rfc3339());
                tracing::error!(job, last_success = %last, deadline = %deadline, "job is stale: no good backup within its deadline");
            }
            Event::JobRecovered { job } => tracing::info!(job, "job has a fresh backup again"),
            Event::SchedulesPaused { resume_at } => tracing::info!(resume_at = ?resume_at, "schedules paused"),
            Event::SchedulesResumed => tracing::info!("schedules resumed"),
            Event::RunSkipped { job, message, .. } => tracing::info!(job, "{message}"),
            Event::HealthWarning { job, message } => tracing::warn!(job, "health: {message}"),
            Event::HealthFailure { job, message } => tracing::error!(job, "health: {message}"),
            Event::NotInCloud { job, message, .. } => tracing::warn!(job, "{message}"),
            Event::OneDriveSignInExpired { job, message, .. } => tracing::error!(job, "{message}"),
        }
    }
}

fn install_signals(control: &ServiceControl) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for sig in [SIGTERM, SIGINT] {
            let _ = signal_hook::flag::register(sig, control.shutdown.clone());
        }
        let _ = signal_hook::flag::register(SIGHUP, control.reload.clone());
    }
    #[cfg(not(unix))]
    {
        let c = control.shutdown.clone();
        let _ = ctrlc::set_handler(move || c.store(true, std::sync::atomic::Ordering::SeqCst));
    }
}

pub fn run(engine: &Engine, load: &dyn Fn() -> Result<Config>, config_path: std::path::PathBuf) -> Result<ExitCode> {
    let control = ServiceControl::default();
    install_signals(&control);
    let tick = std::env::var("NIGHTJAR_TICK_SECS").ok().and_then(|s| s.parse().ok()).map_or(Duration::from_secs(20), Duration::from_secs);
    // A damaged history is moved aside (logged when it is opened) and the schedules go on.
    let service = engine.service(&LogObserver, &control, load, Some(config_path), tick)?;
    service.run()?;
    Ok(ExitCode::SUCCESS)
}
