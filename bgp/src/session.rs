//! The BGP finite state machine for one neighbour (RFC 4271 §8), sans-io, announce-only.
//!
//! # Heads up: where each RFC section lives
//!
//! | RFC section | where |
//! |---|---|
//! | 4271 §8.2.2 Idle, Connect, Active | [`Session::start`], [`Session::connected`], [`Session::connection_failed`], `on_connect_retry` |
//! | 4271 §8.2.2 OpenSent | `on_open_sent` (OPEN checks of §6.2 in `check_open`) |
//! | 4271 §8.2.2 OpenConfirm, Established | `on_open_confirm`, `on_established` |
//! | 4271 §4.4, §10 hold and keepalive timers | [`Session::handle_timeout`] |
//! | 4271 §9.2 sending UPDATEs | `sync` |
//! | 8203 / 9003 administrative shutdown | [`Session::stop`] |
//! | 7606 revised error handling | [`Session::handle_input`] |
//!
//! # Call order
//!
//! `now` never goes backwards. After every call that feeds the machine (`start`, `connected`,
//! `connection_failed`, `closed`, `handle_input`, `handle_timeout`, `announce`, `withdraw`,
//! `stop`), drain, in this order: [`Session::poll_transmit`] (write each buffer to the TCP
//! connection), [`Session::poll_action`] (open or close the connection; a `Disconnect` comes
//! after the transmits queued before it, such as a NOTIFICATION), [`Session::poll_event`];
//! then sleep until [`Session::poll_timeout`] and call [`Session::handle_timeout`]. An early
//! `handle_timeout` is a no-op.
//!
//! The session never learns routes: UPDATEs from the peer are validated (RFC 7606) and
//! discarded. Our own routes are the *desired set* ([`Session::announce`],
//! [`Session::withdraw`]); while Established only the difference is sent, and after every
//! re-establishment the whole set is sent again.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::message::{
    AS_TRANS, Afi, AsSegment, Attribute, Capability, DecodeError, ErrorAction, Framer, Message,
    MpNextHop, Notification, Open, Origin, Prefix, Safi, SegmentType, Update, error_code, msg_type,
};

/// The hold timer's "large value" while waiting for the peer's OPEN (RFC 4271 §8.2.2, 4 min).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// Prefixes per withdrawing UPDATE (keeps each message far below 4096 octets).
const WITHDRAW_CHUNK: usize = 100;

/// The configuration of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our AS (4 octets; OPEN carries [`AS_TRANS`] when it exceeds 65535, RFC 6793 §4.1).
    pub local_as: u32,
    /// The AS we expect the peer to have. eBGP when it differs from `local_as`.
    pub peer_as: u32,
    /// Our BGP identifier (RFC 4271 §4.2; RFC 6286: any non-zero value).
    pub router_id: Ipv4Addr,
    /// Hold time we offer: zero or 3 s to 65535 s, whole seconds (RFC 4271 §4.2). Default 90 s.
    pub hold_time: Duration,
    /// ConnectRetryTime (RFC 4271 §10: 120 s suggested; shorter is allowed).
    pub connect_retry: Duration,
    /// How long the session stays Idle after going down before it starts again (RFC 4271
    /// §8.1.1 IdleHoldTimer; automatic start, event 3).
    pub idle_hold: Duration,
    /// NEXT_HOP for IPv4 prefixes (our address on the shared link).
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next hop for IPv6 prefixes in MP_REACH_NLRI (a global address on the shared link).
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Never connect; wait for the peer to (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// Seed for the jitter of RFC 4271 §10 (ConnectRetryTimer and KeepaliveTimer scaled by a
    /// factor in 0.75..=1.0 drawn from a generator seeded with this value), so that many
    /// speakers restarted together do not keep step. `None`: no jitter.
    pub jitter_seed: Option<u64>,
}

impl Config {
    /// A configuration with the RFC defaults: hold time 90 s, connect retry 120 s, idle hold
    /// 5 s, active, no next hops.
    #[must_use]
    pub fn new(local_as: u32, peer_as: u32, router_id: Ipv4Addr) -> Config {
        Config {
            local_as,
            peer_as,
            router_id,
            hold_time: Duration::from_secs(90),
            connect_retry: Duration::from_secs(120),
            idle_hold: Duration::from_secs(5),
            next_hop_v4: None,
            next_hop_v6: None,
            passive: false,
            jitter_seed: None,
        }
    }

    /// Whether the peer is external (a different AS).
    #[must_use]
    pub fn is_ebgp(&self) -> bool {
        self.local_as != self.peer_as
    }

    /// Checks the values against RFC 4271 §4.2 and §10.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let h = self.hold_time;
        if h.subsec_nanos() != 0 || (h.as_secs() != 0 && h.as_secs() < 3) || h.as_secs() > 65535 {
            return Err(ConfigError::HoldTime { hold_time: h });
        }
        if self.local_as == 0 || self.peer_as == 0 {
            return Err(ConfigError::ZeroAs);
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::ZeroRouterId);
        }
        if self.connect_retry.is_zero() {
            return Err(ConfigError::ZeroConnectRetry);
        }
        Ok(())
    }

    fn hold_secs(&self) -> u16 {
        self.hold_time.as_secs().min(65535) as u16
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Hold time not 0 nor 3..=65535 whole seconds (RFC 4271 §4.2).
    #[error("hold time {hold_time:?} must be 0 or 3 to 65535 whole seconds")]
    HoldTime {
        /// The value given.
        hold_time: Duration,
    },
    /// AS 0 is reserved (RFC 7607).
    #[error("AS 0 is not a valid local or peer AS (RFC 7607)")]
    ZeroAs,
    /// The BGP identifier must be non-zero (RFC 6286 §2.1).
    #[error("router id 0.0.0.0 is not a valid BGP identifier")]
    ZeroRouterId,
    /// A zero connect retry time would spin.
    #[error("connect retry time must be non-zero")]
    ZeroConnectRetry,
}

/// A route that cannot be announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// No next hop of the prefix's family in the configuration.
    #[error("cannot announce {prefix}: no IPv{family} next hop configured")]
    NoNextHop {
        /// The prefix.
        prefix: Prefix,
        /// 4 or 6.
        family: u8,
    },
    /// The attributes do not fit in one UPDATE.
    #[error("cannot announce {prefix}: {source}")]
    Encode {
        /// The prefix.
        prefix: Prefix,
        /// Why.
        source: crate::message::EncodeError,
    },
}

/// The attributes we attach to an announced prefix. ORIGIN, AS_PATH and the next hop come from
/// the session (our AS for eBGP, empty for iBGP; the configured next hop).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteAttributes {
    /// ORIGIN (default IGP).
    pub origin: Origin,
    /// MULTI_EXIT_DISC, if any.
    pub med: Option<u32>,
    /// LOCAL_PREF for iBGP peers (default 100; never sent to eBGP peers, RFC 4271 §5.1.5).
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997), if any.
    pub communities: Vec<u32>,
}

/// The states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Not trying.
    Idle,
    /// Waiting for our TCP connection attempt.
    Connect,
    /// Waiting for the ConnectRetryTimer (or, passive, for the peer to connect).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for a KEEPALIVE.
    OpenConfirm,
    /// Up: UPDATEs flow.
    Established,
}

/// What the IO layer must do with the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer's port 179 (abandoning any attempt in progress); report
    /// with [`Session::connected`] or [`Session::connection_failed`].
    Connect,
    /// Write out the transmits queued so far, then close the connection (or abandon the
    /// attempt).
    Disconnect,
}

/// Why the session went down. Each variant that made us send a NOTIFICATION says which with
/// [`DownReason::notification_sent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownReason {
    /// The peer sent a NOTIFICATION.
    #[error("peer sent NOTIFICATION {0}")]
    NotificationReceived(Notification),
    /// The peer's OPEN names another AS (RFC 4271 §6.2: Bad Peer AS).
    #[error("peer AS mismatch: expected AS{expected}, the peer's OPEN says AS{received}")]
    BadPeerAs {
        /// The configured peer AS.
        expected: u32,
        /// The AS in the peer's OPEN.
        received: u32,
    },
    /// The peer offered a hold time of 1 or 2 s (RFC 4271 §6.2).
    #[error("peer offered unacceptable hold time {hold_time} s")]
    UnacceptableHoldTime {
        /// The offered value.
        hold_time: u16,
    },
    /// The peer's BGP identifier is zero, or ours on an iBGP session (RFC 6286 §2.2).
    #[error("peer has bad BGP identifier {id}")]
    BadBgpId {
        /// The identifier.
        id: Ipv4Addr,
    },
    /// The peer did not advertise the 4-octet AS capability, which we require (RFC 5492 §5).
    #[error("peer does not support 4-octet AS numbers (RFC 6793), which this speaker requires")]
    NoFourOctetAs,
    /// An optional parameter other than Capabilities (RFC 4271 §6.2).
    #[error("peer sent unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// A message that could not be decoded (RFC 4271 §6).
    #[error("malformed message from peer: {0}")]
    Malformed(DecodeError),
    /// Nothing heard from the peer within the hold time (RFC 4271 §6.5).
    #[error("hold timer expired")]
    HoldTimerExpired,
    /// A message the state does not allow (RFC 4271 §6.6, RFC 6608).
    #[error("unexpected message type {message_type} in state {state:?}")]
    UnexpectedMessage {
        /// Our state.
        state: State,
        /// The message type.
        message_type: u8,
    },
    /// The TCP connection closed or failed.
    #[error("connection lost")]
    ConnectionLost,
    /// We stopped the session ([`Session::stop`]).
    #[error("stopped (administrative shutdown)")]
    Stopped {
        /// The shutdown communication sent, if any.
        message: Option<String>,
    },
}

impl DownReason {
    /// The NOTIFICATION we sent for this reason, if we sent one.
    #[must_use]
    pub fn notification_sent(&self) -> Option<Notification> {
        use DownReason as R;
        Some(match self {
            R::NotificationReceived(_) | R::ConnectionLost => return None,
            R::BadPeerAs { .. } => Notification::new(error_code::OPEN_MESSAGE, 2),
            R::UnacceptableHoldTime { .. } => Notification::new(error_code::OPEN_MESSAGE, 6),
            R::BadBgpId { .. } => Notification::new(error_code::OPEN_MESSAGE, 3),
            R::NoFourOctetAs => Notification::new(error_code::OPEN_MESSAGE, 7),
            R::UnsupportedOptionalParameter { .. } => {
                Notification::new(error_code::OPEN_MESSAGE, 4)
            }
            R::Malformed(e) => e.notification(),
            R::HoldTimerExpired => Notification::new(error_code::HOLD_TIMER_EXPIRED, 0),
            R::UnexpectedMessage { state, .. } => Notification::new(
                error_code::FSM,
                match state {
                    State::OpenSent => 1,
                    State::OpenConfirm => 2,
                    State::Established => 3,
                    _ => 0,
                },
            ),
            R::Stopped { message } => Notification::admin_shutdown(message.as_deref()),
        })
    }
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The state changed.
    StateChanged {
        /// Before.
        from: State,
        /// After.
        to: State,
    },
    /// The peer's OPEN was accepted.
    PeerOpen {
        /// The peer's AS (4-octet).
        asn: u32,
        /// The hold time the peer offered, seconds.
        hold_time: u16,
        /// The negotiated hold time (the smaller of both; RFC 4271 §4.2).
        negotiated_hold_time: Duration,
        /// The peer's BGP identifier.
        router_id: Ipv4Addr,
        /// The peer's capabilities.
        capabilities: Vec<Capability>,
    },
    /// The session is Established; our routes are being sent.
    Established,
    /// The session went down (from OpenSent, OpenConfirm or Established).
    Down {
        /// Why.
        reason: DownReason,
    },
    /// An UPDATE was malformed in a way RFC 7606 handles without a reset (treat-as-withdraw or
    /// attribute discard); since we keep no routes from the peer, nothing else changes.
    UpdateError(DecodeError),
}

/// One BGP session to one neighbour, sans-io. See the module docs for the call order.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    /// Automatic restart after going down: set by `start`, cleared by `stop`.
    running: bool,
    framer: Framer,
    transmits: VecDeque<Vec<u8>>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    connect_retry_timer: Option<Instant>,
    hold_timer: Option<Instant>,
    keepalive_timer: Option<Instant>,
    idle_hold_timer: Option<Instant>,
    /// Negotiated hold time; zero means no hold timer and no keepalives.
    hold_time: Duration,
    peer: Option<Open>,
    desired: BTreeMap<Prefix, RouteAttributes>,
    advertised: BTreeMap<Prefix, RouteAttributes>,
    /// xorshift64* state for the jitter; zero when there is none.
    rng: u64,
}

impl Session {
    /// A session in Idle; call [`Session::start`] to begin.
    pub fn new(config: Config, _now: Instant) -> Result<Session, ConfigError> {
        config.validate()?;
        let config_jitter = config.jitter_seed;
        Ok(Session {
            config,
            state: State::Idle,
            running: false,
            framer: Framer::new(),
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            connect_retry_timer: None,
            hold_timer: None,
            keepalive_timer: None,
            idle_hold_timer: None,
            hold_time: Duration::ZERO,
            peer: None,
            desired: BTreeMap::new(),
            advertised: BTreeMap::new(),
            // A zero state would stay zero: the seed is mixed first.
            rng: config_seed(config_jitter),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The peer's OPEN of the current connection, once accepted.
    #[must_use]
    pub fn peer_open(&self) -> Option<&Open> {
        self.peer.as_ref()
    }

    /// The negotiated hold time (zero before OpenConfirm, or when either side offered zero).
    #[must_use]
    pub fn negotiated_hold_time(&self) -> Duration {
        self.hold_time
    }

    /// The desired set: what we announce whenever the session is Established.
    pub fn desired(&self) -> impl Iterator<Item = (&Prefix, &RouteAttributes)> {
        self.desired.iter()
    }

    /// The prefixes the peer has from us on this connection.
    pub fn advertised(&self) -> impl Iterator<Item = &Prefix> {
        self.advertised.keys()
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            self.events.push_back(Event::StateChanged {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    fn connection_up(&self) -> bool {
        matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }

    // -- Commands ------------------------------------------------------------------------------

    /// ManualStart (RFC 4271 §8.1.2, events 1 and 4): Idle -> Connect (asks for a connection)
    /// or, passive, Idle -> Active. Also enables the automatic restart after the session goes
    /// down. No effect unless Idle.
    pub fn start(&mut self, now: Instant) {
        self.running = true;
        if self.state != State::Idle {
            return;
        }
        self.idle_hold_timer = None;
        // §8.2.2 Idle, events 1/3 and 4/5: start the ConnectRetryTimer, then connect or listen.
        self.connect_retry_timer = Some(now + self.jittered(self.config.connect_retry));
        if self.config.passive {
            self.set_state(State::Active);
        } else {
            self.actions.push_back(Action::Connect);
            self.set_state(State::Connect);
        }
    }

    /// ManualStop (RFC 4271 §8.2.2, event 2): sends Cease / Administrative Shutdown with an
    /// optional shutdown communication (RFC 8203, RFC 9003) when a connection is up, closes it
    /// and stays Idle (no automatic restart) until [`Session::start`].
    pub fn stop(&mut self, now: Instant, message: Option<&str>) {
        self.running = false;
        if self.connection_up() {
            self.go_down(
                now,
                DownReason::Stopped {
                    message: message.map(str::to_owned),
                },
            );
        } else {
            if self.state != State::Idle {
                self.actions.push_back(Action::Disconnect);
            }
            self.clear_timers();
            self.set_state(State::Idle);
        }
    }

    /// Adds or changes a prefix in the desired set; sent at once when Established.
    pub fn announce(
        &mut self,
        now: Instant,
        prefix: Prefix,
        attrs: RouteAttributes,
    ) -> Result<(), AnnounceError> {
        self.check_announce(&prefix, &attrs)?;
        self.desired.insert(prefix, attrs);
        self.sync(now);
        Ok(())
    }

    /// Checks that `prefix` could be announced with `attrs` (a next hop of its family is
    /// configured, the UPDATE fits), without changing anything.
    pub fn check_announce(
        &self,
        prefix: &Prefix,
        attrs: &RouteAttributes,
    ) -> Result<(), AnnounceError> {
        let update = self.build_announce(prefix, attrs)?;
        Message::Update(update)
            .encode()
            .map(|_| ())
            .map_err(|source| AnnounceError::Encode {
                prefix: *prefix,
                source,
            })
    }

    /// Removes a prefix from the desired set; withdrawn at once when Established. Returns whether
    /// it was in the set.
    pub fn withdraw(&mut self, now: Instant, prefix: Prefix) -> bool {
        let had = self.desired.remove(&prefix).is_some();
        self.sync(now);
        had
    }

    // -- Connection events ---------------------------------------------------------------------

    /// The TCP connection is up (RFC 4271 §8.2.2 Connect/Active, events 16/17): send OPEN, set
    /// the hold timer to 4 minutes, go to OpenSent.
    pub fn connected(&mut self, now: Instant) {
        if !matches!(self.state, State::Connect | State::Active) {
            // Not expecting a connection (Idle after stop, or already one up): refuse it.
            self.actions.push_back(Action::Disconnect);
            return;
        }
        self.connect_retry_timer = None;
        self.framer = Framer::new();
        self.peer = None;
        self.send(&Message::Open(self.local_open()));
        self.hold_timer = Some(now + OPEN_HOLD_TIME);
        self.set_state(State::OpenSent);
    }

    /// The TCP connection attempt failed (event 18 in Connect): wait in Active for the
    /// ConnectRetryTimer, which tries again.
    pub fn connection_failed(&mut self, now: Instant) {
        match self.state {
            State::Connect => {
                if self.connect_retry_timer.is_none() {
                    self.connect_retry_timer = Some(now + self.jittered(self.config.connect_retry));
                }
                self.set_state(State::Active);
            }
            _ if self.connection_up() => self.closed(now),
            _ => {}
        }
    }

    /// The TCP connection closed or broke (event 18 in OpenSent, OpenConfirm, Established).
    pub fn closed(&mut self, now: Instant) {
        if self.connection_up() {
            self.go_down(now, DownReason::ConnectionLost);
        }
    }

    // -- Input ---------------------------------------------------------------------------------

    /// Bytes received on the TCP connection, in any chunking.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if !self.connection_up() {
            return;
        }
        self.framer.push(bytes);
        while self.connection_up() {
            let Some(msg) = self.framer.next_message() else {
                break;
            };
            match msg {
                Ok(m) => self.on_message(now, m),
                // RFC 7606 §2: treat-as-withdraw and attribute discard keep the session; we
                // keep no routes from the peer, so there is nothing to withdraw. The UPDATE
                // still counts as a message received for the hold timer (§8.2.2 event 28).
                Err(e) if e.action() != ErrorAction::SessionReset => {
                    if self.state == State::Established {
                        self.restart_hold_timer(now);
                        self.events.push_back(Event::UpdateError(e));
                    } else {
                        self.go_down(now, DownReason::Malformed(e));
                    }
                }
                // RFC 4271 §6: send the NOTIFICATION, close.
                Err(e) => self.go_down(now, DownReason::Malformed(e)),
            }
        }
    }

    fn on_message(&mut self, now: Instant, m: Message) {
        if let Message::Notification(n) = m {
            // §8.2.2 events 24/25 in every connected state: close, no NOTIFICATION back.
            self.go_down(now, DownReason::NotificationReceived(n));
            return;
        }
        match self.state {
            State::OpenSent => self.on_open_sent(now, m),
            State::OpenConfirm => self.on_open_confirm(now, m),
            State::Established => self.on_established(now, m),
            _ => {}
        }
    }

    /// OpenSent (§8.2.2): an OPEN is checked (§6.2) and answered with KEEPALIVE; anything else
    /// is an FSM error (RFC 6608 subcode 1).
    fn on_open_sent(&mut self, now: Instant, m: Message) {
        let Message::Open(open) = m else {
            let message_type = m.message_type();
            self.go_down(
                now,
                DownReason::UnexpectedMessage {
                    state: self.state,
                    message_type,
                },
            );
            return;
        };
        if let Err(reason) = self.check_open(&open) {
            self.go_down(now, reason);
            return;
        }
        // §4.2: the hold time is the smaller of both; keepalive a third of it (§10).
        let offered = Duration::from_secs(u64::from(open.hold_time));
        self.hold_time = offered.min(self.config.hold_time);
        self.events.push_back(Event::PeerOpen {
            asn: open.asn(),
            hold_time: open.hold_time,
            negotiated_hold_time: self.hold_time,
            router_id: open.bgp_id,
            capabilities: open.capabilities.clone(),
        });
        self.peer = Some(open);
        self.send(&Message::Keepalive);
        self.restart_keepalive_timer(now);
        self.restart_hold_timer(now);
        self.set_state(State::OpenConfirm);
    }

    /// OpenConfirm (§8.2.2): KEEPALIVE -> Established; UPDATE or OPEN is an FSM error (RFC 6608
    /// subcode 2; no collision detection: we make at most one connection).
    fn on_open_confirm(&mut self, now: Instant, m: Message) {
        match m {
            Message::Keepalive => {
                self.restart_hold_timer(now);
                self.set_state(State::Established);
                self.events.push_back(Event::Established);
                // §9.2: after establishment the whole desired set goes out.
                self.advertised.clear();
                self.sync(now);
            }
            other => {
                let message_type = other.message_type();
                self.go_down(
                    now,
                    DownReason::UnexpectedMessage {
                        state: self.state,
                        message_type,
                    },
                );
            }
        }
    }

    /// Established (§8.2.2): KEEPALIVE and UPDATE restart the hold timer (UPDATEs are
    /// discarded: announce-only); OPEN is an FSM error (RFC 6608 subcode 3).
    fn on_established(&mut self, now: Instant, m: Message) {
        match m {
            Message::Keepalive | Message::Update(_) => self.restart_hold_timer(now),
            other => {
                let message_type = other.message_type();
                self.go_down(
                    now,
                    DownReason::UnexpectedMessage {
                        state: self.state,
                        message_type,
                    },
                );
            }
        }
    }

    /// The OPEN checks of RFC 4271 §6.2 in its order (the version was checked by the decoder),
    /// then the capabilities we require (RFC 5492 §5).
    fn check_open(&self, open: &Open) -> Result<(), DownReason> {
        let received = open.asn();
        if received != self.config.peer_as {
            return Err(DownReason::BadPeerAs {
                expected: self.config.peer_as,
                received,
            });
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(DownReason::UnacceptableHoldTime {
                hold_time: open.hold_time,
            });
        }
        // RFC 6286 §2.2: non-zero; on iBGP different from ours.
        let same_as_ours = open.bgp_id == self.config.router_id && !self.config.is_ebgp();
        if open.bgp_id.is_unspecified() || same_as_ours {
            return Err(DownReason::BadBgpId { id: open.bgp_id });
        }
        if let Some(p) = open.other_params.first() {
            return Err(DownReason::UnsupportedOptionalParameter {
                param_type: p.param_type,
            });
        }
        if open.four_octet_as().is_none() {
            return Err(DownReason::NoFourOctetAs);
        }
        Ok(())
    }

    // -- Timers --------------------------------------------------------------------------------

    /// Fires the timers that are due at `now` (an early call is a no-op).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.idle_hold_timer) {
            // §8.1.1 automatic start (event 3) after the IdleHoldTimer.
            self.idle_hold_timer = None;
            if self.running && self.state == State::Idle {
                self.start(now);
            }
        }
        if due(self.connect_retry_timer) {
            self.on_connect_retry(now);
        }
        if due(self.hold_timer) {
            // §6.5, §8.2.2 event 10: NOTIFICATION Hold Timer Expired, close.
            self.hold_timer = None;
            if self.connection_up() {
                self.go_down(now, DownReason::HoldTimerExpired);
            }
        }
        if due(self.keepalive_timer) {
            // §8.2.2 event 11 (OpenConfirm, Established): send KEEPALIVE, restart the timer.
            if matches!(self.state, State::OpenConfirm | State::Established) {
                self.send(&Message::Keepalive);
                self.restart_keepalive_timer(now);
            } else {
                self.keepalive_timer = None;
            }
        }
    }

    /// ConnectRetryTimer expired (§8.2.2 event 9): in Connect, abandon the attempt and try
    /// again; in Active, connect (unless passive: keep waiting).
    fn on_connect_retry(&mut self, now: Instant) {
        self.connect_retry_timer = None;
        match self.state {
            State::Connect | State::Active => {
                self.connect_retry_timer = Some(now + self.jittered(self.config.connect_retry));
                if !self.config.passive {
                    self.actions.push_back(Action::Connect);
                    self.set_state(State::Connect);
                }
            }
            _ => {}
        }
    }

    /// When [`Session::handle_timeout`] wants to be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry_timer,
            self.hold_timer,
            self.keepalive_timer,
            self.idle_hold_timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -- Output --------------------------------------------------------------------------------

    /// The next message to write to the TCP connection.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next thing to do with the TCP connection.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // -- Internals -----------------------------------------------------------------------------

    fn restart_hold_timer(&mut self, now: Instant) {
        self.hold_timer = (!self.hold_time.is_zero()).then(|| now + self.hold_time);
    }

    fn restart_keepalive_timer(&mut self, now: Instant) {
        if self.hold_time.is_zero() {
            self.keepalive_timer = None;
        } else {
            let interval = self.jittered(self.hold_time / 3);
            self.keepalive_timer = Some(now + interval);
        }
    }

    /// `d` scaled by a factor in 0.75..=1.0 (RFC 4271 §10), or `d` without a jitter seed.
    fn jittered(&mut self, d: Duration) -> Duration {
        if self.rng == 0 {
            return d;
        }
        // xorshift64* (Vigna): deterministic for a given seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let per_mille = 750 + (r >> 32) % 251;
        d * (per_mille as u32) / 1000
    }

    fn clear_timers(&mut self) {
        self.connect_retry_timer = None;
        self.hold_timer = None;
        self.keepalive_timer = None;
        self.idle_hold_timer = None;
    }

    fn send(&mut self, m: &Message) {
        // Our own messages are built to fit (announce checks its UPDATE, withdrawals are
        // chunked); an encoding failure would be a bug, and the message is then not sent.
        if let Ok(bytes) = m.encode() {
            self.transmits.push_back(bytes);
        }
    }

    /// Tears the connection down: NOTIFICATION if the reason calls for one, close, Idle, and the
    /// automatic restart after the IdleHoldTimer unless stopped (§8.2.2, "changes its state to
    /// Idle" in every error branch).
    fn go_down(&mut self, now: Instant, reason: DownReason) {
        if let Some(n) = reason.notification_sent() {
            self.send(&Message::Notification(n));
        }
        self.actions.push_back(Action::Disconnect);
        self.clear_timers();
        self.framer = Framer::new();
        self.advertised.clear();
        self.hold_time = Duration::ZERO;
        self.peer = None;
        self.set_state(State::Idle);
        self.events.push_back(Event::Down { reason });
        if self.running {
            self.idle_hold_timer = Some(now + self.config.idle_hold);
        }
    }

    fn local_open(&self) -> Open {
        let mut capabilities = vec![Capability::Multiprotocol {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
        }];
        if self.config.next_hop_v6.is_some() {
            capabilities.push(Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
            });
        }
        capabilities.push(Capability::FourOctetAs(self.config.local_as));
        Open {
            // RFC 6793 §4.1: AS_TRANS when our AS does not fit two octets.
            my_as: u16::try_from(self.config.local_as).unwrap_or(AS_TRANS),
            hold_time: self.config.hold_secs(),
            bgp_id: self.config.router_id,
            capabilities,
            other_params: Vec::new(),
        }
    }

    /// The UPDATE announcing one prefix (RFC 4271 §5.1, §9.1.2.2; RFC 4760 §3 for IPv6).
    fn build_announce(
        &self,
        prefix: &Prefix,
        attrs: &RouteAttributes,
    ) -> Result<Update, AnnounceError> {
        let mut attributes = Vec::with_capacity(6);
        let v6_next_hop = match prefix.addr() {
            IpAddr::V4(_) => {
                if self.config.next_hop_v4.is_none() {
                    return Err(AnnounceError::NoNextHop {
                        prefix: *prefix,
                        family: 4,
                    });
                }
                None
            }
            IpAddr::V6(_) => Some(self.config.next_hop_v6.ok_or(AnnounceError::NoNextHop {
                prefix: *prefix,
                family: 6,
            })?),
        };
        // RFC 7606 §5.1: MP_REACH_NLRI first.
        if let Some(global) = v6_next_hop {
            attributes.push(Attribute::MpReach {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                next_hop: MpNextHop::V6 {
                    global,
                    link_local: None,
                },
                nlri: vec![*prefix],
            });
        }
        attributes.push(Attribute::Origin(attrs.origin));
        // §5.1.2: eBGP prepends our AS; iBGP originates an empty AS_PATH.
        attributes.push(Attribute::AsPath(if self.config.is_ebgp() {
            vec![AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![self.config.local_as],
            }]
        } else {
            Vec::new()
        }));
        if let (None, Some(nh)) = (v6_next_hop, self.config.next_hop_v4) {
            attributes.push(Attribute::NextHop(nh));
        }
        if let Some(med) = attrs.med {
            attributes.push(Attribute::MultiExitDisc(med));
        }
        if !self.config.is_ebgp() {
            // §5.1.5: LOCAL_PREF in every UPDATE to internal peers, never to external ones.
            attributes.push(Attribute::LocalPref(attrs.local_pref.unwrap_or(100)));
        }
        if !attrs.communities.is_empty() {
            attributes.push(Attribute::Communities(attrs.communities.clone()));
        }
        let nlri = if v6_next_hop.is_none() {
            vec![*prefix]
        } else {
            Vec::new()
        };
        Ok(Update {
            withdrawn: Vec::new(),
            attributes,
            nlri,
        })
    }

    /// Sends the difference between the desired set and what the peer has (§9.2), when
    /// Established.
    fn sync(&mut self, now: Instant) {
        if self.state != State::Established {
            return;
        }
        let gone: Vec<Prefix> = self
            .advertised
            .keys()
            .filter(|p| !self.desired.contains_key(p))
            .copied()
            .collect();
        // RFC 4760 §7: IPv6 routes only to a peer that advertised IPv6 unicast.
        let v6_ok = self
            .peer
            .as_ref()
            .is_some_and(|o| o.supports(Afi::Ipv6, Safi::Unicast));
        let changed: Vec<(Prefix, RouteAttributes)> = self
            .desired
            .iter()
            .filter(|(p, a)| self.advertised.get(p) != Some(a) && (p.is_ipv4() || v6_ok))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        if gone.is_empty() && changed.is_empty() {
            return;
        }
        let (v4, v6): (Vec<Prefix>, Vec<Prefix>) = gone.iter().partition(|p| p.is_ipv4());
        for chunk in v4.chunks(WITHDRAW_CHUNK) {
            self.send(&Message::Update(Update {
                withdrawn: chunk.to_vec(),
                ..Update::default()
            }));
        }
        for chunk in v6.chunks(WITHDRAW_CHUNK) {
            self.send(&Message::Update(Update {
                attributes: vec![Attribute::MpUnreach {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                    withdrawn: chunk.to_vec(),
                }],
                ..Update::default()
            }));
        }
        for p in &gone {
            self.advertised.remove(p);
        }
        for (p, a) in changed {
            if let Ok(update) = self.build_announce(&p, &a) {
                self.send(&Message::Update(update));
                self.advertised.insert(p, a);
            }
        }
        // §8.2.2: the KeepaliveTimer restarts whenever a message is sent in Established.
        self.restart_keepalive_timer(now);
    }
}

fn config_seed(seed: Option<u64>) -> u64 {
    match seed {
        None => 0,
        // splitmix64's output function: distinct seeds give distinct, non-zero states.
        Some(s) => {
            let mut z = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)).max(1)
        }
    }
}

/// The type code of a message, for logs.
#[must_use]
pub fn message_type_name(message_type: u8) -> &'static str {
    match message_type {
        msg_type::OPEN => "OPEN",
        msg_type::UPDATE => "UPDATE",
        msg_type::NOTIFICATION => "NOTIFICATION",
        msg_type::KEEPALIVE => "KEEPALIVE",
        _ => "unknown",
    }
}
