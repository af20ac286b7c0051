//! Receive-side validation of an advertisement against the local virtual router.

use core::net::IpAddr;

use crate::types::{AdvertInterval, Priority, Seconds, Version, VrId};

use super::advert::{check_structure, decode, max_adver_int};
use super::{
    AUTH_DATA_LEN, Addresses, Advert, Auth, AuthType, ChecksumMode, Family, HEADER_LEN, Packet,
    TYPE_ADVERTISEMENT, WireError, checksum, field,
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
#[inline]
pub fn validate<'a, T: AsRef<[u8]>>(
    packet: &'a Packet<T>,
    ctx: &RxContext,
) -> Result<Advert<'a>, WireError> {
    validate_bytes(packet.as_bytes(), packet.family(), ctx)
}

/// [`validate`] on the message bytes and the view's family: [`accept`], and for a message it
/// does not accept, [`validate_in_order`] to tell which check failed.
#[inline(always)]
fn validate_bytes<'a>(data: &'a [u8], family: Family, ctx: &RxContext) -> Rx<'a> {
    accept(data, family, ctx, || validate_in_order(data, family, ctx))
}

/// What `validate` returns.
type Rx<'a> = Result<Advert<'a>, WireError>;

/// The fast path: every check of [`validate`], combined into few branches and without building
/// any error; when any fails it returns `refused()` ([`validate_in_order`], cold, which runs them
/// one by one to tell which, in RFC order). It accepts exactly what [`validate_in_order`]
/// accepts, with the same result (property-tested below).
///
/// The header is read once, as one little-endian word: its fields are shifted out of it and the
/// checksum sums it as it is (see [`checksum::add64`]).
#[inline(always)]
fn accept<'a>(
    data: &'a [u8],
    family: Family,
    ctx: &RxContext,
    refused: impl Fn() -> Rx<'a>,
) -> Rx<'a> {
    // 1. The fixed header.
    let Some((&head, rest)) = data.split_first_chunk::<HEADER_LEN>() else {
        return refused();
    };
    let word = u64::from_le_bytes(head);
    let byte = |i: usize| (word >> (8 * i)) as u8;

    let v6 = ctx.family == Family::Ipv6;
    let v2 = ctx.version == Version::V2;
    // RFC 9568 section 5.1.2.1: the IPv6 source is the interface's link-local address, for the
    // protocol's own multicast group (unicast peers may use any unicast source).
    let source_ok = match ctx.src {
        IpAddr::V6(src) => {
            src.is_unicast_link_local() || ctx.dst != IpAddr::V6(super::MULTICAST_V6)
        }
        IpAddr::V4(_) => true,
    };
    // The length the count implies, counted in 32-bit words (so the compiler knows it a
    // multiple of 4): header, addresses, VRRPv2 authentication data.
    let count = byte(field::COUNT);
    let addr_words = usize::from(count) * (family.addr_len() / 4);
    let expected_len = ((HEADER_LEN + if v2 { AUTH_DATA_LEN } else { 0 }) / 4 + addr_words) * 4;
    // 2. Section 7.1: TTL / hop limit 255.
    // 3. Families agree, VRRPv2 only over IPv4 (RFC 3768).
    // 4. The IPv6 source (above).
    // 5-6. Version (section 7.1) and type (RFC 9568 section 5.2.2), one byte.
    // 7. At least one address (RFC 9568 section 5.2.5) and the complete packet, nothing more
    //    (section 7.1).
    if !(ctx.ttl == super::TTL
        && family == ctx.family
        && ctx.src.is_ipv6() == v6
        && ctx.dst.is_ipv6() == v6
        && !(v6 && v2)
        && source_ok
        && byte(field::VER_TYPE) == (ctx.version.number() << 4) | TYPE_ADVERTISEMENT
        && count != 0
        && data.len() == expected_len)
    {
        return refused();
    }

    // 8. Section 7.1: "MUST verify the VRRP checksum." (RFC 9568 section 5.2.8 for the
    // pseudo-header.) Little-endian 64-bit words, the header's the one loaded above, folded once.
    let mut acc = checksum::add64(word, checksum::sum_le(rest));
    if ctx
        .checksum_mode
        .uses_pseudo_header(ctx.version.number(), family)
    {
        let pseudo =
            checksum::pseudo_header_le(ctx.src, ctx.dst, crate::IP_PROTOCOL, expected_len as u32);
        acc = checksum::add64(acc, pseudo);
    }
    // 9. Section 7.1: the VRID is configured on the receiving interface.
    if (checksum::fold64(acc) != 0xffff) | (byte(field::VRID) != ctx.vrid.get()) {
        return refused();
    }

    let addresses = Addresses::raw(family, rest.get(..addr_words * 4).unwrap_or_default());
    let priority = Priority(byte(field::PRIORITY));
    if !v2 {
        return Ok(Advert {
            vrid: ctx.vrid,
            priority,
            interval: AdvertInterval::V3(max_adver_int(byte(4), byte(5))),
            addresses,
            auth: Auth::None,
        });
    }
    // 10. RFC 3768 section 5.3.6: no IP AH, the configured type, the configured data (type 0:
    // ignored on receipt). Comparing type bytes is comparing `AuthType`s: `Auth::auth_type`
    // never yields `Unknown(0..=2)`.
    // 11. RFC 3768 section 7.1: the configured advertisement interval.
    // The authentication data is the message's last 8 bytes (its length is exact).
    let auth_data = data
        .last_chunk::<AUTH_DATA_LEN>()
        .copied()
        .unwrap_or_default();
    let auth_type = byte(field::AUTH_TYPE);
    let (expected_type, data_ok) = match ctx.auth {
        Auth::None => (0, true),
        Auth::SimpleText(p) => (1, auth_data == *p.as_raw()),
        Auth::Other { auth_type, data } => (auth_type, auth_data == data),
    };
    let interval = byte(field::ADVER_INT);
    if !((auth_type != u8::from(AuthType::IpAh))
        & (auth_type == expected_type)
        & data_ok
        & (interval == ctx.v2_interval.get()))
    {
        return refused();
    }
    Ok(Advert {
        vrid: ctx.vrid,
        priority,
        interval: AdvertInterval::V2(Seconds(interval)),
        addresses,
        // What the message carries: the configured authentication (type and, but for type 0,
        // data equal), in the form `Auth::from_wire` gives it.
        auth: match ctx.auth {
            Auth::Other {
                auth_type: 0 | 1, ..
            } => Auth::from_wire(auth_type, auth_data),
            configured => configured,
        },
    })
}

/// The checks of [`validate`] one after the other, in RFC order, each failure its own error:
/// the reference [`accept`] is tested against, and what tells which check a message [`accept`]
/// refused failed. Cold: only refused messages get here.
#[cold]
#[inline(never)]
fn validate_in_order<'a>(data: &'a [u8], family: Family, ctx: &RxContext) -> Rx<'a> {
    let Some(&vrid) = data.get(field::VRID).filter(|_| data.len() >= HEADER_LEN) else {
        return Err(WireError::TooShort {
            vrid: data.get(field::VRID).copied(),
            len: data.len(),
        });
    };

    // Section 7.1: "MUST verify that the IPv4 TTL or IPv6 Hop Limit is 255."
    if ctx.ttl != super::TTL {
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
        let view = Packet::new_unchecked(data, family);
        return Err(WireError::BadChecksum {
            vrid,
            got: view.checksum(),
            expected: view.compute_checksum(ctx.checksum_mode, ctx.src, ctx.dst),
        });
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

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::types::{Centiseconds, Priority};
    use crate::wire::{Addresses, Password};

    /// What the fast path returns in the tests when it refuses a message.
    const REFUSED: WireError = WireError::ZeroVrid;

    fn ctx_strategy() -> impl Strategy<Value = RxContext> {
        let addr4 = prop_oneof![
            Just(Ipv4Addr::new(192, 0, 2, 1)),
            Just(crate::wire::MULTICAST_V4),
            any::<[u8; 4]>().prop_map(Ipv4Addr::from),
        ];
        let addr6 = prop_oneof![
            Just(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            Just(crate::wire::MULTICAST_V6),
            Just(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            any::<[u8; 16]>().prop_map(Ipv6Addr::from),
        ];
        let auth = prop_oneof![
            Just(Auth::None),
            Just(Auth::SimpleText(Password::from_raw(*b"secret\0\0"))),
            (any::<u8>(), any::<[u8; 8]>())
                .prop_map(|(t, data)| Auth::Other { auth_type: t, data }),
        ];
        (
            prop::bool::weighted(0.4),
            1u8..=3,
            any::<bool>(),
            auth,
            1u8..=2,
            any::<bool>(),
            (addr4.clone(), addr6.clone(), prop::bool::weighted(0.05)),
            (addr4, addr6, prop::bool::weighted(0.05)),
            prop_oneof![9 => Just(255u8), 1 => any::<u8>()],
        )
            .prop_map(|(v2, vrid, v6, auth, interval, mode, src, dst, ttl)| {
                let pick = |(a4, a6, other): (Ipv4Addr, Ipv6Addr, bool)| {
                    if v6 != other {
                        IpAddr::V6(a6)
                    } else {
                        IpAddr::V4(a4)
                    }
                };
                RxContext {
                    version: if v2 { Version::V2 } else { Version::V3 },
                    vrid: VrId::new(vrid).unwrap(),
                    family: if v6 { Family::Ipv6 } else { Family::Ipv4 },
                    auth,
                    v2_interval: Seconds(interval),
                    checksum_mode: if mode {
                        ChecksumMode::Standard
                    } else {
                        ChecksumMode::V3AsV2
                    },
                    src: pick(src),
                    dst: pick(dst),
                    ttl,
                }
            })
    }

    /// A valid message for `ctx` (when its families allow one), then maybe a byte changed and
    /// maybe its length.
    fn message(ctx: &RxContext, count: u8, edit: Option<(usize, u8)>, resize: u8) -> Vec<u8> {
        let v4 = [Ipv4Addr::new(192, 0, 2, 100); 20];
        let v6 = [Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100); 20];
        let n = usize::from(count).min(20);
        let addresses = match ctx.family {
            Family::Ipv4 => Addresses::v4(&v4[..n]).unwrap(),
            Family::Ipv6 => Addresses::v6(&v6[..n]).unwrap(),
        };
        let a = match ctx.version {
            Version::V2 => Advert::v2(
                ctx.vrid,
                Priority(100),
                ctx.v2_interval,
                addresses,
                ctx.auth,
            ),
            Version::V3 => Advert::v3(
                ctx.vrid,
                Priority(100),
                Centiseconds::new(100).unwrap(),
                addresses,
            ),
        };
        let mut out = vec![0u8; a.buffer_len()];
        let len = a
            .emit(&mut out, ctx.checksum_mode, ctx.src, ctx.dst)
            .unwrap();
        if let Some((at, value)) = edit {
            out[at % len] = value;
        }
        match resize {
            0 => out.push(0),
            1 => out.extend_from_slice(&[0; 4]),
            2 => {
                out.pop();
            }
            3..=14 => out.truncate(usize::from(resize) - 3),
            _ => {}
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn fast_path_agrees_with_the_reference(
            ctx in ctx_strategy(),
            view_v6 in prop::bool::weighted(0.1),
            count in prop_oneof![1 => Just(0u8), 9 => 1u8..=4],
            edit in prop::option::weighted(0.3, (any::<usize>(), any::<u8>())),
            resize in prop_oneof![1 => 0u8..=14, 3 => Just(255u8)],
            alter in 0u8..=5,
            other_auth in prop_oneof![
                Just(Auth::None),
                Just(Auth::SimpleText(Password::from_raw(*b"secret\0\0"))),
                Just(Auth::SimpleText(Password::from_raw(*b"other\0\0\0"))),
                (0u8..=4, any::<[u8; 8]>())
                    .prop_map(|(t, data)| Auth::Other { auth_type: t, data }),
            ],
        ) {
            // The sender may differ from the receiver in VRID, authentication or interval.
            let mut sender = ctx;
            match alter {
                0 => sender.vrid = VrId::new(sender.vrid.get() % 3 + 1).unwrap(),
                1 => sender.auth = other_auth,
                2 => sender.v2_interval = Seconds(sender.v2_interval.get() + 1),
                _ => {}
            }
            let bytes = message(&sender, count, edit, resize);
            let family = if view_v6 { Family::Ipv6 } else { ctx.family };
            let reference = validate_in_order(&bytes, family, &ctx);
            let fast = accept(&bytes, family, &ctx, || Err(REFUSED));
            prop_assert_eq!(fast.ok(), reference.ok());
            let p = Packet::new_unchecked(&bytes[..], family);
            prop_assert_eq!(validate(&p, &ctx), reference);
        }

        #[test]
        fn fast_path_agrees_on_arbitrary_bytes(
            ctx in ctx_strategy(),
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let reference = validate_in_order(&bytes, ctx.family, &ctx);
            let fast = accept(&bytes, ctx.family, &ctx, || Err(REFUSED));
            prop_assert_eq!(fast.ok(), reference.ok());
            let p = Packet::new_unchecked(&bytes[..], ctx.family);
            prop_assert_eq!(validate(&p, &ctx), reference);
        }
    }
}
