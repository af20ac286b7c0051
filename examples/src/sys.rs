//! Every `unsafe` block of the example programs: the few system calls std does not offer
//! (`getifaddrs(3)`, `getrlimit(2)`/`setrlimit(2)`, `getrusage(2)`, `malloc_trim(3)`, `mallopt(3)`) and registering a listener
//! with tokio's reactor. Each block is small and states why it is sound; the rest of the
//! library and every binary are `deny(unsafe_code)`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The addresses configured on `interface`, in the order `getifaddrs(3)` lists them.
///
/// # Errors
/// The `getifaddrs(3)` error.
pub fn interface_addresses(interface: &str) -> io::Result<Vec<IpAddr>> {
    Ok(interface_networks()?
        .into_iter()
        .filter(|(name, _, _)| name == interface)
        .map(|(_, a, _)| a)
        .collect())
}

/// An IPv4 or IPv6 socket address's address, from a `sockaddr` pointer.
///
/// # Safety
/// `sa` is null or points to a valid `sockaddr` whose `sa_family` tells its real type.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller's contract; the family selects the type read.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// Every IPv4 and IPv6 address of every interface with its prefix length (from its
/// netmask): `(interface, address, prefix)`, in the order `getifaddrs(3)` lists them.
///
/// # Errors
/// The `getifaddrs(3)` error.
pub fn interface_networks() -> io::Result<Vec<(String, IpAddr, u8)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`; it is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned, alive until freeifaddrs;
        // ifa_name is a NUL-terminated string and ifa_addr / ifa_netmask, when not null,
        // point to sockaddrs whose sa_family tells their real type.
        unsafe {
            let ifa = &*p;
            if let Some(addr) = sockaddr_ip(ifa.ifa_addr) {
                let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
                let prefix = match sockaddr_ip(ifa.ifa_netmask) {
                    Some(IpAddr::V4(m)) => u32::from(m).leading_ones() as u8,
                    Some(IpAddr::V6(m)) => u128::from(m).leading_ones() as u8,
                    None if addr.is_ipv4() => 32,
                    None => 128,
                };
                out.push((name, addr, prefix));
            }
            p = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s CPU times (`sysconf(_SC_CLK_TCK)`;
/// 100 if it cannot be read).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes a name and returns a value; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Raises the soft `RLIMIT_NOFILE` to its hard limit and returns the new soft limit (0 when
/// the limit cannot be read). Raising the soft limit up to the hard one needs no privilege.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct we own.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur
}

/// (user, system) CPU time from `getrusage(2)` for `who`: `libc::RUSAGE_SELF`,
/// `libc::RUSAGE_CHILDREN` (the waited-for children) or `libc::RUSAGE_THREAD`. Zero for a
/// `who` the kernel rejects.
pub fn cpu_times(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own (and nothing on an invalid `who`).
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Gives the allocator's free pages back to the kernel (`malloc_trim(3)`, glibc only; a no-op
/// elsewhere). Called once a configuration is loaded and built: the file's text, statements
/// and model are freed by then, but glibc keeps the pages in the loading thread's arena,
/// where the runtime's threads (each with its own arena) never reuse them, so the peak
/// resident size would be the load's peak plus the running state instead of the larger of
/// the two.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a size and touches only the allocator's own state, under its
    // locks; it may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes glibc's allocator keep one arena for every thread, unless the operator chose a number
/// (`MALLOC_ARENA_MAX`, or `arena_max` in `GLIBC_TUNABLES`). Call before any thread starts.
///
/// glibc gives each thread that allocates under contention an arena of its own, up to eight
/// per core, and memory freed in one arena is reused only by the threads of that arena. The
/// director's threads allocate little and rarely at once, so separate arenas buy no speed and
/// hold their own freed pages. Measured with `host_director_scale`'s keepalived.conf of 10,000
/// real servers (release build): 26.6 MiB anonymous resident with the default, 21.6 MiB with
/// one arena. Each thread keeps its lock-free cache (tcache) either way.
///
/// Returns whether the limit was set (false: not glibc, or the operator's choice stands).
pub fn one_malloc_arena() -> bool {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
    if chosen {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes two integers and changes only the allocator's own settings,
        // under its locks; M_ARENA_MAX is one of its documented parameters.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `CLOCK_MONOTONIC` now, as a duration since its (unspecified) origin: the clock systemd's
/// `MONOTONIC_USEC=` speaks of (`sd_notify(3)`). `std::time::Instant` reads the same clock on
/// Linux but does not expose its value.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists on
    // Linux, so it cannot fail (a zero duration would be returned if it did).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Registers a listening socket with the current tokio runtime's reactor, without the
/// per-socket machinery of `tokio::net::TcpListener`.
///
/// # Errors
/// The reactor's registration error (e.g. no runtime, or the descriptor limit).
pub fn register_listener(
    listener: std::net::TcpListener,
) -> io::Result<tokio::io::unix::AsyncFd<std::net::TcpListener>> {
    // SAFETY: the listener owns its descriptor, which stays open and is never replaced while
    // the AsyncFd owns the listener (it is deregistered before the listener closes it).
    unsafe { tokio::io::unix::AsyncFd::register(listener) }.map_err(Into::into)
}
