//! The real OS keyring: a password stored with `nightjar password set --job`
//! lives in GNOME Keyring's Secret Service (where the desktop app and the
//! `keyring` crate's `sync-secret-service` store look), `nightjar backup
//! --job` uses it to log in as a scram role, and it is written nowhere else:
//! not in the config, the history database, the logs or any other file of the
//! data dir, not in the backup's manifest, not on stdout or stderr.
//!
//! Hermetic: each test starts its own session bus (`dbus-daemon` with a
//! private config: a socket in a temp dir, no service activation, so nothing
//! else is ever launched on it) and its own `gnome-keyring-daemon
//! --foreground --unlock --components=secrets`, whose login keyring (password
//! read from stdin) lives under a temp `XDG_DATA_HOME`. No desktop session is
//! used or touched. Both daemons are killed when the test ends, however it
//! ends, and the test checks that no process of its own is left behind.
//!
//! Needs `dbus-daemon`, `dbus-send` and `gnome-keyring-daemon` (apt `dbus
//! gnome-keyring`; `scripts/install-deps.sh` installs them).

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nightjar_tests::backup::{assert_mentions, check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::{backups, partials};
use nightjar_tests::nightjar::NjCmd;
use nightjar_tests::procs;
use nightjar_tests::wait::{secs, until};
use nightjar_tests::{unique, Nightjar, NjOutput, PgCluster};

/// The keyring password gnome-keyring creates (and unlocks) the login keyring with.
const KEYRING_UNLOCK_PASSWORD: &str = "test";

/// A private session bus with GNOME Keyring's Secret Service on it.
struct SecretService {
    dir: tempfile::TempDir,
    /// `unix:path=<dir>/bus`: the bus address, and the marker found in the
    /// environment of every process this test starts on the bus.
    address: String,
    bus: Option<Child>,
    keyring: Option<Child>,
}

fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

fn tool_missing(tool: &str, e: &std::io::Error) -> ! {
    panic!("{tool} could not be started ({e}); install the `dbus` and `gnome-keyring` packages (scripts/install-deps.sh does)")
}

impl SecretService {
    fn start() -> SecretService {
        let dir = tempfile::Builder::new().prefix("nj-keyring-").tempdir_in("/tmp").expect("temp dir for the keyring");
        for sub in ["run", "data", "config", "cache", "home"] {
            std::fs::create_dir(dir.path().join(sub)).expect("keyring sub dir");
        }
        // gnome-keyring wants a private runtime dir.
        std::fs::set_permissions(dir.path().join("run"), std::fs::Permissions::from_mode(0o700)).expect("chmod run dir");
        let socket = dir.path().join("bus");
        let conf = dir.path().join("bus.conf");
        std::fs::write(&conf, bus_config(&socket)).expect("write the bus config");
        let address = format!("unix:path={}", socket.display());
        let mut ss = SecretService { dir, address, bus: None, keyring: None };

        // 1. The bus, in the foreground (our child): prints its address once ready.
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address=1"])
            .env("DBUS_SESSION_BUS_ADDRESS", &ss.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(ss.log_file("dbus-daemon.log"))
            .spawn()
            .unwrap_or_else(|e| tool_missing("dbus-daemon", &e));
        let stdout = bus.stdout.take().expect("piped");
        ss.bus = Some(bus);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            let _ = r.read_to_end(&mut Vec::new());
        });
        let printed = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        assert!(
            printed.starts_with(&ss.address),
            "dbus-daemon did not print its address {} within 30 s (printed {printed:?}); its log:\n{}",
            ss.address,
            ss.log("dbus-daemon.log")
        );

        // 2. gnome-keyring's Secret Service on it, login keyring created and
        //    unlocked with the password it reads from stdin.
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_remove("GNOME_KEYRING_CONTROL")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", ss.dir.path().join("home"))
            .envs(ss.env())
            .env("XDG_CONFIG_HOME", ss.dir.path().join("config"))
            .env("XDG_CACHE_HOME", ss.dir.path().join("cache"))
            .stdin(Stdio::piped())
            .stdout(ss.log_file("gnome-keyring.out"))
            .stderr(ss.log_file("gnome-keyring.log"))
            .spawn()
            .unwrap_or_else(|e| tool_missing("gnome-keyring-daemon", &e));
        let mut stdin = keyring.stdin.take().expect("piped");
        ss.keyring = Some(keyring);
        stdin.write_all(KEYRING_UNLOCK_PASSWORD.as_bytes()).expect("give gnome-keyring its password");
        drop(stdin);

        // 3. Ready when the default collection exists and is unlocked (so no
        //    prompt can ever be needed).
        until("gnome-keyring's Secret Service with an unlocked default collection", secs(30), || {
            if let Some(Ok(Some(status))) = ss.keyring.as_mut().map(Child::try_wait) {
                panic!("gnome-keyring-daemon exited early ({status}); its log:\n{}", ss.log("gnome-keyring.log"));
            }
            let locked = ss.dbus_send(&[
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets/aliases/default",
                "org.freedesktop.DBus.Properties.Get",
                "string:org.freedesktop.Secret.Collection",
                "string:Locked",
            ])?;
            locked.contains("boolean false").then_some(())
        });
        ss
    }

    fn log_file(&self, name: &str) -> File {
        File::create(self.dir.path().join(name)).expect("daemon log file")
    }

    fn log(&self, name: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join(name)).unwrap_or_default()).into_owned()
    }

    /// What every client of this Secret Service needs in its environment.
    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(&self.address)),
            ("XDG_RUNTIME_DIR", self.dir.path().join("run")),
            ("XDG_DATA_HOME", self.dir.path().join("data")),
        ]
    }

    /// `cmd` with the keyring switched on (the harness switches it off) and
    /// talking to this Secret Service.
    fn on(&self, mut cmd: NjCmd) -> NjCmd {
        cmd = cmd.env_remove("NIGHTJAR_KEYRING");
        for (k, v) in self.env() {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    /// `dbus-send --print-reply` on this bus; stdout, or `None` when it fails.
    fn dbus_send(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .args(["--print-reply", "--reply-timeout=10000"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| tool_missing("dbus-send", &e));
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The Secret Service items (unlocked, locked) with the attributes the
    /// `keyring` crate gives `Entry::new("nightjar", "job:<job>")`.
    fn items(&self, job: &str) -> (Vec<String>, Vec<String>) {
        let attrs = format!("dict:string:string:service,nightjar,username,job:{job}");
        let out = self
            .dbus_send(&[
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.SearchItems",
                &attrs,
            ])
            .expect("SearchItems on the Secret Service");
        // Two arrays of object paths: unlocked, then locked.
        let mut arrays = out.split("array [").skip(1).map(|part| {
            part.lines().filter_map(|l| l.trim().strip_prefix("object path ")).map(|p| p.trim_matches('"').to_string()).collect::<Vec<_>>()
        });
        let unlocked = arrays.next().expect("SearchItems returns the unlocked items");
        let locked = arrays.next().expect("SearchItems returns the locked items");
        (unlocked, locked)
    }

    /// Pids of live processes started on this bus (their environment or
    /// command line names our temp dir): the daemons, and anything they or a
    /// nightjar run started.
    fn processes(&self) -> Vec<u32> {
        let marker = self.dir.path().display().to_string();
        let me = std::process::id();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| *p != me && procs::is_alive(*p))
            .filter(|p| {
                let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
                contains(&env, marker.as_bytes()) || contains(&procs::cmdline_raw(*p), marker.as_bytes())
            })
            .collect()
    }

    /// Kills both daemons and waits for them.
    fn stop(&mut self) {
        for child in [self.keyring.take(), self.bus.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.stop();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Asserts none of `secrets` is in any byte of any file under `dir`;
/// returns the files checked.
#[track_caller]
fn assert_no_secret_in_files(dir: &Path, secrets: &[&str]) -> Vec<PathBuf> {
    let files = files_under(dir);
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{} cannot be read: {e}", f.display()));
        for s in secrets {
            assert!(!contains(&bytes, s.as_bytes()), "the password {s:?} is written in {}", f.display());
        }
    }
    files
}

/// A database owned by a new role that logs in with `password` (scram).
fn db_with_password(pg: &PgCluster, password: &str) -> (String, String) {
    let role = unique("krrole");
    pg.create_role(&role, password);
    let db = unique("krdb");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""));
    build_plain_table(pg, &db, 300, 200, Some(&role));
    (role, db)
}

#[test]
fn password_in_the_os_keyring_is_used_by_backup_and_written_nowhere_else() {
    let pg = PgCluster::shared();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let password = format!("Nj-Keyr1ng-Right-{}-{stamp}", std::process::id());
    let wrong = format!("Nj-Keyr1ng-Wrong-{}-{stamp}", std::process::id());
    let (role, db) = db_with_password(pg, &password);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let job = "vault";
    nj.write_config(&job_toml(job, &pg.url_as(&role, &db), &dest, ""));
    let mut ss = SecretService::start();
    let mut outputs: Vec<NjOutput> = Vec::new();

    assert_eq!(ss.items(job), (vec![], vec![]), "the fresh keyring holds nothing for the job");

    // A wrong password first: it is stored, used, and rejected by the server.
    let out = ss.on(nj.cmd(["password", "set", "--job", job])).stdin(format!("{wrong}\n")).run().assert_success();
    assert_mentions(&out.stderr, &["stored", "job \"vault\"", "keyring"]);
    outputs.push(out);
    assert_eq!(ss.items(job).0.len(), 1, "the item is in the Secret Service, unlocked");
    let out = ss.on(nj.cmd(["backup", "--job", job])).run().assert_failure();
    assert_mentions(&out.error_line(), &["rejected the password", &role]);
    check_failed_run(&nj.history(Some(job)), "auth", "rejected the password");
    outputs.push(out);

    // `password set` again replaces it (one item, not two).
    let out = ss.on(nj.cmd(["password", "set", "--job", job])).stdin(format!("{password}\n")).run().assert_success();
    outputs.push(out);
    let (unlocked, locked) = ss.items(job);
    assert_eq!((unlocked.len(), locked.len()), (1, 0), "exactly one item for job:{job}: {unlocked:?} {locked:?}");
    assert!(unlocked[0].starts_with("/org/freedesktop/secrets/collection/login/"), "in the persistent login keyring: {unlocked:?}");

    // The backup logs in with the stored password (no PGPASSWORD anywhere:
    // the harness strips every PG* variable).
    let out = ss.on(nj.cmd(["backup", "--job", job, "--json"])).run().assert_success();
    let file = check_finished_backup(&out.json(), &dest, job);
    outputs.push(out);

    // Control: with the keyring switched off (the harness default) the same
    // job has no password — so it really came from the keyring.
    let out = nj.run(["backup", "--job", job]).assert_failure();
    assert_mentions(&out.error_line(), &["wants a password", "none is stored", &role]);
    outputs.push(out);

    // Delete: gone from the Secret Service, and the backup says what is missing.
    let out = ss.on(nj.cmd(["password", "delete", "--job", job])).run().assert_success();
    assert_mentions(&out.stderr, &["removed", "job \"vault\""]);
    outputs.push(out);
    assert_eq!(ss.items(job), (vec![], vec![]), "the item is gone from the Secret Service");
    let out = ss.on(nj.cmd(["backup", "--job", job])).run().assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["wants a password", "none is stored", &role, "nightjar password set"]);
    check_failed_run(&nj.history(Some(job)), "auth", "none is stored");
    outputs.push(out);
    let out = ss.on(nj.cmd(["password", "delete", "--job", job])).run().assert_success();
    assert_mentions(&out.stderr, &["no password was stored"]);
    outputs.push(out);
    assert_eq!(backups(&dest).len(), 1, "only the one successful backup: {:?}", backups(&dest));
    assert_eq!(partials(&dest), Vec::<String>::new());

    // The password is nowhere but in the keyring: no command printed it…
    let history = nj.cmd(["history", "--json", "--limit", "1000"]).run().assert_success();
    outputs.push(history);
    for out in &outputs {
        for s in [&password, &wrong] {
            assert!(!out.stdout.contains(s.as_str()) && !out.stderr.contains(s.as_str()), "`{}` printed the password {s:?}", out.shown);
        }
    }
    // …and no file holds it: config, history database (and its journal),
    // logs, locks, the backup and its manifest — every file of the
    // installation, byte by byte.
    let files = assert_no_secret_in_files(nj.scratch(), &[&password, &wrong]);
    let manifest = PathBuf::from(format!("{}.json", file.display()));
    for expected in [nj.config_path(), nj.data_dir().join("history.sqlite3"), manifest, file.clone()] {
        assert!(files.contains(&expected), "{} was checked (files: {files:?})", expected.display());
    }
    assert!(files.iter().any(|f| f.starts_with(nj.data_dir().join("logs"))), "the logs were checked: {files:?}");
    // The keyring's own file holds it only encrypted.
    let keyring_files = assert_no_secret_in_files(&ss.dir.path().join("data"), &[&password, &wrong]);
    assert!(
        keyring_files.iter().any(|f| f.ends_with("keyrings/login.keyring")),
        "gnome-keyring kept its login keyring in the temp XDG_DATA_HOME: {keyring_files:?}"
    );

    // Nothing of ours is left running.
    assert!(!ss.processes().is_empty(), "the daemons are found by the leftover scan while they run");
    let daemons: Vec<u32> = [ss.bus.as_ref(), ss.keyring.as_ref()].into_iter().flatten().map(Child::id).collect();
    ss.stop();
    for pid in daemons {
        assert!(!procs::is_alive(pid), "daemon {pid} was stopped");
    }
    let left = ss.processes();
    assert!(left.is_empty(), "processes left on the test's bus: {:?}", left.iter().map(|p| procs::cmdline(*p)).collect::<Vec<_>>());
}

/// With the keyring switched on but unreachable (no Secret Service on the
/// session bus), a job that needs a password says the keyring is the
/// problem, not merely that no password is stored.
#[test]
fn unreachable_keyring_is_named_in_the_error() {
    let pg = PgCluster::shared();
    let (role, db) = db_with_password(pg, "Nj-unreachable-keyring-pw");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("nokeyring", &pg.url_as(&role, &db), &dest, ""));
    let bus = nj.scratch().join("no-such-bus");
    let out = nj
        .cmd(["backup", "--job", "nokeyring"])
        .env_remove("NIGHTJAR_KEYRING")
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", bus.display()))
        .run()
        .assert_failure();
    assert_mentions(&out.error_line(), &["wants a password", &role, "keyring", "could not be reached", "PGPASSWORD"]);
    check_failed_run(&nj.history(Some("nokeyring")), "auth", "keyring");
    assert_eq!(backups(&dest), Vec::<String>::new());
}

/// The `nightjar` binary end to end with OneDrive (the local Graph fake):
/// sign-in by device code keeps the refresh token in the OS keyring (and in
/// no file), then an ad-hoc `backup --dest onedrive:/…` uploads the backup and
/// its manifest, `list --dest onedrive:/…` sees it, and `prune --dest
/// onedrive:/…` deletes only Nightjar's own older backups there.
#[test]
fn the_cli_signs_in_to_onedrive_and_backs_up_lists_and_prunes_there() {
    use nightjar_onedrive_fake::FakeGraph;
    let pg = PgCluster::shared();
    let db = pg.fresh_db("odcli");
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300) g");
    let fake = FakeGraph::start();
    let nj = Nightjar::new();
    nj.write_config(&format!(
        "[onedrive]\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n",
        fake.login_base(),
        fake.graph_base()
    ));
    let ss = SecretService::start();
    let mut outputs: Vec<NjOutput> = Vec::new();

    // Not signed in yet: the upload says what to do, and nothing is written.
    fake.mkdir("/Adhoc");
    let out = ss.on(nj.cmd(["backup", "--db", &pg.url(&db), "--dest", "onedrive:/Adhoc"])).run().assert_failure();
    assert_mentions(&out.error_line(), &["nightjar onedrive login"]);
    assert_eq!(fake.names("/Adhoc"), Vec::<String>::new());

    let out = ss.on(nj.cmd(["onedrive", "login", "--device-code"])).run().assert_success();
    outputs.push(out);
    let out = ss.on(nj.cmd(["onedrive", "whoami"])).run().assert_success();
    assert!(out.stdout.contains('@'), "whoami names the account: {}", out.stdout);
    outputs.push(out);

    // An older backup of the same ad-hoc job already there, with its manifest,
    // and a foreign file that must survive the prune.
    let out = ss.on(nj.cmd(["backup", "--db", &pg.url(&db), "--dest", "onedrive:/Adhoc", "--json"])).run().assert_success();
    let first = out.json();
    outputs.push(out);
    let name = first["name"].as_str().unwrap_or_else(|| panic!("the report names the file: {first}")).to_string();
    let stored = fake.file(&format!("/Adhoc/{name}")).expect("the backup was uploaded");
    assert_eq!(Some(stored.len() as u64), first["size"].as_u64(), "{first}");
    assert!(fake.file(&format!("/Adhoc/{name}.json")).is_some(), "the manifest went up beside it");
    let mut manifest: serde_json::Value = serde_json::from_slice(&fake.file(&format!("/Adhoc/{name}.json")).unwrap()).unwrap();
    let job = manifest["job"].as_str().unwrap_or_else(|| panic!("the manifest names the job: {manifest}")).to_string();
    let ext = name.split_once('.').map(|(_, e)| e.to_string()).unwrap();
    let old = format!("{job}_2020-01-01_00-00-00.{ext}");
    manifest["file"] = serde_json::json!(old);
    fake.put_file(&format!("/Adhoc/{old}"), &stored);
    fake.put_file(&format!("/Adhoc/{old}.json"), manifest.to_string().as_bytes());
    fake.put_file("/Adhoc/notes.txt", b"not a backup");

    let out = ss.on(nj.cmd(["list", "--dest", "onedrive:/Adhoc", "--json"])).run().assert_success();
    let listed: Vec<String> = out.json().as_array().expect("a list").iter().filter_map(|e| e["name"].as_str().map(str::to_string)).collect();
    assert_eq!(listed.len(), 2, "both backups and only them: {listed:?}");
    assert!(listed.contains(&name) && listed.contains(&old), "{listed:?}");
    outputs.push(out);

    let out = ss.on(nj.cmd(["prune", "--dest", "onedrive:/Adhoc", "--keep-last", "1"])).run().assert_success();
    outputs.push(out);
    let mut names = fake.names("/Adhoc");
    names.sort();
    let mut want = vec![name.clone(), format!("{name}.json"), "notes.txt".to_string()];
    want.sort();
    assert_eq!(names, want, "the older backup and its manifest went, the rest stayed");

    // The refresh token is in the keyring only: no output, no file of the installation.
    let tokens = fake.refresh_tokens();
    assert!(!tokens.is_empty(), "the fake issued refresh tokens");
    let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    for out in &outputs {
        for t in &token_refs {
            assert!(!out.stdout.contains(t) && !out.stderr.contains(t), "`{}` printed a refresh token", out.shown);
        }
    }
    assert_no_secret_in_files(nj.scratch(), &token_refs);
}
