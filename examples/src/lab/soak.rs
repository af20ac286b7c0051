//! The fault soak (issue 20): two directors, two real servers and a client in network namespaces
//! (the lab's topology, [`super`]), random faults drawn from a seeded generator, and invariants
//! checked after each fault has settled.
//!
//! Faults ([`FaultKind`]): SIGKILL of a director (its node goes down: the VIP and IPVS table are
//! cleared as a reboot would) and its restart; SIGTERM (graceful stop) and restart; SIGSTOP for a
//! while then SIGCONT (a frozen director); link down and up; partition (off the bridge, link up)
//! and heal; `tc netem` loss, duplication, reordering and delay on a director's `eth0` for a while;
//! the director's tracking script failing for a while (a file the script tests); a real server
//! dying and returning; a reload (SIGHUP) after an edit of the keepalived.conf that is valid (a
//! real server's weight, the check interval) or invalid (a syntax error: `ha-director` keeps the
//! running configuration).
//!
//! Invariants ([`Soak::check`]), each counted as one check: exactly one holder of the VIP among
//! the running, unfrozen, connected directors, and it is the one that should be (the highest
//! priority among those whose tracking script passes); no VIP, local route or IPVS service on a
//! stopped director; the holder's IPVS table matches the healthy pool (a live real server
//! present with its configured weight, a dead one absent or weight 0); the client's longest gap
//! between answers during the fault within the fault's bound ([`Soak::outage_bound`]); each
//! `ha-director`'s status JSON consistent (its state MASTER exactly when it holds the VIP, its
//! counters never going back and never absurd, at least as many transitions as holder changes
//! seen).
//!
//! Both directors read one generated keepalived.conf each (`ha-director run --keepalived-conf`
//! or real keepalived with `--keepalived`), so the same edits apply to both kinds.
//!
//! Every fault is written with its time and parameters to the log file (and the violations with
//! the fault number), so `--seed S` replays the same sequence.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ha_testsupport::{Host, Lab, Proc};

use super::http::HttpServer;
use super::{LabError, Narrator, Sample, Stream, max_gap, parse_ipvsadm_members, program_exists};

/// A small deterministic generator (SplitMix64): the same seed gives the same faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A duration in `lo..=hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The seed of the fault sequence.
    pub seed: u64,
    /// How long to inject faults (the last one finishes after this).
    pub duration: Duration,
    /// Director 2 is real keepalived instead of `ha-director`.
    pub keepalived: bool,
    /// Use IPVS (the VM); false: netns only, each director answers HTTP on the VIP itself.
    pub ipvs: bool,
    /// The `ha-director` binary.
    pub ha_director: PathBuf,
    /// Where the fault log is written.
    pub log: PathBuf,
    /// Print each fault and violation as it happens.
    pub echo: bool,
}

/// A broken invariant.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The fault after which it was seen (1-based; 0: the start).
    pub fault: usize,
    /// What should have been.
    pub expected: String,
    /// What was seen.
    pub seen: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VIOLATION after fault {}: expected {}; seen {}",
            self.fault, self.expected, self.seen
        )
    }
}

/// What a soak did.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The seed.
    pub seed: u64,
    /// Faults injected.
    pub faults: usize,
    /// Invariant checks made.
    pub checks: usize,
    /// The violations seen.
    pub violations: Vec<Violation>,
    /// Faults by kind (name, count).
    pub by_kind: Vec<(&'static str, usize)>,
    /// The log file.
    pub log: PathBuf,
    /// Client requests made, and how many failed.
    pub requests: (usize, usize),
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL, the node's VIP and IPVS cleared, restart after a while.
    Kill,
    /// SIGTERM (graceful stop), restart after a while.
    Term,
    /// SIGSTOP for a while, then SIGCONT.
    Freeze,
    /// The link goes down for a while.
    LinkDown,
    /// Off the bridge with the link up, for a while.
    Partition,
    /// `tc netem` on the director's eth0 for a while.
    Netem,
    /// The tracking script fails for a while.
    Track,
    /// A real server's HTTP server stops for a while.
    RealServer,
    /// SIGHUP after a valid edit.
    ReloadValid,
    /// SIGHUP after an invalid edit (the file is restored after).
    ReloadInvalid,
}

impl FaultKind {
    /// Every kind, in the order of the draw.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Kill,
        FaultKind::Term,
        FaultKind::Freeze,
        FaultKind::LinkDown,
        FaultKind::Partition,
        FaultKind::Netem,
        FaultKind::Track,
        FaultKind::RealServer,
        FaultKind::ReloadValid,
        FaultKind::ReloadInvalid,
    ];

    /// The kind's name in the log.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Term => "term",
            FaultKind::Freeze => "freeze",
            FaultKind::LinkDown => "link-down",
            FaultKind::Partition => "partition",
            FaultKind::Netem => "netem",
            FaultKind::Track => "track",
            FaultKind::RealServer => "realserver",
            FaultKind::ReloadValid => "reload-valid",
            FaultKind::ReloadInvalid => "reload-invalid",
        }
    }
}

/// The VIP.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 100);
/// The service port.
const PORT: u16 = 80;
/// The advertisement interval (VRRPv3).
const ADVERT: Duration = Duration::from_millis(200);
/// The priorities of the two directors.
const PRIORITIES: [u8; 2] = [150, 100];
/// The check's connect timeout and the pause before a retry (1 retry).
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Time for the system to settle after a fault ends, before the checks: a failover, a
/// preemption, a check cycle. Loose: the VM runs under TCG.
const SETTLE: Duration = Duration::from_secs(4);
/// How long a check waits for a condition to become true (the invariants are polled up to this
/// long after the settle time, so a slow machine is not a violation; a stuck state is).
const CHECK_WITHIN: Duration = Duration::from_secs(6);
/// Slack added to every outage bound (process start-up under TCG, ARP, the client's 300 ms
/// request timeout).
const SLACK: Duration = Duration::from_millis(2500);

/// The per-director configuration the soak edits.
#[derive(Debug, Clone, PartialEq)]
struct DirConf {
    /// Weight of each real server.
    weights: [u32; 2],
    /// Health check interval in seconds.
    delay_loop: u64,
}

/// Master_Down_Interval of the backup (priority 100): 3 x advert + skew.
fn master_down_interval() -> Duration {
    ADVERT * 3 + ADVERT * (256 - u32::from(PRIORITIES[1])) / 256
}

/// The longest a dead real server stays in the pool: the check interval, two failed
/// attempts (first + 1 retry) each up to the connect timeout, the pause between them.
fn fall_window(delay_loop: u64) -> Duration {
    Duration::from_secs(delay_loop) + CHECK_TIMEOUT * 2 + Duration::from_secs(1)
}

/// The keepalived.conf of director `idx`.
fn keepalived_conf(idx: usize, conf: &DirConf, ipvs: bool, track_script: &str) -> String {
    let name = format!("dir{}", idx + 1);
    let mut s = String::new();
    let _ = writeln!(s, "# Generated by ha-soak for {name}.");
    let _ = writeln!(
        s,
        "global_defs {{\n    router_id {name}\n    vrrp_version 3"
    );
    if ipvs {
        let _ = writeln!(s, "    lvs_sync_daemon eth0 VI_1 id 51");
    }
    let _ = writeln!(s, "}}\n");
    let _ = writeln!(
        s,
        "vrrp_script chk_track {{\n    script \"{track_script}\"\n    interval 1\n    timeout 2\n    fall 1\n    rise 1\n}}\n"
    );
    let _ = writeln!(
        s,
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority {}\n    advert_int 0.2\n    higher_prio_send_advert\n    virtual_ipaddress {{\n        {VIP}/32 dev eth0\n    }}\n    track_script {{\n        chk_track\n    }}\n}}\n",
        PRIORITIES[idx]
    );
    if ipvs {
        let _ = writeln!(
            s,
            "virtual_server {VIP} {PORT} {{\n    delay_loop {}\n    lb_algo rr\n    lb_kind DR\n    protocol TCP",
            conf.delay_loop
        );
        for (i, w) in conf.weights.iter().enumerate() {
            let _ = writeln!(
                s,
                "\n    real_server 10.100.0.{} {PORT} {{\n        weight {w}\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}",
                11 + i
            );
        }
        let _ = writeln!(s, "}}");
    }
    s
}

/// What an invalid edit appends to a valid keepalived.conf, by the name the log gives it.
fn broken_tail(what: &str) -> &'static str {
    match what {
        "unterminated block" => "vrrp_instance VI_BROKEN {\n    state BACKUP\n",
        "duplicate VIP" => {
            "vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n    priority 100\n    virtual_ipaddress {\n        10.100.0.100/32 dev eth0\n    }\n}\n"
        }
        _ => {
            "vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n    priority 300\n    virtual_ipaddress {\n        10.100.0.101/32 dev eth0\n    }\n}\n"
        }
    }
}

/// The invalid edits.
const BROKEN: [&str; 3] = [
    "unterminated block",
    "duplicate VIP",
    "out-of-range priority",
];

/// One director of the soak.
struct Dir {
    name: String,
    host: Host,
    keepalived: bool,
    proc: Proc,
    conf_path: PathBuf,
    status_sock: PathBuf,
    fail_file: PathBuf,
    conf: DirConf,
    /// Process state the soak imposed.
    stopped: bool,
    frozen: bool,
    disconnected: bool,
    track_failing: bool,
    /// Counters from the last status read of this process (reset on restart).
    last_counters: Option<(u64, u64)>,
    /// Holding the VIP at the last check.
    held: bool,
    /// Holder changes of this director seen since the last status read.
    changes_seen: u64,
    /// Whether the ha-director answered HTTP on the VIP itself (no IPVS).
    http: Option<HttpServer>,
}

impl Dir {
    fn eligible(&self) -> bool {
        !self.stopped && !self.frozen && !self.disconnected
    }

    fn holds(&self) -> bool {
        self.host.holds(&VIP.to_string())
    }

    fn status(&self, bin: &Path) -> Option<serde_json::Value> {
        if self.keepalived {
            return None;
        }
        ha_testsupport::director_status(&bin.display().to_string(), &self.status_sock)
    }

    fn tail(&self, lines: usize) -> String {
        let text = format!("{}{}", self.proc.stdout(), self.proc.stderr());
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The soak's state.
struct Soak<'a> {
    opts: &'a SoakOptions,
    n: Narrator,
    lab: Lab,
    dirs: Vec<Dir>,
    rs_hosts: Vec<Host>,
    servers: Vec<Option<HttpServer>>,
    stream: Stream,
    rng: Rng,
    log: std::fs::File,
    fault: usize,
    checks: usize,
    violations: Vec<Violation>,
    netem_ok: bool,
}

/// A fault as drawn: its kind, the director or real server it hits, how long it lasts and its
/// parameters.
#[derive(Debug, Clone)]
struct Fault {
    kind: FaultKind,
    target: usize,
    hold: Duration,
    detail: String,
}

/// Runs the soak. Needs root; with `opts.ipvs`, a kernel with IPVS (the VM).
pub fn run_soak(opts: &SoakOptions) -> Result<SoakReport, LabError> {
    if opts.ipvs {
        super::kernel_ready()?;
    }
    let _ = std::process::Command::new("modprobe")
        .arg("sch_netem")
        .output();
    let mut need = vec!["ip", "tc"];
    if opts.ipvs {
        need.push("ipvsadm");
    }
    if opts.keepalived {
        need.push("keepalived");
    }
    for p in need {
        if !program_exists(p) {
            return Err(LabError::MissingProgram {
                program: p.into(),
                hint: format!(
                    "apt-get install -y {}",
                    match p {
                        "ip" | "tc" => "iproute2",
                        other => other,
                    }
                ),
            });
        }
    }
    if !opts.ha_director.is_file() {
        return Err(LabError::MissingProgram {
            program: opts.ha_director.display().to_string(),
            hint: "build it: cargo build --release -p ha-examples --bin ha-director".into(),
        });
    }
    let log = std::fs::File::create(&opts.log).map_err(|e| LabError::Prepare {
        what: opts.log.display().to_string(),
        detail: e.to_string(),
    })?;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut soak = Soak::start(opts, log)?;
        soak.run()
    }));
    match caught {
        Ok(r) => r,
        Err(p) => Err(LabError::Setup(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into()),
        )),
    }
}

impl<'a> Soak<'a> {
    fn start(opts: &'a SoakOptions, log: std::fs::File) -> Result<Soak<'a>, LabError> {
        let n = Narrator::new(opts.echo);
        let mut lab = Lab::new("soak");
        let client = lab.add_host("client", &["10.100.0.10/24"]);
        let dir_hosts = [
            lab.add_host("dir1", &["10.100.0.2/24"]),
            lab.add_host("dir2", &["10.100.0.3/24"]),
        ];
        let rs_hosts = vec![
            lab.add_host("rs1", &["10.100.0.11/24"]),
            lab.add_host("rs2", &["10.100.0.12/24"]),
        ];
        let mut servers = Vec::new();
        for (i, h) in rs_hosts.iter().enumerate() {
            let name = format!("rs{}", i + 1);
            if opts.ipvs {
                let state = lab.dir().join(format!("{name}.realserver.json"));
                super::realserver_apply(h, std::net::IpAddr::V4(VIP), state)?;
            }
            servers.push(Some(HttpServer::start(h, &name, PORT).map_err(|e| {
                LabError::Step(format!("{name}: HTTP server on port {PORT}: {e}"))
            })?));
        }
        let script = lab.dir().join("track.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\n# Fails while the file named by $1 exists.\n[ ! -e \"$1\" ]\n",
        )
        .map_err(|e| LabError::Prepare {
            what: script.display().to_string(),
            detail: e.to_string(),
        })?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755));
        }
        let mut dirs = Vec::new();
        for (idx, host) in dir_hosts.iter().enumerate() {
            let name = format!("dir{}", idx + 1);
            let keepalived = opts.keepalived && idx == 1;
            let d = lab.dir().to_path_buf();
            let conf_path = d.join(format!("{name}.keepalived.conf"));
            let fail_file = d.join(format!("{name}.track-fail"));
            let status_sock = d.join(format!("{name}.status.sock"));
            let conf = DirConf {
                weights: [1, 1],
                delay_loop: 1,
            };
            let text = keepalived_conf(
                idx,
                &conf,
                opts.ipvs,
                &format!("{} {}", script.display(), fail_file.display()),
            );
            std::fs::write(&conf_path, text).map_err(|e| LabError::Prepare {
                what: conf_path.display().to_string(),
                detail: e.to_string(),
            })?;
            let s = |p: &Path| p.display().to_string();
            let argv: Vec<String> = if keepalived {
                super::keepalived_argv(&conf_path, &d, &name)
            } else {
                vec![
                    s(&opts.ha_director),
                    "run".into(),
                    "--keepalived-conf".into(),
                    s(&conf_path),
                    "--status-socket".into(),
                    s(&status_sock),
                    "--control-socket".into(),
                    s(&d.join(format!("{name}.control.sock"))),
                ]
            };
            let words: Vec<&str> = argv.iter().map(String::as_str).collect();
            n.say(&name, format_args!("start: {}", words.join(" ")));
            let http = if opts.ipvs {
                None
            } else {
                Some(HttpServer::start(host, &name, PORT).map_err(|e| {
                    LabError::Step(format!("{name}: HTTP server on port {PORT}: {e}"))
                })?)
            };
            let proc = lab.spawn(host, &words);
            dirs.push(Dir {
                name,
                host: host.clone(),
                keepalived,
                proc,
                conf_path,
                status_sock,
                fail_file,
                conf,
                stopped: false,
                frozen: false,
                disconnected: false,
                track_failing: false,
                last_counters: None,
                held: false,
                changes_seen: 0,
                http,
            });
        }
        let target = SocketAddr::V4(SocketAddrV4::new(VIP, PORT));
        let stream = Stream::start(
            &client,
            target,
            &n,
            Duration::from_millis(50),
            Duration::from_millis(300),
        );
        // netem works on this kernel? (try on the client's eth0 and remove at once)
        let netem_ok = client
            .exec(&[
                "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms",
            ])
            .status
            .success();
        let _ = client.exec(&["tc", "qdisc", "del", "dev", "eth0", "root"]);
        let mut soak = Soak {
            opts,
            n,
            lab,
            dirs,
            rs_hosts,
            servers,
            stream,
            rng: Rng::new(opts.seed),
            log,
            fault: 0,
            checks: 0,
            violations: Vec::new(),
            netem_ok,
        };
        soak.logln(&format!(
            "seed: {} minutes: {:.1} keepalived: {} ipvs: {} netem: {} files: {}",
            opts.seed,
            opts.duration.as_secs_f64() / 60.0,
            opts.keepalived,
            opts.ipvs,
            netem_ok,
            soak.lab.dir().display()
        ));
        // Start-up: dir1 (150) becomes master, the pool fills.
        let ok = ha_testsupport::wait_until(Duration::from_secs(60), || {
            soak.dirs[0].holds() && (!soak.opts.ipvs || soak.pool_ok(0).is_ok())
        });
        if !ok {
            return Err(LabError::Timeout {
                what: "dir1 holds the VIP with both real servers in its pool".into(),
                within: Duration::from_secs(60),
                detail: format!(
                    "dir1 holds: {}, dir2 holds: {}\n--- dir1:\n{}\n--- dir2:\n{}",
                    soak.dirs[0].holds(),
                    soak.dirs[1].holds(),
                    soak.dirs[0].tail(30),
                    soak.dirs[1].tail(30)
                ),
            });
        }
        soak.stream
            .wait_answers(soak.n.now(), 5, Duration::from_secs(20));
        soak.dirs[0].held = true;
        soak.check(soak.n.now(), Duration::from_secs(3600), "start");
        Ok(soak)
    }

    fn logln(&mut self, line: &str) {
        let line = format!("[{:9.3}] {line}", self.n.now().as_secs_f64());
        let _ = writeln!(self.log, "{line}");
        let _ = self.log.flush();
        if self.opts.echo {
            println!("{line}");
        }
    }

    fn violation(&mut self, expected: String, seen: String) {
        let v = Violation {
            fault: self.fault,
            expected,
            seen,
        };
        self.logln(&v.to_string());
        self.violations.push(v);
    }

    /// The current holder among the directors (index), the first one seen.
    fn holder(&self) -> Option<usize> {
        self.dirs.iter().position(|d| !d.stopped && d.holds())
    }

    fn draw(&mut self) -> Fault {
        loop {
            let kind = FaultKind::ALL[self.rng.range(0, FaultKind::ALL.len() as u64 - 1) as usize];
            let target = self.rng.range(0, 1) as usize;
            let hold = self.rng.millis(1000, 5000);
            let detail = match kind {
                FaultKind::Netem => {
                    let loss = self.rng.range(0, 30);
                    let dup = self.rng.range(0, 10);
                    let reorder = self.rng.range(0, 25);
                    let delay = self.rng.range(0, 60);
                    format!("loss {loss}% duplicate {dup}% delay {delay}ms reorder {reorder}% 50%")
                }
                FaultKind::ReloadValid => {
                    if self.rng.range(0, 1) == 0 || !self.opts.ipvs {
                        format!("weight rs{} {}", self.rng.range(1, 2), self.rng.range(1, 5))
                    } else {
                        format!("delay_loop {}", self.rng.range(1, 2))
                    }
                }
                FaultKind::ReloadInvalid => BROKEN[self.rng.range(0, 2) as usize].to_owned(),
                _ => String::new(),
            };
            // Draws that cannot apply here are drawn again (the sequence stays a function of
            // the seed and the options).
            let skip = match kind {
                FaultKind::Netem => !self.netem_ok,
                FaultKind::RealServer => !self.opts.ipvs,
                // keepalived's parser skips what it does not know: an invalid edit is not
                // refused there, so only ha-director gets them.
                FaultKind::ReloadInvalid => self.dirs[target].keepalived,
                _ => false,
            };
            if !skip {
                return Fault {
                    kind,
                    target,
                    hold,
                    detail,
                };
            }
        }
    }

    fn run(&mut self) -> Result<SoakReport, LabError> {
        let end = self.n.now() + self.opts.duration;
        let mut by_kind: Vec<(&'static str, usize)> =
            FaultKind::ALL.iter().map(|k| (k.name(), 0)).collect();
        while self.n.now() < end {
            let f = self.draw();
            self.fault += 1;
            if let Some(e) = by_kind.iter_mut().find(|(n, _)| *n == f.kind.name()) {
                e.1 += 1;
            }
            let start = self.n.now();
            let was_holder = self.holder();
            let what = match f.kind {
                FaultKind::RealServer => format!("rs{}", f.target + 1),
                _ => self.dirs[f.target].name.clone(),
            };
            let line = format!(
                "fault {}: {} {what} for {:.1} s{}{} (holder before: {})",
                self.fault,
                f.kind.name(),
                f.hold.as_secs_f64(),
                if f.detail.is_empty() { "" } else { ": " },
                f.detail,
                was_holder.map_or("none".to_owned(), |h| self.dirs[h].name.clone())
            );
            self.logln(&line);
            if !self.opts.echo {
                println!("{line}");
            }
            let hit_holder = f.kind != FaultKind::RealServer && was_holder == Some(f.target);
            self.apply(&f)?;
            std::thread::sleep(SETTLE);
            let bound = self.outage_bound(&f, hit_holder);
            self.check(start, bound, f.kind.name());
        }
        let samples = self.stream.samples();
        self.stream.stop();
        let failed = samples.iter().filter(|s| s.result.is_err()).count();
        let summary = format!(
            "faults: {}\nchecks: {}\nviolations: {}",
            self.fault,
            self.checks,
            self.violations.len()
        );
        self.logln(&summary.replace('\n', "; "));
        for d in &mut self.dirs {
            if d.frozen {
                d.proc.signal(libc::SIGCONT);
            }
            if let Some(mut h) = d.http.take() {
                h.stop();
            }
        }
        Ok(SoakReport {
            seed: self.opts.seed,
            faults: self.fault,
            checks: self.checks,
            violations: self.violations.clone(),
            by_kind,
            log: self.opts.log.clone(),
            requests: (samples.len(), failed),
        })
    }

    /// The longest the client may go without an answer from the fault's start to its checks.
    fn outage_bound(&self, f: &Fault, hit_holder: bool) -> Duration {
        let mdi = master_down_interval();
        let fall = fall_window(
            self.dirs
                .iter()
                .map(|d| d.conf.delay_loop)
                .max()
                .unwrap_or(1),
        );
        match f.kind {
            // A fault of a backup, or a reload (the holder's addresses and table stay): no
            // outage beyond the slack.
            _ if !hit_holder && f.kind != FaultKind::RealServer => SLACK,
            // The holder stops or cannot be heard: the backup takes over after
            // Master_Down_Interval (the tracking script may take its interval and a run to
            // notice first). When the holder returns it preempts, and a restarted director's
            // checks must pass once before its pool is full: a check interval and a timeout.
            FaultKind::Kill | FaultKind::Term => {
                mdi + Duration::from_secs(self.dirs[f.target].conf.delay_loop)
                    + CHECK_TIMEOUT
                    + SLACK
            }
            FaultKind::Track => mdi + Duration::from_secs(2) + SLACK,
            FaultKind::LinkDown => mdi + SLACK,
            // A frozen or partitioned master never leaves MASTER: when it is back, whichever
            // advert crosses first decides. Every director has `higher_prio_send_advert`: a
            // stand-in that hears the higher priority first sends a last advert, so the
            // returning master hears a lower priority and sends gratuitous ARPs at once.
            // Without it the stand-in stepped down silently and the client kept its MAC until
            // its neighbour entry was probed again (Linux: 5 s in DELAY, then 3 unicast probes
            // 1 s apart). Found by this soak (seed 1, --no-ipvs, fault 8: 4.0 s).
            FaultKind::Freeze | FaultKind::Partition => mdi + SLACK,
            // Loss and delay on the holder's link hit the client's traffic itself (the
            // director forwards it) for the whole fault: the bound is the fault, then a
            // failover if the adverts were lost.
            FaultKind::Netem => f.hold + mdi + SLACK,
            // With rr half the new connections go to the dead server until its checks fail.
            FaultKind::RealServer => fall + SLACK,
            FaultKind::ReloadValid | FaultKind::ReloadInvalid => SLACK,
        }
    }

    fn apply(&mut self, f: &Fault) -> Result<(), LabError> {
        let t = f.target;
        match f.kind {
            FaultKind::Kill => {
                let d = &mut self.dirs[t];
                d.proc.signal(libc::SIGKILL);
                d.proc.wait_exit(Duration::from_secs(10));
                // The node is down: what the kernel held goes with it (as a reboot).
                let _ = d
                    .host
                    .exec(&["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth0"]);
                if self.opts.ipvs {
                    let _ = d.host.exec(&["ipvsadm", "-C"]);
                    let _ = d.host.exec(&["ipvsadm", "--stop-daemon", "master"]);
                    let _ = d.host.exec(&["ipvsadm", "--stop-daemon", "backup"]);
                }
                d.stopped = true;
                d.last_counters = None;
                std::thread::sleep(f.hold);
                self.check_stopped(t);
                self.restart(t);
            }
            FaultKind::Term => {
                let d = &mut self.dirs[t];
                d.proc.signal(libc::SIGTERM);
                if !d.proc.wait_exit(Duration::from_secs(10)) {
                    let name = d.name.clone();
                    self.violation(
                        format!("{name} exits within 10 s of SIGTERM"),
                        "still running (SIGKILLed)".into(),
                    );
                    self.dirs[t].proc.signal(libc::SIGKILL);
                    self.dirs[t].proc.wait_exit(Duration::from_secs(10));
                }
                let d = &mut self.dirs[t];
                d.stopped = true;
                d.last_counters = None;
                std::thread::sleep(f.hold);
                self.check_stopped(t);
                self.restart(t);
            }
            FaultKind::Freeze => {
                self.dirs[t].proc.signal(libc::SIGSTOP);
                self.dirs[t].frozen = true;
                std::thread::sleep(f.hold);
                self.dirs[t].proc.signal(libc::SIGCONT);
                self.dirs[t].frozen = false;
            }
            FaultKind::LinkDown => {
                self.lab.cut_link(&self.dirs[t].host);
                self.dirs[t].disconnected = true;
                std::thread::sleep(f.hold);
                self.lab.restore_link(&self.dirs[t].host);
                self.dirs[t].disconnected = false;
            }
            FaultKind::Partition => {
                self.lab.isolate(&self.dirs[t].host);
                self.dirs[t].disconnected = true;
                std::thread::sleep(f.hold);
                self.lab.heal(&self.dirs[t].host);
                self.dirs[t].disconnected = false;
            }
            FaultKind::Netem => {
                let mut argv = vec!["tc", "qdisc", "add", "dev", "eth0", "root", "netem"];
                argv.extend(f.detail.split_whitespace());
                let out = self.dirs[t].host.exec(&argv);
                if !out.status.success() {
                    return Err(LabError::Step(format!(
                        "{}: {}: {}",
                        self.dirs[t].name,
                        argv.join(" "),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                std::thread::sleep(f.hold);
                let _ = self.dirs[t]
                    .host
                    .exec(&["tc", "qdisc", "del", "dev", "eth0", "root"]);
            }
            FaultKind::Track => {
                let _ = std::fs::write(&self.dirs[t].fail_file, b"soak\n");
                self.dirs[t].track_failing = true;
                // Half way, the other director must hold the VIP (when it can).
                std::thread::sleep(f.hold / 2 + Duration::from_secs(3));
                self.check_holder("track script failing");
                std::thread::sleep(f.hold / 2);
                let _ = std::fs::remove_file(&self.dirs[t].fail_file);
                self.dirs[t].track_failing = false;
            }
            FaultKind::RealServer => {
                if let Some(mut s) = self.servers[t].take() {
                    s.stop();
                }
                let fall = fall_window(
                    self.dirs
                        .iter()
                        .map(|d| d.conf.delay_loop)
                        .max()
                        .unwrap_or(1),
                );
                std::thread::sleep(f.hold.max(fall + Duration::from_secs(1)));
                self.check_pool("real server down");
                let name = format!("rs{}", t + 1);
                let srv = HttpServer::start(&self.rs_hosts[t], &name, PORT)
                    .map_err(|e| LabError::Step(format!("{name}: restart the HTTP server: {e}")))?;
                self.servers[t] = Some(srv);
            }
            FaultKind::ReloadValid => {
                let mut conf = self.dirs[t].conf.clone();
                let words: Vec<&str> = f.detail.split_whitespace().collect();
                match words.as_slice() {
                    ["weight", rs, w] => {
                        let i = if *rs == "rs1" { 0 } else { 1 };
                        conf.weights[i] = w.parse().unwrap_or(1);
                    }
                    ["delay_loop", s] => conf.delay_loop = s.parse().unwrap_or(1),
                    _ => {}
                }
                self.write_conf(t, &conf, None)?;
                self.dirs[t].conf = conf;
                self.dirs[t].proc.signal(libc::SIGHUP);
                std::thread::sleep(f.hold);
            }
            FaultKind::ReloadInvalid => {
                let conf = self.dirs[t].conf.clone();
                let broken = broken_tail(&f.detail);
                self.write_conf(t, &conf, Some(broken))?;
                let before = self.dirs[t].proc.stderr().len();
                self.dirs[t].proc.signal(libc::SIGHUP);
                let refused = ha_testsupport::wait_until(Duration::from_secs(10), || {
                    self.dirs[t]
                        .proc
                        .stderr()
                        .get(before..)
                        .is_some_and(|s| s.contains("reload refused"))
                        || self.dirs[t].proc.stdout().contains("reload refused")
                });
                self.checks += 1;
                if !refused {
                    let tail = self.dirs[t].tail(10);
                    self.violation(
                        format!(
                            "{} refuses the invalid reload ({})",
                            self.dirs[t].name, f.detail
                        ),
                        format!("no \"reload refused\" in its log: {tail}"),
                    );
                }
                // The file is put back as it runs (the next restart reads it).
                self.write_conf(t, &conf, None)?;
                std::thread::sleep(f.hold);
            }
        }
        Ok(())
    }

    fn write_conf(&self, t: usize, conf: &DirConf, extra: Option<&str>) -> Result<(), LabError> {
        let d = &self.dirs[t];
        let script = self.lab.dir().join("track.sh");
        let mut text = keepalived_conf(
            t,
            conf,
            self.opts.ipvs,
            &format!("{} {}", script.display(), d.fail_file.display()),
        );
        if let Some(e) = extra {
            text.push_str(e);
        }
        std::fs::write(&d.conf_path, text).map_err(|e| LabError::Prepare {
            what: d.conf_path.display().to_string(),
            detail: e.to_string(),
        })
    }

    fn restart(&mut self, t: usize) {
        let d = &mut self.dirs[t];
        d.proc.restart();
        d.stopped = false;
        d.held = false;
        d.last_counters = None;
        d.changes_seen = 0;
        let name = d.name.clone();
        self.logln(&format!("{name}: restarted"));
    }

    /// No VIP, local route or IPVS service on a stopped director.
    fn check_stopped(&mut self, t: usize) {
        let d = &self.dirs[t];
        let vip = VIP.to_string();
        let mut left = Vec::new();
        if d.holds() {
            left.push("the VIP on eth0".to_owned());
        }
        let routes = d.host.sh("ip route show table all");
        if routes
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == vip))
        {
            left.push(format!(
                "a route to the VIP: {}",
                routes
                    .lines()
                    .filter(|l| l.contains(&vip))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if self.opts.ipvs {
            let out = d.host.exec(&["ipvsadm", "-Ln"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text
                .lines()
                .any(|l| l.starts_with("TCP") || l.starts_with("UDP"))
            {
                left.push(format!("an IPVS service: {}", text.trim()));
            }
        }
        self.checks += 1;
        if !left.is_empty() {
            let name = d.name.clone();
            self.violation(
                format!("nothing left on the stopped {name}"),
                left.join(", "),
            );
        }
    }

    /// Who should hold the VIP: the highest priority eligible director whose tracking passes.
    fn expected_holder(&self) -> Option<usize> {
        (0..self.dirs.len())
            .filter(|&i| self.dirs[i].eligible() && !self.dirs[i].track_failing)
            .max_by_key(|&i| PRIORITIES[i])
    }

    /// Exactly one holder among the eligible directors, the expected one. Polls up to
    /// [`CHECK_WITHIN`] before it counts a violation.
    fn check_holder(&mut self, when: &str) -> bool {
        let expected = self.expected_holder();
        let describe = |s: &Soak<'_>| {
            s.dirs
                .iter()
                .map(|d| {
                    format!(
                        "{}{} {}",
                        d.name,
                        if d.stopped {
                            " (stopped)"
                        } else if d.frozen {
                            " (frozen)"
                        } else if d.disconnected {
                            " (disconnected)"
                        } else if d.track_failing {
                            " (track failing)"
                        } else {
                            ""
                        },
                        if d.holds() { "holds" } else { "-" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let good = |s: &Soak<'_>| {
            let holders: Vec<usize> = (0..s.dirs.len())
                .filter(|&i| s.dirs[i].eligible() && s.dirs[i].holds())
                .collect();
            match expected {
                Some(e) => holders == vec![e],
                None => holders.is_empty(),
            }
        };
        let ok = ha_testsupport::wait_until(CHECK_WITHIN, || good(self));
        self.checks += 1;
        if !ok {
            let seen = describe(self);
            self.violation(
                format!(
                    "{when}: exactly one VIP holder, {}",
                    expected.map_or("none".to_owned(), |e| self.dirs[e].name.clone())
                ),
                format!("{seen} (after {:.0} s more)", CHECK_WITHIN.as_secs_f64()),
            );
        }
        ok
    }

    /// The holder's IPVS table matches the healthy pool.
    fn pool_ok(&self, h: usize) -> Result<(), String> {
        let d = &self.dirs[h];
        let out = d.host.exec(&["ipvsadm", "-Ln"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let members = parse_ipvsadm_members(&text, &format!("{VIP}:{PORT}"));
        for i in 0..2 {
            let addr = format!("10.100.0.{}:{PORT}", 11 + i);
            let m = members.iter().find(|m| m.addr == addr);
            let alive = self.servers[i].is_some();
            let want = d.conf.weights[i];
            match (alive, m) {
                (true, Some(m)) if m.weight == want => {}
                (false, None) => {}
                (false, Some(m)) if m.weight == 0 => {}
                _ => {
                    return Err(format!(
                        "{addr} {} with weight {want}: {}: ipvsadm -Ln: {}",
                        if alive { "alive" } else { "dead" },
                        m.map_or("absent".to_owned(), |m| format!("weight {}", m.weight)),
                        text.lines().skip(2).collect::<Vec<_>>().join(" | ")
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_pool(&mut self, when: &str) {
        if !self.opts.ipvs {
            return;
        }
        let Some(h) = self.expected_holder() else {
            return;
        };
        let mut last = Ok(());
        let ok = ha_testsupport::wait_until(CHECK_WITHIN, || {
            last = self.pool_ok(h);
            last.is_ok()
        });
        self.checks += 1;
        if !ok {
            let name = self.dirs[h].name.clone();
            self.violation(
                format!("{when}: {name}'s IPVS table matches the healthy pool"),
                last.err().unwrap_or_default(),
            );
        }
    }

    /// Every invariant after a fault.
    fn check(&mut self, start: Duration, bound: Duration, what: &str) {
        let holder_ok = self.check_holder(what);
        if holder_ok {
            self.check_pool(what);
        }
        // The client's outage during the fault.
        let samples: Vec<Sample> = self.stream.samples();
        let now = self.n.now();
        let gap = max_gap(&samples, start, now);
        // The answers up to now must include one after the fault (the gap to now counts).
        let last_ok = samples
            .iter()
            .filter(|s| s.result.is_ok())
            .map(|s| s.done)
            .max()
            .unwrap_or_default();
        let open_gap = now.saturating_sub(last_ok.max(start));
        let outage = gap.max(open_gap);
        self.checks += 1;
        if outage > bound {
            self.violation(
                format!("{what}: client outage at most {:.2} s", bound.as_secs_f64()),
                format!("{:.2} s without an answer", outage.as_secs_f64()),
            );
        }
        self.logln(&format!(
            "fault {}: outage {:.3} s (bound {:.1} s)",
            self.fault,
            outage.as_secs_f64(),
            bound.as_secs_f64()
        ));
        self.check_counters(what);
    }

    /// Each ha-director's status agrees with what is seen, and its counters only grow.
    fn check_counters(&mut self, what: &str) {
        let bin = self.opts.ha_director.clone();
        for i in 0..self.dirs.len() {
            let holds = self.dirs[i].holds();
            if holds != self.dirs[i].held {
                self.dirs[i].changes_seen += 1;
                self.dirs[i].held = holds;
            }
            if self.dirs[i].keepalived || !self.dirs[i].eligible() {
                continue;
            }
            let Some(st) = self.dirs[i].status(&bin) else {
                self.checks += 1;
                let tail = self.dirs[i].tail(8);
                let name = self.dirs[i].name.clone();
                self.violation(
                    format!("{what}: {name} answers on its status socket"),
                    format!("no status; log: {tail}"),
                );
                continue;
            };
            let inst = &st["instances"][0];
            let state = inst["state"].as_str().unwrap_or("?").to_owned();
            let transitions = inst["transitions"].as_u64();
            let sent = inst["adverts_sent"].as_u64();
            let name = self.dirs[i].name.clone();
            self.checks += 1;
            let holds = self.dirs[i].holds();
            if (state == "MASTER") != holds || inst["holds_vips"].as_bool() != Some(holds) {
                // Poll once more: the status and the address are read at different moments.
                std::thread::sleep(Duration::from_secs(1));
                let again = self.dirs[i].status(&bin);
                let holds2 = self.dirs[i].holds();
                let st2 = again
                    .as_ref()
                    .and_then(|s| s["instances"][0]["state"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if (st2 == "MASTER") != holds2 {
                    self.violation(
                        format!("{what}: {name}'s status MASTER exactly when it holds the VIP"),
                        format!("state {st2}, holds the VIP: {holds2}"),
                    );
                }
            }
            let (Some(tr), Some(sent)) = (transitions, sent) else {
                self.checks += 1;
                self.violation(
                    format!("{what}: {name}'s status has transitions and adverts_sent"),
                    inst.to_string(),
                );
                continue;
            };
            self.checks += 1;
            const ABSURD: u64 = 1 << 40;
            if tr > ABSURD || sent > ABSURD {
                self.violation(
                    format!("{what}: {name}'s counters sensible"),
                    format!("transitions {tr}, adverts_sent {sent}"),
                );
            }
            if let Some((tr0, sent0)) = self.dirs[i].last_counters {
                self.checks += 1;
                if tr < tr0 || sent < sent0 {
                    self.violation(
                        format!("{what}: {name}'s counters never go back"),
                        format!("transitions {tr0} -> {tr}, adverts_sent {sent0} -> {sent}"),
                    );
                }
                self.checks += 1;
                let seen = self.dirs[i].changes_seen;
                if tr.saturating_sub(tr0) < seen {
                    self.violation(
                        format!("{what}: {name} counts at least the {seen} holder change(s) seen"),
                        format!("transitions {tr0} -> {tr}"),
                    );
                }
            }
            self.dirs[i].last_counters = Some((tr, sent));
            self.dirs[i].changes_seen = 0;
        }
    }
}

impl SoakReport {
    /// The closing lines: `faults: N`, `checks: N`, `violations: N` and the faults by kind.
    pub fn summary(&self) -> String {
        format!(
            "seed: {}\nfaults by kind: {}\nrequests: {} ({} failed)\nlog: {}\nfaults: {}\nchecks: {}\nviolations: {}",
            self.seed,
            self.by_kind
                .iter()
                .map(|(n, c)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.requests.0,
            self.requests.1,
            self.log.display(),
            self.faults,
            self.checks,
            self.violations.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..20).map(|_| a.range(0, 9)).collect();
        let ys: Vec<u64> = (0..20).map(|_| b.range(0, 9)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| *x <= 9));
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }

    #[test]
    fn the_conf_is_one_that_ha_director_reads() {
        let conf = DirConf {
            weights: [2, 3],
            delay_loop: 2,
        };
        for ipvs in [true, false] {
            let text = keepalived_conf(0, &conf, ipvs, "/tmp/track.sh /tmp/fail");
            let loaded = crate::director::load_keepalived_str(&text, "soak.conf".as_ref())
                .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(loaded.config.instances[0].priority, 150);
            assert_eq!(loaded.config.virtual_servers.len(), usize::from(ipvs));
        }
        for what in BROKEN {
            let mut bad = keepalived_conf(0, &conf, true, "/tmp/track.sh /tmp/fail");
            bad.push_str(broken_tail(what));
            assert!(
                crate::director::load_keepalived_str(&bad, "soak.conf".as_ref()).is_err(),
                "{what} loads"
            );
        }
    }

    #[test]
    fn bounds_follow_the_timers() {
        assert_eq!(master_down_interval(), Duration::from_micros(721_875));
        assert_eq!(fall_window(1), Duration::from_secs(4));
    }
}
