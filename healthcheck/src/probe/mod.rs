//! Probe implementations on tokio (feature `tcp`; HTTP checks need `http`, HTTPS `tls`, DNS
//! `dns`, else they fail with [`Failure::FeatureDisabled`]).
//!
//! [`run`] executes one [`Check`] and returns its [`Outcome`]; it never takes longer than the
//! timeout (plus the time to reap a killed script). Each probe opens its own connection and
//! closes it when done: TCP based probes with an RST by default ([`crate::TcpClose`]). A
//! plain TCP check resets its connection with `connect(2)` to `AF_UNSPEC` and leaves the
//! socket to the next check on the same thread (no `socket(2)` or `close(2)` per check when
//! no socket option is set). A plain TCP check whose handshake completes inside `connect(2)`
//! (a peer on this host) never touches the IO driver. A plain TCP check with
//! [`crate::TcpClose::HalfOpen`] opens no connection at all: see [`halfopen`].
//!
//! [`InFlight`] runs many probes from one task (no spawn or channel per probe).

use std::time::Duration;

use crate::check::{Check, TcpClose};
use crate::outcome::{Failure, Outcome};

#[cfg(feature = "dns")]
mod dns;
pub mod halfopen;
#[cfg(feature = "http")]
mod http;
mod inflight;
mod ping;
mod script;
mod smtp;
mod sock;
mod sys;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod udp;

/// Compiled patterns (HTTP bodies, simpletcp lines, DNS answers), shared by every check with
/// the same pattern, so a probe does not compile its pattern again (a `Regex` clone is
/// a reference count). Bounded: cleared when it grows past `REGEX_CACHE_MAX` patterns.
static REGEX_CACHE: std::sync::Mutex<
    Option<std::collections::HashMap<String, regex::bytes::Regex>>,
> = std::sync::Mutex::new(None);
const REGEX_CACHE_MAX: usize = 1024;

/// The compiled `pattern`; a bad one is a [`Failure::Setup`] naming `what` (`body regex`, ...).
fn compiled(pattern: &str, what: &str) -> Result<regex::bytes::Regex, Failure> {
    let mut guard = REGEX_CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = guard.get_or_insert_with(std::collections::HashMap::new);
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::bytes::Regex::new(pattern)
        .map_err(|e| Failure::Setup(format!("{what} {pattern:?}: {e}")))?;
    if cache.len() >= REGEX_CACHE_MAX {
        cache.clear();
    }
    cache.insert(pattern.to_owned(), re.clone());
    Ok(re)
}

pub use inflight::{FlightKey, InFlight};
pub use sys::disconnect;
#[cfg(feature = "tls")]
pub use tls::NoVerification;

/// Run `check` once, within `timeout` (one deadline for connect, TLS, request and reply).
pub async fn run(check: &Check, timeout: Duration) -> Outcome {
    match check {
        // These manage their deadline themselves: a script must be killed and reaped, a UDP
        // check without `require_reply` succeeds when the deadline passes quietly, and the
        // half-open engine keeps every probe's deadline with one timer.
        // Boxed (like the larger probes below) so that the future of a TCP check stays
        // small: it is moved into place per check, and thousands may be in flight.
        Check::Script(c) => Box::pin(script::run(c, timeout)).await,
        Check::Udp(c) => Box::pin(udp::run(c, timeout)).await,
        Check::Tcp(c) if c.socket.close == TcpClose::HalfOpen => {
            match halfopen::run(c, timeout).await {
                Ok(o) => o,
                Err(f) => Outcome::Down(f),
            }
        }
        _ => match tokio::time::timeout(timeout, run_bounded(check)).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Outcome::Down(Failure::Timeout),
        },
    }
}

/// A `FILE_CHECK`: the first 127 bytes of the file (keepalived reads as many); a missing or
/// unreadable file reads as 0.
async fn file(c: &crate::FileCheck) -> Outcome {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(128);
    if let Ok(f) = tokio::fs::File::open(&c.path).await {
        let _ = f.take(127).read_to_end(&mut buf).await;
    }
    let value = crate::track_value(&String::from_utf8_lossy(&buf));
    crate::check::file_check_outcome(c, value)
}

/// ldirectord's `maintenancedir`: down while one of the names exists in the directory.
async fn maintenance(c: &crate::MaintenanceCheck) -> Outcome {
    for name in &c.names {
        let path = c.dir.join(name);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Outcome::Down(Failure::Maintenance(path.display().to_string()));
        }
    }
    Outcome::UP
}

/// A half-open close asked of a check that speaks after connecting.
fn half_open_refused() -> Failure {
    Failure::Setup("TcpClose::HalfOpen applies to a plain TCP check only".into())
}

/// The failure of a check whose probe this build lacks.
#[cfg(not(all(feature = "http", feature = "dns")))]
fn not_built(check: &Check) -> Failure {
    let (check, feature) = check.feature();
    Failure::FeatureDisabled { check, feature }
}

async fn run_bounded(check: &Check) -> Outcome {
    let result = match check {
        Check::Tcp(c) if c.socket.close == TcpClose::HalfOpen => unreachable!("handled by run"),
        Check::Tcp(c) => tcp::run(c).await,
        Check::Http(c) if c.socket.close == TcpClose::HalfOpen => Err(half_open_refused()),
        Check::Smtp(c) if c.socket.close == TcpClose::HalfOpen => Err(half_open_refused()),
        #[cfg(feature = "http")]
        Check::Http(c) => Box::pin(http::run(c)).await,
        #[cfg(feature = "dns")]
        Check::Dns(c) => Box::pin(dns::run(c)).await,
        #[cfg(not(feature = "http"))]
        Check::Http(_) => Err(not_built(check)),
        #[cfg(not(feature = "dns"))]
        Check::Dns(_) => Err(not_built(check)),
        Check::Smtp(c) => Box::pin(smtp::run(c)).await,
        Check::Ping(c) => Box::pin(ping::run(c)).await,
        Check::File(c) => Ok(Box::pin(file(c)).await),
        Check::Maintenance(c) => Ok(maintenance(c).await),
        Check::Script(_) | Check::Udp(_) => unreachable!("handled by run"),
    };
    match result {
        Ok(o) => o,
        Err(f) => Outcome::Down(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future of a check is moved into place for every check and thousands may be in
    /// flight: the probes with large state are boxed so that a TCP check's stays small.
    #[test]
    fn probe_future_is_small() {
        let check = Check::Tcp(crate::TcpCheck::new("127.0.0.1:1".parse().unwrap()));
        let size = std::mem::size_of_val(&run(&check, Duration::from_secs(1)));
        // 592 bytes when the connect future kept a `SockAddr` (132 bytes) across its wait
        // and a file check's future (336 bytes) was inline.
        assert!(size <= 480, "probe::run future is {size} bytes");
    }
}
