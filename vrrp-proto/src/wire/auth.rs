//! HMAC-authenticated adverts: a trailer after the VRRP message, for peers that share a key
//! (heartbeat's `authkeys` `md5` / `sha1`). Not part of any RFC: configurations without a key
//! send and accept plain RFC 3768 / RFC 9568 messages, byte for byte.
//!
//! # Wire form
//! The IP payload is the VRRP message exactly as without authentication (VRRPv2 or VRRPv3
//! header, addresses, VRRPv2 authentication data; its checksum computed as usual over the
//! message alone, or with the pseudo-header for VRRPv3), followed by the trailer:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Type 0xA1    |   Algorithm   |    Key ID     |   Reserved 0  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Sequence, high 32 bits: the sender's generation    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Sequence, low 32 bits: a per-advert counter        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     MAC: 16 (HMAC-MD5), 20 (HMAC-SHA1) or 32 (HMAC-SHA256) bytes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! - Type `0xA1`: trailer type A, version 1.
//! - Algorithm: 1 HMAC-MD5, 2 HMAC-SHA1, 3 HMAC-SHA256 ([`MacAlgorithm`]).
//! - Key ID: heartbeat's `auth N`, so keys can be told apart.
//! - Sequence: a big-endian u64. The high 32 bits are the sender's generation (unix seconds
//!   when it started), the low 32 a counter of the adverts it sent since, so a restarted
//!   sender continues above what its peers accepted before.
//! - MAC: the HMAC (RFC 2104) with the shared key over
//!   `IP source address || IP destination address || VRRP message || trailer bytes 0..12`
//!   (addresses as 4 or 16 bytes in network order).
//!
//! A receiver with a key (`AdvertKey::verify`, `auth` feature) drops a message without a trailer, with a
//! malformed one, another algorithm or key ID, or a MAC that does not verify (compared in
//! constant time): [`DropReason::Auth`](crate::DropReason::Auth). It then drops a sequence not
//! greater than the last one it accepted from that source address ([`ReplayGuard`]):
//! [`DropReason::Replay`](crate::DropReason::Replay). A receiver without a key sees a VRRP
//! message followed by trailing bytes and drops it as the codec does any message longer than its
//! address count implies ([`WireError::LengthMismatch`](super::WireError::LengthMismatch)), so
//! mixing keyed and unkeyed peers fails closed on both sides.
//!
//! Wireshark's VRRP dissector sums the whole IP payload for the checksum, so it shows the
//! (RFC-correct) checksum of an authenticated advert as bad; the trailer bytes follow the
//! addresses in its hex view.
//!
//! The trailer's layout ([`Trailer`], [`split`]) is always available; signing and verifying
//! (`AdvertKey`) need the `auth` feature (RustCrypto `hmac`, `md-5`, `sha1`, `sha2`).
//!
//! Never panics, whatever the bytes: [`Trailer::parse`], [`split`] and `AdvertKey::verify`
//! are proptested.

use core::fmt;
use core::net::IpAddr;

use super::{AUTH_DATA_LEN, Family, HEADER_LEN, field};

/// The trailer's first byte: type A, version 1.
pub const TRAILER_TYPE: u8 = 0xA1;
/// The trailer's fixed part before the MAC.
pub const TRAILER_HEADER_LEN: usize = 12;
/// The longest trailer (HMAC-SHA256).
pub const MAX_TRAILER_LEN: usize = TRAILER_HEADER_LEN + 32;

/// Byte offsets of the trailer's fields, from its start.
pub mod trailer_field {
    /// Trailer type and version, [`super::TRAILER_TYPE`].
    pub const TYPE: usize = 0;
    /// MAC algorithm.
    pub const ALGORITHM: usize = 1;
    /// Key ID.
    pub const KEY_ID: usize = 2;
    /// Reserved, 0.
    pub const RESERVED: usize = 3;
    /// Sequence number, big-endian u64.
    pub const SEQUENCE: core::ops::Range<usize> = 4..12;
    /// Where the MAC starts.
    pub const MAC: usize = 12;
}

/// The MAC of the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MacAlgorithm {
    /// HMAC-MD5 (RFC 2104), 16 bytes: heartbeat's `md5`.
    HmacMd5,
    /// HMAC-SHA1, 20 bytes: heartbeat's `sha1`.
    HmacSha1,
    /// HMAC-SHA256, 32 bytes.
    HmacSha256,
}

impl MacAlgorithm {
    /// The algorithm's code in the trailer.
    pub const fn code(self) -> u8 {
        match self {
            MacAlgorithm::HmacMd5 => 1,
            MacAlgorithm::HmacSha1 => 2,
            MacAlgorithm::HmacSha256 => 3,
        }
    }

    /// The algorithm of a code; `None` for an unknown one.
    pub const fn from_code(code: u8) -> Option<MacAlgorithm> {
        match code {
            1 => Some(MacAlgorithm::HmacMd5),
            2 => Some(MacAlgorithm::HmacSha1),
            3 => Some(MacAlgorithm::HmacSha256),
            _ => None,
        }
    }

    /// The MAC's length in bytes.
    pub const fn mac_len(self) -> usize {
        match self {
            MacAlgorithm::HmacMd5 => 16,
            MacAlgorithm::HmacSha1 => 20,
            MacAlgorithm::HmacSha256 => 32,
        }
    }

    /// The whole trailer's length with this algorithm.
    pub const fn trailer_len(self) -> usize {
        TRAILER_HEADER_LEN + self.mac_len()
    }

    /// A lowercase name: `md5`, `sha1`, `sha256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MacAlgorithm::HmacMd5 => "md5",
            MacAlgorithm::HmacSha1 => "sha1",
            MacAlgorithm::HmacSha256 => "sha256",
        }
    }
}

impl fmt::Display for MacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HMAC-{}", self.as_str().to_ascii_uppercase())
    }
}

/// Why an advert failed authentication (all counted as
/// [`DropReason::Auth`](crate::DropReason::Auth)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Nothing follows the VRRP message.
    #[error("no authentication trailer")]
    Missing,
    /// The trailer is not of type 0xA1, its reserved byte is not 0, or its length is not the
    /// one its algorithm implies.
    #[error("malformed authentication trailer: {0}")]
    Malformed(&'static str),
    /// Another algorithm than the configured one.
    #[error("trailer algorithm {got} is not the configured {expected}")]
    Algorithm {
        /// The code in the trailer.
        got: u8,
        /// The configured algorithm.
        expected: MacAlgorithm,
    },
    /// Another key ID than the configured one.
    #[error("trailer key id {got} is not the configured {expected}")]
    KeyId {
        /// The key ID in the trailer.
        got: u8,
        /// The configured key ID.
        expected: u8,
    },
    /// The MAC does not verify: another key, or altered bytes.
    #[error("the MAC does not verify (another key, or altered bytes)")]
    BadMac,
}

/// A parsed trailer (not verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer<'a> {
    /// The algorithm code (see [`MacAlgorithm::from_code`]).
    pub algorithm: u8,
    /// The key ID.
    pub key_id: u8,
    /// The sequence number.
    pub sequence: u64,
    /// The MAC bytes.
    pub mac: &'a [u8],
}

impl<'a> Trailer<'a> {
    /// Parses a trailer: type 0xA1, a known algorithm, reserved 0, and exactly the length its
    /// algorithm implies. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Trailer<'a>, AuthError> {
        if bytes.is_empty() {
            return Err(AuthError::Missing);
        }
        let Some(head) = bytes.first_chunk::<TRAILER_HEADER_LEN>() else {
            return Err(AuthError::Malformed("shorter than 12 bytes"));
        };
        if head[trailer_field::TYPE] != TRAILER_TYPE {
            return Err(AuthError::Malformed("type is not 0xA1"));
        }
        if head[trailer_field::RESERVED] != 0 {
            return Err(AuthError::Malformed("reserved byte is not 0"));
        }
        let algorithm = head[trailer_field::ALGORITHM];
        let Some(alg) = MacAlgorithm::from_code(algorithm) else {
            return Err(AuthError::Malformed("unknown algorithm"));
        };
        if bytes.len() != alg.trailer_len() {
            return Err(AuthError::Malformed("length is not the algorithm's"));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&head[trailer_field::SEQUENCE]);
        Ok(Trailer {
            algorithm,
            key_id: head[trailer_field::KEY_ID],
            sequence: u64::from_be_bytes(seq),
            mac: bytes.get(trailer_field::MAC..).unwrap_or_default(),
        })
    }
}

/// Splits an IP payload into the VRRP message (as long as its header's version and address
/// count say) and what follows it. `None` when the payload is shorter than that message (the
/// codec then reports why). Never panics.
pub fn split(payload: &[u8], family: Family) -> Option<(&[u8], &[u8])> {
    let head = payload.first_chunk::<HEADER_LEN>()?;
    let auth = if head[field::VER_TYPE] >> 4 == 2 {
        AUTH_DATA_LEN
    } else {
        0
    };
    let len = HEADER_LEN + usize::from(head[field::COUNT]) * family.addr_len() + auth;
    (payload.len() >= len).then(|| payload.split_at(len))
}

/// The sequence numbers accepted per source address: a later advert must carry a greater one
/// (replay protection). Remembers at most [`ReplayGuard::MAX_SOURCES`] sources (the oldest
/// forgotten first); only adverts that passed the MAC get here, so only key holders fill it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayGuard {
    last: Vec<(IpAddr, u64)>,
}

impl ReplayGuard {
    /// How many sources are remembered.
    pub const MAX_SOURCES: usize = 64;

    /// Whether `sequence` from `src` is greater than the last one accepted from it.
    pub fn is_fresh(&self, src: IpAddr, sequence: u64) -> bool {
        self.last(src).is_none_or(|last| sequence > last)
    }

    /// The last sequence accepted from `src`.
    pub fn last(&self, src: IpAddr) -> Option<u64> {
        self.last.iter().find(|(a, _)| *a == src).map(|(_, s)| *s)
    }

    /// Records `sequence` as accepted from `src`.
    pub fn accept(&mut self, src: IpAddr, sequence: u64) {
        if let Some(e) = self.last.iter_mut().find(|(a, _)| *a == src) {
            e.1 = sequence;
            return;
        }
        if self.last.len() >= Self::MAX_SOURCES {
            self.last.remove(0);
        }
        self.last.push((src, sequence));
    }
}

/// The sequence number of the `counter`-th advert of a sender started at `generation` (unix
/// seconds).
pub const fn sequence(generation: u32, counter: u32) -> u64 {
    ((generation as u64) << 32) | counter as u64
}

#[cfg(feature = "auth")]
pub use keyed::{AdvertKey, Verified};

#[cfg(feature = "auth")]
mod keyed {
    use core::fmt;
    use core::net::IpAddr;

    use hmac::{Mac, SimpleHmac};

    use super::super::{BufferTooShort, Family};
    use super::{AuthError, MacAlgorithm, TRAILER_HEADER_LEN, TRAILER_TYPE, Trailer, split};

    /// A shared advert key: algorithm, key ID and secret. Its `Debug` never shows the secret.
    #[derive(Clone, PartialEq, Eq)]
    pub struct AdvertKey {
        algorithm: MacAlgorithm,
        key_id: u8,
        secret: Vec<u8>,
    }

    impl fmt::Debug for AdvertKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AdvertKey")
                .field("algorithm", &self.algorithm)
                .field("key_id", &self.key_id)
                .field("secret", &"<redacted>")
                .finish()
        }
    }

    /// What a verified message carries.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Verified<'a> {
        /// The VRRP message, for [`validate`](super::super::validate).
        pub vrrp: &'a [u8],
        /// The trailer's sequence number, for the [`ReplayGuard`](super::ReplayGuard).
        pub sequence: u64,
    }

    fn addr_bytes(a: &IpAddr, out: &mut [u8; 16]) -> usize {
        match a {
            IpAddr::V4(a) => {
                out[..4].copy_from_slice(&a.octets());
                4
            }
            IpAddr::V6(a) => {
                out.copy_from_slice(&a.octets());
                16
            }
        }
    }

    impl AdvertKey {
        /// A key. Any length is accepted (HMAC hashes a long key down, pads a short one); an
        /// empty one is the caller's to refuse.
        pub fn new(algorithm: MacAlgorithm, key_id: u8, secret: &[u8]) -> AdvertKey {
            AdvertKey {
                algorithm,
                key_id,
                secret: secret.to_vec(),
            }
        }

        /// The algorithm.
        pub fn algorithm(&self) -> MacAlgorithm {
            self.algorithm
        }

        /// The key ID.
        pub fn key_id(&self) -> u8 {
            self.key_id
        }

        /// The trailer's length.
        pub fn trailer_len(&self) -> usize {
            self.algorithm.trailer_len()
        }

        /// Runs the HMAC over the pseudo header, the message and the trailer's fixed part and
        /// hands the result to `f`.
        fn mac<R>(
            &self,
            src: IpAddr,
            dst: IpAddr,
            vrrp: &[u8],
            head: &[u8],
            f: impl FnOnce(&mut dyn MacCheck) -> R,
        ) -> R {
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            let na = addr_bytes(&src, &mut a);
            let nb = addr_bytes(&dst, &mut b);
            macro_rules! run {
                ($d:ty) => {{
                    // SimpleHmac takes any key length: `new_from_slice` cannot fail.
                    let mut m = <SimpleHmac<$d> as Mac>::new_from_slice(&self.secret)
                        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                    m.update(&a[..na]);
                    m.update(&b[..nb]);
                    m.update(vrrp);
                    m.update(head);
                    f(&mut m)
                }};
            }
            match self.algorithm {
                MacAlgorithm::HmacMd5 => run!(md5::Md5),
                MacAlgorithm::HmacSha1 => run!(sha1::Sha1),
                MacAlgorithm::HmacSha256 => run!(sha2::Sha256),
            }
        }

        /// Appends the trailer to the VRRP message in `buf[..vrrp_len]` (already emitted, with
        /// its checksum) for a packet from `src` to `dst`; returns the payload's whole length.
        /// A buffer shorter than `vrrp_len` + [`AdvertKey::trailer_len`] is an error and is
        /// left untouched; never panics.
        pub fn sign(
            &self,
            buf: &mut [u8],
            vrrp_len: usize,
            src: IpAddr,
            dst: IpAddr,
            sequence: u64,
        ) -> Result<usize, BufferTooShort> {
            let total = vrrp_len + self.trailer_len();
            let Some(out) = buf.get_mut(..total) else {
                return Err(BufferTooShort {
                    needed: total,
                    len: buf.len(),
                });
            };
            let (vrrp, trailer) = out.split_at_mut(vrrp_len);
            let (head, mac) = trailer.split_at_mut(TRAILER_HEADER_LEN);
            head[0] = TRAILER_TYPE;
            head[1] = self.algorithm.code();
            head[2] = self.key_id;
            head[3] = 0;
            head[4..12].copy_from_slice(&sequence.to_be_bytes());
            self.mac(src, dst, vrrp, head, |m| m.write_to(mac));
            Ok(total)
        }

        /// Checks a received payload's trailer against this key for a packet from `src` to
        /// `dst`: present, well formed, this algorithm and key ID, MAC valid (constant-time
        /// comparison). Returns the VRRP message and the sequence number; the caller then
        /// validates the message and checks the sequence ([`ReplayGuard`](super::ReplayGuard)).
        /// Never panics.
        pub fn verify<'a>(
            &self,
            payload: &'a [u8],
            family: Family,
            src: IpAddr,
            dst: IpAddr,
        ) -> Result<Verified<'a>, AuthError> {
            let Some((vrrp, rest)) = split(payload, family) else {
                return Err(AuthError::Missing);
            };
            let t = Trailer::parse(rest)?;
            if t.algorithm != self.algorithm.code() {
                return Err(AuthError::Algorithm {
                    got: t.algorithm,
                    expected: self.algorithm,
                });
            }
            if t.key_id != self.key_id {
                return Err(AuthError::KeyId {
                    got: t.key_id,
                    expected: self.key_id,
                });
            }
            let head = rest.get(..TRAILER_HEADER_LEN).unwrap_or_default();
            if self.mac(src, dst, vrrp, head, |m| m.check(t.mac)) {
                Ok(Verified {
                    vrrp,
                    sequence: t.sequence,
                })
            } else {
                Err(AuthError::BadMac)
            }
        }
    }

    /// The two things done with a finished MAC, object-safe over the three digests.
    trait MacCheck {
        fn write_to(&mut self, out: &mut [u8]);
        fn check(&mut self, mac: &[u8]) -> bool;
    }

    impl<M: Mac + Clone> MacCheck for M {
        fn write_to(&mut self, out: &mut [u8]) {
            let tag = self.clone().finalize().into_bytes();
            let n = out.len().min(tag.len());
            out[..n].copy_from_slice(&tag[..n]);
        }

        fn check(&mut self, mac: &[u8]) -> bool {
            // `verify_slice` compares in constant time (the `subtle` crate).
            self.clone().verify_slice(mac).is_ok()
        }
    }
}

#[cfg(all(test, feature = "auth"))]
mod tests {
    use super::*;
    use crate::types::{Centiseconds, Priority, Seconds, VrId};
    use crate::wire::{Addresses, Advert, Auth, ChecksumMode, Packet, RxContext, validate};
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

    fn signed(key: &AdvertKey, v2: bool, seq: u64) -> Vec<u8> {
        let vips = [Ipv4Addr::new(10, 0, 0, 100)];
        let vrid = VrId::new(7).unwrap();
        let a = if v2 {
            Advert::v2(
                vrid,
                Priority(100),
                Seconds(1),
                Addresses::v4(&vips).unwrap(),
                Auth::None,
            )
        } else {
            Advert::v3(
                vrid,
                Priority(100),
                Centiseconds::new(100).unwrap(),
                Addresses::v4(&vips).unwrap(),
            )
        };
        let mut buf = vec![0xa5; 128];
        let n = a.emit(&mut buf, ChecksumMode::Standard, SRC, DST).unwrap();
        let total = key.sign(&mut buf, n, SRC, DST, seq).unwrap();
        buf.truncate(total);
        buf
    }

    fn sha1() -> AdvertKey {
        AdvertKey::new(MacAlgorithm::HmacSha1, 1, b"secret")
    }

    #[test]
    fn round_trip_every_algorithm_and_version() {
        for alg in [
            MacAlgorithm::HmacMd5,
            MacAlgorithm::HmacSha1,
            MacAlgorithm::HmacSha256,
        ] {
            for v2 in [true, false] {
                let key = AdvertKey::new(alg, 3, b"k");
                let p = signed(&key, v2, sequence(1_700_000_000, 5));
                let vrrp_len = if v2 { 20 } else { 12 };
                assert_eq!(p.len(), vrrp_len + alg.trailer_len());
                // The trailer's bytes as documented.
                assert_eq!(&p[vrrp_len..vrrp_len + 4], &[0xA1, alg.code(), 3, 0]);
                assert_eq!(
                    &p[vrrp_len + 4..vrrp_len + 12],
                    &sequence(1_700_000_000, 5).to_be_bytes()
                );
                let v = key.verify(&p, Family::Ipv4, SRC, DST).unwrap();
                assert_eq!(v.vrrp, &p[..vrrp_len]);
                assert_eq!(v.sequence, (1_700_000_000u64 << 32) | 5);
                // The VRRP message is untouched: the codec accepts it, checksum and all.
                let ctx = RxContext {
                    version: if v2 {
                        crate::Version::V2
                    } else {
                        crate::Version::V3
                    },
                    vrid: VrId::new(7).unwrap(),
                    family: Family::Ipv4,
                    auth: Auth::None,
                    v2_interval: Seconds(1),
                    checksum_mode: ChecksumMode::Standard,
                    src: SRC,
                    dst: DST,
                    ttl: 255,
                };
                validate(&Packet::new_unchecked(v.vrrp, Family::Ipv4), &ctx).unwrap();
                // A receiver without a key drops it as today: trailing bytes.
                let e = validate(&Packet::new_unchecked(&p[..], Family::Ipv4), &ctx).unwrap_err();
                assert_eq!(e.reason(), crate::DropReason::LengthMismatch);
            }
        }
    }

    #[test]
    fn the_mac_matches_an_independent_hmac() {
        // The HMAC itself: RFC 2202 test case 2 for HMAC-SHA1. Then the framing: one HMAC
        // over the documented input built by hand (src, dst, message, trailer bytes 0..12).
        use hmac::{Mac, SimpleHmac};
        let mut m = <SimpleHmac<sha1::Sha1> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let tag = m.finalize().into_bytes();
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let key = sha1();
        let p = signed(&key, false, 9);
        let mut input = Vec::new();
        input.extend_from_slice(&[10, 0, 0, 1, 224, 0, 0, 18]);
        input.extend_from_slice(&p[..12 + 12]);
        let mut m = <SimpleHmac<sha1::Sha1> as Mac>::new_from_slice(b"secret").unwrap();
        m.update(&input);
        assert_eq!(&m.finalize().into_bytes()[..], &p[24..]);
    }

    #[test]
    fn tampered_byte_is_refused_anywhere() {
        let key = sha1();
        let p = signed(&key, false, 1);
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 0x01;
            assert!(
                key.verify(&q, Family::Ipv4, SRC, DST).is_err(),
                "byte {i} altered and accepted"
            );
        }
        // Another source or destination address: the pseudo header is covered.
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(
            key.verify(&p, Family::Ipv4, other, DST),
            Err(AuthError::BadMac)
        );
        assert_eq!(
            key.verify(&p, Family::Ipv4, SRC, other),
            Err(AuthError::BadMac)
        );
    }

    #[test]
    fn wrong_key_id_algorithm_or_missing() {
        let p = signed(&sha1(), false, 1);
        let wrong_key = AdvertKey::new(MacAlgorithm::HmacSha1, 1, b"other");
        assert_eq!(
            wrong_key.verify(&p, Family::Ipv4, SRC, DST),
            Err(AuthError::BadMac)
        );
        let wrong_id = AdvertKey::new(MacAlgorithm::HmacSha1, 2, b"secret");
        assert_eq!(
            wrong_id.verify(&p, Family::Ipv4, SRC, DST),
            Err(AuthError::KeyId {
                got: 1,
                expected: 2
            })
        );
        let wrong_alg = AdvertKey::new(MacAlgorithm::HmacMd5, 1, b"secret");
        assert_eq!(
            wrong_alg.verify(&p, Family::Ipv4, SRC, DST),
            Err(AuthError::Algorithm {
                got: 2,
                expected: MacAlgorithm::HmacMd5
            })
        );
        assert_eq!(
            sha1().verify(&p[..12], Family::Ipv4, SRC, DST),
            Err(AuthError::Missing)
        );
        assert!(matches!(
            sha1().verify(&p[..30], Family::Ipv4, SRC, DST),
            Err(AuthError::Malformed(_))
        ));
        assert!(format!("{:?}", sha1()).contains("redacted"));
        assert!(!format!("{:?}", sha1()).contains("secret\""));
    }

    #[test]
    fn replay_and_generation_change() {
        let mut g = ReplayGuard::default();
        let first = sequence(1000, 7);
        assert!(g.is_fresh(SRC, first));
        g.accept(SRC, first);
        assert!(!g.is_fresh(SRC, first), "the same advert again is a replay");
        assert!(!g.is_fresh(SRC, sequence(1000, 6)));
        assert!(g.is_fresh(SRC, sequence(1000, 8)));
        // The sender restarted: a later generation with its counter back at 0 is fresh.
        assert!(g.is_fresh(SRC, sequence(1001, 0)));
        // An older generation is not.
        assert!(!g.is_fresh(SRC, sequence(999, u32::MAX)));
        // Per source address.
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert!(g.is_fresh(other, 1));
        for i in 0..200u8 {
            g.accept(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)), 1);
        }
        assert!(g.last.len() <= ReplayGuard::MAX_SOURCES);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Trailer::parse(&bytes);
            let _ = split(&bytes, Family::Ipv4);
            let _ = split(&bytes, Family::Ipv6);
            let _ = sha1().verify(&bytes, Family::Ipv4, SRC, DST);
            let _ = sha1().verify(&bytes, Family::Ipv6, SRC, DST);
        }

        #[test]
        fn signed_adverts_verify(seq in any::<u64>(), alg in 1u8..=3, id in any::<u8>(),
                                 secret in proptest::collection::vec(any::<u8>(), 1..100)) {
            let key = AdvertKey::new(MacAlgorithm::from_code(alg).unwrap(), id, &secret);
            let p = signed(&key, seq % 2 == 0, seq);
            let v = key.verify(&p, Family::Ipv4, SRC, DST).unwrap();
            prop_assert_eq!(v.sequence, seq);
        }

        #[test]
        fn sign_never_panics(len in 0usize..80, vrrp_len in 0usize..80) {
            let mut buf = vec![0u8; len];
            let r = sha1().sign(&mut buf, vrrp_len, SRC, DST, 1);
            prop_assert_eq!(r.is_ok(), len >= vrrp_len + 32);
        }
    }
}
