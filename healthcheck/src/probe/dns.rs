//! DNS query over UDP (RFC 1035 §4.2.1), message built and parsed with [`crate::wire::dns`].

use std::sync::atomic::{AtomicU32, Ordering};

use super::sock::{io_fail, udp_connect};
use crate::check::DnsCheck;
use crate::outcome::{Failure, Outcome};
use crate::wire::dns::{MAX_QUERY_LEN, RData, Reply, encode_query, rtype, type_code};

static COUNTER: AtomicU32 = AtomicU32::new(0);

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
    let id = query_id();
    let qtype = type_code(c.qtype);
    let mut query = [0u8; MAX_QUERY_LEN];
    let len = encode_query(id, &c.name, qtype, &mut query)
        .map_err(|e| Failure::Setup(format!("DNS name {:?}: {e}", c.name)))?;
    let sock = udp_connect(c.server, &c.socket).await?;
    sock.send(&query[..len]).await.map_err(io_fail)?;
    let mut buf = vec![0u8; 4096];
    let want = c.expect_answer.as_deref().map(normalize);
    loop {
        let n = sock.recv(&mut buf).await.map_err(io_fail)?;
        let Ok(reply) = Reply::parse(&buf[..n]) else {
            continue; // garbage from the server's address: keep waiting for ours
        };
        // RFC 5452 §4: accept only the reply to our id and, when it repeats it, question.
        if reply.id != id
            || reply
                .question
                .is_some_and(|(name, t)| t != qtype || !name.eq_dotted(&c.name))
        {
            continue;
        }
        if reply.rcode != c.expect_rcode {
            return Err(Failure::DnsRcode(u16::from(reply.rcode)));
        }
        let mut text = String::new();
        let mut found_answer = want.is_none();
        let mut found_pattern = answer_re.is_none();
        for record in reply.answers() {
            let record =
                record.map_err(|e| Failure::Protocol(format!("DNS answer section: {e}")))?;
            if want.is_none() && answer_re.is_none() {
                continue;
            }
            text.clear();
            // Writing to a String cannot fail.
            let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{}", record.data));
            if let Some(want) = &want {
                // `want` is normalized once; the record's text is compared the same way
                // without a copy.
                found_answer |= text.trim().trim_end_matches('.').eq_ignore_ascii_case(want);
            }
            // ldirectord's check_dns: an A record's address or a PTR record's name.
            if let Some(re) = &answer_re
                && matches!(
                    (record.rtype, record.data),
                    (rtype::A, RData::A(_)) | (rtype::PTR, RData::Name(_))
                )
            {
                found_pattern |= re.is_match(text.trim_end_matches('.').as_bytes());
            }
        }
        if !(found_answer && found_pattern) {
            return Err(Failure::DnsAnswerMissing);
        }
        return Ok(Outcome::UP);
    }
}
