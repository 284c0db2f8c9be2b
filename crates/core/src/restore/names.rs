//! Names of the databases a restore creates on the server:
//! `<db>__nightjar_restore_<YYYYmmddHHMMSS>` (the temporary database a
//! restore loads), `<db>__before_restore_<stamp>` (the replaced original,
//! kept until the user drops it) and `<db>__nightjar_verify_<stamp>` (the
//! scratch database of a test restore).
//!
//! PostgreSQL silently truncates identifiers to 63 bytes, which would cut
//! off the marker and the stamp; the base name is shortened instead, on a
//! character boundary, so the marker and the stamp always survive.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes.
pub const MAX_IDENTIFIER: usize = 63;
/// Marker of a restore's temporary database.
pub const RESTORE_MARKER: &str = "__nightjar_restore_";
/// Marker of a replaced database kept after a restore.
pub const BEFORE_MARKER: &str = "__before_restore_";
/// Marker of a test restore's scratch database.
pub const VERIFY_MARKER: &str = "__nightjar_verify_";
const STAMP: &str = "%Y%m%d%H%M%S";
const STAMP_LEN: usize = 14;

/// The stamp for names: `YYYYmmddHHMMSS` in `tz`.
#[must_use]
pub fn stamp(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format(STAMP).to_string()
}

/// `<base><marker><stamp>`, with `base` shortened (on a character
/// boundary) so the whole fits in [`MAX_IDENTIFIER`] bytes.
#[must_use]
pub fn derived_name(base: &str, marker: &str, stamp: &str) -> String {
    let room = MAX_IDENTIFIER.saturating_sub(marker.len() + stamp.len());
    let mut end = base.len().min(room);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}{stamp}", &base[..end])
}

/// Which of Nightjar's databases a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeptKind {
    /// A database replaced by a restore, kept on purpose.
    BeforeRestore,
    /// A restore's temporary database left by a restore that was killed.
    RestoreLeftover,
    /// A test restore's scratch database left by a verify that was killed.
    VerifyLeftover,
}

impl KeptKind {
    /// The marker in the name.
    #[must_use]
    pub fn marker(self) -> &'static str {
        match self {
            KeptKind::BeforeRestore => BEFORE_MARKER,
            KeptKind::RestoreLeftover => RESTORE_MARKER,
            KeptKind::VerifyLeftover => VERIFY_MARKER,
        }
    }

    /// A short description.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            KeptKind::BeforeRestore => "kept before a restore",
            KeptKind::RestoreLeftover => "left by an interrupted restore",
            KeptKind::VerifyLeftover => "left by an interrupted test restore",
        }
    }
}

/// What a Nightjar-made database name says: kind, (possibly shortened)
/// base name, and the time in the stamp (in the job's time zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDbName {
    /// Which kind.
    pub kind: KeptKind,
    /// The base name (shortened when the original was long).
    pub base: String,
    /// The stamp as a local date and time.
    pub at: NaiveDateTime,
}

/// Parses a name made by [`derived_name`]; `None` for every other name.
#[must_use]
pub fn parse_db_name(name: &str) -> Option<ParsedDbName> {
    for kind in [KeptKind::BeforeRestore, KeptKind::RestoreLeftover, KeptKind::VerifyLeftover] {
        let Some(pos) = name.rfind(kind.marker()) else { continue };
        let stamp = &name[pos + kind.marker().len()..];
        if stamp.len() != STAMP_LEN || !stamp.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let at = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
        return Some(ParsedDbName { kind, base: name[..pos].to_string(), at });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn stamp_is_in_the_time_zone() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 22, 0, 5).unwrap();
        assert_eq!(stamp(at, "Europe/Kyiv".parse().unwrap()), "20260302000005");
        assert_eq!(stamp(at, Tz::UTC), "20260301220005");
    }

    #[test]
    fn short_names_are_kept_whole() {
        assert_eq!(derived_name("shop", RESTORE_MARKER, "20260302000005"), "shop__nightjar_restore_20260302000005");
        assert_eq!(derived_name("shop", BEFORE_MARKER, "20260302000005"), "shop__before_restore_20260302000005");
    }

    #[test]
    fn long_names_are_truncated_to_63_bytes_keeping_marker_and_stamp() {
        let stamp = "20260302000005";
        for marker in [RESTORE_MARKER, BEFORE_MARKER, VERIFY_MARKER] {
            let long = "a".repeat(63);
            let n = derived_name(&long, marker, stamp);
            assert_eq!(n.len(), MAX_IDENTIFIER, "{n}");
            assert!(n.ends_with(&format!("{marker}{stamp}")), "{n}");
            // Multi-byte characters are never cut in half.
            let cyr = "база_данных_магазина_".repeat(3);
            let n = derived_name(&cyr, marker, stamp);
            assert!(n.len() <= MAX_IDENTIFIER, "{n}");
            assert!(n.len() >= MAX_IDENTIFIER - 1, "{n}: at most one byte lost to a character boundary");
            assert!(n.ends_with(&format!("{marker}{stamp}")), "{n}");
            let p = parse_db_name(&n).unwrap();
            assert!(cyr.starts_with(&p.base));
        }
        // Exactly at the limit: nothing is cut.
        let room = MAX_IDENTIFIER - RESTORE_MARKER.len() - stamp.len();
        let exact = "b".repeat(room);
        assert_eq!(derived_name(&exact, RESTORE_MARKER, stamp), format!("{exact}{RESTORE_MARKER}{stamp}"));
    }

    #[test]
    fn parse_recognises_only_our_names() {
        let p = parse_db_name("shop__before_restore_20260302000005").unwrap();
        assert_eq!((p.kind, p.base.as_str()), (KeptKind::BeforeRestore, "shop"));
        assert_eq!(p.at.to_string(), "2026-03-02 00:00:05");
        assert_eq!(parse_db_name("a__b__nightjar_restore_20260302000005").unwrap().base, "a__b");
        assert_eq!(parse_db_name("x__nightjar_verify_20260302000005").unwrap().kind, KeptKind::VerifyLeftover);
        for other in ["shop", "shop__before_restore_", "shop__before_restore_2026030200000", "shop__before_restore_2026030200000x", "shop__before_restore_20261302000005", "shop_before_restore_20260302000005"] {
            assert_eq!(parse_db_name(other), None, "{other}");
        }
    }
}
