//! A tiny `sd_notify(3)`: state lines sent as one datagram to the unix socket systemd names
//! in `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`).
//!
//! `ha-director run` sends `READY=1` once the director runs, `RELOADING=1` with
//! `MONOTONIC_USEC=` (one datagram, as `Type=notify-reload` in systemd 253+ wants) then
//! `READY=1` around a reload, `STOPPING=1` on shutdown and `WATCHDOG=1` every half
//! `$WATCHDOG_USEC` while the director task is alive (so a hung daemon is restarted: the
//! modern form of heartbeat's watchdog). Without `$NOTIFY_SOCKET` every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; `None` when it is not set (not run by systemd) or empty.
    pub fn from_env() -> std::io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(v) if !v.is_empty() => {
                use std::os::unix::ffi::OsStrExt;
                Notifier::new(v.as_bytes()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// To the socket `addr` (a path, or `@name` for an abstract socket).
    pub fn new(addr: &[u8]) -> std::io::Result<Notifier> {
        use std::os::unix::ffi::OsStrExt;
        let target = match addr.strip_prefix(b"@") {
            Some(name) => Target::Abstract(name.to_vec()),
            None => Target::Path(std::ffi::OsStr::from_bytes(addr).into()),
        };
        Ok(Notifier {
            sock: UnixDatagram::unbound()?,
            target,
        })
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines) as one datagram.
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        let n = match &self.target {
            Target::Path(p) => self.sock.send_to(state.as_bytes(), p)?,
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.sock.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        if n != state.len() {
            return Err(std::io::Error::other("short write to NOTIFY_SOCKET"));
        }
        Ok(())
    }
}

/// The state sent when a reload starts: `RELOADING=1` and, in the same datagram,
/// `MONOTONIC_USEC=` with `CLOCK_MONOTONIC` at that moment in microseconds, which systemd
/// (`Type=notify-reload`) compares with the time it sent the reload signal, so that a
/// `RELOADING=1` from an earlier reload is not taken for this one. `now` is
/// [`crate::sys::monotonic_now`] in the director (an argument here, testable).
pub fn reloading_state(now: Duration) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={}", now.as_micros())
}

/// Sends `state` if `notifier` is set, logging a failure (systemd then restarts or times out
/// the service, which is what should happen).
pub fn send(notifier: Option<&Notifier>, state: &str) {
    if let Some(n) = notifier
        && let Err(e) = n.notify(state)
    {
        tracing::warn!(error = %e, state, "sd_notify failed");
    }
}

/// The watchdog period systemd asks for (`$WATCHDOG_USEC`, for this process when
/// `$WATCHDOG_PID` is set), halved as `sd_watchdog_enabled(3)` advises.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] from given values (testable).
pub fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok() != Some(me)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("sdnotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(path.as_os_str().as_encoded_bytes()).unwrap();
        n.notify("READY=1\nSTATUS=running").unwrap();
        n.notify("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 256];
        let k = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1\nSTATUS=running");
        let k = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"WATCHDOG=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn datagrams_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ha-director-sdnotify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(format!("@{name}").as_bytes()).unwrap();
        n.notify("STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let k = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"STOPPING=1");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock_in_microseconds() {
        assert_eq!(
            reloading_state(Duration::new(12, 345_678_901)),
            "RELOADING=1\nMONOTONIC_USEC=12345678"
        );
        // The clock the director reads is CLOCK_MONOTONIC: it moves forward, in step with
        // the one std's Instant reads.
        let (a, i) = (crate::sys::monotonic_now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (b, j) = (crate::sys::monotonic_now(), std::time::Instant::now());
        let (d, e) = (b - a, j - i);
        assert!(d >= Duration::from_millis(20), "{d:?}");
        assert!(d.abs_diff(e) < Duration::from_millis(50), "{d:?} vs {e:?}");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let n = Notifier::new(b"/nonexistent/ha-director/notify.sock").unwrap();
        assert!(n.notify("READY=1").is_err());
    }

    #[test]
    fn watchdog_interval_is_half_and_for_this_pid_only() {
        assert_eq!(
            watchdog_interval_from(Some("10000000"), None, 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            watchdog_interval_from(Some("10000000"), Some("7"), 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(watchdog_interval_from(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }
}
