//! The late-tolerant driver, sans-io: the one policy that keeps a starved process from a false
//! failover, for a VRRP [`Router`] or a whole [`Director`] ([`LateMachine`]), used by the tokio
//! runtime and by the simulators.
//!
//! A process that is not scheduled in time reads its socket late and sees its timers late.
//! Acting on what it sees *when* it sees it turns a master's advert that arrived in time, but
//! was read after the Master_Down_Timer's deadline, into a false failover. The driver replays
//! what happened in the order it happened instead:
//!
//! - received adverts are [queued](LateDriver::queue) with the kernel's receive time (the
//!   runtime reads them with `SO_TIMESTAMPNS`);
//! - [`LateDriver::drive`] feeds them to the router in receive-time order and fires each timer
//!   at its own deadline, interleaved with the packets: a timer fires before a packet only if
//!   its deadline came first. An advert received before the Master_Down_Timer's deadline is
//!   therefore honoured however late it is read (RFC 9568 section 6.4.2: the timer is reset
//!   by an advert *received* in time), and one received after it is not;
//! - the time given to the router never goes backwards (a packet stamped earlier than what the
//!   router has already been given is fed at the latest time given);
//! - a master's Adver_Timer that is late fires once, at the last point of its schedule that
//!   has passed (`deadline + k * Advertisement_Interval`): the advert goes out at once and the
//!   schedule stays on the original grid (RFC 9568 section 6.4.3; the router keeps the grid
//!   too); the missed ticks are counted, not sent in a burst.
//!
//! Inputs other than adverts and timers (link, priority, shutdown) are given to the router by
//! the caller with [`LateDriver::clock`], after a [`LateDriver::drive`], so they too are
//! ordered after everything that happened before them.
//!
//! # Call order
//! 1. Read every packet already queued on the socket; validate it; call
//!    [`LateDriver::queue`] with its receive time.
//! 2. Call [`LateDriver::drive`] with the current time; drain the router's outputs.
//! 3. Wait for the socket or `router.poll_timeout()`, then go to 1.
//!
//! ```no_run
//! use std::time::Instant;
//! use ha_failover::late::LateDriver;
//! # fn demo(router: &mut ha_vrrp_proto::router::Router,
//! #         queued: Vec<(Instant, ha_vrrp_proto::router::RxAdvert)>) {
//! let mut driver = LateDriver::new(Instant::now());
//! for (received_at, advert) in queued {
//!     driver.queue(received_at, advert);
//! }
//! driver.drive(router, Instant::now());
//! while let Some(tx) = router.poll_transmit() { let _ = tx; /* send */ }
//! # }
//! ```

use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{Router, RxAdvert, State};

use crate::core::{Director, InstanceId};

/// How many packets a driver holds between two [`LateDriver::drive`] calls; more are dropped
/// and counted (a socket read loop that never drives is a bug, this bounds its memory).
pub const MAX_QUEUED: usize = 1024;

/// The upper bounds of the lateness histogram's buckets, in microseconds; a last bucket holds
/// everything above the last bound.
pub const BUCKET_BOUNDS_US: [u64; 9] = [
    100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
];

/// A lateness histogram with fixed buckets ([`BUCKET_BOUNDS_US`]): recording never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// `buckets[i]` counts samples `<= BUCKET_BOUNDS_US[i]` (and above the previous bound);
    /// the last one counts the rest.
    pub buckets: [u64; BUCKET_BOUNDS_US.len() + 1],
    /// The largest sample.
    pub max: Duration,
    /// The sum of all samples (for the mean).
    pub sum: Duration,
}

impl Histogram {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[i] += 1;
        self.max = self.max.max(d);
        self.sum = self.sum.saturating_add(d);
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// How many samples exceeded `bound_us`, which must be one of [`BUCKET_BOUNDS_US`]
    /// (otherwise the next larger bound is used).
    pub fn above(&self, bound_us: u64) -> u64 {
        let i = BUCKET_BOUNDS_US
            .iter()
            .position(|&b| bound_us <= b)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets.iter().skip(i + 1).sum()
    }
}

impl std::fmt::Display for Histogram {
    /// `n=COUNT max=MS mean=MS [<=0.1ms:N <=0.5ms:N ... >100ms:N]`, empty buckets omitted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.count();
        let mean = if n == 0 {
            0.0
        } else {
            self.sum.as_secs_f64() * 1000.0 / n as f64
        };
        write!(
            f,
            "n={n} max={:.3}ms mean={mean:.3}ms [",
            self.max.as_secs_f64() * 1000.0
        )?;
        let mut first = true;
        for (i, &c) in self.buckets.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if !first {
                write!(f, " ")?;
            }
            first = false;
            match BUCKET_BOUNDS_US.get(i) {
                Some(b) => write!(f, "<={}ms:{c}", *b as f64 / 1000.0)?,
                None => write!(f, ">{}ms:{c}", BUCKET_BOUNDS_US[i - 1] as f64 / 1000.0)?,
            }
        }
        write!(f, "]")
    }
}

/// What the driver measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateStats {
    /// Receive-to-processing delay of every advert fed (kernel receive time to the `now` of
    /// the [`LateDriver::drive`] that fed it).
    pub rx_delay: Histogram,
    /// How late each timer was fired (its deadline to the `now` of the drive that fired it).
    pub timer_lateness: Histogram,
    /// Adverts fed to a Backup after its Master_Down_Timer's deadline had passed in real time,
    /// but received before it: each one is a false failover that reading late would have
    /// caused.
    pub rescued: u64,
    /// A master's Adver_Timer ticks that were skipped because the timer was more than one
    /// interval late (one advert is sent for all of them).
    pub skipped_ticks: u64,
    /// Packets stamped before a time the router had already been given (fed at that time).
    pub reordered: u64,
    /// Packets dropped because more than [`MAX_QUEUED`] were queued.
    pub overflow: u64,
}

/// A sans-io machine the late policy drives: a [`Router`] (one instance) or a
/// [`Director`] (many). Its timers and its received adverts are all the policy needs.
pub trait LateMachine {
    /// A validated advert, ready to feed: an [`RxAdvert`] for a router, an instance and its
    /// advert for a director.
    type Input: Copy;

    /// The earliest timer (the machine's `poll_timeout`).
    fn next_deadline(&self) -> Option<Instant>;

    /// If the timer due at `deadline` is a master's Adver_Timer, its advertisement interval
    /// (the grid a late firing stays on); `None` for any other timer.
    fn master_interval(&self, deadline: Instant) -> Option<Duration>;

    /// Fires the timers due by `now`.
    fn fire(&mut self, now: Instant);

    /// Feeds one validated advert at `at`.
    fn feed(&mut self, at: Instant, input: Self::Input);

    /// Whether `input`, fed at `at`, reaches a Backup whose Master_Down_Timer is due after
    /// `at` but by `now`: an advert that arrived in time and is read late.
    fn rescues(&self, input: &Self::Input, at: Instant, now: Instant) -> bool;
}

impl LateMachine for Router {
    type Input = RxAdvert;

    fn next_deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    fn master_interval(&self, deadline: Instant) -> Option<Duration> {
        (self.state() == State::Master && self.poll_timeout() == Some(deadline))
            .then(|| self.config().advert_interval.to_duration())
    }

    fn fire(&mut self, now: Instant) {
        self.handle_timeout(now);
    }

    fn feed(&mut self, at: Instant, input: RxAdvert) {
        self.handle_advert(at, input);
    }

    fn rescues(&self, _: &RxAdvert, at: Instant, now: Instant) -> bool {
        backup_due_between(self, at, now)
    }
}

impl LateMachine for Director {
    type Input = (InstanceId, RxAdvert);

    fn next_deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    fn master_interval(&self, deadline: Instant) -> Option<Duration> {
        // The grid of a master due then; another instance due at the same time or before the
        // grid point fires with it, once (a router never sends more than one advert per
        // firing), so no instance bursts.
        self.next_timer()
            .filter(|&(at, _)| at == deadline)
            .and_then(|(_, i)| self.router(i))
            .and_then(|r| r.master_interval(deadline))
    }

    fn fire(&mut self, now: Instant) {
        self.handle_timeout(now);
    }

    fn feed(&mut self, at: Instant, (instance, advert): (InstanceId, RxAdvert)) {
        // The instance came from `Director::validate_packet`: it exists.
        if let Err(e) = self.handle_advert(at, instance, advert) {
            tracing::error!(error = %e, "late driver: advert for an unknown instance");
        }
    }

    fn rescues(&self, (instance, _): &(InstanceId, RxAdvert), at: Instant, now: Instant) -> bool {
        self.router(*instance)
            .is_some_and(|r| backup_due_between(r, at, now))
    }
}

/// A Backup whose Master_Down_Timer is due after `at` and by `now`.
fn backup_due_between(r: &Router, at: Instant, now: Instant) -> bool {
    r.state() == State::Backup && r.poll_timeout().is_some_and(|d| at < d && d <= now)
}

/// The late-tolerant driver of a [`Router`] or a [`Director`] ([`LateMachine`]). See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct LateDriver<I = RxAdvert> {
    /// Queued packets: (receive time, arrival sequence, advert).
    queued: Vec<(Instant, u64, I)>,
    seq: u64,
    /// The latest time given to the machine.
    last: Instant,
    stats: LateStats,
}

/// A bound on timer firings per drive (each firing moves the deadline forward, so a correct
/// machine needs few; the bound keeps a misbehaving one from spinning).
const MAX_FIRINGS: usize = 64;

impl<I: Copy> LateDriver<I> {
    /// A driver whose clock starts at `now` (the machine's creation time).
    pub fn new(now: Instant) -> LateDriver<I> {
        LateDriver {
            queued: Vec::new(),
            seq: 0,
            last: now,
            stats: LateStats::default(),
        }
    }

    /// Queues a validated advert with the time the kernel received it.
    pub fn queue(&mut self, received_at: Instant, advert: I) {
        if self.queued.len() >= MAX_QUEUED {
            self.stats.overflow += 1;
            return;
        }
        self.queued.push((received_at, self.seq, advert));
        self.seq += 1;
    }

    /// How many packets wait for the next [`LateDriver::drive`].
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// The measurements so far.
    pub fn stats(&self) -> &LateStats {
        &self.stats
    }

    /// The latest time given to the machine.
    pub fn last(&self) -> Instant {
        self.last
    }

    /// A time for an input the caller gives the machine itself (link, priority, shutdown, a
    /// script's result): `now`, or the latest time already given if that is later. Call
    /// [`LateDriver::drive`] first so that the input comes after what is queued.
    pub fn clock(&mut self, now: Instant) -> Instant {
        self.last = self.last.max(now);
        self.last
    }

    /// Feeds every queued advert in receive-time order and fires every timer due by `now` at
    /// its deadline, interleaved in time order. Drain the machine's outputs afterwards.
    pub fn drive<M: LateMachine<Input = I>>(&mut self, machine: &mut M, now: Instant) {
        let now = now.max(self.last);
        // Stable: equal timestamps keep their arrival order.
        self.queued.sort_unstable_by_key(|&(t, seq, _)| (t, seq));
        let queued = std::mem::take(&mut self.queued);
        for &(received_at, _, advert) in &queued {
            let at = received_at.min(now);
            self.fire_timers(machine, at, now);
            let at = if at < self.last {
                self.stats.reordered += 1;
                self.last
            } else {
                at
            };
            if machine.rescues(&advert, at, now) {
                self.stats.rescued += 1;
            }
            self.stats
                .rx_delay
                .record(now.saturating_duration_since(received_at));
            machine.feed(at, advert);
            self.last = at;
        }
        // Give the allocation back for the next round.
        self.queued = queued;
        self.queued.clear();
        self.fire_timers(machine, now, now);
        // Everything up to `now` has been looked at: later inputs come after it.
        self.last = now;
    }

    /// Fires the timers whose deadline is at or before `until`, each at its deadline (a
    /// master's at the last point of its schedule before `until`).
    fn fire_timers<M: LateMachine<Input = I>>(
        &mut self,
        machine: &mut M,
        until: Instant,
        now: Instant,
    ) {
        for _ in 0..MAX_FIRINGS {
            let Some(deadline) = machine.next_deadline() else {
                return;
            };
            if deadline > until {
                return;
            }
            let mut at = deadline;
            if let Some(interval) = machine.master_interval(deadline)
                && !interval.is_zero()
            {
                // RFC 9568 section 6.4.3: firing at the last grid point sends one advert for
                // all the missed ticks and counts them.
                let missed =
                    until.saturating_duration_since(deadline).as_nanos() / interval.as_nanos();
                let missed = u32::try_from(missed).unwrap_or(u32::MAX);
                if missed > 0 {
                    self.stats.skipped_ticks += u64::from(missed);
                    at = deadline + interval.saturating_mul(missed);
                }
            }
            let at = at.max(self.last);
            self.stats
                .timer_lateness
                .record(now.saturating_duration_since(deadline));
            machine.fire(at);
            self.last = at;
            if machine.next_deadline() == Some(deadline) {
                // The machine did not move its timer: nothing more can fire.
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let mut h = Histogram::default();
        h.record(Duration::from_micros(50));
        h.record(Duration::from_micros(100));
        h.record(Duration::from_micros(101));
        h.record(Duration::from_millis(30));
        h.record(Duration::from_secs(1));
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[7], 1);
        assert_eq!(h.buckets[9], 1);
        assert_eq!(h.count(), 5);
        assert_eq!(h.max, Duration::from_secs(1));
        assert_eq!(h.above(20_000), 2);
        assert_eq!(h.above(100_000), 1);
        let s = h.to_string();
        assert!(s.starts_with("n=5 max=1000.000ms"), "{s}");
        assert!(s.contains(">100ms:1"), "{s}");
    }
}
