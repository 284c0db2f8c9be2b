//! Verify: the checks of a restore without a target ([`validate()`], one
//! read of the file), and optionally a test restore into a scratch
//! database (loaded as a restore loads, checked again on the way) whose
//! rows are counted before it is dropped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Job;
use crate::history::{RunKind, RunOutcome, RunRecord};
use crate::inspect::{self, Content};
use crate::lock::JobLock;
use crate::model::{Compression, RunStatus};
use crate::observer::Stage;
use crate::trust::{self, Trust};
use crate::{Error, ErrorKind, Result};

use super::load::Expected;
use super::names::{self, derived_name, VERIFY_MARKER};
use super::{guard, invalid, ms, name_origin, validate, ChecksumStatus, DbServer, Restorer, ValidateOptions, Validation, JOB_LOCK_WAIT};

/// Rows of one table after a test restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Row count.
    pub rows: u64,
}

/// What a test restore found.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreTest {
    /// `host:port`.
    pub server: String,
    /// The scratch database (dropped again).
    pub scratch_database: String,
    /// Number of tables.
    pub table_count: usize,
    /// Sum of the row counts.
    pub total_rows: u64,
    /// Per table.
    pub tables: Vec<TableRows>,
    /// Time spent loading and counting.
    pub duration_ms: u64,
}

/// Choices of one verify (`Debug` in [`crate::db`], without the password).
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// Also restore into a scratch database on this job's server.
    pub restore_test: Option<Job>,
    /// A password for this run only.
    pub password: Option<String>,
    /// The keyring account to read the password from.
    pub password_account: Option<String>,
    /// Where the file came from when it is a local copy of a remote backup
    /// (`onedrive:/…`, see [`crate::remote`]): the history names it, and
    /// its backup row is the one marked verified.
    pub origin: Option<String>,
    /// The user acknowledged test-restoring a file this Nightjar did not
    /// make (see [`crate::trust`]); a plain check never needs it.
    pub trust_file: bool,
    /// An age identity file that may open an encrypted backup (`--identity`),
    /// besides the keys kept for the job.
    pub identity: Option<PathBuf>,
    /// The keys an encrypted backup is opened with (filled by
    /// [`Restorer::verify`] from the secret store and `identity`).
    pub keys: Option<std::sync::Arc<crate::crypt::Keys>>,
}

/// The finished record of a verify (`nightjar verify --json`).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// History row id of this verify.
    pub run_id: i64,
    /// Full path.
    pub file: String,
    /// Always success (failures are errors).
    pub status: RunStatus,
    /// What the file is.
    pub content: Content,
    /// Outer compression.
    pub compression: Compression,
    /// Size of the file.
    pub size: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Checked against a manifest or not.
    pub checksum: ChecksumStatus,
    /// Whether this Nightjar made the file.
    pub trust: Trust,
    /// Size of the decompressed content.
    pub data_size: u64,
    /// The test restore, when asked for.
    pub restore_test: Option<RestoreTest>,
    /// The backup's history row, when the history knows the file.
    pub backup_run_id: Option<i64>,
    /// When it was marked verified (test restores only).
    pub verified_at: Option<DateTime<Utc>>,
    /// Wall time.
    pub duration_ms: u64,
    /// What happened, for people.
    pub message: String,
}

impl Restorer<'_> {
    /// Checks `file` (checksum, decompression, format) and optionally
    /// test-restores it into a scratch database, counts rows, drops it and
    /// marks the backup verified. Recorded in the history.
    ///
    /// # Errors
    /// The first problem found, as one sentence naming the file.
    pub fn verify(&self, file: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
        let started_at = self.clock.now();
        let t0 = Instant::now();
        let keyed;
        let opts = if opts.keys.is_none() {
            let jobs: Vec<&str> = opts.restore_test.iter().map(|j| j.name.as_str()).collect();
            keyed = VerifyOptions {
                keys: self.keys_for(file, &jobs, opts.identity.as_deref())?,
                ..opts.clone()
            };
            &keyed
        } else {
            opts
        };
        let insp = inspect::inspect_with(file, opts.keys.clone()).ok();
        let path = insp.as_ref().map_or_else(
            || std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
            |i| i.path.clone(),
        );
        // A local copy of a remote backup is recorded (and looked up) by its origin.
        let shown = opts.origin.as_ref().map_or_else(|| path.clone(), PathBuf::from);
        let path_text = shown.display().to_string();
        let backup_row = self.find_backup(&shown)?;
        let job = backup_row
            .as_ref()
            .map(|r| r.job.clone())
            .or_else(|| insp.as_ref().and_then(|i| i.manifest.as_ref()).map(|m| m.job.clone()))
            .unwrap_or_else(|| "verify".into());
        let destination = match &opts.restore_test {
            Some(j) => j.db.display(),
            None => shown.parent().map(|p| p.display().to_string()).unwrap_or_default(),
        };
        let database = insp.as_ref().and_then(|i| i.manifest.as_ref().map(|m| m.database.clone()));
        // Verifies of one job take turns on their own lock (not the job's: a
        // verify may run beside a backup). Holding it, any verify row of the
        // job still marked running was left by a process that died.
        let lock_name = format!("{}.verify", if crate::names::validate_job_name(&job).is_ok() { job.as_str() } else { "verify" });
        let _verify_lock = JobLock::acquire_wait(&self.data.lock_dir(), &lock_name, JOB_LOCK_WAIT, self.cancel).map_err(|e| {
            if e.kind() == ErrorKind::Busy {
                Error::new(ErrorKind::Busy, format!("Another verify of job \"{job}\" is still running; wait for it to finish, then try again."))
            } else {
                e
            }
        })?;
        self.history.mark_interrupted_kind(
            &job,
            RunKind::Verify,
            started_at,
            "Interrupted: Nightjar stopped before this verify finished (crash, power loss or kill).",
        )?;
        let run = self.new_run(RunKind::Verify, &job, destination, insp.as_ref(), database, started_at);
        let run_id = self.history.start_run(&run)?;
        let result = self.verify_steps(&path, opts, backup_row.as_ref(), &job);
        match result {
            Ok(mut report) => {
                report.run_id = run_id;
                report.duration_ms = ms(t0.elapsed());
                report.file.clone_from(&path_text);
                self.history.finish_run(
                    run_id,
                    &RunOutcome {
                        status: RunStatus::Success,
                        finished_at: self.clock.now(),
                        size: Some(report.size),
                        file: Some(path_text),
                        sha256: Some(report.sha256.clone()),
                        error: None,
                        error_kind: None,
                    },
                )?;
                tracing::info!(file = %report.file, "verify finished: {}", report.message);
                Ok(report)
            }
            Err(e) => {
                let e = name_origin(e, &path, opts.origin.as_ref());
                let outcome = self.failed_outcome(&e, Some(&shown), insp.as_ref().map(|i| i.size));
                if let Err(h) = self.history.finish_run(run_id, &outcome) {
                    tracing::error!("could not record the failure in the history: {}", h.detailed());
                }
                tracing::warn!(file = %path.display(), "verify failed: {}", e.detailed());
                Err(e)
            }
        }
    }

    fn verify_steps(&self, path: &Path, opts: &VerifyOptions, backup_row: Option<&RunRecord>, label: &str) -> Result<VerifyReport> {
        let (server, vopts) = match &opts.restore_test {
            Some(job) => {
                self.observer.stage(label, Stage::Preparing);
                let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
                let v = ValidateOptions {
                    engine: Some(job.db.engine),
                    database: Some(job.db.database.clone()),
                    pg_restore: job.docker_container.is_none().then(|| server.pg_restore()).flatten(),
                    tool_dir: job.tool_dir.clone(),
                    docker_container: job.docker_container.clone(),
                    keys: opts.keys.clone(),
                };
                (Some((server, job)), v)
            }
            None => (
                None,
                ValidateOptions {
                    keys: opts.keys.clone(),
                    ..ValidateOptions::default()
                },
            ),
        };
        let validation = validate(path, &vopts, self.observer, label, self.cancel)?;
        let name = validation.inspection.name();
        let role = opts.restore_test.as_ref().map(|j| trust::connecting_role(&j.db));
        let trust = self.trust_of(&validation.inspection, Some(&validation.sha256), opts.origin.as_deref(), role.as_deref())?;
        // Only a test restore runs the file; a plain check needs no acknowledgement.
        if server.is_some() && trust.needs_acknowledgement() && !opts.trust_file {
            return Err(trust.refusal("test-restore it"));
        }
        let mut restore_test = None;
        let mut verified_at = None;
        if let Some((server, job)) = server {
            let t1 = Instant::now();
            let base = job.db.database.clone();
            let mut at = self.clock.now();
            let mut scratch = None;
            for _ in 0..120 {
                let n = derived_name(&base, VERIFY_MARKER, &names::stamp(at, job.timezone));
                if server.existing(&[n.as_str()])?.is_empty() {
                    scratch = Some(n);
                    break;
                }
                at += chrono::Duration::seconds(1);
            }
            let scratch = scratch.ok_or_else(|| {
                Error::other(format!("No free name for a scratch database on {}; drop old ones with `nightjar kept drop`.", server.name()))
            })?;
            refuse_ambiguous(&server, &validation)?;
            self.observer.stage(label, Stage::Restoring);
            server.create_database(&scratch, None)?;
            let counted = (|| {
                let expected = Expected {
                    inspection: &validation.inspection,
                    sha256: vec![(validation.sha256.clone(), format!("Restoring {} failed (the file changed while it was being restored)", validation.inspection.path.display()))],
                };
                self.load(&server, &scratch, &expected, label)?;
                self.observer.stage(label, Stage::Checking);
                server.table_counts(&scratch)
            })();
            let dropped = server.drop_database(&scratch, true);
            let counts = match counted {
                Ok(c) => c,
                Err(e) => {
                    let base = e.message().trim_end_matches('.').to_string();
                    let cleanup = match &dropped {
                        Ok(()) => "the scratch database was removed".to_string(),
                        Err(_) => format!("drop the scratch database with `nightjar kept drop {scratch}`"),
                    };
                    return Err(Error::new(e.kind(), format!("The test restore of {name} into a scratch database on {} failed: {base}; {cleanup}.", server.name())));
                }
            };
            if let Err(d) = dropped {
                tracing::warn!(scratch, "could not drop the scratch database: {}", d.detailed());
            }
            let tables: Vec<TableRows> = counts.into_iter().map(|(schema, table, rows)| TableRows { schema, table, rows }).collect();
            let now = self.clock.now();
            if let Some(row) = backup_row.filter(|r| trust.backup_run_id == Some(r.id)) {
                self.history.mark_verified(row.id, now)?;
                verified_at = Some(now);
            }
            restore_test = Some(RestoreTest {
                server: server.name(),
                scratch_database: scratch,
                table_count: tables.len(),
                total_rows: tables.iter().map(|t| t.rows).sum(),
                tables,
                duration_ms: ms(t1.elapsed()),
            });
        }
        let checksum_text = match validation.checksum {
            ChecksumStatus::Verified => "its sha256 matches the manifest",
            ChecksumStatus::NoManifest => "there is no manifest to check its sha256 against",
        };
        let mut message = format!("{name} is {} and decompresses completely; {checksum_text}. {}", validation.inspection.describe(), trust.message);
        if let Some(t) = &restore_test {
            message.push_str(&format!(" A test restore on {} loaded {} tables with {} rows.", t.server, t.table_count, t.total_rows));
            if verified_at.is_some() {
                message.push_str(" Marked verified in the history.");
            } else {
                message.push_str(" The file is not in the history, so nothing was marked verified.");
            }
        }
        Ok(VerifyReport {
            run_id: 0,
            file: path.display().to_string(),
            status: RunStatus::Success,
            content: validation.inspection.content,
            compression: validation.inspection.compression,
            size: validation.inspection.size,
            sha256: validation.sha256,
            checksum: validation.checksum,
            trust,
            data_size: validation.data_size,
            restore_test,
            backup_run_id: backup_row.map(|r| r.id),
            verified_at,
            duration_ms: 0,
            message,
        })
    }
}

/// A plain script whose strings read differently without
/// `standard_conforming_strings` loads only through a psql that restricts
/// commands itself (see [`guard`]): refused before the scratch database
/// is created when this psql has not `\restrict`.
fn refuse_ambiguous(server: &DbServer, validation: &Validation) -> Result<()> {
    let DbServer::Postgres(pg) = server else { return Ok(()) };
    if validation.inspection.content != Content::PostgresPlain || pg.psql_has_restrict() {
        return Ok(());
    }
    match validation.ambiguous_line {
        Some(line) => {
            let r = guard::Refusal { line, what: "\\'".into(), kind: guard::RefusalKind::AmbiguousString };
            Err(invalid(format!("{} cannot be restored with {}: {r}.", validation.inspection.path.display(), pg.psql.display())))
        }
        None => Ok(()),
    }
}
