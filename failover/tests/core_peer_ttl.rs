//! Unicast adverts and their TTL, through the real codec (`Director::handle_packet`): not held
//! to 255 (keepalived's rule, so a peer's `unicast_ttl` works), but to a peer's configured range
//! (`peer_ttl`); multicast adverts always need 255.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ha_failover::core::{DirectorBuilder, InstanceConfig, PacketMeta, VipSpec};
use ha_failover::vrrp::router::Config;
use ha_failover::vrrp::wire::{self, Addresses, Advert, ChecksumMode, Family};
use ha_failover::vrrp::{Centiseconds, DropReason, Priority, Version, VrId};

fn addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn advert_bytes(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let vips = [Ipv4Addr::new(10, 0, 0, 100)];
    let a = Advert::v3(
        VrId::new(51).unwrap(),
        Priority(100),
        Centiseconds::new(100).unwrap(),
        Addresses::v4(&vips).unwrap(),
    );
    let mut buf = vec![0u8; a.buffer_len()];
    a.emit(&mut buf, ChecksumMode::Standard, src, dst).unwrap();
    buf
}

#[test]
fn unicast_adverts_are_held_to_the_peer_range_not_to_255() {
    let t0 = Instant::now();
    let mut r = Config::new(Version::V3, VrId::new(51).unwrap(), addr(2));
    r.peers = vec![addr(3), addr(4)];
    let mut c = InstanceConfig::new("VI_1", "eth0", r);
    c.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
    c.peer_ttl.push((addr(3), 60, 70));
    let mut b = DirectorBuilder::new();
    let id = b.add_instance(c).unwrap();
    let mut d = b.build(t0).unwrap();
    let feed = |d: &mut ha_failover::core::Director, src: IpAddr, dst: IpAddr, ttl: u8| {
        let bytes = advert_bytes(src, dst);
        let meta = PacketMeta {
            interface: "eth0",
            family: Family::Ipv4,
            src,
            dst,
            ttl,
            received_at: t0,
        };
        d.handle_packet(t0, &meta, &bytes)
    };
    // Peer 10.0.0.3, range 60..=70: 64 passes, 255 and 59 do not.
    assert_eq!(feed(&mut d, addr(3), addr(2), 64), Ok(id));
    assert_eq!(feed(&mut d, addr(3), addr(2), 255), Err(DropReason::BadTtl));
    assert_eq!(feed(&mut d, addr(3), addr(2), 59), Err(DropReason::BadTtl));
    // Peer 10.0.0.4 without a range: any TTL.
    assert_eq!(feed(&mut d, addr(4), addr(2), 1), Ok(id));
    // Multicast: 255 only.
    let group = IpAddr::V4(wire::MULTICAST_V4);
    assert_eq!(feed(&mut d, addr(4), group, 64), Err(DropReason::BadTtl));
}
