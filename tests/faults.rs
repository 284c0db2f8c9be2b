//! Faults a user meets, through the real `nightjar` binary and a real
//! server: wrong or missing password, server down, server killed mid-dump,
//! Nightjar itself killed mid-backup, two runs of one job at once; and the
//! password never on a command line (`/proc/<pid>/cmdline`).
//!
//! Runs that must be caught in the middle are held there deterministically:
//! a background psql holds `LOCK TABLE t IN ACCESS EXCLUSIVE MODE`, so
//! `pg_dump` waits on it; the test waits (bounded) until `pg_stat_activity`
//! shows that pg_dump waiting on the lock, then acts.

use std::time::Duration;

use nightjar_tests::backup::{assert_mentions, assert_nothing_left, check_failed_run, check_finished_backup, job_toml, newest};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::{backups, file_names, partials};
use nightjar_tests::nightjar::{read_lossy, str_field};
use nightjar_tests::procs;
use nightjar_tests::wait::{secs, until, until_true};
use nightjar_tests::{unique, Nightjar, PgCluster};
use serde_json::Value;

/// A database `db` owned by a new role that logs in with `password` (scram),
/// holding table `t`.
fn db_with_password(pg: &PgCluster, password: &str) -> (String, String) {
    let role = unique("role");
    pg.create_role(&role, password);
    let db = unique("authdb");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""));
    build_plain_table(pg, &db, 300, 200, Some(&role));
    (role, db)
}

#[test]
fn wrong_password_fails_clearly_and_leaves_nothing() {
    let pg = PgCluster::shared();
    let (role, db) = db_with_password(pg, "right-pw-1");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let url = pg.url_as(&role, &db);
    let dest_s = dest.display().to_string();

    let out = nj.cmd(["backup", "--db", &url, "--dest", &dest_s]).env("PGPASSWORD", "wrong-pw-1").run().assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["password", &role]);
    assert!(!line.contains("wrong-pw-1") && !out.stdout.contains("wrong-pw-1"), "the password is never printed: {line}");
    assert_nothing_left(&dest);
    let rows = nj.history(Some(&db));
    assert_eq!(rows.len(), 1, "{rows:?}");
    check_failed_run(&rows, "auth", "password");

    // No password at all: a password is needed, and the message says how to give one.
    let out = nj.run(["backup", "--db", &url, "--dest", &dest_s]).assert_failure();
    assert_mentions(&out.error_line(), &["password"]);
    assert_nothing_left(&dest);
    assert_eq!(nj.history(Some(&db)).len(), 2);

    // The right one works: the failures were about the password, nothing else.
    let out = nj.cmd(["backup", "--db", &url, "--dest", &dest_s, "--json"]).env("PGPASSWORD", "right-pw-1").run().assert_success();
    check_finished_backup(&out.json(), &dest, &db);
    let all = serde_json::to_string(&nj.history(None)).unwrap();
    assert!(!all.contains("wrong-pw-1") && !all.contains("right-pw-1"), "no password in the history");
    assert!(!nj.logs().contains("wrong-pw-1") && !nj.logs().contains("right-pw-1"), "no password in the logs");
}

#[test]
fn server_not_running_fails_clearly_then_works_once_started() {
    let pg = PgCluster::start_new();
    let db = pg.fresh_db("down");
    build_plain_table(&pg, &db, 100, 100, None);
    pg.stop();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("down", &pg.url(&db), &dest, ""));

    let out = nj.run(["backup", "--job", "down"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["not running", &pg.sock_dir().display().to_string()]);
    assert_nothing_left(&dest);
    check_failed_run(&nj.history(Some("down")), "connection", "not running");

    pg.start();
    let out = nj.run(["backup", "--job", "down", "--json"]).assert_success();
    check_finished_backup(&out.json(), &dest, "down");
}

#[test]
fn server_killed_mid_dump_leaves_no_backup_and_records_the_failure() {
    let pg = PgCluster::start_new();
    let db = pg.fresh_db("killed");
    build_plain_table(&pg, &db, 2000, 300, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("killed", &pg.url(&db), &dest, "compression = \"none\"\n"));

    let lock = pg.lock_table(&db, "t");
    let run = nj.cmd(["backup", "--job", "killed"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    pg.stop_immediate();
    drop(lock);
    let out = run.wait(secs(120)).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["connection"]);
    assert_nothing_left(&dest);
    let rows = nj.history(Some("killed"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    check_failed_run(&rows, "connection", "connection");
}

/// The pid of the `pg_dump` started (directly or through a wrapper) by `parent`.
fn pg_dump_child(parent: u32) -> u32 {
    until("nightjar's pg_dump child process", secs(30), || {
        procs::descendants(parent).into_iter().find(|p| procs::program(*p) == "pg_dump")
    })
}

#[test]
fn password_is_never_on_a_command_line() {
    let pg = PgCluster::shared();
    let password = format!("Nj-Sekr1t-{}", std::process::id());
    let (role, db) = db_with_password(pg, &password);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("secret", &pg.url_as(&role, &db), &dest, ""));

    let lock = pg.lock_table(&db, "t");
    let run = nj.cmd(["backup", "--job", "secret", "--json"]).env("PGPASSWORD", &password).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    let dump = pg_dump_child(run.pid());
    let dump_argv = procs::cmdline(dump);
    assert!(dump_argv.iter().any(|a| a.contains(&db)), "this is the pg_dump of {db}: {dump_argv:?}");
    let mut checked = vec![run.pid()];
    checked.extend(procs::descendants(run.pid()));
    for pid in checked {
        let raw = procs::cmdline_raw(pid);
        assert!(
            !String::from_utf8_lossy(&raw).contains(&password),
            "the password is on the command line of pid {pid} ({})",
            procs::program(pid)
        );
    }
    lock.release();
    let out = run.wait(secs(120)).assert_success();
    let record = out.json();
    let file = check_finished_backup(&record, &dest, "secret");
    for (what, text) in [
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("history", serde_json::to_string(&nj.history(None)).unwrap()),
        ("logs", nj.logs()),
        ("manifest", read_lossy(&dest.join(format!("{}.json", file.file_name().unwrap().to_string_lossy())))),
        ("config", read_lossy(&nj.config_path())),
    ] {
        assert!(!text.contains(&password), "the password appears in the {what}");
    }
}

#[test]
fn crash_mid_backup_leaves_no_backup_and_the_next_run_cleans_up() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("crash");
    build_plain_table(pg, &db, 500, 200, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("crash", &pg.url(&db), &dest, ""));

    let lock = pg.lock_table(&db, "t");
    let mut run = nj.cmd(["backup", "--job", "crash"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    let dump = pg_dump_child(run.pid());
    let nightjar_pid = run.pid();
    run.kill(); // SIGKILL: no cleanup code of Nightjar runs
    until_true("the killed nightjar to be gone", secs(30), || !procs::is_alive(nightjar_pid));
    let _ = run.wait(secs(30));
    assert_eq!(backups(&dest), Vec::<String>::new(), "no file under a final name after a crash: {:?}", file_names(&dest));
    let left_partial = !partials(&dest).is_empty();
    let rows = nj.history(Some("crash"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let crashed = newest(&rows).clone();
    assert_eq!(str_field(&crashed, "status"), "running", "the crashed run's row is still `running`: {crashed}");

    // The orphaned pg_dump ends once it can go on and finds its reader gone.
    lock.release();
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !procs::is_alive(dump)
    });
    if !gone {
        procs::kill9(dump);
    }

    let out = nj.run(["backup", "--job", "crash", "--json"]).assert_success();
    check_finished_backup(&out.json(), &dest, "crash");
    assert_eq!(partials(&dest), Vec::<String>::new(), "the stale .partial (present: {left_partial}) was removed");
    assert_eq!(backups(&dest).len(), 1, "{:?}", file_names(&dest));
    let rows = nj.history(Some("crash"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let old = rows.iter().find(|r| r["id"] == crashed["id"]).expect("the crashed run's row is kept");
    assert_eq!(str_field(old, "status"), "interrupted", "the crashed run is now `interrupted`: {old}");
    assert_eq!(str_field(newest(&rows), "status"), "success");
}

#[test]
fn second_run_of_a_job_is_refused_while_the_first_runs() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("busy");
    build_plain_table(pg, &db, 300, 200, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("busy", &pg.url(&db), &dest, ""));

    let lock = pg.lock_table(&db, "t");
    let first = nj.cmd(["backup", "--job", "busy", "--json"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    let second = nj.run(["backup", "--job", "busy"]).assert_failure();
    assert_mentions(&second.error_line(), &["busy", "already running"]);
    let rows = nj.history(Some("busy"));
    let refused: Vec<&Value> = rows.iter().filter(|r| r.get("status").and_then(Value::as_str) == Some("failed")).collect();
    assert_eq!(refused.len(), 1, "the refused run is in the history: {rows:?}");
    assert_eq!(refused[0].get("error_kind").and_then(Value::as_str), Some("busy"), "{}", refused[0]);
    assert_eq!(pg.pg_dumps_waiting(&db), 1, "the refused run started no pg_dump");

    lock.release();
    let out = first.wait(secs(120)).assert_success();
    check_finished_backup(&out.json(), &dest, "busy");
    assert_eq!(backups(&dest).len(), 1);
    let rows = nj.history(Some("busy"));
    let statuses: Vec<&str> = rows.iter().map(|r| str_field(r, "status")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "success").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 1, "{statuses:?}");
}

#[test]
fn sigterm_mid_backup_stops_it_and_leaves_nothing() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("sigterm");
    build_plain_table(pg, &db, 500, 200, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("sigterm", &pg.url(&db), &dest, ""));

    let lock = pg.lock_table(&db, "t");
    let run = nj.cmd(["backup", "--job", "sigterm"]).spawn();
    pg.wait_for_blocked_pg_dump(&db);
    let dump = pg_dump_child(run.pid());
    // What `systemctl stop` or `kill <pid>` does: SIGTERM to nightjar alone.
    let _ = std::process::Command::new("kill").args(["-TERM", &run.pid().to_string()]).status();
    let out = run.wait(secs(20)).assert_failure();
    drop(lock);
    assert_mentions(&out.error_line(), &["stopped"]);
    assert_nothing_left(&dest);
    until_true("pg_dump to be stopped with the backup", secs(10), || !procs::is_alive(dump));
    let rows = nj.history(Some("sigterm"));
    assert_eq!(str_field(newest(&rows), "status"), "interrupted", "{rows:?}");
}

/// The record `backup --json` prints for a failed run: what a finished one
/// has, with `status` failed, the error, and no file; its run id is the
/// history row's.
#[track_caller]
fn check_failed_record(record: &Value, job: &str, kind: &str, nj: &Nightjar) {
    assert_eq!(str_field(record, "status"), "failed", "{record}");
    assert_eq!(str_field(record, "job"), job, "{record}");
    assert_eq!(str_field(record, "error_kind"), kind, "{record}");
    for key in ["file", "name", "size", "sha256"] {
        assert!(record.get(key).is_some_and(Value::is_null), "`{key}` is null in a failed record: {record}");
    }
    let _ = str_field(record, "started_at");
    let _ = str_field(record, "finished_at");
    let rows = nj.history(Some(job));
    let row = newest(&rows);
    assert_eq!(record.get("run_id"), row.get("id"), "the record names the history row: {record} / {row}");
    assert_eq!(record.get("error"), row.get("error"), "the record has the recorded error");
}

#[test]
fn backup_json_that_fails_still_prints_its_record() {
    let pg = PgCluster::shared();
    let (role, db) = db_with_password(pg, "right-pw-9");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let dest_s = dest.display().to_string();

    // Wrong password: the record on stdout, the one line on stderr, exit 1.
    let out = nj.cmd(["backup", "--db", &pg.url_as(&role, &db), "--dest", &dest_s, "--json"]).env("PGPASSWORD", "wrong-pw-9").run().assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let record = out.json();
    check_failed_record(&record, &db, "auth", &nj);
    let line = out.error_line();
    assert_eq!(line, format!("nightjar: {}", str_field(&record, "error")), "stderr keeps the one-line error");
    assert!(!out.stdout.contains("wrong-pw-9") && !out.stderr.contains("wrong-pw-9"));
    assert_nothing_left(&dest);

    // A database that does not exist, from the config file.
    let missing = unique("missingdb");
    nj.write_config(&job_toml("gone", &pg.url(&missing), &dest, ""));
    let out = nj.run(["backup", "--job", "gone", "--json"]).assert_failure();
    let record = out.json();
    assert_eq!(str_field(&record, "destination"), dest_s, "{record}");
    check_failed_record(&record, "gone", str_field(newest(&nj.history(Some("gone"))), "error_kind"), &nj);
    assert_mentions(str_field(&record, "error"), &[&missing]);
    assert_mentions(&out.error_line(), &[&missing]);

    // Failing before any run (a job that is not in the config): still a record.
    let out = nj.run(["backup", "--job", "nope", "--json"]).assert_failure();
    let record = out.json();
    assert_eq!((str_field(&record, "status"), str_field(&record, "error_kind")), ("failed", "not-found"), "{record}");
    assert_mentions(str_field(&record, "error"), &["nope", "gone"]);
    assert_nothing_left(&dest);
}

#[test]
fn several_jobs_that_partly_fail_name_each_failure_and_sum_up() {
    let pg = PgCluster::shared();
    let good = pg.fresh_db("good");
    build_plain_table(pg, &good, 50, 50, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let missing = unique("missingdb");
    let config = [
        job_toml("one", &pg.url(&good), &dest.join("one"), ""),
        job_toml("gone", &pg.url(&missing), &dest.join("gone"), ""),
        job_toml("two", &pg.url(&good), &dest.join("two"), ""),
        job_toml("down", "postgres://postgres@/x?host=/nonexistent/socket/dir", &dest.join("down"), ""),
    ]
    .concat();
    nj.write_config(&config);

    let out = nj.run(["backup"]).assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let saved: Vec<&str> = out.stdout.lines().filter(|l| l.contains(": saved ")).collect();
    assert_eq!(saved.len(), 2, "the good jobs were backed up: {}\nstderr: {}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty() && !l.contains(": warning: ")).collect();
    assert_eq!(lines.len(), 3, "one line per failed job and a summary:\n{}", out.stderr);
    assert!(lines[0].starts_with("nightjar: gone: ") && lines[0].contains(&missing), "{}", lines[0]);
    assert!(lines[1].starts_with("nightjar: down: ") && lines[1].contains("/nonexistent/socket/dir"), "{}", lines[1]);
    assert_eq!(lines[2], "nightjar: 2 of 4 jobs backed up; failed: gone, down.");

    // --json: one document with every record, in job order; stderr as above.
    let out = nj.run(["backup", "--json"]).assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let records = match out.json() {
        Value::Array(r) => r,
        other => panic!("one array of records, got {other}"),
    };
    let jobs: Vec<&str> = records.iter().map(|r| str_field(r, "job")).collect();
    assert_eq!(jobs, ["one", "gone", "two", "down"]);
    check_finished_backup(&records[0], &dest.join("one"), "one");
    check_finished_backup(&records[2], &dest.join("two"), "two");
    check_failed_record(&records[1], "gone", str_field(newest(&nj.history(Some("gone"))), "error_kind"), &nj);
    check_failed_record(&records[3], "down", "connection", &nj);
    assert!(out.stderr.contains("nightjar: 2 of 4 jobs backed up; failed: gone, down."), "{}", out.stderr);
    assert_nothing_left(&dest.join("gone"));
    assert_nothing_left(&dest.join("down"));
}
