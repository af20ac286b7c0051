//! The plain representation of an advertisement: [`Advert`] and its parts.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

use super::packet::{AUTH_DATA_LEN, HEADER_LEN, TYPE_ADVERTISEMENT, addr_from_bytes, field};
use super::{
    AuthType, BufferTooShort, ChecksumMode, Family, MAX_ADDRESSES_V4, MAX_ADDRESSES_V6, Packet,
    TooManyAddresses, WireError, checksum,
};

/// The list of virtual addresses of an advertisement, borrowed, never copied.
///
/// Either the raw address bytes of a received message, or a slice of typed addresses to send.
/// Two lists are equal when they hold the same addresses in the same order, whatever their
/// storage.
#[derive(Clone, Copy)]
pub struct Addresses<'a> {
    repr: AddrRepr<'a>,
}

#[derive(Clone, Copy)]
enum AddrRepr<'a> {
    /// `count * addr_len` bytes straight from a message.
    Raw {
        family: Family,
        bytes: &'a [u8],
    },
    V4(&'a [Ipv4Addr]),
    V6(&'a [Ipv6Addr]),
}

impl<'a> Addresses<'a> {
    /// IPv4 addresses to send; at most [`MAX_ADDRESSES_V4`].
    pub const fn v4(addrs: &'a [Ipv4Addr]) -> Result<Addresses<'a>, TooManyAddresses> {
        if addrs.len() > MAX_ADDRESSES_V4 {
            return Err(TooManyAddresses {
                family: Family::Ipv4,
                count: addrs.len(),
                max: MAX_ADDRESSES_V4,
            });
        }
        Ok(Addresses {
            repr: AddrRepr::V4(addrs),
        })
    }

    /// IPv6 addresses to send; at most [`MAX_ADDRESSES_V6`] so that the packet fits a 1500-byte
    /// MTU.
    pub const fn v6(addrs: &'a [Ipv6Addr]) -> Result<Addresses<'a>, TooManyAddresses> {
        if addrs.len() > MAX_ADDRESSES_V6 {
            return Err(TooManyAddresses {
                family: Family::Ipv6,
                count: addrs.len(),
                max: MAX_ADDRESSES_V6,
            });
        }
        Ok(Addresses {
            repr: AddrRepr::V6(addrs),
        })
    }

    /// The addresses of a received message: `bytes` must be a whole number of addresses of
    /// `family` and at most 255 of them (what the 8-bit count can announce); `None` otherwise.
    pub fn from_raw(family: Family, bytes: &'a [u8]) -> Option<Addresses<'a>> {
        let len = family.addr_len();
        if !bytes.len().is_multiple_of(len) || bytes.len() / len > usize::from(u8::MAX) {
            return None;
        }
        Some(Addresses {
            repr: AddrRepr::Raw { family, bytes },
        })
    }

    /// The address family.
    pub const fn family(&self) -> Family {
        match self.repr {
            AddrRepr::Raw { family, .. } => family,
            AddrRepr::V4(_) => Family::Ipv4,
            AddrRepr::V6(_) => Family::Ipv6,
        }
    }

    /// How many addresses (at most 255).
    pub const fn len(&self) -> usize {
        match self.repr {
            AddrRepr::Raw { family, bytes } => bytes.len() / family.addr_len(),
            AddrRepr::V4(a) => a.len(),
            AddrRepr::V6(a) => a.len(),
        }
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address at `index`.
    pub fn get(&self, index: usize) -> Option<IpAddr> {
        match self.repr {
            AddrRepr::Raw { family, bytes } => {
                let len = family.addr_len();
                let b =
                    bytes.get(index.checked_mul(len)?..index.checked_add(1)?.checked_mul(len)?)?;
                Some(addr_from_bytes(b))
            }
            AddrRepr::V4(a) => a.get(index).map(|a| IpAddr::V4(*a)),
            AddrRepr::V6(a) => a.get(index).map(|a| IpAddr::V6(*a)),
        }
    }

    /// Iterates the addresses in message order.
    pub fn iter(&self) -> AddressIter<'a> {
        AddressIter {
            list: *self,
            next: 0,
        }
    }

    /// Whether `addr` is in the list.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.iter().any(|a| a == addr)
    }

    /// The wire length of the list.
    pub const fn wire_len(&self) -> usize {
        self.len() * self.family().addr_len()
    }

    /// Writes the addresses into `out`, which is [`Addresses::wire_len`] bytes long, and
    /// returns their folded ones' complement sum.
    fn write_and_sum(&self, out: &mut [u8]) -> u16 {
        match self.repr {
            AddrRepr::Raw { bytes, .. } => {
                out.copy_from_slice(bytes);
                checksum::sum(bytes)
            }
            AddrRepr::V4(a) => {
                let mut acc = 0u64;
                for (chunk, addr) in out.chunks_exact_mut(4).zip(a) {
                    chunk.copy_from_slice(&addr.octets());
                    acc += u64::from(addr.to_bits());
                }
                checksum::fold(acc)
            }
            AddrRepr::V6(a) => {
                let mut acc = 0u64;
                for (chunk, addr) in out.chunks_exact_mut(16).zip(a) {
                    chunk.copy_from_slice(&addr.octets());
                    let x = addr.to_bits();
                    acc += u64::from(x as u32)
                        + u64::from((x >> 32) as u32)
                        + u64::from((x >> 64) as u32)
                        + u64::from((x >> 96) as u32);
                }
                checksum::fold(acc)
            }
        }
    }
}

impl PartialEq for Addresses<'_> {
    fn eq(&self, other: &Addresses<'_>) -> bool {
        if let (
            AddrRepr::Raw {
                family: f1,
                bytes: b1,
            },
            AddrRepr::Raw {
                family: f2,
                bytes: b2,
            },
        ) = (self.repr, other.repr)
        {
            return f1 == f2 && b1 == b2;
        }
        self.family() == other.family() && self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Addresses<'_> {}

impl fmt::Debug for Addresses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Addresses<'a> {
    type Item = IpAddr;
    type IntoIter = AddressIter<'a>;
    fn into_iter(self) -> AddressIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Addresses<'a> {
    type Item = IpAddr;
    type IntoIter = AddressIter<'a>;
    fn into_iter(self) -> AddressIter<'a> {
        self.iter()
    }
}

/// Iterator over the addresses of an [`Addresses`] list.
#[derive(Debug, Clone)]
pub struct AddressIter<'a> {
    list: Addresses<'a>,
    next: usize,
}

impl Iterator for AddressIter<'_> {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        let item = self.list.get(self.next)?;
        self.next += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.list.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for AddressIter<'_> {}

/// A VRRPv2 simple text password: up to 8 bytes, zero padded on the wire (RFC 2338 section
/// 5.3.6.1). Its `Debug` output does not show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
// Aligned so that moving an `Advert` copies it as one word: measurably faster `validate`.
#[repr(align(8))]
pub struct Password([u8; AUTH_DATA_LEN]);

impl Password {
    /// A password from up to 8 bytes (zero padded); `None` when longer.
    pub fn new(password: &[u8]) -> Option<Password> {
        if password.len() > AUTH_DATA_LEN {
            return None;
        }
        let mut raw = [0u8; AUTH_DATA_LEN];
        raw[..password.len()].copy_from_slice(password);
        Some(Password(raw))
    }

    /// A password from its 8 wire bytes as they are.
    pub const fn from_raw(raw: [u8; AUTH_DATA_LEN]) -> Password {
        Password(raw)
    }

    /// The 8 wire bytes.
    pub const fn as_raw(&self) -> &[u8; AUTH_DATA_LEN] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// VRRPv2 authentication: the auth type and data carried by (or expected in) an advertisement.
///
/// VRRPv3 has no authentication; there it is always [`Auth::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// Type 0: no authentication (the data is zero on send and ignored on receipt).
    #[default]
    None,
    /// Type 1: simple text password.
    SimpleText(Password),
    /// Any other type as received (2 is IP AH, others are unknown), with its 8 data bytes.
    /// `auth_type` is meant to be 2 or more: 0 and 1 parse back as the variants above.
    Other {
        /// The auth type byte.
        auth_type: u8,
        /// The authentication data.
        data: [u8; AUTH_DATA_LEN],
    },
}

impl Auth {
    /// The auth type on the wire.
    pub const fn auth_type(&self) -> AuthType {
        match self {
            Auth::None => AuthType::None,
            Auth::SimpleText(_) => AuthType::SimpleText,
            Auth::Other { auth_type: 0, .. } => AuthType::None,
            Auth::Other { auth_type: 1, .. } => AuthType::SimpleText,
            Auth::Other { auth_type: 2, .. } => AuthType::IpAh,
            Auth::Other { auth_type, .. } => AuthType::Unknown(*auth_type),
        }
    }

    /// The 8 bytes of authentication data on the wire.
    pub const fn data(&self) -> [u8; AUTH_DATA_LEN] {
        match self {
            Auth::None => [0; AUTH_DATA_LEN],
            Auth::SimpleText(p) => p.0,
            Auth::Other { data, .. } => *data,
        }
    }

    /// The value carried by a VRRPv2 message with this auth type byte and data.
    pub fn from_wire(auth_type: u8, data: [u8; AUTH_DATA_LEN]) -> Auth {
        match auth_type {
            0 => Auth::None,
            1 => Auth::SimpleText(Password(data)),
            _ => Auth::Other { auth_type, data },
        }
    }
}

/// A VRRP advertisement, version 2 or 3, as plain values (the "Repr" of smoltcp).
///
/// The version follows the interval's unit ([`AdvertInterval::V2`] seconds or
/// [`AdvertInterval::V3`] centiseconds) and the address family follows the addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert<'a> {
    /// The virtual router.
    pub vrid: VrId,
    /// The sender's priority.
    pub priority: Priority,
    /// Adver Int (v2, seconds) or Max Adver Int (v3, centiseconds).
    pub interval: AdvertInterval,
    /// The virtual addresses.
    pub addresses: Addresses<'a>,
    /// VRRPv2 authentication; [`Auth::None`] for VRRPv3 (ignored by [`Advert::emit`] there).
    pub auth: Auth,
}

impl<'a> Advert<'a> {
    /// A VRRPv2 advertisement (IPv4 addresses, interval in seconds).
    pub const fn v2(
        vrid: VrId,
        priority: Priority,
        interval: Seconds,
        addresses: Addresses<'a>,
        auth: Auth,
    ) -> Advert<'a> {
        Advert {
            vrid,
            priority,
            interval: AdvertInterval::V2(interval),
            addresses,
            auth,
        }
    }

    /// A VRRPv3 advertisement (interval in centiseconds, no authentication).
    pub const fn v3(
        vrid: VrId,
        priority: Priority,
        interval: Centiseconds,
        addresses: Addresses<'a>,
    ) -> Advert<'a> {
        Advert {
            vrid,
            priority,
            interval: AdvertInterval::V3(interval),
            addresses,
            auth: Auth::None,
        }
    }

    /// The protocol version.
    pub const fn version(&self) -> Version {
        self.interval.version()
    }

    /// The address family.
    pub const fn family(&self) -> Family {
        self.addresses.family()
    }

    /// Parses a message without a receive context: the structure (length, version 2 or 3,
    /// type, address count, exact length, non-zero VRID). It does not check the checksum, the
    /// TTL, the authentication or the VRID against a configuration: [`validate`](super::validate)
    /// does all of that and should be used on received packets.
    pub fn parse<T: AsRef<[u8]>>(packet: &'a Packet<T>) -> Result<Advert<'a>, WireError> {
        Self::parse_bytes(packet.as_bytes(), packet.family())
    }

    /// [`Advert::parse`] on a byte slice.
    pub fn parse_bytes(data: &'a [u8], family: Family) -> Result<Advert<'a>, WireError> {
        check_structure(data, family, None)?;
        let vrid =
            VrId::new(data.get(field::VRID).copied().unwrap_or(0)).ok_or(WireError::ZeroVrid)?;
        Ok(decode(data, family, vrid))
    }

    /// The length of the emitted message.
    pub const fn buffer_len(&self) -> usize {
        let auth = match self.interval {
            AdvertInterval::V2(_) => AUTH_DATA_LEN,
            AdvertInterval::V3(_) => 0,
        };
        HEADER_LEN + self.addresses.wire_len() + auth
    }

    /// Writes the message into the first [`Advert::buffer_len`] bytes of `buf` and fills the
    /// checksum; returns the length written.
    ///
    /// `src` and `dst` are the IP source and destination the message will be sent with; they
    /// enter the VRRPv3 checksum (see [`ChecksumMode`]) and are ignored for VRRPv2. Never
    /// panics: a short buffer is an error and is left untouched.
    pub fn emit(
        &self,
        buf: &mut [u8],
        mode: ChecksumMode,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<usize, BufferTooShort> {
        let len = self.buffer_len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(BufferTooShort {
                needed: len,
                len: buf.len(),
            });
        };
        // `len` is at least HEADER_LEN and the count is at most 255 (an `Addresses` invariant),
        // so the slices below are in bounds. The checksum is summed from the values written,
        // not read back from `out` (reading just-written bytes back is slow).
        let count = self.addresses.len() as u8;
        let addr_len = self.family().addr_len();
        let (head, rest) = out.split_at_mut(HEADER_LEN);
        let (addrs, auth) = rest.split_at_mut(usize::from(count) * addr_len);
        let mut sum = self.addresses.write_and_sum(addrs);
        // The fixed header as one big-endian word: version/type, VRID, priority, count, then
        // bytes 4-5 (v2: auth type and interval; v3: rsvd and max adver int), checksum zero.
        let word45 = match self.interval {
            AdvertInterval::V2(s) => {
                let data = self.auth.data();
                auth.copy_from_slice(&data);
                sum = checksum::combine(sum, checksum::sum(&data));
                u16::from_be_bytes([self.auth.auth_type().into(), s.get()])
            }
            AdvertInterval::V3(cs) => cs.get() & 0x0fff,
        };
        let header = u64::from_be_bytes([
            (self.version().number() << 4) | TYPE_ADVERTISEMENT,
            self.vrid.get(),
            self.priority.get(),
            count,
            0,
            0,
            0,
            0,
        ]) | (u64::from(word45) << 16);
        sum = checksum::combine(sum, checksum::fold(header));
        if mode.uses_pseudo_header(self.version().number(), self.family()) {
            let pseudo = checksum::pseudo_header_sum(src, dst, crate::IP_PROTOCOL, len as u32);
            sum = checksum::combine(sum, pseudo);
        }
        let header = header | u64::from(checksum::finish(sum));
        head.copy_from_slice(&header.to_be_bytes());
        Ok(len)
    }
}

/// The structural checks shared by [`Advert::parse`] and [`validate`](super::validate):
/// header length, version, type, count, exact length. With `expected` the version must equal it.
#[inline]
pub(crate) fn check_structure(
    data: &[u8],
    family: Family,
    expected: Option<Version>,
) -> Result<(), WireError> {
    let Some(&header) = data.first_chunk::<HEADER_LEN>() else {
        return Err(WireError::TooShort {
            vrid: data.get(field::VRID).copied(),
            len: data.len(),
        });
    };
    let vrid = header[field::VRID];
    let version = header[field::VER_TYPE] >> 4;
    let ok = match expected {
        Some(v) => version == v.number(),
        None => version == 2 || version == 3,
    };
    if !ok {
        return Err(WireError::BadVersion {
            vrid,
            version,
            expected,
        });
    }
    // RFC 9568 section 5.2.2: a packet with unknown type MUST be discarded.
    let kind = header[field::VER_TYPE] & 0x0f;
    if kind != TYPE_ADVERTISEMENT {
        return Err(WireError::BadType { vrid, kind });
    }
    let count = header[field::COUNT];
    if count == 0 {
        return Err(WireError::NoAddresses { vrid });
    }
    // RFC 3768 / RFC 9568 section 7.1: the complete packet, and nothing more.
    let auth = if version == 2 { AUTH_DATA_LEN } else { 0 };
    let expected_len = HEADER_LEN + usize::from(count) * family.addr_len() + auth;
    if data.len() != expected_len {
        return Err(WireError::LengthMismatch {
            vrid,
            count,
            len: data.len(),
            expected: expected_len,
        });
    }
    Ok(())
}

impl<'a> Addresses<'a> {
    /// The addresses of a received message, `bytes` a whole number (1..=255) of addresses of
    /// `family`: the caller checked it against the count (no check here, nothing unsafe).
    #[inline]
    pub(crate) const fn raw(family: Family, bytes: &'a [u8]) -> Addresses<'a> {
        Addresses {
            repr: AddrRepr::Raw { family, bytes },
        }
    }
}

const ZERO_CS: Centiseconds = match Centiseconds::new(0) {
    Some(cs) => cs,
    None => panic!("0 fits in 12 bits"),
};

/// VRRPv3: the Max Adver Int from header bytes 4 and 5 (their 12 low bits; the 4 reserved bits are
/// ignored on receipt, RFC 9568 section 5.2.6).
#[inline]
pub(crate) const fn max_adver_int(byte4: u8, byte5: u8) -> Centiseconds {
    let word = u16::from_be_bytes([byte4, byte5]) & Centiseconds::MAX;
    // The 12-bit value always fits `Centiseconds`; the fallback is never taken.
    match Centiseconds::new(word) {
        Some(cs) => cs,
        None => ZERO_CS,
    }
}

/// Builds the advert from a message that passed [`check_structure`].
#[inline]
pub(crate) fn decode<'a>(data: &'a [u8], family: Family, vrid: VrId) -> Advert<'a> {
    // Read from memory again rather than keeping a copy of the header alive: cheaper.
    let header = data
        .first_chunk::<HEADER_LEN>()
        .copied()
        .unwrap_or_default();
    let addr_len = family.addr_len();
    let count = header[field::COUNT];
    let bytes = data
        .get(field::addresses(count, addr_len))
        .unwrap_or_default();
    let addresses = Addresses {
        repr: AddrRepr::Raw { family, bytes },
    };
    let (interval, auth) = if header[field::VER_TYPE] >> 4 == 2 {
        let raw = data
            .get(field::auth_data(count, addr_len))
            .and_then(|d| <[u8; AUTH_DATA_LEN]>::try_from(d).ok())
            .unwrap_or_default();
        (
            AdvertInterval::V2(Seconds(header[field::ADVER_INT])),
            Auth::from_wire(header[field::AUTH_TYPE], raw),
        )
    } else {
        (
            AdvertInterval::V3(max_adver_int(header[4], header[5])),
            Auth::None,
        )
    };
    Advert {
        vrid,
        priority: Priority(header[field::PRIORITY]),
        interval,
        addresses,
        auth,
    }
}
