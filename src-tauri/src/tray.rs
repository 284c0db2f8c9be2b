//! The system tray icon and its menu.
//!
//! Menu ids are constants and every click goes through the single `match` in
//! [`on_menu_event`], so the tray has one place to read. The first line is a
//! disabled status item, updated after every run and once a minute; the
//! icon shows idle, running, or failed/stale.

use std::sync::Mutex;

use chrono::Utc;
use nightjar_core::state::StateFile;
use tauri::{
    AppHandle, Manager, Runtime,
    image::Image,
    menu::{IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu},
    tray::TrayIconBuilder,
};

use crate::state::AppState;
use crate::summary::{IconState, TraySummary};

/// Id of the one tray icon the app owns.
pub(crate) const TRAY_ID: &str = "nightjar";

const MENU_STATUS: &str = "status";
const MENU_BACKUP_ALL: &str = "backup";
const MENU_BACKUP_JOB: &str = "backup:";
const MENU_RESTORE: &str = "restore";
const MENU_OPEN: &str = "open";
const MENU_PAUSE: &str = "pause";
const MENU_FOLDER: &str = "folder";
const MENU_QUIT: &str = "quit";

const ICON_IDLE: Image<'static> = tauri::include_image!("../icons/tray-idle.png");
const ICON_RUNNING: Image<'static> = tauri::include_image!("../icons/tray-running.png");
const ICON_FAILED: Image<'static> = tauri::include_image!("../icons/tray-failed.png");

/// The live parts of the menu.
struct TrayHandles<R: Runtime> {
    status: MenuItem<R>,
    pause: MenuItem<R>,
    jobs: Vec<String>,
    icon: IconState,
}

fn pause_label(paused: bool) -> &'static str {
    if paused { "Resume schedules" } else { "Pause schedules" }
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, s: &TraySummary) -> tauri::Result<(Menu<R>, MenuItem<R>, MenuItem<R>)> {
    let status = MenuItem::with_id(app, MENU_STATUS, &s.line, false, None::<&str>)?;
    let sep1 = PredefinedMenuItem::separator(app)?;
    let backup: Box<dyn IsMenuItem<R>> = if s.jobs.len() > 1 {
        let sub = Submenu::with_id(app, "backup-menu", "Backup now", true)?;
        sub.append(&MenuItem::with_id(app, MENU_BACKUP_ALL, "All jobs", true, None::<&str>)?)?;
        sub.append(&PredefinedMenuItem::separator(app)?)?;
        for j in &s.jobs {
            sub.append(&MenuItem::with_id(app, format!("{MENU_BACKUP_JOB}{j}"), j, true, None::<&str>)?)?;
        }
        Box::new(sub)
    } else {
        Box::new(MenuItem::with_id(app, MENU_BACKUP_ALL, "Backup now", !s.jobs.is_empty(), None::<&str>)?)
    };
    let restore = MenuItem::with_id(app, MENU_RESTORE, "Restore from file…", true, None::<&str>)?;
    let open = MenuItem::with_id(app, MENU_OPEN, "Open Nightjar", true, None::<&str>)?;
    let sep2 = PredefinedMenuItem::separator(app)?;
    let pause = MenuItem::with_id(app, MENU_PAUSE, pause_label(s.paused), true, None::<&str>)?;
    let folder = MenuItem::with_id(app, MENU_FOLDER, "Open backup folder", s.folder.is_some(), None::<&str>)?;
    let sep3 = PredefinedMenuItem::separator(app)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &sep1, backup.as_ref(), &restore, &open, &sep2, &pause, &folder, &sep3, &quit])?;
    Ok((menu, status, pause))
}

fn icon(state: IconState) -> Image<'static> {
    match state {
        IconState::Idle => ICON_IDLE,
        IconState::Running => ICON_RUNNING,
        IconState::Failed => ICON_FAILED,
    }
}

/// Builds the tray icon and its menu, then logs `tray ready`.
///
/// # Errors
/// Fails if the platform refuses to create the menu or the tray icon.
pub(crate) fn create_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let s = crate::summary::tray_summary(&app.state::<AppState>(), Utc::now());
    let (menu, status, pause) = build_menu(app, &s)?;
    // The tray is stored in the app by id, so the returned handle can be dropped.
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(s.icon))
        .tooltip(format!("Nightjar — {}", s.line))
        .menu(&menu)
        .on_menu_event(|app, event| on_menu_event(app, &event))
        .build(app)?;
    app.manage(Mutex::new(TrayHandles { status, pause, jobs: s.jobs.clone(), icon: s.icon }));
    tracing::info!("tray ready");
    Ok(())
}

/// Recomputes the status line, the pause label and the icon; rebuilds the
/// menu when the job list changed.
pub(crate) fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(handles) = app.try_state::<Mutex<TrayHandles<R>>>() else { return };
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    let s = crate::summary::tray_summary(&app.state::<AppState>(), Utc::now());
    let mut h = handles.lock().expect("tray lock");
    let result = (|| -> tauri::Result<()> {
        if h.jobs != s.jobs {
            let (menu, status, pause) = build_menu(app, &s)?;
            tray.set_menu(Some(menu))?;
            h.status = status;
            h.pause = pause;
            h.jobs = s.jobs.clone();
        } else {
            if h.status.text()? != s.line {
                h.status.set_text(&s.line)?;
            }
            if h.pause.text()? != pause_label(s.paused) {
                h.pause.set_text(pause_label(s.paused))?;
            }
        }
        if h.icon != s.icon {
            tray.set_icon(Some(icon(s.icon)))?;
            h.icon = s.icon;
        }
        tray.set_tooltip(Some(format!("Nightjar — {}", s.line)))?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!("could not update the tray: {e}");
    }
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: &MenuEvent) {
    let id = event.id.as_ref();
    match id {
        MENU_OPEN => crate::show_main_window(app),
        MENU_QUIT => crate::quit(app),
        MENU_BACKUP_ALL => {
            tracing::info!("backup requested from tray");
            crate::commands::dashboard::spawn_backup(app, None);
        }
        MENU_RESTORE => {
            tracing::info!("restore requested from tray");
            crate::events::navigate(app, serde_json::json!({ "view": "restore", "pick": true }));
        }
        MENU_PAUSE => {
            let state = app.state::<AppState>();
            let paused = StateFile::in_dir(state.data.root()).load().is_paused(Utc::now());
            if let Err(e) = crate::commands::dashboard::set_paused_inner(app, !paused) {
                tracing::error!("{e}");
            }
        }
        MENU_FOLDER => {
            let s = crate::summary::tray_summary(&app.state::<AppState>(), Utc::now());
            if let Some(dir) = s.folder {
                crate::commands::open_folder(app, &dir);
            }
        }
        _ if id.starts_with(MENU_BACKUP_JOB) => {
            let job = &id[MENU_BACKUP_JOB.len()..];
            tracing::info!(job, "backup requested from tray");
            crate::commands::dashboard::spawn_backup(app, Some(job.to_string()));
        }
        // The status line is disabled.
        _ => {}
    }
}
