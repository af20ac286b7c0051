//! The core [`Director`] on tokio: one node's VRRP instances, sync groups, tracking, VIPs,
//! fencing, resource steps and notify scripts, executed on a real host.
//!
//! [`run`] owns all the IO; every decision is the sans-io [`Director`]'s:
//! - one raw VRRP socket per (interface, address family) that the instances use; a received
//!   packet is demultiplexed by VRID ([`Director::find_instance`]), validated by the codec
//!   ([`ha_vrrp_proto::wire::validate`], with the instance's [`RxContext`]) and fed to the
//!   director with the kernel's receive time ([`Received::age`]);
//! - before a timer is acted on, every packet already queued on the sockets is read, and the
//!   packets and the due timers are fed in the order of their times (each timer at its
//!   deadline), so an advert that arrived in time but is read late never causes a false
//!   failover;
//! - the director's adverts are sent first, before any other output is looked at; the slow
//!   work runs on other tasks and never delays an advert: rtnetlink address changes and
//!   gratuitous ARP / unsolicited NA on one "effects" task (in order), notify scripts on one
//!   task (in order), fences, resource steps and track scripts each on its own task, their
//!   results fed back ([`Director::handle_fence_result`], [`Director::handle_step_result`],
//!   [`Director::handle_track_result`]);
//! - link state (rtnetlink notifications) goes to [`Director::handle_link`]; a VIP that
//!   someone else removes while its instance holds it is put back;
//! - at start, VIPs a crashed earlier run left behind (marked with
//!   [`VIP_PROTOCOL`](super::netlink::VIP_PROTOCOL)) are removed before any instance can
//!   become master;
//! - on shutdown every master sends priority 0, the VIPs are removed, started resource steps
//!   are stopped in reverse order, and the `STOP` notify scripts run.
//!
//! Commands run as argv without a shell, environment cleared but for `PATH`, each with a
//! timeout ([`super::exec`]).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use ha_arp::{Announcer, Sender as ArpSender, SourceMac};
use ha_vrrp_proto::router::RxAdvert;
use ha_vrrp_proto::wire::{
    Addresses as WireAddresses, Advert, Auth, ChecksumMode, DropReason, Family, Packet, RxContext,
};
use ha_vrrp_proto::{AdvertInterval, Seconds, Version, VrId};
use tokio::sync::{mpsc, watch};

use crate::core::{
    Director, DirectorAction, DirectorBuilder, DirectorConfigError, DirectorEvent, FenceAttempt,
    InstanceId, StepKind, StepOp, StepToken, TrackResult, TrackerId, TrackerKind, VipSpec,
    VirtualServerId,
};

use super::exec;
use super::netlink::{Addresses, NetEvent, NetWatch, NetlinkError, Vip};
use super::pools::{self, HealthShared, HealthTask, IpvsWork, RealServerHealth};
use super::socket::{Received, SocketError, VrrpSocket};
use super::status::{InstanceStatus, IpvsStatus, Lateness, MemberStatus, PoolStatus, Status};
use super::vmac::{Vmac, VmacConfig, VmacMode};
use ha_ipvs::model::DaemonRole;
use std::sync::{Arc, Mutex};

/// Per-instance runtime options the sans-io configuration does not carry.
#[derive(Debug, Clone, Default)]
pub struct InstanceOptions {
    /// VRRPv2 authentication (sent and required).
    pub auth: Auth,
    /// How the VRRP checksum is computed.
    pub checksum_mode: ChecksumMode,
    /// The fence command (heartbeat STONITH) for an instance configured with `fence`: exit
    /// status 0 means the peer is fenced.
    pub fence: Option<Vec<String>>,
    /// Run on a VRRP virtual MAC interface of this name (keepalived `use_vmac`;
    /// [`super::vmac::default_name`] gives keepalived's `vrrp.<vrid>`): its VIPs that name
    /// no device go on it, adverts and announcements leave from it with the virtual MAC
    /// `00-00-5E-00-01-{VRID}` (RFC 9568 section 7.3), so neighbours never need to update
    /// their caches on a failover. It is created at start and removed at stop.
    pub vmac: Option<String>,
}

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct DirectorConfig {
    /// The director's configuration; it is built when the sockets are open and the stale
    /// VIPs are gone.
    pub director: DirectorBuilder,
    /// Options by instance name (an instance not listed gets the defaults).
    pub instances: HashMap<String, InstanceOptions>,
    /// The gratuitous ARP / unsolicited NA schedule on becoming master.
    pub announce: ha_arp::Config,
    /// How long a notify script may run.
    pub notify_timeout: Duration,
    /// How long a fence command or a resource step may run (then it failed).
    pub command_timeout: Duration,
    /// How often track scripts run and track files are read (keepalived `interval`).
    pub track_interval: Duration,
    /// How long a track script may run (then it failed).
    pub track_timeout: Duration,
    /// The command that starts and stops a [`StepKind::Service`]: run as
    /// `service_command... start|stop NAME`.
    pub service_command: Vec<String>,
    /// Remove the VIPs a crashed earlier run left behind, at start.
    pub remove_stale: bool,
    /// The most time a shutdown waits for resource steps to stop.
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
}

/// Driving the kernel's IPVS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsOptions {
    /// Delete the virtual servers this node installed when it stops (keepalived does).
    pub remove_on_stop: bool,
    /// The connection sync daemon, following an instance's role.
    pub sync_daemon: Option<SyncDaemonOptions>,
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

impl DirectorConfig {
    /// Defaults: keepalived's (1 s track interval, ARP schedule of [`ha_arp::Config`]), 10 s
    /// for commands, `systemctl` for services, stale VIPs removed.
    pub fn new(director: DirectorBuilder) -> DirectorConfig {
        DirectorConfig {
            director,
            instances: HashMap::new(),
            announce: ha_arp::Config::default(),
            notify_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            track_interval: Duration::from_secs(1),
            track_timeout: Duration::from_secs(5),
            service_command: vec!["systemctl".to_owned()],
            remove_stale: true,
            shutdown_grace: Duration::from_secs(30),
            ipvs: None,
            health: Vec::new(),
            health_scheduler: ha_healthcheck::SchedulerConfig {
                timer_slack: Duration::from_millis(10),
                ..Default::default()
            },
            script_user: None,
        }
    }
}

/// What the runtime reports to an embedder: the director's events and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// The sans-io director's event.
    Director(DirectorEvent),
    /// A received packet was dropped by validation.
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

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectorCounters {
    /// Adverts sent.
    pub sent: u64,
    /// Adverts that could not be sent or encoded.
    pub send_errors: u64,
    /// Packets received (valid or not).
    pub received: u64,
    /// Packets dropped by validation (or for a VRID no instance runs).
    pub dropped: u64,
    /// Adverts read after a timer had come due that they preceded: fed at their receive time,
    /// before that timer (without this, each could have been a false takeover).
    pub rescued: u64,
    /// Notify scripts run.
    pub notified: u64,
    /// Fence commands run.
    pub fences: u64,
    /// Resource step commands run.
    pub steps: u64,
    /// Track script runs and file reads.
    pub track_checks: u64,
}

/// Errors that stop [`run`].
#[derive(Debug, thiserror::Error)]
pub enum DirectorRunError {
    /// The director's configuration is invalid.
    #[error(transparent)]
    Config(#[from] DirectorConfigError),
    /// An instance's options are inconsistent.
    #[error("instance {instance:?}: {detail}")]
    Instance {
        /// The instance.
        instance: String,
        /// What is wrong.
        detail: String,
    },
    /// A VRRP socket failed.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// rtnetlink failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: NetlinkError,
    },
    /// The realtime settings could not be applied.
    #[error("realtime scheduling: {0}")]
    Realtime(#[source] super::sched::SchedError),
    /// A system call of the runtime's own failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A new configuration cannot be adopted in place.
    #[error("reload: {0}")]
    Reconfigure(#[source] crate::core::ReconfigureError),
    /// A virtual MAC interface could not be set up.
    #[error("instance {instance:?}: {source}")]
    Vmac {
        /// The instance.
        instance: String,
        /// The failure.
        #[source]
        source: super::vmac::VmacError,
    },
    /// The kernel's IPVS could not be reached (virtual servers are configured).
    #[error("IPVS: {0}")]
    Ipvs(#[source] ha_ipvs::Error),
    /// An AF_PACKET sender for announcements could not be opened.
    #[error("announcements on {interface}: {source}")]
    Arp {
        /// The interface.
        interface: String,
        /// The failure.
        #[source]
        source: ha_arp::SenderError,
    },
}

/// What [`run_with`] talks to besides the network.
#[derive(Debug)]
pub struct RunIo {
    /// Where events go, if anywhere.
    pub events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    /// Becomes `true` (or its sender is dropped) to stop gracefully.
    pub shutdown: watch::Receiver<bool>,
    /// Where status snapshots are published, if anywhere.
    pub status: Option<watch::Sender<Status>>,
    /// New configurations to switch to without restarting (SIGHUP).
    pub reload: Option<mpsc::UnboundedReceiver<Reload>>,
    /// Where the slow work runs (addresses, announcements, scripts, health checks, IPVS):
    /// another runtime, so that the VRRP loop can have its thread (and its realtime priority)
    /// to itself; `None`: the current runtime.
    pub slow: Option<tokio::runtime::Handle>,
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
/// groups, trackers, interfaces or the IPVS settings, are refused (they need a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Instances kept as they were (state, timers and VIPs untouched).
    pub kept: Vec<String>,
    /// Instances re-created (changed configuration).
    pub recreated: Vec<String>,
    /// Health checks added, changed and removed.
    pub checks: ha_healthcheck::ReconcileStats,
    /// Virtual servers whose configuration changed (their IPVS state was re-diffed).
    pub virtual_servers_changed: usize,
}

/// A result fed back from a task.
#[derive(Debug)]
enum Feedback {
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
    Track {
        tracker: TrackerId,
        result: TrackResult,
    },
}

/// What the effects task does, in order.
enum Effect {
    Add(InstanceId, Vec<Vip>),
    Remove(InstanceId, Vec<Vip>),
    Announce(InstanceId, Vec<(u32, Vec<IpAddr>)>),
    Routes {
        add: bool,
        routes: Vec<String>,
    },
    /// An address disappeared from the kernel.
    Gone(Vip),
    /// Start a command's task once everything queued before it is done (a resource step
    /// starts after its addresses are added, and stops after they are removed).
    Spawn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Add(i, v) => f.debug_tuple("Add").field(i).field(v).finish(),
            Effect::Remove(i, v) => f.debug_tuple("Remove").field(i).field(v).finish(),
            Effect::Announce(i, v) => f.debug_tuple("Announce").field(i).field(v).finish(),
            Effect::Routes { add, routes } => f
                .debug_struct("Routes")
                .field("add", add)
                .field("routes", routes)
                .finish(),
            Effect::Gone(v) => f.debug_tuple("Gone").field(v).finish(),
            Effect::Spawn(_) => f.write_str("Spawn"),
        }
    }
}

/// The next reload request, or never when there is no channel.
async fn recv_reload(rx: &mut Option<mpsc::UnboundedReceiver<Reload>>) -> Option<Reload> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One VRRP socket.
struct Sock {
    sock: VrrpSocket,
    interface: String,
    family: Family,
}

/// What sending and validating need for one instance.
#[derive(Debug, Clone)]
struct InstIo {
    auth: Auth,
    checksum_mode: ChecksumMode,
    v2_interval: Seconds,
    src: IpAddr,
    sock: usize,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    /// Multicast (no unicast peers): its socket joined the VRRP group.
    multicast: bool,
    /// The socket it sends from when not its receiving one (a virtual MAC's).
    tx: Option<usize>,
    /// The device of its VIPs that name none: its interface, or its virtual MAC's.
    vip_dev: String,
}

/// What sending and validating need for one instance.
fn inst_io(
    c: &crate::core::InstanceConfig,
    adv: Vec<IpAddr>,
    opts: &InstanceOptions,
    sock: usize,
) -> Result<InstIo, DirectorRunError> {
    let v4: Vec<Ipv4Addr> = adv
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = adv
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    let check = match Family::of(c.router.primary_address) {
        Family::Ipv4 => WireAddresses::v4(&v4).map(|_| ()),
        Family::Ipv6 => WireAddresses::v6(&v6).map(|_| ()),
    };
    check.map_err(|e| DirectorRunError::Instance {
        instance: c.name.clone(),
        detail: e.to_string(),
    })?;
    Ok(InstIo {
        auth: opts.auth,
        checksum_mode: opts.checksum_mode,
        v2_interval: match c.router.advert_interval {
            AdvertInterval::V2(s) => s,
            AdvertInterval::V3(_) => Seconds(1),
        },
        src: c.router.primary_address,
        sock,
        v4,
        v6,
        multicast: c.router.peers.is_empty(),
        tx: None,
        vip_dev: c.interface.clone(),
    })
}

/// The most packets read from one socket in one go (a flood cannot hold the loop).
const MAX_DRAIN: usize = 256;
/// A bound on timer firings per feed.
const MAX_FIRINGS: usize = 64;

/// Runs one node until `shutdown` becomes true (or its sender is dropped), then shuts down
/// (masters send priority 0, VIPs removed, steps stopped in reverse, `STOP` notified) and
/// returns the counters. Events go to `events` if given. Needs a tokio runtime with IO and
/// time enabled (and, for commands, the process driver: `enable_all`). Dropping the future
/// is a crash: nothing is cleaned up (the next start removes the stale VIPs).
pub async fn run(
    cfg: DirectorConfig,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    shutdown: watch::Receiver<bool>,
) -> Result<DirectorCounters, DirectorRunError> {
    let mut io = RunIo::new(shutdown);
    io.events = events;
    run_with(cfg, io).await
}

/// [`run`] with status snapshots published on `io.status` and configurations taken from
/// `io.reload` while running.
pub async fn run_with(
    cfg: DirectorConfig,
    io: RunIo,
) -> Result<DirectorCounters, DirectorRunError> {
    let RunIo {
        events,
        mut shutdown,
        status,
        reload,
        slow,
    } = io;
    let slow = slow.unwrap_or_else(tokio::runtime::Handle::current);
    let mut reload = reload;
    let started = Instant::now();
    let nl = |what: &str| {
        let what = what.to_owned();
        move |source| DirectorRunError::Netlink { what, source }
    };
    let emit = |ev: RuntimeEvent| {
        if let Some(tx) = &events {
            let _ = tx.send(ev);
        }
    };
    let addrs = Addresses::open().map_err(nl("opening rtnetlink"))?;
    let mut watch = NetWatch::open().map_err(nl("watching links"))?;
    if cfg.remove_stale {
        let stale = addrs
            .remove_stale()
            .await
            .map_err(nl("removing stale VIPs"))?;
        if !stale.is_empty() {
            tracing::warn!(?stale, "removed VIPs left behind by an earlier run");
            emit(RuntimeEvent::StaleRemoved(stale));
        }
    }
    // Built now to check it and to learn the interfaces; rebuilt just before the loop starts
    // so that its clock starts with the loop.
    let probe = cfg.director.clone().build(Instant::now())?;
    let n = probe.instance_count();
    let ipvs_client = match &cfg.ipvs {
        Some(_) => Some(
            ha_ipvs::Client::connect()
                .await
                .map_err(DirectorRunError::Ipvs)?,
        ),
        None => None,
    };
    if let Some(sd) = cfg.ipvs.as_ref().and_then(|o| o.sync_daemon.as_ref())
        && !(0..n).any(|i| {
            probe
                .instance_config(InstanceId(i as u32))
                .is_some_and(|c| c.name == sd.instance)
        })
    {
        return Err(DirectorRunError::Instance {
            instance: sd.instance.clone(),
            detail: "the IPVS sync daemon follows an instance that is not configured".into(),
        });
    }

    // Interfaces: the instances' and their VIPs' devices, and interface trackers.
    let mut ifnames: Vec<String> = Vec::new();
    let mut push_if = |name: &str| {
        if !ifnames.iter().any(|n| n == name) {
            ifnames.push(name.to_owned());
        }
    };
    for i in 0..n {
        let c = probe.instance_config(InstanceId(i as u32)).expect("index");
        push_if(&c.interface);
        for v in c.vips.iter().chain(&c.excluded_vips) {
            push_if(v.dev_or(&c.interface));
        }
    }
    for t in 0..probe.tracker_count() {
        if let Some(TrackerKind::Interface { ifname }) =
            probe.tracker_config(TrackerId(t as u32)).map(|c| &c.kind)
        {
            push_if(ifname);
        }
    }
    let mut ifindex: HashMap<String, u32> = HashMap::new();
    for name in &ifnames {
        let i = addrs
            .ifindex(name)
            .await
            .map_err(nl(&format!("interface {name}")))?;
        ifindex.insert(name.clone(), i);
    }

    // Virtual MAC interfaces (keepalived `use_vmac`), before the sockets that use them.
    let mut vmacs: Vec<Vmac> = Vec::new();
    let mut vmac_of: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let c = probe.instance_config(InstanceId(i as u32)).expect("index");
        let Some(name) = cfg.instances.get(&c.name).and_then(|o| o.vmac.clone()) else {
            continue;
        };
        let v = Vmac::create(&VmacConfig {
            parent: c.interface.clone(),
            name,
            vrid: c.router.vrid.get(),
            ipv6: !c.router.primary_address.is_ipv4(),
            mode: VmacMode::Private,
        })
        .await
        .map_err(|source| DirectorRunError::Vmac {
            instance: c.name.clone(),
            source,
        })?;
        if let IpAddr::V6(ll) = c.router.primary_address
            && ll.is_unicast_link_local()
        {
            // The vmac has no link-local of its own: IPv6 adverts from it keep the primary
            // address as their source.
            addrs
                .add(Vip {
                    ifindex: v.ifindex(),
                    addr: c.router.primary_address,
                    prefix: 64,
                })
                .await
                .map_err(nl(&format!("link-local on {}", v.name())))?;
        }
        ifindex.insert(v.name().to_owned(), v.ifindex());
        ifnames.push(v.name().to_owned());
        vmac_of.insert(i, vmacs.len());
        vmacs.push(v);
    }

    // Sockets and per-instance IO. One receiving socket per (device, family): it joins the
    // VRRP group if any instance on it is multicast, and is bound to the primary address when
    // every instance on it is unicast from that one address (IPv6 source selection would
    // otherwise pick a VIP of the same prefix). With a virtual MAC, multicast adverts arrive on
    // the vmac, and adverts are sent from it by a socket of their own.
    struct Want {
        bind_if: String,
        /// The instances' interface, for demultiplexing (a vmac stands for its parent).
        interface: String,
        family: Family,
        multicast: bool,
        src: Option<IpAddr>,
    }
    let mut wants: Vec<Want> = Vec::new();
    let mut sock_of: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let c = probe.instance_config(InstanceId(i as u32)).expect("index");
        if c.fence
            && cfg
                .instances
                .get(&c.name)
                .and_then(|o| o.fence.as_ref())
                .is_none_or(|f| f.is_empty())
        {
            return Err(DirectorRunError::Instance {
                instance: c.name.clone(),
                detail: "fencing is on but no fence command is given".into(),
            });
        }
        if c.router.primary_address.is_unspecified() {
            return Err(DirectorRunError::Instance {
                instance: c.name.clone(),
                detail: "the primary address must be given".into(),
            });
        }
        let family = Family::of(c.router.primary_address);
        let multicast = c.router.peers.is_empty();
        let bind_if = match vmac_of.get(&i) {
            Some(&v) if multicast => vmacs[v].name().to_owned(),
            _ => c.interface.clone(),
        };
        let src = (!multicast).then_some(c.router.primary_address);
        match wants
            .iter()
            .position(|w| w.bind_if == bind_if && w.family == family)
        {
            Some(w) => {
                let w2 = &mut wants[w];
                w2.multicast |= multicast;
                if w2.src != src {
                    w2.src = None;
                }
                sock_of.push(w);
            }
            None => {
                sock_of.push(wants.len());
                wants.push(Want {
                    bind_if,
                    interface: c.interface.clone(),
                    family,
                    multicast,
                    src,
                });
            }
        }
    }
    let mut socks: Vec<Sock> = Vec::with_capacity(wants.len());
    for w in &wants {
        let idx = ifindex[&w.bind_if];
        let sock = match w.family {
            Family::Ipv4 => VrrpSocket::open_v4(&w.bind_if, idx, w.multicast)?,
            Family::Ipv6 => VrrpSocket::open_v6(&w.bind_if, idx, w.multicast)?,
        };
        if let Some(a) = w.src.filter(|_| !w.multicast) {
            sock.bind_source(a)?;
        }
        socks.push(Sock {
            sock,
            interface: w.interface.clone(),
            family: w.family,
        });
    }
    let mut tx_socks: Vec<VrrpSocket> = Vec::new();
    let mut io: Vec<InstIo> = Vec::with_capacity(n);
    for (i, &sock) in sock_of.iter().enumerate() {
        let c = probe.instance_config(InstanceId(i as u32)).expect("index");
        let opts = cfg.instances.get(&c.name).cloned().unwrap_or_default();
        let mut one = inst_io(c, probe.advert_addresses(InstanceId(i as u32)), &opts, sock)?;
        if let Some(&v) = vmac_of.get(&i) {
            let v = &vmacs[v];
            let tx = match Family::of(c.router.primary_address) {
                Family::Ipv4 => VrrpSocket::open_v4(v.name(), v.ifindex(), false)?,
                Family::Ipv6 => VrrpSocket::open_v6(v.name(), v.ifindex(), false)?,
            };
            tx.bind_source(c.router.primary_address)?;
            one.tx = Some(tx_socks.len());
            one.vip_dev = v.name().to_owned();
            tx_socks.push(tx);
        }
        io.push(one);
    }

    // Announcement senders, one per interface carrying VIPs.
    let mut senders: HashMap<u32, (ArpSender, ha_arp::Interface)> = HashMap::new();
    for name in &ifnames {
        let s = ArpSender::bind(name.as_str()).map_err(|source| DirectorRunError::Arp {
            interface: name.clone(),
            source,
        })?;
        let iface = s.interface().map_err(|source| DirectorRunError::Arp {
            interface: name.clone(),
            source,
        })?;
        senders.insert(ifindex[name], (s, iface));
    }

    // The initial link states (later changes come from the watch).
    let mut link_up: HashMap<String, bool> = HashMap::new();
    for s in senders.values() {
        if let Ok(up) = s.0.is_up() {
            link_up.insert(s.0.name().to_owned(), up);
        }
    }
    let names_by_index: HashMap<u32, String> =
        ifindex.iter().map(|(n, i)| (*i, n.clone())).collect();

    let (fb_tx, mut fb_rx) = mpsc::unbounded_channel::<Feedback>();
    let (fx_tx, fx_rx) = mpsc::unbounded_channel::<Effect>();
    let (notify_tx, notify_rx) = mpsc::unbounded_channel::<Vec<String>>();
    let effects = slow.spawn(
        Effects {
            addrs: addrs.clone(),
            senders,
            announcer: Announcer::new(cfg.announce, ha_arp::Pacing::default()),
            held: HashMap::new(),
            events: events.clone(),
        }
        .run(fx_rx),
    );
    let notifier = slow.spawn(notify_task(
        notify_rx,
        cfg.notify_timeout,
        cfg.script_user,
        events.clone(),
    ));
    let ipvs_shared: pools::IpvsShared = Arc::new(Mutex::new(IpvsStatus {
        enabled: ipvs_client.is_some(),
        ..IpvsStatus::default()
    }));
    let (ipvs_tx, ipvs_task) = match (ipvs_client, &cfg.ipvs) {
        (Some(client), Some(opts)) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = slow.spawn(pools::ipvs_task(
                client,
                opts.clone(),
                rx,
                ipvs_shared.clone(),
            ));
            (Some(tx), Some(task))
        }
        _ => (None, None),
    };
    let health_shared = Arc::new(Mutex::new(HealthShared::default()));
    let (health_tx, mut health_rx) = mpsc::unbounded_channel::<RealServerHealth>();
    let (health_reload_tx, health_reload_rx) = mpsc::unbounded_channel::<pools::HealthReload>();
    let health_task = slow.spawn(
        HealthTask::new(
            cfg.health_scheduler,
            cfg.health.clone(),
            health_shared.clone(),
            health_tx,
        )
        .run(health_reload_rx),
    );

    let start = Instant::now();
    let mut d = cfg.director.clone().build(start)?;
    for (name, up) in &link_up {
        if !up {
            d.handle_link(start, name, false);
        }
    }
    let mut node = Node {
        d,
        cfg: cfg.clone(),
        io,
        ifindex: ifindex.clone(),
        last: start,
        counters: DirectorCounters::default(),
        queue: Vec::new(),
        seq: 0,
        buf: vec![0u8; 65536],
        tx_buf: vec![0u8; 1500],
        fb_tx,
        fx_tx,
        notify_tx,
        inflight: 0,
        tracks_running: HashSet::new(),
        events: events.clone(),
        ipvs_tx,
        sync_instance: cfg
            .ipvs
            .as_ref()
            .and_then(|o| o.sync_daemon.as_ref())
            .map(|d| d.instance.clone()),
        drops: [0; DropReason::ALL.len()],
        lateness: Lateness::default(),
        dirty: true,
        started,
        ipvs_shared: ipvs_shared.clone(),
        health_shared: health_shared.clone(),
        tx_socks,
    };
    let mut publish_tick = tokio::time::interval(Duration::from_secs(1));
    publish_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut track_tick = tokio::time::interval(cfg.track_interval);
    track_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let has_trackers = (0..node.d.tracker_count()).any(|t| {
        matches!(
            node.d.tracker_config(TrackerId(t as u32)).map(|c| &c.kind),
            Some(
                TrackerKind::Script { .. }
                    | TrackerKind::File { .. }
                    | TrackerKind::PingNode { .. }
            )
        )
    });
    let mut stopping: Option<Instant> = None;
    tracing::info!(instances = n, sockets = socks.len(), "director starting");
    // Realtime only (the embedder made this thread SCHED_FIFO/RR): a standby thread on another
    // CPU wakes this one if its CPU stalls past a deadline (issue 9; see `sched::Standby`).
    let standby = super::sched::Standby::start(super::sched::STANDBY_MARGIN).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no standby thread");
        None
    });

    loop {
        node.flush(&socks).await;
        if node.dirty
            && let Some(tx) = &status
        {
            node.dirty = false;
            let _ = tx.send(node.status());
        }
        if let Some(since) = stopping
            && ((node.d.is_idle() && node.inflight == 0) || since.elapsed() > cfg.shutdown_grace)
        {
            break;
        }
        let deadline = node.d.poll_timeout();
        if let Some(s) = &standby {
            s.arm(deadline);
        }
        let sleep = super::sleep_until(deadline);
        let readable = async {
            if socks.is_empty() {
                std::future::pending::<Result<(), SocketError>>().await
            } else {
                futures::future::select_all(socks.iter().map(|s| s.sock.readable().boxed()))
                    .await
                    .0
            }
        };
        tokio::select! {
            biased;
            changed = shutdown.changed(), if stopping.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    node.drain(&socks)?;
                    let now = node.feed(Instant::now());
                    node.d.shutdown(now);
                    stopping = Some(Instant::now());
                }
            }
            r = readable => {
                r?;
                node.drain(&socks)?;
                node.feed(Instant::now());
            }
            _ = sleep => {
                // What is queued is read before the timer is acted on.
                node.drain(&socks)?;
                node.feed(Instant::now());
            }
            fb = fb_rx.recv() => {
                node.inflight = node.inflight.saturating_sub(1);
                node.drain(&socks)?;
                let now = node.feed(Instant::now());
                match fb {
                    Some(Feedback::Fence { instance, attempt, ok }) => {
                        let _ = node.d.handle_fence_result(now, instance, attempt, ok);
                    }
                    Some(Feedback::Step { instance, token, ok }) => {
                        let _ = node.d.handle_step_result(now, instance, token, ok);
                    }
                    Some(Feedback::Track { tracker, result }) => {
                        node.tracks_running.remove(&tracker);
                        if let Err(e) = node.d.handle_track_result(now, tracker, result) {
                            tracing::warn!(error = %e, "track result not taken");
                        }
                    }
                    None => {}
                }
            }
            ev = watch.next() => {
                node.drain(&socks)?;
                let now = node.feed(Instant::now());
                match ev {
                    Some(NetEvent::Link { ifindex: i, up, .. }) => {
                        if let Some(name) = names_by_index.get(&i)
                            && link_up.insert(name.clone(), up) != Some(up)
                        {
                            tracing::info!(interface = %name, up, "link");
                            node.d.handle_link(now, name, up);
                        }
                    }
                    Some(NetEvent::AddressRemoved(v)) => {
                        let _ = node.fx_tx.send(Effect::Gone(v));
                    }
                    Some(_) => {}
                    None => {
                        return Err(DirectorRunError::Netlink {
                            what: "watching links".into(),
                            source: NetlinkError::Other {
                                op: "watch",
                                what: "links and addresses".into(),
                                detail: "netlink connection closed".into(),
                            },
                        });
                    }
                }
            }
            _ = track_tick.tick(), if has_trackers && stopping.is_none() => {
                node.track_round();
            }
            Some(h) = health_rx.recv() => {
                node.drain(&socks)?;
                let now = node.feed(Instant::now());
                if let Some(w) = h.weight
                    && let Err(e) = node.d.handle_real_server_weight(now, h.server, h.index, w)
                {
                    tracing::warn!(error = %e, "real server weight not taken");
                }
                if let Err(e) = node.d.handle_real_server(now, h.server, h.index, h.alive) {
                    tracing::warn!(error = %e, "real server health not taken");
                }
            }
            _ = publish_tick.tick(), if status.is_some() => {
                node.dirty = true;
            }
            Some(r) = recv_reload(&mut reload), if stopping.is_none() => {
                node.drain(&socks)?;
                node.feed(Instant::now());
                let result = node.reload(&socks, r.config, &health_reload_tx).await;
                match &result {
                    Ok(report) => tracing::info!(?report, "configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "reload refused: the running configuration is kept"),
                }
                node.dirty = true;
                let _ = r.done.send(result);
            }
        }
    }
    health_task.abort();
    if let Some(tx) = &node.ipvs_tx {
        let keys = (0..node.d.pool_count())
            .filter_map(|p| node.d.pool(VirtualServerId(p as u32)))
            .map(|(c, _)| c.service.key)
            .collect();
        let _ = tx.send(IpvsWork::Stop(keys));
    }
    node.ipvs_tx = None;
    if let Some(tx) = &status {
        let _ = tx.send(node.status());
    }
    let mut counters = node.counters;
    drop(node);
    // The effects and notify tasks finish what was queued (VIP removal, STOP scripts).
    let grace = cfg.notify_timeout + Duration::from_secs(2);
    let _ = tokio::time::timeout(grace, effects).await;
    if let Some(t) = ipvs_task {
        // Removing the services and stopping the sync daemon (whose kernel threads may take
        // seconds to end) get the resource steps' grace, not the scripts'.
        let _ = tokio::time::timeout(grace.max(cfg.shutdown_grace), t).await;
    }
    // The VIPs on the virtual MACs are gone: remove the interfaces.
    for v in vmacs {
        if let Err(e) = v.remove() {
            tracing::warn!(error = %e, "removing a virtual MAC interface");
        }
    }
    if let Ok(Ok(count)) = tokio::time::timeout(grace, notifier).await {
        counters.notified = count;
    }
    tracing::info!(?counters, "director stopped");
    Ok(counters)
}

/// The loop's state.
struct Node {
    d: Director,
    cfg: DirectorConfig,
    io: Vec<InstIo>,
    /// Interface names to ifindexes, resolved at start.
    ifindex: HashMap<String, u32>,
    /// The latest time given to the director.
    last: Instant,
    counters: DirectorCounters,
    /// Validated adverts read but not yet fed: (receive time, arrival, instance, advert).
    queue: Vec<(Instant, u64, InstanceId, RxAdvert)>,
    seq: u64,
    buf: Vec<u8>,
    tx_buf: Vec<u8>,
    fb_tx: mpsc::UnboundedSender<Feedback>,
    fx_tx: mpsc::UnboundedSender<Effect>,
    notify_tx: mpsc::UnboundedSender<Vec<String>>,
    /// Fence and step tasks running.
    inflight: usize,
    tracks_running: HashSet<TrackerId>,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    /// The IPVS task, when IPVS is driven.
    ipvs_tx: Option<mpsc::UnboundedSender<IpvsWork>>,
    /// The instance the sync daemon follows.
    sync_instance: Option<String>,
    /// Received packets dropped, by [`DropReason::index`].
    drops: [u64; DropReason::ALL.len()],
    lateness: Lateness,
    /// Something a status shows changed since the last snapshot.
    dirty: bool,
    started: Instant,
    ipvs_shared: pools::IpvsShared,
    health_shared: Arc<Mutex<HealthShared>>,
    /// Send-only sockets (virtual MACs').
    tx_socks: Vec<VrrpSocket>,
}

impl Node {
    /// Switches to `new` in place (see [`Director::reconfigure_begin`]): unchanged instances
    /// are not touched, a changed one sends priority 0 with its old settings and starts
    /// afresh, health checks and virtual servers keep the state of what did not change.
    async fn reload(
        &mut self,
        socks: &[Sock],
        new: DirectorConfig,
        health: &mpsc::UnboundedSender<pools::HealthReload>,
    ) -> Result<ReloadReport, DirectorRunError> {
        let now = self.last;
        let next = new.director.clone().build(now)?;
        // The runtime's side: sockets, interfaces and IPVS are set up at start.
        let mut ios = Vec::with_capacity(next.instance_count());
        let mut force = Vec::new();
        for i in 0..next.instance_count() {
            let id = InstanceId(i as u32);
            let c = next.instance_config(id).expect("index");
            let opts = new.instances.get(&c.name).cloned().unwrap_or_default();
            let restart = |detail: String| DirectorRunError::Instance {
                instance: c.name.clone(),
                detail: format!("{detail}: needs a restart"),
            };
            let family = Family::of(c.router.primary_address);
            let old_io = self.io.get(i);
            let old_vmac = self.cfg.instances.get(&c.name).and_then(|o| o.vmac.clone());
            if old_vmac != opts.vmac {
                return Err(restart("its virtual MAC setting changed".into()));
            }
            let Some(sock) = old_io.map(|o| o.sock).or_else(|| {
                socks
                    .iter()
                    .position(|s| s.interface == c.interface && s.family == family)
            }) else {
                return Err(restart(format!("no VRRP socket on {}", c.interface)));
            };
            let vip_dev = old_io.map_or(c.interface.clone(), |o| o.vip_dev.clone());
            for v in c.vips.iter().chain(&c.excluded_vips) {
                let dev = v.dev_or(&vip_dev);
                if self.ifindex_of(dev).is_none() {
                    return Err(restart(format!(
                        "address {} on new interface {dev}",
                        v.addr
                    )));
                }
            }
            let mut io = inst_io(c, next.advert_addresses(id), &opts, sock)?;
            io.vip_dev = vip_dev;
            io.tx = old_io.and_then(|o| o.tx);
            if let Some(old) = self.io.get(i) {
                if old.multicast != io.multicast {
                    return Err(restart("switching between multicast and unicast".into()));
                }
                let old_opts = self.cfg.instances.get(&c.name).cloned().unwrap_or_default();
                if old_opts.auth != opts.auth
                    || old_opts.checksum_mode != opts.checksum_mode
                    || old_opts.fence != opts.fence
                {
                    force.push(id);
                }
            }
            ios.push(io);
        }
        if new.ipvs.is_some() != self.ipvs_tx.is_some() || new.ipvs != self.cfg.ipvs {
            return Err(DirectorRunError::Instance {
                instance: String::new(),
                detail: "the IPVS settings (sync daemon, removal on stop) changed: needs a restart"
                    .into(),
            });
        }
        let changed = self
            .d
            .reconfigure_begin(now, &next, &force)
            .map_err(DirectorRunError::Reconfigure)?;
        // The changed instances' last adverts go out with their old settings.
        self.flush(socks).await;
        for id in &changed {
            let i = id.0 as usize;
            self.io[i] = ios[i].clone();
        }
        let done = self.d.reconfigure_finish(now, next, &changed);
        if let Some(tx) = &self.ipvs_tx
            && !done.removed_services.is_empty()
        {
            let _ = tx.send(IpvsWork::Delete(done.removed_services.clone()));
        }
        self.cfg = new;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ = health.send((self.cfg.health.clone(), reply));
        let checks = answer.await.unwrap_or_default();
        Ok(ReloadReport {
            kept: done.kept,
            recreated: done.recreated,
            checks,
            virtual_servers_changed: done.virtual_servers_changed,
        })
    }

    /// A snapshot of everything a status shows.
    fn status(&self) -> Status {
        use ha_vrrp_proto::router::State;
        let instances = (0..self.d.instance_count())
            .filter_map(|i| {
                let id = InstanceId(i as u32);
                let c = self.d.instance_config(id)?;
                let r = self.d.router(id)?;
                let state = r.state();
                let k = r.counters();
                Some(InstanceStatus {
                    name: c.name.clone(),
                    interface: c.interface.clone(),
                    vrid: c.router.vrid.get(),
                    version: match c.router.version {
                        Version::V2 => 2,
                        Version::V3 => 3,
                    },
                    state,
                    priority: r.priority().get(),
                    base_priority: c.router.priority.get(),
                    master: if state == State::Master {
                        Some(c.router.primary_address)
                    } else {
                        r.known_master().map(|(a, _)| a)
                    },
                    holds_vips: self.d.holds_vips(id),
                    vips: c.vips.iter().map(|v| v.addr).collect(),
                    transitions: k.transitions_total(),
                    adverts_sent: k.adverts_sent,
                    adverts_received: k.adverts_received,
                    priority_zero_sent: k.priority_zero_sent,
                    priority_zero_received: k.priority_zero_received,
                })
            })
            .collect();
        let health = self.health_shared.lock().expect("health status");
        let targets = &self.cfg.health;
        let pools = (0..self.d.pool_count())
            .filter_map(|p| {
                let server = VirtualServerId(p as u32);
                let (c, alive) = self.d.pool(server)?;
                let members = c
                    .real_servers
                    .iter()
                    .zip(alive)
                    .enumerate()
                    .map(|(index, (rs, alive))| MemberStatus {
                        address: rs.destination.addr,
                        weight: rs.destination.weight,
                        alive: *alive,
                        checks: targets
                            .iter()
                            .zip(&health.checks)
                            .filter(|(t, _)| t.server == server && t.index == index)
                            .map(|(_, s)| s.clone())
                            .collect(),
                    })
                    .collect();
                Some(PoolStatus {
                    name: c.name.clone(),
                    service: c.service.key.to_string(),
                    quorum_up: self.d.pool_quorum(server).unwrap_or(false),
                    members,
                    sorry_active: c.sorry_server.is_some() && !alive.iter().any(|a| *a),
                })
            })
            .collect();
        let mut lateness = self.lateness;
        lateness.rescued = self.counters.rescued;
        Status {
            taken: SystemTime::now(),
            uptime: self.started.elapsed(),
            instances,
            pools,
            counters: self.counters,
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, self.drops[r.index()]))
                .collect(),
            ipvs: self.ipvs_shared.lock().expect("ipvs status").clone(),
            checks: health.counters,
            lateness,
        }
    }

    fn emit(&self, ev: RuntimeEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }

    /// Reads every packet queued on every socket; validates and queues the adverts.
    fn drain(&mut self, socks: &[Sock]) -> Result<(), SocketError> {
        // One reading of both clocks converts every kernel timestamp of this batch.
        let (now, wall) = (Instant::now(), SystemTime::now());
        for s in socks {
            for _ in 0..MAX_DRAIN {
                let Some(r) = s.sock.try_recv(&mut self.buf)? else {
                    break;
                };
                self.counters.received += 1;
                let age = r.age(wall);
                self.lateness.max_read_delay = self.lateness.max_read_delay.max(age);
                let at = now.checked_sub(age).unwrap_or(now);
                match self.validate(s, &r) {
                    Ok((instance, adv)) => {
                        self.queue.push((at, self.seq, instance, adv));
                        self.seq += 1;
                    }
                    Err(reason) => {
                        self.counters.dropped += 1;
                        self.drops[reason.index()] += 1;
                        if reason != DropReason::VridMismatch {
                            tracing::debug!(interface = %s.interface, src = %r.src, ?reason, "advert dropped");
                        }
                        self.emit(RuntimeEvent::Dropped {
                            interface: s.interface.clone(),
                            reason,
                            src: r.src,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Demultiplexes by VRID and validates with the instance's context.
    fn validate(&self, s: &Sock, r: &Received) -> Result<(InstanceId, RxAdvert), DropReason> {
        let bytes = self
            .buf
            .get(r.payload.0..r.payload.1)
            .ok_or(DropReason::TooShort)?;
        let p = Packet::new_checked(bytes, s.family).map_err(|e| e.reason())?;
        let vrid = VrId::new(p.vrid()).ok_or(DropReason::ZeroVrid)?;
        let instance = self
            .d
            .find_instance(&s.interface, vrid, s.family == Family::Ipv4)
            .ok_or(DropReason::VridMismatch)?;
        let c = self.d.instance_config(instance).expect("found");
        let io = &self.io[instance.0 as usize];
        let local = RxContext {
            version: c.router.version,
            vrid,
            family: s.family,
            auth: io.auth,
            v2_interval: io.v2_interval,
            checksum_mode: io.checksum_mode,
            src: r.src,
            dst: r.dst,
            ttl: r.ttl,
        };
        let adv = r.validate(&p, &local).map_err(|e| e.reason())?;
        Ok((instance, adv))
    }

    /// Feeds the queued adverts in receive-time order and the timers due by `now`, each at its
    /// time; returns the (monotonic) time for an input that comes next.
    fn feed(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last);
        self.queue.sort_unstable_by_key(|&(t, seq, _, _)| (t, seq));
        let queue = std::mem::take(&mut self.queue);
        for &(received_at, _, instance, adv) in &queue {
            let at = received_at.min(now);
            self.fire_timers(at);
            let at = at.max(self.last);
            if self
                .d
                .router(instance)
                .is_some_and(|r| r.poll_timeout().is_some_and(|d| at < d && d <= now))
            {
                self.counters.rescued += 1;
            }
            let _ = self.d.handle_advert(at, instance, adv);
            self.last = at;
        }
        self.queue = queue;
        self.queue.clear();
        self.fire_timers(now);
        self.last = now;
        now
    }

    /// Fires the timers due by `until`, each at its deadline.
    fn fire_timers(&mut self, until: Instant) {
        for _ in 0..MAX_FIRINGS {
            let Some(deadline) = self.d.poll_timeout() else {
                break;
            };
            if deadline > until {
                break;
            }
            let at = deadline.max(self.last);
            self.lateness.max_timer_delay = self
                .lateness
                .max_timer_delay
                .max(Instant::now().saturating_duration_since(deadline));
            self.d.handle_timeout(at);
            self.last = at;
            if self.d.poll_timeout() == Some(deadline) {
                break;
            }
        }
    }

    /// Sends the adverts, then hands out the actions, then reports the events.
    async fn flush(&mut self, socks: &[Sock]) {
        while let Some((instance, t)) = self.d.poll_transmit() {
            let io = &self.io[instance.0 as usize];
            let addresses = match io.src {
                IpAddr::V4(_) => WireAddresses::v4(&io.v4),
                IpAddr::V6(_) => WireAddresses::v6(&io.v6),
            };
            let Ok(addresses) = addresses else {
                self.counters.send_errors += 1;
                continue;
            };
            let advert = Advert {
                vrid: t.vrid,
                priority: t.priority,
                interval: t.interval,
                addresses,
                auth: if t.version == Version::V2 {
                    io.auth
                } else {
                    Auth::None
                },
            };
            let dst = t.destination.addr();
            let sent = match advert.emit(&mut self.tx_buf, io.checksum_mode, io.src, dst) {
                Ok(len) => match io.tx {
                    Some(t) => &self.tx_socks[t],
                    None => &socks[io.sock].sock,
                }
                .send_to(&self.tx_buf[..len], dst)
                .await
                .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(()) => self.counters.sent += 1,
                Err(e) => {
                    self.counters.send_errors += 1;
                    tracing::warn!(instance = instance.0, error = %e, "advert not sent");
                }
            }
        }
        while let Some(action) = self.d.poll_action() {
            self.act(action);
        }
        self.handle_events();
    }

    /// Reports the director's events; the IPVS sync daemon follows its instance's role.
    fn handle_events(&mut self) {
        while let Some(ev) = self.d.poll_event() {
            tracing::info!(event = ?ev, "director");
            self.dirty = true;
            if let DirectorEvent::Transition { instance, to, .. } = &ev
                && let Some(tx) = &self.ipvs_tx
                && self.sync_instance.as_ref().is_some_and(|n| {
                    self.d
                        .instance_config(*instance)
                        .is_some_and(|c| &c.name == n)
                })
            {
                let role = if *to == ha_vrrp_proto::router::State::Master {
                    DaemonRole::Master
                } else {
                    DaemonRole::Backup
                };
                let _ = tx.send(IpvsWork::Daemon(role));
            }
            self.emit(RuntimeEvent::Director(ev));
        }
    }

    fn vips(&self, vips: &[VipSpec], instance: InstanceId) -> Vec<Vip> {
        vips.iter()
            .filter_map(|v| {
                let dev = self.vip_dev(instance, v);
                let ifindex = self.ifindex_of(dev)?;
                Some(Vip {
                    ifindex,
                    addr: v.addr,
                    prefix: v.prefix,
                })
            })
            .collect()
    }

    /// The device of a VIP: its own, where the instance's interface stands for the
    /// instance's virtual MAC when it has one.
    fn vip_dev<'s>(&'s self, instance: InstanceId, v: &'s VipSpec) -> &'s str {
        let c = self.d.instance_config(instance).expect("instance");
        match v.dev_or(&c.interface) {
            d if d == c.interface => self
                .io
                .get(instance.0 as usize)
                .map_or(d, |io| io.vip_dev.as_str()),
            d => d,
        }
    }

    fn ifindex_of(&self, dev: &str) -> Option<u32> {
        self.ifindex.get(dev).copied()
    }

    /// Hands one action to the task that carries it out.
    fn act(&mut self, action: DirectorAction) {
        match action {
            DirectorAction::AddVips { instance, vips } => {
                let v = self.vips(&vips, instance);
                let _ = self.fx_tx.send(Effect::Add(instance, v));
            }
            DirectorAction::RemoveVips { instance, vips } => {
                let v = self.vips(&vips, instance);
                let _ = self.fx_tx.send(Effect::Remove(instance, v));
            }
            DirectorAction::AddRoutes { routes, .. } => {
                let _ = self.fx_tx.send(Effect::Routes { add: true, routes });
            }
            DirectorAction::RemoveRoutes { routes, .. } => {
                let _ = self.fx_tx.send(Effect::Routes { add: false, routes });
            }
            DirectorAction::Announce {
                instance,
                addresses,
            } => {
                let c = self.d.instance_config(instance).expect("instance");
                let mut per_if: Vec<(u32, Vec<IpAddr>)> = Vec::new();
                for a in addresses {
                    let dev = c
                        .vips
                        .iter()
                        .chain(&c.excluded_vips)
                        .find(|v| v.addr == a)
                        .map_or(
                            self.io
                                .get(instance.0 as usize)
                                .map_or(c.interface.as_str(), |io| io.vip_dev.as_str()),
                            |v| self.vip_dev(instance, v),
                        );
                    let Some(i) = self.ifindex_of(dev) else {
                        continue;
                    };
                    match per_if.iter_mut().find(|(x, _)| *x == i) {
                        Some((_, list)) => list.push(a),
                        None => per_if.push((i, vec![a])),
                    }
                }
                let _ = self.fx_tx.send(Effect::Announce(instance, per_if));
            }
            DirectorAction::Fence { instance, attempt } => {
                let c = self.d.instance_config(instance).expect("instance");
                let argv = self
                    .cfg
                    .instances
                    .get(&c.name)
                    .and_then(|o| o.fence.clone())
                    .unwrap_or_default();
                let timeout = self.cfg.command_timeout;
                let user = self.cfg.script_user;
                let tx = self.fb_tx.clone();
                self.inflight += 1;
                self.counters.fences += 1;
                let _ = self.fx_tx.send(Effect::Spawn(Box::pin(async move {
                    let ok = exec::succeeds_as("fence", &argv, timeout, user).await;
                    let _ = tx.send(Feedback::Fence {
                        instance,
                        attempt,
                        ok,
                    });
                })));
            }
            DirectorAction::RunStep {
                instance,
                op,
                step,
                token,
                ..
            } => {
                let word = match op {
                    StepOp::Start => "start",
                    StepOp::Stop => "stop",
                };
                let argv = match step.kind {
                    StepKind::Command { start, stop } => match op {
                        StepOp::Start => start,
                        StepOp::Stop => stop,
                    },
                    StepKind::Service(name) => {
                        let mut a = self.cfg.service_command.clone();
                        a.extend([word.to_owned(), name]);
                        a
                    }
                };
                let timeout = self.cfg.command_timeout;
                let user = self.cfg.script_user;
                let tx = self.fb_tx.clone();
                self.inflight += 1;
                self.counters.steps += 1;
                let _ = self.fx_tx.send(Effect::Spawn(Box::pin(async move {
                    let ok = exec::succeeds_as(word, &argv, timeout, user).await;
                    let _ = tx.send(Feedback::Step {
                        instance,
                        token,
                        ok,
                    });
                })));
            }
            DirectorAction::Ipvs { server, ops } => match &self.ipvs_tx {
                Some(tx) => {
                    if let Some(desired) = self.d.desired_ipvs_of(server) {
                        let _ = tx.send(IpvsWork::Apply {
                            server,
                            ops,
                            desired,
                        });
                    }
                }
                None => tracing::info!(
                    server = server.0,
                    ops = ?ops,
                    "IPVS is not driven by this node: operations logged only"
                ),
            },
            DirectorAction::Notify { argv } => {
                let _ = self.notify_tx.send(argv);
            }
        }
    }

    /// Starts a round of tracking: reads the files, starts the scripts not still running.
    fn track_round(&mut self) {
        let now_fb = self.fb_tx.clone();
        for t in 0..self.d.tracker_count() {
            let id = TrackerId(t as u32);
            let Some(kind) = self.d.tracker_config(id).map(|c| c.kind.clone()) else {
                continue;
            };
            let argv = match kind {
                TrackerKind::File { path } => {
                    self.counters.track_checks += 1;
                    let value = read_track_file(&path);
                    let now = self.feed(Instant::now());
                    if let Err(e) = self
                        .d
                        .handle_track_result(now, id, TrackResult::Value(value))
                    {
                        tracing::warn!(error = %e, "track file result not taken");
                    }
                    continue;
                }
                TrackerKind::Script { argv } => argv,
                TrackerKind::PingNode { addr } => vec![
                    "ping".to_owned(),
                    "-c".to_owned(),
                    "1".to_owned(),
                    "-W".to_owned(),
                    "1".to_owned(),
                    addr.to_string(),
                ],
                TrackerKind::Interface { .. } | TrackerKind::Pool { .. } => continue,
            };
            if !self.tracks_running.insert(id) {
                continue;
            }
            self.counters.track_checks += 1;
            self.inflight += 1;
            let timeout = self.cfg.track_timeout;
            let user = self.cfg.script_user;
            let tx = now_fb.clone();
            let _ = self.fx_tx.send(Effect::Spawn(Box::pin(async move {
                let code = match exec::run_as(&argv, timeout, user).await {
                    Ok(code) => code,
                    Err(e) => {
                        tracing::debug!(?argv, error = %e, "track script failed");
                        1
                    }
                };
                let _ = tx.send(Feedback::Track {
                    tracker: id,
                    result: TrackResult::Exit(code),
                });
            })));
        }
    }
}

/// keepalived `track_file`: the file's integer; a missing or unreadable file, or one that
/// does not hold an integer, counts as 0.
fn read_track_file(path: &str) -> i64 {
    // A small local file: read in place.
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// Runs the notify scripts one at a time, in order; returns how many ran.
async fn notify_task(
    mut rx: mpsc::UnboundedReceiver<Vec<String>>,
    timeout: Duration,
    user: Option<exec::User>,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
) -> u64 {
    let mut count = 0;
    while let Some(argv) = rx.recv().await {
        let ok = exec::succeeds_as("notify", &argv, timeout, user).await;
        count += 1;
        if let Some(tx) = &events {
            let _ = tx.send(RuntimeEvent::Notified { argv, ok });
        }
    }
    count
}

/// The slow side: rtnetlink addresses and routes, gratuitous ARP / NA.
struct Effects {
    addrs: Addresses,
    senders: HashMap<u32, (ArpSender, ha_arp::Interface)>,
    announcer: Announcer<(u32, u32)>,
    /// The VIPs each instance holds.
    held: HashMap<InstanceId, Vec<Vip>>,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
}

impl Effects {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Effect>) {
        loop {
            while let Some(frame) = self.announcer.poll_transmit() {
                if let Some((s, _)) = self.senders.get(&frame.ifindex)
                    && let Err(e) = s.send(frame.bytes)
                {
                    tracing::warn!(error = %e, "announcement not sent");
                }
            }
            let deadline = self.announcer.poll_timeout();
            let sleep = super::sleep_until(deadline);
            tokio::select! {
                biased;
                e = rx.recv() => match e {
                    None => break,
                    Some(e) => self.apply(e).await,
                },
                _ = sleep => self.announcer.handle_timeout(Instant::now()),
            }
        }
    }

    async fn apply(&mut self, e: Effect) {
        match e {
            Effect::Add(instance, vips) => {
                for v in &vips {
                    if let Err(e) = self.addrs.add(*v).await {
                        tracing::error!(instance = instance.0, error = %e, "adding a virtual address");
                    }
                }
                self.held.insert(instance, vips);
            }
            Effect::Remove(instance, vips) => {
                self.held.remove(&instance);
                let now = Instant::now();
                for i in self.senders.keys().copied().collect::<Vec<_>>() {
                    self.announcer.cancel(now, &(instance.0, i));
                }
                for v in &vips {
                    if let Err(e) = self.addrs.remove(*v).await {
                        tracing::error!(instance = instance.0, error = %e, "removing a virtual address");
                    }
                }
            }
            Effect::Announce(instance, per_if) => {
                let now = Instant::now();
                for (i, addresses) in per_if {
                    if let Some((_, iface)) = self.senders.get(&i) {
                        let iface = *iface;
                        self.announcer.announce(
                            now,
                            (instance.0, i),
                            &iface,
                            &addresses,
                            SourceMac::Interface,
                        );
                    }
                }
            }
            Effect::Routes { add, routes } => {
                for r in routes {
                    let mut argv: Vec<String> = vec!["ip".into(), "route".into()];
                    argv.push(if add { "replace" } else { "del" }.into());
                    argv.extend(r.split_whitespace().map(str::to_owned));
                    exec::succeeds("virtual route", &argv, Duration::from_secs(5)).await;
                }
            }
            Effect::Spawn(task) => {
                tokio::spawn(task);
            }
            Effect::Gone(v) => {
                let owner = self
                    .held
                    .iter()
                    .find(|(_, vips)| vips.contains(&v))
                    .map(|(i, _)| *i);
                if let Some(instance) = owner {
                    match self.addrs.add(v).await {
                        Ok(_) => {
                            tracing::warn!(vip = %v, "a held virtual address was removed: put back");
                            if let Some(tx) = &self.events {
                                let _ = tx.send(RuntimeEvent::VipRestored {
                                    instance,
                                    addr: v.addr,
                                });
                            }
                        }
                        Err(e) => {
                            tracing::error!(vip = %v, error = %e, "putting back a virtual address")
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{InstanceConfig, TrackerConfig};
    use ha_vrrp_proto::router::{Config as RouterConfig, State};
    use ha_vrrp_proto::{Centiseconds, Priority};

    const MS: Duration = Duration::from_millis(1);

    fn builder(tracker: Option<TrackerKind>) -> DirectorBuilder {
        let mut r = RouterConfig::new(
            Version::V3,
            VrId::new(7).unwrap(),
            "10.0.0.2".parse().unwrap(),
        );
        r.advert_interval = AdvertInterval::V3(Centiseconds::new(100).unwrap());
        let mut c = InstanceConfig::new("VI_1", "eth0", r);
        c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        let mut b = DirectorBuilder::new();
        if let Some(kind) = tracker {
            let t = b.add_tracker(TrackerConfig::new("t", kind));
            c.track.push(crate::core::TrackRef::new(t, 0));
        }
        b.add_instance(c).unwrap();
        b
    }

    struct Harness {
        cfg: DirectorConfig,
        fb: mpsc::UnboundedReceiver<Feedback>,
        fx: mpsc::UnboundedReceiver<Effect>,
        _notify: mpsc::UnboundedReceiver<Vec<String>>,
    }

    fn node(h: &mut Option<Harness>, b: DirectorBuilder, start: Instant) -> Node {
        let (fb_tx, fb) = mpsc::unbounded_channel();
        let (fx_tx, fx) = mpsc::unbounded_channel();
        let (notify_tx, notify) = mpsc::unbounded_channel();
        let d = b.clone().build(start).unwrap();
        let h = h.insert(Harness {
            cfg: DirectorConfig::new(b),
            fb,
            fx,
            _notify: notify,
        });
        Node {
            d,
            cfg: h.cfg.clone(),
            io: Vec::new(),
            ifindex: HashMap::from([("eth0".to_owned(), 2)]),
            last: start,
            counters: DirectorCounters::default(),
            queue: Vec::new(),
            seq: 0,
            buf: Vec::new(),
            tx_buf: Vec::new(),
            fb_tx,
            fx_tx,
            notify_tx,
            inflight: 0,
            tracks_running: HashSet::new(),
            events: None,
            ipvs_tx: None,
            sync_instance: None,
            drops: [0; DropReason::ALL.len()],
            lateness: Lateness::default(),
            dirty: false,
            started: start,
            ipvs_shared: Arc::default(),
            health_shared: Arc::default(),
            tx_socks: Vec::new(),
        }
    }

    fn became_master(n: &mut Node) -> bool {
        let mut any = false;
        while let Some(e) = n.d.poll_event() {
            any |= matches!(
                e,
                DirectorEvent::Transition {
                    to: State::Master,
                    ..
                }
            );
        }
        any
    }

    fn advert(priority: u8) -> RxAdvert {
        RxAdvert::new(
            "10.0.0.1".parse().unwrap(),
            VrId::new(7).unwrap(),
            Priority(priority),
            AdvertInterval::V3(Centiseconds::new(100).unwrap()),
        )
    }

    /// An advert that arrived before the Master_Down_Timer expired but is read after it is
    /// honoured at its receive time: no false takeover.
    #[test]
    fn advert_read_late_is_fed_before_the_timer_it_preceded() {
        let t0 = Instant::now();
        let mut h = None;
        let mut n = node(&mut h, builder(None), t0);
        n.feed(t0);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Backup));
        let deadline = n.d.poll_timeout().unwrap();
        n.queue
            .push((deadline - 10 * MS, 0, InstanceId(0), advert(200)));
        n.feed(deadline + 500 * MS);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Backup));
        assert!(!became_master(&mut n), "a false takeover");
        assert_eq!(n.counters.rescued, 1);
        assert!(n.d.poll_timeout().unwrap() > deadline + 500 * MS);
        // Without an advert the same lateness makes it master.
        let deadline = n.d.poll_timeout().unwrap();
        n.feed(deadline + 500 * MS);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Master));
        assert!(became_master(&mut n));
    }

    /// Adverts are fed in receive-time order whatever order they were read in, and time never
    /// goes backwards for the director.
    #[test]
    fn queued_adverts_are_fed_in_time_order() {
        let t0 = Instant::now();
        let mut h = None;
        let mut n = node(&mut h, builder(None), t0);
        n.feed(t0);
        let deadline = n.d.poll_timeout().unwrap();
        // Read second, received first: a master with priority 0 (stop) then a live master.
        n.queue
            .push((deadline - 5 * MS, 1, InstanceId(0), advert(200)));
        n.queue
            .push((deadline - 20 * MS, 0, InstanceId(0), advert(0)));
        // In the wrong order priority 0 would come last and Skew_Time (0.61 s) would expire.
        let last = n.feed(deadline + 1000 * MS);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Backup));
        assert!(!became_master(&mut n), "fed out of order");
        assert_eq!(last, deadline + 1000 * MS);
        // An input stamped earlier than what was fed is given the later time.
        assert_eq!(n.feed(t0), deadline + 1000 * MS);
    }

    /// keepalived's rule: the sync daemon runs as master while its instance is master, as
    /// backup otherwise; a real server's death reaches IPVS with the desired state.
    #[test]
    fn sync_daemon_follows_the_role_and_pool_changes_reach_ipvs() {
        use ha_ipvs::model::{Destination, Forward, Scheduler, Service, ServiceKey};
        let t0 = Instant::now();
        let mut h = None;
        let mut b = builder(None);
        let vip: std::net::SocketAddr = "10.0.0.100:80".parse().unwrap();
        let rs = |a: &str| crate::core::RealServer {
            destination: Destination::new(a.parse().unwrap(), Forward::Route, 1),
            inhibit_on_failure: false,
        };
        b.add_virtual_server(crate::core::VirtualServerConfig::new(
            "web",
            Service::new(ServiceKey::tcp(vip), Scheduler::Rr),
            vec![rs("10.0.0.11:80"), rs("10.0.0.12:80")],
        ))
        .unwrap();
        let mut n = node(&mut h, b, t0);
        let (tx, mut rx) = mpsc::unbounded_channel();
        n.ipvs_tx = Some(tx);
        n.sync_instance = Some("VI_1".into());
        n.feed(t0);
        while let Some(a) = n.d.poll_action() {
            n.act(a);
        }
        n.handle_events();
        // The first desired state creates the service with both servers.
        let mut daemon = Vec::new();
        let mut applied = Vec::new();
        while let Ok(w) = rx.try_recv() {
            match w {
                IpvsWork::Daemon(r) => daemon.push(r),
                IpvsWork::Apply { desired, ops, .. } => applied.push((ops.len(), desired)),
                IpvsWork::Stop(_) | IpvsWork::Delete(_) => panic!("stop"),
            }
        }
        assert_eq!(applied.len(), 1, "{applied:?}");
        assert_eq!(applied[0].1.destinations.len(), 2);
        // Initialize -> Backup: the backup daemon receives the master's connections.
        assert_eq!(daemon, vec![DaemonRole::Backup]);
        let deadline = n.d.poll_timeout().unwrap();
        n.feed(deadline);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Master));
        n.handle_events();
        assert!(matches!(
            rx.try_recv(),
            Ok(IpvsWork::Daemon(DaemonRole::Master))
        ));
        // A real server dies: one operation, and the desired state without it.
        n.d.handle_real_server(deadline, VirtualServerId(0), 0, false)
            .unwrap();
        while let Some(a) = n.d.poll_action() {
            n.act(a);
        }
        match rx.try_recv() {
            Ok(IpvsWork::Apply { ops, desired, .. }) => {
                assert_eq!(ops.len(), 1, "{ops:?}");
                assert_eq!(desired.destinations.len(), 1);
                assert_eq!(
                    desired.destinations[0].addr,
                    "10.0.0.12:80".parse().unwrap()
                );
            }
            other => panic!("{other:?}"),
        }
        // A higher-priority master appears: backup again, and so is the daemon.
        n.queue.push((deadline + MS, 0, InstanceId(0), advert(200)));
        n.feed(deadline + 2 * MS);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Backup));
        n.handle_events();
        assert!(matches!(
            rx.try_recv(),
            Ok(IpvsWork::Daemon(DaemonRole::Backup))
        ));
        let st = n.status();
        assert_eq!(st.pools.len(), 1);
        assert_eq!(st.pools[0].members.iter().filter(|m| m.alive).count(), 1);
        assert_eq!(st.instances[0].state, State::Backup);
        assert_eq!(st.instances[0].master, Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn actions_go_to_the_effects_task_in_order() {
        let t0 = Instant::now();
        let mut h = None;
        let mut n = node(&mut h, builder(None), t0);
        n.feed(t0);
        let deadline = n.d.poll_timeout().unwrap();
        n.feed(deadline);
        assert_eq!(n.d.state(InstanceId(0)), Some(State::Master));
        while let Some(a) = n.d.poll_action() {
            n.act(a);
        }
        n.d.shutdown(deadline + MS);
        while let Some(a) = n.d.poll_action() {
            n.act(a);
        }
        drop(n);
        let fx = &mut h.as_mut().unwrap().fx;
        let vip = Vip {
            ifindex: 2,
            addr: "10.0.0.100".parse().unwrap(),
            prefix: 24,
        };
        assert!(matches!(fx.try_recv(), Ok(Effect::Add(InstanceId(0), v)) if v == [vip]));
        assert!(
            matches!(fx.try_recv(), Ok(Effect::Announce(InstanceId(0), v)) if v == [(2, vec![vip.addr])])
        );
        assert!(matches!(fx.try_recv(), Ok(Effect::Remove(InstanceId(0), v)) if v == [vip]));
        assert!(fx.try_recv().is_err());
    }

    #[test]
    fn track_scripts_and_files_report_results() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = Instant::now();
            let mut h = None;
            let script = TrackerKind::Script {
                argv: vec!["sh".into(), "-c".into(), "exit 3".into()],
            };
            let mut n = node(&mut h, builder(Some(script)), t0);
            n.track_round();
            // Still running: not started twice.
            n.track_round();
            assert_eq!(n.counters.track_checks, 1);
            drop(n);
            // The script runs off the VRRP loop: on the effects task.
            let fx = &mut h.as_mut().unwrap().fx;
            let mut spawned = 0;
            while let Ok(e) = fx.try_recv() {
                if let Effect::Spawn(task) = e {
                    tokio::spawn(task);
                    spawned += 1;
                }
            }
            assert_eq!(spawned, 1);
            let fb = &mut h.as_mut().unwrap().fb;
            let got = tokio::time::timeout(Duration::from_secs(10), fb.recv())
                .await
                .unwrap();
            assert!(matches!(
                got,
                Some(Feedback::Track {
                    tracker: TrackerId(0),
                    result: TrackResult::Exit(3)
                })
            ));
        });
        let dir = std::env::temp_dir().join(format!("frt-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("v");
        std::fs::write(&f, " -42\n").unwrap();
        assert_eq!(read_track_file(f.to_str().unwrap()), -42);
        std::fs::write(&f, "x").unwrap();
        assert_eq!(read_track_file(f.to_str().unwrap()), 0);
        assert_eq!(read_track_file(dir.join("none").to_str().unwrap()), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
