//! Host suite: the `ha-director` binary itself (`run`, `status`, `realserver`) on two netns
//! hosts, one reading a TOML configuration and the other the same as a keepalived.conf, without
//! virtual servers (the host kernel has no IPVS):
//! election, status over the unix socket and HTTP, metrics, systemd notifications, SIGHUP
//! with an unchanged and with a broken file, SIGTERM handing over to the backup.

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_root, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const VIP: &str = "10.61.0.100";

fn config(dir: &Path, name: &str, priority: u8) -> (PathBuf, PathBuf) {
    let sock = dir.join(format!("{name}.sock"));
    let text = format!(
        r#"[global]
router_id = "{name}"
status_socket = "{}"
metrics_listen = "127.0.0.1:9650"

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 61
priority = {priority}
advert_int_ms = 200
vips = ["{VIP}/24"]
"#,
        sock.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, sock)
}

/// The same instance as a keepalived.conf (status socket and metrics from the command line).
fn keepalived_config(dir: &Path, name: &str, priority: u8) -> (PathBuf, PathBuf) {
    let sock = dir.join(format!("{name}.sock"));
    let text = format!(
        "global_defs {{\n    router_id {name}\n    vrrp_version 3\n}}\n\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority {priority}\n    advert_int 0.2\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    );
    let path = dir.join(format!("{name}.keepalived.conf"));
    std::fs::write(&path, text).unwrap();
    (path, sock)
}

fn status(sock: &Path) -> Result<Value, String> {
    let o = std::process::Command::new(BIN)
        .args(["status", "--socket", sock.to_str().unwrap()])
        .output()
        .unwrap();
    if o.status.success() {
        serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

fn state(sock: &Path) -> String {
    status(sock)
        .ok()
        .and_then(|v| v["instances"][0]["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn http_get(h: &Host, path: &'static str) -> String {
    h.run_in(move || {
        let mut s = std::net::TcpStream::connect("127.0.0.1:9650").expect("metrics endpoint");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
}

/// Everything received on a notify socket, read by a thread.
struct NotifyLog {
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl NotifyLog {
    fn bind(path: &Path) -> NotifyLog {
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => l
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
                if Arc::strong_count(&l) == 1 {
                    return;
                }
            }
        });
        NotifyLog { lines }
    }
    fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.starts_with(prefix))
            .count()
    }
    fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn dump(p: &Proc) -> String {
    format!("--- stderr ---\n{}", p.stderr())
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_run_elects_reports_reloads_and_hands_over() {
    require_root();
    let mut lab = Lab::new("hdrun");
    let a = lab.add_host("a", &["10.61.0.1/24"]);
    let b = lab.add_host("b", &["10.61.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let (cfg_a, sock_a) = config(&dir, "a", 150);
    let (cfg_b, sock_b) = keepalived_config(&dir, "b", 100);
    let notify_path = dir.join("notify-a.sock");
    let notify = NotifyLog::bind(&notify_path);
    let env_notify = format!("NOTIFY_SOCKET={}", notify_path.display());

    let pb = lab.spawn(
        &b,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            cfg_b.to_str().unwrap(),
            "--watch-config",
            "--status-socket",
            sock_b.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:9650",
        ],
    );
    let pa = lab.spawn(
        &a,
        &[
            "env",
            &env_notify,
            "WATCHDOG_USEC=400000",
            BIN,
            "run",
            "--config",
            cfg_a.to_str().unwrap(),
        ],
    );

    // The higher priority gets the VIP; the other is backup.
    assert!(
        wait_until(Duration::from_secs(15), || a.holds(VIP)),
        "a never took the VIP\n{}",
        dump(&pa)
    );
    assert!(
        wait_until(Duration::from_secs(10), || state(&sock_b) == "BACKUP"
            && state(&sock_a) == "MASTER"),
        "states: a {:?} b {:?}\n{}\n{}",
        status(&sock_a),
        status(&sock_b),
        dump(&pa),
        dump(&pb)
    );
    assert!(!b.holds(VIP));
    assert!(
        wait_until(Duration::from_secs(5), || notify.count("READY=1") >= 1),
        "no READY=1: {:?}",
        notify.all()
    );
    assert!(
        wait_until(Duration::from_secs(5), || notify.count("WATCHDOG=1") >= 3),
        "WATCHDOG=1 every WATCHDOG_USEC/2: {:?}",
        notify.all()
    );

    // Status JSON with counters (built for the request, or at most a second old).
    assert!(
        wait_until(Duration::from_secs(5), || {
            let sa = status(&sock_a).unwrap();
            let sb = status(&sock_b).unwrap();
            sa["instances"][0]["adverts_sent"].as_u64().unwrap_or(0) > 0
                && sb["instances"][0]["adverts_received"].as_u64().unwrap_or(0) > 0
        }),
        "counters never moved: {:?} {:?}",
        status(&sock_a),
        status(&sock_b)
    );
    let sa = status(&sock_a).unwrap();
    assert_eq!(sa["instances"][0]["name"], "VI_1");
    assert_eq!(sa["instances"][0]["priority"], 150);
    assert_eq!(sa["instances"][0]["holds_vips"], true);
    let transitions_a = sa["instances"][0]["transitions"].as_u64().unwrap();
    let sb = status(&sock_b).unwrap();
    assert_eq!(sb["instances"][0]["master"], "10.61.0.1", "{sb}");
    let transitions_b = sb["instances"][0]["transitions"].as_u64().unwrap();

    // Metrics and status over HTTP.
    let m = http_get(&a, "/metrics");
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(
        m.contains(
            r#"ha_director_instance_state{iname="VI_1",intf="eth0",vrid="61",state="MASTER"} 1"#
        ),
        "{m}"
    );
    let m = http_get(&b, "/metrics");
    assert!(
        m.contains(
            r#"ha_director_instance_state{iname="VI_1",intf="eth0",vrid="61",state="BACKUP"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="61",ip_address="10.61.0.100"} 1"#),
        "{m}"
    );
    assert!(!m.contains("instance=\""), "{m}");
    assert!(http_get(&b, "/status").contains("\"BACKUP\""));

    // SIGHUP with the unchanged file: the VIP never goes away, no transition.
    let lost = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (a, lost, polls, watching) = (a.clone(), lost.clone(), polls.clone(), watching.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::SeqCst) {
                if !a.holds(VIP) {
                    lost.store(true, Ordering::SeqCst);
                }
                polls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let reloading_before = notify.count("RELOADING=1");
    let sent_before = notify.all().len();
    let clock_before = ha_examples::sys::monotonic_now();
    pa.signal(libc::SIGHUP);
    pb.signal(libc::SIGHUP);
    let reloaded = wait_until(Duration::from_secs(10), || {
        pa.stderr().contains("configuration reloaded")
            && pb.stderr().contains("configuration reloaded")
    });
    std::thread::sleep(Duration::from_secs(2));
    watching.store(false, Ordering::SeqCst);
    watcher.join().unwrap();
    assert!(
        reloaded,
        "SIGHUP did not reload (the runtime's reload must answer)\n{}\n{}",
        dump(&pa),
        dump(&pb)
    );
    assert!(polls.load(Ordering::SeqCst) > 20);
    assert!(
        !lost.load(Ordering::SeqCst),
        "the VIP disappeared during the reload"
    );
    assert!(
        notify.count("RELOADING=1") > reloading_before,
        "{:?}",
        notify.all()
    );
    // Type=notify-reload: RELOADING=1 carries MONOTONIC_USEC (CLOCK_MONOTONIC in µs when it
    // was sent: between the SIGHUP and now) in the same datagram, and READY=1 follows it.
    let clock_after = ha_examples::sys::monotonic_now();
    let since: Vec<String> = notify.all().split_off(sent_before);
    let at = since
        .iter()
        .position(|m| m.starts_with("RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1 after the SIGHUP: {since:?}"));
    let fields: Vec<&str> = since[at].lines().collect();
    assert_eq!(fields.len(), 2, "{:?}", since[at]);
    let usec: u128 = fields[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC=<µs> beside RELOADING=1: {:?}", since[at]));
    assert!(
        clock_before.as_micros() <= usec && usec <= clock_after.as_micros(),
        "MONOTONIC_USEC={usec} not within the reload ({} ..= {} µs)",
        clock_before.as_micros(),
        clock_after.as_micros()
    );
    assert!(
        since[at + 1..].iter().any(|m| m.starts_with("READY=1")),
        "no READY=1 after RELOADING=1: {since:?}"
    );
    let sa = status(&sock_a).unwrap();
    let sb = status(&sock_b).unwrap();
    assert_eq!(sa["instances"][0]["state"], "MASTER");
    assert_eq!(sb["instances"][0]["state"], "BACKUP");
    assert_eq!(
        sa["instances"][0]["transitions"].as_u64().unwrap(),
        transitions_a,
        "{sa}"
    );
    assert_eq!(
        sb["instances"][0]["transitions"].as_u64().unwrap(),
        transitions_b,
        "{sb}"
    );

    // SIGHUP with a broken file: logged with its place, the running configuration kept.
    let good = std::fs::read_to_string(&cfg_a).unwrap();
    std::fs::write(&cfg_a, good.replace("vrid = 61", "vrid = 610")).unwrap();
    pa.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || pa
            .stderr()
            .contains("reload refused")),
        "{}",
        dump(&pa)
    );
    let err = pa.stderr();
    assert!(err.contains("vrid 610 is outside 1..=255"), "{err}");
    assert!(err.contains("a.toml:"), "the file and line: {err}");
    assert!(pa.is_running());
    assert!(a.holds(VIP));
    assert_eq!(state(&sock_a), "MASTER");
    std::fs::write(&cfg_a, good).unwrap();

    // --watch-config (b): a changed file is reloaded without a signal.
    let text_b = std::fs::read_to_string(&cfg_b).unwrap();
    std::fs::write(&cfg_b, text_b.replace("priority 100", "priority 110")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || status(&sock_b)
            .is_ok_and(|v| v["instances"][0]["base_priority"] == 110)),
        "the changed file was not picked up: {:?}\n{}",
        status(&sock_b),
        dump(&pb)
    );
    assert!(
        pb.stderr().contains("configuration file changed"),
        "{}",
        dump(&pb)
    );
    assert!(wait_until(Duration::from_secs(5), || state(&sock_b) == "BACKUP"));
    assert!(a.holds(VIP) && !b.holds(VIP));

    // SIGTERM: priority 0, the backup takes over at once (Skew_Time, not Master_Down), the
    // VIP leaves a and a exits 0.
    let t0 = Instant::now();
    pa.signal(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || b.holds(VIP)),
        "b never took over\n{}",
        dump(&pb)
    );
    let takeover = t0.elapsed();
    eprintln!("graceful handoff: the backup held the VIP {takeover:?} after SIGTERM");
    assert!(
        takeover < Duration::from_millis(1500),
        "takeover after a graceful stop took {takeover:?} (Master_Down would be about 0.7 s + detection)"
    );
    assert!(
        wait_until(Duration::from_secs(10), || !pa.is_running()),
        "a did not exit\n{}",
        dump(&pa)
    );
    assert_eq!(
        pa.exit_status().and_then(|s| s.code()),
        Some(0),
        "{}",
        dump(&pa)
    );
    assert!(!a.holds(VIP), "the VIP stayed on a stopped director");
    assert!(notify.count("STOPPING=1") >= 1, "{:?}", notify.all());
    assert!(!sock_a.exists(), "the status socket is removed on exit");
    let sb = status(&sock_b).unwrap();
    assert_eq!(sb["instances"][0]["state"], "MASTER");
    assert!(
        sb["instances"][0]["priority_zero_received"]
            .as_u64()
            .unwrap()
            >= 1,
        "{sb}"
    );
    // No director on a's socket any more: exit 1 with a clear message.
    let e = status(&sock_a).unwrap_err();
    assert!(
        e.starts_with("exit Some(1)") && e.contains("no director is running"),
        "{e}"
    );
    pb.signal(libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(10), || !pb.is_running()));
    assert!(!b.holds(VIP));
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_realserver_apply_and_undo_via_the_binary() {
    require_root();
    let mut lab = Lab::new("hdrs");
    let c = lab.add_host("c", &["10.62.0.3/24"]);
    let state = lab.dir().join("rs.json");
    let st = state.to_str().unwrap();
    let sysctl = |h: &Host, k: &str| {
        h.sh(&format!("cat /proc/sys/net/ipv4/conf/{k}"))
            .trim()
            .to_owned()
    };
    let before = (sysctl(&c, "all/arp_ignore"), sysctl(&c, "all/arp_announce"));
    let o = c.exec(&[
        BIN,
        "realserver",
        "--vip",
        "10.62.0.100",
        "--vip",
        "fd62::100",
        "--interface",
        "eth0",
        "--state-file",
        st,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("10.62.0.100/32 on lo: added"), "{out}");
    let lo = c.sh("ip -o addr show dev lo");
    assert!(
        lo.contains("10.62.0.100/32") && lo.contains("fd62::100/128"),
        "{lo}"
    );
    assert_eq!(sysctl(&c, "all/arp_ignore"), "1");
    assert_eq!(sysctl(&c, "all/arp_announce"), "2");
    assert_eq!(sysctl(&c, "eth0/arp_announce"), "2");
    assert!(state.exists());
    let o = c.exec(&[BIN, "realserver", "--undo", "--state-file", st]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lo = c.sh("ip -o addr show dev lo");
    assert!(
        !lo.contains("10.62.0.100") && !lo.contains("fd62::100"),
        "{lo}"
    );
    assert_eq!(
        (sysctl(&c, "all/arp_ignore"), sysctl(&c, "all/arp_announce")),
        before
    );
    // A failure is exit 3 with the reason.
    let o = c.exec(&[
        BIN,
        "realserver",
        "--vip",
        "10.62.0.100",
        "--interface",
        "nosuch0",
        "--state-file",
        st,
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("nosuch0"));
}

/// keepalived's own stock sample shape: `vrrp_strict` with `auth_type PASS` (VRRPv2). keepalived
/// drops the authentication in strict mode; ha-director reading the same file must too, or the
/// pair drops each other's adverts and both become master. One master in both roles.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vrrp_strict_pass_file_elects_one_master_with_keepalived() {
    require_root();
    for ours_higher in [true, false] {
        let mut lab = Lab::new("hdstrict");
        let a = lab.add_host("a", &["10.61.0.1/24"]);
        let k = lab.add_host("k", &["10.61.0.2/24"]);
        let dir = lab.dir().to_path_buf();
        let conf = |name: &str, prio: u8| {
            let text = format!(
                "global_defs {{\n    router_id {name}\n    vrrp_strict\n}}\n\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority {prio}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
            );
            let path = dir.join(format!("{name}.conf"));
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let (pa_prio, pk_prio) = if ours_higher { (150, 100) } else { (100, 150) };
        let (ca, ck) = (conf("a", pa_prio), conf("k", pk_prio));
        let sock = dir.join("a.sock");
        let pa = lab.spawn(
            &a,
            &[
                BIN,
                "run",
                "--keepalived-conf",
                &ca,
                "--status-socket",
                sock.to_str().unwrap(),
            ],
        );
        let pk = lab.spawn_keepalived(&k, Path::new(&ck));
        let (winner, loser) = if ours_higher { (&a, &k) } else { (&k, &a) };
        let one_master = || winner.holds(VIP) && !loser.holds(VIP);
        assert!(
            wait_until(Duration::from_secs(20), one_master),
            "ours higher: {ours_higher}: a {} k {}\n{}\n--- keepalived ---\n{}",
            a.holds(VIP),
            k.holds(VIP),
            dump(&pa),
            pk.stderr()
        );
        // And it stays so: no dual master from dropped adverts.
        std::thread::sleep(Duration::from_secs(5));
        assert!(
            one_master(),
            "ours higher: {ours_higher}: a dual master or a flap\n{}",
            dump(&pa)
        );
        let want = if ours_higher { "MASTER" } else { "BACKUP" };
        assert_eq!(state(&sock), want, "{}", dump(&pa));
        // Nothing was dropped for authentication.
        let st = status(&sock).unwrap();
        assert!(
            st["instances"][0]["drops"]
                .get("auth_type_mismatch")
                .is_none()
                && st["instances"][0]["drops"].get("auth_mismatch").is_none(),
            "{st}"
        );
    }
}
