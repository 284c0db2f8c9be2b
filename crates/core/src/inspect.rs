//! What a file a user points at is, before anything is done with it.
//!
//! [`inspect`] reads only the beginning of the file (and the manifest beside
//! it): the compression from the magic bytes (zstd `28 B5 2F FD`, gzip
//! `1F 8B`, else none), then, after decompressing the first few KiB, the
//! content: a `pg_dump` plain SQL script (`-- PostgreSQL database dump`), a
//! custom-format archive (`PGDMP`), a `pg_dumpall` cluster script, a MySQL or
//! MariaDB dump, or something else. Versions and the database name are taken
//! from the header where it states them.
//!
//! Inspection never judges the whole file: a truncated or corrupted backup
//! usually looks fine here. [`crate::restore::validate()`] reads everything.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::manifest::Manifest;
use crate::model::{Compression, Engine, Format};
use crate::names::MANIFEST_SUFFIX;
use crate::{Error, ErrorKind, Result};

/// How much of the decompressed stream is read to recognise it.
pub const HEAD_BYTES: usize = 64 * 1024;
/// Manifests larger than this are not ours.
const MAX_MANIFEST: u64 = 64 * 1024;

/// zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// gzip member magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// Start of a `pg_dump -Fc` archive.
pub const PGDMP_MAGIC: &[u8] = b"PGDMP";

/// What the (decompressed) file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    /// A `pg_dump` plain SQL script.
    PostgresPlain,
    /// A `pg_dump -Fc` custom-format archive.
    PostgresCustom,
    /// A `pg_dumpall` script of a whole cluster (roles, every database).
    PostgresCluster,
    /// A `mysqldump` / `mariadb-dump` script.
    Mysql,
    /// Nothing at all (an empty file, or compressed nothing).
    Empty,
    /// Anything else: not a backup.
    Unknown,
}

impl Content {
    /// A short description for messages ("a PostgreSQL plain SQL dump").
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Content::PostgresPlain => "a PostgreSQL plain SQL dump",
            Content::PostgresCustom => "a PostgreSQL custom-format archive",
            Content::PostgresCluster => "a pg_dumpall dump of a whole PostgreSQL cluster",
            Content::Mysql => "a MySQL/MariaDB dump",
            Content::Empty => "empty",
            Content::Unknown => "not a database backup",
        }
    }

    /// The engine the content belongs to.
    #[must_use]
    pub fn engine(self) -> Option<Engine> {
        match self {
            Content::PostgresPlain | Content::PostgresCustom | Content::PostgresCluster => Some(Engine::Postgres),
            Content::Mysql => Some(Engine::Mysql),
            Content::Empty | Content::Unknown => None,
        }
    }

    /// The dump format Nightjar can restore, if any.
    #[must_use]
    pub fn format(self) -> Option<Format> {
        match self {
            Content::PostgresPlain | Content::Mysql => Some(Format::Plain),
            Content::PostgresCustom => Some(Format::Custom),
            Content::PostgresCluster | Content::Empty | Content::Unknown => None,
        }
    }
}

/// What the first decompressed bytes say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Server version ("15.20 (Debian 15.20-0+deb12u1)", "8.0.35").
    pub server_version: Option<String>,
    /// Dump tool version ("15.20 (Debian …)", "10.13  Distrib 8.0.35, …").
    pub dump_version: Option<String>,
    /// Custom-format archive version ("1.14.0").
    pub archive_version: Option<String>,
    /// Database name, when the header names it.
    pub database: Option<String>,
}

/// Everything known about a file without reading all of it.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file (absolute when it could be made so).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time.
    pub modified: Option<DateTime<Utc>>,
    /// Outer compression, from the magic bytes.
    pub compression: Compression,
    /// What it holds.
    pub content: Content,
    /// Header details.
    pub header: Header,
    /// Why the start could not be decompressed, when it could not.
    pub decode_problem: Option<String>,
    /// The Nightjar manifest beside it (`<file>.json`).
    pub manifest: Option<Manifest>,
    /// A `<file>.json` that exists but is not a readable Nightjar manifest.
    pub manifest_problem: Option<String>,
    /// The file is age-encrypted (what is above is of what it decrypts to).
    pub encrypted: bool,
    /// An encrypted file no given key opens: what to do (one sentence).
    pub key_problem: Option<String>,
    /// The keys it was opened with (every later read decrypts with them).
    #[serde(skip)]
    pub keys: Option<std::sync::Arc<crate::crypt::Keys>>,
}

impl Inspection {
    /// The engine of the content.
    #[must_use]
    pub fn engine(&self) -> Option<Engine> {
        self.content.engine()
    }

    /// The restorable format of the content.
    #[must_use]
    pub fn format(&self) -> Option<Format> {
        self.content.format()
    }

    /// The keys to decrypt it with, when it is encrypted.
    #[must_use]
    pub fn keys(&self) -> Option<&crate::crypt::Keys> {
        self.keys.as_deref().filter(|_| self.encrypted)
    }

    /// "a PostgreSQL plain SQL dump, zstd-compressed, from PostgreSQL 15.20".
    #[must_use]
    pub fn describe(&self) -> String {
        let mut s = self.content.describe().to_string();
        match self.compression {
            Compression::None => {}
            c => s.push_str(&format!(", {c}-compressed")),
        }
        if self.encrypted {
            s.push_str(", age-encrypted");
        }
        if let Some(v) = &self.header.server_version {
            let engine = match self.engine() {
                Some(Engine::Mysql) => "MySQL/MariaDB",
                _ => "PostgreSQL",
            };
            s.push_str(&format!(", from {engine} {}", short_version(v)));
        }
        s
    }

    /// The file name for messages.
    #[must_use]
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// "15.20" from "15.20 (Debian 15.20-0+deb12u1)".
#[must_use]
pub fn short_version(v: &str) -> &str {
    v.split_whitespace().next().unwrap_or(v)
}

/// The major version of a PostgreSQL version text ("15.20 (…)" → 15, "9.6.24" → 9).
#[must_use]
pub fn pg_major(v: &str) -> Option<u32> {
    short_version(v).split('.').next()?.parse().ok()
}

/// The outer compression of a file from its first bytes.
#[must_use]
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Recognises decompressed content from its first bytes.
#[must_use]
pub fn sniff(head: &[u8]) -> (Content, Header) {
    if head.is_empty() {
        return (Content::Empty, Header::default());
    }
    if head.starts_with(PGDMP_MAGIC) {
        return (Content::PostgresCustom, parse_pgdmp(head));
    }
    // Text dumps: look at the first lines only (a BOM would not be pg_dump's).
    let text = String::from_utf8_lossy(&head[..head.len().min(8192)]);
    // The marker must come within the first lines, after nothing but
    // comments (pg_dump opens with "--"; MariaDB may put a "/*M!…*/" first).
    let first_lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .take_while(|l| l.starts_with("--") || l.starts_with("/*"))
        .collect();
    let starts = |marker: &str| first_lines.iter().any(|l| l.starts_with(marker));
    let field = |prefix: &str| {
        text.lines().take(40).find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string())).filter(|v| !v.is_empty())
    };
    if starts("-- PostgreSQL database dump") {
        let header = Header {
            server_version: field("-- Dumped from database version"),
            dump_version: field("-- Dumped by pg_dump version"),
            ..Header::default()
        };
        return (Content::PostgresPlain, header);
    }
    if starts("-- PostgreSQL database cluster dump") {
        let header = Header { dump_version: field("-- Dumped by pg_dump version").or_else(|| field("-- Dumped by pg_dumpall version")), ..Header::default() };
        return (Content::PostgresCluster, header);
    }
    if starts("-- MySQL dump") || starts("-- MariaDB dump") {
        let first = first_lines.iter().find(|l| l.starts_with("-- MySQL dump") || l.starts_with("-- MariaDB dump")).copied().unwrap_or("");
        let dump_version = first.split_once(" dump ").map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
        let database = text.lines().take(40).find_map(|l| {
            let (_, db) = l.strip_prefix("-- Host:")?.split_once("Database:")?;
            Some(db.trim().to_string()).filter(|d| !d.is_empty())
        });
        let header = Header { server_version: field("-- Server version"), dump_version, database, ..Header::default() };
        return (Content::Mysql, header);
    }
    (Content::Unknown, Header::default())
}

/// Reads the header of a `PGDMP` archive: version bytes, int size, format,
/// compression, creation time, then the database name and the server and
/// pg_dump versions (archive versions 1.10 and later). Fields that cannot be
/// read are left empty.
fn parse_pgdmp(b: &[u8]) -> Header {
    let mut h = Header::default();
    let Some(&[vmaj, vmin, vrev]) = b.get(5..8) else { return h };
    h.archive_version = Some(format!("{vmaj}.{vmin}.{vrev}"));
    let version = (u32::from(vmaj), u32::from(vmin));
    let mut r = PgdmpReader { b, pos: 8, int_size: 0 };
    let Some(int_size) = r.byte() else { return h };
    r.int_size = usize::from(int_size);
    if r.int_size == 0 || r.int_size > 8 {
        return h;
    }
    let (Some(_off_size), Some(_format)) = (r.byte(), r.byte()) else { return h };
    // Compression: a byte (algorithm) since 1.15, an int from 1.4, a byte before.
    let ok = if version >= (1, 15) {
        r.byte().is_some()
    } else if version >= (1, 4) {
        r.int().is_some()
    } else if version >= (1, 2) {
        r.byte().is_some()
    } else {
        true
    };
    if !ok || version < (1, 4) {
        return h;
    }
    // Creation time: sec, min, hour, mday, mon, year, isdst.
    for _ in 0..7 {
        if r.int().is_none() {
            return h;
        }
    }
    let Some(db) = r.string() else { return h };
    h.database = db;
    if version >= (1, 10)
        && let Some(server) = r.string()
    {
        h.server_version = server;
        if let Some(tool) = r.string() {
            h.dump_version = tool;
        }
    }
    h
}

struct PgdmpReader<'a> {
    b: &'a [u8],
    pos: usize,
    int_size: usize,
}

impl PgdmpReader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    /// pg_dump's `WriteInt`: a sign byte, then `int_size` bytes little-endian.
    fn int(&mut self) -> Option<i64> {
        let sign = self.byte()?;
        let mut v: i64 = 0;
        for i in 0..self.int_size {
            v |= i64::from(self.byte()?) << (8 * i);
        }
        Some(if sign == 0 { v } else { -v })
    }

    /// pg_dump's `WriteStr`: a length int (-1 for NULL), then the bytes.
    fn string(&mut self) -> Option<Option<String>> {
        let len = self.int()?;
        if len < 0 {
            return Some(None);
        }
        let len = usize::try_from(len).ok().filter(|l| *l <= 4096)?;
        let bytes = self.b.get(self.pos..self.pos + len)?;
        self.pos += len;
        Some(Some(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// A reader that decompresses `inner` according to `compression`.
///
/// # Errors
/// When the decoder cannot be set up.
pub fn decoder<'a, R: Read + 'a>(inner: R, compression: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(128 * 1024, inner))),
        Compression::None => Box::new(inner),
    })
}

/// A reader of what `inner` (the stored file) holds: decrypted with `keys`
/// when given (a chunk that fails authentication, or a cut file, is a read
/// error of kind `InvalidData`).
///
/// # Errors
/// When no key opens it, or its header is damaged.
pub fn decrypting<'a, R: Read + 'a>(inner: R, keys: Option<&crate::crypt::Keys>) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match keys {
        Some(k) => Box::new(k.decrypt(inner).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?),
        None => Box::new(inner),
    })
}

/// Reads up to `limit` bytes (fewer only at the end of the stream).
fn read_up_to(r: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; limit];
    let mut filled = 0;
    while filled < limit {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if filled == 0 {
                    return Err(e);
                }
                break;
            }
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

fn open_error(path: &Path, e: &io::Error) -> Error {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "does not exist; check the path",
        io::ErrorKind::PermissionDenied => "cannot be read (permission denied); check its permissions",
        _ => "cannot be read; check the path and the disk",
    };
    Error::new(ErrorKind::InvalidBackup, format!("The file {} {what}.", path.display()))
}

/// The manifest path of a backup file: `<file>.json`.
#[must_use]
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_os_string();
    s.push(MANIFEST_SUFFIX);
    PathBuf::from(s)
}

/// Reads the manifest beside `file`: `(manifest, problem)`.
fn read_manifest(file: &Path) -> (Option<Manifest>, Option<String>) {
    let path = manifest_path(file);
    let Ok(meta) = std::fs::metadata(&path) else { return (None, None) };
    if !meta.is_file() || meta.len() > MAX_MANIFEST {
        return (None, Some(format!("{} is not a Nightjar manifest", path.display())));
    }
    match std::fs::read(&path) {
        Ok(bytes) => match Manifest::parse(&bytes) {
            Some(m) => (Some(m), None),
            None => (None, Some(format!("{} is not a readable Nightjar manifest", path.display()))),
        },
        Err(e) => (None, Some(format!("{} cannot be read ({e})", path.display()))),
    }
}

/// Inspects `path`: reads its first bytes and the manifest beside it.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] when the file does not exist, is a folder,
/// or cannot be read. A file that is not a backup is *not* an error here:
/// see [`Inspection::content`].
pub fn inspect(path: &Path) -> Result<Inspection> {
    inspect_with(path, None)
}

/// [`inspect`], decrypting an age-encrypted file with `keys`. Without a
/// key that opens it, [`Inspection::key_problem`] says what to do.
///
/// # Errors
/// As [`inspect`].
pub fn inspect_with(path: &Path, keys: Option<std::sync::Arc<crate::crypt::Keys>>) -> Result<Inspection> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let meta = std::fs::metadata(&abs).map_err(|e| open_error(&abs, &e))?;
    if meta.is_dir() {
        return Err(Error::new(ErrorKind::InvalidBackup, format!("{} is a folder, not a backup file; pick a file inside it.", abs.display())));
    }
    let modified = meta.modified().ok().map(DateTime::<Utc>::from);
    let (manifest, manifest_problem) = read_manifest(&abs);
    let encrypted = {
        let mut f = File::open(&abs).map_err(|e| open_error(&abs, &e))?;
        crate::crypt::is_age(&read_up_to(&mut f, crate::crypt::AGE_MAGIC.len()).map_err(|e| open_error(&abs, &e))?)
    };
    let mut inspection = Inspection {
        path: abs.clone(),
        size: meta.len(),
        modified,
        compression: Compression::None,
        content: Content::Unknown,
        header: Header::default(),
        decode_problem: None,
        manifest,
        manifest_problem,
        encrypted,
        key_problem: None,
        keys,
    };
    let keys = inspection.keys.clone().filter(|_| encrypted);
    let file = File::open(&abs).map_err(|e| open_error(&abs, &e))?;
    // What the file holds, opened once: decrypted when encrypted (one key
    // check, and one scrypt in passphrase mode).
    let mut plain: Box<dyn Read> = match keys.as_deref() {
        Some(k) => match k.decrypt(file) {
            Ok(r) => Box::new(r),
            Err(age::DecryptError::NoMatchingKeys) => {
                inspection.key_problem = Some(crate::crypt::no_key_message(&abs, inspection.manifest.as_ref()));
                return Ok(inspection);
            }
            Err(e) => {
                inspection.decode_problem = Some(format!("its age encryption header is damaged ({e})"));
                return Ok(inspection);
            }
        },
        None if encrypted => {
            inspection.key_problem = Some(crate::crypt::no_key_message(&abs, inspection.manifest.as_ref()));
            return Ok(inspection);
        }
        None => Box::new(file),
    };
    let magic = match read_up_to(&mut *plain, 4) {
        Ok(m) => m,
        Err(e) if encrypted => {
            inspection.decode_problem = Some(format!("its encrypted data cannot be decrypted ({e})"));
            return Ok(inspection);
        }
        Err(e) => return Err(open_error(&abs, &e)),
    };
    let compression = detect_compression(&magic);
    let (head, decode_problem) = match decoder(io::Cursor::new(magic).chain(plain), compression).and_then(|mut d| read_up_to(&mut *d, HEAD_BYTES)) {
        Ok(h) => (h, None),
        Err(e) => (Vec::new(), Some(format!("its {compression} data cannot be decompressed ({e})"))),
    };
    let (content, header) = if decode_problem.is_some() { (Content::Unknown, Header::default()) } else { sniff(&head) };
    inspection.compression = compression;
    inspection.content = content;
    inspection.header = header;
    inspection.decode_problem = decode_problem;
    Ok(inspection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const PLAIN: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)\n-- Dumped by pg_dump version 16.4\n\nSET statement_timeout = 0;\n";

    #[test]
    fn magic_bytes_give_the_compression() {
        assert_eq!(detect_compression(&[0x28, 0xB5, 0x2F, 0xFD, 0x04]), Compression::Zstd);
        assert_eq!(detect_compression(&[0x1F, 0x8B, 0x08, 0x00]), Compression::Gzip);
        assert_eq!(detect_compression(b"--\n-- PostgreSQL"), Compression::None);
        assert_eq!(detect_compression(&[0x28, 0xB5]), Compression::None);
        assert_eq!(detect_compression(&[]), Compression::None);
    }

    #[test]
    fn headers_give_the_content_and_versions() {
        let (c, h) = sniff(PLAIN.as_bytes());
        assert_eq!(c, Content::PostgresPlain);
        assert_eq!(h.server_version.as_deref(), Some("15.20 (Debian 15.20-0+deb12u1)"));
        assert_eq!(h.dump_version.as_deref(), Some("16.4"));
        assert_eq!(pg_major(h.server_version.as_deref().unwrap()), Some(15));

        let (c, h) = sniff(b"-- MySQL dump 10.13  Distrib 8.0.35, for Linux (x86_64)\n--\n-- Host: localhost    Database: shop\n-- ------\n-- Server version\t8.0.35\n");
        assert_eq!(c, Content::Mysql);
        assert_eq!(h.server_version.as_deref(), Some("8.0.35"));
        assert_eq!(h.database.as_deref(), Some("shop"));
        assert_eq!(h.dump_version.as_deref(), Some("10.13  Distrib 8.0.35, for Linux (x86_64)"));
        assert_eq!(sniff(b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n").0, Content::Mysql);

        assert_eq!(sniff(b"--\n-- PostgreSQL database cluster dump\n--\n").0, Content::PostgresCluster);
        assert_eq!(sniff(b"").0, Content::Empty);
        assert_eq!(sniff(b"hello world\n").0, Content::Unknown);
        assert_eq!(sniff(b"SELECT 1;\n-- PostgreSQL database dump\n").0, Content::Unknown, "the marker must open the file");
        assert_eq!(sniff(&[0u8, 159, 146, 150, 1, 2, 3]).0, Content::Unknown);
    }

    fn pgdmp(vmin: u8, int_size: u8) -> Vec<u8> {
        let mut b = b"PGDMP".to_vec();
        b.extend([1, vmin, 0, int_size, 8, 1]);
        let int = |b: &mut Vec<u8>, v: i64| {
            b.push(u8::from(v < 0));
            let a = v.unsigned_abs();
            for i in 0..int_size {
                b.push(((a >> (8 * i)) & 0xff) as u8);
            }
        };
        let s = |b: &mut Vec<u8>, t: &str| {
            int(b, t.len() as i64);
            b.extend(t.as_bytes());
        };
        if vmin >= 15 {
            b.push(0);
        } else {
            int(&mut b, -1);
        }
        for v in [5, 4, 3, 2, 1, 124, 0] {
            int(&mut b, v);
        }
        s(&mut b, "магазин");
        s(&mut b, "15.20 (Debian 15.20-0+deb12u1)");
        s(&mut b, "16.4");
        b.extend([0u8; 32]);
        b
    }

    #[test]
    fn custom_archive_header_is_read() {
        for (vmin, int_size) in [(14, 4), (15, 4), (14, 8)] {
            let (c, h) = sniff(&pgdmp(vmin, int_size));
            assert_eq!(c, Content::PostgresCustom);
            assert_eq!(h.archive_version, Some(format!("1.{vmin}.0")));
            assert_eq!(h.database.as_deref(), Some("магазин"));
            assert_eq!(h.server_version.as_deref(), Some("15.20 (Debian 15.20-0+deb12u1)"));
            assert_eq!(h.dump_version.as_deref(), Some("16.4"));
        }
        // A cut-off header is still a custom archive, with fewer details.
        let (c, h) = sniff(&pgdmp(14, 4)[..20]);
        assert_eq!(c, Content::PostgresCustom);
        assert_eq!(h.archive_version.as_deref(), Some("1.14.0"));
        assert_eq!(h.database, None);
        assert_eq!(sniff(b"PGDMP").0, Content::PostgresCustom);
    }

    #[test]
    fn inspect_reads_compressed_files_and_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let zst = dir.path().join("a.sql.zst");
        std::fs::write(&zst, zstd::stream::encode_all(PLAIN.as_bytes(), 3).unwrap()).unwrap();
        let i = inspect(&zst).unwrap();
        assert_eq!((i.compression, i.content), (Compression::Zstd, Content::PostgresPlain));
        assert!(i.manifest.is_none() && i.manifest_problem.is_none());
        assert_eq!(i.size, std::fs::metadata(&zst).unwrap().len());
        assert!(i.describe().contains("zstd-compressed, from PostgreSQL 15.20"), "{}", i.describe());

        let gz = dir.path().join("b.dump.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&pgdmp(14, 4)).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        std::fs::write(manifest_path(&gz), b"{\"not\": \"ours\"}").unwrap();
        let i = inspect(&gz).unwrap();
        assert_eq!((i.compression, i.content), (Compression::Gzip, Content::PostgresCustom));
        assert!(i.manifest_problem.is_some());

        let empty = dir.path().join("empty.sql");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(inspect(&empty).unwrap().content, Content::Empty);

        let bad = dir.path().join("bad.sql.zst");
        std::fs::write(&bad, [0x28, 0xB5, 0x2F, 0xFD, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3]).unwrap();
        let i = inspect(&bad).unwrap();
        assert_eq!(i.content, Content::Unknown);
        assert!(i.decode_problem.is_some());

        let missing = inspect(&dir.path().join("nope.sql")).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidBackup);
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        assert!(inspect(dir.path()).unwrap_err().to_string().contains("is a folder"));
    }
}
