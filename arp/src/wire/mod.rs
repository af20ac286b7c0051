//! Sans-io codecs, in the smoltcp style.
//!
//! Each layer has a view type `Packet<T: AsRef<[u8]>>` over a byte buffer and a plain `Repr` that
//! is parsed from / emitted into such a view:
//!
//! - [`ethernet`]: the Ethernet II header.
//! - [`arp`]: ARP for Ethernet/IPv4 (RFC 826), with gratuitous ARP helpers (RFC 5227 §3).
//! - [`ipv6`]: the fixed IPv6 header (RFC 8200 §3), just enough to carry Neighbor Discovery.
//! - [`ndisc`]: the ICMPv6 Neighbor Advertisement (RFC 4861 §4.4) with its checksum.
//! - [`frame`]: whole frames as sent on the wire: Ethernet + ARP, Ethernet + IPv6 + NA.
//!
//! # Panic rules
//!
//! - `Packet::new_unchecked` never panics; `Packet::new_checked` (which calls `check_len`)
//!   returns an error instead of a too-short view.
//! - After `check_len` succeeded, every accessor of a view never panics.
//! - `Repr::parse` never panics, whatever the bytes (checked by proptest and a fuzz target).
//! - `Repr::emit` never panics on a buffer of at least `Repr::buffer_len()` bytes; on a shorter
//!   buffer it panics (a programming error, as in smoltcp).

pub mod arp;
pub mod ethernet;
pub mod frame;
pub mod ipv6;
pub mod ndisc;

use std::fmt;
use std::str::FromStr;

/// Why bytes could not be parsed as one of this crate's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is shorter than the structure needs.
    #[error("{what} truncated: {len} bytes, need at least {need}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The EtherType is neither ARP nor IPv6.
    #[error("unsupported EtherType {0:#06x} (want ARP 0x0806 or IPv6 0x86dd)")]
    UnsupportedEtherType(u16),
    /// ARP hardware type/length is not Ethernet (1, 6).
    #[error("ARP hardware type {htype} length {hlen} is not Ethernet (1, 6)")]
    ArpHardware {
        /// The hardware type field.
        htype: u16,
        /// The hardware address length field.
        hlen: u8,
    },
    /// ARP protocol type/length is not IPv4 (0x0800, 4).
    #[error("ARP protocol type {ptype:#06x} length {plen} is not IPv4 (0x0800, 4)")]
    ArpProtocol {
        /// The protocol type field.
        ptype: u16,
        /// The protocol address length field.
        plen: u8,
    },
    /// The IP version nibble is not 6.
    #[error("IPv6 header has version {0}")]
    Ipv6Version(u8),
    /// The IPv6 payload length points past the end of the buffer.
    #[error("IPv6 payload length {payload_len} exceeds the {available} bytes present")]
    Ipv6PayloadLength {
        /// The payload length field.
        payload_len: u16,
        /// Bytes present after the fixed header.
        available: usize,
    },
    /// The IPv6 next header is not ICMPv6 (58); extension headers are not supported.
    #[error("IPv6 next header {0} is not ICMPv6 (58)")]
    NotIcmpv6(u8),
    /// The ICMPv6 message is not a Neighbor Advertisement (136).
    #[error("ICMPv6 type {0} is not a Neighbor Advertisement (136)")]
    NotNeighborAdvert(u8),
    /// RFC 4861 §7.1.2: the IP hop limit of a Neighbor Advertisement must be 255.
    #[error("Neighbor Advertisement hop limit {0} is not 255 (RFC 4861 7.1.2)")]
    HopLimit(u8),
    /// RFC 4861 §7.1.2: the ICMP code must be 0.
    #[error("Neighbor Advertisement ICMP code {0} is not 0 (RFC 4861 7.1.2)")]
    IcmpCode(u8),
    /// The ICMPv6 checksum (with the pseudo-header) does not verify.
    #[error("ICMPv6 checksum {found:#06x} does not verify (expected {expected:#06x})")]
    Checksum {
        /// Checksum in the packet.
        found: u16,
        /// Checksum computed over the packet.
        expected: u16,
    },
    /// RFC 4861 §7.1.2: the target address must not be multicast.
    #[error("Neighbor Advertisement target is a multicast address (RFC 4861 7.1.2)")]
    MulticastTarget,
    /// RFC 4861 §7.1.2: if the IP destination is multicast, the Solicited flag must be clear.
    #[error(
        "Neighbor Advertisement to a multicast destination has the Solicited flag set (RFC 4861 7.1.2)"
    )]
    SolicitedToMulticast,
    /// RFC 4861 §7.1.2: every option must have a non-zero length and fit in the message.
    #[error("Neighbor Discovery option at offset {offset} has a bad length")]
    BadOption {
        /// Offset of the option inside the ICMPv6 message.
        offset: usize,
    },
}

/// An Ethernet (EUI-48) address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// `33:33:00:00:00:01`: the Ethernet mapping of ff02::1 (RFC 2464 §7).
    pub const ALL_NODES_V6: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

    /// The VRRP virtual router MAC for IPv4, `00-00-5E-00-01-{VRID}` (RFC 9568 §7.3).
    pub const fn vrrp_v4(vrid: u8) -> MacAddr {
        MacAddr([0x00, 0x00, 0x5e, 0x00, 0x01, vrid])
    }

    /// The VRRP virtual router MAC for IPv6, `00-00-5E-00-02-{VRID}` (RFC 9568 §7.3).
    pub const fn vrrp_v6(vrid: u8) -> MacAddr {
        MacAddr([0x00, 0x00, 0x5e, 0x00, 0x02, vrid])
    }

    /// The Ethernet multicast address of an IPv6 multicast group (RFC 2464 §7).
    pub const fn ipv6_multicast(group: std::net::Ipv6Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// Whether the group bit (I/G) is set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(value: [u8; 6]) -> Self {
        MacAddr(value)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address string that is not six hex octets separated by `:` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: want six hex octets like 02:00:00:00:00:01")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for slot in out.iter_mut() {
            let part = parts.next().ok_or_else(|| MacParseError(s.to_owned()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(MacParseError(s.to_owned()));
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| MacParseError(s.to_owned()))?;
        }
        if parts.next().is_some() {
            return Err(MacParseError(s.to_owned()));
        }
        Ok(MacAddr(out))
    }
}

/// Fixed-size field helpers shared by the views. Callers check lengths first.
pub(crate) mod field {
    /// A byte range inside a header.
    pub type Field = core::ops::Range<usize>;

    pub(crate) fn u16_at(b: &[u8], f: Field) -> u16 {
        u16::from_be_bytes([b[f.start], b[f.start + 1]])
    }

    pub(crate) fn arr<const N: usize>(b: &[u8], f: Field) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&b[f]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_display() {
        let m: MacAddr = "02:0A:ff-00:00:99".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0x0a, 0xff, 0, 0, 0x99]));
        assert_eq!(m.to_string(), "02:0a:ff:00:00:99");
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:zz".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:".parse::<MacAddr>().is_err());
    }

    #[test]
    fn vrrp_macs() {
        assert_eq!(MacAddr::vrrp_v4(7).to_string(), "00:00:5e:00:01:07");
        assert_eq!(MacAddr::vrrp_v6(255).to_string(), "00:00:5e:00:02:ff");
        assert_eq!(
            MacAddr::ipv6_multicast("ff02::1".parse().unwrap()),
            MacAddr::ALL_NODES_V6
        );
    }
}
