//! `#[tauri::command]` entry points. Each one is a thin adapter: arguments
//! in, core calls, result out. Long work runs on a blocking thread and
//! reports through a `Channel<ProgressEvent>`.

pub mod dashboard;
pub mod history;
pub mod logs;
pub mod restore;
pub mod settings;

use std::path::Path;

use tauri::{AppHandle, Runtime};

use crate::models::{AppInfo, CmdResult, UiError};

/// Version information for the window's footer.
#[tauri::command]
pub(crate) fn app_info() -> AppInfo {
    AppInfo { version: env!("CARGO_PKG_VERSION"), core: "nightjar-core" }
}

/// The view the shell asked the page to show (tray, notification click),
/// once; `null` when there is none.
#[tauri::command]
pub(crate) fn take_navigation(state: tauri::State<'_, crate::AppState>) -> Option<serde_json::Value> {
    state.pending_navigation.lock().expect("navigation lock").take()
}

/// Runs blocking work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CmdResult<T> + Send + 'static) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| UiError::new(format!("The task stopped unexpectedly ({e}); see the log.")))?
}

/// Opens a folder in the file manager.
#[cfg_attr(test, allow(dead_code))] // called from the tray
pub(crate) fn open_folder<R: Runtime>(app: &AppHandle<R>, dir: &Path) {
    #[cfg(not(test))]
    {
        use tauri_plugin_opener::OpenerExt as _;
        if let Err(e) = app.opener().open_path(dir.display().to_string(), None::<&str>) {
            tracing::warn!(dir = %dir.display(), "could not open the folder: {e}");
        }
    }
    #[cfg(test)]
    let _ = (app, dir);
}

#[cfg(test)]
mod tests {
    use super::app_info;

    #[test]
    fn app_info_serializes_to_the_shape_the_ui_reads() {
        let json = serde_json::to_value(app_info()).unwrap();
        assert_eq!(json, serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "core": "nightjar-core" }));
    }
}
