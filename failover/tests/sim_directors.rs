//! Seeded multi-director scenarios on the simulator (`ha_failover::sim`): every scenario is
//! generated from one seed (2-4 directors, 1-3 virtual routers on 1-2 links, priorities,
//! preemption, sync groups, tracking, fencing and steps consistent across the nodes), runs
//! random faults (crash/restart/shutdown, carrier, partitions, loss/duplication/reordering,
//! stalls shorter than Master_Down_Interval, tracker results), then settles with no faults
//! and is checked:
//!
//! - exactly one master per (link, VRID) among the running nodes that are not in Fault (none
//!   if they all are);
//! - every sync group of a node has all its members in one state;
//! - no node holds the addresses of an instance that is not Master, and every Master holds
//!   them once its fences and steps are done;
//! - nothing moves any more on the stable network.
//!
//! Separately: a stall never causes a takeover when it is shorter than the stalled node's
//! Master_Down_Interval (a backup reading adverts late: the late policy's promise) or, for a
//! master (which really sends nothing while stalled), shorter than the backups'
//! Master_Down_Interval minus one advert interval and the link's jitter.
//!
//! On failure the seed, the scenario and the trace are printed; replay one seed with
//! `SIM_SEED=1234 cargo test -p ha-failover --test sim_directors`, run more with
//! `SIM_SEEDS=20000`.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_failover::core::{
    DirectorBuilder, GroupId, InstanceConfig, InstanceId, NotifyScripts, Step, StepKind,
    SyncGroupConfig, TrackRef, TrackResult, TrackerConfig, TrackerId, TrackerKind, VipSpec,
};
use ha_failover::sim::{FenceConfig, LinkConfig, LinkId, NodeConfig, NodeId, Reply, Rng, Sim};
use ha_failover::vrrp::router::{Config, State};
use ha_failover::vrrp::wire::{Auth, Family, Password};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

// --- scenarios ---

#[derive(Debug, Clone)]
struct Vr {
    link: usize,
    vrid: u8,
    v2: bool,
    ipv6: bool,
    unicast: bool,
    auth: bool,
    preempt: bool,
    preempt_delay: Duration,
    /// The priority unit: its sync group, or its own.
    unit: usize,
    group: Option<usize>,
    fence: bool,
    steps: usize,
}

#[derive(Debug, Clone)]
enum Fault {
    Crash(usize),
    Restart(usize),
    Shutdown(usize),
    Carrier(usize, usize, bool),
    Partition(usize, u8),
    Heal(usize),
    Net(usize, u8, u8, Duration),
    Stall(usize, Duration),
    Track(usize, bool),
    /// Reload the node in place with new priorities (one per unit).
    Reload(usize, Vec<u8>),
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    nodes: usize,
    links: usize,
    /// One advert interval for every router.
    interval: Duration,
    vrs: Vec<Vr>,
    groups: usize,
    /// `prio[node][unit]`.
    prio: Vec<Vec<u8>>,
    /// `track[node][unit]`: the weight with which the unit's instances track the node's
    /// script, if they do.
    track: Vec<Vec<Option<i32>>>,
    latency: Duration,
    jitter: Duration,
    /// How fences are answered during the faults (they succeed once the faults stop).
    fence: Vec<Reply>,
    steps: Vec<Reply>,
    faults: Vec<(Duration, Fault)>,
    window: Duration,
    /// Whether each node that is down when the faults stop is restarted.
    restart: Vec<bool>,
}

fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[rng.below(xs.len() as u64) as usize]
}

fn between(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.below(hi - lo + 1)
}

impl Scenario {
    fn generate(seed: u64, with_faults: bool) -> Scenario {
        let mut rng = Rng::new(seed);
        let nodes = between(&mut rng, 2, 4) as usize;
        let links = between(&mut rng, 1, 2) as usize;
        let interval_cs = pick(&mut rng, &[20u64, 50, 100]);
        let interval = Duration::from_millis(interval_cs * 10);
        let nvr = between(&mut rng, 1, 3) as usize;
        let groups = if nvr >= 2 && rng.chance(0.5) {
            between(&mut rng, 1, 2) as usize
        } else {
            0
        };
        // Per unit (a group, or one ungrouped router): preemption and its delay.
        let units = groups + nvr;
        let preempt: Vec<bool> = (0..units).map(|_| rng.chance(0.75)).collect();
        let delay: Vec<Duration> = (0..units)
            .map(|_| {
                if rng.chance(0.7) {
                    Duration::ZERO
                } else {
                    interval * between(&mut rng, 1, 4) as u32 / 2
                }
            })
            .collect();
        let mut vrs = Vec::new();
        for k in 0..nvr {
            let group = (groups > 0 && rng.chance(0.7)).then(|| rng.below(groups as u64) as usize);
            let unit = group.unwrap_or(groups + k);
            let v2 = interval_cs == 100 && rng.chance(0.3);
            vrs.push(Vr {
                link: rng.below(links as u64) as usize,
                vrid: 1 + k as u8,
                v2,
                ipv6: !v2 && rng.chance(0.2),
                unicast: rng.chance(0.2),
                auth: v2 && rng.chance(0.5),
                preempt: preempt[unit],
                preempt_delay: delay[unit],
                unit,
                group,
                fence: rng.chance(0.2),
                steps: rng.below(3) as usize,
            });
        }
        let prio = (0..nodes)
            .map(|_| {
                (0..units)
                    .map(|_| between(&mut rng, 1, 254) as u8)
                    .collect()
            })
            .collect();
        let track = (0..nodes)
            .map(|_| {
                (0..units)
                    .map(|_| {
                        rng.chance(0.3).then(|| {
                            if rng.chance(0.3) {
                                0
                            } else {
                                between(&mut rng, 0, 120) as i32 - 60
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        let latency = Duration::from_micros(between(&mut rng, 100, 5_000));
        let jitter = Duration::from_micros(rng.below(5_000));
        let fence = (0..nodes)
            .map(|_| {
                let d = Duration::from_millis(rng.below(300));
                if with_faults && rng.chance(0.3) {
                    Reply::fail_after(d)
                } else {
                    Reply::succeed_after(d)
                }
            })
            .collect();
        let steps = (0..nodes)
            .map(|_| {
                let d = Duration::from_millis(rng.below(200));
                if rng.chance(0.1) {
                    Reply::fail_after(d)
                } else {
                    Reply::succeed_after(d)
                }
            })
            .collect();
        let window = interval * rng.below(16) as u32;
        let mut faults = Vec::new();
        if with_faults {
            // Master_Down_Interval is at least 3 intervals.
            let mdi = interval * 3;
            for _ in 0..rng.below(13) {
                let at = rng.duration_up_to(window);
                let n = rng.below(nodes as u64) as usize;
                let l = rng.below(links as u64) as usize;
                let f = match rng.below(21) {
                    0..=2 => Fault::Crash(n),
                    3..=5 => Fault::Restart(n),
                    6 => Fault::Shutdown(n),
                    7..=8 => Fault::Carrier(n, l, rng.chance(0.5)),
                    9..=10 => Fault::Partition(l, rng.next_u64() as u8),
                    11 => Fault::Heal(l),
                    12..=13 => Fault::Net(
                        l,
                        rng.below(81) as u8,
                        rng.below(51) as u8,
                        Duration::from_micros(rng.below(20_000)),
                    ),
                    14..=16 => Fault::Stall(n, rng.duration_up_to(mdi)),
                    17..=19 => Fault::Track(n, rng.chance(0.5)),
                    _ => Fault::Reload(
                        n,
                        (0..units)
                            .map(|_| between(&mut rng, 1, 254) as u8)
                            .collect(),
                    ),
                };
                faults.push((at, f));
            }
            faults.sort_by_key(|(t, _)| *t);
        }
        let restart = (0..nodes).map(|_| rng.chance(0.5)).collect();
        Scenario {
            seed,
            nodes,
            links,
            interval,
            vrs,
            groups,
            prio,
            track,
            latency,
            jitter,
            fence,
            steps,
            faults,
            window,
            restart,
        }
    }

    fn addr(&self, vr: &Vr, node: usize) -> IpAddr {
        if vr.ipv6 {
            IpAddr::V6(Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0,
                vr.link as u16,
                node as u16 + 1,
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, vr.link as u8, 0, node as u8 + 1))
        }
    }

    fn vip(&self, vr: &Vr) -> VipSpec {
        if vr.ipv6 {
            let a = Ipv6Addr::new(
                0x2001,
                0xdb8,
                vr.link as u16,
                0,
                0,
                0,
                0,
                0x100 + vr.vrid as u16,
            );
            VipSpec::new(IpAddr::V6(a), 64)
        } else {
            VipSpec::new(
                IpAddr::V4(Ipv4Addr::new(10, vr.link as u8, 0, 100 + vr.vrid)),
                24,
            )
        }
    }

    fn builder(&self, n: usize) -> DirectorBuilder {
        self.builder_with(n, &self.prio[n])
    }

    /// Node `n`'s configuration with these priorities (one per unit).
    fn builder_with(&self, n: usize, prio: &[u8]) -> DirectorBuilder {
        let mut b = DirectorBuilder::new();
        let chk = b.add_tracker(TrackerConfig::new(
            "chk",
            TrackerKind::Script {
                argv: vec!["/bin/chk".into()],
            },
        ));
        let mut members = vec![Vec::new(); self.groups];
        for vr in &self.vrs {
            let version = if vr.v2 { Version::V2 } else { Version::V3 };
            let mut r = Config::new(version, VrId::new(vr.vrid).unwrap(), self.addr(vr, n));
            r.priority = Priority(prio[vr.unit]);
            r.address_owner = prio[vr.unit] == 255;
            r.advert_interval = if vr.v2 {
                AdvertInterval::V2(Seconds(1))
            } else {
                let cs = (self.interval.as_millis() / 10) as u16;
                AdvertInterval::V3(Centiseconds::new(cs).unwrap())
            };
            r.preempt = vr.preempt;
            r.preempt_delay = vr.preempt_delay;
            if vr.unicast {
                r.peers = (0..self.nodes)
                    .filter(|&m| m != n)
                    .map(|m| self.addr(vr, m))
                    .collect();
            }
            let mut c =
                InstanceConfig::new(format!("VI_{}", vr.vrid), format!("eth{}", vr.link), r);
            c.vips.push(self.vip(vr));
            if vr.auth {
                c.auth = Auth::SimpleText(Password::new(b"pw").unwrap());
            }
            c.fence = vr.fence;
            c.steps = (0..vr.steps)
                .map(|s| Step {
                    name: format!("s{s}"),
                    kind: StepKind::Service(format!("svc{s}")),
                    timeout: None,
                })
                .collect();
            if let Some(w) = self.track[n][vr.unit] {
                c.track.push(TrackRef::new(chk, w));
            }
            let id = b.add_instance(c).unwrap();
            if let Some(g) = vr.group {
                members[g].push(id);
            }
        }
        for (g, members) in members.into_iter().enumerate() {
            if !members.is_empty() {
                b.add_sync_group(SyncGroupConfig {
                    name: format!("G{g}"),
                    members,
                    notify: NotifyScripts::default(),
                })
                .unwrap();
            }
        }
        b
    }

    fn clean_link(&self) -> LinkConfig {
        LinkConfig {
            latency: self.latency,
            jitter: self.jitter,
            loss: 0.0,
            duplicate: 0.0,
        }
    }

    /// The longest Master_Down_Interval (priority 1) plus one interval.
    fn mdi_max(&self) -> Duration {
        let i = self
            .vrs
            .iter()
            .map(|v| {
                if v.v2 {
                    Duration::from_secs(1)
                } else {
                    self.interval
                }
            })
            .max()
            .unwrap();
        i * 4
    }

    /// Long enough for everything to settle after the faults stop.
    fn settle(&self) -> Duration {
        let delay = self.vrs.iter().map(|v| v.preempt_delay).max().unwrap();
        self.mdi_max() * 6 + delay * 3 + Duration::from_secs(2)
    }
}

// --- the harness ---

struct Run {
    sc: Scenario,
    sim: Sim,
    links: Vec<LinkId>,
    nodes: Vec<NodeId>,
    /// Each node's priorities now (reloads change them).
    prio: Vec<Vec<u8>>,
}

impl Run {
    fn new(sc: Scenario) -> Run {
        let mut sim = Sim::new(Instant::now(), sc.seed ^ 0x5eed_5eed_5eed_5eed);
        let links: Vec<LinkId> = (0..sc.links)
            .map(|_| sim.add_link(sc.clean_link()))
            .collect();
        let mut nodes = Vec::new();
        for n in 0..sc.nodes {
            let mut cfg = NodeConfig::new(format!("d{n}"), sc.builder(n))
                .fence(FenceConfig {
                    reply: sc.fence[n],
                    power_off: false,
                })
                .steps(sc.steps[n]);
            for (l, &link) in links.iter().enumerate() {
                cfg = cfg.interface(format!("eth{l}"), link);
            }
            nodes.push(sim.add_node(cfg).unwrap());
        }
        Run {
            prio: sc.prio.clone(),
            sc,
            sim,
            links,
            nodes,
        }
    }

    fn apply(&mut self, f: &Fault) {
        let node = |n: usize| NodeId(n);
        match *f {
            Fault::Crash(n) => self.sim.crash(node(n)),
            Fault::Restart(n) => self.sim.restart(node(n)),
            Fault::Shutdown(n) => self.sim.shutdown(node(n)),
            Fault::Carrier(n, l, up) => self.sim.set_carrier(node(n), &format!("eth{l}"), up),
            Fault::Partition(l, mask) => {
                let side: Vec<NodeId> = (0..self.sc.nodes)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(node)
                    .collect();
                self.sim.partition(self.links[l], &[&side]);
            }
            Fault::Heal(l) => self.sim.heal(self.links[l]),
            Fault::Net(l, loss, dup, jitter) => {
                let mut c = self.sc.clean_link();
                c.loss = f64::from(loss) / 100.0;
                c.duplicate = f64::from(dup) / 100.0;
                c.jitter = jitter;
                self.sim.set_link(self.links[l], c);
            }
            Fault::Stall(n, d) => self.sim.stall(node(n), d),
            Fault::Track(n, up) => {
                let r = TrackResult::Exit(if up { 0 } else { 1 });
                self.sim.track_result(node(n), TrackerId(0), r).unwrap();
            }
            Fault::Reload(n, ref prio) => {
                for (u, &p) in prio.iter().enumerate() {
                    self.prio[n][u] = p;
                }
                let b = self.sc.builder_with(n, &self.prio[n]);
                // A crashed or shut-down node is not reloaded.
                if self.sim.is_running(node(n)) {
                    self.sim.reload(node(n), b).unwrap();
                }
            }
        }
    }

    /// Runs the faults, then stops them all: clean links, healed, carriers up, trackers up,
    /// some of the nodes that are down restarted.
    fn run_faults(&mut self) {
        let base = self.sim.base();
        for (t, f) in self.sc.faults.clone() {
            self.sim.run_until(base + t);
            self.apply(&f);
        }
        self.sim.run_until(base + self.sc.window);
        for l in 0..self.sc.links {
            self.sim.set_link(self.links[l], self.sc.clean_link());
            self.sim.heal(self.links[l]);
        }
        for n in 0..self.sc.nodes {
            let node = self.nodes[n];
            for l in 0..self.sc.links {
                self.sim.set_carrier(node, &format!("eth{l}"), true);
            }
            self.sim
                .track_result(node, TrackerId(0), TrackResult::Exit(0))
                .unwrap();
            let fence = FenceConfig {
                reply: Reply::succeed_after(self.sc.fence[n].delay),
                power_off: false,
            };
            self.sim.set_fence(node, fence);
            if !self.sim.is_running(node) && self.sc.restart[n] {
                self.sim.restart(node);
            }
        }
    }

    fn fail(&self, what: &str) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "seed {} at {:?}: {what}\nreplay: SIM_SEED={} cargo test -p ha-failover --test sim_directors\n{:#?}\nstates:\n",
            self.sc.seed,
            self.sim.elapsed(),
            self.sc.seed,
            self.sc
        ));
        for &n in &self.nodes {
            let states: Vec<_> = (0..self.sc.vrs.len())
                .map(|k| self.sim.state(n, InstanceId(k as u32)))
                .collect();
            s.push_str(&format!(
                "  {n} running={} {states:?} vips={:?}\n",
                self.sim.is_running(n),
                self.sim.vips(n)
            ));
        }
        s.push_str(&format!("trace:\n{}", self.sim.trace_string()));
        s
    }

    /// The invariants of a settled network.
    fn check(&self) -> Result<(), String> {
        for (k, vr) in self.sc.vrs.iter().enumerate() {
            let vrid = VrId::new(vr.vrid).unwrap();
            let family = if vr.ipv6 { Family::Ipv6 } else { Family::Ipv4 };
            let link = self.links[vr.link];
            let on = self.sim.instances_on(link, vrid, family);
            let eligible = on
                .iter()
                .filter(|&&(n, i)| self.sim.state(n, i) != Some(State::Fault))
                .count();
            let masters = self.sim.masters(link, vrid, family);
            let want = usize::from(eligible > 0);
            if masters.len() != want {
                return Err(self.fail(&format!(
                    "VI_{}: {} masters {masters:?} ({eligible} not in Fault)",
                    k + 1,
                    masters.len()
                )));
            }
        }
        for &n in &self.nodes {
            let Some(d) = self.sim.director(n) else {
                if !self.sim.vips(n).is_empty() {
                    return Err(self.fail(&format!("{n} is down and holds addresses")));
                }
                continue;
            };
            for g in 0..self.sc.groups {
                let members = d.group_members(GroupId(g as u32));
                let states: Vec<_> = members.iter().map(|&m| d.state(m)).collect();
                if states.windows(2).any(|w| w[0] != w[1]) {
                    return Err(self.fail(&format!("{n}: sync group G{g} split: {states:?}")));
                }
            }
            for k in 0..d.instance_count() {
                let i = InstanceId(k as u32);
                let master = d.state(i) == Some(State::Master);
                let holds = self.sim.holds_vips(n, i);
                if holds != d.holds_vips(i) {
                    return Err(self.fail(&format!("{n} {i:?}: actions and director disagree")));
                }
                if holds && !master {
                    return Err(self.fail(&format!(
                        "{n} {i:?} holds its addresses in {:?}",
                        d.state(i)
                    )));
                }
                if master && d.is_idle() && !holds {
                    return Err(self.fail(&format!("{n} {i:?} is Master without its addresses")));
                }
                let running = self.sim.resources(n, i);
                if d.is_idle() && !master && running.contains(&true) {
                    return Err(self.fail(&format!(
                        "{n} {i:?} in {:?} has resources running: {running:?}",
                        d.state(i)
                    )));
                }
                if d.is_idle() && running != d.steps_started(i) {
                    return Err(self.fail(&format!(
                        "{n} {i:?}: resources {running:?}, director {:?}",
                        d.steps_started(i)
                    )));
                }
            }
        }
        Ok(())
    }
}

fn scenario(seed: u64) -> Result<(), String> {
    let sc = Scenario::generate(seed, true);
    let settle = sc.settle();
    let stable = sc.mdi_max() * 3;
    let mut run = Run::new(sc);
    run.run_faults();
    run.sim.run_for(settle);
    run.check()?;
    let settled = run.sim.elapsed();
    run.sim.run_for(stable);
    let moves: Vec<_> = run.sim.transitions_since(settled).collect();
    if !moves.is_empty() {
        return Err(run.fail(&format!("moves on a stable network: {moves:?}")));
    }
    run.check()
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("SIM_SEED").ok().and_then(|v| v.parse().ok()) {
        return vec![s];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    (0..n).collect()
}

/// Runs `f` on every seed of one residue class (the tests split the seeds to run in
/// parallel) and reports the first failure.
fn each_seed(class: u64, classes: u64, default: u64, f: impl Fn(u64) -> Result<(), String>) {
    for seed in seeds(default)
        .into_iter()
        .filter(|s| std::env::var("SIM_SEED").is_ok() || s % classes == class)
    {
        if let Err(e) = f(seed) {
            panic!("{e}");
        }
    }
}

const SEEDS: u64 = 4000;

#[test]
fn invariants_after_faults_settle_even_seeds() {
    each_seed(0, 2, SEEDS, scenario);
}

#[test]
fn invariants_after_faults_settle_odd_seeds() {
    each_seed(1, 2, SEEDS, scenario);
}

#[test]
fn same_seed_same_trace() {
    for seed in [3, 77, 1234] {
        let trace = |s: u64| {
            let mut run = Run::new(Scenario::generate(s, true));
            run.sim.set_trace_packets(true);
            run.run_faults();
            run.sim.run_for(Duration::from_secs(5));
            run.sim.trace().to_vec()
        };
        let a = trace(seed);
        assert!(a.len() > 10);
        assert_eq!(a, trace(seed), "seed {seed}");
        assert_ne!(a, trace(seed + 1), "seed {seed}");
    }
}

// --- stalls ---

/// After convergence, one node stalls for less than the bound of its role; nothing moves.
fn stall_scenario(seed: u64) -> Result<(), String> {
    let mut sc = Scenario::generate(seed, false);
    // Tracking only changes priorities here; fencing and steps play no part.
    sc.jitter = sc.jitter.min(Duration::from_millis(1));
    let mut rng = Rng::new(seed ^ 0x57a1);
    let settle = sc.settle();
    let mut run = Run::new(sc);
    run.sim.run_for(settle);
    run.check()?;
    let n = NodeId(rng.below(run.sc.nodes as u64) as usize);
    let Some(bound) = stall_bound(&run, n) else {
        return Ok(());
    };
    let d = rng.duration_up_to(bound);
    let t = run.sim.elapsed();
    run.sim.stall(n, d);
    run.sim.run_for(d + run.sc.mdi_max() * 2);
    let moves: Vec<_> = run.sim.transitions_since(t).collect();
    if !moves.is_empty() {
        return Err(run.fail(&format!(
            "a stall of {n} for {d:?} (bound {bound:?}) moved {moves:?}"
        )));
    }
    run.check()
}

/// How long node `n` may stall without a takeover: for each of its instances, its own
/// Master_Down_Interval if it is a Backup (the late policy's promise), or, if it is Master,
/// the shortest Master_Down_Interval of the other nodes' backups minus one interval and the
/// link's jitter (a stalled master sends nothing). `None` when nothing is to be promised
/// (the node is not running, or has nothing in Backup or Master).
fn stall_bound(run: &Run, n: NodeId) -> Option<Duration> {
    let d = run.sim.director(n)?;
    let mut bound: Option<Duration> = None;
    for (k, vr) in run.sc.vrs.iter().enumerate() {
        let i = InstanceId(k as u32);
        let r = d.router(i)?;
        let b = match r.state() {
            State::Backup => r.master_down_interval(),
            State::Master => {
                let vrid = VrId::new(vr.vrid).unwrap();
                let family = if vr.ipv6 { Family::Ipv6 } else { Family::Ipv4 };
                let backups = run
                    .sim
                    .instances_on(run.links[vr.link], vrid, family)
                    .into_iter()
                    .filter(|&(m, _)| m != n)
                    .filter_map(|(m, j)| run.sim.director(m)?.router(j).cloned())
                    .filter(|r| r.state() == State::Backup)
                    .map(|r| r.master_down_interval())
                    .min();
                match backups {
                    Some(mdi) => {
                        let interval = r.config().advert_interval.to_duration();
                        mdi.saturating_sub(interval + run.sc.jitter + Duration::from_millis(1))
                    }
                    None => continue,
                }
            }
            State::Fault | State::Initialize => continue,
        };
        bound = Some(bound.map_or(b, |x| x.min(b)));
    }
    bound
}

#[test]
fn a_stall_shorter_than_master_down_interval_never_causes_a_takeover() {
    each_seed(0, 1, SEEDS / 2, stall_scenario);
}

/// The stalls above do exercise the late policy: some adverts are rescued.
#[test]
fn stalled_backups_are_rescued_by_the_late_policy() {
    let mut rescued = 0;
    for seed in 0..200 {
        let sc = Scenario::generate(seed, false);
        let settle = sc.settle();
        let mut run = Run::new(sc);
        run.sim.run_for(settle);
        let Some(n) = run.nodes.iter().copied().find(|&n| {
            let d = run.sim.director(n).unwrap();
            (0..d.instance_count()).all(|k| d.state(InstanceId(k as u32)) == Some(State::Backup))
        }) else {
            continue;
        };
        let mdi = run
            .sim
            .director(n)
            .unwrap()
            .router(InstanceId(0))
            .unwrap()
            .master_down_interval();
        let t = run.sim.elapsed();
        run.sim.stall(n, mdi - Duration::from_millis(1));
        run.sim.run_for(mdi * 3);
        assert_eq!(
            run.sim.transitions_since(t).count(),
            0,
            "{}",
            run.fail("moved")
        );
        rescued += run.sim.late_stats(n).rescued;
    }
    assert!(rescued > 20, "{rescued}");
}
