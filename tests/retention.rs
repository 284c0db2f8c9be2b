//! Retention through the CLI (`nightjar prune`, and the prune after each
//! backup): only this job's backups (name pattern + manifest) are ever
//! candidates, the newest good backup is never deleted, foreign files are
//! untouched, the tiers pick per calendar day, and nothing is deleted after
//! a failed run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nightjar_tests::backup::{check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::file_names;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::{unique, Nightjar, PgCluster};
use serde_json::Value;

fn small_db(pg: &PgCluster) -> String {
    let db = pg.fresh_db("ret");
    build_plain_table(pg, &db, 50, 64, None);
    db
}

fn backup(nj: &Nightjar, job: &str, dest: &Path) -> PathBuf {
    let out = nj.run(["backup", "--job", job, "--json"]).assert_success();
    check_finished_backup(&out.json(), dest, job)
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Copies a real backup of `template_job` to `<dir>/<new_name>` with a
/// manifest naming `manifest_job` and the new file (same content, so the
/// same sha256 and size): a backup "taken" at the time in its name.
fn craft(template: &Path, dir: &Path, new_name: &str, manifest_job: &str) {
    std::fs::copy(template, dir.join(new_name)).unwrap();
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(format!("{}.json", template.display())).unwrap()).unwrap();
    m["file"] = Value::String(new_name.to_string());
    m["job"] = Value::String(manifest_job.to_string());
    std::fs::write(dir.join(format!("{new_name}.json")), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// `YYYY-MM-DD_HH-mm-ss` (UTC, the jobs' time zone here) `hours` ago.
///
/// Tests make one real backup per job and craft the others at earlier
/// times: two real backups within one second would get names a second
/// apart, one of them "in the future" (see the note in the report).
fn stamp_ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).format("%Y-%m-%d_%H-%M-%S").to_string()
}

fn prune_json(nj: &Nightjar, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["prune", "--json"];
    all.extend_from_slice(args);
    let out = nj.run(&all).assert_success();
    out.json().as_array().unwrap_or_else(|| panic!("prune --json prints an array: {}", out.stdout)).clone()
}

fn decisions(report: &Value) -> Vec<(String, bool)> {
    report["plan"]["decisions"]
        .as_array()
        .unwrap_or_else(|| panic!("plan.decisions in {report}"))
        .iter()
        .map(|d| (str_field(d, "name").to_string(), d["keep"].as_bool().expect("keep")))
        .collect()
}

fn names_of(report: &Value, key: &str) -> BTreeSet<String> {
    report[key].as_array().unwrap_or_else(|| panic!("{key} in {report}")).iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(ToString::to_string).collect()
}

#[test]
fn prune_touches_only_this_jobs_backups_and_keeps_the_newest() {
    let pg = PgCluster::shared();
    let db = small_db(pg);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("OneDrive-Backups");
    let config = |ret: &str| {
        format!("{}{}", job_toml("ret", &pg.url(&db), &dest, &format!("[job.retention]\n{ret}\n")), job_toml("other", &pg.url(&db), &dest, ""))
    };
    nj.write_config(&config("keep_days = 7\nkeep_last = 0"));
    let real = backup(&nj, "ret", &dest);
    let other = backup(&nj, "other", &dest);
    let mut ours: Vec<String> = [3, 2].iter().map(|h| format!("ret_{}_manual.sql.zst", stamp_ago(*h))).collect();
    for n in &ours {
        craft(&real, &dest, n, "ret");
    }
    ours.push(name(&real));

    // Foreign files: a note, a look-alike without manifest, a look-alike whose
    // manifest belongs to another job, an old file of another job.
    std::fs::write(dest.join("notes.txt"), "my notes\n").unwrap();
    std::fs::write(dest.join("ret_2020-01-01_00-00-00_manual.sql.zst"), b"not a nightjar backup").unwrap();
    craft(&other, &dest, "ret_2020-01-02_00-00-00_manual.sql.zst", "other");
    craft(&other, &dest, "other_2020-01-02_00-00-00.sql.zst", "other");
    // And one old backup that IS ours: keep_days = 7 lets it go.
    craft(&real, &dest, "ret_2020-01-03_00-00-00_manual.sql.zst", "ret");
    let before = file_names(&dest);

    let dry = prune_json(&nj, &["--job", "ret", "--dry-run"]);
    assert_eq!(dry.len(), 1, "{dry:?}");
    assert_eq!(dry[0]["dry_run"], Value::Bool(true));
    assert!(names_of(&dry[0], "deleted").is_empty(), "a dry run deletes nothing");
    let plan = decisions(&dry[0]);
    let planned: BTreeSet<String> = plan.iter().map(|(n, _)| n.clone()).collect();
    let mut expect: BTreeSet<String> = ours.iter().cloned().collect();
    expect.insert("ret_2020-01-03_00-00-00_manual.sql.zst".into());
    assert_eq!(planned, expect, "only this job's backups (name + manifest) are in the plan");
    for (n, keep) in &plan {
        assert_eq!(*keep, !n.starts_with("ret_2020"), "{n}: keep = {keep}");
    }
    assert_eq!(file_names(&dest), before, "--dry-run changed nothing");

    let done = prune_json(&nj, &["--job", "ret"]);
    assert_eq!(names_of(&done[0], "deleted"), set(&["ret_2020-01-03_00-00-00_manual.sql.zst"]));
    let mut after = before.clone();
    after.retain(|n| !n.starts_with("ret_2020-01-03"));
    assert_eq!(file_names(&dest), after, "the old backup and its manifest are gone, nothing else");

    // keep_last = 1 and no day rule: only the newest of ours is left.
    nj.write_config(&config("keep_days = 0\nkeep_last = 1"));
    let done = prune_json(&nj, &["--job", "ret"]);
    assert_eq!(names_of(&done[0], "deleted"), set(&[&ours[0], &ours[1]]));
    let left = file_names(&dest);
    assert!(left.contains(&ours[2]) && left.contains(&format!("{}.json", ours[2])), "the newest backup is kept: {left:?}");
    for foreign in [
        "notes.txt",
        "ret_2020-01-01_00-00-00_manual.sql.zst",
        "ret_2020-01-02_00-00-00_manual.sql.zst",
        "ret_2020-01-02_00-00-00_manual.sql.zst.json",
        "other_2020-01-02_00-00-00.sql.zst",
        "other_2020-01-02_00-00-00.sql.zst.json",
    ] {
        assert!(left.contains(&foreign.to_string()), "{foreign} is untouched: {left:?}");
    }
    assert!(left.contains(&name(&other)), "the other job's backup is untouched");
    assert_eq!(std::fs::read_to_string(dest.join("notes.txt")).unwrap(), "my notes\n");

    let listed = nj.run(["list", "--job", "ret", "--json"]).assert_success().json();
    let listed = listed.as_array().expect("list --json prints an array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(str_field(&listed[0], "name"), ours[2]);
    assert_eq!(listed[0]["size_matches"], Value::Bool(true));
}

#[test]
fn prune_by_folder_with_keep_last_keeps_each_jobs_newest() {
    let pg = PgCluster::shared();
    let db = small_db(pg);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("folder");
    nj.write_config(&format!("{}{}", job_toml("alpha", &pg.url(&db), &dest, ""), job_toml("beta", &pg.url(&db), &dest, "")));
    let a_real = backup(&nj, "alpha", &dest);
    let a = [format!("alpha_{}.sql.zst", stamp_ago(1)), name(&a_real)];
    craft(&a_real, &dest, &a[0], "alpha");
    let b = name(&backup(&nj, "beta", &dest));
    std::fs::write(dest.join("alpha_2019-05-05_05-05-05.sql.zst"), b"look-alike, no manifest").unwrap();
    let d = dest.display().to_string();

    let dry = prune_json(&nj, &["--dest", &d, "--keep-last", "1", "--dry-run"]);
    let plans: BTreeSet<String> = dry.iter().map(|r| str_field(r, "job").to_string()).collect();
    assert_eq!(plans, set(&["alpha", "beta"]), "{dry:?}");
    assert!(dry.iter().all(|r| names_of(r, "deleted").is_empty()));
    let before = file_names(&dest);

    let done = prune_json(&nj, &["--dest", &d, "--keep-last", "1"]);
    let deleted: BTreeSet<String> = done.iter().flat_map(|r| names_of(r, "deleted")).collect();
    assert_eq!(deleted, set(&[&a[0]]), "only alpha's older backup goes");
    let mut expect = before;
    expect.retain(|n| !n.starts_with(&a[0]));
    assert_eq!(file_names(&dest), expect);
    assert!(file_names(&dest).contains(&b));
}

#[test]
fn tiers_keep_the_newest_backup_of_each_day_and_the_newest_overall() {
    let pg = PgCluster::shared();
    let db = small_db(pg);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("tiers");
    nj.write_config(&job_toml("tier", &pg.url(&db), &dest, "[job.retention]\nkeep_days = 0\nkeep_last = 0\n"));
    let real = backup(&nj, "tier", &dest);
    let crafted = [
        "tier_2020-01-01_10-00-00.sql.zst",
        "tier_2020-01-01_12-00-00.sql.zst",
        "tier_2020-01-02_09-00-00.sql.zst",
        "tier_2020-01-03_09-00-00_manual.sql.zst",
        "tier_2020-01-03_18-00-00.sql.zst",
    ];
    for c in crafted {
        craft(&real, &dest, c, "tier");
    }
    std::fs::remove_file(&real).unwrap();
    std::fs::remove_file(format!("{}.json", real.display())).unwrap();

    // daily = 2: the newest of each of the two newest days that have backups.
    nj.write_config(&job_toml("tier", &pg.url(&db), &dest, "[job.retention]\nkeep_days = 0\ndaily = 2\n"));
    let done = prune_json(&nj, &["--job", "tier"]);
    assert_eq!(
        names_of(&done[0], "deleted"),
        set(&["tier_2020-01-01_10-00-00.sql.zst", "tier_2020-01-01_12-00-00.sql.zst", "tier_2020-01-03_09-00-00_manual.sql.zst"])
    );
    let left: Vec<String> = file_names(&dest).into_iter().filter(|n| !n.ends_with(".json")).collect();
    assert_eq!(left, vec!["tier_2020-01-02_09-00-00.sql.zst".to_string(), "tier_2020-01-03_18-00-00.sql.zst".to_string()]);

    // keep_days = 1: every backup is years old, yet the newest is never deleted.
    nj.write_config(&job_toml("tier", &pg.url(&db), &dest, "[job.retention]\nkeep_days = 1\n"));
    let done = prune_json(&nj, &["--job", "tier"]);
    assert_eq!(names_of(&done[0], "deleted"), set(&["tier_2020-01-02_09-00-00.sql.zst"]));
    let kept: Vec<&Value> = done[0]["plan"]["decisions"].as_array().unwrap().iter().filter(|d| d["keep"] == Value::Bool(true)).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(str_field(kept[0], "name"), "tier_2020-01-03_18-00-00.sql.zst");
    let reasons = kept[0]["reasons"].to_string();
    assert!(reasons.contains("newest"), "the reason says it is the newest: {reasons}");
    assert_eq!(
        file_names(&dest),
        vec!["tier_2020-01-03_18-00-00.sql.zst".to_string(), "tier_2020-01-03_18-00-00.sql.zst.json".to_string()]
    );
}

#[test]
fn nothing_is_deleted_after_a_failed_backup() {
    let pg = PgCluster::shared();
    let role = unique("ret_role");
    pg.create_role(&role, "good-pw");
    let db = unique("retfail");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""));
    build_plain_table(pg, &db, 50, 64, Some(&role));
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let url = pg.url_as(&role, &db);
    let with_policy = |ret: &str| job_toml("keep1", &url, &dest, &format!("[job.retention]\n{ret}\n"));
    nj.write_config(&with_policy("keep_days = 7"));
    let run = |pw: &str| nj.cmd(["backup", "--job", "keep1", "--json"]).env("PGPASSWORD", pw).run();
    let out = run("good-pw").assert_success();
    let real = check_finished_backup(&out.json(), &dest, "keep1");
    let made: Vec<String> = [3, 2, 1].iter().map(|h| format!("keep1_{}_manual.sql.zst", stamp_ago(*h))).collect();
    for n in &made {
        craft(&real, &dest, n, "keep1");
    }
    // And an old one, so a day rule would want it gone as well.
    craft(&real, &dest, "keep1_2021-06-01_00-00-00_manual.sql.zst", "keep1");
    std::fs::remove_file(&real).unwrap();
    std::fs::remove_file(format!("{}.json", real.display())).unwrap();
    let before = file_names(&dest);

    nj.write_config(&with_policy("keep_days = 0\nkeep_last = 1"));
    let out = run("wrong-pw").assert_failure();
    assert!(out.error_line().contains("password"), "{}", out.stderr);
    check_failed_run(&nj.history(Some("keep1")), "auth", "password");
    assert_eq!(file_names(&dest), before, "a failed run deletes nothing");

    let out = run("good-pw").assert_success();
    let record = out.json();
    let newest = name(&check_finished_backup(&record, &dest, "keep1"));
    let pruned: BTreeSet<String> = record["pruned"].as_array().expect("pruned").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let mut expect: BTreeSet<String> = made.iter().cloned().collect();
    expect.insert("keep1_2021-06-01_00-00-00_manual.sql.zst".into());
    assert_eq!(pruned, expect, "after a good run, retention applies");
    assert_eq!(file_names(&dest), vec![newest.clone(), format!("{newest}.json")]);
}
