//! Bounded waits: poll a condition until a deadline, never a fixed sleep.

use std::time::{Duration, Instant};

/// How often [`until`] polls.
const POLL: Duration = Duration::from_millis(40);

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// Polls `f` until it returns true, or panics after `timeout` naming `what`.
pub fn until_true(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    until(what, timeout, || f().then_some(()));
}

/// Seconds, for readability at call sites.
#[must_use]
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
