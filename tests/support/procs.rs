//! Reading `/proc`: process trees and command lines.

use std::path::Path;

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
#[must_use]
pub fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …" — comm may hold spaces and parens.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// True while `pid` exists and is not a zombie.
#[must_use]
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
    !matches!(state.as_deref(), Some("Z" | "X") | None)
}

/// Every live descendant of `pid` (children, grandchildren, …).
#[must_use]
pub fn descendants(pid: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, ppid(p)?)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, pp) in &all {
            if *pp == parent && !out.contains(p) {
                out.push(*p);
                frontier.push(*p);
            }
        }
    }
    out
}

/// The command line of `pid` as its NUL-separated arguments.
#[must_use]
pub fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// The raw bytes of `/proc/<pid>/cmdline`.
#[must_use]
pub fn cmdline_raw(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

/// The program name (basename of argv\[0\]) of `pid`.
#[must_use]
pub fn program(pid: u32) -> String {
    cmdline(pid)
        .first()
        .map(|a| Path::new(a).file_name().map_or_else(|| a.clone(), |n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Sends SIGKILL to `pid` (a process this test started, directly or through nightjar).
pub fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
}
