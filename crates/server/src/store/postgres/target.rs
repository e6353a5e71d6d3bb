//! How the server reaches PostgreSQL: `--db`'s URL, parsed once, with its TLS, and how to name
//! it in errors (without its password). Every connection the server opens (the store's writer
//! and readers, the cluster's control and heartbeat connections, the relay's) goes through
//! [`Target::connect`], so they all speak TLS or none do.
//!
//! TLS follows the URL's `sslmode` as libpq's does, with one difference: when TLS is used, the
//! server's certificate is always checked (it must chain to a trusted root and name the host
//! the URL names; rustls, with ring's cryptography). libpq's `require` encrypts without checking
//! whom it talks to, which stops a passive listener but not a machine in the middle.
//! - no `sslmode`, or `disable`: no TLS;
//! - `prefer`: TLS if the database offers it (checked), plain otherwise;
//! - `require`, `verify-ca`, `verify-full`: TLS, checked, or no connection.
//!
//! The trusted roots are the system's (`/etc/ssl/certs` and the like), or only those of the PEM
//! file `sslrootcert` names (a managed database's CA bundle, or a self-signed test CA).

use anyhow::{anyhow, Context};
use postgres::{config::SslMode, Client, NoTls};
use rustls::pki_types::{pem::PemObject, CertificateDer};
use std::{fmt, sync::Arc, time::Duration};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreResult;

/// How long a connection attempt may take, unless the URL says (`connect_timeout`): a database
/// that is down is answered `unavailable` rather than waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `--db` URL: where the database is, and with which TLS.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
    shown: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Target {
    /// Parses `url`; `shown` is how errors name it (the URL without its password). Reads the
    /// `sslrootcert` file now, so a wrong path fails at start-up, not at the first connection.
    pub fn parse(url: &str, shown: &str) -> StoreResult<Self> {
        let TlsParams {
            url: rest,
            mode,
            root_cert,
        } = TlsParams::take(url).with_context(|| format!("--db {shown}"))?;
        let mut config: postgres::Config = rest
            .parse()
            .with_context(|| format!("--db {shown} is not a PostgreSQL URL"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sessionwire-server");
        }
        config.ssl_mode(mode);
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(
                client_config(root_cert.as_deref()).with_context(|| format!("--db {shown}"))?,
            )),
        };
        Ok(Self {
            config,
            tls,
            shown: shown.to_owned(),
        })
    }

    /// A new connection. Blocking: call it off the async workers.
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The TLS parameters of a URL, taken out of it (the driver knows only `disable`, `prefer` and
/// `require`, and no `sslrootcert`).
#[derive(Debug, PartialEq, Eq)]
struct TlsParams {
    /// The URL without `sslmode` and `sslrootcert`.
    url: String,
    mode: SslMode,
    root_cert: Option<String>,
}

impl TlsParams {
    fn take(url: &str) -> StoreResult<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept: Vec<&str> = Vec::new();
        let mut mode = SslMode::Disable;
        let mut root_cert = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    mode = match value {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" | "verify-ca" | "verify-full" => SslMode::Require,
                        "allow" => return Err(anyhow!(
                            "sslmode=allow (TLS only when the database insists) is not supported: use prefer or require"
                        )),
                        other => return Err(anyhow!(
                            "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                        )),
                    }
                }
                "sslrootcert" => {
                    let path = crate::percent::decode(value)
                        .ok_or_else(|| anyhow!("sslrootcert={value}: a bad %-escape"))?;
                    root_cert = Some(path);
                }
                _ => kept.push(pair),
            }
        }
        if root_cert.is_some() && mode == SslMode::Disable {
            return Err(anyhow!(
                "sslrootcert names a certificate but sslmode does not ask for TLS (add sslmode=verify-full)"
            ));
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(Self {
            url,
            mode,
            root_cert,
        })
    }
}

/// rustls's client side: TLS 1.2 and 1.3 with ring, the roots of `root_cert` (a PEM file) or
/// else the system's.
fn client_config(root_cert: Option<&str>) -> StoreResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading sslrootcert {path}"))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("sslrootcert {path} is not a PEM file of certificates"))?;
            if certs.is_empty() {
                return Err(anyhow!("sslrootcert {path} holds no certificate"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate of sslrootcert {path}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system store may hold a certificate rustls cannot use; the others still count.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(anyhow!(
                    "no trusted root certificates on this system ({:?}): name the database's CA with sslrootcert=/path/to/ca.pem",
                    found.errors
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(url: &str) -> TlsParams {
        TlsParams::take(url).unwrap()
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_and_the_rest_kept() {
        assert_eq!(
            take("postgres://u@h/db"),
            TlsParams {
                url: "postgres://u@h/db".into(),
                mode: SslMode::Disable,
                root_cert: None
            }
        );
        assert_eq!(
            take("postgres://u@h/db?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=a"),
            TlsParams {
                url: "postgres://u@h/db?connect_timeout=3&application_name=a".into(),
                mode: SslMode::Require,
                root_cert: Some("/etc/ca x.pem".into())
            }
        );
        assert_eq!(take("postgres://h/db?sslmode=prefer").mode, SslMode::Prefer);
        assert_eq!(
            take("postgres://h/db?sslmode=require").mode,
            SslMode::Require
        );
        assert_eq!(
            take("postgres://h/db?sslmode=disable").url,
            "postgres://h/db"
        );
    }

    #[test]
    fn unknown_or_contradictory_tls_parameters_are_refused_by_name() {
        for (url, expected) in [
            (
                "postgres://h/db?sslmode=maybe",
                "sslmode=maybe is not one of",
            ),
            ("postgres://h/db?sslmode=allow", "sslmode=allow"),
            (
                "postgres://h/db?sslrootcert=/ca.pem",
                "sslmode does not ask for TLS",
            ),
            (
                "postgres://h/db?sslmode=require&sslrootcert=%zz",
                "bad %-escape",
            ),
        ] {
            let error = TlsParams::take(url).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn a_missing_root_certificate_file_fails_at_parse_time() {
        let error = Target::parse(
            "postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "postgres://h/db",
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("reading sslrootcert /nonexistent/ca.pem"),
            "{error:#}"
        );
    }
}
