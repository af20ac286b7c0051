//! The internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums used by VRRP.
//!
//! VRRPv2 (RFC 3768 section 5.3.8) checksums the VRRP message alone; VRRPv3 (RFC 9568
//! section 5.2.8) prepends the IPv4 or IPv6 pseudo-header (source, destination, zero, protocol
//! 112, VRRP length) as UDP does.
//!
//! The functions here are pure, never allocate and never panic. Sums are kept in "folded" form
//! (a 16-bit ones' complement sum, not yet inverted) so that pieces can be [`combine`]d;
//! [`checksum`] and [`finish`] invert the result into the value that goes on the wire.
//!
//! ```
//! use ha_vrrp_proto::wire::checksum;
//!
//! let data = [0x45u8, 0x00, 0x00, 0x1c];
//! let value = checksum::checksum(&data);
//! // Summing the data together with its checksum gives all ones.
//! assert_eq!(checksum::combine(checksum::sum(&data), value), 0xffff);
//! ```

use core::net::IpAddr;

/// Folds a wide accumulator of 16- or 32-bit big-endian words into a 16-bit ones' complement
/// sum (end-around carry).
#[inline]
pub const fn fold(mut acc: u64) -> u16 {
    // Two rounds bring any u64 down to 17 bits at most, two more to 16.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The ones' complement sum of `data` taken as big-endian 16-bit words (an odd trailing byte is
/// padded with a zero byte), folded to 16 bits and not inverted.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Summing 32-bit big-endian words and folding later gives the same ones' complement sum
        // as summing 16-bit words (RFC 1071 section 2(B), "parallel summation").
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    // At most 7 bytes remain: a 32-bit word, a 16-bit word, a padded byte, straight-line.
    let mut rest = chunks.remainder();
    if let [a, b, c, d, tail @ ..] = rest {
        acc += u64::from(u32::from_be_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    if let [a, b, tail @ ..] = rest {
        acc += u64::from(u16::from_be_bytes([*a, *b]));
        rest = tail;
    }
    if let [last] = rest {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    fold(acc)
}

/// Adds two folded ones' complement sums.
#[inline]
pub const fn combine(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// Turns a folded sum into the checksum value to store (its ones' complement).
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// The internet checksum of `data`: the value to store in a zeroed checksum field.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Whether `data`, which contains its own checksum field, sums to all ones (RFC 1071).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// The folded sum of the pseudo-header for an upper-layer message of `length` bytes.
///
/// For IPv4 addresses this is the RFC 768/793 pseudo-header (source, destination, zero,
/// protocol, 16-bit length); for IPv6 addresses the RFC 8200 section 8.1 one (source,
/// destination, 32-bit length, three zero bytes, next header). Zero bytes do not change a ones'
/// complement sum, so both reduce to "addresses + length + protocol". A mixed pair (one IPv4, one
/// IPv6 address) is summed the same way; callers reject such pairs before they get here.
#[inline]
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u16 {
    let mut acc = u64::from(protocol) + u64::from(length >> 16) + u64::from(length & 0xffff);
    acc += addr_sum(src);
    acc += addr_sum(dst);
    fold(acc)
}

/// The sum of an address's bytes as 32-bit words (folded later by the caller).
#[inline]
fn addr_sum(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let x = a.to_bits();
            (x as u32 as u64)
                + ((x >> 32) as u32 as u64)
                + ((x >> 64) as u32 as u64)
                + ((x >> 96) as u32 as u64)
        }
    }
}

/// Ones' complement addition of two 64-bit words (end-around carry): `add` then `adc 0`.
///
/// Ones' complement sums of 64-bit, 32-bit or 16-bit words of the same bytes fold to the same
/// 16-bit sum (RFC 1071 section 2(B)), and summing in the machine's byte order gives that sum
/// byte-swapped (section 2(B), "byte order independence"): [`sum_le`] and [`pseudo_header_le`]
/// read little-endian words, so that no byte swap is needed anywhere; all ones (`0xffff`), what
/// a verifying message sums to, is the same either way round. The result is zero only when both
/// words are.
#[inline]
pub(crate) const fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // No overflow here: with a carry, `s` is at most 2^64 - 2.
    s + carry as u64
}

/// Folds a ones' complement sum of 64-bit words (from [`add64`]) to 16 bits, end-around carry at
/// each step. Zero only for a zero input.
#[inline]
pub(crate) const fn fold64(acc: u64) -> u16 {
    let (s, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let s = s + carry as u32;
    let (t, carry) = (s as u16).overflowing_add((s >> 16) as u16);
    t + carry as u16
}

/// The ones' complement sum of `data` as little-endian 64-bit words (a short tail zero padded),
/// for [`fold64`]: [`sum`] with its two bytes swapped (see [`add64`]). `data` starts at an even
/// offset of the message.
#[inline]
pub(crate) fn sum_le(data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<8>();
    let mut acc: u64 = 0;
    for w in words {
        acc = add64(acc, u64::from_le_bytes(*w));
    }
    add64(acc, tail_le(rest))
}

/// The last 0..=7 bytes of [`sum_le`]'s input as one zero-padded little-endian word: a 32-bit
/// word (what VRRP messages, a whole number of 32-bit words, end with) takes one branch.
#[inline]
fn tail_le(rest: &[u8]) -> u64 {
    if let Ok(w) = <[u8; 4]>::try_from(rest) {
        return u64::from(u32::from_le_bytes(w));
    }
    let mut word = 0u64;
    for (i, b) in rest.iter().take(7).enumerate() {
        word |= u64::from(*b) << (8 * i);
    }
    word
}

/// [`pseudo_header_sum`] as [`sum_le`] counts: little-endian words, for [`fold64`]. Both
/// addresses of one family is the case callers check for; a mixed pair is summed too.
#[inline]
pub(crate) fn pseudo_header_le(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u64 {
    let l = length.to_be_bytes();
    // The length as two 16-bit words, then a zero byte and the protocol: the same words as
    // the IPv4 (zero, protocol, 16-bit length) and IPv6 (32-bit length, zeros, next header)
    // layouts, in another order.
    let tail = u64::from_le_bytes([l[0], l[1], l[2], l[3], 0, protocol, 0, 0]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => add64(
            tail,
            u64::from_le_bytes({
                let (s, d) = (s.octets(), d.octets());
                [s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3]]
            }),
        ),
        (src, dst) => add64(add64(tail, addr_le(src)), addr_le(dst)),
    }
}

/// An address's little-endian 64-bit words, summed with [`add64`].
#[inline]
fn addr_le(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => u64::from(u32::from_le_bytes(a.octets())),
        IpAddr::V6(a) => {
            let x = a.to_bits().to_be();
            add64(x as u64, (x >> 64) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The textbook RFC 1071 loop: 16-bit words, 32-bit accumulator, fold at the end.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u32::from(data[i]) << 8 | u32::from(data[i + 1]);
            i += 2;
        }
        if i < data.len() {
            acc += u32::from(data[i]) << 8;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    /// `len` pseudo-random bytes (xorshift64) from `state`.
    fn noise(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_many_lengths() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in 0..200 {
            let data = noise(&mut state, len);
            assert_eq!(checksum(&data), reference(&data), "len {len}");
        }
        let ones = [0xffu8; 1500];
        assert_eq!(checksum(&ones), reference(&ones));
    }

    #[test]
    fn little_endian_words_give_the_same_verdict() {
        let mut state = 0x0f1e_2d3c_4b5a_6978u64;
        for len in 0..120 {
            let mut data = noise(&mut state, len);
            // The byte-swapped sum, for any length (a padded odd byte included).
            assert_eq!(fold64(sum_le(&data)), sum(&data).swap_bytes(), "len {len}");
            // With a checksum in the first word, both say "verifies".
            if len >= 2 {
                data[0] = 0;
                data[1] = 0;
                let c = checksum(&data);
                data[..2].copy_from_slice(&c.to_be_bytes());
                assert_eq!(sum(&data), 0xffff);
                assert_eq!(fold64(sum_le(&data)), 0xffff, "len {len}");
            }
        }
        assert_eq!(fold64(sum_le(&[])), 0);
        assert_eq!(fold64(sum_le(&[0xff; 64])), 0xffff);
        let addrs: [(IpAddr, IpAddr); 3] = [
            (
                Ipv4Addr::new(192, 0, 2, 1).into(),
                Ipv4Addr::new(224, 0, 0, 18).into(),
            ),
            (
                "fe80::1".parse::<Ipv6Addr>().unwrap().into(),
                "ff02::12".parse::<Ipv6Addr>().unwrap().into(),
            ),
            (
                Ipv4Addr::new(255, 255, 255, 255).into(),
                "ffff::ffff".parse::<Ipv6Addr>().unwrap().into(),
            ),
        ];
        for (src, dst) in addrs {
            for len in [0u32, 12, 20, 0xffff, 0x1_0000, u32::MAX] {
                assert_eq!(
                    fold64(pseudo_header_le(src, dst, 112, len)),
                    pseudo_header_sum(src, dst, 112, len).swap_bytes(),
                    "{src} {dst} {len}"
                );
            }
        }
    }

    #[test]
    fn verify_accepts_own_checksum() {
        let mut data = [0x31u8, 0x07, 0x64, 0x01, 0x00, 0x64, 0, 0, 192, 0, 2, 1];
        let c = checksum(&data);
        data[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&data));
        data[3] ^= 1;
        assert!(!verify(&data));
    }

    #[test]
    fn pseudo_header_matches_explicit_layout() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let mut ph = Vec::new();
        ph.extend_from_slice(&src.octets());
        ph.extend_from_slice(&dst.octets());
        ph.extend_from_slice(&[0, 112, 0, 12]);
        assert_eq!(
            pseudo_header_sum(src.into(), dst.into(), 112, 12),
            !reference(&ph)
        );

        let src6: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst6: Ipv6Addr = "ff02::12".parse().unwrap();
        let mut ph6 = Vec::new();
        ph6.extend_from_slice(&src6.octets());
        ph6.extend_from_slice(&dst6.octets());
        ph6.extend_from_slice(&[0, 0, 0, 24, 0, 0, 0, 112]);
        assert_eq!(
            pseudo_header_sum(src6.into(), dst6.into(), 112, 24),
            !reference(&ph6)
        );
    }
}
