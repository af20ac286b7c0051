//! A deterministic simulator of VRRP routers ([`crate::router::Router`]) on shared links.
//!
//! Everything is driven by a virtual clock (a caller-given `Instant` base plus offsets) and a
//! seeded PRNG ([`Rng`]): the same seed and the same calls give the same trace, so a failing
//! scenario replays exactly. Links have latency, jitter (which reorders packets), loss,
//! duplication and partitions; nodes can crash (silently), restart, shut down gracefully,
//! change priority, lose carrier or enter a tracking fault.
//!
//! Usable from other crates' tests:
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use ha_vrrp_proto::router::{Config, State};
//! use ha_vrrp_proto::sim::{LinkConfig, Sim};
//! use ha_vrrp_proto::{Priority, Version, VrId};
//!
//! let mut sim = Sim::new(Instant::now(), 42);
//! let lan = sim.add_link(LinkConfig::default());
//! let mut nodes = Vec::new();
//! for (i, prio) in [100u8, 200].into_iter().enumerate() {
//!     let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8));
//!     let mut cfg = Config::new(Version::V3, VrId::new(1).unwrap(), addr);
//!     cfg.priority = Priority(prio);
//!     nodes.push(sim.add_node(lan, cfg).unwrap());
//! }
//! sim.run_for(Duration::from_secs(10));
//! assert_eq!(sim.masters(), vec![nodes[1]]);
//! assert_eq!(sim.state(nodes[0]), Some(State::Backup));
//! ```
//!
//! Scripted operations (`crash`, `partition`, ...) apply at the current virtual time; advance
//! the clock with [`Sim::step`], [`Sim::run_until`] or [`Sim::run_for`].

use core::cmp::{Ordering, Reverse};
use core::fmt;
use core::time::Duration;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::Instant;

pub use crate::rng::Rng;

use crate::router::{
    Action, Config, ConfigError, Destination, Event, PriorityError, Router, RxAdvert, State,
    TrackId, TransitionReason,
};
use crate::types::Priority;

/// A node (one router host) of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A shared link (a broadcast segment) of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// The behaviour of a link; applies to every packet copy per receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]`; packets overtake each other when it is
    /// larger than their spacing.
    pub jitter: Duration,
    /// Probability that a copy is lost, `0.0..=1.0`.
    pub loss: f64,
    /// Probability that a copy is delivered twice (each with its own delay), `0.0..=1.0`.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    /// 1 ms latency, no jitter, no loss, no duplication.
    fn default() -> LinkConfig {
        LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// One entry of the recorded trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// Virtual time since the simulation's base instant.
    pub at: Duration,
    /// The node concerned.
    pub node: NodeId,
    /// What happened.
    pub kind: TraceKind,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>12.6}s {:>4} {:?}",
            self.at.as_secs_f64(),
            self.node,
            self.kind
        )
    }
}

/// What a [`TraceEntry`] records.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TraceKind {
    /// The router changed state.
    Transition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
    /// The router asked for an action.
    Action(Action),
    /// An advertisement was sent (only with [`Sim::set_trace_packets`]).
    Sent {
        /// Its priority.
        priority: Priority,
        /// Where to.
        destination: Destination,
    },
    /// An advertisement copy was delivered (only with [`Sim::set_trace_packets`]).
    Delivered {
        /// The sender.
        from: NodeId,
        /// Its priority.
        priority: Priority,
    },
    /// An advertisement copy was lost: link loss, partition, crashed or carrier-less
    /// receiver (only with [`Sim::set_trace_packets`]).
    Lost {
        /// The sender.
        from: NodeId,
    },
    /// The node crashed (no priority-0 advertisement).
    Crash,
    /// The node was restarted with a fresh router.
    Restart,
    /// The node's router was shut down gracefully.
    Shutdown,
    /// The node's priority was changed.
    SetPriority(Priority),
    /// The node's carrier changed.
    Carrier(bool),
    /// A tracking fault was raised.
    Fault(TrackId),
    /// The tracking fault was cleared.
    FaultCleared,
    /// The node's link was partitioned; the node is in this group.
    Partition(u32),
    /// The node's link was healed.
    Heal,
}

#[derive(Debug)]
struct Node {
    config: Config,
    link: LinkId,
    router: Option<Router>,
    carrier: bool,
    holds_vips: bool,
    group: u32,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    advert: RxAdvert,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// How many steps may happen at one virtual instant before the simulator declares a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct Sim {
    base: Instant,
    now: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    links: Vec<LinkConfig>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    trace: Vec<TraceEntry>,
    trace_packets: bool,
    steps_at_now: u32,
}

impl Sim {
    /// An empty simulation whose clock starts at `base`, drawing randomness from `seed`.
    pub fn new(base: Instant, seed: u64) -> Sim {
        Sim {
            base,
            now: base,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            links: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            trace: Vec::new(),
            trace_packets: false,
            steps_at_now: 0,
        }
    }

    /// Also record every advertisement sent, delivered and lost in the trace.
    pub fn set_trace_packets(&mut self, on: bool) {
        self.trace_packets = on;
    }

    /// Adds a link.
    pub fn add_link(&mut self, cfg: LinkConfig) -> LinkId {
        self.links.push(cfg);
        LinkId(self.links.len() - 1)
    }

    /// Changes a link's behaviour from now on (packets in flight keep their delay).
    pub fn set_link(&mut self, link: LinkId, cfg: LinkConfig) {
        self.links[link.0] = cfg;
    }

    /// Adds a node on `link` and starts its router now.
    pub fn add_node(&mut self, link: LinkId, config: Config) -> Result<NodeId, ConfigError> {
        let router = Router::new(config.clone(), self.now)?;
        self.nodes.push(Node {
            config,
            link,
            router: Some(router),
            carrier: true,
            holds_vips: false,
            group: 0,
        });
        let id = self.nodes.len() - 1;
        self.drain(id);
        Ok(NodeId(id))
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The virtual time elapsed since the base instant.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// The base instant.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// All nodes.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// A node's configuration (as given at creation).
    pub fn config(&self, node: NodeId) -> &Config {
        &self.nodes[node.0].config
    }

    /// A node's router; `None` while crashed.
    pub fn router(&self, node: NodeId) -> Option<&Router> {
        self.nodes[node.0].router.as_ref()
    }

    /// A node's state; `None` while crashed.
    pub fn state(&self, node: NodeId) -> Option<State> {
        self.router(node).map(Router::state)
    }

    /// Whether the node currently holds the virtual addresses (from the router's actions).
    pub fn holds_vips(&self, node: NodeId) -> bool {
        self.nodes[node.0].holds_vips
    }

    /// The nodes whose routers are in Master.
    pub fn masters(&self) -> Vec<NodeId> {
        self.nodes()
            .filter(|&n| self.state(n) == Some(State::Master))
            .collect()
    }

    /// The recorded trace.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// The trace as text, one entry per line: print it when a scenario fails.
    pub fn trace_string(&self) -> String {
        let mut s = String::new();
        for e in &self.trace {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }

    /// The transitions recorded at or after `since` (virtual time since base).
    pub fn transitions_since(
        &self,
        since: Duration,
    ) -> impl Iterator<Item = (Duration, NodeId, State, State, TransitionReason)> + '_ {
        self.trace.iter().filter_map(move |e| match e.kind {
            TraceKind::Transition { from, to, reason } if e.at >= since => {
                Some((e.at, e.node, from, to, reason))
            }
            _ => None,
        })
    }

    /// When the next thing happens (a delivery or a router timer), if anything is pending.
    pub fn next_time(&self) -> Option<Instant> {
        let delivery = self.queue.peek().map(|r| r.0.at);
        let timer = self.next_timer().map(|(t, _)| t);
        match (delivery, timer) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        }
    }

    fn next_timer(&self) -> Option<(Instant, usize)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.router.as_ref()?.poll_timeout().map(|t| (t, i)))
            .min()
    }

    /// Processes the earliest pending delivery or timer (deliveries first on a tie, timers in
    /// node order). Returns `false` when nothing is pending.
    ///
    /// # Panics
    /// When more than 100 000 steps happen at one virtual instant (a livelock), with the trace.
    pub fn step(&mut self) -> bool {
        let delivery = self.queue.peek().map(|r| r.0.at);
        let timer = self.next_timer();
        let at = match (delivery, timer) {
            (None, None) => return false,
            (Some(d), Some((t, _))) => d.min(t),
            (Some(d), None) => d,
            (None, Some((t, _))) => t,
        };
        self.advance(at);
        if delivery == Some(at) {
            let Reverse(p) = self.queue.pop().expect("peeked");
            self.deliver(p);
        } else if let Some((_, i)) = timer {
            let now = self.now;
            if let Some(r) = self.nodes[i].router.as_mut() {
                r.handle_timeout(now);
            }
            self.drain(i);
        }
        true
    }

    /// Steps until the next pending thing is after `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while let Some(next) = self.next_time() {
            if next > t {
                break;
            }
            self.step();
        }
        self.advance(t);
    }

    /// [`Sim::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Crashes a node: its router vanishes without a word, its addresses with it.
    pub fn crash(&mut self, node: NodeId) {
        let n = &mut self.nodes[node.0];
        n.router = None;
        n.holds_vips = false;
        self.record(node.0, TraceKind::Crash);
    }

    /// Restarts a node with a fresh router from its configuration (after a crash or a
    /// shutdown; a running router is replaced as if crashed first).
    pub fn restart(&mut self, node: NodeId) {
        let router = Router::new(self.nodes[node.0].config.clone(), self.now)
            .expect("the configuration was validated by add_node");
        let n = &mut self.nodes[node.0];
        n.router = Some(router);
        n.holds_vips = false;
        let carrier = n.carrier;
        self.record(node.0, TraceKind::Restart);
        if !carrier {
            let now = self.now;
            if let Some(r) = self.nodes[node.0].router.as_mut() {
                r.handle_link(now, false);
            }
        }
        self.drain(node.0);
    }

    /// Shuts a node's router down gracefully (a master sends priority 0).
    pub fn shutdown(&mut self, node: NodeId) {
        self.record(node.0, TraceKind::Shutdown);
        let now = self.now;
        if let Some(r) = self.nodes[node.0].router.as_mut() {
            r.shutdown(now);
        }
        self.drain(node.0);
    }

    /// Changes a node's priority at runtime. The configuration used by a later restart is not
    /// changed.
    pub fn set_priority(&mut self, node: NodeId, priority: Priority) -> Result<(), PriorityError> {
        self.record(node.0, TraceKind::SetPriority(priority));
        let now = self.now;
        let res = match self.nodes[node.0].router.as_mut() {
            Some(r) => r.set_priority(now, priority),
            None => Ok(()),
        };
        self.drain(node.0);
        res
    }

    /// Sets a node's carrier: down, it neither sends nor receives and its router enters Fault.
    pub fn set_carrier(&mut self, node: NodeId, up: bool) {
        self.record(node.0, TraceKind::Carrier(up));
        self.nodes[node.0].carrier = up;
        let now = self.now;
        if let Some(r) = self.nodes[node.0].router.as_mut() {
            r.handle_link(now, up);
        }
        self.drain(node.0);
    }

    /// Raises a tracking fault on a node.
    pub fn set_fault(&mut self, node: NodeId, track: TrackId) {
        self.record(node.0, TraceKind::Fault(track));
        let now = self.now;
        if let Some(r) = self.nodes[node.0].router.as_mut() {
            r.set_fault(now, track);
        }
        self.drain(node.0);
    }

    /// Clears a node's tracking fault.
    pub fn clear_fault(&mut self, node: NodeId) {
        self.record(node.0, TraceKind::FaultCleared);
        let now = self.now;
        if let Some(r) = self.nodes[node.0].router.as_mut() {
            r.clear_fault(now);
        }
        self.drain(node.0);
    }

    /// Partitions a link: nodes in `groups[i]` only hear each other; nodes of the link in no
    /// group form one more group. Copies in flight across the cut are lost on arrival.
    pub fn partition(&mut self, link: LinkId, groups: &[&[NodeId]]) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].link != link {
                continue;
            }
            let g = groups
                .iter()
                .position(|g| g.contains(&NodeId(i)))
                .map_or(0, |p| p as u32 + 1);
            self.nodes[i].group = g;
            self.record(i, TraceKind::Partition(g));
        }
    }

    /// Heals a partitioned link.
    pub fn heal(&mut self, link: LinkId) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].link == link && self.nodes[i].group != 0 {
                self.nodes[i].group = 0;
                self.record(i, TraceKind::Heal);
            }
        }
    }

    // --- internals ---

    fn advance(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
            if self.steps_at_now > MAX_STEPS_PER_INSTANT {
                panic!(
                    "livelock: more than {MAX_STEPS_PER_INSTANT} steps at {:?}\n{}",
                    self.elapsed(),
                    self.trace_string()
                );
            }
        }
    }

    fn record(&mut self, node: usize, kind: TraceKind) {
        self.trace.push(TraceEntry {
            at: self.now - self.base,
            node: NodeId(node),
            kind,
        });
    }

    fn deliver(&mut self, p: InFlight) {
        let (to, from) = (&self.nodes[p.to], &self.nodes[p.from]);
        let ok = to.router.is_some() && to.carrier && to.group == from.group;
        if !ok {
            if self.trace_packets {
                self.record(
                    p.to,
                    TraceKind::Lost {
                        from: NodeId(p.from),
                    },
                );
            }
            return;
        }
        if self.trace_packets {
            self.record(
                p.to,
                TraceKind::Delivered {
                    from: NodeId(p.from),
                    priority: p.advert.priority,
                },
            );
        }
        let now = self.now;
        if let Some(r) = self.nodes[p.to].router.as_mut() {
            r.handle_advert(now, p.advert);
        }
        self.drain(p.to);
    }

    /// Drains a node's router outputs: transmits go on the wire, actions and events into the
    /// trace.
    fn drain(&mut self, i: usize) {
        while let Some(tx) = self.nodes[i]
            .router
            .as_mut()
            .and_then(Router::poll_transmit)
        {
            let advert = tx_to_rx(self.nodes[i].config.primary_address, &tx);
            self.send(i, tx.destination, advert);
        }
        while let Some(action) = self.nodes[i].router.as_mut().and_then(Router::poll_action) {
            self.nodes[i].holds_vips = matches!(action, Action::BecomeMaster { .. });
            self.record(i, TraceKind::Action(action));
        }
        while let Some(ev) = self.nodes[i].router.as_mut().and_then(Router::poll_event) {
            if let Event::Transition { from, to, reason } = ev {
                self.record(i, TraceKind::Transition { from, to, reason });
            }
        }
    }

    fn send(&mut self, from: usize, destination: Destination, advert: RxAdvert) {
        if self.trace_packets {
            self.record(
                from,
                TraceKind::Sent {
                    priority: advert.priority,
                    destination,
                },
            );
        }
        if !self.nodes[from].carrier {
            return;
        }
        let link_id = self.nodes[from].link;
        let link = self.links[link_id.0];
        for to in 0..self.nodes.len() {
            if to == from || self.nodes[to].link != link_id {
                continue;
            }
            if let Destination::Unicast(a) = destination
                && self.nodes[to].config.primary_address != a
            {
                continue;
            }
            let copies = if self.rng.chance(link.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                if self.rng.chance(link.loss) {
                    if self.trace_packets {
                        self.record(to, TraceKind::Lost { from: NodeId(from) });
                    }
                    continue;
                }
                let at = self.now + link.latency + self.rng.duration_up_to(link.jitter);
                self.seq += 1;
                self.queue.push(Reverse(InFlight {
                    at,
                    seq: self.seq,
                    from,
                    to,
                    advert,
                }));
            }
        }
    }
}

fn tx_to_rx(src: IpAddr, tx: &crate::router::Transmit) -> RxAdvert {
    RxAdvert {
        src,
        version: tx.version,
        vrid: tx.vrid,
        priority: tx.priority,
        interval: tx.interval,
    }
}
