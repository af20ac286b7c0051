//! Trackers and keepalived's weight arithmetic.
//!
//! A tracker is something whose state the runtime observes and reports: an interface's link,
//! a periodic script's exit status, an integer in a file, the health of a pool, the
//! reachability of a ping node (heartbeat's `ping`/`ipfail`). Instances reference trackers with
//! a weight ([`TrackRef`]):
//!
//! - weight `0`: the instance goes to Fault while the tracked thing is down (with `reverse`:
//!   while it is up);
//! - positive weight: added to the priority while the thing is up (with `reverse`: subtracted
//!   while it is up);
//! - negative weight: added (so the priority drops) while the thing is down (with `reverse`:
//!   the priority rises by its magnitude while it is down).
//!
//! That is keepalived's rule (`vrrp_script`, `track_interface`, `track_process`: "if reverse is
//! specified, the priority is decreased when up and increased when down"). A file tracker
//! (keepalived `track_file`) contributes `value * weight` (negated with `reverse`); with weight 0
//! a non-zero value is a failure, and a product below -253 is a fault. The effective priority is
//! the base priority plus every contribution, clamped to `1..=254`; an address owner (255) keeps
//! 255 and only faults apply (see [`effective_priority`]).

use std::net::IpAddr;

use ha_vrrp_proto::Priority;

/// A tracker's identifier: its index in the director, in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerId(pub u32);

/// What a tracker observes. The runtime does the observing and reports results.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrackerKind {
    /// An interface's link state, fed by [`Director::handle_link`](super::Director::handle_link)
    /// (keepalived `track_interface`).
    Interface {
        /// The interface name.
        ifname: String,
    },
    /// A periodic script (keepalived `vrrp_script`): the runtime runs it every interval and
    /// reports [`TrackResult::Exit`]; exit status 0 is success.
    Script {
        /// The command, for the runtime.
        argv: Vec<String>,
    },
    /// A file holding an integer (keepalived `track_file`); the runtime reports
    /// [`TrackResult::Value`].
    File {
        /// The file's path, for the runtime.
        path: String,
    },
    /// The health of a pool (reported by the pool logic as up/down).
    Pool {
        /// The pool's name.
        name: String,
    },
    /// Reachability of a ping node (heartbeat `ping` / `ipfail`): typically weight 0 (a node
    /// that cannot reach its gateway must not hold the VIP) or a negative weight.
    PingNode {
        /// The address pinged.
        addr: IpAddr,
    },
}

/// A tracker's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackerConfig {
    /// A name for events and logs.
    pub name: String,
    /// What is tracked.
    pub kind: TrackerKind,
    /// Consecutive successes needed to go from down to up (keepalived `rise`, at least 1).
    pub rise: u32,
    /// Consecutive failures needed to go from up to down (keepalived `fall`, at least 1).
    pub fall: u32,
    /// Start down instead of up (keepalived `init_fail`). A file tracker starts at value 0.
    pub init_fail: bool,
}

impl TrackerConfig {
    /// A tracker with `rise` and `fall` of 1, starting up.
    pub fn new(name: impl Into<String>, kind: TrackerKind) -> TrackerConfig {
        TrackerConfig {
            name: name.into(),
            kind,
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }
}

/// A result reported for a tracker by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackResult {
    /// Success / up / reachable.
    Up,
    /// Failure / down / unreachable.
    Down,
    /// A script's exit status: 0 is success (script trackers only).
    Exit(i32),
    /// The integer read from a file (file trackers only).
    Value(i64),
}

/// The current state of a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackStatus {
    /// Up (after `rise` successes).
    Up,
    /// Down (after `fall` failures).
    Down,
    /// A file tracker's value.
    Value(i64),
}

/// An instance's reference to a tracker, with the weight it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackRef {
    /// The tracker.
    pub tracker: TrackerId,
    /// `-253..=253` (file trackers: `-254..=254`); 0 means "fault on failure".
    pub weight: i32,
    /// keepalived's `reverse`.
    pub reverse: bool,
}

impl TrackRef {
    /// A reference with `weight`, not reversed.
    pub const fn new(tracker: TrackerId, weight: i32) -> TrackRef {
        TrackRef {
            tracker,
            weight,
            reverse: false,
        }
    }

    /// The same reference with `reverse` set.
    pub const fn reversed(self) -> TrackRef {
        TrackRef {
            reverse: true,
            ..self
        }
    }
}

/// What one tracker reference does to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contribution {
    /// Adds this much to the priority (may be negative or zero).
    Add(i64),
    /// Puts the instance in Fault.
    Fault,
}

/// The contribution of a reference with `weight` and `reverse` given the tracker's `status`
/// (the rule in the [module docs](self)).
pub fn contribution(weight: i32, reverse: bool, status: TrackStatus) -> Contribution {
    let w = i64::from(weight);
    match status {
        TrackStatus::Value(v) => {
            if weight == 0 {
                // keepalived track_file: "If the weight ... is 0, a non-zero value in the file
                // will be treated as a failure status" (reverse: a zero value fails).
                if (v != 0) != reverse {
                    Contribution::Fault
                } else {
                    Contribution::Add(0)
                }
            } else {
                let p = v.saturating_mul(w);
                let p = if reverse { p.saturating_neg() } else { p };
                // "if the result is less than -253 anything monitoring the script will
                // transition to the fault state".
                if p < -253 {
                    Contribution::Fault
                } else {
                    Contribution::Add(p)
                }
            }
        }
        TrackStatus::Up | TrackStatus::Down => {
            let up = status == TrackStatus::Up;
            let normal = if weight == 0 {
                return if up == reverse {
                    Contribution::Fault
                } else {
                    Contribution::Add(0)
                };
            } else if (weight > 0 && up) || (weight < 0 && !up) {
                w
            } else {
                0
            };
            Contribution::Add(if reverse { -normal } else { normal })
        }
    }
}

/// The effective priority: `base` plus `sum`, clamped to `1..=254`; the owner's 255 is never
/// changed.
pub fn effective_priority(base: Priority, sum: i64) -> Priority {
    if base == Priority::OWNER {
        return base;
    }
    let p = i64::from(base.get()).saturating_add(sum).clamp(1, 254);
    Priority(u8::try_from(p).unwrap_or(254))
}

/// A tracker's runtime state with the rise/fall counters.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    pub(crate) cfg: TrackerConfig,
    pub(crate) status: TrackStatus,
    /// Consecutive results disagreeing with `status`.
    streak: u32,
}

impl Tracker {
    pub(crate) fn new(cfg: TrackerConfig) -> Tracker {
        let status = match cfg.kind {
            TrackerKind::File { .. } => TrackStatus::Value(0),
            _ if cfg.init_fail => TrackStatus::Down,
            _ => TrackStatus::Up,
        };
        Tracker {
            cfg,
            status,
            streak: 0,
        }
    }

    /// Whether `result` fits the tracker's kind.
    pub(crate) fn accepts(&self, result: TrackResult) -> bool {
        matches!(
            (&self.cfg.kind, result),
            (TrackerKind::File { .. }, TrackResult::Value(_))
                | (TrackerKind::Script { .. }, TrackResult::Exit(_))
                | (
                    TrackerKind::Script { .. }
                        | TrackerKind::Interface { .. }
                        | TrackerKind::Pool { .. }
                        | TrackerKind::PingNode { .. },
                    TrackResult::Up | TrackResult::Down
                )
        )
    }

    /// Feeds a result (already checked with [`Tracker::accepts`]); returns the new status if it
    /// changed.
    pub(crate) fn feed(&mut self, result: TrackResult) -> Option<TrackStatus> {
        let ok = match result {
            TrackResult::Value(v) => {
                let new = TrackStatus::Value(v);
                return (new != self.status).then(|| {
                    self.status = new;
                    new
                });
            }
            TrackResult::Up | TrackResult::Exit(0) => true,
            TrackResult::Down | TrackResult::Exit(_) => false,
        };
        let up = self.status == TrackStatus::Up;
        if ok == up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if up { self.cfg.fall } else { self.cfg.rise }.max(1);
        if self.streak >= needed {
            self.streak = 0;
            self.status = if ok {
                TrackStatus::Up
            } else {
                TrackStatus::Down
            };
            Some(self.status)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: TrackStatus = TrackStatus::Up;
    const DOWN: TrackStatus = TrackStatus::Down;

    #[test]
    fn weight_rules() {
        assert_eq!(contribution(20, false, UP), Contribution::Add(20));
        assert_eq!(contribution(20, false, DOWN), Contribution::Add(0));
        assert_eq!(contribution(-30, false, UP), Contribution::Add(0));
        assert_eq!(contribution(-30, false, DOWN), Contribution::Add(-30));
        assert_eq!(contribution(0, false, UP), Contribution::Add(0));
        assert_eq!(contribution(0, false, DOWN), Contribution::Fault);
    }

    #[test]
    fn reverse_rules() {
        // "the priority is decreased when up and increased when down"
        assert_eq!(contribution(20, true, UP), Contribution::Add(-20));
        assert_eq!(contribution(20, true, DOWN), Contribution::Add(0));
        assert_eq!(contribution(-30, true, DOWN), Contribution::Add(30));
        assert_eq!(contribution(-30, true, UP), Contribution::Add(0));
        // "'weight 0 reverse' will cause the vrrp instance to be down when the script is up"
        assert_eq!(contribution(0, true, UP), Contribution::Fault);
        assert_eq!(contribution(0, true, DOWN), Contribution::Add(0));
    }

    #[test]
    fn file_rules() {
        let v = TrackStatus::Value;
        assert_eq!(contribution(3, false, v(10)), Contribution::Add(30));
        assert_eq!(contribution(3, true, v(10)), Contribution::Add(-30));
        assert_eq!(contribution(1, false, v(-253)), Contribution::Add(-253));
        assert_eq!(contribution(1, false, v(-254)), Contribution::Fault);
        assert_eq!(contribution(254, false, v(-1)), Contribution::Fault);
        assert_eq!(contribution(0, false, v(0)), Contribution::Add(0));
        assert_eq!(contribution(0, false, v(7)), Contribution::Fault);
        assert_eq!(contribution(0, true, v(0)), Contribution::Fault);
        assert_eq!(
            contribution(254, false, v(i64::MAX)),
            Contribution::Add(i64::MAX)
        );
        assert_eq!(contribution(254, false, v(i64::MIN)), Contribution::Fault);
    }

    #[test]
    fn clamping() {
        assert_eq!(effective_priority(Priority(100), 50), Priority(150));
        assert_eq!(effective_priority(Priority(200), 100), Priority(254));
        assert_eq!(effective_priority(Priority(10), -50), Priority(1));
        assert_eq!(effective_priority(Priority(10), i64::MIN), Priority(1));
        assert_eq!(effective_priority(Priority(10), i64::MAX), Priority(254));
        assert_eq!(effective_priority(Priority::OWNER, -100), Priority::OWNER);
    }

    #[test]
    fn rise_and_fall() {
        let mut cfg = TrackerConfig::new("chk", TrackerKind::Script { argv: vec![] });
        cfg.rise = 2;
        cfg.fall = 3;
        let mut t = Tracker::new(cfg);
        assert_eq!(t.status, UP);
        assert_eq!(t.feed(TrackResult::Exit(1)), None);
        assert_eq!(t.feed(TrackResult::Exit(1)), None);
        assert_eq!(t.feed(TrackResult::Exit(0)), None); // streak broken
        assert_eq!(t.feed(TrackResult::Exit(2)), None);
        assert_eq!(t.feed(TrackResult::Exit(2)), None);
        assert_eq!(t.feed(TrackResult::Down), Some(DOWN));
        assert_eq!(t.feed(TrackResult::Exit(0)), None);
        assert_eq!(t.feed(TrackResult::Exit(0)), Some(UP));
        assert!(!t.accepts(TrackResult::Value(1)));
    }
}
