//! Encryption at rest with age, end to end against real servers: backups of
//! PostgreSQL (plain and custom format) and MariaDB encrypted to a key made
//! by `nightjar key new`, restored by `nightjar restore` and by stock tools
//! (`age -d -i key.txt FILE | zstd -dc | psql`) with data equal to the
//! original; no key, a wrong key, a flipped byte and a cut file refused with
//! the target untouched; key rotation; passphrase mode; and an `onedrive:`
//! destination (the Graph fake) holding only ciphertext.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use nightjar_core::config::{Config, OneDriveSettings, ParseEnv};
use nightjar_core::engine::{OpenEnv, ONEDRIVE};
use nightjar_core::history::History;
use nightjar_core::model::Trigger;
use nightjar_core::observer::NoopObserver;
use nightjar_core::paths::DataDir;
use nightjar_core::restore::RestoreOptions;
use nightjar_core::runner::BackupOptions;
use nightjar_core::secrets::{MemorySecrets, SecretStore as _};
use nightjar_core::Engine;
use nightjar_onedrive::{Graph, GraphConfig, OneDriveDestination, REFRESH_ACCOUNT};
use nightjar_onedrive_fake::FakeGraph;
use nightjar_tests::backup::{assert_mentions, check_finished_backup, job_toml, manifest};
use nightjar_tests::nightjar::str_field;
use nightjar_tests::{fixture, my_sample, toml_str, unique, MariaDbServer, MySnapshot, Nightjar, PgCluster, Snapshot};
use serde_json::Value;

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// An installation keeping its secrets in a file (the tests switch the OS
/// keyring off), with one job `name` backing up `url` into `dest`.
fn installation(name: &str, url: &str, dest: &Path, extra: &str) -> Nightjar {
    let nj = Nightjar::new();
    nj.write_config(&format!("{}[secrets]\nstore = \"file\"\n", job_toml(name, url, dest, extra)));
    nj
}

/// `nightjar key new --job NAME --out FILE`: the public key it printed.
fn key_new(nj: &Nightjar, job: &str, out: &Path) -> String {
    let o = nj.run(["key", "new", "--job", job, "--out", &out.display().to_string()]).assert_success();
    let public = o.stdout.trim().to_string();
    assert!(public.starts_with("age1"), "{public}");
    public
}

fn backup(nj: &Nightjar, job: &str, dest: &Path) -> (PathBuf, Value) {
    let out = nj.run(["backup", "--job", job, "--json"]).assert_success();
    let record = out.json();
    let file = check_finished_backup(&record, dest, job);
    (file, record)
}

/// The stored file is age ciphertext and the manifest names the recipients.
#[track_caller]
fn assert_encrypted(file: &Path, ext: &str, recipients: &[&str], plaintext_marker: &[u8]) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(&format!("_manual.{ext}.age")), "{name}");
    let bytes = std::fs::read(file).unwrap();
    assert!(bytes.starts_with(AGE_MAGIC), "{name} is an age file");
    assert!(!bytes.windows(plaintext_marker.len()).any(|w| w == plaintext_marker), "no plaintext in {name}");
    let m = manifest(file);
    assert_eq!(m["encryption"]["kind"], "age", "{m}");
    let listed: Vec<&str> = m["encryption"]["recipients"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed, recipients, "{m}");
    assert!(!m.to_string().contains("AGE-SECRET-KEY"), "no secret in the manifest: {m}");
}

/// `age -d -i KEY FILE | DECOMPRESS | SINK` with stock tools; panics with their stderr.
fn stock_restore(key: &Path, file: &Path, decompress: &[&str], mut sink: Command) -> String {
    let mut age = Command::new("age")
        .args(["-d", "-i"])
        .arg(key)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Debian package `age` is installed (scripts/install-deps.sh)");
    let mut dec = Command::new(decompress[0]).args(&decompress[1..]).stdin(age.stdout.take().unwrap()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = sink.stdin(dec.stdout.take().unwrap()).stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let a = age.wait_with_output().unwrap();
    assert!(a.status.success(), "age -d failed: {}", String::from_utf8_lossy(&a.stderr));
    let d = dec.wait_with_output().unwrap();
    assert!(d.status.success(), "{} failed: {}", decompress[0], String::from_utf8_lossy(&d.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() && !stderr.contains("ERROR"), "the loader failed: {stderr}");
    format!("age -d -i {} {} | {} | {:?}", key.display(), file.display(), decompress.join(" "), sink.get_program())
}

fn pg_round_trip(format: &str, compression: &str, ext: &str) {
    let pg = PgCluster::shared();
    let src = fixture::fresh_sample(pg, "enc_src");
    let original = Snapshot::take(pg, &src);
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let job = "encpg";
    let tools = format!("tool_dir = {}\n", toml_str(&pg.bin().display().to_string()));
    let nj = installation(job, &pg.url(&src), &dest, &format!("format = \"{format}\"\ncompression = \"{compression}\"\n{tools}"));
    let key = scratch.path().join("key.txt");
    let public = key_new(&nj, job, &key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "the recovery file is owner-only");
    }
    let config = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(config.contains("[job.encryption]") && config.contains(&public), "{config}");
    assert!(!config.contains("AGE-SECRET-KEY"), "{config}");

    let (file, _) = backup(&nj, job, &dest);
    let marker: &[u8] = if format == "plain" && compression == "none" { b"PostgreSQL database dump" } else { b"CREATE TABLE" };
    assert_encrypted(&file, ext, &[&public], marker);

    // Nightjar restores it with the key kept for the job.
    let target = unique("enc_restored");
    let _ = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&target), "--yes", "--json"]).assert_success();
    original.assert_same(&Snapshot::take(pg, &target), &format!("{ext}.age restored by nightjar"));
    // `verify` decrypts too.
    let _ = nj.run(["verify", &file.display().to_string()]).assert_success();

    // Stock tools restore it with the recovery file.
    let stock = pg.fresh_db("enc_stock");
    let mut sink = Command::new(pg.tool(if format == "plain" { "psql" } else { "pg_restore" }));
    if format == "plain" {
        sink.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &pg.url(&stock)]);
    } else {
        sink.args(["--exit-on-error", "-d", &pg.url(&stock)]);
    }
    let decompress: &[&str] = match compression {
        "zstd" => &["zstd", "-dc"],
        "gzip" => &["gzip", "-dc"],
        _ => &["cat"],
    };
    let how = stock_restore(&key, &file, decompress, sink);
    original.assert_same(&Snapshot::take(pg, &stock), &how);
}

#[test]
fn postgres_plain_zstd_round_trips_encrypted_through_nightjar_and_stock_age() {
    pg_round_trip("plain", "zstd", "sql.zst");
}

#[test]
fn postgres_custom_zstd_round_trips_encrypted_through_nightjar_and_stock_age() {
    pg_round_trip("custom", "zstd", "dump.zst");
}

#[test]
fn postgres_plain_gzip_round_trips_encrypted_through_nightjar_and_stock_age() {
    pg_round_trip("plain", "gzip", "sql.gz");
}

#[test]
fn postgres_custom_uncompressed_round_trips_encrypted_through_nightjar_and_stock_age() {
    pg_round_trip("custom", "none", "dump");
}

#[test]
fn mariadb_round_trips_encrypted_through_nightjar_and_stock_age() {
    let server = MariaDbServer::shared();
    let src = my_sample::fresh_sample(server, "enc_my");
    let original = MySnapshot::take(server, &src);
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let job = "encmy";
    let nj = installation(job, &server.url(&src), &dest, "");
    let key = scratch.path().join("key.txt");
    let public = key_new(&nj, job, &key);
    let (file, _) = backup(&nj, job, &dest);
    assert_encrypted(&file, "sql.zst", &[&public], b"CREATE TABLE");

    let target = unique("enc_my_restored");
    let _ = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&target), "--yes", "--json"]).assert_success();
    original.assert_same(&MySnapshot::take(server, &target), "sql.zst.age restored by nightjar");

    let stock = server.fresh_db("enc_my_stock");
    let how = stock_restore(&key, &file, &["zstd", "-dc"], server.client_command(&stock));
    original.assert_same(&MySnapshot::take(server, &stock), &how);
}

#[test]
fn no_key_wrong_key_flipped_byte_and_cut_file_are_refused_with_the_target_untouched() {
    let pg = PgCluster::shared();
    let src = pg.fresh_db("enc_bad_src");
    pg.psql(&src, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g");
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let job = "encbad";
    let nj = installation(job, &pg.url(&src), &dest, "");
    let key = scratch.path().join("key.txt");
    let public = key_new(&nj, job, &key);
    let (file, _) = backup(&nj, job, &dest);

    // The target holds other data, which must survive every refusal.
    let target = pg.fresh_db("enc_bad_target");
    pg.psql(&target, "CREATE TABLE keep(x int); INSERT INTO keep VALUES (42)");
    let untouched = |what: &str| {
        assert_eq!(pg.psql(&target, "SELECT x FROM keep"), "42", "{what}: the target is untouched");
        assert!(pg.try_psql(&target, "SELECT count(*) FROM t").is_err(), "{what}: nothing was loaded");
    };
    let restore = |nj: &Nightjar, file: &Path, extra: &[&str]| {
        let mut args = vec!["restore".to_string(), file.display().to_string(), "--db".into(), pg.url(&target), "--yes".into()];
        args.extend(extra.iter().map(|s| (*s).to_string()));
        nj.run(&args).assert_failure()
    };

    // Another installation without the key: one sentence naming the
    // recipient and the import command, before anything is touched.
    let other = Nightjar::new();
    other.write_config("[secrets]\nstore = \"file\"\n");
    let out = restore(&other, &file, &[]);
    assert_mentions(&out.error_line(), &[&public, "nightjar key import --job encbad"]);
    untouched("no key");
    let out = other.run(["verify", &file.display().to_string()]).assert_failure();
    assert_mentions(&out.error_line(), &[&public, "nightjar key import"]);

    // A wrong key file: refused the same way.
    let wrong = scratch.path().join("wrong.txt");
    let other_key = scratch.path().join("other-key.txt");
    let other_job = Nightjar::new();
    other_job.write_config(&format!("{}[secrets]\nstore = \"file\"\n", job_toml("x", &pg.url(&src), &dest, "")));
    key_new(&other_job, "x", &other_key);
    std::fs::copy(&other_key, &wrong).unwrap();
    let out = restore(&other, &file, &["--identity", &wrong.display().to_string()]);
    assert_mentions(&out.error_line(), &[&public]);
    untouched("wrong key");

    // The right key file through --identity works where no key is kept.
    let as_new = unique("enc_identity");
    let _ = other.run(["restore", &file.display().to_string(), "--db", &pg.url(&as_new), "--identity", &key.display().to_string(), "--yes", "--trust-file"]).assert_success();
    assert_eq!(pg.psql(&as_new, "SELECT count(*) FROM t"), "20000");

    // A flipped byte in the middle, and a cut file (copies without a
    // manifest: the content itself must be refused, not only the checksum).
    let bytes = std::fs::read(&file).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let flipped_file = scratch.path().join(file.file_name().unwrap());
    std::fs::write(&flipped_file, &flipped).unwrap();
    let out = restore(&nj, &flipped_file, &["--identity", &key.display().to_string(), "--trust-file"]);
    assert_mentions(&out.error_line(), &["truncated or corrupted", "fails age's authentication", "was not changed"]);
    untouched("flipped byte");
    let _ = nj.run(["verify", &flipped_file.display().to_string(), "--identity", &key.display().to_string()]).assert_failure();
    let cut_dir = scratch.path().join("cut");
    std::fs::create_dir(&cut_dir).unwrap();
    let cut_file = cut_dir.join(file.file_name().unwrap());
    std::fs::write(&cut_file, &bytes[..bytes.len() - 1000]).unwrap();
    let out = restore(&nj, &cut_file, &["--identity", &key.display().to_string(), "--trust-file"]);
    assert_mentions(&out.error_line(), &["truncated or corrupted", "fails age's authentication", "was not changed"]);
    untouched("cut file");
    let out = nj.run(["verify", &cut_file.display().to_string(), "--identity", &key.display().to_string()]).assert_failure();
    assert_mentions(&out.error_line(), &["truncated or corrupted", "fails age's authentication"]);
}

#[test]
fn old_backups_stay_restorable_after_a_new_key_and_keys_move_by_export_and_import() {
    let pg = PgCluster::shared();
    let src = pg.fresh_db("enc_rot");
    pg.psql(&src, "CREATE TABLE t(id int primary key); INSERT INTO t SELECT generate_series(1, 100)");
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let job = "encrot";
    let nj = installation(job, &pg.url(&src), &dest, "");
    let first = key_new(&nj, job, &scratch.path().join("k1.txt"));
    let (old, _) = backup(&nj, job, &dest);
    pg.psql(&src, "INSERT INTO t SELECT generate_series(101, 150)");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = key_new(&nj, job, &scratch.path().join("k2.txt"));
    let (new, _) = backup(&nj, job, &dest);
    // The new backup is encrypted to both keys listed in the config.
    assert_encrypted(&new, "sql.zst", &[&first, &second], b"CREATE TABLE");

    // Listing (and so retention) recognises `<name>.<ext>.age`.
    let entries = nj.run(["list", "--job", job, "--json"]).assert_success().json();
    let entries = entries.as_array().unwrap_or_else(|| panic!("{entries}"));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e["encrypted"] == true && str_field(e, "name").ends_with(".sql.zst.age")), "{entries:?}");
    let listed = nj.run(["key", "list"]).assert_success().stdout;
    assert!(listed.contains(&first) && listed.contains(&second) && !listed.contains("AGE-SECRET-KEY"), "{listed}");

    // Export every key; a fresh installation imports them and restores the old backup.
    let exported = scratch.path().join("all-keys.txt");
    let _ = nj.run(["key", "export", "--job", job, "--out", &exported.display().to_string()]).assert_success();
    let _ = nj.run(["key", "export", "--job", job, "--out", &exported.display().to_string()]).assert_failure();
    let fresh = Nightjar::new();
    fresh.write_config("[secrets]\nstore = \"file\"\n");
    let _ = fresh.run(["key", "import", "--job", job, &exported.display().to_string()]).assert_success();
    for (file, rows) in [(&old, "100"), (&new, "150")] {
        let target = unique("enc_rot_restored");
        // Another installation made it: restored on the user's word.
        let _ = fresh.run(["restore", &file.display().to_string(), "--db", &pg.url(&target), "--yes", "--trust-file"]).assert_success();
        assert_eq!(pg.psql(&target, "SELECT count(*) FROM t"), rows);
    }
}

#[test]
fn passphrase_mode_encrypts_to_the_kept_passphrase() {
    let pg = PgCluster::shared();
    let src = pg.fresh_db("enc_pass");
    pg.psql(&src, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, 'секрет ' || g FROM generate_series(1, 300) g");
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let job = "encpass";
    let nj = installation(job, &pg.url(&src), &dest, "");
    let short = nj.cmd(["key", "passphrase", "--job", job]).stdin("short\n").run().assert_failure();
    assert_mentions(&short.error_line(), &["12 characters"]);
    let pass = "correct horse battery staple";
    let _ = nj.cmd(["key", "passphrase", "--job", job]).stdin(format!("{pass}\n")).run().assert_success();
    let (file, _) = backup(&nj, job, &dest);
    assert_encrypted(&file, "sql.zst", &[], "секрет".as_bytes());
    assert_eq!(manifest(&file)["encryption"]["passphrase"], true);

    let target = unique("enc_pass_restored");
    let _ = nj.run(["restore", &file.display().to_string(), "--db", &pg.url(&target), "--yes"]).assert_success();
    assert_eq!(pg.psql(&target, "SELECT count(*) FROM t WHERE v LIKE 'секрет %'"), "300");

    // The passphrase alone opens it (what `age -d` asks for at a terminal).
    use nightjar_core::age;
    use std::io::Read as _;
    let id = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass.to_string()));
    let d = age::Decryptor::new(std::fs::File::open(&file).unwrap()).unwrap();
    let mut r = d.decrypt(std::iter::once(&id as &dyn age::Identity)).unwrap();
    let mut compressed = Vec::new();
    r.read_to_end(&mut compressed).unwrap();
    let sql = String::from_utf8(Command::new("zstd").arg("-dc").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map(|mut c| {
        use std::io::Write as _;
        c.stdin.take().unwrap().write_all(&compressed).unwrap();
        c.wait_with_output().unwrap().stdout
    }).unwrap()).unwrap();
    assert!(sql.contains("PostgreSQL database dump"));

    // Without the passphrase kept: a sentence saying how to set it.
    let other = Nightjar::new();
    other.write_config("[secrets]\nstore = \"file\"\n");
    let out = other.run(["restore", &file.display().to_string(), "--db", &pg.url(&unique("enc_pass_no")), "--yes"]).assert_failure();
    assert_mentions(&out.error_line(), &["passphrase", "nightjar key passphrase --job encpass"]);
}

#[test]
fn an_encrypted_backup_in_onedrive_holds_only_ciphertext_and_restores() {
    let pg = PgCluster::shared();
    let src = pg.fresh_db("enc_od");
    pg.psql(&src, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, 'plain-' || md5(g::text) FROM generate_series(1, 3000) g");
    let fake = FakeGraph::start();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set(REFRESH_ACCOUNT, &fake.issue_refresh_token()).unwrap();
    let settings = OneDriveSettings { tenant: "common".into(), client_id: Some("test".into()), login_base_url: fake.login_base(), graph_base_url: fake.graph_base(), ..Default::default() };
    let graph = Arc::new(Graph::new(GraphConfig::from_settings(&settings), secrets.clone()).unwrap());
    let identity = nightjar_core::age::x25519::Identity::generate();
    nightjar_core::crypt::store_identity(secrets.as_ref(), "encod", &identity).unwrap();
    let public = identity.to_public().to_string();
    let toml = format!(
        "[[job]]\nname = \"encod\"\ndatabase = {}\ndestination = \"onedrive:/Backups/encod\"\ntimezone = \"UTC\"\ntool_dir = {}\n[job.encryption]\nrecipients = [{}]\n",
        toml_str(&pg.url(&src)),
        toml_str(&pg.bin().display().to_string()),
        toml_str(&public)
    );
    let job = Config::parse(&toml, None, &ParseEnv::from_system()).unwrap().jobs.remove(0);
    let scratch = tempfile::tempdir().unwrap();
    let data = DataDir::new(scratch.path().join("data"));
    let g = graph.clone();
    let engine = Engine::builder(data.clone())
        .history(Arc::new(History::open_in_memory().unwrap()))
        .secrets(secrets.clone())
        .destination(ONEDRIVE, move |p: &str, _: &OpenEnv<'_>| Ok(Box::new(OneDriveDestination::new(g.clone(), p)) as Box<_>))
        .build();
    let cancel = AtomicBool::new(false);
    let report = engine.runner(&NoopObserver, &cancel).unwrap().backup(&job, &BackupOptions::new(Trigger::Manual)).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert!(report.name.ends_with(".sql.zst.age"), "{}", report.name);

    let stored = fake.file(&format!("/Backups/encod/{}", report.name)).unwrap();
    assert!(stored.starts_with(AGE_MAGIC));
    assert!(!stored.windows(6).any(|w| w == b"plain-"), "only ciphertext in OneDrive");
    let m: Value = serde_json::from_slice(&fake.file(&format!("/Backups/encod/{}.json", report.name)).unwrap()).unwrap();
    assert_eq!(m["encryption"]["recipients"][0], public.as_str());
    let stored_copy = scratch.path().join("stored.age");
    std::fs::write(&stored_copy, &stored).unwrap();
    assert_eq!(str_field(&m, "sha256"), nightjar_tests::sha256sum(&stored_copy), "the sha256 is of what is stored");

    let latest = engine.latest_backup(&job).unwrap();
    let copy = nightjar_core::remote::fetch(&engine, &latest.path, &NoopObserver, &job.name, &cancel).unwrap_or_else(|e| panic!("{}", e.detailed()));
    let restored = unique("enc_od_restored");
    let opts = RestoreOptions { as_new: Some(restored.clone()), safety_backup: false, origin: Some(copy.origin().to_string()), ..Default::default() };
    engine.restorer(&NoopObserver, &cancel).unwrap().run(copy.path(), &job, &opts).unwrap_or_else(|e| panic!("{}", e.detailed()));
    assert_eq!(pg.psql(&restored, "SELECT count(*) FROM t WHERE v LIKE 'plain-%'"), "3000");
}

#[test]
fn key_new_refuses_an_unknown_job_and_an_existing_recovery_file_and_changes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let nj = installation("enckeys", "postgres://u@localhost/db", &scratch.path().join("b"), "");
    let before = std::fs::read_to_string(nj.config_path()).unwrap();
    let out = nj.run(["key", "new", "--job", "nope"]).assert_failure();
    assert_mentions(&out.error_line(), &["no job \"nope\"", "enckeys"]);
    let existing = scratch.path().join("key.txt");
    std::fs::write(&existing, "keep me").unwrap();
    let out = nj.run(["key", "new", "--job", "enckeys", "--out", &existing.display().to_string()]).assert_failure();
    assert_mentions(&out.error_line(), &["exists already", "nothing was written"]);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(nj.config_path()).unwrap(), before, "the config is unchanged");
    let out = nj.run(["key", "export", "--job", "enckeys", "--out", &scratch.path().join("none.txt").display().to_string()]).assert_failure();
    assert_mentions(&out.error_line(), &["No key is kept", "nightjar key new --job enckeys"]);
    // Without --out, the key is kept and the sentence says how to save a recovery copy.
    let out = nj.run(["key", "new", "--job", "enckeys"]).assert_success();
    assert_mentions(&out.stderr, &["nightjar key export --job enckeys --out FILE"]);
    // The secret key is in the (owner-only) secret store, never in the config.
    let store = nj.scratch().join("credentials.toml");
    assert!(std::fs::read_to_string(&store).unwrap().contains("AGE-SECRET-KEY-1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&store).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(!std::fs::read_to_string(nj.config_path()).unwrap().contains("AGE-SECRET-KEY"));
}
