//! ICMP / ICMPv6 echo (RFC 792, RFC 4443 §4.1). Uses an unprivileged ICMP datagram socket
//! where `net.ipv4.ping_group_range` allows it, a raw socket otherwise (root or CAP_NET_RAW).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;

use super::sock::{io_fail, socket};
use crate::check::PingCheck;
use crate::outcome::{Failure, Outcome};
use crate::wire::{EchoReply, icmp_echo_reply};
use ha_vrrp_proto::wire::checksum::checksum;

static SEQ: AtomicU16 = AtomicU16::new(1);

pub(crate) async fn run(c: &PingCheck) -> Result<Outcome, Failure> {
    let v4 = c.addr.is_ipv4();
    let proto = if v4 {
        Protocol::ICMPV4
    } else {
        Protocol::ICMPV6
    };
    let (sock, raw) = match socket(c.addr, Type::DGRAM, proto, &c.socket) {
        Ok(s) => (s, false),
        Err(_) => (socket(c.addr, Type::RAW, proto, &c.socket)?, true),
    };
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(|e| Failure::Setup(format!("tokio: {e}")))?;
    sock.connect(SocketAddr::new(c.addr, 0))
        .await
        .map_err(io_fail)?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let ident = (std::process::id() as u16) ^ 0x4841;
    // Type 8 / 128 echo request, code 0, checksum, identifier, sequence, payload.
    let mut pkt = [0u8; 8 + 16];
    pkt[0] = if v4 { 8 } else { 128 };
    pkt[4..6].copy_from_slice(&ident.to_be_bytes());
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    pkt[8..].copy_from_slice(b"ha-healthcheck!!");
    if v4 {
        // ICMPv6 checksums cover a pseudo-header: the kernel computes them.
        let sum = checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    sock.send(&pkt).await.map_err(io_fail)?;
    let mut buf = [0u8; 2048];
    loop {
        let n = sock.recv(&mut buf).await.map_err(io_fail)?;
        // Datagram sockets rewrite the identifier to the socket's port and filter on it.
        let ident = if raw { Some(ident) } else { None };
        match icmp_echo_reply(&buf[..n], !v4, raw && v4, ident, seq) {
            EchoReply::Match => return Ok(Outcome::UP),
            EchoReply::Unreachable => return Err(Failure::Unreachable),
            EchoReply::Other => {}
        }
    }
}
