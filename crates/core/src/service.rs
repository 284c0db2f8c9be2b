//! The scheduler service: the loop behind `nightjar run` and the desktop
//! app's own scheduler. It turns the [`crate::scheduler::Planner`]'s
//! decisions into runs, one at a time, with retries, catch-up after a wake
//! (detected as a wall-clock jump), staleness events, pause/resume, config
//! reload, and a clean stop that leaves nothing under a final name.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use crate::config::{Config, Job};
use crate::engine::RunContext;
use crate::history::{History, RunFilter, RunKind};
use crate::lock::JobLock;
use crate::model::RunStatus;
use crate::observer::Event;
use crate::runner::{BackupOptions, RunEnd, Runner};
use crate::scheduler::{clock_jumped, is_stale, stale_deadline, Due, JobFacts, Planner};
use crate::state::StateFile;
use crate::Result;

/// Flags another thread (signal handler, tray menu) raises to steer the loop.
#[derive(Debug, Default, Clone)]
pub struct ServiceControl {
    /// Stop: a running dump is cancelled (nothing left under a final name).
    pub shutdown: Arc<AtomicBool>,
    /// Reload the config now (SIGHUP, Settings saved).
    pub reload: Arc<AtomicBool>,
    /// Re-evaluate catch-up now (the OS reported a resume from sleep).
    pub wake: Arc<AtomicBool>,
}

/// How long a scheduled run waits for a job's lock held by another
/// process (a manual backup) before giving up.
const LOCK_WAIT: StdDuration = StdDuration::from_secs(6 * 3600);

/// The scheduler service, made by [`crate::Engine::service`]; its run
/// context's cancel flag is [`ServiceControl::shutdown`].
pub struct Service<'a> {
    /// History, data folder, secrets, clock, observer, engine.
    pub(crate) run: RunContext<'a>,
    /// Loads (or reloads) the configuration.
    pub(crate) load_config: &'a dyn Fn() -> Result<Config>,
    /// The config file, watched for changes.
    pub(crate) config_path: Option<PathBuf>,
    /// Steering flags.
    pub(crate) control: &'a ServiceControl,
    /// Longest sleep between checks.
    pub(crate) tick: StdDuration,
}

impl<'a> std::ops::Deref for Service<'a> {
    type Target = RunContext<'a>;
    fn deref(&self) -> &RunContext<'a> {
        &self.run
    }
}

struct Retry {
    at: DateTime<Utc>,
    due: Due,
    attempt: u32,
}

fn mtime(p: &Option<PathBuf>) -> Option<SystemTime> {
    p.as_ref().and_then(|p| std::fs::metadata(p).ok()).and_then(|m| m.modified().ok())
}

impl<'a> Service<'a> {
    fn facts(&self, job: &str) -> JobFacts {
        let last_success = self.history.last_success(job, RunKind::Backup).ok().flatten().map(|r| r.started_at);
        let ever_ran = self
            .history
            .runs(&RunFilter { job: Some(job.to_string()), kind: Some(RunKind::Backup), limit: Some(1), ..RunFilter::default() })
            .map(|v| !v.is_empty())
            .unwrap_or(false);
        JobFacts { last_success, ever_ran }
    }

    fn runner(&self) -> Runner<'a> {
        Runner(self.run)
    }

    /// Loads the configuration and hands its destination settings to the engine.
    fn load(&self) -> Result<Config> {
        let config = (self.load_config)()?;
        self.engine.configure(&config);
        Ok(config)
    }

    /// Marks runs left `running` by a dead process as interrupted, for every
    /// job whose lock is free.
    fn recover_interrupted(&self, config: &Config) {
        for job in &config.jobs {
            if let Ok(_lock) = JobLock::try_acquire(&self.data.lock_dir(), &job.name) {
                match self.history.mark_interrupted(
                    &job.name,
                    self.clock.now(),
                    "Interrupted: Nightjar stopped before this run finished (crash, power loss or kill).",
                ) {
                    Ok(n) if n > 0 => tracing::warn!(job = %job.name, "{n} run(s) were interrupted by a crash or stop; they count as missed"),
                    Ok(_) => {}
                    Err(e) => tracing::error!("{}", e.detailed()),
                }
            }
        }
    }

    /// Checks each enabled job's tool, server and destination now, so a
    /// problem shows up at start, not at 00:00.
    fn health_check(&self, config: &Config) {
        let runner = self.runner();
        for job in config.jobs.iter().filter(|j| j.enabled && j.schedule.is_some()) {
            for e in runner.check(job) {
                self.emit(&e);
            }
        }
    }

    fn run_due(&self, config: &Config, due: &Due, attempt: u32, retries: &mut Vec<Retry>) {
        let Some(job) = config.jobs.iter().find(|j| j.name == due.job && j.enabled) else { return };
        let mut opts = BackupOptions::new(due.trigger);
        opts.wait_for_lock = Some(LOCK_WAIT);
        // The desktop app and `nightjar run` may both schedule this job; the
        // per-job lock runs them one at a time, and the second one skips a
        // slot the first has just backed up.
        opts.skip_if_backed_up_since = Some(due.slot);
        opts.attempt = Some(attempt);
        // The runner tells the observer how the run went.
        match self.runner().run(job, &opts) {
            RunEnd::Done(r) => self.verify_if_due(job, &r.file),
            RunEnd::Skipped { .. } | RunEnd::Failed { retry_at: None, .. } => {}
            RunEnd::Failed { retry_at: Some(at), .. } => retries.push(Retry { at, due: due.clone(), attempt: attempt + 1 }),
        }
    }

    /// Every `verify_every`th successful backup of a job is test-restored
    /// into a scratch database and marked verified. A failed verification
    /// is reported like a failed run (the backup itself stays).
    fn verify_if_due(&self, job: &Job, file: &str) {
        if job.verify_every == 0 {
            return;
        }
        let successes = self.history.stats(Some(&job.name)).ok().and_then(|s| s.first().map(|s| s.successes)).unwrap_or(0);
        if successes == 0 || !successes.is_multiple_of(u64::from(job.verify_every)) {
            return;
        }
        let restorer = crate::restore::Restorer(self.run);
        // Never `trust_file`: a file this installation did not make (e.g.
        // replaced in OneDrive since the upload) is refused, not run. A
        // OneDrive backup is test-restored from a private local copy.
        let opts = crate::restore::VerifyOptions { restore_test: Some(job.clone()), ..Default::default() };
        let result = restorer.verify_address(file, &opts);
        match result {
            Ok(_) => tracing::info!(job = %job.name, file, "test restore passed; the backup is marked verified"),
            Err(e) => {
                let message = format!("The test restore of {file} failed: {}", e.message());
                // The backup itself is fine: a verify-failed alert, not a failure one.
                self.engine.alerts().problem(crate::alerts::EventKind::VerifyFailed, Some(&job.name), &message, Some(file));
                self.observer.event(&Event::RunFailed { job: job.name.clone(), trigger: crate::model::Trigger::Scheduled, message, retry_at: None });
            }
        }
    }

    fn update_staleness(&self, config: &Config, planner: &Planner, stale: &mut HashSet<String>, now: DateTime<Utc>) {
        for job in config.jobs.iter().filter(|j| j.enabled) {
            let facts = self.facts(&job.name);
            let first_seen = planner.first_seen(&job.name).unwrap_or(now);
            let is = is_stale(job, &facts, first_seen, now);
            if is && stale.insert(job.name.clone()) {
                let deadline = stale_deadline(job, facts.last_success, first_seen).unwrap_or(now);
                self.emit(&Event::JobStale { job: job.name.clone(), last_success: facts.last_success, deadline });
            } else if !is && stale.remove(&job.name) {
                self.emit(&Event::JobRecovered { job: job.name.clone() });
            }
        }
    }

    /// Runs until [`ServiceControl::shutdown`] is raised.
    ///
    /// # Errors
    /// Only when the configuration cannot be loaded at start.
    pub fn run(&self) -> Result<()> {
        let mut config = self.load()?;
        // Alerts earlier processes left queued go out now.
        self.engine.alerts().start();
        crate::wake::watch_resume(self.control.wake.clone(), self.control.shutdown.clone());
        let mut config_mtime = mtime(&self.config_path);
        let state_file = StateFile::in_dir(self.data.root());
        let mut planner = Planner::new();
        let mut retries: Vec<Retry> = Vec::new();
        let mut stale: HashSet<String> = HashSet::new();
        self.recover_interrupted(&config);
        self.health_check(&config);
        let now = self.clock.now();
        let mut was_paused = state_file.load().is_paused(now);
        let mut queue: Vec<(Due, u32)> = Vec::new();
        if was_paused {
            self.emit(&Event::SchedulesPaused { resume_at: state_file.load().resume_at });
        } else {
            queue.extend(planner.on_start(&config.jobs, &|j| self.facts(j), now).into_iter().map(|d| (d, 0)));
        }
        tracing::info!(jobs = config.jobs.len(), "scheduler started");
        let mut last_wall = now;
        let mut last_mono = Instant::now();
        while !self.control.shutdown.load(Ordering::SeqCst) {
            // Config changes (file edited, Settings saved, SIGHUP).
            let m = mtime(&self.config_path);
            if self.control.reload.swap(false, Ordering::SeqCst) || m != config_mtime {
                config_mtime = m;
                match self.load() {
                    Ok(c) => {
                        tracing::info!(jobs = c.jobs.len(), "configuration reloaded");
                        self.engine.alerts().resolved(crate::alerts::EventKind::ConfigError, None, "The config file loads again; the new settings are in use.");
                        config = c;
                        planner.retain(&config.jobs);
                        self.health_check(&config);
                    }
                    Err(e) => {
                        tracing::error!("the configuration was not reloaded, the previous one stays in use: {e}");
                        let message = format!("The edited config file does not load, so the previous settings stay in use: {}", e.message());
                        self.engine.alerts().problem(crate::alerts::EventKind::ConfigError, None, &message, None);
                        self.emit(&Event::ConfigInvalid { message });
                    }
                }
            }
            let now = self.clock.now();
            let paused = state_file.load();
            let is_paused = paused.is_paused(now);
            if is_paused != was_paused {
                was_paused = is_paused;
                if is_paused {
                    self.emit(&Event::SchedulesPaused { resume_at: paused.resume_at });
                } else {
                    self.emit(&Event::SchedulesResumed);
                    self.control.wake.store(true, Ordering::SeqCst);
                }
            }
            if !is_paused {
                let jumped = clock_jumped(last_wall, now, last_mono.elapsed());
                if jumped {
                    tracing::info!("the clock jumped (sleep, resume or time change); checking for missed runs");
                }
                let due = if self.control.wake.swap(false, Ordering::SeqCst) || jumped {
                    planner.on_start(&config.jobs, &|j| self.facts(j), now)
                } else {
                    planner.on_tick(&config.jobs, &|j| self.facts(j), now)
                };
                queue.extend(due.into_iter().map(|d| (d, 0)));
                let (ready, later): (Vec<Retry>, Vec<Retry>) = retries.drain(..).partition(|r| r.at <= now);
                retries = later;
                queue.extend(ready.into_iter().map(|r| (r.due, r.attempt)));
                // One run at a time, in due order; a job already queued runs once.
                let mut seen = HashSet::new();
                queue.retain(|(d, _)| seen.insert(d.job.clone()));
                for (d, attempt) in std::mem::take(&mut queue) {
                    if self.control.shutdown.load(Ordering::SeqCst) {
                        break;
                    }
                    self.run_due(&config, &d, attempt, &mut retries);
                }
            }
            self.update_staleness(&config, &planner, &mut stale, self.clock.now());
            // Adapters' background work (OneDrive sign-in upkeep, cloud confirmation).
            crate::tasks::run_background_tasks(&crate::tasks::TaskContext { config: &config, run: self.run });
            // Sleep until the next slot, retry or tick, watching the flags.
            let now = self.clock.now();
            let mut until = now + chrono::Duration::from_std(self.tick).unwrap_or(chrono::Duration::seconds(20));
            if let Some(w) = planner.next_wake(&config.jobs, now) {
                until = until.min(w);
            }
            if let Some(r) = retries.iter().map(|r| r.at).min() {
                until = until.min(r);
            }
            last_wall = now;
            last_mono = Instant::now();
            let sleep = (until - now).to_std().unwrap_or_default();
            let deadline = Instant::now() + sleep;
            while Instant::now() < deadline {
                if self.control.shutdown.load(Ordering::SeqCst)
                    || self.control.reload.load(Ordering::SeqCst)
                    || self.control.wake.load(Ordering::SeqCst)
                {
                    break;
                }
                std::thread::sleep(StdDuration::from_millis(200).min(deadline.saturating_duration_since(Instant::now())));
            }
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }
}

/// A job's last backup status, for the tray's status line.
#[must_use]
pub fn last_status(history: &History, job: &Job) -> Option<RunStatus> {
    history.last_run(&job.name, RunKind::Backup).ok().flatten().map(|r| r.status)
}
