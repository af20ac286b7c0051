//! The announcer's schedule under a virtual clock: exact send times.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_arp::{
    Announcer, Config, FrameRepr, GarpForm, Interface, MacAddr, NaSource, Pacing, SourceMac,
};

#[derive(Debug, Clone, PartialEq)]
struct Sent {
    at: Duration,
    key: u32,
    ifindex: u32,
    addr: IpAddr,
    repr: FrameRepr,
}

const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);

fn eth0() -> Interface {
    Interface {
        ifindex: 2,
        mac: MAC,
        ipv6_link_local: Some("fe80::a".parse().unwrap()),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Drives the announcer like a real event loop on a virtual clock until `horizon` after `start`.
fn drive(a: &mut Announcer<u32>, start: Instant, horizon: Duration, out: &mut Vec<Sent>) {
    let mut now = start;
    loop {
        while let Some(tx) = a.poll_transmit() {
            // Every frame handed out is what its repr says.
            assert_eq!(
                FrameRepr::parse(tx.bytes),
                Ok(tx.repr),
                "bytes and repr disagree"
            );
            out.push(Sent {
                at: now - start,
                key: *tx.key,
                ifindex: tx.ifindex,
                addr: tx.address,
                repr: tx.repr,
            });
        }
        match a.poll_timeout() {
            Some(t) if t <= start + horizon => {
                assert!(
                    t > now || a.queued() > 0,
                    "poll_timeout did not move forward"
                );
                now = t;
                a.handle_timeout(now);
            }
            _ => return,
        }
    }
}

fn v4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a09_0000 + i))
}

fn v6(i: u32) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(
        0xfd09_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(i),
    ))
}

fn cfg(repeat: u32, interval: Duration) -> Config {
    Config {
        repeat,
        interval,
        second_burst_delay: None,
        ..Config::default()
    }
}

fn times(sent: &[Sent]) -> Vec<(u128, IpAddr)> {
    sent.iter().map(|s| (s.at.as_millis(), s.addr)).collect()
}

#[test]
fn burst_spacing() {
    let t0 = Instant::now();
    let mut a = Announcer::new(cfg(3, ms(200)), Pacing::default());
    a.announce(t0, 7, &eth0(), &[v4(100), v6(100)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(60), &mut sent);
    assert_eq!(
        times(&sent),
        vec![
            (0, v4(100)),
            (0, v6(100)),
            (200, v4(100)),
            (200, v6(100)),
            (400, v4(100)),
            (400, v6(100))
        ]
    );
    assert_eq!(a.poll_timeout(), None, "idle after the burst");
    assert!(!a.is_announcing(&7));
    // Frame contents: default request form from the interface MAC, NA from the VIP itself.
    assert_eq!(
        sent[0].repr,
        FrameRepr::gratuitous_arp(MAC, Ipv4Addr::from(0x0a09_0064), GarpForm::Request)
    );
    let IpAddr::V6(t) = v6(100) else {
        unreachable!()
    };
    assert_eq!(sent[1].repr, FrameRepr::unsolicited_na(MAC, t, t, false));
    assert!(sent.iter().all(|s| s.key == 7 && s.ifindex == 2));
}

#[test]
fn second_burst_after_delay() {
    let t0 = Instant::now();
    let config = Config {
        second_burst_delay: Some(Duration::from_secs(5)),
        ..cfg(2, ms(100))
    };
    let mut a = Announcer::new(config, Pacing::default());
    a.announce(t0, 1, &eth0(), &[v4(1)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(60), &mut sent);
    assert_eq!(
        times(&sent),
        vec![(0, v4(1)), (100, v4(1)), (5000, v4(1)), (5100, v4(1))]
    );
}

#[test]
fn keepalived_defaults_send_five_back_to_back_then_five_after_5s() {
    let t0 = Instant::now();
    let mut a = Announcer::new(Config::default(), Pacing::default());
    a.announce(t0, 1, &eth0(), &[v4(1)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(60), &mut sent);
    let at: Vec<u128> = sent.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(at, vec![0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000]);
}

#[test]
fn refresh_repeats_while_master() {
    let t0 = Instant::now();
    let config = Config {
        refresh: Some(Duration::from_secs(30)),
        refresh_repeat: 2,
        ..cfg(1, ms(1000))
    };
    let mut a = Announcer::new(config, Pacing::default());
    a.announce(t0, 1, &eth0(), &[v4(1)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(95), &mut sent);
    let at: Vec<u128> = sent.iter().map(|s| s.at.as_millis()).collect();
    assert_eq!(at, vec![0, 30_000, 31_000, 60_000, 61_000, 90_000, 91_000]);
    assert!(a.is_announcing(&1));
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(120)));
}

#[test]
fn cancel_stops_schedule_and_drops_queued_frames() {
    let t0 = Instant::now();
    let config = Config {
        second_burst_delay: Some(Duration::from_secs(5)),
        ..cfg(3, ms(100))
    };
    // Pacing makes frames wait in the queue, so cancel has something to drop.
    let pacing = Pacing {
        arp_interval: ms(30),
        na_interval: ms(30),
    };
    let mut a = Announcer::new(config, pacing);
    a.announce(
        t0,
        1,
        &eth0(),
        &[v4(1), v4(2), v4(3), v4(4), v4(5)],
        SourceMac::Interface,
    );
    a.announce(t0, 2, &eth0(), &[v4(9)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, ms(100), &mut sent);
    // 0,30,60,90 ms: v4(1..=4) of key 1; v4(5) and key 2 still queued.
    assert_eq!(
        times(&sent),
        vec![(0, v4(1)), (30, v4(2)), (60, v4(3)), (90, v4(4))]
    );
    assert!(a.queued() > 0);
    assert!(a.cancel(t0 + ms(100), &1));
    assert!(!a.cancel(t0 + ms(100), &1), "second cancel finds nothing");
    assert!(!a.is_announcing(&1));
    let mut rest = Vec::new();
    drive(&mut a, t0 + ms(100), Duration::from_secs(60), &mut rest);
    // Only key 2 remains. Its round-1 frame waited behind key 1's (now dropped) frames and goes
    // at 120 ms (30 ms after the frame at 90 ms); round 2 (eligible at 100 ms) at 150 ms, round 3
    // at 200 ms, the second burst at 5000, 5100, 5200 ms.
    let got: Vec<(u128, u32)> = rest
        .iter()
        .map(|s| ((s.at + ms(100)).as_millis(), s.key))
        .collect();
    assert_eq!(
        got,
        vec![
            (120, 2),
            (150, 2),
            (200, 2),
            (5000, 2),
            (5100, 2),
            (5200, 2)
        ]
    );
    assert!(a.cancel(t0 + Duration::from_secs(6), &2));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn reannounce_restarts_the_schedule() {
    let t0 = Instant::now();
    let mut a = Announcer::new(cfg(2, ms(100)), Pacing::default());
    a.announce(t0, 1, &eth0(), &[v4(1)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, ms(50), &mut sent);
    a.announce(t0 + ms(50), 1, &eth0(), &[v4(2)], SourceMac::Interface);
    drive(&mut a, t0 + ms(50), Duration::from_secs(1), &mut sent);
    let got: Vec<IpAddr> = sent.iter().map(|s| s.addr).collect();
    assert_eq!(got, vec![v4(1), v4(2), v4(2)]);
}

#[test]
fn rate_limit_across_500_addresses_and_50_instances() {
    let t0 = Instant::now();
    let pacing = Pacing {
        arp_interval: ms(10),
        na_interval: ms(20),
    };
    let mut a = Announcer::new(cfg(2, Duration::from_secs(1)), pacing);
    // 50 instances x 10 addresses each, all moving at t0.
    let mut all = Vec::new();
    for k in 0..50u32 {
        let addrs: Vec<IpAddr> = (0..10).map(|i| v4(k * 10 + i)).collect();
        all.extend(addrs.iter().copied());
        a.announce(
            t0,
            k,
            &eth0(),
            &addrs,
            SourceMac::VirtualRouter { vrid: k as u8 + 1 },
        );
    }
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(60), &mut sent);
    assert_eq!(sent.len(), 1000, "2 rounds x 500 addresses");
    for (i, s) in sent.iter().enumerate() {
        // One frame every 10 ms, no gaps and no bursts: round 1 of every address, then round 2.
        assert_eq!(s.at, ms(10 * i as u64), "frame {i}");
        assert_eq!(s.addr, all[i % 500], "frame {i}");
        let vrid = (i % 500 / 10) as u8 + 1;
        assert_eq!(
            s.repr.eth_src(),
            MacAddr::vrrp_v4(vrid),
            "frame {i}: VRRP virtual MAC"
        );
    }
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn arp_and_na_lanes_pace_independently_and_groups_share() {
    let t0 = Instant::now();
    let mut a = Announcer::new(cfg(1, ms(0)), Pacing::default());
    // ifindex 2 and 3 share one limiter (garp_group); 4 has its own.
    a.set_pacing(
        &[2, 3],
        Pacing {
            arp_interval: ms(10),
            na_interval: ms(25),
        },
    );
    a.set_pacing(
        &[4],
        Pacing {
            arp_interval: ms(10),
            na_interval: ms(25),
        },
    );
    let if3 = Interface {
        ifindex: 3,
        ..eth0()
    };
    let if4 = Interface {
        ifindex: 4,
        ..eth0()
    };
    a.announce(
        t0,
        1,
        &eth0(),
        &[v4(1), v4(2), v6(1), v6(2)],
        SourceMac::Interface,
    );
    a.announce(t0, 2, &if3, &[v4(3), v6(3)], SourceMac::Interface);
    a.announce(t0, 3, &if4, &[v4(4), v6(4)], SourceMac::Interface);
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(1), &mut sent);
    let got: Vec<(u128, u32, IpAddr)> = sent
        .iter()
        .map(|s| (s.at.as_millis(), s.ifindex, s.addr))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 2, v4(1)),
            (0, 2, v6(1)),
            (0, 4, v4(4)),
            (0, 4, v6(4)),
            (10, 2, v4(2)),
            (20, 3, v4(3)),
            (25, 2, v6(2)),
            (50, 3, v6(3)),
        ]
    );
}

#[test]
fn late_driver_does_not_burst() {
    let t0 = Instant::now();
    let mut a = Announcer::new(
        cfg(1, ms(0)),
        Pacing {
            arp_interval: ms(10),
            na_interval: ms(10),
        },
    );
    a.announce(t0, 1, &eth0(), &[v4(1), v4(2), v4(3)], SourceMac::Interface);
    assert!(a.poll_transmit().is_some());
    assert!(a.poll_transmit().is_none());
    // The driver oversleeps by 100 ms: still one frame per call, the next 10 ms later.
    a.handle_timeout(t0 + ms(110));
    assert!(a.poll_transmit().is_some());
    assert!(a.poll_transmit().is_none());
    assert_eq!(a.poll_timeout(), Some(t0 + ms(120)));
    // An early call is a no-op.
    a.handle_timeout(t0 + ms(115));
    assert!(a.poll_transmit().is_none());
}

#[test]
fn na_source_and_reply_form_and_router_flag() {
    let t0 = Instant::now();
    let config = Config {
        arp_form: GarpForm::Reply,
        na_router: true,
        na_source: NaSource::LinkLocal,
        ..cfg(1, ms(0))
    };
    let mut a = Announcer::new(config, Pacing::default());
    a.announce(
        t0,
        9,
        &eth0(),
        &[v4(1), v6(1)],
        SourceMac::VirtualRouter { vrid: 9 },
    );
    let mut sent = Vec::new();
    drive(&mut a, t0, Duration::from_secs(1), &mut sent);
    let IpAddr::V4(a4) = v4(1) else {
        unreachable!()
    };
    let IpAddr::V6(a6) = v6(1) else {
        unreachable!()
    };
    assert_eq!(
        sent[0].repr,
        FrameRepr::gratuitous_arp(MacAddr::vrrp_v4(9), a4, GarpForm::Reply)
    );
    assert_eq!(
        sent[1].repr,
        FrameRepr::unsolicited_na(MacAddr::vrrp_v6(9), a6, "fe80::a".parse().unwrap(), true)
    );
}
