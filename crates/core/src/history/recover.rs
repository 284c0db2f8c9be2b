//! A damaged history never stops backups: a history file SQLite cannot
//! read (garbage, a torn copy, corrupt pages, a file Nightjar may not read)
//! is moved aside to `history.sqlite3.corrupt-<stamp>` (with its `-wal`
//! and `-shm`), a new history is started, and the user is told: the caller
//! gets a [`MovedAside`] (the CLI prints it, the tray process notifies),
//! the log says it, and `nightjar status` lists every moved-aside file
//! ([`moved_aside`]) until the user deletes it.
//!
//! Only damage moves a file aside. A history written by a newer Nightjar,
//! a folder Nightjar may not write to, a full disk or a history busy in
//! another process are reported as before: moving those aside would lose
//! a good history.
//!
//! Two processes finding the same damaged file at once take turns on an
//! OS file lock beside it (`history.sqlite3-recover.lock`); the second
//! opens the history the first started instead of moving it aside too.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::ErrorCode;
use serde::Serialize;

use super::History;
use crate::{Error, ErrorKind, Result};

/// What follows the history file's name in a moved-aside copy.
const MARK: &str = ".corrupt-";
/// The time stamp in a moved-aside copy's name (UTC).
const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// A damaged history file that was moved aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedAside {
    /// Where the damaged file is now.
    pub path: PathBuf,
    /// When it was moved aside.
    pub at: DateTime<Utc>,
}

impl MovedAside {
    /// One sentence for the user: what happened and what to do.
    #[must_use]
    pub fn message(&self) -> String {
        format!(
            "The backup history could not be read, so it was moved aside to {} on {} and a new one was started; \
             backups keep running, runs before then are only in that file, and you may delete it once you no longer need it.",
            self.path.display(),
            self.at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
        )
    }
}

impl History {
    /// [`History::open`], except that a damaged history file is moved aside
    /// and a new one started (see the module documentation). Returns the
    /// history and, when it moved a file aside, which one.
    ///
    /// # Errors
    /// As [`History::open`] for everything that is not damage; also when
    /// the damaged file cannot be moved aside (naming it).
    pub fn open_or_recover(path: &Path) -> Result<(History, Option<MovedAside>)> {
        let damage = match open_checked(path) {
            Opened::Good(h) => return Ok((h, None)),
            Opened::Failed(e) => return Err(e),
            Opened::Damaged(e) => e,
        };
        // One recovery at a time; whoever comes second finds a good file.
        let lock = lock_file(path).map_err(|e| damage_error(path, &damage, &e))?;
        let damage = match open_checked(path) {
            Opened::Good(h) => return Ok((h, None)),
            Opened::Failed(e) => return Err(e),
            Opened::Damaged(e) => e,
        };
        let aside = move_aside(path).map_err(|e| damage_error(path, &damage, &e))?;
        tracing::error!(
            history = %path.display(),
            moved_to = %aside.path.display(),
            "the backup history could not be read and was moved aside; a new one was started: {}",
            damage.detailed()
        );
        let history = History::open(path)?;
        drop(lock);
        Ok((history, Some(aside)))
    }
}

/// The damaged history files moved aside next to `path`, oldest first.
#[must_use]
pub fn moved_aside(path: &Path) -> Vec<MovedAside> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}{MARK}");
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut found: Vec<MovedAside> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            let rest = file.strip_prefix(&prefix)?;
            if rest.ends_with("-wal") || rest.ends_with("-shm") {
                return None;
            }
            let stamp = rest.get(..16).unwrap_or(rest);
            let at = NaiveDateTime::parse_from_str(stamp, STAMP).map(|t| t.and_utc()).ok().or_else(|| {
                e.metadata().ok()?.modified().ok().map(DateTime::<Utc>::from)
            })?;
            Some(MovedAside { path: e.path(), at })
        })
        .collect();
    found.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.path.cmp(&b.path)));
    found
}

/// How opening went.
enum Opened {
    Good(History),
    /// The file is damaged (the error says how).
    Damaged(Error),
    /// Anything else: not ours to fix by moving the file.
    Failed(Error),
}

/// Opens `path` and checks that SQLite can read all of it.
fn open_checked(path: &Path) -> Opened {
    let history = match History::open(path) {
        Ok(h) => h,
        Err(e) if is_damage(&e, path) => return Opened::Damaged(e),
        Err(e) => return Opened::Failed(e),
    };
    // Pages damaged past the header only show when read.
    let check: rusqlite::Result<String> = history.lock().query_row("PRAGMA quick_check(1)", [], |r| r.get(0));
    match check {
        Ok(s) if s.eq_ignore_ascii_case("ok") => Opened::Good(history),
        Ok(problem) => Opened::Damaged(Error::new(ErrorKind::History, format!("The backup history at {} is damaged ({problem}).", path.display()))),
        Err(e) if is_damage_code(&e) => Opened::Damaged(Error::from(e)),
        // Busy or the like: the file may well be fine; use it.
        Err(e) => {
            tracing::debug!("the history check did not run: {e}");
            Opened::Good(history)
        }
    }
}

/// True when SQLite says the file is not a (readable) database.
fn is_damage_code(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}

/// True for the failures of [`History::open`] that moving the file aside
/// fixes: the content is not a database, or the file exists but this user
/// may not read it.
fn is_damage(e: &Error, path: &Path) -> bool {
    let Some(sqlite) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<rusqlite::Error>()) else {
        return false;
    };
    if is_damage_code(sqlite) {
        return true;
    }
    matches!(sqlite.sqlite_error_code(), Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied))
        && path.is_file()
        && std::fs::File::open(path).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// Takes the recovery lock beside `path` (waits for another recovery).
fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push("-recover.lock");
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(PathBuf::from(name))?;
    file.lock()?;
    Ok(file)
}

/// Renames `path` (and its `-wal` and `-shm`) to `<path>.corrupt-<stamp>`.
fn move_aside(path: &Path) -> std::io::Result<MovedAside> {
    let now = Utc::now();
    let base = format!("{}{MARK}{}", path.display(), now.format(STAMP));
    let target = (0..1000)
        .map(|n| if n == 0 { PathBuf::from(&base) } else { PathBuf::from(format!("{base}-{n}")) })
        .find(|p| !p.exists())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free name"))?;
    // The journal files first: a -wal left beside a new file would be replayed into it.
    for suffix in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = target.as_os_str().to_owned();
        to.push(suffix);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    std::fs::rename(path, &target)?;
    Ok(MovedAside { path: target, at: now })
}

/// The damaged history could not be moved aside: say both.
fn damage_error(path: &Path, damage: &Error, e: &std::io::Error) -> Error {
    Error::new(
        ErrorKind::History,
        format!(
            "The backup history at {} is damaged and could not be moved aside ({e}); move or delete it by hand to start a new history.",
            path.display()
        ),
    )
    .with_source(std::io::Error::new(e.kind(), damage.detailed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{NewRun, RunFilter, RunKind};
    use crate::model::Trigger;

    fn run() -> NewRun {
        NewRun {
            job: "a".into(),
            kind: RunKind::Backup,
            trigger: Trigger::Manual,
            started_at: Utc::now(),
            destination: "/b".into(),
            engine: None,
            format: None,
            compression: None,
            database: None,
        }
    }

    #[test]
    fn garbage_is_moved_aside_and_a_new_history_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let (h, aside) = History::open_or_recover(&path).unwrap();
        let aside = aside.expect("moved aside");
        assert_eq!(std::fs::read(&aside.path).unwrap(), vec![b'x'; 8192]);
        h.start_run(&run()).unwrap();
        assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 1);
        assert!(aside.message().contains(&aside.path.display().to_string()));
        let listed = moved_aside(&path);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, aside.path);
        // A good history is used as it is.
        drop(h);
        let (h, again) = History::open_or_recover(&path).unwrap();
        assert!(again.is_none());
        assert_eq!(h.runs(&RunFilter::default()).unwrap().len(), 1);
    }

    #[test]
    fn damaged_pages_are_found_by_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        {
            let h = History::open(&path).unwrap();
            for _ in 0..200 {
                h.start_run(&run()).unwrap();
            }
            h.lock().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        }
        // Keep the header (page 1), scribble over the pages after it.
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 8192, "{}", bytes.len());
        for b in &mut bytes[4096..] {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        let (h, aside) = History::open_or_recover(&path).unwrap();
        assert!(aside.is_some());
        assert!(h.runs(&RunFilter::default()).unwrap().is_empty());
    }

    #[test]
    fn a_newer_history_is_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        drop(History::open(&path).unwrap());
        rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let e = History::open_or_recover(&path).unwrap_err();
        assert!(e.message().contains("newer version"), "{e}");
        assert!(moved_aside(&path).is_empty());
    }
}
