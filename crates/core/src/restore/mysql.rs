//! The statements a restore runs on a MySQL/MariaDB server, through the
//! `mariadb`/`mysql` client (password in `MYSQL_PWD` only).
//!
//! MySQL has no `RENAME DATABASE`. A restore loads the file into a fresh
//! schema `<db>__nightjar_restore_<stamp>` and then moves tables, which
//! `RENAME TABLE` does across schemas atomically, for any number of tables
//! in one statement:
//!
//! ```text
//! RENAME TABLE db.t1 TO db__before_restore_<ts>.t1, …, tmp.t1 TO db.t1, …
//! ```
//!
//! Three kinds of objects do not move that way, and are handled around it:
//! - **triggers**: a table with triggers cannot change schema. The triggers
//!   of both sides are dropped just before the statement (the restored
//!   schema's are scripted first, by the dump tool); if the statement fails,
//!   the target's are recreated, so a failed swap leaves it as it was.
//! - **views** cannot be renamed across schemas; **routines** and
//!   **events** belong to a schema. After the tables moved, the target's
//!   old views, routines and events are replaced by the restored schema's
//!   (scripted with `mariadb-dump --no-data` before the swap), and the
//!   replaced ones are recreated in `<db>__before_restore_<ts>` beside its
//!   tables (events there disabled, so the kept copy never runs jobs).
//!
//! So the tables change in one atomic statement; views, triggers, routines
//! and events follow a moment later (sessions are closed first). A failure
//! before the swap leaves the target untouched; a failure recreating the
//! objects afterwards is reported, with the old database kept.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::source::child::{run_capture, CaptureError, ChildFailure};
use crate::source::mysql::{self, MyPrepared, MyTarget, MyVersion};
use crate::{Error, ErrorKind, Result};

use super::postgres::{DbInfo, Session};

/// `` `name` `` as an identifier.
#[must_use]
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` as a literal (backslashes escaped, as the default SQL mode reads them).
#[must_use]
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The client and dump tool on one MySQL/MariaDB server.
#[derive(Debug, Clone)]
pub struct MyServer {
    /// How to reach it (its URL names the restore's target database).
    pub target: MyTarget,
    /// The chosen tools (dump tool and client).
    pub prepared: MyPrepared,
}

/// What a schema holds besides table data.
#[derive(Debug, Default)]
struct Objects {
    tables: Vec<String>,
    views: Vec<String>,
    triggers: Vec<String>,
    routines: Vec<(String, String)>,
    events: Vec<String>,
    /// Triggers, routines and events, scripted by the dump tool.
    script: String,
    /// Views, scripted by the dump tool (empty without views).
    views_script: String,
}

impl MyServer {
    /// Chooses the tools (as for a backup) and reads the server's version.
    ///
    /// # Errors
    /// Tools missing or unfit; server unreachable; wrong password.
    pub fn connect(target: MyTarget, tool_dir: Option<&Path>) -> Result<MyServer> {
        let prepared = mysql::prepare(&target, tool_dir)?;
        Ok(MyServer { target, prepared })
    }

    /// The server's version.
    #[must_use]
    pub fn version(&self) -> &MyVersion {
        &self.prepared.server
    }

    /// `host:port` (or the socket) for messages.
    #[must_use]
    pub fn name(&self) -> String {
        self.target.url.server()
    }

    fn client(&self) -> &Path {
        &self.prepared.tools.client
    }

    /// Runs one statement (no database selected); tab-separated output.
    fn query(&self, sql: &str, doing: &str) -> Result<String> {
        mysql::client_query(&self.target, self.client(), None, sql).map_err(|e| self.doing(e, doing))
    }

    fn doing(&self, e: Error, doing: &str) -> Error {
        if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Connection) {
            return e;
        }
        Error::new(e.kind(), format!("Could not {doing} on {}: {}", self.name(), e.message()))
    }

    /// Runs a script (several statements, `DELIMITER` allowed) in `db`; it
    /// stops at the first error.
    fn script(&self, db: Option<&str>, script: &str, doing: &str) -> Result<String> {
        let mut args = mysql::connection_args(&self.target.url);
        args.extend(["--batch".to_string(), "--skip-column-names".into(), "--binary-mode".into(), "--default-character-set=utf8mb4".into()]);
        if let Some(db) = db {
            args.push(format!("--database={db}"));
        }
        let mut cmd = mysql::tool_command(&self.target, self.client(), &args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = crate::platform::spawn_tool(&mut cmd).map_err(|e| Error::new(ErrorKind::Tool, format!("The MySQL client could not be started ({e}).")).with_source(e))?;
        let mut stdin = child.stdin.take().expect("stdin piped");
        let text = script.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
        let out = child.wait_with_output().map_err(|e| Error::other(format!("The MySQL client failed ({e}).")))?;
        let _ = writer.join();
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let f = ChildFailure {
            program: self.client().display().to_string(),
            code: out.status.code(),
            signal: None,
            stderr_tail: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        Err(self.classify(&f, doing))
    }

    /// A client failure during a restore step as one sentence.
    #[must_use]
    pub fn classify(&self, f: &ChildFailure, doing: &str) -> Error {
        if let Some(e) = mysql::classify_password_failure(f, &self.target) {
            return e;
        }
        let err = f.stderr_tail.as_str();
        let server = self.name();
        if err.contains("Can't connect to") || err.contains("Unknown server host") {
            return Error::new(
                ErrorKind::Connection,
                format!("Cannot connect to MySQL/MariaDB at {server}: the server is not running or not reachable; start it or check the host, port or socket."),
            );
        }
        let line = error_line(err).unwrap_or_else(|| f.status_text());
        if err.contains("Lost connection") || err.contains("gone away") {
            return Error::new(ErrorKind::Connection, format!("Could not {doing} on {server}: the connection was lost ({line}); check the server and try again."));
        }
        if err.contains("Access denied") || err.contains("command denied") || err.contains("privilege") {
            return Error::new(ErrorKind::Auth, format!("Could not {doing} on {server} ({line}); connect as a user who may (one with ALL PRIVILEGES on the databases involved)."));
        }
        Error::new(ErrorKind::Tool, format!("Could not {doing} on {server} ({line})."))
    }

    /// Runs the dump tool with `args` after the connection options; its output.
    fn dump_text(&self, args: &[&str], doing: &str) -> Result<String> {
        let mut all = mysql::connection_args(&self.target.url);
        all.extend(args.iter().map(|s| (*s).to_string()));
        let cmd = mysql::tool_command(&self.target, &self.prepared.tools.dump, &all);
        run_capture(cmd).map_err(|e| match e {
            CaptureError::Spawn(e) => mysql::dump_spawn_error(&self.target, &self.prepared.tools, e),
            CaptureError::Failed(f) => self.classify(&f, doing),
        })
    }

    /// Properties and sessions of `name`, or `None` when it does not exist.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn database_info(&self, name: &str) -> Result<Option<DbInfo>> {
        let lit = quote_literal(name);
        let sql = format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME,
                (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {lit})
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {lit}"
        );
        let out = self.query(&sql, &format!("look up the database \"{name}\""))?;
        let Some(line) = out.lines().find(|l| !l.is_empty()) else { return Ok(None) };
        let f: Vec<&str> = line.split('\t').collect();
        Ok(Some(DbInfo {
            encoding: f.first().map(|s| (*s).to_string()),
            collate: f.get(1).map(|s| (*s).to_string()),
            size: f.get(2).and_then(|s| s.trim().parse().ok()),
            sessions: self.sessions(name)?,
            ..DbInfo::default()
        }))
    }

    fn sessions(&self, name: &str) -> Result<Vec<Session>> {
        let out = self.query(
            &format!(
                "SELECT ID, USER, COALESCE(HOST, '') FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> CONNECTION_ID() AND COMMAND NOT IN ('Daemon', 'Binlog Dump') ORDER BY ID",
                quote_literal(name)
            ),
            "list the sessions",
        )?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let client = f.get(2).map(|h| h.split(':').next().unwrap_or(h)).map(|h| if h == "localhost" || h.is_empty() { "local".to_string() } else { h.to_string() });
                Some(Session { pid: f.first()?.trim().parse().ok()?, user: f.get(1).map(|s| (*s).to_string()), application: None, client })
            })
            .collect())
    }

    /// Which of `names` exist.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn existing(&self, names: &[&str]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = names.iter().map(|n| quote_literal(n)).collect();
        let out = self.query(&format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({}) ORDER BY 1", list.join(", ")), "list the databases")?;
        Ok(out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
    }

    /// Databases whose name matches the regular expression `pattern`, with
    /// their size and number of sessions.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn databases_matching(&self, pattern: &str) -> Result<Vec<(String, Option<u64>, u64)>> {
        let sql = format!(
            "SELECT s.SCHEMA_NAME,
                (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME),
                (SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE p.DB = s.SCHEMA_NAME AND p.ID <> CONNECTION_ID())
             FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME REGEXP {} ORDER BY 1",
            quote_literal(pattern)
        );
        let out = self.query(&sql, "list the databases")?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some(((*f.first()?).to_string(), f.get(1).and_then(|s| s.trim().parse().ok()), f.get(2).and_then(|s| s.trim().parse().ok()).unwrap_or(0)))
            })
            .collect())
    }

    /// `CREATE DATABASE name` with the character set and collation of `like`
    /// (utf8mb4 otherwise).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn create_database(&self, name: &str, like: Option<&DbInfo>) -> Result<()> {
        let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
        let charset = like.and_then(|l| l.encoding.clone()).unwrap_or_else(|| "utf8mb4".into());
        if charset.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            sql.push_str(&format!(" CHARACTER SET {charset}"));
        }
        if let Some(c) = like.and_then(|l| l.collate.clone()).filter(|c| c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
            sql.push_str(&format!(" COLLATE {c}"));
        }
        self.query(&sql, &format!("create the database \"{name}\"")).map(drop)
    }

    /// `DROP DATABASE IF EXISTS name`, closing its sessions first when `force`.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn drop_database(&self, name: &str, force: bool) -> Result<()> {
        if force {
            self.kill_sessions(name)?;
        }
        self.query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)), &format!("drop the database \"{name}\"")).map(drop)
    }

    /// Closes every other session on `db`; how many there were.
    fn kill_sessions(&self, db: &str) -> Result<u64> {
        let sessions = self.sessions(db)?;
        for s in &sessions {
            // A session that ended meanwhile is not an error.
            let _ = self.query(&format!("KILL CONNECTION {}", s.pid), "close a session");
        }
        Ok(sessions.len() as u64)
    }

    fn objects(&self, db: &str) -> Result<Objects> {
        let lit = quote_literal(db);
        let doing = format!("read the objects of \"{db}\"");
        let list = |sql: String| -> Result<Vec<String>> { Ok(self.query(&sql, &doing)?.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()) };
        let tables = list(format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {lit} AND TABLE_TYPE <> 'VIEW' ORDER BY 1"))?;
        let views = list(format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {lit} ORDER BY 1"))?;
        let triggers = list(format!("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {lit} ORDER BY 1"))?;
        let routines = list(format!("SELECT CONCAT(ROUTINE_TYPE, '\\t', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {lit} ORDER BY 1"))?
            .into_iter()
            .filter_map(|l| l.split_once('\t').map(|(a, b)| (a.to_string(), b.to_string())))
            .collect();
        let events = list(format!("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {lit} ORDER BY 1"))?;
        let common = ["--skip-comments", "--skip-dump-date", "--default-character-set=utf8mb4", "--no-data"];
        let mut args: Vec<&str> = common.to_vec();
        args.extend(["--no-create-info", "--routines", "--events", "--triggers", "--add-drop-trigger", "--skip-lock-tables", "--", db]);
        let script = self.dump_text(&args, &doing)?;
        let views_script = if views.is_empty() {
            String::new()
        } else {
            let mut args: Vec<&str> = common.to_vec();
            args.extend(["--skip-triggers", "--skip-lock-tables", "--", db]);
            args.extend(views.iter().map(String::as_str));
            self.dump_text(&args, &doing)?
        };
        Ok(Objects { tables, views, triggers, routines, events, script, views_script })
    }

    /// Moves every table of `restored` into `target` (which `keep_as` takes
    /// the current tables of, when given), then recreates views, triggers,
    /// routines and events on each side. Returns the number of sessions closed.
    fn move_tables(&self, restored: &str, target: &str, keep_as: Option<&str>, terminate: bool) -> Result<u64> {
        let new = self.objects(restored)?;
        let old = match keep_as {
            Some(_) => self.objects(target)?,
            None => Objects::default(),
        };
        let (s, t) = (quote_ident(restored), quote_ident(target));
        let mut pairs = Vec::new();
        if let Some(k) = keep_as {
            let k = quote_ident(k);
            pairs.extend(old.tables.iter().map(|x| format!("{t}.{q} TO {k}.{q}", q = quote_ident(x))));
        }
        pairs.extend(new.tables.iter().map(|x| format!("{s}.{q} TO {t}.{q}", q = quote_ident(x))));
        let mut swap = String::from("SET SESSION lock_wait_timeout = 60;\n");
        for tr in &new.triggers {
            swap.push_str(&format!("DROP TRIGGER IF EXISTS {s}.{};\n", quote_ident(tr)));
        }
        for tr in &old.triggers {
            swap.push_str(&format!("DROP TRIGGER IF EXISTS {t}.{};\n", quote_ident(tr)));
        }
        if !pairs.is_empty() {
            swap.push_str(&format!("RENAME TABLE {};\n", pairs.join(", ")));
        }
        // What replaces the target's other objects once the tables are in place.
        let mut clear = String::new();
        for v in &old.views {
            clear.push_str(&format!("DROP VIEW IF EXISTS {t}.{};\n", quote_ident(v)));
        }
        for (kind, r) in &old.routines {
            let kind = if kind == "FUNCTION" { "FUNCTION" } else { "PROCEDURE" };
            clear.push_str(&format!("DROP {kind} IF EXISTS {t}.{};\n", quote_ident(r)));
        }
        for ev in &old.events {
            clear.push_str(&format!("DROP EVENT IF EXISTS {t}.{};\n", quote_ident(ev)));
        }
        let recreate = format!("{clear}{}\n{}", new.views_script, new.script);
        // One client session runs the swap and, right after it, the
        // recreation: the moment without triggers is as short as it can be.
        // The client stops at the first error, so a failed RENAME TABLE runs
        // nothing after it.
        let in_one_go = format!("{swap}USE {t};\n{recreate}");
        let closed = if terminate && keep_as.is_some() { self.kill_sessions(target)? } else { 0 };
        if let Err(e) = self.script(None, &in_one_go, &format!("swap the restored tables in for \"{target}\"")) {
            // Did the tables move before the error (or the broken connection)?
            let count = |db: &str, table: &str| {
                self.query(
                    &format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}", quote_literal(db), quote_literal(table)),
                    "check the swap",
                )
                .map(|n| n.trim() == "1")
            };
            let moved = match (new.tables.first(), old.tables.first(), keep_as) {
                (Some(first), _, _) => count(restored, first).map(|there| !there)?,
                (None, Some(first), Some(k)) => count(k, first)?,
                _ => false,
            };
            if !moved {
                if keep_as.is_some() && !old.triggers.is_empty() {
                    self.script(Some(target), &old.script, &format!("recreate the triggers of \"{target}\"")).map_err(|r| {
                        Error::new(r.kind(), format!("{}; recreating the triggers of \"{target}\" failed too: {}", e.message().trim_end_matches('.'), r.message()))
                    })?;
                }
                return Err(e);
            }
            // The tables are in place; the recreation (idempotent) once more on its own.
            tracing::warn!(target, "recreating objects after the swap failed once: {}", e.detailed());
            self.script(Some(target), &recreate, &format!("recreate the views, triggers, routines and events of \"{target}\""))?;
        }
        if let Some(k) = keep_as {
            let mut keep = format!("{}\n{}", old.views_script, old.script);
            for ev in &old.events {
                keep.push_str(&format!("\nALTER EVENT {}.{} DISABLE;", quote_ident(k), quote_ident(ev)));
            }
            if let Err(e) = self.script(Some(k), &keep, &format!("recreate the views, triggers, routines and events in \"{k}\"")) {
                tracing::warn!(kept = k, "the kept copy lacks some of its views, triggers, routines or events: {}", e.detailed());
            }
        }
        Ok(closed)
    }

    /// Gives the restored schema's content the name `to` (a new database).
    ///
    /// # Errors
    /// When the server refuses; `to` does not exist afterwards then.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let like = self.database_info(from)?;
        self.create_database(to, like.as_ref())?;
        match self.move_tables(from, to, None, false) {
            Ok(_) => {
                self.drop_database(from, true)?;
                Ok(())
            }
            Err(e) => {
                // `to` is new: nothing is lost by removing it, and the restored copy is in `from`.
                if let Err(d) = self.drop_database(to, true) {
                    tracing::warn!(database = to, "could not drop the half-made database: {}", d.detailed());
                }
                Err(e)
            }
        }
    }

    /// Swaps the restored schema in for `target`, keeping `target`'s tables
    /// (and its views, triggers, routines and events) as `keep_as`. Returns
    /// how many sessions were closed.
    ///
    /// # Errors
    /// When the server refuses; before the tables moved, nothing changed.
    pub fn swap(&self, target: &str, keep_as: &str, restored: &str, terminate: bool) -> Result<u64> {
        let like = self.database_info(target)?;
        self.create_database(keep_as, like.as_ref())?;
        match self.move_tables(restored, target, Some(keep_as), terminate) {
            Ok(closed) => {
                self.drop_database(restored, true)?;
                Ok(closed)
            }
            Err(e) => {
                let still_there = self
                    .query(&format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}", quote_literal(keep_as)), "check the kept copy")
                    .is_ok_and(|n| n.trim() == "0");
                if still_there {
                    let _ = self.drop_database(keep_as, true);
                    Err(e)
                } else {
                    Err(Error::new(
                        e.kind(),
                        format!(
                            "{}; the restored tables are in \"{target}\" and the previous ones are kept in \"{keep_as}\"",
                            e.message().trim_end_matches('.')
                        ),
                    ))
                }
            }
        }
    }

    /// Row count of every table of `db`, as `(schema, table, rows)`.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn table_counts(&self, db: &str) -> Result<Vec<(String, String, u64)>> {
        let tables = self.objects_tables(db)?;
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<String> = tables
            .iter()
            .map(|t| format!("SELECT {}, COUNT(*) FROM {}.{}", quote_literal(t), quote_ident(db), quote_ident(t)))
            .collect();
        let out = self.query(&parts.join(" UNION ALL "), &format!("count the rows in \"{db}\""))?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (t, n) = l.split_once('\t')?;
                Some((db.to_string(), t.to_string(), n.trim().parse().ok()?))
            })
            .collect())
    }

    fn objects_tables(&self, db: &str) -> Result<Vec<String>> {
        let out = self.query(
            &format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", quote_literal(db)),
            &format!("list the tables of \"{db}\""),
        )?;
        Ok(out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    /// The client command that loads a dump from stdin into `db`: stops at
    /// the first error, bytes passed through as they are, utf8mb4.
    #[must_use]
    pub fn load_command(&self, db: &str) -> Command {
        let mut args = mysql::connection_args(&self.target.url);
        args.extend(["--batch".to_string(), "--binary-mode".into(), "--default-character-set=utf8mb4".into(), format!("--database={db}")]);
        mysql::tool_command(&self.target, self.client(), &args)
    }

    /// The client program (for messages).
    #[must_use]
    pub fn client_name(&self) -> String {
        self.client().file_name().map_or_else(|| "mysql".into(), |n| n.to_string_lossy().into_owned())
    }

    /// The client's path.
    #[must_use]
    pub fn client_path(&self) -> PathBuf {
        self.client().to_path_buf()
    }
}

/// A warning for the plan when the dump comes from a server the target may
/// not read it from (the restore still stops at the first error, before
/// the target is changed).
#[must_use]
pub fn compat_warning(dumped: &MyVersion, server: &MyVersion) -> Option<String> {
    use crate::source::mysql::Flavour;
    let (from, to) = (dumped.short(), server.short());
    match (dumped.flavour, server.flavour) {
        (Flavour::Mysql, Flavour::Mariadb) if dumped.number.0 >= 8 => Some(format!(
            "The backup comes from {from} and the server is {to}: MySQL 8's collations (utf8mb4_0900_ai_ci) and syntax may not exist here, so the restore may fail; it would fail before the target is changed."
        )),
        (Flavour::Mariadb, Flavour::Mysql) => Some(format!(
            "The backup comes from {from} and the server is {to}: MariaDB-only syntax in it may fail on MySQL; it would fail before the target is changed."
        )),
        (a, b) if a == b && (dumped.number.0, dumped.number.1) > (server.number.0, server.number.1) => Some(format!(
            "The backup comes from {from} and the server is the older {to}: objects or options new since {to} may fail to restore; it would fail before the target is changed."
        )),
        _ => None,
    }
}

/// The most telling line of a client's stderr: the first `ERROR` line, else
/// the last non-empty one.
#[must_use]
pub fn error_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    lines.iter().find(|l| l.starts_with("ERROR") || l.contains("Error")).or_else(|| lines.last()).map(|l| {
        if l.chars().count() > 300 { format!("{}…", l.chars().take(300).collect::<String>()) } else { (*l).to_string() }
    })
}

/// Reads a MySQL dump as it streams by: remembers whether a line switches
/// or creates a database (`USE`, `CREATE DATABASE`), which a restore into a
/// scratch schema must never run, since it would write to another database.
#[derive(Debug, Default)]
pub struct DumpScan {
    line_start: Vec<u8>,
    in_line: bool,
    /// The first such line, shortened.
    pub switches_database: Option<String>,
}

const SCAN_PREFIX: usize = 40;

impl DumpScan {
    fn check(&mut self) {
        if self.switches_database.is_none() {
            self.switches_database = switches_database(&self.line_start);
        }
    }
}

/// The line (shortened) when the start of a line (its first
/// [`SCAN_PREFIX`] bytes) switches or creates a database.
fn switches_database(line_start: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line_start).to_ascii_uppercase();
    let t = text.trim_start();
    let t = t.strip_prefix("/*!40000 ").or_else(|| t.strip_prefix("/*!32312 ")).unwrap_or(t);
    (t.starts_with("USE ") || t.starts_with("USE`") || t.starts_with("CREATE DATABASE") || t.starts_with("CREATE SCHEMA"))
        .then(|| String::from_utf8_lossy(line_start).trim().to_string())
}

/// A line that switches or creates a database, stopped by [`DumpGuard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SwitchesDatabase(pub String);

impl std::fmt::Display for SwitchesDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the dump switches or creates databases itself (\"{}\")", self.0)
    }
}

impl std::error::Error for SwitchesDatabase {}

/// [`DumpScan`] in front of the client while a dump loads: the start of
/// each line is held back until it is judged, so a line that switches or
/// creates a database never reaches the client; writing then fails with
/// [`SwitchesDatabase`] (see [`DumpGuard::refused`]).
pub(crate) struct DumpGuard<W: std::io::Write> {
    inner: W,
    /// The start of the current line, not passed on yet.
    held: Vec<u8>,
    /// The current line's start was judged and passed: the rest passes as it comes.
    judged: bool,
    refused: Option<SwitchesDatabase>,
}

impl<W: std::io::Write> DumpGuard<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, held: Vec::with_capacity(SCAN_PREFIX + 1), judged: false, refused: None }
    }

    /// The line that stopped the stream, if one did.
    pub(crate) fn refused(&self) -> Option<&SwitchesDatabase> {
        self.refused.as_ref()
    }

    /// Judges the held start of the line and passes it on.
    fn judge(&mut self) -> std::io::Result<()> {
        let line = self.held.strip_suffix(b"\n").unwrap_or(&self.held);
        if !line.is_empty()
            && let Some(l) = switches_database(line)
        {
            let r = SwitchesDatabase(l);
            self.refused = Some(r.clone());
            return Err(std::io::Error::other(r));
        }
        self.inner.write_all(&self.held)?;
        self.held.clear();
        Ok(())
    }

    /// Call at the end of the stream: judges a last line without a newline.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        if let Some(r) = &self.refused {
            return Err(std::io::Error::other(r.clone()));
        }
        if !self.held.is_empty() {
            self.judge()?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> std::io::Write for DumpGuard<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(r) = &self.refused {
            return Err(std::io::Error::other(r.clone()));
        }
        let mut i = 0;
        while i < buf.len() {
            if self.judged {
                match memchr::memchr(b'\n', &buf[i..]) {
                    Some(n) => {
                        self.inner.write_all(&buf[i..=i + n])?;
                        i += n + 1;
                        self.judged = false;
                    }
                    None => {
                        self.inner.write_all(&buf[i..])?;
                        i = buf.len();
                    }
                }
                continue;
            }
            let b = buf[i];
            i += 1;
            self.held.push(b);
            if b == b'\n' {
                self.judge()?;
            } else if self.held.len() >= SCAN_PREFIX {
                self.judge()?;
                self.judged = true;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl std::io::Write for DumpScan {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                if self.in_line {
                    self.check();
                }
                self.line_start.clear();
                self.in_line = false;
            } else {
                self.in_line = true;
                if self.line_start.len() < SCAN_PREFIX {
                    self.line_start.push(b);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.in_line {
            self.check();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_literal("it's a \\ test"), "'it''s a \\\\ test'");
    }

    #[test]
    fn a_dump_that_switches_databases_is_noticed() {
        let mut s = DumpScan::default();
        s.write_all(b"-- MariaDB dump\nINSERT INTO `t` VALUES ('USE `x`');\nCREATE TABLE `use_me` (a int);\n").unwrap();
        s.flush().unwrap();
        assert_eq!(s.switches_database, None);
        let mut s = DumpScan::default();
        s.write_all(b"-- MySQL dump\n/*!40000 CREATE DATABASE `shop` */;\n\nUSE `shop`;\n").unwrap();
        s.flush().unwrap();
        assert!(s.switches_database.as_deref().is_some_and(|l| l.contains("CREATE DATABASE")), "{s:?}");
        let mut s = DumpScan::default();
        for chunk in [&b"-- x\nUS"[..], b"E `shop`;\n"] {
            s.write_all(chunk).unwrap();
        }
        assert_eq!(s.switches_database.as_deref(), Some("USE `shop`;"));
    }

    #[test]
    fn the_guard_passes_a_dump_and_stops_a_line_that_switches_databases() {
        let dump = b"-- MariaDB dump\nINSERT INTO `t` VALUES ('USE `x`', 'a much longer value than the forty bytes looked at');\nCREATE TABLE `use_me` (a int);\n-- Dump completed";
        for step in [1, 7, 64, dump.len()] {
            let mut g = DumpGuard::new(Vec::new());
            for c in dump.chunks(step) {
                g.write_all(c).unwrap();
            }
            g.finish().unwrap();
            assert_eq!(g.inner, dump.to_vec(), "step {step}");
        }
        let planted = b"-- MySQL dump\nCREATE TABLE `t` (a int);\nUSE `other`;\nDROP TABLE `t`;\n";
        for step in [1, 5, planted.len()] {
            let mut g = DumpGuard::new(Vec::new());
            let r = planted.chunks(step).try_for_each(|c| g.write_all(c)).and_then(|()| g.finish());
            assert!(r.is_err(), "step {step}");
            assert_eq!(g.refused(), Some(&SwitchesDatabase("USE `other`;".into())));
            assert_eq!(String::from_utf8_lossy(&g.inner), "-- MySQL dump\nCREATE TABLE `t` (a int);\n", "nothing of the line passed (step {step})");
        }
        let mut g = DumpGuard::new(Vec::new());
        g.write_all(b"SELECT 1;\nUSE `x`").unwrap();
        assert!(g.finish().is_err(), "a last line without a newline is judged too");
        assert_eq!(g.inner, b"SELECT 1;\n".to_vec());
    }

    #[test]
    fn plans_warn_about_dumps_from_other_servers() {
        let v = |t: &str| crate::source::mysql::parse_server_version(t).unwrap();
        assert!(compat_warning(&v("8.0.35"), &v("10.11.6-MariaDB")).is_some_and(|w| w.contains("utf8mb4_0900_ai_ci")));
        assert!(compat_warning(&v("10.11.6-MariaDB"), &v("8.0.35")).is_some());
        assert!(compat_warning(&v("11.4.2-MariaDB"), &v("10.11.6-MariaDB")).is_some_and(|w| w.contains("older MariaDB 10.11")));
        assert_eq!(compat_warning(&v("10.6.12-MariaDB"), &v("10.11.6-MariaDB")), None);
        assert_eq!(compat_warning(&v("8.0.35"), &v("8.4.0")), None);
    }

    #[test]
    fn error_lines() {
        assert_eq!(error_line("--------------\nINSERT ...\n--------------\n\nERROR 1146 (42S02) at line 9: Table 'x.t' doesn't exist\n").as_deref(), Some("ERROR 1146 (42S02) at line 9: Table 'x.t' doesn't exist"));
    }
}
