//! Host suite: realtime scheduling of the VRRP thread, its standby thread, and the ksoftirqd
//! tuning (needs root: CAP_SYS_NICE).
#![cfg(feature = "tokio")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ha_failover::runtime::sched::{
    KsoftirqdBoost, Policy, Realtime, STANDBY_MARGIN, Standby, ThreadSched, ksoftirqd_threads,
};

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

/// `Cpus_allowed_list` of a thread's status file, expanded ("0-1,3" -> [0, 1, 3]).
fn cpus_of(status: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(status).expect("read status");
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The status file of this process's thread named `name`.
fn thread_status(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|e| {
        let dir = e.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        (comm.trim_end() == name).then(|| dir.join("status").display().to_string())
    })
}

fn fifo(priority: u8) {
    Realtime {
        priority: Some(priority),
        policy: Policy::Fifo,
        mlock: false,
    }
    .apply()
    .expect("SCHED_FIFO as root");
}

/// The standby tests look for the thread named `vrrp-standby` in this process: one at a time.
static STANDBY: Mutex<()> = Mutex::new(());

fn require_two_cpus() {
    let n = cpus_of("/proc/thread-self/status").len();
    assert!(n >= 2, "the standby needs two CPUs; this test runs on {n}");
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

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_late_standby_pins_the_realtime_thread_and_runs_on_another_cpu() {
    let _one = STANDBY.lock().unwrap_or_else(|e| e.into_inner());
    ha_testsupport::require_root();
    require_two_cpus();
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let all = cpus_of("/proc/thread-self/status");
        // A normal thread gets no standby and keeps its CPUs.
        let none = rt
            .block_on(async { Standby::start(STANDBY_MARGIN) })
            .unwrap();
        assert!(none.is_none(), "standby for a SCHED_OTHER thread");
        assert_eq!(cpus_of("/proc/thread-self/status"), all);
        fifo(4);
        let standby = rt
            .block_on(async { Standby::start(STANDBY_MARGIN) })
            .unwrap()
            .expect("a standby for a SCHED_FIFO thread on two CPUs");
        let mine = cpus_of("/proc/thread-self/status");
        assert_eq!(mine.len(), 1, "the VRRP thread is pinned: {mine:?}");
        assert!(ha_testsupport::wait_until(Duration::from_secs(2), || {
            thread_status("vrrp-standby").is_some_and(|s| {
                let theirs = cpus_of(&s);
                !theirs.is_empty() && !theirs.contains(&mine[0])
            })
        }));
        // It inherited the realtime policy.
        let status = thread_status("vrrp-standby").unwrap();
        let tid: i32 = status.split('/').nth(4).unwrap().parse().unwrap();
        assert_eq!(ThreadSched::of(tid).unwrap().policy, libc::SCHED_FIFO);
        drop(standby);
        assert!(
            thread_status("vrrp-standby").is_none(),
            "standby thread ended"
        );
        assert_eq!(cpus_of("/proc/thread-self/status"), all, "CPUs given back");
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_late_standby_rescues_a_stalled_loop_and_only_then() {
    let _one = STANDBY.lock().unwrap_or_else(|e| e.into_inner());
    ha_testsupport::require_root();
    require_two_cpus();
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        fifo(4);
        let standby = rt
            .block_on(async { Standby::start(STANDBY_MARGIN) })
            .unwrap()
            .expect("a standby");
        // A loop that comes back before each deadline is never rescued.
        rt.block_on(async {
            for _ in 0..40 {
                standby.arm(Some(Instant::now() + Duration::from_millis(5)));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        assert_eq!(
            standby.rescues(),
            0,
            "rescued a loop that kept its deadlines"
        );
        let before = cpus_of("/proc/thread-self/status");
        // A loop that misses its deadline (stalled here, not re-arming) is rescued once: moved
        // to the standby's CPU.
        standby.arm(Some(Instant::now() + Duration::from_millis(5)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(standby.rescues(), 1);
        let after = cpus_of("/proc/thread-self/status");
        assert_eq!(after.len(), 1);
        assert_ne!(after, before, "moved to the standby's CPU");
        // Re-armed, it is watched again, and the standby moved away from the VRRP thread.
        standby.arm(None);
        assert!(ha_testsupport::wait_until(Duration::from_secs(2), || {
            thread_status("vrrp-standby").is_some_and(|s| !cpus_of(&s).contains(&after[0]))
        }));
        drop(standby);
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_late_ksoftirqd_boost_is_applied_and_restored() {
    ha_testsupport::require_root();
    let threads = ksoftirqd_threads().unwrap();
    assert!(!threads.is_empty(), "no ksoftirqd/N threads found");
    let before: Vec<ThreadSched> = threads
        .iter()
        .map(|(t, _)| ThreadSched::of(*t).unwrap())
        .collect();
    let boost = KsoftirqdBoost::apply(2).expect("boost as root");
    assert_eq!(boost.threads().len(), threads.len());
    for (t, name) in &threads {
        let now = ThreadSched::of(*t).unwrap();
        assert_eq!(
            (now.policy, now.priority),
            (libc::SCHED_FIFO, 2),
            "{name} not raised"
        );
    }
    boost.restore().unwrap();
    let after: Vec<ThreadSched> = threads
        .iter()
        .map(|(t, _)| ThreadSched::of(*t).unwrap())
        .collect();
    assert_eq!(after, before, "ksoftirqd scheduling restored");
    assert!(KsoftirqdBoost::apply(0).is_err(), "priority 0 refused");
}
