//! Failover composed from the ha-* primitives: VRRP instances, announcements, virtual addresses,
//! IPVS pools and health checks.
//!
//! The sans-io core is being built (issue 7). The `tokio` feature provides the runtime's IO:
//! raw VRRP sockets ([`runtime::socket`]) and virtual addresses and link state through
//! rtnetlink ([`runtime::netlink`]).
#![warn(missing_docs)]

pub use ha_arp as arp;
pub use ha_healthcheck as healthcheck;
pub use ha_ipvs as ipvs;
pub use ha_vrrp_proto as vrrp;

pub mod core;
pub mod late;
#[cfg(feature = "tokio")]
pub mod runtime;
