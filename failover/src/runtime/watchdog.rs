//! The hardware watchdog (heartbeat's `watchdog /dev/watchdog`; the kernel's watchdog API,
//! `Documentation/watchdog/watchdog-api.rst`): the device is opened at start, written to from
//! the director's own event loop every interval (so a hung loop stops feeding it and the
//! node reboots when its timeout passes), and closed at a graceful stop after the magic
//! character `V` (so a clean stop does not reboot). Anything else, a crash, a `SIGKILL`, a
//! panic, closes it without `V`: the driver keeps counting and the node reboots.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::config::WatchdogConfig;
use super::error::DirectorRunError;
use super::status::WatchdogStatus;

/// What each feed writes: any byte other than `V` keeps the watchdog alive.
pub(super) const FEED: &[u8] = b".";
/// The magic close: written just before a graceful close, it disarms the watchdog.
pub(super) const MAGIC_CLOSE: &[u8] = b"V";

/// An open watchdog device.
#[derive(Debug)]
pub(super) struct Watchdog {
    file: File,
    status: WatchdogStatus,
}

impl Watchdog {
    /// Opens `cfg.device` for writing (non-blocking: a FIFO without a reader is an error,
    /// not a hang) and sets its timeout when one is configured. The device is fed once at
    /// once (opening starts the driver's countdown).
    ///
    /// # Errors
    /// [`DirectorRunError::Watchdog`] naming the device, what failed and the OS error.
    pub(super) fn open(cfg: &WatchdogConfig) -> Result<Watchdog, DirectorRunError> {
        let fail = |op: &'static str, source: std::io::Error| DirectorRunError::Watchdog {
            device: cfg.device.clone(),
            op,
            source,
        };
        let file = File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&cfg.device)
            .map_err(|e| fail("open", e))?;
        let mut timeout_s = None;
        if let Some(t) = cfg.timeout_s {
            match super::sys::watchdog_set_timeout(&file, t) {
                Ok(set) => timeout_s = Some(set),
                Err(e) => {
                    // Do not leave it armed: this start fails in an orderly way.
                    let mut file = file;
                    if let Err(v) = file.write_all(MAGIC_CLOSE) {
                        tracing::error!(device = %cfg.device.display(), error = %v, "watchdog magic close not written: the node may reboot");
                    }
                    return Err(fail("WDIOC_SETTIMEOUT", e));
                }
            }
            if timeout_s != Some(t) {
                tracing::warn!(device = %cfg.device.display(), asked = t, set = ?timeout_s, "the watchdog driver chose another timeout");
            }
        }
        tracing::info!(device = %cfg.device.display(), interval = ?cfg.interval, timeout_s = ?timeout_s, "watchdog opened");
        let mut w = Watchdog {
            file,
            status: WatchdogStatus {
                device: cfg.device.clone(),
                interval: cfg.interval,
                timeout_s,
                feeds: 0,
                errors: 0,
                last_error: None,
            },
        };
        w.feed();
        Ok(w)
    }

    /// Feeds the watchdog (one write). A failure is counted and logged once per kind of
    /// error; the next interval tries again.
    pub(super) fn feed(&mut self) {
        match self.file.write_all(FEED) {
            Ok(()) => {
                self.status.feeds += 1;
                if self.status.last_error.take().is_some() {
                    tracing::info!(device = %self.status.device.display(), "watchdog fed again");
                }
            }
            Err(e) => {
                self.status.errors += 1;
                let text = e.to_string();
                if self.status.last_error.as_ref() != Some(&text) {
                    tracing::error!(device = %self.status.device.display(), error = %e, "watchdog not fed");
                }
                self.status.last_error = Some(text);
            }
        }
    }

    /// The graceful close: the magic `V`, then close.
    pub(super) fn close(mut self) {
        match self.file.write_all(MAGIC_CLOSE) {
            Ok(()) => {
                tracing::info!(device = %self.status.device.display(), "watchdog closed (magic close)")
            }
            Err(e) => {
                tracing::error!(device = %self.status.device.display(), error = %e, "watchdog magic close not written: the node may reboot")
            }
        }
    }

    /// Its status.
    pub(super) fn status(&self) -> WatchdogStatus {
        self.status.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(device: std::path::PathBuf) -> WatchdogConfig {
        WatchdogConfig {
            device,
            interval: Duration::from_secs(1),
            timeout_s: None,
        }
    }

    #[test]
    fn feeds_then_magic_close() {
        let dir = std::env::temp_dir().join(format!("ha-wd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dev = dir.join("watchdog");
        std::fs::write(&dev, b"").unwrap();
        let mut w = Watchdog::open(&cfg(dev.clone())).unwrap();
        w.feed();
        assert_eq!(w.status().feeds, 2);
        w.close();
        assert_eq!(std::fs::read(&dev).unwrap(), b"..V");
        // Dropped without close (a crash): no V.
        std::fs::write(&dev, b"").unwrap();
        drop(Watchdog::open(&cfg(dev.clone())).unwrap());
        assert_eq!(std::fs::read(&dev).unwrap(), b".");
        // A timeout on a file that is no watchdog: the ioctl's error, and disarmed.
        let mut c = cfg(dev.clone());
        c.timeout_s = Some(5);
        let e = Watchdog::open(&c).unwrap_err().to_string();
        assert!(
            e.contains("WDIOC_SETTIMEOUT") && e.contains("watchdog"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_device_names_it_and_the_errno() {
        let e = Watchdog::open(&cfg("/nonexistent/watchdog0".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/watchdog0"), "{e}");
        assert!(e.contains("open"), "{e}");
        assert!(e.contains("os error 2"), "{e}");
    }
}
