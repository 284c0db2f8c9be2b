//! The streaming pipeline: dump bytes → compress → (encrypt) → sha256 + size → sink.
//!
//! With `[job.encryption]`, the compressed stream goes through an age
//! [`age::stream::StreamWriter`] (64 KiB authenticated chunks) before it is
//! hashed and stored, so the sha256 is of what is stored and no plaintext
//! ever reaches the destination.
//!
//! Nothing is buffered beyond fixed-size buffers (the read buffer, the
//! encoder's window and its worker queues, the sink's write buffer), so memory
//! is bounded whatever the database size. zstd frames carry their content
//! checksum, so corruption is detectable even without the manifest.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::model::Compression;
use crate::observer::{Progress, RunObserver, Stage};

/// Size of the read buffer between the dump tool and the encoder.
const READ_BUF: usize = 256 * 1024;

/// Counts and hashes what passes through to `inner` (the stored artifact).
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Returns the inner writer, the byte count and the hex sha256.
    pub fn into_parts(self) -> (W, u64, String) {
        (self.inner, self.written, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What the compressor writes into: the hashed sink, through age when encrypting.
enum Stored<W: Write> {
    Clear(HashingWriter<W>),
    /// The writer, and the bytes given to it (age does not expose its
    /// sink; its output is that plus 16 bytes per 64 KiB chunk and the header).
    Age(age::stream::StreamWriter<HashingWriter<W>>, u64),
}

impl<W: Write> Stored<W> {
    fn new(hashing: HashingWriter<W>, encryptor: Option<age::Encryptor>) -> io::Result<Self> {
        Ok(match encryptor {
            Some(e) => Stored::Age(e.wrap_output(hashing)?, 0),
            None => Stored::Clear(hashing),
        })
    }

    fn written(&self) -> u64 {
        match self {
            Stored::Clear(h) => h.written(),
            Stored::Age(_, n) => *n,
        }
    }

    /// Writes age's last chunk (when encrypting) and returns the hashed sink.
    fn finish(self) -> io::Result<HashingWriter<W>> {
        match self {
            Stored::Clear(h) => Ok(h),
            Stored::Age(a, _) => a.finish(),
        }
    }
}

impl<W: Write> Write for Stored<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stored::Clear(h) => h.write(buf),
            Stored::Age(a, count) => {
                let n = a.write(buf)?;
                *count += n as u64;
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stored::Clear(h) => h.flush(),
            Stored::Age(a, _) => a.flush(),
        }
    }
}

enum Encoder<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, Stored<W>>),
    Gzip(flate2::write::GzEncoder<Stored<W>>),
    Plain(Stored<W>),
}

/// Compression settings for one run.
#[derive(Debug, Clone, Copy)]
pub struct CompressOptions {
    /// Algorithm.
    pub compression: Compression,
    /// Level (already validated).
    pub level: i32,
    /// zstd worker threads (0: compress on the calling thread).
    pub threads: u32,
}

impl CompressOptions {
    /// Default worker count: one compression worker beside the reading
    /// thread when there are at least two cores, none on one core. pg_dump
    /// produces ~200-250 MB/s, which one zstd level-3 worker keeps up with
    /// (measured: 1 worker was the fastest setting on 2 cores), and each
    /// extra worker costs ~10 MiB, which would break the 64 MiB bound on
    /// bigger machines for no gain.
    #[must_use]
    pub fn default_threads() -> u32 {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        u32::from(n >= 2)
    }
}

/// The bytes a zstd worker compresses at a time: two of the level's
/// windows (4 MiB up to level 7, 8 MiB to 16, 16 MiB above), where zstd's
/// default is four. Each job in flight holds its input and output, so the
/// default held ~19 MiB more on the 1 GB benchmark database for no better
/// ratio (jobs overlap by part of a window). Measured (BENCHMARKS.md):
/// 40.7 against 59.3 MiB peak RSS, as fast as the default within the
/// noise; one window per job (2 MiB) gave 31 MiB but cost 3-6 % wall, as
/// each job re-reads a larger share of overlap.
#[must_use]
pub fn zstd_job_size(level: i32) -> u32 {
    match level {
        ..=7 => 4 << 20,
        8..=16 => 8 << 20,
        _ => 16 << 20,
    }
}

/// What went through the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOutput {
    /// Bytes read from the source (the uncompressed dump).
    pub bytes_in: u64,
    /// Bytes written to the sink (the stored artifact).
    pub bytes_out: u64,
    /// sha256 of the stored artifact, lower-case hex.
    pub sha256: String,
}

/// Why the pipeline stopped early.
#[derive(Debug)]
pub enum PipelineError {
    /// Reading the source failed.
    Read(io::Error),
    /// Writing the sink (or compressing) failed.
    Write(io::Error),
    /// The cancel flag was raised.
    Cancelled,
}

/// Streams `source` through compression (and `encryptor`, when given) into
/// `sink` and returns the sink with the figures. Checks `cancel` between
/// buffers and reports progress to `observer` at most every 200 ms.
///
/// # Errors
/// [`PipelineError`] saying which side failed.
#[allow(clippy::too_many_arguments)] // one call site; each is a distinct input of the run
pub fn run<R: Read, W: Write>(
    mut source: R,
    sink: W,
    opts: CompressOptions,
    encryptor: Option<age::Encryptor>,
    observer: &dyn RunObserver,
    job: &str,
    started: Instant,
    cancel: &AtomicBool,
) -> Result<(W, PipelineOutput), PipelineError> {
    let hashing = Stored::new(HashingWriter::new(sink), encryptor).map_err(PipelineError::Write)?;
    let mut enc = match opts.compression {
        Compression::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(hashing, opts.level).map_err(PipelineError::Write)?;
            e.include_checksum(true).map_err(PipelineError::Write)?;
            if opts.threads > 0 {
                e.multithread(opts.threads).map_err(PipelineError::Write)?;
                e.set_parameter(zstd::zstd_safe::CParameter::JobSize(zstd_job_size(opts.level))).map_err(PipelineError::Write)?;
            }
            Encoder::Zstd(e)
        }
        Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
            hashing,
            flate2::Compression::new(u32::try_from(opts.level).unwrap_or(6)),
        )),
        Compression::None => Encoder::Plain(hashing),
    };
    let mut buf = vec![0u8; READ_BUF];
    let mut bytes_in = 0u64;
    let mut last_report = Instant::now();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PipelineError::Read(e)),
        };
        bytes_in += n as u64;
        let w: &mut dyn Write = match &mut enc {
            Encoder::Zstd(e) => e,
            Encoder::Gzip(e) => e,
            Encoder::Plain(e) => e,
        };
        w.write_all(&buf[..n]).map_err(PipelineError::Write)?;
        if last_report.elapsed() >= Duration::from_millis(200) {
            last_report = Instant::now();
            let bytes_out = match &enc {
                Encoder::Zstd(e) => e.get_ref().written(),
                Encoder::Gzip(e) => e.get_ref().written(),
                Encoder::Plain(e) => e.written(),
            };
            observer.progress(job, &Progress { stage: Stage::Dumping, bytes_in, bytes_out, elapsed: started.elapsed() });
        }
    }
    let stored = match enc {
        Encoder::Zstd(e) => e.finish().map_err(PipelineError::Write)?,
        Encoder::Gzip(e) => e.finish().map_err(PipelineError::Write)?,
        Encoder::Plain(e) => e,
    };
    let hashing = stored.finish().map_err(PipelineError::Write)?;
    let (sink, bytes_out, sha256) = hashing.into_parts();
    observer.progress(job, &Progress { stage: Stage::Dumping, bytes_in, bytes_out, elapsed: started.elapsed() });
    Ok((sink, PipelineOutput { bytes_in, bytes_out, sha256 }))
}

/// sha256 and size of everything `r` yields.
///
/// # Errors
/// The read error.
pub fn sha256_of(mut r: impl Read) -> io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut n_total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((n_total, hex(&h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::NoopObserver;

    fn roundtrip(c: Compression, level: i32, threads: u32) {
        let data: Vec<u8> = (0..3_000_000u32).flat_map(|i| format!("row {i}\t{}\n", i % 97).into_bytes()).collect();
        let cancel = AtomicBool::new(false);
        let (out, fig) = run(&data[..], Vec::new(), CompressOptions { compression: c, level, threads }, None, &NoopObserver, "t", Instant::now(), &cancel).unwrap();
        assert_eq!(fig.bytes_in, data.len() as u64);
        assert_eq!(fig.bytes_out, out.len() as u64);
        assert_eq!(fig.sha256, sha256_of(&out[..]).unwrap().1);
        let back = match c {
            Compression::Zstd => zstd::stream::decode_all(&out[..]).unwrap(),
            Compression::Gzip => {
                let mut v = Vec::new();
                flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut v).unwrap();
                v
            }
            Compression::None => out.clone(),
        };
        assert!(back == data, "{c} round trip differs");
        if c != Compression::None {
            assert!(out.len() < data.len() / 3);
        }
    }

    #[test]
    fn every_compression_round_trips() {
        roundtrip(Compression::Zstd, 3, 0);
        roundtrip(Compression::Zstd, 3, 2);
        roundtrip(Compression::Gzip, 6, 0);
        roundtrip(Compression::None, 0, 0);
    }

    #[test]
    fn zstd_frames_carry_a_checksum() {
        let cancel = AtomicBool::new(false);
        let data = vec![7u8; 100_000];
        let (mut out, _) = run(&data[..], Vec::new(), CompressOptions { compression: Compression::Zstd, level: 3, threads: 0 }, None, &NoopObserver, "t", Instant::now(), &cancel).unwrap();
        // Frame header descriptor: bit 2 is Content_Checksum_flag.
        assert_ne!(out[4] & 0b100, 0);
        let last = out.len() - 1;
        out[last] ^= 0xff; // corrupt the checksum itself
        assert!(zstd::stream::decode_all(&out[..]).is_err());
    }

    #[test]
    fn encrypted_output_is_age_of_the_compressed_stream_and_hashed_as_stored() {
        let cancel = AtomicBool::new(false);
        let data: Vec<u8> = (0..500_000u32)
            .flat_map(|i| format!("row {i}\n").into_bytes())
            .collect();
        let id = age::x25519::Identity::generate();
        let enc = age::Encryptor::with_recipients(std::iter::once(
            &id.to_public() as &dyn age::Recipient
        ))
        .unwrap();
        let opts = CompressOptions {
            compression: Compression::Zstd,
            level: 3,
            threads: 0,
        };
        let (mut out, fig) = run(
            &data[..],
            Vec::new(),
            opts,
            Some(enc),
            &NoopObserver,
            "t",
            Instant::now(),
            &cancel,
        )
        .unwrap();
        assert!(crate::crypt::is_age(&out));
        assert_eq!(fig.bytes_out, out.len() as u64);
        assert_eq!(fig.sha256, sha256_of(&out[..]).unwrap().1);
        assert!(!out.windows(8).any(|w| w == b"row 1234"), "no plaintext");
        let decrypt = |bytes: &[u8], id: &age::x25519::Identity| -> io::Result<Vec<u8>> {
            let d = age::Decryptor::new(bytes).map_err(io::Error::other)?;
            let mut r = d
                .decrypt(std::iter::once(id as &dyn age::Identity))
                .map_err(io::Error::other)?;
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            Ok(v)
        };
        assert!(zstd::stream::decode_all(&decrypt(&out, &id).unwrap()[..]).unwrap() == data);
        // Another key, a cut file, a flipped byte: refused.
        assert!(decrypt(&out, &age::x25519::Identity::generate()).is_err());
        assert!(decrypt(&out[..out.len() - 100], &id).is_err());
        let mid = out.len() / 2;
        out[mid] ^= 1;
        assert!(decrypt(&out, &id).is_err());
    }

    #[test]
    fn cancel_stops_the_pipeline() {
        let cancel = AtomicBool::new(true);
        let r = run(
            &[1u8; 10][..],
            Vec::new(),
            CompressOptions {
                compression: Compression::None,
                level: 0,
                threads: 0,
            },
            None,
            &NoopObserver,
            "t",
            Instant::now(),
            &cancel,
        );
        assert!(matches!(r, Err(PipelineError::Cancelled)));
    }
}
