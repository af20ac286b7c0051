//! VM suite: `examples/director/keepalived-complete.conf`, a keepalived.conf using every part
//! of keepalived 2.2.7 that ha-director runs (issue 15), is accepted by `keepalived -t` and
//! by `ha-director check-config` without a warning, and runs: its instances become master,
//! its virtual servers (a group of three addresses, a UDP service, a fwmark tunnel service)
//! are in the kernel's IPVS table, its virtual and static addresses, routes and rules are in
//! place, and a stop takes them all away again (`lvs_flush_onstop`).
//!
//! Bounds are loose (the VM runs under TCG).

use std::path::Path;
use std::time::Duration;

use ha_testsupport::{Host, Lab, require_vm, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("director/keepalived-complete.conf")
        .to_string_lossy()
        .into_owned()
}

fn has(h: &Host, cmd: &str, needle: &str) -> bool {
    h.sh(cmd).contains(needle)
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_keepalived_complete_conf_runs() {
    require_vm();
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_mh", "ip_vs_sh", "ip_vs_wlc"]);
    let mut lab = Lab::new("kcomp");
    let d = lab.add_host("d1", &["10.90.0.1/24"]);
    d.sh(
        "ip link add eth1 type veth peer name peth1 && ip link set eth1 up && ip link set peth1 up",
    );
    // The tracked process (`vrrp_track_process web { process sleep }`).
    let _web = lab.spawn(&d, &["sleep", "1000"]);
    let conf = sample();

    let k = d.exec(&["keepalived", "-t", "-f", &conf]);
    assert!(
        k.status.success(),
        "keepalived -t: {}{}",
        String::from_utf8_lossy(&k.stdout),
        String::from_utf8_lossy(&k.stderr)
    );
    let c = d.exec(&[
        BIN,
        "--config-id",
        "lb1",
        "check-config",
        "--keepalived-conf",
        &conf,
    ]);
    let err = String::from_utf8_lossy(&c.stderr).into_owned();
    assert!(c.status.success(), "{err}");
    assert!(!err.contains("warning"), "no keyword ignored: {err}");

    let sock = lab.dir().join("complete.sock");
    let p = lab.spawn(
        &d,
        &[
            BIN,
            "--config-id",
            "lb1",
            "run",
            "--keepalived-conf",
            &conf,
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    let services = [
        "TCP  10.90.0.100:80 mh",
        "TCP  10.90.0.101:80 mh",
        "TCP  10.90.0.102:80 mh",
        "UDP  10.90.0.100:53 sh",
        "FWM  9 wlc",
    ];
    let up = wait_until(Duration::from_secs(60), || {
        let t = d.sh("ipvsadm -Ln");
        services.iter().all(|s| t.contains(s))
            && has(&d, "ip -o addr show dev eth0", "10.90.0.100/24")
            && has(&d, "ip -o addr show dev eth1", "192.168.90.100/24")
    });
    assert!(
        up,
        "--- ipvsadm ---\n{}\n--- addresses ---\n{}\n--- stderr ---\n{}",
        d.sh("ipvsadm -Ln"),
        d.sh("ip -o addr"),
        p.stderr()
    );
    // Statics everywhere, virtual routes and rules on the master.
    assert!(has(&d, "ip -o addr show dev eth1", "192.168.90.1/24"));
    assert!(has(&d, "ip route show 10.91.0.0/16", "via 192.168.90.254"));
    assert!(has(&d, "ip route show 10.92.0.0/16", "via 10.90.0.254"));
    let rules = d.sh("ip rule show");
    assert!(rules.contains("from 192.168.90.0/24 lookup 90"), "{rules}");
    assert!(rules.contains("from 10.90.0.100 lookup 91"), "{rules}");
    // lvs_timeouts.
    assert!(
        has(&d, "ipvsadm -L --timeout", "900 30 120"),
        "{}",
        d.sh("ipvsadm -L --timeout")
    );
    // The maintenance file was created (init_file).
    assert!(Path::new("/run/keepalived-complete.maint").exists());
    assert!(!p.stderr().contains("warning: `"), "{}", p.stderr());

    // A graceful stop takes everything it added away again.
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(20)), "{}", p.stderr());
    let t = d.sh("ipvsadm -Ln");
    assert!(services.iter().all(|s| !t.contains(s)), "{t}");
    assert!(!has(&d, "ip -o addr show dev eth0", "10.90.0.100/24"));
    assert!(
        !has(&d, "ip -o addr show dev eth1", "192.168.90.1/24"),
        "static address removed at stop"
    );
    assert!(!has(&d, "ip rule show", "lookup 90"));
    let _ = std::fs::remove_file("/run/keepalived-complete.maint");
    drop(lab);
}
