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

/// Without an application id of the user's own, nothing is sent to
/// Microsoft: the sign-in says how to set one up (Microsoft cannot be
/// reached from the tests, so any request would fail differently).
#[test]
fn sign_in_without_an_application_id_says_how_to_set_one_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[onedrive]\ntenant = \"common\"\n").unwrap();
    for args in [&["onedrive", "login", "--no-browser"][..], &["onedrive", "login", "--device-code"][..]] {
        let (code, _, err) = nightjar(dir.path(), args);
        assert_eq!(code, 2, "a config problem: {args:?}: {err}");
        assert!(err.contains("Set up a OneDrive application id first"), "{args:?}: {err}");
        assert!(err.contains("http://localhost") && err.contains("client_id"), "{err}");
        assert!(!err.contains("Could not reach Microsoft"), "nothing was sent: {err}");
    }
    std::fs::write(dir.path().join("config.toml"), "[onedrive]\nclient_id = \"my app\"\n").unwrap();
    let (code, _, err) = nightjar(dir.path(), &["onedrive", "login"]);
    assert_ne!(code, 0);
    assert!(err.contains("field `client_id`") && err.contains("Application (client) ID"), "{err}");
}

#[test]
fn onedrive_folders_lists_the_synced_folders_under_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    for d in ["OneDrive", "OneDrive - Contoso", "Documents", ".config/onedrive", "Cloud/od"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::write(home.join(".config/onedrive/config"), "sync_dir = \"~/Cloud/od\"\n").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nightjar"))
            .arg("--config")
            .arg(dir.path().join("none.toml"))
            .args(args)
            .env("HOME", &home)
            .env("NIGHTJAR_KEYRING", "off")
            .env("NIGHTJAR_DATA_DIR", dir.path().join("data"))
            .env_remove("OneDrive")
            .env_remove("OneDriveCommercial")
            .env_remove("OneDriveConsumer")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["onedrive", "folders"]);
    let want = [home.join("Cloud/od"), home.join("OneDrive"), home.join("OneDrive - Contoso")];
    assert_eq!(text.lines().collect::<Vec<_>>(), want.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>());
    let json: Vec<String> = serde_json::from_str(&run(&["onedrive", "folders", "--json"])).unwrap();
    assert_eq!(json.len(), 3);
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    assert!(run(&["onedrive", "folders"]).starts_with("No OneDrive-synced folder was found"));
}

#[test]
fn status_tells_whether_the_last_good_backup_of_a_synced_folder_job_is_in_the_cloud() {
    use nightjar_core::history::{CloudState, History, NewCloudCopy, NewRun, RunKind, RunOutcome};
    use nightjar_core::model::{RunStatus, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("OneDrive/Backups/app");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!("[[job]]\nname = \"app\"\ndatabase = \"postgres://u@127.0.0.1:9/app\"\ndestination = \"{}\"\n", folder.display()),
    )
    .unwrap();
    let file = folder.join("app_2026-03-01_02-00-00.sql.zst");
    std::fs::write(&file, b"x").unwrap();
    let history = History::open(&dir.path().join("data/history.sqlite3")).unwrap();
    let at = chrono::Utc::now();
    let run = NewRun {
        job: "app".into(),
        kind: RunKind::Backup,
        trigger: Trigger::Scheduled,
        started_at: at,
        destination: folder.display().to_string(),
        engine: None,
        format: None,
        compression: None,
        database: None,
    };
    let id = history.start_run(&run).unwrap();
    let done = RunOutcome { status: RunStatus::Success, finished_at: at, size: Some(1), file: Some(file.display().to_string()), sha256: None, error: None, error_kind: None };
    history.finish_run(id, &done).unwrap();
    history
        .track_cloud_copy(&NewCloudCopy { run_id: id, job: "app".into(), file: file.display().to_string(), remote_path: "Backups/app/x".into(), size: 1, quick_xor_hash: "h".into(), since: at })
        .unwrap();
    let (code, out, err) = nightjar(dir.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in cloud:    not yet: waiting for the OneDrive client"), "{out}");
    history.set_cloud_state(id, CloudState::Late, at).unwrap();
    let (_, out, _) = nightjar(dir.path(), &["status"]);
    assert!(out.contains("in cloud:    NO: the last good backup"), "{out}");
    history.set_cloud_state(id, CloudState::InCloud, at).unwrap();
    let (_, out, _) = nightjar(dir.path(), &["status"]);
    assert!(out.contains("in cloud:    yes, OneDrive holds the last good backup"), "{out}");
    let (_, out, _) = nightjar(dir.path(), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cloud"]["app"]["state"], "in-cloud", "{v}");
}
