//! The VRRP router state machine of one virtual router instance (RFC 9568 section 6 for v3,
//! RFC 3768 section 6 for v2), sans-io.
//!
//! # Where each RFC rule lives
//! | rule | RFC 9568 (RFC 3768) | where |
//! |---|---|---|
//! | parameters, Priority 255 = owner, Preempt_Mode, Accept_Mode | 6.1 (6.1) | [`Config`], `Router::may_preempt` |
//! | Skew_Time, Master_Down_Interval (v3: Master_Adver_Interval) | 6.1 (6.1) | [`timing`] |
//! | Initialize: Startup, owner to Master, others to Backup | 6.4.1 (6.4.1) | `Router::startup` |
//! | Backup: Master_Down_Timer, accepting / discarding adverts, priority 0 | 6.4.2 (6.4.2) | `Router::backup_rx`, [`Router::handle_timeout`] |
//! | Master: Adver_Timer, higher priority or higher address, priority 0 on shutdown | 6.4.3 (6.4.3) | `Router::master_rx`, `Router::send_advert`, [`Router::shutdown`] |
//! | a late Adver_Timer: one advert, the grid kept | 6.4.3 | [`Router::handle_timeout`] |
//! | receive checks the codec cannot make (version, VRID, family, own advert, peer, interval) | 7.1 (7.1) | `Router::check` |
//! | receive checks of the packet (TTL, length, checksum, authentication) | 7.1, 5.2 (7.1, 5.3) | [`crate::wire::validate`] |
//! | Fault, tracking, sync groups (not RFC) | | [`Router::set_fault`], [`Router::force_master`], [`Router::force_backup`] |
//!
//! The RFC tests (`tests/router_rfc.rs`) name their section.
//!
//! The router never reads a clock nor touches the network. It is fed already-validated
//! advertisements ([`RxAdvert`], produced by the runtime from the [`crate::wire`] codec),
//! timer expiries, link and tracking changes, and emits plain values:
//! [`Transmit`] (an advertisement to encode and send), [`Action`] (add or remove the virtual
//! addresses) and [`Event`] (a state transition with its typed [`TransitionReason`]).
//!
//! # Call order
//! 1. Create with [`Router::new`]; it may already have outputs queued.
//! 2. Whenever an input arrives call the matching `handle_*` / `set_*` method
//!    ([`Router::handle_advert`], [`Router::handle_link`], [`Router::set_fault`],
//!    [`Router::clear_fault`], [`Router::set_priority`], [`Router::shutdown`]).
//! 3. After **every** input, drain [`Router::poll_transmit`], [`Router::poll_action`] and
//!    [`Router::poll_event`] until each returns `None` (the queues grow if never drained).
//!    Execute actions in order; send transmits in order.
//! 4. Ask [`Router::poll_timeout`] and call [`Router::handle_timeout`] at (or after) that
//!    instant, then drain again.
//!
//! `now` must never go backwards between calls: a smaller `now` than previously seen is
//! treated as the latest `now` seen. An early [`Router::handle_timeout`] (before the instant
//! that [`Router::poll_timeout`] returned) is a no-op, so spurious wake-ups are harmless.
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use ha_vrrp_proto::router::{Config, Router};
//! use ha_vrrp_proto::{Version, VrId};
//!
//! let cfg = Config::new(Version::V3, VrId::new(51).unwrap(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
//! let mut router = Router::new(cfg, Instant::now()).unwrap();
//! loop {
//!     while let Some(tx) = router.poll_transmit() { /* encode with the codec and send */ let _ = tx; }
//!     while let Some(action) = router.poll_action() { /* add/remove VIPs */ let _ = action; }
//!     while let Some(event) = router.poll_event() { /* log, notify */ let _ = event; }
//!     let deadline = router.poll_timeout();
//!     // wait for a packet or the deadline, then:
//!     // router.handle_advert(Instant::now(), advert) or router.handle_timeout(Instant::now())
//!     # let _ = deadline; break;
//! }
//! ```
//!
//! # Deviations and choices (documented)
//! - A master hearing a lower-priority advertisement re-advertises at once by default
//!   (keepalived); RFC 9568 section 6.4.3 says discard: see [`LowerPriorityPolicy`].
//! - Fault is not an RFC state. A master entering Fault because of tracking (link still up)
//!   sends a priority-0 advertisement first, as on shutdown, so a backup takes over after
//!   Skew_Time; on link down nothing can be sent, and the backups take over after
//!   Master_Down_Interval. Leaving Fault processes the Startup event (RFC 9568 section 6.4.1):
//!   Master if owner, else Backup.
//! - A backup whose priority is raised above the known master's (and which may preempt now)
//!   takes over at once instead of waiting for the master's next advertisement to be
//!   discarded.
//! - heartbeat timings ([`Config::dead_interval`], [`Config::initial_dead_interval`],
//!   [`Config::warn_interval`]): a configured Master_Down_Interval replaces RFC 9568
//!   section 6.1's formula (`deadtime`), the first wait after startup may be longer
//!   (`initdead`), and a backup reports a late master ([`Event::LateAdvert`], `warntime`).
//!   Without them the RFC timing holds unchanged.
//! - `preempt_delay` (keepalived): preemption is deferred until `preempt_delay` after the
//!   router last entered Backup; until then lower-priority advertisements are accepted as with
//!   `nopreempt`, afterwards they are discarded and the Master_Down_Timer decides.
//! - [`Config::higher_priority_advert`] (keepalived `higher_prio_send_advert`, off by
//!   default): a master stepping down for a better advertisement sends one of its own first.

mod config;
#[cfg(test)]
mod heartbeat_tests;
mod io;
pub mod timing;

use core::time::Duration;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// The one drop-reason type of the crate (the codec's and the router's reasons).
pub use crate::DropReason;
pub use config::{Config, ConfigError, LowerPriorityPolicy, MAX_PREEMPT_DELAY, PriorityError};
pub use io::{
    Action, Counters, Destination, Event, RxAdvert, State, TrackId, TransitionKind,
    TransitionReason, Transmit,
};
pub use timing::{master_down_interval, skew_time};

use crate::types::{AdvertInterval, Priority, Version};
use crate::wire::{MULTICAST_V4, MULTICAST_V6};

/// What will be reported if the Master_Down_Timer expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownCause {
    /// Silence; the last accepted master, if any.
    Silence(Option<IpAddr>),
    /// The master sent priority 0.
    PriorityZero(IpAddr),
    /// We are discarding a lower-priority master's adverts to preempt it.
    Preempting(IpAddr, Priority),
}

/// The master a backup last accepted an advertisement from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KnownMaster {
    addr: IpAddr,
    priority: Priority,
}

/// One VRRP virtual router instance. See the [module docs](self) for the call order.
///
/// Its methods by class (the shape of every sans-io machine in the workspace):
/// - constructors: [`new`](Self::new), [`new_in_fault`](Self::new_in_fault);
/// - queries: [`config`](Self::config), [`state`](Self::state),
///   [`priority`](Self::priority), [`master_adver_interval`](Self::master_adver_interval),
///   [`skew_time`](Self::skew_time), [`master_down_interval`](Self::master_down_interval),
///   [`known_master`](Self::known_master), [`counters`](Self::counters),
///   [`is_stopped`](Self::is_stopped), [`track_fault`](Self::track_fault),
///   [`link_up`](Self::link_up);
/// - inputs: [`handle_timeout`](Self::handle_timeout),
///   [`handle_advert`](Self::handle_advert), [`handle_link`](Self::handle_link);
/// - mutators (commands): [`set_priority`](Self::set_priority),
///   [`set_fault`](Self::set_fault), [`clear_fault`](Self::clear_fault),
///   [`force_master`](Self::force_master), [`force_backup`](Self::force_backup),
///   [`release_preempt_hold`](Self::release_preempt_hold), [`shutdown`](Self::shutdown);
/// - outputs: [`poll_transmit`](Self::poll_transmit), [`poll_action`](Self::poll_action),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
#[derive(Debug, Clone)]
pub struct Router {
    cfg: Config,
    priority: Priority,
    state: State,
    /// The one timer of the current state: the startup delay (Initialize), the
    /// Master_Down_Timer (Backup) or the Adver_Timer (Master).
    timer: Option<Instant>,
    /// Master_Adver_Interval (RFC 9568 section 6.1), in the version's unit.
    master_adver_interval: AdvertInterval,
    master: Option<KnownMaster>,
    down_cause: DownCause,
    /// Preemption is deferred until this instant (keepalived's preempt_delay).
    preempt_after: Instant,
    link_up: bool,
    track_fault: Option<TrackId>,
    /// Set by [`Router::force_backup`]: behave as `nopreempt` until the next Master or Startup.
    hold_preempt: bool,
    /// No Startup event has been processed yet: its wait uses `initial_dead_interval`.
    first_startup: bool,
    /// When a backup reports a late master (`warn_interval`), unless an advert comes first.
    warn_at: Option<Instant>,
    /// When the backup last heard its master (the start of the current silence).
    last_heard: Instant,
    stopped: bool,
    last_now: Instant,
    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Router {
    /// Creates a router in Initialize and schedules the Startup event after
    /// `config.startup_delay` (at once if zero: the outputs of the Startup event are then
    /// already queued).
    pub fn new(config: Config, now: Instant) -> Result<Router, ConfigError> {
        let mut r = Router::idle(config, now)?;
        if r.cfg.startup_delay.is_zero() {
            r.startup(now, TransitionReason::Startup);
        } else {
            r.timer = Some(now + r.cfg.startup_delay);
        }
        Ok(r)
    }

    /// Creates a router that starts in Fault because of tracking check `track` (a tracked
    /// interface or script already failing when the instance is configured): it goes from
    /// Initialize to Fault at once (queued outputs: the transition and
    /// [`Action::EnterFault`]), and runs the Startup event (RFC 9568 section 6.4.1) when
    /// [`Router::clear_fault`] is called, without any `startup_delay`. Never sends anything
    /// before that.
    pub fn new_in_fault(
        config: Config,
        now: Instant,
        track: TrackId,
    ) -> Result<Router, ConfigError> {
        let mut r = Router::idle(config, now)?;
        r.set_fault(now, track);
        Ok(r)
    }

    /// A validated router in Initialize with no timer.
    fn idle(config: Config, now: Instant) -> Result<Router, ConfigError> {
        config.validate()?;
        let per_advert = config.peers.len().max(1);
        let r = Router {
            priority: config.priority,
            state: State::Initialize,
            timer: None,
            master_adver_interval: config.advert_interval,
            master: None,
            down_cause: DownCause::Silence(None),
            preempt_after: now,
            link_up: true,
            track_fault: None,
            hold_preempt: false,
            first_startup: true,
            warn_at: None,
            last_heard: now,
            stopped: false,
            last_now: now,
            // Capacity for a few events' worth of outputs, so the hot paths never allocate
            // as long as the caller drains after each input.
            transmits: VecDeque::with_capacity(4 * per_advert),
            actions: VecDeque::with_capacity(4),
            events: VecDeque::with_capacity(4),
            counters: Counters::default(),
            cfg: config,
        };
        Ok(r)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The current priority (the configured one, or the last [`Router::set_priority`]).
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Master_Adver_Interval: the configured interval, or as learned from the master (v3).
    pub fn master_adver_interval(&self) -> AdvertInterval {
        self.master_adver_interval
    }

    /// Skew_Time with the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.priority, self.master_adver_interval)
    }

    /// Master_Down_Interval with the current priority and Master_Adver_Interval, or the
    /// configured [`Config::dead_interval`] (heartbeat's `deadtime`, a deliberate deviation
    /// from RFC 9568 section 6.1) when set.
    pub fn master_down_interval(&self) -> Duration {
        self.cfg
            .dead_interval
            .unwrap_or_else(|| master_down_interval(self.priority, self.master_adver_interval))
    }

    /// The master this backup last accepted an advertisement from, with its priority.
    pub fn known_master(&self) -> Option<(IpAddr, Priority)> {
        self.master.map(|m| (m.addr, m.priority))
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether [`Router::shutdown`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The next advertisement to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next action for the host.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether [`Router::poll_transmit`], [`Router::poll_action`] or [`Router::poll_event`]
    /// has something queued (an embedder driving many routers can skip the idle ones).
    #[must_use]
    pub fn has_output(&self) -> bool {
        !(self.transmits.is_empty() && self.actions.is_empty() && self.events.is_empty())
    }

    /// When to call [`Router::handle_timeout`]; `None` when no timer runs (Fault, stopped).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timer, self.warn_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the current state's timer if it is due; a no-op before the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        // heartbeat's warntime (not RFC): the master has been silent for warn_interval; one
        // report per silence. Before the Master_Down_Timer, which may end the silence.
        if let Some(at) = self.warn_at
            && at <= now
        {
            self.warn_at = None;
            if self.state == State::Backup {
                self.counters.late_adverts += 1;
                self.events.push_back(Event::LateAdvert {
                    master: self.master.map(|m| m.addr),
                    silent_for: now.saturating_duration_since(self.last_heard),
                });
            }
        }
        let Some(deadline) = self.timer.filter(|t| *t <= now) else {
            return;
        };
        match self.state {
            // RFC 9568 section 6.4.1 / RFC 3768 section 6.4.1: the Startup event, after the
            // configured startup delay.
            State::Initialize => self.startup(now, TransitionReason::Startup),
            // RFC 9568 section 6.4.2 / RFC 3768 section 6.4.2: "If the Master_Down_Timer
            // fires": send an advertisement, announce, start Adver_Timer, become Master.
            State::Backup => {
                let reason = match self.down_cause {
                    DownCause::Silence(last_master) => TransitionReason::MasterDown { last_master },
                    DownCause::PriorityZero(from) => TransitionReason::PriorityZero { from },
                    DownCause::Preempting(master, priority) => {
                        TransitionReason::Preempt { master, priority }
                    }
                };
                self.become_master(now, reason);
            }
            // RFC 9568 section 6.4.3 / RFC 3768 section 6.4.3: "If the Adver_Timer fires":
            // send an advertisement and reset the Adver_Timer.
            // The Adver_Timer keeps its grid: a late wake sends at once and the next advert is
            // due on the next tick of the original schedule, so lateness never accumulates into
            // drift; ticks missed entirely are skipped, not sent in a burst.
            State::Master => {
                self.send_advert(self.priority);
                self.timer = Some(next_tick(
                    deadline,
                    now,
                    self.cfg.advert_interval.to_duration(),
                ));
            }
            // Fault runs no timer; a stale one is cleared.
            State::Fault => self.timer = None,
        }
    }

    /// Feeds a received advertisement that passed the codec's validation.
    pub fn handle_advert(&mut self, now: Instant, adv: RxAdvert) {
        let now = self.clock(now);
        self.counters.adverts_received += 1;
        if let Err(reason) = self.check(&adv) {
            self.counters.count_drop(reason);
            return;
        }
        match self.state {
            State::Backup => self.backup_rx(now, adv),
            State::Master => self.master_rx(now, adv),
            // Excluded by check().
            State::Initialize | State::Fault => {}
        }
    }

    /// Changes the priority at runtime (tracking weights). The caller clamps to 1..=254; the
    /// address owner's priority is fixed at 255.
    ///
    /// A master advertises the new priority at once, so a backup that may now preempt hears
    /// it without waiting for the next Adver_Timer. A backup whose new priority is above the
    /// known master's takes over at once if it may preempt now.
    pub fn set_priority(&mut self, now: Instant, priority: Priority) -> Result<(), PriorityError> {
        let now = self.clock(now);
        let vrid = self.cfg.vrid;
        if self.cfg.address_owner && priority != Priority::OWNER {
            return Err(PriorityError::OwnerFixed {
                vrid,
                requested: priority,
            });
        }
        match priority {
            Priority::STOP => return Err(PriorityError::Zero { vrid }),
            Priority::OWNER if !self.cfg.address_owner => {
                return Err(PriorityError::Reserved { vrid });
            }
            _ => {}
        }
        if priority == self.priority {
            return Ok(());
        }
        self.priority = priority;
        match self.state {
            // RFC 9568 section 6.4.3: a master's adverts carry its priority; sending the new one
            // now (and resetting the Adver_Timer) lets a backup of now-higher priority
            // discard it and preempt (section 6.4.2) a full interval sooner.
            State::Master => {
                self.send_advert(priority);
                self.timer = Some(now + self.cfg.advert_interval.to_duration());
            }
            // RFC 9568 section 6.4.2 (Preempt_Mode): a backup of higher priority than the
            // master preempts it; done at once rather than after the next discarded advert.
            State::Backup => {
                if let Some(m) = self.master
                    && priority > m.priority
                    && self.may_preempt(now)
                {
                    self.become_master(
                        now,
                        TransitionReason::PriorityRaised {
                            master: m.addr,
                            priority: m.priority,
                        },
                    );
                }
            }
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    /// Reports the interface's link state. Down enters Fault (nothing can be sent, so a
    /// master leaves without a priority-0 advertisement); up leaves Fault unless a tracking
    /// fault remains.
    pub fn handle_link(&mut self, now: Instant, up: bool) {
        let now = self.clock(now);
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if up {
            self.leave_fault(now, TransitionReason::LinkUp);
        } else {
            self.enter_fault(TransitionReason::LinkDown);
        }
    }

    /// Enters Fault because of tracking check `track` (interface, script, ...). A master sends
    /// a priority-0 advertisement first if the link is up.
    pub fn set_fault(&mut self, now: Instant, track: TrackId) {
        let _ = self.clock(now);
        self.track_fault = Some(track);
        self.enter_fault(TransitionReason::TrackingFault(track));
    }

    /// Clears the tracking fault; leaves Fault if the link is up.
    pub fn clear_fault(&mut self, now: Instant) {
        let now = self.clock(now);
        if self.track_fault.take().is_some() {
            self.leave_fault(now, TransitionReason::TrackingCleared);
        }
    }

    /// The tracking fault set by [`Router::set_fault`] and not yet cleared.
    pub fn track_fault(&self) -> Option<TrackId> {
        self.track_fault
    }

    /// Whether the interface's link is up (as last reported to [`Router::handle_link`]).
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Forces a Backup to Master at once, as if its Master_Down_Timer had fired (not an RFC
    /// event: keepalived's `vrrp_sync_group`, where one member becoming master drives the
    /// others). The transition's reason is [`TransitionReason::Forced`]. Returns whether the
    /// router transitioned (only a running Backup does).
    pub fn force_master(&mut self, now: Instant) -> bool {
        let now = self.clock(now);
        if self.stopped || self.state != State::Backup {
            return false;
        }
        // As RFC 9568 section 6.4.2 "If the Master_Down_Timer fires": advertise, announce,
        // start the Adver_Timer, become Master.
        self.become_master(now, TransitionReason::Forced);
        true
    }

    /// Forces a Master to Backup (not an RFC event: a sync group member stepped down, or the
    /// embedder's takeover failed). Like leaving Master on Shutdown (RFC 9568 section 6.4.3)
    /// a priority-0 advertisement is sent first when the link is up, so a backup elsewhere
    /// takes over after Skew_Time. Until the router next becomes Master or starts up again it
    /// behaves as `nopreempt` (it follows a lower-priority master instead of preempting it
    /// straight back); the Master_Down_Timer still runs, so silence still makes it master.
    /// The transition's reason is [`TransitionReason::Forced`]. Returns whether the router
    /// transitioned (only a running Master does).
    pub fn force_backup(&mut self, now: Instant) -> bool {
        let now = self.clock(now);
        if self.stopped || self.state != State::Master {
            return false;
        }
        if self.link_up {
            self.send_advert(Priority::STOP);
        }
        self.master = None;
        self.down_cause = DownCause::Silence(None);
        self.become_backup(now, self.cfg.advert_interval, TransitionReason::Forced);
        self.hold_preempt = true;
        true
    }

    /// Ends the `nopreempt` behaviour that [`Router::force_backup`] began, before the router
    /// next becomes Master: the configured Preempt_Mode (RFC 9568 section 6.1) applies again.
    /// A backup that may preempt a known master of lower priority takes over at once, as
    /// [`Router::set_priority`] does (reason [`TransitionReason::Preempt`]). Returns whether
    /// the router transitioned.
    pub fn release_preempt_hold(&mut self, now: Instant) -> bool {
        let now = self.clock(now);
        if !self.hold_preempt {
            return false;
        }
        self.hold_preempt = false;
        if self.stopped || self.state != State::Backup {
            return false;
        }
        match self.master {
            // RFC 9568 section 6.4.2 (Preempt_Mode): a backup of higher priority preempts.
            Some(m) if self.priority > m.priority && self.may_preempt(now) => {
                self.become_master(
                    now,
                    TransitionReason::Preempt {
                        master: m.addr,
                        priority: m.priority,
                    },
                );
                true
            }
            _ => false,
        }
    }

    /// Shuts down: a master sends a priority-0 advertisement (RFC 9568 section 6.4.3,
    /// "If a Shutdown event is received"); every state goes to Initialize and stays there.
    /// Create a new router to start again.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = self.clock(now);
        if self.stopped {
            return;
        }
        self.stopped = true;
        let from = self.state;
        match from {
            // RFC 9568 section 6.4.3 / RFC 3768 section 6.4.3: cancel the Adver_Timer, send an
            // advertisement with priority 0, transition to Initialize.
            State::Master => {
                if self.link_up {
                    self.send_advert(Priority::STOP);
                }
            }
            // RFC 9568 section 6.4.2 / RFC 3768 section 6.4.2: cancel the Master_Down_Timer,
            // transition to Initialize.
            State::Backup | State::Fault | State::Initialize => {}
        }
        self.timer = None;
        self.master = None;
        if from != State::Initialize {
            self.transition(State::Initialize, TransitionReason::Shutdown);
            self.actions.push_back(Action::Stop);
        }
    }

    // --- internals ---

    fn clock(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    fn may_preempt(&self, now: Instant) -> bool {
        // RFC 9568 section 6.1 (Preempt_Mode): "the router that owns the IPvX address ...
        // always preempts, independent of the setting of this flag".
        self.cfg.address_owner
            || (self.cfg.preempt && !self.hold_preempt && now >= self.preempt_after)
    }

    /// The receive checks that apply in every state (RFC 9568 section 7.1 beyond what the
    /// codec checks, RFC 3768 section 7.1).
    fn check(&self, adv: &RxAdvert) -> Result<(), DropReason> {
        // RFC 9568 section 6.4.1: in Initialize the router only waits for the Startup event.
        if self.stopped || self.state == State::Initialize {
            return Err(DropReason::NotRunning);
        }
        // Fault is not an RFC state: the router does not take part until it leaves Fault.
        if self.state == State::Fault {
            return Err(DropReason::InFault);
        }
        // RFC 9568 section 7.1 / RFC 3768 section 7.1: "MUST verify that the VRRP version
        // field is 3" (2 for v2); the interval's unit follows the version.
        if adv.version != self.cfg.version || adv.interval.version() != self.cfg.version {
            return Err(DropReason::BadVersion);
        }
        // RFC 9568 section 7.1: "MUST verify that the VRID is configured on the receiving
        // interface"; a runtime normally demultiplexes by VRID before this.
        if adv.vrid != self.cfg.vrid {
            return Err(DropReason::VridMismatch);
        }
        // RFC 9568 section 5.1: a virtual router is either IPv4 or IPv6; the other family's
        // adverts belong to another virtual router.
        if adv.src.is_ipv4() != self.cfg.primary_address.is_ipv4() {
            return Err(DropReason::FamilyMismatch);
        }
        // Our own advertisement looped back (multicast loopback, a bridge): acting on it
        // would make a master compare with itself.
        if adv.src == self.cfg.primary_address {
            return Err(DropReason::OwnAdvert);
        }
        // keepalived's unicast_peer: only configured peers are heard.
        if !self.cfg.peers.is_empty() && !self.cfg.peers.contains(&adv.src) {
            return Err(DropReason::NotFromPeer);
        }
        match adv.interval {
            // RFC 3768 section 7.1: "MUST verify that the Adver Interval in the packet is the
            // same as the locally configured for this virtual router".
            AdvertInterval::V2(_) if adv.interval != self.cfg.advert_interval => {
                Err(DropReason::IntervalMismatch)
            }
            // RFC 9568 section 5.2.7 gives no meaning to 0; accepting it would make
            // Master_Down_Interval zero and the backup fire at once.
            AdvertInterval::V3(cs) if cs.get() == 0 => Err(DropReason::ZeroInterval),
            _ => Ok(()),
        }
    }

    /// RFC 9568 section 6.4.2 / RFC 3768 section 6.4.2: "If an ADVERTISEMENT is received" in
    /// Backup.
    fn backup_rx(&mut self, now: Instant, adv: RxAdvert) {
        if adv.priority == Priority::STOP {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer
            // to Skew_Time."
            self.counters.priority_zero_received += 1;
            self.timer = Some(now + self.skew_time());
            self.down_cause = DownCause::PriorityZero(adv.src);
            self.master = None;
            // The master said it leaves: its silence is not late.
            self.warn_at = None;
        } else if !self.may_preempt(now) || adv.priority >= self.priority {
            // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater
            // than or equal to the local Priority, then:" (v3) "Set Master_Adver_Interval to
            // Adver Interval contained in the ADVERTISEMENT, Recompute the
            // Master_Down_Interval"; (v2 and v3) "Reset the Master_Down_Timer to
            // Master_Down_Interval". A v2 advert's interval equals ours (checked above), so
            // learning it changes nothing for v2.
            self.master_adver_interval = adv.interval;
            self.timer = Some(now + self.master_down_interval());
            self.master = Some(KnownMaster {
                addr: adv.src,
                priority: adv.priority,
            });
            self.down_cause = DownCause::Silence(Some(adv.src));
            self.heard(now);
        } else {
            // "Else (Priority in the ADVERTISEMENT is less than the local Priority and
            // Preempt_Mode is True): Discard the ADVERTISEMENT." The Master_Down_Timer then
            // expires and this router preempts.
            self.counters.count_drop(DropReason::LowerPriority);
            self.master = Some(KnownMaster {
                addr: adv.src,
                priority: adv.priority,
            });
            self.down_cause = DownCause::Preempting(adv.src, adv.priority);
            self.heard(now);
        }
    }

    /// RFC 9568 section 6.4.3 / RFC 3768 section 6.4.3: "If an ADVERTISEMENT is received" in
    /// Master.
    fn master_rx(&mut self, now: Instant, adv: RxAdvert) {
        if adv.priority == Priority::STOP {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT,
            // Reset the Adver_Timer to Advertisement_Interval."
            self.counters.priority_zero_received += 1;
            self.send_advert(self.priority);
            self.timer = Some(now + self.cfg.advert_interval.to_duration());
        } else if adv.priority > self.priority {
            // "If the Priority in the ADVERTISEMENT is greater than the local Priority ...
            // Cancel Adver_Timer, Set Master_Adver_Interval to Adver Interval contained in the
            // ADVERTISEMENT, Recompute the Skew_Time and Master_Down_Interval, Set
            // Master_Down_Timer to Master_Down_Interval, Transition to the {Backup} state."
            // With `higher_priority_advert` (keepalived), one last advert first.
            if self.cfg.higher_priority_advert {
                self.send_advert(self.priority);
            }
            self.step_down(
                now,
                adv,
                TransitionReason::HigherPriority {
                    from: adv.src,
                    priority: adv.priority,
                },
            );
        } else if adv.priority == self.priority && adv.src > self.cfg.primary_address {
            // "... or if the Priority in the ADVERTISEMENT is equal to the local Priority and
            // the primary IPvX address of the sender is greater than the local primary IPvX
            // address" (same family, compared as unsigned integers in network order): the
            // same consequences as above, the last advert included.
            if self.cfg.higher_priority_advert {
                self.send_advert(self.priority);
            }
            self.step_down(
                now,
                adv,
                TransitionReason::AddressTieBreak { from: adv.src },
            );
        } else {
            match self.cfg.lower_priority {
                // keepalived: answer at once so the lower-priority router, which thinks it is
                // master, steps down (RFC 9568 section 6.4.3 says discard; see
                // LowerPriorityPolicy).
                LowerPriorityPolicy::Readvertise => {
                    self.send_advert(self.priority);
                    self.timer = Some(now + self.cfg.advert_interval.to_duration());
                }
                // RFC 9568 section 6.4.3: "Otherwise (the Priority ... is less ... or equal
                // ... and the primary IPvX address of the sender is less ...): Discard the
                // ADVERTISEMENT."
                LowerPriorityPolicy::Discard => self.counters.count_drop(DropReason::LowerPriority),
            }
        }
    }

    fn step_down(&mut self, now: Instant, adv: RxAdvert, reason: TransitionReason) {
        self.master = Some(KnownMaster {
            addr: adv.src,
            priority: adv.priority,
        });
        self.become_backup(now, adv.interval, reason);
        self.down_cause = DownCause::Silence(Some(adv.src));
        self.heard(now);
    }

    /// A backup heard its master at `now`: a new silence starts (heartbeat's warntime).
    fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.warn_at = match self.state {
            State::Backup => self.cfg.warn_interval.map(|w| now + w),
            _ => None,
        };
    }

    /// RFC 9568 section 6.4.1 / RFC 3768 section 6.4.1: the Startup event.
    fn startup(&mut self, now: Instant, reason: TransitionReason) {
        self.hold_preempt = false;
        if self.priority == Priority::OWNER {
            // "If the Priority = 255 (i.e., the router owns the IPvX address associated with
            // the virtual router), then: Send an ADVERTISEMENT, (announce), Set the Adver_Timer
            // to Advertisement_Interval, Transition to the {Master} state."
            self.become_master(now, reason);
        } else {
            // "Else: Set Master_Adver_Interval to Advertisement_Interval, Set the
            // Master_Down_Timer to Master_Down_Interval, Transition to the {Backup} state."
            self.master = None;
            self.down_cause = DownCause::Silence(None);
            self.become_backup(now, self.cfg.advert_interval, reason);
            // heartbeat's initdead (not RFC): the first wait after the first Startup event
            // may be longer than Master_Down_Interval, so a node booting alone waits for
            // its peer.
            if self.first_startup
                && let Some(initial) = self.cfg.initial_dead_interval
            {
                self.timer = Some(now + initial);
            }
        }
        self.first_startup = false;
    }

    fn become_master(&mut self, now: Instant, reason: TransitionReason) {
        self.hold_preempt = false;
        self.send_advert(self.priority);
        self.timer = Some(now + self.cfg.advert_interval.to_duration());
        self.master = None;
        self.transition(State::Master, reason);
        self.actions.push_back(Action::BecomeMaster {
            accept_mode: self.cfg.accept_mode,
        });
    }

    fn become_backup(&mut self, now: Instant, interval: AdvertInterval, reason: TransitionReason) {
        self.master_adver_interval = match self.cfg.version {
            Version::V3 => interval,
            Version::V2 => self.cfg.advert_interval,
        };
        self.timer = Some(now + self.master_down_interval());
        self.preempt_after = now + self.cfg.preempt_delay;
        self.transition(State::Backup, reason);
        self.actions.push_back(Action::BecomeBackup);
    }

    fn enter_fault(&mut self, reason: TransitionReason) {
        if self.stopped || self.state == State::Fault {
            return;
        }
        if self.state == State::Master && self.link_up {
            // Not an RFC state: treated like the Shutdown event of RFC 9568 section 6.4.3
            // (send priority 0) when the link can still carry it.
            self.send_advert(Priority::STOP);
        }
        self.timer = None;
        self.master = None;
        self.transition(State::Fault, reason);
        self.actions.push_back(Action::EnterFault);
    }

    fn leave_fault(&mut self, now: Instant, reason: TransitionReason) {
        if self.stopped || self.state != State::Fault || !self.link_up || self.track_fault.is_some()
        {
            return;
        }
        // Leaving Fault is a Startup event (RFC 9568 section 6.4.1): Master if owner, else
        // Backup.
        self.startup(now, reason);
    }

    fn transition(&mut self, to: State, reason: TransitionReason) {
        let from = self.state;
        self.state = to;
        // A late-advert warning belongs to one period as backup, following a known master.
        self.warn_at = None;
        self.counters.count_transition(reason.kind());
        self.events
            .push_back(Event::Transition { from, to, reason });
    }

    fn send_advert(&mut self, priority: Priority) {
        self.counters.adverts_sent += 1;
        if priority == Priority::STOP {
            self.counters.priority_zero_sent += 1;
        }
        let base = Transmit {
            destination: Destination::Multicast(self.cfg.multicast_group.unwrap_or(
                match self.cfg.primary_address {
                    IpAddr::V4(_) => IpAddr::V4(MULTICAST_V4),
                    IpAddr::V6(_) => IpAddr::V6(MULTICAST_V6),
                },
            )),
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval: self.cfg.advert_interval,
        };
        if self.cfg.peers.is_empty() {
            self.transmits.push_back(base);
        } else {
            for &peer in &self.cfg.peers {
                self.transmits.push_back(Transmit {
                    destination: Destination::Unicast(peer),
                    ..base
                });
            }
        }
    }
}

#[cfg(test)]
mod force_tests {
    use super::*;
    use crate::types::VrId;
    use std::net::Ipv4Addr;

    fn router(prio: u8, now: Instant) -> Router {
        let mut cfg = Config::new(
            Version::V3,
            VrId::new(7).unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        cfg.priority = Priority(prio);
        Router::new(cfg, now).unwrap()
    }

    fn drain(r: &mut Router) -> (Vec<Transmit>, Vec<Action>, Vec<Event>) {
        (
            core::iter::from_fn(|| r.poll_transmit()).collect(),
            core::iter::from_fn(|| r.poll_action()).collect(),
            core::iter::from_fn(|| r.poll_event()).collect(),
        )
    }

    #[test]
    fn a_late_advert_timer_sends_at_once_and_stays_on_the_grid() {
        // RFC 9568 section 6.4.3: the Adver_Timer fires every Advertisement_Interval; a wake
        // that comes late must not shift every later advert.
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = router(100, t0);
        assert!(r.force_master(t0));
        let _ = drain(&mut r);
        assert_eq!(r.poll_timeout(), Some(t0 + ms(1000)));
        r.handle_timeout(t0 + ms(1300));
        assert_eq!(drain(&mut r).0.len(), 1, "the late tick sends at once");
        assert_eq!(r.poll_timeout(), Some(t0 + ms(2000)));
        r.handle_timeout(t0 + ms(4500));
        assert_eq!(
            drain(&mut r).0.len(),
            1,
            "missed ticks are not sent in a burst"
        );
        assert_eq!(r.poll_timeout(), Some(t0 + ms(5000)));
    }

    #[test]
    fn force_master_from_backup_only() {
        let t0 = Instant::now();
        let mut r = router(100, t0);
        let _ = drain(&mut r);
        assert!(r.force_master(t0 + Duration::from_millis(10)));
        let (tx, actions, events) = drain(&mut r);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].priority, Priority(100));
        assert_eq!(actions, vec![Action::BecomeMaster { accept_mode: false }]);
        assert_eq!(
            events,
            vec![Event::Transition {
                from: State::Backup,
                to: State::Master,
                reason: TransitionReason::Forced
            }]
        );
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(1010)));
        // Already master: nothing.
        assert!(!r.force_master(t0));
        assert_eq!(drain(&mut r).2, vec![]);
        // Fault: nothing.
        r.set_fault(t0, TrackId(1));
        let _ = drain(&mut r);
        assert!(!r.force_master(t0));
        assert!(!r.force_backup(t0));
        assert_eq!(r.track_fault(), Some(TrackId(1)));
        assert_eq!(r.counters().transitions(TransitionKind::Forced), 1);
    }

    #[test]
    fn new_in_fault_starts_on_clear() {
        let t0 = Instant::now();
        let mut cfg = Config::new(
            Version::V3,
            VrId::new(7).unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        cfg.priority = Priority::OWNER;
        cfg.address_owner = true;
        cfg.startup_delay = Duration::from_secs(3);
        let mut r = Router::new_in_fault(cfg, t0, TrackId(4)).unwrap();
        let (tx, actions, events) = drain(&mut r);
        assert!(tx.is_empty());
        assert_eq!(actions, vec![Action::EnterFault]);
        assert_eq!(
            events,
            vec![Event::Transition {
                from: State::Initialize,
                to: State::Fault,
                reason: TransitionReason::TrackingFault(TrackId(4))
            }]
        );
        assert_eq!(r.poll_timeout(), None);
        r.clear_fault(t0 + Duration::from_secs(1));
        assert_eq!(r.state(), State::Master);
        assert_eq!(drain(&mut r).0.len(), 1);
    }

    #[test]
    fn adverts_go_to_the_configured_multicast_group() {
        let t0 = Instant::now();
        let mut cfg = Config::new(
            Version::V3,
            VrId::new(7).unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        cfg.priority = Priority::OWNER;
        cfg.address_owner = true;
        let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 42));
        cfg.multicast_group = Some(group);
        let mut r = Router::new(cfg.clone(), t0).unwrap();
        let (tx, _, _) = drain(&mut r);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].destination, Destination::Multicast(group));
        // Not multicast, or of the other family: refused, naming the group.
        for bad in ["10.0.0.9", "ff02::12"] {
            cfg.multicast_group = Some(bad.parse().unwrap());
            assert!(matches!(
                cfg.validate(),
                Err(super::config::ConfigError::InvalidMulticastGroup { .. })
            ));
        }
    }

    #[test]
    fn force_backup_sends_priority_zero_and_holds_preemption() {
        let t0 = Instant::now();
        let mut r = router(200, t0);
        assert!(r.force_master(t0));
        let _ = drain(&mut r);
        assert!(r.force_backup(t0));
        let (tx, actions, events) = drain(&mut r);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].priority, Priority::STOP);
        assert_eq!(actions, vec![Action::BecomeBackup]);
        assert_eq!(
            events,
            vec![Event::Transition {
                from: State::Master,
                to: State::Backup,
                reason: TransitionReason::Forced
            }]
        );
        // A lower-priority master is followed, not preempted, while held.
        let lower = RxAdvert::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
            VrId::new(7).unwrap(),
            Priority(100),
            r.config().advert_interval,
        );
        let t1 = t0 + Duration::from_millis(500);
        r.handle_advert(t1, lower);
        assert_eq!(r.known_master().map(|m| m.1), Some(Priority(100)));
        assert_eq!(r.poll_timeout(), Some(t1 + r.master_down_interval()));
        assert_eq!(r.counters().dropped(DropReason::LowerPriority), 0);
        // Silence still makes it master.
        let t2 = t1 + r.master_down_interval();
        r.handle_timeout(t2);
        assert_eq!(r.state(), State::Master);
        // And after being master again, preemption is back.
        assert!(r.force_backup(t2));
        assert!(r.force_master(t2));
        let _ = drain(&mut r);
        r.handle_link(t2, false);
        r.handle_link(t2, true);
        let _ = drain(&mut r);
        r.handle_advert(t2, lower);
        assert_eq!(r.counters().dropped(DropReason::LowerPriority), 1);
    }
}

/// The first tick of the grid `deadline + k * interval` (k >= 1) that is after `now`.
fn next_tick(deadline: Instant, now: Instant, interval: Duration) -> Instant {
    let late = now.saturating_duration_since(deadline);
    if interval.is_zero() {
        return now;
    }
    if late < interval {
        return deadline + interval;
    }
    match u32::try_from(late.as_nanos() / interval.as_nanos() + 1) {
        Ok(k) => deadline + interval * k,
        Err(_) => now + interval,
    }
}

#[cfg(test)]
mod grid_tests {
    use super::*;

    #[test]
    fn a_late_master_tick_keeps_the_advert_grid() {
        let t0 = Instant::now();
        let d = Duration::from_millis(10);
        let ms = Duration::from_millis;
        // On time, a little late, and so late that ticks were missed: always back on the grid.
        assert_eq!(next_tick(t0, t0, d), t0 + d);
        assert_eq!(next_tick(t0, t0 + ms(4), d), t0 + d);
        assert_eq!(next_tick(t0, t0 + ms(10), d), t0 + 2 * d);
        assert_eq!(next_tick(t0, t0 + ms(37), d), t0 + 4 * d);
        assert_eq!(next_tick(t0, t0 + ms(3), Duration::ZERO), t0 + ms(3));
    }
}
