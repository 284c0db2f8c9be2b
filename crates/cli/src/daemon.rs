//! `nightjar run`: the headless scheduler for servers (systemd) and
//! workstations without the tray app. SIGTERM/SIGINT stop it cleanly (a
//! running dump is cancelled and recorded as interrupted); SIGHUP or an
//! edited config file reloads the jobs.

use std::process::ExitCode;
use std::time::Duration;

use nightjar_core::config::Config;
use nightjar_core::observer::LogObserver;
use nightjar_core::service::ServiceControl;
use nightjar_core::{Engine, Result};

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
    // A store that cannot keep secrets is said at start (each use refuses it too).
    if let Err(e) = engine.secrets().check() {
        tracing::error!("secrets: {}", e.message());
    }
    let tick = std::env::var("NIGHTJAR_TICK_SECS").ok().and_then(|s| s.parse().ok()).map_or(Duration::from_secs(20), Duration::from_secs);
    // A damaged history is moved aside (logged when it is opened) and the
    // schedules go on. Service and run events become log lines.
    let service = engine.service(&LogObserver, &control, load, Some(config_path), tick)?;
    service.run()?;
    Ok(ExitCode::SUCCESS)
}
