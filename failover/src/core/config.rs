//! The director's configuration: instances, sync groups, notify scripts, resource steps, and
//! the errors of building it.

use std::net::IpAddr;

use ha_vrrp_proto::VrId;
use ha_vrrp_proto::router::{Config as RouterConfig, ConfigError as RouterConfigError};
use ha_vrrp_proto::wire::auth::AdvertKey;
use ha_vrrp_proto::wire::{Auth, ChecksumMode};

use super::track::{TrackRef, TrackerId};
use super::vip::VipSpec;

/// An instance's identifier: its index in the director, in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u32);

/// A sync group's identifier: its index in the director, in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// keepalived's notify scripts of an instance or a sync group. Each is an argv (the program
/// and its arguments); the runtime runs them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NotifyScripts {
    /// `notify_master`: run as given on entering Master.
    pub master: Option<Vec<String>>,
    /// `notify_backup`: run as given on entering Backup.
    pub backup: Option<Vec<String>>,
    /// `notify_fault`: run as given on entering Fault.
    pub fault: Option<Vec<String>>,
    /// `notify_stop`: run as given on shutdown.
    pub stop: Option<Vec<String>>,
    /// `notify`: run on every state change with four more arguments, exactly as keepalived:
    /// `INSTANCE|GROUP`, the name, `MASTER|BACKUP|FAULT|STOP`, and the effective priority
    /// (always `0` for a group).
    pub generic: Option<Vec<String>>,
}

/// What one resource step runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepKind {
    /// Commands (argv) to start and stop the resource.
    Command {
        /// Run when starting.
        start: Vec<String>,
        /// Run when stopping.
        stop: Vec<String>,
    },
    /// A named service the runtime knows how to start and stop (heartbeat's
    /// `haresources` resource scripts, e.g. `httpd`, `Filesystem::/dev/sdb1::/data`).
    Service(String),
    /// An address: added (and announced with gratuitous ARP or unsolicited NA, as a VIP is)
    /// on start, removed on stop (heartbeat's `IPaddr` resource).
    Address(VipSpec),
}

/// One step of an instance's resource group (heartbeat `haresources`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    /// A name for events.
    pub name: String,
    /// What runs.
    pub kind: StepKind,
    /// How long a start or a stop may run before it counts as failed; `None`: the runtime's
    /// command timeout.
    pub timeout: Option<std::time::Duration>,
}

impl Step {
    /// A step with the runtime's command timeout.
    pub fn new(name: impl Into<String>, kind: StepKind) -> Step {
        Step {
            name: name.into(),
            kind,
            timeout: None,
        }
    }
}

/// The configuration of one VRRP instance (keepalived `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The instance's name (`vrrp_instance NAME`), unique in the director.
    pub name: String,
    /// The interface it runs on.
    pub interface: String,
    /// The router's parameters. Its `priority` is the base priority that tracking adjusts.
    pub router: RouterConfig,
    /// `virtual_ipaddress`: held by the master and listed in adverts; all of the router's
    /// address family.
    pub vips: Vec<VipSpec>,
    /// `virtual_ipaddress_excluded`: held by the master, not listed in adverts; any family.
    pub excluded_vips: Vec<VipSpec>,
    /// `virtual_routes`, carried as opaque route specs (keepalived's route syntax) for the
    /// runtime: added after the addresses, removed with them.
    pub routes: Vec<String>,
    /// `virtual_rules`, carried as opaque rule specs (keepalived's `ip rule` syntax) for the
    /// runtime: added after the routes, removed before them (with the
    /// [`DirectorAction::AddRoutes`](super::DirectorAction::AddRoutes) /
    /// [`RemoveRoutes`](super::DirectorAction::RemoveRoutes) actions).
    pub rules: Vec<String>,
    /// The TTL / hop limit ranges adverts from unicast peers must arrive with (keepalived's
    /// `unicast_peer { ADDR min_ttl N max_ttl M }`): `(peer, min, max)`. A unicast advert from
    /// a peer not listed is accepted at any TTL, as keepalived does (multicast ones always
    /// need 255).
    pub peer_ttl: Vec<(IpAddr, u8, u8)>,
    /// Trackers with their weights.
    pub track: Vec<TrackRef>,
    /// Fence (heartbeat STONITH) before taking over: see [`DirectorAction::Fence`](super::DirectorAction::Fence).
    pub fence: bool,
    /// The resource group, started in order after the addresses on becoming master, stopped
    /// in reverse order on leaving.
    pub steps: Vec<Step>,
    /// Notify scripts.
    pub notify: NotifyScripts,
    /// VRRPv2 authentication (keepalived `authentication`): sent in adverts and required of
    /// received ones ([`Auth::None`] for VRRPv3).
    pub auth: Auth,
    /// How the VRRP checksum is computed (keepalived `v3_checksum_as_v2`).
    pub checksum_mode: ChecksumMode,
    /// keepalived `dont_track_primary`: the instance's own interface going down does not put
    /// it in Fault (its link state is ignored; interface trackers still apply).
    pub dont_track_primary: bool,
    /// HMAC-authenticated adverts (heartbeat `authkeys` md5/sha1): every advert sent carries
    /// the trailer of [`ha_vrrp_proto::wire::auth`], and a received one without a valid
    /// trailer, or with a sequence number already seen, is dropped (`auth` / `replay`).
    /// `None`: plain RFC VRRP. Not with VRRPv2 [`InstanceConfig::auth`].
    pub advert_key: Option<AdvertKey>,
    /// Redundant advert paths besides the instance's own interface (heartbeat's several
    /// `ucast` / `bcast` / `mcast` lines): adverts go out on every path, and one heard on any
    /// path counts for the instance, so the peer is declared dead only when silent on all.
    pub paths: Vec<AdvertPath>,
}

/// One more path an instance's adverts take (see [`InstanceConfig::paths`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvertPath {
    /// The interface.
    pub interface: String,
    /// The address adverts on this path are sent from (this host's address on `interface`,
    /// of the instance's family).
    pub source: IpAddr,
    /// Unicast peers on this path; empty: multicast.
    pub peers: Vec<IpAddr>,
    /// The multicast group when `peers` is empty; `None`: the RFC's group of the family.
    pub multicast_group: Option<IpAddr>,
}

impl InstanceConfig {
    /// The addresses its adverts list: `vips`; or, when it has none, the addresses of its
    /// [`StepKind::Address`] steps (heartbeat's `haresources`, whose addresses are resources
    /// started in order with the others).
    pub fn advert_addresses(&self) -> Vec<IpAddr> {
        if self.vips.is_empty() {
            self.steps
                .iter()
                .filter_map(|s| match &s.kind {
                    StepKind::Address(v) => Some(v.addr),
                    _ => None,
                })
                .collect()
        } else {
            self.vips.iter().map(|v| v.addr).collect()
        }
    }

    /// An instance with no addresses, tracking, fencing, steps or scripts.
    pub fn new(
        name: impl Into<String>,
        interface: impl Into<String>,
        router: RouterConfig,
    ) -> Self {
        InstanceConfig {
            name: name.into(),
            interface: interface.into(),
            router,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            peer_ttl: Vec::new(),
            track: Vec::new(),
            fence: false,
            steps: Vec::new(),
            notify: NotifyScripts::default(),
            auth: Auth::None,
            checksum_mode: ChecksumMode::Standard,
            dont_track_primary: false,
            advert_key: None,
            paths: Vec::new(),
        }
    }
}

/// The configuration of a sync group (keepalived `vrrp_sync_group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupConfig {
    /// The group's name, unique among groups.
    pub name: String,
    /// The members (at least one; an instance is in at most one group).
    pub members: Vec<InstanceId>,
    /// The group's notify scripts.
    pub notify: NotifyScripts,
}

impl SyncGroupConfig {
    /// A group of `members` without notify scripts.
    pub fn new(name: impl Into<String>, members: Vec<InstanceId>) -> Self {
        Self {
            name: name.into(),
            members,
            notify: NotifyScripts::default(),
        }
    }
}

/// A configuration the director rejected; names the instance, group or tracker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectorConfigError {
    /// An instance's `virtual_ipaddress` list does not fit one advert.
    #[error("instance {instance:?}: {source}")]
    Addresses {
        /// The instance.
        instance: String,
        /// The limit exceeded.
        #[source]
        source: ha_vrrp_proto::wire::TooManyAddresses,
    },
    /// Two instances share a name.
    #[error("instance {name:?} is defined twice")]
    DuplicateInstance {
        /// The name.
        name: String,
    },
    /// Two instances on one interface share a VRID and family.
    #[error("instances {first:?} and {second:?} both use VRID {vrid} on {interface}")]
    DuplicateVrid {
        /// The first instance.
        first: String,
        /// The second instance.
        second: String,
        /// The VRID.
        vrid: VrId,
        /// The interface.
        interface: String,
    },
    /// The router configuration is invalid.
    #[error("instance {instance:?}: {source}")]
    Router {
        /// The instance.
        instance: String,
        /// What is wrong.
        #[source]
        source: RouterConfigError,
    },
    /// A `virtual_ipaddress` is not of the router's address family.
    #[error(
        "instance {instance:?}: virtual address {addr} is not of the family of primary address {primary} (use virtual_ipaddress_excluded)"
    )]
    VipFamily {
        /// The instance.
        instance: String,
        /// The address.
        addr: IpAddr,
        /// The router's primary address.
        primary: IpAddr,
    },
    /// A tracker reference names no tracker.
    #[error("instance {instance:?}: tracker {tracker:?} does not exist")]
    UnknownTracker {
        /// The instance.
        instance: String,
        /// The tracker.
        tracker: TrackerId,
    },
    /// A weight is out of range.
    #[error(
        "instance {instance:?}: weight {weight} for tracker {tracker:?} is out of range {min}..={max}"
    )]
    WeightOutOfRange {
        /// The instance.
        instance: String,
        /// The tracker.
        tracker: TrackerId,
        /// The weight.
        weight: i32,
        /// The smallest allowed.
        min: i32,
        /// The largest allowed.
        max: i32,
    },
    /// A sync group names an instance that does not exist.
    #[error("sync group {group:?}: instance {instance:?} does not exist")]
    UnknownMember {
        /// The group.
        group: String,
        /// The instance.
        instance: InstanceId,
    },
    /// An instance is in two sync groups (or twice in one).
    #[error("sync group {group:?}: instance {instance:?} is already in sync group {other:?}")]
    MemberTwice {
        /// The group.
        group: String,
        /// The instance's name.
        instance: String,
        /// The group it is already in.
        other: String,
    },
    /// A sync group with no members.
    #[error("sync group {group:?} has no members")]
    EmptyGroup {
        /// The group.
        group: String,
    },
    /// Two sync groups share a name.
    #[error("sync group {name:?} is defined twice")]
    DuplicateGroup {
        /// The name.
        name: String,
    },
    /// A virtual server the IPVS model rejects (its service, a real server, a duplicate, the
    /// sorry server).
    #[error("virtual server {name:?}: {source}")]
    VirtualServer {
        /// The virtual server.
        name: String,
        /// What is wrong.
        #[source]
        source: ha_ipvs::model::ModelError,
    },
    /// A virtual server's tracker does not exist or is not a pool tracker.
    #[error("virtual server {name:?}: tracker {tracker:?} is not a pool tracker")]
    PoolTracker {
        /// The virtual server.
        name: String,
        /// The tracker.
        tracker: TrackerId,
    },
    /// A virtual server's mastership gate names an instance that does not exist.
    #[error(
        "virtual server {name:?}: its mastership gate names instance {instance:?}, which does not exist"
    )]
    GateInstance {
        /// The virtual server.
        name: String,
        /// The instance.
        instance: InstanceId,
    },
    /// An advert path or the advert key cannot be used (the detail says why).
    #[error("instance {instance:?}: {detail}")]
    AdvertPath {
        /// The instance.
        instance: String,
        /// What is wrong.
        detail: String,
    },
    /// A notify script or step command with an empty argv.
    #[error("{owner:?}: {what} has an empty command")]
    EmptyCommand {
        /// The instance or group.
        owner: String,
        /// Which script or step.
        what: String,
    },
}

/// A runtime input the director could not apply (the name of what was wrong is in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectorError {
    /// No such instance.
    #[error("no instance {0:?}")]
    UnknownInstance(InstanceId),
    /// The director was shut down.
    #[error("the director is shut down")]
    Stopped,
    /// The address owner (priority 255) cannot be put in Standby: it always preempts
    /// (RFC 9568 section 6.1).
    #[error("instance {instance:?} owns its addresses (priority 255): it cannot be put in standby")]
    AdminOwner {
        /// The instance.
        instance: String,
    },
    /// No such tracker.
    #[error("no tracker {0:?}")]
    UnknownTracker(TrackerId),
    /// No such virtual server or real server.
    #[error("no real server {index} in virtual server {server:?}")]
    UnknownRealServer {
        /// The virtual server.
        server: super::pool::VirtualServerId,
        /// The real server's index.
        index: usize,
    },
    /// The result does not fit the tracker's kind (e.g. a value for a script).
    #[error("tracker {name:?}: result {result} does not fit its kind ({kind})")]
    WrongResultKind {
        /// The tracker's name.
        name: String,
        /// The result given.
        result: String,
        /// The tracker's kind.
        kind: &'static str,
    },
}
