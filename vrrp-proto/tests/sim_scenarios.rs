//! Hand-written simulator scenarios with exact expected instants (1 ms link latency, no
//! jitter). Expected values are hand-computed from the RFC formulas.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{Config, State, TrackId, TransitionReason};
use ha_vrrp_proto::sim::{LinkConfig, LinkId, NodeId, Sim, TraceKind};
use ha_vrrp_proto::{AdvertInterval, Priority, Seconds, Version, VrId};

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8))
}

fn us(v: u64) -> Duration {
    Duration::from_micros(v)
}

fn cluster(
    version: Version,
    priorities: &[u8],
    tweak: impl Fn(&mut Config),
) -> (Sim, LinkId, Vec<NodeId>) {
    let mut sim = Sim::new(Instant::now(), 1);
    let link = sim.add_link(LinkConfig::default());
    let nodes = priorities
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let mut c = Config::new(version, VrId::new(7).unwrap(), addr(i));
            c.priority = Priority(p);
            if p == 255 {
                c.address_owner = true;
            }
            tweak(&mut c);
            sim.add_node(link, c).unwrap()
        })
        .collect();
    (sim, link, nodes)
}

/// The (time, node) of every entry into Master at or after `since`.
fn master_entries(sim: &Sim, since: Duration) -> Vec<(Duration, NodeId)> {
    sim.transitions_since(since)
        .filter(|t| t.3 == State::Master)
        .map(|t| (t.0, t.1))
        .collect()
}

#[test]
fn v3_highest_priority_wins_the_first_election_at_its_master_down_interval() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200, 150], |_| {});
    sim.run_for(Duration::from_secs(30));
    // MDI(200) = 3 s + 56/256 s = 3.21875 s; the others hear it 1 ms later, before their
    // own timers (3.609375 s and 3.4140625 s).
    assert_eq!(
        master_entries(&sim, Duration::ZERO),
        vec![(us(3_218_750), n[1])],
        "{}",
        sim.trace_string()
    );
    assert_eq!(sim.masters(), vec![n[1]]);
    assert!(sim.holds_vips(n[1]) && !sim.holds_vips(n[0]) && !sim.holds_vips(n[2]));
}

#[test]
fn v2_first_election_in_seconds() {
    let (mut sim, _, n) = cluster(Version::V2, &[100, 250], |c| {
        c.advert_interval = AdvertInterval::V2(Seconds(2));
    });
    sim.run_for(Duration::from_secs(30));
    // 3 * 2 s + 6/256 s = 6.0234375 s
    assert_eq!(
        master_entries(&sim, Duration::ZERO),
        vec![(us(6_023_437) + Duration::from_nanos(500), n[1])]
    );
}

#[test]
fn crash_takeover_after_master_down_interval() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    // n1 master at 3.21875 s, adverts at 3.21875 + k s; the last before the crash is sent at
    // 10.21875 s and heard at 10.21975 s.
    sim.crash(n[1]);
    sim.run_for(Duration::from_secs(10));
    // 10.21975 + 3.609375 = 13.829125 s
    let entries = master_entries(&sim, Duration::from_millis(10_500));
    assert_eq!(
        entries,
        vec![(us(13_829_125), n[0])],
        "{}",
        sim.trace_string()
    );
    let reason = sim
        .transitions_since(Duration::from_millis(10_500))
        .map(|t| t.4)
        .next();
    assert_eq!(
        reason,
        Some(TransitionReason::MasterDown {
            last_master: Some(addr(1))
        })
    );
}

#[test]
fn priority_zero_handoff_after_skew_time() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.shutdown(n[1]);
    sim.run_for(Duration::from_secs(10));
    // heard at 10.501 s, + Skew_Time(100) 0.609375 s = 11.110375 s
    assert_eq!(
        master_entries(&sim, Duration::from_millis(10_500)),
        vec![(us(11_110_375), n[0])]
    );
    assert_eq!(sim.state(n[1]), Some(State::Initialize));
    assert!(!sim.holds_vips(n[1]));
}

#[test]
fn tracking_fault_hands_over_like_priority_zero() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.set_fault(n[1], TrackId(3));
    sim.run_until(base + Duration::from_millis(20_000));
    assert_eq!(
        master_entries(&sim, Duration::from_millis(10_500)),
        vec![(us(11_110_375), n[0])]
    );
    assert_eq!(sim.state(n[1]), Some(State::Fault));
    // Clearing the fault: n1 comes back as backup and preempts after its MDI (3.21875 s).
    sim.clear_fault(n[1]);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        master_entries(&sim, Duration::from_millis(20_000)),
        vec![(us(23_218_750), n[1])],
        "{}",
        sim.trace_string()
    );
    assert_eq!(sim.masters(), vec![n[1]]);
}

#[test]
fn carrier_loss_takes_master_down_interval() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.set_carrier(n[1], false);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        master_entries(&sim, Duration::from_millis(10_500)),
        vec![(us(13_829_125), n[0])]
    );
    assert_eq!(sim.state(n[1]), Some(State::Fault));
}

#[test]
fn preempting_router_restarts_and_takes_over() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.crash(n[1]);
    sim.run_until(base + Duration::from_millis(20_000));
    assert_eq!(sim.masters(), vec![n[0]]);
    sim.restart(n[1]);
    sim.run_for(Duration::from_secs(10));
    // n1 discards n0's adverts and its Master_Down_Timer (3.21875 s) fires.
    assert_eq!(
        master_entries(&sim, Duration::from_millis(20_000)),
        vec![(us(23_218_750), n[1])]
    );
    let t: Vec<_> = sim
        .transitions_since(Duration::from_millis(23_218))
        .collect();
    assert!(
        t.iter().any(|e| e.1 == n[1]
            && e.4
                == TransitionReason::Preempt {
                    master: addr(0),
                    priority: Priority(100)
                }),
        "{t:?}"
    );
    // n0 hears n1 1 ms later and steps down.
    assert!(t.iter().any(|e| e.0 == us(23_219_750)
        && e.1 == n[0]
        && e.3 == State::Backup
        && e.4
            == TransitionReason::HigherPriority {
                from: addr(1),
                priority: Priority(200)
            }));
    assert_eq!(sim.masters(), vec![n[1]]);
}

#[test]
fn nopreempt_router_restarts_and_stays_backup() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |c| c.preempt = false);
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.crash(n[1]);
    sim.run_until(base + Duration::from_millis(20_000));
    sim.restart(n[1]);
    sim.run_for(Duration::from_secs(60));
    assert!(master_entries(&sim, Duration::from_millis(20_000)).is_empty());
    assert_eq!(sim.masters(), vec![n[0]]);
    assert_eq!(sim.state(n[1]), Some(State::Backup));
}

#[test]
fn preempt_delay_defers_takeover() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |c| {
        c.preempt_delay = Duration::from_secs(10);
    });
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.crash(n[1]);
    sim.run_until(base + Duration::from_millis(20_000));
    sim.restart(n[1]);
    sim.run_for(Duration::from_secs(20));
    // n0 became master at 13.829125 s and advertises at 13.829125 + k s. n1 restarts at
    // 20 s and accepts those adverts until 30 s; the last accepted one is sent at 29.829125 s
    // and heard at 29.830125 s; the next (30.830125 s) is discarded, so n1 takes over at
    // 29.830125 + 3.21875 = 33.048875 s.
    assert_eq!(
        master_entries(&sim, Duration::from_millis(20_000)),
        vec![(us(33_048_875), n[1])],
        "{}",
        sim.trace_string()
    );
}

#[test]
fn priority_drop_lets_the_backup_preempt() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.set_priority(n[1], Priority(50)).unwrap();
    sim.run_for(Duration::from_secs(10));
    // n0 last accepted the advert heard at 10.21975 s; the priority-50 advert sent at 10.5 s is
    // discarded; n0 takes over at 10.21975 + 3.609375 = 13.829125 s, and n1 steps down 1 ms later.
    assert_eq!(
        master_entries(&sim, Duration::from_millis(10_500)),
        vec![(us(13_829_125), n[0])]
    );
    assert_eq!(sim.masters(), vec![n[0]]);
}

#[test]
fn priority_rise_preempts_at_once() {
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_millis(10_500));
    sim.set_priority(n[0], Priority(254)).unwrap();
    sim.run_for(Duration::from_millis(2));
    assert_eq!(sim.masters(), vec![n[0]]);
    assert_eq!(
        master_entries(&sim, Duration::from_millis(10_500)),
        vec![(Duration::from_millis(10_500), n[0])]
    );
}

#[test]
fn partition_gives_a_master_per_side_and_heals_to_one() {
    let (mut sim, link, n) = cluster(Version::V3, &[100, 200, 150, 120], |_| {});
    let base = sim.base();
    sim.run_until(base + Duration::from_secs(10));
    assert_eq!(sim.masters(), vec![n[1]]);
    sim.partition(link, &[&[n[0], n[1]]]);
    sim.run_until(base + Duration::from_secs(20));
    assert_eq!(sim.masters(), vec![n[1], n[2]]);
    sim.heal(link);
    sim.run_until(base + Duration::from_secs(22));
    assert_eq!(sim.masters(), vec![n[1]], "{}", sim.trace_string());
}

#[test]
fn equal_priority_masters_resolve_by_address() {
    let (mut sim, link, n) = cluster(Version::V3, &[100, 100], |_| {});
    sim.partition(link, &[&[n[0]]]);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.masters(), vec![n[0], n[1]]);
    sim.heal(link);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.masters(), vec![n[1]], "10.0.0.2 > 10.0.0.1");
    assert!(
        sim.transitions_since(Duration::from_secs(10))
            .any(|t| t.1 == n[0] && t.4 == TransitionReason::AddressTieBreak { from: addr(1) })
    );
}

#[test]
fn owner_starts_as_master_at_once() {
    let (mut sim, _, n) = cluster(Version::V2, &[200, 255], |_| {});
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        master_entries(&sim, Duration::ZERO),
        vec![(Duration::ZERO, n[1])]
    );
}

#[test]
fn unicast_peers_elect_one_master_and_ignore_strangers() {
    let peers: Vec<IpAddr> = (0..3).map(addr).collect();
    let (mut sim, _, n) = cluster(Version::V3, &[100, 200, 150], |c| {
        c.peers = peers
            .iter()
            .copied()
            .filter(|&p| p != c.primary_address)
            .collect();
    });
    let mut stranger = Config::new(Version::V3, VrId::new(7).unwrap(), addr(9));
    stranger.priority = Priority(254);
    stranger.peers = peers.clone();
    let link = LinkId(0);
    let s = sim.add_node(link, stranger).unwrap();
    sim.run_for(Duration::from_secs(20));
    // The stranger is not a configured peer of anyone: it is master alone, and the others
    // elect among themselves.
    assert_eq!(sim.masters(), vec![n[1], s]);
    let dropped = sim
        .router(n[0])
        .unwrap()
        .counters()
        .dropped(ha_vrrp_proto::router::DropReason::NotFromPeer);
    assert!(dropped > 10, "{dropped}");
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    fn run(seed: u64) -> String {
        let mut sim = Sim::new(Instant::now(), seed);
        sim.set_trace_packets(true);
        let link = sim.add_link(LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(20),
            loss: 0.3,
            duplicate: 0.1,
        });
        for (i, p) in [100u8, 200, 150].into_iter().enumerate() {
            let mut c = Config::new(Version::V3, VrId::new(1).unwrap(), addr(i));
            c.priority = Priority(p);
            sim.add_node(link, c).unwrap();
        }
        sim.run_for(Duration::from_secs(60));
        // Durations relative to the base: identical across runs with the same seed.
        sim.trace_string()
    }
    let a = run(5);
    assert_eq!(a, run(5));
    assert_ne!(a, run(6));
    assert!(a.contains("Lost"), "loss is exercised");
}

#[test]
fn trace_records_scripted_operations() {
    let (mut sim, link, n) = cluster(Version::V3, &[100, 200], |_| {});
    sim.crash(n[0]);
    sim.restart(n[0]);
    sim.partition(link, &[&[n[0]]]);
    sim.heal(link);
    let kinds: Vec<_> = sim.trace().iter().map(|e| e.kind.clone()).collect();
    assert!(kinds.contains(&TraceKind::Crash));
    assert!(kinds.contains(&TraceKind::Restart));
    assert!(kinds.contains(&TraceKind::Partition(1)));
    assert!(kinds.contains(&TraceKind::Heal));
}
