//! Owner-only files and folders: everything Nightjar writes (backups,
//! manifests, `.partial` files, the data folder with its history, logs,
//! locks and state) is readable by the user who runs it and nobody else,
//! whatever the process umask says.
//!
//! On Unix the mode is given when the file or folder is created (0600 for
//! files, 0700 for folders), so there is no moment when it is open to
//! others. Elsewhere these are the plain `std::fs` calls, and a Windows ACL
//! version slots in here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// The mode of files Nightjar creates (Unix).
pub const FILE_MODE: u32 = 0o600;
/// The mode of folders Nightjar creates (Unix).
pub const DIR_MODE: u32 = 0o700;

/// Options that create files owner-only; the caller adds the access mode
/// (`write`, `create_new`, ...).
#[must_use]
pub fn file_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, FILE_MODE);
    o
}

/// Creates (or truncates) `path` for writing, owner-only (a leftover that
/// was open to others is tightened).
///
/// # Errors
/// When it cannot be created.
pub fn create_file(path: &Path) -> io::Result<File> {
    let f = file_options().write(true).create(true).truncate(true).open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = f.metadata()?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(mode & !0o077))?;
        }
    }
    Ok(f)
}

/// Creates `path` for writing, failing when it exists; owner-only.
///
/// # Errors
/// When it exists or cannot be created.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    file_options().write(true).create_new(true).open(path)
}

/// Like [`std::fs::write`], but a file it creates is owner-only.
///
/// # Errors
/// When it cannot be written.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    create_file(path)?.write_all(bytes)
}

/// Creates the folder `path` (its parent must exist), owner-only.
///
/// # Errors
/// When it exists or cannot be created.
pub fn create_dir(path: &Path) -> io::Result<()> {
    dir_builder().create(path)
}

/// Creates `path` and the missing folders above it, each owner-only;
/// folders that already exist are left as they are.
///
/// # Errors
/// When a folder cannot be created.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    dir_builder().recursive(true).create(path)
}

fn dir_builder() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, DIR_MODE);
    b
}

/// Takes the group's and others' access away from an existing file or
/// folder (a data folder made by an older version, or by hand). Nothing
/// happens when it is already owner-only or does not exist.
///
/// # Errors
/// When its permissions cannot be read or changed (e.g. it belongs to
/// another user).
pub fn tighten(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Prepares a SQLite database file before SQLite opens it: creates it
/// owner-only when missing and tightens it and its `-wal`/`-shm` companions
/// otherwise (SQLite creates those with the database file's mode).
///
/// # Errors
/// When the file cannot be created or its permissions changed.
pub fn sqlite_files(db: &Path) -> io::Result<()> {
    match file_options().write(true).create_new(true).open(db) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            tighten(db)?;
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut p = db.as_os_str().to_owned();
                p.push(suffix);
                tighten(Path::new(&p))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_owner_only_whatever_the_umask_and_existing_ones_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        create_dir_all(&d).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&d), 0o700);
        let f = d.join("f");
        write_file(&f, b"x").unwrap();
        assert_eq!(mode(&f), 0o600);
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        tighten(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        tighten(&dir.path().join("missing")).unwrap();
        let db = dir.path().join("h.sqlite3");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(dir.path().join("h.sqlite3-wal"), b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path().join("h.sqlite3-wal"), std::fs::Permissions::from_mode(0o644)).unwrap();
        sqlite_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.path().join("h.sqlite3-wal")), 0o600);
    }
}
