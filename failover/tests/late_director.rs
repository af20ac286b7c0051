//! The one late policy (`ha_failover::late`) on the director path: a `Director` driven by
//! `LateDriver<(InstanceId, RxAdvert)>`, its packets as bytes through the real codec
//! (`Director::validate_packet`), on a virtual clock. The same rules as for a router (see
//! `late_driver.rs`): no burst from a late master, rescues counted for backups only, an advert
//! read late fed before the timer it preceded.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_failover::core::{
    Director, DirectorBuilder, DirectorEvent, InstanceConfig, InstanceId, PacketMeta, VipSpec,
};
use ha_failover::late::LateDriver;
use ha_failover::vrrp::router::{Config, RxAdvert, State};
use ha_failover::vrrp::wire::{self, Addresses, Advert, ChecksumMode, Family};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Version, VrId};

const MS: Duration = Duration::from_millis(1);

fn addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// A director with two instances on eth0 (VRIDs 51 and 52), 100 ms adverts.
fn director(prio: u8, last: u8, now: Instant) -> Director {
    let mut b = DirectorBuilder::new();
    for (vrid, vip) in [(51, "10.0.0.100/24"), (52, "10.0.0.101/24")] {
        let mut r = Config::new(Version::V3, VrId::new(vrid).unwrap(), addr(last));
        r.priority = Priority(prio);
        r.advert_interval = AdvertInterval::V3(Centiseconds::new(10).unwrap());
        let mut c = InstanceConfig::new(format!("VI_{vrid}"), "eth0", r);
        c.vips.push(VipSpec::parse(vip).unwrap());
        b.add_instance(c).unwrap();
    }
    b.build(now).unwrap()
}

/// The bytes of an advert from 10.0.0.`last`.
fn advert_bytes(vrid: u8, prio: u8, last: u8) -> Vec<u8> {
    let vips = [Ipv4Addr::new(10, 0, 0, 100)];
    let a = Advert::v3(
        VrId::new(vrid).unwrap(),
        Priority(prio),
        Centiseconds::new(10).unwrap(),
        Addresses::v4(&vips).unwrap(),
    );
    let mut buf = vec![0u8; a.buffer_len()];
    a.emit(
        &mut buf,
        ChecksumMode::Standard,
        addr(last),
        IpAddr::V4(wire::MULTICAST_V4),
    )
    .unwrap();
    buf
}

fn meta(received_at: Instant, last: u8) -> PacketMeta<'static> {
    PacketMeta {
        interface: "eth0",
        family: Family::Ipv4,
        src: addr(last),
        dst: IpAddr::V4(wire::MULTICAST_V4),
        ttl: 255,
        received_at,
    }
}

/// Adverts sent (per instance) and transitions to Master since the last drain.
fn drain(d: &mut Director) -> (Vec<InstanceId>, usize) {
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    while let Some(t) = d.poll_transmit(&mut buf) {
        sent.push(t.instance);
    }
    while d.poll_action().is_some() {}
    let mut masters = 0;
    while let Some(e) = d.poll_event() {
        if matches!(
            e,
            DirectorEvent::Transition {
                to: State::Master,
                ..
            }
        ) {
            masters += 1;
        }
    }
    (sent, masters)
}

/// RFC 9568 section 6.4.3 and the late policy: a master that wakes k intervals late sends one
/// advert per instance, not k+1, and its schedule stays on the grid.
#[test]
fn late_director_master_sends_once_per_instance_after_a_late_wakeup() {
    let t0 = Instant::now();
    let mut d = director(200, 1, t0);
    let mut drv: LateDriver<(InstanceId, RxAdvert)> = LateDriver::new(t0);
    // No peer: both instances become master after Master_Down_Interval.
    let mut now = t0;
    for _ in 0..100 {
        drv.drive(&mut d, now);
        drain(&mut d);
        if d.state(InstanceId(0)) == Some(State::Master)
            && d.state(InstanceId(1)) == Some(State::Master)
        {
            break;
        }
        now = d.poll_timeout().unwrap();
    }
    assert_eq!(d.state(InstanceId(1)), Some(State::Master));
    let due = d.poll_timeout().unwrap();
    // The process sleeps through 7 intervals.
    let late = due + 7 * 100 * MS + 30 * MS;
    drv.drive(&mut d, late);
    let (sent, _) = drain(&mut d);
    assert_eq!(sent.len(), 2, "one advert per instance, no burst: {sent:?}");
    assert!(sent.contains(&InstanceId(0)) && sent.contains(&InstanceId(1)));
    assert_eq!(drv.stats().skipped_ticks, 7);
    assert_eq!(drv.stats().rescued, 0, "a master is never rescued");
    // The next advert is on the original grid.
    let next = d.poll_timeout().unwrap();
    assert_eq!(next, due + 8 * 100 * MS);
}

/// An advert that arrived before the Master_Down_Timer expired but is read after it is
/// honoured at its receive time (one rescue); without it, the same lateness takes over.
#[test]
fn late_director_backup_honours_an_advert_read_late() {
    let t0 = Instant::now();
    let mut d = director(100, 2, t0);
    let mut drv: LateDriver<(InstanceId, RxAdvert)> = LateDriver::new(t0);
    drv.drive(&mut d, t0);
    drain(&mut d);
    assert_eq!(d.state(InstanceId(0)), Some(State::Backup));
    let deadline = d.poll_timeout().unwrap();
    // Received 10 ms before the deadline, read 200 ms after it (Master_Down_Interval is
    // 361 ms: the advert keeps the backup a backup until after that).
    let at = deadline - 10 * MS;
    for vrid in [51, 52] {
        let input = d
            .validate_packet(&meta(at, 1), &advert_bytes(vrid, 200, 1))
            .unwrap();
        drv.queue(at, input);
    }
    drv.drive(&mut d, deadline + 200 * MS);
    let (_, masters) = drain(&mut d);
    assert_eq!(masters, 0, "a false takeover");
    assert_eq!(drv.stats().rescued, 2);
    assert_eq!(d.state(InstanceId(0)), Some(State::Backup));
    // Without adverts the same lateness makes both master.
    let deadline = d.poll_timeout().unwrap();
    drv.drive(&mut d, deadline + 200 * MS);
    let (_, masters) = drain(&mut d);
    assert_eq!(masters, 2);
}

/// Adverts are fed in receive-time order whatever order they were read in: a priority-0
/// advert received first and a live master's received second leave the backup a backup.
#[test]
fn late_director_feeds_in_receive_time_order() {
    let t0 = Instant::now();
    let mut d = director(100, 2, t0);
    let mut drv: LateDriver<(InstanceId, RxAdvert)> = LateDriver::new(t0);
    drv.drive(&mut d, t0);
    drain(&mut d);
    let deadline = d.poll_timeout().unwrap();
    let live = d
        .validate_packet(&meta(deadline - 5 * MS, 1), &advert_bytes(51, 200, 1))
        .unwrap();
    let stop = d
        .validate_packet(&meta(deadline - 20 * MS, 1), &advert_bytes(51, 0, 1))
        .unwrap();
    drv.queue(deadline - 5 * MS, live);
    drv.queue(deadline - 20 * MS, stop);
    // In the wrong order, priority 0 would come last and Skew_Time (61 ms) expire.
    drv.drive(&mut d, deadline + 200 * MS);
    assert_eq!(
        d.state(InstanceId(0)),
        Some(State::Backup),
        "fed out of order"
    );
}

/// A master receiving lower-priority adverts late counts no rescue, and drops by the router
/// (lower priority) and by the codec (bad TTL, unknown VRID) are counted where they belong.
#[test]
fn late_director_counts_rescues_for_backups_only_and_every_drop() {
    let t0 = Instant::now();
    let mut d = director(200, 1, t0);
    let mut drv: LateDriver<(InstanceId, RxAdvert)> = LateDriver::new(t0);
    let mut now = t0;
    while d.state(InstanceId(0)) != Some(State::Master) {
        drv.drive(&mut d, now);
        drain(&mut d);
        now = d.poll_timeout().unwrap();
    }
    let due = d.poll_timeout().unwrap();
    let at = due - MS;
    let low = d
        .validate_packet(&meta(at, 3), &advert_bytes(51, 50, 3))
        .unwrap();
    drv.queue(at, low);
    drv.drive(&mut d, due + 300 * MS);
    assert_eq!(drv.stats().rescued, 0);
    assert_eq!(d.state(InstanceId(0)), Some(State::Master));
    // The codec's drops and the demultiplexer's.
    let mut bad = meta(at, 3);
    bad.ttl = 64;
    assert_eq!(
        d.validate_packet(&bad, &advert_bytes(51, 50, 3)),
        Err(ha_failover::vrrp::DropReason::BadTtl)
    );
    assert_eq!(
        d.validate_packet(&meta(at, 3), &advert_bytes(77, 50, 3)),
        Err(ha_failover::vrrp::DropReason::VridMismatch)
    );
    assert_eq!(
        d.drops(InstanceId(0))
            .get(ha_failover::vrrp::DropReason::BadTtl),
        1
    );
    assert_eq!(
        d.unmatched_drops()
            .get(ha_failover::vrrp::DropReason::VridMismatch),
        1
    );
}
