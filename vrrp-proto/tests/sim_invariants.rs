//! Invariants of the VRRP election checked on generated scenarios in the deterministic
//! simulator (proptest: a failing case shrinks and prints its scenario, and the assertion
//! message carries the simulator's event trace).
//!
//! The case count per property defaults to a value that keeps this file well under 30 s in a
//! debug build. Run more with e.g.
//! `SIM_CASES=5000 cargo test -p ha-vrrp-proto --release --test sim_invariants`.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{Config, State, TrackId};
use ha_vrrp_proto::sim::{LinkConfig, LinkId, NodeId, Sim};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use proptest::prelude::*;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
struct NodeSpec {
    priority: u8,
    /// v3 only; v2 uses one second everywhere (RFC 3768 drops mismatched intervals).
    interval_cs: u16,
}

#[derive(Debug, Clone)]
enum Op {
    Crash(usize),
    Restart(usize),
    Shutdown(usize),
    SetPriority(usize, u8),
    Carrier(usize, bool),
    Fault(usize),
    ClearFault(usize),
    Loss(u8),
    Duplicate(u8),
    Partition(u8),
    Heal,
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    v3: bool,
    preempt: bool,
    unicast: bool,
    owner: bool,
    nodes: Vec<NodeSpec>,
    latency_us: u64,
    jitter_us: u64,
    /// (milliseconds since start, operation), during the fault window.
    ops: Vec<(u64, Op)>,
    fault_window_ms: u64,
    /// keepalived's preempt_delay, for every node.
    preempt_delay_ms: u64,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (1u8..=254, prop::sample::select(vec![20u16, 50, 100, 150])).prop_map(
        |(priority, interval_cs)| NodeSpec {
            priority,
            interval_cs,
        },
    )
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..n).prop_map(Op::Crash),
        3 => (0..n).prop_map(Op::Restart),
        1 => (0..n).prop_map(Op::Shutdown),
        3 => (0..n, 1u8..=254).prop_map(|(i, p)| Op::SetPriority(i, p)),
        2 => (0..n, any::<bool>()).prop_map(|(i, up)| Op::Carrier(i, up)),
        1 => (0..n).prop_map(Op::Fault),
        1 => (0..n).prop_map(Op::ClearFault),
        2 => (0u8..=80).prop_map(Op::Loss),
        1 => (0u8..=50).prop_map(Op::Duplicate),
        2 => any::<u8>().prop_map(Op::Partition),
        1 => Just(Op::Heal),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=5).prop_flat_map(|n| {
        (
            any::<u64>(),
            any::<bool>(),
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.15),
            prop::collection::vec(node_spec(), n),
            100u64..=5_000,
            0u64..=5_000,
            prop::collection::vec((0u64..20_000, op(n)), 0..12),
            1_000u64..=20_000,
            prop_oneof![3 => Just(0u64), 1 => 0u64..3_000],
        )
            .prop_map(
                |(
                    seed,
                    v3,
                    preempt,
                    unicast,
                    owner,
                    nodes,
                    latency_us,
                    jitter_us,
                    ops,
                    fault_window_ms,
                    preempt_delay_ms,
                )| Scenario {
                    seed,
                    v3,
                    preempt,
                    unicast,
                    owner,
                    nodes,
                    latency_us,
                    jitter_us,
                    ops,
                    fault_window_ms,
                    preempt_delay_ms,
                },
            )
    })
}

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8))
}

struct Harness {
    sim: Sim,
    link: LinkId,
    nodes: Vec<NodeId>,
    clean_link: LinkConfig,
    /// The largest advertisement interval of any node.
    max_interval: Duration,
    preempt_delay: Duration,
    carrier_down: Vec<bool>,
    faulted: Vec<bool>,
}

impl Harness {
    fn new(sc: &Scenario) -> Harness {
        let mut sim = Sim::new(Instant::now(), sc.seed);
        let clean_link = LinkConfig {
            latency: Duration::from_micros(sc.latency_us),
            jitter: Duration::from_micros(sc.jitter_us),
            loss: 0.0,
            duplicate: 0.0,
        };
        let link = sim.add_link(clean_link);
        let all: Vec<IpAddr> = (0..sc.nodes.len()).map(addr).collect();
        let mut max_interval = Duration::ZERO;
        let mut nodes = Vec::new();
        for (i, spec) in sc.nodes.iter().enumerate() {
            let version = if sc.v3 { Version::V3 } else { Version::V2 };
            let mut c = Config::new(version, VrId::new(10).unwrap(), addr(i));
            c.advert_interval = if sc.v3 {
                AdvertInterval::V3(Centiseconds::new(spec.interval_cs).unwrap())
            } else {
                AdvertInterval::V2(Seconds(1))
            };
            max_interval = max_interval.max(c.advert_interval.to_duration());
            c.priority = Priority(spec.priority);
            if sc.owner && i == 0 {
                c.priority = Priority::OWNER;
                c.address_owner = true;
            }
            c.preempt = sc.preempt;
            c.preempt_delay = Duration::from_millis(sc.preempt_delay_ms);
            if sc.unicast {
                c.peers = all.iter().copied().filter(|&a| a != addr(i)).collect();
            }
            nodes.push(sim.add_node(link, c).unwrap());
        }
        let n = nodes.len();
        Harness {
            sim,
            link,
            nodes,
            clean_link,
            max_interval,
            preempt_delay: Duration::from_millis(sc.preempt_delay_ms),
            carrier_down: vec![false; n],
            faulted: vec![false; n],
        }
    }

    fn apply(&mut self, op: &Op) {
        let mut link = self.clean_link;
        match *op {
            Op::Crash(i) => self.sim.crash(self.nodes[i]),
            Op::Restart(i) => self.sim.restart(self.nodes[i]),
            Op::Shutdown(i) => self.sim.shutdown(self.nodes[i]),
            // The owner's priority is fixed: the error is expected and harmless.
            Op::SetPriority(i, p) => drop(self.sim.set_priority(self.nodes[i], Priority(p))),
            Op::Carrier(i, up) => {
                self.carrier_down[i] = !up;
                self.sim.set_carrier(self.nodes[i], up);
            }
            Op::Fault(i) => {
                self.faulted[i] = true;
                self.sim.set_fault(self.nodes[i], TrackId(1));
            }
            Op::ClearFault(i) => {
                self.faulted[i] = false;
                self.sim.clear_fault(self.nodes[i]);
            }
            Op::Loss(pct) => {
                link.loss = f64::from(pct) / 100.0;
                self.sim.set_link(self.link, link);
            }
            Op::Duplicate(pct) => {
                link.duplicate = f64::from(pct) / 100.0;
                self.sim.set_link(self.link, link);
            }
            Op::Partition(mask) => {
                let side: Vec<NodeId> = (0..self.nodes.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| self.nodes[i])
                    .collect();
                self.sim.partition(self.link, &[&side]);
            }
            Op::Heal => self.sim.heal(self.link),
        }
    }

    /// Runs the fault window, then stops every fault: clean link, healed, carriers up, tracking
    /// cleared; at least one router alive. Returns when faults stopped (since base).
    fn run_faults(&mut self, sc: &Scenario) -> Duration {
        let base = self.sim.base();
        let mut ops = sc.ops.clone();
        ops.retain(|(t, _)| *t < sc.fault_window_ms);
        ops.sort_by_key(|(t, _)| *t);
        for (t, op) in &ops {
            self.sim.run_until(base + Duration::from_millis(*t));
            self.apply(op);
        }
        self.sim
            .run_until(base + Duration::from_millis(sc.fault_window_ms));
        self.sim.set_link(self.link, self.clean_link);
        self.sim.heal(self.link);
        for i in 0..self.nodes.len() {
            if self.carrier_down[i] {
                self.carrier_down[i] = false;
                self.sim.set_carrier(self.nodes[i], true);
            }
            if self.faulted[i] {
                self.faulted[i] = false;
                self.sim.clear_fault(self.nodes[i]);
            }
        }
        if self.live().is_empty() {
            self.sim.restart(self.nodes[0]);
        }
        self.sim.elapsed()
    }

    /// Routers that run (not crashed, not shut down).
    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .copied()
            .filter(|&n| self.sim.router(n).is_some_and(|r| !r.is_stopped()))
            .collect()
    }

    /// Master_Down_Interval at the largest interval and the lowest priority, plus one
    /// interval, plus two worst-case link delays (a stale advert in flight, then the new
    /// master's first advert), plus the preempt delay (preemption is deferred that long after
    /// entering Backup), plus a millisecond of slack.
    fn convergence_bound(&self) -> Duration {
        let i = self.max_interval;
        let mdi_max = i * 3 + i * 255 / 256;
        mdi_max
            + i
            + (self.clean_link.latency + self.clean_link.jitter) * 2
            + self.preempt_delay
            + Duration::from_millis(1)
    }

    fn best_live_priority(&self) -> Priority {
        self.live()
            .iter()
            .map(|&n| self.sim.router(n).unwrap().priority())
            .max()
            .unwrap()
    }

    fn check_one_master(&self, what: &str) -> Result<NodeId, TestCaseError> {
        let masters = self.sim.masters();
        prop_assert_eq!(
            masters.len(),
            1,
            "{}: masters {:?} at {:?}\ntrace:\n{}",
            what,
            masters,
            self.sim.elapsed(),
            self.sim.trace_string()
        );
        Ok(masters[0])
    }
}

/// Runs a scenario through its fault window and the convergence bound; checks exactly one
/// master, the preemption rule, and no transition afterwards.
fn converge_and_check(sc: &Scenario) -> Result<(), TestCaseError> {
    let mut h = Harness::new(sc);
    let faults_stopped = h.run_faults(sc);
    h.sim.run_for(h.convergence_bound());
    let master = h.check_one_master("after faults stopped + Master_Down_Interval + interval")?;
    if sc.preempt {
        let p = h.sim.router(master).unwrap().priority();
        prop_assert_eq!(
            p,
            h.best_live_priority(),
            "with preemption the master {} must have the highest live priority\ntrace:\n{}",
            master,
            h.sim.trace_string()
        );
    }
    // RFC 9568 section 6.1: the address owner always preempts, whatever Preempt_Mode says.
    if sc.owner && h.live().contains(&h.nodes[0]) {
        prop_assert_eq!(
            master,
            h.nodes[0],
            "a live owner must be master\ntrace:\n{}",
            h.sim.trace_string()
        );
    }
    let converged = h.sim.elapsed();
    h.sim.run_for(h.max_interval * 20);
    let flaps: Vec<_> = h.sim.transitions_since(converged).collect();
    prop_assert!(
        flaps.is_empty(),
        "flapping on a stable network after {:?} (faults stopped at {:?}): {:?}\ntrace:\n{}",
        converged,
        faults_stopped,
        flaps,
        h.sim.trace_string()
    );
    prop_assert_eq!(h.check_one_master("stable window")?, master);
    prop_assert!(h.sim.holds_vips(master));
    for n in h.nodes.iter().copied().filter(|&n| n != master) {
        prop_assert!(
            !h.sim.holds_vips(n),
            "{} holds the VIPs but is not master",
            n
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Once faults stop: exactly one master within Master_Down_Interval plus one interval;
    /// with preemption it has the highest live priority; then no flapping.
    #[test]
    fn one_master_after_faults_stop(sc in scenario()) {
        converge_and_check(&sc)?;
    }
}

proptest! {
    #![proptest_config(cases(500))]

    /// A partition gives one master per side; healing gives one master.
    #[test]
    fn partition_one_master_per_side_heals_to_one(
        seed in any::<u64>(),
        v3 in any::<bool>(),
        preempt in any::<bool>(),
        nodes in prop::collection::vec(node_spec(), 2..=5),
        mask in any::<u8>(),
    ) {
        let n = nodes.len();
        // A non-trivial cut: 1..=2^n - 2.
        let mask = 1 + mask % ((1u8 << n) - 2);
        let sc = Scenario {
            seed, v3, preempt, unicast: false, owner: false, nodes,
            latency_us: 1_000, jitter_us: 500, ops: vec![], fault_window_ms: 0,
            preempt_delay_ms: 0,
        };
        let mut h = Harness::new(&sc);
        h.sim.run_for(h.convergence_bound());
        h.check_one_master("before the partition")?;
        h.apply(&Op::Partition(mask));
        h.sim.run_for(h.convergence_bound());
        for side in [true, false] {
            let members: Vec<NodeId> =
                (0..n).filter(|i| (mask & (1 << i) != 0) == side).map(|i| h.nodes[i]).collect();
            let masters: Vec<_> = h.sim.masters().into_iter().filter(|m| members.contains(m)).collect();
            prop_assert_eq!(masters.len(), 1, "side {:?}: masters {:?}\n{}", members, masters, h.sim.trace_string());
        }
        h.apply(&Op::Heal);
        h.sim.run_for(h.convergence_bound());
        let m = h.check_one_master("after healing")?;
        if preempt {
            prop_assert_eq!(h.sim.router(m).unwrap().priority(), h.best_live_priority());
        }
    }

    /// With nopreempt, a recovered higher-priority router does not take over from the live
    /// master: the only transition is its own Initialize -> Backup.
    #[test]
    fn nopreempt_recovered_router_does_not_take_over(
        seed in any::<u64>(),
        v3 in any::<bool>(),
        nodes in prop::collection::vec(node_spec(), 2..=5),
        graceful in any::<bool>(),
    ) {
        // One interval for the cluster: a restarted v3 router starts with its own
        // Master_Down_Interval until it learns the master's interval (RFC 9568 section 6.4.1),
        // so with a much shorter own interval it would rightly take over before hearing the
        // master.
        let mut nodes = nodes;
        let interval = nodes[0].interval_cs;
        nodes.iter_mut().for_each(|s| s.interval_cs = interval);
        let sc = Scenario {
            seed, v3, preempt: false, unicast: false, owner: false, nodes,
            latency_us: 1_000, jitter_us: 1_000, ops: vec![], fault_window_ms: 0,
            preempt_delay_ms: 0,
        };
        let mut h = Harness::new(&sc);
        h.sim.run_for(h.convergence_bound());
        let first = h.check_one_master("initial election")?;
        if graceful { h.sim.shutdown(first) } else { h.sim.crash(first) }
        h.sim.run_for(h.convergence_bound());
        let second = h.check_one_master("after the master went away")?;
        prop_assert_ne!(first, second);
        let restarted_at = h.sim.elapsed();
        h.sim.restart(first);
        h.sim.run_for(h.max_interval * 30);
        let ts: Vec<_> = h.sim.transitions_since(restarted_at).collect();
        prop_assert!(
            ts.len() == 1 && ts[0].1 == first && ts[0].3 == State::Backup,
            "{:?}\n{}", ts, h.sim.trace_string()
        );
        prop_assert_eq!(h.sim.masters(), vec![second]);
    }

    /// A priority-0 handoff (graceful shutdown) elects the new master sooner than a crash.
    #[test]
    fn priority_zero_handoff_beats_crash_takeover(
        seed in any::<u64>(),
        v3 in any::<bool>(),
        preempt in any::<bool>(),
        nodes in prop::collection::vec(node_spec(), 2..=5),
        at_ms in 0u64..3_000,
    ) {
        let sc = Scenario {
            seed, v3, preempt, unicast: false, owner: false, nodes,
            latency_us: 1_000, jitter_us: 0, ops: vec![], fault_window_ms: 0,
            preempt_delay_ms: 0,
        };
        let takeover = |graceful: bool| -> Result<Duration, TestCaseError> {
            let mut h = Harness::new(&sc);
            h.sim.run_for(h.convergence_bound() + Duration::from_millis(at_ms));
            let m = h.check_one_master("initial election")?;
            let t = h.sim.elapsed();
            if graceful { h.sim.shutdown(m) } else { h.sim.crash(m) }
            h.sim.run_for(h.convergence_bound());
            let new = h
                .sim
                .transitions_since(t)
                .find(|e| e.3 == State::Master)
                .map(|e| e.0 - t);
            prop_assert!(new.is_some(), "no takeover\n{}", h.sim.trace_string());
            Ok(new.unwrap())
        };
        let graceful = takeover(true)?;
        let crash = takeover(false)?;
        prop_assert!(graceful < crash, "priority 0: {:?}, crash: {:?}", graceful, crash);
    }
}
