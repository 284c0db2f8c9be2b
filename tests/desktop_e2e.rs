//! End-to-end tests of the desktop app: the real `nightjar-desktop` binary
//! driven through `tauri-driver` + `WebKitWebDriver`, its tray menu over
//! D-Bus (a fake StatusNotifierWatcher), its notifications captured by a fake
//! notification server, throwaway PostgreSQL clusters and temp config/data dirs.
//!
//! They need a desktop session, so they are ignored by default; run them with
//!
//!     tests/desktop/e2e.sh
//!
//! which starts a private X server, session bus, GNOME Keyring, the fake
//! notification server and `tauri-driver`, then runs this binary's ignored
//! tests one at a time.

use std::time::Duration;

use nightjar_tests::desktop::{AppLauncher, DesktopSession, Tray, TRAY_READY};
use nightjar_tests::procs;
use nightjar_tests::Nightjar;

/// Generous: a debug build on 2 busy cores.
const UI: Duration = Duration::from_secs(30);
const START: Duration = Duration::from_secs(90);

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

#[test]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run tests/desktop/e2e.sh"]
fn tray_menu_lists_its_items_and_quit_exits_zero() {
    let _ = DesktopSession::get();
    let nj = Nightjar::new();
    let launcher = AppLauncher::new(&nj);
    let mut tray = Tray::start();
    let mut app = launcher.spawn();
    let item = tray.wait_registered(START);
    assert!(item.get("menu").and_then(|m| m.as_str()).is_some_and(|m| m.starts_with('/')), "the item exports a menu: {item}");
    launcher.wait_log(TRAY_READY, START);

    let labels = tray.labels();
    assert!(labels.iter().any(|l| l == "Open Nightjar"), "tray menu has Open Nightjar: {labels:?}");
    assert_eq!(labels.last().map(String::as_str), Some("Quit"), "Quit is the last item: {labels:?}");

    let pid = app.pid();
    tray.click("Quit");
    let status = app.wait_exit(UI);
    assert_eq!(status.code(), Some(0), "Quit from the tray exits 0; app log:\n{}", launcher.log());
    let left = procs::descendants(pid);
    assert!(left.is_empty(), "nothing the app started outlives it: {left:?}");
}
