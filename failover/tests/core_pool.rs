//! Virtual servers: real-server health to IPVS operations, sorry server, inhibit_on_failure,
//! quorum with hysteresis feeding a pool tracker.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::net::SocketAddr;
use std::time::Instant;

use core_support::*;
use ha_failover::core::{
    DirectorAction, DirectorBuilder, DirectorConfigError, DirectorError, DirectorEvent, GateEffect,
    InstanceConfig, MastershipGate, RealServer, TrackRef, TrackStatus, TrackerConfig, TrackerKind,
    VirtualServerConfig, VirtualServerId,
};
use ha_failover::ipvs::Op;
use ha_failover::ipvs::model::{Destination, Forward, Scheduler, Service, ServiceKey};
use ha_failover::vrrp::Priority;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ipvs_ops(o: &Out) -> Vec<Op> {
    o.actions
        .iter()
        .filter_map(|a| match a {
            DirectorAction::Ipvs { ops, .. } => Some(ops.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn health_drives_ipvs_quorum_and_priority() {
    let t0 = Instant::now();
    let key = ServiceKey::tcp(sa("10.0.0.100:80"));
    let service = Service::new(key, Scheduler::Wrr);
    let rs = |a: &str, w: u32| Destination::new(sa(a), Forward::Route, w);
    let mut b = DirectorBuilder::new();
    let pool_t = b.add_tracker(TrackerConfig::new(
        "web",
        TrackerKind::Pool { name: "web".into() },
    ));
    let mut vs = VirtualServerConfig::new(
        "web",
        service.clone(),
        vec![
            RealServer::new(rs("10.0.0.11:80", 1)),
            RealServer::new(rs("10.0.0.12:80", 2)),
            RealServer {
                inhibit_on_failure: true,
                ..RealServer::new(rs("10.0.0.13:80", 3))
            },
        ],
    );
    vs.sorry_server = Some(rs("10.0.0.99:80", 1));
    vs.quorum = 4;
    vs.hysteresis = 1;
    vs.tracker = Some(pool_t);
    let vs_id = b.add_virtual_server(vs).unwrap();
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.track = vec![TrackRef::new(pool_t, -50)];
    let inst = b.add_instance(cfg).unwrap();
    // What a runtime keeps beside the director: everything but the virtual servers.
    let (instances, trackers) = (b.instances().to_vec(), b.trackers().to_vec());
    assert_eq!(b.virtual_servers().len(), 1);
    let mut d = b.build_keeping_instances(t0).unwrap();
    assert!(b.virtual_servers().is_empty());
    assert_eq!(b.instances(), instances);
    assert_eq!(b.trackers(), trackers);

    // The service and its live servers are created.
    let o = drain(&mut d);
    let ops = ipvs_ops(&o);
    assert_eq!(ops[0], Op::AddService(service.clone()));
    let mut adds: Vec<SocketAddr> = ops[1..]
        .iter()
        .map(|op| match op {
            Op::AddDest(k, dest) if *k == key => dest.addr,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    adds.sort();
    assert_eq!(
        adds,
        vec![sa("10.0.0.11:80"), sa("10.0.0.12:80"), sa("10.0.0.13:80")]
    );
    assert_eq!(d.pool_quorum(vs_id), Some(true));
    assert_eq!(d.priority(inst), Some(Priority(100)));

    // RS0 dies: removed; live weight 5 >= 4 - 1 keeps the quorum.
    d.handle_real_server(t0, vs_id, 0, false).unwrap();
    let o = drain(&mut d);
    assert_eq!(ipvs_ops(&o), vec![Op::DelDest(key, sa("10.0.0.11:80"))]);
    assert_eq!(d.pool_quorum(vs_id), Some(true));

    // RS2 dies with inhibit_on_failure: weight 0; live weight 2 < 3: quorum lost, the
    // instance's priority drops by 50, and (keepalived's `update_quorum_state`) the sorry
    // server replaces the live servers.
    d.handle_real_server(t0, vs_id, 2, false).unwrap();
    let o = drain(&mut d);
    assert_eq!(
        ipvs_ops(&o),
        vec![
            Op::DelDest(key, sa("10.0.0.12:80")),
            Op::EditDest(key, rs("10.0.0.13:80", 0)),
            Op::AddDest(key, rs("10.0.0.99:80", 1)),
        ]
    );
    assert_eq!(
        o.events,
        vec![
            DirectorEvent::RealServerChanged {
                server: vs_id,
                index: 2,
                alive: false
            },
            DirectorEvent::PoolQuorum {
                server: vs_id,
                up: false
            },
            DirectorEvent::TrackerChanged {
                tracker: pool_t,
                status: TrackStatus::Down
            },
            DirectorEvent::PriorityChanged {
                instance: inst,
                from: Priority(100),
                to: Priority(50)
            },
        ]
    );

    // The last one dies: it was already out.
    d.handle_real_server(t0, vs_id, 1, false).unwrap();
    assert!(ipvs_ops(&drain(&mut d)).is_empty());
    // A repeated report changes nothing.
    d.handle_real_server(t0, vs_id, 1, false).unwrap();
    assert!(drain(&mut d).actions.is_empty());

    // Recovery: the quorum needs 4 + 1 = 5; until then the sorry server stays, and the
    // inhibited server stays at weight 0 while alive.
    d.handle_real_server(t0, vs_id, 0, true).unwrap();
    assert!(ipvs_ops(&drain(&mut d)).is_empty());
    d.handle_real_server(t0, vs_id, 2, true).unwrap();
    assert!(ipvs_ops(&drain(&mut d)).is_empty());
    assert_eq!(d.pool_quorum(vs_id), Some(false), "4 < 4 + hysteresis");
    d.handle_real_server(t0, vs_id, 1, true).unwrap();
    let mut ops = ipvs_ops(&drain(&mut d));
    ops.sort_by_key(|op| format!("{op:?}"));
    assert_eq!(
        ops,
        vec![
            Op::AddDest(key, rs("10.0.0.11:80", 1)),
            Op::AddDest(key, rs("10.0.0.12:80", 2)),
            Op::DelDest(key, sa("10.0.0.99:80")),
            Op::EditDest(key, rs("10.0.0.13:80", 3)),
        ]
    );
    assert_eq!(d.pool_quorum(vs_id), Some(true));
    assert_eq!(d.priority(inst), Some(Priority(100)));
    assert_eq!(d.desired_ipvs()[0].destinations.len(), 3);

    assert_eq!(
        d.handle_real_server(t0, vs_id, 3, true),
        Err(DirectorError::UnknownRealServer {
            server: vs_id,
            index: 3
        })
    );
}

#[test]
fn invalid_virtual_servers_are_rejected() {
    let key = ServiceKey::tcp(sa("10.0.0.100:80"));
    let service = Service::new(key, Scheduler::Rr);
    let dest = Destination::new(sa("10.0.0.11:80"), Forward::Route, 1);
    let mut b = DirectorBuilder::new();
    let script = b.add_tracker(TrackerConfig::new(
        "s",
        TrackerKind::Script { argv: argv(&["x"]) },
    ));
    let mut vs = VirtualServerConfig::new(
        "dup",
        service.clone(),
        vec![RealServer::new(dest.clone()), RealServer::new(dest.clone())],
    );
    assert!(matches!(
        b.add_virtual_server(vs.clone()),
        Err(DirectorConfigError::VirtualServer { .. })
    ));
    vs.real_servers.pop();
    vs.sorry_server = Some(dest);
    assert!(matches!(
        b.add_virtual_server(vs.clone()),
        Err(DirectorConfigError::VirtualServer { .. })
    ));
    vs.sorry_server = None;
    vs.tracker = Some(script);
    assert!(matches!(
        b.add_virtual_server(vs.clone()),
        Err(DirectorConfigError::PoolTracker { .. })
    ));
    vs.tracker = None;
    assert_eq!(b.add_virtual_server(vs), Ok(VirtualServerId(0)));
}

/// keepalived `misc_dynamic`: a check's weight replaces the configured one in IPVS and in the
/// quorum while the server is alive; `None` goes back to the configured weight.
#[test]
fn dynamic_weight_reaches_ipvs_and_quorum() {
    let t0 = Instant::now();
    let key = ServiceKey::tcp(sa("10.0.0.100:80"));
    let mut vs = VirtualServerConfig::new(
        "web",
        Service::new(key, Scheduler::Wrr),
        vec![RealServer::new(Destination::new(
            sa("10.0.0.11:80"),
            Forward::Route,
            5,
        ))],
    );
    vs.quorum = 3;
    let mut b = DirectorBuilder::new();
    b.add_virtual_server(vs).unwrap();
    let mut d = b.build(t0).unwrap();
    drain(&mut d);
    assert_eq!(d.pool_quorum(VirtualServerId(0)), Some(true));
    d.handle_real_server_weight(t0, VirtualServerId(0), 0, Some(2))
        .unwrap();
    let out = drain(&mut d);
    let ops = ipvs_ops(&out);
    assert!(
        matches!(&ops[..], [Op::EditDest(_, dst)] if dst.weight == 2),
        "{ops:?}"
    );
    // Weight 2 < quorum 3: the pool lost its quorum.
    assert_eq!(d.pool_quorum(VirtualServerId(0)), Some(false));
    // The same weight again changes nothing; None restores 5.
    d.handle_real_server_weight(t0, VirtualServerId(0), 0, Some(2))
        .unwrap();
    assert!(ipvs_ops(&drain(&mut d)).is_empty());
    d.handle_real_server_weight(t0, VirtualServerId(0), 0, None)
        .unwrap();
    let ops = ipvs_ops(&drain(&mut d));
    assert!(
        matches!(&ops[..], [Op::EditDest(_, dst)] if dst.weight == 5),
        "{ops:?}"
    );
    assert_eq!(d.pool_quorum(VirtualServerId(0)), Some(true));
    assert!(matches!(
        d.handle_real_server_weight(t0, VirtualServerId(0), 9, None),
        Err(DirectorError::UnknownRealServer { .. })
    ));
}

/// keepalived's scripts: a real server's `notify_up`/`notify_down` on each health change,
/// then `quorum_up`/`quorum_down` when the quorum changes, no arguments added; with `omega`
/// a stop runs the live servers' `notify_down` and then `quorum_down`.
#[test]
fn real_server_and_quorum_scripts_and_omega() {
    let t0 = Instant::now();
    let key = ServiceKey::tcp(sa("10.0.0.100:80"));
    let script = |s: &str| Some(argv(&["/bin/echo", s]));
    let rs = |a: &str, n: &str| RealServer {
        notify_up: script(&format!("{n}-up")),
        notify_down: script(&format!("{n}-down")),
        ..RealServer::new(Destination::new(sa(a), Forward::Route, 1))
    };
    let mut vs = VirtualServerConfig::new(
        "web",
        Service::new(key, Scheduler::Rr),
        vec![rs("10.0.0.11:80", "a"), rs("10.0.0.12:80", "b")],
    );
    vs.quorum = 2;
    vs.quorum_up = script("q-up");
    vs.quorum_down = script("q-down");
    vs.omega = true;
    let mut b = DirectorBuilder::new();
    let id = b.add_virtual_server(vs.clone()).unwrap();
    let mut d = b.build(t0).unwrap();
    // Starting with quorum: no script (keepalived's set_quorum_states).
    assert!(drain(&mut d).notifies().is_empty());
    d.handle_real_server(t0, id, 0, false).unwrap();
    assert_eq!(
        drain(&mut d).notifies(),
        vec![
            argv(&["/bin/echo", "a-down"]),
            argv(&["/bin/echo", "q-down"])
        ]
    );
    d.handle_real_server(t0, id, 0, true).unwrap();
    assert_eq!(
        drain(&mut d).notifies(),
        vec![argv(&["/bin/echo", "a-up"]), argv(&["/bin/echo", "q-up"])]
    );
    d.handle_real_server(t0, id, 1, false).unwrap();
    let _ = drain(&mut d);
    // omega: the live server's notify_down, then quorum_down (even though already down).
    d.shutdown(t0);
    assert_eq!(
        drain(&mut d).notifies(),
        vec![
            argv(&["/bin/echo", "a-down"]),
            argv(&["/bin/echo", "q-down"])
        ]
    );
    // Without omega a stop runs nothing.
    vs.omega = false;
    let mut b = DirectorBuilder::new();
    b.add_virtual_server(vs.clone()).unwrap();
    let mut d = b.build(t0).unwrap();
    let _ = drain(&mut d);
    d.shutdown(t0);
    assert!(drain(&mut d).notifies().is_empty());
    // A pool that starts without quorum and with a sorry server runs quorum_down at start.
    vs.alive_on_start = false;
    vs.sorry_server = Some(Destination::new(sa("10.0.0.99:80"), Forward::Route, 1));
    let mut b = DirectorBuilder::new();
    b.add_virtual_server(vs.clone()).unwrap();
    let mut d = b.build(t0).unwrap();
    assert_eq!(
        drain(&mut d).notifies(),
        vec![argv(&["/bin/echo", "q-down"])]
    );
    // keepalived `rs_init_notifies`: the live servers' notify_up at start, before the
    // quorum's script.
    vs.init_notifies = true;
    vs.real_servers[1].alive_on_start = Some(true);
    let mut b = DirectorBuilder::new();
    b.add_virtual_server(vs.clone()).unwrap();
    let mut d = b.build(t0).unwrap();
    assert_eq!(
        drain(&mut d).notifies(),
        vec![argv(&["/bin/echo", "b-up"]), argv(&["/bin/echo", "q-down"])]
    );
    // An empty script is refused.
    vs.quorum_up = Some(Vec::new());
    assert!(matches!(
        DirectorBuilder::new().add_virtual_server(vs),
        Err(DirectorConfigError::EmptyCommand { .. })
    ));
}

/// keepalived `sorry_server_inhibit`: the sorry server stays at weight 0 while the quorum is
/// up; a virtual server group is one pool with one IPVS service per entry, each with the same
/// real servers (port 0 takes the service's port).
#[test]
fn sorry_inhibit_and_group_services() {
    let t0 = Instant::now();
    let k1 = ServiceKey::tcp(sa("10.0.0.100:80"));
    let k2 = ServiceKey::tcp(sa("10.0.0.101:8080"));
    let mut vs = VirtualServerConfig::new(
        "group",
        Service::new(k1, Scheduler::Rr),
        vec![RealServer::new(Destination::new(
            sa("10.0.0.11:0"),
            Forward::Route,
            1,
        ))],
    );
    vs.group_keys = vec![k2];
    vs.sorry_server = Some(Destination::new(sa("10.0.0.99:0"), Forward::Route, 1));
    vs.sorry_inhibit = true;
    let mut b = DirectorBuilder::new();
    let id = b.add_virtual_server(vs).unwrap();
    let mut d = b.build(t0).unwrap();
    let _ = drain(&mut d);
    let all = d.desired_services_of(id);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].service.key, k1);
    assert_eq!(all[1].service.key, k2);
    assert_eq!(
        all[1].destinations,
        vec![
            Destination::new(sa("10.0.0.11:8080"), Forward::Route, 1),
            Destination::new(sa("10.0.0.99:8080"), Forward::Route, 0),
        ]
    );
    assert_eq!(d.desired_ipvs().len(), 2);
    // The real server dies: the sorry server gets its weight, in both services.
    d.handle_real_server(t0, id, 0, false).unwrap();
    let mut ops = ipvs_ops(&drain(&mut d));
    ops.sort_by_key(|op| format!("{op:?}"));
    assert_eq!(
        ops,
        vec![
            Op::DelDest(k1, sa("10.0.0.11:80")),
            Op::DelDest(k2, sa("10.0.0.11:8080")),
            Op::EditDest(k1, Destination::new(sa("10.0.0.99:80"), Forward::Route, 1)),
            Op::EditDest(
                k2,
                Destination::new(sa("10.0.0.99:8080"), Forward::Route, 1)
            ),
        ]
    );
}

/// A [`MastershipGate`]: keepalived's `ha_suspend` holds health results while the instance
/// carrying the address is not master; an install gate keeps the services out of IPVS.
#[test]
fn mastership_gates_suspend_checks_and_install_services() {
    let t0 = Instant::now();
    let k1 = ServiceKey::tcp(sa("10.0.0.100:80"));
    let k2 = ServiceKey::tcp(sa("10.0.0.101:80"));
    let mut b = DirectorBuilder::new();
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.vips = vec![ha_failover::core::VipSpec::parse("10.0.0.100/24").unwrap()];
    let inst = b.add_instance(cfg).unwrap();
    let dest = |a: &str| RealServer::new(Destination::new(sa(a), Forward::Route, 1));
    let mut suspended = VirtualServerConfig::new(
        "suspended",
        Service::new(k1, Scheduler::Rr),
        vec![dest("10.0.0.11:80")],
    );
    suspended.gate = Some(MastershipGate {
        instances: vec![inst],
        effect: GateEffect::SuspendChecks,
    });
    let s = b.add_virtual_server(suspended).unwrap();
    let mut installed = VirtualServerConfig::new(
        "installed",
        Service::new(k2, Scheduler::Rr),
        vec![dest("10.0.0.12:80")],
    );
    installed.gate = Some(MastershipGate {
        instances: vec![inst],
        effect: GateEffect::Install,
    });
    let i = b.add_virtual_server(installed).unwrap();
    let mut d = b.build(t0).unwrap();
    let ops = ipvs_ops(&drain(&mut d));
    // The suspended pool is installed (keepalived installs it too); the install-gated one not.
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::AddService(s) if s.key == k1))
    );
    assert!(
        !ops.iter()
            .any(|o| matches!(o, Op::AddService(s) if s.key == k2)),
        "{ops:?}"
    );
    assert_eq!(d.pool_open(s), Some(false));
    assert!(d.installed_services(i).is_empty());
    // While suspended a failing check changes nothing.
    d.handle_real_server(t0, s, 0, false).unwrap();
    let o = drain(&mut d);
    assert!(ipvs_ops(&o).is_empty() && o.events.is_empty());
    assert_eq!(d.pool(s).unwrap().1, &[true]);
    // The instance becomes master: the held result applies, the other pool is installed.
    d.handle_timeout(t0 + master_down(100));
    assert!(d.holds_vips(inst));
    let ops = ipvs_ops(&drain(&mut d));
    assert!(
        ops.contains(&Op::DelDest(k1, sa("10.0.0.11:80"))),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|o| matches!(o, Op::AddService(s) if s.key == k2)),
        "{ops:?}"
    );
    assert!(ops.contains(&Op::AddDest(
        k2,
        Destination::new(sa("10.0.0.12:80"), Forward::Route, 1)
    )));
    assert_eq!(d.pool(s).unwrap().1, &[false]);
    assert_eq!(d.installed_services(i), vec![k2]);
    // Open: results apply at once.
    d.handle_real_server(t0, s, 0, true).unwrap();
    assert_eq!(
        ipvs_ops(&drain(&mut d)),
        vec![Op::AddDest(
            k1,
            Destination::new(sa("10.0.0.11:80"), Forward::Route, 1)
        )]
    );
    // A reload with the same configuration keeps the installed service (no delete and add).
    let rebuild = || {
        let mut b = DirectorBuilder::new();
        let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
        cfg.vips = vec![ha_failover::core::VipSpec::parse("10.0.0.100/24").unwrap()];
        let inst = b.add_instance(cfg).unwrap();
        let mut installed = VirtualServerConfig::new(
            "installed",
            Service::new(k2, Scheduler::Rr),
            vec![dest("10.0.0.12:80")],
        );
        installed.gate = Some(MastershipGate {
            instances: vec![inst],
            effect: GateEffect::Install,
        });
        b.add_virtual_server(installed).unwrap();
        b.build(t0).unwrap()
    };
    let new = rebuild();
    let changed = d.reconfigure_begin(t0, &new, &[]).unwrap();
    let report = d.reconfigure_finish(t0, new, &changed);
    assert_eq!(
        report.removed_services,
        vec![k1],
        "the suspended pool is gone"
    );
    let ops = ipvs_ops(&drain(&mut d));
    assert!(ops.is_empty(), "{ops:?}");
    let i = VirtualServerId(0);
    assert_eq!(d.installed_services(i), vec![k2]);
    // It steps down: the gated service is deleted.
    let t1 = t0 + master_down(100) + std::time::Duration::from_millis(10);
    d.handle_advert(t1, inst, advert(v4(3), 1, 200)).unwrap();
    assert!(!d.holds_vips(inst));
    let ops = ipvs_ops(&drain(&mut d));
    assert_eq!(ops, vec![Op::DelService(k2)]);
    assert!(d.installed_services(i).is_empty());
    // A gate naming an instance that does not exist is refused.
    let mut b = DirectorBuilder::new();
    let mut v = VirtualServerConfig::new("x", Service::new(k1, Scheduler::Rr), vec![]);
    v.gate = Some(MastershipGate {
        instances: vec![inst],
        effect: GateEffect::Install,
    });
    b.add_virtual_server(v).unwrap();
    assert!(matches!(
        b.build(t0),
        Err(DirectorConfigError::GateInstance { .. })
    ));
}
