//! The few SQL statements a restore runs on the server, on the maintenance
//! database (`postgres`, or `template1` when the target itself is
//! `postgres`): list databases and sessions, create and drop the temporary
//! database, copy the original's database-level properties, and swap names.
//! On this computer they go through one `psql` kept open for the purpose
//! ([`PsqlSession`]); through `docker exec`, each through a short `psql -c`.
//!
//! Identifiers and literals are quoted here, never interpolated raw; the
//! password reaches psql through `PGPASSWORD` only (see
//! [`postgres::tool_command`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::session::{Atomic, PsqlSession, SessionError};
use crate::source::child::{run_capture, CaptureError};
use crate::source::postgres::{self, PgTarget, Version};
use crate::source::ChildFailure;
use crate::{Error, ErrorKind, Result};

/// `"name"` as an SQL identifier.
#[must_use]
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` as an SQL literal (standard-conforming strings).
#[must_use]
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A session connected to a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Backend pid.
    pub pid: i64,
    /// Role name.
    pub user: Option<String>,
    /// `application_name`.
    pub application: Option<String>,
    /// Client address ("local" for a Unix socket).
    pub client: Option<String>,
}

impl Session {
    /// "app (psql, 10.0.0.5)".
    #[must_use]
    pub fn describe(&self) -> String {
        let user = self.user.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| "?".into());
        let extra: Vec<&str> =
            [self.application.as_deref(), self.client.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
        if extra.is_empty() { format!("{user} (pid {})", self.pid) } else { format!("{user} ({}, pid {})", extra.join(", "), self.pid) }
    }
}

/// Sessions as one phrase: "app (psql, local, pid 12), bob (pid 13)".
#[must_use]
pub fn describe_sessions(sessions: &[Session]) -> String {
    const MAX: usize = 5;
    let mut s: Vec<String> = sessions.iter().take(MAX).map(Session::describe).collect();
    if sessions.len() > MAX {
        s.push(format!("and {} more", sessions.len() - MAX));
    }
    s.join(", ")
}

/// An existing database's properties, as far as a restore carries them over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbInfo {
    /// Owner role.
    pub owner: String,
    /// Encoding name ("UTF8").
    pub encoding: Option<String>,
    /// `LC_COLLATE`.
    pub collate: Option<String>,
    /// `LC_CTYPE`.
    pub ctype: Option<String>,
    /// Locale provider (`c` libc, `i` icu, `b` builtin), PostgreSQL 15+.
    pub locale_provider: Option<String>,
    /// ICU / builtin locale.
    pub locale: Option<String>,
    /// ICU rules (16+).
    pub icu_rules: Option<String>,
    /// Tablespace, when not the default.
    pub tablespace: Option<String>,
    /// Connection limit (`None`: no limit).
    pub connection_limit: Option<i64>,
    /// Explicit privileges, when the ACL is not the default.
    pub acl: Option<Vec<Grant>>,
    /// Database-level settings (`name=value`).
    pub settings: Vec<String>,
    /// `COMMENT ON DATABASE`.
    pub comment: Option<String>,
    /// Size in bytes, when we may read it.
    pub size: Option<u64>,
    /// Other sessions connected to it.
    pub sessions: Vec<Session>,
}

/// One privilege on a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Role, or `None` for PUBLIC.
    pub grantee: Option<String>,
    /// CONNECT, CREATE, TEMPORARY.
    pub privilege: String,
    /// WITH GRANT OPTION.
    pub grantable: bool,
}

/// psql on the server, with the tools chosen for it.
#[derive(Debug, Clone)]
pub struct Server {
    /// How to reach it (its URL names the restore's target database).
    pub target: PgTarget,
    /// `psql`.
    pub psql: PathBuf,
    /// `pg_restore`.
    pub pg_restore: PathBuf,
    /// The server's version.
    pub version: Version,
    /// The database psql connects to for statements about others.
    maintenance: &'static str,
    /// The open psql on `maintenance` (host tools only), shared by clones;
    /// started again after a failure ends it.
    session: Arc<Mutex<Option<PsqlSession>>>,
}

/// Settings whose stored value is already an SQL list (`"$user", public`).
const LIST_SETTINGS: &[&str] = &["search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries", "shared_preload_libraries"];

impl Server {
    /// Finds the tools (the same choice as for a backup) and reads the
    /// server's version: the only contact with the server.
    ///
    /// # Errors
    /// Tools missing or too old; server unreachable; wrong password.
    pub fn connect(target: PgTarget, tool_dir: Option<&Path>) -> Result<Server> {
        // The target database may not exist yet: talk to a maintenance database.
        let via = |db: &str| PgTarget { url: target.url.with_database(db), ..target.clone() };
        let first = if target.url.database == "postgres" { "template1" } else { "postgres" };
        if target.docker_container.is_some() {
            // In a container: the tools there, as for a backup.
            let prepared = match postgres::prepare(&via(first), tool_dir) {
                Err(e) if e.kind() == ErrorKind::Config && first == "postgres" => {
                    postgres::prepare(&via("template1"), tool_dir).map(|p| (p, "template1")).map_err(|_| e)
                }
                other => other.map(|p| (p, first)),
            };
            let (prepared, maintenance) = prepared?;
            let psql = postgres::sibling(&prepared.tools, "psql");
            let pg_restore = postgres::sibling(&prepared.tools, "pg_restore");
            let version = match prepared.server {
                Some(v) => v,
                None => postgres::server_version(&via(maintenance), &psql)?,
            };
            return Ok(Server { target, psql, pg_restore, version, maintenance, session: Arc::default() });
        }
        // On the host: the newest psql and pg_restore, which read what newer
        // pg_dumps wrote and load into older servers alike.
        let installed = postgres::installed_tools(tool_dir);
        let tools = installed.iter().find(|t| postgres::sibling(t, "psql").is_file()).ok_or_else(|| {
            let where_ = tool_dir.map_or_else(|| "on this computer".to_string(), |d| format!("in {}", d.display()));
            Error::new(
                ErrorKind::Tool,
                format!("psql was not found {where_}; {} or set the job's `tool_dir`.", crate::source::locate::hint(crate::source::locate::Tool::Postgres, None)),
            )
        })?;
        let psql = postgres::sibling(tools, "psql");
        let pg_restore = postgres::sibling(tools, "pg_restore");
        // The session that later statements use also reads the version.
        let open = |db: &'static str| -> Result<(PsqlSession, Version)> {
            let t = via(db);
            let mut session = PsqlSession::start(session_command(&t, &psql)).map_err(|e| spawn_error(&psql, e))?;
            let out = session.run(postgres::SERVER_VERSION_SQL, Atomic::No).map_err(|e| match e {
                SessionError::Io(e) => spawn_error(&psql, e),
                SessionError::Failed(f) => postgres::classify_failure(&f, &t),
            })?;
            let version = postgres::parse_server_version(&out).ok_or_else(|| {
                Error::new(ErrorKind::Tool, format!("Could not read the server version of {}: psql printed {:?}.", t.url.server(), out.trim()))
            })?;
            Ok((session, version))
        };
        let ((session, version), maintenance) = match open(first) {
            Err(e) if e.kind() == ErrorKind::Config && first == "postgres" => (open("template1").map_err(|_| e)?, "template1"),
            other => (other?, first),
        };
        let session = if maintenance == "template1" { None } else { Some(session) };
        Ok(Server { target, psql, pg_restore, version, maintenance, session: Arc::new(Mutex::new(session)) })
    }

    /// Whether this psql has `\restrict` (refuses every backslash command
    /// until `\unrestrict` with the key): asked with `psql --version`
    /// (in the container for a Docker target). Unknown counts as no.
    #[must_use]
    pub fn psql_has_restrict(&self) -> bool {
        match crate::source::child::run_capture(postgres::tool_command(&self.target, &self.psql, &["--version".to_string()])) {
            Ok(out) => super::guard::psql_has_restrict(&out),
            Err(_) => false,
        }
    }

    /// `host:port` for messages.
    #[must_use]
    pub fn name(&self) -> String {
        self.target.url.server()
    }

    /// The database psql connects to for statements about other databases.
    #[must_use]
    pub fn maintenance_db(&self) -> &'static str {
        self.maintenance
    }

    /// The target with another database.
    #[must_use]
    pub fn target_for(&self, db: &str) -> PgTarget {
        PgTarget { url: self.target.url.with_database(db), ..self.target.clone() }
    }

    /// A `psql` command connected to `db` (no `-c` yet).
    #[must_use]
    pub fn psql_command(&self, db: &str, extra: &[&str]) -> Command {
        let mut args: Vec<String> = vec!["-X".into(), "-q".into(), "--no-password".into(), "-v".into(), "ON_ERROR_STOP=1".into()];
        args.extend(extra.iter().map(|s| (*s).to_string()));
        args.push(format!("--dbname={}", self.target.url.with_database(db).libpq_url()));
        postgres::tool_command(&self.target, &self.psql, &args)
    }

    /// Runs `sql` (one string, one implicit transaction) in `db`; returns
    /// stdout (unaligned, tuples only).
    ///
    /// # Errors
    /// The psql failure, classified; `doing` completes "could not …".
    pub fn query(&self, db: &str, sql: &str, doing: &str) -> Result<String> {
        self.query_with(db, sql, Atomic::No, doing)
    }

    /// Runs the statements of `sql` in `db` in one transaction: all of them
    /// happen or none does.
    ///
    /// # Errors
    /// As [`Server::query`].
    pub fn query_atomic(&self, db: &str, sql: &str, doing: &str) -> Result<String> {
        self.query_with(db, sql, Atomic::Yes, doing)
    }

    fn query_with(&self, db: &str, sql: &str, atomic: Atomic, doing: &str) -> Result<String> {
        // Not on template1 (the target is `postgres`): a connection held
        // there would make anyone's `CREATE DATABASE` from template1 fail.
        if db == self.maintenance && self.maintenance != "template1" && self.target.docker_container.is_none() {
            let mut slot = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                let t = self.target_for(db);
                *slot = Some(PsqlSession::start(session_command(&t, &self.psql)).map_err(|e| spawn_error(&self.psql, e))?);
            }
            let session = slot.as_mut().expect("started above");
            return session.run(sql, atomic).map_err(|e| {
                // A failure ends the session; the next statement starts another.
                *slot = None;
                match e {
                    SessionError::Io(e) => spawn_error(&self.psql, e),
                    SessionError::Failed(f) => classify(&f, &self.target, doing),
                }
            });
        }
        // `psql -c` runs a multi-statement string in one implicit transaction.
        let mut cmd = self.psql_command(db, &["-A", "-t"]);
        cmd.arg("-c").arg(sql);
        run_capture(cmd).map_err(|e| self.error(e, doing))
    }

    fn error(&self, e: CaptureError, doing: &str) -> Error {
        match e {
            CaptureError::Spawn(e) => spawn_error(&self.psql, e),
            CaptureError::Failed(f) => classify(&f, &self.target, doing),
        }
    }

    /// Properties and sessions of `name`, or `None` when it does not exist.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn database_info(&self, name: &str) -> Result<Option<DbInfo>> {
        let sql = format!(
            "SELECT json_build_object(
                'owner', pg_get_userbyid(d.datdba),
                'encoding', pg_encoding_to_char(d.encoding),
                'row', to_jsonb(d) - 'datacl',
                'tablespace', (SELECT spcname FROM pg_tablespace t WHERE t.oid = d.dattablespace),
                'has_acl', d.datacl IS NOT NULL,
                'acl', (SELECT json_agg(json_build_object(
                            'grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
                            'privilege', a.privilege_type, 'grantable', a.is_grantable))
                        FROM aclexplode(d.datacl) a),
                'settings', (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0),
                'comment', shobj_description(d.oid, 'pg_database'),
                'size', CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,
                'sessions', (SELECT json_agg(json_build_object('pid', a.pid, 'user', a.usename, 'application', a.application_name,
                                 'client', CASE WHEN a.client_port = -1 THEN 'local' ELSE host(a.client_addr) END) ORDER BY a.pid)
                             FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'))
             FROM pg_database d WHERE d.datname = {}",
            quote_literal(name)
        );
        let out = self.query(self.maintenance_db(), &sql, &format!("look up the database \"{name}\""))?;
        let text = out.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::other(format!("psql printed unexpected output while looking up \"{name}\" on {}.", self.name())).with_source(e))?;
        Ok(Some(parse_info(&v)))
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
        let out = self.query(
            self.maintenance_db(),
            &format!("SELECT datname FROM pg_database WHERE datname IN ({}) ORDER BY 1", list.join(", ")),
            "list the databases",
        )?;
        Ok(out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
    }

    /// Every database whose name matches the POSIX regex `pattern`, with
    /// its size and number of sessions.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn databases_matching(&self, pattern: &str) -> Result<Vec<(String, Option<u64>, u64)>> {
        let sql = format!(
            "SELECT coalesce(json_agg(json_build_array(d.datname,
                    CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid()))
                ORDER BY d.datname), '[]')
             FROM pg_database d WHERE d.datname ~ {}",
            quote_literal(pattern)
        );
        let out = self.query(self.maintenance_db(), &sql, "list the databases")?;
        let v: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Array(Vec::new()));
        Ok(v.as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| {
                        let name = r.get(0)?.as_str()?.to_string();
                        Some((name, r.get(1).and_then(Value::as_u64), r.get(2).and_then(Value::as_u64).unwrap_or(0)))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `CREATE DATABASE name` from `template0`, with the encoding, locale,
    /// owner and tablespace of `like` when given.
    ///
    /// # Errors
    /// When the server refuses (no CREATEDB privilege, name taken, …).
    pub fn create_database(&self, name: &str, like: Option<&DbInfo>) -> Result<()> {
        let sql = create_database_sql(name, like, self.version.major);
        self.query(self.maintenance_db(), &sql, &format!("create the database \"{name}\"")).map(drop)
    }

    /// Gives `name` the privileges, settings, connection limit and comment
    /// of `like` (which `pg_dump` without `--create` does not carry). Run
    /// after the load: a setting or a limit of the original must not get in
    /// the way of the restore itself.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn copy_properties(&self, name: &str, like: &DbInfo) -> Result<()> {
        let sql = properties_sql(name, like);
        if sql.is_empty() {
            return Ok(());
        }
        self.query_atomic(self.maintenance_db(), &sql, &format!("copy the privileges and settings to \"{name}\"")).map(drop)
    }

    /// `DROP DATABASE IF EXISTS name`, ending its sessions first when
    /// `force` (PostgreSQL 13+).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn drop_database(&self, name: &str, force: bool) -> Result<()> {
        let force = if force && self.version.major >= 13 { " WITH (FORCE)" } else { "" };
        let sql = format!("DROP DATABASE IF EXISTS {}{force}", quote_ident(name));
        self.query(self.maintenance_db(), &sql, &format!("drop the database \"{name}\"")).map(drop)
    }

    /// `ALTER DATABASE from RENAME TO to`.
    ///
    /// # Errors
    /// When the server refuses (name taken, sessions connected).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let sql = format!("ALTER DATABASE {} RENAME TO {}", quote_ident(from), quote_ident(to));
        self.query(self.maintenance_db(), &sql, &format!("rename \"{from}\" to \"{to}\"")).map(drop)
    }

    /// In one transaction: optionally end every other session on `target`,
    /// rename `target` to `keep_as` and `restored` to `target`. Either both
    /// renames happen or neither does. Returns how many sessions were ended.
    ///
    /// # Errors
    /// When the server refuses (someone reconnected in between, no
    /// permission to end a session, …); nothing changed then.
    pub fn swap(&self, target: &str, keep_as: &str, restored: &str, terminate: bool) -> Result<u64> {
        let terminate_sql = if terminate {
            format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid();\n",
                quote_literal(target)
            )
        } else {
            "SELECT 0;\n".to_string()
        };
        let sql = format!(
            "{terminate_sql}ALTER DATABASE {t} RENAME TO {k};\nALTER DATABASE {r} RENAME TO {t};",
            t = quote_ident(target),
            k = quote_ident(keep_as),
            r = quote_ident(restored)
        );
        let out = self.query_atomic(self.maintenance_db(), &sql, &format!("swap \"{restored}\" in for \"{target}\""))?;
        Ok(out.lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or(0))
    }

    /// Row count of every table of `db`, as `(schema, table, rows)`.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn table_counts(&self, db: &str) -> Result<Vec<(String, String, u64)>> {
        let sql = "SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname,
                (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint)
                ORDER BY n.nspname, c.relname), '[]')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";
        let out = self.query(db, sql, &format!("count the rows in \"{db}\""))?;
        let v: Value = serde_json::from_str(out.trim())
            .map_err(|e| Error::other(format!("psql printed unexpected output while counting the rows in \"{db}\".")).with_source(e))?;
        Ok(v.as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| Some((r.get(0)?.as_str()?.to_string(), r.get(1)?.as_str()?.to_string(), r.get(2)?.as_u64().unwrap_or(0))))
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn parse_info(v: &Value) -> DbInfo {
    let row = v.get("row").cloned().unwrap_or(Value::Null);
    let acl = if v.get("has_acl").and_then(Value::as_bool).unwrap_or(false) {
        Some(
            v.get("acl")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|g| {
                            Some(Grant {
                                grantee: s(g, "grantee"),
                                privilege: s(g, "privilege")?,
                                grantable: g.get("grantable").and_then(Value::as_bool).unwrap_or(false),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let sessions = v.get("sessions").cloned().and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
    DbInfo {
        owner: s(v, "owner").unwrap_or_default(),
        encoding: s(v, "encoding"),
        collate: s(&row, "datcollate"),
        ctype: s(&row, "datctype"),
        locale_provider: s(&row, "datlocprovider"),
        locale: s(&row, "datlocale").or_else(|| s(&row, "daticulocale")),
        icu_rules: s(&row, "daticurules"),
        tablespace: s(v, "tablespace").filter(|t| t != "pg_default"),
        connection_limit: row.get("datconnlimit").and_then(Value::as_i64).filter(|n| *n >= 0),
        acl,
        settings: v
            .get("settings")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        comment: s(v, "comment"),
        size: v.get("size").and_then(Value::as_u64),
        sessions,
    }
}

/// `psql` on `target`'s database reading statements from its input: the
/// options of [`Server::psql_command`], with unaligned tuples-only output.
fn session_command(target: &PgTarget, psql: &Path) -> Command {
    let args: Vec<String> = ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-A", "-t"]
        .iter()
        .map(|s| (*s).to_string())
        .chain(std::iter::once(format!("--dbname={}", target.url.libpq_url())))
        .collect();
    postgres::tool_command(target, psql, &args)
}

fn spawn_error(psql: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Tool,
        format!("psql ({}) could not be started ({e}); install the PostgreSQL client tools or set the job's `tool_dir`.", psql.display()),
    )
    .with_source(e)
}

/// The `CREATE DATABASE` statement for a restore's new database.
#[must_use]
pub fn create_database_sql(name: &str, like: Option<&DbInfo>, server_major: u32) -> String {
    let mut sql = format!("CREATE DATABASE {} WITH TEMPLATE template0", quote_ident(name));
    let Some(like) = like else { return sql };
    if !like.owner.is_empty() {
        sql.push_str(&format!(" OWNER {}", quote_ident(&like.owner)));
    }
    if let Some(e) = &like.encoding {
        sql.push_str(&format!(" ENCODING {}", quote_literal(e)));
    }
    if server_major >= 15 {
        match like.locale_provider.as_deref() {
            Some("i") => {
                sql.push_str(" LOCALE_PROVIDER icu");
                if let Some(l) = &like.locale {
                    sql.push_str(&format!(" ICU_LOCALE {}", quote_literal(l)));
                }
                if let Some(r) = &like.icu_rules {
                    sql.push_str(&format!(" ICU_RULES {}", quote_literal(r)));
                }
            }
            Some("b") => {
                sql.push_str(" LOCALE_PROVIDER builtin");
                if let Some(l) = &like.locale {
                    sql.push_str(&format!(" BUILTIN_LOCALE {}", quote_literal(l)));
                }
            }
            Some("c") => sql.push_str(" LOCALE_PROVIDER libc"),
            _ => {}
        }
    }
    if let Some(c) = &like.collate {
        sql.push_str(&format!(" LC_COLLATE {}", quote_literal(c)));
    }
    if let Some(c) = &like.ctype {
        sql.push_str(&format!(" LC_CTYPE {}", quote_literal(c)));
    }
    if let Some(t) = &like.tablespace {
        sql.push_str(&format!(" TABLESPACE {}", quote_ident(t)));
    }
    sql
}

/// Statements giving `name` the privileges, settings and comment of `like`.
#[must_use]
pub fn properties_sql(name: &str, like: &DbInfo) -> String {
    let db = quote_ident(name);
    let mut out = Vec::new();
    if let Some(acl) = &like.acl {
        out.push(format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC;"));
        if !like.owner.is_empty() {
            out.push(format!("REVOKE ALL ON DATABASE {db} FROM {};", quote_ident(&like.owner)));
        }
        for g in acl {
            let who = g.grantee.as_deref().map_or_else(|| "PUBLIC".to_string(), quote_ident);
            let option = if g.grantable { " WITH GRANT OPTION" } else { "" };
            // privilege_type is one of a few keywords; never pass anything else through.
            if ["CONNECT", "CREATE", "TEMPORARY", "TEMP"].contains(&g.privilege.as_str()) {
                out.push(format!("GRANT {} ON DATABASE {db} TO {who}{option};", g.privilege));
            }
        }
    }
    for setting in &like.settings {
        let Some((key, value)) = setting.split_once('=') else { continue };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let v = if LIST_SETTINGS.contains(&key.to_ascii_lowercase().as_str()) && !value.is_empty() {
            match split_list_setting(value) {
                Some(items) => items.iter().map(|i| quote_literal(i)).collect::<Vec<_>>().join(", "),
                None => continue,
            }
        } else {
            quote_literal(value)
        };
        out.push(format!("ALTER DATABASE {db} SET {key} TO {v};"));
    }
    if let Some(n) = like.connection_limit {
        out.push(format!("ALTER DATABASE {db} WITH CONNECTION LIMIT {n};"));
    }
    if let Some(c) = &like.comment {
        out.push(format!("COMMENT ON DATABASE {db} IS {};", quote_literal(c)));
    }
    out.join("\n")
}

/// The elements of a list setting as the server stores it
/// (`"$user", public, "a""b"`): comma-separated, each bare or in double
/// quotes with `""` for a quote. `None` when it does not read as such a
/// list (the setting is then not copied rather than passed through).
fn split_list_setting(value: &str) -> Option<Vec<String>> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        item.push('"');
                    }
                    '"' => break,
                    c => item.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item.truncate(item.trim_end().len());
            if item.is_empty() || item.contains('"') {
                return None;
            }
        }
        items.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(items),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

/// A psql failure during a restore step as one sentence.
#[must_use]
pub fn classify(f: &ChildFailure, target: &PgTarget, doing: &str) -> Error {
    let err = f.stderr_tail.as_str();
    let server = target.url.server();
    let user = target.url.user.clone().unwrap_or_else(|| "the current user".into());
    let has = |s: &str| err.contains(s);
    if let Some(e) = crate::source::postgres::classify_password_failure(f, target) {
        return e;
    }
    if has("Connection refused")
        || has("could not connect")
        || has("could not translate host name")
        || has("timeout expired")
        || has("Network is unreachable")
        || (has("connection to server") && has("No such file or directory"))
    {
        return Error::new(
            ErrorKind::Connection,
            format!("Cannot connect to PostgreSQL at {server}: the server is not running or not reachable; start it or check the host and port."),
        );
    }
    if has("role \"") && has("does not exist") && has("FATAL") {
        return Error::new(ErrorKind::Auth, format!("PostgreSQL at {server} has no user \"{user}\"; fix the user in the database URL."));
    }
    let line = error_line(err).unwrap_or_else(|| f.status_text());
    if has("permission denied") || has("must be owner") || has("must be superuser") || has("must be a member") || has("must have CREATEDB") {
        return Error::new(
            ErrorKind::Auth,
            format!("Could not {doing} on {server} ({line}); connect as a user who may (the database owner or a superuser)."),
        );
    }
    if super::server_disk_full(err) {
        return Error::new(ErrorKind::Tool, format!("Could not {doing} on {server}: the server's disk is full ({line}); free space on the server's disk, then try again."));
    }
    if has("terminating connection") || has("server closed the connection") || has("connection to server was lost") {
        return Error::new(ErrorKind::Connection, format!("Could not {doing} on {server}: the connection was lost ({line}); check the server and try again."));
    }
    Error::new(ErrorKind::Tool, format!("Could not {doing} on {server} ({line})."))
}

/// The most telling line of a psql/pg_restore stderr: the first `ERROR:`
/// or `FATAL:` line, else the last non-empty one.
#[must_use]
pub fn error_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .find(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
        .or_else(|| lines.last())
        .map(|l| {
            let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
            if l.chars().count() > 300 { format!("{}…", l.chars().take(300).collect::<String>()) } else { l }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbUrl;

    fn like() -> DbInfo {
        DbInfo {
            owner: "app\"x".into(),
            encoding: Some("UTF8".into()),
            collate: Some("C".into()),
            ctype: Some("C".into()),
            locale_provider: Some("c".into()),
            connection_limit: Some(20),
            acl: Some(vec![
                Grant { grantee: None, privilege: "TEMPORARY".into(), grantable: false },
                Grant { grantee: Some("app\"x".into()), privilege: "CONNECT".into(), grantable: true },
                Grant { grantee: Some("evil".into()), privilege: "CONNECT; DROP".into(), grantable: false },
            ]),
            settings: vec!["search_path=\"$user\", public, app".into(), "work_mem=64MB".into(), "bad key=1".into(), "statement_timeout=1'; DROP".into()],
            comment: Some("it's ours".into()),
            ..DbInfo::default()
        }
    }

    #[test]
    fn create_statement_copies_the_original() {
        assert_eq!(create_database_sql("a\"b", None, 15), "CREATE DATABASE \"a\"\"b\" WITH TEMPLATE template0");
        let sql = create_database_sql("shop__nightjar_restore_20260302000005", Some(&like()), 15);
        assert_eq!(
            sql,
            "CREATE DATABASE \"shop__nightjar_restore_20260302000005\" WITH TEMPLATE template0 OWNER \"app\"\"x\" ENCODING 'UTF8' LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'"
        );
        assert!(!create_database_sql("x", Some(&like()), 14).contains("LOCALE_PROVIDER"));
    }

    #[test]
    fn properties_are_quoted_and_filtered() {
        let sql = properties_sql("n", &like());
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(
            lines,
            vec![
                "REVOKE ALL ON DATABASE \"n\" FROM PUBLIC;",
                "REVOKE ALL ON DATABASE \"n\" FROM \"app\"\"x\";",
                "GRANT TEMPORARY ON DATABASE \"n\" TO PUBLIC;",
                "GRANT CONNECT ON DATABASE \"n\" TO \"app\"\"x\" WITH GRANT OPTION;",
                "ALTER DATABASE \"n\" SET search_path TO '$user', 'public', 'app';",
                "ALTER DATABASE \"n\" SET work_mem TO '64MB';",
                "ALTER DATABASE \"n\" SET statement_timeout TO '1''; DROP';",
                "ALTER DATABASE \"n\" WITH CONNECTION LIMIT 20;",
                "COMMENT ON DATABASE \"n\" IS 'it''s ours';",
            ]
        );
        assert_eq!(properties_sql("n", &DbInfo::default()), "");
    }

    #[test]
    fn list_settings_are_quoted_per_element() {
        let with = |setting: &str| properties_sql("n", &DbInfo { settings: vec![setting.into()], ..DbInfo::default() });
        assert_eq!(with("search_path=\"it's\", \"a,\"\"b\", public"), "ALTER DATABASE \"n\" SET search_path TO 'it''s', 'a,\"b', 'public';");
        assert_eq!(with("temp_tablespaces=fast"), "ALTER DATABASE \"n\" SET temp_tablespaces TO 'fast';");
        assert_eq!(with("search_path=public; DROP DATABASE x"), "ALTER DATABASE \"n\" SET search_path TO 'public; DROP DATABASE x';");
        // Not a list as the server writes one: left out, never passed through.
        assert_eq!(with("search_path=\"open"), "");
        assert_eq!(with("search_path=a\"b"), "");
        assert_eq!(with("search_path=\"a\" b"), "");
    }

    #[test]
    fn failures_name_the_server_and_never_the_password() {
        let t = PgTarget { url: DbUrl::parse("postgres://app@db.example:5433/shop").unwrap(), password: Some("hunter2".into()), docker_container: None };
        let f = |e: &str| ChildFailure { program: "psql".into(), code: Some(1), signal: None, stderr_tail: e.into() };
        let e = classify(&f("psql: error: connection to server at \"db.example\", port 5433 failed: FATAL:  password authentication failed for user \"app\""), &t, "x");
        assert_eq!(e.kind(), ErrorKind::Auth);
        let e = classify(&f("psql: error: connection to server at \"db.example\", port 5433 failed: Connection refused"), &t, "x");
        assert_eq!(e.kind(), ErrorKind::Connection);
        let e = classify(&f("ERROR:  permission denied to create database"), &t, "create the database \"x\"");
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(e.to_string().starts_with("Could not create the database \"x\" on db.example:5433 (ERROR: permission denied to create database); "), "{e}");
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(error_line("NOTICE: x\npsql:<stdin>:9: ERROR:  relation \"t\" does not exist\nLINE 1: ...\n").as_deref(), Some("psql:<stdin>:9: ERROR: relation \"t\" does not exist"));
    }
}
