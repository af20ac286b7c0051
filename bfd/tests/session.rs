//! The session state machine against a second sans-io session, over an in-memory link with a
//! virtual clock (the quinn `Pair` shape): handshake, detection, AdminDown, Poll/Final, jitter.
#![allow(
    clippy::disallowed_methods,
    reason = "the virtual clock starts from one real instant (clippy.toml)"
)]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use ha_bfd::{Config, Diagnostic, Event, Repr, Role, Session, State, Timers};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn timers(tx_ms: u32, rx_ms: u32, mult: u8) -> Timers {
    Timers {
        desired_min_tx: tx_ms * MS,
        required_min_rx: rx_ms * MS,
        detect_mult: mult,
    }
}

fn config(discr: u32, t: Timers) -> Config {
    Config {
        local_discriminator: NonZeroU32::new(discr).unwrap(),
        timers: t,
        role: Role::Active,
        jitter_seed: u64::from(discr) * 7919,
    }
}

/// A packet on the wire: when it arrives, to which side, what.
struct InFlight {
    at: Instant,
    to: usize,
    repr: Repr,
}

/// Two sessions and a link with a fixed latency; either direction can be cut.
struct Pair {
    now: Instant,
    sides: [Session; 2],
    /// Whether side i is alive (a dead side neither sends nor receives).
    alive: [bool; 2],
    /// Whether packets from side i are delivered.
    link_up: [bool; 2],
    latency: Duration,
    /// Per-packet loss: (generator state, percent lost).
    loss: Option<(u64, u64)>,
    in_flight: Vec<InFlight>,
    /// (time, side, event).
    events: Vec<(Instant, usize, Event)>,
    /// (time, from side, packet) for every packet sent.
    sent: Vec<(Instant, usize, Repr)>,
}

impl Pair {
    fn new(a: Config, b: Config) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            sides: [Session::new(a, now).unwrap(), Session::new(b, now).unwrap()],
            alive: [true, true],
            link_up: [true, true],
            latency: MS,
            loss: None,
            in_flight: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn drain(&mut self) {
        for i in 0..2 {
            while let Some(tx) = self.sides[i].poll_transmit() {
                if !self.alive[i] {
                    continue;
                }
                // Both forms agree.
                assert_eq!(ha_bfd::packet::decode(&tx.bytes), Ok(tx.repr));
                self.sent.push((self.now, i, tx.repr));
                let lost = match &mut self.loss {
                    Some((state, percent)) => {
                        *state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        (*state >> 33) % 100 < *percent
                    }
                    None => false,
                };
                if self.link_up[i] && !lost {
                    self.in_flight.push(InFlight {
                        at: self.now + self.latency,
                        to: 1 - i,
                        repr: tx.repr,
                    });
                }
            }
            while let Some(ev) = self.sides[i].poll_event() {
                self.events.push((self.now, i, ev));
            }
        }
    }

    /// Advances to the next timer or delivery and handles it; false when nothing is pending.
    fn step(&mut self) -> bool {
        self.drain();
        let timer = (0..2)
            .filter(|i| self.alive[*i])
            .filter_map(|i| self.sides[i].poll_timeout())
            .min();
        let delivery = self.in_flight.iter().map(|p| p.at).min();
        let Some(next) = [timer, delivery].into_iter().flatten().min() else {
            return false;
        };
        assert!(
            next >= self.now || timer == Some(next),
            "time went backwards"
        );
        self.now = self.now.max(next);
        let now = self.now;
        let due: Vec<InFlight> = {
            let (due, rest) = std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|p| p.at <= now);
            self.in_flight = rest;
            due
        };
        for p in due {
            if self.alive[p.to] {
                self.sides[p.to].handle_packet(now, &p.repr).unwrap();
            }
        }
        for i in 0..2 {
            if self.alive[i] {
                self.sides[i].handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let before = self.now;
            if !self.step() {
                break;
            }
            // Guard against a loop that makes no progress.
            if self.now == before {
                let mut n = 0;
                while self.step() && self.now == before {
                    n += 1;
                    assert!(n < 100, "no progress at one instant");
                }
            }
        }
    }

    fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return true;
            }
            if !self.step() {
                break;
            }
        }
        cond(self)
    }

    fn state_changes(&self, side: usize) -> Vec<(State, State, Diagnostic)> {
        self.events
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(_, _, e)| match e {
                Event::StateChange {
                    from,
                    to,
                    diagnostic,
                } => (*from, *to, *diagnostic),
                _ => unreachable!(),
            })
            .collect()
    }

    fn both_up(&self) -> bool {
        self.sides.iter().all(|s| s.state() == State::Up)
    }
}

fn fast_pair() -> Pair {
    Pair::new(
        config(0x11, timers(100, 100, 3)),
        config(0x22, timers(100, 100, 3)),
    )
}

fn up_pair() -> Pair {
    let mut p = fast_pair();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
    // Let both Poll Sequences (1 s -> 100 ms) finish.
    p.run_for(Duration::from_millis(500));
    assert!(!p.sides[0].poll_in_progress() && !p.sides[1].poll_in_progress());
    p
}

#[test]
fn three_way_handshake() {
    let mut p = fast_pair();
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
    // Both start at the same instant: both see Down, go Init, then Up (RFC 5880 §6.2).
    for side in 0..2 {
        let changes = p.state_changes(side);
        assert_eq!(
            changes,
            vec![
                (State::Down, State::Init, Diagnostic::NoDiagnostic),
                (State::Init, State::Up, Diagnostic::NoDiagnostic)
            ],
            "side {side}"
        );
    }
    assert_eq!(p.sides[0].remote_discriminator(), 0x22);
    assert_eq!(p.sides[1].remote_discriminator(), 0x11);
    // Quick: state changes are sent at once, so a few latencies, not seconds.
    assert!(p.now - p.sent[0].0 < Duration::from_millis(10));
}

#[test]
fn handshake_when_one_side_starts_late() {
    let mut p = fast_pair();
    p.alive[1] = false;
    p.run_for(Duration::from_millis(2500));
    assert_eq!(p.sides[0].state(), State::Down);
    let now = p.now;
    p.sides[1] = Session::new(config(0x22, timers(100, 100, 3)), now).unwrap();
    p.alive[1] = true;
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
    // The new B sends Down at once: A goes Init, and both reach Up within a few packets.
    assert_eq!(
        p.state_changes(0),
        vec![
            (State::Down, State::Init, Diagnostic::NoDiagnostic),
            (State::Init, State::Up, Diagnostic::NoDiagnostic)
        ]
    );
    assert_eq!(p.state_changes(1).last().map(|c| c.1), Some(State::Up));
    assert!(p.now - now < 10 * MS);
}

#[test]
fn passive_side_answers() {
    let mut b = config(0x22, timers(100, 100, 3));
    b.role = Role::Passive;
    let mut p = Pair::new(config(0x11, timers(100, 100, 3)), b);
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
    // The passive side sent nothing before it heard from the active one.
    let first_b = p.sent.iter().find(|(_, s, _)| *s == 1).unwrap();
    let first_a = p.sent.iter().find(|(_, s, _)| *s == 0).unwrap();
    assert!(first_b.0 > first_a.0);
    assert_eq!(first_b.2.your_discriminator, 0x11);
}

#[test]
fn slow_transmission_while_not_up() {
    let mut p = fast_pair();
    p.alive[1] = false;
    p.run_for(Duration::from_secs(20));
    let times: Vec<Instant> = p
        .sent
        .iter()
        .filter(|(_, s, _)| *s == 0)
        .map(|(t, _, _)| *t)
        .collect();
    assert!(times.len() >= 19, "{}", times.len());
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        // §6.8.3 / §6.8.7: at least 1 s, less 0-25% jitter.
        assert!(gap >= 750 * MS && gap <= 1000 * MS, "gap {gap:?}");
    }
    for (_, _, r) in &p.sent {
        assert_eq!(r.desired_min_tx_us, 1_000_000);
        assert_eq!(r.state, State::Down);
    }
}

#[test]
fn up_uses_configured_timers_with_jitter() {
    let mut p = up_pair();
    assert_eq!(p.sides[0].tx_interval(), Some(100 * MS));
    assert_eq!(p.sides[0].detection_time(), Some(300 * MS));
    let start = p.sent.len();
    p.run_for(Duration::from_secs(10));
    let times: Vec<Instant> = p.sent[start..]
        .iter()
        .filter(|(_, s, _)| *s == 0)
        .map(|(t, _, _)| *t)
        .collect();
    assert!(times.len() > 100, "{}", times.len());
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for g in &gaps {
        assert!(*g >= 75 * MS && *g <= 100 * MS, "gap {g:?}");
    }
    // The jitter is spread, not constant.
    let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    assert!(*max - *min > 15 * MS, "{min:?} {max:?}");
    assert!(p.both_up());
}

#[test]
fn detect_mult_one_jitter_is_75_to_90_percent() {
    let mut p = Pair::new(
        config(1, timers(100, 100, 1)),
        config(2, timers(100, 100, 1)),
    );
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
    p.run_for(Duration::from_millis(500));
    let start = p.sent.len();
    p.run_for(Duration::from_secs(5));
    let times: Vec<Instant> = p.sent[start..]
        .iter()
        .filter(|(_, s, _)| *s == 0)
        .map(|(t, _, _)| *t)
        .collect();
    for w in times.windows(2) {
        let g = w[1] - w[0];
        assert!(g >= 75 * MS && g <= 90 * MS, "gap {g:?}");
    }
    assert!(p.both_up());
}

#[test]
fn detection_timeout_goes_down_with_diag_1() {
    let mut p = up_pair();
    p.alive[1] = false;
    p.in_flight.clear();
    let last_rx = p.now;
    assert!(p.run_until(Duration::from_secs(2), |p| p.sides[0].state()
        == State::Down));
    let took = p.now - last_rx;
    // Detection time = remote detect mult (3) x max(100 ms, remote desired tx 100 ms).
    assert!(took <= 300 * MS && took > 200 * MS, "took {took:?}");
    assert_eq!(
        p.state_changes(0).last(),
        Some(&(
            State::Up,
            State::Down,
            Diagnostic::ControlDetectionTimeExpired
        ))
    );
    assert_eq!(
        p.sides[0].local_diagnostic(),
        Diagnostic::ControlDetectionTimeExpired
    );
    // §6.8.1: the remote discriminator is forgotten; back to 1 s packets carrying diag 1.
    assert_eq!(p.sides[0].remote_discriminator(), 0);
    p.run_for(Duration::from_secs(3));
    let (_, _, last) = p.sent.iter().rev().find(|(_, s, _)| *s == 0).unwrap();
    assert_eq!(last.state, State::Down);
    assert_eq!(last.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(last.desired_min_tx_us, 1_000_000);
    assert_eq!(last.your_discriminator, 0);
}

#[test]
fn one_way_loss_is_detected_by_the_deaf_side_and_signalled() {
    let mut p = up_pair();
    // B's packets are lost: A detects (diag 1) and tells B by a Down packet (B: diag 3).
    p.link_up[1] = false;
    assert!(p.run_until(Duration::from_secs(2), |p| p.sides[1].state()
        == State::Down));
    assert_eq!(
        p.state_changes(0).last().map(|c| c.2),
        Some(Diagnostic::ControlDetectionTimeExpired)
    );
    assert_eq!(
        p.state_changes(1).last().map(|c| c.2),
        Some(Diagnostic::NeighborSignaledSessionDown)
    );
    // Heal: they come back up.
    p.link_up[1] = true;
    assert!(p.run_until(Duration::from_secs(10), Pair::both_up));
}

#[test]
fn peer_admin_down_gives_diag_3_at_once() {
    let mut p = up_pair();
    let t = p.now;
    p.sides[1].admin_down(t);
    assert!(p.run_until(Duration::from_secs(1), |p| p.sides[0].state()
        == State::Down));
    // One packet, one latency: no detection time involved.
    assert!(p.now - t <= 2 * MS, "{:?}", p.now - t);
    assert_eq!(
        p.state_changes(1).last(),
        Some(&(
            State::Up,
            State::AdminDown,
            Diagnostic::AdministrativelyDown
        ))
    );
    assert_eq!(
        p.state_changes(0).last(),
        Some(&(
            State::Up,
            State::Down,
            Diagnostic::NeighborSignaledSessionDown
        ))
    );
    // The AdminDown packets carry diag 7.
    let (_, _, r) = p.sent.iter().rev().find(|(_, s, _)| *s == 1).unwrap();
    assert_eq!(
        (r.state, r.diagnostic),
        (State::AdminDown, Diagnostic::AdministrativelyDown)
    );
    // A stays Down (not Init) while B is AdminDown; B goes silent after a detection time.
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.sides[0].state(), State::Down);
    assert_eq!(p.sides[1].state(), State::AdminDown);
    let b_sent_late = p
        .sent
        .iter()
        .filter(|(at, s, _)| *s == 1 && *at > t + Duration::from_millis(3500))
        .count();
    assert_eq!(b_sent_late, 0);
    // Admin up: back to Up.
    let now = p.now;
    p.sides[1].admin_up(now);
    assert!(p.run_until(Duration::from_secs(5), Pair::both_up));
}

#[test]
fn poll_final_on_timer_change() {
    let mut p = up_pair();
    let t = p.now;
    let start = p.sent.len();
    // Slow A down to 300 ms: an increase waits for the Final (§6.8.3).
    p.sides[0].set_timers(t, timers(300, 300, 3)).unwrap();
    assert!(p.sides[0].poll_in_progress());
    assert_eq!(p.sides[0].tx_interval(), Some(100 * MS));
    p.drain();
    let (_, _, poll) = &p.sent[start];
    assert!(poll.flags.poll && !poll.flags.final_);
    assert_eq!(poll.desired_min_tx_us, 300_000);
    assert!(p.run_until(Duration::from_secs(1), |p| !p.sides[0].poll_in_progress()));
    // B answered with F (and not P) at once.
    let fin = p.sent[start..]
        .iter()
        .find(|(_, s, r)| *s == 1 && r.flags.final_)
        .unwrap();
    assert!(!fin.2.flags.poll);
    assert!(fin.0 - t <= 2 * MS);
    assert_eq!(p.sides[0].tx_interval(), Some(300 * MS));
    // B's detection time follows A's new desired TX; A's rx 300 ms slows B down too.
    assert_eq!(p.sides[1].detection_time(), Some(900 * MS));
    p.run_for(Duration::from_millis(200));
    assert_eq!(p.sides[1].tx_interval(), Some(300 * MS));
    let mid = p.sent.len();
    p.run_for(Duration::from_secs(3));
    for side in 0..2 {
        let times: Vec<Instant> = p.sent[mid..]
            .iter()
            .filter(|(_, s, r)| *s == side && !r.flags.final_)
            .map(|(at, _, _)| *at)
            .collect();
        for w in times.windows(2) {
            let g = w[1] - w[0];
            assert!(g >= 225 * MS && g <= 300 * MS, "side {side} gap {g:?}");
        }
    }
    // No P bit left over, session still up.
    assert!(
        p.sent[p.sent.len() - 4..]
            .iter()
            .all(|(_, _, r)| !r.flags.poll)
    );
    assert!(p.both_up());
}

#[test]
fn poll_sequence_repeats_until_final() {
    let mut p = up_pair();
    // A's packets reach B, but B's do not reach A: the Poll repeats on every packet.
    p.link_up[1] = false;
    let t = p.now;
    let start = p.sent.len();
    p.sides[0].set_timers(t, timers(50, 50, 3)).unwrap();
    // A decrease of the transmit interval applies at once.
    assert_eq!(p.sides[0].tx_interval(), Some(100 * MS));
    p.run_for(Duration::from_millis(250));
    let polls = p.sent[start..]
        .iter()
        .filter(|(_, s, r)| *s == 0 && r.flags.poll)
        .count();
    assert!(polls >= 3, "{polls}");
}

#[test]
fn wrong_discriminator_and_bad_packets_change_nothing() {
    let mut p = up_pair();
    let now = p.now;
    let mut r = p.sent.iter().rev().find(|(_, s, _)| *s == 1).unwrap().2;
    r.your_discriminator = 0x9999;
    r.state = State::Down;
    let err = p.sides[0].handle_packet(now, &r).unwrap_err();
    assert_eq!(
        err,
        ha_bfd::ReceptionError::UnknownDiscriminator { value: 0x9999 }
    );
    assert_eq!(p.sides[0].state(), State::Up);
    assert!(p.sides[0].handle_bytes(now, &[0u8; 10]).is_err());
    assert_eq!(p.sides[0].stats().rx_discarded, 2);
    assert_eq!(p.sides[0].state(), State::Up);
}

#[test]
fn remote_min_rx_zero_stops_periodic_packets() {
    let mut p = up_pair();
    let t = p.now;
    // B asks for no packets (§6.8.7: "MUST NOT periodically transmit BFD Control packets if
    // bfd.RemoteMinRxInterval is zero"); A answers B's Poll with a Final, then is silent.
    p.sides[1].set_timers(t, timers(100, 0, 3)).unwrap();
    p.run_for(50 * MS);
    assert_eq!(p.sides[0].tx_interval(), None);
    p.run_for(200 * MS);
    let a_sent = p
        .sent
        .iter()
        .filter(|(at, s, _)| *s == 0 && *at > t + 50 * MS)
        .count();
    assert_eq!(a_sent, 0);
    // Without Demand mode or Echo, B then detects A's silence (this crate has neither).
    assert!(p.run_until(Duration::from_secs(1), |p| p.sides[1].state()
        == State::Down));
}

#[test]
fn same_seeds_same_trace() {
    let run = || {
        let mut p = fast_pair();
        p.run_for(Duration::from_secs(3));
        let t0 = p.sent[0].0;
        p.sent
            .iter()
            .map(|(at, s, r)| (*at - t0, *s, *r))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

/// The transitions RFC 5880 6.2 allows (plus AdminDown from anywhere, 6.8.16).
fn allowed(from: State, to: State) -> bool {
    matches!(
        (from, to),
        (State::Down, State::Init)
            | (State::Down, State::Up)
            | (State::Init, State::Up)
            | (State::Init, State::Down)
            | (State::Up, State::Down)
            | (_, State::AdminDown)
            | (State::AdminDown, State::Down)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Under random loss (seeded), every transition is one of 6.2's, every fall to Down has
    /// diagnostic 1 or 3, and once the loss stops both sides come Up again.
    #[test]
    fn lossy_link_recovers(seed in any::<u64>(), percent in 0u64..40, seed_a in any::<u64>()) {
        let mut a = config(0x11, timers(100, 100, 3));
        a.jitter_seed = seed_a;
        let mut p = Pair::new(a, config(0x22, timers(100, 100, 3)));
        p.loss = Some((seed, percent));
        p.run_for(Duration::from_secs(20));
        p.loss = None;
        prop_assert!(p.run_until(Duration::from_secs(10), Pair::both_up));
        for side in 0..2 {
            for (from, to, diag) in p.state_changes(side) {
                prop_assert!(allowed(from, to), "{from} -> {to}");
                if to == State::Down {
                    prop_assert!(matches!(
                        diag,
                        Diagnostic::ControlDetectionTimeExpired
                            | Diagnostic::NeighborSignaledSessionDown
                    ));
                }
            }
        }
    }
}
