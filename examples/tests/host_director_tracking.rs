//! Host suite: keepalived tracking read from a keepalived.conf and run by the `ha-director`
//! binary in netns hosts, against keepalived 2.2.7 as the live peer:
//! - `track_file` (the maintenance switch): a value in the file lowers the priority and the
//!   VIP moves to the peer; removing the file brings it back; `init_file` creates the file;
//! - `vrrp_track_process`: killing the tracked process (a `sleep` with a distinctive argument)
//!   faults the instance and the VIP moves; starting it again recovers;
//! - `dont_track_primary`: with it an instance stays master when its own link goes down,
//!   without it the instance goes to FAULT;
//! - sync-group tracking faults every member, `weight W reverse` lowers the priority, and
//!   `init_fail` keeps an instance in FAULT from the start;
//! - keepalived itself accepts the tracking sample (`keepalived -t`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use ha_testsupport::{Lab, Proc, require_root, require_tool, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const VIP: &str = "10.63.0.100";

fn status(sock: &Path) -> Option<Value> {
    ha_testsupport::director_status(BIN, sock)
}

/// The `field` of instance `name` in the status.
fn inst(sock: &Path, name: &str, field: &str) -> Value {
    status(sock)
        .and_then(|v| {
            v["instances"]
                .as_array()?
                .iter()
                .find(|i| i["name"] == name)
                .map(|i| i[field].clone())
        })
        .unwrap_or(Value::Null)
}

fn dump(p: &Proc) -> String {
    format!("--- stderr ---\n{}", p.stderr())
}

/// A `sleep` with an argument no other process has.
fn guard_process(arg: &str) -> Child {
    Command::new("sleep").arg(arg).spawn().expect("sleep")
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_track_file_and_process_move_the_vip_against_keepalived() {
    require_root();
    require_tool("keepalived", "keepalived");
    let mut lab = Lab::new("hdtrack");
    let a = lab.add_host("a", &["10.63.0.1/24"]);
    let k = lab.add_host("k", &["10.63.0.2/24"]);
    let dir: PathBuf = lab.dir().to_path_buf();
    let maint = dir.join("maint");
    // Distinctive: no other process runs `sleep 1000.<this test's pid>`.
    let guard_arg = format!("1000.{}", std::process::id());
    let mut guard = guard_process(&guard_arg);

    let conf_a = dir.join("a.conf");
    std::fs::write(
        &conf_a,
        format!(
            "global_defs {{\n    router_id a\n}}\n\
             track_file maint {{\n    file {maint}\n    weight -100\n    init_file\n}}\n\
             vrrp_track_process guard {{\n    process sleep {guard_arg}\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 63\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n    track_file {{\n        maint\n    }}\n    track_process {{\n        guard\n    }}\n}}\n",
            maint = maint.display()
        ),
    )
    .unwrap();
    let conf_k = dir.join("k.conf");
    std::fs::write(
        &conf_k,
        format!(
            "global_defs {{\n    router_id k\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 63\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let sock = dir.join("a.sock");
    let pa = lab.spawn(
        &a,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf_a.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    let pk = lab.spawn_keepalived(&k, &conf_k);
    let report = |what: &str| {
        format!(
            "{what}: a holds {} k holds {} a state {} priority {}\n{}\n--- keepalived ---\n{}",
            a.holds(VIP),
            k.holds(VIP),
            inst(&sock, "VI_1", "state"),
            inst(&sock, "VI_1", "priority"),
            dump(&pa),
            pk.stderr()
        )
    };

    // init_file created the file holding 0; the higher priority holds the VIP.
    assert!(
        wait_until(Duration::from_secs(20), || a.holds(VIP) && !k.holds(VIP)),
        "{}",
        report("start")
    );
    assert_eq!(
        std::fs::read_to_string(&maint).unwrap_or_default().trim(),
        "0",
        "init_file"
    );

    // Maintenance: 1 * -100 lowers a to 50, keepalived (100) preempts.
    std::fs::write(&maint, "1\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || k.holds(VIP) && !a.holds(VIP)),
        "{}",
        report("maintenance on")
    );
    assert_eq!(
        inst(&sock, "VI_1", "priority"),
        50,
        "{}",
        report("priority")
    );
    // Back: the file removed reads as 0, a (150) preempts again.
    std::fs::remove_file(&maint).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || a.holds(VIP) && !k.holds(VIP)),
        "{}",
        report("maintenance off")
    );
    assert_eq!(inst(&sock, "VI_1", "priority"), 150);

    // The tracked process exits: weight 0 faults the instance, the VIP moves.
    guard.kill().unwrap();
    guard.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || k.holds(VIP)
            && !a.holds(VIP)
            && inst(&sock, "VI_1", "state") == "FAULT"),
        "{}",
        report("process gone")
    );
    // It runs again: out of FAULT, a takes the VIP back.
    let mut guard = guard_process(&guard_arg);
    assert!(
        wait_until(Duration::from_secs(20), || a.holds(VIP)
            && !k.holds(VIP)
            && inst(&sock, "VI_1", "state") == "MASTER"),
        "{}",
        report("process back")
    );
    // A restart while the process is not running: keepalived scans before its instances
    // start, so the instance starts in FAULT and never takes the VIP; the same here.
    pa.signal(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(10), || !pa.is_running()),
        "{}",
        dump(&pa)
    );
    let _ = guard.kill();
    let _ = guard.wait();
    assert!(wait_until(Duration::from_secs(20), || k.holds(VIP)));
    let pa = lab.spawn(
        &a,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf_a.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    assert!(
        wait_until(Duration::from_secs(10), || inst(&sock, "VI_1", "state")
            == "FAULT"),
        "{}",
        dump(&pa)
    );
    let transitions = inst(&sock, "VI_1", "transitions");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(inst(&sock, "VI_1", "state"), "FAULT");
    assert!(!a.holds(VIP) && k.holds(VIP));
    assert_eq!(
        inst(&sock, "VI_1", "transitions"),
        transitions,
        "started in FAULT, no flap through BACKUP: {}",
        dump(&pa)
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_dont_track_primary_keeps_master_when_its_link_goes_down() {
    require_root();
    let mut lab = Lab::new("hdtrkprim");
    let a = lab.add_host("a", &["10.64.0.1/24"]);
    let dir: PathBuf = lab.dir().to_path_buf();
    let conf = dir.join("a.conf");
    std::fs::write(
        &conf,
        "vrrp_instance KEEP {\n    interface eth0\n    virtual_router_id 64\n    priority 150\n    advert_int 1\n    dont_track_primary\n    virtual_ipaddress {\n        10.64.0.100/24\n    }\n}\n\
         vrrp_instance PLAIN {\n    interface eth0\n    virtual_router_id 65\n    priority 150\n    advert_int 1\n    virtual_ipaddress {\n        10.64.0.101/24\n    }\n}\n",
    )
    .unwrap();
    let sock = dir.join("a.sock");
    let pa = lab.spawn(
        &a,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    assert!(
        wait_until(Duration::from_secs(20), || inst(&sock, "KEEP", "state")
            == "MASTER"
            && inst(&sock, "PLAIN", "state") == "MASTER"),
        "{:?}\n{}",
        status(&sock),
        dump(&pa)
    );
    lab.cut_link(&a);
    assert!(
        wait_until(Duration::from_secs(10), || inst(&sock, "PLAIN", "state")
            == "FAULT"),
        "without dont_track_primary the instance faults on its own link: {:?}\n{}",
        status(&sock),
        dump(&pa)
    );
    // Give KEEP the same time to (wrongly) fault, then check it did not.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        inst(&sock, "KEEP", "state"),
        "MASTER",
        "dont_track_primary: {:?}\n{}",
        status(&sock),
        dump(&pa)
    );
    lab.restore_link(&a);
    assert!(
        wait_until(Duration::from_secs(20), || inst(&sock, "PLAIN", "state")
            == "MASTER"),
        "{:?}\n{}",
        status(&sock),
        dump(&pa)
    );
}

/// Group-level tracking reaches every member, `weight W reverse` lowers the priority while the
/// value is up, and `init_fail` keeps an instance in FAULT from the start (a failing script
/// with `fall 10` would otherwise let it become master for about ten seconds).
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_group_tracking_reverse_and_init_fail() {
    require_root();
    let mut lab = Lab::new("hdtrkgrp");
    let a = lab.add_host("a", &["10.66.0.1/24"]);
    let dir: PathBuf = lab.dir().to_path_buf();
    let (stop, bias) = (dir.join("stop"), dir.join("bias"));
    let conf = dir.join("a.conf");
    let block = |name: &str, vrid: u8, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        10.66.0.{vrid}/24\n    }}\n{extra}}}\n"
        )
    };
    std::fs::write(
        &conf,
        format!(
            "vrrp_script never {{\n    script /bin/false\n    interval 1\n    fall 10\n    init_fail\n}}\n\
             track_file stop_all {{\n    file {}\n}}\n\
             track_file bias {{\n    file {}\n    weight 10 reverse\n}}\n{}{}{}\
             vrrp_sync_group G {{\n    group {{\n        A\n        B\n    }}\n    sync_group_tracking_weight\n    track_file {{\n        stop_all weight 0\n    }}\n}}\n",
            stop.display(),
            bias.display(),
            block("A", 66, "    track_file {\n        bias\n    }\n"),
            block("B", 67, ""),
            block("C", 68, "    track_script {\n        never\n    }\n"),
        ),
    )
    .unwrap();
    let sock = dir.join("a.sock");
    let pa = lab.spawn(
        &a,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    let states =
        || ["A", "B", "C"].map(|n| inst(&sock, n, "state").as_str().unwrap_or("").to_owned());
    // C is in FAULT from the start and never master while A and B become master.
    let mut c_master = false;
    let up = wait_until(Duration::from_secs(20), || {
        let s = states();
        c_master |= s[2] == "MASTER";
        s[0] == "MASTER" && s[1] == "MASTER"
    });
    assert!(up, "{:?}\n{}", states(), dump(&pa));
    for _ in 0..30 {
        c_master |= states()[2] == "MASTER";
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!c_master, "init_fail: C was master\n{}", dump(&pa));
    assert_eq!(states()[2], "FAULT", "{}", dump(&pa));

    // reverse: 2 * 10 subtracted while the file holds 2.
    std::fs::write(&bias, "2\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || inst(&sock, "A", "priority")
            == 130),
        "{:?}\n{}",
        status(&sock),
        dump(&pa)
    );
    // The group's file: any non-zero value faults both members; 0 again brings them back.
    std::fs::write(&stop, "1\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = states();
            s[0] == "FAULT" && s[1] == "FAULT"
        }),
        "{:?}\n{}",
        states(),
        dump(&pa)
    );
    assert!(!a.holds("10.66.0.66") && !a.holds("10.66.0.67"));
    std::fs::write(&stop, "0\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let s = states();
            s[0] == "MASTER" && s[1] == "MASTER"
        }),
        "{:?}\n{}",
        states(),
        dump(&pa)
    );
}

/// The tracking sample of the conversion tests is a file keepalived 2.2.7 accepts as it is:
/// run in a netns that has the interfaces it names.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_keepalived_accepts_the_tracking_sample() {
    require_root();
    require_tool("keepalived", "keepalived");
    let mut lab = Lab::new("hdtrkt");
    let a = lab.add_host("a", &["10.65.0.1/24"]);
    for name in ["eth1", "eth2"] {
        let o = a.exec(&["ip", "link", "add", name, "type", "dummy"]);
        if !o.status.success() {
            let o = a.exec(&[
                "ip",
                "link",
                "add",
                name,
                "type",
                "veth",
                "peer",
                "name",
                &format!("p{name}"),
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/keepalived-tracking.conf");
    let o = a.exec(&["keepalived", "-t", "-f", sample.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "keepalived -t: {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
