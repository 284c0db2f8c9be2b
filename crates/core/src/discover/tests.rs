use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::secrets::MemorySecrets;

/// A machine in memory: files, sockets, open ports, `docker ps`, and
/// servers that answer per (engine, endpoint key, user, password).
#[derive(Default)]
struct Fake {
    env: BTreeMap<String, String>,
    files: BTreeMap<PathBuf, String>,
    sockets: BTreeSet<PathBuf>,
    ports: BTreeSet<u16>,
    docker: Option<std::result::Result<Option<String>, String>>,
    /// key → (user → required password or "" for none), databases.
    servers: BTreeMap<String, (BTreeMap<String, String>, Vec<ListedDb>)>,
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn socket(mut self, p: &str) -> Self {
        self.sockets.insert(PathBuf::from(p));
        self
    }
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }
    fn file(mut self, p: &str, text: &str) -> Self {
        self.files.insert(PathBuf::from(p), text.into());
        self
    }
    fn server(mut self, key: &str, users: &[(&str, &str)], dbs: &[(&str, u64, Option<u64>)]) -> Self {
        self.servers.insert(
            key.into(),
            (
                users.iter().map(|(u, p)| ((*u).to_string(), (*p).to_string())).collect(),
                dbs.iter().map(|(n, s, t)| ListedDb { name: (*n).into(), size: *s, user_tables: *t }).collect(),
            ),
        );
        self
    }
}

impl Probe for Fake {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/home/me"))
    }
    fn os_user(&self) -> Option<String> {
        Some("me".into())
    }
    fn read_file(&self, path: &Path) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn list_dir(&self, dir: &Path) -> Vec<String> {
        self.sockets
            .iter()
            .chain(self.files.keys())
            .filter(|p| p.parent() == Some(dir))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }
    fn is_socket(&self, path: &Path) -> bool {
        self.sockets.contains(path)
    }
    fn tcp_open(&self, host: &str, port: u16) -> bool {
        is_local(host) && self.ports.contains(&port)
    }
    fn docker_ps(&self) -> std::result::Result<Option<String>, String> {
        self.docker.clone().unwrap_or(Ok(None))
    }
    fn connect(&self, kind: Engine, endpoint: &Endpoint, user: Option<&str>, password: Option<&str>) -> Attempt {
        let user = user.unwrap_or("me");
        self.calls.lock().unwrap().push(format!("{} {user}", key(kind, endpoint)));
        let k = key(kind, endpoint);
        let Some((users, dbs)) = self.servers.get(&k) else { return Attempt::Failed(format!("Cannot connect to {k}.")) };
        match users.get(user) {
            Some(pw) if pw.is_empty() || Some(pw.as_str()) == password => {
                Attempt::Listed(Listing { user: Some(user.to_string()), databases: dbs.clone(), port: None })
            }
            _ => Attempt::Denied(format!("password authentication failed for user \"{user}\"")),
        }
    }
}

fn defaults(onedrive: bool) -> Defaults {
    Defaults {
        onedrive_folders: if onedrive { vec![PathBuf::from("/home/me/OneDrive")] } else { Vec::new() },
        fallback_parent: Some(PathBuf::from("/home/me/Documents")),
        timezone: "Europe/Kyiv".into(),
    }
}

fn env() -> ParseEnv {
    ParseEnv { home: Some(PathBuf::from("/home/me")), system_tz: chrono_tz::Tz::UTC }
}

fn run(fake: &Fake, config: &Config, secrets: &dyn SecretStore, onedrive: bool) -> Discovery {
    let d = defaults(onedrive);
    discover(&Context { probe: fake, secrets, config, defaults: &d })
}

#[test]
fn the_same_server_found_three_ways_is_one_server() {
    let mut fake = Fake::default()
        .socket("/var/run/postgresql/.s.PGSQL.5432")
        .file("/var/run/postgresql/.s.PGSQL.5432.lock", "")
        .file("/home/me/.pgpass", "# mine\nlocalhost:5432:*:app:secret\n*:*:*:other:x\ndb.example:6543:shop:shop:pw\n")
        .server("postgres:local:5432", &[("postgres", ""), ("app", "")], &[("app", 1000, None), ("postgres", 10, Some(0)), ("template1", 1, None)]);
    fake.ports.insert(5432);
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), true);
    let ids: Vec<&str> = d.servers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["postgres:db.example:6543", "postgres:local:5432"]);
    let local = &d.servers[1];
    assert_eq!(local.found_by, ["socket /var/run/postgresql/.s.PGSQL.5432", "TCP port 127.0.0.1:5432", "~/.pgpass"]);
    assert_eq!(local.socket.as_deref(), Some("/var/run/postgresql"));
    assert_eq!((local.host.as_deref(), local.port), (Some("127.0.0.1"), Some(5432)));
    assert_eq!(local.label, "PostgreSQL on this computer, port 5432");
    // The OS user is tried first over the socket, then the named users.
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls[..2], ["postgres:local:5432 me".to_string(), "postgres:local:5432 app".to_string()]);
    assert_eq!(local.login, Login { how: LoginHow::Works, user: Some("app".into()), message: "Nightjar logs in as \"app\".".into() });
    // postgres is empty and templates are skipped.
    assert_eq!(local.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["app"]);
    let remote = &d.servers[0];
    assert_eq!(remote.login.how, LoginHow::Unreachable);
    assert!(remote.login.message.contains("db.example:6543"), "{:?}", remote.login);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    assert_eq!(d.onedrive_folder.as_deref(), Some("/home/me/OneDrive"));
    assert_eq!(d.destination_hint, "/home/me/OneDrive/Nightjar");
}

#[test]
fn the_proposal_is_daily_at_midnight_keeps_7_days_and_3_and_goes_to_onedrive() {
    let fake =
        Fake::default().socket("/run/postgresql/.s.PGSQL.5433").server("postgres:local:5433", &[("me", "")], &[("Shop DB", 5, None), ("postgres", 9, Some(2))]);
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), true);
    let s = &d.servers[0];
    assert_eq!(s.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["Shop DB", "postgres"], "postgres has tables of its own: offered");
    let p = &s.databases[0].proposal;
    assert_eq!(p.name, "shop-db");
    assert_eq!(p.database, "postgres://me@/Shop%20DB?host=/run/postgresql&port=5433");
    let url = DbUrl::parse(&p.database).unwrap();
    assert_eq!((url.host.as_deref(), url.database.as_str(), url.params.get("port").map(String::as_str)), (Some("/run/postgresql"), "Shop DB", Some("5433")));
    assert_eq!(p.destination, "/home/me/OneDrive/Nightjar/shop-db");
    assert_eq!(p.schedule.as_deref(), Some("daily 00:00"));
    assert_eq!(p.timezone.as_deref(), Some("Europe/Kyiv"));
    assert_eq!((p.retention.keep_days, p.retention.keep_last), (7, 3));
    assert_eq!(p.docker_container, None);
    // It is a valid job as the config file would hold it.
    let text = config_edit::upsert_job("", None, p).unwrap();
    let c = Config::parse(&text, None, &env()).unwrap();
    assert_eq!(c.jobs[0].db.database, "Shop DB");
    // Without OneDrive: a folder in the documents.
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), false);
    assert_eq!(d.servers[0].databases[0].proposal.destination, "/home/me/Documents/Nightjar Backups/shop-db");
    assert!(d.notes[0].contains("No OneDrive-synced folder"), "{:?}", d.notes);
}

#[test]
fn names_are_unique_against_jobs_and_other_proposals_and_protected_by_is_set() {
    let config_text = "[[job]]\nname = \"app\"\ndatabase = \"postgres://me@/app?host=/tmp\"\ndestination = \"/b\"\n";
    let config = Config::parse(config_text, None, &env()).unwrap();
    let fake = Fake::default()
        .env(SOCKETS_ENV, "/tmp:/srv/my")
        .env(PORTS_ENV, "pg:6000,bogus,mysql:x")
        .socket("/tmp/.s.PGSQL.5432")
        .socket("/srv/my/mysqld.sock")
        .socket("/var/run/postgresql/.s.PGSQL.5432")
        .server("postgres:local:5432", &[("me", "")], &[("app", 1, None), ("billing", 2, None)])
        .server("mysql:socket:/srv/my/mysqld.sock", &[("me", "")], &[("app", 3, None), ("mysql", 1, None), ("sys", 1, None), ("information_schema", 0, None)]);
    let d = run(&fake, &config, &MemorySecrets::default(), true);
    assert_eq!(d.servers.len(), 2, "the default folders are not looked at: {:?}", d.servers);
    let pg = &d.servers[0];
    assert_eq!(pg.databases[0].protected_by, ["app"]);
    assert_eq!(pg.databases[0].proposal.name, "app-2");
    assert_eq!(pg.databases[1].protected_by, Vec::<String>::new());
    let my = &d.servers[1];
    assert_eq!(my.kind, Engine::Mysql);
    assert_eq!(my.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["app"]);
    assert_eq!(my.databases[0].proposal.name, "app-3");
    assert_eq!(my.databases[0].proposal.database, "mysql://me@localhost/app?socket=/srv/my/mysqld.sock");
    assert_eq!(port_list(&fake), [(Engine::Postgres, 6000)]);
}

#[test]
fn job_names() {
    let taken: BTreeSet<String> = ["shop".to_string(), "shop-2".to_string()].into();
    assert_eq!(job_name("Shop", &taken), "shop-3");
    assert_eq!(job_name("магазин", &taken), "database");
    assert_eq!(job_name("-a b.c-", &BTreeSet::new()), "a-b.c");
    assert!(crate::names::validate_job_name(&job_name(&"x".repeat(100), &BTreeSet::new())).is_ok());
}

#[test]
fn a_password_is_needed_then_given_stored_and_copied_to_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, "# mine\n").unwrap();
    let fake = Fake::default().env(SOCKETS_ENV, "/none").env(PORTS_ENV, "pg:5432").env("PGUSER", "app").server(
        "postgres:local:5432",
        &[("app", "s3cret")],
        &[("appdb", 42, None)],
    );
    let mut fake = fake;
    fake.ports.insert(5432);
    let secrets = MemorySecrets::default();
    let config = Config::empty(None);
    let d = run(&fake, &config, &secrets, true);
    let s = &d.servers[0];
    assert_eq!(s.login.how, LoginHow::NeedsPassword);
    assert_eq!(s.login.user.as_deref(), Some("app"));
    assert!(s.databases.is_empty());
    let defaults = defaults(true);
    let ctx = Context { probe: &fake, secrets: &secrets, config: &config, defaults: &defaults };
    // A wrong password is refused and not kept.
    let e = discover_login(&ctx, s, "app", "wrong").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    let account = password_account(Engine::Postgres, &Endpoint::Tcp { host: "127.0.0.1".into(), port: 5432 }, "app");
    assert_eq!(account, "db:postgres://app@127.0.0.1:5432");
    assert_eq!(secrets.get(&account).unwrap(), None);
    let s = discover_login(&ctx, s, "app", "s3cret").unwrap();
    assert_eq!(s.login.how, LoginHow::Works);
    assert_eq!(secrets.get(&account).unwrap().as_deref(), Some("s3cret"));
    assert_eq!(s.databases[0].proposal.database, "postgres://app@127.0.0.1:5432/appdb");
    // The next discovery uses the stored password.
    let again = run(&fake, &config, &secrets, true);
    assert_eq!(again.servers[0].login.how, LoginHow::Works);
    // Protect: the job is saved, the password copied to it.
    let form = protect(&ctx, &config_path, &env(), &s, "appdb").unwrap();
    assert_eq!(form.name, "appdb");
    assert_eq!(secrets.get(&job_account("appdb")).unwrap().as_deref(), Some("s3cret"));
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.contains("# mine") && text.contains("keep_last = 3"), "{text}");
    let c = Config::load(&config_path, &env()).unwrap();
    assert_eq!(c.jobs[0].retention.keep_last, 3);
    // Protecting it again finds the name taken and picks another one.
    let form = protect(&ctx, &config_path, &env(), &s, "appdb").unwrap();
    assert_eq!(form.name, "appdb-2");
    assert!(protect(&ctx, &config_path, &env(), &s, "nope").is_err());
}

#[test]
fn docker_containers_become_servers_reached_with_docker_exec() {
    let ps = concat!(
        r#"{"Names":"tg-app-postgres","Image":"postgres:16","Ports":"0.0.0.0:5433->5432/tcp"}"#,
        "\n",
        r#"{"Names":"cache","Image":"redis:7","Ports":""}"#,
        "\n",
        r#"{"Names":"shopdb","Image":"docker.io/library/mariadb:11","Ports":""}"#,
        "\n"
    );
    let mut fake = Fake::default()
        .env(SOCKETS_ENV, "/none")
        .env(PORTS_ENV, "")
        .server("postgres:docker:tg-app-postgres", &[("postgres", "")], &[("tgapp", 7, None)])
        .server("mysql:docker:shopdb", &[("root", "pw")], &[]);
    fake.docker = Some(Ok(Some(ps.to_string())));
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), true);
    assert_eq!(d.servers.len(), 2);
    let pg = &d.servers[0];
    assert_eq!(pg.docker_container.as_deref(), Some("tg-app-postgres"));
    assert_eq!(pg.found_by, ["Docker container tg-app-postgres (postgres:16)"]);
    assert_eq!(pg.login.user.as_deref(), Some("postgres"));
    let p = &pg.databases[0].proposal;
    assert_eq!((p.database.as_str(), p.docker_container.as_deref()), ("postgres://postgres@/tgapp", Some("tg-app-postgres")));
    let my = &d.servers[1];
    assert_eq!((my.kind, my.login.how, my.login.user.as_deref()), (Engine::Mysql, LoginHow::NeedsPassword, Some("root")));
    assert_eq!(password_account(Engine::Mysql, &Endpoint::Docker { container: "shopdb".into() }, "root"), "db:docker/shopdb/mysql/root");
    // Docker switched off, or failing: a note, no servers.
    fake.docker = Some(Err("Docker did not list its containers (daemon down); start Docker to find databases in containers.".into()));
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), true);
    assert!(d.servers.is_empty());
    assert!(d.notes.iter().any(|n| n.starts_with("Docker did not list")), "{:?}", d.notes);
    let fake = fake.env(DOCKER_ENV, "off");
    let d = run(&fake, &Config::empty(None), &MemorySecrets::default(), true);
    assert!(!d.notes.iter().any(|n| n.contains("Docker")), "{:?}", d.notes);
}

#[test]
fn images_files_and_listings_parse() {
    for (image, kind) in [
        ("postgres:16", Some(Engine::Postgres)),
        ("ghcr.io/x/postgres@sha256:ab", Some(Engine::Postgres)),
        ("bitnami/postgresql:15", Some(Engine::Postgres)),
        ("mysql", Some(Engine::Mysql)),
        ("registry:5000/mariadb:10.11", Some(Engine::Mysql)),
        ("redis:7", None),
        ("postgres-exporter:1", None),
    ] {
        assert_eq!(image_engine(image), kind, "{image}");
    }
    assert_eq!(
        parse_pgpass("h\\:x:5432:db:u:p\n*:*:*:w:p\nbad\nh:notaport:*:u:p\n"),
        [(Some("h:x".into()), Some(5432), Some("u".into())), (None, None, Some("w".into()))]
    );
    let fake = Fake::default()
        .env(SOCKETS_ENV, "/none")
        .env(PORTS_ENV, "")
        .env("PGSERVICE", "prod")
        .env("PGSYSCONFDIR", "/etc/pg")
        .file("/home/me/.pg_service.conf", "[prod]\nhost=db.example\nport=6432\nuser=deploy\ndbname=app\n")
        .file("/etc/pg/pg_service.conf", "# system\n[local]\nhost=/var/run/postgresql\n")
        .file("/home/me/.my.cnf", "[client]\nuser = shop\npassword = x\nsocket = /var/run/mysqld/mysqld.sock\n[mysqldump]\nquick\n");
    let mut notes = Vec::new();
    let (c, _, my_users) = candidates(&fake, &mut notes);
    let shown: Vec<(String, String)> = c.iter().map(|c| (key(c.kind, &c.endpoint), c.found_by.clone())).collect();
    assert_eq!(
        shown,
        [
            ("postgres:db.example:6432".to_string(), "service [prod] in ~/.pg_service.conf, PGSERVICE=prod".to_string()),
            ("postgres:local:5432".to_string(), "service [local] in /etc/pg/pg_service.conf".to_string()),
            ("mysql:socket:/var/run/mysqld/mysqld.sock".to_string(), "~/.my.cnf [client]".to_string()),
        ]
    );
    assert_eq!(c[0].users, ["deploy"]);
    assert_eq!(my_users, ["shop"]);
    let l = parse_pg_listing("postgres\x1fapp\x1f8000\x1f-1\npostgres\x1fpostgres\x1f7000\x1f3\n");
    assert_eq!(l.user.as_deref(), Some("postgres"));
    assert_eq!(l.databases[1], ListedDb { name: "postgres".into(), size: 7000, user_tables: Some(3) });
    assert_eq!(l.databases[0].user_tables, None);
    let m = parse_my_listing("root@localhost\tshop\t16384\t3306\t0\nroot@localhost\tmysql\t100\t3306\t0\n");
    assert_eq!((m.user.as_deref(), m.port, m.databases.len()), (Some("root"), Some(3306), 2));
    assert_eq!(parse_my_listing("u@%\ta\t1\t3306\t1\n").port, None, "networking off: no port");
}

#[test]
fn a_mysql_socket_and_its_tcp_port_are_one_server() {
    struct Ported(Fake);
    impl Probe for Ported {
        fn env(&self, n: &str) -> Option<String> {
            Probe::env(&self.0, n)
        }
        fn home(&self) -> Option<PathBuf> {
            self.0.home()
        }
        fn os_user(&self) -> Option<String> {
            self.0.os_user()
        }
        fn read_file(&self, p: &Path) -> Option<String> {
            self.0.read_file(p)
        }
        fn list_dir(&self, d: &Path) -> Vec<String> {
            self.0.list_dir(d)
        }
        fn is_socket(&self, p: &Path) -> bool {
            self.0.is_socket(p)
        }
        fn tcp_open(&self, h: &str, p: u16) -> bool {
            self.0.tcp_open(h, p)
        }
        fn docker_ps(&self) -> std::result::Result<Option<String>, String> {
            self.0.docker_ps()
        }
        fn connect(&self, k: Engine, e: &Endpoint, u: Option<&str>, p: Option<&str>) -> Attempt {
            match self.0.connect(k, e, u, p) {
                Attempt::Listed(mut l) => {
                    l.port = Some(3306);
                    Attempt::Listed(l)
                }
                other => other,
            }
        }
    }
    let mut fake = Fake::default().env(SOCKETS_ENV, "/run/mysqld/mysqld.sock").env(PORTS_ENV, "mysql:3306").socket("/run/mysqld/mysqld.sock").server(
        "mysql:socket:/run/mysqld/mysqld.sock",
        &[("me", "")],
        &[("shop", 1, None)],
    );
    fake.ports.insert(3306);
    let probe = Ported(fake);
    let d = defaults(true);
    let found = discover(&Context { probe: &probe, secrets: &MemorySecrets::default(), config: &Config::empty(None), defaults: &d });
    assert_eq!(found.servers.len(), 1, "{:?}", found.servers);
    assert_eq!(found.servers[0].found_by, ["socket /run/mysqld/mysqld.sock", "TCP port 127.0.0.1:3306"]);
    assert_eq!(found.servers[0].port, Some(3306));
}

#[test]
fn urls_parse_back() {
    for (kind, e, user) in [
        (Engine::Postgres, Endpoint::Socket { path: "/tmp/my socks".into(), port: Some(5432) }, None),
        (Engine::Postgres, Endpoint::Tcp { host: "::1".into(), port: 5432 }, Some("a@b")),
        (Engine::Postgres, Endpoint::Docker { container: "c".into() }, None),
        (Engine::Mysql, Endpoint::Tcp { host: "127.0.0.1".into(), port: 3307 }, Some("root")),
        (Engine::Mysql, Endpoint::Docker { container: "c".into() }, None),
    ] {
        let text = url_for(kind, &e, user, "my db");
        let u = DbUrl::parse(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!((u.engine, u.user.as_deref(), u.database.as_str()), (kind, user, "my db"), "{text}");
    }
    let u = DbUrl::parse(&url_for(Engine::Postgres, &Endpoint::Socket { path: "/tmp/my socks".into(), port: Some(5432) }, None, "d")).unwrap();
    assert_eq!(u.host.as_deref(), Some("/tmp/my socks"));
}
