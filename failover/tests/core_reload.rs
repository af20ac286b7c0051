//! Reconfiguring a running director in place: unchanged instances keep their state, a changed
//! one is stopped (priority 0, addresses released) and re-created alone, one whose priority
//! alone changed keeps its state and takes the new priority, virtual servers keep their real
//! servers' health and get only the difference.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::net::SocketAddr;
use std::time::Instant;

use core_support::*;
use ha_failover::core::{
    Director, DirectorAction, DirectorBuilder, DirectorEvent, InstanceConfig, InstanceId,
    RealServer, ReconfigureError, VipSpec, VirtualServerConfig, VirtualServerId,
};
use ha_failover::ipvs::Op;
use ha_failover::ipvs::model::{Destination, Forward, Scheduler, Service, ServiceKey};
use ha_failover::vrrp::router::State;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn build(t: Instant, b_priority: u8, servers: &[&str], extra_instance: bool) -> Director {
    build_with(t, b_priority, "10.0.0.102/24", servers, extra_instance)
}

fn build_with(
    t: Instant,
    b_priority: u8,
    b_vip: &str,
    servers: &[&str],
    extra_instance: bool,
) -> Director {
    let mut b = DirectorBuilder::new();
    for (name, vr, prio, vip) in [("A", 1, 150, "10.0.0.101/24"), ("B", 2, b_priority, b_vip)] {
        let mut c = InstanceConfig::new(name, "eth0", router(vr, prio, v4(2)));
        c.vips.push(VipSpec::parse(vip).unwrap());
        b.add_instance(c).unwrap();
    }
    if extra_instance {
        let c = InstanceConfig::new("C", "eth0", router(3, 100, v4(2)));
        b.add_instance(c).unwrap();
    }
    let rs = servers
        .iter()
        .map(|a| RealServer::new(Destination::new(sa(a), Forward::Route, 1)))
        .collect();
    b.add_virtual_server(VirtualServerConfig::new(
        "web",
        Service::new(ServiceKey::tcp(sa("10.0.0.100:80")), Scheduler::Rr),
        rs,
    ))
    .unwrap();
    b.build(t).unwrap()
}

fn states(d: &Director) -> Vec<State> {
    (0..2).map(|i| d.state(InstanceId(i)).unwrap()).collect()
}

#[test]
fn a_changed_instance_is_recreated_alone_and_pools_keep_health() {
    let t0 = Instant::now();
    let mut d = build(t0, 120, &["10.0.0.11:80", "10.0.0.12:80"], false);
    drain(&mut d);
    // Both become master (no peers).
    let t1 = at(t0, 4000);
    d.handle_timeout(t1);
    assert_eq!(states(&d), vec![State::Master, State::Master]);
    d.handle_real_server(t1, VirtualServerId(0), 1, false)
        .unwrap();
    drain(&mut d);

    // B's address changes; a real server is added; .12 stays dead.
    let t2 = at(t0, 5000);
    let new = build_with(
        t2,
        120,
        "10.0.0.103/24",
        &["10.0.0.11:80", "10.0.0.12:80", "10.0.0.13:80"],
        false,
    );
    let changed = d.reconfigure_begin(t2, &new, &[]).unwrap();
    assert_eq!(changed, vec![InstanceId(1)]);
    let out = drain(&mut d);
    // B (only) sends priority 0 and releases its address; A is untouched.
    assert_eq!(out.transmits.len(), 1, "{:?}", out.transmits);
    assert_eq!(out.transmits[0].0, InstanceId(1));
    assert_eq!(out.transmits[0].1.priority.get(), 0);
    assert!(
        out.actions
            .iter()
            .all(|a| !matches!(a, DirectorAction::RemoveVips { instance, .. } if *instance == InstanceId(0))),
        "{:?}",
        out.actions
    );
    assert!(out.actions.iter().any(
        |a| matches!(a, DirectorAction::RemoveVips { instance, .. } if *instance == InstanceId(1))
    ));

    let report = d.reconfigure_finish(t2, new, &changed);
    assert_eq!(report.kept, vec!["A".to_owned()]);
    assert_eq!(report.recreated, vec!["B".to_owned()]);
    assert!(report.reprioritized.is_empty());
    assert_eq!(report.virtual_servers_changed, 1);
    assert!(report.removed_services.is_empty());
    let out = drain(&mut d);
    // A still master, never left; B starts again as at startup.
    assert_eq!(d.state(InstanceId(0)), Some(State::Master));
    assert_eq!(d.state(InstanceId(1)), Some(State::Backup));
    assert!(out.events.iter().all(|e| !matches!(
        e,
        DirectorEvent::Transition { instance, .. } if *instance == InstanceId(0)
    )));
    // Only the new real server is added; the dead one stays out.
    let ops: Vec<Op> = out
        .actions
        .iter()
        .filter_map(|a| match a {
            DirectorAction::Ipvs { ops, .. } => Some(ops.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert!(matches!(&ops[0], Op::AddDest(_, dst) if dst.addr == sa("10.0.0.13:80")));
    let (_, alive) = d.pool(VirtualServerId(0)).unwrap();
    assert_eq!(alive, &[true, false, true]);
    // B becomes master again after its own Master_Down_Interval.
    d.handle_timeout(at(t0, 9000));
    assert_eq!(states(&d), vec![State::Master, State::Master]);
}

/// keepalived keeps an instance's state across a reload: a priority change alone must not
/// stop it (no priority 0, no address released, no transition); the router takes the new
/// priority in place (`Router::set_priority`, RFC 9568 section 6.4). Raising or lowering it,
/// a master stays master where nothing better is heard.
#[test]
fn a_priority_change_alone_keeps_the_instance_and_its_state() {
    let t0 = Instant::now();
    let servers = ["10.0.0.11:80"];
    let mut d = build(t0, 120, &servers, false);
    drain(&mut d);
    let t1 = at(t0, 4000);
    d.handle_timeout(t1);
    assert_eq!(states(&d), vec![State::Master, State::Master]);
    drain(&mut d);
    for (n, prio) in [130u8, 100].into_iter().enumerate() {
        let t = at(t0, 5000 + 1000 * n as u64);
        let new = build(t, prio, &servers, false);
        let changed = d.reconfigure_begin(t, &new, &[]).unwrap();
        assert!(changed.is_empty(), "priority {prio}: {changed:?}");
        let out = drain(&mut d);
        assert!(out.transmits.is_empty(), "{:?}", out.transmits);
        let report = d.reconfigure_finish(t, new, &changed);
        assert_eq!(report.kept, vec!["A".to_owned(), "B".to_owned()]);
        assert!(report.recreated.is_empty());
        assert_eq!(report.reprioritized, vec!["B".to_owned()]);
        let out = drain(&mut d);
        assert_eq!(d.priority(InstanceId(1)).unwrap().get(), prio);
        assert_eq!(states(&d), vec![State::Master, State::Master]);
        assert!(
            out.actions
                .iter()
                .all(|a| !matches!(a, DirectorAction::RemoveVips { .. })),
            "{:?}",
            out.actions
        );
        assert!(
            out.events
                .iter()
                .all(|e| !matches!(e, DirectorEvent::Transition { .. })),
            "{:?}",
            out.events
        );
        assert!(
            out.events.iter().any(|e| matches!(
                e,
                DirectorEvent::PriorityChanged { instance, to, .. }
                    if *instance == InstanceId(1) && to.get() == prio
            )),
            "{:?}",
            out.events
        );
    }
    // The runtime's force list (a runtime option changed) still re-creates it.
    let t = at(t0, 8000);
    let new = build(t, 100, &servers, false);
    let changed = d.reconfigure_begin(t, &new, &[InstanceId(1)]).unwrap();
    assert_eq!(changed, vec![InstanceId(1)]);
}

#[test]
fn the_same_configuration_changes_nothing() {
    let t0 = Instant::now();
    let mut d = build(t0, 120, &["10.0.0.11:80"], false);
    d.handle_timeout(at(t0, 4000));
    drain(&mut d);
    let new = build(at(t0, 4500), 120, &["10.0.0.11:80"], false);
    let changed = d.reconfigure_begin(at(t0, 4500), &new, &[]).unwrap();
    assert!(changed.is_empty());
    let report = d.reconfigure_finish(at(t0, 4500), new, &changed);
    assert_eq!(report.kept.len(), 2);
    let out = drain(&mut d);
    assert!(
        out.transmits.is_empty() && out.actions.is_empty() && out.events.is_empty(),
        "{out:?}"
    );
}

#[test]
fn adding_an_instance_needs_a_restart_and_changes_nothing() {
    let t0 = Instant::now();
    let mut d = build(t0, 120, &["10.0.0.11:80"], false);
    d.handle_timeout(at(t0, 4000));
    drain(&mut d);
    let new = build(at(t0, 4500), 120, &["10.0.0.11:80"], true);
    let e = d.reconfigure_begin(at(t0, 4500), &new, &[]).unwrap_err();
    assert!(matches!(e, ReconfigureError::Instances { .. }), "{e}");
    assert!(e.to_string().contains("A, B -> A, B, C"), "{e}");
    let out = drain(&mut d);
    assert!(
        out.transmits.is_empty() && out.actions.is_empty(),
        "{out:?}"
    );
    assert_eq!(states(&d), vec![State::Master, State::Master]);
}
