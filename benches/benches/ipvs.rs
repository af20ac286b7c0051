//! IPVS message building and parsing, and the desired-state diff.
//!
//! - build: one `NEW_DEST` request (service key + full destination) into a reused buffer;
//! - parse: one kernel-style `NEW_DEST` dump message (with 64-bit stats) to the model;
//! - dump: the dump path of a no-op reconcile at scale: 50,000 such replies, packed into
//!   datagrams of at most 32 KiB as the kernel fills a dump buffer, decoded to the model (the
//!   part of `ipvsadm -Sn`'s work that is ours; the kernel's side is the VM's
//!   `ha-limits ipvs`);
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

/// Destinations in the dump bench.
const DUMP_DESTS: usize = 50_000;

/// The largest dump datagram (the kernel fills a receive buffer of this order).
const DUMP_DATAGRAM: usize = 32 * 1024;

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
    // The dump: 50,000 destinations in datagrams of at most 32 KiB.
    let mut datagrams: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..DUMP_DESTS {
        let last = datagrams.last_mut().expect("one datagram at least");
        if last.len() + reply.len() > DUMP_DATAGRAM {
            datagrams.push(Vec::new());
        }
        datagrams
            .last_mut()
            .expect("one datagram at least")
            .extend_from_slice(&reply);
    }
    let mut group = c.benchmark_group("ipvs");
    group.sample_size(10);
    group.bench_function("dump_50k_dests", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for d in &datagrams {
                for m in decode_datagram(black_box(d)) {
                    let InnerMessage(g) = m.unwrap().payload else {
                        unreachable!()
                    };
                    for a in &g.payload.attrs {
                        if let CmdAttr::Dest(d) = a {
                            black_box(Destination::from_attrs(d, Family::Inet).unwrap());
                            n += 1;
                        }
                    }
                }
            }
            assert_eq!(n, DUMP_DESTS);
        })
    });
    group.finish();
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
