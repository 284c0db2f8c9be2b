//! `nightjar restore` and `nightjar verify` against a real throwaway
//! PostgreSQL cluster: round trips through `nightjar backup` then
//! `nightjar restore` (replace, create, `--as-new`, plain and custom
//! format, from a file, from a job's `--latest`), compared table by table
//! and schema by schema; the safety backup in the history and restorable;
//! sessions open on the target during a replace; the test restore of
//! `verify` marking the history row verified.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};

use nightjar_tests::backup::job_toml;
use nightjar_tests::fixture;
use nightjar_tests::nightjar::{str_field, u64_field};
use nightjar_tests::pg::{ident, literal};
use nightjar_tests::wait::{secs, until};
use nightjar_tests::{Nightjar, PgCluster, Snapshot};
use serde_json::Value;

/// The sample database plus what the shared fixture lacks for restores:
/// two extensions from contrib (citext, pgcrypto) used by a table, a
/// generated column calling an extension function, a second partitioned
/// table with a default partition, and database-level settings.
fn rich_sample(pg: &PgCluster, prefix: &str) -> String {
    let db = fixture::fresh_sample(pg, prefix);
    pg.psql(
        &db,
        "CREATE EXTENSION citext;
         CREATE EXTENSION pgcrypto;
         CREATE TABLE app.logins (
             email citext PRIMARY KEY,
             digest bytea GENERATED ALWAYS AS (digest(email::text, 'sha256')) STORED,
             note text);
         INSERT INTO app.logins (email, note) SELECT 'User' || g || '@Example.COM', 'вход ' || g FROM generate_series(1, 300) g;
         CREATE TABLE app.metrics (id bigint, region text NOT NULL, v numeric) PARTITION BY LIST (region);
         CREATE TABLE app.metrics_eu PARTITION OF app.metrics FOR VALUES IN ('eu');
         CREATE TABLE app.metrics_other PARTITION OF app.metrics DEFAULT;
         INSERT INTO app.metrics SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'ทวีป ' || (g % 5) END, g / 7.0 FROM generate_series(1, 500) g;",
    );
    db
}

/// Database names on the cluster containing `marker`.
fn databases_with(pg: &PgCluster, marker: &str) -> Vec<String> {
    let out = pg.psql("postgres", &format!("SELECT datname FROM pg_database WHERE strpos(datname, {}) > 0 ORDER BY 1", literal(marker)));
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn db_exists(pg: &PgCluster, db: &str) -> bool {
    pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = {}", literal(db))) == "1"
}

/// `nightjar backup --db … --dest …` and the file it wrote.
fn backup(nj: &Nightjar, pg: &PgCluster, db: &str, dest: &Path, format: &str, compress: &str) -> PathBuf {
    let out = nj
        .run(["backup", "--db", &pg.url(db), "--dest", &dest.display().to_string(), "--format", format, "--compress", compress, "--json"])
        .assert_success();
    PathBuf::from(str_field(&out.json(), "file"))
}

/// Changes that a restore must undo.
fn scribble(pg: &PgCluster, db: &str) {
    pg.psql(
        db,
        "UPDATE app.users SET name = 'изменено' WHERE id < 10;
         DELETE FROM app.logins WHERE note LIKE '%7';
         CREATE TABLE public.after_backup (x int); INSERT INTO public.after_backup VALUES (1);
         SELECT setval('app.invoice_no', 7);",
    );
}

fn restore_json(nj: &Nightjar, args: &[&str]) -> Value {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    all.extend(["--yes", "--json"]);
    nj.run(&all).assert_success().json()
}

#[test]
fn plain_backup_restores_by_replacing_creating_and_as_new() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = rich_sample(pg, "rt_plain");
    // Database-level properties pg_dump (without --create) does not carry.
    let owner = nightjar_tests::unique("rt_owner");
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE {o} NOLOGIN; ALTER DATABASE {d} OWNER TO {o}; ALTER DATABASE {d} SET work_mem = '7MB';
             ALTER DATABASE {d} SET search_path = \"it's\", \"a,b\", public;
             REVOKE ALL ON DATABASE {d} FROM PUBLIC; GRANT CONNECT ON DATABASE {d} TO {o}; ALTER DATABASE {d} CONNECTION LIMIT 50;
             COMMENT ON DATABASE {d} IS 'база магазина';",
            o = ident(&owner),
            d = ident(&db)
        ),
    );
    let db_props = |name: &str| {
        pg.psql(
            "postgres",
            &format!(
                "SELECT pg_get_userbyid(datdba) || ' ' || datacl::text || ' ' || datconnlimit || ' ' || shobj_description(oid, 'pg_database') \
                 FROM pg_database WHERE datname = {}",
                literal(name)
            ),
        )
        .replace(name, "<db>")
    };
    let props = db_props(&db);
    assert!(props.starts_with(&owner), "{props}");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let file = backup(&nj, pg, &db, &dest, "plain", "zstd");
    let original = Snapshot::take(pg, &db);
    scribble(pg, &db);
    let scribbled = Snapshot::take(pg, &db);

    // `--json` without `--yes`: the plan is the document, nothing is changed.
    let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--json"]).assert_failure();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let plan = out.json();
    assert_eq!((plan["database"].as_str(), plan["mode"].as_str()), (Some(db.as_str()), Some("replace")), "{plan}");
    assert!(out.error_line().contains("add --yes"), "{}", out.stderr);
    scribbled.assert_same(&Snapshot::take(pg, &db), "a plan changes nothing");

    // Replace: the database is the backup again; the replaced one is kept.
    let r = restore_json(&nj, &[&file.display().to_string(), "--db", &pg.url(&db)]);
    assert_eq!(str_field(&r, "mode"), "replace", "{r}");
    assert_eq!(str_field(&r, "checksum"), "verified", "{r}");
    original.assert_same(&Snapshot::take(pg, &db), "after `nightjar restore` (replace, plain zstd)");
    let kept = str_field(&r, "kept_as").to_string();
    assert!(kept.starts_with(&format!("{db}__before_restore_")), "{r}");
    scribbled.assert_same(&Snapshot::take(pg, &kept), "the kept copy is the database as it was before the restore");
    assert!(str_field(&r, "message").contains(&kept), "{r}");
    assert_eq!(pg.psql(&db, "SHOW work_mem"), "7MB", "database-level settings are carried over");
    assert_eq!(pg.psql(&db, "SHOW search_path"), "\"it's\", \"a,b\", public", "list settings are carried over element by element");
    assert_eq!(db_props(&db), props, "owner, privileges, connection limit and comment are carried over");
    assert!(databases_with(pg, &format!("{db}__nightjar_restore_")).is_empty());
    // The safety backup of an ad-hoc --db target lands beside the file.
    let safety = PathBuf::from(str_field(&r, "safety_backup"));
    assert_eq!(safety.parent(), Some(dest.as_path()));
    assert!(safety.file_name().unwrap().to_string_lossy().contains("_pre-restore."), "{}", safety.display());

    // As new: a new database equal to the backup; the target is not touched.
    pg.psql(&db, "INSERT INTO public.settings VALUES ('touched', NULL, NULL)");
    let before = Snapshot::take(pg, &db);
    let copy = format!("{db}_copy");
    let r = restore_json(&nj, &[&file.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy]);
    assert_eq!(str_field(&r, "mode"), "as-new");
    assert!(r.get("safety_backup").is_some_and(Value::is_null), "no safety backup when nothing is replaced: {r}");
    original.assert_same(&Snapshot::take(pg, &copy), "after `nightjar restore --as-new`");
    before.assert_same(&Snapshot::take(pg, &db), "--as-new leaves the target alone");
    // A second --as-new into the same name is refused, and changes nothing.
    let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy, "--yes"]).assert_failure();
    assert!(out.error_line().contains("already exists"), "{}", out.stderr);

    // Create: a database that does not exist yet is created.
    let created = format!("{db}_new");
    let r = restore_json(&nj, &[&file.display().to_string(), "--db", &pg.url(&created)]);
    assert_eq!(str_field(&r, "mode"), "create");
    original.assert_same(&Snapshot::take(pg, &created), "after `nightjar restore` into a missing database");

    // Kept databases are listed and dropped (only with --yes).
    let list = nj.run(["kept", "list", "--db", &pg.url(&db), "--json"]).assert_success().json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|k| str_field(k, "name")).collect();
    assert!(names.contains(&kept.as_str()), "{list}");
    let out = nj.run(["kept", "drop", &kept, "--db", &pg.url(&db)]).assert_failure();
    assert!(out.error_line().contains("--yes"), "{}", out.stderr);
    let out = nj.run(["kept", "drop", &db, "--db", &pg.url(&db), "--yes"]).assert_failure();
    assert!(out.error_line().contains("not a database Nightjar kept"), "{}", out.stderr);
    assert!(db_exists(pg, &db));
    let _ = nj.run(["kept", "drop", &kept, "--db", &pg.url(&db), "--yes"]).assert_success();
    assert!(!db_exists(pg, &kept));

    let rows = nj.history(None);
    let restores: Vec<&Value> = rows.iter().filter(|r| str_field(r, "kind") == "restore").collect();
    assert_eq!(restores.iter().filter(|r| str_field(r, "status") == "success").count(), 3, "{rows:?}");
    assert_eq!(restores.iter().filter(|r| str_field(r, "status") == "failed").count(), 1, "the refusal is recorded: {rows:?}");
}

#[test]
fn custom_format_job_latest_restore_takes_a_restorable_safety_backup() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = rich_sample(pg, "rt_custom");
    let dest = nj.scratch().join("job-dest");
    std::fs::create_dir(&dest).unwrap();
    nj.write_config(&job_toml("shop", &pg.url(&db), &dest, "format = \"custom\"\ncompression = \"gzip\""));
    let _ = nj.run(["backup", "--job", "shop"]).assert_success();
    let original = Snapshot::take(pg, &db);
    scribble(pg, &db);
    let scribbled = Snapshot::take(pg, &db);

    let r = restore_json(&nj, &["--job", "shop", "--latest"]);
    assert!(str_field(&r, "file").ends_with("_manual.dump.gz"), "{r}");
    original.assert_same(&Snapshot::take(pg, &db), "after `nightjar restore --job --latest` (custom, gzip)");

    // The safety backup is in the history as its own backup run, trigger pre-restore…
    let safety = PathBuf::from(str_field(&r, "safety_backup"));
    assert_eq!(safety.parent(), Some(dest.as_path()), "a job's safety backup goes to its destination");
    let rows = nj.history(Some("shop"));
    let pre: Vec<&Value> = rows.iter().filter(|r| str_field(r, "kind") == "backup" && str_field(r, "trigger") == "pre-restore").collect();
    assert_eq!(pre.len(), 1, "{rows:?}");
    assert_eq!(str_field(pre[0], "status"), "success");
    assert_eq!(str_field(pre[0], "file"), safety.display().to_string());
    assert_eq!(u64_field(&r, "safety_backup_run_id") as i64, pre[0]["id"].as_i64().unwrap());
    let restore_row = rows.iter().find(|r| str_field(r, "kind") == "restore").expect("a restore row");
    assert_eq!(str_field(restore_row, "status"), "success");
    assert_eq!(str_field(restore_row, "file"), str_field(&r, "file"));

    // …and it restores to what the database was just before the restore.
    let back = format!("{db}_safety");
    let _ = nj.run(["restore", &safety.display().to_string(), "--job", "shop", "--as-new", &back, "--yes"]).assert_success();
    scribbled.assert_same(&Snapshot::take(pg, &back), "the safety backup restored --as-new");

    // `list` still sees both backups; the restore deleted nothing.
    let list = nj.run(["list", "--job", "shop", "--json"]).assert_success().json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

/// A psql session connected to `db`, busy in a long sleep (its stdin is
/// kept open so it does not end by itself).
fn open_session(pg: &PgCluster, db: &str) -> (Child, ChildStdin) {
    let mut child = pg.psql_command(db).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start psql");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "SELECT pg_sleep(600);").unwrap();
    stdin.flush().unwrap();
    let count = || pg.psql("postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = {} AND application_name = 'psql'", literal(db)));
    until("the psql session to connect", secs(30), || (count() == "1").then_some(()));
    (child, stdin)
}

#[test]
fn sessions_on_the_target_are_closed_with_a_message_or_refused_with_no_terminate() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = pg.fresh_db("rt_sessions");
    fixture::build_plain_table(pg, &db, 200, 64, None);
    let dir = nj.scratch().join("b");
    std::fs::create_dir(&dir).unwrap();
    let file = backup(&nj, pg, &db, &dir, "plain", "zstd");
    pg.psql(&db, "INSERT INTO t VALUES (1000, 'after')");
    let changed = Snapshot::take(pg, &db);

    // --no-terminate: refused, naming who is connected; nothing changed.
    let (mut session, _stdin) = open_session(pg, &db);
    let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--no-terminate", "--no-safety-backup", "--yes"]).assert_failure();
    let line = out.error_line();
    assert!(line.contains("session") && line.contains("psql") && line.contains("--no-terminate"), "{line}");
    assert!(session.try_wait().unwrap().is_none(), "the session was left alone");
    changed.assert_same(&Snapshot::take(pg, &db), "a refused restore changes nothing");
    assert!(databases_with(pg, &format!("{db}__nightjar_restore_")).is_empty());
    assert!(databases_with(pg, &format!("{db}__before_restore_")).is_empty());

    // Default: the session is closed at the swap, and the message says so.
    let r = restore_json(&nj, &[&file.display().to_string(), "--db", &pg.url(&db), "--no-safety-backup"]);
    assert_eq!(u64_field(&r, "closed_connections"), 1, "{r}");
    let message = str_field(&r, "message");
    assert!(message.contains("Closed 1 connection") && message.contains("psql"), "{message}");
    until("the terminated psql to exit", secs(30), || session.try_wait().unwrap());
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM t"), "200");
}

#[test]
fn verify_checks_a_file_and_its_restore_test_marks_the_backup_verified() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = rich_sample(pg, "rt_verify");
    let dest = nj.scratch().join("job-dest");
    std::fs::create_dir(&dest).unwrap();
    nj.write_config(&job_toml("vshop", &pg.url(&db), &dest, ""));
    let record = nj.run(["backup", "--job", "vshop", "--json"]).assert_success().json();
    let file = str_field(&record, "file").to_string();

    // Checksum and decompression only: not marked verified.
    let v = nj.run(["verify", &file, "--json"]).assert_success().json();
    assert_eq!(str_field(&v, "checksum"), "verified");
    assert!(v["restore_test"].is_null() && v["verified_at"].is_null(), "{v}");
    let row = |nj: &Nightjar| nj.history(Some("vshop")).into_iter().find(|r| str_field(r, "kind") == "backup").expect("the backup row");
    assert!(row(&nj)["verified_at"].is_null());

    // The test restore loads a scratch database, counts rows, drops it, marks the row.
    let v = nj.run(["verify", &file, "--restore-test", "--db", &pg.url(&db), "--json"]).assert_success().json();
    let t = &v["restore_test"];
    let tables = t["tables"].as_array().unwrap();
    let rows_of = |schema: &str, table: &str| {
        tables.iter().find(|x| str_field(x, "schema") == schema && str_field(x, "table") == table).map(|x| u64_field(x, "rows"))
    };
    assert_eq!(rows_of("app", "users"), Some(3000), "{t}");
    assert_eq!(rows_of("app", "logins"), Some(300), "{t}");
    assert_eq!(rows_of("магазин", "Заказы"), Some(4000), "{t}");
    assert!(u64_field(t, "table_count") >= 15, "{t}");
    let scratch = str_field(t, "scratch_database");
    assert!(scratch.contains("__nightjar_verify_"), "{t}");
    assert!(!db_exists(pg, scratch), "the scratch database is dropped");
    assert!(v["verified_at"].is_string(), "{v}");
    let backup_row = row(&nj);
    assert!(backup_row["verified_at"].is_string(), "the backup's history row is marked verified: {backup_row}");
    assert_eq!(backup_row["id"], v["backup_run_id"]);
    let verifies = nj.history(Some("vshop")).into_iter().filter(|r| str_field(r, "kind") == "verify" && str_field(r, "status") == "success").count();
    assert_eq!(verifies, 2);

    // The human output prints the counts.
    let out = nj.run(["verify", &file, "--restore-test", "--db", &pg.url(&db)]).assert_success();
    assert!(out.stdout.contains("app.users") && out.stdout.contains("3000 rows"), "{}", out.stdout);
}
