//! Host suite: the VRRP keywords of keepalived.conf, run by the `ha-director` binary on netns
//! hosts and judged on the wire (tshark) or against keepalived 2.2.7 as a live peer:
//! GARP/NA tuning (counts and spacing after a takeover), a non-default advert multicast group,
//! `unicast_ttl`, `vrrp_startup_delay`, `virtual_routes`, `state MASTER` and `nopreempt`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_testsupport::{Host, Lab, Proc, require_root, require_tool, tshark_fields, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Starts `ha-director run --keepalived-conf CONF` in `host`.
fn director(lab: &mut Lab, host: &Host, conf: &Path) -> Proc {
    let sock = conf.with_extension("sock");
    lab.spawn(
        host,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    )
}

fn dump(p: &Proc) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        p.stdout(),
        p.stderr()
    )
}

/// Seconds (relative to the capture's start) of the frames matching `filter`.
fn times(pcap: &Path, filter: &str) -> Vec<f64> {
    tshark_fields(pcap, filter, &["frame.time_relative"])
        .iter()
        .map(|r| r[0].parse::<f64>().unwrap())
        .collect()
}

/// One instance in keepalived.conf syntax.
fn instance(name: &str, vrid: u8, extra: &str, vip: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    advert_int 0.2\n{extra}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

/// After a takeover: instance A (global schedule: 3 frames per burst, the second burst 2 s
/// later, ARPs paced 150 ms apart) and instance B (its own: 1 frame, no second burst). The
/// watcher counts the gratuitous ARPs of each VIP and their spacing; nothing more comes after.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_garp_tuning_counts_and_spacing_on_the_wire() {
    require_root();
    let mut lab = Lab::new("hdgarp");
    let a = lab.add_host("a", &["10.62.0.1/24"]);
    let c = lab.add_host("c", &["10.62.0.3/24"]);
    let dir = lab.dir().to_path_buf();
    let text = format!(
        "global_defs {{\n    vrrp_version 3\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_delay 2\n    vrrp_garp_interval 0.15\n}}\n{}{}",
        instance("A", 62, "", "10.62.0.100/24"),
        instance(
            "B",
            63,
            "    garp_master_repeat 1\n    garp_master_delay 0\n",
            "10.62.0.101/24"
        ),
    );
    let conf = write(&dir, "a.conf", &text);
    let cap = lab.capture(&c, "eth0", Some("arp"));
    let p = director(&mut lab, &a, &conf);
    assert!(
        wait_until(Duration::from_secs(10), || a.holds("10.62.0.100")
            && a.holds("10.62.0.101")),
        "a becomes master of both\n{}",
        dump(&p)
    );
    // The second burst is due 2 s after the takeover; leave time for it and for anything
    // that should not come (a refresh, a third burst).
    std::thread::sleep(Duration::from_secs(5));
    let pcap = cap.stop();
    let ga = times(
        &pcap,
        "arp.isgratuitous == 1 && arp.src.proto_ipv4 == 10.62.0.100",
    );
    let gb = times(
        &pcap,
        "arp.isgratuitous == 1 && arp.src.proto_ipv4 == 10.62.0.101",
    );
    assert_eq!(gb.len(), 1, "B: one frame, no second burst: {gb:?}");
    assert_eq!(ga.len(), 6, "A: two bursts of 3: {ga:?}");
    // Paced: within a burst, frames at least ~150 ms apart (the limiter is per interface, so B's
    // frame may sit between two of A's).
    for w in [&ga[0..3], &ga[3..6]] {
        for pair in w.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (0.12..1.0).contains(&gap),
                "paced burst gap {gap:.3} s: {ga:?}"
            );
        }
    }
    // The second burst 2 s after the first.
    let second = ga[3] - ga[0];
    assert!(
        (1.8..3.0).contains(&second),
        "second burst after {second:.3} s: {ga:?}"
    );
}

/// Adverts go to `vrrp_mcast_group4` (or an instance's `mcast_dst_ip`; never to 224.0.0.18),
/// and a keepalived 2.2.7 peer with the same group elects one master with us, in both roles.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_mcast_group_elects_one_master_with_keepalived() {
    require_root();
    for ours_higher in [true, false] {
        let mut lab = Lab::new("hdmcast");
        let a = lab.add_host("a", &["10.63.0.1/24"]);
        let k = lab.add_host("k", &["10.63.0.2/24"]);
        let c = lab.add_host("c", &["10.63.0.3/24"]);
        let dir = lab.dir().to_path_buf();
        let (pa, pk) = if ours_higher { (150, 100) } else { (100, 150) };
        let conf = |name: &str, prio: u8| {
            write(
                &dir,
                &format!("{name}.conf"),
                // The global keyword in one role, the instance's `mcast_dst_ip` in the other.
                &if ours_higher {
                    format!(
                        "global_defs {{\n    router_id {name}\n    vrrp_mcast_group4 224.0.0.42\n}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 64\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        10.63.0.100/24\n    }}\n}}\n"
                    )
                } else {
                    format!(
                        "global_defs {{\n    router_id {name}\n}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 64\n    priority {prio}\n    advert_int 1\n    mcast_dst_ip 224.0.0.42\n    virtual_ipaddress {{\n        10.63.0.100/24\n    }}\n}}\n"
                    )
                },
            )
        };
        let (ca, ck) = (conf("a", pa), conf("k", pk));
        let cap = lab.capture(&c, "eth0", Some("ip proto 112"));
        let p = director(&mut lab, &a, &ca);
        let kp = lab.spawn_keepalived(&k, &ck);
        let (winner, loser) = if ours_higher { (&a, &k) } else { (&k, &a) };
        let one_master = || winner.holds("10.63.0.100") && !loser.holds("10.63.0.100");
        assert!(
            wait_until(Duration::from_secs(20), one_master),
            "ours higher {ours_higher}: a {} k {}\n{}\n--- keepalived ---\n{}",
            a.holds("10.63.0.100"),
            k.holds("10.63.0.100"),
            dump(&p),
            kp.stderr()
        );
        std::thread::sleep(Duration::from_secs(4));
        assert!(
            one_master(),
            "ours higher {ours_higher}: a flap\n{}",
            dump(&p)
        );
        let pcap = cap.stop();
        let dsts = tshark_fields(&pcap, "vrrp", &["ip.src", "ip.dst"]);
        // The master's adverts (ours when ours is higher; a backup never advertises).
        let master_ip = if ours_higher {
            "10.63.0.1"
        } else {
            "10.63.0.2"
        };
        assert!(
            dsts.iter().any(|r| r[0] == master_ip),
            "the master's adverts seen: {dsts:?}"
        );
        assert!(
            dsts.iter().all(|r| r[1] == "224.0.0.42"),
            "every advert to the configured group, none to 224.0.0.18: {dsts:?}"
        );
    }
}

/// `unicast_ttl 64`: our unicast adverts leave with TTL 64, and a keepalived peer doing the
/// same is accepted (keepalived does not hold unicast adverts to TTL 255): one master.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_ttl_on_the_wire_and_with_keepalived() {
    require_root();
    let mut lab = Lab::new("hdttl");
    let a = lab.add_host("a", &["10.64.0.1/24"]);
    let k = lab.add_host("k", &["10.64.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let conf = |name: &str, prio: u8, src: &str, peer: &str| {
        write(
            &dir,
            &format!("{name}.conf"),
            &format!(
                "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 65\n    priority {prio}\n    advert_int 1\n    unicast_ttl 64\n    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n    virtual_ipaddress {{\n        10.64.0.100/24\n    }}\n}}\n"
            ),
        )
    };
    // Ours holds keepalived's adverts to the range 60..=70 (keepalived's peer syntax).
    let ca = conf("a", 100, "10.64.0.1", "10.64.0.2 min_ttl 60 max_ttl 70");
    let ck = conf("k", 150, "10.64.0.2", "10.64.0.1");
    let cap = lab.capture(&a, "eth0", Some("ip proto 112"));
    let p = director(&mut lab, &a, &ca);
    // Ours alone first: it becomes master and advertises with TTL 64.
    assert!(
        wait_until(Duration::from_secs(10), || a.holds("10.64.0.100")),
        "{}",
        dump(&p)
    );
    let kp = lab.spawn_keepalived(&k, &ck);
    // keepalived (higher) takes over; ours accepts its TTL-64 adverts and steps down.
    let one_master = || k.holds("10.64.0.100") && !a.holds("10.64.0.100");
    assert!(
        wait_until(Duration::from_secs(15), one_master),
        "a {} k {}\n{}\n--- keepalived ---\n{}",
        a.holds("10.64.0.100"),
        k.holds("10.64.0.100"),
        dump(&p),
        kp.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(one_master(), "a flap\n{}", dump(&p));
    let pcap = cap.stop();
    let rows = tshark_fields(&pcap, "vrrp", &["ip.src", "ip.dst", "ip.ttl"]);
    let ours: Vec<_> = rows.iter().filter(|r| r[0] == "10.64.0.1").collect();
    assert!(!ours.is_empty(), "{rows:?}");
    assert!(
        ours.iter().all(|r| r[1] == "10.64.0.2" && r[2] == "64"),
        "ours unicast with TTL 64: {rows:?}"
    );
    assert!(
        rows.iter().any(|r| r[0] == "10.64.0.2" && r[2] == "64"),
        "keepalived's with TTL 64: {rows:?}"
    );
}

/// `unicast_peer { ADDR min_ttl 100 }`: keepalived's adverts at TTL 64 are refused (counted as
/// `bad_ttl`), so ours does not step down: the range is enforced, not ignored.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unicast_peer_ttl_range_is_enforced() {
    require_root();
    let mut lab = Lab::new("hdttlr");
    let a = lab.add_host("a", &["10.64.0.1/24"]);
    let k = lab.add_host("k", &["10.64.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let conf = |name: &str, prio: u8, src: &str, peer: &str| {
        write(
            &dir,
            &format!("{name}.conf"),
            &format!(
                "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 65\n    priority {prio}\n    advert_int 1\n    unicast_ttl 64\n    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n    virtual_ipaddress {{\n        10.64.0.100/24\n    }}\n}}\n"
            ),
        )
    };
    let ca = conf("a", 100, "10.64.0.1", "10.64.0.2 min_ttl 100");
    let ck = conf("k", 150, "10.64.0.2", "10.64.0.1");
    let p = director(&mut lab, &a, &ca);
    assert!(
        wait_until(Duration::from_secs(10), || a.holds("10.64.0.100")),
        "{}",
        dump(&p)
    );
    let kp = lab.spawn_keepalived(&k, &ck);
    assert!(
        wait_until(Duration::from_secs(10), || k.holds("10.64.0.100")),
        "{}",
        kp.stderr()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        a.holds("10.64.0.100"),
        "ours refused the TTL-64 adverts and stayed master\n{}",
        dump(&p)
    );
    let sock = dir.join("a.sock");
    let o = a.exec(&[BIN, "status", "--socket", sock.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("bad_ttl"), "drops counted as bad_ttl: {text}");
}

/// `vrrp_startup_delay 3`: no advert and no address for 3 s after start, then master within
/// the usual master-down interval.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_startup_delay_is_observed() {
    require_root();
    let mut lab = Lab::new("hdstart");
    let a = lab.add_host("a", &["10.65.0.1/24"]);
    let c = lab.add_host("c", &["10.65.0.3/24"]);
    let dir = lab.dir().to_path_buf();
    let conf = write(
        &dir,
        "a.conf",
        &format!(
            "global_defs {{\n    vrrp_version 3\n    vrrp_startup_delay 3\n}}\n{}",
            instance("VI_1", 66, "", "10.65.0.100/24")
        ),
    );
    let cap = lab.capture(&c, "eth0", Some("ip proto 112"));
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let p = director(&mut lab, &a, &conf);
    assert!(
        wait_until(Duration::from_secs(12), || a.holds("10.65.0.100")),
        "{}",
        dump(&p)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900),
        "master after {took:?}, before the 3 s startup delay\n{}",
        dump(&p)
    );
    assert!(took < Duration::from_secs(8), "master after {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    let pcap = cap.stop();
    let t: Vec<f64> = tshark_fields(&pcap, "vrrp", &["frame.time_epoch"])
        .iter()
        .map(|r| r[0].parse::<f64>().unwrap() - started_wall)
        .collect();
    assert!(!t.is_empty());
    assert!(
        t[0] >= 2.8,
        "first advert {:.3} s after the start (startup delay 3 s): {t:?}",
        t[0]
    );
}

fn has_route(h: &Host, prefix: &str) -> bool {
    h.sh("ip -4 route show")
        .lines()
        .any(|l| l.starts_with(prefix))
}

/// `virtual_routes` are on the master only: they move with the VIP.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_virtual_routes_follow_the_master() {
    require_root();
    let mut lab = Lab::new("hdroute");
    let a = lab.add_host("a", &["10.66.0.1/24"]);
    let b = lab.add_host("b", &["10.66.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let conf = |name: &str, prio: u8| {
        write(
            &dir,
            &format!("{name}.conf"),
            &format!(
                "global_defs {{\n    vrrp_version 3\n}}\n{}",
                instance(
                    "VI_1",
                    67,
                    &format!(
                        "    priority {prio}\n    virtual_routes {{\n        10.99.0.0/16 via 10.66.0.254 dev eth0\n        blackhole 10.98.0.0/16\n    }}\n"
                    ),
                    "10.66.0.100/24"
                ),
            ),
        )
    };
    let (ca, cb) = (conf("a", 150), conf("b", 100));
    let pa = director(&mut lab, &a, &ca);
    let pb = director(&mut lab, &b, &cb);
    assert!(
        wait_until(Duration::from_secs(10), || a.holds("10.66.0.100")
            && has_route(&a, "10.99.0.0/16 via 10.66.0.254")
            && has_route(&a, "blackhole 10.98.0.0/16")),
        "routes on the master\n{}\n{}",
        a.sh("ip route"),
        dump(&pa)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !has_route(&b, "10.99.0.0/16") && !has_route(&b, "blackhole 10.98.0.0/16"),
        "no routes on the backup:\n{}",
        b.sh("ip route")
    );
    // A graceful stop hands over: the routes go with the VIP.
    pa.kill(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || has_route(&b, "10.99.0.0/16")
            && has_route(&b, "blackhole 10.98.0.0/16")),
        "routes on the new master\n{}\n{}",
        b.sh("ip route"),
        dump(&pb)
    );
    assert!(pa.wait_exit(Duration::from_secs(5)));
    assert!(
        !has_route(&a, "10.99.0.0/16") && !has_route(&a, "blackhole 10.98.0.0/16"),
        "routes removed on stop:\n{}",
        a.sh("ip route")
    );
}

/// `state MASTER` as keepalived 2.2.7 runs it, against keepalived as the other node: the
/// address owner (`state MASTER` without a priority) is master at once, well inside the
/// master-down interval (3.6 s at advert_int 1), whichever of the two it is; `nopreempt` on
/// the higher-priority node that starts second leaves the running master in place, in both
/// roles.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_state_master_and_nopreempt_with_keepalived() {
    require_root();
    const VIP: &str = "10.67.0.100";
    let inst = |extra: &str| {
        format!(
            "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 68\n    advert_int 1\n{extra}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        )
    };
    for ours_owner in [true, false] {
        let mut lab = Lab::new("hdstate");
        let a = lab.add_host("a", &["10.67.0.1/24"]);
        let k = lab.add_host("k", &["10.67.0.2/24"]);
        let dir = lab.dir().to_path_buf();
        let owner = inst("    state MASTER\n");
        let backup = inst("    state BACKUP\n    priority 100\n");
        let (ta, tk) = if ours_owner {
            (&owner, &backup)
        } else {
            (&backup, &owner)
        };
        let ca = write(&dir, "a.conf", ta);
        let ck = write(&dir, "k.conf", tk);
        // The backup first, so that it is running when the owner starts.
        let (p, kp, started) = if ours_owner {
            let kp = lab.spawn_keepalived(&k, &ck);
            std::thread::sleep(Duration::from_millis(500));
            let t = Instant::now();
            (director(&mut lab, &a, &ca), kp, t)
        } else {
            let p = director(&mut lab, &a, &ca);
            std::thread::sleep(Duration::from_millis(500));
            let t = Instant::now();
            (p, lab.spawn_keepalived(&k, &ck), t)
        };
        let (o, other) = if ours_owner { (&a, &k) } else { (&k, &a) };
        assert!(
            wait_until(Duration::from_secs(10), || o.holds(VIP)),
            "owner (ours: {ours_owner}) master\n{}\n--- keepalived ---\n{}",
            dump(&p),
            kp.stderr()
        );
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "ours owner {ours_owner}: the owner took {took:?} (master-down is 3.6 s)"
        );
        assert!(
            wait_until(Duration::from_secs(5), || !other.holds(VIP)),
            "one master (ours owner: {ours_owner})\n{}",
            dump(&p)
        );
        std::thread::sleep(Duration::from_secs(3));
        assert!(o.holds(VIP) && !other.holds(VIP), "stays\n{}", dump(&p));
    }

    for ours_nopreempt in [true, false] {
        let mut lab = Lab::new("hdnopre");
        let a = lab.add_host("a", &["10.67.0.1/24"]);
        let k = lab.add_host("k", &["10.67.0.2/24"]);
        let dir = lab.dir().to_path_buf();
        let low = inst("    state BACKUP\n    priority 100\n");
        let high = inst("    state BACKUP\n    priority 200\n    nopreempt\n");
        let (ta, tk) = if ours_nopreempt {
            (&high, &low)
        } else {
            (&low, &high)
        };
        let ca = write(&dir, "a.conf", ta);
        let ck = write(&dir, "k.conf", tk);
        // The low-priority node starts alone and becomes master; then the high one starts.
        let (first, second) = if ours_nopreempt { (&k, &a) } else { (&a, &k) };
        let (p, kp) = if ours_nopreempt {
            let kp = lab.spawn_keepalived(&k, &ck);
            assert!(wait_until(Duration::from_secs(10), || first.holds(VIP)));
            (director(&mut lab, &a, &ca), kp)
        } else {
            let p = director(&mut lab, &a, &ca);
            assert!(
                wait_until(Duration::from_secs(10), || first.holds(VIP)),
                "{}",
                dump(&p)
            );
            (p, lab.spawn_keepalived(&k, &ck))
        };
        std::thread::sleep(Duration::from_secs(8));
        assert!(
            first.holds(VIP) && !second.holds(VIP),
            "ours nopreempt {ours_nopreempt}: the running master stays\n{}\n--- keepalived ---\n{}",
            dump(&p),
            kp.stderr()
        );
    }
}

fn has_rule(h: &Host, prefix: &str) -> bool {
    h.sh("ip -4 rule show")
        .lines()
        .any(|l| l.starts_with(prefix))
}

/// `virtual_rules` are on the master only; `static_ipaddress`, `static_routes` and
/// `static_rules` are on both nodes whatever their state, and go at stop.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_virtual_rules_follow_the_master_statics_stay_on_both() {
    require_root();
    let mut lab = Lab::new("hdrule");
    let a = lab.add_host("a", &["10.68.0.1/24"]);
    let b = lab.add_host("b", &["10.68.0.2/24"]);
    let dir = lab.dir().to_path_buf();
    let conf = |name: &str, prio: u8, own: &str| {
        write(
            &dir,
            &format!("{name}.conf"),
            &format!(
                "global_defs {{\n    vrrp_version 3\n}}\nstatic_ipaddress {{\n    {own}/24 dev eth0\n}}\nstatic_routes {{\n    10.97.0.0/16 via 10.68.0.254 dev eth0\n}}\nstatic_rules {{\n    from 192.168.77.0/24 table 101 priority 1500\n}}\n{}",
                instance(
                    "VI_1",
                    69,
                    &format!(
                        "    priority {prio}\n    virtual_rules {{\n        from 10.68.0.100 table 100 priority 2000\n    }}\n"
                    ),
                    "10.68.0.100/24"
                ),
            ),
        )
    };
    let (ca, cb) = (
        conf("a", 150, "192.168.77.1"),
        conf("b", 100, "192.168.77.2"),
    );
    let pa = director(&mut lab, &a, &ca);
    let pb = director(&mut lab, &b, &cb);
    let statics = |h: &Host, own: &str| {
        h.holds(own)
            && has_route(h, "10.97.0.0/16 via 10.68.0.254")
            && has_rule(h, "1500:\tfrom 192.168.77.0/24 lookup 101")
    };
    assert!(
        wait_until(Duration::from_secs(10), || a.holds("10.68.0.100")
            && has_rule(&a, "2000:\tfrom 10.68.0.100 lookup 100")),
        "virtual rule on the master\n{}\n{}",
        a.sh("ip rule"),
        dump(&pa)
    );
    assert!(
        wait_until(Duration::from_secs(3), || statics(&a, "192.168.77.1")
            && statics(&b, "192.168.77.2")),
        "statics on both\n--- a ---\n{}{}{}\n--- b ---\n{}{}{}\n{}",
        a.sh("ip -o addr"),
        a.sh("ip route"),
        a.sh("ip rule"),
        b.sh("ip -o addr"),
        b.sh("ip route"),
        b.sh("ip rule"),
        dump(&pb)
    );
    assert!(
        !has_rule(&b, "2000:"),
        "no virtual rule on the backup:\n{}",
        b.sh("ip rule")
    );
    // A graceful stop hands over: the virtual rule moves, a's statics go.
    pa.kill(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || has_rule(
            &b,
            "2000:\tfrom 10.68.0.100 lookup 100"
        )),
        "virtual rule on the new master\n{}\n{}",
        b.sh("ip rule"),
        dump(&pb)
    );
    assert!(pa.wait_exit(Duration::from_secs(5)), "{}", dump(&pa));
    assert!(
        !a.holds("192.168.77.1")
            && !has_route(&a, "10.97.0.0/16")
            && !has_rule(&a, "1500:")
            && !has_rule(&a, "2000:"),
        "a's rules, routes and statics removed at stop:\n{}{}{}",
        a.sh("ip -o addr"),
        a.sh("ip route"),
        a.sh("ip rule")
    );
    assert!(statics(&b, "192.168.77.2"), "b keeps its statics");
}

/// A one-way partition: keepalived (priority 100) stops hearing our master's multicast adverts
/// (the switch no longer floods multicast to its port), becomes master and advertises; our
/// master (150) hears each of those lower-priority adverts and sends
/// `garp_lower_prio_repeat` gratuitous ARPs (2 per advert, no second burst), as keepalived
/// would; with `garp_lower_prio_repeat 0` it sends none.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_lower_priority_garps_when_a_lower_master_is_heard() {
    require_root();
    require_tool("bridge", "iproute2");
    const VIP: &str = "10.69.0.100";
    for repeat in [2u32, 0] {
        let mut lab = Lab::new("hdlowp");
        let a = lab.add_host("a", &["10.69.0.1/24"]);
        let k = lab.add_host("k", &["10.69.0.2/24"]);
        let c = lab.add_host("c", &["10.69.0.3/24"]);
        let dir = lab.dir().to_path_buf();
        let inst = |prio: u8, extra: &str| {
            format!(
                "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 70\n    priority {prio}\n    advert_int 1\n{extra}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
            )
        };
        let ca = write(
            &dir,
            "a.conf",
            &inst(
                150,
                &format!("    garp_lower_prio_repeat {repeat}\n    garp_lower_prio_delay 0\n"),
            ),
        );
        let ck = write(&dir, "k.conf", &inst(100, ""));
        let p = director(&mut lab, &a, &ca);
        assert!(
            wait_until(Duration::from_secs(10), || a.holds(VIP)),
            "{}",
            dump(&p)
        );
        // a's own bursts after becoming master (the second one 5 s later) are over before the
        // capture starts.
        std::thread::sleep(Duration::from_secs(6));
        // k's switch port (the second host's, p1) gets no multicast: k never hears a.
        let out = std::process::Command::new("bridge")
            .args([
                "-n",
                lab.switch_netns(),
                "link",
                "set",
                "dev",
                "p1",
                "mcast_flood",
                "off",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cap = lab.capture(&c, "eth0", Some("arp or ip proto 112"));
        let kp = lab.spawn_keepalived(&k, &ck);
        assert!(
            wait_until(Duration::from_secs(10), || k.holds(VIP)),
            "k, deaf to a, becomes master\n{}",
            kp.stderr()
        );
        std::thread::sleep(Duration::from_secs(4));
        let pcap = cap.stop();
        assert!(a.holds(VIP), "a stays master\n{}", dump(&p));
        let k_adverts =
            tshark_fields(&pcap, "vrrp && ip.src == 10.69.0.2", &["frame.time_epoch"]).len();
        assert!(k_adverts >= 3, "k advertises: {k_adverts}");
        let a_mac = ha_testsupport::format_mac(a.mac());
        let garps = tshark_fields(
            &pcap,
            &format!("arp.isgratuitous == 1 && arp.src.proto_ipv4 == {VIP}"),
            &["arp.src.hw_mac"],
        )
        .iter()
        .filter(|r| r[0] == a_mac)
        .count();
        if repeat == 0 {
            assert_eq!(garps, 0, "repeat 0: no GARPs from a");
        } else {
            // Two per lower-priority advert heard (the capture may cut one pair in half).
            assert!(
                garps + 2 >= 2 * k_adverts && garps <= 2 * k_adverts + 2,
                "repeat 2: {garps} GARPs from a for {k_adverts} adverts of k\n{}",
                dump(&p)
            );
        }
    }
}

/// IPv6: adverts go to `vrrp_mcast_group6`, and the unsolicited NAs after a takeover follow
/// `vrrp_garp_master_repeat` and are paced by `vrrp_gna_interval`.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_ipv6_group_and_na_pacing_on_the_wire() {
    require_root();
    let mut lab = Lab::new("hdna");
    let a = lab.add_host("a", &["fd00:69::1/64"]);
    let c = lab.add_host("c", &["fd00:69::3/64"]);
    for (h, n) in [(&a, 1), (&c, 3)] {
        h.sh(&format!(
            "ip -6 addr flush dev eth0 scope link && ip addr add fe80::{n}/64 dev eth0 nodad"
        ));
    }
    let dir = lab.dir().to_path_buf();
    let conf = write(
        &dir,
        "a.conf",
        &format!(
            "global_defs {{\n    vrrp_version 3\n    vrrp_mcast_group6 ff02::42\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_delay 0\n    vrrp_gna_interval 0.15\n}}\n{}",
            instance("VI_6", 71, "", "fd00:69::100/64")
        ),
    );
    let cap = lab.capture(&c, "eth0", Some("icmp6 or ip6 proto 112"));
    let p = director(&mut lab, &a, &conf);
    assert!(
        wait_until(Duration::from_secs(10), || a
            .sh("ip -6 -o addr show dev eth0")
            .contains("fd00:69::100/64")),
        "a becomes master\n{}",
        dump(&p)
    );
    std::thread::sleep(Duration::from_secs(2));
    let pcap = cap.stop();
    let dsts = tshark_fields(&pcap, "vrrp", &["ipv6.dst"]);
    assert!(!dsts.is_empty(), "adverts seen");
    assert!(
        dsts.iter().all(|r| r[0] == "ff02::42"),
        "every advert to ff02::42: {dsts:?}"
    );
    let nas = times(
        &pcap,
        "icmpv6.type == 136 && icmpv6.nd.na.target_address == fd00:69::100",
    );
    assert_eq!(nas.len(), 3, "one burst of 3 NAs: {nas:?}");
    for pair in nas.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((0.12..1.0).contains(&gap), "NA gap {gap:.3} s: {nas:?}");
    }
}

/// The sample with every VRRP keyword of this work is accepted by keepalived 2.2.7 (`-t`) and by
/// `ha-director check-config` with no keyword ignored (the one warning is keepalived's own rule
/// for `state MASTER` without a priority), on a host with its `eth0`.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vrrp_keywords_sample_is_accepted_by_keepalived_and_check_config() {
    require_root();
    require_tool("keepalived", "keepalived");
    let mut lab = Lab::new("hdsample");
    let a = lab.add_host("a", &["10.0.1.2/24"]);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/vrrp-keywords.conf");
    let sample = sample.to_str().unwrap();
    let k = a.exec(&["keepalived", "-t", "-f", sample]);
    assert!(
        k.status.success(),
        "keepalived -t: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    let o = a.exec(&[BIN, "check-config", "--keepalived-conf", sample]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("2 instance(s)"), "{out}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("`state`"), "{err}");
}
