//! Codec tests: hand-written byte vectors from the RFC layouts, malformed input mapped to its
//! NOTIFICATION (RFC 4271 §6, RFC 7606), the streaming framer, and proptest round trips.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_bgp::message::{
    AS_TRANS, AsSegment, MpNextHop, RawParameter, SegmentType, attr_flags, attr_type,
};
use ha_bgp::{
    Afi, Attribute, Capability, DecodeError, ErrorAction, Framer, Message, Notification, Open,
    Origin, Prefix, Safi, Update,
};
use proptest::prelude::*;

fn header(len: u16, ty: u8) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&len.to_be_bytes());
    v.push(ty);
    v
}

/// A message from a body: header with the right length.
fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = header((19 + body.len()) as u16, ty);
    v.extend_from_slice(body);
    v
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

// An UPDATE body around an attribute list and IPv4 NLRI.
fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP_10_0_0_2: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 2];

fn notif(bytes: &[u8]) -> (u8, u8, ErrorAction) {
    let e = Message::decode(bytes).unwrap_err();
    let n = e.notification();
    (n.code, n.subcode, e.action())
}

#[test]
fn keepalive_is_the_bare_header() {
    let bytes = Message::Keepalive.encode().unwrap();
    assert_eq!(bytes, header(19, 4));
    assert_eq!(Message::decode(&bytes), Ok(Message::Keepalive));
}

/// OPEN, RFC 4271 §4.2 with RFC 5492 capabilities, as FRR sends it (one Capabilities
/// parameter): version 4, AS 65001, hold 90, id 10.0.0.1, MP IPv4 unicast, MP IPv6 unicast,
/// 4-octet AS 65001. tshark -V on these bytes: "Optional Parameters Length: 20", "AFI: IPv4 (1)",
/// "SAFI: Unicast (1)", "AS Number: 65001".
const OPEN_BYTES: [u8; 49] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x31, 0x01, // length 49, OPEN
    0x04, 0xfd, 0xe9, 0x00, 0x5a, 10, 0, 0, 1,  // version, AS, hold, id
    20, // optional parameters length
    0x02, 18, // Capabilities parameter
    0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP IPv4 unicast
    0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP IPv6 unicast
    0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, // 4-octet AS 65001
];

fn open_repr() -> Open {
    Open {
        my_as: 65001,
        hold_time: 90,
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
            Capability::FourOctetAs(65001),
        ],
        other_params: vec![],
    }
}

#[test]
fn open_parse_and_emit() {
    assert_eq!(Message::decode(&OPEN_BYTES), Ok(Message::Open(open_repr())));
    assert_eq!(Message::Open(open_repr()).encode().unwrap(), OPEN_BYTES);
    assert_eq!(open_repr().asn(), 65001);
    assert!(open_repr().supports(Afi::Ipv6, Safi::Unicast));
}

#[test]
fn open_with_several_parameters_and_unknown_capabilities() {
    // GoBGP and BIRD put each capability in its own parameter; keep unknown ones raw.
    let body = [
        4, 0x5b, 0xa0, 0, 3, 192, 0, 2, 1,  // AS_TRANS, hold 3
        16, // opt len
        2, 6, 0x41, 4, 0, 1, 0, 0, // 4-octet AS 65536
        2, 2, 0x40, 0, // graceful restart, empty (code 64)
        2, 2, 0x02, 0, // route refresh
    ];
    let Message::Open(o) = Message::decode(&msg(1, &body)).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(o.my_as, AS_TRANS);
    assert_eq!(o.asn(), 65536);
    assert_eq!(
        o.capabilities,
        vec![
            Capability::FourOctetAs(65536),
            Capability::Unknown {
                code: 64,
                value: vec![]
            },
            Capability::RouteRefresh,
        ]
    );
}

/// UPDATE announcing 10.0.0.100/32 from AS 65001 via 10.0.0.2 (RFC 4271 §4.3, 4-octet AS_PATH
/// per RFC 6793).
#[test]
fn update_ipv4_parse_and_emit() {
    let mut attrs = Vec::new();
    attrs.extend_from_slice(&ORIGIN_IGP);
    attrs.extend_from_slice(&AS_PATH_65001);
    attrs.extend_from_slice(&NEXT_HOP_10_0_0_2);
    attrs.extend_from_slice(&[0x80, 4, 4, 0, 0, 0, 10]); // MED 10
    attrs.extend_from_slice(&[0xc0, 8, 4, 0xfd, 0xe9, 0, 1]); // community 65001:1
    let bytes = msg(2, &update_body(&[], &attrs, &[32, 10, 0, 0, 100]));
    let repr = Update {
        withdrawn: vec![],
        attributes: vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(vec![AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![65001],
            }]),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 2)),
            Attribute::MultiExitDisc(10),
            Attribute::Communities(vec![(65001 << 16) | 1]),
        ],
        nlri: vec![p("10.0.0.100/32")],
    };
    assert_eq!(Message::decode(&bytes), Ok(Message::Update(repr.clone())));
    assert_eq!(Message::Update(repr).encode().unwrap(), bytes);
}

#[test]
fn update_withdraw_ipv4() {
    let bytes = msg(
        2,
        &update_body(&[32, 10, 0, 0, 100, 24, 10, 1, 2], &[], &[]),
    );
    let repr = Update {
        withdrawn: vec![p("10.0.0.100/32"), p("10.1.2.0/24")],
        ..Update::default()
    };
    assert_eq!(Message::decode(&bytes), Ok(Message::Update(repr.clone())));
    assert_eq!(Message::Update(repr).encode().unwrap(), bytes);
}

/// MP_REACH_NLRI for fd00::100/128 with a 16-octet next hop fd00::2 (RFC 4760 §3, RFC 2545).
#[test]
fn update_ipv6_mp_reach_and_unreach() {
    let nh: Ipv6Addr = "fd00::2".parse().unwrap();
    let mut mp = vec![0x80, 14, 0]; // length patched below
    mp.extend_from_slice(&[0, 2, 1, 16]);
    mp.extend_from_slice(&nh.octets());
    mp.push(0);
    mp.push(128);
    mp.extend_from_slice(&"fd00::100".parse::<Ipv6Addr>().unwrap().octets());
    mp[2] = (mp.len() - 3) as u8;
    let mut attrs = mp.clone();
    attrs.extend_from_slice(&ORIGIN_IGP);
    attrs.extend_from_slice(&AS_PATH_65001);
    let bytes = msg(2, &update_body(&[], &attrs, &[]));
    let Message::Update(u) = Message::decode(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(
        u.attributes[0],
        Attribute::MpReach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            next_hop: MpNextHop::V6 {
                global: nh,
                link_local: None
            },
            nlri: vec![p("fd00::100/128")],
        }
    );
    assert_eq!(Message::Update(u).encode().unwrap(), bytes);

    // 32-octet next hop: global + link-local.
    let mut mp = vec![0x80, 14, 0, 0, 2, 1, 32];
    mp.extend_from_slice(&nh.octets());
    mp.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
    mp.extend_from_slice(&[0, 64, 0xfd, 0, 0, 0, 0, 0, 0, 1]);
    mp[2] = (mp.len() - 3) as u8;
    let mut attrs = mp;
    attrs.extend_from_slice(&ORIGIN_IGP);
    attrs.extend_from_slice(&AS_PATH_65001);
    let Message::Update(u) = Message::decode(&msg(2, &update_body(&[], &attrs, &[]))).unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        &u.attributes[0],
        Attribute::MpReach { next_hop: MpNextHop::V6 { link_local: Some(_), .. }, nlri, .. }
            if nlri == &vec![p("fd00:0:0:1::/64")]
    ));

    // MP_UNREACH_NLRI alone (a withdrawal; RFC 4760 §4).
    let mut un = vec![0x80, 15, 20, 0, 2, 1, 128];
    un.extend_from_slice(&"fd00::100".parse::<Ipv6Addr>().unwrap().octets());
    let bytes = msg(2, &update_body(&[], &un, &[]));
    let repr = Update {
        attributes: vec![Attribute::MpUnreach {
            afi: Afi::Ipv6,
            safi: Safi::Unicast,
            withdrawn: vec![p("fd00::100/128")],
        }],
        ..Update::default()
    };
    assert_eq!(Message::decode(&bytes), Ok(Message::Update(repr.clone())));
    assert_eq!(Message::Update(repr).encode().unwrap(), bytes);
}

#[test]
fn unknown_attributes_are_kept_raw_and_extended_length_works() {
    // AGGREGATOR-like optional transitive type 99 with extended length, 300 octets.
    let mut attrs = ORIGIN_IGP.to_vec();
    attrs.extend_from_slice(&AS_PATH_65001);
    attrs.extend_from_slice(&NEXT_HOP_10_0_0_2);
    attrs.extend_from_slice(&[0xd0, 99, 0x01, 0x2c]);
    attrs.extend(std::iter::repeat_n(7u8, 300));
    let bytes = msg(2, &update_body(&[], &attrs, &[24, 10, 9, 9]));
    let Message::Update(u) = Message::decode(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(
        u.attributes[3],
        Attribute::Unknown {
            flags: 0xc0,
            type_code: 99,
            value: vec![7; 300]
        }
    );
    assert_eq!(Message::Update(u).encode().unwrap(), bytes);
    // Extended length on a known attribute is accepted too.
    let mut attrs = vec![0x50, 1, 0, 1, 2];
    attrs.extend_from_slice(&AS_PATH_65001);
    let Message::Update(u) = Message::decode(&msg(2, &update_body(&[], &attrs, &[]))).unwrap()
    else {
        panic!()
    };
    assert_eq!(u.attributes[0], Attribute::Origin(Origin::Incomplete));
}

#[test]
fn notification_names_and_shutdown_communication() {
    let n = Notification::admin_shutdown(Some("maintenance"));
    let bytes = Message::Notification(n.clone()).encode().unwrap();
    let mut want = header(19 + 2 + 12, 3);
    want.extend_from_slice(&[6, 2, 11]);
    want.extend_from_slice(b"maintenance");
    assert_eq!(bytes, want);
    assert_eq!(
        Message::decode(&bytes),
        Ok(Message::Notification(n.clone()))
    );
    assert_eq!(n.shutdown_message().as_deref(), Some("maintenance"));
    assert_eq!(
        n.to_string(),
        "Cease / Administrative Shutdown (6/2): \"maintenance\""
    );
    let h = Notification::new(4, 0);
    assert_eq!(h.to_string(), "Hold Timer Expired / Unspecific (4/0)");
    assert_eq!(Notification::new(2, 2).subcode_name(), "Bad Peer AS");
    // RFC 9003: at most 255 octets, cut on a character boundary.
    let long = "é".repeat(200);
    let n = Notification::admin_shutdown(Some(&long));
    assert_eq!(n.data[0], 254);
    assert_eq!(n.shutdown_message().unwrap().chars().count(), 127);
}

// ------------------------------------------------------------------------------------------
// Malformed input: each case names the NOTIFICATION RFC 4271 §6 / RFC 7606 asks for.
// ------------------------------------------------------------------------------------------

#[test]
fn header_errors() {
    let mut b = header(19, 4);
    b[3] = 0;
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::BadMarker { offset: 3 })
    );
    assert_eq!(notif(&b).0..notif(&b).1, 1..1);
    assert_eq!(notif(&header(19, 4)[..18]).1, 2);
    let mut too_long = header(4097, 2);
    too_long.resize(4097, 0);
    let e = Message::decode(&too_long).unwrap_err().notification();
    assert_eq!(
        (e.code, e.subcode, e.data.clone()),
        (1, 2, vec![0x10, 0x01])
    );
    assert_eq!(notif(&header(19, 9)), (1, 3, ErrorAction::SessionReset));
    assert_eq!(
        Message::decode(&header(19, 9))
            .unwrap_err()
            .notification()
            .data,
        vec![9]
    );
    // KEEPALIVE must be exactly 19 octets; NOTIFICATION at least 21; OPEN 29; UPDATE 23.
    assert_eq!(notif(&msg(4, &[0])).1, 2);
    assert_eq!(notif(&msg(3, &[6])).1, 2);
    assert_eq!(notif(&msg(1, &[4; 9])).1, 2);
    assert_eq!(notif(&msg(2, &[0, 0])).1, 2);
}

#[test]
fn open_errors() {
    let mut b = OPEN_BYTES;
    b[19] = 3;
    let e = Message::decode(&b).unwrap_err();
    assert_eq!(e, DecodeError::UnsupportedVersion { version: 3 });
    assert_eq!(
        e.notification(),
        Notification {
            code: 2,
            subcode: 1,
            data: vec![0, 4]
        }
    );
    // Optional parameters length disagrees with the message.
    let mut b = OPEN_BYTES;
    b[28] = 21;
    assert_eq!(notif(&b), (2, 0, ErrorAction::SessionReset));
    // A capability overrunning its parameter.
    let mut b = OPEN_BYTES;
    b[30] = 17;
    assert_eq!(notif(&b).0, 2);
    // MP capability of length 3.
    let body = [4, 0, 1, 0, 90, 1, 1, 1, 1, 5, 2, 3, 1, 3, 0, 1, 0];
    assert_eq!(notif(&msg(1, &body[..body.len() - 1])).0, 2);
}

fn with_standard(attr: &[u8], nlri: &[u8]) -> Vec<u8> {
    msg(2, &update_body(&[], attr, nlri))
}

#[test]
fn update_errors_map_to_rfc_7606_actions() {
    use ErrorAction::{SessionReset as Reset, TreatAsWithdraw as Withdraw};
    let nlri = [32, 10, 0, 0, 100];
    let base = |extra: &[u8], skip: u8| {
        let mut a = Vec::new();
        if skip != 1 {
            a.extend_from_slice(&ORIGIN_IGP);
        }
        if skip != 2 {
            a.extend_from_slice(&AS_PATH_65001);
        }
        if skip != 3 {
            a.extend_from_slice(&NEXT_HOP_10_0_0_2);
        }
        a.extend_from_slice(extra);
        a
    };
    // Withdrawn routes length overruns: Malformed Attribute List, reset.
    let mut b = msg(2, &update_body(&[], &[], &[]));
    b[19] = 0;
    b[20] = 9;
    assert_eq!(notif(&b), (3, 1, Reset));
    // Total path attribute length overruns.
    let mut b = with_standard(&base(&[], 0), &nlri);
    b[22] = 0xff;
    assert_eq!(notif(&b), (3, 1, Reset));
    // Missing ORIGIN, AS_PATH, NEXT_HOP with NLRI: Missing Well-known Attribute, data = type.
    for t in 1..=3u8 {
        let b = with_standard(&base(&[], t), &nlri);
        assert_eq!(notif(&b), (3, 3, Withdraw), "type {t}");
        assert_eq!(
            Message::decode(&b).unwrap_err().notification().data,
            vec![t]
        );
    }
    // A withdrawal-only UPDATE needs no attributes.
    assert!(Message::decode(&with_standard(&[], &[])).is_ok());
    // Unrecognized well-known attribute (optional bit clear): data = the attribute.
    let b = with_standard(&base(&[0x40, 99, 1, 0], 0), &nlri);
    let e = Message::decode(&b).unwrap_err();
    assert_eq!(
        e.notification(),
        Notification {
            code: 3,
            subcode: 2,
            data: vec![0x40, 99, 1, 0]
        }
    );
    // Flags: ORIGIN marked optional.
    let mut a = vec![0xc0, 1, 1, 0];
    a.extend_from_slice(&base(&[], 1));
    assert_eq!(notif(&with_standard(&a, &nlri)), (3, 4, Withdraw));
    // Flags: partial bit on a well-known attribute.
    let mut a = vec![0x60, 1, 1, 0];
    a.extend_from_slice(&base(&[], 1));
    assert_eq!(notif(&with_standard(&a, &nlri)).1, 4);
    // Length: NEXT_HOP of 5 octets, MED of 3, COMMUNITIES of 6.
    let mut a = base(&[], 3);
    a.extend_from_slice(&[0x40, 3, 5, 10, 0, 0, 2, 0]);
    assert_eq!(notif(&with_standard(&a, &nlri)), (3, 5, Withdraw));
    assert_eq!(
        notif(&with_standard(&base(&[0x80, 4, 3, 0, 0, 1], 0), &nlri)),
        (3, 5, Withdraw)
    );
    assert_eq!(
        notif(&with_standard(
            &base(&[0xc0, 8, 6, 0, 0, 0, 1, 0, 2], 0),
            &nlri
        )),
        (3, 5, Withdraw)
    );
    // An attribute overrunning the attribute field.
    assert_eq!(
        notif(&with_standard(&base(&[0x80, 4, 9, 0, 0], 0), &[])).1,
        5
    );
    // Invalid ORIGIN value 3.
    let mut a = vec![0x40, 1, 1, 3];
    a.extend_from_slice(&base(&[], 1));
    assert_eq!(notif(&with_standard(&a, &nlri)), (3, 6, Withdraw));
    // Malformed AS_PATH: segment type 9; zero-length segment; overrun.
    for bad in [
        vec![0x40, 2, 6, 9, 1, 0, 0, 0, 1],
        vec![0x40, 2, 2, 2, 0],
        vec![0x40, 2, 6, 2, 2, 0, 0, 0, 1],
    ] {
        let mut a = ORIGIN_IGP.to_vec();
        a.extend_from_slice(&bad);
        a.extend_from_slice(&NEXT_HOP_10_0_0_2);
        assert_eq!(
            notif(&with_standard(&a, &nlri)),
            (3, 11, Withdraw),
            "{bad:?}"
        );
    }
    // Invalid network field: /33, and a prefix overrunning the message.
    assert_eq!(
        notif(&with_standard(&base(&[], 0), &[33, 1, 2, 3, 4, 5])),
        (3, 10, Reset)
    );
    assert_eq!(
        notif(&with_standard(&base(&[], 0), &[32, 10, 0])),
        (3, 10, Reset)
    );
    // MP_REACH_NLRI with an IPv6 next hop of 8 octets: reset (RFC 7606 §7.11).
    let mut mp = vec![0x80, 14, 13, 0, 2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    mp.extend_from_slice(&base(&[], 3));
    assert_eq!(notif(&with_standard(&mp, &[])), (3, 9, Reset));
    // MP_REACH_NLRI twice: Malformed Attribute List, reset (RFC 7606 §3 g).
    let un = [0x80, 15, 3, 0, 2, 1];
    let mut a = un.to_vec();
    a.extend_from_slice(&un);
    assert_eq!(notif(&with_standard(&a, &[])), (3, 1, Reset));
    // Any other repeated attribute: the first one counts (attribute discard of the rest).
    let mut a = base(&[], 0);
    a.extend_from_slice(&[0x40, 1, 1, 2]);
    let Message::Update(u) = Message::decode(&with_standard(&a, &nlri)).unwrap() else {
        panic!()
    };
    assert_eq!(u.attributes[0], Attribute::Origin(Origin::Igp));
    assert_eq!(u.attributes.len(), 3);
    // ATOMIC_AGGREGATE with a value: attribute discard, the UPDATE stands.
    let Message::Update(u) =
        Message::decode(&with_standard(&base(&[0x40, 6, 1, 0], 0), &nlri)).unwrap()
    else {
        panic!()
    };
    assert_eq!(u.attributes.len(), 3);
    // An MP family we do not know is kept raw.
    let raw = [0x80, 14, 5, 0, 25, 70, 0, 0];
    let Message::Update(u) = Message::decode(&with_standard(&base(&raw, 0), &[])).unwrap() else {
        panic!()
    };
    assert!(matches!(
        u.attributes[3],
        Attribute::Unknown { type_code: 14, .. }
    ));
}

#[test]
fn flag_constants_match_rfc() {
    assert_eq!(attr_flags::OPTIONAL | attr_flags::TRANSITIVE, 0xc0);
    assert_eq!(attr_type::MP_REACH_NLRI, 14);
}

#[test]
fn prefixes_clear_host_bits_and_parse() {
    assert_eq!(p("10.1.2.3/24").to_string(), "10.1.2.0/24");
    assert_eq!(p("10.1.2.3").prefix_len(), 32);
    assert_eq!(p("fd00::1").prefix_len(), 128);
    assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
    assert!("10.0.0.0/33".parse::<Prefix>().is_err());
    assert!("nonsense".parse::<Prefix>().is_err());
    assert_eq!(
        Prefix::host(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))),
        p("1.2.3.4/32")
    );
}

#[test]
fn framer_reassembles_at_every_split() {
    let mut stream = Vec::new();
    stream.extend_from_slice(&OPEN_BYTES);
    stream.extend_from_slice(&Message::Keepalive.encode().unwrap());
    let upd = with_standard(&[], &[]);
    stream.extend_from_slice(&upd);
    for split in 0..=stream.len() {
        let mut f = Framer::new();
        let mut got = Vec::new();
        for chunk in [&stream[..split], &stream[split..]] {
            f.push(chunk);
            while let Some(m) = f.next_message() {
                got.push(m.unwrap());
            }
        }
        assert_eq!(got.len(), 3, "split at {split}");
        assert_eq!(f.buffered(), 0);
    }
    // One byte at a time.
    let mut f = Framer::new();
    let mut n = 0;
    for b in &stream {
        f.push(std::slice::from_ref(b));
        while let Some(m) = f.next_message() {
            m.unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 3);
    // A bad header is reported as soon as its 19 octets are in.
    let mut f = Framer::new();
    f.push(&header(5000, 2));
    assert!(matches!(
        f.next_message(),
        Some(Err(DecodeError::BadLength { length: 5000, .. }))
    ));
}

#[test]
fn unknown_optional_parameter_is_kept() {
    let mut o = open_repr();
    o.other_params.push(RawParameter {
        param_type: 9,
        value: vec![1, 2],
    });
    let b = Message::Open(o.clone()).encode().unwrap();
    assert_eq!(Message::decode(&b), Ok(Message::Open(o)));
}

// ------------------------------------------------------------------------------------------
// proptest
// ------------------------------------------------------------------------------------------

fn prefix_v4() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix::new(IpAddr::V4(a.into()), l).unwrap())
}

fn prefix_v6() -> impl Strategy<Value = Prefix> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| Prefix::new(IpAddr::V6(a.into()), l).unwrap())
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::Igp),
        Just(Origin::Egp),
        Just(Origin::Incomplete)
    ]
}

fn segment() -> impl Strategy<Value = AsSegment> {
    (
        prop_oneof![
            Just(SegmentType::Set),
            Just(SegmentType::Sequence),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ],
        prop::collection::vec(any::<u32>(), 1..5),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns })
}

fn update() -> impl Strategy<Value = Update> {
    (
        prop::collection::vec(prefix_v4(), 0..4),
        origin(),
        prop::collection::vec(segment(), 0..3),
        any::<u32>(),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::collection::vec(any::<u32>(), 0..4),
        prop::collection::vec(prefix_v6(), 0..3),
        prop::option::of(any::<u128>()),
        prop::collection::vec(prefix_v6(), 0..3),
        prop::collection::vec(prefix_v4(), 0..4),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(withdrawn, o, path, nh, med, lp, comms, reach6, ll, unreach6, nlri, raw)| {
                let mut attributes = vec![
                    Attribute::Origin(o),
                    Attribute::AsPath(path),
                    Attribute::NextHop(nh.into()),
                ];
                if let Some(m) = med {
                    attributes.push(Attribute::MultiExitDisc(m));
                }
                if let Some(l) = lp {
                    attributes.push(Attribute::LocalPref(l));
                }
                if !comms.is_empty() {
                    attributes.push(Attribute::Communities(comms));
                }
                attributes.push(Attribute::MpReach {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                    next_hop: MpNextHop::V6 {
                        global: Ipv6Addr::from(nh as u128),
                        link_local: ll.map(Ipv6Addr::from),
                    },
                    nlri: reach6,
                });
                attributes.push(Attribute::MpUnreach {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                    withdrawn: unreach6,
                });
                attributes.push(Attribute::Unknown {
                    flags: 0xc0,
                    type_code: 200,
                    value: raw,
                });
                Update {
                    withdrawn,
                    attributes,
                    nlri,
                }
            },
        )
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::option::of(any::<u32>()),
        prop::collection::vec(
            (100u8..=255, prop::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
    )
        .prop_map(|(my_as, hold_time, id, four, unknown)| {
            let mut capabilities = vec![Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            }];
            if let Some(a) = four {
                capabilities.push(Capability::FourOctetAs(a));
            }
            capabilities.push(Capability::RouteRefresh);
            for (code, value) in unknown {
                capabilities.push(Capability::Unknown { code, value });
            }
            Open {
                my_as,
                hold_time,
                bgp_id: id.into(),
                capabilities,
                other_params: vec![],
            }
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Keepalive),
        open().prop_map(Message::Open),
        update().prop_map(Message::Update),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(code, subcode, data)| Message::Notification(Notification {
                code,
                subcode,
                data
            })),
    ]
}

proptest! {
    #[test]
    fn round_trip(m in message()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(Message::decode(&bytes), Ok(m.clone()));
        // And through the framer, in two chunks.
        let mut f = Framer::new();
        let cut = bytes.len() / 2;
        f.push(&bytes[..cut]);
        prop_assert!(f.next_message().is_none());
        f.push(&bytes[cut..]);
        prop_assert_eq!(f.next_message(), Some(Ok(m)));
    }

    #[test]
    fn decode_of_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..600), ty in 0u8..6) {
        let bytes = msg(ty, &body);
        if let Ok(m) = Message::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same value.
            let again = m.encode().unwrap();
            prop_assert_eq!(Message::decode(&again), Ok(m));
        }
        let _ = Message::decode(&body);
        let mut f = Framer::new();
        f.push(&body);
        while let Some(r) = f.next_message() { if r.is_err() { break; } }
    }

    #[test]
    fn decode_of_mutated_updates_never_panics(u in update(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = Message::Update(u).encode().unwrap();
        for (i, v) in flips {
            let at = 19 + i.index(bytes.len() - 19);
            bytes[at] = v;
        }
        if let Err(e) = Message::decode(&bytes) {
            let n = e.notification();
            prop_assert!(n.code >= 1 && n.code <= 3);
        }
    }
}

/// The fuzz seeds (`fuzz/seeds/decode`) are valid messages (or a valid stream of them).
#[test]
fn fuzz_seeds_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut f = Framer::new();
        f.push(&bytes);
        while let Some(m) = f.next_message() {
            let m = m.unwrap();
            assert_eq!(Message::decode(&m.encode().unwrap()), Ok(m));
            n += 1;
        }
        assert_eq!(f.buffered(), 0);
    }
    assert!(n >= 7, "{n} seed messages");
}
