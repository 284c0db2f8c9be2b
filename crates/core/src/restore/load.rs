//! Stage 3, load (and stage 2 as the file streams by): the file read
//! once — hashed, decompressed, guarded — into a fresh temporary database
//! with psql, pg_restore or the MySQL client.
//!
//! The loader gets the end of its input only after the file proved
//! itself: the guard saw no command ([`guard`], [`mysql::DumpGuard`]), the
//! data decompressed to the end, the dump tool's closing line is there and
//! the sha256 is the one expected ([`validate::check_end`], [`Expected`]).
//! A file that fails any of these is cut off before psql's single
//! transaction commits; the caller then drops the temporary database.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::config::Job;
use crate::inspect::Inspection;
use crate::model::Format;
use crate::observer::{Progress, Stage};
use crate::{Error, ErrorKind, Result};

use super::feed::{self, FeedChild, StreamError, Stdout, Streamed};
use super::names::{self, derived_name, BEFORE_MARKER, RESTORE_MARKER};
use super::validate::{self, ChecksumStatus};
use super::{guard, invalid, mysql, server_disk_full, DbInfo, DbServer, RestoreMode, Restorer};

/// What a load must prove about the file as it streams by, besides the
/// checks of [`validate::check_end`].
pub(super) struct Expected<'a> {
    /// The file as inspected just before the load (its manifest).
    pub(super) inspection: &'a Inspection,
    /// sha256s the file must have, each with the sentence when it has not.
    pub(super) sha256: Vec<(String, String)>,
}

impl Expected<'_> {
    /// Whether `sha256` is what the manifest and the others say.
    fn check_sha256(&self, sha256: &str) -> Result<()> {
        if let Some(m) = &self.inspection.manifest
            && !m.sha256.eq_ignore_ascii_case(sha256)
        {
            return Err(validate::manifest_mismatch(self.inspection));
        }
        match self.sha256.iter().find(|(s, _)| !s.eq_ignore_ascii_case(sha256)) {
            Some((_, message)) => Err(invalid(message.clone())),
            None => Ok(()),
        }
    }
}

/// What loading a file into a database produced.
pub(super) struct Loaded {
    /// The figures of the file as it streamed by.
    pub(super) streamed: Streamed,
    /// Checked against a manifest or not.
    pub(super) checksum: ChecksumStatus,
}

/// The temporary database a restore loads, and the name the replaced target gets.
pub(super) struct Temporary {
    /// `<db>__nightjar_restore_<stamp>`.
    pub(super) name: String,
    /// `<db>__before_restore_<stamp>` (replace only).
    pub(super) keep_as: Option<String>,
}

/// What stands between the file and the loader.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// A plain script for psql: [`guard::MetaGuard`]; `restricts`: psql has `\restrict`.
    Psql { restricts: bool },
    /// A MySQL dump: [`mysql::DumpGuard`].
    Mysql,
    /// A custom archive (pg_restore runs no psql commands).
    None,
}

impl Restorer<'_> {
    fn free_names(&self, server: &DbServer, db: &str, job: &Job, mode: RestoreMode) -> Result<(String, Option<String>)> {
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

    /// Creates the temporary database, under names free on the server,
    /// with the target's properties (`like`).
    pub(super) fn create_temporary(&self, server: &DbServer, db: &str, job: &Job, mode: RestoreMode, like: Option<&DbInfo>) -> Result<Temporary> {
        let (name, keep_as) = self.free_names(server, db, job, mode)?;
        server.create_database(&name, like)?;
        Ok(Temporary { name, keep_as })
    }

    /// Streams the file into `db` with psql, pg_restore or the MySQL
    /// client, checking it on the way (see the module's opening comment).
    pub(super) fn load(&self, server: &DbServer, db: &str, expected: &Expected<'_>, label: &str) -> Result<Loaded> {
        let t0 = Instant::now();
        let insp = expected.inspection;
        let name = insp.name();
        let guard = guard_for(server, insp);
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
        let streamed = crate::source::child::with_cancel_watch(pid, self.cancel, || match guard {
            // A plain script: psql reads it through the guard, inside
            // Nightjar's own `\restrict` where the client has it.
            Guard::Psql { restricts } => {
                let mut guarded = guard::MetaGuard::new(&mut child, !restricts);
                if restricts {
                    let key = guard::restrict_key().map_err(StreamError::Write)?;
                    guarded.get_mut().write_all(format!("\\restrict {key}\n").as_bytes()).map_err(StreamError::Write)?;
                }
                let r = feed::stream_file(&insp.path, insp.compression, insp.keys(), &mut guarded, &mut report, self.cancel);
                refusal = guarded.finish().err().map(|r| refused_command(server, insp, &r));
                r
            }
            Guard::Mysql => {
                let mut guarded = mysql::DumpGuard::new(&mut child);
                let r = feed::stream_file(&insp.path, insp.compression, insp.keys(), &mut guarded, &mut report, self.cancel)
                    .and_then(|s| guarded.finish().map(|()| s).map_err(StreamError::Write));
                refusal = guarded.refused().map(|r| validate::switches_database(insp, &r.0));
                r
            }
            Guard::None => feed::stream_file(&insp.path, insp.compression, insp.keys(), &mut child, &mut report, self.cancel),
        });
        let stop = |mut child: FeedChild| {
            child.kill();
            let _ = child.finish();
        };
        if let Some(e) = refusal {
            // Nothing of the refused line reached the loader; what it
            // loaded dies with it, and the caller drops the database.
            stop(child);
            return Err(e);
        }
        let failed = |f: &crate::source::ChildFailure| {
            let line = server.error_line(&f.stderr_tail).unwrap_or_else(|| f.status_text());
            if tool == "pg_restore" && f.stderr_tail.contains("unsupported version") {
                return Error::new(
                    ErrorKind::Tool,
                    format!("{} was written by a newer pg_dump than this pg_restore can read ({line}); install newer PostgreSQL client tools or set the job's `tool_dir`", insp.path.display()),
                );
            }
            if server_disk_full(&f.stderr_tail) {
                return Error::new(
                    ErrorKind::Tool,
                    format!("The database server {} ran out of disk space while {name} was loaded into a temporary database ({tool}: {line}); free space on the server's disk, then try again", server.name()),
                );
            }
            Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool}: {line})"))
        };
        let stopped = || Error::new(ErrorKind::Interrupted, format!("The restore of {name} was stopped"));
        let streamed = match streamed {
            Ok(s) => s,
            Err(_) if self.cancel.load(Ordering::SeqCst) => {
                stop(child);
                return Err(stopped());
            }
            Err(StreamError::Cancelled) => {
                stop(child);
                return Err(stopped());
            }
            Err(StreamError::Read(e)) => {
                stop(child);
                return Err(validate::read_error(insp, &e));
            }
            Err(StreamError::Decode(e)) => {
                stop(child);
                return Err(validate::decode_error(insp, &e));
            }
            Err(StreamError::Write(e)) => {
                // The loader stopped reading: its own failure, unless the
                // file is damaged (then that is what to say).
                let failure = match child.finish() {
                    Err(f) => failed(&f),
                    Ok(_) => Error::new(ErrorKind::Tool, format!("Restoring {name} into a fresh database failed ({tool} stopped reading before the end: {e})")),
                };
                return Err(damage(expected).unwrap_or(failure));
            }
        };
        // The whole file went by: it proves itself before the loader sees
        // the end of its input (psql would commit then).
        let checksum = match validate::check_end(insp, &streamed).and_then(|c| expected.check_sha256(&streamed.sha256).map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                stop(child);
                return Err(e);
            }
        };
        if let Err(f) = child.finish() {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(stopped());
            }
            return Err(failed(&f));
        }
        Ok(Loaded { streamed, checksum })
    }
}

/// The guard a load of `insp` on `server` goes through.
fn guard_for(server: &DbServer, insp: &Inspection) -> Guard {
    match server {
        DbServer::Postgres(_) if insp.format() == Some(Format::Custom) => Guard::None,
        DbServer::Postgres(pg) => Guard::Psql { restricts: pg.psql_has_restrict() },
        DbServer::Mysql(_) => Guard::Mysql,
    }
}

/// The sentence for a plain script the guard stopped.
fn refused_command(server: &DbServer, insp: &Inspection, r: &guard::Refusal) -> Error {
    let path = insp.path.display();
    match server {
        DbServer::Postgres(pg) if r.kind == guard::RefusalKind::AmbiguousString => {
            invalid(format!("{path} cannot be restored with {}: {r}.", pg.psql.display()))
        }
        _ => invalid(format!("{path} cannot be restored: {r}.")),
    }
}

/// After the loader failed: the file's damage, when its sha256 (read
/// again) is not the one expected.
fn damage(expected: &Expected<'_>) -> Option<Error> {
    if expected.inspection.manifest.is_none() && expected.sha256.is_empty() {
        return None;
    }
    let (_, sha256) = std::fs::File::open(&expected.inspection.path).and_then(crate::pipeline::sha256_of).ok()?;
    expected.check_sha256(&sha256).err()
}
