//! Several destinations per job: one dump fanned out to a folder, S3
//! (moto's server) and OneDrive (the Graph fake); a destination that fails
//! while the others succeed, then the failed copy made from a good one
//! without a new dump; retention in each destination; a duplicated
//! destination refused by the config.

use std::io::Read as _;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use nightjar_core::config::{Config, DestinationSpec, Job, OneDriveSettings, ParseEnv};
use nightjar_core::destination::{Destination, LocalFolder};
use nightjar_core::engine::{OpenEnv, ONEDRIVE, S3};
use nightjar_core::history::{CopyStatus, History};
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_core::observer::NoopObserver;
use nightjar_core::paths::DataDir;
use nightjar_core::runner::{BackupOptions, RunEnd};
use nightjar_core::secrets::{MemorySecrets, SecretStore as _};
use nightjar_core::Engine;
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::{Action, FakeGraph, Fault, Kind};
use nightjar_s3::{Credentials, S3Destination};
use nightjar_tests::nightjar::str_field;
use nightjar_tests::s3::{CutProxy, S3Server, BUCKET};
use nightjar_tests::{sha256sum, toml_str, unique, Nightjar, PgCluster, Snapshot};

fn creds(server: &S3Server) -> Credentials {
    Credentials { access_key_id: server.access_key.clone(), secret_access_key: server.secret_key.clone(), session_token: None, source: "test".into() }
}

fn s3_at(server: &S3Server, prefix: &str) -> S3Destination {
    S3Destination::new(&server.settings(), &creds(server), &format!("{BUCKET}/{prefix}")).unwrap_or_else(|e| panic!("{}", e.detailed()))
}

fn names(d: &dyn Destination) -> Vec<String> {
    let mut n: Vec<String> = d.list().unwrap_or_else(|e| panic!("{}", e.detailed())).into_iter().map(|f| f.name).collect();
    n.sort();
    n
}

fn read(d: &dyn Destination, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    d.open(name).unwrap_or_else(|e| panic!("{}", e.detailed())).read_to_end(&mut v).unwrap();
    v
}

fn sha(bytes: &[u8], scratch: &std::path::Path) -> String {
    let p = scratch.join(format!("h{}", unique("x")));
    std::fs::write(&p, bytes).unwrap();
    sha256sum(&p)
}

fn parse_job(toml: &str) -> Job {
    let mut config = Config::parse(toml, None, &ParseEnv::from_system()).unwrap_or_else(|e| panic!("{}\n{toml}", e.detailed()));
    config.jobs.remove(0)
}

#[test]
fn one_run_makes_a_good_copy_in_a_folder_s3_and_onedrive() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("fan3");
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g");
    let server = S3Server::start();
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let od = OneDriveSettings { tenant: "common".into(), client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..Default::default() };
    let mut cfg = GraphConfig::from_settings(&od);
    cfg.retry = RetryPolicy { max_tries: 5, base: Duration::from_millis(10), cap: Duration::from_millis(100), max_retry_after: Duration::from_secs(2) };
    let graph = Arc::new(Graph::new(cfg, secrets.clone()).unwrap());

    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("OneDrive/Backups/fan");
    std::fs::create_dir_all(&folder).unwrap();
    let job = parse_job(&format!(
        "[[job]]\nname = \"fan\"\ndatabase = {}\ndestinations = [{}, \"s3://{BUCKET}/fan\", \"onedrive:/Backups/fan\"]\ntimezone = \"UTC\"\ntool_dir = {}\n",
        toml_str(&pg.url(&db)),
        toml_str(&folder.display().to_string()),
        toml_str(&pg.bin().display().to_string())
    ));
    assert_eq!(job.destinations.len(), 3);
    assert_eq!(job.destination, DestinationSpec::Folder(folder.clone()), "the first is the primary");

    let data = DataDir::new(scratch.path().join("data"));
    let (s3_settings, s3_creds) = (server.settings(), creds(&server));
    let g = graph.clone();
    let engine = Engine::builder(data)
        .history(Arc::new(History::open_in_memory().unwrap()))
        .secrets(secrets.clone())
        .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(OneDriveDestination::new(g.clone(), p)) as Box<dyn Destination>))
        .destination(S3, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(S3Destination::new(&s3_settings, &s3_creds, p)?) as Box<dyn Destination>))
        .build();
    let cancel = AtomicBool::new(false);
    let runner = engine.runner(&NoopObserver, &cancel).unwrap();
    let report = runner.backup(&job, &BackupOptions::new(Trigger::Manual)).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert!(report.file.starts_with(&folder.display().to_string()), "the primary's copy is the run's file: {}", report.file);

    // Three copies of the same bytes, each with its manifest.
    let local = LocalFolder::new(folder.clone());
    let s3 = s3_at(&server, "fan");
    let name = report.name.clone();
    let from_folder = std::fs::read(folder.join(&name)).unwrap();
    let from_s3 = read(&s3, &name);
    let from_od = fake.file(&format!("/Backups/fan/{name}")).expect("the OneDrive copy");
    for (what, bytes) in [("folder", &from_folder), ("S3", &from_s3), ("OneDrive", &from_od)] {
        assert_eq!(sha(bytes, scratch.path()), report.sha256, "the {what} copy hashes to the run's sha256");
    }
    assert_eq!(names(&local), vec![name.clone(), format!("{name}.json")]);
    assert_eq!(names(&s3), vec![name.clone(), format!("{name}.json")]);
    let manifest: serde_json::Value = serde_json::from_slice(&fake.file(&format!("/Backups/fan/{name}.json")).expect("the OneDrive manifest")).unwrap();
    assert_eq!(manifest["sha256"], report.sha256);
    assert_eq!(read(&s3, &format!("{name}.json")), std::fs::read(folder.join(format!("{name}.json"))).unwrap(), "one manifest, written to each copy");

    // The history has the three good copies; the status lists them.
    let history = engine.history().unwrap();
    let run = history.get(report.run_id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Success);
    let copies = history.copies(report.run_id).unwrap();
    assert_eq!(copies.iter().map(|c| (c.destination.as_str(), c.status)).collect::<Vec<_>>(), vec![
        (folder.to_str().unwrap(), CopyStatus::Good),
        ("s3://nightjar-test/fan", CopyStatus::Good),
        ("onedrive:/Backups/fan", CopyStatus::Good),
    ]);
    let status = nightjar_core::status::job_status(history, &job, chrono::Utc::now()).unwrap();
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["copies"].as_array().unwrap().len(), 3, "{json}");
    assert_eq!(json["copies"][2]["status"], "good", "{json}");
    assert_eq!(json["destinations"][1], "s3://nightjar-test/fan");

    // restore --latest reads the newest good copy from the folder.
    let latest = engine.latest_backup(&job).unwrap();
    assert_eq!(latest.path, folder.join(&name).display().to_string());
}

#[test]
fn a_failed_copy_fails_the_run_keeps_the_others_and_is_made_again_from_a_good_copy() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("fancut");
    // About 6 MB of dump, stored uncompressed.
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1, 70000) g");
    let server = S3Server::start();
    let proxy = CutProxy::start(server.port);
    let nj = Nightjar::new()
        .with_env("AWS_ACCESS_KEY_ID", &server.access_key)
        .with_env("AWS_SECRET_ACCESS_KEY", &server.secret_key)
        .with_env("NIGHTJAR_COPY_RETRY_PAUSE_MS", "200");
    let folder = nj.scratch().join("Backups/app");
    std::fs::create_dir_all(&folder).unwrap();
    let job = unique("fancut");
    let config = |retention: &str| {
        format!(
            "[[job]]\nname = {}\ndatabase = {}\ndestinations = [{}, \"s3://{BUCKET}/app\"]\ntimezone = \"UTC\"\ncompression = \"none\"\ntool_dir = {}\n{retention}\n\n[s3]\nendpoint = \"http://127.0.0.1:{}\"\npath_style = true\n",
            toml_str(&job),
            toml_str(&pg.url(&db)),
            toml_str(&folder.display().to_string()),
            toml_str(&pg.bin().display().to_string()),
            proxy.port
        )
    };
    nj.write_config(&config(""));
    let original = Snapshot::take(pg, &db);

    proxy.cut_after(2 << 20);
    let out = nj.run(["backup", "--job", &job]).assert_failure();
    assert!(proxy.cuts() > 0, "the proxy cut the upload");
    let line = out.error_line();
    assert!(line.contains("The copy to s3://nightjar-test/app failed: "), "{line}\n{}", nj.logs());
    assert!(line.contains(&format!("; the copy in {} is good.", folder.display())), "{line}");

    // The folder copy is committed with its manifest; nothing in S3.
    let local = LocalFolder::new(folder.clone());
    let s3 = s3_at(&server, "app");
    let in_folder = names(&local);
    assert_eq!(in_folder.len(), 2, "the backup and its manifest: {in_folder:?}");
    assert!(in_folder[1].ends_with(".json"));
    let name = in_folder[0].clone();
    assert!(names(&s3).is_empty(), "no partial object in S3: {:?}", names(&s3));
    let rows = nj.history(Some(&job));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(str_field(&rows[0], "status"), "failed", "{rows:?}");
    let run_id = rows[0]["id"].as_i64().unwrap();
    let status = nj.run(["status", "--json"]).assert_success().json();
    let copies = &status["jobs"][0]["copies"];
    assert_eq!(copies[0]["status"], "good", "{status}");
    assert_eq!(copies[1]["status"], "failed", "{status}");
    assert_eq!(copies[1]["destination"], "s3://nightjar-test/app", "{status}");
    let text = nj.run(["status"]).assert_success();
    assert!(text.stdout.contains("s3://nightjar-test/app ✗"), "{}", text.stdout);
    // `history` lists the run's copies too.
    assert_eq!(rows[0]["copies"][1]["status"], "failed", "{rows:?}");
    let text = nj.run(["history", "--job", &job]).assert_success();
    assert!(text.stdout.contains(&format!("copy: {} ✓", folder.display())), "{}", text.stdout);
    assert!(text.stdout.contains("copy: s3://nightjar-test/app ✗ "), "{}", text.stdout);

    // The database changes; the copy made afterwards is the first dump's bytes, not a new dump.
    pg.psql(&db, "INSERT INTO t VALUES (999999, 'after the run')");
    proxy.heal();
    let copied = nj.run(["copy", &run_id.to_string(), "--json"]).assert_success().json();
    assert_eq!(copied[1]["status"], "good", "{copied}");
    assert_eq!(copied[1]["copied_from"], folder.display().to_string(), "{copied}");
    assert_eq!(names(&s3), vec![name.clone(), format!("{name}.json")]);
    assert_eq!(read(&s3, &name), std::fs::read(folder.join(&name)).unwrap(), "the S3 copy is the folder copy's bytes");
    let rows = nj.history(Some(&job));
    assert_eq!(rows.len(), 1, "no new run (no new dump): {rows:?}");
    assert_eq!(str_field(&rows[0], "status"), "success", "the run turned good: {rows:?}");
    assert_eq!(rows[0]["copies"][1]["copied_from"], folder.display().to_string(), "{rows:?}");
    let text = nj.run(["history", "--job", &job]).assert_success();
    assert!(text.stdout.contains(&format!("copy: s3://nightjar-test/app ✓ (copied from {})", folder.display())), "{}", text.stdout);
    let list = nj.run(["list", "--job", &job, "--json"]).assert_success().json();
    let paths: Vec<&str> = list.as_array().unwrap().iter().map(|e| str_field(e, "path")).collect();
    assert_eq!(paths, vec![folder.join(&name).display().to_string(), format!("s3://{BUCKET}/app/{name}")], "each copy is listed");

    // restore --latest gives the data of the backup.
    let _ = nj.run(["restore", "--job", &job, "--latest", "--yes"]).assert_success();
    original.assert_same(&Snapshot::take(pg, &db), "after `restore --latest` of a backup with two copies");

    // Retention runs in each destination: keep_last = 1 leaves the newest in both.
    nj.write_config(&config("[job.retention]\nkeep_days = 0\nkeep_last = 1\n"));
    let made = nj.run(["backup", "--job", &job, "--json"]).assert_success().json();
    let newest = str_field(&made, "name").to_string();
    assert_eq!(made["copies"].as_array().map(Vec::len), Some(2), "{made}");
    assert_eq!(names(&local), vec![newest.clone(), format!("{newest}.json")], "the folder keeps its newest");
    assert_eq!(names(&s3), vec![newest.clone(), format!("{newest}.json")], "S3 keeps its newest");
}

#[test]
fn a_scheduled_retry_of_a_run_with_a_failed_copy_copies_from_the_good_one_without_a_new_dump() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("fanretry");
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g");
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let od = OneDriveSettings { tenant: "common".into(), client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..Default::default() };
    let mut cfg = GraphConfig::from_settings(&od);
    cfg.retry = RetryPolicy { max_tries: 2, base: Duration::from_millis(10), cap: Duration::from_millis(50), max_retry_after: Duration::from_secs(1) };
    let graph = Arc::new(Graph::new(cfg, secrets.clone()).unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("Backups/r");
    let job = parse_job(&format!(
        "[[job]]\nname = \"r\"\ndatabase = {}\ndestinations = [{}, \"onedrive:/Backups/r\"]\nschedule = \"daily 00:00\"\nretries = 2\ntimezone = \"UTC\"\ntool_dir = {}\n",
        toml_str(&pg.url(&db)),
        toml_str(&folder.display().to_string()),
        toml_str(&pg.bin().display().to_string())
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let g = graph.clone();
    let engine = Engine::builder(DataDir::new(scratch.path().join("data")))
        .history(Arc::new(History::open_in_memory().unwrap()))
        .secrets(secrets.clone())
        .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(OneDriveDestination::new(g.clone(), p)) as Box<dyn Destination>))
        .build();
    let cancel = AtomicBool::new(false);
    let runner = engine.runner(&NoopObserver, &cancel).unwrap();

    // OneDrive is full: every upload is refused, the run's and the end-of-run retry's.
    for kind in [Kind::SimpleUpload, Kind::CreateSession] {
        fake.inject(Fault::new(kind, Action::quota_full()).times(1000));
    }
    let mut opts = BackupOptions::new(Trigger::Scheduled);
    opts.attempt = Some(0);
    let RunEnd::Failed { error, retry_at } = runner.run(&job, &opts) else { panic!("the run fails while a copy is missing") };
    let message = error.message().to_string();
    assert!(message.starts_with("The copy to onedrive:/Backups/r failed: "), "{message}");
    assert!(message.ends_with(&format!("; the copy in {} is good.", folder.display())), "{message}");
    assert!(retry_at.is_some(), "a scheduled run is retried");
    assert!(fake.names("/Backups/r").is_empty(), "nothing under a backup's name in OneDrive: {:?}", fake.names("/Backups/r"));
    let local = LocalFolder::new(folder.clone());
    let in_folder = names(&local);
    assert_eq!(in_folder.len(), 2, "{in_folder:?}");
    let name = in_folder[0].clone();
    let history = engine.history().unwrap();
    let runs = history.runs(&Default::default()).unwrap();
    assert_eq!((runs.len(), runs[0].status), (1, RunStatus::Failed));
    assert_eq!(runs[0].error.as_deref(), Some(message.as_str()));
    let copies = history.copies(runs[0].id).unwrap();
    assert_eq!(copies.iter().map(|c| c.status).collect::<Vec<_>>(), vec![CopyStatus::Good, CopyStatus::Failed]);

    // OneDrive has room again and the database changed: the retry copies the
    // folder's backup (the first dump's bytes), it does not dump again.
    fake.clear_faults();
    pg.psql(&db, "INSERT INTO t VALUES (999999, 'after the run')");
    opts.attempt = Some(1);
    let RunEnd::Done(report) = runner.run(&job, &opts) else { panic!("the retry copies from the good copy") };
    assert_eq!(report.run_id, runs[0].id, "the same run turned good");
    let runs = history.runs(&Default::default()).unwrap();
    assert_eq!((runs.len(), runs[0].status), (1, RunStatus::Success), "no new run, the run is good");
    assert_eq!(names(&local), in_folder, "no new dump in the folder");
    let uploaded = fake.file(&format!("/Backups/r/{name}")).expect("the OneDrive copy");
    assert!(uploaded == std::fs::read(folder.join(&name)).unwrap(), "the OneDrive copy is the folder's bytes");
    assert!(fake.file(&format!("/Backups/r/{name}.json")).is_some(), "with its manifest");
    let copies = history.copies(runs[0].id).unwrap();
    assert_eq!(copies[1].status, CopyStatus::Good);
    assert_eq!(copies[1].copied_from.as_deref(), Some(folder.to_str().unwrap()));

    // A copy that fails once is made again at the end of the same run: the run is good.
    fake.inject(Fault::new(Kind::CreateSession, Action::quota_full()).times(1));
    opts.attempt = Some(0);
    let RunEnd::Done(report) = runner.run(&job, &opts) else { panic!("the end-of-run retry makes the missing copy") };
    assert_eq!(fake.pending_faults(), 0, "the upload was refused once");
    assert_eq!(report.copies.len(), 2);
    assert_eq!(report.copies[1].copied_from.as_deref(), Some(folder.to_str().unwrap()), "{:?}", report.copies);
    assert_eq!(history.get(report.run_id).unwrap().unwrap().status, RunStatus::Success);
    assert!(fake.file(&format!("/Backups/r/{}", report.name)).is_some());
}

#[test]
fn a_destination_given_twice_or_both_keys_is_a_field_error_naming_the_job() {
    let env = ParseEnv::from_system();
    let base = "[[job]]\nname = \"dup\"\ndatabase = \"postgres://u@h/db\"\n";
    let e = Config::parse(&format!("{base}destinations = [\"/b/app\", \"s3://bucket/app\", \"/b/app/\"]\n"), None, &env).unwrap_err();
    assert!(e.message().contains("\"dup\"") && e.message().contains("`destinations`") && e.message().contains("listed twice"), "{e}");
    let e = Config::parse(&format!("{base}destination = \"/b\"\ndestinations = [\"/c\"]\n"), None, &env).unwrap_err();
    assert!(e.message().contains("not both"), "{e}");
    let e = Config::parse(&format!("{base}destinations = []\n"), None, &env).unwrap_err();
    assert!(e.message().contains("empty"), "{e}");
    let nj = Nightjar::new();
    nj.write_config(&format!("{base}destinations = [\"/b/app\", \"/b/app\"]\n"));
    let out = nj.run(["status"]).assert_failure();
    assert!(out.error_line().contains("listed twice"), "{}", out.error_line());
}
