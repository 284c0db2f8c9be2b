//! What differs between operating systems in how Nightjar runs its tools.
//!
//! Every database tool Nightjar starts (`pg_dump`, `mariadb-dump`, `psql`,
//! `pg_restore`, `mysql`, `docker exec`) is started through [`spawn_tool`],
//! so that it never outlives Nightjar: a dump or restore child left running
//! after a crash or a `kill -9` would keep a server session, locks and a
//! half-written pipe open with nobody reading them.
//!
//! - Linux: the child asks the kernel for `SIGKILL` when its parent goes
//!   away (`PR_SET_PDEATHSIG`), set between `fork` and `exec`.
//! - Windows (later): the same function is the place to put the child in a
//!   job object created with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`; the job's
//!   handle lives as long as the process, so the OS ends the children when
//!   Nightjar ends, however it ends.
//! - Elsewhere: a plain spawn (the children end when they next write to
//!   the pipe nobody reads).
//!
//! With `docker exec`, the process inside the container is not our child:
//! what is tied to Nightjar is the `docker` client, and killing it is all a
//! client can do (the server-side process may run until its pipe breaks).

use std::io;
use std::process::{Child, Command};

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
    cmd.spawn()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::unix::process::CommandExt as _;
    use std::process::Command;

    /// Arranges for the child of `cmd` to get `SIGKILL` when its parent dies.
    #[allow(unsafe_code)]
    pub(super) fn die_with_parent(cmd: &mut Command) {
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the child between fork and exec, where
        // only async-signal-safe work is allowed. It makes two raw system
        // calls (prctl, getppid) through rustix, which neither allocates nor
        // takes locks, and builds an io::Error from a raw errno (no
        // allocation either). It captures only a `Pid` (a plain integer).
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
                // The parent may have died between fork and prctl: then the
                // signal will never come, and the child was re-parented.
                if rustix::process::getppid() != Some(parent) {
                    return Err(rustix::io::Errno::SRCH.into());
                }
                Ok(())
            });
        }
    }
}
