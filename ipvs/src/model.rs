//! The plain model of IPVS objects, independent of the wire: services,
//! destinations, sync daemons, timeouts; with conversions to and from the
//! attribute sets of [`crate::wire`].

use crate::wire::{
    CmdAttr, DaemonAttr, DestAttr, FlagsMask, IpvsCmd, IpvsMessage, Stats, SvcAttr, daemon_state,
    fwd, svc_flags,
};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The `AF_*` number.
    pub fn number(self) -> u16 {
        match self {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        }
    }

    /// From an `AF_*` number.
    pub fn from_number(n: u16) -> Option<Family> {
        match n {
            AF_INET => Some(Family::Inet),
            AF_INET6 => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
}

/// The transport protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// From an IP protocol number.
    pub fn from_number(n: u16) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// What identifies a service: protocol, address and port; or a firewall mark and family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ServiceKey {
    /// A TCP/UDP/SCTP virtual address and port.
    Inet {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address and port.
        addr: SocketAddr,
    },
    /// A firewall-mark service (no address, no port).
    Fwmark {
        /// The firewall mark (non-zero).
        mark: u32,
        /// The family of the packets it matches.
        family: Family,
    },
}

impl ServiceKey {
    /// A TCP service key.
    pub fn tcp(addr: SocketAddr) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr,
        }
    }

    /// A UDP service key.
    pub fn udp(addr: SocketAddr) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr,
        }
    }

    /// A firewall-mark service key.
    pub fn fwmark(mark: u32, family: Family) -> Self {
        ServiceKey::Fwmark { mark, family }
    }

    /// The address family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Inet { addr, .. } => Family::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The identifying attributes (what `DEL_SERVICE`, `GET_DEST` and friends need).
    pub fn to_attrs(&self) -> Vec<SvcAttr> {
        let mut v = vec![SvcAttr::Af(self.family().number())];
        match self {
            ServiceKey::Inet { protocol, addr } => {
                v.push(SvcAttr::Protocol(protocol.number()));
                v.push(SvcAttr::Addr(ip16(addr.ip())));
                v.push(SvcAttr::Port(addr.port()));
            }
            ServiceKey::Fwmark { mark, .. } => v.push(SvcAttr::Fwmark(*mark)),
        }
        v
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet { protocol, addr } => write!(f, "{protocol} {addr}"),
            ServiceKey::Fwmark { mark, family } => {
                write!(f, "FWM {mark}")?;
                if *family == Family::Inet6 {
                    f.write_str(" IPv6")?;
                }
                Ok(())
            }
        }
    }
}

/// A scheduler (`ip_vs_<name>` kernel module).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    #[default]
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection.
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
    /// Any other name (the kernel answers ENOENT if it has no such scheduler).
    Other(String),
}

impl Scheduler {
    /// Every scheduler the stock kernel ships.
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel name.
    pub fn name(&self) -> &str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
            Scheduler::Other(s) => s,
        }
    }

    /// From a kernel name.
    pub fn from_name(name: &str) -> Scheduler {
        Scheduler::ALL
            .iter()
            .find(|s| s.name() == name)
            .cloned()
            .unwrap_or_else(|| Scheduler::Other(name.to_string()))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Scheduler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Scheduler {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Scheduler::from_name(&s))
    }
}

/// Scheduler flags (`IP_VS_SVC_F_SCHED1..3`): for `sh` and `mh`, flag 1 is
/// "fallback" and flag 2 is "port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct SchedFlags {
    /// `sh-fallback` / `mh-fallback` (`IP_VS_SVC_F_SCHED1`).
    pub fallback: bool,
    /// `sh-port` / `mh-port` (`IP_VS_SVC_F_SCHED2`).
    pub port: bool,
    /// `IP_VS_SVC_F_SCHED3` (unused by the stock schedulers).
    pub flag3: bool,
}

/// Persistence of a service (`-p timeout -M netmask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Persistence {
    /// Timeout in seconds.
    pub timeout: u32,
    /// Netmask as a prefix length (32 or 128 for a single client address).
    pub netmask: u8,
}

/// A virtual service's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler.
    pub scheduler: Scheduler,
    /// Scheduler flags.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sched_flags: SchedFlags,
    /// One-packet scheduling (`-o`, for UDP).
    #[cfg_attr(feature = "serde", serde(default))]
    pub one_packet: bool,
    /// Persistence, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub persistence: Option<Persistence>,
    /// Persistence engine name (e.g. `sip`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub pe_name: Option<String>,
}

impl Service {
    /// A service with a scheduler and no options.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Service {
            key,
            scheduler,
            sched_flags: SchedFlags::default(),
            one_packet: false,
            persistence: None,
            pe_name: None,
        }
    }

    /// The `IP_VS_SVC_F_*` flags.
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.persistence.is_some() {
            f |= svc_flags::PERSISTENT;
        }
        if self.one_packet {
            f |= svc_flags::ONEPACKET;
        }
        if self.sched_flags.fallback {
            f |= svc_flags::SCHED1;
        }
        if self.sched_flags.port {
            f |= svc_flags::SCHED2;
        }
        if self.sched_flags.flag3 {
            f |= svc_flags::SCHED3;
        }
        f
    }

    /// The full attribute set (what `NEW_SERVICE` and `SET_SERVICE` need).
    pub fn to_attrs(&self) -> Vec<SvcAttr> {
        let mut v = self.key.to_attrs();
        let family = self.key.family();
        let (timeout, prefix) = match self.persistence {
            Some(p) => (p.timeout, p.netmask),
            None => (0, full_prefix(family)),
        };
        v.push(SvcAttr::SchedName(self.scheduler.name().to_string()));
        v.push(SvcAttr::Flags(FlagsMask {
            flags: self.flags(),
            mask: u32::MAX,
        }));
        v.push(SvcAttr::Timeout(timeout));
        v.push(SvcAttr::Netmask(netmask_to_wire(family, prefix)));
        if let Some(pe) = &self.pe_name {
            v.push(SvcAttr::PeName(pe.clone()));
        }
        v
    }

    /// Check what the kernel would reject, naming the service.
    pub fn validate(&self) -> Result<(), ModelError> {
        let name = || self.key.to_string();
        if let ServiceKey::Fwmark { mark: 0, .. } = self.key {
            return Err(ModelError::invalid(
                name(),
                "a firewall mark must be non-zero",
            ));
        }
        let sched = self.scheduler.name();
        if sched.is_empty() || sched.len() >= 16 || sched.contains('\0') {
            return Err(ModelError::invalid(
                name(),
                format!("scheduler name {sched:?} must be 1 to 15 bytes"),
            ));
        }
        if let Some(pe) = &self.pe_name
            && (pe.is_empty() || pe.len() >= 16 || pe.contains('\0'))
        {
            return Err(ModelError::invalid(
                name(),
                format!("persistence engine name {pe:?} must be 1 to 15 bytes"),
            ));
        }
        if let Some(p) = self.persistence {
            let max = full_prefix(self.key.family());
            if p.netmask > max || (self.key.family() == Family::Inet6 && p.netmask == 0) {
                return Err(ModelError::invalid(
                    name(),
                    format!("persistence netmask /{} out of range", p.netmask),
                ));
            }
            if p.timeout == 0 {
                return Err(ModelError::invalid(
                    name(),
                    "persistence timeout must be > 0",
                ));
            }
        }
        Ok(())
    }

    /// Build from a service attribute set (a kernel reply).
    pub fn from_attrs(attrs: &[SvcAttr]) -> Result<ServiceEntry, ModelError> {
        let mut af = None;
        let mut proto = None;
        let mut addr = None;
        let mut port = None;
        let mut mark = None;
        let mut sched = None;
        let mut flags = 0u32;
        let mut timeout = 0;
        let mut netmask = None;
        let mut pe = None;
        let mut stats = Stats::default();
        let mut stats64 = None;
        for a in attrs {
            match a {
                SvcAttr::Af(v) => af = Some(*v),
                SvcAttr::Protocol(v) => proto = Some(*v),
                SvcAttr::Addr(v) => addr = Some(*v),
                SvcAttr::Port(v) => port = Some(*v),
                SvcAttr::Fwmark(v) => mark = Some(*v),
                SvcAttr::SchedName(v) => sched = Some(Scheduler::from_name(v)),
                SvcAttr::Flags(f) => flags = f.flags & f.mask,
                SvcAttr::Timeout(v) => timeout = *v,
                SvcAttr::Netmask(v) => netmask = Some(*v),
                SvcAttr::Stats(s) => stats = *s,
                SvcAttr::PeName(v) => pe = Some(v.clone()),
                SvcAttr::Stats64(s) => stats64 = Some(*s),
                SvcAttr::Other(_) => {}
            }
        }
        let af = af.ok_or(ModelError::Missing("service address family"))?;
        let family = Family::from_number(af).ok_or(ModelError::UnknownFamily(af))?;
        let key = match mark {
            Some(m) if m != 0 => ServiceKey::Fwmark { mark: m, family },
            _ => {
                let p = proto.ok_or(ModelError::Missing("service protocol"))?;
                let protocol = Protocol::from_number(p).ok_or(ModelError::UnknownProtocol(p))?;
                let a = addr.ok_or(ModelError::Missing("service address"))?;
                let port = port.ok_or(ModelError::Missing("service port"))?;
                ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(ip_from16(family, &a), port),
                }
            }
        };
        let persistence = if flags & svc_flags::PERSISTENT != 0 {
            Some(Persistence {
                timeout,
                netmask: netmask_from_wire(family, netmask.unwrap_or(u32::MAX)),
            })
        } else {
            None
        };
        let service = Service {
            key,
            scheduler: sched.ok_or(ModelError::Missing("service scheduler name"))?,
            sched_flags: SchedFlags {
                fallback: flags & svc_flags::SCHED1 != 0,
                port: flags & svc_flags::SCHED2 != 0,
                flag3: flags & svc_flags::SCHED3 != 0,
            },
            one_packet: flags & svc_flags::ONEPACKET != 0,
            persistence,
            pe_name: pe.filter(|p| !p.is_empty()),
        };
        Ok(ServiceEntry {
            service,
            stats: stats64.unwrap_or(stats),
        })
    }
}

/// A service as read back from the kernel, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceEntry {
    /// The configuration.
    pub service: Service,
    /// Counters (the 64-bit set when the kernel sends it).
    pub stats: Stats,
}

/// The tunnel encapsulation of a tunnelled destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum TunnelType {
    /// IP in IP (the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation (needs a port).
    Gue,
    /// GRE.
    Gre,
}

impl TunnelType {
    /// The `IP_VS_CONN_F_TUNNEL_TYPE_*` number.
    pub fn number(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }
}

/// Tunnel settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Tunnel {
    /// Encapsulation.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: TunnelType,
    /// Destination UDP port (GUE).
    pub port: u16,
    /// Compute the encapsulation checksum (`IP_VS_TUNNEL_ENCAP_FLAG_CSUM`).
    pub csum: bool,
    /// Remote checksum offload (`IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`).
    pub remcsum: bool,
}

impl Tunnel {
    fn flags(&self) -> u16 {
        u16::from(self.csum) | (u16::from(self.remcsum) << 1)
    }
}

/// How packets reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Forward {
    /// NAT (masquerading, `-m`).
    Masq,
    /// Local node.
    Local,
    /// IP tunnelling (`-i`).
    Tunnel(Tunnel),
    /// Direct routing (`-g`, the default).
    #[default]
    Route,
}

impl Forward {
    /// The `IP_VS_CONN_F_*` forwarding number.
    pub fn number(&self) -> u32 {
        match self {
            Forward::Masq => fwd::MASQ,
            Forward::Local => fwd::LOCALNODE,
            Forward::Tunnel(_) => fwd::TUNNEL,
            Forward::Route => fwd::DROUTE,
        }
    }

    /// The name `ipvsadm -L` prints.
    pub fn ipvsadm_name(&self) -> &'static str {
        match self {
            Forward::Masq => "Masq",
            Forward::Local => "Local",
            Forward::Tunnel(_) => "Tunnel",
            Forward::Route => "Route",
        }
    }
}

/// A destination (real server) of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Destination {
    /// Address and port (port 0 on fwmark services means "the packet's port").
    pub addr: SocketAddr,
    /// Forwarding method.
    #[cfg_attr(feature = "serde", serde(default))]
    pub forward: Forward,
    /// Weight (0 quiesces the server).
    #[cfg_attr(feature = "serde", serde(default = "default_weight"))]
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub lower_threshold: u32,
}

#[cfg(feature = "serde")]
fn default_weight() -> u32 {
    1
}

impl Destination {
    /// A destination with a forwarding method and weight, no thresholds.
    pub fn new(addr: SocketAddr, forward: Forward, weight: u32) -> Self {
        Destination {
            addr,
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// The full attribute set (what `NEW_DEST` and `SET_DEST` need).
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        let mut v = self.key_attrs();
        v.push(DestAttr::FwdMethod(self.forward.number()));
        v.push(DestAttr::Weight(self.weight));
        v.push(DestAttr::UThresh(self.upper_threshold));
        v.push(DestAttr::LThresh(self.lower_threshold));
        if let Forward::Tunnel(t) = self.forward {
            v.push(DestAttr::TunType(t.kind.number()));
            v.push(DestAttr::TunPort(t.port));
            v.push(DestAttr::TunFlags(t.flags()));
        }
        v
    }

    /// The identifying attributes (what `DEL_DEST` needs).
    pub fn key_attrs(&self) -> Vec<DestAttr> {
        key_attrs(self.addr)
    }

    /// Check what the kernel would reject, naming the destination and its service.
    pub fn validate(&self, service: &ServiceKey) -> Result<(), ModelError> {
        let name = || format!("destination {} of {service}", self.addr);
        if self.weight > i32::MAX as u32 {
            return Err(ModelError::invalid(
                name(),
                "weight must be at most 2147483647",
            ));
        }
        if self.upper_threshold != 0 && self.lower_threshold > self.upper_threshold {
            return Err(ModelError::invalid(
                name(),
                "lower threshold is above the upper threshold",
            ));
        }
        if Family::of(self.addr.ip()) != service.family()
            && !matches!(self.forward, Forward::Tunnel(_))
        {
            return Err(ModelError::invalid(
                name(),
                "a destination of another address family needs tunnel forwarding",
            ));
        }
        if let Forward::Tunnel(t) = self.forward
            && t.kind == TunnelType::Gue
            && t.port == 0
        {
            return Err(ModelError::invalid(name(), "a GUE tunnel needs a port"));
        }
        Ok(())
    }

    /// Build from a destination attribute set; `family` is the service's,
    /// used when the kernel sends no `IPVS_DEST_ATTR_ADDR_FAMILY`.
    pub fn from_attrs(attrs: &[DestAttr], family: Family) -> Result<DestinationEntry, ModelError> {
        let mut addr = None;
        let mut port = None;
        let mut fwd_method = None;
        let mut af = None;
        let mut e = DestinationEntry {
            destination: Destination::new(SocketAddr::from(([0, 0, 0, 0], 0)), Forward::Route, 0),
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: Stats::default(),
        };
        let mut stats64 = None;
        let mut tunnel = Tunnel::default();
        for a in attrs {
            match a {
                DestAttr::Addr(v) => addr = Some(*v),
                DestAttr::Port(v) => port = Some(*v),
                DestAttr::FwdMethod(v) => fwd_method = Some(*v),
                DestAttr::Weight(v) => e.destination.weight = *v,
                DestAttr::UThresh(v) => e.destination.upper_threshold = *v,
                DestAttr::LThresh(v) => e.destination.lower_threshold = *v,
                DestAttr::ActiveConns(v) => e.active_conns = *v,
                DestAttr::InactConns(v) => e.inactive_conns = *v,
                DestAttr::PersistConns(v) => e.persistent_conns = *v,
                DestAttr::Stats(s) => e.stats = *s,
                DestAttr::AddrFamily(v) => af = Some(*v),
                DestAttr::Stats64(s) => stats64 = Some(*s),
                DestAttr::TunType(v) => {
                    tunnel.kind = match v {
                        0 => TunnelType::Ipip,
                        1 => TunnelType::Gue,
                        2 => TunnelType::Gre,
                        n => return Err(ModelError::UnknownTunnelType(*n)),
                    }
                }
                DestAttr::TunPort(v) => tunnel.port = *v,
                DestAttr::TunFlags(v) => {
                    tunnel.csum = v & 1 != 0;
                    tunnel.remcsum = v & 2 != 0;
                }
                DestAttr::Other(_) => {}
            }
        }
        let family = match af {
            Some(n) => Family::from_number(n).ok_or(ModelError::UnknownFamily(n))?,
            None => family,
        };
        let a = addr.ok_or(ModelError::Missing("destination address"))?;
        let port = port.ok_or(ModelError::Missing("destination port"))?;
        e.destination.addr = SocketAddr::new(ip_from16(family, &a), port);
        let f = fwd_method.ok_or(ModelError::Missing("destination forwarding method"))?;
        e.destination.forward = match f & fwd::MASK {
            fwd::MASQ => Forward::Masq,
            fwd::LOCALNODE => Forward::Local,
            fwd::TUNNEL => Forward::Tunnel(tunnel),
            fwd::DROUTE => Forward::Route,
            n => return Err(ModelError::UnknownForward(n)),
        };
        if let Some(s) = stats64 {
            e.stats = s;
        }
        Ok(e)
    }
}

fn key_attrs(addr: SocketAddr) -> Vec<DestAttr> {
    vec![
        DestAttr::Addr(ip16(addr.ip())),
        DestAttr::Port(addr.port()),
        DestAttr::AddrFamily(Family::of(addr.ip()).number()),
    ]
}

/// A destination as read back from the kernel, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DestinationEntry {
    /// The configuration.
    pub destination: Destination,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistent connection templates.
    pub persistent_conns: u32,
    /// Counters (the 64-bit set when the kernel sends it).
    pub stats: Stats,
}

/// A service and its destinations: one unit of desired (or observed) state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VirtualService {
    /// The service.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub service: Service,
    /// Its destinations.
    #[cfg_attr(feature = "serde", serde(default))]
    pub destinations: Vec<Destination>,
}

impl VirtualService {
    /// A service without destinations (add them with
    /// [`with_destination`](Self::with_destination)).
    #[must_use]
    pub fn new(service: Service) -> VirtualService {
        VirtualService {
            service,
            destinations: Vec::new(),
        }
    }

    /// The same service with one more destination.
    #[must_use]
    pub fn with_destination(mut self, destination: Destination) -> VirtualService {
        self.destinations.push(destination);
        self
    }

    /// Validate the service, each destination, and that no destination repeats.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.service.validate()?;
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.destinations {
            d.validate(&self.service.key)?;
            if !seen.insert(d.addr) {
                return Err(ModelError::invalid(
                    format!("destination {} of {}", d.addr, self.service.key),
                    "listed twice",
                ));
            }
        }
        Ok(())
    }
}

/// The role of a connection sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DaemonRole {
    /// Sends connection state.
    Master,
    /// Receives connection state.
    Backup,
}

impl DaemonRole {
    /// `IP_VS_STATE_*`.
    pub fn number(self) -> u32 {
        match self {
            DaemonRole::Master => daemon_state::MASTER,
            DaemonRole::Backup => daemon_state::BACKUP,
        }
    }
}

/// A connection sync daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: DaemonRole,
    /// Multicast interface.
    pub ifname: String,
    /// Sync id (0..=255).
    pub sync_id: u32,
    /// Maximum sync message payload (`--sync-maxlen`), if set.
    pub max_len: Option<u16>,
    /// Multicast group (`--mcast-group`), if set.
    pub mcast_group: Option<IpAddr>,
    /// Multicast base port (`--mcast-port`), if set.
    pub mcast_port: Option<u16>,
    /// Multicast TTL (`--mcast-ttl`), if set.
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with the kernel's defaults for the optional settings.
    pub fn new(role: DaemonRole, ifname: &str, sync_id: u32) -> Self {
        SyncDaemon {
            role,
            ifname: ifname.to_string(),
            sync_id,
            max_len: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }

    /// The attribute set of `NEW_DAEMON`.
    pub fn to_attrs(&self) -> Vec<DaemonAttr> {
        let mut v = vec![
            DaemonAttr::State(self.role.number()),
            DaemonAttr::McastIfn(self.ifname.clone()),
            DaemonAttr::SyncId(self.sync_id),
        ];
        if let Some(n) = self.max_len {
            v.push(DaemonAttr::SyncMaxLen(n));
        }
        match self.mcast_group {
            Some(IpAddr::V4(a)) => v.push(DaemonAttr::McastGroup(a)),
            Some(IpAddr::V6(a)) => v.push(DaemonAttr::McastGroup6(a)),
            None => {}
        }
        if let Some(p) = self.mcast_port {
            v.push(DaemonAttr::McastPort(p));
        }
        if let Some(t) = self.mcast_ttl {
            v.push(DaemonAttr::McastTtl(t));
        }
        v
    }

    /// Build from a daemon attribute set (a `GET_DAEMON` reply). The kernel
    /// reports every setting, so all the options come back `Some`.
    pub fn from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, ModelError> {
        let mut d = SyncDaemon::new(DaemonRole::Master, "", 0);
        let mut state = None;
        for a in attrs {
            match a {
                DaemonAttr::State(s) => state = Some(*s),
                DaemonAttr::McastIfn(s) => d.ifname = s.clone(),
                DaemonAttr::SyncId(v) => d.sync_id = *v,
                DaemonAttr::SyncMaxLen(v) => d.max_len = Some(*v),
                DaemonAttr::McastGroup(v) => d.mcast_group = Some(IpAddr::V4(*v)),
                DaemonAttr::McastGroup6(v) => d.mcast_group = Some(IpAddr::V6(*v)),
                DaemonAttr::McastPort(v) => d.mcast_port = Some(*v),
                DaemonAttr::McastTtl(v) => d.mcast_ttl = Some(*v),
                DaemonAttr::Other(_) => {}
            }
        }
        d.role = match state {
            Some(daemon_state::MASTER) => DaemonRole::Master,
            Some(daemon_state::BACKUP) => DaemonRole::Backup,
            Some(n) => return Err(ModelError::UnknownDaemonState(n)),
            None => return Err(ModelError::Missing("daemon state")),
        };
        Ok(d)
    }
}

/// Connection timeouts in seconds (0 in a set request means "leave unchanged").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

impl Timeouts {
    /// The attributes of `SET_CONFIG`.
    pub fn to_attrs(&self) -> Vec<CmdAttr> {
        vec![
            CmdAttr::TimeoutTcp(self.tcp),
            CmdAttr::TimeoutTcpFin(self.tcp_fin),
            CmdAttr::TimeoutUdp(self.udp),
        ]
    }

    /// From the attributes of a `GET_CONFIG` reply.
    pub fn from_attrs(attrs: &[CmdAttr]) -> Timeouts {
        let mut t = Timeouts::default();
        for a in attrs {
            match a {
                CmdAttr::TimeoutTcp(v) => t.tcp = *v,
                CmdAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                CmdAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        t
    }
}

/// `GET_INFO`: the IPVS version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// Version code (`0x010201` is 1.2.1).
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

impl Info {
    /// From the attributes of a `GET_INFO` reply.
    pub fn from_attrs(attrs: &[CmdAttr]) -> Result<Info, ModelError> {
        let mut version = None;
        let mut size = None;
        for a in attrs {
            match a {
                CmdAttr::InfoVersion(v) => version = Some(*v),
                CmdAttr::InfoConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        Ok(Info {
            version: version.ok_or(ModelError::Missing("info version"))?,
            conn_tab_size: size.ok_or(ModelError::Missing("info connection table size"))?,
        })
    }

    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

/// An invalid model object, or a kernel reply that does not describe one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// An object the kernel would reject.
    #[error("{object}: {reason}")]
    Invalid {
        /// The object (service key, destination and service).
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// A reply lacked a needed attribute.
    #[error("kernel reply lacks the {0}")]
    Missing(&'static str),
    /// An unknown address family number.
    #[error("unknown address family {0}")]
    UnknownFamily(u16),
    /// An unknown protocol number.
    #[error("unknown service protocol {0}")]
    UnknownProtocol(u16),
    /// An unknown forwarding method.
    #[error("unknown forwarding method {0}")]
    UnknownForward(u32),
    /// An unknown tunnel type.
    #[error("unknown tunnel type {0}")]
    UnknownTunnelType(u8),
    /// An unknown sync daemon state.
    #[error("unknown sync daemon state {0}")]
    UnknownDaemonState(u32),
}

impl ModelError {
    fn invalid(object: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            object: object.into(),
            reason: reason.into(),
        }
    }
}

/// The 16-byte `nf_inet_addr` form of an address.
pub fn ip16(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

fn ip_from16(family: Family, a: &[u8; 16]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(*a)),
    }
}

fn full_prefix(family: Family) -> u8 {
    match family {
        Family::Inet => 32,
        Family::Inet6 => 128,
    }
}

/// The `IPVS_SVC_ATTR_NETMASK` value for a prefix length.
pub fn netmask_to_wire(family: Family, prefix: u8) -> u32 {
    match family {
        Family::Inet => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u32::from_ne_bytes(mask.to_be_bytes())
        }
        Family::Inet6 => u32::from(prefix),
    }
}

/// The prefix length of an `IPVS_SVC_ATTR_NETMASK` value.
pub fn netmask_from_wire(family: Family, value: u32) -> u8 {
    match family {
        Family::Inet => u32::from_be_bytes(value.to_ne_bytes()).leading_ones() as u8,
        Family::Inet6 => value.min(128) as u8,
    }
}

/// Messages for each change: what [`crate::Op`] and the client send.
pub(crate) fn svc_msg(cmd: IpvsCmd, attrs: Vec<SvcAttr>) -> IpvsMessage {
    IpvsMessage::new(cmd, vec![CmdAttr::Service(attrs)])
}

pub(crate) fn dest_msg(cmd: IpvsCmd, key: &ServiceKey, dest: Vec<DestAttr>) -> IpvsMessage {
    IpvsMessage::new(
        cmd,
        vec![CmdAttr::Service(key.to_attrs()), CmdAttr::Dest(dest)],
    )
}

pub(crate) fn dest_del_attrs(addr: SocketAddr) -> Vec<DestAttr> {
    key_attrs(addr)
}
