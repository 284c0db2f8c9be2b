//! Stage 4, swap: the restored copy takes the target's name in one step,
//! or is dropped again.

use crate::{Error, ErrorKind, Result};

use super::postgres::{describe_sessions, DbInfo, Session};
use super::{DbServer, RestoreMode, Restorer, SWAP_ATTEMPTS};

impl Restorer<'_> {
    pub(super) fn refuse_if_connected(&self, server: &DbServer, db: &str, info: Option<DbInfo>) -> Result<()> {
        let info = match info {
            Some(i) => Some(i),
            None => server.database_info(db)?,
        };
        let sessions = info.map(|i| i.sessions).unwrap_or_default();
        if sessions.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!(
                "\"{db}\" on {} has {} session{} connected ({}); disconnect them and restore again, or leave out --no-terminate to close them at the swap.",
                server.name(),
                sessions.len(),
                if sessions.len() == 1 { "" } else { "s" },
                describe_sessions(&sessions)
            ),
        ))
    }

    /// The swap, retried when a client reconnected in between.
    pub(super) fn swap(&self, server: &DbServer, target: &str, keep_as: &str, tmp: &str, terminate: bool) -> Result<(u64, Vec<Session>)> {
        let mut last = None;
        for attempt in 1..=SWAP_ATTEMPTS {
            let who = server.database_info(target)?.map(|i| i.sessions).unwrap_or_default();
            if !terminate && !who.is_empty() {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "\"{target}\" has {} session{} connected ({}), so it was not replaced (--no-terminate)",
                        who.len(),
                        if who.len() == 1 { "" } else { "s" },
                        describe_sessions(&who)
                    ),
                ));
            }
            match server.swap(target, keep_as, tmp, terminate) {
                Ok(n) => return Ok((n, who)),
                Err(e) => {
                    tracing::warn!(target, attempt, "swap failed: {}", e.detailed());
                    let retry = e.message().contains("being accessed by other users");
                    last = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        let e = last.expect("at least one attempt");
        Err(Error::new(e.kind(), format!("The restored copy could not be swapped in for \"{target}\": {}", e.message().trim_end_matches('.'))))
    }

    /// Drops the temporary database after a failure and completes the message.
    pub(super) fn cleanup(&self, server: &DbServer, tmp: &str, e: Error, mode: RestoreMode, db: &str) -> Error {
        let unchanged = match mode {
            RestoreMode::Replace => format!("\"{db}\" was not changed"),
            RestoreMode::Create | RestoreMode::AsNew => format!("\"{db}\" was not created"),
        };
        let base = e.message().trim_end_matches('.').to_string();
        match server.drop_database(tmp, true) {
            Ok(()) => Error::new(e.kind(), format!("{base}; {unchanged} and the temporary copy was removed.")),
            Err(d) => {
                tracing::error!(tmp, "could not drop the temporary database: {}", d.detailed());
                Error::new(
                    e.kind(),
                    format!("{base}; {unchanged}, but the temporary database \"{tmp}\" could not be removed ({}) — drop it with `nightjar kept drop {tmp}`.", d.message().trim_end_matches('.')),
                )
            }
        }
    }
}
