//! The one error type of the public API.
//!
//! Policy (after rustic_core's "error handling rules"):
//! - Every `pub fn` returns [`Result<T>`]. Internal helpers may use local error
//!   types but convert at the module boundary.
//! - An [`Error`]'s `Display` is the single sentence a user sees: it names its
//!   subject (job, file, database, command) and says what to do next. It never
//!   contains a secret. The cause chain (`source()`) is for logs.
//! - [`ErrorKind`] is the stable category that adapters branch on (exit codes,
//!   IPC `code`, retry decisions).

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stable category for an [`Error`]; adapters map it to codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration file or a command-line value is invalid.
    Config,
    /// The database server could not be reached or refused the connection.
    Connection,
    /// The database rejected the credentials.
    Auth,
    /// A dump or restore tool is missing, too old or failed.
    Tool,
    /// The destination folder (or remote) is missing, read-only, full or failed.
    Destination,
    /// Another run of the same job holds the lock.
    Busy,
    /// The history store failed.
    History,
    /// A keyring operation failed.
    Secret,
    /// The run was stopped (signal, shutdown) before it finished.
    Interrupted,
    /// A backup file is not valid (not ours, truncated, corrupted).
    InvalidBackup,
    /// Anything else (unexpected I/O and the like).
    Other,
}

impl ErrorKind {
    /// The stable identifier used in JSON output and IPC.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Connection => "connection",
            Self::Auth => "auth",
            Self::Tool => "tool",
            Self::Destination => "destination",
            Self::Busy => "busy",
            Self::History => "history",
            Self::Secret => "secret",
            Self::Interrupted => "interrupted",
            Self::InvalidBackup => "invalid-backup",
            Self::Other => "other",
        }
    }
}

/// Nightjar's error: a category, one user-facing sentence, and an optional cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` whose user-facing text is `message`. A
    /// password in a URL inside `message` is replaced with `***`
    /// ([`crate::db::redact`]): the message reaches stderr, the log, the
    /// history and notifications.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: crate::db::redact(&message.into()), source: None }
    }

    /// Attach the underlying cause (shown in logs, not in the one-line message).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::Destination`].
    pub fn destination(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Destination, message)
    }

    /// Shorthand for [`ErrorKind::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// The category.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The user-facing sentence (same as `Display`).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by the cause chain, for logs (URL passwords
    /// in a cause replaced with `***`, as in the message).
    #[must_use]
    pub fn detailed(&self) -> String {
        let mut out = self.message.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        crate::db::redact(&out)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| crate::db::redact(&format!("{s:?}"))))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::new(ErrorKind::History, "The backup history could not be read or written; check the data folder's permissions and free space.")
            .with_source(e)
    }
}
