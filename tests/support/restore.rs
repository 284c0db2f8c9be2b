//! Restoring a backup file with stock tools only (what the README tells a
//! user to do at 3 a.m.): `zstd -dc f | psql`, `gzip -dc f | psql`,
//! `psql -f f`, `pg_restore -d db f`, `zstd -dc f.dump.zst | pg_restore -d db`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::pg::PgCluster;

/// The stock-tool recipe for a backup file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// `zstd -dc f.sql.zst | psql`
    ZstdPsql,
    /// `gzip -dc f.sql.gz | psql`
    GzipPsql,
    /// `psql -f f.sql`
    PsqlFile,
    /// `pg_restore -d db f.dump`
    PgRestoreFile,
    /// `zstd -dc f.dump.zst | pg_restore -d db`
    ZstdPgRestore,
    /// `gzip -dc f.dump.gz | pg_restore -d db`
    GzipPgRestore,
}

impl Recipe {
    /// The recipe for `file`'s extension.
    #[must_use]
    pub fn for_file(file: &Path) -> Recipe {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (ext, r) in [
            (".sql.zst", Recipe::ZstdPsql),
            (".sql.gz", Recipe::GzipPsql),
            (".sql", Recipe::PsqlFile),
            (".dump.zst", Recipe::ZstdPgRestore),
            (".dump.gz", Recipe::GzipPgRestore),
            (".dump", Recipe::PgRestoreFile),
        ] {
            if name.ends_with(ext) {
                return r;
            }
        }
        panic!("{name} does not have a backup file extension");
    }
}

fn psql(cluster: &PgCluster, db: &str) -> Command {
    let mut c = Command::new(cluster.tool("psql"));
    c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &cluster.url(db)]).env("LC_MESSAGES", "C").env_remove("PGPASSWORD");
    c
}

fn pg_restore(cluster: &PgCluster, db: &str) -> Command {
    let mut c = Command::new(cluster.tool("pg_restore"));
    c.args(["--exit-on-error", "-d", &cluster.url(db)]).env("LC_MESSAGES", "C").env_remove("PGPASSWORD");
    c
}

/// Restores `file` into the existing (empty) database `db` with stock
/// tools; returns the shell-style command that was run. Panics with the
/// tools' stderr when a step fails or psql/pg_restore report an error.
pub fn restore_with_stock_tools(cluster: &PgCluster, file: &Path, db: &str) -> String {
    let f = file.display();
    let (shown, decompress, mut sink) = match Recipe::for_file(file) {
        Recipe::ZstdPsql => (format!("zstd -dc {f} | psql -d {db}"), Some("zstd"), psql(cluster, db)),
        Recipe::GzipPsql => (format!("gzip -dc {f} | psql -d {db}"), Some("gzip"), psql(cluster, db)),
        Recipe::ZstdPgRestore => (format!("zstd -dc {f} | pg_restore -d {db}"), Some("zstd"), pg_restore(cluster, db)),
        Recipe::GzipPgRestore => (format!("gzip -dc {f} | pg_restore -d {db}"), Some("gzip"), pg_restore(cluster, db)),
        Recipe::PsqlFile => {
            let mut c = psql(cluster, db);
            c.arg("-f").arg(file);
            (format!("psql -d {db} -f {f}"), None, c)
        }
        Recipe::PgRestoreFile => {
            let mut c = pg_restore(cluster, db);
            c.arg(file);
            (format!("pg_restore -d {db} {f}"), None, c)
        }
    };
    let mut source = decompress.map(|tool| {
        Command::new(tool)
            .arg("-dc")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} could not be started: {e}"))
    });
    match &mut source {
        Some(s) => sink.stdin(Stdio::from(s.stdout.take().expect("piped"))),
        None => sink.stdin(Stdio::null()),
    };
    let out = sink.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap_or_else(|e| panic!("`{shown}` could not start: {e}"));
    if let Some(s) = source {
        let so = s.wait_with_output().expect("wait for the decompressor");
        assert!(so.status.success(), "`{shown}`: the decompressor failed: {}", String::from_utf8_lossy(&so.stderr));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`{shown}` failed ({}): {stderr}", out.status);
    assert!(!stderr.contains("ERROR"), "`{shown}` reported errors: {stderr}");
    shown
}

/// `zstd -t` / `gzip -t` on a compressed file (the frame checksums hold);
/// nothing for an uncompressed one. Returns the command run, if any.
pub fn integrity_test(file: &Path) -> Option<String> {
    let name = file.to_string_lossy();
    let tool = if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return None;
    };
    let out = Command::new(tool).arg("-t").arg(file).output().unwrap_or_else(|e| panic!("{tool} -t: {e}"));
    assert!(out.status.success(), "`{tool} -t {name}` failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(format!("{tool} -t {name}"))
}
