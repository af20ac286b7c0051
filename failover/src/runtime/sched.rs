//! Optional realtime scheduling and memory locking for the thread that runs VRRP.
//!
//! A backup that is not scheduled in time declares a live master dead; a master that is not
//! scheduled in time lets its backups do so. On a busy machine a `SCHED_FIFO` / `SCHED_RR`
//! priority puts the VRRP thread ahead of every normal task, and `mlockall` keeps it from
//! waiting on a page fault. Both are off by default and need privileges: `CAP_SYS_NICE` (or
//! an `RLIMIT_RTPRIO`) for the priority, `CAP_IPC_LOCK` (or a large enough `RLIMIT_MEMLOCK`)
//! for the lock.
//!
//! Apply it on the thread that runs the instances, before the runtime starts (threads created
//! afterwards inherit the policy):
//!
//! ```no_run
//! use ha_failover::runtime::sched::{Realtime, Policy};
//! Realtime { priority: Some(10), policy: Policy::Fifo, mlock: true }.apply().unwrap();
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sys;

/// A realtime scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Policy {
    /// `SCHED_FIFO`: runs until it blocks or a higher priority runs.
    #[default]
    Fifo,
    /// `SCHED_RR`: as FIFO, with a time slice among equal priorities.
    RoundRobin,
}

/// The realtime settings. The default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Realtime {
    /// The realtime priority (1..=99); `None` keeps the normal scheduler.
    pub priority: Option<u8>,
    /// The policy used when `priority` is set.
    pub policy: Policy,
    /// Lock all current and future memory (`mlockall`).
    pub mlock: bool,
}

/// Why the realtime settings could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedError {
    /// The priority is outside 1..=99.
    #[error("realtime priority {0}: must be 1..=99")]
    InvalidPriority(u8),
    /// Not permitted.
    #[error("{what}: not permitted (needs {needs})")]
    NotPermitted {
        /// The call that was refused.
        what: &'static str,
        /// The capability or limit that would allow it.
        needs: &'static str,
    },
    /// Another OS error.
    #[error("{what}: {source}")]
    Os {
        /// The call that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Policy {
    fn raw(self) -> i32 {
        match self {
            Policy::Fifo => libc::SCHED_FIFO,
            Policy::RoundRobin => libc::SCHED_RR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Policy::Fifo => "sched_setscheduler(SCHED_FIFO)",
            Policy::RoundRobin => "sched_setscheduler(SCHED_RR)",
        }
    }
}

impl Realtime {
    /// Applies the settings to the calling thread (the priority) and the process (the lock).
    pub fn apply(&self) -> Result<(), SchedError> {
        if let Some(p) = self.priority {
            if !(1..=99).contains(&p) {
                return Err(SchedError::InvalidPriority(p));
            }
            let what = self.policy.name();
            sys::set_scheduler(self.policy.raw(), i32::from(p)).map_err(|source| {
                match source.raw_os_error() {
                    Some(libc::EPERM) => SchedError::NotPermitted {
                        what,
                        needs: "CAP_SYS_NICE or an RLIMIT_RTPRIO",
                    },
                    _ => SchedError::Os { what, source },
                }
            })?;
        }
        if self.mlock {
            let what = "mlockall(MCL_CURRENT | MCL_FUTURE)";
            sys::lock_memory().map_err(|source| match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::ENOMEM) => SchedError::NotPermitted {
                    what,
                    needs: "CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK",
                },
                _ => SchedError::Os { what, source },
            })?;
        }
        Ok(())
    }
}

/// A thread's scheduling policy and realtime priority, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSched {
    /// The policy (`libc::SCHED_OTHER`, `SCHED_FIFO`, `SCHED_RR`, ...).
    pub policy: i32,
    /// The realtime priority (0 for the normal policies).
    pub priority: i32,
}

impl ThreadSched {
    /// The policy and priority of thread `tid` (0: the calling thread).
    pub fn of(tid: i32) -> Result<ThreadSched, SchedError> {
        sys::scheduler_of(tid)
            .map(|(policy, priority)| ThreadSched { policy, priority })
            .map_err(|source| SchedError::Os {
                what: "sched_getscheduler",
                source,
            })
    }
}

/// The kernel's per-CPU softirq threads (`ksoftirqd/N`): their thread ids and names.
///
/// Softirq work the kernel could not finish inline (on the sending or interrupted task) is
/// left to these threads, which run under the normal scheduler: on a CPU starved by busy
/// normal tasks a packet handed to a veth or a bridge can then wait for `ksoftirqd` to be
/// scheduled, however high the sender's own priority.
pub fn ksoftirqd_threads() -> Result<Vec<(i32, String)>, SchedError> {
    let os = |source| SchedError::Os {
        what: "reading /proc",
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").map_err(os)? {
        let entry = entry.map_err(os)?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: skip it.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim_end();
        if comm
            .strip_prefix("ksoftirqd/")
            .is_some_and(|cpu| !cpu.is_empty() && cpu.bytes().all(|b| b.is_ascii_digit()))
        {
            found.push((pid, comm.to_owned()));
        }
    }
    found.sort();
    Ok(found)
}

/// System tuning, off by default: the `ksoftirqd/N` threads raised to `SCHED_FIFO` at a
/// priority (below the VRRP thread's), so deferred packet processing is not starved by busy
/// normal tasks. It changes kernel threads for the whole machine, like keepalived's realtime
/// settings it is an operator's choice; [`KsoftirqdBoost::restore`] (or dropping the value)
/// puts back what was there.
#[derive(Debug)]
pub struct KsoftirqdBoost {
    saved: Vec<(i32, String, ThreadSched)>,
}

impl KsoftirqdBoost {
    /// Raises every `ksoftirqd/N` thread to `SCHED_FIFO` at `priority` (1..=99; needs
    /// `CAP_SYS_NICE`). On an error the threads already changed are restored.
    pub fn apply(priority: u8) -> Result<KsoftirqdBoost, SchedError> {
        if !(1..=99).contains(&priority) {
            return Err(SchedError::InvalidPriority(priority));
        }
        let threads = ksoftirqd_threads()?;
        if threads.is_empty() {
            return Err(SchedError::Os {
                what: "finding ksoftirqd threads",
                source: io::Error::new(io::ErrorKind::NotFound, "no ksoftirqd/N in /proc"),
            });
        }
        let mut boost = KsoftirqdBoost { saved: Vec::new() };
        for (tid, comm) in threads {
            let before = ThreadSched::of(tid)?;
            let what = "sched_setscheduler(ksoftirqd, SCHED_FIFO)";
            sys::set_scheduler_of(tid, libc::SCHED_FIFO, i32::from(priority)).map_err(
                |source| match source.raw_os_error() {
                    Some(libc::EPERM) => SchedError::NotPermitted {
                        what,
                        needs: "CAP_SYS_NICE",
                    },
                    _ => SchedError::Os { what, source },
                },
            )?;
            boost.saved.push((tid, comm, before));
        }
        Ok(boost)
    }

    /// The threads changed: thread id, name and the settings they had before.
    pub fn threads(&self) -> &[(i32, String, ThreadSched)] {
        &self.saved
    }

    /// Puts back every thread's previous policy and priority.
    pub fn restore(mut self) -> Result<(), SchedError> {
        self.restore_all()
    }

    fn restore_all(&mut self) -> Result<(), SchedError> {
        let mut first_err = None;
        for (tid, _, before) in self.saved.drain(..) {
            if let Err(source) = sys::set_scheduler_of(tid, before.policy, before.priority) {
                first_err.get_or_insert(SchedError::Os {
                    what: "sched_setscheduler(ksoftirqd, restore)",
                    source,
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for KsoftirqdBoost {
    fn drop(&mut self) {
        if let Err(e) = self.restore_all() {
            tracing::warn!(error = %e, "ksoftirqd scheduling not restored");
        }
    }
}

/// How long after its deadline a stalled VRRP thread is rescued by its [`Standby`].
pub const STANDBY_MARGIN: Duration = Duration::from_millis(2);

/// A standby for the realtime VRRP thread: a second realtime thread, on another CPU, that
/// wakes the VRRP thread onto its own CPU when the VRRP thread misses its deadline.
///
/// Why: a timer is armed on the CPU its thread sleeps on, and fires only when that CPU runs.
/// In a virtual machine the hypervisor can stop one virtual CPU for tens of milliseconds
/// (steal time) while the others run; measured on this project's 2-vCPU machine under 32 busy
/// loops, holes of up to 38 ms with no event at all (not even the 4 ms tick) on one vCPU, while
/// the other ran, were behind nearly every late advert of a `SCHED_FIFO` master. No priority
/// helps a thread whose CPU is not running; a thread on another CPU can.
///
/// How: the VRRP loop [arms](Standby::arm) its next deadline before each wait. The standby,
/// pinned to the other CPUs, sleeps until that deadline plus [`STANDBY_MARGIN`]; if the loop
/// has not come back by then (it re-arms on every turn), the standby moves the VRRP thread to
/// the standby's CPU, wakes its runtime, and moves itself to the other CPUs. The VRRP thread
/// then does its late work at once (a late Adver_Timer sends at once and keeps the grid). The
/// standby never sends nor decides anything itself: a hung VRRP loop stays hung and is taken
/// over as it should be; only a thread that is ready but not run is helped.
///
/// Started only for a thread that already runs under a realtime policy (the operator chose
/// [`Realtime`]) and may run on two CPUs or more; otherwise [`Standby::start`] returns `None`
/// and nothing changes. The VRRP thread is pinned to one CPU while the standby runs, and its
/// previous CPUs are given back when the standby is dropped.
#[derive(Debug)]
pub struct Standby {
    shared: std::sync::Arc<StandbyShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct StandbyShared {
    base: Instant,
    /// The armed deadline in nanoseconds since `base`; `NO_DEADLINE` when none.
    deadline_ns: AtomicU64,
    /// Bumped on every arm: the VRRP loop's proof of life.
    epoch: AtomicU64,
    stop: AtomicBool,
    rescues: AtomicU64,
    main_tid: i32,
    /// The CPUs the VRRP thread could use before the standby pinned it.
    cpus: Vec<usize>,
    margin: Duration,
    handle: tokio::runtime::Handle,
}

const NO_DEADLINE: u64 = u64::MAX;

/// What the standby does when it wakes (sans-io, so the policy is tested on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyStep {
    /// Nothing armed: wait to be told.
    Idle,
    /// Sleep until this point, then look again.
    SleepUntil(Instant),
    /// The VRRP thread missed its deadline by the margin without coming back: rescue it.
    Rescue,
}

/// The standby's decision: `seen_epoch` is the arm it slept on, `epoch`/`deadline` what is
/// armed now. A loop that re-armed since is alive (look at the new deadline); a loop still on
/// the same arm `margin` past its deadline is stalled.
pub fn standby_step(
    now: Instant,
    seen_epoch: u64,
    epoch: u64,
    deadline: Option<Instant>,
    margin: Duration,
) -> StandbyStep {
    let Some(d) = deadline else {
        return StandbyStep::Idle;
    };
    let due = d + margin;
    if now < due || seen_epoch != epoch {
        StandbyStep::SleepUntil(due)
    } else {
        StandbyStep::Rescue
    }
}

impl Standby {
    /// Starts a standby for the calling thread, which must run the VRRP loop on a tokio
    /// runtime. `None` (and no change) unless the thread runs under `SCHED_FIFO` or
    /// `SCHED_RR` and may run on two CPUs or more.
    pub fn start(margin: Duration) -> Result<Option<Standby>, SchedError> {
        let os = |what| move |source| SchedError::Os { what, source };
        let me = ThreadSched::of(0)?;
        if me.policy != libc::SCHED_FIFO && me.policy != libc::SCHED_RR {
            return Ok(None);
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Ok(None);
        };
        let cpus = sys::affinity_of(0).map_err(os("sched_getaffinity"))?;
        let here = sys::current_cpu().map_err(os("sched_getcpu"))?;
        if cpus.len() < 2 || !cpus.contains(&here) {
            return Ok(None);
        }
        let others: Vec<usize> = cpus.iter().copied().filter(|&c| c != here).collect();
        let main_tid = sys::thread_id();
        sys::set_affinity_of(0, &[here]).map_err(os("sched_setaffinity(VRRP thread)"))?;
        let shared = std::sync::Arc::new(StandbyShared {
            base: Instant::now(),
            deadline_ns: AtomicU64::new(NO_DEADLINE),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            rescues: AtomicU64::new(0),
            main_tid,
            cpus,
            margin,
            handle,
        });
        let run = shared.clone();
        // Created by the realtime thread, the standby inherits its policy and priority.
        let thread = std::thread::Builder::new()
            .name("vrrp-standby".into())
            .spawn(move || {
                if sys::set_affinity_of(0, &others).is_ok() {
                    run.run();
                }
            })
            .map_err(os("spawning the standby thread"))?;
        Ok(Some(Standby {
            shared,
            thread: Some(thread),
        }))
    }

    /// Arms the VRRP loop's next deadline (`None`: it waits for input only); call it before
    /// every wait. Each call is also the loop's proof of life.
    pub fn arm(&self, deadline: Option<Instant>) {
        let s = &self.shared;
        let ns = deadline.map_or(NO_DEADLINE, |d| {
            u64::try_from(d.saturating_duration_since(s.base).as_nanos()).unwrap_or(NO_DEADLINE - 1)
        });
        let before = s.deadline_ns.swap(ns, Ordering::Release);
        s.epoch.fetch_add(1, Ordering::Release);
        // The standby sleeps until the old deadline: wake it only if the new one is earlier.
        if ns < before
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
    }

    /// How many times the VRRP thread was rescued.
    pub fn rescues(&self) -> u64 {
        self.shared.rescues.load(Ordering::Relaxed)
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // Give the VRRP thread back the CPUs it had.
        let _ = sys::set_affinity_of(self.shared.main_tid, &self.shared.cpus);
        tracing::info!(
            rescues = self.rescues(),
            "VRRP standby stopped (rescues: times the VRRP thread missed its deadline and was woken on another CPU)"
        );
    }
}

impl StandbyShared {
    fn deadline(&self) -> Option<Instant> {
        match self.deadline_ns.load(Ordering::Acquire) {
            NO_DEADLINE => None,
            ns => Some(self.base + Duration::from_nanos(ns)),
        }
    }

    /// The standby thread's loop.
    fn run(&self) {
        let mut seen = self.epoch.load(Ordering::Acquire);
        while !self.stop.load(Ordering::Acquire) {
            let epoch = self.epoch.load(Ordering::Acquire);
            let step = standby_step(Instant::now(), seen, epoch, self.deadline(), self.margin);
            seen = epoch;
            match step {
                StandbyStep::Idle => std::thread::park_timeout(Duration::from_millis(100)),
                StandbyStep::SleepUntil(t) => {
                    std::thread::park_timeout(t.saturating_duration_since(Instant::now()))
                }
                StandbyStep::Rescue => {
                    self.rescue();
                    // Once per stall: wait for the loop to re-arm (or a new deadline to pass).
                    while !self.stop.load(Ordering::Acquire)
                        && self.epoch.load(Ordering::Acquire) == seen
                    {
                        std::thread::park_timeout(self.margin);
                    }
                }
            }
        }
    }

    /// Moves the VRRP thread to this CPU, wakes its runtime, and moves this thread to the
    /// other CPUs (so the two are again on different CPUs).
    fn rescue(&self) {
        let Ok(here) = sys::current_cpu() else {
            return;
        };
        if sys::set_affinity_of(self.main_tid, &[here]).is_err() {
            return;
        }
        // A task spawned from outside wakes the runtime's driver (its epoll wait) at once;
        // the VRRP loop then finds its deadline passed.
        drop(self.handle.spawn(async {}));
        self.rescues.fetch_add(1, Ordering::Relaxed);
        let others: Vec<usize> = self.cpus.iter().copied().filter(|&c| c != here).collect();
        let _ = sys::set_affinity_of(0, &others);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standby_rescues_only_a_loop_that_did_not_come_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let d = t0 + ms(10);
        // Nothing armed: idle.
        assert_eq!(standby_step(t0, 0, 0, None, ms(2)), StandbyStep::Idle);
        // Before the deadline plus the margin: sleep until then.
        assert_eq!(
            standby_step(t0, 1, 1, Some(d), ms(2)),
            StandbyStep::SleepUntil(d + ms(2))
        );
        assert_eq!(
            standby_step(d + ms(1), 1, 1, Some(d), ms(2)),
            StandbyStep::SleepUntil(d + ms(2))
        );
        // Past it, on the same arm: stalled.
        assert_eq!(
            standby_step(d + ms(2), 1, 1, Some(d), ms(2)),
            StandbyStep::Rescue
        );
        assert_eq!(
            standby_step(d + ms(30), 1, 1, Some(d), ms(2)),
            StandbyStep::Rescue
        );
        // The loop re-armed since (even with a deadline already passed): alive, look again.
        assert_eq!(
            standby_step(d + ms(30), 1, 2, Some(d), ms(2)),
            StandbyStep::SleepUntil(d + ms(2))
        );
    }

    #[test]
    fn default_changes_nothing_and_bad_priority_is_refused() {
        Realtime::default().apply().unwrap();
        let e = Realtime {
            priority: Some(0),
            ..Realtime::default()
        }
        .apply()
        .unwrap_err();
        assert!(matches!(e, SchedError::InvalidPriority(0)), "{e}");
        assert_eq!(e.to_string(), "realtime priority 0: must be 1..=99");
        let e = SchedError::NotPermitted {
            what: "sched_setscheduler(SCHED_FIFO)",
            needs: "CAP_SYS_NICE or an RLIMIT_RTPRIO",
        };
        assert!(e.to_string().contains("needs CAP_SYS_NICE"));
    }
}
