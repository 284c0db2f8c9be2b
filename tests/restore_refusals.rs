//! What `nightjar restore` refuses, and what a failed restore leaves behind:
//! nothing changed. Bad files (truncated, one flipped byte, random bytes,
//! empty, a MySQL dump, a manifest whose checksum does not match) are
//! refused before the target database is touched: it is unchanged, no
//! temporary database was ever created, no safety backup was taken. A dump
//! whose last statement fails makes the restore fail with the original
//! exactly as it was and no temporary database left.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nightjar_tests::fixture;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::pg::literal;
use nightjar_tests::{file_names, Nightjar, PgCluster, Snapshot};
use serde_json::Value;

/// Database names on the cluster containing `marker`.
fn databases_with(pg: &PgCluster, marker: &str) -> Vec<String> {
    let out = pg.psql("postgres", &format!("SELECT datname FROM pg_database WHERE strpos(datname, {}) > 0 ORDER BY 1", literal(marker)));
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Every database whose name says a restore into `db` created it (tests
/// run in parallel on one cluster: only look at this test's database).
fn restore_made(pg: &PgCluster, db: &str) -> Vec<String> {
    let mut v = databases_with(pg, &format!("{db}__nightjar_restore_"));
    v.extend(databases_with(pg, &format!("{db}__before_restore_")));
    v
}

fn backup(nj: &Nightjar, pg: &PgCluster, db: &str, dest: &Path, format: &str, compress: &str) -> PathBuf {
    let out = nj
        .run(["backup", "--db", &pg.url(db), "--dest", &dest.display().to_string(), "--format", format, "--compress", compress, "--json"])
        .assert_success();
    PathBuf::from(str_field(&out.json(), "file"))
}

fn zstd_compress(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("zstd").args(["-q", "-c", "-3"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("zstd");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    w.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

fn zstd_decompress(file: &Path) -> Vec<u8> {
    let out = Command::new("zstd").arg("-dc").arg(file).output().expect("zstd -dc");
    assert!(out.status.success());
    out.stdout
}

/// Asserts the newest restore row in the history failed with `kind`.
#[track_caller]
fn assert_restore_failure_recorded(nj: &Nightjar, kind: &str, file: &Path) {
    let rows = nj.history(None);
    let row = rows
        .iter()
        .filter(|r| str_field(r, "kind") == "restore")
        .max_by_key(|r| r["id"].as_i64().unwrap())
        .unwrap_or_else(|| panic!("no restore row in {rows:?}"));
    assert_eq!(str_field(row, "status"), "failed", "{row}");
    assert_eq!(str_field(row, "error_kind"), kind, "{row}");
    assert_eq!(row["file"].as_str(), Some(file.display().to_string().as_str()), "{row}");
    assert!(row["error"].as_str().is_some_and(|e| !e.is_empty()), "{row}");
}

#[test]
fn bad_files_are_refused_before_the_database_is_touched() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "bad_files");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let good = backup(&nj, pg, &db, &dest, "plain", "zstd");
    let good_custom = backup(&nj, pg, &db, &dest, "custom", "gzip");
    pg.psql(&db, "INSERT INTO public.settings VALUES ('after the backup', NULL, NULL)");
    let before = Snapshot::take(pg, &db);
    let bad = nj.scratch().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let custom_bytes = std::fs::read(&good_custom).unwrap();

    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    let mut add = |name: &str, data: &[u8], needle: &'static str| {
        let p = bad.join(name);
        std::fs::write(&p, data).unwrap();
        cases.push((p, needle));
    };
    add("truncated.sql.zst", &bytes[..bytes.len() / 2], "truncated or corrupted");
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x04;
    add("flipped.sql.zst", &flipped, "truncated or corrupted");
    add("truncated.dump.gz", &custom_bytes[..custom_bytes.len() - 100], "truncated or corrupted");
    let plain = zstd_decompress(&good);
    add("cut-short.sql", &plain[..plain.len() * 3 / 4], "closing line");
    let random: Vec<u8> = (0..200_000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 29) as u8).collect();
    add("random.bin", &random, "not a database backup");
    add("empty.sql.zst", b"", "is empty");
    add(
        "shop.sql",
        b"-- MySQL dump 10.13  Distrib 8.0.35, for Linux (x86_64)\n--\n-- Host: localhost    Database: shop\n-- ------------------------------------------------------\n-- Server version\t8.0.35\n\nCREATE TABLE `t` (`id` int NOT NULL);\n\n-- Dump completed on 2026-03-02  0:00:01\n",
        "MySQL/MariaDB dump",
    );
    // A copy whose manifest states another checksum.
    let tampered = bad.join(good.file_name().unwrap());
    std::fs::write(&tampered, &bytes).unwrap();
    let manifest = std::fs::read_to_string(format!("{}.json", good.display())).unwrap();
    let mut m: Value = serde_json::from_str(&manifest).unwrap();
    m["sha256"] = Value::String("0".repeat(64));
    std::fs::write(format!("{}.json", tampered.display()), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    cases.push((tampered, "does not match the sha256 in its manifest"));

    for (file, needle) in &cases {
        let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--yes"]).assert_failure();
        assert_eq!(out.status.code(), Some(1), "{}: {}", file.display(), out.stderr);
        let line = out.error_line();
        assert!(line.contains(needle), "{}: {line}", file.display());
        assert!(line.contains(&file.display().to_string()), "the error names the file: {line}");
        assert!(line.contains("pick another"), "the error says what to do: {line}");
        assert!(restore_made(pg, &db).is_empty(), "{}: no temporary database was created: {:?}", file.display(), restore_made(pg, &db));
        assert_restore_failure_recorded(&nj, "invalid-backup", file);
    }
    before.assert_same(&Snapshot::take(pg, &db), "after refusing every bad file");
    // No safety backup was taken: the database was never dumped.
    let safety: Vec<String> = file_names(&dest).into_iter().chain(file_names(&bad)).filter(|n| n.contains("pre-restore")).collect();
    assert_eq!(safety, Vec::<String>::new());
    // `verify` refuses them too, and says why (a MySQL dump is a fine file:
    // only restoring it into PostgreSQL is wrong).
    for (file, needle) in &cases {
        if needle.starts_with("MySQL") {
            let v = nj.run(["verify", &file.display().to_string(), "--json"]).assert_success().json();
            assert_eq!(str_field(&v, "content"), "mysql", "{v}");
            continue;
        }
        let out = nj.run(["verify", &file.display().to_string()]).assert_failure();
        let line = out.error_line();
        assert!(line.contains(needle), "verify {}: {line}", file.display());
    }
}

#[test]
fn a_dump_whose_last_statement_fails_leaves_the_original_exactly_as_it_was() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "last_fails");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let good = backup(&nj, pg, &db, &dest, "plain", "zstd");
    // The same dump with one more statement, failing, just before pg_dump's closing line.
    let plain = String::from_utf8(zstd_decompress(&good)).unwrap();
    let trailer = plain.rfind("--\n-- PostgreSQL database dump complete").expect("pg_dump's closing comment");
    let broken = format!("{}INSERT INTO app.nothing (id) VALUES ('not a number');\n\n{}", &plain[..trailer], &plain[trailer..]);
    let file = nj.scratch().join("broken.sql.zst");
    std::fs::write(&file, zstd_compress(broken.as_bytes())).unwrap();
    pg.psql(&db, "UPDATE app.users SET name = 'changed after the backup' WHERE id = 1");
    let before = Snapshot::take(pg, &db);

    // Made by hand, so it runs only with the acknowledgement.
    let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--trust-file", "--yes"]).assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let line = out.error_line();
    assert!(line.contains("broken.sql.zst") && line.contains("invalid input syntax for type integer"), "{line}");
    assert!(line.contains(&format!("\"{db}\" was not changed")) && line.contains("temporary copy was removed"), "{line}");
    before.assert_same(&Snapshot::take(pg, &db), "after a restore whose last statement failed");
    assert!(restore_made(pg, &db).is_empty(), "no temporary or kept database is left: {:?}", restore_made(pg, &db));
    assert_restore_failure_recorded(&nj, "tool", &file);

    // Into a database that does not exist: it is not created either.
    let missing = format!("{db}_missing");
    let _ = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&missing), "--trust-file", "--yes"]).assert_failure();
    assert!(databases_with(pg, &missing).is_empty());

    // A safety backup that fails stops the restore before anything changes.
    let not_a_dir = nj.scratch().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let out = nj
        .run(["restore", &good.display().to_string(), "--db", &pg.url(&db), "--safety-dir", &not_a_dir.join("sub").display().to_string(), "--yes"])
        .assert_failure();
    let line = out.error_line();
    assert!(line.contains("safety backup") && line.contains("did not start"), "{line}");
    before.assert_same(&Snapshot::take(pg, &db), "after a failed safety backup");
    assert!(restore_made(pg, &db).is_empty());
    let rows = nj.history(None);
    let failed_safety = rows.iter().filter(|r| str_field(r, "kind") == "backup" && str_field(r, "trigger") == "pre-restore" && str_field(r, "status") == "failed").count();
    assert_eq!(failed_safety, 1, "the failed safety backup is in the history: {rows:?}");

    // Without --yes and without a terminal, nothing runs (usage error).
    let out = nj.run(["restore", &good.display().to_string(), "--db", &pg.url(&db)]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--yes") && out.stderr.contains("Restore plan"), "{}", out.stderr);
    before.assert_same(&Snapshot::take(pg, &db), "an unconfirmed restore changes nothing");
}

/// A backup whose sha256 turns out wrong only when its last byte went by
/// (the history vouches for its manifest, so nothing reads the file before
/// the load) is loaded into the temporary database and then refused: the
/// temporary database is dropped, the target is as it was, no safety
/// backup was taken, and the message says the file is damaged and that
/// nothing was changed.
#[test]
fn a_backup_damaged_at_its_very_end_is_refused_after_the_load_and_leaves_no_trace() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = fixture::fresh_sample(pg, "late_damage");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    for format in ["plain", "custom"] {
        let file = backup(&nj, pg, &db, &dest, format, "none");
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        if format == "plain" {
            // pg_dump's script ends with a blank line: a space instead
            // changes nothing psql would do, only the sha256.
            assert!(bytes.ends_with(b"\n\n"), "{format}: the script ends with a blank line");
            bytes[last] = b' ';
        } else {
            bytes[last] ^= 0x01;
        }
        std::fs::write(&file, &bytes).unwrap();
        pg.psql(&db, "UPDATE app.users SET name = 'changed after the backup' WHERE id = 1");
        let before = Snapshot::take(pg, &db);
        let history_before = nj.history(None).len();

        for extra in [&[][..], &["--as-new", "late_damage_copy"][..]] {
            let mut args = vec!["restore".to_string(), file.display().to_string(), "--db".into(), pg.url(&db), "--yes".into()];
            args.extend(extra.iter().map(|s| (*s).to_string()));
            let out = nj.run(&args).assert_failure();
            assert_eq!(out.status.code(), Some(1), "{format} {extra:?}: {}", out.stderr);
            let line = out.error_line();
            for needle in ["does not match the sha256 in its manifest", "damaged", "temporary copy was removed", "pick another", &file.display().to_string()] {
                assert!(line.contains(needle), "{format} {extra:?}: \"{needle}\" in {line}");
            }
            let unchanged = if extra.is_empty() { format!("\"{db}\" was not changed") } else { "\"late_damage_copy\" was not created".to_string() };
            assert!(line.contains(&unchanged), "{format} {extra:?}: {line}");
            assert_eq!(line.matches(". ").count(), 0, "one sentence: {line}");
            before.assert_same(&Snapshot::take(pg, &db), "the target after a backup damaged at its end");
            assert!(restore_made(pg, &db).is_empty(), "{format} {extra:?}: no temporary or kept database: {:?}", restore_made(pg, &db));
            assert!(databases_with(pg, "late_damage_copy").is_empty(), "{format} {extra:?}: the --as-new database was not created");
            assert_restore_failure_recorded(&nj, "invalid-backup", &file);
        }
        // No safety backup: the file was refused before the swap, and so before the target was backed up.
        let safety: Vec<String> = file_names(&dest).into_iter().filter(|n| n.contains("pre-restore")).collect();
        assert_eq!(safety, Vec::<String>::new(), "{format}");
        let rows = nj.history(None);
        assert_eq!(rows.len(), history_before + 2, "two failed restores, no backup: {rows:?}");
    }
}

/// A psql command planted after a large COPY block, in a file the user
/// chose to trust: psql has loaded megabytes into the temporary database
/// when the guard reaches it, and still nothing of it runs; the temporary
/// database is dropped and the target is as it was.
#[test]
fn a_psql_command_after_a_large_copy_block_never_runs_even_in_a_trusted_file() {
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let db = pg.fresh_db("late_command");
    pg.psql(&db, "CREATE TABLE big (id int PRIMARY KEY, payload text); INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g");
    let dest = nj.scratch().join("backups");
    std::fs::create_dir(&dest).unwrap();
    let good = backup(&nj, pg, &db, &dest, "plain", "zstd");
    let plain = String::from_utf8(zstd_decompress(&good)).unwrap();
    let copy = plain.find("COPY public.big").expect("the big table's COPY");
    let end = copy + plain[copy..].find("\n\\.\n").expect("the end of its data") + 4;
    assert!(end > 10 << 20, "the command comes after more than 10 MB: {end}");
    let marker = nj.scratch().join("MARKER");
    let touch = format!("\\! touch {}", marker.display());
    let line = plain[..end].matches('\n').count() + 1;
    let file = nj.scratch().join("late-command.sql.zst");
    std::fs::write(&file, zstd_compress(format!("{}{touch}\n{}", &plain[..end], &plain[end..]).as_bytes())).unwrap();
    pg.psql(&db, "UPDATE big SET payload = 'changed after the backup' WHERE id = 1");
    let before = pg.psql(&db, "SELECT count(*), md5(string_agg(payload, ',' ORDER BY id)) FROM big");

    let out = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&db), "--trust-file", "--yes"]).assert_failure();
    let err = out.error_line();
    assert!(err.contains(&format!("line {line}: the psql command \\! is not allowed in a backup; nothing was changed")), "{err}");
    assert!(err.contains(&file.display().to_string()) && err.contains("temporary copy was removed"), "{err}");
    assert!(!marker.exists(), "the planted command ran");
    assert_eq!(pg.psql(&db, "SELECT count(*), md5(string_agg(payload, ',' ORDER BY id)) FROM big"), before, "the target is untouched");
    assert!(restore_made(pg, &db).is_empty(), "no temporary or kept database: {:?}", restore_made(pg, &db));
    let safety: Vec<String> = file_names(nj.scratch()).into_iter().chain(file_names(&dest)).filter(|n| n.contains("pre-restore")).collect();
    assert_eq!(safety, Vec::<String>::new(), "no safety backup was taken");
    assert_restore_failure_recorded(&nj, "invalid-backup", &file);
}
