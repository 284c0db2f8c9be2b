//! Sending one alert: the [`Transport`] trait (so the queue, incidents and
//! retries are unit-tested without a network) and the real one, over SMTP
//! (lettre) and HTTP (reqwest), both on rustls.

use std::time::Duration;

use super::spec::{AlertKind, AlertSpec, SmtpServer, SmtpTls, WebhookFormat, TELEGRAM_API};
use super::Notice;

/// How long one attempt may take (connect, send, answer).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Sends one notice through one alert.
pub trait Transport: Send + Sync {
    /// Sends `notice` through `alert`; `secret` is the alert's keyring entry
    /// (SMTP password, bot token, or the webhook/ping URL).
    ///
    /// # Errors
    /// Why it was not delivered, as the rest of a sentence (the caller
    /// removes the secret from it).
    fn send(&self, alert: &AlertSpec, secret: Option<&str>, notice: &Notice) -> Result<(), String>;
}

/// The real transport.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetTransport;

impl Transport for NetTransport {
    fn send(&self, alert: &AlertSpec, secret: Option<&str>, notice: &Notice) -> Result<(), String> {
        match alert.kind {
            AlertKind::Email => email(alert, secret, notice),
            AlertKind::Webhook => {
                let url = alert.url.as_deref().or(secret).ok_or("no URL: set `url`, or store it with `nightjar alert secret NAME`")?;
                let text = notice.text();
                let body = match alert.format.unwrap_or_default() {
                    WebhookFormat::Json => serde_json::to_value(notice).map_err(|e| e.to_string())?,
                    WebhookFormat::Slack | WebhookFormat::Teams => serde_json::json!({ "text": text }),
                    WebhookFormat::Discord => serde_json::json!({ "content": text }),
                };
                post_json(url, &body)
            }
            AlertKind::Telegram => {
                let token = secret.filter(|s| !s.is_empty()).ok_or("no bot token: store it with `nightjar alert secret NAME`")?;
                let base = alert.api_base_url.as_deref().unwrap_or(TELEGRAM_API).trim_end_matches('/');
                let body = serde_json::json!({ "chat_id": alert.chat_id.clone().unwrap_or_default(), "text": notice.text(), "disable_web_page_preview": true });
                post_json(&format!("{base}/bot{token}/sendMessage"), &body)
            }
            AlertKind::Ping => {
                let url = alert.url.as_deref().or(secret).ok_or("no URL: set `url`, or store it with `nightjar alert secret NAME`")?.trim_end_matches('/');
                let (url, body) = match notice.event.as_str() {
                    "start" => (format!("{url}/start"), String::new()),
                    "fail" => (format!("{url}/fail"), notice.message.clone()),
                    _ => (url.to_string(), notice.message.clone()),
                };
                post(&url, "text/plain; charset=utf-8", body.into_bytes())
            }
        }
    }
}

fn client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("nightjar/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the HTTP client could not start ({})", e.without_url()))
}

fn post_json(url: &str, body: &serde_json::Value) -> Result<(), String> {
    post(url, "application/json", serde_json::to_vec(body).map_err(|e| e.to_string())?)
}

/// POSTs `body`; any 2xx is delivered. Errors never carry the URL (it may
/// hold a token).
fn post(url: &str, content_type: &str, body: Vec<u8>) -> Result<(), String> {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(|h| match u.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.to_string(),
    }));
    let host = host.unwrap_or_else(|| "the receiver".into());
    let resp = client()?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .map_err(|e| {
            let e = e.without_url();
            let what = if e.is_timeout() {
                "did not answer in time".to_string()
            } else if e.is_connect() {
                "could not be reached".to_string()
            } else {
                format!("failed ({e})")
            };
            format!("{host} {what}")
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text: String = resp.text().unwrap_or_default().chars().take(200).collect();
    Err(format!("{host} answered {status}{}", if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) }))
}

fn email(alert: &AlertSpec, secret: Option<&str>, notice: &Notice) -> Result<(), String> {
    use lettre::message::{header::ContentType, Mailbox};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport as _};

    let server = SmtpServer::parse(alert.smtp.as_deref().unwrap_or_default())?;
    let from: Mailbox = alert.from.as_deref().unwrap_or_default().parse().map_err(|e| format!("the sender is not an address ({e})"))?;
    let mut msg = Message::builder().from(from).subject(notice.title()).header(ContentType::TEXT_PLAIN);
    for to in &alert.to {
        msg = msg.to(to.parse().map_err(|e| format!("\"{to}\" is not an address ({e})"))?);
    }
    let msg = msg.body(notice.text()).map_err(|e| format!("the message could not be built ({e})"))?;
    let tls_params = || TlsParameters::new(server.host.clone()).map_err(|e| format!("TLS could not be set up for {} ({e})", server.host));
    let tls = alert.tls.unwrap_or_default();
    let (tls, port) = match tls {
        SmtpTls::Starttls => (Tls::Required(tls_params()?), 587),
        SmtpTls::Tls => (Tls::Wrapper(tls_params()?), 465),
        SmtpTls::None => (Tls::None, 25),
    };
    let mut b = SmtpTransport::builder_dangerous(server.host.as_str()).port(server.port.unwrap_or(port)).tls(tls).timeout(Some(TIMEOUT));
    if let Some(user) = &server.user {
        let pw = secret.ok_or_else(|| format!("no SMTP password for {user}: store it with `nightjar alert secret {}`", alert.name))?;
        b = b.credentials(Credentials::new(user.clone(), pw.to_string()));
    }
    let where_ = format!("{}:{}", server.host, server.port.unwrap_or(port));
    b.build().send(&msg).map(|_| ()).map_err(|e| format!("the SMTP server {where_} refused or could not be reached ({e})"))
}
