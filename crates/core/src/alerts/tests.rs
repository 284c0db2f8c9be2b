use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chrono::TimeZone;

use super::*;
use crate::config::{Config, ParseEnv};
use crate::model::Trigger;
use crate::secrets::MemorySecrets;

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Records what it sends; refuses while `down`; its errors quote the secret
/// (as a careless HTTP error with the URL would).
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, Notice)>>,
    down: AtomicBool,
}

impl Transport for Recorder {
    fn send(&self, alert: &AlertSpec, secret: Option<&str>, notice: &Notice) -> std::result::Result<(), String> {
        if self.down.load(Ordering::SeqCst) {
            return Err(format!("connection refused at https://api.example/bot{}/sendMessage", secret.unwrap_or("")));
        }
        self.sent.lock().unwrap().push((alert.name.clone(), notice.clone()));
        Ok(())
    }
}

impl Recorder {
    fn events(&self) -> Vec<(String, String, String)> {
        self.sent.lock().unwrap().iter().map(|(a, n)| (a.clone(), n.event.clone(), n.message.clone())).collect()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn config(alerts: &str) -> Config {
    let text = format!("[[job]]\nname = \"app\"\ndatabase = \"postgres://u@127.0.0.1:1/app\"\ndestination = \"/tmp/b\"\n\n[[job]]\nname = \"other\"\ndatabase = \"postgres://u@127.0.0.1:1/o\"\ndestination = \"/tmp/b\"\n\n{alerts}");
    Config::parse(&text, None, &ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC }).unwrap_or_else(|e| panic!("{}", e.detailed()))
}

fn failed(job: &str, message: &str) -> Event {
    Event::RunFailed { job: job.into(), trigger: Trigger::Scheduled, message: message.into(), retry_at: None }
}

fn finished(job: &str) -> Event {
    Event::RunFinished { job: job.into(), trigger: Trigger::Scheduled, file: "/tmp/b/app.sql.zst".into(), size: 2048, duration_ms: 10 }
}

struct Setup {
    _dir: tempfile::TempDir,
    data: DataDir,
    clock: Arc<TestClock>,
    secrets: Arc<MemorySecrets>,
    transport: Arc<Recorder>,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        Setup { _dir: dir, data, clock: Arc::new(TestClock(Mutex::new(t0()))), secrets: Arc::new(MemorySecrets::default()), transport: Arc::new(Recorder::default()) }
    }

    fn alerts(&self, config: &Config) -> Alerts {
        let a = Alerts::new(&self.data, self.secrets.clone(), self.clock.clone(), self.transport.clone());
        a.configure(&config.raw.alerts);
        a
    }
}

#[test]
fn one_alert_per_incident_reminders_then_one_recovery() {
    let s = Setup::new();
    let c = config("[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nremind_every = \"6h\"\n");
    let alerts = s.alerts(&c);
    alerts.on_event(&failed("app", "The server refused the password."), Some(7));
    alerts.on_event(&failed("app", "The server refused the password."), Some(8));
    s.clock.advance(chrono::Duration::hours(7));
    alerts.on_event(&failed("app", "The server refused the password."), Some(9));
    alerts.on_event(&finished("app"), Some(10));
    alerts.on_event(&finished("app"), Some(11));
    assert_eq!(alerts.flush(Duration::from_secs(10)), 0);
    let sent = s.transport.events();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!((sent[0].1.as_str(), sent[0].2.as_str()), ("failure", "The server refused the password."));
    assert_eq!(sent[1].1, "failure");
    assert!(sent[1].2.starts_with("Still a problem (3 times since 2026-03-01T12:00:00Z)"), "{}", sent[1].2);
    assert_eq!((sent[2].1.as_str(), sent[2].2.as_str()), ("recovery", "The backup of \"app\" is back to normal after 3 failed runs."));
    let first = &s.transport.sent.lock().unwrap()[0].1;
    assert_eq!((first.job.as_deref(), first.status.as_str(), first.run_id, first.trigger.as_deref()), (Some("app"), "failed", Some(7), Some("scheduled")));
    // The stable JSON body.
    let body = serde_json::to_value(first).unwrap();
    for k in ["event", "job", "status", "message", "file", "size", "at", "host", "run_id"] {
        assert!(body.get(k).is_some(), "{k} in {body}");
    }
    assert_eq!(alerts.deliveries()["hook"].result, "delivered");
}

#[test]
fn events_and_jobs_filter_and_pings_get_start_success_fail() {
    let s = Setup::new();
    let c = config(
        "[[alert]]\nname = \"mail\"\nkind = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\ntls = \"none\"\nfrom = \"nj@example.com\"\nto = [\"ops@example.com\"]\nevents = [\"stale\"]\njobs = [\"app\"]\n\n[[alert]]\nname = \"beat\"\nkind = \"ping\"\nurl = \"http://127.0.0.1:9/uuid\"\njobs = [\"app\"]\n",
    );
    let alerts = s.alerts(&c);
    alerts.on_event(&Event::RunStarted { job: "app".into(), trigger: Trigger::Manual }, None);
    alerts.on_event(&failed("app", "Disk full."), Some(1));
    alerts.on_event(&Event::RunStarted { job: "other".into(), trigger: Trigger::Manual }, None);
    alerts.on_event(&Event::JobStale { job: "other".into(), last_success: None, deadline: t0() }, None);
    alerts.on_event(&Event::JobStale { job: "app".into(), last_success: None, deadline: t0() }, None);
    alerts.on_event(&finished("app"), Some(2));
    assert_eq!(alerts.flush(Duration::from_secs(10)), 0);
    let got: Vec<(String, String)> = s.transport.events().into_iter().map(|(a, e, _)| (a, e)).collect();
    let want: Vec<(String, String)> = [("beat", "start"), ("beat", "fail"), ("mail", "stale"), ("beat", "success")].iter().map(|(a, e)| ((*a).to_string(), (*e).to_string())).collect();
    assert_eq!(got, want);
    let fail = &s.transport.sent.lock().unwrap()[1].1;
    assert_eq!(fail.message, "Disk full.", "the fail ping carries the reason");
}

#[test]
fn a_receiver_that_is_down_gets_the_alert_once_later_even_after_a_restart_and_secrets_stay_out() {
    let s = Setup::new();
    s.secrets.set(&account("tg"), "123456:SECRET-TOKEN").unwrap();
    let c = config("[[alert]]\nname = \"tg\"\nkind = \"telegram\"\nchat_id = \"-100\"\napi_base_url = \"http://127.0.0.1:9\"\n");
    s.transport.down.store(true, Ordering::SeqCst);
    {
        let alerts = s.alerts(&c);
        alerts.on_event(&failed("app", "Boom."), Some(1));
        // One attempt failed; the retry is not due yet.
        assert_eq!(alerts.flush(Duration::from_secs(10)), 1);
        let d = &alerts.deliveries()["tg"];
        assert_eq!((d.result.as_str(), d.attempts), ("retrying", 1));
        assert!(d.error.as_deref().unwrap().contains("bot***/sendMessage"), "{d:?}");
    }
    let file = std::fs::read_to_string(s.data.root().join(FILE)).unwrap();
    assert!(!file.contains("SECRET-TOKEN"), "{file}");
    assert!(file.contains("Boom."));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(s.data.root().join(FILE)).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(s.transport.events().is_empty());
    // The receiver is back; a new process (after the backoff) sends it, once.
    s.transport.down.store(false, Ordering::SeqCst);
    s.clock.advance(chrono::Duration::minutes(5));
    let alerts = s.alerts(&c);
    alerts.start();
    assert_eq!(alerts.flush(Duration::from_secs(10)), 0);
    let alerts2 = s.alerts(&c);
    alerts2.start();
    assert_eq!(alerts2.flush(Duration::from_secs(10)), 0);
    assert_eq!(s.transport.events().len(), 1, "{:?}", s.transport.events());
    assert_eq!(alerts.deliveries()["tg"].result, "delivered");
}

#[test]
fn queued_alerts_expire_after_a_day() {
    let s = Setup::new();
    let c = config("[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n");
    s.transport.down.store(true, Ordering::SeqCst);
    let alerts = s.alerts(&c);
    alerts.on_event(&failed("app", "Boom."), None);
    assert_eq!(alerts.flush(Duration::from_secs(10)), 1);
    s.clock.advance(chrono::Duration::hours(25));
    s.transport.down.store(false, Ordering::SeqCst);
    let later = s.alerts(&c);
    later.start();
    assert_eq!(later.flush(Duration::from_secs(10)), 0);
    assert!(s.transport.events().is_empty());
    assert_eq!(later.deliveries()["hook"].result, "expired");
}

#[test]
fn config_errors_name_the_alert_and_the_field() {
    let env = ParseEnv { home: None, system_tz: chrono_tz::Tz::UTC };
    let job = "[[job]]\nname = \"app\"\ndatabase = \"postgres://u@127.0.0.1:1/app\"\ndestination = \"/tmp/b\"\n\n";
    for (alert, needle) in [
        ("[[alert]]\nname = \"m\"\nkind = \"email\"\nfrom = \"a@b.c\"\nto = [\"x@y.z\"]\n", "alert \"m\", field `smtp`: required"),
        ("[[alert]]\nname = \"m\"\nkind = \"email\"\nsmtp = \"smtp://u:pw@h\"\nfrom = \"a@b.c\"\nto = [\"x@y.z\"]\n", "field `smtp`: it carries a password"),
        ("[[alert]]\nname = \"m\"\nkind = \"email\"\nsmtp = \"smtp://h\"\nfrom = \"a@b.c\"\n", "field `to`: required"),
        ("[[alert]]\nname = \"t\"\nkind = \"telegram\"\n", "alert \"t\", field `chat_id`: required"),
        ("[[alert]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"ftp://x\"\n", "field `url`: \"ftp://x\" is not an http"),
        ("[[alert]]\nname = \"w\"\nkind = \"webhook\"\njobs = [\"nope\"]\n", "field `jobs`: there is no job \"nope\" (the jobs are: app)"),
        ("[[alert]]\nname = \"w\"\nkind = \"webhook\"\nremind_every = \"soon\"\n", "field `remind_every`"),
        ("[[alert]]\nname = \"p\"\nkind = \"ping\"\nurl = \"http://h/x\"\nchat_id = \"1\"\n", "field `chat_id`: it is only used by telegram alerts"),
        ("[[alert]]\nname = \"w\"\nkind = \"webhook\"\n\n[[alert]]\nname = \"w\"\nkind = \"ping\"\n", "alert \"w\" appears twice"),
        ("[[alert]]\nname = \"w\"\nkind = \"webhook\"\nevents = [\"fire\"]\n", "fire"),
    ] {
        let e = Config::parse(&format!("{job}{alert}"), None, &env).unwrap_err();
        assert!(e.message().contains(needle), "{needle}: {}", e.message());
    }
    let ok = Config::parse(&format!("{job}[[alert]]\nname = \"w\"\nkind = \"webhook\"\nformat = \"slack\"\n"), None, &env).unwrap();
    assert_eq!(ok.raw.alerts[0].format, Some(WebhookFormat::Slack));
    let round = Config::parse(&Config::to_toml(&ok.raw).unwrap(), None, &env).unwrap();
    assert_eq!(round.raw.alerts, ok.raw.alerts);
}

#[test]
fn smtp_addresses_parse() {
    let s = SmtpServer::parse("smtp://ops%40example.com@smtp.example.com:587").unwrap();
    assert_eq!((s.host.as_str(), s.port, s.user.as_deref()), ("smtp.example.com", Some(587), Some("ops@example.com")));
    assert_eq!(SmtpServer::parse("smtp://relay").unwrap().user, None);
}
