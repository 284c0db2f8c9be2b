//! The one engine handle of a process.
//!
//! Every front end (the CLI, `nightjar run`, the tray process, the window)
//! builds one [`Engine`] when it starts, with what differs between them
//! injected: the data folder, the history, the secret store, the clock,
//! the openers of destinations by scheme (folders are built in; the
//! OneDrive crate adds `onedrive`) and the background tasks the scheduler
//! runs between backups. Runs are then made from it:
//!
//! ```text
//! Engine::builder(data).secrets(..).destination("onedrive", opener).task(upkeep).build()
//!   ├─ engine.runner(observer, cancel)    backups, checks, retention
//!   ├─ engine.restorer(observer, cancel)  restores, verifies, kept databases
//!   └─ engine.service(observer, control, load_config, path, tick)   the scheduler loop
//! ```
//!
//! There is no process-wide registry: two engines in one process (tests)
//! see only their own destinations and tasks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DestinationSpec, OneDriveSettings, S3Settings};
use crate::destination::{Destination, LocalFolder};
use crate::history::{History, MovedAside};
use crate::observer::RunObserver;
use crate::paths::DataDir;
use crate::restore::Restorer;
use crate::runner::Runner;
use crate::secrets::SecretStore;
use crate::service::{Service, ServiceControl};
use crate::tasks::BackgroundTask;
use crate::{Error, Result};

/// The settings destinations are opened with (the config's sections for
/// them), updated by [`Engine::configure`] on every config (re)load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationSettings {
    /// `[onedrive]`.
    pub onedrive: OneDriveSettings,
    /// `[s3]`.
    pub s3: S3Settings,
}

/// What an opener gets besides the location.
pub struct OpenEnv<'a> {
    /// The config's destination settings.
    pub settings: &'a DestinationSettings,
    /// The engine's secret store (sign-in tokens).
    pub secrets: &'a Arc<dyn SecretStore>,
    /// The data folder (staged uploads).
    pub data: &'a DataDir,
}

/// Opens the destinations of one scheme (`onedrive`) from their location
/// (`/Backups/app`).
pub trait OpenDestination: Send + Sync {
    /// Opens `location`.
    ///
    /// # Errors
    /// When the destination cannot be set up (client, settings).
    fn open(&self, location: &str, env: &OpenEnv<'_>) -> Result<Box<dyn Destination>>;
}

impl<F> OpenDestination for F
where
    F: Fn(&str, &OpenEnv<'_>) -> Result<Box<dyn Destination>> + Send + Sync,
{
    fn open(&self, location: &str, env: &OpenEnv<'_>) -> Result<Box<dyn Destination>> {
        self(location, env)
    }
}

/// The scheme of a destination (`folder`, `onedrive`).
#[must_use]
pub fn scheme(spec: &DestinationSpec) -> &'static str {
    match spec {
        DestinationSpec::Folder(_) => FOLDER,
        DestinationSpec::OneDrive(_) => ONEDRIVE,
        DestinationSpec::S3(_) => S3,
    }
}

/// The scheme of local (and synced) folders, built into every engine.
pub const FOLDER: &str = "folder";
/// The scheme of `onedrive:` destinations.
pub const ONEDRIVE: &str = "onedrive";
/// The scheme of `s3://` destinations.
pub const S3: &str = "s3";

/// Borrowed by every run: what the engine holds plus the run's observer
/// and cancel flag. [`Runner`] and [`Restorer`] are views of one.
#[derive(Clone, Copy)]
pub struct RunContext<'a> {
    /// The engine (destinations, tasks).
    pub engine: &'a Engine,
    /// History store.
    pub history: &'a History,
    /// Data directory (locks, downloads, keys).
    pub data: &'a DataDir,
    /// Secret store.
    pub secrets: &'a dyn SecretStore,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Progress and lifecycle receiver.
    pub observer: &'a dyn RunObserver,
    /// Raised to stop a run (signal, shutdown, user cancel).
    pub cancel: &'a AtomicBool,
}

impl RunContext<'_> {
    /// Tells the observer `e` and acts on it for the alerts (queued, sent
    /// off the run's thread). A run's end carries its history id.
    pub fn emit(&self, e: &crate::observer::Event) {
        use crate::observer::Event;
        self.observer.event(e);
        if self.engine.alerts.specs().is_empty() {
            return;
        }
        let run_id = match e {
            Event::RunFinished { job, .. } | Event::RunFailed { job, .. } => self
                .history
                .runs(&crate::history::RunFilter { job: Some(job.clone()), kind: Some(crate::history::RunKind::Backup), limit: Some(1), ..Default::default() })
                .ok()
                .and_then(|r| r.first().map(|r| r.id)),
            _ => None,
        };
        self.engine.alerts.on_event(e, run_id);
    }
}

/// `Runner` and `Restorer` are views of a [`RunContext`]: `self.history`,
/// `self.data`, ... read through to it.
macro_rules! view_of_run_context {
    ($view:ident) => {
        impl<'a> std::ops::Deref for $view<'a> {
            type Target = RunContext<'a>;
            fn deref(&self) -> &RunContext<'a> {
                &self.0
            }
        }
    };
}
view_of_run_context!(Runner);
view_of_run_context!(Restorer);

/// The engine of one process. See the module documentation.
pub struct Engine {
    data: DataDir,
    history: OnceLock<Arc<History>>,
    moved_aside: OnceLock<Option<MovedAside>>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    openers: BTreeMap<String, Arc<dyn OpenDestination>>,
    settings: RwLock<Arc<DestinationSettings>>,
    tasks: Vec<Arc<dyn BackgroundTask>>,
    alerts: crate::alerts::Alerts,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data", &self.data)
            .field("destinations", &self.openers.keys().collect::<Vec<_>>())
            .field("tasks", &self.tasks.iter().map(|t| t.name().to_string()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    data: DataDir,
    history: Option<Arc<History>>,
    secrets: Option<Arc<dyn SecretStore>>,
    clock: Option<Arc<dyn Clock>>,
    openers: BTreeMap<String, Arc<dyn OpenDestination>>,
    settings: DestinationSettings,
    tasks: Vec<Arc<dyn BackgroundTask>>,
    alert_transport: Option<Arc<dyn crate::alerts::Transport>>,
}

impl EngineBuilder {
    /// Uses this (already open) history instead of opening the data
    /// folder's on first use.
    #[must_use]
    pub fn history(mut self, history: Arc<History>) -> Self {
        self.history = Some(history);
        self
    }

    /// The secret store (default: the one the default config file's
    /// `[secrets]` chooses, [`crate::secrets::default_store`]).
    #[must_use]
    pub fn secrets(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The clock (default: the system's).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Opens destinations of `scheme` (`onedrive`) with `opener`,
    /// replacing the one registered before.
    #[must_use]
    pub fn destination(mut self, scheme: &str, opener: impl OpenDestination + 'static) -> Self {
        self.openers.insert(scheme.to_string(), Arc::new(opener));
        self
    }

    /// The destination settings to start with (see [`Engine::configure`]).
    #[must_use]
    pub fn settings(mut self, settings: DestinationSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Adds a task the scheduler runs between backups.
    #[must_use]
    pub fn task(mut self, task: Arc<dyn BackgroundTask>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Sends alerts through `transport` (default: SMTP and HTTP,
    /// [`crate::alerts::NetTransport`]).
    #[must_use]
    pub fn alert_transport(mut self, transport: Arc<dyn crate::alerts::Transport>) -> Self {
        self.alert_transport = Some(transport);
        self
    }

    /// The engine.
    #[must_use]
    pub fn build(self) -> Engine {
        let history = OnceLock::new();
        let moved_aside = OnceLock::new();
        if let Some(h) = self.history {
            let _ = history.set(h);
            let _ = moved_aside.set(None);
        }
        let secrets: Arc<dyn SecretStore> = self.secrets.unwrap_or_else(|| Arc::from(crate::secrets::default_store()));
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let transport = self.alert_transport.unwrap_or_else(|| Arc::new(crate::alerts::NetTransport));
        let alerts = crate::alerts::Alerts::new(&self.data, secrets.clone(), clock.clone(), transport);
        Engine {
            data: self.data,
            history,
            moved_aside,
            secrets,
            clock,
            alerts,
            openers: self.openers,
            settings: RwLock::new(Arc::new(self.settings)),
            tasks: self.tasks,
        }
    }
}

impl Engine {
    /// A builder for the engine working in `data`.
    #[must_use]
    pub fn builder(data: DataDir) -> EngineBuilder {
        EngineBuilder { data, history: None, secrets: None, clock: None, openers: BTreeMap::new(), settings: DestinationSettings::default(), tasks: Vec::new(), alert_transport: None }
    }

    /// The data folder.
    #[must_use]
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The secret store.
    #[must_use]
    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The history, opened on first use (a damaged one is moved aside:
    /// [`Engine::history_moved_aside`]).
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn history(&self) -> Result<&History> {
        if let Some(h) = self.history.get() {
            return Ok(h);
        }
        let (history, moved) = History::open_or_recover(&self.data.history_file())?;
        if self.history.set(Arc::new(history)).is_ok() {
            let _ = self.moved_aside.set(moved);
        }
        Ok(self.history.get().expect("set above"))
    }

    /// The history, shared (opened on first use).
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn shared_history(&self) -> Result<Arc<History>> {
        self.history()?;
        Ok(self.history.get().expect("opened").clone())
    }

    /// The damaged history file this engine moved aside when it opened the history.
    #[must_use]
    pub fn history_moved_aside(&self) -> Option<&MovedAside> {
        self.moved_aside.get().and_then(Option::as_ref)
    }

    /// Takes the destination, `[secrets]` and `[[alert]]` settings of
    /// `config` (called on every config (re)load; the scheduler service does
    /// it itself).
    pub fn configure(&self, config: &Config) {
        if let Some(path) = &config.origin {
            self.secrets.configure(&config.raw.secrets, path);
        }
        self.alerts.configure(&config.raw.alerts);
        let settings = DestinationSettings { onedrive: config.raw.onedrive.clone(), s3: config.raw.s3.clone() };
        let mut current = self.settings.write().unwrap_or_else(PoisonError::into_inner);
        if **current != settings {
            *current = Arc::new(settings);
        }
    }

    /// The destination settings in use.
    #[must_use]
    pub fn settings(&self) -> Arc<DestinationSettings> {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Opens a destination through the opener of its scheme.
    ///
    /// # Errors
    /// For schemes this engine has no opener of, or the opener's error.
    pub fn open_destination(&self, spec: &DestinationSpec) -> Result<Box<dyn Destination>> {
        let location = match spec {
            // Built in (and not always UTF-8).
            DestinationSpec::Folder(p) => return Ok(Box::new(LocalFolder::new(p.clone()))),
            DestinationSpec::OneDrive(p) | DestinationSpec::S3(p) => p,
        };
        let Some(opener) = self.openers.get(scheme(spec)) else {
            let what = if matches!(spec, DestinationSpec::S3(_)) { "S3 support" } else { "Microsoft Graph upload support" };
            return Err(Error::config(format!(
                "The destination {} needs {what}, which this build does not have; point the job at a folder instead.",
                spec.display()
            )));
        };
        let settings = self.settings();
        opener.open(location, &OpenEnv { settings: &settings, secrets: &self.secrets, data: &self.data })
    }

    /// Every backup of `job` in every destination, newest first (at equal
    /// times a copy in a folder on this computer first), and each
    /// destination that could not be listed with its error.
    #[must_use]
    pub fn job_backups(&self, job: &crate::config::Job) -> (Vec<crate::catalog::BackupEntry>, Vec<(DestinationSpec, Error)>) {
        let mut specs: Vec<&DestinationSpec> = job.destinations.iter().collect();
        specs.sort_by_key(|s| !matches!(s, DestinationSpec::Folder(_)));
        let (mut all, mut errors) = (Vec::new(), Vec::new());
        for spec in specs {
            match self.open_destination(spec).and_then(|dest| crate::catalog::job_backups(dest.as_ref(), &job.name, job.timezone)) {
                Ok(entries) => all.extend(entries),
                Err(e) => errors.push((spec.clone(), e)),
            }
        }
        // Stable: a folder's copy stays ahead of a remote one of the same time.
        all.sort_by_key(|e| std::cmp::Reverse(e.taken_at));
        (all, errors)
    }

    /// The newest backup of `job` in its destinations (`restore --latest`):
    /// the newest good copy, from a folder on this computer when one holds it.
    ///
    /// # Errors
    /// When no destination can be listed or none holds a backup of the job.
    pub fn latest_backup(&self, job: &crate::config::Job) -> Result<crate::catalog::BackupEntry> {
        let (entries, errors) = self.job_backups(job);
        for (spec, e) in &errors {
            tracing::warn!(job = %job.name, destination = %spec.display(), "could not list backups: {}", e.detailed());
        }
        if let Some(b) = entries.into_iter().next() {
            return Ok(b);
        }
        let first_error = errors.into_iter().next().map(|(_, e)| e);
        if let Some(e) = first_error
            && job.destinations.len() == 1
        {
            return Err(e);
        }
        Err(Error::config(format!(
            "Job \"{}\" has no backups in {}; run `nightjar backup --job {}` first, or pick a file.",
            job.name,
            job.destinations_display(),
            job.name
        )))
    }

    /// The alerts (email, webhook, Telegram, ping) of this process.
    #[must_use]
    pub fn alerts(&self) -> &crate::alerts::Alerts {
        &self.alerts
    }

    /// The background tasks.
    #[must_use]
    pub fn tasks(&self) -> &[Arc<dyn BackgroundTask>] {
        &self.tasks
    }

    /// What a run borrows.
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn context<'a>(&'a self, observer: &'a dyn RunObserver, cancel: &'a AtomicBool) -> Result<RunContext<'a>> {
        Ok(RunContext { engine: self, history: self.history()?, data: &self.data, secrets: self.secrets.as_ref(), clock: self.clock.as_ref(), observer, cancel })
    }

    /// Runs backups, checks and retention.
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn runner<'a>(&'a self, observer: &'a dyn RunObserver, cancel: &'a AtomicBool) -> Result<Runner<'a>> {
        self.context(observer, cancel).map(Runner)
    }

    /// Runs restores, verifies and the kept-database commands.
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn restorer<'a>(&'a self, observer: &'a dyn RunObserver, cancel: &'a AtomicBool) -> Result<Restorer<'a>> {
        self.context(observer, cancel).map(Restorer)
    }

    /// The scheduler service; stops when `control.shutdown` is raised.
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn service<'a>(
        &'a self,
        observer: &'a dyn RunObserver,
        control: &'a ServiceControl,
        load_config: &'a dyn Fn() -> Result<Config>,
        config_path: Option<PathBuf>,
        tick: Duration,
    ) -> Result<Service<'a>> {
        Ok(Service { run: self.context(observer, &control.shutdown)?, load_config, config_path, control, tick })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_opens_only_its_own_destinations() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Engine::builder(DataDir::new(dir.path())).secrets(Arc::new(crate::secrets::NoSecrets)).build();
        let e = plain.open_destination(&DestinationSpec::OneDrive("/Backups/x".into())).map(|_| ()).unwrap_err();
        assert!(e.message().contains("onedrive:/Backups/x"), "{e}");
        let root = dir.path().join("remote");
        let r = root.clone();
        let with = Engine::builder(DataDir::new(dir.path()))
            .secrets(Arc::new(crate::secrets::NoSecrets))
            .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(LocalFolder::new(r.join(p.trim_matches('/')))) as Box<dyn Destination>))
            .build();
        let d = with.open_destination(&DestinationSpec::OneDrive("/Backups/x".into())).unwrap();
        assert_eq!(d.location(), root.join("Backups/x").display().to_string());
        assert!(plain.open_destination(&DestinationSpec::OneDrive("/a".into())).is_err(), "the other engine is unchanged");
        let f = plain.open_destination(&DestinationSpec::Folder(dir.path().join("b"))).unwrap();
        assert_eq!(f.location(), dir.path().join("b").display().to_string());
    }
}
