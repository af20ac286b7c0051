//! Shared helpers of the `core_*` tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_failover::core::{Director, DirectorAction, DirectorEvent, InstanceId};
use ha_failover::vrrp::router::{Config, RxAdvert, Transmit};
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

pub fn drain(d: &mut Director) -> Out {
    Out {
        transmits: std::iter::from_fn(|| d.poll_transmit()).collect(),
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
