//! Progress and lifecycle events pushed from a run to whoever shows them
//! (CLI log lines, the desktop's progress bar). Push model with no-op
//! defaults, like ripgrep's `Sink`: implement only what you display.

use std::time::Duration;

use serde::Serialize;

/// The stage a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Checking the destination, locating tools, reading the server version.
    Preparing,
    /// Streaming the dump through compression into the destination.
    Dumping,
    /// Flushing, syncing and renaming the file; writing the manifest.
    Finishing,
    /// Applying retention.
    Pruning,
}

impl Stage {
    /// A short label for UIs.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Stage::Preparing => "preparing",
            Stage::Dumping => "dumping",
            Stage::Finishing => "finishing",
            Stage::Pruning => "pruning old backups",
        }
    }
}

/// A progress sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Current stage.
    pub stage: Stage,
    /// Bytes read from the dump tool so far.
    pub bytes_in: u64,
    /// Bytes written to the destination so far.
    pub bytes_out: u64,
    /// Time since the run started.
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Progress {
    /// Average input rate in bytes per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.bytes_in as f64 / secs } else { 0.0 }
    }
}

/// Receives a run's events. All methods have no-op defaults and must be
/// cheap: they are called on the run's thread.
pub trait RunObserver: Send + Sync {
    /// A new stage began.
    fn stage(&self, _job: &str, _stage: Stage) {}
    /// Periodic progress (a few times per second at most).
    fn progress(&self, _job: &str, _progress: &Progress) {}
    /// A non-fatal problem worth showing (e.g. retention could not delete a file).
    fn warning(&self, _job: &str, _message: &str) {}
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl RunObserver for NoopObserver {}
