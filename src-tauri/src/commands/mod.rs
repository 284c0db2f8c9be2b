//! `#[tauri::command]` entry points. Each one is a thin adapter: arguments
//! in, core calls, result out. Long work runs on a blocking thread and
//! reports through a `Channel<ProgressEvent>`; runs themselves happen in
//! the tray process (see [`crate::link`]).

pub mod dashboard;
pub mod discover;
pub mod history;
pub mod language;
pub mod logs;
pub mod restore;
pub mod settings;

use crate::models::{AppInfo, CmdResult, UiError};

/// Version information for the window's footer.
#[tauri::command]
pub(crate) fn app_info() -> AppInfo {
    AppInfo { version: env!("CARGO_PKG_VERSION"), core: "nightjar-core" }
}

/// The view the shell asked the page to show (tray, notification click),
/// once; `null` when there is none.
#[tauri::command]
pub(crate) async fn take_navigation(link: tauri::State<'_, crate::Link>) -> CmdResult<Option<serde_json::Value>> {
    let link = link.inner().clone();
    blocking(move || link.call_as(nightjar_desktop_shared::proto::Op::TakeNavigation)).await
}

/// Runs blocking work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CmdResult<T> + Send + 'static) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| UiError::new(nightjar_core::ErrorKind::Other, format!("The task stopped unexpectedly ({e}); see the log.")))?
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
