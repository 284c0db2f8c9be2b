//! Database URLs: `postgres://user@host:port/db` (`?host=/socket/dir` allowed)
//! and `mysql://user@host:port/db` (`?socket=/path` allowed).
//!
//! A [`DbUrl`] never renders its password: [`DbUrl::libpq_url`] and
//! [`DbUrl::display`] leave it out, so a URL can safely reach a child's argv,
//! a log line or the history. A password typed into a URL is kept aside
//! ([`DbUrl::take_password`]) and passed through the environment.

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use crate::model::Engine;

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

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

impl DbUrl {
    /// Parses a URL.
    ///
    /// # Errors
    /// A sentence saying what shape is expected.
    pub fn parse(text: &str) -> Result<DbUrl, String> {
        let shape = "use postgres://user@host:port/database or mysql://user@host:port/database";
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
        let url = Url::parse(&patched).map_err(|e| format!("\"{}\" is not a database URL ({e}); {shape}", redact(text)))?;
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
            return Err(format!("the URL \"{}\" names no database; {shape}", redact(text)));
        }
        Ok(DbUrl { engine, user, host, port, database, params, password })
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

/// Replaces a password in URL-looking text with `***` (for messages).
#[must_use]
pub fn redact(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => text.to_string(),
    }
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
    fn rejects_bad_urls() {
        for bad in ["", "localhost/db", "oracle://h/db", "postgres://h", "postgres://h/", "postgres://h/db?password=x"] {
            assert!(DbUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
