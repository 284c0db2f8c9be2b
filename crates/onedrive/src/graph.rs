//! The Graph drive calls Nightjar needs (GRAPH.md §2), with the retry
//! policy of §7: `Retry-After` on 429/503, exponential back-off on 5xx and
//! network errors, one refresh-and-replay on 401. The upload and download
//! URLs are called with a second client that never carries the bearer token.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nightjar_core::secrets::SecretStore;
use nightjar_core::{Error, Result};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, network, Account, DeviceCode, Tokens};
use crate::config::GraphConfig;
use crate::qxh::QuickXorHash;

/// Characters kept as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A driveItem (the fields we use, §2.6).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    /// Item id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// eTag.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// Last modification.
    #[serde(default)]
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Present on files.
    #[serde(default)]
    pub file: Option<FileFacet>,
    /// Present on folders.
    #[serde(default)]
    pub folder: Option<serde_json::Value>,
    /// Present on OneNote packages and the like.
    #[serde(default)]
    pub package: Option<serde_json::Value>,
    /// Present on deleted items in delta results.
    #[serde(default)]
    pub deleted: Option<serde_json::Value>,
    /// The item's page on the OneDrive website (the window's "Reveal").
    #[serde(default)]
    pub web_url: Option<String>,
}

impl DriveItem {
    /// The quickXorHash Graph reports, when it does.
    #[must_use]
    pub fn quick_xor_hash(&self) -> Option<&str> {
        self.file.as_ref()?.hashes.as_ref()?.quick_xor_hash.as_deref()
    }
}

/// `file` facet.
#[derive(Debug, Clone, Deserialize)]
pub struct FileFacet {
    /// Hashes.
    #[serde(default)]
    pub hashes: Option<Hashes>,
}

/// `file.hashes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hashes {
    /// base64 quickXorHash.
    #[serde(default)]
    pub quick_xor_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner: Option<Box<ErrorDetail>>,
}

/// A Graph error reply, reduced to what decisions need.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// Top-level `error.code` (or the status text for non-JSON bodies).
    pub code: String,
    /// The most detailed inner code.
    pub inner: Option<String>,
    /// `error.message`.
    pub message: String,
}

impl GraphError {
    fn read(resp: Response) -> Self {
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        let detail = serde_json::from_str::<ErrorBody>(&text).ok().and_then(|b| b.error);
        let mut inner = None;
        let mut cur = detail.as_ref().and_then(|d| d.inner.as_deref());
        while let Some(i) = cur {
            if i.code.is_some() {
                inner.clone_from(&i.code);
            }
            cur = i.inner.as_deref();
        }
        Self {
            status: status.as_u16(),
            code: detail.as_ref().and_then(|d| d.code.clone()).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string()),
            inner,
            message: detail.and_then(|d| d.message).unwrap_or_default(),
        }
    }

    fn describe(&self) -> String {
        match &self.inner {
            Some(i) => format!("HTTP {} {}/{}", self.status, self.code, i),
            None => format!("HTTP {} {}", self.status, self.code),
        }
    }
}

fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?.trim().to_string();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = DateTime::parse_from_rfc2822(&v).ok()?.with_timezone(&Utc);
    Some((when - Utc::now()).to_std().unwrap_or_default())
}

fn transient(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 509)
}

/// Where an upload stands after a fragment.
enum Step {
    /// Continue from this offset.
    At(u64),
    /// Committed.
    Done(DriveItem),
    /// The session is gone: start over.
    Restart(String),
}

/// Something the upload can re-read at any offset (the spool).
pub trait ReadAt {
    /// Fills `buf` from `offset`.
    ///
    /// # Errors
    /// I/O errors.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A signed-in Graph client.
pub struct Graph {
    cfg: GraphConfig,
    api: Client,
    plain: Client,
    tokens: Tokens,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("graph_base", &self.cfg.graph_base).finish_non_exhaustive()
    }
}

/// Percent-encodes each segment of a `/`-separated path.
#[must_use]
pub fn encode_path(path: &str) -> String {
    path.split('/').filter(|s| !s.is_empty()).map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

impl Graph {
    /// A client; nothing is sent until a call needs it.
    ///
    /// # Errors
    /// When the HTTP stack cannot be set up.
    pub fn new(cfg: GraphConfig, secrets: Arc<dyn SecretStore>) -> Result<Self> {
        let build = |timeout: Option<Duration>| {
            // No redirects: the 302 of /content is followed by hand, without the token.
            let mut b = Client::builder().redirect(reqwest::redirect::Policy::none()).connect_timeout(Duration::from_secs(30)).user_agent(concat!("Nightjar/", env!("CARGO_PKG_VERSION")));
            b = b.timeout(timeout);
            b.build().map_err(|e| Error::other("Could not set up the HTTPS client for OneDrive.").with_source(e))
        };
        let api = build(Some(Duration::from_secs(120)))?;
        let plain = build(None)?;
        let tokens = Tokens::new(cfg.clone(), api.clone(), secrets);
        Ok(Self { cfg, api, plain, tokens })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &GraphConfig {
        &self.cfg
    }

    /// The token manager.
    #[must_use]
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Browser sign-in (auth code + PKCE, loopback).
    ///
    /// # Errors
    /// See [`Tokens::login_browser`].
    pub fn login_browser(&self, timeout: Duration, open: &mut dyn FnMut(&str)) -> Result<Account> {
        self.tokens.login_browser(&self.cfg.graph_base, timeout, open)
    }

    /// Device-code sign-in.
    ///
    /// # Errors
    /// See [`Tokens::login_device_code`].
    pub fn login_device_code(&self, show: &mut dyn FnMut(&DeviceCode)) -> Result<Account> {
        self.tokens.login_device_code(&self.cfg.graph_base, show)
    }

    /// Who is signed in (refreshing the token).
    ///
    /// # Errors
    /// Not signed in, expired, or the network.
    pub fn whoami(&self) -> Result<Account> {
        let url = self.url("me");
        let account = auth::parse_me(self.send("who am I", &|c| c.get(&url))?)?;
        let _ = self.tokens.secrets().set(crate::auth::USER_ACCOUNT, &account.username);
        Ok(account)
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/{}", self.cfg.graph_base, tail.trim_start_matches('/'))
    }

    /// `me/drive/root:/{path}:{suffix}` (or `me/drive/root{suffix}` for the root).
    fn path_url(&self, path: &str, suffix: &str) -> String {
        let p = encode_path(path);
        if p.is_empty() {
            self.url(&format!("me/drive/root{suffix}"))
        } else if suffix.is_empty() {
            self.url(&format!("me/drive/root:/{p}"))
        } else {
            self.url(&format!("me/drive/root:/{p}:{suffix}"))
        }
    }

    /// Sends an authenticated Graph request with the retry policy; returns
    /// the final response whatever its status.
    fn send(&self, what: &str, build: &dyn Fn(&Client) -> RequestBuilder) -> Result<Response> {
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.tokens.access_token()?;
            match build(&self.api).bearer_auth(token).send() {
                Err(e) => {
                    if attempt >= self.cfg.retry.max_tries {
                        return Err(network(what, e));
                    }
                    tracing::debug!("OneDrive {what}: {e}; retrying");
                    std::thread::sleep(self.cfg.retry.backoff(attempt));
                }
                Ok(r) if r.status().as_u16() == 401 && !refreshed => {
                    refreshed = true;
                    attempt -= 1;
                    self.tokens.invalidate();
                }
                Ok(r) if transient(r.status().as_u16()) && attempt < self.cfg.retry.max_tries => {
                    self.pause(what, &r, attempt);
                }
                Ok(r) => return Ok(r),
            }
        }
    }

    fn pause(&self, what: &str, r: &Response, attempt: u32) {
        let wait = match retry_after(r) {
            Some(d) => d.min(self.cfg.retry.max_retry_after),
            None => self.cfg.retry.backoff(attempt),
        };
        if r.status().as_u16() == 429 || r.status().as_u16() == 503 {
            tracing::warn!("OneDrive is throttling ({what}), retrying in {} s", wait.as_secs_f32().ceil());
        } else {
            tracing::warn!("OneDrive answered HTTP {} ({what}), retrying in {} s", r.status().as_u16(), wait.as_secs_f32().ceil());
        }
        std::thread::sleep(wait);
    }

    fn fail(what: &str, e: &GraphError) -> Error {
        if e.status == 507 || e.code == "quotaLimitReached" {
            return Error::new(
                nightjar_core::ErrorKind::DestinationFull,
                format!("OneDrive is full ({what}); free some space in OneDrive (the recycle bin counts too) and try again. Nothing was saved."),
            );
        }
        let msg = match (e.status, e.code.as_str()) {
            (_, "malwareDetected") => format!("OneDrive flagged the file as malware and will not serve it ({what})."),
            (403, _) => format!("OneDrive refused access ({what}, {}); sign in again with an account that may write there.", e.describe()),
            (429 | 503, _) => format!("OneDrive kept throttling Nightjar ({what}); try again later."),
            _ => format!("OneDrive refused {what} ({}{}).", e.describe(), if e.message.is_empty() { String::new() } else { format!(": {}", e.message) }),
        };
        Error::destination(msg)
    }

    /// The item at `path`, or `None` when there is none.
    ///
    /// # Errors
    /// Transport or Graph errors other than 404.
    pub fn item(&self, path: &str) -> Result<Option<DriveItem>> {
        let url = self.path_url(path, "");
        let r = self.send("reading an item", &|c| c.get(&url))?;
        match r.status().as_u16() {
            200 => Ok(Some(r.json().map_err(|e| network("reading an item", e))?)),
            404 => Ok(None),
            _ => Err(Self::fail(&format!("reading {path}"), &GraphError::read(r))),
        }
    }

    fn item_by_id(&self, id: &str) -> Result<DriveItem> {
        let url = self.url(&format!("me/drive/items/{}", encode_path(id)));
        let r = self.send("reading an item", &|c| c.get(&url))?;
        if r.status().as_u16() == 200 {
            r.json().map_err(|e| network("reading an item", e))
        } else {
            Err(Self::fail("reading an uploaded item", &GraphError::read(r)))
        }
    }

    /// Creates every missing folder of `path` (conflictBehavior=fail, 409 = exists).
    ///
    /// # Errors
    /// When a segment is a file, or Graph refuses.
    pub fn ensure_folder(&self, path: &str) -> Result<()> {
        let mut done = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let parent = done.clone();
            done = if done.is_empty() { seg.to_string() } else { format!("{done}/{seg}") };
            match self.item(&done)? {
                Some(i) if i.folder.is_some() => continue,
                Some(_) => return Err(Error::destination(format!("onedrive:/{done} is a file, not a folder; choose another destination."))),
                None => {}
            }
            let url = self.path_url(&parent, "/children");
            let body = json!({"name": seg, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"});
            let r = self.send("creating a folder", &|c| c.post(&url).json(&body))?;
            match r.status().as_u16() {
                200 | 201 | 409 => {}
                _ => return Err(Self::fail(&format!("creating the folder onedrive:/{done}"), &GraphError::read(r))),
            }
        }
        Ok(())
    }

    /// Files and folders in `path`, across every page.
    ///
    /// # Errors
    /// When the folder is missing or Graph refuses.
    pub fn children(&self, path: &str) -> Result<Vec<DriveItem>> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<DriveItem>,
            #[serde(rename = "@odata.nextLink")]
            next: Option<String>,
        }
        let mut url = format!("{}?$top=200", self.path_url(path, "/children"));
        let mut out = Vec::new();
        loop {
            let u = url.clone();
            let r = self.send("listing a folder", &|c| c.get(&u))?;
            match r.status().as_u16() {
                200 => {}
                404 => return Err(Error::destination(format!("The OneDrive folder onedrive:/{path} does not exist; run a backup to create it or fix the job's destination."))),
                _ => return Err(Self::fail(&format!("listing onedrive:/{path}"), &GraphError::read(r))),
            }
            let page: Page = r.json().map_err(|e| network("listing a folder", e))?;
            let empty = page.value.is_empty();
            out.extend(page.value);
            match page.next {
                Some(n) if !empty => url = n,
                _ => return Ok(out),
            }
        }
    }

    /// Deletes `path`; a missing item counts as deleted.
    ///
    /// # Errors
    /// When Graph refuses.
    pub fn delete(&self, path: &str) -> Result<()> {
        let Some(item) = self.item(path)? else { return Ok(()) };
        self.delete_id(&item.id, path)
    }

    fn delete_id(&self, id: &str, what: &str) -> Result<()> {
        let url = self.url(&format!("me/drive/items/{}", encode_path(id)));
        let r = self.send("deleting an item", &|c| c.delete(&url))?;
        match r.status().as_u16() {
            200 | 204 | 404 => Ok(()),
            _ => Err(Self::fail(&format!("deleting onedrive:/{what}"), &GraphError::read(r))),
        }
    }

    /// Drive quota: (remaining, total).
    ///
    /// # Errors
    /// When Graph refuses.
    pub fn quota(&self) -> Result<Option<(u64, u64)>> {
        let url = self.url("me/drive?$select=quota");
        let r = self.send("reading the quota", &|c| c.get(&url))?;
        if r.status().as_u16() != 200 {
            return Err(Self::fail("reading the quota", &GraphError::read(r)));
        }
        let v: serde_json::Value = r.json().map_err(|e| network("reading the quota", e))?;
        let q = &v["quota"];
        Ok(q["total"].as_u64().map(|t| (q["remaining"].as_u64().unwrap_or(0), t)))
    }

    /// The pre-authenticated URL of a file's content (the 302 of `/content`).
    fn download_url(&self, id: &str) -> Result<String> {
        let url = self.url(&format!("me/drive/items/{}/content", encode_path(id)));
        let r = self.send("starting a download", &|c| c.get(&url))?;
        match r.status().as_u16() {
            301 | 302 | 303 | 307 | 308 => r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| Error::destination("OneDrive answered a download without a location; try again.")),
            _ => Err(Self::fail("starting a download", &GraphError::read(r))),
        }
    }

    /// Opens `path` for reading: follows the 302 without the bearer token,
    /// resumes with `Range` after a cut, and checks size and quickXorHash at
    /// the end (a mismatch is an `InvalidData` read error).
    ///
    /// # Errors
    /// When the file does not exist or cannot be fetched.
    pub fn open(self: &Arc<Self>, path: &str) -> Result<Download> {
        let item = self.item(path)?.ok_or_else(|| Error::destination(format!("onedrive:/{path} does not exist.")))?;
        if item.file.is_none() {
            return Err(Error::destination(format!("onedrive:/{path} is not a file.")));
        }
        // Connected on the first read (and again after every cut, with a fresh URL).
        Ok(Download { graph: self.clone(), expected_hash: item.quick_xor_hash().map(str::to_string), id: item.id, size: item.size, offset: 0, hash: QuickXorHash::new(), body: None, failures: 0 })
    }

    fn create_session(&self, folder: &str, name: &str, total: u64) -> Result<String> {
        let url = self.path_url(&format!("{folder}/{name}"), "/createUploadSession");
        let body = json!({"item": {"@microsoft.graph.conflictBehavior": "fail", "name": name, "fileSize": total}});
        let r = self.send("starting an upload", &|c| c.post(&url).json(&body))?;
        match r.status().as_u16() {
            200 | 201 => {
                let v: serde_json::Value = r.json().map_err(|e| network("starting an upload", e))?;
                v["uploadUrl"].as_str().map(str::to_string).ok_or_else(|| Error::destination("OneDrive started an upload without an upload URL; try again."))
            }
            409 => Err(Error::destination(format!("onedrive:/{folder}/{name} already exists; Nightjar never overwrites a backup."))),
            _ => Err(Self::fail(&format!("uploading {name}"), &GraphError::read(r))),
        }
    }

    /// Cancels an upload session, so the bytes sent so far do not linger in
    /// the user's OneDrive. Best effort, but not one-shot: a refused fragment
    /// often makes the server close the connection, and the pooled
    /// connection the DELETE would reuse is then gone, so a failed attempt is
    /// tried again. A session that still cannot be cancelled expires on its
    /// own (§2.4).
    fn cancel(&self, upload_url: &str) {
        let tries = self.cfg.retry.max_tries.clamp(1, 3);
        for attempt in 1..=tries {
            match self.plain.delete(upload_url).timeout(Duration::from_secs(30)).send() {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => return,
                Ok(r) if transient(r.status().as_u16()) && attempt < tries => self.pause("cancelling an upload", &r, attempt),
                Ok(r) => {
                    tracing::warn!("OneDrive did not cancel an upload session (HTTP {}); it expires on its own", r.status().as_u16());
                    return;
                }
                Err(e) if attempt < tries => {
                    tracing::debug!("cancelling an upload session: {}; trying again", e.without_url());
                    std::thread::sleep(self.cfg.retry.backoff(attempt));
                }
                Err(e) => tracing::warn!("OneDrive upload session not cancelled ({}); it expires on its own", e.without_url()),
            }
        }
    }

    /// Where the session stands (`GET uploadUrl`); `None` when it is gone.
    fn session_offset(&self, upload_url: &str) -> Result<Option<u64>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.plain.get(upload_url).timeout(Duration::from_secs(60)).send() {
                Ok(r) if r.status().as_u16() == 200 => {
                    let v: serde_json::Value = r.json().map_err(|e| network("reading upload status", e))?;
                    return Ok(Some(first_range(&v).unwrap_or(0)));
                }
                Ok(r) if matches!(r.status().as_u16(), 404 | 401) => return Ok(None),
                Ok(r) if transient(r.status().as_u16()) && attempt < self.cfg.retry.max_tries => self.pause("reading upload status", &r, attempt),
                Ok(r) => return Err(Self::fail("reading upload status", &GraphError::read(r))),
                Err(e) if attempt >= self.cfg.retry.max_tries => return Err(network("reading upload status", e.without_url())),
                Err(_) => std::thread::sleep(self.cfg.retry.backoff(attempt)),
            }
        }
    }

    /// Uploads `total` bytes from `src` to `folder/name` through an upload
    /// session (§2.4), resuming from `nextExpectedRanges` after a cut or a
    /// 5xx, restarting on an expired session, and checking size and
    /// quickXorHash of the committed item (a mismatch deletes it and uploads
    /// again). The file appears under `name` only when the last fragment
    /// commits (conflictBehavior=fail: never overwrites).
    ///
    /// # Errors
    /// Quota, a name that exists, repeated failures, or a checksum that never matches.
    pub fn upload(&self, folder: &str, name: &str, src: &mut dyn ReadAt, total: u64, hash: &str) -> Result<DriveItem> {
        self.upload_resumable(folder, name, src, total, hash, Session { resume_url: None, on_session: &mut |_| Ok(()) })
    }

    /// [`Graph::upload`] that can pick up a session an earlier process
    /// started (`resume_url`: its bytes up to `nextExpectedRanges` are kept;
    /// a session that is gone starts over), and hands every new session's
    /// URL to `on_session` before the first byte is sent, so it can be
    /// saved for a later resume (it is a bearer secret: keep it private).
    ///
    /// # Errors
    /// As [`Graph::upload`], and what `on_session` returns.
    pub fn upload_resumable(&self, folder: &str, name: &str, src: &mut dyn ReadAt, total: u64, hash: &str, session: Session<'_>) -> Result<DriveItem> {
        let Session { resume_url, on_session } = session;
        if total == 0 {
            return self.upload_empty(folder, name);
        }
        let mut restarts = 0;
        let mut bad_hash = 0;
        let mut resume_url = resume_url;
        loop {
            let (upload_url, start) = match resume_url.take() {
                Some(url) => match self.session_offset(&url)? {
                    Some(offset) => {
                        tracing::info!("OneDrive upload of {name}: resuming the saved session at byte {offset} of {total}");
                        (url, offset)
                    }
                    None => {
                        tracing::info!("OneDrive upload of {name}: the saved session is gone; starting over");
                        continue;
                    }
                },
                None => {
                    let url = self.create_session(folder, name, total)?;
                    if let Err(e) = on_session(&url) {
                        self.cancel(&url);
                        return Err(e);
                    }
                    (url, 0)
                }
            };
            let item = match self.send_fragments(&upload_url, src, total, name, start) {
                Ok(Step::Done(item)) => item,
                Ok(Step::Restart(why)) => {
                    self.cancel(&upload_url);
                    restarts += 1;
                    if restarts > 3 {
                        return Err(Error::destination(format!("The upload of {name} to OneDrive kept failing ({why}); try again later.")));
                    }
                    tracing::warn!("OneDrive upload of {name}: {why}; starting over");
                    continue;
                }
                Ok(Step::At(_)) => unreachable!("send_fragments ends with Done or Restart"),
                Err(e) => {
                    self.cancel(&upload_url);
                    return Err(e);
                }
            };
            let item = if item.quick_xor_hash().is_none() {
                std::thread::sleep(self.cfg.hash_recheck_delay);
                self.item_by_id(&item.id)?
            } else {
                item
            };
            let size_ok = item.size == total;
            let hash_ok = item.quick_xor_hash().is_none_or(|h| h == hash);
            if item.quick_xor_hash().is_none() {
                tracing::warn!("OneDrive did not report a quickXorHash for {name}; only its size was checked");
            }
            if size_ok && hash_ok {
                return Ok(item);
            }
            bad_hash += 1;
            tracing::warn!("OneDrive stored {name} with size {} / hash {:?}, expected {total} / {hash}; deleting and uploading again", item.size, item.quick_xor_hash());
            self.delete_id(&item.id, &format!("{folder}/{name}"))?;
            if bad_hash > 2 {
                return Err(Error::destination(format!("OneDrive stored {name} with a different size or checksum than was sent, three times; it was deleted. Try again later.")));
            }
        }
    }

    fn upload_empty(&self, folder: &str, name: &str) -> Result<DriveItem> {
        let url = format!("{}?@microsoft.graph.conflictBehavior=fail", self.path_url(&format!("{folder}/{name}"), "/content"));
        let r = self.send("uploading", &|c| c.put(&url).header("content-type", "application/octet-stream").body(Vec::new()))?;
        match r.status().as_u16() {
            200 | 201 => r.json().map_err(|e| network("uploading", e)),
            409 => Err(Error::destination(format!("onedrive:/{folder}/{name} already exists; Nightjar never overwrites a backup."))),
            _ => Err(Self::fail(&format!("uploading {name}"), &GraphError::read(r))),
        }
    }

    fn send_fragments(&self, upload_url: &str, src: &mut dyn ReadAt, total: u64, name: &str, start: u64) -> Result<Step> {
        let frag = self.cfg.fragment() as u64;
        let mut offset = start;
        let mut failures = 0u32;
        loop {
            let len = frag.min(total - offset);
            let mut buf = vec![0u8; usize::try_from(len).expect("fragment fits in memory")];
            src.read_at(offset, &mut buf)
                .map_err(|e| Error::destination(format!("The staged copy of {name} could not be re-read ({e}); nothing was saved.")).with_source(e))?;
            let end = offset + len - 1;
            let res = self
                .plain
                .put(upload_url)
                .header("content-range", format!("bytes {offset}-{end}/{total}"))
                .timeout(Duration::from_secs(600))
                .body(buf)
                .send();
            let step = match res {
                Err(e) => {
                    // The upload URL is a bearer secret: keep it out of messages and logs.
                    let e = e.without_url();
                    failures += 1;
                    tracing::warn!("OneDrive upload of {name}: connection failed at byte {offset} ({e}); resuming");
                    if failures >= self.cfg.retry.max_tries {
                        return Err(network("uploading", e));
                    }
                    std::thread::sleep(self.cfg.retry.backoff(failures));
                    self.resume(upload_url)?
                }
                Ok(r) => match r.status().as_u16() {
                    200 | 201 => Step::Done(r.json().map_err(|e| network("finishing an upload", e))?),
                    202 => {
                        failures = 0;
                        let v: serde_json::Value = r.json().map_err(|e| network("uploading", e))?;
                        Step::At(first_range(&v).unwrap_or(offset + len))
                    }
                    416 => self.resume(upload_url)?,
                    404 => Step::Restart("the upload session expired".into()),
                    401 => Step::Restart("the upload session's authorisation expired".into()),
                    s if transient(s) => {
                        failures += 1;
                        if failures >= self.cfg.retry.max_tries {
                            return Err(Self::fail(&format!("uploading {name}"), &GraphError::read(r)));
                        }
                        self.pause("uploading", &r, failures);
                        self.resume(upload_url)?
                    }
                    409 => return Err(Error::destination(format!("{name} already exists in OneDrive; Nightjar never overwrites a backup."))),
                    _ => return Err(Self::fail(&format!("uploading {name}"), &GraphError::read(r))),
                },
            };
            match step {
                Step::At(next) if next <= total => offset = next,
                Step::At(next) => return Err(Error::destination(format!("OneDrive expects byte {next} of {name}, which has only {total}; try again."))),
                other => return Ok(other),
            }
        }
    }

    fn resume(&self, upload_url: &str) -> Result<Step> {
        Ok(match self.session_offset(upload_url)? {
            Some(o) => Step::At(o),
            None => Step::Restart("the upload session was not found".into()),
        })
    }
}

fn first_range(v: &serde_json::Value) -> Option<u64> {
    v["nextExpectedRanges"].as_array()?.first()?.as_str()?.split('-').next()?.parse().ok()
}

/// How [`Graph::upload_resumable`] starts: from a saved session, and who
/// is told about a new one.
pub struct Session<'a> {
    /// A session an earlier process started (its upload URL).
    pub resume_url: Option<String>,
    /// Gets every new session's upload URL before the first byte is sent.
    pub on_session: &'a mut dyn FnMut(&str) -> Result<()>,
}

/// A download in progress (see [`Graph::open`]).
pub struct Download {
    graph: Arc<Graph>,
    id: String,
    size: u64,
    expected_hash: Option<String>,
    offset: u64,
    hash: QuickXorHash,
    body: Option<Response>,
    failures: u32,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("id", &self.id).field("offset", &self.offset).field("size", &self.size).finish_non_exhaustive()
    }
}

impl Download {
    fn connect(&mut self) -> io::Result<()> {
        let url = self.graph.download_url(&self.id).map_err(|e| io::Error::other(e.to_string()))?;
        let mut req = self.graph.plain.get(&url);
        if self.offset > 0 {
            req = req.header("range", format!("bytes={}-", self.offset));
        }
        // The download URL is pre-authenticated: keep it out of messages.
        let r = req.send().map_err(|e| io::Error::other(e.without_url()))?;
        match r.status().as_u16() {
            200 if self.offset > 0 => {
                // Range ignored: restart the hash from the beginning and skip what we have.
                let mut r = r;
                io::copy(&mut (&mut r).take(self.offset), &mut io::sink())?;
                self.body = Some(r);
            }
            200 | 206 => self.body = Some(r),
            s => return Err(io::Error::other(format!("HTTP {s} from the download host"))),
        }
        Ok(())
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                if let Some(h) = self.expected_hash.take()
                    && self.hash.base64() != h {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "the downloaded bytes do not match OneDrive's quickXorHash"));
                    }
                return Ok(0);
            }
            if self.body.is_none()
                && let Err(e) = self.connect() {
                    self.failures += 1;
                    if self.failures > self.graph.cfg.retry.max_tries {
                        return Err(e);
                    }
                    std::thread::sleep(self.graph.cfg.retry.backoff(self.failures));
                    continue;
                }
            let want = usize::try_from((self.size - self.offset).min(buf.len() as u64)).unwrap_or(buf.len());
            let res = self.body.as_mut().expect("connected").read(&mut buf[..want]);
            match res {
                Ok(n) if n > 0 => {
                    self.hash.update(&buf[..n]);
                    self.offset += n as u64;
                    self.failures = 0;
                    return Ok(n);
                }
                Ok(_) | Err(_) => {
                    // Cut short: resume from the offset with a fresh URL.
                    self.body = None;
                    self.failures += 1;
                    if self.failures > self.graph.cfg.retry.max_tries {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the download kept being cut short"));
                    }
                    std::thread::sleep(self.graph.cfg.retry.backoff(self.failures));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(encode_path("/Backups/my app/#1/"), "Backups/my%20app/%231");
        assert_eq!(encode_path(""), "");
    }

    #[test]
    fn error_bodies_in_both_spellings() {
        let v: ErrorBody = serde_json::from_str(r#"{"error":{"code":"invalidRange","innererror":{"code":"fragmentOverlap"}}}"#).unwrap();
        assert_eq!(v.error.unwrap().inner.unwrap().code.as_deref(), Some("fragmentOverlap"));
        let v: ErrorBody = serde_json::from_str(r#"{"error":{"code":"a","innerError":{"code":"b","innerError":{"code":"quota"}}}}"#).unwrap();
        assert_eq!(v.error.unwrap().inner.unwrap().inner.unwrap().code.as_deref(), Some("quota"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy { max_tries: 8, base: Duration::from_millis(100), cap: Duration::from_secs(1), max_retry_after: Duration::from_secs(5) };
        assert!(p.backoff(1) <= Duration::from_millis(100));
        assert!(p.backoff(10) <= Duration::from_secs(1));
        assert!(p.backoff(10) >= Duration::from_millis(500));
    }

    use crate::config::RetryPolicy;
}
