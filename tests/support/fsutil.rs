//! Folder listings and small file systems for destination tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The names in `dir` (files and folders), sorted; empty when it does not exist.
#[must_use]
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Names in `dir` ending with `.partial`.
#[must_use]
pub fn partials(dir: &Path) -> Vec<String> {
    file_names(dir).into_iter().filter(|n| n.ends_with(".partial")).collect()
}

/// Names in `dir` that look like finished backups (not manifests, not partials).
#[must_use]
pub fn backups(dir: &Path) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|n| {
            [".sql", ".sql.zst", ".sql.gz", ".dump", ".dump.zst", ".dump.gz"].iter().any(|ext| n.ends_with(ext))
        })
        .collect()
}

/// A tmpfs mounted on a fresh folder (root only), unmounted and removed on drop.
pub struct MountGuard {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl MountGuard {
    /// Mounts a tmpfs of `size` (e.g. "256k") with extra `options` (e.g. "ro").
    /// Returns `None` when not running as root (mounting is not possible).
    #[must_use]
    pub fn tmpfs(size: &str, options: &[&str]) -> Option<MountGuard> {
        if !crate::is_root() {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("nj-mnt-").tempdir().expect("mount point");
        let mut opts = vec![format!("size={size}"), "mode=0755".to_string()];
        opts.extend(options.iter().map(ToString::to_string));
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts.join(","), "nightjar-test"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o {} failed: {}",
            opts.join(","),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(MountGuard { dir, mounted: true })
    }

    /// The mount point.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the mount.
    #[must_use]
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Free bytes on the mounted file system (via `df`).
    #[must_use]
    pub fn free_bytes(&self) -> u64 {
        let out = Command::new("df").args(["--output=avail", "-B1"]).arg(self.path()).output().expect("df");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if self.mounted {
            let ok = Command::new("umount").arg(self.dir.path()).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
            }
            self.mounted = false;
        }
    }
}
