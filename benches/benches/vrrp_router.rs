//! VRRP router state machine: a backup handling its master's advertisement (the common
//! receive path: checks, reset of the Master_Down_Timer), a master's Adver_Timer firing (one
//! transmit queued and drained), a master re-advertising to a lower-priority advert in unicast
//! mode, and the deterministic simulator running three routers for a minute of virtual time.
//!
//! Run: `cargo bench -p ha-benches --bench vrrp_router -- --warm-up-time 1 --measurement-time 2`

use core::net::{IpAddr, Ipv4Addr};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_main};
use ha_vrrp_proto::router::{Config, Router, RxAdvert, State};
use ha_vrrp_proto::sim::{LinkConfig, Sim};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Version, VrId};

const MASTER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn vrid() -> VrId {
    VrId::new(51).expect("non-zero")
}

fn advert(priority: u8) -> RxAdvert {
    RxAdvert {
        src: MASTER,
        version: Version::V3,
        vrid: vrid(),
        priority: Priority(priority),
        interval: AdvertInterval::V3(Centiseconds::new(100).expect("fits")),
    }
}

fn drain(r: &mut Router) {
    while let Some(t) = r.poll_transmit() {
        black_box(t);
    }
    while let Some(a) = r.poll_action() {
        black_box(a);
    }
    while let Some(e) = r.poll_event() {
        black_box(e);
    }
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();

    let mut backup = Router::new(Config::new(Version::V3, vrid(), ME), t0).expect("valid");
    drain(&mut backup);
    let adv = advert(200);
    let mut now = t0;
    c.bench_function("vrrp_router/backup_handle_advert", |b| {
        b.iter(|| {
            now += Duration::from_millis(10);
            backup.handle_advert(now, black_box(adv));
            black_box(backup.poll_timeout())
        })
    });
    assert_eq!(backup.state(), State::Backup);

    let mut master = Router::new(Config::new(Version::V3, vrid(), ME), t0).expect("valid");
    drain(&mut master);
    master.handle_timeout(master.poll_timeout().expect("timer"));
    drain(&mut master);
    assert_eq!(master.state(), State::Master);
    c.bench_function("vrrp_router/master_handle_timeout", |b| {
        b.iter(|| {
            let t = master.poll_timeout().expect("timer");
            master.handle_timeout(black_box(t));
            black_box(master.poll_transmit())
        })
    });

    let mut cfg = Config::new(Version::V3, vrid(), ME);
    cfg.priority = Priority(250);
    cfg.peers = vec![MASTER, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))];
    let mut unicast = Router::new(cfg, t0).expect("valid");
    unicast.handle_timeout(unicast.poll_timeout().expect("timer"));
    drain(&mut unicast);
    let low = advert(100);
    let mut now = t0 + Duration::from_secs(10);
    c.bench_function("vrrp_router/master_readvertise_unicast_2_peers", |b| {
        b.iter(|| {
            now += Duration::from_millis(10);
            unicast.handle_advert(now, black_box(low));
            drain(&mut unicast);
        })
    });

    c.bench_function("vrrp_router/sim_3_routers_60s_virtual", |b| {
        b.iter(|| {
            let mut sim = Sim::new(t0, 1);
            let link = sim.add_link(LinkConfig::default());
            for (i, p) in [100u8, 200, 150].into_iter().enumerate() {
                let mut c = Config::new(
                    Version::V3,
                    vrid(),
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8)),
                );
                c.priority = Priority(p);
                sim.add_node(link, c).expect("valid");
            }
            sim.run_for(Duration::from_secs(60));
            black_box(sim.masters())
        })
    });
}

// In a private module: the function `criterion_group!` generates is then not exported and
// needs no doc comment.
mod group {
    use criterion::criterion_group;
    criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
