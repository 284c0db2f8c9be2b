//! The desktop app's tray process (`nightjar-tray`) without a display: one
//! per data folder, the window's requests over its socket, a backup the
//! window started that finishes after the window is gone, `--quit`, and
//! what the socket refuses (another user, no window token, a wrong typed
//! confirmation, oversized lines, unknown operations).
//!
//! No session bus is given (the tray icon and notifications are skipped and
//! logged) but where a test starts one of its own (the session ending, the
//! menu a panel reads in the config's language); the window program is a
//! stand-in script, since these tests are about the tray process. The real
//! window is tested in `desktop_e2e.rs`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightjar_desktop_shared::models::RestoreRequest;
use nightjar_desktop_shared::proto::{HostClient, Message, Op};
use nightjar_tests::backup::job_toml;
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::nightjar::read_lossy;
use nightjar_tests::wait::until;
use nightjar_tests::{Nightjar, PgCluster};
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
    /// The window token, when the test handed it over (`--no-window`).
    token: String,
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

/// `nightjar-tray args` for `nj`, under the usual umask 022 (so the modes
/// the tests see are the ones a user gets).
fn command(nj: &Nightjar, window: &Path, args: &[&str], log: &Path) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\""]).arg(tray_binary());
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
    let tray = Tray { child, log, token: String::new() };
    until("the tray process to listen on its socket", START, || nj.data_dir().join("desktop.sock").exists().then_some(()));
    tray
}

/// A tray process started as a window started by hand starts it
/// (`--no-window`, a fresh window token on its stdin).
fn start_for_window(nj: &Nightjar, window: &Path) -> Tray {
    let log = nj.scratch().join("tray.log");
    let token = nightjar_desktop_shared::proto::new_token().unwrap();
    let mut child = command(nj, window, &["--no-window"], &log).stdin(Stdio::piped()).spawn().expect("start nightjar-tray");
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let tray = Tray { child, log, token };
    until("the tray process to listen on its socket", START, || nj.data_dir().join("desktop.sock").exists().then_some(()));
    tray
}

/// A fresh database `db` of `rows` rows, one job `job` backing it up into a
/// folder, and a tray process started for it as a window started by hand does.
fn one_job_in_the_tray(job: &str, rows: u32, row_bytes: u32) -> (Nightjar, PathBuf, Tray) {
    let (nj, dest, tray, _) = one_job_db_in_the_tray(job, rows, row_bytes);
    (nj, dest, tray)
}

/// [`one_job_in_the_tray`], also giving the database's name.
fn one_job_db_in_the_tray(job: &str, rows: u32, row_bytes: u32) -> (Nightjar, PathBuf, Tray, String) {
    let pg = PgCluster::shared();
    let db = pg.fresh_db(job);
    build_plain_table(pg, &db, rows, row_bytes, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    nj.write_config(&job_toml(job, &pg.url(&db), &dest, ""));
    let (stub, _) = window_stub(&nj);
    let tray = start_for_window(&nj, &stub);
    (nj, dest, tray, db)
}

/// Connects as the window would (the handshake with `token`), reading messages on a thread.
fn connect(nj: &Nightjar, token: &str) -> (Arc<HostClient>, Arc<Mutex<Vec<Message>>>) {
    let (client, other) = connect_without_token(nj);
    client.call(Op::Window { token: token.to_string() }, None).expect("the tray process takes the window's token");
    (client, other)
}

/// Connects without the handshake: another program of the same user.
fn connect_without_token(nj: &Nightjar) -> (Arc<HostClient>, Arc<Mutex<Vec<Message>>>) {
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

    let (window, events) = connect(&nj, &tray.token);
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
        closing.send(Op::Window { token: tray.token.clone() }).unwrap();
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

/// `--quit` given right after a start (start at login, then a quit before
/// the new tray process listens) stops it rather than saying "not running":
/// the single-instance lock shows one runs. With none running it says so at
/// once.
#[test]
fn quit_right_after_a_start_stops_the_tray_process_and_says_not_running_when_none_runs() {
    let nj = Nightjar::new();
    let (stub, _) = window_stub(&nj);
    let log = nj.scratch().join("quit.log");
    let before = Instant::now();
    let quit = command(&nj, &stub, &["--quit"], &log).status().expect("run nightjar-tray --quit");
    assert!(quit.success());
    assert!(read_lossy(&log).contains("Nightjar is not running"), "{}", read_lossy(&log));
    assert!(before.elapsed() < Duration::from_secs(5), "no waiting when none runs: {:?}", before.elapsed());

    // The lock is held while the socket does not exist yet: what a quit
    // sees in the moment after a start.
    std::fs::create_dir_all(nj.data_dir()).unwrap();
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(nj.data_dir().join("desktop.lock")).unwrap();
    lock.try_lock().unwrap();
    let log = nj.scratch().join("quit-starting.log");
    let mut quitting = command(&nj, &stub, &["--quit"], &log).spawn().expect("run nightjar-tray --quit");
    std::thread::sleep(Duration::from_millis(500));
    assert!(quitting.try_wait().unwrap().is_none(), "it waits for the starting tray process: {}", read_lossy(&log));
    drop(lock);
    let tray_log = nj.scratch().join("tray.log");
    let child = command(&nj, &stub, &["--hidden"], &tray_log).spawn().expect("start nightjar-tray");
    let mut tray = Tray { child, log: tray_log, token: String::new() };
    let status = quitting.wait().unwrap();
    assert!(status.success(), "{}", read_lossy(&log));
    assert!(!read_lossy(&log).contains("not running"), "{}", read_lossy(&log));
    assert_eq!(tray.wait_exit(START).code(), Some(0), "the new tray process was stopped; log:\n{}", tray.log());
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
/// holds the job: after a short wait the window is told the job is busy
/// (code `busy`, in the reply and in the progress event), nothing is written, and the next click, once the job is free, backs up.
#[test]
fn backup_now_says_busy_while_another_process_holds_the_job() {
    let (nj, dest, mut tray) = one_job_in_the_tray("busyjob", 100, 100);
    let (window, _) = connect(&nj, &tray.token);

    let data = nightjar_core::paths::DataDir::new(nj.data_dir());
    std::fs::create_dir_all(data.lock_dir()).unwrap();
    // The tray process holds the lock for a moment at start (it marks runs a
    // crash left behind), so wait for it as another process would.
    let no_cancel = std::sync::atomic::AtomicBool::new(false);
    let held = nightjar_core::lock::JobLock::acquire_wait(&data.lock_dir(), "busyjob", START, &no_cancel)
        .expect("take the job's lock as another process would");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let progress: Box<dyn Fn(Value) + Send> = Box::new(move |e| sink.lock().unwrap().push(e));
    let reply = window.call(Op::Backup { job: Some("busyjob".into()) }, Some(progress)).expect("a reply");
    assert_eq!((&reply[0]["ok"], &reply[0]["code"]), (&Value::Bool(false), &Value::from("busy")), "{reply}");
    let failed = events.lock().unwrap().iter().find(|e| e["kind"] == "failed").cloned().expect("a failed event");
    assert_eq!(failed["code"], "busy", "the page is told the job is busy by its code: {failed}");
    let message = reply[0]["error"].as_str().unwrap();
    assert!(message.contains("right now") && message.contains("busyjob"), "one sentence naming the job: {message}");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "nothing written while the job was busy");

    drop(held);
    let reply = window.call(Op::Backup { job: Some("busyjob".into()) }, None).expect("a reply");
    assert_eq!(reply[0]["ok"], true, "the job is free again: {reply}");
    window.call(Op::Quit, None).unwrap();
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}

/// The desktop session ends (its session bus goes away, as at logout): the
/// tray process quits cleanly instead of running on with no tray.
#[test]
fn the_tray_process_quits_when_its_desktop_session_ends() {
    let nj = Nightjar::new();
    let (stub, _) = window_stub(&nj);
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a session bus (dbus-daemon, package dbus)");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).expect("the bus's address");
    let log = nj.scratch().join("tray.log");
    let child = command(&nj, &stub, &["--hidden"], &log).env("DBUS_SESSION_BUS_ADDRESS", address.trim()).spawn().expect("start nightjar-tray");
    let mut tray = Tray { child, log, token: String::new() };
    until("the tray to be on the session bus", START, || tray.log().contains("tray ready").then_some(()));
    let _ = bus.kill();
    let _ = bus.wait();
    assert_eq!(tray.wait_exit(START).code(), Some(0), "a clean exit once the session is gone");
    assert!(tray.log().contains("the desktop session ended"), "the log says why it quit:\n{}", tray.log());
    assert!(!nj.data_dir().join("desktop.sock").exists(), "its socket is gone with it");
}

/// A session bus of the test's own (`dbus-daemon`), stopped when dropped.
struct SessionBus {
    daemon: Child,
    address: String,
}

impl SessionBus {
    fn start() -> Self {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a session bus (dbus-daemon, package dbus)");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut address).expect("the bus's address");
        Self { daemon, address: address.trim().to_string() }
    }

    /// `dbus-send --print-reply ARGS` on this bus: its output.
    fn send(&self, args: &[&str]) -> String {
        let out = Command::new("dbus-send").arg("--session").arg("--print-reply").args(args).env("DBUS_SESSION_BUS_ADDRESS", &self.address).output().expect("run dbus-send");
        assert!(out.status.success(), "dbus-send {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The labels of the tray's menu, as a panel reads them (dbusmenu's
    /// GetLayout); `None` while no StatusNotifierItem is on the bus.
    fn menu_labels(&self) -> Option<String> {
        let names = self.send(&["--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"]);
        let item = names.split('"').find(|n| n.starts_with("org.kde.StatusNotifierItem-"))?.to_string();
        Some(self.send(&[&format!("--dest={item}"), "/MenuBar", "com.canonical.dbusmenu.GetLayout", "int32:0", "int32:-1", "array:string:label"]))
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The tray menu a panel shows is in the config's language (`[ui]
/// language`), and follows a change Settings saves without a restart.
#[test]
fn the_tray_menu_speaks_the_configs_language_and_follows_a_change() {
    let nj = Nightjar::new();
    let job = "[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@127.0.0.1:1/tg\"\ndestination = \"/nonexistent/b\"\n";
    nj.write_config(&format!("[ui]\nlanguage = \"ru\"\n\n{job}"));
    let (stub, _) = window_stub(&nj);
    let bus = SessionBus::start();
    let log = nj.scratch().join("tray.log");
    let token = nightjar_desktop_shared::proto::new_token().unwrap();
    let mut child = command(&nj, &stub, &["--no-window"], &log).env("DBUS_SESSION_BUS_ADDRESS", &bus.address).stdin(Stdio::piped()).spawn().expect("start nightjar-tray");
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let tray = Tray { child, log, token };
    until("the tray to be on the session bus", START, || tray.log().contains("tray ready").then_some(()));
    let menu = until("the Russian menu", START, || bus.menu_labels().filter(|m| m.contains("Выход")));
    for label in ["Резервных копий пока нет", "Создать копию сейчас", "Восстановить из файла…", "Открыть Nightjar", "Приостановить расписания"] {
        assert!(menu.contains(label), "{label:?} in the menu:\n{menu}");
    }
    assert!(!menu.contains("Quit") && !menu.contains("Backup now"), "no English left:\n{menu}");
    // Settings saves another language and tells the tray process.
    nj.write_config(&format!("[ui]\nlanguage = \"tr\"\n\n{job}"));
    let (window, _) = connect(&nj, &tray.token);
    window.call(Op::Changed, None).unwrap();
    let menu = until("the Turkish menu", START, || bus.menu_labels().filter(|m| m.contains("Çık")));
    assert!(menu.contains("Şimdi yedekle") && menu.contains("Henüz yedek yok") && !menu.contains("Выход"), "{menu}");
    window.call(Op::Quit, None).unwrap();
}

/// Speaks the protocol by hand: one JSON line out, the reply lines back.
struct Raw {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    fn connect(nj: &Nightjar) -> Raw {
        let stream = UnixStream::connect(nj.data_dir().join("desktop.sock")).expect("connect to the tray process");
        stream.set_read_timeout(Some(START)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Raw { stream, reader }
    }

    fn send(&mut self, line: &[u8]) {
        self.stream.write_all(line).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    /// The next reply (skipping page events); panics on a closed connection.
    fn reply(&mut self) -> Value {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("a reply from the tray process");
            assert!(n > 0, "the tray process closed the connection instead of replying");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["type"] == "reply" {
                return v;
            }
        }
    }
}

/// The error message of a reply; panics when it succeeded.
fn error_of(reply: &Value) -> String {
    reply["result"]["Err"]["message"].as_str().unwrap_or_else(|| panic!("an error reply: {reply}")).to_string()
}

/// The peak memory of process `pid` (VmHWM), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap();
    kb * 1024
}

/// The socket is the owner's only, from the moment it exists, under umask
/// 022; and even when its mode and folders are opened up by hand, a program
/// of another user that connects is refused by the peer check (no reply, the
/// log names its uid) while the owner's programs go on being answered.
#[test]
fn another_user_is_refused_on_the_socket_and_its_mode_is_owner_only() {
    let nj = Nightjar::new();
    let (stub, _) = window_stub(&nj);
    let socket = nj.data_dir().join("desktop.sock");
    // Watches the socket's mode while the tray process starts: it is never looser than 0600.
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s, path, done) = (seen.clone(), socket.clone(), started.clone());
    let watcher = std::thread::spawn(move || {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(m) = std::fs::symlink_metadata(&path) {
                s.lock().unwrap().insert(m.permissions().mode() & 0o7777);
            }
            std::hint::spin_loop();
        }
    });
    let mut tray = start(&nj, &stub, &["--hidden"]);
    std::thread::sleep(Duration::from_millis(200));
    started.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    let mode = std::fs::symlink_metadata(&socket).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "the socket is the owner's only under umask 022: {mode:o}");
    assert_eq!(*seen.lock().unwrap(), [0o600].into_iter().collect(), "modes the socket had while the tray process started");
    let leftovers: Vec<_> = std::fs::read_dir(nj.data_dir()).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".desktop.sock")).collect();
    assert!(leftovers.is_empty(), "no folder is left from binding: {leftovers:?}");

    // Open the way by hand, so only the peer check stands between.
    for dir in [nj.scratch(), &nj.data_dir()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = "import socket, sys\n\
s = socket.socket(socket.AF_UNIX)\n\
s.settimeout(20)\n\
try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print('connect failed:', e); sys.exit(3)\n\
try:\n    s.sendall(b'{\"id\":1,\"op\":\"running\"}\\n{\"id\":2,\"op\":\"quit\"}\\n')\nexcept OSError as e:\n    print('send failed:', e)\n\
data = b''\n\
try:\n    while True:\n        chunk = s.recv(65536)\n        if not chunk: break\n        data += chunk\nexcept OSError as e:\n    print('recv failed:', e)\n\
print('received', repr(data))\n";
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script])
        .arg(&socket)
        .output()
        .expect("run python3 as uid 65534 (setpriv)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("connect failed"), "uid 65534 must reach the socket for this test: {said} {}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("received b''"), "another user gets nothing back: {said} {}", String::from_utf8_lossy(&out.stderr));
    until("the tray process to log the refusal", START, || {
        tray.log().lines().any(|l| l.contains("refused a connection to the window socket from another user") && l.contains("uid=65534")).then_some(())
    });
    assert!(tray.child.try_wait().unwrap().is_none(), "another user's quit did not stop the tray process");

    // The owner's own programs are still answered.
    let mut raw = Raw::connect(&nj);
    raw.send(br#"{"id":9,"op":"quit"}"#);
    let reply = raw.reply();
    assert_eq!((&reply["id"], &reply["result"]), (&Value::from(9), &serde_json::json!({"Ok": null})), "{reply}");
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}

/// Without the window's token nothing changes: a restore, a backup, pausing
/// the schedules, a check and a cancel are refused with a sentence, and the
/// database, the backup folder, the history and the schedule state stay as
/// they were; a wrong token is refused too. The token reaches the window the
/// tray process starts on its stdin, not on its command line, and with it
/// the same requests are answered.
#[test]
fn nothing_changes_over_the_socket_without_the_window_token() {
    let (nj, dest, tray, db) = one_job_db_in_the_tray("tokenjob", 200, 100);
    let pg = PgCluster::shared();
    let (window, _) = connect(&nj, &tray.token);
    let reply = window.call(Op::Backup { job: None }, None).expect("the backup's reply");
    assert_eq!(reply[0]["ok"], true, "{reply}");
    let file = reply[0]["file"].as_str().unwrap().to_string();
    pg.psql(&db, "CREATE TABLE after_backup (x int); INSERT INTO after_backup VALUES (1);");
    let runs_before = nj.history(None).len();
    let files_before = std::fs::read_dir(&dest).unwrap().count();

    let mut raw = Raw::connect(&nj);
    let restore = serde_json::json!({"id": 1, "op": "restore", "request": {"file": file, "job": "tokenjob", "asNew": null, "safetyBackup": false}, "confirm": db});
    let refused = [
        restore.clone(),
        serde_json::json!({"id": 2, "op": "backup", "job": null}),
        serde_json::json!({"id": 3, "op": "paused", "paused": true}),
        serde_json::json!({"id": 4, "op": "verify", "run": 1}),
        serde_json::json!({"id": 5, "op": "cancel", "job": "tokenjob"}),
    ];
    for req in &refused {
        raw.send(req.to_string().as_bytes());
        let message = error_of(&raw.reply());
        assert!(message.contains("Only Nightjar's own window"), "{req}: {message}");
    }
    raw.send(br#"{"id":6,"op":"window","token":"0000000000000000000000000000000000000000000000000000000000000000"}"#);
    assert!(error_of(&raw.reply()).contains("not started by the running Nightjar"));
    raw.send(restore.to_string().as_bytes());
    assert!(error_of(&raw.reply()).contains("Only Nightjar's own window"), "a wrong token does not open the door");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM after_backup").trim(), "1", "the database was not restored");
    assert_eq!(nj.history(None).len(), runs_before, "no run was recorded");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), files_before, "no backup was written");
    assert!(!nightjar_core::state::StateFile::in_dir(&nj.data_dir()).load().paused, "the schedules were not paused");
    assert!(tray.log().contains("refused a request without the window's token"), "the refusals are logged");

    // The window the tray process starts gets the token on its stdin.
    let got = nj.scratch().join("window-stdin");
    let argv = nj.scratch().join("window-argv");
    let stub = nj.scratch().join("window-token-stub.sh");
    std::fs::write(&stub, format!("#!/bin/sh\necho \"$@\" > '{}'\ncat > '{}.part'\nmv '{}.part' '{}'\n", argv.display(), got.display(), got.display(), got.display())).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(window);
    // A tray process that made its own token (started at login).
    drop(tray);
    std::fs::remove_file(nj.data_dir().join("desktop.sock")).unwrap();
    let mut tray = start(&nj, &stub, &["--hidden"]);
    let mut raw = Raw::connect(&nj);
    raw.send(br#"{"id":1,"op":"open","view":null}"#);
    assert!(raw.reply()["result"]["Ok"].is_null());
    let token = until("the window to read its token", START, || std::fs::read_to_string(&got).ok());
    let token = token.trim();
    assert_eq!(token.len(), 64, "{token:?}");
    assert_eq!(std::fs::read_to_string(&argv).unwrap().trim(), "--window", "the token is not on the command line");
    raw.send(format!(r#"{{"id":2,"op":"window","token":"{token}"}}"#).as_bytes());
    assert!(raw.reply()["result"]["Ok"].is_null(), "the window's token is taken");
    raw.send(br#"{"id":3,"op":"running"}"#);
    assert_eq!(raw.reply()["result"]["Ok"], serde_json::json!([]), "with the token the window is answered");
    raw.send(br#"{"id":4,"op":"quit"}"#);
    let _ = raw.reply();
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}

/// The database name typed in the Restore view travels with the restore and
/// is checked in the tray process against the plan's real target: a wrong
/// name, or the replaced database's name when restoring as a new one, is
/// refused and nothing runs; the new database's name goes through.
#[test]
fn a_restore_with_a_wrong_typed_confirmation_is_refused_and_the_database_untouched() {
    let (nj, _dest, mut tray, db) = one_job_db_in_the_tray("confirmjob", 200, 100);
    let pg = PgCluster::shared();
    let (window, _) = connect(&nj, &tray.token);
    let reply = window.call(Op::Backup { job: None }, None).expect("the backup's reply");
    assert_eq!(reply[0]["ok"], true, "{reply}");
    let file = reply[0]["file"].as_str().unwrap().to_string();
    // The window's check of a backup reaches the tray process (its row id travels as `run`).
    let run = nj.history(Some("confirmjob"))[0]["id"].as_i64().unwrap();
    let report = window.call(Op::Verify { run, test_restore: false }, None).expect("the check's reply");
    assert_eq!(report["status"], "success", "{report}");
    pg.psql(&db, "CREATE TABLE after_backup (x int); INSERT INTO after_backup VALUES (1);");
    let restores = || nj.history(None).iter().filter(|r| r["kind"] == "restore").count();
    let request = |as_new: Option<&str>| RestoreRequest { file: file.clone(), job: Some("confirmjob".into()), as_new: as_new.map(str::to_string), safety_backup: false, trust_file: false, identity: None };

    for (as_new, confirm) in [(None, "postgres"), (None, ""), (None, &format!("{db}x")[..]), (Some(&format!("{db}_copy")[..]), &db[..])] {
        let err = window.call(Op::Restore { request: request(as_new), confirm: confirm.to_string() }, None).expect_err("a wrong confirmation is refused");
        assert_eq!((err.code, err.field.as_deref()), (nightjar_core::ErrorKind::NeedsConfirmation, Some("confirm")), "{err:?}");
        assert!(err.message.contains("exactly to confirm"), "{}", err.message);
    }
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM after_backup").trim(), "1", "the database is untouched");
    let copy = format!("{db}_copy");
    assert_eq!(pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{copy}'")).trim(), "0", "no database was created");
    assert_eq!(restores(), 0, "no restore was recorded");

    // The name of the database the restore creates is the one to type.
    let report = window.call(Op::Restore { request: request(Some(&copy)), confirm: copy.clone() }, None).expect("the restore as a new database");
    assert!(report.is_object(), "{report}");
    assert_eq!(pg.psql(&copy, "SELECT count(*) FROM t").trim(), "200", "restored as new");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM after_backup").trim(), "1", "the original is left alone");
    pg.psql("postgres", &format!("DROP DATABASE \"{copy}\""));
    window.call(Op::Quit, None).unwrap();
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}

/// A line over 1 MiB is refused with a reply, without the tray process
/// holding it (its peak memory does not grow by the 64 MiB sent); a request
/// that is not JSON, or names an unknown operation, gets an error reply; and
/// the same connection goes on being answered.
#[test]
fn oversized_lines_and_unknown_operations_get_an_error_and_the_connection_goes_on() {
    let nj = Nightjar::new();
    let (stub, _) = window_stub(&nj);
    let mut tray = start_for_window(&nj, &stub);
    let mut raw = Raw::connect(&nj);

    raw.send(br#"{"id":5,"op":"frobnicate"}"#);
    let reply = raw.reply();
    assert_eq!(reply["id"], 5, "{reply}");
    assert!(error_of(&reply).contains("frobnicate"), "{reply}");
    raw.send(b"this is not json");
    assert!(error_of(&raw.reply()).contains("not JSON"));

    // Just over the limit, then 64 MiB: each refused, neither held.
    let before = peak_memory(tray.child.id());
    for size in [(1 << 20) + 1, 64 << 20] {
        let mut line = vec![b'x'; size];
        line[0] = b'{';
        raw.send(&line);
        let message = error_of(&raw.reply());
        assert!(message.contains("longer than 1 MiB"), "{message}");
    }
    let grown = peak_memory(tray.child.id()).saturating_sub(before);
    assert!(grown < 16 << 20, "the tray process held the long line: its peak memory grew by {grown} bytes");
    // Exactly 1 MiB is still read (and refused as not JSON, not as too long).
    let mut line = vec![b' '; 1 << 20];
    line[0] = b'x';
    raw.send(&line);
    assert!(error_of(&raw.reply()).contains("not JSON"));

    raw.send(format!(r#"{{"id":6,"op":"window","token":"{}"}}"#, tray.token).as_bytes());
    assert!(raw.reply()["result"]["Ok"].is_null());
    raw.send(br#"{"id":7,"op":"running"}"#);
    let reply = raw.reply();
    assert_eq!((&reply["id"], &reply["result"]["Ok"]), (&Value::from(7), &serde_json::json!([])), "the connection still works: {reply}");
    let mut rest = Vec::new();
    raw.send(br#"{"id":8,"op":"quit"}"#);
    let _ = raw.reply();
    let _ = raw.reader.read_to_end(&mut rest);
    assert_eq!(tray.wait_exit(START).code(), Some(0), "log:\n{}", tray.log());
}

/// `nightjar-desktop` started by hand while the tray process runs cannot
/// know its token: it asks the tray process to open its own window (which
/// gets the token on its stdin) and exits; `--window` without a token on
/// stdin does the same.
#[test]
fn a_window_started_by_hand_gets_the_tray_to_open_one_that_holds_the_token() {
    let nj = Nightjar::new();
    let starts = nj.scratch().join("window-starts");
    let got = nj.scratch().join("window-stdin");
    let stub = nj.scratch().join("window-token-stub.sh");
    std::fs::write(&stub, format!("#!/bin/sh\necho \"$@\" >> '{}'\ncat > '{}.part'\nmv '{}.part' '{}'\n", starts.display(), got.display(), got.display(), got.display())).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut tray = start(&nj, &stub, &["--hidden"]);
    let desktop = nightjar_tests::nightjar::binary().with_file_name("nightjar-desktop");
    assert!(desktop.is_file(), "{} not found; run `cargo build -p nightjar-desktop`", desktop.display());

    for args in [&[][..], &["--window"][..]] {
        let _ = std::fs::remove_file(&got);
        let log = nj.scratch().join("desktop.log");
        let mut cmd = Command::new(&desktop);
        cmd.args(args)
            .env("NIGHTJAR_DATA_DIR", nj.data_dir())
            .env("NIGHTJAR_CONFIG", nj.config_path())
            .env("NIGHTJAR_KEYRING", "off")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("start nightjar-desktop");
        let status = until("nightjar-desktop to hand over and exit", START, || child.try_wait().unwrap());
        assert!(status.success(), "{args:?}: {}", read_lossy(&log));
        assert!(read_lossy(&log).contains("already running"), "{args:?}: {}", read_lossy(&log));
        let token = until("the tray's window to read its token", START, || std::fs::read_to_string(&got).ok());
        let mut raw = Raw::connect(&nj);
        raw.send(format!(r#"{{"id":1,"op":"window","token":"{}"}}"#, token.trim()).as_bytes());
        assert!(raw.reply()["result"]["Ok"].is_null(), "the window the tray process started holds its token");
    }
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().collect::<Vec<_>>(), ["--window", "--window"]);
    let mut raw = Raw::connect(&nj);
    raw.send(br#"{"id":2,"op":"quit"}"#);
    let _ = raw.reply();
    assert_eq!(tray.wait_exit(START).code(), Some(0));
}
