//! The VRRP virtual MAC (RFC 9568 section 7.3, RFC 3768 section 7.3; keepalived's `use_vmac`):
//! a macvlan interface on the parent interface whose MAC is the virtual router MAC
//! `00-00-5E-00-01-{VRID}` (IPv4) or `00-00-5E-00-02-{VRID}` (IPv6).
//!
//! The master sends its adverts and its gratuitous ARP / unsolicited NA from this interface and
//! holds the virtual addresses on it, so the VIPs are answered with the virtual MAC: a failover
//! needs no ARP cache update at the clients, only the switches relearn the MAC's port (from the
//! new master's adverts and announcements).
//!
//! What [`Vmac::create`] does, like keepalived:
//! - creates `vrrp.<vrid>` (the name is configurable) as a macvlan of mode `private` (or
//!   `bridge`) on the parent, with the virtual MAC, and sets it up. It is idempotent: an
//!   existing macvlan of that name on the same parent with the right MAC is reused; anything
//!   else of that name is an error naming what was found.
//! - IPv4: sets `arp_ignore=1`, `arp_filter=1` and `arp_announce=2` on the parent (so the
//!   parent does not answer ARP for the VIPs held on the vmac with its own MAC, and does not
//!   use a VIP as the sender address of its own ARP requests, which would teach the clients the
//!   parent's MAC for the VIP), `arp_ignore=1` on the vmac (it answers only for the VIPs it
//!   holds) and `rp_filter=0` (the peers' multicast adverts are received on it), and disables IPv6 on the vmac (no MLD or router solicitation from a backup's vmac
//!   that would steal the virtual MAC's switch port).
//! - IPv6: no automatic link-local address on the vmac (`addr_gen_mode` none); the instance
//!   adds its own link-local address there, so that adverts from the vmac keep the primary
//!   address as their source (keepalived does the same).
//!
//! [`Vmac::remove`] (and `Drop`, best effort) deletes the interface (a reused one too) and puts
//! the parent's sysctls back as they were. One instance per parent interface is assumed for the sysctls.

use std::io;
use std::path::PathBuf;

use futures::TryStreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage, MacVlanMode};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec};

/// The virtual router MAC of `vrid` (RFC 9568 section 7.3): `00-00-5E-00-01-{VRID}` for IPv4,
/// `00-00-5E-00-02-{VRID}` for IPv6.
pub fn virtual_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// keepalived's name for the vmac interface of `vrid`: `vrrp.<vrid>`.
pub fn default_name(vrid: u8) -> String {
    format!("vrrp.{vrid}")
}

/// The macvlan mode of the vmac interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VmacMode {
    /// No traffic between macvlans of the same parent (keepalived's choice).
    #[default]
    Private,
    /// macvlans of the same parent talk to each other directly.
    Bridge,
}

/// What vmac interface to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacConfig {
    /// The parent interface (the instance's interface).
    pub parent: String,
    /// The vmac interface's name (at most 15 bytes); [`default_name`] by default.
    pub name: String,
    /// The virtual router id: the MAC's last byte.
    pub vrid: u8,
    /// IPv6 virtual MAC (`00-00-5E-00-02-xx`) rather than IPv4.
    pub ipv6: bool,
    /// The macvlan mode.
    pub mode: VmacMode,
}

impl VmacConfig {
    /// keepalived's defaults: `vrrp.<vrid>`, mode private.
    pub fn new(parent: impl Into<String>, vrid: u8, ipv6: bool) -> VmacConfig {
        VmacConfig {
            parent: parent.into(),
            name: default_name(vrid),
            vrid,
            ipv6,
            mode: VmacMode::Private,
        }
    }
}

/// Why the vmac interface could not be set up or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmacError {
    /// Opening a netlink socket failed.
    #[error("virtual MAC: opening a netlink socket: {0}")]
    Open(#[source] io::Error),
    /// The parent interface does not exist.
    #[error("virtual MAC {name}: no parent interface named {parent}")]
    NoParent {
        /// The vmac's name.
        name: String,
        /// The missing parent.
        parent: String,
    },
    /// The name is not a valid interface name.
    #[error("virtual MAC: interface name {0:?} must be 1 to 15 bytes without '/' or spaces")]
    BadName(String),
    /// An interface of that name exists and is not this vmac.
    #[error("virtual MAC {name} on {parent}: an interface of that name exists: {found}")]
    Conflict {
        /// The vmac's name.
        name: String,
        /// The parent.
        parent: String,
        /// What the existing interface is.
        found: String,
    },
    /// A netlink request failed.
    #[error("virtual MAC {name} on {parent}: {op}: {detail}")]
    Netlink {
        /// The vmac's name.
        name: String,
        /// The parent.
        parent: String,
        /// The operation.
        op: &'static str,
        /// The kernel's or the library's error.
        detail: String,
    },
    /// Reading or writing a sysctl failed.
    #[error("virtual MAC: sysctl {path}: {source}")]
    Sysctl {
        /// The /proc/sys path.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A vmac interface this process set up; deleted by [`Vmac::remove`] or on drop.
#[derive(Debug)]
pub struct Vmac {
    name: String,
    parent: String,
    ifindex: u32,
    parent_ifindex: u32,
    mac: [u8; 6],
    /// Sysctls to put back, with their old values.
    restore: Vec<(PathBuf, String)>,
    live: bool,
}

fn conf(family: &str, ifname: &str, key: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/{family}/conf/{ifname}/{key}"))
}

/// Writes `value` to a sysctl, returning the old value.
fn set_sysctl(path: &PathBuf, value: &str) -> Result<String, VmacError> {
    let err = |source| VmacError::Sysctl {
        path: path.display().to_string(),
        source,
    };
    let old = std::fs::read_to_string(path).map_err(err)?;
    std::fs::write(path, value).map_err(err)?;
    Ok(old.trim().to_owned())
}

async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, rtnetlink::Error> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(m) => Ok(m),
        Err(rtnetlink::Error::NetlinkError(e))
            if e.code.map(|c| -c.get()) == Some(libc::ENODEV) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// What a link is, for the conflict check and its message: (is macvlan, parent, MAC).
fn describe(m: &LinkMessage) -> (bool, Option<u32>, Option<Vec<u8>>) {
    let mut macvlan = false;
    let mut parent = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::LinkInfo(infos) => {
                macvlan = infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::MacVlan)));
            }
            LinkAttribute::Link(p) => parent = Some(*p),
            LinkAttribute::Address(a) => mac = Some(a.clone()),
            _ => {}
        }
    }
    (macvlan, parent, mac)
}

fn fmt_mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Vmac {
    /// Creates (or reuses) the vmac interface, sets the sysctls and sets it up. Needs a tokio
    /// runtime (the netlink connection is spawned on it) and CAP_NET_ADMIN.
    pub async fn create(cfg: &VmacConfig) -> Result<Vmac, VmacError> {
        let name = cfg.name.clone();
        if name.is_empty()
            || name.len() > 15
            || name.contains('/')
            || name.contains(char::is_whitespace)
        {
            return Err(VmacError::BadName(name));
        }
        let nl_err = |op: &'static str, e: rtnetlink::Error| VmacError::Netlink {
            name: cfg.name.clone(),
            parent: cfg.parent.clone(),
            op,
            detail: e.to_string(),
        };
        let (conn, handle, _) = rtnetlink::new_connection().map_err(VmacError::Open)?;
        tokio::spawn(conn);
        let parent = find_link(&handle, &cfg.parent)
            .await
            .map_err(|e| nl_err("looking up the parent", e))?
            .ok_or_else(|| VmacError::NoParent {
                name: name.clone(),
                parent: cfg.parent.clone(),
            })?;
        let parent_ifindex = parent.header.index;
        let mac = virtual_mac(cfg.vrid, cfg.ipv6);
        let check = |m: &LinkMessage| -> Result<u32, VmacError> {
            match describe(m) {
                (true, Some(p), Some(a)) if p == parent_ifindex && a == mac => Ok(m.header.index),
                (macvlan, p, a) => Err(VmacError::Conflict {
                    name: name.clone(),
                    parent: cfg.parent.clone(),
                    found: format!(
                        "{} on ifindex {} with MAC {}, wanted a macvlan on ifindex {parent_ifindex} with MAC {}",
                        if macvlan {
                            "a macvlan"
                        } else {
                            "not a macvlan"
                        },
                        p.map_or("none".into(), |p| p.to_string()),
                        a.as_deref().map_or("none".into(), fmt_mac),
                        fmt_mac(&mac),
                    ),
                }),
            }
        };
        let ifindex = match find_link(&handle, &name)
            .await
            .map_err(|e| nl_err("looking up the vmac", e))?
        {
            Some(m) => check(&m)?,
            None => {
                let mode = match cfg.mode {
                    VmacMode::Private => MacVlanMode::Private,
                    VmacMode::Bridge => MacVlanMode::Bridge,
                };
                let msg = LinkMacVlan::new(&name, parent_ifindex, mode)
                    .address(mac.to_vec())
                    .build();
                if let Err(e) = handle.link().add(msg).execute().await {
                    // EEXIST: created concurrently; the check below decides.
                    let exists = matches!(&e, rtnetlink::Error::NetlinkError(m) if m.code.map(|c| -c.get()) == Some(libc::EEXIST));
                    if !exists {
                        return Err(nl_err("creating the macvlan", e));
                    }
                }
                let m = find_link(&handle, &name)
                    .await
                    .map_err(|e| nl_err("looking up the new vmac", e))?
                    .ok_or_else(|| VmacError::Netlink {
                        name: name.clone(),
                        parent: cfg.parent.clone(),
                        op: "looking up the new vmac",
                        detail: "gone right after creation".into(),
                    })?;
                check(&m)?
            }
        };
        let mut vmac = Vmac {
            name: name.clone(),
            parent: cfg.parent.clone(),
            ifindex,
            parent_ifindex,
            mac,
            restore: Vec::new(),
            live: true,
        };
        vmac.sysctls(cfg.ipv6)?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(ifindex).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("setting the vmac up", e))?;
        tracing::info!(vmac = %name, parent = %cfg.parent, mac = %fmt_mac(&mac), "virtual MAC interface up");
        Ok(vmac)
    }

    fn sysctls(&mut self, ipv6: bool) -> Result<(), VmacError> {
        if ipv6 {
            // No EUI-64 link-local from the shared virtual MAC: the instance adds its own.
            let p = conf("ipv6", &self.name, "addr_gen_mode");
            set_sysctl(&p, "1")?;
            return Ok(());
        }
        for (key, value) in [
            ("arp_ignore", "1"),
            ("arp_filter", "1"),
            ("arp_announce", "2"),
        ] {
            let p = conf("ipv4", &self.parent, key);
            let old = set_sysctl(&p, value)?;
            if old != value {
                self.restore.push((p, old));
            }
        }
        set_sysctl(&conf("ipv4", &self.name, "arp_ignore"), "1")?;
        // The peers' multicast adverts are received on the vmac, which has no route back to
        // them (keepalived does the same; a strict `all.rp_filter` still applies).
        set_sysctl(&conf("ipv4", &self.name, "rp_filter"), "0")?;
        if std::fs::read_to_string(conf("ipv4", "all", "rp_filter")).is_ok_and(|v| v.trim() == "1")
        {
            tracing::warn!(
                vmac = %self.name,
                "net.ipv4.conf.all.rp_filter is 1 (strict): adverts received on the vmac will be dropped; set it to 0 or 2"
            );
        }
        // No IPv6 (MLD, router solicitations) from an IPv4 vmac; absent when IPv6 is off.
        let p = conf("ipv6", &self.name, "disable_ipv6");
        if p.exists() {
            set_sysctl(&p, "1")?;
        }
        Ok(())
    }

    /// The vmac interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vmac interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The parent interface's index.
    pub fn parent_ifindex(&self) -> u32 {
        self.parent_ifindex
    }

    /// The virtual MAC.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Deletes the interface (its addresses go with it) and puts the parent's sysctls back.
    /// An interface already gone is a success.
    pub fn remove(mut self) -> Result<(), VmacError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), VmacError> {
        if !self.live {
            return Ok(());
        }
        self.live = false;
        let mut first_err = None;
        for (p, old) in self.restore.drain(..) {
            if let Err(source) = std::fs::write(&p, &old) {
                first_err.get_or_insert(VmacError::Sysctl {
                    path: p.display().to_string(),
                    source,
                });
            }
        }
        if let Err(e) = delete_link(self.ifindex) {
            return Err(VmacError::Netlink {
                name: self.name.clone(),
                parent: self.parent.clone(),
                op: "deleting the vmac",
                detail: e.to_string(),
            });
        }
        tracing::info!(vmac = %self.name, "virtual MAC interface removed");
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Vmac {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::warn!(error = %e, "virtual MAC not cleaned up");
        }
    }
}

/// RTM_DELLINK of `ifindex` on a blocking netlink socket (usable from `Drop`); ENODEV (already
/// gone) is a success.
fn delete_link(ifindex: u32) -> io::Result<()> {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let mut link = LinkMessage::default();
    link.header.index = ifindex;
    let mut req = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::DelLink(link)),
    );
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    req.header.sequence_number = 1;
    req.finalize();
    let mut buf = vec![0u8; req.buffer_len()];
    req.serialize(&mut buf);
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(&buf, 0)?;
    let mut rbuf = Vec::with_capacity(8192);
    // Bounded: an ACK (or an error) is the only answer to this request.
    for _ in 0..8 {
        rbuf.clear();
        let n = sock.recv(&mut rbuf, 0)?;
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if let NetlinkPayload::Error(e) = msg.payload {
            return match e.code {
                None => Ok(()),
                Some(c) if -c.get() == libc::ENODEV => Ok(()),
                Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
            };
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no netlink acknowledgement for RTM_DELLINK",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{InfoData, InfoMacVlan};

    #[test]
    fn virtual_macs_follow_rfc_9568_section_7_3() {
        assert_eq!(virtual_mac(52, false), [0, 0, 0x5e, 0, 1, 52]);
        assert_eq!(virtual_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
        assert_eq!(default_name(7), "vrrp.7");
        assert_eq!(VmacConfig::new("eth0", 9, false).mode, VmacMode::Private);
    }

    #[test]
    fn describe_reads_kind_parent_and_mac() {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private,
            )])),
        ]));
        m.attributes.push(LinkAttribute::Link(3));
        m.attributes
            .push(LinkAttribute::Address(virtual_mac(1, false).to_vec()));
        assert_eq!(
            describe(&m),
            (true, Some(3), Some(vec![0, 0, 0x5e, 0, 1, 1]))
        );
        assert_eq!(fmt_mac(&virtual_mac(1, false)), "00:00:5e:00:01:01");
    }
}
