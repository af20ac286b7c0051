//! The hot paths (a backup handling its master's advert, a master's Adver_Timer, a master
//! answering a lower-priority advert in unicast mode) never allocate once the router is built,
//! as long as outputs are drained after each input.
//!
//! A counting global allocator; this file holds a single test so no other test thread
//! allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{Config, Router, RxAdvert, State};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Version, VrId};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

    let before = ALLOCS.load(Ordering::Relaxed);
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
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(backup.state(), State::Backup);
    assert_eq!(master.state(), State::Master);
    assert_eq!(sent, 4000, "two peers, timer and re-advertise each round");
    assert_eq!(after - before, 0, "allocations on the hot path");
}
