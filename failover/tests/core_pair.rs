//! Two directors on the simulator (`ha_failover::sim`): real adverts (bytes, the codec on
//! both ends) over simulated links, under a virtual clock.
//!
//! - a sync group fails over when one link of the master fails, and preempts back;
//! - fencing before takeover: a failed fence leaves the addresses with the other node, a
//!   successful one (powering the peer off) takes over;
//! - resource steps start in order after the addresses on the new master and stop in reverse
//!   on the old one;
//! - VRRPv2 authentication mismatch: every advert is dropped by the codec, both nodes become
//!   master;
//! - reload in place: a changed priority preempts, a fixed password ends the dual master.
//!
//! And three bugs the simulator found, fixed: a reload kept the replaced resource group's step
//! stops; a link lost during a stall reached the director after its timers fired; a
//! reconfigure after shutdown started the changed instances again.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{
    Cause, DirectorAction, DirectorBuilder, InstanceConfig, InstanceId, NotifyScripts,
    ReconfigureError, Step, StepKind, StepOp, SyncGroupConfig, TrackRef, TrackResult,
    TrackerConfig, TrackerId, TrackerKind, VipSpec,
};
use ha_failover::sim::{
    FenceConfig, LinkConfig, LinkId, NodeConfig, NodeId, Reply, Sim, TraceKind,
};
use ha_failover::vrrp::router::{Config, State};
use ha_failover::vrrp::wire::{Auth, Password};
use ha_failover::vrrp::{AdvertInterval, DropReason, Priority, Seconds, Version};

const VI: InstanceId = InstanceId(0);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn lan() -> LinkConfig {
    LinkConfig::default()
}

/// One instance `VI_1` (VRID 1) on eth0 with 10.0.0.100.
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

/// Two nodes `a` (10.0.0.1) and `b` (10.0.0.2) on one link, each from its own config.
fn pair(seed: u64, a: NodeConfig, b: NodeConfig) -> (Sim, LinkId, NodeId, NodeId) {
    let mut sim = Sim::new(Instant::now(), seed);
    let link = sim.add_link(lan());
    let a = sim.add_node(a.interface("eth0", link)).unwrap();
    let b = sim.add_node(b.interface("eth0", link)).unwrap();
    (sim, link, a, b)
}

/// A node's actions since `since`, without notify scripts, announcements and routes.
fn actions(sim: &Sim, node: NodeId, since: Duration) -> Vec<DirectorAction> {
    sim.trace()
        .iter()
        .filter(|e| e.node == node && e.at >= since)
        .filter_map(|e| match &e.kind {
            TraceKind::Action(a) => Some(a.clone()),
            _ => None,
        })
        .filter(|a| {
            !matches!(
                a,
                DirectorAction::Notify { .. }
                    | DirectorAction::Announce { .. }
                    | DirectorAction::AddRoutes { .. }
                    | DirectorAction::RemoveRoutes { .. }
            )
        })
        .collect()
}

/// A short name per action: `+vips`, `-vips`, `fence`, `start N`, `stop N`.
fn names(actions: &[DirectorAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            DirectorAction::AddVips { .. } => "+vips".to_owned(),
            DirectorAction::RemoveVips { .. } => "-vips".to_owned(),
            DirectorAction::Fence { .. } => "fence".to_owned(),
            DirectorAction::RunStep { index, op, .. } => match op {
                StepOp::Start => format!("start {index}"),
                StepOp::Stop => format!("stop {index}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

/// Steps until the node's instance is in `state` (at most `limit` of virtual time).
fn until_state(sim: &mut Sim, node: NodeId, state: State, limit: Duration) {
    let end = sim.now() + limit;
    while sim.state(node, VI) != Some(state) {
        assert!(
            sim.next_time().is_some_and(|t| t <= end),
            "{} not {state:?} within {limit:?}\n{}",
            sim.name(node),
            sim.trace_string()
        );
        sim.step();
    }
}

fn fences(sim: &Sim, node: NodeId) -> usize {
    sim.trace()
        .iter()
        .filter(|e| {
            e.node == node && matches!(e.kind, TraceKind::Action(DirectorAction::Fence { .. }))
        })
        .count()
}

// --- sync group failover ---

fn group_node(octet: u8, prio: u8) -> DirectorBuilder {
    let mut b = DirectorBuilder::new();
    let mut c1 = InstanceConfig::new("VI_1", "eth0", router(1, prio, v4(octet)));
    c1.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    let mut c2 = InstanceConfig::new(
        "VI_2",
        "eth1",
        router(2, prio, format!("10.0.1.{octet}").parse().unwrap()),
    );
    c2.vips.push(VipSpec::parse("10.0.1.100/24").unwrap());
    let i1 = b.add_instance(c1).unwrap();
    let i2 = b.add_instance(c2).unwrap();
    b.add_sync_group(SyncGroupConfig {
        name: "G".into(),
        members: vec![i1, i2],
        notify: NotifyScripts::default(),
    })
    .unwrap();
    b
}

fn states(sim: &Sim, node: NodeId) -> [Option<State>; 2] {
    [
        sim.state(node, InstanceId(0)),
        sim.state(node, InstanceId(1)),
    ]
}

#[test]
fn group_fails_over_on_a_link_loss_and_preempts_back() {
    let mut sim = Sim::new(Instant::now(), 1);
    let eth0 = sim.add_link(lan());
    let eth1 = sim.add_link(lan());
    let mut nodes = Vec::new();
    for (name, octet, prio) in [("a", 1, 200), ("b", 2, 100)] {
        let cfg = NodeConfig::new(name, group_node(octet, prio))
            .interface("eth0", eth0)
            .interface("eth1", eth1);
        nodes.push(sim.add_node(cfg).unwrap());
    }
    let (a, b) = (nodes[0], nodes[1]);
    const M: Option<State> = Some(State::Master);
    const B: Option<State> = Some(State::Backup);
    const F: Option<State> = Some(State::Fault);
    sim.run_for(secs(10));
    assert_eq!(states(&sim, a), [M, M]);
    assert_eq!(states(&sim, b), [B, B]);

    // A loses eth1: its whole group goes to Fault; B takes both within about a second
    // (VI_1's priority 0 on eth0 gives Skew_Time; VI_2 follows through the group).
    sim.set_carrier(a, "eth1", false);
    assert_eq!(states(&sim, a), [F, F]);
    sim.run_for(ms(700));
    assert_eq!(states(&sim, b), [M, M], "{}", sim.trace_string());

    // eth1 returns: A (200) preempts both back.
    sim.run_for(secs(5));
    sim.set_carrier(a, "eth1", true);
    sim.run_for(secs(10));
    assert_eq!(states(&sim, a), [M, M]);
    assert_eq!(states(&sim, b), [B, B]);
    for i in [InstanceId(0), InstanceId(1)] {
        assert!(sim.holds_vips(a, i));
        assert!(!sim.holds_vips(b, i));
    }
    assert_eq!(
        sim.vip_holders("10.0.1.100".parse().unwrap()),
        vec![a],
        "{}",
        sim.trace_string()
    );
}

// --- fencing ---

/// `a` (200) without fencing, `b` (100) fencing with `fence`; both converge with `a` master,
/// then the link is cut between them.
fn fenced_pair(seed: u64, fence: FenceConfig) -> (Sim, LinkId, NodeId, NodeId) {
    let mut vb = single(2, 100);
    vb.fence = true;
    let (mut sim, link, a, b) = pair(
        seed,
        NodeConfig::new("a", builder(single(1, 200))),
        NodeConfig::new("b", builder(vb)).fence(fence),
    );
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
    assert_eq!(fences(&sim, b), 0);
    sim.partition(link, &[&[a], &[b]]);
    (sim, link, a, b)
}

#[test]
fn a_failed_fence_leaves_the_addresses_with_the_other_node() {
    let fence = FenceConfig {
        reply: Reply::fail_after(ms(300)),
        power_off: false,
    };
    let (mut sim, link, a, b) = fenced_pair(2, fence);
    let cut = sim.elapsed();
    // B's Master_Down_Timer fires (3.6 s after A's last advert): Master, fencing, no
    // addresses.
    until_state(&mut sim, b, State::Master, master_down(100));
    assert!(sim.director(b).unwrap().is_fencing(VI));
    assert!(!sim.holds_vips(b, VI));
    // The fence fails: back to Backup (FenceFailed); it retries every Master_Down_Interval.
    sim.run_for(ms(300));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
    let failed: Vec<_> = sim
        .transitions_since(cut)
        .filter(|t| t.1 == b && t.5 == Cause::FenceFailed)
        .collect();
    assert_eq!(failed.len(), 1, "{}", sim.trace_string());
    sim.run_for(secs(20));
    assert!(fences(&sim, b) >= 4, "{}", sim.trace_string());
    // B never took the addresses; A kept them all along.
    assert_eq!(
        names(&actions(&sim, b, Duration::ZERO))
            .iter()
            .filter(|n| *n == "+vips")
            .count(),
        0
    );
    assert!(sim.holds_vips(a, VI));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![a]);
    // Healed: B hears A again and stays Backup.
    sim.heal(link);
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
}

#[test]
fn a_successful_fence_powers_the_peer_off_and_takes_over() {
    let fence = FenceConfig {
        reply: Reply::succeed_after(ms(500)),
        power_off: true,
    };
    let (mut sim, link, a, b) = fenced_pair(3, fence);
    let cut = sim.elapsed();
    until_state(&mut sim, b, State::Master, master_down(100));
    sim.run_for(ms(250));
    assert!(sim.director(b).unwrap().is_fencing(VI));
    assert!(!sim.holds_vips(b, VI));
    assert!(
        sim.holds_vips(a, VI),
        "A still holds them until it is fenced"
    );
    sim.run_for(ms(500));
    // A was powered off; B holds the addresses.
    assert!(sim.director(a).is_none());
    assert!(
        sim.trace()
            .iter()
            .any(|e| e.node == a && e.kind == TraceKind::PoweredOff { by: b })
    );
    assert_eq!(names(&actions(&sim, b, cut)), ["fence", "+vips"]);
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![b]);
    // A comes back after the partition heals and preempts (it does not fence).
    sim.heal(link);
    sim.restart(a);
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![a]);
}

// --- resource steps ---

fn with_steps(octet: u8, prio: u8) -> DirectorBuilder {
    with_steps_edited(octet, prio, |_| {})
}

/// [`with_steps`] with the instance edited by `edit` before it is added.
fn with_steps_edited(
    octet: u8,
    prio: u8,
    edit: impl FnOnce(&mut InstanceConfig),
) -> DirectorBuilder {
    let mut b = DirectorBuilder::new();
    let t = b.add_tracker(TrackerConfig::new(
        "chk",
        TrackerKind::Script {
            argv: argv(&["/bin/chk"]),
        },
    ));
    let mut c = single(octet, prio);
    c.track.push(TrackRef::new(t, -150));
    for name in ["db", "fs", "web"] {
        c.steps.push(Step {
            name: name.into(),
            kind: StepKind::Service(name.into()),
            timeout: None,
        });
    }
    edit(&mut c);
    b.add_instance(c).unwrap();
    b
}

#[test]
fn steps_start_in_order_after_the_addresses_and_stop_in_reverse() {
    let (mut sim, _, a, b) = pair(
        4,
        NodeConfig::new("a", with_steps(1, 200)).steps(Reply::succeed_after(ms(100))),
        NodeConfig::new("b", with_steps(2, 100)).steps(Reply::succeed_after(ms(100))),
    );
    sim.run_for(secs(10));
    assert_eq!(
        names(&actions(&sim, a, Duration::ZERO)),
        ["+vips", "start 0", "start 1", "start 2"]
    );
    assert!(actions(&sim, b, Duration::ZERO).is_empty());
    assert_eq!(sim.director(a).unwrap().steps_started(VI), [true; 3]);
    // Each start was asked only after the previous one's result.
    let order: Vec<&str> = sim
        .trace()
        .iter()
        .filter(|e| e.node == a)
        .filter_map(|e| match &e.kind {
            TraceKind::Action(DirectorAction::RunStep { .. }) => Some("ask"),
            TraceKind::StepAnswer { .. } => Some("done"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["ask", "done", "ask", "done", "ask", "done"]);

    // A's check fails: 200 - 150 = 50 < 100, B preempts.
    let t = sim.elapsed();
    sim.track_result(a, TrackerId(0), TrackResult::Exit(1))
        .unwrap();
    sim.run_for(secs(10));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(
        names(&actions(&sim, b, t)),
        ["+vips", "start 0", "start 1", "start 2"]
    );
    assert_eq!(
        names(&actions(&sim, a, t)),
        ["-vips", "stop 2", "stop 1", "stop 0"]
    );
    assert_eq!(sim.director(a).unwrap().steps_started(VI), [false; 3]);
    assert!(sim.director(a).unwrap().is_idle() && sim.director(b).unwrap().is_idle());
}

#[test]
fn a_failed_start_stops_the_started_steps_in_reverse_and_gives_the_resources_to_the_peer() {
    let (mut sim, _, a, _) = pair(
        5,
        NodeConfig::new("a", with_steps(1, 200)).steps(Reply::succeed_after(ms(10))),
        NodeConfig::new("b", with_steps(2, 100)),
    );
    sim.set_step_reply(a, VI, 2, StepOp::Start, Reply::fail_after(ms(10)));
    sim.run_for(secs(10));
    assert_eq!(
        names(&actions(&sim, a, Duration::ZERO)),
        [
            "+vips", "start 0", "start 1", "start 2", "-vips", "stop 1", "stop 0"
        ]
    );
    // heartbeat: the group goes to the peer (administrative standby, `core_admin.rs`).
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert!(!sim.holds_vips(a, VI));
}

// --- authentication ---

fn v2(octet: u8, prio: u8, password: &[u8]) -> InstanceConfig {
    let mut r = Config::new(Version::V2, vrid(1), v4(octet));
    r.priority = Priority(prio);
    r.advert_interval = AdvertInterval::V2(Seconds(1));
    let mut c = InstanceConfig::new("VI_1", "eth0", r);
    c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c.auth = Auth::SimpleText(Password::new(password).unwrap());
    c
}

#[test]
fn an_authentication_mismatch_drops_every_advert_and_both_become_master() {
    let (mut sim, _, a, b) = pair(
        6,
        NodeConfig::new("a", builder(v2(1, 200, b"secret1"))),
        NodeConfig::new("b", builder(v2(2, 100, b"secret2"))),
    );
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    for n in [a, b] {
        let drops = sim.drops(n, VI);
        assert!(drops.get(DropReason::AuthMismatch) >= 5, "{drops:?}");
        assert_eq!(drops.total(), drops.get(DropReason::AuthMismatch));
    }
    let vip: IpAddr = "10.0.0.100".parse().unwrap();
    assert_eq!(sim.vip_holders(vip), vec![a, b], "the real consequence");
    // The codec's drops are in the trace too.
    assert!(sim.trace().iter().any(|e| e.node == b
        && matches!(
            &e.kind,
            TraceKind::Delivered {
                result: Err(DropReason::AuthMismatch),
                ..
            }
        )));

    // Reloading B with the right password ends it: B's instance is re-created, hears A.
    let report = sim.reload(b, builder(v2(2, 100, b"secret1"))).unwrap();
    assert_eq!(report.recreated, ["VI_1"]);
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(sim.state(b, VI), Some(State::Backup));
    assert_eq!(sim.vip_holders(vip), vec![a]);
}

// --- reload ---

#[test]
fn reload_keeps_an_unchanged_node_and_a_raised_priority_preempts() {
    let (mut sim, _, a, b) = pair(
        7,
        NodeConfig::new("a", builder(single(1, 200))),
        NodeConfig::new("b", builder(single(2, 100))),
    );
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    let t = sim.elapsed();
    // The same configuration: nothing moves.
    let same = sim.reload(a, builder(single(1, 200))).unwrap();
    assert_eq!((same.kept.len(), same.recreated.len()), (1, 0));
    sim.run_for(secs(5));
    assert_eq!(
        sim.transitions_since(t).count(),
        0,
        "{}",
        sim.trace_string()
    );
    // B at 250: kept with its new priority (keepalived keeps the state across a reload), it
    // preempts A at once.
    let raised = sim.reload(b, builder(single(2, 250))).unwrap();
    assert!(raised.recreated.is_empty());
    assert_eq!(raised.reprioritized, ["VI_1"]);
    sim.run_for(secs(10));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    assert_eq!(sim.state(a, VI), Some(State::Backup));
    assert_eq!(sim.vip_holders("10.0.0.100".parse().unwrap()), vec![b]);
    // A changed master hands over at once (priority 0) and preempts back with its new
    // addresses.
    let mut moved = single(2, 250);
    moved.vips = vec![VipSpec::parse("10.0.0.101/24").unwrap()];
    let t = sim.elapsed();
    sim.reload(b, builder(moved)).unwrap();
    sim.run_for(ms(500));
    assert_eq!(
        sim.state(a, VI),
        Some(State::Master),
        "priority 0: Skew_Time"
    );
    sim.run_for(secs(10));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    assert_eq!(sim.vips(b), ["10.0.0.101".parse::<IpAddr>().unwrap()]);
    assert!(sim.vips(a).is_empty());
    // A's instance was kept (no reload there), it followed B twice.
    let a_moves: Vec<_> = sim
        .transitions_since(t)
        .filter(|x| x.1 == a)
        .map(|x| x.4)
        .collect();
    assert_eq!(a_moves, [State::Master, State::Backup]);
}

/// Core bug (reload.rs): `reconfigure_begin` shuts a changed master down, which releases its
/// addresses and asks for the first reverse stop (`stop 2`); `reconfigure_finish`, called
/// right after (as the runtime does), replaces the instance with a fresh one whose step
/// record is all "not started". `stop 1` and `stop 0` are never asked, the answer to `stop 2`
/// is ignored as stale, and when the instance is master again `start 0` and `start 1` run for
/// resources that were never stopped.
#[test]
fn reload_of_a_master_with_steps_stops_every_started_step_first() {
    let (mut sim, _, a, _) = pair(
        8,
        NodeConfig::new("a", with_steps(1, 200)).steps(Reply::succeed_after(ms(100))),
        NodeConfig::new("b", with_steps(2, 100)).steps(Reply::succeed_after(ms(100))),
    );
    sim.run_for(secs(10));
    assert_eq!(sim.director(a).unwrap().steps_started(VI), [true; 3]);
    let t = sim.elapsed();
    // A second address: the instance changes, not only its priority.
    sim.reload(
        a,
        with_steps_edited(1, 200, |c| {
            c.vips.push(VipSpec::parse("10.0.0.99/24").unwrap());
        }),
    )
    .unwrap();
    sim.run_for(secs(10));
    assert_eq!(sim.state(a, VI), Some(State::Master));
    assert_eq!(
        names(&actions(&sim, a, t)),
        [
            "-vips", "stop 2", "stop 1", "stop 0", "+vips", "start 0", "start 1", "start 2"
        ],
        "{}",
        sim.trace_string()
    );
}

/// Late-policy bug (late.rs call order): inputs other than adverts are given "after a
/// drive", so a link that went down during a stall is reported after the timers have been
/// fired up to now. B stalls for 3.5 s (its Master_Down_Interval is 3.61 s) and loses its
/// link 0.1 s in; when it runs again the late driver fires its Master_Down_Timer (A's adverts
/// stopped reaching it when the link went down) before B learns the link is down: B becomes
/// Master, asks to fence, takes the addresses, then goes to Fault. Without the stall B goes
/// straight to Fault. Here the fence script runs and powers off the healthy master A.
#[test]
fn a_link_lost_during_a_stall_does_not_make_a_master() {
    let mut vb = single(2, 100);
    vb.fence = true;
    let fence = FenceConfig {
        reply: Reply::OK,
        power_off: true,
    };
    let (mut sim, _, a, b) = pair(
        9,
        NodeConfig::new("a", builder(single(1, 200))),
        NodeConfig::new("b", builder(vb)).fence(fence),
    );
    sim.run_for(secs(11));
    assert!(master_down(100) > ms(3500));
    let t = sim.elapsed();
    sim.stall(b, ms(3500));
    sim.run_for(ms(100));
    sim.set_carrier(b, "eth0", false);
    sim.run_for(secs(5));
    let moves: Vec<_> = sim
        .transitions_since(t)
        .map(|x| (sim.name(x.1).to_owned(), x.3, x.4))
        .collect();
    assert_eq!(
        moves,
        [("b".to_owned(), State::Backup, State::Fault)],
        "{}",
        sim.trace_string()
    );
    assert!(sim.is_running(a), "the healthy master was fenced");
}

/// Core bug (reload.rs): `reconfigure_begin` / `reconfigure_finish` on a director that was
/// shut down (`Director::shutdown`, e.g. a SIGHUP during the shutdown grace period) re-create
/// every changed instance as a fresh, running router: the stopped node would take part again
/// (here it would preempt and take the addresses back). A stopped director refuses it.
#[test]
fn a_reconfigure_after_shutdown_does_not_start_instances() {
    let (mut sim, _, a, b) = pair(
        10,
        NodeConfig::new("a", builder(single(1, 200))),
        NodeConfig::new("b", builder(single(2, 100))),
    );
    sim.run_for(secs(10));
    sim.shutdown(a);
    sim.run_for(secs(5));
    assert_eq!(sim.state(b, VI), Some(State::Master));
    let new = builder(single(1, 210)).build(sim.now()).unwrap();
    sim.apply(a, |d, now| {
        assert_eq!(
            d.reconfigure_begin(now, &new, &[]),
            Err(ReconfigureError::Stopped)
        );
    })
    .unwrap();
    sim.run_for(secs(10));
    assert_eq!(
        sim.state(a, VI),
        Some(State::Initialize),
        "{}",
        sim.trace_string()
    );
    assert_eq!(sim.state(b, VI), Some(State::Master));
}
