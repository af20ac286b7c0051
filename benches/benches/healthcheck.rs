//! Scheduler hot path: cost per outcome handled (poll_due + handle_outcome) in steady state.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ha_healthcheck::{
    Check, Failure, Outcome, Scheduler, SchedulerConfig, TargetConfig, TargetId, TcpCheck,
};

fn scheduler(n: u64, t0: Instant) -> Scheduler {
    let mut s = Scheduler::new(SchedulerConfig {
        seed: 1,
        ..Default::default()
    });
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
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("healthcheck_scheduler");
    g.throughput(Throughput::Elements(1));
    for n in [1_000u64, 10_000, 100_000] {
        g.bench_with_input(BenchmarkId::new("outcome", n), &n, |b, &n| {
            let t0 = Instant::now();
            let mut s = scheduler(n, t0);
            let mut now = t0;
            b.iter_custom(|iters| {
                let mut done = 0u64;
                let mut spent = Duration::ZERO;
                while done < iters {
                    // Virtual time: 1 ms steps; the wall clock only measures the work.
                    now += Duration::from_millis(1);
                    let start = Instant::now();
                    while let Some(req) = s.poll_due(now) {
                        let o = if req.target.0 % 7 == 0 {
                            Outcome::Down(Failure::Refused)
                        } else {
                            Outcome::UP
                        };
                        black_box(s.handle_outcome(now, req.id, o));
                        done += 1;
                    }
                    while black_box(s.poll_event()).is_some() {}
                    spent += start.elapsed();
                }
                // Report per outcome: scale the measured time to exactly `iters` outcomes.
                spent.mul_f64(iters as f64 / done as f64)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
