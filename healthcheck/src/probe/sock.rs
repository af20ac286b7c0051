//! Socket creation with the shared options (bind address/port, SO_BINDTODEVICE, SO_MARK).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::check::SocketOptions;
use crate::outcome::Failure;

pub(crate) fn io_fail(e: std::io::Error) -> Failure {
    Failure::from_io(&e)
}

fn setup(what: &str, e: std::io::Error) -> Failure {
    Failure::Setup(format!("{what}: {e}"))
}

/// A socket2 socket of `ty`/`proto` for talking to `peer`, with the options applied.
pub(crate) fn socket(
    peer: IpAddr,
    ty: Type,
    proto: Protocol,
    opts: &SocketOptions,
) -> Result<Socket, Failure> {
    let domain = if peer.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    // SOCK_NONBLOCK | SOCK_CLOEXEC in the socket(2) call itself: no extra fcntl calls.
    let s = Socket::new(domain, ty.nonblocking(), Some(proto)).map_err(|e| setup("socket", e))?;
    configure(&s, peer, opts)?;
    Ok(s)
}

pub(crate) fn configure(s: &Socket, peer: IpAddr, opts: &SocketOptions) -> Result<(), Failure> {
    if let Some(ifname) = &opts.interface {
        s.bind_device(Some(ifname.as_bytes()))
            .map_err(|e| setup(&format!("SO_BINDTODEVICE {ifname}"), e))?;
    }
    if let Some(mark) = opts.fwmark {
        s.set_mark(mark)
            .map_err(|e| setup(&format!("SO_MARK {mark}"), e))?;
    }
    if opts.bind_addr.is_some() || opts.bind_port.is_some() {
        let ip = opts.bind_addr.unwrap_or(if peer.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
        let local = SocketAddr::new(ip, opts.bind_port.unwrap_or(0));
        if opts.bind_port.is_some() {
            s.set_reuse_address(true)
                .map_err(|e| setup("SO_REUSEADDR", e))?;
        }
        s.bind(&local.into())
            .map_err(|e| setup(&format!("bind {local}"), e))?;
    }
    Ok(())
}

/// Connect a TCP stream to `addr` with the options applied.
pub(crate) async fn tcp_connect(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> Result<TcpStream, Failure> {
    let s = socket(addr.ip(), Type::STREAM, Protocol::TCP, opts)?;
    let s = TcpSocket::from_std_stream(std::net::TcpStream::from(s));
    s.connect(addr).await.map_err(io_fail)
}

/// A UDP socket connected to `addr` (so ICMP errors come back as ECONNREFUSED).
pub(crate) async fn udp_connect(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> Result<UdpSocket, Failure> {
    let s = socket(addr.ip(), Type::DGRAM, Protocol::UDP, opts)?;
    let s = UdpSocket::from_std(std::net::UdpSocket::from(s)).map_err(|e| setup("tokio", e))?;
    s.connect(addr).await.map_err(io_fail)?;
    Ok(s)
}
