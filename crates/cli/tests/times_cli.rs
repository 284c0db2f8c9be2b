//! Every time the CLI prints says its zone: a job's times in the job's own
//! zone, named; others in this computer's zone, named.

use std::process::Command;

fn nightjar(dir: &std::path::Path, tz: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nightjar"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(args)
        .env("TZ", tz)
        .env("NIGHTJAR_KEYRING", "off")
        .env("NIGHTJAR_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn status_is_in_the_jobs_zone_and_history_in_this_computers_both_named() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[[job]]\nname = \"kyiv\"\ndatabase = \"postgres://nobody@127.0.0.1:9/none\"\ndestination = \"{}\"\nschedule = \"daily 00:00\"\ntimezone = \"Europe/Kyiv\"\n",
            dest.display()
        ),
    )
    .unwrap();
    // This computer is in New York; the job runs at midnight in Kyiv.
    let (code, out, err) = nightjar(dir.path(), "America/New_York", &["status"]);
    assert_eq!(code, 0, "{err}");
    let next = out.lines().find(|l| l.trim_start().starts_with("next run:")).unwrap_or_else(|| panic!("{out}"));
    assert!(next.contains(" 00:00:00 EET (daily 00:00, Europe/Kyiv)") || next.contains(" 00:00:00 EEST (daily 00:00, Europe/Kyiv)"), "{next}");

    // A run that fails at once (nothing listens on port 9) is recorded.
    let (code, _, _) = nightjar(dir.path(), "America/New_York", &["backup", "--job", "kyiv"]);
    assert_ne!(code, 0);
    let (_, out, _) = nightjar(dir.path(), "America/New_York", &["status"]);
    let last = out.lines().find(|l| l.trim_start().starts_with("last run:")).unwrap_or_else(|| panic!("{out}"));
    assert!(last.contains(" EET failed") || last.contains(" EEST failed"), "the job's zone, named: {last}");
    let (code, out, err) = nightjar(dir.path(), "America/New_York", &["history"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" EST kyiv") || out.contains(" EDT kyiv"), "this computer's zone, named: {out}");
}
