//! One stream written to several sinks at once (a backup with several
//! destinations): the pipeline writes into a [`FanOut`], which gathers the
//! bytes into 1 MiB chunks and hands each chunk (shared, not copied) to one
//! bounded channel per sink; each sink writes on its own thread.
//!
//! Memory stays bounded: at most [`QUEUE`] chunks wait per sink, and a slow
//! sink slows the writer (back-pressure) rather than growing a buffer. A
//! sink that fails is dropped: its thread ends with the error, the others
//! go on. Writing fails only when every sink has failed.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes gathered before a chunk is handed to the sinks.
pub const CHUNK: usize = 1024 * 1024;
/// Chunks that may wait for one sink.
pub const QUEUE: usize = 2;

struct Sink<W> {
    tx: Option<SyncSender<Arc<Vec<u8>>>>,
    handle: Option<JoinHandle<io::Result<W>>>,
    /// The sink's error, once its thread ended with one.
    failed: Option<io::Error>,
}

/// Writes the same bytes to every sink (see the module documentation).
pub struct FanOut<W: Write + Send + 'static> {
    chunk: Vec<u8>,
    sinks: Vec<Sink<W>>,
}

impl<W: Write + Send + 'static> FanOut<W> {
    /// Starts one writing thread per sink.
    #[must_use]
    pub fn new(sinks: Vec<W>) -> Self {
        let sinks = sinks
            .into_iter()
            .map(|mut w| {
                let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(QUEUE);
                let handle = std::thread::Builder::new()
                    .name("nightjar-copy".into())
                    .spawn(move || {
                        for chunk in rx {
                            w.write_all(&chunk)?;
                        }
                        w.flush()?;
                        Ok(w)
                    })
                    .map_err(|e| tracing::error!("could not start a copy thread: {e}"))
                    .ok();
                let failed = handle.is_none().then(|| io::Error::other("could not start a thread"));
                Sink { tx: handle.as_ref().map(|_| tx), handle, failed }
            })
            .collect();
        Self { chunk: Vec::with_capacity(CHUNK), sinks }
    }

    /// How many sinks still take data.
    #[must_use]
    pub fn live(&self) -> usize {
        self.sinks.iter().filter(|s| s.tx.is_some()).count()
    }

    /// Ends a sink whose thread stopped, keeping its error.
    fn reap(sink: &mut Sink<W>) {
        sink.tx = None;
        if let Some(h) = sink.handle.take() {
            sink.failed = Some(match h.join() {
                Ok(Ok(_)) => io::Error::other("the copy stopped early"),
                Ok(Err(e)) => e,
                Err(_) => io::Error::other("the copy thread panicked"),
            });
        }
    }

    fn send_chunk(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = Arc::new(std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK)));
        for s in &mut self.sinks {
            let Some(tx) = &s.tx else { continue };
            if tx.send(chunk.clone()).is_err() {
                Self::reap(s);
            }
        }
        if self.live() == 0 {
            // Every sink failed: the pipeline stops with the last error.
            let last = self.sinks.iter().rev().find_map(|s| s.failed.as_ref());
            return Err(last.map_or_else(|| io::Error::other("every copy failed"), |e| io::Error::new(e.kind(), e.to_string())));
        }
        Ok(())
    }

    /// Sends what is left, waits for every sink and gives each one back (in
    /// the order given to [`FanOut::new`]) or its error.
    pub fn finish(mut self) -> Vec<io::Result<W>> {
        let _ = self.send_chunk();
        self.sinks
            .drain(..)
            .map(|mut s| {
                s.tx = None;
                match (s.failed.take(), s.handle.take()) {
                    (Some(e), _) => Err(e),
                    (None, Some(h)) => h.join().unwrap_or_else(|_| Err(io::Error::other("the copy thread panicked"))),
                    (None, None) => Err(io::Error::other("the copy stopped early")),
                }
            })
            .collect()
    }
}

impl<W: Write + Send + 'static> Write for FanOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.live() == 0 {
            return Err(io::Error::other("every copy failed"));
        }
        let room = CHUNK - self.chunk.len();
        let n = buf.len().min(room);
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() >= CHUNK {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for FanOut<W> {
    /// Dropped unfinished (the run failed): the threads end and drop their
    /// sinks (a pending file that is dropped is discarded).
    fn drop(&mut self) {
        for s in &mut self.sinks {
            s.tx = None;
            if let Some(h) = s.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A sink recording what it got, optionally slow or failing after `fail_after` bytes.
    struct Probe {
        got: Arc<Mutex<Vec<u8>>>,
        delay: Duration,
        fail_after: Option<usize>,
    }

    impl Write for Probe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            let mut got = self.got.lock().unwrap();
            if self.fail_after.is_some_and(|n| got.len() + buf.len() > n) {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection cut"));
            }
            got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn probe(delay_ms: u64, fail_after: Option<usize>) -> (Probe, Arc<Mutex<Vec<u8>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        (Probe { got: got.clone(), delay: Duration::from_millis(delay_ms), fail_after }, got)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn every_sink_gets_the_same_bytes_and_a_failing_one_is_dropped() {
        let input = data(CHUNK * 7 + 12345);
        let (a, got_a) = probe(0, None);
        let (b, _) = probe(0, Some(CHUNK * 2));
        let (c, got_c) = probe(5, None);
        let mut f = FanOut::new(vec![a, b, c]);
        for piece in input.chunks(100_003) {
            f.write_all(piece).unwrap();
        }
        let out = f.finish();
        assert!(out[0].is_ok() && out[2].is_ok());
        assert_eq!(out[1].as_ref().err().unwrap().kind(), io::ErrorKind::ConnectionReset);
        assert!(*got_a.lock().unwrap() == input, "the first sink got every byte in order");
        assert!(*got_c.lock().unwrap() == input, "the slow sink got every byte in order");
    }

    #[test]
    fn a_failed_sink_does_not_stall_the_others() {
        // The failing sink fails at once and never reads again; the writer
        // must not block on its full queue.
        let input = data(CHUNK * 20);
        let (a, got_a) = probe(0, None);
        let (b, _) = probe(0, Some(0));
        let t = Instant::now();
        let mut f = FanOut::new(vec![a, b]);
        f.write_all(&input).unwrap();
        let out = f.finish();
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(out[0].is_ok() && out[1].is_err());
        assert!(*got_a.lock().unwrap() == input);
    }

    #[test]
    fn writing_fails_only_when_every_sink_failed() {
        let (a, _) = probe(0, Some(10));
        let (b, _) = probe(0, Some(10));
        let mut f = FanOut::new(vec![a, b]);
        let mut e = None;
        for _ in 0..(QUEUE + 4) * 2 {
            if let Err(x) = f.write_all(&data(CHUNK)) {
                e = Some(x);
                break;
            }
        }
        assert_eq!(e.expect("the write fails once both sinks failed").kind(), io::ErrorKind::ConnectionReset);
        assert!(f.finish().iter().all(Result::is_err));
    }

    #[test]
    fn a_slow_sink_bounds_the_memory_rather_than_queueing_everything() {
        // With a sink that takes 20 ms per chunk, 12 chunks cannot be written
        // in less than ~ (12 - QUEUE - 1) * 20 ms: the writer waits.
        let (a, got_a) = probe(20, None);
        let t = Instant::now();
        let mut f = FanOut::new(vec![a]);
        for _ in 0..12 {
            f.write_all(&data(CHUNK)).unwrap();
        }
        let queued_for = t.elapsed();
        assert!(queued_for >= Duration::from_millis(150), "the writer waited for the slow sink: {queued_for:?}");
        assert!(f.finish()[0].is_ok());
        assert_eq!(got_a.lock().unwrap().len(), CHUNK * 12);
    }
}
