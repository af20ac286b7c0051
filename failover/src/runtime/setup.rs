//! Starting a node on a host, in order: stale VIPs of a crashed run removed, the plan computed
//! ([`super::plan`]), IPVS reached, interfaces resolved, virtual MACs created, VRRP sockets
//! opened, announcement senders bound, link states read. Nothing here runs once the loop runs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ha_arp::Sender as ArpSender;
use ha_vrrp_proto::wire::Family;

use super::config::{DirectorConfig, RuntimeEvent};
use super::effects::report;
use super::error::DirectorRunError;
use super::netlink::{Addresses, NetWatch, NetlinkError, Vip};
use super::plan::{self, Plan};
use super::socket::VrrpSocket;

/// The folder of the IPVS sysctls (IPv4 and IPv6 alike).
const IPVS_SYSCTLS: &str = "/proc/sys/net/ipv4/vs";
use super::vmac::{Vmac, VmacConfig, VmacMode};

/// One VRRP socket of the plan.
#[derive(Debug)]
pub(super) struct Sock {
    pub sock: VrrpSocket,
    /// The instances' interface it stands for (demultiplexing).
    pub interface: String,
    pub family: Family,
    /// Only sends (a vmac's): never read.
    pub send_only: bool,
}

/// What starting opened.
pub(super) struct Host {
    pub addrs: Addresses,
    pub watch: NetWatch,
    pub plan: Plan,
    pub ipvs: Option<ha_ipvs::Client>,
    /// Interface (and vmac) names to ifindexes.
    pub ifindex: HashMap<String, u32>,
    pub vmacs: Vec<Vmac>,
    pub socks: Vec<Sock>,
    /// Announcement senders by ifindex.
    pub senders: HashMap<u32, (ArpSender, ha_arp::Interface)>,
    /// The link state of each announce device when started (in name order: the core is
    /// told about the down ones in a deterministic order).
    pub link_up: BTreeMap<String, bool>,
    /// The static addresses, routes and rules set at start (removed at stop).
    pub statics: super::statics::Installed,
}

fn nl(what: impl Into<String>) -> impl FnOnce(NetlinkError) -> DirectorRunError {
    let what = what.into();
    move |source| DirectorRunError::Netlink { what, source }
}

/// Opens everything the configuration needs. On an error, what was created is undone (the
/// vmacs are removed when dropped).
pub(super) async fn start(
    cfg: &DirectorConfig,
    events: &Option<tokio::sync::mpsc::UnboundedSender<RuntimeEvent>>,
) -> Result<Host, DirectorRunError> {
    let addrs = Addresses::open().map_err(nl("opening rtnetlink"))?;
    let watch = NetWatch::open().map_err(nl("watching links"))?;
    if cfg.remove_stale {
        let stale = addrs
            .remove_stale()
            .await
            .map_err(nl("removing stale VIPs"))?;
        if !stale.is_empty() {
            tracing::warn!(?stale, "removed VIPs left behind by an earlier run");
            report(events, RuntimeEvent::StaleRemoved(stale));
        }
    }
    let plan = plan::plan(&cfg.director, &cfg.instances, cfg.sync_instance())?;
    let ipvs = match &cfg.ipvs {
        Some(_) => Some(
            ha_ipvs::Client::connect()
                .await
                .map_err(DirectorRunError::Ipvs)?,
        ),
        None => None,
    };
    if let Some(o) = &cfg.ipvs {
        // After the connect, which loads the module that makes the files.
        for (name, value) in o.kernel.entries() {
            let path = std::path::Path::new(IPVS_SYSCTLS).join(name);
            std::fs::write(&path, &value).map_err(|source| DirectorRunError::IpvsSysctl {
                path: path.clone(),
                source,
            })?;
            tracing::info!(sysctl = %path.display(), %value, "IPVS sysctl set");
        }
    }
    // The static addresses, routes and rules come first, as in keepalived: an instance may
    // send its adverts from a static address (`unicast_src_ip`). If anything after them
    // fails, they are removed again, so a failed start leaves nothing behind.
    let statics = super::statics::install(&addrs, &cfg.statics).await?;
    let rest = async {
        let mut ifindex: HashMap<String, u32> = HashMap::new();
        for name in &plan.interfaces {
            let i = addrs
                .ifindex(name)
                .await
                .map_err(nl(format!("interface {name}")))?;
            ifindex.insert(name.clone(), i);
        }
        let vmacs = create_vmacs(cfg, &plan, &addrs, &mut ifindex).await?;
        let socks = open_sockets(cfg, &plan, &ifindex)?;
        let mut senders = HashMap::new();
        let mut link_up = BTreeMap::new();
        for name in plan.announce_devices() {
            let arp = |source| DirectorRunError::Arp {
                interface: name.to_owned(),
                source,
            };
            let s = ArpSender::bind(name).map_err(arp)?;
            let iface = s.interface().map_err(arp)?;
            match s.is_up() {
                Ok(up) => {
                    link_up.insert(name.to_owned(), up);
                }
                Err(e) => {
                    tracing::warn!(interface = name, error = %e, "link state unknown at start")
                }
            }
            senders.insert(ifindex[name], (s, iface));
        }
        Ok((ifindex, vmacs, socks, senders, link_up))
    }
    .await;
    let (ifindex, vmacs, socks, senders, link_up) = match rest {
        Ok(r) => r,
        Err(e) => {
            super::statics::remove(&addrs, statics).await;
            return Err(e);
        }
    };
    Ok(Host {
        addrs,
        watch,
        plan,
        ipvs,
        ifindex,
        vmacs,
        socks,
        senders,
        link_up,
        statics,
    })
}

/// Creates the virtual MAC interfaces (keepalived `use_vmac`) before the sockets that use
/// them.
async fn create_vmacs(
    cfg: &DirectorConfig,
    plan: &Plan,
    addrs: &Addresses,
    ifindex: &mut HashMap<String, u32>,
) -> Result<Vec<Vmac>, DirectorRunError> {
    let mut vmacs = Vec::with_capacity(plan.vmacs.len());
    for v in &plan.vmacs {
        let instance = cfg
            .director
            .instances()
            .get(v.instance)
            .map_or_else(String::new, |c| c.name.clone());
        let vmac = Vmac::create(&VmacConfig {
            parent: v.parent.clone(),
            name: v.name.clone(),
            vrid: v.vrid,
            ipv6: v.ipv6,
            mode: VmacMode::Private,
        })
        .await
        .map_err(|source| DirectorRunError::Vmac { instance, source })?;
        if let Some(ll @ IpAddr::V6(_)) = v.link_local {
            // The vmac has no link-local of its own: IPv6 adverts from it keep the primary
            // address as their source.
            addrs
                .add(Vip {
                    ifindex: vmac.ifindex(),
                    addr: ll,
                    prefix: 64,
                })
                .await
                .map_err(nl(format!("link-local on {}", vmac.name())))?;
        }
        ifindex.insert(vmac.name().to_owned(), vmac.ifindex());
        vmacs.push(vmac);
    }
    Ok(vmacs)
}

/// Opens the plan's VRRP sockets: each joins the multicast groups of the multicast instances
/// that receive on it (the RFC's, or the configured `multicast_group`) and sends unicast with
/// the `unicast_ttl` of the instances that send from it.
fn open_sockets(
    cfg: &DirectorConfig,
    plan: &Plan,
    ifindex: &HashMap<String, u32>,
) -> Result<Vec<Sock>, DirectorRunError> {
    let instances = cfg.director.instances();
    let mut socks = Vec::with_capacity(plan.sockets.len());
    for (k, s) in plan.sockets.iter().enumerate() {
        let idx = ifindex[&s.bind_if];
        let mut groups: Vec<IpAddr> = Vec::new();
        let mut ttl: Option<(u8, &str)> = None;
        for (i, p) in plan.instances.iter().enumerate() {
            let Some(c) = instances.get(i) else { continue };
            let rfc_group = match s.family {
                Family::Ipv4 => IpAddr::V4(super::socket::VRRP_GROUP_V4),
                Family::Ipv6 => IpAddr::V6(super::socket::VRRP_GROUP_V6),
            };
            if p.rx == k && s.multicast && c.router.peers.is_empty() {
                let g = c.router.multicast_group.unwrap_or(rfc_group);
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            // The instance's multicast advert paths on this socket.
            for (path, _) in c
                .paths
                .iter()
                .zip(&p.paths)
                .filter(|(path, sk)| **sk == k && s.multicast && path.peers.is_empty())
            {
                let g = path.multicast_group.unwrap_or(rfc_group);
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            if p.tx == k
                && let Some(t) = cfg.options(&c.name).unicast_ttl
            {
                match ttl {
                    Some((other, name)) if other != t => {
                        return Err(DirectorRunError::Instance {
                            instance: c.name.clone(),
                            detail: format!(
                                "unicast_ttl {t} differs from instance {name:?}'s {other} on the same interface and family (they share a socket)"
                            ),
                        });
                    }
                    _ => ttl = Some((t, &c.name)),
                }
            }
        }
        let rfc = |g: &IpAddr| {
            *g == IpAddr::V4(super::socket::VRRP_GROUP_V4)
                || *g == IpAddr::V6(super::socket::VRRP_GROUP_V6)
        };
        let join_rfc = s.multicast && (groups.is_empty() || groups.iter().any(rfc));
        let sock = match s.family {
            Family::Ipv4 => VrrpSocket::open_v4(&s.bind_if, idx, join_rfc)?,
            Family::Ipv6 => VrrpSocket::open_v6(&s.bind_if, idx, join_rfc)?,
        };
        for g in groups.iter().filter(|g| !rfc(g)) {
            sock.join(*g, idx)?;
        }
        if let Some((t, _)) = ttl {
            sock.set_unicast_ttl(t)?;
        }
        if let Some(a) = s.bind_source {
            sock.bind_source(a)?;
        }
        socks.push(Sock {
            sock,
            interface: s.interface.clone(),
            family: s.family,
            send_only: s.send_only,
        });
    }
    Ok(socks)
}
