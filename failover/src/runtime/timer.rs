//! The VRRP loop's timer, with the kernel's precision.
//!
//! tokio's timers have millisecond granularity: a deadline is rounded up to the next
//! millisecond tick and the driver sleeps in whole milliseconds, so a wake-up came 1.1 ms late
//! at the median on this project's test machine (timerfd: 53 µs; 400 sleeps each, same
//! process). Every Master_Down_Timer expiry, and so every takeover after a crash, paid that
//! millisecond where keepalived (timerfd) did not. This timer arms a `timerfd` with the exact
//! remaining time and waits for it through tokio's reactor; where a timerfd cannot be had it
//! falls back to tokio's timer.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use tokio::io::unix::AsyncFd;

use super::sys;

/// A one-shot timer re-armed for each deadline.
#[derive(Debug)]
pub(crate) struct PreciseTimer {
    fd: Option<AsyncFd<OwnedFd>>,
    /// The deadline the timerfd is armed for.
    armed: Option<Instant>,
}

impl PreciseTimer {
    /// A timer on a new timerfd (tokio's timer if the kernel refuses one).
    pub(crate) fn new() -> PreciseTimer {
        let fd = sys::timerfd_create().and_then(sys::register);
        if let Err(e) = &fd {
            tracing::warn!(error = %e, "no timerfd: the VRRP loop's timers fall back to tokio's millisecond timers");
        }
        PreciseTimer {
            fd: fd.ok(),
            armed: None,
        }
    }

    /// Waits until `deadline`, or forever when there is none. Cancel-safe: a dropped wait
    /// leaves the timer armed, and the next call re-arms it only for another deadline.
    pub(crate) async fn sleep_until(&mut self, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return std::future::pending().await;
        };
        if self.wait(deadline).await.is_err() {
            // The timerfd failed (it should not): the coarse timer still wakes us.
            self.fd = None;
            tokio::time::sleep_until(deadline.into()).await;
        }
    }

    async fn wait(&mut self, deadline: Instant) -> io::Result<()> {
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(deadline.into()).await;
            return Ok(());
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                self.armed = None;
                return Ok(());
            }
            if self.armed != Some(deadline) {
                sys::timerfd_arm(fd.get_ref(), deadline - now)?;
                self.armed = Some(deadline);
            }
            let mut ready = fd.readable().await?;
            match sys::timerfd_read(fd.get_ref()) {
                Ok(_) => {
                    self.armed = None;
                    return Ok(());
                }
                // Readiness left over from an earlier deadline: wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Wakes at the deadline, not before, and a re-armed earlier deadline wins.
    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_the_deadline_and_follows_a_new_one() {
        let mut t = PreciseTimer::new();
        assert!(t.fd.is_some(), "timerfd available on Linux");
        let d = Instant::now() + Duration::from_millis(20);
        t.sleep_until(Some(d)).await;
        assert!(Instant::now() >= d);
        // A wait dropped half way, then an earlier deadline.
        let far = Instant::now() + Duration::from_secs(5);
        let _ = tokio::time::timeout(Duration::from_millis(5), t.sleep_until(Some(far))).await;
        let near = Instant::now() + Duration::from_millis(10);
        let t0 = Instant::now();
        t.sleep_until(Some(near)).await;
        assert!(Instant::now() >= near);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        // A deadline in the past returns at once.
        t.sleep_until(Some(Instant::now() - Duration::from_millis(1)))
            .await;
    }
}
