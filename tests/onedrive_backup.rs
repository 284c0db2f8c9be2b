//! Real backups (a throwaway PostgreSQL cluster, `pg_dump`) through core's
//! runner into an `onedrive:` destination served by the local Graph fake
//! (`nightjar-onedrive-fake`): the backup and its manifest land in OneDrive,
//! retention over a paged listing deletes only this job's files, an expired
//! sign-in fails the run clearly (with an event) and keeps the token, and a
//! backup in OneDrive restores and verifies from a private local copy.

use std::io::Read as _;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightjar_core::config::{Config, Job, OneDriveSettings, ParseEnv};
use nightjar_core::history::History;
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_core::observer::{Event, NoopObserver, RunObserver};
use nightjar_core::paths::DataDir;
use nightjar_core::history::{RunFilter, RunKind};
use nightjar_core::remote;
use nightjar_core::restore::{RestoreOptions, VerifyOptions};
use nightjar_core::runner::BackupOptions;
use nightjar_core::engine::{OpenEnv, ONEDRIVE};
use nightjar_core::Engine;
use nightjar_core::secrets::{MemorySecrets, SecretStore};
use nightjar_core::ErrorKind;
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT, USER_ACCOUNT};
use nightjar_onedrive_fake::{Action, FakeGraph, Fault, Host, Kind};
use nightjar_tests::{sha256sum, toml_str, unique, PgCluster};

/// An engine whose `onedrive:` destinations go to `graph` (the fake's),
/// with `history` and `secrets`, working in `data`.
fn engine_for(graph: Arc<Graph>, secrets: Arc<MemorySecrets>, data: &DataDir, history: History) -> Engine {
    Engine::builder(data.clone())
        .history(Arc::new(history))
        .secrets(secrets)
        .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(OneDriveDestination::new(graph.clone(), p)) as Box<_>))
        .build()
}

fn settings(fake: &FakeGraph) -> OneDriveSettings {
    OneDriveSettings { tenant: "common".into(), client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..Default::default() }
}

/// One job parsed from `toml` (a single `[[job]]`).
fn parse_job(toml: &str) -> Job {
    let mut config = Config::parse(toml, None, &ParseEnv::from_system()).unwrap_or_else(|e| panic!("{}\n{toml}", e.detailed()));
    assert_eq!(config.jobs.len(), 1, "{toml}");
    config.jobs.remove(0)
}

/// `tool_dir` pinned to the cluster's own PostgreSQL tools.
fn tool_dir(pg: &PgCluster) -> String {
    format!("tool_dir = {}\n", toml_str(&pg.bin().display().to_string()))
}

#[test]
fn a_backup_lands_in_onedrive_retention_keeps_foreign_files_and_it_downloads_back() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("od");
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g");

    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let mut cfg = GraphConfig::from_settings(&settings(&fake));
    cfg.retry = RetryPolicy { max_tries: 5, base: Duration::from_millis(10), cap: Duration::from_millis(100), max_retry_after: Duration::from_secs(2) };
    let graph = Arc::new(Graph::new(cfg, secrets.clone()).unwrap());

    // 300 foreign files: the listing takes two pages.
    for i in 0..300 {
        fake.put_file(&format!("/Backups/od/holiday-{i:03}.jpg"), b"photo");
    }

    let job = parse_job(&format!(
        "[[job]]\nname = \"odjob\"\ndatabase = {}\ndestination = \"onedrive:/Backups/od\"\ncompression = \"zstd\"\ntimezone = \"UTC\"\n{}\n\
         [job.retention]\nkeep_days = 0\nkeep_last = 1\n",
        toml_str(&pg.url(&db)),
        tool_dir(pg)
    ));
    let scratch = tempfile::tempdir().unwrap();
    let data = DataDir::new(scratch.path().join("data"));
    let history = History::open_in_memory().unwrap();
    let cancel = AtomicBool::new(false);
    let engine = engine_for(graph, secrets.clone(), &data, history);
    let r = engine.runner(&NoopObserver, &cancel).unwrap();
    let mut opts = BackupOptions::new(Trigger::Manual);
    opts.prune = false;
    let report = r.backup(&job, &opts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert!(report.file.starts_with("onedrive:/Backups/od/odjob_"), "{}", report.file);
    let stored = fake.file(&format!("/Backups/od/{}", report.name)).expect("uploaded");
    assert_eq!(stored.len() as u64, report.size);
    let local_copy = scratch.path().join(&report.name);
    std::fs::write(&local_copy, &stored).unwrap();
    assert_eq!(sha256sum(&local_copy), report.sha256, "the stored bytes hash to the reported sha256");
    assert!(fake.file(&format!("/Backups/od/{}.json", report.name)).is_some(), "the manifest went up beside it");

    // Older backups of this job, each with its manifest (as Nightjar writes them).
    let manifest: serde_json::Value = serde_json::from_slice(&fake.file(&format!("/Backups/od/{}.json", report.name)).unwrap()).unwrap();
    let ext = report.name.split_once('.').map(|(_, e)| e.to_string()).unwrap();
    for day in 1..=3 {
        let name = format!("odjob_2020-01-0{day}_00-00-00.{ext}");
        let mut m = manifest.clone();
        m["file"] = serde_json::json!(name);
        fake.put_file(&format!("/Backups/od/{name}"), &stored);
        fake.put_file(&format!("/Backups/od/{name}.json"), m.to_string().as_bytes());
    }
    // A foreign file that looks like ours but has no manifest.
    fake.put_file(&format!("/Backups/od/odjob_2019-01-01_00-00-00.{ext}"), b"not ours");
    assert_eq!(fake.names("/Backups/od").len(), 300 + 2 + 6 + 1);

    // Retention: only our files go; the foreign ones stay.
    let pruned = r.prune(&job, false).unwrap();
    assert_eq!(pruned.deleted.len(), 3, "{pruned:?}");
    assert!(pruned.errors.is_empty(), "{:?}", pruned.errors);
    let names = fake.names("/Backups/od");
    assert!(!names.iter().any(|n| n.starts_with("odjob_2020")), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("holiday-")).count(), 300);
    assert!(names.contains(&format!("odjob_2019-01-01_00-00-00.{ext}")));
    assert!(names.contains(&report.name));
    assert!(fake.requests().iter().any(|r| r.uri.contains("$skiptoken=")), "the listing was paged");

    // Download for restore/verify: byte-identical, no bearer on the content host.
    let dest = engine.open_destination(&job.destination).unwrap();
    let mut back = Vec::new();
    dest.open(&report.name).unwrap().read_to_end(&mut back).unwrap();
    assert!(back == stored, "the download is byte-identical to the upload");
    for req in fake.requests().iter().filter(|r| r.host == Host::Content) {
        assert!(req.header("authorization").is_none(), "{}", req.uri);
    }

    // Verify and delete by address, as the window's History view does:
    // the core downloads the file itself, and deletes file and manifest
    // through the destination.
    let restorer = engine.restorer(&NoopObserver, &cancel).unwrap();
    let v = restorer.verify_address(&report.file, &VerifyOptions::default()).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert_eq!(v.file, report.file, "the report names the backup in OneDrive");
    assert_eq!(std::fs::read_dir(remote::downloads_dir(&data)).unwrap().count(), 0, "the private copy is removed");
    engine.delete_backup(&report.file).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert!(fake.file(&format!("/Backups/od/{}", report.name)).is_none(), "the backup is deleted");
    assert!(fake.file(&format!("/Backups/od/{}.json", report.name)).is_none(), "its manifest too");
    assert!(!dest.exists(&report.name).unwrap());
    engine.delete_backup(&report.file).expect("a backup already gone counts as deleted");
}

/// Collects the events other than a run's own lifecycle (started,
/// finished, skipped, failed; `run_events.rs` covers those).
#[derive(Default)]
struct Events(Mutex<Vec<Event>>);
impl RunObserver for Events {
    fn event(&self, e: &Event) {
        if matches!(e, Event::RunStarted { .. } | Event::RunFinished { .. } | Event::RunSkipped { .. } | Event::RunFailed { .. }) {
            return;
        }
        self.0.lock().unwrap().push(e.clone());
    }
}

#[test]
fn an_expired_sign_in_fails_the_run_clearly_with_an_event_and_keeps_the_token() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    let token = fake.issue_refresh_token();
    secrets.set(REFRESH_ACCOUNT, &token).unwrap();
    secrets.set(USER_ACCOUNT, "fake.user@example.com").unwrap();
    fake.inject(Fault::new(Kind::Refresh, Action::invalid_grant(700_082)).times(100));
    let graph = Arc::new(Graph::new(GraphConfig::from_settings(&settings(&fake)), secrets.clone()).unwrap());

    // The database is unreachable on purpose (a socket dir with no server in
    // it): the run must fail on the OneDrive sign-in, not on the database.
    let scratch = tempfile::tempdir().unwrap();
    let no_server = scratch.path().join("no-server");
    std::fs::create_dir(&no_server).unwrap();
    let job = parse_job(&format!(
        "[[job]]\nname = \"exp\"\ndatabase = {}\ndestination = \"onedrive:/Backups/exp\"\ntimezone = \"UTC\"\n",
        toml_str(&format!("postgres://nobody@/none?host={}", no_server.display()))
    ));
    let data = DataDir::new(scratch.path().join("data"));
    let history = History::open_in_memory().unwrap();
    let cancel = AtomicBool::new(false);
    let events = Events::default();
    let engine = engine_for(graph, secrets.clone(), &data, history);
    let r = engine.runner(&events, &cancel).unwrap();
    for _ in 0..2 {
        let e = r.backup(&job, &BackupOptions::new(Trigger::Scheduled)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthExpired, "{}", e.detailed());
        assert!(e.to_string().starts_with("OneDrive sign-in expired for fake.user@example.com"), "{e}");
    }
    let got = events.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        matches!(&got[0], Event::OneDriveSignInExpired { job, account: Some(a), .. } if job == "exp" && a == "fake.user@example.com"),
        "{got:?}"
    );
    assert_eq!(secrets.get(REFRESH_ACCOUNT).unwrap().as_deref(), Some(token.as_str()), "the stored token is untouched");
    assert!(fake.names("/Backups").is_empty());
}

#[test]
fn a_backup_in_onedrive_restores_and_verifies_from_a_private_copy_recorded_by_its_address() {
    let pg = PgCluster::shared();
    let src = pg.fresh_db("od_src");
    let restored = unique("od_restored");
    pg.psql(&src, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g");

    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let graph = Arc::new(Graph::new(GraphConfig::from_settings(&settings(&fake)), secrets.clone()).unwrap());
    let job = parse_job(&format!(
        "[[job]]\nname = \"odr\"\ndatabase = {}\ndestination = \"onedrive:/Backups/odr\"\ntimezone = \"UTC\"\n{}",
        toml_str(&pg.url(&src)),
        tool_dir(pg)
    ));
    let scratch = tempfile::tempdir().unwrap();
    let data = DataDir::new(scratch.path().join("data"));
    let history = History::open_in_memory().unwrap();
    let cancel = AtomicBool::new(false);
    let engine = engine_for(graph, secrets.clone(), &data, history);
    let history = engine.history().unwrap();
    let r = engine.runner(&NoopObserver, &cancel).unwrap();
    let report = r.backup(&job, &BackupOptions::new(Trigger::Manual)).unwrap_or_else(|e| panic!("{}", e.detailed()));

    // `restore --job odr --latest`: the newest backup is found in OneDrive,
    // downloaded with its manifest (sha256 checked) into the data folder,
    // restored by the stock restorer, and the copy is gone afterwards.
    let latest = engine.latest_backup(&job).unwrap();
    assert_eq!(latest.path, report.file);
    let copy = remote::fetch(&engine, &latest.path, &NoopObserver, &job.name, &cancel).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert!(copy.has_manifest());
    assert_eq!(copy.sha256(), report.sha256);
    assert!(copy.path().starts_with(remote::downloads_dir(&data)), "{}", copy.path().display());
    let restorer = engine.restorer(&NoopObserver, &cancel).unwrap();
    let opts = RestoreOptions { as_new: Some(restored.clone()), safety_backup: false, origin: Some(copy.origin().to_string()), ..Default::default() };
    let done = restorer.run(copy.path(), &job, &opts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    drop(copy);
    assert_eq!(pg.psql(&restored, "SELECT count(*) FROM t"), "5000");
    assert_eq!(done.file, report.file, "the report names the backup in OneDrive");
    let row = history.get(done.run_id).unwrap().unwrap();
    assert_eq!(row.kind, RunKind::Restore);
    assert_eq!(row.file.as_deref(), Some(report.file.as_str()), "the history names the backup in OneDrive, not the copy");
    assert_eq!(std::fs::read_dir(remote::downloads_dir(&data)).unwrap().count(), 0, "the private copy is removed");

    // `verify onedrive:/… --restore-test --job odr`: marks the OneDrive backup verified.
    let copy = remote::fetch(&engine, &report.file, &NoopObserver, &job.name, &cancel).unwrap();
    let vopts = VerifyOptions { restore_test: Some(job.clone()), origin: Some(copy.origin().to_string()), ..Default::default() };
    let v = restorer.verify(copy.path(), &vopts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    drop(copy);
    assert_eq!(v.file, report.file);
    assert_eq!(v.backup_run_id, Some(report.run_id));
    assert!(history.get(report.run_id).unwrap().unwrap().verified_at.is_some(), "the OneDrive backup is marked verified");
    for req in fake.requests().iter().filter(|r| r.host == Host::Content) {
        assert!(req.header("authorization").is_none(), "no bearer on the download host: {}", req.uri);
    }

    // A file changed in OneDrive after the backup fails the sha256 check
    // against its manifest before anything runs, and leaves no copy behind.
    let mut bytes = fake.file(&format!("/Backups/odr/{}", report.name)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fake.put_file(&format!("/Backups/odr/{}", report.name), &bytes);
    let e = remote::fetch(&engine, &report.file, &NoopObserver, &job.name, &cancel).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidBackup, "{}", e.detailed());
    assert!(e.message().starts_with(&report.file) && e.message().contains("sha256"), "{e}");
    assert_eq!(std::fs::read_dir(remote::downloads_dir(&data)).unwrap().count(), 0, "a failed download leaves nothing");

    // A damaged file without a manifest downloads, then the restore refuses
    // it; the error and the history name the OneDrive address, not the copy.
    let damaged = "odr_2020-01-01_00-00-00.sql.zst";
    fake.put_file(&format!("/Backups/odr/{damaged}"), &bytes[..bytes.len() / 2]);
    let origin = format!("onedrive:/Backups/odr/{damaged}");
    let copy = remote::fetch(&engine, &origin, &NoopObserver, &job.name, &cancel).unwrap();
    assert!(!copy.has_manifest());
    let opts = RestoreOptions { as_new: Some(unique("od_never")), safety_backup: false, origin: Some(copy.origin().to_string()), ..Default::default() };
    let e = restorer.run(copy.path(), &job, &opts).unwrap_err();
    drop(copy);
    assert!(e.message().contains(&origin) && !e.message().contains("downloads"), "{e}");
    let rows = history.runs(&RunFilter { kind: Some(RunKind::Restore), ..RunFilter::default() }).unwrap();
    let failed = rows.iter().find(|r| r.status != RunStatus::Success).expect("the refusal is recorded");
    assert_eq!(failed.file.as_deref(), Some(origin.as_str()));
    assert!(failed.error.as_deref().is_some_and(|m| m.contains(&origin) && !m.contains("downloads")), "{failed:?}");

    // A dump someone else put into the shared folder (no manifest) is not
    // ours: refused before anything is created, named by its address, and
    // restored only with the acknowledgement.
    let foreign = "odr_2020-01-02_00-00-00.sql";
    fake.put_file(
        &format!("/Backups/odr/{foreign}"),
        b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n-- Dumped by pg_dump version 16.4\n\nCREATE TABLE public.foreign_t (id integer);\n\n--\n-- PostgreSQL database dump complete\n--\n\n",
    );
    let origin = format!("onedrive:/Backups/odr/{foreign}");
    let target = unique("od_foreign");
    let copy = remote::fetch(&engine, &origin, &NoopObserver, &job.name, &cancel).unwrap();
    let mut opts = RestoreOptions { as_new: Some(target.clone()), safety_backup: false, origin: Some(copy.origin().to_string()), ..Default::default() };
    let plan = restorer.prepare(copy.path(), &job, &opts).unwrap();
    assert_eq!(plan.trust.as_ref().map(|t| t.origin), Some(nightjar_core::trust::FileOrigin::NotOurs), "{plan:?}");
    let e = restorer.restore(&plan, &job, &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsConfirmation, "{}", e.detailed());
    assert!(e.message().starts_with(&origin) && e.message().contains("was not made by this Nightjar"), "{e}");
    assert_eq!(pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{target}%'")), "0");
    let vopts = VerifyOptions { restore_test: Some(job.clone()), origin: Some(copy.origin().to_string()), ..Default::default() };
    assert!(restorer.verify(copy.path(), &vopts).unwrap_err().message().contains("was not made by this Nightjar"));
    opts.trust_file = true;
    restorer.restore(&plan, &job, &opts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    drop(copy);
    assert_eq!(pg.psql(&target, "SELECT count(*) FROM pg_tables WHERE tablename = 'foreign_t'"), "1");
}

/// Several Nightjar processes (the tray, the window, the CLI) that need the
/// OneDrive sign-in at the same moment, against a sign-in service that
/// invalidates a refresh token once it is used (the fake's strict
/// rotation) that answers the first of them slowly: each redeems the token
/// the one before stored, so none is refused and the stored token is the
/// newest. (Without the turns, the others send the token the slow one has
/// used up and are refused before the rotated one is stored.)
#[test]
fn processes_that_refresh_the_sign_in_at_once_take_turns() {
    let fake = FakeGraph::start();
    let nj = nightjar_tests::Nightjar::new();
    nj.write_config(&format!(
        "[secrets]\nstore = \"file\"\n\n[onedrive]\nclient_id = \"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n",
        fake.login_base(),
        fake.graph_base()
    ));
    let secrets = nightjar_core::secrets::FileSecrets::new(nj.config_path().parent().unwrap().join("credentials.toml"));
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    secrets.set(USER_ACCOUNT, "fake.user@example.com").unwrap();
    for round in 0..3 {
        fake.inject(Fault::new(Kind::Refresh, Action::SlowAnswer { delay: Duration::from_secs(1) }));
        let children: Vec<_> = (0..3).map(|_| nj.cmd(["onedrive", "whoami"]).spawn()).collect();
        for child in children {
            let out = child.wait(Duration::from_secs(60)).assert_success();
            assert!(out.stdout.starts_with("fake.user@example.com"), "round {round}: {}", out.stdout);
        }
    }
    // The stored token is the one the last refresh issued: one more works.
    let _ = nj.run(["onedrive", "whoami"]).assert_success();
}
