// Placeholder page script: shows the app version from the `app_info` command.
// Loaded as a file (not inline) because the CSP allows only 'self' scripts.

/**
 * Mirrors `AppInfo` in src-tauri/src/models.rs.
 * @typedef {{ version: string, core: string }} AppInfo
 */

const versionEl = document.getElementById('version');
const core = window.__TAURI__ && window.__TAURI__.core;

if (!core) {
  versionEl.textContent = 'Version unknown (not running inside the Nightjar app)';
} else {
  core
    .invoke('app_info')
    .then((/** @type {AppInfo} */ info) => {
      versionEl.textContent = `Nightjar ${info.version} · ${info.core}`;
    })
    .catch((err) => {
      versionEl.textContent = 'Version unknown';
      console.error('app_info failed:', err);
    });
}
