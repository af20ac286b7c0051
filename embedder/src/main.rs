//! `vrrp-embed`: a small TCP service that floats its own address with VRRPv3.
//!
//! This is what an outside program looks like when it adds failover with the ha crates but
//! keeps its own event loop: one thread, one `mio::Poll` (epoll) for everything, no tokio.
//!
//! - `ha_vrrp_proto::router::Router` decides (RFC 9568 section 6): the loop feeds it received
//!   adverts and the clock, and drains what it asks for: adverts to send, and become
//!   master / backup.
//! - `ha_vrrp_proto::wire` checks each received message (RFC 9568 section 7.1) and writes
//!   each advert.
//! - `ha_arp::Announcer` schedules the gratuitous ARPs after a takeover (RFC 9568 section
//!   6.4.1) and `ha_arp::Sender` sends them on the interface.
//! - The service itself is a TCP listener on `--port` that answers every connection with
//!   `--name` and a newline, so a client can tell which node holds the address.
//!
//! The address is added and removed with `ip addr` (iproute2): the example keeps to the two
//! crates it shows. SIGTERM or SIGINT make a master send priority 0 (RFC 9568 section 6.4.3:
//! its backup takes over after Skew_Time instead of Master_Down_Interval) and remove the
//! address before exiting.
//!
//! ```text
//! vrrp-embed --interface eth0 --source 10.0.0.1 --vrid 51 --priority 150 \
//!     --interval-ms 100 --vip 10.0.0.100 --port 7000 --name node-a
//! ```
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ha_arp::{Announcer, Interface, Pacing, Sender, SourceMac};
use ha_vrrp_proto::router::{Action, Config, Router, RxAdvert, Transmit};
use ha_vrrp_proto::wire::{self, Addresses, Advert, Auth, ChecksumMode, Family, RxContext};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, DropReason, Priority, Seconds, Version, VrId};
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "vrrp-embed",
    version,
    about = "A TCP greeting service with VRRPv3 failover"
)]
struct Args {
    /// The interface VRRP runs on and the address is added to.
    #[arg(long)]
    interface: String,
    /// This node's own IPv4 address on the interface (the adverts' source and tie-break).
    #[arg(long)]
    source: Ipv4Addr,
    /// The virtual router id (1-255).
    #[arg(long)]
    vrid: u8,
    /// This node's priority (1-254).
    #[arg(long, default_value_t = 100)]
    priority: u8,
    /// The advertisement interval in milliseconds (a multiple of 10).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u16,
    /// The floating address.
    #[arg(long)]
    vip: Ipv4Addr,
    /// The service's TCP port.
    #[arg(long, default_value_t = 7000)]
    port: u16,
    /// What the service answers.
    #[arg(long, default_value = "vrrp-embed")]
    name: String,
}

const VRRP: Token = Token(0);
const SERVICE: Token = Token(1);

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp-embed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The VRRP socket: raw IPv4 protocol 112, bound to the interface, in the VRRP group, sending
/// with TTL 255 (RFC 9568 section 5.1.1.3) and without looping its own adverts back.
fn vrrp_socket(args: &Args, ifindex: u32) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(ha_vrrp_proto::IP_PROTOCOL))),
    )?;
    s.bind_device(Some(args.interface.as_bytes()))?;
    s.join_multicast_v4_n(
        &wire::MULTICAST_V4,
        &socket2::InterfaceIndexOrAddress::Index(ifindex),
    )?;
    s.set_multicast_if_v4(&args.source)?;
    s.set_multicast_ttl_v4(u32::from(wire::TTL))?;
    s.set_multicast_loop_v4(false)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Runs `ip` with `argv`; `what` names the change in the error.
fn ip(argv: &[&str], what: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(argv)
        .output()
        .map_err(|e| format!("{what}: running ip: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Adding an address that is there, or removing one that is not, is the state we want.
    if out.status.success()
        || stderr.contains("File exists")
        || stderr.contains("Cannot assign requested address")
    {
        Ok(())
    } else {
        Err(format!("{what}: ip {}: {}", argv.join(" "), stderr.trim()))
    }
}

/// What the loop holds besides the sockets.
struct Node<'a> {
    args: &'a Args,
    router: Router,
    announcer: Announcer<u8>,
    iface: Interface,
    arp: Sender,
    vrrp: Socket,
    vips: [Ipv4Addr; 1],
    holding: bool,
    buf: Vec<u8>,
}

impl Node<'_> {
    /// Sends one advert the router asked for.
    fn send(&mut self, t: Transmit) -> Result<(), String> {
        let AdvertInterval::V3(interval) = t.interval else {
            return Err("only VRRPv3 is configured".into());
        };
        let addresses = Addresses::v4(&self.vips).map_err(|e| e.to_string())?;
        let advert = Advert::v3(t.vrid, t.priority, interval, addresses);
        let dst = t.destination.addr();
        let src = IpAddr::V4(self.args.source);
        let n = advert
            .emit(&mut self.buf, ChecksumMode::Standard, src, dst)
            .map_err(|e| e.to_string())?;
        let to = match dst {
            IpAddr::V4(a) => SockAddr::from(SocketAddrV4::new(a, 0)),
            IpAddr::V6(_) => return Err("IPv6 destination on an IPv4 router".into()),
        };
        match self.vrrp.send_to(&self.buf[..n], &to) {
            Ok(_) => Ok(()),
            // A full queue or a link going down loses one advert; the next one follows.
            Err(e) => {
                eprintln!("vrrp-embed: sending an advert: {e}");
                Ok(())
            }
        }
    }

    /// Applies what the router decided to the host.
    fn apply(&mut self, action: Action, now: Instant) -> Result<(), String> {
        let vip = format!("{}/32", self.vips[0]);
        let dev = self.args.interface.as_str();
        match action {
            Action::BecomeMaster { .. } => {
                ip(&["addr", "add", &vip, "dev", dev], "adding the address")?;
                self.holding = true;
                let addrs = [IpAddr::V4(self.vips[0])];
                self.announcer.announce(
                    now,
                    self.args.vrid,
                    &self.iface,
                    &addrs,
                    SourceMac::Interface,
                );
                println!("-> Master ({} on {dev})", self.vips[0]);
            }
            other => {
                self.announcer.cancel(now, &self.args.vrid);
                if self.holding {
                    ip(&["addr", "del", &vip, "dev", dev], "removing the address")?;
                    self.holding = false;
                }
                println!("-> {other:?}");
            }
        }
        Ok(())
    }

    /// Drains everything the router and the announcer have queued.
    fn drive(&mut self, now: Instant) -> Result<(), String> {
        while let Some(t) = self.router.poll_transmit() {
            self.send(t)?;
        }
        while let Some(a) = self.router.poll_action() {
            self.apply(a, now)?;
        }
        while let Some(e) = self.router.poll_event() {
            println!("event: {e:?}");
        }
        while let Some(tx) = self.announcer.poll_transmit() {
            if let Err(e) = self.arp.send(tx.bytes) {
                eprintln!("vrrp-embed: gratuitous ARP: {e}");
            }
        }
        Ok(())
    }

    /// Reads every queued message from the VRRP socket and feeds the valid ones.
    fn receive(&mut self, now: Instant) -> io::Result<()> {
        let mut pkt = [0u8; 1500];
        loop {
            let n = match (&self.vrrp).read(&mut pkt) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // A raw IPv4 socket reads the IP header too: TTL, source and destination are
            // what RFC 9568 section 7.1 checks besides the message.
            let Some(&first) = pkt.get(..n).and_then(|p| p.first()) else {
                continue;
            };
            let ihl = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || ihl < 20 || n < ihl {
                continue;
            }
            let ttl = pkt[8];
            let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
            if src == self.args.source {
                continue;
            }
            let ctx = RxContext {
                version: Version::V3,
                vrid: self.router.config().vrid,
                family: Family::Ipv4,
                auth: Auth::None,
                v2_interval: Seconds(1),
                checksum_mode: ChecksumMode::Standard,
                src: IpAddr::V4(src),
                dst: IpAddr::V4(dst),
                ttl,
            };
            let packet = wire::Packet::new_unchecked(&pkt[ihl..n], Family::Ipv4);
            match wire::validate(&packet, &ctx) {
                Ok(adv) => self.router.handle_advert(
                    now,
                    RxAdvert::new(IpAddr::V4(src), adv.vrid, adv.priority, adv.interval),
                ),
                // Another VRID on the same group is normal; the rest is worth a line.
                Err(e) if e.reason() == DropReason::VridMismatch => {}
                Err(e) => eprintln!("vrrp-embed: dropped an advert from {src}: {e}"),
            }
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let vrid = VrId::new(args.vrid).ok_or("--vrid: 1 to 255")?;
    let interval = Centiseconds::new(args.interval_ms / 10)
        .filter(|_| args.interval_ms.is_multiple_of(10))
        .ok_or("--interval-ms: a multiple of 10 from 10 to 40950")?;
    let arp = Sender::bind(args.interface.as_str()).map_err(|e| e.to_string())?;
    let iface = arp.interface().map_err(|e| e.to_string())?;
    let vrrp = vrrp_socket(args, iface.ifindex)
        .map_err(|e| format!("VRRP socket on {}: {e}", args.interface))?;

    let mut cfg = Config::new(Version::V3, vrid, IpAddr::V4(args.source));
    cfg.priority = Priority(args.priority);
    cfg.advert_interval = AdvertInterval::V3(interval);
    let now = Instant::now();
    let router = Router::new(cfg, now).map_err(|e| e.to_string())?;

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(|e| e.to_string())?;
    }

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let fd = vrrp.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), VRRP, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.port);
    let mut listener = TcpListener::bind(addr).map_err(|e| format!("listening on {addr}: {e}"))?;
    poll.registry()
        .register(&mut listener, SERVICE, Interest::READABLE)
        .map_err(|e| e.to_string())?;

    let mut node = Node {
        args,
        router,
        announcer: Announcer::new(ha_arp::Config::default(), Pacing::default()),
        iface,
        arp,
        vrrp,
        vips: [args.vip],
        holding: false,
        buf: vec![0u8; 1500],
    };
    println!(
        "vrrp-embed: VRID {} priority {} on {} ({}), service on port {}",
        args.vrid, args.priority, args.interface, args.source, args.port
    );
    let mut events = Events::with_capacity(16);
    let mut stopping = false;
    loop {
        let now = Instant::now();
        let deadline = [node.router.poll_timeout(), node.announcer.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        // The signal flag is checked at least every 100 ms even if a signal raced the poll.
        let wait = deadline
            .map(|d| d.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = Instant::now();
        for ev in events.iter() {
            match ev.token() {
                VRRP => node.receive(now).map_err(|e| format!("VRRP socket: {e}"))?,
                SERVICE => serve(&listener, &args.name),
                _ => {}
            }
        }
        if term.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            // RFC 9568 section 6.4.3 (Shutdown): a master sends priority 0; either state
            // leaves the address.
            node.router.shutdown(now);
        }
        if node.router.poll_timeout().is_some_and(|t| t <= now) {
            node.router.handle_timeout(now);
        }
        if node.announcer.poll_timeout().is_some_and(|t| t <= now) {
            node.announcer.handle_timeout(now);
        }
        node.drive(now)?;
        if stopping && node.router.is_stopped() {
            println!("vrrp-embed: stopped");
            return Ok(());
        }
    }
}

/// Answers every waiting connection with the node's name.
fn serve(listener: &TcpListener, name: &str) {
    loop {
        match listener.accept() {
            Ok((mut conn, _)) => {
                // A fresh connection's send buffer is empty: one short write fits.
                let _ = conn.write_all(format!("{name}\n").as_bytes());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("vrrp-embed: accept: {e}");
                return;
            }
        }
    }
}
