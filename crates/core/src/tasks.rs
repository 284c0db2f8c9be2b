//! Background work that adapters plug into the scheduler loop
//! ([`crate::service::Service`]) without core linking their clients: the
//! OneDrive adapter provides a task that keeps the sign-in alive (a
//! refresh every few weeks) and confirms that backups written into a
//! OneDrive-synced folder reached the cloud. Tasks are given to the
//! engine when it is built ([`crate::engine::EngineBuilder::task`]), as
//! destination openers are.
//!
//! A task's `tick` runs between backups on the loop's thread, once per
//! loop turn (every `tick` of the service at most, sooner after a run);
//! it must return quickly and keep its own pace (poll intervals),
//! reporting through the observer's [`crate::observer::Event`]s.

use crate::config::Config;
use crate::engine::RunContext;

/// What a task may use: the current configuration and the service's run
/// context (its `cancel` flag is raised when the service stops).
pub struct TaskContext<'a> {
    /// The current configuration.
    pub config: &'a Config,
    /// History, data folder, secrets, clock, observer, stop flag.
    pub run: RunContext<'a>,
}

impl<'a> std::ops::Deref for TaskContext<'a> {
    type Target = RunContext<'a>;
    fn deref(&self) -> &RunContext<'a> {
        &self.run
    }
}

/// A piece of background work.
pub trait BackgroundTask: Send + Sync {
    /// Short name for logs.
    fn name(&self) -> &str;
    /// Does what is due now; errors are the task's to report.
    fn tick(&self, ctx: &TaskContext<'_>);
}

/// Runs every task of the context's engine once.
pub(crate) fn run_background_tasks(ctx: &TaskContext<'_>) {
    for t in ctx.engine.tasks() {
        tracing::trace!(task = t.name(), "background task");
        t.tick(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::paths::DataDir;

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
                ctx.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn the_scheduler_loop_runs_the_engines_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let task = Arc::new(StopAfterOne { root: dir.path().to_path_buf(), ticks: AtomicUsize::new(0) });
        let engine = crate::Engine::builder(DataDir::new(dir.path()))
            .history(Arc::new(crate::history::History::open_in_memory().unwrap()))
            .secrets(Arc::new(crate::secrets::NoSecrets))
            .task(task.clone())
            .build();
        let control = crate::service::ServiceControl::default();
        let load = || Ok(Config::empty(None));
        let service = engine.service(&crate::observer::NoopObserver, &control, &load, None, std::time::Duration::from_millis(50)).unwrap();
        service.run().unwrap();
        assert_eq!(task.ticks.load(Ordering::SeqCst), 1, "one loop turn ran the task, which stopped the service");
    }
}
