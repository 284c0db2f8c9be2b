//! OneDrive keeps the same destination contract as the local folder: core's
//! conformance suite against the Graph fake, one fresh folder per check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nightjar_core::config::OneDriveSettings;
use nightjar_core::destination::conformance;
use nightjar_core::secrets::{MemorySecrets, SecretStore as _};
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::FakeGraph;

#[test]
fn onedrive_keeps_the_destination_contract() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let settings = OneDriveSettings {
        tenant: "common".into(),
        client_id: Some("11111111-2222-3333-4444-555555555555".into()),
        login_base_url: fake.login_base(),
        graph_base_url: fake.graph_base(),
        ..OneDriveSettings::default()
    };
    let mut cfg = GraphConfig::from_settings(&settings);
    cfg.retry = RetryPolicy { max_tries: 6, base: Duration::from_millis(10), cap: Duration::from_millis(200), max_retry_after: Duration::from_secs(3) };
    cfg.hash_recheck_delay = Duration::from_millis(10);
    let graph = Arc::new(Graph::new(cfg, secrets).unwrap());
    let n = AtomicUsize::new(0);
    conformance::run_all(&|| Box::new(OneDriveDestination::new(graph.clone(), &format!("/Backups/c{}", n.fetch_add(1, Ordering::SeqCst)))));
}
