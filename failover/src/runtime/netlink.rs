//! Virtual addresses and link state through rtnetlink.
//!
//! Addresses this crate adds are marked with the address protocol [`VIP_PROTOCOL`]
//! (`IFA_PROTO`, Linux 5.18+; `ip addr show` prints it as `proto 0x68`), so that after a crash
//! the next start can find and remove exactly the VIPs it left behind, and never touches an
//! address somebody else configured. Adding an address that is already there and removing one
//! that is already gone are successes: the operations are idempotent.

use std::net::IpAddr;

use futures::{StreamExt, TryStreamExt, channel::mpsc::UnboundedReceiver};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressProtocol,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::{Handle, MulticastGroup};

/// The `IFA_PROTO` value that marks addresses added by ha-failover ('h').
pub const VIP_PROTOCOL: u8 = 0x68;

/// A virtual address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vip {
    /// The interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for Vip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} on ifindex {}",
            self.addr, self.prefix, self.ifindex
        )
    }
}

/// A netlink operation that failed, with the kernel's errno and its meaning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// The kernel refused an operation.
    #[error("{op} {what}: {meaning} (errno {errno})")]
    Kernel {
        /// The operation (`add address`, ...).
        op: &'static str,
        /// The object.
        what: String,
        /// The errno.
        errno: i32,
        /// `strerror(errno)`.
        meaning: String,
    },
    /// Talking to netlink failed otherwise.
    #[error("{op} {what}: {detail}")]
    Other {
        /// The operation.
        op: &'static str,
        /// The object.
        what: String,
        /// What went wrong.
        detail: String,
    },
    /// No interface of that name.
    #[error("no interface named {0}")]
    NoSuchInterface(String),
    /// Opening the netlink socket failed.
    #[error("opening a netlink socket: {0}")]
    Open(#[source] std::io::Error),
}

fn kernel_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn convert(op: &'static str, what: String, e: rtnetlink::Error) -> NetlinkError {
    match kernel_errno(&e) {
        Some(errno) => NetlinkError::Kernel {
            op,
            what,
            errno,
            meaning: std::io::Error::from_raw_os_error(errno).to_string(),
        },
        None => NetlinkError::Other {
            op,
            what,
            detail: e.to_string(),
        },
    }
}

/// Adds, removes and lists virtual addresses.
#[derive(Debug, Clone)]
pub struct Addresses {
    handle: Handle,
}

/// Whether an idempotent operation changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The kernel's state changed.
    Done,
    /// It was already so.
    AlreadySo,
}

impl Addresses {
    /// Opens a netlink connection (spawned on the current tokio runtime).
    pub fn open() -> Result<Addresses, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        tokio::spawn(conn);
        Ok(Addresses { handle })
    }

    /// The ifindex of the interface called `name`.
    pub async fn ifindex(&self, name: &str) -> Result<u32, NetlinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(link.header.index),
            Ok(None) => Err(NetlinkError::NoSuchInterface(name.to_owned())),
            Err(e) if kernel_errno(&e) == Some(libc::ENODEV) => {
                Err(NetlinkError::NoSuchInterface(name.to_owned()))
            }
            Err(e) => Err(convert("get link", name.to_owned(), e)),
        }
    }

    /// Adds `vip`, marked as ours; IPv6 addresses skip duplicate address detection (another
    /// router held the address a moment ago). An existing identical address is success.
    pub async fn add(&self, vip: Vip) -> Result<Change, NetlinkError> {
        let mut req = self.handle.address().add(vip.ifindex, vip.addr, vip.prefix);
        let msg = req.message_mut();
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                VIP_PROTOCOL,
            )));
        if vip.addr.is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        match req.execute().await {
            Ok(()) => Ok(Change::Done),
            Err(e) if kernel_errno(&e) == Some(libc::EEXIST) => Ok(Change::AlreadySo),
            Err(e) => Err(convert("add address", vip.to_string(), e)),
        }
    }

    /// Removes `vip`; an address that is already gone is success.
    pub async fn remove(&self, vip: Vip) -> Result<Change, NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.index = vip.ifindex;
        msg.header.prefix_len = vip.prefix;
        msg.header.family = match vip.addr {
            IpAddr::V4(_) => netlink_packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => netlink_packet_route::AddressFamily::Inet6,
        };
        msg.attributes.push(AddressAttribute::Local(vip.addr));
        msg.attributes.push(AddressAttribute::Address(vip.addr));
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(Change::Done),
            Err(e)
                if matches!(
                    kernel_errno(&e),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) | Some(libc::ENODEV)
                ) =>
            {
                Ok(Change::AlreadySo)
            }
            Err(e) => Err(convert("remove address", vip.to_string(), e)),
        }
    }

    /// Adds (replacing one with the same key) or removes a route; removing one that is
    /// already gone is success.
    pub async fn route(
        &self,
        msg: netlink_packet_route::route::RouteMessage,
        add: bool,
        what: &str,
    ) -> Result<Change, NetlinkError> {
        if add {
            match self.handle.route().add(msg).replace().execute().await {
                Ok(()) => Ok(Change::Done),
                Err(e) => Err(convert("replace route", what.to_owned(), e)),
            }
        } else {
            match self.handle.route().del(msg).execute().await {
                Ok(()) => Ok(Change::Done),
                Err(e) if matches!(kernel_errno(&e), Some(libc::ESRCH) | Some(libc::ENOENT)) => {
                    Ok(Change::AlreadySo)
                }
                Err(e) => Err(convert("remove route", what.to_owned(), e)),
            }
        }
    }

    /// Adds or removes a policy routing rule; adding one that exists already and removing one
    /// that is already gone are success.
    pub async fn rule(
        &self,
        msg: netlink_packet_route::rule::RuleMessage,
        add: bool,
        what: &str,
    ) -> Result<Change, NetlinkError> {
        if add {
            let mut req = self.handle.rule().add();
            *req.message_mut() = msg;
            match req.execute().await {
                Ok(()) => Ok(Change::Done),
                Err(e) if kernel_errno(&e) == Some(libc::EEXIST) => Ok(Change::AlreadySo),
                Err(e) => Err(convert("add rule", what.to_owned(), e)),
            }
        } else {
            match self.handle.rule().del(msg).execute().await {
                Ok(()) => Ok(Change::Done),
                Err(e) if matches!(kernel_errno(&e), Some(libc::ESRCH) | Some(libc::ENOENT)) => {
                    Ok(Change::AlreadySo)
                }
                Err(e) => Err(convert("remove rule", what.to_owned(), e)),
            }
        }
    }

    /// Every address on `ifindex` (or on all interfaces), with whether it is marked as ours.
    pub async fn list(&self, ifindex: Option<u32>) -> Result<Vec<(Vip, bool)>, NetlinkError> {
        let mut req = self.handle.address().get();
        if let Some(i) = ifindex {
            req = req.set_link_index_filter(i);
        }
        let msgs: Vec<AddressMessage> = req
            .execute()
            .try_collect()
            .await
            .map_err(|e| convert("list addresses", format!("{ifindex:?}"), e))?;
        Ok(msgs.iter().filter_map(vip_of).collect())
    }

    /// Removes every address marked as ours (what a crashed run left behind); returns them.
    pub async fn remove_stale(&self) -> Result<Vec<Vip>, NetlinkError> {
        let mut removed = Vec::new();
        for (vip, ours) in self.list(None).await? {
            if ours {
                self.remove(vip).await?;
                removed.push(vip);
            }
        }
        Ok(removed)
    }
}

fn vip_of(m: &AddressMessage) -> Option<(Vip, bool)> {
    let addr = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(a) => Some(*a),
        _ => None,
    });
    let addr = addr.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(a) => Some(*a),
            _ => None,
        })
    })?;
    let ours = m.attributes.iter().any(|a| {
        matches!(
            a,
            AddressAttribute::Protocol(AddressProtocol::Other(VIP_PROTOCOL))
        )
    });
    Some((
        Vip {
            ifindex: m.header.index,
            addr,
            prefix: m.header.prefix_len,
        },
        ours,
    ))
}

/// A change the kernel reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetEvent {
    /// A link's usable state: administratively up and with carrier.
    Link {
        /// The ifindex.
        ifindex: u32,
        /// Its name, when the kernel said.
        name: Option<String>,
        /// Up and running (carrier present).
        up: bool,
    },
    /// A link was deleted.
    LinkGone {
        /// The ifindex.
        ifindex: u32,
    },
    /// An address appeared.
    AddressAdded(Vip),
    /// An address was removed (by us or by someone else).
    AddressRemoved(Vip),
}

/// A stream of link and address changes (`ip monitor link address`).
#[derive(Debug)]
pub struct NetWatch {
    rx: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>,
}

impl NetWatch {
    /// Subscribes to link, IPv4 address and IPv6 address notifications.
    pub fn open() -> Result<NetWatch, NetlinkError> {
        let (conn, _handle, rx) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Open)?;
        tokio::spawn(conn);
        Ok(NetWatch { rx })
    }

    /// The next change; `None` when the netlink connection is gone.
    pub async fn next(&mut self) -> Option<NetEvent> {
        loop {
            let (msg, _) = self.rx.next().await?;
            if let Some(ev) = net_event(msg) {
                return Some(ev);
            }
        }
    }

    /// A change already received, without waiting; `None` when there is none now (or the
    /// connection is gone: [`NetWatch::next`] says which).
    pub fn try_next(&mut self) -> Option<NetEvent> {
        loop {
            let (msg, _) = self.rx.try_recv().ok()?;
            if let Some(ev) = net_event(msg) {
                return Some(ev);
            }
        }
    }
}

/// The change a notification carries, if it is one we watch.
fn net_event(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return None;
    };
    match inner {
        RouteNetlinkMessage::NewLink(l) => link_event(&l),
        RouteNetlinkMessage::DelLink(l) => Some(NetEvent::LinkGone {
            ifindex: l.header.index,
        }),
        RouteNetlinkMessage::NewAddress(a) => vip_of(&a).map(|(v, _)| NetEvent::AddressAdded(v)),
        RouteNetlinkMessage::DelAddress(a) => vip_of(&a).map(|(v, _)| NetEvent::AddressRemoved(v)),
        _ => None,
    }
}

fn link_event(l: &LinkMessage) -> Option<NetEvent> {
    let name = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    let up = l.header.flags.contains(LinkFlags::Up) && l.header.flags.contains(LinkFlags::Running);
    Some(NetEvent::Link {
        ifindex: l.header.index,
        name,
        up,
    })
}
