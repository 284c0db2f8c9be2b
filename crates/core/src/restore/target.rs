//! The server a restore talks to, for either engine: the restore steps
//! (probe, create, load, swap, drop, count) are written once against this.

use std::path::PathBuf;
use std::process::Command;

use crate::model::Format;
use crate::source::postgres;
use crate::Result;

use super::mysql::MyServer;
use super::postgres::{DbInfo, Server};

/// A PostgreSQL or MySQL/MariaDB server reached for a restore.
#[derive(Debug, Clone)]
pub enum DbServer {
    /// psql / pg_restore.
    Postgres(Server),
    /// The mariadb/mysql client and dump tool.
    Mysql(MyServer),
}

impl DbServer {
    /// `host:port` for messages.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            DbServer::Postgres(s) => s.name(),
            DbServer::Mysql(s) => s.name(),
        }
    }

    /// The server's version text.
    #[must_use]
    pub fn version_text(&self) -> String {
        match self {
            DbServer::Postgres(s) => s.version.text.clone(),
            DbServer::Mysql(s) => s.version().text.clone(),
        }
    }

    /// The PostgreSQL major version (`None` for MySQL).
    #[must_use]
    pub fn pg_major(&self) -> Option<u32> {
        match self {
            DbServer::Postgres(s) => Some(s.version.major),
            DbServer::Mysql(_) => None,
        }
    }

    /// The `pg_restore` to read archives with (PostgreSQL only).
    #[must_use]
    pub fn pg_restore(&self) -> Option<PathBuf> {
        match self {
            DbServer::Postgres(s) => Some(s.pg_restore.clone()),
            DbServer::Mysql(_) => None,
        }
    }

    /// The password the tools get (for the safety backup).
    #[must_use]
    pub fn password(&self) -> Option<String> {
        match self {
            DbServer::Postgres(s) => s.target.password.clone(),
            DbServer::Mysql(s) => s.target.password.clone(),
        }
    }

    /// Properties and sessions of `name`, or `None` when it does not exist.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn database_info(&self, name: &str) -> Result<Option<DbInfo>> {
        match self {
            DbServer::Postgres(s) => s.database_info(name),
            DbServer::Mysql(s) => s.database_info(name),
        }
    }

    /// Which of `names` exist.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn existing(&self, names: &[&str]) -> Result<Vec<String>> {
        match self {
            DbServer::Postgres(s) => s.existing(names),
            DbServer::Mysql(s) => s.existing(names),
        }
    }

    /// Databases matching the regular expression `pattern` (size, sessions).
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn databases_matching(&self, pattern: &str) -> Result<Vec<(String, Option<u64>, u64)>> {
        match self {
            DbServer::Postgres(s) => s.databases_matching(pattern),
            DbServer::Mysql(s) => s.databases_matching(pattern),
        }
    }

    /// Creates an empty database like `like`.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn create_database(&self, name: &str, like: Option<&DbInfo>) -> Result<()> {
        match self {
            DbServer::Postgres(s) => s.create_database(name, like),
            DbServer::Mysql(s) => s.create_database(name, like),
        }
    }

    /// Copies database-level properties (PostgreSQL; MySQL's grants follow the name).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn copy_properties(&self, name: &str, like: &DbInfo) -> Result<()> {
        match self {
            DbServer::Postgres(s) => s.copy_properties(name, like),
            DbServer::Mysql(_) => Ok(()),
        }
    }

    /// Drops a database (ending its sessions first when `force`).
    ///
    /// # Errors
    /// When the server refuses.
    pub fn drop_database(&self, name: &str, force: bool) -> Result<()> {
        match self {
            DbServer::Postgres(s) => s.drop_database(name, force),
            DbServer::Mysql(s) => s.drop_database(name, force),
        }
    }

    /// Gives the restored copy `from` the new name `to`.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        match self {
            DbServer::Postgres(s) => s.rename(from, to),
            DbServer::Mysql(s) => s.rename(from, to),
        }
    }

    /// Swaps `restored` in for `target`, keeping `target` as `keep_as`.
    ///
    /// # Errors
    /// When the server refuses.
    pub fn swap(&self, target: &str, keep_as: &str, restored: &str, terminate: bool) -> Result<u64> {
        match self {
            DbServer::Postgres(s) => s.swap(target, keep_as, restored, terminate),
            DbServer::Mysql(s) => s.swap(target, keep_as, restored, terminate),
        }
    }

    /// Row counts of every table of `db`.
    ///
    /// # Errors
    /// When the server cannot be queried.
    pub fn table_counts(&self, db: &str) -> Result<Vec<(String, String, u64)>> {
        match self {
            DbServer::Postgres(s) => s.table_counts(db),
            DbServer::Mysql(s) => s.table_counts(db),
        }
    }

    /// The command that loads a file of `format` from stdin into `db`, and its tool's name.
    #[must_use]
    pub fn load_command(&self, db: &str, format: Option<Format>) -> (Command, String) {
        match self {
            DbServer::Postgres(s) => match format {
                Some(Format::Custom) => {
                    let target = s.target_for(db);
                    let args = vec!["--exit-on-error".to_string(), "--no-password".into(), format!("--dbname={}", target.url.libpq_url())];
                    (postgres::tool_command(&target, &s.pg_restore, &args), "pg_restore".into())
                }
                _ => (s.psql_command(db, &["--single-transaction", "-f", "-"]), "psql".into()),
            },
            DbServer::Mysql(s) => (s.load_command(db), s.client_name()),
        }
    }

    /// The failure of a loading child as the tool's most telling line.
    #[must_use]
    pub fn error_line(&self, stderr: &str) -> Option<String> {
        match self {
            DbServer::Postgres(_) => super::postgres::error_line(stderr),
            DbServer::Mysql(_) => super::mysql::error_line(stderr),
        }
    }
}
