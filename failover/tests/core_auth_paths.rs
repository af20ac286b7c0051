//! Authenticated adverts (the HMAC trailer) and redundant advert paths, through the real codec:
//! two sans-io directors joined by two simulated links, adverts carried as bytes.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_failover::core::{
    AdvertPath, Director, DirectorBuilder, DirectorConfigError, DirectorEvent, InstanceConfig,
    InstanceId, PacketMeta, VipSpec,
};
use ha_failover::vrrp::router::{Config, State};
use ha_failover::vrrp::wire::auth::{AdvertKey, MacAlgorithm, TRAILER_TYPE};
use ha_failover::vrrp::wire::{self, Auth, Family, Password};
use ha_failover::vrrp::{DropReason, Priority, Version, VrId};

fn a(net: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, net, 0, host))
}

fn key(secret: &[u8]) -> AdvertKey {
    AdvertKey::new(MacAlgorithm::HmacSha1, 1, secret)
}

/// Node `me` (1 or 2) of a two-node pair: eth0 10.0.0.x and a path on eth1 10.1.0.x, each
/// unicast to the other node.
fn node(me: u8, priority: u8, secret: Option<&[u8]>, t0: Instant) -> (Director, InstanceId) {
    let peer = 3 - me;
    let mut r = Config::new(Version::V3, VrId::new(7).unwrap(), a(0, me));
    r.priority = Priority(priority);
    r.address_owner = priority == 255;
    r.peers = vec![a(0, peer)];
    let mut c = InstanceConfig::new("VI", "eth0", r);
    c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c.advert_key = secret.map(key);
    c.paths.push(AdvertPath {
        interface: "eth1".into(),
        source: a(1, me),
        peers: vec![a(1, peer)],
        multicast_group: None,
    });
    let mut b = DirectorBuilder::new();
    let id = b.add_instance(c).unwrap();
    let mut d = b.build(t0).unwrap();
    d.set_advert_generation(1_000 + u32::from(me));
    (d, id)
}

/// One packet as the IO layer hands it over.
struct Sent {
    path: usize,
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
}

fn sent(d: &mut Director) -> Vec<Sent> {
    let mut buf = Vec::new();
    std::iter::from_fn(|| {
        let t = d.poll_transmit(&mut buf)?;
        Some(Sent {
            path: t.path,
            src: t.src,
            dst: t.dst,
            bytes: buf[..t.len].to_vec(),
        })
    })
    .collect()
}

fn deliver(d: &mut Director, now: Instant, s: &Sent) -> Result<InstanceId, DropReason> {
    let meta = PacketMeta {
        interface: if s.path == 0 { "eth0" } else { "eth1" },
        family: Family::Ipv4,
        src: s.src,
        dst: s.dst,
        ttl: 255,
        received_at: now,
    };
    d.handle_packet(now, &meta, &s.bytes)
}

/// Runs both nodes for `ms` milliseconds in 50 ms steps; `up[k]` says whether path `k`
/// carries packets. Returns the path events of node 2.
fn run(
    n: &mut [(Director, InstanceId); 2],
    t: &mut Instant,
    ms: u64,
    up: [bool; 2],
) -> Vec<DirectorEvent> {
    let mut events = Vec::new();
    for _ in 0..ms / 50 {
        *t += Duration::from_millis(50);
        for i in 0..2 {
            n[i].0.handle_timeout(*t);
            let out = sent(&mut n[i].0);
            let other = &mut n[1 - i].0;
            for s in out.iter().filter(|s| up[s.path]) {
                let _ = deliver(other, *t, s);
            }
        }
        for (i, (d, _)) in n.iter_mut().enumerate() {
            while let Some(ev) = d.poll_event() {
                if i == 1 && matches!(ev, DirectorEvent::PathChanged { .. }) {
                    events.push(ev);
                }
            }
            while d.poll_action().is_some() {}
        }
    }
    events
}

#[test]
fn the_peer_is_dead_only_when_silent_on_every_path() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut n = [
        node(1, 200, Some(b"s3cret"), t0),
        node(2, 100, Some(b"s3cret"), t0),
    ];
    run(&mut n, &mut t, 5_000, [true, true]);
    assert_eq!(n[0].0.state(n[0].1), Some(State::Master));
    assert_eq!(n[1].0.state(n[1].1), Some(State::Backup));
    let p = n[1].0.paths(n[1].1).to_vec();
    assert_eq!(p.len(), 2);
    assert!(
        p[0].adverts_received > 0 && p[1].adverts_received > 0,
        "{p:?}"
    );
    // The backup knows the master by its eth0 address whatever the path.
    assert_eq!(
        n[1].0.router(n[1].1).unwrap().known_master().map(|m| m.0),
        Some(a(0, 1))
    );

    // eth1 cut: the backup stays backup; the path is reported silent once.
    let ev = run(&mut n, &mut t, 6_000, [true, false]);
    assert_eq!(n[1].0.state(n[1].1), Some(State::Backup));
    assert_eq!(n[0].0.state(n[0].1), Some(State::Master));
    assert!(n[1].0.paths(n[1].1)[1].silent);
    assert!(!n[1].0.paths(n[1].1)[0].silent);
    assert_eq!(
        ev,
        [DirectorEvent::PathChanged {
            instance: n[1].1,
            path: 1,
            interface: "eth1".into(),
            alive: false
        }]
    );
    // eth1 back, eth0 cut: still backup; eth1 alive again, eth0 silent.
    let ev = run(&mut n, &mut t, 6_000, [false, true]);
    assert_eq!(n[1].0.state(n[1].1), Some(State::Backup));
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DirectorEvent::PathChanged {
                path: 1,
                alive: true,
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DirectorEvent::PathChanged {
                path: 0,
                alive: false,
                ..
            }
        )),
        "{ev:?}"
    );
    // Both cut: the backup takes over after the master-down interval.
    run(&mut n, &mut t, 5_000, [false, false]);
    assert_eq!(n[1].0.state(n[1].1), Some(State::Master));
    assert!(n[1].0.drops(n[1].1).get(DropReason::Auth) == 0);
}

#[test]
fn a_wrong_key_or_a_replay_is_dropped_and_counted() {
    let t0 = Instant::now();
    let (mut good, _) = node(1, 200, Some(b"s3cret"), t0);
    let (mut wrong, _) = node(1, 200, Some(b"other"), t0);
    let (mut rx, id) = node(2, 100, Some(b"s3cret"), t0);
    let mut t = t0;
    // Both senders become master and send.
    let mut from_good = Vec::new();
    let mut from_wrong = Vec::new();
    for _ in 0..100 {
        t += Duration::from_millis(50);
        good.handle_timeout(t);
        wrong.handle_timeout(t);
        from_good.extend(sent(&mut good));
        from_wrong.extend(sent(&mut wrong));
    }
    rx.handle_timeout(t0 + Duration::from_millis(10));
    assert!(!from_good.is_empty() && !from_wrong.is_empty());
    for s in &from_wrong {
        assert_eq!(deliver(&mut rx, t, s), Err(DropReason::Auth));
    }
    assert_eq!(rx.drops(id).get(DropReason::Auth), from_wrong.len() as u64);
    // Every byte of a good advert matters (but the VRID, which finds no instance at all).
    let g = &from_good[0];
    for i in (0..g.bytes.len()).filter(|i| *i != 1) {
        let mut b = Sent {
            bytes: g.bytes.clone(),
            ..*g
        };
        b.bytes[i] ^= 0x80;
        assert_eq!(deliver(&mut rx, t, &b), Err(DropReason::Auth), "byte {i}");
    }
    // The good ones pass the codec (the router may then drop them for its own reasons).
    for s in &from_good {
        assert_ne!(deliver(&mut rx, t, s).err(), Some(DropReason::Auth));
    }
    // The same bytes again: a replay.
    assert_eq!(deliver(&mut rx, t, &from_good[0]), Err(DropReason::Replay));
    assert_eq!(
        deliver(&mut rx, t, from_good.last().unwrap()),
        Err(DropReason::Replay)
    );
    assert_eq!(rx.drops(id).get(DropReason::Replay), 2);
    assert_eq!(rx.state(id), Some(State::Backup));

    // The sender restarts: a later generation, its counter from the start again.
    let (mut restarted, _) = node(1, 200, Some(b"s3cret"), t0);
    restarted.set_advert_generation(5_000);
    let mut t2 = t0;
    let mut again = Vec::new();
    while again.is_empty() {
        t2 += Duration::from_millis(50);
        restarted.handle_timeout(t2);
        again.extend(sent(&mut restarted));
    }
    assert_ne!(
        deliver(&mut rx, t, &again[0]).err(),
        Some(DropReason::Replay)
    );
    assert_ne!(deliver(&mut rx, t, &again[0]).err(), Some(DropReason::Auth));
}

#[test]
fn the_trailer_is_on_the_wire_as_documented_and_absent_without_a_key() {
    let t0 = Instant::now();
    let (mut keyed, _) = node(1, 255, Some(b"s3cret"), t0);
    let (mut plain, _) = node(1, 255, None, t0);
    keyed.handle_timeout(t0 + Duration::from_millis(10));
    plain.handle_timeout(t0 + Duration::from_millis(10));
    let k = sent(&mut keyed);
    let p = sent(&mut plain);
    assert_eq!(k.len(), 2, "one advert per path");
    assert_eq!(p.len(), 2);
    assert_eq!((k[0].path, k[1].path), (0, 1));
    assert_eq!((k[1].src, k[1].dst), (a(1, 1), a(1, 2)));
    for (k, p) in k.iter().zip(&p) {
        // The VRRP message is the same bytes; the trailer follows it.
        assert_eq!(p.bytes.len(), 8 + 4, "plain VRRPv3: header and one address");
        assert_eq!(&k.bytes[..p.bytes.len()], &p.bytes[..]);
        let tr = &k.bytes[p.bytes.len()..];
        assert_eq!(tr.len(), 12 + 20);
        assert_eq!(&tr[..4], &[TRAILER_TYPE, 2, 1, 0]);
        let seq = u64::from_be_bytes(tr[4..12].try_into().unwrap());
        assert_eq!(seq >> 32, 1_001, "the generation");
    }
    // Sequence numbers grow from one packet to the next.
    let s0 = u64::from_be_bytes(k[0].bytes[16..24].try_into().unwrap());
    let s1 = u64::from_be_bytes(k[1].bytes[16..24].try_into().unwrap());
    assert!(s1 > s0);
    // A plain receiver drops a keyed advert as it drops any message with trailing bytes.
    let (mut rx, id) = node(2, 100, None, t0);
    rx.handle_timeout(t0 + Duration::from_millis(10));
    assert_eq!(
        deliver(&mut rx, t0 + Duration::from_millis(20), &k[0]),
        Err(DropReason::LengthMismatch)
    );
    assert_eq!(rx.drops(id).get(DropReason::LengthMismatch), 1);
}

#[test]
fn paths_and_keys_are_checked_when_built() {
    let base = || {
        let r = Config::new(Version::V2, VrId::new(7).unwrap(), a(0, 1));
        let mut c = InstanceConfig::new("VI", "eth0", r);
        c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        c
    };
    let mut c = base();
    c.auth = Auth::SimpleText(Password::new(b"pw").unwrap());
    c.advert_key = Some(key(b"k"));
    let e = DirectorBuilder::new().add_instance(c).unwrap_err();
    assert!(matches!(e, DirectorConfigError::AdvertPath { .. }), "{e}");
    let mut c = base();
    c.paths.push(AdvertPath {
        interface: "eth0".into(),
        source: a(0, 1),
        peers: vec![],
        multicast_group: None,
    });
    let e = DirectorBuilder::new().add_instance(c).unwrap_err();
    assert!(e.to_string().contains("already uses"), "{e}");
    let mut c = base();
    c.paths.push(AdvertPath {
        interface: "eth1".into(),
        source: "fe80::1".parse().unwrap(),
        peers: vec![],
        multicast_group: None,
    });
    let e = DirectorBuilder::new().add_instance(c).unwrap_err();
    assert!(e.to_string().contains("family"), "{e}");
    // Another instance with the VRID on the path's interface: a duplicate.
    let mut b = DirectorBuilder::new();
    let mut c = base();
    c.paths.push(AdvertPath {
        interface: "eth1".into(),
        source: a(1, 1),
        peers: vec![],
        multicast_group: None,
    });
    b.add_instance(c).unwrap();
    let r = Config::new(Version::V2, VrId::new(7).unwrap(), a(1, 1));
    let mut other = InstanceConfig::new("OTHER", "eth1", r);
    other.vips.push(VipSpec::parse("10.1.0.100/24").unwrap());
    let e = b.add_instance(other).unwrap_err();
    assert!(
        matches!(e, DirectorConfigError::DuplicateVrid { .. }),
        "{e}"
    );
    // The receive demux knows the path.
    let t0 = Instant::now();
    let (d, id) = node(1, 100, None, t0);
    assert_eq!(
        d.find_path("eth1", VrId::new(7).unwrap(), true),
        Some((id, 1))
    );
    assert_eq!(
        d.find_instance("eth1", VrId::new(7).unwrap(), true),
        Some(id)
    );
    assert_eq!(d.find_path("eth2", VrId::new(7).unwrap(), true), None);
    let _ = wire::MULTICAST_V4;
}
