//! Arbitrary input sequences fed to one router: it never panics, and its outputs stay
//! consistent with its state (timers, events, actions, transmits, counters).
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{
    Action, Config, Event, LowerPriorityPolicy, Router, RxAdvert, State, TrackId,
};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Input {
    Advert {
        src_last_octet: u8,
        v6: bool,
        v2: bool,
        vrid: u8,
        priority: u8,
        interval: u16,
    },
    Link(bool),
    Fault,
    ClearFault,
    SetPriority(u8),
    Shutdown,
    Timeout,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (any::<u8>(), prop::bool::weighted(0.1), prop::bool::weighted(0.2),
              prop::sample::select(vec![1u8, 1, 1, 2]), any::<u8>(), 0u16..=300)
            .prop_map(|(src_last_octet, v6, v2, vrid, priority, interval)| Input::Advert {
                src_last_octet, v6, v2, vrid, priority, interval,
            }),
        1 => any::<bool>().prop_map(Input::Link),
        1 => Just(Input::Fault),
        1 => Just(Input::ClearFault),
        2 => any::<u8>().prop_map(Input::SetPriority),
        1 => Just(Input::Shutdown),
        3 => Just(Input::Timeout),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        1u8..=255,
        any::<bool>(),
        1u16..=300,
        any::<bool>(),
        any::<bool>(),
        0u64..3_000,
        0u8..3,
    )
        .prop_map(
            |(v3, priority, preempt, interval, discard, unicast, delay_ms, startup_ms)| {
                let me = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
                let version = if v3 { Version::V3 } else { Version::V2 };
                let mut c = Config::new(version, VrId::new(1).unwrap(), me);
                c.priority = Priority(priority);
                c.address_owner = priority == 255;
                c.preempt = preempt;
                c.advert_interval = if v3 {
                    AdvertInterval::V3(Centiseconds::new(interval).unwrap())
                } else {
                    AdvertInterval::V2(Seconds((interval % 3 + 1) as u8))
                };
                if discard {
                    c.lower_priority = LowerPriorityPolicy::Discard;
                }
                if unicast {
                    c.peers = (1..=4)
                        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
                        .collect();
                }
                c.preempt_delay = Duration::from_millis(delay_ms);
                c.startup_delay = Duration::from_millis(u64::from(startup_ms) * 500);
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn router_outputs_stay_consistent(
        cfg in config(),
        inputs in prop::collection::vec((0u64..2_000, input()), 0..60),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut r = Router::new(cfg.clone(), t0).unwrap();
        let mut state = State::Initialize;
        let mut holds_vips = false;
        let mut events = 0u64;
        let mut received = 0u64;

        let mut check = |r: &mut Router, now: Instant| -> Result<(), TestCaseError> {
            while let Some(t) = r.poll_transmit() {
                prop_assert_eq!(t.version, cfg.version);
                prop_assert_eq!(t.vrid, cfg.vrid);
                prop_assert_eq!(t.interval, cfg.advert_interval);
                prop_assert!(t.priority == r.priority() || t.priority == Priority::STOP);
            }
            while let Some(Event::Transition { from, to, .. }) = r.poll_event() {
                prop_assert_eq!(from, state, "events chain");
                prop_assert_ne!(from, to);
                state = to;
                events += 1;
            }
            while let Some(a) = r.poll_action() {
                holds_vips = matches!(a, Action::BecomeMaster { .. });
            }
            prop_assert_eq!(state, r.state());
            prop_assert_eq!(holds_vips, r.state() == State::Master);
            prop_assert_eq!(r.counters().transitions_total(), events);
            match r.poll_timeout() {
                Some(t) => {
                    prop_assert!(t > now, "timer {:?} not after now", t - t0);
                    prop_assert!(r.state() != State::Fault && !r.is_stopped());
                }
                None => prop_assert!(r.state() == State::Fault || r.is_stopped()),
            }
            Ok(())
        };
        check(&mut r, now)?;

        for (dt, inp) in inputs {
            now += Duration::from_millis(dt);
            while let Some(t) = r.poll_timeout().filter(|&t| t <= now) {
                r.handle_timeout(t);
                check(&mut r, t)?;
            }
            match inp {
                Input::Advert { src_last_octet, v6, v2, vrid, priority, interval } => {
                    received += 1;
                    let src = if v6 {
                        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(src_last_octet)))
                    } else {
                        IpAddr::V4(Ipv4Addr::new(10, 0, 0, src_last_octet))
                    };
                    let (version, interval) = if v2 {
                        (Version::V2, AdvertInterval::V2(Seconds((interval % 4) as u8)))
                    } else {
                        (Version::V3, AdvertInterval::V3(Centiseconds::new(interval).unwrap()))
                    };
                    let adv = RxAdvert {
                        src,
                        version,
                        vrid: VrId::new(vrid).unwrap(),
                        priority: Priority(priority),
                        interval,
                    };
                    r.handle_advert(now, adv);
                }
                Input::Link(up) => r.handle_link(now, up),
                Input::Fault => r.set_fault(now, TrackId(9)),
                Input::ClearFault => r.clear_fault(now),
                Input::SetPriority(p) => {
                    let ok = r.set_priority(now, Priority(p)).is_ok();
                    let allowed = if cfg.address_owner { p == 255 } else { (1..=254).contains(&p) };
                    prop_assert_eq!(ok, allowed);
                }
                Input::Shutdown => r.shutdown(now),
                // An early timeout is a no-op.
                Input::Timeout => {
                    let before = r.poll_timeout();
                    r.handle_timeout(now);
                    prop_assert_eq!(before, r.poll_timeout());
                }
            }
            check(&mut r, now)?;
            prop_assert_eq!(r.counters().adverts_received, received);
        }
    }
}
