//! Shared helpers of the example programs (`ha-director`, `vrrp-speaker`, `garp`, `ipvsctl`,
//! `check`).
//!
//! All `unsafe` of the example programs is in [`sys`]; the library and every binary deny it
//! elsewhere.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod director;
pub mod floor;
pub mod generate;

/// The version every tool prints for `--version`: the crate version, with the
/// git commit it was built from when built from a git checkout
/// (`0.1.0 (git 1a2b3c4d5e6f)`), the crate version alone otherwise.
pub const VERSION: &str = env!("HA_VERSION");

#[cfg(feature = "lab")]
pub mod lab;
pub mod sys;

/// The workspace README's Rust snippets, compiled (and run, unless marked `no_run`) as this
/// crate's doctests, so that what the README shows builds against the current crates.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
