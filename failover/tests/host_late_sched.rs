//! Host suite: realtime scheduling of the VRRP thread (needs root: CAP_SYS_NICE).
#![cfg(feature = "tokio")]

use ha_failover::runtime::sched::{Policy, Realtime};

/// The scheduling policy of the calling thread, from `/proc/thread-self/stat` (field 41).
fn policy_of_this_thread() -> u32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read stat");
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split_whitespace()
        .nth(41 - 3)
        .expect("policy field")
        .parse()
        .expect("number")
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_late_realtime_priority_applies_to_the_calling_thread() {
    ha_testsupport::require_root();
    // On a thread of its own, so the test harness keeps its normal policy.
    let (fifo, rr, before) = std::thread::spawn(|| {
        let before = policy_of_this_thread();
        Realtime {
            priority: Some(5),
            policy: Policy::Fifo,
            mlock: false,
        }
        .apply()
        .expect("SCHED_FIFO as root");
        let fifo = policy_of_this_thread();
        Realtime {
            priority: Some(5),
            policy: Policy::RoundRobin,
            mlock: false,
        }
        .apply()
        .expect("SCHED_RR as root");
        (fifo, policy_of_this_thread(), before)
    })
    .join()
    .unwrap();
    assert_eq!(before, libc::SCHED_OTHER as u32);
    assert_eq!(fifo, libc::SCHED_FIFO as u32);
    assert_eq!(rr, libc::SCHED_RR as u32);
}
