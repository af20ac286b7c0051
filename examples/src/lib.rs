//! Shared helpers of the example programs (`ha-director`, `vrrp-speaker`, `garp`, `ipvsctl`,
//! `check`).
#![warn(missing_docs)]

pub mod director;
#[cfg(feature = "lab")]
pub mod lab;
