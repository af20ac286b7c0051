//! One BFD session to one peer (RFC 5880 §6, single hop per RFC 5881), sans-io.
//!
//! # RFC 5880 sections and where they live
//!
//! | section | what | here |
//! |---|---|---|
//! | §6.2 | the state machine (Down, Init, Up, AdminDown) | [`Session::handle_packet`], `set_state` |
//! | §6.5 | the Poll Sequence | `start_poll_if_needed`, the F branch of `handle_packet` |
//! | §6.8.1 | state variables | the fields of [`Session`] |
//! | §6.8.2 | timer negotiation | `tx_interval` |
//! | §6.8.3 | timer changes (1 s while not Up, Poll on change) | `advertised_tx`, [`Session::set_timers`] |
//! | §6.8.4 | detection time | [`Session::detection_time`], `expire` |
//! | §6.8.6 | reception of Control packets | [`Session::handle_packet`] |
//! | §6.8.7 | transmission, jitter | [`jittered`], [`Session::handle_timeout`], `build` |
//! | §6.8.16 | administrative control | [`Session::admin_down`], [`Session::admin_up`] |
//!
//! # Call order
//!
//! Feed inputs with [`Session::handle_packet`] / [`Session::handle_bytes`] and
//! [`Session::handle_timeout`]; after each, drain [`Session::poll_transmit`] (send each packet
//! to the peer's port 3784) and [`Session::poll_event`]; then sleep until
//! [`Session::poll_timeout`]. `now` must never go backwards. An early `handle_timeout` is a
//! no-op. Not supported: Demand mode, the Echo function, authentication (packets with the A bit
//! are discarded, §6.8.6).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::packet::{self, Bytes, Diagnostic, Flags, ReceptionError, Repr, State};

/// §6.8.3: while not Up, bfd.DesiredMinTxInterval is at least one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// Who starts the session (RFC 5880 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Sends Control packets from the start.
    #[default]
    Active,
    /// Sends nothing until it has heard from the peer (bfd.RemoteDiscr known).
    Passive,
}

/// The timer parameters of a session (RFC 5880 §6.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timers {
    /// bfd.DesiredMinTxInterval: how often we would like to send (non-zero). While the session
    /// is not Up the advertised value is at least one second (§6.8.3).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval: how often we can receive; zero asks the peer not to send.
    pub required_min_rx: Duration,
    /// bfd.DetectMult: non-zero.
    pub detect_mult: u8,
}

impl Default for Timers {
    /// 300 ms, 300 ms, 3 (the defaults of FRR bfdd).
    fn default() -> Self {
        Timers {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

/// The configuration of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// bfd.LocalDiscr: non-zero and unique among the sessions of this system; the driver
    /// draws it.
    pub local_discriminator: NonZeroU32,
    /// Timers and detect multiplier.
    pub timers: Timers,
    /// Active or passive (§6.1).
    pub role: Role,
    /// Seed of the transmit jitter (§6.8.7). Two sessions with the same seed jitter alike.
    pub jitter_seed: u64,
}

impl Config {
    /// Active, default timers, the discriminator as the jitter seed.
    pub fn new(local_discriminator: NonZeroU32) -> Config {
        Config {
            local_discriminator,
            timers: Timers::default(),
            role: Role::Active,
            jitter_seed: u64::from(local_discriminator.get()),
        }
    }
}

/// A configuration the session refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Detect Mult 0 (RFC 5880 §4.1: must be non-zero).
    #[error("detect multiplier must be non-zero")]
    DetectMultZero,
    /// Desired Min TX 0 (RFC 5880 §4.1: "The value zero is reserved").
    #[error("desired min TX interval must be non-zero")]
    DesiredMinTxZero,
    /// An interval that does not fit the 32-bit microsecond field.
    #[error("{field} interval {value:?} exceeds the 32-bit microsecond field (about 71 minutes)")]
    IntervalTooLarge {
        /// Which interval.
        field: &'static str,
        /// Its value.
        value: Duration,
    },
}

impl Timers {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.detect_mult == 0 {
            return Err(ConfigError::DetectMultZero);
        }
        if self.desired_min_tx.is_zero() {
            return Err(ConfigError::DesiredMinTxZero);
        }
        for (field, value) in [
            ("desired min TX", self.desired_min_tx),
            ("required min RX", self.required_min_rx),
        ] {
            if value.as_micros() > u128::from(u32::MAX) {
                return Err(ConfigError::IntervalTooLarge { field, value });
            }
        }
        Ok(())
    }
}

/// What a session reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// bfd.SessionState changed.
    StateChange {
        /// The old state.
        from: State,
        /// The new state.
        to: State,
        /// bfd.LocalDiag after the change: why it went down (1 detection time expired, 3
        /// neighbor signaled down, 7 administratively down), 0 when it came up.
        diagnostic: Diagnostic,
    },
}

/// A packet to send to the peer (UDP port 3784, TTL 255, RFC 5881 §4-§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The packet as values.
    pub repr: Repr,
    /// The packet as bytes.
    pub bytes: Bytes,
}

/// Counters of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets accepted by [`Session::handle_packet`].
    pub rx: u64,
    /// Packets discarded by the §6.8.6 checks.
    pub rx_discarded: u64,
    /// Packets handed out by [`Session::poll_transmit`].
    pub tx: u64,
}

/// One BFD session (RFC 5880 §6.8.1 state variables), sans-io.
#[derive(Debug, Clone)]
pub struct Session {
    config: Config,
    /// bfd.SessionState.
    state: State,
    /// bfd.RemoteSessionState.
    remote_state: State,
    /// bfd.RemoteDiscr.
    remote_discr: u32,
    /// bfd.LocalDiag.
    local_diag: Diagnostic,
    /// The Diag of the last packet received.
    remote_diag: Diagnostic,
    /// bfd.RemoteMinRxInterval (initialised to 1 µs, §6.8.1).
    remote_min_rx: Duration,
    /// The Desired Min TX of the last packet received.
    remote_desired_min_tx: Duration,
    /// The Detect Mult of the last packet received.
    remote_detect_mult: u8,
    /// (desired min TX, required min RX) that the peer is known to use: the last values
    /// confirmed by a Final (§6.5), or simply the current ones while not Up.
    confirmed: (Duration, Duration),
    /// The values carried by the Poll Sequence in progress (§6.5).
    poll: Option<(Duration, Duration)>,
    last_rx: Option<Instant>,
    last_tx: Option<Instant>,
    next_tx: Option<Instant>,
    /// The interval `next_tx` was computed for.
    scheduled_interval: Option<Duration>,
    /// In AdminDown: when to stop sending (§6.8.16).
    admin_down_until: Option<Instant>,
    /// An answer to a Poll is due (§6.8.6: "send a BFD Control packet ... with the Final bit").
    pending_final: bool,
    /// A packet is due now (a periodic one, or at once after a state change or a Poll start).
    pending_send: bool,
    events: VecDeque<Event>,
    rng: u64,
    stats: Stats,
}

/// Reduces `interval` by a random 0-25% (§6.8.7), or to 75-90% when `detect_mult` is 1.
/// `random` is any 64-bit value (the session draws it from its seeded generator).
pub fn jittered(interval: Duration, detect_mult: u8, random: u64) -> Duration {
    let ns = interval.as_nanos();
    let lo = ns * 75 / 100;
    // §6.8.7: "If bfd.DetectMult is equal to 1, the interval between transmitted BFD Control
    // packets MUST be no more than 90% of the negotiated transmission interval".
    let hi = if detect_mult == 1 { ns * 90 / 100 } else { ns };
    let span = hi - lo + 1;
    let ns = lo + u128::from(random) % span;
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// splitmix64: a small deterministic generator for the jitter.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Session {
    /// A session in state Down. An active session sends its first packet at `now`.
    pub fn new(config: Config, now: Instant) -> Result<Session, ConfigError> {
        config.timers.validate()?;
        let mut s = Session {
            config,
            state: State::Down,
            remote_state: State::Down,
            remote_discr: 0,
            local_diag: Diagnostic::NoDiagnostic,
            remote_diag: Diagnostic::NoDiagnostic,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            confirmed: (Duration::ZERO, Duration::ZERO),
            poll: None,
            last_rx: None,
            last_tx: None,
            next_tx: None,
            scheduled_interval: None,
            admin_down_until: None,
            pending_final: false,
            pending_send: false,
            events: VecDeque::new(),
            rng: config.jitter_seed,
            stats: Stats::default(),
        };
        s.confirmed = (s.advertised_tx(), config.timers.required_min_rx);
        if s.may_transmit() {
            s.next_tx = Some(now);
        }
        Ok(s)
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }
    /// bfd.LocalDiag.
    pub fn local_diagnostic(&self) -> Diagnostic {
        self.local_diag
    }
    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    /// The Diag of the last packet received.
    pub fn remote_diagnostic(&self) -> Diagnostic {
        self.remote_diag
    }
    /// bfd.LocalDiscr.
    pub fn local_discriminator(&self) -> NonZeroU32 {
        self.config.local_discriminator
    }
    /// bfd.RemoteDiscr (0 while unknown).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    /// The configuration (with the timers of the last [`set_timers`](Self::set_timers)).
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Whether a Poll Sequence is in progress (§6.5).
    pub fn poll_in_progress(&self) -> bool {
        self.poll.is_some()
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The Desired Min TX we advertise: the configured one, at least 1 s while not Up (§6.8.3).
    fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.config.timers.desired_min_tx
        } else {
            self.config.timers.desired_min_tx.max(SLOW_TX)
        }
    }

    /// The desired min TX in force: an increase waits for the Final of its Poll (§6.8.3).
    fn tx_in_force(&self) -> Duration {
        if self.state == State::Up {
            self.advertised_tx().min(self.confirmed.0)
        } else {
            self.advertised_tx()
        }
    }

    /// The required min RX used for detection: a decrease waits for the Final (§6.8.3).
    fn rx_in_force(&self) -> Duration {
        if self.state == State::Up {
            self.config.timers.required_min_rx.max(self.confirmed.1)
        } else {
            self.config.timers.required_min_rx
        }
    }

    /// §6.8.2 / §6.8.7: the negotiated transmit interval before jitter,
    /// max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval); `None` when the peer asked for
    /// no packets (RemoteMinRxInterval zero).
    pub fn tx_interval(&self) -> Option<Duration> {
        if self.remote_min_rx.is_zero() {
            return None;
        }
        Some(self.tx_in_force().max(self.remote_min_rx))
    }

    /// §6.8.4: the Detection Time in Asynchronous mode, the remote Detect Mult times
    /// max(bfd.RequiredMinRxInterval, the last received Desired Min TX); `None` before any
    /// packet was received.
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        Some(
            self.rx_in_force().max(self.remote_desired_min_tx) * u32::from(self.remote_detect_mult),
        )
    }

    /// Whether we may send at all (§6.8.7 passive role, §6.8.16 AdminDown period).
    fn may_transmit(&self) -> bool {
        // §6.8.7: "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero
        // and the system is taking the Passive role."
        if self.config.role == Role::Passive && self.remote_discr == 0 {
            return false;
        }
        true
    }

    /// When the session next needs [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let detect = self.detect_deadline();
        [self.next_tx, detect, self.admin_down_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn detect_deadline(&self) -> Option<Instant> {
        if self.state == State::AdminDown {
            return None;
        }
        Some(self.last_rx? + self.detection_time()?)
    }

    /// Fires due timers: detection (§6.8.4), the end of the AdminDown period (§6.8.16) and
    /// periodic transmission (§6.8.7). Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_deadline().is_some_and(|t| t <= now) {
            self.expire(now);
        }
        if self.admin_down_until.is_some_and(|t| t <= now) {
            // §6.8.16: "a system MAY cease transmission" after a Detection Time in AdminDown.
            self.admin_down_until = None;
            self.next_tx = None;
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            self.pending_send = true;
            self.last_tx = Some(now);
            self.next_tx = None;
            self.schedule_tx(now);
        }
    }

    /// §6.8.4: the Detection Time passed without a packet.
    fn expire(&mut self, now: Instant) {
        if matches!(self.state, State::Init | State::Up) {
            // §6.8.4: "the session has gone down -- the local system MUST set
            // bfd.SessionState to Down and bfd.LocalDiag to 1".
            self.local_diag = Diagnostic::ControlDetectionTimeExpired;
            self.set_state(now, State::Down);
        }
        // §6.8.1 bfd.RemoteDiscr: "reset to zero if Detection Time passes".
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_detect_mult = 0;
        self.last_rx = None;
        self.schedule_tx(now);
    }

    /// Schedules the next periodic packet (if none is scheduled, or an earlier one is now due
    /// because the interval shrank).
    fn schedule_tx(&mut self, now: Instant) {
        let allowed = self.may_transmit()
            && (self.state != State::AdminDown || self.admin_down_until.is_some());
        let Some(interval) = self.tx_interval().filter(|_| allowed) else {
            self.next_tx = None;
            return;
        };
        // Keep the packet already scheduled for this interval (one jitter draw per packet).
        if self.next_tx.is_some() && self.scheduled_interval == Some(interval) {
            return;
        }
        self.scheduled_interval = Some(interval);
        let random = splitmix64(&mut self.rng);
        let candidate = match self.last_tx {
            Some(t) => (t + jittered(interval, self.config.timers.detect_mult, random)).max(now),
            None => now,
        };
        self.next_tx = Some(match self.next_tx {
            Some(t) => t.min(candidate),
            None => candidate,
        });
    }

    /// Sends a packet at once (a state change, a Poll start) and restarts the periodic timer.
    fn send_now(&mut self, now: Instant) {
        if !self.may_transmit() {
            return;
        }
        self.pending_send = true;
        self.last_tx = Some(now);
        self.next_tx = None;
        self.schedule_tx(now);
    }

    fn set_state(&mut self, now: Instant, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == State::Up {
            self.local_diag = Diagnostic::NoDiagnostic;
        }
        if to != State::Up {
            // Not Up: the slow rate applies at once, nothing to poll for (§6.8.3).
            self.poll = None;
            self.confirmed = (self.advertised_tx(), self.config.timers.required_min_rx);
        } else {
            // Up: the configured timers replace the 1 s of §6.8.3, by a Poll Sequence.
            self.start_poll_if_needed();
        }
        self.events.push_back(Event::StateChange {
            from,
            to,
            diagnostic: self.local_diag,
        });
        self.send_now(now);
    }

    /// §6.8.3: "If either bfd.DesiredMinTxInterval is changed or bfd.RequiredMinRxInterval is
    /// changed, a Poll Sequence MUST be initiated"; §6.5: only one at a time.
    fn start_poll_if_needed(&mut self) -> bool {
        if self.state != State::Up || self.poll.is_some() {
            return false;
        }
        let now_values = (self.advertised_tx(), self.config.timers.required_min_rx);
        if now_values == self.confirmed {
            return false;
        }
        self.poll = Some(now_values);
        true
    }

    /// Parses and handles a received UDP payload (see [`handle_packet`](Self::handle_packet)).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ReceptionError> {
        match packet::decode(bytes) {
            Ok(repr) => self.handle_packet(now, &repr),
            Err(e) => {
                self.stats.rx_discarded += 1;
                Err(e.into())
            }
        }
    }

    /// Handles a received Control packet (RFC 5880 §6.8.6). A packet that fails a check is
    /// counted, changes nothing and is returned as the error. The caller has already checked
    /// the TTL (RFC 5881 §5) and chosen this session by Your Discriminator or by the source
    /// address.
    pub fn handle_packet(&mut self, now: Instant, p: &Repr) -> Result<(), ReceptionError> {
        if let Err(e) = self.check(p) {
            self.stats.rx_discarded += 1;
            return Err(e);
        }
        self.stats.rx += 1;
        // §6.8.6: "Set bfd.RemoteDiscr to the value of My Discriminator. Set
        // bfd.RemoteState to the value of the State (Sta) field. Set bfd.RemoteDemandMode to
        // the value of the Demand (D) bit. Set bfd.RemoteMinRxInterval to the value of
        // Required Min RX Interval."
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diagnostic;
        self.remote_min_rx = packet::us(p.required_min_rx_us);
        self.remote_desired_min_tx = packet::us(p.desired_min_tx_us);
        self.remote_detect_mult = p.detect_mult;
        // §6.8.6: "If the Final (F) bit is set and the local system has sent a Poll
        // Sequence, terminate the Poll Sequence" (§6.5); the values it carried are now in
        // force, and a change made meanwhile starts the next one.
        if p.flags.final_
            && let Some(values) = self.poll.take()
        {
            self.confirmed = values;
            if self.start_poll_if_needed() {
                self.send_now(now);
            }
        }
        // §6.8.6: "If bfd.SessionState is AdminDown: Discard the packet".
        if self.state == State::AdminDown {
            return Ok(());
        }
        self.last_rx = Some(now);
        self.run_state_machine(now, p.state);
        // §6.8.6: "If the Poll (P) bit is set, send a BFD Control packet to the remote system
        // with the Poll (P) bit clear, and the Final (F) bit set".
        if p.flags.poll {
            self.pending_final = true;
        }
        // §6.8.6: "Update the transmit interval as described in section 6.8.2."
        self.schedule_tx(now);
        Ok(())
    }

    fn check(&self, p: &Repr) -> Result<(), ReceptionError> {
        // §6.8.6 checks that do not depend on the session; no authentication is configured.
        p.check_reception(false)?;
        // §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used to select the
        // session with which this BFD packet is associated. If no session is found, the
        // packet MUST be discarded."
        if p.your_discriminator != 0
            && p.your_discriminator != self.config.local_discriminator.get()
        {
            return Err(ReceptionError::UnknownDiscriminator {
                value: p.your_discriminator,
            });
        }
        Ok(())
    }

    /// The state machine of §6.2 as written in §6.8.6.
    fn run_state_machine(&mut self, now: Instant, received: State) {
        match (self.state, received) {
            // §6.8.6: "If received state is AdminDown: If bfd.SessionState is not Down: Set
            // bfd.LocalDiag to 3 (Neighbor signaled session down), Set bfd.SessionState to
            // Down".
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => {
                self.local_diag = Diagnostic::NeighborSignaledSessionDown;
                self.set_state(now, State::Down);
            }
            // §6.8.6: "If bfd.SessionState is Down: If received State is Down, Set
            // bfd.SessionState to Init".
            (State::Down, State::Down) => self.set_state(now, State::Init),
            // "Else if received State is Init, Set bfd.SessionState to Up".
            (State::Down, State::Init) => self.set_state(now, State::Up),
            (State::Down, State::Up) => {}
            // "Else if bfd.SessionState is Init: If received State is Init or Up, Set
            // bfd.SessionState to Up".
            (State::Init, State::Init | State::Up) => self.set_state(now, State::Up),
            (State::Init, State::Down) => {}
            // "Else (bfd.SessionState is Up): If received State is Down, Set bfd.LocalDiag to
            // 3 (Neighbor signaled session down), Set bfd.SessionState to Down".
            (State::Up, State::Down) => {
                self.local_diag = Diagnostic::NeighborSignaledSessionDown;
                self.set_state(now, State::Down);
            }
            (State::Up, State::Init | State::Up) => {}
            (State::AdminDown, _) => {}
        }
    }

    /// Changes the timers (§6.8.3). While Up this starts a Poll Sequence: an increase of the
    /// transmit interval and a decrease of the receive interval take effect when the peer
    /// answers with a Final. A new Detect Mult takes effect at once.
    pub fn set_timers(&mut self, now: Instant, timers: Timers) -> Result<(), ConfigError> {
        timers.validate()?;
        self.config.timers = timers;
        if self.state != State::Up {
            self.confirmed = (self.advertised_tx(), timers.required_min_rx);
        }
        if self.start_poll_if_needed() {
            self.send_now(now);
        } else {
            self.schedule_tx(now);
        }
        Ok(())
    }

    /// Takes the session administratively down (§6.8.16): state AdminDown with diagnostic 7,
    /// a packet at once so that the peer goes Down without waiting for its detection time, then
    /// packets for a detection time, then silence. Received packets are discarded until
    /// [`admin_up`](Self::admin_up).
    pub fn admin_down(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            return;
        }
        // §6.8.16: "bfd.SessionState MUST be set to AdminDown" and "bfd.LocalDiag SHOULD be
        // set to 7 (Administratively Down)"; keep sending for a Detection Time as the peer
        // computes it with the (slow, §6.8.3) rate we now advertise.
        self.local_diag = Diagnostic::AdministrativelyDown;
        let slow = self.config.timers.desired_min_tx.max(SLOW_TX);
        self.admin_down_until = Some(now + slow * u32::from(self.config.timers.detect_mult));
        self.set_state(now, State::AdminDown);
    }

    /// Ends the administrative down (§6.8.16): "bfd.SessionState MUST be set to Down".
    pub fn admin_up(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            return;
        }
        self.admin_down_until = None;
        self.set_state(now, State::Down);
    }

    /// The next packet to send, if any. A Final (the answer to a Poll) goes first.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let final_ = if self.pending_final {
            self.pending_final = false;
            true
        } else if self.pending_send {
            self.pending_send = false;
            false
        } else {
            return None;
        };
        if !self.may_transmit() {
            return None;
        }
        let repr = self.build(final_);
        self.stats.tx += 1;
        Some(Transmit {
            repr,
            bytes: repr.to_bytes(),
        })
    }

    /// §6.8.7: the contents of a transmitted Control packet.
    fn build(&self, final_: bool) -> Repr {
        Repr {
            diagnostic: self.local_diag,
            state: self.state,
            flags: Flags {
                // "A BFD Control packet MUST NOT have both the Poll (P) and Final (F) bits
                // set."
                poll: self.poll.is_some() && !final_,
                final_,
                control_plane_independent: false,
                demand: false,
                multipoint: false,
            },
            detect_mult: self.config.timers.detect_mult,
            my_discriminator: self.config.local_discriminator.get(),
            your_discriminator: self.remote_discr,
            desired_min_tx_us: packet::to_us(self.advertised_tx()),
            required_min_rx_us: packet::to_us(self.config.timers.required_min_rx),
            // No Echo function.
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(discr: u32) -> Config {
        Config {
            timers: Timers {
                desired_min_tx: Duration::from_millis(100),
                required_min_rx: Duration::from_millis(100),
                detect_mult: 3,
            },
            ..Config::new(NonZeroU32::new(discr).unwrap())
        }
    }

    #[test]
    fn jitter_bounds() {
        let i = Duration::from_millis(100);
        for r in [
            0u64,
            1,
            12_345,
            u64::MAX,
            u64::MAX / 2,
            25_000_000,
            25_000_001,
        ] {
            let j = jittered(i, 3, r);
            assert!(j >= Duration::from_millis(75) && j <= i, "{j:?}");
            let j = jittered(i, 1, r);
            assert!(
                j >= Duration::from_millis(75) && j <= Duration::from_millis(90),
                "{j:?}"
            );
        }
        assert_eq!(jittered(i, 3, 0), Duration::from_millis(75));
        assert_eq!(jittered(i, 3, 25_000_000), i);
        assert_eq!(jittered(i, 1, 15_000_000), Duration::from_millis(90));
    }

    #[test]
    fn config_errors() {
        let now = Instant::now();
        let mut c = cfg(1);
        c.timers.detect_mult = 0;
        assert_eq!(
            Session::new(c, now).err(),
            Some(ConfigError::DetectMultZero)
        );
        let mut c = cfg(1);
        c.timers.desired_min_tx = Duration::ZERO;
        assert_eq!(
            Session::new(c, now).err(),
            Some(ConfigError::DesiredMinTxZero)
        );
        let mut c = cfg(1);
        c.timers.required_min_rx = Duration::from_secs(5000);
        assert!(matches!(
            Session::new(c, now).err(),
            Some(ConfigError::IntervalTooLarge { .. })
        ));
    }

    #[test]
    fn first_packet_and_slow_rate_while_down() {
        let t0 = Instant::now();
        let mut s = Session::new(cfg(7), t0).unwrap();
        assert_eq!(s.poll_timeout(), Some(t0));
        s.handle_timeout(t0);
        let tx = s.poll_transmit().unwrap();
        assert!(s.poll_transmit().is_none());
        assert_eq!(tx.repr.state, State::Down);
        assert_eq!(tx.repr.my_discriminator, 7);
        assert_eq!(tx.repr.your_discriminator, 0);
        // §6.8.3: at least 1 s while not Up, advertised and used.
        assert_eq!(tx.repr.desired_min_tx_us, 1_000_000);
        assert_eq!(tx.repr.required_min_rx_us, 100_000);
        let next = s.poll_timeout().unwrap();
        let gap = next - t0;
        assert!(
            gap >= Duration::from_millis(750) && gap <= SLOW_TX,
            "{gap:?}"
        );
    }

    #[test]
    fn passive_waits_for_the_peer() {
        let t0 = Instant::now();
        let mut c = cfg(7);
        c.role = Role::Passive;
        let mut s = Session::new(c, t0).unwrap();
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + Duration::from_secs(10));
        assert!(s.poll_transmit().is_none());
        let peer = Repr {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Down,
            flags: Flags::default(),
            detect_mult: 3,
            my_discriminator: 99,
            your_discriminator: 0,
            desired_min_tx_us: 1_000_000,
            required_min_rx_us: 1_000_000,
            required_min_echo_rx_us: 0,
            auth: None,
        };
        let t1 = t0 + Duration::from_secs(11);
        s.handle_packet(t1, &peer).unwrap();
        assert_eq!(s.state(), State::Init);
        let tx = s.poll_transmit().unwrap();
        assert_eq!(
            (tx.repr.state, tx.repr.your_discriminator),
            (State::Init, 99)
        );
    }
}
