//! `hc-vs`: ha-director's health checks beside keepalived's checker and ldirectord, on the
//! same real servers, one checker at a time, in one run (inside the VM: the checkers program
//! IPVS).
//!
//! The program makes one network namespace (a `ha_testsupport::Lab` host) and opens N
//! listeners in it (10.79.1.x, ports 10000-10999; TCP accept-and-close, or an HTTP server
//! answering `GET /check` with `200 OK`) that timestamp every check they receive. It writes
//! one keepalived.conf (one `virtual_server` per `--per-vs` real servers, `delay_loop 1`,
//! `TCP_CHECK` or `HTTP_GET`, `connect_timeout 2`, `retry 1`, `delay_before_retry 1`) and the
//! equivalent ldirectord.cf (`checkinterval=1`, `checktype=connect` or `negotiate`,
//! `failurecount=2`, `quiescent=no`; NAT forwarding, since the real servers
//! differ by port), then runs in turn `ha-director run --keepalived-conf`
//! (the very same file), `keepalived -C` (checker only) and `ldirectord`. For each:
//!
//! - waits (at most `--settle-limit`) until IPVS holds all N real servers with weight > 0;
//! - for `--window` seconds counts the checks arriving at the listeners and the CPU time
//!   (user + system, from `/proc/PID/stat`, including reaped children) of every process of the
//!   checker's process tree (keepalived: the parent and its checker child; ldirectord: its
//!   daemon and the `ipvsadm` it runs): CPU per check = CPU time / checks seen;
//! - peak memory: the sum of VmHWM over those processes;
//! - drift: |gap between two consecutive checks of one real server - 1 s|, p50/p99/max, and
//!   the real servers that saw no check in the window;
//! - detection: closes one listener and polls `ipvsadm -Ln -t VIP` (every 50 ms) until its
//!   destination is gone or has weight 0 (at most `--detect-limit`);
//! - stops it, flushes IPVS and reopens the listener.
//!
//! With TCP checks, just before each checker starts and just after it stops, the **kernel
//! floor** ([`ha_examples::floor::tcp_connect`]): the cheapest connect check's system calls
//! alone, in a tight loop on one thread against the same listeners. The VM's speed swings
//! within minutes, so each row has its own. A checker's CPU per check above the floor is its
//! own; the floor over keepalived's CPU per check is the ratio a connect checker that added
//! nothing to those system calls would reach against it in that run.
//!
//! Prints a table, one `RESULT {json}` line per row (for tests), and per size the ratio lines
//! `cpu per check ours/keepalived: R` and `cpu per check ours/ldirectord: R`, with TCP also
//! `cpu per check above the kernel floor ours/keepalived: R` and `kernel floor / keepalived's
//! cpu per check: R`.
//!
//! ```text
//! hc-vs --checks 1000,10000 --kind tcp
//! hc-vs --checks 100 --kind http --vs keepalived --window 10
//! ```
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ha_examples::lab::procfs::{CpuTicks, clock_ticks, cpu_ticks, process_tree, vm_hwm_kib};
use ha_examples::lab::{beside_this_program, ratio};
use ha_testsupport::{Host, Lab, Proc, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The check interval every checker is given (`delay_loop 1`, `checkinterval=1`).
const INTERVAL: Duration = Duration::from_secs(1);
/// How long a checker may take to exit after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// TCP connect (`TCP_CHECK`, `checktype=connect`).
    Tcp,
    /// HTTP GET /check expecting 200 (`HTTP_GET`, `checktype=negotiate`).
    Http,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Tool {
    /// `ha-director run --keepalived-conf`.
    Ours,
    /// keepalived's checker (`keepalived -C`).
    Keepalived,
    /// ldirectord.
    Ldirectord,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Ours => "ha-director",
            Tool::Keepalived => "keepalived",
            Tool::Ldirectord => "ldirectord",
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "hc-vs",
    version = ha_examples::VERSION,
    about = "Health checks: ha-director vs keepalived and ldirectord on the same real servers (in the VM)"
)]
struct Cli {
    /// Numbers of real servers (one check each), run in turn.
    #[arg(long, value_delimiter = ',', default_values_t = [1000u32, 10_000])]
    checks: Vec<u32>,
    /// Check type.
    #[arg(long, value_enum, default_value_t = Kind::Tcp)]
    kind: Kind,
    /// The checkers to compare with ours (ours always runs first).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Tool::Keepalived, Tool::Ldirectord])]
    vs: Vec<Tool>,
    /// Measurement window in seconds, after the IPVS table is complete.
    #[arg(long, default_value_t = 20)]
    window: u64,
    /// Longest wait, in seconds, for a checker to put every real server into IPVS (the window
    /// starts anyway after it, and the row says how many were in).
    #[arg(long, default_value_t = 90)]
    settle_limit: u64,
    /// Longest wait, in seconds, for a stopped real server to leave IPVS.
    #[arg(long, default_value_t = 30)]
    detect_limit: u64,
    /// Real servers per virtual server.
    #[arg(long, default_value_t = 100)]
    per_vs: u32,
    /// The ha-director binary (default: beside this program).
    #[arg(long)]
    ha_director: Option<PathBuf>,
    /// Checks of each kernel floor measurement (TCP only), before and after each checker; 0
    /// leaves the floor out.
    #[arg(long, default_value_t = 5000)]
    floor_checks: u32,
}

/// Address of real server `i`: 1,000 ports on each of 10.79.1.1, 10.79.1.2, ...
fn rs_addr(i: u32) -> SocketAddr {
    let ip = Ipv4Addr::new(
        10,
        79,
        1 + (i / 1000 / 250) as u8,
        1 + (i / 1000 % 250) as u8,
    );
    SocketAddr::new(ip.into(), 10_000 + (i % 1000) as u16)
}

/// Virtual server of group `g` (port 80).
fn vip(g: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 80, (g / 250) as u8, 1 + (g % 250) as u8)
}

/// The keepalived.conf both ha-director and keepalived read.
fn keepalived_conf(n: u32, per_vs: u32, kind: Kind) -> String {
    let mut s = String::from("# Generated by hc-vs.\nglobal_defs {\n    router_id hcvs\n}\n");
    for g in 0..n.div_ceil(per_vs) {
        let _ = writeln!(
            s,
            "virtual_server {} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP",
            vip(g)
        );
        for i in g * per_vs..((g + 1) * per_vs).min(n) {
            let a = rs_addr(i);
            let check = match kind {
                Kind::Tcp => "TCP_CHECK {\n            connect_timeout 2\n            retry 1\n            delay_before_retry 1\n        }".to_owned(),
                Kind::Http => "HTTP_GET {\n            url {\n                path /check\n                status_code 200\n            }\n            connect_timeout 2\n            retry 1\n            delay_before_retry 1\n        }".to_owned(),
            };
            let _ = writeln!(
                s,
                "    real_server {} {} {{\n        weight 1\n        {check}\n    }}",
                a.ip(),
                a.port()
            );
        }
        s.push_str("}\n");
    }
    s
}

/// The equivalent ldirectord.cf.
fn ldirectord_cf(n: u32, per_vs: u32, kind: Kind, log: &Path) -> String {
    let mut s = format!(
        "# Generated by hc-vs.\ncheckinterval=1\nchecktimeout=2\nnegotiatetimeout=2\nfailurecount=2\nquiescent=no\nautoreload=no\nlogfile=\"{}\"\n",
        log.display()
    );
    for g in 0..n.div_ceil(per_vs) {
        let _ = writeln!(s, "virtual={}:80", vip(g));
        for i in g * per_vs..((g + 1) * per_vs).min(n) {
            let _ = writeln!(s, "\treal={} masq 1", rs_addr(i));
        }
        s.push_str("\tscheduler=rr\n\tprotocol=tcp\n");
        match kind {
            Kind::Tcp => s.push_str("\tchecktype=connect\n"),
            Kind::Http => s.push_str(
                "\tchecktype=negotiate\n\tservice=http\n\trequest=\"check\"\n\treceive=\"OK\"\n",
            ),
        }
    }
    s
}

/// What the listeners saw.
#[derive(Debug, Default)]
struct Arrivals {
    /// Counting into the window.
    recording: bool,
    /// Per real server: the last check's arrival and the checks in the window.
    per: Vec<(Option<Instant>, u64)>,
    /// |gap - interval| of consecutive checks of one real server in the window, microseconds.
    drift_us: Vec<u64>,
}

impl Arrivals {
    fn arrive(&mut self, i: usize, now: Instant) {
        let Some(slot) = self.per.get_mut(i) else {
            return;
        };
        if self.recording {
            slot.1 += 1;
            if let Some(last) = slot.0 {
                let gap = now.duration_since(last);
                let d = gap.abs_diff(INTERVAL);
                self.drift_us.push(d.as_micros() as u64);
            }
        }
        slot.0 = Some(now);
    }

    fn forget(&mut self) {
        self.recording = false;
        for p in &mut self.per {
            *p = (None, 0);
        }
    }

    fn start_window(&mut self) {
        self.recording = true;
        self.drift_us.clear();
        for p in &mut self.per {
            p.1 = 0;
        }
    }
}

/// Commands to the listener thread.
enum Ctl {
    /// Close listener `i`'s socket; answers when it is closed.
    Stop(usize, std::sync::mpsc::Sender<()>),
    /// Open listener `i` again.
    Start(usize, std::sync::mpsc::Sender<std::io::Result<()>>),
}

/// Starts the listeners in `host`'s namespace on a thread of their own; returns the command
/// channel once all listen.
fn start_listeners(
    host: &Host,
    n: u32,
    kind: Kind,
    rec: Arc<Mutex<Arrivals>>,
) -> Result<tokio::sync::mpsc::UnboundedSender<Ctl>, String> {
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel::<Ctl>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    // The outer thread enters the namespace; the listener thread it spawns inherits it.
    host.run_in(move || {
        std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let mut tasks = Vec::with_capacity(n as usize);
                for i in 0..n as usize {
                    match listen(i, kind, rec.clone()) {
                        Ok(t) => tasks.push(Some(t)),
                        Err(e) => {
                            let _ =
                                ready_tx.send(Err(format!("listen on {}: {e}", rs_addr(i as u32))));
                            return;
                        }
                    }
                }
                let _ = ready_tx.send(Ok(()));
                while let Some(c) = ctl_rx.recv().await {
                    match c {
                        Ctl::Stop(i, done) => {
                            if let Some(t) = tasks.get_mut(i).and_then(Option::take) {
                                t.abort();
                                let _ = t.await;
                            }
                            let _ = done.send(());
                        }
                        Ctl::Start(i, done) => {
                            let r = if tasks[i].is_some() {
                                Ok(())
                            } else {
                                listen(i, kind, rec.clone()).map(|t| tasks[i] = Some(t))
                            };
                            let _ = done.send(r);
                        }
                    }
                }
            });
        });
    });
    match ready_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => Ok(ctl_tx),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the listeners did not start within 120 s".into()),
    }
}

/// Opens listener `i` and serves it on a task.
fn listen(
    i: usize,
    kind: Kind,
    rec: Arc<Mutex<Arrivals>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let std_l = std::net::TcpListener::bind(rs_addr(i as u32))?;
    std_l.set_nonblocking(true)?;
    let l = tokio::net::TcpListener::from_std(std_l)?;
    Ok(tokio::spawn(async move {
        loop {
            let (mut s, _) = match l.accept().await {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            rec.lock()
                .unwrap_or_else(|e| e.into_inner())
                .arrive(i, Instant::now());
            if kind == Kind::Http {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(3), async {
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => got.extend_from_slice(&buf[..k]),
                            }
                        }
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                            .await;
                        let _ = s.shutdown().await;
                    })
                    .await;
                });
            }
        }
    }))
}

/// CPU ticks per pid of a process tree.
type CpuSnap = HashMap<u32, CpuTicks>;

fn cpu_snap(root: u32) -> CpuSnap {
    process_tree(root)
        .into_iter()
        .filter_map(|p| Some((p, cpu_ticks(p)?)))
        .collect()
}

/// User, system (children's time counted as system+user split unknown: added to user) deltas
/// in seconds.
fn cpu_delta(a: &CpuSnap, b: &CpuSnap) -> (f64, f64) {
    let (mut u, mut s) = (0u64, 0u64);
    for (pid, end) in b {
        let start = a.get(pid).copied().unwrap_or_default();
        u += end.user.saturating_sub(start.user) + end.children.saturating_sub(start.children);
        s += end.system.saturating_sub(start.system);
    }
    let tck = clock_ticks();
    (u as f64 / tck, s as f64 / tck)
}

/// Real servers in IPVS with weight > 0.
fn ipvs_up(d: &Host) -> usize {
    let out = d.exec(&["ipvsadm", "-Ln"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[0] == "->" && f[1].starts_with("10.79.") && f[3] != "0"
        })
        .count()
}

/// Whether destination `rs` of virtual server `v` is in IPVS with weight > 0.
fn dest_up(d: &Host, v: Ipv4Addr, rs: SocketAddr) -> bool {
    let out = d.exec(&["ipvsadm", "-Ln", "-t", &format!("{v}:80")]);
    let needle = rs.to_string();
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 4 && f[0] == "->" && f[1] == needle && f[3] != "0"
    })
}

/// A running checker.
struct Running {
    /// The process started (for ldirectord: the start command).
    proc: Proc,
    /// The root of the checker's process tree.
    root: u32,
    /// ldirectord's daemon (not a child of `proc`).
    daemon: bool,
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false)
}

fn start_tool(
    lab: &mut Lab,
    d: &Host,
    tool: Tool,
    kconf: &Path,
    lcf: &Path,
    bin: &Path,
) -> Result<Running, String> {
    let dir = lab.dir().to_path_buf();
    let s = |p: PathBuf| p.display().to_string();
    match tool {
        Tool::Ours => {
            let p = lab.spawn(
                d,
                &[
                    &s(bin.to_path_buf()),
                    "run",
                    "--keepalived-conf",
                    &s(kconf.to_path_buf()),
                    "--status-socket",
                    &s(dir.join("hd.sock")),
                ],
            );
            Ok(Running {
                root: p.pid(),
                proc: p,
                daemon: false,
            })
        }
        Tool::Keepalived => {
            let p = lab.spawn(
                d,
                &[
                    "keepalived",
                    "-n",
                    "-l",
                    "-C",
                    "-f",
                    &s(kconf.to_path_buf()),
                    "-p",
                    &s(dir.join("k.pid")),
                    "-r",
                    &s(dir.join("v.pid")),
                    "-c",
                    &s(dir.join("c.pid")),
                ],
            );
            Ok(Running {
                root: p.pid(),
                proc: p,
                daemon: false,
            })
        }
        Tool::Ldirectord => {
            let name = lcf
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pidfile = PathBuf::from(format!("/var/run/ldirectord.{name}.pid"));
            let _ = std::fs::remove_file(&pidfile);
            let p = lab.spawn(d, &["ldirectord", &s(lcf.to_path_buf()), "start"]);
            let mut root = 0;
            let ok = wait_until(Duration::from_secs(60), || {
                root = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                root != 0 && pid_alive(root)
            });
            if !ok {
                return Err(format!(
                    "ldirectord wrote no pid file {} in 60 s: {}{}",
                    pidfile.display(),
                    p.stdout(),
                    p.stderr()
                ));
            }
            Ok(Running {
                proc: p,
                root,
                daemon: true,
            })
        }
    }
}

fn stop_tool(d: &Host, r: &Running) {
    if r.daemon {
        let _ = d.exec(&["kill", "-TERM", &r.root.to_string()]);
        if !wait_until(STOP_LIMIT, || !pid_alive(r.root)) {
            let _ = d.exec(&["kill", "-KILL", &r.root.to_string()]);
            wait_until(Duration::from_secs(10), || !pid_alive(r.root));
        }
        r.proc.kill(libc::SIGKILL);
    } else {
        r.proc.signal(libc::SIGTERM);
        if !r.proc.wait_exit(STOP_LIMIT) {
            r.proc.kill(libc::SIGKILL);
        }
    }
    let _ = d.exec(&["ipvsadm", "-C"]);
}

/// One row of the table.
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    checks: u32,
    tool: &'static str,
    kind: &'static str,
    /// Seconds until IPVS held every real server (None: not within the limit).
    table_s: Option<f64>,
    /// Real servers in IPVS when the window started.
    in_ipvs: usize,
    window_s: f64,
    seen: u64,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    cpu_per_check_us: Option<f64>,
    peak_rss_kib: u64,
    drift_p50_ms: Option<f64>,
    drift_p99_ms: Option<f64>,
    drift_max_ms: Option<f64>,
    /// Real servers with no check in the window.
    unchecked: usize,
    /// Milliseconds from closing a listener to its destination leaving IPVS.
    detect_ms: Option<f64>,
    /// ha-director only, from its status at the window's end: attempts run and attempts
    /// given up on (no outcome within timeout + grace) since its start.
    attempts: Option<u64>,
    lost: Option<u64>,
    /// ha-director only: real server health changes since its start (each a flap, once
    /// every real server is up).
    changes: Option<u64>,
    /// The kernel floor of a connect check just before the checker started and just after it
    /// stopped, microseconds of CPU per check (TCP only).
    floor_before_us: Option<f64>,
    floor_after_us: Option<f64>,
    error: Option<String>,
}

impl Row {
    /// The mean of the two floor measurements.
    fn floor_us(&self) -> Option<f64> {
        Some((self.floor_before_us? + self.floor_after_us?) / 2.0)
    }

    /// CPU per check above the floor.
    fn above_floor_us(&self) -> Option<f64> {
        Some(self.cpu_per_check_us? - self.floor_us()?)
    }
}

/// The kernel floor of a connect check against the first `n` listeners, in `d`'s network
/// namespace, in microseconds per check; `None` for HTTP or when `checks` is 0.
fn floor_us(d: &Host, n: u32, kind: Kind, checks: u32) -> Result<Option<f64>, String> {
    if kind != Kind::Tcp || checks == 0 {
        return Ok(None);
    }
    let addrs: Vec<SocketAddr> = (0..n).map(rs_addr).collect();
    d.run_in(move || ha_examples::floor::tcp_connect(&addrs, checks))
        .map(|t| Some(t.as_secs_f64() * 1e6))
}

fn quantile(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[k] as f64 / 1000.0)
}

#[allow(clippy::too_many_arguments)]
fn measure(
    lab: &mut Lab,
    d: &Host,
    cli: &Cli,
    n: u32,
    tool: Tool,
    rec: &Arc<Mutex<Arrivals>>,
    ctl: &tokio::sync::mpsc::UnboundedSender<Ctl>,
    bin: &Path,
) -> Row {
    let mut row = Row {
        checks: n,
        tool: tool.name(),
        kind: match cli.kind {
            Kind::Tcp => "tcp",
            Kind::Http => "http",
        },
        table_s: None,
        in_ipvs: 0,
        window_s: 0.0,
        seen: 0,
        cpu_user_s: 0.0,
        cpu_sys_s: 0.0,
        cpu_per_check_us: None,
        peak_rss_kib: 0,
        drift_p50_ms: None,
        drift_p99_ms: None,
        drift_max_ms: None,
        unchecked: 0,
        detect_ms: None,
        attempts: None,
        lost: None,
        changes: None,
        floor_before_us: None,
        floor_after_us: None,
        error: None,
    };
    let dir = lab.dir().to_path_buf();
    let kconf = dir.join(format!("hcvs-{n}.conf"));
    let lcf = dir.join(format!("hcvs-{n}.cf"));
    let _ = std::fs::write(&kconf, keepalived_conf(n, cli.per_vs, cli.kind));
    let _ = std::fs::write(
        &lcf,
        ldirectord_cf(
            n,
            cli.per_vs,
            cli.kind,
            &dir.join(format!("ldirectord-{n}.log")),
        ),
    );
    let _ = d.exec(&["ipvsadm", "-C"]);
    match floor_us(d, n, cli.kind, cli.floor_checks) {
        Ok(f) => row.floor_before_us = f,
        Err(e) => row.error = Some(e),
    }
    // Forget the previous checker's last checks (and the floor's): a gap spans one checker
    // only.
    rec.lock().unwrap_or_else(|e| e.into_inner()).forget();
    eprintln!("hc-vs: {} with {n} {} checks", tool.name(), row.kind);
    let t0 = Instant::now();
    let r = match start_tool(lab, d, tool, &kconf, &lcf, bin) {
        Ok(r) => r,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    // The table: poll less often when listing it is long.
    let poll = Duration::from_millis(500 + u64::from(n / 10));
    let settle = Duration::from_secs(cli.settle_limit);
    loop {
        row.in_ipvs = ipvs_up(d);
        if row.in_ipvs >= n as usize {
            row.table_s = Some(t0.elapsed().as_secs_f64());
            break;
        }
        if t0.elapsed() > settle || !pid_alive(r.root) {
            break;
        }
        std::thread::sleep(poll);
    }
    if !pid_alive(r.root) {
        row.error = Some(format!(
            "{} exited: {}",
            tool.name(),
            tail(&(r.proc.stdout() + &r.proc.stderr()), 12)
        ));
        stop_tool(d, &r);
        return row;
    }
    // Let the first round of checks (started all at once by some) spread out.
    std::thread::sleep(Duration::from_secs(3));
    rec.lock().unwrap_or_else(|e| e.into_inner()).start_window();
    let c0 = cpu_snap(r.root);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(cli.window));
    let c1 = cpu_snap(r.root);
    row.window_s = w0.elapsed().as_secs_f64();
    {
        let mut a = rec.lock().unwrap_or_else(|e| e.into_inner());
        a.recording = false;
        row.seen = a.per[..n as usize].iter().map(|p| p.1).sum();
        row.unchecked = a.per[..n as usize].iter().filter(|p| p.1 == 0).count();
        let mut v = std::mem::take(&mut a.drift_us);
        v.sort_unstable();
        row.drift_p50_ms = quantile(&v, 0.5);
        row.drift_p99_ms = quantile(&v, 0.99);
        row.drift_max_ms = quantile(&v, 1.0);
    }
    let (u, s) = cpu_delta(&c0, &c1);
    row.cpu_user_s = u;
    row.cpu_sys_s = s;
    if row.seen > 0 {
        row.cpu_per_check_us = Some((u + s) * 1e6 / row.seen as f64);
    }
    row.peak_rss_kib = vm_hwm_kib(&process_tree(r.root));
    if tool == Tool::Ours
        && let Some(c) = status_checks(&dir.join("hd.sock"))
    {
        row.attempts = Some(c.attempts);
        row.lost = Some(c.lost);
        row.changes = Some(c.changes);
    }
    // Detection: a real server in the middle stops listening.
    let j = n / 2;
    let (rs, v) = (rs_addr(j), vip(j / cli.per_vs));
    if dest_up(d, v, rs) {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = ctl.send(Ctl::Stop(j as usize, tx));
        let _ = rx.recv_timeout(Duration::from_secs(10));
        let t = Instant::now();
        let gone = wait_until(Duration::from_secs(cli.detect_limit), || {
            std::thread::sleep(Duration::from_millis(50));
            !dest_up(d, v, rs)
        });
        if gone {
            row.detect_ms = Some(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    stop_tool(d, &r);
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = ctl.send(Ctl::Start(j as usize, tx));
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => match floor_us(d, n, cli.kind, cli.floor_checks) {
            Ok(f) => row.floor_after_us = f,
            Err(e) => row.error = Some(e),
        },
        Ok(Err(e)) => row.error = Some(format!("reopening {rs}: {e}")),
        Err(_) => row.error = Some(format!("reopening {rs}: no answer")),
    }
    row
}

/// ha-director's check counters, from its status socket.
struct StatusChecks {
    /// Attempts with an outcome.
    attempts: u64,
    /// Attempts given up on.
    lost: u64,
    /// Real server health changes.
    changes: u64,
}

/// ha-director's check counters from its status socket. Not `observe::fetch_unix`: its
/// 5 s limit is short for a 10,000-server status under TCG.
fn status_checks(sock: &Path) -> Option<StatusChecks> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let j: serde_json::Value = serde_json::from_slice(&buf).ok()?;
    let c = &j["checks"];
    Some(StatusChecks {
        attempts: c["up"].as_u64()? + c["down"].as_u64()?,
        lost: c["lost"].as_u64()?,
        changes: c["changes"].as_u64()?,
    })
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

/// Microseconds with one decimal, or `-`.
fn us(v: Option<f64>) -> String {
    v.map(|c| format!("{c:.1} us"))
        .unwrap_or_else(|| "-".into())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>7} {:<11} {:<4} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>21} {:>9} {:>9} {:>12}",
        "checks",
        "checker",
        "kind",
        "cpu/chk",
        "floor",
        "above",
        "user s",
        "sys s",
        "% core",
        "peak MiB",
        "checks/s",
        "drift p50/p99/max ms",
        "unchecked",
        "detect s",
        "table s"
    );
    for r in rows {
        let cpu = r.cpu_user_s + r.cpu_sys_s;
        let table = match r.table_s {
            Some(t) => format!("{t:.1}"),
            None => format!("{}/{} in", r.in_ipvs, r.checks),
        };
        println!(
            "{:>7} {:<11} {:<4} {:>9} {:>9} {:>9} {:>8.2} {:>8.2} {:>8.1} {:>9.1} {:>9.0} {:>21} {:>9} {:>9} {:>12}",
            r.checks,
            r.tool,
            r.kind,
            us(r.cpu_per_check_us),
            us(r.floor_us()),
            us(r.above_floor_us()),
            r.cpu_user_s,
            r.cpu_sys_s,
            if r.window_s > 0.0 {
                cpu * 100.0 / r.window_s
            } else {
                0.0
            },
            r.peak_rss_kib as f64 / 1024.0,
            if r.window_s > 0.0 {
                r.seen as f64 / r.window_s
            } else {
                0.0
            },
            format!(
                "{}/{}/{}",
                opt(r.drift_p50_ms, 1),
                opt(r.drift_p99_ms, 1),
                opt(r.drift_max_ms, 0)
            ),
            r.unchecked,
            r.detect_ms
                .map(|m| format!("{:.2}", m / 1000.0))
                .unwrap_or_else(|| "none".into()),
            table
        );
        if let Some(e) = &r.error {
            println!("        ({} at {}: {e})", r.tool, r.checks);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ha_testsupport::require_vm();
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_rr"]);
    // A listener per real server, and the checkers inherit the limit: the VM's default hard
    // limit (4096) is too low for 10,000.
    let _ = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            "--nofile=262144:262144",
        ])
        .status();
    ha_examples::sys::raise_nofile();
    let bin = cli
        .ha_director
        .clone()
        .or_else(|| beside_this_program("ha-director"))
        .unwrap_or_else(|| PathBuf::from("ha-director"));
    if !bin.is_file() {
        eprintln!(
            "hc-vs: no ha-director at {} (build it, or --ha-director PATH)",
            bin.display()
        );
        return ExitCode::FAILURE;
    }
    let mut tools = vec![Tool::Ours];
    for t in &cli.vs {
        if !tools.contains(t) {
            tools.push(*t);
        }
    }
    let max = cli.checks.iter().copied().max().unwrap_or(0);
    let mut lab = Lab::new("hcvs");
    let addrs: Vec<String> = (0..max.div_ceil(1000))
        .map(|k| format!("{}/16", rs_addr(k * 1000).ip()))
        .collect();
    let addr_refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let d = lab.add_host("d", &addr_refs);
    let rec = Arc::new(Mutex::new(Arrivals {
        per: vec![(None, 0); max as usize],
        ..Arrivals::default()
    }));
    let ctl = match start_listeners(&d, max, cli.kind, rec.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hc-vs: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "hc-vs: {} checks, {:?}, 1 s interval, window {} s, {} real servers per virtual server; kernel {}, {} CPUs",
        cli.checks
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        cli.kind,
        cli.window,
        cli.per_vs,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut rows = Vec::new();
    for &n in &cli.checks {
        for &t in &tools {
            let row = measure(&mut lab, &d, &cli, n, t, &rec, &ctl, &bin);
            println!("RESULT {}", serde_json::to_string(&row).unwrap_or_default());
            rows.push(row);
        }
    }
    println!();
    print_table(&rows);
    println!();
    for &n in &cli.checks {
        let get = |t: &str| rows.iter().find(|r| r.checks == n && r.tool == t).cloned();
        let Some(ours) = get("ha-director") else {
            continue;
        };
        if let (Some(a), Some(l), Some(c)) = (ours.attempts, ours.lost, ours.changes) {
            println!(
                "[{n} checks] ours: {a} attempts since start, {l} given up on (lost), {c} real server health changes"
            );
        }
        for other in ["keepalived", "ldirectord"] {
            let Some(o) = get(other) else { continue };
            let cpu = match (ours.cpu_per_check_us, o.cpu_per_check_us) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "-".into(),
            };
            println!("[{n} checks] cpu per check ours/{other}: {cpu}");
            if let (Some(a), Some(b)) = (ours.above_floor_us(), o.above_floor_us()) {
                println!(
                    "[{n} checks] cpu per check above the kernel floor ours/{other}: {}",
                    ratio(a, b)
                );
            }
            if let (Some(f), Some(c)) = (o.floor_us(), o.cpu_per_check_us) {
                println!(
                    "[{n} checks] kernel floor / {other}'s cpu per check: {} (what a checker at the floor would reach)",
                    ratio(f, c)
                );
            }
            let mem = ratio(ours.peak_rss_kib as f64, o.peak_rss_kib as f64);
            println!("[{n} checks] peak memory ours/{other}: {mem}");
        }
    }
    drop(ctl);
    drop(lab);
    if rows.iter().any(|r| r.error.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
