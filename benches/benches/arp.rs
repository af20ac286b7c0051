//! Benchmarks of `ha-arp`: building and parsing frames, and the announcer draining 500 addresses.
//!
//! Run: `cargo bench -p ha-benches --bench arp -- --warm-up-time 1 --measurement-time 2`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ha_arp::wire::frame::MAX_FRAME_LEN;
use ha_arp::{Announcer, Config, FrameRepr, GarpForm, Interface, MacAddr, Pacing, SourceMac};

const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

fn frames(c: &mut Criterion) {
    let v4 = Ipv4Addr::new(10, 9, 0, 100);
    let v6: Ipv6Addr = "fd09::100".parse().unwrap();
    let garp = FrameRepr::gratuitous_arp(MAC, v4, GarpForm::Request);
    let na = FrameRepr::unsolicited_na(MAC, v6, v6, false);
    let mut buf = [0u8; MAX_FRAME_LEN];
    c.bench_function("arp/emit_garp", |b| {
        b.iter(|| black_box(black_box(&garp).emit(&mut buf)))
    });
    c.bench_function("arp/emit_na_with_checksum", |b| {
        b.iter(|| black_box(black_box(&na).emit(&mut buf)))
    });
    let n = na.emit(&mut buf);
    let na_bytes = buf[..n].to_vec();
    let n = garp.emit(&mut buf);
    let garp_bytes = buf[..n].to_vec();
    c.bench_function("arp/parse_garp", |b| {
        b.iter(|| FrameRepr::parse(black_box(&garp_bytes)))
    });
    c.bench_function("arp/parse_na", |b| {
        b.iter(|| FrameRepr::parse(black_box(&na_bytes)))
    });
}

fn announcer(c: &mut Criterion) {
    let iface = Interface {
        ifindex: 2,
        mac: MAC,
        ipv6_link_local: None,
    };
    let addrs: Vec<IpAddr> = (0..500u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a09_0000 + i)))
        .collect();
    let config = Config {
        repeat: 1,
        second_burst_delay: None,
        ..Config::default()
    };
    let pacing = Pacing {
        arp_interval: Duration::from_millis(1),
        na_interval: Duration::ZERO,
    };
    c.bench_function("arp/announce_500_paced_drain", |b| {
        b.iter(|| {
            let t0 = Instant::now();
            let mut a: Announcer<u32> = Announcer::new(config, pacing);
            a.announce(t0, 1, &iface, &addrs, SourceMac::Interface);
            let mut sent = 0usize;
            loop {
                while let Some(tx) = a.poll_transmit() {
                    sent += tx.bytes.len();
                }
                match a.poll_timeout() {
                    Some(t) => a.handle_timeout(t),
                    None => break,
                }
            }
            black_box(sent)
        })
    });
}

criterion_group!(benches, frames, announcer);
criterion_main!(benches);
