//! Shared helpers of the `core_*` tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_failover::core::{Director, DirectorAction, DirectorEvent, InstanceId};
use ha_failover::vrrp::router::{Config, Destination, RxAdvert, Transmit};
use ha_failover::vrrp::wire::{self, Family, Packet};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Version, VrId};

/// Everything a director emitted after one input.
#[derive(Debug, Default)]
pub struct Out {
    pub transmits: Vec<(InstanceId, Transmit)>,
    pub actions: Vec<DirectorAction>,
    pub events: Vec<DirectorEvent>,
}

impl Out {
    pub fn notifies(&self) -> Vec<Vec<String>> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                DirectorAction::Notify { argv } => Some(argv.clone()),
                _ => None,
            })
            .collect()
    }

    /// The actions without the notify scripts.
    pub fn resource_actions(&self) -> Vec<DirectorAction> {
        self.actions
            .iter()
            .filter(|a| !matches!(a, DirectorAction::Notify { .. }))
            .cloned()
            .collect()
    }
}

/// The director's adverts, decoded from the bytes it wrote by the real codec.
pub fn transmits(d: &mut Director) -> Vec<(InstanceId, Transmit)> {
    let mut buf = Vec::new();
    std::iter::from_fn(|| {
        let t = d.poll_transmit(&mut buf)?;
        let family = Family::of(t.src);
        // The header as written (an instance without addresses writes an advert the codec
        // would refuse to receive, RFC 9568 section 5.2.5, so no full parse here).
        let p = Packet::new_checked(&buf[..t.len], family).expect("a whole advert");
        let vrid = VrId::new(p.vrid()).expect("VRID");
        let interval = match p.version() {
            2 => AdvertInterval::V2(ha_failover::vrrp::Seconds(p.adver_int())),
            _ => AdvertInterval::V3(Centiseconds::new(p.max_adver_int()).expect("interval")),
        };
        let multicast = match t.dst {
            IpAddr::V4(a) => a == wire::MULTICAST_V4,
            IpAddr::V6(a) => a == wire::MULTICAST_V6,
        };
        Some((
            t.instance,
            Transmit {
                destination: if multicast {
                    Destination::Multicast(t.dst)
                } else {
                    Destination::Unicast(t.dst)
                },
                version: interval.version(),
                vrid,
                priority: p.priority(),
                interval,
            },
        ))
    })
    .collect()
}

pub fn drain(d: &mut Director) -> Out {
    Out {
        transmits: transmits(d),
        actions: std::iter::from_fn(|| d.poll_action()).collect(),
        events: std::iter::from_fn(|| d.poll_event()).collect(),
    }
}

pub fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
}

pub fn vrid(n: u8) -> VrId {
    VrId::new(n).unwrap()
}

pub const INTERVAL: AdvertInterval = match Centiseconds::new(100) {
    Some(c) => AdvertInterval::V3(c),
    None => panic!(),
};

/// A v3 router config, 1 s interval.
pub fn router(vr: u8, priority: u8, addr: IpAddr) -> Config {
    let mut c = Config::new(Version::V3, vrid(vr), addr);
    c.priority = Priority(priority);
    c.address_owner = priority == 255;
    c
}

pub fn advert(src: IpAddr, vr: u8, priority: u8) -> RxAdvert {
    RxAdvert::new(src, vrid(vr), Priority(priority), INTERVAL)
}

/// Master_Down_Interval for a v3 router of `priority` at 1 s: 3 s + (256 - p)/256 s.
pub fn master_down(priority: u8) -> Duration {
    Duration::from_secs(3) + Duration::from_secs(1) * (256 - u32::from(priority)) / 256
}

pub fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

pub fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}
