//! Writing classic pcap files, so that bytes built by the codecs can be judged by tshark's
//! dissectors, and reading their timestamps back (captures too large to hand to tshark).

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

/// The timestamps (s since the epoch) of the packets of a classic pcap file (microsecond or
/// nanosecond, either byte order); stops at the first truncated record.
#[must_use]
pub fn timestamps(file: &[u8]) -> Vec<f64> {
    let Some(magic) = file.get(..4) else {
        return Vec::new();
    };
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Vec::new(),
    };
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = file.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let frac = if nanos { 1e-9 } else { 1e-6 };
    let mut out = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(sub), Some(caplen)) = (word(at), word(at + 4), word(at + 8)) {
        out.push(f64::from(sec) + f64::from(sub) * frac);
        at += 16 + caplen as usize;
        if at > file.len() {
            break;
        }
    }
    out
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

    #[test]
    fn timestamps_reads_every_record() {
        let file = encode(LinkType::Ethernet, &[&[0u8; 60], &[0u8; 40]]);
        let t = timestamps(&file);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(((t[1] - t[0]) - 0.001).abs() < 1e-6, "1 ms apart: {t:?}");
        assert!(
            timestamps(&file[..30]).is_empty(),
            "a truncated record header"
        );
        assert!(timestamps(b"nope").is_empty());
    }
}
