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
