//! A throwaway MariaDB server per test binary (or per test, for tests that
//! kill the server).
//!
//! `mariadb-install-db` makes a data dir in a temp dir and `mariadbd
//! --no-defaults` serves it on a Unix socket in that dir with networking
//! off: hermetic, parallel-safe, and independent of any MariaDB or MySQL
//! service the machine runs (its config files are not read). As root the
//! server runs with `--user=root` (mariadbd refuses root otherwise).
//!
//! A server held in a `static` is never dropped, so each one also starts a
//! tiny watchdog (`sh`) that kills the server and removes its directory once
//! the test process is gone, whatever way it ended.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::is_root;
use crate::wait::{secs, until};

/// A MariaDB server in a temp dir.
pub struct MariaDbServer {
    root: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    server: Mutex<Option<Child>>,
    watchdog: Mutex<Option<Child>>,
}

fn program(name: &str, fallback: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        for n in [name, fallback] {
            let p = Path::new(dir).join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("{name} was not found; install the MariaDB server (Debian/Ubuntu: apt install mariadb-server mariadb-client)")
}

/// The `mariadb` client.
#[must_use]
pub fn client() -> PathBuf {
    program("mariadb", "mysql")
}

impl MariaDbServer {
    /// The server shared by every test of this test binary (started on first use).
    pub fn shared() -> &'static MariaDbServer {
        static SHARED: OnceLock<MariaDbServer> = OnceLock::new();
        SHARED.get_or_init(MariaDbServer::start_new)
    }

    /// Creates and starts a new server (about two seconds).
    #[must_use]
    pub fn start_new() -> MariaDbServer {
        let root = tempfile::Builder::new().prefix("nj-my-").tempdir_in("/tmp").expect("create the server's temp dir").keep();
        let data = root.join("data");
        let sock = root.join("mysqld.sock");
        let log = root.join("server.log");
        // Its own temp dir: bootstraps and servers running side by side must
        // not share /tmp's `#sql-temptable-*` files.
        std::fs::create_dir(root.join("tmp")).expect("create the server's tmpdir");
        let server = MariaDbServer { root, data, sock, log, server: Mutex::new(None), watchdog: Mutex::new(None) };
        server.start_watchdog();
        let mut install = Command::new(program("mariadb-install-db", "mysql_install_db"));
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", server.data.display()))
            .arg(format!("--tmpdir={}", server.root.join("tmp").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdin(Stdio::null());
        if is_root() {
            install.arg("--user=root");
        }
        let out = install.output().expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        server.start();
        server
    }

    fn start_watchdog(&self) {
        // Kills the server and removes the dir once this process is gone.
        // Its own process group, so a Ctrl-C on the test run does not kill
        // the watchdog before it has cleaned up.
        let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                      if [ -f \"$2/mysqld.pid\" ]; then kill -9 \"$(cat \"$2/mysqld.pid\")\" 2>/dev/null; sleep 1; fi; rm -rf \"$2\"";
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("nightjar-test-mariadb-watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the server watchdog");
        *self.watchdog.lock().unwrap() = Some(child);
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start(&self) {
        let mut cmd = Command::new(program("mariadbd", "mysqld"));
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data.display()))
            .arg(format!("--socket={}", self.sock.display()))
            .arg(format!("--pid-file={}", self.root.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", self.log.display()))
            .arg(format!("--tmpdir={}", self.root.join("tmp").display()))
            .args([
                "--skip-networking",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=48M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--event-scheduler=OFF",
                "--max-connections=60",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().expect("start mariadbd");
        *self.server.lock().unwrap() = Some(child);
        until(&format!("MariaDB on {} to accept connections (log: {})", self.sock.display(), self.log.display()), secs(60), || {
            if let Some(c) = self.server.lock().unwrap().as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("mariadbd exited ({status}) while starting:\n{}", self.log_tail());
            }
            self.try_sql("", "SELECT 1").ok()
        });
    }

    /// Kills the server with SIGKILL (a crash or a killed container) and
    /// waits until it is gone.
    pub fn kill9(&self) {
        if let Some(mut c) = self.server.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True when the server accepts connections.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.try_sql("", "SELECT 1").is_ok()
    }

    /// The server's Unix socket.
    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.sock
    }

    /// `mysql://root@localhost/db?socket=<sock>`: the superuser, no password.
    #[must_use]
    pub fn url(&self, db: &str) -> String {
        self.url_as("root", db)
    }

    /// `mysql://user@localhost/db?socket=<sock>`.
    #[must_use]
    pub fn url_as(&self, user: &str, db: &str) -> String {
        format!("mysql://{user}@localhost/{db}?socket={}", self.sock.display())
    }

    /// A `mariadb` client command connected as root over the socket
    /// (utf8mb4, batch mode, no column names).
    #[must_use]
    pub fn client_command(&self, db: &str) -> Command {
        let mut c = Command::new(client());
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.sock.display()))
            .args(["--protocol=SOCKET", "--user=root", "--default-character-set=utf8mb4", "--batch", "--skip-column-names", "--binary-mode"])
            .env("LC_MESSAGES", "C")
            .env_remove("MYSQL_PWD")
            .env_remove("MYSQL_HOST");
        if !db.is_empty() {
            c.arg(format!("--database={db}"));
        }
        c
    }

    /// Runs `sql` (a script) in `db`; the output or stderr.
    ///
    /// # Errors
    /// The client's stderr when it fails.
    pub fn try_sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut child = self
            .client_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("mariadb could not be started: {e}"))?;
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

    /// Runs `sql` in `db` and returns its output; panics with the client's error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql(db, sql).unwrap_or_else(|e| panic!("mariadb on {db} failed: {e}\nSQL: {}", shorten(sql)))
    }

    /// Creates database `name` (utf8mb4).
    pub fn create_db(&self, name: &str) {
        self.sql("", &format!("CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", ident(name)));
    }

    /// Creates a database with a fresh unique name starting with `prefix`.
    #[must_use]
    pub fn fresh_db(&self, prefix: &str) -> String {
        let name = crate::unique(prefix);
        self.create_db(&name);
        name
    }

    /// True when database `name` exists.
    #[must_use]
    pub fn db_exists(&self, name: &str) -> bool {
        !self.sql("", &format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}", literal(name))).is_empty()
    }

    /// Databases whose name starts with `prefix`.
    #[must_use]
    pub fn databases_like(&self, prefix: &str) -> Vec<String> {
        let out = self.sql("", &format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, {}) = {} ORDER BY 1", prefix.chars().count(), literal(prefix)));
        out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    /// Creates a user `name`@`localhost` that must log in with `password`,
    /// with every privilege on every database.
    pub fn create_user(&self, name: &str, password: &str) {
        self.sql(
            "",
            &format!(
                "CREATE USER {u}@'localhost' IDENTIFIED BY {p}; GRANT ALL PRIVILEGES ON *.* TO {u}@'localhost' WITH GRANT OPTION;",
                u = literal(name),
                p = literal(password)
            ),
        );
    }

    /// Holds `LOCK TABLES table WRITE` in `db` from a background client
    /// session until released or dropped; a dump of that table then waits
    /// on it, deterministically.
    #[must_use]
    pub fn lock_table(&self, db: &str, table: &str) -> TableLock {
        TableLock::new(self, db, &format!("LOCK TABLES {} WRITE;", ident(table)))
    }

    /// A background client session on `db` that ran `sql` (say, a
    /// transaction left open) and stays connected until dropped.
    #[must_use]
    pub fn session(&self, db: &str, sql: &str) -> TableLock {
        TableLock::new(self, db, sql)
    }

    /// Waits (bounded) until a session reading `db` waits for a table lock.
    pub fn wait_for_blocked_reader(&self, db: &str) {
        until(&format!("a session on {db} blocked on the table lock"), secs(60), || {
            let n: usize = self
                .try_sql(
                    "",
                    &format!(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = {} AND STATE LIKE 'Waiting for table metadata lock%'",
                        literal(db)
                    ),
                )
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            (n > 0).then_some(())
        });
    }

    /// The last lines of the server log (for failure messages).
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.kill9();
        if let Some(mut w) = self.watchdog.lock().map(|mut g| g.take()).unwrap_or(None) {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
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

/// `` `name` `` as an SQL identifier.
#[must_use]
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` as an SQL literal.
#[must_use]
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A client session holding a table write lock or a transaction (see
/// [`MariaDbServer::lock_table`], [`MariaDbServer::session`]).
pub struct TableLock {
    child: Child,
    stdin: Option<ChildStdin>,
}

const LOCKED_MARKER: &str = "nightjar-test-locked";

impl TableLock {
    fn new(server: &MariaDbServer, db: &str, sql: &str) -> TableLock {
        let mut child = server
            .client_command(db)
            .arg("--unbuffered")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the lock-holding client");
        let mut stdin = child.stdin.take().expect("stdin piped");
        writeln!(stdin, "{sql}\nSELECT '{LOCKED_MARKER}';").expect("send the session's statements");
        stdin.flush().expect("flush the client's stdin");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == LOCKED_MARKER {
                    let _ = tx.send(());
                }
            }
        });
        let mut holder = TableLock { child, stdin: Some(stdin) };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            holder.kill();
            panic!("the session on {db} did not run {sql:?} within 30 s");
        }
        holder
    }

    fn kill(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.kill();
    }
}
