#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`wire`]: the message codec ([`wire::IpvsMessage`] implements
//!   `GenlFamily`, `Emitable` and `ParseableParametrized`), sans-io;
//! - [`model`]: plain types ([`Service`], [`Destination`], [`ServiceKey`],
//!   [`SyncDaemon`], [`Timeouts`]) independent of the wire;
//! - [`diff()`]: desired-state reconciliation into the fewest [`Op`]s;
//! - [`ipvsadm`]: the `ipvsadm -S` / `-R` rule format, both ways;
//! - `spec` (feature `serde`): a desired-state file format (TOML/JSON) with
//!   validation that names the offending object;
//! - `client` (feature `tokio`): an async client that pipelines requests and
//!   reports a typed error per operation.
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn demo() -> Result<(), ha_ipvs::Error> {
//! use ha_ipvs::{Client, Destination, Forward, Scheduler, Service, ServiceKey, VirtualService};
//! let mut client = Client::connect().await?; // "IPVS generic netlink family not found" without ip_vs
//! let desired = vec![VirtualService {
//!     service: Service::new(ServiceKey::tcp("10.0.0.1:80".parse().unwrap()), Scheduler::Wrr),
//!     destinations: vec![Destination::new("10.0.0.2:80".parse().unwrap(), Forward::Route, 1)],
//! }];
//! let done = client.reconcile(&desired).await?;
//! for (i, e) in done.report.failures() {
//!     eprintln!("op {i} failed: {e}");
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod diff;
pub mod error;
pub mod ipvsadm;
pub mod model;
#[cfg(feature = "serde")]
pub mod spec;
pub mod wire;

#[cfg(feature = "tokio")]
pub mod client;

#[cfg(feature = "tokio")]
pub use client::{ApplyReport, Client, ReconcileReport};
pub use diff::{Op, diff, plan, validate};
pub use error::{Errno, Error, OpError};
pub use model::{
    DaemonRole, Destination, DestinationEntry, Family, Forward, Info, ModelError, Persistence,
    Protocol, SchedFlags, Scheduler, Service, ServiceEntry, ServiceKey, SyncDaemon, Timeouts,
    Tunnel, TunnelType, VirtualService,
};
/// The netlink crates this one builds on, re-exported for users of [`wire`].
pub use netlink_packet_core;
/// The generic netlink crate this one builds on.
pub use netlink_packet_generic;
pub use wire::Stats;

/// The generic netlink family name of IPVS (`IPVS_GENL_NAME`).
pub const FAMILY_NAME: &str = wire::IPVS_GENL_NAME;

#[cfg(test)]
mod tests;
