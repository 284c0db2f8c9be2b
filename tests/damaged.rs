//! Nightjar keeps working when its own files or disks are damaged, through
//! the real binaries and real servers:
//!
//! - a history file full of garbage is moved aside (`history.sqlite3.corrupt-…`),
//!   a new one started, and the user told (stderr, `nightjar status`, the
//!   tray's notification); the backup runs and is recorded;
//! - a history held busy by another process does not stop a backup: the
//!   file is written, and the run is recorded once the history is free;
//! - `kill -9` of `nightjar backup`, `nightjar run` or `nightjar-tray` leaves
//!   no `pg_dump`/`psql`/… of ours running 2 s later;
//! - a full disk during a restore (the database server's, the data folder
//!   during a OneDrive download, the safety backup's folder) ends with one
//!   clear sentence, the target untouched, nothing temporary left, and a
//!   history entry.
//!
//! The full-disk cases mount small tmpfs file systems, which needs root
//! (as the tests run here); without root they say so and pass.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use nightjar_core::history::{History, RunFilter, RunKind};
use nightjar_core::model::RunStatus;
use nightjar_core::observer::NoopObserver;
use nightjar_core::paths::DataDir;
use nightjar_core::engine::{OpenEnv, ONEDRIVE};
use nightjar_core::Engine;
use nightjar_core::secrets::{MemorySecrets, SecretStore as _};
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, RetryPolicy, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::FakeGraph;
use nightjar_tests::backup::{assert_mentions, assert_nothing_left, check_finished_backup, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::{backups, file_names, partials};
use nightjar_tests::nightjar::{read_lossy, str_field};
use nightjar_tests::procs;
use nightjar_tests::wait::{secs, until, until_true};
use nightjar_tests::{MountGuard, Nightjar, PgCluster};
use std::io::Write as _;

use nightjar_desktop_shared::proto::{HostClient, Op};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The database tools Nightjar starts.
const TOOLS: &[&str] = &["pg_dump", "psql", "pg_restore", "mariadb-dump", "mysqldump", "mysql", "mariadb"];

/// Database tools still running with `db` on their command line, except
/// this test's own children (the psql holding the table lock).
fn tools_left_for(db: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| procs::is_alive(*p) && procs::ppid(*p) != Some(me))
        .filter(|p| TOOLS.contains(&procs::program(*p).as_str()) && procs::cmdline(*p).iter().any(|a| a.contains(db)))
        .map(|p| (p, procs::cmdline(p).join(" ")))
        .collect()
}

/// After `kill -9` of the process that ran them: no tool of `db` is left 2 s later.
#[track_caller]
fn assert_no_tool_left_2s_after_the_kill(db: &str, killed: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = tools_left_for(db);
        if left.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "2 s after `kill -9` of {killed}, its children still run: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh database with table `t`, and a Nightjar with job `job` backing it up.
fn one_job(job: &str, rows: u32) -> (&'static PgCluster, String, Nightjar, PathBuf) {
    let pg = PgCluster::shared();
    let db = pg.fresh_db(job);
    build_plain_table(pg, &db, rows, 200, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml(job, &pg.url(&db), &dest, ""));
    (pg, db, nj, dest)
}

/// `nightjar-tray` next to the `nightjar` binary the tests use.
fn tray_binary() -> PathBuf {
    let p = nightjar_tests::nightjar::binary().with_file_name("nightjar-tray");
    assert!(p.is_file(), "{} not found; run `cargo build -p nightjar-tray`", p.display());
    p
}

/// A `nightjar-tray --hidden` for `nj`, without a display or session bus;
/// its stderr goes to `<scratch>/tray.log`. Killed on drop.
struct Tray {
    child: Child,
    log: PathBuf,
    /// The window token handed to it (`--no-window`).
    token: String,
}

impl Tray {
    fn start(nj: &Nightjar) -> Tray {
        let window = nj.scratch().join("window-stub.sh");
        std::fs::write(&window, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&window, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = nj.scratch().join("tray.log");
        let mut cmd = Command::new(tray_binary());
        for (k, _) in std::env::vars_os() {
            let ks = k.to_string_lossy();
            if ks.starts_with("PG") || ks.starts_with("NIGHTJAR_") || ks == "RUST_LOG" {
                cmd.env_remove(&k);
            }
        }
        let err = std::fs::File::options().create(true).append(true).open(&log).unwrap();
        cmd.arg("--no-window")
            .env("NIGHTJAR_DATA_DIR", nj.data_dir())
            .env("NIGHTJAR_CONFIG", nj.config_path())
            .env("NIGHTJAR_KEYRING", "off")
            .env("NIGHTJAR_WINDOW_BIN", &window)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/nightjar-test-bus")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(err);
        let mut child = cmd.spawn().expect("start nightjar-tray");
        // As a window started by hand hands it over.
        let token = nightjar_desktop_shared::proto::new_token().unwrap();
        writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
        let tray = Tray { child, log, token };
        until("the tray process to listen on its socket", secs(30), || nj.data_dir().join("desktop.sock").exists().then_some(()));
        tray
    }

    fn log(&self) -> String {
        read_lossy(&self.log)
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- nightjar-tray logged:\n{}---", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A damaged history
// ---------------------------------------------------------------------------

/// Garbage in `history.sqlite3`: the backup still runs and is recorded in a
/// new history; the damaged file is kept aside, and stderr, `nightjar
/// status` and `status --json` say where.
#[test]
fn a_corrupt_history_is_moved_aside_and_the_backup_runs_and_is_recorded() {
    let (_pg, _db, nj, dest) = one_job("corrupt", 300);
    let history = nj.data_dir().join("history.sqlite3");
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&history, &garbage).unwrap();

    let out = nj.run(["backup", "--job", "corrupt", "--json"]).assert_success();
    assert_mentions(&out.stderr, &["moved aside", "history.sqlite3.corrupt-", "new one was started"]);
    let record = out.json();
    check_finished_backup(&record, &dest, "corrupt");

    let aside: Vec<String> = file_names(&nj.data_dir()).into_iter().filter(|n| n.starts_with("history.sqlite3.corrupt-")).collect();
    assert_eq!(aside.len(), 1, "one damaged file kept aside: {:?}", file_names(&nj.data_dir()));
    assert_eq!(std::fs::read(nj.data_dir().join(&aside[0])).unwrap(), garbage, "the damaged file is kept as it was");

    let rows = nj.history(Some("corrupt"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(str_field(&rows[0], "status"), "success");
    assert_eq!(rows[0]["id"], record["run_id"], "{rows:?} / {record}");
    assert_eq!(str_field(&rows[0], "file"), str_field(&record, "file"));

    let status = nj.run(["status"]).assert_success();
    assert_mentions(&status.stdout, &["moved aside", &aside[0], "a new one was started"]);
    let json = nj.run(["status", "--json"]).assert_success().json();
    let moved = json["history_moved_aside"].as_array().unwrap_or_else(|| panic!("no history_moved_aside in {json}"));
    assert_eq!(moved.len(), 1, "{json}");
    assert!(str_field(&moved[0], "path").ends_with(&aside[0]), "{json}");
    // The new history is used from now on: nothing more is moved aside.
    let again = nj.run(["backup", "--job", "corrupt"]).assert_success();
    assert!(!again.stderr.contains("moved aside"), "{}", again.stderr);
    assert_eq!(nj.history(Some("corrupt")).len(), 2);
}

/// The tray process finds the damaged history at start: it notifies the
/// user (logged here, where there is no session bus) and runs on.
#[test]
fn the_tray_process_moves_a_corrupt_history_aside_and_notifies() {
    let nj = Nightjar::new();
    std::fs::write(nj.data_dir().join("history.sqlite3"), vec![0xa5u8; 16_384]).unwrap();
    let tray = Tray::start(&nj);
    until_true("the tray to notify about the damaged history", secs(30), || tray.log().contains("Backup history damaged"));
    assert!(
        file_names(&nj.data_dir()).iter().any(|n| n.starts_with("history.sqlite3.corrupt-")),
        "{:?}",
        file_names(&nj.data_dir())
    );
    // It answers the window as usual.
    let client = Arc::new(HostClient::connect(&nj.data_dir()).expect("connect to the tray process"));
    let reader = client.clone();
    std::thread::spawn(move || reader.read_loop(|_| {}));
    client.call(Op::Window { token: tray.token.clone() }, None).expect("the tray process takes the window's token");
    client.call(Op::Running, None).expect("the tray process answers");
}

/// Another process holds the history's write lock past the busy timeout:
/// the dump is not stopped, the file is complete while the lock is held,
/// and the run is recorded as soon as the lock is released.
#[test]
fn a_busy_history_does_not_stop_a_backup_and_the_run_is_recorded_once_free() {
    let (_pg, _db, nj, dest) = one_job("busyhist", 300);
    assert!(nj.history(None).is_empty(), "creates the history");
    let holder = rusqlite::Connection::open(nj.data_dir().join("history.sqlite3")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; DELETE FROM runs WHERE id < 0;").unwrap();

    let mut run = nj.cmd(["backup", "--job", "busyhist", "--json"]).spawn();
    let file = until("the backup file and its manifest while the history is busy", secs(120), || {
        let names = backups(&dest);
        let name = names.first()?;
        dest.join(format!("{name}.json")).is_file().then(|| dest.join(name))
    });
    assert!(run.is_running(), "the backup waits to record its run");
    assert!(nj.history(Some("busyhist")).is_empty(), "nothing could be recorded yet");
    holder.execute_batch("COMMIT;").unwrap();

    let out = run.wait(secs(120)).assert_success();
    let record = out.json();
    assert_eq!(check_finished_backup(&record, &dest, "busyhist"), file);
    let rows = nj.history(Some("busyhist"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(str_field(row, "status"), "success", "{row}");
    assert_eq!(row["id"], record["run_id"], "{row} / {record}");
    assert_eq!(str_field(row, "file"), file.display().to_string());
    assert_eq!(str_field(row, "sha256"), str_field(&record, "sha256"));
    drop(holder);
}

// ---------------------------------------------------------------------------
// No dump child outlives Nightjar
// ---------------------------------------------------------------------------

#[test]
fn kill_9_of_nightjar_backup_leaves_no_pg_dump_running() {
    let (pg, db, nj, dest) = one_job("kill_cli", 300);
    let lock = pg.lock_table(&db, "t");
    let mut run = nj.cmd(["backup", "--job", "kill_cli"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    assert!(!tools_left_for(&db).is_empty(), "the pg_dump of {db} is running");
    run.kill();
    assert_no_tool_left_2s_after_the_kill(&db, "nightjar backup");
    lock.release();
    assert_eq!(backups(&dest), Vec::<String>::new());
}

#[test]
fn kill_9_of_nightjar_run_leaves_no_pg_dump_running() {
    let (pg, db, nj, dest) = one_job("kill_daemon", 300);
    let nj = nj.with_env("NIGHTJAR_TICK_SECS", "1");
    // A failed attempt makes the every-minute job due at once when the daemon starts.
    nj.write_config(&job_toml("kill_daemon", &pg.url("nightjar_no_such_db"), &dest, ""));
    let _ = nj.run(["backup", "--job", "kill_daemon"]).assert_failure();
    nj.write_config(&job_toml("kill_daemon", &pg.url(&db), &dest, "schedule = \"* * * * *\"\n"));

    let lock = pg.lock_table(&db, "t");
    let mut daemon = nj.cmd(["run"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    assert!(!tools_left_for(&db).is_empty(), "the daemon's pg_dump of {db} is running");
    daemon.kill();
    assert_no_tool_left_2s_after_the_kill(&db, "nightjar run");
    lock.release();
}

#[test]
fn kill_9_of_the_tray_process_leaves_no_pg_dump_running() {
    let (pg, db, nj, _dest) = one_job("kill_tray", 300);
    let lock = pg.lock_table(&db, "t");
    let mut tray = Tray::start(&nj);
    let client = Arc::new(HostClient::connect(&nj.data_dir()).expect("connect to the tray process"));
    let reader = client.clone();
    std::thread::spawn(move || reader.read_loop(|_| {}));
    client.call(Op::Window { token: tray.token.clone() }, None).expect("the tray process takes the window's token");
    // "Backup now" from the window; its answer never comes (the tray dies).
    client.send(Op::Backup { job: None }).expect("ask for a backup");
    pg.wait_for_blocked_pg_dump(&db);
    assert!(!tools_left_for(&db).is_empty(), "the tray's pg_dump of {db} is running");
    let _ = tray.child.kill();
    let _ = tray.child.wait();
    assert_no_tool_left_2s_after_the_kill(&db, "nightjar-tray");
    lock.release();
}

// ---------------------------------------------------------------------------
// A full disk during a restore
// ---------------------------------------------------------------------------

/// The databases on `pg`, sorted.
fn databases(pg: &PgCluster) -> String {
    pg.psql("postgres", "SELECT datname FROM pg_database ORDER BY 1")
}

/// The server's data directory fills up while the backup is loaded: the
/// restore says the server's disk is full, the target keeps its data, the
/// temporary database is dropped, and the failure is in the history.
#[test]
fn the_database_servers_disk_full_during_a_restore_leaves_the_target_as_it_was() {
    let Some(mount) = MountGuard::tmpfs("96m", &[]) else {
        eprintln!("skipped: filling the server's disk needs a tmpfs mount, which needs root");
        return;
    };
    let small = PgCluster::start_with_data_in(Some(mount.path()));
    // About 30 MB of table data in the backup.
    let (pg, src_db, nj, dest) = one_job("bigsrc", 150_000);
    let made = nj.run(["backup", "--job", "bigsrc", "--json"]).assert_success().json();
    let file = str_field(&made, "file").to_string();

    let target = small.fresh_db("fulltarget");
    build_plain_table(&small, &target, 1000, 100, None);
    let safety = nj.scratch().join("safety");
    nj.write_config(&format!(
        "{}{}",
        job_toml("bigsrc", &pg.url(&src_db), &dest, ""),
        job_toml("full", &small.url(&target), &safety, "")
    ));
    let before = databases(&small);
    // Leave about 14 MB: room for the temporary database, not for the data.
    let free = mount.free_bytes();
    assert!(free > 20 << 20, "the tmpfs has room for the test: {free}");
    std::fs::write(mount.join("filler"), vec![0u8; usize::try_from(free - (14 << 20)).unwrap()]).unwrap();

    let out = nj.run(["restore", &file, "--job", "full", "--yes"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["ran out of disk space", "free space on the server's disk", &format!("\"{target}\" was not changed"), "temporary copy was removed"]);
    std::fs::remove_file(mount.join("filler")).unwrap();

    assert_eq!(small.psql(&target, "SELECT count(*) FROM t"), "1000", "the target keeps its data");
    assert_eq!(databases(&small), before, "no temporary database is left");
    let rows = nj.history(Some("full"));
    let restore = rows.iter().find(|r| str_field(r, "kind") == "restore").unwrap_or_else(|| panic!("a restore row: {rows:?}"));
    assert_eq!(str_field(restore, "status"), "failed", "{restore}");
    assert_mentions(str_field(restore, "error"), &["ran out of disk space"]);
    drop(small);
    drop(mount);
}

/// The safety backup's folder is full: the restore does not start, the
/// target is untouched, nothing is left in that folder, both runs are in
/// the history.
#[test]
fn a_full_safety_backup_folder_stops_the_restore_before_anything_changes() {
    let Some(mount) = MountGuard::tmpfs("512k", &[]) else {
        eprintln!("skipped: filling a folder needs a tmpfs mount, which needs root");
        return;
    };
    let (pg, db, nj, dest) = one_job("safetysrc", 20_000);
    let made = nj.run(["backup", "--job", "safetysrc", "--json"]).assert_success().json();
    let file = str_field(&made, "file").to_string();
    pg.psql(&db, "INSERT INTO t VALUES (-1, 'written after the backup')");
    let safety_dir = mount.join("safety");
    std::fs::create_dir(&safety_dir).unwrap();
    nj.write_config(&format!(
        "{}{}",
        job_toml("safetysrc", &pg.url(&db), &dest, ""),
        job_toml("safe", &pg.url(&db), &safety_dir, "compression = \"none\"\n")
    ));
    let before = databases(pg);

    let out = nj.run(["restore", &file, "--job", "safe", "--yes"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["safety backup", "is full", "free some space", "nothing was changed"]);
    assert_eq!(pg.psql(&db, "SELECT payload FROM t WHERE id = -1"), "written after the backup", "the target is untouched");
    assert_eq!(databases(pg), before, "no temporary database");
    assert_nothing_left(&safety_dir);
    assert_eq!(partials(&safety_dir), Vec::<String>::new());
    let rows = nj.history(Some("safe"));
    let restore = rows.iter().find(|r| str_field(r, "kind") == "restore").unwrap_or_else(|| panic!("a restore row: {rows:?}"));
    assert_eq!(str_field(restore, "status"), "failed", "{restore}");
    assert_mentions(str_field(restore, "error"), &["safety backup", "full"]);
    let backup = rows.iter().find(|r| str_field(r, "kind") == "backup").unwrap_or_else(|| panic!("the safety backup's row: {rows:?}"));
    assert_eq!((str_field(backup, "status"), str_field(backup, "trigger")), ("failed", "pre-restore"), "{backup}");
    drop(mount);
}

/// The data folder fills up while a backup in OneDrive is downloaded for a
/// restore: one sentence that says so, no downloaded copy left, a failed
/// restore in the history.
#[test]
fn a_full_data_folder_during_a_onedrive_download_leaves_nothing_and_is_recorded() {
    let Some(mount) = MountGuard::tmpfs("2m", &[]) else {
        eprintln!("skipped: filling the data folder needs a tmpfs mount, which needs root");
        return;
    };
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let mut cfg = GraphConfig::from_settings(&nightjar_core::config::OneDriveSettings {
        tenant: "common".into(),
        client_id: Some("test".into()),
        login_base_url: fake.login_base(),
        graph_base_url: fake.graph_base(),
        ..Default::default()
    });
    cfg.retry = RetryPolicy { max_tries: 2, base: Duration::from_millis(10), cap: Duration::from_millis(50), max_retry_after: Duration::from_secs(1) };
    let graph = Arc::new(Graph::new(cfg, secrets.clone()).unwrap());
    let name = "big_2025-01-31_02-00-00.sql";
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    fake.put_file(&format!("/Backups/big/{name}"), &body);

    let data = DataDir::new(mount.path());
    let history = History::open(&data.history_file()).unwrap();
    let cancel = AtomicBool::new(false);
    let engine = Engine::builder(data.clone())
        .history(Arc::new(history))
        .secrets(secrets.clone())
        .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(OneDriveDestination::new(graph.clone(), p)) as Box<_>))
        .build();
    let history = engine.history().unwrap();
    let restorer = engine.restorer(&NoopObserver, &cancel).unwrap();
    let origin = format!("onedrive:/Backups/big/{name}");
    let e = restorer.fetch(&origin, "big", RunKind::Restore, "postgres://u@h/app".into(), Some("app".into())).unwrap_err();
    let msg = e.message();
    assert_mentions(msg, &["data folder", &mount.path().display().to_string(), "is full", "free", "nothing was changed"]);
    assert_eq!(msg.matches(". ").count(), 0, "one sentence: {msg}");
    let left: Vec<String> = file_names(&data.root().join("downloads"));
    assert!(left.is_empty(), "no downloaded copy is left: {left:?}");
    let rows = history.runs(&RunFilter::default()).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].kind, rows[0].status), (RunKind::Restore, RunStatus::Failed), "{:?}", rows[0]);
    assert!(rows[0].error.as_deref().is_some_and(|e| e.contains("is full")), "{:?}", rows[0]);
    assert_eq!(rows[0].file.as_deref(), Some(origin.as_str()));
    drop(engine);
    drop(mount);
}
