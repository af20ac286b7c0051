#![doc = include_str!("../README.md")]
//!
//! # Layers
//!
//! This crate has three layers:
//!
//! - [`wire`]: sans-io codecs in the smoltcp style for Ethernet + ARP (gratuitous request and
//!   reply forms) and Ethernet + IPv6 + ICMPv6 Neighbor Advertisement (RFC 4861 §4.4, §7.2.6).
//!   They parse as well as build and never panic on input.
//! - [`announce`]: a sans-io scheduler ([`Announcer`]) with keepalived's schedule (bursts,
//!   second burst, refresh) and per-interface pacing shared by every instance.
//! - `sender` (feature `sys`): an `AF_PACKET` socket bound to an interface that sends the
//!   frames, with typed errors. All `unsafe` lives in the private `sys` module.
//!
//! # Driver loop
//!
//! ```no_run
//! use std::net::IpAddr;
//! use std::time::Instant;
//! use ha_arp::{Announcer, Config, Interface, MacAddr, Pacing, SourceMac};
//!
//! # fn send(_ifindex: u32, _frame: &[u8]) {}
//! let mut announcer: Announcer<u8> = Announcer::new(Config::default(), Pacing::default());
//! let eth0 = Interface::new(2, MacAddr([0x02, 0, 0, 0, 0, 1]));
//! let vips: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
//!
//! // VRID 51 became master: announce its addresses with its virtual MAC.
//! announcer.announce(Instant::now(), 51, &eth0, &vips, SourceMac::VirtualRouter { vrid: 51 });
//! loop {
//!     while let Some(tx) = announcer.poll_transmit() {
//!         // With feature `sys`: `ha_arp::Sender::bind(..)?.send(tx.bytes)?`.
//!         send(tx.ifindex, tx.bytes);
//!     }
//!     let Some(deadline) = announcer.poll_timeout() else { break };
//!     std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
//!     announcer.handle_timeout(Instant::now());
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod announce;
#[cfg(feature = "sys")]
mod sender;
#[cfg(feature = "sys")]
mod sys;
pub mod wire;

pub use announce::{Announcer, Config, Interface, NaSource, Pacing, SourceMac, Transmit};
#[cfg(feature = "sys")]
pub use sender::{IfaceRef, Sender, SenderError, interface_info};
pub use wire::arp::GarpForm;
pub use wire::frame::Repr as FrameRepr;
pub use wire::{MacAddr, ParseError};

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
