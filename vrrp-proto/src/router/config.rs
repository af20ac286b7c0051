//! Configuration of one virtual router instance and its validation.

use core::time::Duration;
use std::net::IpAddr;

use crate::types::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

/// What a master does when it hears an advertisement of lower priority than its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LowerPriorityPolicy {
    /// Send an advertisement at once and restart the Adver_Timer (keepalived's behaviour): the
    /// lower-priority router, which believes it is master, hears us and steps down within one
    /// network round trip instead of waiting for our next periodic advertisement. The default.
    #[default]
    Readvertise,
    /// Discard the advertisement, as RFC 9568 section 6.4.3 and RFC 3768 section 6.4.3 say.
    Discard,
}

/// The configuration of one VRRP virtual router instance (the RFC 9568 section 6.1 parameters
/// plus keepalived's extensions).
///
/// Build it with [`Config::new`] and adjust the public fields; [`Config::validate`] (called by
/// [`Router::new`](super::Router::new)) checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// VRRP version 2 (RFC 3768, IPv4 only) or 3 (RFC 9568).
    pub version: Version,
    /// The virtual router identifier.
    pub vrid: VrId,
    /// This router's priority: 1..=254 for a backup, 255 only for the address owner.
    pub priority: Priority,
    /// This router owns the virtual addresses (RFC 9568 section 6.1: its priority is 255 and it
    /// always preempts).
    pub address_owner: bool,
    /// Advertisement_Interval: seconds for v2, centiseconds for v3.
    pub advert_interval: AdvertInterval,
    /// This router's primary address on the interface: the source of its advertisements, and
    /// the tie-break between two masters of equal priority (RFC 9568 section 6.4.3).
    pub primary_address: IpAddr,
    /// Preempt_Mode (RFC 9568 section 6.1). `false` is keepalived's `nopreempt`: a backup of
    /// higher priority does not take over from a live master of lower priority. The address
    /// owner always preempts regardless.
    pub preempt: bool,
    /// keepalived's `preempt_delay`: after startup and after each entry into Backup,
    /// preemption is deferred by this long (lower-priority adverts are accepted as with
    /// `nopreempt` until then).
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC 9568 section 6.1): whether a master accepts packets addressed to the
    /// virtual addresses it does not own. Not used by the state machine; exposed in
    /// [`Action::BecomeMaster`](super::Action::BecomeMaster) for the runtime.
    pub accept_mode: bool,
    /// A delay after [`Router::new`](super::Router::new) before the Startup event (RFC 9568
    /// section 6.4.1) is processed; advertisements received meanwhile are dropped.
    pub startup_delay: Duration,
    /// Unicast peers. Empty: multicast to 224.0.0.18 / ff02::12. Otherwise each advertisement
    /// is sent to every peer and advertisements from any other source are dropped.
    pub peers: Vec<IpAddr>,
    /// What a master does on hearing a lower-priority advertisement.
    pub lower_priority: LowerPriorityPolicy,
    /// A master that hears a better advertisement (higher priority, or equal priority from a
    /// higher address) sends one advertisement of its own priority before it becomes Backup
    /// (keepalived's `higher_prio_send_advert`; off by default, as there). RFC 9568 section
    /// 6.4.3 sends nothing here. It heals a split cleanly: when two masters meet after a
    /// partition and the lower one hears the higher first, its last advertisement reaches
    /// the higher one, which then hears a lower priority and announces its addresses again
    /// (keepalived's `garp_lower_prio_repeat`), so hosts that learnt the lower one's MAC
    /// during the split move back at once instead of when their neighbour entry expires.
    pub higher_priority_advert: bool,
    /// The multicast group advertisements go to when there are no unicast peers; `None`: the
    /// RFC's 224.0.0.18 / ff02::12 (keepalived `vrrp_mcast_group4` / `vrrp_mcast_group6`
    /// change it). Must be a multicast address of the primary address's family.
    pub multicast_group: Option<IpAddr>,
    /// heartbeat's `deadtime`: when set, Master_Down_Interval is exactly this, replacing
    /// RFC 9568 section 6.1's `3 * Master_Adver_Interval + Skew_Time` (RFC 3768 section 6.1
    /// for v2). A deliberate deviation, for configurations translated from heartbeat, where
    /// the peer is declared dead after a configured time, not after three missed adverts.
    /// Skew_Time still applies after a priority-0 advert (RFC 9568 section 6.4.2). Must be
    /// longer than the advertisement interval.
    pub dead_interval: Option<Duration>,
    /// heartbeat's `initdead`: the Master_Down_Interval of the first wait after the first
    /// Startup event (RFC 9568 section 6.4.1), so that a node that boots alone waits for its
    /// peer to boot too; later waits (after an advert, or after leaving Fault) use the normal
    /// one. `None`: the first wait is a normal one.
    pub initial_dead_interval: Option<Duration>,
    /// heartbeat's `warntime`: a backup that has heard no advert from the master it follows
    /// for this long reports [`Event::LateAdvert`](super::Event::LateAdvert) once per
    /// silence. Useful only when shorter than Master_Down_Interval (otherwise the backup
    /// becomes master first and nothing is reported). `None`: no warning.
    pub warn_interval: Option<Duration>,
}

impl Config {
    /// A configuration with the RFC defaults: priority 100, an advertisement interval of one
    /// second (`Seconds(1)` for v2, 100 centiseconds for v3), preemption on without delay,
    /// Accept_Mode off, no startup delay, multicast, re-advertise on lower priority.
    pub fn new(version: Version, vrid: VrId, primary_address: IpAddr) -> Config {
        let advert_interval = match version {
            Version::V2 => AdvertInterval::V2(Seconds(1)),
            Version::V3 => AdvertInterval::V3(Centiseconds::new(100).expect("100 fits in 12 bits")),
        };
        Config {
            version,
            vrid,
            priority: Priority::DEFAULT,
            address_owner: false,
            advert_interval,
            primary_address,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            startup_delay: Duration::ZERO,
            peers: Vec::new(),
            lower_priority: LowerPriorityPolicy::Readvertise,
            higher_priority_advert: false,
            multicast_group: None,
            dead_interval: None,
            initial_dead_interval: None,
            warn_interval: None,
        }
    }

    /// Checks the configuration; the error names the VRID and what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let vrid = self.vrid;
        match self.priority {
            Priority::STOP => return Err(ConfigError::PriorityZero { vrid }),
            Priority::OWNER if !self.address_owner => {
                return Err(ConfigError::Priority255NotOwner { vrid });
            }
            p if self.address_owner && p != Priority::OWNER => {
                return Err(ConfigError::OwnerPriority { vrid, priority: p });
            }
            _ => {}
        }
        if self.version == Version::V2 && !self.primary_address.is_ipv4() {
            return Err(ConfigError::V2RequiresIpv4 {
                vrid,
                address: self.primary_address,
            });
        }
        if self.advert_interval.version() != self.version {
            return Err(ConfigError::IntervalVersion {
                vrid,
                version: self.version,
                interval: self.advert_interval,
            });
        }
        let in_range = match self.advert_interval {
            AdvertInterval::V2(s) => s.get() >= 1,
            AdvertInterval::V3(cs) => cs.get() >= 1,
        };
        if !in_range {
            return Err(ConfigError::IntervalOutOfRange {
                vrid,
                interval: self.advert_interval,
            });
        }
        if self.preempt_delay > MAX_PREEMPT_DELAY {
            return Err(ConfigError::PreemptDelayOutOfRange {
                vrid,
                delay: self.preempt_delay,
            });
        }
        self.validate_timing()?;
        if !usable_unicast(self.primary_address) {
            return Err(ConfigError::InvalidPrimaryAddress {
                vrid,
                address: self.primary_address,
            });
        }
        if let Some(group) = self.multicast_group
            && (group.is_ipv4() != self.primary_address.is_ipv4() || !group.is_multicast())
        {
            return Err(ConfigError::InvalidMulticastGroup {
                vrid,
                group,
                address: self.primary_address,
            });
        }
        for (i, &peer) in self.peers.iter().enumerate() {
            if peer.is_ipv4() != self.primary_address.is_ipv4() {
                return Err(ConfigError::PeerFamily {
                    vrid,
                    peer,
                    address: self.primary_address,
                });
            }
            if !usable_unicast(peer) {
                return Err(ConfigError::InvalidPeer { vrid, peer });
            }
            if peer == self.primary_address {
                return Err(ConfigError::PeerIsSelf { vrid, peer });
            }
            if self.peers[..i].contains(&peer) {
                return Err(ConfigError::DuplicatePeer { vrid, peer });
            }
        }
        Ok(())
    }
}

impl Config {
    /// The heartbeat timings: a dead interval longer than the advertisement interval, no zero
    /// durations.
    fn validate_timing(&self) -> Result<(), ConfigError> {
        let vrid = self.vrid;
        for (what, d) in [
            ("dead_interval", self.dead_interval),
            ("initial_dead_interval", self.initial_dead_interval),
            ("warn_interval", self.warn_interval),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::ZeroTiming { vrid, what });
            }
        }
        let advert = self.advert_interval.to_duration();
        if let Some(dead) = self.dead_interval
            && dead <= advert
        {
            return Err(ConfigError::DeadIntervalTooShort { vrid, dead, advert });
        }
        Ok(())
    }
}

/// The largest `preempt_delay`: keepalived's range is 0 to 1000 seconds.
pub const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);

fn usable_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// A configuration that [`Config::validate`] rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Priority 0 is reserved for a master that stops (RFC 9568 section 5.2.4).
    #[error("VRID {vrid}: priority 0 is reserved for a master that stops participating")]
    PriorityZero {
        /// The virtual router.
        vrid: VrId,
    },
    /// Priority 255 is reserved for the address owner (RFC 9568 section 5.2.4).
    #[error("VRID {vrid}: priority 255 is reserved for the address owner (set address_owner)")]
    Priority255NotOwner {
        /// The virtual router.
        vrid: VrId,
    },
    /// The address owner must use priority 255 (RFC 9568 section 5.2.4).
    #[error("VRID {vrid}: the address owner must have priority 255, not {}", priority.get())]
    OwnerPriority {
        /// The virtual router.
        vrid: VrId,
        /// The configured priority.
        priority: Priority,
    },
    /// VRRPv2 only supports IPv4 (RFC 3768).
    #[error("VRID {vrid}: VRRP version 2 requires IPv4, but the primary address is {address}")]
    V2RequiresIpv4 {
        /// The virtual router.
        vrid: VrId,
        /// The offending address.
        address: IpAddr,
    },
    /// The advertisement interval's unit does not match the version (seconds for v2,
    /// centiseconds for v3).
    #[error("VRID {vrid}: version {version:?} needs an interval in its own unit, got {interval:?}")]
    IntervalVersion {
        /// The virtual router.
        vrid: VrId,
        /// The configured version.
        version: Version,
        /// The configured interval.
        interval: AdvertInterval,
    },
    /// The advertisement interval is zero (v2: 1..=255 s; v3: 1..=4095 cs).
    #[error(
        "VRID {vrid}: advertisement interval {interval:?} out of range (v2 1..=255 s, v3 1..=4095 cs)"
    )]
    IntervalOutOfRange {
        /// The virtual router.
        vrid: VrId,
        /// The configured interval.
        interval: AdvertInterval,
    },
    /// `preempt_delay` is above [`MAX_PREEMPT_DELAY`] (keepalived's range is 0..=1000 s).
    #[error("VRID {vrid}: preempt_delay {delay:?} out of range (0 to 1000 s)")]
    PreemptDelayOutOfRange {
        /// The virtual router.
        vrid: VrId,
        /// The configured delay.
        delay: Duration,
    },
    /// The primary address is unspecified, multicast or broadcast.
    #[error("VRID {vrid}: primary address {address} is not a usable unicast address")]
    InvalidPrimaryAddress {
        /// The virtual router.
        vrid: VrId,
        /// The offending address.
        address: IpAddr,
    },
    /// A unicast peer is of another address family than the primary address.
    #[error(
        "VRID {vrid}: unicast peer {peer} is not of the same family as primary address {address}"
    )]
    PeerFamily {
        /// The virtual router.
        vrid: VrId,
        /// The peer.
        peer: IpAddr,
        /// The primary address.
        address: IpAddr,
    },
    /// A unicast peer is unspecified, multicast or broadcast.
    #[error("VRID {vrid}: unicast peer {peer} is not a usable unicast address")]
    InvalidPeer {
        /// The virtual router.
        vrid: VrId,
        /// The peer.
        peer: IpAddr,
    },
    /// A unicast peer is this router's own primary address.
    #[error("VRID {vrid}: unicast peer {peer} is this router's own primary address")]
    PeerIsSelf {
        /// The virtual router.
        vrid: VrId,
        /// The peer.
        peer: IpAddr,
    },
    /// The multicast group is not a multicast address of the primary address's family.
    #[error(
        "VRID {vrid}: multicast group {group} is not a multicast address of the family of primary address {address}"
    )]
    InvalidMulticastGroup {
        /// The virtual router.
        vrid: VrId,
        /// The group.
        group: IpAddr,
        /// The primary address.
        address: IpAddr,
    },
    /// A heartbeat timing is zero.
    #[error("VRID {vrid}: {what} must not be zero")]
    ZeroTiming {
        /// The virtual router.
        vrid: VrId,
        /// The field.
        what: &'static str,
    },
    /// The dead interval is not longer than the advertisement interval: the backup would take
    /// over between two adverts of a live master.
    #[error(
        "VRID {vrid}: dead interval {dead:?} must be longer than the advertisement interval {advert:?}"
    )]
    DeadIntervalTooShort {
        /// The virtual router.
        vrid: VrId,
        /// The dead interval.
        dead: Duration,
        /// The advertisement interval.
        advert: Duration,
    },
    /// A unicast peer is listed twice.
    #[error("VRID {vrid}: unicast peer {peer} is listed twice")]
    DuplicatePeer {
        /// The virtual router.
        vrid: VrId,
        /// The peer.
        peer: IpAddr,
    },
}

/// A priority that [`Router::set_priority`](super::Router::set_priority) rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PriorityError {
    /// Priority 0 is not a runtime priority: call [`Router::shutdown`](super::Router::shutdown).
    #[error("VRID {vrid}: priority 0 is not a runtime priority (use shutdown)")]
    Zero {
        /// The virtual router.
        vrid: VrId,
    },
    /// Priority 255 is reserved for the address owner.
    #[error("VRID {vrid}: priority 255 is reserved for the address owner")]
    Reserved {
        /// The virtual router.
        vrid: VrId,
    },
    /// The address owner's priority is fixed at 255 (RFC 9568 section 5.2.4).
    #[error("VRID {vrid}: the address owner's priority is fixed at 255, cannot set {}", requested.get())]
    OwnerFixed {
        /// The virtual router.
        vrid: VrId,
        /// The rejected priority.
        requested: Priority,
    },
}
