//! The certificate HTTPS and RTMPS present. Read from `[tls]`'s PEM files at
//! start, where a bad file stops the server naming it, and again on SIGHUP,
//! where a bad file keeps the certificate in use and the log says why: a
//! renewal (certbot's deploy hook) never takes a running server down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} file {}: {error}. Set `tls.{what}` to a readable PEM file", path.display())]
    Read { what: &'static str, path: PathBuf, error: std::io::Error },
    #[error("the TLS certificate file {} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the TLS key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("the TLS key in {} does not fit the certificate in {}: {error}", key.display(), certificate.display())]
    Unusable { certificate: PathBuf, key: PathBuf, error: rustls::Error },
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
}

/// The certificate and key in use, swapped whole on reload.
#[derive(Debug)]
pub struct Certificates {
    certificate: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { what, path: path.into(), error })
}

/// The chain in `certificate` and the key in `key`, checked to belong together.
pub fn load(certificate: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("certificate", certificate)?).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: certificate.into() });
    }
    let private = PrivateKeyDer::from_pem_slice(&read("key", key)?).map_err(|_| TlsError::NoKey { path: key.into() })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|error| TlsError::Unusable { certificate: certificate.into(), key: key.into(), error })
}

impl Certificates {
    pub fn open(certificate: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        let loaded = load(certificate, key)?;
        Ok(Arc::new(Certificates { certificate: certificate.into(), key: key.into(), current: RwLock::new(Arc::new(loaded)) }))
    }

    /// Reads the files again; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = Arc::new(load(&self.certificate, &self.key)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    /// An acceptor that presents whichever certificate is current, offering
    /// `alpn` (most preferred first; empty: no ALPN).
    pub fn acceptor(self: &Arc<Certificates>, alpn: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reloads on every SIGHUP, for as long as the runtime runs.
    pub fn reload_on_hangup(self: &Arc<Certificates>) {
        let certificates = self.clone();
        tokio::spawn(async move {
            let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                tracing::warn!("cannot watch for SIGHUP: the TLS certificate is read at start only");
                return;
            };
            while hangups.recv().await.is_some() {
                match certificates.reload() {
                    Ok(()) => tracing::info!(certificate = %certificates.certificate.display(), "TLS certificate reloaded"),
                    Err(error) => tracing::error!("TLS certificate not reloaded, the previous one stays in use: {error}"),
                }
            }
        });
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let dir = std::env::temp_dir().join(format!("onair-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let error = load(&missing, &missing).unwrap_err().to_string();
        assert!(error.contains("missing.pem") && error.contains("tls.certificate"), "{error}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = load(&empty, &missing).unwrap_err().to_string();
        assert!(error.contains("empty.pem") && error.contains("BEGIN CERTIFICATE"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
