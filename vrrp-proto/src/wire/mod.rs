//! The VRRP message codec: VRRPv2 (RFC 3768, IPv4) and VRRPv3 (RFC 9568, IPv4 and IPv6).
//!
//! Three layers, in the smoltcp style:
//! - [`Packet`]: a zero-copy view over the bytes of a message (the IP payload), with field
//!   offsets in [`field`], accessors, and setters when the buffer is writable. Unknown values are
//!   values (e.g. [`AuthType::Unknown`]), not failures.
//! - [`Advert`]: the plain representation, with [`Advert::parse`], [`Advert::buffer_len`] and
//!   [`Advert::emit`]. It borrows its addresses ([`Addresses`]): nothing is copied or allocated.
//! - [`validate`]: the full receive-side validation against an [`RxContext`] (configuration plus
//!   what the IP layer said: source, destination, TTL), in RFC order, each failure its own
//!   [`WireError`] variant carrying the VRID; [`WireError::reason`] gives a [`DropReason`] for
//!   per-reason drop counters.
//!
//! [`checksum`] holds the internet checksum helpers, public for reuse.
//!
//! [`auth`] holds the HMAC trailer of authenticated adverts (not in any RFC; heartbeat's
//! `authkeys`): `VRRP message || 0xA1, algorithm, key id, 0, u64 sequence, MAC`, the MAC over
//! `IP source || IP destination || VRRP message || trailer bytes 0..12`. See its docs for the
//! layout; without a key nothing changes on the wire.
//!
//! # Panic and allocation rules
//! - Accessors of [`Packet`] never panic after [`Packet::check_len`] succeeded (or on a packet
//!   from [`Packet::new_checked`]); on a [`Packet::new_unchecked`] view of a short buffer they
//!   may.
//! - [`Advert::emit`] never panics on a buffer of at least [`Advert::buffer_len`] bytes; on a
//!   shorter one it returns [`BufferTooShort`] (it never panics at all).
//! - [`Advert::parse`] and [`validate`] never panic, whatever the bytes (checked by proptest and a
//!   cargo-fuzz target).
//! - Nothing in this module allocates (checked by a counting allocator test).
//!
//! # Address count limits
//! The count field has 8 bits, so a message carries at most 255 addresses. That many IPv4
//! addresses fit a 1500-byte MTU (20 + 8 + 1020 + 8 bytes for VRRPv2). IPv6 ones do not: an
//! advertisement built here carries at most [`MAX_ADDRESSES_V6`] = 90 IPv6 addresses, so that
//! 40 (IPv6 header) + 8 + 16 × 90 = 1488 bytes fit in 1500. Received messages with up to 255
//! addresses of either family are accepted (links with a larger MTU exist).
//!
//! # Checksums
//! VRRPv2 checksums the VRRP message alone (RFC 3768 section 5.3.8). VRRPv3 adds the IPv4 or
//! IPv6 pseudo-header (RFC 9568 section 5.2.8). Some deployments of VRRPv3 over IPv4 compute it
//! without the pseudo-header (keepalived's `v3_checksum_as_v2`): [`ChecksumMode::V3AsV2`].

use core::fmt;
use core::net::IpAddr;

mod advert;
pub mod auth;
pub mod checksum;
mod error;
mod packet;
mod validate;

/// The one drop-reason type of the crate (the codec's and the router's reasons).
pub use crate::DropReason;
pub use advert::{AddressIter, Addresses, Advert, Auth, Password};
pub use error::{BufferTooShort, TooManyAddresses, WireError};
pub use packet::{AUTH_DATA_LEN, AuthType, HEADER_LEN, Packet, TYPE_ADVERTISEMENT, field};
pub use validate::{RxContext, validate};

/// The most IPv4 addresses in one advertisement: the 8-bit count's maximum (they fit 1500 bytes).
pub const MAX_ADDRESSES_V4: usize = 255;

/// The most IPv6 addresses in an advertisement built by this crate: (1500 − 40 − 8) / 16.
pub const MAX_ADDRESSES_V6: usize = 90;

/// The IPv4 multicast destination of advertisements, 224.0.0.18 (RFC 9568 section 5.1.1.2).
pub const MULTICAST_V4: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 18);

/// The IPv6 multicast destination of advertisements, ff02::12 (RFC 9568 section 5.1.2.2).
pub const MULTICAST_V6: core::net::Ipv6Addr =
    core::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// The TTL / hop limit advertisements are sent with and must arrive with (RFC 9568 5.1.1.3).
pub const TTL: u8 = 255;

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4: 4-byte addresses.
    Ipv4,
    /// IPv6: 16-byte addresses.
    Ipv6,
}

impl Family {
    /// The length of an address of this family.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// The family of an address.
    pub const fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// How the VRRP checksum is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ChecksumMode {
    /// As the RFCs say: VRRPv2 over the message alone (RFC 3768 section 5.3.8), VRRPv3 with the
    /// IPv4/IPv6 pseudo-header (RFC 9568 section 5.2.8).
    #[default]
    Standard,
    /// VRRPv3 over IPv4 without the pseudo-header, for interoperation with peers that do so
    /// (keepalived's `v3_checksum_as_v2`). VRRPv2 and VRRPv3 over IPv6 are unaffected.
    V3AsV2,
}

impl ChecksumMode {
    /// Whether a message of this version nibble and family includes the pseudo-header.
    pub const fn uses_pseudo_header(self, version: u8, family: Family) -> bool {
        if version == 2 {
            return false;
        }
        !matches!((self, family), (ChecksumMode::V3AsV2, Family::Ipv4))
    }
}
