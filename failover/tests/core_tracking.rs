//! Tracking rules added for keepalived's configuration: `dont_track_primary` and process
//! trackers (quorum with `fork_delay` / `terminate_delay`, weights and `reverse`), driven
//! through the sans-io director under a virtual clock.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock for its starting point (clippy.toml)"
)]

mod core_support;

use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{
    DirectorBuilder, InstanceConfig, ProcessSpec, TrackRef, TrackResult, TrackerConfig,
    TrackerKind, VipSpec,
};
use ha_failover::vrrp::router::State;

fn instance(name: &str, vr: u8, dont_track_primary: bool) -> InstanceConfig {
    let mut cfg = InstanceConfig::new(name, "eth0", router(vr, 100, v4(2)));
    cfg.vips
        .push(VipSpec::parse(&format!("10.0.0.{vr}/24")).unwrap());
    cfg.dont_track_primary = dont_track_primary;
    cfg
}

#[test]
fn dont_track_primary_ignores_the_own_link() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let keep = b.add_instance(instance("KEEP", 1, true)).unwrap();
    let plain = b.add_instance(instance("PLAIN", 2, false)).unwrap();
    let mut d = b.build(t0).unwrap();
    d.handle_timeout(t0 + master_down(100));
    let _ = drain(&mut d);
    assert_eq!(d.state(keep), Some(State::Master));
    assert_eq!(d.state(plain), Some(State::Master));
    let t1 = t0 + Duration::from_secs(5);
    d.handle_link(t1, "eth0", false);
    let _ = drain(&mut d);
    assert_eq!(d.state(plain), Some(State::Fault));
    assert_eq!(d.state(keep), Some(State::Master), "dont_track_primary");
    assert!(d.holds_vips(keep));
    d.handle_link(t1, "eth0", true);
    let _ = drain(&mut d);
    assert_ne!(d.state(plain), Some(State::Fault));
}

#[test]
fn process_quorum_moves_priority_and_faults_with_delays() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let mut spec = ProcessSpec::new("nginx");
    spec.quorum = 2;
    spec.fork_delay = Duration::from_secs(2);
    let weighted = b.add_tracker(TrackerConfig::new("nginx", TrackerKind::Process(spec)));
    let guard = b.add_tracker(TrackerConfig::new(
        "guard",
        TrackerKind::Process(ProcessSpec::new("guard")),
    ));
    let mut cfg = instance("VI", 1, false);
    // nginx: -30 while it has quorum (reverse); guard: weight 0, a fault while none runs.
    cfg.track = vec![
        TrackRef::new(weighted, 30).reversed(),
        TrackRef::new(guard, 0),
    ];
    let id = b.add_instance(cfg).unwrap();
    let mut d = b.build(t0).unwrap();
    // A process tracker starts up (as keepalived's before its first scan): 100 - 30.
    assert_eq!(d.priority(id).map(|p| p.0), Some(70));
    d.handle_timeout(t0 + master_down(70));
    let _ = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Master));
    let at = |s: u64| t0 + Duration::from_secs(10 + s);

    // First counts apply at once: nginx has no quorum (1 < 2), guard is there.
    d.handle_track_result(at(0), weighted, TrackResult::Processes(1))
        .unwrap();
    d.handle_track_result(at(0), guard, TrackResult::Processes(1))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id).map(|p| p.0), Some(100));
    // Quorum reached: counts only after fork_delay; then reverse lowers the priority by 30.
    d.handle_track_result(at(1), weighted, TrackResult::Processes(2))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id).map(|p| p.0), Some(100));
    d.handle_track_result(at(3), weighted, TrackResult::Processes(3))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id).map(|p| p.0), Some(70));
    // The guard process gone: weight 0 faults the instance; back: it recovers.
    d.handle_track_result(at(4), guard, TrackResult::Processes(0))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Fault));
    d.handle_track_result(at(5), guard, TrackResult::Processes(1))
        .unwrap();
    let _ = drain(&mut d);
    assert_ne!(d.state(id), Some(State::Fault));
    // A count is not an exit status.
    assert!(
        d.handle_track_result(at(6), guard, TrackResult::Exit(0))
            .is_err()
    );
}
