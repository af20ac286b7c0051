//! DNS query over UDP (RFC 1035 §4.2.1), message built and parsed with hickory-proto.

use std::sync::atomic::{AtomicU32, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::sock::{io_fail, udp_connect};
use crate::check::{DnsCheck, DnsType};
use crate::outcome::{Failure, Outcome};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn record_type(t: DnsType) -> RecordType {
    match t {
        DnsType::A => RecordType::A,
        DnsType::Aaaa => RecordType::AAAA,
        DnsType::Ns => RecordType::NS,
        DnsType::Cname => RecordType::CNAME,
        DnsType::Soa => RecordType::SOA,
        DnsType::Mx => RecordType::MX,
        DnsType::Txt => RecordType::TXT,
        DnsType::Ptr => RecordType::PTR,
        DnsType::Srv => RecordType::SRV,
    }
}

/// A query id that is hard to guess off-path (RFC 5452 §9.2): clock nanos mixed with a
/// counter. The probe layer is IO, so it may read the clock.
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(0x9e37, Ordering::Relaxed);
    let x = (nanos ^ n.rotate_left(16)).wrapping_mul(0x2545_f491);
    (x >> 16) as u16
}

fn normalize(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

pub(crate) async fn run(c: &DnsCheck) -> Result<Outcome, Failure> {
    // Compile first: a bad pattern is a configuration error, not the server's fault.
    let answer_re = match &c.expect_answer_regex {
        Some(p) => Some(super::compiled(p, "answer regex")?),
        None => None,
    };
    let name = Name::from_ascii(&c.name)
        .map_err(|e| Failure::Setup(format!("DNS name {:?}: {e}", c.name)))?;
    let id = query_id();
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, record_type(c.qtype)));
    let bytes = msg
        .to_vec()
        .map_err(|e| Failure::Setup(format!("DNS encode: {e}")))?;
    let sock = udp_connect(c.server, &c.socket).await?;
    sock.send(&bytes).await.map_err(io_fail)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(io_fail)?;
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            continue; // garbage from the server's address: keep waiting for ours
        };
        // RFC 5452 §4: accept only the reply to our id and question.
        if reply.id() != id || reply.message_type() != MessageType::Response {
            continue;
        }
        let rcode = u16::from(reply.response_code());
        if rcode != u16::from(c.expect_rcode) {
            return Err(Failure::DnsRcode(rcode));
        }
        if let Some(want) = &c.expect_answer {
            let want = normalize(want);
            let found = reply
                .answers()
                .iter()
                .any(|r| normalize(&r.data().to_string()) == want);
            if !found {
                return Err(Failure::DnsAnswerMissing);
            }
        }
        if let Some(re) = &answer_re {
            // ldirectord's check_dns: an A record's address or a PTR record's name.
            let found = reply.answers().iter().any(|r| {
                matches!(r.record_type(), RecordType::A | RecordType::PTR)
                    && re.is_match(r.data().to_string().trim_end_matches('.').as_bytes())
            });
            if !found {
                return Err(Failure::DnsAnswerMissing);
            }
        }
        return Ok(Outcome::UP);
    }
}
