//! Which instances an input concerns, and when each router's timer is next due, so that an
//! input costs the instances it touches and not every instance of the node.
//!
//! Before this, every input (one advert, one timer) drained every router's queues, applied
//! every instance's faults and folded every router's deadline: an advert cost O(N) and the N
//! adverts a second of N instances cost O(N²). At 1,000 instances that was two thirds of the
//! backup's CPU (`perf record -g`: `drain_router` 30%, `apply_faults` 10%, the deadline fold
//! 9%, the routers' `poll_*` 16%), and the node met its timing only up to 1,000 instances where
//! keepalived met 2,000 (`cargo xtask bench limits -- vrrp`).
//!
//! The rule the director keeps: a router is given an input only after [`Agenda::touch`], so a
//! router that was not touched has empty queues and the deadline recorded here (checked after
//! every pump in debug builds).

use std::collections::BTreeSet;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub(super) struct Agenda {
    /// Instances given an input since the last [`Agenda::settle`].
    touched: BTreeSet<usize>,
    /// Every running timer, earliest first.
    timers: BTreeSet<(Instant, usize)>,
    /// Each instance's entry in `timers`.
    timer_of: Vec<Option<Instant>>,
}

impl Agenda {
    /// `n` instances, every one touched (its first outputs and timer are read at once).
    pub(super) fn new(n: usize) -> Agenda {
        let mut a = Agenda::default();
        a.touch_all(n);
        a
    }

    /// Instance `i` is about to be given an input.
    pub(super) fn touch(&mut self, i: usize) {
        self.touched.insert(i);
    }

    /// Every instance of `n` (a reload replaced routers): every timer is read again.
    pub(super) fn touch_all(&mut self, n: usize) {
        self.touched = (0..n).collect();
        self.timers.clear();
        self.timer_of = vec![None; n];
    }

    /// The first touched instance at or after `from` (in index order, as the routers were
    /// always drained).
    pub(super) fn next_touched(&self, from: usize) -> Option<usize> {
        self.touched.range(from..).next().copied()
    }

    /// The earliest router whose timer is due at `now`, taken off the timers and touched.
    pub(super) fn take_due(&mut self, now: Instant) -> Option<usize> {
        let &(at, i) = self.timers.first()?;
        if at > now {
            return None;
        }
        self.timers.pop_first();
        self.timer_of[i] = None;
        self.touched.insert(i);
        Some(i)
    }

    /// The earliest deadline and its instance.
    pub(super) fn first_timer(&self) -> Option<(Instant, usize)> {
        self.timers.first().copied()
    }

    /// Reads the touched instances' deadlines (`deadline(i)`) into the timers; nothing is
    /// touched after.
    pub(super) fn settle(&mut self, mut deadline: impl FnMut(usize) -> Option<Instant>) {
        for i in std::mem::take(&mut self.touched) {
            let new = deadline(i);
            let Some(slot) = self.timer_of.get_mut(i) else {
                continue;
            };
            if *slot == new {
                continue;
            }
            if let Some(old) = slot.take() {
                self.timers.remove(&(old, i));
            }
            if let Some(at) = new {
                self.timers.insert((at, i));
            }
            *slot = new;
        }
    }

    /// The deadline recorded for instance `i` (for the debug check).
    #[cfg(debug_assertions)]
    pub(super) fn recorded(&self, i: usize) -> Option<Instant> {
        self.timer_of.get(i).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A starting point for the tests' instants (the only clock reading: tests have no `now`).
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn timers_come_due_in_order_and_settle_moves_them() {
        let t0 = t0();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut a = Agenda::new(3);
        assert_eq!(a.next_touched(0), Some(0));
        assert_eq!(a.next_touched(1), Some(1));
        let deadlines = [Some(at(30)), None, Some(at(10))];
        a.settle(|i| deadlines[i]);
        assert_eq!(a.next_touched(0), None);
        assert_eq!(a.first_timer().map(|(at, _)| at), Some(at(10)));
        assert_eq!(a.take_due(at(5)), None, "nothing due yet");
        assert_eq!(a.take_due(at(10)), Some(2));
        assert_eq!(a.next_touched(0), Some(2), "a due router is touched");
        assert_eq!(a.first_timer().map(|(at, _)| at), Some(at(30)));
        // Router 2 re-arms later than router 0; router 0 is touched and moves earlier.
        a.touch(0);
        let deadlines = [Some(at(20)), None, Some(at(40))];
        a.settle(|i| deadlines[i]);
        assert_eq!(a.take_due(at(100)), Some(0));
        assert_eq!(a.take_due(at(100)), Some(2));
        assert_eq!(a.take_due(at(100)), None);
        assert_eq!(a.first_timer().map(|(at, _)| at), None);
    }

    #[test]
    fn touch_all_forgets_every_timer() {
        let t0 = t0();
        let mut a = Agenda::new(2);
        a.settle(|_| Some(t0));
        a.touch_all(2);
        assert_eq!(a.first_timer().map(|(at, _)| at), None);
        assert_eq!(a.next_touched(0), Some(0));
        a.settle(|i| (i == 1).then_some(t0));
        assert_eq!(a.take_due(t0), Some(1));
        assert_eq!(a.take_due(t0), None);
    }
}
