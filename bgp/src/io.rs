//! The tokio driver: one [`Session`] over a TCP connection to the peer's port 179.
//!
//! [`spawn`] starts a task that owns the session and the socket. It connects (with retry, per
//! the session's ConnectRetryTimer), optionally from a bound local address and with TTL 255
//! (GTSM, RFC 5082: our packets leave with TTL 255 so a peer with `ttl-security hops 1`
//! accepts them), or, passive, listens on port 179 for the peer. The [`Handle`] sends
//! commands; the event receiver gets every [`Event`] of the session.
//!
//! The task ends after [`Handle::stop`] (once the Cease NOTIFICATION is written) or when every
//! handle is dropped (which stops the same way); the event channel then closes.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::message::Prefix;
use crate::session::{
    Action, AnnounceError, Config, ConfigError, Event, RouteAttributes, Session, State,
};

/// The BGP port (RFC 4271 §8.2.1).
pub const BGP_PORT: u16 = 179;

/// How the driver reaches the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoConfig {
    /// The peer's address and port (normally 179).
    pub peer: SocketAddr,
    /// A local address to connect from (and, passive, to listen on).
    pub bind: Option<IpAddr>,
    /// Send with TTL 255 (GTSM, RFC 5082) instead of the system default.
    pub ttl_255: bool,
}

impl IoConfig {
    /// Connect to `peer` port 179, from any address, default TTL.
    #[must_use]
    pub fn new(peer: IpAddr) -> IoConfig {
        IoConfig {
            peer: SocketAddr::new(peer, BGP_PORT),
            bind: None,
            ttl_255: false,
        }
    }
}

/// A command for the driver task.
#[derive(Debug)]
enum Command {
    Announce(Prefix, RouteAttributes),
    Withdraw(Prefix),
    Stop(Option<String>),
}

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The route cannot be announced.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
    /// The driver task has ended (stopped, or panicked).
    #[error("the BGP driver task has ended")]
    Closed,
    /// Listening on port 179 failed (passive mode).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
}

/// Controls a running driver task. Commands are queued (never dropped): a send fails only when
/// the task has ended.
#[derive(Debug)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    /// A copy of the session's configuration, to check announcements before queueing them.
    check: Session,
    task: JoinHandle<()>,
}

impl Handle {
    /// Adds `prefix` to the desired set (announced while Established).
    pub fn announce(&self, prefix: Prefix, attrs: RouteAttributes) -> Result<(), DriverError> {
        self.check.check_announce(&prefix, &attrs)?;
        self.commands
            .send(Command::Announce(prefix, attrs))
            .map_err(|_| DriverError::Closed)
    }

    /// Removes `prefix` from the desired set (withdrawn at once while Established).
    pub fn withdraw(&self, prefix: Prefix) -> Result<(), DriverError> {
        self.commands
            .send(Command::Withdraw(prefix))
            .map_err(|_| DriverError::Closed)
    }

    /// Stops the session: Cease / Administrative Shutdown with an optional message (RFC 8203),
    /// then the task ends. Returns once it has.
    pub async fn stop(self, message: Option<&str>) -> Result<(), DriverError> {
        let sent = self
            .commands
            .send(Command::Stop(message.map(str::to_owned)));
        let joined = self.task.await;
        match (sent, joined) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(DriverError::Closed),
        }
    }

    /// Ends the task at once, without a NOTIFICATION: the peer sees the TCP connection close
    /// (as on a crash of the process).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Whether the task has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts the driver task on the current tokio runtime. Must be called inside a runtime.
pub fn spawn(
    config: Config,
    io: IoConfig,
) -> Result<(Handle, mpsc::UnboundedReceiver<Event>), DriverError> {
    let now = Instant::now();
    let session = Session::new(config.clone(), now)?;
    let check = Session::new(config, now)?;
    let listener = if session.config().passive {
        let addr = SocketAddr::new(
            io.bind.unwrap_or(match io.peer {
                SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            }),
            BGP_PORT,
        );
        let std = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(|l| {
                // GTSM: accepted sockets inherit the TTL, so the SYN-ACK leaves with 255 too.
                if io.ttl_255 {
                    let s2 = socket2::SockRef::from(&l);
                    match addr {
                        SocketAddr::V4(_) => s2.set_ttl_v4(255)?,
                        SocketAddr::V6(_) => s2.set_unicast_hops_v6(255)?,
                    }
                }
                Ok(l)
            })
            .map_err(|source| DriverError::Listen { addr, source })?;
        Some(TcpListener::from_std(std).map_err(|source| DriverError::Listen { addr, source })?)
    } else {
        None
    };
    let (commands, rx) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(session, io, listener, rx, events_tx));
    Ok((
        Handle {
            commands,
            check,
            task,
        },
        events,
    ))
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

async fn connect(io: IoConfig) -> io::Result<TcpStream> {
    let socket = match io.peer {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = io.bind {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    if io.ttl_255 {
        // The SYN already leaves with TTL 255 (RFC 5082 §3: every packet of the session).
        let s2 = socket2::SockRef::from(&socket);
        match io.peer {
            SocketAddr::V4(_) => s2.set_ttl_v4(255)?,
            SocketAddr::V6(_) => s2.set_unicast_hops_v6(255)?,
        }
    }
    let stream = socket.connect(io.peer).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn read_some(stream: &mut Option<TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn finish_connect(c: &mut Option<Connecting>) -> io::Result<TcpStream> {
    match c {
        Some(f) => f.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn accept_peer(listener: &Option<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The driver loop: drain the session's output, then wait for the first of: a command, bytes
/// from the peer, the connection attempt, an inbound connection (passive), the next timer.
async fn run(
    mut session: Session,
    io: IoConfig,
    listener: Option<TcpListener>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut stream: Option<TcpStream> = None;
    let mut connecting: Option<Connecting> = None;
    let mut stopping = false;
    let mut buf = vec![0u8; 16 * 1024];
    session.start(Instant::now());
    loop {
        // Output, in the documented order: transmits, actions, events (until quiet, since a
        // failed write feeds the session again).
        loop {
            let mut progressed = false;
            while let Some(bytes) = session.poll_transmit() {
                progressed = true;
                // A peer that stops reading must not stall the loop past its hold time.
                let limit = session
                    .negotiated_hold_time()
                    .max(std::time::Duration::from_secs(3));
                if let Some(s) = stream.as_mut()
                    && !matches!(
                        tokio::time::timeout(limit, s.write_all(&bytes)).await,
                        Ok(Ok(()))
                    )
                {
                    stream = None;
                    session.closed(Instant::now());
                }
            }
            while let Some(action) = session.poll_action() {
                progressed = true;
                match action {
                    Action::Connect => {
                        stream = None;
                        connecting = Some(Box::pin(connect(io.clone())));
                    }
                    Action::Disconnect => {
                        connecting = None;
                        if let Some(mut s) = stream.take() {
                            // The peer sees FIN after the NOTIFICATION; an error here means it
                            // is gone already.
                            if s.shutdown().await.is_err() {
                                drop(s);
                            }
                        }
                    }
                }
            }
            while let Some(event) = session.poll_event() {
                progressed = true;
                // A dropped receiver means nobody listens; the session goes on regardless.
                events.send(event).ok();
            }
            if !progressed {
                break;
            }
        }
        if stopping && session.state() == State::Idle {
            return;
        }
        let deadline = session.poll_timeout();
        tokio::select! {
            cmd = commands.recv(), if !stopping => match cmd {
                Some(Command::Announce(prefix, attrs)) => {
                    // Checked by the handle already: this cannot fail.
                    if let Err(e) = session.announce(Instant::now(), prefix, attrs) {
                        debug_assert!(false, "announce checked by the handle failed: {e}");
                    }
                }
                Some(Command::Withdraw(prefix)) => {
                    session.withdraw(Instant::now(), prefix);
                }
                Some(Command::Stop(message)) => {
                    stopping = true;
                    session.stop(Instant::now(), message.as_deref());
                }
                None => {
                    stopping = true;
                    session.stop(Instant::now(), None);
                }
            },
            r = read_some(&mut stream, &mut buf) => match r {
                Ok(0) | Err(_) => {
                    stream = None;
                    session.closed(Instant::now());
                }
                Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            },
            r = finish_connect(&mut connecting) => {
                connecting = None;
                match r {
                    Ok(s) => {
                        stream = Some(s);
                        session.connected(Instant::now());
                    }
                    Err(_) => session.connection_failed(Instant::now()),
                }
            },
            r = accept_peer(&listener) => {
                if let Ok((s, from)) = r {
                    // Only the configured neighbour, and only when the session expects one.
                    let expected = from.ip() == io.peer.ip()
                        && matches!(session.state(), State::Active | State::Connect);
                    if expected {
                        if io.ttl_255 {
                            let hops = socket2::SockRef::from(&s);
                            let set = match from {
                                SocketAddr::V4(_) => hops.set_ttl_v4(255),
                                SocketAddr::V6(_) => hops.set_unicast_hops_v6(255),
                            };
                            if set.is_err() {
                                continue;
                            }
                        }
                        connecting = None;
                        stream = Some(s);
                        session.connected(Instant::now());
                    }
                }
            },
            () = sleep_until(deadline) => session.handle_timeout(Instant::now()),
        }
    }
}
