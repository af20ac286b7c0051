//! Parsing, validating and emitting adverts allocates nothing: a counting global allocator
//! (counting per thread, so the test harness's own threads do not interfere) proves it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_testsupport::alloc::{CountingAlloc, allocations_during};
use ha_vrrp_proto::wire::{
    Addresses, Advert, Auth, ChecksumMode, Packet, Password, RxContext, validate,
};
use ha_vrrp_proto::{Centiseconds, Priority, Seconds, Version, VrId};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const VIPS4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(192, 0, 2, 100),
    Ipv4Addr::new(192, 0, 2, 101),
    Ipv4Addr::new(192, 0, 2, 102),
];
const VIPS6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
];

#[test]
fn counting_allocator_sees_allocations() {
    // The counter works: a Vec allocates.
    let n = allocations_during(|| {
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(16));
        drop(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn parse_validate_and_emit_allocate_nothing() {
    let vrid = VrId::new(51).unwrap();
    let src4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst4 = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    let src6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let dst6 = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));
    let pass = Auth::SimpleText(Password::new(b"secret").unwrap());
    let cs = Centiseconds::new(100).unwrap();

    let cases = [
        (
            Advert::v2(
                vrid,
                Priority(100),
                Seconds(1),
                Addresses::v4(&VIPS4).unwrap(),
                pass,
            ),
            Version::V2,
            src4,
            dst4,
        ),
        (
            Advert::v3(vrid, Priority(100), cs, Addresses::v4(&VIPS4).unwrap()),
            Version::V3,
            src4,
            dst4,
        ),
        (
            Advert::v3(vrid, Priority(100), cs, Addresses::v6(&VIPS6).unwrap()),
            Version::V3,
            src6,
            dst6,
        ),
    ];

    for (advert, version, src, dst) in cases {
        let mut buf = [0u8; 128];
        let ctx = RxContext {
            version,
            vrid,
            family: advert.family(),
            auth: advert.auth,
            v2_interval: Seconds(1),
            checksum_mode: ChecksumMode::Standard,
            src,
            dst,
            ttl: 255,
        };
        let mut seen = 0usize;
        let n = allocations_during(|| {
            let len = advert
                .emit(&mut buf, ChecksumMode::Standard, src, dst)
                .unwrap();
            let packet = Packet::new_checked(&buf[..len], advert.family()).unwrap();
            let parsed = Advert::parse(&packet).unwrap();
            let validated = validate(&packet, &ctx).unwrap();
            assert!(parsed == validated && validated == advert);
            seen = validated.addresses.iter().count();
            // A failure path allocates nothing either.
            let bad = RxContext { ttl: 1, ..ctx };
            let err = validate(&packet, &bad).unwrap_err();
            std::hint::black_box(err.reason().as_str());
            let mut short = [0u8; 4];
            assert!(
                advert
                    .emit(&mut short, ChecksumMode::Standard, src, dst)
                    .is_err()
            );
        });
        assert_eq!(n, 0, "{version:?} {:?}: {n} allocations", advert.family());
        assert_eq!(seen, advert.addresses.len());
    }
}
