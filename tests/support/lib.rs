//! The integration-test harness: throwaway PostgreSQL clusters, the real
//! `nightjar` binary, a sample database, stock-tool restores and a
//! table-by-table / schema-by-schema comparison.
//!
//! Everything a test creates lives in temp dirs; clusters listen only on a
//! Unix socket in their own temp dir, so tests are hermetic and can run in
//! parallel with each other and with any PostgreSQL the machine runs.

pub mod a11y;
pub mod backup;
pub mod compare;
pub mod desktop;
pub mod fixture;
pub mod fsutil;
pub mod mariadb;
pub mod my_sample;
pub mod nightjar;
pub mod pg;
pub mod receivers;
pub mod procs;
pub mod restore;
pub mod s3;
pub mod wait;
pub mod webdriver;

pub use compare::Snapshot;
pub use fsutil::{file_names, MountGuard};
pub use nightjar::{Nightjar, NjChild, NjOutput};
pub use mariadb::MariaDbServer;
pub use my_sample::MySnapshot;
pub use pg::{LockHolder, PgCluster};

/// True when the tests run as root (as they do in CI here).
#[must_use]
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A short unique suffix for names (databases, roles, jobs) within one test binary.
#[must_use]
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id() % 100_000)
}

/// Quotes `s` as a TOML basic string.
#[must_use]
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lower-case hex sha256 of a file, computed by the stock `sha256sum` tool
/// (what a user would run by hand).
#[must_use]
pub fn sha256sum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum runs (coreutils)");
    assert!(out.status.success(), "sha256sum {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}
