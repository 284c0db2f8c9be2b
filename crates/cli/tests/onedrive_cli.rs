//! `nightjar onedrive …` and an `onedrive:` job through the real binary,
//! against the fake (without a keyring: the full sign-in flow is covered in
//! crates/onedrive/tests with an in-memory store).

use std::process::Command;

use nightjar_onedrive_fake::FakeGraph;

fn nightjar(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nightjar"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(args)
        .env("NIGHTJAR_KEYRING", "off")
        .env("NIGHTJAR_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn onedrive_commands_and_an_onedrive_job_reach_the_graph_client() {
    let fake = FakeGraph::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            r#"
[[job]]
name = "od"
database = "postgres://nobody@127.0.0.1:9/none"
destination = "onedrive:/Backups/od"

[onedrive]
tenant = "common"
client_id = "11111111-2222-3333-4444-555555555555"
login_base_url = "{}"
graph_base_url = "{}"
"#,
            fake.login_base(),
            fake.graph_base()
        ),
    )
    .unwrap();
    let (code, _, err) = nightjar(dir.path(), &["onedrive", "whoami"]);
    assert_eq!(code, 1);
    assert!(err.contains("not signed in to OneDrive"), "{err}");
    let (code, _, err) = nightjar(dir.path(), &["onedrive", "login", "--device-code"]);
    assert_eq!(code, 1);
    assert!(err.contains("NIGHTJAR_KEYRING=off"), "{err}");
    let (code, out, _) = nightjar(dir.path(), &["onedrive", "logout"]);
    assert_eq!(code, 0);
    assert!(out.contains("not signed in"), "{out}");
    // The job's onedrive: destination is opened through the Graph client
    // (not refused as unsupported) and fails on the missing sign-in.
    let (code, _, err) = nightjar(dir.path(), &["backup", "--job", "od"]);
    assert_ne!(code, 0);
    assert!(err.contains("not signed in to OneDrive"), "{err}");
    assert!(!err.contains("does not have yet"), "{err}");
    // Restore and verify of a backup in OneDrive go through the Graph client
    // (download to a private copy), not the file system.
    let file = "onedrive:/Backups/od/od_2025-01-01_00-00-00.sql.zst";
    for args in [vec!["verify", file], vec!["restore", file, "--job", "od", "--yes"], vec!["restore", "--job", "od", "--latest", "--yes"]] {
        let (code, _, err) = nightjar(dir.path(), &args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("not signed in to OneDrive"), "{args:?}: {err}");
    }
    let (code, _, err) = nightjar(dir.path(), &["restore", file, "--db", "postgres://nobody@127.0.0.1:9/none", "--yes"]);
    assert_eq!(code, 2, "a usage problem");
    assert!(err.contains("--safety-dir"), "{err}");
}
