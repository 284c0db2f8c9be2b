//! What the window's charts draw, per job: the last runs as bars (size,
//! duration, status) and a strip of the last days, each day judged by the
//! schedule's slots in the job's zone (good, failed, missed, paused).
//!
//! A slot is the span from one scheduled time to the next; the backups that
//! started in it (scheduled, catch-up, retried or by hand) are its runs.
//! Many missed slots collapse into one catch-up run, which lands in the
//! newest of them, so the older ones stay missed, as they were. Slots
//! before the job's first backup are not counted (a new job has missed
//! nothing), nor is a slot whose time came less than the scheduler's
//! on-time margin ago. Nightjar does not record when schedules were paused:
//! a slot with no run after the job's newest run counts as paused while the
//! schedules are paused or the job is off now.
//!
//! "Now" comes from a [`Clock`], so the rules are tested on a fixed time.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::Result;
use crate::clock::Clock;
use crate::config::Job;
use crate::history::{History, RunFilter, RunKind, RunRecord};
use crate::model::{RunStatus, Trigger};

/// Bars per job.
pub const RUNS: usize = 30;
/// Days in the strip, today included.
pub const DAYS: u32 = 30;
/// At most this many slots are judged per day (a cron line firing every
/// second would otherwise mean 86 400): the day's first ones.
pub const SLOTS_PER_DAY: usize = 1440;

/// One bar: a backup run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunBar {
    /// The history row.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How it ended (`running` while it runs).
    pub status: RunStatus,
    /// Why it ran.
    pub trigger: Trigger,
    /// Bytes written (a failed run may have none).
    pub size: Option<u64>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// The error sentence of a failed run.
    pub error: Option<String>,
}

impl From<&RunRecord> for RunBar {
    fn from(r: &RunRecord) -> Self {
        Self { id: r.id, started_at: r.started_at, status: r.status, trigger: r.trigger, size: r.size, duration_ms: r.duration_ms, error: r.error.clone() }
    }
}

/// How a day (or a slot) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DayState {
    /// Every counted slot has a good backup.
    Good,
    /// A slot's runs all failed.
    Failed,
    /// A slot passed with no run at all.
    Missed,
    /// Slots passed with no run while schedules are paused or the job is off.
    Paused,
    /// A backup is running now.
    Running,
    /// Nothing to judge: no slot this day (weekly schedules, before the
    /// job's first backup, a day still to come).
    None,
}

/// One day of the strip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCell {
    /// The day in the job's zone.
    pub day: NaiveDate,
    /// The worst of its slots: failed, missed, paused, running, good (or none).
    pub state: DayState,
    /// Slots judged this day.
    pub slots: u32,
    /// Slots with a good backup.
    pub good: u32,
    /// Slots whose runs all failed.
    pub failed: u32,
    /// Slots with no run.
    pub missed: u32,
    /// Slots with no run while paused.
    pub paused: u32,
    /// Backup runs started this day, whatever their slot.
    pub runs: u32,
}

/// A job's chart data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobChart {
    /// The job.
    pub job: String,
    /// Its schedule as written, when it has one.
    pub schedule: Option<String>,
    /// The IANA zone the days are cut in.
    pub timezone: String,
    /// The last [`RUNS`] backup runs, oldest first.
    pub runs: Vec<RunBar>,
    /// The last [`DAYS`] days, oldest first, today last.
    pub days: Vec<DayCell>,
}

/// Midnight of `day` in `tz` (or the first hour that exists when a clock
/// change skips midnight).
fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .find_map(|h| tz.from_local_datetime(&day.and_hms_opt(h, 0, 0)?).earliest())
        .map_or_else(|| day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(), |d| d.with_timezone(&Utc))
}

/// The chart of `job` at the clock's now, from `history`; `paused` says
/// whether schedules are paused now.
///
/// # Errors
/// [`crate::ErrorKind::History`] if the history cannot be read.
pub fn job_chart(history: &History, job: &Job, paused: bool, clock: &dyn Clock) -> Result<JobChart> {
    let now = clock.now();
    let tz = job.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let first_day = today - Duration::days(i64::from(DAYS) - 1);
    let since = day_start(tz, first_day);
    let backups = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>, limit: Option<usize>| {
        history.runs(&RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), since, until, limit, ..RunFilter::default() })
    };
    let mut last = backups(None, None, Some(RUNS))?;
    last.reverse();
    let mut window = backups(Some(since), None, None)?;
    window.reverse();
    // The job's first backup: before the window when any run is older.
    let ran_before = !backups(None, Some(since), Some(1))?.is_empty();
    let first_run = if ran_before { Some(since) } else { window.first().map(|r| r.started_at) };
    let idle = paused || !job.enabled;
    let days = strip(job, &window, first_run, idle, first_day, today, now);
    Ok(JobChart {
        job: job.name.clone(),
        schedule: job.schedule.as_ref().map(|s| s.as_str().to_string()),
        timezone: tz.name().to_string(),
        runs: last.iter().map(RunBar::from).collect(),
        days,
    })
}

/// The runs of `window` (oldest first) that started in `[from, to)`.
fn between(window: &[RunRecord], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&RunRecord> {
    let (a, b) = (window.partition_point(|r| r.started_at < from), window.partition_point(|r| r.started_at < to));
    window[a..b.max(a)].iter().collect()
}

/// How one slot went, from the runs that started in it.
fn slot_state(runs: &[&RunRecord]) -> Option<DayState> {
    if runs.iter().any(|r| r.status == RunStatus::Success) {
        Some(DayState::Good)
    } else if runs.iter().any(|r| r.status == RunStatus::Running) {
        Some(DayState::Running)
    } else if runs.is_empty() {
        None
    } else {
        Some(DayState::Failed)
    }
}

/// The days from `first_day` to `today` (in the job's zone), judged on
/// `window` (the job's backup runs since `first_day`, oldest first).
fn strip(job: &Job, window: &[RunRecord], first_run: Option<DateTime<Utc>>, idle: bool, first_day: NaiveDate, today: NaiveDate, now: DateTime<Utc>) -> Vec<DayCell> {
    let tz = job.timezone;
    let newest_run = window.last().map(|r| r.started_at);
    let mut days = Vec::new();
    let mut day = first_day;
    while day <= today {
        let (start, end) = (day_start(tz, day), day_start(tz, day + Duration::days(1)));
        let mut cell = DayCell { day, state: DayState::None, slots: 0, good: 0, failed: 0, missed: 0, paused: 0, runs: 0 };
        let in_day = between(window, start, end);
        cell.runs = u32::try_from(in_day.len()).unwrap_or(u32::MAX);
        let mut worst: Vec<DayState> = Vec::new();
        match &job.schedule {
            // No schedule: the day is judged on its runs alone.
            None => worst.extend(slot_state(&in_day)),
            Some(schedule) => {
                let next_slot = |after: DateTime<Utc>| schedule.next_runs(tz, after, 1).first().copied();
                let mut slot = next_slot(start - Duration::seconds(1));
                let mut judged = 0;
                while let Some(at) = slot.filter(|s| *s < end && *s <= now && judged < SLOTS_PER_DAY) {
                    judged += 1;
                    let next = next_slot(at);
                    slot = next;
                    let next = next.unwrap_or(end);
                    let state = match slot_state(&between(window, at, next)) {
                        Some(s) => s,
                        // Before the first backup, or just due: nothing to judge yet.
                        None if first_run.is_none_or(|f| next <= f) => continue,
                        None if now - at <= crate::scheduler::ON_TIME => continue,
                        None if idle && newest_run.is_none_or(|n| at > n) => DayState::Paused,
                        None => DayState::Missed,
                    };
                    cell.slots += 1;
                    match state {
                        DayState::Good => cell.good += 1,
                        DayState::Failed => cell.failed += 1,
                        DayState::Missed => cell.missed += 1,
                        DayState::Paused => cell.paused += 1,
                        DayState::Running | DayState::None => {}
                    }
                    worst.push(state);
                }
            }
        }
        cell.state = [DayState::Failed, DayState::Missed, DayState::Paused, DayState::Running, DayState::Good]
            .into_iter()
            .find(|s| worst.contains(s))
            .unwrap_or(DayState::None);
        days.push(cell);
        day += Duration::days(1);
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::{Config, ParseEnv};
    use crate::history::{NewRun, RunOutcome};
    use crate::model::{Compression, Engine, Format};

    fn job(extra: &str) -> Job {
        let text = format!("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/db\"\ndestination = \"/b\"\ntimezone = \"Europe/Kyiv\"\n{extra}");
        Config::parse(&text, None, &ParseEnv { home: None, system_tz: Tz::UTC }).unwrap().jobs.remove(0)
    }

    fn kyiv(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Kyiv.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn add(h: &History, job: &str, trigger: Trigger, start: DateTime<Utc>, status: RunStatus, size: Option<u64>) -> i64 {
        let run = NewRun {
            job: job.into(),
            kind: RunKind::Backup,
            trigger,
            started_at: start,
            destination: "/b".into(),
            engine: Some(Engine::Postgres),
            format: Some(Format::Plain),
            compression: Some(Compression::Zstd),
            database: Some("db".into()),
        };
        let id = h.start_run(&run).unwrap();
        if status != RunStatus::Running {
            let end = start + Duration::seconds(90);
            let outcome = match status {
                RunStatus::Success => RunOutcome::success(end, format!("/b/{id}.sql.zst"), size.unwrap(), "00".into()),
                _ => RunOutcome { status, finished_at: end, size, file: None, sha256: None, error: Some("The server refused the login.".into()), error_kind: Some("auth".into()) },
            };
            h.finish_run(id, &outcome).unwrap();
        }
        id
    }

    fn day(cells: &[DayCell], m: u32, d: u32) -> &DayCell {
        cells.iter().find(|c| c.day == NaiveDate::from_ymd_opt(2026, m, d).unwrap()).unwrap()
    }

    #[test]
    fn a_month_of_daily_slots_good_failed_missed_and_retried() {
        let h = History::open_in_memory().unwrap();
        let j = job("schedule = \"daily 02:00\"\n");
        // Nov 10: first backup ever. Nov 11-19 good; Nov 20 failed; Nov 21 missed;
        // Nov 22 failed then retried good; Nov 23-24 missed then one catch-up on the 25th's slot.
        for d in 10..=19 {
            add(&h, "tg", Trigger::Scheduled, kyiv(11, d, 2, 0), RunStatus::Success, Some(1000 + u64::from(d)));
        }
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 20, 2, 0), RunStatus::Failed, None);
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 22, 2, 0), RunStatus::Failed, None);
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 22, 2, 5), RunStatus::Success, Some(1100));
        add(&h, "tg", Trigger::CatchUp, kyiv(11, 25, 9, 30), RunStatus::Success, Some(1200));
        // Another job's runs are not this job's.
        add(&h, "other", Trigger::Scheduled, kyiv(11, 21, 2, 0), RunStatus::Success, Some(5));
        let now = kyiv(11, 26, 1, 0);
        let c = job_chart(&h, &j, false, &FixedClock(now)).unwrap();
        assert_eq!(c.timezone, "Europe/Kyiv");
        assert_eq!(c.days.len(), 30);
        assert_eq!(c.days.last().unwrap().day, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        // Before the first backup nothing is judged.
        assert_eq!(day(&c.days, 11, 9).state, DayState::None);
        assert_eq!(day(&c.days, 11, 10).state, DayState::Good);
        assert_eq!(day(&c.days, 11, 19).good, 1);
        assert_eq!(day(&c.days, 11, 20).state, DayState::Failed);
        assert_eq!(day(&c.days, 11, 21).state, DayState::Missed);
        let retried = day(&c.days, 11, 22);
        assert_eq!((retried.state, retried.good, retried.failed, retried.runs), (DayState::Good, 1, 0, 2));
        assert_eq!(day(&c.days, 11, 23).state, DayState::Missed);
        assert_eq!(day(&c.days, 11, 24).state, DayState::Missed);
        assert_eq!(day(&c.days, 11, 25).state, DayState::Good);
        // Today's 02:00 has not come yet.
        assert_eq!((day(&c.days, 11, 26).state, day(&c.days, 11, 26).slots), (DayState::None, 0));
        // The bars: every run of the job, oldest first, sizes and statuses as recorded.
        assert_eq!(c.runs.len(), 14);
        assert_eq!(c.runs[0].size, Some(1010));
        assert_eq!(c.runs[10].status, RunStatus::Failed);
        assert_eq!(c.runs[13].trigger, Trigger::CatchUp);
        assert_eq!(c.runs[13].duration_ms, Some(90_000));
    }

    #[test]
    fn only_the_last_thirty_runs_are_bars() {
        let h = History::open_in_memory().unwrap();
        let j = job("schedule = \"every 1h\"\n");
        let start = kyiv(11, 20, 0, 0);
        let ids: Vec<i64> = (0..40).map(|i| add(&h, "tg", Trigger::Scheduled, start + Duration::hours(i), RunStatus::Success, Some(10))).collect();
        let c = job_chart(&h, &j, false, &FixedClock(start + Duration::hours(40))).unwrap();
        assert_eq!(c.runs.iter().map(|b| b.id).collect::<Vec<_>>(), ids[10..].to_vec());
        // Hourly: the day of Nov 20 has 24 good slots; Nov 21 has 16 (0..=15h), the 16:00 slot is now, within the margin.
        assert_eq!((day(&c.days, 11, 20).slots, day(&c.days, 11, 20).good), (24, 24));
        assert_eq!((day(&c.days, 11, 21).slots, day(&c.days, 11, 21).state), (16, DayState::Good));
    }

    #[test]
    fn slots_after_the_newest_run_are_paused_while_paused_or_off() {
        let h = History::open_in_memory().unwrap();
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 20, 0, 0), RunStatus::Success, Some(10));
        let now = kyiv(11, 23, 12, 0);
        let on = job("schedule = \"daily 00:00\"\n");
        let c = job_chart(&h, &on, true, &FixedClock(now)).unwrap();
        assert_eq!(day(&c.days, 11, 20).state, DayState::Good);
        for d in 21..=23 {
            assert_eq!(day(&c.days, 11, d).state, DayState::Paused, "Nov {d}");
        }
        let running = job_chart(&h, &on, false, &FixedClock(now)).unwrap();
        assert_eq!(day(&running.days, 11, 21).state, DayState::Missed);
        let off = job("schedule = \"daily 00:00\"\nenabled = false\n");
        assert_eq!(day(&job_chart(&h, &off, false, &FixedClock(now)).unwrap().days, 11, 22).paused, 1);
    }

    #[test]
    fn days_are_cut_in_the_job_zone_and_a_running_backup_shows() {
        let h = History::open_in_memory().unwrap();
        let j = job("schedule = \"daily 00:00\"\n");
        // 00:00 in Kyiv is 22:00 UTC the day before: the run belongs to Kyiv's day.
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 21, 0, 0), RunStatus::Success, Some(10));
        add(&h, "tg", Trigger::Scheduled, kyiv(11, 22, 0, 0), RunStatus::Running, None);
        let c = job_chart(&h, &j, false, &FixedClock(kyiv(11, 22, 0, 30))).unwrap();
        assert_eq!(day(&c.days, 11, 21).state, DayState::Good);
        assert_eq!(day(&c.days, 11, 22).state, DayState::Running);
        assert_eq!(c.runs.last().unwrap().status, RunStatus::Running);
    }

    #[test]
    fn manual_jobs_are_judged_on_their_runs() {
        let h = History::open_in_memory().unwrap();
        let j = job("");
        add(&h, "tg", Trigger::Manual, kyiv(11, 20, 10, 0), RunStatus::Failed, None);
        add(&h, "tg", Trigger::Manual, kyiv(11, 21, 10, 0), RunStatus::Success, Some(3));
        let c = job_chart(&h, &j, false, &FixedClock(kyiv(11, 22, 10, 0))).unwrap();
        assert_eq!(c.schedule, None);
        assert_eq!([day(&c.days, 11, 20).state, day(&c.days, 11, 21).state, day(&c.days, 11, 22).state], [DayState::Failed, DayState::Good, DayState::None]);
        assert_eq!(day(&c.days, 11, 21).slots, 0);
    }
}
