//! The socket options and buffer casts that socket2 does not offer. Every `unsafe` block of
//! ha-failover is in this module.
#![allow(unsafe_code, reason = "the one module of ha-failover with unsafe code")]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: &impl AsRawFd,
    level: i32,
    name: i32,
    value: i32,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, a live c_int for the duration of the call;
    // the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Views an initialised byte buffer as `MaybeUninit` for socket2's receive calls.
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; the slice stays initialised because
    // the kernel only ever writes initialised bytes into it, so reading it as `u8` later is sound.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Registers a descriptor's owner (a socket, a timerfd) with tokio's reactor.
pub(crate) fn register<T: AsRawFd>(s: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `s` owns its file descriptor; the AsyncFd takes ownership of it, so the
    // descriptor is neither closed nor replaced while registered (it is deregistered on drop
    // before `s` closes it).
    unsafe { tokio::io::unix::AsyncFd::register(s) }.map_err(|e| e.into_parts().1)
}

/// Sets the calling thread's scheduling policy (`SCHED_FIFO` or `SCHED_RR`) and priority.
pub(crate) fn set_scheduler(policy: i32, priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a live, initialised sched_param that the
    // kernel only reads during the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Locks the process's current and future pages in memory (`mlockall`).
pub(crate) fn lock_memory() -> io::Result<()> {
    // SAFETY: mlockall takes only flags and touches no memory of ours.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the scheduling policy and priority of thread `tid` (0: the calling thread).
pub(crate) fn set_scheduler_of(tid: i32, policy: i32, priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a live, initialised sched_param that the kernel only reads during the
    // call; a wrong `tid` is an error (ESRCH), not undefined behaviour.
    let rc = unsafe { libc::sched_setscheduler(tid, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The scheduling policy and priority of thread `tid` (0: the calling thread).
pub(crate) fn scheduler_of(tid: i32) -> io::Result<(i32, i32)> {
    // SAFETY: takes only a thread id; a wrong one is an error (ESRCH).
    let policy = unsafe { libc::sched_getscheduler(tid) };
    if policy < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a live sched_param the kernel writes during the call and nothing else.
    let rc = unsafe { libc::sched_getparam(tid, &mut param) };
    if rc == 0 {
        Ok((policy, param.sched_priority))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's id (`gettid`).
pub(crate) fn thread_id() -> i32 {
    // SAFETY: gettid takes no argument and cannot fail.
    unsafe { libc::gettid() }
}

/// The CPU the calling thread is running on (`sched_getcpu`).
pub(crate) fn current_cpu() -> io::Result<usize> {
    // SAFETY: sched_getcpu takes no argument and touches no memory of ours.
    let rc = unsafe { libc::sched_getcpu() };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// The CPUs thread `tid` (0: the calling thread) may run on.
pub(crate) fn affinity_of(tid: i32) -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and size describe `set`, a live cpu_set_t the kernel writes during
    // the call and nothing else.
    let rc =
        unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads `set` and every index is below its size in bits.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Restricts thread `tid` (0: the calling thread) to `cpus`.
pub(crate) fn set_affinity_of(tid: i32, cpus: &[usize]) -> io::Result<()> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < max) {
        // SAFETY: CPU_SET writes one bit of `set`; `c` is below its size in bits.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: the pointer and size describe `set`, a live cpu_set_t the kernel only reads.
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `WDIOC_SETTIMEOUT` (`_IOWR('W', 6, int)`, linux/watchdog.h): sets a watchdog device's
/// timeout in seconds; returns the timeout the driver chose (it may round).
pub(crate) fn watchdog_set_timeout(fd: &impl AsRawFd, seconds: u32) -> io::Result<u32> {
    const WDIOC_SETTIMEOUT: libc::c_ulong = 0xC004_5706;
    let mut value =
        libc::c_int::try_from(seconds).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the request takes a pointer to one c_int; `value` is live and initialised for
    // the whole call, and the kernel reads it and writes the chosen timeout back into it. On a
    // descriptor that is no watchdog the call fails (ENOTTY) without touching it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), WDIOC_SETTIMEOUT, &mut value) };
    if rc == 0 {
        Ok(u32::try_from(value).unwrap_or(seconds))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A non-blocking, close-on-exec `timerfd` on `CLOCK_MONOTONIC`.
pub(crate) fn timerfd_create() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: no pointers are passed; the call returns a new descriptor or -1.
    let fd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by timerfd_create and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Arms a timerfd to expire once, `after` from now (at least 1 ns: zero would disarm it).
pub(crate) fn timerfd_arm(fd: &impl AsRawFd, after: std::time::Duration) -> io::Result<()> {
    let after = after.max(std::time::Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
        },
    };
    // SAFETY: `spec` is a live, initialised itimerspec the kernel only reads; the old value
    // pointer is null (not wanted).
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads a timerfd's expiration count (`WouldBlock` when it has not expired).
pub(crate) fn timerfd_read(fd: &impl AsRawFd) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: the pointer and length describe `buf`, live and writable for the call; a timerfd
    // read writes exactly 8 bytes or fails.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n == 8 {
        Ok(u64::from_ne_bytes(buf))
    } else if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Err(io::Error::from(io::ErrorKind::UnexpectedEof))
    }
}
