//! The LVS-DR lab (issue 8): a client, two directors and two real servers, each a network
//! namespace on one bridge, and a scenario that exercises what a highly available director must
//! do, narrated in plain lines and measured.
//!
//! ```text
//!   client 10.100.0.10 ──┐
//!   dir1   10.100.0.2  ──┤  VIP 10.100.0.100:80 (TCP, rr, LVS-DR) held by the VRRP master;
//!   dir2   10.100.0.3  ──┼─ br0   IPVS lives in each director's namespace
//!   rs1    10.100.0.11 ──┤  real servers: VIP on lo, arp_ignore=1, arp_announce=2
//!   rs2    10.100.0.12 ──┘  (director::realserver), an HTTP server answering its name
//! ```
//!
//! The scenario ([`run_scenario`]): requests alternate between the real servers; rs1's server
//! stops, rs1 leaves the pool (read with `ipvsadm -Ln` in the master's namespace), comes back
//! and rejoins; a keep-alive connection is opened and seen synced to the backup by the IPVS sync
//! daemon; director 1 (the master) crashes (SIGKILL and its cable pulled) and director 2 takes
//! the VIP, the outage measured from the client's request stream (one request every 50 ms with a
//! short timeout); the keep-alive connection still answers; director 1 reboots (its leftover VIP,
//! IPVS table and sync daemons are cleared, as a reboot would) and preempts back.
//!
//! Each director is real keepalived or `ha-director run` ([`DirectorKind`]), both configured
//! from the same generated keepalived.conf ([`config::LabConfig::keepalived_conf`]).
//!
//! IPVS is needed, so this runs inside the test VM (`cargo xtask lab`); elsewhere it fails with
//! [`LabError::NoIpvs`].

pub mod active;
pub mod config;
pub mod heartbeat;
pub mod http;
pub mod limits;
pub mod procfs;
pub mod soak;
pub(crate) mod svg;
pub mod takeover;
pub mod timeline;

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc};

use crate::director::realserver::{self, RealserverOptions};
pub use config::LabConfig;
use http::{HttpServer, KeepAlive};

/// Which program runs a director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorKind {
    /// Real keepalived (`keepalived -n -l -D -f CONF`).
    Keepalived,
    /// This project's `ha-director run`.
    Ha,
    /// Debian's heartbeat 3.0.6 starting ldirectord 4.12 as its resource (the heartbeat stack
    /// of [`heartbeat`]; only with `--stack`).
    Heartbeat,
    /// `ha-director run --heartbeat-dir` on the heartbeat stack's files (only with `--stack`).
    HaHeartbeat,
}

impl fmt::Display for DirectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirectorKind::Keepalived => "keepalived",
            DirectorKind::Ha => "ha",
            DirectorKind::Heartbeat => "heartbeat",
            DirectorKind::HaHeartbeat => "ha-heartbeat",
        })
    }
}

impl DirectorKind {
    /// The program's name (`ha-director` or `keepalived`).
    pub fn program(&self) -> &'static str {
        match self {
            DirectorKind::Keepalived => "keepalived",
            DirectorKind::Ha | DirectorKind::HaHeartbeat => "ha-director",
            DirectorKind::Heartbeat => "heartbeat",
        }
    }
}

impl std::str::FromStr for DirectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keepalived" => Ok(DirectorKind::Keepalived),
            "ha" | "ha-director" => Ok(DirectorKind::Ha),
            "heartbeat" | "ha-heartbeat" => Err(format!(
                "{s:?} is a whole stack, not one director: use `--stack {s}`"
            )),
            other => Err(format!(
                "unknown director kind {other:?}: use `ha` or `keepalived`"
            )),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Director 1 (priority 150, the master).
    pub dir1: DirectorKind,
    /// Director 2 (priority 100, the backup).
    pub dir2: DirectorKind,
    /// The `ha-director` binary (needed for [`DirectorKind::Ha`]).
    pub ha_director: Option<PathBuf>,
    /// Addresses and timers.
    pub config: LabConfig,
    /// The client sends one request every `request_interval`...
    pub request_interval: Duration,
    /// ...and gives each one `request_timeout`.
    pub request_timeout: Duration,
    /// Print each narration line to stdout as it happens (it is in the report either way).
    pub echo: bool,
}

impl LabOptions {
    /// Defaults for the two kinds: VRRPv3 every 0.2 s, checks every second, a request every
    /// 50 ms with a 300 ms timeout.
    pub fn new(dir1: DirectorKind, dir2: DirectorKind) -> LabOptions {
        LabOptions {
            dir1,
            dir2,
            ha_director: None,
            config: LabConfig::default(),
            request_interval: Duration::from_millis(50),
            request_timeout: Duration::from_millis(300),
            echo: false,
        }
    }
}

/// Director 1's VRRP priority.
pub const DIR1_PRIORITY: u8 = 150;
/// Director 2's VRRP priority.
pub const DIR2_PRIORITY: u8 = 100;

/// What the scenario measured.
#[derive(Debug, Clone)]
pub struct LabReport {
    /// The real server names of the first requests while both were up, in order.
    pub first_answers: Vec<String>,
    /// Whether every pair of consecutive answers in `first_answers` came from different servers.
    pub alternates: bool,
    /// From stopping rs1's server until `ipvsadm -Ln` on the master no longer listed it.
    pub rs_leave: Duration,
    /// The health checks' fall window ([`LabConfig::fall_window`]).
    pub fall_window: Duration,
    /// Client requests that failed between stopping rs1 and its removal.
    pub failed_while_rs_down: usize,
    /// Requests answered by rs1 after its removal was seen (must be 0).
    pub rs1_answers_while_out: usize,
    /// From restarting rs1's server until it was back in the pool.
    pub rs_rejoin: Duration,
    /// Whether the backup's `ipvsadm -Lnc` showed the keep-alive connection before the failover.
    pub conn_synced_to_backup: bool,
    /// From crashing director 1 until director 2 held the VIP.
    pub takeover: Duration,
    /// Master_Down_Interval of director 2 (3 x advert + skew).
    pub master_down_interval: Duration,
    /// The longest time without an answer at the client around the failover.
    pub failover_outage: Duration,
    /// Client requests that failed during the failover.
    pub failed_during_failover: usize,
    /// The keep-alive connection's answers before and after the failover.
    pub conn_before: String,
    /// The answer (or the error) on the keep-alive connection after the failover.
    pub conn_after_failover: Result<String, String>,
    /// From restarting director 1 until it held the VIP again and director 2 did not.
    pub failback: Duration,
    /// The longest time without an answer at the client around the failback.
    pub failback_outage: Duration,
    /// The answer (or the error) on the keep-alive connection after the failback.
    pub conn_after_failback: Result<String, String>,
    /// Every request the client made.
    pub requests: usize,
    /// The graceful stop (SIGTERM) of each director at the end, in order.
    pub stops: Vec<StopReport>,
    /// The narration, one line per event.
    pub narration: Vec<String>,
    /// Every client request and the scenario's steps, for the SVG picture
    /// ([`timeline::Timeline::svg`]).
    pub timeline: timeline::Timeline,
}

/// How one director stopped on SIGTERM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// `dir1` or `dir2`.
    pub director: String,
    /// The program (`ha-director` or `keepalived`).
    pub program: &'static str,
    /// How long it took to exit; `None`: it did not exit within the lab's limit and was
    /// SIGKILLed.
    pub took: Option<Duration>,
    /// Whether it left the VIP on its host.
    pub left_vip: bool,
}

impl LabReport {
    /// Whether the connection opened before the failover answered from the same server after it.
    pub fn conn_survived_failover(&self) -> bool {
        self.conn_after_failover.as_deref() == Ok(self.conn_before.as_str())
    }

    /// The figures as plain lines.
    pub fn summary(&self) -> String {
        let s = |d: Duration| format!("{:.3} s", d.as_secs_f64());
        let r = |x: &Result<String, String>| match x {
            Ok(n) => format!("answered by {n}"),
            Err(e) => format!("FAILED ({e})"),
        };
        format!(
            "requests alternate: {} ({})\n\
             rs1 left the pool after {} (fall window {}), {} request(s) failed meanwhile\n\
             rs1 rejoined after {}\n\
             keep-alive connection synced to the backup: {}\n\
             takeover after {} (Master_Down_Interval {})\n\
             client outage on failover: {}, {} request(s) failed\n\
             keep-alive connection after failover: {} (before: {})\n\
             failback after {}, client outage {}\n\
             keep-alive connection after failback: {}\n\
             {} requests in all\n\
             stops: {}",
            if self.alternates { "yes" } else { "NO" },
            self.first_answers.join(" "),
            s(self.rs_leave),
            s(self.fall_window),
            self.failed_while_rs_down,
            s(self.rs_rejoin),
            if self.conn_synced_to_backup {
                "yes"
            } else {
                "NO"
            },
            s(self.takeover),
            s(self.master_down_interval),
            s(self.failover_outage),
            self.failed_during_failover,
            r(&self.conn_after_failover),
            self.conn_before,
            s(self.failback),
            s(self.failback_outage),
            r(&self.conn_after_failback),
            self.requests,
            self.stops
                .iter()
                .map(|st| format!(
                    "{} ({}) {}{}",
                    st.director,
                    st.program,
                    st.took.map_or("SIGKILLed".to_owned(), |t| format!(
                        "{:.3} s",
                        t.as_secs_f64()
                    )),
                    if st.left_vip { ", VIP LEFT BEHIND" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Why the scenario could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The kernel has no IPVS (this host's kernel lacks it: run in the VM).
    #[error(
        "IPVS is not available in this kernel (no /proc/net/ip_vs after modprobe ip_vs): run the lab in the VM with `cargo xtask lab`"
    )]
    NoIpvs,
    /// A program the lab needs is missing.
    #[error("`{program}` is not installed: {hint}")]
    MissingProgram {
        /// The program.
        program: String,
        /// How to get it.
        hint: String,
    },
    /// The configuration could not be prepared.
    #[error("preparing {what}: {detail}")]
    Prepare {
        /// What.
        what: String,
        /// Why.
        detail: String,
    },
    /// A director process exited on its own.
    #[error("{director} ({kind}) exited with {status} {when}; its output ends with:\n{output}")]
    DirectorExited {
        /// dir1 or dir2.
        director: String,
        /// What ran it.
        kind: DirectorKind,
        /// The exit status.
        status: String,
        /// During which step.
        when: String,
        /// The last lines of its stdout and stderr.
        output: String,
    },
    /// Something expected did not happen in time.
    #[error("{what} did not happen within {:.1} s{}", within.as_secs_f64(), if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        within: Duration,
        /// What was seen instead.
        detail: String,
    },
    /// A step of the lab failed.
    #[error("{0}")]
    Step(String),
    /// The lab's netns plumbing failed (ha-testsupport panicked).
    #[error("lab setup failed: {0}")]
    Setup(String),
}

/// One line of narration per event, with the seconds since the start.
#[derive(Debug, Clone)]
struct Narrator {
    start: Instant,
    echo: bool,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Narrator {
    fn new(echo: bool) -> Narrator {
        Narrator {
            start: Instant::now(),
            echo,
            lines: Arc::default(),
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn say(&self, who: &str, what: impl fmt::Display) {
        let line = format!("[{:8.3}] {who}: {what}", self.now().as_secs_f64());
        if self.echo {
            println!("{line}");
        }
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// How long a director may take to stop on SIGTERM at the end of the scenario.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// ha-director's own stop grace (`shutdown_grace`, 2 s by default).
const HA_STOP_GRACE: Duration = Duration::from_secs(2);

/// Failed requests in a row that the narration reports.
const FAILURE_STREAK: usize = 3;

/// One client request.
#[derive(Debug, Clone)]
struct Sample {
    /// When it was sent (since the start).
    sent: Duration,
    /// When it finished.
    done: Duration,
    /// The server's name or the error.
    result: Result<String, String>,
}

/// The client's request stream, running on its own thread inside the client's namespace.
struct Stream {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    handle: Option<JoinHandle<()>>,
}

impl Stream {
    fn start(
        client: &Host,
        target: SocketAddr,
        n: &Narrator,
        every: Duration,
        timeout: Duration,
    ) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (st, sa, n, client) = (stop.clone(), samples.clone(), n.clone(), client.clone());
        let handle = std::thread::spawn(move || {
            client.run_in(move || {
                let url = format!("http://{target}/");
                // (time of the last answer, failed requests since, the first error)
                let mut failing: Option<(Duration, usize, String)> = None;
                let mut answered = 0usize;
                let mut last_ok = Duration::ZERO;
                while !st.load(Ordering::SeqCst) {
                    let sent = n.now();
                    let result = http::get_once(target, timeout);
                    let done = n.now();
                    match (&result, failing.take()) {
                        (Ok(name), None) => {
                            answered += 1;
                            if answered <= 6 {
                                n.say("client", format_args!("GET {url} -> {name}"));
                            }
                        }
                        (Ok(name), Some((since, count, first))) => {
                            // A lone failure (a dead real server still in the pool) is counted
                            // by the phase that caused it; longer streaks are narrated.
                            if count >= FAILURE_STREAK {
                                n.say(
                                    "client",
                                    format_args!(
                                        "GET {url} -> {name} again after {count} failed request(s) ({first}); {:.3} s since the last answer",
                                        (done - since).as_secs_f64()
                                    ),
                                );
                            }
                        }
                        (Err(e), None) => failing = Some((last_ok, 1, e.clone())),
                        (Err(_), Some((since, count, first))) => {
                            if count + 1 == FAILURE_STREAK {
                                n.say(
                                    "client",
                                    format_args!("GET {url} fails: {first} ({FAILURE_STREAK} in a row)"),
                                );
                            }
                            failing = Some((since, count + 1, first));
                        }
                    }
                    if result.is_ok() {
                        last_ok = done;
                    }
                    sa.lock().unwrap_or_else(|e| e.into_inner()).push(Sample {
                        sent,
                        done,
                        result,
                    });
                    let next = sent + every;
                    let now = n.now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                }
            })
        });
        Stream {
            stop,
            samples,
            handle: Some(handle),
        }
    }

    fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `count` requests sent after `after` were answered; false on timeout.
    fn wait_answers(&self, after: Duration, count: usize, within: Duration) -> bool {
        ha_testsupport::wait_until(within, || {
            self.samples()
                .iter()
                .filter(|s| s.sent >= after && s.result.is_ok())
                .count()
                >= count
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The longest time without an answer from `from` to `to`: the gaps between consecutive
/// answered requests (by completion time), counting from the last answer before `from`.
fn max_gap(samples: &[Sample], from: Duration, to: Duration) -> Duration {
    let mut ok: Vec<Duration> = samples
        .iter()
        .filter(|s| s.result.is_ok())
        .map(|s| s.done)
        .collect();
    ok.sort();
    let first = ok.iter().rposition(|d| *d <= from).unwrap_or(0);
    ok[first..]
        .iter()
        .take_while(|d| **d <= to)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| *w[1] - *w[0])
        .max()
        .unwrap_or_default()
}

fn failures_between(samples: &[Sample], from: Duration, to: Duration) -> usize {
    samples
        .iter()
        .filter(|s| s.sent >= from && s.sent <= to && s.result.is_err())
        .count()
}

/// A pool member as `ipvsadm -Ln` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `ADDR:PORT`.
    pub addr: String,
    /// The forwarding method (`Route` for DR).
    pub forward: String,
    /// Its weight (0 = quiesced).
    pub weight: u32,
}

/// The real servers `ipvsadm -Ln` lists under the virtual service `service` (`ADDR:PORT`).
pub fn parse_ipvsadm_members(text: &str, service: &str) -> Vec<Member> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["TCP" | "UDP" | "SCTP" | "FWM", addr, ..] => inside = *addr == service,
            ["->", addr, forward, weight, ..] if inside && *addr != "RemoteAddress:Port" => {
                if let Ok(weight) = weight.parse() {
                    out.push(Member {
                        addr: (*addr).to_owned(),
                        forward: (*forward).to_owned(),
                        weight,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// A director: its host, its process, its kind.
struct Director {
    name: &'static str,
    host: Host,
    kind: DirectorKind,
    proc: Proc,
    /// Log files the director writes besides its stdout and stderr (heartbeat's ha-log,
    /// ldirectord's log).
    logs: Vec<PathBuf>,
}

impl Director {
    fn check_running(&self, when: &str) -> Result<(), LabError> {
        if self.proc.is_running() {
            return Ok(());
        }
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        Err(LabError::DirectorExited {
            director: self.name.to_owned(),
            kind: self.kind,
            status: self
                .proc
                .exit_status()
                .map_or("an unknown status".into(), |s| s.to_string()),
            when: when.to_owned(),
            output: format!("{}\n{}", tail(self.proc.stdout()), tail(self.proc.stderr())),
        })
    }

    /// The last lines of the director's output, for error messages.
    fn log_tail(&self, lines: usize) -> String {
        let text = format!("{}{}", self.proc.stdout(), self.proc.stderr());
        let all: Vec<&str> = text.lines().collect();
        let mut out = format!(
            "--- {} ({}) output, last {lines} lines:\n{}",
            self.name,
            self.kind.program(),
            all[all.len().saturating_sub(lines)..].join("\n")
        );
        for log in &self.logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "\n--- {} {}, last {lines} lines:\n{}",
                self.name,
                log.display(),
                all[all.len().saturating_sub(lines)..].join("\n")
            ));
        }
        out
    }

    /// The IPv4 addresses of `eth0` inside the director (`ip -o -4 addr show dev eth0`).
    fn addresses(&self) -> String {
        let out = self
            .host
            .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn has_vip(&self, vip: &str) -> bool {
        self.addresses()
            .split(' ')
            .any(|a| a.split('/').next() == Some(vip))
    }

    fn ipvsadm(&self, args: &[&str]) -> String {
        let mut argv = vec!["ipvsadm"];
        argv.extend_from_slice(args);
        let out = self.host.exec(&argv);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn members(&self, service: &str) -> Vec<Member> {
        parse_ipvsadm_members(&self.ipvsadm(&["-Ln"]), service)
    }

    /// The service's destinations for the narration: `ADDR FORWARD wWEIGHT, ...`.
    fn pool_line(&self, service: &str) -> String {
        self.members(service)
            .iter()
            .map(|m| format!("{} {} w{}", m.addr, m.forward, m.weight))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn in_pool(members: &[Member], addr: &str) -> bool {
    members.iter().any(|m| m.addr == addr && m.weight > 0)
}

/// Polls `cond` every 100 ms until it holds or `within` passes, failing early when a director
/// exits. Returns the time it took.
fn wait_for(
    what: &str,
    within: Duration,
    dirs: &[&Director],
    cond: impl FnMut() -> bool,
    detail: impl FnMut() -> String,
) -> Result<Duration, LabError> {
    wait_for_every(what, within, Duration::from_millis(100), dirs, cond, detail)
}

/// [`wait_for`], polling every `every` (each poll runs `ip`/`ipvsadm` in the namespaces: under
/// TCG every process started slows the directors' own scripts down).
fn wait_for_every(
    what: &str,
    within: Duration,
    every: Duration,
    dirs: &[&Director],
    mut cond: impl FnMut() -> bool,
    mut detail: impl FnMut() -> String,
) -> Result<Duration, LabError> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(start.elapsed());
        }
        for d in dirs {
            d.check_running(&format!("while waiting until {what}"))?;
        }
        if start.elapsed() > within {
            return Err(LabError::Timeout {
                what: what.to_owned(),
                within,
                detail: detail(),
            });
        }
        std::thread::sleep(every);
    }
}

fn program_exists(name: &str) -> bool {
    if name.contains('/') {
        return Path::new(name).is_file();
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.iter().any(|d| d.join(name).is_file())
}

/// Loads the kernel modules (best effort: modprobe may be missing outside the VM) and checks
/// that IPVS is there.
fn kernel_ready() -> Result<(), LabError> {
    for m in ["ip_vs", "ip_vs_rr", "veth", "bridge"] {
        let _ = Command::new("modprobe").arg(m).output();
    }
    if Path::new("/proc/net/ip_vs").exists() {
        Ok(())
    } else {
        Err(LabError::NoIpvs)
    }
}

/// Runs the whole scenario and returns what it measured. Needs root and a kernel with IPVS (the
/// test VM). Every namespace and process is removed before it returns.
pub fn run_scenario(opts: &LabOptions) -> Result<LabReport, LabError> {
    kernel_ready()?;
    for p in ["ip", "ipvsadm"] {
        if !program_exists(p) {
            return Err(LabError::MissingProgram {
                program: p.into(),
                hint: format!(
                    "apt-get install -y {}",
                    if p == "ip" { "iproute2" } else { p }
                ),
            });
        }
    }
    if [opts.dir1, opts.dir2].contains(&DirectorKind::Keepalived) && !program_exists("keepalived") {
        return Err(LabError::MissingProgram {
            program: "keepalived".into(),
            hint: "apt-get install -y keepalived".into(),
        });
    }
    if [opts.dir1, opts.dir2].contains(&DirectorKind::Ha) {
        match &opts.ha_director {
            Some(p) if p.is_file() => {}
            Some(p) => {
                return Err(LabError::MissingProgram {
                    program: p.display().to_string(),
                    hint: "build it: cargo build -p ha-examples --bin ha-director".into(),
                });
            }
            None => {
                return Err(LabError::MissingProgram {
                    program: "ha-director".into(),
                    hint: "LabOptions::ha_director must name the binary".into(),
                });
            }
        }
    }
    narrated(opts.echo, |n| scenario(opts, n)).map(|(mut rep, lines)| {
        rep.narration = lines;
        rep
    })
}

fn start_director(
    lab: &mut Lab,
    opts: &LabOptions,
    n: &Narrator,
    name: &'static str,
    host: &Host,
    kind: DirectorKind,
    priority: u8,
) -> Result<Director, LabError> {
    let c = &opts.config;
    let dir = lab.dir().to_path_buf();
    let conf_text = c.keepalived_conf(name, priority, host.ifname());
    let conf = dir.join(format!("{name}.keepalived.conf"));
    let prep = |what: &Path, e: std::io::Error| LabError::Prepare {
        what: what.display().to_string(),
        detail: e.to_string(),
    };
    std::fs::write(&conf, &conf_text).map_err(|e| prep(&conf, e))?;
    let s = |p: &Path| p.display().to_string();
    let argv: Vec<String> = match kind {
        DirectorKind::Keepalived => keepalived_argv(&conf, &dir, name),
        DirectorKind::Ha => {
            // The same keepalived.conf, converted, with a status socket of this director's own
            // (both directors share one filesystem, and the default socket path would collide).
            let mut loaded =
                crate::director::load_keepalived_str(&conf_text, &conf).map_err(|errs| {
                    LabError::Prepare {
                        what: s(&conf),
                        detail: errs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    }
                })?;
            for w in &loaded.warnings {
                n.say(name, format_args!("config: {w}"));
            }
            loaded.config.global.status_socket = Some(dir.join(format!("{name}.status.sock")));
            let toml_text = crate::director::toml_format::to_toml(&loaded.config).map_err(|e| {
                LabError::Prepare {
                    what: s(&conf),
                    detail: e.to_string(),
                }
            })?;
            let toml_path = dir.join(format!("{name}.toml"));
            std::fs::write(&toml_path, toml_text).map_err(|e| prep(&toml_path, e))?;
            let bin = opts.ha_director.clone().unwrap_or_default();
            vec![s(&bin), "run".into(), "--config".into(), s(&toml_path)]
        }
        DirectorKind::Heartbeat | DirectorKind::HaHeartbeat => {
            return Err(LabError::Prepare {
                what: format!("{name} ({kind})"),
                detail: format!("the {kind} stack runs with `--stack {kind}`, not as one director"),
            });
        }
    };
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    n.say(
        name,
        format_args!(
            "start {} (priority {priority}): {}",
            kind.program(),
            words.join(" ")
        ),
    );
    let proc = lab.spawn(host, &words);
    Ok(Director {
        name,
        host: host.clone(),
        kind,
        proc,
        logs: Vec::new(),
    })
}

fn realserver_apply(host: &Host, vip: IpAddr, state: PathBuf) -> Result<String, LabError> {
    let opts = RealserverOptions {
        vips: vec![vip],
        interface: Some(host.ifname().to_owned()),
        state_file: state,
        proc_sys: "/proc/sys".into(),
    };
    host.run_in(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(realserver::apply(&opts))
            .map(|r| {
                let vips: Vec<String> = r
                    .vips
                    .iter()
                    .map(|(a, o)| format!("VIP {a}/{} on lo ({o:?})", realserver::host_prefix(*a)))
                    .collect();
                let changed = r.sysctls.iter().filter(|c| c.before != c.after).count();
                format!(
                    "{}; arp_ignore=1 arp_announce=2 on all, lo, {} ({changed} of {} sysctls changed)",
                    vips.join(", "),
                    opts.interface.as_deref().unwrap_or("-"),
                    r.sysctls.len()
                )
            })
            .map_err(|e| e.to_string())
    })
    .map_err(|e| LabError::Step(format!("{}: realserver apply: {e}", host.name())))
}

fn scenario(opts: &LabOptions, n: &Narrator) -> Result<LabReport, LabError> {
    let c = &opts.config;
    let vip = c.vip.to_string();
    let service = format!("{}:{}", c.vip, c.port);
    let target = SocketAddr::V4(SocketAddrV4::new(c.vip, c.port));
    let not_yet = || Err("not reached".to_owned());
    let mut rep = LabReport {
        first_answers: Vec::new(),
        alternates: false,
        rs_leave: Duration::ZERO,
        fall_window: c.fall_window(),
        failed_while_rs_down: 0,
        rs1_answers_while_out: 0,
        rs_rejoin: Duration::ZERO,
        conn_synced_to_backup: false,
        takeover: Duration::ZERO,
        master_down_interval: c.master_down_interval(DIR2_PRIORITY),
        failover_outage: Duration::ZERO,
        failed_during_failover: 0,
        conn_before: String::new(),
        conn_after_failover: not_yet(),
        failback: Duration::ZERO,
        failback_outage: Duration::ZERO,
        conn_after_failback: not_yet(),
        requests: 0,
        stops: Vec::new(),
        narration: Vec::new(),
        timeline: timeline::Timeline::default(),
    };

    let mut lab = Lab::new("lvs");
    let client = lab.add_host("client", &["10.100.0.10/24"]);
    let dir1_host = lab.add_host("dir1", &["10.100.0.2/24"]);
    let dir2_host = lab.add_host("dir2", &["10.100.0.3/24"]);
    let mut rs_hosts = Vec::new();
    for (name, addr) in &c.real_servers {
        rs_hosts.push(lab.add_host(name, &[&format!("{addr}/24")]));
    }
    n.say(
        "lab",
        format_args!(
            "client 10.100.0.10, dir1 10.100.0.2 ({}), dir2 10.100.0.3 ({}), {}; VIP {service} TCP rr LVS-DR; files in {}",
            opts.dir1,
            opts.dir2,
            c.real_servers
                .iter()
                .map(|(n, a)| format!("{n} {a}"))
                .collect::<Vec<_>>()
                .join(", "),
            lab.dir().display()
        ),
    );

    // Real servers: the VIP on lo with the ARP sysctls, and an HTTP server answering its name.
    let mut servers = Vec::new();
    for (host, (name, _)) in rs_hosts.iter().zip(&c.real_servers) {
        let state = lab.dir().join(format!("{name}.realserver.json"));
        let done = realserver_apply(host, IpAddr::V4(c.vip), state)?;
        n.say(name, format_args!("realserver: {done}"));
        let srv = HttpServer::start(host, name, c.port)
            .map_err(|e| LabError::Step(format!("{name}: HTTP server on port {}: {e}", c.port)))?;
        n.say(
            name,
            format_args!("HTTP server on :{} answers \"{name}\"", c.port),
        );
        servers.push(srv);
    }

    // Directors.
    let dir1 = start_director(
        &mut lab,
        opts,
        n,
        "dir1",
        &dir1_host,
        opts.dir1,
        DIR1_PRIORITY,
    )?;
    let dir2 = start_director(
        &mut lab,
        opts,
        n,
        "dir2",
        &dir2_host,
        opts.dir2,
        DIR2_PRIORITY,
    )?;
    let both = [&dir1, &dir2];
    let t = wait_for(
        "dir1 holds the VIP",
        Duration::from_secs(60),
        &both,
        || dir1.has_vip(&vip),
        || {
            format!(
                "dir2 holds it: {}; dir1's eth0: {}\n{}\n{}",
                dir2.has_vip(&vip),
                dir1.addresses(),
                dir1.log_tail(25),
                dir2.log_tail(25)
            )
        },
    )?;
    n.say(
        "dir1",
        format_args!(
            "MASTER: holds VIP {vip} ({:.3} s after start)",
            t.as_secs_f64()
        ),
    );
    let rs_addrs: Vec<String> = c
        .real_servers
        .iter()
        .map(|(_, a)| format!("{a}:{}", c.port))
        .collect();
    wait_for(
        "both real servers are in dir1's pool",
        Duration::from_secs(20),
        &both,
        || {
            let m = dir1.members(&service);
            rs_addrs.iter().all(|a| in_pool(&m, a))
        },
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    n.say(
        "dir1",
        format_args!("ipvsadm -Ln: {}", dir1.pool_line(&service)),
    );
    // At start both directors may be master for a moment (each came up before hearing the
    // other: RFC 9568 6.4.2); the lower-priority one must give the VIP up on dir1's adverts.
    // Loose: a director that never hears them never releases it, and under TCG a keepalived
    // dir2 once logged dir1's higher-priority advert and had not released the VIP 5 s later
    // (the same test passed on a rerun).
    wait_for(
        "dir2 releases the VIP to the higher-priority dir1 (else the directors do not see each other's adverts)",
        Duration::from_secs(15),
        &both,
        || !dir2.has_vip(&vip),
        || dir2.log_tail(30),
    )?;

    // Requests alternate.
    let mut stream = Stream::start(
        &client,
        target,
        n,
        opts.request_interval,
        opts.request_timeout,
    );
    let t0 = n.now();
    if !stream.wait_answers(t0, 10, Duration::from_secs(20)) {
        return Err(LabError::Timeout {
            what: "10 answers through the VIP".into(),
            within: Duration::from_secs(20),
            detail: format!(
                "{:?}",
                stream
                    .samples()
                    .iter()
                    .rev()
                    .take(5)
                    .map(|s| s.result.clone())
                    .collect::<Vec<_>>()
            ),
        });
    }
    (rep.first_answers, rep.alternates) = first_answers(&stream, n);

    // A real server dies and comes back.
    let (rs1_name, rs1_ip) = c.real_servers[0].clone();
    let rs1_addr = format!("{rs1_ip}:{}", c.port);
    let t_stop = n.now();
    servers[0].stop();
    n.say(&rs1_name, "HTTP server stopped (connections refused)");
    let mut marks = vec![(t_stop, format!("{rs1_name} stops"))];
    rep.rs_leave = wait_for(
        &format!("{rs1_addr} leaves dir1's pool"),
        rep.fall_window * 3 + Duration::from_secs(10),
        &both,
        || !in_pool(&dir1.members(&service), &rs1_addr),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    let t_left = n.now();
    marks.push((t_left, format!("{rs1_name} leaves the pool")));
    n.say(
        "dir1",
        format_args!(
            "ipvsadm -Ln: {rs1_addr} left the pool {:.3} s after it stopped (fall window {:.3} s)",
            rep.rs_leave.as_secs_f64(),
            rep.fall_window.as_secs_f64()
        ),
    );
    // Let the client run against the smaller pool for a moment.
    std::thread::sleep(Duration::from_secs(1));
    let samples = stream.samples();
    rep.failed_while_rs_down = failures_between(&samples, t_stop, t_left);
    rep.rs1_answers_while_out = samples
        .iter()
        .filter(|s| s.sent > t_left + Duration::from_millis(200))
        .filter(|s| s.result.as_deref() == Ok(rs1_name.as_str()))
        .count();
    n.say(
        "client",
        format_args!(
            "{} request(s) failed before rs1 left the pool; since then answers come from: {}",
            rep.failed_while_rs_down,
            answers_since(&samples, t_left + Duration::from_millis(200))
        ),
    );
    servers[0] = HttpServer::start(&rs_hosts[0], &rs1_name, c.port)
        .map_err(|e| LabError::Step(format!("{rs1_name}: restart HTTP server: {e}")))?;
    n.say(&rs1_name, "HTTP server started again");
    marks.push((n.now(), format!("{rs1_name} starts again")));
    rep.rs_rejoin = wait_for(
        &format!("{rs1_addr} rejoins dir1's pool"),
        rep.fall_window * 3 + Duration::from_secs(10),
        &both,
        || in_pool(&dir1.members(&service), &rs1_addr),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    n.say(
        "dir1",
        format_args!(
            "ipvsadm -Ln: {rs1_addr} rejoined the pool {:.3} s after it came back",
            rep.rs_rejoin.as_secs_f64()
        ),
    );
    let t_joined = n.now();
    marks.push((t_joined, format!("{rs1_name} rejoins the pool")));
    if !ha_testsupport::wait_until(Duration::from_secs(10), || {
        stream
            .samples()
            .iter()
            .any(|s| s.sent >= t_joined && s.result.as_deref() == Ok(rs1_name.as_str()))
    }) {
        return Err(LabError::Timeout {
            what: format!("an answer from {rs1_name} after it rejoined"),
            within: Duration::from_secs(10),
            detail: answers_since(&stream.samples(), t_joined),
        });
    }
    n.say("client", format_args!("{rs1_name} answers again"));

    // A long-lived connection, synced to the backup director.
    let mut conn = KeepAlive::connect(&client, target, Duration::from_secs(2))
        .map_err(|e| LabError::Step(format!("client: keep-alive connection to {target}: {e}")))?;
    rep.conn_before = conn.get(Duration::from_secs(2)).map_err(|e| {
        LabError::Step(format!(
            "client: first request on the keep-alive connection: {e}"
        ))
    })?;
    let local = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    n.say(
        "client",
        format_args!(
            "keep-alive connection {local} -> {target} opened: GET -> {}",
            rep.conn_before
        ),
    );
    let synced = wait_for(
        "the backup's IPVS lists the keep-alive connection (sync daemon)",
        Duration::from_secs(10),
        &both,
        || dir2.ipvsadm(&["-Lnc"]).contains(&local),
        String::new,
    );
    rep.conn_synced_to_backup = synced.is_ok();
    match synced {
        Ok(d) => {
            let line = dir2
                .ipvsadm(&["-Lnc"])
                .lines()
                .find(|l| l.contains(&local))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            n.say(
                "dir2",
                format_args!(
                    "ipvsadm -Lnc (backup, via the sync daemon, {:.3} s): {line}",
                    d.as_secs_f64()
                ),
            );
        }
        Err(LabError::DirectorExited { .. }) => {
            return synced.map(|_| rep);
        }
        Err(e) => n.say("dir2", format_args!("the connection is NOT synced: {e}")),
    }

    // Director 1 crashes.
    // A crash: the box drops off the network at once (cable first: a SIGKILLed director
    // would leave its VIP and IPVS table forwarding), and its director dies.
    let t_kill = n.now();
    lab.cut_link(&dir1_host);
    dir1.proc.kill(libc::SIGKILL);
    marks.push((t_kill, "dir1 crashes".to_owned()));
    n.say(
        "dir1",
        format_args!("crash: cable pulled and {} SIGKILLed", dir1.kind.program()),
    );
    rep.takeover = wait_for(
        "dir2 takes the VIP",
        rep.master_down_interval * 3 + Duration::from_secs(10),
        &[&dir2],
        || dir2.has_vip(&vip),
        || dir2.log_tail(25),
    )?;
    let t_taken = n.now();
    marks.push((t_taken, "failover: dir2 holds the VIP".to_owned()));
    n.say(
        "dir2",
        format_args!(
            "MASTER: holds VIP {vip} {:.3} s after the crash (Master_Down_Interval {:.3} s)",
            (t_taken - t_kill).as_secs_f64(),
            rep.master_down_interval.as_secs_f64()
        ),
    );
    rep.takeover = t_taken - t_kill;
    expect_answers(&stream, t_taken, "the takeover")?;
    let samples = stream.samples();
    rep.failover_outage = max_gap(&samples, t_kill, n.now());
    rep.failed_during_failover = failures_between(&samples, t_kill, n.now());
    n.say(
        "client",
        format_args!(
            "outage on failover: {:.3} s without an answer, {} request(s) failed",
            rep.failover_outage.as_secs_f64(),
            rep.failed_during_failover
        ),
    );
    rep.conn_after_failover = conn.get(Duration::from_secs(2));
    n.say(
        "client",
        format_args!(
            "keep-alive connection {local} after the failover: {}",
            match &rep.conn_after_failover {
                Ok(name) if *name == rep.conn_before => format!("GET -> {name}: it survived"),
                Ok(name) => format!("GET -> {name} (a different server?)"),
                Err(e) => format!("FAILED: {e}"),
            }
        ),
    );

    // Director 1 reboots and preempts back.
    let sh = |cmd: &str| {
        let _ = dir1_host.exec(&["sh", "-c", cmd]);
    };
    sh(&format!("ip addr del {vip}/32 dev eth0"));
    sh("ipvsadm -C; ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup");
    // Pid files (keepalived's) and sockets of the dead run, as a reboot's fresh /run.
    sh(&format!(
        "rm -f {d}/dir1.*.pid {d}/dir1.status.sock",
        d = lab.dir().display()
    ));
    lab.restore_link(&dir1_host);
    n.say(
        "dir1",
        "reboot: leftover VIP, IPVS table, sync daemons and pid files cleared, cable back in",
    );
    let t_back = n.now();
    dir1.proc.restart();
    marks.push((t_back, "dir1 restarts".to_owned()));
    n.say(
        "dir1",
        format_args!(
            "start {} again (priority {DIR1_PRIORITY}, preempts)",
            dir1.kind.program()
        ),
    );
    rep.failback = wait_for(
        "dir1 takes the VIP back and dir2 releases it",
        Duration::from_secs(60),
        &both,
        || dir1.has_vip(&vip) && !dir2.has_vip(&vip),
        || {
            format!(
                "dir1 has it: {}, dir2 has it: {}; dir1's eth0: {}\n{}\n{}",
                dir1.has_vip(&vip),
                dir1.addresses(),
                dir2.has_vip(&vip),
                dir1.log_tail(25),
                dir2.log_tail(25)
            )
        },
    )?;
    let t_done = n.now();
    marks.push((t_done, "failback: dir1 holds the VIP".to_owned()));
    n.say(
        "dir1",
        format_args!(
            "MASTER again: holds VIP {vip} {:.3} s after its restart; dir2 released it",
            rep.failback.as_secs_f64()
        ),
    );
    expect_answers(&stream, t_done, "the failback")?;
    let samples = stream.samples();
    rep.failback_outage = max_gap(&samples, t_back, n.now());
    n.say(
        "client",
        format_args!(
            "outage on failback: {:.3} s without an answer, {} request(s) failed",
            rep.failback_outage.as_secs_f64(),
            failures_between(&samples, t_back, n.now())
        ),
    );
    rep.conn_after_failback = conn.get(Duration::from_secs(2));
    n.say(
        "client",
        format_args!(
            "keep-alive connection {local} after the failback: {}",
            match &rep.conn_after_failback {
                Ok(name) => format!("GET -> {name}"),
                Err(e) => format!(
                    "{e} (dir1 restarted empty; the sync daemon sends an established connection again only after more packets)"
                ),
            }
        ),
    );
    n.say(
        "dir1",
        format_args!("ipvsadm -Ln: {}", dir1.pool_line(&service)),
    );
    stream.stop();
    let samples = stream.samples();
    rep.requests = samples.len();
    rep.timeline = timeline::Timeline {
        answers: samples
            .into_iter()
            .map(|s| timeline::Answer {
                at: s.done,
                server: s.result.ok(),
            })
            .collect(),
        marks: marks
            .into_iter()
            .map(|(at, label)| timeline::Mark { at, label })
            .collect(),
    };
    // Stop the directors gracefully (SIGTERM) before the lab removes everything.
    for d in both {
        let t = Instant::now();
        d.proc.signal(libc::SIGTERM);
        let stopped = d.proc.wait_exit(STOP_GRACE);
        let held = d.has_vip(&vip);
        let took = stopped.then(|| t.elapsed());
        rep.stops.push(StopReport {
            director: d.name.to_owned(),
            program: d.kind.program(),
            took,
            left_vip: held,
        });
        // A stop slower than ha-director's grace: what it logged while stopping.
        if d.kind == DirectorKind::Ha && took.is_none_or(|t| t > HA_STOP_GRACE) {
            let err = d.proc.stderr();
            let lines: Vec<&str> = err.lines().filter(|l| l.contains("stop")).collect();
            for line in &lines[lines.len().saturating_sub(12)..] {
                n.say(d.name, format_args!("log: {line}"));
            }
        }
        if stopped {
            n.say(
                d.name,
                format_args!(
                    "SIGTERM: {} stopped after {:.3} s{}",
                    d.kind.program(),
                    t.elapsed().as_secs_f64(),
                    if held {
                        " (but left the VIP behind)"
                    } else {
                        ""
                    }
                ),
            );
        } else {
            d.proc.kill(libc::SIGKILL);
            n.say(
                d.name,
                format_args!(
                    "SIGTERM: {} did not stop within {:.0} s; SIGKILLed",
                    d.kind.program(),
                    STOP_GRACE.as_secs_f64()
                ),
            );
        }
    }
    drop(servers);
    n.say("lab", format_args!("done: {} requests", rep.requests));
    Ok(rep)
}

/// Waits for 10 answers through the VIP to requests sent after `after` (15 s at most).
fn expect_answers(stream: &Stream, after: Duration, event: &str) -> Result<(), LabError> {
    let within = Duration::from_secs(15);
    if stream.wait_answers(after, 10, within) {
        return Ok(());
    }
    Err(LabError::Timeout {
        what: format!("10 answers through the VIP after {event}"),
        within,
        detail: answers_since(&stream.samples(), after),
    })
}

/// `rs1 x3, rs2 x4` for the answers to requests sent after `from`.
/// The stream's first ten answers, whether they alternate between the real servers, said.
fn first_answers(stream: &Stream, n: &Narrator) -> (Vec<String>, bool) {
    let first: Vec<String> = stream
        .samples()
        .iter()
        .filter_map(|s| s.result.clone().ok())
        .take(10)
        .collect();
    let alternates = first.windows(2).all(|w| w[0] != w[1]);
    n.say(
        "client",
        format_args!(
            "first answers: {} -> {}",
            first.join(" "),
            if alternates {
                "they alternate (rr)"
            } else {
                "they do NOT alternate"
            }
        ),
    );
    (first, alternates)
}

/// Runs `scenario` with a narrator: its report and the narration, or its error (a panic
/// inside it becomes [`LabError::Setup`] with the panic's message).
fn narrated<R>(
    echo: bool,
    scenario: impl FnOnce(&Narrator) -> Result<R, LabError>,
) -> Result<(R, Vec<String>), LabError> {
    let narrator = Narrator::new(echo);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&narrator)));
    match result {
        Ok(r) => r.map(|rep| (rep, narrator.lines())),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".into());
            Err(LabError::Setup(msg))
        }
    }
}

fn answers_since(samples: &[Sample], from: Duration) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in samples.iter().filter(|s| s.sent >= from) {
        let key = match &s.result {
            Ok(n) => n.clone(),
            Err(e) => format!("error ({e})"),
        };
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => *c += 1,
            None => counts.push((key, 1)),
        }
    }
    if counts.is_empty() {
        return "no requests".into();
    }
    counts
        .iter()
        .map(|(k, c)| format!("{k} x{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// keepalived in the foreground, logging to the console, reading `conf`, with its three pid
/// files in `dir` named after `name` (the lab's and the soak's keepalived directors).
pub(crate) fn keepalived_argv(conf: &Path, dir: &Path, name: &str) -> Vec<String> {
    let pid = |k: &str| dir.join(format!("{name}.{k}.pid")).display().to_string();
    vec![
        "keepalived".into(),
        "-n".into(),
        "-l".into(),
        "-D".into(),
        "-f".into(),
        conf.display().to_string(),
        "-p".into(),
        pid("keepalived"),
        "-r".into(),
        pid("vrrp"),
        "-c".into(),
        pid("checkers"),
    ]
}

/// A program beside the running one (the `ha-director` that `cargo build` put next to
/// `ha-lab`, `ha-soak`, `ha-limits` and `hc-vs`), if the running one's path is known.
#[must_use]
pub fn beside_this_program(name: &str) -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
}

/// `ours / theirs` with two decimals, or `-` when either is missing or `theirs` is zero: the
/// ratio lines of the benches.
#[must_use]
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 && ours.is_finite() {
        format!("{:.2}", ours / theirs)
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPVSADM: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.100.0.100:80 rr
  -> 10.100.0.11:80               Route   1      0          3
  -> 10.100.0.12:80               Route   0      0          2
TCP  10.100.0.101:80 rr
  -> 10.100.0.13:80               Route   1      0          0
";

    #[test]
    fn ipvsadm_members_are_read_per_service() {
        let m = parse_ipvsadm_members(IPVSADM, "10.100.0.100:80");
        assert_eq!(
            m,
            [
                Member {
                    addr: "10.100.0.11:80".into(),
                    forward: "Route".into(),
                    weight: 1
                },
                Member {
                    addr: "10.100.0.12:80".into(),
                    forward: "Route".into(),
                    weight: 0
                },
            ]
        );
        assert!(in_pool(&m, "10.100.0.11:80"));
        assert!(
            !in_pool(&m, "10.100.0.12:80"),
            "weight 0 is out of the pool"
        );
        assert!(!in_pool(&m, "10.100.0.13:80"));
        assert!(parse_ipvsadm_members(IPVSADM, "10.9.9.9:80").is_empty());
    }

    fn sample(done_ms: u64, ok: bool) -> Sample {
        Sample {
            sent: Duration::from_millis(done_ms.saturating_sub(5)),
            done: Duration::from_millis(done_ms),
            result: if ok {
                Ok("rs1".into())
            } else {
                Err("timed out".into())
            },
        }
    }

    #[test]
    fn the_outage_is_the_longest_gap_between_answers() {
        let s = vec![
            sample(100, true),
            sample(150, true),
            sample(500, false),
            sample(800, false),
            sample(1200, true),
            sample(1250, true),
            sample(3000, true),
        ];
        // From 160 ms: the last answer before is at 150, the next at 1200.
        assert_eq!(
            max_gap(&s, Duration::from_millis(160), Duration::from_millis(1300)),
            Duration::from_millis(1050)
        );
        assert_eq!(
            failures_between(&s, Duration::from_millis(160), Duration::from_millis(1300)),
            2
        );
        assert_eq!(
            answers_since(&s, Duration::from_millis(400)),
            "error (timed out) x2, rs1 x3"
        );
    }

    #[test]
    fn director_kinds_parse() {
        assert_eq!("ha".parse::<DirectorKind>(), Ok(DirectorKind::Ha));
        assert_eq!(
            "keepalived".parse::<DirectorKind>(),
            Ok(DirectorKind::Keepalived)
        );
        assert!("nginx".parse::<DirectorKind>().is_err());
    }
}
