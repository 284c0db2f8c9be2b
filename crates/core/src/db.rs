//! Database URLs: `postgres://user@host:port/db` (`?host=/socket/dir` allowed)
//! and `mysql://user@host:port/db` (`?socket=/path` allowed).
//!
//! A [`DbUrl`] never renders its password: [`DbUrl::libpq_url`] and
//! [`DbUrl::display`] leave it out, so a URL can safely reach a child's argv,
//! a log line or the history. Where a URL is written down (the config file,
//! `--db`) a password in it is refused ([`DbUrl::parse_without_password`]).
//! Messages about a URL show it through [`redact_url`], which works on the
//! text, so a URL that does not parse never shows its password either;
//! [`redact`] does the same for URLs inside any text (every
//! [`crate::Error`] message goes through it).

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use crate::model::Engine;

/// Where a database URL was written, for the refusal of a password in it
/// ([`DbUrl::parse_without_password`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlOrigin<'a> {
    /// The `database` of the config file's job of this name.
    ConfigJob(&'a str),
    /// A `--db` flag of the command line.
    CommandLine,
}

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// PostgreSQL or MySQL.
    pub engine: Engine,
    /// Login role, if given.
    pub user: Option<String>,
    /// Host name, IP, or a socket directory (PostgreSQL `?host=`).
    pub host: Option<String>,
    /// TCP port, if given.
    pub port: Option<u16>,
    /// Database name.
    pub database: String,
    /// Other query parameters (`sslmode`, `socket`, ...), passed through.
    pub params: BTreeMap<String, String>,
    password: Option<String>,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.display())
    }
}

const NO_HOST: &str = "nightjar-no-host.invalid";

/// Percent-encodes `s` for a URL's user, path or query value.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

impl DbUrl {
    /// Parses a URL.
    ///
    /// # Errors
    /// A [`crate::ErrorKind::Config`] error whose message is a clause saying
    /// what shape is expected (the caller names where the URL came from).
    pub fn parse(text: &str) -> crate::Result<DbUrl> {
        Self::parse_clause(text).map_err(crate::Error::config)
    }

    fn parse_clause(text: &str) -> Result<DbUrl, String> {
        let shape = "use postgres://user@host:port/database or mysql://user@host:port/database";
        // Messages show the text with its password replaced, whether or
        // not the URL parses.
        let shown = redact_url(text.trim());
        // libpq accepts `postgres://user@/db` (no host: the default socket);
        // the url crate does not, so stand in a marker host for parsing.
        let trimmed = text.trim();
        let patched = match trimmed.split_once("://") {
            Some((scheme, rest)) if rest.split('/').next().is_some_and(|a| a.ends_with('@')) => {
                let (auth, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                format!("{scheme}://{auth}{NO_HOST}{tail}")
            }
            _ => trimmed.to_string(),
        };
        let url = Url::parse(&patched).map_err(|e| format!("\"{shown}\" is not a database URL ({e}); {shape}"))?;
        let engine = match url.scheme() {
            "postgres" | "postgresql" => Engine::Postgres,
            "mysql" | "mariadb" => Engine::Mysql,
            other => return Err(format!("\"{other}://\" is not supported; {shape}")),
        };
        let decode = |s: &str| percent_decode(s);
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        let mut host = url.host_str().filter(|h| !h.is_empty() && *h != NO_HOST).map(|h| h.trim_matches(['[', ']']).to_string());
        let port = url.port();
        let database = decode(url.path().trim_start_matches('/'));
        let mut params = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            if k == "host" && engine == Engine::Postgres {
                host = Some(v.into_owned());
            } else if k == "password" {
                return Err("passwords do not belong in the URL; store it with `nightjar password set` or set PGPASSWORD / MYSQL_PWD".into());
            } else {
                params.insert(k.into_owned(), v.into_owned());
            }
        }
        if database.is_empty() || database.contains('/') {
            return Err(format!("the URL \"{shown}\" names no database; {shape}"));
        }
        Ok(DbUrl { engine, user, host, port, database, params, password })
    }

    /// Parses a URL that must not carry a password: a job's `database` in
    /// the config file, or a `--db` on the command line. One carrying one
    /// is refused with a sentence saying where the password goes instead.
    ///
    /// # Errors
    /// As [`DbUrl::parse`], and when the URL holds a password.
    pub fn parse_without_password(text: &str, origin: UrlOrigin<'_>) -> crate::Result<DbUrl> {
        let db = DbUrl::parse(text)?;
        if !db.has_password() {
            return Ok(db);
        }
        let var = crate::source::engine::password_var(db.engine);
        Err(crate::Error::config(match origin {
            UrlOrigin::ConfigJob(job) => format!(
                "the URL contains a password, and passwords never go in the config file; remove it from the URL and store it with `nightjar password set --job {job}` (or set {var})"
            ),
            UrlOrigin::CommandLine => format!(
                "the URL contains a password, and passwords never go on a command line (the shell history and the process list keep them); remove it from the URL and store it with `nightjar password set --db '{}'`, or set {var} for the run",
                without_password(text)
            ),
        }))
    }

    /// True when the URL carried a password.
    #[must_use]
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Removes and returns the password that was in the URL.
    pub fn take_password(&mut self) -> Option<String> {
        self.password.take()
    }

    /// The same URL for another database on the same server.
    #[must_use]
    pub fn with_database(&self, database: &str) -> DbUrl {
        DbUrl { database: database.to_string(), ..self.clone() }
    }

    /// A libpq connection URL without the password (safe for argv).
    #[must_use]
    pub fn libpq_url(&self) -> String {
        let mut s = String::from("postgresql://");
        if let Some(u) = &self.user {
            s.push_str(&enc(u));
            s.push('@');
        }
        let socket_host = self.host.as_deref().filter(|h| h.starts_with('/'));
        if let Some(h) = self.host.as_deref().filter(|h| !h.starts_with('/')) {
            if h.contains(':') {
                s.push_str(&format!("[{h}]"));
            } else {
                s.push_str(h);
            }
        }
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s.push('/');
        s.push_str(&enc(&self.database));
        let mut query: Vec<String> = Vec::new();
        if let Some(h) = socket_host {
            query.push(format!("host={}", enc(h)));
        }
        for (k, v) in &self.params {
            query.push(format!("{}={}", enc(k), enc(v)));
        }
        if !query.is_empty() {
            s.push('?');
            s.push_str(&query.join("&"));
        }
        s
    }

    /// `user@host:port/db` for messages (never the password).
    #[must_use]
    pub fn display(&self) -> String {
        let scheme = match self.engine {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        };
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        let host = self.host.as_deref().unwrap_or("localhost");
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{scheme}://{user}{host}{port}/{}", self.database)
    }

    /// `host:port` (or the socket directory) for messages.
    #[must_use]
    pub fn server(&self) -> String {
        let host = self.host.as_deref().unwrap_or("localhost");
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// The keyring account for this server and user (ad-hoc `--db` runs).
    #[must_use]
    pub fn keyring_account(&self) -> String {
        let mut u = self.display();
        if let Some(pos) = u.rfind('/') {
            u.truncate(pos);
        }
        format!("db:{u}")
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Replaces the password of a URL typed by someone (a `--db` value, a
/// config file's `database`) with `***`, working on the text alone so that
/// a URL which does not parse (`postgres://u:PW@h:5432x/db`) is redacted as
/// well as one that does. The whole text is taken as one URL: the password
/// runs from the first `:` after `scheme://` to the last `@` (so an
/// unencoded `/`, `@`, `#` or space inside it is covered), and a
/// `password=` query value goes too. Use it on the raw text before it goes
/// into any message.
#[must_use]
pub fn redact_url(text: &str) -> String {
    let mut out = text.to_string();
    if let Some((from, to)) = raw_password_span(text) {
        out.replace_range(from..to, "***");
    }
    redact_query_password(&out)
}

/// The byte range of the password in `text` taken as one URL (after the
/// `:` that starts it, up to the `@` that ends the user information).
fn raw_password_span(text: &str) -> Option<(usize, usize)> {
    // Without "scheme://" (a typo such as `postgres:/u:pw@h/db`) the
    // user information starts right after the scheme's colon.
    let start = text.find("://").map_or(0, |i| i + 3);
    let at = start + text[start..].rfind('@')?;
    let colon = start + text[start..at].find(':')?;
    Some((colon + 1, at))
}

/// Replaces the password of every URL inside free text (an error message,
/// a log line, a tool's output) with `***`. A URL starts at `://`; its user
/// information ends at the last `@` before the end of the line or the next
/// URL, and counts only when the user name before its `:` holds no space
/// or `/` (so "https://host/path: ... me@example.com" is left alone).
/// `?password=` / `&password=` values are replaced too.
#[must_use]
pub fn redact(text: &str) -> String {
    if !text.contains("://") && !text.contains("password=") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        let after = &rest[start..];
        let region_end = [after.find('\n'), after.find("://")].into_iter().flatten().min().unwrap_or(after.len());
        let region = &after[..region_end];
        let span = region.rfind('@').and_then(|at| {
            let colon = region[..at].find(':')?;
            let user = &region[..colon];
            (!user.contains(|c: char| c.is_whitespace() || c == '/')).then_some((colon + 1, at))
        });
        out.push_str(&rest[..start]);
        match span {
            Some((from, to)) => {
                out.push_str(&after[..from]);
                out.push_str("***");
                rest = &after[to..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    redact_query_password(&out)
}

/// `?password=x` / `&password=x` → `password=***` (up to the next `&`,
/// space, quote or end of line).
fn redact_query_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password=") {
        let key_end = i + "password=".len();
        let quoted = rest[..i].ends_with(['?', '&']);
        out.push_str(&rest[..key_end]);
        rest = &rest[key_end..];
        if quoted {
            let end = rest.find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace()).unwrap_or(rest.len());
            if end > 0 {
                out.push_str("***");
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// What a `Debug` of a struct holding a password shows for it: `***` when
/// there is one.
#[must_use]
pub fn hidden(secret: Option<&String>) -> Option<&'static str> {
    secret.map(|_| "***")
}

// The restore's option structs carry a password for one run; their
// `Debug` lives here, beside the other redaction, and never shows it.
impl fmt::Debug for crate::restore::RestoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("as_new", &self.as_new)
            .field("safety_backup", &self.safety_backup)
            .field("terminate_connections", &self.terminate_connections)
            .field("password", &hidden(self.password.as_ref()))
            .field("password_account", &self.password_account)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for crate::restore::VerifyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("restore_test", &self.restore_test)
            .field("password", &hidden(self.password.as_ref()))
            .field("password_account", &self.password_account)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// `text` taken as one URL, with its password (and the `:` before it)
/// taken out: what to type instead (`nightjar password set --db URL`).
fn without_password(text: &str) -> String {
    let mut out = text.trim().to_string();
    if let Some((from, to)) = raw_password_span(&out) {
        out.replace_range(from - 1..to, "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let u = DbUrl::parse("postgres://tgapp@localhost:5432/tgapp").unwrap();
        assert_eq!((u.user.as_deref(), u.host.as_deref(), u.port, u.database.as_str()), (Some("tgapp"), Some("localhost"), Some(5432), "tgapp"));
        assert_eq!(u.libpq_url(), "postgresql://tgapp@localhost:5432/tgapp");
        let s = DbUrl::parse("postgres://postgres@/my%20db?host=/tmp/sock%20dir&sslmode=disable").unwrap();
        assert_eq!(s.host.as_deref(), Some("/tmp/sock dir"));
        assert_eq!(s.database, "my db");
        assert_eq!(s.libpq_url(), "postgresql://postgres@/my%20db?host=%2Ftmp%2Fsock%20dir&sslmode=disable");
        let m = DbUrl::parse("mysql://root@127.0.0.1:3306/shop").unwrap();
        assert_eq!(m.engine, Engine::Mysql);
        let c = DbUrl::parse("postgres://u@h/%D0%B1%D0%B0%D0%B7%D0%B0").unwrap();
        assert_eq!(c.database, "база");
        assert_eq!(DbUrl::parse(&c.libpq_url()).unwrap().database, "база");
    }

    #[test]
    fn password_is_never_rendered() {
        let mut u = DbUrl::parse("postgres://app:s3cr%40t@db.example:6543/app").unwrap();
        assert!(u.has_password());
        for s in [u.libpq_url(), u.display(), format!("{u:?}"), u.keyring_account()] {
            assert!(!s.contains("s3cr"), "{s}");
        }
        assert_eq!(u.take_password().as_deref(), Some("s3cr@t"));
        assert_eq!(redact("postgres://app:pw@h/db"), "postgres://app:***@h/db");
    }

    #[test]
    fn redaction_works_on_text_that_does_not_parse() {
        // (typed URL, what a message may show)
        let cases = [
            ("postgres://u:Sekr1t@h:5432x/db", "postgres://u:***@h:5432x/db"),
            ("mysql://u:Sekr1t@h:bad/db", "mysql://u:***@h:bad/db"),
            ("postgresql://u:Sekr1t@[::1/db", "postgresql://u:***@[::1/db"),
            ("oracle://u:Sekr1t@h/db", "oracle://u:***@h/db"),
            ("postgres://u:Se/kr1t#?x@h/db", "postgres://u:***@h/db"),
            ("postgres://u:Se@kr1t@h/db", "postgres://u:***@h/db"),
            ("postgres://u:Se:kr1t@h/db", "postgres://u:***@h/db"),
            ("postgres://u:Se kr1t@h/db", "postgres://u:***@h/db"),
            ("postgres://me@corp:Sekr1t@h/db", "postgres://me@corp:***@h/db"),
            ("postgres:/u:Sekr1t@h/db", "postgres:***@h/db"),
            ("my db:Sekr1t@h/db", "my db:***@h/db"),
            ("postgres://u@h/db?password=Sekr1t&sslmode=require", "postgres://u@h/db?password=***&sslmode=require"),
            ("postgres://u:пароль@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://h/db", "postgres://h/db"),
            ("", ""),
        ];
        for (typed, shown) in cases {
            assert_eq!(redact_url(typed), shown, "{typed}");
            // Free text knows a URL by its "://".
            if typed.contains("://") {
                assert!(!redact(&format!("\"{typed}\" is not a database URL")).contains("kr1t"), "{typed}");
            }
            let parsed = DbUrl::parse(typed);
            if let Err(e) = &parsed {
                assert!(!e.message().contains("kr1t") && !e.message().contains("пароль"), "{typed}: {e}");
            }
        }
        assert!(!redact("postgres://u:секрет@h/db").contains("секрет"));
    }

    #[test]
    fn redaction_of_free_text_leaves_other_text_alone() {
        let cases = [
            ("connect to postgres://app:hunter2@db:5432/x failed: refused", "connect to postgres://app:***@db:5432/x failed: refused"),
            ("a mysql://u:p1@h/a and postgres://v:p2@h/b", "a mysql://u:***@h/a and postgres://v:***@h/b"),
            ("line 1 postgres://u:p1@h/a\nline 2 postgres://h/b", "line 1 postgres://u:***@h/a\nline 2 postgres://h/b"),
            ("use postgres://user@host:port/database or mysql://user@host:port/database", "use postgres://user@host:port/database or mysql://user@host:port/database"),
            ("could not reach https://graph.microsoft.com/v1.0: denied for me@example.com", "could not reach https://graph.microsoft.com/v1.0: denied for me@example.com"),
            ("Access denied for user 'app'@'localhost' (using password: YES)", "Access denied for user 'app'@'localhost' (using password: YES)"),
            ("no URL here: a:b@c", "no URL here: a:b@c"),
            ("postgres://u@h/db?sslmode=x&password=PW \"x\"", "postgres://u@h/db?sslmode=x&password=*** \"x\""),
        ];
        for (text, shown) in cases {
            assert_eq!(redact(text), shown, "{text}");
        }
    }

    #[test]
    fn a_password_is_refused_where_a_url_is_written_down() {
        let e = DbUrl::parse_without_password("postgres://u:Hunter2@h/db?host=/run/pg", UrlOrigin::CommandLine).unwrap_err();
        assert!(e.message().contains("nightjar password set --db 'postgres://u@h/db?host=/run/pg'") && e.message().contains("PGPASSWORD"), "{e}");
        assert!(!e.message().contains("Hunter2"), "{e}");
        let e = DbUrl::parse_without_password("mysql://u:Hunter2@h/db", UrlOrigin::ConfigJob("shop")).unwrap_err();
        assert!(e.message().contains("nightjar password set --job shop") && e.message().contains("MYSQL_PWD") && !e.message().contains("Hunter2"), "{e}");
        assert!(DbUrl::parse_without_password("postgres://u@h/db", UrlOrigin::CommandLine).is_ok());
    }

    #[test]
    fn debug_of_structs_holding_a_password_hides_it() {
        let url = DbUrl::parse("postgres://u@h/db").unwrap();
        let pg = crate::source::postgres::PgTarget { url: url.clone(), password: Some("Hunter2".into()), docker_container: None };
        let my = crate::source::mysql::MyTarget { url, password: Some("Hunter2".into()), docker_container: None };
        let backup = crate::runner::BackupOptions { password: Some("Hunter2".into()), ..crate::runner::BackupOptions::new(crate::model::Trigger::Manual) };
        let restore = crate::restore::RestoreOptions { password: Some("Hunter2".into()), ..Default::default() };
        let verify = crate::restore::VerifyOptions { password: Some("Hunter2".into()), ..Default::default() };
        let err = crate::Error::config("\"postgres://u:Hunter2@h:x/db\" is not a database URL");
        for s in [format!("{pg:?}"), format!("{my:?}"), format!("{backup:?}"), format!("{restore:?}"), format!("{verify:?}"), format!("{err:?}"), err.detailed()] {
            assert!(!s.contains("Hunter2"), "{s}");
        }
        assert!(format!("{pg:?}").contains("\"***\""));
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in ["", "localhost/db", "oracle://h/db", "postgres://h", "postgres://h/", "postgres://h/db?password=x"] {
            assert!(DbUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
