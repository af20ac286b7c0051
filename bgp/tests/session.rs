//! FSM tests (RFC 4271 §8) with a scripted peer built from the codec, on a virtual clock.
#![allow(
    clippy::disallowed_methods,
    reason = "a test takes its start instant from the real clock (clippy.toml)"
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ha_bgp::message::{AS_TRANS, AsSegment, SegmentType};
use ha_bgp::{
    Action, Afi, Attribute, Capability, Config, DownReason, Event, Message, Notification, Open,
    Prefix, RouteAttributes, Safi, Session, State, Update,
};

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65000;

fn config() -> Config {
    let mut c = Config::new(LOCAL_AS, PEER_AS, Ipv4Addr::new(10, 0, 0, 2));
    c.hold_time = Duration::from_secs(9);
    c.connect_retry = Duration::from_secs(5);
    c.idle_hold = Duration::from_secs(1);
    c.next_hop_v4 = Some(Ipv4Addr::new(10, 0, 0, 2));
    c.next_hop_v6 = Some("fd00::2".parse().unwrap());
    c
}

fn peer_open(asn: u32, hold: u16) -> Open {
    Open {
        my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
        hold_time: hold,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
            },
            Capability::FourOctetAs(asn),
        ],
        other_params: vec![],
    }
}

fn bytes(m: Message) -> Vec<u8> {
    m.encode().unwrap()
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

/// Drains everything the session wants done.
#[derive(Debug, Default)]
struct Out {
    sent: Vec<Message>,
    actions: Vec<Action>,
    events: Vec<Event>,
}

fn drain(s: &mut Session) -> Out {
    let mut o = Out::default();
    while let Some(b) = s.poll_transmit() {
        o.sent
            .push(Message::decode(&b).expect("we send valid messages"));
    }
    while let Some(a) = s.poll_action() {
        o.actions.push(a);
    }
    while let Some(e) = s.poll_event() {
        o.events.push(e);
    }
    o
}

fn downs(o: &Out) -> Vec<DownReason> {
    o.events
        .iter()
        .filter_map(|e| match e {
            Event::Down { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn notifications(o: &Out) -> Vec<Notification> {
    o.sent
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn updates(o: &Out) -> Vec<Update> {
    o.sent
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

/// Announced prefixes (IPv4 NLRI and MP_REACH) and withdrawn ones (both kinds) in `o`.
fn routes(o: &Out) -> (Vec<Prefix>, Vec<Prefix>) {
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    for u in updates(o) {
        ann.extend(u.nlri.iter().copied());
        wd.extend(u.withdrawn.iter().copied());
        for a in &u.attributes {
            match a {
                Attribute::MpReach { nlri, .. } => ann.extend(nlri.iter().copied()),
                Attribute::MpUnreach { withdrawn, .. } => wd.extend(withdrawn.iter().copied()),
                _ => {}
            }
        }
    }
    (ann, wd)
}

/// Brings a session to Established with a peer offering `hold` seconds.
fn establish(s: &mut Session, t: Instant, hold: u16) -> Out {
    s.start(t);
    let o = drain(s);
    assert_eq!(o.actions, vec![Action::Connect]);
    assert_eq!(s.state(), State::Connect);
    s.connected(t);
    let o = drain(s);
    let Message::Open(ours) = &o.sent[0] else {
        panic!("first message must be OPEN: {:?}", o.sent)
    };
    assert_eq!(ours.asn(), LOCAL_AS);
    assert_eq!(s.state(), State::OpenSent);
    s.handle_input(t, &bytes(Message::Open(peer_open(PEER_AS, hold))));
    let o = drain(s);
    assert_eq!(o.sent, vec![Message::Keepalive]);
    assert_eq!(s.state(), State::OpenConfirm);
    assert!(
        o.events
            .iter()
            .any(|e| matches!(e, Event::PeerOpen { asn: PEER_AS, .. }))
    );
    s.handle_input(t, &bytes(Message::Keepalive));
    let o = drain(s);
    assert_eq!(s.state(), State::Established);
    assert!(o.events.contains(&Event::Established));
    o
}

#[test]
fn open_carries_our_capabilities() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    s.start(t);
    s.connected(t);
    let o = drain(&mut s);
    let Message::Open(open) = &o.sent[0] else {
        panic!()
    };
    assert_eq!(open.my_as, 65001);
    assert_eq!(open.hold_time, 9);
    assert_eq!(open.bgp_id, Ipv4Addr::new(10, 0, 0, 2));
    assert!(open.supports(Afi::Ipv4, Safi::Unicast));
    assert!(open.supports(Afi::Ipv6, Safi::Unicast));
    assert_eq!(open.four_octet_as(), Some(65001));
    // A 4-octet AS goes as AS_TRANS in My AS (RFC 6793 §4.1).
    let mut c = config();
    c.local_as = 4_200_000_001;
    let mut s = Session::new(c, t).unwrap();
    s.start(t);
    s.connected(t);
    let Message::Open(open) = &drain(&mut s).sent[0] else {
        panic!()
    };
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_001);
}

#[test]
fn establishes_and_announces_the_desired_set() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    // Announced before the session is up: nothing sent yet.
    s.announce(t, p("10.0.0.100/32"), RouteAttributes::default())
        .unwrap();
    s.announce(t, p("fd00::100/128"), RouteAttributes::default())
        .unwrap();
    let o = establish(&mut s, t, 90);
    // Negotiated hold: min(9, 90).
    assert_eq!(s.negotiated_hold_time(), Duration::from_secs(9));
    let (ann, wd) = routes(&o);
    assert_eq!(ann, vec![p("10.0.0.100/32"), p("fd00::100/128")]);
    assert!(wd.is_empty());
    // eBGP attributes: ORIGIN IGP, AS_PATH [65001], NEXT_HOP ours, no LOCAL_PREF.
    let u = &updates(&o)[0];
    assert!(u.attributes.contains(&Attribute::AsPath(vec![AsSegment {
        kind: SegmentType::Sequence,
        asns: vec![LOCAL_AS]
    }])));
    assert!(
        u.attributes
            .contains(&Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 2)))
    );
    assert!(
        !u.attributes
            .iter()
            .any(|a| matches!(a, Attribute::LocalPref(_)))
    );
    // While up, only the difference: a new prefix, then a withdrawal of each family.
    s.announce(t, p("10.0.0.101/32"), RouteAttributes::default())
        .unwrap();
    let (ann, _) = routes(&drain(&mut s));
    assert_eq!(ann, vec![p("10.0.0.101/32")]);
    // Announcing the same thing again sends nothing.
    s.announce(t, p("10.0.0.101/32"), RouteAttributes::default())
        .unwrap();
    assert!(drain(&mut s).sent.is_empty());
    // Changed attributes are re-sent.
    let med = RouteAttributes {
        med: Some(50),
        ..RouteAttributes::default()
    };
    s.announce(t, p("10.0.0.101/32"), med).unwrap();
    let u = updates(&drain(&mut s));
    assert!(u[0].attributes.contains(&Attribute::MultiExitDisc(50)));
    assert!(s.withdraw(t, p("10.0.0.100/32")));
    assert!(s.withdraw(t, p("fd00::100/128")));
    assert!(!s.withdraw(t, p("10.9.9.9/32")));
    let (ann, wd) = routes(&drain(&mut s));
    assert!(ann.is_empty());
    assert_eq!(wd, vec![p("10.0.0.100/32"), p("fd00::100/128")]);
    assert_eq!(s.advertised().count(), 1);
}

#[test]
fn re_announces_everything_after_re_establishment() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    s.announce(t, p("10.0.0.100/32"), RouteAttributes::default())
        .unwrap();
    s.announce(t, p("fd00::100/128"), RouteAttributes::default())
        .unwrap();
    drain(&mut s);
    // The connection drops: Idle, Down, then the automatic restart after idle hold.
    s.closed(t);
    let o = drain(&mut s);
    assert_eq!(downs(&o), vec![DownReason::ConnectionLost]);
    assert!(notifications(&o).is_empty());
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(1)));
    // An early timeout is a no-op.
    s.handle_timeout(t + Duration::from_millis(999));
    assert_eq!(s.state(), State::Idle);
    let t1 = t + Duration::from_secs(1);
    s.handle_timeout(t1);
    assert_eq!(drain(&mut s).actions, vec![Action::Connect]);
    // Withdrawn while down: not re-announced.
    s.withdraw(t1, p("fd00::100/128"));
    s.connected(t1);
    s.handle_input(t1, &bytes(Message::Open(peer_open(PEER_AS, 9))));
    s.handle_input(t1, &bytes(Message::Keepalive));
    let (ann, wd) = routes(&drain(&mut s));
    assert_eq!(s.state(), State::Established);
    assert_eq!(ann, vec![p("10.0.0.100/32")]);
    assert!(wd.is_empty());
}

#[test]
fn keepalives_at_a_third_of_the_hold_time_and_hold_timer_expiry() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 6); // negotiated 6 s: keepalive every 2 s
    assert_eq!(s.negotiated_hold_time(), Duration::from_secs(6));
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(2)));
    s.handle_timeout(t + Duration::from_secs(2));
    assert_eq!(drain(&mut s).sent, vec![Message::Keepalive]);
    s.handle_timeout(t + Duration::from_secs(4));
    assert_eq!(drain(&mut s).sent, vec![Message::Keepalive]);
    // A KEEPALIVE from the peer at 5 s restarts the hold timer: no expiry at 6 s.
    s.handle_input(t + Duration::from_secs(5), &bytes(Message::Keepalive));
    s.handle_timeout(t + Duration::from_secs(6));
    let o = drain(&mut s);
    assert_eq!(o.sent, vec![Message::Keepalive]);
    assert_eq!(s.state(), State::Established);
    // Silence until 11 s: Hold Timer Expired NOTIFICATION, close, Idle.
    s.handle_timeout(t + Duration::from_secs(8));
    drain(&mut s);
    s.handle_timeout(t + Duration::from_secs(11));
    let o = drain(&mut s);
    assert_eq!(notifications(&o), vec![Notification::new(4, 0)]);
    assert_eq!(o.actions, vec![Action::Disconnect]);
    assert_eq!(downs(&o), vec![DownReason::HoldTimerExpired]);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn zero_hold_time_means_no_keepalives() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 0);
    assert_eq!(s.negotiated_hold_time(), Duration::ZERO);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn wrong_peer_as_is_bad_peer_as() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    s.start(t);
    s.connected(t);
    drain(&mut s);
    s.handle_input(t, &bytes(Message::Open(peer_open(65099, 90))));
    let o = drain(&mut s);
    assert_eq!(notifications(&o), vec![Notification::new(2, 2)]);
    let reason = downs(&o).pop().unwrap();
    assert_eq!(
        reason,
        DownReason::BadPeerAs {
            expected: PEER_AS,
            received: 65099
        }
    );
    assert_eq!(
        reason.to_string(),
        "peer AS mismatch: expected AS65000, the peer's OPEN says AS65099"
    );
    assert_eq!(o.actions, vec![Action::Disconnect]);
}

#[test]
fn open_checks() {
    let t = Instant::now();
    let cases: Vec<(Open, u8)> = vec![
        (peer_open(PEER_AS, 2), 6),
        (
            Open {
                bgp_id: Ipv4Addr::UNSPECIFIED,
                ..peer_open(PEER_AS, 90)
            },
            3,
        ),
        (
            Open {
                capabilities: vec![],
                ..peer_open(PEER_AS, 90)
            },
            7,
        ),
        (
            Open {
                other_params: vec![ha_bgp::message::RawParameter {
                    param_type: 9,
                    value: vec![],
                }],
                ..peer_open(PEER_AS, 90)
            },
            4,
        ),
    ];
    for (open, subcode) in cases {
        let mut s = Session::new(config(), t).unwrap();
        s.start(t);
        s.connected(t);
        drain(&mut s);
        s.handle_input(t, &bytes(Message::Open(open.clone())));
        let o = drain(&mut s);
        assert_eq!(
            notifications(&o),
            vec![Notification::new(2, subcode)],
            "{open:?}"
        );
        assert_eq!(s.state(), State::Idle);
    }
    // Version 3: Unsupported Version Number, data = 4.
    let mut s = Session::new(config(), t).unwrap();
    s.start(t);
    s.connected(t);
    drain(&mut s);
    let mut b = bytes(Message::Open(peer_open(PEER_AS, 90)));
    b[19] = 3;
    s.handle_input(t, &b);
    let n = notifications(&drain(&mut s));
    assert_eq!(
        (n[0].code, n[0].subcode, n[0].data.clone()),
        (2, 1, vec![0, 4])
    );
}

#[test]
fn fsm_errors_and_received_notifications() {
    let t = Instant::now();
    // UPDATE in OpenSent: FSM error subcode 1 (RFC 6608).
    let mut s = Session::new(config(), t).unwrap();
    s.start(t);
    s.connected(t);
    drain(&mut s);
    s.handle_input(t, &bytes(Message::Update(Update::default())));
    assert_eq!(notifications(&drain(&mut s)), vec![Notification::new(5, 1)]);
    // OPEN in Established: subcode 3.
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    s.handle_input(t, &bytes(Message::Open(peer_open(PEER_AS, 9))));
    assert_eq!(notifications(&drain(&mut s)), vec![Notification::new(5, 3)]);
    // A NOTIFICATION from the peer: down, nothing sent back.
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    let cease = Notification::admin_shutdown(Some("bye"));
    s.handle_input(t, &bytes(Message::Notification(cease.clone())));
    let o = drain(&mut s);
    assert!(notifications(&o).is_empty());
    assert_eq!(downs(&o), vec![DownReason::NotificationReceived(cease)]);
}

#[test]
fn malformed_updates_follow_rfc_7606() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    // Treat-as-withdraw (ORIGIN value 7): the session stays up.
    let mut attrs = vec![0x40, 1, 1, 7, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1];
    let mut body = vec![0, 0, 0, attrs.len() as u8];
    body.append(&mut attrs);
    body.extend_from_slice(&[32, 10, 0, 0, 9]);
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&body);
    s.handle_input(t, &b);
    let o = drain(&mut s);
    assert!(o.sent.is_empty());
    assert!(matches!(o.events[..], [Event::UpdateError(_)]));
    assert_eq!(s.state(), State::Established);
    // An invalid network field resets (3/10).
    let n = b.len();
    b[n - 5] = 40;
    s.handle_input(t, &b);
    let o = drain(&mut s);
    assert_eq!(notifications(&o)[0].subcode, 10);
    assert_eq!(s.state(), State::Idle);
    // A broken marker: Connection Not Synchronized.
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    let mut k = bytes(Message::Keepalive);
    k[0] = 0;
    s.handle_input(t, &k);
    assert_eq!(notifications(&drain(&mut s)), vec![Notification::new(1, 1)]);
}

#[test]
fn valid_updates_from_the_peer_are_discarded_and_feed_the_hold_timer() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            Attribute::Origin(ha_bgp::Origin::Igp),
            Attribute::AsPath(vec![]),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
        ],
        nlri: vec![p("192.0.2.0/24")],
    };
    // Split in odd chunks.
    let b = bytes(Message::Update(u));
    let t8 = t + Duration::from_secs(8);
    for c in b.chunks(7) {
        s.handle_input(t8, c);
    }
    s.handle_timeout(t + Duration::from_secs(10));
    assert_eq!(s.state(), State::Established);
    assert!(downs(&drain(&mut s)).is_empty());
}

#[test]
fn stop_sends_cease_administrative_shutdown_and_stays_idle() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    establish(&mut s, t, 9);
    s.stop(t, Some("maintenance"));
    let o = drain(&mut s);
    assert_eq!(
        notifications(&o),
        vec![Notification::admin_shutdown(Some("maintenance"))]
    );
    assert_eq!(o.actions, vec![Action::Disconnect]);
    assert_eq!(
        downs(&o),
        vec![DownReason::Stopped {
            message: Some("maintenance".into())
        }]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None);
    // No automatic restart; start again works.
    s.handle_timeout(t + Duration::from_secs(100));
    assert_eq!(s.state(), State::Idle);
    s.start(t + Duration::from_secs(100));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn connect_retry_and_passive_mode() {
    let t = Instant::now();
    let mut s = Session::new(config(), t).unwrap();
    s.start(t);
    assert_eq!(drain(&mut s).actions, vec![Action::Connect]);
    s.connection_failed(t + Duration::from_millis(10));
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(5)));
    s.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(s.state(), State::Connect);
    assert_eq!(drain(&mut s).actions, vec![Action::Connect]);
    // No answer at all: the attempt is retried after connect retry again.
    s.handle_timeout(t + Duration::from_secs(10));
    assert_eq!(drain(&mut s).actions, vec![Action::Connect]);
    // Passive: Active, never asks to connect, accepts an inbound connection.
    let mut c = config();
    c.passive = true;
    let mut s = Session::new(c, t).unwrap();
    s.start(t);
    assert_eq!(s.state(), State::Active);
    s.handle_timeout(t + Duration::from_secs(5));
    assert!(drain(&mut s).actions.is_empty());
    s.connected(t + Duration::from_secs(6));
    assert_eq!(s.state(), State::OpenSent);
    // OpenSent waits at most 4 minutes for the OPEN.
    s.handle_timeout(t + Duration::from_secs(6 + 240));
    assert_eq!(notifications(&drain(&mut s)), vec![Notification::new(4, 0)]);
}

#[test]
fn ibgp_sends_local_pref_and_an_empty_as_path() {
    let t = Instant::now();
    let mut c = config();
    c.peer_as = LOCAL_AS;
    let mut s = Session::new(c, t).unwrap();
    s.announce(t, p("10.0.0.100/32"), RouteAttributes::default())
        .unwrap();
    s.start(t);
    s.connected(t);
    drain(&mut s);
    let mut open = peer_open(LOCAL_AS, 9);
    open.capabilities
        .retain(|c| !matches!(c, Capability::Multiprotocol { afi: Afi::Ipv6, .. }));
    s.handle_input(t, &bytes(Message::Open(open)));
    s.announce(t, p("fd00::100/128"), RouteAttributes::default())
        .unwrap();
    s.handle_input(t, &bytes(Message::Keepalive));
    let o = drain(&mut s);
    let u = updates(&o);
    // The peer did not negotiate IPv6: only the IPv4 route goes.
    assert_eq!(u.len(), 1);
    assert!(u[0].attributes.contains(&Attribute::LocalPref(100)));
    assert!(u[0].attributes.contains(&Attribute::AsPath(vec![])));
}

#[test]
fn config_and_announce_errors() {
    let t = Instant::now();
    let mut c = config();
    c.hold_time = Duration::from_secs(2);
    assert!(Session::new(c, t).is_err());
    let mut c = config();
    c.router_id = Ipv4Addr::UNSPECIFIED;
    assert!(Session::new(c, t).is_err());
    let mut c = config();
    c.next_hop_v6 = None;
    let mut s = Session::new(c, t).unwrap();
    let e = s
        .announce(t, p("fd00::1/128"), RouteAttributes::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot announce fd00::1/128: no IPv6 next hop configured"
    );
}

#[test]
fn jitter_scales_timers_by_three_quarters_to_one_and_is_deterministic() {
    let t = Instant::now();
    let run = |seed| {
        let mut c = config();
        c.jitter_seed = Some(seed);
        c.connect_retry = Duration::from_secs(100);
        let mut s = Session::new(c, t).unwrap();
        let mut out = Vec::new();
        s.start(t);
        for _ in 0..20 {
            let d = s.poll_timeout().unwrap() - t;
            out.push(d);
            // Fail and retry from `t` again: a fresh draw each time.
            s.stop(t, None);
            s.start(t);
        }
        out
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    for d in &a {
        assert!(
            *d >= Duration::from_secs(75) && *d <= Duration::from_secs(100),
            "{d:?}"
        );
    }
    assert!(a.iter().any(|d| *d < Duration::from_secs(99)));
    // Keepalives too.
    let mut c = config();
    c.jitter_seed = Some(1);
    let mut s = Session::new(c, t).unwrap();
    establish(&mut s, t, 9);
    let ka = s.poll_timeout().unwrap() - t;
    assert!(
        ka >= Duration::from_millis(2250) && ka <= Duration::from_secs(3),
        "{ka:?}"
    );
}
