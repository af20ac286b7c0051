//! Host network tests: real frames on a bridge between two network namespaces.
//!
//! Kernel behaviour these tests rely on (and document):
//! - ARP (`net/ipv4/arp.c`, `arp_process`): a gratuitous ARP (sender IP == target IP; for a
//!   reply also target MAC == sender MAC, `arp_is_garp`) updates an *existing* neighbour entry
//!   with override, to STALE. Whether a *missing* entry is created depends on
//!   `net.ipv4.conf.*.arp_accept` (0 by default: no). So host b first gets an entry for the VIP
//!   pointing to another MAC.
//! - ND (`net/ipv6/ndisc.c`, `ndisc_recv_na`): an unsolicited NA (S=0) with O=1 and a target
//!   link-layer address option updates an existing entry to STALE with the new address; with
//!   O=0 it would keep the old address.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_arp::{
    Announcer, Config, FrameRepr, GarpForm, Interface, MacAddr, Pacing, Sender, SenderError,
    SourceMac,
};
use ha_testsupport::{Host, Lab, format_mac, pcap, require_root, tshark_fields, wait_until};

const OTHER_MAC: &str = "02:00:00:00:00:99";

/// Runs an announcer and a sender inside `host`'s netns until the schedule is over; returns the
/// interface as the sender saw it and the number of frames sent.
fn announce_in(
    host: &Host,
    addrs: Vec<IpAddr>,
    config: Config,
    mac: SourceMac,
) -> (Interface, usize) {
    let ifname = host.ifname().to_owned();
    host.run_in(move || {
        let sender = Sender::bind(ifname.as_str()).expect("bind AF_PACKET socket");
        let iface = sender.interface().expect("interface MAC");
        let mut ann: Announcer<u32> = Announcer::new(config, Pacing::default());
        ann.announce(Instant::now(), 1, &iface, &addrs, mac);
        let mut sent = 0;
        for _ in 0..1000 {
            while let Some(tx) = ann.poll_transmit() {
                assert_eq!(tx.ifindex, sender.ifindex());
                sender.send(tx.bytes).expect("send frame");
                sent += 1;
            }
            let Some(t) = ann.poll_timeout() else { break };
            std::thread::sleep(t.saturating_duration_since(Instant::now()));
            ann.handle_timeout(Instant::now());
        }
        (iface, sent)
    })
}

fn burst(repeat: u32, form: GarpForm) -> Config {
    Config {
        repeat,
        interval: Duration::from_millis(50),
        second_burst_delay: None,
        arp_form: form,
        ..Config::default()
    }
}

fn is_true(s: &str) -> bool {
    s == "1" || s.eq_ignore_ascii_case("true")
}

fn neigh_lladdr(b: &Host, family: &str, addr: &str) -> String {
    b.sh(&format!("ip {family} neigh show {addr} dev eth0"))
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_gratuitous_arp_moves_neighbour_entry() {
    require_root();
    let mut lab = Lab::new("garp");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    let b = lab.add_host("b", &["10.9.0.2/24"]);
    a.sh("ip addr add 10.9.0.100/32 dev eth0");
    let a_mac = format_mac(a.mac());

    // Request form (the default) from a's own MAC.
    b.sh(&format!(
        "ip neigh replace 10.9.0.100 lladdr {OTHER_MAC} dev eth0 nud stale"
    ));
    assert!(neigh_lladdr(&b, "-4", "10.9.0.100").contains(OTHER_MAC));
    let cap = lab.capture(&b, "eth0", Some("arp"));
    let (iface, sent) = announce_in(
        &a,
        vec!["10.9.0.100".parse().unwrap()],
        burst(3, GarpForm::Request),
        SourceMac::Interface,
    );
    assert_eq!(iface.mac, MacAddr(a.mac()), "sender reads a's MAC");
    assert_eq!(iface.ifindex, a.ifindex());
    assert_eq!(sent, 3);
    let moved = wait_until(Duration::from_secs(5), || {
        neigh_lladdr(&b, "-4", "10.9.0.100").contains(&a_mac)
    });
    let table = neigh_lladdr(&b, "-4", "10.9.0.100");
    assert!(moved, "b's entry did not move to a's MAC {a_mac}: {table}");

    // Reply form from the VRRP virtual MAC (VRID 42): the entry moves again.
    let vmac = MacAddr::vrrp_v4(42).to_string();
    let (_, sent) = announce_in(
        &a,
        vec!["10.9.0.100".parse().unwrap()],
        burst(2, GarpForm::Reply),
        SourceMac::VirtualRouter { vrid: 42 },
    );
    assert_eq!(sent, 2);
    let moved = wait_until(Duration::from_secs(5), || {
        neigh_lladdr(&b, "-4", "10.9.0.100").contains(&vmac)
    });
    assert!(
        moved,
        "b's entry did not move to {vmac}: {}",
        neigh_lladdr(&b, "-4", "10.9.0.100")
    );

    let pcap = cap.stop();
    let rows = tshark_fields(
        &pcap,
        "arp.src.proto_ipv4 == 10.9.0.100",
        &[
            "eth.dst",
            "eth.src",
            "arp.opcode",
            "arp.src.hw_mac",
            "arp.dst.hw_mac",
            "arp.dst.proto_ipv4",
            "arp.isgratuitous",
        ],
    );
    assert_eq!(rows.len(), 5, "3 requests + 2 replies: {rows:?}");
    for r in &rows[..3] {
        assert_eq!(r[0], "ff:ff:ff:ff:ff:ff");
        assert_eq!(r[1], a_mac);
        assert_eq!(r[2], "1", "request");
        assert_eq!(r[3], a_mac);
        assert_eq!(r[4], "00:00:00:00:00:00");
        assert_eq!(r[5], "10.9.0.100");
        assert!(is_true(&r[6]), "tshark says gratuitous: {r:?}");
    }
    for r in &rows[3..] {
        assert_eq!(r[0], "ff:ff:ff:ff:ff:ff");
        assert_eq!(r[1], vmac);
        assert_eq!(r[2], "2", "reply");
        assert_eq!(r[3], vmac);
        assert_eq!(r[4], vmac, "reply form: target MAC = sender MAC");
        assert!(is_true(&r[6]), "tshark says gratuitous: {r:?}");
    }
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_unsolicited_na_moves_neighbour_entry() {
    require_root();
    let mut lab = Lab::new("una");
    let a = lab.add_host("a", &["fd09::1/64"]);
    let b = lab.add_host("b", &["fd09::2/64"]);
    a.sh("ip -6 addr add fd09::100/128 dev eth0 nodad");
    let a_mac = format_mac(a.mac());
    b.sh(&format!(
        "ip -6 neigh replace fd09::100 lladdr {OTHER_MAC} dev eth0 nud stale"
    ));
    assert!(neigh_lladdr(&b, "-6", "fd09::100").contains(OTHER_MAC));

    let cap = lab.capture(&b, "eth0", Some("icmp6"));
    let (iface, sent) = announce_in(
        &a,
        vec!["fd09::100".parse().unwrap()],
        burst(3, GarpForm::Request),
        SourceMac::Interface,
    );
    assert_eq!(sent, 3);
    assert!(
        iface
            .ipv6_link_local
            .is_some_and(|l: Ipv6Addr| l.is_unicast_link_local()),
        "a has a link-local: {iface:?}"
    );
    let moved = wait_until(Duration::from_secs(5), || {
        neigh_lladdr(&b, "-6", "fd09::100").contains(&a_mac)
    });
    assert!(
        moved,
        "b's entry did not move to a's MAC {a_mac}: {}",
        neigh_lladdr(&b, "-6", "fd09::100")
    );

    let pcap = cap.stop();
    let rows = tshark_fields(
        &pcap,
        "icmpv6.type == 136 && icmpv6.nd.na.target_address == fd09::100",
        &[
            "eth.dst",
            "eth.src",
            "ipv6.src",
            "ipv6.dst",
            "ipv6.hlim",
            "icmpv6.nd.na.flag.r",
            "icmpv6.nd.na.flag.s",
            "icmpv6.nd.na.flag.o",
            "icmpv6.opt.linkaddr",
            "icmpv6.checksum.status",
        ],
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    for r in &rows {
        assert_eq!(r[0], "33:33:00:00:00:01");
        assert_eq!(r[1], a_mac);
        assert_eq!(r[2], "fd09::100", "source = the VIP (keepalived's choice)");
        assert_eq!(r[3], "ff02::1");
        assert_eq!(r[4], "255");
        assert!(!is_true(&r[5]), "R clear: {r:?}");
        assert!(!is_true(&r[6]), "S clear: {r:?}");
        assert!(is_true(&r[7]), "O set: {r:?}");
        assert_eq!(r[8], a_mac, "target link-layer address option");
        assert!(
            r[9] == "1" || r[9].eq_ignore_ascii_case("good"),
            "checksum good: {r:?}"
        );
    }
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_sender_errors_are_typed() {
    require_root();
    let mut lab = Lab::new("arperr");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    // A veth pair is down until set up (this host kernel has no dummy driver).
    a.sh("ip link add d0 type veth peer name d1");
    let errors = a.run_in(|| {
        let frame = {
            let mut buf = [0u8; 64];
            let n = FrameRepr::gratuitous_arp(
                MacAddr([2, 0, 0, 0, 0, 1]),
                "10.9.0.100".parse().unwrap(),
                GarpForm::Request,
            )
            .emit(&mut buf);
            buf[..n].to_vec()
        };
        let by_name = Sender::bind("nosuch0").map(|_| ());
        let by_index = Sender::bind(999_999u32).map(|_| ());
        // d0 exists but is down: binding works, sending says so.
        let down = Sender::bind("d0").and_then(|s| {
            assert!(!s.is_up().expect("flags"));
            s.send(&frame)
        });
        let short = Sender::bind("eth0").and_then(|s| s.send(&frame[..10]));
        let ok = Sender::bind("eth0").and_then(|s| s.send(&frame));
        (by_name, by_index, down, short, ok)
    });
    match errors.0 {
        Err(SenderError::NoSuchInterface { iface }) => assert_eq!(iface, "nosuch0"),
        other => panic!("want NoSuchInterface, got {other:?}"),
    }
    match errors.1 {
        Err(SenderError::NoSuchInterface { iface }) => assert_eq!(iface, "index 999999"),
        other => panic!("want NoSuchInterface, got {other:?}"),
    }
    match errors.2 {
        Err(e @ SenderError::InterfaceDown { .. }) => {
            assert_eq!(e.to_string(), "network interface d0 is down")
        }
        other => panic!("want InterfaceDown, got {other:?}"),
    }
    assert!(
        matches!(errors.3, Err(SenderError::FrameTooShort { len: 10, .. })),
        "{:?}",
        errors.3
    );
    errors.4.expect("sending on eth0 works");
}

/// Re-runs this very test as nobody (no CAP_NET_RAW, via util-linux `setpriv`); the child
/// (marked by an environment variable) tries to open a sender and reports the error it got.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_sender_without_cap_net_raw_is_permission_denied() {
    const CHILD: &str = "HA_ARP_UNPRIVILEGED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        match Sender::bind("lo") {
            Err(SenderError::PermissionDenied { iface, .. }) => {
                println!("CHILD: PermissionDenied on {iface}")
            }
            other => panic!("want PermissionDenied, got {other:?}"),
        }
        return;
    }
    require_root();
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "host_sender_without_cap_net_raw_is_permission_denied",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run setpriv (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD: PermissionDenied on lo"), "{stdout}");
}

/// tshark, an independent dissector, agrees with the byte layout of every frame kind.
#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_tshark_dissects_built_frames() {
    require_root();
    let lab = Lab::new("arppcap");
    let mac = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    let v6: Ipv6Addr = "fd09::100".parse().unwrap();
    let frames = [
        FrameRepr::gratuitous_arp(mac, "10.9.0.100".parse().unwrap(), GarpForm::Request),
        FrameRepr::gratuitous_arp(mac, "10.9.0.100".parse().unwrap(), GarpForm::Reply),
        FrameRepr::unsolicited_na(MacAddr::vrrp_v6(7), v6, "fe80::1".parse().unwrap(), true),
    ];
    let bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = vec![0u8; f.buffer_len()];
            f.emit(&mut b);
            b
        })
        .collect();
    let refs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
    let path = lab.dir().join("frames.pcap");
    pcap::write(&path, pcap::LinkType::Ethernet, &refs);
    let arp = tshark_fields(
        &path,
        "arp",
        &[
            "arp.opcode",
            "arp.src.hw_mac",
            "arp.dst.hw_mac",
            "arp.isgratuitous",
        ],
    );
    assert_eq!(arp.len(), 2, "{arp:?}");
    assert_eq!(arp[0][..3], ["1", "02:00:00:00:00:01", "00:00:00:00:00:00"]);
    assert_eq!(arp[1][..3], ["2", "02:00:00:00:00:01", "02:00:00:00:00:01"]);
    assert!(arp.iter().all(|r| is_true(&r[3])), "{arp:?}");
    let na = tshark_fields(
        &path,
        "icmpv6",
        &[
            "eth.src",
            "ipv6.src",
            "icmpv6.nd.na.flag.r",
            "icmpv6.nd.na.flag.o",
            "icmpv6.opt.linkaddr",
            "icmpv6.checksum.status",
        ],
    );
    assert_eq!(na.len(), 1, "{na:?}");
    let r = &na[0];
    assert_eq!(r[0], "00:00:5e:00:02:07");
    assert_eq!(r[1], "fe80::1");
    assert!(is_true(&r[2]) && is_true(&r[3]), "R and O set: {r:?}");
    assert_eq!(r[4], "00:00:5e:00:02:07");
    assert!(
        r[5] == "1" || r[5].eq_ignore_ascii_case("good"),
        "checksum good: {r:?}"
    );
}
