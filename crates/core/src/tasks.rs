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
