//! Writing classic pcap files, so that bytes built by the codecs can be judged by tshark's
//! dissectors.

use std::io::Write;
use std::path::Path;

/// The link type of the packets in a pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II frames (LINKTYPE_ETHERNET, 1).
    Ethernet,
    /// Raw IPv4 or IPv6 packets without a link header (LINKTYPE_RAW, 101).
    RawIp,
}

impl LinkType {
    fn value(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
        }
    }
}

/// Encodes `packets` as a pcap file (microsecond timestamps 1 ms apart).
pub fn encode(link: LinkType, packets: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&link.value().to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let len = u32::try_from(p.len()).expect("packet larger than 4 GiB");
        let usec = u32::try_from(i * 1000).unwrap_or(u32::MAX);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&usec.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Writes `packets` to a pcap file at `path`, panicking on IO errors (test support).
pub fn write(path: &Path, link: LinkType, packets: &[&[u8]]) {
    let mut f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(&encode(link, packets))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let bytes = encode(LinkType::RawIp, &[&[1, 2, 3]]);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + 3);
        assert_eq!(&bytes[24 + 8..24 + 12], &3u32.to_le_bytes());
        assert_eq!(&bytes[40..], &[1, 2, 3]);
    }
}
