//! Discovery against real servers: the harness's PostgreSQL (socket and
//! TCP; trust and password) and MariaDB (socket), a `docker` stand-in on
//! PATH listing a container, a `.pgpass` in the test HOME; `nightjar
//! discover --json` and `--protect`, which makes the job and its first
//! backup. `NIGHTJAR_DISCOVER_SOCKETS`/`_PORTS`/`_DOCKER` and HOME keep
//! every test away from the servers the machine itself runs.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nightjar_core::config::{Config, ParseEnv};
use nightjar_core::discover::{self, Attempt, Endpoint, LoginHow, Probe, SystemProbe};
use nightjar_core::model::Engine;
use nightjar_core::secrets::{FileSecrets, SecretStore as _, job_account};
use nightjar_tests::backup::check_finished_backup;
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::{MariaDbServer, Nightjar, PgCluster, unique};
use serde_json::Value;

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An installation whose discovery sees only `sockets` and `ports`, with its
/// own HOME (no `.pgpass`, `.my.cnf`) and a OneDrive folder.
fn installation(sockets: &str, ports: &str) -> Nightjar {
    let nj = Nightjar::new();
    let home = nj.scratch().join("home");
    std::fs::create_dir_all(home.join("OneDrive")).unwrap();
    nj.with_env("HOME", &home)
        .with_env("OneDrive", home.join("OneDrive"))
        .with_env(discover::SOCKETS_ENV, sockets)
        .with_env(discover::PORTS_ENV, ports)
        .with_env(discover::DOCKER_ENV, "off")
}

fn home(nj: &Nightjar) -> PathBuf {
    nj.scratch().join("home")
}

fn discover_json(nj: &Nightjar) -> Value {
    nj.run(["discover", "--json"]).assert_success().json()
}

fn server<'a>(found: &'a Value, id: &str) -> &'a Value {
    found["servers"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no server {id} in {found:#}"))
}

fn database<'a>(server: &'a Value, name: &str) -> &'a Value {
    server["databases"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("no database {name} in {server:#}"))
}

fn names(server: &Value) -> Vec<String> {
    server["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn postgres_by_socket_and_tcp_is_one_server_and_protect_makes_the_job_and_a_backup() {
    let pg = PgCluster::start_with_tcp();
    let db = pg.fresh_db("shop");
    build_plain_table(&pg, &db, 500, 100, None);
    let nj = installation(&pg.sock_dir().display().to_string(), &format!("pg:{}", pg.port()));
    let found = discover_json(&nj);
    assert_eq!(found["servers"].as_array().unwrap().len(), 1, "{found:#}");
    let id = format!("postgres:local:{}", pg.port());
    let s = server(&found, &id);
    assert_eq!(s["kind"], "postgres");
    let found_by: Vec<&str> = s["foundBy"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(found_by, [format!("socket {}/.s.PGSQL.{}", pg.sock_dir().display(), pg.port()), format!("TCP port 127.0.0.1:{}", pg.port())]);
    assert_eq!(s["login"]["how"], "works", "{s:#}");
    assert_eq!(s["login"]["user"], "postgres", "peer/trust over the socket: {s:#}");
    assert_eq!(s["socket"], pg.sock_dir().display().to_string());
    assert_eq!(s["port"], pg.port());
    // The empty `postgres` database is not offered.
    assert!(!names(s).contains(&"postgres".to_string()), "{s:#}");
    let d = database(s, &db);
    assert!(d["sizeBytes"].as_u64().unwrap() > 50_000, "{d:#}");
    assert_eq!(d["protectedBy"], serde_json::json!([]));
    let p = &d["proposal"];
    let onedrive = home(&nj).join("OneDrive");
    assert_eq!(found["onedriveFolder"], onedrive.display().to_string());
    assert_eq!(p["destination"], onedrive.join("Nightjar").join(&db).display().to_string());
    assert_eq!((p["schedule"].as_str(), p["retention"]["keep_days"].as_u64(), p["retention"]["keep_last"].as_u64()), (Some("daily 00:00"), Some(7), Some(3)));
    assert_eq!(p["database"], pg.url(&db));
    assert_eq!(p["docker_container"], Value::Null);

    // The human output names the command that protects it.
    let text = nj.run(["discover"]).assert_success().stdout;
    assert!(text.contains(&format!("nightjar discover --protect {db}")), "{text}");
    assert!(text.contains("PostgreSQL on this computer"), "{text}");

    // Protect: the job is saved and its first backup is in the destination.
    let out = nj.run(["discover", "--protect", &db, "--json"]).assert_success().json();
    assert_eq!(out["job"]["name"], db.as_str());
    let dest = onedrive.join("Nightjar").join(&db);
    let file = check_finished_backup(&out["backup"], &dest, &db);
    assert!(file.is_file());
    let config = Config::load(&nj.config_path(), &ParseEnv::from_system()).unwrap();
    let job = config.job(&db).unwrap();
    assert_eq!((job.retention.keep_days, job.retention.keep_last), (7, 3));
    assert_eq!(job.schedule.as_ref().map(|s| s.as_str().to_string()).as_deref(), Some("daily 00:00"));
    // Now it shows as protected, and protecting it again is refused.
    let again = discover_json(&nj);
    assert_eq!(database(server(&again, &id), &db)["protectedBy"], serde_json::json!([db]));
    let e = nj.run(["discover", "--protect", &db]).assert_failure();
    assert!(e.error_line().contains("already backed up"), "{}", e.error_line());
}

#[test]
fn a_password_role_over_tcp_needs_a_password_then_pgpass_or_the_stored_one_logs_in() {
    let pg = PgCluster::start_with_tcp();
    let password = format!("Pw-{}", std::process::id());
    pg.create_role("app", &password);
    let db = unique("appdb");
    pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER app"));
    build_plain_table(&pg, &db, 100, 100, Some("app"));
    let none = tempfile::tempdir().unwrap();
    let nj = installation(&none.path().display().to_string(), &format!("pg:{}", pg.port())).with_env("PGUSER", "app");
    nj.write_config("[secrets]\nstore = \"file\"\n");
    let id = format!("postgres:local:{}", pg.port());

    // TCP only, scram for everyone: a password is needed, for the PGUSER.
    let found = discover_json(&nj);
    let s = server(&found, &id);
    assert_eq!((s["login"]["how"].as_str(), s["login"]["user"].as_str()), (Some("needs-password"), Some("app")), "{s:#}");
    assert_eq!(s["databases"], serde_json::json!([]));
    let text = nj.run(["discover"]).assert_success().stdout;
    let url = format!("postgres://app@127.0.0.1:{}/postgres", pg.port());
    assert!(text.contains(&format!("nightjar password set --db '{url}'")), "{text}");

    // A .pgpass line naming the port: found by it, and libpq logs in with it.
    let pgpass = home(&nj).join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{}:*:app:{password}\n", pg.port())).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let found = discover_json(&nj);
    let s = server(&found, &id);
    assert_eq!(s["login"]["how"], "works", "{s:#}");
    assert!(s["foundBy"].as_array().unwrap().iter().any(|f| f == "~/.pgpass"), "{s:#}");
    assert_eq!(names(s), std::slice::from_ref(&db));
    std::fs::remove_file(&pgpass).unwrap();

    // The stored password (as `nightjar password set --db` keeps it) logs in too.
    let _ = nj.cmd(["password", "set", "--db", &url]).stdin(format!("{password}\n")).run().assert_success();
    let found = discover_json(&nj);
    let s = server(&found, &id);
    assert_eq!((s["login"]["how"].as_str(), s["login"]["user"].as_str()), (Some("works"), Some("app")), "{s:#}");
    let p = &database(s, &db)["proposal"];
    assert_eq!(p["database"], format!("postgres://app@127.0.0.1:{}/{db}", pg.port()));
    // Protect copies the password to the job, and the first backup logs in with it.
    let out = nj.run(["discover", "--protect", &db, "--json"]).assert_success().json();
    let dest = home(&nj).join("OneDrive").join("Nightjar").join(&db);
    check_finished_backup(&out["backup"], &dest, &db);
    let secrets = FileSecrets::new(nj.scratch().join("credentials.toml"));
    assert_eq!(secrets.get(&job_account(&db)).unwrap().as_deref(), Some(password.as_str()));
    assert!(!std::fs::read_to_string(nj.config_path()).unwrap().contains(&password), "no password in the config file");
}

/// [`SystemProbe`] with its own environment (tests must not change the
/// process's) and HOME.
struct Scoped {
    env: BTreeMap<String, String>,
    home: PathBuf,
}

impl Probe for Scoped {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }
    fn os_user(&self) -> Option<String> {
        SystemProbe.os_user()
    }
    fn read_file(&self, path: &Path) -> Option<String> {
        SystemProbe.read_file(path)
    }
    fn list_dir(&self, dir: &Path) -> Vec<String> {
        SystemProbe.list_dir(dir)
    }
    fn is_socket(&self, path: &Path) -> bool {
        SystemProbe.is_socket(path)
    }
    fn canonical(&self, path: &Path) -> PathBuf {
        SystemProbe.canonical(path)
    }
    fn tcp_open(&self, host: &str, port: u16) -> bool {
        SystemProbe.tcp_open(host, port)
    }
    fn docker_ps(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn connect(&self, kind: Engine, endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt {
        SystemProbe.connect(kind, endpoint, user, password)
    }
}

#[test]
fn discover_login_checks_the_password_stores_it_and_protect_saves_the_job() {
    let pg = PgCluster::start_with_tcp();
    let password = format!("Login-{}", std::process::id());
    pg.create_role("owner", &password);
    let db = unique("logindb");
    pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER owner"));
    let scratch = tempfile::tempdir().unwrap();
    let none = scratch.path().join("nosockets");
    std::fs::create_dir(&none).unwrap();
    let probe = Scoped {
        env: BTreeMap::from([(discover::SOCKETS_ENV.to_string(), none.display().to_string()), (discover::PORTS_ENV.to_string(), format!("pg:{}", pg.port()))]),
        home: scratch.path().to_path_buf(),
    };
    let secrets = FileSecrets::new(scratch.path().join("credentials.toml"));
    let config_path = scratch.path().join("config.toml");
    let config = Config::empty(Some(config_path.clone()));
    let defaults = discover::Defaults { onedrive_folders: vec![], fallback_parent: Some(scratch.path().to_path_buf()), timezone: "UTC".into() };
    let ctx = discover::Context { probe: &probe, secrets: &secrets, config: &config, defaults: &defaults };
    let found = discover::discover(&ctx);
    let s = found.servers.iter().find(|s| s.id == format!("postgres:local:{}", pg.port())).expect("the TCP server");
    assert_eq!(s.login.how, LoginHow::NeedsPassword, "{s:?}");
    let e = discover::discover_login(&ctx, s, "owner", "wrong").unwrap_err();
    assert!(e.message().contains("did not accept the password"), "{e}");
    assert!(!scratch.path().join("credentials.toml").exists(), "a refused password is not stored");
    let s = discover::discover_login(&ctx, s, "owner", &password).unwrap();
    assert_eq!(s.login.how, LoginHow::Works);
    assert!(s.databases.iter().any(|d| d.name == db), "{s:?}");
    let account = format!("db:postgres://owner@127.0.0.1:{}", pg.port());
    assert_eq!(secrets.get(&account).unwrap().as_deref(), Some(password.as_str()));
    let form = discover::protect(&ctx, &config_path, &ParseEnv::from_system(), &s, &db).unwrap();
    assert_eq!(form.destination, scratch.path().join("Nightjar Backups").join(&form.name).display().to_string());
    assert_eq!(secrets.get(&job_account(&form.name)).unwrap().as_deref(), Some(password.as_str()));
    let saved = Config::load(&config_path, &ParseEnv::from_system()).unwrap();
    assert_eq!(saved.job(&form.name).unwrap().db.user.as_deref(), Some("owner"));
}

#[test]
fn mariadb_by_its_socket() {
    let my = MariaDbServer::shared();
    let db = my.fresh_db("mshop");
    my.sql(&db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    let nj = installation(&my.socket().display().to_string(), "");
    let found = discover_json(&nj);
    let id = format!("mysql:socket:{}", my.socket().display());
    let s = server(&found, &id);
    assert_eq!((s["kind"].as_str(), s["login"]["how"].as_str()), (Some("mysql"), Some("works")), "{s:#}");
    assert_eq!(s["login"]["user"], "root");
    let n = names(s);
    assert!(n.contains(&db), "{n:?}");
    for system in ["mysql", "information_schema", "performance_schema", "sys"] {
        assert!(!n.iter().any(|x| x == system), "{n:?}");
    }
    let d = database(s, &db);
    assert!(d["sizeBytes"].as_u64().unwrap() > 0, "{d:#}");
    assert_eq!(d["proposal"]["database"], format!("mysql://root@localhost/{db}?socket={}", my.socket().display()));
    let out = nj.run(["discover", "--protect", &db, "--server", &id, "--json"]).assert_success().json();
    let dest = home(&nj).join("OneDrive").join("Nightjar").join(&db);
    check_finished_backup(&out["backup"], &dest, &db);
}

/// `docker ps` lists one postgres container; `docker exec` runs the tool on
/// the host against the harness cluster (as the container's own server).
const DOCKER_STANDIN: &str = r#"#!/bin/bash
printf '%s\x1f' "$@" >> "$NJ_DOCKER_LOG"; printf '\n' >> "$NJ_DOCKER_LOG"
fail() { echo "docker stand-in: $*" >&2; exit 125; }
if [ "$1" = ps ]; then
  echo '{"Command":"\"docker-entrypoint.s…\"","ID":"0123abcd","Image":"postgres:16","Names":"tg-app-postgres","Ports":"5432/tcp","State":"running"}'
  echo '{"Command":"\"redis\"","ID":"4567","Image":"redis:7","Names":"cache","Ports":"6379/tcp","State":"running"}'
  exit 0
fi
[ "$1" = exec ] || fail "expected 'docker exec' or 'docker ps', got: $*"; shift
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--interactive) shift ;;
    -e|--env) case "$2" in *=*) envs+=("$2") ;; *) if [ -n "${!2+x}" ]; then envs+=("$2=${!2}"); fi ;; esac; shift 2 ;;
    -*) fail "unexpected option $1" ;;
    *) break ;;
  esac
done
container=$1; tool=$2; shift 2
[ "$container" = tg-app-postgres ] || { echo "Error response from daemon: No such container: $container" >&2; exit 1; }
case "$tool" in pg_dump|psql|pg_restore) ;; *) echo "OCI runtime exec failed: exec: \"$tool\": executable file not found in \$PATH" >&2; exit 126 ;; esac
exec env -i PATH="$NJ_DOCKER_PG_BIN:/usr/bin:/bin" PGHOST="$NJ_DOCKER_PGHOST" "${envs[@]}" "$NJ_DOCKER_PG_BIN/$tool" "$@"
"#;

#[test]
fn a_docker_container_becomes_a_server_reached_with_docker_exec() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("tgapp");
    build_plain_table(pg, &db, 200, 100, None);
    let none = tempfile::tempdir().unwrap();
    let nj = installation(&none.path().display().to_string(), "");
    let bin = nj.scratch().join("docker-bin");
    std::fs::create_dir(&bin).unwrap();
    write_script(&bin.join("docker"), DOCKER_STANDIN);
    let log = nj.scratch().join("docker.log");
    let nj = nj
        .with_env(discover::DOCKER_ENV, "on")
        .with_env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .with_env("NJ_DOCKER_LOG", &log)
        .with_env("NJ_DOCKER_PG_BIN", pg.bin())
        .with_env("NJ_DOCKER_PGHOST", pg.sock_dir());
    let found = discover_json(&nj);
    assert_eq!(found["servers"].as_array().unwrap().len(), 1, "redis is not a database server: {found:#}");
    let s = server(&found, "postgres:docker:tg-app-postgres");
    assert_eq!(s["dockerContainer"], "tg-app-postgres");
    assert_eq!(s["foundBy"], serde_json::json!(["Docker container tg-app-postgres (postgres:16)"]));
    assert_eq!((s["login"]["how"].as_str(), s["login"]["user"].as_str()), (Some("works"), Some("postgres")), "{s:#}");
    let p = &database(s, &db)["proposal"];
    assert_eq!((p["database"].as_str(), p["docker_container"].as_str()), (Some(format!("postgres://postgres@/{db}").as_str()), Some("tg-app-postgres")));
    let out = nj.run(["discover", "--protect", &db, "--json"]).assert_success().json();
    assert_eq!(out["job"]["docker_container"], "tg-app-postgres");
    let dest = home(&nj).join("OneDrive").join("Nightjar").join(&db);
    check_finished_backup(&out["backup"], &dest, &db);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|l| l.starts_with("exec\x1f") && l.contains("\x1fpg_dump\x1f")), "the dump ran through docker exec: {calls}");
}
