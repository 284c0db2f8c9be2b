//! Backup file names: `<job>_<YYYY-MM-DD_HH-mm-ss>[_<trigger>].<ext>[.age]` in
//! the job's time zone (`.age`: encrypted, see [`crate::crypt`]), plus the
//! sidecar manifest `<file>.json`.
//!
//! Scheduled runs carry no trigger suffix; every other trigger does. Parsing
//! is strict: only names this exact scheme produces for the given job are
//! recognised, so retention can never pick up someone else's file.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::{Compression, Format, Trigger};

/// Suffix of the sidecar manifest.
pub const MANIFEST_SUFFIX: &str = ".json";
/// Suffix of a file still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";
const STAMP: &str = "%Y-%m-%d_%H-%M-%S";
const STAMP_LEN: usize = 19;

/// A job name is used in file names, lock names and keyring entries, so it
/// is kept to a portable alphabet.
///
/// # Errors
/// A [`crate::ErrorKind::Config`] error whose message is a clause saying what
/// is allowed (the caller names the field) when `name` is not a valid job name.
pub fn validate_job_name(name: &str) -> crate::Result<()> {
    job_name_clause(name).map_err(crate::Error::config)
}

fn job_name_clause(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if name.is_empty() {
        return Err("a job name cannot be empty".into());
    }
    if name.len() > 64 {
        return Err(format!("the job name \"{name}\" is longer than 64 characters"));
    }
    if name.starts_with('.') || name.starts_with('-') || !name.chars().all(ok_char) {
        return Err(format!(
            "the job name \"{name}\" may only use letters, digits, '-', '_' and '.', and must not start with '.' or '-'"
        ));
    }
    Ok(())
}

/// The full extension for a format and compression, e.g. `sql.zst`.
#[must_use]
pub fn extension(format: Format, compression: Compression) -> String {
    format!("{}{}", format.extension(), compression.extension())
}

/// The file name for a backup of `job` taken at `at`, rendered in `tz`.
#[must_use]
pub fn backup_file_name(
    job: &str,
    at: DateTime<Utc>,
    tz: Tz,
    trigger: Trigger,
    format: Format,
    compression: Compression,
) -> String {
    let stamp = at.with_timezone(&tz).format(STAMP);
    let suffix = match trigger {
        Trigger::Scheduled => String::new(),
        t => format!("_{}", t.as_str()),
    };
    format!("{job}_{stamp}{suffix}.{}", extension(format, compression))
}

/// What a backup file name says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    /// The moment in the name, converted from the job's time zone to UTC.
    pub taken_at: DateTime<Utc>,
    /// The trigger (scheduled when there is no suffix).
    pub trigger: Trigger,
    /// The dump format from the extension.
    pub format: Format,
    /// The compression from the extension.
    pub compression: Compression,
    /// Encrypted with age (the name ends with `.age`).
    pub encrypted: bool,
}

/// Parses `name` as a backup of `job` written in time zone `tz`.
/// Returns `None` for anything else (other jobs, manifests, partial files,
/// foreign files).
#[must_use]
pub fn parse_backup_file_name(job: &str, name: &str, tz: Tz) -> Option<ParsedName> {
    let rest = name.strip_prefix(job)?.strip_prefix('_')?;
    if rest.len() < STAMP_LEN || !rest.is_char_boundary(STAMP_LEN) {
        return None;
    }
    let (stamp, rest) = rest.split_at(STAMP_LEN);
    let naive = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
    // An ambiguous local time (DST fall-back) maps to its earlier instant;
    // a non-existent one cannot have been produced by us.
    let taken_at = tz.from_local_datetime(&naive).earliest()?.with_timezone(&Utc);
    let (trigger, ext) = match rest.strip_prefix('_') {
        Some(r) => {
            let (t, ext) = r.split_once('.')?;
            let trigger: Trigger = t.parse().ok()?;
            if trigger == Trigger::Scheduled {
                return None;
            }
            (trigger, ext)
        }
        None => (Trigger::Scheduled, rest.strip_prefix('.')?),
    };
    let (ext, encrypted) = match ext.strip_suffix(crate::crypt::AGE_SUFFIX) {
        Some(e) => (e, true),
        None => (ext, false),
    };
    let (format, compression) = parse_extension(ext)?;
    Some(ParsedName {
        taken_at,
        trigger,
        format,
        compression,
        encrypted,
    })
}

/// Parses an extension such as `sql.zst` or `dump`.
#[must_use]
pub fn parse_extension(ext: &str) -> Option<(Format, Compression)> {
    for format in Format::ALL {
        for compression in Compression::ALL {
            if ext == extension(*format, *compression) {
                return Some((*format, *compression));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn name_round_trips_in_job_time_zone() {
        let tz: Tz = "Europe/Kyiv".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 22, 0, 5).unwrap();
        let n = backup_file_name("tgapp", at, tz, Trigger::Scheduled, Format::Plain, Compression::Zstd);
        assert_eq!(n, "tgapp_2026-03-02_00-00-05.sql.zst");
        let p = parse_backup_file_name("tgapp", &n, tz).unwrap();
        assert_eq!(p.taken_at, at);
        assert_eq!(p.trigger, Trigger::Scheduled);
        let m = backup_file_name("tg_app", at, tz, Trigger::PreRestore, Format::Custom, Compression::None);
        assert_eq!(m, "tg_app_2026-03-02_00-00-05_pre-restore.dump");
        let p = parse_backup_file_name("tg_app", &m, tz).unwrap();
        assert_eq!(
            (p.trigger, p.format, p.compression),
            (Trigger::PreRestore, Format::Custom, Compression::None)
        );
        assert!(!p.encrypted);
    }

    #[test]
    fn encrypted_names_are_recognised() {
        let tz = Tz::UTC;
        let p = parse_backup_file_name("tgapp", "tgapp_2026-03-02_00-00-05_manual.sql.zst.age", tz)
            .unwrap();
        assert_eq!(
            (p.trigger, p.format, p.compression, p.encrypted),
            (Trigger::Manual, Format::Plain, Compression::Zstd, true)
        );
        let p = parse_backup_file_name("tgapp", "tgapp_2026-03-02_00-00-05.dump.age", tz).unwrap();
        assert_eq!(
            (p.format, p.compression, p.encrypted),
            (Format::Custom, Compression::None, true)
        );
        for n in [
            "tgapp_2026-03-02_00-00-05.sql.zst.age.json",
            "tgapp_2026-03-02_00-00-05.sql.zst.age.partial",
            "tgapp_2026-03-02_00-00-05.age",
            "tgapp_2026-03-02_00-00-05.sql.age.age",
        ] {
            assert_eq!(parse_backup_file_name("tgapp", n, tz), None, "{n}");
        }
    }

    #[test]
    fn foreign_names_are_not_ours() {
        let tz = Tz::UTC;
        for n in [
            "tgapp_2026-03-02_00-00-05.sql.zst.json",
            "tgapp_2026-03-02_00-00-05.sql.zst.partial",
            "tgapp_2026-03-02_00-00-05_scheduled.sql",
            "tgapp_2026-03-02_00-00-05.txt",
            "tgapp2_2026-03-02_00-00-05.sql",
            "other_2026-03-02_00-00-05.sql",
            "tgapp_2026-13-02_00-00-05.sql",
            "tgapp_latest.sql",
            "notes.txt",
        ] {
            assert_eq!(parse_backup_file_name("tgapp", n, tz), None, "{n}");
        }
    }

    #[test]
    fn job_names() {
        assert!(validate_job_name("tg-app_1.prod").is_ok());
        for bad in ["", ".x", "-x", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(validate_job_name(bad).is_err(), "{bad}");
        }
    }
}
