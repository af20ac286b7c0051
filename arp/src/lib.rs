//! Gratuitous ARP and IPv6 unsolicited Neighbor Advertisement frames, an announce scheduler and
//! (feature `sys`) an AF_PACKET sender.
#![warn(missing_docs)]

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

#[cfg(test)]
mod tests {
    #[test]
    fn ethertype() {
        assert_eq!(super::ETHERTYPE_ARP, 0x0806);
    }
}
