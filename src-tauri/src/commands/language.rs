//! The window's language: the config's `[ui] language` (Settings →
//! Language), resolved to one of the catalogs in ui/i18n (the OS's language
//! for `auto`), handed to the page with its catalog. The catalogs are
//! embedded in the binary by `nightjar_desktop_shared::i18n`: the window's
//! CSP lets the page talk to the IPC only, not fetch its own files.

use std::collections::HashMap;

use nightjar_core::config::ParseEnv;
use nightjar_core::config_edit;
use nightjar_desktop_shared::i18n::{self, Lang};
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::models::CmdResult;
use crate::state::AppState;

/// What the page needs to speak: the language in use, the choice in the
/// config, that language's catalog and the English one (fallbacks).
#[derive(Debug, Serialize)]
pub struct UiLanguageView {
    /// The resolved language's code (`en`, `ru`, `tr`, `fr`, `th`).
    pub language: &'static str,
    /// `[ui] language` as written (`auto` or a code).
    pub choice: &'static str,
    /// The language's catalog.
    pub messages: &'static HashMap<String, String>,
    /// The English catalog.
    pub english: &'static HashMap<String, String>,
}

fn view(choice: &'static str) -> UiLanguageView {
    let lang = i18n::resolve(choice);
    UiLanguageView { language: lang.code(), choice, messages: i18n::catalog(lang), english: i18n::catalog(Lang::En) }
}

/// The language the window speaks now. A config that does not load leaves
/// the choice at `auto` (its error shows in the banner as always).
#[tauri::command]
pub fn ui_language(state: State<'_, AppState>) -> UiLanguageView {
    let choice = state.load_config().map_or("auto", |c| c.raw.ui.language.code());
    view(choice)
}

/// Saves `[ui] language` (Settings → Language) and returns the language now
/// in use; the tray process picks it up as it reloads the changed config.
/// A value that is not a choice is a field error on `language`.
#[tauri::command]
pub fn ui_language_set<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, choice: String) -> CmdResult<UiLanguageView> {
    let config = config_edit::save_language(&state.config_path, &ParseEnv::from_system(), &choice)?;
    tracing::info!(language = config.raw.ui.language.code(), "language saved from Settings");
    super::settings::after_change(&app, &config);
    Ok(view(config.raw.ui.language.code()))
}
