//! Everything Nightjar writes is owner-only, whatever the umask: the real
//! `nightjar` binary runs under the usual umask 022 and every file it made
//! is checked with `stat` — the backup and its manifest (0600), the
//! destination folder it created (0700), the data folder (0700, also when
//! it was 0755 before), the history and its WAL files, the log file, the
//! lock file and the schedule state (0600). Saving settings keeps the
//! config file's mode and edits the file behind a symbolic link.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightjar_core::config::ParseEnv;
use nightjar_core::config_edit;
use nightjar_tests::backup::{check_finished_backup, job_toml};
use nightjar_tests::fixture::shared_sample;
use nightjar_tests::wait::{secs, until_true};
use nightjar_tests::{Nightjar, PgCluster};

/// The usual default umask, under which an unprotected file is 0644.
const UMASK: u32 = 0o022;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

#[track_caller]
fn assert_mode(p: &Path, want: u32) {
    assert_eq!(mode(p), want, "{} is {:04o}, not {want:04o}", p.display(), mode(p));
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[test]
fn a_backup_and_the_data_folder_are_owner_only_under_umask_022() {
    let pg = PgCluster::shared();
    let db = shared_sample();
    let nj = Nightjar::new();
    let data = nj.data_dir();
    // A data folder an older version (or the user) left open to others.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The destination does not exist yet: Nightjar creates it.
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("privjob", &pg.url(db), &dest, ""));

    let out = nj.cmd(["backup", "--job", "privjob", "--json"]).umask(UMASK).run().assert_success();
    let file = check_finished_backup(&out.json(), &dest, "privjob");

    assert_mode(&dest, 0o700);
    assert_mode(&file, 0o600);
    assert_mode(&with_suffix(&file, ".json"), 0o600);
    assert_eq!(files_in(&dest).len(), 2, "the backup and its manifest only: {:?}", files_in(&dest));

    assert_mode(&data, 0o700);
    let history = data.join("history.sqlite3");
    assert_mode(&history, 0o600);
    for suffix in ["-wal", "-shm"] {
        let p = with_suffix(&history, suffix);
        if p.exists() {
            assert_mode(&p, 0o600);
        }
    }
    assert_mode(&data.join("logs"), 0o700);
    let logs = files_in(&data.join("logs"));
    assert!(!logs.is_empty(), "a log file was written");
    for log in &logs {
        assert_mode(log, 0o600);
    }
    assert_mode(&data.join("locks"), 0o700);
    let locks = files_in(&data.join("locks"));
    assert!(locks.iter().any(|l| l.ends_with("privjob.lock")), "{locks:?}");
    for lock in &locks {
        assert_mode(lock, 0o600);
    }

    // The schedule state (`nightjar pause`).
    let _ = nj.cmd(["pause", "--until", "2h"]).umask(UMASK).run().assert_success();
    assert_mode(&data.join("schedule-state.json"), 0o600);

    // The daemon keeps the history open: its -wal and -shm exist, owner-only.
    let mut daemon = nj.cmd(["run"]).umask(UMASK).spawn();
    let (wal, shm) = (with_suffix(&history, "-wal"), with_suffix(&history, "-shm"));
    until_true("the daemon's history -wal and -shm files", secs(30), || wal.exists() && shm.exists());
    assert!(daemon.is_running(), "the daemon runs");
    assert_mode(&wal, 0o600);
    assert_mode(&shm, 0o600);
    for p in files_in(&data).into_iter().chain(logs).chain(locks) {
        let m = mode(&p);
        assert_eq!(m & 0o077, 0, "{} is open to others ({m:04o})", p.display());
    }
    daemon.kill();
    let _ = daemon.wait(Duration::from_secs(10));
}

fn form() -> config_edit::JobForm {
    let text = job_toml("cfgjob", "postgres://u@localhost/cfgjob", Path::new("/srv/backups"), "");
    let config = nightjar_core::config::Config::parse(&text, None, &ParseEnv::from_system()).unwrap();
    config_edit::JobForm::from_raw(&config.raw.jobs[0])
}

#[test]
fn saving_settings_keeps_the_config_mode_and_writes_through_a_symlink() {
    let nj = Nightjar::new();
    let env = ParseEnv::from_system();

    // A config the user made group-readable stays so.
    let plain = nj.scratch().join("plain.toml");
    std::fs::write(&plain, "# mine\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
    config_edit::save_job(&plain, &env, None, &form()).unwrap();
    assert!(std::fs::read_to_string(&plain).unwrap().contains("cfgjob"));
    assert_mode(&plain, 0o640);

    // The config is a link into a dotfiles folder: the link stays, its target changes.
    let dotfiles = nj.scratch().join("dotfiles");
    std::fs::create_dir(&dotfiles).unwrap();
    let target = dotfiles.join("nightjar.toml");
    std::fs::write(&target, "# from my dotfiles\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = nj.config_path();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("dotfiles/nightjar.toml", &link).unwrap();
    config_edit::save_job(&link, &env, None, &form()).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the config link was replaced by a file");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("dotfiles/nightjar.toml"));
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("# from my dotfiles") && text.contains("cfgjob"), "{text}");
    assert_mode(&target, 0o640);
    assert_eq!(files_in(&dotfiles), vec![target.clone()], "no temp file left");
    // The CLI reads the saved job through the link.
    let out = nj.run(["status", "--json"]).assert_success();
    assert!(out.stdout.contains("cfgjob"), "{}", out.stdout);
}
