//! PostgreSQL through `pg_dump` on the host or `docker exec <container> pg_dump`.
//!
//! Before dumping, the server's version is read with `psql` and the
//! `pg_dump` whose major version is the closest one not older than the
//! server is chosen among those installed (`/usr/lib/postgresql/*/bin`,
//! `/usr/pgsql-*/bin`, `%ProgramFiles%\PostgreSQL\<major>\bin`, Homebrew,
//! Postgres.app, `PATH`: see [`locate`]). An older `pg_dump`
//! cannot dump a newer server, so that case is refused with the fix.
//!
//! The password reaches the tools only through `PGPASSWORD` in the child's
//! environment, never argv; `--no-password` makes them fail instead of
//! prompting on a terminal nobody watches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Selection;
use crate::db::DbUrl;
use crate::model::{Compression, Format};
use crate::source::child::{run_capture, CaptureError, ChildFailure};
use crate::source::locate::{self, Tool};
use crate::{Error, ErrorKind, Result};

/// Environment variable naming a directory holding the PostgreSQL tools,
/// for every job (a job's `tool_dir` takes precedence).
pub const TOOL_DIR_ENV: &str = "NIGHTJAR_PG_BIN";

/// How to reach the server. Its `Debug` shows `***` for the password.
#[derive(Clone)]
pub struct PgTarget {
    /// The database URL (no password inside).
    pub url: DbUrl,
    /// The password for `PGPASSWORD`, if any.
    pub password: Option<String>,
    /// Run the tools inside this container.
    pub docker_container: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .field("password", &crate::db::hidden(self.password.as_ref()))
            .field("docker_container", &self.docker_container)
            .finish()
    }
}

/// A version reported by a tool or server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major version (15 for 15.4; 9 for 9.6 is reported as 9).
    pub major: u32,
    /// The full text (e.g. "15.20 (Debian 15.20-0+deb12u1)").
    pub text: String,
}

/// A `pg_dump` (and the `psql`/`pg_restore` beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTools {
    /// The `pg_dump` program (a path, or a name inside the container).
    pub pg_dump: PathBuf,
    /// Its version.
    pub version: Version,
}

/// What the preparation step found.
#[derive(Debug, Clone)]
pub struct PgPrepared {
    /// The chosen tools.
    pub tools: PgTools,
    /// The server's version, when it could be read.
    pub server: Option<Version>,
}

fn parse_tool_version(out: &str) -> Option<Version> {
    // "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
    let rest = out.trim().split_once(") ").map(|(_, r)| r)?;
    let major = rest.split(['.', ' ']).next()?.trim().parse().ok()?;
    Some(Version { major, text: rest.trim().to_string() })
}

/// The query [`server_version`] runs; its output is read by [`parse_server_version`].
pub(crate) const SERVER_VERSION_SQL: &str = "SELECT current_setting('server_version_num') || ' ' || current_setting('server_version')";

pub(crate) fn parse_server_version(out: &str) -> Option<Version> {
    // "150020 15.20 (Debian 15.20-0+deb12u1)"
    let (num, text) = out.trim().split_once(' ')?;
    let num: u32 = num.parse().ok()?;
    let major = if num >= 100_000 { num / 10_000 } else { num / 100 / 100 };
    Some(Version { major, text: text.trim().to_string() })
}

fn base_env(cmd: &mut Command, password: Option<&str>) {
    cmd.env("LC_MESSAGES", "C").env_remove("LANGUAGE");
    if let Ok(all) = std::env::var("LC_ALL") {
        cmd.env_remove("LC_ALL").env("LC_CTYPE", all);
    }
    if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
        cmd.env("PGCONNECT_TIMEOUT", "10");
    }
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
}

/// Builds the command for `program args…`, wrapped in `docker exec` when
/// the target is in a container. The password goes into the environment
/// (`docker exec -e PGPASSWORD` copies it from ours without a value on argv).
fn command(target: &PgTarget, program: &Path, args: &[String]) -> Command {
    match &target.docker_container {
        None => {
            let mut c = Command::new(program);
            c.args(args);
            base_env(&mut c, target.password.as_deref());
            c
        }
        Some(container) => {
            let mut c = Command::new(locate::docker());
            c.arg("exec").arg("-i").args(["-e", "LC_MESSAGES=C", "-e", "PGCONNECT_TIMEOUT=10"]);
            if target.password.is_some() {
                c.args(["-e", "PGPASSWORD"]);
            }
            c.arg(container).arg(program).args(args);
            base_env(&mut c, target.password.as_deref());
            c
        }
    }
}

/// The command for a PostgreSQL client tool (`psql`, `pg_restore`, …) run
/// against `target`: on the host, or through `docker exec -i` when the
/// target is in a container. The password, if any, goes into the child's
/// environment (`PGPASSWORD`), never argv.
#[must_use]
pub fn tool_command(target: &PgTarget, program: &Path, args: &[String]) -> Command {
    command(target, program, args)
}

/// Directories that may hold PostgreSQL client tools, most specific first
/// ([`locate`] has the rules per system).
fn candidate_dirs(tool_dir: Option<&Path>) -> Vec<PathBuf> {
    locate::candidate_dirs(Tool::Postgres, tool_dir, TOOL_DIR_ENV)
}

fn exe(dir: &Path, name: &str) -> PathBuf {
    if cfg!(windows) { dir.join(format!("{name}.exe")) } else { dir.join(name) }
}

/// Every `pg_dump` found on the host, with its version, newest first.
///
/// Asking each candidate for its version costs a process start (a Perl
/// wrapper on Debian), and one restore asks several times, so answers are
/// kept for a minute: long enough for one run, short enough that a daemon
/// notices a newly installed version.
#[must_use]
pub fn installed_tools(tool_dir: Option<&Path>) -> Vec<PgTools> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};
    type Cache = Mutex<HashMap<(Option<PathBuf>, Option<std::ffi::OsString>), (Instant, Vec<PgTools>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (tool_dir.map(Path::to_path_buf), std::env::var_os(TOOL_DIR_ENV));
    let cache = CACHE.get_or_init(Cache::default);
    if let Some((at, tools)) = cache.lock().ok().and_then(|c| c.get(&key).cloned())
        && at.elapsed() < Duration::from_secs(60)
    {
        return tools;
    }
    let tools = scan_tools(tool_dir);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, (Instant::now(), tools.clone()));
    }
    tools
}

fn scan_tools(tool_dir: Option<&Path>) -> Vec<PgTools> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for dir in candidate_dirs(tool_dir) {
        let p = exe(&dir, "pg_dump");
        if !p.is_file() {
            continue;
        }
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        // Debian's /usr/bin/pg_dump is postgresql-common's Perl wrapper: it only
        // runs one of the /usr/lib/postgresql/*/bin tools, which are already
        // here, and asking it for its version costs a Perl start.
        if !out.is_empty() && key.file_name().is_some_and(|n| n == "pg_wrapper") {
            continue;
        }
        if !seen.insert(key) {
            continue;
        }
        let mut c = Command::new(&p);
        c.arg("--version");
        if let Ok(v) = run_capture(c)
            && let Some(version) = parse_tool_version(&v)
        {
            out.push(PgTools { pg_dump: p, version });
        }
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.version.major));
    out
}

/// The sibling tool (`psql`, `pg_restore`) of a `pg_dump`.
#[must_use]
pub fn sibling(tools: &PgTools, name: &str) -> PathBuf {
    match tools.pg_dump.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => exe(dir, name),
        _ => PathBuf::from(name),
    }
}

/// Reads the server's version with `psql`.
///
/// # Errors
/// A connection/auth error classified from psql's stderr.
pub fn server_version(target: &PgTarget, psql: &Path) -> Result<Version> {
    let args = vec![
        "-X".to_string(),
        "-A".into(),
        "-t".into(),
        "--no-password".into(),
        format!("--dbname={}", target.url.libpq_url()),
        "-c".into(),
        SERVER_VERSION_SQL.into(),
    ];
    match run_capture(command(target, psql, &args)) {
        Ok(out) => parse_server_version(&out).ok_or_else(|| {
            Error::new(ErrorKind::Tool, format!("Could not read the server version of {}: psql printed {:?}.", target.url.server(), out.trim()))
        }),
        Err(CaptureError::Spawn(e)) => Err(spawn_error(target, "psql", e)),
        Err(CaptureError::Failed(f)) => Err(classify_failure(&f, target)),
    }
}

fn spawn_error(target: &PgTarget, tool: &str, e: std::io::Error) -> Error {
    if target.docker_container.is_some() && e.kind() == std::io::ErrorKind::NotFound {
        return Error::new(ErrorKind::Tool, "The docker command was not found; install Docker or remove `docker_container` from the job.").with_source(e);
    }
    Error::new(ErrorKind::Tool, format!("{tool} could not be started ({e}); {} or set the job's `tool_dir`.", locate::hint(Tool::Postgres, None))).with_source(e)
}

/// Picks the tools for `target`: finds the `pg_dump` candidates, reads the
/// server's version and refuses a `pg_dump` older than the server.
///
/// # Errors
/// Tool missing or too old (with the fix), or the connection failing.
pub fn prepare(target: &PgTarget, tool_dir: Option<&Path>) -> Result<PgPrepared> {
    if target.docker_container.is_some() {
        let mut c = command(target, Path::new("pg_dump"), &["--version".to_string()]);
        c.env_remove("PGPASSWORD");
        let version = match run_capture(c) {
            Ok(out) => parse_tool_version(&out),
            Err(CaptureError::Spawn(e)) => return Err(spawn_error(target, "pg_dump", e)),
            Err(CaptureError::Failed(f)) => {
                let container = target.docker_container.as_deref().unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Tool,
                    format!("Could not run pg_dump in the container \"{container}\" ({}); check that the container is running and has the PostgreSQL client tools.", f.last_line()),
                ));
            }
        }
        .ok_or_else(|| Error::new(ErrorKind::Tool, "The container's pg_dump did not report a version."))?;
        let tools = PgTools { pg_dump: PathBuf::from("pg_dump"), version };
        let server = server_version(target, Path::new("psql"))?;
        check_not_older(&tools, &server, target, true)?;
        return Ok(PgPrepared { tools, server: Some(server) });
    }
    let candidates = installed_tools(tool_dir);
    let Some(newest) = candidates.first() else {
        let where_ = tool_dir.map_or_else(
            || "on this computer".to_string(),
            |d| format!("in {}", d.display()),
        );
        return Err(Error::new(
            ErrorKind::Tool,
            format!("pg_dump was not found {where_}; {} or set the job's `tool_dir`.", locate::hint(Tool::Postgres, None)),
        ));
    };
    // Any psql can read the version; prefer the newest one.
    let psql = candidates.iter().map(|t| sibling(t, "psql")).find(|p| p.is_file());
    let Some(psql) = psql else {
        // Without psql, pg_dump itself refuses a newer server; its message is classified then.
        return Ok(PgPrepared { tools: newest.clone(), server: None });
    };
    let server = server_version(target, &psql)?;
    let chosen = candidates
        .iter()
        .filter(|t| t.version.major >= server.major)
        .min_by_key(|t| t.version.major)
        .unwrap_or(newest)
        .clone();
    check_not_older(&chosen, &server, target, false)?;
    Ok(PgPrepared { tools: chosen, server: Some(server) })
}

fn check_not_older(tools: &PgTools, server: &Version, target: &PgTarget, docker: bool) -> Result<()> {
    if tools.version.major >= server.major {
        return Ok(());
    }
    let fix = if docker {
        format!("use an image whose pg_dump is version {} or newer", server.major)
    } else {
        format!("{} or point the job's `tool_dir` at them", locate::hint(Tool::Postgres, Some(u64::from(server.major))))
    };
    Err(Error::new(
        ErrorKind::Tool,
        format!(
            "pg_dump {} is older than the PostgreSQL {} server at {}, and cannot dump it; {fix}.",
            tools.version.major,
            server.major,
            target.url.server()
        ),
    ))
}

/// The `pg_dump` command for one backup. Custom-format archives are left
/// uncompressed by `pg_dump` when Nightjar compresses them itself.
#[must_use]
pub fn dump_command(target: &PgTarget, tools: &PgTools, format: Format, compression: Compression, sel: &Selection) -> Command {
    let mut args = vec!["--no-password".to_string()];
    match format {
        Format::Plain => args.push("--format=plain".into()),
        Format::Custom => {
            args.push("--format=custom".into());
            if compression != Compression::None {
                args.push("--compress=0".into());
            }
        }
    }
    for t in &sel.tables {
        args.push(format!("--table={t}"));
    }
    for t in &sel.exclude_tables {
        args.push(format!("--exclude-table={t}"));
    }
    for s in &sel.schemas {
        args.push(format!("--schema={s}"));
    }
    for s in &sel.exclude_schemas {
        args.push(format!("--exclude-schema={s}"));
    }
    args.push(format!("--dbname={}", target.url.libpq_url()));
    command(target, &tools.pg_dump, &args)
}

/// Spawn failure of `pg_dump` as an [`Error`].
#[must_use]
pub fn dump_spawn_error(target: &PgTarget, e: std::io::Error) -> Error {
    spawn_error(target, "pg_dump", e)
}

/// A rejected or missing password, as one sentence; `None` for any other failure.
#[must_use]
pub fn classify_password_failure(f: &ChildFailure, target: &PgTarget) -> Option<Error> {
    let err = f.stderr_tail.as_str();
    let server = target.url.server();
    let user = target.url.user.as_deref().unwrap_or("the current user");
    if err.contains("password authentication failed") {
        return Some(Error::new(
            ErrorKind::Auth,
            format!("PostgreSQL at {server} rejected the password for user \"{user}\"; store the right one with `nightjar password set` (or set PGPASSWORD) and try again."),
        ));
    }
    if err.contains("no password supplied") || err.contains("fe_sendauth") {
        return Some(Error::new(
            ErrorKind::Auth,
            format!("PostgreSQL at {server} wants a password for user \"{user}\" and none is stored; store it with `nightjar password set` (or set PGPASSWORD)."),
        ));
    }
    None
}

/// Turns a failed `psql`/`pg_dump` into one sentence by cause.
#[must_use]
pub fn classify_failure(f: &ChildFailure, target: &PgTarget) -> Error {
    let err = f.stderr_tail.as_str();
    let server = target.url.server();
    let user = target.url.user.clone().unwrap_or_else(|| "the current user".into());
    let db = &target.url.database;
    let has = |s: &str| err.contains(s);
    if let Some(e) = classify_password_failure(f, target) {
        return e;
    }
    if has("role \"") && has("does not exist") {
        return Error::new(ErrorKind::Auth, format!("PostgreSQL at {server} has no user \"{user}\"; fix the user in the job's database URL."));
    }
    if has("database \"") && has("does not exist") {
        return Error::new(ErrorKind::Config, format!("The database \"{db}\" does not exist on {server}; fix the name in the job's database URL."));
    }
    if has("server version mismatch") {
        return Error::new(
            ErrorKind::Tool,
            format!("pg_dump is older than the PostgreSQL server at {server} ({}); install the matching PostgreSQL client tools or set the job's `tool_dir`.", f.last_line()),
        );
    }
    if has("server closed the connection unexpectedly")
        || has("terminating connection")
        || has("the database system is shutting down")
        || has("connection to server was lost")
        || has("SSL SYSCALL error: EOF")
    {
        return Error::new(
            ErrorKind::Connection,
            format!("The PostgreSQL server at {server} closed the connection during the dump (stopped or restarted?); nothing was saved, run the backup again once it is up."),
        );
    }
    if has("Connection refused")
        || has("No such file or directory")
        || has("could not connect")
        || has("could not translate host name")
        || has("timeout expired")
        || has("Network is unreachable")
        || has("the database system is starting up")
    {
        return Error::new(
            ErrorKind::Connection,
            format!("Cannot connect to PostgreSQL at {server}: the server is not running or not reachable; start it or check the host and port in the job's database URL."),
        );
    }
    if has("permission denied") {
        return Error::new(
            ErrorKind::Auth,
            format!("User \"{user}\" may not read everything in \"{db}\" ({}); grant it read access or dump fewer tables.", f.last_line()),
        );
    }
    f.dump_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> PgTarget {
        PgTarget { url: DbUrl::parse("postgres://app@db.example:5433/shop").unwrap(), password: Some("hunter2".into()), docker_container: None }
    }

    fn fail(stderr: &str) -> ChildFailure {
        ChildFailure { program: "/usr/lib/postgresql/15/bin/pg_dump".into(), code: Some(1), signal: None, stderr_tail: stderr.into() }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_tool_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n").unwrap().major, 15);
        assert_eq!(parse_tool_version("pg_dump (PostgreSQL) 9.6.24").unwrap().major, 9);
        assert_eq!(parse_server_version("160004 16.4\n").unwrap().major, 16);
        assert_eq!(parse_server_version("90624 9.6.24").unwrap().major, 9);
    }

    #[test]
    fn failures_become_one_sentence_by_cause() {
        let t = target();
        for (stderr, kind, needle) in [
            ("pg_dump: error: connection to server at \"db.example\" (10.0.0.1), port 5433 failed: FATAL:  password authentication failed for user \"app\"", ErrorKind::Auth, "rejected the password"),
            ("pg_dump: error: connection to server on socket \"/tmp/.s.PGSQL.5433\" failed: No such file or directory", ErrorKind::Connection, "not running"),
            ("pg_dump: error: connection to server at \"db.example\", port 5433 failed: Connection refused", ErrorKind::Connection, "not running"),
            ("FATAL:  database \"shop\" does not exist", ErrorKind::Config, "does not exist"),
            ("pg_dump: error: aborting because of server version mismatch", ErrorKind::Tool, "older"),
            ("pg_dump: error: Dumping the contents of table \"t\" failed: PQgetResult() failed.\npg_dump: detail: Error message from server: server closed the connection unexpectedly", ErrorKind::Connection, "closed the connection"),
            ("fe_sendauth: no password supplied", ErrorKind::Auth, "none is stored"),
            ("something odd", ErrorKind::Tool, "pg_dump failed (exit code 1: something odd)"),
        ] {
            let e = classify_failure(&fail(stderr), &t);
            assert_eq!(e.kind(), kind, "{stderr}");
            assert!(e.to_string().contains(needle), "{e}");
            assert!(e.to_string().contains("db.example:5433") || kind == ErrorKind::Tool, "{e}");
            assert!(!e.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn password_never_on_argv() {
        let mut t = target();
        let tools = PgTools { pg_dump: "/x/pg_dump".into(), version: Version { major: 15, text: "15".into() } };
        for docker in [None, Some("pg".to_string())] {
            t.docker_container = docker;
            let c = dump_command(&t, &tools, Format::Custom, Compression::Zstd, &Selection { tables: vec!["public.users".into()], ..Selection::default() });
            let argv: Vec<String> = std::iter::once(c.get_program()).chain(c.get_args()).map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(!argv.iter().any(|a| a.contains("hunter2")), "{argv:?}");
            assert!(argv.contains(&"--compress=0".to_string()) && argv.contains(&"--table=public.users".to_string()));
            let env: Vec<_> = c.get_envs().filter(|(k, _)| *k == "PGPASSWORD").collect();
            assert_eq!(env.len(), 1);
        }
    }
}
