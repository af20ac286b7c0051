//! The active-active lab (issue 17): three `ha-director`s announce one virtual address by BGP
//! to an FRR router, which spreads the client's flows over them by ECMP; IPVS `mh` (Maglev
//! hashing) with the same real servers on every director and `sloppy_tcp` let a flow move
//! between directors without breaking.
//!
//! ```text
//!   client 10.100.0.10 ──┐  route to the VIP via the router
//!   router 10.100.0.1  ──┤  FRR: bgpd (maximum-paths 8), bfdd (100 ms x 3); L4 ECMP hash
//!   d1..d3 10.100.0.2-4 ─┼─ br0   ha-director: VIP 10.100.100.100 on lo, IPVS mh + mh-port,
//!   rs1..3 10.100.0.11-13┘        sloppy_tcp, [bgp] with BFD, drain 3 s on SIGTERM
//! ```
//!
//! One bridge carries everything: the client reaches the VIP through the router, the router
//! forwards to a director, the director to a real server (DR), and the real server answers the
//! client directly. The router sends no ICMP redirects, so the client keeps going through it.
//!
//! The scenario ([`run_active_active`]), narrated: the client's long-lived connections spread
//! over the three directors; d1 is SIGKILLed with its cable pulled (the router's route loses
//! it through BFD; every connection still answers through the others); d1 comes back (new
//! flows reach it, no connection breaks); rs2 fails (every director takes it out) and comes
//! back (every director puts it back); d3 gets SIGTERM (it withdraws, drains and stops; no
//! connection breaks).
//!
//! rs2 comes back before the drain because a Maglev table built for a changed pool does not
//! keep every surviving flow where it was: its population moves a few slots between the
//! remaining servers too. A connection stays on its server while its director keeps it (the
//! connection table), but when its flow moves to another director (the drain), that director
//! looks it up in the table of the pool it has now. With rs2 still out, 1 of 66 connections
//! broke during the drain in one run of the VM suite.
//!
//! The pool must also come back in the same order. The kernel fills the Maglev table walking
//! the service's destination list, each destination in turn taking its next preferred slot,
//! and a destination added is put at the head of that list. So rs2 deleted and added back
//! gives another table than the one the connections were made with, and 1 of 57 connections
//! broke during the drain in a run of the VM suite with rs2 back. The directors therefore
//! set a failed real server's weight to 0 (`inhibit_on_failure`): it keeps its place in the
//! list, takes no slot while at 0 and, back at its weight, gives the same table as before.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_testsupport::frr::Frr;
use ha_testsupport::{Host, Lab, Proc};

use super::http::{HttpServer, KeepAlive};
use super::{LabError, Narrator, kernel_ready, narrated, parse_ipvsadm_members, program_exists};

/// The virtual address every director announces.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 100);
/// The virtual port.
pub const PORT: u16 = 80;
const ROUTER: &str = "10.100.0.1";
const CLIENT: &str = "10.100.0.10";
const DIRECTORS: [(&str, &str); 3] = [
    ("d1", "10.100.0.2"),
    ("d2", "10.100.0.3"),
    ("d3", "10.100.0.4"),
];
const REAL_SERVERS: [(&str, &str); 3] = [
    ("rs1", "10.100.0.11"),
    ("rs2", "10.100.0.12"),
    ("rs3", "10.100.0.13"),
];
/// How long one request on a kept-alive connection may take: a flow moved to another director
/// loses the packets sent to the dead one until BFD takes it out, and TCP retransmits them.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the router's route must hold all three directors before the client starts.
const STEADY: Duration = Duration::from_secs(3);

/// What to run.
#[derive(Debug, Clone)]
pub struct ActiveOptions {
    /// The `ha-director` binary.
    pub ha_director: PathBuf,
    /// Long-lived client connections opened at the start.
    pub connections: usize,
    /// New connections opened after d1 comes back.
    pub new_connections: usize,
    /// Each director's drain time on SIGTERM.
    pub drain: Duration,
    /// Print the narration as it happens.
    pub echo: bool,
    /// The directors' IPVS scheduler (`mh`, the one that keeps flows; `rr` shows what breaks
    /// without consistent hashing).
    pub scheduler: String,
    /// `lvs_sloppy_tcp` on the directors (off shows what breaks without it).
    pub sloppy_tcp: bool,
}

impl ActiveOptions {
    /// 60 connections, 30 new ones, a 3 s drain.
    pub fn new(ha_director: PathBuf) -> ActiveOptions {
        ActiveOptions {
            ha_director,
            connections: 60,
            new_connections: 30,
            drain: Duration::from_secs(3),
            echo: false,
            scheduler: "mh".to_owned(),
            sloppy_tcp: true,
        }
    }
}

/// Broken connections of a step: how many of how many failed a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Broken {
    /// Connections whose request failed.
    pub broken: usize,
    /// Connections tried.
    pub of: usize,
}

/// What the scenario measured.
#[derive(Debug, Clone, Default)]
pub struct ActiveReport {
    /// The narration, one line per event.
    pub narration: Vec<String>,
    /// The client's connections each director carried at the start (`ipvsadm -Lnc`).
    pub carried: Vec<(String, usize)>,
    /// From d1's SIGKILL (cable pulled) until the router's route no longer had it.
    pub crash_withdrawn_after: Duration,
    /// Requests on every connection after d1's crash.
    pub after_crash: Broken,
    /// Of them, the connections d1 carried.
    pub moved_from_d1: usize,
    /// Requests on every connection after d1 came back.
    pub after_return: Broken,
    /// New connections d1 took after it came back, of [`ActiveOptions::new_connections`].
    pub new_flows_to_d1: usize,
    /// From rs2's stop until each director's IPVS no longer listed it.
    pub rs2_removed_after: Vec<(String, Duration)>,
    /// Requests on every connection not served by rs2 after rs2 failed.
    pub after_rs2: Broken,
    /// From rs2's restart until every director's IPVS listed it again.
    pub rs2_back_after: Duration,
    /// From d3's SIGTERM until the router's route no longer had it.
    pub drain_withdrawn_after: Duration,
    /// Requests on every connection after d3 drained and stopped.
    pub after_drain: Broken,
    /// How long d3 took to exit after SIGTERM.
    pub drain_exit_after: Duration,
}

impl ActiveReport {
    /// The figures, a line each.
    pub fn summary(&self) -> String {
        let carried: Vec<String> = self
            .carried
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        let b = |x: Broken| format!("broken connections: {} of {}", x.broken, x.of);
        let removed: Vec<String> = self
            .rs2_removed_after
            .iter()
            .map(|(d, t)| format!("{d} {:.2} s", t.as_secs_f64()))
            .collect();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "connections per director at the start: {}",
            carried.join(", ")
        );
        let _ = writeln!(
            s,
            "d1 SIGKILLed, cable pulled: withdrawn after {:.3} s (BFD); {} ({} had been on d1)",
            self.crash_withdrawn_after.as_secs_f64(),
            b(self.after_crash),
            self.moved_from_d1
        );
        let _ = writeln!(
            s,
            "d1 back: {}; it took {} new connection(s)",
            b(self.after_return),
            self.new_flows_to_d1
        );
        let _ = writeln!(
            s,
            "rs2 failed: removed by {}; {} (of those not on rs2)",
            removed.join(", "),
            b(self.after_rs2)
        );
        let _ = writeln!(
            s,
            "rs2 back: in every director's pool after {:.2} s",
            self.rs2_back_after.as_secs_f64()
        );
        let _ = write!(
            s,
            "d3 SIGTERM: withdrawn after {:.3} s, exited after {:.2} s (drain); {}",
            self.drain_withdrawn_after.as_secs_f64(),
            self.drain_exit_after.as_secs_f64(),
            b(self.after_drain)
        );
        s
    }
}

/// Runs the active-active scenario. Needs root, a kernel with IPVS (the VM) and FRR.
pub fn run_active_active(opts: &ActiveOptions) -> Result<ActiveReport, LabError> {
    kernel_ready()?;
    let _ = std::process::Command::new("modprobe")
        .arg("ip_vs_mh")
        .output();
    for (p, pkg) in [
        ("ip", "iproute2"),
        ("ipvsadm", "ipvsadm"),
        ("/usr/lib/frr/bgpd", "frr"),
        ("vtysh", "frr"),
    ] {
        if !program_exists(p) {
            return Err(LabError::MissingProgram {
                program: p.into(),
                hint: format!("apt-get install -y {pkg}"),
            });
        }
    }
    if !opts.ha_director.is_file() {
        return Err(LabError::MissingProgram {
            program: opts.ha_director.display().to_string(),
            hint: "build it: cargo build -p ha-examples --bin ha-director".into(),
        });
    }
    narrated(opts.echo, |n| scenario(opts, n)).map(|(mut r, lines)| {
        r.narration = lines;
        r
    })
}

/// bgpd's part of the router: the three directors in one peer group with BFD, ECMP over them.
fn bgpd_conf() -> String {
    let mut s = format!(
        "hostname router
router bgp 65000
 bgp router-id {ROUTER}
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
 neighbor DIRS peer-group
 neighbor DIRS remote-as 65001
 neighbor DIRS bfd
 neighbor DIRS bfd profile fast
"
    );
    for (_, a) in DIRECTORS {
        let _ = writeln!(s, " neighbor {a} peer-group DIRS");
    }
    s.push_str(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n");
    s
}

const BFDD_CONF: &str = "hostname router
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
";

/// One director's configuration.
fn director_toml(name: &str, addr: &str, status: &Path, opts: &ActiveOptions) -> String {
    let flags = if opts.scheduler == "mh" {
        "sched_flags = [\"mh-port\"]\n"
    } else {
        ""
    };
    let mut s = format!(
        r#"[global]
router_id = "{name}"
status_socket = "{status}"
static_addresses = ["{VIP}/32 dev lo"]
lvs_sloppy_tcp = {sloppy}

[bgp]
local_as = 65001
router_id = "{addr}"
hold_time_s = 9
connect_retry_s = 1
drain_ms = {drain}

[[bgp.neighbors]]
address = "{ROUTER}"
peer_as = 65000
bfd = true
bfd_interval_ms = 100
bfd_multiplier = 3

[[virtual_servers]]
name = "web"
address = "{VIP}"
port = {PORT}
protocol = "tcp"
scheduler = "{scheduler}"
{flags}method = "dr"
delay_loop_ms = 500
alpha = true
# A failed real server stays in IPVS at weight 0 (keepalived's inhibit_on_failure). Deleted
# and added back, it would come back at the head of the kernel's destination list, and the
# Maglev table, filled in list order, would send some flows to another server than before.
inhibit_on_failure = true
announce = true
"#,
        status = status.display(),
        drain = opts.drain.as_millis(),
        sloppy = opts.sloppy_tcp,
        scheduler = opts.scheduler,
    );
    for (_, rs) in REAL_SERVERS {
        let _ = write!(
            s,
            "\n[[virtual_servers.real_servers]]\naddress = \"{rs}\"\nport = {PORT}\n[[virtual_servers.real_servers.checks]]\nkind = \"tcp\"\nconnect_timeout_ms = 1000\n"
        );
    }
    s
}

struct Dir {
    name: &'static str,
    host: Host,
    proc: Proc,
}

impl Dir {
    fn check_running(&self, when: &str) -> Result<(), LabError> {
        if self.proc.is_running() {
            return Ok(());
        }
        Err(LabError::DirectorExited {
            director: self.name.to_owned(),
            kind: super::DirectorKind::Ha,
            status: self
                .proc
                .exit_status()
                .map_or("an unknown status".into(), |s| s.to_string()),
            when: when.to_owned(),
            output: tail(&self.proc.stderr(), 20),
        })
    }

    fn ipvsadm(&self, args: &[&str]) -> String {
        let mut argv = vec!["ipvsadm"];
        argv.extend_from_slice(args);
        String::from_utf8_lossy(&self.host.exec(&argv).stdout).into_owned()
    }

    /// The client ports of the connections this director's IPVS holds for the client.
    fn client_ports(&self) -> Vec<u16> {
        parse_conn_ports(&self.ipvsadm(&["-Lnc"]), CLIENT)
    }

    fn members(&self) -> Vec<String> {
        parse_ipvsadm_members(&self.ipvsadm(&["-Ln"]), &format!("{VIP}:{PORT}"))
            .into_iter()
            .filter(|m| m.weight > 0)
            .map(|m| m.addr)
            .collect()
    }
}

/// The client ports of `client`'s connections in `ipvsadm -Lnc` output
/// (`TCP 14:59 ESTABLISHED 10.100.0.10:45678 10.100.100.100:80 10.100.0.11:80`).
pub fn parse_conn_ports(text: &str, client: &str) -> Vec<u16> {
    text.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let from = words.get(3)?;
            let (ip, port) = from.rsplit_once(':')?;
            (ip == client).then(|| port.parse().ok()).flatten()
        })
        .collect()
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The next hops of the router's kernel route to the VIP.
fn next_hops(router: &Host) -> Vec<String> {
    let out = router.exec(&["ip", "-j", "route", "show", &format!("{VIP}/32")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(route) = v.as_array().and_then(|a| a.first()) else {
        return Vec::new();
    };
    let mut hops: Vec<String> = match route["nexthops"].as_array() {
        Some(h) => h
            .iter()
            .filter_map(|x| x["gateway"].as_str().map(str::to_owned))
            .collect(),
        None => route["gateway"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
    };
    hops.sort();
    hops
}

/// Polls every 10 ms until `cond` holds or `within` passes; the time it took.
fn wait(within: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls every 10 ms until `cond` has held for `hold` without a break, or `within` passes;
/// the time its last unbroken run began and how many runs broke before it.
fn wait_steady(
    within: Duration,
    hold: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<(Duration, usize)> {
    let start = Instant::now();
    let mut since = None;
    let mut breaks = 0;
    loop {
        if cond() {
            let began = *since.get_or_insert_with(|| start.elapsed());
            if start.elapsed() - began >= hold {
                return Some((began, breaks));
            }
        } else if since.take().is_some() {
            breaks += 1;
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn timeout(what: &str, within: Duration, detail: String) -> LabError {
    LabError::Timeout {
        what: what.to_owned(),
        within,
        detail,
    }
}

/// Every director's IPVS table (`ipvsadm -Ln`), for a timeout's detail.
fn pools(dirs: &[Dir]) -> String {
    dirs.iter()
        .map(|d| format!("--- {}\n{}", d.name, d.ipvsadm(&["-Ln"])))
        .collect()
}

/// One kept-alive client connection and the real server that answers it.
struct Conn {
    ka: KeepAlive,
    port: u16,
    server: String,
}

/// Sends a request on every connection, each in its own thread (a request on a moved flow can
/// take a retransmission or two); returns the broken ones' count and keeps the others.
fn request_all(conns: &mut Vec<Conn>) -> Broken {
    let of = conns.len();
    let taken = std::mem::take(conns);
    let handles: Vec<_> = taken
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let r = c.ka.get(REQUEST_TIMEOUT);
                (c, r)
            })
        })
        .collect();
    let mut broken = 0;
    for h in handles {
        match h.join() {
            Ok((c, Ok(name))) if name == c.server => conns.push(c),
            Ok(_) | Err(_) => broken += 1,
        }
    }
    Broken { broken, of }
}

fn open_conns(client: &Host, count: usize) -> Result<Vec<Conn>, LabError> {
    let target = SocketAddr::V4(SocketAddrV4::new(VIP, PORT));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut ka = KeepAlive::connect(client, target, REQUEST_TIMEOUT)
            .map_err(|e| LabError::Step(format!("client connection {i}: {e}")))?;
        let server = ka
            .get(REQUEST_TIMEOUT)
            .map_err(|e| LabError::Step(format!("client connection {i}: first request: {e}")))?;
        let port = ka.local_addr().map_or(0, |a| a.port());
        out.push(Conn { ka, port, server });
    }
    Ok(out)
}

fn start_director(
    lab: &mut Lab,
    opts: &ActiveOptions,
    n: &Narrator,
    name: &'static str,
    addr: &'static str,
) -> Result<Dir, LabError> {
    let host = lab.host(name).clone();
    let dir = lab.dir().to_path_buf();
    let conf = dir.join(format!("{name}.toml"));
    let text = director_toml(name, addr, &dir.join(format!("{name}.sock")), opts);
    std::fs::write(&conf, text).map_err(|e| LabError::Prepare {
        what: conf.display().to_string(),
        detail: e.to_string(),
    })?;
    let bin = opts.ha_director.display().to_string();
    let c = conf.display().to_string();
    n.say(name, format_args!("start: {bin} run --config {c}"));
    let proc = lab.spawn(&host, &[&bin, "run", "--config", &c]);
    Ok(Dir { name, host, proc })
}

fn scenario(opts: &ActiveOptions, n: &Narrator) -> Result<ActiveReport, LabError> {
    let mut rep = ActiveReport::default();
    let mut lab = Lab::new("aalab");
    let router = lab.add_host("router", &[&format!("{ROUTER}/24")]);
    let client = lab.add_host("client", &[&format!("{CLIENT}/24")]);
    for (name, a) in DIRECTORS {
        lab.add_host(name, &[&format!("{a}/24")]);
    }
    let mut servers = Vec::new();
    let mut rs_hosts = Vec::new();
    for (name, a) in REAL_SERVERS {
        let h = lab.add_host(name, &[&format!("{a}/24")]);
        rs_hosts.push(h.clone());
        let state = lab.dir().join(format!("{name}.realserver.state"));
        let what = super::realserver_apply(&h, IpAddr::V4(VIP), state)?;
        n.say(name, format_args!("realserver: {what}"));
        let srv = HttpServer::start(&h, name, PORT)
            .map_err(|e| LabError::Step(format!("{name}: HTTP server: {e}")))?;
        servers.push(srv);
    }
    router.sh(
        "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
         net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0",
    );
    client.sh(&format!(
        "sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.eth0.accept_redirects=0; \
         ip route add {VIP}/32 via {ROUTER}"
    ));
    let frr = Frr::start(&mut lab, &router, &bgpd_conf(), Some(BFDD_CONF));
    n.say(
        "router",
        "FRR bgpd + bfdd + zebra: AS 65000, directors in one peer group with BFD 100 ms x 3, maximum-paths 8, L4 ECMP hash, no redirects",
    );
    // Every change of the router's routes and neighbours, for the failure messages.
    let monitor = lab.spawn(&router, &["ip", "-ts", "monitor", "route", "neigh"]);
    let mut dirs = Vec::new();
    for (name, a) in DIRECTORS {
        dirs.push(start_director(&mut lab, opts, n, name, a)?);
    }
    let all: Vec<String> = DIRECTORS.iter().map(|(_, a)| (*a).to_owned()).collect();
    // FRR 8.4's bgpd re-registers a neighbour's BFD session once the BGP session is
    // established and its source address known; a BFD session already up then goes down and
    // takes BGP with it (Cease/BFD Down), and the director is out of the route for about a
    // second. So the route must hold all three directors for STEADY before the client starts.
    let (t, breaks) = wait_steady(Duration::from_secs(60), STEADY, || {
        next_hops(&router) == all
    })
    .ok_or_else(|| {
        timeout(
            &format!(
                "the router's route over all three directors, unchanged for {} s",
                STEADY.as_secs()
            ),
            Duration::from_secs(60),
            format!(
                "next hops {:?}\n{}\n{}",
                next_hops(&router),
                frr.try_vtysh("show bgp summary").unwrap_or_default(),
                dirs.iter()
                    .map(|d| format!("--- {}\n{}", d.name, tail(&d.proc.stderr(), 10)))
                    .collect::<String>()
            ),
        )
    })?;
    for d in &dirs {
        d.check_running("at the start")?;
    }
    n.say(
        "router",
        format_args!(
            "ip route: {VIP} via {} ({:.2} s; unchanged for {} s since; lost a director {breaks} time(s) before)",
            all.join(", "),
            t.as_secs_f64(),
            STEADY.as_secs()
        ),
    );

    // 1. Many connections over all three directors.
    let mut conns = open_conns(&client, opts.connections)?;
    for d in &dirs {
        let ports = d.client_ports();
        let carried = conns.iter().filter(|c| ports.contains(&c.port)).count();
        rep.carried.push((d.name.to_owned(), carried));
    }
    if let Some(idle) = dirs
        .iter()
        .zip(&rep.carried)
        .find_map(|(d, (_, c))| (*c == 0).then_some(d))
    {
        return Err(LabError::Step(format!(
            "{} carried none of the {} connections ({:?}); the router's route now: {:?}\n\
             --- route and neighbour changes on the router:\n{}\n--- FRR:\n{}\n--- {}:\n{}",
            idle.name,
            conns.len(),
            rep.carried,
            next_hops(&router),
            monitor.stdout(),
            frr.logs(),
            idle.name,
            tail(&idle.proc.stderr(), 30)
        )));
    }
    n.say(
        "client",
        format_args!(
            "{} keep-alive connections; ipvsadm -Lnc per director: {}",
            conns.len(),
            rep.carried
                .iter()
                .map(|(d, c)| format!("{d} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    // 2. d1 crashes with its cable pulled.
    let d1_ports = dirs[0].client_ports();
    rep.moved_from_d1 = conns.iter().filter(|c| d1_ports.contains(&c.port)).count();
    lab.cut_link(&dirs[0].host);
    dirs[0].proc.signal(9);
    let rest: Vec<String> = all[1..].to_vec();
    rep.crash_withdrawn_after = wait(Duration::from_secs(15), || next_hops(&router) == rest)
        .ok_or_else(|| {
            timeout(
                "d1 leaving the router's route",
                Duration::from_secs(15),
                format!("{:?}", next_hops(&router)),
            )
        })?;
    n.say(
        "router",
        format_args!(
            "d1 SIGKILLed with its cable pulled: withdrawn after {:.3} s",
            rep.crash_withdrawn_after.as_secs_f64()
        ),
    );
    rep.after_crash = request_all(&mut conns);
    n.say(
        "client",
        format_args!(
            "broken connections: {} of {} ({} had been on d1)",
            rep.after_crash.broken, rep.after_crash.of, rep.moved_from_d1
        ),
    );

    // 3. d1 comes back (as after a reboot: its VIP and IPVS table cleared).
    let _ = dirs[0].host.exec(&[
        "sh",
        "-c",
        &format!("ipvsadm -C; ip addr del {VIP}/32 dev lo"),
    ]);
    let _ = std::fs::remove_file(lab.dir().join("d1.sock"));
    lab.restore_link(&dirs[0].host);
    dirs[0] = start_director(&mut lab, opts, n, "d1", DIRECTORS[0].1)?;
    let t = wait(Duration::from_secs(60), || next_hops(&router) == all).ok_or_else(|| {
        timeout(
            "d1 back in the router's route",
            Duration::from_secs(60),
            format!(
                "{:?}\n{}",
                next_hops(&router),
                tail(&dirs[0].proc.stderr(), 15)
            ),
        )
    })?;
    n.say(
        "router",
        format_args!("d1 back in the route after {:.2} s", t.as_secs_f64()),
    );
    rep.after_return = request_all(&mut conns);
    n.say(
        "client",
        format_args!(
            "broken connections: {} of {}",
            rep.after_return.broken, rep.after_return.of
        ),
    );
    let before: Vec<u16> = dirs[0].client_ports();
    let fresh = open_conns(&client, opts.new_connections)?;
    let after = dirs[0].client_ports();
    rep.new_flows_to_d1 = fresh
        .iter()
        .filter(|c| after.contains(&c.port) && !before.contains(&c.port))
        .count();
    n.say(
        "d1",
        format_args!(
            "took {} of {} new connections",
            rep.new_flows_to_d1,
            fresh.len()
        ),
    );
    conns.extend(fresh);

    // 4. rs2 fails: every director takes it out.
    servers[1].stop();
    let stopped = Instant::now();
    let rs2 = format!("{}:{PORT}", REAL_SERVERS[1].1);
    let mut removed: Vec<Option<Duration>> = vec![None; dirs.len()];
    wait(Duration::from_secs(15), || {
        for (d, r) in dirs.iter().zip(removed.iter_mut()) {
            if r.is_none() && !d.members().contains(&rs2) {
                *r = Some(stopped.elapsed());
            }
        }
        removed.iter().all(Option::is_some)
    })
    .ok_or_else(|| {
        timeout(
            "every director removing rs2",
            Duration::from_secs(15),
            pools(&dirs),
        )
    })?;
    rep.rs2_removed_after = dirs
        .iter()
        .zip(&removed)
        .map(|(d, t)| (d.name.to_owned(), t.unwrap_or_default()))
        .collect();
    let lists: Vec<Vec<String>> = dirs.iter().map(Dir::members).collect();
    if lists.iter().any(|l| *l != lists[0]) {
        return Err(LabError::Step(format!(
            "the directors disagree on the pool after rs2 failed: {lists:?}"
        )));
    }
    n.say(
        "directors",
        format_args!(
            "rs2 removed by {} (pool now {})",
            rep.rs2_removed_after
                .iter()
                .map(|(d, t)| format!("{d} after {:.2} s", t.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            lists[0].join(", ")
        ),
    );
    conns.retain(|c| c.server != "rs2");
    rep.after_rs2 = request_all(&mut conns);
    n.say(
        "client",
        format_args!(
            "broken connections (of those not on rs2): {} of {}",
            rep.after_rs2.broken, rep.after_rs2.of
        ),
    );

    // rs2 comes back: the drain below moves flows between directors, which look them up in
    // the pool they were made with (see the module's documentation).
    servers[1] = HttpServer::start(&rs_hosts[1], REAL_SERVERS[1].0, PORT)
        .map_err(|e| LabError::Step(format!("rs2: HTTP server again: {e}")))?;
    rep.rs2_back_after = wait(Duration::from_secs(15), || {
        dirs.iter().all(|d| d.members().contains(&rs2))
    })
    .ok_or_else(|| {
        timeout(
            "every director putting rs2 back",
            Duration::from_secs(15),
            pools(&dirs),
        )
    })?;
    n.say(
        "directors",
        format_args!(
            "rs2 back in every pool after {:.2} s",
            rep.rs2_back_after.as_secs_f64()
        ),
    );

    // 5. d3 drains and stops.
    let asked = Instant::now();
    dirs[2].proc.signal(15);
    let two: Vec<String> = all[..2].to_vec();
    rep.drain_withdrawn_after = wait(Duration::from_secs(10), || next_hops(&router) == two)
        .ok_or_else(|| {
            timeout(
                "d3 leaving the route on SIGTERM",
                Duration::from_secs(10),
                format!("{:?}", next_hops(&router)),
            )
        })?;
    n.say(
        "router",
        format_args!(
            "d3 SIGTERM: withdrawn after {:.3} s; it drains for {:.1} s",
            rep.drain_withdrawn_after.as_secs_f64(),
            opts.drain.as_secs_f64()
        ),
    );
    let during = request_all(&mut conns);
    if !dirs[2].proc.wait_exit(opts.drain + Duration::from_secs(10)) {
        return Err(LabError::Step("d3 did not exit after its drain".into()));
    }
    rep.drain_exit_after = asked.elapsed();
    let after = request_all(&mut conns);
    rep.after_drain = Broken {
        broken: during.broken + after.broken,
        of: during.of,
    };
    n.say(
        "client",
        format_args!(
            "d3 exited after {:.2} s; broken connections: {} of {}",
            rep.drain_exit_after.as_secs_f64(),
            rep.after_drain.broken,
            rep.after_drain.of
        ),
    );
    for d in &dirs[..2] {
        d.check_running("at the end")?;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_ports_of_one_client_are_read() {
        let text = "IPVS connection entries\npro expire state       source             virtual            destination\n\
                    TCP 14:59  ESTABLISHED 10.100.0.10:45678  10.100.100.100:80  10.100.0.11:80\n\
                    TCP 14:58  ESTABLISHED 10.100.0.99:1000   10.100.100.100:80  10.100.0.12:80\n\
                    TCP 01:58  FIN_WAIT    10.100.0.10:45679  10.100.100.100:80  10.100.0.12:80\n";
        assert_eq!(parse_conn_ports(text, "10.100.0.10"), vec![45678, 45679]);
        assert!(parse_conn_ports("", "10.100.0.10").is_empty());
    }

    #[test]
    fn each_director_config_loads_and_announces_the_vip() {
        let opts = ActiveOptions::new("ha-director".into());
        let text = director_toml("d1", "10.100.0.2", Path::new("/tmp/d1.sock"), &opts);
        let l = crate::director::load_toml_str(&text, Path::new("d1.toml")).unwrap_or_else(|e| {
            panic!(
                "{:?}",
                e.iter().map(ToString::to_string).collect::<Vec<_>>()
            )
        });
        let b = crate::director::build::bgp_config(&l.config).unwrap();
        assert_eq!(b.routes.len(), 1);
        assert_eq!(b.drain, Duration::from_secs(3));
        assert_eq!(l.config.virtual_servers[0].real_servers.len(), 3);
    }
}
