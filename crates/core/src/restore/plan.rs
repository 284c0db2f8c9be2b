//! Stage 1, plan: what a restore will do, from the file alone
//! ([`plan_restore`]) and then from the server ([`probe`]); who made the
//! file ([`Restorer::prepare`]). When the confirmed plan runs,
//! `Restorer::confirm` looks again at what may have changed since it was
//! shown. Nothing is changed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::db::DbUrl;
use crate::history::{RunKind, RunRecord};
use crate::inspect::{self, Content, Inspection};
use crate::config::Job;
use crate::model::{Compression, Engine};
use crate::trust::{self, Trust};
use crate::{Error, ErrorKind, Result};

use super::validate;
use super::{invalid, mysql, name_origin, postgres, DbInfo, DbServer, Restorer, Session, MAX_IDENTIFIER};

/// Choices of one restore (`Debug` in [`crate::db`], without the password).
#[derive(Clone)]
pub struct RestoreOptions {
    /// Restore into this new database and leave the original alone.
    pub as_new: Option<String>,
    /// Back the target up first (trigger `pre-restore`) when it is replaced.
    pub safety_backup: bool,
    /// End the other sessions on the target at the swap; when false, a
    /// restore with sessions connected is refused, naming them.
    pub terminate_connections: bool,
    /// A password for this run only (e.g. from an ad-hoc URL).
    pub password: Option<String>,
    /// The keyring account to read the password from (default: the job's).
    pub password_account: Option<String>,
    /// Where the file came from when it is a local copy of a remote backup
    /// (`onedrive:/…`, see [`crate::remote`]): the history names it.
    pub origin: Option<String>,
    /// The user acknowledged restoring a file this Nightjar did not make
    /// (see [`crate::trust`]); without it such a file is refused.
    pub trust_file: bool,
    /// An age identity file that may open an encrypted backup (`--identity`),
    /// besides the keys kept for the job.
    pub identity: Option<PathBuf>,
    /// The keys an encrypted backup is opened with (filled by
    /// [`Restorer::prepare`] from the secret store and `identity`).
    pub keys: Option<std::sync::Arc<crate::crypt::Keys>>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            as_new: None,
            safety_backup: true,
            terminate_connections: true,
            password: None,
            password_account: None,
            origin: None,
            trust_file: false,
            identity: None,
            keys: None,
        }
    }
}

/// What a restore does to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreMode {
    /// The target exists and is replaced (and kept under another name).
    Replace,
    /// The target does not exist and is created.
    Create,
    /// A new database is created and the target is left alone.
    AsNew,
}

/// What a restore will do, computed before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    /// The job (or ad-hoc name) the restore belongs to.
    pub job: String,
    /// The file to restore.
    pub file: PathBuf,
    /// What the file is.
    pub inspection: Inspection,
    /// `host:port` of the server.
    pub server: String,
    /// The database named by the URL (the one replaced, or left alone with `as_new`).
    pub target: String,
    /// The database that will hold the restored data.
    pub database: String,
    /// Replace, create, or as-new.
    pub mode: RestoreMode,
    /// Whether the target exists (`None` until probed).
    pub target_exists: Option<bool>,
    /// The target's current size, when known.
    pub target_size: Option<u64>,
    /// Sessions connected to the target when probed.
    pub sessions: Vec<Session>,
    /// The server's version, once probed.
    pub server_version: Option<String>,
    /// A safety backup will be taken first.
    pub safety_backup: bool,
    /// Where the safety backup goes.
    pub safety_destination: Option<String>,
    /// A manifest is beside the file (its sha256 will be checked).
    pub has_manifest: bool,
    /// The sha256 the manifest states.
    pub expected_sha256: Option<String>,
    /// Size of the uncompressed dump, when known (manifest, or an
    /// uncompressed file).
    pub estimated_size: Option<u64>,
    /// Things the user should know before confirming.
    pub warnings: Vec<String>,
    /// Whether this Nightjar made the file (in-history, authentic-manifest,
    /// not-ours) and the sentence saying so; filled in by
    /// [`Restorer::prepare`]. A plan without it counts as not ours.
    pub trust: Option<Trust>,
}

impl RestorePlan {
    /// One sentence saying what will happen.
    #[must_use]
    pub fn action(&self) -> String {
        let name = self.inspection.name();
        match self.mode {
            RestoreMode::Replace => format!(
                "Replace the database \"{}\" on {} with the content of {name}; the current \"{}\" is kept under another name until you drop it.",
                self.database, self.server, self.database
            ),
            RestoreMode::Create => format!("Create the database \"{}\" on {} from {name} (it does not exist yet).", self.database, self.server),
            RestoreMode::AsNew => format!(
                "Create the new database \"{}\" on {} from {name}; \"{}\" is not touched.",
                self.database, self.server, self.target
            ),
        }
    }
}

/// Refuses what can never be restored into `target`, from the inspection alone.
///
/// # Errors
/// [`ErrorKind::InvalidBackup`] (not a backup, empty, another engine, a
/// cluster dump) or [`ErrorKind::Config`] (MySQL targets).
pub fn check_restorable(insp: &Inspection, engine: Engine, database: &str) -> Result<()> {
    let path = insp.path.display();
    if let Some(p) = &insp.key_problem {
        return Err(Error::config(p.clone()).with_source(crate::crypt::NoKey));
    }
    if let Some(p) = &insp.decode_problem {
        return Err(invalid(format!("{path} cannot be restored: {p}, so the file is damaged; pick another backup.")));
    }
    match insp.content {
        Content::Empty => return Err(invalid(format!("{path} is empty, so it is not a backup; pick another file (`nightjar list` shows your backups)."))),
        Content::Unknown => {
            return Err(invalid(format!(
                "{path} is not a database backup (neither a pg_dump file nor a MySQL dump); pick another file (`nightjar list` shows your backups)."
            )));
        }
        Content::PostgresCluster => {
            return Err(invalid(format!(
                "{path} is a pg_dumpall dump of a whole cluster, and Nightjar restores one database at a time; restore it by hand with `psql -f`."
            )));
        }
        _ => {}
    }
    let file_engine = insp.engine().unwrap_or(Engine::Postgres);
    if file_engine != engine {
        let (what, into) = match engine {
            Engine::Postgres => ("a MySQL/MariaDB dump", "PostgreSQL"),
            Engine::Mysql => ("a PostgreSQL dump", "MySQL/MariaDB"),
        };
        return Err(invalid(format!("{path} is {what} and cannot be restored into the {into} database \"{database}\"; pick another backup, of a {into} database.")));
    }
    Ok(())
}

/// The plan for restoring `file` into `target`, computed from the file
/// alone: no database is contacted. [`probe`] fills in what only the
/// server knows (whether the target exists, who is connected).
///
/// # Errors
/// The file cannot be read, is not restorable into `target` (see
/// [`check_restorable`]), or `options.as_new` is not a usable name.
pub fn plan_restore(file: &Path, target: &DbUrl, options: &RestoreOptions) -> Result<RestorePlan> {
    let insp = inspect::inspect_with(file, options.keys.clone())?;
    check_restorable(&insp, target.engine, &target.database)?;
    let (mode, database) = match &options.as_new {
        Some(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::config("--as-new needs a database name."));
            }
            if name.len() > MAX_IDENTIFIER {
                return Err(Error::config(format!("The database name \"{name}\" is longer than {MAX_IDENTIFIER} bytes; pick a shorter one for --as-new.")));
            }
            if name == target.database {
                return Err(Error::config(format!("--as-new {name} names the target itself; pick another name, or leave --as-new out to replace \"{name}\".")));
            }
            (RestoreMode::AsNew, name.to_string())
        }
        None => (RestoreMode::Replace, target.database.clone()),
    };
    let mut warnings = Vec::new();
    match (&insp.manifest, &insp.manifest_problem) {
        (Some(m), _) => {
            if m.database != target.database && mode != RestoreMode::AsNew {
                warnings.push(format!("The backup is of the database \"{}\" and will be restored into \"{database}\".", m.database));
            }
        }
        (None, Some(p)) => warnings.push(format!("{p}, so the file's checksum cannot be checked; the decompression and format checks still run.")),
        (None, None) => warnings.push("There is no manifest beside the file, so its checksum cannot be checked; the decompression and format checks still run.".into()),
    }
    let estimated_size = insp.manifest.as_ref().map(|m| m.dump_size).or((insp.compression == Compression::None).then_some(insp.size));
    Ok(RestorePlan {
        job: String::new(),
        file: insp.path.clone(),
        server: target.server(),
        target: target.database.clone(),
        database,
        mode,
        target_exists: None,
        target_size: None,
        sessions: Vec::new(),
        server_version: None,
        safety_backup: options.safety_backup && mode == RestoreMode::Replace,
        safety_destination: None,
        has_manifest: insp.manifest.is_some(),
        expected_sha256: insp.manifest.as_ref().map(|m| m.sha256.clone()),
        estimated_size,
        warnings,
        trust: None,
        inspection: insp,
    })
}

/// Fills in what the server knows: whether the target exists (a restore
/// into a missing one creates it), its size and sessions, and the server
/// version. It only lists databases and sessions.
///
/// # Errors
/// When the server cannot be queried, or the `as_new` name is taken.
pub fn probe(server: &DbServer, plan: &mut RestorePlan, options: &RestoreOptions) -> Result<()> {
    plan.server_version = Some(server.version_text());
    let info = server.database_info(&plan.target)?;
    plan.target_exists = Some(info.is_some());
    plan.target_size = info.as_ref().and_then(|i| i.size);
    plan.sessions = info.map(|i| i.sessions).unwrap_or_default();
    match plan.mode {
        RestoreMode::AsNew => {
            if !server.existing(&[plan.database.as_str()])?.is_empty() {
                return Err(Error::config(format!(
                    "The database \"{}\" already exists on {}; pick another name for --as-new (Nightjar never overwrites it).",
                    plan.database, plan.server
                )));
            }
            plan.sessions.clear();
        }
        RestoreMode::Replace | RestoreMode::Create => {
            plan.mode = if plan.target_exists == Some(true) { RestoreMode::Replace } else { RestoreMode::Create };
        }
    }
    plan.safety_backup = options.safety_backup && plan.mode == RestoreMode::Replace;
    if plan.mode != RestoreMode::Replace {
        plan.sessions.clear();
    }
    if let DbServer::Mysql(my) = server
        && let Some(dumped) = plan.inspection.header.server_version.as_deref().and_then(crate::source::mysql::parse_server_version)
        && let Some(w) = mysql::compat_warning(&dumped, my.version())
    {
        plan.warnings.push(w);
    }
    if let Some(major) = server.pg_major()
        && let Some(dumped) = plan.inspection.header.server_version.as_deref().and_then(inspect::pg_major)
        && dumped > major
    {
        plan.warnings.push(format!(
            "The backup comes from PostgreSQL {dumped} and the server is PostgreSQL {major}; objects or settings new in {dumped} may fail to restore."
        ));
    }
    if plan.mode == RestoreMode::Replace && !plan.sessions.is_empty() {
        let n = plan.sessions.len();
        let verb = if options.terminate_connections { "will be closed just before the swap" } else { "must disconnect first (--no-terminate)" };
        plan.warnings.push(format!(
            "{n} session{} connected to \"{}\" {verb}: {}.",
            if n == 1 { " is" } else { "s are" },
            plan.target,
            postgres::describe_sessions(&plan.sessions)
        ));
    }
    Ok(())
}

/// What a confirmed plan meets when it runs.
pub(super) struct Confirmed {
    /// The file inspected again (it may have changed since the plan).
    pub(super) inspection: Inspection,
    /// Replace, create or as-new, from what is on the server now.
    pub(super) mode: RestoreMode,
    /// The target's properties and sessions now (`None`: it does not exist).
    pub(super) target_info: Option<DbInfo>,
}

/// The file is not the one planned.
pub(super) fn changed_since_plan(file: &Path) -> String {
    format!("{} changed since the restore was planned; look at the file, then start the restore again.", file.display())
}

impl Restorer<'_> {
    /// Stage 1 again, when a confirmed plan runs: the file's head (size,
    /// manifest, content; its sha256 is proven while it loads), who made
    /// it (a file that needs the user's acknowledgement and has none is
    /// read once, so a damaged one is told as such, and refused), and what
    /// is on the server now (the target may have come or gone, sessions
    /// may refuse the swap). Nothing is changed.
    ///
    /// # Errors
    /// The file changed or is not restorable, the user did not acknowledge
    /// a file this Nightjar did not make, or the server state forbids it.
    pub(super) fn confirm(&self, plan: &RestorePlan, job: &Job, opts: &RestoreOptions, server: &DbServer) -> Result<Confirmed> {
        let file = &plan.inspection.path;
        let insp = inspect::inspect_with(file, plan.inspection.keys.clone())?;
        validate::check_head(&insp, Some(job.db.engine), Some(&plan.database))?;
        if insp.size != plan.inspection.size {
            return Err(invalid(changed_since_plan(file)));
        }
        // A file this Nightjar did not make runs only with the user's
        // acknowledgement. Without it the file is only read, so that a
        // damaged one is told as such.
        let refusal = match &plan.trust {
            Some(t) if t.needs_acknowledgement() && !opts.trust_file => Some(t.refusal("restore it")),
            None if !opts.trust_file => Some(Error::config(format!("It is not known who made {}; plan the restore again.", file.display()))),
            Some(t) if t.needs_acknowledgement() => {
                tracing::warn!(job = %job.name, "restoring a file acknowledged by the user: {}", t.message);
                None
            }
            _ => None,
        };
        if let Some(refusal) = refusal {
            let vopts = validate::ValidateOptions {
                engine: Some(job.db.engine),
                database: Some(plan.database.clone()),
                pg_restore: job.docker_container.is_none().then(|| server.pg_restore()).flatten(),
                tool_dir: job.tool_dir.clone(),
                docker_container: job.docker_container.clone(),
                keys: plan.inspection.keys.clone(),
            };
            validate::validate(file, &vopts, self.observer, &job.name, self.cancel)?;
            return Err(refusal);
        }
        let target_info = server.database_info(&plan.target)?;
        let mode = match plan.mode {
            RestoreMode::AsNew => {
                if !server.existing(&[plan.database.as_str()])?.is_empty() {
                    return Err(Error::config(format!(
                        "The database \"{}\" already exists on {}; pick another name for --as-new (Nightjar never overwrites it).",
                        plan.database, plan.server
                    )));
                }
                RestoreMode::AsNew
            }
            RestoreMode::Create if target_info.is_some() => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("The database \"{}\" was created on {} after the restore was planned; start the restore again to see what it would replace.", plan.database, plan.server),
                ));
            }
            RestoreMode::Replace if target_info.is_none() => RestoreMode::Create,
            m => m,
        };
        if mode == RestoreMode::Replace && !opts.terminate_connections {
            self.refuse_if_connected(server, &plan.database, target_info.clone())?;
        }
        Ok(Confirmed { inspection: insp, mode, target_info })
    }

    /// Plans a restore of `file` into `job`'s database and probes the
    /// server (lists databases and sessions; nothing is changed). Show
    /// the plan, ask for confirmation, then call [`Restorer::restore`].
    /// A refusal is recorded in the history.
    ///
    /// # Errors
    /// The file is not restorable there, or the server cannot be reached.
    pub fn prepare(&self, file: &Path, job: &Job, opts: &RestoreOptions) -> Result<RestorePlan> {
        let started_at = self.clock.now();
        let keyed;
        let opts = if opts.keys.is_none() {
            keyed = RestoreOptions {
                keys: self.keys_for(file, &[job.name.as_str()], opts.identity.as_deref())?,
                ..opts.clone()
            };
            &keyed
        } else {
            opts
        };
        let result = (|| {
            let mut plan = plan_restore(file, &job.db, opts)?;
            plan.job = job.name.clone();
            let server = self.server(job, opts.password.as_ref(), opts.password_account.as_ref())?;
            probe(&server, &mut plan, opts)?;
            if plan.safety_backup {
                plan.safety_destination = Some(job.destination.display());
            }
            let role = trust::connecting_role(&job.db);
            plan.trust = Some(self.trust_of(&plan.inspection, None, opts.origin.as_deref(), Some(&role))?);
            Ok(plan)
        })();
        let result = result.map_err(|e| name_origin(e, file, opts.origin.as_ref()));
        if let Err(e) = &result {
            let insp = inspect::inspect(file).ok();
            let run = self.new_run(RunKind::Restore, &job.name, job.db.display(), insp.as_ref(), Some(opts.as_new.clone().unwrap_or_else(|| job.db.database.clone())), started_at);
            let shown = opts.origin.as_ref().map_or_else(|| insp.as_ref().map_or_else(|| file.to_path_buf(), |i| i.path.clone()), PathBuf::from);
            self.record_refusal(&run, e, &shown, insp.as_ref().map(|i| i.size));
        }
        result
    }

    /// The backup run that wrote `path` (as given, or canonical).
    pub(super) fn find_backup(&self, path: &Path) -> Result<Option<RunRecord>> {
        let mut candidates = vec![path.display().to_string()];
        if let Ok(c) = std::fs::canonicalize(path) {
            candidates.push(c.display().to_string());
        }
        for c in candidates {
            if let Some(r) = self.history.find_backup_by_file(&c)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Whether this Nightjar made `insp`'s file (see [`crate::trust`]),
    /// hashing it unless `sha256` is known; `origin` is its `onedrive:`
    /// address, `role` who a restore runs it as.
    pub(super) fn trust_of(&self, insp: &Inspection, sha256: Option<&str>, origin: Option<&str>, role: Option<&str>) -> Result<Trust> {
        let shown = origin.map_or_else(|| insp.path.clone(), PathBuf::from);
        let by_path = self.find_backup(&shown)?;
        let keys = crate::manifest::InstallKeys::load(self.secrets, self.data);
        let assess = |sha256: &str| trust::assess(insp, sha256, &shown.display().to_string(), by_path.as_ref(), self.history, &keys, role);
        // Before the file is read (planning): what vouches for the sha256 its
        // manifest states. The validation pass then proves the file has it,
        // before anything is touched (a mismatch is refused there), so the
        // file is read twice in all, not three times.
        if sha256.is_none()
            && let Some(m) = insp.manifest.as_ref().filter(|m| m.size == insp.size)
        {
            let claimed = assess(&m.sha256)?;
            if !claimed.needs_acknowledgement() {
                return Ok(claimed);
            }
        }
        let sha256 = match sha256 {
            Some(s) => s.to_string(),
            None => std::fs::File::open(&insp.path).and_then(crate::pipeline::sha256_of).map(|(_, s)| s).map_err(|e| {
                invalid(format!("{} could not be read to the end ({e}); check the disk, or pick another backup.", insp.path.display()))
            })?,
        };
        assess(&sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::fixtures::{zst, PLAIN};
    use crate::ErrorKind;

    fn url() -> DbUrl {
        DbUrl::parse("postgres://app@db.example:5433/shop").unwrap()
    }

    #[test]
    fn plan_needs_no_database_and_refuses_non_backups() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("shop.sql.zst");
        std::fs::write(&f, zst(PLAIN.as_bytes())).unwrap();
        let plan = plan_restore(&f, &url(), &RestoreOptions::default()).unwrap();
        assert_eq!((plan.mode, plan.database.as_str(), plan.target_exists), (RestoreMode::Replace, "shop", None));
        assert!(plan.safety_backup && !plan.has_manifest);
        assert!(plan.warnings.iter().any(|w| w.contains("no manifest")), "{:?}", plan.warnings);
        let as_new = plan_restore(&f, &url(), &RestoreOptions { as_new: Some("shop_copy".into()), ..RestoreOptions::default() }).unwrap();
        assert_eq!((as_new.mode, as_new.database.as_str(), as_new.safety_backup), (RestoreMode::AsNew, "shop_copy", false));
        assert_eq!(plan_restore(&f, &url(), &RestoreOptions { as_new: Some("shop".into()), ..RestoreOptions::default() }).unwrap_err().kind(), ErrorKind::Config);

        for (name, bytes, needle) in [
            ("empty.sql", Vec::new(), "is empty"),
            ("random.bin", (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), "not a database backup"),
            ("my.sql", b"-- MySQL dump 10.13  Distrib 8.0.35\n--\n-- Host: localhost    Database: shop\n".to_vec(), "MySQL/MariaDB dump"),
            ("all.sql", b"--\n-- PostgreSQL database cluster dump\n--\n".to_vec(), "pg_dumpall"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = plan_restore(&p, &url(), &RestoreOptions::default()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidBackup, "{name}: {e}");
            assert!(e.to_string().contains(needle) && e.to_string().contains(name), "{name}: {e}");
        }
    }
}
