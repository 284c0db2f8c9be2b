//! Round trips through the real `nightjar backup`: every format × compression
//! combination of the sample database, restored with stock tools only into a
//! fresh database and compared table by table and schema by schema; selected
//! tables and schemas; the `--json` record.

use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDateTime;
use nightjar_tests::backup::{check_finished_backup, job_toml};
use nightjar_tests::fixture::{self, shared_sample};
use nightjar_tests::nightjar::{str_field, u64_field};
use nightjar_tests::restore::{restore_with_stock_tools, Recipe};
use nightjar_tests::{Nightjar, PgCluster, Snapshot};
use serde_json::Value;

fn original() -> &'static Snapshot {
    static SNAP: OnceLock<Snapshot> = OnceLock::new();
    SNAP.get_or_init(|| Snapshot::take(PgCluster::shared(), shared_sample()))
}

/// `<job>_<YYYY-MM-DD_HH-mm-ss>_manual.<ext>`
#[track_caller]
fn assert_manual_name(name: &str, job: &str, ext: &str) {
    let rest = name.strip_prefix(&format!("{job}_")).unwrap_or_else(|| panic!("{name} starts with {job}_"));
    let (stamp, rest) = rest.split_at(19);
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d_%H-%M-%S").unwrap_or_else(|e| panic!("{name}: bad time stamp {stamp}: {e}"));
    assert_eq!(rest, format!("_manual.{ext}"), "{name}");
}

fn round_trip(format: Option<&str>, compression: Option<&str>, ext: &str, recipe: Recipe) {
    let pg = PgCluster::shared();
    let src = shared_sample();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let mut args = vec!["backup".to_string(), "--db".into(), pg.url(src), "--dest".into(), dest.display().to_string(), "--json".into()];
    if let Some(f) = format {
        args.extend(["--format".into(), f.into()]);
    }
    if let Some(c) = compression {
        args.extend(["--compress".into(), c.into()]);
    }
    let out = nj.run(&args).assert_success();
    let record = out.json();
    let file = check_finished_backup(&record, &dest, src);
    assert_manual_name(str_field(&record, "name"), src, ext);
    assert_eq!(Recipe::for_file(&file), recipe);
    let m = nightjar_tests::backup::manifest(&file);
    assert_eq!(str_field(&m, "database"), src);
    assert_eq!(str_field(&m, "format"), format.unwrap_or("plain"));
    assert_eq!(str_field(&m, "compression"), compression.unwrap_or("zstd"));
    assert_eq!(u64_field(&m, "dump_size"), u64_field(&record, "dump_size"));

    let target = pg.fresh_db("restored");
    let how = restore_with_stock_tools(pg, &file, &target);
    let restored = Snapshot::take(pg, &target);
    original().assert_same(&restored, &format!("backup restored with `{how}`"));
}

#[test]
fn plain_zstd_is_the_default_and_restores_with_zstd_and_psql() {
    round_trip(None, None, "sql.zst", Recipe::ZstdPsql);
}

#[test]
fn plain_gzip_restores_with_gzip_and_psql() {
    round_trip(Some("plain"), Some("gzip"), "sql.gz", Recipe::GzipPsql);
}

#[test]
fn plain_uncompressed_restores_with_psql_f() {
    round_trip(Some("plain"), Some("none"), "sql", Recipe::PsqlFile);
}

#[test]
fn custom_zstd_restores_with_zstd_and_pg_restore() {
    round_trip(Some("custom"), Some("zstd"), "dump.zst", Recipe::ZstdPgRestore);
}

#[test]
fn custom_gzip_restores_with_gzip_and_pg_restore() {
    round_trip(Some("custom"), Some("gzip"), "dump.gz", Recipe::GzipPgRestore);
}

#[test]
fn custom_uncompressed_restores_with_pg_restore_d() {
    round_trip(Some("custom"), Some("none"), "dump", Recipe::PgRestoreFile);
}

#[test]
fn selected_tables_only() {
    let pg = PgCluster::shared();
    let src = shared_sample();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("tables");
    let out = nj
        .run(["backup", "--db", &pg.url(src), "--dest", &dest.display().to_string(), "--tables", "public.settings,public.\"Счета\"", "--json"])
        .assert_success();
    let file = check_finished_backup(&out.json(), &dest, src);
    let target = pg.fresh_db("tables_only");
    restore_with_stock_tools(pg, &file, &target);
    let restored = Snapshot::take(pg, &target);
    original().assert_subset(&restored, &["public.settings", "public.Счета"], "--tables public.settings,public.\"Счета\"");
    assert!(restored.large_objects.is_empty(), "a table selection carries no large objects");
}

#[test]
fn selected_schemas_only_from_the_config() {
    let pg = PgCluster::shared();
    let src = shared_sample();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("schemas");
    nj.write_config(&job_toml(
        "shop-th",
        &pg.url(src),
        &dest,
        "format = \"custom\"\nschemas = [\"ร้านค้า\", \"emoji_😀\"]\n",
    ));
    let out = nj.run(["backup", "--job", "shop-th", "--json"]).assert_success();
    let file = check_finished_backup(&out.json(), &dest, "shop-th");
    let target = pg.fresh_db("schemas_only");
    restore_with_stock_tools(pg, &file, &target);
    let restored = Snapshot::take(pg, &target);
    original().assert_subset(&restored, &["ร้านค้า.สินค้า", "emoji_😀.таблица 🎉"], "schemas = [ร้านค้า, emoji_😀]");
}

#[test]
fn excluded_table_is_left_out() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("exclude");
    let _ = pg.psql(
        &db,
        "CREATE TABLE keep_me (id int PRIMARY KEY, v text); INSERT INTO keep_me VALUES (1, 'да'), (2, NULL);\n\
         CREATE TABLE \"Кэш\" (id int, blob bytea); INSERT INTO \"Кэш\" SELECT g, '\\xdeadbeef' FROM generate_series(1, 50) g;",
    );
    let nj = Nightjar::new();
    let dest = nj.scratch().join("excl");
    nj.write_config(&job_toml("excl", &pg.url(&db), &dest, "exclude_tables = ['public.\"Кэш\"']\n"));
    let out = nj.run(["backup", "--job", "excl", "--json"]).assert_success();
    let file = check_finished_backup(&out.json(), &dest, "excl");
    let target = pg.fresh_db("excl_restored");
    restore_with_stock_tools(pg, &file, &target);
    let restored = Snapshot::take(pg, &target);
    Snapshot::take(pg, &db).assert_subset(&restored, &["public.keep_me"], "exclude_tables = [public.\"Кэш\"]");
}

#[test]
fn backup_json_is_one_record_per_job_and_an_array_for_several() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("jsonshape");
    fixture::build_plain_table(pg, &db, 200, 100, None);
    let nj = Nightjar::new();
    let a = nj.scratch().join("a");
    let b = nj.scratch().join("b");
    nj.write_config(&format!(
        "{}{}{}",
        job_toml("job-a", &pg.url(&db), &a, ""),
        job_toml("job-b", &pg.url(&db), &b, "compression = \"gzip\"\nformat = \"custom\"\n"),
        job_toml("job-off", &pg.url(&db), &nj.scratch().join("off"), "enabled = false\n"),
    ));

    let one = nj.run(["backup", "--job", "job-a", "--json"]).assert_success().json();
    assert!(one.is_object(), "one job: one JSON object, got {one}");
    for key in ["file", "name", "size", "sha256", "status", "duration_ms", "job", "dump_size", "pruned"] {
        assert!(one.get(key).is_some(), "`backup --json` has `{key}`: {one}");
    }
    assert_eq!(str_field(&one, "sha256").len(), 64);
    assert!(str_field(&one, "sha256").chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(one["pruned"].is_array());
    check_finished_backup(&one, &a, "job-a");

    let all = nj.run(["backup", "--json"]).assert_success().json();
    let rows = all.as_array().unwrap_or_else(|| panic!("several jobs: a JSON array, got {all}"));
    let jobs: Vec<&str> = rows.iter().map(|r| str_field(r, "job")).collect();
    assert_eq!(jobs.len(), 2, "the enabled jobs ran, the disabled one did not: {jobs:?}");
    assert!(jobs.contains(&"job-a") && jobs.contains(&"job-b"), "{jobs:?}");
    for r in rows {
        let job = str_field(r, "job");
        check_finished_backup(r, if job == "job-a" { &a } else { &b }, job);
    }
    assert!(!Path::new(&nj.scratch().join("off")).exists(), "the disabled job wrote nothing");
    let b_file = rows.iter().find(|r| str_field(r, "job") == "job-b").map(|r| str_field(r, "file")).unwrap();
    assert!(b_file.ends_with(".dump.gz"), "{b_file}");
    let history = nj.history(None);
    let successes = history.iter().filter(|r| r.get("status").and_then(Value::as_str) == Some("success")).count();
    assert_eq!(successes, 3, "three successful runs in the history: {history:?}");

    // `status --json` shows every job, with the last result of those that ran.
    let status = nj.run(["status", "--json"]).assert_success().json();
    let jobs = status["jobs"].as_array().unwrap_or_else(|| panic!("status --json has a `jobs` array: {status}"));
    assert_eq!(jobs.len(), 3, "{status}");
    for name in ["job-a", "job-b", "job-off"] {
        assert!(jobs.iter().any(|j| j.to_string().contains(&format!("\"{name}\""))), "status lists {name}: {status}");
    }
}
