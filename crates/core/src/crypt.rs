//! Encryption at rest with age (<https://age-encryption.org/v1>).
//!
//! A job with `[job.encryption]` stores `<name>.<ext>.age`: the compressed
//! dump encrypted to the job's X25519 recipients (public keys, `age1…`), or
//! to a passphrase kept in the keyring (age's scrypt recipient). age is a
//! public format with a stock CLI in every distribution, so a backup stays
//! restorable without Nightjar: `age -d -i key.txt FILE | zstd -dc | psql`.
//! It streams in authenticated 64 KiB chunks, so memory stays bounded and a
//! flipped byte or a cut file is refused when read.
//!
//! Identities (secret keys, `AGE-SECRET-KEY-1…`) are kept in the secret
//! store under `age:<job>:<n>` (n = 1, 2, …): every key a job ever had is
//! kept, so old backups stay readable after a new key. The passphrase of
//! passphrase mode is kept under `age-passphrase:<job>`.

use std::io::Read;
use std::path::Path;
use std::str::FromStr as _;

use age::secrecy::{ExposeSecret as _, SecretString};

use crate::secrets::SecretStore;
use crate::{Error, ErrorKind, Result};

/// What an encrypted backup's name ends with (after `<format><compression>`).
pub const AGE_SUFFIX: &str = ".age";
/// The first line of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
/// How many keyring slots `age:<job>:<n>` are looked at, at most.
const MAX_KEYS: u32 = 1000;

/// `[job.encryption]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionSpec {
    /// X25519 recipients (`age1…`), as written.
    pub recipients: Vec<String>,
    /// Encrypt to the passphrase kept in the keyring instead.
    pub passphrase: bool,
}

/// Why `[job.encryption]` is not usable: a clause naming what is allowed
/// (the caller names the file, job and field), and the field.
///
/// # Errors
/// `(field, clause)`.
pub fn validate(
    recipients: &[String],
    passphrase: bool,
    job: &str,
) -> std::result::Result<EncryptionSpec, (&'static str, String)> {
    for r in recipients {
        parse_recipient(r).map_err(|e| ("encryption.recipients", e))?;
    }
    if passphrase && !recipients.is_empty() {
        return Err((
            "encryption.passphrase",
            "age cannot mix a passphrase with recipients in one file; keep `recipients` or set passphrase = false".into(),
        ));
    }
    if !passphrase && recipients.is_empty() {
        return Err((
            "encryption.recipients",
            format!(
                "no recipient is listed; make a key with `nightjar key new --job {job}`, or set passphrase = true"
            ),
        ));
    }
    Ok(EncryptionSpec {
        recipients: recipients.iter().map(|r| r.trim().to_string()).collect(),
        passphrase,
    })
}

/// Parses an X25519 recipient; the error is a clause saying what one looks like.
///
/// # Errors
/// The clause.
pub fn parse_recipient(text: &str) -> std::result::Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|_| {
        format!(
            "\"{text}\" is not an age recipient; an age recipient is a public key of 62 characters starting with \"age1\" (see `nightjar key list`, or `age-keygen -y key.txt`)"
        )
    })
}

/// True when `head` starts like an age file.
#[must_use]
pub fn is_age(head: &[u8]) -> bool {
    head.starts_with(AGE_MAGIC)
}

/// Keyring account of a job's `n`-th identity.
#[must_use]
pub fn identity_account(job: &str, n: u32) -> String {
    format!("age:{job}:{n}")
}

/// Keyring account of a job's encryption passphrase.
#[must_use]
pub fn passphrase_account(job: &str) -> String {
    format!("age-passphrase:{job}")
}

/// A new X25519 identity: `(secret "AGE-SECRET-KEY-1…", public "age1…")`.
#[must_use]
pub fn generate_identity() -> (SecretString, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    (id.to_string(), public)
}

/// Parses the identities in an age identity file's text (`age-keygen`'s
/// format: comment lines, one `AGE-SECRET-KEY-1…` per line).
///
/// # Errors
/// [`ErrorKind::Config`] when a line is not an identity or there is none.
pub fn parse_identity_file(text: &str, what: &str) -> Result<Vec<age::x25519::Identity>> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| Error::config(format!("{what} is not an age identity file (a line is not an AGE-SECRET-KEY-1… key); pick the key file you saved.")))?;
        out.push(id);
    }
    if out.is_empty() {
        return Err(Error::config(format!(
            "{what} holds no age identity (AGE-SECRET-KEY-1…); pick the key file you saved."
        )));
    }
    Ok(out)
}

/// The identity file text for `secret` (as `age-keygen` writes it).
#[must_use]
pub fn identity_file_text(job: &str, secret: &SecretString, public: &str) -> String {
    format!(
        "# Nightjar backup key of job \"{job}\"; keep this file safe and private: it decrypts the job's backups.\n# public key: {public}\n{}\n",
        secret.expose_secret()
    )
}

/// The identities of `job` kept in `store`, oldest first, with their slot numbers.
///
/// # Errors
/// The store's error.
pub fn stored_identities(
    store: &dyn SecretStore,
    job: &str,
) -> Result<Vec<(u32, age::x25519::Identity)>> {
    let mut out = Vec::new();
    for n in 1..=MAX_KEYS {
        let Some(text) = store.get(&identity_account(job, n))? else {
            break;
        };
        if let Ok(id) = age::x25519::Identity::from_str(text.trim()) {
            out.push((n, id));
        }
    }
    Ok(out)
}

/// Keeps `identity` as the job's next key (an identity already kept is not
/// added twice); returns its slot number.
///
/// # Errors
/// The store's error.
pub fn store_identity(
    store: &dyn SecretStore,
    job: &str,
    identity: &age::x25519::Identity,
) -> Result<u32> {
    let public = identity.to_public().to_string();
    let kept = stored_identities(store, job)?;
    if let Some((n, _)) = kept
        .iter()
        .find(|(_, id)| id.to_public().to_string() == public)
    {
        return Ok(*n);
    }
    let mut n = 1;
    while store.get(&identity_account(job, n))?.is_some() {
        n += 1;
    }
    store.set(
        &identity_account(job, n),
        identity.to_string().expose_secret(),
    )?;
    Ok(n)
}

/// The cause attached to the error that refuses an encrypted backup no
/// given key opens ([`no_key_message`] is its sentence): callers that can
/// ask for a key file (the window) tell it from other refusals by this.
#[derive(Debug, Clone, Copy)]
pub struct NoKey;

impl std::fmt::Display for NoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no key given opens it")
    }
}

impl std::error::Error for NoKey {}

/// Whether `e` refuses an encrypted backup that no given key opens.
#[must_use]
pub fn is_no_key(e: &Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<NoKey>())
}

/// The minimum length of an encryption passphrase, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// A key made by [`new_job_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Its keyring slot (`age:<job>:<n>`).
    pub slot: u32,
    /// Its recipient (public key, `age1…`), now listed in the job's config.
    pub public: String,
}

/// Makes a new identity for `job`: writes the recovery file `recovery`
/// first (owner-only, never over an existing file; a key that cannot be
/// saved is not used), keeps the identity in `store`, then adds its
/// recipient to `[job.encryption]` of the config at `config_path` (edited
/// in place, comments kept). From the next run the job's backups are
/// encrypted to it; earlier keys stay kept, so older backups stay readable.
///
/// # Errors
/// [`ErrorKind::Config`]: no such job, the recovery file exists or cannot
/// be written, or the config cannot be changed; the store's error.
pub fn new_job_key(
    store: &dyn SecretStore,
    config_path: &Path,
    env: &crate::config::ParseEnv,
    job: &str,
    recovery: Option<&Path>,
) -> Result<NewKey> {
    crate::config::Config::load(config_path, env)?.job(job)?;
    if let Some(out) = recovery {
        refuse_existing(out)?;
    }
    let (secret, public) = generate_identity();
    let identity = age::x25519::Identity::from_str(secret.expose_secret())
        .map_err(|e| Error::other(format!("The new key is unusable ({e}).")))?;
    if let Some(out) = recovery {
        write_private(out, &identity_file_text(job, &secret, &public))?;
    }
    let slot = store_identity(store, job, &identity)?;
    crate::config_edit::save_encryption(config_path, env, job, Some(&public)).map_err(|e| {
        Error::config(format!(
            "The key is kept but the config was not changed: {}",
            e.message
        ))
    })?;
    Ok(NewKey { slot, public })
}

/// Encrypts `job`'s backups to `passphrase` from the next run: the
/// passphrase is kept in `store`, the config says `passphrase = true`.
///
/// # Errors
/// [`ErrorKind::Config`]: shorter than [`MIN_PASSPHRASE_CHARS`], no such
/// job, or the config cannot be changed; the store's error.
pub fn set_job_passphrase(
    store: &dyn SecretStore,
    config_path: &Path,
    env: &crate::config::ParseEnv,
    job: &str,
    passphrase: &str,
) -> Result<()> {
    crate::config::Config::load(config_path, env)?.job(job)?;
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::config(format!(
            "The passphrase is shorter than {MIN_PASSPHRASE_CHARS} characters; choose a longer one, nothing was changed."
        )));
    }
    store.set(&passphrase_account(job), passphrase)?;
    crate::config_edit::save_encryption(config_path, env, job, None).map_err(|e| {
        Error::config(format!(
            "The passphrase is kept but the config was not changed: {}",
            e.message
        ))
    })?;
    Ok(())
}

/// Refuses to write over `path`.
///
/// # Errors
/// [`ErrorKind::Config`] when it exists.
pub fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(Error::config(format!(
            "{} exists already; name a new file, nothing was written.",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `text` to the new owner-only file `path` (a key file), synced.
///
/// # Errors
/// [`ErrorKind::Config`] when it exists or cannot be written.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = crate::private::create_new_file(path).map_err(|e| {
        Error::config(format!(
            "{} could not be written ({e}); check the folder.",
            path.display()
        ))
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(path);
            Error::config(format!(
                "{} could not be written ({e}); check the disk.",
                path.display()
            ))
        })
}

/// The encryptor of a job's backups.
///
/// # Errors
/// [`ErrorKind::Secret`] when passphrase mode has no passphrase kept;
/// [`ErrorKind::Config`] for a recipient that does not parse.
pub fn encryptor(
    spec: &EncryptionSpec,
    store: &dyn SecretStore,
    job: &str,
) -> Result<age::Encryptor> {
    if spec.passphrase {
        let Some(p) = store.get(&passphrase_account(job))? else {
            return Err(Error::new(
                ErrorKind::Secret,
                format!(
                    "Job \"{job}\" encrypts with a passphrase but none is kept; set it with `nightjar key passphrase --job {job}`."
                ),
            ));
        };
        return Ok(age::Encryptor::with_user_passphrase(SecretString::from(p)));
    }
    let recipients = spec
        .recipients
        .iter()
        .map(|r| parse_recipient(r).map_err(Error::config))
        .collect::<Result<Vec<_>>>()?;
    age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient)).map_err(
        |e| {
            Error::config(format!(
                "Job \"{job}\"'s encryption cannot be set up ({e}); check [job.encryption]."
            ))
        },
    )
}

/// The keys that may open a backup: the job's identities kept in the
/// secret store, those of `--identity FILE`, and the job's passphrase.
/// `Debug` never shows a secret.
#[derive(Default)]
pub struct Keys {
    identities: Vec<age::x25519::Identity>,
    passphrase: Option<SecretString>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("identities", &self.identities.len())
            .field("passphrase", &self.passphrase.is_some())
            .finish()
    }
}

impl Keys {
    /// The keys of `jobs` kept in `store` (a store that cannot be reached
    /// is skipped, with a warning) and those of the identity file `file`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when `file` cannot be read or is not an identity file.
    pub fn load(store: &dyn SecretStore, jobs: &[&str], file: Option<&Path>) -> Result<Keys> {
        let mut keys = Keys::default();
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                Error::config(format!(
                    "The key file {} cannot be read ({e}); check the path given to --identity.",
                    f.display()
                ))
            })?;
            keys.identities.extend(parse_identity_file(
                &text,
                &format!("The key file {}", f.display()),
            )?);
        }
        for job in jobs {
            match stored_identities(store, job) {
                Ok(ids) => keys.identities.extend(ids.into_iter().map(|(_, id)| id)),
                Err(e) => tracing::warn!(job, "the job's keys could not be read: {}", e.detailed()),
            }
            if keys.passphrase.is_none()
                && let Ok(Some(p)) = store.get(&passphrase_account(job))
            {
                keys.passphrase = Some(SecretString::from(p));
            }
        }
        Ok(keys)
    }

    /// Keys from identities (tests, other front ends).
    #[must_use]
    pub fn from_identities(identities: Vec<age::x25519::Identity>) -> Keys {
        Keys {
            identities,
            passphrase: None,
        }
    }

    /// True when there is no key at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.passphrase.is_none()
    }

    /// Opens the age stream `r` (reads its header); the reader it returns
    /// fails on a chunk that does not authenticate and on a cut file.
    ///
    /// # Errors
    /// [`age::DecryptError::NoMatchingKeys`] when no key opens it, or a
    /// damaged header.
    pub fn decrypt<R: Read>(
        &self,
        r: R,
    ) -> std::result::Result<age::stream::StreamReader<R>, age::DecryptError> {
        let d = age::Decryptor::new(r)?;
        let scrypt = self
            .passphrase
            .as_ref()
            .map(|p| age::scrypt::Identity::new(p.clone()));
        if d.is_scrypt() {
            let Some(id) = &scrypt else {
                return Err(age::DecryptError::NoMatchingKeys);
            };
            return d.decrypt(std::iter::once(id as &dyn age::Identity));
        }
        d.decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
    }
}

/// What to do when no kept key opens `path`: one sentence naming the
/// recipients (from the manifest) and the command that imports a key.
#[must_use]
pub fn no_key_message(path: &Path, manifest: Option<&crate::manifest::Manifest>) -> String {
    let job = manifest.map_or("NAME", |m| m.job.as_str());
    match manifest.map(|m| &m.encryption) {
        Some(crate::manifest::ManifestEncryption::Age {
            passphrase: true, ..
        }) => format!(
            "{} is encrypted with job \"{job}\"'s passphrase, which is not kept here; set it with `nightjar key passphrase --job {job}`.",
            path.display()
        ),
        Some(crate::manifest::ManifestEncryption::Age { recipients, .. })
            if !recipients.is_empty() =>
        {
            format!(
                "{} is encrypted for {}; import its key with `nightjar key import --job {job} KEYFILE`, or pass --identity KEYFILE.",
                path.display(),
                recipients.join(", ")
            )
        }
        _ => format!(
            "{} is encrypted with age and no key kept here opens it; import its key with `nightjar key import --job {job} KEYFILE`, or pass --identity KEYFILE.",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn recipients_are_checked_and_explained() {
        let (_, public) = generate_identity();
        assert!(validate(std::slice::from_ref(&public), false, "tg").is_ok());
        let (field, msg) = validate(&["age1nope".into()], false, "tg").unwrap_err();
        assert_eq!(field, "encryption.recipients");
        assert!(
            msg.contains("not an age recipient") && msg.contains("\"age1\""),
            "{msg}"
        );
        let (field, msg) = validate(&[], false, "tg").unwrap_err();
        assert_eq!(field, "encryption.recipients");
        assert!(msg.contains("nightjar key new --job tg"), "{msg}");
        assert_eq!(
            validate(&[public], true, "tg").unwrap_err().0,
            "encryption.passphrase"
        );
        assert!(validate(&[], true, "tg").unwrap().passphrase);
    }

    #[test]
    fn identity_files_round_trip() {
        let (secret, public) = generate_identity();
        let text = identity_file_text("tg", &secret, &public);
        let ids = parse_identity_file(&text, "key.txt").unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].to_public().to_string(), public);
        assert!(parse_identity_file("# nothing\n", "k").is_err());
        assert!(parse_identity_file("hello\n", "k").is_err());
    }

    #[test]
    fn every_key_is_kept_and_found() {
        let store = crate::secrets::MemorySecrets::default();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        assert_eq!(store_identity(&store, "tg", &a).unwrap(), 1);
        assert_eq!(store_identity(&store, "tg", &b).unwrap(), 2);
        assert_eq!(store_identity(&store, "tg", &a).unwrap(), 1, "kept once");
        let kept = stored_identities(&store, "tg").unwrap();
        assert_eq!(kept.len(), 2);
        assert!(stored_identities(&store, "other").unwrap().is_empty());
        // Encrypt to b, decrypt with what is kept.
        let spec = EncryptionSpec {
            recipients: vec![b.to_public().to_string()],
            passphrase: false,
        };
        let mut w = encryptor(&spec, &store, "tg")
            .unwrap()
            .wrap_output(Vec::new())
            .unwrap();
        w.write_all(b"hello").unwrap();
        let out = w.finish().unwrap();
        assert!(is_age(&out));
        let d = age::Decryptor::new(&out[..]).unwrap();
        let mut r = d
            .decrypt(kept.iter().map(|(_, i)| i as &dyn age::Identity))
            .unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn passphrase_mode_needs_a_kept_passphrase() {
        let store = crate::secrets::MemorySecrets::default();
        let spec = EncryptionSpec {
            recipients: vec![],
            passphrase: true,
        };
        let Err(e) = encryptor(&spec, &store, "tg") else {
            panic!("no passphrase kept")
        };
        assert!(
            e.message().contains("nightjar key passphrase --job tg"),
            "{e}"
        );
        store
            .set(&passphrase_account("tg"), "correct horse")
            .unwrap();
        assert!(encryptor(&spec, &store, "tg").is_ok());
    }

    fn config_with_job(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("nightjar.toml");
        std::fs::write(
            &path,
            "# my jobs\n[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@localhost/tg\"\ndestination = \"/tmp/b\" # here\n",
        )
        .unwrap();
        path
    }

    fn env() -> crate::config::ParseEnv {
        crate::config::ParseEnv {
            home: None,
            system_tz: chrono_tz::Tz::UTC,
        }
    }

    #[test]
    fn a_new_key_is_saved_first_then_kept_then_listed_in_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with_job(dir.path());
        let store = crate::secrets::MemorySecrets::default();
        let out = dir.path().join("key.txt");
        let key = new_job_key(&store, &config, &env(), "tg", Some(&out)).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(&key.public) && text.contains("AGE-SECRET-KEY-1"));
        let kept = stored_identities(&store, "tg").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].1.to_public().to_string(), key.public);
        let cfg = std::fs::read_to_string(&config).unwrap();
        assert!(cfg.contains("# my jobs") && cfg.contains("# here"), "comments kept:\n{cfg}");
        let loaded = crate::config::Config::load(&config, &env()).unwrap();
        let spec = loaded.job("tg").unwrap().encryption.clone().unwrap();
        assert_eq!(spec.recipients, vec![key.public.clone()]);
        // A second key: both kept and both listed (old backups stay readable).
        let second = new_job_key(&store, &config, &env(), "tg", None).unwrap();
        assert_eq!(second.slot, 2);
        let loaded = crate::config::Config::load(&config, &env()).unwrap();
        assert_eq!(loaded.job("tg").unwrap().encryption.clone().unwrap().recipients, vec![key.public, second.public]);
    }

    #[test]
    fn a_recovery_file_that_exists_or_an_unknown_job_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with_job(dir.path());
        let before = std::fs::read_to_string(&config).unwrap();
        let store = crate::secrets::MemorySecrets::default();
        let out = dir.path().join("key.txt");
        std::fs::write(&out, "mine").unwrap();
        let e = new_job_key(&store, &config, &env(), "tg", Some(&out)).unwrap_err();
        assert!(e.message().contains("exists already"), "{e}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine", "never written over");
        assert!(new_job_key(&store, &config, &env(), "nope", None).is_err());
        assert!(stored_identities(&store, "tg").unwrap().is_empty(), "no key kept");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), before, "the config unchanged");
    }

    #[test]
    fn a_passphrase_is_long_enough_kept_and_switches_the_job_to_passphrase_mode() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with_job(dir.path());
        let store = crate::secrets::MemorySecrets::default();
        let e = set_job_passphrase(&store, &config, &env(), "tg", "short").unwrap_err();
        assert!(e.message().contains("12 characters"), "{e}");
        assert!(store.get(&passphrase_account("tg")).unwrap().is_none());
        set_job_passphrase(&store, &config, &env(), "tg", "correct horse battery").unwrap();
        assert_eq!(store.get(&passphrase_account("tg")).unwrap().as_deref(), Some("correct horse battery"));
        let loaded = crate::config::Config::load(&config, &env()).unwrap();
        assert!(loaded.job("tg").unwrap().encryption.clone().unwrap().passphrase);
        assert!(!std::fs::read_to_string(&config).unwrap().contains("correct horse"), "never in the config");
    }
}
