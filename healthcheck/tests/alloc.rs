//! Handling an outcome in steady state allocates nothing (a counting global allocator).
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_healthcheck::{
    Check, Failure, Outcome, Scheduler, SchedulerConfig, TargetConfig, TargetId, TcpCheck,
};
use ha_testsupport::alloc::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn zero_allocations_per_outcome_in_steady_state() {
    steady_state(false);
}

/// The same with `handle_timeout` and `poll_probe` (its ready queue keeps its size).
#[test]
fn zero_allocations_per_outcome_with_handle_timeout() {
    steady_state(true);
}

fn next(s: &mut Scheduler, now: Instant, new_api: bool) -> Option<ha_healthcheck::ProbeRequest> {
    if new_api {
        s.poll_probe()
    } else {
        s.poll_due(now)
    }
}

fn steady_state(new_api: bool) {
    let t0 = Instant::now();
    let mut s = Scheduler::new(SchedulerConfig {
        seed: 3,
        ..Default::default()
    });
    let n = 5000u64;
    s.reserve(n as usize);
    let check = Arc::new(Check::Tcp(TcpCheck::new(
        "127.0.0.1:80".parse::<SocketAddr>().unwrap(),
    )));
    for i in 0..n {
        let cfg = TargetConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            retries: 1,
            delay_before_retry: Duration::from_millis(100),
            warmup: Duration::from_secs(1),
            ..TargetConfig::new(check.clone())
        };
        s.upsert(t0, TargetId(i), cfg);
    }
    // Every fifth target always fails (down and staying down, with retries); the rest are up.
    let run = |from: u32, to: u32, s: &mut Scheduler| -> u64 {
        let mut handled = 0;
        for tick in from..to {
            let now = t0 + Duration::from_millis(u64::from(tick) * 10);
            if new_api {
                s.handle_timeout(now);
            }
            while let Some(req) = next(s, now, new_api) {
                let o = if req.target.0 % 5 == 0 {
                    Outcome::Down(Failure::Refused)
                } else {
                    Outcome::UP
                };
                assert!(s.handle_outcome(now, req.id, o));
                handled += 1;
            }
            while s.poll_event().is_some() {}
        }
        handled
    };
    // Warm up: first checks, state changes, heap growth.
    run(0, 500, &mut s);
    let before = allocations();
    let handled = run(500, 2500, &mut s);
    let after = allocations();
    assert!(handled > 90_000, "handled {handled}");
    assert_eq!(
        after - before,
        0,
        "{} allocations over {handled} outcomes",
        after - before
    );
    // The counter works: an allocation is seen.
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocations() - before, 1);
    drop(v);
}
