//! The retention planner: given a job's [`RetentionPolicy`], its existing
//! backups and the current time, decide which backups to keep and which to
//! delete, and say why for each one.
//!
//! It is pure on purpose (no I/O, no clock: `now` and the job's time zone are
//! arguments) so every rule can be tested exactly, and so the runner, the CLI
//! (`--dry-run`) and the UI preview all show the same plan. Listing files and
//! deleting them belongs to the caller, which only passes backups this job
//! created.
//!
//! Semantics (the rules form a union, as in restic/rustic `forget`):
//! - `keep_days`: every backup taken less than `N × 24 h` before `now`.
//! - `keep_last`: the newest `N` backups.
//! - `daily`/`weekly`/`monthly`/`yearly`: walking newest → oldest, the newest
//!   backup of each of the last `N` calendar days / ISO weeks / months / years
//!   that have a backup, computed in the job's time zone.
//! - The newest backup is always kept, whatever the policy.
//! - A backup dated after `now` (the clock went back) is always kept and takes
//!   no part in the other rules, so it cannot push the real newest one out.
//! - A policy whose rules are all 0 deletes nothing.
//! - `max_backups` is a cap on top of the union: of the backups the rules
//!   keep (all of them when the keep rules are off), only the newest `N`
//!   stay. The newest backup always counts among them.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Retention settings of a job; this exact struct is the `[job.retention]` TOML table.
///
/// Every field is optional in the file; 0 turns a rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep every backup taken within the last N days (`taken_at > now - N×24h`). Default 7.
    pub keep_days: u32,
    /// Keep the newest N backups. Default 0 (off).
    pub keep_last: u32,
    /// Keep the newest backup of each of the last N calendar days that have one.
    pub daily: u32,
    /// Keep the newest backup of each of the last N ISO weeks that have one.
    pub weekly: u32,
    /// Keep the newest backup of each of the last N calendar months that have one.
    pub monthly: u32,
    /// Keep the newest backup of each of the last N years that have one.
    pub yearly: u32,
    /// Never keep more than N backups, whatever the other rules say (the
    /// newest is always kept). Default 0 (no cap).
    pub max_backups: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self { keep_days: 7, keep_last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, max_backups: 0 }
    }
}

impl RetentionPolicy {
    /// True when every rule is 0: such a policy never deletes anything.
    #[must_use]
    pub fn keeps_everything(&self) -> bool {
        self.keep_rules_off() && self.max_backups == 0
    }

    /// True when every keep rule is 0 (the cap aside).
    fn keep_rules_off(&self) -> bool {
        let Self { keep_days, keep_last, daily, weekly, monthly, yearly, max_backups: _ } = *self;
        [keep_days, keep_last, daily, weekly, monthly, yearly].iter().all(|n| *n == 0)
    }

    /// A short summary such as "keep 7 days, last 3, daily 7", or
    /// "keep everything" when every rule is off.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.keeps_everything() {
            return "keep everything".into();
        }
        let mut parts = Vec::new();
        if self.keep_days > 0 {
            parts.push(days(self.keep_days));
        }
        for (label, n) in [
            ("last", self.keep_last),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if n > 0 {
                parts.push(format!("{label} {n}"));
            }
        }
        if self.max_backups > 0 {
            parts.push(format!("at most {}", self.max_backups));
        }
        format!("keep {}", parts.join(", "))
    }
}

/// "1 day", "7 days".
fn days(n: u32) -> String {
    if n == 1 { "1 day".into() } else { format!("{n} days") }
}

/// One existing backup of the job, as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The file name (unique within the job's destination).
    pub name: String,
    /// When the backup was taken.
    pub taken_at: DateTime<Utc>,
    /// Size in bytes, for [`RetentionPlan::bytes_freed`].
    pub size: u64,
}

/// The verdict on one [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The file name.
    pub name: String,
    /// When the backup was taken.
    pub taken_at: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
    /// True to keep the backup, false to delete it.
    pub keep: bool,
    /// Short human reasons: one per rule that keeps the backup ("within 7
    /// days", "last 3 (#2)", "daily #1", "newest backup", …), or why it goes.
    pub reasons: Vec<String>,
}

/// The result of [`plan`]: one [`Decision`] per candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPlan {
    /// Newest first; equal times are ordered by name, so the plan is stable.
    pub decisions: Vec<Decision>,
}

impl RetentionPlan {
    /// The backups to delete, newest first.
    pub fn to_delete(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| !d.keep)
    }

    /// The backups to keep, newest first.
    pub fn to_keep(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.keep)
    }

    /// Total size of the backups to delete.
    #[must_use]
    pub fn bytes_freed(&self) -> u64 {
        self.to_delete().fold(0u64, |sum, d| sum.saturating_add(d.size))
    }
}

/// A calendar period used by the tier rules.
#[derive(Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    /// The bucket `at` falls in; later periods have larger keys.
    fn key(self, at: DateTime<Tz>) -> (i32, u32) {
        match self {
            Period::Day => (at.year(), at.ordinal()),
            Period::Week => {
                let w = at.iso_week();
                (w.year(), w.week())
            }
            Period::Month => (at.year(), at.month()),
            Period::Year => (at.year(), 0),
        }
    }
}

/// The running state of one tier rule while walking newest → oldest.
struct Tier {
    label: &'static str,
    period: Period,
    limit: u32,
    filled: BTreeSet<(i32, u32)>,
}

impl Tier {
    fn new(label: &'static str, period: Period, limit: u32) -> Self {
        Self { label, period, limit, filled: BTreeSet::new() }
    }

    /// Offers the next (older) backup; returns its bucket number (1-based)
    /// when it is the newest of a bucket that still fits under the limit.
    fn offer(&mut self, at: DateTime<Tz>) -> Option<usize> {
        if self.filled.len() >= self.limit as usize {
            return None;
        }
        self.filled.insert(self.period.key(at)).then_some(self.filled.len())
    }
}

/// Decides, for each candidate, whether `policy` keeps it at time `now`;
/// calendar tiers are computed in `tz` (the job's time zone).
///
/// The input order does not matter. See the module docs for the rules.
#[must_use]
pub fn plan(policy: &RetentionPolicy, candidates: &[Candidate], now: DateTime<Utc>, tz: Tz) -> RetentionPlan {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| {
        b.taken_at.cmp(&a.taken_at).then_with(|| a.name.cmp(&b.name)).then_with(|| a.size.cmp(&b.size))
    });

    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); sorted.len()];
    if policy.keep_rules_off() {
        for r in &mut reasons {
            r.push("all rules off".into());
        }
    } else {
        // `None` when `now - N days` is before the earliest representable time:
        // then every backup is within the window.
        let cutoff = TimeDelta::try_days(i64::from(policy.keep_days)).and_then(|d| now.checked_sub_signed(d));
        let mut tiers = [
            Tier::new("daily", Period::Day, policy.daily),
            Tier::new("weekly", Period::Week, policy.weekly),
            Tier::new("monthly", Period::Month, policy.monthly),
            Tier::new("yearly", Period::Year, policy.yearly),
        ];
        // Position among the backups not dated in the future (1-based).
        let mut rank: u64 = 0;
        for (c, r) in sorted.iter().zip(&mut reasons) {
            if c.taken_at > now {
                r.push("dated in the future".into());
                continue;
            }
            rank += 1;
            if rank == 1 {
                r.push("newest backup".into());
            }
            if policy.keep_days > 0 && cutoff.is_none_or(|cut| c.taken_at > cut) {
                r.push(format!("within {}", days(policy.keep_days)));
            }
            if rank <= u64::from(policy.keep_last) {
                r.push(format!("last {} (#{rank})", policy.keep_last));
            }
            let local = c.taken_at.with_timezone(&tz);
            for tier in &mut tiers {
                if let Some(n) = tier.offer(local) {
                    r.push(format!("{} #{n}", tier.label));
                }
            }
        }
    }

    // The cap: the newest backup first, then the other keepers newest first.
    let mut capped = vec![false; sorted.len()];
    if policy.max_backups > 0 {
        let newest = sorted.iter().position(|c| c.taken_at <= now);
        let mut room = policy.max_backups as usize - usize::from(newest.is_some());
        for (i, r) in reasons.iter().enumerate() {
            if r.is_empty() || Some(i) == newest {
                continue;
            }
            if room > 0 {
                room -= 1;
            } else {
                capped[i] = true;
            }
        }
    }

    let decisions = sorted
        .into_iter()
        .zip(reasons)
        .zip(capped)
        .map(|((c, mut reasons), capped)| {
            if capped {
                let n = policy.max_backups;
                reasons = vec![format!("over the cap of {n} backup{} (max_backups)", if n == 1 { "" } else { "s" })];
                return Decision { name: c.name.clone(), taken_at: c.taken_at, size: c.size, keep: false, reasons };
            }
            let keep = !reasons.is_empty();
            if !keep {
                reasons.push(if policy.keep_days > 0 {
                    format!("older than {} and outside every rule", days(policy.keep_days))
                } else {
                    "outside every rule".into()
                });
            }
            Decision { name: c.name.clone(), taken_at: c.taken_at, size: c.size, keep, reasons }
        })
        .collect();
    RetentionPlan { decisions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};

    const KYIV: Tz = chrono_tz::Europe::Kyiv;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    /// `"2026-03-10 00:30"` in `tz`, as UTC.
    fn at(tz: Tz, local: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S"))
            .unwrap_or_else(|e| panic!("bad test time {local}: {e}"));
        tz.from_local_datetime(&naive).single().unwrap().with_timezone(&Utc)
    }

    /// Candidates named by their local time string, size 1 each.
    fn cands(tz: Tz, locals: &[&str]) -> Vec<Candidate> {
        locals.iter().map(|l| Candidate { name: (*l).to_string(), taken_at: at(tz, l), size: 1 }).collect()
    }

    fn kept(plan: &RetentionPlan) -> Vec<&str> {
        plan.to_keep().map(|d| d.name.as_str()).collect()
    }

    fn reasons<'a>(plan: &'a RetentionPlan, name: &str) -> &'a [String] {
        &plan.decisions.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("no {name}")).reasons
    }

    fn policy(keep_days: u32, keep_last: u32, daily: u32, weekly: u32, monthly: u32, yearly: u32) -> RetentionPolicy {
        RetentionPolicy { keep_days, keep_last, daily, weekly, monthly, yearly, max_backups: 0 }
    }

    #[test]
    fn max_backups_caps_the_union_and_always_keeps_the_newest() {
        let now = at(Tz::UTC, "2026-03-10 12:00");
        let backups = cands(Tz::UTC, &["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-08 00:00", "2026-03-07 00:00", "2026-03-06 00:00"]);
        // keep_days 30 would keep all five: the cap keeps the newest three.
        let p = RetentionPolicy { keep_days: 30, max_backups: 3, ..RetentionPolicy::default() };
        let got = plan(&p, &backups, now, Tz::UTC);
        assert_eq!(kept(&got), ["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-08 00:00"]);
        assert_eq!(reasons(&got, "2026-03-07 00:00"), ["over the cap of 3 backups (max_backups)"]);
        assert_eq!(p.describe(), "keep 30 days, at most 3");
        assert!(!p.keeps_everything());

        // The cap alone: the newest N, whatever their age.
        let p = RetentionPolicy { keep_days: 0, max_backups: 2, ..RetentionPolicy::default() };
        assert_eq!(kept(&plan(&p, &backups, now, Tz::UTC)), ["2026-03-10 00:00", "2026-03-09 00:00"]);
        assert!(!p.keeps_everything(), "a cap alone prunes");

        // A cap of 1 keeps only the newest, even with a backup dated in the future (the clock went back).
        let mut with_future = backups.clone();
        with_future.push(Candidate { name: "future".into(), taken_at: at(Tz::UTC, "2026-04-01 00:00"), size: 1 });
        let p = RetentionPolicy { keep_days: 30, max_backups: 1, ..RetentionPolicy::default() };
        let got = plan(&p, &with_future, now, Tz::UTC);
        assert_eq!(kept(&got), ["2026-03-10 00:00"], "the newest real backup is kept, never more than 1");

        // Rules that keep fewer than the cap are unchanged by it.
        let p = RetentionPolicy { keep_days: 0, keep_last: 2, max_backups: 4, ..RetentionPolicy::default() };
        assert_eq!(kept(&plan(&p, &backups, now, Tz::UTC)), ["2026-03-10 00:00", "2026-03-09 00:00"]);
    }

    /// Nightly backups at `hh:mm` local from `first` to `last` inclusive, named "YYYY-MM-DD".
    fn nightly(tz: Tz, first: NaiveDate, last: NaiveDate, hh: u32, mm: u32) -> Vec<Candidate> {
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| Candidate {
                name: d.format("%Y-%m-%d").to_string(),
                taken_at: tz
                    .from_local_datetime(&d.and_hms_opt(hh, mm, 0).unwrap())
                    .single()
                    .unwrap()
                    .with_timezone(&Utc),
                size: 100,
            })
            .collect()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Each rule alone, and the tiers across day/month/year boundaries in
    /// UTC and non-UTC zones. `now` is far enough ahead that keep_days (when 0) is moot.
    #[test]
    fn rules_table() {
        struct Case {
            what: &'static str,
            policy: RetentionPolicy,
            tz: Tz,
            now: &'static str,
            backups: &'static [&'static str],
            kept: &'static [&'static str],
        }
        let cases = [
            Case {
                what: "keep_days alone",
                policy: policy(2, 0, 0, 0, 0, 0),
                tz: Tz::UTC,
                now: "2026-03-10 12:00",
                backups: &[
                    "2026-03-10 00:00",
                    "2026-03-09 00:00",
                    "2026-03-08 12:01",
                    "2026-03-08 11:59",
                    "2026-03-01 00:00",
                ],
                kept: &["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-08 12:01"],
            },
            Case {
                what: "keep_last alone",
                policy: policy(0, 3, 0, 0, 0, 0),
                tz: Tz::UTC,
                now: "2026-03-10 12:00",
                backups: &[
                    "2026-03-10 00:00",
                    "2026-03-09 00:00",
                    "2026-03-08 00:00",
                    "2026-03-07 00:00",
                    "2026-01-01 00:00",
                ],
                kept: &["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-08 00:00"],
            },
            Case {
                what: "daily alone: newest per day, days without backups are skipped",
                policy: policy(0, 0, 3, 0, 0, 0),
                tz: Tz::UTC,
                now: "2026-03-20 00:00",
                backups: &[
                    "2026-03-10 18:00",
                    "2026-03-10 06:00",
                    "2026-03-09 23:59",
                    "2026-03-09 00:00",
                    "2026-03-05 12:00",
                    "2026-03-04 12:00",
                ],
                kept: &["2026-03-10 18:00", "2026-03-09 23:59", "2026-03-05 12:00"],
            },
            Case {
                what: "weekly alone: ISO weeks start on Monday",
                policy: policy(0, 0, 0, 2, 0, 0),
                tz: Tz::UTC,
                now: "2026-03-20 00:00",
                // 2026-03-09 is a Monday, 2026-03-08 a Sunday.
                backups: &[
                    "2026-03-10 00:00",
                    "2026-03-09 00:00",
                    "2026-03-08 00:00",
                    "2026-03-02 00:00",
                    "2026-03-01 00:00",
                ],
                kept: &["2026-03-10 00:00", "2026-03-08 00:00"],
            },
            Case {
                what: "monthly alone",
                policy: policy(0, 0, 0, 0, 2, 0),
                tz: Tz::UTC,
                now: "2026-04-20 00:00",
                backups: &[
                    "2026-03-31 23:00",
                    "2026-03-01 00:00",
                    "2026-02-28 00:00",
                    "2026-02-01 00:00",
                    "2026-01-31 00:00",
                ],
                kept: &["2026-03-31 23:00", "2026-02-28 00:00"],
            },
            Case {
                what: "yearly alone",
                policy: policy(0, 0, 0, 0, 0, 2),
                tz: Tz::UTC,
                now: "2026-04-20 00:00",
                backups: &[
                    "2026-03-01 00:00",
                    "2026-01-01 00:00",
                    "2025-12-31 23:59",
                    "2025-01-01 00:00",
                    "2024-12-31 00:00",
                ],
                kept: &["2026-03-01 00:00", "2025-12-31 23:59"],
            },
            Case {
                what: "weekly across the year boundary: Mon 2025-12-29 .. Sun 2026-01-04 is ISO 2026-W01",
                policy: policy(0, 0, 0, 2, 0, 0),
                tz: Tz::UTC,
                now: "2026-01-10 00:00",
                backups: &[
                    "2026-01-04 00:00",
                    "2026-01-01 00:00",
                    "2025-12-31 00:00",
                    "2025-12-29 00:00",
                    "2025-12-28 00:00",
                    "2025-12-27 00:00",
                ],
                kept: &["2026-01-04 00:00", "2025-12-28 00:00"],
            },
            Case {
                what: "monthly across the year boundary",
                policy: policy(0, 0, 0, 0, 3, 0),
                tz: Tz::UTC,
                now: "2026-01-10 00:00",
                backups: &[
                    "2026-01-02 00:00",
                    "2026-01-01 00:00",
                    "2025-12-31 00:00",
                    "2025-12-01 00:00",
                    "2025-11-30 00:00",
                    "2025-10-31 00:00",
                ],
                kept: &["2026-01-02 00:00", "2025-12-31 00:00", "2025-11-30 00:00"],
            },
            Case {
                what: "daily in Kyiv: 00:30 and 23:30 local are different local days but the same UTC day",
                policy: policy(0, 0, 2, 0, 0, 0),
                tz: KYIV,
                now: "2026-03-20 00:00",
                backups: &["2026-03-10 00:30", "2026-03-09 23:30", "2026-03-09 12:00"],
                kept: &["2026-03-10 00:30", "2026-03-09 23:30"],
            },
            Case {
                what: "yearly in Kyiv: New Year 00:30 local is still 2025 in UTC",
                policy: policy(0, 0, 0, 0, 0, 2),
                tz: KYIV,
                now: "2026-03-20 00:00",
                backups: &["2026-01-01 00:30", "2025-12-31 12:00", "2025-06-01 12:00"],
                kept: &["2026-01-01 00:30", "2025-12-31 12:00"],
            },
            Case {
                what: "monthly in New York: 23:30 on Jan 31 local is Feb 1 in UTC",
                policy: policy(0, 0, 0, 0, 2, 0),
                tz: NEW_YORK,
                now: "2026-03-20 00:00",
                backups: &["2026-02-01 10:00", "2026-01-31 23:30", "2026-01-31 08:00"],
                kept: &["2026-02-01 10:00", "2026-01-31 23:30"],
            },
            Case {
                what: "daily in New York: 23:30 local vs 00:30 local the next day",
                policy: policy(0, 0, 2, 0, 0, 0),
                tz: NEW_YORK,
                now: "2026-03-20 00:00",
                backups: &["2026-01-11 00:30", "2026-01-10 23:30", "2026-01-10 19:30"],
                kept: &["2026-01-11 00:30", "2026-01-10 23:30"],
            },
        ];
        for case in cases {
            let p = plan(&case.policy, &cands(case.tz, case.backups), at(case.tz, case.now), case.tz);
            assert_eq!(kept(&p), case.kept, "{}", case.what);
            assert_eq!(p.decisions.len(), case.backups.len(), "{}", case.what);
        }
    }

    /// The same backups bucketed in UTC give a different answer than in the
    /// job's zone: the zone really is used.
    #[test]
    fn tiers_use_the_job_time_zone_not_utc() {
        let backups = cands(NEW_YORK, &["2026-02-01 10:00", "2026-01-31 23:30", "2026-01-31 08:00"]);
        let now = at(NEW_YORK, "2026-03-20 00:00");
        let monthly = policy(0, 0, 0, 0, 2, 0);
        assert_eq!(kept(&plan(&monthly, &backups, now, NEW_YORK)), ["2026-02-01 10:00", "2026-01-31 23:30"]);
        assert_eq!(kept(&plan(&monthly, &backups, now, Tz::UTC)), ["2026-02-01 10:00", "2026-01-31 08:00"]);

        let backups = cands(KYIV, &["2026-03-10 00:30", "2026-03-09 23:30", "2026-03-09 12:00"]);
        let daily = policy(0, 0, 2, 0, 0, 0);
        // In UTC all three fall on 2026-03-09 and there is no second day.
        assert_eq!(kept(&plan(&daily, &backups, now, Tz::UTC)), ["2026-03-10 00:30"]);
    }

    #[test]
    fn reasons_name_every_rule_that_keeps() {
        let backups = cands(Tz::UTC, &["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-01 00:00", "2026-02-01 00:00"]);
        let p = plan(&policy(7, 2, 1, 0, 2, 0), &backups, at(Tz::UTC, "2026-03-10 01:00"), Tz::UTC);
        assert_eq!(
            reasons(&p, "2026-03-10 00:00"),
            ["newest backup", "within 7 days", "last 2 (#1)", "daily #1", "monthly #1"]
        );
        assert_eq!(reasons(&p, "2026-03-09 00:00"), ["within 7 days", "last 2 (#2)"]);
        assert_eq!(reasons(&p, "2026-03-01 00:00"), ["older than 7 days and outside every rule"]);
        assert_eq!(reasons(&p, "2026-02-01 00:00"), ["monthly #2"]);
        assert!(!p.decisions[2].keep);

        let p = plan(&policy(0, 1, 0, 0, 0, 0), &backups, at(Tz::UTC, "2026-03-10 01:00"), Tz::UTC);
        assert_eq!(reasons(&p, "2026-03-09 00:00"), ["outside every rule"]);
        let p = plan(&policy(1, 0, 0, 0, 0, 0), &backups, at(Tz::UTC, "2026-03-10 01:00"), Tz::UTC);
        assert_eq!(reasons(&p, "2026-03-10 00:00"), ["newest backup", "within 1 day"]);
        assert_eq!(reasons(&p, "2026-03-09 00:00"), ["older than 1 day and outside every rule"]);
    }

    /// keep_days keeps `taken_at > now - N×24h`: a backup exactly N days old goes.
    #[test]
    fn keep_days_boundary_is_exclusive() {
        let now = at(Tz::UTC, "2026-03-10 12:00:00");
        let backups = cands(
            Tz::UTC,
            &["2026-03-10 11:00:00", "2026-03-03 12:00:01", "2026-03-03 12:00:00", "2026-03-03 11:59:59"],
        );
        let p = plan(&RetentionPolicy::default(), &backups, now, Tz::UTC);
        assert_eq!(kept(&p), ["2026-03-10 11:00:00", "2026-03-03 12:00:01"]);
        assert_eq!(reasons(&p, "2026-03-03 12:00:00"), ["older than 7 days and outside every rule"]);
    }

    /// A huge keep_days must not overflow: everything is within it.
    #[test]
    fn keep_days_does_not_overflow() {
        let backups = cands(Tz::UTC, &["2026-03-10 00:00", "1970-01-01 00:00"]);
        let p = plan(&policy(u32::MAX, 0, 0, 0, 0, 0), &backups, at(Tz::UTC, "2026-03-10 12:00"), Tz::UTC);
        assert_eq!(p.to_delete().count(), 0);
    }

    /// The newest backup is never deleted, even when no rule keeps it.
    #[test]
    fn newest_backup_is_always_kept() {
        let now = at(Tz::UTC, "2026-03-20 00:00");
        let backups = cands(Tz::UTC, &["2026-03-08 00:00", "2026-03-10 00:00", "2026-03-09 00:00"]);
        let p = plan(&policy(1, 0, 0, 0, 0, 0), &backups, now, Tz::UTC);
        assert_eq!(kept(&p), ["2026-03-10 00:00"]);
        assert_eq!(reasons(&p, "2026-03-10 00:00"), ["newest backup"]);
        assert_eq!(p.to_delete().count(), 2);

        // A lone old backup: "newest backup" plus whatever rule also keeps it.
        let p = plan(&policy(0, 0, 1, 0, 0, 0), &backups[..1], now, Tz::UTC);
        assert_eq!(reasons(&p, "2026-03-08 00:00"), ["newest backup", "daily #1"]);
    }

    #[test]
    fn all_zero_policy_keeps_everything() {
        let zero = policy(0, 0, 0, 0, 0, 0);
        assert!(zero.keeps_everything());
        assert!(!RetentionPolicy::default().keeps_everything());
        assert!(!policy(0, 0, 0, 0, 0, 1).keeps_everything());
        let now = at(Tz::UTC, "2026-03-20 00:00");
        let backups = cands(Tz::UTC, &["2020-01-01 00:00", "2026-03-21 00:00", "2026-03-10 00:00"]);
        let p = plan(&zero, &backups, now, Tz::UTC);
        assert_eq!(p.to_keep().count(), 3);
        assert_eq!(p.bytes_freed(), 0);
        assert!(p.decisions.iter().all(|d| d.reasons == ["all rules off"]));
    }

    #[test]
    fn empty_input_gives_an_empty_plan() {
        let now = at(Tz::UTC, "2026-03-20 00:00");
        for pol in [RetentionPolicy::default(), policy(0, 0, 0, 0, 0, 0), policy(1, 2, 3, 4, 5, 6)] {
            let p = plan(&pol, &[], now, KYIV);
            assert_eq!(p, RetentionPlan::default());
            assert_eq!(p.bytes_freed(), 0);
            assert_eq!(p.to_delete().count() + p.to_keep().count(), 0);
        }
    }

    /// A backup dated after `now` (the clock went back) is kept and does not
    /// count for the other rules, so the real newest backup stays "newest".
    #[test]
    fn future_dated_backups_are_kept_and_do_not_crowd_out_the_newest() {
        let now = at(Tz::UTC, "2026-03-10 12:00");
        let backups = cands(Tz::UTC, &["2026-03-10 13:00", "2026-03-11 00:00", "2026-03-10 11:00", "2026-03-01 00:00"]);
        let p = plan(&policy(1, 1, 0, 0, 0, 0), &backups, now, Tz::UTC);
        assert_eq!(kept(&p), ["2026-03-11 00:00", "2026-03-10 13:00", "2026-03-10 11:00"]);
        assert_eq!(reasons(&p, "2026-03-11 00:00"), ["dated in the future"]);
        assert_eq!(reasons(&p, "2026-03-10 13:00"), ["dated in the future"]);
        assert_eq!(reasons(&p, "2026-03-10 11:00"), ["newest backup", "within 1 day", "last 1 (#1)"]);
        assert!(!p.decisions[3].keep);

        // Only future-dated backups: all kept.
        let p = plan(&policy(1, 0, 0, 0, 0, 0), &backups[..2], now, Tz::UTC);
        assert_eq!(p.to_keep().count(), 2);
    }

    /// Input order never changes the plan; equal times are ordered by name.
    #[test]
    fn input_order_does_not_matter_and_ties_are_stable() {
        let now = at(Tz::UTC, "2026-03-20 00:00");
        let mut backups =
            cands(Tz::UTC, &["2026-03-10 00:00", "2026-03-09 00:00", "2026-03-08 00:00", "2026-03-01 00:00"]);
        let t = backups[0].taken_at;
        backups.push(Candidate { name: "b-tie".into(), taken_at: t, size: 7 });
        backups.push(Candidate { name: "a-tie".into(), taken_at: t, size: 7 });
        let pol = policy(0, 2, 0, 0, 0, 0);
        let reference = plan(&pol, &backups, now, Tz::UTC);
        let names: Vec<&str> = reference.decisions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["2026-03-10 00:00", "a-tie", "b-tie", "2026-03-09 00:00", "2026-03-08 00:00", "2026-03-01 00:00"]
        );
        assert_eq!(kept(&reference), ["2026-03-10 00:00", "a-tie"]);

        // Every rotation and the reverse of every rotation.
        for k in 0..backups.len() {
            let mut v = backups.clone();
            v.rotate_left(k);
            assert_eq!(plan(&pol, &v, now, Tz::UTC), reference, "rotation {k}");
            v.reverse();
            assert_eq!(plan(&pol, &v, now, Tz::UTC), reference, "reversed rotation {k}");
        }
    }

    /// 30 nightly backups at 00:00 Europe/Kyiv (June 1..30, no DST change),
    /// default policy (keep 7 days), now = June 30 00:05 local.
    ///
    /// The window is `taken_at > now - 7×24h` = after June 23 00:05, so the
    /// backups of June 24..30 (7 of them) stay; June 23 00:00 is 7 days and
    /// 5 minutes old and goes.
    #[test]
    fn realistic_thirty_nightly_backups_default_policy() {
        let backups = nightly(KYIV, date(2026, 6, 1), date(2026, 6, 30), 0, 0);
        assert_eq!(backups.len(), 30);
        let now = at(KYIV, "2026-06-30 00:05");
        let p = plan(&RetentionPolicy::default(), &backups, now, KYIV);
        let expected: Vec<String> = (24..=30).rev().map(|d| format!("2026-06-{d}")).collect();
        assert_eq!(kept(&p), expected);
        assert_eq!(p.to_delete().count(), 23);
        assert_eq!(p.to_delete().next().unwrap().name, "2026-06-23");
        assert_eq!(p.bytes_freed(), 23 * 100);
        assert!(p.to_delete().all(|d| d.reasons == ["older than 7 days and outside every rule"]));
    }

    /// Two years of nightly backups (2024-06-01 .. 2026-05-31, 00:00 Kyiv)
    /// with tiers daily 7 / weekly 4 / monthly 12 / yearly 5 and keep_days off.
    #[test]
    fn two_years_of_nightly_backups_with_tiers() {
        let backups = nightly(KYIV, date(2024, 6, 1), date(2026, 5, 31), 0, 0);
        assert_eq!(backups.len(), 730);
        let now = at(KYIV, "2026-05-31 00:05");
        let p = plan(&policy(0, 0, 7, 4, 12, 5), &backups, now, KYIV);

        let count = |tier: &str| {
            p.decisions.iter().filter(|d| d.reasons.iter().any(|r| r.starts_with(&format!("{tier} #")))).count()
        };
        assert_eq!(count("daily"), 7);
        assert_eq!(count("weekly"), 4);
        assert_eq!(count("monthly"), 12);
        // Only three calendar years (2024, 2025, 2026) have backups.
        assert_eq!(count("yearly"), 3);

        // 2026-05-31 is a Sunday: daily May 25..31; weekly adds the Sundays
        // May 24, 17, 10; monthly adds the month ends Apr 2026 .. Jun 2025;
        // yearly adds 2024-12-31 (2025-12-31 is already a month end).
        let expected = [
            "2026-05-31",
            "2026-05-30",
            "2026-05-29",
            "2026-05-28",
            "2026-05-27",
            "2026-05-26",
            "2026-05-25",
            "2026-05-24",
            "2026-05-17",
            "2026-05-10",
            "2026-04-30",
            "2026-03-31",
            "2026-02-28",
            "2026-01-31",
            "2025-12-31",
            "2025-11-30",
            "2025-10-31",
            "2025-09-30",
            "2025-08-31",
            "2025-07-31",
            "2025-06-30",
            "2024-12-31",
        ];
        assert_eq!(kept(&p), expected);
        assert_eq!(reasons(&p, "2024-12-31"), ["yearly #3"]);
        assert_eq!(reasons(&p, "2025-12-31"), ["monthly #6", "yearly #2"]);
        assert_eq!(p.bytes_freed(), (730 - 22) * 100);
    }

    #[test]
    fn describe_is_short() {
        assert_eq!(RetentionPolicy::default().describe(), "keep 7 days");
        assert_eq!(policy(7, 3, 7, 0, 0, 0).describe(), "keep 7 days, last 3, daily 7");
        assert_eq!(policy(1, 0, 0, 4, 12, 5).describe(), "keep 1 day, weekly 4, monthly 12, yearly 5");
        assert_eq!(policy(0, 2, 0, 0, 0, 0).describe(), "keep last 2");
        assert_eq!(policy(0, 0, 0, 0, 0, 0).describe(), "keep everything");
    }

    /// The struct is the `[job.retention]` table: defaults fill gaps, typos are errors.
    #[test]
    fn toml_table() {
        let p: RetentionPolicy = toml::from_str("keep_days = 7\nkeep_last = 0\n").unwrap();
        assert_eq!(p, RetentionPolicy::default());
        let p: RetentionPolicy = toml::from_str("").unwrap();
        assert_eq!(p, RetentionPolicy::default());
        let p: RetentionPolicy = toml::from_str("daily = 7\nweekly = 4\nmonthly = 12\nyearly = 5\n").unwrap();
        assert_eq!(p, policy(7, 0, 7, 4, 12, 5));
        assert!(toml::from_str::<RetentionPolicy>("keep_dayz = 3").is_err());
        assert!(toml::from_str::<RetentionPolicy>("keep_days = -1").is_err());
    }
}
