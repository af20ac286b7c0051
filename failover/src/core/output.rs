//! The director's outputs: actions for the runtime and events for embedders.

use std::net::IpAddr;

use ha_vrrp_proto::Priority;
use ha_vrrp_proto::router::{State, TransitionReason};

use super::admin::{AdminMode, AdminReason};
use super::config::{GroupId, InstanceId, Step};
use super::pool::VirtualServerId;
use super::track::{TrackStatus, TrackerId};
use super::vip::VipSpec;

/// Identifies one fence request; [`Director::handle_fence_result`](super::Director::handle_fence_result)
/// must quote it (a late answer to an older request is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FenceAttempt(pub u64);

/// Identifies one step run; [`Director::handle_step_result`](super::Director::handle_step_result)
/// must quote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepToken(pub u64);

/// Start or stop a resource step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepOp {
    /// Start it.
    Start,
    /// Stop it.
    Stop,
}

/// keepalived's state names for notify scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyState {
    /// `MASTER`.
    Master,
    /// `BACKUP`.
    Backup,
    /// `FAULT`.
    Fault,
    /// `STOP` (shutdown).
    Stop,
}

impl NotifyState {
    /// The word keepalived passes to the generic `notify` script.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }

    /// The notify state of a router state (Initialize is only re-entered on shutdown).
    pub const fn of(state: State) -> NotifyState {
        match state {
            State::Master => NotifyState::Master,
            State::Backup => NotifyState::Backup,
            State::Fault => NotifyState::Fault,
            State::Initialize => NotifyState::Stop,
        }
    }
}

/// Something the runtime must do. Execute in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectorAction {
    /// Add these addresses (the `virtual_ipaddress` and `virtual_ipaddress_excluded` ones; each
    /// with its device filled in).
    AddVips {
        /// The instance.
        instance: InstanceId,
        /// The addresses.
        vips: Vec<VipSpec>,
    },
    /// Remove these addresses.
    RemoveVips {
        /// The instance.
        instance: InstanceId,
        /// The addresses.
        vips: Vec<VipSpec>,
    },
    /// Add these `virtual_routes` (opaque specs) and the instance's `virtual_rules`
    /// ([`InstanceConfig::rules`](super::InstanceConfig::rules)), after the addresses.
    AddRoutes {
        /// The instance.
        instance: InstanceId,
        /// The routes.
        routes: Vec<String>,
    },
    /// Remove the instance's `virtual_rules` and these `virtual_routes`, before the
    /// addresses.
    RemoveRoutes {
        /// The instance.
        instance: InstanceId,
        /// The routes.
        routes: Vec<String>,
    },
    /// Send gratuitous ARP / unsolicited NA for these addresses (RFC 9568 section 6.4.1), each
    /// on its address's device.
    Announce {
        /// The instance.
        instance: InstanceId,
        /// The addresses.
        addresses: Vec<IpAddr>,
    },
    /// A master heard a lower-priority advert (a split brain healing, or a peer that just
    /// started as master): announce its addresses again so that neighbours that followed the
    /// other master come back (keepalived's `garp_lower_prio_repeat`, on its own schedule).
    AnnounceLowerPriority {
        /// The instance.
        instance: InstanceId,
        /// The addresses.
        addresses: Vec<IpAddr>,
    },
    /// Fence the peer (heartbeat STONITH) before this instance takes over; answer with
    /// [`Director::handle_fence_result`](super::Director::handle_fence_result).
    Fence {
        /// The instance.
        instance: InstanceId,
        /// The request to quote.
        attempt: FenceAttempt,
    },
    /// Start or stop one resource step; answer with
    /// [`Director::handle_step_result`](super::Director::handle_step_result). At most one step
    /// per instance is in flight.
    RunStep {
        /// The instance.
        instance: InstanceId,
        /// The step's index in the instance's resource group.
        index: usize,
        /// Start or stop.
        op: StepOp,
        /// The step.
        step: Step,
        /// The run to quote.
        token: StepToken,
    },
    /// Apply these IPVS operations (from [`ha_ipvs::diff()`]) for a virtual server whose
    /// desired state changed; the first one for a server creates it.
    Ipvs {
        /// The virtual server.
        server: VirtualServerId,
        /// The operations, in order.
        ops: Vec<ha_ipvs::Op>,
    },
    /// Run a notify script with exactly these arguments (`argv[0]` is the program).
    Notify {
        /// The command line.
        argv: Vec<String>,
    },
}

/// Why an instance changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The router's own reason (RFC events, link, tracking).
    Router(TransitionReason),
    /// The instance followed a member of its sync group (to Master, Backup or Fault, or out of
    /// Fault).
    SyncGroup {
        /// The group.
        group: GroupId,
        /// The member it followed.
        member: InstanceId,
    },
    /// The fence before takeover failed: the instance went back to Backup.
    FenceFailed,
    /// The instance's administrative mode moved it ([`Director::set_admin`](super::Director::set_admin),
    /// or Standby after a failed step start).
    Admin(AdminMode),
}

/// Something that happened, for embedders (logs, metrics, UIs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectorEvent {
    /// An instance changed state.
    Transition {
        /// The instance.
        instance: InstanceId,
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        cause: Cause,
        /// The effective priority at the time.
        priority: Priority,
    },
    /// A sync group's common state changed.
    GroupTransition {
        /// The group.
        group: GroupId,
        /// The new state.
        state: NotifyState,
    },
    /// An instance's effective priority changed (tracking).
    PriorityChanged {
        /// The instance.
        instance: InstanceId,
        /// The old priority.
        from: Priority,
        /// The new priority.
        to: Priority,
    },
    /// A tracker's status changed.
    TrackerChanged {
        /// The tracker.
        tracker: TrackerId,
        /// The new status.
        status: TrackStatus,
    },
    /// The instance now holds its addresses (after a successful fence, if any).
    VipsAcquired {
        /// The instance.
        instance: InstanceId,
    },
    /// The instance released its addresses.
    VipsReleased {
        /// The instance.
        instance: InstanceId,
    },
    /// A fence finished.
    FenceResult {
        /// The instance.
        instance: InstanceId,
        /// The request.
        attempt: FenceAttempt,
        /// Whether the peer was fenced.
        ok: bool,
    },
    /// A real server's health changed.
    RealServerChanged {
        /// The virtual server.
        server: VirtualServerId,
        /// The real server's index.
        index: usize,
        /// Whether it is alive.
        alive: bool,
    },
    /// A virtual server's quorum was gained or lost.
    PoolQuorum {
        /// The virtual server.
        server: VirtualServerId,
        /// Whether the quorum is met.
        up: bool,
    },
    /// An advert path of an instance went silent (it heard adverts, then none for three
    /// advert intervals while another path still heard them) or was heard again (heartbeat's
    /// `Link node:eth1 dead` / `up`).
    PathChanged {
        /// The instance.
        instance: InstanceId,
        /// The path: 0 the instance's interface, `k` its `paths[k - 1]`.
        path: usize,
        /// The path's interface.
        interface: String,
        /// Heard again (`true`) or silent (`false`).
        alive: bool,
    },
    /// An instance's administrative mode was set (heartbeat `hb_standby` / `hb_takeover`).
    AdminChanged {
        /// The instance.
        instance: InstanceId,
        /// The new mode.
        mode: AdminMode,
        /// Why.
        reason: AdminReason,
    },
    /// heartbeat's `warntime`: this backup has heard no advert from its master for
    /// `silent_for` (once per silence).
    LateAdvert {
        /// The instance.
        instance: InstanceId,
        /// The master last heard.
        master: Option<IpAddr>,
        /// How long it has been silent.
        silent_for: std::time::Duration,
    },
    /// A resource step finished.
    StepResult {
        /// The instance.
        instance: InstanceId,
        /// The step's index.
        index: usize,
        /// The step's name.
        name: String,
        /// Start or stop.
        op: StepOp,
        /// Whether it succeeded.
        ok: bool,
    },
}
