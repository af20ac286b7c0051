//! What [`super::director::run`] takes and gives: the configuration of a node, the channels to
//! its embedder, reload requests and the events it reports. Plain data; no IO.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::error::DirectorRunError;
use super::exec;
use super::netlink::Vip;
use super::status::StatusRequests;
use crate::core::{AdminMode, DirectorBuilder, DirectorEvent, InstanceId, VirtualServerId};
use ha_vrrp_proto::DropReason;

/// Per-instance runtime options the sans-io configuration does not carry (authentication
/// and the checksum mode are in [`crate::core::InstanceConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceOptions {
    /// The fence command (heartbeat STONITH) for an instance configured with `fence`: exit
    /// status 0 means the peer is fenced.
    pub fence: Option<Vec<String>>,
    /// How long the fence command may run; `None`: [`DirectorConfig::command_timeout`].
    pub fence_timeout: Option<Duration>,
    /// Run on a VRRP virtual MAC interface of this name (keepalived `use_vmac`;
    /// [`super::vmac::default_name`] gives keepalived's `vrrp.<vrid>`): its VIPs that name
    /// no device go on it, adverts and announcements leave from it with the virtual MAC
    /// `00-00-5E-00-01-{VRID}` (RFC 9568 section 7.3), so neighbours never need to update
    /// their caches on a failover. It is created at start and removed at stop.
    pub vmac: Option<String>,
    /// This instance's gratuitous ARP / NA schedule (keepalived's per-instance
    /// `garp_master_*`); `None`: [`DirectorConfig::announce`].
    pub announce: Option<ha_arp::Config>,
    /// What it sends when, as master, it hears a lower-priority advert (keepalived's
    /// `garp_lower_prio_repeat` and `garp_lower_prio_delay`: `repeat` frames per address, a
    /// second burst after `second_burst_delay`); `None`: nothing.
    pub announce_lower_priority: Option<ha_arp::Config>,
    /// TTL / hop limit of its unicast adverts (keepalived `unicast_ttl`); `None`: 255.
    /// Instances sharing an interface and family share a socket, so they must agree.
    pub unicast_ttl: Option<u8>,
}

/// What [`super::director::run`] needs.
#[derive(Debug, Clone)]
pub struct DirectorConfig {
    /// The director's configuration; it is built when the sockets are open and the stale
    /// VIPs are gone.
    pub director: DirectorBuilder,
    /// Options by instance name (an instance not listed gets the defaults).
    pub instances: HashMap<String, InstanceOptions>,
    /// The gratuitous ARP / unsolicited NA schedule on becoming master.
    pub announce: ha_arp::Config,
    /// The per-interface pacing of announcements (keepalived `vrrp_garp_interval` /
    /// `vrrp_gna_interval`; default: not paced).
    pub announce_pacing: ha_arp::Pacing,
    /// How long a notify script may run.
    pub notify_timeout: Duration,
    /// How long a fence command or a resource step may run (then it failed).
    pub command_timeout: Duration,
    /// How often track scripts run and track files are read (keepalived `interval`).
    pub track_interval: Duration,
    /// How long a track script may run (then it failed).
    pub track_timeout: Duration,
    /// The command that starts and stops a [`crate::core::StepKind::Service`]: run as
    /// `service_command... start|stop NAME`.
    pub service_command: Vec<String>,
    /// Remove the VIPs a crashed earlier run left behind, at start.
    pub remove_stale: bool,
    /// The longest a graceful stop takes, from the request to the return of
    /// [`super::director::run`]: priority 0 sent, VIPs and routes removed, resource steps
    /// stopped, virtual servers removed, sync daemon stopped, `STOP` scripts run. What is not
    /// done by then is abandoned (and logged). Default 2 s.
    pub shutdown_grace: Duration,
    /// How the virtual servers reach the kernel's IPVS: `None` logs their operations only (a
    /// node with no virtual servers, or a test without IPVS).
    pub ipvs: Option<IpvsOptions>,
    /// The real servers' health checks; a real server is alive while all its checks are up.
    pub health: Vec<HealthTarget>,
    /// The health-check scheduler's settings. Default: 10 ms of timer slack (checks start
    /// at most 10 ms late; the health task wakes at most 100 times a second).
    pub health_scheduler: ha_healthcheck::SchedulerConfig,
    /// The user and group scripts (notify, track, fence, steps, MISC_CHECK) run as; `None`:
    /// as the daemon's own user (keepalived `script_user`).
    pub script_user: Option<exec::User>,
    /// Addresses, routes and rules set at start whatever the VRRP state and removed at stop
    /// (keepalived `static_ipaddress`, `static_routes`, `static_rules`). A reload keeps the
    /// ones set at start.
    pub statics: Statics,
    /// The hardware watchdog the event loop feeds (heartbeat `watchdog`); `None`: none.
    pub watchdog: Option<WatchdogConfig>,
    /// Active-active: virtual addresses announced by BGP while their pool's quorum is up;
    /// `None`: none.
    pub bgp: Option<BgpConfig>,
}

/// The BGP speaker of an active-active director ([`DirectorConfig::bgp`]): one session per
/// neighbour (`ha-bgp`), BFD with the neighbours that ask for it (`ha-bfd`), and the host
/// routes it announces, each gated by a virtual server's quorum.
///
/// A stop withdraws every route first, keeps serving for [`BgpConfig::drain`], then stops the
/// rest; the sessions end with a Cease NOTIFICATION (RFC 4486, Administrative Shutdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// This director's AS number.
    pub local_as: u32,
    /// The BGP identifier.
    pub router_id: std::net::Ipv4Addr,
    /// The hold time offered, seconds (0, or at least 3).
    pub hold_time: u16,
    /// Time between attempts to connect to a neighbour.
    pub connect_retry: Duration,
    /// How long a stop keeps serving after the withdrawal.
    pub drain: Duration,
    /// The neighbours.
    pub neighbors: Vec<BgpNeighborConfig>,
    /// The announced addresses (host routes: /32 or /128), each with the virtual server
    /// whose quorum gates it.
    pub routes: Vec<(VirtualServerId, IpAddr)>,
}

/// One neighbour of [`BgpConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpNeighborConfig {
    /// The neighbour's address (directly connected).
    pub address: IpAddr,
    /// Its AS number (eBGP when it differs from [`BgpConfig::local_as`]).
    pub peer_as: u32,
    /// The session's local address and the next hop announced; `None`: what the kernel
    /// picks.
    pub local_address: Option<IpAddr>,
    /// BFD with this neighbour; `None`: none.
    pub bfd: Option<BfdTimers>,
}

/// BFD timers of a neighbour (RFC 5880 section 6.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdTimers {
    /// Desired minimum transmit and required minimum receive interval.
    pub interval: Duration,
    /// Detection multiplier.
    pub multiplier: u8,
}

/// The hardware watchdog (heartbeat `watchdog /dev/watchdog`): opened once the start-up is done,
/// just before the event loop, written to from the loop every `interval`, closed with the magic
/// `V` at a graceful stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// The device (`/dev/watchdog`).
    pub device: std::path::PathBuf,
    /// How often the loop writes to it (heartbeat: every `keepalive`); well below its timeout.
    pub interval: Duration,
    /// The timeout set at open with `WDIOC_SETTIMEOUT`, seconds; `None`: the driver's.
    pub timeout_s: Option<u32>,
}

impl WatchdogConfig {
    /// Writes to `device` every `interval`, leaving the device's own timeout as it is.
    pub fn new(device: impl Into<std::path::PathBuf>, interval: Duration) -> Self {
        Self {
            device: device.into(),
            interval,
            timeout_s: None,
        }
    }
}

/// keepalived's `static_ipaddress`, `static_routes` and `static_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statics {
    /// Addresses; each names its device (`dev`).
    pub addresses: Vec<crate::core::VipSpec>,
    /// Routes in keepalived's syntax ([`super::route`]).
    pub routes: Vec<String>,
    /// Rules in keepalived's syntax ([`super::rule`]).
    pub rules: Vec<String>,
}

impl DirectorConfig {
    /// Defaults: keepalived's (1 s track interval, ARP schedule of [`ha_arp::Config`]), 10 s
    /// for commands, `systemctl` for services, stale VIPs removed, 2 s to stop.
    pub fn new(director: DirectorBuilder) -> DirectorConfig {
        DirectorConfig {
            director,
            instances: HashMap::new(),
            announce: ha_arp::Config::default(),
            announce_pacing: ha_arp::Pacing::default(),
            notify_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            track_interval: Duration::from_secs(1),
            track_timeout: Duration::from_secs(5),
            service_command: vec!["systemctl".to_owned()],
            remove_stale: true,
            shutdown_grace: Duration::from_secs(2),
            ipvs: None,
            health: Vec::new(),
            health_scheduler: ha_healthcheck::SchedulerConfig {
                timer_slack: Duration::from_millis(10),
                ..Default::default()
            },
            script_user: None,
            statics: Statics::default(),
            watchdog: None,
            bgp: None,
        }
    }

    /// The instance the IPVS sync daemon follows, if any.
    pub fn sync_instance(&self) -> Option<&str> {
        self.ipvs
            .as_ref()
            .and_then(|o| o.sync_daemon.as_ref())
            .map(|d| d.instance.as_str())
    }

    /// The options of the instance named `name` (the defaults if not listed).
    pub fn options(&self, name: &str) -> InstanceOptions {
        self.instances.get(name).cloned().unwrap_or_default()
    }
}

/// One health check of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    /// The virtual server.
    pub server: VirtualServerId,
    /// The real server's index in its [`VirtualServerConfig`](crate::core::VirtualServerConfig).
    pub index: usize,
    /// The check and its timing.
    pub target: ha_healthcheck::TargetConfig,
    /// Log every failed attempt at warn, also while retries keep the server up (keepalived
    /// `log_all_failures`); otherwise they are logged at debug and only the change to down
    /// at warn.
    pub log_all_failures: bool,
}

impl HealthTarget {
    /// The check `target` of real server `index` of virtual server `server`; failed attempts
    /// are logged at debug until the server goes down.
    pub fn new(
        server: VirtualServerId,
        index: usize,
        target: ha_healthcheck::TargetConfig,
    ) -> Self {
        Self {
            server,
            index,
            target,
            log_all_failures: false,
        }
    }
}

/// Driving the kernel's IPVS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsOptions {
    /// Delete the virtual servers this node installed when it stops (keepalived does).
    pub remove_on_stop: bool,
    /// The connection sync daemon, following an instance's role.
    pub sync_daemon: Option<SyncDaemonOptions>,
    /// Empty the whole IPVS table before programming anything (keepalived `lvs_flush`).
    pub flush_on_start: bool,
    /// Empty the whole IPVS table on stop instead of deleting this node's services one by one
    /// (keepalived `lvs_flush_on_stop` without `VS`).
    pub flush_on_stop: bool,
    /// Set the kernel's connection timeouts at start (keepalived `lvs_timeouts`; a 0 leaves
    /// that one unchanged).
    pub timeouts: Option<ha_ipvs::model::Timeouts>,
    /// IPVS sysctls set at start (`net.ipv4.vs.*`); one that cannot be set stops the start.
    pub kernel: IpvsKernelSettings,
}

/// IPVS sysctls ([`IpvsOptions::kernel`]) for directors that share flows (active-active):
/// `None` leaves the kernel's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpvsKernelSettings {
    /// `sloppy_tcp`: take a TCP flow whose start this director has not seen.
    pub sloppy_tcp: Option<bool>,
    /// `sloppy_sctp`: the same for SCTP.
    pub sloppy_sctp: Option<bool>,
    /// `conn_reuse_mode` (0, 1 or 2).
    pub conn_reuse_mode: Option<u8>,
}

impl IpvsKernelSettings {
    /// The settings to write: the file name under `/proc/sys/net/ipv4/vs/` and the value.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let flag = |b: bool| u8::from(b).to_string();
        [
            ("sloppy_tcp", self.sloppy_tcp.map(flag)),
            ("sloppy_sctp", self.sloppy_sctp.map(flag)),
            (
                "conn_reuse_mode",
                self.conn_reuse_mode.map(|m| m.to_string()),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
    }
}

/// keepalived `lvs_sync_daemon INTERFACE INSTANCE [id N] ...`: the IPVS connection sync
/// daemon runs as master while `instance` is master and as backup otherwise, so connections
/// the master set up survive a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemonOptions {
    /// The VRRP instance it follows.
    pub instance: String,
    /// Interface, sync id and multicast settings (the role is set by the runtime).
    pub daemon: ha_ipvs::model::SyncDaemon,
}

impl SyncDaemonOptions {
    /// The sync daemon `daemon`, master while `instance` is master, backup otherwise.
    pub fn new(instance: impl Into<String>, daemon: ha_ipvs::model::SyncDaemon) -> Self {
        Self {
            instance: instance.into(),
            daemon,
        }
    }
}

/// What the runtime reports to an embedder: the director's events and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeEvent {
    /// The sans-io director's event.
    Director(DirectorEvent),
    /// A received packet was dropped by the codec or the demultiplexer (the routers' own
    /// drops are counted per instance in the status, not reported one by one).
    Dropped {
        /// The socket's interface.
        interface: String,
        /// Why.
        reason: DropReason,
        /// From whom.
        src: IpAddr,
    },
    /// Addresses left behind by an earlier run were removed at start.
    StaleRemoved(Vec<Vip>),
    /// A virtual address someone else removed while the instance held it was put back.
    VipRestored {
        /// The instance.
        instance: InstanceId,
        /// The address.
        addr: IpAddr,
    },
    /// A notify script ran.
    Notified {
        /// Its command line.
        argv: Vec<String>,
        /// Whether it exited 0 in time.
        ok: bool,
    },
}

/// What [`super::director::run_with`] talks to besides the network.
#[derive(Debug)]
pub struct RunIo {
    /// Where events go, if anywhere.
    pub events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    /// Becomes `true` (or its sender is dropped) to stop gracefully.
    pub shutdown: watch::Receiver<bool>,
    /// The director's end of a [`super::status::status_channel`], if its status is read:
    /// snapshots are built when a reader asks.
    pub status: Option<StatusRequests>,
    /// New configurations to switch to without restarting (SIGHUP).
    pub reload: Option<mpsc::UnboundedReceiver<Reload>>,
    /// Where the slow work runs (addresses, announcements, scripts, health checks, IPVS):
    /// another runtime, so that the VRRP loop can have its thread (and its realtime priority)
    /// to itself; `None`: the current runtime.
    pub slow: Option<tokio::runtime::Handle>,
    /// Administrative requests (heartbeat `hb_standby` / `hb_takeover`), if taken.
    pub admin: Option<mpsc::UnboundedReceiver<AdminRequest>>,
    /// Another backend for [`DirectorConfig::bgp`]'s routes than the built-in BGP speaker
    /// (which is then not started); `None`: the speaker.
    pub announcer: Option<Box<dyn super::announce::RouteAnnouncer>>,
}

/// A request to set the administrative mode ([`AdminMode`]) of one instance or of all.
#[derive(Debug)]
pub struct AdminRequest {
    /// The instance's name; `None`: every instance.
    pub instance: Option<String>,
    /// The mode.
    pub mode: AdminMode,
    /// Where the outcome goes: each instance set, with its mode, or why nothing was set.
    pub done: tokio::sync::oneshot::Sender<Result<Vec<String>, AdminError>>,
}

/// Why an [`AdminRequest`] was refused (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No instance has that name.
    #[error("no instance {0:?}")]
    UnknownInstance(String),
    /// The director refused (the address owner cannot be put in standby, ...).
    #[error("{0}")]
    Refused(String),
}

impl RunIo {
    /// Events and shutdown only.
    pub fn new(shutdown: watch::Receiver<bool>) -> RunIo {
        RunIo {
            events: None,
            shutdown,
            status: None,
            reload: None,
            slow: None,
            admin: None,
            announcer: None,
        }
    }
}

/// A request to switch to a new configuration.
#[derive(Debug)]
pub struct Reload {
    /// The new configuration.
    pub config: DirectorConfig,
    /// Where the outcome goes: what changed, or why the new configuration was refused (the
    /// running one is kept then).
    pub done: tokio::sync::oneshot::Sender<Result<ReloadReport, DirectorRunError>>,
}

/// What a reload changed. Adding, removing or reordering instances, and changing sync
/// groups, trackers, interfaces, sockets, virtual MACs or the IPVS settings, are refused
/// (they need a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Instances kept as they were (state, timers and VIPs untouched).
    pub kept: Vec<String>,
    /// Instances re-created (changed configuration).
    pub recreated: Vec<String>,
    /// Instances whose priority alone changed: kept (also in `kept`), with the new priority.
    pub reprioritized: Vec<String>,
    /// Health checks added, changed and removed.
    pub checks: ha_healthcheck::ReconcileStats,
    /// Virtual servers whose configuration changed (their IPVS state was re-diffed).
    pub virtual_servers_changed: usize,
}
