//! The scheduler through the real `nightjar run` daemon, a real PostgreSQL
//! and real files: a per-minute schedule produces a backup, SIGTERM mid-dump
//! leaves nothing and an `interrupted` row, a crashed run is caught up once
//! (or skipped, per policy), two triggers of one job never overlap,
//! pause/resume, config reload, and `nightjar status --json`.
//!
//! Every daemon runs with `NIGHTJAR_TICK_SECS=1`. Waits are bounded polls
//! with deadlines; nothing asserts how long something took. The only fixed
//! pauses are the ones needed to show that something does NOT happen (a few
//! ticks, or past a minute boundary).
//!
//! Several tests need a per-minute slot to pass (up to 60 s each): run the
//! binary with more test threads than cores to overlap them, e.g.
//! `cargo test -p nightjar-tests --test scheduler_daemon -- --test-threads 8`.
//!
//! A dump is held in the middle deterministically by a `LockHolder`
//! (`LOCK TABLE t IN ACCESS EXCLUSIVE MODE` in a background psql).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound as _, Timelike as _, Utc};
use nightjar_tests::backup::{assert_mentions, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::{backups, file_names, partials};
use nightjar_tests::nightjar::{str_field, NjChild, NjOutput};
use nightjar_tests::wait::{secs, until, until_true};
use nightjar_tests::{procs, sha256sum, Nightjar, PgCluster};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers (local to this file; the shared harness is owned elsewhere).
// ---------------------------------------------------------------------------

/// One test's world: a fresh database (table `t`) on the shared cluster, its
/// own Nightjar installation (data dir, config) and destination folder.
struct World {
    pg: &'static PgCluster,
    db: String,
    nj: Nightjar,
    dest: PathBuf,
}

fn world(prefix: &str) -> World {
    let pg = PgCluster::shared();
    let db = pg.fresh_db(prefix);
    build_plain_table(pg, &db, 300, 150, None);
    let nj = Nightjar::new().with_env("NIGHTJAR_TICK_SECS", "1");
    let dest = nj.scratch().join("backups");
    World { pg, db, nj, dest }
}

impl World {
    /// A `[[job]]` on this world's database (time zone UTC).
    fn job(&self, name: &str, extra: &str) -> String {
        job_toml(name, &self.pg.url(&self.db), &self.dest, extra)
    }

    /// Replaces the config file atomically (temp file + rename), so a daemon
    /// watching its mtime never reads it half-written.
    fn write_config(&self, toml: &str) {
        let tmp = self.nj.scratch().join("config.toml.tmp");
        std::fs::write(&tmp, toml).expect("write the temp config");
        std::fs::rename(&tmp, self.nj.config_path()).expect("rename the config into place");
    }

    /// Gives `job` a history without any success: one backup attempt against
    /// a database that does not exist (fails at once). Then writes `config`.
    /// A job with history whose current slot has no success is due at once
    /// when the daemon starts, so the daemon's run starts without waiting
    /// for a minute boundary.
    fn failed_attempt_then(&self, job: &str, config: &str) {
        let bad = job_toml(job, &self.pg.url("nightjar_no_such_db"), &self.dest, "");
        self.write_config(&bad);
        let out = self.nj.run(["backup", "--job", job]).assert_failure();
        assert_mentions(&out.stderr, &["nightjar_no_such_db"]);
        self.write_config(config);
        let rows = self.rows(job);
        assert_eq!(rows.len(), 1, "one failed attempt in the history: {rows:?}");
        assert_eq!(str_field(&rows[0], "status"), "failed", "{rows:?}");
    }

    /// `nightjar history --json --job NAME`.
    fn rows(&self, job: &str) -> Vec<Value> {
        self.nj.history(Some(job))
    }

    /// Starts `nightjar run` and waits until it says "scheduler started".
    fn start_daemon(&self) -> NjChild {
        let before = log_count(&self.nj, "scheduler started");
        let mut child = self.nj.cmd(["run"]).spawn();
        let pid = child.pid();
        self.wait_for("the daemon to log \"scheduler started\"", secs(30), Duration::from_millis(50), || {
            (log_count(&self.nj, "scheduler started") > before).then_some(())
        });
        assert!(child.is_running(), "the daemon (pid {pid}) is still running after its start");
        child
    }

    /// Polls `f` every `every` until it gives `Some`; on timeout panics with
    /// the tail of the Nightjar log (the daemon's stderr dies with it).
    fn wait_for<T>(&self, what: &str, timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}\n--- nightjar log (tail) ---\n{}", log_tail(&self.nj, 40));
            }
            std::thread::sleep(every);
        }
    }

    /// Waits until `job` has a successful backup row matching `pred`; returns it.
    fn wait_for_success(&self, job: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(&format!("a successful backup of {job} in the history"), timeout, Duration::from_millis(500), || {
            self.rows(job).into_iter().find(|r| r.get("status").and_then(Value::as_str) == Some("success") && pred(r))
        })
    }

    /// Runs `nightjar backup --job NAME` and SIGKILLs it (and its pg_dump)
    /// while pg_dump is blocked on the table lock: a crash mid-run. The
    /// history is left with a `running` row, which is returned.
    fn crash_mid_backup(&self, job: &str) -> Value {
        let lock = self.pg.lock_table(&self.db, "t");
        let mut run = self.nj.cmd(["backup", "--job", job]).spawn();
        self.pg.wait_for_blocked_pg_dump(&self.db);
        let nightjar_pid = run.pid();
        let dump = pg_dump_child(nightjar_pid);
        run.kill(); // SIGKILL: no cleanup code of Nightjar runs
        procs::kill9(dump);
        until_true("the killed nightjar and its pg_dump to be gone", secs(30), || {
            !procs::is_alive(nightjar_pid) && !procs::is_alive(dump)
        });
        let _ = run.wait(secs(30));
        lock.release();
        assert_eq!(backups(&self.dest), Vec::<String>::new(), "no file under a final name after a crash: {:?}", file_names(&self.dest));
        let rows = self.rows(job);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(str_field(&rows[0], "status"), "running", "the crashed run's row is left `running`: {rows:?}");
        rows[0].clone()
    }
}

/// Sends `sig` (e.g. "TERM", "HUP") to `pid`.
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

/// SIGTERM (what `systemctl stop` does); the daemon must exit 0 within 20 s.
#[track_caller]
fn stop_daemon(daemon: NjChild) -> NjOutput {
    signal(daemon.pid(), "TERM");
    let out = daemon.wait(secs(20));
    assert_eq!(out.status.code(), Some(0), "`nightjar run` exits 0 on SIGTERM ({}):\nstderr:\n{}", out.status, out.stderr);
    assert_mentions(&out.stderr, &["scheduler stopped"]);
    out
}

/// How many times `needle` occurs in the Nightjar log files.
fn log_count(nj: &Nightjar, needle: &str) -> usize {
    nj.logs().matches(needle).count()
}

fn log_tail(nj: &Nightjar, n: usize) -> String {
    let logs = nj.logs();
    let lines: Vec<&str> = logs.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The pid of the `pg_dump` started (directly or through a wrapper) under `parent`.
fn pg_dump_child(parent: u32) -> u32 {
    until("a pg_dump child process", secs(60), || procs::descendants(parent).into_iter().find(|p| procs::program(*p) == "pg_dump"))
}

/// A timestamp field of a history row / status entry.
#[track_caller]
fn time(v: &Value, key: &str) -> DateTime<Utc> {
    let s = str_field(v, key);
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("`{key}` = {s:?} is not RFC 3339 ({e}): {v}")).with_timezone(&Utc)
}

/// The first whole minute strictly after `t`.
fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).expect("truncate to the minute") + chrono::Duration::minutes(1)
}

/// Sleeps until the wall clock reaches `t` (no-op when it has passed).
fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        std::thread::sleep(d);
    }
}

fn with_status<'a>(rows: &'a [Value], status: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r.get("status").and_then(Value::as_str) == Some(status)).collect()
}

/// Checks a successful history row against the files: the backup exists
/// under its final name in `dest` with its manifest, the sha256 of the file
/// matches the row and the manifest, the name ends as `suffix` says, and no
/// `.partial` is left. Returns the file path.
#[track_caller]
fn check_backup_row(row: &Value, dest: &Path, job: &str, trigger: &str, name_suffix: &str) -> PathBuf {
    assert_eq!(str_field(row, "status"), "success", "{row}");
    assert_eq!(str_field(row, "job"), job, "{row}");
    assert_eq!(str_field(row, "kind"), "backup", "{row}");
    assert_eq!(str_field(row, "trigger"), trigger, "{row}");
    let file = PathBuf::from(str_field(row, "file"));
    assert_eq!(file.parent(), Some(dest), "the backup is in the destination: {row}");
    assert!(file.is_file(), "{} exists", file.display());
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{job}_")) && name.ends_with(name_suffix), "{name} is `{job}_<stamp>{name_suffix}`");
    let sum = sha256sum(&file);
    assert_eq!(str_field(row, "sha256"), sum, "history sha256 = sha256sum of {name}");
    let manifest_path = dest.join(format!("{name}.json"));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| panic!("manifest {}: {e}", manifest_path.display())))
        .expect("the manifest is JSON");
    assert_eq!(str_field(&manifest, "sha256"), sum, "{manifest}");
    assert_eq!(str_field(&manifest, "file"), name, "{manifest}");
    assert_eq!(str_field(&manifest, "trigger"), trigger, "{manifest}");
    let zstd = std::process::Command::new("zstd").arg("-tq").arg(&file).output().expect("run zstd -t");
    assert!(zstd.status.success(), "zstd -t {name}: {}", String::from_utf8_lossy(&zstd.stderr));
    assert_eq!(partials(dest), Vec::<String>::new(), "no .partial left in {}", dest.display());
    file
}

const EVERY_MINUTE: &str = "schedule = \"* * * * *\"\n";

/// A daily schedule whose slot was about two hours ago (UTC): whatever the
/// time of day, the last slot is long past (a catch-up) and the next one is
/// hours away.
fn slot_two_hours_ago() -> String {
    let now = Utc::now();
    format!("schedule = \"{} {} * * *\"\n", now.minute(), (now.hour() + 22) % 24)
}

// ---------------------------------------------------------------------------
// 1. A per-minute schedule produces a backup within the minute.
// ---------------------------------------------------------------------------

#[test]
fn per_minute_schedule_produces_a_backup_then_sigterm_stops_the_daemon() {
    let w = world("sched_min");
    w.write_config(&w.job("everymin", EVERY_MINUTE));
    let started = Utc::now();
    let daemon = w.start_daemon();
    // A brand-new job does not run at start; it runs at its next slot.
    let file = w.wait_for("a backup file and its manifest", secs(80), Duration::from_millis(250), || {
        backups(&w.dest).into_iter().find(|n| w.dest.join(format!("{n}.json")).is_file())
    });
    let row = w.wait_for_success("everymin", secs(30), |_| true);
    let path = check_backup_row(&row, &w.dest, "everymin", "scheduled", ".sql.zst");
    assert_eq!(path.file_name().unwrap().to_string_lossy(), file);
    // A scheduled file has no trigger suffix: everymin_YYYY-MM-DD_HH-mm-ss.sql.zst
    let stamp = file.trim_start_matches("everymin_").trim_end_matches(".sql.zst");
    assert_eq!(stamp.len(), "2026-01-01_00-00-00".len(), "{file}");
    assert!(
        time(&row, "started_at") >= next_minute(started),
        "the run is for a slot after the daemon started (not a run at start): {row}"
    );
    let out = stop_daemon(daemon);
    assert_eq!(partials(&w.dest), Vec::<String>::new(), "{:?}", file_names(&w.dest));
    assert_mentions(&out.stderr, &["scheduler started", "backup finished"]);
    // Nothing failed and nothing is left running (a second slot may have
    // begun just before the SIGTERM: then it is `interrupted`).
    let rows = w.rows("everymin");
    assert!(rows.iter().all(|r| r["status"] == "success" || r["status"] == "interrupted"), "{rows:?}");
    assert_eq!(backups(&w.dest).len(), with_status(&rows, "success").len(), "{:?}", file_names(&w.dest));
}

// ---------------------------------------------------------------------------
// 2. SIGTERM mid-dump: exit 0, nothing under a final name, `interrupted`.
// ---------------------------------------------------------------------------

#[test]
fn sigterm_mid_dump_leaves_no_file_and_an_interrupted_row() {
    let w = world("sched_term");
    w.failed_attempt_then("term", &w.job("term", EVERY_MINUTE));
    let lock = w.pg.lock_table(&w.db, "t");
    let daemon = w.start_daemon();
    let dump = pg_dump_child(daemon.pid());
    w.pg.wait_for_blocked_pg_dump(&w.db);
    let running = w.wait_for("a `running` row of the daemon's run", secs(30), Duration::from_millis(250), || {
        w.rows("term").into_iter().find(|r| r.get("status").and_then(Value::as_str) == Some("running"))
    });
    assert_eq!(str_field(&running, "trigger"), "scheduled", "{running}");
    assert!(partials(&w.dest).len() == 1, "the dump is being written to a .partial: {:?}", file_names(&w.dest));

    let out = stop_daemon(daemon);
    drop(lock);
    until_true("the daemon's pg_dump to be stopped with it", secs(10), || !procs::is_alive(dump));
    assert_eq!(backups(&w.dest), Vec::<String>::new(), "no file under a final name: {:?}", file_names(&w.dest));
    assert_eq!(partials(&w.dest), Vec::<String>::new(), "no .partial left: {:?}", file_names(&w.dest));
    assert!(
        !file_names(&w.dest).iter().any(|n| n.ends_with(".json")),
        "no manifest left: {:?}",
        file_names(&w.dest)
    );
    let rows = w.rows("term");
    let row = rows.iter().find(|r| r["id"] == running["id"]).expect("the daemon's run is in the history");
    assert_eq!(str_field(row, "status"), "interrupted", "the stopped run is `interrupted`: {row}");
    assert!(row.get("file").is_none_or(Value::is_null), "{row}");
    assert!(with_status(&rows, "running").is_empty(), "nothing left `running`: {rows:?}");
    assert!(with_status(&rows, "success").is_empty(), "{rows:?}");
    assert_mentions(&out.stderr, &["scheduler stopped"]);
}

// ---------------------------------------------------------------------------
// 3. Catch-up after a crash: the crashed run becomes `interrupted`, one run.
// ---------------------------------------------------------------------------

#[test]
fn crashed_run_is_marked_interrupted_and_caught_up_exactly_once() {
    let w = world("sched_catch");
    w.write_config(&w.job("catch", &slot_two_hours_ago()));
    let crashed = w.crash_mid_backup("catch");

    let daemon = w.start_daemon();
    let row = w.wait_for_success("catch", secs(60), |_| true);
    // Let a few more ticks pass: nothing else may run.
    std::thread::sleep(secs(5));
    let out = stop_daemon(daemon);

    check_backup_row(&row, &w.dest, "catch", "catch-up", "_catch-up.sql.zst");
    let rows = w.rows("catch");
    assert_eq!(rows.len(), 2, "the crashed run and exactly one catch-up: {rows:?}");
    let old = rows.iter().find(|r| r["id"] == crashed["id"]).expect("the crashed row is kept");
    assert_eq!(str_field(old, "status"), "interrupted", "{old}");
    assert_mentions(str_field(old, "error"), &["interrupted"]);
    let successes = with_status(&rows, "success");
    assert_eq!(successes.len(), 1, "{rows:?}");
    assert_eq!(str_field(successes[0], "trigger"), "catch-up");
    assert_eq!(backups(&w.dest).len(), 1, "{:?}", file_names(&w.dest));
    assert_eq!(partials(&w.dest), Vec::<String>::new(), "the crashed run's .partial was cleaned up");
    assert_mentions(&out.stderr, &["interrupted"]);
}

// ---------------------------------------------------------------------------
// 4. `catch_up = "skip"`: no run at start.
// ---------------------------------------------------------------------------

#[test]
fn skip_policy_does_not_catch_up_at_start() {
    let w = world("sched_skip");
    w.write_config(&w.job("skip", &format!("{}catch_up = \"skip\"\n", slot_two_hours_ago())));
    let crashed = w.crash_mid_backup("skip");

    let daemon = w.start_daemon();
    // The crashed run is still marked interrupted at start.
    w.wait_for("the crashed row to be marked interrupted", secs(20), Duration::from_millis(250), || {
        w.rows("skip").into_iter().find(|r| r["id"] == crashed["id"] && r["status"] == "interrupted")
    });
    // A few ticks: no catch-up may start.
    std::thread::sleep(secs(5));
    let out = stop_daemon(daemon);
    let rows = w.rows("skip");
    assert_eq!(rows.len(), 1, "no run at start with catch_up = \"skip\": {rows:?}");
    assert_eq!(backups(&w.dest), Vec::<String>::new(), "{:?}", file_names(&w.dest));
    assert!(!out.stderr.contains("backup started"), "no backup started:\n{}", out.stderr);
}

// ---------------------------------------------------------------------------
// 5. Two overlapping triggers of one job: one run at a time.
// ---------------------------------------------------------------------------

#[test]
fn manual_backup_during_a_scheduled_run_is_refused_or_waits() {
    let w = world("sched_overlap");
    // Start early in a minute, so the next minute's slot does not add a
    // second scheduled run before the test is done (it takes a few seconds).
    while Utc::now().second() > 40 {
        std::thread::sleep(Duration::from_millis(500));
    }
    w.failed_attempt_then("overlap", &w.job("overlap", EVERY_MINUTE));
    let lock = w.pg.lock_table(&w.db, "t");
    let daemon = w.start_daemon();
    let daemon_dump = pg_dump_child(daemon.pid());
    w.pg.wait_for_blocked_pg_dump(&w.db);

    // Refused at once, with a clear message.
    let refused = w.nj.run(["backup", "--job", "overlap"]).assert_failure();
    assert_mentions(&refused.stderr, &["already running"]);
    assert_eq!(w.pg.pg_dumps_waiting(&w.db), 1, "the refused run started no pg_dump");

    // Queued: waits for the scheduled run, then runs.
    let waiting_logs = log_count(&w.nj, "waiting for the running backup");
    let mut waiter = w.nj.cmd(["backup", "--job", "overlap", "--wait=120", "--json"]).spawn();
    w.wait_for("the manual backup to wait for the scheduled one", secs(30), Duration::from_millis(100), || {
        (log_count(&w.nj, "waiting for the running backup") > waiting_logs).then_some(())
    });
    assert!(waiter.is_running(), "`backup --wait` waits instead of failing");
    let waiter_pid = waiter.pid();
    assert!(
        !procs::descendants(waiter_pid).into_iter().any(|p| procs::program(p) == "pg_dump"),
        "the waiting backup has started no pg_dump while the scheduled one runs"
    );
    assert_eq!(w.pg.pg_dumps_waiting(&w.db), 1, "only the scheduled run's pg_dump is on the server");

    lock.release();
    let manual = waiter.wait(secs(150)).assert_success().json();
    assert_eq!(str_field(&manual, "trigger"), "manual", "{manual}");
    until_true("the scheduled run's pg_dump to be done", secs(30), || !procs::is_alive(daemon_dump));
    let sched = w.wait_for_success("overlap", secs(30), |r| r["trigger"] == "scheduled");
    let out = stop_daemon(daemon);

    let rows = w.rows("overlap");
    let successes = with_status(&rows, "success");
    assert_eq!(successes.len(), 2, "the scheduled and the manual run both succeeded: {rows:?}");
    let manual_row = successes.iter().find(|r| r["trigger"] == "manual").expect("the manual run's row");
    check_backup_row(&sched, &w.dest, "overlap", "scheduled", ".sql.zst");
    check_backup_row(manual_row, &w.dest, "overlap", "manual", "_manual.sql.zst");
    assert_eq!(backups(&w.dest).len(), 2, "{:?}", file_names(&w.dest));
    let refused_rows: Vec<&Value> = with_status(&rows, "failed").into_iter().filter(|r| r["error_kind"] == "busy").collect();
    assert_eq!(refused_rows.len(), 1, "the refused attempt is recorded as such: {rows:?}");
    assert_mentions(&out.stderr, &["backup finished"]);

    // The history must show the two runs one after the other.
    let (s1, f1) = (time(&sched, "started_at"), time(&sched, "finished_at"));
    let (s2, f2) = (time(manual_row, "started_at"), time(manual_row, "finished_at"));
    assert!(
        f1 <= s2 || f2 <= s1,
        "the two runs overlap in the history: scheduled [{s1}, {f1}], manual [{s2}, {f2}] \
         (a queued run's started_at should be when it got the job and began, not when it was asked for)"
    );
}

// ---------------------------------------------------------------------------
// 6. Pause / resume.
// ---------------------------------------------------------------------------

fn status_json(nj: &Nightjar) -> Value {
    nj.run(["status", "--json"]).assert_success().json()
}

#[test]
fn pause_and_resume_round_trip_through_status() {
    let w = world("sched_pausecli");
    w.write_config(&w.job("pcli", EVERY_MINUTE));
    assert_eq!(status_json(&w.nj)["paused"], false);

    let _ = w.nj.run(["pause"]).assert_success();
    let s = status_json(&w.nj);
    assert_eq!(s["paused"], true, "{s}");
    assert!(s["resume_at"].is_null(), "{s}");

    let _ = w.nj.run(["resume"]).assert_success();
    assert_eq!(status_json(&w.nj)["paused"], false);

    let before = Utc::now();
    let _ = w.nj.run(["pause", "--until", "2h"]).assert_success();
    let s = status_json(&w.nj);
    assert_eq!(s["paused"], true, "{s}");
    let at = time(&s, "resume_at");
    assert!(at > before + chrono::Duration::minutes(119) && at < Utc::now() + chrono::Duration::minutes(121), "resume_at about 2 h ahead: {s}");

    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let _ = w.nj.run(["pause", "--until", &past]).assert_success();
    assert_eq!(status_json(&w.nj)["paused"], false, "a pause until a past time is over");

    let future = (Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let _ = w.nj.run(["pause", "--until", &future]).assert_success();
    assert_eq!(status_json(&w.nj)["paused"], true);

    let bad = w.nj.run(["pause", "--until", "someday"]);
    assert_eq!(bad.status.code(), Some(2), "a bad --until is a usage error: {}", bad.stderr);
    assert_mentions(&bad.error_line(), &["someday"]);
    assert_eq!(status_json(&w.nj)["paused"], true, "a failed pause leaves the state as it was");
}

#[test]
fn daemon_started_while_paused_runs_nothing_until_resumed() {
    let w = world("sched_pause");
    // With history and no success in the current slot, the job would run at
    // once if the schedules were not paused.
    w.failed_attempt_then("paused", &w.job("paused", EVERY_MINUTE));
    let _ = w.nj.run(["pause"]).assert_success();

    let daemon = w.start_daemon();
    w.wait_for("the daemon to log \"schedules paused\"", secs(10), Duration::from_millis(100), || {
        (log_count(&w.nj, "schedules paused") > 0).then_some(())
    });
    // Past the next per-minute slot, plus a few ticks: still nothing.
    sleep_until(next_minute(Utc::now()) + chrono::Duration::seconds(4));
    assert_eq!(w.rows("paused").len(), 1, "no run while paused: {:?}", w.rows("paused"));
    assert_eq!(backups(&w.dest), Vec::<String>::new(), "{:?}", file_names(&w.dest));
    assert_eq!(partials(&w.dest), Vec::<String>::new(), "{:?}", file_names(&w.dest));

    // Resuming catches up the missed slot once, without waiting for the next one.
    let resumed_at = Utc::now();
    let _ = w.nj.run(["resume"]).assert_success();
    let row = w.wait_for_success("paused", secs(60), |_| true);
    assert!(time(&row, "started_at") >= resumed_at - chrono::Duration::seconds(1), "{row}");
    let out = stop_daemon(daemon);
    assert_mentions(&out.stderr, &["schedules paused", "schedules resumed"]);
    check_backup_row(&row, &w.dest, "paused", str_field(&row, "trigger"), ".sql.zst");
    assert!(["scheduled", "catch-up"].contains(&str_field(&row, "trigger")), "{row}");
    assert_eq!(with_status(&w.rows("paused"), "success").len(), 1);
}

// ---------------------------------------------------------------------------
// 7. Config reload.
// ---------------------------------------------------------------------------

#[test]
fn config_change_is_picked_up_and_the_new_job_runs_at_its_next_slot() {
    let w = world("sched_reload");
    // Nightjar::new() wrote a config without jobs.
    let daemon = w.start_daemon();

    // SIGHUP reloads.
    signal(daemon.pid(), "HUP");
    w.wait_for("a reload after SIGHUP", secs(15), Duration::from_millis(100), || {
        (log_count(&w.nj, "configuration reloaded") >= 1).then_some(())
    });

    // So does an edited file.
    let edited = Utc::now();
    w.write_config(&w.job("added", EVERY_MINUTE));
    w.wait_for("a reload after the config file changed", secs(15), Duration::from_millis(100), || {
        (log_count(&w.nj, "configuration reloaded") >= 2).then_some(())
    });
    let row = w.wait_for_success("added", secs(80), |_| true);
    check_backup_row(&row, &w.dest, "added", "scheduled", ".sql.zst");
    assert!(
        time(&row, "started_at") >= next_minute(edited),
        "a new job runs at its next slot, not at reload: edited at {edited}, {row}"
    );

    // A broken config keeps the previous one in use.
    w.write_config("[[job]]\nname = \"added\"\nthis is not toml\n");
    w.wait_for("the daemon to refuse the broken config", secs(15), Duration::from_millis(100), || {
        (log_count(&w.nj, "not reloaded") >= 1).then_some(())
    });
    let mut daemon = daemon;
    assert!(daemon.is_running(), "a broken config does not stop the daemon");
    let out = stop_daemon(daemon);
    assert_mentions(&out.stderr, &["configuration reloaded", "not reloaded"]);
    assert!(!with_status(&w.rows("added"), "success").is_empty());
}

// ---------------------------------------------------------------------------
// 8. `nightjar status --json`: next_runs and stale.
// ---------------------------------------------------------------------------

fn status_job<'a>(status: &'a Value, job: &str) -> &'a Value {
    status["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["job"] == job))
        .unwrap_or_else(|| panic!("no job {job} in `nightjar status --json`: {status}"))
}

fn next_runs(j: &Value) -> Vec<DateTime<Utc>> {
    j["next_runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no next_runs array: {j}"))
        .iter()
        .map(|v| DateTime::parse_from_rfc3339(v.as_str().expect("a time string")).expect("RFC 3339").with_timezone(&Utc))
        .collect()
}

#[test]
fn status_shows_next_runs_and_staleness() {
    let w = world("sched_status");
    let bad_url = w.pg.url("nightjar_no_such_db");
    let config = format!(
        "{}{}{}{}",
        w.job("fivemin", "schedule = \"*/5 * * * *\"\n"),
        w.job("daily", "schedule = \"daily 03:30\"\n"),
        w.job("off", "schedule = \"* * * * *\"\nenabled = false\n"),
        job_toml("failing", &bad_url, &w.dest, "schedule = \"0 0 1 1 *\"\nstale_after = \"1m\"\n"),
    );
    w.write_config(&config);
    let _ = w.nj.run(["backup", "--job", "fivemin"]).assert_success();
    let failed_at = Utc::now();
    let _ = w.nj.run(["backup", "--job", "failing"]).assert_failure();

    let now = Utc::now();
    let s = status_json(&w.nj);
    assert_eq!(s["paused"], false, "{s}");

    let five = status_job(&s, "fivemin");
    let runs = next_runs(five);
    assert_eq!(runs.len(), 3, "three next runs: {five}");
    assert!(runs[0] > now - chrono::Duration::seconds(1) && runs[0] <= now + chrono::Duration::minutes(5), "{runs:?}");
    for r in &runs {
        assert_eq!((r.minute() % 5, r.second(), r.nanosecond()), (0, 0, 0), "on a 5-minute slot: {runs:?}");
    }
    assert!(runs.windows(2).all(|p| p[1] - p[0] == chrono::Duration::minutes(5)), "increasing by 5 minutes: {runs:?}");
    assert_eq!(five["stale"], false, "a fresh backup is not stale: {five}");
    assert_eq!(five["last_success"]["status"], "success", "{five}");

    let daily = status_job(&s, "daily");
    let runs = next_runs(daily);
    assert_eq!(runs.len(), 3, "{daily}");
    assert!(runs.iter().all(|r| (r.hour(), r.minute(), r.second()) == (3, 30, 0)), "daily 03:30 UTC: {runs:?}");
    assert!(runs.windows(2).all(|p| p[1] - p[0] == chrono::Duration::days(1)), "{runs:?}");
    assert!(runs[0] > now - chrono::Duration::seconds(1), "{runs:?}");
    assert_eq!(daily["stale"], false, "a job that never ran is not reported stale: {daily}");

    let off = status_job(&s, "off");
    assert_eq!(off["enabled"], false, "{off}");
    assert_eq!(off["next_runs"].as_array().map(Vec::len), Some(0), "a disabled job has no next runs: {off}");
    assert_eq!(off["stale"], false);

    let failing = status_job(&s, "failing");
    assert_eq!(failing["last_run"]["status"], "failed", "{failing}");
    assert!(failing["last_success"].is_null(), "{failing}");
    let deadline = time(failing, "stale_deadline");
    assert!(deadline > failed_at - chrono::Duration::seconds(5) && deadline <= Utc::now() + chrono::Duration::minutes(1), "{failing}");
    if Utc::now() < deadline {
        assert_eq!(failing["stale"], false, "not stale before its deadline: {failing}");
    }

    // stale_after = "1m": past the deadline the job is stale (bounded wait).
    let stale = w.wait_for("the failing job to be reported stale", secs(90), Duration::from_secs(1), || {
        let s = status_json(&w.nj);
        let j = status_job(&s, "failing").clone();
        (j["stale"] == true).then_some(j)
    });
    assert!(Utc::now() > deadline, "stale only after the deadline {deadline}: {stale}");
    let s = status_json(&w.nj);
    assert_eq!(status_job(&s, "fivemin")["stale"], false, "{s}");
}

/// `verify_every = 1`: each scheduled backup is test-restored into a
/// scratch database on the job's server and marked verified in the history;
/// the scratch database is gone afterwards.
#[test]
fn every_nth_scheduled_backup_is_test_restored_and_marked_verified() {
    let w = world("sched_verify");
    let config = w.job("verified", &format!("{EVERY_MINUTE}verify_every = 1\n"));
    w.failed_attempt_then("verified", &config);
    let daemon = w.start_daemon();
    let sched = w.wait_for_success("verified", secs(60), |r| r["trigger"] == "scheduled");
    let verified = w.wait_for("the scheduled backup to be marked verified", secs(90), Duration::from_millis(250), || {
        w.rows("verified").into_iter().find(|r| r["id"] == sched["id"] && !r["verified_at"].is_null())
    });
    let _ = stop_daemon(daemon);
    check_backup_row(&verified, &w.dest, "verified", "scheduled", ".sql.zst");
    let rows = w.rows("verified");
    assert!(
        rows.iter().any(|r| r["kind"] == "verify" && r["status"] == "success"),
        "the test restore is recorded as a verify run: {rows:?}"
    );
    let scratch = w.pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%nightjar_verify%'");
    assert_eq!(scratch.trim(), "0", "the scratch database was dropped");
}
