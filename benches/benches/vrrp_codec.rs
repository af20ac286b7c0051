//! VRRP advertisement codec: parse + full receive validation, and emit, for VRRPv2 over IPv4,
//! VRRPv3 over IPv4 (1, 8 and 20 addresses) and VRRPv3 over IPv6.
//!
//! The floor, measured in the same run: copying the same bytes into a buffer and computing their
//! internet checksum, the least any receive path must do. Target: parse + validate of every
//! advert within 2x of its floor.
//!
//! Both read the message from the buffer's own memory, as a receive path does: `black_box` is
//! given a reference to the buffer (or to the packet view over it), not the slice itself. A
//! slice passed by value to `black_box` is stored to a stack slot and loaded back on every
//! iteration, and LLVM gave the parse's result the same slot: `perf annotate` put 20-23% of the
//! VRRPv2 samples on that reload (a store-forwarding stall of the harness, not of the codec).
//!
//! Run: `cargo bench -p ha-benches --bench vrrp_codec -- --warm-up-time 1 --measurement-time 2`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ha_vrrp_proto::wire::{
    Addresses, Advert, Auth, ChecksumMode, Packet, Password, RxContext, checksum, validate,
};
use ha_vrrp_proto::{Centiseconds, Priority, Seconds, Version, VrId};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DST4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const DST6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

struct Case {
    name: &'static str,
    version: Version,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

impl Case {
    fn v4(name: &'static str, version: Version, n: u8) -> Case {
        Case {
            name,
            version,
            v4: (0..n).map(|i| Ipv4Addr::new(192, 0, 2, 100 + i)).collect(),
            v6: Vec::new(),
        }
    }

    fn v6(name: &'static str, n: u16) -> Case {
        Case {
            name,
            version: Version::V3,
            v4: Vec::new(),
            v6: (0..n)
                .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100 + i))
                .collect(),
        }
    }

    fn advert(&self) -> Advert<'_> {
        let vrid = VrId::new(51).unwrap();
        let addresses = if self.v6.is_empty() {
            Addresses::v4(&self.v4).unwrap()
        } else {
            Addresses::v6(&self.v6).unwrap()
        };
        match self.version {
            Version::V2 => Advert::v2(
                vrid,
                Priority(100),
                Seconds(1),
                addresses,
                Auth::SimpleText(Password::new(b"secret").unwrap()),
            ),
            Version::V3 => Advert::v3(
                vrid,
                Priority(100),
                Centiseconds::new(100).unwrap(),
                addresses,
            ),
        }
    }

    fn endpoints(&self) -> (IpAddr, IpAddr) {
        if self.v6.is_empty() {
            (SRC4, DST4)
        } else {
            (SRC6, DST6)
        }
    }
}

fn bench(c: &mut Criterion) {
    let cases = [
        Case::v4("v2_ipv4_1addr", Version::V2, 1),
        Case::v4("v3_ipv4_1addr", Version::V3, 1),
        Case::v4("v3_ipv4_8addr", Version::V3, 8),
        Case::v4("v3_ipv4_20addr", Version::V3, 20),
        Case::v6("v3_ipv6_1addr", 1),
        Case::v6("v3_ipv6_8addr", 8),
    ];

    for case in &cases {
        let advert = case.advert();
        let (src, dst) = case.endpoints();
        let mut bytes = vec![0u8; advert.buffer_len()];
        advert
            .emit(&mut bytes, ChecksumMode::Standard, src, dst)
            .unwrap();
        let ctx = RxContext {
            version: case.version,
            vrid: advert.vrid,
            family: advert.family(),
            auth: advert.auth,
            v2_interval: Seconds(1),
            checksum_mode: ChecksumMode::Standard,
            src,
            dst,
            ttl: 255,
        };
        // Sanity: the benchmarked path succeeds.
        assert_eq!(
            validate(&Packet::new_unchecked(&bytes[..], advert.family()), &ctx).unwrap(),
            advert
        );

        let mut group = c.benchmark_group(format!("vrrp_codec/{}", case.name));
        group.bench_function("floor_copy_checksum", |b| {
            let mut buf = [0u8; 512];
            b.iter(|| {
                let input: &[u8] = black_box(&bytes);
                let out = &mut buf[..input.len()];
                out.copy_from_slice(input);
                black_box(checksum::checksum(out))
            })
        });
        group.bench_function("parse_validate", |b| {
            let packet = Packet::new_unchecked(&bytes[..], advert.family());
            b.iter(|| {
                let result = validate(black_box(&packet), black_box(&ctx));
                black_box(&result);
            })
        });
        group.bench_function("emit", |b| {
            let mut buf = [0u8; 512];
            b.iter(|| {
                let n = black_box(&advert)
                    .emit(&mut buf, ChecksumMode::Standard, src, dst)
                    .unwrap();
                black_box(&buf[..n]);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
