//! Authenticated backups: a restore runs a file as SQL with the rights of
//! the role it connects as, so only files this Nightjar made restore
//! without a word. A backup of this installation restores as it is (found
//! in the history, even without its manifest; or by its signed manifest
//! when the history does not know it). A tampered backup (content changed,
//! recompressed, the manifest's sha256 and size rewritten, its signature
//! left or removed), a backup of another installation and a dump made by
//! hand are "not made by this Nightjar": the plan says so, the restore and
//! the test restore refuse them before anything is touched (recorded in
//! the history), and `--trust-file` restores them. A plain `verify` runs
//! nothing and needs no acknowledgement.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nightjar_tests::fixture;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::pg::{literal, PORT};
use nightjar_tests::{file_names, Nightjar, PgCluster, Snapshot};
use serde_json::Value;

const NOT_OURS: &str = "was not made by this Nightjar: it runs as SQL with the rights of role \"postgres\"";

fn databases_with(pg: &PgCluster, marker: &str) -> Vec<String> {
    let out = pg.psql("postgres", &format!("SELECT datname FROM pg_database WHERE strpos(datname, {}) > 0 ORDER BY 1", literal(marker)));
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Temporary, kept and scratch databases of restores into `db`.
fn leftovers(pg: &PgCluster, db: &str) -> Vec<String> {
    let mut v = databases_with(pg, &format!("{db}__nightjar_restore_"));
    v.extend(databases_with(pg, &format!("{db}__before_restore_")));
    v.extend(databases_with(pg, &format!("{db}__nightjar_verify_")));
    v
}

fn db_exists(pg: &PgCluster, db: &str) -> bool {
    pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = {}", literal(db))) == "1"
}

fn backup(nj: &Nightjar, pg: &PgCluster, db: &str, dest: &Path) -> PathBuf {
    let out = nj.run(["backup", "--db", &pg.url(db), "--dest", &dest.display().to_string(), "--json"]).assert_success();
    PathBuf::from(str_field(&out.json(), "file"))
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

fn sha256_hex(path: &Path) -> String {
    nightjar_tests::sha256sum(path)
}

fn manifest_of(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.json", file.display()))
}

fn read_manifest(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(manifest_of(file)).unwrap()).unwrap()
}

/// Writes `sql` compressed to `to` and a manifest copied from `like`'s with
/// the new sha256 and size (as someone without the key would); `hmac`:
/// keep the old tag or drop it.
fn tamper(like: &Path, sql: &str, to: &Path, keep_hmac: bool) {
    std::fs::write(to, zstd(&["-q", "-c", "-3"], sql.as_bytes())).unwrap();
    let mut m = read_manifest(like);
    assert!(m["hmac"].as_str().is_some_and(|h| h.len() == 64), "a backup's manifest carries its tag: {m}");
    m["file"] = Value::String(to.file_name().unwrap().to_string_lossy().into_owned());
    m["sha256"] = Value::String(sha256_hex(to));
    m["size"] = Value::from(std::fs::metadata(to).unwrap().len());
    if !keep_hmac {
        m.as_object_mut().unwrap().remove("hmac");
    }
    std::fs::write(manifest_of(to), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// The plain SQL of `file` with a table `public.planted` created just
/// before pg_dump's closing line.
fn planted_sql(file: &Path) -> String {
    let plain = String::from_utf8(zstd(&["-dc"], &std::fs::read(file).unwrap())).unwrap();
    let at = plain.rfind("--\n-- PostgreSQL database dump complete").expect("pg_dump's closing comment");
    format!("{}CREATE TABLE public.planted (x int);\n\n{}", &plain[..at], &plain[at..])
}

fn newest(rows: &[Value], kind: &str) -> Value {
    rows.iter().filter(|r| str_field(r, "kind") == kind).max_by_key(|r| r["id"].as_i64().unwrap()).cloned().unwrap_or_else(|| panic!("no {kind} row in {rows:?}"))
}

#[test]
fn this_installations_backups_restore_without_acknowledgement() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "trust_own");
    let dest = nj.scratch().join("backups");
    let file = backup(&nj, pg, &db, &dest);
    let original = Snapshot::take(pg, &db);
    let m = read_manifest(&file);
    assert!(m["hmac"].as_str().is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())), "{m}");
    // NIGHTJAR_KEYRING=off: the key is a private file in the data folder.
    let key = nj.data_dir().join("manifest.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).expect("the key file").permissions()) & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());

    // In the history: restores with no acknowledgement; the plan says why.
    let copy = format!("{db}_own");
    let r = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy, "--yes", "--json"]).assert_success().json();
    assert_eq!(r["trust"]["origin"], "in-history", "{r}");
    original.assert_same(&Snapshot::take(pg, &copy), "restored from this installation's backup");

    // Its manifest deleted: the history still knows the file.
    std::fs::remove_file(manifest_of(&file)).unwrap();
    let copy2 = format!("{db}_nomanifest");
    let r = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy2, "--yes", "--json"]).assert_success().json();
    assert_eq!(r["trust"]["origin"], "in-history", "{r}");
    assert!(db_exists(pg, &copy2));
    let v = nj.run(["verify", &file.display().to_string(), "--restore-test", "--db", &pg.url(&db), "--json"]).assert_success().json();
    assert_eq!(v["trust"]["origin"], "in-history", "{v}");
    assert!(!v["verified_at"].is_null(), "the backup is marked verified: {v}");

    // The history gone, the signed manifest still vouches for a second backup.
    let second = backup(&nj, pg, &db, &dest);
    for f in ["history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"] {
        let _ = std::fs::remove_file(nj.data_dir().join(f));
    }
    let copy3 = format!("{db}_signed");
    let r = nj.run(["restore", &second.display().to_string(), "--db", &pg.url(&db), "--as-new", &copy3, "--yes", "--json"]).assert_success().json();
    assert_eq!(r["trust"]["origin"], "authentic-manifest", "{r}");
    assert!(db_exists(pg, &copy3));
    assert!(leftovers(pg, &db).is_empty(), "{:?}", leftovers(pg, &db));
}

#[test]
fn a_tampered_backup_is_refused_before_anything_is_touched_and_restores_with_trust_file() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "trust_tampered");
    let dest = nj.scratch().join("backups");
    let good = backup(&nj, pg, &db, &dest);
    pg.psql(&db, "INSERT INTO public.settings VALUES ('after the backup', NULL, NULL)");
    let before = Snapshot::take(pg, &db);
    let sql = planted_sql(&good);

    // A copy elsewhere with its tag removed, one with the tag kept, and the
    // backup itself changed in place (its tag kept).
    let elsewhere = nj.scratch().join("shared");
    std::fs::create_dir(&elsewhere).unwrap();
    let unsigned = elsewhere.join(format!("unsigned_{}", good.file_name().unwrap().to_string_lossy()));
    tamper(&good, &sql, &unsigned, false);
    let wrong_tag = elsewhere.join(format!("tagged_{}", good.file_name().unwrap().to_string_lossy()));
    tamper(&good, &sql, &wrong_tag, true);
    let in_place = nj.scratch().join("in-place.sql.zst");
    std::fs::copy(&good, &in_place).unwrap();
    std::fs::copy(manifest_of(&good), manifest_of(&in_place)).unwrap();
    tamper(&in_place, &sql, &good, true);

    for (file, why) in [
        (&unsigned, "carries no signature"),
        (&wrong_tag, "signature is not this installation's"),
        (&good, "differs from the backup the history recorded"),
    ] {
        let shown = file.display().to_string();
        let out = nj.run(["restore", &shown, "--db", &pg.url(&db), "--yes"]).assert_failure();
        assert_eq!(out.status.code(), Some(2), "{shown}: {}", out.stderr);
        let line = out.error_line();
        for needle in [shown.as_str(), NOT_OURS, why, "Nothing was changed", "--trust-file"] {
            assert!(line.contains(needle), "{shown}: `{needle}` in {line}");
        }
        before.assert_same(&Snapshot::take(pg, &db), &format!("after refusing {shown}"));
        assert!(leftovers(pg, &db).is_empty(), "no temporary database: {:?}", leftovers(pg, &db));
        let row = newest(&nj.history(None), "restore");
        assert_eq!((str_field(&row, "status"), str_field(&row, "error_kind")), ("failed", "needs-confirmation"), "{row}");
        assert_eq!(row["file"].as_str(), Some(shown.as_str()), "{row}");

        // The test restore refuses too; a plain check runs nothing and says what it found.
        let out = nj.run(["verify", &shown, "--restore-test", "--db", &pg.url(&db)]).assert_failure();
        assert!(out.error_line().contains(NOT_OURS), "{}", out.stderr);
        assert!(leftovers(pg, &db).is_empty(), "no scratch database: {:?}", leftovers(pg, &db));
        let v = nj.run(["verify", &shown, "--json"]).assert_success().json();
        assert_eq!(v["trust"]["origin"], "not-ours", "{v}");
    }
    let safety: Vec<String> = file_names(&dest).into_iter().filter(|n| n.contains("pre-restore")).collect();
    assert_eq!(safety, Vec::<String>::new(), "no safety backup was taken");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 'planted'"), "0");

    // With the acknowledgement the tampered file restores (and runs).
    let out = nj.run(["restore", &wrong_tag.display().to_string(), "--db", &pg.url(&db), "--no-safety-backup", "--trust-file", "--yes", "--json"]).assert_success();
    let r = out.json();
    assert_eq!(r["trust"]["origin"], "not-ours", "{r}");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 'planted'"), "1");
    let v = nj.run(["verify", &good.display().to_string(), "--restore-test", "--db", &pg.url(&db), "--trust-file", "--json"]).assert_success().json();
    assert!(v["verified_at"].is_null(), "changed bytes never mark the original backup verified: {v}");
    assert!(leftovers(pg, &db).iter().all(|n| n.contains("__before_restore_")), "{:?}", leftovers(pg, &db));
}

#[test]
fn a_foreign_dump_shows_not_ours_in_the_plan_and_needs_trust_file() {
    let pg = PgCluster::shared();
    let db = fixture::fresh_sample(pg, "trust_foreign");
    let original = Snapshot::take(pg, &db);
    let nj = Nightjar::new();
    // Plain pg_dump output, compressed by hand, no manifest.
    let dump = Command::new(pg.tool("pg_dump"))
        .arg("-h")
        .arg(pg.sock_dir())
        .args(["-p", &PORT.to_string(), "-U", "postgres", &db])
        .output()
        .expect("pg_dump");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let file = nj.scratch().join("by-hand.sql.zst");
    std::fs::write(&file, zstd(&["-q", "-c", "-3"], &dump.stdout)).unwrap();
    let shown = file.display().to_string();
    let new = format!("{db}_foreign");

    // `--json` without the acknowledgement: the plan (not-ours, the sentence), then the refusal.
    let out = nj.run(["restore", &shown, "--db", &pg.url(&db), "--as-new", &new, "--json"]).assert_failure();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let plan = out.json();
    assert_eq!(plan["trust"]["origin"], "not-ours", "{plan}");
    let sentence = str_field(&plan["trust"], "message");
    assert!(sentence.contains(NOT_OURS) && sentence.contains("no manifest"), "{sentence}");
    assert!(out.error_line().contains(NOT_OURS), "{}", out.stderr);
    assert!(!db_exists(pg, &new), "nothing was created");
    // On a terminal-less run without --yes the plan says it too, and nothing is asked.
    let out = nj.run(["restore", &shown, "--db", &pg.url(&db), "--as-new", &new]).assert_failure();
    assert!(out.stderr.contains("Restore plan") && out.stderr.contains("NOT MADE BY THIS NIGHTJAR"), "{}", out.stderr);
    assert!(!out.stderr.contains("--yes"), "no confirmation is asked for a refused file: {}", out.stderr);
    assert!(!db_exists(pg, &new) && leftovers(pg, &db).is_empty());

    // Acknowledged: restored, and the record says whose file it was.
    let r = nj.run(["restore", &shown, "--db", &pg.url(&db), "--as-new", &new, "--trust-file", "--yes", "--json"]).assert_success().json();
    assert_eq!(r["trust"]["origin"], "not-ours", "{r}");
    original.assert_same(&Snapshot::take(pg, &new), "a foreign dump restored with --trust-file");

    // A backup of another installation (its own key) is not ours either.
    let other = Nightjar::new();
    let theirs = backup(&other, pg, &db, &other.scratch().join("backups"));
    let out = nj.run(["restore", &theirs.display().to_string(), "--db", &pg.url(&db), "--as-new", &format!("{db}_theirs"), "--yes"]).assert_failure();
    let line = out.error_line();
    assert!(line.contains(NOT_OURS) && line.contains("another installation"), "{line}");
    assert!(!db_exists(pg, &format!("{db}_theirs")));
}
