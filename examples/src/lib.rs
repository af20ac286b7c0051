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
