//! One VRRP instance on tokio: a director of one ([`super::director`]), with the interface's
//! own address as the primary address when none is given. The same loop, codec path, late
//! policy, effects task and graceful stop as every director.
//!
//! Timing rules that keep a loaded machine from a false failover (the policy is the sans-io
//! [`crate::late::LateDriver`]; the loop only reads and sends):
//! - before a timer is acted on, the adverts already queued on the socket are read, and the
//!   driver feeds them and the timers to the router in the order of their times, so an advert
//!   that arrived in time is honoured even when it is read late;
//! - a received advert's time is the kernel's receive timestamp (`SO_TIMESTAMPNS`), not the
//!   time it was read;
//! - a late Adver_Timer sends at once and the schedule stays on its grid (no drift);
//! - adverts are sent before anything else is done, and the slow effects (rtnetlink address
//!   changes, gratuitous ARP / NA) run on their own task, so they never delay an advert.
//!
//! With unicast peers the socket is bound to the primary address: it is the source of the
//! adverts whatever VIPs the interface holds (IPv6 source selection would otherwise pick a VIP
//! of the same prefix once master, and the peers would not recognise the sender).
//!
//! With [`InstanceConfig::vmac`] the instance runs on a VRRP virtual MAC interface
//! ([`super::vmac`]): VIPs on it, adverts and announcements sent from it (by a socket bound
//! to the primary address), multicast adverts received on it.

use std::net::IpAddr;
use std::time::Duration;

use ha_vrrp_proto::DropReason;
use ha_vrrp_proto::router::{Config as RouterConfig, Event};
use ha_vrrp_proto::wire::{Auth, ChecksumMode, Family};
use tokio::sync::{mpsc, watch};

use crate::core::{self, Cause, DirectorBuilder, DirectorEvent, VipSpec};
use crate::late::LateStats;

use super::config::{DirectorConfig, InstanceOptions, RunIo, RuntimeEvent};
use super::director::{self, DirectorRunError};
use super::netlink::{Addresses, NetlinkError};
use super::socket::SocketError;
use super::vmac::VmacError;

/// The configuration of one instance.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// A name for logs and events (keepalived's `vrrp_instance NAME`).
    pub name: String,
    /// The interface the instance runs on.
    pub interface: String,
    /// The router's parameters. Its `primary_address` may be unspecified (`0.0.0.0` or `::`):
    /// the interface's first IPv4 address, or its IPv6 link-local address, is used then.
    pub router: RouterConfig,
    /// The virtual addresses with their prefix lengths; all of the router's family.
    pub vips: Vec<(IpAddr, u8)>,
    /// VRRPv2 authentication.
    pub auth: Auth,
    /// How the VRRP checksum is computed.
    pub checksum_mode: ChecksumMode,
    /// The gratuitous ARP / NA schedule on becoming master.
    pub announce: ha_arp::Config,
    /// Run with a VRRP virtual MAC interface of this name (keepalived's `use_vmac`;
    /// [`super::vmac::default_name`] gives keepalived's `vrrp.<vrid>`): a macvlan of
    /// `interface` with the virtual router MAC (RFC 9568 section 7.3) holds the virtual
    /// addresses, and adverts and announcements are sent from it. Adverts are still received
    /// on `interface`. See [`super::vmac`].
    pub vmac: Option<String>,
}

/// Something the instance did, for embedders (and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceEvent {
    /// The router changed state.
    Transition {
        /// The instance's name.
        instance: String,
        /// The router's event, with the reason.
        event: Event,
    },
    /// A received packet was dropped by the codec's validation.
    Dropped {
        /// The instance's name.
        instance: String,
        /// Why.
        reason: DropReason,
        /// From whom.
        src: IpAddr,
    },
    /// A virtual address someone else removed while we were master was put back.
    VipRestored {
        /// The instance's name.
        instance: String,
        /// The address.
        addr: IpAddr,
    },
}

/// Errors that stop an instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// The socket failed.
    #[error("instance {instance}: {source}")]
    Socket {
        /// The instance's name.
        instance: String,
        /// What failed.
        #[source]
        source: SocketError,
    },
    /// rtnetlink failed.
    #[error("instance {instance}: {source}")]
    Netlink {
        /// The instance's name.
        instance: String,
        /// What failed.
        #[source]
        source: NetlinkError,
    },
    /// The configuration is inconsistent.
    #[error("instance {instance}: {detail}")]
    Config {
        /// The instance's name.
        instance: String,
        /// What is wrong.
        detail: String,
    },
    /// The virtual MAC interface could not be set up.
    #[error("instance {instance}: {source}")]
    Vmac {
        /// The instance's name.
        instance: String,
        /// What failed.
        #[source]
        source: VmacError,
    },
    /// The announcer's sender failed.
    #[error("instance {instance}: {source}")]
    Arp {
        /// The instance's name.
        instance: String,
        /// What failed.
        #[source]
        source: ha_arp::SenderError,
    },
}

/// Counters of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceCounters {
    /// Adverts sent.
    pub sent: u64,
    /// Packets received (valid or not).
    pub received: u64,
    /// Packets dropped by validation.
    pub dropped: u64,
    /// Gratuitous ARP / NA frames sent.
    pub announced: u64,
    /// Lateness: the receive-to-processing delay of adverts, how late timers fired, the
    /// adverts that arrived in time but were read late ("rescued"), the skipped advert ticks.
    pub late: LateStats,
}

/// Runs one instance until `shutdown` becomes true: then it sends priority 0 if master, removes
/// its addresses and returns its counters.
pub async fn run(
    mut cfg: InstanceConfig,
    events: Option<mpsc::UnboundedSender<InstanceEvent>>,
    shutdown: watch::Receiver<bool>,
) -> Result<InstanceCounters, InstanceError> {
    let name = cfg.name.clone();
    let family = Family::of(cfg.router.primary_address);
    if cfg.vips.iter().any(|(a, _)| Family::of(*a) != family) {
        return Err(InstanceError::Config {
            instance: name,
            detail: format!("virtual addresses must all be {family} like the primary address"),
        });
    }
    if cfg.router.primary_address.is_unspecified() {
        let nl = |source| InstanceError::Netlink {
            instance: name.clone(),
            source,
        };
        let addrs = Addresses::open().map_err(nl)?;
        let ifindex = addrs.ifindex(&cfg.interface).await.map_err(nl)?;
        cfg.router.primary_address = primary_address(&addrs, ifindex, family, &cfg.vips)
            .await
            .map_err(nl)?
            .ok_or_else(|| InstanceError::Config {
                instance: name.clone(),
                detail: format!(
                    "{} has no {family} address to advertise from",
                    cfg.interface
                ),
            })?;
    }
    let dcfg = director_config(&cfg).map_err(|e| error(&name, e))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut io = RunIo::new(shutdown);
    io.events = Some(tx);
    let forward = {
        let name = name.clone();
        async move {
            while let Some(ev) = rx.recv().await {
                let Some(ev) = instance_event(&name, ev) else {
                    continue;
                };
                if let Some(tx) = &events
                    && tx.send(ev).is_err()
                {
                    tracing::trace!("the embedder no longer reads events");
                }
            }
        }
    };
    let (result, ()) = tokio::join!(director::run_with(dcfg, io), forward);
    let c = result.map_err(|e| error(&name, e))?;
    tracing::info!(instance = %name, late = ?c.late, "VRRP instance stopped");
    Ok(InstanceCounters {
        sent: c.sent,
        received: c.received,
        dropped: c.dropped,
        announced: c.announced,
        late: c.late,
    })
}

/// The one-instance director of `cfg`.
fn director_config(cfg: &InstanceConfig) -> Result<DirectorConfig, DirectorRunError> {
    let mut c =
        core::InstanceConfig::new(cfg.name.clone(), cfg.interface.clone(), cfg.router.clone());
    c.vips = cfg
        .vips
        .iter()
        .map(|&(addr, prefix)| VipSpec::new(addr, prefix))
        .collect();
    c.auth = cfg.auth;
    c.checksum_mode = cfg.checksum_mode;
    let mut b = DirectorBuilder::new();
    b.add_instance(c)?;
    let mut d = DirectorConfig::new(b);
    d.announce = cfg.announce;
    d.shutdown_grace = SHUTDOWN_GRACE;
    // Other processes' VIPs on this host are not this instance's to remove.
    d.remove_stale = false;
    d.instances.insert(
        cfg.name.clone(),
        InstanceOptions {
            vmac: cfg.vmac.clone(),
            ..InstanceOptions::default()
        },
    );
    Ok(d)
}

/// The instance's view of a director event.
fn instance_event(name: &str, ev: RuntimeEvent) -> Option<InstanceEvent> {
    Some(match ev {
        RuntimeEvent::Director(DirectorEvent::Transition {
            from, to, cause, ..
        }) => InstanceEvent::Transition {
            instance: name.to_owned(),
            event: Event::Transition {
                from,
                to,
                reason: match cause {
                    Cause::Router(r) => r,
                    // One instance has no sync group and no fence.
                    Cause::SyncGroup { .. } | Cause::FenceFailed | Cause::Admin(_) => return None,
                },
            },
        },
        RuntimeEvent::Dropped { reason, src, .. } => InstanceEvent::Dropped {
            instance: name.to_owned(),
            reason,
            src,
        },
        RuntimeEvent::VipRestored { addr, .. } => InstanceEvent::VipRestored {
            instance: name.to_owned(),
            addr,
        },
        _ => return None,
    })
}

/// The instance's error for a director's.
fn error(name: &str, e: DirectorRunError) -> InstanceError {
    let instance = name.to_owned();
    match e {
        DirectorRunError::Socket(source) => InstanceError::Socket { instance, source },
        DirectorRunError::Netlink { source, .. } => InstanceError::Netlink { instance, source },
        DirectorRunError::Vmac { source, .. } => InstanceError::Vmac { instance, source },
        DirectorRunError::Arp { source, .. } => InstanceError::Arp { instance, source },
        other => InstanceError::Config {
            instance,
            detail: other.to_string(),
        },
    }
}

/// The interface's primary address ([`core::pick_primary_address`]).
async fn primary_address(
    addrs: &Addresses,
    ifindex: u32,
    family: Family,
    vips: &[(IpAddr, u8)],
) -> Result<Option<IpAddr>, NetlinkError> {
    let listed: Vec<IpAddr> = addrs
        .list(Some(ifindex))
        .await?
        .into_iter()
        .map(|(v, _)| v.addr)
        .collect();
    let vips: Vec<IpAddr> = vips.iter().map(|(a, _)| *a).collect();
    Ok(core::pick_primary_address(
        &listed,
        family == Family::Ipv6,
        &vips,
    ))
}

/// How long a stop may take.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
