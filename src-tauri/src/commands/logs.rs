//! Logs view: the tail of today's log file (shared with the CLI and `nightjar run`).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use tauri::State;

use crate::models::{CmdResult, LogTail, UiError};
use crate::state::AppState;

/// The newest Nightjar log file in `dir`.
pub fn newest_log(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(nightjar_core::paths::LOG_PREFIX) && n.ends_with(&format!(".{}", nightjar_core::paths::LOG_SUFFIX))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
}

/// The last `lines` lines of `file` (reads at most the last 256 KiB).
pub fn tail(file: &Path, lines: usize) -> std::io::Result<String> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(256 * 1024);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().skip(usize::from(start > 0)).collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// The tail of the newest log file.
#[tauri::command]
pub async fn logs_tail(state: State<'_, AppState>, lines: Option<usize>) -> CmdResult<LogTail> {
    let dir = state.data.log_dir();
    let Some(file) = newest_log(&dir) else {
        return Ok(LogTail { file: None, text: String::new() });
    };
    let text = tail(&file, lines.unwrap_or(300).min(5000)).map_err(|e| UiError::new(nightjar_core::ErrorKind::Other, format!("{} could not be read ({e}).", file.display())))?;
    Ok(LogTail { file: Some(file.display().to_string()), text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines_of_the_newest_log() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("nightjar.2026-11-21.log"), "old\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("nightjar.2026-11-22.log"), body).unwrap();
        let f = newest_log(dir.path()).unwrap();
        assert!(f.ends_with("nightjar.2026-11-22.log"));
        assert_eq!(tail(&f, 2).unwrap(), "line 999\nline 1000");
    }
}
