//! Sign-in as a public desktop client (no secret, GRAPH.md §1) and the
//! token manager: the refresh token lives only in the [`SecretStore`]
//! (account [`REFRESH_ACCOUNT`]) and is replaced there after every token
//! response, before the new access token is used; the access token stays
//! in memory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use nightjar_core::secrets::SecretStore;
use nightjar_core::{Error, ErrorKind, Result};
use rand::Rng as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::GraphConfig;

/// Keyring account of the refresh token.
pub const REFRESH_ACCOUNT: &str = "onedrive:refresh-token";
/// Keyring account of the signed-in user's name (for messages only).
pub const USER_ACCOUNT: &str = nightjar_core::runner::ONEDRIVE_ACCOUNT;

/// A successful token response (§1.4).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// An identity-platform error body (§1.7).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

impl OAuthError {
    fn aadsts(&self) -> Option<u64> {
        self.error_codes.first().copied()
    }
    /// Needs the user (sign in again), as opposed to a transient failure.
    fn needs_user(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_grant" | "interaction_required" | "consent_required" | "invalid_scope" | "invalid_client" | "unauthorized_client"
        )
    }
}

pub(crate) enum TokenOutcome {
    Ok(TokenResponse),
    Err(OAuthError),
}

/// Device-code flow data shown to the user (§1.5).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    /// Opaque code the client polls with.
    pub device_code: String,
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// Seconds the code lives.
    #[serde(default = "default_expires")]
    pub expires_in: u64,
    /// Seconds between polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// The sentence to show.
    #[serde(default)]
    pub message: String,
}

fn default_expires() -> u64 {
    900
}
fn default_interval() -> u64 {
    5
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    /// `userPrincipalName` (usually the e-mail address).
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
}

/// The message for a refresh token the identity platform no longer accepts.
#[must_use]
pub fn sign_in_expired(account: Option<&str>, detail: &str) -> Error {
    let who = account.map(|a| format!(" for {a}")).unwrap_or_default();
    Error::new(
        ErrorKind::AuthExpired,
        format!("OneDrive sign-in expired{who}{detail}; sign in again (`nightjar onedrive login`, or Sign in with Microsoft in Settings)."),
    )
}

fn not_signed_in() -> Error {
    Error::new(ErrorKind::AuthExpired, "Nightjar is not signed in to OneDrive; sign in first (`nightjar onedrive login`, or Sign in with Microsoft in Settings).")
}

/// A transport error; the URL is dropped from the cause, since upload and
/// download URLs are bearer secrets and must not reach the logs.
pub(crate) fn network(what: &str, e: reqwest::Error) -> Error {
    Error::destination(format!("Could not reach Microsoft ({what}); check the network connection and try again.")).with_source(e.without_url())
}

/// The lock file (in the data folder's lock folder) held while the stored
/// refresh token is redeemed. A job's name cannot hold a dot, so it is never
/// a job's lock.
const TOKEN_LOCK: &str = ".onedrive-sign-in";

/// Takes [`TOKEN_LOCK`], waiting up to a minute for another Nightjar process
/// (the tray, the window, the CLI) that is redeeming the same token: both
/// would send the token read before either stored the rotated one, and
/// the second would be refused once the first use made it invalid. `None`
/// when the lock cannot be had: the refresh goes ahead, as before.
fn token_lock(dir: &std::path::Path) -> Option<nightjar_core::lock::JobLock> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match nightjar_core::lock::JobLock::try_acquire(dir, TOKEN_LOCK) {
            Ok(lock) => return Some(lock),
            Err(e) if e.kind() == ErrorKind::Busy && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                tracing::debug!("refreshing the OneDrive sign-in without the lock: {}", e.message());
                return None;
            }
        }
    }
}

/// Holds the access token and refreshes it through the stored refresh token.
pub struct Tokens {
    cfg: GraphConfig,
    http: reqwest::blocking::Client,
    secrets: Arc<dyn SecretStore>,
    /// Access token and its expiry; the mutex also serialises refreshes
    /// (two concurrent refreshes would race on rotation).
    cache: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("tenant", &self.cfg.tenant).finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(cfg: GraphConfig, http: reqwest::blocking::Client, secrets: Arc<dyn SecretStore>) -> Self {
        Self { cfg, http, secrets, cache: Mutex::new(None) }
    }

    /// The secret store.
    #[must_use]
    pub fn secrets(&self) -> &dyn SecretStore {
        self.secrets.as_ref()
    }

    fn endpoint(&self, which: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{which}", self.cfg.login_base.trim_end_matches('/'), self.cfg.tenant)
    }

    /// A valid access token, refreshing it when fewer than 5 minutes are left.
    ///
    /// # Errors
    /// Not signed in, sign-in expired, keyring failure, or the network.
    pub fn access_token(&self) -> Result<String> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, exp)) = cache.as_ref()
            && *exp > Instant::now() + Duration::from_secs(300) {
                return Ok(t.clone());
            }
        let tr = self.refresh_locked()?;
        let exp = Instant::now() + Duration::from_secs(tr.expires_in.unwrap_or(3599));
        *cache = Some((tr.access_token.clone(), exp));
        Ok(tr.access_token)
    }

    /// Redeems the stored refresh token now, whatever the access token's
    /// age, and stores the rotated one: this is what keeps the 90-day
    /// inactivity window (GRAPH.md §1.6) open while the app runs.
    ///
    /// # Errors
    /// Not signed in or sign-in expired ([`ErrorKind::AuthExpired`]), a
    /// sign-in service that fails ([`ErrorKind::Auth`]), keyring, network.
    pub fn refresh_now(&self) -> Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tr = self.refresh_locked()?;
        let exp = Instant::now() + Duration::from_secs(tr.expires_in.unwrap_or(3599));
        *cache = Some((tr.access_token, exp));
        Ok(())
    }

    /// Forgets the access token (after a 401), so the next call refreshes.
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn refresh_locked(&self) -> Result<TokenResponse> {
        // One refresh at a time in the process: clients of several jobs share
        // the stored token, and each must read the newest one.
        static REFRESH: Mutex<()> = Mutex::new(());
        let _one = REFRESH.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _across = self.cfg.lock_dir.as_deref().and_then(token_lock);
        let mut rt = self.secrets.get(REFRESH_ACCOUNT)?.ok_or_else(not_signed_in)?;
        self.cfg.check_client_id()?;
        let scope = self.cfg.scopes.clone();
        let mut attempt = 0u32;
        let mut took_newer = false;
        loop {
            attempt += 1;
            let form = [
                ("client_id", self.cfg.client_id.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("scope", scope.as_str()),
            ];
            match self.token_request(&form) {
                Ok(TokenOutcome::Ok(tr)) => {
                    self.store(&tr)?;
                    return Ok(tr);
                }
                Ok(TokenOutcome::Err(e)) if e.needs_user() && !took_newer => {
                    // Another process (the tray, the window, the CLI) may have
                    // refreshed in the meantime and stored the token that
                    // replaces this one: try that one, once.
                    match self.secrets.get(REFRESH_ACCOUNT).ok().flatten() {
                        Some(newer) if newer != rt => {
                            tracing::info!("OneDrive token refresh refused; another Nightjar process stored a newer sign-in, using it");
                            rt = newer;
                            took_newer = true;
                            attempt = 0;
                        }
                        _ => return Err(self.refused(&e)),
                    }
                }
                Ok(TokenOutcome::Err(e)) if e.needs_user() => return Err(self.refused(&e)),
                Ok(TokenOutcome::Err(e)) if attempt >= self.cfg.retry.max_tries => {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!("Microsoft sign-in is not answering ({}); try again later.", e.error),
                    ));
                }
                Err(e) if attempt >= self.cfg.retry.max_tries => return Err(e),
                _ => std::thread::sleep(self.cfg.retry.backoff(attempt)),
            }
        }
    }

    /// The error of a refresh Microsoft refused: the user must sign in again.
    /// The stored token is left as it is: only a new sign-in replaces it.
    fn refused(&self, e: &OAuthError) -> Error {
        let account = self.secrets.get(USER_ACCOUNT).ok().flatten();
        let detail = match e.aadsts() {
            Some(700_082) => " (it was not used for 90 days)".to_string(),
            Some(c) => format!(" (AADSTS{c})"),
            None => format!(" ({})", e.error),
        };
        tracing::warn!(error = %e.error, codes = ?e.error_codes, "OneDrive token refresh refused: {}", e.error_description.as_deref().unwrap_or(""));
        sign_in_expired(account.as_deref(), &detail)
    }

    /// Replaces the stored refresh token (before the access token is used).
    fn store(&self, tr: &TokenResponse) -> Result<()> {
        if let Some(new) = &tr.refresh_token {
            self.secrets.set(REFRESH_ACCOUNT, new).map_err(|e| {
                Error::new(
                    ErrorKind::Secret,
                    format!("Microsoft issued a new OneDrive sign-in token but the keyring refused it ({}); fix the keyring and sign in again.", e.message()),
                )
            })?;
        }
        Ok(())
    }

    pub(crate) fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenOutcome> {
        let resp = self.http.post(self.endpoint("token")).form(form).send().map_err(|e| network("token", e))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| network("token", e))?;
        if status.is_success() {
            let tr: TokenResponse = serde_json::from_str(&text).map_err(|e| {
                Error::new(ErrorKind::Auth, "Microsoft sign-in answered with something that is not a token; check login_base_url.").with_source(e)
            })?;
            return Ok(TokenOutcome::Ok(tr));
        }
        let err: OAuthError = serde_json::from_str(&text).unwrap_or_else(|_| OAuthError {
            error: if status.is_server_error() { "temporarily_unavailable".into() } else { format!("http_{}", status.as_u16()) },
            ..OAuthError::default()
        });
        Ok(TokenOutcome::Err(err))
    }

    /// Stores the tokens of a fresh sign-in, then asks Graph who it is.
    fn finish_sign_in(&self, tr: TokenResponse, graph_base: &str) -> Result<Account> {
        if tr.refresh_token.is_none() {
            return Err(Error::new(ErrorKind::Auth, "Microsoft returned no refresh token (offline_access was not granted); sign in again and accept the permissions."));
        }
        self.store(&tr)?;
        let exp = Instant::now() + Duration::from_secs(tr.expires_in.unwrap_or(3599));
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((tr.access_token.clone(), exp));
        let account = me(&self.http, graph_base, &tr.access_token)?;
        let _ = self.secrets.set(USER_ACCOUNT, &account.username);
        Ok(account)
    }

    /// Device-code sign-in (§1.5): `show` gets the code to display.
    ///
    /// # Errors
    /// Declined, expired, or a transport/keyring failure.
    pub fn login_device_code(&self, graph_base: &str, show: &mut dyn FnMut(&DeviceCode)) -> Result<Account> {
        self.cfg.check_client_id()?;
        let resp = self
            .http
            .post(self.endpoint("devicecode"))
            .form(&[("client_id", self.cfg.client_id.as_str()), ("scope", self.cfg.scopes.as_str())])
            .send()
            .map_err(|e| network("device code", e))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| network("device code", e))?;
        if !status.is_success() {
            let e: OAuthError = serde_json::from_str(&text).unwrap_or_default();
            return Err(Error::new(ErrorKind::Auth, format!("Microsoft refused the device sign-in ({} {}); check the client id and that public client flows are allowed.", e.error, e.aadsts().map(|c| format!("AADSTS{c}")).unwrap_or_default())));
        }
        let dc: DeviceCode = serde_json::from_str(&text)
            .map_err(|e| Error::new(ErrorKind::Auth, "Microsoft's device-code answer could not be read.").with_source(e))?;
        show(&dc);
        let deadline = Instant::now() + Duration::from_secs(dc.expires_in);
        let mut interval = Duration::from_secs(dc.interval);
        loop {
            if Instant::now() > deadline {
                return Err(Error::new(ErrorKind::Auth, "The sign-in code expired before it was used; run the sign-in again."));
            }
            std::thread::sleep(interval);
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", self.cfg.client_id.as_str()),
                ("device_code", dc.device_code.as_str()),
            ];
            match self.token_request(&form)? {
                TokenOutcome::Ok(tr) => return self.finish_sign_in(tr, graph_base),
                TokenOutcome::Err(e) => match e.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => interval += Duration::from_secs(5),
                    "authorization_declined" => return Err(Error::new(ErrorKind::Auth, "The sign-in was declined.")),
                    "expired_token" => return Err(Error::new(ErrorKind::Auth, "The sign-in code expired before it was used; run the sign-in again.")),
                    other => return Err(Error::new(ErrorKind::Auth, format!("Microsoft refused the sign-in ({other}); run it again."))),
                },
            }
        }
    }

    /// Authorization code + PKCE through a loopback listener (§1.4, §7.1).
    /// `open` receives the URL to show in the system browser.
    ///
    /// # Errors
    /// Time-out, a refused or mismatched redirect, or a token failure.
    pub fn login_browser(&self, graph_base: &str, timeout: Duration, open: &mut dyn FnMut(&str)) -> Result<Account> {
        self.cfg.check_client_id()?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::other("Could not open a local port for the sign-in redirect.").with_source(e))?;
        let port = listener.local_addr().map_err(|e| Error::other("local port").with_source(e))?.port();
        // `localhost` may resolve to ::1: listen there too when possible.
        let v6 = TcpListener::bind(("::1", port)).ok();
        let redirect = format!("http://localhost:{port}/");
        let verifier = random_string(64);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_string(32);
        let mut url = url::Url::parse(&self.endpoint("authorize"))
            .map_err(|e| Error::config("The OneDrive login_base_url is not a valid URL.").with_source(e))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect)
            .append_pair("response_mode", "query")
            .append_pair("scope", &self.cfg.scopes)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        open(url.as_str());
        let code = wait_for_redirect(&listener, v6.as_ref(), &state, Instant::now() + timeout)?;
        let form = [
            ("client_id", self.cfg.client_id.as_str()),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.as_str()),
            ("scope", self.cfg.scopes.as_str()),
        ];
        match self.token_request(&form)? {
            TokenOutcome::Ok(tr) => self.finish_sign_in(tr, graph_base),
            TokenOutcome::Err(e) => Err(Error::new(
                ErrorKind::Auth,
                format!("Microsoft refused the sign-in ({}{}); run it again.", e.error, e.aadsts().map(|c| format!(", AADSTS{c}")).unwrap_or_default()),
            )),
        }
    }

    /// Forgets the stored sign-in. `Ok(false)` when there was none.
    ///
    /// # Errors
    /// When the keyring fails.
    pub fn logout(&self) -> Result<bool> {
        self.invalidate();
        let had = self.secrets.delete(REFRESH_ACCOUNT)?;
        let _ = self.secrets.delete(USER_ACCOUNT);
        Ok(had)
    }
}

fn random_string(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut rng = rand::thread_rng();
    (0..n).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// `GET /me` with a given access token.
pub(crate) fn me(http: &reqwest::blocking::Client, graph_base: &str, token: &str) -> Result<Account> {
    let resp = http
        .get(format!("{}/me", graph_base.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .map_err(|e| network("who am I", e))?;
    parse_me(resp)
}

/// Reads a `GET /me` answer.
pub(crate) fn parse_me(resp: reqwest::blocking::Response) -> Result<Account> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Me {
        user_principal_name: Option<String>,
        mail: Option<String>,
        display_name: Option<String>,
    }
    if !resp.status().is_success() {
        return Err(Error::new(ErrorKind::Auth, format!("Microsoft Graph refused to say who is signed in (HTTP {}).", resp.status().as_u16())));
    }
    let me: Me = resp.json().map_err(|e| network("who am I", e))?;
    Ok(Account { username: me.user_principal_name.or(me.mail).unwrap_or_else(|| "unknown".into()), display_name: me.display_name })
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>Nightjar</title><p style=\"font-family:sans-serif\">Signed in to Nightjar. You can close this tab.</p>";
const PAGE_FAIL: &str = "<!doctype html><meta charset=utf-8><title>Nightjar</title><p style=\"font-family:sans-serif\">Sign-in did not complete. Return to Nightjar and try again.</p>";

fn respond(mut s: &TcpStream, status: &str, body: &str) {
    let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = s.flush();
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Waits for `GET /?code=…&state=…` (or `?error=…&state=…`) carrying this
/// sign-in's `state` on the loopback listener(s); every other request is
/// answered 400 and the wait goes on until `deadline`.
fn wait_for_redirect(l4: &TcpListener, l6: Option<&TcpListener>, state: &str, deadline: Instant) -> Result<String> {
    l4.set_nonblocking(true).ok();
    if let Some(l) = l6 {
        l.set_nonblocking(true).ok();
    }
    loop {
        if Instant::now() > deadline {
            return Err(Error::new(ErrorKind::Auth, "The sign-in was not finished in time; run it again."));
        }
        let conn = l4.accept().ok().or_else(|| l6.and_then(|l| l.accept().ok()));
        let Some((stream, _)) = conn else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        stream.set_nonblocking(false).ok();
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let mut s = &stream;
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_string();
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        let params: std::collections::HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        // The state first: anything that does not carry this sign-in's state
        // (a stray /favicon.ico, another local program, a forged redirect)
        // is answered 400 and ignored, so it can neither abort the sign-in
        // nor slip a code of its own into it.
        let ours = (path == "/" || path.is_empty()) && params.get("state").is_some_and(|s| same_secret(s, state));
        if !ours {
            tracing::debug!("ignored a request on the sign-in port that does not belong to this sign-in");
            respond(&stream, "400 Bad Request", PAGE_FAIL);
            continue;
        }
        if let Some(err) = params.get("error") {
            respond(&stream, "200 OK", PAGE_FAIL);
            let desc = params.get("error_description").cloned().unwrap_or_default();
            return Err(Error::new(ErrorKind::Auth, format!("Microsoft sign-in failed ({err}): {}", desc.lines().next().unwrap_or(""))));
        }
        let Some(code) = params.get("code").cloned().filter(|c| !c.is_empty()) else {
            respond(&stream, "400 Bad Request", PAGE_FAIL);
            continue;
        };
        respond(&stream, "200 OK", PAGE_OK);
        return Ok(code);
    }
}
