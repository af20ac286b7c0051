//! The errors that stop [`super::director::run`].

use super::netlink::NetlinkError;
use super::socket::SocketError;
use crate::core::DirectorConfigError;

/// Errors that stop [`super::director::run`] (at start, or a fatal one while running: then the
/// node has stopped gracefully first, with priority 0 sent and its VIPs removed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectorRunError {
    /// The director's configuration is invalid.
    #[error(transparent)]
    Config(#[from] DirectorConfigError),
    /// An instance's options are inconsistent.
    #[error("instance {instance:?}: {detail}")]
    Instance {
        /// The instance.
        instance: String,
        /// What is wrong.
        detail: String,
    },
    /// A VRRP socket failed.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// rtnetlink failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: NetlinkError,
    },
    /// The realtime settings could not be applied.
    #[error("realtime scheduling: {0}")]
    Realtime(#[source] super::sched::SchedError),
    /// A system call of the runtime's own failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The BGP speaker cannot start (active-active).
    #[error("bgp: {0}")]
    Bgp(#[from] BgpSetupError),
    /// An IPVS sysctl ([`super::config::IpvsKernelSettings`]) could not be set.
    #[error("setting {}: {source}", path.display())]
    IpvsSysctl {
        /// The sysctl's file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The hardware watchdog could not be opened or set up.
    #[error("watchdog {}: {op}: {source}", device.display())]
    Watchdog {
        /// The device.
        device: std::path::PathBuf,
        /// What failed (`open`, `WDIOC_SETTIMEOUT`).
        op: &'static str,
        /// The OS error (its errno).
        #[source]
        source: std::io::Error,
    },
    /// A new configuration cannot be adopted in place.
    #[error("reload: {0}")]
    Reconfigure(#[source] crate::core::ReconfigureError),
    /// A virtual MAC interface could not be set up.
    #[error("instance {instance:?}: {source}")]
    Vmac {
        /// The instance.
        instance: String,
        /// The failure.
        #[source]
        source: super::vmac::VmacError,
    },
    /// The kernel's IPVS could not be reached (virtual servers are configured).
    #[error("IPVS: {0}")]
    Ipvs(#[source] ha_ipvs::Error),
    /// An AF_PACKET sender for announcements could not be opened.
    #[error("announcements on {interface}: {source}")]
    Arp {
        /// The interface.
        interface: String,
        /// The failure.
        #[source]
        source: ha_arp::SenderError,
    },
    /// A virtual route (keepalived `virtual_routes`) cannot be understood.
    #[error("instance {instance:?}: virtual route {route:?}: {detail}")]
    Route {
        /// The instance.
        instance: String,
        /// The route as configured.
        route: String,
        /// What is wrong.
        detail: String,
    },
    /// A virtual or static rule (keepalived `virtual_rules`, `static_rules`) cannot be
    /// understood.
    #[error("{owner}: rule {rule:?}: {detail}")]
    Rule {
        /// The instance (`instance "NAME"`) or `static rules`.
        owner: String,
        /// The rule as configured.
        rule: String,
        /// What is wrong.
        detail: String,
    },
    /// A static address or route (keepalived `static_ipaddress`, `static_routes`) cannot be
    /// understood or set.
    #[error("static {what}: {detail}")]
    Static {
        /// Which one.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// One of the runtime's own tasks ended while the node was running (it panicked, or its
    /// channel closed). The node stopped gracefully: this is never a master without its VIPs.
    #[error("the {task} task ended while running: {detail}; the director stopped")]
    TaskEnded {
        /// Which task: `effects` (VIPs, routes, announcements, commands), `notify`, `ipvs`,
        /// `health`.
        task: &'static str,
        /// How it ended.
        detail: String,
    },
}

/// A [`super::config::BgpConfig`] that cannot be run, naming the neighbour.
#[derive(Debug, thiserror::Error)]
#[error("neighbor {neighbor}: {detail}")]
pub struct BgpSetupError {
    /// The neighbour's address.
    pub neighbor: std::net::IpAddr,
    /// What is wrong.
    pub detail: String,
}
