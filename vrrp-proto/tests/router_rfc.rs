//! One test per RFC 9568 / RFC 3768 section 6 rule (and each keepalived extension), with the
//! exact expected instants. Expected durations are written out as literals computed by hand
//! from the RFC formulas, not by calling the crate's own formulas.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{
    Action, Config, ConfigError, Destination, DropReason, Event, LowerPriorityPolicy,
    PriorityError, Router, RxAdvert, State, TrackId, TransitionKind, TransitionReason, Transmit,
};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
const LOWER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
const HIGHER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
const GROUP4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

fn vrid() -> VrId {
    VrId::new(51).unwrap()
}

fn cs(v: u16) -> AdvertInterval {
    AdvertInterval::V3(Centiseconds::new(v).unwrap())
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn us(v: u64) -> Duration {
    Duration::from_micros(v)
}

fn v3(priority: u8) -> Config {
    let mut c = Config::new(Version::V3, vrid(), ME);
    c.priority = Priority(priority);
    c
}

fn v2(priority: u8, secs: u8) -> Config {
    let mut c = Config::new(Version::V2, vrid(), ME);
    c.priority = Priority(priority);
    c.advert_interval = AdvertInterval::V2(Seconds(secs));
    c
}

fn owner(version: Version) -> Config {
    let mut c = Config::new(version, vrid(), ME);
    c.priority = Priority::OWNER;
    c.address_owner = true;
    c
}

fn adv(src: IpAddr, priority: u8, interval: AdvertInterval) -> RxAdvert {
    RxAdvert {
        src,
        version: interval.version(),
        vrid: vrid(),
        priority: Priority(priority),
        interval,
    }
}

/// Everything a router has queued.
#[derive(Debug, Default)]
struct Out {
    tx: Vec<Transmit>,
    actions: Vec<Action>,
    events: Vec<Event>,
}

fn drain(r: &mut Router) -> Out {
    let mut o = Out::default();
    while let Some(t) = r.poll_transmit() {
        o.tx.push(t);
    }
    while let Some(a) = r.poll_action() {
        o.actions.push(a);
    }
    while let Some(e) = r.poll_event() {
        o.events.push(e);
    }
    o
}

fn reason(o: &Out) -> TransitionReason {
    match o.events.as_slice() {
        [Event::Transition { reason, .. }] => *reason,
        other => panic!("expected one transition, got {other:?}"),
    }
}

fn tx_priorities(o: &Out) -> Vec<u8> {
    o.tx.iter().map(|t| t.priority.get()).collect()
}

/// A v3 backup (priority 100, 1 s) that accepted an advert from a priority-200 master at
/// `t0 + 1 s`.
fn backup_following_master(t0: Instant) -> Router {
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(1000), adv(HIGHER_ADDR, 200, cs(100)));
    assert!(drain(&mut r).events.is_empty());
    r
}

fn master(cfg: Config, t0: Instant) -> Router {
    let mut r = Router::new(cfg, t0).unwrap();
    drain(&mut r);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    assert_eq!(r.state(), State::Master);
    drain(&mut r);
    r
}

// --- 6.4.1 Initialize ---

/// RFC 9568 section 6.4.1: a non-owner goes Backup at Startup with Master_Down_Timer = Master_Down_Interval (section 6.1).
#[test]
fn v3_startup_goes_backup_with_master_down_interval() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Backup);
    assert!(o.tx.is_empty());
    assert_eq!(o.actions, vec![Action::BecomeBackup]);
    assert_eq!(
        o.events,
        vec![Event::Transition {
            from: State::Initialize,
            to: State::Backup,
            reason: TransitionReason::Startup
        }]
    );
    // 3 * 1 s + (256 - 100) * 1 s / 256 = 3.609375 s
    assert_eq!(r.poll_timeout(), Some(t0 + us(3_609_375)));
    assert_eq!(r.master_adver_interval(), cs(100));
}

/// RFC 9568 section 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
#[test]
fn v3_skew_uses_the_interval() {
    let t0 = Instant::now();
    let mut c = v3(100);
    c.advert_interval = cs(50);
    let r = Router::new(c, t0).unwrap();
    // 3 * 0.5 s + 156 * 0.5 s / 256 = 1.5 + 0.3046875
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + us(1_804_687) + Duration::from_nanos(500))
    );
}

/// RFC 3768 section 6.1 / 6.4.1: Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time, in seconds.
#[test]
fn v2_startup_master_down_interval() {
    let t0 = Instant::now();
    let r = Router::new(v2(200, 1), t0).unwrap();
    // 3 * 1 s + (256 - 200) / 256 s = 3.21875 s
    assert_eq!(r.poll_timeout(), Some(t0 + us(3_218_750)));
    // v2 Skew_Time is independent of the interval: 3 * 3 s + 156/256 s = 9.609375 s
    let r = Router::new(v2(100, 3), t0).unwrap();
    assert_eq!(r.poll_timeout(), Some(t0 + us(9_609_375)));
}

/// RFC 9568 section 6.4.1: the address owner (priority 255) goes Master at Startup and advertises at once.
#[test]
fn owner_goes_straight_to_master() {
    for version in [Version::V2, Version::V3] {
        let t0 = Instant::now();
        let mut c = owner(version);
        c.accept_mode = true;
        let mut r = Router::new(c, t0).unwrap();
        let o = drain(&mut r);
        assert_eq!(r.state(), State::Master);
        assert_eq!(tx_priorities(&o), vec![255]);
        assert_eq!(o.tx[0].destination, Destination::Multicast(GROUP4));
        assert_eq!(o.tx[0].version, version);
        assert_eq!(o.actions, vec![Action::BecomeMaster { accept_mode: true }]);
        assert_eq!(reason(&o), TransitionReason::Startup);
        assert_eq!(r.poll_timeout(), Some(t0 + ms(1000)));
    }
}

/// RFC 9568 section 6.4.1: the router waits in Initialize for the Startup event (here delayed).
#[test]
fn startup_delay_defers_the_startup_event() {
    let t0 = Instant::now();
    let mut c = v3(100);
    c.startup_delay = ms(2000);
    let mut r = Router::new(c, t0).unwrap();
    assert_eq!(r.state(), State::Initialize);
    assert!(drain(&mut r).events.is_empty());
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000)));
    r.handle_advert(t0 + ms(500), adv(HIGHER_ADDR, 200, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::NotRunning), 1);
    r.handle_timeout(t0 + ms(1999));
    assert_eq!(r.state(), State::Initialize);
    r.handle_timeout(t0 + ms(2000));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(reason(&drain(&mut r)), TransitionReason::Startup);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000) + us(3_609_375)));
}

// --- 6.4.2 Backup ---

/// RFC 9568 section 6.4.2: the Master_Down_Timer makes the backup Master; an early timeout is a no-op.
#[test]
fn master_down_timer_fires_and_early_timeout_is_a_noop() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    let due = t0 + us(3_609_375);
    r.handle_timeout(due - Duration::from_nanos(1));
    assert_eq!(r.state(), State::Backup);
    let o = drain(&mut r);
    assert!(o.tx.is_empty() && o.events.is_empty() && o.actions.is_empty());
    r.handle_timeout(due);
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Master);
    assert_eq!(tx_priorities(&o), vec![100]);
    assert_eq!(o.actions, vec![Action::BecomeMaster { accept_mode: false }]);
    assert_eq!(
        reason(&o),
        TransitionReason::MasterDown { last_master: None }
    );
    assert_eq!(r.poll_timeout(), Some(due + ms(1000)));
    assert_eq!(r.counters().transitions(TransitionKind::MasterDown), 1);
}

/// RFC 9568 section 6.4.2: an accepted advert resets the Master_Down_Timer and sets Master_Adver_Interval.
#[test]
fn backup_resets_timer_and_learns_v3_interval() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    let t1 = t0 + ms(1500);
    r.handle_advert(t1, adv(HIGHER_ADDR, 200, cs(200)));
    assert_eq!(r.master_adver_interval(), cs(200));
    // 3 * 2 s + 156 * 2 s / 256 = 7.21875 s
    assert_eq!(r.poll_timeout(), Some(t1 + us(7_218_750)));
    assert_eq!(r.known_master(), Some((HIGHER_ADDR, Priority(200))));
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    assert_eq!(
        reason(&drain(&mut r)),
        TransitionReason::MasterDown {
            last_master: Some(HIGHER_ADDR)
        }
    );
    // As master it advertises its own configured interval again.
    assert_eq!(r.poll_timeout(), Some(t + ms(1000)));
}

/// RFC 3768 section 7.1: an advert whose interval differs from the configured one is discarded.
#[test]
fn v2_backup_drops_interval_mismatch() {
    let t0 = Instant::now();
    let mut r = Router::new(v2(100, 1), t0).unwrap();
    drain(&mut r);
    r.handle_advert(
        t0 + ms(1000),
        adv(HIGHER_ADDR, 200, AdvertInterval::V2(Seconds(2))),
    );
    assert_eq!(r.counters().dropped(DropReason::IntervalMismatch), 1);
    assert_eq!(r.poll_timeout(), Some(t0 + us(3_609_375)));
    r.handle_advert(
        t0 + ms(1000),
        adv(HIGHER_ADDR, 200, AdvertInterval::V2(Seconds(1))),
    );
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000) + us(3_609_375)));
}

/// RFC 9568 section 6.4.2: priority 0 sets the Master_Down_Timer to Skew_Time.
#[test]
fn backup_receiving_priority_zero_waits_skew_time() {
    let t0 = Instant::now();
    let mut r = backup_following_master(t0);
    let t1 = t0 + ms(1800);
    r.handle_advert(t1, adv(HIGHER_ADDR, 0, cs(100)));
    // Skew_Time = 156 * 1 s / 256 = 609.375 ms
    assert_eq!(r.poll_timeout(), Some(t1 + us(609_375)));
    r.handle_timeout(t1 + us(609_375));
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        reason(&o),
        TransitionReason::PriorityZero { from: HIGHER_ADDR }
    );
    assert_eq!(r.counters().priority_zero_received, 1);
}

/// RFC 3768 section 6.4.2: priority 0 sets the Master_Down_Timer to Skew_Time (seconds).
#[test]
fn v2_priority_zero_skew_is_in_seconds() {
    let t0 = Instant::now();
    let mut r = Router::new(v2(200, 5), t0).unwrap();
    drain(&mut r);
    r.handle_advert(
        t0 + ms(100),
        adv(HIGHER_ADDR, 0, AdvertInterval::V2(Seconds(5))),
    );
    // (256 - 200) / 256 s = 218.75 ms, whatever the interval
    assert_eq!(r.poll_timeout(), Some(t0 + ms(100) + us(218_750)));
}

/// RFC 9568 section 6.4.2: with Preempt_Mode, a lower-priority advert is discarded and the timer expires.
#[test]
fn preempting_backup_discards_lower_priority_and_takes_over() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(200), t0).unwrap();
    drain(&mut r);
    // MDI(200) = 3 s + 56/256 s = 3.21875 s
    let due = t0 + us(3_218_750);
    assert_eq!(r.poll_timeout(), Some(due));
    r.handle_advert(t0 + ms(1000), adv(LOWER_ADDR, 100, cs(100)));
    r.handle_advert(t0 + ms(2000), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::LowerPriority), 2);
    assert_eq!(r.poll_timeout(), Some(due));
    r.handle_timeout(due);
    let o = drain(&mut r);
    assert_eq!(
        reason(&o),
        TransitionReason::Preempt {
            master: LOWER_ADDR,
            priority: Priority(100)
        }
    );
}

/// RFC 9568 section 6.4.2: an advert of equal priority is accepted (no preemption).
#[test]
fn backup_accepts_equal_priority() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(1000), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000) + us(3_609_375)));
}

/// RFC 9568 section 6.4.2: without Preempt_Mode, a lower-priority master is followed.
#[test]
fn nopreempt_backup_follows_lower_priority_master() {
    let t0 = Instant::now();
    let mut c = v3(200);
    c.preempt = false;
    let mut r = Router::new(c, t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(1000), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000) + us(3_218_750)));
    assert_eq!(r.counters().dropped(DropReason::LowerPriority), 0);
}

/// RFC 9568 section 6.4.2 with keepalived's preempt_delay: preemption waits after entering Backup.
#[test]
fn preempt_delay_defers_preemption() {
    let t0 = Instant::now();
    let mut c = v3(200);
    c.preempt_delay = ms(5000);
    let mut r = Router::new(c, t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(1000), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000) + us(3_218_750)));
    r.handle_advert(t0 + ms(4999), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(4999) + us(3_218_750)));
    r.handle_advert(t0 + ms(5000), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::LowerPriority), 1);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(4999) + us(3_218_750)));
}

/// RFC 9568 section 6.1: the owner always preempts, whatever Preempt_Mode says.
#[test]
fn owner_ignores_nopreempt() {
    let t0 = Instant::now();
    let mut c = owner(Version::V3);
    c.preempt = false;
    let mut r = master(c, t0);
    // Step down to backup on a (misconfigured) higher-address owner, then see that a
    // lower-priority advert is discarded: the owner always preempts (RFC 9568 section 6.1).
    r.handle_advert(t0 + ms(100), adv(HIGHER_ADDR, 255, cs(100)));
    assert_eq!(r.state(), State::Backup);
    r.handle_advert(t0 + ms(200), adv(LOWER_ADDR, 100, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::LowerPriority), 1);
}

// --- 6.4.3 Master ---

/// RFC 9568 section 6.4.3: the Adver_Timer sends an advert every Advertisement_Interval.
#[test]
fn master_advertises_every_interval() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    let mut t = r.poll_timeout().unwrap();
    for _ in 0..3 {
        r.handle_timeout(t);
        let o = drain(&mut r);
        assert_eq!(tx_priorities(&o), vec![100]);
        assert!(o.events.is_empty());
        assert_eq!(r.poll_timeout(), Some(t + ms(1000)));
        t += ms(1000);
    }
}

/// RFC 9568 section 6.4.3: a higher-priority advert makes the master Backup with the learned interval.
#[test]
fn master_steps_down_on_higher_priority_and_learns_interval() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    let t1 = t0 + ms(5000);
    r.handle_advert(t1, adv(LOWER_ADDR, 150, cs(300)));
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Backup);
    assert!(o.tx.is_empty());
    assert_eq!(o.actions, vec![Action::BecomeBackup]);
    assert_eq!(
        reason(&o),
        TransitionReason::HigherPriority {
            from: LOWER_ADDR,
            priority: Priority(150)
        }
    );
    // 3 * 3 s + 156 * 3 s / 256 = 10.828125 s
    assert_eq!(r.poll_timeout(), Some(t1 + us(10_828_125)));
}

/// keepalived `higher_prio_send_advert`: a master stepping down for a higher priority or an
/// equal priority from a higher address sends one advert of its own priority first, then
/// becomes Backup exactly as without the option; a lower priority is answered as before.
#[test]
fn master_with_higher_priority_advert_sends_a_last_advert_before_stepping_down() {
    let t0 = Instant::now();
    let mut c = v3(100);
    c.higher_priority_advert = true;
    for (from, prio) in [(LOWER_ADDR, 150), (HIGHER_ADDR, 100)] {
        let mut r = master(c.clone(), t0);
        let sent = r.counters().adverts_sent;
        let t1 = t0 + ms(5000);
        r.handle_advert(t1, adv(from, prio, cs(300)));
        let o = drain(&mut r);
        assert_eq!(r.state(), State::Backup, "from {from} priority {prio}");
        assert_eq!(tx_priorities(&o), vec![100], "from {from} priority {prio}");
        assert_eq!(r.counters().adverts_sent, sent + 1);
        assert_eq!(o.actions, vec![Action::BecomeBackup]);
        // The learned interval and Master_Down_Interval are as without the option.
        let skew = (256 - 100) * 3_000_000 / 256;
        assert_eq!(r.poll_timeout(), Some(t1 + us(9_000_000 + skew)));
        // Backup now: a lower-priority advert is not answered.
        r.handle_advert(t1 + ms(10), adv(LOWER_ADDR, 50, cs(300)));
        assert!(drain(&mut r).tx.is_empty());
    }
    // A lower priority is answered once, the option changes nothing there.
    let mut r = master(c, t0);
    r.handle_advert(t0 + ms(5000), adv(LOWER_ADDR, 50, cs(100)));
    assert_eq!(tx_priorities(&drain(&mut r)), vec![100]);
    assert_eq!(r.state(), State::Master);
}

/// RFC 9568 section 6.4.3: at equal priority the higher primary address wins.
#[test]
fn master_tie_break_by_primary_address() {
    let t0 = Instant::now();
    // Equal priority, higher address: step down.
    let mut r = master(v3(100), t0);
    r.handle_advert(t0 + ms(5000), adv(HIGHER_ADDR, 100, cs(100)));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(
        reason(&drain(&mut r)),
        TransitionReason::AddressTieBreak { from: HIGHER_ADDR }
    );
    // Equal priority, lower address: stay master and (default policy) re-advertise.
    let mut r = master(v3(100), t0);
    let t1 = t0 + ms(5500);
    r.handle_advert(t1, adv(LOWER_ADDR, 100, cs(100)));
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Master);
    assert_eq!(tx_priorities(&o), vec![100]);
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1000)));
}

/// RFC 9568 section 6.4.3: the address comparison applies to IPv6 too.
#[test]
fn ipv6_tie_break_compares_addresses() {
    let me: IpAddr = "fe80::5".parse().unwrap();
    let t0 = Instant::now();
    let mut r = master(Config::new(Version::V3, vrid(), me), t0);
    r.handle_advert(t0 + ms(5000), adv("fe80::4".parse().unwrap(), 100, cs(100)));
    assert_eq!(r.state(), State::Master);
    let o = drain(&mut r);
    assert_eq!(
        o.tx[0].destination,
        Destination::Multicast(IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)))
    );
    r.handle_advert(
        t0 + ms(5001),
        adv("fe80::1:0".parse().unwrap(), 100, cs(100)),
    );
    assert_eq!(r.state(), State::Backup);
}

/// RFC 9568 section 6.4.3: a lower-priority advert is discarded (or, keepalived's default, answered).
#[test]
fn master_lower_priority_policy() {
    let t0 = Instant::now();
    // Default (keepalived): re-advertise at once.
    let mut r = master(v3(150), t0);
    let before = r.poll_timeout().unwrap();
    let t1 = before - ms(300);
    r.handle_advert(t1, adv(HIGHER_ADDR, 100, cs(100)));
    assert_eq!(tx_priorities(&drain(&mut r)), vec![150]);
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1000)));
    // RFC: discard.
    let mut c = v3(150);
    c.lower_priority = LowerPriorityPolicy::Discard;
    let mut r = master(c, t0);
    let before = r.poll_timeout().unwrap();
    r.handle_advert(before - ms(300), adv(HIGHER_ADDR, 100, cs(100)));
    assert!(drain(&mut r).tx.is_empty());
    assert_eq!(r.poll_timeout(), Some(before));
    assert_eq!(r.counters().dropped(DropReason::LowerPriority), 1);
    assert_eq!(r.state(), State::Master);
}

/// RFC 9568 section 6.4.3: a master answers a priority-0 advert with an advert at once.
#[test]
fn master_answers_priority_zero_with_an_advert() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    let t1 = r.poll_timeout().unwrap() - ms(500);
    r.handle_advert(t1, adv(HIGHER_ADDR, 0, cs(100)));
    assert_eq!(tx_priorities(&drain(&mut r)), vec![100]);
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1000)));
    assert_eq!(r.state(), State::Master);
}

// --- Shutdown ---

/// RFC 9568 section 6.4.3: on Shutdown a master sends priority 0 and goes Initialize.
#[test]
fn master_shutdown_sends_priority_zero() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    r.shutdown(t0 + ms(6000));
    let o = drain(&mut r);
    assert_eq!(tx_priorities(&o), vec![0]);
    assert_eq!(o.actions, vec![Action::Stop]);
    assert_eq!(
        o.events,
        vec![Event::Transition {
            from: State::Master,
            to: State::Initialize,
            reason: TransitionReason::Shutdown
        }]
    );
    assert_eq!(r.poll_timeout(), None);
    assert!(r.is_stopped());
    r.handle_advert(t0 + ms(6100), adv(HIGHER_ADDR, 200, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::NotRunning), 1);
    assert_eq!(r.counters().priority_zero_sent, 1);
    r.shutdown(t0 + ms(6200));
    assert!(drain(&mut r).events.is_empty());
}

/// RFC 9568 section 6.4.2: on Shutdown a backup stops its timer and sends nothing.
#[test]
fn backup_shutdown_sends_nothing() {
    let t0 = Instant::now();
    let mut r = backup_following_master(t0);
    r.shutdown(t0 + ms(2000));
    let o = drain(&mut r);
    assert!(o.tx.is_empty());
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(reason(&o), TransitionReason::Shutdown);
    assert_eq!(r.poll_timeout(), None);
}

// --- Priority changes ---

/// RFC 9568 section 6.4.3 (tracking, not RFC): a lowered priority is advertised at once.
#[test]
fn master_priority_drop_is_advertised_at_once() {
    let t0 = Instant::now();
    let mut r = master(v3(200), t0);
    let t1 = r.poll_timeout().unwrap() - ms(700);
    r.set_priority(t1, Priority(50)).unwrap();
    assert_eq!(tx_priorities(&drain(&mut r)), vec![50]);
    assert_eq!(r.poll_timeout(), Some(t1 + ms(1000)));
    assert_eq!(r.priority(), Priority(50));
    // Unchanged priority: nothing.
    r.set_priority(t1, Priority(50)).unwrap();
    assert!(drain(&mut r).tx.is_empty());
}

/// RFC 9568 section 6.4.2 (tracking, not RFC): a backup raised above the master takes over at once when it may preempt.
#[test]
fn backup_priority_rise_preempts_at_once() {
    let t0 = Instant::now();
    let mut r = backup_following_master(t0);
    r.set_priority(t0 + ms(1500), Priority(150)).unwrap();
    assert_eq!(r.state(), State::Backup, "still below the master's 200");
    r.set_priority(t0 + ms(1600), Priority(201)).unwrap();
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Master);
    assert_eq!(tx_priorities(&o), vec![201]);
    assert_eq!(
        reason(&o),
        TransitionReason::PriorityRaised {
            master: HIGHER_ADDR,
            priority: Priority(200)
        }
    );
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2600)));
}

/// RFC 9568 section 6.1: without Preempt_Mode a raised priority does not take over.
#[test]
fn nopreempt_backup_priority_rise_does_not_take_over() {
    let t0 = Instant::now();
    let mut c = v3(100);
    c.preempt = false;
    let mut r = Router::new(c, t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(1000), adv(HIGHER_ADDR, 200, cs(100)));
    r.set_priority(t0 + ms(1600), Priority(250)).unwrap();
    assert_eq!(r.state(), State::Backup);
    // The timer keeps the old deadline; the new priority applies at the next reset.
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000) + us(3_609_375)));
    r.handle_advert(t0 + ms(2000), adv(HIGHER_ADDR, 200, cs(100)));
    // 3 s + 6/256 s = 3.0234375 s
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + ms(2000) + us(3_023_437) + Duration::from_nanos(500))
    );
}

/// RFC 9568 section 5.2.4: 0 and 255 are reserved priorities.
#[test]
fn set_priority_rejects_reserved_values() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    assert_eq!(
        r.set_priority(t0, Priority(0)),
        Err(PriorityError::Zero { vrid: vrid() })
    );
    assert_eq!(
        r.set_priority(t0, Priority(255)),
        Err(PriorityError::Reserved { vrid: vrid() })
    );
    let mut o = Router::new(owner(Version::V3), t0).unwrap();
    assert_eq!(
        o.set_priority(t0, Priority(100)),
        Err(PriorityError::OwnerFixed {
            vrid: vrid(),
            requested: Priority(100)
        })
    );
    assert_eq!(r.priority(), Priority(100));
}

// --- Fault ---

/// Fault (not RFC): link down silences a master; leaving Fault is the Startup event of RFC 9568 section 6.4.1.
#[test]
fn link_down_master_enters_fault_silently_and_recovers_as_backup() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    r.handle_link(t0 + ms(5000), false);
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Fault);
    assert!(o.tx.is_empty(), "no priority 0 on a dead link");
    assert_eq!(o.actions, vec![Action::EnterFault]);
    assert_eq!(reason(&o), TransitionReason::LinkDown);
    assert_eq!(r.poll_timeout(), None);
    r.handle_advert(t0 + ms(5100), adv(HIGHER_ADDR, 200, cs(100)));
    assert_eq!(r.counters().dropped(DropReason::InFault), 1);
    r.handle_link(t0 + ms(5100), false);
    assert!(drain(&mut r).events.is_empty());
    let t1 = t0 + ms(8000);
    r.handle_link(t1, true);
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Backup);
    assert_eq!(o.actions, vec![Action::BecomeBackup]);
    assert_eq!(reason(&o), TransitionReason::LinkUp);
    assert_eq!(r.poll_timeout(), Some(t1 + us(3_609_375)));
}

/// RFC 9568 section 6.4.1: leaving Fault, the owner goes Master.
#[test]
fn owner_leaving_fault_becomes_master() {
    let t0 = Instant::now();
    let mut r = Router::new(owner(Version::V3), t0).unwrap();
    assert_eq!(r.state(), State::Master);
    drain(&mut r);
    r.handle_link(t0 + ms(100), false);
    r.handle_link(t0 + ms(200), true);
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Master);
    assert_eq!(tx_priorities(&o), vec![255]);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1200)));
}

/// Fault by tracking (not RFC): a master sends priority 0 first, as on Shutdown (RFC 9568 section 6.4.3).
#[test]
fn tracking_fault_master_sends_priority_zero() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    r.set_fault(t0 + ms(3000), TrackId(7));
    let o = drain(&mut r);
    assert_eq!(tx_priorities(&o), vec![0]);
    assert_eq!(reason(&o), TransitionReason::TrackingFault(TrackId(7)));
    // Link down too; clearing tracking alone does not leave Fault.
    r.handle_link(t0 + ms(3100), false);
    r.clear_fault(t0 + ms(3200));
    assert_eq!(r.state(), State::Fault);
    r.handle_link(t0 + ms(3300), true);
    let o = drain(&mut r);
    assert_eq!(r.state(), State::Backup);
    assert_eq!(reason(&o), TransitionReason::LinkUp);
    assert_eq!(r.counters().transitions(TransitionKind::TrackingFault), 1);
    assert_eq!(r.counters().transitions(TransitionKind::LinkUp), 1);
}

/// RFC 9568 section 6.4.1: leaving Fault, a non-owner goes Backup.
#[test]
fn tracking_fault_cleared_goes_backup() {
    let t0 = Instant::now();
    let mut r = backup_following_master(t0);
    r.set_fault(t0 + ms(2000), TrackId(1));
    let o = drain(&mut r);
    assert!(o.tx.is_empty());
    assert_eq!(o.actions, vec![Action::EnterFault]);
    r.clear_fault(t0 + ms(2500));
    let o = drain(&mut r);
    assert_eq!(reason(&o), TransitionReason::TrackingCleared);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2500) + us(3_609_375)));
}

// --- Unicast, input checks, time ---

/// RFC 9568 section 5.1.1.2 (unicast, keepalived unicast_peer): one advert per peer, adverts only from peers.
#[test]
fn unicast_sends_to_each_peer_and_accepts_only_peers() {
    let t0 = Instant::now();
    let mut c = v3(100);
    c.peers = vec![HIGHER_ADDR, LOWER_ADDR];
    let mut r = master(c.clone(), t0);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    let o = drain(&mut r);
    let dests: Vec<_> = o.tx.iter().map(|t| t.destination).collect();
    assert_eq!(
        dests,
        vec![
            Destination::Unicast(HIGHER_ADDR),
            Destination::Unicast(LOWER_ADDR)
        ]
    );
    assert_eq!(r.counters().adverts_sent, 2, "one advert, two copies");
    let stranger = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77));
    r.handle_advert(t, adv(stranger, 250, cs(100)));
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.counters().dropped(DropReason::NotFromPeer), 1);
    r.handle_advert(t, adv(HIGHER_ADDR, 250, cs(100)));
    assert_eq!(r.state(), State::Backup);
}

/// RFC 9568 section 7.1: every receive check the router makes has its own counted reason.
#[test]
fn every_drop_reason_is_counted() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    let t = t0 + ms(100);
    let mut a = adv(HIGHER_ADDR, 200, cs(100));
    a.vrid = VrId::new(52).unwrap();
    r.handle_advert(t, a);
    let mut a = adv(HIGHER_ADDR, 200, cs(100));
    a.version = Version::V2;
    r.handle_advert(t, a);
    r.handle_advert(t, adv(HIGHER_ADDR, 200, AdvertInterval::V2(Seconds(1))));
    r.handle_advert(t, adv("fe80::1".parse().unwrap(), 200, cs(100)));
    r.handle_advert(t, adv(ME, 200, cs(100)));
    r.handle_advert(t, adv(HIGHER_ADDR, 200, cs(0)));
    let c = r.counters();
    assert_eq!(c.dropped(DropReason::VridMismatch), 1);
    assert_eq!(c.dropped(DropReason::BadVersion), 2);
    assert_eq!(c.dropped(DropReason::FamilyMismatch), 1);
    assert_eq!(c.dropped(DropReason::OwnAdvert), 1);
    assert_eq!(c.dropped(DropReason::ZeroInterval), 1);
    assert_eq!(c.dropped_total(), 6);
    assert_eq!(c.adverts_received, 6);
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + us(3_609_375)),
        "nothing acted on"
    );
    for reason in DropReason::ALL {
        assert!(!reason.as_str().is_empty());
    }
}

/// Sans-io rule: `now` never goes backwards for the router.
#[test]
fn time_going_backwards_is_clamped() {
    let t0 = Instant::now();
    let mut r = Router::new(v3(100), t0).unwrap();
    drain(&mut r);
    r.handle_advert(t0 + ms(2000), adv(HIGHER_ADDR, 200, cs(100)));
    r.handle_advert(t0 + ms(1000), adv(HIGHER_ADDR, 200, cs(100)));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000) + us(3_609_375)));
}

/// RFC 9568 section 6.4: every transition is counted by its reason.
#[test]
fn transitions_are_counted_per_kind() {
    let t0 = Instant::now();
    let mut r = master(v3(100), t0);
    r.handle_advert(t0 + ms(4000), adv(HIGHER_ADDR, 200, cs(100)));
    r.handle_advert(t0 + ms(4500), adv(HIGHER_ADDR, 0, cs(100)));
    r.handle_timeout(r.poll_timeout().unwrap());
    let c = r.counters();
    assert_eq!(c.transitions(TransitionKind::Startup), 1);
    assert_eq!(c.transitions(TransitionKind::MasterDown), 1);
    assert_eq!(c.transitions(TransitionKind::HigherPriority), 1);
    assert_eq!(c.transitions(TransitionKind::PriorityZero), 1);
    assert_eq!(c.transitions_total(), 4);
}

// --- Config validation ---

/// RFC 9568 section 6.1: configuration ranges (priority, interval, VRID) are checked with a named error.
#[test]
fn config_validation_names_what_is_wrong() {
    let v = vrid();
    let mut c = v3(100);
    c.priority = Priority(0);
    assert_eq!(c.validate(), Err(ConfigError::PriorityZero { vrid: v }));
    c.priority = Priority(255);
    assert_eq!(
        c.validate(),
        Err(ConfigError::Priority255NotOwner { vrid: v })
    );
    let mut c = owner(Version::V3);
    c.priority = Priority(200);
    assert_eq!(
        c.validate(),
        Err(ConfigError::OwnerPriority {
            vrid: v,
            priority: Priority(200)
        })
    );
    let c = Config::new(Version::V2, v, "fe80::1".parse().unwrap());
    assert!(matches!(
        c.validate(),
        Err(ConfigError::V2RequiresIpv4 { .. })
    ));
    let mut c = v3(100);
    c.advert_interval = AdvertInterval::V2(Seconds(1));
    assert!(matches!(
        c.validate(),
        Err(ConfigError::IntervalVersion { .. })
    ));
    c.advert_interval = cs(0);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::IntervalOutOfRange { .. })
    ));
    let c = v2(100, 0);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::IntervalOutOfRange { .. })
    ));
    let mut c = v3(100);
    c.preempt_delay = Duration::from_secs(1000);
    assert!(c.validate().is_ok());
    c.preempt_delay = Duration::from_secs(1001);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::PreemptDelayOutOfRange { .. })
    ));
    let c = Config::new(Version::V3, v, GROUP4);
    assert!(matches!(
        c.validate(),
        Err(ConfigError::InvalidPrimaryAddress { .. })
    ));
    let mut c = v3(100);
    c.peers = vec!["fe80::1".parse().unwrap()];
    assert!(matches!(c.validate(), Err(ConfigError::PeerFamily { .. })));
    c.peers = vec![ME];
    assert!(matches!(c.validate(), Err(ConfigError::PeerIsSelf { .. })));
    c.peers = vec![HIGHER_ADDR, HIGHER_ADDR];
    assert!(matches!(
        c.validate(),
        Err(ConfigError::DuplicatePeer { .. })
    ));
    c.peers = vec![GROUP4];
    assert!(matches!(c.validate(), Err(ConfigError::InvalidPeer { .. })));
    let err = Router::new(c, Instant::now()).unwrap_err();
    assert!(err.to_string().contains("VRID 51"), "{err}");
    assert!(v3(254).validate().is_ok());
    assert!(owner(Version::V2).validate().is_ok());
}
