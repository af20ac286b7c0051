//! The probes ldirectord's checks need, against real servers the tests start on loopback:
//! `httpmethod = HEAD`, `service = simpletcp` (send, shut the write side, a line must match),
//! `service = dns` with a `receive` pattern, and `maintenancedir`.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ha_healthcheck::probe::run;
use ha_healthcheck::{
    Check, DnsCheck, DnsType, Failure, HttpCheck, HttpMethod, MaintenanceCheck, Outcome, TcpCheck,
};
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const T: Duration = Duration::from_secs(2);

async fn probe(check: Check) -> Outcome {
    let t0 = Instant::now();
    let o = run(&check, T).await;
    assert!(
        t0.elapsed() < T + Duration::from_millis(500),
        "probe overran"
    );
    o
}

/// An HTTP server that answers every request with `Content-Length: 1000` and, for GET
/// only, the body (as RFC 9110 §9.3.2 wants for HEAD). Returns the address and a log of
/// request lines.
async fn http_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                let line = text.lines().next().unwrap_or("").to_owned();
                let head = line.starts_with("HEAD ");
                let _ = tx.send(line);
                let body = "x".repeat(990) + "Still alive";
                let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                if !head {
                    resp.push_str(&body);
                }
                let _ = s.write_all(resp.as_bytes()).await;
                // Keep the connection open: a client waiting for a HEAD body would hang.
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn http_head_reads_no_body_and_get_matches_the_body() {
    let (addr, mut log) = http_server().await;
    let mut c = HttpCheck::new(addr, "/check.html");
    c.method = HttpMethod::Head;
    assert_eq!(probe(Check::from(c.clone())).await, Outcome::UP);
    assert_eq!(log.recv().await.unwrap(), "HEAD /check.html HTTP/1.1");
    c.method = HttpMethod::Get;
    c.body_regex = Some("Still alive$".into());
    assert_eq!(probe(Check::from(c.clone())).await, Outcome::UP);
    assert_eq!(log.recv().await.unwrap(), "GET /check.html HTTP/1.1");
    c.body_regex = Some("Dead".into());
    assert_eq!(
        probe(Check::from(c)).await,
        Outcome::Down(Failure::BodyMismatch)
    );
}

/// A line server that reads its whole input (to EOF: the client must shut its write side)
/// and answers `got N bytes` then the input upper-cased.
async fn simpletcp_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut input = Vec::new();
                if s.read_to_end(&mut input).await.is_err() {
                    return;
                }
                let reply = format!(
                    "got {} bytes\n{}",
                    input.len(),
                    String::from_utf8_lossy(&input).to_uppercase()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn simpletcp_sends_shuts_and_matches_a_line() {
    let addr = simpletcp_server().await;
    let mut c = TcpCheck::new(addr);
    c.send = Some(b"ping\n".to_vec());
    c.shutdown_write = true;
    c.expect_line_regex = Some("^PING$".into());
    assert_eq!(probe(Check::Tcp(c.clone())).await, Outcome::UP);
    // The last line counts without its newline.
    c.send = Some(b"ping".to_vec());
    assert_eq!(probe(Check::Tcp(c.clone())).await, Outcome::UP);
    c.expect_line_regex = Some("^got 4 bytes$".into());
    assert_eq!(probe(Check::Tcp(c.clone())).await, Outcome::UP);
    // A pattern across lines never matches one line.
    c.expect_line_regex = Some("bytes.PING".into());
    assert_eq!(
        probe(Check::Tcp(c.clone())).await,
        Outcome::Down(Failure::BodyMismatch)
    );
    // Without the write shutdown this server never answers: the deadline says so.
    c.shutdown_write = false;
    c.expect_line_regex = Some("PING".into());
    let t0 = Instant::now();
    assert_eq!(
        run(&Check::Tcp(c), Duration::from_millis(500)).await,
        Outcome::Down(Failure::Timeout)
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
}

/// A DNS server: `www.example.org` A 192.0.2.7, `7.2.0.192.in-addr.arpa` PTR
/// `web7.example.org.`.
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
            r.set_id(q.id()).set_message_type(MessageType::Response);
            for query in q.queries() {
                r.add_query(query.clone());
                let name = query.name().to_ascii().to_ascii_lowercase();
                match (name.as_str(), query.query_type()) {
                    ("www.example.org.", RecordType::A) => {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
                        ));
                    }
                    ("7.2.0.192.in-addr.arpa.", RecordType::PTR) => {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::PTR(PTR(Name::from_ascii("web7.example.org.").unwrap())),
                        ));
                    }
                    _ => {}
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_answer_pattern_on_a_and_ptr_records() {
    let server = dns_server().await;
    let check = |name: &str, qtype, re: &str| {
        Check::Dns(DnsCheck {
            server,
            name: name.into(),
            qtype,
            expect_rcode: 0,
            expect_answer: None,
            expect_answer_regex: Some(re.into()),
            socket: Default::default(),
        })
    };
    assert_eq!(
        probe(check("www.example.org", DnsType::A, r"^192\.0\.2\.")).await,
        Outcome::UP
    );
    assert_eq!(
        probe(check("www.example.org", DnsType::A, r"^10\.")).await,
        Outcome::Down(Failure::DnsAnswerMissing)
    );
    assert_eq!(
        probe(check(
            "7.2.0.192.in-addr.arpa",
            DnsType::Ptr,
            "^web7.example.org$"
        ))
        .await,
        Outcome::UP,
        "the name without its final dot, as ldirectord's ptrdname"
    );
    assert_eq!(
        probe(check("nothing.example.org", DnsType::A, "")).await,
        Outcome::Down(Failure::DnsAnswerMissing),
        "no answer at all"
    );
}

#[tokio::test]
async fn maintenance_file_puts_the_server_down_while_it_exists() {
    let dir = std::env::temp_dir().join(format!("hc-maint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = Check::Maintenance(MaintenanceCheck {
        dir: dir.clone(),
        names: vec!["10.0.0.2:80".into(), "10.0.0.2".into()],
    });
    assert_eq!(probe(c.clone()).await, Outcome::UP);
    std::fs::write(dir.join("10.0.0.2"), "").unwrap();
    assert!(
        matches!(probe(c.clone()).await, Outcome::Down(Failure::Maintenance(p)) if p.ends_with("10.0.0.2"))
    );
    std::fs::remove_file(dir.join("10.0.0.2")).unwrap();
    std::fs::write(dir.join("10.0.0.2:80"), "").unwrap();
    assert!(matches!(
        probe(c.clone()).await,
        Outcome::Down(Failure::Maintenance(_))
    ));
    std::fs::remove_file(dir.join("10.0.0.2:80")).unwrap();
    assert_eq!(probe(c).await, Outcome::UP);
    let _ = std::fs::remove_dir_all(&dir);
}
