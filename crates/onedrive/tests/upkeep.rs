//! The scheduler's OneDrive upkeep against the fake, with a settable clock:
//! the sign-in is refreshed at start and then weekly (rotation stored, time
//! kept in the data folder), a refused refresh raises the sign-in-expired
//! event once; a backup written into a OneDrive-synced folder is marked in
//! the cloud once the same bytes are in OneDrive, and one that does not
//! arrive within `cloud_confirm_within` raises one warning.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use nightjar_core::clock::Clock;
use nightjar_core::config::{Config, OneDriveSettings, ParseEnv};
use nightjar_core::history::{CloudState, CopyRecord, CopyStatus, History, NewRun, RunKind, RunOutcome};
use nightjar_core::model::{RunStatus, Trigger};
use nightjar_core::observer::{Event, RunObserver};
use nightjar_core::paths::DataDir;
use nightjar_core::secrets::{MemorySecrets, SecretStore};
use nightjar_core::tasks::{BackgroundTask as _, TaskContext};
use nightjar_core::engine::RunContext;
use nightjar_core::Engine;
use nightjar_onedrive::upkeep::{OneDriveUpkeep, RefreshState};
use nightjar_onedrive::{Graph, GraphConfig, RetryPolicy, REFRESH_ACCOUNT, USER_ACCOUNT};
use nightjar_onedrive_fake::{Action, FakeGraph, Fault, Kind};

struct TestClock(Mutex<DateTime<Utc>>);
impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}
impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);
impl RunObserver for Events {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}
impl Events {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn graph(fake: &FakeGraph, secrets: Arc<MemorySecrets>) -> Arc<Graph> {
    let settings = OneDriveSettings { client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..OneDriveSettings::default() };
    let mut cfg = GraphConfig::from_settings(&settings);
    cfg.retry = RetryPolicy { max_tries: 3, base: StdDuration::from_millis(5), cap: StdDuration::from_millis(20), max_retry_after: StdDuration::from_secs(1) };
    Arc::new(Graph::new(cfg, secrets).unwrap())
}

struct World {
    config: Config,
    history: History,
    data: DataDir,
    secrets: Arc<MemorySecrets>,
    clock: TestClock,
    events: Events,
    shutdown: AtomicBool,
    engine: Engine,
}

impl World {
    fn new(config_text: &str, secrets: Arc<MemorySecrets>, data: PathBuf, t0: DateTime<Utc>) -> Self {
        Self {
            config: Config::parse(config_text, None, &ParseEnv::from_system()).unwrap_or_else(|e| panic!("{}", e.detailed())),
            history: History::open_in_memory().unwrap(),
            data: DataDir::new(&data),
            secrets,
            clock: TestClock(Mutex::new(t0)),
            events: Events::default(),
            shutdown: AtomicBool::new(false),
            engine: Engine::builder(DataDir::new(&data)).build(),
        }
    }

    fn tick(&self, task: &OneDriveUpkeep) {
        let run = RunContext {
            engine: &self.engine,
            history: &self.history,
            data: &self.data,
            secrets: self.secrets.as_ref(),
            clock: &self.clock,
            observer: &self.events,
            cancel: &self.shutdown,
        };
        task.tick(&TaskContext { config: &self.config, run });
    }

    /// A successful backup row for `file`, finished now.
    fn backup(&self, job: &str, file: &std::path::Path) -> i64 {
        let now = self.clock.now();
        let run = NewRun {
            job: job.into(),
            kind: RunKind::Backup,
            trigger: Trigger::Scheduled,
            started_at: now,
            destination: file.parent().unwrap().display().to_string(),
            engine: None,
            format: None,
            compression: None,
            database: None,
        };
        let id = self.history.start_run(&run).unwrap();
        let outcome = RunOutcome {
            status: RunStatus::Success,
            finished_at: now,
            size: Some(std::fs::metadata(file).unwrap().len()),
            file: Some(file.display().to_string()),
            sha256: None,
            error: None,
            error_kind: None,
        };
        self.history.finish_run(id, &outcome).unwrap();
        id
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap()
}

#[test]
fn synced_backups_are_confirmed_in_the_cloud_or_warned_about_once() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("OneDrive");
    for j in ["arrives", "stuck"] {
        std::fs::create_dir_all(root.join("Backups").join(j)).unwrap();
    }
    let local_job = home.path().join("local");
    std::fs::create_dir_all(&local_job).unwrap();
    let job = |name: &str, dest: &std::path::Path| {
        format!("[[job]]\nname = \"{name}\"\ndatabase = \"postgres://u@localhost/{name}\"\ndestination = \"{}\"\ntimezone = \"UTC\"\n", dest.display())
    };
    let text = format!(
        "{}{}{}[onedrive]\ncloud_confirm_within = \"90m\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n",
        job("arrives", &root.join("Backups/arrives")),
        job("stuck", &root.join("Backups/stuck")),
        job("plain", &local_job),
        fake.login_base(),
        fake.graph_base()
    );
    let w = World::new(&text, secrets.clone(), home.path().join("data"), t0());
    let roots = vec![root.clone()];
    let task = OneDriveUpkeep::new(graph(&fake, secrets.clone()), Box::new(move || roots.clone()));

    let body: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let arrives = root.join("Backups/arrives/arrives_2026-03-01_02-00-00.sql.zst");
    let stuck = root.join("Backups/stuck/stuck_2026-03-01_02-00-00.sql.zst");
    let plain = local_job.join("plain_2026-03-01_02-00-00.sql.zst");
    for f in [&arrives, &stuck, &plain] {
        std::fs::write(f, &body).unwrap();
    }
    let (a, s, p) = (w.backup("arrives", &arrives), w.backup("stuck", &stuck), w.backup("plain", &plain));

    // First look: both synced backups tracked, neither in OneDrive yet; the plain folder job is not tracked.
    w.tick(&task);
    assert_eq!(w.history.cloud_copy(a).unwrap().unwrap().state, CloudState::Pending);
    assert_eq!(w.history.cloud_copy(s).unwrap().unwrap().remote_path, "Backups/stuck/stuck_2026-03-01_02-00-00.sql.zst");
    assert!(w.history.cloud_copy(p).unwrap().is_none());
    assert!(w.events.take().is_empty());

    // The sync client uploads one of them, first a partial copy, then all of it.
    fake.put_file("/Backups/arrives/arrives_2026-03-01_02-00-00.sql.zst", &body[..400_000]);
    w.clock.advance(Duration::minutes(6));
    w.tick(&task);
    assert_eq!(w.history.cloud_copy(a).unwrap().unwrap().state, CloudState::Pending, "a partial copy is not the backup");
    fake.put_file("/Backups/arrives/arrives_2026-03-01_02-00-00.sql.zst", &body);
    w.clock.advance(Duration::minutes(1));
    w.tick(&task);
    assert_eq!(w.history.cloud_copy(a).unwrap().unwrap().state, CloudState::Pending, "polls keep their pace (5 minutes)");
    w.clock.advance(Duration::minutes(5));
    w.tick(&task);
    let c = w.history.cloud_copy(a).unwrap().unwrap();
    assert_eq!((c.state, c.confirmed_at), (CloudState::InCloud, Some(w.clock.now())));

    // The other one never arrives: one warning after 90 minutes, not before, not twice.
    w.clock.advance(Duration::minutes(60));
    w.tick(&task);
    assert!(w.events.take().is_empty());
    w.clock.advance(Duration::minutes(20));
    w.tick(&task);
    let got = w.events.take();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        matches!(&got[0], Event::NotInCloud { job, message, .. } if job == "stuck" && message.contains("has not reached OneDrive after 90 minute(s)") && message.contains("OneDrive client")),
        "{got:?}"
    );
    assert_eq!(w.history.cloud_copy(s).unwrap().unwrap().state, CloudState::Late);
    w.clock.advance(Duration::minutes(10));
    w.tick(&task);
    assert!(w.events.take().is_empty(), "warned once");
    // It still counts when it shows up late.
    fake.put_file("/Backups/stuck/stuck_2026-03-01_02-00-00.sql.zst", &body);
    w.clock.advance(Duration::minutes(10));
    w.tick(&task);
    assert_eq!(w.history.cloud_copy(s).unwrap().unwrap().state, CloudState::InCloud);
    assert!(w.history.unconfirmed_cloud_copies().unwrap().is_empty());
}

#[test]
fn the_sign_in_is_refreshed_at_start_then_weekly_and_a_refused_one_is_reported_once() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    let first = fake.issue_refresh_token();
    secrets.set(REFRESH_ACCOUNT, &first).unwrap();
    secrets.set(USER_ACCOUNT, "fake.user@example.com").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let text = "[[job]]\nname = \"od\"\ndatabase = \"postgres://u@localhost/od\"\ndestination = \"onedrive:/Backups/od\"\ntimezone = \"UTC\"\n";
    let data = scratch.path().join("data");
    // The last refresh was 40 days ago (the app was not running).
    RefreshState { last_refresh: Some(t0() - Duration::days(40)) }.save(&data).unwrap();
    let w = World::new(text, secrets.clone(), data.clone(), t0());
    let task = OneDriveUpkeep::new(graph(&fake, secrets.clone()), Box::new(Vec::new));
    let token = || secrets.get(REFRESH_ACCOUNT).unwrap().unwrap();

    w.tick(&task);
    let second = token();
    assert_ne!(second, first, "refreshed at start, the rotated token is stored");
    assert_eq!(RefreshState::load(&data).last_refresh, Some(t0()));

    w.clock.advance(Duration::days(6));
    w.tick(&task);
    assert_eq!(token(), second, "not again within the week");

    w.clock.advance(Duration::days(1));
    w.tick(&task);
    let third = token();
    assert_ne!(third, second, "a week later");
    assert_eq!(RefreshState::load(&data).last_refresh, Some(t0() + Duration::days(7)));
    assert!(w.events.take().is_empty());

    // The token is refused (90 days unused elsewhere, password changed): one event, the token kept.
    fake.inject(Fault::new(Kind::Refresh, Action::invalid_grant(700_082)).times(100));
    w.clock.advance(Duration::days(7));
    w.tick(&task);
    w.clock.advance(Duration::days(1));
    w.tick(&task);
    let got = w.events.take();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        matches!(&got[0], Event::OneDriveSignInExpired { job, account: Some(a), message } if job == "od" && a == "fake.user@example.com" && message.contains("sign in again")),
        "{got:?}"
    );
    assert_eq!(token(), third, "the stored token is untouched");
    assert_eq!(RefreshState::load(&data).last_refresh, Some(t0() + Duration::days(7)));
}

#[test]
fn a_copy_in_a_synced_folder_is_tracked_when_it_is_not_the_primary() {
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("OneDrive");
    let (local, synced) = (home.path().join("srv/mirror"), root.join("Backups/mirror"));
    for d in [&local, &synced] {
        std::fs::create_dir_all(d).unwrap();
    }
    let text = format!(
        "[[job]]\nname = \"mirror\"\ndatabase = \"postgres://u@localhost/mirror\"\ndestinations = [\"{}\", \"{}\"]\ntimezone = \"UTC\"\n[onedrive]\ncloud_confirm_within = \"90m\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n",
        local.display(),
        synced.display(),
        fake.login_base(),
        fake.graph_base()
    );
    let w = World::new(&text, secrets.clone(), home.path().join("data"), t0());
    let roots = vec![root.clone()];
    let task = OneDriveUpkeep::new(graph(&fake, secrets.clone()), Box::new(move || roots.clone()));

    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let name = "mirror_2026-03-01_02-00-00.sql.zst";
    let (first, second) = (local.join(name), synced.join(name));
    for f in [&first, &second] {
        std::fs::write(f, &body).unwrap();
    }
    let id = w.backup("mirror", &first);
    for (position, (dir, file)) in [(&local, &first), (&synced, &second)].into_iter().enumerate() {
        w.history
            .record_copy(&CopyRecord {
                run_id: id,
                position: u32::try_from(position).unwrap(),
                destination: dir.display().to_string(),
                file: Some(file.display().to_string()),
                status: CopyStatus::Good,
                error: None,
                size: Some(body.len() as u64),
                copied_from: None,
                updated_at: w.clock.now(),
            })
            .unwrap();
    }

    // The second copy (in the synced folder) is the one looked for in OneDrive.
    w.tick(&task);
    let c = w.history.cloud_copy(id).unwrap().expect("the synced copy is tracked");
    assert_eq!((c.state, c.file.as_str(), c.remote_path.as_str()), (CloudState::Pending, second.to_str().unwrap(), "Backups/mirror/mirror_2026-03-01_02-00-00.sql.zst"));
    fake.put_file("/Backups/mirror/mirror_2026-03-01_02-00-00.sql.zst", &body);
    w.clock.advance(Duration::minutes(6));
    w.tick(&task);
    assert_eq!(w.history.cloud_copy(id).unwrap().unwrap().state, CloudState::InCloud);
    assert!(w.events.take().is_empty());
}
