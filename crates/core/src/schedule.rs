//! Job schedules: a cron expression or a preset, in the job's IANA time zone.
//!
//! Presets are sugar over cron so there is one evaluator:
//! - `daily HH:MM`          → `M H * * *`
//! - `every Nh`             → `0 */N * * *` (N divides 24, counted from midnight)
//! - `weekly DAY HH:MM`     → `M H * * DAY`
//!
//! Evaluation is pure: `now` is always an argument. Cron matching happens on
//! local wall-clock time (croner), so a daily 00:00 job runs at midnight in
//! the job's zone whatever the UTC offset is that day.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A parsed schedule.
#[derive(Clone)]
pub struct Schedule {
    source: String,
    cron: Cron,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule").field("source", &self.source).field("cron", &self.cron.pattern.to_string()).finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// croner keeps the sub-second part of its start time in the slots it
/// returns; slots are whole seconds, so drop it first.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    chrono::DurationRound::duration_trunc(t, chrono::Duration::seconds(1)).unwrap_or(t)
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn parse_hh_mm(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() <= 5).then_some((h, m))
}

impl Schedule {
    /// Parses a cron expression (5 fields, or 6 with seconds) or a preset.
    ///
    /// # Errors
    /// A [`crate::ErrorKind::Config`] error whose message is a clause saying
    /// what is allowed (the caller names the field) when `text` is neither.
    pub fn parse(text: &str) -> crate::Result<Schedule> {
        Self::parse_clause(text).map_err(crate::Error::config)
    }

    fn parse_clause(text: &str) -> Result<Schedule, String> {
        let t = text.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let preset_err = || {
            format!(
                "\"{text}\" is not a valid schedule; use a cron expression such as \"0 0 * * *\", or \"daily 00:00\", \"every 6h\", \"weekly sun 03:00\""
            )
        };
        let cron_text = match lower.first().map(String::as_str) {
            Some("daily") => {
                let [_, hm] = lower.as_slice() else { return Err(preset_err()) };
                let (h, m) = parse_hh_mm(hm).ok_or_else(preset_err)?;
                format!("{m} {h} * * *")
            }
            Some("every") => {
                let [_, n] = lower.as_slice() else { return Err(preset_err()) };
                let n: u32 = n.strip_suffix('h').and_then(|n| n.parse().ok()).ok_or_else(preset_err)?;
                if n == 0 || 24 % n != 0 {
                    return Err(format!("\"{text}\": the hours in \"every Nh\" must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)"));
                }
                if n == 24 { "0 0 * * *".to_string() } else { format!("0 */{n} * * *") }
            }
            Some("weekly") => {
                let [_, day, hm] = lower.as_slice() else { return Err(preset_err()) };
                let d = DAYS.iter().position(|d| day.starts_with(d) && day.len() >= 3).ok_or_else(preset_err)?;
                let (h, m) = parse_hh_mm(hm).ok_or_else(preset_err)?;
                format!("{m} {h} * * {d}")
            }
            Some(_) if words.len() == 5 || words.len() == 6 => t.to_string(),
            _ => return Err(preset_err()),
        };
        let cron: Cron = cron_text.parse().map_err(|e| format!("\"{text}\" is not a valid cron expression ({e}); {}", preset_err().split("; ").nth(1).unwrap_or_default()))?;
        Ok(Schedule { source: t.to_string(), cron })
    }

    /// The text the user wrote.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The cron pattern this schedule evaluates.
    #[must_use]
    pub fn cron_pattern(&self) -> String {
        self.cron.pattern.to_string()
    }

    /// The next `n` run times strictly after `after`, evaluated in `tz`.
    #[must_use]
    pub fn next_runs(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cur = whole_seconds(after).with_timezone(&tz);
        while out.len() < n {
            match self.cron.find_next_occurrence(&cur, false) {
                Ok(next) => {
                    out.push(next.with_timezone(&Utc));
                    cur = next;
                }
                Err(_) => break,
            }
        }
        out
    }

    /// The most recent slot at or before `at`, evaluated in `tz`.
    #[must_use]
    pub fn previous_run(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&whole_seconds(at).with_timezone(&tz), true).ok().map(|d| d.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn presets_become_cron() {
        for (text, pattern) in [
            ("daily 00:00", "0 0 * * *"),
            ("daily 3:05", "5 3 * * *"),
            ("every 6h", "0 */6 * * *"),
            ("every 24h", "0 0 * * *"),
            ("weekly sun 03:00", "0 3 * * 0"),
            ("Weekly Friday 23:30", "30 23 * * 5"),
        ] {
            assert_eq!(Schedule::parse(text).unwrap().cron_pattern(), pattern, "{text}");
        }
    }

    #[test]
    fn bad_schedules_say_what_is_allowed() {
        assert!(Schedule::parse("every 5h").unwrap_err().message().contains("divide 24"));
        for bad in ["", "daily", "daily 25:00", "every 0", "weekly xyz 03:00", "0 0 * *", "61 * * * *", "nonsense"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config);
            assert!(e.message().contains("daily 00:00"), "{bad}: {e}");
        }
    }

    #[test]
    fn next_runs_follow_the_job_time_zone() {
        let s = Schedule::parse("0 0 * * *").unwrap();
        let tz: Tz = "Europe/Kyiv".parse().unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let runs = s.next_runs(tz, after, 3);
        assert_eq!(runs, vec![
            Utc.with_ymd_and_hms(2026, 11, 21, 22, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 22, 22, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap(),
        ]);
        assert_eq!(s.previous_run(tz, after), Some(Utc.with_ymd_and_hms(2026, 11, 20, 22, 0, 0).unwrap()));
        // Sub-second parts of "now" never leak into slots (a slot must compare equal across ticks).
        let m = Schedule::parse("* * * * *").unwrap();
        let a = Utc.with_ymd_and_hms(2026, 11, 22, 0, 19, 52).unwrap();
        let slot = Utc.with_ymd_and_hms(2026, 11, 22, 0, 19, 0).unwrap();
        assert_eq!(m.previous_run(tz, a + chrono::Duration::milliseconds(123)), Some(slot));
        assert_eq!(m.previous_run(tz, a + chrono::Duration::milliseconds(987)), Some(slot));
        assert_eq!(m.next_runs(tz, a + chrono::Duration::milliseconds(5), 1), vec![slot + chrono::Duration::minutes(1)]);
    }
}
