//! TLS through rustls, with `verify-full` as the default whenever TLS is on.
//!
//! | `sslmode`     | encrypted | server certificate checked         |
//! |---------------|-----------|-------------------------------------|
//! | `verify-full` | yes       | chain to the root **and** host name (default) |
//! | `verify-ca`   | yes       | chain to the root, any name          |
//! | `require`     | yes       | not at all (logged as a warning)     |
//! | `disable`     | no        | (for loopback and tests; a warning for any other host) |
//!
//! libpq's `prefer` and `allow` are refused: they fall back to plain text
//! without saying so, which is how credentials leak.
//!
//! # One crypto provider
//!
//! rustls panics at run time when a process has two crypto providers
//! compiled in and code asks for "the" default. reqwest (teloxide's and our
//! HTTP stack) brings *ring*, so this crate uses *ring* too, passes it
//! explicitly to every configuration it builds, and
//! [`install_crypto_provider`] makes it the process default (idempotent).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use signal_outbox::OutboxError;

/// How the connection is protected (`sslmode=` in the URL, or `PGSSLMODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// No TLS: for a loopback server or a test cluster.
    Disable,
    /// Encrypted, but the server's certificate is not checked: anyone on
    /// the path can impersonate the server. Only when spelled out.
    Require,
    /// Encrypted; the certificate must chain to the configured root, for
    /// any host name.
    VerifyCa,
    /// Encrypted; the certificate must chain to the root and name the host
    /// connected to. The default.
    VerifyFull,
}

impl SslMode {
    /// Every accepted mode.
    pub const ALL: [SslMode; 4] = [
        SslMode::Disable,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The text form, as in the URL.
    ///
    /// ```
    /// assert_eq!(signal_outbox_postgres::SslMode::VerifyFull.as_str(), "verify-full");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// True when the connection is encrypted.
    #[must_use]
    pub const fn encrypts(self) -> bool {
        !matches!(self, SslMode::Disable)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = OutboxError;

    /// ```
    /// use signal_outbox_postgres::SslMode;
    /// assert_eq!("verify-ca".parse::<SslMode>().unwrap(), SslMode::VerifyCa);
    /// let err = "prefer".parse::<SslMode>().unwrap_err().to_string();
    /// assert!(err.contains("verify-full") && err.contains("plain text"), "{err}");
    /// ```
    fn from_str(s: &str) -> Result<SslMode, OutboxError> {
        if let Some(mode) = SslMode::ALL.into_iter().find(|m| m.as_str() == s) {
            return Ok(mode);
        }
        let why = match s {
            "prefer" | "allow" => {
                " (libpq's prefer and allow fall back to plain text without saying so; \
                 choose one explicitly)"
            }
            _ => "",
        };
        Err(OutboxError::InvalidInput {
            reason: format!(
                "sslmode `{}` is not supported{why}; expected one of: disable, require, \
                 verify-ca, verify-full",
                s.chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>()
            ),
        })
    }
}

/// Where the trusted roots come from (`sslrootcert=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the public web roots (Mozilla's, bundled by
    /// `webpki-roots`), for a managed database with a public certificate.
    System,
}

/// Makes *ring* the process's default rustls crypto provider, once.
///
/// Called by [`PgOutbox::connect`](crate::PgOutbox::connect); call it at
/// start-up yourself if other code builds rustls configurations with the
/// default provider before the outbox is opened. Idempotent: a provider
/// already installed (ours or another) is left as it is, and this crate
/// passes *ring* explicitly to its own configurations either way.
///
/// ```
/// signal_outbox_postgres::install_crypto_provider();
/// signal_outbox_postgres::install_crypto_provider(); // harmless
/// assert!(rustls::crypto::CryptoProvider::get_default().is_some());
/// ```
pub fn install_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the roots a verifying mode trusts.
fn root_store(roots: &Roots, target: &str) -> Result<RootCertStore, OutboxError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let certs = read_pem(path, target)?;
            let (added, ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(OutboxError::Open {
                    target: target.to_owned(),
                    reason: format!(
                        "the root certificate file {} holds no usable CA certificate \
                         ({ignored} could not be parsed)",
                        path.display()
                    ),
                    hint: "point sslrootcert at the PEM file of the CA that signed the \
                           server's certificate"
                        .to_owned(),
                });
            }
        }
    }
    Ok(store)
}

fn read_pem(path: &Path, target: &str) -> Result<Vec<CertificateDer<'static>>, OutboxError> {
    let error = |detail: String| OutboxError::Open {
        target: target.to_owned(),
        reason: format!(
            "cannot read the root certificate file {} ({detail})",
            path.display()
        ),
        hint: "set sslrootcert to a readable PEM file of the server's CA, or sslrootcert=system \
               for the public web roots"
            .to_owned(),
    };
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| error(e.to_string()))?;
    iter.collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))
}

/// The rustls client configuration for `mode` (not for `Disable`).
pub(crate) fn client_config(
    mode: SslMode,
    roots: Option<&Roots>,
    target: &str,
) -> Result<ClientConfig, OutboxError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboxError::Internal {
            detail: format!("rustls refused its default protocol versions: {e}"),
        })?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Require => Arc::new(NoVerification),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = roots.ok_or_else(|| OutboxError::Open {
                target: target.to_owned(),
                reason: format!("sslmode={mode} needs the CA certificate that signed the server's"),
                hint: "set sslrootcert=/path/to/ca.pem (or PGSSLROOTCERT, or put it in \
                       ~/.postgresql/root.crt), or sslrootcert=system for the public web roots"
                    .to_owned(),
            })?;
            let store = Arc::new(root_store(roots, target)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider())
                .build()
                .map_err(|e| OutboxError::Open {
                    target: target.to_owned(),
                    reason: format!("the root certificates cannot verify servers ({e})"),
                    hint: "check the sslrootcert file".to_owned(),
                })?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `verify-ca`: the chain must verify, the name may be anything.
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
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require`: encrypted, the certificate not checked (the handshake's
/// signatures still are, so the channel is the certificate holder's).
#[derive(Debug)]
struct NoVerification;

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
