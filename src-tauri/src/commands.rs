//! `#[tauri::command]` entry points. Each one is a thin adapter: arguments in,
//! one call, result out. Logic belongs in `nightjar-core`.

use crate::models::AppInfo;

/// Version information for the window's footer.
#[tauri::command]
pub(crate) fn app_info() -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        core: "nightjar-core",
    }
}

#[cfg(test)]
mod tests {
    use super::app_info;

    #[test]
    fn app_info_serializes_to_the_shape_the_ui_reads() {
        let json = serde_json::to_value(app_info()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "core": "nightjar-core" })
        );
    }
}
