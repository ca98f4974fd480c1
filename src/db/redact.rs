//! Redaction: whatever in a connection string looks like a password is replaced by `***`
//! before the string (or a message about it) is shown, whatever form the string has, valid or
//! not, so that a typo never prints a secret:
//! - the user-info password of a URL of any scheme (`postgres://`, `POSTGRESQL://`,
//!   `jdbc:postgresql://`, `postgress://`), or of one without a scheme (`user:pass@host/db`):
//!   everything between the first `:` of the user-info and its last `@` (a password with an
//!   unencoded `/` or `@` is still covered);
//! - `password=` query parameters (`?password=`, `&password=`), any case;
//! - `password=` pairs of key=value strings (quoted or not), any case.

use std::ops::Range;

use super::{kv_pairs, percent_decode, percent_encode};

/// The connection string with anything that looks like a password replaced by `***`.
pub fn redact(url: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for span in secret_spans(url) {
        out.push_str(&url[last..span.start]);
        out.push_str("***");
        last = span.end;
    }
    out.push_str(&url[last..]);
    out
}

/// Removes from `message` every password `url` holds or points at (as written, percent-decoded
/// and percent-encoded; the driver's reading of it; `PGPASSWORD`).
pub fn scrub(message: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    for span in secret_spans(url) {
        let raw = &url[span];
        secrets.push(raw.to_string());
        secrets.push(super::unquote_kv(raw));
        let decoded = percent_decode(raw);
        secrets.push(percent_encode(&decoded));
        secrets.push(decoded);
    }
    if let Some(pw) = driver_password(url) {
        secrets.push(percent_encode(&pw));
        secrets.push(pw);
    }
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        secrets.push(percent_encode(&pw));
        secrets.push(pw);
    }
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 2) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

fn driver_password(url: &str) -> Option<String> {
    use std::str::FromStr;
    let config = postgres::Config::from_str(url).ok()?;
    config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// The byte ranges of `s` that look like a password, in order, not overlapping.
fn secret_spans(s: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    if let Some(authority) = authority_start(s) {
        let head_end = s[authority..].find('?').map_or(s.len(), |q| authority + q);
        if let Some(at) = s[authority..head_end].rfind('@') {
            let userinfo = authority..authority + at;
            if let Some(colon) = s[userinfo.clone()].find(':') {
                spans.push(userinfo.start + colon + 1..userinfo.end);
            }
        }
        let mut pos = head_end + 1;
        for kv in s.get(head_end + 1..).unwrap_or("").split('&') {
            if let Some((k, _)) = kv.split_once('=') {
                if k.eq_ignore_ascii_case("password") {
                    spans.push(pos + k.len() + 1..pos + kv.len());
                }
            }
            pos += kv.len() + 1;
        }
    }
    for p in kv_pairs(s) {
        if p.key.eq_ignore_ascii_case("password") {
            spans.push(p.value.0..p.value.1);
        }
    }
    spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in spans.into_iter().filter(|r| r.start < r.end) {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Where the user-info/host part of a URL-like string starts: after `<anything>://` (any
/// scheme, written without spaces or `=`), or at 0 for a scheme-less `user:pass@host...` (one
/// word, with an `@` and no `=` before it). `None` for key=value strings.
fn authority_start(s: &str) -> Option<usize> {
    let lead = s.len() - s.trim_start().len();
    let t = &s[lead..];
    if let Some(i) = t.find("://") {
        if !t[..i].contains(|c: char| c.is_whitespace() || c == '=') {
            return Some(lead + i + 3);
        }
    }
    let at = t.find('@')?;
    let word = !t.trim_end().contains(char::is_whitespace);
    (word && !t[..at].contains('=')).then_some(lead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_password() {
        assert_eq!(
            redact("postgres://alice:s3cret@db.example.com:5432/app?sslmode=disable"),
            "postgres://alice:***@db.example.com:5432/app?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://alice:p%40ss/w@db/app"),
            "postgresql://alice:***@db/app"
        );
        assert_eq!(
            redact("postgres://alice@db/app?password=hunter2&sslmode=prefer"),
            "postgres://alice@db/app?password=***&sslmode=prefer"
        );
        assert_eq!(redact("postgres://db/app"), "postgres://db/app");
        assert_eq!(
            redact("postgresql://postgres@%2Fvar%2Ftmp%2Fx:5432/db"),
            "postgresql://postgres@%2Fvar%2Ftmp%2Fx:5432/db"
        );
    }

    #[test]
    fn redacts_whatever_the_scheme() {
        for (url, want) in [
            (
                "jdbc:postgresql://bob:pw123@h:5432/d",
                "jdbc:postgresql://bob:***@h:5432/d",
            ),
            ("POSTGRESQL://bob:pw123@h/d", "POSTGRESQL://bob:***@h/d"),
            ("postgress://bob:pw123@h/d", "postgress://bob:***@h/d"),
            ("bob:pw123@h/d", "bob:***@h/d"),
            ("  bob:pw/1@23@h/d  ", "  bob:***@h/d  "),
            (
                "jdbc:postgresql://h/d?user=bob&PassWord=pw123",
                "jdbc:postgresql://h/d?user=bob&PassWord=***",
            ),
            ("mysql://bob:pw123@h/d", "mysql://bob:***@h/d"),
        ] {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn redacts_key_value_password() {
        assert_eq!(
            redact("host=localhost password=hunter2 user=bob"),
            "host=localhost password=*** user=bob"
        );
        assert_eq!(
            redact("host=x password = 'with \\' quote and space' dbname=d"),
            "host=x password = *** dbname=d"
        );
        assert_eq!(redact("host=/tmp user=bob"), "host=/tmp user=bob");
        assert_eq!(redact("PASSWORD=x"), "PASSWORD=***");
        assert_eq!(
            redact("host=h user=bob@corp password=pw"),
            "host=h user=bob@corp password=***"
        );
    }

    #[test]
    fn scrub_removes_password_from_messages() {
        let url = "postgres://u:topsecret@127.0.0.1:1/d";
        assert_eq!(
            scrub("failed for topsecret here", url),
            "failed for *** here"
        );
        let url = "jdbc:postgresql://u:top%2Fsecret@h/d";
        assert_eq!(scrub("a top/secret and top%2Fsecret", url), "a *** and ***");
    }
}
