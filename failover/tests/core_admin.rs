//! The administrative mode (heartbeat `hb_standby` / `hb_takeover`) and heartbeat's timings
//! (`deadtime`, `initdead`, `warntime`) on two directors in the simulator (real adverts as
//! bytes over simulated links, a virtual clock).
//!
//! - standby gives the addresses to the peer at once (priority 0) and stays backup at
//!   priority 1, taking over again only when the peer dies;
//! - takeover becomes master at once at priority 254 and the peer yields; auto gives the
//!   configured priority and preemption back;
//! - the mode survives a reload (an unchanged instance and a re-created one);
//! - a step that fails to start puts the instance in standby, the peer takes the resources;
//! - the address owner cannot be put in standby;
//! - deadtime: the backup takes over exactly a dead interval after the last advert; initdead
//!   delays the first election; warntime reports a late master once.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{
    AdminMode, AdminReason, Cause, DirectorBuilder, DirectorError, DirectorEvent, InstanceConfig,
    InstanceId, Step, StepKind, StepOp, VipSpec,
};
use ha_failover::sim::{LinkConfig, NodeConfig, NodeId, Reply, Sim, TraceKind};
use ha_failover::vrrp::Priority;
use ha_failover::vrrp::router::State;

const VI: InstanceId = InstanceId(0);

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn single(octet: u8, prio: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", "eth0", router(1, prio, v4(octet)));
    c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c
}

fn builder(c: InstanceConfig) -> DirectorBuilder {
    let mut b = DirectorBuilder::new();
    b.add_instance(c).unwrap();
    b
}

fn pair(seed: u64, a: DirectorBuilder, b: DirectorBuilder) -> (Sim, NodeId, NodeId) {
    let mut sim = Sim::new(Instant::now(), seed);
    let link = sim.add_link(LinkConfig::default());
    let a = sim
        .add_node(NodeConfig::new("a", a).interface("eth0", link))
        .unwrap();
    let b = sim
        .add_node(NodeConfig::new("b", b).interface("eth0", link))
        .unwrap();
    (sim, a, b)
}

fn set(sim: &mut Sim, node: NodeId, mode: AdminMode) -> Result<(), DirectorError> {
    sim.apply(node, |d, now| d.set_admin(now, VI, mode))
        .expect("running")
}

fn priority(sim: &Sim, node: NodeId) -> Priority {
    sim.director(node).unwrap().priority(VI).unwrap()
}

/// The virtual time of the node's transitions to `to` since `since`, with their causes.
fn transitions(sim: &Sim, node: NodeId, to: State, since: Duration) -> Vec<(Duration, Cause)> {
    sim.trace()
        .iter()
        .filter(|e| e.node == node && e.at >= since)
        .filter_map(|e| match &e.kind {
            TraceKind::Event(DirectorEvent::Transition { to: t, cause, .. }) if *t == to => {
                Some((e.at, *cause))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn standby_gives_the_addresses_at_once_and_keeps_availability() {
    // auto_failback on: a is home (101), b 100, preempt on.
    let (mut sim, a, b) = pair(1, builder(single(1, 101)), builder(single(2, 100)));
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    let t = sim.elapsed();
    set(&mut sim, a, AdminMode::Standby).unwrap();
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert!(!sim.holds_vips(a, VI));
    assert_eq!(priority(&sim, a), Priority(1));
    assert_eq!(
        transitions(&sim, a, State::Backup, t),
        [(t, Cause::Admin(AdminMode::Standby))]
    );
    // b takes over after its Skew_Time (priority 0 received), well under a second.
    sim.run_for(secs(1));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    let took = transitions(&sim, b, State::Master, t)[0].0 - t;
    assert!(took < ms(700), "{took:?}");
    assert_eq!(
        sim.director(a).unwrap().admin(VI),
        Some((AdminMode::Standby, Some(AdminReason::Operator)))
    );
    // It stays backup (priority 1 never preempts 100)...
    sim.run_for(secs(20));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![b]);
    // ... but takes over when the peer dies: high availability is kept.
    sim.crash(b);
    sim.run_for(secs(5));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(priority(&sim, a), Priority(1));
}

#[test]
fn takeover_is_at_once_and_auto_gives_the_configured_behaviour_back() {
    // auto_failback off: both 100; a started first, so a is master and b backup.
    let (mut sim, a, b) = pair(2, builder(single(1, 100)), builder(single(2, 100)));
    sim.run_for(secs(10));
    let (master, backup) = if sim.state(a, VI) == Some(State::Master) {
        (a, b)
    } else {
        (b, a)
    };
    let t = sim.elapsed();
    set(&mut sim, backup, AdminMode::Takeover).unwrap();
    // At once, without waiting for the Master_Down_Timer.
    assert_eq!(sim.state(backup, VI), Some(State::Master));
    assert_eq!(priority(&sim, backup), Priority(254));
    assert_eq!(
        transitions(&sim, backup, State::Master, t),
        [(t, Cause::Admin(AdminMode::Takeover))]
    );
    sim.run_for(secs(1));
    assert_eq!(sim.state(master, VI), Some(State::Backup));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![backup]);
    // Auto: priority 100 again; equal priorities do not preempt: it stays where it is.
    set(&mut sim, backup, AdminMode::Auto).unwrap();
    assert_eq!(priority(&sim, backup), Priority(100));
    sim.run_for(secs(10));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![backup]);
}

#[test]
fn auto_after_standby_preempts_again_with_a_higher_priority() {
    let (mut sim, a, b) = pair(3, builder(single(1, 101)), builder(single(2, 100)));
    sim.run_for(secs(10));
    set(&mut sim, a, AdminMode::Standby).unwrap();
    sim.run_for(secs(5));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    let t = sim.elapsed();
    set(&mut sim, a, AdminMode::Auto).unwrap();
    // The preempt hold of the standby ends: 101 > 100, a takes its resources back at once.
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(
        transitions(&sim, a, State::Master, t),
        [(t, Cause::Admin(AdminMode::Auto))]
    );
    sim.run_for(secs(1));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
}

#[test]
fn the_mode_survives_a_reload() {
    let (mut sim, a, b) = pair(4, builder(single(1, 101)), builder(single(2, 100)));
    sim.run_for(secs(10));
    set(&mut sim, a, AdminMode::Standby).unwrap();
    sim.run_for(secs(5));
    // Unchanged: kept as it is.
    let r = sim.reload(a, builder(single(1, 101))).unwrap();
    assert_eq!(r.kept, ["VI_1"]);
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(priority(&sim, a), Priority(1));
    // A higher priority: taken in place, still in standby, never preempts.
    let r = sim.reload(a, builder(single(1, 150))).unwrap();
    assert_eq!(r.reprioritized, ["VI_1"]);
    assert!(r.recreated.is_empty());
    assert_eq!(priority(&sim, a), Priority(1));
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    assert_eq!(
        sim.director(a).unwrap().admin(VI).map(|m| m.0),
        Some(AdminMode::Standby)
    );
    // Takeover, then a reload that re-creates the instance: master again at once.
    set(&mut sim, a, AdminMode::Takeover).unwrap();
    sim.run_for(secs(2));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    let mut moved = single(1, 120);
    moved.vips.push(VipSpec::parse("10.0.0.99/24").unwrap());
    let r = sim.reload(a, builder(moved)).unwrap();
    assert_eq!(r.recreated, ["VI_1"]);
    assert_eq!(priority(&sim, a), Priority(254));
    sim.run_for(secs(5));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
}

fn with_steps(octet: u8, prio: u8) -> DirectorBuilder {
    let mut c = single(octet, prio);
    for name in ["db", "fs", "web"] {
        c.steps
            .push(Step::new(name, StepKind::Service(name.into())));
    }
    builder(c)
}

#[test]
fn a_failed_start_puts_the_instance_in_standby_and_the_peer_takes_over() {
    let mut sim = Sim::new(Instant::now(), 5);
    let link = sim.add_link(LinkConfig::default());
    let a = sim
        .add_node(
            NodeConfig::new("a", with_steps(1, 101))
                .steps(Reply::succeed_after(ms(10)))
                .interface("eth0", link),
        )
        .unwrap();
    let b = sim
        .add_node(
            NodeConfig::new("b", with_steps(2, 100))
                .steps(Reply::succeed_after(ms(10)))
                .interface("eth0", link),
        )
        .unwrap();
    sim.set_step_reply(a, VI, 2, StepOp::Start, Reply::fail_after(ms(10)));
    sim.run_for(secs(10));
    assert_eq!(
        sim.director(a).unwrap().admin(VI),
        Some((AdminMode::Standby, Some(AdminReason::StartFailed)))
    );
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    assert_eq!(sim.resources(b, VI), [true; 3]);
    assert_eq!(sim.director(a).unwrap().steps_started(VI), [false; 3]);
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![b]);
}

#[test]
fn the_address_owner_cannot_be_put_in_standby() {
    let mut c = single(1, 255);
    c.router.address_owner = true;
    let (mut sim, a, _) = pair(6, builder(c), builder(single(2, 100)));
    sim.run_for(secs(2));
    let e = set(&mut sim, a, AdminMode::Standby).unwrap_err();
    assert!(e.to_string().contains("cannot be put in standby"), "{e}");
    assert_eq!(
        set(&mut sim, a, AdminMode::Takeover).map(|()| priority(&sim, a)),
        Ok(Priority::OWNER)
    );
    assert_eq!(
        sim.apply(a, |d, now| d.set_admin(now, InstanceId(7), AdminMode::Auto)),
        Some(Err(DirectorError::UnknownInstance(InstanceId(7))))
    );
}

#[test]
fn deadtime_initdead_and_warntime() {
    let hb = |octet, prio| {
        let mut c = single(octet, prio);
        c.router.dead_interval = Some(secs(5));
        c.router.initial_dead_interval = Some(secs(12));
        c.router.warn_interval = Some(secs(2));
        builder(c)
    };
    let (mut sim, a, b) = pair(7, hb(1, 101), hb(2, 100));
    // initdead: nobody is master before 12 s (3 x 1 s + skew would be under 4 s).
    sim.run_for(ms(11_900));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    // deadtime: a dies; b takes over 5 s after a's last advert (not 3 x 1 s + skew), and
    // warned once at 2 s.
    let t = sim.elapsed();
    sim.crash(a);
    sim.run_for(secs(10));
    let took = transitions(&sim, b, State::Master, t)[0].0 - t;
    assert!(took > secs(4) && took <= secs(5), "{took:?}");
    let late: Vec<Duration> = sim
        .trace()
        .iter()
        .filter(|e| e.node == b && e.at >= t)
        .filter_map(|e| match &e.kind {
            TraceKind::Event(DirectorEvent::LateAdvert { silent_for, .. }) => Some(*silent_for),
            _ => None,
        })
        .collect();
    assert_eq!(late, [secs(2)]);
    assert_eq!(sim.director(b).unwrap().late_adverts(VI), 1);
}
