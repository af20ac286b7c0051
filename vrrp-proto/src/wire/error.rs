//! Errors of the codec.

use core::fmt;
use core::net::Ipv6Addr;

use crate::DropReason;
use crate::types::{Seconds, Version, VrId};

use super::{AuthType, Family};

/// Why a received VRRP message was not accepted, or why one could not be built.
///
/// Every receive-side failure has its own variant and carries the VRID read from the message
/// where the message was long enough to hold one. [`WireError::reason`] maps a variant to a
/// fieldless [`DropReason`] for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message is shorter than the 8-byte fixed header.
    #[error("VRRP message of {len} bytes is shorter than the 8-byte header (VRID {})", opt_vrid(.vrid))]
    TooShort {
        /// The VRID byte, when the message has at least two bytes.
        vrid: Option<u8>,
        /// The message length.
        len: usize,
    },
    /// The message length is not the one its address count (and, for VRRPv2, the 8 bytes of
    /// authentication data) implies (RFC 3768 / RFC 9568 section 7.1, "complete packet").
    #[error(
        "VRID {vrid}: VRRP message has {len} bytes but its address count {count} implies {expected}"
    )]
    LengthMismatch {
        /// The VRID in the message.
        vrid: u8,
        /// The "Count IP Addrs" field.
        count: u8,
        /// The message length.
        len: usize,
        /// The length the count implies.
        expected: usize,
    },
    /// The address count is zero (RFC 9568 section 5.2.5: the minimum is 1).
    #[error("VRID {vrid}: VRRP advertisement carries no address (count 0)")]
    NoAddresses {
        /// The VRID in the message.
        vrid: u8,
    },
    /// The version is not 2 or 3, or not the configured one.
    #[error("VRID {vrid}: VRRP version {version} not accepted (expected {})", expected_version(.expected))]
    BadVersion {
        /// The VRID in the message.
        vrid: u8,
        /// The 4-bit version field.
        version: u8,
        /// The configured version; `None` when parsing without a context (2 or 3 accepted).
        expected: Option<Version>,
    },
    /// The type is not 1, ADVERTISEMENT (RFC 9568 section 5.2.2: unknown types are discarded).
    #[error("VRID {vrid}: VRRP message type {kind} is not 1 (ADVERTISEMENT)")]
    BadType {
        /// The VRID in the message.
        vrid: u8,
        /// The 4-bit type field.
        kind: u8,
    },
    /// The VRID is 0, which no virtual router can have (RFC 9568 section 5.2.3).
    #[error("VRRP advertisement with VRID 0")]
    ZeroVrid,
    /// The address families disagree: VRRPv2 over IPv6, or the packet's source or destination
    /// is not of the virtual router's family.
    #[error("VRID {vrid}: address family mismatch: {detail}")]
    FamilyMismatch {
        /// The VRID in the message.
        vrid: u8,
        /// What disagreed.
        detail: &'static str,
    },
    /// The IPv4 TTL or IPv6 hop limit is not 255: the message was forwarded by a router
    /// (RFC 3768 / RFC 9568 section 7.1).
    #[error("VRID {vrid}: IP TTL / hop limit is {ttl}, must be 255")]
    BadTtl {
        /// The VRID in the message.
        vrid: u8,
        /// The received TTL or hop limit.
        ttl: u8,
    },
    /// The IPv6 source address is not link-local (RFC 9568 section 5.1.2.1).
    #[error("VRID {vrid}: IPv6 source {src} is not link-local (fe80::/10)")]
    SourceNotLinkLocal {
        /// The VRID in the message.
        vrid: u8,
        /// The received source address.
        src: Ipv6Addr,
    },
    /// The checksum does not verify.
    #[error("VRID {vrid}: VRRP checksum {got:#06x} is wrong, expected {expected:#06x}")]
    BadChecksum {
        /// The VRID in the message.
        vrid: u8,
        /// The checksum field.
        got: u16,
        /// The checksum the message should carry under the configured checksum mode.
        expected: u16,
    },
    /// The VRID is not the one of this virtual router (RFC 3768 / RFC 9568 section 7.1).
    #[error("VRID {vrid} is not this virtual router's VRID {expected}")]
    VridMismatch {
        /// The VRID in the message.
        vrid: u8,
        /// The configured VRID.
        expected: VrId,
    },
    /// The VRRPv2 authentication type differs from the configured one, or is unknown
    /// (RFC 3768 section 5.3.6).
    #[error("VRID {vrid}: auth type {got} does not match the configured {expected}")]
    AuthTypeMismatch {
        /// The VRID in the message.
        vrid: u8,
        /// The auth type in the message.
        got: AuthType,
        /// The configured auth type.
        expected: AuthType,
    },
    /// The VRRPv2 simple text password (or the opaque authentication data of another type)
    /// differs from the configured one.
    #[error("VRID {vrid}: authentication data does not match the configured password")]
    AuthMismatch {
        /// The VRID in the message.
        vrid: u8,
    },
    /// The message uses the IP Authentication Header auth type (2, RFC 2338), which this crate
    /// recognises and refuses.
    #[error("VRID {vrid}: IP Authentication Header auth (type 2) is not supported")]
    AuthAh {
        /// The VRID in the message.
        vrid: u8,
    },
    /// The VRRPv2 advertisement interval differs from the configured one (RFC 3768 section 7.1).
    #[error("VRID {vrid}: advertisement interval {}s differs from the configured {}s", .got.0, .expected.0)]
    IntervalMismatch {
        /// The VRID in the message.
        vrid: u8,
        /// The interval in the message.
        got: Seconds,
        /// The configured interval.
        expected: Seconds,
    },
}

fn opt_vrid(vrid: &Option<u8>) -> OptDisplay<u8> {
    OptDisplay(*vrid)
}

fn expected_version(expected: &Option<Version>) -> &'static str {
    match expected {
        None => "2 or 3",
        Some(Version::V2) => "2",
        Some(Version::V3) => "3",
    }
}

struct OptDisplay<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OptDisplay<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl WireError {
    /// The drop reason to count this failure under.
    pub const fn reason(&self) -> DropReason {
        match self {
            WireError::TooShort { .. } => DropReason::TooShort,
            WireError::LengthMismatch { .. } => DropReason::LengthMismatch,
            WireError::NoAddresses { .. } => DropReason::NoAddresses,
            WireError::BadVersion { .. } => DropReason::BadVersion,
            WireError::BadType { .. } => DropReason::BadType,
            WireError::ZeroVrid => DropReason::ZeroVrid,
            WireError::FamilyMismatch { .. } => DropReason::FamilyMismatch,
            WireError::BadTtl { .. } => DropReason::BadTtl,
            WireError::SourceNotLinkLocal { .. } => DropReason::SourceNotLinkLocal,
            WireError::BadChecksum { .. } => DropReason::BadChecksum,
            WireError::VridMismatch { .. } => DropReason::VridMismatch,
            WireError::AuthTypeMismatch { .. } => DropReason::AuthTypeMismatch,
            WireError::AuthMismatch { .. } => DropReason::AuthMismatch,
            WireError::AuthAh { .. } => DropReason::AuthAh,
            WireError::IntervalMismatch { .. } => DropReason::IntervalMismatch,
        }
    }

    /// The VRID the failed message carried, when it was long enough to hold one.
    pub const fn vrid(&self) -> Option<u8> {
        match *self {
            WireError::TooShort { vrid, .. } => vrid,
            WireError::ZeroVrid => Some(0),
            WireError::LengthMismatch { vrid, .. }
            | WireError::NoAddresses { vrid }
            | WireError::BadVersion { vrid, .. }
            | WireError::BadType { vrid, .. }
            | WireError::FamilyMismatch { vrid, .. }
            | WireError::BadTtl { vrid, .. }
            | WireError::SourceNotLinkLocal { vrid, .. }
            | WireError::BadChecksum { vrid, .. }
            | WireError::VridMismatch { vrid, .. }
            | WireError::AuthTypeMismatch { vrid, .. }
            | WireError::AuthMismatch { vrid }
            | WireError::AuthAh { vrid }
            | WireError::IntervalMismatch { vrid, .. } => Some(vrid),
        }
    }
}

/// An [`Addresses`](super::Addresses) list built for sending has more addresses than fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{count} {family} addresses do not fit in one VRRP advertisement (at most {max})")]
pub struct TooManyAddresses {
    /// The family of the addresses.
    pub family: Family,
    /// How many were given.
    pub count: usize,
    /// The limit for that family (see [`super::MAX_ADDRESSES_V4`], [`super::MAX_ADDRESSES_V6`]).
    pub max: usize,
}

/// The buffer given to [`Advert::emit`](super::Advert::emit) is shorter than
/// [`Advert::buffer_len`](super::Advert::buffer_len).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer of {len} bytes is too short for a {needed}-byte VRRP advertisement")]
pub struct BufferTooShort {
    /// The bytes needed.
    pub needed: usize,
    /// The buffer's length.
    pub len: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_vrid() {
        let e = WireError::BadTtl { vrid: 7, ttl: 64 };
        assert_eq!(
            e.to_string(),
            "VRID 7: IP TTL / hop limit is 64, must be 255"
        );
        assert_eq!(e.vrid(), Some(7));
        let e = WireError::TooShort { vrid: None, len: 1 };
        assert!(e.to_string().contains("VRID unknown"), "{e}");
        let e = WireError::BadVersion {
            vrid: 1,
            version: 4,
            expected: None,
        };
        assert!(e.to_string().contains("expected 2 or 3"), "{e}");
    }
}
