//! Stage 3, load: the file streamed into a fresh temporary database with
//! psql or pg_restore (the guard between a plain script and psql).

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::config::Job;
use crate::model::Format;
use crate::observer::{Progress, Stage};
use crate::{Error, ErrorKind, Result};

use super::feed::{self, FeedChild, StreamError, Stdout, Streamed};
use super::names::{self, derived_name, BEFORE_MARKER, RESTORE_MARKER};
use super::{guard, invalid, server_disk_full, DbServer, RestoreMode, Restorer, Validation};

/// What loading a file into a database produced.
pub(super) struct Loaded {
    pub(super) streamed: Streamed,
}

impl Restorer<'_> {
    pub(super) fn free_names(&self, server: &DbServer, db: &str, job: &Job, mode: RestoreMode) -> Result<(String, Option<String>)> {
        let mut at = self.clock.now();
        for _ in 0..120 {
            let stamp = names::stamp(at, job.timezone);
            let tmp = derived_name(db, RESTORE_MARKER, &stamp);
            let keep = (mode == RestoreMode::Replace).then(|| derived_name(db, BEFORE_MARKER, &stamp));
            let mut wanted = vec![tmp.as_str()];
            if let Some(k) = &keep {
                wanted.push(k);
            }
            if server.existing(&wanted)?.is_empty() {
                return Ok((tmp, keep));
            }
            at += chrono::Duration::seconds(1);
        }
        Err(Error::other(format!("No free name for the temporary copy of \"{db}\" on {}; drop old copies with `nightjar kept drop`.", server.name())))
    }

    /// Streams the validated file into `db` with psql or pg_restore.
    pub(super) fn load(&self, server: &DbServer, db: &str, validation: &Validation, label: &str) -> Result<Loaded> {
        let t0 = Instant::now();
        let insp = &validation.inspection;
        let path = insp.path.display().to_string();
        let name = insp.name();
        let client = self.psql_client(server, validation)?;
        let (cmd, tool) = server.load_command(db, insp.format());
        let mut child = FeedChild::spawn(cmd, Stdout::Discard).map_err(|e| {
            Error::new(ErrorKind::Tool, format!("{tool} could not be started ({e}); install the database's client tools or set the job's `tool_dir`."))
        })?;
        let pid = child.id();
        let observer = self.observer;
        let mut report = |file_bytes: u64, data_bytes: u64| {
            observer.progress(label, &Progress { stage: Stage::Restoring, bytes_in: file_bytes, bytes_out: data_bytes, elapsed: t0.elapsed() });
        };
        let mut refusal = None;
        let streamed = crate::source::child::with_cancel_watch(pid, self.cancel, || match client {
            // A plain script: psql reads it through the guard (the file
            // read again may not be the file validated), inside Nightjar's
            // own `\restrict` where the client has it.
            Some(restricts) => {
                let mut guarded = guard::MetaGuard::new(&mut child, !restricts);
                if restricts {
                    let key = guard::restrict_key().map_err(StreamError::Write)?;
                    guarded.get_mut().write_all(format!("\\restrict {key}\n").as_bytes()).map_err(StreamError::Write)?;
                }
                let r = feed::stream_file(&insp.path, insp.compression, &mut guarded, &mut report, self.cancel);
                refusal = guarded.finish().err();
                r
            }
            None => feed::stream_file(&insp.path, insp.compression, &mut child, &mut report, self.cancel),
        });
        if let Some(r) = refusal {
            // Nothing of the refused line reached psql; it dies with the
            // transaction it was in, and the caller drops the database.
            child.kill();
            let _ = child.finish();
            return Err(invalid(format!("{path} cannot be restored: {r}.")));
        }
        let failed = |f: &crate::source::ChildFailure| {
            let line = server.error_line(&f.stderr_tail).unwrap_or_else(|| f.status_text());
            if server_disk_full(&f.stderr_tail) {
                return Error::new(
                    ErrorKind::Tool,
                    format!("The database server {} ran out of disk space while {name} was loaded into a temporary database ({tool}: {line}); free space on the server's disk, then try again", server.name()),
                );
            }
            Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool}: {line})"))
        };
        let streamed = match streamed {
            Ok(s) => s,
            Err(StreamError::Cancelled) => {
                child.kill();
                let _ = child.finish();
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            Err(_) if self.cancel.load(Ordering::SeqCst) => {
                child.kill();
                let _ = child.finish();
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            Err(StreamError::Write(e)) => {
                return Err(match child.finish() {
                    Err(f) => failed(&f),
                    Ok(_) => Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool} stopped reading before the end: {e})")),
                });
            }
            Err(StreamError::Decode(e)) => {
                child.kill();
                let _ = child.finish();
                return Err(invalid(format!("Restoring {path} failed (it no longer decompresses: {e})")));
            }
            Err(StreamError::Read(e)) => {
                child.kill();
                let _ = child.finish();
                return Err(invalid(format!("Restoring {path} failed (it could not be read: {e})")));
            }
        };
        if streamed.sha256 != validation.sha256 {
            child.kill();
            let _ = child.finish();
            return Err(invalid(format!("Restoring {path} failed (the file changed while it was being restored)")));
        }
        if let Err(f) = child.finish() {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped")));
            }
            return Err(failed(&f));
        }
        Ok(Loaded { streamed })
    }

    /// For a plain PostgreSQL script: whether psql has `\restrict` (`None`
    /// for other loads). A file whose strings read differently without
    /// `standard_conforming_strings` is refused when it has not, as the
    /// guard alone could not tell what psql would run.
    pub(super) fn psql_client(&self, server: &DbServer, validation: &Validation) -> Result<Option<bool>> {
        let DbServer::Postgres(pg) = server else { return Ok(None) };
        if validation.inspection.format() == Some(Format::Custom) {
            return Ok(None);
        }
        let restricts = pg.psql_has_restrict();
        if !restricts && let Some(line) = validation.ambiguous_line {
            let r = guard::Refusal { line, what: "\\'".into(), kind: guard::RefusalKind::AmbiguousString };
            return Err(invalid(format!("{} cannot be restored with {}: {r}.", validation.inspection.path.display(), pg.psql.display())));
        }
        Ok(Some(restricts))
    }
}
