//! The window channel's transport, one interface on every OS: where the
//! tray process listens for the data folder, how a window connects, and who
//! may connect.
//!
//! - Unix: a Unix domain socket, `desktop.sock` in the owner-only data
//!   folder, bound owner-only (0600) and checked per connection with
//!   `SO_PEERCRED` ([`unix`]).
//! - Windows: a named pipe whose name is derived from the data folder
//!   (`\\.\pipe\nightjar-<hash>`), with overlapped I/O so one thread reads
//!   while others write, as on a socket ([`windows`]; what protects it is
//!   described there).
//!
//! [`Stream`] is a byte stream (`Read`, `Write`, also through `&Stream`)
//! with `try_clone`, whose clones share the connection; [`Listener`] hands
//! out accepted streams. [`crate::proto`] and the tray process use only
//! this interface.

use std::path::Path;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{Listener, Stream, bind, check_peer, connect, unbind};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{Listener, Stream, bind, check_peer, connect, unbind};

/// Where the tray process of the data folder `root` listens, for messages:
/// the socket's path, or the pipe's name.
#[must_use]
pub fn address(root: &Path) -> String {
    #[cfg(unix)]
    {
        crate::proto::socket_path(root).display().to_string()
    }
    #[cfg(windows)]
    {
        windows::pipe_name(root)
    }
}
