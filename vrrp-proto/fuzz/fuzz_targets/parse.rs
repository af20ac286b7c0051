//! Fuzz the VRRP codec: the view, `Advert::parse` and `validate` must never panic, and whatever
//! `validate` accepts must re-emit to the same bytes (up to what receivers ignore).
//!
//! Run: `cargo +nightly fuzz run parse` in `vrrp-proto/fuzz`.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_vrrp_proto::wire::{
    Advert, Auth, ChecksumMode, Family, Packet, Password, RxContext, validate,
};
use ha_vrrp_proto::{Seconds, Version, VrId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first byte chooses the context, the rest is the VRRP message.
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let family = if knobs & 1 == 0 {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let version = if knobs & 2 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let mode = if knobs & 4 == 0 {
        ChecksumMode::Standard
    } else {
        ChecksumMode::V3AsV2
    };
    let auth = match (knobs >> 3) & 3 {
        0 => Auth::None,
        1 => Auth::SimpleText(Password::from_raw(*b"secret\0\0")),
        2 => Auth::Other {
            auth_type: 2,
            data: [0; 8],
        },
        _ => Auth::Other {
            auth_type: knobs,
            data: [knobs; 8],
        },
    };
    let (src, dst) = match family {
        Family::Ipv4 => (
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        ),
        Family::Ipv6 => (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        ),
    };

    if let Ok(p) = Packet::new_checked(data, family) {
        let _ = (
            p.version(),
            p.msg_type(),
            p.vrid(),
            p.priority(),
            p.addr_count(),
        );
        let _ = (
            p.auth_type(),
            p.adver_int(),
            p.reserved(),
            p.max_adver_int(),
            p.checksum(),
        );
        let _ = (p.address_bytes(), p.auth_data(), p.total_len());
        for i in 0..=usize::from(p.addr_count()) {
            let _ = p.address(i);
        }
        let _ = p.verify_checksum(mode, src, dst);
    }
    if let Ok(a) = Advert::parse_bytes(data, family) {
        let mut out = [0u8; 4096];
        let n = a
            .emit(&mut out, mode, src, dst)
            .expect("4096 bytes fit any advert");
        assert_eq!(n, data.len());
    }

    let ctx = RxContext {
        version,
        vrid: VrId::new(data.get(1).copied().unwrap_or(1)).unwrap_or(VrId::new(1).unwrap()),
        family,
        auth,
        v2_interval: Seconds(data.get(5).copied().unwrap_or(1)),
        checksum_mode: mode,
        src,
        dst,
        ttl: 255,
    };
    let packet = Packet::new_unchecked(data, family);
    match validate(&packet, &ctx) {
        Ok(a) => {
            let mut out = [0u8; 4096];
            let n = a
                .emit(&mut out, mode, src, dst)
                .expect("4096 bytes fit any advert");
            assert_eq!(n, data.len());
            assert_eq!(out[..4], data[..4]);
            assert_eq!(Advert::parse_bytes(&out[..n], family), Ok(a));
        }
        Err(e) => {
            let _ = e.reason().as_str();
            let _ = e.vrid();
        }
    }
});
