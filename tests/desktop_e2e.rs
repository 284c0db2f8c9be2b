//! End-to-end tests of the desktop app: the real `nightjar-desktop` binary
//! driven through `tauri-driver` + `WebKitWebDriver`, its tray menu over
//! D-Bus (a fake StatusNotifierWatcher), its notifications captured by a fake
//! notification server, its passwords in GNOME Keyring, throwaway PostgreSQL
//! clusters and temp config/data dirs.
//!
//! They need a desktop session, so they are ignored by default; run them with
//!
//!     tests/desktop/e2e.sh
//!
//! which starts a private X server, session bus, GNOME Keyring, the fake
//! notification server and `tauri-driver`, then runs this binary's ignored
//! tests one at a time. The UI is found by its `data-testid`s (ui/TESTIDS.md).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightjar_core::config::{Config, ParseEnv};
use nightjar_tests::a11y::serious_violations;
use nightjar_tests::backup::{check_finished_backup, job_toml, manifest};
use nightjar_tests::desktop::{answer_file_dialog, x11_close_windows, x11_windows, AppLauncher, AppSession, DesktopSession, Tray, TRAY_READY};
use nightjar_tests::fixture::{build_plain_table, fresh_sample, SAMPLE_TABLES};
use nightjar_tests::nightjar::{str_field, u64_field};
use nightjar_tests::webdriver::{Session, KEY_ENTER, KEY_TAB};
use nightjar_tests::restore::integrity_test;
use nightjar_tests::{procs, sha256sum, unique, Nightjar, PgCluster, Snapshot};
use serde_json::{json, Value};

/// Generous: a debug build on 2 busy cores.
const UI: Duration = Duration::from_secs(30);
const START: Duration = Duration::from_secs(90);
const RUN: Duration = Duration::from_secs(180);

fn tid(id: &str) -> String {
    Session::tid(id)
}

/// Clicks the nav button of `view` and waits for the view to show.
fn go(app: &AppSession, view: &str) {
    app.click_css(&tid(&format!("nav-{view}")), UI);
    let _ = app.wait_for(&tid(&format!("view-{view}")), UI);
    // Its data drawn (the commands answer on several threads, so a click
    // right after the view shows could reach a form not filled in yet).
    let _ = app.wait_for(&format!("html[data-loaded=\"{view}\"]"), UI);
}

/// Types `text` into the input `id` (after clearing it).
fn fill(app: &AppSession, id: &str, text: &str) {
    let e = app.wait_for(&tid(id), UI);
    app.fill(&e, text);
}

/// Picks the option `value` of the `<select>` `id`. WebKitWebDriver cannot
/// click an `<option>` (GTK draws the list as a native popup), so the value
/// is set and `change` fired as a pick does.
fn select(app: &AppSession, id: &str, value: &str) {
    let found = app.execute(
        "const s = document.querySelector(arguments[0]); \
         if (!s || ![...s.options].some(o => o.value === arguments[1])) return false; \
         s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
        &[json!(tid(id)), json!(value)],
    );
    assert_eq!(found.as_bool(), Some(true), "select {id} has an option {value}");
    let v = app.property(&app.wait_for(&tid(id), UI), "value");
    assert_eq!(v.as_str(), Some(value), "select {id} shows {value}");
}

/// The text of `id` once it is displayed and `pred` holds.
fn text_when(app: &AppSession, id: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    app.wait_text(&tid(id), RUN, what, |t| !t.is_empty() && pred(t))
}

/// Whether `id` is disabled, read in the page in one step once it is
/// displayed: a job card is redrawn on each progress event, so an element
/// found a moment earlier may already be replaced (a stale reference).
fn is_disabled(app: &AppSession, id: &str) -> bool {
    let _ = app.wait_for(&tid(id), UI);
    let script = "const e = document.querySelector(arguments[0]); return !!(e && e.disabled);";
    app.execute(script, &[json!(tid(id))]).as_bool() == Some(true)
}

/// `size()` of ui/js/util.js: the core's formatter, which the page's twin
/// rounds the same way (in whole tenths), so there is one right answer.
fn shown_sizes(bytes: u64) -> Vec<String> {
    vec![nightjar_core::units::format_bytes(bytes)]
}

/// `duration()` of ui/js/util.js, both ways a tie can round.
fn shown_durations(ms: u64) -> Vec<String> {
    #[allow(clippy::cast_precision_loss)]
    let s = ms as f64 / 1000.0;
    match ms {
        0..1000 => vec![format!("{ms} ms")],
        1000..60_000 => vec![format!("{s:.1} s"), format!("{:.1} s", (s * 10.0).round() / 10.0)],
        _ => {
            let m = ms / 60_000;
            #[allow(clippy::cast_precision_loss)]
            let rest = ((ms % 60_000) as f64 / 1000.0).round();
            vec![format!("{m} min {rest} s")]
        }
    }
}

/// Checks a successful backup row of `nightjar history --json` against the
/// file on disk: in `dest`, the recorded size and SHA-256, the manifest
/// agreeing, and the compressed stream intact. Returns the file.
#[track_caller]
fn check_history_backup(record: &Value, dest: &Path, job: &str) -> PathBuf {
    assert_eq!(str_field(record, "status"), "success", "{record}");
    assert_eq!(str_field(record, "job"), job, "{record}");
    assert_eq!(str_field(record, "kind"), "backup", "{record}");
    let file = PathBuf::from(str_field(record, "file"));
    assert_eq!(file.parent(), Some(dest), "the backup is in the destination folder: {record}");
    assert!(file.is_file(), "{} exists", file.display());
    assert_eq!(u64_field(record, "size"), std::fs::metadata(&file).unwrap().len(), "recorded size = file size");
    let sum = sha256sum(&file);
    assert_eq!(str_field(record, "sha256"), sum, "recorded sha256 = sha256sum of the file");
    assert_eq!(str_field(&manifest(&file), "sha256"), sum, "manifest sha256 = sha256sum of the file");
    let _ = integrity_test(&file);
    file
}

/// Reads the config file back through the engine's own parser.
fn job_in_config(nj: &Nightjar, name: &str) -> nightjar_core::config::Job {
    let cfg = Config::load(&nj.config_path(), &ParseEnv::from_system())
        .unwrap_or_else(|e| panic!("the config the app wrote does not load: {e}\n{}", std::fs::read_to_string(nj.config_path()).unwrap_or_default()));
    cfg.job(name).unwrap_or_else(|e| panic!("job {name} is not in the config: {e}")).clone()
}

/// Adds a job through Settings → Add a job → Save (no schedule: runs only on demand).
fn add_job(app: &AppSession, name: &str, url: &str, dest: &Path, password: Option<&str>) {
    go(app, "settings");
    app.click_css(&tid("settings-add-job"), UI);
    let _ = app.wait_for(&tid("job-form"), UI);
    fill(app, "field-name", name);
    fill(app, "field-database", url);
    fill(app, "field-destination", &dest.display().to_string());
    select(app, "field-schedule-preset", "manual");
    fill(app, "field-timezone", "UTC");
    if let Some(pw) = password {
        fill(app, "field-password", pw);
    }
    app.click_css(&tid("job-save"), UI);
    let saved = text_when(app, "job-saved", "the job saved", |t| t.contains("Saved"));
    assert_eq!(saved, "Saved.");
    let _ = app.wait_for(&tid(&format!("settings-job-{name}")), UI);
}

/// Dashboard → Emergency backup on `name`'s card; the run is held on a table
/// lock so its progress is seen, then let go. Returns the result line.
fn emergency_backup(app: &AppSession, pg: &PgCluster, db: &str, table: &str, name: &str) -> String {
    go(app, "dashboard");
    let _ = app.wait_for(&tid(&format!("job-card-{name}")), UI);
    let lock = pg.lock_table(db, table);
    app.click_css(&tid(&format!("backup-now-{name}")), UI);
    let _ = app.wait_for(&tid(&format!("progress-{name}")), UI);
    let stage = text_when(app, &format!("progress-stage-{name}"), "the run's stage", |_| true);
    assert!(is_disabled(app, &format!("backup-now-{name}")), "Emergency backup is disabled while the run goes on (stage {stage:?})");
    pg.wait_for_blocked_pg_dump(db);
    lock.release();
    text_when(app, &format!("backup-result-{name}"), "the backup's result", |t| t.starts_with("Backup finished"))
}

fn history_cell(app: &AppSession, job: &str, status: &str, cell: &str) -> String {
    let css = format!("{}[data-job=\"{job}\"][data-status=\"{status}\"] {}", tid("history-row"), tid(cell));
    app.wait_text(&css, RUN, &format!("the {status} run of {job} in History"), |t| !t.is_empty())
}

/// Saves a screenshot `name`; `top` (a test id) is scrolled to the top of
/// the window first, otherwise the page is scrolled to its top.
fn shoot(desktop: &DesktopSession, app: &AppSession, name: &str, top: Option<&str>) -> PathBuf {
    let script = "const e = arguments[0] && document.querySelector(arguments[0]); \
                  if (e) e.scrollIntoView({block: 'start'}); else window.scrollTo(0, 0); \
                  if (document.activeElement) document.activeElement.blur();";
    let _ = app.execute(script, &[top.map_or(Value::Null, |t| json!(tid(t)))]);
    // Two animation frames: the page has painted what it shows now (a
    // capture once showed a view as it was before a redraw).
    let _ = app.execute_async("const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", &[]);
    // Let the web view paint the scrolled page before it is captured (once a
    // capture showed the page as first painted, before its script ran).
    std::thread::sleep(Duration::from_millis(300));
    let png = app.screenshot();
    desktop.save_screenshot(name, &png)
}

#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn window_opens_with_the_app_and_the_tray() {
    let desktop = DesktopSession::get();
    let nj = Nightjar::new();
    let launcher = AppLauncher::new(&nj);
    let app = launcher.session(&desktop);
    let title = app.execute("return document.title", &[]);
    assert_eq!(title.as_str(), Some("Nightjar"), "window title");
    let _ = app.wait_text("body", UI, "the app's name", |t| t.contains("Nightjar"));
    launcher.wait_log(TRAY_READY, START);
    app.close();
}

/// Dark screenshots rely on the app's GTK theme reaching the page as
/// `prefers-color-scheme: dark`.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn a_dark_gtk_theme_reaches_the_page_as_prefers_color_scheme_dark() {
    let desktop = DesktopSession::get();
    let nj = Nightjar::new();
    for (theme, dark) in [("Adwaita", false), ("Adwaita:dark", true)] {
        let launcher = AppLauncher::new(&nj).env("GTK_THEME", theme);
        let app = launcher.session(&desktop);
        let v = app.execute("return window.matchMedia('(prefers-color-scheme: dark)').matches", &[]);
        assert_eq!(v.as_bool(), Some(dark), "GTK_THEME={theme}: prefers-color-scheme: dark is {v}");
        app.close();
    }
}

/// The whole first-use path in one window: add a job in Settings, run an
/// Emergency backup (progress, then the result), find it in History with its
/// size and duration, restore it from there (a wrong database name is
/// refused; the right one restores; the data is back), change its retention
/// (saved to the TOML file), and screenshots of every view, light and dark.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn add_backup_history_restore_and_retention_through_the_window() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_shop");
    let before = Snapshot::take(pg, &db);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "shop";

    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita");
    let app = launcher.session(&desktop);

    // Settings: add the job. It lands in the config file.
    add_job(&app, job, &pg.url(&db), &dest, None);
    let saved = job_in_config(&nj, job);
    assert_eq!(saved.db.database, db, "the config names the database");
    assert!(saved.schedule.is_none(), "manual only");

    // Dashboard: Emergency backup → progress → result.
    let result = emergency_backup(&app, pg, &db, SAMPLE_TABLES[0], job);
    let runs = nj.history(Some(job));
    assert_eq!(runs.len(), 1, "one run recorded: {runs:?}");
    let record = &runs[0];
    let file = check_history_backup(record, &dest, job);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(result.contains(&name), "the result names the file {name}: {result}");
    assert!(
        shown_sizes(u64_field(record, "size")).iter().any(|s| result.contains(s.as_str())),
        "the result shows the size {:?}: {result}",
        shown_sizes(u64_field(record, "size"))
    );
    let last = text_when(&app, &format!("job-last-{job}"), "the card's last run", |t| t.contains("ok"));
    assert!(last.starts_with("Last backup"), "{last}");
    shoot(&desktop, &app, "dashboard-light", None);

    // History: the row, with the size and the duration of the real run.
    go(&app, "history");
    let size = history_cell(&app, job, "success", "history-size");
    assert!(shown_sizes(u64_field(record, "size")).contains(&size), "History size {size:?} = {} bytes", u64_field(record, "size"));
    let duration = history_cell(&app, job, "success", "history-duration");
    assert!(
        shown_durations(u64_field(record, "duration_ms")).contains(&duration),
        "History duration {duration:?} = {} ms",
        u64_field(record, "duration_ms")
    );
    assert_eq!(history_cell(&app, job, "success", "history-file"), name);
    shoot(&desktop, &app, "history-light", None);

    // Break the data, then restore from the History row.
    let _ = pg.psql(&db, "DELETE FROM app.users; DROP TABLE public.settings;");
    let broken = Snapshot::take(pg, &db);
    let row = format!("{}[data-run-id=\"{}\"]", tid("history-row"), u64_field(record, "id"));
    app.click_css(&format!("{row} {}", tid("history-restore")), UI);
    let _ = app.wait_for(&tid("view-restore"), UI);
    let _ = app.wait_for(&tid("restore-plan"), RUN);
    let target = text_when(&app, "plan-target", "the plan's target", |t| t.contains(&db));
    assert!(target.contains("replaced"), "the plan says the database is replaced: {target}");
    assert_eq!(text_when(&app, "plan-file", "the plan's file", |_| true), file.display().to_string());
    let hint = text_when(&app, "restore-confirm-hint", "the confirmation hint", |t| t.contains(&db));
    assert!(hint.contains("to confirm"), "{hint}");
    shoot(&desktop, &app, "restore-light", Some("restore-plan"));

    // A wrong name: the button stays disabled; forced anyway, the app refuses
    // and nothing is restored.
    fill(&app, "restore-confirm-input", &format!("{db}_wrong"));
    assert!(is_disabled(&app, "restore-start"), "Restore stays disabled with a wrong database name");
    let _ = app.execute("document.querySelector(arguments[0]).disabled = false", &[json!(tid("restore-start"))]);
    app.click_css(&tid("restore-start"), UI);
    let refusal = text_when(&app, "error-confirm", "the refusal", |_| true);
    assert!(refusal.contains(&db), "the refusal names the database to type: {refusal}");
    broken.assert_same(&Snapshot::take(pg, &db), "nothing restored after a wrong confirmation");
    assert!(!app.find(&tid("restore-result")).is_some_and(|e| app.displayed(&e)), "no restore result after the refusal");

    // The right name restores, and the data is back.
    fill(&app, "restore-confirm-input", &db);
    app.poll("Restore to be enabled by the right name", UI, || (!is_disabled(&app, "restore-start")).then_some(()));
    app.click_css(&tid("restore-start"), UI);
    let done = text_when(&app, "restore-result", "the restore's result", |t| t.starts_with("Restore finished"));
    before.assert_same(&Snapshot::take(pg, &db), &format!("restored through the window ({done})"));
    let restores: Vec<Value> = nj.history(Some(job)).into_iter().filter(|r| r["kind"] == "restore").collect();
    assert!(restores.iter().any(|r| r["status"] == "success"), "the restore is in the history: {restores:?}");

    // Retention: edit the job, save, and the TOML file has the new policy.
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    let _ = app.wait_for(&tid("job-form"), UI);
    fill(&app, "field-keep_days", "14");
    fill(&app, "field-keep_last", "5");
    fill(&app, "field-weekly", "4");
    app.click_css(&tid("job-save"), UI);
    let _ = text_when(&app, "job-saved", "the job saved", |t| t.contains("Saved"));
    let r = job_in_config(&nj, job).retention;
    assert_eq!((r.keep_days, r.keep_last, r.weekly), (14, 5, 4), "retention read back from {}", nj.config_path().display());
    let text = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(text.contains("keep_last = 5"), "the file says keep_last = 5:\n{text}");
    shoot(&desktop, &app, "settings-light", Some("job-form"));

    // Logs: today's log, with this job's runs in it.
    go(&app, "logs");
    let logs = text_when(&app, "logs-text", "the log", |t| t.contains(job));
    assert!(logs.contains(&db) || logs.contains(&name), "the log mentions the run");
    shoot(&desktop, &app, "logs-light", None);
    app.close();

    // The same views in the dark theme, with the same data.
    let dark = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita:dark");
    let app = dark.session(&desktop);
    assert_eq!(app.execute("return matchMedia('(prefers-color-scheme: dark)').matches", &[]).as_bool(), Some(true));
    go(&app, "dashboard");
    let _ = text_when(&app, &format!("job-last-{job}"), "the card's last run", |t| t.contains("ok"));
    shoot(&desktop, &app, "dashboard-dark", None);
    go(&app, "history");
    let _ = history_cell(&app, job, "success", "history-size");
    shoot(&desktop, &app, "history-dark", None);
    app.click_css(&format!("{row} {}", tid("history-restore")), UI);
    let _ = app.wait_for(&tid("restore-plan"), RUN);
    let _ = text_when(&app, "plan-file", "the plan's file", |t| t.ends_with(&name));
    shoot(&desktop, &app, "restore-dark", Some("restore-plan"));
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    let _ = app.wait_for(&tid("job-form"), UI);
    shoot(&desktop, &app, "settings-dark", Some("job-form"));
    go(&app, "logs");
    let _ = text_when(&app, "logs-text", "the log", |t| t.contains(job));
    shoot(&desktop, &app, "logs-dark", None);
    app.close();
}

/// A password typed in Settings goes to GNOME Keyring (the CLI, reading the
/// OS keyring, logs in with it too), is never shown back nor written to the
/// config, the data dir or the log; a wrong one makes the Emergency backup
/// fail with the reason on the card and in History, and a failure
/// notification is sent.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn keyring_password_and_a_failing_job_with_its_notification() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let right = format!("Nj-E2e-Right-{stamp}");
    let wrong = format!("Nj-E2e-Wrong-{stamp}");
    let role = unique("e2erole");
    pg.create_role(&role, &right);
    let db = unique("e2evault");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""));
    build_plain_table(pg, &db, 2000, 200, Some(&role));
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "vault";

    let launcher = AppLauncher::new(&nj);
    let app = launcher.session(&desktop);

    // The password is stored with the job, and only said to be stored.
    add_job(&app, job, &pg.url_as(&role, &db), &dest, Some(&right));
    let state = text_when(&app, "password-state", "the password state", |t| t.contains("stored"));
    assert!(state.contains("A password is stored"), "{state}");
    let field = app.wait_for(&tid("field-password"), UI);
    assert_eq!(app.property(&field, "value").as_str(), Some(""), "the password is not shown back");

    // It is what the backup logs in with.
    let result = emergency_backup(&app, pg, &db, "t", job);
    assert!(result.starts_with("Backup finished"), "{result}");
    let ok = nj.history(Some(job));
    let _ = check_history_backup(&ok[0], &dest, job);
    // The CLI, on the OS keyring of the same session, finds it as well.
    let out = nj.cmd(["backup", "--job", job, "--json"]).env_remove("NIGHTJAR_KEYRING").run().assert_success();
    let _ = check_finished_backup(&out.json(), &dest, job);

    // A wrong password: stored over the right one, the backup fails.
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    fill(&app, "field-password", &wrong);
    app.click_css(&tid("password-save"), UI);
    app.poll("the password field to clear after storing", UI, || {
        (app.property(&app.wait_for(&tid("field-password"), UI), "value").as_str() == Some("")).then_some(())
    });
    let seen = desktop.notifications().len();
    go(&app, "dashboard");
    app.click_css(&tid(&format!("backup-now-{job}")), UI);
    let error = text_when(&app, &format!("backup-error-{job}"), "the failure", |t| t.starts_with("Backup failed"));
    assert!(error.contains("password"), "the card says the password was rejected: {error}");
    let badge = text_when(&app, &format!("job-status-{job}"), "the Failed badge", |t| t == "Failed");
    assert_eq!(badge, "Failed");
    let note = desktop.wait_notification(seen, RUN, "Backup failed: vault", |n| {
        n["summary"].as_str().is_some_and(|s| s.contains("Backup failed") && s.contains(job))
    });
    assert!(str_field(&note, "body").contains("password"), "the notification says why: {note}");
    assert_eq!(str_field(&note, "app"), "Nightjar", "{note}");

    go(&app, "history");
    let why = history_cell(&app, job, "failed", "history-error");
    assert!(why.contains("password"), "History shows the reason: {why}");
    shoot(&desktop, &app, "history-failed-light", None);
    app.close();

    // Neither password is written anywhere the app writes.
    let mut files = vec![nj.config_path(), launcher.log_path()];
    let mut stack = vec![nj.data_dir()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for secret in [&right, &wrong] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a password is written in {}", f.display());
        }
    }
}

/// The tray and its notifications speak the config's language (`[ui]
/// language = "ru"`): the menu a panel shows is Russian, and a failed
/// "Backup now" from it notifies with a Russian title and a Russian "Open
/// Nightjar" action; the reason is the engine's sentence, which stays English.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn the_tray_menu_and_a_failure_notification_in_russian() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "ru_tray";
    // A database that does not exist: the dump fails at once.
    nj.write_config(&format!("[ui]\nlanguage = \"ru\"\n\n{}", job_toml(job, &pg.url("e2e_no_such_database"), &dest, "")));

    let launcher = AppLauncher::new(&nj);
    let mut tray = Tray::start();
    let mut app = launcher.spawn_tray(&["--hidden"]);
    let _ = tray.wait_registered(START);
    launcher.wait_log(TRAY_READY, START);
    let labels = tray.labels();
    assert_eq!(labels.first().map(String::as_str), Some("Резервных копий пока нет"), "the status line in Russian: {labels:?}");
    for label in ["Создать копию сейчас", "Восстановить из файла…", "Открыть Nightjar", "Приостановить расписания", "Открыть папку с копиями", "Выход"] {
        assert!(labels.iter().any(|l| l == label), "{label:?} in the menu: {labels:?}");
    }
    assert!(!labels.iter().any(|l| l == "Backup now" || l == "Quit"), "no English item: {labels:?}");

    let seen = desktop.notifications().len();
    tray.click("Создать копию сейчас");
    let title = format!("Сбой резервного копирования: {job}");
    let note = desktop.wait_notification(seen, RUN, &title, |n| n["summary"].as_str() == Some(title.as_str()));
    assert_eq!(str_field(&note, "app"), "Nightjar", "{note}");
    assert!(!str_field(&note, "body").is_empty(), "the engine's reason (in English): {note}");
    let actions: Vec<&str> = note["actions"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    assert!(actions.contains(&"Открыть Nightjar"), "the action is Russian too: {note}");
    let status = nightjar_tests::wait::until("the status line to say the backup failed, in Russian", UI, || {
        tray.labels().into_iter().next().filter(|l| l.starts_with("Последняя копия сегодня в ") && l.ends_with(": ошибка"))
    });
    assert!(!status.is_empty());

    tray.click("Выход");
    assert_eq!(app.wait_exit(UI).code(), Some(0), "Quit (Выход) exits 0; app log:\n{}", launcher.log());
}

/// A config file that does not load never stops the backups silently: at
/// start (nothing can run) and after an edit that breaks it while the
/// schedules run (the previous settings stay in use), a notification says
/// what is wrong and the tray's status line says so.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn a_config_file_that_does_not_load_is_notified_at_start_and_after_an_edit() {
    let desktop = DesktopSession::get();
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let good = job_toml("cfgjob", "postgres://app@localhost:5432/app", &dest, "schedule = \"daily 03:00\"\n");
    nj.write_config(&good.replace("timezone = \"UTC\"", "timezone = \"Mars/Olympus\""));

    // The scheduler looks at the file between its sleeps: short ones here.
    let launcher = AppLauncher::new(&nj).env("NIGHTJAR_TICK_SECS", "2");
    let mut tray = Tray::start();
    let seen = desktop.notifications().len();
    let mut app = launcher.spawn_tray(&["--hidden"]);
    let _ = tray.wait_registered(START);
    let title = "Nightjar's config file has an error";
    let note = desktop.wait_notification(seen, UI, title, |n| n["summary"].as_str() == Some(title));
    let body = str_field(&note, "body");
    assert!(body.starts_with("No backup runs until the config file is fixed") && body.contains("Mars/Olympus"), "{note}");
    let status = nightjar_tests::wait::until("the status line to name the config error", UI, || tray.labels().into_iter().next().filter(|l| l.contains("config file has an error")));
    assert!(!status.is_empty());

    // Fixed: the schedules start. Broken again by an edit: the previous settings stay, and it is said.
    nj.write_config(&good);
    let _ = nightjar_tests::wait::until("the status line to show the job", UI, || tray.labels().into_iter().next().filter(|l| !l.contains("config file has an error")));
    let seen = desktop.notifications().len();
    std::thread::sleep(Duration::from_millis(1100)); // a new modification time
    nj.write_config(&good.replace("daily 03:00", "every 5 fortnights"));
    let note = desktop.wait_notification(seen, UI, title, |n| n["summary"].as_str() == Some(title));
    let body = str_field(&note, "body");
    assert!(body.contains("previous settings stay in use") && body.contains("schedule"), "{note}");

    tray.click("Quit");
    assert_eq!(app.wait_exit(UI).code(), Some(0), "app log:\n{}", launcher.log());
}

/// The tray menu over D-Bus, on an app started as at login (`--hidden`: no
/// window): the status line says there is no backup yet; "Backup now" backs
/// the job up (file + history row) and the status line then says so; "Open
/// Nightjar" opens the window; closing the window leaves the app in the tray;
/// "Quit" exits 0 and leaves nothing running.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn tray_backup_now_open_close_and_quit() {
    let _ = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("e2e_tray");
    build_plain_table(pg, &db, 500, 100, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "traydb";
    nj.write_config(&job_toml(job, &pg.url(&db), &dest, ""));

    let launcher = AppLauncher::new(&nj);
    let mut tray = Tray::start();
    // As start at login does: the tray process alone, no window process.
    let mut app = launcher.spawn_tray(&["--hidden"]);
    let pid = app.pid();
    let item = tray.wait_registered(START);
    assert!(item.get("menu").and_then(Value::as_str).is_some_and(|m| m.starts_with('/')), "the item exports a menu: {item}");
    launcher.wait_log(TRAY_READY, START);
    assert!(procs::descendants(pid).is_empty(), "started with --hidden: no window process");
    // The window is a child process of the tray process.
    let windows = || procs::descendants(pid).into_iter().flat_map(x11_windows).collect::<Vec<_>>();
    assert!(windows().iter().all(|w| !w.1), "started with --hidden: no window shown: {:?}", windows());

    let items = tray.layout();
    let enabled = |label: &str| items.iter().any(|i| i["label"] == label && i["enabled"] != false);
    assert!(enabled("Backup now"), "Backup now is in the menu and enabled: {items:?}");
    assert!(enabled("Open Nightjar"), "{items:?}");
    let status = |tray: &mut Tray| tray.layout().first().and_then(|i| i["label"].as_str().map(str::to_string)).unwrap_or_default();
    let first = status(&mut tray);
    assert!(first.starts_with("No backups yet"), "the status line before any backup: {first:?}");
    let labels = tray.labels();
    assert_eq!(labels.last().map(String::as_str), Some("Quit"), "Quit is the last item: {labels:?}");

    tray.click("Backup now");
    let record = nightjar_tests::wait::until("the tray's backup in the history", RUN, || {
        nj.history(Some(job)).into_iter().find(|r| r["status"] == "success")
    });
    let file = check_history_backup(&record, &dest, job);
    assert_eq!(str_field(&record, "trigger"), "manual", "a tray backup is a manual run: {record}");
    assert!(file.is_file());
    let _ = nightjar_tests::wait::until("the tray's status line to say the last backup is ok", UI, || {
        Some(status(&mut tray)).filter(|l| l.starts_with("Last backup") && l.contains(" ok"))
    });

    tray.click("Open Nightjar");
    nightjar_tests::wait::until("the window to open from the tray", UI, || windows().into_iter().find(|w| w.1 && w.2 == "Nightjar"));
    let window_pids = procs::descendants(pid);
    // Asked again while the window is briefly not viewable (once, in CI,
    // the first close found none right after the window showed).
    nightjar_tests::wait::until("the window to take the close request", UI, || {
        window_pids.iter().any(|p| x11_close_windows(*p)).then_some(())
    });
    nightjar_tests::wait::until("the window to close", UI, || windows().iter().all(|w| !w.1).then_some(()));
    assert!(app.is_running(), "closing the window leaves the app in the tray; log:\n{}", launcher.log());
    launcher.wait_log("Nightjar keeps running in the tray", UI);
    // The window process and its web engine are gone: that memory is back.
    nightjar_tests::wait::until("the window process to exit", UI, || window_pids.iter().all(|p| !procs::is_alive(*p)).then_some(()));

    tray.click("Quit");
    let status = app.wait_exit(UI);
    assert_eq!(status.code(), Some(0), "Quit from the tray exits 0; app log:\n{}", launcher.log());
    nightjar_tests::wait::until("the app's children to exit", UI, || procs::descendants(pid).is_empty().then_some(()));
}

/// First run on a computer with a PostgreSQL that trusts the user: the
/// window opens on "Get started", which found the server on its socket
/// and lists the database with its size; one click on "Protect this
/// database" saves the proposed job (into the OneDrive folder found, daily
/// at 00:00, keep 7 days and the last 3) and makes its first backup, a good
/// file. Then "start at login" is offered, once.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn first_run_finds_the_database_and_protects_it_in_one_click() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("e2e_first");
    build_plain_table(pg, &db, 3000, 200, None);
    let nj = Nightjar::new();
    // A first run: no config file yet.
    let _ = std::fs::remove_file(nj.config_path());
    let home = nj.scratch().join("home");
    let onedrive = home.join("OneDrive");
    std::fs::create_dir_all(&onedrive).unwrap();

    // Discovery sees the throwaway cluster's socket only (not the machine's
    // own servers), and the libpq environment names its superuser.
    let launcher = AppLauncher::new(&nj)
        .env("HOME", &home.display().to_string())
        .env("XDG_CONFIG_HOME", &home.join(".config").display().to_string())
        .env("NIGHTJAR_DISCOVER_SOCKETS", &pg.sock_dir().display().to_string())
        .env("PGUSER", "postgres")
        .env("GTK_THEME", "Adwaita");
    let mut tray = Tray::start();
    let app = launcher.session(&desktop);

    // The tray says there is nothing set up yet, and offers to set up.
    let _ = tray.wait_registered(START);
    let labels = tray.labels();
    assert!(labels.first().is_some_and(|l| l.starts_with("Not set up yet")), "the tray's status line: {labels:?}");
    assert!(labels.iter().any(|l| l == "Set up Nightjar…"), "{labels:?}");

    let _ = app.wait_for(&tid("dashboard-empty"), UI);
    let row = format!("{}[data-database=\"{db}\"]", tid("discover-db"));
    let button = format!("{row} {}", tid("protect"));
    let _ = app.wait_for(&button, RUN);
    let listed = app.wait_text(&row, UI, "the database's row", |t| t.contains(&db));
    assert!(listed.contains("KiB") || listed.contains("MiB"), "the database's size is shown: {listed}");
    let status = text_when(&app, "discover-status", "what was found", |t| t.starts_with("Found"));
    assert!(status.contains(&onedrive.display().to_string()), "the OneDrive folder is the destination: {status}");
    shoot(&desktop, &app, "first-run-light", None);

    // One click.
    app.click_css(&button, UI);
    let job = app.poll("the job in the config", UI, || {
        Config::load(&nj.config_path(), &ParseEnv::from_system()).ok().and_then(|c| c.jobs.first().cloned())
    });
    assert_eq!(job.db.database, db, "the job backs up that database");
    assert_eq!(job.schedule.as_ref().map(|s| s.as_str().to_string()).as_deref(), Some("daily 00:00"), "daily at 00:00");
    assert_eq!((job.retention.keep_days, job.retention.keep_last), (7, 3), "keep 7 days and the last 3");
    let dest = match &job.destination {
        nightjar_core::config::DestinationSpec::Folder(p) => p.clone(),
        other => panic!("a folder destination, not {other:?}"),
    };
    assert!(dest.starts_with(&onedrive), "the backups go into the OneDrive folder: {}", dest.display());

    let result = text_when(&app, &format!("backup-result-{}", job.name), "the first backup's result", |t| t.starts_with("Backup finished"));
    let runs = nj.history(Some(&job.name));
    assert_eq!(runs.len(), 1, "one run: {runs:?}");
    let file = check_history_backup(&runs[0], &dest, &job.name);
    assert!(result.contains(&*file.file_name().unwrap().to_string_lossy()), "{result}");
    assert!(!is_displayed(&app, "dashboard-empty"), "Get started is gone once a job exists");
    let status = nightjar_tests::wait::until("the tray to say the last backup is ok", UI, || {
        tray.labels().first().filter(|l| l.starts_with("Last backup")).cloned()
    });
    assert!(status.contains("ok"), "{status}");

    // "Start at login" is offered once, after the first good backup.
    let _ = app.wait_for(&tid("autostart-offer"), UI);
    shoot(&desktop, &app, "first-backup-light", None);
    app.click_css(&tid("autostart-offer-yes"), UI);
    app.poll("the offer to go away", UI, || (!is_displayed(&app, "autostart-offer")).then_some(()));
    let entry = home.join(".config/autostart");
    app.poll("the login item in the autostart folder", UI, || {
        std::fs::read_dir(&entry).ok().and_then(|mut d| d.next()).map(drop)
    });
    go(&app, "settings");
    go(&app, "dashboard");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!is_displayed(&app, "autostart-offer"), "the offer is made once");
    app.close();
}

/// Whether the element `id` is shown (present and not hidden).
fn is_displayed(app: &AppSession, id: &str) -> bool {
    let script = "const e = document.querySelector(arguments[0]); return !!(e && !e.closest('[hidden]'));";
    app.execute(script, &[json!(tid(id))]).as_bool() == Some(true)
}

/// Settings → OneDrive: with no application id the sign-in says how to get
/// one and sends nothing; a wrong id is a field error; the id and tenant are
/// saved into the config file; then the sign-in with a code shows the code
/// and signs in (against the local stand-in of Microsoft's service).
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn onedrive_application_id_and_sign_in_with_a_code_from_settings() {
    use nightjar_onedrive_fake::FakeGraph;
    let desktop = DesktopSession::get();
    let nj = Nightjar::new();
    nj.write_config("# my settings\n[onedrive]\ntenant = \"common\"\n");
    let launcher = AppLauncher::new(&nj);
    let app = launcher.session(&desktop);

    go(&app, "settings");
    let _ = app.wait_for(&tid("onedrive-form"), UI);
    app.click_css(&tid("onedrive-sign-in"), UI);
    let msg = text_when(&app, "onedrive-message", "why sign-in cannot start", |t| t.starts_with("Set up a OneDrive application id first"));
    assert!(msg.contains("http://localhost") && msg.contains("Files.ReadWrite") && msg.contains("offline_access"), "{msg}");
    let guide = app.execute(&format!("return document.querySelector('{}').open", tid("onedrive-guide")), &[]);
    assert_eq!(guide.as_bool(), Some(true), "the guide is open while no id is set");

    fill(&app, "field-client_id", "my nightjar app");
    app.click_css(&tid("onedrive-app-save"), UI);
    let err = text_when(&app, "error-client_id", "the field error", |_| true);
    assert!(err.contains("Application (client) ID"), "{err}");

    let id = "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901";
    fill(&app, "field-client_id", id);
    fill(&app, "field-tenant", "consumers");
    app.click_css(&tid("onedrive-app-save"), UI);
    let _ = text_when(&app, "onedrive-app-saved", "saved", |t| t == "Saved.");
    let text = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(text.starts_with("# my settings"), "the file's comments are kept: {text}");
    let cfg = Config::load(&nj.config_path(), &ParseEnv::from_system()).unwrap();
    assert_eq!((cfg.raw.onedrive.client_id.as_deref(), cfg.raw.onedrive.tenant.as_str()), (Some(id), "consumers"));
    shoot(&desktop, &app, "settings-onedrive-light", Some("onedrive-form"));

    // The sign-in service of this test: codes are approved after a few polls.
    let fake = FakeGraph::start();
    nj.write_config(&format!(
        "[onedrive]\nclient_id = \"{id}\"\ntenant = \"consumers\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n",
        fake.login_base(),
        fake.graph_base()
    ));
    go(&app, "dashboard");
    go(&app, "settings");
    app.click_css(&tid("onedrive-sign-in-code"), UI);
    let code = text_when(&app, "onedrive-device-code", "the code to type", |t| t.starts_with("FAKE"));
    let uri = text_when(&app, "onedrive-device-uri", "where to type it", |t| t.contains("/devicelogin"));
    assert!(!code.is_empty() && uri.starts_with("http"), "{code} {uri}");
    let who = text_when(&app, "onedrive-message", "the signed-in account", |t| t.starts_with("Signed in as"));
    assert!(who.contains('@'), "{who}");
    let account = text_when(&app, "onedrive-account", "the account line", |t| t.starts_with("Signed in as"));
    assert_eq!(account, who);
    app.close();
}

/// Runs `script` with `sh -c` and returns its stdout (asserting success).
fn sh(script: &str) -> Vec<u8> {
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().expect("run sh");
    assert!(out.status.success(), "`{script}` failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Quotes a path for `sh`.
fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Settings → Encryption: a key is made only once its recovery file is
/// saved through the save dialog (cancelling changes nothing); the public key
/// is shown and written to the config, the secret one kept in the keyring.
/// The next backup is a `.age` file that stock `age -d -i <recovery file> |
/// zstd -dc` reads; History marks it encrypted; the Restore plan says the key
/// was found in the keyring and the restore brings the data back. A backup
/// encrypted to a key this computer does not hold makes the plan ask for the
/// key file, and with it the plan opens the file.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn encryption_from_settings_with_the_recovery_file_saved() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_sealed");
    let before = Snapshot::take(pg, &db);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    let keys = nj.scratch().join("keys");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    let recovery = keys.join("sealed-recovery.txt");
    let job = "sealed";

    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita");
    let app = launcher.session(&desktop);
    add_job(&app, job, &pg.url(&db), &dest, None);
    let state = text_when(&app, "encryption-state", "the encryption state", |t| t.contains("not encrypted"));
    assert!(state.starts_with("Backups are not encrypted"), "{state}");

    // The save dialog cancelled: no key, no file, the config unchanged.
    app.click_css(&tid("encryption-new-key"), UI);
    answer_file_dialog("Save the recovery key", None, UI);
    let refusal = text_when(&app, "error-encryption", "the refusal", |t| t.contains("Nothing changed"));
    assert!(refusal.contains("recovery file"), "{refusal}");
    assert!(job_in_config(&nj, job).encryption.is_none(), "no encryption without a saved recovery file");
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 0, "nothing written");

    // Saved: the key is made, its public key shown and in the config.
    app.click_css(&tid("encryption-new-key"), UI);
    answer_file_dialog("Save the recovery key", Some(&recovery), UI);
    let result = text_when(&app, "encryption-result", "the new key", |t| t.contains("age1"));
    let spec = job_in_config(&nj, job).encryption.expect("[job.encryption] is written");
    assert_eq!(spec.recipients.len(), 1, "{spec:?}");
    let public = spec.recipients[0].clone();
    assert!(result.contains(&public) && result.contains(&recovery.display().to_string()), "{result}");
    let text = std::fs::read_to_string(&recovery).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1") && text.contains(&public), "the recovery file holds the key:\n{text}");
    assert_eq!(std::fs::metadata(&recovery).unwrap().permissions().mode() & 0o777, 0o600, "the recovery file is owner-only");
    let shown = text_when(&app, "encryption-recipients", "the public key", |t| t.contains(&public));
    assert!(shown.contains("kept in the keyring"), "{shown}");
    shoot(&desktop, &app, "settings-encryption-light", Some("encryption-section"));
    // Saving the job form again keeps it.
    app.click_css(&tid("job-save"), UI);
    let _ = text_when(&app, "job-saved", "the job saved", |t| t.contains("Saved"));
    assert_eq!(job_in_config(&nj, job).encryption.map(|e| e.recipients), Some(vec![public.clone()]), "the job form keeps [job.encryption]");

    // The next backup is encrypted, and stock age reads it with the recovery file.
    go(&app, "dashboard");
    app.click_css(&tid(&format!("backup-now-{job}")), UI);
    let _ = text_when(&app, &format!("backup-result-{job}"), "the backup's result", |t| t.starts_with("Backup finished"));
    let runs = nj.history(Some(job));
    let file = check_history_backup(&runs[0], &dest, job);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(".sql.zst.age"), "{name}");
    let raw = std::fs::read(&file).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"), "the file is age");
    let sql = String::from_utf8(sh(&format!("age -d -i {} {} | zstd -dc", q(&recovery), q(&file)))).unwrap();
    assert!(sql.contains("CREATE TABLE app.users"), "stock age | zstd gives the dump");

    // History marks it encrypted.
    go(&app, "history");
    assert_eq!(history_cell(&app, job, "success", "history-encrypted"), "encrypted");

    // Restore from the History row: the plan says the key is in the keyring.
    let _ = pg.psql(&db, "DELETE FROM app.users;");
    let row = format!("{}[data-run-id=\"{}\"]", tid("history-row"), u64_field(&runs[0], "id"));
    app.click_css(&format!("{row} {}", tid("history-restore")), UI);
    let _ = app.wait_for(&tid("restore-plan"), RUN);
    let note = text_when(&app, "plan-encryption", "the plan's encryption line", |t| t.contains("keyring"));
    assert_eq!(note, "Encrypted with age; the key was found in the keyring.");
    shoot(&desktop, &app, "restore-encrypted-light", Some("restore-plan"));
    fill(&app, "restore-confirm-input", &db);
    app.poll("Restore to be enabled by the right name", UI, || (!is_disabled(&app, "restore-start")).then_some(()));
    app.click_css(&tid("restore-start"), UI);
    let done = text_when(&app, "restore-result", "the restore's result", |t| t.starts_with("Restore finished"));
    before.assert_same(&Snapshot::take(pg, &db), &format!("restored from the encrypted backup ({done})"));

    // A copy encrypted to a key this computer does not hold: the plan asks
    // for the key file, and opens it with the one chosen.
    let other = keys.join("other.txt");
    let _ = sh(&format!("age-keygen -o {} 2>/dev/null", q(&other)));
    let other_public = String::from_utf8(sh(&format!("age-keygen -y {}", q(&other)))).unwrap().trim().to_string();
    let foreign = nj.scratch().join("elsewhere");
    std::fs::create_dir_all(&foreign).unwrap();
    let foreign = foreign.join(&name);
    let _ = sh(&format!("age -d -i {} {} | age -r {other_public} -o {}", q(&recovery), q(&file), q(&foreign)));
    go(&app, "restore");
    fill(&app, "restore-file", &foreign.display().to_string());
    app.click_css(&tid("restore-plan-button"), UI);
    let ask = text_when(&app, "error-identity", "the request for the key file", |t| t.contains("encrypted"));
    assert!(ask.contains("choose its key file"), "{ask}");
    assert!(is_displayed(&app, "restore-identity"), "the key file field shows");
    before.assert_same(&Snapshot::take(pg, &db), "nothing touched without the key");
    fill(&app, "restore-identity", &other.display().to_string());
    app.click_css(&tid("restore-plan-button"), UI);
    let note = text_when(&app, "plan-encryption", "the plan's encryption line", |t| t.contains("key file"));
    assert!(note.contains(&other.display().to_string()), "{note}");
    app.close();
}

/// axe-core's serious and critical violations on what the window shows now,
/// each prefixed with `where`.
fn axe(app: &AppSession, place: &str) -> Vec<String> {
    let t = std::time::Instant::now();
    let found: Vec<String> = serious_violations(app).into_iter().map(|v| format!("{place}: {v}")).collect();
    eprintln!("axe-core on {place}: {} serious or critical violation(s), {:.1} s", found.len(), t.elapsed().as_secs_f64());
    found
}

/// Every view, light and dark, passes axe-core (WCAG 2.1 A/AA and best
/// practices) with no serious or critical violation: the first run's "Get
/// started" with a found database, then, with a job, a good and a failed
/// backup, the Dashboard, History, Restore with a plan shown, Settings with
/// the job form open, and Logs.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn every_view_passes_axe_core_in_light_and_dark() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("e2e_axe");
    build_plain_table(pg, &db, 500, 100, None);
    let nj = Nightjar::new();
    let _ = std::fs::remove_file(nj.config_path());
    let home = nj.scratch().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "axe";
    let mut found = Vec::new();

    for theme in ["Adwaita", "Adwaita:dark"] {
        let launcher = AppLauncher::new(&nj)
            .env("HOME", &home.display().to_string())
            .env("NIGHTJAR_DISCOVER_SOCKETS", &pg.sock_dir().display().to_string())
            .env("PGUSER", "postgres")
            .env("GTK_THEME", theme);
        let app = launcher.session(&desktop);
        let dark = theme.ends_with(":dark");
        let place = |view: &str| format!("{} {view}", if dark { "dark" } else { "light" });

        if !nj.config_path().exists() {
            // The first run: Get started, with the database found.
            let _ = app.wait_for(&tid("dashboard-empty"), UI);
            let _ = app.wait_for(&format!("{}[data-database=\"{db}\"]", tid("discover-db")), RUN);
            found.extend(axe(&app, &place("first run")));
            add_job(&app, job, &pg.url(&db), &dest, None);
            go(&app, "dashboard");
            app.click_css(&tid(&format!("backup-now-{job}")), UI);
            let _ = text_when(&app, &format!("backup-result-{job}"), "the backup's result", |t| t.starts_with("Backup finished"));
            // A failed run too, so its marks are on the pages.
            let _ = pg.psql("postgres", &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"));
            app.click_css(&tid(&format!("backup-now-{job}")), UI);
            let _ = text_when(&app, &format!("backup-error-{job}"), "the failure", |t| t.starts_with("Backup failed"));
            let _ = pg.psql("postgres", &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"));
        }

        go(&app, "dashboard");
        let _ = app.wait_for(&tid(&format!("job-card-{job}")), UI);
        found.extend(axe(&app, &place("dashboard")));

        go(&app, "history");
        let _ = history_cell(&app, job, "success", "history-size");
        found.extend(axe(&app, &place("history")));

        let row = format!("{}[data-job=\"{job}\"][data-status=\"success\"]", tid("history-row"));
        app.click_css(&format!("{row} {}", tid("history-restore")), UI);
        let _ = app.wait_for(&tid("restore-plan"), RUN);
        let _ = text_when(&app, "plan-file", "the plan's file", |_| true);
        found.extend(axe(&app, &place("restore with a plan")));

        go(&app, "settings");
        app.click_css(&tid(&format!("settings-edit-{job}")), UI);
        let _ = app.wait_for(&tid("job-form"), UI);
        found.extend(axe(&app, &place("settings with the job form")));

        go(&app, "logs");
        let _ = text_when(&app, "logs-text", "the log", |t| t.contains(job));
        found.extend(axe(&app, &place("logs")));
        app.close();
    }
    assert!(found.is_empty(), "axe-core found {} serious or critical violation(s):\n{}", found.len(), found.join("\n"));
}

/// The focused element's test id (or tag) and whether its focus is drawn:
/// an outline that is not `none` or of zero width.
fn focus(app: &AppSession) -> (String, bool) {
    let v = app.execute(
        "const e = document.activeElement; if (!e || e === document.body) return ['body', false]; \
         const s = getComputedStyle(e); \
         return [e.dataset.testid || e.id || e.tagName.toLowerCase(), s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0];",
        &[],
    );
    (v[0].as_str().unwrap_or("").to_string(), v[1].as_bool() == Some(true))
}

/// Presses Tab until `id` has the focus, checking that every element the
/// focus passes draws it visibly.
fn tab_to(app: &AppSession, id: &str) {
    for _ in 0..60 {
        app.keys(KEY_TAB);
        let (at, drawn) = focus(app);
        assert!(drawn, "the keyboard focus on {at} is not visible");
        if at == id {
            return;
        }
    }
    panic!("Tab never reached {id}");
}

/// A restore with the keyboard alone, the focus visible at every step: Tab
/// to Restore in the navigation, Enter; Tab to the file field, type the path,
/// Enter shows the plan and puts the focus in the confirmation field; type
/// the database's name, Enter restores, and the data is back.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn a_restore_with_the_keyboard_alone() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_keys");
    let before = Snapshot::take(pg, &db);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "keys";
    nj.write_config(&job_toml(job, &pg.url(&db), &dest, ""));
    let out = nj.cmd(["backup", "--job", job, "--json"]).run().assert_success();
    let file = str_field(&out.json(), "file").to_string();
    let _ = pg.psql(&db, "DELETE FROM app.users; DROP TABLE public.settings;");

    let app = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita").session(&desktop);
    let _ = app.wait_for(&tid(&format!("job-card-{job}")), UI);
    tab_to(&app, "nav-restore");
    app.keys(KEY_ENTER);
    let _ = app.wait_for(&tid("view-restore"), UI);
    tab_to(&app, "restore-file");
    app.keys(&file);
    app.keys(KEY_ENTER);
    let _ = app.wait_for(&tid("restore-plan"), RUN);
    let _ = text_when(&app, "restore-confirm-hint", "the confirmation hint", |t| t.contains(&db));
    app.poll("the focus in the confirmation field", UI, || (focus(&app).0 == "restore-confirm-input").then_some(()));
    assert!(focus(&app).1, "the confirmation field's focus is visible");
    app.keys(&db);
    app.keys(KEY_ENTER);
    let done = text_when(&app, "restore-result", "the restore's result", |t| t.starts_with("Restore finished"));
    before.assert_same(&Snapshot::take(pg, &db), &format!("restored with the keyboard alone ({done})"));
    app.close();
}

/// The bars of the chart `testid` as the page draws them, left to right.
fn chart_bars(app: &AppSession, testid: &str, count: usize) -> Vec<Value> {
    let script = "const svg = document.querySelector(arguments[0]); \
                  if (!svg || svg.getAttribute('data-runs') !== String(arguments[1])) return null; \
                  return [...svg.querySelectorAll('g.bar')].map(g => ({ id: Number(g.getAttribute('data-run-id')), status: g.getAttribute('data-status'), \
                    size: g.getAttribute('data-size'), duration: g.getAttribute('data-duration-ms'), title: g.querySelector('title').textContent }));";
    app.poll(&format!("{testid} to draw {count} bars"), RUN, || {
        let v = app.execute(script, &[json!(tid(testid)), json!(count)]);
        v.as_array().cloned()
    })
}

/// Checks bars against `nightjar history --json` backup rows (newest first, as printed).
#[track_caller]
fn assert_bars_match(bars: &[Value], rows: &[Value]) {
    let oldest_first: Vec<&Value> = rows.iter().rev().collect();
    assert_eq!(bars.len(), oldest_first.len(), "one bar per run: {bars:?}");
    for (bar, row) in bars.iter().zip(oldest_first) {
        assert_eq!(bar["id"].as_i64(), row["id"].as_i64(), "bars in the history's order, oldest left: {bar} / {row}");
        assert_eq!(bar["status"], row["status"], "{bar} / {row}");
        let size = row["size"].as_u64().map(|s| s.to_string()).unwrap_or_default();
        assert_eq!(bar["size"].as_str(), Some(size.as_str()), "the bar's size is the recorded size: {bar} / {row}");
        let ms = row["duration_ms"].as_u64().map(|s| s.to_string()).unwrap_or_default();
        assert_eq!(bar["duration"].as_str(), Some(ms.as_str()), "the bar's duration is the recorded one: {bar} / {row}");
        let title = bar["title"].as_str().unwrap_or_default();
        if row["status"] == "success" {
            let sizes = shown_sizes(u64_field(row, "size"));
            assert!(sizes.iter().any(|s| title.contains(s.as_str())), "the hover text shows the size {sizes:?}: {title}");
            let durations = shown_durations(u64_field(row, "duration_ms"));
            assert!(durations.iter().any(|d| title.contains(d.as_str())), "the hover text shows the duration {durations:?}: {title}");
        } else {
            assert!(title.contains("failed"), "the hover text says the run failed: {title}");
        }
    }
}

/// The day cells of the strip `testid`, keyed by day.
fn chart_days(app: &AppSession, testid: &str) -> std::collections::BTreeMap<String, Value> {
    let script = "const svg = document.querySelector(arguments[0]); if (!svg) return null; \
                  return [...svg.querySelectorAll('rect.day')].map(r => ({ day: r.getAttribute('data-day'), state: r.getAttribute('data-state'), \
                    runs: Number(r.getAttribute('data-runs')), good: Number(r.getAttribute('data-good')), failed: Number(r.getAttribute('data-failed')), \
                    missed: Number(r.getAttribute('data-missed')) }));";
    let cells = app.poll(&format!("{testid} to draw its days"), RUN, || app.execute(script, &[json!(tid(testid))]).as_array().cloned());
    assert_eq!(cells.len(), 30, "thirty days: {cells:?}");
    cells.into_iter().map(|c| (str_field(&c, "day").to_string(), c)).collect()
}

/// The strip against the runs: each day with runs (in the job's zone) is good
/// when one of them succeeded (a daily slot spans the day), else failed;
/// days before the first run have nothing to judge.
#[track_caller]
fn assert_days_match<Z: chrono::TimeZone>(days: &std::collections::BTreeMap<String, Value>, rows: &[Value], zone: &Z) {
    let day_of = |r: &Value| chrono::DateTime::parse_from_rfc3339(str_field(r, "started_at")).unwrap().with_timezone(zone).date_naive().to_string();
    let mut by_day: std::collections::BTreeMap<String, Vec<&Value>> = std::collections::BTreeMap::new();
    for r in rows {
        by_day.entry(day_of(r)).or_default().push(r);
    }
    for (day, runs) in &by_day {
        let cell = days.get(day).unwrap_or_else(|| panic!("the strip has the day {day}: {days:?}"));
        let good = runs.iter().any(|r| r["status"] == "success");
        assert_eq!(cell["state"].as_str(), Some(if good { "good" } else { "failed" }), "{day}: {cell}");
        assert_eq!(cell["runs"].as_u64(), Some(runs.len() as u64), "{day}: {cell}");
        assert_eq!((cell["good"].as_u64(), cell["failed"].as_u64()), (Some(u64::from(good)), Some(u64::from(!good))), "{day}: one daily slot: {cell}");
    }
    let first = by_day.keys().next().expect("runs");
    for (day, cell) in days.range(..first.clone()) {
        assert_eq!(cell["state"].as_str(), Some("none"), "before the first backup nothing is judged ({day}): {cell}");
    }
}

/// The Dashboard's pictures against the history: real backups of two jobs
/// (one run of "shop" fails while its database is renamed away; "broken"
/// names a database that does not exist), then per job the bars (one per
/// run, oldest left, size, duration and status as `nightjar history --json`
/// records them) and the 30-day strip (the day of the runs, in the job's
/// zone, good or failed; nothing judged before the first backup); History's
/// chart over its filter. Screenshots light and dark.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn dashboard_and_history_charts_show_the_runs_of_the_history() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_charts");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    // No catch-up: the app's own scheduler would otherwise add a run for the failed job as it starts.
    let every = "schedule = \"daily 00:00\"\ncatch_up = \"skip\"";
    let kyiv = job_toml("shop", &pg.url(&db), &dest, every).replace("timezone = \"UTC\"", "timezone = \"Europe/Kyiv\"");
    let broken = job_toml("broken", &pg.url(&unique("e2e_absent")), &dest, every);
    nj.write_config(&format!("{kyiv}\n{broken}"));

    // Real runs: shop good, shop failed (its database renamed away), shop good twice; broken failed.
    let _ = nj.run(["backup", "--job", "shop"]).assert_success();
    let away = format!("{db}_away");
    let _ = pg.psql("postgres", &format!("ALTER DATABASE \"{db}\" RENAME TO \"{away}\""));
    let _ = nj.run(["backup", "--job", "shop"]).assert_failure();
    let _ = pg.psql("postgres", &format!("ALTER DATABASE \"{away}\" RENAME TO \"{db}\""));
    let _ = pg.psql(&db, "CREATE TABLE public.grown AS SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 20000) g");
    for _ in 0..2 {
        let _ = nj.run(["backup", "--job", "shop"]).assert_success();
    }
    let _ = nj.run(["backup", "--job", "broken"]).assert_failure();
    let shop: Vec<Value> = nj.history(Some("shop")).into_iter().filter(|r| r["kind"] == "backup").collect();
    let bad: Vec<Value> = nj.history(Some("broken")).into_iter().filter(|r| r["kind"] == "backup").collect();
    assert_eq!((shop.len(), bad.len()), (4, 1), "{shop:?} {bad:?}");
    assert_eq!(shop.iter().filter(|r| r["status"] == "failed").count(), 1, "{shop:?}");
    assert!(u64_field(&shop[0], "size") > u64_field(&shop[3], "size"), "the database grew, so did its backup");

    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita");
    let app = launcher.session(&desktop);
    go(&app, "dashboard");
    assert_bars_match(&chart_bars(&app, "chart-runs-shop", 4), &shop);
    assert_bars_match(&chart_bars(&app, "chart-runs-broken", 1), &bad);
    assert_days_match(&chart_days(&app, "chart-days-shop"), &shop, &job_in_config(&nj, "shop").timezone);
    assert_days_match(&chart_days(&app, "chart-days-broken"), &bad, &chrono::Utc);
    let label = app.attribute(&app.wait_for(&tid("chart-runs-shop"), UI), "aria-label").unwrap_or_default();
    assert!(label.contains("4 runs, 3 good, 1 failed"), "the chart's accessible summary: {label}");
    shoot(&desktop, &app, "dashboard-charts-light", Some("job-cards"));

    // History: the same chart over the filter.
    go(&app, "history");
    let all: Vec<Value> = nj.history(None).into_iter().filter(|r| r["kind"] == "backup").collect();
    assert_bars_match(&chart_bars(&app, "history-chart-bars", all.len()), &all);
    shoot(&desktop, &app, "history-chart", None);
    select(&app, "history-filter-job", "shop");
    assert_bars_match(&chart_bars(&app, "history-chart-bars", 4), &shop);
    let caption = text_when(&app, "history-chart-caption", "the chart's caption", |t| t.contains("shop"));
    assert!(caption.contains("4 runs"), "{caption}");
    select(&app, "history-filter-status", "failed");
    let failed: Vec<Value> = shop.iter().filter(|r| r["status"] == "failed").cloned().collect();
    assert_bars_match(&chart_bars(&app, "history-chart-bars", 1), &failed);
    app.close();

    let dark = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita:dark");
    let app = dark.session(&desktop);
    go(&app, "dashboard");
    let _ = chart_bars(&app, "chart-runs-shop", 4);
    shoot(&desktop, &app, "dashboard-charts-dark", Some("job-cards"));
    app.close();
}

/// The value of the input `id`, read in the page.
fn value_of(app: &AppSession, id: &str) -> String {
    app.property(&app.wait_for(&tid(id), UI), "value").as_str().unwrap_or_default().to_string()
}

/// Waits until the input `id` holds a value that `pred` accepts (a field the page fills after an answer from the shell).
fn value_when(app: &AppSession, id: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    app.poll(what, UI, || Some(value_of(app, id)).filter(|v| pred(v)))
}

/// Settings → a job: the connection as fields kept in step with the URL
/// both ways; the run settings (compression level, tool folder, catch-up,
/// retries, stale after, test-restores) with the config file's field
/// errors (nothing written), then saved in place with the file's comments
/// kept, shown again after a reload, and acted on by `nightjar status`.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn every_job_setting_from_the_window_reaches_the_file_and_the_cli() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = pg.fresh_db("e2e_more");
    build_plain_table(pg, &db, 500, 100, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    let job = "more";
    let url = pg.url(&db);
    nj.write_config(&format!("# my jobs, by hand\n{}", job_toml(job, &url, &dest, "schedule = \"daily 03:00\"  # at night")));
    let _ = nj.run(["backup", "--job", job]).assert_success();

    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita");
    let app = launcher.session(&desktop);
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    let _ = app.wait_for(&tid("job-form"), UI);

    // The URL as fields: the socket folder, the user, the database.
    let sock = pg.sock_dir().display().to_string();
    assert_eq!(value_when(&app, "field-conn_socket", "the socket field", |v| !v.is_empty()), sock);
    assert_eq!(value_of(&app, "field-conn_user"), "postgres");
    assert_eq!(value_of(&app, "field-conn_database"), db);
    assert_eq!(value_of(&app, "field-conn_engine"), "postgres");
    assert_eq!(value_of(&app, "field-conn_host"), "");
    // A field changes the URL...
    fill(&app, "field-conn_user", "someone");
    let changed = value_when(&app, "field-database", "the URL to follow the user field", |v| v.contains("someone@"));
    assert!(changed.contains(&db) && changed.contains("host=") && changed.contains(&db), "{changed}");
    // ... and the URL changes the fields; a URL that does not parse is the URL field's error.
    fill(&app, "field-database", "postgres://app@db.example.com:6543/sales");
    let _ = value_when(&app, "field-conn_host", "the host field to follow the URL", |v| v == "db.example.com");
    assert_eq!((value_of(&app, "field-conn_port"), value_of(&app, "field-conn_user"), value_of(&app, "field-conn_database")), ("6543".into(), "app".into(), "sales".into()));
    assert_eq!(value_of(&app, "field-conn_socket"), "");
    fill(&app, "field-database", "ftp://nowhere/x");
    let err = text_when(&app, "error-database", "the URL's error", |_| true);
    assert!(err.contains("not supported"), "{err}");
    fill(&app, "field-database", &url);
    let _ = value_when(&app, "field-conn_socket", "the socket field again", |v| v == sock);
    shoot(&desktop, &app, "settings-connection-light", Some("job-form"));

    // The config file's own checks, next to their fields; nothing written.
    let before = std::fs::read_to_string(nj.config_path()).unwrap();
    for (field, bad, says) in [("retries", "11", "0 to 10"), ("compression_level", "40", "1 to 19"), ("stale_after", "soon", "26h")] {
        let good = value_of(&app, &format!("field-{field}"));
        fill(&app, &format!("field-{field}"), bad);
        app.click_css(&tid("job-save"), UI);
        let e = text_when(&app, &format!("error-{field}"), &format!("the {field} error"), |_| true);
        assert!(e.contains(says), "{field} = {bad}: {e}");
        assert_eq!(std::fs::read_to_string(nj.config_path()).unwrap(), before, "nothing written after a {field} error");
        fill(&app, &format!("field-{field}"), &good);
    }

    // Saved in place.
    fill(&app, "field-compression_level", "9");
    fill(&app, "field-tool_dir", &pg.bin().display().to_string());
    select(&app, "field-catch_up", "skip");
    fill(&app, "field-retries", "5");
    fill(&app, "field-stale_after", "30h");
    fill(&app, "field-verify_every", "3");
    app.click_css(&tid("job-save"), UI);
    assert_eq!(text_when(&app, "job-saved", "the job saved", |t| t.contains("Saved")), "Saved.");
    let text = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(text.starts_with("# my jobs, by hand") && text.contains("# at night"), "the comments are kept:\n{text}");
    let j = job_in_config(&nj, job);
    assert_eq!((j.compression_level, j.catch_up, j.retries, j.verify_every), (9, nightjar_core::config::CatchUpPolicy::Skip, 5, 3), "{text}");
    assert_eq!((j.stale_after, j.tool_dir.as_deref()), (Some(chrono::Duration::hours(30)), Some(pg.bin())), "{text}");
    assert_eq!(j.db.database, db);
    shoot(&desktop, &app, "settings-more-light", Some("run-settings"));
    app.close();

    // The CLI acts on them: the stale deadline is the good backup + 30 h, the tool is the one in the folder.
    let status = nj.run(["status", "--json"]).assert_success().json();
    let st = &status["jobs"][0];
    let good = chrono::DateTime::parse_from_rfc3339(str_field(&st["last_success"], "started_at")).unwrap();
    let deadline = chrono::DateTime::parse_from_rfc3339(str_field(st, "stale_deadline")).unwrap();
    assert_eq!(deadline - good, chrono::Duration::hours(30), "{st}");
    assert!(str_field(&st["tool"], "found").contains(&pg.bin().display().to_string()), "the tool from the folder: {st}");
    let _ = nj.run(["backup", "--job", job]).assert_success();
    let last = nj.history(Some(job));
    assert_eq!(str_field(&last[0], "status"), "success", "{last:?}");

    // Reopened, the form shows what the file says.
    let app = launcher.session(&desktop);
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    let _ = app.wait_for(&tid("job-form"), UI);
    assert_eq!(value_when(&app, "field-retries", "the retries", |v| v == "5"), "5");
    assert_eq!((value_of(&app, "field-compression_level"), value_of(&app, "field-catch_up"), value_of(&app, "field-stale_after"), value_of(&app, "field-verify_every")), ("9".into(), "skip".into(), "30h".into(), "3".into()));
    assert_eq!(value_of(&app, "field-tool_dir"), pg.bin().display().to_string());
    app.close();
}

/// The names of the folders the OneDrive browser lists once it shows `path`
/// (panics with the browser's error when it shows one).
fn browser_folders(app: &AppSession, path: &str) -> Vec<String> {
    let script = "const p = document.querySelector(arguments[0]); if (!p || p.textContent !== arguments[1]) return null; \
                  const err = document.querySelector(arguments[4]); if (err && !err.hidden) return { error: err.textContent }; \
                  const items = [...document.querySelectorAll(arguments[2] + ' li')]; \
                  if (!items.length || items.some(li => li.textContent === 'Listing…')) return null; \
                  return { names: [...document.querySelectorAll(arguments[3])].map(b => b.getAttribute('data-name')) };";
    let args = [json!(tid("onedrive-browser-path")), json!(path), json!(tid("onedrive-browser-folders")), json!(tid("onedrive-browser-folder")), json!(tid("onedrive-browser-error"))];
    let v = app.poll(&format!("the OneDrive browser to list {path}"), RUN, || Some(app.execute(script, &args)).filter(|v| !v.is_null()));
    if let Some(e) = v.get("error") {
        panic!("the OneDrive browser at {path} says: {e}");
    }
    v["names"].as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// Settings → a job's destination chosen from the signed-in account's
/// OneDrive folders (the local stand-in of Microsoft Graph): the folders are
/// listed (not the files), opened, gone up from, and the one chosen is saved
/// as the job's `onedrive:` destination in the file, comments kept.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn the_onedrive_destination_is_chosen_from_the_account_folders() {
    use nightjar_onedrive_fake::FakeGraph;
    let desktop = DesktopSession::get();
    let fake = FakeGraph::start();
    for dir in ["Backups/shop", "Backups/crm", "Archive"] {
        fake.mkdir(dir);
    }
    fake.put_file("Backups/readme.txt", b"not a folder");
    let nj = Nightjar::new();
    let job = "cloud";
    nj.write_config(&format!(
        "# mine\n[onedrive]\nclient_id = \"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901\"\ntenant = \"consumers\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n\n{}",
        fake.login_base(),
        fake.graph_base(),
        job_toml(job, "postgres://u@localhost/cloud", &nj.scratch().join("local"), "")
    ));
    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita");
    let app = launcher.session(&desktop);
    go(&app, "settings");
    app.click_css(&tid(&format!("settings-edit-{job}")), UI);
    let _ = app.wait_for(&tid("job-form"), UI);

    // Not signed in yet: the browser says so.
    app.click_css(&tid("onedrive-browse"), UI);
    let why = text_when(&app, "onedrive-browser-error", "why nothing is listed", |_| true);
    assert!(why.to_lowercase().contains("sign"), "{why}");

    app.click_css(&tid("onedrive-sign-in-code"), UI);
    let _ = text_when(&app, "onedrive-message", "the signed-in account", |t| t.starts_with("Signed in as"));
    app.click_css(&tid("onedrive-browse"), UI);
    assert_eq!(browser_folders(&app, "/"), ["Archive", "Backups"], "the top's folders, sorted");
    app.click_css(&format!("{}[data-name=\"Backups\"]", tid("onedrive-browser-folder")), UI);
    assert_eq!(browser_folders(&app, "/Backups"), ["crm", "shop"], "folders only, not readme.txt");
    shoot(&desktop, &app, "settings-onedrive-browse-light", Some("field-destination"));
    app.click_css(&tid("onedrive-browser-up"), UI);
    assert_eq!(browser_folders(&app, "/"), ["Archive", "Backups"]);
    app.click_css(&format!("{}[data-name=\"Backups\"]", tid("onedrive-browser-folder")), UI);
    let _ = browser_folders(&app, "/Backups");
    app.click_css(&format!("{}[data-name=\"shop\"]", tid("onedrive-browser-folder")), UI);
    assert!(browser_folders(&app, "/Backups/shop").is_empty());
    app.click_css(&tid("onedrive-browser-use"), UI);
    assert_eq!(value_of(&app, "field-destination"), "onedrive:/Backups/shop");
    app.click_css(&tid("job-save"), UI);
    let _ = text_when(&app, "job-saved", "the job saved", |t| t.contains("Saved"));
    let text = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(text.starts_with("# mine") && text.contains("destination = \"onedrive:/Backups/shop\""), "{text}");
    assert!(job_in_config(&nj, job).destination_is_remote(), "an onedrive: destination");
    app.close();
}

#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn alerts_are_added_tested_edited_and_removed_from_settings() {
    use nightjar_tests::receivers::HttpReceiver;
    let desktop = DesktopSession::get();
    let http = HttpReceiver::start();
    let nj = Nightjar::new();
    nj.write_config("# my settings\n");
    let launcher = AppLauncher::new(&nj);
    let app = launcher.session(&desktop);
    go(&app, "settings");
    let _ = text_when(&app, "alerts-empty", "no alerts yet", |t| t == "No alerts yet.");

    // A webhook: a bad URL is refused next to its field, nothing written.
    app.click_css(&tid("alerts-add"), UI);
    let _ = app.wait_for(&tid("alert-form"), UI);
    fill(&app, "alert-name", "team-hook");
    select(&app, "alert-kind", "webhook");
    fill(&app, "alert-url", "ftp://nowhere");
    app.click_css(&tid("alert-save"), UI);
    let err = text_when(&app, "alert-error-url", "the URL's error", |_| true);
    assert!(err.contains("is not an http"), "{err}");
    assert!(!std::fs::read_to_string(nj.config_path()).unwrap().contains("[[alert]]"));
    fill(&app, "alert-url", &http.url("/hook"));
    app.click_css(&tid("alert-save"), UI);
    let _ = text_when(&app, "alert-saved", "saved", |t| t == "Saved.");

    // A Telegram alert with its bot token, stored write-only.
    app.click_css(&tid("alerts-add"), UI);
    fill(&app, "alert-name", "tg");
    select(&app, "alert-kind", "telegram");
    fill(&app, "alert-chat_id", "-100777");
    fill(&app, "alert-api_base_url", &http.url("/tgapi"));
    fill(&app, "alert-secret", "777:E2E-BOT-TOKEN");
    app.click_css(&tid("alert-save"), UI);
    let _ = text_when(&app, "alert-saved", "saved", |t| t == "Saved.");
    let state = text_when(&app, "alert-secret-state", "the secret state", |t| t.contains("stored in the keyring"));
    assert!(state.starts_with("A secret is stored"), "{state}");
    let text = std::fs::read_to_string(nj.config_path()).unwrap();
    assert!(text.starts_with("# my settings"), "{text}");
    assert!(!text.contains("E2E-BOT-TOKEN"), "the token is not in the config: {text}");
    let cfg = Config::load(&nj.config_path(), &ParseEnv::from_system()).unwrap();
    let names: Vec<&str> = cfg.raw.alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["team-hook", "tg"]);

    // "Send test" on each reaches its receiver.
    app.click_css(&tid("alert-test-team-hook"), UI);
    let _ = text_when(&app, "alert-test-result-team-hook", "the hook's test", |t| t == "Delivered.");
    let hook = http.wait_for("/hook", 1, UI);
    assert_eq!(hook[0].json()["event"], "test");
    app.click_css(&tid("alert-test-tg"), UI);
    let _ = text_when(&app, "alert-test-result-tg", "the Telegram test", |t| t == "Delivered.");
    let tg = http.wait_for("/tgapi", 1, UI);
    assert_eq!(tg[0].path, "/tgapi/bot777:E2E-BOT-TOKEN/sendMessage", "the stored token is what is used");
    assert_eq!(tg[0].json()["chat_id"], "-100777");
    let last = text_when(&app, "alert-last-tg", "the last delivery", |t| t.starts_with("delivered"));
    assert!(last.contains("(test)"), "{last}");

    // Edit: the hook becomes a Slack one; remove the Telegram alert.
    app.click_css(&tid("alert-edit-team-hook"), UI);
    select(&app, "alert-format", "slack");
    app.click_css(&tid("alert-save"), UI);
    let _ = text_when(&app, "alert-saved", "saved", |t| t == "Saved.");
    app.click_css(&tid("alert-delete-tg"), UI);
    let _ = app.wait_text(&tid("alerts-list"), UI, "tg removed from the list", |t| !t.contains("telegram"));
    let cfg = Config::load(&nj.config_path(), &ParseEnv::from_system()).unwrap();
    assert_eq!(cfg.raw.alerts.len(), 1);
    assert_eq!(cfg.raw.alerts[0].format, Some(nightjar_core::alerts::WebhookFormat::Slack));
    shoot(&desktop, &app, "settings-alerts-light", Some("alerts-list"));
    assert!(!launcher.log().contains("E2E-BOT-TOKEN"), "the token is not in the app's log");
    app.close();
}

/// A catalog of ui/i18n as key → text.
fn ui_catalog(lang: &str) -> std::collections::BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/i18n").join(format!("{lang}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
}

/// Every text the Dashboard shows (header, view, footer): each displayed
/// text node, the accessible names, titles and placeholders of displayed
/// elements, and the charts' hover texts.
fn dashboard_texts(app: &AppSession) -> Vec<String> {
    let script = "const out = []; \
        const shown = (el) => el && el.getClientRects().length > 0 && !el.closest('[hidden]'); \
        for (const root of [document.querySelector('header.top'), document.getElementById('view-dashboard'), document.querySelector('footer.foot')]) { \
          const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT); \
          for (let n = walk.nextNode(); n; n = walk.nextNode()) { \
            const el = n.parentElement; \
            if (el.closest('title')) { out.push(n.textContent.trim()); continue; } \
            if (shown(el) && n.textContent.trim()) out.push(n.textContent.trim()); \
          } \
          for (const el of root.querySelectorAll('[aria-label], [title], [placeholder]')) { \
            if (!shown(el)) continue; \
            for (const a of ['aria-label', 'title', 'placeholder']) if (el.getAttribute(a)) out.push(el.getAttribute(a).trim()); \
          } \
        } \
        return out;";
    app.execute(script, &[]).as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// Issue 22 part 3: Settings → Language switches the window at once (no
/// restart) and it is saved as `[ui] language`; in each language the
/// Dashboard, with a job and a backup in its history, shows no English text
/// from the catalog (texts the same in both languages aside, such as
/// "Nightjar" and "OK" where a language keeps it), no English sentence with
/// its variable parts filled in either, `<html lang>` says the language, and
/// dates are in the locale's words and format. Screenshots of each.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn the_dashboard_in_every_language() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_lang");
    let nj = Nightjar::new();
    let dest = nj.scratch().join("backups");
    std::fs::create_dir_all(&dest).unwrap();
    // No catch-up: the app's own scheduler would otherwise add a run as it starts.
    nj.write_config(&job_toml("shop", &pg.url(&db), &dest, "schedule = \"daily 00:00\"\ncatch_up = \"skip\""));
    let _ = nj.run(["backup", "--job", "shop"]).assert_success();
    let en = ui_catalog("en");

    let launcher = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita").env("LANG", "C.UTF-8").env("LANGUAGE", "").env("LC_ALL", "").env("LC_MESSAGES", "");
    let app = launcher.session(&desktop);
    // "auto" on a C locale: English.
    go(&app, "dashboard");
    let last = text_when(&app, "job-last-shop", "the card's last run", |t| t.contains("ok"));
    assert!(last.starts_with("Last backup today"), "{last}");
    assert_eq!(app.execute("return document.documentElement.lang", &[]).as_str(), Some("en"));

    let html_lang = |app: &AppSession, lang: &str| {
        app.poll(&format!("<html lang> to be {lang}"), UI, || (app.execute("return document.documentElement.lang", &[]).as_str() == Some(lang)).then_some(()));
    };
    // The locale's word for "today", and its tag for the month's short name.
    for (lang, today, locale) in [("ru", "сегодня", "ru-RU"), ("tr", "bugün", "tr-TR"), ("fr", "aujourd’hui", "fr-FR"), ("th", "วันนี้", "th-TH-u-nu-latn")] {
        go(&app, "settings");
        select(&app, "field-language", lang);
        html_lang(&app, lang);
        let text = std::fs::read_to_string(nj.config_path()).unwrap();
        assert!(text.contains(&format!("language = \"{lang}\"")), "Settings saved the language:\n{text}");
        assert!(Config::load(&nj.config_path(), &ParseEnv::from_system()).is_ok(), "the config still loads:\n{text}");

        go(&app, "dashboard");
        let last = text_when(&app, "job-last-shop", "the card's last run in the language", |t| t.contains(today));
        let month = app.execute("return new Intl.DateTimeFormat(arguments[0], {month: 'short'}).format(new Date())", &[json!(locale)]);
        let month = month.as_str().unwrap_or_default().to_string();
        let bar = app.execute(
            "const t = document.querySelector(arguments[0] + ' g.bar title'); return t ? t.textContent : '';",
            &[json!(tid("chart-runs-shop"))],
        );
        let bar = bar.as_str().unwrap_or_default().to_string();
        assert!(!month.is_empty() && bar.contains(&month), "{lang}: the bar's date is in the locale's format (month {month:?}): {bar}");

        let cat = ui_catalog(lang);
        // English texts that this language says differently.
        let english: std::collections::BTreeSet<&str> = en.iter().filter(|(k, v)| cat.get(*k) != Some(*v)).map(|(_, v)| v.as_str()).collect();
        // An English sentence with its parts filled in begins like its template ("Last backup ", "Next run ").
        // (Unless the translation begins the same way, as "Nightjar {version}" may.)
        let starts: Vec<&str> = en
            .iter()
            .filter_map(|(k, v)| {
                let p = v.split('{').next()?;
                (p.trim().len() >= 6 && !cat.get(k).is_some_and(|tv| tv.starts_with(p))).then_some(p)
            })
            .collect();
        let texts = dashboard_texts(&app);
        assert!(texts.iter().any(|t| t.contains(today)), "{lang}: {texts:?}");
        let untranslated: Vec<&String> = texts.iter().filter(|t| english.contains(t.as_str()) || starts.iter().any(|p| t.starts_with(p))).collect();
        assert!(untranslated.is_empty(), "{lang}: the Dashboard shows English: {untranslated:?}\n(card: {last})");
        shoot(&desktop, &app, &format!("dashboard-{lang}-light"), None);
    }

    // Back to the system's language (English here), again without a restart.
    go(&app, "settings");
    select(&app, "field-language", "auto");
    html_lang(&app, "en");
    go(&app, "dashboard");
    let _ = text_when(&app, "job-last-shop", "the card in English again", |t| t.starts_with("Last backup today"));
    app.close();
}

/// A job with two folders from the job form; the Dashboard card shows each
/// copy of the last backup, ✓ or ✗.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn several_destinations_from_the_job_form_and_each_copy_on_the_card() {
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = unique("e2efan");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
    build_plain_table(pg, &db, 500, 100, None);
    let nj = Nightjar::new();
    let first = nj.scratch().join("first");
    let second = nj.scratch().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let job = "fan";
    let launcher = AppLauncher::new(&nj);
    let app = launcher.session(&desktop);

    go(&app, "settings");
    app.click_css(&tid("settings-add-job"), UI);
    let _ = app.wait_for(&tid("job-form"), UI);
    fill(&app, "field-name", job);
    fill(&app, "field-database", &pg.url(&db));
    fill(&app, "field-destination", &first.display().to_string());
    // The same place twice is refused next to the list.
    fill(&app, "field-extra_destinations", &first.display().to_string());
    select(&app, "field-schedule-preset", "manual");
    fill(&app, "field-timezone", "UTC");
    app.click_css(&tid("job-save"), UI);
    let e = text_when(&app, "error-destinations", "the list's error", |t| t.contains("twice"));
    assert!(e.contains("listed twice"), "{e}");
    fill(&app, "field-extra_destinations", &second.display().to_string());
    app.click_css(&tid("job-save"), UI);
    let saved = text_when(&app, "job-saved", "the job saved", |t| t.contains("Saved"));
    assert_eq!(saved, "Saved.");
    let saved = job_in_config(&nj, job);
    assert_eq!(saved.destinations.len(), 2, "both places are in the config");

    // A backup: both copies are good.
    go(&app, "dashboard");
    app.click_css(&tid(&format!("backup-now-{job}")), UI);
    let _ = text_when(&app, &format!("backup-result-{job}"), "the backup's result", |t| t.starts_with("Backup finished"));
    let copies = text_when(&app, &format!("job-copies-{job}"), "the copies", |t| t.matches('✓').count() == 2);
    assert_eq!(copies, format!("{} ✓ · {} ✓", first.display(), second.display()));

    // The second place is a file now, not a folder: its copy is ✗, the first is good.
    std::fs::rename(&second, nj.scratch().join("second.moved")).unwrap();
    std::fs::write(&second, b"not a folder").unwrap();
    app.click_css(&tid(&format!("backup-now-{job}")), UI);
    let failed = text_when(&app, &format!("backup-error-{job}"), "the run's error", |t| t.contains("failed"));
    assert!(failed.contains(&format!("The copy to {} failed", second.display())), "{failed}");
    let copies = text_when(&app, &format!("job-copies-{job}"), "the copies", |t| t.contains('✗'));
    assert_eq!(copies, format!("{} ✓ · {} ✗", first.display(), second.display()));
    app.close();
}

/// The value of the attribute `name` of the element `css`, once it is there.
fn attr_of(app: &AppSession, css: &str, name: &str) -> Option<String> {
    let e = app.wait_for(css, UI);
    app.attribute(&e, name)
}

/// Backups anywhere, from the window: a job backing up to S3 (moto, started
/// by the harness). "Restore latest" on the Dashboard opens the Restore view
/// with the job's backups listed from the bucket and the newest preselected,
/// and restores it (data equal). From History: Reveal is disabled with the
/// reason, Verify and Test restore work on the remote backup, Save a copy…
/// arrives with the sha256 of the stored backup (and a damaged object is
/// refused with nothing left behind), and Delete of the newest good backup
/// is refused until "Delete anyway", which removes the object.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn remote_backups_are_restored_verified_saved_and_deleted_from_the_window() {
    use nightjar_core::destination::Destination as _;
    use nightjar_s3::{Credentials, S3Destination};
    use nightjar_tests::s3::{S3Server, BUCKET};
    use std::io::Write as _;
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_remote");
    let server = S3Server::start();
    let nj = Nightjar::new().with_env("AWS_ACCESS_KEY_ID", &server.access_key).with_env("AWS_SECRET_ACCESS_KEY", &server.secret_key);
    let job = "cloud";
    nj.write_config(&format!(
        "[[job]]\nname = \"{job}\"\ndatabase = \"{}\"\ndestination = \"s3://{BUCKET}/{job}\"\ntimezone = \"UTC\"\ntool_dir = \"{}\"\n\n{}",
        pg.url(&db),
        pg.bin().display(),
        server.toml()
    ));
    let bucket = S3Destination::new(
        &server.settings(),
        &Credentials { access_key_id: server.access_key.clone(), secret_access_key: server.secret_key.clone(), session_token: None, source: "test".into() },
        &format!("{BUCKET}/{job}"),
    )
    .unwrap_or_else(|e| panic!("{}", e.detailed()));
    let names = || bucket.list().unwrap_or_else(|e| panic!("{}", e.detailed())).into_iter().map(|f| f.name).collect::<Vec<_>>();

    // Two backups in S3 (the CLI, the same history); the data differs between them.
    let _ = nj.run(["backup", "--job", job]).assert_success();
    std::thread::sleep(Duration::from_millis(1100));
    let _ = pg.psql(&db, "CREATE TABLE public.marker (x int); INSERT INTO public.marker VALUES (2);");
    let second = Snapshot::take(pg, &db);
    let _ = nj.run(["backup", "--job", job]).assert_success();
    let runs = nj.history(Some(job));
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (newest, older) = (&runs[0], &runs[1]);
    let newest_file = str_field(newest, "file").to_string();
    let older_file = str_field(older, "file").to_string();
    assert!(newest_file.starts_with(&format!("s3://{BUCKET}/{job}/")), "{newest_file}");
    let newest_name = newest_file.rsplit('/').next().unwrap().to_string();
    let older_name = older_file.rsplit('/').next().unwrap().to_string();
    assert!(names().contains(&newest_name) && names().contains(&older_name), "{:?}", names());

    let launcher = AppLauncher::new(&nj)
        .env("GTK_THEME", "Adwaita")
        .env("AWS_ACCESS_KEY_ID", &server.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret_key);
    let app = launcher.session(&desktop);

    // Dashboard → Restore latest: the list from the bucket, the newest chosen and planned.
    let _ = pg.psql(&db, "DELETE FROM app.users; DROP TABLE public.marker;");
    go(&app, "dashboard");
    app.click_css(&tid(&format!("restore-latest-{job}")), UI);
    let _ = app.wait_for(&tid("view-restore"), UI);
    let title = text_when(&app, "restore-backups-title", "the list's title", |t| t.contains("s3://"));
    assert!(title.contains(&format!("s3://{BUCKET}/{job}")), "{title}");
    let listed: Vec<String> = app.find_all(&tid("restore-backup")).iter().filter_map(|e| app.attribute(e, "data-path")).collect();
    assert_eq!(listed, [newest_file.clone(), older_file.clone()], "both backups, newest first");
    assert_eq!(attr_of(&app, &format!("{}[data-path=\"{newest_file}\"]", tid("restore-backup")), "aria-pressed").as_deref(), Some("true"), "the newest is chosen");
    let _ = text_when(&app, "restore-backup-newest", "the newest good mark", |t| t == "newest good");
    assert_eq!(value_of(&app, "restore-file"), newest_file);
    let _ = app.wait_for(&tid("restore-plan"), RUN);
    assert_eq!(text_when(&app, "plan-file", "the plan's file", |_| true), newest_file, "the plan names the S3 address, not a local copy");
    fill(&app, "restore-confirm-input", &db);
    app.poll("Restore to be enabled by the right name", UI, || (!is_disabled(&app, "restore-start")).then_some(()));
    app.click_css(&tid("restore-start"), UI);
    let done = text_when(&app, "restore-result", "the restore's result", |t| t.starts_with("Restore finished"));
    second.assert_same(&Snapshot::take(pg, &db), &format!("the newest S3 backup restored through Restore latest ({done})"));
    shoot(&desktop, &app, "restore-remote-list-light", Some("restore-backups"));

    // History: the S3 rows; Reveal says why it cannot.
    go(&app, "history");
    let row = |r: &Value| format!("{}[data-run-id=\"{}\"]", tid("history-row"), u64_field(r, "id"));
    let _ = app.wait_for(&row(newest), UI);
    assert_eq!(attr_of(&app, &row(newest), "data-place").as_deref(), Some("s3"));
    let reveal = format!("{} {}", row(newest), tid("history-reveal"));
    assert!(app.execute("return document.querySelector(arguments[0]).disabled", &[json!(reveal)]).as_bool() == Some(true), "Reveal is disabled for S3");
    let why = attr_of(&app, &reveal, "title").unwrap_or_default();
    assert!(why.contains("S3") && why.contains("Save a copy"), "{why}");

    // Verify: downloaded and checked against the manifest and the history.
    app.click_css(&format!("{} {}", row(newest), tid("history-verify")), UI);
    let verified = text_when(&app, "history-message", "the check's result", |t| t.starts_with("Verified") || t.contains("failed"));
    assert!(verified.starts_with("Verified: ") && verified.contains(&newest_file) && verified.contains("sha256 matches"), "{verified}");
    // Test restore: into a scratch database on the job's server, dropped again; the row is marked verified.
    app.click_css(&format!("{} {}", row(newest), tid("history-test-restore")), UI);
    let tested = text_when(&app, "history-message", "the test restore's result", |t| t.starts_with("Verified and test-restored") || t.contains("failed"));
    assert!(tested.starts_with("Verified and test-restored: "), "{tested}");
    app.poll("the row marked verified", RUN, || {
        let t = app.execute("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", &[json!(format!("{} {}", row(newest), tid("history-verified")))]);
        t.as_str().is_some_and(|t| t.starts_with("yes")).then_some(())
    });
    shoot(&desktop, &app, "history-remote-light", Some("history-message"));

    // Save a copy…: the file arrives with the stored sha256, its manifest beside it.
    let out_dir = nj.scratch().join("copies");
    std::fs::create_dir_all(&out_dir).unwrap();
    let copy = out_dir.join(&newest_name);
    app.click_css(&format!("{} {}", row(newest), tid("history-save-copy")), UI);
    answer_file_dialog("Save a copy of", Some(&copy), UI);
    let saved = text_when(&app, "history-message", "the copy's result", |t| t.starts_with("Saved") || t.starts_with("Not saved"));
    assert!(saved.contains(&copy.display().to_string()) && saved.contains("sha256 match"), "{saved}");
    assert_eq!(sha256sum(&copy), str_field(newest, "sha256"), "the copy's sha256 is the stored backup's");
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600, "the copy is owner-only");
    assert!(out_dir.join(format!("{newest_name}.json")).is_file(), "its manifest beside it");

    // A damaged object (other bytes under the older backup's name): refused, nothing kept.
    bucket.remove(&older_name).unwrap();
    let mut p = bucket.create(&older_name).unwrap();
    p.write_all(b"not the backup that was made").unwrap();
    p.commit().unwrap();
    let bad_copy = out_dir.join(&older_name);
    app.click_css(&format!("{} {}", row(older), tid("history-save-copy")), UI);
    answer_file_dialog("Save a copy of", Some(&bad_copy), UI);
    let refused = text_when(&app, "history-message", "the damaged copy's refusal", |t| t.starts_with("Not saved") || t.starts_with("Saved"));
    assert!(refused.starts_with("Not saved: ") && refused.contains("does not match its manifest"), "{refused}");
    let left: Vec<String> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|n| n.starts_with(&older_name)), "nothing of the damaged copy is left: {left:?}");

    // Delete the job's newest good backup (now the restore's safety backup, in S3 too):
    // refused first, then "Delete anyway" removes the object and its entry.
    let latest = nj.history(Some(job)).into_iter().find(|r| r["kind"] == "backup" && r["status"] == "success").expect("a backup");
    assert_eq!(str_field(&latest, "trigger"), "pre-restore", "the safety backup is the newest: {latest}");
    let latest_name = str_field(&latest, "file").rsplit('/').next().unwrap().to_string();
    assert!(names().contains(&latest_name), "the safety backup went to S3: {:?}", names());
    app.click_css(&format!("{} {}", row(&latest), tid("history-delete")), UI);
    let ask = text_when(&app, "history-confirm-text", "the first question", |t| t.contains(&latest_name));
    assert!(ask.contains("from S3"), "{ask}");
    app.click_css(&tid("history-confirm-yes"), UI);
    let again = text_when(&app, "history-confirm-text", "the second question", |t| t.contains("newest good"));
    assert!(again.contains(job) && again.ends_with("Delete it anyway?"), "{again}");
    assert_eq!(text_when(&app, "history-confirm-yes", "the button", |_| true), "Delete anyway");
    assert!(names().contains(&latest_name), "nothing deleted before Delete anyway");
    shoot(&desktop, &app, "history-delete-anyway-light", Some("history-confirm"));
    app.click_css(&tid("history-confirm-yes"), UI);
    let gone = text_when(&app, "history-message", "the delete's result", |t| t.starts_with("Deleted") || t.starts_with("Not deleted"));
    assert_eq!(gone, format!("Deleted {latest_name}."));
    assert!(!names().iter().any(|n| n.starts_with(&latest_name)), "the object and its manifest are gone: {:?}", names());
    app.poll("the row to go", UI, || app.find(&row(&latest)).is_none().then_some(()));
    assert!(nj.history(Some(job)).iter().all(|r| r["id"] != latest["id"]), "its history entry is gone");

    // The next newest is the restored backup: its Delete asks twice as well; "Keep it" keeps it.
    app.click_css(&format!("{} {}", row(newest), tid("history-delete")), UI);
    let _ = text_when(&app, "history-confirm-text", "the first question", |t| t.contains(&newest_name));
    app.click_css(&tid("history-confirm-yes"), UI);
    let _ = text_when(&app, "history-confirm-text", "the second question", |t| t.contains("newest good"));
    app.click_css(&tid("history-confirm-no"), UI);
    let kept = text_when(&app, "history-message", "the kept message", |t| t.starts_with("Kept"));
    assert_eq!(kept, format!("Kept {newest_name}."));
    assert!(names().contains(&newest_name), "Keep it keeps the backup");
    app.close();
}

/// "Reveal" on a backup in OneDrive (the local Graph fake) opens the item's
/// page on the OneDrive website (its `webUrl`) in the browser: the app's
/// `xdg-open` here is a script that writes down the address it was given.
#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn reveal_opens_the_onedrive_page_of_a_backup_in_onedrive() {
    use nightjar_onedrive_fake::FakeGraph;
    let desktop = DesktopSession::get();
    let pg = PgCluster::shared();
    let db = fresh_sample(pg, "e2e_odreveal");
    let fake = FakeGraph::start();
    let nj = Nightjar::new();
    let job = "odjob";
    nj.write_config(&format!(
        "[onedrive]\nclient_id = \"1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901\"\ntenant = \"consumers\"\nlogin_base_url = \"{}\"\ngraph_base_url = \"{}\"\n\n[[job]]\nname = \"{job}\"\ndatabase = \"{}\"\ndestination = \"onedrive:/Backups/{job}\"\ntimezone = \"UTC\"\ntool_dir = \"{}\"\n",
        fake.login_base(),
        fake.graph_base(),
        pg.url(&db),
        pg.bin().display()
    ));
    let bin = nj.scratch().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = nj.scratch().join("opened.txt");
    std::fs::write(bin.join("xdg-open"), format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> {}\n", q(&opened))).unwrap();
    std::fs::set_permissions(bin.join("xdg-open"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let app = AppLauncher::new(&nj).env("GTK_THEME", "Adwaita").env("PATH", &path).session(&desktop);

    go(&app, "settings");
    app.click_css(&tid("onedrive-sign-in-code"), UI);
    let _ = text_when(&app, "onedrive-message", "the signed-in account", |t| t.starts_with("Signed in as"));
    go(&app, "dashboard");
    app.click_css(&tid(&format!("backup-now-{job}")), UI);
    let result = text_when(&app, &format!("backup-result-{job}"), "the backup's result", |t| t.starts_with("Backup finished"));
    let record = nj.history(Some(job)).into_iter().find(|r| r["status"] == "success").unwrap_or_else(|| panic!("a good backup ({result})"));
    let file = str_field(&record, "file").to_string();
    let name = file.rsplit('/').next().unwrap().to_string();
    assert!(fake.file(&format!("Backups/{job}/{name}")).is_some(), "the backup is in OneDrive");

    go(&app, "history");
    let row = format!("{}[data-run-id=\"{}\"]", tid("history-row"), u64_field(&record, "id"));
    let _ = app.wait_for(&row, UI);
    app.click_css(&format!("{row} {}", tid("history-reveal")), UI);
    let msg = text_when(&app, "history-message", "Reveal's result", |_| true);
    let url = format!("https://onedrive.fake.invalid/Backups/{job}/{name}");
    assert_eq!(msg, format!("Opened the OneDrive page of {name} in the browser ({url})."));
    app.poll("the browser to be asked", UI, || std::fs::read_to_string(&opened).ok().filter(|t| t.trim() == url).map(drop));
    app.close();
}
