//! The S3-compatible destination against a real S3 server started by the
//! harness (moto's server mode, `support/s3.rs`): the destination contract,
//! multipart uploads with their sha256 and a resumed download, a backup
//! and `restore --latest` through the `nightjar` binary, retention over a
//! listing of more than 1,000 keys, a connection cut mid-upload, and wrong
//! credentials.

use std::io::{Read as _, Write as _};

use nightjar_core::config::S3Settings;
use nightjar_core::destination::conformance;
use nightjar_core::destination::Destination;
use nightjar_s3::{Credentials, S3Destination};
use nightjar_tests::nightjar::str_field;
use nightjar_tests::s3::{CutProxy, S3Server, BUCKET};
use nightjar_tests::{toml_str, unique, Nightjar, PgCluster, Snapshot};

fn creds(server: &S3Server) -> Credentials {
    Credentials { access_key_id: server.access_key.clone(), secret_access_key: server.secret_key.clone(), session_token: None, source: "test".into() }
}

fn dest_at(settings: &S3Settings, server: &S3Server, prefix: &str) -> S3Destination {
    S3Destination::new(settings, &creds(server), &format!("{BUCKET}/{prefix}")).unwrap_or_else(|e| panic!("{}", e.detailed()))
}

/// A nightjar installation whose runs reach `server` with its key pair (from the environment).
fn nightjar_for(server: &S3Server) -> Nightjar {
    Nightjar::new().with_env("AWS_ACCESS_KEY_ID", &server.access_key).with_env("AWS_SECRET_ACCESS_KEY", &server.secret_key)
}

fn s3_job(name: &str, pg: &PgCluster, db: &str, prefix: &str, extra: &str, s3_toml: &str) -> String {
    format!(
        "[[job]]\nname = {}\ndatabase = {}\ndestination = \"s3://{BUCKET}/{prefix}\"\ntimezone = \"UTC\"\ntool_dir = {}\n{extra}\n\n{s3_toml}",
        toml_str(name),
        toml_str(&pg.url(db)),
        toml_str(&pg.bin().display().to_string())
    )
}

fn names(d: &dyn Destination) -> Vec<String> {
    d.list().unwrap_or_else(|e| panic!("{}", e.detailed())).into_iter().map(|f| f.name).collect()
}

#[test]
fn the_s3_destination_keeps_the_contract() {
    let server = S3Server::start();
    let settings = server.settings();
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::new(dest_at(&settings, &server, &format!("contract/d{i}")))
    });
}

#[test]
fn a_multipart_upload_streams_keeps_its_sha256_and_a_cut_download_resumes() {
    let server = S3Server::start();
    let d = dest_at(&server.settings(), &server, "multi");
    d.prepare().unwrap();
    // 3 full parts and a short last one.
    let bytes = conformance::pattern(3 * nightjar_s3::destination::PART_SIZE + 12_345, 7);
    let mut p = d.create("big.sql.zst").unwrap();
    for chunk in bytes.chunks(128 * 1024) {
        p.write_all(chunk).unwrap();
    }
    assert!(names(&d).is_empty(), "nothing under the final name before commit");
    p.commit().unwrap_or_else(|e| panic!("{}", e.detailed()));
    let listed = d.list().unwrap();
    assert_eq!((listed[0].name.as_str(), listed[0].size), ("big.sql.zst", bytes.len() as u64));
    let mut back = Vec::new();
    d.open("big.sql.zst").unwrap().read_to_end(&mut back).unwrap();
    assert!(back == bytes, "the multipart object reads back identical");

    // A small one goes up in one PUT with its sha256 as metadata; a
    // download through a proxy that cuts the connection resumes, and the
    // sha256 is checked on arrival.
    let small = conformance::pattern(6 << 20, 9);
    let mut p = d.create("small.sql.zst").unwrap();
    p.write_all(&small).unwrap();
    p.commit().unwrap();
    let proxy = CutProxy::start(server.port);
    let via = S3Settings { endpoint: Some(format!("http://127.0.0.1:{}", proxy.port)), ..server.settings() };
    let cut = dest_at(&via, &server, "multi");
    proxy.cut_download_after(2 << 20);
    let mut back = Vec::new();
    cut.open("small.sql.zst").unwrap().read_to_end(&mut back).unwrap_or_else(|e| panic!("the download resumes: {e}"));
    assert_eq!(proxy.cuts(), 1, "the download was cut once");
    assert!(back == small, "the resumed download is byte-identical");
}

#[test]
fn a_backup_goes_to_s3_with_its_manifest_restores_latest_from_there_and_retention_pages_past_1000_keys() {
    let server = S3Server::start();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("s3rt");
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g");
    let nj = nightjar_for(&server);
    let job = unique("s3job");
    nj.write_config(&s3_job(&job, pg, &db, "app", "[job.retention]\nkeep_days = 0\nkeep_last = 1\n", &server.toml()));

    let out = nj.run(["backup", "--job", &job, "--json"]).assert_success().json();
    let file = str_field(&out, "file").to_string();
    assert!(file.starts_with(&format!("s3://{BUCKET}/app/{job}_")), "{out}");
    let d = dest_at(&server.settings(), &server, "app");
    let name = file.rsplit('/').next().unwrap().to_string();
    assert_eq!(names(&d), vec![name.clone(), format!("{name}.json")], "the backup and its manifest, side by side");
    let mut stored = Vec::new();
    d.open(&name).unwrap().read_to_end(&mut stored).unwrap();
    let copy = nj.scratch().join(&name);
    std::fs::write(&copy, &stored).unwrap();
    assert_eq!(nightjar_tests::sha256sum(&copy), str_field(&out, "sha256"), "the stored bytes hash to the reported sha256");

    // `restore --latest` downloads it (checked against its manifest) and puts the data back.
    let original = Snapshot::take(pg, &db);
    pg.psql(&db, "DELETE FROM t WHERE id > 10; UPDATE t SET v = 'scribbled'");
    let r = nj.run(["restore", "--job", &job, "--latest", "--yes", "--json"]).assert_success().json();
    assert_eq!(str_field(&r, "file"), file, "{r}");
    original.assert_same(&Snapshot::take(pg, &db), "after `nightjar restore --job --latest` from S3");

    // 1,100 foreign keys beside the backups: the listing takes two pages,
    // and retention deletes only this job's older backups (with their manifests).
    let manifest: serde_json::Value = {
        let mut m = Vec::new();
        d.open(&format!("{name}.json")).unwrap().read_to_end(&mut m).unwrap();
        serde_json::from_slice(&m).unwrap()
    };
    let ext = name.split_once('.').map(|(_, e)| e.to_string()).unwrap();
    for day in 1..=3 {
        let old = format!("{job}_2020-01-0{day}_00-00-00.{ext}");
        let mut m = manifest.clone();
        m["file"] = serde_json::json!(old);
        for (n, bytes) in [(old.clone(), stored.clone()), (format!("{old}.json"), m.to_string().into_bytes())] {
            let mut p = d.create(&n).unwrap();
            p.write_all(&bytes).unwrap();
            p.commit().unwrap();
        }
    }
    for i in 0..1100 {
        let mut p = d.create(&format!("photo-{i:04}.jpg")).unwrap();
        p.write_all(b"photo").unwrap();
        p.commit().unwrap();
    }
    let before = names(&d);
    assert!(before.len() > 1100 + 6, "all keys listed across pages: {}", before.len());
    // The newest backup of the job (the restore's safety backup went up after the first).
    let newest = before.iter().filter(|n| n.starts_with(&format!("{job}_")) && !n.ends_with(".json")).max().unwrap().clone();
    let list = nj.run(["list", "--job", &job, "--json"]).assert_success().json();
    assert!(list.as_array().unwrap().len() >= 4, "{list}");
    let _ = nj.run(["prune", "--job", &job]).assert_success();
    let after = names(&d);
    assert!(!after.iter().any(|n| n.starts_with(&format!("{job}_2020"))), "the old backups and manifests are gone");
    assert_eq!(after.iter().filter(|n| n.starts_with("photo-")).count(), 1100, "foreign keys are kept");
    assert!(after.contains(&newest) && after.contains(&format!("{newest}.json")), "the newest backup is kept: {newest}");
    assert_eq!(after.iter().filter(|n| n.starts_with(&format!("{job}_"))).count(), 2, "keep_last = 1: one backup and its manifest");
}

#[test]
fn a_connection_cut_mid_upload_fails_the_run_clearly_leaves_no_object_and_the_next_run_is_good() {
    let server = S3Server::start();
    let proxy = CutProxy::start(server.port);
    let pg = PgCluster::shared();
    let db = pg.fresh_db("s3cut");
    // About 20 MB of dump, stored uncompressed: several parts.
    pg.psql(&db, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1, 260000) g");
    let nj = nightjar_for(&server);
    let via = format!("[s3]\nendpoint = \"http://127.0.0.1:{}\"\npath_style = true\n", proxy.port);
    nj.write_config(&s3_job("cut", pg, &db, "cut", "compression = \"none\"", &via));

    proxy.cut_after(12 << 20);
    let out = nj.run(["backup", "--job", "cut"]).assert_failure();
    assert!(proxy.cuts() > 0, "the proxy cut the upload");
    let line = out.error_line();
    // The upload or the manifest's check after it meets the dead connection: either way one sentence that says what to do.
    assert!(line.contains("s3://nightjar-test/cut") && line.contains("check the network and the [s3] endpoint"), "{line}\n{}", nj.logs());
    let d = dest_at(&server.settings(), &server, "cut");
    assert!(names(&d).is_empty(), "no object that looks like a backup: {:?}", names(&d));
    let rows = nj.history(Some("cut"));
    assert_eq!(str_field(&rows[0], "status"), "failed", "{rows:?}");

    proxy.heal();
    let out = nj.run(["backup", "--job", "cut", "--json"]).assert_success().json();
    let name = str_field(&out, "file").rsplit('/').next().unwrap().to_string();
    assert_eq!(names(&d), vec![name.clone(), format!("{name}.json")]);
    let size = d.list().unwrap()[0].size;
    assert!(size > 16 << 20, "a multipart backup: {size}");
}

#[test]
fn wrong_credentials_fail_clearly_and_lose_nothing_and_the_keyring_pair_works() {
    let server = S3Server::start_with_auth();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("s3auth");
    pg.psql(&db, "CREATE TABLE t(id int primary key); INSERT INTO t SELECT generate_series(1, 10)");
    let good = nightjar_for(&server);
    let job = s3_job("auth", pg, &db, "auth", "", &server.toml());
    good.write_config(&job);
    let first = good.run(["backup", "--job", "auth", "--json"]).assert_success().json();
    let name = str_field(&first, "file").rsplit('/').next().unwrap().to_string();

    // The same installation with a wrong secret in the environment.
    let bad = Nightjar::new().with_env("AWS_ACCESS_KEY_ID", &server.access_key).with_env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    bad.write_config(&job);
    let out = bad.run(["backup", "--job", "auth"]).assert_failure();
    let line = out.error_line();
    assert!(line.contains("S3 refused the credentials for s3://nightjar-test/auth"), "{line}");
    assert!(line.contains("nightjar password set --s3"), "it says what to do: {line}");
    assert!(!line.contains("wrong-secret"), "the secret is never printed: {line}");
    let d = dest_at(&server.settings(), &server, "auth");
    assert_eq!(names(&d), vec![name.clone(), format!("{name}.json")], "nothing lost, nothing added");

    // The key pair from the secret store (a file store here: no keyring in the tests).
    let kept = Nightjar::new();
    kept.write_config(&format!("{job}\n[secrets]\nstore = \"file\"\n"));
    let out = kept.run(["backup", "--job", "auth"]).assert_failure();
    assert!(out.error_line().contains("No S3 credentials were found"), "{}", out.error_line());
    let _ = kept.cmd(["password", "set", "--s3", "--access-key-id", &server.access_key]).stdin(format!("{}\n", server.secret_key)).run().assert_success();
    let _ = kept.run(["backup", "--job", "auth"]).assert_success();
    assert_eq!(names(&d).len(), 4, "a second backup and its manifest");
    let creds = std::fs::read_to_string(kept.scratch().join("credentials.toml")).unwrap();
    assert!(!std::fs::read_to_string(kept.config_path()).unwrap().contains(&server.secret_key), "never in the config");
    assert!(creds.contains("s3:secret-access-key"), "{creds}");
}

#[test]
fn max_backups_caps_a_job_in_s3_and_delete_and_download_work_for_s3_and_folder_backups() {
    let server = S3Server::start();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("s3cap");
    pg.psql(&db, "CREATE TABLE t(id int primary key); INSERT INTO t SELECT generate_series(1, 100)");
    let nj = nightjar_for(&server);
    nj.write_config(&s3_job("cap", pg, &db, "cap", "[job.retention]\nkeep_days = 30\nmax_backups = 2\n", &server.toml()));
    let files: Vec<String> = (0..3).map(|_| str_field(&nj.run(["backup", "--job", "cap", "--json"]).assert_success().json(), "file").to_string()).collect();
    let name = |f: &str| f.rsplit('/').next().unwrap().to_string();
    let d = dest_at(&server.settings(), &server, "cap");
    let backups: Vec<String> = names(&d).into_iter().filter(|n| !n.ends_with(".json")).collect();
    assert_eq!(backups, vec![name(&files[1]), name(&files[2])], "never more than 2: the oldest went after the third run");

    // A copy of the newest, checked against its manifest, with the manifest beside it.
    let saved = nj.scratch().join("saved");
    std::fs::create_dir(&saved).unwrap();
    let dl = nj.run(["download", &files[2], "--out", &saved.display().to_string(), "--json"]).assert_success().json();
    assert_eq!(dl["checked"], serde_json::json!(true), "{dl}");
    let copy = saved.join(name(&files[2]));
    assert_eq!(str_field(&dl, "saved_to"), copy.display().to_string());
    assert_eq!(nightjar_tests::sha256sum(&copy), str_field(&dl, "sha256"));
    assert!(saved.join(format!("{}.json", name(&files[2]))).is_file(), "the manifest came along");
    let out = nj.run(["download", &files[2], "--out", &saved.display().to_string()]).assert_failure();
    assert!(out.error_line().contains("already exists"), "never overwrites: {}", out.error_line());
    let missing = format!("s3://{BUCKET}/cap/cap_2000-01-01_00-00-00_manual.sql.zst");
    let out = nj.run(["download", &missing, "--out", &nj.scratch().join("m.sql.zst").display().to_string()]).assert_failure();
    assert!(out.error_line().contains("does not exist"), "{}", out.error_line());
    assert!(!nj.scratch().join("m.sql.zst").exists() && !nj.scratch().join("m.sql.zst.partial").exists(), "nothing left behind");

    // Delete: the newest good backup of the job only with --force.
    let out = nj.run(["delete", &files[2]]).assert_failure();
    assert!(out.error_line().contains("newest good backup of job \"cap\"") && out.error_line().contains("--force"), "{}", out.error_line());
    assert_eq!(names(&d).len(), 4, "nothing was deleted");
    let _ = nj.run(["delete", &files[1]]).assert_success();
    assert_eq!(names(&d), vec![name(&files[2]), format!("{}.json", name(&files[2]))], "the older one and its manifest are gone");
    let _ = nj.run(["delete", &files[2], "--force", "--json"]).assert_success();
    assert!(names(&d).is_empty());

    // The same commands on a folder: the saved copy is a backup there.
    let address = copy.display().to_string();
    let out = nj.run(["delete", &address]).assert_failure();
    assert!(out.error_line().contains("--force"), "{}", out.error_line());
    let again = nj.scratch().join("again.sql.zst");
    let dl = nj.run(["download", &address, "--out", &again.display().to_string(), "--json"]).assert_success().json();
    assert_eq!(dl["checked"], serde_json::json!(true), "{dl}");
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&copy).unwrap());
    let _ = nj.run(["delete", &address, "--force"]).assert_success();
    assert!(!copy.exists());
}
