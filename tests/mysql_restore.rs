//! `nightjar restore`, `verify --restore-test` and `kept` against a real
//! throwaway MariaDB server: a replace round trip through `nightjar backup`
//! then `nightjar restore` compared table by table (data, views, triggers,
//! routines, events), the replaced database kept with its objects, the
//! safety backup; `--as-new` and a restore into a missing database; a
//! failing restore leaving the original identical; a PostgreSQL dump
//! refused before anything is touched; the test restore of `verify`.

use std::path::{Path, PathBuf};

use nightjar_tests::backup::assert_mentions;
use nightjar_tests::fsutil::file_names;
use nightjar_tests::my_sample::fresh_sample;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::{unique, MariaDbServer, MySnapshot, Nightjar};
use serde_json::Value;

/// `nightjar backup --db … --dest …` and the file it wrote.
fn backup(nj: &Nightjar, server: &MariaDbServer, db: &str, dest: &Path, compress: &str) -> PathBuf {
    let out = nj.run(["backup", "--db", &server.url(db), "--dest", &dest.display().to_string(), "--compress", compress, "--json"]).assert_success();
    PathBuf::from(str_field(&out.json(), "file"))
}

/// Changes a restore must undo: rows, a view, a trigger, a routine, an extra table.
fn scribble(server: &MariaDbServer, db: &str) {
    server.sql(
        db,
        "UPDATE tenants SET name = 'изменено' WHERE id = 1;
         DELETE FROM orders WHERE id % 5 = 0;
         DROP VIEW big_tenants;
         DROP TRIGGER orders_audit;
         CREATE PROCEDURE added_later() SELECT 1;
         CREATE TABLE after_backup (x INT PRIMARY KEY);
         INSERT INTO after_backup VALUES (1);",
    );
}

fn restore_json(nj: &Nightjar, args: &[&str]) -> Value {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    all.extend(["--yes", "--json"]);
    nj.run(&all).assert_success().json()
}

fn leftovers(server: &MariaDbServer, db: &str) -> Vec<String> {
    server.databases_like(&format!("{db}__nightjar_"))
}

#[test]
fn replace_restores_everything_and_keeps_the_original_with_its_objects() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "shop");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let file = backup(&nj, server, &db, &dest, "zstd");
    let original = MySnapshot::take(server, &db);
    scribble(server, &db);
    let scribbled = MySnapshot::take(server, &db);
    assert_ne!(original, scribbled);

    let report = restore_json(&nj, &[&file.display().to_string(), "--db", &server.url(&db)]);
    assert_eq!(str_field(&report, "mode"), "replace", "{report}");
    assert_eq!(str_field(&report, "database"), db, "{report}");
    let kept = str_field(&report, "kept_as").to_string();
    assert!(kept.starts_with(&format!("{db}__before_restore_")), "{report}");
    MySnapshot::take(server, &db).assert_same(&original, "after the restore");
    // The replaced database is kept as it was: tables, views, routines.
    let mut kept_snap = MySnapshot::take(server, &kept);
    let mut expected = scribbled.clone();
    // Events in the kept copy are disabled so it never runs jobs.
    for (k, v) in &mut expected.items {
        if k.starts_with("event ") {
            *v = v.replace("ENABLED", "DISABLED");
        }
    }
    kept_snap.items.retain(|k, _| !k.starts_with("result "));
    expected.items.retain(|k, _| !k.starts_with("result "));
    expected.assert_same(&kept_snap, "the kept copy");
    assert_eq!(leftovers(server, &db), Vec::<String>::new());

    // The safety backup was taken first, beside the file, and is a full backup.
    let safety = PathBuf::from(str_field(&report, "safety_backup"));
    assert!(safety.is_file(), "{report}");
    assert!(safety.file_name().unwrap().to_string_lossy().contains("_pre-restore."), "{}", safety.display());

    // `kept list` shows it; `kept drop` removes it.
    let out = nj.run(["kept", "list", "--db", &server.url(&db), "--json"]).assert_success();
    assert!(out.stdout.contains(&kept), "{}", out.stdout);
    let _ = nj.run(["kept", "drop", &kept, "--db", &server.url(&db), "--yes"]).assert_success();
    assert!(!server.db_exists(&kept));

    let history = nj.history(None);
    assert!(history.iter().any(|r| str_field(r, "kind") == "restore" && str_field(r, "status") == "success"), "{history:?}");
}

#[test]
fn as_new_and_missing_target_create_a_database_and_touch_nothing_else() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "asnew");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let file = backup(&nj, server, &db, &dest, "gzip");
    let original = MySnapshot::take(server, &db);
    scribble(server, &db);
    let scribbled = MySnapshot::take(server, &db);

    let copy = unique("copy");
    let report = restore_json(&nj, &[&file.display().to_string(), "--db", &server.url(&db), "--as-new", &copy]);
    assert_eq!(str_field(&report, "mode"), "as-new", "{report}");
    MySnapshot::take(server, &copy).assert_same(&original, "restored --as-new");
    MySnapshot::take(server, &db).assert_same(&scribbled, "the original after --as-new");

    let missing = unique("missing");
    let report = restore_json(&nj, &[&file.display().to_string(), "--db", &server.url(&missing)]);
    assert_eq!(str_field(&report, "mode"), "create", "{report}");
    MySnapshot::take(server, &missing).assert_same(&original, "restored into a missing database");
    assert_eq!(leftovers(server, &db), Vec::<String>::new());
    assert_eq!(leftovers(server, &missing), Vec::<String>::new());
}

#[test]
fn a_failing_restore_leaves_the_original_identical() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "fails");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let good = backup(&nj, server, &db, &dest, "none");
    scribble(server, &db);
    let before = MySnapshot::take(server, &db);

    // A complete-looking dump with a statement that fails half-way through.
    let text = std::fs::read_to_string(&good).unwrap();
    let at = text.find("INSERT INTO `orders`").expect("the dump inserts orders");
    let broken = format!("{}INSERT INTO `no_such_table` VALUES (1);\n{}", &text[..at], &text[at..]);
    let file = nj.scratch().join("broken.sql");
    std::fs::write(&file, broken).unwrap();

    let out = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&db), "--trust-file", "--yes"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["no_such_table", &format!("\"{db}\" was not changed")]);
    MySnapshot::take(server, &db).assert_same(&before, "the target after a failed restore");
    assert_eq!(leftovers(server, &db), Vec::<String>::new(), "the temporary database is gone");
    assert_eq!(server.databases_like(&format!("{db}__before_restore_")), Vec::<String>::new());
    let history = nj.history(None);
    assert!(history.iter().any(|r| str_field(r, "kind") == "restore" && str_field(r, "status") == "failed"), "{history:?}");
}

#[test]
fn a_postgresql_dump_is_refused_before_anything_is_touched() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "pgdump");
    let before = MySnapshot::take(server, &db);
    let nj = Nightjar::new();
    let file = nj.scratch().join("app_2026-03-02_00-00-00.sql");
    std::fs::write(
        &file,
        "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n-- Dumped by pg_dump version 16.4\n\nSET statement_timeout = 0;\nCREATE TABLE public.t (id integer);\n\n--\n-- PostgreSQL database dump complete\n--\n\n",
    )
    .unwrap();
    let out = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&db), "--yes"]).assert_failure();
    assert_mentions(&out.error_line(), &["is a PostgreSQL dump", "cannot be restored into the MySQL/MariaDB database", &db]);
    MySnapshot::take(server, &db).assert_same(&before, "the target after the refusal");
    assert_eq!(file_names(nj.scratch()).iter().filter(|n| n.contains("pre-restore")).count(), 0, "no safety backup was taken");
    assert_eq!(leftovers(server, &db), Vec::<String>::new());
    let history = nj.history(None);
    assert!(history.iter().any(|r| str_field(r, "kind") == "restore" && str_field(r, "status") == "failed"), "the refusal is in the history: {history:?}");
}

#[test]
fn verify_restore_test_loads_a_scratch_schema_and_marks_the_backup_verified() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "verify");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let file = backup(&nj, server, &db, &dest, "zstd");
    let out = nj.run(["verify", &file.display().to_string(), "--restore-test", "--db", &server.url(&db), "--json"]).assert_success();
    let report = out.json();
    let test = report.get("restore_test").unwrap_or_else(|| panic!("{report}"));
    assert_eq!(test.get("table_count").and_then(Value::as_u64), Some(4), "{report}");
    assert_eq!(test.get("total_rows").and_then(Value::as_u64), Some(3 + 41 + 41), "{report}");
    assert!(report.get("verified_at").is_some_and(|v| !v.is_null()), "{report}");
    assert_eq!(server.databases_like(&format!("{db}__nightjar_verify_")), Vec::<String>::new(), "the scratch schema is gone");
    let rows = nj.history(None);
    let b = rows.iter().find(|r| str_field(r, "kind") == "backup").expect("the backup row");
    assert_eq!(b.get("verified_at").map(Value::is_null), Some(false), "{b}");
}

#[test]
fn truncated_dumps_and_dumps_that_switch_databases_are_refused_before_anything_is_touched() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "refuse");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let good = backup(&nj, server, &db, &dest, "none");
    let before = MySnapshot::take(server, &db);
    let text = std::fs::read_to_string(&good).unwrap();

    // Cut before the dump tool's closing line: verify and restore both say it is truncated.
    let cut = nj.scratch().join("cut.sql");
    std::fs::write(&cut, &text[..text.rfind("-- Dump completed").unwrap() - 200]).unwrap();
    let out = nj.run(["verify", &cut.display().to_string()]).assert_failure();
    assert_mentions(&out.error_line(), &["cut.sql", "truncated"]);
    let out = nj.run(["restore", &cut.display().to_string(), "--db", &server.url(&db), "--yes"]).assert_failure();
    assert_mentions(&out.error_line(), &["cut.sql", "truncated"]);

    // A dump made with --databases carries `USE`: loading it into a scratch
    // schema would write to the real database instead.
    let other = nj.scratch().join("with-use.sql");
    let at = text.find("DROP TABLE IF EXISTS").unwrap();
    std::fs::write(&other, format!("{}CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{db}`;\nUSE `{db}`;\n{}", &text[..at], &text[at..])).unwrap();
    let out = nj.run(["restore", &other.display().to_string(), "--db", &server.url(&db), "--yes"]).assert_failure();
    assert_mentions(&out.error_line(), &["with-use.sql", "switches or creates databases"]);

    MySnapshot::take(server, &db).assert_same(&before, "the target after the refusals");
    assert_eq!(server.databases_like(&format!("{db}__")), Vec::<String>::new());
    assert_eq!(file_names(&dest).iter().filter(|n| n.contains("pre-restore")).count(), 0, "no safety backup was taken");
}

#[test]
fn planted_client_commands_in_a_mysql_dump_never_run() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "planted");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let good = backup(&nj, server, &db, &dest, "none");
    let before = MySnapshot::take(server, &db);
    let text = std::fs::read_to_string(&good).unwrap();
    let at = text.find("DROP TABLE IF EXISTS").unwrap();
    for (name, line) in [("system", "system touch {m}"), ("bang", "\\! touch {m}"), ("mid-line", "SELECT 1; \\! touch {m}")] {
        let marker = nj.scratch().join(format!("MARKER-{name}"));
        let planted = line.replace("{m}", &marker.display().to_string());
        let file = nj.scratch().join(format!("{name}.sql"));
        std::fs::write(&file, format!("{}{planted}\n{}", &text[..at], &text[at..])).unwrap();
        let copy = unique("planted_copy");
        // The client runs with --binary-mode: it runs no client command (the line
        // reaches the server as SQL, or the client stops at it).
        let out = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&db), "--as-new", &copy, "--trust-file", "--yes"]).assert_failure();
        let err = out.error_line();
        assert!(err.contains("SQL syntax") || err.contains("Unknown command"), "{name}: the line was refused, not run: {err}");
        assert!(!marker.exists(), "{name}: the planted command ran ({})", out.error_line());
        assert!(server.databases_like(&copy).is_empty(), "{name}: the new database was left behind");
        let out = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&db), "--no-safety-backup", "--trust-file", "--yes"]).assert_failure();
        assert!(!marker.exists(), "{name}: the planted command ran ({})", out.error_line());
        let out = nj.run(["verify", &file.display().to_string(), "--restore-test", "--db", &server.url(&db), "--trust-file"]).assert_failure();
        assert!(!marker.exists(), "{name}: the planted command ran in a test restore ({})", out.error_line());
    }
    MySnapshot::take(server, &db).assert_same(&before, "the target after the planted dumps");
    assert_eq!(server.databases_like(&format!("{db}__")), Vec::<String>::new());
}

/// The same dump with `USE` in a file the user chose to trust: the
/// restore loads while it checks, and the line that would switch to the
/// real database never reaches the client; the scratch schema is dropped,
/// the target is as it was, and no safety backup was taken.
#[test]
fn a_trusted_dump_that_switches_databases_is_stopped_at_that_line() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "late_use");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let good = backup(&nj, server, &db, &dest, "none");
    let text = std::fs::read_to_string(&good).unwrap();
    server.sql(&db, "UPDATE tenants SET name = 'changed after the backup' WHERE id = 1");
    let before = MySnapshot::take(server, &db);
    // After the first table's data: the client has loaded it when the line comes.
    let at = text.find("UNLOCK TABLES;\n").expect("the end of a table's data") + "UNLOCK TABLES;\n".len();
    let file = nj.scratch().join("late-use.sql");
    std::fs::write(&file, format!("{}USE `{db}`;\nDROP TABLE IF EXISTS `tenants`;\n{}", &text[..at], &text[at..])).unwrap();
    for extra in [&[][..], &["--as-new", "late_use_copy"][..]] {
        let mut args = vec!["restore".to_string(), file.display().to_string(), "--db".into(), server.url(&db), "--trust-file".into(), "--yes".into()];
        args.extend(extra.iter().map(|s| (*s).to_string()));
        let out = nj.run(&args).assert_failure();
        assert_mentions(&out.error_line(), &["late-use.sql", "switches or creates databases", "temporary copy was removed"]);
        MySnapshot::take(server, &db).assert_same(&before, "the target after a dump that switches databases");
        assert_eq!(server.databases_like(&format!("{db}__")), Vec::<String>::new());
        assert!(server.databases_like("late_use_copy").is_empty(), "{extra:?}: the --as-new database was not created");
    }
    assert_eq!(file_names(&dest).iter().filter(|n| n.contains("pre-restore")).count(), 0, "no safety backup was taken");
}
