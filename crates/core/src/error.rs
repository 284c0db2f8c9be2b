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
///
/// Its serialized form is [`ErrorKind::code`]: the CLI's JSON, the history's
/// `error_kind`, the desktop socket and the window's IPC errors all carry
/// that code, and the window's page switches on it. A code this build does
/// not know reads as [`ErrorKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration file, a command-line value or a form field is invalid.
    Config,
    /// What was asked for is not there: a job, a history entry, a file.
    NotFound,
    /// The operation changes or trusts something only on the user's explicit
    /// word: a database name typed to confirm, "I trust this file".
    NeedsConfirmation,
    /// The database server could not be reached or refused the connection.
    Connection,
    /// Credentials were refused: the database's, a sign-in's, or the
    /// desktop window's token.
    Auth,
    /// Nightjar is not signed in to the remote destination (OneDrive), or
    /// the sign-in expired: sign in again.
    AuthExpired,
    /// A dump or restore tool is missing, too old or failed.
    Tool,
    /// The destination folder (or remote) is missing, read-only or failed.
    Destination,
    /// The destination (folder or remote) has no room left.
    DestinationFull,
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
            Self::NotFound => "not-found",
            Self::NeedsConfirmation => "needs-confirmation",
            Self::Connection => "connection",
            Self::Auth => "auth",
            Self::AuthExpired => "auth-expired",
            Self::Tool => "tool",
            Self::Destination => "destination",
            Self::DestinationFull => "destination-full",
            Self::Busy => "busy",
            Self::History => "history",
            Self::Secret => "secret",
            Self::Interrupted => "interrupted",
            Self::InvalidBackup => "invalid-backup",
            Self::Other => "other",
        }
    }

    /// The kind whose [`Self::code`] is `code`; [`Self::Other`] for a code
    /// this build does not know.
    #[must_use]
    pub fn from_code(code: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.code() == code).unwrap_or(Self::Other)
    }

    /// Every kind, for adapters that list them.
    pub const ALL: [Self; 15] = [
        Self::Config,
        Self::NotFound,
        Self::NeedsConfirmation,
        Self::Connection,
        Self::Auth,
        Self::AuthExpired,
        Self::Tool,
        Self::Destination,
        Self::DestinationFull,
        Self::Busy,
        Self::History,
        Self::Secret,
        Self::Interrupted,
        Self::InvalidBackup,
        Self::Other,
    ];
}

impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let code = <String as serde::Deserialize>::deserialize(d)?;
        Ok(Self::from_code(&code))
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

    /// The same error (kind and cause) told with another `message`.
    #[must_use]
    pub fn reworded(self, message: impl Into<String>) -> Self {
        Self { message: crate::db::redact(&message.into()), ..self }
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::Destination`].
    pub fn destination(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Destination, message)
    }

    /// A destination's I/O failure `e`, worded as `message`:
    /// [`ErrorKind::DestinationFull`] when the disk or quota is full, else
    /// [`ErrorKind::Destination`]; `e` is kept as the cause.
    pub fn destination_io(message: impl Into<String>, e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => ErrorKind::DestinationFull,
            _ => ErrorKind::Destination,
        };
        Self::new(kind, message).with_source(e)
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_stable_code_and_serializes_as_it() {
        let expected = [
            (ErrorKind::Config, "config"),
            (ErrorKind::NotFound, "not-found"),
            (ErrorKind::NeedsConfirmation, "needs-confirmation"),
            (ErrorKind::Connection, "connection"),
            (ErrorKind::Auth, "auth"),
            (ErrorKind::AuthExpired, "auth-expired"),
            (ErrorKind::Tool, "tool"),
            (ErrorKind::Destination, "destination"),
            (ErrorKind::DestinationFull, "destination-full"),
            (ErrorKind::Busy, "busy"),
            (ErrorKind::History, "history"),
            (ErrorKind::Secret, "secret"),
            (ErrorKind::Interrupted, "interrupted"),
            (ErrorKind::InvalidBackup, "invalid-backup"),
            (ErrorKind::Other, "other"),
        ];
        assert_eq!(expected.len(), ErrorKind::ALL.len(), "a kind is missing from the table");
        for ((kind, code), listed) in expected.into_iter().zip(ErrorKind::ALL) {
            assert_eq!(kind, listed, "ALL lists the kinds in this order");
            assert_eq!(kind.code(), code);
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(code), "{kind:?}");
            assert_eq!(serde_json::from_value::<ErrorKind>(serde_json::json!(code)).unwrap(), kind);
        }
        assert_eq!(serde_json::from_value::<ErrorKind>(serde_json::json!("a-later-kind")).unwrap(), ErrorKind::Other, "an unknown code reads as other");
    }

    #[test]
    fn a_full_disk_is_destination_full_and_other_io_is_destination() {
        let full = Error::destination_io("full", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(full.kind(), ErrorKind::DestinationFull);
        let quota = Error::destination_io("quota", std::io::Error::from(std::io::ErrorKind::QuotaExceeded));
        assert_eq!(quota.kind(), ErrorKind::DestinationFull);
        let denied = Error::destination_io("denied", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::Destination);
        assert!(std::error::Error::source(&denied).is_some(), "the cause is kept for the log");
    }
}
