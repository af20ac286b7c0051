//! The tokio runtime: every socket and process of a node. Everything here is IO; the
//! decisions are made by the sans-io core ([`crate::core::Director`]) and the late policy
//! ([`crate::late`]).
//!
//! | module | what |
//! |---|---|
//! | [`director`] | the one event loop: bytes in and out of the core, the late policy, actions to the slow tasks, the graceful stop |
//! | [`instance`] | one VRRP instance alone: a director of one |
//! | [`config`] | what a node takes and gives: configuration, channels, reload, events |
//! | [`error`] | the errors that stop a node |
//! | [`plan`] | interfaces, virtual MACs and sockets, from the configuration (a pure function) |
//! | `setup` | opening the plan on the host at start |
//! | `effects` | the slow side: VIPs and routes (rtnetlink), announcements, commands, notify scripts |
//! | `pools` | the IPVS task and the health-check task |
//! | [`announce`], `bgp` | active-active: the virtual servers' routes by quorum through a [`announce::RouteAnnouncer`], by default BGP sessions with BFD |
//! | [`status`] | a snapshot of a running node (a leaf: plain data) |
//! | `ping` | ping trackers (heartbeat `ping` / `ping_group`): echo schedule and answers |
//! | `watchdog` | the hardware watchdog fed from the event loop (heartbeat `watchdog`) |
//! | [`netlink`], [`socket`], [`vmac`], [`route`], [`rule`], [`exec`], [`sched`] | host primitives |

pub mod announce;
mod bgp;
pub mod config;
pub mod director;
mod effects;
pub mod error;
pub mod exec;
pub mod instance;
pub mod netlink;
mod ping;
pub mod plan;
mod pools;
pub mod route;
pub mod rule;
pub mod sched;
mod setup;
pub mod socket;
mod statics;
pub mod status;
mod sys;
mod timer;
pub mod vmac;
mod watchdog;

/// Sleeps until `deadline`, or forever when there is none (a sans-io core's `poll_timeout`).
pub(crate) async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
