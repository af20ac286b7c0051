//! The router's inputs and outputs as plain values: what it is fed and what it asks for.

use core::time::Duration;
use std::net::IpAddr;

use crate::types::{AdvertInterval, Priority, Version, VrId};
use crate::{DropCounts, DropReason};

/// A received advertisement that the codec has already validated (length, checksum, TTL/hop
/// limit 255, type): only the fields the state machine needs.
///
/// From the codec: `RxAdvert::new(ip_source, advert.vrid, advert.priority, advert.interval)`
/// with a [`crate::wire::Advert`] returned by [`crate::wire::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxAdvert {
    /// The IP source address: the sender's primary address.
    pub src: IpAddr,
    /// The version field.
    pub version: Version,
    /// The VRID field.
    pub vrid: VrId,
    /// The priority field.
    pub priority: Priority,
    /// The advertisement interval field, in the version's unit.
    pub interval: AdvertInterval,
}

impl RxAdvert {
    /// An advertisement whose version is the one of its interval's unit.
    pub const fn new(
        src: IpAddr,
        vrid: VrId,
        priority: Priority,
        interval: AdvertInterval,
    ) -> RxAdvert {
        RxAdvert {
            src,
            version: interval.version(),
            vrid,
            priority,
            interval,
        }
    }
}

/// Where an advertisement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The VRRP multicast group of the address family ([`crate::wire::MULTICAST_V4`] or
    /// [`crate::wire::MULTICAST_V6`]).
    Multicast(IpAddr),
    /// One configured unicast peer.
    Unicast(IpAddr),
}

impl Destination {
    /// The destination IP address.
    pub const fn addr(self) -> IpAddr {
        match self {
            Destination::Multicast(a) | Destination::Unicast(a) => a,
        }
    }
}

/// An advertisement to send. The runtime encodes it with the codec and the instance's
/// virtual address list, from the instance's primary address, with TTL/hop limit 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// Where to send it.
    pub destination: Destination,
    /// The version field.
    pub version: Version,
    /// The VRID field.
    pub vrid: VrId,
    /// The priority field: the router's current priority, or 0 when it stops being master.
    pub priority: Priority,
    /// The advertisement interval field.
    pub interval: AdvertInterval,
}

/// What the runtime must do to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Add the virtual addresses and announce them (gratuitous ARP / unsolicited NA, RFC 9568
    /// section 6.4.1). `accept_mode` is the configured Accept_Mode: whether to accept packets
    /// addressed to virtual addresses this router does not own.
    BecomeMaster {
        /// The configured Accept_Mode (RFC 9568 section 6.1).
        accept_mode: bool,
    },
    /// Remove the virtual addresses (if held): the router is now a backup.
    BecomeBackup,
    /// Remove the virtual addresses (if held): the router is in Fault.
    EnterFault,
    /// Remove the virtual addresses (if held): the router has shut down.
    Stop,
}

/// The state of a virtual router (RFC 9568 section 6.4, plus Fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Waiting for the Startup event, or shut down.
    Initialize,
    /// Monitoring the master (RFC 9568 section 6.4.2).
    Backup,
    /// Forwarding for the virtual addresses (RFC 9568 section 6.4.3).
    Master,
    /// The interface is down or tracking says the router must not serve.
    Fault,
}

/// A caller-chosen identifier of a tracking check that put the router in Fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u32);

/// Why a transition happened. Every transition carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The Startup event (RFC 9568 section 6.4.1), after any startup delay.
    Startup,
    /// The Master_Down_Timer expired: no advertisement from the master was accepted for
    /// Master_Down_Interval. `last_master` is the last master heard, if any.
    MasterDown {
        /// The last accepted master.
        last_master: Option<IpAddr>,
    },
    /// The master announced it stops (priority 0) and the Master_Down_Timer, set to Skew_Time,
    /// expired.
    PriorityZero {
        /// The master that sent priority 0.
        from: IpAddr,
    },
    /// This backup ignored a lower-priority master's advertisements and took over (preemption).
    Preempt {
        /// The lower-priority master.
        master: IpAddr,
        /// Its priority.
        priority: Priority,
    },
    /// This backup's priority rose above the master's and it took over at once.
    PriorityRaised {
        /// The lower-priority master.
        master: IpAddr,
        /// Its priority.
        priority: Priority,
    },
    /// This master heard an advertisement of higher priority.
    HigherPriority {
        /// The sender.
        from: IpAddr,
        /// Its priority.
        priority: Priority,
    },
    /// This master heard an advertisement of equal priority from a higher primary address
    /// (RFC 9568 section 6.4.3).
    AddressTieBreak {
        /// The sender.
        from: IpAddr,
    },
    /// The interface went down.
    LinkDown,
    /// The interface came back up (and no tracking fault remains).
    LinkUp,
    /// A tracking check put the router in Fault.
    TrackingFault(TrackId),
    /// The tracking fault was cleared (and the link is up).
    TrackingCleared,
    /// [`Router::shutdown`](super::Router::shutdown) was called.
    Shutdown,
    /// The embedder forced the transition with [`Router::force_master`](super::Router::force_master)
    /// or [`Router::force_backup`](super::Router::force_backup) (a sync group member moved, a
    /// fence failed).
    Forced,
}

/// The kind of a [`TransitionReason`], without its data: an index for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // one-to-one with TransitionReason
#[non_exhaustive]
pub enum TransitionKind {
    Startup,
    MasterDown,
    PriorityZero,
    Preempt,
    PriorityRaised,
    HigherPriority,
    AddressTieBreak,
    LinkDown,
    LinkUp,
    TrackingFault,
    TrackingCleared,
    Shutdown,
    Forced,
}

impl TransitionKind {
    /// Every kind, in counter order.
    pub const ALL: [TransitionKind; 13] = [
        TransitionKind::Startup,
        TransitionKind::MasterDown,
        TransitionKind::PriorityZero,
        TransitionKind::Preempt,
        TransitionKind::PriorityRaised,
        TransitionKind::HigherPriority,
        TransitionKind::AddressTieBreak,
        TransitionKind::LinkDown,
        TransitionKind::LinkUp,
        TransitionKind::TrackingFault,
        TransitionKind::TrackingCleared,
        TransitionKind::Shutdown,
        TransitionKind::Forced,
    ];

    /// A short stable name, for metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Startup => "startup",
            TransitionKind::MasterDown => "master_down",
            TransitionKind::PriorityZero => "priority_zero",
            TransitionKind::Preempt => "preempt",
            TransitionKind::PriorityRaised => "priority_raised",
            TransitionKind::HigherPriority => "higher_priority",
            TransitionKind::AddressTieBreak => "address_tie_break",
            TransitionKind::LinkDown => "link_down",
            TransitionKind::LinkUp => "link_up",
            TransitionKind::TrackingFault => "tracking_fault",
            TransitionKind::TrackingCleared => "tracking_cleared",
            TransitionKind::Shutdown => "shutdown",
            TransitionKind::Forced => "forced",
        }
    }
}

impl TransitionReason {
    /// The reason's kind.
    pub const fn kind(self) -> TransitionKind {
        match self {
            TransitionReason::Startup => TransitionKind::Startup,
            TransitionReason::MasterDown { .. } => TransitionKind::MasterDown,
            TransitionReason::PriorityZero { .. } => TransitionKind::PriorityZero,
            TransitionReason::Preempt { .. } => TransitionKind::Preempt,
            TransitionReason::PriorityRaised { .. } => TransitionKind::PriorityRaised,
            TransitionReason::HigherPriority { .. } => TransitionKind::HigherPriority,
            TransitionReason::AddressTieBreak { .. } => TransitionKind::AddressTieBreak,
            TransitionReason::LinkDown => TransitionKind::LinkDown,
            TransitionReason::LinkUp => TransitionKind::LinkUp,
            TransitionReason::TrackingFault(_) => TransitionKind::TrackingFault,
            TransitionReason::TrackingCleared => TransitionKind::TrackingCleared,
            TransitionReason::Shutdown => TransitionKind::Shutdown,
            TransitionReason::Forced => TransitionKind::Forced,
        }
    }
}

/// Something that happened, for logs, notifications and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// The router changed state.
    Transition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
    /// heartbeat's `warntime` ([`Config::warn_interval`](super::Config::warn_interval)): this
    /// backup has heard no advert from the master it follows for `silent_for`. Reported once
    /// per silence: again only after an advert was heard.
    LateAdvert {
        /// The master last heard, if any.
        master: Option<IpAddr>,
        /// How long since its last advert (at least the warn interval).
        silent_for: Duration,
    },
}

/// Counters of one router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Advertisements fed to [`Router::handle_advert`](super::Router::handle_advert).
    pub adverts_received: u64,
    /// Advertisements sent (one per event, however many unicast peers it goes to).
    pub adverts_sent: u64,
    /// Priority-0 advertisements received and acted on.
    pub priority_zero_received: u64,
    /// Priority-0 advertisements sent.
    pub priority_zero_sent: u64,
    /// Late-advert warnings ([`Event::LateAdvert`]) reported.
    pub late_adverts: u64,
    drops: DropCounts,
    transitions: [u64; TransitionKind::ALL.len()],
}

impl Counters {
    /// Advertisements dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason)
    }

    /// All dropped advertisements.
    pub fn dropped_total(&self) -> u64 {
        self.drops.total()
    }

    /// The drops by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// Transitions for reasons of `kind`.
    pub fn transitions(&self, kind: TransitionKind) -> u64 {
        self.transitions[kind as usize]
    }

    /// All transitions.
    pub fn transitions_total(&self) -> u64 {
        self.transitions.iter().sum()
    }

    pub(super) fn count_drop(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    pub(super) fn count_transition(&mut self, kind: TransitionKind) {
        self.transitions[kind as usize] += 1;
    }
}
