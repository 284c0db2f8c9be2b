//! The dump tools: missing, too old, and run inside a Docker container.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nightjar_tests::backup::{assert_mentions, assert_nothing_left, check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::nightjar::read_lossy;
use nightjar_tests::restore::restore_with_stock_tools;
use nightjar_tests::pg::server_major;
use nightjar_tests::{toml_str, unique, Nightjar, PgCluster, Snapshot};

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn small_db(pg: &PgCluster, prefix: &str) -> String {
    let db = pg.fresh_db(prefix);
    build_plain_table(pg, &db, 100, 100, None);
    db
}

#[test]
fn pg_dump_missing_from_tool_dir_says_how_to_install() {
    let pg = PgCluster::shared();
    let db = small_db(pg, "notool");
    let nj = Nightjar::new();
    let empty = nj.scratch().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("notool", &pg.url(&db), &dest, &format!("tool_dir = {}\n", toml_str(&empty.display().to_string()))));
    let out = nj.run(["backup", "--job", "notool"]).assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["pg_dump", "not found", "install", &empty.display().to_string()]);
    assert_nothing_left(&dest);
    check_failed_run(&nj.history(Some("notool")), "tool", "pg_dump");
}

#[test]
fn pg_dump_missing_from_nightjar_pg_bin_says_how_to_install() {
    let pg = PgCluster::shared();
    let db = small_db(pg, "nopgbin");
    let nj = Nightjar::new();
    let empty = nj.scratch().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let dest = nj.scratch().join("backups");
    let out = nj
        .cmd(["backup", "--db", &pg.url(&db), "--dest", &dest.display().to_string()])
        .env("NIGHTJAR_PG_BIN", &empty)
        .run()
        .assert_failure();
    assert_mentions(&out.error_line(), &["pg_dump", "not found", "install"]);
    assert_nothing_left(&dest);
    check_failed_run(&nj.history(Some(&db)), "tool", "pg_dump");
}

#[test]
fn pg_dump_older_than_the_server_is_refused_before_dumping() {
    let pg = PgCluster::shared();
    let db = small_db(pg, "oldtool");
    let nj = Nightjar::new();
    let bin = nj.scratch().join("old-bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = nj.scratch().join("pg_dump-calls.log");
    write_script(
        &bin.join("pg_dump"),
        &format!(
            "#!/bin/sh\n# A stand-in for an old pg_dump: reports version 11 and records how it was called.\n\
             echo \"$*\" >> {}\n\
             if [ \"$1\" = \"--version\" ] || [ \"$1\" = \"-V\" ]; then echo 'pg_dump (PostgreSQL) 11.22'; exit 0; fi\n\
             echo 'pg_dump: error: aborting because of server version mismatch' >&2\nexit 1\n",
            calls.display()
        ),
    );
    std::os::unix::fs::symlink(pg.tool("psql"), bin.join("psql")).unwrap();
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("oldtool", &pg.url(&db), &dest, &format!("tool_dir = {}\n", toml_str(&bin.display().to_string()))));
    let out = nj.run(["backup", "--job", "oldtool"]).assert_failure();
    let line = out.error_line();
    let server = server_major().to_string();
    assert_mentions(&line, &["pg_dump", "11", "older", &server, "install"]);
    assert!(line.contains("tool_dir") || line.contains(&format!("postgresql-client-{server}")), "the message says how to fix it: {line}");
    assert_nothing_left(&dest);
    check_failed_run(&nj.history(Some("oldtool")), "tool", "older");
    let log = read_lossy(&calls);
    assert!(log.lines().count() >= 1, "the old pg_dump was asked for its version");
    assert!(log.lines().all(|l| l.trim() == "--version" || l.trim() == "-V"), "it was never asked to dump: {log}");
}

/// A stand-in for the `docker` CLI, first on PATH (no Docker engine runs on
/// the test machines). It records its argv, checks it was called as
/// `docker exec -i [-e VAR[=val]]... <container> <tool> args...`, and runs
/// the tool locally with ONLY the `-e` variables (plus PATH), as a container
/// would: a password that is not passed with `-e PGPASSWORD` does not arrive.
const DOCKER_STANDIN: &str = r#"#!/bin/bash
printf '%s\x1f' "$@" >> "$NJ_DOCKER_LOG"; printf '\n' >> "$NJ_DOCKER_LOG"
fail() { echo "docker stand-in: $*" >&2; exit 125; }
[ "$1" = exec ] || fail "expected 'docker exec', got: $*"; shift
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--interactive) shift ;;
    -e|--env) [ $# -ge 2 ] || fail "-e without a value"
      case "$2" in
        *=*) envs+=("$2") ;;
        *) if [ -n "${!2+x}" ]; then envs+=("$2=${!2}"); fi ;;
      esac
      shift 2 ;;
    -*) fail "unexpected option $1" ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || fail "expected <container> <tool> args..."
container=$1; tool=$2; shift 2
if [ "$container" != "$NJ_DOCKER_CONTAINER" ]; then
  echo "Error response from daemon: No such container: $container" >&2; exit 1
fi
case "$tool" in pg_dump|psql|pg_restore) ;; *) fail "unexpected tool $tool" ;; esac
exec env -i PATH="$NJ_DOCKER_PG_BIN:/usr/bin:/bin" "${envs[@]}" "$NJ_DOCKER_PG_BIN/$tool" "$@"
"#;

struct DockerStandIn {
    bin: PathBuf,
    log: PathBuf,
}

impl DockerStandIn {
    fn new(dir: &Path) -> DockerStandIn {
        let bin = dir.join("docker-bin");
        std::fs::create_dir(&bin).unwrap();
        write_script(&bin.join("docker"), DOCKER_STANDIN);
        DockerStandIn { bin, log: dir.join("docker-argv.log") }
    }

    fn path_var(&self) -> String {
        format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// Each call's argv.
    fn calls(&self) -> Vec<Vec<String>> {
        read_lossy(&self.log)
            .lines()
            .map(|l| l.split('\x1f').filter(|a| !a.is_empty()).map(str::to_string).collect())
            .collect()
    }
}

/// Runs `nightjar backup --job <job> --json` with the stand-in first on PATH,
/// which answers for `container` only.
fn run_with_docker(nj: &Nightjar, docker: &DockerStandIn, pg: &PgCluster, job: &str, container: &str, password: Option<&str>) -> nightjar_tests::NjOutput {
    let mut cmd = nj
        .cmd(["backup", "--job", job, "--json"])
        .env("PATH", docker.path_var())
        .env("NJ_DOCKER_LOG", &docker.log)
        .env("NJ_DOCKER_CONTAINER", container)
        .env("NJ_DOCKER_PG_BIN", pg.bin());
    if let Some(p) = password {
        cmd = cmd.env("PGPASSWORD", p);
    }
    cmd.run()
}

#[test]
fn docker_container_path_runs_pg_dump_through_docker_exec() {
    let pg = PgCluster::shared();
    let db = small_db(pg, "indocker");
    let nj = Nightjar::new();
    let docker = DockerStandIn::new(nj.scratch());
    let dest = nj.scratch().join("backups");
    let container = "tg-app-postgres";
    nj.write_config(&job_toml(
        "indocker",
        &pg.url(&db),
        &dest,
        &format!("docker_container = {}\nformat = \"custom\"\n", toml_str(container)),
    ));
    let out = run_with_docker(&nj, &docker, pg, "indocker", container, None).assert_success();
    let file = check_finished_backup(&out.json(), &dest, "indocker");
    let calls = docker.calls();
    assert!(!calls.is_empty(), "docker was called");
    for argv in &calls {
        assert_eq!(argv.first().map(String::as_str), Some("exec"), "{argv:?}");
        assert!(argv.iter().any(|a| a == container), "the container name was used: {argv:?}");
    }
    assert!(
        calls.iter().any(|a| a.iter().any(|x| x == "pg_dump") && !a.iter().any(|x| x == "--version")),
        "the dump itself ran through docker exec: {calls:?}"
    );
    let target = pg.fresh_db("fromdocker");
    restore_with_stock_tools(pg, &file, &target);
    Snapshot::take(pg, &db).assert_subset(&Snapshot::take(pg, &target), &["public.t"], "backup made through docker exec");

    // A container that does not exist: a clear error naming it, nothing left.
    let dest_files = nightjar_tests::file_names(&dest);
    let out = run_with_docker(&nj, &docker, pg, "indocker", "some-other-container", None).assert_failure();
    assert_mentions(&out.error_line(), &[container]);
    assert_eq!(nightjar_tests::file_names(&dest), dest_files, "the failed run added nothing");
    check_failed_run(&nj.history(Some("indocker")), "tool", container);
}

#[test]
fn docker_container_path_passes_the_password_by_name_only() {
    let pg = PgCluster::shared();
    let password = format!("Dock3r-pw-{}", std::process::id());
    let role = unique("docker_role");
    pg.create_role(&role, &password);
    let db = unique("indocker_pw");
    let _ = pg.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""));
    build_plain_table(pg, &db, 300, 100, Some(&role));

    let nj = Nightjar::new();
    let docker = DockerStandIn::new(nj.scratch());
    let dest = nj.scratch().join("backups");
    let container = "tg-app-postgres";
    nj.write_config(&job_toml("indocker", &pg.url_as(&role, &db), &dest, &format!("docker_container = {}\n", toml_str(container))));
    // PGPASSWORD is set for nightjar; inside a container only what
    // `docker exec -e PGPASSWORD` forwards arrives.
    let out = run_with_docker(&nj, &docker, pg, "indocker", container, Some(&password));
    let calls = docker.calls();
    for argv in &calls {
        assert!(!argv.iter().any(|a| a.contains(&password)), "the password is not on docker's command line: {argv:?}");
    }
    let out = out.assert_success();
    check_finished_backup(&out.json(), &dest, "indocker");
    assert!(
        calls.iter().filter(|a| a.iter().any(|x| x == "pg_dump") && !a.iter().any(|x| x == "--version")).all(|a| a.windows(2).any(|w| w[0] == "-e" && w[1] == "PGPASSWORD")),
        "pg_dump got the password as `-e PGPASSWORD` (by name, value from the environment): {calls:?}"
    );
}
