//! `nightjar-fake-graph`: runs the fake identity platform and Graph on
//! loopback ports so `nightjar` can be pointed at it by hand:
//!
//! ```text
//! nightjar-fake-graph [--api-port N] [--content-port N]
//! ```
//! then in the config: `login_base_url = <printed>`, `graph_base_url = <printed>`.

use std::net::SocketAddr;

use nightjar_onedrive_fake::{FakeGraph, Options};

fn main() {
    let mut api = 0u16;
    let mut content = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = || -> u16 { 0 };
        match a.as_str() {
            "--api-port" => api = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(v),
            "--content-port" => content = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(v),
            "-h" | "--help" => {
                println!("usage: nightjar-fake-graph [--api-port N] [--content-port N]");
                return;
            }
            other => {
                eprintln!("nightjar-fake-graph: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let opts = Options { device_interval: 2, ..Options::default() };
    let fake = match FakeGraph::bind(opts, SocketAddr::from(([127, 0, 0, 1], api)), SocketAddr::from(([127, 0, 0, 1], content))) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nightjar-fake-graph: cannot bind: {e}");
            std::process::exit(1);
        }
    };
    println!("login_base_url = \"{}\"", fake.login_base());
    println!("graph_base_url = \"{}\"", fake.graph_base());
    println!("content host   = {}", fake.content_base());
    println!("Sign-in is automatic (authorize redirects at once; device codes pass after 2 polls). Ctrl-C stops.");
    loop {
        std::thread::park();
    }
}
