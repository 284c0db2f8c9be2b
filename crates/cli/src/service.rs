//! `nightjar service install|uninstall|status`: `nightjar run` as the OS's
//! per-user service: a systemd user unit on Linux, a LaunchAgent on macOS,
//! a logon task of the Task Scheduler on Windows.
//!
//! What happens is decided by pure *plan* functions (which file with what
//! content, which commands in which order, what undoes a failed install),
//! unit-tested for all three systems on any of them; [`execute`] carries a
//! plan out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use nightjar_core::{Error, ErrorKind, Result};
pub use nightjar_core::source::locate::TargetOs;
use serde::Serialize;

use crate::cli::JsonFlag;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register `nightjar run` to start at login (systemd user unit, LaunchAgent or logon task) and start it now.
    Install,
    /// Stop it and remove the registration.
    Uninstall,
    /// Whether it is installed and running.
    Status(JsonFlag),
}

/// The systemd unit's name.
pub const UNIT_NAME: &str = "nightjar.service";
/// The LaunchAgent's label (its plist is `<label>.plist`).
pub const LAUNCHD_LABEL: &str = "app.nightjar.run";
/// The Task Scheduler task's name.
pub const TASK_NAME: &str = "Nightjar";

/// What registers the service on `os`.
fn manager(os: TargetOs) -> &'static str {
    match os {
        TargetOs::Linux => "systemd",
        TargetOs::MacOs => "launchd",
        TargetOs::Windows => "task-scheduler",
    }
}

/// What a plan needs to know about this machine and user.
#[derive(Debug, Clone)]
pub struct Setup {
    pub os: TargetOs,
    /// The absolute path of the `nightjar` executable.
    pub exe: PathBuf,
    /// `--config PATH` for the service when the config is not the default one.
    pub config: Option<PathBuf>,
    /// `NIGHTJAR_DATA_DIR` for the service when it is set (Linux, macOS).
    pub data_dir: Option<PathBuf>,
    /// Where launchd writes the agent's stdout and stderr (macOS).
    pub log_dir: PathBuf,
    /// `$HOME` (`%USERPROFILE%` is not needed on Windows).
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` (Linux).
    pub xdg_config_home: Option<PathBuf>,
    /// The user id (macOS: `launchctl … gui/<uid>`).
    pub uid: Option<u32>,
}

impl Setup {
    /// The file the registration lives in (none on Windows: the Task
    /// Scheduler keeps it).
    ///
    /// # Errors
    /// When the home folder is unknown.
    pub fn service_file(&self) -> Result<Option<PathBuf>> {
        match self.os {
            TargetOs::Linux => {
                let base = match (&self.xdg_config_home, &self.home) {
                    (Some(x), _) if x.is_absolute() => x.clone(),
                    (_, Some(h)) => h.join(".config"),
                    _ => return Err(no_home()),
                };
                Ok(Some(base.join("systemd").join("user").join(UNIT_NAME)))
            }
            TargetOs::MacOs => {
                let home = self.home.as_ref().ok_or_else(no_home)?;
                Ok(Some(home.join("Library").join("LaunchAgents").join(format!("{LAUNCHD_LABEL}.plist"))))
            }
            TargetOs::Windows => Ok(None),
        }
    }

    /// `nightjar [--config PATH] run`.
    fn run_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![self.exe.clone().into_os_string()];
        if let Some(c) = &self.config {
            args.push("--config".into());
            args.push(c.clone().into_os_string());
        }
        args.push("run".into());
        args
    }

    fn gui_domain(&self) -> Result<String> {
        self.uid.map(|u| format!("gui/{u}")).ok_or_else(|| Error::other("Could not find out the user id for launchctl (`id -u` failed)."))
    }
}

fn no_home() -> Error {
    Error::config("The home folder is not known (HOME is not set), so there is no place for the service file; set HOME.")
}

/// A command a plan runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub program: String,
    pub args: Vec<OsString>,
    /// A failure stops the plan (and runs its undo); otherwise it is ignored.
    pub required: bool,
}

impl Step {
    fn new(program: &str, args: &[&str], required: bool) -> Self {
        Self { program: program.into(), args: args.iter().map(OsString::from).collect(), required }
    }

    fn with(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// `systemctl --user enable --now nightjar.service`, as typed.
    #[must_use]
    pub fn display(&self) -> String {
        std::iter::once(self.program.clone()).chain(self.args.iter().map(|a| a.to_string_lossy().into_owned())).collect::<Vec<_>>().join(" ")
    }
}

/// One thing a plan does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this file (owner-only), creating its folder.
    Write { path: PathBuf, content: String },
    /// Remove this file (or symlink) when it is there.
    Remove(PathBuf),
    Run(Step),
}

/// What `install` or `uninstall` does, and what undoes a failed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Run (failures ignored) when a required step fails.
    pub undo: Vec<Action>,
}

fn systemctl(args: &[&str], required: bool) -> Step {
    Step::new("systemctl", &[&["--user"], args].concat(), required)
}

/// The plan of `nightjar service install`.
///
/// # Errors
/// When the home folder (or on macOS the user id) is unknown.
pub fn install_plan(s: &Setup) -> Result<Plan> {
    match s.os {
        TargetOs::Linux => {
            let path = s.service_file()?.expect("a unit file on Linux");
            let wants = wants_link(&path);
            Ok(Plan {
                actions: vec![
                    Action::Write { path: path.clone(), content: systemd_unit(s) },
                    Action::Run(systemctl(&["daemon-reload"], true)),
                    // Installed again while it runs: it restarts with the new unit.
                    Action::Run(systemctl(&["try-restart", UNIT_NAME], false)),
                    Action::Run(systemctl(&["enable", "--now", UNIT_NAME], true)),
                ],
                undo: vec![
                    Action::Run(systemctl(&["disable", "--now", UNIT_NAME], false)),
                    Action::Remove(wants),
                    Action::Remove(path),
                    Action::Run(systemctl(&["daemon-reload"], false)),
                ],
            })
        }
        TargetOs::MacOs => {
            let path = s.service_file()?.expect("a plist on macOS");
            let domain = s.gui_domain()?;
            Ok(Plan {
                actions: vec![
                    // A LaunchAgent loaded by an earlier install is replaced.
                    Action::Run(Step::new("launchctl", &["bootout", &format!("{domain}/{LAUNCHD_LABEL}")], false)),
                    Action::Write { path: path.clone(), content: launchd_plist(s) },
                    Action::Run(Step::new("launchctl", &["bootstrap", &domain], true).with(&path)),
                ],
                undo: vec![Action::Remove(path)],
            })
        }
        TargetOs::Windows => Ok(Plan {
            actions: vec![
                // Installed again while it runs: the old process ends first.
                Action::Run(Step::new("schtasks", &["/End", "/TN", TASK_NAME], false)),
                Action::Run(Step::new("schtasks", &["/Create", "/TN", TASK_NAME, "/SC", "ONLOGON", "/RL", "LIMITED", "/TR"], true).with(windows_task_command(s)).with("/F")),
                Action::Run(Step::new("schtasks", &["/Run", "/TN", TASK_NAME], true)),
            ],
            undo: vec![Action::Run(Step::new("schtasks", &["/Delete", "/TN", TASK_NAME, "/F"], false))],
        }),
    }
}

/// The plan of `nightjar service uninstall` (for an installed service).
///
/// # Errors
/// When the home folder (or on macOS the user id) is unknown.
pub fn uninstall_plan(s: &Setup) -> Result<Plan> {
    let actions = match s.os {
        TargetOs::Linux => {
            let path = s.service_file()?.expect("a unit file on Linux");
            // Stopping fails when the user manager is not running; then the
            // service is not running either, and the files still go.
            vec![
                Action::Run(systemctl(&["disable", "--now", UNIT_NAME], false)),
                Action::Remove(wants_link(&path)),
                Action::Remove(path),
                Action::Run(systemctl(&["daemon-reload"], false)),
            ]
        }
        TargetOs::MacOs => {
            let path = s.service_file()?.expect("a plist on macOS");
            vec![Action::Run(Step::new("launchctl", &["bootout", &format!("{}/{LAUNCHD_LABEL}", s.gui_domain()?)], false)), Action::Remove(path)]
        }
        TargetOs::Windows => vec![
            Action::Run(Step::new("schtasks", &["/End", "/TN", TASK_NAME], false)),
            Action::Run(Step::new("schtasks", &["/Delete", "/TN", TASK_NAME, "/F"], true)),
        ],
    };
    Ok(Plan { actions, undo: Vec::new() })
}

/// The command that tells whether the service runs (on Windows also
/// whether it is installed).
///
/// # Errors
/// When the home folder (or on macOS the user id) is unknown.
pub fn status_probe(s: &Setup) -> Result<Step> {
    Ok(match s.os {
        TargetOs::Linux => systemctl(&["is-active", UNIT_NAME], false),
        TargetOs::MacOs => Step::new("launchctl", &["print", &format!("{}/{LAUNCHD_LABEL}", s.gui_domain()?)], false),
        TargetOs::Windows => Step::new("schtasks", &["/Query", "/TN", TASK_NAME, "/FO", "CSV", "/NH"], false),
    })
}

/// `default.target.wants/nightjar.service` beside the unit (made by
/// `systemctl enable`).
fn wants_link(unit: &Path) -> PathBuf {
    unit.with_file_name("default.target.wants").join(UNIT_NAME)
}

/// The state of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub installed: bool,
    pub running: bool,
    /// systemd, launchd or task-scheduler.
    pub manager: &'static str,
    /// The unit file or plist (Linux, macOS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The task's name (Windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<&'static str>,
}

/// Reads the status from whether the service file exists and what the probe
/// ([`status_probe`]) said; `probe` is `None` when it could not be run.
#[must_use]
pub fn interpret_status(s: &Setup, file_exists: bool, probe: Option<(bool, &str)>) -> Status {
    let (installed, running) = match s.os {
        // `is-active` prints "active" and exits 0 only for a running unit.
        TargetOs::Linux => (file_exists, file_exists && probe.is_some_and(|(ok, out)| ok && out.trim() == "active")),
        // `launchctl print` fails for a label that is not loaded.
        TargetOs::MacOs => (file_exists, file_exists && probe.is_some_and(|(ok, out)| ok && out.lines().any(|l| l.trim() == "state = running"))),
        // The CSV row is "Nightjar","<next run>","<status>"; the status word
        // is in the system's language ("Running" in English).
        TargetOs::Windows => {
            let installed = probe.is_some_and(|(ok, out)| ok && out.contains(TASK_NAME));
            (installed, installed && probe.is_some_and(|(_, out)| out.lines().any(|l| l.trim_end().ends_with(",\"Running\""))))
        }
    };
    let file = if s.os == TargetOs::Windows { None } else { s.service_file().ok().flatten() };
    Status { installed, running, manager: manager(s.os), file, task: (s.os == TargetOs::Windows).then_some(TASK_NAME) }
}

/// `nightjar service status` in one line.
#[must_use]
pub fn status_line(st: &Status) -> String {
    let what = match (&st.file, st.task) {
        (Some(f), _) if st.manager == "systemd" => format!("systemd user unit {}", f.display()),
        (Some(f), _) => format!("LaunchAgent {}", f.display()),
        (_, Some(t)) => format!("Task Scheduler task \"{t}\""),
        _ => st.manager.to_string(),
    };
    match (st.installed, st.running) {
        (false, _) => "Nightjar is not installed as a service.".to_string(),
        (true, true) => format!("Installed and running ({what})."),
        (true, false) => format!("Installed, not running ({what})."),
    }
}

/// The one sentence shown when a required step failed (`None` when the
/// program could not be started, `stderr` otherwise).
#[must_use]
pub fn failure_message(os: TargetOs, step: &Step, stderr: Option<&str>) -> String {
    let first = stderr.and_then(|e| e.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("").trim_end_matches('.').to_string();
    match (os, stderr) {
        (TargetOs::Linux, None) => "systemctl was not found (this system does not run systemd); start `nightjar run` another way, e.g. from your init system or an @reboot cron job.".into(),
        (TargetOs::Linux, Some(e)) if (e.contains("Failed to connect to") && e.contains("bus")) || e.contains("No medium found") || e.contains("XDG_RUNTIME_DIR") => {
            "systemd's user manager is not running here (no login session); use `loginctl enable-linger $USER` and log in again, or start `nightjar run` another way.".into()
        }
        (TargetOs::Linux, Some(_)) => format!("`{}` failed ({first}); the unit file was removed again, fix that and run `nightjar service install` again.", step.display()),
        (TargetOs::MacOs, None) => "launchctl was not found; start `nightjar run` another way.".into(),
        (TargetOs::MacOs, Some(_)) => format!("launchd did not load the LaunchAgent (`{}`: {first}); the plist was removed again, fix that and run `nightjar service install` again.", step.display()),
        (TargetOs::Windows, None) => "schtasks was not found; start `nightjar run` another way.".into(),
        (TargetOs::Windows, Some(_)) => format!("The Task Scheduler refused (`{}`: {first}); creating a logon task may need an administrator on this PC.", step.program),
    }
}

/// Quotes one `ExecStart=`/`Environment=` word for systemd: specifiers
/// (`%`) doubled, `$` doubled when `dollar`, and quoted with C escapes when
/// it holds anything but plain path characters.
fn systemd_word(s: &str, dollar: bool) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%$".contains(c));
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    if plain { out } else { format!("\"{out}\"") }
}

/// The systemd user unit (as `scripts/systemd/nightjar.service`, with the
/// real executable).
#[must_use]
pub fn systemd_unit(s: &Setup) -> String {
    let exec = s.run_args().iter().map(|a| systemd_word(&a.to_string_lossy(), true)).collect::<Vec<_>>().join(" ");
    let env = s.data_dir.as_ref().map_or_else(String::new, |d| format!("Environment={}\n", systemd_word(&format!("NIGHTJAR_DATA_DIR={}", d.display()), false)));
    format!(
        "# Written by `nightjar service install`; remove with `nightjar service uninstall`.\n\
         # Follow its log with `journalctl --user -u nightjar -f`; reload the config with\n\
         # `systemctl --user reload nightjar` (SIGHUP). Keep it running while you are\n\
         # logged out with `loginctl enable-linger $USER`.\n\
         [Unit]\n\
         Description=Nightjar database backups (scheduler)\n\
         Documentation=https://github.com/nightjar-backup/nightjar\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exec}\n\
         {env}\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         TimeoutStopSec=60\n\
         UMask=0077\n\
         Nice=10\n\
         IOSchedulingClass=idle\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n"
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The LaunchAgent: starts at login, restarted when it exits with a
/// failure, its output in the data folder's logs.
#[must_use]
pub fn launchd_plist(s: &Setup) -> String {
    let args: String = s.run_args().iter().map(|a| format!("    <string>{}</string>\n", xml_escape(&a.to_string_lossy()))).collect();
    let env = s.data_dir.as_ref().map_or_else(String::new, |d| {
        format!("  <key>EnvironmentVariables</key>\n  <dict>\n    <key>NIGHTJAR_DATA_DIR</key>\n    <string>{}</string>\n  </dict>\n", xml_escape(&d.to_string_lossy()))
    });
    let log = xml_escape(&s.log_dir.join("launchd.log").to_string_lossy());
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Written by `nightjar service install`; remove with `nightjar service uninstall`. -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20 <key>Label</key>\n\
         \x20 <string>{LAUNCHD_LABEL}</string>\n\
         \x20 <key>ProgramArguments</key>\n\
         \x20 <array>\n\
         {args}\
         \x20 </array>\n\
         {env}\
         \x20 <key>RunAtLoad</key>\n\
         \x20 <true/>\n\
         \x20 <key>KeepAlive</key>\n\
         \x20 <dict>\n\
         \x20   <key>SuccessfulExit</key>\n\
         \x20   <false/>\n\
         \x20 </dict>\n\
         \x20 <key>ThrottleInterval</key>\n\
         \x20 <integer>30</integer>\n\
         \x20 <key>ExitTimeOut</key>\n\
         \x20 <integer>60</integer>\n\
         \x20 <key>ProcessType</key>\n\
         \x20 <string>Background</string>\n\
         \x20 <key>Umask</key>\n\
         \x20 <integer>63</integer>\n\
         \x20 <key>StandardOutPath</key>\n\
         \x20 <string>{log}</string>\n\
         \x20 <key>StandardErrorPath</key>\n\
         \x20 <string>{log}</string>\n\
         </dict>\n\
         </plist>\n"
    )
}

/// The task's command line (`/TR`): `"<exe>" [--config "<path>"] run`.
/// std quotes the whole value as one argument, turning these quotes into
/// `\"`, the form schtasks documents.
#[must_use]
pub fn windows_task_command(s: &Setup) -> String {
    let mut cmd = format!("\"{}\"", s.exe.display());
    if let Some(c) = &s.config {
        cmd.push_str(&format!(" --config \"{}\"", c.display()));
    }
    cmd.push_str(" run");
    cmd
}

// ---------------------------------------------------------------- executor

/// The setup of this process: its executable, the config when it is not the
/// default one, and the user's folders.
fn this_setup(config: Option<&Path>) -> Result<Setup> {
    let os = TargetOs::current();
    let exe = std::env::current_exe().map_err(|e| Error::other("Could not find the path of the nightjar executable.").with_source(e))?;
    // Made absolute, but symlinks are kept: a package manager's link
    // (Homebrew's bin/nightjar) outlives the versioned file it points to.
    let exe = absolute(&exe);
    let resolved = nightjar_core::config::config_path(config);
    let default = nightjar_core::paths::project_dirs().map(|d| d.config_dir().join("config.toml"));
    let config = (Some(&resolved) != default.as_ref()).then(|| absolute(&resolved));
    let data_dir = std::env::var_os(nightjar_core::paths::DATA_DIR_ENV).filter(|p| !p.is_empty()).map(|p| absolute(Path::new(&p)));
    let log_dir = nightjar_core::paths::DataDir::from_env().log_dir();
    let uid = if os == TargetOs::MacOs { current_uid() } else { None };
    Ok(Setup {
        os,
        exe,
        config,
        data_dir,
        log_dir: absolute(&log_dir),
        home: std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
        xdg_config_home: std::env::var_os("XDG_CONFIG_HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
        uid,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `id -u` (no unsafe `getuid` call in this crate).
fn current_uid() -> Option<u32> {
    let out = std::process::Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The outcome of one step: `None` when it could not be started.
fn run_step(step: &Step) -> Option<(bool, String, String)> {
    let out = std::process::Command::new(&step.program).args(&step.args).stdin(std::process::Stdio::null()).output().ok()?;
    Some((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        nightjar_core::private::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    nightjar_core::private::write_file(&tmp, content.as_bytes())?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn do_action(os: TargetOs, a: &Action) -> Result<()> {
    match a {
        Action::Write { path, content } => write_private(path, content).map_err(|e| Error::other(format!("Could not write {}: {e}.", path.display())).with_source(e)),
        Action::Remove(path) => remove(path).map_err(|e| Error::other(format!("Could not remove {}: {e}.", path.display())).with_source(e)),
        Action::Run(step) => match run_step(step) {
            Some((true, _, _)) => Ok(()),
            _ if !step.required => Ok(()),
            Some((false, _, err)) => Err(Error::other(failure_message(os, step, Some(&err)))),
            None => Err(Error::new(ErrorKind::Tool, failure_message(os, step, None))),
        },
    }
}

/// Carries `plan` out; when a step fails, its undo runs (failures ignored).
///
/// # Errors
/// The failed step's one-sentence message.
pub fn execute(os: TargetOs, plan: &Plan) -> Result<()> {
    for a in &plan.actions {
        if let Err(e) = do_action(os, a) {
            for u in &plan.undo {
                let _ = do_action(os, u);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn status(s: &Setup) -> Result<Status> {
    let file_exists = s.service_file()?.is_some_and(|f| f.exists());
    let probe = if s.os == TargetOs::Windows || file_exists { run_step(&status_probe(s)?) } else { None };
    Ok(interpret_status(s, file_exists, probe.as_ref().map(|(ok, out, _)| (*ok, out.as_str()))))
}

pub fn run(cmd: ServiceCommand, config: Option<&Path>) -> Result<ExitCode> {
    let s = this_setup(config)?;
    match cmd {
        ServiceCommand::Install => {
            execute(s.os, &install_plan(&s)?)?;
            let st = status(&s)?;
            println!("{}", installed_line(&s));
            if !st.running {
                eprintln!("nightjar: warning: the service was registered but does not run yet; `nightjar service status` shows its state.");
            }
        }
        ServiceCommand::Uninstall => {
            if !status(&s)?.installed {
                println!("Nightjar is not installed as a service.");
                return Ok(ExitCode::SUCCESS);
            }
            execute(s.os, &uninstall_plan(&s)?)?;
            println!("Nightjar's service was stopped and removed.");
        }
        ServiceCommand::Status(j) => {
            let st = status(&s)?;
            if j.json {
                print_json(&st);
            } else {
                println!("{}", status_line(&st));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn installed_line(s: &Setup) -> String {
    match (s.os, s.service_file().ok().flatten()) {
        (TargetOs::Linux, Some(f)) => format!(
            "Installed and started the systemd user service {UNIT_NAME} ({}); to keep it running while you are logged out: loginctl enable-linger $USER.",
            f.display()
        ),
        (TargetOs::MacOs, Some(f)) => format!("Installed and started the LaunchAgent {LAUNCHD_LABEL} ({}); it starts at every login.", f.display()),
        _ => format!("Installed and started the Task Scheduler task \"{TASK_NAME}\"; it starts at every logon."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(os: TargetOs) -> Setup {
        Setup {
            os,
            exe: PathBuf::from("/opt/night jar/bin/nightjar"),
            config: None,
            data_dir: None,
            log_dir: PathBuf::from("/Users/me/Library/Application Support/app.Nightjar.nightjar/logs"),
            home: Some(PathBuf::from("/home/me")),
            xdg_config_home: None,
            uid: Some(501),
        }
    }

    fn runs(p: &Plan) -> Vec<String> {
        p.actions.iter().filter_map(|a| if let Action::Run(s) = a { Some(s.display()) } else { None }).collect()
    }

    #[test]
    fn linux_install_writes_the_unit_then_reloads_and_enables_and_undoes_all_of_it() {
        let mut s = setup(TargetOs::Linux);
        s.xdg_config_home = Some(PathBuf::from("/xdg"));
        s.config = Some(PathBuf::from("/etc/night%jar/config.toml"));
        let p = install_plan(&s).unwrap();
        let Action::Write { path, content } = &p.actions[0] else { panic!("{p:?}") };
        assert_eq!(path, Path::new("/xdg/systemd/user/nightjar.service"));
        assert!(content.contains("\nExecStart=\"/opt/night jar/bin/nightjar\" --config /etc/night%%jar/config.toml run\n"), "{content}");
        assert!(content.contains("\nRestart=on-failure\n") && content.contains("\nUMask=0077\n") && content.contains("\nWantedBy=default.target\n"));
        assert!(!content.contains("Environment="));
        assert_eq!(runs(&p), ["systemctl --user daemon-reload", "systemctl --user try-restart nightjar.service", "systemctl --user enable --now nightjar.service"]);
        let required: Vec<bool> = p.actions[1..].iter().map(|a| matches!(a, Action::Run(s) if s.required)).collect();
        assert_eq!(required, [true, false, true]);
        assert!(p.undo.contains(&Action::Remove(PathBuf::from("/xdg/systemd/user/nightjar.service"))));
        assert!(p.undo.contains(&Action::Remove(PathBuf::from("/xdg/systemd/user/default.target.wants/nightjar.service"))));
        // Without XDG_CONFIG_HOME (or a relative one, which the spec says to ignore): ~/.config.
        s.xdg_config_home = Some(PathBuf::from("rel"));
        assert_eq!(s.service_file().unwrap().unwrap(), Path::new("/home/me/.config/systemd/user/nightjar.service"));
        s.home = None;
        assert_eq!(install_plan(&s).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn linux_unit_quotes_what_systemd_would_split_or_expand() {
        let mut s = setup(TargetOs::Linux);
        s.exe = PathBuf::from("/home/me/bin/nightjar");
        s.data_dir = Some(PathBuf::from("/srv/nj $data"));
        let unit = systemd_unit(&s);
        assert!(unit.contains("\nExecStart=/home/me/bin/nightjar run\n"), "{unit}");
        assert!(unit.contains("\nEnvironment=\"NIGHTJAR_DATA_DIR=/srv/nj $data\"\n"), "{unit}");
        assert_eq!(systemd_word("a\"b\\c$", true), "\"a\\\"b\\\\c$$\"");
    }

    #[test]
    fn linux_uninstall_stops_removes_the_unit_and_its_wants_link_and_reloads() {
        let p = uninstall_plan(&setup(TargetOs::Linux)).unwrap();
        assert_eq!(
            p.actions,
            vec![
                Action::Run(systemctl(&["disable", "--now", UNIT_NAME], false)),
                Action::Remove(PathBuf::from("/home/me/.config/systemd/user/default.target.wants/nightjar.service")),
                Action::Remove(PathBuf::from("/home/me/.config/systemd/user/nightjar.service")),
                Action::Run(systemctl(&["daemon-reload"], false)),
            ]
        );
    }

    #[test]
    fn macos_install_writes_a_launch_agent_and_bootstraps_it_in_the_gui_domain() {
        let mut s = setup(TargetOs::MacOs);
        s.home = Some(PathBuf::from("/Users/me"));
        s.config = Some(PathBuf::from("/Users/me/a&b.toml"));
        let p = install_plan(&s).unwrap();
        let plist = PathBuf::from("/Users/me/Library/LaunchAgents/app.nightjar.run.plist");
        assert_eq!(runs(&p), ["launchctl bootout gui/501/app.nightjar.run", "launchctl bootstrap gui/501 /Users/me/Library/LaunchAgents/app.nightjar.run.plist"]);
        assert!(matches!(&p.actions[0], Action::Run(s) if !s.required));
        let Action::Write { path, content } = &p.actions[1] else { panic!("{p:?}") };
        assert_eq!(path, &plist);
        assert!(content.contains("<key>Label</key>\n  <string>app.nightjar.run</string>"), "{content}");
        assert!(
            content.contains("<array>\n    <string>/opt/night jar/bin/nightjar</string>\n    <string>--config</string>\n    <string>/Users/me/a&amp;b.toml</string>\n    <string>run</string>\n  </array>"),
            "{content}"
        );
        assert!(content.contains("<key>RunAtLoad</key>\n  <true/>"));
        assert!(content.contains("<key>SuccessfulExit</key>\n    <false/>"));
        assert!(content.contains("<string>/Users/me/Library/Application Support/app.Nightjar.nightjar/logs/launchd.log</string>"));
        assert_eq!(p.undo, vec![Action::Remove(plist.clone())]);
        let u = uninstall_plan(&s).unwrap();
        assert_eq!(runs(&u), ["launchctl bootout gui/501/app.nightjar.run"]);
        assert_eq!(u.actions.last(), Some(&Action::Remove(plist)));
        assert_eq!(status_probe(&s).unwrap().display(), "launchctl print gui/501/app.nightjar.run");
        s.uid = None;
        assert!(install_plan(&s).is_err());
    }

    #[test]
    fn windows_install_creates_a_limited_logon_task_and_runs_it() {
        let mut s = setup(TargetOs::Windows);
        s.exe = PathBuf::from(r"C:\Program Files\Nightjar\nightjar.exe");
        let p = install_plan(&s).unwrap();
        assert_eq!(runs(&p)[0], "schtasks /End /TN Nightjar");
        let Action::Run(create) = &p.actions[1] else { panic!() };
        assert_eq!(create.program, "schtasks");
        let args: Vec<_> = create.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["/Create", "/TN", "Nightjar", "/SC", "ONLOGON", "/RL", "LIMITED", "/TR", r#""C:\Program Files\Nightjar\nightjar.exe" run"#, "/F"]);
        assert_eq!(runs(&p)[2], "schtasks /Run /TN Nightjar");
        assert!(p.actions.iter().all(|a| !matches!(a, Action::Write { .. })));
        s.config = Some(PathBuf::from(r"D:\nj\config.toml"));
        assert_eq!(windows_task_command(&s), r#""C:\Program Files\Nightjar\nightjar.exe" --config "D:\nj\config.toml" run"#);
        assert_eq!(runs(&uninstall_plan(&s).unwrap()), ["schtasks /End /TN Nightjar", "schtasks /Delete /TN Nightjar /F"]);
        assert_eq!(s.service_file().unwrap(), None);
    }

    #[test]
    fn status_is_read_from_the_file_and_the_probe() {
        let l = setup(TargetOs::Linux);
        assert_eq!(interpret_status(&l, false, None), Status { installed: false, running: false, manager: "systemd", file: l.service_file().unwrap(), task: None });
        assert!(interpret_status(&l, true, Some((true, "active\n"))).running);
        let st = interpret_status(&l, true, Some((false, "inactive\n")));
        assert!(st.installed && !st.running);
        assert_eq!(status_line(&st), "Installed, not running (systemd user unit /home/me/.config/systemd/user/nightjar.service).");
        assert!(!interpret_status(&l, true, None).running);
        let m = setup(TargetOs::MacOs);
        assert!(interpret_status(&m, true, Some((true, "gui/501/app.nightjar.run = {\n\tstate = running\n"))).running);
        assert!(!interpret_status(&m, true, Some((true, "\tstate = not running\n"))).running);
        let w = setup(TargetOs::Windows);
        let st = interpret_status(&w, false, Some((true, "\"\\Nightjar\",\"N/A\",\"Running\"\r\n")));
        assert!(st.installed && st.running);
        assert_eq!(status_line(&st), "Installed and running (Task Scheduler task \"Nightjar\").");
        let st = interpret_status(&w, false, Some((true, "\"\\Nightjar\",\"N/A\",\"Ready\"\r\n")));
        assert!(st.installed && !st.running);
        assert!(!interpret_status(&w, false, Some((false, ""))).installed);
        assert_eq!(status_line(&interpret_status(&w, false, None)), "Nightjar is not installed as a service.");
    }

    #[test]
    fn failures_are_one_sentence_that_says_what_to_do() {
        let step = systemctl(&["daemon-reload"], true);
        let m = failure_message(TargetOs::Linux, &step, Some("Failed to connect to bus: No medium found\n"));
        assert!(m.starts_with("systemd's user manager is not running here") && m.contains("loginctl enable-linger"), "{m}");
        let m = failure_message(TargetOs::Linux, &step, Some("Failed to connect to user scope bus via local transport: $DBUS_SESSION_BUS_ADDRESS and $XDG_RUNTIME_DIR not defined\n"));
        assert!(m.starts_with("systemd's user manager is not running here"), "{m}");
        let m = failure_message(TargetOs::Linux, &step, Some("Unit file is masked.\n"));
        assert_eq!(m, "`systemctl --user daemon-reload` failed (Unit file is masked); the unit file was removed again, fix that and run `nightjar service install` again.");
        assert!(failure_message(TargetOs::Linux, &step, None).starts_with("systemctl was not found"));
        for os in [TargetOs::Linux, TargetOs::MacOs, TargetOs::Windows] {
            for err in [None, Some("x\ny\n")] {
                let m = failure_message(os, &step, err);
                assert!(!m.contains('\n') && m.ends_with('.'), "{m}");
            }
        }
    }
}
