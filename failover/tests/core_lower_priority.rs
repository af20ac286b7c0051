//! A master that hears a lower-priority advert asks for its addresses to be announced again
//! (keepalived's `garp_lower_prio_repeat`): with either lower-priority policy, and never for
//! a backup, a higher-priority advert, or priority 0.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

mod core_support;

use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{DirectorAction, DirectorBuilder, InstanceConfig, VipSpec};
use ha_failover::vrrp::router::{LowerPriorityPolicy, State};

fn lower_announces(o: &Out) -> Vec<DirectorAction> {
    o.actions
        .iter()
        .filter(|a| matches!(a, DirectorAction::AnnounceLowerPriority { .. }))
        .cloned()
        .collect()
}

#[test]
fn a_master_hearing_a_lower_priority_advert_announces_again() {
    for policy in [
        LowerPriorityPolicy::Readvertise,
        LowerPriorityPolicy::Discard,
    ] {
        let t0 = Instant::now();
        let mut r = router(51, 150, v4(2));
        r.lower_priority = policy;
        let mut cfg = InstanceConfig::new("VI_1", "eth0", r);
        cfg.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        let mut b = DirectorBuilder::new();
        let id = b.add_instance(cfg).unwrap();
        let mut d = b.build(t0).unwrap();
        let _ = drain(&mut d);

        // A backup hearing a lower-priority advert: nothing.
        d.handle_advert(at(t0, 100), id, advert(v4(3), 51, 100))
            .unwrap();
        assert!(lower_announces(&drain(&mut d)).is_empty());

        // Master after the master-down interval.
        let t1 = t0 + master_down(150) + Duration::from_millis(500);
        d.handle_timeout(t1);
        let _ = drain(&mut d);
        assert_eq!(d.state(id), Some(State::Master), "{policy:?}");

        // A lower-priority advert (a split brain healing): announce the VIPs again.
        d.handle_advert(t1, id, advert(v4(3), 51, 100)).unwrap();
        let o = drain(&mut d);
        assert_eq!(
            lower_announces(&o),
            vec![DirectorAction::AnnounceLowerPriority {
                instance: id,
                addresses: vec!["10.0.0.100".parse().unwrap()],
            }],
            "{policy:?}"
        );
        // Equal priority from a lower address: the same.
        d.handle_advert(t1, id, advert(v4(1), 51, 150)).unwrap();
        assert_eq!(lower_announces(&drain(&mut d)).len(), 1, "{policy:?}");
        // Priority 0 (the other master stopping): nothing.
        d.handle_advert(t1, id, advert(v4(3), 51, 0)).unwrap();
        assert!(lower_announces(&drain(&mut d)).is_empty(), "{policy:?}");
        // Higher priority: it steps down, nothing announced.
        d.handle_advert(t1, id, advert(v4(3), 51, 200)).unwrap();
        let o = drain(&mut d);
        assert!(lower_announces(&o).is_empty(), "{policy:?}");
        assert_eq!(d.state(id), Some(State::Backup));
    }
}

/// A split healing where the lower-priority master hears the higher one first. Without
/// `higher_priority_advert` it steps down silently, the higher master hears nothing lower and
/// announces nothing (clients keep the lower one's MAC until their neighbour entry expires).
/// With it (keepalived's `higher_prio_send_advert`) its last advert reaches the higher master,
/// which announces its addresses again.
#[test]
fn a_split_healing_announces_again_only_with_higher_priority_advert() {
    for last_advert in [false, true] {
        let t0 = Instant::now();
        let mut masters = Vec::new();
        for (priority, addr) in [(200, v4(2)), (100, v4(3))] {
            let mut r = router(51, priority, addr);
            r.higher_priority_advert = last_advert;
            let mut cfg = InstanceConfig::new("VI_1", "eth0", r);
            cfg.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
            let mut b = DirectorBuilder::new();
            let id = b.add_instance(cfg).unwrap();
            let mut d = b.build(t0).unwrap();
            // Partitioned: each becomes master alone.
            let t1 = t0 + master_down(priority) + Duration::from_millis(500);
            d.handle_timeout(t1);
            let _ = drain(&mut d);
            assert_eq!(d.state(id), Some(State::Master));
            masters.push((d, id));
        }
        let t2 = t0 + Duration::from_secs(10);
        // Healed: the lower one hears the higher one's advert first.
        let (low, low_id) = &mut masters[1];
        low.handle_advert(t2, *low_id, advert(v4(2), 51, 200))
            .unwrap();
        let o = drain(low);
        assert_eq!(low.state(*low_id), Some(State::Backup));
        let sent: Vec<u8> = o.transmits.iter().map(|(_, t)| t.priority.0).collect();
        assert_eq!(sent, if last_advert { vec![100] } else { vec![] });
        // Every advert it sent reaches the higher master.
        let (high, high_id) = &mut masters[0];
        for _ in &sent {
            high.handle_advert(t2, *high_id, advert(v4(3), 51, 100))
                .unwrap();
        }
        let o = drain(high);
        assert_eq!(high.state(*high_id), Some(State::Master));
        assert_eq!(
            lower_announces(&o).len(),
            usize::from(last_advert),
            "last advert {last_advert}"
        );
    }
}
