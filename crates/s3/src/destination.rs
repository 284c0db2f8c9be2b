//! [`S3Destination`]: core's `Destination` over an S3-compatible bucket.
//!
//! Uploads stream: S3 needs no size up front, so a pending file fills one
//! part ([`PART_SIZE`], S3's minimum) in memory while the previous one is
//! on its way (a multipart upload); memory stays at two parts whatever the
//! size, with no spool file. S3 allows 10,000 parts, so the part size
//! doubles every [`PARTS_PER_SIZE`] parts (5 MiB parts up to 10 GB, 80 MiB
//! ones only past 150 GB): small and usual backups pay for 5 MiB parts only. A backup smaller than one part
//! goes up in one `PUT` at commit, with `If-None-Match: *` (never over an
//! existing object) and its sha256 as object metadata
//! (`x-amz-meta-sha256`). Parts of a multipart upload are invisible until
//! `CompleteMultipartUpload`, so the final name shows only at commit; a
//! failed, aborted or dropped upload is aborted (`AbortMultipartUpload`)
//! and leaves no object. The sha256 of a multipart upload is only known
//! after its metadata was sent, so it lives in the manifest (the sibling
//! `<name>.manifest` object the runner writes), which every download checks.
//!
//! Reads stream too, and resume: a connection cut mid-download is picked
//! up with a ranged `GET` from the byte reached (`If-Match` on the ETag, so
//! a replaced object is never stitched onto the old one), and the sha256
//! in the object's metadata, when there is one, is checked at the end.
//!
//! object_store is async: its futures run on one small runtime of this
//! process (two worker threads), driven from the blocking trait methods.

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt as _;
use nightjar_core::config::S3Settings;
use nightjar_core::destination::{Destination, PendingFile, Space, StoredFile};
use nightjar_core::{Error, ErrorKind, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, GetRange, MultipartUpload, ObjectStore, ObjectStoreExt as _, PutMode, PutMultipartOptions, PutOptions, PutPayload, RetryConfig};
use sha2::{Digest as _, Sha256};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::credentials::Credentials;

/// Bytes of the first parts of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 5 << 20;
/// Parts uploading at once while the next one fills. One is enough to keep
/// the pipe full (a part goes up faster than the dump fills the next), and
/// each more would cost a part of memory.
pub const IN_FLIGHT: usize = 1;
/// The part size doubles after this many parts (10,000 parts at most per
/// upload: 2,000 each of 5, 10, 20, 40 and 80 MiB reach 310 GB).
pub const PARTS_PER_SIZE: usize = 2_000;

/// The size of part number `sent` (0-based) of an upload starting at `base`.
#[must_use]
pub fn part_len(base: usize, sent: usize) -> usize {
    base << (sent / PARTS_PER_SIZE).min(4)
}
/// The object metadata key of the sha256 (`x-amz-meta-sha256`).
pub const SHA256_METADATA: &str = "sha256";
/// Resumes of one download after a cut connection.
const READ_RESUMES: u32 = 5;

/// The process's runtime for S3 requests (never dropped: a static).
fn runtime() -> Result<&'static Runtime> {
    static RT: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("nightjar-s3").enable_all().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::other(format!("The S3 client could not start its threads ({e}); close some programs and try again.")))
}

/// A prefix (folder) in an S3 bucket (`s3://backups/app`).
#[derive(Debug, Clone)]
pub struct S3Destination {
    store: Arc<AmazonS3>,
    rt: &'static Runtime,
    bucket: String,
    prefix: String,
    server: String,
    part_size: usize,
}

impl S3Destination {
    /// The destination `s3://{location}` (`BUCKET/PREFIX`).
    ///
    /// # Errors
    /// When the client cannot be set up.
    pub fn new(settings: &S3Settings, creds: &Credentials, location: &str) -> Result<Self> {
        let location = location.trim_matches('/');
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(5), base: 2.0 },
            max_retries: 4,
            retry_timeout: Duration::from_secs(90),
        };
        let client = ClientOptions::new().with_timeout(Duration::from_secs(300)).with_connect_timeout(Duration::from_secs(15));
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(settings.region.trim())
            .with_access_key_id(&creds.access_key_id)
            .with_secret_access_key(&creds.secret_access_key)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(t) = &creds.session_token {
            b = b.with_token(t);
        }
        let server = match &settings.endpoint {
            Some(e) => {
                let e = e.trim().trim_end_matches('/');
                b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                e.to_string()
            }
            None => format!("AWS ({})", settings.region.trim()),
        };
        let store = b.build().map_err(|e| Error::config(format!("The S3 destination s3://{location} cannot be set up ({e}); check the [s3] section.")))?;
        Ok(Self { store: Arc::new(store), rt: runtime()?, bucket: bucket.to_string(), prefix: prefix.to_string(), server, part_size: PART_SIZE })
    }

    /// Uploads in parts of `bytes` (tests; S3 refuses parts under 5 MiB but the last).
    #[must_use]
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    fn key(&self, name: &str) -> Path {
        if self.prefix.is_empty() { Path::from(name) } else { Path::from(format!("{}/{name}", self.prefix)) }
    }

    fn prefix_path(&self) -> Option<Path> {
        (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()))
    }

    /// One sentence for a failed request, by cause.
    fn fail(&self, what: &str, e: &object_store::Error) -> Error {
        describe(&self.location(), &self.bucket, &self.server, what, e)
    }
}

/// The text of `tag` in an S3 error document (`<Code>…</Code>`).
fn xml_tag<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..start + len])
}

/// The short cause of an object_store error: S3's error code and message
/// when the server sent one, else the innermost message.
fn cause(e: &object_store::Error) -> String {
    let mut s: &dyn std::error::Error = e;
    let mut full = e.to_string();
    while let Some(inner) = s.source() {
        s = inner;
        full.push_str(": ");
        full.push_str(&s.to_string());
    }
    if let Some(code) = xml_tag(&full, "Code") {
        return match xml_tag(&full, "Message") {
            Some(m) => format!("{code}: {m}"),
            None => code.to_string(),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if text.len() > 300 { format!("{}…", &text[..text.floor_char_boundary(300)]) } else { text.to_string() }
}

/// True when the server refused the request's credentials or permissions
/// (401/403; listings report them as generic errors).
fn refused(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    if matches!(e, E::PermissionDenied { .. } | E::Unauthenticated { .. }) {
        return true;
    }
    let mut s: &dyn std::error::Error = e;
    let mut full = e.to_string();
    while let Some(inner) = s.source() {
        s = inner;
        full.push_str(&s.to_string());
    }
    full.contains("403 Forbidden") || full.contains("401 Unauthorized")
}

fn describe(location: &str, bucket: &str, server: &str, what: &str, e: &object_store::Error) -> Error {
    use object_store::Error as E;
    let why = cause(e);
    let err = match e {
        _ if refused(e) => Error::new(
            ErrorKind::Auth,
            format!(
                "S3 refused the credentials for {location} when asked to {what} ({why}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `nightjar password set --s3` or ~/.aws/credentials, and the bucket's permissions."
            ),
        ),
        E::NotFound { .. } => Error::not_found(format!("Could not {what} {location}: not found at {server} ({why}); check that the bucket {bucket} exists and the job's destination.")),
        _ if why.starts_with("NoSuchBucket") => Error::not_found(format!("The bucket {bucket} does not exist at {server}; create it or fix the job's destination ({location}).")),
        _ => Error::new(ErrorKind::Connection, format!("Could not {what} {location} at {server} ({why}); check the network and the [s3] endpoint, then run again.")),
    };
    err.with_source(io::Error::other(e.to_string()))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.trim_matches('.').is_empty() || name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(Error::destination(format!("\"{name}\" is not a valid S3 object name for a backup.")));
    }
    Ok(())
}

impl Destination for S3Destination {
    fn location(&self) -> String {
        if self.prefix.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{}", self.bucket, self.prefix) }
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}/{name}", self.location())
    }

    fn prepare(&self) -> Result<()> {
        // One page of the listing: checks the credentials, the bucket and the network before the dump starts.
        let mut pages = self.store.list(self.prefix_path().as_ref());
        match self.rt.block_on(pages.next()) {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(self.fail("list", &e)),
        }
    }

    fn create(&self, name: &str) -> Result<Box<dyn PendingFile>> {
        check_name(name)?;
        if self.exists(name)? {
            return Err(Error::destination(format!("{} already exists; Nightjar never overwrites a backup.", self.full_name(name))));
        }
        Ok(Box::new(S3Pending {
            dest: self.clone(),
            path: self.key(name),
            name: name.to_string(),
            buf: Vec::new(),
            upload: None,
            parts: JoinSet::new(),
            sent: 0,
            hash: Sha256::new(),
            failed: None,
        }))
    }

    fn list(&self) -> Result<Vec<StoredFile>> {
        // object_store pages ListObjectsV2 (1,000 keys a page) through the continuation tokens.
        let listed = self.rt.block_on(self.store.list_with_delimiter(self.prefix_path().as_ref())).map_err(|e| self.fail("list", &e))?;
        let mut out: Vec<StoredFile> = listed
            .objects
            .into_iter()
            .filter_map(|o| Some(StoredFile { name: o.location.filename()?.to_string(), size: o.size, modified: Some(o.last_modified) }))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        let path = self.key(name);
        let got = self.rt.block_on(self.store.get_opts(&path, GetOptions::default())).map_err(|e| self.fail("read", &e))?;
        let expected = got.attributes.get(&Attribute::Metadata(SHA256_METADATA.into())).map(|v| v.as_ref().to_ascii_lowercase());
        let size = got.meta.size;
        let etag = got.meta.e_tag.clone();
        Ok(Box::new(S3Reader {
            dest: self.clone(),
            path,
            size,
            etag,
            pos: 0,
            stream: Some(got.into_stream()),
            chunk: Bytes::new(),
            hash: expected.map(|e| (Sha256::new(), e)),
            resumes: READ_RESUMES,
        }))
    }

    fn remove(&self, name: &str) -> Result<()> {
        match self.rt.block_on(self.store.delete(&self.key(name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("delete from", &e)),
        }
    }

    fn exists(&self, name: &str) -> Result<bool> {
        match self.rt.block_on(self.store.head(&self.key(name))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail("inspect", &e)),
        }
    }

    fn space(&self) -> Result<Option<Space>> {
        // Buckets have no fixed size.
        Ok(None)
    }
}

/// An upload in progress (see the module documentation).
struct S3Pending {
    dest: S3Destination,
    path: Path,
    name: String,
    /// The part being filled.
    buf: Vec<u8>,
    /// Started when the first part is full.
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
    /// Parts handed to the upload so far.
    sent: usize,
    hash: Sha256,
    /// The first failure: later writes and the commit report it.
    failed: Option<String>,
}

impl std::fmt::Debug for S3Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Pending").field("path", &self.path).finish_non_exhaustive()
    }
}

impl S3Pending {
    fn upload_error(&self, e: &object_store::Error) -> Error {
        let d = &self.dest;
        describe(&d.full_name(&self.name), &d.bucket, &d.server, "upload", e)
    }

    /// Records `err`, aborts the upload (best effort) and returns the error as I/O.
    fn fail_io(&mut self, err: &Error) -> io::Error {
        let msg = format!("{} Nothing was saved under that name.", err.message());
        self.failed = Some(msg.clone());
        self.discard();
        io::Error::other(msg)
    }

    /// Waits for parts until fewer than `max` are in flight.
    fn wait_parts(&mut self, max: usize) -> std::result::Result<(), Error> {
        while self.parts.len() > max {
            let joined = self.dest.rt.block_on(self.parts.join_next());
            match joined {
                None | Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(self.upload_error(&e)),
                Some(Err(e)) => return Err(Error::other(format!("An S3 upload task of {} failed ({e}); run the backup again.", self.dest.full_name(&self.name)))),
            }
        }
        Ok(())
    }

    /// Sends the full buffer as the next part (starting the upload first).
    fn send_part(&mut self) -> std::result::Result<(), Error> {
        let rt = self.dest.rt;
        if self.upload.is_none() {
            let up = rt.block_on(self.dest.store.put_multipart_opts(&self.path, PutMultipartOptions::default())).map_err(|e| self.upload_error(&e))?;
            self.upload = Some(up);
        }
        self.wait_parts(IN_FLIGHT - 1)?;
        let data = std::mem::take(&mut self.buf);
        self.sent += 1;
        let part = self.upload.as_mut().expect("started above").put_part(PutPayload::from(data));
        self.parts.spawn_on(part, rt.handle());
        Ok(())
    }

    /// Aborts a started multipart upload and forgets the parts (best effort).
    fn discard(&mut self) {
        self.parts.abort_all();
        self.buf = Vec::new();
        if let Some(mut up) = self.upload.take() {
            let rt = self.dest.rt;
            while rt.block_on(self.parts.join_next()).is_some() {}
            if let Err(e) = rt.block_on(up.abort()) {
                tracing::warn!(object = %self.path, "could not abort the S3 multipart upload (the bucket's lifecycle rule or the next abort removes its parts): {e}");
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(msg) = &self.failed {
            return Err(Error::destination(msg.clone()));
        }
        let sha = format!("{:x}", std::mem::take(&mut self.hash).finalize());
        let rt = self.dest.rt;
        if self.upload.is_none() {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::Metadata(SHA256_METADATA.into()), sha.into());
            let opts = PutOptions { mode: PutMode::Create, attributes, ..PutOptions::default() };
            let data = std::mem::take(&mut self.buf);
            return match rt.block_on(self.dest.store.put_opts(&self.path, PutPayload::from(data), opts)) {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Err(Error::destination(format!(
                    "{} appeared while the backup was written; Nightjar never overwrites a backup, so this one was discarded.",
                    self.dest.full_name(&self.name)
                ))),
                Err(e) => Err(self.upload_error(&e)),
            };
        }
        let done = (|| {
            if !self.buf.is_empty() {
                self.send_part()?;
            }
            self.wait_parts(0)?;
            let up = self.upload.as_mut().expect("started");
            let completed = rt.block_on(up.complete());
            completed.map(|_| ()).map_err(|e| self.upload_error(&e))
        })();
        match done {
            Ok(()) => {
                self.upload = None;
                Ok(())
            }
            Err(e) => {
                self.discard();
                Err(Error::new(e.kind(), format!("{} Nothing was saved under that name.", e.message())))
            }
        }
    }
}

impl Write for S3Pending {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(msg) = &self.failed {
            return Err(io::Error::other(msg.clone()));
        }
        let mut rest = data;
        while !rest.is_empty() {
            let part = part_len(self.dest.part_size, self.sent);
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(part);
            }
            let n = (part - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            // Only an upload that stays one PUT stores its sha256 as metadata; a
            // multipart one has it in the manifest, hashed by the pipeline already.
            if self.upload.is_none() {
                self.hash.update(&rest[..n]);
            }
            rest = &rest[n..];
            if self.buf.len() >= part
                && let Err(e) = self.send_part()
            {
                return Err(self.fail_io(&e));
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PendingFile for S3Pending {
    fn commit(mut self: Box<Self>) -> Result<()> {
        self.finish()
    }

    fn abort(mut self: Box<Self>) {
        self.discard();
    }
}

impl Drop for S3Pending {
    fn drop(&mut self) {
        self.discard();
    }
}

/// A download in progress (see the module documentation).
struct S3Reader {
    dest: S3Destination,
    path: Path,
    size: u64,
    etag: Option<String>,
    pos: u64,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
    hash: Option<(Sha256, String)>,
    resumes: u32,
}

impl S3Reader {
    fn name(&self) -> String {
        format!("s3://{}/{}", self.dest.bucket, self.path)
    }

    /// Picks the download up at `pos` after `why` (a cut or short stream).
    fn resume(&mut self, why: String) -> io::Result<()> {
        self.stream = None;
        if self.resumes == 0 {
            return Err(io::Error::other(format!("The download of {} broke off at byte {} of {} ({why}); check the network and try again.", self.name(), self.pos, self.size)));
        }
        self.resumes -= 1;
        tracing::info!(object = %self.path, at = self.pos, "S3 download cut ({why}); resuming");
        std::thread::sleep(Duration::from_millis(200 * u64::from(READ_RESUMES - self.resumes)));
        let opts = GetOptions { range: Some(GetRange::Offset(self.pos)), if_match: self.etag.clone(), ..GetOptions::default() };
        match self.dest.rt.block_on(self.dest.store.get_opts(&self.path, opts)) {
            Ok(got) => {
                self.stream = Some(got.into_stream());
                Ok(())
            }
            Err(object_store::Error::Precondition { .. }) => {
                Err(io::Error::other(format!("{} was replaced while it was being downloaded; download it again.", self.name())))
            }
            Err(e) => Err(io::Error::other(describe(&self.name(), &self.dest.bucket, &self.dest.server, "read", &e).message().to_string())),
        }
    }
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(out.len());
                out[..n].copy_from_slice(&self.chunk[..n]);
                if let Some((h, _)) = &mut self.hash {
                    h.update(&out[..n]);
                }
                let _ = self.chunk.split_to(n);
                self.pos += n as u64;
                return Ok(n);
            }
            let Some(stream) = self.stream.as_mut() else { return Ok(0) };
            match self.dest.rt.block_on(stream.next()) {
                Some(Ok(bytes)) => self.chunk = bytes,
                Some(Err(e)) if self.pos < self.size => self.resume(cause(&e))?,
                Some(Err(e)) => return Err(io::Error::other(format!("Reading {} failed ({}); try again.", self.name(), cause(&e)))),
                None if self.pos < self.size => self.resume("the connection closed early".into())?,
                None => {
                    self.stream = None;
                    if let Some((h, expected)) = self.hash.take() {
                        let got = format!("{:x}", h.finalize());
                        if got != expected {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("{} does not match the sha256 stored with it (expected {expected}, got {got}); the object is damaged, use another backup.", self.name()),
                            ));
                        }
                    }
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_locations() {
        let creds = Credentials { access_key_id: "id".into(), secret_access_key: "s".into(), session_token: None, source: "test".into() };
        let s = S3Settings { endpoint: Some("http://127.0.0.1:9/".into()), path_style: true, ..S3Settings::default() };
        let d = S3Destination::new(&s, &creds, "backups/app/db").unwrap();
        assert_eq!(d.location(), "s3://backups/app/db");
        assert_eq!(d.full_name("x.sql"), "s3://backups/app/db/x.sql");
        assert_eq!(d.key("x.sql").as_ref(), "backups/app/db/x.sql".trim_start_matches("backups/"));
        let root = S3Destination::new(&s, &creds, "backups").unwrap();
        assert_eq!((root.location(), root.key("x.sql").to_string()), ("s3://backups".to_string(), "x.sql".to_string()));
        let doc = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The signature differs.</Message></Error>";
        assert_eq!(xml_tag(doc, "Code"), Some("SignatureDoesNotMatch"));
        assert_eq!(xml_tag(doc, "Message"), Some("The signature differs."));
        assert!(check_name("a/b").is_err() && check_name("").is_err() && check_name("..").is_err() && check_name("app_1.sql.zst").is_ok());
    }

    #[test]
    fn parts_start_at_the_minimum_and_grow_to_fit_ten_thousand() {
        assert_eq!((part_len(PART_SIZE, 0), part_len(PART_SIZE, 1_999)), (5 << 20, 5 << 20));
        assert_eq!((part_len(PART_SIZE, 2_000), part_len(PART_SIZE, 4_000)), (10 << 20, 20 << 20));
        assert_eq!(part_len(PART_SIZE, 9_999), 80 << 20, "no bigger than 80 MiB");
        let most: usize = (0..10_000).map(|n| part_len(PART_SIZE, n)).sum();
        assert!(most as u64 > 300 * 1_000_000_000, "S3's 10,000 parts hold {most} bytes");
    }

    #[test]
    fn an_unreachable_server_fails_prepare_with_one_sentence() {
        let creds = Credentials { access_key_id: "id".into(), secret_access_key: "s".into(), session_token: None, source: "test".into() };
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let s = S3Settings { endpoint: Some(format!("http://127.0.0.1:{port}")), path_style: true, ..S3Settings::default() };
        let d = S3Destination::new(&s, &creds, "backups/app").unwrap();
        let e = d.prepare().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
        assert!(e.message().starts_with("Could not list s3://backups/app at http://127.0.0.1:"), "{e}");
        assert!(e.message().ends_with("check the network and the [s3] endpoint, then run again."), "{e}");
    }
}
