//! A backup of a job with several destinations: one dump, read once,
//! compressed, encrypted and hashed once, fanned out to every destination
//! ([`crate::fanout`]). A destination that fails is dropped without
//! stopping the others; each copy's outcome goes to the history
//! (`copies`). The run is good only when every copy is; a copy that failed
//! is made again from a good one ([`Runner::copy_missing`]), with no new
//! dump: once at the end of the run, on the scheduler's retries, and by
//! hand (`nightjar copy RUN_ID`).

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{BackupOptions, BackupReport, Runner};
use crate::config::{DestinationSpec, Job};
use crate::destination::{Destination, PendingFile};
use crate::fanout::FanOut;
use crate::history::{CopyRecord, CopyStatus, NewRun, RunKind, RunOutcome};
use crate::lock::JobLock;
use crate::manifest::Manifest;
use crate::model::RunStatus;
use crate::names::MANIFEST_SUFFIX;
use crate::observer::Stage;
use crate::pipeline::HashingWriter;
use crate::{Error, ErrorKind, Result};

/// How long the end of a run waits before making a failed copy again
/// (`NIGHTJAR_COPY_RETRY_PAUSE_MS` overrides it, for tests).
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// One destination of the run.
struct Copy {
    spec: DestinationSpec,
    dest: Option<Box<dyn Destination>>,
    pending: Option<Box<dyn PendingFile>>,
    file: Option<String>,
    error: Option<Error>,
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The sentence of a run some of whose copies failed: each failed copy
/// with its reason, then the good ones.
#[must_use]
pub fn partial_failure(failed: &[(String, String)], good: &[String]) -> String {
    let failures: Vec<String> = failed.iter().map(|(d, e)| format!("The copy to {d} failed: {}", e.trim_end_matches('.'))).collect();
    let mut text = failures.join("; ");
    if !good.is_empty() {
        let places = and_list(good);
        if good.len() == 1 {
            text.push_str(&format!("; the copy in {places} is good."));
        } else {
            text.push_str(&format!("; the copies in {places} are good."));
        }
    } else {
        text.push('.');
    }
    text
}

/// Each failed copy of the run with its reason.
fn failed_copies(copies: &[Copy]) -> Vec<(String, String)> {
    copies.iter().filter_map(|c| c.error.as_ref().map(|e| (c.spec.display(), e.message().to_string()))).collect()
}

/// The run's error when some of its copies (`rows`) failed.
fn rows_failure(rows: &[CopyRecord]) -> Option<Error> {
    let failed: Vec<(String, String)> = rows.iter().filter(|r| r.status == CopyStatus::Failed).map(|r| (r.destination.clone(), r.error.clone().unwrap_or_default())).collect();
    if failed.is_empty() {
        return None;
    }
    let good: Vec<String> = rows.iter().filter(|r| r.status == CopyStatus::Good).map(|r| r.destination.clone()).collect();
    Some(Error::destination(partial_failure(&failed, &good)))
}

/// A write error of one destination, in one sentence naming the file.
pub(super) fn write_error(spec: &DestinationSpec, name: &str, e: std::io::Error) -> Error {
    let dir = match spec {
        DestinationSpec::Folder(p) => p.clone(),
        DestinationSpec::OneDrive(p) => p.into(),
        // The upload's own sentence says what failed and what to do.
        DestinationSpec::S3(_) => return Error::destination_io(e.to_string(), e),
    };
    Error::destination_io(crate::destination::local::describe_io("write", &dir.join(name), &dir, &e), e)
}

/// The file name in a full path or URL of a copy.
fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

impl Runner<'_> {
    /// The run of a job with several destinations (the lock is held and the
    /// run's row started). Records the copies and the outcome.
    pub(super) fn attempt_many(
        &self,
        job: &Job,
        opts: &BackupOptions,
        new_run: &NewRun,
        run_id: Option<i64>,
        started_at: DateTime<Utc>,
        t0: Instant,
    ) -> Result<BackupReport> {
        let mut copies: Vec<Copy> = job.destinations.iter().map(|spec| Copy { spec: spec.clone(), dest: None, pending: None, file: None, error: None }).collect();
        let made = self.make_copies(job, opts, &mut copies, started_at, t0);
        let (mut report, manifest_sha) = match made {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(job = %job.name, run_id, "backup failed: {}", e.detailed());
                let outcome = RunOutcome::failure(&e, self.clock.now(), None, None);
                if let Err(h) = self.write_outcome(run_id, new_run, &outcome) {
                    tracing::error!(job = %job.name, "could not record the failure in the history: {}", h.detailed());
                }
                return Err(e);
            }
        };
        let good: Vec<String> = copies.iter().filter(|c| c.file.is_some()).map(|c| c.spec.display()).collect();
        let failed = failed_copies(&copies);
        let outcome = if failed.is_empty() {
            RunOutcome::success(report.finished_at, report.file.clone(), report.size, manifest_sha.clone())
        } else {
            let e = Error::destination(partial_failure(&failed, &good));
            let mut o = RunOutcome::failure(&e, report.finished_at, Some(report.file.clone()), Some(report.size));
            o.sha256 = Some(manifest_sha.clone());
            o
        };
        let id = match self.write_outcome(run_id, new_run, &outcome) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(job = %job.name, "the backup could not be recorded in the history: {}", e.detailed());
                report.warnings.push(format!("The backup {} is complete, but it could not be recorded in the history ({}).", report.file, e.message().trim_end_matches('.')));
                return if failed.is_empty() { Ok(report) } else { Err(Error::destination(partial_failure(&failed, &good))) };
            }
        };
        report.run_id = id;
        let now = self.clock.now();
        for (position, c) in copies.iter().enumerate() {
            let row = CopyRecord {
                run_id: id,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                destination: c.spec.display(),
                file: c.file.clone(),
                status: if c.file.is_some() { CopyStatus::Good } else { CopyStatus::Failed },
                error: c.error.as_ref().map(|e| e.message().to_string()),
                size: c.file.as_ref().map(|_| report.size),
                copied_from: None,
                updated_at: now,
            };
            if let Err(e) = self.history.record_copy(&row) {
                tracing::error!(job = %job.name, "could not record a copy in the history: {}", e.detailed());
            }
        }
        // Retention in every destination that holds this backup.
        if opts.prune && !job.retention.keeps_everything() {
            self.observer.stage(&job.name, Stage::Pruning);
            for c in &copies {
                let (Some(dest), Some(_)) = (&c.dest, &c.file) else { continue };
                match self.prune_with(job, &job.retention, dest.as_ref(), false) {
                    Ok(p) => {
                        report.pruned.extend(p.deleted);
                        report.warnings.extend(p.errors);
                    }
                    Err(e) => report.warnings.push(e.message().to_string()),
                }
            }
        }
        for w in &report.warnings {
            self.observer.warning(&job.name, w);
            tracing::warn!(job = %job.name, "{w}");
        }
        if !failed.is_empty() {
            // Once more at the end of the run, from a good copy.
            let pause = std::env::var("NIGHTJAR_COPY_RETRY_PAUSE_MS").ok().and_then(|v| v.parse().ok()).map_or(RETRY_PAUSE, Duration::from_millis);
            self.pause(pause);
            match self.copy_missing(job, id) {
                Ok(rows) => {
                    if let Some(e) = rows_failure(&rows) {
                        return Err(e);
                    }
                    tracing::info!(job = %job.name, run_id = id, "every copy is good after copying from a good one");
                    report.copies = rows;
                }
                Err(e) => {
                    tracing::warn!(job = %job.name, run_id = id, "the failed copy could not be made again: {}", e.detailed());
                    return Err(Error::destination(partial_failure(&failed, &good)));
                }
            }
        } else {
            report.copies = self.history.copies(id).unwrap_or_default();
        }
        tracing::info!(job = %job.name, file = %report.file, size = report.size, duration_ms = report.duration_ms, copies = copies.len(), "backup finished");
        Ok(report)
    }

    /// Waits `d`, or less when the run is cancelled.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())));
        }
    }

    /// Stages 1 to 3 for every destination. The report (of the primary good
    /// copy) and the sha256; fails only when no copy could be made.
    fn make_copies(&self, job: &Job, opts: &BackupOptions, copies: &mut [Copy], started_at: DateTime<Utc>, t0: Instant) -> Result<(BackupReport, String)> {
        self.observer.stage(&job.name, Stage::Preparing);
        let mut files = Vec::new();
        for c in copies.iter_mut() {
            let opened = self.engine.open_destination(&c.spec).and_then(|d| {
                let f = self.prepare_destination(job, &c.spec, d.as_ref())?;
                Ok((d, f))
            });
            match opened {
                Ok((d, f)) => {
                    files.extend(f);
                    c.dest = Some(d);
                }
                Err(e) => {
                    tracing::warn!(job = %job.name, destination = %c.spec.display(), "a destination is not ready: {}", e.detailed());
                    c.error = Some(e);
                }
            }
        }
        let none_left = |copies: &mut [Copy]| -> Error {
            let failed = failed_copies(copies);
            let kind = copies.iter().find_map(|c| c.error.as_ref().map(Error::kind)).unwrap_or(ErrorKind::Destination);
            Error::new(kind, format!("{} Nothing was saved.", partial_failure(&failed, &[])))
        };
        if copies.iter().all(|c| c.dest.is_none()) {
            return Err(none_left(copies));
        }
        let mut ready = self.prepare_dump(job, opts, &files, started_at)?;
        let name = ready.name.clone();
        let mut sinks = Vec::new();
        let mut index = Vec::new();
        for (i, c) in copies.iter_mut().enumerate() {
            let Some(d) = &c.dest else { continue };
            match d.create(&name) {
                Ok(p) => {
                    sinks.push(p);
                    index.push(i);
                }
                Err(e) => c.error = Some(e),
            }
        }
        if sinks.is_empty() {
            return Err(none_left(copies));
        }
        let mut fan = FanOut::new(sinks);
        let all_failed = std::cell::Cell::new(false);
        let dumped = self.dump_into(job, opts, &mut ready, &mut fan, t0, |e| {
            all_failed.set(true);
            Error::destination_io(e.to_string(), e)
        });
        let figures = match dumped {
            Ok((_, figures)) => figures,
            Err(e) if all_failed.get() => {
                for (k, r) in fan.finish().into_iter().enumerate() {
                    if let Err(io) = r {
                        let c = &mut copies[index[k]];
                        c.error = Some(write_error(&c.spec, &name, io));
                    }
                }
                drop(e);
                return Err(none_left(copies));
            }
            // The dump itself failed (tool, cancel): every pending file is discarded.
            Err(e) => return Err(e),
        };
        for (k, r) in fan.finish().into_iter().enumerate() {
            let c = &mut copies[index[k]];
            match r {
                Ok(p) => c.pending = Some(p),
                Err(io) => {
                    tracing::warn!(job = %job.name, destination = %c.spec.display(), "a copy failed: {io}");
                    c.error = Some(write_error(&c.spec, &name, io));
                }
            }
        }
        self.observer.stage(&job.name, Stage::Finishing);
        let manifest = self.manifest(job, opts, &ready, &figures, started_at);
        // Each copy is committed on its own thread: a folder's flush to disk,
        // the end of an S3 upload and a OneDrive upload (which can only start
        // now, as Graph needs the size first) overlap rather than add up.
        let pendings: Vec<(usize, Box<dyn PendingFile>)> = copies.iter_mut().enumerate().filter_map(|(i, c)| c.pending.take().map(|p| (i, p))).collect();
        let committed: Vec<(usize, Result<()>)> = std::thread::scope(|s| {
            let (name, manifest) = (&name, &manifest);
            let running: Vec<_> = pendings
                .into_iter()
                .filter_map(|(i, pending)| {
                    let dest = copies[i].dest.as_deref()?;
                    let span = tracing::Span::current();
                    Some((i, s.spawn(move || span.in_scope(|| Self::commit_to(dest, name, pending, manifest)))))
                })
                .collect();
            running.into_iter().map(|(i, h)| (i, h.join().unwrap_or_else(|_| Err(Error::destination("Committing the copy failed unexpectedly; nothing was saved there."))))).collect()
        });
        for (i, r) in committed {
            let c = &mut copies[i];
            match r {
                Ok(()) => c.file = c.dest.as_ref().map(|d| d.full_name(&name)),
                Err(e) => {
                    tracing::warn!(job = %job.name, destination = %c.spec.display(), "a copy could not be committed: {}", e.detailed());
                    c.error = Some(e);
                }
            }
        }
        let Some(primary) = copies.iter().find(|c| c.file.is_some()) else {
            return Err(none_left(copies));
        };
        let prepared = ready.tool.as_ref().expect("prepared");
        let finished_at = manifest.finished_at;
        let report = BackupReport {
            run_id: 0,
            job: job.name.clone(),
            status: RunStatus::Success,
            trigger: opts.trigger,
            file: primary.file.clone().unwrap_or_default(),
            name,
            size: figures.bytes_out,
            sha256: figures.sha256.clone(),
            dump_size: figures.bytes_in,
            duration_ms: crate::history::duration_ms(started_at, finished_at),
            started_at,
            finished_at,
            destination: job.destinations_display(),
            server_version: prepared.server_version(),
            tool_version: format!("{} {}", prepared.tool(), prepared.tool_version()),
            pruned: Vec::new(),
            warnings: Vec::new(),
            copies: Vec::new(),
        };
        Ok((report, figures.sha256))
    }

    /// Makes the failed copies of backup run `run_id` of `job` again, from
    /// a good copy (a folder on this computer when there is one), checked
    /// against the manifest's sha256; no new dump. Takes the job's lock.
    /// The copies afterwards; the run turns good when every copy is.
    ///
    /// # Errors
    /// When the job is busy, the run is not a backup of `job` with several
    /// copies, or no good copy can be read.
    pub fn copy_run(&self, job: &Job, run_id: i64) -> Result<Vec<CopyRecord>> {
        let _lock = JobLock::try_acquire(&self.data.lock_dir(), &job.name)?;
        self.copy_missing(job, run_id)
    }

    /// [`Runner::copy_run`] with the lock held.
    pub(super) fn copy_missing(&self, job: &Job, run_id: i64) -> Result<Vec<CopyRecord>> {
        let run = self.history.get(run_id)?.filter(|r| r.kind == RunKind::Backup && r.job == job.name).ok_or_else(|| {
            Error::config(format!("Run {run_id} is not a backup of \"{}\"; pick a run id from `nightjar history --job {}`.", job.name, job.name))
        })?;
        let mut rows = self.history.copies(run_id)?;
        if rows.is_empty() {
            return Err(Error::config(format!("Run {run_id} has one destination; there is nothing to copy. Run `nightjar backup --job {}` instead.", job.name)));
        }
        let good: Vec<&CopyRecord> = rows.iter().filter(|r| r.status == CopyStatus::Good).collect();
        let is_folder = |r: &CopyRecord| matches!(DestinationSpec::parse(&r.destination, None), Ok(DestinationSpec::Folder(_)));
        let Some(source) = good.iter().find(|r| is_folder(r)).or_else(|| good.first()).copied().cloned() else {
            return Err(Error::destination(format!("Run {run_id} of \"{}\" has no good copy to copy from; run `nightjar backup --job {}` again.", job.name, job.name)));
        };
        if rows.iter().all(|r| r.status == CopyStatus::Good) {
            return Ok(rows);
        }
        let name = base_name(source.file.as_deref().unwrap_or_default()).to_string();
        let src = self.engine.open_destination(&DestinationSpec::parse(&source.destination, None)?)?;
        let mut manifest_bytes = Vec::new();
        src.open(&format!("{name}{MANIFEST_SUFFIX}"))?
            .read_to_end(&mut manifest_bytes)
            .map_err(|e| Error::destination(format!("Could not read the manifest of {} ({e}); run `nightjar backup --job {}` again.", source.file.as_deref().unwrap_or_default(), job.name)))?;
        let manifest = Manifest::parse(&manifest_bytes).ok_or_else(|| {
            Error::destination(format!("The manifest of {} cannot be read; run `nightjar backup --job {}` again.", source.file.as_deref().unwrap_or_default(), job.name))
        })?;
        for row in rows.iter_mut().filter(|r| r.status == CopyStatus::Failed) {
            self.observer.stage(&job.name, Stage::Finishing);
            let made = DestinationSpec::parse(&row.destination, None)
                .and_then(|spec| self.engine.open_destination(&spec))
                .and_then(|dest| {
                    dest.prepare()?;
                    copy_one(src.as_ref(), dest.as_ref(), &name, &manifest_bytes, &manifest.sha256).map(|size| (dest.full_name(&name), size))
                });
            row.updated_at = self.clock.now();
            match made {
                Ok((file, size)) => {
                    tracing::info!(job = %job.name, run_id, from = %source.destination, to = %row.destination, "a failed copy was made from a good one");
                    row.status = CopyStatus::Good;
                    row.file = Some(file);
                    row.size = Some(size);
                    row.error = None;
                    row.copied_from = Some(source.destination.clone());
                }
                Err(e) => {
                    tracing::warn!(job = %job.name, run_id, to = %row.destination, "copying from a good copy failed: {}", e.detailed());
                    row.error = Some(e.message().to_string());
                }
            }
            self.history.record_copy(row)?;
        }
        if rows.iter().all(|r| r.status == CopyStatus::Good) && run.status != RunStatus::Success {
            let outcome = RunOutcome::success(
                run.finished_at.unwrap_or_else(|| self.clock.now()),
                run.file.clone().unwrap_or_else(|| source.file.clone().unwrap_or_default()),
                run.size.unwrap_or(manifest.size),
                manifest.sha256.clone(),
            );
            self.history.finish_run(run_id, &outcome)?;
        }
        Ok(rows)
    }

    /// A scheduled retry of a run whose dump was good but a copy failed:
    /// the copy is made from a good one instead of dumping again. `None`
    /// when the last run is not such a run.
    pub(super) fn retry_by_copying(&self, job: &Job) -> Option<Result<BackupReport>> {
        let last = self.history.last_run(&job.name, RunKind::Backup).ok().flatten()?;
        if last.status != RunStatus::Failed {
            return None;
        }
        let rows = self.history.copies(last.id).ok()?;
        if !rows.iter().any(|r| r.status == CopyStatus::Good) {
            return None;
        }
        tracing::info!(job = %job.name, run_id = last.id, "retrying by copying from a good copy, without a new dump");
        Some(self.copy_missing(job, last.id).and_then(|rows| {
            if let Some(e) = rows_failure(&rows) {
                return Err(e);
            }
            let run = self.history.get(last.id)?.unwrap_or(last.clone());
            let finished_at = run.finished_at.unwrap_or(run.started_at);
            let file = run.file.clone().unwrap_or_default();
            Ok(BackupReport {
                run_id: run.id,
                job: job.name.clone(),
                status: RunStatus::Success,
                trigger: run.trigger,
                name: base_name(&file).to_string(),
                file,
                size: run.size.unwrap_or(0),
                sha256: run.sha256.clone().unwrap_or_default(),
                dump_size: 0,
                duration_ms: run.duration_ms.unwrap_or(0),
                started_at: run.started_at,
                finished_at,
                destination: job.destinations_display(),
                server_version: None,
                tool_version: String::new(),
                pruned: Vec::new(),
                warnings: Vec::new(),
                copies: rows,
            })
        }))
    }
}

/// Copies `name` and its manifest from `src` into `dest`, checking the
/// bytes against `sha256` before they go live. Its size.
fn copy_one(src: &dyn Destination, dest: &dyn Destination, name: &str, manifest: &[u8], sha256: &str) -> Result<u64> {
    let mismatch = |got: &str| {
        Error::destination(format!("The copy read from {} does not match its manifest (sha256 {got}, expected {sha256}); nothing was copied. Run the backup again.", src.location()))
    };
    let manifest_name = format!("{name}{MANIFEST_SUFFIX}");
    if dest.exists(name)? {
        // Already there (a copy made before): keep it when it is the same bytes.
        let (size, got) = crate::pipeline::sha256_of(dest.open(name)?).map_err(|e| Error::destination(format!("Could not read {} ({e}).", dest.full_name(name))))?;
        if got != sha256 {
            return Err(Error::destination(format!(
                "{} already holds a different file named {name}; move it away and copy again.",
                dest.location()
            )));
        }
        if !dest.exists(&manifest_name)? {
            let mut m = dest.create(&manifest_name)?;
            m.write_all(manifest).map_err(|e| Error::destination(format!("Could not write the manifest in {} ({e}).", dest.location())))?;
            m.commit()?;
        }
        return Ok(size);
    }
    let pending = dest.create(name)?;
    let reader = src.open(name)?;
    let (pending, size, got) = hash_of(reader, pending).map_err(|e| Error::destination_io(format!("Copying {name} from {} to {} failed ({e}); nothing was copied.", src.location(), dest.location()), e))?;
    if got != sha256 {
        pending.abort();
        return Err(mismatch(&got));
    }
    let mut m = dest.create(&manifest_name)?;
    m.write_all(manifest).map_err(|e| Error::destination(format!("Could not write the manifest in {} ({e}); nothing was copied.", dest.location())))?;
    pending.commit()?;
    if let Err(e) = m.commit() {
        let _ = dest.remove(name);
        return Err(e);
    }
    Ok(size)
}

/// Streams `r` into `w`, hashing; `w`, the size and the sha256.
fn hash_of<W: std::io::Write>(mut r: Box<dyn std::io::Read + Send>, w: W) -> std::io::Result<(W, u64, String)> {
    let mut h = HashingWriter::new(w);
    std::io::copy(&mut r, &mut h)?;
    h.flush()?;
    Ok(h.into_parts())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_failure_sentence_names_the_failed_copy_and_the_good_ones() {
        let s = partial_failure(&[("s3://backups/app".into(), "Connection reset.".into())], &["/home/me/OneDrive/Backups/app".into(), "onedrive:/Backups/app".into()]);
        assert_eq!(s, "The copy to s3://backups/app failed: Connection reset; the copies in /home/me/OneDrive/Backups/app and onedrive:/Backups/app are good.");
        let s = partial_failure(&[("a".into(), "x.".into())], &["b".into()]);
        assert_eq!(s, "The copy to a failed: x; the copy in b is good.");
    }
}
