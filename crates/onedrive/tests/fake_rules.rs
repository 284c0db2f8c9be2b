//! The fake enforces what GRAPH.md says Graph enforces, so a client that
//! passes against it does not pass by accident.

use std::time::Duration;

use nightjar_onedrive_fake::{FakeGraph, Options};
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn http() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn access_token(fake: &FakeGraph) -> String {
    let rt = fake.issue_refresh_token();
    let v: Value = http()
        .post(format!("{}/common/oauth2/v2.0/token", fake.login_base()))
        .form(&[("client_id", "c"), ("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

fn session(fake: &FakeGraph, token: &str, path: &str, size: u64) -> String {
    let r = http()
        .post(format!("{}/me/drive/root:/{path}:/createUploadSession", fake.graph_base()))
        .bearer_auth(token)
        .json(&json!({"item": {"@microsoft.graph.conflictBehavior": "fail", "fileSize": size}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().unwrap();
    let url = v["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&fake.content_base()), "the upload URL is on the other host");
    assert_eq!(v["nextExpectedRanges"][0], "0-");
    url
}

fn put(url: &str, range: &str, body: Vec<u8>) -> (u16, Value) {
    let r = http().put(url).header("content-range", range).body(body).send().unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

const UNIT: usize = 327_680;

#[test]
fn upload_sessions_follow_the_documented_rules() {
    let fake = FakeGraph::start();
    let t = access_token(&fake);
    fake.mkdir("/B");
    let total = (UNIT * 2 + 10) as u64;
    let url = session(&fake, &t, "B/f.bin", total);

    // The bearer token must not go to the upload URL.
    let r = http().put(&url).bearer_auth(&t).header("content-range", format!("bytes 0-{}/{total}", UNIT - 1)).body(vec![0u8; UNIT]).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // An unknown total is not documented: refused.
    assert_eq!(put(&url, &format!("bytes 0-{}/*", UNIT - 1), vec![0; UNIT]).0, 400);
    // A different total than fileSize.
    let (s, v) = put(&url, &format!("bytes 0-{}/{}", UNIT - 1, total + 1), vec![0; UNIT]);
    assert_eq!((s, v["error"]["innerError"]["code"].as_str()), (400, Some("fragmentLengthMismatch")));
    // A non-final fragment that is not a multiple of 320 KiB.
    assert_eq!(put(&url, "bytes 0-999/655370", vec![0; 1000]).0, 400);
    // Out of order.
    let (s, v) = put(&url, &format!("bytes {UNIT}-{}/{total}", 2 * UNIT - 1), vec![0; UNIT]);
    assert_eq!((s, v["error"]["innerError"]["code"].as_str()), (400, Some("fragmentOutOfOrder")));
    // Content-Length must match the range.
    assert_eq!(put(&url, &format!("bytes 0-{}/{total}", UNIT - 1), vec![0; UNIT - 1]).0, 400);
    // In order: 202 with the next range.
    let (s, v) = put(&url, &format!("bytes 0-{}/{total}", UNIT - 1), vec![1; UNIT]);
    assert_eq!((s, v["nextExpectedRanges"][0].as_str()), (202, Some(format!("{UNIT}-").as_str())));
    // The same fragment again overlaps.
    let (s, v) = put(&url, &format!("bytes 0-{}/{total}", UNIT - 1), vec![1; UNIT]);
    assert_eq!((s, v["error"]["innerError"]["code"].as_str()), (416, Some("fragmentOverlap")));
    // Status.
    let v: Value = http().get(&url).send().unwrap().json().unwrap();
    assert_eq!(v["nextExpectedRanges"][0], format!("{UNIT}-"));
    // Not visible before the last byte.
    assert_eq!(fake.names("/B"), Vec::<String>::new());
    let (s, _) = put(&url, &format!("bytes {UNIT}-{}/{total}", 2 * UNIT - 1), vec![2; UNIT]);
    assert_eq!(s, 202);
    let (s, v) = put(&url, &format!("bytes {}-{}/{total}", 2 * UNIT, total - 1), vec![3; 10]);
    assert_eq!(s, 201);
    assert_eq!(v["size"], total);
    assert_eq!(v["file"]["hashes"]["quickXorHash"].as_str().unwrap().len(), 28);
    assert_eq!(fake.names("/B"), vec!["f.bin"]);
    // The session is gone once committed.
    assert_eq!(http().get(&url).send().unwrap().status().as_u16(), 404);

    // conflictBehavior=fail: a second upload of the same name fails at commit.
    let url2 = session(&fake, &t, "B/f.bin", 5);
    let (s, v) = put(&url2, "bytes 0-4/5", vec![9; 5]);
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("nameAlreadyExists")));
    // Cancel: 204, then 404 "The upload session was not found".
    assert_eq!(http().delete(&url2).send().unwrap().status().as_u16(), 204);
    let r = http().put(&url2).header("content-range", "bytes 0-4/5").body(vec![9; 5]).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().unwrap().contains("The upload session was not found"));
}

#[test]
fn graph_requires_a_valid_bearer_and_the_content_host_refuses_one() {
    let fake = FakeGraph::start();
    let t = access_token(&fake);
    fake.put_file("/B/x.bin", b"hello");
    assert_eq!(http().get(format!("{}/me/drive/root:/B", fake.graph_base())).send().unwrap().status().as_u16(), 401);
    let r = http().get(format!("{}/me/drive/root:/B/x.bin:/content", fake.graph_base())).bearer_auth(&t).send().unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&fake.content_base()));
    assert_eq!(http().get(&loc).bearer_auth(&t).send().unwrap().status().as_u16(), 401);
    let r = http().get(&loc).header("range", "bytes=1-3").send().unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 1-3/5");
    assert_eq!(r.bytes().unwrap().as_ref(), b"ell");
    // An expired token: 401 naming expired_token.
    fake.expire_access_tokens();
    let r = http().get(format!("{}/me", fake.graph_base())).bearer_auth(&t).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("expired_token"));
}

#[test]
fn simple_put_limit_missing_parents_paging_and_session_expiry() {
    let fake = FakeGraph::start_with(Options { session_ttl: Duration::from_millis(300), ..Options::default() });
    let t = access_token(&fake);
    let r = http().put(format!("{}/me/drive/root:/big.bin:/content", fake.graph_base())).bearer_auth(&t).body(vec![0u8; 4 * 1024 * 1024 + 1]).send().unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let r = http()
        .post(format!("{}/me/drive/root:/no/such/f.bin:/createUploadSession", fake.graph_base()))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "parents are not created implicitly");
    for i in 0..201 {
        fake.put_file(&format!("/P/f{i:03}"), b"");
    }
    let v: Value = http().get(format!("{}/me/drive/root:/P:/children", fake.graph_base())).bearer_auth(&t).send().unwrap().json().unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 200, "default page size");
    let next = v["@odata.nextLink"].as_str().unwrap();
    let v: Value = http().get(next).bearer_auth(&t).send().unwrap().json().unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert!(v.get("@odata.nextLink").is_none());
    // A session expires by the clock.
    fake.mkdir("/E");
    let url = session(&fake, &t, "E/f.bin", 5);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(put(&url, "bytes 0-4/5", vec![0; 5]).0, 404);
}
