//! Connections: URL parsing, connecting (TLS per `sslmode`), and redaction of secrets so a
//! password never reaches output, logs, plan files or errors. (Interface stub; owned by the
//! shadow/db engineer.)

/// Error connecting to or talking with a server. Its message never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("invalid connection string {url}: {message}")]
    BadUrl { url: String, message: String },
}

/// Connects to `url` (a `postgres://` URL or a `key=value` string).
pub fn connect(url: &str) -> Result<postgres::Client, DbError> {
    postgres::Client::connect(url, postgres::NoTls).map_err(|e| DbError::Connect {
        url: redact(url),
        message: e.to_string(),
    })
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
