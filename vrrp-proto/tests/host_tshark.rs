//! tshark, an independent dissector, judges what the codec emits: full IPv4/IPv6 packets carrying
//! VRRPv2 and VRRPv3 adverts go into a pcap, and every field tshark reads must equal what the
//! codec put in, with the checksum status "good"; corrupted checksums must be flagged "bad".
//!
//! Run: `cargo test -p ha-vrrp-proto --test host_tshark -- --ignored host_`

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

use ha_testsupport::pcap::{self, LinkType};
use ha_vrrp_proto::wire::{
    self, Addresses, Advert, Auth, ChecksumMode, MAX_ADDRESSES_V6, Password, checksum,
};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, VrId};

/// tshark's `vrrp.checksum.status` values (Wireshark's PROTO_CHECKSUM_E_BAD / _GOOD).
const CHECKSUM_BAD: &str = "0";
const CHECKSUM_GOOD: &str = "1";

const FIELDS: &[&str] = &[
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.checksum",
    "vrrp.checksum.status",
    "vrrp.auth_type",
    "vrrp.adver_int",
    "vrrp.short_adver_int",
    "vrrp.auth_string",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
    "ip.ttl",
    "ipv6.hlim",
];

/// An IPv4 header (RFC 791) with TTL 255, protocol 112, and its header checksum.
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut p = vec![0x45, 0x00];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // identification, flags, fragment offset
    p.push(wire::TTL);
    p.push(ha_vrrp_proto::IP_PROTOCOL);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 header (RFC 8200) with hop limit 255 and next header 112.
fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap();
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.push(ha_vrrp_proto::IP_PROTOCOL);
    p.push(wire::TTL);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

struct Case {
    /// The expected value of each of [`FIELDS`].
    expected: Vec<String>,
    packet: Vec<u8>,
}

fn case(advert: &Advert<'_>, src: IpAddr, mode: ChecksumMode, corrupt: bool) -> Case {
    let dst = match src {
        IpAddr::V4(_) => IpAddr::V4(wire::MULTICAST_V4),
        IpAddr::V6(_) => IpAddr::V6(wire::MULTICAST_V6),
    };
    let mut vrrp = vec![0u8; advert.buffer_len()];
    advert.emit(&mut vrrp, mode, src, dst).unwrap();
    if corrupt {
        vrrp[7] ^= 0x5a;
    }
    let cks = u16::from_be_bytes([vrrp[6], vrrp[7]]);
    let packet = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_packet(s, d, &vrrp),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_packet(s, d, &vrrp),
        _ => unreachable!("same family"),
    };

    let join = |f: &dyn Fn(IpAddr) -> Option<String>| {
        advert
            .addresses
            .iter()
            .filter_map(f)
            .collect::<Vec<_>>()
            .join(",")
    };
    let v4 = join(&|a| matches!(a, IpAddr::V4(_)).then(|| a.to_string()));
    let v6 = join(&|a| matches!(a, IpAddr::V6(_)).then(|| a.to_string()));
    let (auth_type, adver_int, short_adver_int, auth_string) = match advert.interval {
        AdvertInterval::V2(s) => {
            let auth_string = match advert.auth {
                Auth::SimpleText(p) => {
                    let raw = p.as_raw();
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    String::from_utf8(raw[..end].to_vec()).unwrap()
                }
                _ => String::new(),
            };
            (
                u8::from(advert.auth.auth_type()).to_string(),
                s.get().to_string(),
                String::new(),
                auth_string,
            )
        }
        AdvertInterval::V3(cs) => (
            String::new(),
            String::new(),
            cs.get().to_string(),
            String::new(),
        ),
    };
    let (ttl, hlim) = match src {
        IpAddr::V4(_) => ("255".to_owned(), String::new()),
        IpAddr::V6(_) => (String::new(), "255".to_owned()),
    };
    let expected = vec![
        advert.version().number().to_string(),
        "1".to_owned(),
        advert.vrid.get().to_string(),
        advert.priority.get().to_string(),
        advert.addresses.len().to_string(),
        format!("{cks:#06x}"),
        if corrupt { CHECKSUM_BAD } else { CHECKSUM_GOOD }.to_owned(),
        auth_type,
        adver_int,
        short_adver_int,
        auth_string,
        v4,
        v6,
        ttl,
        hlim,
    ];
    Case { expected, packet }
}

fn pcap_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ha-vrrp-{name}-{}.pcap", std::process::id()))
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_tshark_agrees_with_the_codec() {
    let src4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let src6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0x200, 0x5eff, 0xfe00, 0x107));
    let v4: Vec<Ipv4Addr> = (0..20)
        .map(|i| Ipv4Addr::new(198, 51, 100, 10 + i))
        .collect();
    let v6: Vec<Ipv6Addr> = (0..MAX_ADDRESSES_V6 as u16)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, 0x100 + i))
        .collect();
    let vrid = |v| VrId::new(v).unwrap();
    let cs = |v| Centiseconds::new(v).unwrap();
    let pass = Auth::SimpleText(Password::new(b"secret").unwrap());
    let pass8 = Auth::SimpleText(Password::new(b"12345678").unwrap());

    let adverts = [
        (
            Advert::v2(
                vrid(51),
                Priority(100),
                Seconds(1),
                Addresses::v4(&v4[..2]).unwrap(),
                pass,
            ),
            src4,
        ),
        (
            Advert::v2(
                vrid(1),
                Priority::OWNER,
                Seconds(3),
                Addresses::v4(&v4[..1]).unwrap(),
                Auth::None,
            ),
            src4,
        ),
        (
            Advert::v2(
                vrid(255),
                Priority(1),
                Seconds(255),
                Addresses::v4(&v4).unwrap(),
                pass8,
            ),
            src4,
        ),
        (
            Advert::v3(
                vrid(51),
                Priority(200),
                cs(100),
                Addresses::v4(&v4[..1]).unwrap(),
            ),
            src4,
        ),
        (
            Advert::v3(
                vrid(52),
                Priority::STOP,
                cs(4095),
                Addresses::v4(&v4[..8]).unwrap(),
            ),
            src4,
        ),
        (
            Advert::v3(vrid(53), Priority(150), cs(1), Addresses::v4(&v4).unwrap()),
            src4,
        ),
        (
            Advert::v3(
                vrid(7),
                Priority(100),
                cs(200),
                Addresses::v6(&v6[..2]).unwrap(),
            ),
            src6,
        ),
        (
            Advert::v3(vrid(8), Priority(254), cs(100), Addresses::v6(&v6).unwrap()),
            src6,
        ),
    ];

    let mut cases: Vec<Case> = adverts
        .iter()
        .map(|(a, src)| case(a, *src, ChecksumMode::Standard, false))
        .collect();
    // Corrupted checksums, one of each kind.
    for i in [0, 3, 6] {
        let (a, src) = &adverts[i];
        cases.push(case(a, *src, ChecksumMode::Standard, true));
    }

    let path = pcap_path("codec");
    let packets: Vec<&[u8]> = cases.iter().map(|c| &c.packet[..]).collect();
    pcap::write(&path, LinkType::RawIp, &packets);
    let rows = ha_testsupport::tshark_fields(&path, "vrrp", FIELDS);
    assert_eq!(
        rows.len(),
        cases.len(),
        "tshark saw {} VRRP packets",
        rows.len()
    );
    for (i, (row, case)) in rows.iter().zip(&cases).enumerate() {
        for (j, field) in FIELDS.iter().enumerate() {
            let got = row.get(j).map_or("", String::as_str);
            assert_eq!(
                got, case.expected[j],
                "packet {i}: tshark's {field} is {got:?}, the codec wrote {:?}",
                case.expected[j]
            );
        }
    }
    // The bad ones are also flagged by tshark's expert info.
    let bad =
        ha_testsupport::tshark_fields(&path, "vrrp.checksum_bad.expert", &["vrrp.virt_rtr_id"]);
    assert_eq!(
        bad.len(),
        3,
        "expected 3 packets with a bad checksum: {bad:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_tshark_v3_checksum_as_v2_mode() {
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let vips = [Ipv4Addr::new(192, 0, 2, 100)];
    let advert = Advert::v3(
        VrId::new(51).unwrap(),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v4(&vips).unwrap(),
    );
    let standard = case(&advert, src, ChecksumMode::Standard, false);
    let as_v2 = case(&advert, src, ChecksumMode::V3AsV2, false);
    assert_ne!(standard.packet, as_v2.packet);
    let path = pcap_path("as-v2");
    pcap::write(&path, LinkType::RawIp, &[&standard.packet, &as_v2.packet]);

    // Wireshark's own "v3 checksum as in v2" preference flips which of the two is good.
    let status = |pref: &str| -> Vec<String> {
        ha_testsupport::require_tool("tshark", "tshark");
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-o", &format!("vrrp.v3_checksum_as_in_v2:{pref}")])
            .args(["-Y", "vrrp", "-T", "fields", "-e", "vrrp.checksum.status"])
            .output()
            .expect("run tshark");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(status("FALSE"), [CHECKSUM_GOOD, CHECKSUM_BAD]);
    assert_eq!(status("TRUE"), [CHECKSUM_BAD, CHECKSUM_GOOD]);
    let _ = std::fs::remove_file(&path);
}
