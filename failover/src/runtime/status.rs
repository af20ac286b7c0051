//! A running director's state as plain data: what `ha-director status` prints and what the
//! metrics endpoint exports, and the channel it is read through.
//!
//! A [`Status`] is built by [`super::director::run_with`]'s loop when a reader asks for one
//! through a [`StatusReader`] (see [`status_channel`]), never on the advert path. A director
//! nobody reads builds none: at 10,000 real servers a snapshot is megabytes, and building one
//! every second took most of the runtime's user time in a TCG VM.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

use ha_ipvs::Stats;
use ha_ipvs::model::ServiceKey;
use ha_vrrp_proto::router::State;
use ha_vrrp_proto::{DropCounts, DropReason};

use crate::late::LateStats;

/// Creates the two ends of a status channel: the [`StatusRequests`] go to the director in
/// [`super::director::RunIo::status`], the [`StatusReader`] (cloned as often as needed) to
/// whoever reads.
pub fn status_channel() -> (StatusRequests, StatusReader) {
    let (ask, asks) = mpsc::unbounded_channel();
    let (last_tx, last) = watch::channel(None);
    (
        StatusRequests {
            asks,
            last: last_tx,
        },
        StatusReader { ask, last },
    )
}

/// One reader's request: where the snapshot goes.
pub type StatusAsk = oneshot::Sender<Arc<Status>>;

/// The director's end of a [`status_channel`]: the readers' requests, and where the last
/// snapshot is left when the director stops.
#[derive(Debug)]
pub struct StatusRequests {
    pub(crate) asks: mpsc::UnboundedReceiver<StatusAsk>,
    pub(crate) last: watch::Sender<Option<Arc<Status>>>,
}

impl StatusRequests {
    /// The next reader's request, for a program that answers them itself instead of
    /// [`super::director::run_with`] (a stand-in in tests); `None` once every reader is
    /// gone.
    pub async fn recv(&mut self) -> Option<StatusAsk> {
        self.asks.recv().await
    }
}

/// The readers' end of a [`status_channel`]. A snapshot is shared: the reader formats it
/// without holding anything the director's loop waits for.
#[derive(Debug, Clone)]
pub struct StatusReader {
    ask: mpsc::UnboundedSender<StatusAsk>,
    last: watch::Receiver<Option<Arc<Status>>>,
}

impl StatusReader {
    /// A snapshot of the running director: built for this request, or one built less than
    /// [`STATUS_REUSE`] ago if nothing a status shows by event (a transition, a real server,
    /// an IPVS operation) changed since. It comes when the director's loop takes the
    /// request: after its start, and after a reload it is applying. Once the director has
    /// stopped: its last snapshot (everything stopped). `None` if it ended without one.
    pub async fn get(&self) -> Option<Arc<Status>> {
        let answer = match self.ask() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        answer.or_else(|| self.last.borrow().clone())
    }

    /// [`StatusReader::get`] from a thread outside any tokio runtime (it blocks; it panics
    /// inside a runtime, as [`oneshot::Receiver::blocking_recv`] does).
    pub fn blocking_get(&self) -> Option<Arc<Status>> {
        let answer = self.ask().and_then(|rx| rx.blocking_recv().ok());
        answer.or_else(|| self.last.borrow().clone())
    }

    /// Sends a request; where its answer comes (`None`: the director's loop is gone).
    fn ask(&self) -> Option<oneshot::Receiver<Arc<Status>>> {
        let (tx, rx) = oneshot::channel();
        self.ask.send(tx).ok().map(|()| rx)
    }
}

/// How long a snapshot answers further requests when nothing changed by event: the
/// counters in it are at most this old.
pub const STATUS_REUSE: Duration = Duration::from_secs(1);

/// A snapshot of a running director.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// When the snapshot was taken.
    pub taken: SystemTime,
    /// How long the director has been running.
    pub uptime: Duration,
    /// The VRRP instances, in configuration order.
    pub instances: Vec<InstanceStatus>,
    /// The virtual servers, in configuration order.
    pub pools: Vec<PoolStatus>,
    /// The runtime's counters.
    pub counters: DirectorCounters,
    /// Received packets dropped by the whole node, by reason (every reason, zeros included,
    /// in [`DropReason::ALL`] order): the instances' drops and those no instance was found
    /// for.
    pub drops: Vec<(DropReason, u64)>,
    /// The IPVS side.
    pub ipvs: IpvsStatus,
    /// Health checks run, by outcome.
    pub checks: CheckCounters,
    /// The ping trackers (heartbeat `ping` / `ping_group`), in configuration order.
    pub pings: Vec<PingStatus>,
    /// The hardware watchdog the loop feeds, if one is configured.
    pub watchdog: Option<WatchdogStatus>,
    /// The BGP speaker (active-active), if one is configured.
    pub bgp: Option<BgpStatus>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            taken: SystemTime::UNIX_EPOCH,
            uptime: Duration::ZERO,
            instances: Vec::new(),
            pools: Vec::new(),
            counters: DirectorCounters::default(),
            drops: DropReason::ALL.iter().map(|r| (*r, 0)).collect(),
            ipvs: IpvsStatus::default(),
            checks: CheckCounters::default(),
            pings: Vec::new(),
            watchdog: None,
            bgp: None,
        }
    }
}

/// The BGP speaker of an active-active director: its sessions and its routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BgpStatus {
    /// The neighbours, in configuration order.
    pub neighbors: Vec<BgpNeighborStatus>,
    /// The routes, in configuration order.
    pub routes: Vec<BgpRouteStatus>,
    /// A stop withdrew every route and the director is serving its drain time.
    pub draining: bool,
}

/// One BGP neighbour of [`BgpStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpNeighborStatus {
    /// Its address.
    pub address: IpAddr,
    /// Its AS.
    pub peer_as: u32,
    /// The session's state (RFC 4271 section 8.2.2: `Idle` ... `Established`).
    pub state: String,
    /// When the state last changed.
    pub since: SystemTime,
    /// How many times the session was established.
    pub established: u64,
    /// Why the session last went down, if it did.
    pub last_down: Option<String>,
    /// BFD with this neighbour, if configured.
    pub bfd: Option<BfdStatus>,
}

/// The BFD session with a neighbour ([`BgpNeighborStatus::bfd`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdStatus {
    /// Its state (RFC 5880 section 4.1: `AdminDown`, `Down`, `Init`, `Up`).
    pub state: String,
    /// When the state last changed.
    pub since: SystemTime,
    /// The diagnostic of the last change to a state other than `Up`, in words.
    pub last_diagnostic: Option<String>,
    /// How many times the session went from `Up` to another state.
    pub downs: u64,
}

/// One announced address of [`BgpStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpRouteStatus {
    /// The address (a host route).
    pub address: IpAddr,
    /// The virtual server whose quorum gates it.
    pub virtual_server: String,
    /// Whether it is announced (to every neighbour whose session is up).
    pub announced: bool,
    /// Why it is or is not: `quorum up`, `quorum down`, `stopping`.
    pub reason: String,
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// Its virtual router id.
    pub vrid: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// Its state.
    pub state: State,
    /// The effective priority (after tracking).
    pub priority: u8,
    /// The configured priority.
    pub base_priority: u8,
    /// The master as far as this node knows: itself when master, the source of the last
    /// accepted advert when backup, `None` when unknown.
    pub master: Option<IpAddr>,
    /// Whether it holds its virtual addresses.
    pub holds_vips: bool,
    /// Its virtual addresses.
    pub vips: Vec<IpAddr>,
    /// State changes since start.
    pub transitions: u64,
    /// Adverts it sent.
    pub adverts_sent: u64,
    /// Adverts it accepted.
    pub adverts_received: u64,
    /// Priority-0 adverts it sent.
    pub priority_zero_sent: u64,
    /// Priority-0 adverts it received.
    pub priority_zero_received: u64,
    /// Received messages dropped for this instance, by reason (only reasons with drops):
    /// the codec's (authentication, checksum, TTL, ...) and the router's (own advert, not
    /// from a peer, lower priority, ...).
    pub drops: Vec<(DropReason, u64)>,
    /// The administrative mode (heartbeat `hb_standby` / `hb_takeover`): `auto`, `standby`
    /// or `takeover`.
    pub admin: &'static str,
    /// Why it has that mode: `operator`, `start failed`; `None`: as configured at start.
    pub admin_reason: Option<&'static str>,
    /// Late-advert warnings (heartbeat `warntime`) since start.
    pub late_adverts: u64,
    /// When it last changed state (wall clock); `None`: not since start.
    pub last_transition: Option<SystemTime>,
    /// Times it became master since start (keepalived `become_master`).
    pub became_master: u64,
    /// Times it left the master state since start (keepalived `release_master`).
    pub released_master: u64,
    /// Its advert paths when it has extra ones (the first is its own interface); empty
    /// otherwise.
    pub paths: Vec<AdvertPathStatus>,
}

/// One advert path of an instance (heartbeat's redundant links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertPathStatus {
    /// The path's interface.
    pub interface: String,
    /// Valid adverts received on it.
    pub adverts_received: u64,
    /// How long ago the last one was received; `None`: never.
    pub last_heard_ago: Option<Duration>,
    /// Whether it is silent (it heard adverts, then none for three advert intervals while
    /// another path still did).
    pub silent: bool,
}

/// One ping tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingStatus {
    /// Its name.
    pub name: String,
    /// Whether any of its addresses answered within its dead time.
    pub up: bool,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
    /// Those that answered within its dead time.
    pub answering: Vec<IpAddr>,
}

/// The hardware watchdog (heartbeat `watchdog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogStatus {
    /// The device.
    pub device: std::path::PathBuf,
    /// How often the loop feeds it.
    pub interval: Duration,
    /// The timeout set at open (`WDIOC_SETTIMEOUT`), if one was asked for.
    pub timeout_s: Option<u32>,
    /// Writes that fed it.
    pub feeds: u64,
    /// Writes that failed.
    pub errors: u64,
    /// The last failed write, as text.
    pub last_error: Option<String>,
}

/// One virtual server (an IPVS service and its pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    /// Its name.
    pub name: String,
    /// The service, as ipvsadm writes it (`TCP 10.0.0.1:80`, `FWM 7`).
    pub service: String,
    /// Whether the quorum is met.
    pub quorum_up: bool,
    /// The real servers, in configuration order.
    pub members: Vec<MemberStatus>,
    /// Whether the sorry server is in use.
    pub sorry_active: bool,
}

/// One real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// Its address and port.
    pub address: SocketAddr,
    /// Its configured weight.
    pub weight: u32,
    /// Whether the director counts it alive (all its checks up).
    pub alive: bool,
    /// Its checks.
    pub checks: Vec<CheckStatus>,
}

/// One health check of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    /// What kind (`tcp`, `http`, `https`, `dns`, `smtp`, `udp`, `ping`, `script`).
    pub kind: &'static str,
    /// Whether it is up.
    pub up: bool,
    /// The last attempt's failure, if it failed (`refused`, `timeout`, `status 503`, ...).
    pub last_failure: Option<String>,
    /// Checks completed (attempts with an outcome, retries included).
    pub runs: u64,
}

/// The IPVS side's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsStatus {
    /// Whether the runtime drives the kernel's IPVS (otherwise operations are only logged).
    pub enabled: bool,
    /// Operations the kernel accepted.
    pub ops_applied: u64,
    /// Operations the kernel refused.
    pub ops_failed: u64,
    /// The last refusal, as text (operation and errno).
    pub last_error: Option<String>,
    /// The sync daemon role now running (`master`, `backup`) if a sync daemon is configured.
    pub sync_daemon: Option<&'static str>,
    /// The kernel's IPVS services with their traffic counters, as last read (every
    /// [`IPVS_STATS_INTERVAL`] while IPVS is driven; every service of the namespace, this
    /// director's or not, as `ipvsadm -Ln --stats` shows them). Empty when not driven.
    pub services: Vec<IpvsServiceStatus>,
    /// Why the last read of the counters failed, if it did.
    pub stats_error: Option<String>,
}

/// How often the IPVS task reads the kernel's service and real-server counters.
pub const IPVS_STATS_INTERVAL: Duration = Duration::from_secs(2);

/// One IPVS service as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsServiceStatus {
    /// Protocol and virtual address, or firewall mark.
    pub key: ServiceKey,
    /// Its counters.
    pub stats: Stats,
    /// Its real servers.
    pub destinations: Vec<IpvsDestinationStatus>,
}

/// One IPVS real server (destination) as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsDestinationStatus {
    /// Its address and port.
    pub addr: SocketAddr,
    /// Its weight in the kernel now (0 while quiesced).
    pub weight: u32,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Its counters.
    pub stats: Stats,
}

/// Health checks by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounters {
    /// Attempts that succeeded.
    pub up: u64,
    /// Attempts that failed.
    pub down: u64,
    /// Real-server state changes reported to the director.
    pub changes: u64,
    /// Attempts given up on: no outcome within their timeout and the scheduler's grace
    /// (the scheduler counts each as a failed attempt, `lost`; their probe, if still
    /// running, is dropped), or an outcome that came after that.
    pub lost: u64,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectorCounters {
    /// Adverts sent.
    pub sent: u64,
    /// Adverts that could not be sent.
    pub send_errors: u64,
    /// Packets received (valid or not).
    pub received: u64,
    /// Packets dropped (by the codec, for a VRID no instance runs, or by a router).
    pub dropped: u64,
    /// Gratuitous ARP / unsolicited NA frames sent.
    pub announced: u64,
    /// Notify scripts run.
    pub notified: u64,
    /// Fence commands run.
    pub fences: u64,
    /// Resource step commands run.
    pub steps: u64,
    /// Track script runs and file reads.
    pub track_checks: u64,
    /// Track script runs that failed (a non-zero exit or not run to the end).
    pub track_failures: u64,
    /// Track script runs that did not run to their end: not started (a missing program, a
    /// user the daemon may not switch to), timed out or killed.
    pub script_errors: u64,
    /// The late policy's measurements ([`crate::late`]): receive-to-processing delay, timer
    /// lateness, adverts read late but fed in time (`rescued`, each a false failover
    /// avoided), skipped advert ticks.
    pub late: LateStats,
}

/// Drop counts as a status list: every reason, or only those with drops.
pub(crate) fn drop_list(d: &DropCounts, all: bool) -> Vec<(DropReason, u64)> {
    d.iter().filter(|(_, n)| all || *n > 0).collect()
}
