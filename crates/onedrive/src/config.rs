//! Client settings, derived from core's `[onedrive]` settings.

use std::path::PathBuf;
use std::time::Duration;

use nightjar_core::config::OneDriveSettings;
use rand::Rng as _;

/// The application id used when `[onedrive] client_id` is not set: a
/// placeholder, never sent to Microsoft ([`GraphConfig::check_client_id`]).
/// Each user registers a public-client app of their own (README "Signing in
/// to OneDrive") and enters its id in Settings or the config file.
pub const DEFAULT_CLIENT_ID: &str = "00000000-0000-0000-0000-000000000000";
/// Microsoft's identity platform (the default `login_base_url`).
pub const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
/// Where the README's and Settings' guide to registering the app points.
pub const APP_REGISTRATION_GUIDE: &str = "https://learn.microsoft.com/entra/identity-platform/quickstart-register-app";
/// Delegated scopes (§1.3).
pub const SCOPES: &str = "Files.ReadWrite offline_access User.Read";
/// 320 KiB: fragments other than the last are a multiple of it.
pub const FRAGMENT_UNIT: usize = 327_680;
/// Default fragment: 10 MiB = 32 × 320 KiB.
pub const DEFAULT_FRAGMENT: usize = 32 * FRAGMENT_UNIT;

/// Retry and back-off (§7.5).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per request (first one included).
    pub max_tries: u32,
    /// First back-off.
    pub base: Duration,
    /// Largest back-off.
    pub cap: Duration,
    /// Largest honoured `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_tries: 8, base: Duration::from_secs(1), cap: Duration::from_secs(60), max_retry_after: Duration::from_secs(600) }
    }
}

impl RetryPolicy {
    /// Exponential back-off with jitter for try `n` (1-based).
    #[must_use]
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let d = exp.min(self.cap);
        let jitter = rand::thread_rng().gen_range(0.5..1.0);
        d.mul_f64(jitter)
    }
}

/// Everything the Graph client needs.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Tenant (`common`).
    pub tenant: String,
    /// Public-client id.
    pub client_id: String,
    /// `https://login.microsoftonline.com`.
    pub login_base: String,
    /// `https://graph.microsoft.com/v1.0`.
    pub graph_base: String,
    /// Scopes.
    pub scopes: String,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Upload fragment size (rounded down to a multiple of 320 KiB).
    pub fragment_size: usize,
    /// Where a backup bigger than one fragment is spooled before upload
    /// (`None`: the system temp folder).
    pub staging_dir: Option<PathBuf>,
    /// Pause before re-reading an item whose hash is not there yet.
    pub hash_recheck_delay: Duration,
    /// `[onedrive] staging = true`: spool into this private folder under a
    /// name, with the upload session saved beside it, so an upload cut by
    /// the process's death resumes later ([`crate::staging`]). `None`: an
    /// unlinked temporary file, gone with the process.
    pub resume_dir: Option<PathBuf>,
    /// The data folder's lock folder: a refresh of the stored sign-in holds
    /// a lock file there, so one Nightjar process at a time redeems it
    /// (`None`: this process only, as when the secrets are not shared).
    pub lock_dir: Option<PathBuf>,
}

impl GraphConfig {
    /// From the `[onedrive]` table.
    #[must_use]
    pub fn from_settings(s: &OneDriveSettings) -> Self {
        Self {
            tenant: s.tenant.clone(),
            client_id: s.client_id.clone().unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string()),
            login_base: s.login_base_url.trim_end_matches('/').to_string(),
            graph_base: s.graph_base_url.trim_end_matches('/').to_string(),
            scopes: SCOPES.to_string(),
            retry: RetryPolicy::default(),
            fragment_size: DEFAULT_FRAGMENT,
            staging_dir: None,
            hash_recheck_delay: Duration::from_secs(2),
            resume_dir: s.staging.then(|| crate::staging::default_dir(&nightjar_core::paths::DataDir::from_env())),
            lock_dir: Some(nightjar_core::paths::DataDir::from_env().lock_dir()),
        }
    }

    /// Refuses the placeholder application id before anything is sent to
    /// Microsoft: the sign-in would only fail there with a code the user
    /// cannot act on. (A local stand-in of the service takes any id.)
    ///
    /// # Errors
    /// [`ErrorKind::Config`] saying how to set up an application id.
    pub fn check_client_id(&self) -> nightjar_core::Result<()> {
        let microsoft = self.login_base.trim_end_matches('/').eq_ignore_ascii_case(MICROSOFT_LOGIN);
        if microsoft && self.client_id == DEFAULT_CLIENT_ID {
            return Err(nightjar_core::Error::config(format!(
                "Set up a OneDrive application id first: register a public-client app (redirect URI http://localhost, delegated permissions Files.ReadWrite and offline_access, see {APP_REGISTRATION_GUIDE}), then enter its Application (client) ID in Settings → OneDrive sign-in, or as `client_id` under [onedrive] in the config file."
            )));
        }
        Ok(())
    }

    /// The fragment size actually used.
    #[must_use]
    pub fn fragment(&self) -> usize {
        (self.fragment_size / FRAGMENT_UNIT).max(1) * FRAGMENT_UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_id_is_refused_for_microsoft_only() {
        let mut s = OneDriveSettings::default();
        let e = GraphConfig::from_settings(&s).check_client_id().unwrap_err();
        assert!(e.message().starts_with("Set up a OneDrive application id first"), "{}", e.message());
        assert!(e.message().contains("http://localhost") && e.message().contains("Files.ReadWrite"), "{}", e.message());
        s.client_id = Some("11111111-2222-3333-4444-555555555555".into());
        GraphConfig::from_settings(&s).check_client_id().unwrap();
        s.client_id = None;
        s.login_base_url = "http://127.0.0.1:8080".into();
        GraphConfig::from_settings(&s).check_client_id().unwrap();
    }
}
