//! Raw VRRP sockets (IP protocol 112), IPv4 and IPv6, bound to one interface.
//!
//! - IPv4: sends to 224.0.0.18 (or unicast peers) with TTL 255; received packets carry their IP
//!   header, from which the TTL, source and destination are read.
//! - IPv6: sends to ff02::12 (or unicast peers) with hop limit 255; the hop limit and the
//!   destination come from `IPV6_HOPLIMIT` / `IPV6_PKTINFO` control messages.
//! - Both: multicast loopback is off (our own adverts are not read back), only groups joined on
//!   this socket are delivered (`IP_MULTICAST_ALL` off), and each packet carries the kernel's
//!   receive timestamp (`SO_TIMESTAMPNS`) so that a late read does not age an advert.
//!
//! The checksum is the codec's business: IPv6 raw sockets are left without `IPV6_CHECKSUM`, so a
//! packet with a bad checksum reaches the codec and is counted, not silently dropped.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use socket2::{
    Domain, InterfaceIndexOrAddress, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, Socket, Type,
};
use tokio::io::unix::AsyncFd;

use ha_vrrp_proto::router::RxAdvert;
use ha_vrrp_proto::wire::{self, Packet, RxContext, WireError};

use super::sys;

/// The IP protocol number of VRRP.
pub const VRRP_PROTOCOL: i32 = 112;
/// The VRRP IPv4 multicast group (RFC 9568 section 5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The VRRP IPv6 multicast group (RFC 9568 section 5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Errors of the VRRP socket, naming the interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Opening or configuring the socket failed.
    #[error("VRRP socket on {interface}: {what}: {source}{hint}", hint = permission_hint(source))]
    Setup {
        /// The interface name.
        interface: String,
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending failed.
    #[error("sending a VRRP advert on {interface} to {dst}: {source}")]
    Send {
        /// The interface name.
        interface: String,
        /// The destination.
        dst: IpAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Receiving failed.
    #[error("receiving on the VRRP socket of {interface}: {source}")]
    Recv {
        /// The interface name.
        interface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn permission_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (raw sockets need CAP_NET_RAW)",
        Some(libc::ENODEV) => " (no such interface)",
        _ => "",
    }
}

/// One received VRRP packet: where its payload lies in the caller's buffer and what the IP
/// layer said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The VRRP message is `buf[payload.0..payload.1]`.
    pub payload: (usize, usize),
    /// The IP source address.
    pub src: IpAddr,
    /// The IP destination address (the group, or our own unicast address).
    pub dst: IpAddr,
    /// The IPv4 TTL or IPv6 hop limit the packet arrived with.
    pub ttl: u8,
    /// When the kernel received it (wall clock), if the kernel said.
    pub timestamp: Option<SystemTime>,
}

impl Received {
    /// How long ago the kernel received the packet, measured against `now` (wall clock);
    /// zero when unknown or in the future.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.timestamp
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    }
}

impl Received {
    /// Validates the VRRP message `packet` of this received packet against the instance's
    /// receive settings (`local`: what the configuration says; its `src`, `dst` and `ttl` are
    /// ignored and taken from the IP layer here) and turns it into the router's input.
    pub fn validate(
        &self,
        packet: &Packet<&[u8]>,
        local: &RxContext,
    ) -> Result<RxAdvert, WireError> {
        let ctx = RxContext {
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
            ..*local
        };
        wire::validate(packet, &ctx)
            .map(|a| RxAdvert::new(self.src, a.vrid, a.priority, a.interval))
    }
}

/// A raw VRRP socket bound to one interface, registered with tokio.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    interface: String,
    ipv6: bool,
}

/// `map_err` for a setup step of the socket on `interface`.
fn setup<'a>(interface: &'a str, what: &'static str) -> impl FnOnce(io::Error) -> SocketError + 'a {
    move |source| SocketError::Setup {
        interface: interface.to_owned(),
        what,
        source,
    }
}

impl VrrpSocket {
    /// A raw VRRP socket of `domain` bound to `interface`.
    fn raw(interface: &str, domain: Domain, what: &'static str) -> Result<Socket, SocketError> {
        let s = Socket::new(domain, Type::RAW, Some(Protocol::from(VRRP_PROTOCOL)))
            .map_err(setup(interface, what))?;
        s.bind_device(Some(interface.as_bytes()))
            .map_err(setup(interface, "SO_BINDTODEVICE"))?;
        Ok(s)
    }

    /// Kernel receive timestamps, non-blocking, registered with tokio.
    fn finish(s: Socket, interface: &str, ipv6: bool) -> Result<VrrpSocket, SocketError> {
        sys::setsockopt_int(&s, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(setup(interface, "SO_TIMESTAMPNS"))?;
        s.set_nonblocking(true)
            .map_err(setup(interface, "O_NONBLOCK"))?;
        let fd = sys::register(s).map_err(setup(interface, "register with tokio"))?;
        Ok(VrrpSocket {
            fd,
            interface: interface.to_owned(),
            ipv6,
        })
    }

    /// Opens an IPv4 VRRP socket on `interface` (ifindex `ifindex`) and joins 224.0.0.18
    /// there when `multicast` is set.
    pub fn open_v4(
        interface: &str,
        ifindex: u32,
        multicast: bool,
    ) -> Result<VrrpSocket, SocketError> {
        let s = Self::raw(interface, Domain::IPV4, "socket(AF_INET, SOCK_RAW, 112)")?;
        let step = |what| setup(interface, what);
        s.set_ttl_v4(255).map_err(step("IP_TTL 255"))?;
        s.set_multicast_ttl_v4(255)
            .map_err(step("IP_MULTICAST_TTL 255"))?;
        s.set_multicast_loop_v4(false)
            .map_err(step("IP_MULTICAST_LOOP off"))?;
        s.set_multicast_all_v4(false)
            .map_err(step("IP_MULTICAST_ALL off"))?;
        s.set_multicast_if_v4(&Ipv4Addr::UNSPECIFIED)
            .map_err(step("IP_MULTICAST_IF"))?;
        if multicast {
            s.join_multicast_v4_n(&VRRP_GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))
                .map_err(step("join 224.0.0.18"))?;
        }
        Self::finish(s, interface, false)
    }

    /// Opens an IPv6 VRRP socket on `interface` (ifindex `ifindex`) and joins ff02::12 there
    /// when `multicast` is set.
    pub fn open_v6(
        interface: &str,
        ifindex: u32,
        multicast: bool,
    ) -> Result<VrrpSocket, SocketError> {
        let s = Self::raw(interface, Domain::IPV6, "socket(AF_INET6, SOCK_RAW, 112)")?;
        let step = |what| setup(interface, what);
        s.set_unicast_hops_v6(255)
            .map_err(step("IPV6_UNICAST_HOPS 255"))?;
        s.set_multicast_hops_v6(255)
            .map_err(step("IPV6_MULTICAST_HOPS 255"))?;
        s.set_multicast_loop_v6(false)
            .map_err(step("IPV6_MULTICAST_LOOP off"))?;
        s.set_multicast_all_v6(false)
            .map_err(step("IPV6_MULTICAST_ALL off"))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(step("IPV6_MULTICAST_IF"))?;
        s.set_recv_hoplimit_v6(true)
            .map_err(step("IPV6_RECVHOPLIMIT"))?;
        sys::setsockopt_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
            .map_err(step("IPV6_RECVPKTINFO"))?;
        if multicast {
            s.join_multicast_v6(&VRRP_GROUP_V6, ifindex)
                .map_err(step("join ff02::12"))?;
        }
        Self::finish(s, interface, true)
    }

    /// Binds the socket to the local address `addr`, so that it is the source of every packet
    /// sent, whatever the interface's own addresses (a send-only socket on a virtual MAC
    /// interface, whose only IPv4 addresses are the VIPs). A bound raw socket only receives
    /// packets addressed to `addr`: use it for sending only.
    pub fn bind_source(&self, addr: IpAddr) -> Result<(), SocketError> {
        self.fd
            .get_ref()
            .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
            .map_err(setup(&self.interface, "bind to the source address"))
    }

    /// Joins the multicast `group` on `ifindex` (a group other than the RFC's: keepalived
    /// `vrrp_mcast_group4` / `vrrp_mcast_group6`). Only joined groups are delivered.
    pub fn join(&self, group: IpAddr, ifindex: u32) -> Result<(), SocketError> {
        let s = self.fd.get_ref();
        match group {
            IpAddr::V4(g) => s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex)),
            IpAddr::V6(g) => s.join_multicast_v6(&g, ifindex),
        }
        .map_err(setup(
            &self.interface,
            "join the configured multicast group",
        ))
    }

    /// Sets the TTL / hop limit of unicast packets (keepalived `unicast_ttl`; 255 otherwise).
    /// Multicast packets keep 255.
    pub fn set_unicast_ttl(&self, ttl: u8) -> Result<(), SocketError> {
        let s = self.fd.get_ref();
        if self.ipv6 {
            s.set_unicast_hops_v6(u32::from(ttl))
        } else {
            s.set_ttl_v4(u32::from(ttl))
        }
        .map_err(setup(&self.interface, "unicast TTL"))
    }

    /// The interface this socket is bound to.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Sends one VRRP message (the payload; the kernel adds the IP header) to `dst`.
    pub async fn send_to(&self, payload: &[u8], dst: IpAddr) -> Result<(), SocketError> {
        let addr = SockAddr::from(SocketAddr::new(dst, 0));
        loop {
            let mut guard = self
                .fd
                .writable()
                .await
                .map_err(|source| self.send_err(dst, source))?;
            match guard.try_io(|s| s.get_ref().send_to(payload, &addr)) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(source)) => return Err(self.send_err(dst, source)),
                Err(_would_block) => continue,
            }
        }
    }

    fn send_err(&self, dst: IpAddr, source: io::Error) -> SocketError {
        SocketError::Send {
            interface: self.interface.clone(),
            dst,
            source,
        }
    }

    /// Waits for one packet, reads it into `buf` and describes it. Packets too short to hold
    /// an IP header are skipped.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Received, SocketError> {
        loop {
            let mut guard = self
                .fd
                .readable()
                .await
                .map_err(|source| SocketError::Recv {
                    interface: self.interface.clone(),
                    source,
                })?;
            match guard.try_io(|s| recv_one(s.get_ref(), buf, self.ipv6)) {
                Ok(Ok(Some(r))) => return Ok(r),
                Ok(Ok(None)) => continue,
                Ok(Err(source)) => {
                    return Err(SocketError::Recv {
                        interface: self.interface.clone(),
                        source,
                    });
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Waits until a packet is queued (without reading it): then read every queued packet with
    /// [`VrrpSocket::try_recv`]. Readiness left over from an emptied queue is cleared here, so
    /// this never spins.
    pub async fn readable(&self) -> Result<(), SocketError> {
        let recv_err = |source| SocketError::Recv {
            interface: self.interface.clone(),
            source,
        };
        loop {
            let mut guard = self.fd.readable().await.map_err(recv_err)?;
            let mut probe = [0u8; 1];
            match guard.try_io(|s| s.get_ref().peek(sys::as_uninit(&mut probe))) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(source)) => return Err(recv_err(source)),
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads one packet if one is queued, without waiting (used to drain the queue before
    /// acting on an expired timer).
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<Received>, SocketError> {
        loop {
            match recv_one(self.fd.get_ref(), buf, self.ipv6) {
                Ok(Some(r)) => return Ok(Some(r)),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(source) => {
                    return Err(SocketError::Recv {
                        interface: self.interface.clone(),
                        source,
                    });
                }
            }
        }
    }
}

/// One `recvmsg`; `Ok(None)` for a packet that is not a plausible IP/VRRP packet.
fn recv_one(s: &Socket, buf: &mut [u8], ipv6: bool) -> io::Result<Option<Received>> {
    let mut control = [0u8; 256];
    // The address buffer must be as large as the family's sockaddr, or the kernel truncates
    // the source address to fit.
    let unspecified = if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let mut from = SockAddr::from(SocketAddr::new(unspecified, 0));
    let (len, control_len) = {
        let mut bufs = [MaybeUninitSlice::new(sys::as_uninit(buf))];
        let mut msg = MsgHdrMut::new()
            .with_addr(&mut from)
            .with_buffers(&mut bufs)
            .with_control(sys::as_uninit(&mut control));
        let len = s.recvmsg(&mut msg, 0)?;
        (len, msg.control_len())
    };
    let cmsgs = parse_cmsgs(&control[..control_len.min(control.len())]);
    let data = &buf[..len.min(buf.len())];
    if ipv6 {
        let Some(src) = from.as_socket_ipv6().map(|a| *a.ip()) else {
            return Ok(None);
        };
        Ok(Some(Received {
            payload: (0, data.len()),
            src: IpAddr::V6(src),
            dst: IpAddr::V6(cmsgs.dst_v6.unwrap_or(Ipv6Addr::UNSPECIFIED)),
            ttl: cmsgs.hop_limit.unwrap_or(0),
            timestamp: cmsgs.timestamp,
        }))
    } else {
        // IPv4 raw sockets deliver the IP header: version/IHL, TTL at 8, src at 12, dst at 16.
        if data.len() < 20 || data[0] >> 4 != 4 {
            return Ok(None);
        }
        let ihl = usize::from(data[0] & 0x0f) * 4;
        if ihl < 20 || ihl > data.len() {
            return Ok(None);
        }
        let addr = |at: usize| Ipv4Addr::new(data[at], data[at + 1], data[at + 2], data[at + 3]);
        Ok(Some(Received {
            payload: (ihl, data.len()),
            src: IpAddr::V4(addr(12)),
            dst: IpAddr::V4(addr(16)),
            ttl: data[8],
            timestamp: cmsgs.timestamp,
        }))
    }
}

/// What the control messages said.
#[derive(Debug, Default, PartialEq, Eq)]
struct Cmsgs {
    timestamp: Option<SystemTime>,
    hop_limit: Option<u8>,
    dst_v6: Option<Ipv6Addr>,
}

/// Parses control messages (`struct cmsghdr` records, each aligned to `size_t`) without
/// `unsafe`: the layout is read field by field from the bytes.
fn parse_cmsgs(mut b: &[u8]) -> Cmsgs {
    const W: usize = std::mem::size_of::<usize>();
    let align = |n: usize| n.div_ceil(W) * W;
    let hdr = align(W + 8);
    let mut out = Cmsgs::default();
    while b.len() >= hdr {
        let Ok(len) = usize::try_from(read_word(&b[..W])) else {
            break;
        };
        let level = i32::from_ne_bytes([b[W], b[W + 1], b[W + 2], b[W + 3]]);
        let kind = i32::from_ne_bytes([b[W + 4], b[W + 5], b[W + 6], b[W + 7]]);
        if len < hdr || len > b.len() {
            break;
        }
        let data = &b[hdr..len];
        match (level, kind) {
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) if data.len() >= 2 * W => {
                // struct timespec: two machine words, seconds then nanoseconds.
                let (secs, nanos) = (read_word(&data[..W]), read_word(&data[W..2 * W]));
                if let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos))
                    && nanos < 1_000_000_000
                {
                    out.timestamp = Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos));
                }
            }
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if data.len() >= 4 => {
                let v = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                out.hop_limit = u8::try_from(v).ok();
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&data[..16]);
                out.dst_v6 = Some(Ipv6Addr::from(a));
            }
            _ => {}
        }
        let next = align(len);
        if next >= b.len() {
            break;
        }
        b = &b[next..];
    }
    out
}

/// Reads a native-endian machine word (`long`) of 8 or 4 bytes.
fn read_word(b: &[u8]) -> i64 {
    match b.len() {
        8 => i64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        4 => i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        const W: usize = std::mem::size_of::<usize>();
        let hdr = (W + 8).div_ceil(W) * W;
        let len = hdr + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(hdr, 0);
        v.extend_from_slice(data);
        v.resize(len.div_ceil(W) * W, 0);
        v
    }

    #[test]
    fn parses_timestamp_hoplimit_and_pktinfo() {
        let mut ts = Vec::new();
        ts.extend_from_slice(&1_700_000_000i64.to_ne_bytes());
        ts.extend_from_slice(&123_000_000i64.to_ne_bytes());
        let mut pktinfo = VRRP_GROUP_V6.octets().to_vec();
        pktinfo.extend_from_slice(&7u32.to_ne_bytes());
        let mut b = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts);
        b.extend(cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &255i32.to_ne_bytes(),
        ));
        b.extend(cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo));
        let c = parse_cmsgs(&b);
        assert_eq!(
            c.timestamp,
            Some(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_000_000))
        );
        assert_eq!(c.hop_limit, Some(255));
        assert_eq!(c.dst_v6, Some(VRRP_GROUP_V6));
    }

    #[test]
    fn truncated_or_bogus_cmsgs_are_ignored() {
        let b = cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &64i32.to_ne_bytes(),
        );
        for cut in 0..b.len() {
            let _ = parse_cmsgs(&b[..cut]);
        }
        let mut bogus = b.clone();
        bogus[..8].copy_from_slice(&usize::MAX.to_ne_bytes()[..8]);
        assert_eq!(parse_cmsgs(&bogus), Cmsgs::default());
        assert_eq!(parse_cmsgs(&b).hop_limit, Some(64));
    }

    #[test]
    fn age_is_measured_against_the_wall_clock() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let r = Received {
            payload: (0, 0),
            src: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dst: IpAddr::V4(VRRP_GROUP_V4),
            ttl: 255,
            timestamp: Some(t),
        };
        assert_eq!(
            r.age(t + Duration::from_millis(30)),
            Duration::from_millis(30)
        );
        assert_eq!(r.age(t - Duration::from_millis(30)), Duration::ZERO);
    }
}
