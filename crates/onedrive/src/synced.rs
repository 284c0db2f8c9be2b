//! Local-folder mode helpers: find the OneDrive-synced folders on this
//! machine (to offer them as destinations), and confirm through Graph that
//! a backup written into such a folder actually reached the cloud (same
//! size and quickXorHash), which no sync client tells the user.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nightjar_core::{Error, Result};

use crate::graph::Graph;
use crate::qxh::QuickXorHash;

/// The OneDrive-synced folders of this machine, for the user (the
/// process's environment, home folder and, on Windows, the OneDrive
/// client's registry keys): what `nightjar onedrive folders` prints and the
/// desktop app offers as destinations. See [`onedrive_folders_with`].
#[must_use]
pub fn detect_folders() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).or_else(|| std::env::var_os("USERPROFILE").filter(|h| !h.is_empty())).map(PathBuf::from);
    onedrive_folders_with(&|k| std::env::var(k).ok(), home.as_deref(), &registry_accounts())
}

/// [`onedrive_folders_with`] without registry values.
#[must_use]
pub fn onedrive_folders(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Vec<PathBuf> {
    onedrive_folders_with(env, home, &[])
}

/// Folders that look like OneDrive sync roots, existing ones only, without
/// duplicates: `%OneDrive%`, `%OneDriveCommercial%`, `%OneDriveConsumer%`
/// and the `UserFolder` of each account under
/// `HKCU\Software\Microsoft\OneDrive\Accounts` (Windows; `accounts` holds
/// them as (account key, value) pairs, see [`registry_folders`]),
/// `~/Library/CloudStorage/OneDrive*` (macOS), `~/OneDrive*`, and the
/// `sync_dir` of the Linux `onedrive` client (`~/.config/onedrive/config`).
#[must_use]
pub fn onedrive_folders_with(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>, accounts: &[(String, String)]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if p.is_dir() && !out.iter().any(|o| same_folder(o, &p)) {
            out.push(p);
        }
    };
    for var in ["OneDrive", "OneDriveCommercial", "OneDriveConsumer"] {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            push(PathBuf::from(v));
        }
    }
    for p in registry_folders(accounts) {
        push(p);
    }
    let Some(home) = home else { return out };
    let config_dir = env("XDG_CONFIG_HOME").filter(|v| !v.is_empty()).map_or_else(|| home.join(".config"), PathBuf::from);
    if let Ok(text) = std::fs::read_to_string(config_dir.join("onedrive").join("config"))
        && let Some(dir) = sync_dir(&text) {
            push(dir.strip_prefix("~/").map_or_else(|_| PathBuf::from(&dir), |rest| home.join(rest)));
        }
    for parent in [home.join("Library").join("CloudStorage"), home.to_path_buf()] {
        let Ok(rd) = std::fs::read_dir(&parent) else { continue };
        let mut found: Vec<PathBuf> = rd
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("OneDrive"))
            .map(|e| e.path())
            .collect();
        found.sort();
        for p in found {
            push(p);
        }
    }
    out
}

/// The sync roots named by the OneDrive client's account keys
/// (`Accounts\Personal`, `Accounts\Business1`, …: (key, `UserFolder`)
/// pairs): the personal account first, then the others by name; blank
/// values (an account signed out) are skipped, a trailing `\` is dropped.
#[must_use]
pub fn registry_folders(accounts: &[(String, String)]) -> Vec<PathBuf> {
    let mut sorted: Vec<&(String, String)> = accounts.iter().collect();
    sorted.sort_by_key(|(key, _)| (!key.eq_ignore_ascii_case("Personal"), key.to_ascii_lowercase()));
    sorted
        .into_iter()
        .map(|(_, folder)| folder.trim())
        .filter(|f| !f.is_empty())
        .map(|f| {
            let t = f.trim_end_matches(['\\', '/']);
            // `C:\` stays a root.
            PathBuf::from(if t.len() <= 2 { f } else { t })
        })
        .collect()
}

/// The same folder, written alike but for letter case and a trailing
/// separator when it is a Windows path (`C:\Users\me\OneDrive` from the
/// environment and the registry).
fn same_folder(a: &Path, b: &Path) -> bool {
    let key = |p: &Path| {
        let s = p.to_string_lossy();
        if s.as_bytes().get(1) == Some(&b':') { s.trim_end_matches(['\\', '/']).to_lowercase() } else { s.into_owned() }
    };
    a == b || key(a) == key(b)
}

/// `(account key, UserFolder)` of each account of the OneDrive client,
/// from `HKCU\Software\Microsoft\OneDrive\Accounts`; empty when there is
/// no such key (no OneDrive client, or not signed in).
#[cfg(windows)]
#[must_use]
pub fn registry_accounts() -> Vec<(String, String)> {
    let Ok(accounts) = windows_registry::CURRENT_USER.open(r"Software\Microsoft\OneDrive\Accounts") else { return Vec::new() };
    let Ok(names) = accounts.keys() else { return Vec::new() };
    names
        .filter_map(|name| {
            let folder = accounts.open(&name).ok()?.get_string("UserFolder").ok()?;
            Some((name, folder))
        })
        .collect()
}

/// No registry here.
#[cfg(not(windows))]
#[must_use]
pub fn registry_accounts() -> Vec<(String, String)> {
    Vec::new()
}

/// `sync_dir = "~/OneDrive"` from the abraunegg `onedrive` client's config.
fn sync_dir(config: &str) -> Option<PathBuf> {
    config.lines().map(str::trim).filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "sync_dir").then(|| PathBuf::from(v.trim().trim_matches('"')))
    })
}

/// Where a synced file stands in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudState {
    /// OneDrive holds it with the same size and quickXorHash.
    InCloud,
    /// Not (yet) in OneDrive.
    Missing,
    /// OneDrive holds a different version (still uploading, or changed).
    Different {
        /// Size OneDrive reports.
        size: u64,
    },
}

/// Size and quickXorHash (base64) of a local file.
///
/// # Errors
/// When the file cannot be read.
pub fn local_hash(file: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(file)?;
    let mut h = QuickXorHash::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok((h.len(), h.base64()))
}

/// `file`'s path inside OneDrive when it lies in the synced folder `root`
/// (`Backups/app/x.zst`), `None` otherwise.
#[must_use]
pub fn remote_path(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Looks the item at `remote` up through Graph and compares it with the
/// local `size` and quickXorHash `hash`.
///
/// # Errors
/// When Graph fails.
pub fn compare(graph: &Graph, remote: &str, size: u64, hash: &str) -> Result<CloudState> {
    Ok(match graph.item(remote)? {
        None => CloudState::Missing,
        Some(i) if i.file.is_some() && i.size == size && i.quick_xor_hash() == Some(hash) => CloudState::InCloud,
        Some(i) => CloudState::Different { size: i.size },
    })
}

/// Looks `file` (inside the synced folder `root`) up through Graph.
///
/// # Errors
/// When `file` is not under `root`, cannot be read, or Graph fails.
pub fn cloud_state(graph: &Graph, root: &Path, file: &Path) -> Result<CloudState> {
    let rel = remote_path(root, file).ok_or_else(|| {
        Error::config(format!("{} is not inside the OneDrive folder {}.", file.display(), root.display()))
    })?;
    let (size, hash) = local_hash(file)
        .map_err(|e| Error::destination(format!("{} could not be read to check it in OneDrive ({e}).", file.display())).with_source(e))?;
    compare(graph, &rel, size, &hash)
}

/// Polls [`cloud_state`] every `poll` until the file is in the cloud or
/// `timeout` passes (then the last state is returned).
///
/// # Errors
/// As [`cloud_state`].
pub fn wait_in_cloud(graph: &Graph, root: &Path, file: &Path, timeout: Duration, poll: Duration) -> Result<CloudState> {
    let deadline = Instant::now() + timeout;
    loop {
        let state = cloud_state(graph, root, file)?;
        if state == CloudState::InCloud || Instant::now() + poll > deadline {
            return Ok(state);
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_env_home_and_client_config_folders() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join("OneDrive")).unwrap();
        std::fs::create_dir_all(h.join("OneDrive - Contoso")).unwrap();
        std::fs::create_dir_all(h.join("Cloud/od")).unwrap();
        std::fs::create_dir_all(h.join(".config/onedrive")).unwrap();
        std::fs::write(h.join(".config/onedrive/config"), "# comment\nsync_dir = \"~/Cloud/od\"\n").unwrap();
        std::fs::create_dir_all(h.join("win")).unwrap();
        let win = h.join("win").display().to_string();
        let env = |k: &str| (k == "OneDrive").then(|| win.clone());
        let found = onedrive_folders(&env, Some(h));
        assert_eq!(found, vec![h.join("win"), h.join("Cloud/od"), h.join("OneDrive"), h.join("OneDrive - Contoso")]);
        assert!(onedrive_folders(&|_| None, None).is_empty());
    }

    #[test]
    fn registry_accounts_are_merged_after_the_environment() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["personal", "work", "school"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        let s = |p: &str| r.join(p).display().to_string();
        let accounts = vec![
            ("Business2".to_string(), s("school")),
            ("Business1".to_string(), format!("{}/", s("work"))),
            ("Personal".to_string(), s("personal")),
            ("Business3".to_string(), "  ".to_string()),
            ("Business4".to_string(), s("gone")),
        ];
        assert_eq!(registry_folders(&accounts)[..3], [r.join("personal"), r.join("work"), r.join("school")]);
        assert_eq!(registry_folders(&accounts).len(), 4);
        // %OneDriveCommercial% names the work folder too: listed once, first.
        let work = s("work");
        let env = |k: &str| (k == "OneDriveCommercial").then(|| work.clone());
        assert_eq!(onedrive_folders_with(&env, None, &accounts), vec![r.join("work"), r.join("personal"), r.join("school")]);
        let win = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(registry_folders(&[win("Personal", r"C:\Users\me\OneDrive\"), win("Business1", r"D:\")]), [PathBuf::from(r"C:\Users\me\OneDrive"), PathBuf::from(r"D:\")]);
        assert!(same_folder(Path::new(r"C:\Users\Me\OneDrive"), Path::new(r"c:\users\me\onedrive\")));
        assert!(!same_folder(Path::new("/home/Me/OneDrive"), Path::new("/home/me/OneDrive")));
        assert!(registry_accounts().is_empty() || cfg!(windows));
    }
}
