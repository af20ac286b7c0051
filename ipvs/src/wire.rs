//! The IPVS generic-netlink wire format (family `IPVS`, version 1).
//!
//! Names and numbers come from the kernel's `include/uapi/linux/ip_vs.h`.
//! [`IpvsMessage`] is the generic-netlink payload: a command and its
//! top-level attributes ([`CmdAttr`]); services, destinations and the sync
//! daemon are nested attribute sets ([`SvcAttr`], [`DestAttr`],
//! [`DaemonAttr`]) and statistics are a nested set decoded into [`Stats`].
//!
//! It implements [`GenlFamily`], [`Emitable`] and
//! [`ParseableParametrized<[u8], GenlHeader>`], so it plugs into
//! `netlink_packet_generic::GenlMessage` and `netlink_packet_core::NetlinkMessage`.
//!
//! Panic rules: parsing never panics on any input (every attribute is length
//! checked by `NlaBuffer::new_checked` and by the fixed-size readers below);
//! emitting never panics into a buffer of `buffer_len()` bytes. Unknown
//! attributes are kept as [`DefaultNla`] (`Other`) rather than rejected.
//!
//! Byte orders follow the kernel: ports and the tunnel port are big-endian,
//! every other integer is host order; addresses are 16-byte `nf_inet_addr`
//! unions (an IPv4 address in the first four bytes).

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The generic netlink family name (`IPVS_GENL_NAME`).
pub const IPVS_GENL_NAME: &str = "IPVS";
/// The generic netlink family version (`IPVS_GENL_VERSION`).
pub const IPVS_GENL_VERSION: u8 = 1;

/// Command numbers (`IPVS_CMD_*`).
#[allow(missing_docs)]
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    pub const SET_INFO: u8 = 14;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;
}

/// Top-level attribute numbers (`IPVS_CMD_ATTR_*`, and `IPVS_INFO_ATTR_*` in info replies).
#[allow(missing_docs)]
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
    /// `IPVS_INFO_ATTR_VERSION` (only in `GET_INFO`/`SET_INFO` messages).
    pub const INFO_VERSION: u16 = 1;
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (only in `GET_INFO`/`SET_INFO` messages).
    pub const INFO_CONN_TAB_SIZE: u16 = 2;
}

/// Service attribute numbers (`IPVS_SVC_ATTR_*`).
#[allow(missing_docs)]
pub mod svc_attr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// Destination attribute numbers (`IPVS_DEST_ATTR_*`).
#[allow(missing_docs)]
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// Sync daemon attribute numbers (`IPVS_DAEMON_ATTR_*`).
#[allow(missing_docs)]
pub mod daemon_attr {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    pub const SYNC_MAXLEN: u16 = 4;
    pub const MCAST_GROUP: u16 = 5;
    pub const MCAST_GROUP6: u16 = 6;
    pub const MCAST_PORT: u16 = 7;
    pub const MCAST_TTL: u16 = 8;
}

/// Statistics attribute numbers (`IPVS_STATS_ATTR_*`).
#[allow(missing_docs)]
pub mod stats_attr {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
    pub const CPS: u16 = 6;
    pub const INPPS: u16 = 7;
    pub const OUTPPS: u16 = 8;
    pub const INBPS: u16 = 9;
    pub const OUTBPS: u16 = 10;
    pub const PAD: u16 = 11;
}

/// Service flags (`IP_VS_SVC_F_*`).
#[allow(missing_docs)]
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x0001;
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
}

/// Forwarding methods (`IP_VS_CONN_F_*` under `IP_VS_CONN_F_FWD_MASK`).
#[allow(missing_docs)]
pub mod fwd {
    pub const MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
}

/// Sync daemon states (`IP_VS_STATE_*`).
#[allow(missing_docs)]
pub mod daemon_state {
    pub const MASTER: u32 = 0x0001;
    pub const BACKUP: u32 = 0x0002;
}

/// An IPVS command (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    /// Add a service.
    NewService,
    /// Modify a service.
    SetService,
    /// Delete a service.
    DelService,
    /// Get one service, or dump all.
    GetService,
    /// Add a destination.
    NewDest,
    /// Modify a destination.
    SetDest,
    /// Delete a destination.
    DelDest,
    /// Dump the destinations of a service.
    GetDest,
    /// Start a sync daemon (also the command of `GET_DAEMON` replies).
    NewDaemon,
    /// Stop a sync daemon.
    DelDaemon,
    /// Dump the sync daemons.
    GetDaemon,
    /// Set timeouts (also the command of `GET_CONFIG` replies).
    SetConfig,
    /// Get timeouts.
    GetConfig,
    /// The command of `GET_INFO` replies.
    SetInfo,
    /// Get version and connection table size.
    GetInfo,
    /// Zero counters (of one service, or all).
    Zero,
    /// Delete every service.
    Flush,
    /// A command this crate does not know.
    Other(u8),
}

impl From<IpvsCmd> for u8 {
    fn from(c: IpvsCmd) -> u8 {
        use IpvsCmd::*;
        match c {
            NewService => cmd::NEW_SERVICE,
            SetService => cmd::SET_SERVICE,
            DelService => cmd::DEL_SERVICE,
            GetService => cmd::GET_SERVICE,
            NewDest => cmd::NEW_DEST,
            SetDest => cmd::SET_DEST,
            DelDest => cmd::DEL_DEST,
            GetDest => cmd::GET_DEST,
            NewDaemon => cmd::NEW_DAEMON,
            DelDaemon => cmd::DEL_DAEMON,
            GetDaemon => cmd::GET_DAEMON,
            SetConfig => cmd::SET_CONFIG,
            GetConfig => cmd::GET_CONFIG,
            SetInfo => cmd::SET_INFO,
            GetInfo => cmd::GET_INFO,
            Zero => cmd::ZERO,
            Flush => cmd::FLUSH,
            Other(n) => n,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        use IpvsCmd::*;
        match n {
            cmd::NEW_SERVICE => NewService,
            cmd::SET_SERVICE => SetService,
            cmd::DEL_SERVICE => DelService,
            cmd::GET_SERVICE => GetService,
            cmd::NEW_DEST => NewDest,
            cmd::SET_DEST => SetDest,
            cmd::DEL_DEST => DelDest,
            cmd::GET_DEST => GetDest,
            cmd::NEW_DAEMON => NewDaemon,
            cmd::DEL_DAEMON => DelDaemon,
            cmd::GET_DAEMON => GetDaemon,
            cmd::SET_CONFIG => SetConfig,
            cmd::GET_CONFIG => GetConfig,
            cmd::SET_INFO => SetInfo,
            cmd::GET_INFO => GetInfo,
            cmd::ZERO => Zero,
            cmd::FLUSH => Flush,
            n => Other(n),
        }
    }
}

/// Service or destination statistics (the nested `IPVS_*_ATTR_STATS` and
/// `IPVS_*_ATTR_STATS64` sets). In the 32-bit set every counter but the byte
/// counters is 32 bits wide on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Current connection rate (per second).
    pub cps: u64,
    /// Current incoming packet rate.
    pub inpps: u64,
    /// Current outgoing packet rate.
    pub outpps: u64,
    /// Current incoming byte rate.
    pub inbps: u64,
    /// Current outgoing byte rate.
    pub outbps: u64,
}

impl Stats {
    fn fields(&self) -> [(u16, u64); 10] {
        use stats_attr::*;
        [
            (CONNS, self.conns),
            (INPKTS, self.inpkts),
            (OUTPKTS, self.outpkts),
            (INBYTES, self.inbytes),
            (OUTBYTES, self.outbytes),
            (CPS, self.cps),
            (INPPS, self.inpps),
            (OUTPPS, self.outpps),
            (INBPS, self.inbps),
            (OUTBPS, self.outbps),
        ]
    }

    fn width(kind: u16, wide: bool) -> usize {
        if wide || kind == stats_attr::INBYTES || kind == stats_attr::OUTBYTES {
            8
        } else {
            4
        }
    }

    fn nested_len(wide: bool) -> usize {
        (1..=10u16).map(|k| 4 + Self::width(k, wide)).sum()
    }

    fn emit_nested(&self, buf: &mut [u8], wide: bool) {
        let mut off = 0;
        for (kind, value) in self.fields() {
            let w = Self::width(kind, wide);
            put_header(&mut buf[off..], kind, w);
            if w == 8 {
                buf[off + 4..off + 12].copy_from_slice(&value.to_ne_bytes());
            } else {
                buf[off + 4..off + 8].copy_from_slice(&(value as u32).to_ne_bytes());
            }
            off += 4 + w;
        }
    }

    /// Parse a nested statistics set; each counter may be 4 or 8 bytes.
    pub fn parse_nested(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Stats::default();
        for nla in NlasIterator::new(buf) {
            let nla = nla?;
            let v = nla.value();
            let value = match v.len() {
                4 => u64::from(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
                8 => u64::from_ne_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]),
                _ if nla.kind() == stats_attr::PAD || nla.kind() > 10 => continue,
                n => {
                    return Err(DecodeError::from(format!(
                        "stats attribute {} has length {n}, expected 4 or 8",
                        nla.kind()
                    )));
                }
            };
            use stats_attr::*;
            match nla.kind() {
                CONNS => s.conns = value,
                INPKTS => s.inpkts = value,
                OUTPKTS => s.outpkts = value,
                INBYTES => s.inbytes = value,
                OUTBYTES => s.outbytes = value,
                CPS => s.cps = value,
                INPPS => s.inpps = value,
                OUTPPS => s.outpps = value,
                INBPS => s.inbps = value,
                OUTBPS => s.outbps = value,
                _ => {}
            }
        }
        Ok(s)
    }
}

/// The `struct ip_vs_flags` of `IPVS_SVC_ATTR_FLAGS`: the flags and which of them to change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlagsMask {
    /// The flag values (`IP_VS_SVC_F_*`).
    pub flags: u32,
    /// Which flags to set (the kernel applies `flags & mask`).
    pub mask: u32,
}

/// A service attribute (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcAttr {
    /// Address family (`AF_INET` 2, `AF_INET6` 10).
    Af(u16),
    /// IP protocol number (6, 17, 132).
    Protocol(u16),
    /// Virtual address (`nf_inet_addr`, IPv4 in the first four bytes).
    Addr([u8; 16]),
    /// Virtual port (network order on the wire).
    Port(u16),
    /// Firewall mark.
    Fwmark(u32),
    /// Scheduler name.
    SchedName(String),
    /// Flags and mask.
    Flags(FlagsMask),
    /// Persistence timeout, seconds.
    Timeout(u32),
    /// Persistence netmask: for IPv4 the mask bytes in network order read as
    /// a host-order u32, for IPv6 the prefix length.
    Netmask(u32),
    /// 32-bit statistics.
    Stats(Stats),
    /// Persistence engine name.
    PeName(String),
    /// 64-bit statistics.
    Stats64(Stats),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

/// A destination attribute (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    /// Real server address (`nf_inet_addr`).
    Addr([u8; 16]),
    /// Real server port (network order on the wire).
    Port(u16),
    /// Forwarding method (`IP_VS_CONN_F_*` under the forward mask).
    FwdMethod(u32),
    /// Weight.
    Weight(u32),
    /// Upper connection threshold.
    UThresh(u32),
    /// Lower connection threshold.
    LThresh(u32),
    /// Active connections (replies only).
    ActiveConns(u32),
    /// Inactive connections (replies only).
    InactConns(u32),
    /// Persistent connections (replies only).
    PersistConns(u32),
    /// 32-bit statistics.
    Stats(Stats),
    /// Address family of the destination address.
    AddrFamily(u16),
    /// 64-bit statistics.
    Stats64(Stats),
    /// Tunnel type (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
    TunType(u8),
    /// Tunnel port (network order on the wire).
    TunPort(u16),
    /// Tunnel flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
    TunFlags(u16),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

/// A sync daemon attribute (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    State(u32),
    /// Multicast interface name.
    McastIfn(String),
    /// Sync id.
    SyncId(u32),
    /// Maximum UDP payload of sync messages.
    SyncMaxLen(u16),
    /// IPv4 multicast group.
    McastGroup(Ipv4Addr),
    /// IPv6 multicast group.
    McastGroup6(Ipv6Addr),
    /// Multicast port (host order).
    McastPort(u16),
    /// Multicast TTL.
    McastTtl(u8),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

/// A top-level attribute of an IPVS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdAttr {
    /// Nested service.
    Service(Vec<SvcAttr>),
    /// Nested destination.
    Dest(Vec<DestAttr>),
    /// Nested sync daemon.
    Daemon(Vec<DaemonAttr>),
    /// TCP timeout, seconds.
    TimeoutTcp(u32),
    /// TCP FIN_WAIT timeout, seconds.
    TimeoutTcpFin(u32),
    /// UDP timeout, seconds.
    TimeoutUdp(u32),
    /// IPVS version code (info messages only).
    InfoVersion(u32),
    /// Connection hash table size (info messages only).
    InfoConnTabSize(u32),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

/// An IPVS generic-netlink payload: a command and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// The top-level attributes.
    pub attrs: Vec<CmdAttr>,
}

impl IpvsMessage {
    /// A message with a command and attributes.
    pub fn new(cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> Self {
        IpvsMessage { cmd, attrs }
    }
}

fn put_header(buf: &mut [u8], kind: u16, value_len: usize) {
    buf[..2].copy_from_slice(&((value_len + 4) as u16).to_ne_bytes());
    buf[2..4].copy_from_slice(&kind.to_ne_bytes());
}

fn put_str(buf: &mut [u8], s: &str) {
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
}

fn nested_len<T: Nla>(attrs: &[T]) -> usize {
    attrs.as_ref().buffer_len()
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        use SvcAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            Addr(_) => 16,
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags(_) => 8,
            Stats(_) => self::Stats::nested_len(false),
            Stats64(_) => self::Stats::nested_len(true),
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use SvcAttr::*;
        match self {
            Af(_) => svc_attr::AF,
            Protocol(_) => svc_attr::PROTOCOL,
            Addr(_) => svc_attr::ADDR,
            Port(_) => svc_attr::PORT,
            Fwmark(_) => svc_attr::FWMARK,
            SchedName(_) => svc_attr::SCHED_NAME,
            Flags(_) => svc_attr::FLAGS,
            Timeout(_) => svc_attr::TIMEOUT,
            Netmask(_) => svc_attr::NETMASK,
            Stats(_) => svc_attr::STATS,
            PeName(_) => svc_attr::PE_NAME,
            Stats64(_) => svc_attr::STATS64,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use SvcAttr::*;
        match self {
            Af(v) | Protocol(v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            Port(v) => buf[..2].copy_from_slice(&v.to_be_bytes()),
            Fwmark(v) | Timeout(v) | Netmask(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            Addr(a) => buf[..16].copy_from_slice(a),
            SchedName(s) | PeName(s) => put_str(buf, s),
            Flags(f) => {
                buf[..4].copy_from_slice(&f.flags.to_ne_bytes());
                buf[4..8].copy_from_slice(&f.mask.to_ne_bytes());
            }
            Stats(s) => s.emit_nested(buf, false),
            Stats64(s) => s.emit_nested(buf, true),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            Addr(_) => 16,
            Stats(_) => self::Stats::nested_len(false),
            Stats64(_) => self::Stats::nested_len(true),
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => dest_attr::ADDR,
            Port(_) => dest_attr::PORT,
            FwdMethod(_) => dest_attr::FWD_METHOD,
            Weight(_) => dest_attr::WEIGHT,
            UThresh(_) => dest_attr::U_THRESH,
            LThresh(_) => dest_attr::L_THRESH,
            ActiveConns(_) => dest_attr::ACTIVE_CONNS,
            InactConns(_) => dest_attr::INACT_CONNS,
            PersistConns(_) => dest_attr::PERSIST_CONNS,
            Stats(_) => dest_attr::STATS,
            AddrFamily(_) => dest_attr::ADDR_FAMILY,
            Stats64(_) => dest_attr::STATS64,
            TunType(_) => dest_attr::TUN_TYPE,
            TunPort(_) => dest_attr::TUN_PORT,
            TunFlags(_) => dest_attr::TUN_FLAGS,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DestAttr::*;
        match self {
            Port(v) | TunPort(v) => buf[..2].copy_from_slice(&v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            TunType(v) => buf[0] = *v,
            FwdMethod(v) | Weight(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            Addr(a) => buf[..16].copy_from_slice(a),
            Stats(s) => s.emit_nested(buf, false),
            Stats64(s) => s.emit_nested(buf, true),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxLen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => daemon_attr::STATE,
            McastIfn(_) => daemon_attr::MCAST_IFN,
            SyncId(_) => daemon_attr::SYNC_ID,
            SyncMaxLen(_) => daemon_attr::SYNC_MAXLEN,
            McastGroup(_) => daemon_attr::MCAST_GROUP,
            McastGroup6(_) => daemon_attr::MCAST_GROUP6,
            McastPort(_) => daemon_attr::MCAST_PORT,
            McastTtl(_) => daemon_attr::MCAST_TTL,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            McastIfn(s) => put_str(buf, s),
            SyncMaxLen(v) | McastPort(v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            McastGroup(a) => buf[..4].copy_from_slice(&a.octets()),
            McastGroup6(a) => buf[..16].copy_from_slice(&a.octets()),
            McastTtl(v) => buf[0] = *v,
            Other(n) => n.emit_value(buf),
        }
    }
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        use CmdAttr::*;
        match self {
            Service(a) => nested_len(a),
            Dest(a) => nested_len(a),
            Daemon(a) => nested_len(a),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) | InfoVersion(_)
            | InfoConnTabSize(_) => 4,
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use CmdAttr::*;
        match self {
            Service(_) => cmd_attr::SERVICE,
            Dest(_) => cmd_attr::DEST,
            Daemon(_) => cmd_attr::DAEMON,
            TimeoutTcp(_) => cmd_attr::TIMEOUT_TCP,
            TimeoutTcpFin(_) => cmd_attr::TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => cmd_attr::TIMEOUT_UDP,
            InfoVersion(_) => cmd_attr::INFO_VERSION,
            InfoConnTabSize(_) => cmd_attr::INFO_CONN_TAB_SIZE,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use CmdAttr::*;
        match self {
            Service(a) => a.as_slice().emit(buf),
            Dest(a) => a.as_slice().emit(buf),
            Daemon(a) => a.as_slice().emit(buf),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v)
            | InfoConnTabSize(v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            Other(n) => n.emit_value(buf),
        }
    }
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::from(format!("{what}: length {}, expected {N}", v.len())))
}

fn u8_of(v: &[u8], what: &str) -> Result<u8, DecodeError> {
    Ok(fixed::<1>(v, what)?[0])
}
fn u16_ne(v: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed(v, what)?))
}
fn u16_be(v: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed(v, what)?))
}
fn u32_ne(v: &[u8], what: &str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed(v, what)?))
}

/// An address attribute: 16 bytes, or 4 (an IPv4 address some senders use).
fn addr16(v: &[u8], what: &str) -> Result<[u8; 16], DecodeError> {
    let mut out = [0u8; 16];
    match v.len() {
        16 | 4 => {
            out[..v.len()].copy_from_slice(v);
            Ok(out)
        }
        n => Err(DecodeError::from(format!(
            "{what}: length {n}, expected 4 or 16"
        ))),
    }
}

fn string(v: &[u8], what: &str) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec())
        .map_err(|_| DecodeError::from(format!("{what}: not UTF-8")))
}

fn other<T: AsRef<[u8]> + ?Sized>(nla: &NlaBuffer<&T>) -> Result<DefaultNla, DecodeError> {
    DefaultNla::parse(nla)
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for SvcAttr {
    fn parse(nla: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = nla.value();
        use svc_attr::*;
        Ok(match nla.kind() {
            AF => SvcAttr::Af(u16_ne(v, "IPVS_SVC_ATTR_AF")?),
            PROTOCOL => SvcAttr::Protocol(u16_ne(v, "IPVS_SVC_ATTR_PROTOCOL")?),
            ADDR => SvcAttr::Addr(addr16(v, "IPVS_SVC_ATTR_ADDR")?),
            PORT => SvcAttr::Port(u16_be(v, "IPVS_SVC_ATTR_PORT")?),
            FWMARK => SvcAttr::Fwmark(u32_ne(v, "IPVS_SVC_ATTR_FWMARK")?),
            SCHED_NAME => SvcAttr::SchedName(string(v, "IPVS_SVC_ATTR_SCHED_NAME")?),
            FLAGS => {
                let b: [u8; 8] = fixed(v, "IPVS_SVC_ATTR_FLAGS")?;
                SvcAttr::Flags(FlagsMask {
                    flags: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    mask: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                })
            }
            TIMEOUT => SvcAttr::Timeout(u32_ne(v, "IPVS_SVC_ATTR_TIMEOUT")?),
            NETMASK => SvcAttr::Netmask(u32_ne(v, "IPVS_SVC_ATTR_NETMASK")?),
            STATS => SvcAttr::Stats(Stats::parse_nested(v).context("IPVS_SVC_ATTR_STATS")?),
            PE_NAME => SvcAttr::PeName(string(v, "IPVS_SVC_ATTR_PE_NAME")?),
            STATS64 => SvcAttr::Stats64(Stats::parse_nested(v).context("IPVS_SVC_ATTR_STATS64")?),
            _ => SvcAttr::Other(other(nla)?),
        })
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(nla: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = nla.value();
        use dest_attr::*;
        Ok(match nla.kind() {
            ADDR => DestAttr::Addr(addr16(v, "IPVS_DEST_ATTR_ADDR")?),
            PORT => DestAttr::Port(u16_be(v, "IPVS_DEST_ATTR_PORT")?),
            FWD_METHOD => DestAttr::FwdMethod(u32_ne(v, "IPVS_DEST_ATTR_FWD_METHOD")?),
            WEIGHT => DestAttr::Weight(u32_ne(v, "IPVS_DEST_ATTR_WEIGHT")?),
            U_THRESH => DestAttr::UThresh(u32_ne(v, "IPVS_DEST_ATTR_U_THRESH")?),
            L_THRESH => DestAttr::LThresh(u32_ne(v, "IPVS_DEST_ATTR_L_THRESH")?),
            ACTIVE_CONNS => DestAttr::ActiveConns(u32_ne(v, "IPVS_DEST_ATTR_ACTIVE_CONNS")?),
            INACT_CONNS => DestAttr::InactConns(u32_ne(v, "IPVS_DEST_ATTR_INACT_CONNS")?),
            PERSIST_CONNS => DestAttr::PersistConns(u32_ne(v, "IPVS_DEST_ATTR_PERSIST_CONNS")?),
            STATS => DestAttr::Stats(Stats::parse_nested(v).context("IPVS_DEST_ATTR_STATS")?),
            ADDR_FAMILY => DestAttr::AddrFamily(u16_ne(v, "IPVS_DEST_ATTR_ADDR_FAMILY")?),
            STATS64 => DestAttr::Stats64(Stats::parse_nested(v).context("IPVS_DEST_ATTR_STATS64")?),
            TUN_TYPE => DestAttr::TunType(u8_of(v, "IPVS_DEST_ATTR_TUN_TYPE")?),
            TUN_PORT => DestAttr::TunPort(u16_be(v, "IPVS_DEST_ATTR_TUN_PORT")?),
            TUN_FLAGS => DestAttr::TunFlags(u16_ne(v, "IPVS_DEST_ATTR_TUN_FLAGS")?),
            _ => DestAttr::Other(other(nla)?),
        })
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(nla: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = nla.value();
        use daemon_attr::*;
        Ok(match nla.kind() {
            STATE => DaemonAttr::State(u32_ne(v, "IPVS_DAEMON_ATTR_STATE")?),
            MCAST_IFN => DaemonAttr::McastIfn(string(v, "IPVS_DAEMON_ATTR_MCAST_IFN")?),
            SYNC_ID => DaemonAttr::SyncId(u32_ne(v, "IPVS_DAEMON_ATTR_SYNC_ID")?),
            SYNC_MAXLEN => DaemonAttr::SyncMaxLen(u16_ne(v, "IPVS_DAEMON_ATTR_SYNC_MAXLEN")?),
            MCAST_GROUP => DaemonAttr::McastGroup(Ipv4Addr::from(fixed::<4>(
                v,
                "IPVS_DAEMON_ATTR_MCAST_GROUP",
            )?)),
            MCAST_GROUP6 => DaemonAttr::McastGroup6(Ipv6Addr::from(fixed::<16>(
                v,
                "IPVS_DAEMON_ATTR_MCAST_GROUP6",
            )?)),
            MCAST_PORT => DaemonAttr::McastPort(u16_ne(v, "IPVS_DAEMON_ATTR_MCAST_PORT")?),
            MCAST_TTL => DaemonAttr::McastTtl(u8_of(v, "IPVS_DAEMON_ATTR_MCAST_TTL")?),
            _ => DaemonAttr::Other(other(nla)?),
        })
    }
}

fn parse_nlas<A>(buf: &[u8], what: &'static str) -> Result<Vec<A>, DecodeError>
where
    A: for<'b> Parseable<NlaBuffer<&'b [u8]>>,
{
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.context(what)?;
        out.push(A::parse(&nla).context(what)?);
    }
    Ok(out)
}

/// Parse the top-level attributes of a message with command `cmd` (info
/// replies reuse attribute numbers 1 and 2 for version and table size).
pub fn parse_cmd_attrs(buf: &[u8], cmd: IpvsCmd) -> Result<Vec<CmdAttr>, DecodeError> {
    let info = matches!(cmd, IpvsCmd::SetInfo | IpvsCmd::GetInfo);
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.context("IPVS attributes")?;
        let v = nla.value();
        use cmd_attr::*;
        let attr = match nla.kind() {
            INFO_VERSION if info => CmdAttr::InfoVersion(u32_ne(v, "IPVS_INFO_ATTR_VERSION")?),
            INFO_CONN_TAB_SIZE if info => {
                CmdAttr::InfoConnTabSize(u32_ne(v, "IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
            }
            SERVICE => CmdAttr::Service(parse_nlas(v, "IPVS_CMD_ATTR_SERVICE")?),
            DEST => CmdAttr::Dest(parse_nlas(v, "IPVS_CMD_ATTR_DEST")?),
            DAEMON => CmdAttr::Daemon(parse_nlas(v, "IPVS_CMD_ATTR_DAEMON")?),
            TIMEOUT_TCP => CmdAttr::TimeoutTcp(u32_ne(v, "IPVS_CMD_ATTR_TIMEOUT_TCP")?),
            TIMEOUT_TCP_FIN => CmdAttr::TimeoutTcpFin(u32_ne(v, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?),
            TIMEOUT_UDP => CmdAttr::TimeoutUdp(u32_ne(v, "IPVS_CMD_ATTR_TIMEOUT_UDP")?),
            _ => CmdAttr::Other(other(&nla)?),
        };
        out.push(attr);
    }
    Ok(out)
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        Ok(IpvsMessage {
            cmd,
            attrs: parse_cmd_attrs(buf, cmd)?,
        })
    }
}

/// A complete netlink message carrying an IPVS payload.
pub type IpvsNetlinkMessage =
    netlink_packet_core::NetlinkMessage<netlink_packet_generic::GenlMessage<IpvsMessage>>;

/// Append one netlink request (`nlmsghdr` + `genlmsghdr` + attributes) to `out`.
/// `family_id` is the resolved id of the `IPVS` family.
pub fn encode_request(family_id: u16, seq: u32, flags: u16, msg: IpvsMessage, out: &mut Vec<u8>) {
    let mut genl = netlink_packet_generic::GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    genl.finalize();
    let mut header = netlink_packet_core::NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = IpvsNetlinkMessage::new(
        header,
        netlink_packet_core::NetlinkPayload::InnerMessage(genl),
    );
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
}

/// Split a received datagram into netlink messages and decode each one.
/// Never panics; a malformed message ends the iteration with an error.
pub fn decode_datagram(buf: &[u8]) -> DatagramIter<'_> {
    DatagramIter { buf, done: false }
}

/// Iterator returned by [`decode_datagram`].
#[derive(Debug)]
pub struct DatagramIter<'a> {
    buf: &'a [u8],
    done: bool,
}

impl Iterator for DatagramIter<'_> {
    type Item = Result<IpvsNetlinkMessage, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        let len = match netlink_packet_core::NetlinkBuffer::new_checked(self.buf) {
            Ok(b) => b.length() as usize,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let msg = &self.buf[..len];
        let aligned = (len + 3) & !3;
        self.buf = self.buf.get(aligned..).unwrap_or(&[]);
        let r = IpvsNetlinkMessage::deserialize(msg);
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}
