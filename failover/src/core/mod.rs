//! The sans-io core of ha-failover: a [`Director`] (one node) that owns many VRRP instances
//! and decides, keepalived-style, what the node holds.
//!
//! Each instance is a [`Router`] (the RFC 9568 / RFC 3768 state machine) plus its
//! configuration ([`InstanceConfig`]: name, interface, virtual addresses, tracking, fencing,
//! resource steps, notify scripts). The director adds what keepalived and heartbeat add on top
//! of the RFC:
//!
//! - **VIP ownership**: a Master adds its `virtual_ipaddress` and `virtual_ipaddress_excluded`
//!   addresses ([`VipSpec`], parsed from keepalived's syntax) and announces them; any other
//!   state removes them. [`DirectorEvent::VipsAcquired`] / [`DirectorEvent::VipsReleased`].
//! - **Sync groups** (`vrrp_sync_group`): when a member becomes Master by its own decision the
//!   other Backup members are forced to Master ([`Router::force_master`]); when a Master member
//!   steps down the other Master members are forced to Backup ([`Router::force_backup`]); a
//!   member that starts (or leaves Fault) while another member is Master joins it. A member's
//!   own fault (link down, a weight-0 tracker) puts every other member in Fault, and they leave
//!   it when no member has a fault of its own. Forced transitions do not propagate further.
//! - **Tracking** with keepalived's weights ([`track`]): priority changes go to
//!   [`Router::set_priority`] with the RFC consequences, faults to [`Router::set_fault`] /
//!   [`Router::clear_fault`].
//! - **Fencing** (heartbeat STONITH), per instance: on becoming Master the director emits
//!   [`DirectorAction::Fence`] and holds the addresses and steps back until
//!   [`Director::handle_fence_result`]. On failure the instance is forced back to **Backup**
//!   (choice: not Fault), with [`Cause::FenceFailed`]; its sync group follows. Being a backup
//!   it retries naturally: if the old master stays silent, the Master_Down_Timer makes it
//!   Master again and it fences again (about every Master_Down_Interval), as heartbeat retries
//!   STONITH. While fencing, the router is Master and advertises (the peer must see it).
//! - **Resource groups** (heartbeat `haresources`): after the addresses, steps start in order,
//!   one at a time, each waiting for [`Director::handle_step_result`]; leaving Master removes
//!   the addresses at once (keepalived: another node is taking them) and then stops the
//!   started steps in reverse order. A failed start is reported and stops the steps already
//!   started, in reverse; the instance stays Master (the embedder may react to the event, e.g.
//!   with a tracker). A failed stop is reported and the step counted as stopped.
//! - **Virtual servers** ([`pool`], keepalived `virtual_server`): real-server health becomes
//!   the IPVS desired state in ha-ipvs's model, emitted as [`DirectorAction::Ipvs`] with the
//!   operations of [`ha_ipvs::diff()`] (`inhibit_on_failure`, `sorry_server`, `quorum` with
//!   `hysteresis`); the quorum may feed a pool tracker.
//! - **Notify**: every transition gives a [`DirectorEvent`] with its [`Cause`] and keepalived's
//!   scripts as [`DirectorAction::Notify`]: the per-state script (`notify_master`, ...) as
//!   configured, then the generic `notify` with `INSTANCE name STATE priority` (groups:
//!   `GROUP name STATE 0`), exactly as keepalived passes them.
//!
//! # Call order (the workspace's sans-io shape)
//! Build with [`DirectorBuilder`]. After **every** `handle_*` call, drain
//! [`Director::poll_transmit`], [`Director::poll_action`] and [`Director::poll_event`]; then
//! wait until [`Director::poll_timeout`] (or the next input) and call
//! [`Director::handle_timeout`]. `now` never goes backwards; an early `handle_timeout` is a
//! no-op. The core keeps no timers for fences and steps: the runtime bounds how long a script
//! may run and reports a failure when it times out.
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use ha_failover::core::{DirectorBuilder, InstanceConfig, VipSpec};
//! use ha_failover::vrrp::router::Config;
//! use ha_failover::vrrp::{Version, VrId};
//!
//! let now = Instant::now();
//! let router = Config::new(Version::V3, VrId::new(51).unwrap(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
//! let mut vi = InstanceConfig::new("VI_1", "eth0", router);
//! vi.vips.push(VipSpec::parse("10.0.0.100/24 dev eth0 label eth0:1").unwrap());
//! let mut b = DirectorBuilder::new();
//! let _id = b.add_instance(vi).unwrap();
//! let mut director = b.build(now).unwrap();
//! loop {
//!     while let Some((_instance, _tx)) = director.poll_transmit() { /* encode and send */ }
//!     while let Some(_action) = director.poll_action() { /* add VIPs, run scripts, ... */ }
//!     while let Some(_event) = director.poll_event() { /* log */ }
//!     let _deadline = director.poll_timeout();
//!     // wait for a packet, a link change, a result or the deadline, then e.g.
//!     director.handle_timeout(Instant::now());
//!     # break;
//! }
//! ```

mod config;
mod output;
pub mod pool;
mod reload;
pub mod track;
pub mod vip;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use ha_vrrp_proto::router::{
    Config as RouterConfig, Event, Router, RxAdvert, State, TrackId, TransitionReason, Transmit,
};
use ha_vrrp_proto::{Priority, VrId};

pub use config::{
    DirectorConfigError, DirectorError, GroupId, InstanceConfig, InstanceId, NotifyScripts, Step,
    StepKind, SyncGroupConfig,
};
pub use output::{
    Cause, DirectorAction, DirectorEvent, FenceAttempt, NotifyState, StepOp, StepToken,
};
pub use pool::{RealServer, VirtualServerConfig, VirtualServerId};
pub use reload::{ReconfigureError, Reconfigured};
pub use track::{
    Contribution, TrackRef, TrackResult, TrackStatus, TrackerConfig, TrackerId, TrackerKind,
};
pub use vip::{Scope, VipFlags, VipParseError, VipSpec};

use pool::Pool;
use track::Tracker;

/// The [`TrackId`] the director gives a router that is in Fault because another member of its
/// sync group has a fault of its own. Tracker `n` is `TrackId(n)`.
pub const SYNC_GROUP_TRACK: TrackId = TrackId(u32::MAX);

/// An upper bound on internal propagation rounds per input (sync groups converge in a few).
const MAX_ROUNDS: usize = 1024;

/// Collects the configuration and builds a [`Director`].
#[derive(Debug, Clone, Default)]
pub struct DirectorBuilder {
    trackers: Vec<TrackerConfig>,
    instances: Vec<InstanceConfig>,
    groups: Vec<SyncGroupConfig>,
    pools: Vec<VirtualServerConfig>,
}

impl DirectorBuilder {
    /// An empty configuration.
    pub fn new() -> DirectorBuilder {
        DirectorBuilder::default()
    }

    /// Adds a tracker.
    pub fn add_tracker(&mut self, cfg: TrackerConfig) -> TrackerId {
        self.trackers.push(cfg);
        TrackerId((self.trackers.len() - 1) as u32)
    }

    /// Adds an instance after checking it (router config, address families, tracker
    /// references and weights, commands, unique name and VRID per interface and family).
    /// A VIP without a device gets the instance's interface.
    pub fn add_instance(
        &mut self,
        mut cfg: InstanceConfig,
    ) -> Result<InstanceId, DirectorConfigError> {
        let name = cfg.name.clone();
        cfg.router
            .validate()
            .map_err(|source| DirectorConfigError::Router {
                instance: name.clone(),
                source,
            })?;
        for other in &self.instances {
            if other.name == name {
                return Err(DirectorConfigError::DuplicateInstance { name });
            }
            if other.interface == cfg.interface
                && other.router.vrid == cfg.router.vrid
                && other.router.primary_address.is_ipv4() == cfg.router.primary_address.is_ipv4()
            {
                return Err(DirectorConfigError::DuplicateVrid {
                    first: other.name.clone(),
                    second: name,
                    vrid: cfg.router.vrid,
                    interface: cfg.interface,
                });
            }
        }
        let primary = cfg.router.primary_address;
        if let Some(v) = cfg
            .vips
            .iter()
            .find(|v| v.addr.is_ipv4() != primary.is_ipv4())
        {
            return Err(DirectorConfigError::VipFamily {
                instance: name,
                addr: v.addr,
                primary,
            });
        }
        for t in &cfg.track {
            let Some(tracker) = self.trackers.get(t.tracker.0 as usize) else {
                return Err(DirectorConfigError::UnknownTracker {
                    instance: name,
                    tracker: t.tracker,
                });
            };
            // keepalived: -253..=253, track_file -254..=254 (a file's value may be negative).
            let max = if matches!(tracker.kind, TrackerKind::File { .. }) {
                254
            } else {
                253
            };
            if !(-max..=max).contains(&t.weight) {
                return Err(DirectorConfigError::WeightOutOfRange {
                    instance: name,
                    tracker: t.tracker,
                    weight: t.weight,
                    min: -max,
                    max,
                });
            }
        }
        check_scripts(&name, &cfg.notify)?;
        for (i, s) in cfg.steps.iter().enumerate() {
            let empty = match &s.kind {
                StepKind::Command { start, stop } => start.is_empty() || stop.is_empty(),
                StepKind::Service(svc) => svc.is_empty(),
            };
            if empty {
                return Err(DirectorConfigError::EmptyCommand {
                    owner: name,
                    what: format!("step {i} ({:?})", s.name),
                });
            }
        }
        let ifname = cfg.interface.clone();
        for v in cfg.vips.iter_mut().chain(cfg.excluded_vips.iter_mut()) {
            if v.dev.is_none() {
                v.dev = Some(ifname.clone());
            }
        }
        self.instances.push(cfg);
        Ok(InstanceId((self.instances.len() - 1) as u32))
    }

    /// Adds a sync group.
    pub fn add_sync_group(&mut self, cfg: SyncGroupConfig) -> Result<GroupId, DirectorConfigError> {
        if cfg.members.is_empty() {
            return Err(DirectorConfigError::EmptyGroup { group: cfg.name });
        }
        if self.groups.iter().any(|g| g.name == cfg.name) {
            return Err(DirectorConfigError::DuplicateGroup { name: cfg.name });
        }
        for (k, m) in cfg.members.iter().enumerate() {
            let Some(inst) = self.instances.get(m.0 as usize) else {
                return Err(DirectorConfigError::UnknownMember {
                    group: cfg.name,
                    instance: *m,
                });
            };
            let other = if cfg.members[..k].contains(m) {
                Some(cfg.name.clone())
            } else {
                self.groups
                    .iter()
                    .find(|g| g.members.contains(m))
                    .map(|g| g.name.clone())
            };
            if let Some(other) = other {
                return Err(DirectorConfigError::MemberTwice {
                    group: cfg.name,
                    instance: inst.name.clone(),
                    other,
                });
            }
        }
        check_scripts(&cfg.name, &cfg.notify)?;
        self.groups.push(cfg);
        Ok(GroupId((self.groups.len() - 1) as u32))
    }

    /// Adds a virtual server (see [`pool`]); its IPVS service is created by the first
    /// [`DirectorAction::Ipvs`] after [`DirectorBuilder::build`].
    pub fn add_virtual_server(
        &mut self,
        cfg: VirtualServerConfig,
    ) -> Result<VirtualServerId, DirectorConfigError> {
        let everything = ha_ipvs::model::VirtualService {
            service: cfg.service.clone(),
            destinations: cfg
                .real_servers
                .iter()
                .map(|r| r.destination.clone())
                .chain(cfg.sorry_server.clone())
                .collect(),
        };
        everything
            .validate()
            .map_err(|source| DirectorConfigError::VirtualServer {
                name: cfg.name.clone(),
                source,
            })?;
        if let Some(t) = cfg.tracker
            && !matches!(
                self.trackers.get(t.0 as usize).map(|t| &t.kind),
                Some(TrackerKind::Pool { .. })
            )
        {
            return Err(DirectorConfigError::PoolTracker {
                name: cfg.name,
                tracker: t,
            });
        }
        self.pools.push(cfg);
        Ok(VirtualServerId((self.pools.len() - 1) as u32))
    }

    /// Builds the director: every router starts now (its Startup event runs at once unless it
    /// has a startup delay), with the priority its trackers' initial states give. An instance
    /// whose trackers start in fault (or whose sync group has such a member) starts in Fault
    /// ([`Router::new_in_fault`]) and sends nothing until it clears. The first outputs may
    /// already be queued.
    pub fn build(self, now: Instant) -> Result<Director, DirectorConfigError> {
        let mut trackers: Vec<Tracker> = self.trackers.into_iter().map(Tracker::new).collect();
        let pools: Vec<Pool> = self.pools.into_iter().map(Pool::new).collect();
        // A pool tracker starts with its pool's quorum.
        for p in &pools {
            if let Some(t) = p.cfg.tracker.and_then(|t| trackers.get_mut(t.0 as usize)) {
                t.status = if p.quorum_up {
                    TrackStatus::Up
                } else {
                    TrackStatus::Down
                };
            }
        }
        // Faults known at start (a tracker that starts failing, and the sync groups of such
        // instances): those routers start in Fault and never advertise before it clears.
        let own: Vec<Option<TrackId>> = self
            .instances
            .iter()
            .map(|c| tracker_fault(&trackers, &c.track))
            .collect();
        let mut insts = Vec::with_capacity(self.instances.len());
        for (i, cfg) in self.instances.into_iter().enumerate() {
            let group = self
                .groups
                .iter()
                .position(|g| g.members.contains(&InstanceId(i as u32)))
                .map(|g| GroupId(g as u32));
            let fault = own[i].or_else(|| {
                let g = &self.groups[group?.0 as usize];
                g.members
                    .iter()
                    .any(|m| m.0 as usize != i && own[m.0 as usize].is_some())
                    .then_some(SYNC_GROUP_TRACK)
            });
            let base = cfg.router.priority;
            let mut rcfg: RouterConfig = cfg.router.clone();
            rcfg.priority = track::effective_priority(base, priority_sum(&trackers, &cfg.track));
            let router = match fault {
                Some(t) => Router::new_in_fault(rcfg, now, t),
                None => Router::new(rcfg, now),
            }
            .map_err(|source| DirectorConfigError::Router {
                instance: cfg.name.clone(),
                source,
            })?;
            insts.push(Inst::new(cfg, router, group, fault));
        }
        let groups = self
            .groups
            .into_iter()
            .map(|cfg| Group { cfg, state: None })
            .collect();
        let mut d = Director {
            insts,
            groups,
            trackers,
            pools,
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            ops: VecDeque::new(),
            next_token: 0,
            stopped: false,
        };
        for p in 0..d.pools.len() {
            d.emit_pool(p);
        }
        d.pump(now);
        Ok(d)
    }
}

fn check_scripts(owner: &str, n: &NotifyScripts) -> Result<(), DirectorConfigError> {
    for (what, s) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.generic),
    ] {
        if matches!(s, Some(argv) if argv.is_empty()) {
            return Err(DirectorConfigError::EmptyCommand {
                owner: owner.to_owned(),
                what: what.to_owned(),
            });
        }
    }
    Ok(())
}

fn priority_sum(trackers: &[Tracker], refs: &[TrackRef]) -> i64 {
    refs.iter()
        .filter_map(|r| {
            let t = trackers.get(r.tracker.0 as usize)?;
            match track::contribution(r.weight, r.reverse, t.status) {
                Contribution::Add(v) => Some(v),
                Contribution::Fault => None,
            }
        })
        .fold(0i64, i64::saturating_add)
}

fn tracker_fault(trackers: &[Tracker], refs: &[TrackRef]) -> Option<TrackId> {
    refs.iter().find_map(|r| {
        let t = trackers.get(r.tracker.0 as usize)?;
        (track::contribution(r.weight, r.reverse, t.status) == Contribution::Fault)
            .then_some(TrackId(r.tracker.0))
    })
}

/// The keepalived notify command lines for a state change.
fn notify_argvs(
    scripts: &NotifyScripts,
    kind: &str,
    name: &str,
    state: NotifyState,
    priority: u8,
) -> Vec<Vec<String>> {
    let specific = match state {
        NotifyState::Master => &scripts.master,
        NotifyState::Backup => &scripts.backup,
        NotifyState::Fault => &scripts.fault,
        NotifyState::Stop => &scripts.stop,
    };
    let mut out = Vec::new();
    if let Some(argv) = specific {
        out.push(argv.clone());
    }
    if let Some(argv) = &scripts.generic {
        let mut a = argv.clone();
        a.extend([
            kind.to_owned(),
            name.to_owned(),
            state.as_str().to_owned(),
            priority.to_string(),
        ]);
        out.push(a);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takeover {
    Idle,
    Fencing(FenceAttempt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inflight {
    index: usize,
    op: StepOp,
    token: StepToken,
}

/// The resource group sequencer of one instance: one step in flight at a time.
#[derive(Debug, Clone)]
struct Steps {
    started: Vec<bool>,
    inflight: Option<Inflight>,
    /// Master with its addresses: steps should run.
    want_up: bool,
    /// A start failed in this master period: stop everything.
    rollback: bool,
}

impl Steps {
    /// The next step to run, if idle.
    fn next(&self) -> Option<(usize, StepOp)> {
        if self.inflight.is_some() {
            return None;
        }
        if self.want_up && !self.rollback {
            if let Some(i) = self.started.iter().position(|s| !s) {
                return Some((i, StepOp::Start));
            }
            return None;
        }
        self.started
            .iter()
            .rposition(|s| *s)
            .map(|i| (i, StepOp::Stop))
    }
}

#[derive(Debug, Clone)]
struct Inst {
    cfg: InstanceConfig,
    router: Router,
    group: Option<GroupId>,
    /// The tracking fault last given to the router (`set_fault`), if any.
    applied_fault: Option<TrackId>,
    /// The cause to report with the router's next transition event.
    pending_cause: Option<Cause>,
    takeover: Takeover,
    vips_held: bool,
    steps: Steps,
}

impl Inst {
    /// An instance as at startup: no takeover, no addresses, no step started.
    fn new(
        cfg: InstanceConfig,
        router: Router,
        group: Option<GroupId>,
        fault: Option<TrackId>,
    ) -> Inst {
        let nsteps = cfg.steps.len();
        Inst {
            cfg,
            router,
            group,
            applied_fault: fault,
            pending_cause: None,
            takeover: Takeover::Idle,
            vips_held: false,
            steps: Steps {
                started: vec![false; nsteps],
                inflight: None,
                want_up: false,
                rollback: false,
            },
        }
    }

    fn all_vips(&self) -> Vec<VipSpec> {
        self.cfg
            .vips
            .iter()
            .chain(self.cfg.excluded_vips.iter())
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Group {
    cfg: SyncGroupConfig,
    state: Option<NotifyState>,
}

/// A deferred sync-group operation: make `target` follow `member`'s Master/Backup state.
#[derive(Debug, Clone, Copy)]
struct SyncOp {
    group: GroupId,
    target: usize,
    member: usize,
}

/// One node: many VRRP instances with sync groups, tracking, VIP ownership, fencing,
/// resource steps and notify. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Director {
    insts: Vec<Inst>,
    groups: Vec<Group>,
    trackers: Vec<Tracker>,
    pools: Vec<Pool>,
    transmits: VecDeque<(InstanceId, Transmit)>,
    actions: VecDeque<DirectorAction>,
    events: VecDeque<DirectorEvent>,
    ops: VecDeque<SyncOp>,
    next_token: u64,
    stopped: bool,
}

impl Director {
    // --- inputs ---

    /// Feeds an advertisement (validated by the codec) received for `instance`.
    pub fn handle_advert(
        &mut self,
        now: Instant,
        instance: InstanceId,
        adv: RxAdvert,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        self.insts[i].router.handle_advert(now, adv);
        self.pump(now);
        Ok(())
    }

    /// Fires due timers; a no-op before [`Director::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for inst in &mut self.insts {
            inst.router.handle_timeout(now);
        }
        self.pump(now);
    }

    /// Reports an interface's link state: the instances on it (Fault on down) and the
    /// interface trackers of that name.
    pub fn handle_link(&mut self, now: Instant, ifname: &str, up: bool) {
        for inst in &mut self.insts {
            if inst.cfg.interface == ifname {
                inst.router.handle_link(now, up);
            }
        }
        let result = if up {
            TrackResult::Up
        } else {
            TrackResult::Down
        };
        let mut changed = false;
        for t in 0..self.trackers.len() {
            if matches!(&self.trackers[t].cfg.kind, TrackerKind::Interface { ifname: n } if n == ifname)
            {
                changed |= self.feed_tracker(t, result);
            }
        }
        // Drain the routers' link transitions first, so priority changes act on the new
        // states and causes stay attached to the right transitions.
        self.pump(now);
        if changed {
            // Faults first, so a router about to enter Fault does not advertise a new
            // priority just before.
            self.apply_faults(now);
            self.update_priorities(now);
            self.pump(now);
        }
    }

    /// Reports a tracker's result (script exit status, file value, pool health, ping).
    pub fn handle_track_result(
        &mut self,
        now: Instant,
        tracker: TrackerId,
        result: TrackResult,
    ) -> Result<(), DirectorError> {
        let t = tracker.0 as usize;
        let tr = self
            .trackers
            .get(t)
            .ok_or(DirectorError::UnknownTracker(tracker))?;
        if !tr.accepts(result) {
            return Err(DirectorError::WrongResultKind {
                name: tr.cfg.name.clone(),
                result: format!("{result:?}"),
                kind: match tr.cfg.kind {
                    TrackerKind::Interface { .. } => "interface",
                    TrackerKind::Script { .. } => "script",
                    TrackerKind::File { .. } => "file",
                    TrackerKind::Pool { .. } => "pool",
                    TrackerKind::PingNode { .. } => "ping node",
                },
            });
        }
        if self.feed_tracker(t, result) {
            self.apply_faults(now);
            self.update_priorities(now);
            self.pump(now);
        }
        Ok(())
    }

    /// Reports the result of [`DirectorAction::Fence`]. A result for an older attempt, or for
    /// an instance that left Master meanwhile, is ignored.
    pub fn handle_fence_result(
        &mut self,
        now: Instant,
        instance: InstanceId,
        attempt: FenceAttempt,
        ok: bool,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        let inst = &mut self.insts[i];
        if inst.takeover != Takeover::Fencing(attempt) || inst.router.state() != State::Master {
            tracing::debug!(instance = %inst.cfg.name, ?attempt, "stale fence result ignored");
            return Ok(());
        }
        inst.takeover = Takeover::Idle;
        self.events.push_back(DirectorEvent::FenceResult {
            instance,
            attempt,
            ok,
        });
        if ok {
            self.acquire(i);
        } else {
            tracing::warn!(instance = %self.insts[i].cfg.name, "fence failed: not taking over");
            let inst = &mut self.insts[i];
            inst.pending_cause = Some(Cause::FenceFailed);
            if !inst.router.force_backup(now) {
                inst.pending_cause = None;
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Reports the result of [`DirectorAction::RunStep`]. A result with an unknown token is
    /// ignored.
    pub fn handle_step_result(
        &mut self,
        now: Instant,
        instance: InstanceId,
        token: StepToken,
        ok: bool,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        let inst = &mut self.insts[i];
        let Some(f) = inst.steps.inflight.filter(|f| f.token == token) else {
            tracing::debug!(instance = %inst.cfg.name, ?token, "stale step result ignored");
            return Ok(());
        };
        inst.steps.inflight = None;
        match (f.op, ok) {
            (StepOp::Start, true) => inst.steps.started[f.index] = true,
            // A failed start stops those already started, in reverse.
            (StepOp::Start, false) => inst.steps.rollback = true,
            // A failed stop is reported; the step is considered stopped.
            (StepOp::Stop, _) => inst.steps.started[f.index] = false,
        }
        self.events.push_back(DirectorEvent::StepResult {
            instance,
            index: f.index,
            name: inst.cfg.steps[f.index].name.clone(),
            op: f.op,
            ok,
        });
        self.advance_steps(i);
        self.pump(now);
        Ok(())
    }

    /// Reports a real server's health (from its checker): updates the virtual server's IPVS
    /// desired state ([`DirectorAction::Ipvs`]), its quorum, and the pool tracker if any.
    pub fn handle_real_server(
        &mut self,
        now: Instant,
        server: VirtualServerId,
        index: usize,
        alive: bool,
    ) -> Result<(), DirectorError> {
        let p = server.0 as usize;
        let slot = self
            .pools
            .get_mut(p)
            .and_then(|pool| pool.alive.get_mut(index))
            .ok_or(DirectorError::UnknownRealServer { server, index })?;
        if *slot == alive {
            return Ok(());
        }
        *slot = alive;
        self.events.push_back(DirectorEvent::RealServerChanged {
            server,
            index,
            alive,
        });
        self.pool_changed(now, server);
        Ok(())
    }

    /// Reports the weight a real server's check gave (keepalived `misc_dynamic`: exit code
    /// minus 2), or `None` to go back to the configured weight. The IPVS destination and the
    /// quorum use it while the server is alive.
    pub fn handle_real_server_weight(
        &mut self,
        now: Instant,
        server: VirtualServerId,
        index: usize,
        weight: Option<u32>,
    ) -> Result<(), DirectorError> {
        let p = server.0 as usize;
        let slot = self
            .pools
            .get_mut(p)
            .and_then(|pool| pool.weights.get_mut(index))
            .ok_or(DirectorError::UnknownRealServer { server, index })?;
        if *slot == weight {
            return Ok(());
        }
        *slot = weight;
        self.pool_changed(now, server);
        Ok(())
    }

    /// A pool's health or weights changed: new IPVS state, quorum, pool tracker.
    fn pool_changed(&mut self, now: Instant, server: VirtualServerId) {
        let p = server.0 as usize;
        self.emit_pool(p);
        if let Some(up) = self.pools[p].update_quorum() {
            self.events
                .push_back(DirectorEvent::PoolQuorum { server, up });
            if let Some(t) = self.pools[p].cfg.tracker {
                let result = if up {
                    TrackResult::Up
                } else {
                    TrackResult::Down
                };
                if self.feed_tracker(t.0 as usize, result) {
                    self.apply_faults(now);
                    self.update_priorities(now);
                }
            }
        }
        self.pump(now);
    }

    /// Shuts every instance down (a master sends priority 0 and releases its addresses; the
    /// `notify_stop` scripts run; started steps are stopped in reverse: keep feeding
    /// [`Director::handle_step_result`] until [`Director::is_idle`]).
    pub fn shutdown(&mut self, now: Instant) {
        self.stopped = true;
        for inst in &mut self.insts {
            inst.router.shutdown(now);
        }
        self.pump(now);
    }

    // --- outputs ---

    /// The next advertisement to send, for which instance (encode it with
    /// [`Director::advert_addresses`] from the instance's primary address).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(InstanceId, Transmit)> {
        self.transmits.pop_front()
    }

    /// The next action for the runtime.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<DirectorAction> {
        self.actions.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DirectorEvent> {
        self.events.pop_front()
    }

    /// When to call [`Director::handle_timeout`]: the earliest router timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.insts
            .iter()
            .filter_map(|i| i.router.poll_timeout())
            .min()
    }

    // --- queries ---

    /// The number of instances.
    pub fn instance_count(&self) -> usize {
        self.insts.len()
    }

    /// An instance's configuration (VIP devices filled in).
    pub fn instance_config(&self, instance: InstanceId) -> Option<&InstanceConfig> {
        self.insts.get(instance.0 as usize).map(|i| &i.cfg)
    }

    /// An instance's router (state, priority, counters).
    pub fn router(&self, instance: InstanceId) -> Option<&Router> {
        self.insts.get(instance.0 as usize).map(|i| &i.router)
    }

    /// An instance's state.
    pub fn state(&self, instance: InstanceId) -> Option<State> {
        self.router(instance).map(Router::state)
    }

    /// An instance's effective priority.
    pub fn priority(&self, instance: InstanceId) -> Option<Priority> {
        self.router(instance).map(Router::priority)
    }

    /// Whether the instance holds its addresses.
    pub fn holds_vips(&self, instance: InstanceId) -> bool {
        self.insts
            .get(instance.0 as usize)
            .is_some_and(|i| i.vips_held)
    }

    /// Whether a fence is outstanding for the instance.
    pub fn is_fencing(&self, instance: InstanceId) -> bool {
        self.insts
            .get(instance.0 as usize)
            .is_some_and(|i| matches!(i.takeover, Takeover::Fencing(_)))
    }

    /// Which of the instance's steps are started.
    pub fn steps_started(&self, instance: InstanceId) -> &[bool] {
        self.insts
            .get(instance.0 as usize)
            .map_or(&[], |i| &i.steps.started[..])
    }

    /// Whether no step run and no fence is outstanding.
    pub fn is_idle(&self) -> bool {
        self.insts
            .iter()
            .all(|i| i.steps.inflight.is_none() && i.takeover == Takeover::Idle)
    }

    /// The addresses listed in the instance's adverts (`virtual_ipaddress`, not the excluded
    /// ones).
    pub fn advert_addresses(&self, instance: InstanceId) -> Vec<IpAddr> {
        self.insts
            .get(instance.0 as usize)
            .map(|i| i.cfg.vips.iter().map(|v| v.addr).collect())
            .unwrap_or_default()
    }

    /// The instance running `vrid` for `ipv4`'s family on `interface` (the runtime's demux).
    pub fn find_instance(&self, interface: &str, vrid: VrId, ipv4: bool) -> Option<InstanceId> {
        self.insts
            .iter()
            .position(|i| {
                i.cfg.interface == interface
                    && i.cfg.router.vrid == vrid
                    && i.cfg.router.primary_address.is_ipv4() == ipv4
            })
            .map(|i| InstanceId(i as u32))
    }

    /// The sync group of an instance.
    pub fn group_of(&self, instance: InstanceId) -> Option<GroupId> {
        self.insts.get(instance.0 as usize).and_then(|i| i.group)
    }

    /// A sync group's members.
    pub fn group_members(&self, group: GroupId) -> &[InstanceId] {
        self.groups
            .get(group.0 as usize)
            .map_or(&[], |g| &g.cfg.members[..])
    }

    /// The IPVS desired state of every virtual server (for a full reconcile against the
    /// kernel, e.g. at start or after an error).
    pub fn desired_ipvs(&self) -> Vec<ha_ipvs::model::VirtualService> {
        self.pools.iter().map(Pool::desired).collect()
    }

    /// A virtual server's configuration and whether each of its real servers is alive (in
    /// configuration order).
    pub fn pool(&self, server: VirtualServerId) -> Option<(&VirtualServerConfig, &[bool])> {
        self.pools
            .get(server.0 as usize)
            .map(|p| (&p.cfg, &p.alive[..]))
    }

    /// The number of virtual servers.
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// The IPVS desired state of one virtual server.
    pub fn desired_ipvs_of(
        &self,
        server: VirtualServerId,
    ) -> Option<ha_ipvs::model::VirtualService> {
        self.pools.get(server.0 as usize).map(Pool::desired)
    }

    /// Whether a virtual server's quorum is met.
    pub fn pool_quorum(&self, server: VirtualServerId) -> Option<bool> {
        self.pools.get(server.0 as usize).map(|p| p.quorum_up)
    }

    /// The number of trackers.
    pub fn tracker_count(&self) -> usize {
        self.trackers.len()
    }

    /// A tracker's configuration (the runtime observes what it names).
    pub fn tracker_config(&self, tracker: TrackerId) -> Option<&TrackerConfig> {
        self.trackers.get(tracker.0 as usize).map(|t| &t.cfg)
    }

    /// A tracker's status.
    pub fn tracker_status(&self, tracker: TrackerId) -> Option<TrackStatus> {
        self.trackers.get(tracker.0 as usize).map(|t| t.status)
    }

    /// Whether the instance has a fault of its own (its link is down or a tracker says fault),
    /// as opposed to one inherited from its sync group.
    pub fn has_own_fault(&self, instance: InstanceId) -> bool {
        self.insts
            .get(instance.0 as usize)
            .is_some_and(|i| self.own_fault(i))
    }

    // --- internals ---

    fn index(&self, instance: InstanceId) -> Result<usize, DirectorError> {
        let i = instance.0 as usize;
        if i < self.insts.len() {
            Ok(i)
        } else {
            Err(DirectorError::UnknownInstance(instance))
        }
    }

    fn own_fault(&self, inst: &Inst) -> bool {
        !inst.router.link_up() || tracker_fault(&self.trackers, &inst.cfg.track).is_some()
    }

    fn feed_tracker(&mut self, t: usize, result: TrackResult) -> bool {
        match self.trackers[t].feed(result) {
            Some(status) => {
                self.events.push_back(DirectorEvent::TrackerChanged {
                    tracker: TrackerId(t as u32),
                    status,
                });
                true
            }
            None => false,
        }
    }

    /// Sets every router's priority from its trackers (router queues are empty here).
    fn update_priorities(&mut self, now: Instant) {
        for i in 0..self.insts.len() {
            let inst = &mut self.insts[i];
            let base = inst.cfg.router.priority;
            if base == Priority::OWNER {
                continue;
            }
            let want =
                track::effective_priority(base, priority_sum(&self.trackers, &inst.cfg.track));
            let from = inst.router.priority();
            if want == from {
                continue;
            }
            match inst.router.set_priority(now, want) {
                Ok(()) => self.events.push_back(DirectorEvent::PriorityChanged {
                    instance: InstanceId(i as u32),
                    from,
                    to: want,
                }),
                Err(e) => tracing::warn!(instance = %inst.cfg.name, error = %e, "priority not set"),
            }
            // Drain now so a transition caused by this priority is attributed to it.
            self.drain_router(i);
        }
    }

    /// Applies tracking and sync-group faults to the routers (their queues are empty here).
    /// Returns whether any router was told something.
    fn apply_faults(&mut self, now: Instant) -> bool {
        let own: Vec<bool> = self.insts.iter().map(|i| self.own_fault(i)).collect();
        let mut touched = false;
        for i in 0..self.insts.len() {
            let inst = &self.insts[i];
            let mut cause = None;
            let desired = tracker_fault(&self.trackers, &inst.cfg.track).or_else(|| {
                let g = inst.group?;
                let member = self.groups[g.0 as usize]
                    .cfg
                    .members
                    .iter()
                    .find(|m| m.0 as usize != i && own[m.0 as usize])?;
                cause = Some(Cause::SyncGroup {
                    group: g,
                    member: *member,
                });
                Some(SYNC_GROUP_TRACK)
            });
            if desired == inst.applied_fault {
                continue;
            }
            touched = true;
            let inst = &mut self.insts[i];
            let before = inst.router.state();
            match desired {
                Some(t) => inst.router.set_fault(now, t),
                None => inst.router.clear_fault(now),
            }
            inst.applied_fault = desired;
            if inst.router.state() != before {
                inst.pending_cause = cause;
            }
        }
        touched
    }

    /// Moves the router outputs of instance `i` to the director's queues and acts on its
    /// transitions. Returns whether anything came out.
    fn drain_router(&mut self, i: usize) -> bool {
        let mut any = false;
        while let Some(tx) = self.insts[i].router.poll_transmit() {
            any = true;
            self.transmits.push_back((InstanceId(i as u32), tx));
        }
        // VIP ownership follows the states (below); the router's actions say the same thing.
        while self.insts[i].router.poll_action().is_some() {
            any = true;
        }
        while let Some(Event::Transition { from, to, reason }) = self.insts[i].router.poll_event() {
            any = true;
            self.on_transition(i, from, to, reason);
        }
        any
    }

    /// Runs every consequence of the inputs until nothing changes.
    fn pump(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut any = false;
            for i in 0..self.insts.len() {
                any |= self.drain_router(i);
            }
            if any {
                continue;
            }
            // All router queues are empty: apply one deferred sync operation, then faults.
            if let Some(op) = self.ops.pop_front() {
                self.run_sync_op(now, op);
                continue;
            }
            if !self.apply_faults(now) {
                self.update_groups();
                return;
            }
        }
        tracing::warn!(
            rounds = MAX_ROUNDS,
            "sync group propagation did not settle; continuing with the next input"
        );
        self.update_groups();
    }

    fn run_sync_op(&mut self, now: Instant, op: SyncOp) {
        let member_state = self.insts[op.member].router.state();
        let target = &mut self.insts[op.target];
        target.pending_cause = Some(Cause::SyncGroup {
            group: op.group,
            member: InstanceId(op.member as u32),
        });
        let moved = match (member_state, target.router.state()) {
            (State::Master, State::Backup) => target.router.force_master(now),
            (State::Backup, State::Master) => target.router.force_backup(now),
            _ => false,
        };
        if !moved {
            target.pending_cause = None;
        }
    }

    fn on_transition(&mut self, i: usize, from: State, to: State, reason: TransitionReason) {
        let id = InstanceId(i as u32);
        let cause = match self.insts[i].pending_cause.take() {
            Some(c) => c,
            // A router created in Fault for its group ([`Router::new_in_fault`]).
            None if reason == TransitionReason::TrackingFault(SYNC_GROUP_TRACK) => {
                let group = self.insts[i].group;
                let member = group.and_then(|g| {
                    self.groups[g.0 as usize]
                        .cfg
                        .members
                        .iter()
                        .copied()
                        .find(|m| m.0 as usize != i && self.own_fault(&self.insts[m.0 as usize]))
                });
                match (group, member) {
                    (Some(group), Some(member)) => Cause::SyncGroup { group, member },
                    _ => Cause::Router(reason),
                }
            }
            None => Cause::Router(reason),
        };
        let inst = &self.insts[i];
        let priority = inst.router.priority();
        self.events.push_back(DirectorEvent::Transition {
            instance: id,
            from,
            to,
            cause,
            priority,
        });
        let state = NotifyState::of(to);
        for argv in notify_argvs(
            &inst.cfg.notify,
            "INSTANCE",
            &inst.cfg.name,
            state,
            priority.get(),
        ) {
            self.actions.push_back(DirectorAction::Notify { argv });
        }
        if from == State::Master && to != State::Master {
            self.release(i);
        }
        if to == State::Master {
            self.takeover(i);
        }
        // Sync group propagation (keepalived vrrp_sync_group); forced moves do not propagate.
        let Some(g) = self.insts[i].group else {
            return;
        };
        if matches!(cause, Cause::SyncGroup { .. }) {
            return;
        }
        let members: Vec<usize> = self.groups[g.0 as usize]
            .cfg
            .members
            .iter()
            .map(|m| m.0 as usize)
            .filter(|&m| m != i)
            .collect();
        match to {
            // One member became Master: the others follow.
            State::Master => {
                for m in members {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: m,
                        member: i,
                    });
                }
            }
            // A master stepped down (or its fence failed): the others follow.
            State::Backup if from == State::Master => {
                for m in members {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: m,
                        member: i,
                    });
                }
            }
            // Started or left Fault while another member is Master: join it.
            State::Backup => {
                if let Some(m) = members
                    .into_iter()
                    .find(|&m| self.insts[m].router.state() == State::Master)
                {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: i,
                        member: m,
                    });
                }
            }
            State::Fault | State::Initialize => {}
        }
    }

    /// Emits the IPVS operations that move virtual server `p` to its desired state.
    fn emit_pool(&mut self, p: usize) {
        let pool = &mut self.pools[p];
        let desired = pool.desired();
        let ops = match &pool.applied {
            Some(old) => ha_ipvs::diff(std::slice::from_ref(old), std::slice::from_ref(&desired)),
            None => ha_ipvs::diff(&[], std::slice::from_ref(&desired)),
        };
        pool.applied = Some(desired);
        if !ops.is_empty() {
            self.actions.push_back(DirectorAction::Ipvs {
                server: VirtualServerId(p as u32),
                ops,
            });
        }
    }

    fn takeover(&mut self, i: usize) {
        if self.insts[i].cfg.fence {
            self.next_token += 1;
            let attempt = FenceAttempt(self.next_token);
            self.insts[i].takeover = Takeover::Fencing(attempt);
            self.actions.push_back(DirectorAction::Fence {
                instance: InstanceId(i as u32),
                attempt,
            });
        } else {
            self.acquire(i);
        }
    }

    fn acquire(&mut self, i: usize) {
        let instance = InstanceId(i as u32);
        let inst = &mut self.insts[i];
        inst.takeover = Takeover::Idle;
        inst.vips_held = true;
        let vips = inst.all_vips();
        let addresses: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
        if !vips.is_empty() {
            self.actions
                .push_back(DirectorAction::AddVips { instance, vips });
        }
        if !inst.cfg.routes.is_empty() {
            self.actions.push_back(DirectorAction::AddRoutes {
                instance,
                routes: inst.cfg.routes.clone(),
            });
        }
        if !addresses.is_empty() {
            self.actions.push_back(DirectorAction::Announce {
                instance,
                addresses,
            });
        }
        self.events
            .push_back(DirectorEvent::VipsAcquired { instance });
        inst.steps.want_up = true;
        inst.steps.rollback = false;
        self.advance_steps(i);
    }

    fn release(&mut self, i: usize) {
        let instance = InstanceId(i as u32);
        let inst = &mut self.insts[i];
        inst.takeover = Takeover::Idle;
        if inst.vips_held {
            inst.vips_held = false;
            if !inst.cfg.routes.is_empty() {
                self.actions.push_back(DirectorAction::RemoveRoutes {
                    instance,
                    routes: inst.cfg.routes.clone(),
                });
            }
            let vips = inst.all_vips();
            if !vips.is_empty() {
                self.actions
                    .push_back(DirectorAction::RemoveVips { instance, vips });
            }
            self.events
                .push_back(DirectorEvent::VipsReleased { instance });
        }
        inst.steps.want_up = false;
        self.advance_steps(i);
    }

    fn advance_steps(&mut self, i: usize) {
        let inst = &mut self.insts[i];
        let Some((index, op)) = inst.steps.next() else {
            return;
        };
        self.next_token += 1;
        let token = StepToken(self.next_token);
        inst.steps.inflight = Some(Inflight { index, op, token });
        self.actions.push_back(DirectorAction::RunStep {
            instance: InstanceId(i as u32),
            index,
            op,
            step: inst.cfg.steps[index].clone(),
            token,
        });
    }

    fn update_groups(&mut self) {
        for g in 0..self.groups.len() {
            let states: Vec<State> = self.groups[g]
                .cfg
                .members
                .iter()
                .map(|m| self.insts[m.0 as usize].router.state())
                .collect();
            let new = if states.contains(&State::Fault) {
                Some(NotifyState::Fault)
            } else if states.iter().all(|s| *s == State::Master) {
                Some(NotifyState::Master)
            } else if states.iter().all(|s| *s == State::Backup) {
                Some(NotifyState::Backup)
            } else if self.stopped && states.iter().all(|s| *s == State::Initialize) {
                Some(NotifyState::Stop)
            } else {
                None
            };
            let group = &mut self.groups[g];
            if let Some(state) = new
                && group.state != Some(state)
            {
                group.state = Some(state);
                self.events.push_back(DirectorEvent::GroupTransition {
                    group: GroupId(g as u32),
                    state,
                });
                for argv in notify_argvs(&group.cfg.notify, "GROUP", &group.cfg.name, state, 0) {
                    self.actions.push_back(DirectorAction::Notify { argv });
                }
            }
        }
    }
}
