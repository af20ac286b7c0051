#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`core`] (sans-io): a `Director` owning many VRRP instances with VIP ownership, sync
//!   groups, tracking, fencing, resource groups, notify and virtual servers.
//! - [`late`] (sans-io): the late-tolerant driver that feeds adverts queued on a socket by their
//!   kernel receive time before any timer fires, so a starved process does not fail over falsely.
//! - `runtime` (feature `tokio`): every socket and process: raw VRRP sockets, virtual addresses
//!   and link state through rtnetlink, announcements, scripts; `runtime::director::run` executes
//!   a core `Director` on a host and `runtime::instance::run` runs one instance alone.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub use ha_arp as arp;
pub use ha_healthcheck as healthcheck;
pub use ha_ipvs as ipvs;
pub use ha_vrrp_proto as vrrp;

pub mod core;
pub mod late;
#[cfg(feature = "tokio")]
#[allow(
    clippy::disallowed_methods,
    reason = "the IO runtime: it reads the clock and keeps std hash maps (clippy.toml); its unsafe is in runtime/sys.rs alone"
)]
pub mod runtime;
pub mod sim;
