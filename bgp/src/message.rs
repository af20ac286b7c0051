//! BGP-4 message codec (RFC 4271 §4), with capabilities (RFC 5492), multiprotocol extensions
//! (RFC 4760), 4-octet AS numbers (RFC 6793), communities (RFC 1997) and the revised UPDATE
//! error handling of RFC 7606.
//!
//! # Heads up: where each RFC section lives
//!
//! | RFC section | item |
//! |---|---|
//! | 4271 §4.1 header | [`MARKER`], [`HEADER_LEN`], [`MAX_MESSAGE_LEN`], [`Framer`] |
//! | 4271 §4.2 OPEN, 5492 §4 capabilities | [`Open`], [`Capability`] |
//! | 4271 §4.3 UPDATE, §5 attributes | [`Update`], [`Attribute`], [`Prefix`] |
//! | 4760 §3, §4 MP_REACH / MP_UNREACH | [`Attribute::MpReach`], [`Attribute::MpUnreach`] |
//! | 4271 §4.5 NOTIFICATION, 4486, 8203 | [`Notification`] |
//! | 4271 §4.4 KEEPALIVE | [`Message::Keepalive`] |
//! | 4271 §6, 7606 error handling | [`DecodeError`], [`ErrorAction`] |
//!
//! # Panic rules
//!
//! [`Message::decode`] and [`Framer`] never panic, whatever the bytes: every read is bounds
//! checked and every failure is a [`DecodeError`] naming the field and its offset from the
//! start of the message. [`Message::encode`] never panics; values that do not fit their field
//! are an [`EncodeError`].
//!
//! AS numbers in AS_PATH are always 4 octets: the session advertises the 4-octet AS
//! capability and refuses peers that do not (RFC 6793 §3 lets both speakers use 4-octet
//! AS_PATH once both advertised it).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The 16-octet marker that opens every message, all ones (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];
/// Length of the common header: marker (16), length (2), type (1) (RFC 4271 §4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message (RFC 4271 §4.1; RFC 8654 extended messages are not negotiated).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The 2-octet AS number a speaker with a 4-octet AS puts in OPEN's My AS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;
/// Version field of OPEN (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

const OPEN_MIN_LEN: usize = 29;
const UPDATE_MIN_LEN: usize = 23;
const NOTIFICATION_MIN_LEN: usize = 21;

/// Message type codes (RFC 4271 §4.1).
pub mod msg_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
}

/// Path attribute type codes (RFC 4271 §5, RFC 1997, RFC 4760).
pub mod attr_type {
    /// ORIGIN (well-known mandatory).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (well-known mandatory).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (well-known mandatory for IPv4 NLRI).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (optional non-transitive).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (well-known, iBGP).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (well-known discretionary).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (optional transitive).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (optional transitive, RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// MP_REACH_NLRI (optional non-transitive, RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (optional non-transitive, RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
}

/// Attribute flag bits (RFC 4271 §4.3).
pub mod attr_flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Extended length: the length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What RFC 7606 §2 says to do about a malformed UPDATE (and, for every other error, reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Send the NOTIFICATION and close the session (RFC 4271 §6).
    SessionReset,
    /// Treat the UPDATE's routes as withdrawn, keep the session (RFC 7606 §2).
    TreatAsWithdraw,
    /// Drop the attribute, keep the route and the session (RFC 7606 §2).
    AttributeDiscard,
}

/// A message that cannot be decoded, with the NOTIFICATION it calls for (RFC 4271 §6,
/// RFC 7606). Offsets count from the first octet of the message (the marker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The marker is not all ones (RFC 4271 §6.1: Connection Not Synchronized).
    #[error("header: marker is not all ones (octet at offset {offset})")]
    BadMarker {
        /// Offset of the first octet that is not 0xff.
        offset: usize,
    },
    /// The length field is out of range, or wrong for the type (RFC 4271 §6.1: Bad Message Length).
    #[error("header: bad message length {length} for message type {message_type}")]
    BadLength {
        /// The length field (or the buffer length when it disagrees).
        length: u16,
        /// The type field.
        message_type: u8,
    },
    /// Unknown message type (RFC 4271 §6.1: Bad Message Type).
    #[error("header: unknown message type {message_type} at offset 18")]
    BadType {
        /// The type field.
        message_type: u8,
    },
    /// OPEN version other than 4 (RFC 4271 §6.2).
    #[error("OPEN: unsupported version {version} at offset 19 (we speak 4)")]
    UnsupportedVersion {
        /// The version field.
        version: u8,
    },
    /// OPEN's optional parameters do not add up (RFC 4271 §6.2, subcode 0).
    #[error("OPEN: malformed {field} at offset {offset}")]
    MalformedOpen {
        /// The field that is wrong.
        field: &'static str,
        /// Where.
        offset: usize,
    },
    /// UPDATE lengths inconsistent, or an attribute repeated that must not be (RFC 4271 §6.3,
    /// RFC 7606 §3 g, §4).
    #[error("UPDATE: malformed attribute list: {reason} at offset {offset}")]
    MalformedAttributeList {
        /// What is wrong.
        reason: &'static str,
        /// Where.
        offset: usize,
        /// What to do about it.
        action: ErrorAction,
    },
    /// A well-known attribute we do not know (RFC 4271 §6.3).
    #[error("UPDATE: unrecognized well-known attribute type {type_code} at offset {offset}")]
    UnrecognizedWellKnown {
        /// The attribute type.
        type_code: u8,
        /// Where the attribute starts.
        offset: usize,
        /// The whole attribute (flags, type, length, value), the NOTIFICATION's data.
        data: Vec<u8>,
    },
    /// A mandatory well-known attribute is missing (RFC 4271 §6.3, RFC 7606 §3 d).
    #[error("UPDATE: missing well-known attribute type {type_code}")]
    MissingWellKnown {
        /// The missing type.
        type_code: u8,
    },
    /// Flags conflict with the attribute type (RFC 4271 §6.3, RFC 7606 §3 c).
    #[error("UPDATE: attribute type {type_code} has wrong flags {flags:#04x} at offset {offset}")]
    AttributeFlags {
        /// The attribute type.
        type_code: u8,
        /// The flags found.
        flags: u8,
        /// Where the attribute starts.
        offset: usize,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// An attribute's length is wrong for its type, or overruns the attributes (RFC 4271 §6.3).
    #[error("UPDATE: attribute type {type_code} has bad length {length} at offset {offset}")]
    AttributeLength {
        /// The attribute type.
        type_code: u8,
        /// The length field.
        length: usize,
        /// Where the attribute starts.
        offset: usize,
        /// The whole attribute (as much of it as there is).
        data: Vec<u8>,
    },
    /// ORIGIN other than 0, 1, 2 (RFC 4271 §6.3).
    #[error("UPDATE: invalid ORIGIN value {value} at offset {offset}")]
    InvalidOrigin {
        /// The value.
        value: u8,
        /// Where the attribute starts.
        offset: usize,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// An MP_REACH_NLRI / MP_UNREACH_NLRI that cannot be parsed (RFC 4760 §7, RFC 7606 §7.11).
    #[error("UPDATE: malformed {field} in MP attribute at offset {offset}")]
    MalformedMpAttribute {
        /// The field that is wrong.
        field: &'static str,
        /// Where.
        offset: usize,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// A prefix with a length above the address size, or that overruns its field
    /// (RFC 4271 §6.3: Invalid Network Field).
    #[error("UPDATE: invalid prefix (length {prefix_len}) at offset {offset}")]
    InvalidNetworkField {
        /// The prefix length octet.
        prefix_len: u8,
        /// Where the prefix starts.
        offset: usize,
    },
    /// A malformed AS_PATH: bad segment type, zero or overrunning segment (RFC 4271 §6.3,
    /// RFC 7606 §7.2).
    #[error("UPDATE: malformed AS_PATH ({reason}) at offset {offset}")]
    MalformedAsPath {
        /// What is wrong.
        reason: &'static str,
        /// Where the attribute starts.
        offset: usize,
        /// The whole attribute.
        data: Vec<u8>,
    },
}

impl DecodeError {
    /// The NOTIFICATION to send for this error (RFC 4271 §6.1 to §6.3).
    #[must_use]
    pub fn notification(&self) -> Notification {
        use DecodeError as E;
        let (code, subcode, data) = match self {
            E::BadMarker { .. } => (1, 1, Vec::new()),
            E::BadLength { length, .. } => (1, 2, length.to_be_bytes().to_vec()),
            E::BadType { message_type } => (1, 3, vec![*message_type]),
            // §6.2: data is the largest locally supported version number.
            E::UnsupportedVersion { .. } => (2, 1, vec![0, BGP_VERSION]),
            E::MalformedOpen { .. } => (2, 0, Vec::new()),
            E::MalformedAttributeList { .. } => (3, 1, Vec::new()),
            E::UnrecognizedWellKnown { data, .. } => (3, 2, data.clone()),
            E::MissingWellKnown { type_code } => (3, 3, vec![*type_code]),
            E::AttributeFlags { data, .. } => (3, 4, data.clone()),
            E::AttributeLength { data, .. } => (3, 5, data.clone()),
            E::InvalidOrigin { data, .. } => (3, 6, data.clone()),
            E::MalformedMpAttribute { data, .. } => (3, 9, data.clone()),
            E::InvalidNetworkField { .. } => (3, 10, Vec::new()),
            E::MalformedAsPath { data, .. } => (3, 11, data.clone()),
        };
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// What RFC 7606 says to do: most attribute errors only withdraw the UPDATE's routes,
    /// framing and NLRI errors reset the session.
    #[must_use]
    pub fn action(&self) -> ErrorAction {
        use DecodeError as E;
        match self {
            E::MalformedAttributeList { action, .. } => *action,
            // RFC 7606 §3 c, d; §7.1 to §7.8.
            E::AttributeFlags { type_code, .. } | E::AttributeLength { type_code, .. } => {
                match *type_code {
                    attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => {
                        ErrorAction::SessionReset
                    }
                    // §7.6, §7.7.
                    attr_type::ATOMIC_AGGREGATE | attr_type::AGGREGATOR => {
                        ErrorAction::AttributeDiscard
                    }
                    _ => ErrorAction::TreatAsWithdraw,
                }
            }
            E::MissingWellKnown { .. } | E::InvalidOrigin { .. } | E::MalformedAsPath { .. } => {
                ErrorAction::TreatAsWithdraw
            }
            _ => ErrorAction::SessionReset,
        }
    }
}

/// A message that cannot be encoded: a value too large for its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed 4096 octets (RFC 4271 §4.1).
    #[error("message of {length} octets exceeds the maximum of 4096")]
    TooLong {
        /// The length it would have.
        length: usize,
    },
    /// A field's content is longer than its length field allows.
    #[error("{field} of {length} octets exceeds its maximum of {max}")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        length: usize,
        /// Its maximum.
        max: usize,
    },
    /// A prefix of the wrong family for where it is put (e.g. IPv6 in the IPv4 NLRI field).
    #[error("{field}: prefix {prefix} is of the wrong address family")]
    WrongFamily {
        /// The field.
        field: &'static str,
        /// The prefix.
        prefix: Prefix,
    },
}

// ---------------------------------------------------------------------------------------------
// Prefix
// ---------------------------------------------------------------------------------------------

/// An IPv4 or IPv6 prefix with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// A prefix that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Length above 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {len} exceeds {max}")]
    Length {
        /// The length given.
        len: u8,
        /// The family's maximum.
        max: u8,
    },
    /// Text that is not `address[/len]`.
    #[error("cannot parse prefix {0:?}: expected address or address/length")]
    Syntax(String),
}

impl Prefix {
    /// The prefix `addr/len`, host bits cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::Length { len, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Ok(Prefix { addr, len })
    }

    /// A host route: /32 for IPv4, /128 for IPv6 (a VIP).
    #[must_use]
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The network address.
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is IPv4.
    #[must_use]
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Encodes as NLRI: length octet, then the prefix in as few octets as hold it
    /// (RFC 4271 §4.3, RFC 4760 §5).
    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        let n = usize::from(self.len).div_ceil(8);
        match self.addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let bad = || PrefixError::Syntax(s.to_owned());
        match s.split_once('/') {
            Some((a, l)) => {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                let len: u8 = l.parse().map_err(|_| bad())?;
                Prefix::new(addr, len)
            }
            None => Ok(Prefix::host(s.parse().map_err(|_| bad())?)),
        }
    }
}

impl From<IpAddr> for Prefix {
    fn from(addr: IpAddr) -> Prefix {
        Prefix::host(addr)
    }
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/// A bounds-checked cursor over a message; `pos` is the offset from the message start.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], pos: usize, end: usize) -> Reader<'a> {
        Reader {
            buf,
            pos,
            end: end.min(buf.len()),
        }
    }
    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.remaining() < n {
            return None;
        }
        let s = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// One BGP message (RFC 4271 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN (§4.2).
    Open(Open),
    /// UPDATE (§4.3).
    Update(Update),
    /// NOTIFICATION (§4.5).
    Notification(Notification),
    /// KEEPALIVE (§4.4): the header alone.
    Keepalive,
}

impl Message {
    /// The type code.
    #[must_use]
    pub fn message_type(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
        }
    }

    /// Decodes one whole message (header included); `buf` must be exactly the message.
    ///
    /// Checks, in order (RFC 4271 §6.1): marker, length (19..=4096 and equal to `buf.len()`),
    /// type, the type's minimum length; then the body (§6.2, §6.3).
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let (length, message_type) = check_header(buf)?;
        if usize::from(length) != buf.len() {
            return Err(DecodeError::BadLength {
                length: u16::try_from(buf.len()).unwrap_or(u16::MAX),
                message_type,
            });
        }
        match message_type {
            msg_type::OPEN => Open::decode(buf).map(Message::Open),
            msg_type::UPDATE => Update::decode(buf).map(Message::Update),
            msg_type::NOTIFICATION => Ok(Message::Notification(Notification {
                code: buf[19],
                subcode: buf[20],
                data: buf[21..].to_vec(),
            })),
            _ => Ok(Message::Keepalive),
        }
    }

    /// Encodes the message with its header.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, self.message_type()]);
        match self {
            Message::Open(o) => o.emit_body(&mut out)?,
            Message::Update(u) => u.emit_body(&mut out)?,
            Message::Notification(n) => {
                out.push(n.code);
                out.push(n.subcode);
                out.extend_from_slice(&n.data);
            }
            Message::Keepalive => {}
        }
        if out.len() > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong { length: out.len() });
        }
        let len = (out.len() as u16).to_be_bytes();
        out[16] = len[0];
        out[17] = len[1];
        Ok(out)
    }
}

/// Checks the header of a message of which at least 19 octets are in `buf` (RFC 4271 §6.1);
/// returns (length, type).
fn check_header(buf: &[u8]) -> Result<(u16, u8), DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::BadLength {
            length: buf.len() as u16,
            message_type: 0,
        });
    }
    if let Some(offset) = buf[..16].iter().position(|b| *b != 0xff) {
        return Err(DecodeError::BadMarker { offset });
    }
    let length = u16::from_be_bytes([buf[16], buf[17]]);
    let message_type = buf[18];
    if !(msg_type::OPEN..=msg_type::KEEPALIVE).contains(&message_type) {
        return Err(DecodeError::BadType { message_type });
    }
    let min = match message_type {
        msg_type::OPEN => OPEN_MIN_LEN,
        msg_type::UPDATE => UPDATE_MIN_LEN,
        msg_type::NOTIFICATION => NOTIFICATION_MIN_LEN,
        _ => HEADER_LEN,
    };
    let len = usize::from(length);
    let bad = len < min
        || len > MAX_MESSAGE_LEN
        || (message_type == msg_type::KEEPALIVE && len != HEADER_LEN);
    if bad {
        return Err(DecodeError::BadLength {
            length,
            message_type,
        });
    }
    Ok((length, message_type))
}

// ---------------------------------------------------------------------------------------------
// OPEN
// ---------------------------------------------------------------------------------------------

/// Address family identifier (RFC 4760 §3, IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Afi {
    /// 1.
    Ipv4,
    /// 2.
    Ipv6,
    /// Any other.
    Unknown(u16),
}

impl From<u16> for Afi {
    fn from(v: u16) -> Afi {
        match v {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            v => Afi::Unknown(v),
        }
    }
}

impl From<Afi> for u16 {
    fn from(a: Afi) -> u16 {
        match a {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::Unknown(v) => v,
        }
    }
}

/// Subsequent address family identifier (RFC 4760 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Safi {
    /// 1.
    Unicast,
    /// Any other.
    Unknown(u8),
}

impl From<u8> for Safi {
    fn from(v: u8) -> Safi {
        match v {
            1 => Safi::Unicast,
            v => Safi::Unknown(v),
        }
    }
}

impl From<Safi> for u8 {
    fn from(s: Safi) -> u8 {
        match s {
            Safi::Unicast => 1,
            Safi::Unknown(v) => v,
        }
    }
}

/// A capability of OPEN's Capabilities optional parameter (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Multiprotocol extensions, code 1 (RFC 4760 §8).
    Multiprotocol {
        /// Address family.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
    },
    /// Route refresh, code 2 (RFC 2918); we never ask, we may be asked (and ignore it).
    RouteRefresh,
    /// 4-octet AS number support with the speaker's AS, code 65 (RFC 6793 §3).
    FourOctetAs(u32),
    /// Any other capability, kept as it came.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

impl Capability {
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Capability::Multiprotocol { afi, safi } => {
                out.extend_from_slice(&[1, 4]);
                out.extend_from_slice(&u16::from(*afi).to_be_bytes());
                out.extend_from_slice(&[0, u8::from(*safi)]);
            }
            Capability::RouteRefresh => out.extend_from_slice(&[2, 0]),
            Capability::FourOctetAs(asn) => {
                out.extend_from_slice(&[65, 4]);
                out.extend_from_slice(&asn.to_be_bytes());
            }
            Capability::Unknown { code, value } => {
                let len = u8::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong {
                    field: "capability value",
                    length: value.len(),
                    max: 255,
                })?;
                out.extend_from_slice(&[*code, len]);
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

/// An optional parameter of OPEN other than Capabilities, kept raw (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParameter {
    /// Parameter type.
    pub param_type: u8,
    /// Parameter value.
    pub value: Vec<u8>,
}

/// OPEN (RFC 4271 §4.2). The version is always 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// My Autonomous System: the 2-octet AS, or [`AS_TRANS`].
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3 (checked by the session, §6.2).
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities (all Capabilities parameters, in order; RFC 5492 §4).
    pub capabilities: Vec<Capability>,
    /// Other optional parameters.
    pub other_params: Vec<RawParameter>,
}

impl Open {
    /// The speaker's AS: the 4-octet AS capability's value if present, else My AS
    /// (RFC 6793 §4.1).
    #[must_use]
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The 4-octet AS capability's value, if advertised.
    #[must_use]
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Whether the speaker advertised multiprotocol support for `afi`/`safi`.
    #[must_use]
    pub fn supports(&self, afi: Afi, safi: Safi) -> bool {
        self.capabilities
            .contains(&Capability::Multiprotocol { afi, safi })
    }

    /// Decodes the body; `buf` is the whole message, header checked.
    fn decode(buf: &[u8]) -> Result<Open, DecodeError> {
        // §4.2 layout: version(1) my_as(2) hold(2) id(4) opt_len(1) params.
        let mut r = Reader::new(buf, HEADER_LEN, buf.len());
        let malformed = |field, offset| DecodeError::MalformedOpen { field, offset };
        let version = r.u8().ok_or(malformed("version", 19))?;
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let my_as = r.u16().ok_or(malformed("my AS", 20))?;
        let hold_time = r.u16().ok_or(malformed("hold time", 22))?;
        let id = r.u32().ok_or(malformed("BGP identifier", 24))?;
        let opt_len = r.u8().ok_or(malformed("optional parameters length", 28))?;
        if usize::from(opt_len) != r.remaining() {
            return Err(malformed("optional parameters length", 28));
        }
        let mut capabilities = Vec::new();
        let mut other_params = Vec::new();
        while r.remaining() > 0 {
            let at = r.pos;
            let ty = r.u8().ok_or(malformed("parameter type", at))?;
            let len = r.u8().ok_or(malformed("parameter length", at + 1))?;
            let value = r
                .take(usize::from(len))
                .ok_or(malformed("parameter length", at + 1))?;
            if ty == 2 {
                // RFC 5492 §4: a list of (code, length, value).
                let mut c = Reader::new(buf, at + 2, at + 2 + value.len());
                while c.remaining() > 0 {
                    let cat = c.pos;
                    let code = c.u8().ok_or(malformed("capability code", cat))?;
                    let clen = c.u8().ok_or(malformed("capability length", cat + 1))?;
                    let v = c
                        .take(usize::from(clen))
                        .ok_or(malformed("capability length", cat + 1))?;
                    let cap = match (code, v.len()) {
                        (1, 4) => Capability::Multiprotocol {
                            afi: Afi::from(u16::from_be_bytes([v[0], v[1]])),
                            safi: Safi::from(v[3]),
                        },
                        (1, _) => return Err(malformed("multiprotocol capability length", cat)),
                        (2, 0) => Capability::RouteRefresh,
                        (65, 4) => {
                            Capability::FourOctetAs(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
                        }
                        (65, _) => return Err(malformed("4-octet AS capability length", cat)),
                        _ => Capability::Unknown {
                            code,
                            value: v.to_vec(),
                        },
                    };
                    capabilities.push(cap);
                }
            } else {
                other_params.push(RawParameter {
                    param_type: ty,
                    value: value.to_vec(),
                });
            }
        }
        Ok(Open {
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
            other_params,
        })
    }

    fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(BGP_VERSION);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let opt_len_at = out.len();
        out.push(0);
        if !self.capabilities.is_empty() {
            out.extend_from_slice(&[2, 0]);
            let start = out.len();
            for c in &self.capabilities {
                c.emit(out)?;
            }
            let len = out.len() - start;
            out[start - 1] = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
                field: "capabilities parameter",
                length: len,
                max: 255,
            })?;
        }
        for p in &self.other_params {
            let len = u8::try_from(p.value.len()).map_err(|_| EncodeError::FieldTooLong {
                field: "optional parameter",
                length: p.value.len(),
                max: 255,
            })?;
            out.extend_from_slice(&[p.param_type, len]);
            out.extend_from_slice(&p.value);
        }
        let len = out.len() - opt_len_at - 1;
        out[opt_len_at] = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            field: "optional parameters",
            length: len,
            max: 255,
        })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// UPDATE
// ---------------------------------------------------------------------------------------------

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// 0: interior to the originating AS.
    #[default]
    Igp,
    /// 1: learned via EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 for the confederation ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentType {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

/// One AS_PATH segment with 4-octet AS numbers (RFC 6793 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// The ASes, 1 to 255 of them.
    pub asns: Vec<u32>,
}

/// The next hop of MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3 for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpNextHop {
    /// 4 octets, AFI 1.
    V4(Ipv4Addr),
    /// 16 or 32 octets, AFI 2: global, then optionally link-local.
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address (32-octet form).
        link_local: Option<Ipv6Addr>,
    },
    /// Any other form (another AFI or length), raw.
    Other(Vec<u8>),
}

impl MpNextHop {
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            MpNextHop::V4(a) => {
                out.push(4);
                out.extend_from_slice(&a.octets());
            }
            MpNextHop::V6 { global, link_local } => {
                out.push(if link_local.is_some() { 32 } else { 16 });
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
            MpNextHop::Other(raw) => {
                let len = u8::try_from(raw.len()).map_err(|_| EncodeError::FieldTooLong {
                    field: "MP next hop",
                    length: raw.len(),
                    max: 255,
                })?;
                out.push(len);
                out.extend_from_slice(raw);
            }
        }
        Ok(())
    }
}

/// A path attribute (RFC 4271 §5). Known types are decoded; the rest is kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// ORIGIN, type 1.
    Origin(Origin),
    /// AS_PATH, type 2, 4-octet ASes.
    AsPath(Vec<AsSegment>),
    /// NEXT_HOP, type 3.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC, type 4.
    MultiExitDisc(u32),
    /// LOCAL_PREF, type 5.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE, type 6 (no value).
    AtomicAggregate,
    /// COMMUNITIES, type 8 (RFC 1997).
    Communities(Vec<u32>),
    /// MP_REACH_NLRI, type 14 (RFC 4760 §3), for AFI 1 or 2 with SAFI 1.
    MpReach {
        /// Address family of the NLRI and next hop.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
        /// Next hop.
        next_hop: MpNextHop,
        /// Reachable prefixes.
        nlri: Vec<Prefix>,
    },
    /// MP_UNREACH_NLRI, type 15 (RFC 4760 §4), for AFI 1 or 2 with SAFI 1.
    MpUnreach {
        /// Address family.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
        /// Withdrawn prefixes.
        withdrawn: Vec<Prefix>,
    },
    /// Anything else (including MP attributes of other families), as received.
    Unknown {
        /// Flags, without the extended-length bit (set on encode when the value needs it).
        flags: u8,
        /// Type code.
        type_code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The type code.
    #[must_use]
    pub fn type_code(&self) -> u8 {
        use attr_type as t;
        match self {
            Attribute::Origin(_) => t::ORIGIN,
            Attribute::AsPath(_) => t::AS_PATH,
            Attribute::NextHop(_) => t::NEXT_HOP,
            Attribute::MultiExitDisc(_) => t::MULTI_EXIT_DISC,
            Attribute::LocalPref(_) => t::LOCAL_PREF,
            Attribute::AtomicAggregate => t::ATOMIC_AGGREGATE,
            Attribute::Communities(_) => t::COMMUNITIES,
            Attribute::MpReach { .. } => t::MP_REACH_NLRI,
            Attribute::MpUnreach { .. } => t::MP_UNREACH_NLRI,
            Attribute::Unknown { type_code, .. } => *type_code,
        }
    }

    /// The flags a known attribute must carry, optional and transitive bits (RFC 4271 §5,
    /// RFC 1997, RFC 4760); `None` for types we do not decode.
    fn expected_flags(type_code: u8) -> Option<u8> {
        use attr_flags::{OPTIONAL, TRANSITIVE};
        use attr_type as t;
        Some(match type_code {
            t::ORIGIN | t::AS_PATH | t::NEXT_HOP | t::LOCAL_PREF | t::ATOMIC_AGGREGATE => {
                TRANSITIVE
            }
            t::MULTI_EXIT_DISC | t::MP_REACH_NLRI | t::MP_UNREACH_NLRI => OPTIONAL,
            t::COMMUNITIES => OPTIONAL | TRANSITIVE,
            _ => return None,
        })
    }

    fn flags(&self) -> u8 {
        match self {
            Attribute::Unknown { flags, .. } => flags & !attr_flags::EXTENDED_LENGTH,
            other => Attribute::expected_flags(other.type_code()).unwrap_or(0),
        }
    }

    fn emit_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Attribute::Origin(o) => out.push(match o {
                Origin::Igp => 0,
                Origin::Egp => 1,
                Origin::Incomplete => 2,
            }),
            Attribute::AsPath(segs) => {
                for s in segs {
                    out.push(match s.kind {
                        SegmentType::Set => 1,
                        SegmentType::Sequence => 2,
                        SegmentType::ConfedSequence => 3,
                        SegmentType::ConfedSet => 4,
                    });
                    let n = u8::try_from(s.asns.len()).map_err(|_| EncodeError::FieldTooLong {
                        field: "AS_PATH segment",
                        length: s.asns.len(),
                        max: 255,
                    })?;
                    out.push(n);
                    for a in &s.asns {
                        out.extend_from_slice(&a.to_be_bytes());
                    }
                }
            }
            Attribute::NextHop(a) => out.extend_from_slice(&a.octets()),
            Attribute::MultiExitDisc(v) | Attribute::LocalPref(v) => {
                out.extend_from_slice(&v.to_be_bytes());
            }
            Attribute::AtomicAggregate => {}
            Attribute::Communities(cs) => {
                for c in cs {
                    out.extend_from_slice(&c.to_be_bytes());
                }
            }
            Attribute::MpReach {
                afi,
                safi,
                next_hop,
                nlri,
            } => {
                out.extend_from_slice(&u16::from(*afi).to_be_bytes());
                out.push(u8::from(*safi));
                next_hop.emit(out)?;
                out.push(0); // Reserved (RFC 4760 §3).
                emit_prefixes(out, nlri, *afi, "MP_REACH_NLRI")?;
            }
            Attribute::MpUnreach {
                afi,
                safi,
                withdrawn,
            } => {
                out.extend_from_slice(&u16::from(*afi).to_be_bytes());
                out.push(u8::from(*safi));
                emit_prefixes(out, withdrawn, *afi, "MP_UNREACH_NLRI")?;
            }
            Attribute::Unknown { value, .. } => out.extend_from_slice(value),
        }
        Ok(())
    }

    /// Encodes flags, type, length (extended when the value exceeds 255 octets), value.
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        self.emit_value(&mut value)?;
        let mut flags = self.flags();
        if value.len() > 255 {
            flags |= attr_flags::EXTENDED_LENGTH;
        }
        out.push(flags);
        out.push(self.type_code());
        if flags & attr_flags::EXTENDED_LENGTH != 0 {
            let len = u16::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong {
                field: "path attribute",
                length: value.len(),
                max: 65535,
            })?;
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.push(value.len() as u8);
        }
        out.extend_from_slice(&value);
        Ok(())
    }
}

fn emit_prefixes(
    out: &mut Vec<u8>,
    prefixes: &[Prefix],
    afi: Afi,
    field: &'static str,
) -> Result<(), EncodeError> {
    for p in prefixes {
        let ok = match afi {
            Afi::Ipv4 => p.is_ipv4(),
            Afi::Ipv6 => !p.is_ipv4(),
            Afi::Unknown(_) => false,
        };
        if !ok {
            return Err(EncodeError::WrongFamily { field, prefix: *p });
        }
        p.emit(out);
    }
    Ok(())
}

/// Decodes a run of NLRI prefixes from `buf[start..end]` (RFC 4271 §4.3, RFC 4760 §5).
fn decode_prefixes(
    buf: &[u8],
    start: usize,
    end: usize,
    v6: bool,
) -> Result<Vec<Prefix>, DecodeError> {
    let mut r = Reader::new(buf, start, end);
    let mut out = Vec::new();
    let max = if v6 { 128 } else { 32 };
    while r.remaining() > 0 {
        let at = r.pos;
        let prefix_len = r.u8().unwrap_or(0);
        let invalid = DecodeError::InvalidNetworkField {
            prefix_len,
            offset: at,
        };
        if prefix_len > max {
            return Err(invalid);
        }
        let bytes = r
            .take(usize::from(prefix_len).div_ceil(8))
            .ok_or(invalid.clone())?;
        let addr = if v6 {
            let mut o = [0u8; 16];
            o[..bytes.len()].copy_from_slice(bytes);
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            let mut o = [0u8; 4];
            o[..bytes.len()].copy_from_slice(bytes);
            IpAddr::V4(Ipv4Addr::from(o))
        };
        out.push(Prefix::new(addr, prefix_len).map_err(|_| invalid)?);
    }
    Ok(out)
}

/// UPDATE (RFC 4271 §4.3). IPv4 routes travel in `withdrawn` and `nlri`; IPv6 ones in the
/// MP attributes (RFC 4760).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 routes.
    pub withdrawn: Vec<Prefix>,
    /// Path attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Reachable IPv4 prefixes.
    pub nlri: Vec<Prefix>,
}

impl Update {
    /// Decodes the body; `buf` is the whole message, header checked.
    ///
    /// Receive order (RFC 4271 §6.3, RFC 7606 §4): withdrawn routes length, total path
    /// attribute length, withdrawn prefixes, each attribute (header, flags, length, value,
    /// repeats), NLRI, then the mandatory attributes when there is NLRI.
    fn decode(buf: &[u8]) -> Result<Update, DecodeError> {
        let end = buf.len();
        let list = |reason, offset| DecodeError::MalformedAttributeList {
            reason,
            offset,
            action: ErrorAction::SessionReset,
        };
        // 1. Withdrawn Routes Length (offset 19), must leave room for the attribute length.
        let wlen = usize::from(u16::from_be_bytes([buf[19], buf[20]]));
        let w_start = 21;
        let w_end = w_start + wlen;
        if w_end + 2 > end {
            return Err(list("withdrawn routes length overruns the message", 19));
        }
        // 2. Total Path Attribute Length.
        let alen = usize::from(u16::from_be_bytes([buf[w_end], buf[w_end + 1]]));
        let a_start = w_end + 2;
        let a_end = a_start + alen;
        if a_end > end {
            return Err(list(
                "total path attribute length overruns the message",
                w_end,
            ));
        }
        // 3. Withdrawn routes.
        let withdrawn = decode_prefixes(buf, w_start, w_end, false)?;
        // 4. Attributes. RFC 7606 §4: an attribute overrunning the attribute field is
        // treat-as-withdraw (the NLRI field is still found from the total length).
        let mut attributes: Vec<Attribute> = Vec::new();
        let mut seen = [false; 256];
        let mut deferred: Option<DecodeError> = None;
        let mut r = Reader::new(buf, a_start, a_end);
        while r.remaining() > 0 {
            let at = r.pos;
            let overrun = |len| DecodeError::AttributeLength {
                type_code: buf.get(at + 1).copied().unwrap_or(0),
                length: len,
                offset: at,
                data: buf[at..a_end].to_vec(),
            };
            let (Some(flags), Some(type_code)) = (r.u8(), r.u8()) else {
                return Err(DecodeError::MalformedAttributeList {
                    reason: "attribute header overruns the attributes",
                    offset: at,
                    action: ErrorAction::TreatAsWithdraw,
                });
            };
            let len = if flags & attr_flags::EXTENDED_LENGTH != 0 {
                r.u16().map(usize::from)
            } else {
                r.u8().map(usize::from)
            };
            let Some(len) = len else {
                return Err(overrun(0));
            };
            let v_start = r.pos;
            // An MP attribute that overruns resets (its action, RFC 7606 §5.3); others are
            // treat-as-withdraw.
            let Some(value) = r.take(len) else {
                return Err(overrun(len));
            };
            let data = &buf[at..v_start + len];
            // RFC 7606 §3 g: a repeated attribute, other than MP ones, is discarded; a
            // repeated MP attribute is Malformed Attribute List.
            if seen[usize::from(type_code)] {
                if type_code == attr_type::MP_REACH_NLRI || type_code == attr_type::MP_UNREACH_NLRI
                {
                    return Err(list("MP attribute appears twice", at));
                }
                continue;
            }
            seen[usize::from(type_code)] = true;
            match decode_attribute(flags, type_code, value, v_start, at, data) {
                Ok(a) => attributes.push(a),
                Err(e) => match e.action() {
                    ErrorAction::SessionReset => return Err(e),
                    // RFC 7606 §2: the attribute is dropped, the rest stands.
                    ErrorAction::AttributeDiscard => {}
                    ErrorAction::TreatAsWithdraw => {
                        deferred.get_or_insert(e);
                    }
                },
            }
        }
        // 5. NLRI: whatever follows the attributes (§4.3). Errors reset (RFC 7606 §5.3).
        let nlri = decode_prefixes(buf, a_end, end, false)?;
        if let Some(e) = deferred {
            return Err(e);
        }
        // 6. Mandatory attributes (RFC 4271 §6.3; RFC 7606 §3 d): ORIGIN and AS_PATH when any
        // route is announced, NEXT_HOP when IPv4 NLRI is present.
        let mp_reach = seen[usize::from(attr_type::MP_REACH_NLRI)];
        if !nlri.is_empty() || mp_reach {
            for t in [attr_type::ORIGIN, attr_type::AS_PATH] {
                if !seen[usize::from(t)] {
                    return Err(DecodeError::MissingWellKnown { type_code: t });
                }
            }
        }
        if !nlri.is_empty() && !seen[usize::from(attr_type::NEXT_HOP)] {
            return Err(DecodeError::MissingWellKnown {
                type_code: attr_type::NEXT_HOP,
            });
        }
        Ok(Update {
            withdrawn,
            attributes,
            nlri,
        })
    }

    fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let w_at = out.len();
        out.extend_from_slice(&[0, 0]);
        emit_prefixes(out, &self.withdrawn, Afi::Ipv4, "withdrawn routes")?;
        let wlen = out.len() - w_at - 2;
        out[w_at..w_at + 2].copy_from_slice(&(wlen.min(0xffff) as u16).to_be_bytes());
        let a_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for a in &self.attributes {
            a.emit(out)?;
        }
        let alen = out.len() - a_at - 2;
        out[a_at..a_at + 2].copy_from_slice(&(alen.min(0xffff) as u16).to_be_bytes());
        emit_prefixes(out, &self.nlri, Afi::Ipv4, "NLRI")?;
        Ok(())
    }
}

/// Decodes one attribute's value (RFC 4271 §5, §6.3; RFC 7606 §7).
fn decode_attribute(
    flags: u8,
    type_code: u8,
    value: &[u8],
    v_start: usize,
    at: usize,
    data: &[u8],
) -> Result<Attribute, DecodeError> {
    use attr_type as t;
    let Some(expected) = Attribute::expected_flags(type_code) else {
        // §6.3: a well-known attribute (optional bit clear) we do not recognize.
        if flags & attr_flags::OPTIONAL == 0 {
            return Err(DecodeError::UnrecognizedWellKnown {
                type_code,
                offset: at,
                data: data.to_vec(),
            });
        }
        return Ok(Attribute::Unknown {
            flags: flags & !attr_flags::EXTENDED_LENGTH,
            type_code,
            value: value.to_vec(),
        });
    };
    let ot = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
    // §6.3 / RFC 7606 §3 c: optional and transitive bits must match; the partial bit must be
    // clear for well-known and optional non-transitive attributes (RFC 4271 §4.3).
    let partial_ok = expected == ot || flags & attr_flags::PARTIAL == 0;
    if flags & ot != expected || !partial_ok {
        return Err(DecodeError::AttributeFlags {
            type_code,
            flags,
            offset: at,
            data: data.to_vec(),
        });
    }
    let length_err = || DecodeError::AttributeLength {
        type_code,
        length: value.len(),
        offset: at,
        data: data.to_vec(),
    };
    let u32_of = |v: &[u8]| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    match type_code {
        t::ORIGIN => {
            if value.len() != 1 {
                return Err(length_err());
            }
            let o = match value[0] {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                v => {
                    return Err(DecodeError::InvalidOrigin {
                        value: v,
                        offset: at,
                        data: data.to_vec(),
                    });
                }
            };
            Ok(Attribute::Origin(o))
        }
        t::AS_PATH => {
            let bad = |reason| DecodeError::MalformedAsPath {
                reason,
                offset: at,
                data: data.to_vec(),
            };
            let mut segs = Vec::new();
            let mut i = 0;
            while i < value.len() {
                let kind = match value[i] {
                    1 => SegmentType::Set,
                    2 => SegmentType::Sequence,
                    3 => SegmentType::ConfedSequence,
                    4 => SegmentType::ConfedSet,
                    _ => return Err(bad("unknown segment type")),
                };
                let n = usize::from(*value.get(i + 1).ok_or(bad("segment header overrun"))?);
                if n == 0 {
                    return Err(bad("empty segment"));
                }
                let body = value
                    .get(i + 2..i + 2 + 4 * n)
                    .ok_or(bad("segment overruns the attribute"))?;
                segs.push(AsSegment {
                    kind,
                    asns: body.chunks_exact(4).map(u32_of).collect(),
                });
                i += 2 + 4 * n;
            }
            Ok(Attribute::AsPath(segs))
        }
        t::NEXT_HOP => {
            if value.len() != 4 {
                return Err(length_err());
            }
            Ok(Attribute::NextHop(Ipv4Addr::from(u32_of(value))))
        }
        t::MULTI_EXIT_DISC | t::LOCAL_PREF => {
            if value.len() != 4 {
                return Err(length_err());
            }
            let v = u32_of(value);
            Ok(if type_code == t::MULTI_EXIT_DISC {
                Attribute::MultiExitDisc(v)
            } else {
                Attribute::LocalPref(v)
            })
        }
        t::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(length_err());
            }
            Ok(Attribute::AtomicAggregate)
        }
        t::COMMUNITIES => {
            // RFC 7606 §7.8: a length not a non-zero multiple of 4 is malformed.
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err(length_err());
            }
            Ok(Attribute::Communities(
                value.chunks_exact(4).map(u32_of).collect(),
            ))
        }
        _ => decode_mp(flags, type_code, value, v_start, at, data),
    }
}

/// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3, §4).
fn decode_mp(
    flags: u8,
    type_code: u8,
    value: &[u8],
    v_start: usize,
    at: usize,
    data: &[u8],
) -> Result<Attribute, DecodeError> {
    let bad = |field, offset| DecodeError::MalformedMpAttribute {
        field,
        offset,
        data: data.to_vec(),
    };
    let min = if type_code == attr_type::MP_REACH_NLRI {
        5
    } else {
        3
    };
    if value.len() < min {
        return Err(bad("length", at));
    }
    let afi = Afi::from(u16::from_be_bytes([value[0], value[1]]));
    let safi = Safi::from(value[2]);
    let known = matches!(afi, Afi::Ipv4 | Afi::Ipv6) && safi == Safi::Unicast;
    if !known {
        // A family we did not negotiate: keep it raw (we discard received routes anyway).
        return Ok(Attribute::Unknown {
            flags: flags & !attr_flags::EXTENDED_LENGTH,
            type_code,
            value: value.to_vec(),
        });
    }
    let v6 = afi == Afi::Ipv6;
    if type_code == attr_type::MP_UNREACH_NLRI {
        let withdrawn = decode_prefixes(value, 3, value.len(), v6)
            .map_err(|_| bad("withdrawn routes", v_start + 3))?;
        return Ok(Attribute::MpUnreach {
            afi,
            safi,
            withdrawn,
        });
    }
    // §3: afi(2) safi(1) nh_len(1) nh(nh_len) reserved(1) nlri.
    let nh_len = usize::from(value[3]);
    let nh = value
        .get(4..4 + nh_len)
        .ok_or(bad("next hop length", v_start + 3))?;
    if value.len() < 5 + nh_len {
        return Err(bad("reserved octet", v_start + 4 + nh_len));
    }
    let next_hop = match (afi, nh_len) {
        (Afi::Ipv4, 4) => MpNextHop::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        (Afi::Ipv6, 16) | (Afi::Ipv6, 32) => {
            let mut g = [0u8; 16];
            g.copy_from_slice(&nh[..16]);
            let link_local = (nh_len == 32).then(|| {
                let mut l = [0u8; 16];
                l.copy_from_slice(&nh[16..32]);
                Ipv6Addr::from(l)
            });
            MpNextHop::V6 {
                global: Ipv6Addr::from(g),
                link_local,
            }
        }
        // RFC 7606 §7.11: a next hop length inconsistent with the AFI.
        (Afi::Ipv6, _) => return Err(bad("IPv6 next hop length", v_start + 3)),
        _ => MpNextHop::Other(nh.to_vec()),
    };
    let nlri = decode_prefixes(value, 5 + nh_len, value.len(), v6)
        .map_err(|_| bad("NLRI", v_start + 5 + nh_len))?;
    Ok(Attribute::MpReach {
        afi,
        safi,
        next_hop,
        nlri,
    })
}

// ---------------------------------------------------------------------------------------------
// NOTIFICATION
// ---------------------------------------------------------------------------------------------

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313).
pub mod error_code {
    /// 1: Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// 2: OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// 3: UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// 4: Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// 5: Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// 6: Cease.
    pub const CEASE: u8 = 6;
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// A NOTIFICATION (RFC 4271 §4.5): error code, subcode, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code ([`error_code`]).
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with no data.
    #[must_use]
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// Cease / Administrative Shutdown with an optional shutdown communication (RFC 8203,
    /// RFC 9003: a length octet then up to 255 octets of UTF-8, cut at a character boundary).
    #[must_use]
    pub fn admin_shutdown(message: Option<&str>) -> Notification {
        let mut n = Notification::new(error_code::CEASE, 2);
        if let Some(m) = message {
            let mut end = m.len().min(255);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            n.data.push(end as u8);
            n.data.extend_from_slice(&m.as_bytes()[..end]);
        }
        n
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Reset (RFC 9003 §2).
    #[must_use]
    pub fn shutdown_message(&self) -> Option<String> {
        if self.code != error_code::CEASE || !(self.subcode == 2 || self.subcode == 4) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// The error code's name (RFC 4271 §4.5).
    #[must_use]
    pub fn code_name(&self) -> &'static str {
        match self.code {
            1 => "Message Header Error",
            2 => "OPEN Message Error",
            3 => "UPDATE Message Error",
            4 => "Hold Timer Expired",
            5 => "Finite State Machine Error",
            6 => "Cease",
            7 => "ROUTE-REFRESH Message Error",
            _ => "Unknown error code",
        }
    }

    /// The subcode's name (RFC 4271 §6.1 to §6.3, RFC 5492, RFC 6608, RFC 4486, RFC 8538,
    /// RFC 9384).
    #[must_use]
    pub fn subcode_name(&self) -> &'static str {
        match (self.code, self.subcode) {
            (1, 1) => "Connection Not Synchronized",
            (1, 2) => "Bad Message Length",
            (1, 3) => "Bad Message Type",
            (2, 1) => "Unsupported Version Number",
            (2, 2) => "Bad Peer AS",
            (2, 3) => "Bad BGP Identifier",
            (2, 4) => "Unsupported Optional Parameter",
            (2, 6) => "Unacceptable Hold Time",
            (2, 7) => "Unsupported Capability",
            (3, 1) => "Malformed Attribute List",
            (3, 2) => "Unrecognized Well-known Attribute",
            (3, 3) => "Missing Well-known Attribute",
            (3, 4) => "Attribute Flags Error",
            (3, 5) => "Attribute Length Error",
            (3, 6) => "Invalid ORIGIN Attribute",
            (3, 8) => "Invalid NEXT_HOP Attribute",
            (3, 9) => "Optional Attribute Error",
            (3, 10) => "Invalid Network Field",
            (3, 11) => "Malformed AS_PATH",
            (5, 1) => "Receive Unexpected Message in OpenSent State",
            (5, 2) => "Receive Unexpected Message in OpenConfirm State",
            (5, 3) => "Receive Unexpected Message in Established State",
            (6, 1) => "Maximum Number of Prefixes Reached",
            (6, 2) => "Administrative Shutdown",
            (6, 3) => "Peer De-configured",
            (6, 4) => "Administrative Reset",
            (6, 5) => "Connection Rejected",
            (6, 6) => "Other Configuration Change",
            (6, 7) => "Connection Collision Resolution",
            (6, 8) => "Out of Resources",
            (6, 9) => "Hard Reset",
            (6, 10) => "BFD Down",
            (_, 0) => "Unspecific",
            _ => "Unknown subcode",
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} ({}/{})",
            self.code_name(),
            self.subcode_name(),
            self.code,
            self.subcode
        )?;
        if let Some(m) = self.shutdown_message() {
            write!(f, ": {m:?}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Framer
// ---------------------------------------------------------------------------------------------

/// Cuts a TCP byte stream into messages (RFC 4271 §4.1: the length field delimits them).
///
/// Feed chunks of any size with [`Framer::push`]; take messages with [`Framer::next_message`].
/// A header error (bad marker, length out of range, unknown type) is reported as soon as the
/// 19 header octets are in, and the framer then drops everything it holds: the session must
/// close the connection (RFC 4271 §6.1).
#[derive(Debug, Default, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
}

impl Framer {
    /// An empty framer.
    #[must_use]
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > MAX_MESSAGE_LEN {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Octets held that are not yet a whole message.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole message's bytes, `Ok(None)` when more input is needed.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, DecodeError> {
        let rest = &self.buf[self.start..];
        if rest.len() < HEADER_LEN {
            return Ok(None);
        }
        let (length, _) = match check_header(&rest[..HEADER_LEN]) {
            Ok(h) => h,
            Err(e) => {
                self.buf.clear();
                self.start = 0;
                return Err(e);
            }
        };
        let len = usize::from(length);
        if rest.len() < len {
            return Ok(None);
        }
        let s = self.start;
        self.start += len;
        Ok(Some(&self.buf[s..s + len]))
    }

    /// The next whole message, decoded; `None` when more input is needed.
    pub fn next_message(&mut self) -> Option<Result<Message, DecodeError>> {
        match self.next_frame() {
            Ok(Some(frame)) => Some(Message::decode(frame)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
