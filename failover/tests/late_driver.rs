//! Simulated starvation: Routers driven directly with the sans-io late-tolerant driver
//! (`ha_failover::late`), on a virtual clock.
//!
//! The master sends on its schedule (unless a test silences it); packets reach the backup
//! after a fixed latency and are stamped with that arrival time (the kernel's receive time);
//! the backup process only runs at chosen wake-up times, far apart when it is starved.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_failover::late::LateDriver;
use ha_vrrp_proto::router::{Config, Event, Router, RxAdvert, State, TransitionKind};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Version, VrId};

const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_micros(100);

fn addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn router(prio: u8, last: u8, now: Instant) -> Router {
    let mut c = Config::new(Version::V3, VrId::new(51).unwrap(), addr(last));
    c.priority = Priority(prio);
    c.advert_interval = AdvertInterval::V3(Centiseconds::new(1).unwrap()); // 10 ms
    Router::new(c, now).unwrap()
}

/// Drains a router's outputs, returning the priorities of its adverts and its transitions.
fn drain(r: &mut Router) -> (Vec<Priority>, Vec<(State, State)>) {
    let mut sent = Vec::new();
    while let Some(t) = r.poll_transmit() {
        sent.push(t.priority);
    }
    while r.poll_action().is_some() {}
    let mut tr = Vec::new();
    while let Some(Event::Transition { from, to, .. }) = r.poll_event() {
        tr.push((from, to));
    }
    (sent, tr)
}

/// A master (priority 150, 10.0.0.1) that already won the election, and its packets' arrival
/// times at the backup up to `end`, leaving out those sent in `silent` windows.
fn master_arrivals(t0: Instant, end: Instant, silent: &[(Duration, Duration)]) -> Vec<Instant> {
    let mut m = router(150, 1, t0);
    let mut d = LateDriver::new(t0);
    let mut out = Vec::new();
    // The master runs on time: it is woken exactly at each deadline.
    let mut now = t0;
    while now <= end {
        d.drive(&mut m, now);
        let (sent, _) = drain(&mut m);
        let quiet = silent.iter().any(|&(a, b)| now >= t0 + a && now < t0 + b);
        if !quiet {
            out.extend(sent.iter().map(|_| now + LATENCY));
        }
        now = m.poll_timeout().expect("master runs a timer");
    }
    out
}

fn advert(prio: u8) -> RxAdvert {
    RxAdvert::new(
        addr(1),
        VrId::new(51).unwrap(),
        Priority(prio),
        AdvertInterval::V3(Centiseconds::new(1).unwrap()),
    )
}

/// Runs a backup (priority 100, Master_Down_Interval 36.1 ms) that wakes only at `wakes`,
/// through the late driver; returns its transitions, in order, and the driver.
fn starved_backup(
    t0: Instant,
    arrivals: &[Instant],
    wakes: &[Instant],
) -> (Router, Vec<(State, State)>, LateDriver) {
    let mut b = router(100, 2, t0);
    let mut d = LateDriver::new(t0);
    let mut transitions = Vec::new();
    let mut next = 0;
    for &w in wakes {
        while next < arrivals.len() && arrivals[next] <= w {
            d.queue(arrivals[next], advert(150));
            next += 1;
        }
        d.drive(&mut b, w);
        transitions.extend(drain(&mut b).1);
    }
    (b, transitions, d)
}

/// The same backup processing the way a naive loop does: timer first, at the wake time, then
/// the packets read, stamped with the time they were read.
fn naive_backup(t0: Instant, arrivals: &[Instant], wakes: &[Instant]) -> Vec<(State, State)> {
    let mut b = router(100, 2, t0);
    let mut transitions = Vec::new();
    let mut next = 0;
    for &w in wakes {
        b.handle_timeout(w);
        while next < arrivals.len() && arrivals[next] <= w {
            b.handle_advert(w, advert(150));
            next += 1;
        }
        transitions.extend(drain(&mut b).1);
    }
    transitions
}

/// Wake-ups every `period` with a deterministic jitter of up to `jitter` (xorshift).
fn wakes(
    t0: Instant,
    end: Duration,
    period: Duration,
    jitter: Duration,
    seed: u64,
) -> Vec<Instant> {
    let mut x = seed | 1;
    let mut t = Duration::ZERO;
    let mut out = Vec::new();
    while t < end {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = if jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(x % jitter.as_nanos() as u64)
        };
        t += period + j;
        out.push(t0 + t);
    }
    out
}

fn became_master(tr: &[(State, State)]) -> usize {
    tr.iter().filter(|&&(_, to)| to == State::Master).count()
}

#[test]
fn late_starved_backup_with_adverts_on_time_stays_backup() {
    let t0 = Instant::now();
    let end = Duration::from_secs(10);
    let arrivals = master_arrivals(t0, t0 + end + Duration::from_secs(1), &[]);
    for seed in 1..=5u64 {
        // Woken only every 100-250 ms: several Master_Down_Intervals (36.1 ms) late each time.
        let w = wakes(t0, end, 100 * MS, 150 * MS, seed);
        let (b, tr, d) = starved_backup(t0, &arrivals, &w);
        assert_eq!(
            tr,
            vec![(State::Initialize, State::Backup)],
            "seed {seed}: a backup whose adverts arrived in time must not take over"
        );
        assert_eq!(b.state(), State::Backup);
        assert_eq!(b.counters().transitions(TransitionKind::MasterDown), 0);
        let s = d.stats();
        assert!(s.rescued > 0, "seed {seed}: no advert was rescued: {s:?}");
        assert!(
            s.rx_delay.above(50_000) > 0,
            "seed {seed}: adverts were read late: {s:?}"
        );
        assert!(s.rx_delay.count() > 900, "every advert is measured: {s:?}");
    }
}

#[test]
fn late_naive_processing_of_the_same_schedule_flips() {
    // The control: without the driver, the same starvation is a false failover, so the test
    // above tests something.
    let t0 = Instant::now();
    let end = Duration::from_secs(10);
    let arrivals = master_arrivals(t0, t0 + end + Duration::from_secs(1), &[]);
    let w = wakes(t0, end, 100 * MS, 150 * MS, 1);
    let tr = naive_backup(t0, &arrivals, &w);
    assert!(became_master(&tr) > 10, "naive loop: {tr:?}");
}

#[test]
fn late_backup_takes_over_when_adverts_were_really_late() {
    // The master is silent for 60 ms (> Master_Down_Interval 36.1 ms) at t = 1 s, then
    // resumes; the backup is starved and reads the resumed adverts in the same late wake-up
    // as the expiry. The silence was real: it takes over at the deadline, then yields to the
    // higher priority advert that followed (RFC 9568 section 6.4.3).
    let t0 = Instant::now();
    let end = Duration::from_secs(2);
    let arrivals = master_arrivals(
        t0,
        t0 + end + Duration::from_secs(1),
        &[(1000 * MS, 1060 * MS)],
    );
    let w = wakes(t0, end, 100 * MS, 150 * MS, 3);
    let (b, tr, _) = starved_backup(t0, &arrivals, &w);
    assert_eq!(became_master(&tr), 1, "{tr:?}");
    assert_eq!(b.counters().transitions(TransitionKind::MasterDown), 1);
    assert_eq!(b.state(), State::Backup, "it yields to the higher priority");

    // A silence shorter than Master_Down_Interval (two adverts lost: a 30 ms gap) is no failover,
    // even read late.
    let arrivals = master_arrivals(
        t0,
        t0 + end + Duration::from_secs(1),
        &[(1000 * MS, 1020 * MS)],
    );
    let (_, tr, _) = starved_backup(t0, &arrivals, &w);
    assert_eq!(became_master(&tr), 0, "{tr:?}");
}

#[test]
fn late_backup_takes_over_a_crashed_master_at_its_deadline() {
    let t0 = Instant::now();
    let end = Duration::from_secs(2);
    let crash = 1000 * MS;
    let arrivals = master_arrivals(t0, t0 + end, &[(crash, end + MS)]);
    let last = *arrivals.last().unwrap();
    let w = wakes(t0, end, 100 * MS, 150 * MS, 4);
    let mut b = router(100, 2, t0);
    let mut d = LateDriver::new(t0);
    let mut next = 0;
    let mut took_over = None;
    let mut previous_wake = t0;
    for &wake in &w {
        while next < arrivals.len() && arrivals[next] <= wake {
            d.queue(arrivals[next], advert(150));
            next += 1;
        }
        d.drive(&mut b, wake);
        let (_, tr) = drain(&mut b);
        if became_master(&tr) > 0 && took_over.is_none() {
            took_over = Some((previous_wake, wake, b.poll_timeout().unwrap()));
        }
        previous_wake = wake;
    }
    let (before, wake, next_tick) = took_over.expect("the backup takes over a crashed master");
    // It takes over at the first wake-up after the deadline (last advert +
    // Master_Down_Interval), and the takeover happened at that deadline: its advert schedule
    // is on the grid that starts there.
    let deadline = last + b.master_down_interval();
    assert!(
        before < deadline && deadline <= wake,
        "{before:?} {deadline:?} {wake:?}"
    );
    assert_eq!((next_tick - deadline).as_nanos() % (10 * MS).as_nanos(), 0);
    assert!(next_tick > wake && next_tick <= wake + 10 * MS);
    assert_eq!(b.state(), State::Master);
}

#[test]
fn late_master_sends_at_once_and_keeps_its_schedule() {
    let t0 = Instant::now();
    let interval = 10 * MS;
    let mut m = router(150, 1, t0);
    let mut d = LateDriver::new(t0);
    let first = m.poll_timeout().unwrap();
    d.drive(&mut m, first);
    assert_eq!(drain(&mut m).0.len(), 1, "it sends on taking over");
    assert_eq!(m.state(), State::Master);
    let grid0 = m.poll_timeout().unwrap();
    let mut x = 7u64;
    let mut sends = 0;
    for _ in 0..1000 {
        let deadline = m.poll_timeout().unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Woken up to 35 ms late (several intervals).
        let late = Duration::from_micros(x % 35_000);
        d.drive(&mut m, deadline + late);
        let (sent, tr) = drain(&mut m);
        assert!(tr.is_empty());
        assert_eq!(sent.len(), 1, "one advert per late wake-up, sent at once");
        sends += 1;
        let next = m.poll_timeout().unwrap();
        assert!(next > deadline + late, "the next deadline is in the future");
        assert!(next <= deadline + late + interval);
        let offset = (next - grid0).as_nanos() % interval.as_nanos();
        assert_eq!(offset, 0, "the schedule stays on the grid (no drift)");
    }
    assert_eq!(sends, 1000);
    assert!(d.stats().skipped_ticks > 0);
    // 1000 late ticks and the Master_Down_Timer that made it master.
    assert_eq!(d.stats().timer_lateness.count(), 1001);

    // The router keeps the grid by itself too, when fired at the late wake-up time.
    let mut m = router(150, 1, t0);
    m.handle_timeout(m.poll_timeout().unwrap());
    let _ = drain(&mut m);
    let deadline = m.poll_timeout().unwrap();
    m.handle_timeout(deadline + 3 * MS);
    assert_eq!(
        (m.poll_timeout().unwrap() - deadline).as_nanos() % interval.as_nanos(),
        0
    );
}

#[test]
fn late_time_given_to_the_router_never_goes_backwards() {
    let t0 = Instant::now();
    let mut b = router(100, 2, t0);
    let mut d = LateDriver::new(t0);
    d.drive(&mut b, t0 + 5 * MS);
    let _ = drain(&mut b);
    // A packet stamped before what the router was given, and one stamped in the future.
    d.queue(t0 + MS, advert(150));
    d.queue(t0 + 500 * MS, advert(150));
    d.drive(&mut b, t0 + 10 * MS);
    assert_eq!(d.stats().reordered, 1);
    assert_eq!(d.last(), t0 + 10 * MS);
    assert_eq!(
        b.poll_timeout(),
        Some(t0 + 10 * MS + b.master_down_interval())
    );
    assert_eq!(d.clock(t0), t0 + 10 * MS);
}
