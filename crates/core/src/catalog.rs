//! What backups a destination holds: files that match a job's name pattern
//! *and* have a Nightjar manifest naming that job. Only these are ever
//! candidates for retention; everything else in the folder is foreign.

use std::io::Read as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::destination::{Destination, StoredFile};
use crate::manifest::Manifest;
use crate::names::{parse_backup_file_name, MANIFEST_SUFFIX, PARTIAL_SUFFIX};
use crate::model::{Compression, Format, Trigger};
use crate::Result;

/// Manifests larger than this are not ours.
const MAX_MANIFEST: u64 = 64 * 1024;

/// A backup found in a destination.
#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    /// The job it belongs to.
    pub job: String,
    /// File name.
    pub name: String,
    /// Full path or URL.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was taken (from the name).
    pub taken_at: DateTime<Utc>,
    /// Trigger from the name.
    pub trigger: Trigger,
    /// Format from the name.
    pub format: Format,
    /// Compression from the name.
    pub compression: Compression,
    /// Encrypted with age (the name ends with `.age`).
    pub encrypted: bool,
    /// sha256 from the manifest.
    pub sha256: Option<String>,
    /// True when the manifest's size matches the file (a cheap sanity check).
    pub size_matches: bool,
}

fn read_manifest(dest: &dyn Destination, name: &str) -> Option<Manifest> {
    let mut r = dest.open(name).ok()?;
    let mut buf = Vec::new();
    r.by_ref().take(MAX_MANIFEST).read_to_end(&mut buf).ok()?;
    Manifest::parse(&buf)
}

/// Backups of `job` (written in time zone `tz`) in `dest`, newest first.
///
/// # Errors
/// When the destination cannot be listed.
pub fn job_backups(dest: &dyn Destination, job: &str, tz: Tz) -> Result<Vec<BackupEntry>> {
    let files = dest.list()?;
    Ok(entries_for(dest, &files, job, tz))
}

fn entries_for(dest: &dyn Destination, files: &[StoredFile], job: &str, tz: Tz) -> Vec<BackupEntry> {
    let mut out = Vec::new();
    for f in files {
        let Some(parsed) = parse_backup_file_name(job, &f.name, tz) else { continue };
        let manifest_name = format!("{}{MANIFEST_SUFFIX}", f.name);
        if !files.iter().any(|m| m.name == manifest_name) {
            continue;
        }
        let Some(m) = read_manifest(dest, &manifest_name) else { continue };
        if m.job != job || m.file != f.name {
            continue;
        }
        out.push(BackupEntry {
            job: job.to_string(),
            name: f.name.clone(),
            path: dest.full_name(&f.name),
            size: f.size,
            taken_at: parsed.taken_at,
            trigger: parsed.trigger,
            format: parsed.format,
            compression: parsed.compression,
            encrypted: parsed.encrypted,
            size_matches: m.size == f.size,
            sha256: Some(m.sha256),
        });
    }
    out.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.name.cmp(&a.name)));
    out
}

/// Every Nightjar backup in `dest`, of any job (found through manifests),
/// newest first.
///
/// # Errors
/// When the destination cannot be listed.
pub fn all_backups(dest: &dyn Destination) -> Result<Vec<BackupEntry>> {
    let files = dest.list()?;
    let mut jobs: Vec<(String, Tz)> = Vec::new();
    for f in files.iter().filter(|f| f.name.ends_with(MANIFEST_SUFFIX) && f.size <= MAX_MANIFEST) {
        if let Some(m) = read_manifest(dest, &f.name) {
            let tz = m.timezone.parse().unwrap_or(Tz::UTC);
            if !jobs.iter().any(|(j, _)| *j == m.job) {
                jobs.push((m.job, tz));
            }
        }
    }
    let mut out: Vec<BackupEntry> = jobs.iter().flat_map(|(j, tz)| entries_for(dest, &files, j, *tz)).collect();
    out.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.name.cmp(&a.name)));
    Ok(out)
}

/// Leftover `.partial` files of `job` (from a crashed or killed run).
#[must_use]
pub fn stale_partials(files: &[StoredFile], job: &str, tz: Tz) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| {
            let base = f.name.strip_suffix(PARTIAL_SUFFIX)?;
            let base = base.strip_suffix(MANIFEST_SUFFIX).unwrap_or(base);
            parse_backup_file_name(job, base, tz).map(|_| f.name.clone())
        })
        .collect()
}
