//! Pure parsers of the network replies the probes read (no IO, never panic).
//!
//! Every function here takes untrusted bytes. Panic rule: none of them panics or allocates
//! for any input (checked by proptest and the fuzz target in `healthcheck/fuzz/`).

pub mod dns;

/// A malformed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// An SMTP reply line that does not start with three digits (RFC 5321 §4.2).
    #[error("SMTP reply line does not start with a 3-digit code")]
    SmtpNoCode,
    /// An SMTP reply code outside 200..=599 (RFC 5321 §4.2.1: first digit 2-5).
    #[error("SMTP reply code {0} out of range 200-599")]
    SmtpCodeRange(u16),
    /// Fourth byte of an SMTP reply line is neither space, hyphen nor end of line.
    #[error("SMTP reply line has {0:#04x} after the code (expected space or hyphen)")]
    SmtpSeparator(u8),
}

/// One line of an SMTP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpLine {
    /// The reply code.
    pub code: u16,
    /// True for `code-text` lines: more lines of the same reply follow (RFC 5321 §4.2.1).
    pub more: bool,
}

/// Parse one SMTP reply line (with or without its CRLF).
pub fn smtp_reply_line(line: &[u8]) -> Result<SmtpLine, WireError> {
    let Some(digits) = line.get(..3) else {
        return Err(WireError::SmtpNoCode);
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(WireError::SmtpNoCode);
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(200..=599).contains(&code) {
        return Err(WireError::SmtpCodeRange(code));
    }
    let more = match line.get(3) {
        Some(b'-') => true,
        None | Some(b' ' | b'\r' | b'\n') => false,
        Some(&other) => return Err(WireError::SmtpSeparator(other)),
    };
    Ok(SmtpLine { code, more })
}

/// What an ICMP packet received on an echo socket means for our request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoReply {
    /// The echo reply to our request (RFC 792 type 0, RFC 4443 §4.2 type 129).
    Match,
    /// Destination unreachable (RFC 792 type 3, RFC 4443 §3.1 type 1).
    Unreachable,
    /// Something else (another process's echo, a short packet): keep waiting.
    Other,
}

/// Classify an ICMP packet. `ip_header`: the packet starts with an IPv4 header (raw IPv4
/// sockets). `ident`: the identifier to match, or `None` where the kernel already matched it
/// (ICMP datagram sockets rewrite it to the socket's port).
#[must_use]
pub fn icmp_echo_reply(
    packet: &[u8],
    v6: bool,
    ip_header: bool,
    ident: Option<u16>,
    seq: u16,
) -> EchoReply {
    let mut icmp = packet;
    if ip_header {
        // RFC 791 §3.1: IHL is the header length in 32-bit words, at least 5.
        let ihl = usize::from(icmp.first().copied().unwrap_or(0) & 0x0f) * 4;
        if ihl < 20 || icmp.len() < ihl {
            return EchoReply::Other;
        }
        icmp = &icmp[ihl..];
    }
    let Some(head) = icmp.get(..8) else {
        return EchoReply::Other;
    };
    let (reply, unreachable) = if v6 { (129, 1) } else { (0, 3) };
    if head[0] == unreachable {
        return EchoReply::Unreachable;
    }
    let id_ok = ident.is_none_or(|id| head[4..6] == id.to_be_bytes());
    if head[0] == reply && head[6..8] == seq.to_be_bytes() && id_ok {
        EchoReply::Match
    } else {
        EchoReply::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smtp_lines() {
        assert_eq!(
            smtp_reply_line(b"220 mx ESMTP\r\n"),
            Ok(SmtpLine {
                code: 220,
                more: false
            })
        );
        assert_eq!(
            smtp_reply_line(b"250-SIZE 100\r\n"),
            Ok(SmtpLine {
                code: 250,
                more: true
            })
        );
        assert_eq!(
            smtp_reply_line(b"250"),
            Ok(SmtpLine {
                code: 250,
                more: false
            })
        );
        assert_eq!(smtp_reply_line(b"25"), Err(WireError::SmtpNoCode));
        assert_eq!(smtp_reply_line(b"HTTP/1.1"), Err(WireError::SmtpNoCode));
        assert_eq!(
            smtp_reply_line(b"999 x"),
            Err(WireError::SmtpCodeRange(999))
        );
        assert_eq!(
            smtp_reply_line(b"220x"),
            Err(WireError::SmtpSeparator(b'x'))
        );
    }

    #[test]
    fn echo_replies() {
        let reply = [0u8, 0, 0, 0, 0x12, 0x34, 0, 7];
        assert_eq!(
            icmp_echo_reply(&reply, false, false, Some(0x1234), 7),
            EchoReply::Match
        );
        assert_eq!(
            icmp_echo_reply(&reply, false, false, Some(0x1235), 7),
            EchoReply::Other
        );
        assert_eq!(
            icmp_echo_reply(&reply, false, false, None, 8),
            EchoReply::Other
        );
        assert_eq!(
            icmp_echo_reply(&reply, true, false, None, 7),
            EchoReply::Other
        );
        let mut with_ip = vec![0x45u8];
        with_ip.extend_from_slice(&[0; 19]);
        with_ip.extend_from_slice(&reply);
        assert_eq!(
            icmp_echo_reply(&with_ip, false, true, Some(0x1234), 7),
            EchoReply::Match
        );
        assert_eq!(
            icmp_echo_reply(&with_ip[..22], false, true, None, 7),
            EchoReply::Other
        );
        assert_eq!(
            icmp_echo_reply(&[1, 4, 0, 0, 0, 0, 0, 0], true, false, None, 7),
            EchoReply::Unreachable
        );
        let v6 = [129u8, 0, 0, 0, 0, 0, 0, 7];
        assert_eq!(icmp_echo_reply(&v6, true, false, None, 7), EchoReply::Match);
    }

    proptest! {
        #[test]
        fn smtp_never_panics(line in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = smtp_reply_line(&line);
        }

        #[test]
        fn smtp_code_roundtrip(code in 200u16..600, more in any::<bool>(), text in "[ -~]{0,40}") {
            let line = format!("{code}{}{text}\r\n", if more { '-' } else { ' ' });
            prop_assert_eq!(smtp_reply_line(line.as_bytes()), Ok(SmtpLine { code, more }));
        }

        #[test]
        fn echo_never_panics(pkt in proptest::collection::vec(any::<u8>(), 0..80), v6 in any::<bool>(),
                             ip in any::<bool>(), id in any::<Option<u16>>(), seq in any::<u16>()) {
            let _ = icmp_echo_reply(&pkt, v6, ip, id, seq);
        }
    }
}
