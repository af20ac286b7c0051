//! Scheduler tests under a virtual clock.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_healthcheck::{
    Check, Event, EventKind, Failure, Health, Outcome, ProbeRequest, Scheduler, SchedulerConfig,
    StartState, TargetConfig, TargetId, TcpCheck, Upsert,
};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn tcp(port: u16) -> Arc<Check> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Arc::new(Check::Tcp(TcpCheck::new(addr)))
}

fn cfg(port: u16) -> TargetConfig {
    TargetConfig {
        interval: S,
        timeout: S / 2,
        retries: 0,
        delay_before_retry: S / 4,
        rise: 1,
        fall: 1,
        start: StartState::Up,
        warmup: Duration::ZERO,
        ..TargetConfig::new(tcp(port))
    }
}

fn events(s: &mut Scheduler) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn due(s: &mut Scheduler, now: Instant) -> Vec<ProbeRequest> {
    std::iter::from_fn(|| s.poll_due(now)).collect()
}

/// Run one attempt at the next due time: returns the request; answers it with `outcome`
/// after `latency`.
fn step(s: &mut Scheduler, now: &mut Instant, outcome: Outcome, latency: Duration) -> ProbeRequest {
    let at = s.poll_timeout().expect("something scheduled");
    if at > *now {
        *now = at;
    }
    let mut reqs = due(s, *now);
    assert_eq!(reqs.len(), 1, "exactly one target due");
    let req = reqs.pop().unwrap();
    *now += latency;
    assert!(s.handle_outcome(*now, req.id, outcome));
    req
}

fn down(f: Failure) -> Outcome {
    Outcome::Down(f)
}

#[test]
fn rise_and_fall_counts() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = Scheduler::new(SchedulerConfig::default());
    let id = TargetId(1);
    s.upsert(
        now,
        id,
        TargetConfig {
            rise: 2,
            fall: 3,
            ..cfg(80)
        },
    );
    // Confirm up first (unconfirmed + success: stays up, no event).
    step(&mut s, &mut now, Outcome::UP, MS);
    assert!(events(&mut s).is_empty());
    // Two failures: still up.
    step(&mut s, &mut now, down(Failure::Refused), MS);
    step(&mut s, &mut now, down(Failure::Refused), MS);
    assert!(events(&mut s).is_empty());
    assert_eq!(s.status(id).unwrap().health, Health::Up);
    assert_eq!(s.status(id).unwrap().failures, 2);
    // A success in between resets the failure count.
    step(&mut s, &mut now, Outcome::UP, MS);
    step(&mut s, &mut now, down(Failure::Refused), MS);
    step(&mut s, &mut now, down(Failure::Refused), MS);
    assert!(events(&mut s).is_empty());
    step(&mut s, &mut now, down(Failure::Status(503)), MS);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].target, id);
    assert_eq!(
        ev[0].kind,
        EventKind::Down {
            reason: Failure::Status(503)
        }
    );
    assert_eq!(ev[0].at, now);
    // One success is not enough to rise.
    step(&mut s, &mut now, Outcome::UP, MS);
    assert!(events(&mut s).is_empty());
    assert_eq!(s.status(id).unwrap().health, Health::Down);
    step(&mut s, &mut now, Outcome::UP, MS);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::Up { weight: None });
}

#[test]
fn retries_delay_and_only_then_fail() {
    let mut now = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig::default());
    let id = TargetId(7);
    s.upsert(
        now,
        id,
        TargetConfig {
            retries: 2,
            delay_before_retry: 300 * MS,
            ..cfg(80)
        },
    );
    let r0 = step(&mut s, &mut now, down(Failure::Timeout), 10 * MS);
    assert_eq!(r0.attempt, 0);
    assert_eq!(
        s.poll_timeout(),
        Some(now + 300 * MS),
        "retry after delay_before_retry"
    );
    let r1 = step(&mut s, &mut now, down(Failure::Timeout), 10 * MS);
    assert_eq!(r1.attempt, 1);
    assert!(
        events(&mut s).is_empty(),
        "no failure counted while retries remain"
    );
    let r2 = step(&mut s, &mut now, down(Failure::Refused), 10 * MS);
    assert_eq!(r2.attempt, 2);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].kind,
        EventKind::Down {
            reason: Failure::Refused
        }
    );
    // Back on cadence: next check at first due + interval.
    assert_eq!(s.poll_timeout(), Some(r0.due + S));
    // A retry that succeeds: no failure, no event.
    let r = step(&mut s, &mut now, down(Failure::Timeout), 10 * MS);
    assert_eq!(r.attempt, 0);
    let r = step(&mut s, &mut now, Outcome::UP, 10 * MS);
    assert_eq!(r.attempt, 1);
    let ev = events(&mut s);
    assert_eq!(ev[0].kind, EventKind::Up { weight: None });
    assert_eq!(s.status(id).unwrap().failures, 0);
}

#[test]
fn alpha_starts_down_until_first_success_and_opposite() {
    let mut now = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.upsert(
        now,
        TargetId(1),
        TargetConfig {
            start: StartState::Down,
            rise: 5,
            ..cfg(80)
        },
    );
    assert_eq!(s.status(TargetId(1)).unwrap().health, Health::Down);
    step(&mut s, &mut now, Outcome::UP, MS);
    let ev = events(&mut s);
    assert_eq!(
        ev.len(),
        1,
        "first success of an alpha target brings it up despite rise 5"
    );
    assert_eq!(ev[0].kind, EventKind::Up { weight: None });

    let mut s = Scheduler::new(SchedulerConfig::default());
    s.upsert(
        now,
        TargetId(2),
        TargetConfig {
            start: StartState::Up,
            fall: 5,
            ..cfg(80)
        },
    );
    assert_eq!(s.status(TargetId(2)).unwrap().health, Health::Up);
    step(&mut s, &mut now, down(Failure::Refused), MS);
    let ev = events(&mut s);
    assert_eq!(
        ev[0].kind,
        EventKind::Down {
            reason: Failure::Refused
        }
    );
    // Alpha target failing first: stays down silently.
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.upsert(
        now,
        TargetId(3),
        TargetConfig {
            start: StartState::Down,
            ..cfg(80)
        },
    );
    step(&mut s, &mut now, down(Failure::Refused), MS);
    assert!(events(&mut s).is_empty());
    assert!(s.status(TargetId(3)).unwrap().confirmed);
}

#[test]
fn fixed_rate_cadence_does_not_drift() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.upsert(now, TargetId(1), cfg(80));
    for k in 0..20u32 {
        let r = step(&mut s, &mut now, Outcome::UP, 300 * MS);
        assert_eq!(
            r.due,
            t0 + k * S,
            "check {k} due on the grid despite 300 ms latency"
        );
    }
    // A probe that overran its slot: next one immediately, then back to a 1 s grid.
    let r = step(&mut s, &mut now, Outcome::UP, 1500 * MS);
    assert_eq!(s.poll_timeout(), Some(now));
    let r2 = step(&mut s, &mut now, Outcome::UP, MS);
    assert_eq!(r2.due, r.due + 1500 * MS);
    assert_eq!(s.poll_timeout(), Some(r2.due + S));
}

#[test]
fn warmup_jitter_bounds_and_determinism() {
    let t0 = Instant::now();
    let first_dues = |seed: u64| {
        let mut s = Scheduler::new(SchedulerConfig {
            seed,
            ..Default::default()
        });
        for i in 0..2000u64 {
            s.upsert(
                t0,
                TargetId(i),
                TargetConfig {
                    warmup: 10 * S,
                    ..cfg(80)
                },
            );
        }
        let mut dues = HashMap::new();
        let reqs = due(&mut s, t0 + 10 * S);
        for r in reqs {
            assert!(r.due >= t0 && r.due <= t0 + 10 * S, "within [0, warmup]");
            dues.insert(r.target, r.due);
        }
        assert_eq!(dues.len(), 2000, "every target due by warmup");
        assert!(due(&mut s, t0 + 10 * S).is_empty());
        dues
    };
    let a = first_dues(1);
    let b = first_dues(1);
    let c = first_dues(2);
    assert_eq!(a, b, "same seed, same jitter");
    assert_ne!(a, c, "another seed, other jitter");
    // Spread: each tenth of the window gets a fair share (expected 200).
    let mut buckets = [0u32; 10];
    for d in a.values() {
        let k = ((d.duration_since(t0).as_secs_f64() / 1.0) as usize).min(9);
        buckets[k] += 1;
    }
    for (k, n) in buckets.iter().enumerate() {
        assert!((120..=280).contains(n), "bucket {k} has {n}: {buckets:?}");
    }
    // Nothing is due before its time.
    let mut s = Scheduler::new(SchedulerConfig {
        seed: 1,
        ..Default::default()
    });
    for i in 0..2000u64 {
        s.upsert(
            t0,
            TargetId(i),
            TargetConfig {
                warmup: 10 * S,
                ..cfg(80)
            },
        );
    }
    let early = due(&mut s, t0 + 5 * S);
    assert!(early.iter().all(|r| r.due <= t0 + 5 * S));
    assert!(early.len() > 800 && early.len() < 1200, "{}", early.len());
}

#[test]
fn reload_keeps_unchanged_targets_and_resets_changed_ones() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = Scheduler::new(SchedulerConfig::default());
    let all = |ports: &[(u64, u16)]| {
        ports
            .iter()
            .map(|&(i, p)| (TargetId(i), TargetConfig { fall: 2, ..cfg(p) }))
            .collect::<Vec<_>>()
    };
    let st = s.reconcile(now, all(&[(1, 81), (2, 82), (3, 83)]));
    assert_eq!(
        (st.added, st.changed, st.unchanged, st.removed),
        (3, 0, 0, 0)
    );
    // Target 2 goes down (two failed checks), target 1 has one failure counted.
    for round in 0..3 {
        for r in due(&mut s, now) {
            let o = match (r.target.0, round) {
                (_, 0) => Outcome::UP,
                (2, _) | (1, 1) => down(Failure::Refused),
                _ => Outcome::UP,
            };
            s.handle_outcome(now, r.id, o);
        }
        now += S;
    }
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].target, ev[0].kind.clone()),
        (
            TargetId(2),
            EventKind::Down {
                reason: Failure::Refused
            }
        )
    );
    // Dispatch the next round but hold the outcomes while reloading.
    let inflight = due(&mut s, now);
    assert_eq!(inflight.len(), 3);
    let next_before = s.poll_timeout();
    // Reload: 1 unchanged, 2 unchanged, 3 changed (new port), 4 added.
    let st = s.reconcile(now, all(&[(1, 81), (2, 82), (3, 93), (4, 84)]));
    assert_eq!(
        (st.added, st.changed, st.unchanged, st.removed),
        (1, 1, 2, 0)
    );
    assert!(events(&mut s).is_empty(), "a reload never flaps");
    assert_eq!(
        s.status(TargetId(2)).unwrap().health,
        Health::Down,
        "down target stays down"
    );
    assert_eq!(
        s.status(TargetId(1)).unwrap().successes,
        1,
        "counters of unchanged kept"
    );
    assert!(s.poll_timeout() <= next_before);
    // In-flight outcomes of unchanged targets still count; the changed one's are stale.
    for r in &inflight {
        let accepted = s.handle_outcome(now, r.id, Outcome::UP);
        assert_eq!(accepted, r.target != TargetId(3), "{:?}", r.target);
    }
    // Target 2 up again after one success (rise 1).
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].target, ev[0].kind.clone()),
        (TargetId(2), EventKind::Up { weight: None })
    );
    // Target 3 was rescheduled right away with the new check.
    let reqs = due(&mut s, now);
    let ids: Vec<_> = reqs.iter().map(|r| r.target.0).collect();
    assert!(ids.contains(&3) && ids.contains(&4), "{ids:?}");
    let r3 = reqs.iter().find(|r| r.target == TargetId(3)).unwrap();
    assert_eq!(*r3.check, *tcp(93));
    assert_eq!(
        s.upsert(now, TargetId(3), TargetConfig { fall: 2, ..cfg(93) }),
        Upsert::Unchanged
    );
}

/// Two schedulers fed the same calls hand out the same attempts in the same order, also
/// after a reconcile that removes targets and adds others into the freed slots (removal
/// order once followed a randomly seeded hash map, and with it the order of equal-time
/// attempts).
#[test]
fn reconcile_is_deterministic() {
    let run = || {
        let t0 = Instant::now();
        let mut s = Scheduler::new(SchedulerConfig::default());
        let all = |ids: std::ops::Range<u16>| ids.map(|i| (TargetId(u64::from(i)), cfg(i)));
        s.reconcile(t0, all(0..300));
        let first: Vec<u64> = due(&mut s, t0).iter().map(|r| r.target.0).collect();
        // Drop the odd half, then add as many new targets: they reuse the freed slots.
        let kept = || (0..300).filter(|i| i % 2 == 0);
        let st = s.reconcile(t0 + MS, kept().map(|i| (TargetId(u64::from(i)), cfg(i))));
        assert_eq!((st.added, st.removed, st.unchanged), (0, 150, 150));
        let targets = kept().chain(1000..1150);
        let st = s.reconcile(t0 + MS, targets.map(|i| (TargetId(u64::from(i)), cfg(i))));
        assert_eq!((st.added, st.removed, st.unchanged), (150, 0, 150));
        let second: Vec<u64> = due(&mut s, t0 + MS).iter().map(|r| r.target.0).collect();
        (first, second)
    };
    let (first, second) = run();
    assert_eq!(first.len(), 300);
    assert_eq!(second.len(), 150);
    assert!(second.iter().all(|&id| id >= 1000));
    for _ in 0..4 {
        assert_eq!(run(), (first.clone(), second.clone()));
    }
}

#[test]
fn removal_stops_checks_and_ignores_late_outcomes() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig::default());
    for i in 0..3 {
        s.upsert(t0, TargetId(i), cfg(80));
    }
    let reqs = due(&mut s, t0);
    assert_eq!(reqs.len(), 3);
    assert!(s.remove(TargetId(1)));
    assert!(!s.remove(TargetId(1)));
    for r in &reqs {
        assert_eq!(
            s.handle_outcome(t0, r.id, down(Failure::Refused)),
            r.target != TargetId(1)
        );
    }
    // Reuse of the slot by a new target does not revive the old probe id.
    s.upsert(t0, TargetId(9), cfg(80));
    let r1 = reqs.iter().find(|r| r.target == TargetId(1)).unwrap();
    assert!(!s.handle_outcome(t0, r1.id, Outcome::UP));
    let mut seen = HashMap::new();
    for k in 0..30u32 {
        let now = t0 + k * S;
        for r in due(&mut s, now) {
            *seen.entry(r.target.0).or_insert(0) += 1;
            s.handle_outcome(now, r.id, Outcome::UP);
        }
    }
    assert!(
        !seen.contains_key(&1),
        "removed target never checked: {seen:?}"
    );
    assert_eq!(seen[&0], 29);
    assert_eq!(seen[&9], 30);
    assert!(s.status(TargetId(1)).is_none());
    assert_eq!(s.len(), 3);
    // Removing everything leaves nothing to do.
    s.reconcile(t0, Vec::new());
    assert!(s.is_empty());
    assert!(due(&mut s, t0 + 100 * S).is_empty());
}

#[test]
fn lost_probe_counts_as_failure() {
    let t0 = Instant::now();
    let grace = Duration::from_millis(200);
    let mut s = Scheduler::new(SchedulerConfig {
        lost_grace: grace,
        ..Default::default()
    });
    s.upsert(t0, TargetId(1), cfg(80));
    let r = due(&mut s, t0).pop().unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + S / 2 + grace));
    assert!(due(&mut s, t0 + S / 2).is_empty());
    assert!(
        due(&mut s, t0 + S / 2 + grace).is_empty(),
        "lost is not a new request"
    );
    let ev = events(&mut s);
    assert_eq!(
        ev[0].kind,
        EventKind::Down {
            reason: Failure::Lost
        }
    );
    assert!(!s.handle_outcome(t0 + S, r.id, Outcome::UP), "too late");
    assert_eq!(s.poll_timeout(), Some(t0 + S));
}

/// `handle_timeout` + a drained `poll_probe` hand out the same attempts in the same order,
/// with the same events, as draining `poll_due`, when outcomes are fed after the drain: 50
/// targets with warmup, retries and failures over 20 s of virtual time.
#[test]
fn handle_timeout_and_poll_probe_match_poll_due() {
    type Trace = Vec<(u64, u32, Instant, Option<Event>)>;
    let t0 = Instant::now();
    let run = |new_api: bool| -> Trace {
        let mut s = Scheduler::new(SchedulerConfig {
            seed: 5,
            lost_grace: 100 * MS,
            ..Default::default()
        });
        for i in 0..50u16 {
            let c = TargetConfig {
                retries: u32::from(i % 3),
                warmup: S,
                ..cfg(i)
            };
            s.upsert(t0, TargetId(u64::from(i)), c);
        }
        let mut trace = Trace::new();
        let mut now = t0;
        while now < t0 + 20 * S {
            let reqs: Vec<ProbeRequest> = if new_api {
                s.handle_timeout(now);
                std::iter::from_fn(|| s.poll_probe()).collect()
            } else {
                due(&mut s, now)
            };
            for r in &reqs {
                trace.push((r.target.0, r.attempt, r.due, None));
            }
            for r in reqs {
                // Every seventh target fails; every eleventh never answers (lost).
                let outcome = match r.target.0 {
                    t if t % 11 == 0 => continue,
                    t if t % 7 == 0 => down(Failure::Refused),
                    _ => Outcome::UP,
                };
                assert!(s.handle_outcome(now + 20 * MS, r.id, outcome));
            }
            trace.extend(events(&mut s).into_iter().map(|e| (0, 0, now, Some(e))));
            now = s
                .poll_timeout()
                .expect("targets keep timers")
                .max(now + 20 * MS);
        }
        trace
    };
    let old = run(false);
    assert!(old.len() > 1000, "{}", old.len());
    assert_eq!(run(true), old);
}

/// A caller at capacity takes fewer attempts than are due: the others are not in flight
/// (never lost while they wait), keep their due time, and get their lost-probe deadline
/// from the `now` at which `poll_probe` hands them out. An early `handle_timeout` does
/// nothing; a removed target's waiting attempt is dropped.
#[test]
fn poll_probe_holds_attempts_until_taken() {
    let t0 = Instant::now();
    let grace = 100 * MS;
    let mut s = Scheduler::new(SchedulerConfig {
        lost_grace: grace,
        ..Default::default()
    });
    for i in 1..=3 {
        s.upsert(t0, TargetId(i), cfg(80));
    }
    s.handle_timeout(t0);
    let first = s.poll_probe().unwrap();
    assert_eq!(first.target, TargetId(1));
    // Two wait: poll_timeout says "now", an early handle_timeout changes nothing.
    assert_eq!(s.poll_timeout(), Some(t0));
    s.handle_timeout(t0);
    // Long after the first attempt is lost, the waiting ones are still not.
    let late = t0 + 2 * S;
    s.handle_timeout(late);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].target, TargetId(1));
    assert_eq!(
        ev[0].kind,
        EventKind::Down {
            reason: Failure::Lost
        }
    );
    s.remove(TargetId(3));
    let second = s.poll_probe().unwrap();
    assert_eq!((second.target, second.due), (TargetId(2), t0));
    // Target 3 was removed; target 1's next check came due at `late` (its check overran).
    let third = s.poll_probe().unwrap();
    assert_eq!((third.target, third.due), (TargetId(1), late));
    assert!(s.poll_probe().is_none());
    // The deadline of target 2's attempt runs from `late`, when it was handed out.
    s.handle_timeout(late + S / 2 + grace - MS);
    assert!(events(&mut s).is_empty());
    assert!(s.handle_outcome(late + S / 2 + grace - MS, second.id, Outcome::UP));
}

/// Lost-probe deadlines of many different timeouts (more than the scheduler keeps queues
/// for, so some wait in its heap), dispatched in an order that is not deadline order, with
/// answered attempts mixed in: every unanswered attempt is lost exactly at dispatch +
/// timeout + grace (`poll_timeout` names each of those instants), and answered ones are
/// never reported lost.
#[test]
fn lost_deadlines_of_many_timeouts_fire_in_order() {
    let t0 = Instant::now();
    let grace = 100 * MS;
    let mut s = Scheduler::new(SchedulerConfig {
        lost_grace: grace,
        ..Default::default()
    });
    // Target i is added (and due at once) at t0 + 10 ms * i with a timeout of
    // 1000 - 20 * i ms: 40 distinct timeouts, later dispatches with earlier deadlines.
    let n = 40u64;
    let add_at = |i: u64| t0 + Duration::from_millis(10 * i);
    let mut next_add = 0u64;
    let mut expected: Vec<(Instant, TargetId)> = Vec::new();
    let mut lost = Vec::new();
    loop {
        let timer = s.poll_timeout().filter(|&t| t < t0 + 50 * S);
        let now = match (timer, (next_add < n).then(|| add_at(next_add))) {
            (Some(t), Some(a)) => t.min(a),
            (Some(t), None) => t,
            (None, Some(a)) => a,
            (None, None) => break,
        };
        if next_add < n && add_at(next_add) == now {
            let c = TargetConfig {
                interval: 100 * S,
                timeout: Duration::from_millis(1000 - 20 * next_add),
                ..cfg(80)
            };
            s.upsert(now, TargetId(next_add), c);
            next_add += 1;
        }
        for r in due(&mut s, now) {
            if r.target.0 % 3 == 0 {
                assert!(s.handle_outcome(now, r.id, Outcome::UP));
            } else {
                expected.push((now + r.timeout + grace, r.target));
            }
        }
        for ev in events(&mut s) {
            assert_eq!(
                ev.kind,
                EventKind::Down {
                    reason: Failure::Lost
                }
            );
            lost.push((ev.at, ev.target));
        }
    }
    assert_eq!(expected.len(), 26);
    expected.sort();
    lost.sort();
    assert_eq!(lost, expected);
}

/// Wakeups (distinct `poll_timeout` instants) and lateness of 1,000 targets over 5 s of
/// virtual time, every outcome answered at once.
fn wakeups_with_slack(slack: Duration) -> (usize, u64, Duration) {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        timer_slack: slack,
        ..Default::default()
    });
    for i in 0..1000 {
        let c = TargetConfig {
            warmup: S,
            ..cfg(80)
        };
        s.upsert(t0, TargetId(i), c);
    }
    let (mut wakes, mut checks, mut worst) = (0, 0, Duration::ZERO);
    while let Some(now) = s.poll_timeout().filter(|&t| t < t0 + 5 * S) {
        wakes += 1;
        if !slack.is_zero() {
            assert_eq!((now - t0).as_nanos() % slack.as_nanos(), 0, "on the grid");
        }
        let reqs = due(&mut s, now);
        assert!(
            !reqs.is_empty(),
            "a wakeup with nothing to do at {:?}",
            now - t0
        );
        for r in reqs {
            worst = worst.max(now - r.due);
            checks += 1;
            assert!(s.handle_outcome(now, r.id, Outcome::UP));
        }
    }
    (wakes, checks, worst)
}

#[test]
fn timer_slack_coalesces_wakeups_within_the_slack() {
    let (exact_wakes, exact_checks, exact_late) = wakeups_with_slack(Duration::ZERO);
    assert_eq!(exact_late, Duration::ZERO);
    assert!(exact_wakes > 4000, "{exact_wakes} distinct due times");
    let (wakes, checks, late) = wakeups_with_slack(10 * MS);
    assert!(wakes <= 501, "{wakes} wakeups in 5 s with 10 ms slack");
    assert!(late < 10 * MS, "started {late:?} late");
    // The same checks are made, at most one per target fewer at the end of the window.
    assert!(
        checks + 1000 >= exact_checks && checks <= exact_checks,
        "{checks} vs {exact_checks}"
    );
}

#[test]
fn dynamic_weight_events() {
    let mut now = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig::default());
    s.upsert(
        now,
        TargetId(1),
        TargetConfig {
            start: StartState::Down,
            ..cfg(80)
        },
    );
    step(
        &mut s,
        &mut now,
        ha_healthcheck::outcome_from_exit(12, true),
        MS,
    );
    assert_eq!(events(&mut s)[0].kind, EventKind::Up { weight: Some(10) });
    step(
        &mut s,
        &mut now,
        ha_healthcheck::outcome_from_exit(12, true),
        MS,
    );
    assert!(events(&mut s).is_empty(), "same weight: no event");
    step(
        &mut s,
        &mut now,
        ha_healthcheck::outcome_from_exit(5, true),
        MS,
    );
    assert_eq!(
        events(&mut s)[0].kind,
        EventKind::Weight { weight: Some(3) }
    );
    step(
        &mut s,
        &mut now,
        ha_healthcheck::outcome_from_exit(1, true),
        MS,
    );
    assert_eq!(
        events(&mut s)[0].kind,
        EventKind::Down {
            reason: Failure::Exit(1)
        }
    );
    assert_eq!(s.status(TargetId(1)).unwrap().weight, Some(3));
}

#[test]
fn ten_thousand_targets_each_checked_once_per_interval() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        seed: 42,
        ..Default::default()
    });
    let n = 10_000u64;
    for i in 0..n {
        s.upsert(
            t0,
            TargetId(i),
            TargetConfig {
                warmup: S,
                ..cfg(80)
            },
        );
    }
    let mut count = vec![0u32; n as usize];
    let mut last_due: Vec<Option<Instant>> = vec![None; n as usize];
    let mut pending = Vec::new();
    // 10 ms ticks for 20 s; outcomes come back one tick later.
    for tick in 0..2000u32 {
        let now = t0 + tick * 10 * MS;
        for (id, o) in pending.drain(..) {
            assert!(s.handle_outcome(now, id, o));
        }
        while let Some(r) = s.poll_due(now) {
            let i = r.target.0 as usize;
            assert!(now - r.due < 10 * MS, "dispatched within one tick of due");
            if let Some(prev) = last_due[i] {
                assert_eq!(r.due - prev, S, "exactly one interval apart");
            }
            last_due[i] = Some(r.due);
            count[i] += 1;
            pending.push((
                r.id,
                if i.is_multiple_of(10) {
                    down(Failure::Refused)
                } else {
                    Outcome::UP
                },
            ));
        }
    }
    assert!(
        count.iter().all(|&c| (19..=20).contains(&c)),
        "min {:?} max {:?}",
        count.iter().min(),
        count.iter().max()
    );
    let downs = events(&mut s)
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Down { .. }))
        .count();
    assert_eq!(downs, 1000);
}
