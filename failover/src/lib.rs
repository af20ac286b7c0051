//! Failover composed from the ha-* primitives.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use ha_arp as arp;
pub use ha_healthcheck as healthcheck;
pub use ha_ipvs as ipvs;
pub use ha_vrrp_proto as vrrp;
