//! Two Nightjar processes share the stored OneDrive sign-in (the tray's
//! upkeep and the window, or the CLI): when one refreshes and stores the
//! rotated token while the other is refreshing with the token it had just
//! read, Microsoft refuses the older token; the other then uses the newer
//! one instead of saying the sign-in expired.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightjar_core::config::OneDriveSettings;
use nightjar_core::secrets::{MemorySecrets, SecretStore};
use nightjar_onedrive::{Graph, GraphConfig, RetryPolicy, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::FakeGraph;

/// The keyring as a process sees it that read the refresh token just
/// before another process replaced it: its first read gives the old token.
struct ReadBeforeRotation {
    inner: Arc<MemorySecrets>,
    old: Mutex<Option<String>>,
}

impl SecretStore for ReadBeforeRotation {
    fn get(&self, account: &str) -> nightjar_core::Result<Option<String>> {
        if account == REFRESH_ACCOUNT
            && let Some(old) = self.old.lock().unwrap().take()
        {
            return Ok(Some(old));
        }
        self.inner.get(account)
    }
    fn set(&self, account: &str, secret: &str) -> nightjar_core::Result<()> {
        self.inner.set(account, secret)
    }
    fn delete(&self, account: &str) -> nightjar_core::Result<bool> {
        self.inner.delete(account)
    }
}

fn graph(fake: &FakeGraph, secrets: Arc<dyn SecretStore>) -> Graph {
    let settings = OneDriveSettings { client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..OneDriveSettings::default() };
    let mut cfg = GraphConfig::from_settings(&settings);
    cfg.retry = RetryPolicy { max_tries: 3, base: Duration::from_millis(5), cap: Duration::from_millis(20), max_retry_after: Duration::from_secs(1) };
    Graph::new(cfg, secrets).unwrap()
}

#[test]
fn a_refresh_refused_because_another_process_rotated_the_token_uses_the_newer_one() {
    let fake = FakeGraph::start();
    let keyring = Arc::new(MemorySecrets::default());
    let first = fake.issue_refresh_token();
    keyring.set(REFRESH_ACCOUNT, &first).unwrap();

    // The other process refreshes: the first token is used up, its successor stored.
    graph(&fake, keyring.clone()).tokens().refresh_now().unwrap();
    let second = keyring.get(REFRESH_ACCOUNT).unwrap().unwrap();
    assert_ne!(second, first, "the fake rotates refresh tokens");
    assert!(!fake.refresh_token_valid(&first), "the first token is used up");

    // This process had read the first one: refused, then the stored one works.
    let late = ReadBeforeRotation { inner: keyring.clone(), old: Mutex::new(Some(first)) };
    graph(&fake, Arc::new(late)).tokens().refresh_now().expect("the newer stored token is used");
    let third = keyring.get(REFRESH_ACCOUNT).unwrap().unwrap();
    assert!(third != second && fake.refresh_token_valid(&third), "its own rotation is stored");

    // A token refused with nothing newer stored is still an expired sign-in.
    let gone = Arc::new(MemorySecrets::default());
    gone.set(REFRESH_ACCOUNT, &second).unwrap();
    let e = graph(&fake, gone).tokens().refresh_now().unwrap_err();
    assert_eq!(e.kind(), nightjar_core::ErrorKind::AuthExpired, "{e}");
}
