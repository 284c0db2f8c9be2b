//! Runs the real `nightjar` binary (ripgrep's `TestCommand` style): its own
//! temp data dir (history, locks, logs), no OS keyring, a config file of the
//! test's choosing, and none of the caller's `PG*` variables.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::wait::until;

/// The `nightjar` binary: `$NIGHTJAR_BIN`, else `<target>/debug/nightjar`
/// next to this test executable (`<target>/debug/deps/<test>-<hash>`).
#[must_use]
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = std::env::var_os("NIGHTJAR_BIN").filter(|p| !p.is_empty()).map_or_else(
            || {
                let exe = std::env::current_exe().expect("current_exe");
                // deps/ → debug/ (or release/)
                let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in <target>/<profile>/deps");
                profile_dir.join("nightjar")
            },
            PathBuf::from,
        );
        assert!(
            path.is_file(),
            "the nightjar binary was not found at {}; run `cargo build -p nightjar-cli` first (or set NIGHTJAR_BIN)",
            path.display()
        );
        path
    })
    .clone()
}

/// One isolated Nightjar installation: a data dir and a config file.
pub struct Nightjar {
    home: tempfile::TempDir,
    envs: Vec<(OsString, Option<OsString>)>,
}

impl Default for Nightjar {
    fn default() -> Self {
        Self::new()
    }
}

impl Nightjar {
    /// A fresh installation with an empty config file.
    #[must_use]
    pub fn new() -> Nightjar {
        let home = tempfile::Builder::new().prefix("nj-home-").tempdir().expect("temp dir");
        std::fs::create_dir(home.path().join("data")).expect("data dir");
        let nj = Nightjar { home, envs: Vec::new() };
        nj.write_config("# nightjar test config: no jobs\n");
        nj
    }

    /// Scratch space owned by this installation (removed with it).
    #[must_use]
    pub fn scratch(&self) -> &Path {
        self.home.path()
    }

    /// `NIGHTJAR_DATA_DIR` of every run.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// The config file (`--config` of every run).
    #[must_use]
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("config.toml")
    }

    /// Replaces the config file.
    pub fn write_config(&self, toml: &str) {
        std::fs::write(self.config_path(), toml).expect("write config");
    }

    /// Sets an environment variable for every later run.
    #[must_use]
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// A command `nightjar --config <cfg> <args…>`.
    #[must_use]
    pub fn cmd<I, S>(&self, args: I) -> NjCmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(binary());
        for (k, _) in std::env::vars_os() {
            let ks = k.to_string_lossy();
            if ks.starts_with("PG") || ks.starts_with("NIGHTJAR_") || ks.starts_with("MYSQL_") || ks == "RUST_LOG" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NIGHTJAR_DATA_DIR", self.data_dir())
            .env("NIGHTJAR_KEYRING", "off")
            .env("NIGHTJAR_CONFIG", self.config_path())
            .arg("--config")
            .arg(self.config_path());
        let mut shown = vec!["nightjar".to_string()];
        for a in args {
            shown.push(a.as_ref().to_string_lossy().into_owned());
            cmd.arg(a);
        }
        for (k, v) in &self.envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        NjCmd { cmd, stdin: None, shown: shown.join(" ") }
    }

    /// Runs `nightjar args…` to completion.
    #[must_use]
    pub fn run<I, S>(&self, args: I) -> NjOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd(args).run()
    }

    /// `nightjar history --json [--job NAME]`: the run records, as printed.
    #[must_use]
    pub fn history(&self, job: Option<&str>) -> Vec<Value> {
        let mut args = vec!["history", "--json", "--limit", "1000"];
        if let Some(j) = job {
            args.extend(["--job", j]);
        }
        let out = self.run(&args).assert_success();
        match out.json() {
            Value::Array(rows) => rows,
            other => panic!("`nightjar history --json` printed {other}, not an array"),
        }
    }

    /// The content of every log file under the data dir (for secret checks).
    #[must_use]
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let dir = self.data_dir().join("logs");
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }
}

/// A `nightjar` command being built.
pub struct NjCmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    shown: String,
}

impl NjCmd {
    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, k: impl AsRef<std::ffi::OsStr>, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Removes an environment variable.
    #[must_use]
    pub fn env_remove(mut self, k: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env_remove(k);
        self
    }

    /// Runs it under the process umask `mask` (e.g. `0o022`, the usual
    /// default), through `sh -c 'umask …; exec …'`.
    #[must_use]
    pub fn umask(mut self, mask: u32) -> Self {
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c").arg(format!("umask {mask:03o} && exec \"$0\" \"$@\"")).arg(self.cmd.get_program()).args(self.cmd.get_args());
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            sh.current_dir(dir);
        }
        self.cmd = sh;
        self
    }

    /// Feeds `data` to stdin.
    #[must_use]
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Runs to completion (at most 5 minutes).
    #[must_use]
    pub fn run(self) -> NjOutput {
        self.spawn().wait(Duration::from_secs(300))
    }

    /// Starts it in the background.
    #[must_use]
    pub fn spawn(mut self) -> NjChild {
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().unwrap_or_else(|e| panic!("could not start `{}`: {e}", self.shown));
        if let (Some(data), Some(mut stdin)) = (self.stdin.take(), child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let out = child.stdout.take().map(reader);
        let err = child.stderr.take().map(reader);
        NjChild { child, out, err, shown: self.shown, done: false }
    }
}

fn reader(mut r: impl std::io::Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// A running `nightjar`; killed if dropped before it ends.
pub struct NjChild {
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
    shown: String,
    done: bool,
}

impl NjChild {
    /// Its pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while it runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, as a crash or `kill -9` would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits (bounded) for it to end and collects its output.
    #[must_use]
    pub fn wait(mut self, timeout: Duration) -> NjOutput {
        let shown = self.shown.clone();
        let child = &mut self.child;
        let status = until(&format!("`{shown}` to finish"), timeout, || child.try_wait().ok().flatten());
        self.done = true;
        let stdout = self.out.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = self.err.take().and_then(|h| h.join().ok()).unwrap_or_default();
        NjOutput {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            shown,
        }
    }
}

impl Drop for NjChild {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a finished `nightjar` printed.
#[derive(Debug, Clone)]
pub struct NjOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// The command line, for messages.
    pub shown: String,
}

impl NjOutput {
    /// Asserts exit 0 and returns self.
    #[track_caller]
    #[must_use]
    pub fn assert_success(self) -> Self {
        assert!(self.status.success(), "`{}` failed ({}):\nstdout: {}\nstderr: {}", self.shown, self.status, self.stdout, self.stderr);
        self
    }

    /// Asserts a non-zero exit (not a crash by signal) and returns self.
    #[track_caller]
    #[must_use]
    pub fn assert_failure(self) -> Self {
        assert!(
            self.status.code().is_some_and(|c| c != 0),
            "`{}` should have failed with a non-zero exit code but ended with {}:\nstdout: {}\nstderr: {}",
            self.shown,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The single line a failure prints on stderr (asserts there is exactly one).
    #[track_caller]
    #[must_use]
    pub fn error_line(&self) -> String {
        // Warnings (e.g. low disk space on the machine running the tests)
        // are separate from the one error line.
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty() && !l.contains(": warning: ")).collect();
        assert_eq!(lines.len(), 1, "`{}` should print exactly one line on stderr, printed:\n{}", self.shown, self.stderr);
        lines[0].to_string()
    }

    /// stdout parsed as one JSON document.
    #[track_caller]
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("`{}` did not print one JSON document ({e}):\n{}\nstderr: {}", self.shown, self.stdout, self.stderr))
    }
}

/// Field `key` of a JSON object as a string (panics with the object otherwise).
#[track_caller]
#[must_use]
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("no string field `{key}` in {v}"))
}

/// Field `key` of a JSON object as a u64 (panics with the object otherwise).
#[track_caller]
#[must_use]
pub fn u64_field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("no integer field `{key}` in {v}"))
}

/// Reads the whole of `path` as text (lossy), empty when missing.
#[must_use]
pub fn read_lossy(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}
