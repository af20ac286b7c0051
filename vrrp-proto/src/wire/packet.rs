//! The zero-copy [`Packet`] view over the bytes of a VRRP message.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::Priority;

use super::checksum;
use super::{ChecksumMode, Family, WireError};

/// Byte offsets of the VRRP message fields (RFC 3768 section 5.1, RFC 9568 section 5.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// v2: |   Auth Type   |   Adver Int   |          Checksum         |
/// v3: |(rsvd) |     Max Adver Int     |          Checksum         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 IPv4 (4 bytes) or IPv6 (16 bytes) addresses   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// v2 only: |           Authentication Data (8 bytes)              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
pub mod field {
    /// A byte range of the message.
    pub type Field = core::ops::Range<usize>;

    /// Version (high nibble) and type (low nibble).
    pub const VER_TYPE: usize = 0;
    /// Virtual router identifier.
    pub const VRID: usize = 1;
    /// Priority.
    pub const PRIORITY: usize = 2;
    /// Count of addresses.
    pub const COUNT: usize = 3;
    /// VRRPv2: authentication type.
    pub const AUTH_TYPE: usize = 4;
    /// VRRPv2: advertisement interval in seconds.
    pub const ADVER_INT: usize = 5;
    /// VRRPv3: 4 reserved bits, then the 12-bit maximum advertisement interval in centiseconds.
    pub const MAX_ADVER_INT: Field = 4..6;
    /// Checksum.
    pub const CHECKSUM: Field = 6..8;
    /// Where the addresses start.
    pub const ADDRESSES: usize = 8;

    /// The addresses of a message holding `count` addresses of `addr_len` bytes each.
    pub const fn addresses(count: u8, addr_len: usize) -> Field {
        ADDRESSES..ADDRESSES + count as usize * addr_len
    }

    /// VRRPv2: the 8 bytes of authentication data after the addresses.
    pub const fn auth_data(count: u8, addr_len: usize) -> Field {
        let start = ADDRESSES + count as usize * addr_len;
        start..start + super::AUTH_DATA_LEN
    }
}

/// The length of the fixed header.
pub const HEADER_LEN: usize = field::ADDRESSES;
/// The length of the VRRPv2 authentication data.
pub const AUTH_DATA_LEN: usize = 8;
/// The only message type: ADVERTISEMENT (RFC 9568 section 5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// The VRRPv2 authentication type (RFC 3768 section 5.3.6; types 1 and 2 from RFC 2338).
///
/// Unknown values are kept as [`AuthType::Unknown`]: the view never fails on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: simple text password (RFC 2338 section 5.3.6.1; reserved in RFC 3768, used by
    /// keepalived's `auth_type PASS`).
    SimpleText,
    /// 2: IP Authentication Header (RFC 2338; refused by [`validate`](super::validate)).
    IpAh,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(value: u8) -> AuthType {
        match value {
            0 => AuthType::None,
            1 => AuthType::SimpleText,
            2 => AuthType::IpAh,
            other => AuthType::Unknown(other),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(value: AuthType) -> u8 {
        match value {
            AuthType::None => 0,
            AuthType::SimpleText => 1,
            AuthType::IpAh => 2,
            AuthType::Unknown(other) => other,
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthType::None => f.write_str("0 (none)"),
            AuthType::SimpleText => f.write_str("1 (simple text password)"),
            AuthType::IpAh => f.write_str("2 (IP AH)"),
            AuthType::Unknown(v) => write!(f, "{v} (unknown)"),
        }
    }
}

/// A read/write view of a VRRP message (the IP payload) in a buffer.
///
/// The address family is not in the message itself: it comes from the IP layer and decides the
/// address length (4 or 16 bytes). The version nibble decides the layout: version 2 has 8 bytes of
/// authentication data after the addresses, any other version (3, or an unknown one) has none.
///
/// Panic rules: [`Packet::new_unchecked`] performs no check, and then the accessors may panic
/// on a short buffer. After [`Packet::check_len`] succeeded (or with [`Packet::new_checked`]),
/// no accessor panics: the buffer holds the fixed header, the addresses the count announces and,
/// for version 2, the authentication data. Longer buffers are accepted here; exact length is
/// checked by [`Advert::parse`](super::Advert::parse) and [`validate`](super::validate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without any check.
    pub const fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// A view after [`Packet::check_len`].
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, WireError> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header and everything the header announces.
    ///
    /// Errors: [`WireError::TooShort`] below the 8-byte header, [`WireError::LengthMismatch`]
    /// when the buffer is shorter than [`Packet::total_len`].
    pub fn check_len(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(WireError::TooShort {
                vrid: data.get(field::VRID).copied(),
                len: data.len(),
            });
        }
        let expected = self.total_len();
        if data.len() < expected {
            return Err(WireError::LengthMismatch {
                vrid: self.vrid(),
                count: self.addr_count(),
                len: data.len(),
                expected,
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The address family given at construction.
    pub const fn family(&self) -> Family {
        self.family
    }

    /// The length of one address: 4 or 16 bytes.
    pub const fn addr_len(&self) -> usize {
        self.family.addr_len()
    }

    /// Whether the layout has VRRPv2 authentication data (version nibble 2).
    pub fn has_auth_data(&self) -> bool {
        self.version() == 2
    }

    /// The message length the header implies: header, `count` addresses and, for version 2,
    /// the authentication data.
    pub fn total_len(&self) -> usize {
        let auth = if self.has_auth_data() {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + usize::from(self.addr_count()) * self.addr_len() + auth
    }

    /// The 4-bit version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The 4-bit type field (1: ADVERTISEMENT).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// The virtual router identifier (0 is invalid but readable).
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        Priority(self.buffer.as_ref()[field::PRIORITY])
    }

    /// The address count.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// VRRPv2: the authentication type (the byte at offset 4; meaningless for VRRPv3).
    pub fn auth_type(&self) -> AuthType {
        AuthType::from(self.buffer.as_ref()[field::AUTH_TYPE])
    }

    /// VRRPv2: the advertisement interval in seconds (the byte at offset 5).
    pub fn adver_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// VRRPv3: the 4 reserved bits (sent as zero, ignored on receipt; RFC 9568 section 5.2.6).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_ADVER_INT.start] >> 4
    }

    /// VRRPv3: the 12-bit maximum advertisement interval in centiseconds.
    pub fn max_adver_int(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([
            d[field::MAX_ADVER_INT.start],
            d[field::MAX_ADVER_INT.start + 1],
        ]) & 0x0fff
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]])
    }

    /// The raw bytes of the addresses (`count * addr_len` bytes).
    pub fn address_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[field::addresses(self.addr_count(), self.addr_len())]
    }

    /// The address at `index`, or `None` past the count.
    pub fn address(&self, index: usize) -> Option<IpAddr> {
        let len = self.addr_len();
        let bytes = self
            .address_bytes()
            .get(index.checked_mul(len)?..index.checked_add(1)?.checked_mul(len)?)?;
        Some(addr_from_bytes(bytes))
    }

    /// VRRPv2: the 8 bytes of authentication data; `None` for other versions.
    pub fn auth_data(&self) -> Option<&[u8]> {
        if self.has_auth_data() {
            Some(&self.buffer.as_ref()[field::auth_data(self.addr_count(), self.addr_len())])
        } else {
            None
        }
    }

    /// The message as the checksum covers it: the first [`Packet::total_len`] bytes, or the
    /// whole buffer when it is shorter.
    fn message(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        &d[..self.total_len().min(d.len())]
    }

    /// The checksum the message should carry, computed with the checksum field taken as zero.
    ///
    /// `src` and `dst` are the IP source and destination; they enter the VRRPv3 pseudo-header
    /// and are ignored for VRRPv2 (and for VRRPv3 over IPv4 with [`ChecksumMode::V3AsV2`]).
    pub fn compute_checksum(&self, mode: ChecksumMode, src: IpAddr, dst: IpAddr) -> u16 {
        let msg = self.message();
        let body = checksum::combine(
            checksum::sum(&msg[..field::CHECKSUM.start]),
            checksum::sum(&msg[field::CHECKSUM.end..]),
        );
        checksum::finish(checksum::combine(
            self.pseudo_sum(mode, src, dst, msg.len()),
            body,
        ))
    }

    /// Whether the checksum field verifies (the message and pseudo-header sum to all ones).
    pub fn verify_checksum(&self, mode: ChecksumMode, src: IpAddr, dst: IpAddr) -> bool {
        let msg = self.message();
        checksum::combine(
            self.pseudo_sum(mode, src, dst, msg.len()),
            checksum::sum(msg),
        ) == 0xffff
    }

    fn pseudo_sum(&self, mode: ChecksumMode, src: IpAddr, dst: IpAddr, len: usize) -> u16 {
        if mode.uses_pseudo_header(self.version(), self.family) {
            checksum::pseudo_header_sum(src, dst, crate::IP_PROTOCOL, len as u32)
        } else {
            0
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version and type nibbles.
    pub fn set_version_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_TYPE] = (version << 4) | (d[field::VER_TYPE] & 0x0f);
    }

    /// Sets the type nibble.
    pub fn set_msg_type(&mut self, msg_type: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_TYPE] = (d[field::VER_TYPE] & 0xf0) | (msg_type & 0x0f);
    }

    /// Sets the VRID.
    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    /// Sets the priority.
    pub fn set_priority(&mut self, priority: Priority) {
        self.buffer.as_mut()[field::PRIORITY] = priority.get();
    }

    /// Sets the address count (the layout, and so [`Packet::total_len`], follows it).
    pub fn set_addr_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    /// VRRPv2: sets the authentication type.
    pub fn set_auth_type(&mut self, auth_type: AuthType) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type.into();
    }

    /// VRRPv2: sets the advertisement interval in seconds.
    pub fn set_adver_int(&mut self, seconds: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = seconds;
    }

    /// VRRPv3: sets the 4 reserved bits.
    pub fn set_reserved(&mut self, reserved: u8) {
        let d = self.buffer.as_mut();
        let i = field::MAX_ADVER_INT.start;
        d[i] = (reserved << 4) | (d[i] & 0x0f);
    }

    /// VRRPv3: sets the 12-bit maximum advertisement interval (higher bits are dropped; the
    /// reserved bits are kept).
    pub fn set_max_adver_int(&mut self, centiseconds: u16) {
        let d = self.buffer.as_mut();
        let i = field::MAX_ADVER_INT.start;
        let word = (u16::from(d[i] & 0xf0) << 8) | (centiseconds & 0x0fff);
        d[i..i + 2].copy_from_slice(&word.to_be_bytes());
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// The address bytes, writable.
    pub fn address_bytes_mut(&mut self) -> &mut [u8] {
        let range = field::addresses(self.addr_count(), self.addr_len());
        &mut self.buffer.as_mut()[range]
    }

    /// VRRPv2: the authentication data, writable; `None` for other versions.
    pub fn auth_data_mut(&mut self) -> Option<&mut [u8]> {
        if self.has_auth_data() {
            let range = field::auth_data(self.addr_count(), self.addr_len());
            Some(&mut self.buffer.as_mut()[range])
        } else {
            None
        }
    }

    /// Computes and stores the checksum (see [`Packet::compute_checksum`]).
    pub fn fill_checksum(&mut self, mode: ChecksumMode, src: IpAddr, dst: IpAddr) {
        let value = self.compute_checksum(mode, src, dst);
        self.set_checksum(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An address from 4 or 16 bytes (any other length reads as many bytes as fit, zero padded;
/// callers only pass exact lengths).
pub(crate) fn addr_from_bytes(bytes: &[u8]) -> IpAddr {
    if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(b))
    } else {
        let mut b = [0u8; 16];
        let n = bytes.len().min(16);
        b[..n].copy_from_slice(&bytes[..n]);
        IpAddr::V6(Ipv6Addr::from(b))
    }
}
