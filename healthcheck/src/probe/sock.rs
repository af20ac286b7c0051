//! Socket creation with the shared options (bind address/port, SO_BINDTODEVICE, SO_MARK,
//! SO_LINGER 0 for a reset close).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::{TcpStream, UdpSocket};

use crate::check::{SocketOptions, TcpClose};
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

/// A TCP connection being set up by [`tcp_connect_raw`].
pub(crate) enum Connected {
    /// The handshake finished inside `connect(2)` (the peer is on this host: loopback, a
    /// veth pair); the socket was never registered with the IO driver.
    Now(Socket),
    /// The handshake finished later; the stream is registered with tokio.
    Later(TcpStream),
}

impl Connected {
    /// A tokio stream for the probes that talk over the connection.
    pub(crate) fn into_stream(self) -> Result<TcpStream, Failure> {
        match self {
            Connected::Now(s) => TcpStream::from_std(std::net::TcpStream::from(s))
                .map_err(|e| setup("tokio register", e)),
            Connected::Later(s) => Ok(s),
        }
    }
}

/// Outcome of a `connect(2)` on a socket already connecting: done, still going, or failed.
fn connect_state(r: std::io::Result<()>) -> Result<bool, Failure> {
    match r {
        Ok(()) => Ok(true),
        Err(e) => match e.raw_os_error() {
            Some(libc::EISCONN) => Ok(true),
            Some(libc::EALREADY | libc::EINPROGRESS) => Ok(false),
            _ => Err(io_fail(e)),
        },
    }
}

/// Connect a TCP socket to `addr` with the options applied, registering it with tokio only
/// if the handshake is not over when `connect(2)` returns.
///
/// A non-blocking `connect(2)` always answers EINPROGRESS, but when the peer is on this host
/// the kernel has often run the whole handshake before the call returns. A second
/// `connect(2)` tells (0: connected, EALREADY: still going, or the error such as
/// ECONNREFUSED); when it is over, the probe needs no epoll registration, readiness event
/// or task wakeup. Otherwise the socket waits for writability as usual: the extra call costs
/// one system call.
pub(crate) async fn tcp_connect_raw(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> Result<Connected, Failure> {
    let s = socket(addr.ip(), Type::STREAM, Protocol::TCP, opts)?;
    if opts.close == TcpClose::Reset {
        s.set_linger(Some(Duration::ZERO))
            .map_err(|e| setup("SO_LINGER 0", e))?;
    }
    let peer = SockAddr::from(addr);
    if connect_state(s.connect(&peer))? || connect_state(s.connect(&peer))? {
        return Ok(Connected::Now(s));
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(s))
        .map_err(|e| setup("tokio register", e))?;
    loop {
        stream.writable().await.map_err(io_fail)?;
        if let Some(e) = stream.take_error().map_err(io_fail)? {
            return Err(io_fail(e));
        }
        if connect_state(SockRef::from(&stream).connect(&peer))? {
            return Ok(Connected::Later(stream));
        }
        // A spurious readiness event: forget it and wait again.
        let _ = stream.try_io(Interest::WRITABLE, || {
            Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
        });
    }
}

/// Connect a TCP stream to `addr` with the options applied.
pub(crate) async fn tcp_connect(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> Result<TcpStream, Failure> {
    tcp_connect_raw(addr, opts).await?.into_stream()
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
