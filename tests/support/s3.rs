//! A real S3-compatible server for the tests: moto's server mode
//! (`support/moto_s3.py`, installed by scripts/install-deps.sh), one per
//! test on a free port, stopped when dropped. And [`CutProxy`], a TCP
//! proxy in front of it that can cut every connection mid-upload.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A running moto S3 server with its buckets.
pub struct S3Server {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// An access key the server accepts.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
}

/// The bucket every server starts with.
pub const BUCKET: &str = "nightjar-test";

impl S3Server {
    /// A server that accepts any signed request, with [`BUCKET`].
    #[must_use]
    pub fn start() -> Self {
        Self::spawn(false, &[BUCKET])
    }

    /// A server that checks signatures: only [`S3Server::access_key`] /
    /// [`S3Server::secret_key`] are accepted (like AWS: 403 otherwise).
    #[must_use]
    pub fn start_with_auth() -> Self {
        Self::spawn(true, &[BUCKET])
    }

    fn spawn(auth: bool, buckets: &[&str]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/moto_s3.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script);
        if auth {
            cmd.arg("--auth");
        }
        let mut child = cmd
            .args(buckets)
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 {script}: {e} (scripts/install-deps.sh installs python3 and moto)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("moto's first line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("moto did not start ({e}): {line:?}; is moto installed (scripts/install-deps.sh)?"));
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            port: u16::try_from(v["port"].as_u64().expect("port")).expect("a port"),
            access_key: v["access_key"].as_str().expect("key").to_string(),
            secret_key: v["secret_key"].as_str().expect("secret").to_string(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[s3]` section that reaches this server.
    #[must_use]
    pub fn settings(&self) -> nightjar_core::config::S3Settings {
        nightjar_core::config::S3Settings { endpoint: Some(self.endpoint()), path_style: true, ..Default::default() }
    }

    /// The `[s3]` section as TOML.
    #[must_use]
    pub fn toml(&self) -> String {
        format!("[s3]\nendpoint = \"{}\"\npath_style = true\n", self.endpoint())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // EOF on its stdin stops it; kill as a fallback.
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy to `127.0.0.1:port` that can cut every open connection
/// after a number of bytes up (then refusing new connections until
/// [`CutProxy::heal`]: a server gone away) or down (once: a download cut).
pub struct CutProxy {
    /// The proxy's port.
    pub port: u16,
    state: Arc<ProxyState>,
}

struct ProxyState {
    /// Bytes client → server and server → client since the start.
    up: AtomicU64,
    down: AtomicU64,
    /// Cut when `up` / `down` pass these (u64::MAX: never).
    cut_up_at: AtomicU64,
    cut_down_at: AtomicU64,
    refusing: AtomicBool,
    cuts: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
}

impl ProxyState {
    fn cut_all(&self) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl CutProxy {
    /// A proxy in front of `127.0.0.1:upstream`.
    #[must_use]
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(ProxyState {
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            cut_up_at: AtomicU64::new(u64::MAX),
            cut_down_at: AtomicU64::new(u64::MAX),
            refusing: AtomicBool::new(false),
            cuts: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if st.refusing.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                st.conns.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (a, b) = (st.clone(), st.clone());
                std::thread::spawn(move || pipe(client, server, &a, true));
                std::thread::spawn(move || pipe(s2, c2, &b, false));
            }
        });
        Self { port, state }
    }

    /// Cuts every connection once `bytes` more have gone up, and refuses
    /// new ones until [`CutProxy::heal`].
    pub fn cut_after(&self, bytes: u64) {
        self.state.cut_up_at.store(self.state.up.load(Ordering::SeqCst) + bytes, Ordering::SeqCst);
    }

    /// Cuts every connection once `bytes` more have come down, once.
    pub fn cut_download_after(&self, bytes: u64) {
        self.state.cut_down_at.store(self.state.down.load(Ordering::SeqCst) + bytes, Ordering::SeqCst);
    }

    /// How many times connections were cut.
    #[must_use]
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.state.cut_up_at.store(u64::MAX, Ordering::SeqCst);
        self.state.refusing.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, st: &ProxyState, upward: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (count, limit) = if upward { (&st.up, &st.cut_up_at) } else { (&st.down, &st.cut_down_at) };
        let total = count.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if total >= limit.load(Ordering::SeqCst) {
            if upward {
                st.refusing.store(true, Ordering::SeqCst);
            } else {
                limit.store(u64::MAX, Ordering::SeqCst);
            }
            st.cut_all();
            break;
        }
        if upward && st.refusing.load(Ordering::SeqCst) {
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
