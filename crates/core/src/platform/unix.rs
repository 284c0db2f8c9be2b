//! Unix (Linux, macOS, the BSDs): signals, `statvfs`, hard links.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::DiskSpace;

pub(super) fn terminate(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

pub(super) fn disk_space(dir: &Path) -> io::Result<DiskSpace> {
    let st = rustix::fs::statvfs(dir)?;
    let frsize = st.f_frsize;
    Ok(DiskSpace {
        available: st.f_bavail * frsize,
        total: st.f_blocks * frsize,
        used: st.f_blocks.saturating_sub(st.f_bfree) * frsize,
    })
}

pub(super) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            let _ = fs::remove_file(from);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        // File systems without hard links (some FUSE/SMB mounts): the
        // caller checked the name is free and holds the job lock.
        Err(_) => fs::rename(from, to)?,
    }
    match to.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}
