//! Host tests of the TCP half-open check (`TcpClose::HalfOpen`): up, refused and timeout
//! against real peers in network namespaces, and the SYN's checksum checked by tshark.
//!
//! The half-open engine is process-wide and lives on the runtime that made it: each test
//! here runs its probes on a runtime of its own that it drops before returning, and the
//! probing tests are serialised, so each one makes its engine inside its own namespace.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use ha_healthcheck::probe::{self, halfopen};
use ha_healthcheck::{Check, Failure, Outcome, TcpCheck, TcpClose};
use ha_testsupport::{Lab, pcap, require_root, tshark_fields};

/// One engine per process: probing tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn half_open(addr: SocketAddr) -> Check {
    let mut c = TcpCheck::new(addr);
    c.socket.close = TcpClose::HalfOpen;
    Check::Tcp(c)
}

fn probe_all(checks: Vec<(Check, Duration)>) -> Vec<Outcome> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut out = Vec::new();
        for (c, t) in &checks {
            out.push(probe::run(c, *t).await);
        }
        out
    })
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_half_open_up_refused_timeout() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("halfopen");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    let b = lab.add_host("b", &["10.9.0.2/24"]);
    // A listener on b (an application that never accepts: the handshake is the kernel's).
    let listener = b.run_in(|| {
        let l = std::net::TcpListener::bind("10.9.0.2:8080").expect("bind listener");
        l.set_nonblocking(true).expect("nonblocking");
        l
    });
    let cap = lab.capture(&b, "eth0", Some("tcp"));
    let outcomes = a.run_in(|| {
        // A loopback listener too, in a's namespace.
        let lo = std::net::TcpListener::bind("127.0.0.1:0").expect("bind lo");
        let lo_addr = lo.local_addr().expect("lo addr");
        let t = Duration::from_secs(1);
        let out = probe_all(vec![
            (half_open("10.9.0.2:8080".parse().unwrap()), t),
            (half_open("10.9.0.2:8081".parse().unwrap()), t),
            (half_open(lo_addr), t),
            (half_open("127.0.0.1:1".parse().unwrap()), t),
            // On the link, nobody there: no ARP answer, no reply at all.
            (
                half_open(SocketAddr::from((Ipv4Addr::new(10, 9, 0, 99), 80))),
                Duration::from_millis(500),
            ),
            // IPv6 and send/expect are refused up front.
            (half_open("[::1]:80".parse().unwrap()), t),
            // Long enough for ARP to give up on 10.9.0.99 (the kernel may then report a
            // host unreachable on the raw socket, which says nothing about the probe)...
            (
                half_open(SocketAddr::from((Ipv4Addr::new(10, 9, 0, 99), 81))),
                Duration::from_secs(4),
            ),
            // ... and the probes after it still work.
            (half_open("10.9.0.2:8080".parse().unwrap()), t),
            (half_open("10.9.0.2:8081".parse().unwrap()), t),
        ]);
        drop(lo);
        out
    });
    let pcap_path = cap.stop();
    drop(listener);
    assert_eq!(outcomes[0], Outcome::UP, "listener on b");
    assert_eq!(
        outcomes[1],
        Outcome::Down(Failure::Refused),
        "closed port on b"
    );
    assert_eq!(outcomes[2], Outcome::UP, "listener on loopback");
    assert_eq!(
        outcomes[3],
        Outcome::Down(Failure::Refused),
        "closed loopback port"
    );
    assert_eq!(
        outcomes[4],
        Outcome::Down(Failure::Timeout),
        "silent address"
    );
    assert!(
        matches!(&outcomes[5], Outcome::Down(Failure::Setup(m)) if m.contains("IPv4")),
        "IPv6: {:?}",
        outcomes[5]
    );
    assert_eq!(outcomes[6], Outcome::Down(Failure::Timeout), "ARP failure");
    assert_eq!(
        outcomes[7],
        Outcome::UP,
        "listener on b after an ICMP error"
    );
    assert_eq!(
        outcomes[8],
        Outcome::Down(Failure::Refused),
        "closed port on b after an ICMP error"
    );
    // On the wire at b: our SYN, b's SYN-ACK, and a's kernel's RST for it (no connection
    // was made: no ACK completing the handshake ever leaves a).
    let rows = tshark_fields(
        &pcap_path,
        "tcp.port == 8080",
        &[
            "ip.src",
            "tcp.flags.syn",
            "tcp.flags.ack",
            "tcp.flags.reset",
        ],
    );
    let flags: Vec<(String, String, String, String)> = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect();
    let t = |s: &str| s == "1" || s == "True";
    assert!(
        flags
            .iter()
            .any(|f| f.0 == "10.9.0.1" && t(&f.1) && !t(&f.2)),
        "SYN from a: {flags:?}"
    );
    assert!(
        flags
            .iter()
            .any(|f| f.0 == "10.9.0.2" && t(&f.1) && t(&f.2)),
        "SYN-ACK from b: {flags:?}"
    );
    assert!(
        flags.iter().any(|f| f.0 == "10.9.0.1" && t(&f.3)),
        "a's kernel resets the SYN-ACK: {flags:?}"
    );
    assert!(
        !flags
            .iter()
            .any(|f| f.0 == "10.9.0.1" && !t(&f.1) && t(&f.2) && !t(&f.3)),
        "a never completes the handshake: {flags:?}"
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_half_open_syn_checksum_tshark() {
    require_root();
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 7), Ipv4Addr::new(198, 51, 100, 9));
    let mut packets = Vec::new();
    for (i, seq) in [0u32, 1, 0x8000_0000, u32::MAX, 0x1234_5678]
        .into_iter()
        .enumerate()
    {
        let tcp = halfopen::build_syn(src, 40000 + i as u16, dst, 443, seq);
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let mut sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        ip.extend_from_slice(&tcp);
        packets.push(ip);
    }
    let dir = std::env::temp_dir().join(format!("halfopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("syn.pcap");
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    pcap::write(&path, pcap::LinkType::RawIp, &refs);
    let out = std::process::Command::new("tshark")
        .args(["-o", "tcp.check_checksum:TRUE", "-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "tcp.checksum.status",
            "-e",
            "tcp.flags.syn",
        ])
        .output()
        .expect("tshark must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), packets.len(), "tshark output: {text}");
    for l in lines {
        // tcp.checksum.status: 1 = Good (0 = Bad, 2 = Unverified).
        assert!(l.starts_with("1\t"), "checksum not good: {l:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deadlines kept by the engine's one timer: concurrent probes to an address nobody
/// answers, a long timeout first and shorter ones after it (the later, earlier deadlines
/// must re-arm the timer), and a probe that is answered in between. Each silent probe
/// ends at its own timeout, not at the long one's, and the answered one is not held back.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_half_open_deadlines_of_concurrent_probes() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("hodeadl");
    let a = lab.add_host("a", &["10.9.1.1/24"]);
    let results = a.run_in(|| {
        let lo = std::net::TcpListener::bind("127.0.0.1:0").expect("bind lo");
        let lo_addr = lo.local_addr().expect("lo addr");
        let silent = |port| half_open(SocketAddr::from((Ipv4Addr::new(10, 9, 1, 99), port)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = rt.block_on(async {
            let t0 = std::time::Instant::now();
            let timed = |c: Check, t: Duration| async move {
                let o = probe::run(&c, t).await;
                (o, t0.elapsed())
            };
            let long = timed(silent(80), Duration::from_millis(2500));
            let mid = async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                timed(silent(81), Duration::from_millis(900)).await
            };
            let short = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                timed(silent(82), Duration::from_millis(300)).await
            };
            let answered = async {
                // After the short probe's deadline: no reply comes before it to wake the
                // receiver, so only the re-arming can end the short probe in time.
                tokio::time::sleep(Duration::from_millis(800)).await;
                timed(half_open(lo_addr), Duration::from_secs(3)).await
            };
            tokio::join!(long, mid, short, answered)
        });
        drop(lo);
        out
    });
    let (long, mid, short, answered) = results;
    let ms = |d: Duration| d.as_millis();
    for (name, (o, at), due) in [
        ("long", long, 2500u128),
        ("mid", mid, 1000),
        ("short", short, 500),
    ] {
        assert_eq!(o, Outcome::Down(Failure::Timeout), "{name}");
        assert!(
            ms(at) >= due && ms(at) < due + 150,
            "{name} probe ended at {} ms, due at {due} ms",
            ms(at)
        );
    }
    assert_eq!(answered.0, Outcome::UP);
    assert!(ms(answered.1) < 1400, "answered at {} ms", ms(answered.1));
}
