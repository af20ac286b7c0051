//! Whole frames as they go on the wire: Ethernet + ARP, and Ethernet + IPv6 + Neighbor
//! Advertisement.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ethernet::{self, EtherType};
use super::{MacAddr, ParseError, arp, ipv6, ndisc};

/// The IPv6 all-nodes multicast address, destination of unsolicited advertisements.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Hop limit of every Neighbor Discovery message (RFC 4861 §7.1.2).
pub const ND_HOP_LIMIT: u8 = 255;
/// Length of an Ethernet + ARP frame (without link padding).
pub const ARP_FRAME_LEN: usize = ethernet::HEADER_LEN + arp::PACKET_LEN;
/// Length of an Ethernet + IPv6 + NA frame carrying the Target Link-Layer Address option.
pub const NA_FRAME_LEN: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + ndisc::NA_LEN + ndisc::OPT_LLADDR_LEN;
/// The longest frame [`Repr::emit`] writes.
pub const MAX_FRAME_LEN: usize = NA_FRAME_LEN;

/// An Ethernet frame carrying ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// The ARP packet.
    pub arp: arp::Repr,
}

/// An Ethernet frame carrying an IPv6 Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NaFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source.
    pub src_addr: Ipv6Addr,
    /// IPv6 destination.
    pub dst_addr: Ipv6Addr,
    /// The advertisement.
    pub na: ndisc::Repr,
}

/// A frame this crate builds or parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Repr {
    /// Ethernet + ARP.
    Arp(ArpFrame),
    /// Ethernet + IPv6 + ICMPv6 Neighbor Advertisement.
    Na(NaFrame),
}

impl Repr {
    /// A gratuitous ARP for `addr` at `mac`, Ethernet destination broadcast (see
    /// [`arp`] for the two forms).
    pub fn gratuitous_arp(mac: MacAddr, addr: Ipv4Addr, form: arp::GarpForm) -> Repr {
        Repr::Arp(ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            arp: arp::Repr::gratuitous(mac, addr, form),
        })
    }

    /// An unsolicited Neighbor Advertisement for `target` at `mac` (RFC 4861 §7.2.6): Ethernet
    /// destination `33:33:00:00:00:01`, IPv6 destination `ff02::1`, hop limit 255, Override set,
    /// Solicited clear, Router as given, Target Link-Layer Address option = `mac`.
    ///
    /// `source` is the IPv6 source address. keepalived uses the announced address itself
    /// (`vrrp_ndisc.c`); RFC 4861 §7.2.6 does not constrain it and Linux accepts either. A
    /// link-local address of the interface is the other usual choice.
    pub fn unsolicited_na(mac: MacAddr, target: Ipv6Addr, source: Ipv6Addr, router: bool) -> Repr {
        Repr::Na(NaFrame {
            eth_dst: MacAddr::ipv6_multicast(ALL_NODES),
            eth_src: mac,
            src_addr: source,
            dst_addr: ALL_NODES,
            na: ndisc::Repr::unsolicited(target, mac, router),
        })
    }

    /// Parses a frame: Ethernet, then ARP (Ethernet/IPv4 only) or IPv6 + ICMPv6 Neighbor
    /// Advertisement, validated as RFC 4861 §7.1.2 says (hop limit 255, code 0, checksum, target
    /// not multicast, Solicited clear when sent to multicast, sane options). Trailing link
    /// padding is ignored. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Repr, ParseError> {
        let eth = ethernet::Frame::new_checked(bytes)?;
        let eth_repr = ethernet::Repr::parse(&eth)?;
        match eth_repr.ethertype {
            EtherType::Arp => {
                let arp = arp::Repr::parse(&arp::Packet::new_checked(eth.payload())?)?;
                Ok(Repr::Arp(ArpFrame {
                    eth_dst: eth_repr.dst_addr,
                    eth_src: eth_repr.src_addr,
                    arp,
                }))
            }
            EtherType::Ipv6 => {
                let ip = ipv6::Packet::new_checked(eth.payload())?;
                let ip_repr = ipv6::Repr::parse(&ip)?;
                if ip_repr.next_header != ipv6::NEXT_HEADER_ICMPV6 {
                    return Err(ParseError::NotIcmpv6(ip_repr.next_header));
                }
                let icmp = ndisc::Packet::new_checked(ip.payload())?;
                if icmp.msg_type() != ndisc::ICMPV6_TYPE_NA {
                    return Err(ParseError::NotNeighborAdvert(icmp.msg_type()));
                }
                if ip_repr.hop_limit != ND_HOP_LIMIT {
                    return Err(ParseError::HopLimit(ip_repr.hop_limit));
                }
                let na = ndisc::Repr::parse(&icmp, &ip_repr.src_addr, &ip_repr.dst_addr)?;
                if ip_repr.dst_addr.is_multicast() && na.solicited {
                    return Err(ParseError::SolicitedToMulticast);
                }
                Ok(Repr::Na(NaFrame {
                    eth_dst: eth_repr.dst_addr,
                    eth_src: eth_repr.src_addr,
                    src_addr: ip_repr.src_addr,
                    dst_addr: ip_repr.dst_addr,
                    na,
                }))
            }
            other => Err(ParseError::UnsupportedEtherType(other.into())),
        }
    }

    /// Length of the emitted frame.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::Arp(_) => ARP_FRAME_LEN,
            Repr::Na(f) => ethernet::HEADER_LEN + ipv6::HEADER_LEN + f.na.buffer_len(),
        }
    }

    /// The Ethernet source address.
    pub const fn eth_src(&self) -> MacAddr {
        match self {
            Repr::Arp(f) => f.eth_src,
            Repr::Na(f) => f.eth_src,
        }
    }

    /// The Ethernet destination address.
    pub const fn eth_dst(&self) -> MacAddr {
        match self {
            Repr::Arp(f) => f.eth_dst,
            Repr::Na(f) => f.eth_dst,
        }
    }

    /// The EtherType of the frame.
    pub const fn ethertype(&self) -> EtherType {
        match self {
            Repr::Arp(_) => EtherType::Arp,
            Repr::Na(_) => EtherType::Ipv6,
        }
    }

    /// Writes the frame into the first [`buffer_len`](Self::buffer_len) bytes of `buf` and
    /// returns that length. Bytes after it are untouched.
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        let mut eth = ethernet::Frame::new_unchecked(&mut *buf);
        ethernet::Repr {
            dst_addr: self.eth_dst(),
            src_addr: self.eth_src(),
            ethertype: self.ethertype(),
        }
        .emit(&mut eth);
        match self {
            Repr::Arp(f) => f
                .arp
                .emit(&mut arp::Packet::new_unchecked(eth.payload_mut())),
            Repr::Na(f) => {
                let na_len = f.na.buffer_len();
                let mut ip = ipv6::Packet::new_unchecked(eth.payload_mut());
                ipv6::Repr {
                    src_addr: f.src_addr,
                    dst_addr: f.dst_addr,
                    next_header: ipv6::NEXT_HEADER_ICMPV6,
                    // At most 32: the NA and one option.
                    payload_len: na_len as u16,
                    hop_limit: ND_HOP_LIMIT,
                }
                .emit(&mut ip);
                f.na.emit(
                    &mut ndisc::Packet::new_unchecked(&mut ip.payload_mut()[..na_len]),
                    &f.src_addr,
                    &f.dst_addr,
                );
            }
        }
        len
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::arp::GarpForm;

    pub(crate) const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

    /// Gratuitous ARP request for 10.9.0.100 from 02:00:00:00:00:01.
    pub(crate) static GARP_REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // arp fixed
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100, // sha spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 9, 0, 100, // tha tpa
    ];

    /// Gratuitous ARP reply for 10.9.0.100 from 02:00:00:00:00:01.
    pub(crate) static GARP_REPLY: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100,
    ];

    /// Unsolicited NA for fd09::100 from fd09::100, Override set.
    pub(crate) static UNSOLICITED_NA: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86,
        0xdd, // eth
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // ver, plen 32, nh 58, hop 255
        0xfd, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // src fd09::100
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // dst ff02::1
        0x88, 0x00, 0x58, 0x8b, 0x20, 0x00, 0x00, 0x00, // NA, O
        0xfd, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // target lladdr option
    ];

    fn vip4() -> Ipv4Addr {
        Ipv4Addr::new(10, 9, 0, 100)
    }
    fn vip6() -> Ipv6Addr {
        "fd09::100".parse().unwrap()
    }

    fn fixtures() -> [(Repr, &'static [u8]); 3] {
        [
            (
                Repr::gratuitous_arp(MAC, vip4(), GarpForm::Request),
                &GARP_REQUEST,
            ),
            (
                Repr::gratuitous_arp(MAC, vip4(), GarpForm::Reply),
                &GARP_REPLY,
            ),
            (
                Repr::unsolicited_na(MAC, vip6(), vip6(), false),
                &UNSOLICITED_NA,
            ),
        ]
    }

    #[test]
    fn deconstruct() {
        let eth = ethernet::Frame::new_checked(&UNSOLICITED_NA[..]).unwrap();
        assert_eq!(eth.dst_addr(), MacAddr::ALL_NODES_V6);
        assert_eq!(eth.ethertype(), EtherType::Ipv6);
        let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.hop_limit(), 255);
        assert_eq!(ip.next_header(), 58);
        assert_eq!(ip.payload_len(), 32);
        assert_eq!(ip.src_addr(), vip6());
        assert_eq!(ip.dst_addr(), ALL_NODES);
        let na = ndisc::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(na.flags(), ndisc::FLAG_OVERRIDE);
        assert_eq!(na.target_addr(), vip6());

        let eth = ethernet::Frame::new_checked(&GARP_REQUEST[..]).unwrap();
        assert_eq!(eth.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(eth.src_addr(), MAC);
        assert_eq!(eth.ethertype(), EtherType::Arp);
        let a = arp::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(a.operation(), arp::Operation::Request);
        assert_eq!(a.source_protocol_addr(), a.target_protocol_addr());
    }

    #[test]
    fn construct() {
        // Build the NA frame field by field through the views.
        let mut buf = [0xa5u8; 86];
        let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(MacAddr::ALL_NODES_V6);
        eth.set_src_addr(MAC);
        eth.set_ethertype(EtherType::Ipv6);
        let mut ip = ipv6::Packet::new_unchecked(eth.payload_mut());
        ip.set_version_6_defaults();
        ip.set_payload_len(32);
        ip.set_next_header(58);
        ip.set_hop_limit(255);
        ip.set_src_addr(vip6());
        ip.set_dst_addr(ALL_NODES);
        let mut na = ndisc::Packet::new_unchecked(ip.payload_mut());
        na.set_msg_type(136);
        na.set_msg_code(0);
        na.set_flags(ndisc::FLAG_OVERRIDE);
        na.set_target_addr(vip6());
        na.options_mut().copy_from_slice(&[2, 1, 2, 0, 0, 0, 0, 1]);
        na.fill_checksum(&vip6(), &ALL_NODES);
        assert_eq!(buf, UNSOLICITED_NA);
    }

    #[test]
    fn parse() {
        for (repr, bytes) in fixtures() {
            assert_eq!(Repr::parse(bytes), Ok(repr));
            // Ethernet padding to 60 bytes is ignored.
            let mut padded = bytes.to_vec();
            padded.resize(padded.len().max(60), 0);
            assert_eq!(Repr::parse(&padded), Ok(repr));
        }
    }

    #[test]
    fn emit() {
        for (repr, bytes) in fixtures() {
            let mut buf = [0xa5u8; MAX_FRAME_LEN + 4];
            assert_eq!(repr.buffer_len(), bytes.len());
            assert_eq!(repr.emit(&mut buf), bytes.len());
            assert_eq!(&buf[..bytes.len()], bytes);
            assert!(
                buf[bytes.len()..].iter().all(|&b| b == 0xa5),
                "emit wrote past buffer_len"
            );
        }
    }

    #[test]
    fn router_flag_and_link_local_source() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let repr = Repr::unsolicited_na(MacAddr::vrrp_v6(7), vip6(), ll, true);
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = repr.emit(&mut buf);
        assert_eq!(buf[14 + 40 + 4], ndisc::FLAG_ROUTER | ndisc::FLAG_OVERRIDE);
        assert_eq!(Repr::parse(&buf[..n]), Ok(repr));
    }

    #[test]
    fn rejects() {
        let mut b = UNSOLICITED_NA;
        b[14 + 7] = 64; // hop limit
        assert_eq!(Repr::parse(&b), Err(ParseError::HopLimit(64)));
        let mut b = UNSOLICITED_NA;
        b[14 + 6] = 17; // UDP
        assert_eq!(Repr::parse(&b), Err(ParseError::NotIcmpv6(17)));
        let mut b = UNSOLICITED_NA;
        b[14 + 40] = 135; // NS
        assert_eq!(Repr::parse(&b), Err(ParseError::NotNeighborAdvert(135)));
        let mut b = UNSOLICITED_NA;
        b[12] = 0x08;
        b[13] = 0x00;
        assert_eq!(
            Repr::parse(&b),
            Err(ParseError::UnsupportedEtherType(0x0800))
        );
        // Solicited flag to a multicast destination (checksum fixed so only that rule fails).
        let mut b = UNSOLICITED_NA;
        b[14 + 40 + 4] |= ndisc::FLAG_SOLICITED;
        ndisc::Packet::new_unchecked(&mut b[54..]).fill_checksum(&vip6(), &ALL_NODES);
        assert_eq!(Repr::parse(&b), Err(ParseError::SolicitedToMulticast));
        assert!(Repr::parse(&GARP_REQUEST[..41]).is_err());
        assert!(Repr::parse(&[]).is_err());
    }
}
