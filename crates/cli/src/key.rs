//! `nightjar key`: the age keys that encrypt a job's backups (see
//! `nightjar_core::crypt`). Secret keys stay in the secret store; only
//! recipients (public keys) go into the config file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use nightjar_core::age::secrecy::ExposeSecret as _;
use nightjar_core::{Error, Result, crypt};

use crate::commands::Ctx;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new key for a job: kept in the keyring, its public key added to [job.encryption] in the config.
    New(NewArgs),
    /// Keep the keys of an age identity file for a job (to restore its backups here).
    Import(ImportArgs),
    /// Write every key kept for a job to an owner-only identity file (the recovery file).
    Export(ExportArgs),
    /// List the kept keys by their public keys (never the secret ones).
    List(ListArgs),
    /// Encrypt a job's backups to a passphrase kept in the keyring (read from stdin, or prompted twice).
    Passphrase(JobArg),
}

#[derive(Debug, Args)]
pub struct JobArg {
    /// The job.
    #[arg(long, value_name = "NAME")]
    pub job: String,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The job.
    #[arg(long, value_name = "NAME")]
    pub job: String,
    /// Also write the key to this recovery file (owner-only; it must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The job.
    #[arg(long, value_name = "NAME")]
    pub job: String,
    /// An age identity file (as `nightjar key new --out` or `age-keygen` writes).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The job.
    #[arg(long, value_name = "NAME")]
    pub job: String,
    /// The identity file to write (owner-only; it must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this job's keys (default: every job of the config).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::New(a) => new(ctx, &a),
        KeyCommand::Import(a) => import(ctx, &a),
        KeyCommand::Export(a) => export(ctx, &a),
        KeyCommand::List(a) => list(ctx, &a),
        KeyCommand::Passphrase(a) => passphrase(ctx, &a.job),
    }
}

fn new(ctx: &Ctx, a: &NewArgs) -> Result<ExitCode> {
    let store = ctx.engine.secrets();
    let crypt::NewKey { slot: n, public } = crypt::new_job_key(store.as_ref(), &ctx.config_path, &ctx.env, &a.job, a.out.as_deref())?;
    println!("{public}");
    eprintln!(
        "Made key {n} of job \"{}\" (kept in {}); its backups are now encrypted to {public}.",
        a.job,
        crate::commands::store_name(ctx)
    );
    match &a.out {
        Some(out) => eprintln!(
            "Keep {} somewhere safe away from this computer: without it the backups cannot be read.",
            out.display()
        ),
        None => eprintln!(
            "Save a recovery copy now with `nightjar key export --job {} --out FILE`: without the key the backups cannot be read.",
            a.job
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn import(ctx: &Ctx, a: &ImportArgs) -> Result<ExitCode> {
    // The job may not be in this config (keys moved to another computer
    // to restore its backups): only its name is checked.
    nightjar_core::names::validate_job_name(&a.job)
        .map_err(|e| Error::config(format!("--job: {}.", e.message())))?;
    let text = std::fs::read_to_string(&a.file).map_err(|e| {
        Error::config(format!(
            "{} cannot be read ({e}); check the path.",
            a.file.display()
        ))
    })?;
    let ids = crypt::parse_identity_file(&text, &a.file.display().to_string())?;
    let store = ctx.engine.secrets();
    for id in &ids {
        let n = crypt::store_identity(store.as_ref(), &a.job, id)?;
        eprintln!("Kept key {n} of job \"{}\": {}.", a.job, id.to_public());
    }
    Ok(ExitCode::SUCCESS)
}

fn export(ctx: &Ctx, a: &ExportArgs) -> Result<ExitCode> {
    crypt::refuse_existing(&a.out)?;
    let kept = crypt::stored_identities(ctx.engine.secrets().as_ref(), &a.job)?;
    if kept.is_empty() {
        return Err(Error::not_found(format!(
            "No key is kept for job \"{}\"; make one with `nightjar key new --job {}`.",
            a.job, a.job
        )));
    }
    let mut text = format!(
        "# Nightjar backup keys of job \"{}\"; keep this file safe and private: it decrypts the job's backups.\n",
        a.job
    );
    for (n, id) in &kept {
        text.push_str(&format!(
            "# key {n}, public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ));
    }
    crypt::write_private(&a.out, &text)?;
    eprintln!(
        "Wrote {} key(s) of job \"{}\" to {}.",
        kept.len(),
        a.job,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Ctx, a: &ListArgs) -> Result<ExitCode> {
    let jobs: Vec<String> = match &a.job {
        Some(j) => vec![j.clone()],
        None => ctx.config()?.jobs.iter().map(|j| j.name.clone()).collect(),
    };
    let store = ctx.engine.secrets();
    let mut any = false;
    for job in jobs {
        for (n, id) in crypt::stored_identities(store.as_ref(), &job)? {
            println!("{job}\t{n}\t{}", id.to_public());
            any = true;
        }
        if store.get(&crypt::passphrase_account(&job))?.is_some() {
            println!("{job}\tpassphrase\t-");
            any = true;
        }
    }
    if !any {
        eprintln!("No key is kept; make one with `nightjar key new --job NAME`.");
    }
    Ok(ExitCode::SUCCESS)
}

fn passphrase(ctx: &Ctx, job: &str) -> Result<ExitCode> {
    ctx.config()?.job(job)?;
    let p = crate::commands::read_secret(&format!("Encryption passphrase for job \"{job}\": "), "passphrase", true)?;
    crypt::set_job_passphrase(ctx.engine.secrets().as_ref(), &ctx.config_path, &ctx.env, job, &p)?;
    eprintln!(
        "Job \"{job}\" now encrypts its backups to the passphrase kept in {}; keep a copy of it somewhere safe.",
        crate::commands::store_name(ctx)
    );
    Ok(ExitCode::SUCCESS)
}
