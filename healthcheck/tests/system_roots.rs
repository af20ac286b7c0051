//! HTTPS checks with `TlsVerify::System` find the system's trust store the way every Linux
//! distribution lays it out, and honour `SSL_CERT_FILE` and `SSL_CERT_DIR`: a private CA
//! named there is trusted, and without it the same server is refused.
//!
//! The environment is read by the probe, so each case runs in a child process of this test
//! binary with its own environment (setting variables in a threaded test is unsound): the
//! child starts a real rustls/hyper HTTPS server from the certificate files the parent wrote,
//! probes it, and prints the outcome.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ha_healthcheck::probe::run;
use ha_healthcheck::{Check, HttpCheck, TlsOptions, TlsVerify};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const CHILD: &str = "HA_SYSTEM_ROOTS_CHILD";
const TEST: &str = "https_system_roots_honour_ssl_cert_file_and_dir";

/// The CA, and a server certificate for `rs1.example.org` and 127.0.0.1 issued by it.
fn write_pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["rs1.example.org".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::create_dir_all(dir.join("cadir")).unwrap();
    std::fs::write(dir.join("cadir/private-ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem() + &ca.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

async fn https_server(dir: &Path) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    let svc = service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                }
            });
        }
    });
    addr
}

/// The child: serve, probe with the system trust store, print the outcome.
fn child(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = https_server(dir).await;
        let mut c = HttpCheck::new(addr, "/");
        let mut tls = TlsOptions::new(TlsVerify::System);
        tls.sni = Some("rs1.example.org".into());
        c.tls = Some(tls);
        c.body_regex = Some("ok".into());
        let outcome = run(&Check::from(c), Duration::from_secs(5)).await;
        println!("OUTCOME {outcome:?}");
    });
}

/// Run the child with `env` (SSL_CERT_FILE and SSL_CERT_DIR removed first); its outcome.
fn outcome_with(dir: &Path, env: &[(&str, PathBuf)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("OUTCOME ").map(|(_, o)| o))
        .unwrap_or_else(|| panic!("no outcome from the child:\n{stdout}"))
        .to_owned()
}

#[test]
fn https_system_roots_honour_ssl_cert_file_and_dir() {
    if let Some(dir) = std::env::var_os(CHILD) {
        child(Path::new(&dir));
        return;
    }
    let dir = std::env::temp_dir().join(format!("ha-hc-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_pki(&dir);
    let up = "Up { weight: None }";
    // The private CA as SSL_CERT_FILE: trusted.
    assert_eq!(
        outcome_with(&dir, &[("SSL_CERT_FILE", dir.join("ca.pem"))]),
        up
    );
    // ... or in a directory named by SSL_CERT_DIR.
    assert_eq!(
        outcome_with(&dir, &[("SSL_CERT_DIR", dir.join("cadir"))]),
        up
    );
    // Without them, the distribution's store (which does not know the private CA): refused
    // in the handshake, or a setup error naming the fix on a machine without any store.
    let plain = outcome_with(&dir, &[]);
    assert!(
        plain.contains("UnknownIssuer") || plain.contains("system CA certificates"),
        "{plain}"
    );
    // A bundle without certificates: a setup error that says what to do.
    let empty = outcome_with(&dir, &[("SSL_CERT_FILE", dir.join("empty.pem"))]);
    assert!(
        empty.starts_with("Down(Setup(") && empty.contains("SSL_CERT_FILE"),
        "{empty}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
