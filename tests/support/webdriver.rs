//! A small blocking W3C WebDriver client over `std::net::TcpStream`, enough to
//! drive the desktop app through `tauri-driver` (which forwards to
//! `WebKitWebDriver`): sessions, CSS lookups, clicks, typing, text, attributes,
//! synchronous scripts and screenshots.
//!
//! Lookups that wait ([`Session::wait_for`], [`Session::wait_text`]) find the
//! element again on every poll, so a view that re-renders does not leave the
//! test holding a stale element.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C element reference key.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error reply (or a transport failure, with `error` = `"transport"`).
#[derive(Debug, Clone)]
pub struct WdError {
    /// The W3C error code, e.g. `no such element`.
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// A WebDriver server address such as `127.0.0.1:4444`.
#[derive(Debug, Clone)]
pub struct Driver {
    addr: String,
}

impl Driver {
    /// `url` is `http://HOST:PORT` (a trailing `/` is fine).
    #[must_use]
    pub fn new(url: &str) -> Driver {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        Driver { addr }
    }

    /// One HTTP request; returns the reply's `value`.
    ///
    /// # Errors
    /// The driver's error reply, or a transport error.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        // tauri-driver forwards each request to WebKitWebDriver over a pooled
        // keep-alive connection; when WebKitWebDriver has just closed that
        // connection the request is lost (tauri-driver logs "connection reset
        // by peer") and we get an empty reply. Nothing reached the browser,
        // so sending it again is safe.
        let mut attempt = 0;
        loop {
            match self.call_once(method, path, body) {
                Err(e) if e.error == "transport" && e.message.ends_with(EMPTY_REPLY) && attempt < 3 => {
                    attempt += 1;
                    eprintln!("webdriver: {method} {path}: empty reply from the driver, sending it again ({attempt})");
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn call_once(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        let transport = |e: std::io::Error| WdError { error: "transport".into(), message: format!("{method} {path}: {e}") };
        let mut stream = TcpStream::connect(&self.addr).map_err(transport)?;
        stream.set_read_timeout(Some(Duration::from_secs(180))).map_err(transport)?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n", self.addr);
        if body.is_some() {
            req.push_str(&format!("Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n", payload.len()));
        } else if method == "POST" {
            req.push_str("Content-Length: 0\r\n");
        }
        req.push_str("\r\n");
        req.push_str(&payload);
        stream.write_all(req.as_bytes()).map_err(transport)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(transport)?;
        let (status, body) = parse_response(&raw).map_err(|m| WdError { error: "transport".into(), message: format!("{method} {path}: {m}") })?;
        let v: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| WdError {
                error: "transport".into(),
                message: format!("{method} {path}: reply is not JSON ({e}): {}", String::from_utf8_lossy(&body)),
            })?
        };
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            let s = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            return Err(WdError { error: if s("error").is_empty() { format!("HTTP {status}") } else { s("error") }, message: s("message") });
        }
        Ok(value)
    }

    /// True once something accepts connections on the driver's port.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.call("GET", "/status", None).is_ok()
    }

    /// Starts the app at `application` (with `args`) in a new session.
    ///
    /// # Panics
    /// If the driver refuses (the message says why).
    #[must_use]
    pub fn session(&self, application: &Path, args: &[&str]) -> Session {
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": application, "args": args }}}});
        let v = self
            .call("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("tauri-driver at {} could not start {}: {e}", self.addr, application.display()));
        let id = v.get("sessionId").and_then(Value::as_str).unwrap_or_else(|| panic!("no sessionId in {v}")).to_string();
        Session { driver: self.clone(), id, ended: false }
    }
}

const EMPTY_REPLY: &str = "empty reply";

fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    if raw.is_empty() {
        return Err(EMPTY_REPLY.into());
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk size")?;
            let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size {
                return Err("truncated chunk".into());
            }
            out.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or(&[]);
        }
        body = out;
    }
    Ok((status, body))
}

/// One app session. Dropping it ends the session (which closes the app).
pub struct Session {
    driver: Driver,
    id: String,
    ended: bool,
}

/// An element found in a [`Session`].
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Element {
    /// The element as a script argument.
    #[must_use]
    pub fn reference(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

impl Session {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// A call within this session.
    ///
    /// # Errors
    /// The driver's error reply.
    pub fn call(&self, method: &str, rest: &str, body: Option<&Value>) -> Result<Value, WdError> {
        self.driver.call(method, &self.path(rest), body)
    }

    #[track_caller]
    fn must(&self, method: &str, rest: &str, body: Option<&Value>) -> Value {
        self.call(method, rest, body).unwrap_or_else(|e| panic!("WebDriver {method} {rest}: {e}"))
    }

    /// The first element matching `css`, if any.
    #[must_use]
    pub fn find(&self, css: &str) -> Option<Element> {
        let v = self.call("POST", "/element", Some(&json!({"using": "css selector", "value": css}))).ok()?;
        v.get(ELEMENT_KEY).and_then(Value::as_str).map(|id| Element { id: id.to_string() })
    }

    /// Every element matching `css`.
    #[must_use]
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self.call("POST", "/elements", Some(&json!({"using": "css selector", "value": css}))).unwrap_or(Value::Null);
        v.as_array()
            .map(|a| a.iter().filter_map(|e| e.get(ELEMENT_KEY).and_then(Value::as_str)).map(|id| Element { id: id.to_string() }).collect())
            .unwrap_or_default()
    }

    /// The `data-testid` selector.
    #[must_use]
    pub fn tid(id: &str) -> String {
        format!("[data-testid=\"{id}\"]")
    }

    /// Waits (polling) for an element matching `css` that is displayed.
    #[track_caller]
    #[must_use]
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        self.poll(&format!("`{css}` to be displayed"), timeout, || self.find(css).filter(|e| self.displayed(e)))
    }

    /// Waits until `pred` holds for the text of the element matching `css`;
    /// returns that text.
    #[track_caller]
    pub fn wait_text(&self, css: &str, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        let found = self.poll_opt(timeout, || {
            let e = self.find(css)?;
            let t = self.call("GET", &format!("/element/{}/text", e.id), None).ok()?.as_str()?.to_string();
            let ok = pred(&t);
            last = Some(t.clone());
            ok.then_some(t)
        });
        found.unwrap_or_else(|| {
            panic!("timed out after {timeout:?} waiting for `{css}` to show {what}; it last showed: {last:?}\n{}\npage text: {}", self.page_state(), self.body_text())
        })
    }

    /// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`.
    #[track_caller]
    pub fn poll<T>(&self, what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
        self.poll_opt(timeout, f)
            .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}\n{}\npage text: {}", self.page_state(), self.body_text()))
    }

    fn poll_opt<T>(&self, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The whole page's visible text (for failure messages).
    #[must_use]
    /// What the page text does not tell, for a failure's message: the
    /// focused element, the disabled buttons and the controls the browser
    /// finds invalid (which stop a form's submit without a word).
    pub fn page_state(&self) -> String {
        let script = "const id = (e) => e.getAttribute('data-testid') || e.id || e.tagName.toLowerCase(); \
                      const a = document.activeElement; \
                      return `focused: ${a ? id(a) : 'none'}; disabled: ${[...document.querySelectorAll('button:disabled')].filter(b => b.offsetParent).map(id).join(', ') || 'none'}; \
                      invalid: ${[...document.querySelectorAll(':invalid')].filter(e => e.tagName !== 'FORM' && e.tagName !== 'FIELDSET').map(id).join(', ') || 'none'}`;";
        self.call("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "page state: <unavailable>".into())
    }

    pub fn body_text(&self) -> String {
        self.find("body")
            .and_then(|b| self.call("GET", &format!("/element/{}/text", b.id), None).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "<unavailable>".into())
    }

    /// Clicks `e`.
    #[track_caller]
    pub fn click(&self, e: &Element) {
        self.must("POST", &format!("/element/{}/click", e.id), Some(&json!({})));
    }

    /// Waits for `css` and clicks it, as a user would: scrolled into the
    /// middle of the view first, and tried again while something else covers
    /// it (a toast, a sticky header) or the view re-renders under it.
    ///
    /// Under load WebKitWebDriver has been seen to report a click that never
    /// reached the element (the form's Save: no submit, the focus on the
    /// page behind it). So a capturing listener notes where each click
    /// landed, and a click that reached nothing, or something that is not
    /// the element, is sent again (said on stderr); a click that reached
    /// the element is never repeated.
    #[track_caller]
    pub fn click_css(&self, css: &str, timeout: Duration) {
        const NOTE: &str = "if (!window.__njClickNote) { window.__njClickNote = true; \
                            document.addEventListener('click', (e) => { if (!window.__njClicked) window.__njClicked = e.target; }, true); } \
                            window.__njClicked = null; arguments[0].scrollIntoView({block: 'center', inline: 'center'});";
        // "ok": the element (or a child) got it; "reloaded": the page changed, so it did something.
        const LANDED: &str = "if (!window.__njClickNote) return 'reloaded'; const t = window.__njClicked; const e = arguments[0]; \
                              if (!t) return e.disabled ? 'ok' : 'nothing'; if (e === t || e.contains(t)) return 'ok'; \
                              return 'elsewhere: ' + ((t.getAttribute && (t.getAttribute('data-testid') || t.id)) || t.tagName);";
        let start = Instant::now();
        let mut resent = 0;
        loop {
            let e = self.wait_for(css, timeout);
            let _ = self.call("POST", "/execute/sync", Some(&json!({"script": NOTE, "args": [e.reference()]})));
            match self.call("POST", &format!("/element/{}/click", e.id), Some(&json!({}))) {
                Ok(_) => {
                    // The events are handled in order: a script sent after the
                    // click runs after it; still, give a slow page a moment.
                    let until = Instant::now() + Duration::from_secs(2);
                    let landed = loop {
                        let l = match self.call("POST", "/execute/sync", Some(&json!({"script": LANDED, "args": [e.reference()]}))) {
                            Ok(v) => v.as_str().unwrap_or("ok").to_string(),
                            // The click took the element away (a re-render): it landed.
                            Err(_) => "ok".to_string(),
                        };
                        if l != "nothing" || Instant::now() >= until {
                            break l;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    };
                    if landed == "ok" || landed == "reloaded" || resent >= 3 || start.elapsed() >= timeout {
                        return;
                    }
                    resent += 1;
                    eprintln!("webdriver: the click on `{css}` reached {landed}; clicking again ({resent})");
                }
                Err(err)
                    if matches!(err.error.as_str(), "element click intercepted" | "stale element reference" | "element not interactable")
                        && start.elapsed() < timeout =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => panic!("WebDriver click on `{css}`: {err}\npage text: {}", self.body_text()),
            }
        }
    }

    /// Clears `e` (an input) and types `text` into it.
    #[track_caller]
    pub fn fill(&self, e: &Element, text: &str) {
        self.must("POST", &format!("/element/{}/clear", e.id), Some(&json!({})));
        if !text.is_empty() {
            self.must("POST", &format!("/element/{}/value", e.id), Some(&json!({"text": text})));
        }
    }

    /// `e`'s visible text.
    #[track_caller]
    #[must_use]
    pub fn text(&self, e: &Element) -> String {
        self.must("GET", &format!("/element/{}/text", e.id), None).as_str().unwrap_or_default().to_string()
    }

    /// `e`'s DOM property `name` (e.g. `value`, `checked`, `disabled`).
    #[track_caller]
    #[must_use]
    pub fn property(&self, e: &Element, name: &str) -> Value {
        self.must("GET", &format!("/element/{}/property/{name}", e.id), None)
    }

    /// `e`'s attribute `name`, if set.
    #[track_caller]
    #[must_use]
    pub fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.must("GET", &format!("/element/{}/attribute/{name}", e.id), None).as_str().map(str::to_string)
    }

    /// True if `e` is displayed (false if it went stale).
    #[must_use]
    pub fn displayed(&self, e: &Element) -> bool {
        self.call("GET", &format!("/element/{}/displayed", e.id), None).ok().and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    #[track_caller]
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.must("POST", "/execute/sync", Some(&json!({"script": script, "args": args})))
    }

    /// Presses the keys of `text` one after another on whatever has the
    /// focus, as a keyboard does (WebDriver actions): each char is pressed
    /// and let go; [`KEY_TAB`], [`KEY_ENTER`] and the like are keys.
    #[track_caller]
    pub fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.must("POST", "/actions", Some(&json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})));
        let _ = self.call("DELETE", "/actions", None);
    }

    /// Runs `script` asynchronously: its last argument is the callback that
    /// returns the result (WebDriver "execute async").
    #[track_caller]
    pub fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        self.must("POST", "/execute/async", Some(&json!({"script": script, "args": args})))
    }

    /// A PNG of the page, after a short settle (a screenshot taken right
    /// after a DOM change can show the previous frame).
    #[track_caller]
    #[must_use]
    pub fn screenshot(&self) -> Vec<u8> {
        std::thread::sleep(Duration::from_millis(500));
        let v = self.must("GET", "/screenshot", None);
        base64_decode(v.as_str().expect("screenshot is a base64 string"))
    }

    /// Ends the session (the app is closed).
    pub fn end(mut self) {
        self.ended = true;
        let _ = self.call("DELETE", "", None);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.call("DELETE", "", None);
        }
    }
}

/// The Tab key, for [`Session::keys`].
pub const KEY_TAB: &str = "\u{E004}";
/// The Enter key, for [`Session::keys`].
pub const KEY_ENTER: &str = "\u{E007}";

/// Standard base64 (with or without padding, whitespace ignored).
#[must_use]
pub fn base64_decode(text: &str) -> Vec<u8> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(base64_decode("aGVsbG8="), b"hello");
        assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
        assert_eq!(base64_decode("aGk"), b"hi");
    }

    #[test]
    fn chunked_and_plain_replies_parse() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), (200, b"{}".to_vec()));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (404, b"{\"a\":1}".to_vec()));
    }
}
