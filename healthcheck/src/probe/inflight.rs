//! [`InFlight`]: a bounded set of probe futures polled by one task, without a task spawn,
//! a channel message or a heap allocation per probe once its slots exist.
//!
//! Each slot owns one boxed future that is replaced in place ([`Pin::set`]) when the slot
//! is reused, and one [`Waker`] made once that queues the slot's index, so a wakeup polls
//! only the probe it concerns. The set is generic over the future so that it stores the
//! concrete type of an `async` block (no `dyn`, no per-probe box).
//!
//! Two rules for the task that owns the set, because one task now does what thousands of
//! tasks did:
//! - Each future runs outside tokio's cooperative budget ([`tokio::task::unconstrained`]);
//!   otherwise the task's budget, spent after about a hundred socket operations, would make
//!   every further probe in the same poll return `Pending` until the task yields.
//! - The task must return to the runtime regularly (after handling a batch of outputs,
//!   e.g. with [`tokio::task::yield_now`]): the runtime reads IO readiness and fires timers
//!   only then, so a task that always finds more work would stall the probes waiting on a
//!   socket or on their timeout.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tokio::task::{Unconstrained, unconstrained};

/// Most polls in one [`InFlight::poll_next`] call that produce no output; past it the call
/// yields (waking itself) so that a busy set never starves the rest of the task.
const POLL_BUDGET: usize = 256;

/// Wakeups shared by the slot wakers and the set.
#[derive(Default)]
struct Shared {
    /// Slots to poll, in wakeup order.
    ready: Mutex<VecDeque<u32>>,
    /// The task polling the set.
    parent: Mutex<Option<Waker>>,
}

struct SlotWaker {
    index: u32,
    /// True while the index is in `ready` (a slot is queued once however often it is woken).
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.enqueue(true);
    }
}

impl SlotWaker {
    /// Queue the slot for a poll (once), waking the parent task if asked and needed.
    fn enqueue(&self, wake_parent: bool) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let was_empty = {
            let mut ready = self
                .shared
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ready.push_back(self.index);
            ready.len() == 1
        };
        if wake_parent && was_empty {
            let parent = self
                .shared
                .parent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = parent.as_ref() {
                w.wake_by_ref();
            }
        }
    }
}

struct Slot<F> {
    future: Pin<Box<Option<Unconstrained<F>>>>,
    /// Pushes into this slot so far: tells a [`FlightKey`] of an earlier future from the
    /// current one's.
    generation: u32,
    /// Whether its future was polled once (an empty slot counts as started).
    started: bool,
    waker: Arc<SlotWaker>,
    /// The waker made from `waker`, kept to avoid a reference-count round trip per poll.
    task_waker: Waker,
}

/// Names one future pushed into an [`InFlight`] set, for [`InFlight::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlightKey {
    index: u32,
    generation: u32,
}

/// A bounded set of in-flight futures of one type, polled together by the task that owns
/// the set, without a task spawn, channel message or allocation per future once its slot
/// exists (each slot's box is reused in place, and each slot has one waker that queues
/// only that slot for a poll).
///
/// Rules for the owning task: each future runs outside tokio's cooperative budget (done by
/// the set: one task polling thousands of probes would otherwise spend its budget and stall
/// them), and the task must return to the runtime regularly, e.g. with
/// [`tokio::task::yield_now`] after each batch of outputs, since the runtime reads socket
/// readiness and fires timers only then.
///
/// ```no_run
/// # async fn demo(mut sched: ha_healthcheck::Scheduler) {
/// use std::time::Instant;
/// use ha_healthcheck::probe::{self, InFlight};
///
/// let mut inflight = InFlight::new(4096);
/// loop {
///     sched.handle_timeout(Instant::now());
///     while !inflight.is_full() {
///         let Some(req) = sched.poll_probe() else { break };
///         let _ = inflight.push(async move {
///             (req.id, probe::run(&req.check, req.timeout).await)
///         });
///     }
///     // (also sleep until sched.poll_timeout() in a select!)
///     if let Some((id, outcome)) = inflight.next().await {
///         sched.handle_outcome(Instant::now(), id, outcome);
///     }
/// }
/// # }
/// ```
pub struct InFlight<F> {
    slots: Vec<Slot<F>>,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
    /// Futures pushed and not yet polled.
    unstarted: usize,
    shared: Arc<Shared>,
}

impl<F: Future> InFlight<F> {
    /// A set holding at most `capacity` futures at once (at least 1). Slots are made on
    /// first use, so memory follows the peak number in flight, not the capacity.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            capacity,
            len: 0,
            unstarted: 0,
            shared: Arc::new(Shared::default()),
        }
    }

    /// Futures in flight.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Futures pushed and not polled yet: work handed to the set that has not started.
    ///
    /// Each future's first poll does its first work (a probe's `connect(2)`), one after
    /// another in [`InFlight::poll_next`]. A driver that pushes faster than the set can
    /// start its futures keeps this number small, so that what waits, waits where it came
    /// from: a probe pushed but not started still has its deadline running (a
    /// [`crate::Scheduler`] counts an attempt as in flight, and its lost-probe deadline as
    /// running, from the moment it hands it out).
    #[must_use]
    pub fn unstarted(&self) -> usize {
        self.unstarted
    }

    /// True if no future is in flight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if [`InFlight::push`] would refuse a future.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// The most futures in flight at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Add a future; it is first polled by the next [`InFlight::poll_next`]. Returns its key
    /// (for [`InFlight::cancel`]); when the set is full the future comes back unpolled.
    pub fn push(&mut self, future: F) -> Result<FlightKey, F> {
        if self.is_full() {
            return Err(future);
        }
        let index = if let Some(i) = self.free.pop() {
            let slot = &mut self.slots[i as usize];
            slot.future.set(Some(unconstrained(future)));
            slot.generation = slot.generation.wrapping_add(1);
            slot.started = false;
            i
        } else {
            let i = u32::try_from(self.slots.len()).expect("capacity fits in u32");
            let waker = Arc::new(SlotWaker {
                index: i,
                queued: AtomicBool::new(false),
                shared: Arc::clone(&self.shared),
            });
            self.slots.push(Slot {
                future: Box::pin(Some(unconstrained(future))),
                generation: 0,
                started: false,
                task_waker: Waker::from(Arc::clone(&waker)),
                waker,
            });
            i
        };
        self.len += 1;
        self.unstarted += 1;
        let slot = &self.slots[index as usize];
        // Queued without waking the owner: it is the caller, and calls `poll_next` next.
        slot.waker.enqueue(false);
        Ok(FlightKey {
            index,
            generation: slot.generation,
        })
    }

    /// Drop the future `key` names if it is still in flight (its sockets close, its slot is
    /// free for the next push); false if it finished or was cancelled already. A key of a
    /// future that is gone never names the one pushed into its slot after it.
    ///
    /// For a driver whose scheduler gave up on an attempt (no outcome within its deadline,
    /// as the scheduler's lost-probe deadline): the attempt's probe would otherwise keep
    /// running beside the next attempt of the same target.
    pub fn cancel(&mut self, key: FlightKey) -> bool {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return false;
        };
        if slot.generation != key.generation || slot.future.is_none() {
            return false;
        }
        // A wakeup already queued for the slot finds it empty (or finds the next future,
        // which is then polled once early: harmless).
        self.vacate(key.index);
        true
    }

    /// Counts slot `index`'s future as started (once).
    fn mark_started(&mut self, index: u32) {
        if !std::mem::replace(&mut self.slots[index as usize].started, true) {
            self.unstarted -= 1;
        }
    }

    /// Drops the future in slot `index` (it holds one) and frees the slot.
    fn vacate(&mut self, index: u32) {
        self.slots[index as usize].future.set(None);
        self.mark_started(index);
        self.free.push(index);
        self.len -= 1;
    }

    /// Poll the woken futures until one finishes: `Ready(Some(output))` for it,
    /// `Ready(None)` if the set is empty, `Pending` otherwise (the task is woken when a
    /// future in the set is).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        {
            let mut parent = self
                .shared
                .parent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match parent.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *parent = Some(cx.waker().clone()),
            }
        }
        if self.len == 0 {
            return Poll::Ready(None);
        }
        for _ in 0..POLL_BUDGET {
            let next = self
                .shared
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(index) = next else {
                return Poll::Pending;
            };
            // Before the poll (an empty slot counts as started already).
            self.mark_started(index);
            let slot = &mut self.slots[index as usize];
            // Cleared before the poll: a wakeup during the poll queues the slot again.
            slot.waker.queued.store(false, Ordering::Release);
            let Some(future) = slot.future.as_mut().as_pin_mut() else {
                continue; // a late wakeup of a finished future
            };
            let mut slot_cx = Context::from_waker(&slot.task_waker);
            if let Poll::Ready(out) = future.poll(&mut slot_cx) {
                self.vacate(index);
                return Poll::Ready(Some(out));
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Hands every future finished by now to `f`, at most `max` of them: `Ready(n)` with how
    /// many (at least one), `Pending` if none was (the task is woken when one is). The
    /// driver's batch: one call per wakeup, then back to the runtime (see the type's rules).
    pub fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut f: impl FnMut(F::Output),
    ) -> Poll<usize> {
        let mut done = 0;
        while done < max {
            match self.poll_next(cx) {
                Poll::Ready(Some(out)) => {
                    f(out);
                    done += 1;
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        if done == 0 {
            Poll::Pending
        } else {
            Poll::Ready(done)
        }
    }

    /// The next finished future's output (`None` if the set is empty).
    pub async fn next(&mut self) -> Option<F::Output> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Drop every future in flight (their sockets close); slots are kept for reuse.
    pub fn clear(&mut self) {
        for i in 0..self.slots.len() as u32 {
            if self.slots[i as usize].future.is_some() {
                self.vacate(i);
            }
        }
    }
}

impl<F> std::fmt::Debug for InFlight<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("slots", &self.slots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Waker;

    /// A future that is pending until its shared flag is set, counting its polls.
    struct Gate {
        open: Rc<Cell<bool>>,
        polls: Rc<Cell<u32>>,
        waker: Rc<std::cell::RefCell<Option<Waker>>>,
        value: u32,
    }

    impl Future for Gate {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.open.get() {
                Poll::Ready(self.value)
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    struct CountWake(std::sync::atomic::AtomicU32);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A waker for the task that owns the set, counting its wakeups.
    fn counting_waker() -> (Arc<CountWake>, Waker) {
        let parent = Arc::new(CountWake(Default::default()));
        let waker = Waker::from(parent.clone());
        (parent, waker)
    }

    #[allow(clippy::type_complexity)]
    fn gate(
        value: u32,
    ) -> (
        Gate,
        Rc<Cell<bool>>,
        Rc<Cell<u32>>,
        Rc<std::cell::RefCell<Option<Waker>>>,
    ) {
        let open = Rc::new(Cell::new(false));
        let polls = Rc::new(Cell::new(0));
        let waker = Rc::new(std::cell::RefCell::new(None));
        (
            Gate {
                open: open.clone(),
                polls: polls.clone(),
                waker: waker.clone(),
                value,
            },
            open,
            polls,
            waker,
        )
    }

    #[test]
    fn cancel_drops_only_the_future_its_key_names() {
        let (_parent, parent_waker) = counting_waker();
        let mut cx = Context::from_waker(&parent_waker);
        let mut set = InFlight::new(2);
        let (g1, _open1, polls1, w1) = gate(1);
        let (g2, open2, _polls2, w2) = gate(2);
        let k1 = set.push(g1).ok().expect("room");
        let k2 = set.push(g2).ok().expect("room");
        assert_ne!(k1, k2);
        assert!(set.poll_next(&mut cx).is_pending());
        // The first is given up on: dropped (its waker with it), its slot free, the set
        // not full any more.
        assert!(set.cancel(k1));
        assert_eq!(set.len(), 1);
        assert!(!set.is_full());
        assert!(!set.cancel(k1), "a second cancel finds nothing");
        assert_eq!(Rc::strong_count(&w1), 1, "the cancelled future is dropped");
        // Its slot takes the next future; the old key does not name it.
        let (g3, open3, polls3, _w3) = gate(3);
        let k3 = set.push(g3).ok().expect("room");
        assert_eq!(set.slots.len(), 2, "the slot is reused");
        assert!(
            !set.cancel(k1),
            "a stale key never cancels the slot's next future"
        );
        open3.set(true);
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some(3)));
        assert_eq!(polls3.get(), 1);
        assert_eq!(
            polls1.get(),
            1,
            "the cancelled future is never polled again"
        );
        assert!(!set.cancel(k3), "a finished future cannot be cancelled");
        // The other one is untouched.
        open2.set(true);
        w2.borrow_mut().take().unwrap().wake();
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some(2)));
        assert!(set.is_empty());
    }

    #[test]
    fn unstarted_counts_the_futures_never_polled() {
        let (_parent, parent_waker) = counting_waker();
        let mut cx = Context::from_waker(&parent_waker);
        let mut set = InFlight::new(8);
        let (g1, _open1, _polls1, _w1) = gate(1);
        let (g2, _open2, _polls2, _w2) = gate(2);
        let (g3, _open3, polls3, _w3) = gate(3);
        let _k1 = set.push(g1).ok().expect("room");
        let k2 = set.push(g2).ok().expect("room");
        assert_eq!(set.unstarted(), 2);
        // A future cancelled before its first poll no longer waits to start.
        assert!(set.cancel(k2));
        assert_eq!(set.unstarted(), 1);
        // Its slot's next future has not started either, though the slot had a wakeup
        // queued from the cancelled one's push.
        let _k3 = set.push(g3).ok().expect("room");
        assert_eq!(set.unstarted(), 2);
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(
            set.unstarted(),
            0,
            "one poll_next starts every queued future"
        );
        assert_eq!(polls3.get(), 1);
        // A pending future woken and polled again does not count twice.
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(set.unstarted(), 0);
        assert_eq!(set.len(), 2);
        set.clear();
        assert_eq!((set.len(), set.unstarted()), (0, 0));
    }

    #[test]
    fn only_woken_futures_are_polled_and_slots_are_reused() {
        let (parent, parent_waker) = counting_waker();
        let mut cx = Context::from_waker(&parent_waker);
        let mut set = InFlight::new(3);
        let (g1, open1, polls1, w1) = gate(1);
        let (g2, open2, polls2, w2) = gate(2);
        assert!(set.push(g1).is_ok());
        assert!(set.push(g2).is_ok());
        assert_eq!(set.len(), 2);
        // First poll of each.
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!((polls1.get(), polls2.get()), (1, 1));
        // Nothing woken: nothing polled.
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!((polls1.get(), polls2.get()), (1, 1));
        // Wake the second only, twice: polled once, its output comes out.
        open2.set(true);
        let w = w2.borrow_mut().take().unwrap();
        w.wake_by_ref();
        w.wake();
        assert!(
            parent.0.load(Ordering::Relaxed) >= 1,
            "the parent task is woken"
        );
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some(2)));
        assert_eq!((polls1.get(), polls2.get()), (1, 2));
        assert_eq!(set.len(), 1);
        // The freed slot is reused: no new slot is made.
        let (g3, open3, _polls3, _w3) = gate(3);
        open3.set(true);
        assert!(set.push(g3).is_ok());
        assert_eq!(set.slots.len(), 2);
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some(3)));
        // The other future still finishes when woken.
        open1.set(true);
        w1.borrow_mut().take().unwrap().wake();
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(Some(1)));
        assert!(set.is_empty());
        assert_eq!(set.poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn capacity_is_enforced_and_clear_frees_slots() {
        let mut set = InFlight::new(2);
        let (a, ..) = gate(1);
        let (b, ..) = gate(2);
        let (c, ..) = gate(3);
        assert!(set.push(a).is_ok());
        assert!(set.push(b).is_ok());
        assert!(set.is_full());
        let back = set.push(c).unwrap_err();
        assert_eq!(back.value, 3);
        set.clear();
        assert!(set.is_empty() && !set.is_full());
        assert!(set.push(back).is_ok());
        assert_eq!(set.slots.len(), 2);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_does_not_hold_the_caller() {
        struct Spin;
        impl Future for Spin {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        let (parent, parent_waker) = counting_waker();
        let mut cx = Context::from_waker(&parent_waker);
        let mut set = InFlight::new(1);
        assert!(set.push(Spin).is_ok());
        assert!(set.poll_next(&mut cx).is_pending());
        assert!(parent.0.load(Ordering::Relaxed) >= 1);
    }
}
