//! VM suite: keepalived's LVS keywords run by the `ha-director` binary against the kernel's
//! IPVS, checked with `ipvsadm`: `lvs_flush` (a stale service goes), `lvs_timeouts`, a
//! `virtual_server_group` range (one service per address), scheduler flags and `ops`,
//! virtual-server `inhibit_on_failure`, `sorry_server_inhibit`, `quorum_up`/`quorum_down` and
//! real-server `notify_up`/`notify_down` scripts, real-server `uthreshold`/`lthreshold` and
//! `lvs_method`, `ha_suspend`, and `omega` on stop.
//!
//! Bounds are loose (the VM runs under TCG).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ha_testsupport::{Host, Lab, Proc, require_vm, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

fn conf(dir: &Path) -> String {
    let n = dir.join("notify.sh");
    let n = n.display();
    format!(
        r#"global_defs {{
    router_id lvs-vm
    vrrp_version 3
    lvs_timeouts tcp 901 tcpfin 31 udp 121
    lvs_flush
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 78
    priority 150
    advert_int 0.2
    virtual_ipaddress {{
        10.78.0.100/24
    }}
}}

vrrp_instance VI_2 {{
    interface eth0
    virtual_router_id 79
    priority 150
    advert_int 0.2
    track_interface {{
        tv0
    }}
    virtual_ipaddress {{
        10.78.0.200/24
    }}
}}

virtual_server_group WEB {{
    10.78.0.100-101 80
}}

virtual_server group WEB {{
    delay_loop 1
    lvs_sched mh
    mh-port
    mh-fallback
    lvs_method DR
    protocol TCP
    inhibit_on_failure
    quorum 2
    quorum_up "{n} quorum-up"
    quorum_down "{n} quorum-down"
    omega
    sorry_server 10.78.0.13
    sorry_server_inhibit
    real_server 10.78.0.11 {{
        notify_up "{n} rs1-up"
        notify_down "{n} rs1-down"
        TCP_CHECK {{
            connect_port 80
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
        }}
    }}
    real_server 10.78.0.12 {{
        inhibit_on_failure false
        TCP_CHECK {{
            connect_port 80
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
        }}
    }}
}}

virtual_server 10.78.0.100 53 {{
    lvs_sched sh
    sh-port
    ops
    lvs_method DR
    protocol UDP
    real_server 10.78.0.11 53 {{
        uthreshold 100
        lthreshold 10
    }}
    real_server 10.78.0.12 53 {{
        lvs_method NAT
    }}
    real_server 10.78.0.13 53 {{
        lvs_method TUN type gue port 6080
    }}
}}

virtual_server 10.78.0.200 8080 {{
    delay_loop 1
    lvs_sched rr
    lvs_method DR
    ha_suspend
    real_server 10.78.0.12 8080 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
        }}
    }}
}}
"#
    )
}

fn ipvs(h: &Host) -> String {
    h.sh("ipvsadm -Ln")
}

/// The lines of one service's block in `ipvsadm -Ln` (its header and its destinations).
fn service(h: &Host, header: &str) -> String {
    let t = ipvs(h);
    let mut out = String::new();
    let mut inside = false;
    for l in t.lines() {
        if l.starts_with("TCP") || l.starts_with("UDP") || l.starts_with("FWM") {
            inside = l.contains(header);
        }
        if inside {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The weight of `dest` in a service block, if listed.
fn weight(block: &str, dest: &str) -> Option<u32> {
    block
        .lines()
        .find(|l| l.contains(&format!("-> {dest} ")))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|w| w.parse().ok())
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("notify.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn dump(p: &Proc, h: &Host, dir: &Path) -> String {
    format!(
        "--- ipvsadm ---\n{}\n--- notify.log ---\n{:?}\n--- stderr ---\n{}",
        ipvs(h),
        log(dir),
        p.stderr()
    )
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_director_lvs_keywords_drive_ipvs_and_scripts() {
    require_vm();
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_mh", "ip_vs_sh", "ip_vs_rr"]);
    let mut lab = Lab::new("dlvs");
    let d = lab.add_host("d1", &["10.78.0.2/24"]);
    let rs1 = lab.add_host("rs1", &["10.78.0.11/24"]);
    let rs2 = lab.add_host("rs2", &["10.78.0.12/24"]);
    let dir = lab.dir().to_path_buf();
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\n",
            dir.join("notify.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.join("keepalived.conf");
    std::fs::write(&cfg, conf(&dir)).unwrap();
    // The interface VI_2 tracks: down, so VI_2 stays in FAULT (ha_suspend's address absent).
    d.sh("ip link add tv0 type veth peer name tv1");
    // A service left behind by someone: lvs_flush removes it.
    d.sh("ipvsadm -A -t 10.78.0.250:99 -s rr");
    assert!(ipvs(&d).contains("10.78.0.250:99"), "{}", ipvs(&d));

    let l1 = rs1.run_in(|| TcpListener::bind("10.78.0.11:80").unwrap());
    let l2 = rs2.run_in(|| TcpListener::bind("10.78.0.12:80").unwrap());
    let sock = dir.join("status.sock");
    let p = lab.spawn(
        &d,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            cfg.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );

    // Start: flushed, timeouts set, one service per group address with the flags, the
    // sorry server inhibited (weight 0), the UDP service with sh-port and ops.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let b = service(&d, "10.78.0.101:80");
            weight(&b, "10.78.0.11:80") == Some(1) && weight(&b, "10.78.0.12:80") == Some(1)
        }),
        "the group's services never came up\n{}",
        dump(&p, &d, &dir)
    );
    let t = ipvs(&d);
    assert!(!t.contains("10.78.0.250:99"), "lvs_flush: {t}");
    for block in [service(&d, "10.78.0.100:80"), service(&d, "10.78.0.101:80")] {
        assert!(
            block.contains("mh") && block.contains("mh-fallback") && block.contains("mh-port"),
            "{block}"
        );
        assert_eq!(weight(&block, "10.78.0.13:80"), Some(0), "{block}");
    }
    let udp = service(&d, "10.78.0.100:53");
    assert!(
        udp.contains("sh") && udp.contains("sh-port") && udp.contains("ops"),
        "{udp}"
    );
    // Per real server: thresholds, and its own forwarding method.
    let th = d.sh("ipvsadm -Ln --thresholds -u 10.78.0.100:53");
    let rs1_th: Vec<&str> = th
        .lines()
        .find(|l| l.contains("-> 10.78.0.11:53"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(rs1_th.get(2..4), Some(&["100", "10"][..]), "{th}");
    assert!(
        udp.lines()
            .any(|l| l.contains("-> 10.78.0.12:53") && l.contains("Masq")),
        "{udp}"
    );
    assert!(
        udp.lines()
            .any(|l| l.contains("-> 10.78.0.13:53") && l.contains("Tunnel")),
        "a GUE tunnel destination: {udp}"
    );
    let timeouts = d.sh("ipvsadm -L --timeout");
    assert!(timeouts.contains("901 31 121"), "{timeouts}");
    assert!(log(&dir).is_empty(), "no script at start: {:?}", log(&dir));

    // ha_suspend: VI_2 is not master, so the failing check of 10.78.0.12:8080 (nothing
    // listens) is held: it stays in the pool.
    std::thread::sleep(Duration::from_secs(4));
    let suspended = service(&d, "10.78.0.200:8080");
    assert_eq!(
        weight(&suspended, "10.78.0.12:8080"),
        Some(1),
        "checks suspended: {suspended}\n{}",
        dump(&p, &d, &dir)
    );

    // rs2 dies: the quorum (2) is lost: quorum_down runs, the sorry server takes the
    // traffic, rs1 (inhibit_on_failure from the virtual server) goes to weight 0, rs2 (its own
    // inhibit_on_failure false) leaves.
    drop(l2);
    assert!(
        wait_until(Duration::from_secs(15), || {
            let b = service(&d, "10.78.0.100:80");
            weight(&b, "10.78.0.13:80") == Some(1)
                && weight(&b, "10.78.0.11:80") == Some(0)
                && weight(&b, "10.78.0.12:80").is_none()
        }),
        "quorum loss\n{}",
        dump(&p, &d, &dir)
    );
    assert!(
        wait_until(Duration::from_secs(5), || log(&dir) == ["quorum-down"]),
        "{:?}",
        log(&dir)
    );
    // rs1 dies and comes back: its notify_down / notify_up.
    drop(l1);
    assert!(
        wait_until(Duration::from_secs(15), || log(&dir).len() == 2),
        "{}",
        dump(&p, &d, &dir)
    );
    assert_eq!(log(&dir)[1], "rs1-down");
    let _l1 = rs1.run_in(|| TcpListener::bind("10.78.0.11:80").unwrap());
    let _l2 = rs2.run_in(|| TcpListener::bind("10.78.0.12:80").unwrap());
    assert!(
        wait_until(Duration::from_secs(15), || log(&dir).len() == 4),
        "{}",
        dump(&p, &d, &dir)
    );
    assert_eq!(log(&dir)[2..], ["rs1-up", "quorum-up"]);
    let b = service(&d, "10.78.0.101:80");
    assert_eq!(weight(&b, "10.78.0.13:80"), Some(0), "{b}");
    assert_eq!(weight(&b, "10.78.0.11:80"), Some(1), "{b}");

    // VI_2's tracked link comes up: it becomes master, the held failure applies.
    d.sh("ip link set tv1 up && ip link set tv0 up");
    assert!(
        wait_until(Duration::from_secs(15), || weight(
            &service(&d, "10.78.0.200:8080"),
            "10.78.0.12:8080"
        )
        .is_none()),
        "ha_suspend: the check never resumed\n{}",
        dump(&p, &d, &dir)
    );

    // Stop: omega runs rs1's notify_down and quorum_down; the services go.
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit(Duration::from_secs(15)),
        "{}",
        dump(&p, &d, &dir)
    );
    assert!(
        wait_until(Duration::from_secs(5), || log(&dir).len() == 6),
        "{}",
        dump(&p, &d, &dir)
    );
    assert_eq!(log(&dir)[4..], ["rs1-down", "quorum-down"]);
    let t = ipvs(&d);
    assert!(!t.contains("10.78.0.10"), "{t}");
}

/// A resource group's `virtual_server` step: the service is in IPVS only while its instance
/// is master; `lvs_flush_on_stop = "all"` empties the whole table on stop, someone else's
/// service too.
#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_director_virtual_server_step_and_flush_on_stop() {
    require_vm();
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_rr"]);
    let mut lab = Lab::new("dgate");
    let d = lab.add_host("d1", &["10.79.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let sock = dir.join("status.sock");
    let cfg = dir.join("gate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[global]
status_socket = "{}"
lvs_flush_on_stop = "all"

[[instances]]
name = "VI"
interface = "eth0"
vrid = 80
advert_int_ms = 200
vips = ["10.79.0.100/24"]
track_interfaces = [{{ name = "tv0" }}]

[[resource_groups]]
name = "rg"
instance = "VI"
steps = [{{ kind = "virtual_server", name = "gated" }}]

[[virtual_servers]]
name = "gated"
address = "10.79.0.100"
port = 80
scheduler = "rr"
method = "dr"
real_servers = [{{ address = "10.79.0.11", port = 80 }}]

[[virtual_servers]]
name = "always"
address = "10.79.0.101"
port = 80
scheduler = "rr"
method = "dr"
real_servers = [{{ address = "10.79.0.11", port = 80 }}]
"#,
            sock.display()
        ),
    )
    .unwrap();
    d.sh("ip link add tv0 type veth peer name tv1");
    let p = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let show = |p: &Proc| format!("{}\n--- stderr ---\n{}", ipvs(&d), p.stderr());
    assert!(
        wait_until(Duration::from_secs(20), || ipvs(&d)
            .contains("10.79.0.101:80")),
        "{}",
        show(&p)
    );
    // VI is in FAULT (its tracked link is down): the gated service is not installed.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!ipvs(&d).contains("10.79.0.100:80"), "{}", show(&p));
    // VI becomes master: installed with its real server; back to fault: deleted.
    d.sh("ip link set tv1 up && ip link set tv0 up");
    assert!(
        wait_until(Duration::from_secs(15), || weight(
            &service(&d, "10.79.0.100:80"),
            "10.79.0.11:80"
        ) == Some(1)),
        "{}",
        show(&p)
    );
    d.sh("ip link set tv1 down");
    assert!(
        wait_until(Duration::from_secs(15), || !ipvs(&d)
            .contains("10.79.0.100:80")),
        "{}",
        show(&p)
    );
    // Someone else's service; a stop with lvs_flush_on_stop all removes it too.
    d.sh("ipvsadm -A -t 10.79.0.250:99 -s rr");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)), "{}", show(&p));
    let t = ipvs(&d);
    assert!(
        !t.contains("10.79.0.101:80") && !t.contains("10.79.0.250:99"),
        "{t}"
    );
}
