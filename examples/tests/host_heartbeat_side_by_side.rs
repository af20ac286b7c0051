//! Host suite: ONE set of heartbeat files (ha.cf with ucast lines for both nodes, sha1
//! authkeys, `haresources` `n1 IPaddr2::VIP/24/eth0`) run by the Debian heartbeat 3.0.6 on two
//! netns nodes, then by two `ha-director --heartbeat-dir` nodes, in the same run: the home node
//! takes the VIP, and when the whole node is killed the other takes it over. Printed side by
//! side: the takeover time after the kill, against `deadtime`, and the ratio. Real heartbeat
//! runs as TESTBED.md describes (its own /etc/ha.d, /var/lib/heartbeat and /run in a mount
//! namespace, its node name in a UTS namespace).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_tool, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
const VIP: &str = "10.87.0.100";
const DEADTIME: Duration = Duration::from_secs(4);

fn files(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let set = dir.join("set");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(
        set.join("ha.cf"),
        "logfile /var/log/ha-log\nkeepalive 1\ndeadtime 4\nwarntime 2\ninitdead 8\nudpport 694\n\
         ucast eth0 10.87.0.1\nucast eth0 10.87.0.2\nauto_failback on\nnode n1\nnode n2\n",
    )
    .unwrap();
    std::fs::write(
        set.join("haresources"),
        format!("n1 IPaddr2::{VIP}/24/eth0\n"),
    )
    .unwrap();
    std::fs::write(set.join("authkeys"), "auth 1\n1 sha1 side-by-side-secret\n").unwrap();
    std::fs::set_permissions(set.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    set
}

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts heartbeat for `node` in `host`: its own copy of /etc/ha.d with the set's files.
fn start_heartbeat(lab: &mut Lab, host: &Host, node: &str, dir: &Path, set: &Path) -> Proc {
    let nd = dir.join(node);
    sh(&format!(
        "mkdir -p {nd}/ha.d {nd}/lib {nd}/log && cp -a /etc/ha.d/. {nd}/ha.d/ && \
         cp -a /var/lib/heartbeat/. {nd}/lib/ && cp -p {set}/ha.cf {set}/haresources {set}/authkeys {nd}/ha.d/",
        nd = nd.display(),
        set = set.display()
    ));
    // heartbeat daemonizes: the shell stays while it runs, so the lab can see it.
    let script = format!(
        "hostname {node}; mount --bind {nd}/ha.d /etc/ha.d; mount --bind {nd}/lib /var/lib/heartbeat; \
         mount --bind {nd}/log /var/log; mount -t tmpfs tmpfs /run; \
         mkdir -p /run/resource-agents /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd; \
         {HEARTBEAT} || exit $?; while sleep 1; do :; done",
        nd = nd.display()
    );
    lab.spawn(
        host,
        &[
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ],
    )
}

fn start_ours(lab: &mut Lab, host: &Host, node: &str, dir: &Path, set: &Path) -> Proc {
    let status = dir.join(format!("{node}.status.sock"));
    let control = dir.join(format!("{node}.control.sock"));
    lab.spawn(
        host,
        &[
            BIN,
            "run",
            "--heartbeat-dir",
            set.to_str().unwrap(),
            "--node",
            node,
            "--status-socket",
            status.to_str().unwrap(),
            "--control-socket",
            control.to_str().unwrap(),
        ],
    )
}

struct Figures {
    startup: Duration,
    takeover: Duration,
}

fn scenario(stack: &str, ours: bool) -> Figures {
    let mut lab = Lab::new(stack);
    let n1 = lab.add_host("n1", &["10.87.0.1/24"]);
    let n2 = lab.add_host("n2", &["10.87.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let set = files(&dir);
    let started = Instant::now();
    let (p1, p2) = if ours {
        (
            start_ours(&mut lab, &n1, "n1", &dir, &set),
            start_ours(&mut lab, &n2, "n2", &dir, &set),
        )
    } else {
        (
            start_heartbeat(&mut lab, &n1, "n1", &dir, &set),
            start_heartbeat(&mut lab, &n2, "n2", &dir, &set),
        )
    };
    let logs = || {
        format!(
            "{}\n{}\n{}",
            p1.stderr(),
            p2.stderr(),
            std::fs::read_to_string(dir.join("n1/log/ha-log")).unwrap_or_default()
        )
    };
    assert!(
        wait_until(Duration::from_secs(60), || n1.holds(VIP)),
        "{stack}: n1 takes the VIP\n{}",
        logs()
    );
    let startup = started.elapsed();
    assert!(!n2.holds(VIP), "{stack}: only the home node holds it");
    // Steady state: n2 has heard n1 for a while.
    std::thread::sleep(Duration::from_secs(3));
    n1.kill_all();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || n2.holds(VIP)),
        "{stack}: n2 takes over\n{}",
        logs()
    );
    let takeover = killed.elapsed();
    n2.kill_all();
    drop(lab);
    Figures { startup, takeover }
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_heartbeat_and_ours_side_by_side_on_one_set_of_files() {
    require_tool(HEARTBEAT, "heartbeat");
    require_tool("unshare", "util-linux");
    let theirs = scenario("hbreal", false);
    let ours = scenario("hbours", true);
    println!("one set of heartbeat files, deadtime {DEADTIME:?}, keepalive 1 s:");
    println!("                     heartbeat 3.0.6   ha-director   ours/heartbeat");
    println!(
        "  startup to VIP     {:>10.2?}      {:>10.2?}    {:.2}",
        theirs.startup,
        ours.startup,
        ours.startup.as_secs_f64() / theirs.startup.as_secs_f64()
    );
    println!(
        "  takeover after kill{:>10.2?}      {:>10.2?}    {:.2}",
        theirs.takeover,
        ours.takeover,
        ours.takeover.as_secs_f64() / theirs.takeover.as_secs_f64()
    );
    // Both declare the peer dead after deadtime, counted from its last heartbeat (at most one
    // keepalive before the kill); heartbeat then runs its resource scripts.
    let low = DEADTIME - Duration::from_millis(1200);
    assert!(
        ours.takeover >= low && ours.takeover <= DEADTIME + Duration::from_secs(2),
        "ours took over after {:?}",
        ours.takeover
    );
    assert!(
        theirs.takeover >= low && theirs.takeover <= DEADTIME + Duration::from_secs(30),
        "heartbeat took over after {:?}",
        theirs.takeover
    );
}
