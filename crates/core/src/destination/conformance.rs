//! The contract of [`Destination`], as one suite every destination runs
//! (restic tests its backends the same way): the local folder in this
//! crate's tests, OneDrive against the Graph fake in `nightjar-onedrive`'s
//! tests, and every destination to come. Enabled by the `testing` feature.
//!
//! ```ignore
//! nightjar_core::destination::conformance::run_all(&|| Box::new(MyDestination::new(..)));
//! ```
//!
//! Each check gets a fresh, empty destination from the factory. A check
//! panics with what broke.

use std::io::{Read as _, Write as _};

use super::Destination;

/// One check of the contract.
pub type Check = fn(&dyn Destination);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("a committed file is listed, exists and has its size", committed_file_is_visible),
    ("a pending file never shows under its final name", pending_file_is_not_listed),
    ("an aborted or dropped file leaves nothing", aborted_or_dropped_file_leaves_nothing),
    ("a taken name is refused and the file kept", taken_name_is_refused),
    ("open reads back the same bytes", open_reads_back_identical_bytes),
    ("remove deletes, and a missing file counts as deleted", remove_then_gone),
    ("space is either unknown or consistent", space_is_consistent),
];

/// Runs every check, each against a fresh destination from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Destination>) {
    for (name, check) in CHECKS {
        let dest = make();
        eprintln!("destination conformance: {name} ({})", dest.location());
        check(dest.as_ref());
    }
}

/// `len` bytes that differ from one position to the next.
#[must_use]
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|i| ((u32::try_from(i).unwrap_or(u32::MAX).wrapping_add(seed)).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn put(dest: &dyn Destination, name: &str, bytes: &[u8]) {
    let mut p = dest.create(name).unwrap_or_else(|e| panic!("create {name}: {}", e.detailed()));
    p.write_all(bytes).unwrap();
    p.commit().unwrap_or_else(|e| panic!("commit {name}: {}", e.detailed()));
}

fn read(dest: &dyn Destination, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    dest.open(name).unwrap_or_else(|e| panic!("open {name}: {}", e.detailed())).read_to_end(&mut out).unwrap();
    out
}

fn names(dest: &dyn Destination) -> Vec<String> {
    dest.list().unwrap_or_else(|e| panic!("list: {}", e.detailed())).into_iter().map(|f| f.name).collect()
}

fn ready(dest: &dyn Destination) {
    dest.prepare().unwrap_or_else(|e| panic!("prepare {}: {}", dest.location(), e.detailed()));
    assert!(names(dest).is_empty(), "the factory gives an empty destination: {:?}", names(dest));
}

/// create → write → commit: listed with its size, `exists`, named in full.
pub fn committed_file_is_visible(dest: &dyn Destination) {
    ready(dest);
    let bytes = pattern(100_000, 1);
    put(dest, "app_2025-01-01_00-00-00.sql.zst", &bytes);
    let listed = dest.list().unwrap();
    let f = listed.iter().find(|f| f.name == "app_2025-01-01_00-00-00.sql.zst").expect("listed after commit");
    assert_eq!(f.size, bytes.len() as u64);
    assert!(dest.exists("app_2025-01-01_00-00-00.sql.zst").unwrap());
    assert!(!dest.exists("app_2025-01-02_00-00-00.sql.zst").unwrap());
    assert!(dest.full_name("x.sql").ends_with("x.sql"), "{}", dest.full_name("x.sql"));
    if let Some(p) = dest.local_path("app_2025-01-01_00-00-00.sql.zst") {
        assert_eq!(std::fs::read(p).unwrap(), bytes, "the local path is the file");
    }
}

/// Until commit, the final name is neither listed nor `exists`.
pub fn pending_file_is_not_listed(dest: &dyn Destination) {
    ready(dest);
    let mut p = dest.create("pending.sql").unwrap();
    p.write_all(&pattern(50_000, 2)).unwrap();
    p.flush().unwrap();
    assert!(!names(dest).contains(&"pending.sql".to_string()), "{:?}", names(dest));
    assert!(!dest.exists("pending.sql").unwrap());
    p.commit().unwrap();
    assert!(names(dest).contains(&"pending.sql".to_string()));
}

/// `abort` and dropping without commit leave nothing at all.
pub fn aborted_or_dropped_file_leaves_nothing(dest: &dyn Destination) {
    ready(dest);
    let mut p = dest.create("aborted.sql").unwrap();
    p.write_all(&pattern(70_000, 3)).unwrap();
    p.abort();
    {
        let mut p = dest.create("dropped.sql").unwrap();
        p.write_all(&pattern(70_000, 4)).unwrap();
    }
    assert!(names(dest).is_empty(), "{:?}", names(dest));
    assert!(!dest.exists("aborted.sql").unwrap() && !dest.exists("dropped.sql").unwrap());
    // The names are free again.
    put(dest, "aborted.sql", b"again");
    assert_eq!(read(dest, "aborted.sql"), b"again");
}

/// A second `create` of a committed name fails and the file stays as it was.
pub fn taken_name_is_refused(dest: &dyn Destination) {
    ready(dest);
    put(dest, "taken.sql", b"first");
    let second = dest.create("taken.sql").map(|mut p| {
        let _ = p.write_all(b"second");
        p.commit()
    });
    assert!(matches!(second, Err(_) | Ok(Err(_))), "a taken name is refused");
    assert_eq!(read(dest, "taken.sql"), b"first");
}

/// Several sizes (empty, small, a few MiB) read back byte for byte.
pub fn open_reads_back_identical_bytes(dest: &dyn Destination) {
    ready(dest);
    for (i, len) in [0usize, 1, 4097, 3 * 1024 * 1024 + 17].into_iter().enumerate() {
        let name = format!("f{i}.bin");
        let bytes = pattern(len, 10 + u32::try_from(i).unwrap());
        put(dest, &name, &bytes);
        assert!(read(dest, &name) == bytes, "{name} ({len} bytes) reads back identical");
    }
    assert!(dest.open("missing.bin").is_err(), "opening a missing file fails");
}

/// `remove` deletes the file (and only it); a missing one is fine.
pub fn remove_then_gone(dest: &dyn Destination) {
    ready(dest);
    put(dest, "a.sql", b"a");
    put(dest, "b.sql", b"b");
    dest.remove("a.sql").unwrap();
    assert_eq!(names(dest), vec!["b.sql".to_string()]);
    assert!(!dest.exists("a.sql").unwrap());
    dest.remove("a.sql").expect("a file already gone counts as deleted");
    dest.remove("never-there.sql").expect("a missing file counts as deleted");
}

/// `space` answers; when known, the figures add up.
pub fn space_is_consistent(dest: &dyn Destination) {
    ready(dest);
    if let Some(s) = dest.space().unwrap_or_else(|e| panic!("space: {}", e.detailed())) {
        assert!(s.available <= s.total, "{s:?}");
        assert!((0.0..=100.0).contains(&s.free_percent()), "{s:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::LocalFolder;

    #[test]
    fn the_local_folder_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        run_all(&|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::new(LocalFolder::new(dir.path().join(format!("d{i}"))))
        });
    }
}
