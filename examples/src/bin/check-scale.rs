//! `check-scale`: the health checker at scale on loopback.
//!
//! Runs N targets (default 10,000 TCP connect checks, or `--kind http` for HTTP GETs) at a
//! 1 s interval for 30 s against listeners on 127.0.0.x that a child process of this program
//! opens (so that this process's CPU and memory figures are the checker's alone), then
//! prints: checks per second, CPU time per check and in % of one core (getrusage), peak
//! memory (VmHWM from /proc/self/status) and how late checks ran against their schedule.
//!
//! ```text
//! check-scale                                   # 10,000 TCP targets, 1 s, 30 s
//! check-scale --kind http --targets 2000        # 2,000 HTTP targets
//! ```
//!
//! Only loopback addresses are used; the run is bounded by `--duration`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ha_healthcheck::{
    Check, HttpCheck, Outcome, ProbeId, Scheduler, SchedulerConfig, TargetConfig, TargetId,
    TcpCheck,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// TCP connect.
    Tcp,
    /// HTTP GET / expecting 200.
    Http,
}

#[derive(Parser, Debug)]
#[command(
    name = "check-scale",
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

/// Raise RLIMIT_NOFILE to its hard limit: thousands of probes may hold a socket at once.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard one
    // needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur
}

/// (user, system) CPU time of this process (`RUSAGE_SELF`) or of its waited-for children
/// (`RUSAGE_CHILDREN`), from getrusage.
fn cpu_times(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
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

#[derive(Default)]
struct Stats {
    checks: u64,
    up: u64,
    down: u64,
    max_late: Duration,
    late: Vec<u32>, // microseconds, for percentiles
    max_interval_dev: Duration,
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (user0, sys0) = cpu_times(libc::RUSAGE_SELF);
    let wall0 = Instant::now();
    let stats = rt.block_on(async {
        let mut sched = Scheduler::new(SchedulerConfig {
            seed: 1,
            ..Default::default()
        });
        sched.reserve(cli.targets as usize);
        let t0 = Instant::now();
        for i in 0..cli.targets {
            let addr = addrs[(i as usize) % addrs.len()];
            let check = match cli.kind {
                Kind::Tcp => Check::Tcp(TcpCheck::new(addr)),
                Kind::Http => {
                    let mut c = HttpCheck::new(addr, "/health");
                    c.body_regex = Some("ok".into());
                    Check::Http(c)
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
        let end = t0 + Duration::from_secs(cli.duration);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(ProbeId, Outcome)>();
        let mut stats = Stats {
            late: Vec::with_capacity((cli.targets * cli.duration) as usize),
            ..Default::default()
        };
        let mut last_dispatch: Vec<Option<Instant>> = vec![None; cli.targets as usize];
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            while let Some(req) = sched.poll_due(now) {
                let late = now.saturating_duration_since(req.due);
                stats.max_late = stats.max_late.max(late);
                stats
                    .late
                    .push(late.as_micros().min(u128::from(u32::MAX)) as u32);
                let slot = &mut last_dispatch[req.target.0 as usize];
                if let Some(prev) = *slot
                    && req.attempt == 0
                {
                    let gap = now - prev;
                    let dev = gap.abs_diff(interval);
                    stats.max_interval_dev = stats.max_interval_dev.max(dev);
                }
                if req.attempt == 0 {
                    *slot = Some(now);
                }
                let tx = tx.clone();
                tokio::spawn(async move {
                    let o = ha_healthcheck::probe::run(&req.check, req.timeout).await;
                    let _ = tx.send((req.id, o));
                });
            }
            while let Some(ev) = sched.poll_event() {
                eprintln!("event: {ev:?}");
            }
            let wake = sched.poll_timeout().unwrap_or(end).min(end);
            tokio::select! {
                biased;
                Some((id, o)) = rx.recv() => {
                    let now = Instant::now();
                    let mut handle = |id, o: Outcome, stats: &mut Stats| {
                        stats.checks += 1;
                        if o.is_up() { stats.up += 1 } else { stats.down += 1 }
                        sched.handle_outcome(now, id, o);
                    };
                    handle(id, o, &mut stats);
                    while let Ok((id, o)) = rx.try_recv() {
                        handle(id, o, &mut stats);
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
        }
        stats
    });
    let wall = wall0.elapsed();
    let (user1, sys1) = cpu_times(libc::RUSAGE_SELF);
    let (user, sys) = (user1 - user0, sys1 - sys0);
    let cpu = user + sys;
    drop(child.stdin.take()); // the listener exits on EOF
    if ha_wait(&mut child, Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (cu, cs) = cpu_times(libc::RUSAGE_CHILDREN);

    let mut late = stats.late;
    late.sort_unstable();
    let pct = |p: f64| {
        late.get(((late.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    let hwm = vm_hwm_kib();
    let core_pct = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    let per_check_us = cpu.as_secs_f64() * 1e6 / stats.checks.max(1) as f64;
    println!("kind                 {:?}", cli.kind);
    println!(
        "targets              {} on {} listeners, interval {} ms, {} s",
        cli.targets,
        addrs.len(),
        cli.interval_ms,
        cli.duration
    );
    println!("RLIMIT_NOFILE        {nofile}");
    println!(
        "checks               {} ({} up, {} down)",
        stats.checks, stats.up, stats.down
    );
    println!(
        "checks/s             {:.0}",
        stats.checks as f64 / wall.as_secs_f64()
    );
    println!(
        "CPU                  {:.2} s = {core_pct:.1}% of one core",
        cpu.as_secs_f64()
    );
    println!(
        "CPU per check        {per_check_us:.1} us (user {:.2} s, system {:.2} s)",
        user.as_secs_f64(),
        sys.as_secs_f64()
    );
    println!(
        "listener process CPU {:.2} s (not counted above)",
        (cu + cs).as_secs_f64()
    );
    println!("peak memory (VmHWM)  {:.1} MiB", hwm as f64 / 1024.0);
    println!(
        "lateness vs due      p50 {} us, p99 {} us, p99.9 {} us, max {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(0.999),
        stats.max_late.as_secs_f64() * 1e3
    );
    println!(
        "max interval drift   {:.1} ms",
        stats.max_interval_dev.as_secs_f64() * 1e3
    );
    let on_time = stats.max_late <= Duration::from_millis(50)
        && stats.max_interval_dev <= Duration::from_millis(50);
    let ok = on_time && core_pct < 15.0 && hwm < 64 * 1024 && stats.down == 0;
    println!(
        "targets met          on time (<= 50 ms): {on_time}; < 15% core: {}; < 64 MiB: {}; all up: {}",
        core_pct < 15.0,
        hwm < 64 * 1024,
        stats.down == 0
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
