//! Receive-side validation of an advertisement against the local virtual router.

use core::net::IpAddr;

use crate::types::{Seconds, Version, VrId};

use super::advert::{check_structure, decode};
use super::{
    Advert, Auth, AuthType, ChecksumMode, Family, HEADER_LEN, Packet, WireError, checksum, field,
};

/// What [`validate`] checks a received message against: the local virtual router's
/// configuration and what the IP layer reported about the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxContext {
    /// The configured protocol version.
    pub version: Version,
    /// The configured VRID.
    pub vrid: VrId,
    /// The virtual router's address family.
    pub family: Family,
    /// VRRPv2: the configured authentication (ignored for VRRPv3).
    pub auth: Auth,
    /// VRRPv2: the configured advertisement interval (ignored for VRRPv3, where a backup
    /// learns the master's interval instead).
    pub v2_interval: Seconds,
    /// How the checksum is computed.
    pub checksum_mode: ChecksumMode,
    /// The IP source address of the packet.
    pub src: IpAddr,
    /// The IP destination address of the packet.
    pub dst: IpAddr,
    /// The IPv4 TTL or IPv6 hop limit of the packet.
    pub ttl: u8,
}

/// Fully validates a received message, in the order of RFC 3768 / RFC 9568 section 7.1, and
/// returns the advertisement it carries.
///
/// The checks, each with its own [`WireError`] variant:
/// 1. at least the 8-byte header ([`WireError::TooShort`]);
/// 2. TTL / hop limit 255 ([`WireError::BadTtl`], section 7.1);
/// 3. families agree: the context's, the packet view's, the IP source's and destination's, and
///    VRRPv2 only over IPv4 ([`WireError::FamilyMismatch`]);
/// 4. IPv6 source link-local when sent to ff02::12 ([`WireError::SourceNotLinkLocal`], RFC 9568
///    section 5.1.2.1; unicast adverts may come from any unicast address);
/// 5. version is the configured one ([`WireError::BadVersion`], section 7.1);
/// 6. type is ADVERTISEMENT ([`WireError::BadType`], RFC 9568 section 5.2.2);
/// 7. at least one address ([`WireError::NoAddresses`], RFC 9568 section 5.2.5) and the length
///    is exactly what the count implies ([`WireError::LengthMismatch`], section 7.1);
/// 8. checksum ([`WireError::BadChecksum`], section 7.1; RFC 9568 section 5.2.8);
/// 9. VRID is ours ([`WireError::VridMismatch`], section 7.1);
/// 10. VRRPv2 authentication (RFC 3768 section 5.3.6): IP AH refused ([`WireError::AuthAh`]),
///     type as configured ([`WireError::AuthTypeMismatch`]), password as configured
///     ([`WireError::AuthMismatch`]);
/// 11. VRRPv2 advertisement interval as configured ([`WireError::IntervalMismatch`], RFC 3768
///     section 7.1).
///
/// Not checked here: whether the local router is the address owner, and whether the address
/// list matches the configured one (a MAY in section 7.1): both are the router's business.
///
/// Never panics and never allocates, whatever the bytes.
pub fn validate<'a, T: AsRef<[u8]>>(
    packet: &'a Packet<T>,
    ctx: &RxContext,
) -> Result<Advert<'a>, WireError> {
    let data: &'a [u8] = packet.as_bytes();
    let family = packet.family();
    let Some(&vrid) = data.get(field::VRID).filter(|_| data.len() >= HEADER_LEN) else {
        return Err(WireError::TooShort {
            vrid: data.get(field::VRID).copied(),
            len: data.len(),
        });
    };

    // Section 7.1: "MUST verify that the IPv4 TTL or IPv6 Hop Limit is 255."
    if ctx.ttl != 255 {
        return Err(WireError::BadTtl { vrid, ttl: ctx.ttl });
    }

    check_families(family, ctx, vrid)?;

    // RFC 9568 section 5.1.2.1: the IPv6 source is the interface's link-local address. Only
    // for the protocol's own multicast group: unicast peers (keepalived's `unicast_peer`, not
    // in the RFC) may use any unicast source, as keepalived's `unicast_src_ip` does.
    if let IpAddr::V6(src) = ctx.src
        && ctx.dst == IpAddr::V6(super::MULTICAST_V6)
        && !src.is_unicast_link_local()
    {
        return Err(WireError::SourceNotLinkLocal { vrid, src });
    }

    // Version, type, count and complete packet.
    check_structure(data, family, Some(ctx.version))?;

    // Section 7.1: "MUST verify the VRRP checksum." (RFC 9568 section 5.2.8 for the
    // pseudo-header.)
    let mut sum = checksum::sum(data);
    if ctx
        .checksum_mode
        .uses_pseudo_header(ctx.version.number(), family)
    {
        sum = checksum::combine(
            sum,
            checksum::pseudo_header_sum(ctx.src, ctx.dst, crate::IP_PROTOCOL, data.len() as u32),
        );
    }
    if sum != 0xffff {
        return Err(bad_checksum(data, family, ctx, vrid));
    }

    // Section 7.1: "MUST verify that the VRID is configured on the receiving interface."
    if vrid != ctx.vrid.get() {
        return Err(WireError::VridMismatch {
            vrid,
            expected: ctx.vrid,
        });
    }

    if ctx.version == Version::V2 {
        let view = Packet::new_unchecked(data, family);
        check_v2_auth(&view, ctx, vrid)?;
        // RFC 3768 section 7.1: "MUST verify that the Adver Interval in the packet is the same
        // as the locally configured for this virtual router."
        let interval = view.adver_int();
        if interval != ctx.v2_interval.get() {
            return Err(WireError::IntervalMismatch {
                vrid,
                got: Seconds(interval),
                expected: ctx.v2_interval,
            });
        }
    }

    Ok(decode(data, family, ctx.vrid))
}

#[cold]
fn bad_checksum(data: &[u8], family: Family, ctx: &RxContext, vrid: u8) -> WireError {
    let view = Packet::new_unchecked(data, family);
    WireError::BadChecksum {
        vrid,
        got: view.checksum(),
        expected: view.compute_checksum(ctx.checksum_mode, ctx.src, ctx.dst),
    }
}

#[inline]
fn check_families(family: Family, ctx: &RxContext, vrid: u8) -> Result<(), WireError> {
    let detail = if family != ctx.family {
        "packet view family differs from the virtual router's"
    } else if Family::of(ctx.src) != ctx.family {
        "IP source address is not of the virtual router's family"
    } else if Family::of(ctx.dst) != ctx.family {
        "IP destination address is not of the virtual router's family"
    } else if ctx.version == Version::V2 && ctx.family == Family::Ipv6 {
        "VRRPv2 runs over IPv4 only (RFC 3768)"
    } else {
        return Ok(());
    };
    Err(WireError::FamilyMismatch { vrid, detail })
}

/// RFC 3768 section 5.3.6: "A packet with unknown authentication type or that does not match
/// the locally configured authentication method MUST be discarded."
fn check_v2_auth(view: &Packet<&[u8]>, ctx: &RxContext, vrid: u8) -> Result<(), WireError> {
    let got = view.auth_type();
    if got == AuthType::IpAh {
        return Err(WireError::AuthAh { vrid });
    }
    let expected = ctx.auth.auth_type();
    if got != expected {
        return Err(WireError::AuthTypeMismatch {
            vrid,
            got,
            expected,
        });
    }
    match ctx.auth {
        // Type 0: the data is ignored on receipt.
        Auth::None => Ok(()),
        Auth::SimpleText(_) | Auth::Other { .. } => {
            if view.auth_data() == Some(&ctx.auth.data()[..]) {
                Ok(())
            } else {
                Err(WireError::AuthMismatch { vrid })
            }
        }
    }
}
