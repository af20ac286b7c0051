//! A counting global allocator for the zero-allocation tests.
//!
//! A test binary installs it and measures a closure:
//!
//! ```no_run
//! use ha_testsupport::alloc::{CountingAlloc, allocations_during};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAlloc = CountingAlloc;
//!
//! let n = allocations_during(|| {
//!     std::hint::black_box(Vec::<u8>::with_capacity(16));
//! });
//! assert_eq!(n, 1);
//! ```
//!
//! Allocations are counted per thread, so the test harness's other threads (and other tests
//! running in parallel) do not disturb a measurement. `alloc` and `realloc` count; `dealloc`
//! does not. Without [`CountingAlloc`] installed as the binary's global allocator every count
//! stays 0: a test should also check that a known allocation is seen.

use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes the thread allocated less those it freed (a block freed by another thread
    /// counts there).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The most `LIVE` reached since [`peak_bytes_during`] last reset it.
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// The system allocator, counting the calling thread's `alloc` and `realloc` calls. Install it
/// with `#[global_allocator]`; its `GlobalAlloc` impl is in the crate's `sys` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

/// Counts one allocation of the calling thread. Never allocates (the counter is a
/// const-initialised thread-local without a destructor) and does nothing while the thread's
/// locals are being torn down.
pub(crate) fn note_allocation() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Counts `grown` bytes more (fewer when negative) held by the calling thread's allocations.
/// Never allocates, like [`note_allocation`].
pub(crate) fn note_bytes(grown: i64) {
    let Ok(live) = LIVE.try_with(|l| {
        let v = l.get() + grown;
        l.set(v);
        v
    }) else {
        return;
    };
    let _ = PEAK.try_with(|p| p.set(p.get().max(live)));
}

/// The allocations made by the calling thread so far (0 unless [`CountingAlloc`] is the global
/// allocator).
#[must_use]
pub fn allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// The allocations the calling thread made while running `f`.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}

/// Bytes the calling thread has allocated and not freed (0 unless [`CountingAlloc`] is the
/// global allocator; a block freed by another thread counts there).
#[must_use]
pub fn live_bytes() -> i64 {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

/// The most bytes the calling thread held at once while running `f`, above what it held
/// when `f` started (0 unless [`CountingAlloc`] is the global allocator): the peak of heap
/// memory a single-threaded step needs.
pub fn peak_bytes_during(f: impl FnOnce()) -> u64 {
    let start = live_bytes();
    let outer = PEAK.try_with(|p| p.replace(start)).unwrap_or(0);
    f();
    let peak = PEAK.try_with(Cell::get).unwrap_or(start);
    let _ = PEAK.try_with(|p| p.set(p.get().max(outer)));
    u64::try_from(peak - start).unwrap_or(0)
}
