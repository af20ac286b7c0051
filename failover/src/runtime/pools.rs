//! The virtual servers' IO for [`super::director`]: the task that programs the kernel's IPVS
//! (and its connection sync daemon), and the task that runs the real servers' health checks.
//!
//! Neither ever runs on the VRRP loop: the loop hands them work through channels and takes
//! their results back the same way, so a slow netlink answer or a hanging check cannot delay
//! an advert.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use ha_healthcheck::probe::{FlightKey, InFlight};
use ha_healthcheck::{
    EventKind, Outcome, ProbeId, Scheduler, SchedulerConfig, StartState, TargetId,
};
use ha_ipvs::model::{DaemonRole, ServiceKey, SyncDaemon, VirtualService};
use ha_ipvs::{Client, Op};
use tokio::sync::{mpsc, watch};

use super::config::{HealthTarget, IpvsOptions};
use super::effects::Feedback;
use super::status::{
    CheckCounters, CheckStatus, IPVS_STATS_INTERVAL, IpvsDestinationStatus, IpvsServiceStatus,
    IpvsStatus,
};
use crate::core::VirtualServerId;

/// Work for the IPVS task, done in order.
#[derive(Debug)]
pub(super) enum IpvsWork {
    /// A virtual server's desired state changed: `ops` take the previous desired state to the
    /// new one. The new desired state itself (one entry per service: several for a virtual
    /// server group) comes along only while the server is not in [`IpvsSynced`]: a server
    /// whose kernel state matches needs only the operations, and building the whole state of
    /// a large virtual server for every health change cost memory and time (3.8 MiB of queued
    /// work at 10,000 real servers in a saturated VM).
    Apply {
        server: VirtualServerId,
        ops: Vec<Op>,
        desired: Option<Vec<VirtualService>>,
    },
    /// The loop's answer to [`Feedback::IpvsResync`]: the server's whole desired state now.
    Resync {
        server: VirtualServerId,
        desired: Vec<VirtualService>,
    },
    /// The sync daemon's role (the instance it follows changed state).
    Daemon(DaemonRole),
    /// Delete these services (no longer configured after a reload).
    Delete(Vec<ServiceKey>),
    /// Stop: stop the sync daemons and, if configured, delete these services.
    Stop(Vec<ServiceKey>),
}

/// What the IPVS task reports to the status (a watch channel: no lock shared with the loop).
pub(super) type IpvsShared = watch::Sender<IpvsStatus>;

/// The virtual servers whose kernel state the IPVS task knows to match the last state it was
/// given. Only the task changes it; the loop reads it to decide whether an
/// [`IpvsWork::Apply`] needs the whole desired state.
#[derive(Debug, Clone, Default)]
pub(super) struct IpvsSynced(Arc<Mutex<BTreeSet<VirtualServerId>>>);

impl IpvsSynced {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<VirtualServerId>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the server's kernel state is known to match.
    pub(super) fn contains(&self, server: VirtualServerId) -> bool {
        self.lock().contains(&server)
    }

    fn set(&self, server: VirtualServerId, in_sync: bool) {
        let mut s = self.lock();
        if in_sync {
            s.insert(server);
        } else {
            s.remove(&server);
        }
    }
}

/// Programs IPVS. The first time a virtual server is touched (and after any refused
/// operation) its kernel state is read back and diffed against the desired state, so a
/// restart after a crash, or someone else's `ipvsadm`, is corrected instead of failing with
/// EEXIST; otherwise the core's minimal operations are applied as they are.
///
/// A server not known to match gets its whole desired state: with the operations that
/// changed it while the loop saw it unsynced, or else by asking the loop
/// ([`Feedback::IpvsResync`], answered by [`IpvsWork::Resync`]); operations that arrive for it
/// meanwhile are skipped, as the answer, sent after them, covers them.
pub(super) async fn ipvs_task(
    mut client: Client,
    opts: IpvsOptions,
    mut rx: mpsc::UnboundedReceiver<IpvsWork>,
    shared: IpvsShared,
    synced: IpvsSynced,
    fb: mpsc::UnboundedSender<Feedback>,
) {
    let mut known = Known {
        synced,
        asked: BTreeSet::new(),
        fb,
    };
    // The latest desired state of servers that need a retry.
    // In server order: retries run in a deterministic order.
    let mut retry: BTreeMap<VirtualServerId, Vec<VirtualService>> = BTreeMap::new();
    start(&mut client, &opts, &shared).await;
    let mut retry_tick = tokio::time::interval(Duration::from_secs(5));
    retry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut role: Option<DaemonRole> = None;
    let mut stats_due = tokio::time::Instant::now();
    loop {
        let work = tokio::select! {
            // Work first: the configuration is programmed before counters are read. A dump of
            // the whole table grows with it (seconds for tens of thousands of objects on a
            // slow machine); dumped every 2 s while an install was queued, it left the
            // install a fraction of this task's time (12,500 objects not installed after
            // 263 s where keepalived took 59 s: `cargo xtask bench limits -- ipvs`).
            biased;
            w = rx.recv() => w,
            _ = retry_tick.tick(), if !retry.is_empty() => {
                for (server, desired) in std::mem::take(&mut retry) {
                    resync_server(&mut client, &shared, &known, &mut retry, server, desired).await;
                }
                continue;
            }
            _ = tokio::time::sleep_until(stats_due) => {
                let started = tokio::time::Instant::now();
                read_stats(&mut client, &shared).await;
                // At most a tenth of this task's time goes to the counters (a large table's
                // dump is kernel and parsing time: a debug build under TCG spent 60% of a
                // core on it at 12,500 objects with a fifth).
                stats_due = tokio::time::Instant::now()
                    + IPVS_STATS_INTERVAL.max(started.elapsed() * 9);
                continue;
            }
        };
        let Some(work) = work else { break };
        match work {
            IpvsWork::Apply {
                server,
                ops,
                desired,
            } => {
                let in_sync = known.synced.contains(server);
                match desired {
                    Some(d) if !in_sync && !d.is_empty() => {
                        resync_server(&mut client, &shared, &known, &mut retry, server, d).await;
                    }
                    // Not known to match and only the operations: skipped, the loop's answer
                    // to the request (made now, or when it fell out of sync) covers them.
                    None if !in_sync => known.ask(server),
                    // Known to match, or no desired service (an install gate closed: the
                    // deletions as they are).
                    _ => {
                        apply_ops(&mut client, &shared, &mut known, &mut retry, server, &ops).await
                    }
                }
            }
            IpvsWork::Resync { server, desired } => {
                known.asked.remove(&server);
                resync_server(&mut client, &shared, &known, &mut retry, server, desired).await;
            }
            IpvsWork::Daemon(new) => {
                if let Some(d) = &opts.sync_daemon {
                    set_daemon(&mut client, &d.daemon, role, new, &shared).await;
                    role = Some(new);
                }
            }
            IpvsWork::Delete(keys) => {
                let ops: Vec<Op> = keys.into_iter().map(Op::DelService).collect();
                apply(&mut client, &ops, &shared).await;
            }
            IpvsWork::Stop(keys) => {
                // The services first: they steer traffic, and deleting them is quick, while
                // stopping a sync daemon waits for its kernel threads to end (seconds on a
                // slow machine).
                let t = Instant::now();
                if opts.flush_on_stop {
                    flush(&mut client, &shared, "stopping").await;
                    tracing::info!(took = ?t.elapsed(), "stopping: IPVS table flushed");
                } else if opts.remove_on_stop {
                    let ops: Vec<Op> = keys.into_iter().map(Op::DelService).collect();
                    apply(&mut client, &ops, &shared).await;
                    tracing::info!(took = ?t.elapsed(), "stopping: IPVS services removed");
                }
                if opts.sync_daemon.is_some() {
                    // Only the role that runs (the other is not started: no ESRCH round trip
                    // that could wait behind a kernel thread).
                    for r in role.into_iter() {
                        stop_daemon(&mut client, r).await;
                    }
                    shared.send_modify(|s| s.sync_daemon = None);
                    tracing::info!(took = ?t.elapsed(), ?role, "stopping: sync daemon stopped");
                }
                break;
            }
        }
    }
}

/// What the IPVS task knows of each virtual server's kernel state.
struct Known {
    /// Shared with the loop.
    synced: IpvsSynced,
    /// Servers whose whole desired state was asked of the loop and not yet received.
    asked: BTreeSet<VirtualServerId>,
    fb: mpsc::UnboundedSender<Feedback>,
}

impl Known {
    /// Asks the loop for the server's whole desired state, once until it comes.
    fn ask(&mut self, server: VirtualServerId) {
        if self.asked.insert(server) {
            super::effects::feed_back(&self.fb, Feedback::IpvsResync(server));
        }
    }
}

/// Programs a server's whole desired state (a dump and a diff); on failure it waits in
/// `retry` for the next retry tick.
async fn resync_server(
    client: &mut Client,
    shared: &IpvsShared,
    known: &Known,
    retry: &mut BTreeMap<VirtualServerId, Vec<VirtualService>>,
    server: VirtualServerId,
    desired: Vec<VirtualService>,
) {
    let ok = resync_all(client, &desired, shared).await;
    known.synced.set(server, ok);
    if ok {
        retry.remove(&server);
    } else {
        retry.insert(server, desired);
    }
}

/// Applies a server's operations; on failure the server is out of sync and its whole desired
/// state is asked of the loop.
async fn apply_ops(
    client: &mut Client,
    shared: &IpvsShared,
    known: &mut Known,
    retry: &mut BTreeMap<VirtualServerId, Vec<VirtualService>>,
    server: VirtualServerId,
    ops: &[Op],
) {
    let ok = apply(client, ops, shared).await;
    known.synced.set(server, ok);
    if ok {
        retry.remove(&server);
    } else {
        known.ask(server);
    }
}

/// Reads every service's and real server's counters into the status (the traffic metrics).
/// A failure is kept as `stats_error` (and logged once when it starts); the last counters
/// read stay.
async fn read_stats(client: &mut Client, shared: &IpvsShared) {
    match client.dump().await {
        Ok(dump) => {
            let services = dump
                .into_iter()
                .map(|(s, d)| IpvsServiceStatus {
                    key: s.service.key,
                    stats: s.stats,
                    destinations: d
                        .into_iter()
                        .map(|e| IpvsDestinationStatus {
                            addr: e.destination.addr,
                            weight: e.destination.weight,
                            active_conns: e.active_conns,
                            inactive_conns: e.inactive_conns,
                            stats: e.stats,
                        })
                        .collect(),
                })
                .collect();
            shared.send_if_modified(|s| {
                let changed = s.services != services || s.stats_error.is_some();
                s.services = services;
                s.stats_error = None;
                changed
            });
        }
        Err(e) => {
            let text = format!("reading the IPVS counters: {e}");
            shared.send_if_modified(|s| {
                if s.stats_error.is_none() {
                    tracing::warn!(error = %e, "reading the IPVS counters");
                }
                let changed = s.stats_error.as_deref() != Some(text.as_str());
                s.stats_error = Some(text);
                changed
            });
        }
    }
}

/// Before any service is programmed: keepalived's `lvs_flush` (empty the whole IPVS table)
/// and `lvs_timeouts`. A failure is logged and counted; the services are programmed anyway.
async fn start(client: &mut Client, opts: &IpvsOptions, shared: &IpvsShared) {
    if opts.flush_on_start {
        flush(client, shared, "starting").await;
    }
    if let Some(t) = &opts.timeouts {
        match client.set_timeouts(t).await {
            Ok(()) => tracing::info!(
                tcp = t.tcp,
                tcp_fin = t.tcp_fin,
                udp = t.udp,
                "IPVS timeouts set (0: unchanged)"
            ),
            Err(e) => {
                tracing::error!(error = %e, "setting the IPVS timeouts");
                shared.send_modify(|s| {
                    s.ops_failed += 1;
                    s.last_error = Some(format!("setting the IPVS timeouts: {e}"));
                });
            }
        }
    }
}

/// Empties the kernel's whole IPVS table (keepalived `lvs_flush`, `lvs_flush_on_stop`).
async fn flush(client: &mut Client, shared: &IpvsShared, when: &str) {
    match client.flush().await {
        Ok(()) => tracing::info!(when, "IPVS table flushed"),
        Err(e) => {
            tracing::error!(when, error = %e, "flushing the IPVS table");
            shared.send_modify(|s| {
                s.ops_failed += 1;
                s.last_error = Some(format!("flushing the IPVS table: {e}"));
            });
        }
    }
}

/// Resyncs each service of a virtual server; true if all are in the desired state.
async fn resync_all(client: &mut Client, desired: &[VirtualService], shared: &IpvsShared) -> bool {
    let mut ok = true;
    for d in desired {
        ok &= resync(client, d, shared).await;
    }
    ok
}

/// Applies `ops`; counts and logs each outcome; true if all were accepted.
async fn apply(client: &mut Client, ops: &[Op], shared: &IpvsShared) -> bool {
    if ops.is_empty() {
        return true;
    }
    match client.apply_idempotent(ops).await {
        Ok(report) => {
            let mut ok = true;
            shared.send_modify(|s| {
                s.ops_applied += report.succeeded() as u64;
                for (_, e) in report.failures() {
                    ok = false;
                    s.ops_failed += 1;
                    tracing::error!(error = %e, "IPVS operation refused");
                    s.last_error = Some(e.to_string());
                }
            });
            ok
        }
        Err(e) => {
            shared.send_modify(|s| {
                s.ops_failed += ops.len() as u64;
                s.last_error = Some(e.to_string());
            });
            tracing::error!(error = %e, "IPVS netlink failed");
            false
        }
    }
}

/// Reads the kernel's state of `desired`'s service and applies the difference.
async fn resync(client: &mut Client, desired: &VirtualService, shared: &IpvsShared) -> bool {
    let key = &desired.service.key;
    let current = match client.service(key).await {
        Ok(None) => Vec::new(),
        Ok(Some(entry)) => match client.destinations(key).await {
            Ok(dests) => vec![VirtualService {
                service: entry.service,
                destinations: dests.into_iter().map(|d| d.destination).collect(),
            }],
            Err(e) => return read_failed(shared, key, &e),
        },
        Err(e) => return read_failed(shared, key, &e),
    };
    let ops = ha_ipvs::diff(&current, std::slice::from_ref(desired));
    if !current.is_empty() && !ops.is_empty() {
        tracing::info!(service = %key, ops = ops.len(), "IPVS service found in the kernel: corrected");
    }
    apply(client, &ops, shared).await
}

fn read_failed(shared: &IpvsShared, key: &ServiceKey, e: &ha_ipvs::Error) -> bool {
    shared.send_modify(|s| s.last_error = Some(format!("reading {key}: {e}")));
    tracing::error!(service = %key, error = %e, "reading an IPVS service");
    false
}

/// keepalived's rule: the master runs the master sync daemon, a backup the backup one; the
/// other role is stopped first (a kernel where both may run still gets one).
async fn set_daemon(
    client: &mut Client,
    cfg: &SyncDaemon,
    old: Option<DaemonRole>,
    new: DaemonRole,
    shared: &IpvsShared,
) {
    if old == Some(new) {
        return;
    }
    let other = match new {
        DaemonRole::Master => DaemonRole::Backup,
        DaemonRole::Backup => DaemonRole::Master,
    };
    // The new role starts first and the old one stops after: stopping waits for the old
    // daemon's kernel threads to end (seconds on a slow machine), and a new master must
    // already be sending when its first connections pass their sync threshold, or they are
    // never synced to the backup. The kernel runs a master and a backup daemon side by side.
    let mut d = cfg.clone();
    d.role = new;
    let name = match new {
        DaemonRole::Master => "master",
        DaemonRole::Backup => "backup",
    };
    match client.start_daemon(&d).await {
        Ok(()) => {
            tracing::info!(role = name, interface = %d.ifname, sync_id = d.sync_id, "IPVS sync daemon started");
            shared.send_modify(|s| s.sync_daemon = Some(name));
        }
        Err(ha_ipvs::Error::Kernel(e)) if e.is_exists() => {
            shared.send_modify(|s| s.sync_daemon = Some(name));
        }
        Err(e) => {
            tracing::error!(role = name, error = %e, "IPVS sync daemon not started");
            shared.send_modify(|s| {
                s.sync_daemon = None;
                s.last_error = Some(format!("sync daemon {name}: {e}"));
            });
        }
    }
    stop_daemon(client, other).await;
}

/// Stops the sync daemon of `role`; one that is not running is fine.
async fn stop_daemon(client: &mut Client, role: DaemonRole) {
    match client.stop_daemon(role).await {
        Ok(()) => {}
        Err(ha_ipvs::Error::Kernel(e)) if e.is_no_service() => {}
        Err(e) => tracing::warn!(?role, error = %e, "stopping an IPVS sync daemon"),
    }
}

/// A real server's health as the director sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RealServerHealth {
    pub server: VirtualServerId,
    pub index: usize,
    pub alive: bool,
    /// A weight a check reported (`Some(None)`: back to the configured weight).
    pub weight: Option<Option<u32>>,
}

/// The health task's view, for the status (published on a watch channel).
#[derive(Debug, Default, Clone)]
pub(super) struct HealthShared {
    /// Per target (index in the configuration's list).
    pub checks: Vec<CheckStatus>,
    /// Totals.
    pub counters: CheckCounters,
}

/// New health targets (a reload); answered with what changed.
pub(super) type HealthReload = (
    Vec<HealthTarget>,
    tokio::sync::oneshot::Sender<ha_healthcheck::ReconcileStats>,
);

/// Each real server's targets, in configuration order, keyed by (server, index): what the
/// health task and the status look a real server's checks up in.
///
/// Two flat vectors, not a map of vectors: at 10,000 real servers a `HashMap` of one-element
/// `Vec`s took about 1 MiB, held twice (the loop's status and the health task); this takes
/// 32 bytes per real server and 4 per check.
#[derive(Debug, Default)]
pub(super) struct MemberIndex {
    /// The distinct (server, index) keys, sorted, each with where its ids start in `ids`.
    keys: Vec<(VirtualServerId, usize, u32)>,
    /// Target ids grouped by key; within a key, in configuration order.
    ids: Vec<u32>,
}

impl MemberIndex {
    pub(super) fn new(targets: &[HealthTarget]) -> MemberIndex {
        let mut ids: Vec<u32> = (0..targets.len() as u32).collect();
        // Stable: a real server's checks stay in configuration order.
        ids.sort_by_key(|&i| (targets[i as usize].server, targets[i as usize].index));
        let mut keys: Vec<(VirtualServerId, usize, u32)> = Vec::new();
        for (at, &i) in ids.iter().enumerate() {
            let t = &targets[i as usize];
            if keys
                .last()
                .is_none_or(|&(s, x, _)| (s, x) != (t.server, t.index))
            {
                keys.push((t.server, t.index, at as u32));
            }
        }
        keys.shrink_to_fit();
        MemberIndex { keys, ids }
    }

    /// The position of a real server among the keys (what [`HealthTask`] keeps per real
    /// server is indexed by it).
    fn position(&self, server: VirtualServerId, index: usize) -> Option<usize> {
        self.keys
            .binary_search_by_key(&(server, index), |&(s, x, _)| (s, x))
            .ok()
    }

    fn ids_at(&self, k: usize) -> &[u32] {
        let start = self.keys[k].2 as usize;
        let end = self
            .keys
            .get(k + 1)
            .map_or(self.ids.len(), |&(_, _, e)| e as usize);
        &self.ids[start..end]
    }

    /// The ids of a real server's targets (none: it has no check).
    pub(super) fn get(&self, server: VirtualServerId, index: usize) -> &[u32] {
        self.position(server, index).map_or(&[], |k| self.ids_at(k))
    }

    /// How many real servers have checks.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The kind of a check, for the status.
pub(super) fn check_kind(c: &ha_healthcheck::Check) -> &'static str {
    use ha_healthcheck::Check;
    match c {
        Check::Tcp(_) => "tcp",
        Check::Http(h) if h.tls.is_some() => "https",
        Check::Http(_) => "http",
        Check::Dns(_) => "dns",
        Check::Smtp(_) => "smtp",
        Check::Udp(_) => "udp",
        Check::Ping(_) => "ping",
        Check::Script(_) => "script",
        Check::File(_) => "file",
        Check::Maintenance(_) => "maintenance",
        _ => "other",
    }
}

/// The health checks: a sans-io [`Scheduler`] whose due probes run concurrently here; a
/// real server is alive while every one of its checks is up, and each change of that goes
/// to `tx`.
pub(super) struct HealthTask {
    sched: Scheduler,
    /// By target id (its index in `targets`).
    targets: Vec<HealthTarget>,
    /// Per real server (its position in `by_member`): whether alive as last reported.
    reported: Vec<Option<bool>>,
    up: Vec<bool>,
    /// Per real server (server, index): its targets' ids, so that an event costs the checks
    /// of one real server, not a walk over every target (10,000 real servers: a reload or a
    /// start that brings each up was 10^8 steps).
    by_member: MemberIndex,
    shared: watch::Sender<HealthShared>,
    tx: mpsc::UnboundedSender<RealServerHealth>,
    /// By target id: its attempt whose probe is running, with the probe's key in the set.
    running: Vec<Option<(ProbeId, FlightKey)>>,
}

impl HealthTask {
    pub(super) fn new(
        cfg: SchedulerConfig,
        targets: Vec<HealthTarget>,
        shared: watch::Sender<HealthShared>,
        tx: mpsc::UnboundedSender<RealServerHealth>,
    ) -> HealthTask {
        let mut t = HealthTask {
            sched: Scheduler::new(cfg),
            targets: Vec::new(),
            reported: Vec::new(),
            up: Vec::new(),
            by_member: MemberIndex::default(),
            shared,
            tx,
            running: Vec::new(),
        };
        t.set_targets(Instant::now(), targets);
        t
    }

    /// Switches to `targets`, keeping the state of those that did not change.
    fn set_targets(
        &mut self,
        now: Instant,
        targets: Vec<HealthTarget>,
    ) -> ha_healthcheck::ReconcileStats {
        // Keep the health of an unchanged (server, index, check) across the renumbering:
        // looked up among the old checks of the same real server only.
        let up: Vec<bool> = targets
            .iter()
            .map(|t| {
                self.by_member
                    .get(t.server, t.index)
                    .iter()
                    .find(|&&o| self.targets[o as usize] == *t)
                    .map_or(t.target.start == StartState::Up, |&o| self.up[o as usize])
            })
            .collect();
        let by_member = MemberIndex::new(&targets);
        let stats = self.sched.reconcile(
            now,
            targets
                .iter()
                .enumerate()
                .map(|(i, t)| (TargetId(i as u64), t.target.clone())),
        );
        let checks = targets
            .iter()
            .zip(&up)
            .map(|(t, up)| CheckStatus {
                kind: check_kind(&t.target.check),
                up: *up,
                last_failure: None,
                runs: 0,
            })
            .collect();
        self.shared.send_modify(|s| s.checks = checks);
        // Renumbered: the probes running finish as they are (their outcomes are matched by
        // probe id), but are no longer known by target.
        self.running = vec![None; targets.len()];
        self.targets = targets;
        self.up = up;
        // What was reported of a real server still checked is kept (by its key).
        self.reported = by_member
            .keys
            .iter()
            .map(|&(server, index, _)| {
                self.by_member
                    .position(server, index)
                    .and_then(|k| self.reported.get(k).copied().flatten())
            })
            .collect();
        self.by_member = by_member;
        stats
    }

    pub(super) async fn run(mut self, mut reload: mpsc::UnboundedReceiver<HealthReload>) {
        // Every probe in one set polled by this task (the crate's driver, as in
        // `check-scale`): no task, boxed future or channel message per check, one timer for
        // the task, and the outcomes of one wakeup handled as a batch with one status update.
        // A target has at most one attempt in flight, so the set never fills; what is
        // bounded is the number pushed and not started (START_AHEAD).
        let mut inflight = InFlight::new(usize::MAX);
        let sleep = tokio::time::sleep(FAR);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        let mut batch = Batch::default();
        loop {
            let now = Instant::now();
            self.sched.handle_timeout(now);
            while inflight.unstarted() < START_AHEAD
                && let Some(req) = self.sched.poll_probe()
            {
                let (id, target) = (req.id, req.target);
                // The scheduler hands out a target's next attempt only after the last one's
                // outcome or its lost-probe deadline: a probe of it still running was given
                // up on. Dropped, so that an overloaded task does not run two probes per
                // target (the VM at 10,000 checks had 17,000 probes in flight).
                let running = self.running.get_mut(target.0 as usize);
                if let Some((_, key)) = running.as_ref().and_then(|r| **r)
                    && inflight.cancel(key)
                {
                    batch.lost += 1;
                }
                let pushed = inflight.push(async move {
                    let outcome = ha_healthcheck::probe::run(&req.check, req.timeout).await;
                    (id, target, outcome)
                });
                debug_assert!(pushed.is_ok(), "an unbounded set takes every probe");
                if let (Some(r), Ok(key)) = (running, pushed) {
                    *r = Some((id, key));
                }
            }
            // Lost-probe deadlines found by handle_timeout come out as events.
            self.events(&mut batch);
            self.publish(&mut batch);
            // Attempts the scheduler has due and this task cannot start yet stay with the
            // scheduler (late, not lost): the wait below ends when the set has started
            // enough of what it holds, not at their (past) due times.
            let throttled = inflight.unstarted() >= START_AHEAD;
            let deadline = self.sched.poll_timeout().filter(|_| !throttled);
            if deadline != armed || sleep.is_elapsed() {
                let at = deadline.map_or_else(|| tokio::time::Instant::now() + FAR, Into::into);
                sleep.as_mut().reset(at);
                armed = deadline;
            }
            tokio::select! {
                biased;
                () = std::future::poll_fn(|cx| {
                    // Every finished probe of this wakeup, with one clock reading.
                    let now = Instant::now();
                    let handled = inflight.poll_batch(cx, MAX_BATCH, |(id, target, outcome)| {
                        self.outcome(now, id, target, outcome, &mut batch);
                    });
                    if handled.is_ready()
                        || (throttled && inflight.unstarted() <= START_AHEAD / 2)
                    {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }) => {
                    self.publish(&mut batch);
                    // Back to the runtime: it reads socket readiness and fires timers only
                    // when this task yields (InFlight's rule).
                    tokio::task::yield_now().await;
                }
                r = reload.recv() => match r {
                    Some((targets, done)) => {
                        let stats = self.set_targets(Instant::now(), targets);
                        if done.send(stats).is_err() {
                            tracing::debug!("health reload: the director loop ended");
                        }
                    }
                    None => break,
                },
                () = &mut sleep => {}
            }
        }
    }

    /// Takes one probe's outcome; what the status shows of it goes into `batch`.
    fn outcome(
        &mut self,
        now: Instant,
        id: ProbeId,
        TargetId(t): TargetId,
        outcome: Outcome,
        batch: &mut Batch,
    ) {
        let failure = match &outcome {
            Outcome::Up { .. } => None,
            Outcome::Down(f) => Some(f.to_string()),
        };
        if let Some(r) = self.running.get_mut(t as usize)
            && r.is_some_and(|(p, _)| p == id)
        {
            *r = None;
        }
        if self.sched.handle_outcome(now, id, outcome) {
            if let (Some(why), Some(target)) = (&failure, self.targets.get(t as usize)) {
                let (server, real_server) = (target.server.0, target.index);
                let check = check_kind(&target.target.check);
                if target.log_all_failures {
                    tracing::warn!(server, real_server, check, failure = %why, "health check attempt failed");
                } else {
                    tracing::debug!(server, real_server, check, failure = %why, "health check attempt failed");
                }
            }
            batch.runs.push((t as usize, failure));
        } else {
            // After its lost-probe deadline (already counted as failed), or of a target a
            // reload removed.
            batch.lost += 1;
        }
        self.events(batch);
    }

    /// Acts on the scheduler's events: a real server whose checks all agree changes health.
    fn events(&mut self, batch: &mut Batch) {
        while let Some(ev) = self.sched.poll_event() {
            let i = ev.target.0 as usize;
            let Some(up) = self.up.get_mut(i) else {
                continue;
            };
            let weight = match ev.kind {
                EventKind::Up { weight } | EventKind::Weight { weight } => Some(weight),
                EventKind::Down { .. } => None,
                // A kind of event this task does not know yet: health unchanged.
                _ => continue,
            };
            *up = weight.is_some();
            let t = &self.targets[i];
            tracing::info!(
                server = t.server.0,
                real_server = t.index,
                check = check_kind(&t.target.check),
                event = ?ev.kind,
                "health check"
            );
            let key = (t.server, t.index);
            batch.ups.push((i, *up));
            // Every target has its real server in the index (built from the same targets).
            let Some(k) = self.by_member.position(key.0, key.1) else {
                continue;
            };
            let alive = self
                .by_member
                .ids_at(k)
                .iter()
                .all(|&j| self.up[j as usize]);
            let changed = self.reported[k].replace(alive) != Some(alive);
            if changed {
                batch.changes += 1;
            }
            if (changed || weight.is_some())
                && self
                    .tx
                    .send(RealServerHealth {
                        server: key.0,
                        index: key.1,
                        alive,
                        weight,
                    })
                    .is_err()
            {
                tracing::debug!("real server health: the director loop ended");
            }
        }
    }

    /// Puts a batch into the status (one update of the watch channel), if it has anything.
    fn publish(&mut self, batch: &mut Batch) {
        if batch.runs.is_empty() && batch.ups.is_empty() && batch.changes == 0 && batch.lost == 0 {
            return;
        }
        self.shared.send_modify(|s| {
            for (t, failure) in batch.runs.drain(..) {
                match failure {
                    None => s.counters.up += 1,
                    Some(_) => s.counters.down += 1,
                }
                if let Some(c) = s.checks.get_mut(t) {
                    c.runs += 1;
                    c.last_failure = failure;
                }
            }
            for (t, up) in batch.ups.drain(..) {
                if let Some(c) = s.checks.get_mut(t) {
                    c.up = up;
                }
            }
            s.counters.changes += std::mem::take(&mut batch.changes);
            s.counters.lost += std::mem::take(&mut batch.lost);
        });
    }
}

/// A wait that does not end (re-armed before it could).
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// Most outcomes handled in one batch before the task yields to the runtime.
const MAX_BATCH: usize = 1024;

/// Most probes handed out by the scheduler and not yet started (first polled, which runs
/// the probe's `connect(2)`). The scheduler starts an attempt's lost-probe deadline when it
/// hands it out; handing out every due attempt at once let a task that could not keep up
/// queue them for longer than that deadline. In the VM at 10,000 checks a second, where
/// starting a probe costs about a millisecond of system time, 24,768-31,596 attempts per
/// run were given up on before their probe had started, and counted as failures
/// (1,568-12,960 real server health changes per run, three runs). The attempts the task
/// cannot start yet now wait in the scheduler, due and late.
const START_AHEAD: usize = 256;

/// What a batch of outcomes changes in the status.
#[derive(Debug, Default)]
struct Batch {
    /// Per completed attempt: its target and failure (`None`: it passed).
    runs: Vec<(usize, Option<String>)>,
    /// Targets whose check changed state.
    ups: Vec<(usize, bool)>,
    /// Real servers whose health changed.
    changes: u64,
    /// Attempts given up on (see [`CheckCounters::lost`]).
    lost: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ha_healthcheck::{Check, Failure, TargetConfig, TcpCheck};

    use super::*;

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    /// What one failed attempt of a check with retries left logs.
    fn log_of_one_failed_attempt(log_all_failures: bool) -> String {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(sink.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let (shared, _status) = watch::channel(HealthShared::default());
            let (tx, mut rx) = mpsc::unbounded_channel();
            let check = Check::Tcp(TcpCheck::new("127.0.0.1:9".parse().unwrap()));
            let mut target = TargetConfig::new(Arc::new(check));
            target.retries = 2;
            let mut task = HealthTask::new(
                SchedulerConfig::default(),
                vec![HealthTarget {
                    server: VirtualServerId(0),
                    index: 0,
                    target,
                    log_all_failures,
                }],
                shared,
                tx,
            );
            task.sched.handle_timeout(Instant::now());
            let p = task
                .sched
                .poll_probe()
                .expect("the first check is due at once");
            let mut batch = Batch::default();
            task.outcome(
                Instant::now(),
                p.id,
                p.target,
                Outcome::Down(Failure::Refused),
                &mut batch,
            );
            task.publish(&mut batch);
            assert!(
                rx.try_recv().is_err(),
                "a retry is left: the server stays up"
            );
        });
        let text = sink.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    /// A TCP check of 127.0.0.1:`port` for real server `index` of virtual server `server`.
    fn tcp_target(server: u32, index: usize, port: u16) -> HealthTarget {
        let check = Check::Tcp(TcpCheck::new(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            port,
        ))));
        HealthTarget::new(
            VirtualServerId(server),
            index,
            TargetConfig::new(Arc::new(check)),
        )
    }

    #[test]
    fn each_real_server_gets_its_own_targets_in_order() {
        let targets = [
            tcp_target(0, 0, 1),
            tcp_target(1, 0, 2),
            tcp_target(0, 0, 3),
            tcp_target(0, 1, 4),
        ];
        let by = MemberIndex::new(&targets);
        assert_eq!(by.get(VirtualServerId(0), 0), &[0, 2]);
        assert_eq!(by.get(VirtualServerId(0), 1), &[3]);
        assert_eq!(by.get(VirtualServerId(1), 0), &[1]);
        assert_eq!(by.get(VirtualServerId(1), 1), &[] as &[u32]);
        assert_eq!(by.get(VirtualServerId(2), 0), &[] as &[u32]);
        assert_eq!(by.len(), 3);
    }

    #[test]
    fn a_reload_keeps_what_was_reported_of_the_real_servers_still_checked() {
        let (shared, _status) = watch::channel(HealthShared::default());
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut task = HealthTask::new(
            SchedulerConfig::default(),
            vec![
                tcp_target(0, 0, 1),
                tcp_target(0, 1, 2),
                tcp_target(1, 0, 3),
            ],
            shared,
            tx,
        );
        task.reported = vec![Some(true), Some(false), None];
        // (0, 0) goes, (0, 1) and (1, 0) stay (renumbered), (2, 0) is new.
        task.set_targets(
            Instant::now(),
            vec![
                tcp_target(2, 0, 4),
                tcp_target(1, 0, 3),
                tcp_target(0, 1, 2),
            ],
        );
        // Keys in order: (0, 1), (1, 0), (2, 0).
        assert_eq!(task.reported, vec![Some(false), None, None]);
        assert_eq!(task.by_member.get(VirtualServerId(0), 1), &[2]);
        assert_eq!(task.by_member.get(VirtualServerId(2), 0), &[0]);
        assert_eq!(task.by_member.get(VirtualServerId(0), 0), &[] as &[u32]);
    }

    /// 20,000 checks due at once, each decided inside its first poll (a refused connect to
    /// 127.0.0.1), with 200 ms from hand-out to the lost-probe deadline: starting them all
    /// takes longer than that. Handing every due attempt out at once (as before
    /// START_AHEAD) gave up on thousands of them before their probe had started; now the
    /// attempts not started wait in the scheduler and none is lost.
    #[test]
    fn attempts_the_task_cannot_start_yet_wait_instead_of_being_lost() {
        const N: u64 = 20_000;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let targets: Vec<HealthTarget> = (0..N as usize)
            .map(|i| {
                let mut t = tcp_target(0, i, port);
                t.target.timeout = Duration::from_millis(100);
                t.target.interval = Duration::from_secs(3600);
                t
            })
            .collect();
        let cfg = SchedulerConfig {
            lost_grace: Duration::from_millis(100),
            ..SchedulerConfig::default()
        };
        let (shared, status) = watch::channel(HealthShared::default());
        let (tx, _rx) = mpsc::unbounded_channel();
        let (reload_tx, reload_rx) = mpsc::unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let counters = rt.block_on(async move {
            let task = tokio::spawn(HealthTask::new(cfg, targets, shared, tx).run(reload_rx));
            let start = Instant::now();
            let mut status = status;
            let counters = loop {
                let c = status.borrow_and_update().counters;
                if c.up + c.down + c.lost >= N || start.elapsed() > Duration::from_secs(60) {
                    break c;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), status.changed()).await;
            };
            drop(reload_tx);
            task.await.unwrap();
            counters
        });
        assert_eq!(
            (counters.down, counters.lost),
            (N, 0),
            "every check ran (refused), none given up on: {counters:?}"
        );
    }

    #[test]
    fn log_all_failures_logs_attempts_that_retries_absorb_at_warn() {
        let loud = log_of_one_failed_attempt(true);
        assert!(
            loud.contains("WARN") && loud.contains("health check attempt failed"),
            "{loud}"
        );
        let quiet = log_of_one_failed_attempt(false);
        assert!(
            quiet.contains("DEBUG") && quiet.contains("health check attempt failed"),
            "{quiet}"
        );
        assert!(!quiet.contains("WARN"), "{quiet}");
    }
}
