//! heartbeat's timings on the router, with exact instants: `deadtime`
//! ([`Config::dead_interval`]), `initdead` ([`Config::initial_dead_interval`]) and `warntime`
//! ([`Config::warn_interval`]).

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::*;
use crate::types::{Centiseconds, VrId};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    let mut c = Config::new(
        Version::V3,
        VrId::new(7).unwrap(),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    );
    c.priority = Priority(100);
    c
}

fn advert(r: &Router, priority: u8) -> RxAdvert {
    RxAdvert::new(
        PEER,
        r.config().vrid,
        Priority(priority),
        r.config().advert_interval,
    )
}

fn events(r: &mut Router) -> Vec<Event> {
    let _ = core::iter::from_fn(|| r.poll_transmit()).count();
    let _ = core::iter::from_fn(|| r.poll_action()).count();
    core::iter::from_fn(|| r.poll_event()).collect()
}

#[test]
fn rfc_timing_without_heartbeat_settings() {
    // RFC 9568 section 6.1: 3 * 1 s + (256 - 100) / 256 s.
    let t0 = Instant::now();
    let r = Router::new(cfg(), t0).unwrap();
    assert_eq!(r.master_down_interval(), Duration::from_micros(3_609_375));
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + Duration::from_micros(3_609_375))
    );
}

#[test]
fn dead_interval_is_the_master_down_interval_exactly() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.dead_interval = Some(ms(2500));
    let mut r = Router::new(c, t0).unwrap();
    assert_eq!(r.master_down_interval(), ms(2500));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2500)));
    // RFC 9568 section 6.4.2: an accepted advert resets the Master_Down_Timer to
    // Master_Down_Interval, here the dead interval.
    let t1 = t0 + ms(700);
    r.handle_advert(t1, advert(&r, 200));
    assert_eq!(r.poll_timeout(), Some(t1 + ms(2500)));
    r.handle_timeout(t1 + ms(2499));
    assert_eq!(r.state(), State::Backup);
    r.handle_timeout(t1 + ms(2500));
    assert_eq!(r.state(), State::Master);
    // A priority-0 advert still means Skew_Time (section 6.4.2): the master said it leaves.
    let mut c = cfg();
    c.dead_interval = Some(ms(2500));
    let mut r = Router::new(c, t0).unwrap();
    r.handle_advert(t1, advert(&r, 0));
    assert_eq!(r.poll_timeout(), Some(t1 + r.skew_time()));
}

#[test]
fn initial_dead_interval_applies_to_the_first_wait_only() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.dead_interval = Some(ms(2000));
    c.initial_dead_interval = Some(ms(10_000));
    let mut r = Router::new(c.clone(), t0).unwrap();
    assert_eq!(r.poll_timeout(), Some(t0 + ms(10_000)));
    r.handle_timeout(t0 + ms(9_999));
    assert_eq!(r.state(), State::Backup);
    r.handle_timeout(t0 + ms(10_000));
    assert_eq!(r.state(), State::Master);

    // An advert during the initial wait: the normal dead interval from then on.
    let mut r = Router::new(c.clone(), t0).unwrap();
    r.handle_advert(t0 + ms(1000), advert(&r, 200));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(3000)));

    // After a startup delay, the initial wait starts at the Startup event.
    let mut d = c.clone();
    d.startup_delay = ms(500);
    let mut r = Router::new(d, t0).unwrap();
    r.handle_timeout(t0 + ms(500));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(10_500)));

    // Leaving Fault later is a Startup event too, but not the first: the normal wait.
    let mut r = Router::new(c, t0).unwrap();
    r.handle_link(t0 + ms(100), false);
    r.handle_link(t0 + ms(200), true);
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2200)));
}

#[test]
fn initial_dead_interval_waits_for_a_router_created_in_fault() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.initial_dead_interval = Some(ms(8000));
    let mut r = Router::new_in_fault(c, t0, TrackId(1)).unwrap();
    r.clear_fault(t0 + ms(300));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(8300)));
}

#[test]
fn warn_interval_reports_a_late_master_once_per_silence() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.dead_interval = Some(ms(3000));
    c.warn_interval = Some(ms(1500));
    let mut r = Router::new(c, t0).unwrap();
    let _ = events(&mut r);
    // No master heard yet: nothing is late, the only timer is the Master_Down_Timer.
    assert_eq!(r.poll_timeout(), Some(t0 + ms(3000)));
    let t1 = t0 + ms(100);
    r.handle_advert(t1, advert(&r, 200));
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1500)));
    r.handle_timeout(t1 + ms(1499));
    assert!(events(&mut r).is_empty());
    r.handle_timeout(t1 + ms(1500));
    assert_eq!(
        events(&mut r),
        vec![Event::LateAdvert {
            master: Some(PEER),
            silent_for: ms(1500)
        }]
    );
    assert_eq!(r.counters().late_adverts, 1);
    assert_eq!(r.state(), State::Backup);
    // Once per silence: the next timer is the Master_Down_Timer.
    assert_eq!(r.poll_timeout(), Some(t1 + ms(3000)));
    r.handle_timeout(t1 + ms(2000));
    assert!(events(&mut r).is_empty());
    // The master speaks again: a new silence, a new warning.
    let t2 = t1 + ms(2500);
    r.handle_advert(t2, advert(&r, 200));
    r.handle_timeout(t2 + ms(1600));
    assert_eq!(
        events(&mut r),
        vec![Event::LateAdvert {
            master: Some(PEER),
            silent_for: ms(1600)
        }]
    );
    assert_eq!(r.counters().late_adverts, 2);
    // Then the dead interval: master, and no more warnings.
    r.handle_timeout(t2 + ms(3000));
    assert_eq!(r.state(), State::Master);
    assert!(r.poll_timeout() < Some(t2 + ms(4500)));
    assert_eq!(r.counters().late_adverts, 2);
}

#[test]
fn warn_interval_is_cancelled_by_priority_zero_and_by_leaving_backup() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.warn_interval = Some(ms(1500));
    let mut r = Router::new(c, t0).unwrap();
    r.handle_advert(t0, advert(&r, 200));
    r.handle_advert(t0 + ms(500), advert(&r, 0));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(500) + r.skew_time()));
    r.handle_timeout(t0 + ms(2000));
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.counters().late_adverts, 0);
    // A master that steps down to a higher priority follows it: that silence is watched.
    let t1 = t0 + ms(3000);
    r.handle_advert(t1, advert(&r, 200));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1500)));
}

#[test]
fn heartbeat_timings_are_validated() {
    let mut c = cfg();
    c.dead_interval = Some(ms(1000));
    assert!(matches!(
        c.validate(),
        Err(ConfigError::DeadIntervalTooShort { .. })
    ));
    c.dead_interval = Some(ms(1001));
    assert_eq!(c.validate(), Ok(()));
    c.advert_interval = AdvertInterval::V3(Centiseconds::new(50).unwrap());
    c.dead_interval = Some(ms(600));
    assert_eq!(c.validate(), Ok(()));
    c.initial_dead_interval = Some(Duration::ZERO);
    assert_eq!(
        c.validate(),
        Err(ConfigError::ZeroTiming {
            vrid: c.vrid,
            what: "initial_dead_interval"
        })
    );
    c.initial_dead_interval = None;
    c.warn_interval = Some(Duration::ZERO);
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("warn_interval")
    );
}
