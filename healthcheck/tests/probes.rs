//! Probes against real servers that the tests start on loopback.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ha_healthcheck::probe::run;
use ha_healthcheck::{
    Check, ClientCert, DnsCheck, DnsType, Failure, HttpCheck, HttpProtocol, Outcome, ScriptCheck,
    SmtpCheck, StatusRange, TcpCheck, TcpClose, TlsOptions, TlsVerify, UdpCheck, UdpReplyMatch,
    parse_keepalived_hex,
};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

const T: Duration = Duration::from_millis(800);

fn down(f: Failure) -> Outcome {
    Outcome::Down(f)
}

/// Run with the timeout and check it came back within it (plus slack).
async fn probe(check: Check, timeout: Duration) -> Outcome {
    let t0 = Instant::now();
    let o = run(&check, timeout).await;
    assert!(
        t0.elapsed() < timeout + Duration::from_millis(500),
        "probe overran: {:?}",
        t0.elapsed()
    );
    o
}

/// A port where nothing listens (bound, then closed).
async fn closed_tcp_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

async fn accept_and_close() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    addr
}

/// Accepts connections and holds them open, never sending a byte.
async fn accept_and_hang() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

async fn handler(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (status, body): (u16, Vec<u8>) = match req.uri().path() {
        "/health" => (200, b"status: all ok here".to_vec()),
        "/503" => (503, b"maintenance".to_vec()),
        "/redirect" => (302, Vec::new()),
        "/vhost" if host == "www.example.org" => (200, b"vhost ok".to_vec()),
        "/vhost" => (404, b"wrong vhost".to_vec()),
        "/big" => (200, {
            let mut v = vec![b'x'; 1 << 20];
            v.extend_from_slice(b"TAIL");
            v
        }),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            (200, Vec::new())
        }
        _ => (404, b"not found".to_vec()),
    };
    Ok(hyper::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

async fn serve_http<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(handler))
        .await;
}

async fn http_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_http(s));
        }
    });
    addr
}

fn http(addr: SocketAddr, path: &str) -> HttpCheck {
    HttpCheck::new(addr, path)
}

#[tokio::test]
async fn tcp_success_refused_timeout() {
    let up = accept_and_close().await;
    assert_eq!(probe(Check::Tcp(TcpCheck::new(up)), T).await, Outcome::UP);
    let closed = closed_tcp_port().await;
    assert_eq!(
        probe(Check::Tcp(TcpCheck::new(closed)), T).await,
        down(Failure::Refused)
    );
    // A listener with a full backlog that never accepts: SYNs are dropped, connect hangs.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    sock.listen(0).unwrap();
    let full: SocketAddr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&full.into());
        fillers.push(s);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let o = probe(Check::Tcp(TcpCheck::new(full)), Duration::from_millis(500)).await;
    assert_eq!(o, down(Failure::Timeout));
}

/// The connection the probe made, as the server's accepted socket sees it once the probe
/// has closed: read(2) result.
fn server_side_read_after_probe(close: TcpClose) -> std::io::Result<usize> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut c = TcpCheck::new(addr);
    c.socket.close = close;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let o = rt.block_on(run(&Check::Tcp(c), T));
    assert_eq!(o, Outcome::UP);
    // The probe has returned (and closed); the connection waited in the accept queue.
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    std::io::Read::read(&mut s, &mut buf)
}

#[test]
fn tcp_close_sends_rst_by_default_and_fin_when_graceful() {
    // SO_LINGER 0: the server's socket was reset (RST), not closed in order (FIN).
    let reset = server_side_read_after_probe(TcpClose::Reset);
    assert_eq!(
        reset.as_ref().map_err(std::io::Error::kind),
        Err(std::io::ErrorKind::ConnectionReset),
        "default close: {reset:?}"
    );
    assert_eq!(TcpClose::default(), TcpClose::Reset);
    // A graceful close: the server reads end of stream.
    let fin = server_side_read_after_probe(TcpClose::Graceful);
    assert_eq!(fin.ok(), Some(0), "graceful close");
}

/// A handshake that does not finish inside connect(2): the probe waits for writability
/// (the path taken for every remote server) and still succeeds.
#[tokio::test]
async fn tcp_connect_that_completes_later() {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    sock.listen(0).unwrap();
    let addr: SocketAddr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Drain the accept queue a little later: the probe's SYN was dropped and its
    // retransmission (about 1 s later) gets through.
    let drain = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        sock.set_nonblocking(true).unwrap();
        let mut accepted = Vec::new();
        let end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            if let Ok(s) = sock.accept() {
                accepted.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        accepted.len()
    });
    let t0 = Instant::now();
    let o = probe(Check::Tcp(TcpCheck::new(addr)), Duration::from_secs(4)).await;
    assert_eq!(o, Outcome::UP);
    assert!(
        t0.elapsed() > Duration::from_millis(250),
        "the handshake was expected to finish late: {:?}",
        t0.elapsed()
    );
    drop(fillers);
    assert!(drain.join().unwrap() >= 1);
}

#[tokio::test]
async fn tcp_send_expect() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let mut line = String::new();
                let _ = s.read_line(&mut line).await;
                let reply = if line.trim() == "PING" {
                    "+PONG\r\n"
                } else {
                    "-ERR\r\n"
                };
                let _ = s.get_mut().write_all(reply.as_bytes()).await;
            });
        }
    });
    let mut c = TcpCheck::new(addr);
    c.send = Some(b"PING\r\n".to_vec());
    c.expect = Some(b"+PONG".to_vec());
    assert_eq!(probe(Check::Tcp(c.clone()), T).await, Outcome::UP);
    c.send = Some(b"HELLO\r\n".to_vec());
    assert_eq!(probe(Check::Tcp(c), T).await, down(Failure::BodyMismatch));
}

#[tokio::test]
async fn http_status_body_digest() {
    let addr = http_server().await;
    assert_eq!(
        probe(Check::from(http(addr, "/health")), T).await,
        Outcome::UP
    );
    assert_eq!(
        probe(Check::from(http(addr, "/503")), T).await,
        down(Failure::Status(503))
    );
    assert_eq!(
        probe(Check::from(http(addr, "/nope")), T).await,
        down(Failure::Status(404))
    );
    // Status ranges.
    let mut c = http(addr, "/redirect");
    assert_eq!(
        probe(Check::from(c.clone()), T).await,
        down(Failure::Status(302))
    );
    c.status = vec![StatusRange { min: 300, max: 399 }];
    assert_eq!(probe(Check::from(c), T).await, Outcome::UP);
    let mut c = http(addr, "/503");
    c.status = vec!["200".parse().unwrap(), "503".parse().unwrap()];
    assert_eq!(probe(Check::from(c), T).await, Outcome::UP);
    // Body regex.
    let mut c = http(addr, "/health");
    c.body_regex = Some("all ok".into());
    assert_eq!(probe(Check::from(c.clone()), T).await, Outcome::UP);
    c.body_regex = Some("^maintenance$".into());
    assert_eq!(
        probe(Check::from(c.clone()), T).await,
        down(Failure::BodyMismatch)
    );
    c.body_regex = Some("(".into());
    assert!(matches!(
        probe(Check::from(c), T).await,
        Outcome::Down(Failure::Setup(_))
    ));
    // MD5 digest (genhash): computed independently with the md-5 crate here.
    use md5::Digest;
    let want: [u8; 16] = md5::Md5::digest(b"status: all ok here").into();
    let mut c = http(addr, "/health");
    c.digest = Some(want);
    assert_eq!(probe(Check::from(c.clone()), T).await, Outcome::UP);
    c.digest = Some([0; 16]);
    assert_eq!(
        probe(Check::from(c), T).await,
        down(Failure::DigestMismatch)
    );
    // Virtual host.
    let mut c = http(addr, "/vhost");
    assert_eq!(
        probe(Check::from(c.clone()), T).await,
        down(Failure::Status(404))
    );
    c.host = Some("www.example.org".into());
    assert_eq!(probe(Check::from(c), T).await, Outcome::UP);
}

#[tokio::test]
async fn http_body_cap() {
    let addr = http_server().await;
    let mut c = http(addr, "/big");
    c.body_regex = Some("TAIL".into());
    c.max_body = 4096;
    assert_eq!(
        probe(Check::from(c.clone()), T).await,
        down(Failure::BodyMismatch),
        "tail beyond the cap is not read"
    );
    c.max_body = 2 << 20;
    assert_eq!(
        probe(Check::from(c), Duration::from_secs(5)).await,
        Outcome::UP
    );
}

#[tokio::test]
async fn http_failures_refused_hang_timeout() {
    let closed = closed_tcp_port().await;
    assert_eq!(
        probe(Check::from(http(closed, "/")), T).await,
        down(Failure::Refused)
    );
    // Accepts and never answers: one overall timeout.
    let hang = accept_and_hang().await;
    assert_eq!(
        probe(Check::from(http(hang, "/")), T).await,
        down(Failure::Timeout)
    );
    // Sends headers... no: a handler that never responds.
    let addr = http_server().await;
    assert_eq!(
        probe(Check::from(http(addr, "/hang")), T).await,
        down(Failure::Timeout)
    );
    // Closes right away.
    let closer = accept_and_close().await;
    let o = probe(Check::from(http(closer, "/")), T).await;
    assert!(
        matches!(o, Outcome::Down(Failure::Reset | Failure::Protocol(_))),
        "{o:?}"
    );
}

struct Pki {
    ca_pem_path: std::path::PathBuf,
    server: rustls::ServerConfig,
    /// A server that requires a client certificate issued by the CA.
    server_mtls: rustls::ServerConfig,
    /// A client certificate (PEM) and key (PEM) issued by the CA.
    client_cert: ClientCert,
}

fn pki(dir: &std::path::Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["rs1.example.org".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let ca_pem_path = dir.join("ca.pem");
    std::fs::write(&ca_pem_path, ca_cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let server_key = || rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.clone(), server_key())
        .unwrap();
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(client_roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server_mtls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, server_key())
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["director.example.org".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    let client_cert = ClientCert {
        cert_chain: dir.join("client.pem"),
        key: dir.join("client.key"),
    };
    std::fs::write(&client_cert.cert_chain, client.pem()).unwrap();
    std::fs::write(&client_cert.key, client_key.serialize_pem()).unwrap();
    Pki {
        ca_pem_path,
        server,
        server_mtls,
        client_cert,
    }
}

async fn https_server(cfg: rustls::ServerConfig) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve_http(tls).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_verification_on_off_and_ca() {
    let dir = std::env::temp_dir().join(format!("ha-hc-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = pki(&dir);
    let addr = https_server(pki.server).await;
    let https = |verify: TlsVerify, sni: Option<&str>| {
        let mut c = http(addr, "/health");
        let mut t = TlsOptions::new(verify);
        t.sni = sni.map(str::to_owned);
        c.tls = Some(t);
        c.body_regex = Some("ok".into());
        Check::from(c)
    };
    // Verification on against the system store: our private CA is unknown.
    match probe(https(TlsVerify::System, Some("rs1.example.org")), T).await {
        Outcome::Down(Failure::Tls(msg)) => assert!(msg.contains("UnknownIssuer"), "{msg}"),
        o => panic!("expected a TLS failure, got {o:?}"),
    }
    // Verification off: succeeds.
    assert_eq!(
        probe(https(TlsVerify::Off, Some("rs1.example.org")), T).await,
        Outcome::UP
    );
    // The right CA: succeeds by name (SNI) and by IP.
    let ca = TlsVerify::CaFile(pki.ca_pem_path.clone());
    assert_eq!(
        probe(https(ca.clone(), Some("rs1.example.org")), T).await,
        Outcome::UP
    );
    assert_eq!(probe(https(ca.clone(), None), T).await, Outcome::UP);
    // The right CA but another name: fails.
    match probe(https(ca, Some("rs2.example.org")), T).await {
        Outcome::Down(Failure::Tls(msg)) => assert!(msg.contains("not valid for name"), "{msg}"),
        o => panic!("expected a TLS failure, got {o:?}"),
    }
    // TLS to a plain HTTP server fails in the handshake.
    let plain = http_server().await;
    let mut c = http(plain, "/health");
    c.tls = Some(TlsOptions::new(TlsVerify::Off));
    assert!(matches!(
        probe(Check::from(c), T).await,
        Outcome::Down(Failure::Tls(_))
    ));
    // A missing CA file is a setup error.
    let mut c = http(addr, "/health");
    c.tls = Some(TlsOptions::new(TlsVerify::CaFile(dir.join("missing.pem"))));
    assert!(matches!(
        probe(Check::from(c), T).await,
        Outcome::Down(Failure::Setup(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn https_client_certificate_and_sni_switch() {
    let dir = std::env::temp_dir().join(format!("ha-hc-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = pki(&dir);
    let addr = https_server(pki.server_mtls).await;
    let https = |cert: Option<ClientCert>| {
        let mut c = http(addr, "/health");
        let mut t = TlsOptions::new(TlsVerify::CaFile(pki.ca_pem_path.clone()));
        t.sni = Some("rs1.example.org".into());
        t.client_cert = cert;
        c.tls = Some(t);
        Check::from(c)
    };
    // The server asks for a certificate: without one the handshake fails, with one it passes.
    match probe(https(None), T).await {
        Outcome::Down(Failure::Tls(msg)) => assert!(msg.contains("CertificateRequired"), "{msg}"),
        o => panic!(
            "a server requiring a client certificate must refuse a client without one: {o:?}"
        ),
    }
    assert_eq!(
        probe(https(Some(pki.client_cert.clone())), T).await,
        Outcome::UP
    );
    // A key file that holds no key is a setup error naming the file.
    let bad = ClientCert {
        cert_chain: pki.client_cert.cert_chain.clone(),
        key: pki.client_cert.cert_chain.clone(),
    };
    match probe(https(Some(bad)), T).await {
        Outcome::Down(Failure::Setup(msg)) => assert!(msg.contains("client.pem"), "{msg}"),
        o => panic!("expected a setup failure, got {o:?}"),
    }
    // SNI off: the name is still what the certificate is checked against.
    let mut c = http(addr, "/health");
    let mut t = TlsOptions::new(TlsVerify::CaFile(pki.ca_pem_path.clone()));
    t.sni = Some("rs1.example.org".into());
    t.send_sni = false;
    t.client_cert = Some(pki.client_cert.clone());
    c.tls = Some(t);
    assert_eq!(probe(Check::from(c), T).await, Outcome::UP);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server that answers one request with `reply` and hands back the request head it read.
async fn recording_server(
    reply: &'static str,
) -> (SocketAddr, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        s.write_all(reply.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
    });
    (addr, rx)
}

#[tokio::test]
async fn http_protocol_versions_on_the_wire() {
    const REPLY: &str = "HTTP/1.0 200 OK\r\n\r\nservice ok\n";
    for (protocol, line, close) in [
        (HttpProtocol::Http10, "GET /h HTTP/1.0\r\n", false),
        (HttpProtocol::Http10Close, "GET /h HTTP/1.0\r\n", true),
        (HttpProtocol::Http11, "GET /h HTTP/1.1\r\n", true),
    ] {
        let (addr, head) = recording_server(REPLY).await;
        let mut c = http(addr, "/h");
        c.protocol = protocol;
        c.body_regex = Some("service ok".into());
        assert_eq!(probe(Check::from(c), T).await, Outcome::UP, "{protocol:?}");
        let head = head.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with(&line.to_ascii_lowercase()),
            "{protocol:?}: {head:?}"
        );
        assert_eq!(
            head.contains("connection: close"),
            close,
            "{protocol:?}: {head:?}"
        );
    }
    // regex_no_match: the same body now fails.
    let (addr, _head) = recording_server(REPLY).await;
    let mut c = http(addr, "/h");
    c.body_regex = Some("service ok".into());
    c.body_regex_no_match = true;
    assert_eq!(probe(Check::from(c), T).await, down(Failure::BodyMismatch));
}

/// A tiny authoritative responder: example.org A 192.0.2.1; everything else NXDOMAIN.
async fn dns_server() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_authoritative(true);
            for query in q.queries() {
                r.add_query(query.clone());
                let name = query.name().to_ascii().to_ascii_lowercase();
                if name == "example.org." && query.query_type() == RecordType::A {
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        300,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
                    ));
                } else if name != "example.org." {
                    r.set_response_code(ResponseCode::NXDomain);
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn dns(server: SocketAddr, name: &str) -> DnsCheck {
    DnsCheck {
        server,
        name: name.into(),
        qtype: DnsType::A,
        expect_rcode: 0,
        expect_answer: None,
        expect_answer_regex: None,
        socket: Default::default(),
    }
}

#[tokio::test]
async fn dns_answer_nxdomain_timeout() {
    let server = dns_server().await;
    assert_eq!(
        probe(Check::Dns(dns(server, "example.org")), T).await,
        Outcome::UP
    );
    let mut c = dns(server, "example.org");
    c.expect_answer = Some("192.0.2.1".into());
    assert_eq!(probe(Check::Dns(c.clone()), T).await, Outcome::UP);
    c.expect_answer = Some("192.0.2.2".into());
    assert_eq!(
        probe(Check::Dns(c), T).await,
        down(Failure::DnsAnswerMissing)
    );
    let mut c = dns(server, "example.org");
    c.qtype = DnsType::Aaaa;
    c.expect_answer = Some("::1".into());
    assert_eq!(
        probe(Check::Dns(c), T).await,
        down(Failure::DnsAnswerMissing)
    );
    assert_eq!(
        probe(Check::Dns(dns(server, "nope.example.net")), T).await,
        down(Failure::DnsRcode(3))
    );
    let mut c = dns(server, "nope.example.net");
    c.expect_rcode = 3;
    assert_eq!(probe(Check::Dns(c), T).await, Outcome::UP);
    // A server that is silent: timeout. One that is absent: refused (ICMP unreachable).
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let o = probe(
        Check::Dns(dns(silent.local_addr().unwrap(), "example.org")),
        T,
    )
    .await;
    assert_eq!(o, down(Failure::Timeout));
    let gone = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(
        probe(Check::Dns(dns(gone, "example.org")), T).await,
        down(Failure::Refused)
    );
}

async fn smtp_server(banner: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let _ = s.get_mut().write_all(banner.as_bytes()).await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let reply = match line.get(..4).unwrap_or("") {
                        "EHLO" => "250-mx.test hello\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n",
                        "HELO" if line.trim_end().len() > 5 => "250 mx.test\r\n",
                        "HELO" => "501 syntax\r\n",
                        "QUIT" => "221 bye\r\n",
                        _ => "500 what\r\n",
                    };
                    let _ = s.get_mut().write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn smtp_banner_and_helo() {
    let ok = smtp_server("220 mx.test ESMTP\r\n").await;
    let c = |addr, ehlo, name: &str| {
        Check::Smtp(SmtpCheck {
            addr,
            helo_name: name.into(),
            ehlo,
            socket: Default::default(),
        })
    };
    assert_eq!(probe(c(ok, true, "director"), T).await, Outcome::UP);
    assert_eq!(probe(c(ok, false, "director"), T).await, Outcome::UP);
    assert_eq!(
        probe(c(ok, false, ""), T).await,
        down(Failure::SmtpCode(501))
    );
    let busy = smtp_server("554 no service\r\n").await;
    assert_eq!(
        probe(c(busy, true, "director"), T).await,
        down(Failure::SmtpCode(554))
    );
    let multi = smtp_server("220-mx.test\r\n220-second line\r\n220 ready\r\n").await;
    assert_eq!(probe(c(multi, true, "director"), T).await, Outcome::UP);
    let garbage = smtp_server("HTTP/1.1 400 Bad\r\n").await;
    assert!(matches!(
        probe(c(garbage, true, "d"), T).await,
        Outcome::Down(Failure::Protocol(_))
    ));
    let hang = accept_and_hang().await;
    assert_eq!(probe(c(hang, true, "d"), T).await, down(Failure::Timeout));
    assert_eq!(
        probe(c(closed_tcp_port().await, true, "d"), T).await,
        down(Failure::Refused)
    );
}

#[tokio::test]
async fn udp_echo_refused_silent() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], peer).await;
        }
    });
    let udp = |addr, require_reply, expect: Option<&[u8]>| {
        Check::from(UdpCheck {
            addr,
            payload: b"hello".to_vec(),
            require_reply,
            expect: expect.map(<[u8]>::to_vec),
            reply_match: None,
            socket: Default::default(),
        })
    };
    assert_eq!(probe(udp(addr, true, None), T).await, Outcome::UP);
    assert_eq!(probe(udp(addr, true, Some(b"hel")), T).await, Outcome::UP);
    assert_eq!(
        probe(udp(addr, true, Some(b"bye")), T).await,
        down(Failure::ReplyMismatch)
    );
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let quiet = silent.local_addr().unwrap();
    assert_eq!(
        probe(udp(quiet, true, None), T).await,
        down(Failure::NoReply)
    );
    assert_eq!(
        probe(udp(quiet, false, None), T).await,
        Outcome::UP,
        "silence is fine without require_reply"
    );
    drop(silent);
    assert_eq!(
        probe(udp(quiet, false, None), T).await,
        down(Failure::Refused),
        "ICMP port unreachable fails"
    );
}

/// keepalived's reply rules against a real echo server: the reply ("hello" echoed) must match
/// the masked bytes and lie within the length bounds.
#[tokio::test]
async fn udp_keepalived_reply_rules() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], peer).await;
        }
    });
    let udp = |hex: &str, min_len: usize, max_len: usize| {
        let (data, mask) = parse_keepalived_hex(hex, true).unwrap();
        let mut c = UdpCheck::new(addr, b"hello".to_vec());
        c.reply_match = Some(UdpReplyMatch {
            data,
            mask,
            min_len,
            max_len,
        });
        Check::from(c)
    };
    // "hello" is 68 65 6c 6c 6f.
    assert_eq!(probe(udp("6865 6c", 0, 255), T).await, Outcome::UP);
    assert_eq!(probe(udp("6x65 xc", 5, 5), T).await, Outcome::UP);
    assert_eq!(
        probe(udp("6866", 0, 255), T).await,
        down(Failure::ReplyMismatch)
    );
    assert_eq!(
        probe(udp("68", 6, 255), T).await,
        down(Failure::ReplyMismatch),
        "shorter than min_reply_length"
    );
    assert_eq!(
        probe(udp("68", 0, 4), T).await,
        down(Failure::ReplyMismatch),
        "longer than max_reply_length"
    );
}

fn script(argv: &[&str]) -> ScriptCheck {
    ScriptCheck::new(argv.iter().copied())
}

#[tokio::test]
async fn script_exit_codes_and_dynamic_weight() {
    assert_eq!(
        probe(Check::Script(script(&["/bin/true"])), T).await,
        Outcome::UP
    );
    assert_eq!(
        probe(Check::Script(script(&["false"])), T).await,
        down(Failure::Exit(1)),
        "PATH lookup works"
    );
    let mut c = script(&["/bin/sh", "-c", "exit 12"]);
    assert_eq!(
        probe(Check::Script(c.clone()), T).await,
        down(Failure::Exit(12))
    );
    c.dynamic = true;
    assert_eq!(
        probe(Check::Script(c), T).await,
        Outcome::Up { weight: Some(10) }
    );
    let c = ScriptCheck {
        dynamic: true,
        ..script(&["/bin/sh", "-c", "exit 1"])
    };
    assert_eq!(probe(Check::Script(c), T).await, down(Failure::Exit(1)));
    let c = script(&["/bin/sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        probe(Check::Script(c), T).await,
        down(Failure::Signal(libc::SIGTERM))
    );
    let o = probe(Check::Script(script(&["/nonexistent/program"])), T).await;
    assert!(matches!(o, Outcome::Down(Failure::Setup(_))), "{o:?}");
}

#[tokio::test]
async fn script_runs_without_shell_unless_asked() {
    // Without a shell the ";" and "false" are just an argument to echo.
    let c = script(&["/bin/echo", "$HOME;", "false"]);
    assert_eq!(probe(Check::Script(c.clone()), T).await, Outcome::UP);
    let c = ScriptCheck { shell: true, ..c };
    assert_eq!(probe(Check::Script(c), T).await, down(Failure::Exit(1)));
}

#[tokio::test]
async fn script_environment_is_minimal() {
    assert!(
        std::env::vars().count() > 3,
        "the test process has an environment to leak"
    );
    let dir = std::env::temp_dir().join(format!("ha-hc-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("env.txt");
    let mut c = script(&[
        "/bin/sh",
        "-c",
        &format!("/usr/bin/env > {}", out.display()),
    ]);
    c.env = vec![("CHECK_TARGET".into(), "10.0.0.1".into())];
    assert_eq!(probe(Check::Script(c), T).await, Outcome::UP);
    let env = std::fs::read_to_string(&out).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    for n in &names {
        assert!(
            ["PATH", "CHECK_TARGET", "PWD", "SHLVL", "_", "OLDPWD"].contains(n),
            "leaked {n}: {env}"
        );
    }
    assert!(env.contains("CHECK_TARGET=10.0.0.1"));
    assert!(env.contains("PATH=/usr/local/sbin:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn script_that_hangs_is_killed_with_its_group() {
    let dir = std::env::temp_dir().join(format!("ha-hc-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("child.pid");
    // The script starts a grandchild and waits: both must die at the timeout.
    let c = ScriptCheck {
        shell: true,
        ..script(&[&format!("sleep 30 & echo $! > {}; wait", pidfile.display())])
    };
    let t0 = Instant::now();
    assert_eq!(
        probe(Check::Script(c), Duration::from_millis(500)).await,
        down(Failure::Timeout)
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    let gone = ha_testsupport::wait_until(Duration::from_secs(3), || {
        // Gone, or a zombie waiting for init to reap it.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z')),
        }
    });
    assert!(gone, "grandchild {pid} survived the timeout");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ping needs a raw socket (root) or `net.ipv4.ping_group_range` covering our group.
#[test]
#[ignore = "host suite: needs root (raw ICMP socket) or ping_group_range; run by cargo xtask test"]
fn host_ping_loopback_v4_v6() {
    ha_testsupport::require_root();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ping = |addr: &str| {
            Check::Ping(ha_healthcheck::PingCheck {
                addr: addr.parse().unwrap(),
                socket: Default::default(),
            })
        };
        assert_eq!(probe(ping("127.0.0.1"), T).await, Outcome::UP);
        assert_eq!(probe(ping("::1"), T).await, Outcome::UP);
    });
}

#[tokio::test]
async fn file_check_values_weights_reverse_and_fault() {
    use ha_healthcheck::{FileCheck, track_value};
    let dir = std::env::temp_dir().join(format!("ha-hc-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("maint");
    let check = |weight: i32, reverse: bool| {
        Check::File(FileCheck {
            path: path.clone(),
            weight,
            reverse,
            base_weight: 10,
        })
    };
    // No file reads as 0: up, at the configured weight when the weight is 0.
    assert_eq!(probe(check(0, false), T).await, Outcome::UP);
    assert_eq!(
        probe(check(0, true), T).await,
        down(Failure::FileValue(0)),
        "reverse: zero is the fault"
    );
    std::fs::write(&path, "1\n").unwrap();
    assert_eq!(probe(check(0, false), T).await, down(Failure::FileValue(1)));
    assert_eq!(probe(check(0, true), T).await, Outcome::UP);
    // A weight moves the server's weight by value * weight, within 0..=65535.
    std::fs::write(&path, "  3 trailing").unwrap();
    assert_eq!(
        probe(check(2, false), T).await,
        Outcome::Up { weight: Some(16) }
    );
    assert_eq!(
        probe(check(2, true), T).await,
        Outcome::Up { weight: Some(4) }
    );
    assert_eq!(
        probe(check(-5, false), T).await,
        Outcome::Up { weight: Some(0) },
        "not below 0"
    );
    // At IPVS's fault weight the server is down.
    std::fs::write(&path, "-0x10000").unwrap();
    assert_eq!(
        probe(check(1, false), T).await,
        down(Failure::FileValue(-65536))
    );
    assert_eq!(track_value("010"), 8, "octal, as strtol");
    assert_eq!(track_value("junk"), 0);
    assert_eq!(track_value("99999999999"), i64::from(i32::MAX));
    std::fs::remove_dir_all(&dir).unwrap();
}
