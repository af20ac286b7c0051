//! Property tests: emit → parse/validate round trips for arbitrary valid adverts, and arbitrary
//! bytes never make the view, `parse` or `validate` panic.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_vrrp_proto::wire::{
    self, Addresses, Advert, Auth, ChecksumMode, Family, MAX_ADDRESSES_V6, Packet, Password,
    RxContext, WireError, validate,
};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Addrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

#[derive(Debug, Clone)]
struct Case {
    version: Version,
    vrid: u8,
    priority: u8,
    interval: u16,
    addrs: Addrs,
    auth: Auth,
    mode: ChecksumMode,
    src: IpAddr,
    dst: IpAddr,
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        Just(Auth::None),
        prop::collection::vec(any::<u8>(), 0..=8)
            .prop_map(|p| Auth::SimpleText(Password::new(&p).unwrap())),
        (3u8..=255, any::<[u8; 8]>()).prop_map(|(t, data)| Auth::Other { auth_type: t, data }),
    ]
}

fn mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![Just(ChecksumMode::Standard), Just(ChecksumMode::V3AsV2)]
}

fn link_local() -> impl Strategy<Value = Ipv6Addr> {
    (any::<u16>(), any::<u64>()).prop_map(|(hi, lo)| {
        let hi = 0xfe80 | (hi & 0x003f);
        Ipv6Addr::from((u128::from(hi) << 112) | u128::from(lo))
    })
}

fn case() -> impl Strategy<Value = Case> {
    let v2 = (
        1u8..=255,
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 1..=255),
        auth(),
        mode(),
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(vrid, priority, interval, a, auth, mode, s, d)| Case {
            version: Version::V2,
            vrid,
            priority,
            interval: u16::from(interval),
            addrs: Addrs::V4(a),
            auth,
            mode,
            src: IpAddr::from(s),
            dst: IpAddr::from(d),
        });
    let v3_4 = (
        1u8..=255,
        any::<u8>(),
        0u16..=4095,
        prop::collection::vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 1..=255),
        mode(),
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(vrid, priority, interval, a, mode, s, d)| Case {
            version: Version::V3,
            vrid,
            priority,
            interval,
            addrs: Addrs::V4(a),
            auth: Auth::None,
            mode,
            src: IpAddr::from(s),
            dst: IpAddr::from(d),
        });
    let v3_6 = (
        1u8..=255,
        any::<u8>(),
        0u16..=4095,
        prop::collection::vec(any::<u128>().prop_map(Ipv6Addr::from), 1..=MAX_ADDRESSES_V6),
        mode(),
        link_local(),
        any::<u128>(),
    )
        .prop_map(|(vrid, priority, interval, a, mode, s, d)| Case {
            version: Version::V3,
            vrid,
            priority,
            interval,
            addrs: Addrs::V6(a),
            auth: Auth::None,
            mode,
            src: IpAddr::V6(s),
            dst: IpAddr::V6(Ipv6Addr::from(d)),
        });
    prop_oneof![v2, v3_4, v3_6]
}

fn advert(c: &Case) -> Advert<'_> {
    let addresses = match &c.addrs {
        Addrs::V4(a) => Addresses::v4(a).unwrap(),
        Addrs::V6(a) => Addresses::v6(a).unwrap(),
    };
    let vrid = VrId::new(c.vrid).unwrap();
    match c.version {
        Version::V2 => Advert::v2(
            vrid,
            Priority(c.priority),
            Seconds(c.interval as u8),
            addresses,
            c.auth,
        ),
        Version::V3 => Advert::v3(
            vrid,
            Priority(c.priority),
            Centiseconds::new(c.interval).unwrap(),
            addresses,
        ),
    }
}

fn ctx(c: &Case, a: &Advert<'_>) -> RxContext {
    RxContext {
        version: c.version,
        vrid: a.vrid,
        family: a.family(),
        auth: c.auth,
        v2_interval: match a.interval {
            AdvertInterval::V2(s) => s,
            AdvertInterval::V3(_) => Seconds(1),
        },
        checksum_mode: c.mode,
        src: c.src,
        dst: c.dst,
        ttl: 255,
    }
}

/// Reads every accessor; none may panic after `check_len`.
fn touch<T: AsRef<[u8]>>(p: &Packet<T>) -> usize {
    let mut n = usize::from(p.version())
        + usize::from(p.msg_type())
        + usize::from(p.vrid())
        + usize::from(p.priority().get())
        + usize::from(p.addr_count())
        + usize::from(u8::from(p.auth_type()))
        + usize::from(p.adver_int())
        + usize::from(p.reserved())
        + usize::from(p.max_adver_int())
        + usize::from(p.checksum())
        + p.address_bytes().len()
        + p.auth_data().map_or(0, <[u8]>::len)
        + p.total_len();
    for i in 0..=usize::from(p.addr_count()) {
        n += usize::from(p.address(i).is_some());
    }
    let src = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    n + usize::from(p.compute_checksum(ChecksumMode::Standard, src, src))
        + usize::from(p.verify_checksum(ChecksumMode::V3AsV2, src, src))
}

/// Equal, except what a receiver ignores: the checksum field, the 4 VRRPv3 reserved bits (RFC
/// 9568 section 5.2.6) and the VRRPv2 authentication data of auth type 0 (zero on send, ignored
/// on receipt).
fn same_but_reserved_and_checksum(emitted: &[u8], received: &[u8]) -> bool {
    let v2 = received[0] >> 4 == 2;
    let mask = if v2 { 0xff } else { 0x0f };
    let end = if v2 && received[4] == 0 {
        received.len() - 8
    } else {
        received.len()
    };
    emitted.len() == received.len()
        && emitted[..4] == received[..4]
        && emitted[4] == received[4] & mask
        && emitted[5] == received[5]
        && emitted[8..end] == received[8..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn emit_then_parse_round_trips(c in case()) {
        let a = advert(&c);
        let mut buf = vec![0xa5u8; a.buffer_len() + 7];
        let n = a.emit(&mut buf, c.mode, c.src, c.dst).unwrap();
        prop_assert_eq!(n, a.buffer_len());
        prop_assert!(buf[n..].iter().all(|&b| b == 0xa5));
        let bytes = &buf[..n];

        let p = Packet::new_checked(bytes, a.family()).unwrap();
        prop_assert_eq!(p.total_len(), n);
        prop_assert!(p.verify_checksum(c.mode, c.src, c.dst));
        prop_assert_eq!(Advert::parse(&p).unwrap(), a);

        let rx = ctx(&c, &a);
        let got = validate(&p, &rx).unwrap();
        prop_assert_eq!(got, a);
        prop_assert_eq!(got.addresses.iter().count(), a.addresses.len());
    }

    #[test]
    fn any_single_bit_flip_is_rejected(c in case(), bit in any::<prop::sample::Index>()) {
        let a = advert(&c);
        let mut buf = vec![0u8; a.buffer_len()];
        a.emit(&mut buf, c.mode, c.src, c.dst).unwrap();
        let i = bit.index(buf.len() * 8);
        buf[i / 8] ^= 1 << (i % 8);
        let p = Packet::new_unchecked(&buf[..], a.family());
        // The checksum catches every single-bit error; other checks may fire first.
        let err: WireError = validate(&p, &ctx(&c, &a)).unwrap_err();
        prop_assert!(err.vrid().is_some());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        v6 in any::<bool>(),
        version in prop_oneof![Just(Version::V2), Just(Version::V3)],
        ttl in prop_oneof![Just(255u8), any::<u8>()],
        vrid in 1u8..=255,
        mode in mode(),
        auth in auth(),
        interval in any::<u8>(),
    ) {
        let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
        let (src, dst) = if v6 {
            (IpAddr::V6("fe80::1".parse().unwrap()), IpAddr::V6(wire::MULTICAST_V6))
        } else {
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(wire::MULTICAST_V4))
        };
        if let Ok(p) = Packet::new_checked(&bytes[..], family) {
            touch(&p);
        }
        let _ = Advert::parse_bytes(&bytes, family);
        let rx = RxContext {
            version,
            vrid: VrId::new(vrid).unwrap(),
            family,
            auth,
            v2_interval: Seconds(interval),
            checksum_mode: mode,
            src,
            dst,
            ttl,
        };
        let p = Packet::new_unchecked(&bytes[..], family);
        match validate(&p, &rx) {
            Ok(a) => {
                // Whatever is accepted re-emits to the same bytes (but reserved bits).
                let mut out = vec![0u8; a.buffer_len()];
                a.emit(&mut out, mode, src, dst).unwrap();
                prop_assert!(same_but_reserved_and_checksum(&out, &bytes));
            }
            Err(e) => {
                let _ = e.to_string();
                let _ = e.reason().as_str();
            }
        }
    }

    #[test]
    fn structured_garbage_never_panics(
        head in any::<[u8; 8]>(),
        tail in prop::collection::vec(any::<u8>(), 0..300),
        v6 in any::<bool>(),
        exact in any::<bool>(),
    ) {
        // A version nibble of 2 or 3 and type 1 most of the time, and often the exact length
        // the count implies, so that parsing gets deep.
        let mut bytes = head.to_vec();
        bytes[0] = if head[0] & 0x80 == 0 { 0x21 | (head[0] & 0x10) } else { head[0] };
        let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
        let mut tail = tail;
        if exact {
            let auth = if bytes[0] >> 4 == 2 { 8 } else { 0 };
            let want = usize::from(bytes[3]) * family.addr_len() + auth;
            tail.resize(want, 0x5a);
        }
        bytes.extend_from_slice(&tail);
        if let Ok(p) = Packet::new_checked(&bytes[..], family) {
            touch(&p);
        }
        if let Ok(a) = Advert::parse_bytes(&bytes, family) {
            let mut out = vec![0u8; a.buffer_len()];
            let src = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            a.emit(&mut out, ChecksumMode::Standard, src, src).unwrap();
            // Everything but the checksum and the v3 reserved bits is reproduced.
            prop_assert!(same_but_reserved_and_checksum(&out, &bytes));
        }
    }
}
