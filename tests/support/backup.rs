//! Checks shared by the backup tests: config snippets, the finished record,
//! the manifest, and "nothing was left behind".

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fsutil::{backups, file_names, partials};
use crate::nightjar::{str_field, u64_field};
use crate::{sha256sum, toml_str};

/// A `[[job]]` table; `extra` is appended inside the job (more keys, then
/// optionally a `[job.retention]` table).
#[must_use]
pub fn job_toml(name: &str, database: &str, destination: &Path, extra: &str) -> String {
    format!(
        "[[job]]\nname = {}\ndatabase = {}\ndestination = {}\ntimezone = \"UTC\"\n{extra}\n",
        toml_str(name),
        toml_str(database),
        toml_str(&destination.display().to_string())
    )
}

/// The sidecar manifest `<file>.json`, parsed.
#[track_caller]
#[must_use]
pub fn manifest(file: &Path) -> Value {
    let path = PathBuf::from(format!("{}.json", file.display()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("manifest {} cannot be read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("manifest {} is not JSON: {e}", path.display()))
}

/// Checks a successful backup's record against the file on disk and its
/// manifest: the file exists under its final name in `dest`, its size and
/// `sha256sum` match the record and the manifest, compressed files pass
/// `zstd -t`/`gzip -t`, and no `.partial` is left. Returns the file's path.
#[track_caller]
pub fn check_finished_backup(record: &Value, dest: &Path, job: &str) -> PathBuf {
    assert_eq!(str_field(record, "status"), "success", "{record}");
    assert_eq!(str_field(record, "job"), job, "{record}");
    let file = PathBuf::from(str_field(record, "file"));
    assert!(file.is_absolute(), "`file` is a full path: {record}");
    assert_eq!(file.parent(), Some(dest), "the backup is in the destination folder: {record}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(str_field(record, "name"), name, "{record}");
    assert!(file.is_file(), "{} exists", file.display());
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(u64_field(record, "size"), size, "record size = file size");
    let sum = sha256sum(&file);
    assert_eq!(str_field(record, "sha256"), sum, "record sha256 = sha256sum of the file");
    let _ = u64_field(record, "duration_ms");
    assert!(u64_field(record, "dump_size") > 0, "{record}");
    let m = manifest(&file);
    assert_eq!(str_field(&m, "sha256"), sum, "manifest sha256 = sha256sum of the file: {m}");
    assert_eq!(u64_field(&m, "size"), size, "manifest size = file size: {m}");
    assert_eq!(str_field(&m, "file"), name, "{m}");
    assert_eq!(str_field(&m, "job"), job, "{m}");
    assert_eq!(str_field(&m, "app"), "nightjar", "{m}");
    crate::restore::integrity_test(&file);
    assert_eq!(partials(dest), Vec::<String>::new(), "no .partial left in {}", dest.display());
    file
}

/// Asserts `dir` holds no backup and no `.partial` (it may not even exist).
#[track_caller]
pub fn assert_nothing_left(dir: &Path) {
    assert_eq!(backups(dir), Vec::<String>::new(), "no file under a final backup name in {}: {:?}", dir.display(), file_names(dir));
    assert_eq!(partials(dir), Vec::<String>::new(), "no .partial left in {}: {:?}", dir.display(), file_names(dir));
    let manifests: Vec<String> = file_names(dir).into_iter().filter(|n| n.ends_with(".json")).collect();
    assert_eq!(manifests, Vec::<String>::new(), "no manifest left in {}", dir.display());
}

/// The history row with the highest id among `rows`.
#[track_caller]
#[must_use]
pub fn newest(rows: &[Value]) -> &Value {
    rows.iter().max_by_key(|r| r.get("id").and_then(Value::as_i64).unwrap_or(i64::MIN)).expect("at least one history row")
}

/// Checks the newest history row is a failed backup with `kind` (the error's
/// category) whose message contains `needle`, and returns it.
#[track_caller]
pub fn check_failed_run<'a>(rows: &'a [Value], kind: &str, needle: &str) -> &'a Value {
    let row = newest(rows);
    assert_eq!(str_field(row, "status"), "failed", "{row}");
    assert_eq!(str_field(row, "kind"), "backup", "{row}");
    assert_eq!(row.get("error_kind").and_then(Value::as_str), Some(kind), "{row}");
    let err = str_field(row, "error");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "the recorded error mentions {needle:?}: {err}");
    assert!(row.get("file").is_none_or(Value::is_null), "a failed run has no file: {row}");
    row
}

/// Asserts `text` mentions every one of `needles` (case-insensitive).
#[track_caller]
pub fn assert_mentions(text: &str, needles: &[&str]) {
    let lower = text.to_lowercase();
    for n in needles {
        assert!(lower.contains(&n.to_lowercase()), "expected {n:?} in: {text}");
    }
}
