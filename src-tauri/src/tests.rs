//! The command layer driven through Tauri's mock runtime: real IPC requests
//! in, JSON out, against a temporary config and data folder.

use std::sync::Arc;

use nightjar_core::history::History;
use nightjar_core::paths::DataDir;
use nightjar_core::secrets::MemorySecrets;
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

use crate::AppState;

const CONFIG: &str = "# mine\n[[job]]\nname = \"tg\"\ndatabase = \"postgres://tg@localhost:5432/tg\"\ndestination = \"/tmp/nightjar-test-backups\"\nschedule = \"daily 00:00\"   # midnight\n\n[job.retention]\nkeep_days = 7\n";

struct Fixture {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    _app: tauri::App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let history = History::open(&data.history_file()).unwrap();
    let state = AppState::new(data, config.clone(), history, Arc::new(MemorySecrets::default()));
    let app = crate::build_app(mock_builder(), state, crate::Link::none(), |_| {}).build(mock_context(noop_assets())).unwrap();
    let webview = WebviewWindowBuilder::new(&app, crate::MAIN_WINDOW, Default::default()).build().unwrap();
    Fixture { _dir: dir, config, _app: app, webview }
}

fn invoke(w: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    let req = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: tauri::ipc::InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    tauri::test::get_ipc_response(w, req).map(|b| b.deserialize::<Value>().unwrap())
}

fn form(f: &Fixture) -> Value {
    let s = invoke(&f.webview, "settings_get", json!({})).unwrap();
    s["jobs"][0]["form"].clone()
}

#[test]
fn saving_a_bad_schedule_returns_a_field_error_and_keeps_the_file() {
    let f = fixture();
    let mut job = form(&f);
    job["schedule"] = json!("every 5h");
    let err = invoke(&f.webview, "job_save", json!({ "original": "tg", "form": job })).unwrap_err();
    assert_eq!((&err["code"], &err["field"]), (&json!("config"), &json!("schedule")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("divide 24"), "{err}");
    assert_eq!(std::fs::read_to_string(&f.config).unwrap(), CONFIG);
}

#[test]
fn saving_retention_keeps_comments() {
    let f = fixture();
    let mut job = form(&f);
    job["retention"]["keep_days"] = json!(14);
    invoke(&f.webview, "job_save", json!({ "original": "tg", "form": job })).unwrap();
    let text = std::fs::read_to_string(&f.config).unwrap();
    assert!(text.contains("keep_days = 14") && text.contains("# mine") && text.contains("# midnight"), "{text}");
    let o = invoke(&f.webview, "overview", json!({})).unwrap();
    assert_eq!(o["jobs"][0]["name"], "tg");
    assert_eq!(o["jobs"][0]["nextRuns"].as_array().unwrap().len(), 3);
}

#[test]
fn a_stored_password_is_never_sent_back() {
    let f = fixture();
    let stored = invoke(&f.webview, "password_set", json!({ "job": "tg", "password": "s3cret-pw" })).unwrap();
    assert_eq!(stored, json!(true));
    let s = invoke(&f.webview, "settings_get", json!({})).unwrap();
    assert_eq!(s["jobs"][0]["passwordStored"], json!(true));
    assert!(!s.to_string().contains("s3cret-pw"), "{s}");
    assert!(!std::fs::read_to_string(&f.config).unwrap().contains("s3cret-pw"));
    assert_eq!(invoke(&f.webview, "password_delete", json!({ "job": "tg" })).unwrap(), json!(false));
    assert_eq!(invoke(&f.webview, "settings_get", json!({})).unwrap()["jobs"][0]["passwordStored"], json!(false));
}

#[test]
fn history_and_stats_start_empty_and_a_bad_file_is_refused_before_anything_runs() {
    let f = fixture();
    assert_eq!(invoke(&f.webview, "history_list", json!({ "filter": {} })).unwrap(), json!([]));
    assert_eq!(invoke(&f.webview, "history_stats", json!({})).unwrap(), json!([]));
    let err = invoke(&f.webview, "restore_plan", json!({ "request": { "file": "", "job": null, "asNew": null, "safetyBackup": true } })).unwrap_err();
    assert_eq!(err["field"], "file");
}

#[test]
fn an_ipc_error_is_code_and_message() {
    let f = fixture();
    let err = invoke(&f.webview, "reveal_file", json!({ "id": 4242 })).unwrap_err();
    assert_eq!(err, json!({ "code": "not-found", "message": "This run is no longer in the history; reload the view." }));
    let err = invoke(&f.webview, "schedule_preview", json!({ "schedule": "every 5h", "timezone": null, "count": 3 })).unwrap_err();
    assert_eq!((&err["code"], &err["field"]), (&json!("config"), &json!("schedule")), "{err}");
    let err = invoke(&f.webview, "set_paused", json!({ "paused": true })).unwrap_err();
    assert_eq!(err["code"], "other", "no tray process here: {err}");
}

#[test]
fn discovery_commands_are_registered_with_the_page_s_argument_names() {
    let f = fixture();
    // Checked before any server is looked for: nothing on this machine is probed.
    let e = invoke(&f.webview, "discover_login", json!({ "serverId": "postgres:local:5432", "user": "app", "password": "" })).unwrap_err();
    assert_eq!((e["field"].as_str(), e["message"].as_str()), (Some("password"), Some("Type the password first.")), "{e}");
    let e = invoke(&f.webview, "discover_login", json!({ "serverId": "postgres:local:5432", "user": " ", "password": "x" })).unwrap_err();
    assert_eq!(e["field"], "user", "{e}");
    // A missing argument is refused by name.
    let e = invoke(&f.webview, "protect", json!({ "serverId": "x" })).unwrap_err();
    assert!(e.to_string().contains("database"), "{e}");
}

#[test]
fn alerts_are_saved_with_field_errors_and_their_secret_is_never_sent_back() {
    let f = fixture();
    let bad = json!({ "name": "mail", "kind": "email", "smtp": "smtp://relay:25", "tls": "none", "from": "not an address", "to": ["ops@example.com"] });
    let err = invoke(&f.webview, "alert_save", json!({ "original": null, "alert": bad })).unwrap_err();
    assert_eq!((&err["code"], &err["field"]), (&json!("config"), &json!("from")), "{err}");
    assert_eq!(std::fs::read_to_string(&f.config).unwrap(), CONFIG, "nothing written");
    let tg = json!({ "name": "tg-chat", "kind": "telegram", "chat_id": "-100", "jobs": ["tg"] });
    invoke(&f.webview, "alert_save", json!({ "original": null, "alert": tg })).unwrap();
    assert_eq!(invoke(&f.webview, "alert_secret_set", json!({ "name": "tg-chat", "secret": "123:bot-secret" })).unwrap(), json!(true));
    let list = invoke(&f.webview, "alerts_get", json!({})).unwrap();
    assert_eq!(list[0]["alert"]["chat_id"], "-100");
    assert_eq!((&list[0]["secretStored"], &list[0]["secretLabel"]), (&json!(true), &json!("the bot token")), "{list}");
    assert!(!list.to_string().contains("bot-secret"), "{list}");
    let text = std::fs::read_to_string(&f.config).unwrap();
    assert!(text.contains("# mine") && text.contains("[[alert]]") && !text.contains("bot-secret"), "{text}");
    invoke(&f.webview, "alert_delete", json!({ "name": "tg-chat" })).unwrap();
    assert_eq!(invoke(&f.webview, "alerts_get", json!({})).unwrap(), json!([]));
}

#[test]
fn the_language_is_saved_in_the_config_and_comes_back_with_its_catalog() {
    let f = fixture();
    let l = invoke(&f.webview, "ui_language", json!({})).unwrap();
    assert_eq!(l["choice"], "auto", "{l}");
    assert_eq!(l["english"]["settings.language"], "Language", "the English catalog for fallbacks");
    let ru = invoke(&f.webview, "ui_language_set", json!({ "choice": "ru" })).unwrap();
    assert_eq!((&ru["language"], &ru["choice"]), (&json!("ru"), &json!("ru")), "{}", ru["language"]);
    assert!(ru["messages"]["settings.language"].as_str().is_some_and(|s| !s.is_empty() && s != "Language"), "the Russian catalog: {}", ru["messages"]["settings.language"]);
    let text = std::fs::read_to_string(&f.config).unwrap();
    assert!(text.contains("[ui]\nlanguage = \"ru\"") && text.contains("# midnight"), "saved in place:\n{text}");
    assert_eq!(invoke(&f.webview, "ui_language", json!({})).unwrap()["language"], "ru", "read back");
    let err = invoke(&f.webview, "ui_language_set", json!({ "choice": "de" })).unwrap_err();
    assert_eq!(err["field"], "language", "{err}");
    assert!(err["message"].as_str().unwrap().contains("\"de\" is not a language"), "{err}");
    assert!(std::fs::read_to_string(&f.config).unwrap().contains("language = \"ru\""), "a refused choice changes nothing");
}

/// A backup of job "tg" in `dir` taken at `at`, with its manifest, recorded
/// as a successful run of the history; returns the run's id and the file.
fn folder_backup(f: &Fixture, dir: &std::path::Path, at: chrono::DateTime<chrono::Utc>, body: &[u8]) -> (i64, std::path::PathBuf) {
    use nightjar_core::history::{NewRun, RunKind, RunOutcome};
    use nightjar_core::model::{Compression, Engine, Format, Trigger};
    let name = nightjar_core::names::backup_file_name("tg", at, chrono_tz::Tz::UTC, Trigger::Manual, Format::Plain, Compression::None);
    let file = dir.join(&name);
    std::fs::write(&file, body).unwrap();
    use sha2::Digest as _;
    let (size, sha256) = (body.len() as u64, sha2::Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect::<String>());
    let manifest = nightjar_core::manifest::Manifest {
        app: nightjar_core::manifest::APP.into(),
        manifest_version: nightjar_core::manifest::MANIFEST_VERSION,
        app_version: "0".into(),
        job: "tg".into(),
        file: name.clone(),
        size,
        sha256: sha256.clone(),
        dump_size: size,
        engine: Engine::Postgres,
        database: "tg".into(),
        server: "localhost:5432".into(),
        server_version: None,
        tool: "pg_dump".into(),
        tool_version: "17".into(),
        format: Format::Plain,
        compression: Compression::None,
        compression_level: 0,
        encryption: nightjar_core::manifest::ManifestEncryption::None,
        trigger: Trigger::Manual,
        timezone: "UTC".into(),
        selection: nightjar_core::config::Selection::default(),
        started_at: at,
        finished_at: at,
        hmac: None,
    };
    std::fs::write(dir.join(format!("{name}.json")), manifest.to_json()).unwrap();
    let history = History::open(&DataDir::new(f._dir.path().join("data")).history_file()).unwrap();
    let run = NewRun {
        job: "tg".into(),
        kind: RunKind::Backup,
        trigger: Trigger::Manual,
        started_at: at,
        destination: dir.display().to_string(),
        engine: Some(Engine::Postgres),
        format: Some(Format::Plain),
        compression: Some(Compression::None),
        database: Some("tg".into()),
    };
    let id = history.start_run(&run).unwrap();
    history.finish_run(id, &RunOutcome::success(at, file.display().to_string(), size, sha256)).unwrap();
    (id, file)
}

#[test]
fn the_restore_list_names_the_newest_good_backup_and_delete_refuses_it_until_forced() {
    let f = fixture();
    let backups = tempfile::tempdir().unwrap();
    let config = CONFIG.replace("/tmp/nightjar-test-backups", &backups.path().display().to_string()).replace("# midnight\n", "# midnight\ntimezone = \"UTC\"\n");
    std::fs::write(&f.config, config).unwrap();
    let now = chrono::Utc::now();
    let (old_id, old) = folder_backup(&f, backups.path(), now - chrono::Duration::hours(2), b"-- PostgreSQL database dump\nselect 1;\n");
    let (new_id, new) = folder_backup(&f, backups.path(), now - chrono::Duration::hours(1), b"-- PostgreSQL database dump\nselect 2;\n");

    let list = invoke(&f.webview, "job_backups", json!({ "job": "tg" })).unwrap();
    let paths: Vec<&str> = list["backups"].as_array().unwrap().iter().map(|b| b["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [new.display().to_string(), old.display().to_string()], "newest first: {list}");
    assert_eq!(list["newestGood"], json!(new.display().to_string()), "{list}");
    assert_eq!(list["destination"], json!(backups.path().display().to_string()));
    let e = invoke(&f.webview, "job_backups", json!({ "job": "nope" })).unwrap_err();
    assert_eq!(e["code"], "not-found", "{e}");

    // The newest good one: refused without force, nothing deleted; an older one goes.
    let e = invoke(&f.webview, "delete_backup", json!({ "id": new_id })).unwrap_err();
    assert_eq!(e["code"], "needs-confirmation", "{e}");
    assert!(e["message"].as_str().unwrap().contains("newest good backup of \"tg\""), "{e}");
    assert!(new.is_file() && invoke(&f.webview, "history_list", json!({ "filter": {} })).unwrap().as_array().unwrap().len() == 2, "nothing deleted");
    invoke(&f.webview, "delete_backup", json!({ "id": old_id })).unwrap();
    assert!(!old.exists() && !backups.path().join(format!("{}.json", old.file_name().unwrap().to_string_lossy())).exists(), "the older backup and its manifest are gone");
    invoke(&f.webview, "delete_backup", json!({ "id": new_id, "force": true })).unwrap();
    assert!(!new.exists(), "Delete anyway deletes the newest good backup");
    assert_eq!(invoke(&f.webview, "history_list", json!({ "filter": {} })).unwrap(), json!([]));
    assert_eq!(invoke(&f.webview, "job_backups", json!({ "job": "tg" })).unwrap()["newestGood"], json!(null));

    // Save a copy of a run that is gone: said so, no dialog.
    let e = invoke(&f.webview, "save_copy", json!({ "id": new_id })).unwrap_err();
    assert_eq!(e["code"], "not-found", "{e}");
}
