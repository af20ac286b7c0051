//! Shared helpers of the example programs (`ha-director`, `vrrp-speaker`, `garp`, `ipvsctl`,
//! `check`).
//!
//! All `unsafe` of the example programs is in [`sys`]; the library and every binary deny it
//! elsewhere.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod director;
#[cfg(feature = "lab")]
pub mod lab;
pub mod sys;

/// The workspace README's Rust snippets, compiled (and run, unless marked `no_run`) as this
/// crate's doctests, so that what the README shows builds against the current crates.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
