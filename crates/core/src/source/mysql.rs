//! MySQL and MariaDB through `mariadb-dump` / `mysqldump` on the host or
//! `docker exec <container> mysqldump`.
//!
//! Before dumping, the tool's version and flavour (`mysqldump --version`)
//! and the server's (`SELECT VERSION()` with the `mariadb`/`mysql` client
//! beside it) are read, and combinations known not to work are refused with
//! the fix:
//! - a MySQL `mysqldump` older than the MySQL server's major version;
//! - MariaDB's dump tool against a MySQL 8+ server (its dump starts with
//!   MariaDB's sandbox line, which MySQL's own client rejects on restore).
//!
//! MySQL 8's `mysqldump` against a MariaDB server gets
//! `--column-statistics=0` (MariaDB has no `COLUMN_STATISTICS` table).
//!
//! The password reaches the tools only through `MYSQL_PWD` in the child's
//! environment (copied into a container with `docker exec -e MYSQL_PWD`),
//! never argv.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Selection;
use crate::db::DbUrl;
use crate::source::child::{program_name, run_capture, CaptureError, ChildFailure};
use crate::source::locate::{self, Tool};
use crate::source::postgres::Version;
use crate::{Error, ErrorKind, Result};

/// Environment variable naming a directory holding the MySQL/MariaDB client
/// tools, for every job (a job's `tool_dir` takes precedence).
pub const TOOL_DIR_ENV: &str = "NIGHTJAR_MYSQL_BIN";

/// How to reach the server. Its `Debug` shows `***` for the password.
#[derive(Clone)]
pub struct MyTarget {
    /// The database URL (no password inside).
    pub url: DbUrl,
    /// The password for `MYSQL_PWD`, if any.
    pub password: Option<String>,
    /// Run the tools inside this container.
    pub docker_container: Option<String>,
}

impl std::fmt::Debug for MyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyTarget")
            .field("url", &self.url)
            .field("password", &crate::db::hidden(self.password.as_ref()))
            .field("docker_container", &self.docker_container)
            .finish()
    }
}

/// MySQL or MariaDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Oracle MySQL (and Percona).
    Mysql,
    /// MariaDB.
    Mariadb,
}

impl Flavour {
    /// "MySQL" / "MariaDB".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Mysql => "MySQL",
            Flavour::Mariadb => "MariaDB",
        }
    }
}

/// A version with its flavour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyVersion {
    /// MySQL or MariaDB.
    pub flavour: Flavour,
    /// (major, minor, patch).
    pub number: (u32, u32, u32),
    /// The text as reported.
    pub text: String,
}

impl MyVersion {
    /// As a [`Version`] (major and text).
    #[must_use]
    pub fn as_version(&self) -> Version {
        Version { major: self.number.0, text: self.text.clone() }
    }

    /// "MariaDB 10.11" / "MySQL 8.0".
    #[must_use]
    pub fn short(&self) -> String {
        format!("{} {}.{}", self.flavour.name(), self.number.0, self.number.1)
    }
}

/// The dump tool and the client beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyTools {
    /// `mariadb-dump` or `mysqldump` (a path, or a name inside the container).
    pub dump: PathBuf,
    /// `mariadb` or `mysql`.
    pub client: PathBuf,
    /// The dump tool's version and flavour.
    pub version: MyVersion,
}

impl MyTools {
    /// The dump tool's file name.
    #[must_use]
    pub fn dump_name(&self) -> String {
        program_name(&self.dump.to_string_lossy())
    }
}

/// What the preparation step found.
#[derive(Debug, Clone)]
pub struct MyPrepared {
    /// The chosen tools.
    pub tools: MyTools,
    /// The server's version.
    pub server: MyVersion,
}

fn parse_numbers(s: &str) -> Option<(u32, u32, u32)> {
    let core: String = s.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let mut it = core.split('.').filter(|p| !p.is_empty()).map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next().flatten().unwrap_or(0);
    let patch = it.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Parses `mysqldump --version` / `mariadb-dump --version`.
#[must_use]
pub fn parse_tool_version(out: &str) -> Option<MyVersion> {
    // "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"
    // "mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)"
    // "mysqldump  Ver 8.0.35 for Linux on x86_64 (MySQL Community Server - GPL)"
    let line = out.lines().find(|l| l.contains("Ver "))?;
    let flavour = if line.contains("MariaDB") || line.contains("mariadb") { Flavour::Mariadb } else { Flavour::Mysql };
    let text = if let Some((_, rest)) = line.split_once("Distrib ") {
        rest.split([',', ' ']).next()?.to_string()
    } else {
        line.split_once("Ver ")?.1.split(' ').next()?.to_string()
    };
    let number = parse_numbers(&text)?;
    // A "mariadb-dump" that calls itself by a MySQL-looking version is still MariaDB's.
    let flavour = if line.trim_start().starts_with("mariadb") { Flavour::Mariadb } else { flavour };
    Some(MyVersion { flavour, number, text })
}

/// Parses `SELECT VERSION()`.
#[must_use]
pub fn parse_server_version(out: &str) -> Option<MyVersion> {
    // "10.11.19-MariaDB-0+deb12u1", "8.0.35", "5.5.5-10.11.6-MariaDB" (old replication prefix)
    let text = out.trim().lines().next()?.trim().to_string();
    let flavour = if text.contains("MariaDB") { Flavour::Mariadb } else { Flavour::Mysql };
    let shown = text.strip_prefix("5.5.5-").filter(|_| flavour == Flavour::Mariadb).unwrap_or(&text);
    Some(MyVersion { flavour, number: parse_numbers(shown)?, text })
}

fn base_env(cmd: &mut Command, password: Option<&str>) {
    cmd.env("LC_MESSAGES", "C").env_remove("LANGUAGE").env_remove("MYSQL_PWD");
    if let Some(p) = password {
        cmd.env("MYSQL_PWD", p);
    }
}

/// Connection options for the client tools (no password).
#[must_use]
pub fn connection_args(url: &DbUrl) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(u) = &url.user {
        args.push(format!("--user={u}"));
    }
    let socket = url.params.get("socket").cloned().or_else(|| url.host.clone().filter(|h| h.starts_with('/')));
    match (&socket, url.host.as_deref().filter(|h| !h.starts_with('/'))) {
        (Some(s), _) => {
            args.push("--protocol=SOCKET".into());
            args.push(format!("--socket={s}"));
        }
        (None, Some(h)) => {
            args.push(format!("--host={h}"));
            if h != "localhost" || url.port.is_some() {
                args.push("--protocol=TCP".into());
            }
        }
        (None, None) => {}
    }
    if let Some(p) = url.port {
        args.push(format!("--port={p}"));
    }
    for (k, v) in &url.params {
        match k.as_str() {
            "ssl-mode" | "ssl_mode" | "sslmode" => args.push(format!("--ssl-mode={v}")),
            "ssl-ca" | "ssl_ca" => args.push(format!("--ssl-ca={v}")),
            _ => {}
        }
    }
    args
}

/// The command for `program args…` against `target`: on the host, or
/// through `docker exec -i` when the target is in a container. The
/// password, if any, goes into the child's environment (`MYSQL_PWD`).
#[must_use]
pub fn tool_command(target: &MyTarget, program: &Path, args: &[String]) -> Command {
    match &target.docker_container {
        None => {
            let mut c = Command::new(program);
            c.args(args);
            base_env(&mut c, target.password.as_deref());
            c
        }
        Some(container) => {
            let mut c = Command::new(locate::docker());
            c.arg("exec").arg("-i").args(["-e", "LC_MESSAGES=C"]);
            if target.password.is_some() {
                c.args(["-e", "MYSQL_PWD"]);
            }
            c.arg(container).arg(program).args(args);
            base_env(&mut c, target.password.as_deref());
            c
        }
    }
}

/// Directories that may hold the client tools, in search order ([`locate`]
/// has the rules per system).
fn candidate_dirs(tool_dir: Option<&Path>) -> Vec<PathBuf> {
    locate::candidate_dirs(Tool::Mysql, tool_dir, TOOL_DIR_ENV)
}

fn exe(dir: &Path, name: &str) -> PathBuf {
    if cfg!(windows) { dir.join(format!("{name}.exe")) } else { dir.join(name) }
}

/// The dump tools found on the host (`mariadb-dump` before `mysqldump` in
/// each directory), with their versions, in search order.
#[must_use]
pub fn installed_tools(tool_dir: Option<&Path>) -> Vec<MyTools> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for dir in candidate_dirs(tool_dir) {
        for (dump, client) in [("mariadb-dump", "mariadb"), ("mysqldump", "mysql")] {
            let p = exe(&dir, dump);
            if !p.is_file() {
                continue;
            }
            let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if !seen.insert(key) {
                continue;
            }
            let mut c = Command::new(&p);
            c.arg("--version");
            if let Ok(v) = run_capture(c)
                && let Some(version) = parse_tool_version(&v)
            {
                let client = [exe(&dir, client), exe(&dir, if client == "mariadb" { "mysql" } else { "mariadb" })]
                    .into_iter()
                    .find(|c| c.is_file())
                    .unwrap_or_else(|| exe(&dir, client));
                out.push(MyTools { dump: p, client, version });
            }
        }
    }
    out
}

fn spawn_error(target: &MyTarget, tool: &str, e: std::io::Error) -> Error {
    if target.docker_container.is_some() && e.kind() == std::io::ErrorKind::NotFound {
        return Error::new(ErrorKind::Tool, "The docker command was not found; install Docker or remove `docker_container` from the job.").with_source(e);
    }
    Error::new(
        ErrorKind::Tool,
        format!("{tool} could not be started ({e}); {} or set the job's `tool_dir`.", locate::hint(Tool::Mysql, None)),
    )
    .with_source(e)
}

/// Runs one SQL statement with the client and returns its output
/// (tab-separated, no column names).
///
/// # Errors
/// The client's failure, classified.
pub fn client_query(target: &MyTarget, client: &Path, database: Option<&str>, sql: &str) -> Result<String> {
    let mut args = connection_args(&target.url);
    args.extend(["--batch".to_string(), "--skip-column-names".into(), "--raw".into(), "--default-character-set=utf8mb4".into(), "--connect-timeout=10".into()]);
    if let Some(db) = database {
        args.push(format!("--database={db}"));
    }
    args.push(format!("--execute={sql}"));
    match run_capture(tool_command(target, client, &args)) {
        Ok(out) => Ok(out),
        Err(CaptureError::Spawn(e)) => Err(spawn_error(target, &program_name(&client.to_string_lossy()), e)),
        Err(CaptureError::Failed(f)) => Err(classify_failure(&f, target)),
    }
}

/// Reads the server's version with the client.
///
/// # Errors
/// A connection/auth error classified from the client's stderr.
pub fn server_version(target: &MyTarget, client: &Path) -> Result<MyVersion> {
    let out = client_query(target, client, None, "SELECT VERSION()")?;
    parse_server_version(&out).ok_or_else(|| {
        Error::new(ErrorKind::Tool, format!("Could not read the server version of {}: the client printed {:?}.", target.url.server(), out.trim()))
    })
}

/// Picks the tools for `target`, reads the server's version and refuses a
/// combination known not to work.
///
/// # Errors
/// Tool missing or unfit (with the fix), or the connection failing.
pub fn prepare(target: &MyTarget, tool_dir: Option<&Path>) -> Result<MyPrepared> {
    if let Some(container) = &target.docker_container {
        // Inside the container: mariadb-dump if it has one, else mysqldump.
        let mut last_err = None;
        for (dump, client) in [("mariadb-dump", "mariadb"), ("mysqldump", "mysql")] {
            let mut c = tool_command(target, Path::new(dump), &["--version".to_string()]);
            c.env_remove("MYSQL_PWD");
            match run_capture(c) {
                Ok(out) => {
                    let version = parse_tool_version(&out).ok_or_else(|| Error::new(ErrorKind::Tool, format!("The container's {dump} did not report a version.")))?;
                    let tools = MyTools { dump: PathBuf::from(dump), client: PathBuf::from(client), version };
                    let server = server_version(target, &tools.client)?;
                    check_combination(&tools, &server, target, true)?;
                    return Ok(MyPrepared { tools, server });
                }
                Err(CaptureError::Spawn(e)) => return Err(spawn_error(target, dump, e)),
                Err(CaptureError::Failed(f)) => last_err = Some(f),
            }
        }
        let line = last_err.map(|f| f.last_line().to_string()).unwrap_or_default();
        return Err(Error::new(
            ErrorKind::Tool,
            format!("Could not run mariadb-dump or mysqldump in the container \"{container}\" ({line}); check that the container is running and has the MariaDB/MySQL client tools."),
        ));
    }
    let candidates = installed_tools(tool_dir);
    let Some(first) = candidates.first() else {
        let where_ = tool_dir.map_or_else(|| "on this computer".to_string(), |d| format!("in {}", d.display()));
        return Err(Error::new(
            ErrorKind::Tool,
            format!("Neither mariadb-dump nor mysqldump was found {where_}; {} or set the job's `tool_dir`.", locate::hint(Tool::Mysql, None)),
        ));
    };
    let server = server_version(target, &first.client)?;
    // Prefer a tool of the server's own flavour, then the newest.
    let chosen = candidates
        .iter()
        .filter(|t| check_combination(t, &server, target, false).is_ok())
        .max_by_key(|t| (t.version.flavour == server.flavour, t.version.number))
        .unwrap_or(first)
        .clone();
    check_combination(&chosen, &server, target, false)?;
    Ok(MyPrepared { tools: chosen, server })
}

/// Refuses a tool/server pair known not to work, naming the fix.
///
/// # Errors
/// [`ErrorKind::Tool`] with the fix.
pub fn check_combination(tools: &MyTools, server: &MyVersion, target: &MyTarget, docker: bool) -> Result<()> {
    let t = &tools.version;
    let at = target.url.server();
    let fix_mysql = |m: String| {
        if docker {
            format!("use an image whose mysqldump is MySQL {m} or newer")
        } else {
            format!("install the MySQL {m} client tools (mysql-client) and point the job's `tool_dir` at them")
        }
    };
    match (t.flavour, server.flavour) {
        (Flavour::Mysql, Flavour::Mysql) if (t.number.0, t.number.1) < (server.number.0, server.number.1) && t.number.0 < server.number.0 => {
            Err(Error::new(
                ErrorKind::Tool,
                format!(
                    "{} {} is older than the MySQL {} server at {at}, and cannot dump it completely; {}.",
                    tools.dump_name(),
                    t.text,
                    server.text,
                    fix_mysql(format!("{}.{}", server.number.0, server.number.1))
                ),
            ))
        }
        (Flavour::Mariadb, Flavour::Mysql) if server.number.0 >= 8 => Err(Error::new(
            ErrorKind::Tool,
            format!(
                "{} is MariaDB's ({}), and its dumps of the MySQL {} server at {at} do not restore with MySQL's own client; {}.",
                tools.dump_name(),
                t.text,
                server.text,
                fix_mysql(format!("{}.{}", server.number.0, server.number.1))
            ),
        )),
        _ => Ok(()),
    }
}

/// The dump command for one backup: one consistent snapshot
/// (`--single-transaction`), routines, triggers and events, BLOBs as hex,
/// utf8mb4 throughout.
#[must_use]
pub fn dump_command(target: &MyTarget, prepared: &MyPrepared, sel: &Selection) -> Command {
    let mut args = connection_args(&target.url);
    args.extend(
        [
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--no-tablespaces",
            "--skip-dump-date",
            "--quick",
        ]
        .map(String::from),
    );
    let t = &prepared.tools.version;
    if t.flavour == Flavour::Mysql {
        if t.number.0 >= 8 && prepared.server.flavour == Flavour::Mariadb {
            args.push("--column-statistics=0".into());
        }
        if (t.number.0, t.number.1) >= (5, 6) {
            args.push("--set-gtid-purged=OFF".into());
        }
    }
    let db = &target.url.database;
    for t in &sel.exclude_tables {
        let table = t.rsplit_once('.').map_or(t.as_str(), |(_, n)| n);
        args.push(format!("--ignore-table={db}.{table}"));
    }
    args.push("--".into());
    args.push(db.clone());
    for t in &sel.tables {
        args.push(t.rsplit_once('.').map_or(t.clone(), |(_, n)| n.to_string()));
    }
    tool_command(target, &prepared.tools.dump, &args)
}

/// Spawn failure of the dump tool as an [`Error`].
#[must_use]
pub fn dump_spawn_error(target: &MyTarget, tools: &MyTools, e: std::io::Error) -> Error {
    spawn_error(target, &tools.dump_name(), e)
}

/// A rejected or missing password, as one sentence; `None` for any other failure.
#[must_use]
pub fn classify_password_failure(f: &ChildFailure, target: &MyTarget) -> Option<Error> {
    let err = f.stderr_tail.as_str();
    if !err.contains("Access denied for user") {
        return None;
    }
    let server = target.url.server();
    let user = target.url.user.as_deref().unwrap_or("the current user");
    if err.contains("using password: NO") {
        return Some(Error::new(
            ErrorKind::Auth,
            format!("MySQL/MariaDB at {server} wants a password for user \"{user}\" and none is stored; store it with `nightjar password set` (or set MYSQL_PWD)."),
        ));
    }
    if err.contains("using password: YES") {
        return Some(Error::new(
            ErrorKind::Auth,
            format!("MySQL/MariaDB at {server} rejected the password for user \"{user}\"; store the right one with `nightjar password set` (or set MYSQL_PWD) and try again."),
        ));
    }
    None
}

/// Turns a failed client or dump tool into one sentence by cause.
#[must_use]
pub fn classify_failure(f: &ChildFailure, target: &MyTarget) -> Error {
    let err = f.stderr_tail.as_str();
    let server = target.url.server();
    let user = target.url.user.clone().unwrap_or_else(|| "the current user".into());
    let db = &target.url.database;
    let has = |s: &str| err.contains(s);
    if let Some(e) = classify_password_failure(f, target) {
        return e;
    }
    if has("Unknown database") {
        return Error::new(ErrorKind::Config, format!("The database \"{db}\" does not exist on {server}; fix the name in the job's database URL."));
    }
    if has("Lost connection to") || has("server has gone away") || has("Server has gone away") || has("Got an error reading communication packets") {
        return Error::new(
            ErrorKind::Connection,
            format!("The MySQL/MariaDB server at {server} closed the connection during the dump (stopped or restarted?); nothing was saved, run the backup again once it is up."),
        );
    }
    if has("Can't connect to") || has("Unknown MySQL server host") || has("Unknown server host") || has("Connection refused") {
        return Error::new(
            ErrorKind::Connection,
            format!("Cannot connect to MySQL/MariaDB at {server}: the server is not running or not reachable; start it or check the host, port or socket in the job's database URL."),
        );
    }
    if has("Couldn't find table") || (has("Table '") && has("doesn't exist")) {
        return Error::new(ErrorKind::Config, format!("A table the job selects is not in \"{db}\" on {server} ({}); fix the job's `tables`.", f.last_line()));
    }
    if has("Access denied") || has("command denied") || has("privilege") {
        return Error::new(
            ErrorKind::Auth,
            format!("User \"{user}\" may not read everything in \"{db}\" on {server} ({}); grant it SELECT, SHOW VIEW, TRIGGER, EVENT and LOCK TABLES, or dump fewer tables.", f.last_line()),
        );
    }
    f.dump_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> MyTarget {
        MyTarget { url: DbUrl::parse("mysql://app@db.example:3307/shop").unwrap(), password: Some("hunter2".into()), docker_container: None }
    }

    fn v(flavour: Flavour, n: (u32, u32, u32)) -> MyVersion {
        MyVersion { flavour, number: n, text: format!("{}.{}.{}", n.0, n.1, n.2) }
    }

    #[test]
    fn versions_parse() {
        let m = parse_tool_version("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n").unwrap();
        assert_eq!((m.flavour, m.number, m.text.as_str()), (Flavour::Mariadb, (10, 11, 19), "10.11.19-MariaDB"));
        let o = parse_tool_version("mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)").unwrap();
        assert_eq!((o.flavour, o.number), (Flavour::Mysql, (5, 7, 44)));
        let e = parse_tool_version("mysqldump  Ver 8.0.35 for Linux on x86_64 (MySQL Community Server - GPL)").unwrap();
        assert_eq!((e.flavour, e.number), (Flavour::Mysql, (8, 0, 35)));
        let s = parse_server_version("10.11.19-MariaDB-0+deb12u1\n").unwrap();
        assert_eq!((s.flavour, s.number), (Flavour::Mariadb, (10, 11, 19)));
        assert_eq!(parse_server_version("5.5.5-10.6.12-MariaDB").unwrap().number, (10, 6, 12));
        assert_eq!(parse_server_version("8.4.2").unwrap().flavour, Flavour::Mysql);
    }

    #[test]
    fn known_bad_combinations_are_refused_with_the_fix() {
        let t = target();
        let tools = |version| MyTools { dump: "/usr/bin/mysqldump".into(), client: "/usr/bin/mysql".into(), version };
        let old = check_combination(&tools(v(Flavour::Mysql, (5, 7, 44))), &v(Flavour::Mysql, (8, 0, 35)), &t, false).unwrap_err();
        assert!(old.to_string().contains("older than the MySQL 8.0.35 server at db.example:3307") && old.to_string().contains("MySQL 8.0 client"), "{old}");
        let maria = check_combination(&tools(v(Flavour::Mariadb, (10, 11, 6))), &v(Flavour::Mysql, (8, 0, 35)), &t, false).unwrap_err();
        assert!(maria.to_string().contains("MariaDB's"), "{maria}");
        for (tool, server) in [
            (v(Flavour::Mariadb, (10, 11, 6)), v(Flavour::Mariadb, (11, 4, 2))),
            (v(Flavour::Mysql, (8, 0, 35)), v(Flavour::Mariadb, (10, 11, 6))),
            (v(Flavour::Mysql, (8, 4, 0)), v(Flavour::Mysql, (8, 0, 35))),
            (v(Flavour::Mariadb, (10, 11, 6)), v(Flavour::Mysql, (5, 7, 44))),
        ] {
            assert!(check_combination(&tools(tool.clone()), &server, &t, false).is_ok(), "{tool:?} {server:?}");
        }
    }

    #[test]
    fn password_never_on_argv_and_options_are_complete() {
        let mut t = target();
        let prepared = MyPrepared {
            tools: MyTools { dump: "/usr/bin/mysqldump".into(), client: "/usr/bin/mysql".into(), version: v(Flavour::Mysql, (8, 0, 35)) },
            server: v(Flavour::Mariadb, (10, 11, 6)),
        };
        for docker in [None, Some("db".to_string())] {
            t.docker_container = docker;
            let c = dump_command(&t, &prepared, &Selection { tables: vec!["orders".into()], ..Selection::default() });
            let argv: Vec<String> = std::iter::once(c.get_program()).chain(c.get_args()).map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(!argv.iter().any(|a| a.contains("hunter2")), "{argv:?}");
            for needed in ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4", "--column-statistics=0", "--host=db.example", "--port=3307", "--user=app"] {
                assert!(argv.contains(&needed.to_string()), "{needed} missing: {argv:?}");
            }
            assert_eq!(&argv[argv.len() - 3..], ["--", "shop", "orders"]);
            let env: Vec<_> = c.get_envs().filter(|(k, v)| *k == "MYSQL_PWD" && v.is_some()).collect();
            assert_eq!(env.len(), 1);
        }
        let s = DbUrl::parse("mysql://root@/shop?socket=/tmp/my%20sock/mysqld.sock").unwrap();
        assert_eq!(connection_args(&s), ["--user=root", "--protocol=SOCKET", "--socket=/tmp/my sock/mysqld.sock"]);
        let s = DbUrl::parse("mysql://root@localhost/shop?socket=/run/mysqld/mysqld.sock").unwrap();
        assert_eq!(connection_args(&s), ["--user=root", "--protocol=SOCKET", "--socket=/run/mysqld/mysqld.sock"]);
        let d = DbUrl::parse("mariadb://app@/shop").unwrap();
        assert_eq!((d.engine, d.host.as_deref(), d.database.as_str()), (crate::model::Engine::Mysql, None, "shop"));
        assert_eq!(connection_args(&d), ["--user=app"], "no host: the client's default socket");
        let tcp = DbUrl::parse("mysql://app@127.0.0.1/shop").unwrap();
        assert_eq!(connection_args(&tcp), ["--user=app", "--host=127.0.0.1", "--protocol=TCP"]);
    }

    #[test]
    fn failures_become_one_sentence_by_cause() {
        let t = target();
        let fail = |e: &str, signal: Option<i32>| ChildFailure { program: "/usr/bin/mariadb-dump".into(), code: Some(2), signal, stderr_tail: e.into() };
        for (stderr, kind, needle) in [
            ("mariadb-dump: Got error: 1045: \"Access denied for user 'app'@'localhost' (using password: YES)\" when trying to connect", ErrorKind::Auth, "rejected the password"),
            ("mariadb-dump: Got error: 1045: \"Access denied for user 'app'@'localhost' (using password: NO)\" when trying to connect", ErrorKind::Auth, "none is stored"),
            ("mariadb-dump: Got error: 1049: \"Unknown database 'shop'\" when selecting the database", ErrorKind::Config, "does not exist"),
            ("mariadb-dump: Got error: 2002: \"Can't connect to local server through socket '/x' (2)\" when trying to connect", ErrorKind::Connection, "not running"),
            ("mariadb-dump: Error 2013: Lost connection to server during query when dumping table `t` at row: 1234", ErrorKind::Connection, "closed the connection"),
            ("mariadb-dump: Couldn't find table: \"nope\"", ErrorKind::Config, "`tables`"),
            ("something odd", ErrorKind::Tool, "mariadb-dump failed (exit code 2: something odd)"),
        ] {
            let e = classify_failure(&fail(stderr, None), &t);
            assert_eq!(e.kind(), kind, "{stderr}");
            assert!(e.to_string().contains(needle), "{e}");
            assert!(!e.to_string().contains("hunter2"));
        }
    }
}
