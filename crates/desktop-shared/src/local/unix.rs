//! Unix: a Unix domain socket in the data folder (`desktop.sock`), never
//! reachable by another user, not even for a moment; every connection's
//! peer uid is checked as well.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::Path;

/// A connection (the std socket: `try_clone`, `Read`, `Write`).
pub type Stream = std::os::unix::net::UnixStream;

/// The tray process's listening socket.
pub struct Listener(UnixListener);

impl Listener {
    /// The connections, as they come.
    pub fn incoming(&self) -> impl Iterator<Item = std::io::Result<Stream>> + '_ {
        self.0.incoming()
    }
}

/// Connects to the tray process of the data folder `root`.
///
/// # Errors
/// When no tray process listens there.
pub fn connect(root: &Path) -> std::io::Result<Stream> {
    Stream::connect(crate::proto::socket_path(root))
}

/// Listens for the data folder `root`; the caller holds the instance lock.
///
/// The socket file's mode comes from the umask at `bind`, and the umask is
/// the whole process's: changing it here would race the log writer's thread,
/// which may be creating a file at that moment. So the socket is bound
/// inside a fresh folder of its own that only the owner can enter (0700),
/// made owner-only (0600) there, and only then renamed into place; the
/// rename also replaces the socket a killed tray process left behind.
///
/// # Errors
/// When the socket cannot be bound.
pub fn bind(root: &Path) -> std::io::Result<Listener> {
    use std::os::unix::fs::DirBuilderExt as _;
    let socket = crate::proto::socket_path(root);
    let dir = socket.with_file_name(format!(".desktop.sock.{}", std::process::id()));
    // Left by an earlier process with the same pid: nothing else uses it (this one holds the instance lock).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let bound = (|| {
        let inner = dir.join("desktop.sock");
        let listener = UnixListener::bind(&inner)?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&inner, &socket)?;
        Ok(Listener(listener))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    bound
}

/// Removes the socket when the tray process stops.
pub fn unbind(root: &Path) {
    let _ = std::fs::remove_file(crate::proto::socket_path(root));
}

/// Whether the peer of `stream` is this user (logged when not). The socket
/// file is the owner's only; this also holds if its mode or a folder's was
/// loosened by hand. Linux: `SO_PEERCRED`.
#[cfg(target_os = "linux")]
#[must_use]
pub fn check_peer(stream: &Stream) -> bool {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(peer) if peer.uid == rustix::process::getuid() => true,
        Ok(peer) => {
            tracing::warn!(uid = peer.uid.as_raw(), pid = peer.pid.as_raw_nonzero().get(), "refused a connection to the window socket from another user");
            false
        }
        Err(e) => {
            tracing::warn!("refused a connection to the window socket whose user is unknown: {e}");
            false
        }
    }
}

/// [`check_peer`] where there is no `SO_PEERCRED` (macOS, the BSDs): the
/// peer's effective uid from `getpeereid`.
#[cfg(not(target_os = "linux"))]
#[allow(unsafe_code)]
#[must_use]
pub fn check_peer(stream: &Stream) -> bool {
    use std::os::fd::AsRawFd as _;
    let (mut uid, mut gid): (libc::uid_t, libc::gid_t) = (0, 0);
    // SAFETY: getpeereid writes two integers through pointers to these
    // locals; the socket stays open for the call.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &raw mut uid, &raw mut gid) } != 0 {
        tracing::warn!("refused a connection to the window socket whose user is unknown: {}", std::io::Error::last_os_error());
        return false;
    }
    if uid == rustix::process::getuid().as_raw() {
        true
    } else {
        tracing::warn!(uid, "refused a connection to the window socket from another user");
        false
    }
}
