//! Stage 4, swap: once the loaded copy checked out, the safety backup of
//! the target, then the copy takes the target's name in one step (or the
//! `--as-new` name); after any failure it is dropped again.

use crate::config::Job;
use crate::model::Trigger;
use crate::observer::Stage;
use crate::runner::{BackupOptions, BackupReport, Runner};
use crate::{Error, ErrorKind, Result};

use super::load::Temporary;
use super::postgres::{describe_sessions, DbInfo, Session};
use super::{lower_first, DbServer, RestoreMode, RestoreOptions, Restorer, JOB_LOCK_WAIT, SWAP_ATTEMPTS};

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

    /// The safety backup of `db` before it is replaced: a backup run of
    /// the job (trigger `pre-restore`, no pruning, so retention cannot
    /// delete the file being restored). It takes the job's lock itself.
    pub(super) fn safety_backup(&self, job: &Job, opts: &RestoreOptions, server: &DbServer, db: &str) -> Result<BackupReport> {
        self.observer.stage(&job.name, Stage::SafetyBackup);
        let runner = Runner(self.0);
        let mut bopts = BackupOptions::new(Trigger::PreRestore);
        bopts.prune = false;
        bopts.password = server.password();
        bopts.password_account.clone_from(&opts.password_account);
        bopts.wait_for_lock = Some(JOB_LOCK_WAIT);
        runner.backup(job, &bopts).map_err(|e| {
            Error::new(e.kind(), format!("The safety backup of \"{db}\" failed, so the swap did not start and nothing was changed: {}", lower_first(e.message())))
        })
    }

    /// Gives the loaded copy its name: swapped in for `db` (replace, `db`
    /// kept as `tmp.keep_as`), or renamed to `db` (create, as-new). The
    /// sessions ended at the swap.
    pub(super) fn swap_in(&self, server: &DbServer, db: &str, tmp: &Temporary, mode: RestoreMode, terminate: bool) -> Result<(u64, Vec<Session>)> {
        match mode {
            RestoreMode::Replace => self.swap(server, db, tmp.keep_as.as_deref().unwrap_or_default(), &tmp.name, terminate),
            RestoreMode::Create | RestoreMode::AsNew => {
                server
                    .rename(&tmp.name, db)
                    .map_err(|e| Error::new(e.kind(), format!("The restored data could not be given the name \"{db}\": {}", e.message())))?;
                Ok((0, Vec::new()))
            }
        }
    }

    /// Drops the temporary database after a failure and completes the
    /// message: what was not changed, and that the copy is gone (or how to
    /// drop it); advice to pick another backup stays at the end.
    pub(super) fn cleanup(&self, server: &DbServer, tmp: &str, e: Error, mode: RestoreMode, db: &str) -> Error {
        let message = e.message().trim_end_matches('.');
        let (base, advice) = match message.rfind("; pick another") {
            Some(i) => (&message[..i], &message[i..]),
            None => (message, ""),
        };
        // A sentence that already says nothing was changed needs it only once.
        let unchanged = if base.contains("nothing was changed") {
            None
        } else {
            Some(match mode {
                RestoreMode::Replace => format!("\"{db}\" was not changed"),
                RestoreMode::Create | RestoreMode::AsNew => format!("\"{db}\" was not created"),
            })
        };
        match server.drop_database(tmp, true) {
            Ok(()) => {
                let told = match unchanged {
                    Some(u) => format!("{u} and the temporary copy was removed"),
                    None => "the temporary copy was removed".to_string(),
                };
                Error::new(e.kind(), format!("{base}; {told}{advice}."))
            }
            Err(d) => {
                tracing::error!(tmp, "could not drop the temporary database: {}", d.detailed());
                let told = match unchanged {
                    Some(u) => format!("{u}, but the temporary database"),
                    None => "but the temporary database".to_string(),
                };
                Error::new(
                    e.kind(),
                    format!(
                        "{base}; {told} \"{tmp}\" could not be removed ({}) — drop it with `nightjar kept drop {tmp}`{advice}.",
                        d.message().trim_end_matches('.')
                    ),
                )
            }
        }
    }
}
