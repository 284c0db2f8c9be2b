//! Whether a backup file was made by this Nightjar, decided before it runs.
//!
//! Restoring a plain dump runs it as SQL with the rights of the role the
//! restore connects as, so a file from anywhere else (someone else's dump,
//! a backup changed in a shared folder) must not be restored by accident.
//! A file is ours when
//!
//! 1. the history has a successful backup with the file's sha256 (under
//!    this name, or a copy of it elsewhere): [`FileOrigin::InHistory`]; or
//! 2. its manifest is signed with this installation's key (see
//!    [`crate::manifest`]) and states the file's sha256 and size:
//!    [`FileOrigin::AuthenticManifest`].
//!
//! Anything else is [`FileOrigin::NotOurs`]: no manifest, a manifest of
//! another installation, or a file (and manifest) changed without the key.
//! It can still be restored, with an explicit acknowledgement
//! (`--trust-file`, the "I trust this file" box), because restoring someone
//! else's dump is a real need. Scheduled test restores never give one.

use serde::Serialize;

use crate::db::DbUrl;
use crate::history::{History, RunRecord};
use crate::inspect::Inspection;
use crate::manifest::{Authenticity, InstallKeys};
use crate::model::Engine;
use crate::{Error, ErrorKind, Result};

/// Which case applies to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileOrigin {
    /// The history recorded a backup with this sha256.
    InHistory,
    /// Its manifest is signed by this installation and matches the file.
    AuthenticManifest,
    /// Nothing vouches for it: restoring it needs an acknowledgement.
    NotOurs,
}

/// What vouches for a file (or that nothing does).
#[derive(Debug, Clone, Serialize)]
pub struct Trust {
    /// The case.
    pub origin: FileOrigin,
    /// One sentence for people saying which case applies and what it means.
    pub message: String,
    /// The file's sha256 when it was assessed.
    pub sha256: String,
    /// The history's backup run that made these bytes (in-history only).
    pub backup_run_id: Option<i64>,
    /// The role a restore connects as (named in the not-ours sentence).
    pub role: Option<String>,
}

impl Trust {
    /// True when restoring the file needs the user's acknowledgement.
    #[must_use]
    pub fn needs_acknowledgement(&self) -> bool {
        self.origin == FileOrigin::NotOurs
    }

    /// The refusal of a not-ours file run without the acknowledgement
    /// (`what`: "restore it", "test-restore it"). [`ErrorKind::Config`]:
    /// the run needs one more choice from the user.
    #[must_use]
    pub fn refusal(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::NeedsConfirmation,
            format!(
                "{} Nothing was changed; if you trust the file, {what} again with --trust-file (in the app: tick \"I trust this file\").",
                self.message
            ),
        )
    }
}

/// The role a restore into `db` connects as: the URL's user, else the
/// client's default (`PGUSER` for PostgreSQL, then the login name).
#[must_use]
pub fn connecting_role(db: &DbUrl) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    db.user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| if db.engine == Engine::Postgres { env("PGUSER") } else { None })
        .or_else(|| env("USER"))
        .or_else(|| env("USERNAME"))
        .unwrap_or_else(|| "the connecting user".into())
}

/// Decides the case of the file `insp` whose whole-file sha256 is
/// `sha256`. `shown` names it in the sentence (its path, or its
/// `onedrive:` address); `by_path` is the history's backup row under that
/// name, if any; `role` is who a restore would run it as.
///
/// # Errors
/// [`ErrorKind::History`] when the history cannot be read.
pub fn assess(
    insp: &Inspection,
    sha256: &str,
    shown: &str,
    by_path: Option<&RunRecord>,
    history: &History,
    keys: &InstallKeys,
    role: Option<&str>,
) -> Result<Trust> {
    let same = |s: Option<&String>| s.is_some_and(|s| s.eq_ignore_ascii_case(sha256));
    let found = |r: &RunRecord, copy: bool| Trust {
        origin: FileOrigin::InHistory,
        message: format!(
            "{shown} {} this Nightjar made (backup run {} of job \"{}\"); its sha256 matches the one the history recorded.",
            if copy { "is a copy of a backup" } else { "is a backup" },
            r.id,
            r.job
        ),
        sha256: sha256.to_string(),
        backup_run_id: Some(r.id),
        role: role.map(str::to_string),
    };
    if let Some(r) = by_path.filter(|r| same(r.sha256.as_ref())) {
        return Ok(found(r, false));
    }
    if let Some(r) = history.find_backup_by_sha256(sha256)? {
        return Ok(found(&r, true));
    }
    let reason = match (&insp.manifest, &insp.manifest_problem) {
        _ if by_path.is_some_and(|r| r.sha256.is_some()) => "it differs from the backup the history recorded under this name".to_string(),
        (Some(m), _) => match keys.authenticate(m) {
            Authenticity::Authentic if m.sha256.eq_ignore_ascii_case(sha256) && m.size == insp.size => {
                return Ok(Trust {
                    origin: FileOrigin::AuthenticManifest,
                    message: format!(
                        "{shown} was made by this Nightjar (job \"{}\"): its manifest is signed with this installation's key and states its sha256.",
                        m.job
                    ),
                    sha256: sha256.to_string(),
                    backup_run_id: None,
                    role: role.map(str::to_string),
                });
            }
            Authenticity::Authentic => "it does not match its signed manifest, so it was changed or damaged".into(),
            Authenticity::Unsigned => "its manifest carries no signature of this installation".into(),
            Authenticity::WrongTag => "its manifest's signature is not this installation's: another installation made it, or it was changed".into(),
        },
        (None, Some(p)) => format!("{p}, and the history does not know the file"),
        (None, None) => "there is no manifest beside it and the history does not know it".into(),
    };
    let runs_as = match role {
        Some(r) => format!("it runs as SQL with the rights of role \"{r}\""),
        None => "restoring it runs it as SQL with the rights of the role the restore connects as".into(),
    };
    Ok(Trust {
        origin: FileOrigin::NotOurs,
        message: format!("{shown} was not made by this Nightjar: {runs_as} ({reason})."),
        sha256: sha256.to_string(),
        backup_run_id: None,
        role: role.map(str::to_string),
    })
}
