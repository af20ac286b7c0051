//! TLS client configuration (rustls with ring).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::check::{ClientCert, TlsOptions, TlsVerify};
use crate::outcome::Failure;

/// How long the system trust store, once read, serves probes before it is read again (so
/// an updated CA bundle takes effect without a restart, and thousands of HTTPS checks do not
/// each parse it).
const SYSTEM_ROOTS_TTL: Duration = Duration::from_secs(60);

static SYSTEM_ROOTS: Mutex<Option<(Instant, Arc<RootCertStore>)>> = Mutex::new(None);

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
    let builder = match &opts.verify {
        TlsVerify::Off => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification::new(&provider))),
        TlsVerify::System => builder.with_root_certificates(system_roots()?),
        TlsVerify::CaFile(p) => builder.with_root_certificates(roots(p)?),
    };
    let mut config = match &opts.client_cert {
        None => builder.with_no_client_auth(),
        Some(cc) => {
            let (chain, key) = client_identity(cc)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Failure::Setup(format!(
                    "client certificate {} with key {}: {e}",
                    cc.cert_chain.display(),
                    cc.key.display()
                ))
            })?
        }
    };
    config.enable_sni = opts.send_sni;
    Ok(Arc::new(config))
}

/// The certificate chain and private key of a client certificate, read from PEM files.
fn client_identity(
    cc: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Failure> {
    let file_err = |what: &str, p: &std::path::Path, e: &dyn std::fmt::Display| {
        Failure::Setup(format!("client {what} {}: {e}", p.display()))
    };
    let chain = CertificateDer::pem_file_iter(&cc.cert_chain)
        .map_err(|e| file_err("certificate", &cc.cert_chain, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err("certificate", &cc.cert_chain, &e))?;
    if chain.is_empty() {
        return Err(file_err(
            "certificate",
            &cc.cert_chain,
            &"no CERTIFICATE block",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cc.key).map_err(|e| {
        file_err(
            "key",
            &cc.key,
            &format!("{e} (an encrypted key must be decrypted first)"),
        )
    })?;
    Ok((chain, key))
}

fn roots(path: &std::path::Path) -> Result<Arc<RootCertStore>, Failure> {
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
    Ok(Arc::new(store))
}

/// The platform's trust store, found the way `rustls-native-certs` finds it on every Linux
/// distribution (the `openssl-probe` list of bundle files and directories), or exactly the
/// file `SSL_CERT_FILE` and the directories `SSL_CERT_DIR` (colon separated) when set.
fn system_roots() -> Result<Arc<RootCertStore>, Failure> {
    let mut cached = SYSTEM_ROOTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((at, store)) = &*cached
        && at.elapsed() < SYSTEM_ROOTS_TTL
    {
        return Ok(store.clone());
    }
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    // Certificates the store rejects (unsupported or broken) are skipped, as a TLS library
    // does with a system bundle; none usable at all is an error below.
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        let why = if found.errors.is_empty() {
            "none found".to_owned()
        } else {
            found
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(Failure::Setup(format!(
            "system CA certificates: {why} (install ca-certificates, or set SSL_CERT_FILE or SSL_CERT_DIR)"
        )));
    }
    let store = Arc::new(store);
    *cached = Some((Instant::now(), store.clone()));
    Ok(store)
}
