//! The databases restores leave on a server: replaced ones kept on
//! purpose (`__before_restore_`), and temporary or scratch ones of
//! interrupted runs; listed and dropped on request.

use serde::Serialize;

use crate::config::Job;
use crate::{Error, ErrorKind, Result};

use super::names::{self, KeptKind, BEFORE_MARKER, RESTORE_MARKER, VERIFY_MARKER};
use super::{postgres, Restorer};

/// A database a restore left on the server.
#[derive(Debug, Clone, Serialize)]
pub struct KeptDatabase {
    /// Its name.
    pub name: String,
    /// Why it exists.
    pub kind: KeptKind,
    /// The database it was (the name before the marker).
    pub base: String,
    /// The stamp in its name (local time of the restore).
    pub stamp: String,
    /// Size in bytes, when we may read it.
    pub size: Option<u64>,
    /// Sessions connected to it now.
    pub connections: u64,
}

impl Restorer<'_> {
    /// The databases restores left on `job`'s server: replaced ones kept on
    /// purpose, and temporary ones of interrupted runs.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn kept_databases(&self, job: &Job, password: Option<&String>, account: Option<&String>) -> Result<Vec<KeptDatabase>> {
        let server = self.server(job, password, account)?;
        let pattern = format!("({}|{}|{})[0-9]{{14}}$", BEFORE_MARKER, RESTORE_MARKER, VERIFY_MARKER);
        Ok(server
            .databases_matching(&pattern)?
            .into_iter()
            .filter_map(|(name, size, connections)| {
                let p = names::parse_db_name(&name)?;
                Some(KeptDatabase { kind: p.kind, base: p.base, stamp: p.at.format("%Y-%m-%d %H:%M:%S").to_string(), size, connections, name })
            })
            .collect())
    }

    /// Drops a database a restore left on `job`'s server. Only names made by
    /// Nightjar (`__before_restore_`, `__nightjar_restore_`,
    /// `__nightjar_verify_` + stamp) are accepted.
    ///
    /// # Errors
    /// Another name, a database that does not exist or is in use.
    pub fn drop_kept(&self, job: &Job, name: &str, password: Option<&String>, account: Option<&String>) -> Result<()> {
        if names::parse_db_name(name).is_none() {
            return Err(Error::config(format!(
                "\"{name}\" is not a database Nightjar kept; only names ending in {BEFORE_MARKER}, {RESTORE_MARKER} or {VERIFY_MARKER} and a stamp can be dropped here (`nightjar kept list` shows them)."
            )));
        }
        let server = self.server(job, password, account)?;
        match server.database_info(name)? {
            None => Err(Error::config(format!("There is no database \"{name}\" on {}; `nightjar kept list` shows the kept ones.", server.name()))),
            Some(info) if !info.sessions.is_empty() => Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "\"{name}\" on {} is in use ({}); disconnect those sessions, then drop it again.",
                    server.name(),
                    postgres::describe_sessions(&info.sessions)
                ),
            )),
            Some(_) => {
                server.drop_database(name, false)?;
                tracing::info!(database = name, server = %server.name(), "kept database dropped");
                Ok(())
            }
        }
    }
}
