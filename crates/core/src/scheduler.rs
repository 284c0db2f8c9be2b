//! Deciding when jobs run: scheduled slots, catch-up after a sleep, a crash
//! or time off, retries with backoff, and staleness.
//!
//! Everything here is pure: `now` and the facts from the history are
//! arguments, so the rules are tested without clocks or timers. The last
//! due slot is always derived from the schedule and the persisted history,
//! never from a timer that may have died with the process.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::{CatchUpPolicy, Job};
use crate::model::Trigger;

/// A slot is "on time" when seen within this long after it was due; later
/// than that, it counts as missed (the process was asleep or stopped).
pub const ON_TIME: Duration = Duration::minutes(5);

/// Slack added to one schedule interval before a job counts as stale.
#[must_use]
pub fn stale_margin(interval: Duration) -> Duration {
    // A tenth of the interval, at least 30 minutes, at most 6 hours.
    (interval / 10).clamp(Duration::minutes(30), Duration::hours(6))
}

/// What the history says about a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobFacts {
    /// Start of the newest successful backup.
    pub last_success: Option<DateTime<Utc>>,
    /// Whether the job has ever run (any outcome).
    pub ever_ran: bool,
}

/// When `job` becomes stale, given its newest good backup.
/// `None` when the job has no schedule and no explicit `stale_after`.
#[must_use]
pub fn stale_deadline(job: &Job, last_success: Option<DateTime<Utc>>, first_seen: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let base = last_success.unwrap_or(first_seen);
    if let Some(d) = job.stale_after {
        return Some(base + d);
    }
    let schedule = job.schedule.as_ref()?;
    let next = schedule.next_runs(job.timezone, base, 2);
    let (first, second) = (*next.first()?, *next.get(1)?);
    Some(first + stale_margin(second - first))
}

/// True when the newest good backup is older than the deadline.
#[must_use]
pub fn is_stale(job: &Job, facts: &JobFacts, first_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    stale_deadline(job, facts.last_success, first_seen).is_some_and(|d| now > d)
}

/// A run the scheduler wants to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    /// The job.
    pub job: String,
    /// Scheduled (on time) or catch-up (missed slot).
    pub trigger: Trigger,
    /// The slot it is for.
    pub slot: DateTime<Utc>,
}

/// Tracks, per job, the latest slot already handled, and turns the passing
/// of time into [`Due`] runs. Many missed slots collapse into one run.
#[derive(Debug, Default, Clone)]
pub struct Planner {
    handled: HashMap<String, DateTime<Utc>>,
    first_seen: HashMap<String, DateTime<Utc>>,
}

impl Planner {
    /// A planner that has handled nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// When the planner first saw `job` (start of staleness for a job that
    /// never succeeded).
    #[must_use]
    pub fn first_seen(&self, job: &str) -> Option<DateTime<Utc>> {
        self.first_seen.get(job).copied()
    }

    /// Re-evaluates every job from the history, as at start-up or after a
    /// wake (a wall-clock jump): a job whose last due slot passed without a
    /// successful run since is due once, per its catch-up policy.
    pub fn on_start(&mut self, jobs: &[Job], facts: &dyn Fn(&str) -> JobFacts, now: DateTime<Utc>) -> Vec<Due> {
        let mut due = Vec::new();
        for job in jobs.iter().filter(|j| j.enabled) {
            let Some(schedule) = &job.schedule else { continue };
            self.first_seen.entry(job.name.clone()).or_insert(now);
            let Some(slot) = schedule.previous_run(job.timezone, now) else { continue };
            let f = facts(&job.name);
            self.handled.insert(job.name.clone(), slot);
            // A brand-new job has missed nothing; it starts at its next slot.
            if !f.ever_ran || f.last_success.is_some_and(|s| s >= slot) {
                continue;
            }
            let trigger = if now - slot <= ON_TIME { Trigger::Scheduled } else { Trigger::CatchUp };
            if trigger == Trigger::CatchUp && !self.catch_up_allowed(job, &f, now) {
                continue;
            }
            due.push(Due { job: job.name.clone(), trigger, slot });
        }
        due
    }

    fn catch_up_allowed(&self, job: &Job, f: &JobFacts, now: DateTime<Utc>) -> bool {
        match job.catch_up {
            CatchUpPolicy::Once => true,
            CatchUpPolicy::Skip => false,
            CatchUpPolicy::IfStale => is_stale(job, f, self.first_seen(&job.name).unwrap_or(now), now),
        }
    }

    /// A regular tick: slots that came due since the last tick. A slot seen
    /// late (the tick itself was delayed) is handled as a catch-up.
    pub fn on_tick(&mut self, jobs: &[Job], facts: &dyn Fn(&str) -> JobFacts, now: DateTime<Utc>) -> Vec<Due> {
        let mut due = Vec::new();
        let new_jobs: Vec<Job> =
            jobs.iter().filter(|j| j.enabled && j.schedule.is_some() && !self.handled.contains_key(&j.name)).cloned().collect();
        if !new_jobs.is_empty() {
            due.extend(self.on_start(&new_jobs, facts, now));
        }
        for job in jobs.iter().filter(|j| j.enabled) {
            let Some(schedule) = &job.schedule else { continue };
            let Some(slot) = schedule.previous_run(job.timezone, now) else { continue };
            let Some(prev) = self.handled.get(&job.name).copied() else { continue };
            if slot <= prev {
                continue;
            }
            self.handled.insert(job.name.clone(), slot);
            if now - slot <= ON_TIME {
                due.push(Due { job: job.name.clone(), trigger: Trigger::Scheduled, slot });
            } else {
                let f = facts(&job.name);
                if f.last_success.is_some_and(|s| s >= slot) {
                    continue;
                }
                if self.catch_up_allowed(job, &f, now) {
                    due.push(Due { job: job.name.clone(), trigger: Trigger::CatchUp, slot });
                }
            }
        }
        due
    }

    /// The earliest next slot of any enabled job, to sleep until.
    #[must_use]
    pub fn next_wake(&self, jobs: &[Job], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        jobs.iter()
            .filter(|j| j.enabled)
            .filter_map(|j| j.schedule.as_ref().and_then(|s| s.next_runs(j.timezone, now, 1).first().copied()))
            .min()
    }

    /// Forgets jobs that are no longer in the config.
    pub fn retain(&mut self, jobs: &[Job]) {
        self.handled.retain(|k, _| jobs.iter().any(|j| &j.name == k));
        self.first_seen.retain(|k, _| jobs.iter().any(|j| &j.name == k));
    }
}

/// Delay before retry number `attempt` (1-based): 1, 4, 16 minutes, then
/// capped at one hour.
#[must_use]
pub fn retry_backoff(attempt: u32) -> Duration {
    let minutes = 4i64.saturating_pow(attempt.saturating_sub(1)).min(60);
    Duration::minutes(minutes)
}

/// Detects sleeps and clock changes: the wall clock moved differently from
/// the monotonic clock between two observations.
#[must_use]
pub fn clock_jumped(wall_before: DateTime<Utc>, wall_now: DateTime<Utc>, monotonic_elapsed: std::time::Duration) -> bool {
    let wall = (wall_now - wall_before).num_milliseconds();
    let mono = i64::try_from(monotonic_elapsed.as_millis()).unwrap_or(i64::MAX);
    (wall - mono).abs() > 60_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ParseEnv};
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn job(extra: &str) -> Job {
        let schedule = if extra.contains("schedule") { "" } else { "schedule = \"daily 00:00\"\n" };
        let text = format!(
            "[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\ntimezone = \"Europe/Kyiv\"\n{schedule}{extra}"
        );
        Config::parse(&text, None, &ParseEnv { home: None, system_tz: Tz::UTC }).unwrap().jobs.remove(0)
    }

    fn kyiv(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Kyiv.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn facts(last_success: Option<DateTime<Utc>>) -> impl Fn(&str) -> JobFacts {
        move |_| JobFacts { last_success, ever_ran: true }
    }

    #[test]
    fn three_missed_days_give_exactly_one_catch_up() {
        let j = job("");
        let mut p = Planner::new();
        let last = kyiv(2026, 11, 17, 0, 0);
        let now = kyiv(2026, 11, 20, 9, 30);
        let due = p.on_start(std::slice::from_ref(&j), &facts(Some(last)), now);
        assert_eq!(due, vec![Due { job: "tg".into(), trigger: Trigger::CatchUp, slot: kyiv(2026, 11, 20, 0, 0) }]);
        // Later ticks the same day add nothing; the next midnight is on time.
        assert!(p.on_tick(std::slice::from_ref(&j), &facts(Some(now)), kyiv(2026, 11, 20, 18, 0)).is_empty());
        let due = p.on_tick(std::slice::from_ref(&j), &facts(Some(now)), kyiv(2026, 11, 21, 0, 0) + Duration::seconds(3));
        assert_eq!(due[0].trigger, Trigger::Scheduled);
    }

    #[test]
    fn nothing_missed_when_the_last_slot_succeeded_or_the_job_is_new() {
        let j = job("");
        let now = kyiv(2026, 11, 20, 9, 30);
        assert!(Planner::new().on_start(std::slice::from_ref(&j), &facts(Some(kyiv(2026, 11, 20, 0, 0))), now).is_empty());
        let never = |_: &str| JobFacts { last_success: None, ever_ran: false };
        assert!(Planner::new().on_start(std::slice::from_ref(&j), &never, now).is_empty());
    }

    #[test]
    fn crashed_run_counts_as_missed() {
        // The run at 00:00 died (history: interrupted, no success since).
        let j = job("");
        let now = kyiv(2026, 11, 20, 0, 20);
        let due = Planner::new().on_start(std::slice::from_ref(&j), &facts(Some(kyiv(2026, 11, 19, 0, 0))), now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].trigger, Trigger::CatchUp);
    }

    #[test]
    fn a_sleep_is_caught_up_once_on_the_next_tick() {
        let j = job("");
        let mut p = Planner::new();
        let t0 = kyiv(2026, 11, 19, 23, 0);
        assert!(p.on_start(std::slice::from_ref(&j), &facts(Some(kyiv(2026, 11, 19, 0, 0))), t0).is_empty());
        // The laptop slept from 23:05 to 08:00: the 00:00 slot was missed.
        let wake = kyiv(2026, 11, 20, 8, 0);
        assert!(clock_jumped(kyiv(2026, 11, 19, 23, 5), wake, std::time::Duration::from_secs(20)));
        let due = p.on_tick(std::slice::from_ref(&j), &facts(Some(kyiv(2026, 11, 19, 0, 0))), wake);
        assert_eq!(due, vec![Due { job: "tg".into(), trigger: Trigger::CatchUp, slot: kyiv(2026, 11, 20, 0, 0) }]);
        assert!(p.on_tick(std::slice::from_ref(&j), &facts(None), wake + Duration::minutes(1)).is_empty());
    }

    #[test]
    fn skip_and_if_stale_policies() {
        let now = kyiv(2026, 11, 20, 9, 30);
        let skip = job("catch_up = \"skip\"");
        assert!(Planner::new().on_start(std::slice::from_ref(&skip), &facts(Some(kyiv(2026, 11, 17, 0, 0))), now).is_empty());
        let if_stale = job("catch_up = \"if-stale\"");
        // Last success yesterday 00:00: the next slot (today 00:00) + margin has passed → stale.
        assert_eq!(Planner::new().on_start(std::slice::from_ref(&if_stale), &facts(Some(kyiv(2026, 11, 19, 0, 0))), now).len(), 1);
        // With a generous explicit deadline it is not stale → no catch-up.
        let lenient = job("catch_up = \"if-stale\"\nstale_after = \"3d\"");
        assert!(Planner::new().on_start(std::slice::from_ref(&lenient), &facts(Some(kyiv(2026, 11, 19, 0, 0))), now).is_empty());
    }

    #[test]
    fn staleness_deadlines() {
        let j = job("");
        let last = kyiv(2026, 11, 19, 0, 0);
        // Daily: next slot 20th 00:00, margin = 2.4 h.
        let d = stale_deadline(&j, Some(last), last).unwrap();
        assert_eq!(d, kyiv(2026, 11, 20, 2, 24));
        assert!(!is_stale(&j, &JobFacts { last_success: Some(last), ever_ran: true }, last, kyiv(2026, 11, 20, 2, 0)));
        assert!(is_stale(&j, &JobFacts { last_success: Some(last), ever_ran: true }, last, kyiv(2026, 11, 20, 3, 0)));
        let hourly = job("schedule = \"every 1h\"");
        assert_eq!(stale_deadline(&hourly, Some(last), last).unwrap(), last + Duration::minutes(90));
        let explicit = job("stale_after = \"26h\"");
        assert_eq!(stale_deadline(&explicit, Some(last), last).unwrap(), last + Duration::hours(26));
        assert_eq!(stale_margin(Duration::hours(1)), Duration::minutes(30));
        assert_eq!(stale_margin(Duration::days(7)), Duration::hours(6));
    }

    #[test]
    fn dst_spring_forward_and_fall_back_run_once() {
        // Europe/Kyiv: 2026-03-29 03:00 → 04:00; 2026-10-25 04:00 → 03:00.
        let j = job("schedule = \"daily 03:30\"");
        let s = j.schedule.clone().unwrap();
        let runs = s.next_runs(j.timezone, kyiv(2026, 3, 28, 12, 0), 2);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1] - runs[0], Duration::hours(23) + Duration::minutes(30), "{runs:?}");
        let runs = s.next_runs(j.timezone, kyiv(2026, 10, 24, 12, 0), 2);
        assert_eq!(runs[1] - runs[0], Duration::hours(25), "{runs:?}");
        // America/New_York: 2026-03-08 02:00 → 03:00; a 02:30 job runs once that day.
        let text = "[[job]]\nname = \"ny\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\ntimezone = \"America/New_York\"\nschedule = \"daily 02:30\"\n";
        let ny = Config::parse(text, None, &ParseEnv { home: None, system_tz: Tz::UTC }).unwrap().jobs.remove(0);
        let start = chrono_tz::America::New_York.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap().with_timezone(&Utc);
        let runs = ny.schedule.clone().unwrap().next_runs(ny.timezone, start, 3);
        let days: Vec<u32> = runs.iter().map(|r| chrono::Datelike::day(&r.with_timezone(&chrono_tz::America::New_York))).collect();
        assert_eq!(days, vec![8, 9, 10], "{runs:?}");
        let fall = chrono_tz::America::New_York.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap().with_timezone(&Utc);
        let hourly = "[[job]]\nname = \"ny\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\ntimezone = \"America/New_York\"\nschedule = \"30 1 * * *\"\n";
        let ny1 = Config::parse(hourly, None, &ParseEnv { home: None, system_tz: Tz::UTC }).unwrap().jobs.remove(0);
        let runs = ny1.schedule.clone().unwrap().next_runs(ny1.timezone, fall, 2);
        // 01:30 happens twice on Nov 1st; the job runs once, then on Nov 2nd.
        assert_eq!(runs[1] - runs[0], Duration::hours(25), "{runs:?}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(retry_backoff(1), Duration::minutes(1));
        assert_eq!(retry_backoff(2), Duration::minutes(4));
        assert_eq!(retry_backoff(3), Duration::minutes(16));
        assert_eq!(retry_backoff(9), Duration::minutes(60));
    }

    #[test]
    fn clock_jump_detection() {
        let t = kyiv(2026, 1, 1, 0, 0);
        assert!(!clock_jumped(t, t + Duration::seconds(20), std::time::Duration::from_secs(20)));
        assert!(clock_jumped(t, t + Duration::hours(2), std::time::Duration::from_secs(20)));
        assert!(clock_jumped(t, t - Duration::hours(1), std::time::Duration::from_secs(20)));
    }
}
