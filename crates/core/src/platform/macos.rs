//! macOS: resume from sleep, heard from `NSWorkspaceDidWakeNotification`.
//!
//! This is the one file of the core that calls Objective-C; the unsafe
//! parts are reading AppKit's notification-name constant (an `extern`
//! static) and `addObserverForName:object:queue:usingBlock:`, whose block
//! only touches an `Arc<AtomicBool>` and so may run on any thread.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use block2::RcBlock;
use objc2_app_kit::{NSWorkspace, NSWorkspaceDidWakeNotification};
use objc2_foundation::{NSNotification, NSOperationQueue};

/// Observes `NSWorkspaceDidWakeNotification` for the process's lifetime.
///
/// The observer is given its own operation queue (a background one), so the
/// notification is delivered without a main-thread run loop: the CLI daemon
/// has none, and the tray's main thread is busy with AppKit's loop. The
/// observer and its queue are never removed: the process ends with them.
pub(super) fn watch_resume(wake: Arc<AtomicBool>) -> bool {
    let center = NSWorkspace::sharedWorkspace().notificationCenter();
    let queue = NSOperationQueue::new();
    let block = RcBlock::new(move |_note: NonNull<NSNotification>| {
        tracing::info!("resumed from sleep (NSWorkspace); checking for missed runs");
        wake.store(true, Ordering::SeqCst);
    });
    // SAFETY: the name is AppKit's constant (a valid `NSString` for the
    // process's life); no sender filter; the block is `Send + Sync` in
    // effect (it owns an `Arc<AtomicBool>` and writes it atomically), as a
    // block run on another queue's thread must be.
    let observer = unsafe {
        center.addObserverForName_object_queue_usingBlock(Some(NSWorkspaceDidWakeNotification), None, Some(&queue), &block)
    };
    // Never removed: the observer token and the queue are leaked, so the
    // registration lasts as long as the process whoever else holds them.
    std::mem::forget(observer);
    std::mem::forget(queue);
    true
}
