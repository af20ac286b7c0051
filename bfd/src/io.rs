//! The tokio driver of single-hop BFD (RFC 5881): UDP sockets, timers and demultiplexing for
//! any number of [`Session`]s.
//!
//! - Receive: one socket per address family bound to port 3784 (RFC 5881 §4). Each datagram's
//!   TTL / hop limit comes as ancillary data (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`) and a packet
//!   whose TTL is not 255 is discarded (RFC 5881 §5). A packet goes to the session named by
//!   its Your Discriminator, or, when that is zero, to the session of its source address
//!   (RFC 5880 §6.8.6, RFC 5881 §3).
//! - Send: one socket per session, bound to a source port in 49152-65535 that the session
//!   keeps for its life (RFC 5881 §4), TTL / hop limit 255 (RFC 5881 §5), DSCP CS6 like FRR.
//! - Commands through a [`Handle`]: add and remove sessions, administrative down and up,
//!   status. Events (state changes) through an unbounded channel.
//!
//! Fate sharing: dropping the [`Handle`] (or [`Handle::abort`]) stops the driver without a
//! word to the peers, as a crash would: they detect it after their detection time.
//! [`Handle::shutdown`] instead takes every session administratively down first.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use ha_bfd::io::{DriverConfig, PeerConfig, spawn};
//! let (handle, mut events) = spawn(DriverConfig::default())?;
//! let mut peer = PeerConfig::new("10.0.0.254".parse().unwrap());
//! peer.timers.desired_min_tx = Duration::from_millis(100);
//! peer.timers.required_min_rx = Duration::from_millis(100);
//! handle.add_session(peer).await.expect("add session");
//! while let Some(ev) = events.recv().await {
//!     println!("{}: {:?}", ev.peer, ev.event);
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Instant;

use socket2::{Domain, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::packet::{self, Diagnostic, State};
use crate::session::{self, Config, Role, Session, Timers};
use crate::sys;
use crate::{CONTROL_PORT, SOURCE_PORTS, TTL};

/// DSCP CS6 (network control) in the TOS / traffic class byte, as FRR bfdd sends.
const TOS_CS6: u32 = 0xc0;

/// How the driver binds its sockets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriverConfig {
    /// The IPv4 address the receive socket binds (port 3784); `None`: every address.
    pub listen_v4: Option<Ipv4Addr>,
    /// The IPv6 address the receive socket binds (port 3784); `None`: every address.
    pub listen_v6: Option<Ipv6Addr>,
    /// Whether to receive IPv4 at all.
    pub disable_v4: bool,
    /// Whether to receive IPv6 at all.
    pub disable_v6: bool,
    /// Bind every socket to this interface (`SO_BINDTODEVICE`).
    pub device: Option<String>,
}

/// One session to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's address (one session per peer address).
    pub peer: IpAddr,
    /// The source address; `None`: the kernel's choice for the route to the peer.
    pub local: Option<IpAddr>,
    /// Timers and detect multiplier.
    pub timers: Timers,
    /// Active or passive.
    pub role: Role,
}

impl PeerConfig {
    /// An active session with default timers (300 ms, 300 ms, 3).
    pub fn new(peer: IpAddr) -> PeerConfig {
        PeerConfig {
            peer,
            local: None,
            timers: Timers::default(),
            role: Role::Active,
        }
    }
}

/// An event of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The session's peer.
    pub peer: IpAddr,
    /// What happened.
    pub event: session::Event,
}

/// A snapshot of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStatus {
    /// The peer.
    pub peer: IpAddr,
    /// Our source port.
    pub local_port: u16,
    /// bfd.LocalDiscr.
    pub local_discriminator: NonZeroU32,
    /// bfd.RemoteDiscr.
    pub remote_discriminator: u32,
    /// bfd.SessionState.
    pub state: State,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// bfd.LocalDiag.
    pub local_diagnostic: Diagnostic,
    /// The Diag of the last packet received.
    pub remote_diagnostic: Diagnostic,
    /// Counters.
    pub stats: session::Stats,
}

/// Packets the driver dropped before any session saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// TTL / hop limit not 255, or missing (RFC 5881 §5).
    pub bad_ttl: u64,
    /// Not a well-formed Control packet.
    pub malformed: u64,
    /// No session for the Your Discriminator or the source address.
    pub no_session: u64,
    /// Rejected by the session (§6.8.6 checks).
    pub rejected: u64,
    /// Send errors.
    pub send_errors: u64,
}

/// Errors of the driver's commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A session for this peer exists.
    #[error("a BFD session to {0} exists")]
    Exists(IpAddr),
    /// No session for this peer.
    #[error("no BFD session to {0}")]
    NoSession(IpAddr),
    /// The session configuration is invalid.
    #[error("BFD session to {peer}: {source}")]
    Config {
        /// The peer.
        peer: IpAddr,
        /// Why.
        source: session::ConfigError,
    },
    /// A socket operation failed.
    #[error("BFD session to {peer}: {what}: {source}")]
    Socket {
        /// The peer.
        peer: IpAddr,
        /// Which operation.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The driver task has stopped.
    #[error("the BFD driver has stopped")]
    Stopped,
}

enum Command {
    Add(PeerConfig, oneshot::Sender<Result<SessionStatus, Error>>),
    Remove(IpAddr, oneshot::Sender<Result<(), Error>>),
    AdminDown(IpAddr, oneshot::Sender<Result<(), Error>>),
    AdminUp(IpAddr, oneshot::Sender<Result<(), Error>>),
    SetTimers(IpAddr, Timers, oneshot::Sender<Result<(), Error>>),
    Status(oneshot::Sender<(Vec<SessionStatus>, DriverStats)>),
    Shutdown(oneshot::Sender<()>),
}

/// Commands to a running driver. Dropping it stops the driver silently (see the module docs).
#[derive(Debug)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Adds a session; it starts at once (an active one sends its first packet now).
    pub async fn add_session(&self, peer: PeerConfig) -> Result<SessionStatus, Error> {
        self.ask(|tx| Command::Add(peer, tx)).await?
    }

    /// Removes a session after one AdminDown packet (RFC 5880 §6.8.16), so the peer goes Down
    /// at once.
    pub async fn remove_session(&self, peer: IpAddr) -> Result<(), Error> {
        self.ask(|tx| Command::Remove(peer, tx)).await?
    }

    /// Takes a session administratively down (RFC 5880 §6.8.16).
    pub async fn admin_down(&self, peer: IpAddr) -> Result<(), Error> {
        self.ask(|tx| Command::AdminDown(peer, tx)).await?
    }

    /// Ends a session's administrative down.
    pub async fn admin_up(&self, peer: IpAddr) -> Result<(), Error> {
        self.ask(|tx| Command::AdminUp(peer, tx)).await?
    }

    /// Changes a session's timers (a Poll Sequence while Up, RFC 5880 §6.8.3).
    pub async fn set_timers(&self, peer: IpAddr, timers: Timers) -> Result<(), Error> {
        self.ask(|tx| Command::SetTimers(peer, timers, tx)).await?
    }

    /// Every session's status and the driver's drop counters.
    pub async fn status(&self) -> Result<(Vec<SessionStatus>, DriverStats), Error> {
        self.ask(Command::Status).await
    }

    /// Takes every session administratively down (one AdminDown packet each), then stops.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.ask(Command::Shutdown).await?;
        let _finished = self.task.await;
        Ok(())
    }

    /// Stops the driver at once without telling the peers (as a crash would).
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Binds the receive sockets and starts the driver task on the current tokio runtime. Returns
/// the command handle and the event receiver (unbounded; if it is dropped, events are no longer
/// produced but the sessions keep running).
///
/// Sockets are made in the network namespace of the calling thread (receive sockets) and of
/// the runtime's worker thread (per-session sockets, made on [`Handle::add_session`]).
pub fn spawn(config: DriverConfig) -> io::Result<(Handle, mpsc::UnboundedReceiver<Event>)> {
    let v4 = if config.disable_v4 {
        None
    } else {
        Some(bind_receive(
            IpAddr::V4(config.listen_v4.unwrap_or(Ipv4Addr::UNSPECIFIED)),
            config.device.as_deref(),
        )?)
    };
    let v6 = if config.disable_v6 {
        None
    } else {
        Some(bind_receive(
            IpAddr::V6(config.listen_v6.unwrap_or(Ipv6Addr::UNSPECIFIED)),
            config.device.as_deref(),
        )?)
    };
    let (commands, rx_commands) = mpsc::unbounded_channel();
    let (events, rx_events) = mpsc::unbounded_channel();
    let driver = Driver {
        config,
        v4,
        v6,
        sessions: BTreeMap::new(),
        by_discr: BTreeMap::new(),
        events,
        events_open: true,
        stats: DriverStats::default(),
        random: RandomState::new(),
        counter: 0,
    };
    let task = tokio::spawn(driver.run(rx_commands));
    Ok((Handle { commands, task }, rx_events))
}

fn bind_receive(addr: IpAddr, device: Option<&str>) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(SocketAddr::new(addr, 0)),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    if let Some(dev) = device {
        socket.bind_device(Some(dev.as_bytes()))?;
    }
    match addr {
        IpAddr::V4(_) => sys::set_recv_ttl(&socket)?,
        IpAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_recv_hoplimit_v6(true)?;
        }
    }
    socket.bind(&SockAddr::from(SocketAddr::new(addr, CONTROL_PORT)))?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// A received datagram.
struct Datagram {
    len: usize,
    src: SocketAddr,
    ttl: Option<u8>,
}

const RX_BUF: usize = 256;
const CMSG_BUF: usize = 128;

/// Receives one datagram with its TTL / hop limit.
async fn recv(socket: &UdpSocket, buf: &mut sys::ZeroedBuf<RX_BUF>) -> io::Result<Datagram> {
    loop {
        socket.readable().await?;
        let r = socket.try_io(Interest::READABLE, || {
            let sock = SockRef::from(socket);
            let mut cmsg = sys::ZeroedBuf::<CMSG_BUF>::new();
            // SAFETY of the read-back lives in `sys`: both buffers are zeroed beforehand.
            // The kernel writes an address of the socket's own family, hence of this length.
            let mut addr = SockAddr::from(socket.local_addr()?);
            let mut bufs = [MaybeUninitSlice::new(buf.as_uninit_mut())];
            let mut msg = MsgHdrMut::new()
                .with_addr(&mut addr)
                .with_buffers(&mut bufs)
                .with_control(cmsg.as_uninit_mut());
            let len = sock.recvmsg(&mut msg, 0)?;
            let control_len = msg.control_len();
            let src = addr
                .as_socket()
                .ok_or_else(|| io::Error::other("no source address"))?;
            Ok((len, src, parse_ttl(cmsg.bytes(control_len))))
        });
        match r {
            Ok((len, src, ttl)) => return Ok(Datagram { len, src, ttl }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Finds `IP_TTL` / `IPV6_HOPLIMIT` in a control buffer (the `struct cmsghdr` layout of Linux:
/// a `size_t` length, two `int`s, data aligned to `size_t`).
fn parse_ttl(control: &[u8]) -> Option<u8> {
    const W: usize = std::mem::size_of::<usize>();
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    let align = |n: usize| n.div_ceil(W) * W;
    let mut off = 0;
    while off + hdr <= control.len() {
        let len = usize::from_ne_bytes(control[off..off + W].try_into().ok()?);
        let level = i32::from_ne_bytes(control[off + W..off + W + 4].try_into().ok()?);
        let ty = i32::from_ne_bytes(control[off + W + 4..off + W + 8].try_into().ok()?);
        if len < hdr || off + len > control.len() {
            return None;
        }
        let data = &control[off + align(hdr)..off + len];
        let is_ttl = (level == libc::IPPROTO_IP && ty == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT);
        if is_ttl && data.len() >= 4 {
            let v = i32::from_ne_bytes(data[..4].try_into().ok()?);
            return u8::try_from(v).ok();
        }
        off += align(len);
    }
    None
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

struct Entry {
    session: Session,
    socket: UdpSocket,
    local_port: u16,
}

impl Entry {
    fn status(&self, peer: IpAddr) -> SessionStatus {
        let s = &self.session;
        SessionStatus {
            peer,
            local_port: self.local_port,
            local_discriminator: s.local_discriminator(),
            remote_discriminator: s.remote_discriminator(),
            state: s.state(),
            remote_state: s.remote_state(),
            local_diagnostic: s.local_diagnostic(),
            remote_diagnostic: s.remote_diagnostic(),
            stats: s.stats(),
        }
    }
}

/// Whether the driver loop goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Driver {
    config: DriverConfig,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    sessions: BTreeMap<IpAddr, Entry>,
    by_discr: BTreeMap<u32, IpAddr>,
    events: mpsc::UnboundedSender<Event>,
    events_open: bool,
    stats: DriverStats,
    random: RandomState,
    counter: u64,
}

async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut sys::ZeroedBuf<RX_BUF>,
) -> io::Result<Datagram> {
    match socket {
        Some(s) => recv(s, buf).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn next_random(&mut self) -> u64 {
        self.counter += 1;
        let mut h = self.random.build_hasher();
        h.write_u64(self.counter);
        h.finish()
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf4 = sys::ZeroedBuf::<RX_BUF>::new();
        let mut buf6 = sys::ZeroedBuf::<RX_BUF>::new();
        loop {
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    // Every handle is gone: stop silently (fate sharing).
                    None => return,
                    Some(cmd) => {
                        if self.command(cmd).await == Flow::Stop {
                            return;
                        }
                    }
                },
                r = recv_opt(self.v4.as_ref(), &mut buf4) => self.received(r, &buf4).await,
                r = recv_opt(self.v6.as_ref(), &mut buf6) => self.received(r, &buf6).await,
                () = sleep => {
                    let now = Instant::now();
                    let due: Vec<IpAddr> = self
                        .sessions
                        .iter()
                        .filter(|(_, e)| e.session.poll_timeout().is_some_and(|t| t <= now))
                        .map(|(p, _)| *p)
                        .collect();
                    for peer in due {
                        if let Some(e) = self.sessions.get_mut(&peer) {
                            e.session.handle_timeout(now);
                        }
                        self.flush(peer).await;
                    }
                }
            }
        }
    }

    async fn received(&mut self, r: io::Result<Datagram>, buf: &sys::ZeroedBuf<RX_BUF>) {
        let Ok(d) = r else {
            // A transient receive error (e.g. ICMP-induced); nothing to act on.
            return;
        };
        let now = Instant::now();
        // RFC 5881 §5: "the received TTL/Hop Limit MUST be checked to be 255".
        if d.ttl != Some(TTL) {
            self.stats.bad_ttl += 1;
            return;
        }
        let bytes = buf.bytes(d.len);
        let repr = match packet::decode(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let src = canonical(d.src.ip());
        // RFC 5880 §6.8.6: select the session by Your Discriminator, else (zero) by the
        // source address (RFC 5881 §3: single hop, one session per peer address).
        let peer = if repr.your_discriminator != 0 {
            self.by_discr.get(&repr.your_discriminator).copied()
        } else {
            self.sessions.contains_key(&src).then_some(src)
        };
        let Some(peer) = peer else {
            self.stats.no_session += 1;
            return;
        };
        if let Some(e) = self.sessions.get_mut(&peer)
            && e.session.handle_packet(now, &repr).is_err()
        {
            self.stats.rejected += 1;
        }
        self.flush(peer).await;
    }

    /// Sends what the session wants sent and forwards its events.
    async fn flush(&mut self, peer: IpAddr) {
        let Some(e) = self.sessions.get_mut(&peer) else {
            return;
        };
        while let Some(tx) = e.session.poll_transmit() {
            if e.socket
                .send_to(tx.bytes.as_slice(), SocketAddr::new(peer, CONTROL_PORT))
                .await
                .is_err()
            {
                self.stats.send_errors += 1;
            }
        }
        while let Some(event) = e.session.poll_event() {
            if self.events_open && self.events.send(Event { peer, event }).is_err() {
                // The receiver is gone: the embedder no longer listens; sessions keep running.
                self.events_open = false;
            }
        }
    }

    /// Executes a command; [`Flow::Stop`] after a shutdown.
    async fn command(&mut self, cmd: Command) -> Flow {
        let now = Instant::now();
        match cmd {
            Command::Add(pc, reply) => {
                let r = self.add(pc, now);
                let peer = canonical(pc.peer);
                if r.is_ok() {
                    self.flush(peer).await;
                }
                answer(reply, r);
            }
            Command::Remove(peer, reply) => {
                let peer = canonical(peer);
                let r = match self.sessions.get_mut(&peer) {
                    None => Err(Error::NoSession(peer)),
                    Some(e) => {
                        e.session.admin_down(now);
                        self.flush(peer).await;
                        if let Some(e) = self.sessions.remove(&peer) {
                            self.by_discr.remove(&e.session.local_discriminator().get());
                        }
                        Ok(())
                    }
                };
                answer(reply, r);
            }
            Command::AdminDown(peer, reply) => {
                let r = self.with(peer, |s| s.admin_down(now)).await;
                answer(reply, r);
            }
            Command::AdminUp(peer, reply) => {
                let r = self.with(peer, |s| s.admin_up(now)).await;
                answer(reply, r);
            }
            Command::SetTimers(peer, timers, reply) => {
                let peer = canonical(peer);
                let r = match self.sessions.get_mut(&peer) {
                    None => Err(Error::NoSession(peer)),
                    Some(e) => e
                        .session
                        .set_timers(now, timers)
                        .map_err(|source| Error::Config { peer, source }),
                };
                self.flush(peer).await;
                answer(reply, r);
            }
            Command::Status(reply) => {
                let list = self.sessions.iter().map(|(p, e)| e.status(*p)).collect();
                answer(reply, (list, self.stats));
            }
            Command::Shutdown(reply) => {
                self.shutdown().await;
                answer(reply, ());
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    async fn with(&mut self, peer: IpAddr, f: impl FnOnce(&mut Session)) -> Result<(), Error> {
        let peer = canonical(peer);
        let e = self.sessions.get_mut(&peer).ok_or(Error::NoSession(peer))?;
        f(&mut e.session);
        self.flush(peer).await;
        Ok(())
    }

    async fn shutdown(&mut self) {
        let now = Instant::now();
        let peers: Vec<IpAddr> = self.sessions.keys().copied().collect();
        for peer in peers {
            if let Some(e) = self.sessions.get_mut(&peer) {
                e.session.admin_down(now);
            }
            self.flush(peer).await;
        }
    }

    fn add(&mut self, pc: PeerConfig, now: Instant) -> Result<SessionStatus, Error> {
        let peer = canonical(pc.peer);
        if self.sessions.contains_key(&peer) {
            return Err(Error::Exists(peer));
        }
        // A non-zero discriminator unused by the other sessions (RFC 5880 §6.8.1).
        let discr = loop {
            let d = (self.next_random() as u32).max(1);
            if !self.by_discr.contains_key(&d) {
                break NonZeroU32::new(d).unwrap_or(NonZeroU32::MIN);
            }
        };
        let config = Config {
            local_discriminator: discr,
            timers: pc.timers,
            role: pc.role,
            jitter_seed: self.next_random(),
        };
        let session = Session::new(config, now).map_err(|source| Error::Config { peer, source })?;
        let start = self.next_random();
        let (socket, local_port) = bind_send(peer, pc.local, self.config.device.as_deref(), start)?;
        self.by_discr.insert(discr.get(), peer);
        let entry = Entry {
            session,
            socket,
            local_port,
        };
        let status = entry.status(peer);
        self.sessions.insert(peer, entry);
        Ok(status)
    }
}

/// Answers a command. A caller that stopped waiting (dropped its receiver) needs no answer,
/// and the command's effect stands, so a failed send is deliberately not an error.
fn answer<T>(reply: oneshot::Sender<T>, value: T) {
    if reply.send(value).is_err() {
        // The caller is gone: nothing to undo.
    }
}

/// A send socket for one session: source port in 49152-65535 (RFC 5881 §4), TTL 255 (§5).
fn bind_send(
    peer: IpAddr,
    local: Option<IpAddr>,
    device: Option<&str>,
    random: u64,
) -> Result<(UdpSocket, u16), Error> {
    let err = |what| move |source| Error::Socket { peer, what, source };
    let local = local.unwrap_or(match peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let socket = Socket::new(
        Domain::for_address(SocketAddr::new(peer, 0)),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(err("socket"))?;
    match peer {
        IpAddr::V4(_) => {
            socket.set_ttl_v4(u32::from(TTL)).map_err(err("IP_TTL"))?;
            socket.set_tos_v4(TOS_CS6).map_err(err("IP_TOS"))?;
        }
        IpAddr::V6(_) => {
            socket.set_only_v6(true).map_err(err("IPV6_V6ONLY"))?;
            socket
                .set_unicast_hops_v6(u32::from(TTL))
                .map_err(err("IPV6_UNICAST_HOPS"))?;
            socket.set_tclass_v6(TOS_CS6).map_err(err("IPV6_TCLASS"))?;
        }
    }
    if let Some(dev) = device {
        socket
            .bind_device(Some(dev.as_bytes()))
            .map_err(err("SO_BINDTODEVICE"))?;
    }
    let span = u32::from(*SOURCE_PORTS.end() - *SOURCE_PORTS.start()) + 1;
    let first = (random % u64::from(span)) as u32;
    let mut last_err = None;
    for k in 0..span {
        let port = *SOURCE_PORTS.start() + ((first + k) % span) as u16;
        match socket.bind(&SockAddr::from(SocketAddr::new(local, port))) {
            Ok(()) => {
                socket.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;
                let socket = UdpSocket::from_std(socket.into()).map_err(err("register"))?;
                return Ok((socket, port));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(err("bind")(e)),
        }
    }
    Err(err("bind: every source port in use")(
        last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmsg_ttl() {
        const W: usize = std::mem::size_of::<usize>();
        let hdr = std::mem::size_of::<libc::cmsghdr>();
        let mut c = [0u8; 64];
        let len = hdr + 4;
        c[..W].copy_from_slice(&len.to_ne_bytes());
        c[W..W + 4].copy_from_slice(&libc::IPPROTO_IP.to_ne_bytes());
        c[W + 4..W + 8].copy_from_slice(&libc::IP_TTL.to_ne_bytes());
        c[hdr..hdr + 4].copy_from_slice(&255i32.to_ne_bytes());
        assert_eq!(parse_ttl(&c[..hdr + 8]), Some(255));
        c[W + 4..W + 8].copy_from_slice(&99i32.to_ne_bytes());
        assert_eq!(parse_ttl(&c[..hdr + 8]), None);
        assert_eq!(parse_ttl(&[]), None);
        assert_eq!(parse_ttl(&[0xff; 40]), None);
    }

    #[test]
    fn mapped_addresses() {
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(canonical(m), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
