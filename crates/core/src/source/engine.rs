//! One backup source for either engine: the runner asks this, not the
//! engines' modules, so the pipeline, naming, manifest, history, retention
//! and lock are the same code for PostgreSQL and MySQL/MariaDB.

use std::path::Path;
use std::process::Command;

use crate::config::Job;
use crate::model::Engine;
use crate::source::mysql::{self, MyPrepared, MyTarget};
use crate::source::postgres::{self, PgPrepared, PgTarget};
use crate::source::ChildFailure;
use crate::{Error, ErrorKind, Result};

/// A source whose tools were chosen and whose server answered.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// PostgreSQL through pg_dump.
    Postgres(PgTarget, PgPrepared),
    /// MySQL/MariaDB through mariadb-dump / mysqldump.
    Mysql(MyTarget, MyPrepared),
}

/// Chooses the tools for `job` and reads the server's version.
///
/// # Errors
/// Tools missing or unfit, server unreachable, wrong password.
pub fn prepare(job: &Job, password: Option<String>) -> Result<Prepared> {
    prepare_with(job, password, job.tool_dir.as_deref())
}

fn prepare_with(job: &Job, password: Option<String>, tool_dir: Option<&Path>) -> Result<Prepared> {
    match job.db.engine {
        Engine::Postgres => {
            let target = PgTarget { url: job.db.clone(), password, docker_container: job.docker_container.clone() };
            let p = postgres::prepare(&target, tool_dir)?;
            Ok(Prepared::Postgres(target, p))
        }
        Engine::Mysql => {
            let target = MyTarget { url: job.db.clone(), password, docker_container: job.docker_container.clone() };
            let p = mysql::prepare(&target, tool_dir)?;
            Ok(Prepared::Mysql(target, p))
        }
    }
}

/// The engine's name for messages ("PostgreSQL", "MySQL/MariaDB").
#[must_use]
pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "PostgreSQL",
        Engine::Mysql => "MySQL/MariaDB",
    }
}

/// The environment variable a password may come from.
#[must_use]
pub fn password_var(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "PGPASSWORD",
        Engine::Mysql => "MYSQL_PWD",
    }
}

impl Prepared {
    /// The dump command for `job`.
    #[must_use]
    pub fn dump_command(&self, job: &Job) -> Command {
        match self {
            Prepared::Postgres(t, p) => postgres::dump_command(t, &p.tools, job.format, job.compression, &job.selection),
            Prepared::Mysql(t, p) => mysql::dump_command(t, p, &job.selection),
        }
    }

    /// The dump tool could not be started.
    #[must_use]
    pub fn spawn_error(&self, e: std::io::Error) -> Error {
        match self {
            Prepared::Postgres(t, _) => postgres::dump_spawn_error(t, e),
            Prepared::Mysql(t, p) => mysql::dump_spawn_error(t, &p.tools, e),
        }
    }

    /// A failed dump tool as one sentence.
    #[must_use]
    pub fn classify(&self, f: &ChildFailure) -> Error {
        match self {
            Prepared::Postgres(t, _) => postgres::classify_failure(f, t),
            Prepared::Mysql(t, _) => mysql::classify_failure(f, t),
        }
    }

    /// The dump tool's name ("pg_dump", "mariadb-dump", "mysqldump").
    #[must_use]
    pub fn tool(&self) -> String {
        match self {
            Prepared::Postgres(..) => "pg_dump".into(),
            Prepared::Mysql(_, p) => p.tools.dump_name(),
        }
    }

    /// The dump tool's version text.
    #[must_use]
    pub fn tool_version(&self) -> String {
        match self {
            Prepared::Postgres(_, p) => p.tools.version.text.clone(),
            Prepared::Mysql(_, p) => p.tools.version.text.clone(),
        }
    }

    /// The server's version text, when it was read.
    #[must_use]
    pub fn server_version(&self) -> Option<String> {
        match self {
            Prepared::Postgres(_, p) => p.server.as_ref().map(|v| v.text.clone()),
            Prepared::Mysql(_, p) => Some(p.server.text.clone()),
        }
    }

    /// The password the tools get (for the message when it is missing).
    #[must_use]
    pub fn has_password(&self) -> bool {
        match self {
            Prepared::Postgres(t, _) => t.password.is_some(),
            Prepared::Mysql(t, _) => t.password.is_some(),
        }
    }
}

/// The sentence for "the server wants a password and the keyring holding it
/// could not be reached" (or the credentials file `file`, when the config
/// keeps secrets in one, could not be read).
#[must_use]
pub fn keyring_unreachable(job: &Job, file: Option<&std::path::Path>) -> Error {
    let what = match file {
        None => "the OS keyring holding it could not be reached; unlock or start the keyring".to_string(),
        Some(f) => format!("the credentials file {} holding it could not be read (the log says why); fix that", f.display()),
    };
    Error::new(
        ErrorKind::Auth,
        format!(
            "{} at {} wants a password for \"{}\" and {what} (or set {}), then try again.",
            engine_name(job.db.engine),
            job.db.server(),
            job.db.user.as_deref().unwrap_or("the current user"),
            password_var(job.db.engine)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DestinationSpec, ParseEnv};
    use crate::db::{DbUrl, UrlOrigin};

    #[test]
    fn a_missing_password_names_the_store_that_could_not_be_read() {
        let url = DbUrl::parse_without_password("postgres://app@db.example:5432/app", UrlOrigin::CommandLine).unwrap();
        let env = ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC };
        let job = Job::adhoc(url, DestinationSpec::Folder("/b".into()), None, &env).unwrap();
        let k = keyring_unreachable(&job, None);
        assert_eq!(k.kind(), ErrorKind::Auth);
        assert!(k.message().contains("the OS keyring holding it could not be reached; unlock or start the keyring (or set PGPASSWORD), then try again."), "{k}");
        let f = keyring_unreachable(&job, Some(std::path::Path::new("/etc/nj/credentials.toml")));
        assert!(f.message().contains("and the credentials file /etc/nj/credentials.toml holding it could not be read (the log says why); fix that (or set PGPASSWORD)"), "{f}");
    }
}
