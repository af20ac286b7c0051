//! `check-scale`: the health checker at scale on loopback.
//!
//! Runs N targets (default 10,000 TCP connect checks, or `--kind http` for HTTP GETs) at a
//! 1 s interval for 30 s against listeners on 127.0.0.x that a child process of this program
//! opens (so that this process's CPU and memory figures are the checker's alone), then
//! prints: checks per second, CPU time per check and in % of one core (getrusage), peak
//! memory (VmHWM from /proc/self/status) and how late checks ran against their schedule
//! (p50/p99/max of the start against the due time, and of the gap between two checks of a
//! target against the interval), with the load average around the run.
//!
//! ```text
//! check-scale                                   # 10,000 TCP targets, 1 s, 30 s
//! check-scale --kind http --targets 2000        # 2,000 HTTP targets
//! check-scale --kind tcp-half-open              # 10,000 SYN / SYN-ACK checks (CAP_NET_RAW)
//! check-scale --driver spawn --graceful-close   # the previous driver and FIN close
//! ```
//!
//! Only loopback addresses are used; the run is bounded by `--duration`.
#![deny(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use ha_examples::floor::thread_cpu;
use ha_examples::sys::{cpu_times, raise_nofile, register_listener};
use ha_healthcheck::probe::{self, InFlight};
use ha_healthcheck::{
    Check, HttpCheck, Outcome, ProbeId, ProbeRequest, Scheduler, SchedulerConfig, SocketOptions,
    TargetConfig, TargetId, TcpCheck, TcpClose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// TCP connect.
    Tcp,
    /// HTTP GET / expecting 200.
    Http,
    /// TCP half-open: a SYN from a raw socket, SYN-ACK = up (`TcpClose::HalfOpen`; needs
    /// CAP_NET_RAW).
    TcpHalfOpen,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Driver {
    /// One task polls every probe (`ha_healthcheck::probe::InFlight`).
    Inflight,
    /// A tokio task and a channel message per probe (the previous driver, to compare).
    Spawn,
}

#[derive(Parser, Debug)]
#[command(
    name = "check-scale",
    version = ha_examples::VERSION,
    about = "Health checker scale benchmark on loopback"
)]
struct Cli {
    /// Check type.
    #[arg(long, value_enum, default_value_t = Kind::Tcp)]
    kind: Kind,
    /// Number of targets.
    #[arg(long, default_value_t = 10_000)]
    targets: u64,
    /// Check interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Run time in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Number of listening addresses (127.0.0.1, 127.0.0.2, ...).
    #[arg(long, default_value_t = 10)]
    addrs: u8,
    /// Listening ports per address (from --base-port).
    #[arg(long, default_value_t = 5)]
    ports: u16,
    /// First listening port.
    #[arg(long, default_value_t = 47000)]
    base_port: u16,
    /// How probes are run.
    #[arg(long, value_enum, default_value_t = Driver::Inflight)]
    driver: Driver,
    /// Most probes in flight at once (inflight driver); due checks wait beyond it. 0: 4096
    /// for TCP (a few hundred bytes each), 1024 for HTTP (tens of KiB each: a starved
    /// checker then shows late checks instead of growing past its memory budget).
    #[arg(long, default_value_t = 0)]
    max_inflight: usize,
    /// Scheduler timer slack in milliseconds (`SchedulerConfig::timer_slack`): the checker
    /// wakes at most once per step and a check starts at most this late. 0: exact.
    #[arg(long, default_value_t = 10)]
    slack_ms: u64,
    /// Close with a FIN handshake instead of an RST (SO_LINGER 0, the default).
    #[arg(long)]
    graceful_close: bool,
    /// Internal: run as the listener process.
    #[arg(long, hide = true)]
    serve: bool,
}

fn listen_addrs(cli: &Cli) -> Vec<SocketAddr> {
    let mut v = Vec::new();
    for a in 0..cli.addrs {
        for p in 0..cli.ports {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, a + 1));
            v.push(SocketAddr::new(ip, cli.base_port + p));
        }
    }
    v
}

/// Peak resident memory (VmHWM) in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The listener process: accept and close (tcp) or answer one HTTP request (http). Exits
/// when its stdin closes (the parent is gone) or after `duration + 30 s`.
fn serve(cli: &Cli) -> ExitCode {
    raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = cli.kind == Kind::Http;
        for addr in listen_addrs(cli) {
            // A deep accept queue (capped by net.core.somaxconn) so that a listener that is
            // briefly not scheduled does not drop SYNs (which would cost the client a 1 s
            // SYN retransmission and show up as drift).
            let l = match tokio::net::TcpSocket::new_v4().and_then(|s| {
                s.set_reuseaddr(true)?;
                s.bind(addr)?;
                s.listen(65535)
            }) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("check-scale: listen {addr}: {e}");
                    std::process::exit(1);
                }
            };
            if !http {
                // Accept and close without registering the accepted socket with epoll: the
                // listener shares the machine with the checker it serves.
                let registered = l.into_std().and_then(register_listener);
                let l = match registered {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("check-scale: listener {addr}: {e}");
                        std::process::exit(1);
                    }
                };
                tokio::spawn(async move {
                    loop {
                        let Ok(mut ready) = l.readable().await else { continue };
                        while let Ok(Ok(_closed_on_drop)) = ready.try_io(|l| l.get_ref().accept()) {}
                    }
                });
                continue;
            }
            tokio::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else { continue };
                    if http {
                        tokio::spawn(async move {
                            let mut buf = [0u8; 2048];
                            let mut got = 0;
                            while got < buf.len() {
                                match s.read(&mut buf[got..]).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => got += n,
                                }
                                if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                                    break;
                                }
                            }
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                                .await;
                        });
                    }
                }
            });
        }
        println!("ready");
        let _ = std::io::stdout().flush();
        // Exit when the parent closes our stdin (it finished or died).
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            std::process::exit(0);
        });
        tokio::time::sleep(Duration::from_secs(cli.duration + 30)).await;
    });
    ExitCode::SUCCESS
}

/// Wait for `child` to exit, at most `limit`.
fn ha_wait(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A histogram of delays: 10 µs buckets below 100 ms, 1 ms buckets from 100 ms to 10 s
/// (the last bucket holds everything later). Fixed size: recording never allocates.
struct Hist {
    buckets: Vec<u32>,
    count: u64,
    max: Duration,
    over_50ms: u64,
}

impl Hist {
    const FINE: u64 = 10_000; // 10 µs buckets up to 100 ms
    const COARSE: u64 = 9_900; // 1 ms buckets from 100 ms to 10 s

    fn new() -> Self {
        Self {
            buckets: vec![0; (Self::FINE + Self::COARSE) as usize],
            count: 0,
            max: Duration::ZERO,
            over_50ms: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let b = if us < 100_000 {
            us / 10
        } else {
            Self::FINE + ((us - 100_000) / 1000).min(Self::COARSE - 1)
        };
        self.buckets[b as usize] += 1;
        self.count += 1;
        self.max = self.max.max(d);
        if d > Duration::from_millis(50) {
            self.over_50ms += 1;
        }
    }

    /// Upper edge of the bucket holding the `p` quantile, in µs.
    fn quantile_us(&self, p: f64) -> u64 {
        let want = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                let b = b as u64;
                return if b < Self::FINE {
                    (b + 1) * 10
                } else {
                    100_000 + (b - Self::FINE + 1) * 1000
                };
            }
        }
        0
    }

    fn line(&self) -> String {
        format!(
            "p50 {} us, p99 {} us, p99.9 {} us, max {:.1} ms, > 50 ms: {}",
            self.quantile_us(0.5),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            self.max.as_secs_f64() * 1e3,
            self.over_50ms
        )
    }
}

struct Stats {
    checks: u64,
    up: u64,
    down: u64,
    /// How late each attempt's probe started (first poll) against its due time.
    late: Hist,
    /// |gap between two consecutive first attempts of a target - interval|.
    drift: Hist,
    last_dispatch: Vec<Option<Instant>>,
    interval: Duration,
    peak_inflight: usize,
    /// Due attempts that waited because the in-flight cap was reached (loop passes).
    capped: u64,
    /// Failed attempts by reason.
    failures: std::collections::BTreeMap<String, u64>,
}

impl Stats {
    fn new(targets: usize, interval: Duration) -> Self {
        Self {
            checks: 0,
            up: 0,
            down: 0,
            late: Hist::new(),
            drift: Hist::new(),
            last_dispatch: vec![None; targets],
            interval,
            peak_inflight: 0,
            capped: 0,
            failures: std::collections::BTreeMap::new(),
        }
    }

    /// Record a finished attempt: when it was due, when its probe was first polled (the
    /// connect(2) happens then: this, not the dispatch, is "the check started").
    fn finished(&mut self, s: &Started, o: &Outcome) {
        self.late.record(s.started.saturating_duration_since(s.due));
        if s.attempt == 0 {
            let slot = &mut self.last_dispatch[s.target.0 as usize];
            if let Some(prev) = *slot {
                self.drift
                    .record((s.started - prev).abs_diff(self.interval));
            }
            *slot = Some(s.started);
        }
        self.checks += 1;
        if o.is_up() {
            self.up += 1;
        } else {
            self.down += 1;
            if let Outcome::Down(f) = o {
                *self.failures.entry(format!("{f:?}")).or_default() += 1;
            }
        }
    }
}

/// What a finished probe reports besides its outcome.
struct Started {
    id: ProbeId,
    target: TargetId,
    attempt: u32,
    due: Instant,
    started: Instant,
}

impl Started {
    fn now(req: &ProbeRequest) -> Self {
        Self {
            id: req.id,
            target: req.target,
            attempt: req.attempt,
            due: req.due,
            started: Instant::now(),
        }
    }
}

/// Checks run for the kernel floor.
const FLOOR_CHECKS: u32 = 20_000;

/// The kernel's own cost of one check of `kind`: the system calls its probe makes, in a
/// tight loop on this thread against the same listeners (no scheduler, runtime, timer or
/// wakeup), as CPU time per check. What is left above it at scale is the checker's.
/// `None` for HTTP (its floor is mostly the server's) and for a graceful close (its probe
/// opens and closes a socket per check, which this loop does not copy).
fn kernel_floor(
    kind: Kind,
    close: TcpClose,
    addrs: &[SocketAddr],
) -> Result<Option<Duration>, String> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let n = FLOOR_CHECKS;
    let err = |what: &str, e: std::io::Error| format!("kernel floor: {what}: {e}");
    let target = |i: u32| addrs[i as usize % addrs.len()];
    match kind {
        Kind::Http => Ok(None),
        Kind::Tcp if close != TcpClose::Reset => Ok(None),
        Kind::Tcp => ha_examples::floor::tcp_connect(addrs, n).map(Some),
        Kind::TcpHalfOpen => {
            // The half-open probe: a SYN from a raw socket, the SYN-ACK read back (this
            // host's kernel resets it); the source port is held by a bound-only socket.
            let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
                .map_err(|e| err("raw socket (CAP_NET_RAW)", e))?;
            raw.set_read_timeout(Some(Duration::from_secs(1)))
                .map_err(|e| err("SO_RCVTIMEO", e))?;
            let hold =
                Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| err("socket", e))?;
            hold.bind(&SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
                .map_err(|e| err("bind", e))?;
            let sport = hold
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map(|a| a.port())
                .ok_or("kernel floor: no local port")?;
            let mut buf = [0u8; 128];
            let cpu0 = thread_cpu();
            for i in 0..n {
                let dst = target(i);
                let IpAddr::V4(dst_ip) = dst.ip() else {
                    return Err("kernel floor: IPv4 listeners only".into());
                };
                let isn = i.wrapping_mul(2_654_435_761);
                let syn =
                    probe::halfopen::build_syn(Ipv4Addr::LOCALHOST, sport, dst_ip, dst.port(), isn);
                raw.send_to(&syn, &SockAddr::from(SocketAddr::new(dst.ip(), 0)))
                    .map_err(|e| err(&format!("send SYN to {dst}"), e))?;
                loop {
                    let len = std::io::Read::read(&mut &raw, &mut buf)
                        .map_err(|e| err(&format!("SYN-ACK from {dst}"), e))?;
                    let Some(seg) = probe::halfopen::parse_segment(&buf[..len]) else {
                        continue;
                    };
                    if seg.dport != sport || seg.sport != dst.port() {
                        continue; // our own SYN, or our kernel's RST, seen on loopback
                    }
                    match probe::halfopen::classify(&seg) {
                        Some((probe::halfopen::Reply::Open, got)) if got == isn => break,
                        Some((probe::halfopen::Reply::Refused, _)) => {
                            return Err(format!("kernel floor: {dst} refused"));
                        }
                        _ => {}
                    }
                }
            }
            Ok(Some((thread_cpu() - cpu0) / n))
        }
    }
}

/// The 1-minute load average, from /proc/loadavg.
fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Drive the scheduler with every probe in one [`InFlight`] set polled by this task: no task
/// spawn, channel message or allocation per TCP check, one timer for the whole driver.
async fn drive_inflight(sched: &mut Scheduler, stats: &mut Stats, end: Instant, cap: usize) {
    let mut inflight = InFlight::new(cap);
    let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(end));
    tokio::pin!(sleep);
    let mut armed = end;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Lost-probe deadlines fire even at the cap; due attempts wait in poll_probe, not in
        // flight, until there is room.
        sched.handle_timeout(now);
        while !inflight.is_full() {
            let Some(req) = sched.poll_probe() else {
                break;
            };
            let pushed = inflight.push(async move {
                let started = Started::now(&req);
                let outcome = probe::run(&req.check, req.timeout).await;
                (started, outcome)
            });
            debug_assert!(pushed.is_ok(), "checked is_full");
        }
        stats.peak_inflight = stats.peak_inflight.max(inflight.len());
        while let Some(ev) = sched.poll_event() {
            eprintln!("event: {ev:?}");
        }
        // With the cap reached the next thing to wait for is an outcome, not a due time.
        let wake = if inflight.is_full() {
            if sched.poll_timeout().is_some_and(|t| t <= now) {
                stats.capped += 1;
            }
            end
        } else {
            sched.poll_timeout().unwrap_or(end).min(end)
        };
        if wake != armed || sleep.is_elapsed() {
            sleep.as_mut().reset(tokio::time::Instant::from_std(wake));
            armed = wake;
        }
        let handled = tokio::select! {
            biased;
            n = std::future::poll_fn(|cx| {
                // Handle every finished probe now (one clock read per batch).
                let now = Instant::now();
                inflight.poll_batch(cx, 1024, |(s, o)| {
                    stats.finished(&s, &o);
                    sched.handle_outcome(now, s.id, o);
                })
            }) => n,
            () = &mut sleep => 0,
        };
        if handled > 0 {
            // Back to the runtime before the next pass: it reads socket readiness and fires
            // timers only when this task yields (see `InFlight`'s docs).
            tokio::task::yield_now().await;
        }
    }
    inflight.clear();
}

/// The previous driver, for comparison: a tokio task and a channel message per probe.
async fn drive_spawn(sched: &mut Scheduler, stats: &mut Stats, end: Instant) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Started, Outcome)>();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        sched.handle_timeout(now);
        while let Some(req) = sched.poll_probe() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let started = Started::now(&req);
                let o = probe::run(&req.check, req.timeout).await;
                let _ = tx.send((started, o));
            });
        }
        while let Some(ev) = sched.poll_event() {
            eprintln!("event: {ev:?}");
        }
        let wake = sched.poll_timeout().unwrap_or(end).min(end);
        tokio::select! {
            biased;
            Some((s, o)) = rx.recv() => {
                let now = Instant::now();
                stats.finished(&s, &o);
                sched.handle_outcome(now, s.id, o);
                while let Ok((s, o)) = rx.try_recv() {
                    stats.finished(&s, &o);
                    sched.handle_outcome(now, s.id, o);
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.serve {
        return serve(&cli);
    }
    let nofile = raise_nofile();
    let exe = std::env::current_exe().expect("current_exe");
    let mut args = vec!["--serve".to_string()];
    for (k, v) in [
        (
            "--kind",
            if cli.kind == Kind::Http {
                "http".to_string()
            } else {
                "tcp".to_string()
            },
        ),
        ("--addrs", cli.addrs.to_string()),
        ("--ports", cli.ports.to_string()),
        ("--base-port", cli.base_port.to_string()),
        ("--duration", cli.duration.to_string()),
    ] {
        args.push(k.into());
        args.push(v);
    }
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn listener process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listener ready line");
    if line.trim() != "ready" {
        eprintln!("check-scale: listener process failed");
        let _ = child.kill();
        let _ = child.wait();
        return ExitCode::FAILURE;
    }

    let addrs = listen_addrs(&cli);
    let interval = Duration::from_millis(cli.interval_ms);
    let close = if cli.kind == Kind::TcpHalfOpen {
        TcpClose::HalfOpen
    } else if cli.graceful_close {
        TcpClose::Graceful
    } else {
        TcpClose::Reset
    };
    let max_inflight = match (cli.max_inflight, cli.kind) {
        (0, Kind::Tcp | Kind::TcpHalfOpen) => 4096,
        (0, Kind::Http) => 1024,
        (n, _) => n,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The kernel floor just before and just after the run: the machine's speed drifts
    // (other guests on the host), and the floor says what the kernel alone costs now.
    let floor_before = match kernel_floor(cli.kind, close, &addrs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("check-scale: {e}");
            let _ = child.kill();
            let _ = child.wait();
            return ExitCode::FAILURE;
        }
    };
    let load_before = load1();
    let (user0, sys0) = cpu_times(libc::RUSAGE_SELF);
    let wall0 = Instant::now();
    let stats = Stats::new(cli.targets as usize, interval);
    let (targets, kind, duration, driver) = (cli.targets, cli.kind, cli.duration, cli.driver);
    let timer_slack = Duration::from_millis(cli.slack_ms);
    let listeners = addrs.clone();
    // The checker runs as a spawned task, as a program embedding it would run it, not as
    // the block_on future: a current-thread runtime wakes its block_on future by writing to
    // its eventfd (a system call and an extra epoll round per wakeup), while a spawned task
    // woken from the runtime's own thread is only queued.
    let checker = async move {
        let mut stats = stats;
        let mut sched = Scheduler::new(SchedulerConfig {
            seed: 1,
            timer_slack,
            ..Default::default()
        });
        sched.reserve(targets as usize);
        let t0 = Instant::now();
        for i in 0..targets {
            let addr = listeners[(i as usize) % listeners.len()];
            let socket = SocketOptions {
                close,
                ..SocketOptions::default()
            };
            let check = match kind {
                Kind::Tcp | Kind::TcpHalfOpen => {
                    let mut c = TcpCheck::new(addr);
                    c.socket = socket;
                    Check::Tcp(c)
                }
                Kind::Http => {
                    let mut c = HttpCheck::new(addr, "/health");
                    c.body_regex = Some("ok".into());
                    c.socket = socket;
                    Check::from(c)
                }
            };
            let cfg = TargetConfig {
                interval,
                timeout: Duration::from_secs(2),
                retries: 1,
                delay_before_retry: Duration::from_millis(200),
                warmup: interval,
                ..TargetConfig::new(Arc::new(check))
            };
            sched.upsert(t0, TargetId(i), cfg);
        }
        let end = t0 + Duration::from_secs(duration);
        match driver {
            Driver::Inflight => drive_inflight(&mut sched, &mut stats, end, max_inflight).await,
            Driver::Spawn => drive_spawn(&mut sched, &mut stats, end).await,
        }
        stats
    };
    let stats = rt.block_on(async move { tokio::spawn(checker).await.expect("checker task") });
    let wall = wall0.elapsed();
    let (user1, sys1) = cpu_times(libc::RUSAGE_SELF);
    let load_after = load1();
    let floor_after = kernel_floor(cli.kind, close, &addrs).unwrap_or_else(|e| {
        eprintln!("check-scale: {e}");
        None
    });
    let (user, sys) = (user1 - user0, sys1 - sys0);
    let cpu = user + sys;
    drop(child.stdin.take()); // the listener exits on EOF
    if ha_wait(&mut child, Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (cu, cs) = cpu_times(libc::RUSAGE_CHILDREN);

    let hwm = vm_hwm_kib();
    let core_pct = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    let per_check = |d: Duration| d.as_secs_f64() * 1e6 / stats.checks.max(1) as f64;
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64();
    println!("kind                 {:?}", cli.kind);
    println!(
        "targets              {} on {} listeners, interval {} ms, {} s, driver {:?}, close {close:?}, slack {} ms",
        cli.targets,
        addrs.len(),
        cli.interval_ms,
        cli.duration,
        cli.driver,
        cli.slack_ms
    );
    println!("RLIMIT_NOFILE        {nofile}");
    println!("load average (1 min) {load_before} before, {load_after} after");
    println!(
        "checks               {} ({} up, {} down)",
        stats.checks, stats.up, stats.down
    );
    if !stats.failures.is_empty() {
        println!("failures             {:?}", stats.failures);
    }
    println!(
        "checks/s             {:.0}",
        stats.checks as f64 / wall.as_secs_f64()
    );
    println!(
        "CPU                  {:.2} s = {core_pct:.1}% of one core (user {:.1}%, system {:.1}%)",
        cpu.as_secs_f64(),
        pct(user),
        pct(sys)
    );
    println!(
        "CPU per check        {:.1} us (user {:.1} us, system {:.1} us)",
        per_check(cpu),
        per_check(user),
        per_check(sys)
    );
    println!(
        "listener process CPU {:.2} s (not counted above)",
        (cu + cs).as_secs_f64()
    );
    let checks_per_s = stats.checks as f64 / wall.as_secs_f64();
    // The floor as a share of one core at the rate the run reached.
    let floor_pct = match (floor_before, floor_after) {
        (Some(a), Some(b)) => {
            let floor = (a + b) / 2;
            let pct = floor.as_secs_f64() * checks_per_s * 100.0;
            println!(
                "kernel floor         {:.1} us per check ({:.1} before, {:.1} after the run): the \
                 probe's system calls alone in a tight loop, {FLOOR_CHECKS} checks; {pct:.1}% of \
                 one core at this rate",
                floor.as_secs_f64() * 1e6,
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6
            );
            println!(
                "checker above floor  {:.1} us per check (scheduler, runtime, timers, wakeups)",
                per_check(cpu) - floor.as_secs_f64() * 1e6
            );
            Some(pct)
        }
        _ => None,
    };
    println!("peak memory (VmHWM)  {:.1} MiB", hwm as f64 / 1024.0);
    if cli.driver == Driver::Inflight {
        println!(
            "in flight            peak {} (cap {}), loop passes held by the cap {}",
            stats.peak_inflight, max_inflight, stats.capped
        );
    }
    println!("start vs due         {}", stats.late.line());
    println!("interval drift       {}", stats.drift.line());
    let on_time =
        stats.late.max <= Duration::from_millis(50) && stats.drift.max <= Duration::from_millis(50);
    let ok = on_time && core_pct < 15.0 && hwm < 64 * 1024 && stats.down == 0;
    println!(
        "targets met          on time (<= 50 ms): {on_time}; < 15% core: {}; < 64 MiB: {}; all up: {}",
        core_pct < 15.0,
        hwm < 64 * 1024,
        stats.down == 0
    );
    if let Some(pct) = floor_pct.filter(|&p| p >= 15.0) {
        println!(
            "                     (the kernel floor alone is {pct:.1}% of one core here: no \
             checker of this kind can be under 15% on this machine now)"
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
