//! Host suite: heartbeat's `hb_standby` / `hb_takeover` and timings, run by two `ha-director`
//! processes on netns hosts (TOML configurations):
//! - `standby` on the master moves the VIP to the peer, `takeover` takes it back; both
//!   survive a SIGHUP reload that re-creates the instance; `status` shows the mode;
//! - `dead_interval_ms`: after a SIGKILL of the master the peer takes over after the dead
//!   interval, not 3 x advert interval + skew; `warn_interval_ms` logs, reports and counts the
//!   late master first; `init_dead_ms` delays the first election of a node started alone;
//! - a resource step that fails to start moves the VIP to the peer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_root, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

/// One node's TOML: sockets in the lab's folder, one instance `VI_1` with `extra` lines.
fn config(dir: &Path, node: &str, prio: u8, extra: &str, tail: &str) -> PathBuf {
    let p = dir.join(format!("{node}.toml"));
    let text = format!(
        r#"[global]
status_socket = "{d}/{node}.status"
control_socket = "{d}/{node}.control"

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 71
priority = {prio}
advert_int_ms = 200
vips = ["10.71.0.100/24"]
{extra}
{tail}"#,
        d = dir.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn run(lab: &mut Lab, host: &Host, cfg: &Path) -> Proc {
    lab.spawn(host, &[BIN, "run", "--config", cfg.to_str().unwrap()])
}

/// `ha-director WORD [--socket PATH]`: exit status and stdout.
fn admin(dir: &Path, node: &str, word: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args([word, "--socket"])
        .arg(dir.join(format!("{node}.control")))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn status(dir: &Path, node: &str) -> serde_json::Value {
    ha_testsupport::director_status(BIN, &dir.join(format!("{node}.status")))
        .unwrap_or(serde_json::Value::Null)
}

const VIP: &str = "10.71.0.100";

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_standby_and_takeover_move_the_vip_and_survive_a_reload() {
    require_root();
    let mut lab = Lab::new("hdadm");
    let a = lab.add_host("a", &["10.71.0.1/24"]);
    let b = lab.add_host("b", &["10.71.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let ca = config(&dir, "a", 101, "", "");
    let cb = config(&dir, "b", 100, "", "");
    let pa = run(&mut lab, &a, &ca);
    let pb = run(&mut lab, &b, &cb);
    let logs = || format!("--- a ---\n{}\n--- b ---\n{}", pa.stderr(), pb.stderr());
    assert!(
        wait_until(Duration::from_secs(10), || a.holds(VIP) && !b.holds(VIP)),
        "a (101) is master\n{}",
        logs()
    );
    // Standby: the VIP goes to b at once (priority 0), and stays there.
    let (ok, reply) = admin(&dir, "a", "standby");
    assert!(ok, "{reply}\n{}", logs());
    assert!(reply.contains("\"ok\":true"), "{reply}");
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || b.holds(VIP) && !a.holds(VIP)),
        "standby moves the VIP\n{}",
        logs()
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let s = status(&dir, "a");
    assert_eq!(s["instances"][0]["admin"]["mode"], "standby", "{s}");
    assert_eq!(s["instances"][0]["priority"], 1, "{s}");
    // A reload with a new priority keeps the mode: b keeps the VIP.
    config(&dir, "a", 120, "", "");
    pa.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || pa
            .stderr()
            .contains("configuration reloaded")),
        "{}",
        logs()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(b.holds(VIP) && !a.holds(VIP), "{}", logs());
    // Takeover: a takes it back at once; a reload keeps it there.
    let (ok, reply) = admin(&dir, "a", "takeover");
    assert!(ok, "{reply}");
    assert!(
        wait_until(Duration::from_secs(3), || a.holds(VIP) && !b.holds(VIP)),
        "takeover moves the VIP back\n{}",
        logs()
    );
    config(&dir, "a", 110, "", "");
    pa.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.holds(VIP) && !b.holds(VIP), "{}", logs());
    let s = status(&dir, "a");
    assert_eq!(s["instances"][0]["admin"]["mode"], "takeover", "{s}");
    // Garbage and unknown instances are refused with exit 1.
    let (ok, reply) = admin(&dir, "a", "auto");
    assert!(ok, "{reply}");
    let out = Command::new(BIN)
        .args(["standby", "NOPE", "--socket"])
        .arg(dir.join("a.control"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no instance"));
    pa.kill(libc::SIGTERM);
    pb.kill(libc::SIGTERM);
    drop(lab);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_deadtime_warntime_and_initdead() {
    require_root();
    let mut lab = Lab::new("hddead");
    let a = lab.add_host("a", &["10.71.0.1/24"]);
    let b = lab.add_host("b", &["10.71.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    // RFC timing with 200 ms adverts would be about 0.8 s; the dead interval is 2.5 s.
    let hb = "dead_interval_ms = 2500\nwarn_interval_ms = 1000\ninit_dead_ms = 4000";
    let ca = config(&dir, "a", 101, hb, "");
    let cb = config(&dir, "b", 100, hb, "");
    let pa = run(&mut lab, &a, &ca);
    // initdead: a alone waits 4 s before taking over.
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || a.holds(VIP)),
        "{}",
        pa.stderr()
    );
    let first = started.elapsed();
    assert!(
        first > Duration::from_millis(3500) && first < Duration::from_secs(7),
        "initdead: {first:?}"
    );
    let pb = run(&mut lab, &b, &cb);
    std::thread::sleep(Duration::from_secs(2));
    assert!(!b.holds(VIP));
    // deadtime: SIGKILL (no priority 0); b takes over about 2.5 s after a's last advert.
    pa.kill(libc::SIGKILL);
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(8), || b.holds(VIP)),
        "{}",
        pb.stderr()
    );
    let took = killed.elapsed();
    assert!(
        took > Duration::from_millis(1800) && took < Duration::from_millis(4500),
        "takeover after {took:?}, dead interval 2.5 s"
    );
    // warntime: logged, counted in the status and the metric.
    assert!(
        pb.stderr()
            .contains("late advert: no advert from the master for"),
        "{}",
        pb.stderr()
    );
    let s = status(&dir, "b");
    assert_eq!(s["instances"][0]["late_adverts"], 1, "{s}");
    pb.kill(libc::SIGTERM);
    drop(lab);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_a_failing_step_start_moves_the_vip_to_the_peer() {
    require_root();
    let mut lab = Lab::new("hdstep");
    let a = lab.add_host("a", &["10.71.0.1/24"]);
    let b = lab.add_host("b", &["10.71.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let steps = |cmd: &str| {
        format!(
            "[[resource_groups]]\nname = \"rg\"\ninstance = \"VI_1\"\nsteps = [ {{ kind = \"script\", start = \"{cmd}\", stop = \"true\" }} ]\n"
        )
    };
    let ca = config(&dir, "a", 101, "", &steps("false"));
    let cb = config(&dir, "b", 100, "", &steps("true"));
    let pb = run(&mut lab, &b, &cb);
    std::thread::sleep(Duration::from_millis(300));
    let pa = run(&mut lab, &a, &ca);
    let logs = || format!("--- a ---\n{}\n--- b ---\n{}", pa.stderr(), pb.stderr());
    assert!(
        wait_until(Duration::from_secs(10), || pa
            .stderr()
            .contains("standby, the resources go to the peer")),
        "{}",
        logs()
    );
    assert!(
        wait_until(Duration::from_secs(5), || b.holds(VIP) && !a.holds(VIP)),
        "{}",
        logs()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(b.holds(VIP) && !a.holds(VIP), "{}", logs());
    let s = status(&dir, "a");
    assert_eq!(s["instances"][0]["admin"]["reason"], "start failed", "{s}");
    pa.kill(libc::SIGTERM);
    pb.kill(libc::SIGTERM);
    drop(lab);
}
