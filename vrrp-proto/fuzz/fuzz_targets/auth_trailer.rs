//! Fuzz the HMAC trailer of authenticated adverts: `split`, `Trailer::parse` and
//! `AdvertKey::verify` never panic, and nothing random verifies.
//!
//! Run: `cargo +nightly fuzz run auth_trailer` in `vrrp-proto/fuzz`.
#![no_main]

use core::net::{IpAddr, Ipv4Addr};

use ha_vrrp_proto::wire::Family;
use ha_vrrp_proto::wire::auth::{AdvertKey, MacAlgorithm, Trailer, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let family = if knobs & 1 == 0 {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let alg = MacAlgorithm::from_code(1 + (knobs >> 1) % 3).unwrap_or(MacAlgorithm::HmacSha1);
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    let _ = Trailer::parse(data);
    if let Some((vrrp, rest)) = split(data, family) {
        assert_eq!(vrrp.len() + rest.len(), data.len());
    }
    let key = AdvertKey::new(alg, knobs, b"fuzz");
    // A MAC found by chance would be a broken HMAC.
    assert!(key.verify(data, family, src, dst).is_err());
});
