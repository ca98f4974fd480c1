//! TLS for connections: libpq's `sslmode` and `sslrootcert`, through OpenSSL
//! (`postgres-openssl`).
//!
//! The driver's own parser knows only `disable`, `prefer` and `require` and rejects
//! `sslrootcert`, so both are taken out of the connection string here (URL query parameters or
//! `key=value` pairs) and the rest goes to the driver. Missing settings come from `PGSSLMODE`
//! and `PGSSLROOTCERT`, as in libpq.
//!
//! | sslmode | encrypted | server certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | - | - |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | yes | only when a root certificate is given (as libpq: then like `verify-ca`) | no |
//! | `verify-ca` | yes | against the root certificates | no |
//! | `verify-full` | yes | against the root certificates | yes (DNS name or IP in the certificate) |
//!
//! Root certificates: `sslrootcert=FILE` (PEM), `sslrootcert=system` (the system's trust
//! store), else `~/.postgresql/root.crt` when it exists. `verify-ca`/`verify-full` without any
//! is an error that says so. Unix-socket connections are never encrypted (PostgreSQL does not
//! offer TLS on them), as with libpq.

use std::path::PathBuf;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use std::sync::Mutex;

/// libpq's `sslmode` values (`allow` is not supported: the driver cannot try plain first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err("sslmode=allow is not supported; use prefer or disable".into());
            }
            other => {
                return Err(format!(
                    "invalid sslmode \"{other}\" (one of disable, prefer, require, verify-ca, \
                     verify-full)"
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The driver's mode: it only decides whether TLS is tried and whether it is required;
    /// the certificate checks are the connector's.
    pub(crate) fn driver(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }
}

/// Where root certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCert {
    File(PathBuf),
    /// `sslrootcert=system`: OpenSSL's default trust store.
    System,
}

/// The TLS settings of one connection string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
    /// Whether the root certificate was given explicitly (string or `PGSSLROOTCERT`), which
    /// makes `require` check the certificate, as in libpq.
    explicit_root: bool,
}

/// The TLS keys this module takes out of connection strings.
pub(crate) const KEYS: [&str; 2] = ["sslmode", "sslrootcert"];

impl TlsSettings {
    /// Settings from the values found in the connection string (`sslmode`, `sslrootcert`),
    /// completed from the environment.
    pub(crate) fn new(mode: Option<&str>, root: Option<&str>) -> Result<TlsSettings, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mode = match mode.map(str::to_string).or_else(|| env("PGSSLMODE")) {
            Some(m) => SslMode::parse(&m)?,
            None => SslMode::Prefer,
        };
        let given = root.map(str::to_string).or_else(|| env("PGSSLROOTCERT"));
        let explicit_root = given.is_some();
        let root_cert = match given {
            Some(r) if r == "system" => Some(RootCert::System),
            Some(r) => Some(RootCert::File(PathBuf::from(r))),
            None => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
                .filter(|p| p.is_file())
                .map(RootCert::File),
        };
        Ok(TlsSettings {
            mode,
            root_cert,
            explicit_root,
        })
    }

    /// Whether the server certificate is checked against root certificates.
    fn verifies(&self) -> bool {
        match self.mode {
            SslMode::Disable | SslMode::Prefer => false,
            SslMode::Require => self.explicit_root,
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        }
    }

    /// The OpenSSL connector for these settings, built once per process and settings.
    ///
    /// Building one is costly whatever the settings: `SslConnector::builder` always loads the
    /// system's trust store (~140 PEM certificates, decoded by OpenSSL 3 under its locks: about
    /// a quarter of a small plan's client CPU when each connection built its own). A built
    /// connector is immutable and shared (reference-counted), so every connection with the same
    /// settings reuses it.
    pub(crate) fn connector(&self) -> Result<MakeTlsConnector, String> {
        static BUILT: Mutex<Vec<(TlsSettings, MakeTlsConnector)>> = Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = built.iter().find(|(settings, _)| settings == self) {
            return Ok(connector.clone());
        }
        let connector = self.build_connector()?;
        built.push((self.clone(), connector.clone()));
        Ok(connector)
    }

    fn build_connector(&self) -> Result<MakeTlsConnector, String> {
        let ssl = |e: openssl::error::ErrorStack| format!("TLS setup: {e}");
        let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(ssl)?;
        if self.verifies() {
            match &self.root_cert {
                Some(RootCert::File(path)) => {
                    if !path.is_file() {
                        return Err(format!(
                            "root certificate file {} does not exist (sslrootcert)",
                            path.display()
                        ));
                    }
                    builder.set_ca_file(path).map_err(|e| {
                        format!(
                            "root certificate file {}: not a PEM certificate: {e}",
                            path.display()
                        )
                    })?;
                }
                Some(RootCert::System) => builder.set_default_verify_paths().map_err(ssl)?,
                None => {
                    return Err(format!(
                        "sslmode={} needs root certificates to check the server's: set \
                         sslrootcert=FILE (PEM), or sslrootcert=system for the system's trust \
                         store, or PGSSLROOTCERT",
                        self.mode.name()
                    ))
                }
            }
            builder.set_verify(SslVerifyMode::PEER);
        } else {
            builder.set_verify(SslVerifyMode::NONE);
        }
        let mut connector = MakeTlsConnector::new(builder.build());
        let check_name = self.mode == SslMode::VerifyFull;
        connector.set_callback(move |config, _host| {
            config.set_verify_hostname(check_name);
            Ok(())
        });
        Ok(connector)
    }

    /// A hint for a failed TLS handshake, naming what was checked.
    pub(crate) fn hint(&self, message: &str) -> Option<String> {
        if message.contains("certificate verify failed") {
            let root = match &self.root_cert {
                Some(RootCert::File(p)) => p.display().to_string(),
                Some(RootCert::System) => "the system's trust store".into(),
                None => "(none)".into(),
            };
            let what = if message.contains("mismatch") {
                "does not name the host connected to: connect with a host name the \
                 certificate names, or use sslmode=verify-ca to check the signature only"
                    .to_string()
            } else {
                format!("is not signed by a root certificate in {root}")
            };
            return Some(format!(
                "the server's certificate {what} (sslmode={})",
                self.mode.name()
            ));
        }
        if message.contains("server does not support TLS") {
            return Some(format!(
                "sslmode={} requires TLS but the server has ssl = off",
                self.mode.name()
            ));
        }
        if message.contains("no encryption") && self.mode == SslMode::Disable {
            return Some(
                "the server accepts only encrypted connections: use sslmode=require (or \
                 verify-ca / verify-full)"
                    .into(),
            );
        }
        None
    }
}
