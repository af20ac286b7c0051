//! Ethernet II header (IEEE 802.3 with an EtherType, no 802.1Q tag).

use super::field::{Field, arr, u16_at};
use super::{MacAddr, ParseError};

mod fields {
    use super::Field;
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = fields::PAYLOAD;

/// The EtherType field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4, 0x0800.
    Ipv4,
    /// ARP, 0x0806.
    Arp,
    /// IPv6, 0x86dd.
    Ipv6,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> Self {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Fails unless the buffer holds a whole header; after success no accessor panics.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::Truncated {
                what: "Ethernet header",
                len,
                need: HEADER_LEN,
            });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination address.
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr(arr(self.buffer.as_ref(), fields::DESTINATION))
    }

    /// Source address.
    pub fn src_addr(&self) -> MacAddr {
        MacAddr(arr(self.buffer.as_ref(), fields::SOURCE))
    }

    /// EtherType.
    pub fn ethertype(&self) -> EtherType {
        u16_at(self.buffer.as_ref(), fields::ETHERTYPE).into()
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[fields::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, v: MacAddr) {
        self.buffer.as_mut()[fields::DESTINATION].copy_from_slice(&v.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, v: MacAddr) {
        self.buffer.as_mut()[fields::SOURCE].copy_from_slice(&v.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, v: EtherType) {
        self.buffer.as_mut()[fields::ETHERTYPE].copy_from_slice(&u16::from(v).to_be_bytes());
    }

    /// The bytes after the header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[fields::PAYLOAD..]
    }
}

/// The Ethernet header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Destination address.
    pub dst_addr: MacAddr,
    /// Source address.
    pub src_addr: MacAddr,
    /// EtherType.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked view.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr, ParseError> {
        frame.check_len()?;
        Ok(Repr {
            dst_addr: frame.dst_addr(),
            src_addr: frame.src_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Length of the header.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BYTES: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0xaa,
        0xbb,
    ];

    fn repr() -> Repr {
        Repr {
            dst_addr: MacAddr::BROADCAST,
            src_addr: MacAddr([2, 0, 0, 0, 0, 1]),
            ethertype: EtherType::Arp,
        }
    }

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&BYTES[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 16];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst_addr(MacAddr::BROADCAST);
        f.set_src_addr(MacAddr([2, 0, 0, 0, 0, 1]));
        f.set_ethertype(EtherType::Arp);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(buf, BYTES);
    }

    #[test]
    fn parse_emit() {
        let f = Frame::new_checked(&BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&f).unwrap(), repr());
        let mut buf = [0xa5u8; 16];
        repr().emit(&mut Frame::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..14], BYTES[..14]);
        assert_eq!(buf[14..], [0xa5, 0xa5]);
    }

    #[test]
    fn truncated() {
        assert!(matches!(
            Frame::new_checked(&BYTES[..13]),
            Err(ParseError::Truncated {
                len: 13,
                need: 14,
                ..
            })
        ));
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
        assert_eq!(u16::from(EtherType::Unknown(0x1234)), 0x1234);
    }
}
