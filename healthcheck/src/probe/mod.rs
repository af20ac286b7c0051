//! Probe implementations on tokio (feature `tokio`).
//!
//! [`run`] executes one [`Check`] and returns its [`Outcome`]; it never takes longer than the
//! timeout (plus the time to reap a killed script). Each probe opens its own connection (no
//! pooling) and closes it when done.

use std::time::Duration;

use crate::check::Check;
use crate::outcome::{Failure, Outcome};

mod dns;
mod http;
mod ping;
mod script;
mod smtp;
mod sock;
mod sys;
mod tcp;
mod tls;
mod udp;

pub use tls::NoVerification;

/// Run `check` once, within `timeout` (one deadline for connect, TLS, request and reply).
pub async fn run(check: &Check, timeout: Duration) -> Outcome {
    match check {
        // These two manage their deadline themselves: a script must be killed and reaped,
        // and a UDP check without `require_reply` succeeds when the deadline passes quietly.
        Check::Script(c) => script::run(c, timeout).await,
        Check::Udp(c) => udp::run(c, timeout).await,
        _ => match tokio::time::timeout(timeout, run_bounded(check)).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Outcome::Down(Failure::Timeout),
        },
    }
}

async fn run_bounded(check: &Check) -> Outcome {
    let result = match check {
        Check::Tcp(c) => tcp::run(c).await,
        Check::Http(c) => http::run(c).await,
        Check::Dns(c) => dns::run(c).await,
        Check::Smtp(c) => smtp::run(c).await,
        Check::Ping(c) => ping::run(c).await,
        Check::Script(_) | Check::Udp(_) => unreachable!("handled by run"),
    };
    match result {
        Ok(o) => o,
        Err(f) => Outcome::Down(f),
    }
}
