//! Microsoft Graph (OneDrive) for Nightjar: sign-in as a public desktop
//! client, upload sessions, listing, deleting and downloading, and the
//! [`OneDriveDestination`] behind core's `Destination` trait. GUI-free.
//! The contract is `GRAPH.md`.

pub mod qxh;
pub mod synced;
pub mod auth;
pub mod config;
pub mod destination;
pub mod graph;
pub mod staging;
pub mod upkeep;

use std::sync::{Arc, Mutex, PoisonError};

use nightjar_core::config::OneDriveSettings;
use nightjar_core::destination::Destination;
use nightjar_core::engine::{EngineBuilder, OpenEnv, ONEDRIVE};
use nightjar_core::secrets::SecretStore;
use nightjar_core::tasks::{BackgroundTask, TaskContext};
use nightjar_core::Result;

pub use auth::{Account, DeviceCode, REFRESH_ACCOUNT, USER_ACCOUNT};
pub use config::{GraphConfig, RetryPolicy};
pub use destination::OneDriveDestination;
pub use graph::Graph;

/// Opens `onedrive:{path}` with the `[onedrive]` settings and a secret store.
///
/// # Errors
/// When the HTTP client cannot be set up.
pub fn open_destination(settings: &OneDriveSettings, secrets: Arc<dyn SecretStore>, path: &str) -> Result<Box<dyn Destination>> {
    let graph = Arc::new(Graph::new(GraphConfig::from_settings(settings), secrets)?);
    Ok(Box::new(OneDriveDestination::new(graph, path)))
}

/// Gives an engine OneDrive: the opener of `onedrive:` destinations (with
/// the `[onedrive]` settings of the engine's current config) and the
/// scheduler's upkeep task. Every front end that links this crate calls it
/// once when it builds its engine.
#[must_use]
pub fn install(builder: EngineBuilder) -> EngineBuilder {
    builder
        .destination(ONEDRIVE, |path: &str, env: &OpenEnv<'_>| open_destination(&env.settings.onedrive, env.secrets.clone(), path))
        .task(Arc::new(Upkeep::default()))
}

/// The scheduler's OneDrive upkeep ([`upkeep::OneDriveUpkeep`]: a sign-in
/// refresh every week, the "in the cloud" check of backups in
/// OneDrive-synced folders) with the `[onedrive]` settings of the config
/// the service runs with, set up again when they change. When the HTTP
/// client cannot be set up the upkeep stays off and the reason is logged.
#[derive(Default)]
pub struct Upkeep {
    current: Mutex<Option<(OneDriveSettings, Option<Arc<upkeep::OneDriveUpkeep>>)>>,
}

impl Upkeep {
    fn for_settings(&self, ctx: &TaskContext<'_>) -> Option<Arc<upkeep::OneDriveUpkeep>> {
        let settings = &ctx.config.raw.onedrive;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((s, task)) = current.as_ref()
            && s == settings
        {
            return task.clone();
        }
        let task = match Graph::new(GraphConfig::from_settings(settings), ctx.engine.secrets().clone()) {
            Ok(graph) => Some(Arc::new(upkeep::OneDriveUpkeep::new(Arc::new(graph), Box::new(synced::detect_folders)))),
            Err(e) => {
                tracing::warn!("OneDrive upkeep is off: {}", e.detailed());
                None
            }
        };
        *current = Some((settings.clone(), task.clone()));
        task
    }
}

impl BackgroundTask for Upkeep {
    fn name(&self) -> &str {
        "onedrive"
    }

    fn tick(&self, ctx: &TaskContext<'_>) {
        if let Some(task) = self.for_settings(ctx) {
            task.tick(ctx);
        }
    }
}
