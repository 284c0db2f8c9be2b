//! Discovery: the database servers this user can reach, how Nightjar can
//! log in to each, their databases with sizes, and a ready job per
//! database.
//!
//! Where it looks:
//! - PostgreSQL sockets `.s.PGSQL.<port>` in `/var/run/postgresql`,
//!   `/run/postgresql`, `/tmp` and Postgres.app's
//!   `~/Library/Application Support/Postgres/var-*`; MySQL/MariaDB sockets
//!   (`/var/run/mysqld/mysqld.sock`, `/run/mysqld/mysqld.sock`,
//!   `/tmp/mysql.sock`, `/var/lib/mysql/mysql.sock`);
//! - TCP `127.0.0.1:5432` and `:3306`;
//! - the libpq environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGSERVICE`), the
//!   service files (`PGSERVICEFILE` or `~/.pg_service.conf`,
//!   `PGSYSCONFDIR/pg_service.conf`), `~/.pgpass` (`PGPASSFILE`) and
//!   `~/.my.cnf` (`[client]`, `[mysql]`, `[client-mariadb]`);
//! - `docker ps`: containers of `postgres`/`mysql`/`mariadb` images (any
//!   tag or registry); such a server is reached with `docker exec`, and its
//!   jobs get the container as their `docker_container`.
//!
//! `NIGHTJAR_DISCOVER_SOCKETS` (socket folders or socket files, `:`-separated)
//! and `NIGHTJAR_DISCOVER_PORTS` (`pg:5433,mysql:3307`) replace the default
//! places when set; `NIGHTJAR_DISCOVER_DOCKER=off` skips Docker.
//!
//! The same server found several ways (its socket, its TCP port, a
//! `.pgpass` line) is one [`Server`] whose `found_by` lists each way:
//! servers on this computer are keyed by engine and port, a MySQL socket by
//! its path until the server says which port it listens on.
//!
//! Logging in: over the socket first, as the OS user (peer/trust), then as
//! the users the environment, `.pgpass`, the service file, `~/.my.cnf`, the
//! config's jobs name, then `postgres` (PostgreSQL) or `root` (MySQL). A
//! password comes from the client's own files (libpq reads `.pgpass`, the
//! MySQL client `~/.my.cnf`), the environment, or the secret store entry
//! `nightjar password set --db URL` writes; it reaches the client through
//! `PGPASSWORD`/`MYSQL_PWD` only ([`crate::source`]).
//!
//! Databases: PostgreSQL's that allow connections and that the user may
//! connect to, except templates; `postgres` only when it holds tables of
//! its own (it is usually empty). MySQL's except `mysql`,
//! `information_schema`, `performance_schema` and `sys`.
//!
//! Side effects (files, sockets, TCP, `docker ps`, the clients) sit behind
//! [`Probe`]; [`SystemProbe`] is the real one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, NotifySettings, ParseEnv};
use crate::config_edit::{self, JobForm};
use crate::db::DbUrl;
use crate::model::{Compression, Engine, Format};
use crate::retention::RetentionPolicy;
use crate::secrets::{SecretStore, job_account};
use crate::{Error, ErrorKind, Result};

/// Extra socket folders or socket files (`:`-separated); replaces the default folders.
pub const SOCKETS_ENV: &str = "NIGHTJAR_DISCOVER_SOCKETS";
/// `pg:5433,mysql:3307`: the local TCP ports to try; replaces 5432 and 3306.
pub const PORTS_ENV: &str = "NIGHTJAR_DISCOVER_PORTS";
/// `off`: do not ask Docker.
pub const DOCKER_ENV: &str = "NIGHTJAR_DISCOVER_DOCKER";

/// The schedule of a proposed job: every day at 00:00.
pub const PROPOSED_SCHEDULE: &str = "daily 00:00";

const PG_PORT: u16 = 5432;
const MY_PORT: u16 = 3306;

/// Where a server can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket: PostgreSQL's socket folder (with the port in the
    /// socket's name), or MySQL's socket file.
    Socket {
        /// The folder (PostgreSQL) or the file (MySQL).
        path: PathBuf,
        /// PostgreSQL's port.
        port: Option<u16>,
    },
    /// TCP.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Inside a Docker container (`docker exec`), on its default socket.
    Docker {
        /// The container's name.
        container: String,
    },
}

impl Endpoint {
    fn rank(&self) -> u8 {
        match self {
            Endpoint::Docker { .. } => 0,
            Endpoint::Socket { .. } => 1,
            Endpoint::Tcp { .. } => 2,
        }
    }
}

/// How Nightjar can log in to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginHow {
    /// Logged in and listed the databases.
    Works,
    /// The server wants a password (or another user) Nightjar does not have.
    NeedsPassword,
    /// The server did not answer, or the client tools are missing.
    Unreachable,
}

/// The login result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    /// Works, needs a password, or unreachable.
    pub how: LoginHow,
    /// The user it logs in as (or the one that needs a password).
    pub user: Option<String>,
    /// One sentence.
    pub message: String,
}

/// One database of a server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    /// Its name.
    pub name: String,
    /// Its size on disk.
    pub size_bytes: u64,
    /// The config's jobs that back it up.
    pub protected_by: Vec<String>,
    /// A ready job for it (the Settings form's shape).
    pub proposal: JobForm,
}

/// A database server found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Stable id (`postgres:local:5432`, `mysql:socket:/run/mysqld/mysqld.sock`,
    /// `postgres:docker:app-db`, `postgres:db.example:5432`).
    pub id: String,
    /// PostgreSQL or MySQL/MariaDB.
    pub kind: Engine,
    /// "PostgreSQL on this computer, port 5432".
    pub label: String,
    /// TCP host, when it was found on one.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Socket folder (PostgreSQL) or file (MySQL).
    pub socket: Option<String>,
    /// The Docker container it runs in.
    pub docker_container: Option<String>,
    /// How it was found, one phrase each.
    pub found_by: Vec<String>,
    /// How Nightjar can log in.
    pub login: Login,
    /// Its databases (when the login works).
    pub databases: Vec<Database>,
    /// Every way to reach it, best first.
    #[serde(skip)]
    pub endpoints: Vec<Endpoint>,
    /// Users to try, in order (after the OS user).
    #[serde(skip)]
    pub users: Vec<String>,
    /// The endpoint the login worked on.
    #[serde(skip)]
    pub via: Option<Endpoint>,
    /// Whether reachability was claimed by a file or the environment only.
    #[serde(skip)]
    named: bool,
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// The servers, PostgreSQL first.
    pub servers: Vec<Server>,
    /// The OneDrive-synced folder the proposals back up into, if one was found.
    pub onedrive_folder: Option<String>,
    /// The folder the proposed jobs' folders go in.
    pub destination_hint: String,
    /// Sentences about what could not be looked at.
    pub notes: Vec<String>,
}

/// A database as a server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDb {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Tables outside the system schemas (PostgreSQL, for the database the
    /// listing connected to: `postgres`).
    pub user_tables: Option<u64>,
}

/// A successful login's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The user the server says we are.
    pub user: Option<String>,
    /// The databases.
    pub databases: Vec<ListedDb>,
    /// MySQL: the TCP port it listens on (none when networking is off).
    pub port: Option<u16>,
}

/// One login attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Logged in.
    Listed(Listing),
    /// Authentication failed (wrong or missing password, unknown user).
    Denied(String),
    /// Could not connect, or the client is missing.
    Failed(String),
}

/// The side effects discovery needs.
pub trait Probe {
    /// An environment variable (an empty one is `None`, except Nightjar's own).
    fn env(&self, name: &str) -> Option<String>;
    /// The user's home folder.
    fn home(&self) -> Option<PathBuf>;
    /// The OS user name.
    fn os_user(&self) -> Option<String>;
    /// A text file's content.
    fn read_file(&self, path: &Path) -> Option<String>;
    /// The names in a folder.
    fn list_dir(&self, dir: &Path) -> Vec<String>;
    /// Whether `path` is a Unix socket.
    fn is_socket(&self, path: &Path) -> bool;
    /// The path with symbolic links resolved (`/var/run` → `/run`).
    fn canonical(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    /// Whether a TCP connection to `host:port` opens.
    fn tcp_open(&self, host: &str, port: u16) -> bool;
    /// `docker ps --format '{{json .}}'`: its output, `Ok(None)` when Docker
    /// is not installed, `Err(sentence)` when it failed.
    fn docker_ps(&self) -> std::result::Result<Option<String>, String>;
    /// Logs in as `user` (`None`: the client's default) and lists the databases.
    fn connect(&self, kind: Engine, endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt;
}

/// Where proposals put their backups and how they are timed.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// OneDrive-synced folders (the first is used).
    pub onedrive_folders: Vec<PathBuf>,
    /// Where a `Nightjar Backups` folder goes without OneDrive (documents or home).
    pub fallback_parent: Option<PathBuf>,
    /// The proposals' IANA time zone.
    pub timezone: String,
}

impl Defaults {
    /// The documents folder (else home) of this user, the system's time zone.
    #[must_use]
    pub fn system(onedrive_folders: Vec<PathBuf>) -> Self {
        let fallback_parent = directories::UserDirs::new().map(|u| u.document_dir().map_or_else(|| u.home_dir().to_path_buf(), Path::to_path_buf));
        Self { onedrive_folders, fallback_parent, timezone: crate::config::system_time_zone().name().to_string() }
    }

    /// The folder every proposed job's folder goes in.
    #[must_use]
    pub fn root(&self) -> PathBuf {
        match self.onedrive_folders.first() {
            Some(od) => od.join("Nightjar"),
            None => self.fallback_parent.clone().unwrap_or_else(|| PathBuf::from(".")).join("Nightjar Backups"),
        }
    }
}

/// Everything discovery reads.
pub struct Context<'a> {
    /// The side effects.
    pub probe: &'a dyn Probe,
    /// Stored passwords.
    pub secrets: &'a dyn SecretStore,
    /// The existing jobs.
    pub config: &'a Config,
    /// Proposal defaults.
    pub defaults: &'a Defaults,
}

// ---- candidates ---------------------------------------------------------

/// One way a server was found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    kind: Engine,
    endpoint: Endpoint,
    users: Vec<String>,
    found_by: String,
    /// Named by a file or the environment (listed even when it does not answer).
    named: bool,
}

fn is_local(host: &str) -> bool {
    matches!(host, "" | "localhost" | "127.0.0.1" | "::1")
}

/// The merge key of an endpoint.
fn key(kind: Engine, e: &Endpoint) -> String {
    let k = kind.as_str();
    match e {
        Endpoint::Docker { container } => format!("{k}:docker:{container}"),
        Endpoint::Socket { path, port } => match kind {
            Engine::Postgres => format!("{k}:local:{}", port.unwrap_or(PG_PORT)),
            Engine::Mysql => format!("{k}:socket:{}", path.display()),
        },
        Endpoint::Tcp { host, port } if is_local(host) => format!("{k}:local:{port}"),
        Endpoint::Tcp { host, port } => format!("{k}:{host}:{port}"),
    }
}

/// The servers a job's database URL points at (keys as [`key`] makes them).
fn job_key(job: &crate::config::Job) -> String {
    let kind = job.db.engine;
    if let Some(c) = &job.docker_container {
        return key(kind, &Endpoint::Docker { container: c.clone() });
    }
    let host = job.db.host.clone().unwrap_or_default();
    match kind {
        Engine::Postgres if host.starts_with('/') || host.is_empty() => {
            let port = job.db.port.or_else(|| job.db.params.get("port").and_then(|p| p.parse().ok()));
            key(kind, &Endpoint::Socket { path: PathBuf::from(host), port })
        }
        Engine::Mysql if job.db.params.contains_key("socket") => key(kind, &Endpoint::Socket { path: PathBuf::from(&job.db.params["socket"]), port: None }),
        Engine::Postgres => key(kind, &Endpoint::Tcp { host, port: job.db.port.unwrap_or(PG_PORT) }),
        Engine::Mysql => key(kind, &Endpoint::Tcp { host, port: job.db.port.unwrap_or(MY_PORT) }),
    }
}

fn socket_candidates(p: &dyn Probe, notes: &mut Vec<String>) -> Vec<Candidate> {
    let _ = notes;
    let mut out = Vec::new();
    let mut pg_dirs: Vec<PathBuf> = Vec::new();
    let mut my_files: Vec<PathBuf> = Vec::new();
    if let Some(list) = p.env(SOCKETS_ENV) {
        for item in list.split(':').map(str::trim).filter(|s| !s.is_empty()) {
            let path = PathBuf::from(item);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if p.is_socket(&path) {
                if let Some(port) = pg_socket_port(&name) {
                    out.push(pg_socket(path.parent().unwrap_or(Path::new("/")), port));
                } else {
                    my_files.push(path);
                }
            } else {
                pg_dirs.push(path.clone());
                for n in p.list_dir(&path) {
                    if matches!(n.as_str(), "mysqld.sock" | "mysql.sock" | "mariadb.sock") {
                        my_files.push(path.join(n));
                    }
                }
            }
        }
    } else {
        pg_dirs.extend(["/var/run/postgresql", "/run/postgresql", "/tmp"].map(PathBuf::from));
        if let Some(home) = p.home() {
            let app = home.join("Library").join("Application Support").join("Postgres");
            let mut vars: Vec<String> = p.list_dir(&app).into_iter().filter(|n| n.starts_with("var-")).collect();
            vars.sort();
            pg_dirs.extend(vars.into_iter().map(|v| app.join(v)));
        }
        my_files.extend(["/var/run/mysqld/mysqld.sock", "/run/mysqld/mysqld.sock", "/tmp/mysql.sock", "/var/lib/mysql/mysql.sock"].map(PathBuf::from));
    }
    // The same socket reached through a link (`/var/run` is `/run`) counts once.
    let mut seen: BTreeSet<PathBuf> = out
        .iter()
        .filter_map(|c| match &c.endpoint {
            Endpoint::Socket { path, port: Some(port) } => Some(p.canonical(&path.join(format!(".s.PGSQL.{port}")))),
            _ => None,
        })
        .collect();
    for dir in pg_dirs {
        let mut names: Vec<String> = p.list_dir(&dir);
        names.sort();
        for n in names {
            if let Some(port) = pg_socket_port(&n)
                && p.is_socket(&dir.join(&n))
                && seen.insert(p.canonical(&dir.join(&n)))
            {
                out.push(pg_socket(&dir, port));
            }
        }
    }
    for f in my_files {
        if p.is_socket(&f) && seen.insert(p.canonical(&f)) {
            out.push(Candidate {
                kind: Engine::Mysql,
                endpoint: Endpoint::Socket { path: f.clone(), port: None },
                users: Vec::new(),
                found_by: format!("socket {}", f.display()),
                named: false,
            });
        }
    }
    out
}

fn pg_socket(dir: &Path, port: u16) -> Candidate {
    Candidate {
        kind: Engine::Postgres,
        endpoint: Endpoint::Socket { path: dir.to_path_buf(), port: Some(port) },
        users: Vec::new(),
        found_by: format!("socket {}", dir.join(format!(".s.PGSQL.{port}")).display()),
        named: false,
    }
}

/// `5432` from `.s.PGSQL.5432` (not its `.lock`).
fn pg_socket_port(name: &str) -> Option<u16> {
    name.strip_prefix(".s.PGSQL.")?.parse().ok()
}

/// The local ports to try: `NIGHTJAR_DISCOVER_PORTS`, else 5432 and 3306.
fn port_list(p: &dyn Probe) -> Vec<(Engine, u16)> {
    let Some(text) = p.env(PORTS_ENV) else { return vec![(Engine::Postgres, PG_PORT), (Engine::Mysql, MY_PORT)] };
    text.split(',')
        .filter_map(|item| {
            let (k, port) = item.trim().split_once(':')?;
            let kind = match k.trim() {
                "pg" | "postgres" | "postgresql" => Engine::Postgres,
                "mysql" | "mariadb" => Engine::Mysql,
                _ => return None,
            };
            Some((kind, port.trim().parse().ok()?))
        })
        .collect()
}

fn port_candidates(p: &dyn Probe) -> Vec<Candidate> {
    port_list(p)
        .into_iter()
        .filter(|(_, port)| p.tcp_open("127.0.0.1", *port))
        .map(|(kind, port)| Candidate {
            kind,
            endpoint: Endpoint::Tcp { host: "127.0.0.1".into(), port },
            users: Vec::new(),
            found_by: format!("TCP port 127.0.0.1:{port}"),
            named: false,
        })
        .collect()
}

/// A PostgreSQL endpoint from a host (name, address or socket folder) and port.
fn pg_endpoint(host: Option<&str>, port: Option<u16>) -> Endpoint {
    let port = port.unwrap_or(PG_PORT);
    match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if h.starts_with('/') => Endpoint::Socket { path: PathBuf::from(h), port: Some(port) },
        Some(h) => Endpoint::Tcp { host: h.to_string(), port },
        None => Endpoint::Tcp { host: "localhost".into(), port },
    }
}

fn home_path(p: &dyn Probe, rel: &str) -> Option<PathBuf> {
    p.home().map(|h| h.join(rel))
}

fn shown_path(p: &dyn Probe, path: &Path) -> String {
    match p.home() {
        Some(h) if path.starts_with(&h) => format!("~/{}", path.strip_prefix(&h).unwrap_or(path).display()),
        _ => path.display().to_string(),
    }
}

/// Parses `.pgpass`: `(host, port, user)` per line (`*` as `None`).
fn parse_pgpass(text: &str) -> Vec<(Option<String>, Option<u16>, Option<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields: Vec<String> = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        fields.last_mut().expect("a field").push(n);
                    }
                }
                ':' if fields.len() < 5 => fields.push(String::new()),
                c => fields.last_mut().expect("a field").push(c),
            }
        }
        if fields.len() < 5 {
            continue;
        }
        let star = |s: &str| (s != "*").then(|| s.to_string());
        let port = if fields[1] == "*" { None } else { fields[1].parse().ok() };
        if fields[1] != "*" && port.is_none() {
            continue;
        }
        out.push((star(&fields[0]), port, star(&fields[3])));
    }
    out
}

/// INI sections: `(section, [(key, value)])`.
fn parse_ini(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        if let (Some((k, v)), Some(section)) = (line.split_once('='), out.last_mut()) {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            section.1.push((k.trim().to_string(), v.to_string()));
        }
    }
    out
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
    kv.iter().rev().find(|(key, _)| key == k || key.replace('_', "-") == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Wildcard users of `.pgpass` (any host), tried on every PostgreSQL server.
fn libpq_candidates(p: &dyn Probe, wildcard_users: &mut Vec<String>) -> Vec<Candidate> {
    let mut out = Vec::new();
    // The environment.
    let env_user = p.env("PGUSER");
    if p.env("PGHOST").is_some() || p.env("PGPORT").is_some() {
        let host = p.env("PGHOST").map(|h| h.split(',').next().unwrap_or("").to_string());
        let port = p.env("PGPORT").and_then(|v| v.split(',').next()?.trim().parse().ok());
        let mut vars = Vec::new();
        if p.env("PGHOST").is_some() {
            vars.push("PGHOST");
        }
        if p.env("PGPORT").is_some() {
            vars.push("PGPORT");
        }
        out.push(Candidate {
            kind: Engine::Postgres,
            endpoint: pg_endpoint(host.as_deref(), port),
            users: env_user.iter().cloned().collect(),
            found_by: format!("environment ({})", vars.join(", ")),
            named: true,
        });
    }
    if let Some(u) = env_user {
        wildcard_users.push(u);
    }
    // The service files.
    let wanted = p.env("PGSERVICE");
    let mut files: Vec<PathBuf> = Vec::new();
    match p.env("PGSERVICEFILE") {
        Some(f) => files.push(PathBuf::from(f)),
        None => files.extend(home_path(p, ".pg_service.conf")),
    }
    if let Some(d) = p.env("PGSYSCONFDIR") {
        files.push(PathBuf::from(d).join("pg_service.conf"));
    }
    for file in files {
        let Some(text) = p.read_file(&file) else { continue };
        for (name, kv) in parse_ini(&text) {
            let port = get(&kv, "port").and_then(|v| v.parse().ok());
            let via = if wanted.as_deref() == Some(name.as_str()) { format!(", PGSERVICE={name}") } else { String::new() };
            out.push(Candidate {
                kind: Engine::Postgres,
                endpoint: pg_endpoint(get(&kv, "host").or(get(&kv, "hostaddr")), port),
                users: get(&kv, "user").map(str::to_string).into_iter().collect(),
                found_by: format!("service [{name}] in {}{via}", shown_path(p, &file)),
                named: true,
            });
        }
    }
    // .pgpass.
    let pgpass = p.env("PGPASSFILE").map(PathBuf::from).or_else(|| home_path(p, ".pgpass"));
    if let Some(file) = pgpass
        && let Some(text) = p.read_file(&file)
    {
        for (host, port, user) in parse_pgpass(&text) {
            match host {
                Some(h) => out.push(Candidate {
                    kind: Engine::Postgres,
                    endpoint: pg_endpoint(Some(&h), port),
                    users: user.into_iter().collect(),
                    found_by: shown_path(p, &file),
                    named: true,
                }),
                None => wildcard_users.extend(user),
            }
        }
    }
    out
}

fn my_cnf_candidates(p: &dyn Probe, users: &mut Vec<String>) -> Vec<Candidate> {
    let Some(file) = home_path(p, ".my.cnf") else { return Vec::new() };
    let Some(text) = p.read_file(&file) else { return Vec::new() };
    let mut out = Vec::new();
    for (section, kv) in parse_ini(&text) {
        if !matches!(section.as_str(), "client" | "mysql" | "client-mariadb" | "mariadb-client") {
            continue;
        }
        let user = get(&kv, "user").map(str::to_string);
        users.extend(user.clone());
        let endpoint = if let Some(s) = get(&kv, "socket") {
            Endpoint::Socket { path: PathBuf::from(s), port: None }
        } else if let Some(h) = get(&kv, "host").filter(|h| *h != "localhost") {
            Endpoint::Tcp { host: h.to_string(), port: get(&kv, "port").and_then(|v| v.parse().ok()).unwrap_or(MY_PORT) }
        } else if let Some(port) = get(&kv, "port").and_then(|v| v.parse().ok()) {
            Endpoint::Tcp { host: "127.0.0.1".into(), port }
        } else {
            continue;
        };
        out.push(Candidate {
            kind: Engine::Mysql,
            endpoint,
            users: user.into_iter().collect(),
            found_by: format!("{} [{section}]", shown_path(p, &file)),
            named: true,
        });
    }
    out
}

/// The engine of a Docker image (`postgres:16`, `docker.io/library/mariadb:11`,
/// `bitnami/postgresql@sha256:…`).
#[must_use]
pub fn image_engine(image: &str) -> Option<Engine> {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    let base = last.split(':').next().unwrap_or(last).to_ascii_lowercase();
    match base.as_str() {
        "postgres" | "postgresql" | "postgis" | "timescaledb" | "timescaledb-ha" | "pgvector" => Some(Engine::Postgres),
        "mysql" | "mariadb" | "percona-server" | "mysql-server" => Some(Engine::Mysql),
        _ => None,
    }
}

fn docker_candidates(p: &dyn Probe, notes: &mut Vec<String>) -> Vec<Candidate> {
    if p.env(DOCKER_ENV).is_some_and(|v| v == "off") {
        return Vec::new();
    }
    let text = match p.docker_ps() {
        Ok(Some(t)) => t,
        Ok(None) => return Vec::new(),
        Err(e) => {
            notes.push(e);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let image = v.get("Image").and_then(|i| i.as_str()).unwrap_or("");
        let Some(kind) = image_engine(image) else { continue };
        let Some(name) = v.get("Names").and_then(|n| n.as_str()).and_then(|n| n.split(',').next()).filter(|n| !n.is_empty()) else { continue };
        out.push(Candidate {
            kind,
            endpoint: Endpoint::Docker { container: name.to_string() },
            users: Vec::new(),
            found_by: format!("Docker container {name} ({image})"),
            named: true,
        });
    }
    out
}

/// Every candidate, the users for every server of an engine, and notes.
fn candidates(p: &dyn Probe, notes: &mut Vec<String>) -> (Vec<Candidate>, Vec<String>, Vec<String>) {
    let mut pg_users = Vec::new();
    let mut my_users = Vec::new();
    let mut all = socket_candidates(p, notes);
    all.extend(port_candidates(p));
    all.extend(libpq_candidates(p, &mut pg_users));
    all.extend(my_cnf_candidates(p, &mut my_users));
    all.extend(docker_candidates(p, notes));
    (all, pg_users, my_users)
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Folds candidates with the same key into one server each.
fn merge(cands: Vec<Candidate>) -> Vec<Server> {
    let mut servers: Vec<(Vec<String>, Server)> = Vec::new();
    for c in cands {
        let k = key(c.kind, &c.endpoint);
        let i = match servers.iter().position(|(keys, _)| keys.contains(&k)) {
            Some(i) => i,
            None => {
                servers.push((vec![k.clone()], blank(&k, c.kind)));
                servers.len() - 1
            }
        };
        let s = &mut servers[i].1;
        if !s.endpoints.contains(&c.endpoint) {
            s.endpoints.push(c.endpoint.clone());
        }
        for u in &c.users {
            push_unique(&mut s.users, u);
        }
        push_unique(&mut s.found_by, &c.found_by);
        s.named |= c.named;
    }
    let mut out: Vec<Server> = servers
        .into_iter()
        .map(|(_, mut s)| {
            s.endpoints.sort_by_key(Endpoint::rank);
            describe(&mut s);
            s
        })
        .collect();
    out.sort_by(|a, b| (a.kind != Engine::Postgres, &a.id).cmp(&(b.kind != Engine::Postgres, &b.id)));
    out
}

fn blank(id: &str, kind: Engine) -> Server {
    Server {
        id: id.to_string(),
        kind,
        label: String::new(),
        host: None,
        port: None,
        socket: None,
        docker_container: None,
        found_by: Vec::new(),
        login: Login { how: LoginHow::Unreachable, user: None, message: String::new() },
        databases: Vec::new(),
        endpoints: Vec::new(),
        users: Vec::new(),
        via: None,
        named: false,
    }
}

/// Fills the shown fields from the endpoints (a port the server itself
/// reported stays when no endpoint names one).
fn describe(s: &mut Server) {
    let reported = s.port;
    s.host = None;
    s.port = None;
    s.socket = None;
    s.docker_container = None;
    for e in &s.endpoints {
        match e {
            Endpoint::Docker { container } => s.docker_container = s.docker_container.clone().or(Some(container.clone())),
            Endpoint::Socket { path, port } => {
                s.socket = s.socket.clone().or_else(|| Some(path.display().to_string()));
                s.port = s.port.or(*port);
            }
            Endpoint::Tcp { host, port } => {
                s.host = s.host.clone().or_else(|| Some(host.clone()));
                s.port = s.port.or(Some(*port));
            }
        }
    }
    s.port = s.port.or(reported);
    let engine = crate::source::engine::engine_name(s.kind);
    let local = s.host.as_deref().is_none_or(is_local);
    s.label = match (&s.docker_container, local, s.port) {
        (Some(c), _, _) => format!("{engine} in the Docker container {c}"),
        (None, true, Some(port)) => format!("{engine} on this computer, port {port}"),
        (None, true, None) => format!("{engine} on this computer, socket {}", s.socket.clone().unwrap_or_default()),
        (None, false, port) => format!("{engine} at {}:{}", s.host.clone().unwrap_or_default(), port.unwrap_or(0)),
    };
}

// ---- URLs and accounts ----------------------------------------------------

fn enc_min(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The database URL (no password) for `database` on `endpoint` as `user`.
#[must_use]
pub fn url_for(kind: Engine, endpoint: &Endpoint, user: Option<&str>, database: &str) -> String {
    let user = user.map(|u| format!("{}@", enc_min(u))).unwrap_or_default();
    let db = enc_min(database);
    let host_of = |h: &str| if h.contains(':') { format!("[{h}]") } else { h.to_string() };
    match (kind, endpoint) {
        (Engine::Postgres, Endpoint::Socket { path, port }) => {
            let port = port.filter(|p| *p != PG_PORT).map(|p| format!("&port={p}")).unwrap_or_default();
            format!("postgres://{user}/{db}?host={}{port}", enc_min(&path.display().to_string()))
        }
        (Engine::Postgres, Endpoint::Tcp { host, port }) => format!("postgres://{user}{}:{port}/{db}", host_of(host)),
        (Engine::Postgres, Endpoint::Docker { .. }) => format!("postgres://{user}/{db}"),
        (Engine::Mysql, Endpoint::Socket { path, .. }) => format!("mysql://{user}localhost/{db}?socket={}", enc_min(&path.display().to_string())),
        (Engine::Mysql, Endpoint::Tcp { host, port }) => format!("mysql://{user}{}:{port}/{db}", host_of(host)),
        (Engine::Mysql, Endpoint::Docker { .. }) => format!("mysql://{user}localhost/{db}"),
    }
}

/// The secret store account of `user`'s password on this endpoint: what
/// `nightjar password set --db URL` writes (a Docker container's is
/// `db:docker/<container>/<user>`).
#[must_use]
pub fn password_account(kind: Engine, endpoint: &Endpoint, user: &str) -> String {
    if let Endpoint::Docker { container } = endpoint {
        return format!("db:docker/{container}/{}/{user}", kind.as_str());
    }
    match DbUrl::parse(&url_for(kind, endpoint, Some(user), "x")) {
        Ok(u) => u.keyring_account(),
        Err(_) => format!("db:{}://{user}@{}", kind.as_str(), key(kind, endpoint)),
    }
}

// ---- logging in -----------------------------------------------------------

/// Logs in to `s` as each user in turn on each endpoint, best first, and
/// fills `login`, `via` and `databases`.
fn log_in(ctx: &Context<'_>, s: &mut Server, first: Option<(&str, &str)>) {
    let p = ctx.probe;
    let mut users: Vec<Option<String>> = Vec::new();
    if let Some((u, _)) = first {
        users.push(Some(u.to_string()));
    } else {
        users.push(None);
        for u in &s.users {
            users.push(Some(u.clone()));
        }
        for j in &ctx.config.jobs {
            if job_key(j) == s.id
                && let Some(u) = &j.db.user
            {
                users.push(Some(u.clone()));
            }
        }
        if s.endpoints.iter().any(|e| !matches!(e, Endpoint::Tcp { .. })) || s.docker_container.is_some() {
            users.push(Some(if s.kind == Engine::Postgres { "postgres" } else { "root" }.to_string()));
        }
        let mut seen = BTreeSet::new();
        users.retain(|u| seen.insert(u.clone()));
    }
    let mut denied: Option<(bool, Option<String>)> = None;
    let mut failed: Option<String> = None;
    let endpoints = s.endpoints.clone();
    for e in &endpoints {
        // A server only named (a file, the environment) is not asked when its port is closed.
        if let Endpoint::Tcp { host, port } = e
            && s.named
            && !p.tcp_open(host, *port)
        {
            failed.get_or_insert_with(|| format!("Nothing answers at {host}:{port}; start the server or check the address."));
            continue;
        }
        for u in &users {
            let password = match (first, u) {
                (Some((_, pw)), _) => Some(pw.to_string()),
                (None, Some(u)) => stored_password(ctx, s, e, u),
                (None, None) => None,
            };
            match p.connect(s.kind, e, u.as_deref(), password.as_deref()) {
                Attempt::Listed(l) => {
                    let user = l.user.clone().filter(|x| !x.is_empty()).or_else(|| u.clone());
                    s.login =
                        Login { how: LoginHow::Works, message: format!("Nightjar logs in as \"{}\".", user.as_deref().unwrap_or("the current user")), user };
                    s.via = Some(e.clone());
                    s.databases = databases(ctx, s, &l);
                    if let Some(port) = l.port {
                        s.port.get_or_insert(port);
                    }
                    return;
                }
                Attempt::Denied(_) => {
                    // The first user named somewhere says more than the OS user.
                    if denied.is_none() || u.is_some() && denied.as_ref().is_some_and(|(named, _)| !named) {
                        denied = Some((u.is_some(), u.clone().or_else(|| ctx.probe.os_user())));
                    }
                }
                Attempt::Failed(m) => {
                    failed.get_or_insert(m);
                    // The endpoint is not there: the other users would fail alike.
                    break;
                }
            }
        }
    }
    s.databases.clear();
    s.via = None;
    s.login = match denied {
        Some((_, user)) => Login {
            how: LoginHow::NeedsPassword,
            message: format!("The server wants a password for \"{}\"; enter it to list the databases.", user.as_deref().unwrap_or("the current user")),
            user,
        },
        None => Login { how: LoginHow::Unreachable, user: None, message: failed.unwrap_or_else(|| "The server could not be reached.".into()) },
    };
}

fn stored_password(ctx: &Context<'_>, s: &Server, e: &Endpoint, user: &str) -> Option<String> {
    if let Ok(Some(pw)) = ctx.secrets.get(&password_account(s.kind, e, user)) {
        return Some(pw);
    }
    // A job of the config on this server, as this user, may have one.
    ctx.config
        .jobs
        .iter()
        .filter(|j| job_key(j) == s.id && j.db.user.as_deref() == Some(user))
        .find_map(|j| ctx.secrets.get(&job_account(&j.name)).ok().flatten())
}

/// The databases worth offering, with the jobs protecting them and a proposal each.
fn databases(ctx: &Context<'_>, s: &Server, l: &Listing) -> Vec<Database> {
    let mut out = Vec::new();
    for d in &l.databases {
        let system = match s.kind {
            Engine::Postgres => matches!(d.name.as_str(), "template0" | "template1") || d.name == "postgres" && d.user_tables.unwrap_or(0) == 0,
            Engine::Mysql => matches!(d.name.as_str(), "mysql" | "information_schema" | "performance_schema" | "sys"),
        };
        if system {
            continue;
        }
        let protected_by =
            ctx.config.jobs.iter().filter(|j| j.db.engine == s.kind && j.db.database == d.name && job_key(j) == s.id).map(|j| j.name.clone()).collect();
        out.push(Database { name: d.name.clone(), size_bytes: d.size, protected_by, proposal: placeholder() });
    }
    out
}

fn placeholder() -> JobForm {
    JobForm {
        name: String::new(),
        database: String::new(),
        docker_container: None,
        destination: String::new(),
        extra_destinations: Vec::new(),
        schedule: None,
        timezone: None,
        format: Format::Plain,
        compression: Compression::Zstd,
        tables: Vec::new(),
        exclude_tables: Vec::new(),
        schemas: Vec::new(),
        exclude_schemas: Vec::new(),
        enabled: true,
        retention: RetentionPolicy::default(),
        notify: NotifySettings::default(),
        run: config_edit::RunSettings::default(),
    }
}

// ---- proposals ----------------------------------------------------------

/// A job name from a database name: lower case, `[a-z0-9_.-]`, unique
/// among `taken` (`shop`, `shop-2`, ...).
#[must_use]
pub fn job_name(database: &str, taken: &BTreeSet<String>) -> String {
    let mut base = String::new();
    for c in database.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_matches(['-', '.']).to_string();
    let mut base = if base.chars().any(|c| c.is_ascii_alphanumeric()) { base } else { "database".to_string() };
    base.truncate(56);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Fills each database's proposal: its name unique against the config's
/// jobs and the other proposals.
fn propose(ctx: &Context<'_>, servers: &mut [Server]) {
    let mut taken: BTreeSet<String> = ctx.config.raw.jobs.iter().map(|j| j.name.clone()).collect();
    let root = ctx.defaults.root();
    for s in servers.iter_mut() {
        let Some(via) = s.via.clone() else { continue };
        let user = s.login.user.clone();
        for d in &mut s.databases {
            let name = job_name(&d.name, &taken);
            taken.insert(name.clone());
            d.proposal = proposal(s.kind, &via, user.as_deref(), &d.name, &name, &root, &ctx.defaults.timezone);
        }
    }
}

/// The proposed job: daily at 00:00 in `timezone`, keep 7 days and the last 3.
#[must_use]
pub fn proposal(kind: Engine, via: &Endpoint, user: Option<&str>, database: &str, name: &str, root: &Path, timezone: &str) -> JobForm {
    let docker_container = match via {
        Endpoint::Docker { container } => Some(container.clone()),
        _ => None,
    };
    JobForm {
        name: name.to_string(),
        database: url_for(kind, via, user, database),
        docker_container,
        destination: root.join(name).display().to_string(),
        schedule: Some(PROPOSED_SCHEDULE.to_string()),
        timezone: Some(timezone.to_string()).filter(|t| !t.is_empty()),
        retention: RetentionPolicy { keep_days: 7, keep_last: 3, ..RetentionPolicy::default() },
        ..placeholder()
    }
}

// ---- the front ------------------------------------------------------------

/// Finds the servers, logs in to each, lists their databases and proposes a job per database.
#[must_use]
pub fn discover(ctx: &Context<'_>) -> Discovery {
    let mut notes = Vec::new();
    let (cands, pg_users, my_users) = candidates(ctx.probe, &mut notes);
    let mut servers = merge(cands);
    for s in &mut servers {
        let extra = if s.kind == Engine::Postgres { &pg_users } else { &my_users };
        for u in extra {
            push_unique(&mut s.users, u);
        }
        log_in(ctx, s, None);
    }
    let mut servers = merge_by_port(servers);
    for s in &mut servers {
        describe(s);
    }
    propose(ctx, &mut servers);
    let onedrive_folder = ctx.defaults.onedrive_folders.first().map(|p| p.display().to_string());
    if onedrive_folder.is_none() {
        notes.push(format!(
            "No OneDrive-synced folder was found, so the jobs back up into {}; pick another folder in Settings if you like.",
            ctx.defaults.root().display()
        ));
    }
    if servers.is_empty() {
        notes.push("No PostgreSQL or MySQL/MariaDB server was found on this computer; add a job by hand in Settings.".into());
    }
    Discovery { servers, onedrive_folder, destination_hint: ctx.defaults.root().display().to_string(), notes }
}

/// A MySQL server found by its socket that says it listens on a local TCP
/// port found too is the same server: the TCP one is folded into it.
fn merge_by_port(servers: Vec<Server>) -> Vec<Server> {
    let mut out: Vec<Server> = Vec::new();
    let mut folded: Vec<Server> = Vec::new();
    for s in servers {
        if s.kind == Engine::Mysql && s.id.starts_with("mysql:local:") && s.docker_container.is_none() {
            folded.push(s);
        } else {
            out.push(s);
        }
    }
    for t in folded {
        let same = out
            .iter_mut()
            .find(|s| s.kind == Engine::Mysql && s.id.starts_with("mysql:socket:") && s.login.how == LoginHow::Works && s.port.is_some() && s.port == t.port);
        match same {
            Some(s) => {
                for f in &t.found_by {
                    push_unique(&mut s.found_by, f);
                }
                for e in t.endpoints {
                    if !s.endpoints.contains(&e) {
                        s.endpoints.push(e);
                    }
                }
                s.host = s.host.clone().or(t.host);
            }
            None => out.push(t),
        }
    }
    out
}

/// Logs in to `server` as `user` with `password`; when that works the
/// password is stored (as `nightjar password set --db URL` does) and the
/// updated server returned.
///
/// # Errors
/// [`ErrorKind::Auth`] when the password is refused (nothing is stored),
/// [`ErrorKind::Connection`] when the server does not answer, or the
/// secret store's error.
pub fn discover_login(ctx: &Context<'_>, server: &Server, user: &str, password: &str) -> Result<Server> {
    if user.trim().is_empty() {
        return Err(Error::config("Type the user name first."));
    }
    if password.is_empty() {
        return Err(Error::config("Type the password first."));
    }
    let mut s = server.clone();
    s.named = false;
    log_in(ctx, &mut s, Some((user.trim(), password)));
    match s.login.how {
        LoginHow::Works => {
            let via = s.via.clone().expect("a working login has its endpoint");
            ctx.secrets.set(&password_account(s.kind, &via, user.trim()), password)?;
            let mut one = [s];
            propose(ctx, &mut one);
            let [s] = one;
            Ok(s)
        }
        LoginHow::NeedsPassword => Err(Error::new(
            ErrorKind::Auth,
            format!("The server did not accept the password for \"{}\"; check the user and password and try again.", user.trim()),
        )),
        LoginHow::Unreachable => Err(Error::new(ErrorKind::Connection, s.login.message)),
    }
}

/// Saves the proposed job for `database` of `server` into the config file
/// at `config_path` (comments kept, validated, written atomically), with
/// the server's stored password copied to the job's own entry. Returns the
/// job as saved; the caller runs its first backup.
///
/// # Errors
/// The server's login does not work, there is no such database, it is
/// already protected, or the config could not be saved.
pub fn protect(ctx: &Context<'_>, config_path: &Path, env: &ParseEnv, server: &Server, database: &str) -> Result<JobForm> {
    if server.login.how != LoginHow::Works {
        return Err(Error::new(ErrorKind::Auth, format!("Nightjar cannot log in to {} yet; {}", server.label, server.login.message)));
    }
    let d = server.databases.iter().find(|d| d.name == database).ok_or_else(|| {
        Error::new(ErrorKind::NotFound, format!("{} has no database \"{database}\"; run the discovery again to see its databases.", server.label))
    })?;
    if let Some(j) = d.protected_by.first() {
        return Err(Error::config(format!("\"{database}\" is already backed up by the job \"{j}\".")));
    }
    let mut form = d.proposal.clone();
    // The name may have been taken since the discovery ran.
    let text = config_edit::read(config_path).map_err(|e| Error::config(e.message))?;
    if let Ok(c) = Config::parse(&text, Some(config_path), env) {
        let taken: BTreeSet<String> = c.raw.jobs.iter().map(|j| j.name.clone()).collect();
        if taken.contains(&form.name) {
            let new = job_name(&d.name, &taken);
            let root = ctx.defaults.root();
            form.destination = root.join(&new).display().to_string();
            form.name = new;
        }
    }
    config_edit::save_job(config_path, env, None, &form).map_err(|e| Error::config(e.message))?;
    // The proposed folder is new: made here (owner-only) so the first backup has somewhere to go.
    if !crate::remote::is_remote(&form.destination) {
        let dir = Path::new(&form.destination);
        crate::private::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorKind::Destination,
                format!(
                    "The job \"{}\" was saved, but its folder {} could not be made ({e}); create it or pick another folder in Settings.",
                    form.name,
                    dir.display()
                ),
            )
        })?;
    }
    if let (Some(via), Some(user)) = (&server.via, &server.login.user)
        && let Ok(Some(pw)) = ctx.secrets.get(&password_account(server.kind, via, user))
    {
        ctx.secrets.set(&job_account(&form.name), &pw)?;
    }
    tracing::info!(job = %form.name, server = %server.id, "job made from discovery");
    Ok(form)
}

// ---- the real probe -------------------------------------------------------

/// The real file system, network, Docker and database clients.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemProbe;

const FIELD_SEP: &str = "\x1f";

const PG_LIST_SQL: &str = "SELECT current_user, d.datname, pg_database_size(d.datname), \
CASE WHEN d.datname = current_database() THEN (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') ELSE -1 END \
FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate AND has_database_privilege(d.datname, 'CONNECT') ORDER BY d.datname";

const MY_LIST_SQL: &str = "SELECT CURRENT_USER(), s.schema_name, COALESCE(SUM(t.data_length + t.index_length), 0), @@port, @@skip_networking \
FROM information_schema.schemata s LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name \
GROUP BY s.schema_name ORDER BY s.schema_name";

/// Parses the PostgreSQL listing (`user␟name␟size␟user_tables` lines).
#[must_use]
pub fn parse_pg_listing(out: &str) -> Listing {
    let mut l = Listing::default();
    for line in out.lines() {
        let f: Vec<&str> = line.split(FIELD_SEP).collect();
        if f.len() < 4 {
            continue;
        }
        l.user.get_or_insert_with(|| f[0].to_string());
        l.databases.push(ListedDb {
            name: f[1].to_string(),
            size: f[2].trim().parse().unwrap_or(0),
            user_tables: f[3].trim().parse::<i64>().ok().and_then(|n| u64::try_from(n).ok()),
        });
    }
    l
}

/// Parses the MySQL listing (tab-separated `user name size port skip_networking`).
#[must_use]
pub fn parse_my_listing(out: &str) -> Listing {
    let mut l = Listing::default();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        if l.user.is_none() {
            // CURRENT_USER() is `user@host`.
            let u = f[0].rsplit_once('@').map_or(f[0], |(u, _)| u);
            l.user = Some(u.to_string()).filter(|u| !u.is_empty());
            if f[4].trim() == "0" || f[4].trim().eq_ignore_ascii_case("OFF") {
                l.port = f[3].trim().parse().ok().filter(|p| *p != 0);
            }
        }
        l.databases.push(ListedDb { name: f[1].to_string(), size: f[2].trim().parse().unwrap_or(0), user_tables: None });
    }
    l
}

impl SystemProbe {
    fn pg(endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt {
        use crate::source::postgres::{self, PgTarget};
        let docker = match endpoint {
            Endpoint::Docker { container } => Some(container.clone()),
            _ => None,
        };
        let psql = if docker.is_some() {
            PathBuf::from("psql")
        } else {
            let tools = postgres::installed_tools(None);
            match tools.iter().map(|t| postgres::sibling(t, "psql")).find(|p| p.is_file()) {
                Some(p) => p,
                None => return Attempt::Failed(format!("psql was not found; {}.", crate::source::locate::hint(crate::source::locate::Tool::Postgres, None))),
            }
        };
        let mut last = Attempt::Failed(String::new());
        for db in ["postgres", "template1"] {
            let url = match DbUrl::parse(&url_for(Engine::Postgres, endpoint, user, db)) {
                Ok(u) => u,
                Err(e) => return Attempt::Failed(e.message().to_string()),
            };
            let target = PgTarget { url, password: password.map(str::to_string), docker_container: docker.clone() };
            let args = vec![
                "-X".to_string(),
                "-A".into(),
                "-t".into(),
                "--no-password".into(),
                format!("--field-separator={FIELD_SEP}"),
                format!("--dbname={}", target.url.libpq_url()),
                "-c".into(),
                PG_LIST_SQL.into(),
            ];
            match crate::source::child::run_capture(postgres::tool_command(&target, &psql, &args)) {
                Ok(out) => return Attempt::Listed(parse_pg_listing(&out)),
                Err(crate::source::child::CaptureError::Spawn(e)) => {
                    return Attempt::Failed(if docker.is_some() {
                        format!("docker could not be started ({e}).")
                    } else {
                        format!("psql could not be started ({e}).")
                    });
                }
                Err(crate::source::child::CaptureError::Failed(f)) => {
                    let e = postgres::classify_failure(&f, &target);
                    let err = &f.stderr_tail;
                    // Peer/ident refusals and a missing pg_hba.conf line are about the user too.
                    let denied = e.kind() == ErrorKind::Auth || err.contains("authentication failed") || err.contains("no pg_hba.conf entry");
                    last = if denied { Attempt::Denied(e.message().to_string()) } else { Attempt::Failed(e.message().to_string()) };
                    // No `postgres` database: try template1.
                    if f.stderr_tail.contains("database \"postgres\" does not exist") {
                        continue;
                    }
                    return last;
                }
            }
        }
        last
    }

    fn my(endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt {
        use crate::source::mysql::{self, MyTarget};
        let (docker, clients): (Option<String>, Vec<PathBuf>) = match endpoint {
            Endpoint::Docker { container } => (Some(container.clone()), vec![PathBuf::from("mariadb"), PathBuf::from("mysql")]),
            _ => match mysql::installed_tools(None).first() {
                Some(t) => (None, vec![t.client.clone()]),
                None => {
                    return Attempt::Failed(format!(
                        "The MySQL/MariaDB client was not found; {}.",
                        crate::source::locate::hint(crate::source::locate::Tool::Mysql, None)
                    ));
                }
            },
        };
        let url = match DbUrl::parse(&url_for(Engine::Mysql, endpoint, user, "mysql")) {
            Ok(u) => u,
            Err(e) => return Attempt::Failed(e.message().to_string()),
        };
        let target = MyTarget { url, password: password.map(str::to_string), docker_container: docker };
        let mut last = Attempt::Failed(String::new());
        for client in clients {
            match mysql::client_query(&target, &client, None, MY_LIST_SQL) {
                Ok(out) => return Attempt::Listed(parse_my_listing(&out)),
                Err(e) if e.kind() == ErrorKind::Auth => return Attempt::Denied(e.message().to_string()),
                Err(e) => last = Attempt::Failed(e.message().to_string()),
            }
        }
        last
    }
}

impl Probe for SystemProbe {
    fn env(&self, name: &str) -> Option<String> {
        // Set but empty counts for Nightjar's own variables (`NIGHTJAR_DISCOVER_PORTS=""`: no ports).
        std::env::var(name).ok().filter(|v| !v.is_empty() || name.starts_with("NIGHTJAR_"))
    }

    fn home(&self) -> Option<PathBuf> {
        directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
    }

    fn os_user(&self) -> Option<String> {
        ["USER", "LOGNAME", "USERNAME"].iter().find_map(|v| self.env(v))
    }

    fn read_file(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }

    fn list_dir(&self, dir: &Path) -> Vec<String> {
        crate::source::locate::list_dir(dir).into_iter().map(|n| n.to_string_lossy().into_owned()).collect()
    }

    fn is_socket(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            false
        }
    }

    fn tcp_open(&self, host: &str, port: u16) -> bool {
        use std::net::ToSocketAddrs as _;
        let Ok(addrs) = (host, port).to_socket_addrs() else { return false };
        addrs.take(2).any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(800)).is_ok())
    }

    fn docker_ps(&self) -> std::result::Result<Option<String>, String> {
        let mut c = std::process::Command::new(crate::source::locate::docker());
        c.args(["ps", "--format", "{{json .}}"]);
        match crate::source::child::run_capture(c) {
            Ok(out) => Ok(Some(out)),
            Err(crate::source::child::CaptureError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(crate::source::child::CaptureError::Spawn(e)) => {
                Err(format!("Docker could not be asked for its containers ({e}); containers were not looked at."))
            }
            Err(crate::source::child::CaptureError::Failed(f)) => {
                Err(format!("Docker did not list its containers ({}); start Docker to find databases in containers.", f.last_line()))
            }
        }
    }

    fn connect(&self, kind: Engine, endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt {
        match kind {
            Engine::Postgres => Self::pg(endpoint, user, password),
            Engine::Mysql => Self::my(endpoint, user, password),
        }
    }
}

#[cfg(test)]
mod tests;
