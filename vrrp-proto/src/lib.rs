//! Sans-io VRRP: version 2 (RFC 3768, IPv4) and version 3 (RFC 9568, IPv4 and IPv6).
//!
//! This crate never reads a clock, opens a socket or draws entropy: time comes in as an argument
//! and randomness as a seed.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod router;
pub mod sim;
pub mod types;
pub mod wire;

pub use types::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

/// The IP protocol number assigned to VRRP (RFC 9568 section 5.1.1.4).
pub const IP_PROTOCOL: u8 = 112;
