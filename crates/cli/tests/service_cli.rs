//! `nightjar service install|status|uninstall` on Linux through the real
//! binary, with a stand-in `systemctl` first in PATH that records its
//! arguments and succeeds or fails as told.
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
if [ "${FAKE_SYSTEMCTL_FAIL:-}" = "$2" ]; then
    echo "Failed to connect to bus: No medium found" >&2
    exit 1
fi
if [ "$2" = "is-active" ]; then
    echo active
fi
exit 0
"#;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("systemctl"), FAKE_SYSTEMCTL).unwrap();
        std::fs::set_permissions(bin.join("systemctl"), std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn unit(&self) -> std::path::PathBuf {
        self.dir.path().join("xdg/systemd/user/nightjar.service")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("systemctl.log")).unwrap_or_default()
    }

    /// Runs `nightjar --config <dir>/my.toml ARGS`; `fail` names the
    /// systemctl verb that fails.
    fn nightjar(&self, args: &[&str], fail: &str) -> (i32, String, String) {
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new(env!("CARGO_BIN_EXE_nightjar"))
            .arg("--config")
            .arg(self.dir.path().join("my.toml"))
            .args(args)
            .env("PATH", path)
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("HOME", self.dir.path().join("home"))
            .env_remove("NIGHTJAR_DATA_DIR")
            .env_remove("NIGHTJAR_CONFIG")
            .env("FAKE_SYSTEMCTL_LOG", self.dir.path().join("systemctl.log"))
            .env("FAKE_SYSTEMCTL_FAIL", fail)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn install_status_uninstall_and_a_failing_systemctl() {
    let env = Env::new();
    let (code, out, err) = env.nightjar(&["service", "status"], "");
    assert_eq!((code, out.trim()), (0, "Nightjar is not installed as a service."), "{err}");

    let (code, out, err) = env.nightjar(&["service", "install"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("systemd user service nightjar.service"), "{out}");
    let unit = std::fs::read_to_string(env.unit()).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_nightjar")).canonicalize().unwrap();
    let config = env.dir.path().join("my.toml");
    assert!(unit.contains(&format!("\nExecStart={} --config {} run\n", exe.display(), config.display())), "{unit}");
    assert_eq!(mode(&env.unit()), 0o600);
    assert_eq!(env.log(), "--user daemon-reload\n--user try-restart nightjar.service\n--user enable --now nightjar.service\n--user is-active nightjar.service\n");

    let (code, out, _) = env.nightjar(&["service", "status"], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("Installed and running (systemd user unit {}).", env.unit().display()));
    let (code, out, _) = env.nightjar(&["service", "status", "--json"], "");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["installed"].as_bool(), v["running"].as_bool(), v["manager"].as_str()), (Some(true), Some(true), Some("systemd")));

    // Uninstall goes on when the user manager is gone: the files go anyway.
    let wants = env.unit().with_file_name("default.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(env.unit(), wants.join("nightjar.service")).unwrap();
    let (code, out, err) = env.nightjar(&["service", "uninstall"], "disable");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!env.unit().exists() && wants.join("nightjar.service").symlink_metadata().is_err());
    assert!(env.log().ends_with("--user disable --now nightjar.service\n--user daemon-reload\n"), "{}", env.log());
    let (code, out, _) = env.nightjar(&["service", "uninstall"], "");
    assert_eq!((code, out.trim()), (0, "Nightjar is not installed as a service."));

    // systemd's user manager is not reachable: no unit is left behind.
    let (code, out, err) = env.nightjar(&["service", "install"], "enable");
    assert_eq!(code, 1, "{out}{err}");
    assert!(!env.unit().exists());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("systemd's user manager is not running here") && err.contains("loginctl enable-linger"), "{err}");
    assert!(env.log().ends_with("--user enable --now nightjar.service\n--user disable --now nightjar.service\n--user daemon-reload\n"), "{}", env.log());
}
