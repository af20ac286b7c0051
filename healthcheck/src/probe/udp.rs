//! UDP check: send a payload on a connected socket, optionally expect a reply. An ICMP port
//! unreachable surfaces as ECONNREFUSED on the connected socket and fails the check.

use std::time::Duration;

use super::sock::{io_fail, udp_connect};
use crate::check::UdpCheck;
use crate::outcome::{Failure, Outcome};

pub(crate) async fn run(c: &UdpCheck, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let sock = match tokio::time::timeout_at(deadline, udp_connect(c.addr, &c.socket)).await {
        Ok(Ok(s)) => s,
        Ok(Err(f)) => return Outcome::Down(f),
        Err(_) => return Outcome::Down(Failure::Timeout),
    };
    if let Err(e) = sock.send(&c.payload).await {
        return Outcome::Down(io_fail(e));
    }
    let need_reply = c.require_reply || c.expect.is_some() || c.reply_match.is_some();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => {
            let reply = &buf[..n];
            let prefix_ok = c.expect.as_ref().is_none_or(|want| reply.starts_with(want));
            let rules_ok = c.reply_match.as_ref().is_none_or(|m| m.matches(reply));
            if prefix_ok && rules_ok {
                Outcome::UP
            } else {
                Outcome::Down(Failure::ReplyMismatch)
            }
        }
        Ok(Err(e)) => Outcome::Down(io_fail(e)),
        Err(_) if need_reply => Outcome::Down(Failure::NoReply),
        // keepalived UDP_CHECK without require_reply: silence is success.
        Err(_) => Outcome::UP,
    }
}
