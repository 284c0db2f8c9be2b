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

use std::sync::Arc;

use nightjar_core::config::OneDriveSettings;
use nightjar_core::destination::Destination;
use nightjar_core::secrets::SecretStore;
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

/// Registers the scheduler's OneDrive upkeep (a sign-in refresh every week,
/// the "in the cloud" check of backups in OneDrive-synced folders) with the
/// `[onedrive]` settings, replacing the one registered before. `nightjar run`
/// and the desktop app call it on every config (re)load. When the HTTP
/// client cannot be set up the upkeep stays off and the reason is logged.
pub fn install_upkeep(settings: &OneDriveSettings, secrets: Arc<dyn SecretStore>) {
    match Graph::new(GraphConfig::from_settings(settings), secrets) {
        Ok(graph) => {
            let upkeep = upkeep::OneDriveUpkeep::new(Arc::new(graph), Box::new(synced::detect_folders));
            nightjar_core::tasks::set_background_tasks(vec![Arc::new(upkeep)]);
        }
        Err(e) => tracing::warn!("OneDrive upkeep is off: {}", e.detailed()),
    }
}
