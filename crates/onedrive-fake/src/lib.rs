//! A local fake of the Microsoft identity platform and of Microsoft Graph's
//! drive API, built from GRAPH.md §8, for tests and manual runs.
//!
//! Two listeners on 127.0.0.1 with ephemeral ports:
//! - the **API host** answers `/{tenant}/oauth2/v2.0/*` (login) and `/v1.0/*` (Graph);
//! - the **content host** answers upload-session URLs (`/up/{token}`) and
//!   pre-authenticated download URLs (`/dl/{token}`). It is another port, so a
//!   client cannot reach it with the Graph base URL or attach the bearer token
//!   by accident; in strict mode (the default) it answers 401 to any request
//!   carrying `Authorization`, and every request's headers are recorded so a
//!   test can assert on them.
//!
//! Faults are scripted per [`Kind`] of request with [`Fault`]: skip the first
//! N matching requests, then fire M times.
//!
//! Server choice: raw hyper 1 on tokio rather than axum. hyper and tokio are
//! already in the workspace's tree (reqwest), and one fault, dropping the
//! connection half way through an upload fragment, needs the per-connection
//! control hyper gives (a service error closes the socket without a reply).

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use nightjar_onedrive::qxh::quick_xor_hash;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Fragments other than the last must be a multiple of this (320 KiB).
pub const FRAGMENT_UNIT: usize = 327_680;
/// Largest fragment accepted ("less than 60 MiB").
pub const MAX_FRAGMENT: usize = 60 * 1024 * 1024;

/// The kinds of request a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Any `POST …/token`.
    Token,
    /// `POST …/token` with `grant_type=refresh_token`.
    Refresh,
    /// `POST …/devicecode`.
    DeviceCode,
    /// Any Graph (`/v1.0`) call.
    Graph,
    /// `GET /me`, `GET /me/drive`.
    Me,
    /// `GET` of a driveItem.
    GetItem,
    /// `GET …/children` (first page or a nextLink page).
    ListChildren,
    /// `POST …/children`.
    CreateFolder,
    /// `PUT …/content`.
    SimpleUpload,
    /// `POST …/createUploadSession`.
    CreateSession,
    /// Any `PUT` on an upload URL.
    Fragment,
    /// The `PUT` carrying the last byte.
    FinalFragment,
    /// `GET` on an upload URL.
    SessionStatus,
    /// `DELETE` of an item.
    Delete,
    /// `GET …/content` (the 302).
    Content,
    /// `GET` on a download URL.
    Download,
}

/// What a fault does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// An error reply with a Graph (or identity) error body.
    Status {
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.innerError.code`.
        inner: Option<String>,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// Close the connection after reading this many request-body bytes,
    /// without replying (nothing of that request is kept).
    Drop {
        /// Body bytes read first.
        after_bytes: usize,
    },
    /// Upload fragment: keep only this many bytes of it and answer 202 with
    /// a `nextExpectedRanges` behind what the client sent.
    AcceptBehind {
        /// Bytes kept.
        keep_bytes: usize,
    },
    /// Upload URL: the session is gone (expired) → 404 from now on.
    ExpireSession,
    /// Graph: the presented access token expires now → 401.
    ExpireAccessToken,
    /// Token endpoint: HTTP 400 with this `error` and AADSTS code.
    TokenError {
        /// `error` (e.g. `invalid_grant`).
        error: String,
        /// AADSTS number (e.g. 700082).
        aadsts: u32,
    },
    /// Final fragment: commit, but report a wrong `quickXorHash`.
    WrongHash,
    /// Final fragment: commit, but leave `file.hashes` out of the answer
    /// (the hash is "not available yet"; a later GET has it).
    OmitHash,
    /// Download: send only this many bytes, then close.
    Truncate {
        /// Bytes sent.
        after_bytes: usize,
    },
    /// Token endpoint: do the work (a refresh token is used up at once),
    /// then answer only after this long, as a slow network would.
    SlowAnswer {
        /// The wait before the answer.
        delay: std::time::Duration,
    },
}

impl Action {
    /// 429 `activityLimitReached`/`throttledRequest`, with or without `Retry-After`.
    #[must_use]
    pub fn throttle(retry_after: Option<u64>) -> Self {
        Self::Status { status: 429, code: "activityLimitReached".into(), inner: Some("throttledRequest".into()), retry_after }
    }
    /// A bare status with a code (e.g. 503 `serviceNotAvailable`, 500 `generalException`).
    #[must_use]
    pub fn status(status: u16, code: &str) -> Self {
        Self::Status { status, code: code.into(), inner: None, retry_after: None }
    }
    /// 507 `quotaLimitReached`.
    #[must_use]
    pub fn quota_full() -> Self {
        Self::status(507, "quotaLimitReached")
    }
    /// `invalid_grant` with an AADSTS code (700082: inactive 90 days).
    #[must_use]
    pub fn invalid_grant(aadsts: u32) -> Self {
        Self::TokenError { error: "invalid_grant".into(), aadsts }
    }
}

/// A scripted fault: skip the first `skip` matching requests, then fire `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    kind: Kind,
    action: Action,
    skip: usize,
    times: usize,
}

impl Fault {
    /// Fires on the next request of `kind`, once.
    #[must_use]
    pub fn new(kind: Kind, action: Action) -> Self {
        Self { kind, action, skip: 0, times: 1 }
    }
    /// Lets `n` matching requests through first.
    #[must_use]
    pub fn after(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
    /// Fires `n` times.
    #[must_use]
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }
}

/// Which listener a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Login and Graph.
    Api,
    /// Upload and download URLs.
    Content,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Listener.
    pub host: Host,
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Settings of a fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// Children page size when the client sends no `$top` (Graph: 200).
    pub page_size: usize,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Largest simple `PUT …/content` (default 4 MiB).
    pub simple_put_limit: usize,
    /// An old refresh token stops working once used (GRAPH.md §8 item 5).
    pub strict_rotation: bool,
    /// 401 on any upload/download URL request carrying `Authorization`.
    pub strict_no_auth: bool,
    /// Device flow: `authorization_pending` answers before success.
    pub device_pending_polls: usize,
    /// Device flow poll interval told to the client (seconds).
    pub device_interval: u64,
    /// Drive size in bytes.
    pub quota_total: u64,
    /// Upload-session lifetime (sliding).
    pub session_ttl: Duration,
    /// Client id the fake accepts (`None`: any).
    pub client_id: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: 200,
            access_ttl: Duration::from_secs(3599),
            simple_put_limit: 4 * 1024 * 1024,
            strict_rotation: true,
            strict_no_auth: true,
            device_pending_polls: 2,
            device_interval: 1,
            quota_total: 10 * 1024 * 1024 * 1024,
            session_ttl: Duration::from_secs(15 * 60),
            client_id: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Item {
    name: String,
    parent: Option<String>,
    folder: bool,
    data: Vec<u8>,
    version: u64,
    created: String,
    modified: String,
}

#[derive(Debug)]
struct UploadSession {
    parent: String,
    name: String,
    conflict: String,
    total: Option<u64>,
    received: Vec<u8>,
    expires: Instant,
}

#[derive(Debug)]
struct AuthCode {
    challenge: String,
    method: String,
    redirect_uri: String,
    used: bool,
}

#[derive(Debug, Default)]
struct State {
    items: HashMap<String, Item>,
    sessions: HashMap<String, UploadSession>,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, bool>,
    codes: HashMap<String, AuthCode>,
    devices: HashMap<String, usize>,
    downloads: HashMap<String, (String, Instant)>,
    pages: HashMap<String, (String, usize, usize)>,
    faults: Vec<Fault>,
    log: Vec<Recorded>,
    recycle_bytes: u64,
    recycle_count: usize,
    counter: u64,
    quota_total: u64,
}

impl State {
    fn token(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let r: u64 = rand_u64();
        format!("{prefix}{:x}{:016x}", self.counter, r)
    }

    fn used(&self) -> u64 {
        self.items.values().map(|i| i.data.len() as u64).sum::<u64>() + self.recycle_bytes
    }

    fn child(&self, parent: &str, name: &str) -> Option<String> {
        self.items
            .iter()
            .find(|(_, i)| i.parent.as_deref() == Some(parent) && i.name.eq_ignore_ascii_case(name))
            .map(|(id, _)| id.clone())
    }

    fn path_of(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.items.get(id);
        while let Some(i) = cur {
            if i.parent.is_none() {
                break;
            }
            parts.push(i.name.clone());
            cur = i.parent.as_deref().and_then(|p| self.items.get(p));
        }
        parts.reverse();
        parts.join("/")
    }

    fn take_fault(&mut self, kinds: &[Kind]) -> Option<Action> {
        let mut fired = None;
        for f in &mut self.faults {
            if f.times == 0 || !kinds.contains(&f.kind) {
                continue;
            }
            if f.skip > 0 {
                f.skip -= 1;
                continue;
            }
            if fired.is_none() {
                f.times -= 1;
                fired = Some(f.action.clone());
            }
        }
        self.faults.retain(|f| f.times > 0);
        fired
    }

    fn item_json(&self, id: &str, hash_override: Option<&str>) -> Value {
        let Some(i) = self.items.get(id) else { return Value::Null };
        let parent_path = i.parent.as_deref().map(|p| {
            let pp = self.path_of(p);
            if pp.is_empty() { "/drive/root:".to_string() } else { format!("/drive/root:/{pp}") }
        });
        let mut v = json!({
            "id": id,
            "name": i.name,
            "eTag": format!("\"{{{id}}},{}\"", i.version),
            "cTag": format!("\"c:{{{id}}},{}\"", i.version),
            "size": if i.folder { self.items.values().filter(|c| c.parent.as_deref() == Some(id)).map(|c| c.data.len() as u64).sum::<u64>() } else { i.data.len() as u64 },
            "createdDateTime": i.created,
            "lastModifiedDateTime": i.modified,
            "fileSystemInfo": {"createdDateTime": i.created, "lastModifiedDateTime": i.modified},
            // Where the item's page would be on the website (never fetched: `.invalid`).
            "webUrl": format!("https://onedrive.fake.invalid/{}", self.path_of(id)),
        });
        if let Some(p) = &i.parent {
            v["parentReference"] = json!({"driveId": "fakedrive", "driveType": "personal", "id": p, "path": parent_path});
        }
        if i.folder {
            let n = self.items.values().filter(|c| c.parent.as_deref() == Some(id)).count();
            v["folder"] = json!({"childCount": n});
        } else {
            let hash = hash_override.map_or_else(|| quick_xor_hash(&i.data), str::to_string);
            v["file"] = json!({"mimeType": "application/octet-stream", "hashes": {"quickXorHash": hash}});
        }
        v
    }

    fn new_item(&mut self, parent: &str, name: &str, folder: bool, data: Vec<u8>) -> String {
        let id = self.token("ITEM");
        let now = now_str();
        self.items.insert(
            id.clone(),
            Item { name: name.into(), parent: Some(parent.into()), folder, data, version: 1, created: now.clone(), modified: now },
        );
        id
    }

    fn ensure_path(&mut self, path: &str) -> String {
        let mut cur = "root".to_string();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = match self.child(&cur, seg) {
                Some(id) => id,
                None => self.new_item(&cur.clone(), seg, true, Vec::new()),
            };
        }
        cur
    }

    fn resolve_path(&self, path: &str) -> Option<String> {
        let mut cur = "root".to_string();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = self.child(&cur, seg)?;
        }
        Some(cur)
    }
}

fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn now_str() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn expiry_str(d: Duration) -> String {
    (Utc::now() + chrono::Duration::from_std(d).unwrap_or_default()).to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Shared {
    state: Mutex<State>,
    opts: Options,
    api: String,
    content: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake; stops when dropped.
pub struct FakeGraph {
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGraph").field("api", &self.shared.api).field("content", &self.shared.content).finish()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl FakeGraph {
    /// Starts a fake with default options.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// Starts a fake.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start_with(opts: Options) -> Self {
        Self::bind(opts, "127.0.0.1:0".parse().expect("addr"), "127.0.0.1:0".parse().expect("addr")).expect("bind the fake's ports")
    }

    /// Starts a fake on given addresses (port 0: ephemeral).
    ///
    /// # Errors
    /// When a port cannot be bound.
    pub fn bind(opts: Options, api: SocketAddr, content: SocketAddr) -> std::io::Result<Self> {
        let api_l = std::net::TcpListener::bind(api)?;
        let content_l = std::net::TcpListener::bind(content)?;
        api_l.set_nonblocking(true)?;
        content_l.set_nonblocking(true)?;
        let api_url = format!("http://{}", api_l.local_addr()?);
        let content_url = format!("http://{}", content_l.local_addr()?);
        let mut state = State { quota_total: opts.quota_total, ..State::default() };
        let now = now_str();
        state.items.insert(
            "root".into(),
            Item { name: "root".into(), parent: None, folder: true, data: Vec::new(), version: 1, created: now.clone(), modified: now },
        );
        let shared = Arc::new(Shared { state: Mutex::new(state), opts, api: api_url, content: content_url });
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        for (l, host) in [(api_l, Host::Api), (content_l, Host::Content)] {
            let sh = shared.clone();
            rt.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(l).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let sh = sh.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let sh = sh.clone();
                            async move { handle(sh, host, req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
            });
        }
        Ok(Self { shared, rt: Some(rt) })
    }

    /// `http://127.0.0.1:PORT`: the login base URL (tenant path follows).
    #[must_use]
    pub fn login_base(&self) -> String {
        self.shared.api.clone()
    }
    /// `http://127.0.0.1:PORT/v1.0`: the Graph base URL.
    #[must_use]
    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.shared.api)
    }
    /// The content host (upload and download URLs).
    #[must_use]
    pub fn content_base(&self) -> String {
        self.shared.content.clone()
    }

    /// Adds a scripted fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }
    /// Drops every fault not yet fired (the service recovered).
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }
    /// Faults not yet (fully) fired.
    #[must_use]
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }
    /// Every request seen so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().log.clone()
    }

    /// Signs a user in without a browser: a valid refresh token.
    #[must_use]
    pub fn issue_refresh_token(&self) -> String {
        let mut st = self.shared.lock();
        let t = st.token("RT");
        st.refresh.insert(t.clone(), true);
        t
    }
    /// Every refresh token issued so far, used or not (for tests that check
    /// a token is written nowhere it should not be).
    #[must_use]
    pub fn refresh_tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = self.shared.lock().refresh.keys().cloned().collect();
        v.sort();
        v
    }
    /// Whether a refresh token is still accepted.
    #[must_use]
    pub fn refresh_token_valid(&self, t: &str) -> bool {
        self.shared.lock().refresh.get(t).copied().unwrap_or(false)
    }
    /// Expires every access token issued so far (the next Graph call 401s).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for v in self.shared.lock().access.values_mut() {
            *v = now;
        }
    }
    /// Sets the drive size.
    pub fn set_quota_total(&self, bytes: u64) {
        self.shared.lock().quota_total = bytes;
    }
    /// Creates a file (and its folders) directly.
    pub fn put_file(&self, path: &str, data: &[u8]) {
        let mut st = self.shared.lock();
        let (dir, name) = path.trim_matches('/').rsplit_once('/').unwrap_or(("", path.trim_matches('/')));
        let parent = st.ensure_path(dir);
        if let Some(old) = st.child(&parent, name) {
            st.items.remove(&old);
        }
        st.new_item(&parent, name, false, data.to_vec());
    }
    /// Creates a folder (and its parents) directly.
    pub fn mkdir(&self, path: &str) {
        self.shared.lock().ensure_path(path);
    }
    /// A file's bytes.
    #[must_use]
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let st = self.shared.lock();
        let id = st.resolve_path(path)?;
        st.items.get(&id).filter(|i| !i.folder).map(|i| i.data.clone())
    }
    /// Names in a folder, sorted.
    #[must_use]
    pub fn names(&self, path: &str) -> Vec<String> {
        let st = self.shared.lock();
        let Some(id) = st.resolve_path(path) else { return Vec::new() };
        let mut v: Vec<String> = st.items.values().filter(|i| i.parent.as_deref() == Some(id.as_str())).map(|i| i.name.clone()).collect();
        v.sort();
        v
    }
    /// Upload sessions still open.
    #[must_use]
    pub fn open_sessions(&self) -> usize {
        self.shared.lock().sessions.len()
    }
    /// Items moved to the recycle bin.
    #[must_use]
    pub fn recycled(&self) -> usize {
        self.shared.lock().recycle_count
    }
}

// ---------------------------------------------------------------- HTTP plumbing

type Resp = Response<Full<Bytes>>;

/// Returned by the service to close the connection without a reply.
#[derive(Debug)]
struct DropConnection;
impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault: connection dropped")
    }
}
impl std::error::Error for DropConnection {}

fn reply(status: u16, body: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", "application/json".parse().expect("hv"));
    r
}

fn empty(status: u16) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

fn graph_error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Resp {
    let mut e = json!({"code": code, "message": message});
    if let Some(i) = inner {
        e["innerError"] = json!({"code": i, "date": now_str(), "request-id": "fake", "client-request-id": "fake"});
    }
    reply(status, &json!({ "error": e }))
}

fn token_error(error: &str, aadsts: u32, text: &str) -> Resp {
    reply(
        400,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {text}\r\nTrace ID: fake\r\nCorrelation ID: fake\r\nTimestamp: {}", now_str()),
            "error_codes": [aadsts],
            "timestamp": now_str(),
            "trace_id": "fake",
            "correlation_id": "fake",
            "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
        }),
    )
}

fn fault_reply(a: &Action) -> Option<Resp> {
    match a {
        Action::Status { status, code, inner, retry_after } => {
            let mut r = graph_error(*status, code, if *status == 429 { "The request has been throttled" } else { "Injected fault" }, inner.as_deref());
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", s.to_string().parse().expect("hv"));
            }
            Some(r)
        }
        Action::TokenError { error, aadsts } => Some(token_error(error, *aadsts, "Injected token error.")),
        _ => None,
    }
}

fn query(uri: &hyper::Uri) -> HashMap<String, String> {
    uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn decode(seg: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", seg.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn body_bytes(body: Incoming) -> Bytes {
    body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default()
}

async fn handle(sh: Arc<Shared>, host: Host, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
        .collect();
    sh.lock().log.push(Recorded {
        host,
        method: req.method().to_string(),
        uri: req.uri().path_and_query().map(ToString::to_string).unwrap_or_default(),
        headers,
    });
    match host {
        Host::Content => content(&sh, req).await,
        Host::Api => {
            let path = req.uri().path().to_string();
            if path.starts_with("/v1.0/") {
                Ok(graph(&sh, req).await)
            } else if path.contains("/oauth2/v2.0/") {
                Ok(login(&sh, req).await)
            } else {
                Ok(graph_error(404, "itemNotFound", "No such endpoint on the fake.", None))
            }
        }
    }
}

// ---------------------------------------------------------------- login

async fn login(sh: &Shared, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let endpoint = path.rsplit('/').next().unwrap_or("").to_string();
    match (req.method().as_str(), endpoint.as_str()) {
        ("GET", "authorize") => authorize(sh, &query(req.uri())),
        ("GET", "devicelogin") => {
            let mut r = Response::new(Full::new(Bytes::from("Fake device login: codes are approved automatically after a few polls.")));
            r.headers_mut().insert("content-type", "text/plain".parse().expect("hv"));
            r
        }
        ("POST", "devicecode") => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&body_bytes(req.into_body()).await).into_owned().collect();
            let mut st = sh.lock();
            if let Some(a) = st.take_fault(&[Kind::DeviceCode]).as_ref().and_then(fault_reply) {
                return a;
            }
            if let Some(r) = check_client(sh, &form) {
                return r;
            }
            let code = st.token("DC");
            st.devices.insert(code.clone(), sh.opts.device_pending_polls);
            let user_code = format!("FAKE{}", st.counter);
            let uri = format!("{}/devicelogin", sh.api);
            reply(
                200,
                &json!({
                    "device_code": code, "user_code": user_code, "verification_uri": uri,
                    "expires_in": 900, "interval": sh.opts.device_interval,
                    "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
                }),
            )
        }
        ("POST", "token") => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&body_bytes(req.into_body()).await).into_owned().collect();
            let (resp, delay) = token(sh, &form);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            resp
        }
        _ => graph_error(404, "itemNotFound", "No such login endpoint on the fake.", None),
    }
}

fn check_client(sh: &Shared, form: &HashMap<String, String>) -> Option<Resp> {
    if form.contains_key("client_secret") || form.contains_key("client_assertion") {
        return Some(token_error(
            "invalid_client",
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        ));
    }
    let id = form.get("client_id").map(String::as_str).unwrap_or("");
    if id.is_empty() || sh.opts.client_id.as_deref().is_some_and(|c| c != id) {
        return Some(token_error("unauthorized_client", 700_016, "Application not found in the directory."));
    }
    None
}

fn authorize(sh: &Shared, q: &HashMap<String, String>) -> Resp {
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if !(redirect.starts_with("http://localhost") || redirect.starts_with("http://127.0.0.1")) {
        return reply(400, &json!({"error": "invalid_request", "error_description": "AADSTS50011: redirect URI mismatch"}));
    }
    if let Some(r) = check_client(sh, q) {
        return r;
    }
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    let method = q.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into());
    if q.get("response_type").map(String::as_str) != Some("code") || challenge.is_empty() {
        return reply(400, &json!({"error": "invalid_request", "error_description": "AADSTS9002313: response_type=code and a PKCE code_challenge are required by this fake."}));
    }
    let mut st = sh.lock();
    let code = st.token("AC");
    st.codes.insert(code.clone(), AuthCode { challenge, method, redirect_uri: redirect.clone(), used: false });
    let mut loc = url::Url::parse(&redirect).expect("checked prefix");
    loc.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.get("state") {
        loc.query_pairs_mut().append_pair("state", s);
    }
    let mut r = empty(302);
    r.headers_mut().insert("location", loc.as_str().parse().expect("hv"));
    r
}

fn issue_tokens(st: &mut State, sh: &Shared) -> Resp {
    let access = st.token("AT");
    st.access.insert(access.clone(), Instant::now() + sh.opts.access_ttl);
    let refresh = st.token("RT");
    st.refresh.insert(refresh.clone(), true);
    reply(
        200,
        &json!({
            "token_type": "Bearer", "scope": "Files.ReadWrite User.Read",
            "expires_in": sh.opts.access_ttl.as_secs(), "ext_expires_in": sh.opts.access_ttl.as_secs(),
            "access_token": access, "refresh_token": refresh,
        }),
    )
}

/// The token endpoint's answer, and how long to hold it back (a
/// [`Action::SlowAnswer`] fault).
fn token(sh: &Shared, form: &HashMap<String, String>) -> (Resp, Option<std::time::Duration>) {
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let mut kinds = vec![Kind::Token];
    if grant == "refresh_token" {
        kinds.push(Kind::Refresh);
    }
    let fault = sh.lock().take_fault(&kinds);
    if let Some(a) = fault.as_ref().and_then(fault_reply) {
        return (a, None);
    }
    let delay = match fault {
        Some(Action::SlowAnswer { delay }) => Some(delay),
        _ => None,
    };
    (token_answer(sh, form, &grant), delay)
}

fn token_answer(sh: &Shared, form: &HashMap<String, String>, grant: &str) -> Resp {
    let mut st = sh.lock();
    if let Some(r) = check_client(sh, form) {
        return r;
    }
    match grant {
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(c) = st.codes.get_mut(&code) else {
                return token_error("invalid_grant", 70_000, "The provided authorization code is invalid.");
            };
            if c.used {
                return token_error("invalid_grant", 54_005, "OAuth2 Authorization code was already redeemed.");
            }
            c.used = true;
            if form.get("redirect_uri") != Some(&c.redirect_uri) {
                return token_error("invalid_grant", 50_011, "The redirect URI does not match the one used for the authorization code.");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let ok = if c.method == "S256" {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == c.challenge
            } else {
                verifier == c.challenge
            };
            if verifier.len() < 43 || verifier.len() > 128 || !ok {
                return token_error("invalid_grant", 501_481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
            }
            issue_tokens(&mut st, sh)
        }
        "refresh_token" => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if !st.refresh.get(&rt).copied().unwrap_or(false) {
                return token_error("invalid_grant", 70_000, "The refresh token isn't valid.");
            }
            if sh.opts.strict_rotation {
                st.refresh.insert(rt, false);
            }
            issue_tokens(&mut st, sh)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let dc = form.get("device_code").cloned().unwrap_or_default();
            match st.devices.get_mut(&dc) {
                None => token_error("bad_verification_code", 70_018, "The device code is not valid."),
                Some(0) => {
                    st.devices.remove(&dc);
                    issue_tokens(&mut st, sh)
                }
                Some(n) => {
                    *n -= 1;
                    token_error("authorization_pending", 70_016, "The user hasn't finished authenticating.")
                }
            }
        }
        _ => token_error("unsupported_grant_type", 70_003, "The grant type is not supported."),
    }
}

// ---------------------------------------------------------------- Graph

enum Target {
    Existing(String),
    New { parent: String, name: String },
}

/// Splits `/v1.0/me/drive/...` into (addressed item, suffix).
#[allow(clippy::result_large_err)]
fn address(st: &mut State, rest: &str) -> Result<(Target, String), Resp> {
    let (base, tail) = if let Some(t) = rest.strip_prefix("root") {
        ("root".to_string(), t.to_string())
    } else if let Some(t) = rest.strip_prefix("special/approot") {
        (st.ensure_path("Apps/Nightjar"), t.to_string())
    } else if let Some(t) = rest.strip_prefix("items/") {
        let (id, tail) = t.find([':', '/']).map_or((t, ""), |i| (&t[..i], &t[i..]));
        (id.to_string(), tail.to_string())
    } else {
        return Err(graph_error(400, "invalidRequest", "Unsupported drive address.", None));
    };
    if !st.items.contains_key(&base) {
        return Err(graph_error(404, "itemNotFound", "The resource could not be found.", None));
    }
    let Some(t) = tail.strip_prefix(":") else { return Ok((Target::Existing(base), tail)) };
    // `:/{path}` or `:/{path}:` optionally followed by `/suffix`.
    let (path, suffix) = match t.find(':') {
        Some(i) => (&t[..i], t[i + 1..].to_string()),
        None => (t, String::new()),
    };
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    for s in &segs {
        if s.chars().any(|c| "\\*<>?:|\"".contains(c)) {
            return Err(graph_error(400, "invalidRequest", "The name contains a character that is not allowed.", Some("invalidPath")));
        }
    }
    let mut cur = base;
    for (k, s) in segs.iter().enumerate() {
        match st.child(&cur, s) {
            Some(id) => cur = id,
            None if k + 1 == segs.len() => return Ok((Target::New { parent: cur, name: s.clone() }, suffix)),
            None => return Err(graph_error(404, "itemNotFound", "The parent folder does not exist.", None)),
        }
    }
    Ok((Target::Existing(cur), suffix))
}

#[allow(clippy::result_large_err)]
fn bearer_ok(sh: &Shared, st: &mut State, auth: Option<&str>) -> Result<(), Resp> {
    let tok = auth.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
    match st.access.get(tok) {
        Some(exp) if *exp > Instant::now() => Ok(()),
        Some(_) => {
            let mut r = graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.", None);
            r.headers_mut().insert(
                "www-authenticate",
                "Bearer realm=\"\", error=\"invalid_token\", error_description=\"expired_token\"".parse().expect("hv"),
            );
            Err(r)
        }
        None => {
            let _ = sh;
            Err(graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.", None))
        }
    }
}

async fn graph(sh: &Shared, req: Request<Incoming>) -> Resp {
    let method = req.method().as_str().to_string();
    let uri = req.uri().clone();
    let path = uri.path().strip_prefix("/v1.0/").unwrap_or("").to_string();
    let q = query(&uri);
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let if_match = req.headers().get("if-match").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = body_bytes(req.into_body()).await;
    let mut st = sh.lock();

    let kind = if path == "me" || path == "me/drive" {
        Kind::Me
    } else if path.ends_with("/children") {
        if method == "POST" { Kind::CreateFolder } else { Kind::ListChildren }
    } else if path.ends_with("/content") {
        if method == "PUT" { Kind::SimpleUpload } else { Kind::Content }
    } else if path.ends_with("/createUploadSession") {
        Kind::CreateSession
    } else if method == "DELETE" {
        Kind::Delete
    } else {
        Kind::GetItem
    };
    if let Some(a) = st.take_fault(&[Kind::Graph, kind]) {
        if let Some(r) = fault_reply(&a) {
            return r;
        }
        if matches!(a, Action::ExpireAccessToken)
            && let Some(t) = auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
                st.access.insert(t.to_string(), Instant::now());
            }
    }
    if let Err(r) = bearer_ok(sh, &mut st, auth.as_deref()) {
        return r;
    }
    if path == "me" {
        return reply(200, &json!({"id": "fakeuser", "displayName": "Fake User", "userPrincipalName": "fake.user@example.com", "mail": "fake.user@example.com"}));
    }
    if path == "me/drive" {
        let used = st.used();
        let total = st.quota_total;
        return reply(
            200,
            &json!({"id": "fakedrive", "driveType": "personal", "quota": {"total": total, "used": used, "remaining": total.saturating_sub(used), "deleted": st.recycle_bytes, "state": if used >= total { "exceeded" } else { "normal" }}}),
        );
    }
    let Some(rest) = path.strip_prefix("me/drive/") else {
        return graph_error(400, "invalidRequest", "Unsupported path on the fake.", None);
    };
    let (target, suffix) = match address(&mut st, rest) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match (method.as_str(), suffix.as_str(), target) {
        ("GET", "", Target::Existing(id)) => {
            let mut v = st.item_json(&id, None);
            if v.get("file").is_some() {
                let tok = st.token("DL");
                st.downloads.insert(tok.clone(), (id.clone(), Instant::now() + Duration::from_secs(300)));
                v["@microsoft.graph.downloadUrl"] = json!(format!("{}/dl/{tok}", sh.content));
            }
            reply(200, &v)
        }
        ("GET", "/children", Target::Existing(id)) => list_children(sh, &mut st, &id, &q),
        ("POST", "/children", Target::Existing(id)) => create_folder(&mut st, &id, &body),
        ("PUT", "/content", t) => simple_put(sh, &mut st, t, &q, body),
        ("POST", "/createUploadSession", t) => create_session(sh, &mut st, t, &body),
        ("GET", "/content", Target::Existing(id)) => {
            if st.items.get(&id).is_some_and(|i| i.folder) {
                return graph_error(400, "invalidRequest", "Folders have no content.", None);
            }
            let tok = st.token("DL");
            st.downloads.insert(tok.clone(), (id, Instant::now() + Duration::from_secs(300)));
            let mut r = empty(302);
            r.headers_mut().insert("location", format!("{}/dl/{tok}", sh.content).parse().expect("hv"));
            r
        }
        ("DELETE", "", Target::Existing(id)) => {
            if id == "root" {
                return graph_error(403, "accessDenied", "The root cannot be deleted.", None);
            }
            if let Some(m) = if_match {
                let etag = st.item_json(&id, None)["eTag"].as_str().unwrap_or("").to_string();
                if m != etag && m != "*" {
                    return graph_error(412, "resourceModified", "ETag does not match.", Some("entityTagDoesNotMatch"));
                }
            }
            let mut stack = vec![id];
            while let Some(i) = stack.pop() {
                stack.extend(st.items.iter().filter(|(_, c)| c.parent.as_deref() == Some(i.as_str())).map(|(k, _)| k.clone()));
                if let Some(it) = st.items.remove(&i) {
                    st.recycle_bytes += it.data.len() as u64;
                    st.recycle_count += 1;
                }
            }
            empty(204)
        }
        (_, _, Target::New { .. }) => graph_error(404, "itemNotFound", "The resource could not be found.", None),
        _ => graph_error(400, "invalidRequest", "Unsupported request on the fake.", None),
    }
}

fn list_children(sh: &Shared, st: &mut State, id: &str, q: &HashMap<String, String>) -> Resp {
    let (folder, offset, top) = if let Some(tok) = q.get("$skiptoken") {
        match st.pages.get(tok) {
            Some(p) => p.clone(),
            None => return graph_error(400, "invalidRequest", "Invalid $skiptoken.", None),
        }
    } else {
        let top = q.get("$top").and_then(|t| t.parse().ok()).unwrap_or(sh.opts.page_size).clamp(1, 1000);
        (id.to_string(), 0, top)
    };
    if st.items.get(&folder).is_none_or(|i| !i.folder) {
        return graph_error(404, "itemNotFound", "The folder could not be found.", None);
    }
    let mut kids: Vec<(String, String)> =
        st.items.iter().filter(|(_, i)| i.parent.as_deref() == Some(folder.as_str())).map(|(k, i)| (i.name.to_lowercase(), k.clone())).collect();
    kids.sort();
    let page: Vec<Value> = kids.iter().skip(offset).take(top).map(|(_, k)| st.item_json(k, None)).collect();
    let mut v = json!({ "value": page });
    if offset + top < kids.len() {
        let tok = st.token("SK");
        st.pages.insert(tok.clone(), (folder.clone(), offset + top, top));
        v["@odata.nextLink"] = json!(format!("{}/v1.0/me/drive/items/{folder}/children?$skiptoken={tok}", sh.api));
    }
    reply(200, &v)
}

fn create_folder(st: &mut State, parent: &str, body: &[u8]) -> Resp {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return graph_error(400, "invalidRequest", "The body is not JSON.", None);
    };
    let Some(name) = v["name"].as_str().filter(|n| !n.is_empty()) else {
        return graph_error(400, "invalidRequest", "A name is required.", None);
    };
    if v.get("folder").is_none() {
        return graph_error(400, "invalidRequest", "Only folders can be created this way on the fake.", None);
    }
    let cb = v["@microsoft.graph.conflictBehavior"].as_str().unwrap_or("fail");
    let mut name = name.to_string();
    if let Some(existing) = st.child(parent, &name) {
        match cb {
            "replace" => return reply(200, &st.item_json(&existing, None)),
            "rename" => {
                let mut n = 1;
                while st.child(parent, &format!("{name} {n}")).is_some() {
                    n += 1;
                }
                name = format!("{name} {n}");
            }
            _ => return graph_error(409, "nameAlreadyExists", "The specified item name already exists.", None),
        }
    }
    let id = st.new_item(parent, &name, true, Vec::new());
    reply(201, &st.item_json(&id, None))
}

fn simple_put(sh: &Shared, st: &mut State, t: Target, q: &HashMap<String, String>, body: Bytes) -> Resp {
    if body.len() > sh.opts.simple_put_limit {
        return graph_error(413, "invalidRequest", "The request is too large for a simple upload; use an upload session.", Some("maxFileSizeExceeded"));
    }
    if st.used() + body.len() as u64 > st.quota_total {
        return graph_error(507, "quotaLimitReached", "Insufficient Space Available", None);
    }
    let cb = q.get("@microsoft.graph.conflictBehavior").map_or("replace", String::as_str);
    match t {
        Target::Existing(id) => {
            if cb == "fail" {
                return graph_error(409, "nameAlreadyExists", "The specified item name already exists.", None);
            }
            let Some(i) = st.items.get_mut(&id) else { return graph_error(404, "itemNotFound", "Gone.", None) };
            if i.folder {
                return graph_error(409, "nameAlreadyExists", "A folder of that name exists.", None);
            }
            i.data = body.to_vec();
            i.version += 1;
            i.modified = now_str();
            reply(200, &st.item_json(&id, None))
        }
        Target::New { parent, name } => {
            let id = st.new_item(&parent, &name, false, body.to_vec());
            reply(201, &st.item_json(&id, None))
        }
    }
}

fn create_session(sh: &Shared, st: &mut State, t: Target, body: &[u8]) -> Resp {
    let v: Value = if body.is_empty() { json!({}) } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return graph_error(400, "invalidRequest", "The body is not JSON.", None),
        }
    };
    let item = &v["item"];
    let cb = item["@microsoft.graph.conflictBehavior"].as_str().unwrap_or("fail").to_string();
    let (parent, name) = match t {
        Target::New { parent, name } => (parent, name),
        Target::Existing(id) => {
            let Some(i) = st.items.get(&id) else { return graph_error(404, "itemNotFound", "Gone.", None) };
            if i.folder {
                return graph_error(400, "invalidRequest", "The path names a folder.", None);
            }
            (i.parent.clone().unwrap_or_else(|| "root".into()), i.name.clone())
        }
    };
    if let Some(n) = item["name"].as_str()
        && n != name {
            return graph_error(400, "invalidRequest", "The item path must contain the name given in the body.", None);
        }
    let total = item["fileSize"].as_u64();
    if let Some(size) = total
        && st.used() + size > st.quota_total {
            return graph_error(507, "quotaLimitReached", "Insufficient Space Available", None);
        }
    let tok = st.token("UP");
    st.sessions.insert(
        tok.clone(),
        UploadSession { parent, name, conflict: cb, total, received: Vec::new(), expires: Instant::now() + sh.opts.session_ttl },
    );
    reply(
        200,
        &json!({"uploadUrl": format!("{}/up/{tok}", sh.content), "expirationDateTime": expiry_str(sh.opts.session_ttl), "nextExpectedRanges": ["0-"]}),
    )
}

// ---------------------------------------------------------------- content host

fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let r = v.trim().strip_prefix("bytes ")?;
    let (range, total) = r.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < total).then_some((a, b, total))
}

async fn content(sh: &Shared, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let has_auth = req.headers().contains_key("authorization");
    if has_auth && sh.opts.strict_no_auth {
        return Ok(graph_error(401, "unauthenticated", "Unauthenticated", None));
    }
    if let Some(tok) = path.strip_prefix("/dl/") {
        return Ok(download(sh, tok, &req));
    }
    let Some(tok) = path.strip_prefix("/up/").map(str::to_string) else {
        return Ok(graph_error(404, "itemNotFound", "Not found.", None));
    };
    let not_found = || graph_error(404, "itemNotFound", "The upload session was not found", Some("uploadSessionNotFound"));
    {
        let mut st = sh.lock();
        let expired = st.sessions.get(&tok).is_some_and(|s| s.expires <= Instant::now());
        if expired {
            st.sessions.remove(&tok);
        }
    }
    match method.as_str() {
        "GET" => {
            let mut st = sh.lock();
            if let Some(r) = st.take_fault(&[Kind::SessionStatus]).as_ref().and_then(fault_reply) {
                return Ok(r);
            }
            let Some(s) = st.sessions.get(&tok) else { return Ok(not_found()) };
            let ttl = s.expires.saturating_duration_since(Instant::now());
            Ok(reply(200, &json!({"expirationDateTime": expiry_str(ttl), "nextExpectedRanges": [format!("{}-", s.received.len())]})))
        }
        "DELETE" => {
            let mut st = sh.lock();
            Ok(if st.sessions.remove(&tok).is_some() { empty(204) } else { not_found() })
        }
        "PUT" => put_fragment(sh, &tok, req).await,
        _ => Ok(graph_error(405, "invalidRequest", "Method not allowed.", None)),
    }
}

async fn put_fragment(sh: &Shared, tok: &str, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let range = req.headers().get("content-range").and_then(|v| v.to_str().ok()).map(str::to_string);
    let clen = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let not_found = || graph_error(404, "itemNotFound", "The upload session was not found", Some("uploadSessionNotFound"));
    let Some((a, b, total)) = range.as_deref().and_then(parse_content_range) else {
        return Ok(graph_error(400, "invalidRequest", "Content-Range must be \"bytes start-end/total\" with a numeric total.", None));
    };
    let len = b - a + 1;
    let is_final = b + 1 == total;
    let action = {
        let mut st = sh.lock();
        if !st.sessions.contains_key(tok) {
            return Ok(not_found());
        }
        let kinds: &[Kind] = if is_final { &[Kind::Fragment, Kind::FinalFragment] } else { &[Kind::Fragment] };
        st.take_fault(kinds)
    };
    match &action {
        Some(Action::ExpireSession) => {
            sh.lock().sessions.remove(tok);
            return Ok(not_found());
        }
        Some(a) => {
            if let Some(r) = fault_reply(a) {
                return Ok(r);
            }
        }
        None => {}
    }
    // Read the body; a Drop fault closes the socket part way.
    let drop_after = match action {
        Some(Action::Drop { after_bytes }) => Some(after_bytes),
        _ => None,
    };
    let mut body = req.into_body();
    let mut data: Vec<u8> = Vec::with_capacity(usize::try_from(len.min(MAX_FRAGMENT as u64 + 1)).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(DropConnection) };
        if let Ok(d) = frame.into_data() {
            data.extend_from_slice(&d);
        }
        if drop_after.is_some_and(|n| data.len() >= n) {
            return Err(DropConnection);
        }
    }
    if drop_after.is_some() {
        return Err(DropConnection);
    }
    if clen != Some(len) || data.len() as u64 != len {
        return Ok(graph_error(400, "invalidRequest", "Content-Length does not match the Content-Range.", None));
    }
    if len as usize >= MAX_FRAGMENT {
        return Ok(graph_error(413, "invalidRequest", "The fragment is too large.", Some("maxFragmentLengthExceeded")));
    }
    let mut st = sh.lock();
    let quota_total = st.quota_total;
    let used = st.used();
    let Some(s) = st.sessions.get_mut(tok) else { return Ok(not_found()) };
    match s.total {
        Some(t) if t != total => {
            return Ok(graph_error(400, "invalidRequest", "The declared total differs from the session's.", Some("fragmentLengthMismatch")));
        }
        None => s.total = Some(total),
        _ => {}
    }
    let next = s.received.len() as u64;
    if a < next {
        return Ok(graph_error(416, "invalidRange", "The uploaded fragment overlaps with data that has already been received.", Some("fragmentOverlap")));
    }
    if a > next {
        return Ok(graph_error(400, "invalidRange", "Fragments must be uploaded in order.", Some("fragmentOutOfOrder")));
    }
    if !is_final && len % FRAGMENT_UNIT as u64 != 0 {
        return Ok(graph_error(400, "invalidRequest", "Every fragment but the last must be a multiple of 320 KiB.", Some("invalidFragmentLength")));
    }
    s.expires = Instant::now() + sh.opts.session_ttl;
    if let Some(Action::AcceptBehind { keep_bytes }) = action {
        let keep = keep_bytes.min(data.len());
        s.received.extend_from_slice(&data[..keep]);
        let n = s.received.len();
        return Ok(reply(202, &json!({"expirationDateTime": expiry_str(sh.opts.session_ttl), "nextExpectedRanges": [format!("{n}-")]})));
    }
    if !is_final {
        s.received.extend_from_slice(&data);
        let n = s.received.len();
        return Ok(reply(202, &json!({"expirationDateTime": expiry_str(sh.opts.session_ttl), "nextExpectedRanges": [format!("{n}-")]})));
    }
    // Commit. On failure the final fragment is not kept, so it can be retried.
    let (parent, name, conflict) = (s.parent.clone(), s.name.clone(), s.conflict.clone());
    if used + total > quota_total {
        return Ok(graph_error(507, "quotaLimitReached", "Insufficient Space Available", None));
    }
    let mut all = std::mem::take(&mut s.received);
    all.extend_from_slice(&data);
    let existing = st.child(&parent, &name);
    let (id, status) = match (existing, conflict.as_str()) {
        (Some(_), "fail") => {
            if let Some(s) = st.sessions.get_mut(tok) {
                all.truncate(all.len() - data.len());
                s.received = all;
            }
            return Ok(graph_error(409, "nameAlreadyExists", "The specified item name already exists.", None));
        }
        (Some(old), "replace") => {
            let i = st.items.get_mut(&old).expect("exists");
            i.data = all;
            i.version += 1;
            i.modified = now_str();
            (old, 200)
        }
        (Some(_), _) => {
            let mut n = 1;
            let (stem, ext) = name.rsplit_once('.').map_or((name.as_str(), String::new()), |(s, e)| (s, format!(".{e}")));
            while st.child(&parent, &format!("{stem} {n}{ext}")).is_some() {
                n += 1;
            }
            (st.new_item(&parent, &format!("{stem} {n}{ext}"), false, all), 201)
        }
        (None, _) => (st.new_item(&parent, &name, false, all), 201),
    };
    st.sessions.remove(tok);
    let wrong = matches!(action, Some(Action::WrongHash)).then(|| quick_xor_hash(b"not the uploaded bytes"));
    let mut item = st.item_json(&id, wrong.as_deref());
    if matches!(action, Some(Action::OmitHash)) {
        item["file"] = json!({"mimeType": "application/octet-stream"});
    }
    Ok(reply(status, &item))
}

fn download(sh: &Shared, tok: &str, req: &Request<Incoming>) -> Resp {
    let mut st = sh.lock();
    let action = st.take_fault(&[Kind::Download]);
    if let Some(r) = action.as_ref().and_then(fault_reply) {
        return r;
    }
    let Some((id, exp)) = st.downloads.get(tok).cloned() else {
        return graph_error(403, "accessDenied", "The download URL is invalid or has expired.", None);
    };
    if exp <= Instant::now() {
        return graph_error(403, "accessDenied", "The download URL has expired.", None);
    }
    let Some(item) = st.items.get(&id) else { return graph_error(404, "itemNotFound", "Gone.", None) };
    let data = &item.data;
    let n = data.len() as u64;
    let range = req.headers().get("range").and_then(|v| v.to_str().ok()).and_then(|r| {
        let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
        let a: u64 = a.parse().ok()?;
        let b: u64 = if b.is_empty() { n.saturating_sub(1) } else { b.parse::<u64>().ok()?.min(n.saturating_sub(1)) };
        (a <= b && a < n).then_some((a, b))
    });
    let (status, body, cr) = match range {
        Some((a, b)) => (206, data[a as usize..=b as usize].to_vec(), Some(format!("bytes {a}-{b}/{n}"))),
        None => (200, data.clone(), None),
    };
    let body = match action {
        Some(Action::Truncate { after_bytes }) => {
            // Declares the full length but sends less: the client sees an early EOF.
            let full = body.len();
            let mut r = Response::new(Full::new(Bytes::from(body[..after_bytes.min(full)].to_vec())));
            *r.status_mut() = StatusCode::from_u16(status).expect("status");
            let _ = full;
            return r;
        }
        _ => body,
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut().insert("content-type", "application/octet-stream".parse().expect("hv"));
    if let Some(cr) = cr {
        r.headers_mut().insert("content-range", cr.parse().expect("hv"));
    }
    r
}

#[doc(hidden)]
pub fn _unused(_: Infallible) {}
