//! A deterministic simulator of [`Director`]s (sans-io): whole nodes with their VRRP
//! instances, sync groups, tracking, fencing, resource steps and VIP ownership, on shared
//! links, exchanging real adverts (bytes) under a virtual clock.
//!
//! - **Nodes** ([`NodeConfig`]): a [`Director`] built from a [`DirectorBuilder`] (at start and
//!   on every restart, at the current virtual time) and a [`LateDriver`]; each of the node's
//!   interfaces (by the name its instances use) is attached to a link.
//! - **Links** ([`LinkConfig`], shared with `ha_vrrp_proto::sim`): broadcast segments with
//!   seeded latency, jitter (which reorders), loss, duplication, and partitions (groups of
//!   nodes that only hear each other).
//! - **The real codec on every packet**: [`Director::poll_transmit`]'s bytes travel as bytes,
//!   with TTL 255, multicast to every other node attached to the link, unicast to the node
//!   whose instance on that link has the destination as primary address; they are received
//!   with [`Director::handle_packet`] (interface, family, source, destination, TTL, receive
//!   time), so authentication, checksums and demultiplexing run as in production.
//! - **Faults**: [`Sim::crash`] (silent: the node's addresses are gone with it),
//!   [`Sim::restart`], [`Sim::shutdown`] (graceful), [`Sim::set_carrier`] (link down or up on
//!   one node: [`Director::handle_link`], and nothing sent or received on it),
//!   [`Sim::partition`] / [`Sim::heal`], [`Sim::set_link`] (loss, duplication, delays),
//!   [`Sim::track_result`], and [`Sim::stall`]: the node is not scheduled for a while; the
//!   packets that arrive meanwhile wait with their receive time and are then validated
//!   ([`Director::validate_packet`]) and fed by receive time through the [`LateDriver`], and
//!   the other inputs follow (this is what the late policy is for).
//! - **Answers**: the simulator runs the fences and resource steps the directors ask for
//!   ([`DirectorAction::Fence`], [`DirectorAction::RunStep`]) and answers each as configured
//!   ([`Reply`]: succeed, fail or hang, after a delay; a fence may power the peers off,
//!   [`FenceConfig`]).
//! - **VIP ownership** per node, from the `AddVips` / `RemoveVips` actions
//!   ([`Sim::holds_vips`], [`Sim::vip_holders`]). The simulator panics, with the trace, when
//!   they do not alternate per instance or when a director asks for a second step of an
//!   instance while one is running.
//! - **A trace** ([`TraceEntry`]) of every director event and action, every fault and answer
//!   (and, with [`Sim::set_trace_packets`], every packet): print [`Sim::trace_string`] when a
//!   scenario fails. Everything comes from the seed ([`Rng`]): the same seed and the same
//!   calls give the same trace.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use ha_failover::core::{DirectorBuilder, InstanceConfig, InstanceId, VipSpec};
//! use ha_failover::sim::{LinkConfig, NodeConfig, Sim};
//! use ha_failover::vrrp::router::{Config, State};
//! use ha_failover::vrrp::{Priority, Version, VrId};
//!
//! let mut sim = Sim::new(Instant::now(), 42);
//! let lan = sim.add_link(LinkConfig::default());
//! let mut nodes = Vec::new();
//! for (i, prio) in [100u8, 200].into_iter().enumerate() {
//!     let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8));
//!     let mut router = Config::new(Version::V3, VrId::new(1).unwrap(), addr);
//!     router.priority = Priority(prio);
//!     let mut vi = InstanceConfig::new("VI_1", "eth0", router);
//!     vi.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
//!     let mut b = DirectorBuilder::new();
//!     b.add_instance(vi).unwrap();
//!     let node = NodeConfig::new(format!("d{i}"), b).interface("eth0", lan);
//!     nodes.push(sim.add_node(node).unwrap());
//! }
//! let vi = InstanceId(0);
//! sim.run_for(Duration::from_secs(10));
//! assert_eq!(sim.state(nodes[1], vi), Some(State::Master));
//! assert!(sim.holds_vips(nodes[1], vi) && !sim.holds_vips(nodes[0], vi));
//!
//! // The master crashes: the other takes over within Master_Down_Interval.
//! sim.crash(nodes[1]);
//! sim.run_for(Duration::from_secs(4));
//! assert_eq!(sim.state(nodes[0], vi), Some(State::Master));
//! assert!(sim.holds_vips(nodes[0], vi));
//! ```
//!
//! Scripted operations apply at the current virtual time; advance the clock with
//! [`Sim::step`], [`Sim::run_until`] or [`Sim::run_for`]. The simulator reads no clock and
//! draws no entropy: the base instant is the caller's.
//!
//! [`DirectorAction::Fence`]: crate::core::DirectorAction::Fence
//! [`DirectorAction::RunStep`]: crate::core::DirectorAction::RunStep

mod config;
mod engine;
mod trace;

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{RxAdvert, State};
pub use ha_vrrp_proto::sim::{LinkConfig, LinkId, NodeId, Rng};
use ha_vrrp_proto::wire::Family;
use ha_vrrp_proto::{DropCounts, VrId};

pub use config::{FenceConfig, NodeConfig, Outcome, Reply};
pub use trace::{LossCause, TraceEntry, TraceKind};

use crate::core::{
    Cause, Director, DirectorBuilder, DirectorConfigError, DirectorError, DirectorEvent,
    FenceAttempt, InstanceId, ReconfigureError, Reconfigured, StepOp, StepToken, TrackResult,
    TrackerId, VipSpec,
};
use crate::late::{LateDriver, LateStats};

/// How many steps may happen at one virtual instant before the simulator declares a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// Why [`Sim::reload`] did not reload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The new configuration does not build.
    #[error(transparent)]
    Config(#[from] DirectorConfigError),
    /// The new configuration cannot be adopted in place.
    #[error(transparent)]
    Reconfigure(#[from] ReconfigureError),
    /// The node is crashed or shut down.
    #[error("the node is not running")]
    NotRunning,
}

/// One interface of a node, attached to a link.
#[derive(Debug, Clone)]
struct Iface {
    name: String,
    link: LinkId,
    up: bool,
    /// Partition group on its link (0: the default group).
    group: u32,
}

/// What the simulator needs to know of an instance to route packets and fences.
#[derive(Debug, Clone)]
struct InstInfo {
    interface: String,
    vrid: VrId,
    family: Family,
    primary: IpAddr,
}

/// A packet that arrived while its node was stalled (in the kernel's socket buffer).
#[derive(Debug, Clone)]
struct HeldPacket {
    received_at: Instant,
    from: usize,
    iface: usize,
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
}

/// An input other than a packet, given at once or after a stall.
#[derive(Debug, Clone)]
enum Input {
    Carrier {
        interface: String,
        up: bool,
    },
    Track {
        tracker: TrackerId,
        result: TrackResult,
    },
    Fence {
        instance: InstanceId,
        attempt: FenceAttempt,
        ok: bool,
    },
    Step {
        instance: InstanceId,
        token: StepToken,
        ok: bool,
    },
    Shutdown,
}

#[derive(Debug)]
struct Node {
    name: String,
    builder: DirectorBuilder,
    ifaces: Vec<Iface>,
    insts: Vec<InstInfo>,
    director: Option<Director>,
    /// Shut down (until a restart).
    stopped: bool,
    late: LateDriver<(InstanceId, RxAdvert)>,
    /// Incremented on every crash and restart: answers to an older director are stale.
    epoch: u64,
    stalled_until: Option<Instant>,
    held_packets: Vec<HeldPacket>,
    deferred: Vec<Input>,
    /// The addresses each instance holds, from the actions.
    vips: BTreeMap<InstanceId, Vec<VipSpec>>,
    /// The step run in flight per instance.
    inflight_steps: BTreeMap<InstanceId, StepToken>,
    /// Which steps of each instance run, from the answers given.
    resources: BTreeMap<InstanceId, Vec<bool>>,
    /// The last result of each tracker, given again after a restart.
    trackers: BTreeMap<TrackerId, TrackResult>,
    fence: FenceConfig,
    steps: Reply,
    step_replies: Vec<(InstanceId, usize, StepOp, Reply)>,
}

impl Node {
    fn running(&self) -> bool {
        self.director.is_some() && !self.stopped
    }

    /// Forgets everything of the running process (crash, power-off, restart).
    fn kill(&mut self) {
        self.director = None;
        self.stopped = false;
        self.epoch += 1;
        self.stalled_until = None;
        self.held_packets.clear();
        self.deferred.clear();
        self.vips.clear();
        self.inflight_steps.clear();
        self.resources.clear();
    }

    /// Whether `ifname` is on `link`.
    fn on_link(&self, ifname: &str, link: LinkId) -> bool {
        self.ifaces
            .iter()
            .any(|f| f.name == ifname && f.link == link)
    }
}

fn inst_infos(d: &Director) -> Vec<InstInfo> {
    (0..d.instance_count())
        .filter_map(|i| d.instance_config(InstanceId(i as u32)))
        .map(|c| InstInfo {
            interface: c.interface.clone(),
            vrid: c.router.vrid,
            family: Family::of(c.router.primary_address),
            primary: c.router.primary_address,
        })
        .collect()
}

#[derive(Debug)]
struct Packet {
    from: usize,
    from_iface: usize,
    to: usize,
    to_iface: usize,
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
}

#[derive(Debug)]
enum Due {
    Packet(Packet),
    Fence {
        node: usize,
        epoch: u64,
        instance: InstanceId,
        attempt: FenceAttempt,
        ok: bool,
    },
    Step {
        node: usize,
        epoch: u64,
        instance: InstanceId,
        index: usize,
        op: StepOp,
        token: StepToken,
        ok: bool,
    },
}

#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    due: Due,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What happens next; on a tie, in this order (then by node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    /// A packet copy arrives or a fence or step answer comes back.
    Queued,
    /// A stalled node runs again.
    Wake(usize),
    /// A node's director timer is due.
    Timer(usize),
}

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct Sim {
    base: Instant,
    now: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    links: Vec<LinkConfig>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    trace: Vec<TraceEntry>,
    trace_packets: bool,
    steps_at_now: u32,
    buf: Vec<u8>,
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
            buf: Vec::new(),
        }
    }

    /// Also record every advert sent, delivered, held and lost in the trace.
    pub fn set_trace_packets(&mut self, on: bool) {
        self.trace_packets = on;
    }

    /// Adds a link.
    pub fn add_link(&mut self, cfg: LinkConfig) -> LinkId {
        self.links.push(cfg);
        LinkId(self.links.len() - 1)
    }

    /// Changes a link's behaviour from now on (copies in flight keep their delay). Recorded on
    /// node 0.
    pub fn set_link(&mut self, link: LinkId, cfg: LinkConfig) {
        self.links[link.0] = cfg;
        self.record(0, TraceKind::SetLink { link, config: cfg });
    }

    /// A link's behaviour.
    pub fn link_config(&self, link: LinkId) -> LinkConfig {
        self.links[link.0]
    }

    /// Adds a node and builds its director now (its first outputs go out at once).
    ///
    /// # Panics
    /// When an interface names a link that does not exist.
    pub fn add_node(&mut self, cfg: NodeConfig) -> Result<NodeId, DirectorConfigError> {
        let director = cfg.builder.clone().build(self.now)?;
        let ifaces = cfg
            .interfaces
            .into_iter()
            .map(|(name, link)| {
                assert!(link.0 < self.links.len(), "no link {link:?}");
                Iface {
                    name,
                    link,
                    up: true,
                    group: 0,
                }
            })
            .collect();
        self.nodes.push(Node {
            name: cfg.name,
            builder: cfg.builder,
            ifaces,
            insts: inst_infos(&director),
            director: Some(director),
            stopped: false,
            late: LateDriver::new(self.now),
            epoch: 0,
            stalled_until: None,
            held_packets: Vec::new(),
            deferred: Vec::new(),
            vips: BTreeMap::new(),
            inflight_steps: BTreeMap::new(),
            resources: BTreeMap::new(),
            trackers: BTreeMap::new(),
            fence: cfg.fence,
            steps: cfg.steps,
            step_replies: Vec::new(),
        });
        let i = self.nodes.len() - 1;
        self.drain(i);
        Ok(NodeId(i))
    }

    // --- time ---

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The base instant.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// The virtual time elapsed since the base instant.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// When the next thing happens (a delivery, an answer, a wake-up or a director timer).
    pub fn next_time(&self) -> Option<Instant> {
        self.next().map(|(t, _)| t)
    }

    fn next(&self) -> Option<(Instant, Next)> {
        let mut best = self.queue.peek().map(|r| (r.0.at, Next::Queued));
        for (i, n) in self.nodes.iter().enumerate() {
            let cand = match (n.stalled_until, &n.director) {
                (Some(until), _) => Some((until, Next::Wake(i))),
                (None, Some(d)) => d.poll_timeout().map(|t| (t, Next::Timer(i))),
                (None, None) => None,
            };
            if let Some(c) = cand
                && best.is_none_or(|b| c < b)
            {
                best = Some(c);
            }
        }
        best
    }

    /// Processes the earliest pending thing: packet arrivals and answers first on a tie, then
    /// stalled nodes waking, then director timers, in node order. Returns `false` when nothing
    /// is pending.
    ///
    /// # Panics
    /// When more than 100 000 steps happen at one virtual instant (a livelock), when a node's
    /// VIP actions do not alternate, or when a node asks for two steps of one instance at
    /// once; the message carries the trace.
    pub fn step(&mut self) -> bool {
        let Some((at, next)) = self.next() else {
            return false;
        };
        self.advance(at);
        match next {
            Next::Queued => {
                let Reverse(s) = self.queue.pop().expect("peeked");
                self.process(s.due);
            }
            Next::Wake(i) => self.wake(i),
            Next::Timer(i) => {
                let now = self.now;
                let Node { director, late, .. } = &mut self.nodes[i];
                if let Some(d) = director.as_mut() {
                    late.drive(d, now);
                }
                self.drain(i);
            }
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

    // --- faults and inputs ---

    /// Crashes a node: its director vanishes without a word, its addresses with it; its
    /// pending answers and held packets are forgotten.
    pub fn crash(&mut self, node: NodeId) {
        self.nodes[node.0].kill();
        self.record(node.0, TraceKind::Crash);
    }

    /// Restarts a node: a fresh director from its configuration at the current time (a
    /// running one is replaced as if crashed first). Interfaces without carrier are reported
    /// down at once, and every tracker's last result is given again.
    pub fn restart(&mut self, node: NodeId) {
        let i = node.0;
        let now = self.now;
        let n = &mut self.nodes[i];
        n.kill();
        let mut d = n
            .builder
            .clone()
            .build(now)
            .expect("the configuration built when the node was added");
        for f in n.ifaces.iter().filter(|f| !f.up) {
            d.handle_link(now, &f.name, false);
        }
        let errors: Vec<DirectorError> = n
            .trackers
            .iter()
            .filter_map(|(&t, &r)| d.handle_track_result(now, t, r).err())
            .collect();
        n.insts = inst_infos(&d);
        n.director = Some(d);
        n.late = LateDriver::new(now);
        self.record(i, TraceKind::Restart);
        for e in errors {
            self.record(i, TraceKind::InputError(e));
        }
        self.drain(i);
    }

    /// Shuts a node's director down gracefully ([`Director::shutdown`]: masters send priority
    /// 0 and release their addresses, started steps stop). It stays down until a restart.
    pub fn shutdown(&mut self, node: NodeId) {
        let n = &mut self.nodes[node.0];
        if n.director.is_none() || n.stopped {
            return;
        }
        n.stopped = true;
        self.record(node.0, TraceKind::Shutdown);
        self.input_or_trace(node.0, Input::Shutdown);
    }

    /// Sets the carrier of a node's interface: down, nothing is sent or received on it and
    /// the director is told ([`Director::handle_link`]).
    ///
    /// # Panics
    /// When the node has no such interface.
    pub fn set_carrier(&mut self, node: NodeId, ifname: &str, up: bool) {
        let n = &mut self.nodes[node.0];
        let f = n
            .ifaces
            .iter_mut()
            .find(|f| f.name == ifname)
            .unwrap_or_else(|| panic!("node {} has no interface {ifname}", n.name));
        if f.up == up {
            return;
        }
        f.up = up;
        self.record(
            node.0,
            TraceKind::Carrier {
                interface: ifname.to_owned(),
                up,
            },
        );
        self.input_or_trace(
            node.0,
            Input::Carrier {
                interface: ifname.to_owned(),
                up,
            },
        );
    }

    /// Gives a tracker result to a node's director (kept, and given again after a restart).
    /// An error is returned when the director refuses it at once; after a stall it goes to the
    /// trace.
    pub fn track_result(
        &mut self,
        node: NodeId,
        tracker: TrackerId,
        result: TrackResult,
    ) -> Result<(), DirectorError> {
        let n = &mut self.nodes[node.0];
        if let Some(d) = &n.director
            && d.tracker_config(tracker).is_none()
        {
            return Err(DirectorError::UnknownTracker(tracker));
        }
        n.trackers.insert(tracker, result);
        self.record(node.0, TraceKind::Track { tracker, result });
        self.input(node.0, Input::Track { tracker, result })
    }

    /// Partitions a link: the nodes in `groups[k]` only hear each other; the nodes attached
    /// to the link that are in no group form one more group. Copies in flight across the cut
    /// are lost on arrival.
    pub fn partition(&mut self, link: LinkId, groups: &[&[NodeId]]) {
        for i in 0..self.nodes.len() {
            let g = groups
                .iter()
                .position(|g| g.contains(&NodeId(i)))
                .map_or(0, |p| p as u32 + 1);
            let mut touched = false;
            for f in self.nodes[i].ifaces.iter_mut().filter(|f| f.link == link) {
                f.group = g;
                touched = true;
            }
            if touched {
                self.record(i, TraceKind::Partition { link, group: g });
            }
        }
    }

    /// Heals a partitioned link.
    pub fn heal(&mut self, link: LinkId) {
        for i in 0..self.nodes.len() {
            let mut touched = false;
            for f in self.nodes[i]
                .ifaces
                .iter_mut()
                .filter(|f| f.link == link && f.group != 0)
            {
                f.group = 0;
                touched = true;
            }
            if touched {
                self.record(i, TraceKind::Heal { link });
            }
        }
    }

    /// A scheduling stall: the node does not run for `d` (its timers do not fire, it sends
    /// nothing); packets that arrive meanwhile are held with their receive time and other
    /// inputs wait. When it runs again the held packets are validated and fed by receive time
    /// through its [`LateDriver`], then the other inputs are given in order. A stall of a
    /// stalled node extends it if it ends later; a crashed node does not stall.
    pub fn stall(&mut self, node: NodeId, d: Duration) {
        let until = self.now + d;
        let n = &mut self.nodes[node.0];
        if n.director.is_none() {
            return;
        }
        let until = n.stalled_until.map_or(until, |u| u.max(until));
        n.stalled_until = Some(until);
        self.record(
            node.0,
            TraceKind::Stall {
                until: until - self.base,
            },
        );
    }

    /// Reloads a node's configuration in place ([`Director::reconfigure_begin`], the outputs
    /// drained, then [`Director::reconfigure_finish`]); later restarts use the new
    /// configuration. Applies at once, even to a stalled node; a crashed or shut-down node is
    /// not reloaded.
    pub fn reload(
        &mut self,
        node: NodeId,
        builder: DirectorBuilder,
    ) -> Result<Reconfigured, ReloadError> {
        let i = node.0;
        let now = self.now;
        if !self.nodes[i].running() {
            return Err(ReloadError::NotRunning);
        }
        let new = builder.clone().build(now)?;
        let Node { director, late, .. } = &mut self.nodes[i];
        let d = director.as_mut().expect("checked");
        let t = late.clock(now);
        let changed = d.reconfigure_begin(t, &new, &[])?;
        self.drain(i);
        let n = &mut self.nodes[i];
        let d = n.director.as_mut().expect("checked");
        let report = d.reconfigure_finish(t, new, &changed);
        // A re-created instance forgets its step in flight.
        for c in &changed {
            n.inflight_steps.remove(c);
        }
        n.insts = inst_infos(d);
        n.builder = builder;
        self.record(
            i,
            TraceKind::Reload {
                recreated: report.recreated.clone(),
            },
        );
        self.drain(i);
        Ok(report)
    }

    /// Runs `f` on a node's director with the time to give it (now, or later if the late
    /// driver already went further), then drains its outputs: for inputs this module has no
    /// method for (real servers, weights, ...). Applies at once, even to a stalled node.
    /// `None` when the node is crashed.
    pub fn apply<R>(
        &mut self,
        node: NodeId,
        f: impl FnOnce(&mut Director, Instant) -> R,
    ) -> Option<R> {
        let now = self.now;
        let Node { director, late, .. } = &mut self.nodes[node.0];
        let d = director.as_mut()?;
        let r = f(d, late.clock(now));
        self.drain(node.0);
        Some(r)
    }

    /// Sets how a node's fences are answered from now on.
    pub fn set_fence(&mut self, node: NodeId, fence: FenceConfig) {
        self.nodes[node.0].fence = fence;
    }

    /// Sets how a node's resource steps are answered from now on.
    pub fn set_steps(&mut self, node: NodeId, reply: Reply) {
        self.nodes[node.0].steps = reply;
    }

    /// Sets how one step (`index` of `instance`, for `op`) of a node is answered from now on,
    /// overriding [`Sim::set_steps`].
    pub fn set_step_reply(
        &mut self,
        node: NodeId,
        instance: InstanceId,
        index: usize,
        op: StepOp,
        reply: Reply,
    ) {
        let r = &mut self.nodes[node.0].step_replies;
        r.retain(|&(i, x, o, _)| (i, x, o) != (instance, index, op));
        r.push((instance, index, op, reply));
    }

    // --- queries ---

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// A node's name.
    pub fn name(&self, node: NodeId) -> &str {
        &self.nodes[node.0].name
    }

    /// The node of that name.
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    /// A node's director; `None` while crashed.
    pub fn director(&self, node: NodeId) -> Option<&Director> {
        self.nodes[node.0].director.as_ref()
    }

    /// Whether the node runs: not crashed and not shut down (a stalled node runs).
    pub fn is_running(&self, node: NodeId) -> bool {
        self.nodes[node.0].running()
    }

    /// Whether the node is stalled.
    pub fn is_stalled(&self, node: NodeId) -> bool {
        self.nodes[node.0].stalled_until.is_some()
    }

    /// Whether the node's interface has carrier.
    pub fn carrier(&self, node: NodeId, ifname: &str) -> bool {
        self.nodes[node.0]
            .ifaces
            .iter()
            .any(|f| f.name == ifname && f.up)
    }

    /// The instance of that name on a node.
    pub fn instance(&self, node: NodeId, name: &str) -> Option<InstanceId> {
        let d = self.director(node)?;
        (0..d.instance_count())
            .map(|i| InstanceId(i as u32))
            .find(|&i| d.instance_config(i).is_some_and(|c| c.name == name))
    }

    /// An instance's state; `None` while the node is crashed.
    pub fn state(&self, node: NodeId, instance: InstanceId) -> Option<State> {
        self.director(node)?.state(instance)
    }

    /// Whether the instance holds its addresses, as the node's `AddVips` / `RemoveVips`
    /// actions say (false while crashed).
    pub fn holds_vips(&self, node: NodeId, instance: InstanceId) -> bool {
        self.nodes[node.0].vips.contains_key(&instance)
    }

    /// Which of an instance's resource steps run, as the simulator's answers made them: a
    /// successful start starts one, any stop stops it (a failed stop counts as stopped, as in
    /// the core), a crash stops them all. Independent of what the director remembers, so a
    /// step the director forgot to stop shows here.
    pub fn resources(&self, node: NodeId, instance: InstanceId) -> Vec<bool> {
        let n = &self.nodes[node.0];
        let len = n
            .director
            .as_ref()
            .and_then(|d| d.instance_config(instance))
            .map_or(0, |c| c.steps.len());
        let mut r = n.resources.get(&instance).cloned().unwrap_or_default();
        r.resize(len.max(r.len()), false);
        r
    }

    /// The addresses a node holds, from its actions.
    pub fn vips(&self, node: NodeId) -> Vec<IpAddr> {
        self.nodes[node.0]
            .vips
            .values()
            .flatten()
            .map(|v| v.addr)
            .collect()
    }

    /// The nodes that hold `addr`.
    pub fn vip_holders(&self, addr: IpAddr) -> Vec<NodeId> {
        self.nodes()
            .filter(|&n| self.vips(n).contains(&addr))
            .collect()
    }

    /// The instances of running nodes that run `vrid` for `family` on an interface attached
    /// to `link`.
    pub fn instances_on(
        &self,
        link: LinkId,
        vrid: VrId,
        family: Family,
    ) -> Vec<(NodeId, InstanceId)> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.running() {
                continue;
            }
            for (k, x) in n.insts.iter().enumerate() {
                if x.vrid == vrid && x.family == family && n.on_link(&x.interface, link) {
                    out.push((NodeId(i), InstanceId(k as u32)));
                }
            }
        }
        out
    }

    /// Those of [`Sim::instances_on`] that are Master.
    pub fn masters(&self, link: LinkId, vrid: VrId, family: Family) -> Vec<(NodeId, InstanceId)> {
        self.instances_on(link, vrid, family)
            .into_iter()
            .filter(|&(n, i)| self.state(n, i) == Some(State::Master))
            .collect()
    }

    /// The messages a node's instance dropped, by reason ([`Director::drops`]); empty while
    /// crashed.
    pub fn drops(&self, node: NodeId, instance: InstanceId) -> DropCounts {
        self.director(node)
            .map(|d| d.drops(instance))
            .unwrap_or_default()
    }

    /// What a node's late driver measured since its last (re)start.
    pub fn late_stats(&self, node: NodeId) -> &LateStats {
        self.nodes[node.0].late.stats()
    }

    /// The recorded trace.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// The trace as text, one entry per line with the node's name: print it when a scenario
    /// fails.
    pub fn trace_string(&self) -> String {
        let mut s = String::new();
        for e in &self.trace {
            let name = self.nodes.get(e.node.0).map_or("?", |n| &n.name);
            s.push_str(&format!("{e} ({name})\n"));
        }
        s
    }

    /// The transitions recorded at or after `since` (virtual time since base): time, node,
    /// instance, from, to, cause.
    pub fn transitions_since(
        &self,
        since: Duration,
    ) -> impl Iterator<Item = (Duration, NodeId, InstanceId, State, State, Cause)> + '_ {
        self.trace.iter().filter_map(move |e| match e.kind {
            TraceKind::Event(DirectorEvent::Transition {
                instance,
                from,
                to,
                cause,
                ..
            }) if e.at >= since => Some((e.at, e.node, instance, from, to, cause)),
            _ => None,
        })
    }
}
