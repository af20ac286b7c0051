//! The four smoltcp codec tests (deconstruct, construct, parse, emit) for VRRPv2 over IPv4,
//! VRRPv3 over IPv4 and VRRPv3 over IPv6, on byte fixtures written by hand from the RFC layouts.
//!
//! The checksums in the fixtures were computed by a separate script and confirmed good by
//! tshark's VRRP dissector (`vrrp.checksum.status == 1`); each test also recomputes them with the
//! textbook RFC 1071 loop below, independent of the crate's implementation.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_vrrp_proto::wire::{
    Addresses, Advert, Auth, AuthType, ChecksumMode, Family, Packet, Password,
};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, VrId};

/// VRRPv2, VRID 51, priority 100, 2 addresses, auth type 1 "secret", interval 1 s.
static V2_BYTES: [u8; 24] = [
    0x21, // version 2, type 1
    0x33, // VRID 51
    0x64, // priority 100
    0x02, // count 2
    0x01, // auth type 1 (simple text)
    0x01, // adver int 1 s
    0xb8, 0xb2, // checksum
    192, 0, 2, 100, // 192.0.2.100
    192, 0, 2, 101, // 192.0.2.101
    b's', b'e', b'c', b'r', b'e', b't', 0, 0, // auth data, zero padded
];

/// VRRPv3 over IPv4, VRID 51, priority 200, 1 address, 100 cs, src 192.0.2.1 dst 224.0.0.18.
static V3_V4_BYTES: [u8; 12] = [
    0x31, // version 3, type 1
    0x33, // VRID 51
    0xc8, // priority 200
    0x01, // count 1
    0x00, 0x64, // rsvd 0, max adver int 100 cs
    0xa1, 0x71, // checksum with the IPv4 pseudo-header
    192, 0, 2, 100,
];

/// The checksum of [`V3_V4_BYTES`] without the pseudo-header (`v3_checksum_as_v2`).
const V3_V4_CHECKSUM_AS_V2: u16 = 0x4402;

/// VRRPv3 over IPv6, VRID 7, priority 100, 2 addresses, 200 cs, src fe80::1 dst ff02::12.
static V3_V6_BYTES: [u8; 40] = [
    0x31, 0x07, 0x64, 0x02, // version 3 type 1, VRID 7, priority 100, count 2
    0x00, 0xc8, // max adver int 200 cs
    0x0e, 0x8c, // checksum with the IPv6 pseudo-header
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // 2001:db8::100
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01, // 2001:db8::101
];

const V4_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 101)];
const V6_ADDRS: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101),
];
const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DST4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const DST6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

/// RFC 1071, the plain way: 16-bit words into a 32-bit accumulator, fold, invert.
fn reference_checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let mut acc: u32 = 0;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).copied().map_or(0, u32::from);
        acc += hi | lo;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn zero_checksum(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[6] = 0;
    v[7] = 0;
    v
}

fn ipv4_pseudo(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.extend_from_slice(&[0, 112]);
    v.extend_from_slice(&len.to_be_bytes());
    v
}

fn ipv6_pseudo(src: Ipv6Addr, dst: Ipv6Addr, len: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 112]);
    v
}

fn vrid(v: u8) -> VrId {
    VrId::new(v).unwrap()
}

fn cs(v: u16) -> Centiseconds {
    Centiseconds::new(v).unwrap()
}

fn v2_advert() -> Advert<'static> {
    Advert::v2(
        vrid(51),
        Priority(100),
        Seconds(1),
        Addresses::v4(&V4_ADDRS).unwrap(),
        Auth::SimpleText(Password::new(b"secret").unwrap()),
    )
}

fn v3_v4_advert() -> Advert<'static> {
    Advert::v3(
        vrid(51),
        Priority(200),
        cs(100),
        Addresses::v4(&V4_ADDRS[..1]).unwrap(),
    )
}

fn v3_v6_advert() -> Advert<'static> {
    Advert::v3(
        vrid(7),
        Priority(100),
        cs(200),
        Addresses::v6(&V6_ADDRS).unwrap(),
    )
}

#[test]
fn fixture_checksums_match_reference() {
    assert_eq!(reference_checksum(&[&zero_checksum(&V2_BYTES)]), 0xb8b2);
    let p4 = ipv4_pseudo(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(224, 0, 0, 18),
        12,
    );
    assert_eq!(
        reference_checksum(&[&p4, &zero_checksum(&V3_V4_BYTES)]),
        0xa171
    );
    assert_eq!(
        reference_checksum(&[&zero_checksum(&V3_V4_BYTES)]),
        V3_V4_CHECKSUM_AS_V2
    );
    let p6 = ipv6_pseudo("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap(), 40);
    assert_eq!(
        reference_checksum(&[&p6, &zero_checksum(&V3_V6_BYTES)]),
        0x0e8c
    );
}

// ---------------------------------------------------------------- VRRPv2 over IPv4

#[test]
fn v2_deconstruct() {
    let p = Packet::new_checked(&V2_BYTES[..], Family::Ipv4).unwrap();
    assert_eq!(p.version(), 2);
    assert_eq!(p.msg_type(), 1);
    assert_eq!(p.vrid(), 51);
    assert_eq!(p.priority(), Priority(100));
    assert_eq!(p.addr_count(), 2);
    assert_eq!(p.auth_type(), AuthType::SimpleText);
    assert_eq!(p.adver_int(), 1);
    assert_eq!(p.checksum(), 0xb8b2);
    assert_eq!(p.address(0), Some(IpAddr::V4(V4_ADDRS[0])));
    assert_eq!(p.address(1), Some(IpAddr::V4(V4_ADDRS[1])));
    assert_eq!(p.address(2), None);
    assert_eq!(p.address(usize::MAX), None);
    assert_eq!(p.auth_data(), Some(&b"secret\0\0"[..]));
    assert_eq!(p.total_len(), 24);
    assert!(p.verify_checksum(ChecksumMode::Standard, SRC4, DST4));
    assert_eq!(
        p.compute_checksum(ChecksumMode::Standard, SRC4, DST4),
        0xb8b2
    );
}

#[test]
fn v2_construct() {
    let mut bytes = [0xa5u8; 24];
    let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    p.set_version_type(2, 1);
    p.set_vrid(51);
    p.set_priority(Priority(100));
    p.set_addr_count(2);
    p.set_auth_type(AuthType::SimpleText);
    p.set_adver_int(1);
    p.address_bytes_mut()[..4].copy_from_slice(&V4_ADDRS[0].octets());
    p.address_bytes_mut()[4..].copy_from_slice(&V4_ADDRS[1].octets());
    p.auth_data_mut().unwrap().copy_from_slice(b"secret\0\0");
    p.fill_checksum(ChecksumMode::Standard, SRC4, DST4);
    assert_eq!(bytes, V2_BYTES);
}

#[test]
fn v2_parse() {
    let p = Packet::new_checked(&V2_BYTES[..], Family::Ipv4).unwrap();
    let advert = Advert::parse(&p).unwrap();
    assert_eq!(advert, v2_advert());
    assert_eq!(advert.interval, AdvertInterval::V2(Seconds(1)));
    assert_eq!(
        advert.addresses.iter().collect::<Vec<_>>(),
        V4_ADDRS.map(IpAddr::V4).to_vec()
    );
}

#[test]
fn v2_emit() {
    let advert = v2_advert();
    assert_eq!(advert.buffer_len(), 24);
    let mut bytes = [0xa5u8; 24];
    let n = advert
        .emit(&mut bytes, ChecksumMode::Standard, SRC4, DST4)
        .unwrap();
    assert_eq!(n, 24);
    assert_eq!(bytes, V2_BYTES);
}

// ---------------------------------------------------------------- VRRPv3 over IPv4

#[test]
fn v3_ipv4_deconstruct() {
    let p = Packet::new_checked(&V3_V4_BYTES[..], Family::Ipv4).unwrap();
    assert_eq!(p.version(), 3);
    assert_eq!(p.msg_type(), 1);
    assert_eq!(p.vrid(), 51);
    assert_eq!(p.priority(), Priority(200));
    assert_eq!(p.addr_count(), 1);
    assert_eq!(p.reserved(), 0);
    assert_eq!(p.max_adver_int(), 100);
    assert_eq!(p.checksum(), 0xa171);
    assert_eq!(p.address(0), Some(IpAddr::V4(V4_ADDRS[0])));
    assert_eq!(p.auth_data(), None);
    assert!(p.verify_checksum(ChecksumMode::Standard, SRC4, DST4));
    // The pseudo-header matters: another source fails.
    assert!(!p.verify_checksum(
        ChecksumMode::Standard,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        DST4
    ));
    assert_eq!(
        p.compute_checksum(ChecksumMode::V3AsV2, SRC4, DST4),
        V3_V4_CHECKSUM_AS_V2
    );
}

#[test]
fn v3_ipv4_construct() {
    let mut bytes = [0xa5u8; 12];
    let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    p.set_version_type(3, 1);
    p.set_vrid(51);
    p.set_priority(Priority(200));
    p.set_addr_count(1);
    p.set_reserved(0);
    p.set_max_adver_int(100);
    p.address_bytes_mut().copy_from_slice(&V4_ADDRS[0].octets());
    assert!(p.auth_data_mut().is_none());
    p.fill_checksum(ChecksumMode::Standard, SRC4, DST4);
    assert_eq!(bytes, V3_V4_BYTES);
}

#[test]
fn v3_ipv4_parse() {
    let p = Packet::new_checked(&V3_V4_BYTES[..], Family::Ipv4).unwrap();
    let advert = Advert::parse(&p).unwrap();
    assert_eq!(advert, v3_v4_advert());
    assert_eq!(advert.interval, AdvertInterval::V3(cs(100)));
    assert_eq!(advert.auth, Auth::None);
}

#[test]
fn v3_ipv4_emit() {
    let advert = v3_v4_advert();
    assert_eq!(advert.buffer_len(), 12);
    let mut bytes = [0xa5u8; 12];
    advert
        .emit(&mut bytes, ChecksumMode::Standard, SRC4, DST4)
        .unwrap();
    assert_eq!(bytes, V3_V4_BYTES);

    let mut as_v2 = [0xa5u8; 12];
    advert
        .emit(&mut as_v2, ChecksumMode::V3AsV2, SRC4, DST4)
        .unwrap();
    assert_eq!(as_v2[..6], V3_V4_BYTES[..6]);
    assert_eq!(as_v2[6..8], V3_V4_CHECKSUM_AS_V2.to_be_bytes());
    assert_eq!(as_v2[8..], V3_V4_BYTES[8..]);
}

// ---------------------------------------------------------------- VRRPv3 over IPv6

#[test]
fn v3_ipv6_deconstruct() {
    let p = Packet::new_checked(&V3_V6_BYTES[..], Family::Ipv6).unwrap();
    assert_eq!(p.version(), 3);
    assert_eq!(p.msg_type(), 1);
    assert_eq!(p.vrid(), 7);
    assert_eq!(p.priority(), Priority(100));
    assert_eq!(p.addr_count(), 2);
    assert_eq!(p.max_adver_int(), 200);
    assert_eq!(p.checksum(), 0x0e8c);
    assert_eq!(p.address(0), Some(IpAddr::V6(V6_ADDRS[0])));
    assert_eq!(p.address(1), Some(IpAddr::V6(V6_ADDRS[1])));
    assert_eq!(p.address(2), None);
    assert_eq!(p.total_len(), 40);
    assert!(p.verify_checksum(ChecksumMode::Standard, SRC6, DST6));
    // V3AsV2 does not apply to IPv6: the pseudo-header is still used.
    assert!(p.verify_checksum(ChecksumMode::V3AsV2, SRC6, DST6));
}

#[test]
fn v3_ipv6_construct() {
    let mut bytes = [0xa5u8; 40];
    let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv6);
    p.set_version(3);
    p.set_msg_type(1);
    p.set_vrid(7);
    p.set_priority(Priority(100));
    p.set_addr_count(2);
    p.set_reserved(0);
    p.set_max_adver_int(200);
    p.address_bytes_mut()[..16].copy_from_slice(&V6_ADDRS[0].octets());
    p.address_bytes_mut()[16..].copy_from_slice(&V6_ADDRS[1].octets());
    p.fill_checksum(ChecksumMode::Standard, SRC6, DST6);
    assert_eq!(bytes, V3_V6_BYTES);
}

#[test]
fn v3_ipv6_parse() {
    let p = Packet::new_checked(&V3_V6_BYTES[..], Family::Ipv6).unwrap();
    let advert = Advert::parse(&p).unwrap();
    assert_eq!(advert, v3_v6_advert());
    assert_eq!(advert.family(), Family::Ipv6);
    assert_eq!(advert.addresses.len(), 2);
    assert!(advert.addresses.contains(IpAddr::V6(V6_ADDRS[1])));
    assert_eq!(advert.addresses.get(usize::MAX), None);
    assert_eq!(advert.addresses.iter().len(), 2);
}

#[test]
fn v3_ipv6_emit() {
    let advert = v3_v6_advert();
    assert_eq!(advert.buffer_len(), 40);
    let mut bytes = [0xa5u8; 48];
    let n = advert
        .emit(&mut bytes, ChecksumMode::Standard, SRC6, DST6)
        .unwrap();
    assert_eq!(n, 40);
    assert_eq!(bytes[..40], V3_V6_BYTES);
    // Bytes past buffer_len() are not touched.
    assert_eq!(bytes[40..], [0xa5; 8]);
}

// ---------------------------------------------------------------- edges

#[test]
fn emit_into_short_buffer_is_an_error() {
    let mut bytes = [0xa5u8; 23];
    let err = v2_advert()
        .emit(&mut bytes, ChecksumMode::Standard, SRC4, DST4)
        .unwrap_err();
    assert_eq!((err.needed, err.len), (24, 23));
    assert_eq!(bytes, [0xa5u8; 23], "buffer left untouched");
}

#[test]
fn v3_reserved_bits_are_ignored_and_kept_by_setter() {
    let mut bytes = V3_V4_BYTES;
    let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    p.set_reserved(0xf);
    assert_eq!(p.max_adver_int(), 100);
    p.set_max_adver_int(0xffff); // the top bits are dropped
    assert_eq!(p.max_adver_int(), 0x0fff);
    assert_eq!(p.reserved(), 0xf);
    let advert = Advert::parse(&p).unwrap();
    assert_eq!(advert.interval, AdvertInterval::V3(cs(0x0fff)));
}

#[test]
fn check_len_rejects_short_buffers() {
    for len in 0..V2_BYTES.len() {
        assert!(
            Packet::new_checked(&V2_BYTES[..len], Family::Ipv4).is_err(),
            "len {len}"
        );
    }
    // Longer buffers pass the view but not the exact-length parse.
    let mut long = V3_V4_BYTES.to_vec();
    long.push(0);
    let p = Packet::new_checked(&long[..], Family::Ipv4).unwrap();
    assert!(Advert::parse(&p).is_err());
}

#[test]
fn unknown_auth_types_are_values() {
    let mut bytes = V2_BYTES;
    let mut p = Packet::new_unchecked(&mut bytes[..], Family::Ipv4);
    p.set_auth_type(AuthType::Unknown(9));
    assert_eq!(p.auth_type(), AuthType::Unknown(9));
    let advert = Advert::parse(&p).unwrap();
    assert_eq!(
        advert.auth,
        Auth::Other {
            auth_type: 9,
            data: *b"secret\0\0"
        }
    );
    assert_eq!(u8::from(AuthType::from(2)), 2);
    assert_eq!(AuthType::from(2), AuthType::IpAh);
}

#[test]
fn address_limits() {
    let v4 = [Ipv4Addr::LOCALHOST; 256];
    assert!(Addresses::v4(&v4[..255]).is_ok());
    let err = Addresses::v4(&v4).unwrap_err();
    assert_eq!((err.count, err.max), (256, 255));
    let v6 = [Ipv6Addr::LOCALHOST; 91];
    assert!(Addresses::v6(&v6[..90]).is_ok());
    assert!(Addresses::v6(&v6).is_err());
    // 90 IPv6 addresses + 40-byte IPv6 header fit a 1500-byte MTU.
    let a = Advert::v3(
        vrid(1),
        Priority(1),
        cs(100),
        Addresses::v6(&v6[..90]).unwrap(),
    );
    assert!(a.buffer_len() + 40 <= 1500);
    // 255 IPv4 addresses in VRRPv2 + 20-byte IPv4 header fit too.
    let a = Advert::v2(
        vrid(1),
        Priority(1),
        Seconds(1),
        Addresses::v4(&v4[..255]).unwrap(),
        Auth::None,
    );
    assert!(a.buffer_len() + 20 <= 1500);
    let mut buf = [0u8; 1500];
    let n = a
        .emit(&mut buf, ChecksumMode::Standard, SRC4, DST4)
        .unwrap();
    let p = Packet::new_checked(&buf[..n], Family::Ipv4).unwrap();
    assert_eq!(p.addr_count(), 255);
    assert_eq!(Advert::parse(&p).unwrap(), a);
}

#[test]
fn password_rules() {
    assert!(Password::new(b"123456789").is_none());
    assert_eq!(Password::new(b"ab").unwrap().as_raw(), b"ab\0\0\0\0\0\0");
    assert_eq!(
        format!("{:?}", Password::new(b"hunter2").unwrap()),
        "Password(<redacted>)"
    );
}
