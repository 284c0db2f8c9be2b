//! The OneDrive work the scheduler does between backups (registered with
//! core's [`nightjar_core::tasks`] by the CLI daemon and the desktop app):
//!
//! - **Keep the sign-in alive.** A refresh token expires after 90 days
//!   without use (GRAPH.md §1.6), and a machine whose only OneDrive use is
//!   a monthly backup would lose it. The token is redeemed (and the rotated
//!   one stored) every [`REFRESH_EVERY`] while the scheduler runs, and at
//!   start when the last refresh is older than that; the time of the last
//!   refresh is kept in `onedrive-refresh.json` in the data folder. A
//!   refused token raises [`Event::OneDriveSignInExpired`] once.
//! - **Confirm synced backups reached the cloud.** In local-folder mode,
//!   when signed in, a new backup written inside a OneDrive-synced folder
//!   (the job's first folder destination there, so `destinations =
//!   ["/srv/backups", "~/OneDrive/Backups"]` counts too) is tracked (history table `cloud_copies`) and looked up through Graph
//!   every [`OneDriveUpkeep::poll_every`] under the same relative path; it
//!   is marked in the cloud once size and quickXorHash match, or a
//!   [`Event::NotInCloud`] is raised when it has not arrived within
//!   `[onedrive] cloud_confirm_within` (default 2 hours). Nothing here
//!   blocks or fails a backup.
//! - **Finish uploads a dead process left staged** (`[onedrive] staging =
//!   true`, see [`crate::staging`]), at start and at every poll.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use nightjar_core::config::DestinationSpec;
use nightjar_core::history::{CloudState as Tracked, CopyStatus, NewCloudCopy, RunKind};
use nightjar_core::observer::Event;
use nightjar_core::tasks::{BackgroundTask, TaskContext};
use nightjar_core::{ErrorKind, Result};
use serde::{Deserialize, Serialize};

use crate::auth::{REFRESH_ACCOUNT, USER_ACCOUNT};
use crate::graph::Graph;
use crate::synced::{self, CloudState};

/// How often the sign-in is refreshed while the scheduler runs.
pub const REFRESH_EVERY: Duration = Duration::days(7);
/// After a refresh that failed for another reason than the sign-in (network).
pub const REFRESH_RETRY: Duration = Duration::hours(1);
/// Backups older than this when first seen are not tracked.
pub const TRACK_WINDOW: Duration = Duration::days(7);
/// The state file in the data folder.
pub const STATE_FILE: &str = "onedrive-refresh.json";

/// A sign-in whose refreshes keep failing raises a `sign-in-expiring`
/// alert this many days before its 90-day end.
pub const SIGN_IN_WARN_DAYS: i64 = 14;

/// When the sign-in was last refreshed (kept in the data folder).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshState {
    /// The last successful refresh.
    pub last_refresh: Option<DateTime<Utc>>,
}

impl RefreshState {
    /// Reads the state from `data_dir` (empty when missing or unreadable).
    #[must_use]
    pub fn load(data_dir: &Path) -> Self {
        std::fs::read(data_dir.join(STATE_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Writes the state to `data_dir` (atomically: temp file, then rename;
    /// owner-only).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        nightjar_core::private::create_dir_all(data_dir)?;
        let tmp = data_dir.join(format!("{STATE_FILE}.tmp"));
        nightjar_core::private::write_file(&tmp, &serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, data_dir.join(STATE_FILE))
    }
}

/// Whether a refresh is due at `now`: never refreshed, the last refresh is
/// `every` old or more, or it lies in the future (the clock was set back).
/// `retry_at` (after a network failure) postpones it.
#[must_use]
pub fn refresh_due(last: Option<DateTime<Utc>>, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>, every: Duration) -> bool {
    if retry_at.is_some_and(|r| now < r) {
        return false;
    }
    match last {
        None => true,
        Some(l) => now - l >= every || l > now + Duration::minutes(5),
    }
}

#[derive(Debug, Default)]
struct Pace {
    last_poll: Option<DateTime<Utc>>,
    refresh_retry_at: Option<DateTime<Utc>>,
    /// The sign-in was found expired; reported once until a refresh works.
    expired_reported: bool,
}

/// The OneDrive background task.
pub struct OneDriveUpkeep {
    graph: Arc<Graph>,
    roots: Box<dyn Fn() -> Vec<PathBuf> + Send + Sync>,
    /// How often the sign-in is refreshed.
    pub refresh_every: Duration,
    /// How often unconfirmed synced backups are looked up.
    pub poll_every: Duration,
    pace: Mutex<Pace>,
}

impl OneDriveUpkeep {
    /// The task for `graph`, with the OneDrive-synced folders from `roots`
    /// (normally [`synced::detect_folders`]).
    #[must_use]
    pub fn new(graph: Arc<Graph>, roots: Box<dyn Fn() -> Vec<PathBuf> + Send + Sync>) -> Self {
        Self { graph, roots, refresh_every: REFRESH_EVERY, poll_every: Duration::minutes(5), pace: Mutex::new(Pace::default()) }
    }

    fn signed_in(&self) -> bool {
        self.graph.tokens().secrets().get(REFRESH_ACCOUNT).ok().flatten().is_some()
    }

    /// Reports an expired sign-in once, for each job that needs OneDrive
    /// (or once without a job when none does).
    fn report_expired(&self, ctx: &TaskContext<'_>, message: &str) {
        let mut pace = self.pace.lock().unwrap_or_else(PoisonError::into_inner);
        if pace.expired_reported {
            return;
        }
        pace.expired_reported = true;
        drop(pace);
        let account = self.graph.tokens().secrets().get(USER_ACCOUNT).ok().flatten();
        let roots = (self.roots)();
        let mut jobs: Vec<String> = ctx
            .config
            .jobs
            .iter()
            .filter(|j| {
                j.destinations.iter().any(|d| match d {
                    DestinationSpec::OneDrive(_) => true,
                    DestinationSpec::S3(_) => false,
                    DestinationSpec::Folder(p) => roots.iter().any(|r| p.starts_with(r)),
                })
            })
            .map(|j| j.name.clone())
            .collect();
        if jobs.is_empty() {
            jobs.push(String::new());
        }
        for job in jobs {
            ctx.emit(&Event::OneDriveSignInExpired { job, account: account.clone(), message: message.to_string() });
        }
    }

    /// Refreshes the sign-in when due.
    pub fn refresh_if_due(&self, ctx: &TaskContext<'_>) {
        let now = ctx.clock.now();
        let state = RefreshState::load(ctx.data.root());
        let retry_at = self.pace.lock().unwrap_or_else(PoisonError::into_inner).refresh_retry_at;
        if !refresh_due(state.last_refresh, retry_at, now, self.refresh_every) || !self.signed_in() {
            return;
        }
        match self.graph.tokens().refresh_now() {
            Ok(()) => {
                let mut pace = self.pace.lock().unwrap_or_else(PoisonError::into_inner);
                pace.refresh_retry_at = None;
                pace.expired_reported = false;
                drop(pace);
                if let Err(e) = (RefreshState { last_refresh: Some(now) }).save(ctx.data.root()) {
                    tracing::warn!("the time of the OneDrive refresh could not be saved: {e}");
                }
                tracing::info!("OneDrive sign-in refreshed (keeps the 90-day window open)");
            }
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::AuthExpired) => {
                self.pace.lock().unwrap_or_else(PoisonError::into_inner).refresh_retry_at = Some(now + Duration::days(1));
                self.report_expired(ctx, e.message());
            }
            Err(e) => {
                self.pace.lock().unwrap_or_else(PoisonError::into_inner).refresh_retry_at = Some(now + REFRESH_RETRY);
                tracing::warn!("the OneDrive sign-in could not be refreshed, trying again in an hour: {}", e.detailed());
                // Refreshes keep failing and the 90-day window is closing: say
                // so before it ends (an alert; one per incident).
                if let Some(last) = state.last_refresh {
                    let ends = last + Duration::days(90);
                    let left = (ends - now).num_days();
                    if left <= SIGN_IN_WARN_DAYS {
                        let message = format!(
                            "The OneDrive sign-in ends in {left} day(s), on {}, unless a refresh succeeds (the last one failed: {}); check the network, or sign in again with `nightjar onedrive login`.",
                            ends.format("%Y-%m-%d"),
                            e.message().trim_end_matches('.')
                        );
                        ctx.engine.alerts().problem(nightjar_core::alerts::EventKind::SignInExpiring, None, &message, None);
                    }
                }
            }
        }
    }

    /// Starts tracking the newest good backup of each job with a folder
    /// destination in a synced folder (the first such destination: the
    /// primary, or a further copy of a job with several).
    fn discover(&self, ctx: &TaskContext<'_>, roots: &[PathBuf], now: DateTime<Utc>) -> Result<()> {
        for job in &ctx.config.jobs {
            let Some((position, root)) = synced_destination(&job.destinations, roots) else { continue };
            let Some(row) = ctx.history.last_success(&job.name, RunKind::Backup)? else { continue };
            let at = row.finished_at.unwrap_or(row.started_at);
            if now - at > TRACK_WINDOW || ctx.history.cloud_copy(row.id)?.is_some() {
                continue;
            }
            // The copy in that destination: from the run's copies when it
            // has several, else the run's own file (then it is the primary).
            let copies = ctx.history.copies(row.id)?;
            let file = if copies.is_empty() {
                row.file.clone().filter(|_| position == 0)
            } else {
                copies.into_iter().find(|c| c.position == position && c.status == CopyStatus::Good).and_then(|c| c.file)
            };
            let Some(file) = file.map(PathBuf::from) else { continue };
            let Some(remote) = synced::remote_path(root, &file) else { continue };
            let Ok((size, hash)) = synced::local_hash(&file) else { continue };
            ctx.history.track_cloud_copy(&NewCloudCopy {
                run_id: row.id,
                job: job.name.clone(),
                file: file.display().to_string(),
                remote_path: remote,
                size,
                quick_xor_hash: hash,
                since: at,
            })?;
            tracing::info!(job = %job.name, file = %file.display(), "waiting for OneDrive to hold the backup");
        }
        Ok(())
    }

    /// Looks every unconfirmed synced backup up once.
    fn confirm(&self, ctx: &TaskContext<'_>, now: DateTime<Utc>) -> Result<()> {
        let within = ctx.config.raw.onedrive.confirm_within();
        for c in ctx.history.unconfirmed_cloud_copies()? {
            if !Path::new(&c.file).exists() {
                ctx.history.set_cloud_state(c.run_id, Tracked::Gone, now)?;
                continue;
            }
            match synced::compare(&self.graph, &c.remote_path, c.size, &c.quick_xor_hash)? {
                CloudState::InCloud => {
                    ctx.history.set_cloud_state(c.run_id, Tracked::InCloud, now)?;
                    tracing::info!(job = %c.job, file = %c.file, "the backup is in OneDrive (size and quickXorHash match)");
                }
                state if c.state == Tracked::Pending && now - c.since >= within => {
                    ctx.history.set_cloud_state(c.run_id, Tracked::Late, now)?;
                    let what = match state {
                        CloudState::Different { size } => format!("OneDrive holds a different version ({size} bytes, the backup is {})", c.size),
                        _ => "OneDrive does not have it".to_string(),
                    };
                    let local = c.since.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M");
                    ctx.emit(&Event::NotInCloud {
                        job: c.job.clone(),
                        file: c.file.clone(),
                        message: format!(
                            "The backup {} (written {local}) has not reached OneDrive after {}: {what}; check that the OneDrive client is running, signed in and not paused.",
                            c.file,
                            human(within)
                        ),
                    });
                }
                _ => ctx.history.set_cloud_state(c.run_id, c.state, now)?,
            }
        }
        Ok(())
    }

    /// Tracks and confirms synced backups when a poll is due.
    pub fn poll_if_due(&self, ctx: &TaskContext<'_>) {
        let now = ctx.clock.now();
        {
            let mut pace = self.pace.lock().unwrap_or_else(PoisonError::into_inner);
            if pace.last_poll.is_some_and(|l| now - l < self.poll_every && l <= now) {
                return;
            }
            pace.last_poll = Some(now);
        }
        // Uploads a dead process left staged (`[onedrive] staging = true`).
        if let Some(dir) = &self.graph.config().resume_dir
            && self.signed_in()
        {
            match crate::staging::resume_staged(&self.graph, dir, Some(ctx.history), ctx.observer) {
                Ok(done) => {
                    for f in done {
                        tracing::info!(file = %f, "an interrupted upload was finished");
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::AuthExpired) => self.report_expired(ctx, e.message()),
                Err(e) => tracing::warn!("staged OneDrive uploads could not be resumed (trying again later): {}", e.detailed()),
            }
        }
        let roots = (self.roots)();
        let tracking = !ctx.history.unconfirmed_cloud_copies().map(|v| v.is_empty()).unwrap_or(true);
        let synced_jobs = ctx.config.jobs.iter().any(|j| synced_destination(&j.destinations, &roots).is_some());
        if (!synced_jobs && !tracking) || !self.signed_in() {
            return;
        }
        let result = self.discover(ctx, &roots, now).and_then(|()| self.confirm(ctx, now));
        match result {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::AuthExpired) => self.report_expired(ctx, e.message()),
            Err(e) => tracing::warn!("could not check whether synced backups reached OneDrive (trying again later): {}", e.detailed()),
        }
    }
}

/// The first folder among `destinations` that lies in one of the synced
/// folders `roots`: its place in the list and the synced folder.
fn synced_destination<'a>(destinations: &[DestinationSpec], roots: &'a [PathBuf]) -> Option<(u32, &'a PathBuf)> {
    (0u32..).zip(destinations).find_map(|(i, d)| match d {
        DestinationSpec::Folder(dir) => roots.iter().find(|r| dir.starts_with(r)).map(|r| (i, r)),
        DestinationSpec::OneDrive(_) | DestinationSpec::S3(_) => None,
    })
}

fn human(d: Duration) -> String {
    let m = d.num_minutes();
    if m % (24 * 60) == 0 {
        format!("{} day(s)", m / (24 * 60))
    } else if m % 60 == 0 {
        format!("{} hour(s)", m / 60)
    } else {
        format!("{m} minute(s)")
    }
}

impl BackgroundTask for OneDriveUpkeep {
    fn name(&self) -> &str {
        "onedrive"
    }

    fn tick(&self, ctx: &TaskContext<'_>) {
        self.refresh_if_due(ctx);
        self.poll_if_due(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn refresh_is_due_weekly_at_start_when_old_and_after_a_clock_set_back() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let week = Duration::days(7);
        assert!(refresh_due(None, None, t0, week), "never refreshed: now");
        assert!(!refresh_due(Some(t0), None, t0 + Duration::days(6), week));
        assert!(refresh_due(Some(t0), None, t0 + week, week));
        assert!(refresh_due(Some(t0), None, t0 + Duration::days(80), week), "started long after the last refresh");
        assert!(refresh_due(Some(t0 + Duration::days(30)), None, t0, week), "the clock went back");
        assert!(!refresh_due(None, Some(t0 + Duration::hours(1)), t0, week), "waits for the retry time");
        assert!(refresh_due(None, Some(t0), t0, week));
    }

    #[test]
    fn refresh_state_round_trips_in_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RefreshState::load(dir.path()), RefreshState::default());
        let s = RefreshState { last_refresh: Some(Utc.with_ymd_and_hms(2026, 2, 3, 4, 5, 6).unwrap()) };
        s.save(&dir.path().join("sub")).unwrap();
        assert_eq!(RefreshState::load(&dir.path().join("sub")), s);
        std::fs::write(dir.path().join(STATE_FILE), b"not json").unwrap();
        assert_eq!(RefreshState::load(dir.path()), RefreshState::default());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::hours(2)), "2 hour(s)");
        assert_eq!(human(Duration::minutes(90)), "90 minute(s)");
        assert_eq!(human(Duration::days(1)), "1 day(s)");
    }
}
