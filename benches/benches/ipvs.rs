//! IPVS message building and parsing, and the desired-state diff.
//!
//! - build: one `NEW_DEST` request (service key + full destination) into a reused buffer;
//! - parse: one kernel-style `NEW_DEST` dump message (with 64-bit stats) to the model;
//! - diff: 10,000 services x 4 destinations, no-op and one weight change.
//!
//! Run: `cargo bench -p ha-benches --bench ipvs -- --warm-up-time 1 --measurement-time 2`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use ha_ipvs::netlink_packet_core::NetlinkPayload::InnerMessage;
use ha_ipvs::wire::{
    CmdAttr, DestAttr, IpvsCmd, IpvsMessage, Stats, decode_datagram, encode_request,
};
use ha_ipvs::{Destination, Family, Forward, Op, Scheduler, Service, ServiceKey, VirtualService};

fn state(n: usize) -> Vec<VirtualService> {
    (0..n)
        .map(|i| VirtualService {
            service: Service::new(
                ServiceKey::tcp(SocketAddr::from(([10, 100, (i >> 8) as u8, i as u8], 80))),
                Scheduler::Wrr,
            ),
            destinations: (0..4u8)
                .map(|j| {
                    Destination::new(
                        SocketAddr::from(([172, 16, 0, j + 1], 80)),
                        Forward::Route,
                        1,
                    )
                })
                .collect(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let key = ServiceKey::tcp(SocketAddr::from(([10, 0, 0, 1], 80)));
    let dest = Destination::new(SocketAddr::from(([10, 0, 1, 1], 80)), Forward::Route, 3);
    let op = Op::AddDest(key, dest.clone());
    let mut buf = Vec::with_capacity(4096);
    c.bench_function("ipvs/build_new_dest", |b| {
        b.iter(|| {
            buf.clear();
            encode_request(0x1c, 7, 5, black_box(&op).to_message(), &mut buf);
            black_box(buf.len())
        })
    });

    // A reply as the kernel dumps it: the destination plus counters.
    let mut attrs = dest.to_attrs();
    attrs.extend([
        DestAttr::ActiveConns(3),
        DestAttr::InactConns(4),
        DestAttr::PersistConns(0),
        DestAttr::Stats(Stats::default()),
        DestAttr::Stats64(Stats {
            conns: 10,
            inbytes: 1 << 40,
            ..Stats::default()
        }),
    ]);
    let mut reply = Vec::new();
    encode_request(
        0x1c,
        7,
        2,
        IpvsMessage::new(IpvsCmd::NewDest, vec![CmdAttr::Dest(attrs)]),
        &mut reply,
    );
    c.bench_function("ipvs/parse_dest_reply", |b| {
        b.iter(|| {
            let m = decode_datagram(black_box(&reply)).next().unwrap().unwrap();
            let InnerMessage(g) = m.payload else {
                unreachable!()
            };
            let CmdAttr::Dest(d) = &g.payload.attrs[0] else {
                unreachable!()
            };
            black_box(Destination::from_attrs(d, Family::Inet).unwrap())
        })
    });

    let cur = state(10_000);
    let mut changed = cur.clone();
    changed[5000].destinations[2].weight = 9;
    c.bench_function("ipvs/diff_10k_noop", |b| {
        b.iter(|| black_box(ha_ipvs::diff(black_box(&cur), black_box(&cur)).len()))
    });
    c.bench_function("ipvs/diff_10k_one_weight", |b| {
        b.iter(|| black_box(ha_ipvs::diff(black_box(&cur), black_box(&changed)).len()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
