//! `[onedrive] staging = true`: a process killed (SIGKILL) in the middle
//! of an upload leaves the staged backup, its manifest and the saved
//! upload session; the next process resumes the session from
//! `nextExpectedRanges` (or starts over when it has expired), uploads the
//! manifest, and marks the interrupted history row successful. The upload
//! runs in a child process (this test binary, re-run on the child test
//! below) so that the kill is a real one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone as _, Utc};
use nightjar_core::config::OneDriveSettings;
use nightjar_core::destination::Destination as _;
use nightjar_core::history::{History, NewRun, RunKind};
use nightjar_core::manifest::Manifest;
use nightjar_core::model::{Compression, Engine, Format, RunStatus, Trigger};
use nightjar_core::observer::{Event, RunObserver};
use nightjar_core::secrets::{MemorySecrets, SecretStore};
use nightjar_onedrive::config::FRAGMENT_UNIT;
use nightjar_onedrive::staging::{self, StagedUpload};
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::{Action, FakeGraph, Fault, Kind};

const CHILD: &str = "NJ_STAGING_CHILD";

fn graph(login: String, graph_base: String, token: &str, dir: &Path) -> Arc<Graph> {
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, token).unwrap();
    let settings = OneDriveSettings { client_id: Some("test".into()), login_base_url: login, graph_base_url: graph_base, ..OneDriveSettings::default() };
    let mut cfg = GraphConfig::from_settings(&settings);
    cfg.fragment_size = FRAGMENT_UNIT;
    cfg.retry = RetryPolicy { max_tries: 5, base: Duration::from_millis(10), cap: Duration::from_millis(50), max_retry_after: Duration::from_secs(3600) };
    cfg.resume_dir = Some(dir.to_path_buf());
    Arc::new(Graph::new(cfg, secrets).unwrap())
}

/// The child: what the runner does with a staged OneDrive destination,
/// until the parent kills it (a 429 with a long Retry-After holds it).
#[test]
fn staged_upload_child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let v: Vec<&str> = spec.split('\n').collect();
    let (login, graph_base, token, dir, name, data, manifest) = (v[0], v[1], v[2], Path::new(v[3]), v[4], v[5], v[6]);
    let dest = OneDriveDestination::new(graph(login.into(), graph_base.into(), token, dir), "/Backups/st");
    dest.prepare().unwrap();
    let mut main = dest.create(name).unwrap();
    main.write_all(&std::fs::read(data).unwrap()).unwrap();
    let mut m = dest.create(&format!("{name}.json")).unwrap();
    m.write_all(&std::fs::read(manifest).unwrap()).unwrap();
    main.commit().unwrap();
    panic!("the upload finished before the parent killed this process");
}

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);
impl RunObserver for Events {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

fn manifest(name: &str, data: &[u8], started_at: chrono::DateTime<Utc>) -> Vec<u8> {
    Manifest {
        app: nightjar_core::manifest::APP.into(),
        manifest_version: nightjar_core::manifest::MANIFEST_VERSION,
        app_version: "0".into(),
        job: "st".into(),
        file: name.into(),
        size: data.len() as u64,
        sha256: "00".repeat(32),
        dump_size: data.len() as u64,
        engine: Engine::Postgres,
        database: "st".into(),
        server: "h:5432".into(),
        server_version: None,
        tool: "pg_dump".into(),
        tool_version: "17".into(),
        format: Format::Plain,
        compression: Compression::Zstd,
        compression_level: 3,
        encryption: nightjar_core::manifest::ManifestEncryption::None,
        trigger: Trigger::Scheduled,
        timezone: "UTC".into(),
        selection: nightjar_core::config::Selection::default(),
        started_at,
        finished_at: started_at + chrono::Duration::seconds(3),
        hmac: None,
    }
    .to_json()
}

/// Runs the child until its third fragment is throttled, then kills it.
fn crash_mid_upload(fake: &FakeGraph, dir: &Path, scratch: &Path, name: &str, data: &[u8], manifest: &[u8]) {
    let data_path = scratch.join(format!("{name}.src"));
    let manifest_path = scratch.join(format!("{name}.manifest"));
    std::fs::write(&data_path, data).unwrap();
    std::fs::write(&manifest_path, manifest).unwrap();
    fake.inject(Fault::new(Kind::Fragment, Action::throttle(Some(3600))).after(2).times(1));
    let spec = [fake.login_base(), fake.graph_base(), fake.issue_refresh_token(), dir.display().to_string(), name.into(), data_path.display().to_string(), manifest_path.display().to_string()].join("\n");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["staged_upload_child", "--exact", "--nocapture"])
        .env(CHILD, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed on every way out, so a failing assertion leaves no child waiting on its Retry-After.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.pending_faults() > 0 {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the child ended ({status}) before its upload was throttled");
        }
        assert!(Instant::now() < deadline, "the child never reached its third fragment");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(child); // SIGKILL: no destructor runs in the child
}

/// Fragment PUTs of a `total`-byte upload that start at byte 0.
fn ranges_from_zero(fake: &FakeGraph, total: usize) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.header("content-range").is_some_and(|c| c.starts_with("bytes 0-") && c.ends_with(&format!("/{total}"))))
        .count()
}

#[test]
fn an_upload_killed_midway_resumes_from_its_saved_session_or_starts_over_when_it_expired() {
    let fake = FakeGraph::start();
    let scratch = tempfile::tempdir().unwrap();
    let dir: PathBuf = scratch.path().join("data/onedrive-staging");
    let history = History::open_in_memory().unwrap();
    let events = Events::default();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();

    for (round, expire) in [(1, false), (2, true)] {
        let name = format!("st_2026-03-01_02-00-0{round}.sql.zst");
        let started_at = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, round).unwrap();
        let run = NewRun { job: "st".into(), kind: RunKind::Backup, trigger: Trigger::Scheduled, started_at, destination: "onedrive:/Backups/st".into(), engine: None, format: None, compression: None, database: None };
        let run_id = history.start_run(&run).unwrap();
        let m = manifest(&name, &data, started_at);
        crash_mid_upload(&fake, &dir, scratch.path(), &name, &data, &m);
        history.mark_interrupted("st", Utc::now(), "Interrupted: Nightjar stopped before this run finished.").unwrap();

        // What the dead process left: nothing in OneDrive, everything staged.
        assert!(fake.file(&format!("/Backups/st/{name}")).is_none(), "nothing under the final name");
        let state = StagedUpload::load(&staging::state_path(&dir, &name)).unwrap();
        assert!(state.upload_url.is_some(), "the session was saved");
        assert_eq!((state.total, state.folder.as_str()), (data.len() as u64, "Backups/st"));
        assert_eq!(std::fs::read(dir.join(&name)).unwrap(), data);
        assert_eq!(std::fs::read(dir.join(format!("{name}.json"))).unwrap(), m, "the manifest was staged complete");
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions()) & 0o777, 0o700);

        if expire {
            // The saved session expired while Nightjar was down: its status is a 404.
            fake.inject(Fault::new(Kind::SessionStatus, Action::status(404, "itemNotFound")));
        }
        let from_zero = ranges_from_zero(&fake, data.len());
        let parent = graph(fake.login_base(), fake.graph_base(), &fake.issue_refresh_token(), &dir);
        let done = staging::resume_staged(&parent, &dir, Some(&history), &events).unwrap_or_else(|e| panic!("{}", e.detailed()));
        assert_eq!(done, vec![format!("onedrive:/Backups/st/{name}")]);
        assert!(fake.file(&format!("/Backups/st/{name}")).unwrap() == data, "byte-identical");
        assert_eq!(fake.file(&format!("/Backups/st/{name}.json")).unwrap(), m);
        let restarted = ranges_from_zero(&fake, data.len()) - from_zero;
        if expire {
            assert_eq!(restarted, 1, "an expired session starts over from byte 0");
        } else {
            assert_eq!(restarted, 0, "the saved session resumes where it stopped");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the staging folder is empty again");
        let row = history.get(run_id).unwrap().unwrap();
        assert_eq!(row.status, RunStatus::Success);
        assert_eq!(row.file.as_deref(), Some(format!("onedrive:/Backups/st/{name}").as_str()));
        assert_eq!(row.size, Some(data.len() as u64));
        let got = std::mem::take(&mut *events.0.lock().unwrap());
        assert!(matches!(&got[..], [Event::RunFinished { job, .. }] if job == "st"), "{got:?}");
    }
    // Nothing left to do.
    let parent = graph(fake.login_base(), fake.graph_base(), &fake.issue_refresh_token(), &dir);
    assert!(staging::resume_staged(&parent, &dir, Some(&history), &events).unwrap().is_empty());
}

#[test]
fn a_staged_upload_finished_in_process_leaves_nothing_staged() {
    let fake = FakeGraph::start();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("staging");
    let dest = OneDriveDestination::new(graph(fake.login_base(), fake.graph_base(), &fake.issue_refresh_token(), &dir), "/Backups/ok");
    dest.prepare().unwrap();
    let data = vec![7u8; 1_000_000];
    let mut main = dest.create("ok_1.sql").unwrap();
    main.write_all(&data).unwrap();
    let mut m = dest.create("ok_1.sql.json").unwrap();
    m.write_all(b"{}").unwrap();
    main.commit().unwrap();
    m.commit().unwrap();
    assert_eq!(fake.file("/Backups/ok/ok_1.sql").unwrap(), data);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // A failed upload (quota) and a dropped pending file leave nothing either.
    fake.set_quota_total(10);
    let mut main = dest.create("ok_2.sql").unwrap();
    main.write_all(&data).unwrap();
    let mut m = dest.create("ok_2.sql.json").unwrap();
    m.write_all(b"{}").unwrap();
    assert!(main.commit().is_err());
    drop(m);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}
