//! Hearing about resume from sleep from the OS, so missed slots are caught
//! up right away: logind's `PrepareForSleep(false)` on Linux, the power
//! manager's resume notification (`PBT_APMRESUMEAUTOMATIC`, the event
//! `WM_POWERBROADCAST` carries) on Windows, `NSWorkspaceDidWakeNotification`
//! on macOS. Where that is not available (a Linux without logind), the
//! scheduler's wall-clock jump check (see
//! [`crate::scheduler::clock_jumped`]) still notices the sleep on its next
//! tick; it stays on everywhere as the fallback. The OS-specific parts live
//! in [`crate::platform`].

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Starts a background listener that raises `wake` after each resume.
/// Returns false when the OS signal is not available here (no system bus,
/// no logind, another OS); the clock-jump fallback covers that case.
pub fn watch_resume(wake: Arc<AtomicBool>, shutdown: Arc<AtomicBool>) -> bool {
    crate::platform::watch_resume(wake, shutdown)
}
