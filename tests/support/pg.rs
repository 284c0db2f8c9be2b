//! A throwaway PostgreSQL cluster per test binary (or per test, for tests
//! that stop or kill the server).
//!
//! `initdb` refuses to run as root, so when the tests run as root (CI here)
//! `initdb`, `pg_ctl` and the server run as the `postgres` system user via
//! `runuser`. The cluster listens on no TCP address at all, only on a Unix
//! socket in its own temp dir: hermetic, parallel-safe, and independent of
//! any PostgreSQL service the machine runs.
//!
//! A cluster held in a `static` is never dropped, so each cluster also starts
//! a tiny watchdog (`sh`) that stops the server and removes its directory
//! once the test process is gone, whatever way it ended.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::is_root;
use crate::wait::{secs, until};

/// The port number in the socket file name; any number works because every
/// cluster has its own socket directory.
pub const PORT: u16 = 5432;

/// A PostgreSQL cluster in a temp dir.
pub struct PgCluster {
    root: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    port: u16,
    watchdog: Mutex<Option<Child>>,
}

/// The directory holding `initdb`, `pg_ctl`, `postgres`, `psql`, `pg_dump`,
/// `pg_restore`: the newest `/usr/lib/postgresql/*/bin`, else the one on PATH.
#[must_use]
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("NIGHTJAR_TEST_PG_BIN").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((major, bin))
            })
            .collect();
        found.sort();
        if let Some((_, dir)) = found.pop() {
            return dir;
        }
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin or on PATH; \
                     install them (Debian/Ubuntu: apt install postgresql) or set NIGHTJAR_TEST_PG_BIN"
                )
            })
    })
    .clone()
}

/// The major version of the server binaries in [`bin_dir`].
#[must_use]
pub fn server_major() -> u32 {
    let out = Command::new(bin_dir().join("pg_ctl")).arg("--version").output().expect("pg_ctl --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.rsplit(' ').next().and_then(|v| v.trim().split('.').next()).and_then(|m| m.parse().ok()).unwrap_or(0)
}

fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == "postgres").then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
        .unwrap_or_else(|| {
            panic!("running as root, but there is no `postgres` system user to run the test cluster as (apt install postgresql creates one)")
        })
}

impl PgCluster {
    /// The cluster shared by every test of this test binary (started on first use).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start_new)
    }

    /// Creates, configures and starts a new cluster (about a second).
    #[must_use]
    pub fn start_new() -> PgCluster {
        Self::start_with_data_in(None)
    }

    /// [`PgCluster::start_new`] with the data directory (tables, not the
    /// WAL, which stays in the cluster's temp dir) in a new folder under
    /// `parent`: e.g. a small tmpfs, to fill the server's disk. The folder
    /// is left for the caller to remove (unmount).
    #[must_use]
    pub fn start_with_data_in(parent: Option<&Path>) -> PgCluster {
        Self::start_inner(parent, None)
    }

    /// A new cluster that also listens on TCP `127.0.0.1:<a free port>`,
    /// where every role must give a password (scram): the socket (named
    /// after that port) still lets `postgres` in without one.
    #[must_use]
    pub fn start_with_tcp() -> PgCluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free TCP port").port();
        Self::start_inner(None, Some(port))
    }

    fn start_inner(parent: Option<&Path>, tcp_port: Option<u16>) -> PgCluster {
        let root = tempfile::Builder::new().prefix("nj-pg-").tempdir_in("/tmp").expect("create the cluster's temp dir").keep();
        let data = parent.map_or_else(|| root.join("data"), |p| p.join("pgdata"));
        let waldir = parent.map(|_| root.join("wal"));
        if let Some(p) = parent {
            std::fs::create_dir(&data).expect("create the data dir");
            if is_root() {
                let (uid, gid) = postgres_ids();
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown the data dir's parent to postgres");
                std::os::unix::fs::chown(&data, Some(uid), Some(gid)).expect("chown the data dir to postgres");
            }
        }
        let sock = root.join("sock");
        std::fs::create_dir(&sock).expect("create the socket dir");
        let log = root.join("server.log");
        if is_root() {
            let (uid, gid) = postgres_ids();
            for p in [&root, &sock] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown the cluster dir to postgres");
            }
        }
        let port = tcp_port.unwrap_or(PORT);
        let cluster = PgCluster { root, bin: bin_dir(), data, sock, log, port, watchdog: Mutex::new(None) };
        cluster.start_watchdog();
        let mut initdb = cluster.as_server_user("initdb");
        initdb.args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-A", "trust", "-D"]).arg(&cluster.data);
        if let Some(w) = &waldir {
            initdb.arg(format!("--waldir={}", w.display()));
        }
        let out = initdb.output().expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let conf = format!(
            "\n# nightjar tests: socket only, in our own dir; speed over durability\n\
             listen_addresses = '{}'\n\
             unix_socket_directories = '{}'\n\
             port = {port}\n\
             fsync = off\n\
             full_page_writes = off\n\
             max_connections = 60\n\
             shared_buffers = 32MB\n\
             lc_messages = 'C'\n\
             password_encryption = 'scram-sha-256'\n",
            if tcp_port.is_some() { "127.0.0.1" } else { "" },
            cluster.sock.display()
        );
        append(&cluster.data.join("postgresql.conf"), &conf);
        std::fs::write(
            cluster.data.join("pg_hba.conf"),
            format!(
                "# nightjar tests\nlocal all postgres trust\nlocal all all scram-sha-256\n{}",
                if tcp_port.is_some() { "host all all 127.0.0.1/32 scram-sha-256\n" } else { "" }
            ),
        )
        .expect("write pg_hba.conf");
        cluster.start();
        cluster
    }

    fn as_server_user(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.current_dir(&self.root).stdin(Stdio::null()).env("LC_ALL", "C").env_remove("PGDATA");
        c
    }

    fn start_watchdog(&self) {
        // Stops the server and removes the dir once this process is gone.
        // Its own process group, so a Ctrl-C on the test run does not kill
        // the watchdog before it has cleaned up.
        let runuser = if is_root() { "runuser -u postgres --" } else { "" };
        let script = format!(
            "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; {runuser} \"$2\" -D \"$3\" -m immediate -w stop >/dev/null 2>&1; rm -rf \"$4\""
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("nightjar-test-pg-watchdog")
            .arg(std::process::id().to_string())
            .arg(self.bin.join("pg_ctl"))
            .arg(&self.data)
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the cluster watchdog");
        *self.watchdog.lock().unwrap() = Some(child);
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start(&self) {
        let out = self
            .as_server_user("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run pg_ctl start");
        assert!(out.status.success(), "pg_ctl start failed: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), self.log_tail());
    }

    /// Stops the server the hard way (`pg_ctl stop -m immediate`): every
    /// connection is cut at once, as in a crash or a killed container.
    pub fn stop_immediate(&self) {
        self.stop_mode("immediate");
    }

    /// Stops the server cleanly (`-m fast`).
    pub fn stop(&self) {
        self.stop_mode("fast");
    }

    fn stop_mode(&self, mode: &str) {
        let out = self
            .as_server_user("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-t", "60", "stop"])
            .output()
            .expect("run pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop -m {mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// True when the server accepts connections.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.try_psql("postgres", "SELECT 1").is_ok()
    }

    /// The directory holding the server's Unix socket.
    #[must_use]
    pub fn sock_dir(&self) -> &Path {
        &self.sock
    }

    /// The port: in the socket's name, and on TCP for [`PgCluster::start_with_tcp`].
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the PostgreSQL tools used by this cluster.
    #[must_use]
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// A tool of this cluster's version (`psql`, `pg_dump`, `pg_restore`).
    #[must_use]
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `postgres://postgres@/db?host=<sockdir>`: the superuser, no password.
    #[must_use]
    pub fn url(&self, db: &str) -> String {
        self.url_as("postgres", db)
    }

    /// `postgres://user@/db?host=<sockdir>`.
    #[must_use]
    pub fn url_as(&self, user: &str, db: &str) -> String {
        let port = if self.port == PORT { String::new() } else { format!("&port={}", self.port) };
        format!("postgres://{user}@/{db}?host={}{port}", self.sock.display())
    }

    /// A `psql` command connected to `db` as `postgres` over the socket.
    #[must_use]
    pub fn psql_command(&self, db: &str) -> Command {
        let mut c = Command::new(self.tool("psql"));
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.sock)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .env("PGCLIENTENCODING", "UTF8")
            .env("LC_MESSAGES", "C")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS");
        c
    }

    /// Runs `sql` in `db`; the output (unaligned, tuples only) or stderr.
    ///
    /// # Errors
    /// psql's stderr when it fails.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut child = self
            .psql_command(db)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("psql could not be started: {e}"))?;
        let mut stdin = child.stdin.take().expect("stdin piped");
        let sql = sql.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(sql.as_bytes());
        });
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let _ = writer.join();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs `sql` in `db` and returns its output; panics with psql's error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|e| panic!("psql on {db} failed: {e}\nSQL: {}", shorten(sql)))
    }

    /// Creates database `name` (owned by `postgres`).
    pub fn create_db(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {}", ident(name)));
    }

    /// Creates a database with a fresh unique name starting with `prefix`.
    #[must_use]
    pub fn fresh_db(&self, prefix: &str) -> String {
        let name = crate::unique(prefix);
        self.create_db(&name);
        name
    }

    /// Creates a login role that must authenticate with `password` (scram).
    pub fn create_role(&self, name: &str, password: &str) {
        self.psql("postgres", &format!("CREATE ROLE {} LOGIN PASSWORD {}", ident(name), literal(password)));
    }

    /// Holds `LOCK TABLE table IN ACCESS EXCLUSIVE MODE` in `db` from a
    /// background psql session until released or dropped; `pg_dump` of that
    /// database then waits on it, deterministically.
    #[must_use]
    pub fn lock_table(&self, db: &str, table: &str) -> LockHolder {
        LockHolder::new(self, db, table)
    }

    /// Number of `pg_dump` sessions on `db` waiting for a lock.
    #[must_use]
    pub fn pg_dumps_waiting(&self, db: &str) -> usize {
        self.try_psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = {} AND application_name = 'pg_dump' AND wait_event_type = 'Lock'",
                literal(db)
            ),
        )
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
    }

    /// Waits (bounded) until a `pg_dump` of `db` is blocked on a lock.
    pub fn wait_for_blocked_pg_dump(&self, db: &str) {
        until(&format!("a pg_dump of {db} blocked on the table lock"), secs(60), || (self.pg_dumps_waiting(db) > 0).then_some(()));
    }

    /// The last lines of the server log (for failure messages).
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.as_server_user("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]).output();
        if let Some(mut w) = self.watchdog.lock().map(|mut g| g.take()).unwrap_or(None) {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open postgresql.conf");
    f.write_all(text.as_bytes()).expect("append to postgresql.conf");
}

fn shorten(s: &str) -> String {
    if s.len() > 400 {
        let mut end = 400;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// `"name"` as an SQL identifier.
#[must_use]
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` as an SQL literal.
#[must_use]
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A psql session holding an exclusive table lock (see [`PgCluster::lock_table`]).
pub struct LockHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

const LOCKED_MARKER: &str = "nightjar-test-locked";

impl LockHolder {
    fn new(cluster: &PgCluster, db: &str, table: &str) -> LockHolder {
        let mut child = cluster
            .psql_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the lock-holding psql");
        let mut stdin = child.stdin.take().expect("stdin piped");
        writeln!(stdin, "BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\nSELECT '{LOCKED_MARKER}';").expect("send LOCK TABLE");
        stdin.flush().expect("flush psql stdin");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == LOCKED_MARKER {
                    let _ = tx.send(());
                }
            }
        });
        let mut holder = LockHolder { child, stdin: Some(stdin) };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            holder.kill();
            panic!("the lock on {table} in {db} was not taken within 30 s");
        }
        holder
    }

    /// Ends the transaction (and the session), releasing the lock.
    pub fn release(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "ROLLBACK;");
        }
        // Closing stdin ends psql; wait (bounded) for it.
        let child = &mut self.child;
        until("the lock-holding psql to exit", secs(30), || child.try_wait().ok().flatten());
    }

    fn kill(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        self.kill();
    }
}
