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
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let (conf, p1, p2, p3) = (
        conf.to_string_lossy().into_owned(),
        p("k.pid"),
        p("v.pid"),
        p("c.pid"),
    );
    lab.spawn(
        host,
        &[
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            &conf,
            "-p",
            &p1,
            "-r",
            &p2,
            "-c",
            &p3,
        ],
    )
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
        "--version",
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

fn ka_instance(version: u8, prio: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  version {version}\n  priority {prio}\n  advert_int {adv}\n  {extra}\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}",
        adv = if version == 2 { "1" } else { "0.2" }
    )
}

/// One interop scenario: keepalived on `b` with `ka_prio`, ours on `a` with `our_prio`.
fn interop(version: u8, ipv6: bool, our_prio: u8, ka_prio: u8, auth: bool) {
    require_root();
    let mut lab = Lab::new(&format!("ka{version}{}", if ipv6 { "six" } else { "four" }));
    let (a_addr, b_addr, vip_cidr, vip) = if ipv6 {
        ("fd91::1/64", "fd91::2/64", "fd91::100/64", "fd91::100")
    } else {
        (
            "10.91.0.1/24",
            "10.91.0.2/24",
            "10.91.0.100/24",
            "10.91.0.100",
        )
    };
    let a = lab.add_host("a", &[a_addr]);
    let b = lab.add_host("b", &[b_addr]);
    let extra = if auth {
        "authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }"
    } else {
        ""
    };
    let interval = if version == 2 { "1000" } else { "200" };
    let prio = our_prio.to_string();
    let ver = version.to_string();
    let mut args = vec![
        "--vrid",
        "52",
        "--version",
        &ver,
        "--interval-ms",
        interval,
        "--priority",
        &prio,
        "--vip",
        vip_cidr,
    ];
    if auth {
        args.extend_from_slice(&["--auth-pass", "s3cret"]);
    }
    let ka = keepalived(
        &mut lab,
        &b,
        &ka_instance(version, ka_prio, vip_cidr, extra),
    );
    let ours = speaker(&mut lab, &a, &args);
    let ours_wins = our_prio > ka_prio;
    let (winner, loser) = if ours_wins { (&a, &b) } else { (&b, &a) };
    let settle = Duration::from_secs(if version == 2 { 8 } else { 4 });
    wait_vip(
        winner,
        vip,
        true,
        settle,
        "the higher priority wins the election",
    );
    // Both may time out at startup (RFC 9568 6.4.2); the lower priority then yields at once.
    wait_vip(loser, vip, false, settle, "the lower priority yields");
    // No flapping: the loser never takes the VIP over a few intervals.
    let calm = Instant::now();
    while calm.elapsed() < Duration::from_secs(if version == 2 { 3 } else { 1 }) {
        assert!(
            !has(loser, vip),
            "the lower priority holds the VIP too: split brain"
        );
        assert!(has(winner, vip), "the winner lost the VIP: flapping");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The winner goes away for good; the other takes over.
    let (gone, survivor) = if ours_wins {
        (&ours, loser)
    } else {
        (&ka, loser)
    };
    gone.kill(libc::SIGKILL);
    wait_vip(
        survivor,
        vip,
        true,
        settle,
        "the survivor takes over after SIGKILL",
    );
    assert!(
        ka.is_running() || !ours_wins,
        "keepalived died: {}",
        ka.stderr()
    );
}

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
