//! Everything that differs between operating systems, in one place: how
//! the database tools are started and stopped, how much room a folder has,
//! how a finished backup gets its final name and how resume from sleep is
//! heard. One file per OS family where they differ (`linux.rs` and
//! `linux_wake.rs`, `unix.rs`, `windows.rs`, `macos.rs`); the rest of the
//! core calls only the functions here.
//!
//! Every database tool Nightjar starts (`pg_dump`, `mariadb-dump`, `psql`,
//! `pg_restore`, `mysql`, `docker exec`) is started through [`spawn_tool`],
//! so that it never outlives Nightjar: a dump or restore child left running
//! after a crash or a `kill -9` would keep a server session, locks and a
//! half-written pipe open with nobody reading them.
//!
//! - Linux: the child asks the kernel for `SIGKILL` when its parent goes
//!   away (`PR_SET_PDEATHSIG`), set between `fork` and `exec`.
//! - Windows: the child is put in a job object created with
//!   `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`; the job's handle lives as long as
//!   the process, so the OS ends the children when Nightjar ends, however
//!   it ends.
//! - Elsewhere (macOS, the BSDs): a plain spawn (the children end when they
//!   next write to the pipe nobody reads).
//!
//! With `docker exec`, the process inside the container is not our child:
//! what is tied to Nightjar is the `docker` client, and killing it is all a
//! client can do (the server-side process may run until its pipe breaks).
//!
//! File locks need nothing here: `std::fs::File::try_lock` is the same on
//! every OS (`flock` on Unix, `LockFileEx` on Windows).

use std::io;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod linux_wake;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

/// Starts `cmd` so that the child dies with this process.
///
/// On Linux the kernel sends the child `SIGKILL` when the *thread* that
/// spawned it exits (not only the process). Every caller therefore spawns
/// and reaps the child on the same thread: the dump pipeline
/// ([`crate::source::ChildStream`]) and the restore feeds
/// (`restore/feed.rs`, `restore/session.rs`, `restore/mysql.rs`) wait for
/// their child before the call that started it returns, and the CLI, the
/// daemon and the tray process run each backup, restore or verify
/// synchronously on one thread (the tray's `backup`, `run` and `scheduler`
/// threads, the window's blocking tasks), which lives until the child is
/// reaped. Helper threads (stderr/stdout drains, the cancel watcher, the
/// file producer) never spawn children.
///
/// # Errors
/// The spawn error (`NotFound` when the program does not exist).
pub fn spawn_tool(cmd: &mut Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    linux::die_with_parent(cmd);
    #[cfg(windows)]
    windows::no_console_window(cmd);
    let child = cmd.spawn()?;
    #[cfg(windows)]
    windows::tie_to_this_process(&child);
    Ok(child)
}

/// Asks the tool with process id `pid` (started by [`spawn_tool`]) to stop:
/// `SIGTERM` on Unix, `TerminateProcess` on Windows (the dump tools have no
/// window to receive a close request). A stream from it then ends; the
/// caller still waits for the child.
pub fn terminate_tool(pid: u32) {
    #[cfg(unix)]
    unix::terminate(pid);
    #[cfg(windows)]
    windows::terminate(pid);
    #[cfg(not(any(unix, windows)))]
    let _ = pid;
}

/// Room on the file system that holds `dir`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// What this user may still write.
    pub available: u64,
    /// The file system's size.
    pub total: u64,
    /// What is in use (by anyone).
    pub used: u64,
}

/// This computer's name, for alerts (`host`): the kernel's node name on
/// Unix, `COMPUTERNAME` on Windows.
#[must_use]
pub fn host_name() -> Option<String> {
    #[cfg(unix)]
    let name = rustix::system::uname().nodename().to_str().ok().map(str::to_string);
    #[cfg(windows)]
    let name = std::env::var("COMPUTERNAME").ok();
    #[cfg(not(any(unix, windows)))]
    let name = std::env::var("HOSTNAME").ok();
    name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty())
}

/// The room on the file system of `dir`, or `None` where the OS cannot say.
///
/// # Errors
/// When the folder cannot be inspected (it does not exist, no permission).
pub fn disk_space(dir: &Path) -> io::Result<Option<DiskSpace>> {
    #[cfg(unix)]
    return unix::disk_space(dir).map(Some);
    #[cfg(windows)]
    return windows::disk_space(dir).map(Some);
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(None)
    }
}

/// Gives the finished file `from` the name `to` (same folder), durably and
/// **never replacing** a file already called `to`: that fails with
/// [`io::ErrorKind::AlreadyExists`] and `from` is left for the caller to
/// remove. `from` must be closed (Windows cannot rename an open file).
///
/// - Unix: a hard link to the new name (refused if it exists), then the old
///   name is removed and the folder is fsynced. On file systems without
///   hard links (some FUSE and SMB mounts) a plain rename, which the caller
///   makes safe by holding the job lock and having checked the name is free.
/// - Windows: `MoveFileExW` with `MOVEFILE_WRITE_THROUGH` and without
///   `MOVEFILE_REPLACE_EXISTING`: the move is on disk when it returns.
///
/// # Errors
/// `AlreadyExists` as above; any other I/O error of the rename or the sync.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(unix)]
    return unix::rename_no_replace(from, to);
    #[cfg(windows)]
    return windows::rename_no_replace(from, to);
    #[cfg(not(any(unix, windows)))]
    {
        if to.exists() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(from, to)
    }
}

/// Raises `wake` after each resume from sleep, until `shutdown`; false when
/// this OS gives no such signal here (see [`crate::wake`]).
///
/// - Linux: logind's `PrepareForSleep(false)` on the system bus
///   (`linux_wake.rs`), on a thread that ends with `shutdown`.
/// - Windows: `PowerRegisterSuspendResumeNotification` (`windows.rs`).
/// - macOS: `NSWorkspaceDidWakeNotification`, observed on a background
///   `NSOperationQueue` so no main-thread run loop is needed (`macos.rs`).
///
/// The Windows and macOS registrations last as long as the process
/// (`shutdown` is not needed there: a late wake flag is harmless).
pub fn watch_resume(wake: Arc<AtomicBool>, shutdown: Arc<AtomicBool>) -> bool {
    #[cfg(target_os = "linux")]
    return linux_wake::watch(wake, shutdown);
    #[cfg(windows)]
    {
        let _ = shutdown;
        return windows::watch_resume(wake);
    }
    #[cfg(target_os = "macos")]
    {
        let _ = shutdown;
        return macos::watch_resume(wake);
    }
    #[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
    {
        let _ = (wake, shutdown);
        false
    }
}
