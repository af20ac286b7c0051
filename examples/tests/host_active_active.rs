//! Host suite: two `ha-director`s announce one virtual address by BGP to a real FRR router
//! (zebra, bgpd with multipath, bfdd), which installs it as an ECMP route over both.
//!
//! ```text
//!   r   10.91.0.1   FRR, AS 65000: neighbours d1 and d2 with BFD (100 ms x 3), maximum-paths 8
//!   d1  10.91.0.2   ha-director, AS 65001: announce 10.91.100.100/32 while its quorum is up
//!   d2  10.91.0.3   ha-director, AS 65001: the same (drain_ms 1500)
//!   rs  10.91.0.20  the real server (python3 -m http.server), checked by both over TCP
//! ```
//!
//! What it shows, judged by the router's own kernel table (`ip route` in its namespace, where
//! zebra installs what bgpd chose) and by `vtysh`:
//! 1. both directors announce: the route has two next hops;
//! 2. the real server stops: each director's quorum goes down and it withdraws (the route
//!    goes), and comes back when the server does;
//! 3. a reload of d2 that changes `[bgp]` is refused (it needs a restart);
//! 4. d1 is SIGKILLed: BFD takes d1's next hop out within 1 s (the hold time is 9 s);
//! 5. d2 gets SIGTERM: it withdraws at once, keeps running for its drain time, ends its
//!    session with a Cease (Administrative Shutdown), and exits.
//!
//! The host has no IPVS: the directors run with `ipvs_dry_run` (the IPVS side of
//! active-active is the VM's `vm_active_active_*`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_testsupport::frr::Frr;
use ha_testsupport::{Host, Lab, Proc, require_root, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const VIP: &str = "10.91.100.100";
const ROUTER: &str = "10.91.0.1";
const RS: &str = "10.91.0.20";
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
const SIGHUP: i32 = 1;

const BGPD: &str = "hostname r
router bgp 65000
 bgp router-id 10.91.0.1
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
 neighbor DIRS peer-group
 neighbor DIRS remote-as 65001
 neighbor DIRS bfd
 neighbor DIRS bfd profile fast
 neighbor 10.91.0.2 peer-group DIRS
 neighbor 10.91.0.3 peer-group DIRS
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
";

const BFDD: &str = "hostname r
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
";

fn config(dir: &Path, name: &str, addr: &str) -> (PathBuf, PathBuf) {
    let sock = dir.join(format!("{name}.sock"));
    let text = format!(
        r#"[global]
router_id = "{name}"
status_socket = "{sock}"
ipvs_dry_run = true

[bgp]
local_as = 65001
router_id = "{addr}"
hold_time_s = 9
connect_retry_s = 1
drain_ms = 1500

[[bgp.neighbors]]
address = "{ROUTER}"
peer_as = 65000
bfd = true
bfd_interval_ms = 100
bfd_multiplier = 3

[[virtual_servers]]
name = "web"
address = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "mh"
sched_flags = ["mh-port"]
method = "dr"
delay_loop_ms = 300
alpha = true
announce = true

[[virtual_servers.real_servers]]
address = "{RS}"
port = 80

[[virtual_servers.real_servers.checks]]
kind = "tcp"
connect_timeout_ms = 500
"#,
        sock = sock.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, sock)
}

/// The next hops of the router's kernel route to the VIP (empty: no route).
fn next_hops(r: &Host) -> Vec<String> {
    let out = r.exec(&["ip", "-j", "route", "show", &format!("{VIP}/32")]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let Some(route) = v.as_array().and_then(|a| a.first()) else {
        return Vec::new();
    };
    match route["nexthops"].as_array() {
        Some(hops) => hops
            .iter()
            .filter_map(|h| h["gateway"].as_str().map(str::to_owned))
            .collect(),
        None => route["gateway"]
            .as_str()
            .map(|g| vec![g.to_owned()])
            .unwrap_or_default(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn status(sock: &Path) -> Value {
    ha_testsupport::director_status(BIN, sock).unwrap_or_default()
}

fn http_server(lab: &mut Lab, rs: &Host) -> Proc {
    lab.spawn(rs, &["python3", "-m", "http.server", "80", "--bind", RS])
}

/// Waits up to `timeout` for the route's next hops to be `want`; the time it took.
fn wait_hops(r: &Host, want: &[&str], timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    wait_until(timeout, || {
        let ok = sorted(next_hops(r)) == want;
        if !ok {
            std::thread::sleep(Duration::from_millis(10));
        }
        ok
    })
    .then(|| start.elapsed())
}

#[test]
#[ignore = "host suite: needs root, netns and FRR; run by cargo xtask test"]
fn host_active_active_directors_announce_withdraw_and_leave_the_ecmp_route() {
    require_root();
    let mut lab = Lab::new("aa");
    let r = lab.add_host("r", &["10.91.0.1/24"]);
    let d1 = lab.add_host("d1", &["10.91.0.2/24"]);
    let d2 = lab.add_host("d2", &["10.91.0.3/24"]);
    let rs = lab.add_host("rs", &["10.91.0.20/24"]);
    let frr = Frr::start(&mut lab, &r, BGPD, Some(BFDD));
    let _web = http_server(&mut lab, &rs);
    let dir = lab.dir().to_path_buf();
    let (c1, s1) = config(&dir, "d1", "10.91.0.2");
    let (c2, s2) = config(&dir, "d2", "10.91.0.3");
    let p1 = lab.spawn(&d1, &[BIN, "run", "--config", c1.to_str().unwrap()]);
    let p2 = lab.spawn(&d2, &[BIN, "run", "--config", c2.to_str().unwrap()]);
    let report = |what: &str| {
        format!(
            "{what}: next hops {:?}\n--- bgp summary ---\n{}\n--- bfd peers ---\n{}\n--- d1 status ---\n{:#}\n--- d2 status ---\n{:#}\n--- d1 ---\n{}\n--- d2 ---\n{}\n{}",
            next_hops(&r),
            frr.try_vtysh("show bgp summary").unwrap_or_default(),
            frr.try_vtysh("show bfd peers brief").unwrap_or_default(),
            status(&s1)["bgp"],
            status(&s2)["bgp"],
            tail(&p1.stderr()),
            tail(&p2.stderr()),
            frr.logs()
        )
    };

    // 1. Both announce: an ECMP route over both.
    let both = ["10.91.0.2", "10.91.0.3"];
    let t = wait_hops(&r, &both, Duration::from_secs(60));
    assert!(t.is_some(), "{}", report("both announce"));
    let bfd_up = wait_until(Duration::from_secs(20), || {
        let s = status(&s1);
        s["bgp"]["neighbors"][0]["bfd"]["state"] == "Up"
            && s["bgp"]["neighbors"][0]["state"] == "Established"
    });
    assert!(bfd_up, "{}", report("d1's BGP and BFD up"));
    let s = status(&s1)["bgp"].clone();
    assert_eq!(s["routes"][0]["address"], VIP, "{s:#}");
    assert_eq!(s["routes"][0]["announced"], true, "{s:#}");
    assert_eq!(s["routes"][0]["reason"], "quorum up", "{s:#}");

    // 2. The real server stops: both withdraw; it returns: both announce again.
    let web = lab
        .host("rs")
        .command(&["pkill", "-f", "http.server 80"])
        .status()
        .unwrap();
    assert!(web.success(), "the real server was not running");
    let t = wait_hops(&r, &[], Duration::from_secs(10));
    assert!(t.is_some(), "{}", report("withdrawn on quorum down"));
    let said = wait_until(Duration::from_secs(3), || {
        let s = status(&s2);
        s["bgp"]["routes"][0]["announced"] == false
            && s["bgp"]["routes"][0]["reason"] == "quorum down"
    });
    assert!(said, "{:#}", status(&s2)["bgp"]);
    let _web = http_server(&mut lab, &rs);
    let t = wait_hops(&r, &both, Duration::from_secs(10));
    assert!(t.is_some(), "{}", report("announced again on quorum up"));

    // A reload that changes [bgp] is refused: the sessions keep what they started with.
    let text = std::fs::read_to_string(&c2).unwrap();
    std::fs::write(&c2, text.replace("drain_ms = 1500", "drain_ms = 500")).unwrap();
    p2.signal(SIGHUP);
    let refused = wait_until(Duration::from_secs(10), || {
        let s = status(&s2);
        s["reloads"]["refused"] == 1
            && s["reloads"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("[bgp]") && e.contains("needs a restart"))
    });
    assert!(refused, "{:#}", status(&s2)["reloads"]);
    std::fs::write(&c2, text).unwrap();
    assert_eq!(
        sorted(next_hops(&r)),
        both,
        "{}",
        report("after the refused reload")
    );

    // 3. d1 dies with its cable pulled (no FIN or RST reaches the router): BFD takes it out
    // of the ECMP route within a second, long before the 9 s hold time.
    lab.cut_link(&d1);
    p1.signal(SIGKILL);
    let t = wait_hops(&r, &["10.91.0.3"], Duration::from_secs(15));
    let Some(t) = t else {
        panic!("{}", report("d1 SIGKILLed"));
    };
    eprintln!("d1 SIGKILLed: its next hop left the router's route after {t:.2?}");
    assert!(
        t < Duration::from_secs(1),
        "withdrawn after {t:?} (BFD 100 ms x 3; the hold time is 9 s)\n{}",
        report("BFD")
    );

    // 4. d2 stops gracefully: withdrawn at once, drained, Cease, exit.
    let asked = Instant::now();
    p2.signal(SIGTERM);
    let t = wait_hops(&r, &[], Duration::from_secs(5));
    let Some(t) = t else {
        panic!("{}", report("d2 SIGTERMed"));
    };
    eprintln!("d2 SIGTERMed: the route left the router after {t:.2?}");
    assert!(
        t < Duration::from_secs(1),
        "withdrawn {t:?} after SIGTERM\n{}",
        report("withdraw on stop")
    );
    assert!(
        p2.is_running(),
        "d2 exited before its drain time (1.5 s) was over\n{}",
        report("drain")
    );
    let s = status(&s2);
    assert_eq!(s["bgp"]["draining"], true, "{:#}", s["bgp"]);
    assert_eq!(
        s["bgp"]["routes"][0]["reason"], "stopping",
        "{:#}",
        s["bgp"]
    );
    assert!(
        p2.wait_exit(Duration::from_secs(10)),
        "d2 did not exit\n{}",
        report("exit")
    );
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "d2 exited {took:?} after SIGTERM: before its drain time (1.5 s)"
    );
    // bgpd logs each NOTIFICATION it receives (`bgp log-neighbor-changes`, on by default).
    let log = std::fs::read_to_string(frr.dir().join("bgpd.log")).unwrap_or_default();
    let cease: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("NOTIFICATION") && l.contains("10.91.0.3"))
        .collect();
    eprintln!("the router's log of d2's stop:\n{}", cease.join("\n"));
    assert!(
        cease
            .iter()
            .any(|l| l.contains("received") && l.contains("Cease/Administrative Shutdown")),
        "no Cease from d2 in the router's log\n{log}\n{}",
        report("Cease")
    );
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
