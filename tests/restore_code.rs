//! A backup is data, never code. Someone who can write into a synced
//! folder edits a plain backup: drops pg_dump's `\restrict` pair, plants a
//! psql command (`\! touch MARKER`, `\connect other`, or one behind SQL on
//! the same line), recompresses it and rewrites the manifest's sha256 and
//! size. Even with `--trust-file` (the file is not one this Nightjar made),
//! `nightjar restore` and `nightjar verify --restore-test` refuse it,
//! naming the line, before anything is touched: the marker file never
//! appears, no database is created, the other database is unchanged, and
//! the refusal is in the history.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nightjar_tests::fixture;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::pg::literal;
use nightjar_tests::{Nightjar, PgCluster, Snapshot};
use serde_json::Value;

fn databases_with(pg: &PgCluster, marker: &str) -> Vec<String> {
    let out = pg.psql("postgres", &format!("SELECT datname FROM pg_database WHERE strpos(datname, {}) > 0 ORDER BY 1", literal(marker)));
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn zstd(args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("zstd").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("zstd");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    w.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

/// A copy of `good` named like it in `dir`, with `edit` applied to its SQL,
/// recompressed, and a manifest whose sha256 and size match the new bytes.
fn planted(good: &Path, dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let sql = String::from_utf8(zstd(&["-dc"], &std::fs::read(good).unwrap())).unwrap();
    // pg_dump's own pair goes, as an attacker would remove it.
    let without: String = sql.lines().filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")).map(|l| format!("{l}\n")).collect();
    let edited = edit(&without);
    assert_ne!(edited, without, "the edit changed the script");
    let bytes = zstd(&["-q", "-c", "-3"], edited.as_bytes());
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join(good.file_name().unwrap());
    std::fs::write(&file, &bytes).unwrap();
    let mut m: Value = serde_json::from_slice(&std::fs::read(format!("{}.json", good.display())).unwrap()).unwrap();
    let sha = Command::new("sha256sum").arg(&file).output().unwrap();
    m["sha256"] = Value::String(String::from_utf8_lossy(&sha.stdout).split_whitespace().next().unwrap().to_string());
    m["size"] = Value::from(bytes.len() as u64);
    std::fs::write(format!("{}.json", file.display()), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    file
}

/// Inserts `line` after pg_dump's block of `SET` statements.
fn after_set_block(sql: &str, line: &str) -> String {
    let at = sql.find("SELECT pg_catalog.set_config('search_path'").expect("pg_dump's search_path line");
    let end = at + sql[at..].find('\n').unwrap() + 1;
    format!("{}{line}\n{}", &sql[..end], &sql[end..])
}

/// The 1-based line of the first line of `file`'s SQL containing `needle`.
fn line_of(file: &Path, needle: &str) -> usize {
    let sql = String::from_utf8(zstd(&["-dc"], &std::fs::read(file).unwrap())).unwrap();
    sql.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn planted_psql_commands_never_run_and_nothing_is_touched() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "planted");
    let other = pg.fresh_db("planted_other");
    pg.psql(&other, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('untouched')");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let out = nj.run(["backup", "--db", &pg.url(&db), "--dest", &dest.display().to_string(), "--format", "plain", "--json"]).assert_success();
    let good = PathBuf::from(str_field(&out.json(), "file"));
    let before = Snapshot::take(pg, &db);
    let other_before = Snapshot::take(pg, &other);
    let marker = nj.scratch().join("MARKER");
    let touch = format!("\\! touch {}", marker.display());

    let cases = [
        ("shell", planted(&good, &nj.scratch().join("shell"), |s| after_set_block(s, &touch)), "\\!", touch.clone()),
        (
            "connect",
            planted(&good, &nj.scratch().join("connect"), |s| after_set_block(s, &format!("\\connect {other}\nDROP TABLE kept;"))),
            "\\connect",
            "\\connect".to_string(),
        ),
        (
            "mid-line",
            planted(&good, &nj.scratch().join("midline"), |s| after_set_block(s, &format!("SELECT 1; {touch}"))),
            "\\!",
            "SELECT 1; \\!".to_string(),
        ),
        (
            "after COPY data",
            planted(&good, &nj.scratch().join("aftercopy"), |s| s.replacen("\n\\.\n", &format!("\n\\.\n{touch}\n"), 1)),
            "\\!",
            touch.clone(),
        ),
    ];
    for (what, file, command, needle) in &cases {
        let line = line_of(file, needle);
        let copy = format!("{db}_copy");
        let r = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy, "--trust-file", "--yes"]).assert_failure();
        let err = r.error_line();
        assert!(
            err.contains(&format!("line {line}: the psql command {command} is not allowed in a backup; nothing was changed")),
            "{what}: {err}"
        );
        assert!(err.contains(&file.display().to_string()), "{what}: the message names the file: {err}");
        assert!(!marker.exists(), "{what}: the planted command ran");
        assert!(databases_with(pg, &copy).is_empty(), "{what}: a database was created");
        assert!(databases_with(pg, &format!("{db}__nightjar_")).is_empty(), "{what}: a temporary database was created");

        // Replacing the database itself: refused before the safety backup.
        let r = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--trust-file", "--yes"]).assert_failure();
        assert!(r.error_line().contains(&format!("line {line}: the psql command {command}")), "{what}: {}", r.error_line());
        before.assert_same(&Snapshot::take(pg, &db), "the target is untouched");
        other_before.assert_same(&Snapshot::take(pg, &other), "the other database is untouched");
        assert!(!marker.exists(), "{what}: the planted command ran");
        assert!(databases_with(pg, &format!("{db}__")).is_empty(), "{what}: a temporary or kept database was created");

        // A test restore refuses it too, and so does a plain verify.
        let r = nj.run(["verify", &file.display().to_string(), "--restore-test", "--db", &pg.url(&db), "--trust-file"]).assert_failure();
        assert!(r.error_line().contains(&format!("line {line}: the psql command {command}")), "{what}: {}", r.error_line());
        assert!(databases_with(pg, &format!("{db}__nightjar_verify")).is_empty(), "{what}: a scratch database was created");
        let r = nj.run(["verify", &file.display().to_string()]).assert_failure();
        assert!(r.error_line().contains("is not allowed in a backup"), "{what}: {}", r.error_line());
        assert!(!marker.exists(), "{what}: the planted command ran");
    }
    let safety: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pre-restore"))
        .collect();
    assert!(safety.is_empty(), "no safety backup was taken: {safety:?}");
    // Every refusal is in the history.
    let refused = nj.history(None).into_iter().filter(|r| str_field(r, "status") == "failed" && str_field(r, "kind") != "backup").count();
    assert_eq!(refused, cases.len() * 4, "each refusal is recorded");

    // The untouched backup, with pg_dump's own \restrict pair, restores.
    let copy = format!("{db}_good");
    let _ = nj.run(["restore", &good.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy, "--yes"]).assert_success();
    Snapshot::take(pg, &db).assert_same(&Snapshot::take(pg, &copy), "the good backup restores");
    pg.psql("postgres", &format!("DROP DATABASE \"{copy}\""));
}
