//! The Graph client and the OneDrive destination against the local fake
//! (GRAPH.md §8).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nightjar_core::config::OneDriveSettings;
use nightjar_core::destination::Destination;
use nightjar_core::secrets::{MemorySecrets, SecretStore};
use nightjar_core::ErrorKind;
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT, USER_ACCOUNT};
use nightjar_onedrive_fake::{Action, FakeGraph, Fault, Host, Kind, Options};

fn config(fake: &FakeGraph) -> GraphConfig {
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
    cfg
}

/// A client already signed in (a refresh token in the store).
fn signed_in(fake: &FakeGraph) -> (Arc<Graph>, Arc<MemorySecrets>) {
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    secrets.set(USER_ACCOUNT, "fake.user@example.com").unwrap();
    let graph = Arc::new(Graph::new(config(fake), secrets.clone()).unwrap());
    (graph, secrets)
}

fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

fn upload(dest: &OneDriveDestination, name: &str, bytes: &[u8]) -> nightjar_core::Result<()> {
    let mut p = dest.create(name)?;
    for c in bytes.chunks(64 * 1024) {
        p.write_all(c).unwrap();
    }
    p.commit()
}

fn assert_no_bearer_on_content_host(fake: &FakeGraph) {
    let content: Vec<_> = fake.requests().into_iter().filter(|r| r.host == Host::Content).collect();
    assert!(!content.is_empty(), "the content host was used");
    for r in &content {
        assert!(r.header("authorization").is_none(), "bearer token sent to the content host: {} {}", r.method, r.uri);
    }
}

fn count(fake: &FakeGraph, host: Host, method: &str, needle: &str) -> usize {
    fake.requests().iter().filter(|r| r.host == host && r.method == method && r.uri.contains(needle)).count()
}

#[test]
fn sign_in_with_code_and_pkce_through_the_loopback_redirect() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    let graph = Graph::new(config(&fake), secrets.clone()).unwrap();
    let mut opened = String::new();
    let account = graph
        .login_browser(Duration::from_secs(20), &mut |url| {
            opened = url.to_string();
            let url = url.to_string();
            // Plays the browser: the fake's authorize answers 302 to our loopback.
            std::thread::spawn(move || {
                let page = reqwest::blocking::get(url).unwrap().text().unwrap();
                assert!(page.contains("You can close this tab"), "{page}");
            });
        })
        .unwrap();
    assert_eq!(account.username, "fake.user@example.com");
    assert!(opened.contains("code_challenge_method=S256") && opened.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"), "{opened}");
    let rt = secrets.get(REFRESH_ACCOUNT).unwrap().expect("refresh token stored");
    assert!(fake.refresh_token_valid(&rt));
    assert_eq!(secrets.get(USER_ACCOUNT).unwrap().as_deref(), Some("fake.user@example.com"));
    // No client secret, ever.
    for r in fake.requests() {
        assert!(!r.uri.contains("client_secret"), "{}", r.uri);
    }
    assert_eq!(graph.whoami().unwrap().username, "fake.user@example.com");
}

#[test]
fn the_fake_checks_pkce_and_single_use_codes() {
    let fake = FakeGraph::start();
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let auth = format!(
        "{}/common/oauth2/v2.0/authorize?client_id=c&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A9%2F&scope=x&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        fake.login_base()
    );
    let r = http.get(auth).send().unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
    let token = |verifier: &str| {
        http.post(format!("{}/common/oauth2/v2.0/token", fake.login_base()))
            .form(&[("client_id", "c"), ("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://localhost:9/"), ("code_verifier", verifier)])
            .send()
            .unwrap()
    };
    // RFC 7636 appendix B: this verifier hashes to the challenge above.
    let bad = token("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl");
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().unwrap().contains("invalid_grant"));
    let reused = token("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert!(reused.text().unwrap().contains("54005"), "a code works once");
    let secret = http
        .post(format!("{}/common/oauth2/v2.0/token", fake.login_base()))
        .form(&[("client_id", "c"), ("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_secret", "s")])
        .send()
        .unwrap();
    assert!(secret.text().unwrap().contains("700025"));
}

#[test]
fn sign_in_with_device_code() {
    let fake = FakeGraph::start_with(Options { device_interval: 0, device_pending_polls: 3, ..Options::default() });
    let secrets = Arc::new(MemorySecrets::default());
    let graph = Graph::new(config(&fake), secrets.clone()).unwrap();
    let mut shown = None;
    let account = graph.login_device_code(&mut |dc| shown = Some(dc.clone())).unwrap();
    let dc = shown.expect("the code was shown");
    assert!(dc.message.contains(&dc.user_code));
    assert_eq!(account.username, "fake.user@example.com");
    assert!(secrets.get(REFRESH_ACCOUNT).unwrap().is_some());
    let polls = fake.requests().iter().filter(|r| r.uri.ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(polls, 4, "three authorization_pending answers, then success");
}

#[test]
fn refresh_rotation_is_persisted_before_use() {
    let fake = FakeGraph::start();
    let (graph, secrets) = signed_in(&fake);
    let first = secrets.get(REFRESH_ACCOUNT).unwrap().unwrap();
    graph.whoami().unwrap();
    let second = secrets.get(REFRESH_ACCOUNT).unwrap().unwrap();
    assert_ne!(first, second, "the rotated token replaced the old one");
    assert!(!fake.refresh_token_valid(&first), "the fake is strict: an old token is dead after one use");
    // The access token expires: the client refreshes once and replays.
    fake.expire_access_tokens();
    graph.whoami().unwrap();
    let third = secrets.get(REFRESH_ACCOUNT).unwrap().unwrap();
    assert_ne!(second, third);
    assert!(fake.refresh_token_valid(&third));
    // A 401 from Graph mid-flow (token expired server-side): refresh once and replay.
    fake.inject(Fault::new(Kind::GetItem, Action::ExpireAccessToken));
    let dest = OneDriveDestination::new(graph.clone(), "/Backups");
    dest.prepare().unwrap();
    assert_eq!(fake.pending_faults(), 0);
    assert!(fake.refresh_token_valid(&secrets.get(REFRESH_ACCOUNT).unwrap().unwrap()));
}

#[test]
fn invalid_grant_is_a_clear_error_and_leaves_the_stored_token() {
    let fake = FakeGraph::start();
    let (graph, secrets) = signed_in(&fake);
    let before = secrets.get(REFRESH_ACCOUNT).unwrap();
    fake.inject(Fault::new(Kind::Refresh, Action::invalid_grant(700_082)).times(5));
    let dest = OneDriveDestination::new(graph, "/Backups");
    let e = dest.prepare().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthExpired);
    assert!(e.to_string().contains("OneDrive sign-in expired for fake.user@example.com"), "{e}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert!(e.to_string().contains("90 days"), "{e}");
    assert_eq!(secrets.get(REFRESH_ACCOUNT).unwrap(), before, "the stored token is untouched");
    // The next attempt fails the same clear way, without data.
    let e2 = dest.create("x.sql.zst").err().expect("fails");
    assert!(e2.to_string().contains("sign-in expired"), "{e2}");
    assert!(fake.names("/Backups").is_empty());
}

#[test]
fn not_signed_in_says_so() {
    let fake = FakeGraph::start();
    let graph = Arc::new(Graph::new(config(&fake), Arc::new(MemorySecrets::default())).unwrap());
    let e = OneDriveDestination::new(graph, "/B").prepare().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthExpired);
    assert!(e.to_string().contains("not signed in"), "{e}");
}

#[test]
fn fifty_mb_upload_survives_a_dropped_connection_a_429_and_a_lagging_ack() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups/tg-app");
    dest.prepare().unwrap();
    // 10 MiB fragments: 50 MB is five full fragments and a short last one.
    fake.inject(Fault::new(Kind::Fragment, Action::Drop { after_bytes: 3 * 1024 * 1024 }).after(1));
    fake.inject(Fault::new(Kind::Fragment, Action::throttle(Some(1))).after(2));
    fake.inject(Fault::new(Kind::Fragment, Action::AcceptBehind { keep_bytes: 327_680 * 3 }).after(3));
    fake.inject(Fault::new(Kind::CreateSession, Action::status(503, "serviceNotAvailable")));
    let bytes = data(50_000_000, 7);
    upload(&dest, "tg-app_2026-01-01_00-00-00.sql.zst", &bytes).unwrap();
    assert_eq!(fake.pending_faults(), 0, "every fault fired");
    let stored = fake.file("/Backups/tg-app/tg-app_2026-01-01_00-00-00.sql.zst").expect("committed");
    assert!(stored == bytes, "byte-identical");
    assert_eq!(fake.open_sessions(), 0);
    assert_no_bearer_on_content_host(&fake);
    assert!(count(&fake, Host::Content, "GET", "/up/") >= 1, "resumed through the session status");
    let listed = dest.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 50_000_000);
    // Never overwrites.
    assert!(dest.create("tg-app_2026-01-01_00-00-00.sql.zst").is_err());
}

#[test]
fn quota_full_before_the_upload_fails_fast_and_leaves_nothing() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    fake.set_quota_total(1_000_000);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    assert_eq!(dest.space().unwrap().unwrap().total, 1_000_000);
    let e = upload(&dest, "big.sql.zst", &data(2_000_000, 1)).unwrap_err();
    assert!(e.to_string().contains("OneDrive is full"), "{e}");
    assert_eq!(count(&fake, Host::Content, "PUT", "/up/"), 0, "no byte was sent");
    assert!(fake.names("/Backups").is_empty());
    assert_eq!(fake.open_sessions(), 0);
}

#[test]
fn quota_full_at_commit_cancels_the_session() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    fake.inject(Fault::new(Kind::FinalFragment, Action::quota_full()));
    let e = upload(&dest, "a.sql.zst", &data(1_000_000, 2)).unwrap_err();
    assert!(e.to_string().contains("OneDrive is full"), "{e}");
    assert!(fake.names("/Backups").is_empty());
    assert_eq!(fake.open_sessions(), 0, "the session was cancelled");
}

#[test]
fn an_expired_session_mid_upload_restarts_cleanly() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    fake.inject(Fault::new(Kind::Fragment, Action::ExpireSession).after(1));
    let bytes = data(25_000_000, 3);
    upload(&dest, "b.sql.zst", &bytes).unwrap();
    assert!(fake.file("/Backups/b.sql.zst").unwrap() == bytes);
    assert_eq!(count(&fake, Host::Api, "POST", "createUploadSession"), 2);
    assert_eq!(fake.names("/Backups"), vec!["b.sql.zst"]);
}

#[test]
fn a_wrong_hash_at_commit_is_detected_and_uploaded_again() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    fake.inject(Fault::new(Kind::FinalFragment, Action::WrongHash));
    let bytes = data(700_000, 4);
    upload(&dest, "c.sql.zst", &bytes).unwrap();
    assert!(fake.file("/Backups/c.sql.zst").unwrap() == bytes);
    assert_eq!(count(&fake, Host::Api, "POST", "createUploadSession"), 2);
    assert_eq!(fake.recycled(), 1, "the suspicious copy was deleted");
}

#[test]
fn small_and_empty_files_and_a_dropped_pending_file() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    upload(&dest, "empty.sql", b"").unwrap();
    upload(&dest, "small.sql.json", b"{\"ok\":true}").unwrap();
    let mut p = dest.create("dropped.sql.zst").unwrap();
    p.write_all(&data(1_000_000, 5)).unwrap();
    drop(p);
    assert_eq!(fake.names("/Backups"), vec!["empty.sql", "small.sql.json"]);
    assert_eq!(fake.open_sessions(), 0);
}

#[test]
fn listing_across_pages_skips_folders_and_delete_treats_404_as_done() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    for i in 0..450 {
        fake.put_file(&format!("/Backups/app_{i:04}.sql.zst"), b"x");
    }
    fake.mkdir("/Backups/a-folder");
    fake.inject(Fault::new(Kind::ListChildren, Action::throttle(None)).after(1));
    let dest = OneDriveDestination::new(graph, "/Backups");
    let files = dest.list().unwrap();
    assert_eq!(files.len(), 450);
    assert!(files.iter().all(|f| f.name.starts_with("app_") && f.size == 1));
    assert!(count(&fake, Host::Api, "GET", "$skiptoken=") >= 2, "followed the nextLinks");
    dest.remove("app_0000.sql.zst").unwrap();
    dest.remove("app_0000.sql.zst").unwrap();
    assert_eq!(dest.list().unwrap().len(), 449);
}

#[test]
fn download_follows_the_302_without_the_bearer_token_and_resumes() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let bytes = data(3_000_000, 6);
    fake.put_file("/Backups/d.sql.zst", &bytes);
    fake.inject(Fault::new(Kind::Download, Action::Truncate { after_bytes: 1_000_000 }));
    // The pre-authenticated URL has expired once: a fresh one is asked for.
    fake.inject(Fault::new(Kind::Download, Action::status(403, "accessDenied")).after(1));
    let dest = OneDriveDestination::new(graph, "/Backups");
    let mut got = Vec::new();
    dest.open("d.sql.zst").unwrap().read_to_end(&mut got).unwrap();
    assert!(got == bytes);
    assert!(count(&fake, Host::Content, "GET", "/dl/") >= 2, "resumed after the cut");
    assert!(fake.requests().iter().any(|r| r.host == Host::Content && r.header("range").is_some()));
    assert_no_bearer_on_content_host(&fake);
    assert_eq!(fake.pending_faults(), 0);
    assert!(count(&fake, Host::Api, "GET", "/content") >= 3, "a fresh download URL after each failure");
    assert!(dest.open("missing.sql.zst").is_err());
}

#[test]
fn a_missing_hash_at_commit_is_read_again_and_5xx_are_retried() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let mut cfg = config(&fake);
    cfg.fragment_size = 4 * 327_680 + 1000; // rounded down to 4 × 320 KiB
    let dest = OneDriveDestination::new(Arc::new(Graph::new(cfg, secrets).unwrap()), "/Backups");
    dest.prepare().unwrap();
    fake.inject(Fault::new(Kind::FinalFragment, Action::OmitHash));
    fake.inject(Fault::new(Kind::Fragment, Action::status(500, "generalException")).after(1));
    fake.inject(Fault::new(Kind::Fragment, Action::status(502, "badGateway")).after(2));
    fake.inject(Fault::new(Kind::Fragment, Action::status(504, "UnknownError")).after(3));
    fake.inject(Fault::new(Kind::Fragment, Action::status(503, "serviceNotAvailable")).after(4));
    fake.inject(Fault::new(Kind::Fragment, Action::throttle(None)).after(5));
    fake.inject(Fault::new(Kind::Delete, Action::throttle(Some(1))));
    fake.inject(Fault::new(Kind::Graph, Action::Status { status: 401, code: "InvalidAuthenticationToken".into(), inner: None, retry_after: None }).after(2));
    let bytes = data(21 * 327_680 + 5, 8);
    upload(&dest, "e.sql.zst", &bytes).unwrap();
    assert!(fake.file("/Backups/e.sql.zst").unwrap() == bytes);
    assert_eq!(fake.pending_faults(), 1, "only the delete fault is left");
    assert_eq!(count(&fake, Host::Content, "PUT", "/up/"), 6 + 5, "six fragments, five of them retried");
    assert!(count(&fake, Host::Api, "GET", "/me/drive/items/") >= 1, "the item was read again for its hash");
    dest.remove("e.sql.zst").unwrap();
    assert!(fake.names("/Backups").is_empty());
}

#[test]
fn a_backup_in_the_synced_folder_is_confirmed_in_the_cloud() {
    use nightjar_onedrive::synced::{cloud_state, wait_in_cloud, CloudState};
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("Backups/app")).unwrap();
    let file = root.path().join("Backups/app/app_2026-01-01_00-00-00.sql.zst");
    let bytes = data(2_000_000, 9);
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(cloud_state(&graph, root.path(), &file).unwrap(), CloudState::Missing);
    fake.put_file("/Backups/app/app_2026-01-01_00-00-00.sql.zst", &bytes[..1000]);
    assert_eq!(cloud_state(&graph, root.path(), &file).unwrap(), CloudState::Different { size: 1000 });
    fake.put_file("/Backups/app/app_2026-01-01_00-00-00.sql.zst", &bytes);
    assert_eq!(wait_in_cloud(&graph, root.path(), &file, Duration::from_secs(2), Duration::from_millis(50)).unwrap(), CloudState::InCloud);
    assert!(cloud_state(&graph, Path::new("/elsewhere"), &file).is_err());
}

/// The loopback redirect address of a sign-in URL, on 127.0.0.1, and the
/// sign-in's `state`.
fn loopback_of(url: &str) -> (String, String) {
    let u = url::Url::parse(url).unwrap();
    let get = |k: &str| u.query_pairs().find(|(n, _)| n == k).unwrap().1.to_string();
    (get("redirect_uri").replace("localhost", "127.0.0.1"), get("state"))
}

#[test]
fn forged_and_stray_requests_on_the_loopback_get_400_and_the_real_redirect_still_signs_in() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    let graph = Graph::new(config(&fake), secrets.clone()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, u16, String)>();
    let account = graph
        .login_browser(Duration::from_secs(20), &mut |url| {
            let (redirect, _) = loopback_of(url);
            let url = url.to_string();
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Another local program gets there first, each request answered before the next.
                for forged in [
                    format!("{redirect}?code=forged-code&state=not-ours"),
                    format!("{redirect}?code=forged-code"),
                    format!("{redirect}?error=access_denied&error_description=forged"),
                    format!("{redirect}favicon.ico"),
                ] {
                    let status = reqwest::blocking::get(&forged).map_or(0, |r| r.status().as_u16());
                    tx.send((forged, status, String::new())).unwrap();
                }
                // Then the browser comes back from Microsoft with the real redirect.
                let r = reqwest::blocking::get(url).unwrap();
                let status = r.status().as_u16();
                tx.send(("real".into(), status, r.text().unwrap())).unwrap();
            });
        })
        .unwrap();
    assert_eq!(account.username, "fake.user@example.com");
    drop(tx);
    let answers: Vec<_> = rx.iter().collect();
    assert_eq!(answers.len(), 5, "{answers:?}");
    for (forged, status, _) in &answers[..4] {
        assert_eq!(*status, 400, "{forged} was not refused");
    }
    let (_, status, page) = &answers[4];
    assert_eq!(*status, 200);
    assert!(page.contains("You can close this tab"), "{page}");
    let rt = secrets.get(REFRESH_ACCOUNT).unwrap().expect("refresh token stored");
    assert!(fake.refresh_token_valid(&rt));
    // One code was redeemed: the real one (a forged one would have failed at the token endpoint).
    assert_eq!(count(&fake, Host::Api, "POST", "/token"), 1);
}

#[test]
fn the_loopback_reports_a_denied_consent_and_times_out_on_foreign_redirects_only() {
    let fake = FakeGraph::start();
    let graph = Graph::new(config(&fake), Arc::new(MemorySecrets::default())).unwrap();
    // Microsoft's own "the user said no" carries the state: the sign-in ends with it.
    let e = graph
        .login_browser(Duration::from_secs(20), &mut |url| {
            let (redirect, state) = loopback_of(url);
            std::thread::spawn(move || {
                let _ = reqwest::blocking::get(format!("{redirect}favicon.ico"));
                let _ = reqwest::blocking::get(format!("{redirect}?error=access_denied&error_description=The+user+said+no&state={state}"));
            });
        })
        .unwrap_err();
    assert!(e.to_string().contains("access_denied"), "{e}");
    // Only foreign redirects: nothing completes, the sign-in waits until its time is up.
    let t0 = std::time::Instant::now();
    let e = graph
        .login_browser(Duration::from_secs(2), &mut |url| {
            let (redirect, _) = loopback_of(url);
            std::thread::spawn(move || {
                let _ = reqwest::blocking::get(format!("{redirect}?code=abc&state=not-ours"));
                let _ = reqwest::blocking::get(format!("{redirect}?error=access_denied"));
            });
        })
        .unwrap_err();
    assert!(e.to_string().contains("not finished in time"), "{e}");
    assert!(t0.elapsed() >= Duration::from_secs(2), "gave up early: {e}");
}

#[test]
fn device_code_declined_and_slow_down() {
    let fake = FakeGraph::start_with(Options { device_interval: 0, device_pending_polls: 0, ..Options::default() });
    let graph = Graph::new(config(&fake), Arc::new(MemorySecrets::default())).unwrap();
    fake.inject(Fault::new(Kind::Token, Action::TokenError { error: "authorization_declined".into(), aadsts: 70_000 }));
    let e = graph.login_device_code(&mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("declined"), "{e}");
    fake.inject(Fault::new(Kind::Token, Action::TokenError { error: "expired_token".into(), aadsts: 70_019 }));
    let e = graph.login_device_code(&mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn a_name_taken_during_the_upload_fails_at_commit_and_cancels_the_session() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let dest = OneDriveDestination::new(graph, "/Backups");
    dest.prepare().unwrap();
    let mut p = dest.create("f.sql.zst").unwrap();
    p.write_all(&data(500_000, 10)).unwrap();
    fake.put_file("/Backups/f.sql.zst", b"someone else's");
    let e = p.commit().unwrap_err();
    assert!(e.to_string().contains("never overwrites"), "{e}");
    assert_eq!(fake.file("/Backups/f.sql.zst").unwrap(), b"someone else's");
    assert_eq!(fake.open_sessions(), 0);
}

/// OneDrive keeps the same destination contract as the local folder: core's
/// conformance suite, one fresh folder per check.
#[test]
fn onedrive_keeps_the_destination_contract() {
    let fake = FakeGraph::start();
    let (graph, _) = signed_in(&fake);
    let n = std::sync::atomic::AtomicUsize::new(0);
    nightjar_core::destination::conformance::run_all(&|| {
        Box::new(OneDriveDestination::new(graph.clone(), &format!("/Backups/c{}", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst))))
    });
}
