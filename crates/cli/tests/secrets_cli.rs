//! `[secrets] store = "file"` through the real binary: a password stored
//! and removed with `nightjar password`, in a private file beside the
//! config; and the one-line error when no keyring runs and no file store is
//! configured.
#![cfg(target_os = "linux")]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

fn nightjar(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightjar"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(args)
        .env_remove("NIGHTJAR_KEYRING")
        .env("NIGHTJAR_DATA_DIR", dir.join("data"))
        // No session bus: no Secret Service can answer.
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", dir.join("no-bus").display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into())
}

const JOB: &str = "[[job]]\nname = \"app\"\ndatabase = \"postgres://app@127.0.0.1:9/app\"\ndestination = \"/tmp/nj-none\"\n";

#[test]
fn a_file_store_keeps_passwords_and_no_keyring_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, JOB).unwrap();
    let (code, err) = nightjar(dir.path(), &["password", "set", "--job", "app"], "pw\n");
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim(), format!("nightjar: No keyring (Secret Service) is running here; start one or set [secrets] store = \"file\" in {}.", config.display()));

    std::fs::write(&config, format!("{JOB}\n[secrets]\nstore = \"file\"\n")).unwrap();
    let creds = dir.path().join("credentials.toml");
    let (code, err) = nightjar(dir.path(), &["password", "set", "--job", "app"], "s3cret\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.trim(), format!("Stored the password for job \"app\" in {}.", creds.display()));
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&creds).unwrap().contains("\"job:app\" = \"s3cret\""));

    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, err) = nightjar(dir.path(), &["password", "delete", "--job", "app"], "");
    assert_eq!(code, 1);
    assert!(err.trim().ends_with(&format!("run chmod 600 {}.", creds.display())), "{err}");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = nightjar(dir.path(), &["password", "delete", "--job", "app"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!std::fs::read_to_string(&creds).unwrap().contains("job:app"));
}
