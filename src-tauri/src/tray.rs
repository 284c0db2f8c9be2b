//! The system tray icon and its menu.
//!
//! Menu ids are constants and every click goes through the single `match` in
//! [`on_menu_event`], so the tray has one place to read.

use tauri::{
    AppHandle, Manager, Runtime,
    image::Image,
    menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem},
    tray::TrayIconBuilder,
};

use crate::MAIN_WINDOW;

/// Id of the one tray icon the app owns.
pub(crate) const TRAY_ID: &str = "nightjar";

/// Disabled first line; later it will say when the last backup ran and how it went.
const MENU_STATUS: &str = "status";
const MENU_OPEN: &str = "open";
const MENU_QUIT: &str = "quit";

const STATUS_NO_BACKUPS: &str = "Nightjar — no backups yet";

/// Idle glyph. `icons/tray-running.png` and `icons/tray-failed.png` are the
/// other two states and get wired in once runs report back to the shell.
const ICON_IDLE: Image<'static> = tauri::include_image!("../icons/tray-idle.png");

/// Builds the tray icon and its menu, then logs `tray ready`.
///
/// # Errors
/// Fails if the platform refuses to create the menu or the tray icon.
pub(crate) fn create_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, MENU_STATUS, STATUS_NO_BACKUPS, false, None::<&str>)?;
    let open = MenuItem::with_id(app, MENU_OPEN, "Open Nightjar", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &open, &separator, &quit])?;

    // The tray is stored in the app by id, so the returned handle can be dropped.
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(ICON_IDLE)
        .tooltip("Nightjar")
        .menu(&menu)
        .on_menu_event(|app, event| on_menu_event(app, &event))
        .build(app)?;

    tracing::info!("tray ready");
    Ok(())
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: &MenuEvent) {
    match event.id.as_ref() {
        MENU_OPEN => show_main_window(app),
        MENU_QUIT => app.exit(0),
        // The status line is disabled; nothing else is in the menu.
        _ => {}
    }
}

/// Brings the main window back after it was hidden by closing it.
fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        tracing::warn!(label = MAIN_WINDOW, "main window not found");
        return;
    };
    let shown = window
        .unminimize()
        .and_then(|()| window.show())
        .and_then(|()| window.set_focus());
    if let Err(error) = shown {
        tracing::warn!(%error, "could not show the main window");
    }
}
