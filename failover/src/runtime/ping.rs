//! Ping trackers (heartbeat `ping` / `ping_group`, ipfail's rule) on the runtime's side: when
//! each address is due an ICMP / ICMPv6 echo, when each answered last, and whether the tracker
//! is up (any address answered within its `dead` time).
//!
//! The bookkeeping here is plain data driven by the caller's `now`; the echoes themselves are
//! `ha_healthcheck`'s ping probe ([`echo`]), run off the loop like the other trackers' work,
//! their answers coming back as feedback. Each echo may take up to the tracker's interval (a
//! lost one costs one interval, not `dead`), and at most one per address is in flight.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::core::{Director, TrackResult, TrackerId, TrackerKind};

/// One ping tracker's state.
#[derive(Debug, Clone)]
struct Pinged {
    id: TrackerId,
    name: String,
    addresses: Vec<IpAddr>,
    interval: Duration,
    dead: Duration,
    /// When the next round of echoes is due.
    next: Instant,
    /// Per address: when it last answered.
    answered: Vec<Option<Instant>>,
    /// Per address: an echo is in flight.
    inflight: Vec<bool>,
}

impl Pinged {
    fn up(&self, now: Instant) -> bool {
        self.answered
            .iter()
            .flatten()
            .any(|at| now.saturating_duration_since(*at) <= self.dead)
    }

    fn answering(&self, now: Instant) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .zip(&self.answered)
            .filter(|(_, at)| at.is_some_and(|at| now.saturating_duration_since(at) <= self.dead))
            .map(|(a, _)| *a)
            .collect()
    }
}

/// An echo to send: to `addr` (the `index`th address of `tracker`), within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Echo {
    pub tracker: TrackerId,
    pub index: usize,
    pub addr: IpAddr,
    pub timeout: Duration,
}

/// Every ping tracker of a director.
#[derive(Debug, Clone, Default)]
pub(super) struct Pings {
    trackers: Vec<Pinged>,
}

impl Pings {
    /// The ping trackers of `d`, all due at `now`; addresses that `old` (the previous
    /// configuration's) tracked under the same tracker name keep their last answer.
    pub(super) fn new(d: &Director, now: Instant, old: Option<&Pings>) -> Pings {
        let trackers = (0..d.tracker_count())
            .filter_map(|t| {
                let id = TrackerId(t as u32);
                let c = d.tracker_config(id)?;
                let TrackerKind::Ping {
                    addresses,
                    interval,
                    dead,
                } = &c.kind
                else {
                    return None;
                };
                let prev = old.and_then(|o| o.trackers.iter().find(|p| p.name == c.name));
                let kept = |a: &IpAddr| {
                    let p = prev?;
                    let i = p.addresses.iter().position(|x| x == a)?;
                    Some((p.answered[i], p.inflight[i]))
                };
                let answered = addresses
                    .iter()
                    .map(|a| kept(a).and_then(|k| k.0))
                    .collect();
                let inflight = addresses
                    .iter()
                    .map(|a| kept(a).is_some_and(|k| k.1))
                    .collect();
                Some(Pinged {
                    id,
                    name: c.name.clone(),
                    addresses: addresses.clone(),
                    interval: (*interval).max(Duration::from_millis(1)),
                    dead: *dead,
                    next: now,
                    answered,
                    inflight,
                })
            })
            .collect();
        Pings { trackers }
    }

    /// When [`Pings::due`] must be called next.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.trackers.iter().map(|p| p.next).min()
    }

    /// At `now`: the echoes to send (for every tracker due, to each address without one in
    /// flight) and each due tracker's result (up if any address answered within `dead`).
    pub(super) fn due(&mut self, now: Instant) -> (Vec<Echo>, Vec<(TrackerId, TrackResult)>) {
        let mut echoes = Vec::new();
        let mut results = Vec::new();
        for p in self.trackers.iter_mut().filter(|p| p.next <= now) {
            // The next round one interval after this one was due (a loop a little late does
            // not drift the schedule); one an interval late or more starts afresh (no burst).
            p.next += p.interval;
            if p.next <= now {
                p.next = now + p.interval;
            }
            results.push((p.id, result(p.up(now))));
            for (index, addr) in p.addresses.iter().enumerate() {
                if !std::mem::replace(&mut p.inflight[index], true) {
                    echoes.push(Echo {
                        tracker: p.id,
                        index,
                        addr: *addr,
                        timeout: p.interval.min(p.dead).max(Duration::from_millis(10)),
                    });
                }
            }
        }
        (echoes, results)
    }

    /// An echo's outcome: `answered` at `now` or not. Returns the tracker's result when an
    /// answer may have brought it up (an answer counts at once; a loss only when it is
    /// due). An echo sent before a reload that changed the tracker's addresses is ignored.
    pub(super) fn answer(
        &mut self,
        now: Instant,
        echo: &Echo,
        answered: bool,
    ) -> Option<(TrackerId, TrackResult)> {
        let index = echo.index;
        let p = self
            .trackers
            .iter_mut()
            .find(|p| p.id == echo.tracker && p.addresses.get(index) == Some(&echo.addr))?;
        if let Some(f) = p.inflight.get_mut(index) {
            *f = false;
        }
        if !answered {
            return None;
        }
        *p.answered.get_mut(index)? = Some(now);
        Some((p.id, TrackResult::Up))
    }

    /// Each tracker for the status: name, up, the addresses answering within `dead`.
    pub(super) fn status(&self, now: Instant) -> Vec<super::status::PingStatus> {
        self.trackers
            .iter()
            .map(|p| super::status::PingStatus {
                name: p.name.clone(),
                up: p.up(now),
                addresses: p.addresses.clone(),
                answering: p.answering(now),
            })
            .collect()
    }
}

fn result(up: bool) -> TrackResult {
    if up {
        TrackResult::Up
    } else {
        TrackResult::Down
    }
}

/// One ICMP / ICMPv6 echo to `addr` within `timeout` (`ha_healthcheck`'s ping probe):
/// whether it answered.
pub(super) async fn echo(addr: IpAddr, timeout: Duration) -> bool {
    let check = ha_healthcheck::Check::Ping(ha_healthcheck::PingCheck {
        addr,
        socket: Default::default(),
    });
    matches!(
        ha_healthcheck::probe::run(&check, timeout).await,
        ha_healthcheck::Outcome::Up { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DirectorBuilder, TrackerConfig};

    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn director(t0: Instant) -> Director {
        let mut b = DirectorBuilder::new();
        b.add_tracker(TrackerConfig::new(
            "script",
            TrackerKind::Script { argv: vec![] },
        ));
        b.add_tracker(TrackerConfig::new(
            "group",
            TrackerKind::Ping {
                addresses: vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])],
                interval: Duration::from_secs(1),
                dead: Duration::from_secs(3),
            },
        ));
        b.build(t0).unwrap()
    }

    #[test]
    fn up_while_any_answered_within_dead() {
        let t0 = start();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let d = director(t0);
        let mut p = Pings::new(&d, t0, None);
        let g = TrackerId(1);
        assert_eq!(p.poll_timeout(), Some(t0));
        let (echoes, results) = p.due(t0);
        assert_eq!(echoes.len(), 2);
        assert_eq!(echoes[0].timeout, Duration::from_secs(1));
        assert_eq!(results, vec![(g, TrackResult::Down)]);
        assert_eq!(p.poll_timeout(), Some(at(1000)));
        // Nothing due yet: nothing happens.
        assert_eq!(p.due(at(500)), (vec![], vec![]));
        // One answers: up at once.
        assert_eq!(
            p.answer(at(10), &echoes[1], true),
            Some((g, TrackResult::Up))
        );
        assert_eq!(p.answer(at(1000), &echoes[0], false), None);
        // An answer for an address the tracker does not have (an old configuration's).
        let stale = Echo {
            addr: IpAddr::from([10, 9, 9, 9]),
            ..echoes[0]
        };
        assert_eq!(p.answer(at(1000), &stale, true), None);
        // Both have their outcome: both are pinged again.
        let (echoes, results) = p.due(at(1000));
        assert_eq!(echoes.len(), 2);
        assert_eq!(results, vec![(g, TrackResult::Up)]);
        let s = &p.status(at(1000))[0];
        assert!(s.up);
        assert_eq!(s.answering, vec![IpAddr::from([10, 0, 0, 2])]);
        // An echo still in flight is not sent again.
        let (none, _) = p.due(at(2000));
        assert!(none.is_empty());
        p.answer(at(2100), &echoes[0], false);
        p.answer(at(2100), &echoes[1], false);
        // Within dead (3 s after the answer at 10 ms): still up; after it: down.
        assert_eq!(p.due(at(3000)).1, vec![(g, TrackResult::Up)]);
        assert_eq!(p.due(at(4000)).1, vec![(g, TrackResult::Down)]);
        assert!(p.status(at(4000))[0].answering.is_empty());
    }

    proptest::proptest! {
        /// Any order of rounds and answers: never two echoes in flight to one address, and
        /// the result of a round is whether an address answered within `dead` (a model kept
        /// beside it).
        #[test]
        fn rounds_and_answers_agree_with_a_model(
            ops in proptest::collection::vec((0u64..2500, 0usize..4, proptest::bool::ANY), 1..60)
        ) {
            let t0 = start();
            let d = director(t0);
            let mut p = Pings::new(&d, t0, None);
            let dead = Duration::from_secs(3);
            let mut now = t0;
            let mut inflight: Vec<Echo> = Vec::new();
            let mut last: [Option<Instant>; 2] = [None, None];
            for (step, pick, ok) in ops {
                now += Duration::from_millis(step);
                if pick < 2 || inflight.is_empty() {
                    let (echoes, results) = p.due(now);
                    for e in &echoes {
                        proptest::prop_assert!(!inflight.iter().any(|i| i.index == e.index));
                    }
                    inflight.extend(echoes);
                    let want = last
                        .iter()
                        .flatten()
                        .any(|at| now.saturating_duration_since(*at) <= dead);
                    for (_, r) in results {
                        proptest::prop_assert_eq!(r, result(want));
                    }
                } else {
                    let e = inflight.remove(pick % inflight.len());
                    let r = p.answer(now, &e, ok);
                    proptest::prop_assert_eq!(r.is_some(), ok);
                    if ok {
                        last[e.index] = Some(now);
                    }
                }
            }
        }
    }

    #[test]
    fn a_late_loop_does_not_drift_or_burst() {
        let t0 = start();
        let d = director(t0);
        let mut p = Pings::new(&d, t0, None);
        let _ = p.due(t0);
        // Called 5.5 s late: one round, the next an interval on (not five rounds at once).
        let late = t0 + Duration::from_millis(5500);
        assert_eq!(p.due(late).1.len(), 1);
        assert_eq!(p.poll_timeout(), Some(late + Duration::from_secs(1)));
        // A little late: the schedule keeps its phase.
        assert_eq!(p.due(late + Duration::from_millis(1100)).1.len(), 1);
        assert_eq!(p.poll_timeout(), Some(late + Duration::from_secs(2)));
    }

    #[test]
    fn a_reload_keeps_answers_by_name_and_address() {
        let t0 = start();
        let d = director(t0);
        let mut p = Pings::new(&d, t0, None);
        let (echoes, _) = p.due(t0);
        p.answer(t0, &echoes[0], true);
        let mut q = Pings::new(&d, t0, Some(&p));
        assert!(q.status(t0)[0].up);
        // The second echo is still in flight: not sent again after the reload.
        assert_eq!(q.due(t0).0, vec![echoes[0]]);
        assert!(Pings::new(&d, t0, None).status(t0).iter().all(|s| !s.up));
    }
}
