//! Secrets (database passwords, later the OneDrive refresh token) live in the
//! OS keyring, never in the config file, the history, logs or argv.
//!
//! Entries are `service = "nightjar"`, `account = "job:<name>"` for a job's
//! database password, or `db:<scheme>://user@host:port` for ad-hoc `--db`
//! runs. [`SecretStore`] lets tests use [`MemorySecrets`].

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{Error, ErrorKind, Result};

/// The keyring service name.
pub const SERVICE: &str = "nightjar";

/// The keyring account holding a job's database password.
#[must_use]
pub fn job_account(job: &str) -> String {
    format!("job:{job}")
}

/// A place to keep secrets.
pub trait SecretStore: Send + Sync {
    /// The secret for `account`, or `None` when there is none.
    ///
    /// # Errors
    /// [`ErrorKind::Secret`] when the store cannot be reached.
    fn get(&self, account: &str) -> Result<Option<String>>;
    /// Stores (or replaces) the secret.
    ///
    /// # Errors
    /// [`ErrorKind::Secret`] when the store cannot be reached.
    fn set(&self, account: &str, secret: &str) -> Result<()>;
    /// Removes the secret; `Ok(false)` when there was none.
    ///
    /// # Errors
    /// [`ErrorKind::Secret`] when the store cannot be reached.
    fn delete(&self, account: &str) -> Result<bool>;
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows) through the `keyring` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct Keyring;

fn keyring_error(e: keyring::Error) -> Error {
    Error::new(
        ErrorKind::Secret,
        "The OS keyring is not available (on Linux, a Secret Service such as GNOME Keyring or KWallet must be running and unlocked); set the password through PGPASSWORD instead, or start the keyring.",
    )
    .with_source(e)
}

impl SecretStore for Keyring {
    fn get(&self, account: &str) -> Result<Option<String>> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(keyring_error)?;
        match entry.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn set(&self, account: &str, secret: &str) -> Result<()> {
        keyring::Entry::new(SERVICE, account).and_then(|e| e.set_password(secret)).map_err(keyring_error)
    }

    fn delete(&self, account: &str) -> Result<bool> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(keyring_error)?;
        match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// An in-memory store for tests.
#[derive(Debug, Default)]
pub struct MemorySecrets(Mutex<HashMap<String, String>>);

impl SecretStore for MemorySecrets {
    fn get(&self, account: &str) -> Result<Option<String>> {
        Ok(self.0.lock().expect("secrets lock").get(account).cloned())
    }
    fn set(&self, account: &str, secret: &str) -> Result<()> {
        self.0.lock().expect("secrets lock").insert(account.into(), secret.into());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<bool> {
        Ok(self.0.lock().expect("secrets lock").remove(account).is_some())
    }
}

/// A store that has nothing and refuses writes (`NIGHTJAR_KEYRING=off`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSecrets;

impl SecretStore for NoSecrets {
    fn get(&self, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    fn set(&self, _: &str, _: &str) -> Result<()> {
        Err(Error::new(ErrorKind::Secret, "The keyring is switched off (NIGHTJAR_KEYRING=off); unset it to store passwords."))
    }
    fn delete(&self, _: &str) -> Result<bool> {
        Ok(false)
    }
}

/// The store to use: the OS keyring unless `NIGHTJAR_KEYRING=off`.
#[must_use]
pub fn default_store() -> Box<dyn SecretStore> {
    if std::env::var("NIGHTJAR_KEYRING").is_ok_and(|v| v == "off") {
        Box::new(NoSecrets)
    } else {
        Box::new(Keyring)
    }
}

/// The database password for a run of `job`, in order: one given for this
/// run, the engine's environment variable (`PGPASSWORD` / `MYSQL_PWD`), the
/// keyring entry `account` (default: the job's). Returned explicitly even
/// when it comes from the environment, because `docker exec` does not
/// forward the caller's environment. Raises `keyring_failed` when the
/// keyring could not be asked, so an authentication error can say why.
#[must_use]
pub fn database_password(
    store: &dyn SecretStore,
    job: &crate::config::Job,
    given: Option<&str>,
    account: Option<&str>,
    keyring_failed: &std::sync::atomic::AtomicBool,
) -> Option<String> {
    if let Some(p) = given {
        return Some(p.to_string());
    }
    let var = match job.db.engine {
        crate::model::Engine::Postgres => "PGPASSWORD",
        crate::model::Engine::Mysql => "MYSQL_PWD",
    };
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(p.to_string_lossy().into_owned());
    }
    let account = account.map_or_else(|| job_account(&job.name), str::to_string);
    match store.get(&account) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(job = %job.name, "keyring: {}", e.detailed());
            keyring_failed.store(true, std::sync::atomic::Ordering::Relaxed);
            None
        }
    }
}
