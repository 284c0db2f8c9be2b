//! Where S3 credentials come from, in order: the `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) environment
//! variables, the secret store (`nightjar password set --s3`), then a
//! profile of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
//! else `~/.aws/credentials`; the profile is `[s3] profile`, else
//! `AWS_PROFILE`, else `default`). Never the config file.

use std::path::{Path, PathBuf};

use nightjar_core::config::S3Settings;
use nightjar_core::secrets::SecretStore;
use nightjar_core::{Error, ErrorKind, Result};

/// The secret store account of the access key id.
pub const ACCESS_KEY_ACCOUNT: &str = "s3:access-key-id";
/// The secret store account of the secret access key.
pub const SECRET_KEY_ACCOUNT: &str = "s3:secret-access-key";

/// A key pair and where it was found.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token (temporary credentials).
    pub session_token: Option<String>,
    /// Where they came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).field("source", &self.source).finish_non_exhaustive()
    }
}

/// The first credentials found (see the module documentation).
///
/// # Errors
/// None found, half a pair in the environment, a named profile missing,
/// or the secret store failing.
pub fn resolve(settings: &S3Settings, secrets: &dyn SecretStore) -> Result<Credentials> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from);
    resolve_with(settings, secrets, &|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()), home.as_deref())
}

fn auth(msg: String) -> Error {
    Error::new(ErrorKind::Auth, msg)
}

/// [`resolve`] with the environment and home folder given.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_with(settings: &S3Settings, secrets: &dyn SecretStore, env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Result<Credentials> {
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials { access_key_id: id, secret_access_key: secret, session_token: env("AWS_SESSION_TOKEN"), source: "the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables".into() });
        }
        (Some(_), None) => return Err(auth("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or unset it to use the keyring or ~/.aws/credentials.".into())),
        (None, Some(_)) => return Err(auth("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both, or unset it to use the keyring or ~/.aws/credentials.".into())),
        (None, None) => {}
    }
    if let (Some(id), Some(secret)) = (secrets.get(ACCESS_KEY_ACCOUNT)?, secrets.get(SECRET_KEY_ACCOUNT)?) {
        return Ok(Credentials { access_key_id: id, secret_access_key: secret, session_token: None, source: "the keyring (`nightjar password set --s3`)".into() });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| home.map(|h| h.join(".aws").join("credentials")));
    let named = settings.profile.clone();
    let profile = named.clone().or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
    if let Some(file) = &file
        && let Ok(text) = std::fs::read_to_string(file)
    {
        let section = profile_section(&text, &profile);
        match (section.get("aws_access_key_id"), section.get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                return Ok(Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: section.get("aws_session_token").cloned(),
                    source: format!("profile [{profile}] of {}", file.display()),
                });
            }
            _ if named.is_some() => {
                return Err(auth(format!("The profile [{profile}] that [s3] profile names has no aws_access_key_id and aws_secret_access_key in {}; add them there or fix [s3] profile.", file.display())));
            }
            _ => {}
        }
    }
    Err(auth(
        "No S3 credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `nightjar password set --s3 --access-key-id ID`, or add a [default] profile to ~/.aws/credentials.".into(),
    ))
}

/// The `key = value` pairs of `[profile]` in an INI credentials file.
fn profile_section(text: &str, profile: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            inside = name == profile || name.strip_prefix("profile ").is_some_and(|n| n.trim() == profile);
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightjar_core::secrets::MemorySecrets;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
    }

    #[test]
    fn environment_then_keyring_then_profile() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(dir.join(".aws/credentials"), "# mine\n[default]\naws_access_key_id = FILEID\naws_secret_access_key = filesecret\n\n[work]\naws_access_key_id=WORKID\naws_secret_access_key=worksecret\naws_session_token = tok\n").unwrap();
        let s = S3Settings::default();
        let store = MemorySecrets::default();

        let c = resolve_with(&s, &store, &env_of(&[("AWS_ACCESS_KEY_ID", "ENVID"), ("AWS_SECRET_ACCESS_KEY", "envsecret")]), Some(&dir)).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.secret_access_key.as_str()), ("ENVID", "envsecret"));
        assert!(c.source.contains("environment"));
        let e = resolve_with(&s, &store, &env_of(&[("AWS_ACCESS_KEY_ID", "ENVID")]), Some(&dir)).unwrap_err();
        assert!(e.message().contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");

        let c = resolve_with(&s, &store, &env_of(&[]), Some(&dir)).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token), ("FILEID", None));
        let c = resolve_with(&s, &store, &env_of(&[("AWS_PROFILE", "work")]), Some(&dir)).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("WORKID", Some("tok")));
        let named = S3Settings { profile: Some("nope".into()), ..S3Settings::default() };
        let e = resolve_with(&named, &store, &env_of(&[]), Some(&dir)).unwrap_err();
        assert!(e.message().contains("[nope]"), "{e}");

        store.set(ACCESS_KEY_ACCOUNT, "KEYID").unwrap();
        store.set(SECRET_KEY_ACCOUNT, "keysecret").unwrap();
        let c = resolve_with(&s, &store, &env_of(&[]), Some(&dir)).unwrap();
        assert_eq!(c.access_key_id, "KEYID");
        assert!(!format!("{c:?}").contains("keysecret"), "the secret is not printed");

        let e = resolve_with(&s, &MemorySecrets::default(), &env_of(&[]), Some(&dir.join("none"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(e.message().contains("nightjar password set --s3"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("nightjar-s3-creds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
