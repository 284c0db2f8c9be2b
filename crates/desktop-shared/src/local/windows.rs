//! Windows: a named pipe per data folder, `\\.\pipe\nightjar-<hash of the
//! data folder's path>`, with tokio's overlapped named pipes driven by one
//! small I/O thread.
//!
//! Why overlapped: the protocol reads on one thread while others write
//! (replies, progress, page events). A pipe handle opened for synchronous
//! I/O serialises every operation on it, so a write would wait behind the
//! blocked read forever (the `interprocess` crate's blocking named pipes
//! refuse such concurrent use for that reason). Here a read or a write waits
//! for readiness on the I/O thread and is then done without blocking, so the
//! two never wait on each other.
//!
//! # What protects the pipe
//!
//! - The pipe is created with the default security descriptor, whose DACL
//!   gives full control to LocalSystem, the Administrators and the creating
//!   user, and read-only access to Everyone and Anonymous. Every request is
//!   a write, so another (non-admin) user cannot send one; a connection
//!   opened for reading only is sent nothing (replies answer requests, page
//!   events go to a window that presented the token). Administrators and
//!   the system can end the process anyway.
//! - Remote clients (SMB) are rejected (`PIPE_REJECT_REMOTE_CLIENTS`).
//! - The first instance is created with `FILE_FLAG_FIRST_PIPE_INSTANCE`:
//!   when another process (another user's, squatting the name) made it
//!   first, the tray process refuses to start instead of sharing the name
//!   (Windows enforces this; Wine 8 does not).
//! - Everything that changes anything still needs the window token (see
//!   [`crate::proto`]), which only travels on the stdin of a process the
//!   tray or window started.
//!
//! Not done (a per-connection check of the client's user, as `SO_PEERCRED`
//! on Unix): it would need `GetNamedPipeClientProcessId` and the client
//! process's token; the DACL above already keeps other users from writing.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};
use tokio::runtime::Runtime;

/// `ERROR_PIPE_BUSY`: every instance is taken; the server makes the next one at once.
const ERROR_PIPE_BUSY: i32 = 231;
/// `ERROR_NO_DATA` / `ERROR_PIPE_NOT_CONNECTED`: the other end has gone.
const ERROR_NO_DATA: i32 = 232;
const ERROR_PIPE_NOT_CONNECTED: i32 = 233;

/// The pipe's name for the data folder `root`: a hash of its path
/// (lowercased: Windows paths are case-insensitive), so each data folder
/// has its own tray process, as with the socket file on Unix.
#[must_use]
pub fn pipe_name(root: &Path) -> String {
    // FNV-1a 64: stable across builds and Rust versions (the window and
    // the tray process must agree), and no secret is needed.
    let path = root.to_string_lossy().to_lowercase();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(r"\\.\pipe\nightjar-{h:016x}")
}

/// The I/O thread every pipe of this process is driven by.
fn runtime() -> io::Result<&'static Runtime> {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("pipe-io").enable_io().build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| io::Error::other(format!("the named-pipe I/O thread could not start: {e}")))
}

enum Pipe {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
}

impl Pipe {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Server(p) => p.try_read(buf),
            Self::Client(p) => p.try_read(buf),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Server(p) => p.try_write(buf),
            Self::Client(p) => p.try_write(buf),
        }
    }

    async fn ready(&self, interest: Interest) -> io::Result<()> {
        match self {
            Self::Server(p) => p.ready(interest).await.map(drop),
            Self::Client(p) => p.ready(interest).await.map(drop),
        }
    }
}

/// A connection; clones share it (one may read while another writes).
pub struct Stream(Arc<Pipe>);

fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || matches!(e.raw_os_error(), Some(ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED))
}

impl Stream {
    /// Another handle on the same connection.
    ///
    /// # Errors
    /// Never; the `Result` matches `UnixStream::try_clone`.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self(self.0.clone()))
    }

    /// Waits on the I/O thread until the pipe is ready for `interest`.
    fn wait(&self, interest: Interest) -> io::Result<()> {
        let pipe = self.0.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        runtime()?.spawn(async move {
            let _ = tx.send(pipe.ready(interest).await);
        });
        rx.recv().map_err(|_| io::Error::other("the named-pipe I/O thread stopped"))?
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.0.try_read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(Interest::READABLE)?,
                // The other end closed: the end of the stream, as on a socket.
                Err(e) if gone(&e) => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.0.try_write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(Interest::WRITABLE)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Nothing to do: a write that returned has been handed to the pipe
    /// (a small one lands in the pipe's buffer at once).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connects to the tray process of the data folder `root` (retrying for
/// up to 2 s while every pipe instance is busy).
///
/// # Errors
/// When no tray process listens there.
pub fn connect(root: &Path) -> io::Result<Stream> {
    let name = pipe_name(root);
    let rt = runtime()?;
    let _enter = rt.enter();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match ClientOptions::new().open(&name) {
            Ok(c) => return Ok(Stream(Arc::new(Pipe::Client(c)))),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e),
        }
    }
}

/// The tray process's pipe: connections arrive from the I/O thread.
pub struct Listener(Mutex<mpsc::Receiver<io::Result<Stream>>>);

impl Listener {
    /// The connections, as they come; ends if the pipe cannot be offered again.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<Stream>> + '_ {
        std::iter::from_fn(move || self.0.lock().ok()?.recv().ok())
    }
}

fn server_options(first: bool) -> ServerOptions {
    let mut o = ServerOptions::new();
    o.first_pipe_instance(first).reject_remote_clients(true);
    o
}

/// Creates the pipe for the data folder `root` and accepts connections on
/// the I/O thread: each time a client connects, the next instance is
/// created at once (a client that finds all busy retries, see [`connect`]).
///
/// # Errors
/// When the pipe cannot be created (another process already made it).
pub fn bind(root: &Path) -> io::Result<Listener> {
    let name = pipe_name(root);
    let rt = runtime()?;
    let first = {
        let _enter = rt.enter();
        server_options(true).create(&name)?
    };
    let (tx, rx) = mpsc::channel();
    rt.spawn(async move {
        let mut server = first;
        loop {
            let connected = server.connect().await;
            let next = match server_options(false).create(&name) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!("the window pipe {name} cannot take more connections: {e}");
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let pipe = std::mem::replace(&mut server, next);
            if tx.send(connected.map(|()| Stream(Arc::new(Pipe::Server(pipe))))).is_err() {
                return;
            }
        }
    });
    Ok(Listener(Mutex::new(rx)))
}

/// Nothing to remove: the pipe goes with the process.
pub fn unbind(_root: &Path) {}

/// Whether the peer may use the pipe: the pipe's DACL already decided (see
/// the module docs), so every connection that got this far is accepted.
#[must_use]
pub fn check_peer(_stream: &Stream) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};

    use super::*;

    fn read_line(s: Stream) -> String {
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line
    }

    /// What the protocol needs of the pipe: a read blocked on one handle
    /// does not hold up a write on a clone (both ends), a second client gets
    /// its own instance, and closing is the end of the stream at the other
    /// end. (That a second listener is refused, `FILE_FLAG_FIRST_PIPE_INSTANCE`,
    /// is Windows' to enforce: Wine 8, where this runs in CI, does not.)
    #[test]
    fn reads_and_writes_go_on_at_once_and_a_close_ends_the_stream() {
        let root = std::env::temp_dir().join(format!("nightjar-pipe-test-{}", std::process::id()));
        let listener = bind(&root).unwrap();
        let client = connect(&root).unwrap();
        let server = listener.incoming().next().unwrap().unwrap();
        let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let client_reads = std::thread::spawn(move || read_line(c));
        let server_reads = std::thread::spawn(move || read_line(s));
        std::thread::sleep(Duration::from_millis(200));
        (&client).write_all(b"to the server\n").unwrap();
        (&server).write_all(b"to the client\n").unwrap();
        assert_eq!(server_reads.join().unwrap(), "to the server\n");
        assert_eq!(client_reads.join().unwrap(), "to the client\n");

        let second = connect(&root).unwrap();
        let second_server = listener.incoming().next().unwrap().unwrap();
        (&second).write_all(b"second\n").unwrap();
        assert_eq!(read_line(second_server.try_clone().unwrap()), "second\n");

        drop(client);
        let mut rest = Vec::new();
        (&server).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the server sees the end of the stream");
        drop(second);
    }

    #[test]
    fn pipe_names_follow_the_data_folder_not_its_case() {
        let a = pipe_name(Path::new(r"C:\Users\Ann\AppData\Roaming\Nightjar"));
        assert_eq!(a, pipe_name(Path::new(r"c:\users\ann\appdata\roaming\nightjar")));
        assert_ne!(a, pipe_name(Path::new(r"C:\Users\Bob\AppData\Roaming\Nightjar")));
        assert!(a.starts_with(r"\\.\pipe\nightjar-") && a.len() == r"\\.\pipe\nightjar-".len() + 16, "{a}");
    }
}
