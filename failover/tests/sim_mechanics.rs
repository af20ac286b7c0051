//! The simulator's own mechanics (`ha_failover::sim`): unicast and multicast delivery, loss,
//! duplication, held packets during a stall, stale answers, errors.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_failover::core::{
    DirectorBuilder, DirectorError, InstanceConfig, InstanceId, TrackResult, TrackerId, VipSpec,
};
use ha_failover::sim::{
    FenceConfig, LinkConfig, LinkId, LossCause, NodeConfig, NodeId, Reply, Sim, TraceKind,
};
use ha_failover::vrrp::router::{Config, State};
use ha_failover::vrrp::wire::Family;
use ha_failover::vrrp::{Priority, Version, VrId};

const VI: InstanceId = InstanceId(0);

fn addr(n: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n))
}

fn instance(n: u8, prio: u8, peers: &[u8]) -> InstanceConfig {
    let mut r = Config::new(Version::V3, VrId::new(1).unwrap(), addr(n));
    r.priority = Priority(prio);
    r.peers = peers.iter().map(|&p| addr(p)).collect();
    let mut c = InstanceConfig::new("VI_1", "eth0", r);
    c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c
}

/// Nodes `n1..` with the given priorities (and unicast peers) on one link.
fn net(seed: u64, link: LinkConfig, nodes: &[(u8, &[u8])]) -> (Sim, LinkId, Vec<NodeId>) {
    let mut sim = Sim::new(Instant::now(), seed);
    let lan = sim.add_link(link);
    let ids = nodes
        .iter()
        .enumerate()
        .map(|(i, &(prio, peers))| {
            let n = i as u8 + 1;
            let mut b = DirectorBuilder::new();
            b.add_instance(instance(n, prio, peers)).unwrap();
            sim.add_node(NodeConfig::new(format!("n{n}"), b).interface("eth0", lan))
                .unwrap()
        })
        .collect();
    (sim, lan, ids)
}

fn delivered(sim: &Sim, to: NodeId, from: NodeId) -> usize {
    sim.trace()
        .iter()
        .filter(|e| {
            e.node == to && matches!(&e.kind, TraceKind::Delivered { from: f, .. } if *f == from)
        })
        .count()
}

#[test]
fn unicast_reaches_only_the_peer_with_that_address() {
    // n1 (master) sends only to n2; n3 hears nothing and becomes master too.
    let (mut sim, lan, n) = net(
        1,
        LinkConfig::default(),
        &[(200, &[2]), (100, &[1]), (50, &[])],
    );
    sim.set_trace_packets(true);
    sim.run_for(Duration::from_secs(10));
    assert!(delivered(&sim, n[1], n[0]) >= 5);
    assert_eq!(delivered(&sim, n[2], n[0]), 0);
    let vrid = VrId::new(1).unwrap();
    assert_eq!(
        sim.masters(lan, vrid, Family::Ipv4),
        [(n[0], VI), (n[2], VI)]
    );
    assert_eq!(sim.instances_on(lan, vrid, Family::Ipv4).len(), 3);
    assert!(sim.masters(lan, vrid, Family::Ipv6).is_empty());
}

#[test]
fn duplication_and_loss() {
    let dup = LinkConfig {
        duplicate: 1.0,
        ..LinkConfig::default()
    };
    let (mut sim, _, n) = net(2, dup, &[(200, &[]), (100, &[])]);
    sim.set_trace_packets(true);
    sim.run_for(Duration::from_secs(10));
    let sent = sim
        .trace()
        .iter()
        .filter(|e| e.node == n[0] && matches!(e.kind, TraceKind::Sent { .. }))
        .count();
    assert!(sent >= 5);
    assert_eq!(delivered(&sim, n[1], n[0]), 2 * sent);

    let lossy = LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    };
    let (mut sim, _, n) = net(3, lossy, &[(200, &[]), (100, &[])]);
    sim.set_trace_packets(true);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(delivered(&sim, n[1], n[0]), 0);
    assert!(sim.trace().iter().any(|e| matches!(
        e.kind,
        TraceKind::Lost {
            cause: LossCause::Link,
            ..
        }
    )));
    assert_eq!(sim.state(n[1], VI), Some(State::Master));
}

#[test]
fn a_stalled_node_holds_its_packets_and_feeds_them_late() {
    let (mut sim, _, n) = net(4, LinkConfig::default(), &[(200, &[]), (100, &[])]);
    sim.run_for(Duration::from_secs(10));
    sim.set_trace_packets(true);
    let t = sim.elapsed();
    // Longer than Master_Down_Interval: the adverts held meanwhile still keep it Backup.
    sim.stall(n[1], Duration::from_secs(5));
    assert!(sim.is_stalled(n[1]));
    sim.run_for(Duration::from_secs(6));
    assert!(!sim.is_stalled(n[1]));
    let wake = sim
        .trace()
        .iter()
        .find_map(|e| match e.kind {
            TraceKind::Wake { packets, .. } if e.node == n[1] => Some(packets),
            _ => None,
        })
        .unwrap();
    assert_eq!(wake, 5);
    assert_eq!(
        sim.transitions_since(t).count(),
        0,
        "{}",
        sim.trace_string()
    );
    assert!(sim.late_stats(n[1]).rescued >= 1);
}

#[test]
fn answers_to_a_crashed_director_are_stale() {
    let mut sim = Sim::new(Instant::now(), 5);
    let lan = sim.add_link(LinkConfig::default());
    let mut c = instance(1, 200, &[]);
    c.fence = true;
    let mut b = DirectorBuilder::new();
    b.add_instance(c).unwrap();
    let fence = FenceConfig {
        reply: Reply::succeed_after(Duration::from_secs(1)),
        power_off: false,
    };
    let node = NodeConfig::new("a", b).interface("eth0", lan).fence(fence);
    let a = sim.add_node(node).unwrap();
    sim.run_for(Duration::from_millis(3700));
    assert!(sim.director(a).unwrap().is_fencing(VI));
    sim.crash(a);
    sim.restart(a);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.trace().iter().any(|e| e.kind == TraceKind::StaleAnswer));
    assert!(!sim.holds_vips(a, VI));
}

#[test]
fn inputs_the_director_refuses_are_errors() {
    let (mut sim, _, n) = net(6, LinkConfig::default(), &[(200, &[])]);
    assert_eq!(
        sim.track_result(n[0], TrackerId(3), TrackResult::Up),
        Err(DirectorError::UnknownTracker(TrackerId(3)))
    );
    assert_eq!(sim.node("n1"), Some(n[0]));
    assert_eq!(sim.name(n[0]), "n1");
    assert_eq!(sim.instance(n[0], "VI_1"), Some(VI));
    let s = sim.trace_string();
    assert!(s.contains("(n1)"), "{s}");
}

#[test]
fn a_crashed_node_loses_its_addresses_and_a_restart_rebuilds_it() {
    let (mut sim, _, n) = net(7, LinkConfig::default(), &[(200, &[]), (100, &[])]);
    sim.run_for(Duration::from_secs(10));
    let vip: IpAddr = "10.0.0.100".parse().unwrap();
    assert_eq!(sim.vip_holders(vip), [n[0]]);
    sim.crash(n[0]);
    assert!(sim.vip_holders(vip).is_empty());
    assert_eq!(sim.state(n[0], VI), None);
    sim.run_for(Duration::from_secs(4));
    assert_eq!(sim.vip_holders(vip), [n[1]]);
    sim.restart(n[0]);
    assert_eq!(sim.state(n[0], VI), Some(State::Backup));
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.vip_holders(vip), [n[0]]);
    // A carrier down at restart is reported to the new director at once.
    sim.set_carrier(n[0], "eth0", false);
    sim.crash(n[0]);
    sim.restart(n[0]);
    assert_eq!(sim.state(n[0], VI), Some(State::Fault));
}
