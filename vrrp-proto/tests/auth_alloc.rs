//! Signing and verifying the HMAC trailer of authenticated adverts allocates nothing on the
//! advert path (a counting global allocator proves it); only making a key does.
#![cfg(feature = "auth")]

use core::net::{IpAddr, Ipv4Addr};

use ha_testsupport::alloc::{CountingAlloc, allocations_during};
use ha_vrrp_proto::wire::auth::{AdvertKey, MacAlgorithm, ReplayGuard, Trailer, split};
use ha_vrrp_proto::wire::{Addresses, Advert, ChecksumMode, Family};
use ha_vrrp_proto::{Centiseconds, Priority, VrId};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn sign_and_verify_allocate_nothing() {
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    let vips = [Ipv4Addr::new(192, 0, 2, 100)];
    let advert = Advert::v3(
        VrId::new(51).unwrap(),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v4(&vips).unwrap(),
    );
    for alg in [
        MacAlgorithm::HmacMd5,
        MacAlgorithm::HmacSha1,
        MacAlgorithm::HmacSha256,
    ] {
        let key = AdvertKey::new(alg, 1, b"a shared secret");
        let mut guard = ReplayGuard::default();
        guard.accept(src, 0);
        let mut buf = [0u8; 128];
        let n = allocations_during(|| {
            for seq in 1..50u64 {
                let len = advert
                    .emit(&mut buf, ChecksumMode::Standard, src, dst)
                    .unwrap();
                let total = key.sign(&mut buf, len, src, dst, seq).unwrap();
                let v = key.verify(&buf[..total], Family::Ipv4, src, dst).unwrap();
                assert!(guard.is_fresh(src, v.sequence));
                guard.accept(src, v.sequence);
                let (_, t) = split(&buf[..total], Family::Ipv4).unwrap();
                assert_eq!(Trailer::parse(t).unwrap().sequence, seq);
            }
        });
        assert_eq!(n, 0, "{alg}: allocations on the advert path");
    }
}
