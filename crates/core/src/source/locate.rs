//! Where the dump tools live on each system: the PostgreSQL and
//! MySQL/MariaDB client tools and `docker`.
//!
//! The rules are pure: they read the environment through a closure and are
//! made for a [`TargetOs`] (default: the one this is built for), so the
//! Windows and macOS rules are tested on Linux. Listing a folder is the
//! caller's (`list`: the real file system in [`candidate_dirs`]).
//!
//! - Linux: `/usr/lib/postgresql/*/bin`, `/usr/pgsql-*/bin`, then `PATH`
//!   (PostgreSQL); `PATH`, then `/usr/local/mysql/bin`, `/opt/homebrew/bin`,
//!   `/usr/local/bin` (MySQL/MariaDB).
//! - Windows: `%ProgramFiles%\PostgreSQL\<major>\bin` (newest first, also
//!   under `%ProgramFiles(x86)%`), `%ProgramFiles%\MariaDB <ver>\bin`,
//!   `%ProgramFiles%\MySQL\MySQL Server <ver>\bin`, Scoop's and
//!   Chocolatey's shims, then `PATH`; `docker.exe` from `PATH` or Docker
//!   Desktop's `resources\bin`.
//! - macOS: Postgres.app (`latest` first, then newest), Homebrew's
//!   `postgresql@*` and `libpq` kegs, `/opt/homebrew/bin`, `/usr/local/bin`,
//!   `/usr/local/mysql/bin`, then `PATH`.
//!
//! A job's `tool_dir`, else `NIGHTJAR_PG_BIN` / `NIGHTJAR_MYSQL_BIN`,
//! replaces the search.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The system whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOs {
    Linux,
    MacOs,
    Windows,
}

impl TargetOs {
    /// The system this is built for (other Unixes follow the Linux rules:
    /// their tools and services look like Linux's).
    #[must_use]
    pub const fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

impl Default for TargetOs {
    /// [`TargetOs::current`].
    fn default() -> Self {
        Self::current()
    }
}

/// A family of tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `pg_dump`, `psql`, `pg_restore`.
    Postgres,
    /// `mariadb-dump`/`mysqldump`, `mariadb`/`mysql`.
    Mysql,
}

/// Reads an environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;
/// Lists the names in a folder (empty when it cannot be read).
pub type List<'a> = &'a dyn Fn(&Path) -> Vec<OsString>;

/// Which children of a folder hold tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// Every child (a version number, for instance).
    Any,
    /// Children whose name starts with this.
    Prefix(&'static str),
    /// Children starting with this, and one named exactly the second.
    PrefixOr(&'static str, &'static str),
}

/// One place to look.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// This folder.
    Dir(PathBuf),
    /// `<root>/<child>/bin` for the children [`Pick`] takes, newest first.
    Versions(PathBuf, Pick),
}

fn var(env: Env<'_>, name: &str) -> Option<OsString> {
    env(name).filter(|v| !v.is_empty())
}

/// `PATH` split the way `os` does (`;` on Windows, where entries may be
/// quoted; `:` elsewhere).
fn path_dirs(os: TargetOs, env: Env<'_>) -> Vec<PathBuf> {
    let Some(path) = var(env, "PATH") else { return Vec::new() };
    if os == TargetOs::default() {
        return std::env::split_paths(&path).collect();
    }
    let text = path.to_string_lossy();
    let sep = if os == TargetOs::Windows { ';' } else { ':' };
    text.split(sep).map(|d| d.trim_matches('"')).filter(|d| !d.is_empty()).map(PathBuf::from).collect()
}

/// The Program Files folders of a Windows machine (64-bit first).
fn program_files(env: Env<'_>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let first = var(env, "ProgramW6432").or_else(|| var(env, "ProgramFiles")).map_or_else(|| PathBuf::from(r"C:\Program Files"), PathBuf::from);
    out.push(first);
    for name in ["ProgramFiles", "ProgramFiles(x86)"] {
        if let Some(p) = var(env, name).map(PathBuf::from)
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// Scoop's and Chocolatey's shim folders.
fn windows_shims(env: Env<'_>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = var(env, "SCOOP") {
        out.push(PathBuf::from(p).join("shims"));
    }
    if let Some(p) = var(env, "USERPROFILE") {
        let d = PathBuf::from(p).join("scoop").join("shims");
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out.push(var(env, "ChocolateyInstall").map_or_else(|| PathBuf::from(r"C:\ProgramData\chocolatey\bin"), |p| PathBuf::from(p).join("bin")));
    out
}

fn places(tool: Tool, os: TargetOs, env: Env<'_>) -> Vec<Place> {
    let dir = |p: &str| Place::Dir(PathBuf::from(p));
    let mut out = Vec::new();
    match (os, tool) {
        (TargetOs::Linux, Tool::Postgres) => {
            out.push(Place::Versions("/usr/lib/postgresql".into(), Pick::Any));
            out.push(Place::Versions("/usr".into(), Pick::Prefix("pgsql-")));
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
        }
        (TargetOs::Linux, Tool::Mysql) => {
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
            out.extend(["/usr/local/mysql/bin", "/opt/homebrew/bin", "/usr/local/bin"].map(dir));
        }
        (TargetOs::Windows, Tool::Postgres) => {
            out.extend(program_files(env).into_iter().map(|p| Place::Versions(p.join("PostgreSQL"), Pick::Any)));
            out.extend(windows_shims(env).into_iter().map(Place::Dir));
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
        }
        (TargetOs::Windows, Tool::Mysql) => {
            for p in program_files(env) {
                out.push(Place::Versions(p.clone(), Pick::Prefix("MariaDB")));
                out.push(Place::Versions(p.join("MySQL"), Pick::Prefix("MySQL Server")));
            }
            out.extend(windows_shims(env).into_iter().map(Place::Dir));
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
        }
        (TargetOs::MacOs, Tool::Postgres) => {
            out.push(Place::Versions("/Applications/Postgres.app/Contents/Versions".into(), Pick::Any));
            if let Some(home) = var(env, "HOME") {
                out.push(Place::Versions(PathBuf::from(home).join("Applications/Postgres.app/Contents/Versions"), Pick::Any));
            }
            for opt in ["/opt/homebrew/opt", "/usr/local/opt"] {
                out.push(Place::Versions(opt.into(), Pick::PrefixOr("postgresql", "libpq")));
            }
            out.extend(["/opt/homebrew/bin", "/usr/local/bin"].map(dir));
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
        }
        (TargetOs::MacOs, Tool::Mysql) => {
            for opt in ["/opt/homebrew/opt", "/usr/local/opt"] {
                out.push(Place::Versions(opt.into(), Pick::PrefixOr("mysql-client", "mariadb")));
            }
            out.extend(["/opt/homebrew/bin", "/usr/local/bin", "/usr/local/mysql/bin"].map(dir));
            out.extend(path_dirs(os, env).into_iter().map(Place::Dir));
        }
    }
    out
}

/// The version a folder name carries (`16`, `MariaDB 11.4`, `postgresql@17`,
/// `MySQL Server 8.0`), for sorting newest first; `latest` (Postgres.app)
/// sorts before any number.
fn version_key(name: &str) -> (bool, Vec<u64>) {
    if name == "latest" {
        return (true, Vec::new());
    }
    let start = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    let nums = name[start..].split(|c: char| !c.is_ascii_digit()).take_while(|s| !s.is_empty()).map(|s| s.parse().unwrap_or(0)).collect();
    (false, nums)
}

fn picks(pick: Pick, name: &str) -> bool {
    match pick {
        Pick::Any => true,
        Pick::Prefix(p) => name.starts_with(p),
        Pick::PrefixOr(p, exact) => name.starts_with(p) || name == exact,
    }
}

fn expand(places: Vec<Place>, list: List<'_>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for place in places {
        match place {
            Place::Dir(d) => out.push(d),
            Place::Versions(root, pick) => {
                let mut names: Vec<String> = list(&root).iter().map(|n| n.to_string_lossy().into_owned()).filter(|n| picks(pick, n)).collect();
                // Newest first; names without a number keep their (sorted) place after.
                names.sort_by(|a, b| version_key(b).cmp(&version_key(a)).then_with(|| a.cmp(b)));
                out.extend(names.into_iter().map(|n| root.join(n).join("bin")));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|d| seen.insert(d.clone()));
    out
}

/// The folders to search for `tool`, most specific first: only
/// `tool_dir` when given, else only `override_var`'s folder when set, else
/// the rules of `os`.
#[must_use]
pub fn candidate_dirs_with(tool: Tool, tool_dir: Option<&Path>, override_var: &str, os: TargetOs, env: Env<'_>, list: List<'_>) -> Vec<PathBuf> {
    if let Some(d) = tool_dir {
        return vec![d.to_path_buf()];
    }
    if let Some(d) = var(env, override_var) {
        return vec![PathBuf::from(d)];
    }
    expand(places(tool, os, env), list)
}

/// The names in `dir` on the real file system.
#[must_use]
pub fn list_dir(dir: &Path) -> Vec<OsString> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default()
}

fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// [`candidate_dirs_with`] for this machine.
#[must_use]
pub fn candidate_dirs(tool: Tool, tool_dir: Option<&Path>, override_var: &str) -> Vec<PathBuf> {
    candidate_dirs_with(tool, tool_dir, override_var, TargetOs::default(), &process_env, &list_dir)
}

/// The `docker` program: `NIGHTJAR_DOCKER` when set; on Windows and macOS the
/// first `docker` found on `PATH` or where Docker Desktop puts it (a program
/// started from the desktop may not have that on its `PATH`); else plain
/// `docker`, left to the `PATH` search when it starts.
#[must_use]
pub fn docker_with(os: TargetOs, env: Env<'_>, is_file: &dyn Fn(&Path) -> bool) -> OsString {
    if let Some(d) = var(env, "NIGHTJAR_DOCKER") {
        return d;
    }
    let (name, extra): (&str, Vec<PathBuf>) = match os {
        TargetOs::Linux => return "docker".into(),
        TargetOs::Windows => ("docker.exe", program_files(env).into_iter().map(|p| p.join("Docker").join("Docker").join("resources").join("bin")).collect()),
        TargetOs::MacOs => (
            "docker",
            ["/usr/local/bin", "/opt/homebrew/bin", "/Applications/Docker.app/Contents/Resources/bin"].into_iter().map(PathBuf::from).collect(),
        ),
    };
    path_dirs(os, env).into_iter().chain(extra).map(|d| d.join(name)).find(|p| is_file(p)).map_or_else(|| OsString::from("docker"), PathBuf::into_os_string)
}

/// [`docker_with`] for this machine.
#[must_use]
pub fn docker() -> OsString {
    docker_with(TargetOs::default(), &process_env, &|p| p.is_file())
}

/// How to get `tool` on `os`, for "… was not found; <hint> or set the job's
/// `tool_dir`." (`major`: a PostgreSQL major version the server needs).
#[must_use]
pub fn install_hint(tool: Tool, os: TargetOs, major: Option<u64>) -> String {
    match (tool, os, major) {
        (Tool::Postgres, TargetOs::Linux, None) => "install the PostgreSQL client tools (Debian/Ubuntu: sudo apt install postgresql-client)".into(),
        (Tool::Postgres, TargetOs::Linux, Some(m)) => format!("install the PostgreSQL {m} client tools (Debian/Ubuntu: sudo apt install postgresql-client-{m})"),
        (Tool::Postgres, TargetOs::Windows, None) => "install PostgreSQL from postgresql.org (its bin folder is found under Program Files)".into(),
        (Tool::Postgres, TargetOs::Windows, Some(m)) => format!("install PostgreSQL {m} from postgresql.org (its bin folder is found under Program Files)"),
        (Tool::Postgres, TargetOs::MacOs, None) => "install Postgres.app or Homebrew's libpq (brew install libpq)".into(),
        (Tool::Postgres, TargetOs::MacOs, Some(m)) => format!("install PostgreSQL {m} with Postgres.app or Homebrew (brew install postgresql@{m})"),
        (Tool::Mysql, TargetOs::Linux, _) => "install the MariaDB or MySQL client tools (Debian/Ubuntu: sudo apt install mariadb-client)".into(),
        (Tool::Mysql, TargetOs::Windows, _) => "install MariaDB or MySQL from mariadb.org or dev.mysql.com (their bin folders are found under Program Files)".into(),
        (Tool::Mysql, TargetOs::MacOs, _) => "install the client tools with Homebrew (brew install mariadb, or brew install mysql-client)".into(),
    }
}

/// [`install_hint`] for this machine.
#[must_use]
pub fn hint(tool: Tool, major: Option<u64>) -> String {
    install_hint(tool, TargetOs::default(), major)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &Path)]) -> HashMap<String, OsString> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), v.as_os_str().to_owned())).collect()
    }

    fn mkdirs(root: &Path, dirs: &[&str]) {
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
    }

    fn rel(root: &Path, dirs: &[PathBuf]) -> Vec<String> {
        dirs.iter().map(|d| d.strip_prefix(root).map_or_else(|_| d.display().to_string(), |r| r.display().to_string())).collect()
    }

    #[test]
    fn windows_program_files_newest_first_then_shims_then_path() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        mkdirs(r, &["pf/PostgreSQL/9.6/bin", "pf/PostgreSQL/16/bin", "pf/PostgreSQL/17/bin", "x86/PostgreSQL/12/bin", "pf/MariaDB 10.11/bin", "pf/MariaDB 11.4/bin", "pf/MySQL/MySQL Server 8.0/bin", "pf/MySQL/MySQL Workbench 8.0", "pf/Other"]);
        let path = OsString::from(format!("{};\"{}\"", r.join("p1").display(), r.join("p 2").display()));
        let mut env = env_of(&[("ProgramFiles", &r.join("pf")), ("ProgramFiles(x86)", &r.join("x86")), ("USERPROFILE", &r.join("me")), ("ChocolateyInstall", &r.join("choco"))]);
        env.insert("PATH".into(), path);
        let get = |k: &str| env.get(k).cloned();
        let pg = candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::Windows, &get, &list_dir);
        assert_eq!(
            rel(r, &pg),
            ["pf/PostgreSQL/17/bin", "pf/PostgreSQL/16/bin", "pf/PostgreSQL/9.6/bin", "x86/PostgreSQL/12/bin", "me/scoop/shims", "choco/bin", "p1", "p 2"]
        );
        let my = candidate_dirs_with(Tool::Mysql, None, "NIGHTJAR_MYSQL_BIN", TargetOs::Windows, &get, &list_dir);
        assert_eq!(rel(r, &my), ["pf/MariaDB 11.4/bin", "pf/MariaDB 10.11/bin", "pf/MySQL/MySQL Server 8.0/bin", "me/scoop/shims", "choco/bin", "p1", "p 2"]);
        // Defaults when the variables are missing; SCOOP's own folder first.
        let mut env2 = env_of(&[("SCOOP", &r.join("scoop"))]);
        env2.insert("PATH".into(), OsString::new());
        let get2 = |k: &str| env2.get(k).cloned();
        let pg = candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::Windows, &get2, &|_| Vec::new());
        assert_eq!(rel(r, &pg), ["scoop/shims", r"C:\ProgramData\chocolatey\bin"]);
    }

    #[test]
    fn macos_postgres_app_latest_first_homebrew_kegs_then_bins_and_path() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // The fixed macOS roots are absolute; test the ordering rule on a tree.
        mkdirs(r, &["Versions/14/bin", "Versions/latest/bin", "Versions/17/bin", "opt/postgresql@16", "opt/postgresql@15", "opt/libpq", "opt/python@3.12", "opt/mysql-client@8.4", "opt/mariadb"]);
        let pg = expand(vec![Place::Versions(r.join("Versions"), Pick::Any), Place::Versions(r.join("opt"), Pick::PrefixOr("postgresql", "libpq"))], &list_dir);
        assert_eq!(rel(r, &pg), ["Versions/latest/bin", "Versions/17/bin", "Versions/14/bin", "opt/postgresql@16/bin", "opt/postgresql@15/bin", "opt/libpq/bin"]);
        let my = expand(vec![Place::Versions(r.join("opt"), Pick::PrefixOr("mysql-client", "mariadb"))], &list_dir);
        assert_eq!(rel(r, &my), ["opt/mysql-client@8.4/bin", "opt/mariadb/bin"]);
        let env: HashMap<String, OsString> = [("PATH".to_string(), OsString::from("/usr/bin:/opt/homebrew/bin"))].into();
        let get = |k: &str| env.get(k).cloned();
        let none = |_: &Path| Vec::new();
        let pg = candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::MacOs, &get, &none);
        assert_eq!(rel(r, &pg), ["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"]);
        let my = candidate_dirs_with(Tool::Mysql, None, "NIGHTJAR_MYSQL_BIN", TargetOs::MacOs, &get, &none);
        assert_eq!(rel(r, &my), ["/opt/homebrew/bin", "/usr/local/bin", "/usr/local/mysql/bin", "/usr/bin"]);
        let apps = |d: &Path| if d == Path::new("/Applications/Postgres.app/Contents/Versions") { vec![OsString::from("16"), OsString::from("latest")] } else { Vec::new() };
        let pg = candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::MacOs, &get, &apps);
        assert_eq!(pg[..2], [PathBuf::from("/Applications/Postgres.app/Contents/Versions/latest/bin"), PathBuf::from("/Applications/Postgres.app/Contents/Versions/16/bin")]);
    }

    #[test]
    fn linux_is_as_before_and_overrides_replace_the_search() {
        let env: HashMap<String, OsString> = [("PATH".to_string(), OsString::from("/usr/bin:/bin"))].into();
        let get = |k: &str| env.get(k).cloned();
        let list = |d: &Path| match d.to_str() {
            Some("/usr/lib/postgresql") => vec!["15".into(), "17".into()],
            Some("/usr") => vec!["bin".into(), "pgsql-16".into(), "lib".into()],
            _ => Vec::new(),
        };
        let pg = candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::Linux, &get, &list);
        let s: Vec<_> = pg.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(s, ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/15/bin", "/usr/pgsql-16/bin", "/usr/bin", "/bin"]);
        let my = candidate_dirs_with(Tool::Mysql, None, "NIGHTJAR_MYSQL_BIN", TargetOs::Linux, &get, &list);
        let s: Vec<_> = my.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(s, ["/usr/bin", "/bin", "/usr/local/mysql/bin", "/opt/homebrew/bin", "/usr/local/bin"]);
        assert_eq!(candidate_dirs_with(Tool::Postgres, Some(Path::new("/j")), "NIGHTJAR_PG_BIN", TargetOs::Windows, &get, &list), [PathBuf::from("/j")]);
        let env2: HashMap<String, OsString> = [("NIGHTJAR_PG_BIN".to_string(), OsString::from("/o"))].into();
        let get2 = |k: &str| env2.get(k).cloned();
        assert_eq!(candidate_dirs_with(Tool::Postgres, None, "NIGHTJAR_PG_BIN", TargetOs::MacOs, &get2, &list), [PathBuf::from("/o")]);
    }

    #[test]
    fn docker_is_found_where_docker_desktop_puts_it() {
        let t = tempfile::tempdir().unwrap();
        let pf = t.path().join("pf");
        let env = env_of(&[("ProgramFiles", &pf), ("PATH", Path::new("/nowhere"))]);
        let get = |k: &str| env.get(k).cloned();
        let desktop = pf.join("Docker/Docker/resources/bin/docker.exe");
        assert_eq!(docker_with(TargetOs::Windows, &get, &|p| p == desktop), desktop.into_os_string());
        assert_eq!(docker_with(TargetOs::Windows, &get, &|_| false), OsString::from("docker"));
        assert_eq!(docker_with(TargetOs::Windows, &get, &|p| p == Path::new("/nowhere/docker.exe")), OsString::from("/nowhere/docker.exe"));
        assert_eq!(docker_with(TargetOs::Linux, &get, &|_| true), OsString::from("docker"));
        let mac = Path::new("/Applications/Docker.app/Contents/Resources/bin/docker");
        assert_eq!(docker_with(TargetOs::MacOs, &get, &|p| p == mac), mac.as_os_str());
        let env2: HashMap<String, OsString> = [("NIGHTJAR_DOCKER".to_string(), OsString::from("/x/podman"))].into();
        assert_eq!(docker_with(TargetOs::Windows, &|k| env2.get(k).cloned(), &|_| true), OsString::from("/x/podman"));
    }

    #[test]
    fn not_found_hints_say_where_to_get_the_tools_per_system() {
        assert!(install_hint(Tool::Postgres, TargetOs::Windows, None).contains("postgresql.org"));
        assert!(install_hint(Tool::Postgres, TargetOs::Linux, Some(17)).ends_with("postgresql-client-17)"));
        assert!(install_hint(Tool::Postgres, TargetOs::MacOs, None).contains("Postgres.app"));
        assert!(install_hint(Tool::Mysql, TargetOs::Windows, None).contains("Program Files"));
        assert_eq!(version_key("MariaDB 10.11"), (false, vec![10, 11]));
        assert!(version_key("MySQL Server 8.4") > version_key("MySQL Server 8.0"));
    }
}
