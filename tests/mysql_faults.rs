//! MySQL/MariaDB faults and the Docker path, through the real `nightjar`
//! binary and a throwaway MariaDB server: a dump tool that cannot work
//! with the server refused with the fix (and never asked to dump); a job in
//! a container run through `docker exec` with the password forwarded by
//! name only; a restore with a wrong password changing nothing; a restore
//! closing a session that holds a transaction open on the target.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nightjar_tests::backup::{assert_mentions, check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::my_sample::{build_sample, fresh_sample};
use nightjar_tests::nightjar::{read_lossy, str_field};
use nightjar_tests::{toml_str, unique, MariaDbServer, MySnapshot, Nightjar};

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_dump_tool_that_cannot_work_with_the_server_is_refused_with_the_fix() {
    let server = MariaDbServer::shared();
    let db = server.fresh_db("combo");
    let nj = Nightjar::new();
    let tools = nj.scratch().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let calls = nj.scratch().join("calls.log");
    // MariaDB's dump tool, and a client that reports a MySQL 8.0 server.
    write_script(
        &tools.join("mariadb-dump"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> {log}\necho 'mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)'\n",
            log = calls.display()
        ),
    );
    write_script(&tools.join("mariadb"), "#!/bin/sh\ncase \"$*\" in *'SELECT VERSION()'*) echo '8.0.35';; *) exit 1;; esac\n");
    let dest = nj.scratch().join("backups");
    nj.write_config(&job_toml("combo", &server.url(&db), &dest, &format!("tool_dir = {}\n", toml_str(&tools.display().to_string()))));
    let out = nj.run(["backup", "--job", "combo"]).assert_failure();
    assert_mentions(&out.error_line(), &["MariaDB's", "MySQL 8.0.35 server", "install the MySQL 8.0 client tools", "tool_dir"]);
    check_failed_run(&nj.history(Some("combo")), "tool", "MySQL 8.0.35");
    let log = read_lossy(&calls);
    assert!(log.lines().all(|l| l.trim() == "--version"), "the dump tool was never asked to dump: {log}");
}

/// A stand-in for the `docker` CLI, first on PATH (no Docker engine runs on
/// the test machines): it records its argv, checks the shape `docker exec
/// -i [-e VAR[=val]]... <container> <tool> args...` and runs the tool
/// locally with ONLY the `-e` variables, as a container would.
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
case "$tool" in mariadb-dump|mariadb|mysqldump|mysql) ;; *) fail "unexpected tool $tool" ;; esac
exec env -i PATH="/usr/bin:/bin" "${envs[@]}" "/usr/bin/$tool" "$@"
"#;

#[test]
fn docker_container_path_runs_the_dump_through_docker_exec_with_the_password_by_name() {
    let server = MariaDbServer::shared();
    let password = format!("Dock3r-my-{}", std::process::id());
    let user = unique("docker_user");
    server.create_user(&user, &password);
    let db = fresh_sample(server, "indocker");
    let nj = Nightjar::new();
    let bin = nj.scratch().join("docker-bin");
    std::fs::create_dir(&bin).unwrap();
    write_script(&bin.join("docker"), DOCKER_STANDIN);
    let log = nj.scratch().join("docker-argv.log");
    let dest = nj.scratch().join("backups");
    let container = "shop-mariadb";
    nj.write_config(&job_toml("indocker", &server.url_as(&user, &db), &dest, &format!("docker_container = {}\n", toml_str(container))));
    let out = nj
        .cmd(["backup", "--job", "indocker", "--json"])
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("NJ_DOCKER_LOG", &log)
        .env("NJ_DOCKER_CONTAINER", container)
        .env("MYSQL_PWD", &password)
        .run()
        .assert_success();
    let file = check_finished_backup(&out.json(), &dest, "indocker");
    let calls: Vec<Vec<String>> = read_lossy(&log).lines().map(|l| l.split('\x1f').filter(|a| !a.is_empty()).map(str::to_string).collect()).collect();
    assert!(calls.iter().any(|a| a.iter().any(|x| x == "mariadb-dump") && a.iter().any(|x| x == &db)), "the dump ran through docker exec: {calls:?}");
    for argv in &calls {
        assert!(argv.iter().any(|a| a == container), "{argv:?}");
        assert!(!argv.iter().any(|a| a.contains(&password)), "the password is not on docker's command line: {argv:?}");
    }
    assert!(
        calls.iter().filter(|a| a.iter().any(|x| x == &db)).all(|a| a.windows(2).any(|w| w[0] == "-e" && w[1] == "MYSQL_PWD")),
        "the dump got the password as `-e MYSQL_PWD` (by name): {calls:?}"
    );
    // The file restores with stock tools into an identical database.
    let target = unique("fromdocker");
    server.create_db(&target);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -dc '{}' | mariadb --no-defaults --socket='{}' --user=root --default-character-set=utf8mb4 --database='{target}'",
            file.display(),
            server.socket().display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    MySnapshot::take(server, &db).assert_same(&MySnapshot::take(server, &target), "backup made through docker exec");
}

fn backup_file(nj: &Nightjar, server: &MariaDbServer, db: &str) -> PathBuf {
    let dest = nj.scratch().join("backups");
    let out = nj.run(["backup", "--db", &server.url(db), "--dest", &dest.display().to_string(), "--json"]).assert_success();
    PathBuf::from(str_field(&out.json(), "file"))
}

#[test]
fn restore_with_a_wrong_password_changes_nothing() {
    let server = MariaDbServer::shared();
    let user = unique("restorer");
    server.create_user(&user, "right-pw-2");
    let db = server.fresh_db("pwrestore");
    build_sample(server, &db);
    let nj = Nightjar::new();
    let file = backup_file(&nj, server, &db);
    server.sql(&db, "DELETE FROM orders WHERE id < 5;");
    let before = MySnapshot::take(server, &db);
    let out = nj
        .cmd(["restore", &file.display().to_string(), "--db", &server.url_as(&user, &db), "--yes"])
        .env("MYSQL_PWD", "wrong-pw-2")
        .run()
        .assert_failure();
    let line = out.error_line();
    assert_mentions(&line, &["rejected the password", &user]);
    assert!(!out.stderr.contains("wrong-pw-2"));
    MySnapshot::take(server, &db).assert_same(&before, "the target after a refused restore");
    assert_eq!(server.databases_like(&format!("{db}__")), Vec::<String>::new());
}

#[test]
fn restore_closes_a_session_holding_a_transaction_on_the_target() {
    let server = MariaDbServer::shared();
    let db = fresh_sample(server, "busy");
    let nj = Nightjar::new();
    let file = backup_file(&nj, server, &db);
    let original = MySnapshot::take(server, &db);
    server.sql(&db, "UPDATE tenants SET plan = 'free';");
    // An app session in the middle of a transaction that read `tenants`:
    // it holds a metadata lock the swap's RENAME TABLE would wait for.
    let session = server.session(&db, "BEGIN; SELECT COUNT(*) FROM tenants;");
    let out = nj.run(["restore", &file.display().to_string(), "--db", &server.url(&db), "--yes", "--json"]).assert_success();
    let report = out.json();
    assert_eq!(report.get("closed_connections").and_then(serde_json::Value::as_u64), Some(1), "{report}");
    drop(session);
    MySnapshot::take(server, &db).assert_same(&original, "after a restore with a session connected");
}
