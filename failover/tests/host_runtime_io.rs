//! Host suite: the runtime's IO against the real kernel in network namespaces.
#![cfg(feature = "tokio")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use ha_failover::runtime::netlink::{Addresses, Change, NetEvent, NetWatch, Vip};
use ha_failover::runtime::socket::{VRRP_GROUP_V4, VRRP_GROUP_V6, VrrpSocket};
use ha_testsupport::{Host, Lab, require_root, tshark_fields};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A VRRP-shaped payload; the socket layer does not care about its contents.
const PAYLOAD: [u8; 12] = [0x31, 7, 100, 1, 0, 100, 0, 0, 10, 80, 0, 100];

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vips_are_added_marked_and_removed_idempotently() {
    require_root();
    let mut lab = Lab::new("vip");
    let a = lab.add_host("a", &["10.80.0.1/24"]);
    let ifindex = a.ifindex();
    let removed = a.run_in(move || {
        rt().block_on(async move {
            let addrs = Addresses::open().unwrap();
            assert_eq!(addrs.ifindex("eth0").await.unwrap(), ifindex);
            assert!(
                addrs
                    .ifindex("nosuch0")
                    .await
                    .unwrap_err()
                    .to_string()
                    .contains("nosuch0")
            );
            let v4 = Vip {
                ifindex,
                addr: IpAddr::V4(Ipv4Addr::new(10, 80, 0, 100)),
                prefix: 32,
            };
            let v6 = Vip {
                ifindex,
                addr: "fd80::100".parse().unwrap(),
                prefix: 128,
            };
            assert_eq!(addrs.add(v4).await.unwrap(), Change::Done);
            assert_eq!(addrs.add(v4).await.unwrap(), Change::AlreadySo);
            assert_eq!(addrs.add(v6).await.unwrap(), Change::Done);
            let listed = addrs.list(Some(ifindex)).await.unwrap();
            assert!(listed.contains(&(v4, true)), "{listed:?}");
            assert!(listed.contains(&(v6, true)), "{listed:?}");
            let primary = Vip {
                ifindex,
                addr: IpAddr::V4(Ipv4Addr::new(10, 80, 0, 1)),
                prefix: 24,
            };
            assert!(
                listed.contains(&(primary, false)),
                "the configured address is not ours: {listed:?}"
            );
            assert_eq!(addrs.remove(v4).await.unwrap(), Change::Done);
            assert_eq!(addrs.remove(v4).await.unwrap(), Change::AlreadySo);
            addrs.add(v4).await.unwrap();
            // A restart after a crash: exactly our addresses go.
            let mut stale = addrs.remove_stale().await.unwrap();
            stale.sort_by_key(|v| v.addr);
            stale
        })
    });
    assert_eq!(removed.len(), 2, "{removed:?}");
    let shown = a.sh("ip addr show dev eth0");
    assert!(shown.contains("10.80.0.1/24"), "{shown}");
    assert!(
        !shown.contains("10.80.0.100") && !shown.contains("fd80::100"),
        "{shown}"
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_vrrp_sockets_carry_ttl_255_and_timestamps_both_families() {
    require_root();
    let mut lab = Lab::new("vsock");
    let a = lab.add_host("a", &["10.81.0.1/24"]);
    let b = lab.add_host("b", &["10.81.0.2/24"]);
    let cap = lab.capture(&b, "eth0", Some("ip proto 112 or ip6 proto 112"));
    let (ai, bi) = (a.ifindex(), b.ifindex());

    // b listens on both families; a sends one of each; a must not read its own.
    let listener = {
        let b: Host = b.clone();
        std::thread::spawn(move || {
            b.run_in(move || {
                rt().block_on(async move {
                    let s4 = VrrpSocket::open_v4("eth0", bi, true).unwrap();
                    let s6 = VrrpSocket::open_v6("eth0", bi, true).unwrap();
                    let mut buf = [0u8; 1500];
                    let r4 = tokio::time::timeout(Duration::from_secs(10), s4.recv(&mut buf))
                        .await
                        .expect("IPv4 advert");
                    let r4 = r4.unwrap();
                    let p4 = buf[r4.payload.0..r4.payload.1].to_vec();
                    let r6 = tokio::time::timeout(Duration::from_secs(10), s6.recv(&mut buf))
                        .await
                        .expect("IPv6 advert");
                    let r6 = r6.unwrap();
                    let p6 = buf[r6.payload.0..r6.payload.1].to_vec();
                    (r4, p4, r6, p6, SystemTime::now())
                })
            })
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let own = a.run_in(move || {
        rt().block_on(async move {
            let s4 = VrrpSocket::open_v4("eth0", ai, true).unwrap();
            let s6 = VrrpSocket::open_v6("eth0", ai, true).unwrap();
            s4.send_to(&PAYLOAD, IpAddr::V4(VRRP_GROUP_V4))
                .await
                .unwrap();
            s6.send_to(&PAYLOAD, IpAddr::V6(VRRP_GROUP_V6))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut buf = [0u8; 1500];
            (
                s4.try_recv(&mut buf).unwrap(),
                s6.try_recv(&mut buf).unwrap(),
            )
        })
    });
    assert_eq!(own, (None, None), "a must not read back its own adverts");
    let (r4, p4, r6, p6, read_at) = listener.join().unwrap();

    assert_eq!(p4, PAYLOAD);
    assert_eq!(r4.src, IpAddr::V4(Ipv4Addr::new(10, 81, 0, 1)));
    assert_eq!(r4.dst, IpAddr::V4(VRRP_GROUP_V4));
    assert_eq!(r4.ttl, 255);
    assert!(r4.timestamp.is_some() && r4.age(read_at) < Duration::from_secs(10));

    assert_eq!(p6, PAYLOAD);
    let a_ll: Ipv6Addr = a
        .sh("ip -6 -o addr show dev eth0 scope link")
        .split_whitespace()
        .nth(3)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|s| s.parse().ok())
        .expect("a has a link-local address");
    assert_eq!(r6.src, IpAddr::V6(a_ll), "the whole IPv6 source address");
    assert_eq!(r6.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(r6.ttl, 255);
    assert!(r6.timestamp.is_some());

    let pcap = cap.stop();
    let v4 = tshark_fields(&pcap, "ip.proto == 112", &["ip.ttl", "ip.dst"]);
    assert_eq!(v4, vec![vec!["255".to_owned(), "224.0.0.18".to_owned()]]);
    let v6 = tshark_fields(&pcap, "ipv6.nxt == 112", &["ipv6.hlim", "ipv6.dst"]);
    assert_eq!(v6, vec![vec!["255".to_owned(), "ff02::12".to_owned()]]);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_netwatch_reports_carrier_loss_and_address_removal() {
    require_root();
    let mut lab = Lab::new("watch");
    let a = lab.add_host("a", &["10.82.0.1/24"]);
    let ifindex = a.ifindex();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watcher = {
        let a = a.clone();
        std::thread::spawn(move || {
            a.run_in(move || {
                rt().block_on(async move {
                    let mut w = NetWatch::open().unwrap();
                    tx.send(()).unwrap();
                    let mut seen = Vec::new();
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, w.next()).await {
                        let done = matches!(ev, NetEvent::AddressRemoved(_));
                        seen.push(ev);
                        if done {
                            break;
                        }
                    }
                    seen
                })
            })
        })
    };
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    lab.cut_link(&a);
    std::thread::sleep(Duration::from_millis(300));
    a.sh("ip addr del 10.82.0.1/24 dev eth0");
    let seen = watcher.join().unwrap();
    assert!(
        seen.iter()
            .any(|e| matches!(e, NetEvent::Link { ifindex: i, up: false, .. } if *i == ifindex)),
        "carrier loss reported: {seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, NetEvent::AddressRemoved(v) if v.addr == IpAddr::V4(Ipv4Addr::new(10, 82, 0, 1)))),
        "address removal reported: {seen:?}"
    );
}
