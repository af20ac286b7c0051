//! Why a received advertisement was dropped: one type for every stage of the receive path.

use core::fmt;

/// The reason a received VRRP message was dropped without effect: a key for drop counters,
/// without details.
///
/// One type covers the whole receive path, in its order:
/// - the codec ([`crate::wire::validate`], RFC 3768 / RFC 9568 section 7.1): a
///   [`crate::wire::WireError`] maps to its reason with [`crate::wire::WireError::reason`];
///   [`DropReason::VridMismatch`] is also what a runtime counts when no instance runs the
///   packet's VRID on the interface it arrived on;
/// - the router ([`crate::router::Router::handle_advert`]): what only the state machine can
///   tell ([`DropReason::NotRunning`], [`DropReason::InFault`], [`DropReason::OwnAdvert`],
///   [`DropReason::NotFromPeer`], [`DropReason::ZeroInterval`], [`DropReason::LowerPriority`]),
///   plus the codec's version, VRID, family and interval checks repeated for callers that
///   feed the router without the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than the fixed header (`WireError::TooShort`).
    TooShort,
    /// The length is not the one the address count implies (`WireError::LengthMismatch`).
    LengthMismatch,
    /// No virtual address listed (`WireError::NoAddresses`).
    NoAddresses,
    /// The version is not the configured one (`WireError::BadVersion`; the router: the
    /// version field or the interval's unit).
    BadVersion,
    /// Not an ADVERTISEMENT (`WireError::BadType`).
    BadType,
    /// VRID 0 (`WireError::ZeroVrid`).
    ZeroVrid,
    /// The families of the context, the packet, its source and destination disagree
    /// (`WireError::FamilyMismatch`; the router: the source is of the other family).
    FamilyMismatch,
    /// TTL / hop limit not 255 (`WireError::BadTtl`).
    BadTtl,
    /// IPv6 multicast advert from a non-link-local source (`WireError::SourceNotLinkLocal`).
    SourceNotLinkLocal,
    /// Wrong checksum (`WireError::BadChecksum`).
    BadChecksum,
    /// Not this virtual router's VRID (`WireError::VridMismatch`), or no instance runs the
    /// VRID on the receiving interface.
    VridMismatch,
    /// VRRPv2 authentication type not the configured one (`WireError::AuthTypeMismatch`).
    AuthTypeMismatch,
    /// VRRPv2 password not the configured one (`WireError::AuthMismatch`).
    AuthMismatch,
    /// VRRPv2 IP Authentication Header, not supported (`WireError::AuthAh`).
    AuthAh,
    /// VRRPv2: the advertised interval differs from the configured one (RFC 3768 section
    /// 7.1; `WireError::IntervalMismatch`, or the router's own check).
    IntervalMismatch,
    /// An instance with an advert key: the HMAC trailer is missing, malformed, of another
    /// algorithm or key ID, or its MAC does not verify ([`crate::wire::auth`]).
    Auth,
    /// An instance with an advert key: the trailer's sequence number is not greater than the
    /// last one accepted from that source address (a replayed advert, [`crate::wire::auth`]).
    Replay,
    /// The router is in Initialize (startup delay pending, or shut down).
    NotRunning,
    /// The router is in Fault.
    InFault,
    /// The source is the router's own primary address (a looped-back advertisement).
    OwnAdvert,
    /// Unicast mode: the source is not a configured peer.
    NotFromPeer,
    /// VRRPv3: an advertised interval of zero.
    ZeroInterval,
    /// A valid advertisement of lower priority, discarded by the RFC rules: a preempting
    /// backup (RFC 9568 section 6.4.2) or a master with
    /// [`LowerPriorityPolicy::Discard`](crate::router::LowerPriorityPolicy::Discard)
    /// (section 6.4.3).
    LowerPriority,
}

impl DropReason {
    /// Every reason, in declaration order (for metrics registration and counter arrays).
    pub const ALL: [DropReason; 23] = [
        DropReason::TooShort,
        DropReason::LengthMismatch,
        DropReason::NoAddresses,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::ZeroVrid,
        DropReason::FamilyMismatch,
        DropReason::BadTtl,
        DropReason::SourceNotLinkLocal,
        DropReason::BadChecksum,
        DropReason::VridMismatch,
        DropReason::AuthTypeMismatch,
        DropReason::AuthMismatch,
        DropReason::AuthAh,
        DropReason::IntervalMismatch,
        DropReason::Auth,
        DropReason::Replay,
        DropReason::NotRunning,
        DropReason::InFault,
        DropReason::OwnAdvert,
        DropReason::NotFromPeer,
        DropReason::ZeroInterval,
        DropReason::LowerPriority,
    ];

    /// A stable snake_case name, suitable as a metrics label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::LengthMismatch => "length_mismatch",
            DropReason::NoAddresses => "no_addresses",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::ZeroVrid => "zero_vrid",
            DropReason::FamilyMismatch => "family_mismatch",
            DropReason::BadTtl => "bad_ttl",
            DropReason::SourceNotLinkLocal => "source_not_link_local",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::VridMismatch => "vrid_mismatch",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthMismatch => "auth_mismatch",
            DropReason::AuthAh => "auth_ah",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::Auth => "auth",
            DropReason::Replay => "replay",
            DropReason::NotRunning => "not_running",
            DropReason::InFault => "in_fault",
            DropReason::OwnAdvert => "own_advert",
            DropReason::NotFromPeer => "not_from_peer",
            DropReason::ZeroInterval => "zero_interval",
            DropReason::LowerPriority => "lower_priority",
        }
    }

    /// The position of this reason in [`DropReason::ALL`]: an index for a counter array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the codec ([`crate::wire::validate`], or [`crate::wire::auth`]'s trailer) can
    /// give this reason; the others are the router's own.
    pub const fn is_wire(self) -> bool {
        (self as usize) <= (DropReason::Replay as usize)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per [`DropReason`], indexed by [`DropReason::index`]; never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::ALL.len()]);

impl DropCounts {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    /// The drops for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &DropCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Every reason with its count, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.0[r.index()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_once_in_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
        assert!(DropReason::IntervalMismatch.is_wire());
        assert!(DropReason::Replay.is_wire());
        assert!(!DropReason::NotRunning.is_wire());
    }

    #[test]
    fn counts_add_up() {
        let mut a = DropCounts::default();
        a.count(DropReason::BadTtl);
        a.count(DropReason::LowerPriority);
        let mut b = a;
        b.add(&a);
        assert_eq!(b.get(DropReason::BadTtl), 2);
        assert_eq!(b.total(), 4);
        assert_eq!(b.iter().filter(|(_, n)| *n > 0).count(), 2);
    }
}
