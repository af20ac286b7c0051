//! The kernel's own cost of a TCP connect check, measured where a checker runs.
//!
//! A connect check's CPU is mostly the kernel's: on one host it runs both halves of the
//! handshake (the server's SYN handling, its child socket and accept queue) inside the
//! checker's system calls. [`tcp_connect`] runs the cheapest full connect check this
//! project knows, the `ha-healthcheck` probe's system calls alone, in a tight loop on the
//! calling thread: one spare socket with `SO_LINGER` 0, a blocking `connect(2)` (the handshake
//! is over when it returns; the probe's non-blocking one usually is too, on one host, but a
//! busy machine can leave it in progress, and a loop that spins on it would count the spin),
//! then an RST by `connect(2)` to `AF_UNSPEC`, which frees the port for the next. No
//! scheduler, runtime, timer, readiness event or wakeup. What a checker spends above it per check is its own;
//! the floor over another checker's CPU per check is the lowest ratio any connect checker
//! can reach against it on that machine at that time.

use std::net::SocketAddr;
use std::time::Duration;

use ha_healthcheck::probe;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::sys::cpu_times;

/// CPU time (user + system) of the calling thread (`RUSAGE_THREAD`).
pub fn thread_cpu() -> Duration {
    let (u, s) = cpu_times(libc::RUSAGE_THREAD);
    u + s
}

/// `checks` connect checks against `addrs` in turn (IPv4 or IPv6 listeners of one family),
/// on the calling thread; returns its CPU time per check. Fails, naming the address, when a
/// listener refuses or a handshake does not end within 5 s.
pub fn tcp_connect(addrs: &[SocketAddr], checks: u32) -> Result<Duration, String> {
    let err = |what: &str, e: std::io::Error| format!("kernel floor: {what}: {e}");
    let first = addrs.first().ok_or("kernel floor: no listener")?;
    if checks == 0 {
        return Err("kernel floor: no check to run".into());
    }
    let domain = Domain::for_address(*first);
    let s = Socket::new(domain, Type::STREAM, None).map_err(|e| err("socket", e))?;
    s.set_linger(Some(Duration::ZERO))
        .map_err(|e| err("SO_LINGER", e))?;
    // A blocking connect(2) gives up after SO_SNDTIMEO (ETIMEDOUT/EINPROGRESS then).
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| err("SO_SNDTIMEO", e))?;
    let cpu0 = thread_cpu();
    for i in 0..checks {
        let dst = addrs[i as usize % addrs.len()];
        s.connect(&SockAddr::from(dst))
            .map_err(|e| err(&format!("connect {dst}"), e))?;
        probe::disconnect(std::os::fd::AsFd::as_fd(&s)).map_err(|e| err("disconnect", e))?;
    }
    Ok((thread_cpu() - cpu0) / checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_of_a_check_is_some_cpu_and_a_refusal_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let accept = std::thread::spawn(move || {
            for _ in 0..200 {
                if l.accept().is_err() {
                    break;
                }
            }
        });
        let per = tcp_connect(&[addr], 200).unwrap();
        assert!(per > Duration::ZERO, "a connect costs kernel time: {per:?}");
        accept.join().unwrap();
        // Nothing listens there any more.
        let e = tcp_connect(&[addr], 1).unwrap_err();
        assert!(e.contains(&addr.to_string()), "{e}");
        assert!(tcp_connect(&[], 1).is_err());
    }
}
