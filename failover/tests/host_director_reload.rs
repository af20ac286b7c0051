//! Host suite: reloading a running director (SIGHUP in ha-director) on a real host: the same
//! configuration touches nothing (no VIP flap, no transition), a priority change alone is taken
//! in place (no VIP flap either), a changed instance is re-created alone, and a configuration
//! that cannot be adopted in place is refused with the running one kept.
#![cfg(feature = "tokio")]

mod node_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ha_failover::core::{DirectorBuilder, InstanceConfig, VipSpec};
use ha_failover::runtime::director::DirectorConfig;
use ha_failover::vrrp::router::{Config as RouterConfig, State};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Version, VrId};
use ha_testsupport::{Host, Lab, require_root, wait_until};
use node_support::Node;

fn config(priority_b: u8, extra: bool) -> DirectorConfig {
    config_with(priority_b, "10.62.0.102/24", extra)
}

fn config_with(priority_b: u8, vip_b: &str, extra: bool) -> DirectorConfig {
    let mut b = DirectorBuilder::new();
    let mut add = |name: &str, vrid: u8, prio: u8, vip: &str| {
        let mut r = RouterConfig::new(
            Version::V3,
            VrId::new(vrid).unwrap(),
            "10.62.0.2".parse::<IpAddr>().unwrap(),
        );
        r.priority = Priority(prio);
        r.advert_interval = AdvertInterval::V3(Centiseconds::new(20).unwrap());
        let mut c = InstanceConfig::new(name, "eth0", r);
        c.vips.push(VipSpec::parse(vip).unwrap());
        b.add_instance(c).unwrap();
    };
    add("A", 61, 150, "10.62.0.101/24");
    add("B", 62, priority_b, vip_b);
    if extra {
        add("C", 63, 100, "10.62.0.103/24");
    }
    let mut cfg = DirectorConfig::new(b);
    cfg.announce.second_burst_delay = None;
    cfg
}

/// Watches an address from another thread; true if it ever disappeared.
fn watch_flap(h: &Host, addr: &'static str) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let gone = Arc::new(AtomicBool::new(false));
    let (s, g, h) = (stop.clone(), gone.clone(), h.clone());
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            if !h.holds(addr) {
                g.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (stop, gone)
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_keeps_unchanged_instances_and_recreates_a_changed_one() {
    require_root();
    let mut lab = Lab::new("reload");
    let h = lab.add_host("d", &["10.62.0.2/24"]);
    let node = Node::start(&h, config(120, false));
    assert!(
        wait_until(Duration::from_secs(10), || node.states()
            == vec![State::Master, State::Master]),
        "{:?}",
        node.status()
    );
    assert!(wait_until(Duration::from_secs(5), || h
        .holds("10.62.0.101")
        && h.holds("10.62.0.102")));
    let before = node.transitions();

    // The same configuration: nothing moves.
    let (stop_a, gone_a) = watch_flap(&h, "10.62.0.101");
    let (stop_b, gone_b) = watch_flap(&h, "10.62.0.102");
    let report = node.reload(config(120, false)).unwrap();
    assert_eq!(report.kept, vec!["A".to_owned(), "B".to_owned()]);
    assert!(report.recreated.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    stop_b.store(true, Ordering::Relaxed);
    assert!(
        !gone_b.load(Ordering::Relaxed),
        "B's VIP flapped on an unchanged reload"
    );
    assert_eq!(
        node.transitions(),
        before,
        "an unchanged reload made transitions"
    );

    // B's priority alone changes: kept in place with the new priority, as keepalived keeps an
    // instance's state across a reload; its VIP never goes.
    let (stop_b, gone_b) = watch_flap(&h, "10.62.0.102");
    let report = node.reload(config(130, false)).unwrap();
    assert_eq!(report.kept, vec!["A".to_owned(), "B".to_owned()]);
    assert_eq!(report.reprioritized, vec!["B".to_owned()]);
    assert!(report.recreated.is_empty());
    assert!(
        wait_until(Duration::from_secs(10), || node.status().instances[1]
            .priority
            == 130),
        "{:?}",
        node.status()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop_b.store(true, Ordering::Relaxed);
    assert!(
        !gone_b.load(Ordering::Relaxed),
        "B's VIP flapped on a priority change"
    );
    assert_eq!(
        node.transitions(),
        before,
        "a priority change made transitions"
    );

    // B's address changes: B alone is re-created (its old VIP goes, the new one comes);
    // A's stays.
    let report = node
        .reload(config_with(130, "10.62.0.104/24", false))
        .unwrap();
    assert_eq!(report.kept, vec!["A".to_owned()]);
    assert_eq!(report.recreated, vec!["B".to_owned()]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = node.status();
            s.instances[1].priority == 130 && s.instances[1].state == State::Master
        }),
        "{:?}",
        node.status()
    );
    assert!(wait_until(Duration::from_secs(5), || h
        .holds("10.62.0.104")
        && !h.holds("10.62.0.102")));

    // Adding an instance cannot be done in place: refused, nothing changes.
    let t = node.transitions();
    let e = node
        .reload(config_with(130, "10.62.0.104/24", true))
        .unwrap_err();
    assert!(e.contains("needs a restart"), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(node.transitions(), t);
    assert!(!h.holds("10.62.0.103"));
    stop_a.store(true, Ordering::Relaxed);
    assert!(
        !gone_a.load(Ordering::Relaxed),
        "A's VIP flapped during the reloads"
    );
    assert_eq!(node.states(), vec![State::Master, State::Master]);
}
