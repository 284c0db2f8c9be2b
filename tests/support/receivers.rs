//! Real receivers for alerts, on 127.0.0.1: an HTTP server (webhooks,
//! pings, a Telegram Bot API stand-in) and an SMTP server, each recording
//! what it received. Plain std networking, one thread per connection.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::wait::until;

/// One HTTP request received.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, POST, ...
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl Request {
    /// The body parsed as JSON.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{} {}: not JSON ({e}): {}", self.method, self.path, self.body))
    }
}

#[derive(Default)]
struct HttpState {
    received: Vec<Request>,
    /// Requests waiting for the gate to open (their connections held open).
    waiting: usize,
    /// While false, every request waits before it is answered.
    open: bool,
}

/// An HTTP receiver answering 200 to everything (once its gate is open).
pub struct HttpReceiver {
    addr: SocketAddr,
    state: Arc<(Mutex<HttpState>, Condvar)>,
}

impl HttpReceiver {
    /// Listens on a free port and answers at once.
    #[must_use]
    pub fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").expect("bind"), true)
    }

    /// Listens on `port` (a receiver that was down comes up).
    #[must_use]
    pub fn start_on(port: u16) -> Self {
        Self::serve(TcpListener::bind(("127.0.0.1", port)).expect("bind the reserved port"), true)
    }

    /// Listens on a free port and holds every request until [`HttpReceiver::open`]
    /// (a receiver that does not answer).
    #[must_use]
    pub fn start_held() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").expect("bind"), false)
    }

    fn serve(listener: TcpListener, open: bool) -> Self {
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new((Mutex::new(HttpState { open, ..Default::default() }), Condvar::new()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = handle_http(conn, &st);
                });
            }
        });
        HttpReceiver { addr, state }
    }

    /// `http://127.0.0.1:PORT{path}`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Lets held requests (and later ones) be answered.
    pub fn open(&self) {
        self.state.0.lock().unwrap().open = true;
        self.state.1.notify_all();
    }

    /// Requests held unanswered right now.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.state.0.lock().unwrap().waiting
    }

    /// Everything received so far (held requests included).
    #[must_use]
    pub fn received(&self) -> Vec<Request> {
        self.state.0.lock().unwrap().received.clone()
    }

    /// Requests to paths starting with `prefix`.
    #[must_use]
    pub fn to(&self, prefix: &str) -> Vec<Request> {
        self.received().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }

    /// Waits until `n` requests went to paths starting with `prefix`.
    pub fn wait_for(&self, prefix: &str, n: usize, timeout: Duration) -> Vec<Request> {
        until(&format!("{n} request(s) to {prefix}"), timeout, || {
            let r = self.to(prefix);
            (r.len() >= n).then_some(r)
        })
    }
}

/// A free port nothing listens on (for a receiver that is down).
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn handle_http(conn: TcpStream, st: &(Mutex<HttpState>, Condvar)) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let req = Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
    {
        let mut s = st.0.lock().unwrap();
        s.received.push(req);
        s.waiting += 1;
        while !s.open {
            s = st.1.wait(s).unwrap();
        }
        s.waiting -= 1;
    }
    let mut conn = conn;
    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}")?;
    conn.flush()
}

/// One message an SMTP server received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// MAIL FROM.
    pub from: String,
    /// RCPT TO, each.
    pub to: Vec<String>,
    /// The message (headers and body) as sent.
    pub data: String,
}

impl Mail {
    /// The value of header `name` (first one, unfolded).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
    }

    /// The body (after the headers).
    #[must_use]
    pub fn body(&self) -> String {
        self.data.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
    }
}

/// A plain SMTP server (a local relay: no TLS, no login) that keeps every message.
pub struct SmtpSink {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Listens on a free port.
    #[must_use]
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let m = mails.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let m = m.clone();
                std::thread::spawn(move || {
                    let _ = handle_smtp(conn, &m);
                });
            }
        });
        SmtpSink { addr, mails }
    }

    /// `smtp://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The messages received.
    #[must_use]
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn handle_smtp(conn: TcpStream, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    out.write_all(b"220 sink.test ESMTP ready\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            out.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?;
        } else if upper.starts_with("HELO") {
            out.write_all(b"250 sink.test\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().trim_start_matches('<').split('>').next().unwrap_or("").to_string();
            to.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_start_matches('<').split('>').next().unwrap_or("").to_string());
            out.write_all(b"250 OK\r\n")?;
        } else if upper == "DATA" {
            out.write_all(b"354 end with .\r\n")?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l)? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l));
            }
            mails.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
            out.write_all(b"250 OK queued\r\n")?;
        } else if upper == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            out.write_all(b"250 OK\r\n")?;
        } else {
            out.write_all(b"502 not implemented\r\n")?;
        }
    }
}
