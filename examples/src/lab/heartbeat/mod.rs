//! The lab with heartbeat's configuration (issue 16): the same client, directors and real
//! servers as the LVS-DR lab, with the directors run by one of two stacks reading one set of
//! files ([`files::HeartbeatFiles`]: `ha.cf`, `authkeys`, `haresources`, `ldirectord.cf`):
//!
//! - [`Stack::Heartbeat`]: Debian's heartbeat 3.0.6 on each director, which starts Debian's
//!   ldirectord 4.12 as its resource. Heartbeat reads only `/etc/ha.d` and names itself by
//!   `uname -n`, so each director runs it in a mount and UTS namespace of its own
//!   (`unshare --mount --uts`) with the node's folder bound over `/etc/ha.d`,
//!   `/var/lib/heartbeat` and `/var/log`, and a fresh tmpfs on `/run`.
//! - [`Stack::HaHeartbeat`]: `ha-director run --heartbeat-dir DIR --node NAME` on the same files,
//!   in the same kind of namespaces (so the default control socket under `/run` is the node's
//!   own).
//!
//! The scenario ([`run_heartbeat_scenario`]), the same steps for both: requests alternate
//! between the real servers; rs1's check page stops containing `OK` and rs1 leaves the pool
//! (quiescent: weight 0), then comes back; every check page fails and the director's sorry
//! server answers (fallback); `standby` on dir1 moves the VIP and the virtual service to dir2
//! and `takeover` brings them back; dir1 crashes (cable pulled, every process of the node
//! SIGKILLed) and dir2 takes over after `deadtime`; dir1 reboots and, `auto_failback on`, takes
//! the resources back. [`side_by_side`] prints two stacks' figures beside each other.
//!
//! IPVS is needed, so this runs inside the test VM (`cargo xtask lab -- --stack both`).

pub mod files;

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab};

pub use files::HeartbeatFiles;

use super::http::HttpServer;
use super::{
    Director, DirectorKind, LabError, Narrator, STOP_GRACE, StopReport, Stream, answers_since,
    expect_answers, failures_between, first_answers, in_pool, kernel_ready, max_gap, narrated,
    program_exists, realserver_apply,
};

/// Debian's heartbeat daemon.
pub const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
/// Debian's `hb_standby`.
pub const HB_STANDBY: &str = "/usr/share/heartbeat/hb_standby";
/// Debian's `hb_takeover`.
pub const HB_TAKEOVER: &str = "/usr/share/heartbeat/hb_takeover";

/// How long a resource transition may take (heartbeat's resource scripts are shell and perl:
/// under TCG, with the machine's two cores shared by other builds, `IPaddr2 start` alone was
/// seen taking 35 s and a whole standby over 300 s).
pub const TRANSITION: Duration = Duration::from_secs(600);

/// How often the lab looks at the directors (`ip addr`, `ipvsadm -Ln` in their namespaces):
/// the figures are exact to this much. Not faster: under TCG each look costs the directors'
/// scripts time.
pub const POLL: Duration = Duration::from_millis(250);

/// How long heartbeat may take to stop on SIGTERM: it stops ldirectord and the VIP first, a
/// resource transition (over 60 s was seen under TCG).
const HEARTBEAT_STOP_GRACE: Duration = TRANSITION;

/// [`super::wait_for`] every [`POLL`].
fn wait_for(
    what: &str,
    within: Duration,
    dirs: &[&Director],
    cond: impl FnMut() -> bool,
    detail: impl FnMut() -> String,
) -> Result<Duration, LabError> {
    super::wait_for_every(what, within, POLL, dirs, cond, detail)
}

/// Which stack runs both directors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// Debian's heartbeat 3.0.6 and ldirectord 4.12.
    Heartbeat,
    /// `ha-director run --heartbeat-dir`.
    HaHeartbeat,
}

impl Stack {
    /// The director kind of both directors.
    pub fn kind(self) -> DirectorKind {
        match self {
            Stack::Heartbeat => DirectorKind::Heartbeat,
            Stack::HaHeartbeat => DirectorKind::HaHeartbeat,
        }
    }

    /// What runs, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Stack::Heartbeat => "heartbeat 3.0.6 + ldirectord 4.12",
            Stack::HaHeartbeat => "ha-director --heartbeat-dir",
        }
    }

    /// The stacks `--stack WORD` names: `heartbeat`, `ha-heartbeat` or `both` (ours first).
    pub fn parse_list(word: &str) -> Result<Vec<Stack>, String> {
        match word {
            "both" => Ok(vec![Stack::HaHeartbeat, Stack::Heartbeat]),
            other => other.parse().map(|s| vec![s]),
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Heartbeat => "heartbeat",
            Stack::HaHeartbeat => "ha-heartbeat",
        })
    }
}

impl std::str::FromStr for Stack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "heartbeat" => Ok(Stack::Heartbeat),
            "ha-heartbeat" => Ok(Stack::HaHeartbeat),
            other => Err(format!(
                "unknown stack {other:?}: use `heartbeat`, `ha-heartbeat` or `both`"
            )),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct HbLabOptions {
    /// The stack of both directors.
    pub stack: Stack,
    /// The `ha-director` binary (needed for [`Stack::HaHeartbeat`]).
    pub ha_director: Option<PathBuf>,
    /// The files (addresses, heartbeat and ldirectord timing).
    pub files: HeartbeatFiles,
    /// The client sends one request every `request_interval`...
    pub request_interval: Duration,
    /// ...and gives each one `request_timeout`.
    pub request_timeout: Duration,
    /// Print each narration line to stdout as it happens (it is in the report either way).
    pub echo: bool,
}

impl HbLabOptions {
    /// The default files ([`HeartbeatFiles::default`]: keepalive 1 s, deadtime 5 s, checks
    /// every second), a request every 50 ms with a 300 ms timeout.
    pub fn new(stack: Stack) -> HbLabOptions {
        HbLabOptions {
            stack,
            ha_director: None,
            files: HeartbeatFiles::default(),
            request_interval: Duration::from_millis(50),
            request_timeout: Duration::from_millis(300),
            echo: false,
        }
    }
}

/// What the heartbeat scenario measured.
#[derive(Debug, Clone)]
pub struct HbReport {
    /// The stack that ran.
    pub stack: Stack,
    /// The real server names of the first requests while both were up, in order.
    pub first_answers: Vec<String>,
    /// Whether every pair of consecutive answers in `first_answers` came from different servers.
    pub alternates: bool,
    /// One check round: `checkinterval` + `checktimeout`.
    pub check_window: Duration,
    /// From rs1's check page failing until dir1's pool no longer had it with a weight above 0.
    pub rs_leave: Duration,
    /// Whether rs1 stayed listed with weight 0 while out (quiescent) rather than removed.
    pub rs_quiesced: bool,
    /// Requests answered by rs1 after its removal was seen (must be 0).
    pub rs1_answers_while_out: usize,
    /// From rs1's check page saying OK again until it was back in the pool.
    pub rs_rejoin: Duration,
    /// From every check page failing until the sorry server answered the client.
    pub fallback: Duration,
    /// Who answered then (`sorry-dir1`).
    pub fallback_answer: String,
    /// From the check pages saying OK again until a real server answered again.
    pub fallback_back: Duration,
    /// From `standby` on dir1 until dir2 held the VIP with the full pool and dir1 did not.
    pub standby: Duration,
    /// The longest time without an answer at the client around the standby.
    pub standby_outage: Duration,
    /// From `takeover` on dir1 until dir1 held the VIP with the full pool again and dir2 did not.
    pub takeback: Duration,
    /// The longest time without an answer at the client around the takeover.
    pub takeback_outage: Duration,
    /// `deadtime` from ha.cf.
    pub deadtime: Duration,
    /// From crashing dir1 until dir2 held the VIP.
    pub takeover: Duration,
    /// From crashing dir1 until dir2's pool had both real servers.
    pub takeover_pool: Duration,
    /// The longest time without an answer at the client around the crash.
    pub failover_outage: Duration,
    /// Client requests that failed during the failover.
    pub failed_during_failover: usize,
    /// From restarting dir1 until it held the VIP again and dir2 did not (auto_failback on).
    pub failback: Duration,
    /// The longest time without an answer at the client around the failback.
    pub failback_outage: Duration,
    /// Every request the client made.
    pub requests: usize,
    /// The graceful stop (SIGTERM) of each director at the end, in order.
    pub stops: Vec<StopReport>,
    /// The narration, one line per event.
    pub narration: Vec<String>,
}

fn s3(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

impl HbReport {
    fn empty(stack: Stack, files: &HeartbeatFiles) -> HbReport {
        HbReport {
            stack,
            first_answers: Vec::new(),
            alternates: false,
            check_window: files.checkinterval + files.checktimeout,
            rs_leave: Duration::ZERO,
            rs_quiesced: false,
            rs1_answers_while_out: 0,
            rs_rejoin: Duration::ZERO,
            fallback: Duration::ZERO,
            fallback_answer: String::new(),
            fallback_back: Duration::ZERO,
            standby: Duration::ZERO,
            standby_outage: Duration::ZERO,
            takeback: Duration::ZERO,
            takeback_outage: Duration::ZERO,
            deadtime: files.deadtime,
            takeover: Duration::ZERO,
            takeover_pool: Duration::ZERO,
            failover_outage: Duration::ZERO,
            failed_during_failover: 0,
            failback: Duration::ZERO,
            failback_outage: Duration::ZERO,
            requests: 0,
            stops: Vec::new(),
            narration: Vec::new(),
        }
    }

    /// The figures, one `(label, value)` per row, in the order of the scenario (the side-by-side
    /// table's rows).
    pub fn rows(&self) -> Vec<(&'static str, Option<Duration>)> {
        let stop = |i: usize| self.stops.get(i).and_then(|s| s.took);
        vec![
            (
                "rs1 leaves the pool (check page without OK)",
                Some(self.rs_leave),
            ),
            ("rs1 rejoins (check page OK again)", Some(self.rs_rejoin)),
            (
                "every real server down: fallback answers",
                Some(self.fallback),
            ),
            ("real servers answer again", Some(self.fallback_back)),
            ("standby: VIP + service on dir2", Some(self.standby)),
            ("  client outage on standby", Some(self.standby_outage)),
            ("takeover back to dir1", Some(self.takeback)),
            ("  client outage on takeover", Some(self.takeback_outage)),
            ("crash: dir2 holds the VIP", Some(self.takeover)),
            ("crash: dir2's pool is full", Some(self.takeover_pool)),
            ("  client outage on crash", Some(self.failover_outage)),
            ("restart: dir1 fails back", Some(self.failback)),
            ("  client outage on failback", Some(self.failback_outage)),
            ("graceful stop of dir1", stop(0)),
            ("graceful stop of dir2", stop(1)),
        ]
    }

    /// The figures as plain lines.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "stack: {} ({})\nrequests alternate: {} ({})\nrs1 out of the pool: {}\n\
             fallback answered by: {}\ndeadtime {}, client requests failed on crash: {}\n",
            self.stack,
            self.stack.describe(),
            if self.alternates { "yes" } else { "NO" },
            self.first_answers.join(" "),
            if self.rs_quiesced {
                "listed with weight 0 (quiescent)"
            } else {
                "removed"
            },
            self.fallback_answer,
            s3(self.deadtime),
            self.failed_during_failover,
        );
        for (label, v) in self.rows() {
            out.push_str(&format!("{label:<46} {}\n", v.map_or("-".to_owned(), s3)));
        }
        out.push_str(&format!("{} requests in all", self.requests));
        out
    }
}

/// The side-by-side table of two runs: ours (`ha-heartbeat`) beside heartbeat + ldirectord,
/// with the ratio ours / theirs (below 1: ours is faster).
pub fn side_by_side(ours: &HbReport, theirs: &HbReport) -> String {
    let mut out = format!(
        "| {:<46} | {:>12} | {:>12} | {:>6} |\n|{}|{}|{}|{}|\n",
        "figure (deadtime 5 s, checks every 1 s)",
        ours.stack.to_string(),
        theirs.stack.to_string(),
        "ratio",
        "-".repeat(48),
        "-".repeat(14),
        "-".repeat(14),
        "-".repeat(8),
    );
    for ((label, a), (_, b)) in ours.rows().into_iter().zip(theirs.rows()) {
        let f = |d: Option<Duration>| d.map_or("-".to_owned(), s3);
        let ratio = match (a, b) {
            (Some(a), Some(b)) if !b.is_zero() => {
                format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {label:<46} | {:>12} | {:>12} | {ratio:>6} |\n",
            f(a),
            f(b)
        ));
    }
    out
}

/// Runs the whole scenario with `opts.stack` and returns what it measured. Needs root and a
/// kernel with IPVS (the test VM). Every namespace and process is removed before it returns.
pub fn run_heartbeat_scenario(opts: &HbLabOptions) -> Result<HbReport, LabError> {
    kernel_ready()?;
    let mut needed = vec![
        ("ip", "iproute2"),
        ("ipvsadm", "ipvsadm"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
    ];
    if opts.stack == Stack::Heartbeat {
        needed.extend([
            (HEARTBEAT, "heartbeat"),
            ("ldirectord", "ldirectord"),
            ("ifconfig", "net-tools"),
        ]);
    }
    for (p, pkg) in needed {
        if !program_exists(p) {
            return Err(LabError::MissingProgram {
                program: p.into(),
                hint: format!("apt-get install -y {pkg} (cargo xtask vm installs it)"),
            });
        }
    }
    if opts.stack == Stack::HaHeartbeat && !opts.ha_director.as_deref().is_some_and(Path::is_file) {
        return Err(LabError::MissingProgram {
            program: opts
                .ha_director
                .as_ref()
                .map_or("ha-director".into(), |p| p.display().to_string()),
            hint: "build it: cargo build -p ha-examples --bin ha-director".into(),
        });
    }
    narrated(opts.echo, |n| scenario(opts, n)).map(|(mut rep, lines)| {
        rep.narration = lines;
        rep
    })
}

/// Single-quotes a word for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The node's shell script: its own `/run` (and, for heartbeat, `/etc/ha.d`, `/var/lib/heartbeat`
/// and `/var/log`), its name, then the director. Heartbeat daemonizes, so for it the script
/// stays as the director's process while heartbeat's master runs, and passes SIGTERM on.
fn node_script(stack: Stack, node: &str, node_dir: &Path, ha_argv: &[String]) -> String {
    let d = |sub: &str| sh_quote(&node_dir.join(sub).display().to_string());
    match stack {
        Stack::Heartbeat => format!(
            "set -e\nhostname {node}\n\
             mount --bind {had} /etc/ha.d\nmount --bind {lib} /var/lib/heartbeat\n\
             mount --bind {log} /var/log\nmount -t tmpfs tmpfs /run\n\
             mkdir -p /run/resource-agents /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd\n\
             set +e\n{HEARTBEAT} || exit $?\n\
             i=0; while [ ! -s /run/heartbeat.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n\
             trap 'kill -TERM \"$(cat /run/heartbeat.pid)\"' TERM\n\
             while kill -0 \"$(cat /run/heartbeat.pid 2>/dev/null)\" 2>/dev/null; do sleep 0.2; done\n\
             echo 'heartbeat has exited'; exit 1\n",
            had = d("ha.d"),
            lib = d("lib"),
            log = d("log"),
        ),
        Stack::HaHeartbeat => format!(
            "set -e\nhostname {node}\nmount -t tmpfs tmpfs /run\nexec {}\n",
            ha_argv
                .iter()
                .map(|a| sh_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Copies what heartbeat needs besides the four files from the installed package: the
/// resource scripts and helpers of `/etc/ha.d`, and `/var/lib/heartbeat`'s folders.
fn prepare_heartbeat_node(set: &Path, node_dir: &Path) -> Result<(), LabError> {
    let run = |cmd: &str| -> Result<(), LabError> {
        let out = Command::new("sh")
            .args(["-c", cmd])
            .output()
            .map_err(|e| LabError::Prepare {
                what: node_dir.display().to_string(),
                detail: e.to_string(),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(LabError::Prepare {
                what: node_dir.display().to_string(),
                detail: format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr).trim()),
            })
        }
    };
    let q = |p: &Path| sh_quote(&p.display().to_string());
    let (had, lib, log) = (
        node_dir.join("ha.d"),
        node_dir.join("lib"),
        node_dir.join("log"),
    );
    run(&format!(
        "mkdir -p {had} {lib} {log} && cp -a /etc/ha.d/. {had}/ && cp -a /var/lib/heartbeat/. {lib}/ && \
         rm -f {had}/ldirectord.cf && cp -p {set}/ha.cf {set}/authkeys {set}/haresources {set}/ldirectord.cf {had}/",
        had = q(&had),
        lib = q(&lib),
        log = q(&log),
        set = q(set),
    ))
}

/// A node's start, with what the lab needs to reach it again.
struct Node {
    dir: Director,
    /// The node's folder (heartbeat: its `/etc/ha.d`, `/var/lib/heartbeat`, `/var/log`).
    node_dir: PathBuf,
}

impl Node {
    /// Runs `argv` inside the node's namespaces (network, mount, UTS: its own `/run`);
    /// `Ok(output)` when it exits 0.
    fn admin(&self, argv: &[&str]) -> Result<String, String> {
        let pid = self.dir.proc.pid().to_string();
        let mut full = vec!["nsenter", "-t", &pid, "-m", "-u"];
        full.extend_from_slice(argv);
        let out = self.dir.host.exec(&full);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text.trim().to_owned())
        } else {
            Err(format!(
                "{} exited with {}: {}",
                argv.join(" "),
                out.status,
                text.trim()
            ))
        }
    }
}

fn start_node(
    lab: &mut Lab,
    opts: &HbLabOptions,
    n: &Narrator,
    set: &Path,
    name: &'static str,
    host: &Host,
) -> Result<Node, LabError> {
    let node_dir = lab.dir().join(name);
    let mut logs = Vec::new();
    let mut ha_argv = Vec::new();
    match opts.stack {
        Stack::Heartbeat => {
            prepare_heartbeat_node(set, &node_dir)?;
            logs.push(node_dir.join("log/ha-log"));
            logs.push(node_dir.join("log/ldirectord.log"));
        }
        Stack::HaHeartbeat => {
            std::fs::create_dir_all(&node_dir).map_err(|e| LabError::Prepare {
                what: node_dir.display().to_string(),
                detail: e.to_string(),
            })?;
            let bin = opts.ha_director.clone().unwrap_or_default();
            ha_argv = vec![
                bin.display().to_string(),
                "run".into(),
                "--heartbeat-dir".into(),
                set.display().to_string(),
                "--node".into(),
                name.into(),
                "--status-socket".into(),
                lab.dir()
                    .join(format!("{name}.status.sock"))
                    .display()
                    .to_string(),
                "--control-socket".into(),
                control_socket(lab.dir(), name).display().to_string(),
            ];
        }
    }
    let script = node_script(opts.stack, name, &node_dir, &ha_argv);
    n.say(
        name,
        format_args!(
            "start {} in its own mount and UTS namespaces: {}",
            opts.stack.describe(),
            match opts.stack {
                Stack::Heartbeat => format!(
                    "{HEARTBEAT} with {} bound over /etc/ha.d",
                    node_dir.join("ha.d").display()
                ),
                Stack::HaHeartbeat => ha_argv.join(" "),
            }
        ),
    );
    let argv = [
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let proc = lab.spawn(host, &argv);
    Ok(Node {
        dir: Director {
            name,
            host: host.clone(),
            kind: opts.stack.kind(),
            proc,
            logs,
        },
        node_dir,
    })
}

/// ha-director's control socket on node `name` (`standby`/`takeover` requests).
fn control_socket(lab_dir: &Path, name: &str) -> PathBuf {
    lab_dir.join(format!("{name}.control.sock"))
}

/// `standby` (or `takeover`) on `node`: heartbeat's `hb_standby`/`hb_takeover`, or
/// `ha-director standby`/`takeover` on the node's control socket.
fn admin(opts: &HbLabOptions, lab_dir: &Path, node: &Node, what: &str) -> Result<String, LabError> {
    let bin = opts
        .ha_director
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let socket = control_socket(lab_dir, node.dir.name).display().to_string();
    let argv: Vec<&str> = match (opts.stack, what) {
        (Stack::Heartbeat, "standby") => vec![HB_STANDBY],
        (Stack::Heartbeat, _) => vec![HB_TAKEOVER],
        (Stack::HaHeartbeat, w) => vec![bin.as_str(), w, "--socket", socket.as_str()],
    };
    node.admin(&argv).map_err(|e| {
        LabError::Step(format!(
            "{}: `{what}` failed: {e}{}",
            node.dir.name,
            if opts.stack == Stack::HaHeartbeat {
                " (ha-director's administrative mode, `ha-director standby|takeover`, is needed for this step)"
            } else {
                ""
            }
        ))
    })
}

fn scenario(opts: &HbLabOptions, n: &Narrator) -> Result<HbReport, LabError> {
    let f = &opts.files;
    let c = &f.lab;
    let vip = c.vip.to_string();
    let service = format!("{}:{}", c.vip, c.port);
    let target = SocketAddr::V4(SocketAddrV4::new(c.vip, c.port));
    let mut rep = HbReport::empty(opts.stack, f);

    let mut lab = Lab::new("hb");
    let client = lab.add_host("client", &["10.100.0.10/24"]);
    let dir_hosts = [
        lab.add_host(&f.nodes[0].0, &[&format!("{}/24", f.nodes[0].1)]),
        lab.add_host(&f.nodes[1].0, &[&format!("{}/24", f.nodes[1].1)]),
    ];
    let mut rs_hosts = Vec::new();
    for (name, addr) in &c.real_servers {
        rs_hosts.push(lab.add_host(name, &[&format!("{addr}/24")]));
    }
    // The one set of files both stacks read.
    let set = lab.dir().join("heartbeat");
    f.write(&set).map_err(|e| LabError::Prepare {
        what: set.display().to_string(),
        detail: e.to_string(),
    })?;
    n.say(
        "lab",
        format_args!(
            "{}: client 10.100.0.10, dir1 {}, dir2 {}, {}; VIP {service} (IPaddr2 /{}), ldirectord.cf rr gate, body check {} ~ \"{}\", quiescent, fallback 127.0.0.1:{}; keepalive {} s, deadtime {} s; files in {}",
            opts.stack.describe(),
            f.nodes[0].1,
            f.nodes[1].1,
            c.real_servers
                .iter()
                .map(|(n, a)| format!("{n} {a}"))
                .collect::<Vec<_>>()
                .join(", "),
            f.vip_prefix,
            f.request,
            f.receive,
            f.fallback_port,
            f.keepalive.as_secs(),
            f.deadtime.as_secs(),
            set.display()
        ),
    );

    // Real servers: the VIP on lo with the ARP sysctls, an HTTP server with a check page.
    let mut servers = Vec::new();
    for (host, (name, _)) in rs_hosts.iter().zip(&c.real_servers) {
        let state = lab.dir().join(format!("{name}.realserver.json"));
        let done = realserver_apply(host, IpAddr::V4(c.vip), state)?;
        n.say(name, format_args!("realserver: {done}"));
        let srv = HttpServer::start(host, name, c.port)
            .map_err(|e| LabError::Step(format!("{name}: HTTP server on port {}: {e}", c.port)))?;
        n.say(
            name,
            format_args!(
                "HTTP server on :{} answers \"{name}\", /{} says \"OK\"",
                c.port, f.request
            ),
        );
        servers.push(srv);
    }
    // A sorry server on each director (ldirectord's fallback=127.0.0.1:PORT gate).
    let mut sorry = Vec::new();
    for host in &dir_hosts {
        let name = format!("sorry-{}", host.name());
        sorry.push(
            HttpServer::start(host, &name, f.fallback_port).map_err(|e| {
                LabError::Step(format!(
                    "{name}: HTTP server on port {}: {e}",
                    f.fallback_port
                ))
            })?,
        );
    }
    n.say(
        "lab",
        format_args!(
            "sorry servers on dir1 and dir2 :{} answer \"sorry-dir1\" / \"sorry-dir2\"",
            f.fallback_port
        ),
    );

    let node1 = start_node(&mut lab, opts, n, &set, "dir1", &dir_hosts[0])?;
    let node2 = start_node(&mut lab, opts, n, &set, "dir2", &dir_hosts[1])?;
    let (dir1, dir2) = (&node1.dir, &node2.dir);
    let both = [dir1, dir2];
    let full_pool = |d: &Director| {
        let m = d.members(&service);
        c.real_servers
            .iter()
            .all(|(_, a)| in_pool(&m, &format!("{a}:{}", c.port)))
    };
    let t = wait_for(
        "dir1 holds the VIP",
        f.initdead + TRANSITION,
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
        format_args!("holds VIP {vip} ({:.3} s after start)", t.as_secs_f64()),
    );
    wait_for(
        "both real servers are in dir1's pool",
        TRANSITION,
        &both,
        || full_pool(dir1),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    n.say(
        "dir1",
        format_args!("ipvsadm -Ln: {}", dir1.pool_line(&service)),
    );
    wait_for(
        "dir2 does not hold the VIP",
        f.deadtime * 2 + Duration::from_secs(10),
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
            detail: answers_since(&stream.samples(), t0),
        });
    }
    (rep.first_answers, rep.alternates) = first_answers(&stream, n);

    // rs1's check page stops containing OK: it leaves the pool (quiescent), then comes back.
    let (rs1_name, rs1_ip) = c.real_servers[0].clone();
    let rs1_addr = format!("{rs1_ip}:{}", c.port);
    let bound = rep.check_window * 4 + Duration::from_secs(60);
    servers[0].set_check_ok(false);
    n.say(
        &rs1_name,
        format_args!("/{} now says \"maintenance\" (no OK)", f.request),
    );
    rep.rs_leave = wait_for(
        &format!("{rs1_addr} leaves dir1's pool"),
        bound,
        &both,
        || !in_pool(&dir1.members(&service), &rs1_addr),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    let t_left = n.now();
    rep.rs_quiesced = dir1
        .members(&service)
        .iter()
        .any(|m| m.addr == rs1_addr && m.weight == 0);
    n.say(
        "dir1",
        format_args!(
            "ipvsadm -Ln: {rs1_addr} out of the pool {:.3} s after its page changed ({}): {}",
            rep.rs_leave.as_secs_f64(),
            if rep.rs_quiesced {
                "weight 0, quiescent"
            } else {
                "removed"
            },
            dir1.pool_line(&service)
        ),
    );
    std::thread::sleep(Duration::from_secs(1));
    let samples = stream.samples();
    rep.rs1_answers_while_out = samples
        .iter()
        .filter(|s| s.sent > t_left + Duration::from_millis(200))
        .filter(|s| s.result.as_deref() == Ok(rs1_name.as_str()))
        .count();
    n.say(
        "client",
        format_args!(
            "since then answers come from: {}",
            answers_since(&samples, t_left + Duration::from_millis(200))
        ),
    );
    servers[0].set_check_ok(true);
    n.say(&rs1_name, format_args!("/{} says \"OK\" again", f.request));
    rep.rs_rejoin = wait_for(
        &format!("{rs1_addr} rejoins dir1's pool"),
        bound,
        &both,
        || in_pool(&dir1.members(&service), &rs1_addr),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    n.say(
        "dir1",
        format_args!(
            "ipvsadm -Ln: {rs1_addr} back in the pool {:.3} s after its page said OK: {}",
            rep.rs_rejoin.as_secs_f64(),
            dir1.pool_line(&service)
        ),
    );

    // Every real server down: the sorry server answers.
    let t_down = n.now();
    for s in &servers {
        s.set_check_ok(false);
    }
    n.say("lab", "every real server's check page says \"maintenance\"");
    let is_sorry = |r: &Result<String, String>| r.as_deref().is_ok_and(|a| a.starts_with("sorry"));
    let sorry_seen = wait_for(
        "the fallback (sorry server) answers the client",
        bound,
        &both,
        || {
            stream
                .samples()
                .iter()
                .any(|s| s.sent >= t_down && is_sorry(&s.result))
        },
        || {
            format!(
                "{}; {}{}",
                answers_since(&stream.samples(), t_down),
                dir1.ipvsadm(&["-Ln"]),
                dir1.log_tail(30)
            )
        },
    )?;
    rep.fallback = sorry_seen;
    rep.fallback_answer = stream
        .samples()
        .iter()
        .filter(|s| s.sent >= t_down)
        .find_map(|s| s.result.clone().ok().filter(|a| a.starts_with("sorry")))
        .unwrap_or_default();
    n.say(
        "client",
        format_args!(
            "answered by {} {:.3} s after every check failed; dir1's ipvsadm -Ln: {}",
            rep.fallback_answer,
            rep.fallback.as_secs_f64(),
            dir1.pool_line(&service)
        ),
    );
    let t_up = n.now();
    for s in &servers {
        s.set_check_ok(true);
    }
    n.say("lab", "every check page says \"OK\" again");
    let is_real = |r: &Result<String, String>| {
        r.as_deref()
            .is_ok_and(|a| c.real_servers.iter().any(|(n, _)| n == a))
    };
    rep.fallback_back = wait_for(
        "a real server answers the client again",
        bound,
        &both,
        || {
            stream
                .samples()
                .iter()
                .any(|s| s.sent >= t_up && is_real(&s.result))
        },
        || {
            format!(
                "{}; {}{}",
                answers_since(&stream.samples(), t_up),
                dir1.ipvsadm(&["-Ln"]),
                dir1.log_tail(30)
            )
        },
    )?;
    wait_for(
        "both real servers are back in dir1's pool",
        bound,
        &both,
        || full_pool(dir1),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(30)),
    )?;
    n.say(
        "client",
        format_args!(
            "real servers answer again {:.3} s after the pages said OK; dir1's ipvsadm -Ln: {}",
            rep.fallback_back.as_secs_f64(),
            dir1.pool_line(&service)
        ),
    );

    // standby on dir1: the VIP and the virtual service move to dir2; takeover on dir1 brings
    // them back. Each: how long until `to` holds both and `from` released them, and the
    // client's outage.
    let moved =
        |cmd: &str, from: &Director, to: &Director| -> Result<(Duration, Duration), LabError> {
            let t0 = n.now();
            let said = admin(opts, lab.dir(), &node1, cmd)?;
            let tool = match opts.stack {
                Stack::Heartbeat => format!("hb_{cmd}"),
                _ => format!("ha-director {cmd}"),
            };
            n.say(
                "dir1",
                format_args!(
                    "{cmd} ({tool}){}",
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", said.lines().last().unwrap_or(""))
                    }
                ),
            );
            let took = wait_for(
                &format!(
                    "{} holds the VIP and the full pool, {} released them",
                    to.name, from.name
                ),
                TRANSITION,
                &both,
                || to.has_vip(&vip) && !from.has_vip(&vip) && full_pool(to),
                || {
                    format!(
                        "dir1 has the VIP: {}, dir2: {}; {}'s ipvsadm: {}\n{}\n{}",
                        dir1.has_vip(&vip),
                        dir2.has_vip(&vip),
                        to.name,
                        to.ipvsadm(&["-Ln"]),
                        dir1.log_tail(25),
                        dir2.log_tail(25)
                    )
                },
            )?;
            n.say(
                to.name,
                format_args!(
                    "holds VIP {vip} and the pool {:.3} s after the {cmd}: {}",
                    took.as_secs_f64(),
                    to.pool_line(&service)
                ),
            );
            expect_answers(&stream, n.now(), &format!("the {cmd}"))?;
            let outage = max_gap(&stream.samples(), t0, n.now());
            n.say(
                "client",
                format_args!(
                    "outage on {cmd}: {:.3} s without an answer",
                    outage.as_secs_f64()
                ),
            );
            Ok((took, outage))
        };
    (rep.standby, rep.standby_outage) = moved("standby", dir1, dir2)?;
    (rep.takeback, rep.takeback_outage) = moved("takeover", dir2, dir1)?;

    // dir1 crashes: its cable is pulled and every process of the node is SIGKILLed.
    std::thread::sleep(Duration::from_secs(1));
    let t_kill = n.now();
    lab.cut_link(&dir1.host);
    let killed = dir1.host.kill_all();
    n.say(
        "dir1",
        format_args!(
            "crash: cable pulled and every process of the node ({killed}: {}) SIGKILLed",
            if opts.stack == Stack::Heartbeat {
                "heartbeat's, ldirectord"
            } else {
                "ha-director"
            }
        ),
    );
    let within = f.deadtime + TRANSITION;
    wait_for(
        "dir2 takes the VIP",
        within,
        &[dir2],
        || dir2.has_vip(&vip),
        || dir2.log_tail(25),
    )?;
    rep.takeover = n.now() - t_kill;
    n.say(
        "dir2",
        format_args!(
            "holds VIP {vip} {:.3} s after the crash (deadtime {:.0} s)",
            rep.takeover.as_secs_f64(),
            f.deadtime.as_secs_f64()
        ),
    );
    wait_for(
        "dir2's pool has both real servers",
        within,
        &[dir2],
        || full_pool(dir2),
        || format!("{}{}", dir2.ipvsadm(&["-Ln"]), dir2.log_tail(25)),
    )?;
    rep.takeover_pool = n.now() - t_kill;
    n.say(
        "dir2",
        format_args!(
            "ipvsadm -Ln {:.3} s after the crash: {}",
            rep.takeover_pool.as_secs_f64(),
            dir2.pool_line(&service)
        ),
    );
    expect_answers(&stream, n.now(), "the crash")?;
    let samples = stream.samples();
    rep.failover_outage = max_gap(&samples, t_kill, n.now());
    rep.failed_during_failover = failures_between(&samples, t_kill, n.now());
    n.say(
        "client",
        format_args!(
            "outage on crash: {:.3} s without an answer, {} request(s) failed",
            rep.failover_outage.as_secs_f64(),
            rep.failed_during_failover
        ),
    );

    // dir1 reboots: leftovers cleared, cable back in, the stack starts again.
    let sh = |cmd: &str| {
        let _ = dir1.host.exec(&["sh", "-c", cmd]);
    };
    sh(&format!(
        "ip addr del {vip}/{} dev eth0; ipvsadm -C",
        f.vip_prefix
    ));
    let _ = std::fs::remove_file(lab.dir().join("dir1.status.sock"));
    let _ = std::fs::remove_file(control_socket(lab.dir(), "dir1"));
    lab.restore_link(&dir1.host);
    n.say(
        "dir1",
        "reboot: leftover VIP and IPVS table cleared, cable back in",
    );
    let t_back = n.now();
    dir1.proc.restart();
    n.say(
        "dir1",
        format_args!("start {} again (auto_failback on)", opts.stack.describe()),
    );
    rep.failback = wait_for(
        "dir1 takes the VIP back and dir2 releases it",
        f.initdead + TRANSITION,
        &both,
        || dir1.has_vip(&vip) && !dir2.has_vip(&vip),
        || {
            format!(
                "dir1 has it: {}, dir2 has it: {}\n{}\n{}",
                dir1.has_vip(&vip),
                dir2.has_vip(&vip),
                dir1.log_tail(25),
                dir2.log_tail(25)
            )
        },
    )?;
    n.say(
        "dir1",
        format_args!(
            "holds VIP {vip} again {:.3} s after its restart; dir2 released it",
            rep.failback.as_secs_f64()
        ),
    );
    wait_for(
        "dir1's pool has both real servers",
        TRANSITION,
        &both,
        || full_pool(dir1),
        || format!("{}{}", dir1.ipvsadm(&["-Ln"]), dir1.log_tail(25)),
    )?;
    expect_answers(&stream, n.now(), "the failback")?;
    rep.failback_outage = max_gap(&stream.samples(), t_back, n.now());
    n.say(
        "client",
        format_args!(
            "outage on failback: {:.3} s without an answer, {} request(s) failed; dir1's ipvsadm -Ln: {}",
            rep.failback_outage.as_secs_f64(),
            failures_between(&stream.samples(), t_back, n.now()),
            dir1.pool_line(&service)
        ),
    );
    stream.stop();
    rep.requests = stream.samples().len();

    // Graceful stops (SIGTERM).
    let grace = match opts.stack {
        Stack::Heartbeat => HEARTBEAT_STOP_GRACE,
        Stack::HaHeartbeat => STOP_GRACE,
    };
    for d in both {
        let t = Instant::now();
        d.proc.signal(libc::SIGTERM);
        let stopped = d.proc.wait_exit(grace);
        let took = stopped.then(|| t.elapsed());
        let held = d.has_vip(&vip);
        rep.stops.push(StopReport {
            director: d.name.to_owned(),
            program: d.kind.program(),
            took,
            left_vip: held,
        });
        match took {
            Some(t) => n.say(
                d.name,
                format_args!(
                    "SIGTERM: {} stopped after {:.3} s{}",
                    d.kind.program(),
                    t.as_secs_f64(),
                    if held {
                        " (but left the VIP behind)"
                    } else {
                        ""
                    }
                ),
            ),
            None => {
                d.host.kill_all();
                n.say(
                    d.name,
                    format_args!(
                        "SIGTERM: {} did not stop within {:.0} s; every process SIGKILLed",
                        d.kind.program(),
                        grace.as_secs_f64()
                    ),
                );
            }
        }
    }
    // Whatever the stack left running in the nodes (ldirectord) goes with the lab.
    for d in both {
        d.host.kill_all();
    }
    let _ = (&node1.node_dir, &node2.node_dir);
    drop(servers);
    drop(sorry);
    n.say("lab", format_args!("done: {} requests", rep.requests));
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_parse() {
        assert_eq!(Stack::parse_list("heartbeat"), Ok(vec![Stack::Heartbeat]));
        assert_eq!(
            Stack::parse_list("ha-heartbeat"),
            Ok(vec![Stack::HaHeartbeat])
        );
        assert_eq!(
            Stack::parse_list("both"),
            Ok(vec![Stack::HaHeartbeat, Stack::Heartbeat])
        );
        assert!(Stack::parse_list("pacemaker").is_err());
        assert!("heartbeat".parse::<DirectorKind>().is_err());
    }

    #[test]
    fn the_node_script_binds_the_nodes_folders_and_passes_sigterm_on() {
        let s = node_script(Stack::Heartbeat, "dir1", Path::new("/tmp/lab/dir1"), &[]);
        for want in [
            "hostname dir1",
            "mount --bind '/tmp/lab/dir1/ha.d' /etc/ha.d",
            "mount --bind '/tmp/lab/dir1/lib' /var/lib/heartbeat",
            "mount -t tmpfs tmpfs /run",
            "trap 'kill -TERM",
            HEARTBEAT,
        ] {
            assert!(s.contains(want), "{want:?} not in\n{s}");
        }
        let argv = ["/x/ha-director".to_owned(), "it's".to_owned()];
        let s = node_script(
            Stack::HaHeartbeat,
            "dir2",
            Path::new("/tmp/lab/dir2"),
            &argv,
        );
        assert!(s.contains("exec '/x/ha-director' 'it'\\''s'"), "{s}");
    }

    #[test]
    fn the_side_by_side_table_has_every_row_and_ratios() {
        let f = HeartbeatFiles::default();
        let mut ours = HbReport::empty(Stack::HaHeartbeat, &f);
        let mut theirs = HbReport::empty(Stack::Heartbeat, &f);
        ours.takeover = Duration::from_millis(5100);
        theirs.takeover = Duration::from_millis(6000);
        let t = side_by_side(&ours, &theirs);
        assert_eq!(t.lines().count(), 2 + ours.rows().len());
        let line = t
            .lines()
            .find(|l| l.contains("crash: dir2 holds the VIP"))
            .unwrap();
        assert!(line.contains("5.100 s") && line.contains("6.000 s") && line.contains("0.85"));
    }
}
