//! The tokio runtime's IO: raw VRRP sockets, virtual addresses and link state through
//! rtnetlink. Everything here is IO; the decisions are made by the sans-io cores.

pub mod director;
pub mod exec;
pub mod instance;
pub mod netlink;
mod pools;
pub mod sched;
pub mod socket;
pub mod status;
mod sys;
pub mod vmac;

/// Sleeps until `deadline`, or forever when there is none (a sans-io core's `poll_timeout`).
pub(crate) async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
