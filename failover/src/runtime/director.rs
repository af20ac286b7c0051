//! The core [`Director`] on tokio: one node's VRRP instances, sync groups, tracking, VIPs,
//! fencing, resource steps, notify scripts and virtual servers, executed on a real host. A
//! single instance is a director of one ([`super::instance`]).
//!
//! [`run`] owns the IO; every decision is the sans-io core's:
//! - at start (`runtime::setup`): VIPs a crashed earlier run left behind (marked with
//!   [`VIP_PROTOCOL`](super::netlink::VIP_PROTOCOL)) are removed before any instance can
//!   become master; interfaces, virtual MACs and sockets follow the pure [`super::plan`];
//! - receive: every packet queued on the sockets is read as bytes and given to the core
//!   ([`Director::validate_packet`]: codec, demultiplexing, drop counting) with the kernel's
//!   receive time; the one late policy ([`crate::late::LateDriver`]) feeds the adverts and the
//!   due timers in the order of their times, so an advert that arrived in time but is read
//!   late never causes a false failover, and a late master never sends a burst;
//! - send: the director's adverts ([`Director::poll_transmit`], bytes) go out first, before
//!   any other output is looked at; the slow work runs on other tasks (`runtime::effects`,
//!   `runtime::pools`) and never delays an advert or blocks the loop: VIPs, routes and
//!   announcements in order, commands (fences, steps, track scripts and files) started in
//!   order, notify scripts one at a time, IPVS, health checks;
//! - failure is loud and safe: a task of the runtime that ends while the node runs is a
//!   [`DirectorRunError::TaskEnded`]; the node then stops gracefully (priority 0, VIPs
//!   removed, by the effects task or directly) and [`run`] returns the error;
//! - stop: on shutdown every master sends priority 0, the VIPs and routes are removed, started
//!   resource steps are stopped in reverse order, the virtual servers are removed, the sync
//!   daemon stopped and the `STOP` notify scripts run, all within
//!   [`DirectorConfig::shutdown_grace`] of the request; what is not done by then is abandoned
//!   and logged.
//!
//! Commands run as argv without a shell, environment cleared but for `PATH`, each with a
//! timeout ([`super::exec`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use ha_arp::Announcer;
use ha_vrrp_proto::router::RxAdvert;
use ha_vrrp_proto::{DropCounts, Version};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::core::{
    Director, DirectorAction, DirectorEvent, InstanceId, PacketMeta, StepKind, StepOp, TrackResult,
    TrackerId, TrackerKind, VirtualServerId,
};
use crate::late::LateDriver;

pub use super::config::{
    AdminError, AdminRequest, BfdTimers, BgpConfig, BgpNeighborConfig, DirectorConfig,
    HealthTarget, InstanceOptions, IpvsKernelSettings, IpvsOptions, Reload, ReloadReport, RunIo,
    RuntimeEvent, Statics, SyncDaemonOptions,
};
pub use super::error::DirectorRunError;
pub use super::status::DirectorCounters;

use super::bgp::{self, BgpWork};
use super::effects::{
    self, Effect, Effects, EffectsReport, Feedback, Route, ScriptFailure, feed_back, report,
};
use super::exec;
use super::netlink::{Addresses, NetEvent, NetWatch, NetlinkError, Vip};
use super::plan::Plan;
use super::pools::{self, HealthShared, HealthTask, IpvsWork, RealServerHealth};
use super::setup::{self, Sock};
use super::status::{
    AdvertPathStatus, InstanceStatus, IpvsStatus, MemberStatus, PoolStatus, STATUS_REUSE, Status,
    drop_list,
};
use super::vmac::Vmac;
use ha_ipvs::model::DaemonRole;

/// The most packets read from one socket in one go (a flood cannot hold the loop).
const MAX_DRAIN: usize = 256;

/// Runs one node until `shutdown` becomes true (or its sender is dropped), then shuts down
/// within [`DirectorConfig::shutdown_grace`] (masters send priority 0, VIPs removed, steps
/// stopped in reverse, `STOP` notified) and returns the counters. Events go to `events` if
/// given. Needs a tokio runtime with IO and time enabled (and, for commands, the process
/// driver: `enable_all`). Dropping the future is a crash: nothing is cleaned up (the next
/// start removes the stale VIPs).
pub async fn run(
    cfg: DirectorConfig,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    shutdown: watch::Receiver<bool>,
) -> Result<DirectorCounters, DirectorRunError> {
    let mut io = RunIo::new(shutdown);
    io.events = events;
    run_with(cfg, io).await
}

/// [`run`] with status snapshots built for the readers of `io.status` and configurations
/// taken from `io.reload` while running.
pub async fn run_with(
    mut cfg: DirectorConfig,
    io: RunIo,
) -> Result<DirectorCounters, DirectorRunError> {
    let RunIo {
        events,
        shutdown,
        status,
        reload,
        slow,
        admin,
        announcer,
    } = io;
    let slow = slow.unwrap_or_else(tokio::runtime::Handle::current);
    let started = Instant::now();
    let host = setup::start(&cfg, &events).await?;
    let setup::Host {
        addrs,
        watch: netwatch,
        plan,
        ipvs,
        ifindex,
        vmacs,
        socks,
        senders,
        link_up,
        statics,
    } = host;
    let (fb_tx, fb_rx) = mpsc::unbounded_channel::<Feedback>();
    let (fx_tx, fx_rx) = mpsc::unbounded_channel::<Effect>();
    let (notify_tx, notify_rx) = mpsc::unbounded_channel::<Vec<String>>();
    let (health_tx, health_rx) = mpsc::unbounded_channel::<RealServerHealth>();
    let (health_reload_tx, health_reload_rx) = mpsc::unbounded_channel::<pools::HealthReload>();
    let (ipvs_status_tx, ipvs_status) = watch::channel(IpvsStatus {
        enabled: ipvs.is_some(),
        ..IpvsStatus::default()
    });
    let (health_status_tx, health_status) = watch::channel(HealthShared::default());
    let effects = slow.spawn(
        Effects {
            addrs: addrs.clone(),
            senders,
            announcer: Announcer::new(cfg.announce, cfg.announce_pacing),
            held: HashMap::new(),
            events: events.clone(),
            announced: 0,
        }
        .run(fx_rx),
    );
    let notifier = slow.spawn(effects::notify_task(
        notify_rx,
        cfg.notify_timeout,
        cfg.script_user,
        events.clone(),
    ));
    let ipvs_synced = pools::IpvsSynced::default();
    let (ipvs_tx, ipvs_task) = match (ipvs, &cfg.ipvs) {
        (Some(client), Some(opts)) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = slow.spawn(pools::ipvs_task(
                client,
                opts.clone(),
                rx,
                ipvs_status_tx,
                ipvs_synced.clone(),
                fb_tx.clone(),
            ));
            (Some(tx), Some(task))
        }
        _ => (None, None),
    };
    // The loop keeps only the index of the checks (for the status); the health task owns the
    // targets (a copy kept here was about 1 MiB at 10,000 real servers).
    let by_member = pools::MemberIndex::new(&cfg.health);
    let health = slow.spawn(
        HealthTask::new(
            cfg.health_scheduler,
            std::mem::take(&mut cfg.health),
            health_status_tx,
            health_tx,
        )
        .run(health_reload_rx),
    );
    let start = Instant::now();
    let mut d = match cfg.director.build_keeping_instances(start) {
        Ok(d) => d,
        Err(e) => {
            super::statics::remove(&addrs, statics).await;
            return Err(e.into());
        }
    };
    // Authenticated adverts number from the start time (unix seconds; u32 until 2106).
    d.set_advert_generation(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs() as u32),
    );
    for (name, up) in &link_up {
        if !up {
            d.handle_link(start, name, false);
        }
    }
    let polled: Vec<_> = (0..d.tracker_count())
        .filter_map(|t| {
            let id = TrackerId(t as u32);
            d.tracker_config(id).map(|c| (id, c.kind.clone()))
        })
        .collect();
    for (id, result) in effects::initial_track_results(&polled) {
        if let Err(e) = d.handle_track_result(start, id, result) {
            tracing::warn!(error = %e, "initial tracker result not taken");
        }
    }
    let (bgp_status_tx, bgp_status) = watch::channel(None);
    let (bgp_tx, bgp_task) = match &cfg.bgp {
        Some(b) => {
            let started = match announcer {
                Some(a) => Ok(bgp::Backend::Custom(a)),
                None => bgp::session_configs(b).and_then(|c| {
                    // The sessions' tasks run on the slow runtime with the BGP task.
                    let _on_slow = slow.enter();
                    bgp::start(b, c).map(bgp::Backend::Speaker)
                }),
            };
            let backend = match started {
                Ok(n) => n,
                Err(e) => {
                    super::statics::remove(&addrs, statics).await;
                    return Err(e.into());
                }
            };
            let names = (0..d.pool_count())
                .map(|p| {
                    d.pool(VirtualServerId(p as u32))
                        .map_or_else(String::new, |(c, _)| c.name.clone())
                })
                .collect();
            let (tx, rx) = mpsc::unbounded_channel();
            let mut servers: Vec<VirtualServerId> = b.routes.iter().map(|r| r.0).collect();
            servers.dedup();
            for server in servers {
                let up = d.pool_quorum(server).unwrap_or(false);
                let _ = tx.send(BgpWork::Quorum { server, up });
            }
            let task = slow.spawn(bgp::task(b.clone(), names, backend, rx, bgp_status_tx));
            (Some(tx), Some(task))
        }
        None => (None, None),
    };
    let has_trackers = d_has_polled_trackers(&d);
    let pings = super::ping::Pings::new(&d, start, None);
    warn_if_processes_hidden(&d);
    let names_by_index = ifindex.iter().map(|(n, i)| (*i, n.clone())).collect();
    // Opened once the start-up is done, just before the loop that feeds it: the kernel arms it
    // at open, and a slow start (seconds for a debug build under TCG) outlasted a 4 s timeout
    // (`vm_watchdog` saw it fire while the director ran). A device that cannot be used still
    // stops the start, before the loop runs.
    let watchdog = match &cfg.watchdog {
        Some(w) => match super::watchdog::Watchdog::open(w) {
            Ok(w) => Some(w),
            Err(e) => {
                super::statics::remove(&addrs, statics).await;
                return Err(e);
            }
        },
        None => None,
    };
    let mut node = Node {
        d,
        driver: LateDriver::new(start),
        cfg,
        plan,
        ifindex,
        names_by_index,
        link_up,
        counters: DirectorCounters::default(),
        buf: vec![0u8; 65536],
        tx_buf: vec![0u8; crate::core::MAX_ADVERT_LEN],
        tasks: Senders {
            fx: Some(fx_tx),
            notify: Some(notify_tx),
            ipvs: ipvs_tx,
            ipvs_synced,
            health: Some(health_reload_tx),
            bgp: bgp_tx,
            fb: fb_tx,
        },
        inflight: 0,
        tracks_running: HashSet::new(),
        script_failing: HashMap::new(),
        events,
        dirty: true,
        started,
        status_last: status.as_ref().map(|s| s.last.clone()),
        snapshot: None,
        ipvs_status,
        bgp_status,
        drain_until: None,
        by_member,
        health_status,
        addrs,
        fatal: None,
        stop_deadline: None,
        has_trackers,
        pings,
        watchdog,
        history: HashMap::new(),
    };
    let mut inputs = Inputs {
        shutdown,
        reload,
        admin,
        status: status.map(|s| s.asks),
        watch: netwatch,
        fb: fb_rx,
        health: health_rx,
        bgp_status: node.bgp_status.clone(),
        handles: Handles {
            effects: Some(effects),
            notify: Some(notifier),
            ipvs: ipvs_task,
            health: Some(health),
            bgp: bgp_task,
        },
    };
    tracing::info!(
        instances = node.d.instance_count(),
        sockets = socks.len(),
        "director starting"
    );
    node.run(&socks, &mut inputs).await;
    node.finish(&socks, inputs.handles, vmacs, statics).await
}

/// Warns once at start when process trackers cannot see every process (`/proc` hidden).
fn warn_if_processes_hidden(d: &Director) {
    let tracks_processes = (0..d.tracker_count()).any(|t| {
        matches!(
            d.tracker_config(TrackerId(t as u32)).map(|c| &c.kind),
            Some(TrackerKind::Process(_))
        )
    });
    if tracks_processes && let Some(why) = effects::proc_hides_processes() {
        tracing::warn!("{why}");
    }
}

/// Whether the director has trackers the tracking round polls (scripts, files, processes;
/// ping trackers have their own schedule, [`super::ping::Pings`]).
fn d_has_polled_trackers(d: &Director) -> bool {
    (0..d.tracker_count()).any(|t| {
        matches!(
            d.tracker_config(TrackerId(t as u32)).map(|c| &c.kind),
            Some(TrackerKind::Script { .. } | TrackerKind::File { .. } | TrackerKind::Process(_))
        )
    })
}

/// keepalived's rule for the IPVS sync daemon of the instance it follows: master while the
/// instance is master, backup otherwise; nothing when it stops (the stop ends the daemons, and
/// starting the backup one first would only make the stop wait for one more kernel thread).
fn daemon_role(state: ha_vrrp_proto::router::State) -> Option<DaemonRole> {
    use ha_vrrp_proto::router::State;
    match state {
        State::Master => Some(DaemonRole::Master),
        State::Backup | State::Fault => Some(DaemonRole::Backup),
        State::Initialize => None,
    }
}

/// The channels to the slow tasks. A send that fails means the task ended: fatal.
struct Senders {
    fx: Option<mpsc::UnboundedSender<Effect>>,
    notify: Option<mpsc::UnboundedSender<Vec<String>>>,
    ipvs: Option<mpsc::UnboundedSender<IpvsWork>>,
    /// The virtual servers the IPVS task knows to be in the kernel as last given.
    ipvs_synced: pools::IpvsSynced,
    health: Option<mpsc::UnboundedSender<pools::HealthReload>>,
    bgp: Option<mpsc::UnboundedSender<BgpWork>>,
    fb: mpsc::UnboundedSender<Feedback>,
}

/// The slow tasks, watched while the node runs.
struct Handles {
    effects: Option<JoinHandle<EffectsReport>>,
    notify: Option<JoinHandle<u64>>,
    ipvs: Option<JoinHandle<()>>,
    health: Option<JoinHandle<()>>,
    bgp: Option<JoinHandle<()>>,
}

/// How a task ended, in words.
fn ended<T>(r: Result<T, tokio::task::JoinError>) -> String {
    match r {
        Ok(_) => "it returned".to_owned(),
        Err(e) if e.is_panic() => "it panicked".to_owned(),
        Err(e) => format!("it was cancelled ({e})"),
    }
}

impl Handles {
    /// The first task to end while the node runs (its handle is taken).
    async fn first_ended(&mut self) -> (&'static str, String) {
        async fn wait<T>(h: &mut Option<JoinHandle<T>>) -> String {
            match h {
                Some(j) => {
                    let r = j.await;
                    *h = None;
                    ended(r)
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            d = wait(&mut self.effects) => ("effects", d),
            d = wait(&mut self.notify) => ("notify", d),
            d = wait(&mut self.ipvs) => ("ipvs", d),
            d = wait(&mut self.health) => ("health", d),
            d = wait(&mut self.bgp) => ("bgp", d),
        }
    }
}

/// The loop's inputs besides the sockets.
struct Inputs {
    shutdown: watch::Receiver<bool>,
    reload: Option<mpsc::UnboundedReceiver<Reload>>,
    admin: Option<mpsc::UnboundedReceiver<AdminRequest>>,
    /// The status readers' requests.
    status: Option<mpsc::UnboundedReceiver<super::status::StatusAsk>>,
    watch: NetWatch,
    fb: mpsc::UnboundedReceiver<Feedback>,
    health: mpsc::UnboundedReceiver<RealServerHealth>,
    /// The BGP task's status: a change makes the next status request build a snapshot.
    bgp_status: watch::Receiver<Option<super::status::BgpStatus>>,
    handles: Handles,
}

/// The next administrative request, or never when there is no channel.
async fn recv_admin(
    rx: &mut Option<mpsc::UnboundedReceiver<AdminRequest>>,
) -> Option<AdminRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next status request, or never when there is no channel.
async fn recv_status(
    rx: &mut Option<mpsc::UnboundedReceiver<super::status::StatusAsk>>,
) -> Option<super::status::StatusAsk> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next reload request, or never when there is no channel.
async fn recv_reload(rx: &mut Option<mpsc::UnboundedReceiver<Reload>>) -> Option<Reload> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until a receiving socket is readable. One socket (the usual node) is waited on
/// directly, without the boxed futures of several, on every wake-up.
async fn readable(socks: &[Sock]) -> Result<(), super::socket::SocketError> {
    let mut rx = socks.iter().filter(|s| !s.send_only);
    match (rx.next(), rx.clone().next()) {
        (None, _) => std::future::pending().await,
        (Some(one), None) => one.sock.readable().await,
        (Some(first), Some(_)) => {
            futures::future::select_all(
                std::iter::once(first)
                    .chain(rx)
                    .map(|s| s.sock.readable().boxed()),
            )
            .await
            .0
        }
    }
}

/// The loop's state.
struct Node {
    d: Director,
    driver: LateDriver<(InstanceId, RxAdvert)>,
    cfg: DirectorConfig,
    plan: Plan,
    /// Interface names to ifindexes, resolved at start.
    ifindex: HashMap<String, u32>,
    names_by_index: HashMap<u32, String>,
    link_up: BTreeMap<String, bool>,
    counters: DirectorCounters,
    buf: Vec<u8>,
    tx_buf: Vec<u8>,
    tasks: Senders,
    /// Fence and step commands running (a stop waits for them, within its grace).
    inflight: usize,
    tracks_running: HashSet<TrackerId>,
    /// Per track script: the class of its current failure (absent: succeeding), so that a
    /// failure is logged once when it starts or changes kind, not on every run.
    script_failing: HashMap<TrackerId, String>,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    /// Something a status shows changed since the last snapshot.
    dirty: bool,
    started: Instant,
    /// Where the last snapshot is left when the node stops (if the status is read).
    status_last: Option<watch::Sender<Option<Arc<Status>>>>,
    /// The last snapshot and when it was built, while it may answer another request (see
    /// [`STATUS_REUSE`]); dropped after that, so that none is kept while nobody reads.
    snapshot: Option<(Instant, Arc<Status>)>,
    ipvs_status: watch::Receiver<IpvsStatus>,
    bgp_status: watch::Receiver<Option<super::status::BgpStatus>>,
    /// A stop that withdrew the BGP routes waits until then before it goes on.
    drain_until: Option<Instant>,
    /// The health targets of each real server (indexes into the configuration's `health`, which
    /// the health task owns), for the status:
    /// made at start and on a reload, not once a second.
    by_member: pools::MemberIndex,
    health_status: watch::Receiver<HealthShared>,
    addrs: Addresses,
    /// A task ended while running: the node stops and returns this.
    fatal: Option<DirectorRunError>,
    /// Stopping: the time by which the stop must be done.
    stop_deadline: Option<Instant>,
    has_trackers: bool,
    /// The ping trackers' echo schedule and answers.
    pings: super::ping::Pings,
    /// The hardware watchdog, fed from this loop.
    watchdog: Option<super::watchdog::Watchdog>,
    /// Per instance name: its last transition and master entries/exits (the status).
    history: HashMap<String, TransitionHistory>,
}

/// What the status shows of an instance's transitions beyond the router's counters.
#[derive(Debug, Clone, Copy, Default)]
struct TransitionHistory {
    last: Option<SystemTime>,
    became_master: u64,
    released_master: u64,
}

impl Node {
    /// The event loop, until the stop is done (or its grace is over).
    async fn run(&mut self, socks: &[Sock], inp: &mut Inputs) {
        let mut snapshot_tick = tokio::time::interval(STATUS_REUSE);
        snapshot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The VRRP timers (Adver_Timer, Master_Down_Timer) with the kernel's precision, not
        // tokio's millisecond one (see runtime::timer).
        let mut vrrp_timer = super::timer::PreciseTimer::new();
        let mut track_tick = tokio::time::interval(self.cfg.track_interval);
        track_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Fed from this loop only: a loop that hangs stops feeding it and the node reboots.
        let mut watchdog_tick = tokio::time::interval(
            self.cfg
                .watchdog
                .as_ref()
                .map_or(Duration::from_secs(3600), |w| w.interval)
                .max(Duration::from_millis(1)),
        );
        watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Realtime only (the embedder made this thread SCHED_FIFO/RR): a standby thread on
        // another CPU wakes this one if its CPU stalls past a deadline (`sched::Standby`).
        let standby =
            super::sched::Standby::start(super::sched::STANDBY_MARGIN).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no standby thread");
                None
            });
        loop {
            self.flush(socks).await;
            if self.fatal.is_some() && self.stop_deadline.is_none() {
                self.begin_stop(socks);
                continue;
            }
            if let Some(deadline) = self.stop_deadline
                && ((self.d.is_idle() && self.inflight == 0) || Instant::now() >= deadline)
            {
                break;
            }
            let timer = self.d.poll_timeout();
            if let Some(s) = &standby {
                s.arm(timer);
            }
            let wake = match (timer, self.stop_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let stopping = self.stop_deadline.is_some();
            let draining = self.drain_until.is_some();
            let watching = self.fatal.is_none();
            tokio::select! {
                biased;
                changed = inp.shutdown.changed(), if !stopping && !draining => {
                    if changed.is_err() || *inp.shutdown.borrow() {
                        self.begin_drain(socks);
                    }
                }
                _ = super::sleep_until(self.drain_until), if draining && !stopping => {
                    tracing::info!("drain time over: stopping");
                    self.begin_stop(socks);
                }
                r = readable(socks) => match r {
                    Ok(()) => self.wake(socks, &mut inp.watch),
                    Err(e) => self.fail_socket(e),
                },
                _ = vrrp_timer.sleep_until(wake) => {
                    if self.takeover_due() {
                        // Let the netlink task read what the kernel said meanwhile: a link
                        // lost during a stall must be known before a takeover through it.
                        tokio::task::yield_now().await;
                    }
                    self.wake(socks, &mut inp.watch);
                }
                fb = inp.fb.recv() => self.on_feedback(socks, fb),
                ev = inp.watch.next() => self.on_net(socks, ev),
                _ = track_tick.tick(), if self.has_trackers && !stopping => self.track_round(),
                _ = super::sleep_until(self.pings.poll_timeout()), if !stopping => {
                    self.ping_round(socks);
                }
                _ = watchdog_tick.tick(), if self.watchdog.is_some() => {
                    if let Some(w) = &mut self.watchdog {
                        w.feed();
                    }
                }
                Some(h) = inp.health.recv() => self.on_health(socks, h),
                Some(ask) = recv_status(&mut inp.status) => {
                    let _ = ask.send(self.snapshot());
                }
                _ = snapshot_tick.tick(), if self.snapshot.is_some() => {
                    if self.snapshot.as_ref().is_some_and(|(at, _)| at.elapsed() >= STATUS_REUSE) {
                        self.snapshot = None;
                    }
                }
                Ok(()) = inp.bgp_status.changed() => self.dirty = true,
                Some(r) = recv_reload(&mut inp.reload), if !stopping => {
                    self.advance(socks);
                    self.on_reload(socks, r).await;
                }
                Some(r) = recv_admin(&mut inp.admin), if !stopping => {
                    let now = self.advance(socks);
                    self.on_admin(now, r);
                }
                (task, detail) = inp.handles.first_ended(), if watching => {
                    self.fail(task, detail);
                }
            }
        }
    }

    /// A wake-up for packets or timers: link losses the kernel already reported first, then
    /// what is queued, then the other link and address changes.
    fn wake(&mut self, socks: &[Sock], watch: &mut NetWatch) {
        let mut later = Vec::new();
        while let Some(ev) = watch.try_next() {
            match ev {
                NetEvent::Link {
                    ifindex, up: false, ..
                } => {
                    // Superseded by this loss.
                    later.retain(
                        |e| !matches!(e, NetEvent::Link { ifindex: i, .. } if *i == ifindex),
                    );
                    if let Some(name) = self.names_by_index.get(&ifindex).cloned()
                        && self.link_up.insert(name.clone(), false) != Some(false)
                    {
                        // A link that is down carried nothing after it went down: the loss is
                        // given at the last time the director was given, before the queued
                        // adverts and the timers (a backup must not take over through a dead
                        // link, nor fence a healthy master).
                        tracing::info!(interface = %name, up = false, "link");
                        let at = self.driver.last();
                        self.d.handle_link(at, &name, false);
                    }
                }
                other => later.push(other),
            }
        }
        let now = self.advance(socks);
        for ev in later {
            self.apply_net(now, ev);
        }
    }

    /// Whether a backup's Master_Down_Timer is due: the next firing may be a takeover.
    fn takeover_due(&self) -> bool {
        let now = Instant::now();
        (0..self.d.instance_count()).any(|i| {
            self.d.router(InstanceId(i as u32)).is_some_and(|r| {
                r.state() == ha_vrrp_proto::router::State::Backup
                    && r.poll_timeout().is_some_and(|t| t <= now)
            })
        })
    }

    /// Reads what is queued and feeds it and the due timers by the late policy; returns the
    /// time for an input that comes next.
    fn advance(&mut self, socks: &[Sock]) -> Instant {
        self.drain(socks);
        self.driver.drive(&mut self.d, Instant::now());
        self.driver.clock(Instant::now())
    }

    /// Reads every packet queued on every receiving socket and queues the valid adverts on
    /// the late driver with their kernel receive time.
    fn drain(&mut self, socks: &[Sock]) {
        // One reading of both clocks converts every kernel timestamp of this batch.
        let (now, wall) = (Instant::now(), SystemTime::now());
        for s in socks.iter().filter(|s| !s.send_only) {
            for _ in 0..MAX_DRAIN {
                let r = match s.sock.try_recv(&mut self.buf) {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        self.fail_socket(e);
                        return;
                    }
                };
                self.counters.received += 1;
                let received_at = now.checked_sub(r.age(wall)).unwrap_or(now);
                let meta = PacketMeta {
                    interface: &s.interface,
                    family: s.family,
                    src: r.src,
                    dst: r.dst,
                    ttl: r.ttl,
                    received_at,
                };
                let bytes = self.buf.get(r.payload.0..r.payload.1).unwrap_or(&[]);
                match self.d.validate_packet(&meta, bytes) {
                    Ok(input) => self.driver.queue(received_at, input),
                    Err(reason) => {
                        if reason != ha_vrrp_proto::DropReason::VridMismatch {
                            tracing::debug!(interface = %s.interface, src = %r.src, %reason, "advert dropped");
                        }
                        // Built only for a listener: no allocation per dropped packet
                        // otherwise (other VRIDs on a shared segment are dropped all the time).
                        if self.events.is_some() {
                            report(
                                &self.events,
                                RuntimeEvent::Dropped {
                                    interface: s.interface.clone(),
                                    reason,
                                    src: r.src,
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    /// Sends the adverts, then hands out the actions, then reports the events.
    async fn flush(&mut self, socks: &[Sock]) {
        while let Some(t) = self.d.poll_transmit(&mut self.tx_buf) {
            let Some(p) = self.plan.instances.get(t.instance.0 as usize) else {
                continue;
            };
            let sock = match t.path.checked_sub(1) {
                None => p.tx,
                Some(k) => match p.paths.get(k) {
                    Some(s) => *s,
                    None => continue,
                },
            };
            match socks[sock].sock.send_to(&self.tx_buf[..t.len], t.dst).await {
                Ok(()) => self.counters.sent += 1,
                Err(e) => {
                    self.counters.send_errors += 1;
                    tracing::warn!(instance = t.instance.0, error = %e, "advert not sent");
                }
            }
        }
        while let Some(action) = self.d.poll_action() {
            self.act(action);
        }
        while let Some(ev) = self.d.poll_event() {
            self.on_event(ev);
        }
    }

    /// Logs and reports a director event; the IPVS sync daemon follows its instance's role.
    fn on_event(&mut self, ev: DirectorEvent) {
        tracing::info!(event = ?ev, "director");
        if let DirectorEvent::PathChanged {
            instance,
            interface,
            alive,
            ..
        } = &ev
        {
            let name = self
                .d
                .instance_config(*instance)
                .map_or("", |c| c.name.as_str());
            if *alive {
                tracing::info!(instance = name, interface = %interface, "advert path alive again");
            } else {
                tracing::warn!(instance = name, interface = %interface, "advert path silent: no advert on it while another path hears them (a broken redundant link)");
            }
        }
        self.dirty = true;
        if let DirectorEvent::Transition {
            instance, from, to, ..
        } = &ev
            && let Some(c) = self.d.instance_config(*instance)
        {
            use ha_vrrp_proto::router::State;
            let mut h = self.history.get(&c.name).copied().unwrap_or_default();
            h.last = Some(SystemTime::now());
            h.became_master += u64::from(*to == State::Master);
            h.released_master += u64::from(*from == State::Master);
            // The name is copied only on an instance's first transition.
            match self.history.get_mut(&c.name) {
                Some(slot) => *slot = h,
                None => {
                    self.history.insert(c.name.clone(), h);
                }
            }
        }
        if let DirectorEvent::PoolQuorum { server, up } = &ev
            && self
                .cfg
                .bgp
                .as_ref()
                .is_some_and(|b| b.routes.iter().any(|r| r.0 == *server))
        {
            self.send_bgp(BgpWork::Quorum {
                server: *server,
                up: *up,
            });
        }
        if let DirectorEvent::Transition { instance, to, .. } = &ev
            && let Some(n) = self.cfg.sync_instance()
            && self
                .d
                .instance_config(*instance)
                .is_some_and(|c| c.name == n)
            && let Some(role) = daemon_role(*to)
        {
            self.send_ipvs(IpvsWork::Daemon(role));
        }
        report(&self.events, RuntimeEvent::Director(ev));
    }

    /// Starts the graceful stop: every instance shuts down (priority 0 from masters, VIPs
    /// released, steps stopped), and the stop must be over by `shutdown_grace` from now.
    fn begin_stop(&mut self, socks: &[Sock]) {
        // The routes go first (unless a drain withdrew them already): the router moves the
        // flows away while the rest stops.
        if self.drain_until.take().is_none() {
            self.send_bgp(BgpWork::WithdrawAll);
        }
        let now = self.advance(socks);
        self.d.shutdown(now);
        self.stop_deadline = Some(Instant::now() + self.cfg.shutdown_grace);
        tracing::info!(grace = ?self.cfg.shutdown_grace, "director stopping");
        // IPVS goes at once, in parallel with the rest: removing the services and stopping the
        // sync daemon's kernel threads is the slowest part of a stop. Later pool changes are
        // only logged.
        let keys: Vec<_> = (0..self.d.pool_count())
            .flat_map(|p| self.d.installed_services(VirtualServerId(p as u32)))
            .collect();
        self.send_ipvs(IpvsWork::Stop(keys));
        self.tasks.ipvs = None;
    }

    /// A task of the runtime ended while running: stop, and return the error.
    fn fail(&mut self, task: &'static str, detail: String) {
        tracing::error!(task, %detail, "a runtime task ended: stopping the director");
        if self.fatal.is_none() {
            self.fatal = Some(DirectorRunError::TaskEnded { task, detail });
        }
    }

    fn fail_socket(&mut self, e: super::socket::SocketError) {
        tracing::error!(error = %e, "VRRP socket failed: stopping the director");
        if self.fatal.is_none() {
            self.fatal = Some(DirectorRunError::Socket(e));
        }
    }

    /// Sends to the effects task; a closed channel is fatal.
    fn send_fx(&mut self, e: Effect) {
        let closed = match &self.tasks.fx {
            Some(tx) => tx.send(e).is_err(),
            None => true,
        };
        if closed {
            self.fail("effects", "its channel closed with work queued".into());
        }
    }

    /// Sends to the BGP task if routes are announced; a closed channel is fatal.
    fn send_bgp(&mut self, w: BgpWork) {
        if let Some(tx) = &self.tasks.bgp
            && tx.send(w).is_err()
        {
            self.fail("bgp", "its channel closed with work queued".into());
        }
    }

    /// A stop's first step when routes are announced by BGP: withdraw them all, and keep
    /// serving for the drain time before the rest of the stop (the router moves the flows
    /// away first).
    fn begin_drain(&mut self, socks: &[Sock]) {
        let drain = self.cfg.bgp.as_ref().map_or(Duration::ZERO, |b| b.drain);
        if drain.is_zero() {
            self.begin_stop(socks);
        } else {
            self.send_bgp(BgpWork::WithdrawAll);
            tracing::info!(?drain, "BGP routes withdrawn: draining before the stop");
            self.drain_until = Some(Instant::now() + drain);
        }
    }

    /// Sends to the IPVS task if IPVS is driven; a closed channel is fatal.
    fn send_ipvs(&mut self, w: IpvsWork) {
        if let Some(tx) = &self.tasks.ipvs
            && tx.send(w).is_err()
        {
            self.fail("ipvs", "its channel closed with work queued".into());
        }
    }

    fn on_feedback(&mut self, socks: &[Sock], fb: Option<Feedback>) {
        // The loop holds a sender itself: the channel never closes while it runs.
        let Some(fb) = fb else { return };
        if let Feedback::IpvsResync(server) = fb {
            let desired = self.d.desired_services_of(server);
            self.send_ipvs(IpvsWork::Resync { server, desired });
            return;
        }
        if !matches!(fb, Feedback::Track { .. } | Feedback::Echo { .. }) {
            self.inflight = self.inflight.saturating_sub(1);
        }
        let now = self.advance(socks);
        let r = match fb {
            Feedback::Fence {
                instance,
                attempt,
                ok,
            } => self.d.handle_fence_result(now, instance, attempt, ok),
            Feedback::Step {
                instance,
                token,
                ok,
            } => self.d.handle_step_result(now, instance, token, ok),
            Feedback::Track {
                tracker,
                result,
                failure,
            } => {
                self.tracks_running.remove(&tracker);
                self.report_script(tracker, failure);
                self.d.handle_track_result(now, tracker, result)
            }
            Feedback::Echo { echo, answered } => match self.pings.answer(now, &echo, answered) {
                Some((tracker, result)) => self.d.handle_track_result(now, tracker, result),
                None => Ok(()),
            },
            // Answered above.
            Feedback::IpvsResync(_) => Ok(()),
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "a command's result was not taken");
        }
    }

    fn on_net(&mut self, socks: &[Sock], ev: Option<NetEvent>) {
        let now = self.advance(socks);
        match ev {
            Some(ev) => self.apply_net(now, ev),
            None => {
                tracing::error!("the netlink link watch closed: stopping the director");
                if self.fatal.is_none() {
                    self.fatal = Some(DirectorRunError::Netlink {
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
    }

    /// A link or address change, at `now`.
    fn apply_net(&mut self, now: Instant, ev: NetEvent) {
        match ev {
            NetEvent::Link { ifindex, up, .. } => {
                if let Some(name) = self.names_by_index.get(&ifindex)
                    && self.link_up.insert(name.clone(), up) != Some(up)
                {
                    tracing::info!(interface = %name, up, "link");
                    self.d.handle_link(now, name, up);
                }
            }
            NetEvent::AddressRemoved(v) => self.send_fx(Effect::Gone(v)),
            NetEvent::AddressAdded(_) | NetEvent::LinkGone { .. } => {}
        }
    }

    fn on_health(&mut self, socks: &[Sock], h: RealServerHealth) {
        let now = self.advance(socks);
        if let Some(w) = h.weight
            && let Err(e) = self.d.handle_real_server_weight(now, h.server, h.index, w)
        {
            tracing::warn!(error = %e, "real server weight not taken");
        }
        if let Err(e) = self.d.handle_real_server(now, h.server, h.index, h.alive) {
            tracing::warn!(error = %e, "real server health not taken");
        }
    }

    /// A snapshot for a status reader: the last one while it is younger than
    /// [`STATUS_REUSE`] and nothing changed by event since, otherwise a new one.
    fn snapshot(&mut self) -> Arc<Status> {
        if !self.dirty
            && let Some((at, s)) = &self.snapshot
            && at.elapsed() < STATUS_REUSE
        {
            return Arc::clone(s);
        }
        self.dirty = false;
        let s = Arc::new(self.status());
        self.snapshot = Some((Instant::now(), Arc::clone(&s)));
        s
    }

    /// The counters, with the drops and lateness of the core and the late policy.
    fn counters(&self) -> DirectorCounters {
        let mut c = self.counters;
        c.dropped = self.drops().total();
        c.late = *self.driver.stats();
        c
    }

    /// Every drop of the node.
    fn drops(&self) -> DropCounts {
        let mut all = *self.d.unmatched_drops();
        for i in 0..self.d.instance_count() {
            all.add(&self.d.drops(InstanceId(i as u32)));
        }
        all
    }

    /// Hands one action to the task that carries it out.
    fn act(&mut self, action: DirectorAction) {
        match action {
            DirectorAction::AddVips { instance, vips } => {
                let v = self.vips(instance, &vips);
                self.send_fx(Effect::Add(instance, v));
            }
            DirectorAction::RemoveVips { instance, vips } => {
                let v = self.vips(instance, &vips);
                self.send_fx(Effect::Remove(instance, v));
            }
            DirectorAction::AddRoutes { instance, .. } => {
                let routes = self.routes(instance);
                self.send_fx(Effect::Routes { add: true, routes });
                let rules = self.rules(instance);
                if !rules.is_empty() {
                    self.send_fx(Effect::Rules { add: true, rules });
                }
            }
            DirectorAction::RemoveRoutes { instance, .. } => {
                let rules = self.rules(instance);
                if !rules.is_empty() {
                    self.send_fx(Effect::Rules { add: false, rules });
                }
                let routes = self.routes(instance);
                self.send_fx(Effect::Routes { add: false, routes });
            }
            DirectorAction::Announce {
                instance,
                addresses,
            } => {
                let per_if = self.announce_plan(instance, addresses);
                let config = self
                    .d
                    .instance_config(instance)
                    .and_then(|c| self.cfg.instances.get(&c.name))
                    .and_then(|o| o.announce)
                    .unwrap_or(self.cfg.announce);
                self.send_fx(Effect::Announce(instance, per_if, config, false));
            }
            DirectorAction::AnnounceLowerPriority {
                instance,
                addresses,
            } => {
                let config = self
                    .d
                    .instance_config(instance)
                    .and_then(|c| self.cfg.instances.get(&c.name))
                    .and_then(|o| o.announce_lower_priority);
                if let Some(config) = config {
                    let per_if = self.announce_plan(instance, addresses);
                    self.send_fx(Effect::Announce(instance, per_if, config, true));
                }
            }
            DirectorAction::Fence { instance, attempt } => self.fence(instance, attempt),
            DirectorAction::RunStep {
                instance,
                op,
                step,
                token,
                ..
            } => self.run_step(instance, op, step, token),
            DirectorAction::Ipvs { server, ops } => match &self.tasks.ipvs {
                Some(_) => {
                    let in_sync = self.tasks.ipvs_synced.contains(server);
                    let desired = (!in_sync).then(|| self.d.desired_services_of(server));
                    self.send_ipvs(IpvsWork::Apply {
                        server,
                        ops,
                        desired,
                    });
                }
                None if self.stop_deadline.is_some() => tracing::debug!(
                    server = server.0,
                    ops = ?ops,
                    "stopping: IPVS operations not applied"
                ),
                None => tracing::info!(
                    server = server.0,
                    ops = ?ops,
                    "IPVS is not driven by this node: operations logged only"
                ),
            },
            DirectorAction::Notify { argv } => {
                let closed = match &self.tasks.notify {
                    Some(tx) => tx.send(argv).is_err(),
                    None => true,
                };
                if closed {
                    self.fail("notify", "its channel closed with scripts queued".into());
                }
            }
        }
    }

    /// The kernel addresses of an instance's VIPs.
    fn vips(&self, instance: InstanceId, vips: &[crate::core::VipSpec]) -> Vec<Vip> {
        let i = instance.0 as usize;
        let Some(c) = self.d.instance_config(instance) else {
            return Vec::new();
        };
        vips.iter()
            .filter_map(|v| {
                let dev = self.plan.vip_dev(i, &c.interface, v);
                let ifindex = self.ifindex.get(dev).copied();
                if ifindex.is_none() {
                    tracing::error!(instance = %c.name, vip = %v.addr, dev, "VIP device unknown");
                }
                Some(Vip {
                    ifindex: ifindex?,
                    addr: v.addr,
                    prefix: v.prefix,
                })
            })
            .collect()
    }

    /// The netlink messages of an instance's virtual rules.
    fn rules(
        &self,
        instance: InstanceId,
    ) -> Vec<(netlink_packet_route::rule::RuleMessage, String)> {
        self.plan
            .instances
            .get(instance.0 as usize)
            .map(|p| {
                p.rules
                    .iter()
                    .map(|r| (r.message(), format!("{r:?}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The netlink messages of an instance's virtual routes.
    fn routes(&self, instance: InstanceId) -> Vec<Route> {
        let Some(p) = self.plan.instances.get(instance.0 as usize) else {
            return Vec::new();
        };
        p.routes
            .iter()
            .filter_map(|r| {
                let ifindex = r.dev.as_ref().and_then(|d| self.ifindex.get(d).copied());
                match r.message(ifindex) {
                    Ok(msg) => Some(Route {
                        msg,
                        what: format!("{}/{}", r.dst.0, r.dst.1),
                    }),
                    Err(e) => {
                        tracing::error!(route = ?r, error = %e, "virtual route not programmable");
                        None
                    }
                }
            })
            .collect()
    }

    /// The addresses to announce, per device ifindex.
    fn announce_plan(
        &self,
        instance: InstanceId,
        addresses: Vec<IpAddr>,
    ) -> Vec<(u32, Vec<IpAddr>)> {
        let i = instance.0 as usize;
        let Some(c) = self.d.instance_config(instance) else {
            return Vec::new();
        };
        let mut per_if: Vec<(u32, Vec<IpAddr>)> = Vec::new();
        for a in addresses {
            let dev = match c.vips.iter().chain(&c.excluded_vips).find(|v| v.addr == a) {
                Some(v) => self.plan.vip_dev(i, &c.interface, v),
                None => self
                    .plan
                    .instances
                    .get(i)
                    .map_or(c.interface.as_str(), |p| p.vip_dev.as_str()),
            };
            let Some(&idx) = self.ifindex.get(dev) else {
                continue;
            };
            match per_if.iter_mut().find(|(x, _)| *x == idx) {
                Some((_, list)) => list.push(a),
                None => per_if.push((idx, vec![a])),
            }
        }
        per_if
    }

    fn fence(&mut self, instance: InstanceId, attempt: crate::core::FenceAttempt) {
        let opts = self
            .d
            .instance_config(instance)
            .and_then(|c| self.cfg.instances.get(&c.name));
        let argv = opts.and_then(|o| o.fence.clone()).unwrap_or_default();
        let (timeout, user, tx) = (
            opts.and_then(|o| o.fence_timeout)
                .unwrap_or(self.cfg.command_timeout),
            self.cfg.script_user,
            self.tasks.fb.clone(),
        );
        self.inflight += 1;
        self.counters.fences += 1;
        self.send_fx(Effect::Spawn(Box::pin(async move {
            let ok = exec::succeeds_as("fence", &argv, timeout, user).await;
            feed_back(
                &tx,
                Feedback::Fence {
                    instance,
                    attempt,
                    ok,
                },
            );
        })));
    }

    fn run_step(
        &mut self,
        instance: InstanceId,
        op: StepOp,
        step: crate::core::Step,
        token: crate::core::StepToken,
    ) {
        let word = match op {
            StepOp::Start => "start",
            StepOp::Stop => "stop",
        };
        let step_timeout = step.timeout;
        let argv = match step.kind {
            StepKind::Address(spec) => return self.address_step(instance, op, spec, token),
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
        let (timeout, user, tx) = (
            step_timeout.unwrap_or(self.cfg.command_timeout),
            self.cfg.script_user,
            self.tasks.fb.clone(),
        );
        self.inflight += 1;
        self.counters.steps += 1;
        self.send_fx(Effect::Spawn(Box::pin(async move {
            let ok = exec::succeeds_as(word, &argv, timeout, user).await;
            feed_back(
                &tx,
                Feedback::Step {
                    instance,
                    token,
                    ok,
                },
            );
        })));
    }

    /// An address step: added and announced on start, removed on stop, through the same
    /// effects as the VIPs (so in order with them); its result comes back once they are done.
    /// An address whose device the node does not know fails the step.
    fn address_step(
        &mut self,
        instance: InstanceId,
        op: StepOp,
        spec: crate::core::VipSpec,
        token: crate::core::StepToken,
    ) {
        let v = self.vips(instance, std::slice::from_ref(&spec));
        let ok = !v.is_empty();
        if let Some(ifindex) = v.first().map(|a| a.ifindex) {
            match op {
                StepOp::Start => {
                    self.send_fx(Effect::Add(instance, v));
                    let config = self
                        .d
                        .instance_config(instance)
                        .and_then(|c| self.cfg.instances.get(&c.name))
                        .and_then(|o| o.announce)
                        .unwrap_or(self.cfg.announce);
                    self.send_fx(Effect::Announce(
                        instance,
                        vec![(ifindex, vec![spec.addr])],
                        config,
                        false,
                    ));
                }
                StepOp::Stop => self.send_fx(Effect::Remove(instance, v)),
            }
        }
        self.inflight += 1;
        self.counters.steps += 1;
        let tx = self.tasks.fb.clone();
        self.send_fx(Effect::Spawn(Box::pin(async move {
            feed_back(
                &tx,
                Feedback::Step {
                    instance,
                    token,
                    ok,
                },
            );
        })));
    }

    /// Logs a track script's failure when it starts or changes kind (at warn, with the exit
    /// code or error and the first line of its standard error) and when it ends (at info);
    /// counts the runs that did not run to their end.
    fn report_script(&mut self, tracker: TrackerId, failure: Option<ScriptFailure>) {
        let name = self
            .d
            .tracker_config(tracker)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        match failure {
            Some(f) => {
                self.counters.track_failures += 1;
                if f.error {
                    self.counters.script_errors += 1;
                }
                if self.script_failing.get(&tracker) != Some(&f.class) {
                    tracing::warn!(tracker = %name, reason = %f.reason, "track script failing");
                    self.script_failing.insert(tracker, f.class);
                }
            }
            None => {
                if self.script_failing.remove(&tracker).is_some() {
                    tracing::info!(tracker = %name, "track script succeeds again");
                }
            }
        }
    }

    /// Starts a round of tracking: every polled tracker not still running reads its file or
    /// runs its script, off the loop; the results come back as feedback.
    fn track_round(&mut self) {
        for t in 0..self.d.tracker_count() {
            let id = TrackerId(t as u32);
            let Some(kind) = self.d.tracker_config(id).map(|c| c.kind.clone()) else {
                continue;
            };
            if matches!(
                kind,
                TrackerKind::Interface { .. } | TrackerKind::Pool { .. } | TrackerKind::Ping { .. }
            ) {
                continue;
            }
            if !self.tracks_running.insert(id) {
                continue;
            }
            self.counters.track_checks += 1;
            let (timeout, user, tx) = (
                self.cfg.track_timeout,
                self.cfg.script_user,
                self.tasks.fb.clone(),
            );
            self.send_fx(Effect::Spawn(Box::pin(async move {
                let (result, failure) = match kind {
                    TrackerKind::File { path } => (
                        TrackResult::Value(effects::read_track_file(&path).await),
                        None,
                    ),
                    TrackerKind::Script { argv } => {
                        effects::run_track_script(&argv, timeout, user).await
                    }
                    TrackerKind::Process(spec) => (
                        TrackResult::Processes(effects::count_processes(spec).await),
                        None,
                    ),
                    TrackerKind::Interface { .. }
                    | TrackerKind::Pool { .. }
                    | TrackerKind::Ping { .. } => return,
                };
                feed_back(
                    &tx,
                    Feedback::Track {
                        tracker: id,
                        result,
                        failure,
                    },
                );
            })));
        }
    }

    /// The ping trackers that are due: their results (up while an address answered within
    /// their dead time) to the core, their echoes off the loop (answers come back as
    /// [`Feedback::Echo`]).
    fn ping_round(&mut self, socks: &[Sock]) {
        let now = self.advance(socks);
        let (echoes, results) = self.pings.due(now);
        for (tracker, result) in results {
            if let Err(e) = self.d.handle_track_result(now, tracker, result) {
                tracing::warn!(error = %e, "ping tracker result not taken");
            }
        }
        for e in echoes {
            self.counters.track_checks += 1;
            let tx = self.tasks.fb.clone();
            self.send_fx(Effect::Spawn(Box::pin(async move {
                let answered = super::ping::echo(e.addr, e.timeout).await;
                feed_back(&tx, Feedback::Echo { echo: e, answered });
            })));
        }
        self.dirty = true;
    }

    /// Sets the administrative mode of the instance named in `r` (or of every instance) and
    /// answers `r.done`. All or nothing: a request one instance refuses changes none.
    fn on_admin(&mut self, now: Instant, r: AdminRequest) {
        let targets: Vec<InstanceId> = (0..self.d.instance_count())
            .map(|i| InstanceId(i as u32))
            .filter(|id| {
                r.instance
                    .as_deref()
                    .is_none_or(|n| self.d.instance_config(*id).is_some_and(|c| c.name == n))
            })
            .collect();
        let name = |d: &Director, id: InstanceId| {
            d.instance_config(id)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        let result = match &r.instance {
            Some(n) if targets.is_empty() => Err(AdminError::UnknownInstance(n.clone())),
            _ => {
                let refused: Vec<String> = targets
                    .iter()
                    .filter(|id| {
                        r.mode == crate::core::AdminMode::Standby
                            && self
                                .d
                                .router(**id)
                                .is_some_and(|x| x.config().address_owner)
                    })
                    .map(|id| name(&self.d, *id))
                    .collect();
                if refused.is_empty() {
                    let mut set = Vec::new();
                    let mut err = None;
                    for id in &targets {
                        match self.d.set_admin(now, *id, r.mode) {
                            Ok(()) => set.push(name(&self.d, *id)),
                            Err(e) => err = Some(AdminError::Refused(e.to_string())),
                        }
                    }
                    err.map_or(Ok(set), Err)
                } else {
                    Err(AdminError::Refused(format!(
                        "{} own their addresses (priority 255): they cannot be put in standby",
                        refused.join(", ")
                    )))
                }
            }
        };
        match &result {
            Ok(set) => {
                tracing::info!(mode = r.mode.as_str(), instances = ?set, "administrative mode set")
            }
            Err(e) => {
                tracing::warn!(mode = r.mode.as_str(), error = %e, "administrative request refused")
            }
        }
        self.dirty = true;
        if r.done.send(result).is_err() {
            tracing::debug!("the administrative request's sender went away before the answer");
        }
    }

    /// Switches to `r.config` in place and answers `r.done`.
    async fn on_reload(&mut self, socks: &[Sock], r: Reload) {
        let result = self.reload(socks, r.config).await;
        match &result {
            Ok(report) => tracing::info!(?report, "configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "reload refused: the running configuration is kept")
            }
        }
        self.dirty = true;
        if r.done.send(result).is_err() {
            tracing::debug!("the reload's requester went away before the answer");
        }
    }

    /// Switches to `new` in place (see [`Director::reconfigure_begin`]): unchanged instances
    /// are not touched, a changed one sends priority 0 with its old settings and starts
    /// afresh, health checks and virtual servers keep the state of what did not change. What
    /// the runtime set up at start (interfaces, sockets, vmacs, routes' devices, IPVS) must be
    /// the same.
    async fn reload(
        &mut self,
        socks: &[Sock],
        mut new: DirectorConfig,
    ) -> Result<ReloadReport, DirectorRunError> {
        let plan = super::plan::plan(&new.director, &new.instances, new.sync_instance())?;
        let restart = |detail: &str| DirectorRunError::Instance {
            instance: String::new(),
            detail: format!("{detail}: needs a restart"),
        };
        // The BGP task runs the sessions and routes it was started with.
        if new.bgp != self.cfg.bgp {
            return Err(restart(
                "the [bgp] section or the virtual servers it announces changed",
            ));
        }
        if plan
            .interfaces
            .iter()
            .any(|i| !self.ifindex.contains_key(i))
        {
            return Err(restart("an interface that was not used at start"));
        }
        if plan.sockets != self.plan.sockets || plan.vmacs != self.plan.vmacs {
            return Err(restart("the VRRP sockets or virtual MACs changed"));
        }
        if new.ipvs != self.cfg.ipvs {
            return Err(restart(
                "the IPVS settings (sync daemon, removal on stop) changed",
            ));
        }
        if new.statics != self.cfg.statics {
            return Err(restart(
                "the static addresses, routes or rules (set at start) changed",
            ));
        }
        if new.watchdog != self.cfg.watchdog {
            return Err(restart("the watchdog (opened at start) changed"));
        }
        if new.announce_pacing != self.cfg.announce_pacing {
            return Err(restart(
                "the announcement pacing (garp_interval / gna_interval) changed",
            ));
        }
        // The sockets joined the groups and set the unicast TTL at start.
        let socket_settings = |cfg: &DirectorConfig| -> Vec<(String, Option<IpAddr>, Option<u8>)> {
            cfg.director
                .instances()
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.router.multicast_group,
                        cfg.options(&c.name).unicast_ttl,
                    )
                })
                .collect()
        };
        let (old_s, new_s) = (socket_settings(&self.cfg), socket_settings(&new));
        if new_s
            .iter()
            .any(|n| old_s.iter().any(|o| o.0 == n.0 && o != n))
        {
            return Err(restart(
                "an instance's multicast group or unicast TTL (socket settings) changed",
            ));
        }
        // The advert paths' sockets joined their groups at start too.
        let path_groups = |cfg: &DirectorConfig| -> Vec<(String, Vec<Option<IpAddr>>)> {
            cfg.director
                .instances()
                .iter()
                .map(|c| {
                    let groups = c.paths.iter().map(|p| p.multicast_group).collect();
                    (c.name.clone(), groups)
                })
                .collect()
        };
        let (old_g, new_g) = (path_groups(&self.cfg), path_groups(&new));
        if new_g
            .iter()
            .any(|n| old_g.iter().any(|o| o.0 == n.0 && o != n))
        {
            return Err(restart(
                "an instance's advert path multicast groups changed",
            ));
        }
        let now = self.driver.clock(Instant::now());
        let next = new.director.build_keeping_instances(now)?;
        let force: Vec<InstanceId> = (0..next.instance_count())
            .map(|i| InstanceId(i as u32))
            .filter(|id| {
                next.instance_config(*id)
                    .is_some_and(|c| self.cfg.options(&c.name).fence != new.options(&c.name).fence)
            })
            .collect();
        let changed = self
            .d
            .reconfigure_begin(now, &next, &force)
            .map_err(DirectorRunError::Reconfigure)?;
        // The changed instances' last adverts go out with their old settings.
        self.flush(socks).await;
        let done = self.d.reconfigure_finish(now, next, &changed);
        if !done.removed_services.is_empty() {
            self.send_ipvs(IpvsWork::Delete(done.removed_services.clone()));
        }
        self.plan = plan;
        self.cfg = new;
        self.by_member = pools::MemberIndex::new(&self.cfg.health);
        // The health task owns the targets (see `run_with`).
        let targets = std::mem::take(&mut self.cfg.health);
        self.has_trackers = d_has_polled_trackers(&self.d);
        self.pings = super::ping::Pings::new(&self.d, now, Some(&self.pings));
        let checks = match &self.tasks.health {
            Some(tx) => {
                let (reply, answer) = oneshot::channel();
                if tx.send((targets, reply)).is_err() {
                    self.fail("health", "its channel closed".into());
                    Default::default()
                } else {
                    match answer.await {
                        Ok(stats) => stats,
                        Err(_) => {
                            self.fail("health", "it ended during a reload".into());
                            Default::default()
                        }
                    }
                }
            }
            None => Default::default(),
        };
        Ok(ReloadReport {
            kept: done.kept,
            recreated: done.recreated,
            reprioritized: done.reprioritized,
            checks,
            virtual_servers_changed: done.virtual_servers_changed,
        })
    }

    /// A snapshot of everything a status shows.
    fn status(&self) -> Status {
        let instances = (0..self.d.instance_count())
            .filter_map(|i| self.instance_status(InstanceId(i as u32)))
            .collect();
        let health = self.health_status.borrow();
        // Through the index (walking every check for every real server was 10^8 steps at
        // 10,000 real servers, once a second on this loop).
        let by_member = &self.by_member;
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
                        checks: by_member
                            .get(server, index)
                            .iter()
                            .filter_map(|&j| health.checks.get(j as usize).cloned())
                            .collect(),
                    })
                    .collect();
                Some(PoolStatus {
                    name: c.name.clone(),
                    service: c
                        .keys()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    quorum_up: self.d.pool_quorum(server).unwrap_or(false),
                    members,
                    sorry_active: c.sorry_server.is_some()
                        && !self.d.pool_quorum(server).unwrap_or(false),
                })
            })
            .collect();
        Status {
            taken: SystemTime::now(),
            uptime: self.started.elapsed(),
            instances,
            pools,
            counters: self.counters(),
            drops: drop_list(&self.drops(), true),
            ipvs: self.ipvs_status.borrow().clone(),
            checks: health.counters,
            pings: self.pings.status(Instant::now()),
            watchdog: self.watchdog.as_ref().map(|w| w.status()),
            bgp: self.bgp_status.borrow().clone(),
        }
    }

    fn instance_status(&self, id: InstanceId) -> Option<InstanceStatus> {
        use ha_vrrp_proto::router::State;
        let c = self.d.instance_config(id)?;
        let r = self.d.router(id)?;
        let state = r.state();
        let k = r.counters();
        let history = self.history.get(&c.name).copied().unwrap_or_default();
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
            drops: drop_list(&self.d.drops(id), false),
            paths: if c.paths.is_empty() {
                Vec::new()
            } else {
                let now = Instant::now();
                self.d
                    .paths(id)
                    .iter()
                    .enumerate()
                    .map(|(k, p)| AdvertPathStatus {
                        interface: match k.checked_sub(1) {
                            None => c.interface.clone(),
                            Some(k) => c
                                .paths
                                .get(k)
                                .map_or_else(String::new, |p| p.interface.clone()),
                        },
                        adverts_received: p.adverts_received,
                        last_heard_ago: p.last_heard.map(|t| now.saturating_duration_since(t)),
                        silent: p.silent,
                    })
                    .collect()
            },
            admin: self.d.admin(id).map_or("auto", |a| a.0.as_str()),
            admin_reason: self.d.admin(id).and_then(|a| a.1).map(|r| r.as_str()),
            late_adverts: self.d.late_adverts(id),
            last_transition: history.last,
            became_master: history.became_master,
            released_master: history.released_master,
        })
    }

    /// The end of the stop, bounded by the stop deadline: the effects task finishes what is
    /// queued (VIP and route removal, step commands), the IPVS task removes the virtual
    /// servers and stops the sync daemon, the notify task runs the `STOP` scripts; then the
    /// vmacs go. A fatal error is returned after all of this.
    async fn finish(
        mut self,
        socks: &[Sock],
        handles: Handles,
        vmacs: Vec<Vmac>,
        statics: super::statics::Installed,
    ) -> Result<DirectorCounters, DirectorRunError> {
        if self.stop_deadline.is_none() {
            self.begin_stop(socks);
            self.flush(socks).await;
        }
        // Fed once more: the rest of the stop is bounded by its grace.
        if let Some(w) = &mut self.watchdog {
            w.feed();
        }
        let deadline = self.stop_deadline.unwrap_or_else(Instant::now);
        let asked = deadline
            .checked_sub(self.cfg.shutdown_grace)
            .unwrap_or(deadline);
        let phase = |what: &str| {
            tracing::info!(phase = what, since_stop = ?asked.elapsed(), "stopping");
        };
        phase("adverts sent, steps stopped");
        // Closing the channels lets each task finish its queue and end.
        self.tasks.fx = None;
        self.tasks.notify = None;
        self.tasks.ipvs = None;
        self.tasks.health = None;
        self.tasks.bgp = None;
        // The last status, everything stopped: left for the readers who ask from now on.
        if let Some(last) = self.status_last.take() {
            last.send_replace(Some(Arc::new(self.status())));
        }
        let Handles {
            effects,
            notify,
            ipvs,
            health,
            bgp,
        } = handles;
        if let Some(h) = health {
            h.abort();
        }
        let at = tokio::time::Instant::from_std(deadline);
        if let Some(h) = bgp {
            // Each session sends its Cease (each bounded inside the task too).
            if tokio::time::timeout_at(at, h).await.is_err() {
                tracing::error!(grace = ?self.cfg.shutdown_grace, "the BGP sessions did not stop within the stop grace");
            }
            phase("BGP sessions stopped");
        }
        let mut effects_done = false;
        if let Some(h) = effects {
            match tokio::time::timeout_at(at, h).await {
                Ok(Ok(r)) => {
                    self.counters.announced = r.announced;
                    effects_done = true;
                }
                Ok(Err(e)) => tracing::error!(error = %e, "the effects task failed"),
                Err(_) => tracing::error!(
                    grace = ?self.cfg.shutdown_grace,
                    "VIP removal not done within the stop grace"
                ),
            }
        }
        super::statics::remove(&self.addrs, statics).await;
        phase("VIPs and routes removed");
        if !effects_done {
            // The safety net: nothing of ours stays on the host (every VIP we add is marked).
            match self.addrs.remove_stale().await {
                Ok(v) if !v.is_empty() => {
                    tracing::warn!(vips = ?v, "VIPs removed directly at stop")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "removing VIPs at stop"),
            }
        }
        if let Some(mut h) = ipvs
            && tokio::time::timeout_at(at, &mut h).await.is_err()
        {
            tracing::error!(
                grace = ?self.cfg.shutdown_grace,
                "IPVS removal or sync daemon stop not done within the stop grace: abandoned"
            );
            h.abort();
        }
        phase("IPVS done");
        // The VIPs on the virtual MACs are gone: remove the interfaces.
        for v in vmacs {
            if let Err(e) = v.remove() {
                tracing::warn!(error = %e, "removing a virtual MAC interface");
            }
        }
        if let Some(mut h) = notify {
            match tokio::time::timeout_at(at, &mut h).await {
                Ok(Ok(count)) => self.counters.notified = count,
                Ok(Err(e)) => tracing::error!(error = %e, "the notify task failed"),
                Err(_) => {
                    tracing::error!(
                        grace = ?self.cfg.shutdown_grace,
                        "notify scripts still running at the end of the stop grace: killed"
                    );
                    h.abort();
                }
            }
        }
        phase("notify scripts done");
        let counters = self.counters();
        let late = Instant::now().saturating_duration_since(deadline);
        if !late.is_zero() {
            tracing::warn!(?late, "the stop took longer than its grace");
        }
        tracing::info!(?counters, "director stopped");
        // The last thing of a graceful stop: a stop that hung before here reboots the node.
        if let Some(w) = self.watchdog.take() {
            w.close();
        }
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(counters),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_vrrp_proto::router::State;

    /// A slow task that ends while the node runs is found and named with how it ended (what
    /// becomes `DirectorRunError::TaskEnded`); the others are still watched.
    #[test]
    fn a_runtime_task_that_ends_is_named_with_how_it_ended() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let effects = tokio::spawn(async {
                if std::hint::black_box(true) {
                    panic!("the effects task fails");
                }
                EffectsReport::default()
            });
            let notify = tokio::spawn(std::future::pending::<u64>());
            let abort = notify.abort_handle();
            let mut h = Handles {
                effects: Some(effects),
                notify: Some(notify),
                ipvs: None,
                health: Some(tokio::spawn(std::future::pending::<()>())),
                bgp: None,
            };
            assert_eq!(h.first_ended().await, ("effects", "it panicked".to_owned()));
            // A BGP task that returns (a BFD session it could not start) is an end too.
            h.bgp = Some(tokio::spawn(async {}));
            assert_eq!(h.first_ended().await, ("bgp", "it returned".to_owned()));
            assert!(h.effects.is_none() && h.notify.is_some() && h.health.is_some());
            abort.abort();
            let (task, how) = h.first_ended().await;
            assert_eq!(task, "notify");
            assert!(how.starts_with("it was cancelled"), "{how}");
        });
    }

    #[test]
    fn the_sync_daemon_follows_the_role_and_is_left_alone_on_stop() {
        assert_eq!(daemon_role(State::Master), Some(DaemonRole::Master));
        assert_eq!(daemon_role(State::Backup), Some(DaemonRole::Backup));
        assert_eq!(daemon_role(State::Fault), Some(DaemonRole::Backup));
        assert_eq!(daemon_role(State::Initialize), None);
    }
}
