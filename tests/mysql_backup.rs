//! MySQL/MariaDB backups through the real `nightjar` binary against a
//! throwaway MariaDB server: the sample database (utf8mb4 text, BLOBs,
//! JSON, DECIMAL, DATETIME/TIMESTAMP from several time zones, views, a
//! trigger, routines, an event) backed up and restored with stock tools
//! alone (`zstd -dc | mariadb`), compared table by table; selected tables;
//! wrong password; the password never on a command line; the server
//! killed mid-dump.
//!
//! Runs caught in the middle are held there deterministically: a
//! background client holds `LOCK TABLES t WRITE`, so the dump waits on it;
//! the test waits (bounded) until the process list shows the dump waiting
//! for the table's metadata lock, then acts.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nightjar_tests::backup::{assert_mentions, assert_nothing_left, check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::my_sample::{build_sample, fresh_sample};
use nightjar_tests::nightjar::{read_lossy, str_field};
use nightjar_tests::procs;
use nightjar_tests::wait::{secs, until};
use nightjar_tests::{unique, MariaDbServer, MySnapshot, Nightjar};

fn sample() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| fresh_sample(MariaDbServer::shared(), "shop"))
}

fn original() -> &'static MySnapshot {
    static SNAP: OnceLock<MySnapshot> = OnceLock::new();
    SNAP.get_or_init(|| MySnapshot::take(MariaDbServer::shared(), sample()))
}

/// Restores `file` into the new database `db` with stock tools only:
/// `zstd -dc f | mariadb db`, `gzip -dc f | mariadb db` or `mariadb db < f`.
fn restore_with_stock_tools(server: &MariaDbServer, file: &Path, db: &str) -> String {
    server.create_db(db);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let (how, decompress): (String, Option<&str>) = if name.ends_with(".zst") {
        (format!("zstd -dc {name} | mariadb {db}"), Some("zstd"))
    } else if name.ends_with(".gz") {
        (format!("gzip -dc {name} | mariadb {db}"), Some("gzip"))
    } else {
        (format!("mariadb {db} < {name}"), None)
    };
    let mut client = server.client_command(db);
    let status = match decompress {
        Some(tool) => {
            let mut d = Command::new(tool).arg("-dc").arg(file).stdout(Stdio::piped()).spawn().expect("start the decompressor");
            let status = client.stdin(d.stdout.take().unwrap()).status().expect("run mariadb");
            assert!(d.wait().unwrap().success(), "{tool} -dc {name} failed");
            status
        }
        None => client.stdin(std::fs::File::open(file).unwrap()).status().expect("run mariadb"),
    };
    assert!(status.success(), "`{how}` failed");
    how
}

fn round_trip(compression: Option<&str>, ext: &str) {
    let server = MariaDbServer::shared();
    let src = sample();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let mut args = vec!["backup".to_string(), "--db".into(), server.url(src), "--dest".into(), dest.display().to_string(), "--json".into()];
    if let Some(c) = compression {
        args.extend(["--compress".into(), c.into()]);
    }
    let out = nj.run(&args).assert_success();
    let record = out.json();
    let file = check_finished_backup(&record, &dest, src);
    assert!(str_field(&record, "name").ends_with(&format!("_manual.{ext}")), "{record}");
    let m = nightjar_tests::backup::manifest(&file);
    assert_eq!(str_field(&m, "engine"), "mysql", "{m}");
    assert_eq!(str_field(&m, "database"), src, "{m}");
    assert_eq!(str_field(&m, "tool"), "mariadb-dump", "{m}");
    assert!(str_field(&m, "server_version").contains("MariaDB"), "{m}");
    assert!(str_field(&m, "tool_version").contains("MariaDB"), "{m}");

    let target = unique("restored");
    let how = restore_with_stock_tools(server, &file, &target);
    let restored = MySnapshot::take(server, &target);
    assert!(restored.table_count() >= 4, "{restored:?}");
    original().assert_same(&restored, &format!("backup restored with `{how}`"));
}

#[test]
fn zstd_backup_restores_with_stock_tools_identically() {
    round_trip(None, "sql.zst");
}

#[test]
fn gzip_and_uncompressed_backups_restore_with_stock_tools_identically() {
    round_trip(Some("gzip"), "sql.gz");
    round_trip(Some("none"), "sql");
}

#[test]
fn selected_tables_only() {
    let server = MariaDbServer::shared();
    let src = sample();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("some", &server.url(src), &dest, "tables = [\"tenants\", \"audit\"]\n"));
    let out = nj.run(["backup", "--job", "some", "--json"]).assert_success();
    let file = check_finished_backup(&out.json(), &dest, "some");
    let target = unique("partial");
    restore_with_stock_tools(server, &file, &target);
    let restored = MySnapshot::take(server, &target);
    let tables: Vec<&String> = restored.items.keys().filter(|k| k.starts_with("table ")).collect();
    assert_eq!(tables, ["table audit", "table tenants"], "{restored:?}");
    for t in ["table audit", "table tenants"] {
        assert_eq!(restored.items[t], original().items[t], "{t}");
    }
}

/// A database readable by a new user who logs in with `password`.
fn db_with_password(server: &MariaDbServer, password: &str) -> (String, String) {
    let user = unique("user");
    server.create_user(&user, password);
    let db = server.fresh_db("authdb");
    build_sample(server, &db);
    (user, db)
}

#[test]
fn wrong_password_fails_clearly_and_leaves_nothing() {
    let server = MariaDbServer::shared();
    let (user, db) = db_with_password(server, "right-pw-1");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let url = server.url_as(&user, &db);
    let dest_s = dest.display().to_string();

    let out = nj.cmd(["backup", "--db", &url, "--dest", &dest_s]).env("MYSQL_PWD", "wrong-pw-1").run().assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["rejected the password", &user, "MYSQL_PWD"]);
    assert!(!line.contains("wrong-pw-1") && !out.stdout.contains("wrong-pw-1"), "the password is never printed: {line}");
    assert_nothing_left(&dest);
    let rows = nj.history(Some(&db));
    assert_eq!(rows.len(), 1, "{rows:?}");
    check_failed_run(&rows, "auth", "password");

    let out = nj.run(["backup", "--db", &url, "--dest", &dest_s]).assert_failure();
    assert_mentions(&out.error_line(), &["wants a password", &user]);
    assert_nothing_left(&dest);

    let out = nj.cmd(["backup", "--db", &url, "--dest", &dest_s, "--json"]).env("MYSQL_PWD", "right-pw-1").run().assert_success();
    check_finished_backup(&out.json(), &dest, &db);
    let all = serde_json::to_string(&nj.history(None)).unwrap();
    assert!(!all.contains("wrong-pw-1") && !all.contains("right-pw-1"), "no password in the history");
    assert!(!nj.logs().contains("wrong-pw-1") && !nj.logs().contains("right-pw-1"), "no password in the logs");
}

/// The pid of the dump tool started by `parent`.
fn dump_child(parent: u32) -> u32 {
    until("nightjar's mariadb-dump child process", secs(30), || {
        procs::descendants(parent).into_iter().find(|p| matches!(procs::program(*p).as_str(), "mariadb-dump" | "mysqldump"))
    })
}

#[test]
fn password_is_never_on_a_command_line() {
    let server = MariaDbServer::shared();
    let password = format!("Nj-My-Sekr1t-{}", std::process::id());
    let (user, db) = db_with_password(server, &password);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("secret", &server.url_as(&user, &db), &dest, ""));

    let lock = server.lock_table(&db, "tenants");
    let run = nj.cmd(["backup", "--job", "secret", "--json"]).env("MYSQL_PWD", &password).spawn();
    server.wait_for_blocked_reader(&db);
    let dump = dump_child(run.pid());
    let argv = procs::cmdline(dump);
    assert!(argv.iter().any(|a| a == &db), "this is the dump of {db}: {argv:?}");
    let environ = std::fs::read(format!("/proc/{dump}/environ")).unwrap_or_default();
    assert!(String::from_utf8_lossy(&environ).contains(&format!("MYSQL_PWD={password}")), "the dump tool gets the password through MYSQL_PWD");
    let mut checked = vec![run.pid()];
    checked.extend(procs::descendants(run.pid()));
    for pid in checked {
        let raw = procs::cmdline_raw(pid);
        assert!(!String::from_utf8_lossy(&raw).contains(&password), "the password is on the command line of pid {pid} ({})", procs::program(pid));
    }
    drop(lock);
    let out = run.wait(secs(120)).assert_success();
    let file = check_finished_backup(&out.json(), &dest, "secret");
    for (what, text) in [
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("history", serde_json::to_string(&nj.history(None)).unwrap()),
        ("logs", nj.logs()),
        ("manifest", read_lossy(&dest.join(format!("{}.json", file.file_name().unwrap().to_string_lossy())))),
    ] {
        assert!(!text.contains(&password), "the password appears in the {what}");
    }
}

#[test]
fn server_killed_mid_dump_leaves_no_backup_and_records_the_failure() {
    let server = MariaDbServer::start_new();
    let db = fresh_sample(&server, "killed");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("killed", &server.url(&db), &dest, "compression = \"none\"\n"));

    let lock = server.lock_table(&db, "tenants");
    let run = nj.cmd(["backup", "--job", "killed"]).spawn();
    server.wait_for_blocked_reader(&db);
    server.kill9();
    drop(lock);
    let out = run.wait(secs(120)).assert_failure();
    assert_mentions(&out.error_line(), &["closed the connection", "nothing was saved"]);
    assert_nothing_left(&dest);
    let rows = nj.history(Some("killed"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    check_failed_run(&rows, "connection", "closed the connection");

    // Not running at all: a different sentence, and still nothing left.
    let out = nj.run(["backup", "--job", "killed"]).assert_failure();
    assert_mentions(&out.error_line(), &["not running"]);
    assert_nothing_left(&dest);
}
