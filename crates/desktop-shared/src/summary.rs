//! What the Dashboard cards and the tray status line say, computed from the
//! config and the history (cheap: no tool or server checks).

use chrono::{DateTime, Local, Utc};
use nightjar_core::config::{Config, DestinationSpec, Job};
use nightjar_core::history::{CloudCopy, CloudState, History, RunFilter, RunKind};
use nightjar_core::model::RunStatus;
use nightjar_core::state::StateFile;

use crate::i18n::{self, Lang, t};
use crate::models::{CloudLine, JobCard};
use crate::state::AppState;

/// Which tray icon to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    Idle,
    Running,
    Failed,
}

/// The tray's status line and icon.
#[derive(Debug, Clone)]
pub struct TraySummary {
    pub line: String,
    pub icon: IconState,
    pub jobs: Vec<String>,
    pub paused: bool,
    /// The backup folder "Open backup folder" opens.
    pub folder: Option<std::path::PathBuf>,
    /// No job yet (and the config file reads): the menu offers to set up.
    pub not_set_up: bool,
    /// The language the line is in, and the menu is to be in (`[ui] language`).
    pub lang: Lang,
}

/// "today 02:00", "yesterday 23:10", "tomorrow 00:00", "Nov 20 02:00"
/// (in English; "сегодня в 02:00", "20 нояб. в 02:00" in Russian).
pub fn when(lang: Lang, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    use chrono::Datelike as _;
    let l = at.with_timezone(&Local);
    let today = now.with_timezone(&Local).date_naive();
    let day = l.date_naive();
    let hm = i18n::format_time(lang, "format.time", &l);
    match (day - today).num_days() {
        0 => t(lang, "tray.today", &[("time", &hm)]),
        -1 => t(lang, "tray.yesterday", &[("time", &hm)]),
        1 => t(lang, "tray.tomorrow", &[("time", &hm)]),
        _ => {
            let date = t(lang, "format.day_month", &[("month", &i18n::month_short(lang, l.month())), ("day", &l.day().to_string())]);
            t(lang, "tray.on_date", &[("date", &date), ("time", &hm)])
        }
    }
}

/// The language `config` asks for (`[ui] language`; the system's when
/// there is no readable config).
#[must_use]
pub fn language(config: Option<&Config>) -> Lang {
    i18n::resolve(config.map_or("auto", |c| c.raw.ui.language.code()))
}

/// One job's card.
///
/// # Errors
/// When the history cannot be read.
pub fn job_card(history: &History, job: &Job, now: DateTime<Utc>, running: bool) -> nightjar_core::Result<JobCard> {
    let runs = history.runs(&RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), limit: Some(20), ..RunFilter::default() })?;
    // A refusal because another run held the job says nothing about its health.
    let last_run = runs.into_iter().find(|r| r.error_kind.as_deref() != Some(nightjar_core::ErrorKind::Busy.code()));
    let last_success = history.last_success(&job.name, RunKind::Backup)?;
    let first_seen = history
        .runs(&RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), ..RunFilter::default() })?
        .last()
        .map_or(now, |r| r.started_at);
    let stale = job.enabled
        && last_run.is_some()
        && nightjar_core::scheduler::stale_deadline(job, last_success.as_ref().map(|r| r.started_at), first_seen).is_some_and(|d| now > d);
    let next_runs = match (&job.schedule, job.enabled) {
        (Some(s), true) => s.next_runs(job.timezone, now, 3).iter().map(DateTime::to_rfc3339).collect(),
        _ => Vec::new(),
    };
    let cloud = match &last_success {
        Some(r) => history.cloud_copy(r.id)?.map(|c| cloud_line(&c)),
        None => None,
    };
    let copies = match &last_run {
        Some(r) if job.destinations.len() > 1 => history
            .copies(r.id)?
            .into_iter()
            .map(|c| crate::models::CopyLine { good: c.status == nightjar_core::history::CopyStatus::Good, destination: c.destination, error: c.error })
            .collect(),
        _ => Vec::new(),
    };
    Ok(JobCard {
        copies,
        name: job.name.clone(),
        enabled: job.enabled,
        database: job.db.display(),
        destination: job.destinations_display(),
        schedule: job.schedule.as_ref().map(|s| s.as_str().to_string()),
        timezone: job.timezone.name().to_string(),
        next_runs,
        last_run,
        last_success,
        stale,
        running,
        health: Vec::new(),
        cloud,
    })
}

/// Where the last good backup's copy in OneDrive stands, for the card.
pub fn cloud_line(c: &CloudCopy) -> CloudLine {
    let at = match c.state {
        CloudState::InCloud => c.confirmed_at.unwrap_or(c.since),
        CloudState::Pending | CloudState::Late | CloudState::Gone => c.since,
    };
    CloudLine { state: c.state, at: at.to_rfc3339() }
}

/// The tray's line and icon from the cards, in the config's language.
pub fn summarize(config: Option<&Config>, cards: &[JobCard], paused: bool, running: Option<&str>, now: DateTime<Utc>) -> TraySummary {
    let jobs: Vec<String> = cards.iter().map(|c| c.name.clone()).collect();
    let folder = config.and_then(|c| {
        let newest = cards.iter().filter_map(|c| c.last_success.as_ref()).max_by_key(|r| r.started_at).map(|r| r.job.clone());
        let pick = newest.and_then(|n| c.jobs.iter().find(|j| j.name == n)).or_else(|| c.jobs.first());
        // The job's first folder (a job with several destinations may list
        // S3 or OneDrive before it).
        pick.and_then(|j| {
            j.destinations.iter().find_map(|d| match d {
                DestinationSpec::Folder(p) => Some(p.clone()),
                DestinationSpec::OneDrive(_) | DestinationSpec::S3(_) => None,
            })
        })
    });
    // A config file that does not load (None) stops the schedules: as bad as a failed run.
    let failed = config.is_none() || cards.iter().any(|c| c.stale || (c.enabled && c.last_run.as_ref().is_some_and(|r| matches!(r.status, RunStatus::Failed | RunStatus::Interrupted))));
    let icon = if running.is_some() {
        IconState::Running
    } else if failed {
        IconState::Failed
    } else {
        IconState::Idle
    };
    let lang = language(config);
    let line = if let Some(job) = running {
        t(lang, "tray.backing_up", &[("job", job)])
    } else if config.is_none() {
        t(lang, "tray.config_error", &[])
    } else if cards.is_empty() {
        t(lang, "tray.not_set_up", &[])
    } else {
        let last = cards.iter().filter_map(|c| c.last_run.as_ref()).max_by_key(|r| r.started_at);
        let mut line = match last {
            Some(r) => {
                let at = when(lang, r.started_at, now);
                let vars = [("when", at.as_str())];
                match r.status {
                    RunStatus::Success => t(lang, "tray.last_ok", &vars),
                    RunStatus::Running => t(lang, "tray.last_running", &vars),
                    RunStatus::Failed => t(lang, "tray.last_failed", &vars),
                    RunStatus::Interrupted => t(lang, "tray.last_interrupted", &vars),
                }
            }
            None => t(lang, "tray.no_backups", &[]),
        };
        if let Some(stale) = cards.iter().find(|c| c.stale) {
            line = t(lang, "tray.overdue", &[("job", &stale.name), ("line", &line)]);
        }
        if paused {
            line = t(lang, "tray.paused_suffix", &[("line", &line)]);
        } else if let Some(next) = cards.iter().filter_map(|c| c.next_runs.first()).filter_map(|t| DateTime::parse_from_rfc3339(t).ok()).min() {
            line = t(lang, "tray.next_suffix", &[("line", &line), ("when", &when(lang, next.with_timezone(&Utc), now))]);
        }
        line
    };
    let not_set_up = config.is_some() && cards.is_empty();
    TraySummary { line, icon, jobs, paused, folder, not_set_up, lang }
}

/// The tray summary for the app's current state.
pub fn tray_summary(state: &AppState, now: DateTime<Utc>) -> TraySummary {
    let paused = StateFile::in_dir(state.data.root()).load().is_paused(now);
    let running = state.any_running();
    match state.load_config() {
        Ok(config) => {
            let cards: Vec<JobCard> =
                config.jobs.iter().filter_map(|j| job_card(&state.history, j, now, state.is_running(&j.name)).ok()).collect();
            summarize(Some(&config), &cards, paused, running.as_deref(), now)
        }
        Err(_) => summarize(None, &[], paused, running.as_deref(), now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn env() -> nightjar_core::config::ParseEnv {
        nightjar_core::config::ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC }
    }

    #[test]
    fn status_line_and_icon() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let c = Config::parse("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/tg\"\ndestination = \"/b\"\nschedule = \"daily 00:00\"\n", None, &env()).unwrap();
        let h = History::open_in_memory().unwrap();
        let card = job_card(&h, &c.jobs[0], now, false).unwrap();
        assert!(card.cloud.is_none(), "nothing tracked, no cloud line");
        let s = summarize(Some(&c), std::slice::from_ref(&card), false, None, now);
        assert_eq!(s.icon, IconState::Idle);
        assert!(s.line.starts_with("No backups yet · next "), "{}", s.line);
        assert_eq!(s.folder.as_deref(), Some(std::path::Path::new("/b")));
        let s = summarize(Some(&c), std::slice::from_ref(&card), true, Some("tg"), now);
        assert_eq!((s.icon, s.line.as_str()), (IconState::Running, "Backing up tg…"));
        let s = summarize(Some(&c), &[JobCard { stale: true, ..card }], true, None, now);
        assert_eq!(s.icon, IconState::Failed);
        assert!(s.line.starts_with("tg is overdue") && s.line.ends_with("schedules paused"), "{}", s.line);
        let empty = Config::empty(None);
        let s = summarize(Some(&empty), &[], false, None, now);
        assert!(s.line.starts_with("Not set up yet") && s.not_set_up, "{}", s.line);
        let broken = summarize(None, &[], false, None, now);
        assert!(!broken.not_set_up, "a config error is not \"not set up\"");
        assert_eq!(broken.icon, IconState::Failed, "a config that does not load shows the failed icon");
        assert_eq!(s.lang, Lang::En);
        // "Open backups folder" opens a job's folder even when it lists S3 first.
        let c = Config::parse("[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/tg\"\ndestinations = [\"s3://backups/tg\", \"/b2\"]\n[s3]\nregion = \"us-east-1\"\n", None, &env()).unwrap();
        let card = job_card(&h, &c.jobs[0], now, false).unwrap();
        assert_eq!(summarize(Some(&c), &[card], false, None, now).folder.as_deref(), Some(std::path::Path::new("/b2")));
    }

    #[test]
    fn the_status_line_speaks_the_configs_language() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let text = "[ui]\nlanguage = \"ru\"\n\n[[job]]\nname = \"tg\"\ndatabase = \"postgres://u@h/tg\"\ndestination = \"/b\"\nschedule = \"daily 00:00\"\n";
        let c = Config::parse(text, None, &env()).unwrap();
        let h = History::open_in_memory().unwrap();
        let card = job_card(&h, &c.jobs[0], now, false).unwrap();
        let s = summarize(Some(&c), std::slice::from_ref(&card), false, None, now);
        assert_eq!(s.lang, Lang::Ru);
        assert!(s.line.starts_with("Резервных копий пока нет · следующая "), "{}", s.line);
        let s = summarize(Some(&c), std::slice::from_ref(&card), false, Some("tg"), now);
        assert_eq!(s.line, "Создаётся копия tg…");
        let s = summarize(Some(&c), &[JobCard { stale: true, ..card }], true, None, now);
        assert!(s.line.starts_with("tg: копия просрочена") && s.line.ends_with("расписания приостановлены"), "{}", s.line);
        let empty = Config::parse("[ui]\nlanguage = \"ru\"\n", None, &env()).unwrap();
        assert_eq!(summarize(Some(&empty), &[], false, None, now).line, "Ещё не настроено — откройте Nightjar, чтобы защитить базу данных");
    }

    #[test]
    fn when_says_today_yesterday_tomorrow_or_the_date_in_the_language() {
        // Built from the local calendar, as the tray shows it.
        let now = Local.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap().with_timezone(&Utc);
        let at = |d: u32, h: u32, m: u32| Local.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap().with_timezone(&Utc);
        assert_eq!(when(Lang::En, at(22, 2, 0), now), "today 02:00");
        assert_eq!(when(Lang::En, at(21, 23, 10), now), "yesterday 23:10");
        assert_eq!(when(Lang::En, at(23, 0, 0), now), "tomorrow 00:00");
        assert_eq!(when(Lang::En, at(20, 2, 0), now), "Nov 20 02:00");
        assert_eq!(when(Lang::Ru, at(22, 2, 0), now), "сегодня в 02:00");
        assert_eq!(when(Lang::Ru, at(20, 2, 0), now), "20 нояб. в 02:00");
        assert_eq!(when(Lang::Fr, at(21, 23, 10), now), "hier à 23:10");
        assert_eq!(when(Lang::Tr, at(20, 2, 0), now), "20 Kas 02:00");
        assert_eq!(when(Lang::Th, at(23, 0, 0), now), "พรุ่งนี้ 00:00");
    }

    #[test]
    fn cloud_line_gives_the_state_and_the_time_that_goes_with_it() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let written = now - chrono::Duration::hours(10);
        let mut c = CloudCopy {
            run_id: 1,
            job: "tg".into(),
            file: "/home/me/OneDrive/Backups/tg_2026-11-22_02-00-00.sql.zst".into(),
            remote_path: "Backups/tg_2026-11-22_02-00-00.sql.zst".into(),
            size: 10,
            quick_xor_hash: "AAAA".into(),
            state: CloudState::Late,
            since: written,
            checked_at: None,
            confirmed_at: None,
            warned_at: Some(now),
        };
        let late = cloud_line(&c);
        assert_eq!((late.state, late.at), (CloudState::Late, written.to_rfc3339()));
        c.state = CloudState::InCloud;
        c.confirmed_at = Some(now);
        assert_eq!(cloud_line(&c).at, now.to_rfc3339());
    }
}
