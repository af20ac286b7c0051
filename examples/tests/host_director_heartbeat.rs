//! Host suite: two `ha-director run --heartbeat-dir` nodes in netns reading ONE set of heartbeat
//! files (the same `ha.cf`, `haresources` and a sha1 `authkeys` for both, as heartbeat users
//! keep them): the home node takes its resource group in order (address, a tmpfs
//! `Filesystem`, a `resource.d` script that sees the mount), the other takes over within
//! `deadtime` when it is killed (not 3 x keepalive + skew), `standby` gives the group away
//! and `takeover` takes it back, and with `auto_failback on` the restarted home node takes it
//! back after `initdead`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

/// keepalive 200 ms, deadtime 1500 ms, initdead 2500 ms.
const DEADTIME: Duration = Duration::from_millis(1500);

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The heartbeat directory both nodes read, and the log the probe resource writes.
fn heartbeat_dir(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let hb = dir.join("ha.d");
    std::fs::create_dir_all(hb.join("resource.d")).unwrap();
    let log = dir.join("resources.log");
    let mnt = dir.join("mnt");
    write(
        &hb.join("ha.cf"),
        "logfacility local0\nkeepalive 200ms\ndeadtime 1500ms\nwarntime 800ms\ninitdead 2500ms\n\
         udpport 694\nucast eth0 10.86.0.1\nucast eth0 10.86.0.2\nauto_failback on\nnode n1 n2\n",
    );
    write(
        &hb.join("haresources"),
        &format!(
            "n1 IPaddr2::10.86.0.100/24/eth0 \\\n   Filesystem::tmpfs::{}::tmpfs \\\n   probe::{}::{}\n",
            mnt.display(),
            log.display(),
            mnt.display()
        ),
    );
    let keys = hb.join("authkeys");
    write(&keys, "auth 1\n1 sha1 0f1e2d3c4b5a\n");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The probe: records which node started or stopped it and whether the mount (started
    // before it) is there, like heartbeat's resource scripts (ARGS... start|stop|status).
    let probe = hb.join("resource.d").join("probe");
    write(
        &probe,
        "#!/bin/sh\nlog=$1; mnt=$2; op=$3\nns=$(ip netns identify $$)\n\
         if mountpoint -q \"$mnt\"; then m=mounted; else m=unmounted; fi\n\
         echo \"$op ${ns##*-} $m\" >> \"$log\"\n",
    );
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (hb, log)
}

fn start(lab: &mut Lab, host: &Host, hb: &Path, node: &str, dir: &Path) -> Proc {
    let status = dir.join(format!("{node}.sock"));
    let control = dir.join(format!("{node}.control.sock"));
    lab.spawn(
        host,
        &[
            BIN,
            "run",
            "--heartbeat-dir",
            hb.to_str().unwrap(),
            "--node",
            node,
            "--status-socket",
            status.to_str().unwrap(),
            "--control-socket",
            control.to_str().unwrap(),
        ],
    )
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_heartbeat_pair_runs_haresources_in_order_takes_over_within_deadtime_and_fails_back() {
    let mut lab = Lab::new("hb");
    let n1 = lab.add_host("n1", &["10.86.0.1/24"]);
    let n2 = lab.add_host("n2", &["10.86.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let (hb, log) = heartbeat_dir(&dir);
    let p1 = start(&mut lab, &n1, &hb, "n1", &dir);
    let p2 = start(&mut lab, &n2, &hb, "n2", &dir);

    // The home node takes the group after initdead: the address, then the mount, then the
    // probe, which sees the mount.
    assert!(
        wait_until(Duration::from_secs(15), || n1.holds("10.86.0.100")),
        "n1 takes its group\n{}\n{}",
        p1.stderr(),
        p2.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || log_lines(&log)
            .contains(&"start n1 mounted".to_owned())),
        "the probe starts after the mount: {:?}\n{}",
        log_lines(&log),
        p1.stderr()
    );
    assert!(!n2.holds("10.86.0.100"));

    // n1 dies: n2 takes over after deadtime, measured from the kill (the last advert left at
    // most one keepalive before it).
    p1.kill(libc::SIGKILL);
    assert!(p1.wait_exit(Duration::from_secs(5)));
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || n2.holds("10.86.0.100")),
        "n2 takes over\n{}",
        p2.stderr()
    );
    let took = killed.elapsed();
    assert!(
        took >= DEADTIME - Duration::from_millis(300) && took < DEADTIME + Duration::from_secs(2),
        "takeover after {took:?}, deadtime {DEADTIME:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || log_lines(&log)
            .contains(&"start n2 mounted".to_owned())),
        "{:?}",
        log_lines(&log)
    );
    // The killed node's addresses are still in its namespace (nobody removed them): heartbeat's
    // STONITH case. Remove them as a rebooted node would not have them.
    n1.exec(&["ip", "addr", "del", "10.86.0.100/24", "dev", "eth0"]);

    // n1 comes back: auto_failback on gives the group back to it after initdead, and n2
    // stops its resources in reverse order (the probe sees the mount still there).
    let p1 = start(&mut lab, &n1, &hb, "n1", &dir);
    assert!(
        wait_until(Duration::from_secs(15), || n1.holds("10.86.0.100")
            && !n2.holds("10.86.0.100")),
        "failback to n1\n{}\n{}",
        p1.stderr(),
        p2.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || log_lines(&log)
            .contains(&"stop n2 mounted".to_owned())),
        "{:?}",
        log_lines(&log)
    );

    // hb_standby: n1 gives the group to n2 without stopping; hb_takeover takes it back.
    let ctl = |node: &str, cmd: &str| {
        let out = std::process::Command::new(BIN)
            .args([cmd, "group1", "--socket"])
            .arg(dir.join(format!("{node}.control.sock")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd} on {node}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ctl("n1", "standby");
    assert!(
        wait_until(Duration::from_secs(10), || n2.holds("10.86.0.100")
            && !n1.holds("10.86.0.100")),
        "standby moves the group to n2\n{}\n{}",
        p1.stderr(),
        p2.stderr()
    );
    ctl("n1", "takeover");
    assert!(
        wait_until(Duration::from_secs(10), || n1.holds("10.86.0.100")
            && !n2.holds("10.86.0.100")),
        "takeover brings it back\n{}\n{}",
        p1.stderr(),
        p2.stderr()
    );
    ctl("n1", "auto");
    p1.kill(libc::SIGTERM);
    assert!(p1.wait_exit(Duration::from_secs(10)));
    p2.kill(libc::SIGTERM);
    assert!(p2.wait_exit(Duration::from_secs(10)));
    drop(lab);
}
