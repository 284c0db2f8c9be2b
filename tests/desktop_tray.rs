//! The desktop app's tray process (`nightjar-tray`) without a display: one
//! per data folder, the window's requests over its socket, a backup the
//! window started that finishes after the window is gone, and `--quit`.
//!
//! No session bus is given (the tray icon and notifications are skipped and
//! logged); the window program is a stand-in script, since these tests are
//! about the tray process. The real window is tested in `desktop_e2e.rs`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightjar_tests::backup::job_toml;
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::nightjar::read_lossy;
use nightjar_tests::wait::until;
use nightjar_tests::{Nightjar, PgCluster};
use nightjar_tray::proto::{HostClient, Message, Op};
use serde_json::Value;

const START: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(120);

/// `nightjar-tray` next to the `nightjar` binary the tests use.
fn tray_binary() -> PathBuf {
    let p = nightjar_tests::nightjar::binary().with_file_name("nightjar-tray");
    assert!(p.is_file(), "{} not found; run `cargo build -p nightjar-tray`", p.display());
    p
}

/// A tray process for `nj`; killed if the test ends with it running.
struct Tray {
    child: Child,
    log: PathBuf,
}

impl Tray {
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        until("the tray process to exit", timeout, || child.try_wait().ok().flatten())
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

fn command(nj: &Nightjar, window: &Path, args: &[&str], log: &Path) -> Command {
    let mut cmd = Command::new(tray_binary());
    for (k, _) in std::env::vars_os() {
        let ks = k.to_string_lossy();
        if ks.starts_with("PG") || ks.starts_with("NIGHTJAR_") || ks == "RUST_LOG" {
            cmd.env_remove(&k);
        }
    }
    let log = std::fs::File::options().create(true).append(true).open(log).expect("open the tray log");
    cmd.args(args)
        .env("NIGHTJAR_DATA_DIR", nj.data_dir())
        .env("NIGHTJAR_CONFIG", nj.config_path())
        .env("NIGHTJAR_KEYRING", "off")
        .env("NIGHTJAR_WINDOW_BIN", window)
        // No desktop session: nothing reaches the user's own bus.
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/nightjar-test-bus")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

/// A stand-in window program: records each start's arguments and exits.
fn window_stub(nj: &Nightjar) -> (PathBuf, PathBuf) {
    window_stub_exiting(nj, 0)
}

/// [`window_stub`] exiting with `code`.
fn window_stub_exiting(nj: &Nightjar, code: i32) -> (PathBuf, PathBuf) {
    let starts = nj.scratch().join("window-starts");
    let stub = nj.scratch().join("window-stub.sh");
    std::fs::write(&stub, format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit {code}\n", starts.display())).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    (stub, starts)
}

fn start(nj: &Nightjar, window: &Path, args: &[&str]) -> Tray {
    let log = nj.scratch().join("tray.log");
    let child = command(nj, window, args, &log).spawn().expect("start nightjar-tray");
    let tray = Tray { child, log };
    until("the tray process to listen on its socket", START, || nj.data_dir().join("desktop.sock").exists().then_some(()));
    tray
}

/// A fresh database of `rows` rows, one job `job` backing it up into a
/// folder, and a tray process started `--hidden` for it.
fn one_job_in_the_tray(job: &str, rows: u32, row_bytes: u32) -> (Nightjar, PathBuf, Tray) {
    let pg = PgCluster::shared();
    let db = pg.fresh_db(job);
    build_plain_table(pg, &db, rows, row_bytes, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    nj.write_config(&job_toml(job, &pg.url(&db), &dest, ""));
    let (stub, _) = window_stub(&nj);
    let tray = start(&nj, &stub, &["--hidden"]);
    (nj, dest, tray)
}

/// Connects as the window would, reading messages on a thread.
fn connect(nj: &Nightjar) -> (Arc<HostClient>, Arc<Mutex<Vec<Message>>>) {
    let client = Arc::new(HostClient::connect(&nj.data_dir()).expect("connect to the tray process"));
    let other = Arc::new(Mutex::new(Vec::new()));
    let (c, o) = (client.clone(), other.clone());
    std::thread::spawn(move || c.read_loop(|m| o.lock().unwrap().push(m)));
    (client, other)
}

/// "Backup now" from the window: progress arrives while it runs, the reply
/// carries the outcome, the window hears that the runs changed. A second
/// backup whose window goes away at once still finishes: the run belongs to
/// the tray process, not to the window.
#[test]
fn the_window_backup_runs_in_the_tray_process_and_outlives_the_window() {
    let (nj, dest, mut tray) = one_job_in_the_tray("trayjob", 20_000, 200);

    let (window, events) = connect(&nj);
    window.send(Op::Window).unwrap();
    let progress = Arc::new(Mutex::new(Vec::<Value>::new()));
    let p = progress.clone();
    let reply = window.call(Op::Backup { job: None }, Some(Box::new(move |v| p.lock().unwrap().push(v)))).expect("the backup's reply");
    let outcome = &reply[0];
    assert_eq!(outcome["ok"], true, "the backup succeeded: {reply}");
    let file = PathBuf::from(outcome["file"].as_str().unwrap());
    assert!(file.is_file() && file.starts_with(&dest), "the backup is in the folder: {}", file.display());
    let kinds: Vec<String> = progress.lock().unwrap().iter().map(|e| e["kind"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("started"), "progress starts with the job: {kinds:?}");
    assert!(kinds.iter().any(|k| k == "stage"), "stages are reported: {kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("finished"), "progress ends with the result: {kinds:?}");
    until("the window to hear that the runs changed", START, || {
        events.lock().unwrap().iter().any(|m| matches!(m, Message::Emit { name, .. } if name == "runs-changed")).then_some(())
    });
    let running: Vec<String> = serde_json::from_value(window.call(Op::Running, None).unwrap()).unwrap();
    assert!(running.is_empty(), "nothing runs after the backup: {running:?}");
    assert_eq!(nj.history(Some("trayjob")).iter().filter(|r| r["status"] == "success").count(), 1);

    // A second window asks for a backup and is closed straight away.
    {
        let closing = HostClient::connect(&nj.data_dir()).expect("connect");
        closing.send(Op::Backup { job: Some("trayjob".into()) }).unwrap();
    }
    let rows = until("the backup of the closed window to finish", RUN, || {
        let rows = nj.history(Some("trayjob"));
        (rows.iter().filter(|r| r["status"] == "success").count() == 2).then_some(rows)
    });
    for r in rows.iter().filter(|r| r["status"] == "success") {
        assert!(Path::new(r["file"].as_str().unwrap()).is_file(), "each backup is on disk: {r}");
    }
    assert!(!std::fs::read_dir(&dest).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".partial")), "no half-written file");

    window.call(Op::Quit, None).unwrap();
    let status = tray.wait_exit(START);
    assert_eq!(status.code(), Some(0), "quit exits 0; log:\n{}", tray.log());
}

/// One tray process per data folder: a second start hands over (opening the
/// window in the running one) and exits; a start at login (`--hidden`)
/// starts no window; `--quit` stops it and returns once it is gone.
#[test]
fn a_second_start_opens_the_window_of_the_running_one_and_quit_stops_it() {
    let nj = Nightjar::new();
    let (stub, starts) = window_stub(&nj);
    let mut tray = start(&nj, &stub, &["--hidden"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!starts.exists(), "started with --hidden: no window");

    let log = nj.scratch().join("second.log");
    let second = command(&nj, &stub, &[], &log).status().expect("run a second nightjar-tray");
    assert!(second.success(), "a second start exits 0: {}", read_lossy(&log));
    let started = until("the running tray process to start the window", START, || std::fs::read_to_string(&starts).ok());
    assert_eq!(started.trim(), "--window", "the window program is started with --window");
    assert!(read_lossy(&log).contains("already running"), "the second start says why it stops: {}", read_lossy(&log));

    let again = command(&nj, &stub, &["--hidden"], &log).status().expect("run nightjar-tray --hidden");
    assert!(again.success());
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 1, "a second --hidden start opens nothing");

    let quit = command(&nj, &stub, &["--quit"], &log).status().expect("run nightjar-tray --quit");
    assert!(quit.success());
    // --quit returned: the tray process has already exited (or is exiting now).
    let status = tray.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "log:\n{}", tray.log());
    assert!(!nj.data_dir().join("desktop.sock").exists(), "the socket is removed on exit");
    assert!(HostClient::connect(&nj.data_dir()).is_err());
}

/// A window that stops while starting (a display that is not ready, a crash
/// at start) is started once more; when that one stops too, the log says so
/// and no more are started.
#[test]
fn a_window_that_stops_while_starting_is_started_once_more_then_reported() {
    let nj = Nightjar::new();
    let (stub, starts) = window_stub_exiting(&nj, 3);
    let mut tray = start(&nj, &stub, &["--hidden"]);
    let log = nj.scratch().join("open.log");
    let open = command(&nj, &stub, &[], &log).status().expect("run a second nightjar-tray");
    assert!(open.success());
    until("the window to be started twice", START, || {
        (std::fs::read_to_string(&starts).unwrap_or_default().lines().count() == 2).then_some(())
    });
    until("the tray process to report the window", START, || {
        tray.log().lines().any(|l| l.contains("ERROR") && l.contains("the window stopped while starting")).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 2, "no third start");
    let quit = command(&nj, &stub, &["--quit"], &log).status().expect("run nightjar-tray --quit");
    assert!(quit.success());
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}

/// "Backup now" while another Nightjar process (a `nightjar run` elsewhere)
/// holds the job: after a short wait the window is told the job is busy,
/// nothing is written, and the next click, once the job is free, backs up.
#[test]
fn backup_now_says_busy_while_another_process_holds_the_job() {
    let (nj, dest, mut tray) = one_job_in_the_tray("busyjob", 100, 100);
    let (window, _) = connect(&nj);

    let data = nightjar_core::paths::DataDir::new(nj.data_dir());
    std::fs::create_dir_all(data.lock_dir()).unwrap();
    let held = nightjar_core::lock::JobLock::try_acquire(&data.lock_dir(), "busyjob").expect("take the job's lock as another process would");
    let reply = window.call(Op::Backup { job: Some("busyjob".into()) }, None).expect("a reply");
    assert_eq!((&reply[0]["ok"], &reply[0]["busy"]), (&Value::Bool(false), &Value::Bool(true)), "{reply}");
    let message = reply[0]["error"].as_str().unwrap();
    assert!(message.contains("right now") && message.contains("busyjob"), "one sentence naming the job: {message}");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "nothing written while the job was busy");

    drop(held);
    let reply = window.call(Op::Backup { job: Some("busyjob".into()) }, None).expect("a reply");
    assert_eq!(reply[0]["ok"], true, "the job is free again: {reply}");
    window.call(Op::Quit, None).unwrap();
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}
