//! The sans-io check scheduler: when to probe which target, and what the results mean.
//!
//! The scheduler never reads a clock, opens a socket or draws entropy: `now` comes in as an
//! argument (it must never go backwards) and the warmup jitter comes from the seed in
//! [`SchedulerConfig`].
//!
//! # Call order
//! 1. [`Scheduler::upsert`] / [`Scheduler::reconcile`] / [`Scheduler::remove`] the targets
//!    (any time; unchanged targets keep their state, so a reload never flaps a pool).
//! 2. Call [`Scheduler::handle_timeout`] with the current time (an early call is a no-op),
//!    and [`Scheduler::handle_outcome`] with each result that came back.
//! 3. Drain [`Scheduler::poll_probe`] and run each [`ProbeRequest`] (with its
//!    [`ProbeRequest::timeout`]). A caller at capacity may stop early: the attempts left
//!    are not in flight yet, and come out of the next `poll_probe`.
//! 4. Drain [`Scheduler::poll_event`] for state changes (up, down with the reason, weight).
//! 5. Sleep until [`Scheduler::poll_timeout`] or the next outcome, then go to 2.
//!
//! `now` must never go backwards between calls. [`Scheduler::poll_due`], the earlier pull
//! form of steps 2 and 3 together, still works.
//!
//! # Semantics
//! A *check* is one to `1 + retries` *attempts*: a failed attempt is retried after
//! `delay_before_retry` (keepalived `retry`/`delay_before_retry`); only when every attempt
//! failed does the check count as failed. `fall` consecutive failed checks take an up target
//! down (ldirectord `failurecount`), `rise` consecutive successful checks bring a down target
//! up. Before its first completed check a target is *unconfirmed* and its first result
//! applies at once: with [`StartState::Down`] (keepalived `alpha`) one success brings it up;
//! with [`StartState::Up`] (the default, "assumed up") one failed check takes it down.
//!
//! Checks run at a fixed rate: the next check is due `interval` after the previous one was
//! due (not after it finished), so slow probes do not make the cadence drift; a check that
//! overran its slot is followed by the next one immediately. The first check of a new or
//! changed target waits a pseudo-random delay in `[0, warmup]` that spreads load.
//!
//! Timers use lazy deletion: each target has one live timer entry, tagged with a per-slot
//! stamp; rescheduling bumps the stamp and leaves the old entry to be skipped when it comes
//! up. Timers wait in sorted queues, one per period (a check interval, a retry delay, an
//! attempt timeout): a timer armed `period` after the current time lands at or near the back
//! of its queue, because time never goes backwards and outcomes come back roughly in the
//! order their attempts were sent. A timer that would have to move far up its queue, the
//! random first checks, and the periods beyond the few queues kept go to a binary heap. A
//! check thus costs a few operations at the ends of queues instead of heap operations,
//! whose cache misses dominated the scheduler's cost among 10,000 targets. Handling an
//! outcome does not allocate in steady state.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use std::sync::Arc;
//! use ha_healthcheck::{Check, Scheduler, SchedulerConfig, TargetConfig, TargetId, TcpCheck};
//!
//! let mut sched = Scheduler::new(SchedulerConfig { seed: 7, ..Default::default() });
//! let check = Check::Tcp(TcpCheck::new("10.0.0.1:80".parse().unwrap()));
//! sched.upsert(Instant::now(), TargetId(1), TargetConfig::new(Arc::new(check)));
//! loop {
//!     sched.handle_timeout(Instant::now());
//!     while let Some(req) = sched.poll_probe() {
//!         // run req.check with req.timeout, later: sched.handle_outcome(now, req.id, outcome)
//! #       let _ = req;
//!     }
//!     while let Some(ev) = sched.poll_event() {
//!         println!("{ev:?}");
//!     }
//!     // sleep until sched.poll_timeout() or an outcome arrives
//! #   break;
//! }
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_vrrp_proto::rng::Rng;

use crate::check::Check;
use crate::outcome::{Failure, Outcome};

/// The caller's name for a target (a real server). Stable across reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub u64);

/// Health of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// In service.
    Up,
    /// Out of service.
    Down,
}

/// The state a target starts in before its first completed check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartState {
    /// Assumed up; the first failed check takes it down (keepalived without `alpha`).
    #[default]
    Up,
    /// Down until the first successful check (keepalived `alpha`).
    Down,
}

/// How to check one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// What to probe.
    pub check: Arc<Check>,
    /// Time between checks (keepalived `delay_loop`, ldirectord `checkinterval`).
    pub interval: Duration,
    /// Time allowed for one attempt (keepalived `connect_timeout`, ldirectord
    /// `checktimeout`).
    pub timeout: Duration,
    /// Extra attempts after a failed one before the check counts as failed (keepalived
    /// `retry`).
    pub retries: u32,
    /// Wait between a failed attempt and its retry (keepalived `delay_before_retry`).
    pub delay_before_retry: Duration,
    /// Consecutive successful checks that bring a down target up (at least 1).
    pub rise: u32,
    /// Consecutive failed checks that take an up target down (ldirectord `failurecount`;
    /// at least 1).
    pub fall: u32,
    /// State before the first completed check.
    pub start: StartState,
    /// Upper bound of the random delay before the first check (keepalived `warmup`).
    pub warmup: Duration,
}

impl TargetConfig {
    /// Defaults: 5 s interval, 3 s timeout, one retry after 1 s, rise 1, fall 1, start up,
    /// no warmup.
    #[must_use]
    pub fn new(check: Arc<Check>) -> Self {
        Self {
            check,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            retries: 1,
            delay_before_retry: Duration::from_secs(1),
            rise: 1,
            fall: 1,
            start: StartState::Up,
            warmup: Duration::ZERO,
        }
    }
}

/// Scheduler-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Seed of the warmup jitter (the scheduler draws no entropy of its own).
    pub seed: u64,
    /// How long after an attempt's timeout the scheduler waits for its outcome before
    /// counting it as [`Failure::Lost`].
    pub lost_grace: Duration,
    /// Coalescing of wakeups: [`Scheduler::poll_timeout`] rounds the next timer up to a grid
    /// of this step (counted from the first target added), so a caller that sleeps until it
    /// wakes at most once per step and runs every attempt that came due meanwhile; an
    /// attempt starts at most this late. Zero (the default): exact, one wakeup per distinct
    /// due time. Thousands of targets are checked more cheaply with a few milliseconds: each
    /// sleep and wakeup of the caller costs tens of microseconds of CPU on a virtual
    /// machine (`check-scale --slack-ms`).
    pub timer_slack: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            seed: 0x5eed,
            lost_grace: Duration::from_secs(2),
            timer_slack: Duration::ZERO,
        }
    }
}

/// Names one dispatched attempt; hand it back to [`Scheduler::handle_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeId {
    slot: u32,
    stamp: u64,
}

/// An attempt the caller must run now.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// Hand back with the outcome.
    pub id: ProbeId,
    /// The target.
    pub target: TargetId,
    /// What to run.
    pub check: Arc<Check>,
    /// Time allowed for the whole attempt.
    pub timeout: Duration,
    /// 0 for the first attempt of a check, then 1, 2, ... for retries.
    pub attempt: u32,
    /// When the attempt was due (the dispatch time, the latest `now` the scheduler was
    /// given, minus this is the lateness).
    pub due: Instant,
}

/// What changed for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The target went up, with the weight the check reported (if any).
    Up {
        /// Dynamic weight reported by the check, or `None` for the configured weight.
        weight: Option<u32>,
    },
    /// The target went down; `reason` is the failure of the last attempt.
    Down {
        /// Why.
        reason: Failure,
    },
    /// An up target reported a different dynamic weight.
    Weight {
        /// The new weight (`None`: back to the configured weight).
        weight: Option<u32>,
    },
}

/// A state change of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The target.
    pub target: TargetId,
    /// When (the `now` of the call that caused it).
    pub at: Instant,
    /// What changed.
    pub kind: EventKind,
}

/// What [`Scheduler::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new target was added.
    Added,
    /// The configuration changed: health and weight kept, counters reset, rescheduled.
    Changed,
    /// Identical configuration: nothing touched.
    Unchanged,
}

/// Counts of a [`Scheduler::reconcile`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileStats {
    /// New targets.
    pub added: usize,
    /// Targets whose configuration changed.
    pub changed: usize,
    /// Targets left untouched.
    pub unchanged: usize,
    /// Targets removed.
    pub removed: usize,
}

/// A read-only view of a target's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// Current health.
    pub health: Health,
    /// True once a check has completed.
    pub confirmed: bool,
    /// Last dynamic weight reported.
    pub weight: Option<u32>,
    /// Consecutive successful checks.
    pub successes: u32,
    /// Consecutive failed checks.
    pub failures: u32,
    /// The failure of the last failed attempt.
    pub last_failure: Option<Failure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Next attempt due at the live timer entry's time.
    Waiting { due: Instant },
    /// Attempt dispatched; the live timer entry is the lost-probe deadline.
    InFlight,
}

#[derive(Debug)]
struct Target {
    id: TargetId,
    cfg: TargetConfig,
    health: Health,
    confirmed: bool,
    weight: Option<u32>,
    successes: u32,
    failures: u32,
    attempt: u32,
    cycle_due: Instant,
    phase: Phase,
    last_failure: Option<Failure>,
}

/// A timer entry: when, the slot, and the slot's stamp when it was armed.
type Timer = (Instant, u32, u64);

/// Most timer queues (distinct periods in use at once); the timers of further periods go
/// to the heap.
const MAX_QUEUES: usize = 16;

/// Farthest a new timer is moved up from the back of its queue to keep the queue sorted;
/// one that would go farther goes to the heap. Small in unit tests, so that their random
/// schedules take the heap path too.
const MAX_SHIFT: usize = if cfg!(test) { 2 } else { 32 };

/// Timers armed one period after the current time, sorted by time.
#[derive(Debug)]
struct TimerQueue {
    period: Duration,
    queue: VecDeque<Timer>,
}

/// The check scheduler. See the [module docs](self) for the call order.
///
/// Its methods by class (the shape of every sans-io machine in the workspace):
/// - queries: [`len`](Self::len), [`is_empty`](Self::is_empty), [`status`](Self::status);
/// - inputs: [`handle_timeout`](Self::handle_timeout),
///   [`handle_outcome`](Self::handle_outcome);
/// - mutators: [`upsert`](Self::upsert), [`reconcile`](Self::reconcile),
///   [`remove`](Self::remove), [`reserve`](Self::reserve);
/// - outputs: [`poll_probe`](Self::poll_probe), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout); [`poll_due`](Self::poll_due) is the older pull
///   form of `handle_timeout` and `poll_probe` together.
#[derive(Debug)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    rng: Rng,
    /// The targets by slot (`None`: a free slot).
    slots: Vec<Option<Target>>,
    /// Per slot, the stamp of its one live timer entry (and of its in-flight
    /// [`ProbeId`]); never reused. Apart from the targets, so that the checks of timers
    /// against it stay within a few cache lines.
    stamps: Vec<u64>,
    free: Vec<u32>,
    /// Target id to slot. Ordered, so that [`Scheduler::reconcile`] removes in id order.
    index: BTreeMap<TargetId, u32>,
    /// Timers that found no place in a queue.
    heap: BinaryHeap<Reverse<Timer>>,
    /// Timers by period.
    queues: Vec<TimerQueue>,
    /// Origin of the [`SchedulerConfig::timer_slack`] grid: the time of the first upsert.
    epoch: Option<Instant>,
    /// Attempts that [`Scheduler::handle_timeout`] found due, not yet handed out by
    /// [`Scheduler::poll_probe`]: (slot, stamp). Such a target has no live timer; the entry
    /// is stale once the stamp moves on (the target was changed or removed).
    ready: VecDeque<(u32, u64)>,
    /// The latest `now` given to any method: the dispatch time of [`Scheduler::poll_probe`].
    last_now: Option<Instant>,
    events: VecDeque<Event>,
}

impl Scheduler {
    /// An empty scheduler.
    #[must_use]
    pub fn new(cfg: SchedulerConfig) -> Self {
        Self {
            cfg,
            rng: Rng::new(cfg.seed),
            slots: Vec::new(),
            stamps: Vec::new(),
            free: Vec::new(),
            index: BTreeMap::new(),
            heap: BinaryHeap::new(),
            queues: Vec::new(),
            epoch: None,
            ready: VecDeque::new(),
            last_now: None,
            events: VecDeque::new(),
        }
    }

    /// Number of targets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True if there are no targets.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Reserve room for `n` more targets, so that adding them does not reallocate the slot
    /// tables, the timer heap and the event queue (the id index, an ordered map, allocates its
    /// nodes as targets are added). The timer queues grow during the first checks and then
    /// keep their size: handling an outcome in steady state allocates nothing.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        self.stamps.reserve(n);
        self.heap.reserve(n + 16);
        self.ready.reserve(n);
        self.events.reserve(n);
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        let r = self.rng.next_u64();
        Duration::from_nanos(if nanos == u64::MAX {
            r
        } else {
            r % (nanos + 1)
        })
    }

    /// A new stamp for `slot`: its previous timer entry (and in-flight probe) is stale.
    fn bump(&mut self, slot: u32) -> u64 {
        let stamp = &mut self.stamps[slot as usize];
        *stamp += 1;
        *stamp
    }

    fn arm(&mut self, slot: u32, at: Instant) {
        let stamp = self.bump(slot);
        self.heap.push(Reverse((at, slot, stamp)));
    }

    /// Arm `at`, `period` after the current time: in the queue of that period, where it
    /// sorts (usually the back), or in the heap when it would move far up the queue or too
    /// many periods are in use.
    fn arm_queued(&mut self, slot: u32, period: Duration, at: Instant) {
        let entry = (at, slot, self.bump(slot));
        let found = match self.queues.iter().position(|q| q.period == period) {
            Some(i) => Some(i),
            // An emptied queue of another period is taken over (its capacity kept).
            None => match self.queues.iter().position(|q| q.queue.is_empty()) {
                Some(i) => {
                    self.queues[i].period = period;
                    Some(i)
                }
                None if self.queues.len() < MAX_QUEUES => {
                    self.queues.push(TimerQueue {
                        period,
                        queue: VecDeque::new(),
                    });
                    Some(self.queues.len() - 1)
                }
                None => None,
            },
        };
        if let Some(i) = found {
            let q = &mut self.queues[i].queue;
            // Where the entry sorts (after equal times: first armed, first due), searched
            // from the back.
            let mut pos = q.len();
            while pos > 0 && q.len() - pos < MAX_SHIFT && q[pos - 1].0 > at {
                pos -= 1;
            }
            if pos == 0 || q[pos - 1].0 <= at {
                q.insert(pos, entry);
                return;
            }
        }
        self.heap.push(Reverse(entry));
    }

    /// Whether a timer entry is its slot's live one (a removed target's are all stale).
    fn live(&self, (_, slot, stamp): Timer) -> bool {
        self.stamps[slot as usize] == stamp
    }

    /// Drop lazily deleted entries from the front until the earliest timer is a live one,
    /// so that `poll_timeout` is exact, and stale entries from the front of the ready queue.
    /// (Stale entries behind a later front wait until they come up.)
    fn purge(&mut self) {
        while let Some(&(slot, stamp)) = self.ready.front() {
            if self.stamps[slot as usize] == stamp {
                break;
            }
            self.ready.pop_front();
        }
        while let Some((t, source)) = self.earliest() {
            if self.live(t) {
                break;
            }
            self.pop(source);
        }
    }

    fn pop(&mut self, source: Option<usize>) {
        match source {
            None => {
                self.heap.pop();
            }
            Some(i) => {
                self.queues[i].queue.pop_front();
            }
        }
    }

    /// Where the earliest timer is: `None` for the heap, `Some(i)` for queue `i`.
    fn earliest(&self) -> Option<(Timer, Option<usize>)> {
        let mut best = self.heap.peek().map(|&Reverse(t)| (t, None));
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(&t) = q.queue.front()
                && best.is_none_or(|(b, _)| t < b)
            {
                best = Some((t, Some(i)));
            }
        }
        best
    }

    /// Add a target or change its configuration. An identical configuration leaves the
    /// target untouched (its timers, counters and in-flight attempt included). A changed one
    /// keeps health and weight (no flap on reload), resets the counters, forgets any
    /// in-flight attempt and schedules a first check within `warmup`.
    pub fn upsert(&mut self, now: Instant, id: TargetId, cfg: TargetConfig) -> Upsert {
        let cfg = sanitize(cfg);
        self.see(now);
        self.epoch.get_or_insert(now);
        if let Some(&slot) = self.index.get(&id) {
            let t = self.slots[slot as usize]
                .as_mut()
                .expect("indexed slot holds a target");
            if t.cfg == cfg {
                return Upsert::Unchanged;
            }
            if !t.confirmed {
                t.health = start_health(cfg.start);
            }
            t.cfg = cfg;
            t.successes = 0;
            t.failures = 0;
            t.attempt = 0;
            let warmup = t.cfg.warmup;
            let due = now + self.jitter(warmup);
            let t = self.slots[slot as usize]
                .as_mut()
                .expect("indexed slot holds a target");
            t.cycle_due = due;
            t.phase = Phase::Waiting { due };
            self.arm(slot, due);
            self.purge();
            return Upsert::Changed;
        }
        let due = now + self.jitter(cfg.warmup);
        let target = Target {
            id,
            health: start_health(cfg.start),
            cfg,
            confirmed: false,
            weight: None,
            successes: 0,
            failures: 0,
            attempt: 0,
            cycle_due: due,
            phase: Phase::Waiting { due },
            last_failure: None,
        };
        let slot = if let Some(slot) = self.free.pop() {
            self.slots[slot as usize] = Some(target);
            slot
        } else {
            let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 targets");
            self.slots.push(Some(target));
            self.stamps.push(0);
            slot
        };
        self.index.insert(id, slot);
        self.arm(slot, due);
        Upsert::Added
    }

    /// Remove a target: no more checks, and an outcome still in flight is ignored.
    /// Returns false if it was not there.
    pub fn remove(&mut self, id: TargetId) -> bool {
        let Some(slot) = self.index.remove(&id) else {
            return false;
        };
        self.slots[slot as usize] = None;
        self.bump(slot); // invalidates the timer entry and any in-flight ProbeId
        self.free.push(slot);
        self.purge();
        true
    }

    /// Make the target set equal to `targets`: add new ones, change changed ones, keep
    /// unchanged ones as they are, remove the rest (in ascending [`TargetId`] order, so that
    /// the slots they free, and hence the order of later timers, do not depend on a hasher).
    pub fn reconcile(
        &mut self,
        now: Instant,
        targets: impl IntoIterator<Item = (TargetId, TargetConfig)>,
    ) -> ReconcileStats {
        let mut stats = ReconcileStats::default();
        let mut seen = BTreeSet::new();
        let targets = targets.into_iter();
        // Room for the targets that will not fit in freed slots, exactly: grown one push at
        // a time the slots doubled, and at 10,000 targets a third of 3.5 MiB was spare room
        // (heaptrack of ha-director in `hc-vs`).
        let more = targets
            .size_hint()
            .0
            .saturating_sub(self.index.len() + self.free.len());
        self.slots.reserve_exact(more);
        self.stamps.reserve_exact(more);
        for (id, cfg) in targets {
            seen.insert(id);
            match self.upsert(now, id, cfg) {
                Upsert::Added => stats.added += 1,
                Upsert::Changed => stats.changed += 1,
                Upsert::Unchanged => stats.unchanged += 1,
            }
        }
        let gone: Vec<TargetId> = self
            .index
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.remove(id);
            stats.removed += 1;
        }
        stats
    }

    /// The state of a target.
    #[must_use]
    pub fn status(&self, id: TargetId) -> Option<TargetStatus> {
        let slot = *self.index.get(&id)?;
        let t = self.slots[slot as usize].as_ref()?;
        Some(TargetStatus {
            health: t.health,
            confirmed: t.confirmed,
            weight: t.weight,
            successes: t.successes,
            failures: t.failures,
            last_failure: t.last_failure.clone(),
        })
    }

    /// Fire every timer due at or before `now`: an attempt that came due waits for
    /// [`Scheduler::poll_probe`]; an attempt whose outcome never came (timeout +
    /// [`SchedulerConfig::lost_grace`]) counts as [`Failure::Lost`] (see
    /// [`Scheduler::poll_event`]). An early call (before [`Scheduler::poll_timeout`]) does
    /// nothing. `now` must not go backwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.see(now);
        while let Some((slot, _due)) = self.next_due(now) {
            let stamp = self.stamps[slot as usize];
            self.ready.push_back((slot, stamp));
        }
        self.purge();
    }

    /// The next attempt to run now, among those [`Scheduler::handle_timeout`] found due, in
    /// due order; drain until `None`, or stop while the caller is at capacity: an attempt is
    /// in flight (its lost-probe deadline running) only once handed out here, at the latest
    /// `now` the scheduler was given.
    #[must_use]
    pub fn poll_probe(&mut self) -> Option<ProbeRequest> {
        let now = self.last_now?;
        while let Some((slot, stamp)) = self.ready.pop_front() {
            if self.stamps[slot as usize] != stamp {
                continue; // changed or removed since it came due
            }
            if let Some(Target {
                phase: Phase::Waiting { due },
                ..
            }) = self.slots[slot as usize]
            {
                return Some(self.dispatch(now, slot, due));
            }
        }
        None
    }

    /// The next attempt due at or before `now`, if any; call until `None`. Also counts
    /// attempts whose outcome never came (timeout + `lost_grace`) as [`Failure::Lost`].
    ///
    /// The pull form that came before [`Scheduler::handle_timeout`], kept for the drivers
    /// written against it: [`Scheduler::poll_probe`] after `handle_timeout(now)`, except
    /// that it fires timers lazily, only until it finds one due attempt (attempts that an
    /// earlier `handle_timeout` left waiting come first). Drained without outcomes fed in
    /// between, it hands out the same attempts in the same order, with the same events.
    /// Outcomes fed between calls take effect at once: an attempt they make due at `now` (a
    /// retry without delay) comes in the same drain, where `handle_timeout` leaves it to its
    /// next call, and events of different targets may come in another order.
    #[must_use]
    pub fn poll_due(&mut self, now: Instant) -> Option<ProbeRequest> {
        self.see(now);
        if let Some(req) = self.poll_probe() {
            return Some(req);
        }
        let (slot, due) = self.next_due(now)?;
        Some(self.dispatch(now, slot, due))
    }

    /// Record `now` as the latest time seen.
    fn see(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |last| last.max(now)));
    }

    /// Pop the timers due at or before `now` until one makes an attempt due: its slot and
    /// due time (the target keeps no live timer until it is dispatched or rescheduled).
    /// Lost-probe deadlines on the way are applied as [`Failure::Lost`]. `None`: nothing
    /// more is due.
    fn next_due(&mut self, now: Instant) -> Option<(u32, Instant)> {
        while let Some((timer, source)) = self.earliest() {
            let (at, slot, stamp) = timer;
            // A lazily deleted timer that popping the one before it brought to the front is
            // dropped whenever it is due, so that `poll_timeout` stays exact.
            if at > now && self.live(timer) {
                return None;
            }
            self.pop(source);
            if self.stamps[slot as usize] != stamp {
                continue; // lazily deleted
            }
            let Some(t) = self.slots[slot as usize].as_ref() else {
                continue;
            };
            match t.phase {
                Phase::Waiting { due } => return Some((slot, due)),
                Phase::InFlight => {
                    self.apply(now, slot, Outcome::Down(Failure::Lost));
                }
            }
        }
        None
    }

    /// Put the due attempt of `slot` in flight at `now`, with its lost-probe deadline.
    fn dispatch(&mut self, now: Instant, slot: u32, due: Instant) -> ProbeRequest {
        let t = self.slots[slot as usize]
            .as_mut()
            .expect("a due slot holds a target");
        t.phase = Phase::InFlight;
        let (target, check, timeout, attempt) =
            (t.id, Arc::clone(&t.cfg.check), t.cfg.timeout, t.attempt);
        let deadline = now + timeout + self.cfg.lost_grace;
        self.arm_queued(slot, timeout + self.cfg.lost_grace, deadline);
        self.purge();
        let stamp = self.stamps[slot as usize];
        ProbeRequest {
            id: ProbeId { slot, stamp },
            target,
            check,
            timeout,
            attempt,
            due,
        }
    }

    /// Feed the outcome of an attempt. Outcomes of removed or changed targets, duplicates
    /// and outcomes that came after the lost-probe deadline are ignored (returns false).
    pub fn handle_outcome(&mut self, now: Instant, id: ProbeId, outcome: Outcome) -> bool {
        self.see(now);
        if self.stamps.get(id.slot as usize) != Some(&id.stamp) {
            return false;
        }
        match &self.slots[id.slot as usize] {
            Some(t) if t.phase == Phase::InFlight => {}
            _ => return false,
        }
        self.apply(now, id.slot, outcome);
        self.purge();
        true
    }

    fn apply(&mut self, now: Instant, slot: u32, outcome: Outcome) {
        let t = self.slots[slot as usize]
            .as_mut()
            .expect("caller checked the slot");
        // When the next attempt is due, and the period after now it is armed with.
        let next;
        let period;
        match outcome {
            Outcome::Up { weight } => {
                t.attempt = 0;
                t.failures = 0;
                t.successes = t.successes.saturating_add(1);
                let first = !t.confirmed;
                t.confirmed = true;
                let old_weight = std::mem::replace(&mut t.weight, weight);
                if t.health == Health::Down && (first || t.successes >= t.cfg.rise) {
                    t.health = Health::Up;
                    self.events.push_back(Event {
                        target: t.id,
                        at: now,
                        kind: EventKind::Up { weight },
                    });
                } else if t.health == Health::Up && old_weight != weight {
                    self.events.push_back(Event {
                        target: t.id,
                        at: now,
                        kind: EventKind::Weight { weight },
                    });
                }
                next = next_cycle(t, now);
                period = t.cfg.interval;
            }
            Outcome::Down(failure) => {
                if t.attempt < t.cfg.retries {
                    // keepalived: retry after delay_before_retry; not yet a failed check.
                    t.attempt += 1;
                    t.last_failure = Some(failure);
                    next = now + t.cfg.delay_before_retry;
                    period = t.cfg.delay_before_retry;
                } else {
                    t.attempt = 0;
                    t.successes = 0;
                    t.failures = t.failures.saturating_add(1);
                    let first = !t.confirmed;
                    t.confirmed = true;
                    if t.health == Health::Up && (first || t.failures >= t.cfg.fall) {
                        t.health = Health::Down;
                        self.events.push_back(Event {
                            target: t.id,
                            at: now,
                            kind: EventKind::Down {
                                reason: failure.clone(),
                            },
                        });
                    }
                    t.last_failure = Some(failure);
                    next = next_cycle(t, now);
                    period = t.cfg.interval;
                }
            }
        }
        t.phase = Phase::Waiting { due: next };
        self.arm_queued(slot, period, next);
    }

    /// The next state change, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Scheduler::handle_timeout`] next (an attempt is due or an in-flight
    /// attempt is overdue). Exact with no [`SchedulerConfig::timer_slack`] (every mutating
    /// call drops lazily deleted entries from the front); otherwise the next point of the
    /// slack grid at or after that time. While attempts wait in [`Scheduler::poll_probe`],
    /// the latest `now` given (they are due already).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return self.last_now;
        }
        self.earliest().map(|((at, _, _), _)| self.coalesce(at))
    }

    /// `at` rounded up to the timer slack grid.
    fn coalesce(&self, at: Instant) -> Instant {
        let slack = self.cfg.timer_slack.as_nanos();
        let Some(epoch) = self.epoch else { return at };
        if slack == 0 || at < epoch {
            return at;
        }
        let steps = (at - epoch).as_nanos().div_ceil(slack);
        u64::try_from(steps * slack)
            .ok()
            .and_then(|n| epoch.checked_add(Duration::from_nanos(n)))
            .unwrap_or(at)
    }
}

fn start_health(s: StartState) -> Health {
    match s {
        StartState::Up => Health::Up,
        StartState::Down => Health::Down,
    }
}

fn sanitize(mut cfg: TargetConfig) -> TargetConfig {
    cfg.rise = cfg.rise.max(1);
    cfg.fall = cfg.fall.max(1);
    if cfg.interval.is_zero() {
        cfg.interval = Duration::from_millis(1);
    }
    cfg
}

/// Fixed-rate cadence: `interval` after the previous check was due, or now if overrun.
fn next_cycle(t: &mut Target, now: Instant) -> Instant {
    let next = (t.cycle_due + t.cfg.interval).max(now);
    t.cycle_due = next;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::TcpCheck;
    use proptest::prelude::*;

    /// A reconcile that brings N targets takes room for N, not the next power of two.
    #[test]
    fn reconcile_takes_room_for_its_targets_exactly() {
        let mut s = Scheduler::new(SchedulerConfig::default());
        let check = Arc::new(Check::Tcp(TcpCheck::new("127.0.0.1:1".parse().unwrap())));
        let now = Instant::now();
        let cfgs = |n: u64| {
            let check = Arc::clone(&check);
            (0..n).map(move |i| (TargetId(i), TargetConfig::new(Arc::clone(&check))))
        };
        let stats = s.reconcile(now, cfgs(10_000));
        assert_eq!(stats.added, 10_000);
        assert_eq!((s.slots.capacity(), s.stamps.capacity()), (10_000, 10_000));
        // A reload that keeps them and adds 100 grows by the 100.
        let stats = s.reconcile(now, cfgs(10_100));
        assert_eq!((stats.added, stats.unchanged), (100, 10_000));
        assert_eq!(s.slots.capacity(), 10_100);
    }

    /// The timer invariants: each queue is sorted, every target has exactly one live timer
    /// or one live entry in the ready queue, the ready queue's front is live, and
    /// `poll_timeout` is the latest `now` while attempts are ready, else the earliest live
    /// timer.
    fn check_invariants(s: &Scheduler) {
        let mut live = BTreeMap::new();
        for &(slot, stamp) in &s.ready {
            if s.stamps[slot as usize] == stamp {
                *live.entry(slot).or_insert(0) += 1;
            }
        }
        if let Some(&(slot, stamp)) = s.ready.front() {
            assert_eq!(
                s.stamps[slot as usize], stamp,
                "stale front of the ready queue"
            );
        }
        let mut earliest: Option<Instant> = None;
        let mut note = |t: Timer| {
            if s.live(t) {
                *live.entry(t.1).or_insert(0) += 1;
                earliest = Some(earliest.map_or(t.0, |e| e.min(t.0)));
            }
        };
        for &Reverse(t) in s.heap.iter() {
            note(t);
        }
        for q in &s.queues {
            assert!(
                q.queue
                    .iter()
                    .zip(q.queue.iter().skip(1))
                    .all(|(a, b)| a.0 <= b.0),
                "queue of {:?} out of order",
                q.period
            );
            for &t in &q.queue {
                note(t);
            }
        }
        for (&id, &slot) in &s.index {
            assert_eq!(live.get(&slot), Some(&1), "{id:?} has one live timer");
        }
        assert_eq!(live.len(), s.index.len());
        let expect = if s.ready.is_empty() {
            earliest
        } else {
            s.last_now
        };
        assert_eq!(s.poll_timeout(), expect);
        assert!(s.queues.len() <= MAX_QUEUES);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Add or change target `id` with interval/timeout/retry-delay choices.
        Upsert {
            id: u8,
            interval: u8,
            timeout: u8,
            retries: u8,
        },
        Remove {
            id: u8,
        },
        /// Advance the clock by this many ms and dispatch what is due.
        Advance {
            ms: u16,
        },
        /// Answer the `nth` attempt in flight (up or down).
        Answer {
            nth: u8,
            up: bool,
        },
        /// Advance the clock by this many ms, `handle_timeout`, and take at most `take`
        /// attempts from `poll_probe` (a caller at capacity).
        Tick {
            ms: u16,
            take: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u8..24, 0u8..20, 0u8..20, 0u8..3).prop_map(|(id, interval, timeout, retries)| {
                Op::Upsert { id, interval, timeout, retries }
            }),
            1 => (0u8..24).prop_map(|id| Op::Remove { id }),
            4 => (0u16..400).prop_map(|ms| Op::Advance { ms }),
            6 => (any::<u8>(), any::<bool>()).prop_map(|(nth, up)| Op::Answer { nth, up }),
            4 => (0u16..400, 0u8..6).prop_map(|(ms, take)| Op::Tick { ms, take }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Random targets (more periods than queues), outcomes in any order or never,
        /// removals, and both driving forms (`poll_due`, and `handle_timeout` with a
        /// partly drained `poll_probe`): the timer invariants hold after every call, and
        /// nothing due is left undispatched.
        #[test]
        fn timers_stay_exact(ops in proptest::collection::vec(op(), 1..300)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut s = Scheduler::new(SchedulerConfig { seed: 9, lost_grace: Duration::from_millis(50), ..Default::default() });
            let check = Arc::new(Check::Tcp(TcpCheck::new("127.0.0.1:80".parse().unwrap())));
            let mut inflight: Vec<ProbeId> = Vec::new();
            for op in ops {
                match op {
                    Op::Upsert { id, interval, timeout, retries } => {
                        let cfg = TargetConfig {
                            interval: Duration::from_millis(10 + 37 * u64::from(interval)),
                            timeout: Duration::from_millis(5 + 23 * u64::from(timeout)),
                            retries: u32::from(retries),
                            delay_before_retry: Duration::from_millis(3 + 11 * u64::from(timeout % 7)),
                            warmup: Duration::from_millis(100),
                            ..TargetConfig::new(check.clone())
                        };
                        s.upsert(now, TargetId(u64::from(id)), cfg);
                    }
                    Op::Remove { id } => {
                        s.remove(TargetId(u64::from(id)));
                    }
                    Op::Advance { ms } => {
                        now += Duration::from_millis(u64::from(ms));
                        while let Some(req) = s.poll_due(now) {
                            prop_assert!(req.due <= now);
                            inflight.push(req.id);
                            check_invariants(&s);
                        }
                        prop_assert!(s.poll_timeout().is_none_or(|t| t > now), "something due is left");
                    }
                    Op::Tick { ms, take } => {
                        now += Duration::from_millis(u64::from(ms));
                        s.handle_timeout(now);
                        check_invariants(&s);
                        for _ in 0..take {
                            let Some(req) = s.poll_probe() else { break };
                            prop_assert!(req.due <= now);
                            inflight.push(req.id);
                            check_invariants(&s);
                        }
                        if s.poll_timeout().is_some_and(|t| t <= now) {
                            // Only attempts held back by the cap are due.
                            prop_assert!(!s.ready.is_empty(), "a due timer is left");
                        }
                    }
                    Op::Answer { nth, up } => {
                        if !inflight.is_empty() {
                            let id = inflight.remove(usize::from(nth) % inflight.len());
                            let o = if up { Outcome::UP } else { Outcome::Down(Failure::Refused) };
                            s.handle_outcome(now, id, o);
                        }
                    }
                }
                check_invariants(&s);
                while s.poll_event().is_some() {}
            }
        }
    }
}
