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
//!   started, in reverse, and puts the instance in administrative Standby with the reason
//!   `start failed` ([`AdminReason::StartFailed`]): it gives the addresses to the peer, as heartbeat does, and
//!   takes over again only if the peer dies. A failed stop is reported and the step counted
//!   as stopped.
//! - **Administrative mode** ([`AdminMode`], heartbeat `hb_standby` / `hb_takeover`):
//!   [`Director::set_admin`] gives the resources to the peer or takes them; kept across a
//!   reload.
//! - **heartbeat timings**: `deadtime`, `initdead` and `warntime` are the router's
//!   ([`Config::dead_interval`](ha_vrrp_proto::router::Config::dead_interval) and the
//!   others); a late master is logged, counted ([`Director::late_adverts`]) and reported as
//!   [`DirectorEvent::LateAdvert`].
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
//! Build with [`DirectorBuilder`]. Feed received VRRP messages as bytes
//! ([`Director::handle_packet`]: the core validates, demultiplexes and counts drops; see
//! [`packet`]). After **every** `handle_*` call, drain [`Director::poll_transmit`] (adverts as
//! bytes, sent as they are), [`Director::poll_action`] and [`Director::poll_event`]; then
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
//! let mut buf = Vec::new();
//! loop {
//!     while let Some(tx) = director.poll_transmit(&mut buf) {
//!         let _bytes = &buf[..tx.len]; /* send from tx.src to tx.dst on the instance's socket */
//!     }
//!     while let Some(_action) = director.poll_action() { /* add VIPs, run scripts, ... */ }
//!     while let Some(_event) = director.poll_event() { /* log */ }
//!     let _deadline = director.poll_timeout();
//!     // wait for a packet, a link change, a result or the deadline, then e.g.
//!     director.handle_timeout(Instant::now());
//!     # break;
//! }
//! ```

mod admin;
mod agenda;
mod builder;
mod config;
mod notify;
mod output;
pub mod packet;
pub mod pool;
mod reload;
mod servers;
mod sync;
mod takeover;
pub mod track;
mod tracking;
pub mod vip;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use ha_vrrp_proto::router::{
    Event, Router, RxAdvert, State, TrackId, TransitionReason, Transmit as RouterTransmit,
};
use ha_vrrp_proto::{DropCounts, Priority, VrId};

pub use admin::{AdminMode, AdminReason};
pub use builder::DirectorBuilder;
pub use config::{
    AdvertPath, DirectorConfigError, DirectorError, GroupId, InstanceConfig, InstanceId,
    NotifyScripts, Step, StepKind, SyncGroupConfig,
};
pub use output::{
    Cause, DirectorAction, DirectorEvent, FenceAttempt, NotifyState, StepOp, StepToken,
};
pub use packet::{MAX_ADVERT_LEN, PacketMeta, PathStatus, Transmit};
pub use pool::{GateEffect, MastershipGate, RealServer, VirtualServerConfig, VirtualServerId};
pub use reload::{ReconfigureError, Reconfigured};
pub use track::{
    Contribution, ParamMatch, ProcessSpec, TrackRef, TrackResult, TrackStatus, TrackerConfig,
    TrackerId, TrackerKind,
};
pub use vip::{Scope, VipFlags, VipParseError, VipSpec, pick_primary_address};

use admin::Admin;
use agenda::Agenda;
use notify::notify_argvs;
use packet::{DirectorWire, InstWire};
use pool::Pool;
use sync::{Group, SyncOp};
use takeover::{Steps, Takeover};
use track::Tracker;
use tracking::tracker_fault;

/// The [`TrackId`] the director gives a router that is in Fault because another member of its
/// sync group has a fault of its own. Tracker `n` is `TrackId(n)`.
pub const SYNC_GROUP_TRACK: TrackId = TrackId(u32::MAX);

/// An upper bound on internal propagation rounds per input (sync groups converge in a few).
const MAX_ROUNDS: usize = 1024;

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
    /// Resource groups of earlier configurations that a reload replaced while some of their
    /// steps were started: stopped (in reverse, with their own commands) before the current
    /// group may start.
    retired: Vec<Steps>,
    /// Its adverts' address list and the codec's drops.
    wire: InstWire,
    /// The administrative mode (heartbeat `hb_standby` / `hb_takeover`).
    admin: Admin,
    /// Late-advert warnings (heartbeat `warntime`) of this instance, over its routers (a
    /// reload may replace the router).
    late_adverts: u64,
}

impl Inst {
    /// An instance as at startup: no takeover, no addresses, no step started.
    fn new(
        cfg: InstanceConfig,
        router: Router,
        group: Option<GroupId>,
        fault: Option<TrackId>,
        wire: InstWire,
    ) -> Inst {
        let steps = Steps::new(cfg.steps.clone());
        Inst {
            wire,
            admin: Admin::default(),
            late_adverts: 0,
            retired: Vec::new(),
            cfg,
            router,
            group,
            applied_fault: fault,
            pending_cause: None,
            takeover: Takeover::Idle,
            vips_held: false,
            steps,
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

/// One node: many VRRP instances with sync groups, tracking, VIP ownership, fencing,
/// resource steps and notify. See the [module docs](self).
///
/// Its methods by class (the shape of every sans-io machine in the workspace):
/// - constructor: [`DirectorBuilder::build`];
/// - queries: [`instance_count`](Self::instance_count), [`instance_config`](Self::instance_config),
///   [`router`](Self::router), [`state`](Self::state), [`priority`](Self::priority),
///   [`holds_vips`](Self::holds_vips), [`is_fencing`](Self::is_fencing),
///   [`steps_started`](Self::steps_started), [`is_idle`](Self::is_idle),
///   [`find_instance`](Self::find_instance), [`drops`](Self::drops),
///   [`unmatched_drops`](Self::unmatched_drops), groups, pools and trackers;
/// - inputs: [`handle_packet`](Self::handle_packet) (or
///   [`validate_packet`](Self::validate_packet) then [`handle_advert`](Self::handle_advert)),
///   [`handle_timeout`](Self::handle_timeout), [`handle_link`](Self::handle_link),
///   [`handle_track_result`](Self::handle_track_result),
///   [`handle_fence_result`](Self::handle_fence_result),
///   [`handle_step_result`](Self::handle_step_result),
///   [`handle_real_server`](Self::handle_real_server),
///   [`handle_real_server_weight`](Self::handle_real_server_weight);
/// - mutators (commands): [`shutdown`](Self::shutdown), [`set_admin`](Self::set_admin),
///   [`reconfigure_begin`](Self::reconfigure_begin) /
///   [`reconfigure_finish`](Self::reconfigure_finish);
/// - outputs: [`poll_transmit`](Self::poll_transmit), [`poll_action`](Self::poll_action),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
#[derive(Debug, Clone)]
pub struct Director {
    insts: Vec<Inst>,
    groups: Vec<Group>,
    trackers: Vec<Tracker>,
    pools: Vec<Pool>,
    transmits: VecDeque<(InstanceId, RouterTransmit)>,
    /// Messages dropped before an instance was found.
    unmatched: DropCounts,
    actions: VecDeque<DirectorAction>,
    events: VecDeque<DirectorEvent>,
    ops: VecDeque<SyncOp>,
    next_token: u64,
    stopped: bool,
    /// The advert sequence numbers and the adverts queued for the extra paths.
    wire: DirectorWire,
    /// The instances an input touched and the routers' timers (see [`agenda`]).
    agenda: Agenda,
    /// A link, a tracker or a reload may have changed an instance's fault: the next pump
    /// applies faults (which reads every instance); other inputs skip it.
    faults_dirty: bool,
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
        let r = &self.insts[i].router;
        let master_before = r.state() == State::Master;
        let (sent, lower) = (
            r.counters().adverts_sent,
            r.counters()
                .dropped(ha_vrrp_proto::DropReason::LowerPriority),
        );
        self.agenda.touch(i);
        self.insts[i].router.handle_advert(now, adv);
        // A master that heard a lower-priority advert (it answered it, or discarded it): the
        // only branch where a master stays master and sends or drops for that reason.
        let r = &self.insts[i].router;
        if master_before
            && adv.priority != Priority::STOP
            && r.state() == State::Master
            && (r.counters().adverts_sent != sent
                || r.counters()
                    .dropped(ha_vrrp_proto::DropReason::LowerPriority)
                    != lower)
            && self.insts[i].vips_held
        {
            let addresses: Vec<IpAddr> = self.insts[i].all_vips().iter().map(|v| v.addr).collect();
            if !addresses.is_empty() {
                self.actions
                    .push_back(DirectorAction::AnnounceLowerPriority {
                        instance,
                        addresses,
                    });
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Fires due timers; a no-op before [`Director::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        // Only the routers whose timer is due (the agenda touches each).
        while let Some(i) = self.agenda.take_due(now) {
            self.insts[i].router.handle_timeout(now);
        }
        self.pump(now);
    }

    /// Reports an interface's link state: the instances on it (Fault on down) and the
    /// interface trackers of that name.
    pub fn handle_link(&mut self, now: Instant, ifname: &str, up: bool) {
        for (i, inst) in self.insts.iter_mut().enumerate() {
            if inst.cfg.interface == ifname && !inst.cfg.dont_track_primary {
                self.agenda.touch(i);
                inst.router.handle_link(now, up);
            }
        }
        // An instance's own fault follows its link (and its sync group's follow it).
        self.faults_dirty = true;
        let result = if up {
            TrackResult::Up
        } else {
            TrackResult::Down
        };
        let mut changed = false;
        for t in 0..self.trackers.len() {
            if matches!(&self.trackers[t].cfg.kind, TrackerKind::Interface { ifname: n } if n == ifname)
            {
                changed |= self.feed_tracker(now, t, result);
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

    /// Shuts every instance down (a master sends priority 0 and releases its addresses; the
    /// `notify_stop` scripts run; started steps are stopped in reverse: keep feeding
    /// [`Director::handle_step_result`] until [`Director::is_idle`]).
    pub fn shutdown(&mut self, now: Instant) {
        if !self.stopped {
            self.omega_scripts();
        }
        self.stopped = true;
        for (i, inst) in self.insts.iter_mut().enumerate() {
            self.agenda.touch(i);
            inst.router.shutdown(now);
        }
        self.pump(now);
    }

    // --- outputs ---

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
        let next = self.agenda.first_timer().map(|(at, _)| at);
        debug_assert_eq!(
            next,
            self.insts
                .iter()
                .filter_map(|i| i.router.poll_timeout())
                .min(),
            "a router's timer moved without the agenda knowing"
        );
        next
    }

    /// The instance whose timer [`Director::poll_timeout`] reports, with that deadline (the
    /// lowest-numbered one when several are due together).
    #[must_use]
    pub fn next_timer(&self) -> Option<(Instant, InstanceId)> {
        self.agenda
            .first_timer()
            .map(|(at, i)| (at, InstanceId(i as u32)))
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
        self.insts.iter().all(|i| {
            i.steps.inflight.is_none() && i.retired.is_empty() && i.takeover == Takeover::Idle
        })
    }

    /// The addresses listed in the instance's adverts (`virtual_ipaddress`, not the excluded
    /// ones; see [`InstanceConfig::advert_addresses`]).
    pub fn advert_addresses(&self, instance: InstanceId) -> Vec<IpAddr> {
        self.insts
            .get(instance.0 as usize)
            .map(|i| i.cfg.advert_addresses())
            .unwrap_or_default()
    }

    /// The instance running `vrid` for `ipv4`'s family on `interface`, its own or one of its
    /// advert paths (the runtime's demux; [`Director::find_path`] also says which path).
    pub fn find_instance(&self, interface: &str, vrid: VrId, ipv4: bool) -> Option<InstanceId> {
        self.find_path(interface, vrid, ipv4).map(|(id, _)| id)
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
        self.pools.iter().flat_map(Pool::desired_all).collect()
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

    /// The IPVS desired state of each service of one virtual server (more than one for a
    /// virtual server group); empty for an unknown server.
    pub fn desired_services_of(
        &self,
        server: VirtualServerId,
    ) -> Vec<ha_ipvs::model::VirtualService> {
        self.pools
            .get(server.0 as usize)
            .map(Pool::desired_all)
            .unwrap_or_default()
    }

    /// The IPVS services of a virtual server that are in the desired state now (none while
    /// an install gate is closed): what a stop deletes.
    pub fn installed_services(&self, server: VirtualServerId) -> Vec<ha_ipvs::model::ServiceKey> {
        self.pools
            .get(server.0 as usize)
            .and_then(|p| p.applied.as_ref())
            .map(|a| a.iter().map(|v| v.service.key).collect())
            .unwrap_or_default()
    }

    /// Whether a virtual server's [`MastershipGate`] is open (true without a gate).
    pub fn pool_open(&self, server: VirtualServerId) -> Option<bool> {
        self.pools.get(server.0 as usize).map(|p| p.open)
    }

    /// The IPVS desired state of one virtual server's first service.
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
        while let Some(ev) = self.insts[i].router.poll_event() {
            any = true;
            match ev {
                Event::Transition { from, to, reason } => self.on_transition(i, from, to, reason),
                Event::LateAdvert { master, silent_for } => {
                    self.on_late_advert(i, master, silent_for)
                }
                // A kind of router event this director does not know yet: nothing to do.
                other => tracing::debug!(event = ?other, "router event not handled"),
            }
        }
        any
    }

    /// Runs every consequence of the inputs until nothing changes.
    fn pump(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut any = false;
            // The touched routers in index order (a router touched while another drains is
            // drained in this round if its index is higher, as when every router was); the
            // others have nothing queued.
            let mut from = 0;
            while let Some(i) = self.agenda.next_touched(from) {
                any |= self.drain_router(i);
                from = i + 1;
            }
            if any {
                continue;
            }
            // All router queues are empty: apply one deferred sync operation, then faults.
            if let Some(op) = self.ops.pop_front() {
                self.run_sync_op(now, op);
                continue;
            }
            if !self.faults_dirty || !self.apply_faults(now) {
                self.faults_dirty = false;
                self.update_groups();
                self.update_gates(now);
                self.settle(true);
                return;
            }
        }
        tracing::warn!(
            rounds = MAX_ROUNDS,
            "sync group propagation did not settle; continuing with the next input"
        );
        self.update_groups();
        self.settle(false);
    }

    /// Records the touched routers' timers. In debug builds, checks the agenda's rule: every
    /// router's timer is the one recorded and, when the pump settled (`drained`), nothing is
    /// left queued.
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    fn settle(&mut self, drained: bool) {
        let insts = &self.insts;
        self.agenda
            .settle(|i| insts.get(i).and_then(|inst| inst.router.poll_timeout()));
        #[cfg(debug_assertions)]
        for (i, inst) in self.insts.iter().enumerate() {
            debug_assert!(
                !drained || !inst.router.has_output(),
                "instance {i} has output that was not drained: was it touched?"
            );
            debug_assert_eq!(
                inst.router.poll_timeout(),
                self.agenda.recorded(i),
                "instance {i}'s timer moved without the agenda knowing"
            );
        }
    }

    /// heartbeat's warntime: the master this backup follows is late; logged, counted and
    /// reported.
    fn on_late_advert(
        &mut self,
        i: usize,
        master: Option<IpAddr>,
        silent_for: std::time::Duration,
    ) {
        let inst = &mut self.insts[i];
        inst.late_adverts += 1;
        tracing::warn!(
            instance = %inst.cfg.name,
            master = ?master,
            "late advert: no advert from the master for {} ms",
            silent_for.as_millis()
        );
        self.events.push_back(DirectorEvent::LateAdvert {
            instance: InstanceId(i as u32),
            master,
            silent_for,
        });
    }

    /// Late-advert warnings (heartbeat `warntime`) of an instance since start.
    pub fn late_adverts(&self, instance: InstanceId) -> u64 {
        self.insts
            .get(instance.0 as usize)
            .map_or(0, |i| i.late_adverts)
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
        self.propagate(i, from, to, cause);
    }
}
