//! ICMPv6 Neighbor Advertisement (RFC 4861 §4.4) with the Target Link-Layer Address option
//! (§4.6.1).
//!
//! An *unsolicited* advertisement (§7.2.6) announces that an address moved to a new link-layer
//! address: Solicited flag clear, Override flag set, sent to all-nodes `ff02::1`, with the
//! Target Link-Layer Address option. Linux (`ndisc_recv_na`) updates an existing neighbour entry
//! from it to STALE with the new address when Override is set; without Override it only marks
//! the entry STALE and keeps the old address. Creating an entry from an unsolicited NA depends on
//! `net.ipv6.conf.*.accept_untracked_na` (off by default).

use std::net::Ipv6Addr;

use super::field::{Field, arr, u16_at};
use super::ipv6::{NEXT_HEADER_ICMPV6, pseudo_header_checksum};
use super::{MacAddr, ParseError};

mod fields {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const FLAGS: usize = 4;
    pub const RESERVED: Field = 5..8;
    pub const TARGET: Field = 8..24;
    pub const OPTIONS: usize = 24;
}

/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_TYPE_NA: u8 = 136;
/// Length of a Neighbor Advertisement without options.
pub const NA_LEN: usize = fields::OPTIONS;
/// Option type: Target Link-Layer Address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// Length of a Target Link-Layer Address option for Ethernet.
pub const OPT_LLADDR_LEN: usize = 8;

/// Router flag (R).
pub const FLAG_ROUTER: u8 = 0x80;
/// Solicited flag (S).
pub const FLAG_SOLICITED: u8 = 0x40;
/// Override flag (O).
pub const FLAG_OVERRIDE: u8 = 0x20;

/// A view of an ICMPv6 Neighbor Advertisement message (starting at the ICMPv6 type).
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

    /// Fails unless the fixed part of the advertisement (24 bytes, RFC 4861 §7.1.2) is present.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < NA_LEN {
            return Err(ParseError::Truncated {
                what: "Neighbor Advertisement",
                len,
                need: NA_LEN,
            });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// ICMPv6 type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[fields::TYPE]
    }
    /// ICMPv6 code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[fields::CODE]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), fields::CHECKSUM)
    }
    /// Flags byte (R, S, O in the top three bits).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[fields::FLAGS]
    }
    /// Target address.
    pub fn target_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(arr::<16>(self.buffer.as_ref(), fields::TARGET))
    }
    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[fields::OPTIONS..]
    }
    /// Whether the checksum verifies for this message between `src` and `dst`.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        pseudo_header_checksum(src, dst, NEXT_HEADER_ICMPV6, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the ICMPv6 type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[fields::TYPE] = v;
    }
    /// Sets the ICMPv6 code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[fields::CODE] = v;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[fields::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the flags byte and clears the reserved bits that follow it.
    pub fn set_flags(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[fields::FLAGS] = v;
        b[fields::RESERVED].fill(0);
    }
    /// Sets the target address.
    pub fn set_target_addr(&mut self, v: Ipv6Addr) {
        self.buffer.as_mut()[fields::TARGET].copy_from_slice(&v.octets());
    }
    /// The option bytes, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[fields::OPTIONS..]
    }
    /// Computes and fills in the checksum for a message between `src` and `dst`.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = pseudo_header_checksum(src, dst, NEXT_HEADER_ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A Neighbor Advertisement as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a Neighbor Solicitation (clear in an unsolicited one).
    pub solicited: bool,
    /// O: override an existing cache entry (set in an unsolicited one, RFC 4861 §7.2.6).
    pub override_flag: bool,
    /// The address being advertised.
    pub target_addr: Ipv6Addr,
    /// The Target Link-Layer Address option, if present.
    pub target_lladdr: Option<MacAddr>,
}

impl Repr {
    /// An unsolicited advertisement (RFC 4861 §7.2.6): S clear, O set, with the link-layer option.
    pub fn unsolicited(target_addr: Ipv6Addr, lladdr: MacAddr, router: bool) -> Repr {
        Repr {
            router,
            solicited: false,
            override_flag: true,
            target_addr,
            target_lladdr: Some(lladdr),
        }
    }

    /// Parses and validates a message carried from `src` to `dst` (RFC 4861 §7.1.2: type, code
    /// 0, length at least 24, checksum, target not multicast, options of non-zero length that fit).
    /// Unknown options are skipped (§4.6); the first Ethernet-sized Target Link-Layer Address
    /// option is returned.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<Repr, ParseError> {
        packet.check_len()?;
        if packet.msg_type() != ICMPV6_TYPE_NA {
            return Err(ParseError::NotNeighborAdvert(packet.msg_type()));
        }
        if packet.msg_code() != 0 {
            return Err(ParseError::IcmpCode(packet.msg_code()));
        }
        if !packet.verify_checksum(src, dst) {
            let found = packet.checksum();
            // The sum over the message is !(S + found), where S is the sum with the field zeroed;
            // the expected field value is !S.
            let folded =
                !pseudo_header_checksum(src, dst, NEXT_HEADER_ICMPV6, packet.buffer.as_ref());
            let expected = !ones_sub(folded, found);
            return Err(ParseError::Checksum { found, expected });
        }
        let target_addr = packet.target_addr();
        if target_addr.is_multicast() {
            return Err(ParseError::MulticastTarget);
        }
        let mut target_lladdr = None;
        let opts = packet.options();
        let mut off = 0;
        while off < opts.len() {
            let Some(&[kind, len8]) = opts.get(off..off + 2) else {
                return Err(ParseError::BadOption {
                    offset: NA_LEN + off,
                });
            };
            let len = usize::from(len8) * 8;
            if len == 0 || off + len > opts.len() {
                return Err(ParseError::BadOption {
                    offset: NA_LEN + off,
                });
            }
            if kind == OPT_TARGET_LLADDR && len == OPT_LLADDR_LEN && target_lladdr.is_none() {
                target_lladdr = Some(MacAddr(arr(opts, off + 2..off + 8)));
            }
            off += len;
        }
        let flags = packet.flags();
        Ok(Repr {
            router: flags & FLAG_ROUTER != 0,
            solicited: flags & FLAG_SOLICITED != 0,
            override_flag: flags & FLAG_OVERRIDE != 0,
            target_addr,
            target_lladdr,
        })
    }

    /// Length of the emitted message.
    pub const fn buffer_len(&self) -> usize {
        NA_LEN
            + if self.target_lladdr.is_some() {
                OPT_LLADDR_LEN
            } else {
                0
            }
    }

    /// Writes the message with its checksum for `src` → `dst` into a view of exactly
    /// [`buffer_len`](Self::buffer_len) bytes (the checksum covers the whole view).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) {
        packet.set_msg_type(ICMPV6_TYPE_NA);
        packet.set_msg_code(0);
        let mut flags = 0;
        if self.router {
            flags |= FLAG_ROUTER;
        }
        if self.solicited {
            flags |= FLAG_SOLICITED;
        }
        if self.override_flag {
            flags |= FLAG_OVERRIDE;
        }
        packet.set_flags(flags);
        packet.set_target_addr(self.target_addr);
        if let Some(mac) = self.target_lladdr {
            let o = packet.options_mut();
            o[0] = OPT_TARGET_LLADDR;
            o[1] = 1;
            o[2..8].copy_from_slice(&mac.0);
        }
        packet.fill_checksum(src, dst);
    }
}

/// One's-complement subtraction `a - b` on 16 bits.
fn ones_sub(a: u16, b: u16) -> u16 {
    let (r, borrow) = a.overflowing_sub(b);
    if borrow { r.wrapping_sub(1) } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unsolicited NA for fd09::100 at 02:00:00:00:00:01, from fd09::100 to ff02::1, O set.
    /// Checksum computed with Python (struct sums), re-checked by `fixture_checksum_is_valid`.
    pub(crate) static NA: [u8; 32] = [
        0x88, 0x00, 0x58, 0x8b, 0x20, 0x00, 0x00,
        0x00, // type, code, checksum, flags O, reserved
        0xfd, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target fd09::100
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // option: target lladdr
    ];

    fn src() -> Ipv6Addr {
        "fd09::100".parse().unwrap()
    }
    fn dst() -> Ipv6Addr {
        "ff02::1".parse().unwrap()
    }
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn fixture_checksum_is_valid() {
        // Independent recomputation: sum of 16-bit words of pseudo-header + message.
        let mut words: Vec<u32> = Vec::new();
        for a in [src().octets(), dst().octets()] {
            for c in a.chunks(2) {
                words.push(u32::from(c[0]) << 8 | u32::from(c[1]));
            }
        }
        words.extend([0, 32, 0, 58]);
        for c in NA.chunks(2) {
            words.push(u32::from(c[0]) << 8 | u32::from(c[1]));
        }
        let mut s: u32 = words.iter().sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(s, 0xffff, "fixture checksum wrong");
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&NA[..]).unwrap();
        assert_eq!(p.msg_type(), 136);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x588b);
        assert_eq!(p.flags(), FLAG_OVERRIDE);
        assert_eq!(p.target_addr(), src());
        assert_eq!(p.options(), &[2, 1, 2, 0, 0, 0, 0, 1]);
        assert!(p.verify_checksum(&src(), &dst()));
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 32];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(136);
        p.set_msg_code(0);
        p.set_flags(FLAG_OVERRIDE);
        p.set_target_addr(src());
        p.options_mut().copy_from_slice(&[2, 1, 2, 0, 0, 0, 0, 1]);
        p.fill_checksum(&src(), &dst());
        assert_eq!(buf, NA);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&NA[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, &src(), &dst()).unwrap(),
            Repr::unsolicited(src(), MAC, false)
        );
    }

    #[test]
    fn emit() {
        let repr = Repr::unsolicited(src(), MAC, false);
        assert_eq!(repr.buffer_len(), 32);
        let mut buf = [0xa5u8; 34];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..32]), &src(), &dst());
        assert_eq!(buf[..32], NA);
        assert_eq!(buf[32..], [0xa5, 0xa5]);
    }

    #[test]
    fn rejects() {
        let p = Packet::new_checked(&NA[..]).unwrap();
        let other: Ipv6Addr = "fe80::1".parse().unwrap();
        match Repr::parse(&p, &other, &dst()) {
            Err(ParseError::Checksum {
                found: 0x588b,
                expected,
            }) => {
                let mut b = NA;
                b[2..4].copy_from_slice(&expected.to_be_bytes());
                assert!(
                    Packet::new_unchecked(&b[..]).verify_checksum(&other, &dst()),
                    "expected checksum is right"
                );
            }
            other => panic!("want checksum error, got {other:?}"),
        }
        let mut b = NA;
        b[1] = 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &src(), &dst()),
            Err(ParseError::IcmpCode(1))
        );
        // Zero-length option.
        let mut b = NA;
        b[25] = 0;
        Packet::new_unchecked(&mut b[..]).fill_checksum(&src(), &dst());
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &src(), &dst()),
            Err(ParseError::BadOption { offset: 24 })
        );
        // Option running past the end.
        let mut b = NA;
        b[25] = 2;
        Packet::new_unchecked(&mut b[..]).fill_checksum(&src(), &dst());
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &src(), &dst()),
            Err(ParseError::BadOption { offset: 24 })
        );
        // Multicast target.
        let mut b = NA;
        b[8] = 0xff;
        Packet::new_unchecked(&mut b[..]).fill_checksum(&src(), &dst());
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &src(), &dst()),
            Err(ParseError::MulticastTarget)
        );
        assert!(Packet::new_checked(&NA[..23]).is_err());
        // Without the option.
        let r = Repr {
            target_lladdr: None,
            ..Repr::unsolicited(src(), MAC, true)
        };
        let mut buf = [0u8; 24];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &src(), &dst());
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), &src(), &dst()).unwrap(),
            r
        );
    }
}
