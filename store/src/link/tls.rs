//! rustls configurations from the PEM files `tidewatch certs` writes. TLS 1.3 only, ring
//! provider (no system libraries to build), client certificates required by the server.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS setup: {0}")]
    Verifier(String),
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |why: String| TlsError::File {
        path: path.into(),
        why,
    };
    let v: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if v.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(v)
}

pub(crate) fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.into(),
        why: e.to_string(),
    })
}

pub(crate) fn roots(ca: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut r = RootCertStore::empty();
    for c in certs(ca)? {
        r.add(c)?;
    }
    Ok(Arc::new(r))
}

/// The collector's side: its certificate and key, and the CA whose sensors it accepts.
pub fn server_config(
    ca: &Path,
    cert: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key(key_path)?)?;
    Ok(Arc::new(cfg))
}

/// A sensor's side: the CA that signed the collector, and the sensor's own certificate.
pub fn client_config(
    ca: &Path,
    cert: &Path,
    key_path: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(certs(cert)?, key(key_path)?)?;
    Ok(Arc::new(cfg))
}

/// Whether the verified client certificate names `sensor` (as a DNS name in its subject
/// alternative names): a sensor may only deliver under its own name.
pub fn peer_is_sensor(peer: Option<&[CertificateDer<'_>]>, sensor: &str) -> bool {
    let Some(leaf) = peer.and_then(|c| c.first()) else {
        return false;
    };
    let Ok(name) = ServerName::try_from(sensor) else {
        return false;
    };
    match webpki::EndEntityCert::try_from(leaf) {
        Ok(ee) => ee.verify_is_valid_for_subject_name(&name).is_ok(),
        Err(_) => false,
    }
}
