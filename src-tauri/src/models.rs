//! Serde DTOs that cross the IPC boundary to `ui/`.
//!
//! JSON field names are camelCase; keep the `JSDoc` typedefs in `ui/` in step with them.

use serde::Serialize;

/// What the window shows in its footer: the shell's version and the engine it wraps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Version of the desktop app (the workspace version).
    pub version: &'static str,
    /// Name of the backup engine crate.
    pub core: &'static str,
}
