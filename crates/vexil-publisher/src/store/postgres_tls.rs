//! TLS to PostgreSQL through rustls, with libpq's `sslmode` and `sslrootcert` (the driver
//! itself knows only disable, prefer and require, and verifies nothing):
//!
//! - `disable`: plaintext;
//! - `prefer` (the default): TLS when the server offers it, plaintext otherwise, the
//!   certificate not checked — libpq's behaviour: it protects against passive eavesdroppers
//!   only;
//! - `require`: TLS or no connection, the certificate not checked, unless `sslrootcert` is
//!   given, which makes it `verify-ca` (libpq does the same, for compatibility);
//! - `verify-ca`: the certificate must chain to `sslrootcert` (the name is not checked);
//! - `verify-full`: it must chain to `sslrootcert` (or the system's roots, without one or with
//!   `sslrootcert=system`) and name the host connected to.
//!
//! A relative `sslrootcert` is relative to the working directory, as with libpq.

use crate::error::{Error, Result};
use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    File(PathBuf),
    System,
}

/// How one URL wants TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tls {
    pub mode: Mode,
    roots: Option<Roots>,
}

/// `url` without the parameters the driver cannot read (`sslmode`, `sslrootcert`), and the
/// TLS they ask for.
pub(super) fn split(url: &str, shown: &str) -> Result<(String, Tls)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let mut parsed = form_urlencoded::parse(pair.as_bytes());
        let (key, value) = parsed.next().map(|(k, v)| (k.into_owned(), v.into_owned())).unwrap_or_default();
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => kept.push(pair),
        }
    }
    let bad = |what: String| Error::refused(format!("state = {shown:?}: {what}"));
    let mode = match mode.as_deref().unwrap_or("prefer") {
        "disable" => Mode::Disable,
        "allow" | "prefer" => Mode::Prefer,
        "require" if root.is_some() => Mode::VerifyCa,
        "require" => Mode::Require,
        "verify-ca" => Mode::VerifyCa,
        "verify-full" => Mode::VerifyFull,
        other => {
            return Err(bad(format!(
                "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            )))
        }
    };
    let roots = match (root.as_deref(), mode) {
        (Some("system"), _) | (None, Mode::VerifyFull) => Some(Roots::System),
        (Some(""), _) => return Err(bad("sslrootcert is empty".into())),
        (Some(path), _) => Some(Roots::File(PathBuf::from(path))),
        (None, Mode::VerifyCa) => {
            return Err(bad("sslmode=verify-ca needs sslrootcert=<file> (the CA certificates, PEM)".into()))
        }
        (None, _) => None,
    };
    let driver_url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((driver_url, Tls { mode, roots }))
}

impl Tls {
    /// What the driver is told: it negotiates, vexil's verifier judges the certificate.
    pub fn driver_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// Connects with `config`; the error is the driver's, for the caller to word.
    pub fn connect(&self, config: &Config, describe: &str) -> Result<std::result::Result<Client, postgres::Error>> {
        if self.mode == Mode::Disable {
            return Ok(config.connect(NoTls));
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.client_config(describe)?);
        Ok(config.connect(tls))
    }

    fn client_config(&self, describe: &str) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::io(format!("{describe}: TLS: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match (&self.roots, self.mode) {
            (_, Mode::Disable | Mode::Prefer | Mode::Require) | (None, _) => Arc::new(Unverified(provider)),
            (Some(roots), mode) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(self.load(roots, describe)?), provider)
                        .build()
                        .map_err(|e| Error::io(format!("{describe}: TLS: {e}")))?;
                if mode == Mode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
    }

    fn load(&self, roots: &Roots, describe: &str) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match roots {
            Roots::File(path) => {
                let bad = |what: String| Error::refused(format!("{describe}: sslrootcert={}: {what}", path.display()));
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(e.to_string()))?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(bad("holds no usable PEM certificate".into()));
                }
            }
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(Error::refused(format!(
                        "{describe}: sslmode=verify-full found no system root certificates; name the CA with sslrootcert=<file>"
                    )));
                }
            }
        }
        Ok(store)
    }

    /// Why a connection failed, in the words of what was asked for, when the certificate is
    /// the reason.
    pub fn explain(&self, e: &postgres::Error, host: &str) -> Option<String> {
        let roots = match &self.roots {
            Some(Roots::File(path)) => format!("sslrootcert={}", path.display()),
            Some(Roots::System) => "the system's root certificates".to_string(),
            None => return None,
        };
        let mode = self.mode.name();
        Some(match certificate_error(e)? {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("sslmode={mode}: the server's certificate is not issued by a certificate authority in {roots}")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "sslmode={mode}: the server's certificate does not name the host {host:?} (verify-ca checks the issuer only)"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("sslmode={mode}: the server's certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("sslmode={mode}: the server's certificate is not valid yet")
            }
            other => format!("sslmode={mode}: the server's certificate does not verify against {roots} ({other:?})"),
        })
    }
}

/// The certificate error under a failed handshake, if that is what failed.
fn certificate_error(e: &postgres::Error) -> Option<CertificateError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // The driver wraps rustls' error in an io::Error, whose `source` skips over it.
        let inner = s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|i| i as &dyn std::error::Error);
        for candidate in [Some(s), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(c)) = candidate.downcast_ref::<rustls::Error>() {
                return Some(c.clone());
            }
        }
        source = s.source();
    }
    None
}

/// libpq's `prefer` and `require`: encryption without authentication of the server. The
/// handshake's signatures are still checked, so the peer holds the key of the certificate
/// it shows.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> (String, Tls) {
        split(url, url).unwrap()
    }

    #[test]
    fn libpq_modes_are_taken_off_the_url_and_read_as_libpq_does() {
        let (url, t) = tls("postgres://v@db/f");
        assert_eq!((url.as_str(), t.mode, t.roots), ("postgres://v@db/f", Mode::Prefer, None));
        let (url, t) = tls("postgres://v@db/f?application_name=x&sslmode=verify-full&connect_timeout=3");
        assert_eq!(url, "postgres://v@db/f?application_name=x&connect_timeout=3");
        assert_eq!((t.mode, t.roots.clone()), (Mode::VerifyFull, Some(Roots::System)));
        assert_eq!(t.driver_mode(), SslMode::Require);
        let (url, t) = tls("postgres://v@db/f?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(url, "postgres://v@db/f");
        assert_eq!((t.mode, t.roots), (Mode::VerifyCa, Some(Roots::File("/etc/ca.pem".into()))));
        assert_eq!(tls("postgres://v@db/f?sslmode=require").1.mode, Mode::Require);
        assert_eq!(tls("postgres://v@db/f?sslmode=require&sslrootcert=ca.pem").1.mode, Mode::VerifyCa, "as libpq");
        assert_eq!(tls("postgres://v@db/f?sslmode=disable").1.driver_mode(), SslMode::Disable);
        assert_eq!(tls("postgres://v@db/f?sslmode=verify-full&sslrootcert=system").1.roots, Some(Roots::System));
    }

    #[test]
    fn bad_tls_parameters_are_named() {
        let e = split("postgres://v@db/f?sslmode=maybe", "shown").unwrap_err().to_string();
        assert!(e.contains("state = \"shown\": sslmode=\"maybe\" is not one of disable, prefer"), "{e}");
        let e = split("postgres://v@db/f?sslmode=verify-ca", "shown").unwrap_err().to_string();
        assert!(e.contains("sslmode=verify-ca needs sslrootcert=<file>"), "{e}");
        let t = tls("postgres://v@db/f?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").1;
        let e = t.client_config("db").unwrap_err().to_string();
        assert!(e.contains("db: sslrootcert=/nonexistent/ca.pem:"), "{e}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let t = tls(&format!("postgres://v@db/f?sslmode=verify-full&sslrootcert={}", empty.path().display())).1;
        let e = t.client_config("db").unwrap_err().to_string();
        assert!(e.contains("holds no usable PEM certificate"), "{e}");
    }
}
