//! Receive-side validation: every failure has its own variant, carries the VRID, and the checks
//! run in RFC order.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_vrrp_proto::wire::{
    Addresses, Advert, Auth, AuthType, ChecksumMode, DropReason, Family, Packet, Password,
    RxContext, WireError, validate,
};
use ha_vrrp_proto::{Centiseconds, Priority, Seconds, Version, VrId};

const VIPS4: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 101)];
const VIPS6: [Ipv6Addr; 1] = [Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100)];
const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DST4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const DST6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

fn vrid(v: u8) -> VrId {
    VrId::new(v).unwrap()
}

fn password() -> Auth {
    Auth::SimpleText(Password::new(b"secret").unwrap())
}

fn v2_ctx() -> RxContext {
    RxContext {
        version: Version::V2,
        vrid: vrid(51),
        family: Family::Ipv4,
        auth: password(),
        v2_interval: Seconds(1),
        checksum_mode: ChecksumMode::Standard,
        src: SRC4,
        dst: DST4,
        ttl: 255,
    }
}

fn v3_ctx4() -> RxContext {
    RxContext {
        version: Version::V3,
        auth: Auth::None,
        ..v2_ctx()
    }
}

fn v3_ctx6() -> RxContext {
    RxContext {
        family: Family::Ipv6,
        src: SRC6,
        dst: DST6,
        ..v3_ctx4()
    }
}

fn v2_bytes(auth: Auth, interval: u8) -> Vec<u8> {
    let a = Advert::v2(
        vrid(51),
        Priority(100),
        Seconds(interval),
        Addresses::v4(&VIPS4).unwrap(),
        auth,
    );
    emit(&a, ChecksumMode::Standard, SRC4, DST4)
}

fn v3_bytes4() -> Vec<u8> {
    let a = Advert::v3(
        vrid(51),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v4(&VIPS4).unwrap(),
    );
    emit(&a, ChecksumMode::Standard, SRC4, DST4)
}

fn v3_bytes6() -> Vec<u8> {
    let a = Advert::v3(
        vrid(51),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v6(&VIPS6).unwrap(),
    );
    emit(&a, ChecksumMode::Standard, SRC6, DST6)
}

fn emit(a: &Advert<'_>, mode: ChecksumMode, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut buf = vec![0; a.buffer_len()];
    a.emit(&mut buf, mode, src, dst).unwrap();
    buf
}

fn check(bytes: &[u8], ctx: &RxContext) -> Result<(), WireError> {
    let p = Packet::new_unchecked(bytes, ctx.family);
    validate(&p, ctx).map(|_| ())
}

/// Changes a byte and fixes the checksum so that only the intended check fails.
fn patch(bytes: &[u8], ctx: &RxContext, at: usize, value: u8) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[at] = value;
    let mut p = Packet::new_unchecked(&mut v[..], ctx.family);
    p.fill_checksum(ctx.checksum_mode, ctx.src, ctx.dst);
    v
}

#[test]
fn valid_adverts_pass() {
    let b = v2_bytes(password(), 1);
    let p = Packet::new_unchecked(&b[..], Family::Ipv4);
    let a = validate(&p, &v2_ctx()).unwrap();
    assert_eq!(a.vrid, vrid(51));
    assert_eq!(a.auth, password());
    check(&v3_bytes4(), &v3_ctx4()).unwrap();
    check(&v3_bytes6(), &v3_ctx6()).unwrap();
    // v2 without auth.
    let ctx = RxContext {
        auth: Auth::None,
        ..v2_ctx()
    };
    check(&v2_bytes(Auth::None, 1), &ctx).unwrap();
}

#[test]
fn too_short() {
    let b = v3_bytes4();
    for len in 0..8 {
        let err = check(&b[..len], &v3_ctx4()).unwrap_err();
        assert_eq!(
            err,
            WireError::TooShort {
                vrid: (len >= 2).then_some(51),
                len
            }
        );
        assert_eq!(err.reason(), DropReason::TooShort);
    }
}

#[test]
fn length_mismatch_both_ways() {
    let b = v3_bytes4();
    let ctx = v3_ctx4();
    let err = check(&b[..b.len() - 1], &ctx).unwrap_err();
    assert_eq!(
        err,
        WireError::LengthMismatch {
            vrid: 51,
            count: 2,
            len: 15,
            expected: 16
        }
    );
    let mut long = b.clone();
    long.extend_from_slice(&[0, 0, 0, 0]);
    let err = check(&long, &ctx).unwrap_err();
    assert_eq!(err.reason(), DropReason::LengthMismatch);
    // A count that promises more addresses than there are.
    let more = patch(&b, &ctx, 3, 3);
    assert_eq!(
        check(&more, &ctx).unwrap_err().reason(),
        DropReason::LengthMismatch
    );
    // v2: the auth data is part of the complete packet.
    let v2 = v2_bytes(password(), 1);
    assert_eq!(
        check(&v2[..v2.len() - 8], &v2_ctx()).unwrap_err(),
        WireError::LengthMismatch {
            vrid: 51,
            count: 2,
            len: 16,
            expected: 24
        }
    );
}

#[test]
fn no_addresses() {
    let ctx = v3_ctx4();
    let mut b = v3_bytes4();
    b.truncate(8);
    let b = patch(&b, &ctx, 3, 0);
    assert_eq!(
        check(&b, &ctx).unwrap_err(),
        WireError::NoAddresses { vrid: 51 }
    );
}

#[test]
fn bad_version() {
    // A v3 packet at a v2 router and the reverse, and an unknown version.
    assert_eq!(
        check(&v3_bytes4(), &v2_ctx()).unwrap_err(),
        WireError::BadVersion {
            vrid: 51,
            version: 3,
            expected: Some(Version::V2)
        }
    );
    let ctx = RxContext {
        auth: Auth::None,
        ..v3_ctx4()
    };
    assert_eq!(
        check(&v2_bytes(Auth::None, 1), &ctx).unwrap_err().reason(),
        DropReason::BadVersion
    );
    let b = patch(&v3_bytes4(), &ctx, 0, 0x41);
    assert_eq!(
        check(&b, &ctx).unwrap_err(),
        WireError::BadVersion {
            vrid: 51,
            version: 4,
            expected: Some(Version::V3)
        }
    );
    assert_eq!(
        Advert::parse_bytes(&b, Family::Ipv4).unwrap_err(),
        WireError::BadVersion {
            vrid: 51,
            version: 4,
            expected: None
        }
    );
}

#[test]
fn bad_type() {
    let ctx = v3_ctx4();
    let b = patch(&v3_bytes4(), &ctx, 0, 0x32);
    assert_eq!(
        check(&b, &ctx).unwrap_err(),
        WireError::BadType { vrid: 51, kind: 2 }
    );
}

#[test]
fn bad_checksum() {
    for (mut b, ctx) in [
        (v2_bytes(password(), 1), v2_ctx()),
        (v3_bytes4(), v3_ctx4()),
        (v3_bytes6(), v3_ctx6()),
    ] {
        let good = u16::from_be_bytes([b[6], b[7]]);
        b[6] ^= 0x10;
        let err = check(&b, &ctx).unwrap_err();
        assert_eq!(
            err,
            WireError::BadChecksum {
                vrid: 51,
                got: good ^ 0x1000,
                expected: good
            }
        );
        assert_eq!(err.reason(), DropReason::BadChecksum);
    }
    // A corrupted address (checksum left as is).
    let mut b = v3_bytes6();
    b[20] ^= 1;
    assert_eq!(
        check(&b, &v3_ctx6()).unwrap_err().reason(),
        DropReason::BadChecksum
    );
}

#[test]
fn v3_checksum_needs_the_right_pseudo_header_and_mode() {
    let b = v3_bytes4();
    // Another destination (e.g. a unicast peer) changes the pseudo-header.
    let ctx = RxContext {
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        ..v3_ctx4()
    };
    assert_eq!(
        check(&b, &ctx).unwrap_err().reason(),
        DropReason::BadChecksum
    );
    // A peer with keepalived's v3_checksum_as_v2.
    let a = Advert::v3(
        vrid(51),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v4(&VIPS4).unwrap(),
    );
    let as_v2 = emit(&a, ChecksumMode::V3AsV2, SRC4, DST4);
    assert_eq!(
        check(&as_v2, &v3_ctx4()).unwrap_err().reason(),
        DropReason::BadChecksum
    );
    let ctx = RxContext {
        checksum_mode: ChecksumMode::V3AsV2,
        ..v3_ctx4()
    };
    check(&as_v2, &ctx).unwrap();
    // The mode has no effect on IPv6.
    let ctx6 = RxContext {
        checksum_mode: ChecksumMode::V3AsV2,
        ..v3_ctx6()
    };
    check(&v3_bytes6(), &ctx6).unwrap();
}

#[test]
fn bad_ttl() {
    for ttl in [0, 1, 64, 254] {
        let ctx = RxContext { ttl, ..v3_ctx6() };
        assert_eq!(
            check(&v3_bytes6(), &ctx).unwrap_err(),
            WireError::BadTtl { vrid: 51, ttl }
        );
    }
}

#[test]
fn source_must_be_link_local() {
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let ctx = RxContext {
        src: IpAddr::V6(src),
        ..v3_ctx6()
    };
    assert_eq!(
        check(&v3_bytes6(), &ctx).unwrap_err(),
        WireError::SourceNotLinkLocal { vrid: 51, src }
    );
    // fe80::/10 includes febf::.
    let src: Ipv6Addr = "febf::1".parse().unwrap();
    let ctx = RxContext {
        src: IpAddr::V6(src),
        ..v3_ctx6()
    };
    let mut b = v3_bytes6();
    Packet::new_unchecked(&mut b[..], Family::Ipv6).fill_checksum(
        ChecksumMode::Standard,
        ctx.src,
        ctx.dst,
    );
    check(&b, &ctx).unwrap();
}

/// Unicast peers (keepalived `unicast_src_ip`) may use a global source: the link-local rule
/// is for adverts to ff02::12.
#[test]
fn unicast_adverts_may_come_from_a_global_source() {
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let ctx = RxContext {
        src: IpAddr::V6(src),
        dst: "2001:db8::2".parse().unwrap(),
        ..v3_ctx6()
    };
    let mut b = v3_bytes6();
    Packet::new_unchecked(&mut b[..], Family::Ipv6).fill_checksum(
        ChecksumMode::Standard,
        ctx.src,
        ctx.dst,
    );
    check(&b, &ctx).unwrap();
}

#[test]
fn family_mismatch() {
    let ctx = RxContext {
        src: SRC6,
        ..v3_ctx4()
    };
    assert_eq!(
        check(&v3_bytes4(), &ctx).unwrap_err().reason(),
        DropReason::FamilyMismatch
    );
    let ctx = RxContext {
        dst: DST4,
        ..v3_ctx6()
    };
    assert_eq!(
        check(&v3_bytes6(), &ctx).unwrap_err().reason(),
        DropReason::FamilyMismatch
    );
    // VRRPv2 over IPv6.
    let ctx = RxContext {
        version: Version::V2,
        ..v3_ctx6()
    };
    assert!(matches!(
        check(&v3_bytes6(), &ctx).unwrap_err(),
        WireError::FamilyMismatch { vrid: 51, .. }
    ));
    // View family differs from the context's.
    let b = v3_bytes4();
    let p = Packet::new_unchecked(&b[..], Family::Ipv6);
    assert_eq!(
        validate(&p, &v3_ctx4()).unwrap_err().reason(),
        DropReason::FamilyMismatch
    );
}

#[test]
fn vrid_mismatch() {
    let ctx = RxContext {
        vrid: vrid(52),
        ..v3_ctx4()
    };
    assert_eq!(
        check(&v3_bytes4(), &ctx).unwrap_err(),
        WireError::VridMismatch {
            vrid: 51,
            expected: vrid(52)
        }
    );
    // VRID 0 never matches, and `parse` refuses it.
    let ctx = v3_ctx4();
    let b = patch(&v3_bytes4(), &ctx, 1, 0);
    assert_eq!(
        check(&b, &ctx).unwrap_err().reason(),
        DropReason::VridMismatch
    );
    assert_eq!(
        Advert::parse_bytes(&b, Family::Ipv4).unwrap_err(),
        WireError::ZeroVrid
    );
}

#[test]
fn auth_type_mismatch() {
    // Packet without auth at a router with a password, and the reverse.
    assert_eq!(
        check(&v2_bytes(Auth::None, 1), &v2_ctx()).unwrap_err(),
        WireError::AuthTypeMismatch {
            vrid: 51,
            got: AuthType::None,
            expected: AuthType::SimpleText
        }
    );
    let ctx = RxContext {
        auth: Auth::None,
        ..v2_ctx()
    };
    assert_eq!(
        check(&v2_bytes(password(), 1), &ctx).unwrap_err().reason(),
        DropReason::AuthTypeMismatch
    );
    // Unknown types are a mismatch too.
    let b = patch(&v2_bytes(password(), 1), &v2_ctx(), 4, 7);
    assert_eq!(
        check(&b, &v2_ctx()).unwrap_err(),
        WireError::AuthTypeMismatch {
            vrid: 51,
            got: AuthType::Unknown(7),
            expected: AuthType::SimpleText
        }
    );
}

#[test]
fn auth_password_mismatch() {
    let other = Auth::SimpleText(Password::new(b"secreT").unwrap());
    assert_eq!(
        check(&v2_bytes(other, 1), &v2_ctx()).unwrap_err(),
        WireError::AuthMismatch { vrid: 51 }
    );
    // Padding counts: "secret" and "secret\0x" differ.
    let padded = Auth::SimpleText(Password::from_raw(*b"secret\0x"));
    assert_eq!(
        check(&v2_bytes(padded, 1), &v2_ctx()).unwrap_err().reason(),
        DropReason::AuthMismatch
    );
}

#[test]
fn auth_ah_is_rejected_with_its_own_error() {
    let ah = Auth::Other {
        auth_type: 2,
        data: [1; 8],
    };
    for ctx_auth in [Auth::None, password(), ah] {
        let ctx = RxContext {
            auth: ctx_auth,
            ..v2_ctx()
        };
        assert_eq!(
            check(&v2_bytes(ah, 1), &ctx).unwrap_err(),
            WireError::AuthAh { vrid: 51 }
        );
    }
}

#[test]
fn v2_interval_mismatch() {
    assert_eq!(
        check(&v2_bytes(password(), 3), &v2_ctx()).unwrap_err(),
        WireError::IntervalMismatch {
            vrid: 51,
            got: Seconds(3),
            expected: Seconds(1)
        }
    );
    // VRRPv3 learns the master's interval instead: no mismatch there.
    let ctx = RxContext {
        v2_interval: Seconds(9),
        ..v3_ctx4()
    };
    check(&v3_bytes4(), &ctx).unwrap();
}

#[test]
fn rfc_order_first_failure_wins() {
    // Wrong TTL, wrong version, bad checksum and wrong VRID at once: TTL comes first.
    let mut b = v3_bytes4();
    b[6] ^= 0xff;
    let ctx = RxContext {
        ttl: 1,
        vrid: vrid(9),
        ..v2_ctx()
    };
    assert_eq!(check(&b, &ctx).unwrap_err().reason(), DropReason::BadTtl);
    let ctx = RxContext { ttl: 255, ..ctx };
    assert_eq!(
        check(&b, &ctx).unwrap_err().reason(),
        DropReason::BadVersion
    );
    let ctx = RxContext {
        version: Version::V3,
        ..ctx
    };
    assert_eq!(
        check(&b, &ctx).unwrap_err().reason(),
        DropReason::BadChecksum
    );
    b[6] ^= 0xff;
    assert_eq!(
        check(&b, &ctx).unwrap_err().reason(),
        DropReason::VridMismatch
    );
    // v2: auth before interval.
    let other = Auth::SimpleText(Password::new(b"nope").unwrap());
    assert_eq!(
        check(&v2_bytes(other, 5), &v2_ctx()).unwrap_err().reason(),
        DropReason::AuthMismatch
    );
}

#[test]
fn every_reason_is_reachable_and_named() {
    // The tests above reach each reason; here, the names are stable and distinct.
    let names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert!(names.contains(&"bad_checksum"));
    assert!(names.contains(&"auth_ah"));
    assert!(names.contains(&"auth") && names.contains(&"replay"));
    // The codec's reasons (the HMAC trailer's last) come first in the one drop-reason type;
    // the router's follow.
    let wire = DropReason::ALL.iter().filter(|r| r.is_wire()).count();
    assert_eq!(wire, 17);
    assert!(DropReason::ALL[..wire].iter().all(|r| r.is_wire()));
}
