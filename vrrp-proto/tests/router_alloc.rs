//! The hot paths (a backup handling its master's advert, a master's Adver_Timer, a master
//! answering a lower-priority advert in unicast mode) never allocate once the router is built,
//! as long as outputs are drained after each input.
//!
//! Counted by [`ha_testsupport::alloc::CountingAlloc`] (per thread, so other test threads do not
//! interfere).
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_testsupport::alloc::{CountingAlloc, allocations};
use ha_vrrp_proto::router::{Config, Router, RxAdvert, State};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Version, VrId};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn drain(r: &mut Router) -> usize {
    let mut n = 0;
    while r.poll_transmit().is_some() {
        n += 1;
    }
    while r.poll_action().is_some() {}
    while r.poll_event().is_some() {}
    n
}

#[test]
fn hot_paths_do_not_allocate() {
    let vrid = VrId::new(1).unwrap();
    let t0 = Instant::now();
    let master_addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let advert = RxAdvert {
        src: master_addr,
        version: Version::V3,
        vrid,
        priority: Priority(200),
        interval: AdvertInterval::V3(Centiseconds::new(100).unwrap()),
    };

    let mut backup = Router::new(
        Config::new(Version::V3, vrid, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        t0,
    )
    .unwrap();
    drain(&mut backup);

    let mut cfg = Config::new(Version::V3, vrid, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
    cfg.priority = Priority(250);
    cfg.peers = vec![master_addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    let mut master = Router::new(cfg, t0).unwrap();
    drain(&mut master);
    master.handle_timeout(master.poll_timeout().unwrap());
    assert_eq!(master.state(), State::Master);
    drain(&mut master);

    let before = allocations();
    let mut sent = 0;
    for i in 0..1000u64 {
        let now = t0 + Duration::from_millis(10 * i);
        backup.handle_advert(now, advert);
        drain(&mut backup);
        let t = master.poll_timeout().unwrap();
        master.handle_timeout(t);
        sent += drain(&mut master);
        master.handle_advert(t, advert);
        sent += drain(&mut master);
    }
    let after = allocations();
    assert_eq!(backup.state(), State::Backup);
    assert_eq!(master.state(), State::Master);
    assert_eq!(sent, 4000, "two peers, timer and re-advertise each round");
    assert_eq!(after - before, 0, "allocations on the hot path");
    // The counter works: an allocation is seen.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocations() - after, 1);
    drop(v);
}
