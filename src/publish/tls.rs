//! TLS for RTMPS targets: rustls with the system's root certificates
//! (`SSL_CERT_FILE` names another bundle). A certificate that cannot be
//! trusted is a typed refusal that says what is wrong with it, not a
//! network error to retry.

use std::sync::{Arc, OnceLock};

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate cannot be trusted; retrying will not change it.
    #[error("{0}")]
    Certificate(String),
    /// The connection failed during the handshake.
    #[error("the TLS handshake failed: {0}")]
    Handshake(String),
}

/// The client configuration, made once from the system's roots.
fn config() -> Result<Arc<ClientConfig>, TlsFailure> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TlsFailure>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsFailure::Certificate("no root certificates were found on this system (install ca-certificates, or set SSL_CERT_FILE)".into()));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsFailure::Handshake(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// TLS over `tcp`, checking the certificate is `host`'s.
pub async fn connect(tcp: TcpStream, host: &str) -> Result<TlsStream<TcpStream>, TlsFailure> {
    let name = ServerName::try_from(host.to_string()).map_err(|_| TlsFailure::Certificate(format!("{host} is not a name a certificate can be for")))?;
    TlsConnector::from(config()?).connect(name, tcp).await.map_err(|error| classify(&error, host))
}

fn classify(error: &std::io::Error, host: &str) -> TlsFailure {
    let Some(rustls::Error::InvalidCertificate(certificate)) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return TlsFailure::Handshake(error.to_string());
    };
    TlsFailure::Certificate(match certificate {
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the server's certificate is not valid for the name {host}")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the server's certificate has expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check this computer's clock)".into()
        }
        CertificateError::UnknownIssuer => {
            "the server's certificate was issued by an authority this system does not trust (self-signed, or a missing intermediate)".into()
        }
        CertificateError::Revoked => "the server's certificate has been revoked".into(),
        other => format!("the server's certificate cannot be trusted: {other:?}"),
    })
}
