//! Host suite: ping trackers (heartbeat `ping` / `ping_group` with ipfail's rule) and the
//! hardware watchdog, run by the `ha-director` binary in netns hosts:
//! - two directors with equal base priority track two "router" hosts (weight 2 each); the
//!   one holding the VIP loses one router (a blackhole route in its own namespace), its
//!   priority drops by 2 and the other takes the VIP; the route removed, it reaches both again
//!   but (equal priority, no preemption) the VIP stays where it is. The status shows each
//!   ping tracker and the addresses answering.
//! - the watchdog with a plain file as its device: written every interval from the loop, the
//!   magic `V` at a graceful stop, no `V` after SIGKILL; a device that cannot be opened stops
//!   the start with an error naming it and the OS error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_root, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const VIP: &str = "10.74.0.100";
const R1: &str = "10.74.0.251";
const R2: &str = "10.74.0.252";

fn director_config(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let sock = dir.join(format!("{name}.sock"));
    let text = format!(
        r#"[global]
router_id = "{name}"
status_socket = "{sock}"

[[track_pings]]
name = "r1"
addresses = ["{R1}"]
interval_ms = 200
dead_ms = 700
weight = 2

[[track_pings]]
name = "routers"
addresses = ["{R2}", "10.74.0.250"]
interval_ms = 200
weight = 2

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 74
priority = 100
advert_int_ms = 200
vips = ["{VIP}/24"]
track_pings = [{{ name = "r1" }}, {{ name = "routers" }}]
"#,
        sock = sock.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, sock)
}

fn status(sock: &Path) -> Option<Value> {
    ha_testsupport::director_status(BIN, sock)
}

fn priority(sock: &Path) -> i64 {
    status(sock)
        .and_then(|v| v["instances"][0]["priority"].as_i64())
        .unwrap_or(-1)
}

fn spawn(lab: &mut Lab, host: &Host, conf: &Path) -> Proc {
    lab.spawn(host, &[BIN, "run", "--config", conf.to_str().unwrap()])
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_ping_nodes_move_the_vip_to_the_node_that_reaches_more() {
    require_root();
    let mut lab = Lab::new("hdping");
    let a = lab.add_host("a", &["10.74.0.1/24"]);
    let b = lab.add_host("b", &["10.74.0.2/24"]);
    // The routers only answer pings (10.74.0.250 of the group is never there).
    let _r1 = lab.add_host("r1", &[&format!("{R1}/24")]);
    let _r2 = lab.add_host("r2", &[&format!("{R2}/24")]);
    let dir = lab.dir().to_path_buf();
    let (ca, sa) = director_config(&dir, "a");
    let (cb, sb) = director_config(&dir, "b");
    let pa = spawn(&mut lab, &a, &ca);
    let pb = spawn(&mut lab, &b, &cb);
    let report = |what: &str| {
        format!(
            "{what}: a holds {} b holds {}\na: {:#}\nb: {:#}\n--- a ---\n{}\n--- b ---\n{}",
            a.holds(VIP),
            b.holds(VIP),
            status(&sa).unwrap_or_default(),
            status(&sb).unwrap_or_default(),
            pa.stderr(),
            pb.stderr()
        )
    };

    // Both reach both routers: 100 + 2 + 2; one holds the VIP.
    assert!(
        wait_until(Duration::from_secs(20), || {
            priority(&sa) == 104 && priority(&sb) == 104 && (a.holds(VIP) != b.holds(VIP))
        }),
        "{}",
        report("start")
    );
    let s = status(&sa).unwrap();
    let pings = s["pings"].as_array().cloned().unwrap_or_default();
    assert_eq!(pings.len(), 2, "{s:#}");
    assert_eq!(pings[0]["name"], "ping r1");
    assert_eq!(pings[0]["up"], true);
    assert_eq!(pings[1]["answering"], serde_json::json!([R2]), "{s:#}");
    assert_eq!(pings[1]["addresses"].as_array().map(Vec::len), Some(2));

    let (holder, other, hsock, osock) = if a.holds(VIP) {
        (&a, &b, &sa, &sb)
    } else {
        (&b, &a, &sb, &sa)
    };
    // The holder loses router 1: it reaches fewer ping nodes, its priority drops to 102 and
    // the other (104) preempts.
    holder.sh(&format!("ip route add blackhole {R1}/32"));
    let cut = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || other.holds(VIP)
            && !holder.holds(VIP)),
        "{}",
        report("router 1 lost by the holder")
    );
    let moved = cut.elapsed();
    eprintln!("the VIP moved {moved:?} after the holder lost a ping node (dead_ms 700)");
    assert_eq!(priority(hsock), 102, "{}", report("priority after loss"));
    let s = status(hsock).unwrap();
    assert_eq!(s["pings"][0]["up"], false, "{s:#}");
    assert_eq!(s["pings"][0]["answering"], serde_json::json!([]), "{s:#}");

    // Router 1 back: equal priorities again, and equal priority never preempts: the VIP
    // stays.
    holder.sh(&format!("ip route del blackhole {R1}/32"));
    assert!(
        wait_until(Duration::from_secs(10), || priority(hsock) == 104),
        "{}",
        report("router 1 back")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        other.holds(VIP) && !holder.holds(VIP),
        "{}",
        report("after restore")
    );
    assert_eq!(priority(osock), 104);
    assert!(pa.is_running() && pb.is_running(), "{}", report("running"));
}

fn watchdog_config(dir: &Path, device: &Path, sock: &Path) -> PathBuf {
    let text = format!(
        r#"[global]
router_id = "wd"
status_socket = "{}"

[global.watchdog]
device = "{}"
interval_ms = 100

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 75
priority = 100
advert_int_ms = 200
vips = ["10.75.0.100/24"]
"#,
        sock.display(),
        device.display()
    );
    let path = dir.join("wd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn feeds(device: &Path) -> usize {
    std::fs::read(device)
        .unwrap_or_default()
        .iter()
        .filter(|b| **b == b'.')
        .count()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_watchdog_is_fed_from_the_loop_and_closed_with_v_only_on_a_clean_stop() {
    require_root();
    let mut lab = Lab::new("hdwdog");
    let h = lab.add_host("a", &["10.75.0.1/24"]);
    let dir = lab.dir().to_path_buf();
    let device = dir.join("watchdog");
    let sock = dir.join("wd.sock");
    let conf = watchdog_config(&dir, &device, &sock);

    // No device: the start fails, naming it and the OS error.
    let out = h.exec(&[BIN, "run", "--config", conf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(device.to_str().unwrap()) && err.contains("os error 2"),
        "{err}"
    );

    // Fed every 100 ms; a graceful stop ends with the magic V.
    std::fs::write(&device, b"").unwrap();
    let p = lab.spawn(&h, &[BIN, "run", "--config", conf.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(10), || feeds(&device) >= 3),
        "not fed: {}",
        p.stderr()
    );
    let (n0, t0) = (feeds(&device), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let rate = (feeds(&device) - n0) as f64 / t0.elapsed().as_secs_f64();
    assert!((5.0..=15.0).contains(&rate), "{rate} feeds/s for 10");
    let s = status(&sock).unwrap_or_default();
    assert!(s["watchdog"]["feeds"].as_u64().unwrap_or(0) >= 10, "{s:#}");
    assert_eq!(s["watchdog"]["device"], device.to_str().unwrap());
    let written = std::fs::read(&device).unwrap();
    assert!(!written.contains(&b'V'), "V before the stop: {written:?}");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(10)), "{}", p.stderr());
    let written = std::fs::read(&device).unwrap();
    assert_eq!(written.last(), Some(&b'V'), "{}", p.stderr());
    assert_eq!(written.iter().filter(|b| **b == b'V').count(), 1);

    // SIGSTOP: the loop stops feeding (what makes a real watchdog fire).
    std::fs::write(&device, b"").unwrap();
    let p = lab.spawn(&h, &[BIN, "run", "--config", conf.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(10), || feeds(&device) >= 3),
        "{}",
        p.stderr()
    );
    p.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(200));
    let stopped = feeds(&device);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(feeds(&device), stopped, "fed while stopped");
    p.signal(libc::SIGCONT);
    assert!(
        wait_until(Duration::from_secs(5), || feeds(&device) > stopped + 2),
        "not fed after SIGCONT: {}",
        p.stderr()
    );
    // SIGKILL: no magic close.
    p.kill(libc::SIGKILL);
    let written = std::fs::read(&device).unwrap();
    assert!(
        !written.is_empty() && !written.contains(&b'V'),
        "{written:?}"
    );
}
