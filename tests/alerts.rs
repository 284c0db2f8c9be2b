//! Alerts end to end, through the real `nightjar` binary against real
//! receivers started by the test (tests/support/receivers.rs): an SMTP
//! server, an HTTP server for webhooks (json and slack formats) and pings,
//! and a Telegram Bot API stand-in at `api_base_url`.
//!
//! - a failure then a success: each alert gets the failure once (a second
//!   failed run of the same incident sends nothing) and the recovery once;
//!   the ping gets start, fail (with the reason) and success;
//! - a receiver that is down gets the alert once, later (queued across
//!   processes, delivered by the next one);
//! - a receiver that does not answer does not slow the backup: the backup
//!   has finished while the receiver still holds the alert's request;
//! - secrets (the bot token) never appear in logs, argv or the queue file.

use std::time::Duration;

use nightjar_tests::backup::job_toml;
use nightjar_tests::nightjar::str_field;
use nightjar_tests::receivers::{free_port, HttpReceiver, SmtpSink};
use nightjar_tests::{toml_str, unique, Nightjar, PgCluster};
use serde_json::Value;

/// What the chat alerts are sent for here: not disk-low, which depends on
/// the machine the test runs on.
const EVENTS: &str = "events = [\"failure\", \"recovery\", \"stale\", \"verify-failed\"]\n";

const TOKEN: &str = "424242:AAH-very-secret-bot-token";

fn secrets_file() -> &'static str {
    "[secrets]\nstore = \"file\"\n"
}

fn status_alerts(nj: &Nightjar) -> Vec<Value> {
    nj.run(["status", "--json"]).assert_success().json()["alerts"].as_array().expect("alerts in status --json").clone()
}

#[test]
fn a_failure_then_a_success_reach_email_webhooks_telegram_and_the_ping_once_each() {
    let pg = PgCluster::shared();
    let db = unique("alerted");
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("backups");
    let http = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let nj = Nightjar::new();
    let job = job_toml("app", &pg.url(&db), &dest, &format!("tool_dir = {}", toml_str(&pg.bin().display().to_string())));
    nj.write_config(&format!(
        "{job}\n{}\n[[alert]]\nname = \"ops-mail\"\nkind = \"email\"\nsmtp = {}\ntls = \"none\"\nfrom = \"nightjar@example.com\"\nto = [\"ops@example.com\", \"dba@example.com\"]\nevents = [\"failure\", \"recovery\", \"stale\"]\njobs = [\"app\"]\n\n[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = {}\n{EVENTS}\n[[alert]]\nname = \"team-chat\"\nkind = \"webhook\"\nurl = {}\nformat = \"slack\"\n{EVENTS}\n[[alert]]\nname = \"tg\"\nkind = \"telegram\"\nchat_id = \"-1001234567890\"\n{EVENTS}api_base_url = {}\n\n[[alert]]\nname = \"heartbeat\"\nkind = \"ping\"\nurl = {}\n",
        secrets_file(),
        toml_str(&smtp.url()),
        toml_str(&http.url("/hook")),
        toml_str(&http.url("/chat")),
        toml_str(&http.url("/tg")),
        toml_str(&http.url("/ping/uuid-1")),
    ));
    // The bot token goes in through stdin, never argv.
    let _ = nj.cmd(["alert", "secret", "tg"]).stdin(format!("{TOKEN}\n")).run().assert_success();

    // Two failed runs (the database does not exist yet): one incident.
    for _ in 0..2 {
        let _ = nj.run(["backup", "--job", "app"]).assert_failure();
    }
    let history = nj.history(Some("app"));
    let first_failure = history.iter().map(|r| r["id"].as_i64().unwrap()).min().unwrap();
    // Each one-shot sent its alerts before it exited.
    let hook = http.to("/hook");
    assert_eq!(hook.len(), 1, "one alert per incident: {hook:#?}");
    let body = hook[0].json();
    for k in ["event", "job", "status", "message", "file", "size", "at", "host", "run_id"] {
        assert!(body.get(k).is_some(), "the JSON body has `{k}`: {body}");
    }
    assert_eq!((str_field(&body, "event"), str_field(&body, "job"), str_field(&body, "status")), ("failure", "app", "failed"));
    assert_eq!(body["run_id"].as_i64(), Some(first_failure), "{body}");
    assert!(str_field(&body, "message").contains(&db), "the reason names the database: {body}");
    assert_eq!(hook[0].headers.get("content-type").map(String::as_str), Some("application/json"));

    let chat = http.to("/chat");
    assert_eq!(chat.len(), 1);
    let text = chat[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("Nightjar: backup of \"app\" failed on "), "{text}");

    let tg = http.to("/tg");
    assert_eq!(tg.len(), 1);
    assert_eq!(tg[0].path, format!("/tg/bot{TOKEN}/sendMessage"), "the Bot API call carries the token from the keyring");
    let tg_body = tg[0].json();
    assert_eq!(tg_body["chat_id"], "-1001234567890");
    assert!(tg_body["text"].as_str().unwrap().contains("backup of \"app\" failed"), "{tg_body}");

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].from, "nightjar@example.com");
    assert_eq!(mails[0].to, vec!["ops@example.com".to_string(), "dba@example.com".to_string()]);
    let subject = mails[0].header("Subject").unwrap();
    assert!(subject.starts_with("Nightjar: backup of \"app\" failed on "), "{subject}");
    assert!(mails[0].header("To").unwrap().contains("ops@example.com"));
    assert!(mails[0].body().contains(&db), "{}", mails[0].body());

    let pings: Vec<(String, String)> = http.to("/ping").into_iter().map(|r| (r.path, r.body)).collect();
    assert_eq!(pings.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["/ping/uuid-1/start", "/ping/uuid-1/fail", "/ping/uuid-1/start", "/ping/uuid-1/fail"]);
    assert!(pings[1].1.contains(&db), "the fail ping carries the reason: {}", pings[1].1);

    // The database appears: the next run succeeds, and recovery is said once.
    pg.create_db(&db);
    pg.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    let _ = nj.run(["backup", "--job", "app"]).assert_success();
    let _ = nj.run(["backup", "--job", "app"]).assert_success();
    let hook = http.to("/hook");
    assert_eq!(hook.len(), 2, "{hook:#?}");
    let rec = hook[1].json();
    assert_eq!(str_field(&rec, "event"), "recovery");
    assert_eq!(str_field(&rec, "message"), "The backup of \"app\" is back to normal after 2 failed runs.");
    assert!(rec["file"].as_str().unwrap().starts_with(&dest.display().to_string()), "{rec}");
    assert!(rec["size"].as_u64().unwrap() > 0);
    assert_eq!(http.to("/chat").len(), 2);
    assert_eq!(http.to("/tg").len(), 2);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert!(mails[1].header("Subject").unwrap().contains("\"app\" is back to normal"), "{:?}", mails[1].header("Subject"));
    let pings: Vec<String> = http.to("/ping").into_iter().skip(4).map(|r| r.path).collect();
    assert_eq!(pings, ["/ping/uuid-1/start", "/ping/uuid-1", "/ping/uuid-1/start", "/ping/uuid-1"]);

    // `status --json` shows each alert's last delivery.
    let alerts = status_alerts(&nj);
    assert_eq!(alerts.len(), 5);
    for a in &alerts {
        assert_eq!(a["last_delivery"]["result"], "delivered", "{a}");
        assert_eq!(a["queued"], 0, "{a}");
    }
    let text = nj.run(["status"]).assert_success().stdout;
    assert!(text.contains("alert hook (webhook to 127.0.0.1)"), "{text}");
    assert!(text.contains("last delivery: delivered"), "{text}");

    // `alert test` sends through one alert now.
    let out = nj.run(["alert", "test", "team-chat", "--json"]).assert_success().json();
    assert_eq!(out[0]["delivered"], true, "{out}");
    assert!(http.to("/chat").last().unwrap().json()["text"].as_str().unwrap().contains("test alert"));

    // The token is in no log, and not in the queue file.
    assert!(!nj.logs().contains(TOKEN), "the token leaked into the logs");
    assert!(nj.logs().contains("alert delivered"), "each attempt is logged");
    let state = std::fs::read_to_string(nj.data_dir().join("alerts.json")).unwrap();
    assert!(!state.contains(TOKEN), "{state}");
}

#[test]
fn a_receiver_that_is_down_gets_the_alert_once_later_from_the_next_process() {
    let pg = PgCluster::shared();
    let scratch = tempfile::tempdir().unwrap();
    let port = free_port();
    let nj = Nightjar::new().with_env("NIGHTJAR_ALERT_RETRY_SECS", "1");
    let job = job_toml("gone", &pg.url(&unique("missing")), &scratch.path().join("b"), &format!("tool_dir = {}", toml_str(&pg.bin().display().to_string())));
    nj.write_config(&format!("{job}\n[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nevents = [\"failure\"]\n"));
    // The backup fails as itself (not because of the alert) and the alert stays queued.
    let out = nj.run(["backup", "--job", "gone"]).assert_failure();
    assert!(out.error_line().contains("gone") || out.stderr.contains("missing"), "{}", out.stderr);
    let alerts = status_alerts(&nj);
    assert_eq!(alerts[0]["queued"], 1, "{alerts:?}");
    assert_eq!(alerts[0]["last_delivery"]["result"], "retrying", "{alerts:?}");
    assert!(alerts[0]["last_delivery"]["error"].as_str().unwrap().contains("could not be reached"), "{alerts:?}");

    // The receiver comes up; the daemon (the next process) delivers it, once.
    let http = HttpReceiver::start_on(port);
    let daemon = nj.cmd(["run"]).spawn();
    let got = http.wait_for("/hook", 1, Duration::from_secs(60));
    assert_eq!(str_field(&got[0].json(), "event"), "failure");
    nightjar_tests::wait::until_true("the queue to empty", Duration::from_secs(30), || status_alerts(&nj)[0]["queued"] == 0);
    assert_eq!(status_alerts(&nj)[0]["last_delivery"]["result"], "delivered");
    drop(daemon);
    assert_eq!(http.to("/hook").len(), 1, "delivered once");
}

#[test]
fn a_receiver_that_does_not_answer_does_not_hold_up_the_backup() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("slowrecv");
    pg.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("b");
    let http = HttpReceiver::start_held();
    let nj = Nightjar::new().with_env("NIGHTJAR_ALERT_FLUSH_SECS", "1");
    let job = job_toml("quick", &pg.url(&db), &dest, &format!("tool_dir = {}", toml_str(&pg.bin().display().to_string())));
    nj.write_config(&format!("{job}\n[[alert]]\nname = \"beat\"\nkind = \"ping\"\nurl = {}\n", toml_str(&http.url("/ping/slow"))));
    let out = nj.run(["backup", "--job", "quick", "--json"]).assert_success();
    // The backup is complete while the receiver still holds the start ping
    // unanswered: the run never waited for it.
    assert_eq!(out.json()["status"], "success");
    assert!(nightjar_tests::fsutil::backups(&dest).len() == 1, "the backup is in place");
    assert_eq!(http.waiting(), 1, "the receiver still holds the start ping: {:?}", http.received());
    assert_eq!(http.to("/ping/slow/start").len(), 1);
    assert!(http.to("/ping/slow").iter().all(|r| r.path == "/ping/slow/start"), "nothing after the start went out yet");
    assert_eq!(status_alerts(&nj)[0]["queued"], 2, "start and success wait for the next process");

    // The receiver answers again; the next process sends both, in order.
    http.open();
    let daemon = nj.cmd(["run"]).spawn();
    let got = http.wait_for("/ping/slow", 3, Duration::from_secs(60));
    drop(daemon);
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ping/slow/start", "/ping/slow/start", "/ping/slow"]);
}
