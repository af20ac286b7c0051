//! TCP half-open check (F5 `tcp_half_open`, `nmap -sS`): a SYN sent from a raw socket; a
//! SYN-ACK back means the port is open, an RST means it is closed, silence means timeout.
//!
//! No connection is ever made: there is no socket for the SYN-ACK on this host, so the kernel
//! answers it with an RST itself (RFC 9293 §3.10.7.1, "If the state is CLOSED"), and the
//! per-check `socket(2)`, `connect(2)` and `close(2)` of a connect check are not paid. One
//! engine per process owns ONE raw IPv4 socket (`CAP_NET_RAW`): probes send their SYN on
//! it and a receiver task drains the segments it receives, handing a
//! SYN-ACK or RST to the probe it answers, matched on (peer address, peer port, our port,
//! acknowledgment = our ISN + 1). ISNs come from a seeded SplitMix64 generator
//! ([`ha_vrrp_proto::rng::Rng`]).
//!
//! Source ports: the engine reserves [`PORTS`] ports by binding ordinary TCP sockets to
//! port 0 without listening or connecting. A bound-only socket is in the bind table (so no
//! other socket of this host takes the port) but not in the lookup tables of incoming
//! segments, so the SYN-ACK finds no socket and the kernel resets it (verified by the host
//! test `host_half_open_up_refused_timeout`, which sees the RST in a capture).
//!
//! A classic BPF filter on the raw socket keeps only SYN-ACK and RST-ACK segments to the
//! reserved ports, so the receiver does not wake for every TCP segment of the host.
//!
//! Limits: the engine is process-wide and belongs to the network namespace of the thread
//! that first ran a half-open check, and its receiver task to that thread's tokio runtime
//! (a new engine is made when that runtime is gone). A reply dropped by the raw socket's
//! receive buffer (4 MiB asked, capped by `net.core.rmem_max`) becomes a timeout.
//!
//! The pure part ([`build_syn`], [`parse_segment`], [`classify`]) is public for tests and
//! fuzzing. IPv4 only (IPv6 is not done: it needs a second raw socket, whose segments
//! arrive without their IP header); an IPv6 check fails with [`Failure::Setup`].

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ha_vrrp_proto::rng::Rng;
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::net::UdpSocket;

use crate::check::TcpCheck;
use crate::outcome::{Failure, Outcome};

/// Source ports each engine reserves; SYNs go out from them in turn, so two probes of the
/// same server reuse a 4-tuple only [`PORTS`] SYNs apart.
pub const PORTS: usize = 64;

/// Errors in a row from the raw socket before the receiver gives up on it.
const MAX_ERRORS: u32 = 64;

/// True for the error a raw socket reports once after an ICMP error for one of its packets
/// (Linux `raw_err` sets `sk_err` for hard ICMP errors such as host unreachable): the
/// next `recv(2)` or `sendto(2)` fails with it and clears it. It is not about the current
/// call, so the call is retried.
fn pending_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::ECONNREFUSED
                | libc::EPROTO
                | libc::EMSGSIZE
                | libc::EACCES
        )
    ) || e.kind() == std::io::ErrorKind::Interrupted
}

/// Receive buffer asked for the raw socket (`SO_RCVBUF`).
const RECV_BUFFER: usize = 4 << 20;

/// How long a looked-up source address is trusted before the route is asked again.
const ROUTE_TTL: Duration = Duration::from_secs(30);

/// TCP flags (RFC 9293 §3.1).
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Length of the SYN this module sends: a TCP header without options.
pub const SYN_LEN: usize = 20;

/// Build the 20-byte TCP header of a SYN from `src:sport` to `dst:dport` with sequence
/// number `seq`, checksum over the IPv4 pseudo-header included (RFC 9293 §3.1, RFC 1071).
#[must_use]
pub fn build_syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, seq: u32) -> [u8; SYN_LEN] {
    let mut h = [0u8; SYN_LEN];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    // Acknowledgment number 0: the ACK bit is off in a first SYN.
    h[12] = 5 << 4; // data offset: 5 words, no options
    h[13] = SYN;
    h[14..16].copy_from_slice(&64240u16.to_be_bytes()); // window
    let sum = tcp_checksum(src, dst, &h);
    h[16..18].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The Internet checksum (RFC 1071) of a TCP segment over the IPv4 pseudo-header
/// (RFC 9293 §3.1: source, destination, zero, protocol 6, TCP length). With the segment's
/// own checksum field in place, a correct segment sums to 0.
#[must_use]
pub fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    use ha_vrrp_proto::wire::checksum::{combine, finish, pseudo_header_sum, sum};
    // A segment longer than u32 cannot come from an IPv4 packet.
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    let header = pseudo_header_sum(src.into(), dst.into(), 6, len);
    finish(combine(header, sum(segment)))
}

/// The fields of a received IPv4 TCP segment that decide a half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// IPv4 source (the probed server).
    pub src: Ipv4Addr,
    /// IPv4 destination (this host).
    pub dst: Ipv4Addr,
    /// TCP source port.
    pub sport: u16,
    /// TCP destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// The flags byte (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
    pub flags: u8,
}

/// Parse an IPv4 packet carrying TCP, as an IPv4 raw socket delivers it (IP header
/// included). `None` for anything else: another version or protocol, a bad header length,
/// a truncated header, or a non-first fragment. Never panics.
#[must_use]
pub fn parse_segment(packet: &[u8]) -> Option<Segment> {
    let (&vihl, _) = packet.split_first()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || packet.len() < ihl + 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let frag = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
    if packet[9] != 6 || frag != 0 || total < ihl + 20 {
        return None;
    }
    let ip4 = |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    let t = &packet[ihl..];
    let u32_at = |at: usize| u32::from_be_bytes([t[at], t[at + 1], t[at + 2], t[at + 3]]);
    if usize::from(t[12] >> 4) < 5 {
        return None;
    }
    Some(Segment {
        src: ip4(12),
        dst: ip4(16),
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: u32_at(4),
        ack: u32_at(8),
        flags: t[13],
    })
}

/// What a segment says about the SYN it acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// SYN-ACK: the port is open (RFC 9293 §3.5, LISTEN state answering a SYN).
    Open,
    /// RST with ACK: the port is closed (RFC 9293 §3.10.7.1, CLOSED state answering a SYN).
    Refused,
}

/// The reply `seg` gives and the ISN of the SYN it answers (`ack - 1`): exactly SYN-ACK, or
/// exactly RST-ACK (an RST answering a SYN always has the ACK bit, RFC 9293 §3.10.7.1),
/// among FIN, SYN, RST and ACK (PSH, URG, ECE, CWR are not looked at). Every other segment
/// (our own SYN seen on loopback, data, an RST without ACK, RST with FIN) is `None`.
#[must_use]
pub fn classify(seg: &Segment) -> Option<(Reply, u32)> {
    let isn = seg.ack.wrapping_sub(1);
    let f = seg.flags & (FIN | SYN | RST | ACK);
    if f == SYN | ACK {
        Some((Reply::Open, isn))
    } else if f == RST | ACK {
        Some((Reply::Refused, isn))
    } else {
        None
    }
}

/// Classic BPF (`SO_ATTACH_FILTER`) for the raw socket: keep only first fragments of
/// segments whose flags are SYN-ACK or RST-ACK (FIN and the others ignored), sent to one of
/// `ports`, and only their first 128 bytes. The raw socket otherwise gets a copy of every
/// TCP segment this host receives: on loopback our own SYN and our kernel's RST too.
/// The same test as [`parse_segment`] + [`classify`] + the port check in software.
fn socket_filter(ports: &[u16]) -> Vec<Insn> {
    // Opcodes (linux/filter.h): class | size | mode.
    const LDH_ABS: u16 = 0x28; // A = u16 at k
    const JSET_K: u16 = 0x45; // if A & k
    const LDX_MSH: u16 = 0xb1; // X = 4 * (u8 at k & 0xf): the IP header length
    const LDB_IND: u16 = 0x50; // A = u8 at X + k
    const LDH_IND: u16 = 0x48; // A = u16 at X + k
    const AND_K: u16 = 0x54; // A &= k
    const JEQ_K: u16 = 0x15; // if A == k
    const RET_K: u16 = 0x06; // keep k bytes (0: drop)
    // At most PORTS ports, so every jump fits in a u8.
    let n = ports.len().min(PORTS) as u8;
    let (drop_at, accept_at) = (8 + n, 9 + n);
    let mut f = vec![
        (LDH_ABS, 0, 0, 6),
        // 1: a non-first fragment carries no TCP header.
        (JSET_K, drop_at - 2, 0, 0x1fff),
        (LDX_MSH, 0, 0, 0),
        (LDB_IND, 0, 0, 13),
        (AND_K, 0, 0, u32::from(FIN | SYN | RST | ACK)),
        // 5: SYN-ACK, go to the ports; 6: RST-ACK, go to the ports, else drop.
        (JEQ_K, 1, 0, u32::from(SYN | ACK)),
        (JEQ_K, 0, drop_at - 7, u32::from(RST | ACK)),
        (LDH_IND, 0, 0, 2),
    ];
    for (i, &port) in ports.iter().take(usize::from(n)).enumerate() {
        // 8 + i: our port, accept.
        f.push((JEQ_K, n - i as u8, 0, u32::from(port)));
    }
    f.push((RET_K, 0, 0, 0));
    f.push((RET_K, 0, 0, 128));
    debug_assert_eq!(f.len(), usize::from(accept_at) + 1);
    f
}

/// One classic BPF instruction: (code, jump if true, jump if false, k).
type Insn = (u16, u8, u8, u32);

/// A pending probe: (server, server port, our port, ISN).
type Key = (Ipv4Addr, u16, u16, u32);

/// The engine's maps hash with [`FoldHasher`]: every key is a few integers, hashed up to
/// five times per check, where SipHash cost more than the map itself.
type FastMap<K, V> = HashMap<K, V, BuildFold>;

/// Builds [`FoldHasher`]s with the engine's random seed.
#[derive(Clone, Copy)]
struct BuildFold(u64);

impl BuildHasher for BuildFold {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// A multiply-and-fold hash of integer keys (the 128-bit product's halves xored, as in
/// wyhash and foldhash), seeded. Not meant to resist chosen keys; it need not: the keys
/// are inserted by this engine only, with random ISNs, and segments from the network only
/// look them up.
struct FoldHasher(u64);

impl FoldHasher {
    fn mix(&mut self, v: u64) {
        let p = u128::from(self.0 ^ v) * 0x9e37_79b9_7f4a_7c15_u128;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    fn finish(&self) -> u64 {
        // One more round so that the last word's bits reach the low bits the table uses.
        let p = u128::from(self.0) * 0xbf58_476d_1ce4_e5b9_u128;
        (p as u64) ^ ((p >> 64) as u64)
    }
}

#[derive(Default)]
struct Pending {
    waker: Option<Waker>,
    /// How the probe ended, once it has.
    done: Option<Done>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Reply(Reply),
    /// No reply by the deadline.
    Expired,
}

/// The probes waiting for a reply, and their deadlines.
struct Table {
    map: FastMap<Key, Pending>,
    /// Deadlines in order (lazily deleted: an entry whose probe is gone or answered is
    /// dropped when it comes up).
    expiry: VecDeque<(Instant, Key)>,
    /// The deadline the receiver task's timer is set to, if any.
    armed: Option<Instant>,
}

impl Table {
    /// Mark the probes whose deadline passed by `now` expired (waking them) and drop the
    /// deadlines of finished probes from the front; the next deadline to wait for.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(at, key)) = self.expiry.front() {
            match self.map.get_mut(&key) {
                Some(p) if p.done.is_none() => {
                    if at > now {
                        return Some(at);
                    }
                    p.done = Some(Done::Expired);
                    if let Some(w) = p.waker.take() {
                        w.wake();
                    }
                }
                _ => {}
            }
            self.expiry.pop_front();
        }
        None
    }
}

/// The shared half-open engine: one raw IPv4 TCP socket, the reserved source ports and the
/// probes waiting for a reply.
struct Engine {
    /// The raw socket, registered with tokio through [`UdpSocket`]: tokio's datagram type
    /// only calls `recv(2)`/`sendto(2)` on its descriptor, which a raw socket serves the
    /// same way, and registering it so needs no `unsafe` (unlike `AsyncFd::register`).
    raw: UdpSocket,
    /// Bound, never listening or connected: they keep the source ports ours.
    _reserved: Vec<Socket>,
    ports: Vec<u16>,
    next_port: AtomicUsize,
    /// ISNs: seeded SplitMix64, nothing secret (a half-open check needs ISNs that do not
    /// repeat, not ones an attacker cannot guess).
    rng: Mutex<Rng>,
    pending: Mutex<Table>,
    /// Tells the receiver task that a deadline earlier than its timer's was added.
    rearm: tokio::sync::Notify,
    routes: Mutex<FastMap<Ipv4Addr, (Ipv4Addr, Instant)>>,
    /// False once the receiver task is gone (its runtime shut down).
    alive: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn setup(what: &str, e: std::io::Error) -> Failure {
    Failure::Setup(format!("half-open {what}: {e}"))
}

impl Engine {
    fn new() -> Result<Self, Failure> {
        let raw = Socket::new(Domain::IPV4, Type::RAW.nonblocking(), Some(Protocol::TCP))
            .map_err(|e| setup("raw socket (needs CAP_NET_RAW)", e))?;
        let mut reserved = Vec::with_capacity(PORTS);
        let mut ports = Vec::with_capacity(PORTS);
        for _ in 0..PORTS {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
                .map_err(|e| setup("port reservation socket", e))?;
            let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
            s.bind(&any.into())
                .map_err(|e| setup("bind port reservation", e))?;
            let port = s
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map(|a| a.port())
                .ok_or_else(|| Failure::Setup("half-open: reserved port unknown".into()))?;
            ports.push(port);
            reserved.push(s);
        }
        // Room for the replies of a few hundred milliseconds at 10,000 checks a second
        // while this process is not scheduled (each queued reply costs its skb's full
        // truesize, about 1 KiB, whatever the filter trimmed); the kernel caps it at
        // net.core.rmem_max. Without it, a 20 ms pause overflows the default 208 KiB and
        // the dropped replies become timeouts.
        let _ = raw.set_recv_buffer_size(RECV_BUFFER);
        let program: Vec<SockFilter> = socket_filter(&ports)
            .into_iter()
            .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
            .collect();
        raw.attach_filter(&program)
            .map_err(|e| setup("SO_ATTACH_FILTER", e))?;
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Ok(Self {
            raw: UdpSocket::from_std(std::net::UdpSocket::from(raw))
                .map_err(|e| setup("tokio register", e))?,
            _reserved: reserved,
            ports,
            next_port: AtomicUsize::new(0),
            rng: Mutex::new(Rng::new(seed)),
            pending: Mutex::new(Table {
                map: HashMap::with_hasher(BuildFold(seed.rotate_left(17))),
                expiry: VecDeque::new(),
                armed: None,
            }),
            rearm: tokio::sync::Notify::new(),
            routes: Mutex::new(HashMap::with_hasher(BuildFold(seed.rotate_left(41)))),
            alive: AtomicBool::new(true),
        })
    }

    /// The source address the kernel will put on a packet to `dst` (a route lookup by a
    /// connected UDP socket, cached for [`ROUTE_TTL`]): the checksum covers it.
    fn source_for(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, Failure> {
        let now = Instant::now();
        if let Some(&(src, at)) = lock(&self.routes).get(&dst)
            && now.duration_since(at) < ROUTE_TTL
        {
            return Ok(src);
        }
        let udp = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(|e| setup("route lookup socket", e))?;
        udp.connect((dst, 9)).map_err(|e| match e.raw_os_error() {
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Failure::Unreachable,
            _ => setup("route lookup", e),
        })?;
        let src = match udp.local_addr().map_err(|e| setup("route lookup", e))? {
            SocketAddr::V4(a) => *a.ip(),
            SocketAddr::V6(_) => return Err(Failure::Setup("half-open: IPv6 source".into())),
        };
        lock(&self.routes).insert(dst, (src, now));
        Ok(src)
    }

    /// Drain the raw socket, completing the probes the segments answer. Returns when the
    /// socket would block, or with the error after [`MAX_ERRORS`] errors in a row.
    fn drain(&self, buf: &mut [u8]) -> std::io::Result<()> {
        let mut errors = 0;
        loop {
            // A datagram longer than `buf` is truncated: only the headers matter.
            let n = match self.raw.try_recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(e),
                // An ICMP error for one of the SYNs (host unreachable, ...) is reported
                // once on the raw socket (`sk_err`, see `pending_error`) and says nothing
                // about which probe: skip it.
                Err(_) if errors < MAX_ERRORS => {
                    errors += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            errors = 0;
            let Some(seg) = parse_segment(&buf[..n]) else {
                continue;
            };
            let Some((reply, isn)) = classify(&seg) else {
                continue;
            };
            if !self.ports.contains(&seg.dport) {
                continue;
            }
            let mut pending = lock(&self.pending);
            if let Some(p) = pending.map.get_mut(&(seg.src, seg.sport, seg.dport, isn))
                && p.done.is_none()
            {
                p.done = Some(Done::Reply(reply));
                if let Some(w) = p.waker.take() {
                    w.wake();
                }
            }
        }
    }
}

/// The process's engine, made (with its receiver task on the current runtime) on first use
/// and again after the runtime of the previous one shut down.
static ENGINE: Mutex<Option<Arc<Engine>>> = Mutex::new(None);

fn engine() -> Result<Arc<Engine>, Failure> {
    let mut slot = lock(&ENGINE);
    if let Some(e) = slot.as_ref()
        && e.alive.load(Ordering::Acquire)
    {
        return Ok(Arc::clone(e));
    }
    let e = Arc::new(Engine::new()?);
    tokio::spawn(receive(Receiver(Arc::clone(&e))));
    *slot = Some(Arc::clone(&e));
    Ok(e)
}

/// Marks the engine dead and wakes its probes when the receiver task is dropped.
struct Receiver(Arc<Engine>);

impl Drop for Receiver {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
        for p in lock(&self.0.pending).map.values_mut() {
            if let Some(w) = p.waker.take() {
                w.wake();
            }
        }
    }
}

/// The receiver task: completes probes with the replies read from the raw socket, and
/// with their deadlines (one timer for every probe of the engine, instead of a tokio timer
/// registered and cancelled per probe).
async fn receive(rx: Receiver) {
    let engine = &rx.0;
    let mut buf = [0u8; 128];
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    loop {
        let armed = {
            let mut t = lock(&engine.pending);
            let next = t.expire(Instant::now());
            // Re-armed for an earlier deadline only: a later one is found when the armed
            // one fires (a reset costs tokio a timer wheel update and often a wakeup of its
            // driver through the eventfd).
            if let Some(next) = next
                && t.armed.is_none_or(|a| next < a)
            {
                t.armed = Some(next);
            }
            t.armed
        };
        if let Some(at) = armed
            && timer.deadline() != tokio::time::Instant::from_std(at)
        {
            timer.as_mut().reset(tokio::time::Instant::from_std(at));
        }
        tokio::select! {
            ready = engine.raw.readable() => {
                if ready.is_err() {
                    return;
                }
                // `try_recv` clears the readiness when it would block.
                match engine.drain(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    // The socket is broken: the next probe makes another engine.
                    Err(_) | Ok(()) => return,
                }
            }
            () = &mut timer, if armed.is_some() => {
                lock(&engine.pending).armed = None;
            }
            () = engine.rearm.notified() => {}
        }
    }
}

/// Removes a probe's entry however it ends (reply, timeout, cancellation).
struct Registered<'a> {
    engine: &'a Engine,
    key: Key,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.engine.pending).map.remove(&self.key);
    }
}

/// Run one half-open check of `c.addr`, within `timeout` (kept by the engine's receiver
/// task, so the caller sets no timer of its own).
pub(crate) async fn run(c: &TcpCheck, timeout: Duration) -> Result<Outcome, Failure> {
    let deadline = Instant::now() + timeout;
    let o = &c.socket;
    if c.send.is_some() || c.expect.is_some() {
        return Err(Failure::Setup(
            "half-open: a TCP check with send/expect needs a connection".into(),
        ));
    }
    if o.bind_addr.is_some() || o.bind_port.is_some() || o.interface.is_some() || o.fwmark.is_some()
    {
        return Err(Failure::Setup(
            "half-open: bind address/port, interface and fwmark are not supported".into(),
        ));
    }
    let SocketAddr::V4(peer) = c.addr else {
        return Err(Failure::Setup("half-open: IPv4 only".into()));
    };
    let engine = engine()?;
    let src = engine.source_for(*peer.ip())?;
    let port = engine.ports[engine.next_port.fetch_add(1, Ordering::Relaxed) % engine.ports.len()];
    let registered = loop {
        // The low 32 bits of a 64-bit draw: the ISN.
        let isn = lock(&engine.rng).next_u64() as u32;
        let key = (*peer.ip(), peer.port(), port, isn);
        let mut t = lock(&engine.pending);
        if let std::collections::hash_map::Entry::Vacant(v) = t.map.entry(key) {
            v.insert(Pending::default());
            // In deadline order: at the back unless a shorter timeout came after a longer.
            let at = t.expiry.partition_point(|&(d, _)| d <= deadline);
            t.expiry.insert(at, (deadline, key));
            if t.armed.is_none_or(|a| deadline < a) {
                engine.rearm.notify_one();
            }
            break Registered {
                engine: &engine,
                key,
            };
        }
    };
    let syn = build_syn(src, port, *peer.ip(), peer.port(), registered.key.3);
    // Raw IPv4 sockets take no port: the TCP header carries it.
    let to = SocketAddr::V4(SocketAddrV4::new(*peer.ip(), 0));
    let mut retries = 0;
    loop {
        match engine.raw.try_send_to(&syn, to) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let wait = engine.raw.writable();
                match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), wait).await
                {
                    Ok(r) => r.map_err(|e| setup("send", e))?,
                    Err(_) => return Err(Failure::Timeout),
                }
            }
            // Most likely another probe's ICMP error, cleared by reporting it: once more.
            Err(e) if pending_error(&e) && retries < 2 => retries += 1,
            Err(e) => return Err(Failure::from_io(&e)),
        }
    }
    let reply = poll_fn(|cx| {
        let mut t = lock(&engine.pending);
        let Some(p) = t.map.get_mut(&registered.key) else {
            return Poll::Ready(None);
        };
        if let Some(done) = p.done {
            return Poll::Ready(Some(done));
        }
        if !engine.alive.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        match &p.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => p.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    })
    .await;
    drop(registered);
    match reply {
        Some(Done::Reply(Reply::Open)) => Ok(Outcome::UP),
        Some(Done::Reply(Reply::Refused)) => Err(Failure::Refused),
        Some(Done::Expired) => Err(Failure::Timeout),
        None => Err(Failure::Setup("half-open: receiver stopped".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A hand-made IPv4 header (no options) in front of `tcp`.
    fn ip4(src: Ipv4Addr, dst: Ipv4Addr, tcp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
        let total = (20 + tcp.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(tcp);
        p
    }

    /// The deadline queue: expired probes are marked (and only those), answered and gone
    /// ones are skipped, and the next deadline is that of the oldest waiting probe.
    #[test]
    fn table_expires_in_deadline_order_and_skips_finished_probes() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let key = |n: u32| (Ipv4Addr::LOCALHOST, 80, 40000, n);
        let mut t = Table {
            map: HashMap::with_hasher(BuildFold(3)),
            expiry: VecDeque::new(),
            armed: None,
        };
        for (n, at) in [(1, 100), (2, 200), (3, 300), (4, 400)] {
            t.map.insert(key(n), Pending::default());
            t.expiry.push_back((ms(at), key(n)));
        }
        t.map.get_mut(&key(1)).unwrap().done = Some(Done::Reply(Reply::Open)); // answered
        t.map.remove(&key(3)); // gone (its probe was dropped)
        assert_eq!(t.expire(ms(50)), Some(ms(200)), "1 is answered: 2 is next");
        assert_eq!(t.map[&key(2)].done, None);
        assert_eq!(t.expire(ms(350)), Some(ms(400)));
        assert_eq!(
            t.map[&key(2)].done,
            Some(Done::Expired),
            "2 passed its deadline"
        );
        assert_eq!(t.map[&key(4)].done, None);
        assert_eq!(t.map[&key(1)].done, Some(Done::Reply(Reply::Open)));
        assert_eq!(t.expire(ms(400)), None);
        assert_eq!(t.map[&key(4)].done, Some(Done::Expired));
        assert!(t.expiry.is_empty());
    }

    /// The low bits a table uses are spread for keys that differ in one field only (as the
    /// probes of one target do, by ISN) and for keys that differ by target and port.
    #[test]
    fn fold_hash_spreads_integer_keys() {
        let b = BuildFold(0x1234_5678_9abc_def0);
        let buckets = |keys: &mut dyn Iterator<Item = Key>| {
            let mut seen = std::collections::HashSet::new();
            for k in keys {
                seen.insert(b.hash_one(k) & 4095);
            }
            seen.len()
        };
        // 10,000 keys into 4,096 buckets: about 3,730 expected at random.
        let by_isn = buckets(&mut (0..10_000u32).map(|i| (Ipv4Addr::LOCALHOST, 80, 40000, i)));
        let by_target = buckets(&mut (0..10_000u32).map(|i| {
            let ip = Ipv4Addr::from(0x0a00_0000 + i / 50);
            (ip, 8000 + (i % 50) as u16, 40000, 7)
        }));
        assert!(by_isn > 3_500, "{by_isn}");
        assert!(by_target > 3_500, "{by_target}");
        assert_ne!(
            BuildFold(1).hash_one(0u32),
            BuildFold(2).hash_one(0u32),
            "seeded"
        );
    }

    #[test]
    fn syn_checksum_known_vector() {
        // Checked by tshark (`tcp.checksum.status` Good) on a pcap of this very segment;
        // see host_half_open_syn_checksum_tshark for the live comparison.
        let h = build_syn(
            Ipv4Addr::new(10, 0, 0, 1),
            40000,
            Ipv4Addr::new(10, 0, 0, 2),
            80,
            0x0102_0304,
        );
        assert_eq!(u16::from_be_bytes([h[16], h[17]]), KNOWN_CHECKSUM);
        assert_eq!(
            tcp_checksum(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), &h),
            0
        );
        assert_eq!(h[13], SYN);
        assert_eq!(u16::from_be_bytes([h[0], h[1]]), 40000);
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 80);
    }

    /// From tshark; see `syn_checksum_known_vector`.
    const KNOWN_CHECKSUM: u16 = 0x0059;

    #[test]
    fn checksum_odd_length_pads_with_zero() {
        let a = Ipv4Addr::new(1, 2, 3, 4);
        let b = Ipv4Addr::new(5, 6, 7, 8);
        // One trailing byte x counts as the 16-bit word x00 (RFC 1071 §4.1); the length
        // in the pseudo-header differs, so compare against a manual sum.
        let odd = tcp_checksum(a, b, &[0xab]);
        let manual = {
            let s: u32 = 0x0102 + 0x0304 + 0x0506 + 0x0708 + 6 + 1 + 0xab00;
            let s = (s & 0xffff) + (s >> 16);
            !(s as u16)
        };
        assert_eq!(odd, manual);
    }

    #[test]
    fn parse_and_classify_replies() {
        let srv = Ipv4Addr::new(127, 0, 0, 2);
        let me = Ipv4Addr::new(127, 0, 0, 1);
        let mut tcp = build_syn(srv, 80, me, 40000, 77).to_vec();
        tcp[8..12].copy_from_slice(&1001u32.to_be_bytes());
        tcp[13] = SYN | ACK;
        let seg = parse_segment(&ip4(srv, me, &tcp)).unwrap();
        assert_eq!(
            (seg.src, seg.dst, seg.sport, seg.dport),
            (srv, me, 80, 40000)
        );
        assert_eq!(seg.seq, 77);
        assert_eq!(classify(&seg), Some((Reply::Open, 1000)));
        tcp[13] = RST | ACK;
        let seg = parse_segment(&ip4(srv, me, &tcp)).unwrap();
        assert_eq!(classify(&seg), Some((Reply::Refused, 1000)));
        // Our own SYN (seen on loopback), a bare RST, a plain ACK: not replies.
        for flags in [SYN, RST, ACK, FIN | ACK, SYN | RST | ACK] {
            tcp[13] = flags;
            let seg = parse_segment(&ip4(srv, me, &tcp)).unwrap();
            assert_eq!(classify(&seg), None, "flags {flags:#x}");
        }
        // Not TCP, a fragment, truncated, IPv6.
        let mut p = ip4(srv, me, &tcp);
        p[9] = 17;
        assert_eq!(parse_segment(&p), None);
        let mut p = ip4(srv, me, &tcp);
        p[7] = 1;
        assert_eq!(parse_segment(&p), None);
        let p = ip4(srv, me, &tcp);
        assert_eq!(parse_segment(&p[..39]), None);
        let mut p = ip4(srv, me, &tcp);
        p[0] = 0x65;
        assert_eq!(parse_segment(&p), None);
        // IP options (IHL 6) are skipped.
        let mut p = vec![0x46, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0];
        p.extend_from_slice(&srv.octets());
        p.extend_from_slice(&me.octets());
        p.extend_from_slice(&[1, 1, 1, 0]);
        tcp[13] = SYN | ACK;
        p.extend_from_slice(&tcp);
        assert_eq!(parse_segment(&p).unwrap().sport, 80);
    }

    /// What the half-open mode cannot do is refused up front, before any socket exists
    /// (so this runs without privileges).
    #[tokio::test]
    async fn unsupported_uses_are_setup_failures() {
        use crate::check::{Check, HttpCheck, TcpClose};
        let t = Duration::from_secs(1);
        let setup_failure = |o: Outcome, what: &str| match o {
            Outcome::Down(Failure::Setup(m)) => assert!(m.contains(what), "{m}"),
            o => panic!("expected a setup failure about {what}, got {o:?}"),
        };
        let mut h = HttpCheck::new("127.0.0.1:1".parse().unwrap(), "/");
        h.socket.close = TcpClose::HalfOpen;
        setup_failure(super::super::run(&Check::from(h), t).await, "plain TCP");
        let mut c = TcpCheck::new("127.0.0.1:1".parse().unwrap());
        c.socket.close = TcpClose::HalfOpen;
        c.send = Some(b"x".to_vec());
        setup_failure(super::super::run(&Check::Tcp(c.clone()), t).await, "send");
        c.send = None;
        c.socket.fwmark = Some(1);
        setup_failure(super::super::run(&Check::Tcp(c.clone()), t).await, "fwmark");
        c.socket.fwmark = None;
        c.addr = "[::1]:1".parse().unwrap();
        setup_failure(super::super::run(&Check::Tcp(c), t).await, "IPv4");
    }

    /// A classic BPF interpreter for the opcodes [`socket_filter`] uses (as the kernel
    /// runs them: an out-of-bounds load drops the packet). Returns the bytes kept.
    fn run_filter(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| pkt.get(at).map(|&b| u32::from(b));
        let half = |at: usize| Some(byte(at)? << 8 | byte(at + 1)?);
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            let jump = |c: bool| usize::from(if c { jt } else { jf });
            match code {
                0x28 => match half(k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0x48 => match half(x as usize + k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0x50 => match byte(x as usize + k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0xb1 => match byte(k as usize) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                0x54 => a &= k,
                0x45 => pc += jump(a & k != 0),
                0x15 => pc += jump(a == k),
                0x06 => return k,
                other => panic!("opcode {other:#x} not interpreted"),
            }
        }
    }

    /// What the filter must keep: the software test of [`Engine::drain`] (the filter may
    /// keep more, e.g. a header too short to parse, which software drops then).
    fn wanted(ports: &[u16], pkt: &[u8]) -> bool {
        parse_segment(pkt).is_some_and(|s| classify(&s).is_some() && ports.contains(&s.dport))
    }

    #[test]
    fn filter_keeps_replies_to_our_ports_only() {
        let ports: Vec<u16> = (0..PORTS as u16).map(|p| 40000 + 7 * p).collect();
        let prog = socket_filter(&ports);
        assert_eq!(prog.len(), 10 + PORTS);
        let (srv, me) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 1));
        for (flags, dport, keep) in [
            (SYN | ACK, ports[0], true),
            (SYN | ACK, ports[PORTS - 1], true),
            (RST | ACK, ports[5], true),
            (SYN | ACK | 0x08, ports[5], true), // PSH is not looked at
            (SYN, ports[5], false),
            (RST, ports[5], false),
            (ACK, ports[5], false),
            (SYN | ACK, ports[5] + 1, false),
            (RST | ACK, 80, false),
        ] {
            let mut tcp = build_syn(srv, 80, me, dport, 1).to_vec();
            tcp[13] = flags;
            let pkt = ip4(srv, me, &tcp);
            assert_eq!(
                run_filter(&prog, &pkt) > 0,
                keep,
                "flags {flags:#x} port {dport}"
            );
            assert_eq!(wanted(&ports, &pkt), keep);
            // A non-first fragment never.
            let mut frag = pkt.clone();
            frag[7] = 3;
            assert_eq!(run_filter(&prog, &frag), 0);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Some(seg) = parse_segment(&data) {
                let _ = classify(&seg);
            }
        }

        /// Whatever the filter drops, software would have dropped too.
        #[test]
        fn filter_drops_nothing_wanted(
            data in proptest::collection::vec(any::<u8>(), 0..80),
            flags in any::<u8>(), port_ix in 0usize..70, ihl in 5u8..8,
        ) {
            let ports: Vec<u16> = (0..PORTS as u16).map(|p| 50000 + p).collect();
            let prog = socket_filter(&ports);
            // A mostly well-formed packet: random options and TCP bytes, chosen flags/port.
            let mut pkt = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0];
            pkt.extend_from_slice(&[127, 0, 0, 2, 127, 0, 0, 1]);
            pkt.resize(usize::from(ihl) * 4, 1);
            let mut tcp = data.clone();
            tcp.resize(20.max(data.len()), 0);
            tcp[12] = 0x50;
            tcp[13] = flags;
            let port = ports.get(port_ix).copied().unwrap_or(80);
            tcp[2..4].copy_from_slice(&port.to_be_bytes());
            pkt.extend_from_slice(&tcp);
            let total = pkt.len() as u16;
            pkt[2..4].copy_from_slice(&total.to_be_bytes());
            let keep = run_filter(&prog, &pkt) > 0;
            prop_assert_eq!(keep, wanted(&ports, &pkt));
            // And on arbitrary bytes the filter never keeps what software wants to drop
            // by flags.
            if run_filter(&prog, &data) == 0 {
                prop_assert!(!wanted(&ports, &data));
            }
        }

        #[test]
        fn built_syn_checksums_to_zero(
            s in any::<u32>(), d in any::<u32>(), sp in any::<u16>(), dp in any::<u16>(),
            seq in any::<u32>(),
        ) {
            let (s, d) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
            let h = build_syn(s, sp, d, dp, seq);
            prop_assert_eq!(tcp_checksum(s, d, &h), 0);
            let seg = parse_segment(&ip4(s, d, &h)).unwrap();
            prop_assert_eq!((seg.sport, seg.dport, seg.seq, seg.flags), (sp, dp, seq, SYN));
        }
    }
}
