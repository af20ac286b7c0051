//! The fixed IPv6 header (RFC 8200 §3) and the upper-layer checksum pseudo-header (§8.1).

use std::net::Ipv6Addr;

use super::ParseError;
use super::field::{Field, arr, u16_at};

mod fields {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// Next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Fails unless the fixed header and the declared payload fit in the buffer.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::Truncated {
                what: "IPv6 header",
                len,
                need: HEADER_LEN,
            });
        }
        let payload_len = self.payload_len();
        if usize::from(payload_len) > len - HEADER_LEN {
            return Err(ParseError::Ipv6PayloadLength {
                payload_len,
                available: len - HEADER_LEN,
            });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version nibble.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes(arr(self.buffer.as_ref(), fields::VER_TC_FLOW)) & 0x000f_ffff
    }
    /// Payload length.
    pub fn payload_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), fields::PAYLOAD_LEN)
    }
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[fields::NEXT_HEADER]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[fields::HOP_LIMIT]
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(arr::<16>(self.buffer.as_ref(), fields::SRC_ADDR))
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(arr::<16>(self.buffer.as_ref(), fields::DST_ADDR))
    }
    /// The payload, as long as the payload length says (trailing link padding excluded).
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, traffic class 0 and flow label 0.
    pub fn set_version_6_defaults(&mut self) {
        self.buffer.as_mut()[fields::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
    }
    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[fields::PAYLOAD_LEN].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[fields::NEXT_HEADER] = v;
    }
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[fields::HOP_LIMIT] = v;
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, v: Ipv6Addr) {
        self.buffer.as_mut()[fields::SRC_ADDR].copy_from_slice(&v.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, v: Ipv6Addr) {
        self.buffer.as_mut()[fields::DST_ADDR].copy_from_slice(&v.octets());
    }
    /// The payload (from the end of the fixed header to the end of the buffer), mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The fixed IPv6 header as plain values (traffic class and flow label are always 0 here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Repr {
    /// Parses a view, checking the version.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, ParseError> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(ParseError::Ipv6Version(packet.version()));
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Length of the fixed header.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_6_defaults();
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// The Internet checksum (RFC 1071) of an upper-layer message over IPv6, with the pseudo-header
/// of RFC 8200 §8.1 (source, destination, upper-layer length, next header). A message whose
/// checksum field is filled in correctly sums to 0.
pub fn pseudo_header_checksum(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> u16 {
    use ha_vrrp_proto::wire::checksum::{combine, finish, pseudo_header_sum, sum};
    // Upper-layer lengths above u32 cannot occur for a slice carried in an IPv6 packet.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let header = pseudo_header_sum((*src).into(), (*dst).into(), next_header, len);
    finish(combine(header, sum(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let mut buf = [0xa5u8; 42];
        let repr = Repr {
            src_addr: "fe80::1".parse().unwrap(),
            dst_addr: "ff02::1".parse().unwrap(),
            next_header: 58,
            payload_len: 2,
            hop_limit: 255,
        };
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..8], [0x60, 0, 0, 0, 0, 2, 58, 255]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0);
        assert_eq!(p.payload(), &[0xa5, 0xa5]);
        assert_eq!(Repr::parse(&p).unwrap(), repr);
        assert!(matches!(
            Packet::new_checked(&buf[..41]),
            Err(ParseError::Ipv6PayloadLength { .. })
        ));
        buf[0] = 0x40;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Err(ParseError::Ipv6Version(4))
        );
    }

    #[test]
    fn checksum_odd_length_and_verify() {
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut msg = [0x88u8, 0, 0, 0, 0x20, 0, 0, 0, 1];
        let c = pseudo_header_checksum(&s, &d, 58, &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(pseudo_header_checksum(&s, &d, 58, &msg), 0);
    }
}
