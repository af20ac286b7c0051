//! A small DNS codec for the DNS check: one query out, the answer section of the reply in
//! (RFC 1035 §4). No IO, always available (the DNS probe itself is behind feature `dns`).
//!
//! - [`encode_query`] writes a standard query (RD set, one question, class IN) into a
//!   caller's buffer.
//! - [`Reply::parse`] validates a reply's header and question section; [`Reply::answers`]
//!   walks the answer section record by record, each a [`Record`] whose [`RData`] borrows the
//!   message. Names ([`Name`]) are validated once, compression pointers included, and print
//!   in the master-file form (`www.example.org.`).
//!
//! Panic rule: nothing here panics or allocates for any input; every read is bounds-checked
//! and a compression pointer must point strictly before the place it is read from, so a walk
//! over a name always ends (checked by proptest and the fuzz target in `healthcheck/fuzz/`).
//!
//! RFC 1035 sections: header §4.1.1, question §4.1.2, resource record §4.1.3, compression
//! §4.1.4, names and labels §2.3.4 and §3.1, RDATA formats §3.3 (CNAME §3.3.1, MX §3.3.9,
//! NS §3.3.11, PTR §3.3.12, SOA §3.3.13, TXT §3.3.14), A §3.4.1; AAAA RFC 3596 §2.2; SRV
//! RFC 2782.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Length of the fixed header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire, length octets included (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest query [`encode_query`] writes: header, the longest name, type and class.
pub const MAX_QUERY_LEN: usize = HEADER_LEN + MAX_NAME_LEN + 4;
/// Class IN (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;

/// Record types the DNS check knows by name (RFC 1035 §3.2.2, RFC 3596, RFC 2782).
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Domain name pointer.
    pub const PTR: u16 = 12;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service locator.
    pub const SRV: u16 = 33;
}

/// The wire code of a query type.
#[must_use]
pub fn type_code(t: crate::DnsType) -> u16 {
    use crate::DnsType as T;
    match t {
        T::A => rtype::A,
        T::Aaaa => rtype::AAAA,
        T::Ns => rtype::NS,
        T::Cname => rtype::CNAME,
        T::Soa => rtype::SOA,
        T::Mx => rtype::MX,
        T::Txt => rtype::TXT,
        T::Ptr => rtype::PTR,
        T::Srv => rtype::SRV,
    }
}

/// A name that cannot be queried, or a malformed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// A query name with an empty label (`a..b`, or a leading dot).
    #[error("DNS name has an empty label")]
    EmptyLabel,
    /// A label longer than 63 octets (RFC 1035 §2.3.4).
    #[error("DNS label of {0} octets (at most 63)")]
    LabelTooLong(usize),
    /// A name longer than 255 octets on the wire (RFC 1035 §3.1).
    #[error("DNS name longer than 255 octets")]
    NameTooLong,
    /// The output buffer cannot hold the query.
    #[error("buffer of {0} octets too small for the DNS query")]
    BufferTooSmall(usize),
    /// The message ends inside the header, a name, a record or its data.
    #[error("DNS message truncated")]
    Truncated,
    /// The QR bit is clear: a query, not a response (RFC 1035 §4.1.1).
    #[error("DNS message is a query, not a response")]
    NotResponse,
    /// A label length octet with the reserved prefix `01` or `10` (RFC 1035 §4.1.4).
    #[error("DNS label type {0:#04x} is not supported")]
    LabelType(u8),
    /// A compression pointer that does not point before itself (a loop, or forward).
    #[error("DNS compression pointer to offset {0} does not point backwards")]
    BadPointer(usize),
    /// RDATA whose length does not fit its type (an A record of 5 octets, ...).
    #[error("DNS record of type {rtype} has {len} octets of data")]
    RdataLength {
        /// The record type.
        rtype: u16,
        /// Its RDLENGTH.
        len: usize,
    },
}

/// Write a standard query for `name` (dotted, with or without the final dot; `""` or `"."`
/// is the root) of type `qtype`, class IN, recursion desired, into `out`; returns its length.
pub fn encode_query(id: u16, name: &str, qtype: u16, out: &mut [u8]) -> Result<usize, DnsError> {
    let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
    let mut wire_len = 1; // the root label
    if !name.is_empty() {
        for label in name.split(|&b| b == b'.') {
            if label.is_empty() {
                return Err(DnsError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(DnsError::LabelTooLong(label.len()));
            }
            wire_len += 1 + label.len();
        }
    }
    if wire_len > MAX_NAME_LEN {
        return Err(DnsError::NameTooLong);
    }
    let len = HEADER_LEN + wire_len + 4;
    let Some(buf) = out.get_mut(..len) else {
        return Err(DnsError::BufferTooSmall(out.len()));
    };
    buf[..2].copy_from_slice(&id.to_be_bytes());
    // Flags: QR 0, opcode QUERY, RD 1 (RFC 1035 §4.1.1); QDCOUNT 1, no other records.
    buf[2..HEADER_LEN].copy_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let mut at = HEADER_LEN;
    if !name.is_empty() {
        for label in name.split(|&b| b == b'.') {
            // At most 63: checked above.
            buf[at] = label.len() as u8;
            buf[at + 1..at + 1 + label.len()].copy_from_slice(label);
            at += 1 + label.len();
        }
    }
    buf[at] = 0;
    at += 1;
    buf[at..at + 2].copy_from_slice(&qtype.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&CLASS_IN.to_be_bytes());
    Ok(len)
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    match msg.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(DnsError::Truncated),
    }
}

fn u32_at(msg: &[u8], at: usize) -> Result<u32, DnsError> {
    match msg.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(DnsError::Truncated),
    }
}

/// A validated (possibly compressed) name inside a message.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    msg: &'a [u8],
    start: usize,
}

impl<'a> Name<'a> {
    /// Validate the name at `start`; returns it and the offset just after it in place (after
    /// its final zero octet or its first compression pointer).
    fn parse(msg: &'a [u8], start: usize) -> Result<(Self, usize), DnsError> {
        let mut at = start;
        let mut end = None;
        let mut wire_len = 0usize;
        // Where the stretch of labels being read began: a pointer must lead before it.
        let mut segment = start;
        let mut hops = 0;
        loop {
            let &len = msg.get(at).ok_or(DnsError::Truncated)?;
            match len & 0xc0 {
                0x00 => {
                    wire_len += 1 + usize::from(len);
                    if wire_len > MAX_NAME_LEN {
                        return Err(DnsError::NameTooLong);
                    }
                    if len == 0 {
                        let end = end.unwrap_or(at + 1);
                        return Ok((Self { msg, start }, end));
                    }
                    at += 1 + usize::from(len);
                    if at > msg.len() {
                        return Err(DnsError::Truncated);
                    }
                }
                0xc0 => {
                    let target = usize::from(u16_at(msg, at)? & 0x3fff);
                    // Strictly before the stretch of labels that led here: every hop lowers
                    // that bound, so the walk ends (RFC 1035 §4.1.4 only ever points back
                    // to a prior occurrence). Each hop costs at least a pointer's two
                    // octets of name, as in the 255-octet limit.
                    hops += 1;
                    if target >= segment || hops > MAX_NAME_LEN / 2 {
                        return Err(DnsError::BadPointer(target));
                    }
                    end.get_or_insert(at + 2);
                    at = target;
                    segment = target;
                }
                _ => return Err(DnsError::LabelType(len)),
            }
        }
    }

    /// The labels, first to last (the root's empty label left out).
    pub fn labels(&self) -> Labels<'a> {
        Labels {
            msg: self.msg,
            at: self.start,
        }
    }

    /// True if this name equals `dotted` (with or without its final dot), ASCII case
    /// ignored (RFC 4343).
    #[must_use]
    pub fn eq_dotted(&self, dotted: &str) -> bool {
        let dotted = dotted.strip_suffix('.').unwrap_or(dotted).as_bytes();
        let mut want = dotted.split(|&b| b == b'.').filter(|_| !dotted.is_empty());
        let mut got = self.labels();
        loop {
            match (got.next(), want.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {}
                _ => return false,
            }
        }
    }
}

/// The labels of a [`Name`], as raw octets.
pub struct Labels<'a> {
    msg: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        // The name was validated: this walk follows the same steps and ends the same way
        // (at most 127 pointers, then a label or the end).
        for _ in 0..MAX_NAME_LEN {
            let &len = self.msg.get(self.at)?;
            if len & 0xc0 == 0xc0 {
                self.at = usize::from(u16_at(self.msg, self.at).ok()? & 0x3fff);
                continue;
            }
            if len == 0 {
                return None;
            }
            let label = self.msg.get(self.at + 1..self.at + 1 + usize::from(len))?;
            self.at += 1 + usize::from(len);
            return Some(label);
        }
        None
    }
}

/// Master-file text (RFC 1035 §5.1): labels joined by dots with a final dot (`.` for the
/// root); a dot or backslash inside a label as `\.` `\\`, other octets outside printable
/// ASCII as `\DDD`.
impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for label in self.labels() {
            any = true;
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", char::from(b))?,
                    0x21..=0x7e => write!(f, "{}", char::from(b))?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        if !any {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// The data of one record, for the types a check compares; others as raw octets.
#[derive(Debug, Clone, Copy)]
pub enum RData<'a> {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// NS, CNAME or PTR: one name.
    Name(Name<'a>),
    /// A mail exchange.
    Mx {
        /// Preference, lower first.
        preference: u16,
        /// The exchange host.
        exchange: Name<'a>,
    },
    /// A service location.
    Srv {
        /// Priority, lower first.
        priority: u16,
        /// Weight among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: Name<'a>,
    },
    /// A start of authority.
    Soa {
        /// Primary name server.
        mname: Name<'a>,
        /// Responsible mailbox.
        rname: Name<'a>,
        /// Serial.
        serial: u32,
        /// Refresh interval (s).
        refresh: u32,
        /// Retry interval (s).
        retry: u32,
        /// Expiry (s).
        expire: u32,
        /// Negative caching TTL (s).
        minimum: u32,
    },
    /// TXT: the RDATA, a sequence of length-prefixed strings (validated).
    Txt(&'a [u8]),
    /// Any other type: the raw RDATA.
    Other(&'a [u8]),
}

impl<'a> RData<'a> {
    fn parse(msg: &'a [u8], rtype: u16, start: usize, len: usize) -> Result<Self, DnsError> {
        let end = start.checked_add(len).ok_or(DnsError::Truncated)?;
        let data = msg.get(start..end).ok_or(DnsError::Truncated)?;
        let bad = || DnsError::RdataLength { rtype, len };
        // A name inside RDATA must end inside it.
        let name_at = |at: usize| -> Result<(Name<'a>, usize), DnsError> {
            let (n, after) = Name::parse(msg, at)?;
            if after > end {
                Err(bad())
            } else {
                Ok((n, after))
            }
        };
        Ok(match rtype {
            rtype::A => {
                let o: [u8; 4] = data.try_into().map_err(|_| bad())?;
                RData::A(Ipv4Addr::from(o))
            }
            rtype::AAAA => {
                let o: [u8; 16] = data.try_into().map_err(|_| bad())?;
                RData::Aaaa(Ipv6Addr::from(o))
            }
            rtype::NS | rtype::CNAME | rtype::PTR => {
                let (n, after) = name_at(start)?;
                if after != end {
                    return Err(bad());
                }
                RData::Name(n)
            }
            rtype::MX => {
                if len < 3 {
                    return Err(bad());
                }
                let (exchange, after) = name_at(start + 2)?;
                if after != end {
                    return Err(bad());
                }
                RData::Mx {
                    preference: u16_at(msg, start)?,
                    exchange,
                }
            }
            rtype::SRV => {
                if len < 7 {
                    return Err(bad());
                }
                let (target, after) = name_at(start + 6)?;
                if after != end {
                    return Err(bad());
                }
                RData::Srv {
                    priority: u16_at(msg, start)?,
                    weight: u16_at(msg, start + 2)?,
                    port: u16_at(msg, start + 4)?,
                    target,
                }
            }
            rtype::SOA => {
                let (mname, at) = name_at(start)?;
                let (rname, at) = name_at(at)?;
                if end.checked_sub(at) != Some(20) {
                    return Err(bad());
                }
                RData::Soa {
                    mname,
                    rname,
                    serial: u32_at(msg, at)?,
                    refresh: u32_at(msg, at + 4)?,
                    retry: u32_at(msg, at + 8)?,
                    expire: u32_at(msg, at + 12)?,
                    minimum: u32_at(msg, at + 16)?,
                }
            }
            rtype::TXT => {
                // One or more <character-string>s filling the RDATA exactly.
                let mut at = 0;
                while at < data.len() {
                    at += 1 + usize::from(data[at]);
                }
                if at != data.len() || data.is_empty() {
                    return Err(bad());
                }
                RData::Txt(data)
            }
            _ => RData::Other(data),
        })
    }

    /// The strings of a TXT record (empty for other types).
    pub fn txt_strings(&self) -> impl Iterator<Item = &'a [u8]> {
        let mut rest = match self {
            RData::Txt(d) => *d,
            _ => &[],
        };
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let s = tail.get(..usize::from(len))?;
            rest = &tail[s.len()..];
            Some(s)
        })
    }
}

/// The presentation the DNS check compares `expect_answer` with: an address; a name with
/// its final dot; `PREF EXCHANGE` (MX); `PRIORITY WEIGHT PORT TARGET` (SRV); `MNAME RNAME
/// SERIAL REFRESH RETRY EXPIRE MINIMUM` (SOA); a TXT record's strings concatenated (invalid
/// UTF-8 replaced); other types as lowercase hex.
impl fmt::Display for RData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Name(n) => write!(f, "{n}"),
            RData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {target}"),
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
            ),
            RData::Txt(_) => {
                for s in self.txt_strings() {
                    for chunk in s.utf8_chunks() {
                        f.write_str(chunk.valid())?;
                        if !chunk.invalid().is_empty() {
                            f.write_str("\u{fffd}")?;
                        }
                    }
                }
                Ok(())
            }
            RData::Other(d) => d.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// One resource record of the answer section (RFC 1035 §4.1.3).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The owner name.
    pub name: Name<'a>,
    /// The type.
    pub rtype: u16,
    /// The class.
    pub class: u16,
    /// Time to live (s).
    pub ttl: u32,
    /// The data.
    pub data: RData<'a>,
}

/// A validated reply: header, and the question section skipped over.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    msg: &'a [u8],
    /// The query id.
    pub id: u16,
    /// The response code (RFC 1035 §4.1.1, the 4 header bits; 3 = NXDOMAIN).
    pub rcode: u8,
    /// The TC bit: the reply was truncated.
    pub truncated: bool,
    /// The first question, if the reply carries one: its name and type.
    pub question: Option<(Name<'a>, u16)>,
    ancount: u16,
    answers_at: usize,
}

impl<'a> Reply<'a> {
    /// Validate the header and the question section of a response.
    pub fn parse(msg: &'a [u8]) -> Result<Self, DnsError> {
        if msg.len() < HEADER_LEN {
            return Err(DnsError::Truncated);
        }
        let id = u16_at(msg, 0)?;
        let flags = u16_at(msg, 2)?;
        if flags & 0x8000 == 0 {
            return Err(DnsError::NotResponse);
        }
        let qdcount = u16_at(msg, 4)?;
        let ancount = u16_at(msg, 6)?;
        let mut at = HEADER_LEN;
        let mut question = None;
        for _ in 0..qdcount {
            let (name, after) = Name::parse(msg, at)?;
            let qtype = u16_at(msg, after)?;
            u16_at(msg, after + 2)?; // class
            question.get_or_insert((name, qtype));
            at = after + 4;
        }
        Ok(Self {
            msg,
            id,
            rcode: (flags & 0x000f) as u8,
            truncated: flags & 0x0200 != 0,
            question,
            ancount,
            answers_at: at,
        })
    }

    /// The records of the answer section, in order; a malformed record ends the walk with
    /// its error.
    pub fn answers(&self) -> Answers<'a> {
        Answers {
            msg: self.msg,
            at: self.answers_at,
            left: self.ancount,
        }
    }
}

/// The records of an answer section: see [`Reply::answers`].
pub struct Answers<'a> {
    msg: &'a [u8],
    at: usize,
    left: u16,
}

impl<'a> Iterator for Answers<'a> {
    type Item = Result<Record<'a>, DnsError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let record = (|| {
            let msg = self.msg;
            let (name, at) = Name::parse(msg, self.at)?;
            let rtype = u16_at(msg, at)?;
            let class = u16_at(msg, at + 2)?;
            let ttl = u32_at(msg, at + 4)?;
            let len = usize::from(u16_at(msg, at + 8)?);
            let data = RData::parse(msg, rtype, at + 10, len)?;
            self.at = at + 10 + len;
            Ok(Record {
                name,
                rtype,
                class,
                ttl,
                data,
            })
        })();
        if record.is_err() {
            self.left = 0;
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reply built by hand: question www.example.org A, answers with compression.
    fn reply() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 4, 0, 0, 0, 0];
        // Question at 12: www.example.org A IN.
        m.extend_from_slice(b"\x03www\x07example\x03org\x00\x00\x01\x00\x01");
        // Answer 1: name -> pointer to 12, A 192.0.2.7.
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        // Answer 2: CNAME web.<example.org at 16>.
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend_from_slice(b"\x03web\xc0\x10");
        // Answer 3: MX 10 mail.<16>.
        m.extend_from_slice(&[0xc0, 16, 0, 15, 0, 1, 0, 0, 0, 60, 0, 9, 0, 10]);
        m.extend_from_slice(b"\x04mail\xc0\x10");
        // Answer 4: TXT "a b" "c".
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend_from_slice(b"\x03a b\x01c");
        m
    }

    #[test]
    fn query_bytes() {
        let mut buf = [0xa5u8; MAX_QUERY_LEN];
        let n = encode_query(0xbeef, "www.Example.org.", rtype::AAAA, &mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07Example\x03org\x00\x00\x1c\x00\x01"
        );
        assert_eq!(
            encode_query(1, "a..b", 1, &mut buf),
            Err(DnsError::EmptyLabel)
        );
        assert_eq!(
            encode_query(1, ".a", 1, &mut buf),
            Err(DnsError::EmptyLabel)
        );
        let long = "x".repeat(64);
        assert_eq!(
            encode_query(1, &long, 1, &mut buf),
            Err(DnsError::LabelTooLong(64))
        );
        let huge = vec!["abcdefg"; 40].join(".");
        assert_eq!(
            encode_query(1, &huge, 1, &mut buf),
            Err(DnsError::NameTooLong)
        );
        assert_eq!(
            encode_query(1, "example.org", 1, &mut buf[..20]),
            Err(DnsError::BufferTooSmall(20))
        );
        let n = encode_query(7, ".", rtype::NS, &mut buf).unwrap();
        assert_eq!(n, HEADER_LEN + 5);
    }

    #[test]
    fn answers_with_compression() {
        let m = reply();
        let r = Reply::parse(&m).unwrap();
        assert_eq!((r.id, r.rcode, r.truncated), (0x1234, 0, false));
        let (qname, qtype) = r.question.unwrap();
        assert!(qname.eq_dotted("WWW.example.org."));
        assert!(qname.eq_dotted("www.example.org"));
        assert!(!qname.eq_dotted("example.org"));
        assert!(!qname.eq_dotted("www.example.org.uk"));
        assert_eq!(qtype, rtype::A);
        let texts: Vec<String> = r.answers().map(|a| a.unwrap().data.to_string()).collect();
        assert_eq!(
            texts,
            [
                "192.0.2.7",
                "web.example.org.",
                "10 mail.example.org.",
                "a bc"
            ]
        );
        let owners: Vec<String> = r.answers().map(|a| a.unwrap().name.to_string()).collect();
        assert_eq!(
            owners,
            [
                "www.example.org.",
                "www.example.org.",
                "example.org.",
                "www.example.org."
            ]
        );
    }

    #[test]
    fn malformed_replies() {
        let m = reply();
        // Every truncation is an error somewhere, never a panic.
        for n in 0..m.len() {
            let ok = Reply::parse(&m[..n]).map(|r| r.answers().all(|a| a.is_ok()));
            assert!(ok != Ok(true), "truncated at {n} accepted");
        }
        // A query, not a response.
        let mut q = m.clone();
        q[2] &= 0x7f;
        assert_eq!(Reply::parse(&q).unwrap_err(), DnsError::NotResponse);
        // A pointer to itself, and one forward.
        let mut l = m.clone();
        l[12 + 21 + 1] = 12 + 21;
        let r = Reply::parse(&l).unwrap();
        assert_eq!(
            r.answers().next().unwrap().unwrap_err(),
            DnsError::BadPointer(33)
        );
        l[12 + 21 + 1] = 200;
        let r = Reply::parse(&l).unwrap();
        assert_eq!(
            r.answers().next().unwrap().unwrap_err(),
            DnsError::BadPointer(200)
        );
        // A label, then a pointer back to it: a loop through labels.
        let mut lp = m[..12].to_vec();
        lp.extend_from_slice(&[1, b'x', 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Reply::parse(&lp).unwrap_err(), DnsError::BadPointer(12));
        // A reserved label type.
        let mut t = m.clone();
        t[12] = 0x43;
        assert_eq!(Reply::parse(&t).unwrap_err(), DnsError::LabelType(0x43));
        // An A record of 5 octets.
        let mut a = m[..12 + 21].to_vec();
        a[7] = 1;
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 1, 2, 3, 4, 5]);
        let r = Reply::parse(&a).unwrap();
        assert_eq!(
            r.answers().next().unwrap().unwrap_err(),
            DnsError::RdataLength { rtype: 1, len: 5 }
        );
    }

    #[test]
    fn names_print_in_master_file_form() {
        let m = b"\x00\x03a.b\x02\\\x7f\x00";
        let (n, end) = Name::parse(m, 1).unwrap();
        assert_eq!(end, m.len());
        assert_eq!(n.to_string(), "a\\.b.\\\\\\127.");
        let (root, _) = Name::parse(b"\x00", 0).unwrap();
        assert_eq!(root.to_string(), ".");
        assert!(root.eq_dotted("."));
        assert!(root.eq_dotted(""));
    }

    proptest! {
        #[test]
        fn parse_never_panics(msg in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(r) = Reply::parse(&msg) {
                for a in r.answers().flatten() {
                    let _ = a.data.to_string();
                    let _ = a.name.to_string();
                }
                if let Some((n, _)) = r.question {
                    let _ = n.eq_dotted("example.org");
                }
            }
        }

        /// Random headers and pointer soup in front of a valid-looking tail.
        #[test]
        fn parse_pointer_soup_never_panics(tail in proptest::collection::vec(
            prop_oneof![Just(0xc0u8), Just(0u8), Just(1), Just(12), any::<u8>()], 0..120)) {
            let mut msg = vec![0, 1, 0x80, 0, 0, 2, 0, 3, 0, 0, 0, 0];
            msg.extend_from_slice(&tail);
            if let Ok(r) = Reply::parse(&msg) {
                for a in r.answers().flatten() {
                    let _ = a.data.to_string();
                }
            }
        }

        #[test]
        fn query_name_roundtrip(labels in proptest::collection::vec("[a-zA-Z0-9-]{1,20}", 0..8),
                                id in any::<u16>(), qtype in any::<u16>()) {
            let name = labels.join(".");
            let mut buf = [0u8; MAX_QUERY_LEN];
            let n = encode_query(id, &name, qtype, &mut buf).unwrap();
            // Read the query back as if it were a reply (set QR).
            let mut msg = buf[..n].to_vec();
            msg[2] |= 0x80;
            let r = Reply::parse(&msg).unwrap();
            let (qname, qt) = r.question.unwrap();
            prop_assert_eq!(r.id, id);
            prop_assert_eq!(qt, qtype);
            prop_assert!(qname.eq_dotted(&name));
            prop_assert_eq!(qname.to_string(), format!("{name}."));
        }
    }
}
