#![doc = include_str!("../README.md")]
//!
//! # The codec
//! [`wire`] reads and writes advertisements without copying or allocating: a [`wire::Packet`]
//! view over the bytes, a plain [`wire::Advert`] with `parse` / `buffer_len` / `emit`, and
//! [`wire::validate`], the full receive-side check in RFC order whose every failure is a
//! [`wire::WireError`] variant (with a [`wire::DropReason`] for counters).
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use ha_vrrp_proto::wire::{self, Addresses, Advert, Auth, ChecksumMode, Family, RxContext};
//! use ha_vrrp_proto::{Centiseconds, Priority, Seconds, Version, VrId};
//!
//! let vrid = VrId::new(51).unwrap();
//! let vips = [Ipv4Addr::new(192, 0, 2, 100)];
//! let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let dst = IpAddr::V4(wire::MULTICAST_V4);
//!
//! // Sending: build, size, emit (the checksum includes the pseudo-header for VRRPv3).
//! let advert = Advert::v3(vrid, Priority(200), Centiseconds::new(100).unwrap(),
//!     Addresses::v4(&vips).unwrap());
//! let mut buf = [0u8; 64];
//! let len = advert.emit(&mut buf, ChecksumMode::Standard, src, dst).unwrap();
//! assert_eq!(len, advert.buffer_len());
//!
//! // Receiving: the IP layer gives the payload, source, destination and TTL.
//! let ctx = RxContext {
//!     version: Version::V3,
//!     vrid,
//!     family: Family::Ipv4,
//!     auth: Auth::None,
//!     v2_interval: Seconds(1),
//!     checksum_mode: ChecksumMode::Standard,
//!     src,
//!     dst,
//!     ttl: wire::TTL,
//! };
//! let packet = wire::Packet::new_unchecked(&buf[..len], Family::Ipv4);
//! let received = wire::validate(&packet, &ctx).unwrap();
//! assert_eq!(received, advert);
//!
//! // A packet that crossed a router is dropped, with a reason to count.
//! let err = wire::validate(&packet, &RxContext { ttl: 64, ..ctx }).unwrap_err();
//! assert_eq!(err.reason().as_str(), "bad_ttl");
//! ```
//!
//! # Authenticated adverts (not in any RFC)
//! Peers that share a key may append an HMAC trailer to each advert ([`wire::auth`]; the
//! signing and checking need the `auth` feature): the IP payload is the unchanged VRRP message
//! (RFC checksum included) followed by `0xA1 | algorithm (1 HMAC-MD5, 2 HMAC-SHA1,
//! 3 HMAC-SHA256) | key id | 0 | u64 sequence (big endian: the sender's start time in unix
//! seconds, then a per-advert counter) | MAC`, the MAC over `IP source || IP destination ||
//! VRRP message || trailer bytes 0..12`. A receiver with the key drops adverts whose trailer
//! is missing or wrong (`auth`) or whose sequence is not above the last one accepted from the
//! source (`replay`); a receiver without a key drops them as messages with trailing bytes
//! (`length_mismatch`). Without a key nothing changes: plain RFC 3768 / RFC 9568, byte for byte.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests take their start instant from the real clock; the non-test build of the same code is checked (clippy.toml)"
    )
)]

mod drop;
pub mod rng;
pub mod router;
pub mod sim;
pub mod types;
pub mod wire;

pub use drop::{DropCounts, DropReason};
pub use types::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

/// The IP protocol number assigned to VRRP (RFC 9568 section 5.1.1.4).
pub const IP_PROTOCOL: u8 = 112;
