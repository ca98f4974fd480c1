//! Connections: connection-string handling, connecting, and redaction of secrets so a password
//! never reaches output, logs, plan files or errors.
//!
//! Two connection-string forms are accepted, as libpq does:
//! - URLs: `postgres://user:pass@host:5432/db?sslmode=disable`. A unix-socket directory as host
//!   is written percent-encoded (`postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:5432/db`) or
//!   as a query parameter (`postgresql:///db?host=/var/run/postgresql`).
//! - `key=value` strings: `host=/tmp port=5432 user=postgres password='s e c'`.
//!
//! Missing pieces are filled from the usual libpq environment variables (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGPASSWORD`, `PGDATABASE`); without a host, the first of `/var/run/postgresql` and
//! `/tmp` holding a server socket is used, else `localhost`.
//!
//! TLS: `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and
//! `sslrootcert`, or `PGSSLMODE` / `PGSSLROOTCERT`, through OpenSSL: see [`tls`].

mod redact;
pub mod tls;

use std::path::Path;
use std::str::FromStr;

pub use redact::{redact, scrub};
pub use tls::{SslMode, TlsSettings};

/// Error connecting to or talking with a server. Its message never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("invalid connection string {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("query on {url} failed ({what}): {message}")]
    Query {
        url: String,
        what: &'static str,
        message: String,
    },
}

/// Connects to `url` (a `postgres://` URL or a `key=value` string).
pub fn connect(url: &str) -> Result<postgres::Client, DbError> {
    let target = Target::new(url)?;
    target.connect().map_err(|e| target.connect_error(url, &e))
}

/// Connects to `url`, giving up after `timeout` when the URL sets no `connect_timeout` of its
/// own (libpq's default is to wait as long as the network does): for reads of many databases
/// in a row, where one unreachable host must not hold up the others.
pub fn connect_within(
    url: &str,
    timeout: std::time::Duration,
) -> Result<postgres::Client, DbError> {
    let mut target = Target::new(url)?;
    if target.config.get_connect_timeout().is_none() {
        target.config.connect_timeout(timeout);
    }
    target.connect().map_err(|e| target.connect_error(url, &e))
}

/// A parsed connection string and its TLS connector: connects (again) without re-parsing.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    tls: TlsSettings,
    connector: postgres_openssl::MakeTlsConnector,
}

impl Target {
    pub fn new(url: &str) -> Result<Target, DbError> {
        let (config, tls) = parse_with_tls(url)?;
        let connector = tls.connector().map_err(|message| DbError::BadUrl {
            url: redact(url),
            message,
        })?;
        Ok(Target {
            config,
            tls,
            connector,
        })
    }

    /// A new connection. A failed TLS handshake's message says what was checked.
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        self.config.connect(self.connector.clone())
    }

    /// The error for a failed [`Target::connect`] of `url`: redacted, with a TLS hint when
    /// the handshake failed.
    pub fn connect_error(&self, url: &str, e: &postgres::Error) -> DbError {
        let mut message = scrub(&error_text(e), url);
        if let Some(hint) = self.tls.hint(&message) {
            message.push_str(&format!(" (HINT: {hint})"));
        }
        DbError::Connect {
            url: redact(url),
            message,
        }
    }

    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The TLS connector connections are made with (also for cancel requests).
    pub fn connector(&self) -> postgres_openssl::MakeTlsConnector {
        self.connector.clone()
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The driver's Config prints its password: never show it.
        f.debug_struct("Target")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Parses `url` into a driver configuration, with libpq's environment defaults applied.
pub fn parse(url: &str) -> Result<postgres::Config, DbError> {
    parse_with_tls(url).map(|(config, _)| config)
}

/// The driver configuration and the TLS settings of `url` (see [`tls`]).
pub fn parse_with_tls(url: &str) -> Result<(postgres::Config, TlsSettings), DbError> {
    let bad = |message: String| DbError::BadUrl {
        url: redact(url),
        message: scrub(&message, url),
    };
    check_form(url).map_err(bad)?;
    let (rest, taken) = take_params(url, &tls::KEYS);
    let value = |k: &str| {
        taken
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let tls = TlsSettings::new(value("sslmode"), value("sslrootcert")).map_err(bad)?;
    let mut config = postgres::Config::from_str(&rest).map_err(|e| bad(error_text(&e)))?;
    apply_env_defaults(&mut config);
    let unix_only = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, postgres::config::Host::Unix(_)))
        && config.get_hostaddrs().is_empty();
    // PostgreSQL offers no TLS on unix sockets; libpq then ignores sslmode.
    config.ssl_mode(if unix_only {
        postgres::config::SslMode::Disable
    } else {
        tls.mode.driver()
    });
    Ok((config, tls))
}

/// The connection string without the parameters named in `keys`, and their values (in order,
/// unquoted / percent-decoded).
fn take_params(url: &str, keys: &[&str]) -> (String, Vec<(String, String)>) {
    let wanted = |k: &str| keys.iter().any(|w| w.eq_ignore_ascii_case(k));
    let mut taken = Vec::new();
    if is_url(url) {
        let Some(q) = url.find('?') else {
            return (url.to_string(), taken);
        };
        let kept: Vec<&str> = url[q + 1..]
            .split('&')
            .filter(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                if wanted(k) {
                    taken.push((k.to_ascii_lowercase(), percent_decode(v)));
                    false
                } else {
                    true
                }
            })
            .collect();
        let mut out = url[..q].to_string();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
        (out, taken)
    } else {
        let mut out = String::new();
        let mut last = 0;
        for p in kv_pairs(url) {
            if wanted(p.key) {
                out.push_str(&url[last..p.start]);
                last = p.value.1;
                taken.push((
                    p.key.to_ascii_lowercase(),
                    unquote_kv(&url[p.value.0..p.value.1]),
                ));
            }
        }
        out.push_str(&url[last..]);
        (out, taken)
    }
}

/// A key=value string's value as written (maybe single-quoted, backslash escapes) as text.
fn unquote_kv(raw: &str) -> String {
    let inner = raw
        .strip_prefix('\'')
        .map(|r| r.strip_suffix('\'').unwrap_or(r))
        .unwrap_or(raw);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `SHOW server_version_num` of a connected server (e.g. `150006`).
pub fn server_version_num(client: &mut postgres::Client) -> Result<i32, DbError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(|e| DbError::Query {
            url: String::from("(connected server)"),
            what: "server_version_num",
            message: error_text(&e),
        })?;
    Ok(row.get(0))
}

/// The driver error as text, including the server's message when there is one (the driver's
/// own `Display` says only "db error" for those).
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (DETAIL: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (HINT: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                let t = inner.to_string();
                if !s.contains(&t) {
                    s.push_str(": ");
                    s.push_str(&t);
                }
                src = inner.source();
            }
            s
        }
    }
}

fn apply_env_defaults(config: &mut postgres::Config) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        let port = config
            .get_ports()
            .first()
            .copied()
            .or_else(|| env("PGPORT").and_then(|p| p.parse().ok()))
            .unwrap_or(5432);
        match env("PGHOST") {
            Some(h) => {
                for h in h.split(',') {
                    config.host(h);
                }
            }
            None => {
                let sock = ["/var/run/postgresql", "/tmp"]
                    .into_iter()
                    .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists());
                match sock {
                    Some(d) => config.host_path(d),
                    None => config.host("localhost"),
                };
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").and_then(|p| p.parse().ok()) {
            config.port(p);
        }
    }
    if config.get_user().is_none() {
        if let Some(u) = env("PGUSER") {
            config.user(&u);
        }
    }
    if config.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            config.password(p);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            config.dbname(&d);
        }
    }
}

/// A connection string is a `postgres://` / `postgresql://` URL or a key=value string, as for
/// libpq. Anything else that looks like a URL (another scheme, a scheme in capitals, `jdbc:`,
/// none at all) is refused here with the forms that work, instead of being misread as
/// key=value pairs by the driver.
fn check_form(url: &str) -> Result<(), String> {
    const FORMS: &str = "schemaplan takes `postgres://` or `postgresql://` URLs \
                         (`postgresql://user:password@host:5432/db`) or key=value strings \
                         (`host=... user=... dbname=...`)";
    let t = url.trim();
    if let Some(i) = t.find("://") {
        let scheme = &t[..i];
        if !scheme.contains(|c: char| c.is_whitespace() || c == '=') {
            if matches!(scheme, "postgres" | "postgresql") {
                return Ok(());
            }
            let lower = scheme.to_ascii_lowercase();
            let hint = if matches!(lower.as_str(), "postgres" | "postgresql") {
                " (schemes are lower case)"
            } else if lower.ends_with(":postgresql") || lower.ends_with(":postgres") {
                " (drop the prefix before `postgresql://`)"
            } else {
                ""
            };
            return Err(format!("unsupported scheme `{scheme}://`{hint}: {FORMS}"));
        }
    }
    if let Some(at) = t.find('@') {
        if !t.contains(char::is_whitespace) && !t[..at].contains('=') {
            return Err(format!("this looks like a URL without a scheme: {FORMS}"));
        }
    }
    Ok(())
}

fn is_url(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("postgres://") || t.starts_with("postgresql://")
}

/// The same server connection string, pointed at database `dbname` (any `dbname` parameter is
/// replaced). Used to reach scratch databases on a server given by its admin URL.
pub fn with_database(url: &str, dbname: &str) -> String {
    if is_url(url) {
        let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
        let (head, query) = match url[scheme_end..].find('?') {
            Some(q) => url.split_at(scheme_end + q),
            None => (url, ""),
        };
        let host_start = head[scheme_end..]
            .rfind('@')
            .map(|a| scheme_end + a + 1)
            .unwrap_or(scheme_end);
        let path_start = head[host_start..]
            .find('/')
            .map(|p| host_start + p)
            .unwrap_or(head.len());
        let mut out = format!("{}/{}", &head[..path_start], percent_encode(dbname));
        let params: Vec<&str> = if query.is_empty() {
            Vec::new()
        } else {
            query[1..]
                .split('&')
                .filter(|kv| {
                    let k = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
                    !k.eq_ignore_ascii_case("dbname") && !kv.is_empty()
                })
                .collect()
        };
        if !params.is_empty() {
            out.push('?');
            out.push_str(&params.join("&"));
        }
        out
    } else {
        let mut out = String::new();
        let mut last = 0;
        for p in kv_pairs(url) {
            if p.key == "dbname" {
                out.push_str(&url[last..p.start]);
                last = p.value.1;
            }
        }
        out.push_str(&url[last..]);
        let mut out = out.trim().to_string();
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("dbname=");
        out.push_str(&quote_kv(dbname));
        out
    }
}

/// Quotes a value for a key=value connection string.
pub fn quote_kv(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return v.to_string();
    }
    let mut s = String::from("'");
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One `key=value` pair of a libpq key=value string, with byte spans.
struct KvPair<'a> {
    key: &'a str,
    /// Start of the key.
    start: usize,
    /// Span of the value as written (quotes included).
    value: (usize, usize),
}

/// Tokenizes a key=value string the way libpq does (values unquoted up to whitespace, or
/// single-quoted with backslash escapes). Malformed tails are ignored: this is used for
/// redaction and rewriting only; the driver does the real validation.
fn kv_pairs(s: &str) -> Vec<KvPair<'_>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            // Not a pair: skip the word.
            continue;
        }
        i += 1;
        skip_ws(&mut i);
        let vstart = i;
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = i.min(b.len());
        }
        out.push(KvPair {
            key,
            start,
            value: (vstart, i),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_rewrites_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "scratch_1"),
            "postgres://u:p@h:5432/scratch_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://postgres@%2Fvar%2Ftmp%2Fx:5432/db", "other db"),
            "postgresql://postgres@%2Fvar%2Ftmp%2Fx:5432/other%20db"
        );
        assert_eq!(with_database("postgres://h", "d"), "postgres://h/d");
        assert_eq!(
            with_database("postgres:///app?host=/tmp&dbname=x", "d"),
            "postgres:///d?host=/tmp"
        );
    }

    #[test]
    fn with_database_rewrites_key_value() {
        assert_eq!(
            with_database("host=/tmp dbname=app user=postgres", "s"),
            "host=/tmp  user=postgres dbname=s"
        );
        assert_eq!(
            with_database("host=/tmp", "it's"),
            "host=/tmp dbname='it\\'s'"
        );
    }

    #[test]
    fn parses_socket_hosts() {
        let c = parse("postgresql://postgres@%2Fvar%2Ftmp%2Fx:5432/db").unwrap();
        assert!(matches!(
            c.get_hosts()[0],
            postgres::config::Host::Unix(ref p) if p == Path::new("/var/tmp/x")
        ));
        let c = parse("host=/var/tmp/y port=5433 user=postgres dbname=postgres").unwrap();
        assert!(matches!(
            c.get_hosts()[0],
            postgres::config::Host::Unix(ref p) if p == Path::new("/var/tmp/y")
        ));
        assert!(parse("postgres://u@h/d?sslmode=disable").is_ok());
        assert!(parse("postgres://u@h/d?sslmode=prefer").is_ok());
    }

    #[test]
    fn tls_parameters_are_taken_out_for_the_driver() {
        let (rest, taken) = take_params(
            "postgres://u:p@h/d?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca%20x.crt",
            &tls::KEYS,
        );
        assert_eq!(rest, "postgres://u:p@h/d?application_name=x");
        assert_eq!(
            taken,
            [
                ("sslmode".to_string(), "verify-full".to_string()),
                ("sslrootcert".to_string(), "/etc/ca x.crt".to_string())
            ]
        );
        let (rest, taken) = take_params(
            "host=h sslmode=verify-ca sslrootcert='/a b/c\\'d.crt' dbname=x",
            &tls::KEYS,
        );
        assert_eq!(rest, "host=h   dbname=x");
        assert_eq!(taken[1].1, "/a b/c'd.crt");
        let (rest, taken) = take_params("postgres://h/d?sslmode=require", &tls::KEYS);
        assert_eq!((rest.as_str(), taken.len()), ("postgres://h/d", 1));
    }

    #[test]
    fn sslmode_sets_the_driver_mode_and_unix_sockets_never_use_tls() {
        use postgres::config::SslMode as Driver;
        let (c, t) = parse_with_tls("postgres://u@h/d?sslmode=verify-full&sslrootcert=x").unwrap();
        assert_eq!(
            (c.get_ssl_mode(), t.mode),
            (Driver::Require, SslMode::VerifyFull)
        );
        let (c, _) = parse_with_tls("postgres://u@h/d?sslmode=disable").unwrap();
        assert_eq!(c.get_ssl_mode(), Driver::Disable);
        let (c, _) = parse_with_tls("host=/tmp dbname=d sslmode=require").unwrap();
        assert_eq!(c.get_ssl_mode(), Driver::Disable);
        let err = parse_with_tls("postgres://u:pw12345@h/d?sslmode=allow").unwrap_err();
        assert!(err.to_string().contains("sslmode=allow is not supported"));
        assert!(!err.to_string().contains("pw12345"));
    }

    #[test]
    fn other_url_forms_are_refused_naming_the_accepted_ones() {
        for (url, hint) in [
            ("jdbc:postgresql://u:pw999@h/d", "drop the prefix"),
            ("POSTGRESQL://u:pw999@h/d", "lower case"),
            (
                "postgress://u:pw999@h/d",
                "unsupported scheme `postgress://`",
            ),
            ("u:pw999@h/d", "without a scheme"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(hint), "{url}: {err}");
            assert!(err.contains("postgresql://user:password@host"), "{err}");
            assert!(!err.contains("pw999"), "{err}");
        }
        assert!(parse("host=/tmp user=bob@corp dbname=d").is_ok());
    }

    #[test]
    fn bad_url_error_is_redacted() {
        let Err(err) = connect("postgres://u:hunter22@h/d?bogus_option=1") else {
            panic!("must fail");
        };
        let text = err.to_string();
        assert!(!text.contains("hunter22"), "{text}");
    }
}
