//! Every run tells its lifecycle through the core, whatever started it: a
//! user (manual), the schedule, a catch-up and a restore's safety backup
//! each give `run-started`, then `run-finished` with the duration the
//! history records for it.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use nightjar_core::config::{Config, Job, ParseEnv};
use nightjar_core::history::History;
use nightjar_core::model::Trigger;
use nightjar_core::observer::{Event, RunObserver};
use nightjar_core::restore::RestoreOptions;
use nightjar_core::runner::BackupOptions;
use nightjar_core::secrets::MemorySecrets;
use nightjar_core::{DataDir, Engine};
use nightjar_tests::{toml_str, PgCluster};

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Events {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl RunObserver for Events {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

fn job(pg: &PgCluster, db: &str, dest: &std::path::Path) -> Job {
    let toml = format!(
        "[[job]]\nname = \"ev\"\ndatabase = {}\ndestination = {}\ntimezone = \"UTC\"\ntool_dir = {}\n",
        toml_str(&pg.url(db)),
        toml_str(&dest.display().to_string()),
        toml_str(&pg.bin().display().to_string())
    );
    Config::parse(&toml, None, &ParseEnv::from_system()).unwrap_or_else(|e| panic!("{}", e.detailed())).jobs.remove(0)
}

/// The lifecycle events among `events` are a started then a finished run
/// of `trigger` whose duration is the history's; the finished run's file.
/// Other events (a health warning about the machine's disk, ...) depend on
/// where the test runs and are left out.
fn started_then_finished(events: &[Event], trigger: Trigger, history: &History) -> String {
    let events: Vec<Event> = events
        .iter()
        .filter(|e| matches!(e, Event::RunStarted { .. } | Event::RunFinished { .. } | Event::RunFailed { .. } | Event::RunSkipped { .. }))
        .cloned()
        .collect();
    let events = events.as_slice();
    let [Event::RunStarted { trigger: t0, .. }, Event::RunFinished { trigger: t1, file, duration_ms, .. }] = events else {
        panic!("a started and a finished run: {events:?}");
    };
    assert_eq!((*t0, *t1), (trigger, trigger), "{events:?}");
    let row = history.find_backup_by_file(file).unwrap().expect("the run is in the history");
    assert_eq!(row.trigger, trigger);
    assert_eq!(Some(*duration_ms), row.duration_ms, "the event's duration is the history's");
    file.clone()
}

#[test]
fn manual_scheduled_catch_up_and_safety_backups_report_their_lifecycle() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("events");
    pg.psql(&db, "CREATE TABLE t(id int primary key); INSERT INTO t SELECT generate_series(1, 100)");
    let scratch = tempfile::tempdir().unwrap();
    let job = job(pg, &db, &scratch.path().join("backups"));
    let engine = Engine::builder(DataDir::new(scratch.path().join("data")))
        .history(Arc::new(History::open_in_memory().unwrap()))
        .secrets(Arc::new(MemorySecrets::default()))
        .build();
    let history = engine.history().unwrap();
    let events = Events::default();
    let cancel = AtomicBool::new(false);
    let runner = engine.runner(&events, &cancel).unwrap();

    for trigger in [Trigger::Manual, Trigger::Scheduled, Trigger::CatchUp] {
        let report = runner.backup(&job, &BackupOptions::new(trigger)).unwrap_or_else(|e| panic!("{}", e.detailed()));
        let file = started_then_finished(&events.take(), trigger, history);
        assert_eq!(file, report.file);
        assert_eq!(Some(report.duration_ms), history.get(report.run_id).unwrap().unwrap().duration_ms, "the report says the same");
    }

    // A restore that replaces the database backs it up first: a run of its own.
    let latest = engine.latest_backup(&job).unwrap();
    let restorer = engine.restorer(&events, &cancel).unwrap();
    let opts = RestoreOptions { safety_backup: true, ..RestoreOptions::default() };
    let report = restorer.run(std::path::Path::new(&latest.path), &job, &opts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    let safety = started_then_finished(&events.take(), Trigger::PreRestore, history);
    assert_eq!(report.safety_backup.as_deref(), Some(safety.as_str()), "{report:?}");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM t"), "100");
}
