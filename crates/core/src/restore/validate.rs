//! Stage 2, validate: what a file must prove before its content may
//! replace anything (size and sha256 against the manifest, a complete
//! decompression, pg_dump's closing line or a readable archive, no psql
//! command). [`validate`] checks a file on its own (`nightjar verify`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use crate::db::DbUrl;
use crate::inspect::{self, Content, Inspection};
use crate::model::Engine;
use crate::observer::{Progress, RunObserver, Stage};
use crate::source::postgres::{self as pg_tools, PgTarget};
use crate::{Error, ErrorKind, Result};

use super::feed::{self, FeedChild, LenientSink, StreamError, Stdout, Streamed};
use super::{check_restorable, guard, invalid, ms, mysql, postgres};

/// Whether the file was checked against a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumStatus {
    /// Size and sha256 match the manifest beside the file.
    Verified,
    /// There is no manifest; only the decompression and format checks ran.
    NoManifest,
}

/// The outcome of the checks of a file.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// What the file is.
    pub inspection: Inspection,
    /// sha256 of the whole file.
    pub sha256: String,
    /// Checked against a manifest or not.
    pub checksum: ChecksumStatus,
    /// Size of the decompressed content.
    pub data_size: u64,
    /// Entries in a custom archive's table of contents.
    pub archive_entries: Option<u64>,
    /// The first line of a plain script holding a string that psql reads
    /// differently with `standard_conforming_strings` off (see
    /// [`guard`]): such a file loads only through a psql that restricts
    /// commands itself.
    #[serde(skip)]
    pub ambiguous_line: Option<u64>,
    /// Time spent.
    pub duration_ms: u64,
}

/// How [`validate`] checks a file.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Refuse content of another engine, and content Nightjar cannot
    /// restore (`None`: only check integrity, as `verify` does).
    pub engine: Option<Engine>,
    /// The database it is meant for (messages).
    pub database: Option<String>,
    /// The `pg_restore` that reads custom archives (`None`: the newest installed).
    pub pg_restore: Option<PathBuf>,
    /// Where to look for the tools.
    pub tool_dir: Option<PathBuf>,
    /// Run `pg_restore` in this container instead.
    pub docker_container: Option<String>,
    /// The keys an encrypted file is opened with.
    pub keys: Option<std::sync::Arc<crate::crypt::Keys>>,
}

/// Finds the `pg_restore` to read archives with, and wraps it for a container.
fn pg_restore_command(opts: &ValidateOptions, args: &[String]) -> Result<Command> {
    let dummy = PgTarget {
        url: DbUrl::parse("postgres://localhost/postgres").expect("a valid URL"),
        password: None,
        docker_container: opts.docker_container.clone(),
    };
    let program = match (&opts.pg_restore, &opts.docker_container) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => PathBuf::from("pg_restore"),
        (None, None) => pg_tools::installed_tools(opts.tool_dir.as_deref())
            .iter()
            .map(|t| pg_tools::sibling(t, "pg_restore"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Tool,
                    format!("pg_restore was not found, and it is needed to check a custom-format archive; {} or set the job's `tool_dir`.", crate::source::locate::hint(crate::source::locate::Tool::Postgres, None)),
                )
            })?,
    };
    let mut c = pg_tools::tool_command(&dummy, &program, args);
    c.env_remove("PGPASSWORD");
    Ok(c)
}

/// Checks a file completely without touching any database: the manifest's
/// size and sha256 when there is one, a full decompression pass (a
/// truncated or corrupted file fails here), the plain-SQL header and
/// pg_dump's closing line, or `pg_restore --list` for a custom archive;
/// with `opts.engine`, that the content fits the target. A restore makes
/// the same checks while it loads the file (`check_head` before,
/// `check_end` after the last byte), so it reads the file once.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] naming the file and what to do;
/// [`ErrorKind::Tool`] when `pg_restore` is missing; [`ErrorKind::Interrupted`].
pub fn validate(file: &Path, opts: &ValidateOptions, observer: &dyn RunObserver, label: &str, cancel: &AtomicBool) -> Result<Validation> {
    let t0 = Instant::now();
    let insp = inspect::inspect_with(file, opts.keys.clone())?;
    let path = insp.path.display().to_string();
    check_head(&insp, opts.engine, opts.database.as_deref())?;
    observer.stage(label, Stage::Validating);
    let mut report = |file_bytes: u64, data_bytes: u64| {
        observer.progress(label, &Progress { stage: Stage::Validating, bytes_in: file_bytes, bytes_out: data_bytes, elapsed: t0.elapsed() });
    };
    let mut ambiguous_line = None;
    let (streamed, entries) = if insp.content == Content::PostgresCustom {
        let cmd = pg_restore_command(opts, &["--list".to_string()])?;
        let mut child = FeedChild::spawn(cmd, Stdout::CountEntries).map_err(|e| {
            Error::new(ErrorKind::Tool, format!("pg_restore could not be started ({e}); install the PostgreSQL client tools or set the job's `tool_dir`."))
        })?;
        let streamed = {
            let mut sink = LenientSink::new(&mut child);
            inspect_stream(&insp, &mut sink, &mut report, cancel)
        };
        let streamed = match streamed {
            Ok(s) => s,
            Err(e) => {
                child.kill();
                return Err(e);
            }
        };
        match child.finish() {
            Ok(n) => (streamed, Some(n)),
            Err(f) => {
                let line = postgres::error_line(&f.stderr_tail).unwrap_or_else(|| f.status_text());
                if f.stderr_tail.contains("unsupported version") {
                    return Err(Error::new(
                        ErrorKind::Tool,
                        format!("{path} was written by a newer pg_dump than this pg_restore can read ({line}); install newer PostgreSQL client tools or set the job's `tool_dir`."),
                    ));
                }
                return Err(invalid(format!("{path} is not a readable pg_dump archive ({line}), so it is damaged; pick another backup.")));
            }
        }
    } else if insp.content == Content::Mysql {
        let mut scan = mysql::DumpScan::default();
        let streamed = inspect_stream(&insp, &mut scan, &mut report, cancel)?;
        let _ = std::io::Write::flush(&mut scan);
        if let Some(line) = &scan.switches_database {
            return Err(switches_database(&insp, line));
        }
        (streamed, None)
    } else if insp.content == Content::PostgresPlain {
        // No psql command from a file ever runs: refuse it before anything is touched.
        let mut scan = guard::MetaGuard::new(std::io::sink(), false);
        let streamed = inspect_stream(&insp, &mut scan, &mut report, cancel);
        if let Err(r) = scan.finish() {
            return Err(invalid(format!("{path} cannot be restored: {r}.")));
        }
        ambiguous_line = scan.scanner().ambiguous_line();
        (streamed?, None)
    } else {
        (inspect_stream(&insp, &mut std::io::sink(), &mut report, cancel)?, None)
    };
    let checksum = check_end(&insp, &streamed)?;
    Ok(Validation {
        sha256: streamed.sha256,
        checksum,
        data_size: streamed.data_bytes,
        archive_entries: entries,
        ambiguous_line,
        duration_ms: ms(t0.elapsed()),
        inspection: insp,
    })
}

/// The checks of a file that need only its inspection (its head, its size
/// and its manifest): content that `engine` can restore into `database`
/// (with no engine: any backup), and the size its manifest states.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] naming the file and what to do.
pub(crate) fn check_head(insp: &Inspection, engine: Option<Engine>, database: Option<&str>) -> Result<()> {
    let path = insp.path.display().to_string();
    if let Some(p) = &insp.key_problem {
        return Err(Error::config(p.clone()).with_source(crate::crypt::NoKey));
    }
    match engine {
        Some(engine) => check_restorable(insp, engine, database.unwrap_or("?"))?,
        None => {
            if let Some(p) = &insp.decode_problem {
                return Err(invalid(format!("{path} is damaged: {p}; pick another backup.")));
            }
            match insp.content {
                Content::Empty => return Err(invalid(format!("{path} is empty, so it is not a backup; pick another file."))),
                Content::Unknown => return Err(invalid(format!("{path} is not a database backup (neither a pg_dump file nor a MySQL dump); pick another file."))),
                _ => {}
            }
        }
    }
    if let Some(m) = &insp.manifest
        && m.size != insp.size
    {
        return Err(invalid(format!(
            "{path} is {} bytes but its manifest says {}, so the file is truncated or was changed; pick another backup.",
            insp.size, m.size
        )));
    }
    Ok(())
}

/// The checks of a file once its last byte went by: the sha256 its
/// manifest states, and the dump tool's closing line (a plain script cut
/// short decompresses fine).
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] naming the file and what to do.
pub(crate) fn check_end(insp: &Inspection, streamed: &Streamed) -> Result<ChecksumStatus> {
    let path = insp.path.display();
    let checksum = match &insp.manifest {
        Some(m) if !m.sha256.eq_ignore_ascii_case(&streamed.sha256) => return Err(manifest_mismatch(insp)),
        Some(_) => ChecksumStatus::Verified,
        None => ChecksumStatus::NoManifest,
    };
    if insp.content == Content::PostgresPlain && !ends_like_pg_dump(&streamed.tail) {
        return Err(invalid(format!(
            "{path} ends before pg_dump's closing line (\"-- PostgreSQL database dump complete\"), so it is truncated; pick another backup."
        )));
    }
    if insp.content == Content::Mysql && !String::from_utf8_lossy(&streamed.tail).contains("-- Dump completed") {
        return Err(invalid(format!("{path} ends before the dump tool's closing line (\"-- Dump completed\"), so it is truncated; pick another backup.")));
    }
    Ok(checksum)
}

/// The file does not have the sha256 its manifest states.
pub(crate) fn manifest_mismatch(insp: &Inspection) -> Error {
    invalid(format!(
        "{} does not match the sha256 in its manifest, so the file is damaged or was changed; pick another backup.",
        insp.path.display()
    ))
}

/// A MySQL dump that switches databases (see [`mysql::DumpScan`]).
pub(crate) fn switches_database(insp: &Inspection, line: &str) -> Error {
    invalid(format!(
        "{} switches or creates databases itself (\"{line}\"), so it would not stay in the database it is restored into; restore it by hand with the mysql client, or pick a backup of one database.",
        insp.path.display()
    ))
}

/// pg_dump closes every plain script with this comment (followed, since
/// 2025's releases, by an `\unrestrict` line).
fn ends_like_pg_dump(tail: &[u8]) -> bool {
    String::from_utf8_lossy(tail).contains("-- PostgreSQL database dump complete")
}

/// The file could not be read to its end.
pub(crate) fn read_error(insp: &Inspection, e: &std::io::Error) -> Error {
    invalid(format!("{} could not be read to the end ({e}); check the disk, or pick another backup.", insp.path.display()))
}

/// The file's compressed data is damaged (truncated, corrupted).
pub(crate) fn decode_error(insp: &Inspection, e: &std::io::Error) -> Error {
    if insp.encrypted {
        // age authenticates every 64 KiB chunk and marks the last one: a
        // changed byte or a cut file fails here, before its data is used.
        return invalid(format!(
            "{} is truncated or corrupted (its encrypted data fails age's authentication: {e}); pick another backup.",
            insp.path.display()
        ));
    }
    invalid(format!(
        "{} is truncated or corrupted (its {} data fails to decompress: {e}); pick another backup.",
        insp.path.display(),
        insp.compression
    ))
}

fn inspect_stream(insp: &Inspection, sink: &mut dyn std::io::Write, report: &mut dyn FnMut(u64, u64), cancel: &AtomicBool) -> Result<Streamed> {
    let path = insp.path.display();
    feed::stream_file(
        &insp.path,
        insp.compression,
        insp.keys(),
        sink,
        report,
        cancel,
    )
    .map_err(|e| match e {
        StreamError::Read(e) => read_error(insp, &e),
        StreamError::Decode(e) => decode_error(insp, &e),
        StreamError::Write(e) => Error::other(format!("Checking {path} failed ({e}).")),
        StreamError::Cancelled => Error::new(ErrorKind::Interrupted, format!("The check of {path} was stopped; nothing was changed.")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::fixtures::{zst, PLAIN};

    fn check(path: &Path) -> Result<Validation> {
        let opts = ValidateOptions { engine: Some(Engine::Postgres), database: Some("shop".into()), ..ValidateOptions::default() };
        validate(path, &opts, &crate::observer::NoopObserver, "t", &AtomicBool::new(false))
    }

    #[test]
    fn validate_checks_checksum_decompression_and_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shop.sql.zst");
        let bytes = zst(PLAIN.as_bytes());
        std::fs::write(&f, &bytes).unwrap();
        let v = check(&f).unwrap();
        assert_eq!(v.checksum, ChecksumStatus::NoManifest);
        assert_eq!(v.data_size, PLAIN.len() as u64);

        // A manifest with another sha256.
        let sha = crate::pipeline::sha256_of(&bytes[..]).unwrap().1;
        let manifest = |sha: &str, size: u64| {
            format!(
                r#"{{"app":"nightjar","manifest_version":1,"app_version":"0","job":"shop","file":"shop.sql.zst","size":{size},"sha256":"{sha}","dump_size":1,"engine":"postgres","database":"shop","server":"h","server_version":null,"tool":"pg_dump","tool_version":"15","format":"plain","compression":"zstd","compression_level":3,"encryption":"none","trigger":"manual","timezone":"UTC","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:00Z"}}"#
            )
        };
        std::fs::write(inspect::manifest_path(&f), manifest(&sha, bytes.len() as u64)).unwrap();
        assert_eq!(check(&f).unwrap().checksum, ChecksumStatus::Verified);
        std::fs::write(inspect::manifest_path(&f), manifest(&"0".repeat(64), bytes.len() as u64)).unwrap();
        let e = check(&f).unwrap_err();
        assert!(e.to_string().contains("does not match the sha256 in its manifest"), "{e}");
        std::fs::write(inspect::manifest_path(&f), manifest(&sha, 7)).unwrap();
        assert!(check(&f).unwrap_err().to_string().contains("its manifest says 7"));
        std::fs::remove_file(inspect::manifest_path(&f)).unwrap();

        // Truncated compressed data; a plain script cut before its end.
        std::fs::write(&f, &bytes[..bytes.len() - 3]).unwrap();
        let e = check(&f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidBackup);
        assert!(e.to_string().contains("truncated or corrupted"), "{e}");
        let cut = dir.path().join("cut.sql");
        std::fs::write(&cut, &PLAIN.as_bytes()[..PLAIN.len() - 40]).unwrap();
        assert!(check(&cut).unwrap_err().to_string().contains("closing line"));
    }
}
