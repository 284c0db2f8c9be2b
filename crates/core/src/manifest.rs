//! The sidecar manifest `<file>.json` written beside every backup.
//!
//! It lets anyone (Nightjar, a script, a person at 3 a.m.) check a backup
//! without the history: what it is, where it came from, and its sha256.
//! It also marks the file as created by this job, so retention never
//! touches anything else.
//!
//! ## Authenticity
//!
//! Anyone who can write into the backup folder (a shared OneDrive folder,
//! a mounted share) can change a backup and rewrite the sha256 and size in
//! its manifest. So the manifest also carries `hmac`: HMAC-SHA256 keyed
//! with this installation's manifest key ([`InstallKeys`]) over the
//! canonical encoding of five fields, in this order:
//!
//! ```text
//! field("nightjar-manifest-v1") field(sha256) field(size) field(job) field(engine) field(created)
//! field(x) = length of x in bytes, 8-byte big-endian, then the bytes of x
//!
//! sha256   the file's sha256, lower-case hex (64 characters)
//! size     the file's size in bytes, decimal ASCII without leading zeros
//! job      the job name, UTF-8 as in the manifest
//! engine   "postgres" or "mysql"
//! created  finished_at in UTC as RFC 3339 with nine fraction digits and "Z",
//!          e.g. 2026-03-02T00:00:01.123456789Z
//! ```
//!
//! `hmac` is the 32-byte tag in lower-case hex. The length prefixes make the
//! encoding unambiguous: no job name can move bytes from one field into
//! another. The tag is compared in constant time. A manifest without
//! `hmac`, or whose tag does not verify with this installation's key, was
//! not written by this Nightjar (or was changed since): restore and verify
//! then treat the file as not ours (see [`crate::trust`]).
//!
//! The key is 32 random bytes, created by the first backup, kept in the OS
//! keyring (account [`KEY_ACCOUNT`]). With `NIGHTJAR_KEYRING=off`, or when
//! the keyring cannot be reached, it is kept in the data folder instead
//! ([`KEY_FILE`], mode 0600 on Unix). Keys found in both places are
//! accepted when checking; the keyring's signs.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::model::{Compression, Engine, Format, Trigger};
use crate::paths::DataDir;
use crate::secrets::SecretStore;
use crate::{Error, ErrorKind, Result};

/// Value of the `app` field.
pub const APP: &str = "nightjar";
/// Current manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "nightjar".
    pub app: String,
    /// Manifest format version.
    pub manifest_version: u32,
    /// Nightjar's version that wrote it.
    pub app_version: String,
    /// The job (or ad-hoc name) that made it.
    pub job: String,
    /// The backup's file name.
    pub file: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// sha256 of the file, lower-case hex.
    pub sha256: String,
    /// Size of the uncompressed dump.
    pub dump_size: u64,
    /// Database engine.
    pub engine: Engine,
    /// Database name.
    pub database: String,
    /// Server host:port (no credentials).
    pub server: String,
    /// Server version, when known.
    pub server_version: Option<String>,
    /// Dump tool ("pg_dump").
    pub tool: String,
    /// Dump tool version.
    pub tool_version: String,
    /// Dump format.
    pub format: Format,
    /// Outer compression.
    pub compression: Compression,
    /// Compression level.
    pub compression_level: i32,
    /// `"none"`, or `{"kind": "age", "recipients": [...], "passphrase": false}`
    /// (public keys only, never a secret).
    pub encryption: ManifestEncryption,
    /// Why the backup was taken.
    pub trigger: Trigger,
    /// The job's time zone (the file name's stamp is in it).
    pub timezone: String,
    /// Tables/schemas selected; empty: the whole database.
    #[serde(default)]
    pub selection: crate::config::Selection,
    /// When the dump started.
    pub started_at: DateTime<Utc>,
    /// When the file was complete (the "created" of the authentication tag).
    pub finished_at: DateTime<Utc>,
    /// HMAC-SHA256 of (sha256, size, job, engine, created) with this
    /// installation's key, lower-case hex (see the module documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
}

/// How the stored file is encrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ManifestEncryption {
    /// Not encrypted (written as `"none"`).
    #[default]
    None,
    /// age, to these X25519 recipients (public keys) or to a passphrase.
    Age {
        /// The recipients' public keys (`age1…`); empty in passphrase mode.
        recipients: Vec<String>,
        /// Encrypted to a passphrase (age's scrypt recipient).
        passphrase: bool,
    },
}

impl ManifestEncryption {
    /// What a job's `[job.encryption]` writes.
    #[must_use]
    pub fn of(spec: Option<&crate::crypt::EncryptionSpec>) -> Self {
        spec.map_or(Self::None, |s| Self::Age {
            recipients: s.recipients.clone(),
            passphrase: s.passphrase,
        })
    }

    /// True when encrypted.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Self::None)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EncryptionWire {
    Text(String),
    Object {
        kind: String,
        #[serde(default)]
        recipients: Vec<String>,
        #[serde(default)]
        passphrase: bool,
    },
}

impl Serialize for ManifestEncryption {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::None => EncryptionWire::Text("none".into()),
            Self::Age {
                recipients,
                passphrase,
            } => EncryptionWire::Object {
                kind: "age".into(),
                recipients: recipients.clone(),
                passphrase: *passphrase,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ManifestEncryption {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match EncryptionWire::deserialize(d)? {
            EncryptionWire::Text(t) if t == "none" => Ok(Self::None),
            EncryptionWire::Object {
                kind,
                recipients,
                passphrase,
            } if kind == "age" => Ok(Self::Age {
                recipients,
                passphrase,
            }),
            _ => Err(serde::de::Error::custom("unknown encryption")),
        }
    }
}

impl Manifest {
    /// Parses manifest JSON; `None` when it is not a Nightjar manifest.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).ok()?;
        (m.app == APP).then_some(m)
    }

    /// Pretty JSON with a trailing newline.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }

    /// The canonical bytes the tag covers (see the module documentation).
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        let engine = match self.engine {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        };
        let sha256 = self.sha256.to_ascii_lowercase();
        let size = self.size.to_string();
        let created = self.finished_at.to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut out = Vec::new();
        for f in [b"nightjar-manifest-v1".as_slice(), sha256.as_bytes(), size.as_bytes(), self.job.as_bytes(), engine.as_bytes(), created.as_bytes()] {
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    /// Sets `hmac` with `key`.
    pub fn sign(&mut self, key: &ManifestKey) {
        self.hmac = Some(crate::pipeline::hex(&key.mac(&self.signed_bytes()).finalize().into_bytes()));
    }

    /// True when `hmac` is present and verifies with `key` (constant-time comparison).
    #[must_use]
    pub fn verify(&self, key: &ManifestKey) -> bool {
        let Some(tag) = self.hmac.as_deref().and_then(unhex) else { return false };
        key.mac(&self.signed_bytes()).verify_slice(&tag).is_ok()
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Keyring account of this installation's manifest key.
pub const KEY_ACCOUNT: &str = "install:manifest-key";
/// The key's file in the data folder when the keyring is off or unreachable.
pub const KEY_FILE: &str = "manifest.key";

/// A 32-byte manifest key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ManifestKey([u8; 32]);

impl std::fmt::Debug for ManifestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManifestKey(..)")
    }
}

impl ManifestKey {
    /// A new random key from the OS.
    ///
    /// # Errors
    /// [`ErrorKind::Other`] when the OS has no randomness to give.
    pub fn generate() -> Result<ManifestKey> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| Error::other(format!("No random key could be made for signing manifests ({e}).")))?;
        Ok(ManifestKey(k))
    }

    /// A key from its bytes (tests, other stores).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> ManifestKey {
        ManifestKey(bytes)
    }

    /// Parses the stored form (64 hex characters).
    #[must_use]
    pub fn from_hex(text: &str) -> Option<ManifestKey> {
        unhex(text)?.try_into().ok().map(ManifestKey)
    }

    /// The stored form (64 lower-case hex characters).
    #[must_use]
    pub fn to_hex(&self) -> String {
        crate::pipeline::hex(&self.0)
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(data);
        m
    }
}

/// Whether a manifest was written by this installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authenticity {
    /// Its tag verifies with one of this installation's keys.
    Authentic,
    /// It has no tag (another tool, an older Nightjar, or the tag was removed).
    Unsigned,
    /// Its tag does not verify: another installation's key, or the manifest changed.
    WrongTag,
}

/// This installation's manifest keys: the one that signs (when there is
/// one) and every key that is accepted when checking.
#[derive(Debug, Clone, Default)]
pub struct InstallKeys {
    signing: Option<ManifestKey>,
    accepted: Vec<ManifestKey>,
}

impl InstallKeys {
    /// Keys from the given values (tests).
    #[must_use]
    pub fn new(signing: Option<ManifestKey>, accepted: Vec<ManifestKey>) -> InstallKeys {
        let mut keys = InstallKeys { signing: None, accepted };
        if let Some(k) = signing {
            keys.accept(k.clone());
            keys.signing = Some(k);
        }
        keys
    }

    fn accept(&mut self, key: ManifestKey) {
        if !self.accepted.contains(&key) {
            self.accepted.push(key);
        }
    }

    /// The existing keys of the installation with data folder `data`: the
    /// keyring's and the key file's. Creates nothing (restore and verify).
    /// A keyring that cannot be reached is logged and skipped.
    #[must_use]
    pub fn load(store: &dyn SecretStore, data: &DataDir) -> InstallKeys {
        let mut keys = InstallKeys::default();
        match store.get(KEY_ACCOUNT) {
            Ok(Some(text)) => match ManifestKey::from_hex(&text) {
                Some(k) => keys.signing = Some(k),
                None => tracing::warn!("the manifest key in the keyring ({KEY_ACCOUNT}) is not 64 hex characters; it is ignored"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!("keyring: the manifest key could not be read: {}", e.detailed()),
        }
        if let Some(k) = read_key_file(&key_file(data)) {
            if keys.signing.is_none() {
                keys.signing = Some(k.clone());
            }
            keys.accept(k);
        }
        if let Some(k) = keys.signing.clone() {
            keys.accept(k);
        }
        keys
    }

    /// As [`InstallKeys::load`], and makes the key when there is none yet:
    /// into the keyring, else (keyring off or unreachable) into the key
    /// file. The backup runner calls it before writing a manifest.
    ///
    /// # Errors
    /// When no key exists and none can be stored.
    pub fn load_or_create(store: &dyn SecretStore, data: &DataDir) -> Result<InstallKeys> {
        let keys = InstallKeys::load(store, data);
        if keys.signing.is_some() {
            return Ok(keys);
        }
        let key = ManifestKey::generate()?;
        match store.set(KEY_ACCOUNT, &key.to_hex()) {
            Ok(()) => {
                // Another process may have stored its key at the same moment: use what is there.
                let stored = store.get(KEY_ACCOUNT).ok().flatten().and_then(|t| ManifestKey::from_hex(&t)).unwrap_or(key);
                tracing::info!("a new manifest key was stored in the keyring ({KEY_ACCOUNT})");
                Ok(InstallKeys::new(Some(stored), Vec::new()))
            }
            Err(e) => {
                tracing::debug!("the manifest key goes into the data folder: {}", e.detailed());
                let stored = write_key_file(&key_file(data), &key)?;
                Ok(InstallKeys::new(Some(stored), Vec::new()))
            }
        }
    }

    /// The key that signs new manifests.
    #[must_use]
    pub fn signing(&self) -> Option<&ManifestKey> {
        self.signing.as_ref()
    }

    /// Checks `manifest`'s tag against every accepted key.
    #[must_use]
    pub fn authenticate(&self, manifest: &Manifest) -> Authenticity {
        if manifest.hmac.is_none() {
            Authenticity::Unsigned
        } else if self.accepted.iter().any(|k| manifest.verify(k)) {
            Authenticity::Authentic
        } else {
            Authenticity::WrongTag
        }
    }
}

/// The key file of the data folder `data`.
#[must_use]
pub fn key_file(data: &DataDir) -> PathBuf {
    data.root().join(KEY_FILE)
}

fn read_key_file(path: &Path) -> Option<ManifestKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), "the manifest key file could not be read: {e}");
            return None;
        }
    };
    let key = ManifestKey::from_hex(&text);
    if key.is_none() {
        tracing::warn!(file = %path.display(), "the manifest key file does not hold 64 hex characters; it is ignored");
    }
    key
}

/// Creates the key file (0600 on Unix) with `key`; when another process
/// created it first, returns the key it holds.
fn write_key_file(path: &Path, key: &ManifestKey) -> Result<ManifestKey> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| {
        Error::new(
            ErrorKind::Other,
            format!("The manifest key could not be saved in {} ({e}); check the data folder's permissions.", path.display()),
        )
        .with_source(e)
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(mut f) => {
            f.write_all(format!("{}\n", key.to_hex()).as_bytes()).and_then(|()| f.sync_all()).map_err(fail)?;
            tracing::info!(file = %path.display(), "a new manifest key was saved in the data folder");
            Ok(key.clone())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path).ok_or_else(|| fail(e)),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{MemorySecrets, NoSecrets};

    fn sample() -> Manifest {
        let at = DateTime::parse_from_rfc3339("2026-03-02T00:00:01.5Z").unwrap().with_timezone(&Utc);
        Manifest {
            app: APP.into(),
            manifest_version: MANIFEST_VERSION,
            app_version: "0".into(),
            job: "app".into(),
            file: "app_2026-03-02_00-00-00.sql.zst".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            dump_size: 9999,
            engine: Engine::Postgres,
            database: "app".into(),
            server: "h:5432".into(),
            server_version: None,
            tool: "pg_dump".into(),
            tool_version: "17".into(),
            format: Format::Plain,
            compression: Compression::Zstd,
            compression_level: 3,
            encryption: ManifestEncryption::None,
            trigger: Trigger::Manual,
            timezone: "UTC".into(),
            selection: crate::config::Selection::default(),
            started_at: at,
            finished_at: at,
            hmac: None,
        }
    }

    #[test]
    fn the_tag_verifies_with_its_key_only_and_covers_the_fields() {
        let key = ManifestKey::from_bytes([7; 32]);
        let other = ManifestKey::from_bytes([8; 32]);
        let mut m = sample();
        assert!(!m.verify(&key), "an unsigned manifest is not authentic");
        m.sign(&key);
        assert!(m.verify(&key));
        assert!(!m.verify(&other), "another installation's key");
        // It survives the JSON round trip (nanosecond timestamps included).
        let back = Manifest::parse(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert!(back.verify(&key));
        // Rewriting any covered field without the key breaks it.
        for change in [
            (|m: &mut Manifest| m.sha256 = "cd".repeat(32)) as fn(&mut Manifest),
            |m| m.size += 1,
            |m| m.job = "other".into(),
            |m| m.engine = Engine::Mysql,
            |m| m.finished_at += chrono::Duration::nanoseconds(1),
        ] {
            let mut t = m.clone();
            change(&mut t);
            assert!(!t.verify(&key), "{t:?}");
        }
        // Fields outside the tag may change (they describe, they do not vouch).
        let mut t = m.clone();
        t.server = "elsewhere:5432".into();
        assert!(t.verify(&key));
        // The case of the hex does not matter; garbage does not verify.
        let mut t = m.clone();
        t.sha256 = t.sha256.to_uppercase();
        assert!(t.verify(&key));
        t.hmac = Some("zz".into());
        assert!(!t.verify(&key));
        let keys = InstallKeys::new(Some(key.clone()), Vec::new());
        assert_eq!(keys.authenticate(&m), Authenticity::Authentic);
        assert_eq!(keys.authenticate(&sample()), Authenticity::Unsigned);
        assert_eq!(InstallKeys::new(Some(other), Vec::new()).authenticate(&m), Authenticity::WrongTag);
    }

    #[test]
    fn the_encoding_is_length_prefixed_and_fixed() {
        let m = sample();
        let b = m.signed_bytes();
        let mut want = Vec::new();
        for f in ["nightjar-manifest-v1", &"ab".repeat(32), "1234", "app", "postgres", "2026-03-02T00:00:01.500000000Z"] {
            want.extend_from_slice(&(f.len() as u64).to_be_bytes());
            want.extend_from_slice(f.as_bytes());
        }
        assert_eq!(b, want);
        // Moving bytes between job and engine cannot keep the message.
        let mut n = m.clone();
        n.job = "apppostgres".into();
        assert_ne!(n.signed_bytes(), b);
        // A known tag, so the encoding cannot drift unnoticed.
        let mut s = m.clone();
        s.sign(&ManifestKey::from_bytes([0; 32]));
        let again = {
            let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(&[0; 32]).unwrap();
            mac.update(&want);
            crate::pipeline::hex(&mac.finalize().into_bytes())
        };
        assert_eq!(s.hmac.as_deref(), Some(again.as_str()));
    }

    #[test]
    fn the_key_lives_in_the_keyring_or_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        // Keyring available: the key goes there, nothing in the data folder.
        let store = MemorySecrets::default();
        assert!(InstallKeys::load(&store, &data).signing().is_none(), "load creates nothing");
        let k = InstallKeys::load_or_create(&store, &data).unwrap().signing().cloned().unwrap();
        assert_eq!(store.get(KEY_ACCOUNT).unwrap(), Some(k.to_hex()));
        assert!(!key_file(&data).exists());
        assert_eq!(InstallKeys::load_or_create(&store, &data).unwrap().signing(), Some(&k), "made once");
        assert_eq!(InstallKeys::load(&store, &data).signing(), Some(&k));

        // Keyring off: a 0600 file in the data folder.
        let off = DataDir::new(dir.path().join("off"));
        let f = InstallKeys::load_or_create(&NoSecrets, &off).unwrap().signing().cloned().unwrap();
        assert_ne!(f, k);
        let text = std::fs::read_to_string(key_file(&off)).unwrap();
        assert_eq!(text.trim(), f.to_hex());
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key_file(&off)).unwrap().permissions()) & 0o777, 0o600);
        assert_eq!(InstallKeys::load(&NoSecrets, &off).signing(), Some(&f));

        // Both: the keyring's signs, the file's is still accepted.
        std::fs::create_dir_all(data.root()).unwrap();
        std::fs::copy(key_file(&off), key_file(&data)).unwrap();
        let both = InstallKeys::load(&store, &data);
        assert_eq!(both.signing(), Some(&k));
        let mut m = sample();
        m.sign(&f);
        assert_eq!(both.authenticate(&m), Authenticity::Authentic);
        assert!(format!("{both:?}").contains("ManifestKey(..)"), "Debug shows no key bytes");
    }
}
