//! Background work that adapters plug into the scheduler loop
//! ([`crate::service::Service`]) without core linking their clients: the
//! OneDrive adapter registers a task that keeps the sign-in alive (a
//! refresh every few weeks) and confirms that backups written into a
//! OneDrive-synced folder reached the cloud. Same pattern as
//! [`crate::runner::set_onedrive_opener`].
//!
//! A task's `tick` runs between backups on the loop's thread, once per
//! loop turn (every `tick` of the service at most, sooner after a run);
//! it must return quickly and keep its own pace (poll intervals),
//! reporting through the observer's [`crate::observer::Event`]s.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError, RwLock};

use crate::clock::Clock;
use crate::config::Config;
use crate::history::History;
use crate::observer::RunObserver;
use crate::paths::DataDir;
use crate::secrets::SecretStore;

/// What a task may use.
pub struct TaskContext<'a> {
    /// The current configuration.
    pub config: &'a Config,
    /// History store.
    pub history: &'a History,
    /// Data directory (a task keeps its state there).
    pub data: &'a DataDir,
    /// Secret store.
    pub secrets: &'a dyn SecretStore,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Receives the task's events.
    pub observer: &'a dyn RunObserver,
    /// Raised when the service stops.
    pub shutdown: &'a AtomicBool,
}

/// A piece of background work.
pub trait BackgroundTask: Send + Sync {
    /// Short name for logs.
    fn name(&self) -> &str;
    /// Does what is due now; errors are the task's to report.
    fn tick(&self, ctx: &TaskContext<'_>);
}

static TASKS: RwLock<Vec<Arc<dyn BackgroundTask>>> = RwLock::new(Vec::new());

/// Replaces the registered tasks (an empty list removes them).
pub fn set_background_tasks(tasks: Vec<Arc<dyn BackgroundTask>>) {
    *TASKS.write().unwrap_or_else(PoisonError::into_inner) = tasks;
}

/// Runs every registered task once.
pub fn run_background_tasks(ctx: &TaskContext<'_>) {
    let tasks = TASKS.read().unwrap_or_else(PoisonError::into_inner).clone();
    for t in tasks {
        tracing::trace!(task = t.name(), "background task");
        t.tick(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its ticks in one data folder and stops that service.
    struct StopAfterOne {
        root: PathBuf,
        ticks: AtomicUsize,
    }

    impl BackgroundTask for StopAfterOne {
        fn name(&self) -> &str {
            "test"
        }
        fn tick(&self, ctx: &TaskContext<'_>) {
            if ctx.data.root() == self.root {
                self.ticks.fetch_add(1, Ordering::SeqCst);
                ctx.shutdown.store(true, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn the_scheduler_loop_runs_registered_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let task = Arc::new(StopAfterOne { root: dir.path().to_path_buf(), ticks: AtomicUsize::new(0) });
        set_background_tasks(vec![task.clone()]);
        let history = History::open_in_memory().unwrap();
        let control = crate::service::ServiceControl::default();
        let load = || Ok(Config::empty(None));
        let service = crate::service::Service {
            load_config: &load,
            config_path: None,
            history: &history,
            data: &data,
            secrets: &crate::secrets::NoSecrets,
            clock: &crate::clock::SystemClock,
            observer: &crate::observer::NoopObserver,
            control: &control,
            tick: std::time::Duration::from_millis(50),
        };
        service.run().unwrap();
        set_background_tasks(Vec::new());
        assert_eq!(task.ticks.load(Ordering::SeqCst), 1, "one loop turn ran the task, which stopped the service");
    }
}
