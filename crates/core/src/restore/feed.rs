//! A child process fed through its stdin (`psql`, `pg_restore`), and the
//! streaming of a backup file into it: file → sha256 + count →
//! decompress → child's stdin, with fixed-size buffers only (no temporary
//! copy, memory bounded whatever the file's size).
//!
//! As with the dump side, the exit status is part of the result: bytes
//! accepted by the child prove nothing until it exited 0. stderr is drained
//! on its own thread, keeping its tail for the message; a child dropped
//! before [`FeedChild::finish`] is killed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::inspect::decoder;
use crate::model::Compression;
use crate::pipeline::hex;
use crate::source::ChildFailure;

/// Read buffer between the file and the child.
const BUF: usize = 256 * 1024;
/// How much of the end of the decompressed stream is kept (trailer checks).
pub(crate) const DATA_TAIL: usize = 4096;

/// What to do with the child's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdout {
    /// Throw it away (psql echoes query results of the script).
    Discard,
    /// Count its lines that are not `;` comments (`pg_restore --list`).
    CountEntries,
}

/// A running child whose stdin we write.
pub(crate) struct FeedChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<JoinHandle<u64>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: String,
    finished: bool,
}

impl FeedChild {
    /// Spawns `cmd` with stdin piped.
    pub(crate) fn spawn(mut cmd: Command, stdout: Stdout) -> io::Result<FeedChild> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdout(match stdout {
            Stdout::Discard => Stdio::null(),
            Stdout::CountEntries => Stdio::piped(),
        });
        let mut child = crate::platform::spawn_tool(&mut cmd)?;
        let stdin = child.stdin.take();
        let out = match child.stdout.take() {
            Some(mut o) => Some(std::thread::Builder::new().name("child-stdout".into()).spawn(move || {
                let mut entries = 0u64;
                let mut at_line_start = true;
                let mut buf = [0u8; 8192];
                loop {
                    match o.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            for &b in &buf[..n] {
                                if at_line_start && b != b';' && b != b'\n' {
                                    entries += 1;
                                }
                                at_line_start = b == b'\n';
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                entries
            })?),
            None => None,
        };
        let stderr = crate::source::child::drain_stderr_tail(child.stderr.take().expect("stderr piped"))?;
        Ok(FeedChild { child, stdin, stdout: out, stderr: Some(stderr), program, finished: false })
    }

    /// The child's pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child (cancel, or the input turned out bad).
    pub(crate) fn kill(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
    }

    /// Closes stdin (EOF for the child), waits, and judges the exit status.
    /// Returns the stdout entry count (0 when discarded).
    pub(crate) fn finish(mut self) -> Result<u64, ChildFailure> {
        self.stdin.take();
        let status = self.child.wait();
        self.finished = true;
        let entries = self.stdout.take().and_then(|h| h.join().ok()).unwrap_or(0);
        let tail = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr_tail = String::from_utf8_lossy(&tail).into_owned();
        match status {
            Ok(s) if s.success() => Ok(entries),
            Ok(s) => {
                #[cfg(unix)]
                let signal = std::os::unix::process::ExitStatusExt::signal(&s);
                #[cfg(not(unix))]
                let signal = None;
                Err(ChildFailure { program: self.program.clone(), code: s.code(), signal, stderr_tail })
            }
            Err(e) => Err(ChildFailure { program: self.program.clone(), code: None, signal: None, stderr_tail: e.to_string() }),
        }
    }
}

impl Write for FeedChild {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stdin {
            Some(s) => s.write(buf),
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stdin.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for FeedChild {
    fn drop(&mut self) {
        if !self.finished {
            self.stdin.take();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A sink that feeds a child for as long as it reads, then keeps going
/// without it: `pg_restore --list` stops reading after the table of
/// contents, while the decompression check must reach the end of the file.
pub(crate) struct LenientSink<'a> {
    child: Option<&'a mut FeedChild>,
}

impl<'a> LenientSink<'a> {
    pub(crate) fn new(child: &'a mut FeedChild) -> Self {
        Self { child: Some(child) }
    }
}

impl Write for LenientSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(c) = &mut self.child
            && c.write_all(buf).is_err()
        {
            // The child stopped reading; its exit status tells whether that was fine.
            if let Some(c) = self.child.take() {
                c.stdin.take();
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The figures of a streamed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Streamed {
    /// Bytes of the file read.
    pub file_bytes: u64,
    /// sha256 of the file, lower-case hex.
    pub sha256: String,
    /// Decompressed bytes written to the sink.
    pub data_bytes: u64,
    /// The last [`DATA_TAIL`] bytes of the decompressed stream.
    pub tail: Vec<u8>,
}

/// Why streaming stopped.
#[derive(Debug)]
pub(crate) enum StreamError {
    /// The file could not be opened or read.
    Read(io::Error),
    /// Its content could not be decompressed (truncated, corrupted).
    Decode(io::Error),
    /// The sink (the child) refused more input.
    Write(io::Error),
    /// The cancel flag was raised.
    Cancelled,
}

/// Reads the file, hashing and counting what passes.
struct Source<'a> {
    file: File,
    hasher: Sha256,
    bytes: &'a AtomicU64,
    failed: &'a AtomicBool,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// Buffers in flight between the decompressing thread and the writer.
const IN_FLIGHT: usize = 4;

/// The decompressing side: reads `path`, sends filled buffers to `full`,
/// takes empty ones back from `empty`. Returns the file's sha256.
fn produce(
    path: &Path,
    compression: Compression,
    keys: Option<&crate::crypt::Keys>,
    file_bytes: &AtomicU64,
    full: &std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: &std::sync::mpsc::Receiver<Vec<u8>>,
    cancel: &AtomicBool,
) -> Result<String, StreamError> {
    let file = File::open(path).map_err(StreamError::Read)?;
    let failed = AtomicBool::new(false);
    let mut source = Source { file, hasher: Sha256::new(), bytes: file_bytes, failed: &failed };
    {
        let decrypted = crate::inspect::decrypting(&mut source, keys).map_err(StreamError::Decode)?;
        let mut dec = decoder(decrypted, compression).map_err(StreamError::Decode)?;
        let mut spare = (0..IN_FLIGHT).map(|_| vec![0u8; BUF]).collect::<Vec<_>>();
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(StreamError::Cancelled);
            }
            let mut buf = match spare.pop() {
                Some(b) => b,
                // The writer gone means it failed: it reports why.
                None => empty.recv().map_err(|_| StreamError::Cancelled)?,
            };
            buf.resize(BUF, 0);
            // Fill the buffer (a decoder returns small reads; the pipe likes big writes).
            let mut filled = 0;
            while filled < BUF {
                match dec.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if failed.load(Ordering::Relaxed) => return Err(StreamError::Read(e)),
                    Err(e) => return Err(StreamError::Decode(e)),
                }
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            full.send(buf).map_err(|_| StreamError::Cancelled)?;
        }
    }
    // Whatever the decoder did not need (trailing bytes) still belongs to the file's hash.
    let mut rest = [0u8; 64 * 1024];
    loop {
        match source.read(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Read(e)),
        }
    }
    Ok(hex(&source.hasher.finalize()))
}

/// Streams `path` (decompressed per `compression`) into `sink`, calling
/// `progress(file_bytes, data_bytes)` at most every 200 ms and once at the
/// end, checking `cancel` between buffers. Decompression runs on its own
/// thread so the child never waits for it (as with `zstd -dc f | psql`);
/// at most a few 256 KiB buffers are in flight.
pub(crate) fn stream_file(
    path: &Path,
    compression: Compression,
    keys: Option<&crate::crypt::Keys>,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<Streamed, StreamError> {
    let file_bytes = AtomicU64::new(0);
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let producer = std::thread::Builder::new()
            .name("restore-decompress".into())
            .spawn_scoped(scope, {
                let file_bytes = &file_bytes;
                // Owns both channel ends: they close when it returns.
                move || produce(path, compression, keys, file_bytes, &full_tx, &empty_rx, cancel)
            })
            .map_err(StreamError::Read)?;
        let mut data_bytes = 0u64;
        let mut tail: Vec<u8> = Vec::with_capacity(DATA_TAIL * 2);
        let mut last = Instant::now();
        let mut write_error = None;
        for chunk in &full_rx {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            data_bytes += chunk.len() as u64;
            if chunk.len() >= DATA_TAIL {
                tail.clear();
                tail.extend_from_slice(&chunk[chunk.len() - DATA_TAIL..]);
            } else {
                tail.extend_from_slice(&chunk);
                if tail.len() > DATA_TAIL {
                    tail.drain(..tail.len() - DATA_TAIL);
                }
            }
            if let Err(e) = sink.write_all(&chunk) {
                write_error = Some(e);
                break;
            }
            if last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                progress(file_bytes.load(Ordering::Relaxed), data_bytes);
            }
            let _ = empty_tx.send(chunk);
        }
        // Stop the producer if we stopped early: it sees both channels closed.
        drop(full_rx);
        drop(empty_tx);
        let produced = producer.join().unwrap_or(Err(StreamError::Cancelled));
        if cancel.load(Ordering::Relaxed) {
            return Err(StreamError::Cancelled);
        }
        if let Some(e) = write_error {
            return Err(StreamError::Write(e));
        }
        let sha256 = produced?;
        sink.flush().map_err(StreamError::Write)?;
        let file_bytes = file_bytes.load(Ordering::Relaxed);
        progress(file_bytes, data_bytes);
        Ok(Streamed { file_bytes, sha256, data_bytes, tail })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(path: &Path, c: Compression) -> Result<(Streamed, Vec<u8>), StreamError> {
        let mut out = Vec::new();
        let cancel = AtomicBool::new(false);
        let s = stream_file(path, c, None, &mut out, &mut |_, _| {}, &cancel)?;
        Ok((s, out))
    }

    fn data() -> Vec<u8> {
        (0..200_000u32).flat_map(|i| format!("INSERT INTO t VALUES ({i}, 'row {}');\n", i % 91).into_bytes()).collect()
    }

    #[test]
    fn round_trips_and_hashes_the_stored_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = data();
        for (c, bytes) in [
            (Compression::Zstd, zstd::stream::encode_all(&data[..], 3).unwrap()),
            (Compression::Gzip, {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            }),
            (Compression::None, data.clone()),
        ] {
            let p = dir.path().join(format!("f.{c}"));
            std::fs::write(&p, &bytes).unwrap();
            let (s, out) = stream(&p, c).unwrap();
            assert!(out == data, "{c}");
            assert_eq!(s.file_bytes, bytes.len() as u64);
            assert_eq!(s.data_bytes, data.len() as u64);
            assert_eq!(s.sha256, crate::pipeline::sha256_of(&bytes[..]).unwrap().1);
            assert_eq!(s.tail, data[data.len() - DATA_TAIL..]);
        }
    }

    #[test]
    fn truncated_and_corrupted_compressed_files_fail_to_decode() {
        let dir = tempfile::tempdir().unwrap();
        let data = data();
        let mut zst = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        zst.include_checksum(true).unwrap();
        zst.write_all(&data).unwrap();
        let zst = zst.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        for (c, full) in [(Compression::Zstd, &zst), (Compression::Gzip, &gz)] {
            let p = dir.path().join("cut");
            std::fs::write(&p, &full[..full.len() * 2 / 3]).unwrap();
            assert!(matches!(stream(&p, c), Err(StreamError::Decode(_))), "{c} truncated");
            std::fs::write(&p, &full[..full.len() - 1]).unwrap();
            assert!(matches!(stream(&p, c), Err(StreamError::Decode(_))), "{c} missing its last byte");
            let mut flipped = full.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x01;
            std::fs::write(&p, &flipped).unwrap();
            assert!(matches!(stream(&p, c), Err(StreamError::Decode(_))), "{c} with a flipped byte");
        }
    }

    #[test]
    fn a_child_that_fails_is_a_failure_and_cancel_stops() {
        let mut c = Command::new("sh");
        c.args(["-c", "head -c 10 >/dev/null; echo 'psql:<stdin>:3: ERROR:  boom' >&2; exit 3"]);
        let mut child = FeedChild::spawn(c, Stdout::Discard).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![b'x'; 4 << 20]).unwrap();
        let cancel = AtomicBool::new(false);
        let r = stream_file(&p, Compression::None, None, &mut child, &mut |_, _| {}, &cancel);
        assert!(matches!(r, Err(StreamError::Write(_))), "{r:?}");
        let f = child.finish().unwrap_err();
        assert_eq!(f.code, Some(3));
        assert_eq!(f.last_line(), "psql:<stdin>:3: ERROR:  boom");

        let mut c = Command::new("sh");
        c.args(["-c", "head -c 10 >/dev/null; printf 'a\\n;b\\nc\\n'"]);
        let mut child = FeedChild::spawn(c, Stdout::CountEntries).unwrap();
        let mut sink = LenientSink::new(&mut child);
        let s = stream_file(&p, Compression::None, None, &mut sink, &mut |_, _| {}, &cancel).unwrap();
        assert_eq!(s.data_bytes, 4 << 20, "the whole file is read even after the child stopped");
        assert_eq!(child.finish().unwrap(), 2);

        cancel.store(true, Ordering::Relaxed);
        assert!(matches!(stream_file(&p, Compression::None, None, &mut Vec::new(), &mut |_, _| {}, &cancel), Err(StreamError::Cancelled)));
    }
}
