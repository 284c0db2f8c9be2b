//! Secrets (database passwords, the OneDrive refresh token, the manifest
//! key) live in the OS keyring, never in the config file, the history, logs
//! or argv. On a server with no keyring, `[secrets] store = "file"` in the
//! config keeps them in a private (0600) TOML file instead: chosen
//! explicitly, never as a silent fallback.
//!
//! Entries are `service = "nightjar"`, `account = "job:<name>"` for a job's
//! database password, or `db:<scheme>://user@host:port` for ad-hoc `--db`
//! runs. [`SecretStore`] lets tests use [`MemorySecrets`];
//! [`ConfiguredSecrets`] is the store the config file chooses.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::config::{SecretStoreKind, SecretsSettings};
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
    /// Takes the `[secrets]` settings of the config file at `config_path`,
    /// (re)loaded; only [`ConfiguredSecrets`] acts on them.
    fn configure(&self, _settings: &SecretsSettings, _config_path: &Path) {}
    /// Whether the store can be used at all (it would keep what is stored).
    ///
    /// # Errors
    /// [`ErrorKind::Secret`] (or a config error) saying why not and what to do.
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// The file the secrets are kept in, for a file store (for messages).
    fn file(&self) -> Option<PathBuf> {
        None
    }
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows) through the `keyring` crate. `config` names the
/// config file in the message when the keyring cannot be reached.
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    config: Option<PathBuf>,
}

impl Keyring {
    /// The keyring; its errors point at `[secrets]` in `config`.
    #[must_use]
    pub fn new(config: Option<PathBuf>) -> Self {
        Self { config }
    }

    fn error(&self, e: keyring::Error) -> Error {
        let config = self.config.as_ref().map_or_else(|| "the config file".to_string(), |c| c.display().to_string());
        let message = if cfg!(target_os = "linux") && matches!(e, keyring::Error::NoStorageAccess(_)) {
            format!("The keyring (Secret Service) is locked or refused access; unlock it or set [secrets] store = \"file\" in {config}.")
        } else if cfg!(target_os = "linux") {
            format!("No keyring (Secret Service) is running here; start one or set [secrets] store = \"file\" in {config}.")
        } else {
            format!("The OS keyring could not be used ({e}); fix that or set [secrets] store = \"file\" in {config}.")
        };
        Error::new(ErrorKind::Secret, message).with_source(e)
    }
}

impl SecretStore for Keyring {
    fn get(&self, account: &str) -> Result<Option<String>> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| self.error(e))?;
        match entry.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn set(&self, account: &str, secret: &str) -> Result<()> {
        keyring::Entry::new(SERVICE, account).and_then(|e| e.set_password(secret)).map_err(|e| self.error(e))
    }

    fn delete(&self, account: &str) -> Result<bool> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| self.error(e))?;
        match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// How long what the `keyring` crate's default store keeps lasts: only
/// the process (its in-memory mock, what it falls back to on a system it
/// was built without a store for) or longer.
#[must_use]
pub fn keyring_persistence() -> keyring::credential::CredentialPersistence {
    keyring::default::default_credential_builder().persistence()
}

/// A private TOML file of `account = "secret"` (`[secrets] store = "file"`).
///
/// Written whole to a temporary file beside it (owner-only) and renamed
/// over it, under a lock (`<file>.lock`) so two processes do not lose each
/// other's changes. On Unix a file that the group or others may read or
/// write is refused, with the fix.
#[derive(Debug, Clone)]
pub struct FileSecrets {
    path: PathBuf,
}

const FILE_HEADER: &str = "# Nightjar's secrets (database passwords, the OneDrive sign-in): [secrets] store = \"file\".\n# Keep this file private (chmod 600); Nightjar refuses it otherwise.\n";

impl FileSecrets {
    /// The store in the file at `path` (created on the first `set`).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Secret, format!("The credentials file {} could not be {what} ({e}).", self.path.display())).with_source(e)
    }

    /// Every entry; none when the file does not exist.
    fn read(&self) -> Result<BTreeMap<String, String>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.io_error("read", e)),
        };
        self.check_private()?;
        toml::from_str(&text).map_err(|e| {
            // The message of a parse error quotes the line: it may hold a secret.
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::new(ErrorKind::Secret, format!("The credentials file {} is not valid TOML (line {line}); each line must be \"account\" = \"secret\".", self.path.display()))
        })
    }

    /// Refuses a file the group or others may access (Unix).
    fn check_private(&self) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(&self.path).map_err(|e| self.io_error("read", e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(Error::new(
                    ErrorKind::Secret,
                    format!("The credentials file {p} can be read by other users, so Nightjar does not use it; run chmod 600 {p}.", p = self.path.display()),
                ));
            }
        }
        Ok(())
    }

    /// Reads, changes and writes the file back, under the lock.
    fn update<T>(&self, change: impl FnOnce(&mut BTreeMap<String, String>) -> T) -> Result<T> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir).map_err(|e| self.io_error("created", e))?;
        }
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock = crate::private::file_options().read(true).write(true).create(true).truncate(false).open(&lock_path).map_err(|e| self.io_error("locked", e))?;
        lock.lock().map_err(|e| self.io_error("locked", e))?;
        let mut map = self.read()?;
        let out = change(&mut map);
        self.write(&map)?;
        Ok(out)
    }

    /// Writes `map` to a temporary file beside the file and renames it over.
    fn write(&self, map: &BTreeMap<String, String>) -> Result<()> {
        use std::io::Write as _;
        let body = toml::to_string(map).map_err(|e| Error::other("The credentials could not be written as TOML.").with_source(e))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = (|| {
            let _ = std::fs::remove_file(&tmp);
            let mut f = crate::private::create_new_file(&tmp)?;
            f.write_all(FILE_HEADER.as_bytes())?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io_error("written", e)
        })
    }
}

impl SecretStore for FileSecrets {
    fn get(&self, account: &str) -> Result<Option<String>> {
        Ok(self.read()?.remove(account))
    }

    fn set(&self, account: &str, secret: &str) -> Result<()> {
        self.update(|m| {
            m.insert(account.to_string(), secret.to_string());
        })
    }

    fn delete(&self, account: &str) -> Result<bool> {
        if !self.read()?.contains_key(account) {
            return Ok(false);
        }
        self.update(|m| m.remove(account).is_some())
    }

    fn check(&self) -> Result<()> {
        self.read().map(|_| ())
    }

    fn file(&self) -> Option<PathBuf> {
        Some(self.path.clone())
    }
}

/// The store the config file's `[secrets]` section chooses: the OS keyring
/// (refused, with the fix, when this build only has the `keyring` crate's
/// in-memory mock for this system), `NoSecrets` when `NIGHTJAR_KEYRING=off`
/// and the keyring is chosen, or a [`FileSecrets`].
///
/// The section is read from the config file on first use, and again
/// whenever a (re)loaded config is handed to [`SecretStore::configure`].
pub struct ConfiguredSecrets {
    config_path: PathBuf,
    chosen: RwLock<Option<Arc<dyn SecretStore>>>,
}

impl std::fmt::Debug for ConfiguredSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredSecrets").field("config_path", &self.config_path).finish_non_exhaustive()
    }
}

impl ConfiguredSecrets {
    /// The store chosen by the config file at `config_path`.
    #[must_use]
    pub fn new(config_path: impl Into<PathBuf>) -> Self {
        Self { config_path: config_path.into(), chosen: RwLock::new(None) }
    }

    fn store(&self) -> Result<Arc<dyn SecretStore>> {
        if let Some(s) = self.chosen.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(s.clone());
        }
        let settings = SecretsSettings::load(&self.config_path)?;
        let store = choose(&settings, &self.config_path, keyring_off(), keyring_persistence())?;
        *self.chosen.write().unwrap_or_else(PoisonError::into_inner) = Some(store.clone());
        Ok(store)
    }
}

impl SecretStore for ConfiguredSecrets {
    fn get(&self, account: &str) -> Result<Option<String>> {
        self.store()?.get(account)
    }
    fn set(&self, account: &str, secret: &str) -> Result<()> {
        self.store()?.set(account, secret)
    }
    fn delete(&self, account: &str) -> Result<bool> {
        self.store()?.delete(account)
    }
    fn configure(&self, settings: &SecretsSettings, config_path: &Path) {
        // A store that cannot be chosen is asked for again (and its error
        // returned) at the next use.
        let store = choose(settings, config_path, keyring_off(), keyring_persistence()).ok();
        *self.chosen.write().unwrap_or_else(PoisonError::into_inner) = store;
    }
    fn check(&self) -> Result<()> {
        self.store()?.check()
    }
    fn file(&self) -> Option<PathBuf> {
        self.store().ok()?.file()
    }
}

fn keyring_off() -> bool {
    std::env::var("NIGHTJAR_KEYRING").is_ok_and(|v| v == "off")
}

/// The store `settings` (of the config file `config_path`) choose, given
/// whether the keyring is switched off and how long the `keyring` crate's
/// default store keeps secrets.
///
/// # Errors
/// [`ErrorKind::Secret`] when the keyring is chosen but would only keep
/// secrets in memory.
pub fn choose(settings: &SecretsSettings, config_path: &Path, keyring_off: bool, persistence: keyring::credential::CredentialPersistence) -> Result<Arc<dyn SecretStore>> {
    use keyring::credential::CredentialPersistence as P;
    match settings.store {
        SecretStoreKind::File => {
            let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
            Ok(Arc::new(FileSecrets::new(settings.file_path(config_path, home.as_deref()))))
        }
        SecretStoreKind::Keyring if keyring_off => Ok(Arc::new(NoSecrets)),
        SecretStoreKind::Keyring if matches!(persistence, P::EntryOnly | P::ProcessOnly) => Err(Error::new(
            ErrorKind::Secret,
            format!(
                "This build of Nightjar has no OS keyring for this system (only an in-memory store that would lose every password when it exits); set [secrets] store = \"file\" in {}.",
                config_path.display()
            ),
        )),
        SecretStoreKind::Keyring => Ok(Arc::new(Keyring::new(Some(config_path.to_path_buf())))),
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

/// The store the default config file (`NIGHTJAR_CONFIG`, else the OS
/// config folder's) chooses: see [`ConfiguredSecrets`].
#[must_use]
pub fn default_store() -> Box<dyn SecretStore> {
    Box::new(ConfiguredSecrets::new(crate::config::config_path(None)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use keyring::credential::CredentialPersistence;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn file_store_roundtrip_is_private_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/credentials.toml");
        let s = FileSecrets::new(&path);
        assert_eq!(s.get("job:a").unwrap(), None);
        assert!(!s.delete("job:a").unwrap());
        assert!(!path.exists(), "nothing is written until something is stored");
        s.set("job:a", "pa\"ss = 'x'\nword").unwrap();
        s.set("onedrive:refresh-token", "tok").unwrap();
        assert_eq!(s.get("job:a").unwrap().as_deref(), Some("pa\"ss = 'x'\nword"));
        assert_eq!(FileSecrets::new(&path).get("onedrive:refresh-token").unwrap().as_deref(), Some("tok"));
        s.set("job:a", "new").unwrap();
        assert_eq!(s.get("job:a").unwrap().as_deref(), Some("new"));
        assert!(s.delete("job:a").unwrap());
        assert_eq!(s.get("job:a").unwrap(), None);
        assert_eq!(s.get("onedrive:refresh-token").unwrap().as_deref(), Some("tok"));
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["credentials.toml", "credentials.toml.lock"]);
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("# Nightjar's secrets"));
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        s.check().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn file_store_refuses_a_file_others_can_read_and_hides_secrets_in_parse_errors() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        std::fs::write(&path, "\"job:a\" = \"pw\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = FileSecrets::new(&path);
        let e = s.get("job:a").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Secret);
        assert_eq!(e.message(), format!("The credentials file {p} can be read by other users, so Nightjar does not use it; run chmod 600 {p}.", p = path.display()));
        assert!(s.set("job:b", "x").is_err(), "not rewritten either");
        assert_eq!(mode(&path), 0o644);
        assert!(s.check().is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(s.get("job:a").unwrap().as_deref(), Some("pw"));
        std::fs::write(&path, "\"job:a\" = \"sup3rsecret\n").unwrap();
        let e = s.get("job:a").unwrap_err();
        assert!(e.message().contains("is not valid TOML (line 1)"), "{e}");
        assert!(!e.detailed().contains("sup3rsecret"), "{}", e.detailed());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The file's place is taken by a non-empty folder: the rename fails.
        let path = dir.path().join("credentials.toml");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("x"), "").unwrap();
        let s = FileSecrets::new(&path);
        let e = s.write(&BTreeMap::from([("a".to_string(), "b".to_string())])).unwrap_err();
        assert!(e.message().contains("could not be written"), "{e}");
        assert!(path.join("x").exists());
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn the_config_chooses_the_store_and_a_memory_only_keyring_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let keyring = SecretsSettings::default();
        let file = SecretsSettings { store: SecretStoreKind::File, file: None };
        let e = choose(&keyring, &config, false, CredentialPersistence::EntryOnly).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Secret);
        assert!(e.message().contains("in-memory store") && e.message().ends_with(&format!("set [secrets] store = \"file\" in {}.", config.display())), "{e}");
        assert!(choose(&keyring, &config, false, CredentialPersistence::ProcessOnly).is_err());
        assert!(choose(&keyring, &config, false, CredentialPersistence::UntilDelete).is_ok());
        // Switched off: nothing stored, nothing refused.
        assert!(choose(&keyring, &config, true, CredentialPersistence::EntryOnly).unwrap().set("a", "b").is_err());
        // The file store is used whatever the keyring.
        let f = choose(&file, &config, true, CredentialPersistence::EntryOnly).unwrap();
        f.set("job:x", "pw").unwrap();
        assert_eq!(FileSecrets::new(dir.path().join("credentials.toml")).get("job:x").unwrap().as_deref(), Some("pw"));

        // ConfiguredSecrets reads [secrets] from the file on first use ...
        std::fs::write(&config, "[secrets]\nstore = \"file\"\nfile = \"other.toml\"\n").unwrap();
        let c = ConfiguredSecrets::new(&config);
        c.set("job:y", "pw2").unwrap();
        assert_eq!(FileSecrets::new(dir.path().join("other.toml")).get("job:y").unwrap().as_deref(), Some("pw2"));
        // ... and follows a reloaded config.
        c.configure(&file, &config);
        assert_eq!(c.get("job:x").unwrap().as_deref(), Some("pw"));
        // A broken config file is an error, not a silent keyring.
        std::fs::write(&config, "[secrets\n").unwrap();
        assert_eq!(ConfiguredSecrets::new(&config).get("job:x").unwrap_err().kind(), ErrorKind::Config);
    }
}
