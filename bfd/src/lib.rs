#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`packet`]: the BFD Control packet (RFC 5880 §4.1-§4.4) in the smoltcp style: a
//!   [`Packet`] view, a plain [`Repr`] with `parse` / `emit`, and the session-independent
//!   reception checks of §6.8.6 as typed errors.
//! - [`session`]: one session to one peer (RFC 5880 §6, RFC 5881), sans-io: it never reads a
//!   clock, opens a socket or draws entropy.
//! - `io` (feature `tokio`): the UDP driver of RFC 5881 (port 3784, TTL 255, source ports
//!   49152-65535), demultiplexing received packets to sessions.
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

#[cfg(feature = "tokio")]
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the IO side (clippy.toml): the driver reads the clock and draws discriminators, ports and jitter seeds from OS-seeded hashers"
)]
pub mod io;
pub mod packet;
pub mod session;
#[cfg(feature = "tokio")]
mod sys;

pub use packet::{Auth, Diagnostic, Flags, Packet, ParseError, ReceptionError, Repr, State};
pub use session::{Config, ConfigError, Event, Role, Session, Stats, Timers, Transmit};

/// The UDP destination port of single-hop BFD Control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;
/// The source port range of single-hop BFD Control packets (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// The TTL / hop limit of single-hop BFD packets, sent and required on receipt (RFC 5881 §5).
pub const TTL: u8 = 255;
