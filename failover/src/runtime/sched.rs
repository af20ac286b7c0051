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

use super::sys;

/// A realtime scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
