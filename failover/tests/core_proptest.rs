//! Arbitrary input sequences never panic and keep the director's invariants.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{
    Contribution, Director, DirectorAction, DirectorBuilder, DirectorEvent, FenceAttempt,
    InstanceConfig, InstanceId, NotifyScripts, Step, StepKind, StepToken, SyncGroupConfig,
    TrackRef, TrackResult, TrackerConfig, TrackerId, TrackerKind, VipSpec, track,
};
use ha_failover::vrrp::Priority;
use ha_failover::vrrp::router::State;
use proptest::prelude::*;

const IFACES: [&str; 4] = ["eth0", "eth1", "eth2", "eth9"];

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Advert { inst: u32, prio: u8, high_src: bool },
    Link { iface: usize, up: bool },
    Track { tracker: u32, result: TrackResult },
    Fence { ok: bool },
    Step { ok: bool },
    StaleFence(u64),
    StaleStep(u64),
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..4000).prop_map(Op::Advance),
        5 => (0u32..4, any::<u8>(), any::<bool>())
            .prop_map(|(inst, prio, high_src)| Op::Advert { inst, prio, high_src }),
        2 => (0usize..4, any::<bool>()).prop_map(|(iface, up)| Op::Link { iface, up }),
        4 => (0u32..5, prop_oneof![
                Just(TrackResult::Up),
                Just(TrackResult::Down),
                (-2i32..3).prop_map(TrackResult::Exit),
                (-200i64..200).prop_map(TrackResult::Value),
            ])
            .prop_map(|(tracker, result)| Op::Track { tracker, result }),
        3 => any::<bool>().prop_map(|ok| Op::Fence { ok }),
        4 => any::<bool>().prop_map(|ok| Op::Step { ok }),
        1 => (0u64..50).prop_map(Op::StaleFence),
        1 => (0u64..50).prop_map(Op::StaleStep),
        1 => Just(Op::Shutdown),
    ]
}

fn build(t0: Instant) -> Director {
    let mut b = DirectorBuilder::new();
    let mut script = TrackerConfig::new(
        "chk",
        TrackerKind::Script {
            argv: argv(&["/chk"]),
        },
    );
    script.rise = 2;
    let script = b.add_tracker(script);
    let ping = b.add_tracker(TrackerConfig::new(
        "gw",
        TrackerKind::Ping {
            addresses: vec![v4(254)],
            interval: Duration::from_secs(1),
            dead: Duration::from_secs(3),
        },
    ));
    let file = b.add_tracker(TrackerConfig::new(
        "f",
        TrackerKind::File { path: "/f".into() },
    ));
    let pool = b.add_tracker(TrackerConfig::new(
        "web",
        TrackerKind::Pool { name: "web".into() },
    ));
    let eth9 = b.add_tracker(TrackerConfig::new(
        "eth9",
        TrackerKind::Interface {
            ifname: "eth9".into(),
        },
    ));
    let step = |n: &str| Step::new(n, StepKind::Service(n.into()));

    let mut c1 = InstanceConfig::new("VI_1", "eth0", router(1, 150, v4(2)));
    c1.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c1.excluded_vips
        .push(VipSpec::parse("fd00::1/64 dev eth3").unwrap());
    c1.track = vec![TrackRef::new(script, 20), TrackRef::new(eth9, -30)];
    c1.fence = true;
    c1.steps = vec![step("a"), step("b")];
    c1.notify.generic = Some(argv(&["/n"]));
    let mut c2 = InstanceConfig::new("VI_2", "eth1", router(2, 100, v4(2)));
    c2.vips.push(VipSpec::parse("10.0.1.100/24").unwrap());
    c2.track = vec![TrackRef::new(ping, 0), TrackRef::new(file, 2)];
    c2.steps = vec![step("c")];
    let mut c3 = InstanceConfig::new("OWNER", "eth0", router(3, 255, v4(2)));
    c3.vips.push(VipSpec::parse("10.0.0.3").unwrap());
    c3.track = vec![TrackRef::new(pool, 0).reversed(), TrackRef::new(eth9, -50)];
    let mut r4 = router(4, 50, v4(2));
    r4.startup_delay = Duration::from_secs(2);
    let mut c4 = InstanceConfig::new("VI_4", "eth2", r4);
    c4.track = vec![TrackRef::new(pool, -40).reversed(), TrackRef::new(file, -3)];
    c4.fence = true;
    let i1 = b.add_instance(c1).unwrap();
    let i2 = b.add_instance(c2).unwrap();
    let _ = b.add_instance(c3).unwrap();
    let i4 = b.add_instance(c4).unwrap();
    b.add_sync_group(SyncGroupConfig {
        name: "G".into(),
        members: vec![i1, i2, i4],
        notify: NotifyScripts {
            generic: Some(argv(&["/g"])),
            ..NotifyScripts::default()
        },
    })
    .unwrap();
    b.build(t0).unwrap()
}

#[derive(Default)]
struct Model {
    /// From VipsAcquired / VipsReleased.
    held: HashSet<InstanceId>,
    /// From AddVips / RemoveVips.
    added: HashSet<InstanceId>,
    fences: Vec<(InstanceId, FenceAttempt)>,
    steps: BTreeMap<InstanceId, StepToken>,
}

impl Model {
    fn absorb(&mut self, d: &mut Director) -> Result<(), TestCaseError> {
        let o = drain(d);
        // The last advert of each instance in a batch matches its state: only a master's
        // carries a non-zero priority.
        let mut last = BTreeMap::new();
        for (inst, tx) in &o.transmits {
            last.insert(*inst, tx.priority);
        }
        for (inst, prio) in last {
            prop_assert!(
                d.state(inst) == Some(State::Master) || prio == Priority::STOP,
                "{:?} in {:?} advertised {:?}",
                inst,
                d.state(inst),
                prio
            );
        }
        for e in &o.events {
            match e {
                DirectorEvent::VipsAcquired { instance } => {
                    prop_assert!(self.held.insert(*instance), "acquired twice")
                }
                DirectorEvent::VipsReleased { instance } => {
                    prop_assert!(self.held.remove(instance), "released unheld")
                }
                _ => {}
            }
        }
        for a in o.actions {
            match a {
                DirectorAction::AddVips { instance, vips } => {
                    prop_assert!(vips.iter().all(|v| v.dev.is_some()));
                    prop_assert!(self.added.insert(instance), "added twice");
                }
                DirectorAction::RemoveVips { instance, .. } => {
                    prop_assert!(self.added.remove(&instance), "removed unheld")
                }
                DirectorAction::Fence { instance, attempt } => {
                    self.fences.push((instance, attempt))
                }
                DirectorAction::RunStep {
                    instance, token, ..
                } => {
                    prop_assert!(
                        self.steps.insert(instance, token).is_none(),
                        "two steps in flight"
                    );
                }
                DirectorAction::Notify { argv } => {
                    prop_assert!(!argv.is_empty());
                    if argv[0] == "/n" || argv[0] == "/g" {
                        prop_assert_eq!(argv.len(), 5);
                        prop_assert!(
                            ["MASTER", "BACKUP", "FAULT", "STOP"].contains(&argv[3].as_str())
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn check(d: &Director, m: &Model) -> Result<(), TestCaseError> {
    let n = d.instance_count() as u32;
    for i in (0..n).map(InstanceId) {
        let state = d.state(i).unwrap();
        prop_assert_eq!(d.holds_vips(i), m.held.contains(&i));
        let cfg = d.instance_config(i).unwrap();
        let has_vips = !(cfg.vips.is_empty() && cfg.excluded_vips.is_empty());
        prop_assert_eq!(m.added.contains(&i), d.holds_vips(i) && has_vips);
        if d.holds_vips(i) {
            prop_assert_eq!(state, State::Master);
            prop_assert!(!d.is_fencing(i));
        }
        // The priority is the base plus the contributions, clamped; the owner keeps 255.
        let sum: i64 = cfg
            .track
            .iter()
            .filter_map(|r| {
                match track::contribution(r.weight, r.reverse, d.tracker_status(r.tracker).unwrap())
                {
                    Contribution::Add(v) => Some(v),
                    Contribution::Fault => None,
                }
            })
            .fold(0, i64::saturating_add);
        // A failed step start puts the instance in administrative standby (priority 1).
        let want = match d.admin(i).map(|a| a.0) {
            Some(ha_failover::core::AdminMode::Standby)
                if cfg.router.priority != Priority::OWNER =>
            {
                Priority(1)
            }
            _ => track::effective_priority(cfg.router.priority, sum),
        };
        prop_assert_eq!(d.priority(i), Some(want));
        if cfg.router.priority == Priority::OWNER {
            prop_assert_eq!(want, Priority::OWNER);
        }
    }
    {
        let g = ha_failover::core::GroupId(0);
        let members = d.group_members(g);
        let states: Vec<State> = members.iter().map(|&i| d.state(i).unwrap()).collect();
        prop_assert!(
            !(states.contains(&State::Master) && states.contains(&State::Backup)),
            "sync group split: {:?}",
            states
        );
        if members.iter().any(|&i| d.has_own_fault(i)) {
            prop_assert!(
                states
                    .iter()
                    .all(|s| matches!(s, State::Fault | State::Initialize)),
                "a member's fault must take the group to fault: {:?}",
                states
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_inputs_keep_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut d = build(t0);
        let mut m = Model::default();
        m.absorb(&mut d)?;
        check(&d, &m)?;
        for op in ops {
            match op {
                Op::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    d.handle_timeout(now);
                }
                Op::Advert { inst, prio, high_src } => {
                    let src = if high_src { v4(250) } else { v4(1) };
                    let vr = [1u8, 2, 3, 4][inst as usize];
                    d.handle_advert(now, InstanceId(inst), advert(src, vr, prio)).unwrap();
                }
                Op::Link { iface, up } => d.handle_link(now, IFACES[iface], up),
                Op::Track { tracker, result } => {
                    // Results of the wrong kind are rejected, never a panic.
                    let _ = d.handle_track_result(now, TrackerId(tracker), result);
                }
                Op::Fence { ok } => {
                    if !m.fences.is_empty() {
                        let (i, a) = m.fences.remove(0);
                        d.handle_fence_result(now, i, a, ok).unwrap();
                    }
                }
                Op::Step { ok } => {
                    if let Some((&i, &t)) = m.steps.iter().min_by_key(|(i, _)| **i) {
                        m.steps.remove(&i);
                        d.handle_step_result(now, i, t, ok).unwrap();
                    }
                }
                Op::StaleFence(a) => {
                    let _ = d.handle_fence_result(now, InstanceId((a % 5) as u32), FenceAttempt(a + 1000), true);
                }
                Op::StaleStep(t) => {
                    let _ = d.handle_step_result(now, InstanceId((t % 5) as u32), StepToken(t + 1000), true);
                }
                Op::Shutdown => d.shutdown(now),
            }
            m.absorb(&mut d)?;
            check(&d, &m)?;
            if let Some(t) = d.poll_timeout() {
                prop_assert!(t >= now || d.poll_timeout() == Some(t));
            }
        }
        // Answer every outstanding fence and step: an instance not holding its addresses ends
        // with no step started.
        for _ in 0..100 {
            if let Some((i, a)) = m.fences.pop() {
                d.handle_fence_result(now, i, a, true).unwrap();
            } else if let Some((&i, &t)) = m.steps.iter().next() {
                m.steps.remove(&i);
                d.handle_step_result(now, i, t, true).unwrap();
            } else {
                break;
            }
            m.absorb(&mut d)?;
            check(&d, &m)?;
        }
        prop_assert!(m.steps.is_empty());
        for i in (0..d.instance_count() as u32).map(InstanceId) {
            if !d.holds_vips(i) {
                prop_assert!(d.steps_started(i).iter().all(|s| !s), "{:?} {:?}", i, d.steps_started(i));
            }
        }
    }
}
