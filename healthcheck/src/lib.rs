#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`Scheduler`] (always available, no IO): decides when to probe which target, applies
//!   retries, rise/fall, alpha, warmup jitter and dynamic weights, and reports state changes
//!   as [`Event`]s with the reason. It never reads a clock, opens a socket or draws entropy.
//! - [`Check`] and friends: plain data describing a probe (TCP, HTTP(S), DNS, SMTP, UDP,
//!   ping, script).
//! - `probe` (feature `tcp`, and `http`, `tls`, `dns` for those checks; `tokio` enables
//!   all four): the probe implementations; `probe::run` executes one [`Check`] within a
//!   timeout and returns an [`Outcome`]. A check whose feature is off fails with
//!   [`Failure::FeatureDisabled`] ([`Check::missing_feature`] tells before it runs).
//!
//! A driver loop on tokio, with a task per probe (simple; for thousands of checks a second
//! run them all from one task with `probe::InFlight`, as `examples/src/bin/check-scale.rs`
//! does):
//!
//! ```no_run
//! # #[cfg(feature = "tcp")]
//! # async fn driver(mut sched: ha_healthcheck::Scheduler) {
//! use std::time::Instant;
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! loop {
//!     sched.handle_timeout(Instant::now());
//!     while let Some(req) = sched.poll_probe() {
//!         let tx = tx.clone();
//!         tokio::spawn(async move {
//!             let outcome = ha_healthcheck::probe::run(&req.check, req.timeout).await;
//!             let _ = tx.send((req.id, outcome));
//!         });
//!     }
//!     while let Some(ev) = sched.poll_event() {
//!         println!("{ev:?}");
//!     }
//!     let wake = sched.poll_timeout().map(tokio::time::Instant::from_std);
//!     tokio::select! {
//!         Some((id, outcome)) = rx.recv() => { sched.handle_outcome(Instant::now(), id, outcome); }
//!         _ = async { match wake { Some(t) => tokio::time::sleep_until(t).await,
//!                                  None => std::future::pending().await } } => {}
//!     }
//! }
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests take their start instant from the real clock; the non-test build of the same code is checked (clippy.toml)"
    )
)]

pub mod check;
mod features;
pub mod outcome;
#[cfg(feature = "tcp")]
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the IO side (clippy.toml): probe deadlines from the clock, a random seed for ISNs and hash maps, a regex cache"
)]
pub mod probe;
pub mod scheduler;
pub mod wire;

pub use check::{
    Check, ClientCert, DnsCheck, DnsType, FileCheck, HttpCheck, HttpMethod, HttpProtocol,
    MaintenanceCheck, PingCheck, ScriptCheck, SmtpCheck, SocketOptions, StatusRange, TcpCheck,
    TcpClose, TlsOptions, TlsVerify, UdpCheck, UdpReplyMatch, file_check_outcome,
    parse_keepalived_hex, parse_md5_hex, track_value,
};
pub use outcome::{Failure, Outcome, outcome_from_exit};
pub use scheduler::{
    Event, EventKind, Health, ProbeId, ProbeRequest, ReconcileStats, Scheduler, SchedulerConfig,
    StartState, TargetConfig, TargetId, TargetStatus, Upsert,
};

/// Errors of configuration parsing in this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A DNS query type name that is not supported.
    #[error("unknown DNS query type {0:?} (expected A, AAAA, NS, CNAME, SOA, MX, TXT, PTR or SRV)")]
    UnknownDnsType(String),
    /// A status code range that does not parse.
    #[error("bad HTTP status code range {0:?} (expected CODE or MIN-MAX within 100-599)")]
    BadStatusRange(String),
}

impl std::str::FromStr for StatusRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadStatusRange(s.to_owned());
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let min: u16 = a.trim().parse().map_err(|_| bad())?;
        let max: u16 = b.trim().parse().map_err(|_| bad())?;
        if !(100..=599).contains(&min) || !(100..=599).contains(&max) || min > max {
            return Err(bad());
        }
        Ok(StatusRange { min, max })
    }
}
