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
//!
//! A process tracker (keepalived `vrrp_track_process`) is up while the number of matching
//! processes is within `quorum..=quorum_max`; the runtime counts them
//! ([`TrackResult::Processes`], matching with [`ProcessSpec::matches`]) and the tracker applies
//! keepalived's `fork_delay` / `terminate_delay` before a change of quorum counts. A delay is
//! honoured when the next count arrives at or after it (so to within the runtime's counting
//! period).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_vrrp_proto::Priority;

/// A tracker's identifier: its index in the director, in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerId(pub u32);

/// What a tracker observes. The runtime does the observing and reports results.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// Ping nodes (heartbeat `ping` / `ping_group`, with ipfail's rule): the runtime sends an
    /// ICMP / ICMPv6 echo to every address each `interval` and reports [`TrackResult::Up`]
    /// while any of them answered within the last `dead` (heartbeat `deadping`),
    /// [`TrackResult::Down`] otherwise. It starts down (nothing has answered yet). With a
    /// positive weight the node that reaches its ping nodes outbids the one that does not
    /// (ipfail); with weight 0 a node that reaches none must not hold the VIP.
    Ping {
        /// The addresses pinged (a `ping_group` has several: up if any answers).
        addresses: Vec<IpAddr>,
        /// How often each address is pinged (heartbeat pings every `keepalive`).
        interval: Duration,
        /// How long after its last answer an address counts as unreachable.
        dead: Duration,
    },
    /// Running processes (keepalived `vrrp_track_process`): the runtime reports how many
    /// match ([`TrackResult::Processes`]); up while that is within the quorum.
    Process(ProcessSpec),
}

/// How a process's arguments are compared with [`ProcessSpec::params`] (keepalived
/// `param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ParamMatch {
    /// The process's arguments are exactly the configured ones (none configured: the process
    /// has no arguments).
    #[default]
    Exact,
    /// The process's arguments start with the configured ones, whole arguments.
    Partial,
    /// As `Partial`, but the last configured argument need only be a prefix of the process's
    /// argument at that place.
    Initial,
}

/// Which processes a process tracker counts, and its quorum and delays (keepalived
/// `vrrp_track_process`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessSpec {
    /// The process name: compared with the kernel's name of the process (`comm`, at most 15
    /// bytes, `/proc/PID/stat`), or with `argv[0]` when `full_command` is set.
    pub name: String,
    /// Arguments to compare (keepalived `process NAME PARAMS...`); `None`: arguments are not
    /// looked at unless `param_match` is set.
    pub params: Option<Vec<String>>,
    /// How arguments are compared; `None` with `params` set means [`ParamMatch::Exact`].
    pub param_match: Option<ParamMatch>,
    /// Compare `name` with `argv[0]` (the command line) instead of the process name. Implied by
    /// `params` and `param_match`.
    pub full_command: bool,
    /// Fewest matching processes for the tracker to be up (keepalived `quorum`, default 1; 0
    /// only with `quorum_max` 0: up while no process matches).
    pub quorum: u32,
    /// Most matching processes for the tracker to be up (keepalived `quorum_max`, default no
    /// limit).
    pub quorum_max: u32,
    /// How long quorum must be held before the tracker goes up (keepalived `fork_delay`).
    pub fork_delay: Duration,
    /// How long quorum must be lost before the tracker goes down (keepalived
    /// `terminate_delay`).
    pub terminate_delay: Duration,
}

impl ProcessSpec {
    /// Processes named `name` (by process name), quorum 1, no limit, no delays.
    pub fn new(name: impl Into<String>) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            params: None,
            param_match: None,
            full_command: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    /// Whether the command line is needed (`name` is compared with `argv[0]`, or arguments are
    /// compared).
    pub fn uses_cmdline(&self) -> bool {
        self.full_command || self.params.is_some() || self.param_match.is_some()
    }

    /// Whether a process matches: `comm` is its name (`/proc/PID/stat`'s second field),
    /// `cmdline` its NUL-separated arguments (`/proc/PID/cmdline`), as keepalived compares them.
    pub fn matches(&self, comm: &str, cmdline: &[u8]) -> bool {
        if !self.uses_cmdline() {
            return comm == self.name;
        }
        let mut args = cmdline
            .strip_suffix(&[0])
            .unwrap_or(cmdline)
            .split(|b| *b == 0);
        if cmdline.is_empty() || args.next() != Some(self.name.as_bytes()) {
            return false;
        }
        let rest: Vec<&[u8]> = args.collect();
        let Some(mode) = self
            .param_match
            .or(self.params.as_ref().map(|_| ParamMatch::Exact))
        else {
            return true;
        };
        let want: &[String] = self.params.as_deref().unwrap_or(&[]);
        match mode {
            ParamMatch::Exact => {
                rest.len() == want.len() && rest.iter().zip(want).all(|(a, w)| *a == w.as_bytes())
            }
            ParamMatch::Partial | ParamMatch::Initial => {
                if rest.len() < want.len() {
                    return false;
                }
                want.iter().enumerate().all(|(i, w)| {
                    let last = i + 1 == want.len();
                    if last && mode == ParamMatch::Initial {
                        rest[i].starts_with(w.as_bytes())
                    } else {
                        rest[i] == w.as_bytes()
                    }
                })
            }
        }
    }

    /// Whether `count` matching processes make quorum.
    pub fn in_quorum(&self, count: u32) -> bool {
        (self.quorum..=self.quorum_max).contains(&count)
    }
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
#[non_exhaustive]
pub enum TrackResult {
    /// Success / up / reachable.
    Up,
    /// Failure / down / unreachable.
    Down,
    /// A script's exit status: 0 is success (script trackers only).
    Exit(i32),
    /// The integer read from a file (file trackers only).
    Value(i64),
    /// How many processes match (process trackers only).
    Processes(u32),
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
    /// A process tracker's quorum change waiting for its delay: (new state is up, since).
    pending: Option<(bool, Instant)>,
    /// A process tracker has had its first count (which applies at once, as keepalived's
    /// initial scan does).
    counted: bool,
}

impl Tracker {
    pub(crate) fn new(cfg: TrackerConfig) -> Tracker {
        let status = match cfg.kind {
            TrackerKind::File { .. } => TrackStatus::Value(0),
            // No ping node has answered yet.
            TrackerKind::Ping { .. } => TrackStatus::Down,
            _ if cfg.init_fail => TrackStatus::Down,
            _ => TrackStatus::Up,
        };
        Tracker {
            cfg,
            status,
            streak: 0,
            pending: None,
            counted: false,
        }
    }

    /// Whether `result` fits the tracker's kind.
    pub(crate) fn accepts(&self, result: TrackResult) -> bool {
        matches!(
            (&self.cfg.kind, result),
            (TrackerKind::File { .. }, TrackResult::Value(_))
                | (TrackerKind::Script { .. }, TrackResult::Exit(_))
                | (TrackerKind::Process(_), TrackResult::Processes(_))
                | (
                    TrackerKind::Script { .. }
                        | TrackerKind::Interface { .. }
                        | TrackerKind::Pool { .. }
                        | TrackerKind::Ping { .. }
                        | TrackerKind::Process(_),
                    TrackResult::Up | TrackResult::Down
                )
        )
    }

    /// Feeds a result (already checked with [`Tracker::accepts`]) at `now`; returns the new
    /// status if it changed.
    pub(crate) fn feed(&mut self, now: Instant, result: TrackResult) -> Option<TrackStatus> {
        if let (TrackerKind::Process(spec), TrackResult::Processes(n)) = (&self.cfg.kind, result) {
            let want = spec.in_quorum(n);
            let delay = if want {
                spec.fork_delay
            } else {
                spec.terminate_delay
            };
            let up = self.status == TrackStatus::Up;
            let first = !std::mem::replace(&mut self.counted, true);
            let apply = if want == up {
                self.pending = None;
                false
            } else if first || delay.is_zero() {
                true
            } else {
                match self.pending {
                    Some((w, since)) if w == want => now.saturating_duration_since(since) >= delay,
                    _ => {
                        self.pending = Some((want, now));
                        false
                    }
                }
            };
            if !apply {
                return None;
            }
            self.pending = None;
            self.status = if want {
                TrackStatus::Up
            } else {
                TrackStatus::Down
            };
            return Some(self.status);
        }
        let ok = match result {
            TrackResult::Value(v) => {
                let new = TrackStatus::Value(v);
                return (new != self.status).then(|| {
                    self.status = new;
                    new
                });
            }
            TrackResult::Up | TrackResult::Exit(0) => true,
            TrackResult::Down | TrackResult::Exit(_) | TrackResult::Processes(_) => false,
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

    /// An arbitrary starting point for the tests' own clock (the code under test never reads
    /// one).
    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

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
        let now = start();
        assert_eq!(t.status, UP);
        assert_eq!(t.feed(now, TrackResult::Exit(1)), None);
        assert_eq!(t.feed(now, TrackResult::Exit(1)), None);
        assert_eq!(t.feed(now, TrackResult::Exit(0)), None); // streak broken
        assert_eq!(t.feed(now, TrackResult::Exit(2)), None);
        assert_eq!(t.feed(now, TrackResult::Exit(2)), None);
        assert_eq!(t.feed(now, TrackResult::Down), Some(DOWN));
        assert_eq!(t.feed(now, TrackResult::Exit(0)), None);
        assert_eq!(t.feed(now, TrackResult::Exit(0)), Some(UP));
        assert!(!t.accepts(TrackResult::Value(1)));
        assert!(!t.accepts(TrackResult::Processes(1)));
    }

    #[test]
    fn ping_starts_down_and_follows_results() {
        let mut t = Tracker::new(TrackerConfig::new(
            "gw",
            TrackerKind::Ping {
                addresses: vec![IpAddr::from([10, 0, 0, 1])],
                interval: Duration::from_secs(1),
                dead: Duration::from_secs(3),
            },
        ));
        assert_eq!(t.status, DOWN);
        let now = start();
        assert!(t.accepts(TrackResult::Up));
        assert!(!t.accepts(TrackResult::Exit(0)));
        assert!(!t.accepts(TrackResult::Value(1)));
        assert_eq!(t.feed(now, TrackResult::Up), Some(UP));
        assert_eq!(t.feed(now, TrackResult::Up), None);
        assert_eq!(t.feed(now, TrackResult::Down), Some(DOWN));
        assert_eq!(contribution(2, false, UP), Contribution::Add(2));
        assert_eq!(contribution(2, false, DOWN), Contribution::Add(0));
    }

    #[test]
    fn init_fail_starts_down() {
        let mut cfg = TrackerConfig::new("chk", TrackerKind::Script { argv: vec![] });
        cfg.init_fail = true;
        let mut t = Tracker::new(cfg);
        assert_eq!(t.status, DOWN);
        assert_eq!(t.feed(start(), TrackResult::Exit(0)), Some(UP));
    }

    fn cmdline(args: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for a in args {
            v.extend_from_slice(a.as_bytes());
            v.push(0);
        }
        v
    }

    #[test]
    fn process_matching() {
        let by_comm = ProcessSpec::new("nginx");
        assert!(by_comm.matches("nginx", &cmdline(&["/usr/sbin/nginx", "-g", "x"])));
        assert!(!by_comm.matches("nginx2", &cmdline(&["nginx"])));
        assert!(!by_comm.uses_cmdline());

        let mut full = ProcessSpec::new("/usr/sbin/nginx");
        full.full_command = true;
        assert!(full.matches("nginx", &cmdline(&["/usr/sbin/nginx", "-g", "x"])));
        assert!(!full.matches("nginx", &cmdline(&["nginx"])));
        assert!(
            !full.matches("nginx", b""),
            "a zombie has an empty command line"
        );

        let mut exact = ProcessSpec::new("sleep");
        exact.params = Some(vec!["1000".into()]);
        assert!(exact.matches("sleep", &cmdline(&["sleep", "1000"])));
        assert!(!exact.matches("sleep", &cmdline(&["sleep", "1000", "x"])));
        assert!(!exact.matches("sleep", &cmdline(&["sleep", "10000"])));
        assert!(!exact.matches("sleep", &cmdline(&["sleep"])));

        let mut no_args = ProcessSpec::new("sleep");
        no_args.param_match = Some(ParamMatch::Exact);
        assert!(no_args.matches("sleep", &cmdline(&["sleep"])));
        assert!(!no_args.matches("sleep", &cmdline(&["sleep", "1"])));

        let mut partial = exact.clone();
        partial.param_match = Some(ParamMatch::Partial);
        assert!(partial.matches("sleep", &cmdline(&["sleep", "1000", "x"])));
        assert!(!partial.matches("sleep", &cmdline(&["sleep", "10000"])));

        let mut initial = exact.clone();
        initial.param_match = Some(ParamMatch::Initial);
        assert!(initial.matches("sleep", &cmdline(&["sleep", "10000", "x"])));
        assert!(!initial.matches("sleep", &cmdline(&["sleep", "2000"])));
    }

    #[test]
    fn process_quorum_and_delays() {
        let mut spec = ProcessSpec::new("p");
        spec.quorum = 2;
        spec.quorum_max = 3;
        spec.fork_delay = Duration::from_secs(2);
        spec.terminate_delay = Duration::from_secs(5);
        let mut t = Tracker::new(TrackerConfig::new("p", TrackerKind::Process(spec)));
        let t0 = start();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let n = TrackResult::Processes;
        // The first count applies at once.
        assert_eq!(t.feed(at(0), n(1)), Some(DOWN));
        // Quorum gained: up only after fork_delay.
        assert_eq!(t.feed(at(1), n(2)), None);
        assert_eq!(t.feed(at(2), n(3)), None);
        assert_eq!(t.feed(at(3), n(2)), Some(UP));
        // Above quorum_max: down after terminate_delay; back in range cancels it.
        assert_eq!(t.feed(at(4), n(4)), None);
        assert_eq!(t.feed(at(6), n(3)), None);
        assert_eq!(t.feed(at(10), n(4)), None);
        assert_eq!(t.feed(at(14), n(0)), None);
        assert_eq!(t.feed(at(15), n(0)), Some(DOWN));
        assert!(t.accepts(n(0)));
        assert!(!t.accepts(TrackResult::Exit(0)));

        // quorum_max 0: up while none runs.
        let mut none = ProcessSpec::new("p");
        none.quorum = 0;
        none.quorum_max = 0;
        let mut t = Tracker::new(TrackerConfig::new("p", TrackerKind::Process(none)));
        assert_eq!(t.feed(at(0), n(0)), None);
        assert_eq!(t.feed(at(1), n(1)), Some(DOWN));
    }
}
