//! Socket creation with the shared options (bind address/port, SO_BINDTODEVICE, SO_MARK,
//! SO_LINGER 0 for a reset close), and the spare TCP sockets that plain connect checks reuse.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
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

/// Most spare sockets kept per thread and address family.
const SPARE_MAX: usize = 64;

thread_local! {
    /// Disconnected TCP sockets (SO_LINGER 0, no other option set) of finished connect
    /// checks, for IPv4 and IPv6, ready for another `connect(2)`. Per thread: no lock, and a
    /// tokio worker reuses what its own checks left.
    static SPARE: RefCell<[Vec<Socket>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

fn family(peer: IpAddr) -> usize {
    usize::from(peer.is_ipv6())
}

/// Whether sockets with these options can be reused: an RST close and none of the options
/// that stay on a socket (bound address or port, interface, mark).
fn reusable(opts: &SocketOptions) -> bool {
    opts.close == TcpClose::Reset
        && opts.bind_addr.is_none()
        && opts.bind_port.is_none()
        && opts.interface.is_none()
        && opts.fwmark.is_none()
}

/// A spare socket for `peer`'s family, if one is left.
fn take_spare(peer: IpAddr) -> Option<Socket> {
    SPARE.with(|s| s.borrow_mut()[family(peer)].pop())
}

/// Number of spare sockets this thread holds for `peer`'s family.
#[cfg(test)]
fn spare_count(peer: IpAddr) -> usize {
    SPARE.with(|s| s.borrow()[family(peer)].len())
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
    /// End a plain connect check: reset the connection and keep the socket for the next
    /// check to the same address family, or close it (with an RST unless a graceful close was
    /// asked for) when its options make it unfit or enough are kept.
    ///
    /// Reuse saves `socket(2)`, `setsockopt(SO_LINGER)` and `close(2)` per check, and the
    /// kernel's allocation and teardown of a socket, file and descriptor: about a third of
    /// the CPU time of a connect check on loopback. `connect(2)` to `AF_UNSPEC` sends the RST
    /// and leaves `ECONNRESET` pending on the socket; the next `connect(2)` clears it (Linux
    /// `tcp_connect_init`), which the tests check with an exchange on a reused socket.
    pub(crate) fn release(self, peer: IpAddr, opts: &SocketOptions) {
        if !reusable(opts) {
            return; // dropped: close(2)
        }
        let s = match self {
            Connected::Now(s) => s,
            // Deregistered from the IO driver (the next check registers it again if its
            // handshake does not finish inside connect(2)).
            Connected::Later(stream) => match stream.into_std() {
                Ok(std) => Socket::from(std),
                Err(_) => return,
            },
        };
        if super::sys::disconnect(s.as_fd()).is_err() {
            return;
        }
        SPARE.with(|spare| {
            let list = &mut spare.borrow_mut()[family(peer)];
            if list.len() < SPARE_MAX {
                list.push(s);
            }
        });
    }

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
/// if the handshake is not over when `connect(2)` returns. The socket is a spare one left by
/// [`Connected::release`] when the options allow.
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
    let spare = if reusable(opts) {
        take_spare(addr.ip())
    } else {
        None
    };
    let s = match spare {
        Some(s) => s,
        None => {
            let s = socket(addr.ip(), Type::STREAM, Protocol::TCP, opts)?;
            if opts.close == TcpClose::Reset {
                s.set_linger(Some(Duration::ZERO))
                    .map_err(|e| setup("SO_LINGER 0", e))?;
            }
            s
        }
    };
    {
        // Not kept across the wait below: a `SockAddr` is 132 bytes (a `sockaddr_storage`),
        // and this future's state is held per check in flight.
        let peer = SockAddr::from(addr);
        if connect_state(s.connect(&peer))? || connect_state(s.connect(&peer))? {
            return Ok(Connected::Now(s));
        }
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(s))
        .map_err(|e| setup("tokio register", e))?;
    loop {
        stream.writable().await.map_err(io_fail)?;
        if let Some(e) = stream.take_error().map_err(io_fail)? {
            return Err(io_fail(e));
        }
        if connect_state(SockRef::from(&stream).connect(&SockAddr::from(addr)))? {
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::check::TcpCheck;
    use crate::outcome::Outcome;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// What the server reads on an accepted connection of a finished check.
    fn server_read(l: &TcpListener) -> std::io::Result<usize> {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.read(&mut [0u8; 16])
    }

    #[test]
    fn plain_check_resets_and_leaves_its_socket_for_the_next() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let check = TcpCheck::new(addr);
        let ip = addr.ip();
        assert_eq!(spare_count(ip), 0);
        assert_eq!(block_on(super::super::tcp::run(&check)), Ok(Outcome::UP));
        assert_eq!(spare_count(ip), 1, "the socket is kept");
        let fd = SPARE.with(|s| s.borrow()[0][0].as_raw_fd());
        assert_eq!(block_on(super::super::tcp::run(&check)), Ok(Outcome::UP));
        assert_eq!(spare_count(ip), 1, "taken and given back");
        assert_eq!(SPARE.with(|s| s.borrow()[0][0].as_raw_fd()), fd);
        // Both connections were reset (RST), neither closed in order nor left open.
        for _ in 0..2 {
            let r = server_read(&l);
            assert_eq!(
                r.as_ref().map_err(std::io::Error::kind),
                Err(std::io::ErrorKind::ConnectionReset),
                "{r:?}"
            );
        }
        // A refused connection on a reused socket is still a refusal (the socket is closed).
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let refused = TcpCheck::new(closed_addr);
        assert_eq!(
            block_on(super::super::tcp::run(&refused)),
            Err(crate::Failure::Refused)
        );
        assert_eq!(spare_count(ip), 0);
        assert_eq!(block_on(super::super::tcp::run(&check)), Ok(Outcome::UP));
        assert_eq!(spare_count(ip), 1);
        // A reused socket carries no stale error: a send/expect check on it works.
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            std::io::Write::write_all(&mut s, &buf).unwrap();
        });
        let mut talk = TcpCheck::new(echo_addr);
        talk.send = Some(b"HELLO".to_vec());
        talk.expect = Some(b"HELLO".to_vec());
        assert_eq!(block_on(super::super::tcp::run(&talk)), Ok(Outcome::UP));
        assert_eq!(spare_count(ip), 0, "the exchange used the spare socket");
        server.join().unwrap();
    }

    #[test]
    fn sockets_with_options_are_not_kept() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut graceful = TcpCheck::new(addr);
        graceful.socket.close = TcpClose::Graceful;
        assert_eq!(block_on(super::super::tcp::run(&graceful)), Ok(Outcome::UP));
        let mut bound = TcpCheck::new(addr);
        bound.socket.bind_addr = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(block_on(super::super::tcp::run(&bound)), Ok(Outcome::UP));
        assert_eq!(spare_count(addr.ip()), 0);
        assert_eq!(server_read(&l).ok(), Some(0), "graceful: FIN");
        let r = server_read(&l);
        assert_eq!(
            r.as_ref().map_err(std::io::Error::kind),
            Err(std::io::ErrorKind::ConnectionReset),
            "bound: RST at close"
        );
    }
}
