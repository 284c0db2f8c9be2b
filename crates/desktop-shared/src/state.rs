//! What the shell keeps for the app's lifetime: paths, the history, the
//! secret store, the scheduler's steering flags and the runs in progress.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nightjar_core::config::{self, Config, ParseEnv};
use nightjar_core::history::{History, MovedAside};
use nightjar_core::paths::DataDir;
use nightjar_core::secrets::{self, SecretStore};
use nightjar_core::service::ServiceControl;
use nightjar_core::Engine;

/// Shared app state (`app.state::<AppState>()`).
pub struct AppState {
    /// `NIGHTJAR_DATA_DIR` or the OS data folder.
    pub data: DataDir,
    /// `NIGHTJAR_CONFIG` or the OS config folder's `config.toml`.
    pub config_path: PathBuf,
    /// The run history (shared with the scheduler thread).
    pub history: Arc<History>,
    /// The OS keyring, or nothing with `NIGHTJAR_KEYRING=off`.
    pub secrets: Arc<dyn SecretStore>,
    /// The in-app scheduler's flags (shutdown, reload, wake).
    pub control: ServiceControl,
    /// Runs this app is doing now, by job, with their cancel flags.
    runs: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The job the scheduler is running now, if any.
    pub scheduled: Mutex<Option<String>>,
    /// A view the page should show (`{"view": ...}`), until it takes it.
    pub pending_navigation: Mutex<Option<serde_json::Value>>,
    /// The damaged history file this process moved aside when it started.
    pub history_moved_aside: Option<MovedAside>,
    /// The process's engine (the same history and secret store, OneDrive installed).
    pub engine: Engine,
}

impl AppState {
    /// State from the environment, as the CLI reads it.
    ///
    /// # Errors
    /// When the history cannot be opened.
    pub fn from_env() -> nightjar_core::Result<Self> {
        let data = DataDir::from_env();
        let (history, moved) = History::open_or_recover(&data.history_file())?;
        let mut state = Self::new(data, config::config_path(None), history, Arc::from(secrets::default_store()));
        state.history_moved_aside = moved;
        Ok(state)
    }

    pub fn new(data: DataDir, config_path: PathBuf, history: History, secrets: Arc<dyn SecretStore>) -> Self {
        let history = Arc::new(history);
        let engine = nightjar_s3::install(nightjar_onedrive::install(Engine::builder(data.clone()).history(history.clone()).secrets(secrets.clone()))).build();
        Self {
            data,
            config_path,
            history,
            secrets,
            engine,
            control: ServiceControl::default(),
            runs: Mutex::new(HashMap::new()),
            scheduled: Mutex::new(None),
            pending_navigation: Mutex::new(None),
            history_moved_aside: None,
        }
    }

    /// The config; a missing file is an empty config (first run).
    ///
    /// # Errors
    /// When the file exists but does not parse.
    pub fn load_config(&self) -> nightjar_core::Result<Config> {
        load_config(&self.config_path)
    }

    /// Registers a run of `job`; `None` when this app already runs it.
    pub fn begin_run(&self, job: &str) -> Option<Arc<AtomicBool>> {
        let mut runs = self.runs.lock().expect("runs lock");
        if runs.contains_key(job) {
            return None;
        }
        let flag = Arc::new(AtomicBool::new(false));
        runs.insert(job.to_string(), flag.clone());
        Some(flag)
    }

    pub fn end_run(&self, job: &str) {
        self.runs.lock().expect("runs lock").remove(job);
    }

    /// Asks a running job to stop; false when none runs.
    pub fn cancel_run(&self, job: &str) -> bool {
        let runs = self.runs.lock().expect("runs lock");
        runs.get(job).inspect(|f| f.store(true, Ordering::SeqCst)).is_some()
    }

    /// Stops everything (Quit).
    pub fn cancel_all(&self) {
        for f in self.runs.lock().expect("runs lock").values() {
            f.store(true, Ordering::SeqCst);
        }
        self.control.shutdown.store(true, Ordering::SeqCst);
    }

    pub fn is_running(&self, job: &str) -> bool {
        self.runs.lock().expect("runs lock").contains_key(job) || self.scheduled.lock().expect("scheduled lock").as_deref() == Some(job)
    }

    /// Every job running now (manual runs and the scheduler's).
    pub fn running_jobs(&self) -> Vec<String> {
        let mut jobs: Vec<String> = self.runs.lock().expect("runs lock").keys().cloned().collect();
        if let Some(j) = self.scheduled.lock().expect("scheduled lock").clone()
            && !jobs.contains(&j)
        {
            jobs.push(j);
        }
        jobs.sort();
        jobs
    }

    pub fn any_running(&self) -> Option<String> {
        if let Some(j) = self.scheduled.lock().expect("scheduled lock").clone() {
            return Some(j);
        }
        self.runs.lock().expect("runs lock").keys().next().cloned()
    }
}

/// Reads the config at `path`; a missing file is an empty config.
///
/// # Errors
/// When the file exists but does not parse.
pub fn load_config(path: &std::path::Path) -> nightjar_core::Result<Config> {
    if !path.exists() {
        return Ok(Config::empty(Some(path.to_path_buf())));
    }
    Config::load(path, &ParseEnv::from_system())
}

/// Hands the config's destination settings (`[onedrive]`) to the engine;
/// called again on every config change (the window calls it for its reads).
pub fn install_onedrive(state: &AppState, config: &Config) {
    state.engine.configure(config);
}
