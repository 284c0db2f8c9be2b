//! Config errors as the user sees them through the CLI: a non-zero exit and
//! one line naming the file, the job and the field, saying what is allowed.
//! No database is needed: these fail before anything connects.

use nightjar_tests::backup::{assert_mentions, job_toml};
use nightjar_tests::{file_names, Nightjar};

fn base(nj: &Nightjar, extra: &str) -> String {
    job_toml("tgapp", "postgres://tgapp@localhost:5432/tgapp", &nj.scratch().join("backups"), extra)
}

#[test]
fn bad_compression_names_file_job_field_and_the_allowed_values() {
    let nj = Nightjar::new();
    nj.write_config(&base(&nj, "compression = \"bzip2\"\n"));
    let cfg = nj.config_path().display().to_string();
    for args in [vec!["backup", "--job", "tgapp"], vec!["backup"], vec!["status"], vec!["list"]] {
        let out = nj.run(&args).assert_failure();
        let line = out.error_line();
        assert_mentions(&line, &[&cfg, "job \"tgapp\"", "compression", "zstd", "gzip", "none"]);
    }
    assert!(!nj.scratch().join("backups").exists(), "nothing was created");
}

#[test]
fn other_bad_fields_are_named_too() {
    let nj = Nightjar::new();
    let cfg = nj.config_path().display().to_string();
    for (extra, needles) in [
        ("format = \"tar\"\n", &["format", "plain", "custom"][..]),
        ("timezone = \"Mars/Olympus\"\n", &["timezone", "IANA"][..]),
        ("schedule = \"every 5 fortnights\"\n", &["schedule"][..]),
        ("compression_level = 99\n", &["compression_level", "1", "19"][..]),
        ("formt = \"plain\"\n", &["formt"][..]),
    ] {
        // `timezone` is set by job_toml; a second one would be a duplicate key.
        let text = base(&nj, extra).replace("timezone = \"UTC\"\n", if extra.starts_with("timezone") { "" } else { "timezone = \"UTC\"\n" });
        nj.write_config(&text);
        let out = nj.run(["backup", "--job", "tgapp"]).assert_failure();
        let line = out.error_line();
        let mut all = vec![cfg.as_str(), "tgapp"];
        all.extend_from_slice(needles);
        assert_mentions(&line, &all);
    }
}

#[test]
fn password_in_the_database_url_is_refused_and_not_echoed() {
    let nj = Nightjar::new();
    nj.write_config(&job_toml("tgapp", "postgres://tgapp:Hunter2-secret@localhost:5432/tgapp", &nj.scratch().join("b"), ""));
    let out = nj.run(["backup", "--job", "tgapp"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["database", "password", "nightjar password set"]);
    assert!(!line.contains("Hunter2-secret"), "the password is not echoed: {line}");
}

#[test]
fn unknown_job_lists_the_jobs_and_missing_config_says_how_to_create_one() {
    let nj = Nightjar::new();
    nj.write_config(&base(&nj, ""));
    let out = nj.run(["backup", "--job", "nope"]).assert_failure();
    assert_mentions(&out.error_line(), &["nope", "tgapp"]);

    std::fs::remove_file(nj.config_path()).unwrap();
    let out = nj.run(["backup", "--job", "tgapp"]).assert_failure();
    assert_mentions(&out.error_line(), &[&nj.config_path().display().to_string(), "does not exist"]);
    assert_eq!(file_names(nj.scratch()), vec!["data".to_string()], "nothing but the data dir");
}

#[test]
fn password_set_without_a_keyring_fails_clearly_and_never_echoes_it() {
    let nj = Nightjar::new();
    nj.write_config(&base(&nj, ""));
    let out = nj.cmd(["password", "set", "--job", "tgapp"]).stdin("Typed-Secret-42\n").run().assert_failure();
    assert_mentions(&out.error_line(), &["keyring"]);
    assert!(!out.stdout.contains("Typed-Secret-42") && !out.stderr.contains("Typed-Secret-42"));
    assert!(!std::fs::read_to_string(nj.config_path()).unwrap().contains("Typed-Secret-42"), "never written to the config");
}

/// What a secret-echo test looks for; distinctive so that no other text holds it.
const ECHO_SECRET: &str = "Nj-Echo-S3cret";

/// Every command that takes `--db URL`, with that URL.
fn db_commands(nj: &Nightjar, url: &str) -> Vec<Vec<String>> {
    let dest = nj.scratch().join("backups").display().to_string();
    let file = nj.scratch().join("app_2026-01-01_00-00-00_manual.sql.zst").display().to_string();
    let v = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect::<Vec<String>>();
    vec![
        v(&["backup", "--db", url, "--dest", &dest]),
        v(&["backup", "--db", url, "--dest", &dest, "--json"]),
        v(&["restore", &file, "--db", url, "--yes"]),
        v(&["verify", &file, "--restore-test", "--db", url]),
        v(&["kept", "list", "--db", url]),
        v(&["kept", "drop", "x__before_restore_20260101000000", "--db", url, "--yes"]),
        v(&["password", "set", "--db", url]),
    ]
}

#[test]
fn a_url_that_does_not_parse_never_shows_its_password() {
    let nj = Nightjar::new();
    let s = ECHO_SECRET;
    let urls = [
        format!("postgres://u:{s}@h:5432x/db"),
        format!("mysql://u:{s}@h:bad/db"),
        format!("postgresql://u:{s}@[::1/db"),
        format!("oracle://u:{s}@h/db"),
        format!("postgres://u:{s}/with/slashes@h/db"),
        format!("postgres:/u:{s}@h/db"),
        format!("postgres://u@h/db?password={s}"),
    ];
    for url in &urls {
        for args in db_commands(&nj, url) {
            let out = nj.cmd(&args).stdin("typed\n").run().assert_failure();
            let line = out.error_line();
            assert!(!out.stderr.contains(s) && !out.stdout.contains(s), "`{}` echoed the password: {line}\n{}", out.shown, out.stdout);
            assert_mentions(&line, &["--db"]);
        }
        // The same URL in the config file: every command that reads it.
        nj.write_config(&job_toml("app", url, &nj.scratch().join("backups"), ""));
        for args in [&["backup", "--job", "app"][..], &["backup"], &["backup", "--json"], &["status"], &["list"], &["prune", "--job", "app"]] {
            let out = nj.run(args).assert_failure();
            let line = out.error_line();
            assert_mentions(&line, &["job \"app\"", "database"]);
            assert!(!out.stderr.contains(s) && !out.stdout.contains(s), "`{}` echoed the password: {line}", out.shown);
        }
        nj.write_config("# no jobs\n");
        // Typed where clap does not expect it, it is quoted back: redacted.
        let out = nj.run(["backup", url.as_str()]).assert_failure();
        assert!(!out.stderr.contains(s), "the usage error echoed the password: {}", out.stderr);
    }
    assert!(!nj.logs().is_empty(), "the failures were logged");
    assert!(!nj.logs().contains(s), "the password is in the log file:\n{}", nj.logs());
    let history = serde_json::to_string(&nj.history(None)).unwrap();
    assert!(!history.contains(s), "the password is in the history: {history}");
}

#[test]
fn a_password_in_a_db_flag_is_refused_naming_where_it_goes_instead() {
    let nj = Nightjar::new();
    let s = ECHO_SECRET;
    for (url, var, without) in [
        (format!("postgres://app:{s}@db.example:5432/shop"), "PGPASSWORD", "postgres://app@db.example:5432/shop"),
        (format!("mysql://app:{s}@db.example/shop"), "MYSQL_PWD", "mysql://app@db.example/shop"),
    ] {
        for args in db_commands(&nj, &url) {
            let out = nj.cmd(&args).stdin("typed\n").run().assert_failure();
            assert_eq!(out.status.code(), Some(2), "a usage error: {}", out.stderr);
            let line = out.error_line();
            assert_mentions(&line, &["--db", "password", "command line", &format!("nightjar password set --db '{without}'"), var]);
            assert!(!out.stderr.contains(s) && !out.stdout.contains(s), "`{}` echoed the password: {line}", out.shown);
        }
    }
    assert!(!nj.scratch().join("backups").exists(), "nothing was created");
    assert!(!nj.logs().contains(s), "the password is in the log file");
}

#[test]
fn a_refused_command_line_is_one_line_and_json_stays_one_document() {
    let nj = Nightjar::new();
    nj.write_config(&base(&nj, ""));
    // clap's several lines become one, with its tip and where the help is.
    let out = nj.run(["backup", "--jobb", "tgapp"]).assert_failure();
    assert_eq!(out.status.code(), Some(2));
    assert_mentions(&out.error_line(), &["--jobb", "--job", "nightjar backup --help"]);
    let out = nj.run(["restore"]).assert_failure();
    assert_mentions(&out.error_line(), &["required", "<FILE>", "nightjar restore --help"]);
    // With --json, a failure before any result is still one JSON document.
    let out = nj.run(["backup", "--json", "--bogus"]).assert_failure();
    let doc = out.json();
    assert_eq!((doc["status"].as_str(), doc["error_kind"].as_str()), (Some("failed"), Some("usage")), "{doc}");
    let not_a_backup = nj.scratch().join("notes.sql.zst");
    std::fs::write(&not_a_backup, b"just some text").unwrap();
    let out = nj.run(["verify", not_a_backup.to_str().unwrap(), "--json"]).assert_failure();
    let doc = out.json();
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(doc["error"].as_str(), Some(out.error_line().trim_start_matches("nightjar: ")), "the document says what stderr says");
}

#[test]
fn list_fails_when_a_destination_cannot_be_read() {
    let nj = Nightjar::new();
    // The job's folder is not there: not "No backups found" with success.
    nj.write_config(&base(&nj, ""));
    let out = nj.run(["list"]).assert_failure();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("does not exist") && out.stderr.contains("could not be read"), "{}", out.stderr);
    let out = nj.run(["list", "--json"]).assert_failure();
    assert_eq!(out.json(), serde_json::json!([]));
    std::fs::create_dir_all(nj.scratch().join("backups")).unwrap();
    let _ = nj.run(["list"]).assert_success();
}
