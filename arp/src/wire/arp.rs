//! ARP for Ethernet and IPv4 (RFC 826), and the gratuitous forms used to move an address.
//!
//! # Gratuitous ARP forms
//!
//! A gratuitous ARP carries the announced address as both sender and target protocol address
//! (RFC 5227 §3 "ARP Announcement", RFC 5944 §4.6). Two forms are in use:
//!
//! - **Request** ([`GarpForm::Request`], the default): operation 1, Ethernet destination
//!   broadcast, target hardware address `00:00:00:00:00:00` (RFC 5227 §2.3: "ignored and SHOULD
//!   be set to all zeroes"), as early keepalived and most stacks send it.
//! - **Request, broadcast target** ([`GarpForm::RequestBroadcastTarget`]): the same with target
//!   hardware address `ff:ff:ff:ff:ff:ff`. This is byte for byte what keepalived 2.2.7 sends
//!   (`send_gratuitous_arp_immediate` in `vrrp_arp.c` fills `ar_tha` with `0xff`; checked with
//!   tcpdump on this project's machine). Receivers ignore the target hardware address of a
//!   request, so both request forms have the same effect.
//! - **Reply** ([`GarpForm::Reply`]): operation 2, Ethernet destination broadcast, target hardware
//!   address = the sender hardware address. This is what iputils `arping -A` sends (it copies its
//!   own address into the target hardware field). Linux (`arp_is_garp` in `net/ipv4/arp.c`)
//!   treats a reply as gratuitous only if the target hardware address equals the sender's, so the
//!   reply form must set it that way to override a recently updated entry.
//!
//! Receivers on Linux update an *existing* neighbour entry from either form; creating a new entry
//! from an unsolicited ARP depends on `net.ipv4.conf.*.arp_accept` (0, the default: never; 1:
//! always; 2: only if the address is in a local subnet).

use std::net::Ipv4Addr;

use super::field::{Field, arr, u16_at};
use super::{MacAddr, ParseError};

mod fields {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    // Offsets below hold for hlen = 6, plen = 4 (Ethernet/IPv4), the only kind this view reads.
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1.
    Request,
    /// 2.
    Reply,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(v: Operation) -> Self {
        match v {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// Which gratuitous ARP to build (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GarpForm {
    /// Operation 1, target hardware address zero (RFC 5227 announcement).
    #[default]
    Request,
    /// Operation 1, target hardware address `ff:ff:ff:ff:ff:ff` (keepalived 2.x).
    RequestBroadcastTarget,
    /// Operation 2, target hardware address = sender's (iputils `arping -A`).
    Reply,
}

/// A view of an ARP packet.
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

    /// Fails unless the buffer holds the fixed part and both address pairs of the lengths the
    /// packet declares, and at least [`PACKET_LEN`] bytes (so that every accessor, which assumes
    /// Ethernet/IPv4 lengths, is in bounds).
    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < fields::OPER.end {
            return Err(ParseError::Truncated {
                what: "ARP packet",
                len: b.len(),
                need: fields::OPER.end,
            });
        }
        let need =
            fields::OPER.end + 2 * (usize::from(b[fields::HLEN]) + usize::from(b[fields::PLEN]));
        let need = need.max(PACKET_LEN);
        if b.len() < need {
            return Err(ParseError::Truncated {
                what: "ARP packet",
                len: b.len(),
                need,
            });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), fields::HTYPE)
    }
    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), fields::PTYPE)
    }
    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[fields::HLEN]
    }
    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[fields::PLEN]
    }
    /// Operation.
    pub fn operation(&self) -> Operation {
        u16_at(self.buffer.as_ref(), fields::OPER).into()
    }
    /// Sender hardware address (Ethernet layout).
    pub fn source_hardware_addr(&self) -> MacAddr {
        MacAddr(arr(self.buffer.as_ref(), fields::SHA))
    }
    /// Sender protocol address (IPv4 layout).
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(arr::<4>(self.buffer.as_ref(), fields::SPA))
    }
    /// Target hardware address (Ethernet layout).
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr(arr(self.buffer.as_ref(), fields::THA))
    }
    /// Target protocol address (IPv4 layout).
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(arr::<4>(self.buffer.as_ref(), fields::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[fields::HTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[fields::PTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[fields::HLEN] = v;
    }
    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[fields::PLEN] = v;
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, v: Operation) {
        self.buffer.as_mut()[fields::OPER].copy_from_slice(&u16::from(v).to_be_bytes());
    }
    /// Sets the sender hardware address.
    pub fn set_source_hardware_addr(&mut self, v: MacAddr) {
        self.buffer.as_mut()[fields::SHA].copy_from_slice(&v.0);
    }
    /// Sets the sender protocol address.
    pub fn set_source_protocol_addr(&mut self, v: Ipv4Addr) {
        self.buffer.as_mut()[fields::SPA].copy_from_slice(&v.octets());
    }
    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, v: MacAddr) {
        self.buffer.as_mut()[fields::THA].copy_from_slice(&v.0);
    }
    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, v: Ipv4Addr) {
        self.buffer.as_mut()[fields::TPA].copy_from_slice(&v.octets());
    }
}

/// An Ethernet/IPv4 ARP packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Operation.
    pub operation: Operation,
    /// Sender hardware address.
    pub source_hardware_addr: MacAddr,
    /// Sender protocol address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hardware_addr: MacAddr,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// A gratuitous ARP announcing that `addr` is at `mac`, in the given form (module docs).
    pub fn gratuitous(mac: MacAddr, addr: Ipv4Addr, form: GarpForm) -> Repr {
        let (operation, target_hardware_addr) = match form {
            GarpForm::Request => (Operation::Request, MacAddr::ZERO),
            GarpForm::RequestBroadcastTarget => (Operation::Request, MacAddr::BROADCAST),
            GarpForm::Reply => (Operation::Reply, mac),
        };
        Repr {
            operation,
            source_hardware_addr: mac,
            source_protocol_addr: addr,
            target_hardware_addr,
            target_protocol_addr: addr,
        }
    }

    /// Whether this is a gratuitous ARP: sender and target protocol addresses are equal (the
    /// same test as Wireshark's `arp.isgratuitous`); for a reply, Linux additionally requires the
    /// target hardware address to equal the sender's, which this also checks.
    pub fn is_gratuitous(&self) -> bool {
        self.source_protocol_addr == self.target_protocol_addr
            && (self.operation != Operation::Reply
                || self.target_hardware_addr == self.source_hardware_addr)
    }

    /// Parses a view; only Ethernet/IPv4 ARP is accepted.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, ParseError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET || packet.hardware_len() != 6 {
            return Err(ParseError::ArpHardware {
                htype: packet.hardware_type(),
                hlen: packet.hardware_len(),
            });
        }
        if packet.protocol_type() != PTYPE_IPV4 || packet.protocol_len() != 4 {
            return Err(ParseError::ArpProtocol {
                ptype: packet.protocol_type(),
                plen: packet.protocol_len(),
            });
        }
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Length of the emitted packet.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into a view of at least [`buffer_len`](Self::buffer_len) bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gratuitous ARP request: 02:00:00:00:00:01 announces 10.9.0.100.
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype, ptype, hlen, plen, op=1
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100, // sha, spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 9, 0, 100, // tha, tpa
    ];

    /// Gratuitous ARP reply (arping -A form).
    static REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 9, 0, 100,
    ];

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.source_hardware_addr(), MAC);
        assert_eq!(p.source_protocol_addr(), VIP);
        assert_eq!(p.target_hardware_addr(), MacAddr::ZERO);
        assert_eq!(p.target_protocol_addr(), VIP);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 28];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_hardware_type(1);
        p.set_protocol_type(0x0800);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(Operation::Reply);
        p.set_source_hardware_addr(MAC);
        p.set_source_protocol_addr(VIP);
        p.set_target_hardware_addr(MAC);
        p.set_target_protocol_addr(VIP);
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn parse() {
        let req = Repr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(req, Repr::gratuitous(MAC, VIP, GarpForm::Request));
        assert!(req.is_gratuitous());
        let rep = Repr::parse(&Packet::new_checked(&REPLY[..]).unwrap()).unwrap();
        assert_eq!(rep, Repr::gratuitous(MAC, VIP, GarpForm::Reply));
        assert!(rep.is_gratuitous());
    }

    #[test]
    fn emit() {
        for (form, bytes) in [(GarpForm::Request, REQUEST), (GarpForm::Reply, REPLY)] {
            let mut buf = [0xa5u8; 30];
            let repr = Repr::gratuitous(MAC, VIP, form);
            assert_eq!(repr.buffer_len(), 28);
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf[..28], bytes);
            assert_eq!(buf[28..], [0xa5, 0xa5], "emit wrote past buffer_len");
        }
    }

    #[test]
    fn keepalived_form() {
        // As captured from keepalived 2.2.7 (tcpdump -x), with its MAC and VIP replaced by ours.
        let mut keepalived = REQUEST;
        keepalived[18..24].copy_from_slice(&[0xff; 6]);
        let repr = Repr::gratuitous(MAC, VIP, GarpForm::RequestBroadcastTarget);
        let mut buf = [0xa5u8; 28];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, keepalived);
        assert!(repr.is_gratuitous());
    }

    #[test]
    fn rejects() {
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(ParseError::ArpHardware { htype: 6, hlen: 6 })
        );
        let mut b = REQUEST;
        b[2] = 0x86;
        b[3] = 0xdd;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(ParseError::ArpProtocol { .. })
        ));
        assert!(Packet::new_checked(&REQUEST[..27]).is_err());
        let mut b = REQUEST;
        b[4] = 200; // declares longer addresses than present
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(ParseError::Truncated { need: 416, .. })
        ));
        // A reply whose target hardware address differs is not gratuitous for Linux.
        let mut r = Repr::gratuitous(MAC, VIP, GarpForm::Reply);
        r.target_hardware_addr = MacAddr::BROADCAST;
        assert!(!r.is_gratuitous());
        assert_eq!(Operation::from(9), Operation::Unknown(9));
    }
}
