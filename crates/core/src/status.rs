//! A job's state at a glance (the tray's status line, the dashboard,
//! `nightjar status`): last run, next runs, tool and destination health.
//! Reads only; never creates folders or connects to databases.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{DestinationSpec, Job};
use crate::destination::{Destination, LocalFolder, Space};
use crate::history::{History, RunKind, RunRecord};
use crate::model::Engine;
use crate::source::postgres;
use crate::Result;

/// Free space below this percentage gives a warning (the seeds' 80 % disk alert).
pub const LOW_SPACE_PERCENT: f64 = 20.0;

/// Health of a job's dump tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolHealth {
    /// "pg_dump".
    pub tool: String,
    /// Its path and version, when found.
    pub found: Option<String>,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

/// Health of a job's destination.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationHealth {
    /// Where it is.
    pub location: String,
    /// Space, when known.
    pub space: Option<Space>,
    /// What is wrong, if anything (missing folder, low space).
    pub problem: Option<String>,
}

/// One job's status.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// Job name.
    pub job: String,
    /// Whether the schedule is active.
    pub enabled: bool,
    /// The schedule as written.
    pub schedule: Option<String>,
    /// The job's time zone.
    pub timezone: String,
    /// The next three runs.
    pub next_runs: Vec<DateTime<Utc>>,
    /// The latest backup run of any status.
    pub last_run: Option<RunRecord>,
    /// The latest successful backup.
    pub last_success: Option<RunRecord>,
    /// Dump tool health.
    pub tool: ToolHealth,
    /// Destination health.
    pub destination: DestinationHealth,
    /// True when the newest good backup is older than the job's deadline.
    pub stale: bool,
    /// The staleness deadline, when the job has one.
    pub stale_deadline: Option<DateTime<Utc>>,
    /// Every destination of the job, the primary first.
    pub destinations: Vec<String>,
    /// The copies of the latest backup run, one per destination (empty for
    /// a job with one destination).
    pub copies: Vec<crate::history::CopyRecord>,
}

/// Computes `job`'s status at `now`.
///
/// # Errors
/// When the history cannot be read.
pub fn job_status(history: &History, job: &Job, now: DateTime<Utc>) -> Result<JobStatus> {
    let next_runs = match (&job.schedule, job.enabled) {
        (Some(s), true) => s.next_runs(job.timezone, now, 3),
        _ => Vec::new(),
    };
    // A manual attempt refused because the job was already running says
    // nothing about the job's health; the run it bumped into does.
    let last_run = history
        .runs(&crate::history::RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), limit: Some(20), ..Default::default() })?
        .into_iter()
        .find(|r| r.error_kind.as_deref() != Some(crate::ErrorKind::Busy.code()));
    let last_success = history.last_success(&job.name, RunKind::Backup)?;
    // A job that never succeeded is stale from its first attempt on.
    let first_seen = history
        .runs(&crate::history::RunFilter { job: Some(job.name.clone()), kind: Some(RunKind::Backup), ..Default::default() })?
        .last()
        .map_or(now, |r| r.started_at);
    let stale_deadline = if last_run.is_some() {
        crate::scheduler::stale_deadline(job, last_success.as_ref().map(|r| r.started_at), first_seen)
    } else {
        None
    };
    let copies = match &last_run {
        Some(r) if job.destinations.len() > 1 => history.copies(r.id)?,
        _ => Vec::new(),
    };
    Ok(JobStatus {
        destinations: job.destinations.iter().map(DestinationSpec::display).collect(),
        copies,
        stale: job.enabled && stale_deadline.is_some_and(|d| now > d),
        stale_deadline,
        job: job.name.clone(),
        enabled: job.enabled,
        schedule: job.schedule.as_ref().map(|s| s.as_str().to_string()),
        timezone: job.timezone.name().to_string(),
        next_runs,
        last_run,
        last_success,
        tool: tool_health(job),
        destination: destination_health(&job.destination),
    })
}

/// Is the dump tool there, and which version?
#[must_use]
pub fn tool_health(job: &Job) -> ToolHealth {
    if job.db.engine == Engine::Mysql {
        if let Some(c) = &job.docker_container {
            return ToolHealth { tool: "mysqldump".into(), found: Some(format!("inside container \"{c}\" (checked at run time)")), problem: None };
        }
        return match crate::source::mysql::installed_tools(job.tool_dir.as_deref()).first() {
            Some(t) => ToolHealth { tool: t.dump_name(), found: Some(format!("{} ({})", t.version.text, t.dump.display())), problem: None },
            None => ToolHealth {
                tool: "mysqldump".into(),
                found: None,
                problem: Some(format!("Neither mariadb-dump nor mysqldump was found; {} or set the job's `tool_dir`.", crate::source::locate::hint(crate::source::locate::Tool::Mysql, None))),
            },
        };
    }
    if let Some(c) = &job.docker_container {
        return ToolHealth { tool: "pg_dump".into(), found: Some(format!("inside container \"{c}\" (checked at run time)")), problem: None };
    }
    match postgres::installed_tools(job.tool_dir.as_deref()).first() {
        Some(t) => ToolHealth { tool: "pg_dump".into(), found: Some(format!("{} ({})", t.version.text, t.pg_dump.display())), problem: None },
        None => ToolHealth {
            tool: "pg_dump".into(),
            found: None,
            problem: Some(format!("pg_dump was not found; {} or set the job's `tool_dir`.", crate::source::locate::hint(crate::source::locate::Tool::Postgres, None))),
        },
    }
}

/// Does the destination exist, and how much space is left?
#[must_use]
pub fn destination_health(spec: &DestinationSpec) -> DestinationHealth {
    match spec {
        DestinationSpec::S3(p) => DestinationHealth {
            location: format!("s3://{p}"),
            space: None,
            // Reads only: the credentials and the bucket are checked when a run starts.
            problem: None,
        },
        DestinationSpec::OneDrive(p) => DestinationHealth {
            location: format!("onedrive:{p}"),
            space: None,
            // Reads only: the sign-in and the folder are checked when a run starts.
            problem: None,
        },
        DestinationSpec::Folder(dir) => {
            let d = LocalFolder::new(dir.clone());
            let location = d.location();
            if !dir.is_dir() {
                let problem = if dir.parent().is_some_and(std::path::Path::is_dir) {
                    None // created on the first run
                } else {
                    Some(format!("The folder {location} does not exist, nor does its parent; create it or fix the destination."))
                };
                return DestinationHealth { location, space: None, problem };
            }
            let space = d.space().ok().flatten();
            let problem = space.filter(|s| s.free_percent() < LOW_SPACE_PERCENT).map(|s| {
                format!("Only {:.0} % of the disk holding {location} is free; free some space before backups fail.", s.free_percent())
            });
            DestinationHealth { location, space, problem }
        }
    }
}
