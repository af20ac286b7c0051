//! One VRRP instance on tokio: the raw socket, the sans-io router, the codec, the virtual
//! addresses and the announcements, wired together.
//!
//! The loop owns nothing but IO. Every decision is the router's ([`ha_vrrp_proto::router`]):
//! a received packet is validated by the codec ([`ha_vrrp_proto::wire::validate`]) and fed to
//! the router with the kernel's receive time; what the router asks for (adverts, becoming master
//! or backup) is carried out here.
//!
//! Timing rules that keep a loaded machine from a false failover (the policy is the sans-io
//! [`crate::late::LateDriver`]; this loop only reads and sends):
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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

use ha_arp::{Announcer, Sender as ArpSender, SourceMac};
use ha_vrrp_proto::router::{Action, Config as RouterConfig, Event, Router, RxAdvert, State};
use ha_vrrp_proto::wire::{
    Addresses as WireAddresses, Advert, Auth, ChecksumMode, DropReason, Family, Packet, RxContext,
};
use ha_vrrp_proto::{AdvertInterval, Seconds, Version};
use tokio::sync::{mpsc, watch};

use crate::late::{LateDriver, LateStats};

use super::netlink::{Addresses, NetEvent, NetWatch, NetlinkError, Vip};
use super::socket::{Received, SocketError, VrrpSocket};
use super::vmac::{Vmac, VmacConfig, VmacError, VmacMode};

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
    mut shutdown: watch::Receiver<bool>,
) -> Result<InstanceCounters, InstanceError> {
    let name = cfg.name.clone();
    let nl = |source| InstanceError::Netlink {
        instance: name.clone(),
        source,
    };
    let sock_err = |source| InstanceError::Socket {
        instance: name.clone(),
        source,
    };
    let addrs = Addresses::open().map_err(nl)?;
    let ifindex = addrs.ifindex(&cfg.interface).await.map_err(nl)?;
    let family = match cfg.router.primary_address {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    };
    if cfg.vips.iter().any(|(a, _)| Family::of(*a) != family) {
        return Err(InstanceError::Config {
            instance: name.clone(),
            detail: format!("virtual addresses must all be {family} like the primary address"),
        });
    }
    if cfg.router.primary_address.is_unspecified() {
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
    let multicast = cfg.router.peers.is_empty();
    // With a virtual MAC: the vmac interface, a send-only socket on it bound to the primary
    // address (the vmac's own addresses are the VIPs), and the VIP interface is the vmac.
    let vmac = match &cfg.vmac {
        None => None,
        Some(vname) => {
            let vmac = Vmac::create(&VmacConfig {
                parent: cfg.interface.clone(),
                name: vname.clone(),
                vrid: cfg.router.vrid.get(),
                ipv6: family == Family::Ipv6,
                mode: VmacMode::Private,
            })
            .await
            .map_err(|source| InstanceError::Vmac {
                instance: name.clone(),
                source,
            })?;
            if let IpAddr::V6(ll) = cfg.router.primary_address
                && ll.is_unicast_link_local()
            {
                // The vmac has no link-local of its own (keepalived copies the parent's too):
                // IPv6 adverts from it keep the primary address as their source.
                addrs
                    .add(Vip {
                        ifindex: vmac.ifindex(),
                        addr: cfg.router.primary_address,
                        prefix: 64,
                    })
                    .await
                    .map_err(nl)?;
            }
            Some(vmac)
        }
    };
    // Multicast adverts of the peers' vmacs carry our own virtual MAC as their source: the
    // macvlan driver hands such frames to the vmac only (it takes them for its own,
    // reflected), so with a vmac multicast adverts are received there. Unicast adverts are
    // addressed to the parent's MAC and arrive on the parent.
    let (rx_name, rx_ifindex) = match &vmac {
        Some(v) if multicast => (v.name().to_owned(), v.ifindex()),
        _ => (cfg.interface.clone(), ifindex),
    };
    let socket = match family {
        Family::Ipv4 => VrrpSocket::open_v4(&rx_name, rx_ifindex, multicast),
        Family::Ipv6 => VrrpSocket::open_v6(&rx_name, rx_ifindex, multicast),
    }
    .map_err(sock_err)?;
    if !multicast {
        // Unicast: the adverts' source is the primary address whatever other addresses (the
        // VIPs once master) the interface has (IPv6 source selection would pick a VIP of the
        // same prefix), and the peers' adverts are addressed to it.
        socket
            .bind_source(cfg.router.primary_address)
            .map_err(sock_err)?;
    }
    let tx_socket = match &vmac {
        None => None,
        Some(v) => {
            let tx = match family {
                Family::Ipv4 => VrrpSocket::open_v4(v.name(), v.ifindex(), false),
                Family::Ipv6 => VrrpSocket::open_v6(v.name(), v.ifindex(), false),
            }
            .map_err(sock_err)?;
            tx.bind_source(cfg.router.primary_address)
                .map_err(sock_err)?;
            Some(tx)
        }
    };
    let vip_ifindex = vmac.as_ref().map_or(ifindex, Vmac::ifindex);
    let announce_if = vmac
        .as_ref()
        .map_or(cfg.interface.clone(), |v| v.name().to_owned());
    let arp = ArpSender::bind(announce_if.as_str()).map_err(|source| InstanceError::Arp {
        instance: name.clone(),
        source,
    })?;
    let iface = arp.interface().map_err(|source| InstanceError::Arp {
        instance: name.clone(),
        source,
    })?;
    let mut watch = NetWatch::open().map_err(nl)?;

    let v4: Vec<Ipv4Addr> = cfg
        .vips
        .iter()
        .filter_map(|(a, _)| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = cfg
        .vips
        .iter()
        .filter_map(|(a, _)| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    let wire_addrs = match family {
        Family::Ipv4 => WireAddresses::v4(&v4),
        Family::Ipv6 => WireAddresses::v6(&v6),
    }
    .map_err(|e| InstanceError::Config {
        instance: name.clone(),
        detail: e.to_string(),
    })?;
    let vips: Vec<Vip> = cfg
        .vips
        .iter()
        .map(|&(addr, prefix)| Vip {
            ifindex: vip_ifindex,
            addr,
            prefix,
        })
        .collect();
    let vip_addrs: Vec<IpAddr> = cfg.vips.iter().map(|(a, _)| *a).collect();

    let v2_interval = match cfg.router.advert_interval {
        AdvertInterval::V2(s) => s,
        AdvertInterval::V3(_) => Seconds(1),
    };
    let start = Instant::now();
    let mut router = Router::new(cfg.router.clone(), start).map_err(|e| InstanceError::Config {
        instance: name.clone(),
        detail: e.to_string(),
    })?;
    let mut driver = LateDriver::new(start);
    let announcer: Announcer<u8> = Announcer::new(cfg.announce, ha_arp::Pacing::default());
    let vrid = cfg.router.vrid;
    let src = cfg.router.primary_address;
    let mut counters = InstanceCounters::default();
    let mut rx_buf = vec![0u8; 65536];
    let mut tx_buf = vec![0u8; 1500];
    let emit_event = |ev: InstanceEvent| {
        if let Some(tx) = &events {
            let _ = tx.send(ev);
        }
    };
    // Virtual addresses and announcements run on their own task: a slow netlink round trip
    // never delays an advert or the reading of the socket.
    let (effects_tx, effects_rx) = mpsc::unbounded_channel();
    let effects = tokio::spawn(
        Effects {
            name: name.clone(),
            addrs,
            vips: vips.clone(),
            vip_addrs,
            arp,
            iface,
            announcer,
            key: vrid.get(),
            events: events.clone(),
        }
        .run(effects_rx),
    );
    let rx = Rx {
        family,
        cfg: &cfg,
        v2_interval,
        name: &name,
    };
    tracing::info!(instance = %name, interface = %cfg.interface, %src, "VRRP instance starting");
    // Realtime only: a standby thread on another CPU wakes this one if its CPU stalls.
    let standby = super::sched::Standby::start(super::sched::STANDBY_MARGIN).unwrap_or_else(|e| {
        tracing::warn!(instance = %name, error = %e, "no standby thread");
        None
    });

    loop {
        // Adverts first: nothing the router asked for is carried out before they are sent.
        while let Some(t) = router.poll_transmit() {
            let advert = Advert {
                vrid: t.vrid,
                priority: t.priority,
                interval: t.interval,
                addresses: wire_addrs,
                auth: if t.version == Version::V2 {
                    cfg.auth
                } else {
                    Auth::None
                },
            };
            let dst = t.destination.addr();
            match advert.emit(&mut tx_buf, cfg.checksum_mode, src, dst) {
                Ok(len) => match tx_socket
                    .as_ref()
                    .unwrap_or(&socket)
                    .send_to(&tx_buf[..len], dst)
                    .await
                {
                    Ok(()) => counters.sent += 1,
                    Err(e) => tracing::warn!(instance = %name, error = %e, "advert not sent"),
                },
                Err(e) => tracing::error!(instance = %name, error = %e, "advert not encoded"),
            }
        }
        // Handed to the effects task without waiting for it.
        while let Some(action) = router.poll_action() {
            let effect = match action {
                Action::BecomeMaster { .. } => Effect::Hold,
                Action::BecomeBackup | Action::EnterFault | Action::Stop => Effect::Release,
            };
            let _ = effects_tx.send(effect);
        }
        while let Some(event) = router.poll_event() {
            tracing::info!(instance = %name, ?event, "VRRP");
            emit_event(InstanceEvent::Transition {
                instance: name.clone(),
                event,
            });
        }
        if router.is_stopped() {
            break;
        }

        let deadline = router.poll_timeout();
        if let Some(s) = &standby {
            s.arm(deadline);
        }
        let sleep = super::sleep_until(deadline);
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    // What was received before the shutdown is processed first.
                    rx.drain(&socket, &mut rx_buf, &mut driver, &mut counters, &emit_event).map_err(sock_err)?;
                    driver.drive(&mut router, Instant::now());
                    let now = driver.clock(Instant::now());
                    router.shutdown(now);
                }
            }
            r = socket.readable() => {
                r.map_err(sock_err)?;
                rx.drain(&socket, &mut rx_buf, &mut driver, &mut counters, &emit_event).map_err(sock_err)?;
                driver.drive(&mut router, Instant::now());
            }
            _ = sleep => {
                // Read what is already queued before acting on a timer: a late read must not
                // turn an advert that arrived in time into a false failover (the driver feeds
                // packets and timers in the order of their times).
                rx.drain(&socket, &mut rx_buf, &mut driver, &mut counters, &emit_event).map_err(sock_err)?;
                driver.drive(&mut router, Instant::now());
            }
            ev = watch.next() => {
                rx.drain(&socket, &mut rx_buf, &mut driver, &mut counters, &emit_event).map_err(sock_err)?;
                driver.drive(&mut router, Instant::now());
                let now = driver.clock(Instant::now());
                match ev {
                    Some(NetEvent::Link { ifindex: i, up, .. }) if i == ifindex => router.handle_link(now, up),
                    Some(NetEvent::AddressRemoved(v)) if vips.contains(&v) && router.state() == State::Master => {
                        let _ = effects_tx.send(Effect::Restore(v));
                    }
                    None => return Err(nl(NetlinkError::Other { op: "watch", what: "links".into(), detail: "netlink connection closed".into() })),
                    _ => {}
                }
            }
        }
    }
    // The effects task removes the addresses (the Stop action) and ends when told nothing more.
    drop(effects_tx);
    let (announced, _) = tokio::time::timeout(SHUTDOWN_GRACE, effects)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    counters.announced = announced;
    counters.late = *driver.stats();
    drop(tx_socket);
    if let Some(v) = vmac
        && let Err(e) = v.remove()
    {
        tracing::warn!(instance = %name, error = %e, "removing the virtual MAC interface");
    }
    tracing::info!(instance = %name, late = ?counters.late, "VRRP instance stopped");
    Ok(counters)
}

/// What the effects task is asked to do, in order.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Add the virtual addresses and announce them.
    Hold,
    /// Stop announcing and remove the virtual addresses if held.
    Release,
    /// Put back a virtual address someone removed, if held.
    Restore(Vip),
}

/// The slow side of an instance: rtnetlink and gratuitous ARP / NA.
struct Effects {
    name: String,
    addrs: Addresses,
    vips: Vec<Vip>,
    vip_addrs: Vec<IpAddr>,
    arp: ArpSender,
    iface: ha_arp::Interface,
    announcer: Announcer<u8>,
    key: u8,
    events: Option<mpsc::UnboundedSender<InstanceEvent>>,
}

impl Effects {
    /// Carries out effects until the channel closes; returns the frames announced and whether
    /// the addresses were still held.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Effect>) -> (u64, bool) {
        let name = self.name.clone();
        let mut holding = false;
        let mut announced = 0u64;
        loop {
            while let Some(frame) = self.announcer.poll_transmit() {
                match self.arp.send(frame.bytes) {
                    Ok(()) => announced += 1,
                    Err(e) => tracing::warn!(instance = %name, error = %e, "announcement not sent"),
                }
            }
            let deadline = self.announcer.poll_timeout();
            let sleep = super::sleep_until(deadline);
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Effect::Hold) => {
                        for v in &self.vips {
                            if let Err(e) = self.addrs.add(*v).await {
                                tracing::error!(instance = %name, error = %e, "adding a virtual address");
                            }
                        }
                        holding = true;
                        self.announcer.announce(Instant::now(), self.key, &self.iface, &self.vip_addrs, SourceMac::Interface);
                    }
                    Some(Effect::Release) => {
                        self.announcer.cancel(Instant::now(), &self.key);
                        if holding {
                            for v in &self.vips {
                                if let Err(e) = self.addrs.remove(*v).await {
                                    tracing::error!(instance = %name, error = %e, "removing a virtual address");
                                }
                            }
                            holding = false;
                        }
                    }
                    Some(Effect::Restore(v)) if holding => match self.addrs.add(v).await {
                        Ok(_) => {
                            if let Some(tx) = &self.events {
                                let _ = tx.send(InstanceEvent::VipRestored { instance: name.clone(), addr: v.addr });
                            }
                        }
                        Err(e) => tracing::error!(instance = %name, error = %e, "putting back a removed virtual address"),
                    },
                    Some(Effect::Restore(_)) => {}
                },
                _ = sleep => self.announcer.handle_timeout(Instant::now()),
            }
        }
        (announced, holding)
    }
}

/// What validating a received packet needs.
struct Rx<'a> {
    family: Family,
    cfg: &'a InstanceConfig,
    v2_interval: Seconds,
    name: &'a str,
}

impl Rx<'_> {
    /// Reads every packet queued on the socket, validates it and queues the valid adverts on
    /// the driver with their kernel receive time.
    fn drain(
        &self,
        socket: &VrrpSocket,
        buf: &mut [u8],
        driver: &mut LateDriver,
        counters: &mut InstanceCounters,
        emit_event: &impl Fn(InstanceEvent),
    ) -> Result<(), SocketError> {
        // One reading of both clocks converts every kernel timestamp of this batch.
        let (now, wall) = (Instant::now(), SystemTime::now());
        // Bounded: a flood cannot keep the loop here forever.
        for _ in 0..MAX_DRAIN {
            let Some(r) = socket.try_recv(buf)? else {
                break;
            };
            counters.received += 1;
            let at = now.checked_sub(r.age(wall)).unwrap_or(now);
            if let Some(adv) = self.validate(buf, &r, counters, emit_event) {
                driver.queue(at, adv);
            }
        }
        Ok(())
    }

    /// Validates one packet, counting and reporting drops.
    fn validate(
        &self,
        buf: &[u8],
        r: &Received,
        counters: &mut InstanceCounters,
        emit_event: &impl Fn(InstanceEvent),
    ) -> Option<RxAdvert> {
        let bytes = buf.get(r.payload.0..r.payload.1)?;
        let local = RxContext {
            version: self.cfg.router.version,
            vrid: self.cfg.router.vrid,
            family: self.family,
            auth: self.cfg.auth,
            v2_interval: self.v2_interval,
            checksum_mode: self.cfg.checksum_mode,
            src: r.src,
            dst: r.dst,
            ttl: r.ttl,
        };
        let result = Packet::new_checked(bytes, self.family).and_then(|p| r.validate(&p, &local));
        match result {
            Ok(adv) => Some(adv),
            Err(e) => {
                counters.dropped += 1;
                let reason = e.reason();
                if reason != DropReason::VridMismatch {
                    tracing::debug!(instance = %self.name, src = %r.src, error = %e, "advert dropped");
                }
                emit_event(InstanceEvent::Dropped {
                    instance: self.name.to_owned(),
                    reason,
                    src: r.src,
                });
                None
            }
        }
    }
}

/// The most packets read from the socket in one go.
const MAX_DRAIN: usize = 256;

/// The interface's first IPv4 address not among the VIPs, or its IPv6 link-local address.
async fn primary_address(
    addrs: &Addresses,
    ifindex: u32,
    family: Family,
    vips: &[(IpAddr, u8)],
) -> Result<Option<IpAddr>, NetlinkError> {
    let listed = addrs.list(Some(ifindex)).await?;
    Ok(listed
        .into_iter()
        .map(|(v, _)| v.addr)
        .find(|a| match (family, a) {
            (Family::Ipv4, IpAddr::V4(_)) => !vips.iter().any(|(v, _)| v == a),
            (Family::Ipv6, IpAddr::V6(v6)) => v6.is_unicast_link_local(),
            _ => false,
        }))
}

/// How long to wait for a shutdown to be carried out.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
