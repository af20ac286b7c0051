#![doc = include_str!("../README.md")]
//!
//! # Layers
//!
//! - [`message`]: the BGP-4 codec (RFC 4271 §4) with capabilities, 4-octet AS, MP-BGP for
//!   IPv6, communities, RFC 7606 error handling, and a streaming [`Framer`]. Never panics on
//!   input.
//! - [`session`]: the sans-io finite state machine for one neighbour (RFC 4271 §8), which
//!   announces and withdraws our prefixes and discards whatever the peer sends.
//! - `io` (feature `tokio`): a task that drives one [`Session`] over TCP.
//!
//! # Driver loop (sans-io)
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Instant;
//! use ha_bgp::{Action, Config, Event, Prefix, RouteAttributes, Session};
//!
//! let mut config = Config::new(65001, 65000, "10.0.0.2".parse().unwrap());
//! config.next_hop_v4 = Some("10.0.0.2".parse().unwrap());
//! let mut session = Session::new(config, Instant::now()).unwrap();
//! let vip: Prefix = "10.0.0.100/32".parse().unwrap();
//! session.announce(Instant::now(), vip, RouteAttributes::default()).unwrap();
//! session.start(Instant::now());
//! let mut tcp: Option<TcpStream> = None;
//! loop {
//!     while let Some(bytes) = session.poll_transmit() {
//!         tcp.as_mut().unwrap().write_all(&bytes).unwrap();
//!     }
//!     while let Some(action) = session.poll_action() {
//!         match action {
//!             Action::Connect => match TcpStream::connect("10.0.0.1:179") {
//!                 Ok(s) => { tcp = Some(s); session.connected(Instant::now()); }
//!                 Err(_) => session.connection_failed(Instant::now()),
//!             },
//!             Action::Disconnect => tcp = None,
//!         }
//!     }
//!     while let Some(event) = session.poll_event() {
//!         if let Event::Down { reason } = event { eprintln!("down: {reason}"); }
//!     }
//!     // A real loop waits for input *or* `session.poll_timeout()`; see `io` for one.
//!     let mut buf = [0u8; 4096];
//!     let n = tcp.as_mut().map_or(0, |s| s.read(&mut buf).unwrap_or(0));
//!     session.handle_input(Instant::now(), &buf[..n]);
//!     session.handle_timeout(Instant::now());
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests take their start instant from the real clock; the non-test build of the same code is checked (clippy.toml)"
    )
)]

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[allow(
    clippy::disallowed_methods,
    reason = "the IO side (clippy.toml): timer deadlines and input times come from the clock"
)]
pub mod io;
pub mod message;
pub mod session;

#[cfg(feature = "tokio")]
pub use io::{DriverError, Handle, IoConfig, spawn};
pub use message::{
    Afi, Attribute, Capability, DecodeError, EncodeError, ErrorAction, Framer, Message,
    Notification, Open, Origin, Prefix, PrefixError, Safi, Update,
};
pub use session::{
    Action, AnnounceError, Config, ConfigError, DownReason, Event, RouteAttributes, Session, State,
};
