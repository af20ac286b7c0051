//! TLS client configuration (rustls with ring).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::check::{TlsOptions, TlsVerify};
use crate::outcome::Failure;

/// The system trust store read for [`TlsVerify::System`].
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A [`ServerCertVerifier`] that accepts ANY server certificate ([`TlsVerify::Off`]).
///
/// The handshake signatures are still checked (so the peer holds the key of the certificate
/// it sent), but the certificate itself is not: not its issuer, not its name, not its dates.
/// That proves nothing about who the server is. It is what keepalived's `SSL_GET` does and is
/// meant only for liveness checks on a trusted network path.
#[derive(Debug)]
pub struct NoVerification {
    algs: WebPkiSupportedAlgorithms,
}

impl NoVerification {
    /// A verifier using the signature algorithms of `provider`.
    #[must_use]
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algs: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Setup(format!("tls versions: {e}")))?;
    let config = match &opts.verify {
        TlsVerify::Off => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification::new(&provider)))
            .with_no_client_auth(),
        TlsVerify::System => builder
            .with_root_certificates(roots(SYSTEM_CA_FILE.as_ref())?)
            .with_no_client_auth(),
        TlsVerify::CaFile(p) => builder
            .with_root_certificates(roots(p)?)
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn roots(path: &std::path::Path) -> Result<RootCertStore, Failure> {
    let mut store = RootCertStore::empty();
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| Failure::Setup(format!("CA file {}: {e}", path.display())))?;
    for cert in iter {
        let cert = cert.map_err(|e| Failure::Setup(format!("CA file {}: {e}", path.display())))?;
        store
            .add(cert)
            .map_err(|e| Failure::Setup(format!("CA file {}: {e}", path.display())))?;
    }
    if store.is_empty() {
        return Err(Failure::Setup(format!(
            "CA file {}: no certificate",
            path.display()
        )));
    }
    Ok(store)
}
