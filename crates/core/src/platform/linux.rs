//! Linux: the tools die with Nightjar through `PR_SET_PDEATHSIG`.

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
