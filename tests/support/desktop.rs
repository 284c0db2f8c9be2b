//! The desktop app under test: its binary, the private desktop session the
//! tests run in (X server, session bus, keyring, fake notification server,
//! `tauri-driver`, all started by `tests/desktop/e2e.sh`), launching the app
//! with its own config and data dir, its tray menu over D-Bus, captured
//! notifications and screenshots.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::nightjar::{read_lossy, Nightjar};
use crate::procs;
use crate::wait::until;
use crate::webdriver::{Driver, Session};

/// The line the app logs once its tray icon exists.
pub const TRAY_READY: &str = "tray ready";

/// `$NIGHTJAR_DESKTOP_BIN`, else `<target>/debug/nightjar-desktop` next to this test executable.
#[must_use]
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = std::env::var_os("NIGHTJAR_DESKTOP_BIN").filter(|p| !p.is_empty()).map_or_else(
            || {
                let exe = std::env::current_exe().expect("current_exe");
                let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in <target>/<profile>/deps");
                profile_dir.join("nightjar-desktop")
            },
            PathBuf::from,
        );
        assert!(
            path.is_file(),
            "the nightjar-desktop binary was not found at {}; run `cargo build -p nightjar-desktop` (or set NIGHTJAR_DESKTOP_BIN)",
            path.display()
        );
        path
    })
    .clone()
}

/// `$NIGHTJAR_TRAY_BIN`, else `nightjar-tray` next to [`binary`]: the tray
/// process, which the window starts when it is not running.
#[must_use]
pub fn tray_binary() -> PathBuf {
    std::env::var_os("NIGHTJAR_TRAY_BIN").filter(|p| !p.is_empty()).map_or_else(|| binary().with_file_name("nightjar-tray"), PathBuf::from)
}

/// The session `tests/desktop/e2e.sh` provides; panics with how to get one.
#[derive(Debug, Clone)]
pub struct DesktopSession {
    /// `tauri-driver`'s URL (`$TAURI_DRIVER_URL`).
    pub driver_url: String,
    /// Where the fake notification server appends Notify calls (`$NIGHTJAR_NOTIFY_LOG`).
    pub notify_log: PathBuf,
    /// Where screenshots go (`$NIGHTJAR_SCREENSHOTS_DIR`).
    pub screenshots: PathBuf,
}

impl DesktopSession {
    /// Reads the session from the environment.
    ///
    /// # Panics
    /// Outside `tests/desktop/e2e.sh` (no display, bus or driver).
    #[must_use]
    pub fn get() -> DesktopSession {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let missing: Vec<&str> = ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "TAURI_DRIVER_URL", "NIGHTJAR_NOTIFY_LOG"]
            .into_iter()
            .filter(|k| var(k).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "desktop tests need a private desktop session ({} not set): run them with tests/desktop/e2e.sh",
            missing.join(", ")
        );
        let screenshots = var("NIGHTJAR_SCREENSHOTS_DIR").map_or_else(|| std::env::temp_dir().join("nightjar-screenshots"), PathBuf::from);
        std::fs::create_dir_all(&screenshots).expect("create the screenshots dir");
        DesktopSession {
            driver_url: var("TAURI_DRIVER_URL").unwrap_or_default(),
            notify_log: PathBuf::from(var("NIGHTJAR_NOTIFY_LOG").unwrap_or_default()),
            screenshots,
        }
    }

    /// The WebDriver server.
    #[must_use]
    pub fn driver(&self) -> Driver {
        Driver::new(&self.driver_url)
    }

    /// Every notification the fake server received so far, oldest first.
    #[must_use]
    pub fn notifications(&self) -> Vec<Value> {
        read_lossy(&self.notify_log).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits for a notification received after `seen` earlier ones that `pred` accepts.
    #[track_caller]
    pub fn wait_notification(&self, seen: usize, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let all = self.notifications();
            if let Some(n) = all.iter().skip(seen).find(|n| pred(n)) {
                return n.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for a notification: {what}; received since the start of the step: {:?}",
                all.iter().skip(seen).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves `png` as `<name>.png` in the screenshots dir; returns its path.
    pub fn save_screenshot(&self, name: &str, png: &[u8]) -> PathBuf {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "screenshot {name} is not a PNG ({} bytes)", png.len());
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

/// How the app is started: a throwaway installation (config + data dir) and
/// extra environment, written into a wrapper script so that `tauri-driver`
/// (which passes no environment of its own) starts the app with it.
pub struct AppLauncher {
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

impl AppLauncher {
    /// For the installation `nj` (its config file and data dir).
    #[must_use]
    pub fn new(nj: &Nightjar) -> AppLauncher {
        let dir = tempfile::Builder::new().prefix("nj-app-").tempdir().expect("temp dir");
        let envs = vec![
            ("NIGHTJAR_CONFIG".to_string(), nj.config_path().display().to_string()),
            ("NIGHTJAR_DATA_DIR".to_string(), nj.data_dir().display().to_string()),
            ("RUST_LOG".to_string(), std::env::var("NIGHTJAR_APP_LOG").unwrap_or_else(|_| "info".into())),
            // First-run discovery looks only where a test points it (never
            // at the machine's own database servers or Docker).
            ("NIGHTJAR_DISCOVER_SOCKETS".to_string(), dir.path().join("no-sockets").display().to_string()),
            ("NIGHTJAR_DISCOVER_PORTS".to_string(), String::new()),
            ("NIGHTJAR_DISCOVER_DOCKER".to_string(), "off".to_string()),
        ];
        AppLauncher { dir, envs }
    }

    /// Adds (or replaces) an environment variable of the app.
    #[must_use]
    pub fn env(mut self, k: &str, v: &str) -> AppLauncher {
        self.envs.retain(|(key, _)| key != k);
        self.envs.push((k.to_string(), v.to_string()));
        self
    }

    /// The app's stderr (its log), appended across launches.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("app.log")
    }

    /// The app's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// The pid of the last app started through [`Self::wrapper`].
    #[must_use]
    pub fn wrapper_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("app.pid")).ok()?.trim().parse().ok()
    }

    /// Writes the wrapper script (`exec`s the app with the environment) and returns its path.
    #[must_use]
    pub fn wrapper(&self) -> PathBuf {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut script = String::from("#!/bin/sh\n# Written by the desktop tests: the app with its test environment.\n");
        script.push_str(&format!("echo $$ > {}\n", quote(&self.dir.path().join("app.pid").display().to_string())));
        for (k, v) in &self.envs {
            script.push_str(&format!("export {k}={}\n", quote(v)));
        }
        script.push_str(&format!(
            "exec {} \"$@\" 2>>{}\n",
            quote(&binary().display().to_string()),
            quote(&self.log_path().display().to_string())
        ));
        let path = self.dir.path().join("nightjar-desktop.sh");
        std::fs::write(&path, script).expect("write the app wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod the app wrapper");
        path
    }

    /// Starts the app through `tauri-driver` and waits for its page to load.
    #[must_use]
    pub fn session(&self, desktop: &DesktopSession) -> AppSession {
        let wrapper = self.wrapper();
        let _ = std::fs::remove_file(self.dir.path().join("app.pid"));
        let session = desktop.driver().session(&wrapper, &[]);
        let pid = until("the app to start (its pid file)", Duration::from_secs(60), || self.wrapper_pid());
        let app = AppSession { session: Some(session), pid, log: self.log_path(), envs: self.envs.clone() };
        app.poll("the page to finish loading", Duration::from_secs(60), || {
            (app.execute("return document.readyState", &[]).as_str() == Some("complete")).then_some(())
        });
        app
    }

    /// Starts the app directly (no WebDriver), its stderr going to [`Self::log_path`].
    #[must_use]
    pub fn spawn(&self) -> AppProcess {
        self.spawn_with(&[])
    }

    /// [`Self::spawn`] with command-line arguments (e.g. `--hidden`).
    #[must_use]
    pub fn spawn_with(&self, args: &[&str]) -> AppProcess {
        self.spawn_program(&binary(), args)
    }

    /// Starts the tray process directly (as start at login does), with `args`.
    #[must_use]
    pub fn spawn_tray(&self, args: &[&str]) -> AppProcess {
        self.spawn_program(&tray_binary(), args)
    }

    fn spawn_program(&self, program: &Path, args: &[&str]) -> AppProcess {
        let log = File::options().create(true).append(true).open(self.log_path()).expect("open the app log");
        let mut cmd = Command::new(program);
        cmd.args(args);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
        AppProcess { child, started: Instant::now() }
    }

    /// Waits until the app's log contains `line`; panics with the log otherwise.
    #[track_caller]
    pub fn wait_log(&self, line: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.log().contains(line) {
            assert!(start.elapsed() < timeout, "the app did not log {line:?} within {timeout:?}; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An app started through WebDriver. Dropping it ends the session and checks
/// the app and its web processes are gone.
pub struct AppSession {
    session: Option<Session>,
    /// The window process's pid.
    pub pid: u32,
    log: PathBuf,
    /// The app's environment, to reach its tray process.
    envs: Vec<(String, String)>,
}

impl std::ops::Deref for AppSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("session")
    }
}

impl AppSession {
    /// Ends the session and waits for the app (and its WebKit processes) to exit.
    #[track_caller]
    pub fn close(mut self) {
        let children = procs::descendants(self.pid);
        if let Some(s) = self.session.take() {
            s.end();
        }
        let pid = self.pid;
        until("the app to exit after the WebDriver session ended", Duration::from_secs(30), || (!procs::is_alive(pid)).then_some(()));
        // The window started the tray process, which outlives it by design: quit it.
        let quit = self.quit_tray();
        assert!(quit.success(), "nightjar-tray --quit failed: {quit}");
        until("the app's WebKit processes to exit", Duration::from_secs(30), || {
            children.iter().all(|c| !procs::is_alive(*c)).then_some(())
        });
    }
}

impl AppSession {
    /// `nightjar-tray --quit` for this app's data folder: returns once the tray process has exited.
    fn quit_tray(&self) -> ExitStatus {
        let mut cmd = Command::new(tray_binary());
        cmd.arg("--quit");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).status().expect("run nightjar-tray --quit")
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = read_lossy(&self.log);
            let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!(
                "--- the app (pid {}, {}) logged, last {} lines:\n{}\n---",
                self.pid,
                if procs::is_alive(self.pid) { "running" } else { "gone" },
                tail.len(),
                tail.join("\n")
            );
        }
        if let Some(s) = self.session.take() {
            let children = procs::descendants(self.pid);
            s.end();
            let _ = self.quit_tray();
            for p in children {
                procs::kill9(p);
            }
            // The test failed mid-way: make sure nothing outlives it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while procs::is_alive(self.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if procs::is_alive(self.pid) {
                for p in procs::descendants(self.pid) {
                    procs::kill9(p);
                }
                procs::kill9(self.pid);
            }
        }
    }
}

/// An app started directly; killed (with its children) if dropped while running.
pub struct AppProcess {
    child: Child,
    /// When it was spawned.
    pub started: Instant,
}

impl AppProcess {
    /// Its pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for it to exit on its own.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        until("the app to exit", timeout, || child.try_wait().ok().flatten())
    }

    /// True while it runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if self.is_running() {
            for p in procs::descendants(self.child.id()) {
                procs::kill9(p);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The app's top-level X11 windows (`tests/desktop/x11_window.py list`):
/// `(xid, viewable, title)`.
#[must_use]
pub fn x11_windows(pid: u32) -> Vec<(String, bool, String)> {
    let out = Command::new(python())
        .arg(helper_script("x11_window.py"))
        .args(["list", &pid.to_string()])
        .output()
        .expect("run x11_window.py");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            Some((parts.next()?.to_string(), parts.next()? == "viewable", parts.next().unwrap_or("").to_string()))
        })
        .collect()
}

/// Closes the app's viewable windows as a window manager's close button does
/// (`tests/desktop/x11_window.py close`); false if there was none.
pub fn x11_close_windows(pid: u32) -> bool {
    Command::new(python())
        .arg(helper_script("x11_window.py"))
        .args(["close", &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run x11_window.py")
        .success()
}

/// Answers the app's native file dialog whose title starts with `title` as a
/// person does with the keyboard: selects the name field, types `path` and
/// presses Enter, or presses Escape (cancel) when `path` is `None`. The
/// dialog is GTK's own window in the app's process, so it is driven through
/// the X server (xdotool, XTEST), not WebDriver.
pub fn answer_file_dialog(title: &str, path: Option<&Path>, timeout: Duration) {
    let xdotool = |args: &[&str]| {
        let out = Command::new("xdotool").args(args).output().expect("run xdotool (apt xdotool; scripts/install-deps.sh installs it)");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let deadline = Instant::now() + timeout;
    let id = loop {
        let (_, out) = xdotool(&["search", "--onlyvisible", "--name", &format!("^{title}")]);
        if let Some(id) = out.lines().next() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "no file dialog titled {title:?} appeared within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // No window manager: give the dialog the keyboard focus ourselves, and
    // let GTK finish laying it out (the name field takes focus when shown).
    let _ = xdotool(&["windowfocus", "--sync", &id]);
    std::thread::sleep(Duration::from_millis(700));
    match path {
        Some(p) => {
            let _ = xdotool(&["key", "--clearmodifiers", "ctrl+a"]);
            let _ = xdotool(&["type", "--delay", "15", &p.display().to_string()]);
            std::thread::sleep(Duration::from_millis(300));
            let _ = xdotool(&["key", "Return"]);
        }
        None => {
            let _ = xdotool(&["key", "Escape"]);
        }
    }
    // The dialog goes away once answered.
    until(&format!("the file dialog {title:?} to close"), timeout, || {
        let (_, out) = xdotool(&["search", "--onlyvisible", "--name", &format!("^{title}")]);
        (!out.lines().any(|l| l == id)).then_some(())
    });
}

/// `tests/desktop/<name>`.
#[must_use]
pub fn helper_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("desktop").join(name)
}

/// The Python that has `dbus-next` (apt `python3-dbus-next`): `$NIGHTJAR_TEST_PYTHON`, else `/usr/bin/python3`.
#[must_use]
pub fn python() -> PathBuf {
    std::env::var_os("NIGHTJAR_TEST_PYTHON").filter(|p| !p.is_empty()).map_or_else(|| PathBuf::from("/usr/bin/python3"), PathBuf::from)
}

/// A fake `org.kde.StatusNotifierWatcher` (`tests/desktop/tray_click.py`) that
/// reads the app's tray menu over D-Bus and clicks items. Start it before the app.
pub struct Tray {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Tray {
    /// Starts the watcher and waits until it owns its bus name.
    #[must_use]
    pub fn start() -> Tray {
        let mut child = Command::new(python())
            .arg(helper_script("tray_click.py"))
            .args(["--timeout", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start tray_click.py with {}: {e}", python().display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({"event": "raw", "line": line}));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut tray = Tray { child, stdin, events, seen: Vec::new() };
        let _ = tray.expect("watching", Duration::from_secs(30));
        tray
    }

    /// Waits for the next event named `event` (an `error` event fails the test).
    #[track_caller]
    pub fn expect(&mut self, event: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    let name = v.get("event").and_then(Value::as_str).unwrap_or_default();
                    assert!(name != "error", "tray_click.py: {v} (while waiting for {event:?})");
                    if name == event {
                        return v;
                    }
                }
                Err(_) => panic!("tray_click.py sent no {event:?} event within {timeout:?}; it sent: {:?}", self.seen),
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("tray_click.py stdin");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("write to tray_click.py");
    }

    /// Waits for the app's item to register (after the app starts).
    #[track_caller]
    pub fn wait_registered(&mut self, timeout: Duration) -> Value {
        self.expect("registered", timeout)
    }

    /// The menu items: `{id, label, enabled, visible, type}`, depth first.
    #[track_caller]
    pub fn layout(&mut self) -> Vec<Value> {
        self.send("layout");
        let v = self.expect("layout", Duration::from_secs(30));
        v.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// The labels of the visible items (separators have none).
    #[track_caller]
    pub fn labels(&mut self) -> Vec<String> {
        self.layout()
            .iter()
            .filter(|i| i.get("visible").and_then(Value::as_bool) != Some(false))
            .filter_map(|i| i.get("label").and_then(Value::as_str).map(str::to_string))
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Clicks the item labelled `label`.
    #[track_caller]
    pub fn click(&mut self, label: &str) {
        self.send(&format!("click {label}"));
        let _ = self.expect("clicked", Duration::from_secs(30));
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
