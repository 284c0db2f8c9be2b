//! Windows: a job object ties the tools to Nightjar, `TerminateProcess`
//! cancels them, `GetDiskFreeSpaceExW` measures a folder and `MoveFileExW`
//! names a finished backup without ever replacing one.
//!
//! This is the one file of the core that calls the Win32 API directly;
//! every call is a plain function of `kernel32.dll` whose pointers are to
//! local values that outlive the call.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt as _;
use std::os::windows::io::AsRawHandle as _;
use std::os::windows::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{GetDiskFreeSpaceExW, MOVEFILE_WRITE_THROUGH, MoveFileExW};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectExtendedLimitInformation, SetInformationJobObject,
};
use windows_sys::Win32::System::Power::{DEVICE_NOTIFY_SUBSCRIBE_PARAMETERS, PowerRegisterSuspendResumeNotification};
use windows_sys::Win32::System::Threading::{CREATE_NO_WINDOW, OpenProcess, PROCESS_TERMINATE, TerminateProcess};

use windows_sys::Win32::UI::WindowsAndMessaging::{DEVICE_NOTIFY_CALLBACK, PBT_APMRESUMEAUTOMATIC, PBT_APMRESUMESUSPEND};

use super::DiskSpace;

/// A path as the NUL-terminated UTF-16 the wide Win32 functions take.
fn wide(p: &OsStr) -> Vec<u16> {
    p.encode_wide().chain(std::iter::once(0)).collect()
}

/// The process's job object (kill on close), made once. Its handle is
/// never closed: the OS closes it when Nightjar ends, however it ends, and
/// then ends every tool still in the job.
struct Job(HANDLE);
// SAFETY: a job handle is a kernel handle, usable from any thread.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

fn job() -> Option<&'static Job> {
    static JOB: OnceLock<Option<Job>> = OnceLock::new();
    JOB.get_or_init(|| {
        // SAFETY: no security attributes, no name; a null handle is failure.
        let h = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if h.is_null() {
            tracing::warn!("no job object for the database tools: {}", io::Error::last_os_error());
            return None;
        }
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        let len = u32::try_from(std::mem::size_of_val(&info)).unwrap_or(u32::MAX);
        // SAFETY: `info` is the structure the class names and lives across the call.
        let ok = unsafe { SetInformationJobObject(h, JobObjectExtendedLimitInformation, (&raw const info).cast(), len) };
        if ok == 0 {
            tracing::warn!("the job object for the database tools has no kill-on-close: {}", io::Error::last_os_error());
            // SAFETY: `h` is the handle made above, closed once.
            unsafe { CloseHandle(h) };
            return None;
        }
        Some(Job(h))
    })
    .as_ref()
}

/// The tools are console programs: started from the tray (which has no
/// console) they would each open a console window.
pub(super) fn no_console_window(cmd: &mut Command) {
    cmd.creation_flags(CREATE_NO_WINDOW);
}

/// Puts `child` in the process's job object, so it cannot outlive Nightjar.
/// A tool that cannot be put there still runs (with a warning in the log):
/// refusing the backup would be worse than the orphan it guards against.
pub(super) fn tie_to_this_process(child: &Child) {
    let Some(job) = job() else { return };
    // SAFETY: both handles are valid for the call (the child is not yet waited for).
    let ok = unsafe { AssignProcessToJobObject(job.0, child.as_raw_handle()) };
    if ok == 0 {
        tracing::warn!("process {} could not be put in Nightjar's job object: {}", child.id(), io::Error::last_os_error());
    }
}

pub(super) fn terminate(pid: u32) {
    // SAFETY: a handle opened here for terminating only, closed once below.
    unsafe {
        let h = OpenProcess(PROCESS_TERMINATE, 0, pid);
        if h.is_null() {
            return;
        }
        TerminateProcess(h, 1);
        CloseHandle(h);
    }
}

pub(super) fn disk_space(dir: &Path) -> io::Result<DiskSpace> {
    let d = wide(dir.as_os_str());
    let (mut available, mut total, mut free) = (0u64, 0u64, 0u64);
    // SAFETY: `d` is NUL-terminated; the three outputs are local u64s.
    let ok = unsafe { GetDiskFreeSpaceExW(d.as_ptr(), &raw mut available, &raw mut total, &raw mut free) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(DiskSpace { available, total, used: total.saturating_sub(free) })
}

pub(super) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (wide(from.as_os_str()), wide(to.as_os_str()));
    // SAFETY: both paths are NUL-terminated and live across the call.
    // Without MOVEFILE_REPLACE_EXISTING an existing `to` fails the call
    // (ERROR_ALREADY_EXISTS / ERROR_FILE_EXISTS, both `AlreadyExists`).
    let ok = unsafe { MoveFileExW(f.as_ptr(), t.as_ptr(), MOVEFILE_WRITE_THROUGH) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Called by the power manager on suspend and resume events.
unsafe extern "system" fn power_event(context: *const std::ffi::c_void, event: u32, _setting: *const std::ffi::c_void) -> u32 {
    if event == PBT_APMRESUMEAUTOMATIC || event == PBT_APMRESUMESUSPEND {
        // SAFETY: `context` is the AtomicBool leaked in `watch_resume`,
        // which lives as long as the process.
        let wake = unsafe { &*context.cast::<AtomicBool>() };
        tracing::info!("resumed from sleep (power manager); checking for missed runs");
        wake.store(true, Ordering::SeqCst);
    }
    0
}

/// Registers [`power_event`] for the process's lifetime (no window and no
/// message loop needed, unlike `WM_POWERBROADCAST`, which carries the same
/// events). The registration is never undone: the process ends with it.
pub(super) fn watch_resume(wake: Arc<AtomicBool>) -> bool {
    let context = Arc::into_raw(wake).cast::<std::ffi::c_void>().cast_mut();
    let params = Box::leak(Box::new(DEVICE_NOTIFY_SUBSCRIBE_PARAMETERS { Callback: Some(power_event), Context: context }));
    let mut handle: *mut std::ffi::c_void = std::ptr::null_mut();
    // SAFETY: `params` and the context it points to are leaked, so they
    // outlive the registration; `handle` is a local out-parameter.
    let rc = unsafe { PowerRegisterSuspendResumeNotification(DEVICE_NOTIFY_CALLBACK, std::ptr::from_mut(params).cast(), &raw mut handle) };
    if rc != 0 {
        tracing::debug!("no resume notifications from the power manager (error {rc}); relying on clock-jump detection");
        return false;
    }
    true
}
