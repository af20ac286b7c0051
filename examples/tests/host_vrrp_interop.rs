//! Host suite: `vrrp-speaker` instances, and real keepalived, electing a master on a real
//! (namespaced) link; tshark watches the wire.

use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_root, require_tool, tshark_fields, wait_until};

const SPEAKER: &str = env!("CARGO_BIN_EXE_vrrp-speaker");

fn has(host: &Host, addr: &str) -> bool {
    host.sh("ip -o addr show dev eth0")
        .contains(&format!(" {addr}/"))
}

fn speaker(lab: &mut Lab, host: &Host, args: &[&str]) -> Proc {
    let mut argv = vec![SPEAKER, "--interface", "eth0"];
    argv.extend_from_slice(args);
    lab.spawn(host, &argv)
}

/// Starts keepalived (VRRP only) in `host` with one instance.
fn keepalived(lab: &mut Lab, host: &Host, instance: &str) -> Proc {
    require_tool("keepalived", "keepalived");
    let dir = lab.dir().join(format!("ka-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id {name}\n  script_user root\n  enable_script_security\n  vrrp_garp_master_repeat 1\n}}\n{instance}\n",
            name = host.name()
        ),
    )
    .unwrap();
    lab.spawn_keepalived(host, &conf)
}

fn wait_vip(host: &Host, vip: &str, present: bool, within: Duration, why: &str) {
    assert!(
        wait_until(within, || has(host, vip) == present),
        "{why}: VIP {vip} {} on {} after {within:?}",
        if present { "missing" } else { "still present" },
        host.name()
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_our_pair_elects_fails_over_on_sigkill_and_preempts_back() {
    require_root();
    let mut lab = Lab::new("pair");
    let a = lab.add_host("a", &["10.90.0.1/24"]);
    let b = lab.add_host("b", &["10.90.0.2/24"]);
    let c = lab.add_host("c", &["10.90.0.3/24"]);
    let vip = "10.90.0.100";
    let common = [
        "--vrid",
        "51",
        "--vrrp-version",
        "3",
        "--interval-ms",
        "100",
        "--vip",
        "10.90.0.100/24",
    ];
    let pa = speaker(
        &mut lab,
        &a,
        &[&common[..], &["--priority", "150"]].concat(),
    );
    let pb = speaker(
        &mut lab,
        &b,
        &[&common[..], &["--priority", "100"]].concat(),
    );
    wait_vip(
        &a,
        vip,
        true,
        Duration::from_secs(5),
        "higher priority becomes master",
    );
    assert!(!has(&b, vip), "backup holds the VIP too");

    // Crash the master: b takes over within Master_Down_Interval (3 x 100 ms + skew) plus slack.
    let cap = lab.capture(&c, "eth0", Some("arp or ip proto 112"));
    c.sh("ping -c 1 -W 1 10.90.0.100");
    let killed = Instant::now();
    pa.kill(libc::SIGKILL);
    wait_vip(
        &b,
        vip,
        true,
        Duration::from_secs(3),
        "backup takes over after SIGKILL",
    );
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_millis(1500),
        "takeover took {takeover:?}"
    );
    assert!(
        wait_until(Duration::from_secs(3), || c
            .exec(&["ping", "-c", "1", "-W", "1", vip])
            .status
            .success()),
        "client reaches the VIP on the new master"
    );
    let pcap = cap.stop();
    let garps = tshark_fields(
        &pcap,
        "arp.isgratuitous == 1",
        &["arp.src.proto_ipv4", "arp.src.hw_mac"],
    );
    let b_mac = ha_testsupport::format_mac(b.mac());
    assert!(
        garps.iter().any(|r| r[0] == vip && r[1] == b_mac),
        "gratuitous ARP for {vip} from b ({b_mac}) seen: {garps:?}"
    );
    assert!(
        stdout_has(&pb, "-> Master"),
        "b reports its transition: {}",
        pb.stdout()
    );

    // The higher priority router comes back and preempts.
    pa.restart();
    wait_vip(
        &a,
        vip,
        true,
        Duration::from_secs(5),
        "restarted higher priority preempts",
    );
    wait_vip(
        &b,
        vip,
        false,
        Duration::from_secs(3),
        "preempted backup releases the VIP",
    );

    // Graceful stop: priority 0 hands over at once (Skew_Time), VIPs are removed.
    let stopped = Instant::now();
    pa.kill(libc::SIGTERM);
    wait_vip(&b, vip, true, Duration::from_secs(2), "priority-0 handoff");
    assert!(
        stopped.elapsed() < Duration::from_millis(1000),
        "handoff took {:?}",
        stopped.elapsed()
    );
    assert!(!has(&a, vip), "a graceful stop removes the VIP");
}

fn stdout_has(p: &Proc, s: &str) -> bool {
    wait_until(Duration::from_secs(2), || p.stdout().contains(s))
}

// ---------------------------------------------------------------------------------------------
// Interop scenarios with keepalived: two VRRP nodes (ours and keepalived, or two of ours) on
// hosts `a` (the lower primary address) and `b` (the higher), and a watcher `c` (a client of the
// VIP). Each scenario is one parameterized function; the #[test]s below are one line each.
// ---------------------------------------------------------------------------------------------

/// Who runs a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// Our `vrrp-speaker`.
    Ours,
    /// keepalived 2.2.7 (Debian).
    Ka,
}

/// The protocol variant of a scenario.
#[derive(Clone, Copy, Debug)]
struct Sc {
    version: u8,
    ipv6: bool,
    unicast: bool,
    auth: bool,
}

const V2: Sc = Sc {
    version: 2,
    ipv6: false,
    unicast: false,
    auth: true,
};
const V3: Sc = Sc {
    version: 3,
    ipv6: false,
    unicast: false,
    auth: false,
};
const V3_6: Sc = Sc {
    version: 3,
    ipv6: true,
    unicast: false,
    auth: false,
};

impl Sc {
    fn unicast(self) -> Sc {
        Sc {
            unicast: true,
            ..self
        }
    }

    /// The advert interval: 200 ms for v3 (keepalived `advert_int 0.2`), 1 s for v2.
    fn interval(self) -> Duration {
        Duration::from_millis(if self.version == 2 { 1000 } else { 200 })
    }

    /// Skew_Time for `prio` (RFC 9568 section 6.1; RFC 3768: (256 - Priority) / 256 s).
    fn skew(self, prio: u8) -> Duration {
        self.interval() * (256 - u32::from(prio)) / 256
    }

    /// Master_Down_Interval for `prio`.
    fn down(self, prio: u8) -> Duration {
        self.interval() * 3 + self.skew(prio)
    }

    /// A generous bound for an election to settle.
    fn settle(self) -> Duration {
        self.down(1) * 2 + Duration::from_secs(3)
    }

    fn vip(self) -> &'static str {
        if self.ipv6 {
            "fd91::100"
        } else {
            "10.91.0.100"
        }
    }

    fn vip_cidr(self) -> &'static str {
        if self.ipv6 {
            "fd91::100/64"
        } else {
            "10.91.0.100/24"
        }
    }

    /// Host `i`'s interface address (CIDR).
    fn host_addr(self, i: usize) -> String {
        if self.ipv6 {
            format!("fd91::{}/64", i + 1)
        } else {
            format!("10.91.0.{}/24", i + 1)
        }
    }

    /// The primary address node `i` advertises from (and, with unicast, is addressed at): the
    /// IPv4 address, for IPv6 the link-local address (fe80::1 / fe80::2, set by the lab), as
    /// RFC 9568 section 5.1.2.1 says. (Our receiver drops IPv6 adverts from a global source,
    /// so a keepalived with a global `unicast_src_ip` is not heard: see the report.)
    fn primary(self, i: usize) -> String {
        if self.ipv6 {
            format!("fe80::{}", i + 1)
        } else {
            format!("10.91.0.{}", i + 1)
        }
    }
}

/// How a node handles preemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preempt {
    Yes,
    No,
    /// preempt_delay in milliseconds (whole seconds for keepalived).
    Delay(u64),
}

struct Node {
    who: Who,
    prio: u8,
    preempt: Preempt,
    host: Host,
    proc: Option<Proc>,
}

/// Two VRRP nodes on `a` and `b` and a watcher `c`.
struct Duo {
    lab: Lab,
    sc: Sc,
    n: [Node; 2],
    c: Host,
    /// Both nodes use a virtual MAC interface (ours `--vmac`, keepalived `use_vmac`).
    vmac: bool,
}

const VRID: &str = "52";

impl Duo {
    /// A lab with node 0 on `a` (lower address) and node 1 on `b` (higher address); nothing
    /// runs yet.
    fn new(tag: &str, sc: Sc, n0: (Who, u8, Preempt), n1: (Who, u8, Preempt)) -> Duo {
        require_root();
        require_tool("tshark", "tshark");
        let mut lab = Lab::new(tag);
        let hosts: Vec<Host> = (0..3)
            .map(|i| {
                let h = lab.add_host(["a", "b", "c"][i], &[&sc.host_addr(i)]);
                if sc.ipv6 {
                    // Fixed link-local addresses, so that the address order is known.
                    h.sh(&format!(
                        "ip -6 addr flush dev eth0 scope link && ip addr add fe80::{}/64 dev eth0 nodad",
                        i + 1
                    ));
                }
                h
            })
            .collect();
        let node = |(who, prio, preempt): (Who, u8, Preempt), host: &Host| Node {
            who,
            prio,
            preempt,
            host: host.clone(),
            proc: None,
        };
        Duo {
            sc,
            n: [node(n0, &hosts[0]), node(n1, &hosts[1])],
            c: hosts[2].clone(),
            vmac: false,
            lab,
        }
    }

    /// Starts node `i`.
    fn start(&mut self, i: usize) {
        let sc = self.sc;
        let me = sc.primary(i);
        let peer = sc.primary(1 - i);
        let node = &self.n[i];
        let proc = match node.who {
            Who::Ours => {
                let mut args: Vec<String> = [
                    "--vrid",
                    VRID,
                    "--vrrp-version",
                    &sc.version.to_string(),
                    "--interval-ms",
                    &sc.interval().as_millis().to_string(),
                    "--priority",
                    &node.prio.to_string(),
                    "--vip",
                    sc.vip_cidr(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                if sc.unicast {
                    args.extend(["--peer".into(), peer, "--source".into(), me]);
                }
                if sc.auth {
                    args.extend(["--auth-pass".into(), "s3cret".into()]);
                }
                if self.vmac {
                    args.push("--vmac".into());
                }
                match node.preempt {
                    Preempt::Yes => {}
                    Preempt::No => args.push("--nopreempt".into()),
                    Preempt::Delay(ms) => {
                        args.extend(["--preempt-delay-ms".into(), ms.to_string()])
                    }
                }
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                speaker(&mut self.lab, &node.host.clone(), &argv)
            }
            Who::Ka => {
                let mut extra = String::new();
                if sc.unicast {
                    // keepalived 2.2.7 sends IPv6 unicast adverts with the system's default hop
                    // limit (64) unless told; RFC 9568 section 5.1.2.3 wants 255 (and receivers
                    // drop anything else), so say it.
                    extra += &format!(
                        "  unicast_src_ip {me}\n  unicast_ttl 255\n  unicast_peer {{\n    {peer}\n  }}\n"
                    );
                }
                if self.vmac {
                    extra += "  use_vmac\n";
                }
                if sc.auth {
                    extra += "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n";
                }
                match node.preempt {
                    Preempt::Yes => {}
                    Preempt::No => extra += "  nopreempt\n",
                    Preempt::Delay(ms) => {
                        assert!(ms % 1000 == 0, "keepalived's preempt_delay: whole seconds");
                        extra += &format!("  preempt_delay {}\n", ms / 1000)
                    }
                }
                let inst = format!(
                    "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  version {v}\n  priority {p}\n  advert_int {adv}\n{extra}  virtual_ipaddress {{\n    {vip}\n  }}\n}}",
                    v = sc.version,
                    p = node.prio,
                    adv = if sc.version == 2 { "1" } else { "0.2" },
                    vip = sc.vip_cidr(),
                );
                keepalived(&mut self.lab, &node.host.clone(), &inst)
            }
        };
        self.n[i].proc = Some(proc);
    }

    fn proc(&self, i: usize) -> &Proc {
        self.n[i].proc.as_ref().expect("node started")
    }

    /// How many times node `i` entered Master, from its own log: our `-> Master` transition
    /// lines, keepalived's "Entering MASTER STATE".
    fn masters(&self, i: usize) -> usize {
        let Some(p) = &self.n[i].proc else { return 0 };
        match self.n[i].who {
            Who::Ours => p.stdout().matches("-> Master").count(),
            Who::Ka => (p.stdout() + &p.stderr())
                .matches("Entering MASTER STATE")
                .count(),
        }
    }

    fn holds(&self, i: usize) -> bool {
        has(&self.n[i].host, self.sc.vip())
    }

    fn log(&self, i: usize) -> String {
        match &self.n[i].proc {
            Some(p) => format!(
                "--- node {i} ({:?}) stdout:\n{}\n--- stderr:\n{}",
                self.n[i].who,
                tail(&p.stdout()),
                tail(&p.stderr())
            ),
            None => format!("--- node {i} not started"),
        }
    }

    fn logs(&self) -> String {
        format!("{}\n{}", self.log(0), self.log(1))
    }

    /// Waits until node `i` holds the VIP and has entered Master `count` times.
    fn wait_master(&self, i: usize, count: usize, within: Duration, why: &str) {
        assert!(
            wait_until(within, || self.holds(i) && self.masters(i) >= count),
            "{why}: node {i} is not master (entered Master {} times, VIP held: {}) after {within:?}\n{}",
            self.masters(i),
            self.holds(i),
            self.logs()
        );
    }

    fn wait_released(&self, i: usize, within: Duration, why: &str) {
        assert!(
            wait_until(within, || !self.holds(i)),
            "{why}: node {i} still holds the VIP after {within:?}\n{}",
            self.logs()
        );
    }

    /// Steady state for `dur`: only `winner` holds the VIP, nobody changes state, and on the
    /// wire (captured on the loser's host) every advert comes from the winner.
    fn steady(&mut self, winner: usize, dur: Duration, why: &str) {
        let loser = 1 - winner;
        let before = [self.masters(0), self.masters(1)];
        let host = self.n[loser].host.clone();
        let cap = self.lab.capture(&host, "eth0", Some("proto 112"));
        let src = if self.sc.ipv6 { "ipv6.src" } else { "ip.src" };
        capture_sees(&cap, src, &self.sc.primary(winner));
        let t = Instant::now();
        while t.elapsed() < dur {
            assert!(
                self.holds(winner),
                "{why}: the winner (node {winner}) lost the VIP: flapping\n{}",
                self.logs()
            );
            assert!(
                !self.holds(loser),
                "{why}: node {loser} holds the VIP too: split brain\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = [self.masters(0), self.masters(1)];
        assert_eq!(
            before,
            after,
            "{why}: transitions to Master during steady state\n{}",
            self.logs()
        );
        let rows = tshark_fields(&cap.stop(), "vrrp", &[src, "vrrp.prio"]);
        let want = self.sc.primary(winner);
        let from_winner = rows.iter().filter(|r| r[0] == want).count();
        assert!(
            rows.iter()
                .all(|r| r[0] == want && r[1] == self.n[winner].prio.to_string()),
            "{why}: adverts not only from the winner {want}: {rows:?}"
        );
        // At least half the adverts the interval implies (the capture starts late, CPU is shared).
        let expected = (dur.as_millis() / self.sc.interval().as_millis()) as usize;
        assert!(
            from_winner * 2 >= expected,
            "{why}: {from_winner} adverts from the winner in {dur:?} (expected about {expected})"
        );
    }

    /// The client `c` resolves the VIP to node `i`'s MAC (ARP / ND answered by the holder).
    fn client_sees(&self, i: usize) {
        let vip = self.sc.vip();
        let fam = if self.sc.ipv6 { "-6" } else { "-4" };
        self.c.sh(&format!("ip {fam} neigh flush all"));
        let ok = wait_until(Duration::from_secs(5), || {
            self.c
                .exec(&["ping", fam, "-c", "1", "-W", "1", vip])
                .status
                .success()
        });
        assert!(ok, "the client cannot reach the VIP {vip}\n{}", self.logs());
        let neigh = self.c.sh(&format!("ip {fam} neigh show {vip}"));
        let mac = ha_testsupport::format_mac(self.n[i].host.mac());
        assert!(
            neigh.contains(&mac),
            "the client resolves {vip} to {neigh:?}, not to node {i}'s MAC {mac}"
        );
    }
}

/// Waits (at most 10 s) until the running capture `cap` has written a VRRP advert from `src`:
/// under load dumpcap may start capturing well after tshark says so, and a scenario measured
/// on the wire must not start before the capture does.
fn capture_sees(cap: &ha_testsupport::Capture, src_field: &str, src: &str) {
    let filter = format!("vrrp && {src_field} == {src}");
    let seen = wait_until(Duration::from_secs(10), || {
        // The file is being written: tshark may complain about a cut-short last block.
        std::process::Command::new("tshark")
            .arg("-r")
            .arg(cap.path())
            .args(["-Y", &filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    assert!(seen, "the capture never saw an advert from {src}");
}

/// The last lines of a log.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The other kind of node.
fn other(w: Who) -> Who {
    match w {
        Who::Ours => Who::Ka,
        Who::Ka => Who::Ours,
    }
}

/// An election: node `first` starts and becomes master, then the other starts. With
/// different priorities the higher one ends master (preempting if it started second, RFC 9568
/// section 6.4.2); with equal priorities the second stays backup (an equal-priority advert
/// is not preempted, section 6.4.2), and with `partition` the backup is cut off until it is
/// master too, then reconnected: of two masters of equal priority the one with the higher
/// primary address stays master (section 6.4.3). Then a steady state with exact transition
/// counts, the wire and the client's ARP/ND as witnesses. Returns the lab and the winner.
fn election(
    tag: &str,
    sc: Sc,
    n0: (Who, u8),
    n1: (Who, u8),
    first: usize,
    partition: bool,
) -> (Duo, usize) {
    let mut d = Duo::new(
        tag,
        sc,
        (n0.0, n0.1, Preempt::Yes),
        (n1.0, n1.1, Preempt::Yes),
    );
    let second = 1 - first;
    let winner = match n0.1.cmp(&n1.1) {
        std::cmp::Ordering::Greater => 0,
        std::cmp::Ordering::Less => 1,
        std::cmp::Ordering::Equal if partition => 1,
        std::cmp::Ordering::Equal => first,
    };
    let loser = 1 - winner;
    d.start(first);
    d.wait_master(first, 1, sc.settle(), "the first node alone becomes master");
    d.start(second);
    if n0.1 != n1.1 && winner == second {
        d.wait_master(second, 1, sc.settle(), "the higher priority preempts");
        d.wait_released(first, sc.settle(), "the preempted master releases");
    } else {
        // The second node waits Master_Down_Interval at least; it must stay backup.
        std::thread::sleep(sc.down(1) + sc.interval() * 2);
    }
    if partition {
        let cut = second;
        let host = d.n[cut].host.clone();
        d.lab.isolate(&host);
        d.wait_master(cut, 1, sc.settle(), "the cut-off backup becomes master");
        assert!(
            d.holds(first),
            "the first node stays master during the partition"
        );
        d.lab.heal(&host);
        d.wait_released(
            loser,
            sc.settle(),
            "of two equal-priority masters the lower address yields",
        );
    }
    let window = if sc.version == 2 {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(2)
    };
    d.steady(winner, window, "after the election");
    // Exactly the transitions the RFC implies.
    let loser_masters = usize::from(loser == first) + usize::from(partition && loser == second);
    assert_eq!(
        [d.masters(winner), d.masters(loser)],
        [1, loser_masters],
        "Master entries of [winner node {winner}, loser node {loser}]\n{}",
        d.logs()
    );
    d.client_sees(winner);
    for i in 0..2 {
        assert!(d.proc(i).is_running(), "node {i} died\n{}", d.logs());
    }
    (d, winner)
}

/// Different priorities, `ours` and keepalived's; the lower one starts first.
fn priorities(tag: &str, sc: Sc, ours: u8, ka: u8) {
    // Ours on a, keepalived on b.
    let first = if ours < ka { 0 } else { 1 };
    election(tag, sc, (Who::Ours, ours), (Who::Ka, ka), first, false);
}

/// Equal priority 100: `high` has the higher address; `first` starts first.
fn equal(tag: &str, sc: Sc, high: Who, first: Who, partition: bool) {
    let n1 = (high, 100);
    let n0 = (other(high), 100);
    let first = usize::from(first == high);
    election(tag, sc, n0, n1, first, partition);
}

/// The old scenario: both start, the higher priority wins, SIGKILL it, the other takes over.
fn interop(version: u8, ipv6: bool, our_prio: u8, ka_prio: u8, auth: bool) {
    let sc = Sc {
        version,
        ipv6,
        unicast: false,
        auth,
    };
    let (d, winner) = election(
        "ka",
        sc,
        (Who::Ours, our_prio),
        (Who::Ka, ka_prio),
        0,
        false,
    );
    d.proc(winner).kill(libc::SIGKILL);
    d.wait_master(
        1 - winner,
        1 + usize::from(winner == 1),
        sc.settle(),
        "the survivor takes over after SIGKILL",
    );
}

/// Graceful handoff: node `master` (priority 150) stops with SIGTERM and sends priority 0;
/// the backup (100) sends its first advert within Skew_Time of it (RFC 9568 section 6.4.2:
/// "Set the Master_Down_Timer to Skew_Time"), measured on the wire.
fn handoff(tag: &str, sc: Sc, master: Who) {
    let mut d = Duo::new(
        tag,
        sc,
        (master, 150, Preempt::Yes),
        (other(master), 100, Preempt::Yes),
    );
    d.start(0);
    d.wait_master(0, 1, sc.settle(), "the higher priority becomes master");
    d.start(1);
    std::thread::sleep(sc.down(1) + sc.interval() * 2);
    assert_eq!(d.masters(1), 0, "the backup stays backup\n{}", d.logs());
    let host = d.n[1].host.clone();
    let cap = d.lab.capture(&host, "eth0", Some("proto 112"));
    let src = if sc.ipv6 { "ipv6.src" } else { "ip.src" };
    capture_sees(&cap, src, &sc.primary(0));
    d.proc(0).signal(libc::SIGTERM);
    d.wait_master(1, 1, sc.settle(), "the backup takes over on priority 0");
    assert!(
        d.proc(0).wait_exit(Duration::from_secs(5)),
        "the master stops on SIGTERM"
    );
    assert!(!d.holds(0), "the stopped master removed the VIP");
    std::thread::sleep(sc.interval() * 3);
    let rows = tshark_fields(&cap.stop(), "vrrp", &["frame.time_epoch", src, "vrrp.prio"]);
    let (old, new) = (sc.primary(0), sc.primary(1));
    let t = |r: &Vec<String>| r[0].parse::<f64>().unwrap();
    let zero = rows
        .iter()
        .find(|r| r[1] == old && r[2] == "0")
        .unwrap_or_else(|| panic!("no priority-0 advert from {old}: {rows:?}\n{}", d.logs()));
    let first_new = rows.iter().find(|r| r[1] == new).unwrap_or_else(|| {
        panic!(
            "no advert from the new master {new}: {rows:?}\n{}",
            d.logs()
        )
    });
    let dt = t(first_new) - t(zero);
    let skew = sc.skew(100).as_secs_f64();
    eprintln!(
        "handoff {master:?} -> {:?} ({sc:?}): first advert {:.1} ms after priority 0 (Skew_Time {:.1} ms)",
        other(master),
        dt * 1e3,
        skew * 1e3
    );
    // The backup waits Skew_Time, no less (a little slack for the capture's timestamps).
    assert!(
        dt >= skew * 0.8,
        "the backup advertised {:.0} ms after the priority-0 advert, before Skew_Time {:.0} ms: {rows:?}",
        dt * 1e3,
        skew * 1e3
    );
    assert!(
        dt <= skew + 0.3,
        "takeover {:.0} ms after priority 0, Skew_Time is {:.0} ms: {rows:?}",
        dt * 1e3,
        skew * 1e3
    );
    assert!(
        dt < sc.down(100).as_secs_f64(),
        "takeover after Master_Down_Interval, not Skew_Time"
    );
    assert_eq!(d.masters(1), 1, "one takeover\n{}", d.logs());
    d.client_sees(1);
}

/// A higher-priority node (150) joins a running master (100) with `nopreempt` or
/// `preempt_delay`: with nopreempt it stays backup (and still takes over when the master
/// stops); with a delay it takes over no sooner than the delay after its start and no later
/// than the delay plus Master_Down_Interval (and a margin), measured on the wire.
fn returning(tag: &str, sc: Sc, returner: Who, master: Who, preempt: Preempt) {
    let mut d = Duo::new(
        tag,
        sc,
        (master, 100, Preempt::Yes),
        (returner, 150, preempt),
    );
    d.start(0);
    d.wait_master(0, 1, sc.settle(), "the lower priority alone becomes master");
    let host = d.n[1].host.clone();
    let cap = d.lab.capture(&host, "eth0", Some("proto 112"));
    let src = if sc.ipv6 { "ipv6.src" } else { "ip.src" };
    capture_sees(&cap, src, &sc.primary(0));
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    d.start(1);
    match preempt {
        Preempt::No => {
            d.steady(0, sc.down(1) * 2 + Duration::from_secs(2), "nopreempt");
            assert_eq!(
                [d.masters(0), d.masters(1)],
                [1, 0],
                "a nopreempt backup never preempts\n{}",
                d.logs()
            );
            drop(cap);
            // It is still a backup: a graceful stop of the master hands over to it.
            d.proc(0).signal(libc::SIGTERM);
            d.wait_master(
                1,
                1,
                sc.settle(),
                "the nopreempt backup takes over on priority 0",
            );
        }
        Preempt::Delay(ms) => {
            let delay = Duration::from_millis(ms);
            d.wait_master(1, 1, delay + sc.settle(), "preemption after the delay");
            d.wait_released(0, sc.settle(), "the preempted master releases");
            let rows = tshark_fields(&cap.stop(), "vrrp", &["frame.time_epoch", src, "vrrp.prio"]);
            let first = rows
                .iter()
                .find(|r| r[1] == sc.primary(1))
                .unwrap_or_else(|| panic!("no advert from the returning node: {rows:?}"));
            let dt = first[0].parse::<f64>().unwrap() - started;
            // keepalived counts the delay from when its VRRP process is up (it starts in
            // about half a second here): a looser bound for it.
            let slack = if returner == Who::Ka { 3000 } else { 1500 };
            let hi = delay + sc.down(150) + Duration::from_millis(slack);
            eprintln!(
                "preempt_delay {delay:?} ({returner:?} returning, {sc:?}): first advert {:.0} ms after start",
                dt * 1e3
            );
            assert!(
                dt >= delay.as_secs_f64(),
                "preempted {:.0} ms after start, before the delay {delay:?}",
                dt * 1e3
            );
            assert!(
                dt <= hi.as_secs_f64(),
                "preempted {:.0} ms after start, later than {hi:?}",
                dt * 1e3
            );
            d.steady(1, Duration::from_secs(1), "after the delayed preemption");
            assert_eq!([d.masters(0), d.masters(1)], [1, 1], "{}", d.logs());
        }
        Preempt::Yes => unreachable!("use election()"),
    }
}

// --- the existing scenarios (multicast, different priorities, then SIGKILL) ---

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_keepalived_v3_ipv4_higher_priority_wins_then_we_take_over() {
    interop(3, false, 100, 150, false);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_we_win_v3_ipv4_then_keepalived_takes_over() {
    interop(3, false, 150, 100, false);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_keepalived_v2_with_password_interoperates() {
    interop(2, false, 100, 150, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_keepalived_v3_ipv6_interoperates_both_ways() {
    interop(3, true, 150, 100, false);
    interop(3, true, 100, 150, false);
}

// --- unicast (keepalived unicast_src_ip / unicast_peer, ours --peer / --source) ---

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_v3_ipv4_keepalived_master_ours_backup() {
    priorities("u3ka", V3.unicast(), 100, 150);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_v3_ipv4_ours_master_keepalived_backup() {
    priorities("u3us", V3.unicast(), 150, 100);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_v3_ipv6_keepalived_master_ours_backup() {
    priorities("u6ka", V3_6.unicast(), 100, 150);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_v3_ipv6_ours_master_keepalived_backup() {
    priorities("u6us", V3_6.unicast(), 150, 100);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_v2_ipv4_password_ours_master_keepalived_backup() {
    priorities("u2us", V2.unicast(), 150, 100);
}

// --- equal priority: the first master stays (6.4.2); of two masters the higher address wins (6.4.3) ---

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv4_ours_higher_address_starts_first_stays_master() {
    equal("e1", V3, Who::Ours, Who::Ours, false);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv4_keepalived_lower_address_starts_first_stays_master() {
    equal("e2", V3, Who::Ours, Who::Ka, false);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv4_two_masters_ours_higher_address_wins() {
    // keepalived (lower address) is master first; ours is cut off, becomes master, and wins
    // when the partition heals.
    equal("e3", V3, Who::Ours, Who::Ka, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv4_two_masters_keepalived_higher_address_wins() {
    equal("e4", V3, Who::Ka, Who::Ours, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv4_two_masters_higher_address_already_master_wins() {
    // ours (higher) first; keepalived (lower) is cut off, becomes master, and yields on heal.
    equal("e5", V3, Who::Ours, Who::Ours, true);
    equal("e6", V3, Who::Ka, Who::Ka, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v3_ipv6_two_masters_higher_link_local_wins_both_ways() {
    equal("e6o", V3_6, Who::Ours, Who::Ka, true);
    equal("e6k", V3_6, Who::Ka, Who::Ours, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_unicast_v3_ipv4_two_masters_higher_address_wins_both_ways() {
    equal("eu1", V3.unicast(), Who::Ours, Who::Ka, true);
    equal("eu2", V3.unicast(), Who::Ka, Who::Ours, true);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_equal_v2_ipv4_two_masters_keepalived_higher_address_wins() {
    equal("e2v", V2, Who::Ka, Who::Ours, true);
}

// --- priority-0 handoff within Skew_Time, measured on the wire ---

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_v3_ipv4_ours_to_keepalived() {
    handoff("h1", V3, Who::Ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_v3_ipv4_keepalived_to_ours() {
    handoff("h2", V3, Who::Ka);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_v3_ipv6_both_ways() {
    handoff("h3", V3_6, Who::Ours);
    handoff("h4", V3_6, Who::Ka);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_unicast_v3_ipv4_both_ways() {
    handoff("h5", V3.unicast(), Who::Ours);
    handoff("h6", V3.unicast(), Who::Ka);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_unicast_v3_ipv6_both_ways() {
    handoff("h7", V3_6.unicast(), Who::Ka);
    handoff("h7o", V3_6.unicast(), Who::Ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_handoff_v2_ipv4_both_ways() {
    handoff("h8", V2, Who::Ours);
    handoff("h9", V2, Who::Ka);
}

// --- nopreempt and preempt_delay ---

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_nopreempt_ours_returning_higher_priority_stays_backup() {
    returning("np1", V3, Who::Ours, Who::Ours, Preempt::No);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_nopreempt_keepalived_returning_higher_priority_stays_backup() {
    returning("np2", V3, Who::Ka, Who::Ours, Preempt::No);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_preempt_delay_ours_takes_over_after_the_delay() {
    returning("pd1", V3, Who::Ours, Who::Ours, Preempt::Delay(1500));
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_preempt_delay_ours_over_keepalived() {
    returning("pd2", V3, Who::Ours, Who::Ka, Preempt::Delay(1500));
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_preempt_delay_keepalived_over_ours() {
    returning("pd3", V3, Who::Ka, Who::Ours, Preempt::Delay(2000));
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_realtime_speaker_holds_and_reports_lateness() {
    require_root();
    let mut lab = Lab::new("vrt");
    let a = lab.add_host("a", &["10.96.0.1/24"]);
    let b = lab.add_host("b", &["10.96.0.2/24"]);
    let vip = "10.96.0.100";
    let common = [
        "--vrid",
        "66",
        "--interval-ms",
        "10",
        "--vip",
        "10.96.0.100/24",
        "--realtime-priority",
        "10",
        "--mlock",
    ];
    let pa = speaker(
        &mut lab,
        &a,
        &[&common[..], &["--priority", "150"]].concat(),
    );
    wait_vip(
        &a,
        vip,
        true,
        Duration::from_secs(5),
        "a (150, realtime) is master",
    );
    let pb = speaker(
        &mut lab,
        &b,
        &[&common[..], &["--priority", "100"]].concat(),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!has(&b, vip), "b must stay backup at 10 ms adverts");
    // The VRRP thread runs with SCHED_FIFO (policy 1 in /proc/PID/stat, field 41).
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pb.pid())).unwrap();
    let policy = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(41 - 3)
        .unwrap()
        .to_owned();
    assert_eq!(policy, "1", "b's policy is SCHED_FIFO");
    pb.signal(libc::SIGTERM);
    assert!(pb.wait_exit(Duration::from_secs(5)), "b stops on SIGTERM");
    let err = pb.stderr();
    assert!(
        !pb.stdout().contains("-> Master"),
        "b never became master: {}",
        pb.stdout()
    );
    let delay = err
        .lines()
        .find(|l| l.contains("receive-to-processing delay: n="))
        .unwrap_or_else(|| panic!("no lateness report: {err}"));
    let n: u64 = delay
        .split("n=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(
        n > 100,
        "b measured the delay of the adverts it received: {delay}"
    );
    assert!(err.contains("timer lateness: n="), "{err}");
    drop(pa);

    // Without CAP_SYS_NICE (and root's RLIMIT_RTPRIO of 0) the priority is refused with the
    // capability named.
    require_tool("setpriv", "util-linux");
    let out = a.exec(&[
        "setpriv",
        "--inh-caps=-sys_nice",
        "--bounding-set=-sys_nice",
        SPEAKER,
        "--interface",
        "eth0",
        "--vrid",
        "67",
        "--vip",
        "10.96.0.101/24",
        "--realtime-priority",
        "10",
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("needs CAP_SYS_NICE"), "{text}");
}

// --- VRRP virtual MAC (RFC 9568 section 7.3; keepalived use_vmac) ---

/// The virtual router MAC of VRID 52 (RFC 9568 section 7.3).
fn vmac_of(sc: Sc) -> &'static str {
    if sc.ipv6 {
        "00:00:5e:00:02:34"
    } else {
        "00:00:5e:00:01:34"
    }
}

fn has_on(host: &Host, dev: &str, addr: &str) -> bool {
    let out = host.exec(&["ip", "-o", "addr", "show", "dev", dev]);
    String::from_utf8_lossy(&out.stdout).contains(&format!(" {addr}/"))
}

fn link_exists(host: &Host, dev: &str) -> bool {
    host.exec(&["ip", "link", "show", "dev", dev])
        .status
        .success()
}

/// The client's neighbour entry for `vip` after reaching it (without flushing first).
fn client_mac_of(c: &Host, sc: Sc) -> String {
    let vip = sc.vip();
    let fam = if sc.ipv6 { "-6" } else { "-4" };
    assert!(
        wait_until(Duration::from_secs(5), || c
            .exec(&["ping", fam, "-c", "1", "-W", "1", vip])
            .status
            .success()),
        "the client cannot reach {vip}"
    );
    c.sh(&format!("ip {fam} neigh show {vip}"))
}

/// Two vmac nodes (node 0 priority 150, node 1 priority 100, both `use_vmac`): the client
/// resolves the VIP to the virtual MAC; the master stops gracefully; the other takes over and
/// the client reaches the VIP through the same neighbour entry, the virtual MAC, with no ARP
/// update; every ARP frame about the VIP on the wire carries the virtual MAC.
fn vmac_failover(tag: &str, sc: Sc, n0: Who, n1: Who) {
    let vmac = vmac_of(sc);
    let mut d = Duo::new(tag, sc, (n0, 150, Preempt::Yes), (n1, 100, Preempt::Yes));
    // Each node with its vmac: a flag of ours, keepalived's use_vmac.
    d.vmac = true;
    for i in 0..2 {
        if d.n[i].who == Who::Ka {
            // keepalived 2.2.7 sets arp_ignore / arp_filter on the parent but not
            // arp_announce: its own ARP requests (for a client it answers through eth0) then
            // carry the VIP as sender address with eth0's MAC, and the client's entry for the
            // VIP moves off the virtual MAC. Ours sets arp_announce=2; for keepalived the
            // administrator must.
            d.n[i]
                .host
                .sh("sysctl -qw net.ipv4.conf.eth0.arp_announce=2");
        }
    }
    let vip = sc.vip();
    d.start(0);
    assert!(
        wait_until(sc.settle(), || has_on(&d.n[0].host, "vrrp.52", vip)),
        "node 0 holds the VIP on vrrp.52\n{}",
        d.logs()
    );
    assert!(
        !has(&d.n[0].host, vip),
        "the VIP is on the vmac, not on eth0"
    );
    let link = d.n[0].host.sh("ip -d -o link show dev vrrp.52");
    assert!(link.contains(&format!("link/ether {vmac}")), "{link}");
    assert!(link.contains("macvlan mode private"), "{link}");
    d.start(1);
    std::thread::sleep(sc.down(1) + sc.interval() * 2);
    assert!(
        !has_on(&d.n[1].host, "vrrp.52", vip),
        "the backup holds the VIP too\n{}",
        d.logs()
    );
    let c = d.c.clone();
    let cap = d.lab.capture(&c, "eth0", Some("arp or proto 112 or icmp6"));
    c.sh("ip neigh flush all");
    let before = client_mac_of(&c, sc);
    assert!(
        before.contains(vmac),
        "the client resolves the VIP to the virtual MAC: {before}"
    );
    d.proc(0).signal(libc::SIGTERM);
    assert!(
        wait_until(sc.settle(), || has_on(&d.n[1].host, "vrrp.52", vip)),
        "node 1 takes over on its vmac\n{}",
        d.logs()
    );
    assert!(d.proc(0).wait_exit(Duration::from_secs(5)), "node 0 stops");
    // The stopped node removed its vmac (ours) or at least its VIP (keepalived).
    if n0 == Who::Ours {
        assert!(
            !link_exists(&d.n[0].host, "vrrp.52"),
            "our vmac is deleted at shutdown"
        );
    }
    assert!(!has_on(&d.n[0].host, "vrrp.52", vip) && !has(&d.n[0].host, vip));
    let after = client_mac_of(&c, sc);
    assert!(
        after.contains(vmac),
        "after failover the client still resolves the VIP to the virtual MAC: {after}"
    );
    std::thread::sleep(sc.interval() * 3);
    let pcap = cap.stop();
    // ARP replies and gratuitous ARP (sender = VIP), or neighbour adverts for the VIP.
    let arp = if sc.ipv6 {
        tshark_fields(
            &pcap,
            &format!("icmpv6.type == 136 && icmpv6.nd.na.target_address == {vip}"),
            &["eth.src", "icmpv6.opt.linkaddr"],
        )
    } else {
        tshark_fields(
            &pcap,
            &format!("arp.src.proto_ipv4 == {vip}"),
            &["eth.src", "arp.src.hw_mac"],
        )
    };
    assert!(!arp.is_empty(), "ARP / NA about the VIP on the wire");
    assert!(
        arp.iter()
            .all(|r| r[0] == vmac && r[1].split(',').all(|m| m == vmac)),
        "every ARP frame about the VIP comes from the virtual MAC: {arp:?}"
    );
    let src = if sc.ipv6 { "ipv6.src" } else { "ip.src" };
    let adverts = tshark_fields(&pcap, "vrrp", &["eth.src", src, "vrrp.prio"]);
    assert!(
        adverts.iter().filter(|r| r[2] != "0").all(|r| r[0] == vmac),
        "adverts are sent from the virtual MAC: {adverts:?}"
    );
    assert!(
        adverts.iter().any(|r| r[1] == sc.primary(1)),
        "the new master advertises from its primary address: {adverts:?}"
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_ours_client_keeps_the_virtual_mac_across_failover() {
    vmac_failover("vm1", V3, Who::Ours, Who::Ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_keepalived_to_ours() {
    vmac_failover("vm2", V3, Who::Ka, Who::Ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_ours_to_keepalived() {
    vmac_failover("vm3", V3, Who::Ours, Who::Ka);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_ipv6_ours_client_keeps_the_virtual_mac_across_failover() {
    vmac_failover("vm6", V3_6, Who::Ours, Who::Ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_ipv6_keepalived_both_ways() {
    vmac_failover("vm7", V3_6, Who::Ka, Who::Ours);
    vmac_failover("vm8", V3_6, Who::Ours, Who::Ka);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vmac_reuses_a_matching_interface_refuses_a_conflicting_one_and_cleans_up() {
    require_root();
    let mut lab = Lab::new("vmr");
    let a = lab.add_host("a", &["10.92.0.1/24"]);
    let args = [
        "--vrid",
        "52",
        "--interval-ms",
        "100",
        "--priority",
        "150",
        "--vip",
        "10.92.0.100/24",
        "--vmac",
    ];
    let sysctl = |k: &str| a.sh(&format!("cat /proc/sys/net/ipv4/conf/eth0/{k}"));
    let before: Vec<String> = ["arp_ignore", "arp_filter", "arp_announce"]
        .iter()
        .map(|k| sysctl(k))
        .collect();
    // A conflicting interface of that name (wrong MAC): refused, naming what was found.
    a.sh("ip link add link eth0 name vrrp.52 address 02:00:00:00:00:52 type macvlan mode private");
    let out = a
        .command(&[SPEAKER, "--interface", "eth0"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a conflicting vrrp.52 is refused: {err}"
    );
    assert!(
        err.contains("vrrp.52") && err.contains("02:00:00:00:00:52"),
        "the error names the interface and what it found: {err}"
    );
    assert!(
        link_exists(&a, "vrrp.52"),
        "somebody else's interface is left alone"
    );
    a.sh("ip link del vrrp.52");
    // A matching one (left behind by a crash, say) is reused.
    a.sh("ip link add link eth0 name vrrp.52 address 00:00:5e:00:01:34 type macvlan mode private");
    let ifindex = a.sh("cat /sys/class/net/vrrp.52/ifindex");
    let p = speaker(&mut lab, &a, &args);
    assert!(
        wait_until(Duration::from_secs(5), || has_on(
            &a,
            "vrrp.52",
            "10.92.0.100"
        )),
        "master on the reused vmac: {}",
        p.stderr()
    );
    assert_eq!(
        a.sh("cat /sys/class/net/vrrp.52/ifindex"),
        ifindex,
        "the existing interface is reused, not recreated"
    );
    assert_eq!(sysctl("arp_ignore").trim(), "1");
    assert_eq!(sysctl("arp_announce").trim(), "2");
    p.kill(libc::SIGTERM);
    assert!(
        !link_exists(&a, "vrrp.52"),
        "the vmac is deleted at shutdown"
    );
    let after: Vec<String> = ["arp_ignore", "arp_filter", "arp_announce"]
        .iter()
        .map(|k| sysctl(k))
        .collect();
    assert_eq!(before, after, "the parent's ARP sysctls are put back");
}
