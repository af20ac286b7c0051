//! Host suite: every graceful stop of a director completes within its `shutdown_grace`, across
//! 50 stops with failovers and failbacks in between, with resource steps, notify scripts,
//! a track script and a sync group making each stop do real work (priority 0, VIPs removed,
//! steps stopped in reverse, `STOP` scripts).
#![cfg(feature = "tokio")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock (clippy.toml)"
)]

mod node_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_failover::core::{
    DirectorBuilder, InstanceConfig, NotifyScripts, Step, StepKind, SyncGroupConfig, TrackRef,
    TrackerConfig, TrackerKind, VipSpec,
};
use ha_failover::runtime::director::DirectorConfig;
use ha_failover::vrrp::router::{Config as RouterConfig, State};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Version, VrId};
use ha_testsupport::{Host, Lab, require_root, wait_until};
use node_support::Node;

/// The stop grace of every node (the default of `DirectorConfig`).
const GRACE: Duration = Duration::from_secs(2);
/// What the test allows beyond the grace: joining the node's thread and the vmac-free
/// cleanup after the deadline.
const SLACK: Duration = Duration::from_millis(300);

fn config(h: &Host, priority: u8, dir: &std::path::Path) -> DirectorConfig {
    let primary: IpAddr = h
        .addresses()
        .into_iter()
        .find(|a| !a.contains(':'))
        .and_then(|a| a.split('/').next()?.parse().ok())
        .expect("an IPv4 address");
    let mut b = DirectorBuilder::new();
    let track = b.add_tracker(TrackerConfig::new(
        "ok",
        TrackerKind::Script {
            argv: vec!["true".into()],
        },
    ));
    let log = dir.join(format!("{}.log", h.name()));
    let log = log.to_str().unwrap().to_owned();
    let sh = |what: &str| -> Vec<String> {
        vec!["sh".into(), "-c".into(), format!("echo {what} >> {log}")]
    };
    let mut ids = Vec::new();
    for (k, vrid) in [51u8, 52].into_iter().enumerate() {
        let mut r = RouterConfig::new(Version::V3, VrId::new(vrid).unwrap(), primary);
        r.priority = Priority(priority);
        r.advert_interval = AdvertInterval::V3(Centiseconds::new(10).unwrap());
        let mut c = InstanceConfig::new(format!("VI_{vrid}"), "eth0", r);
        c.vips
            .push(VipSpec::parse(&format!("10.61.0.{}/24", 100 + k)).unwrap());
        c.track.push(TrackRef::new(track, 0));
        c.notify = NotifyScripts {
            stop: Some(sh("stop")),
            master: Some(sh("master")),
            ..NotifyScripts::default()
        };
        // Two steps: stopped in reverse on every stop, each taking a little time.
        for s in 0..2 {
            c.steps.push(Step {
                name: format!("s{s}"),
                kind: StepKind::Command {
                    start: sh(&format!("start-{vrid}-{s}")),
                    stop: vec![
                        "sh".into(),
                        "-c".into(),
                        format!("sleep 0.1; echo stop-{vrid}-{s} >> {log}"),
                    ],
                },
                timeout: None,
            });
        }
        ids.push(b.add_instance(c).unwrap());
    }
    b.add_sync_group(SyncGroupConfig {
        name: "G".into(),
        members: ids,
        notify: NotifyScripts {
            stop: Some(sh("group-stop")),
            ..NotifyScripts::default()
        },
    })
    .unwrap();
    let mut cfg = DirectorConfig::new(b);
    cfg.track_interval = Duration::from_millis(200);
    cfg.command_timeout = Duration::from_secs(5);
    assert_eq!(cfg.shutdown_grace, GRACE, "the default grace");
    cfg
}

/// Stops `n` and returns how long it took.
fn timed_stop(n: Node) -> Duration {
    let t = Instant::now();
    n.stop();
    t.elapsed()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_fifty_stops_each_within_the_grace() {
    require_root();
    let mut lab = Lab::new("stop50");
    let a = lab.add_host("a", &["10.61.0.1/24"]);
    let b = lab.add_host("b", &["10.61.0.2/24"]);
    let dir = std::env::temp_dir().join(format!("ha-stop50-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut stops: Vec<(usize, &str, Duration)> = Vec::new();
    let within = Duration::from_secs(5);
    let mut backup = Node::start(&b, config(&b, 100, &dir));
    for round in 0..25 {
        // Failback: the higher priority starts and preempts.
        let mut master = Node::start(&a, config(&a, 200, &dir));
        assert!(
            wait_until(within, || master.states() == [State::Master, State::Master]
                && a.holds("10.61.0.100")
                && !b.holds("10.61.0.100")),
            "round {round}: a did not take over: {:?} / {:?}",
            master.states(),
            backup.states()
        );
        master.check_running();
        // Its steps have all started (they run after the VIPs: on a loaded machine a stop
        // could otherwise come before the last start, and nothing would be left to stop).
        let started = |step: &str| {
            std::fs::read_to_string(dir.join("a.log"))
                .unwrap_or_default()
                .matches(&format!("start-{step}"))
                .count()
        };
        assert!(
            wait_until(within, || ["51-0", "51-1", "52-0", "52-1"]
                .iter()
                .all(|s| started(s) > round)),
            "round {round}: a's steps did not all start"
        );
        // Failover: the master stops gracefully (priority 0, VIPs removed, steps stopped).
        let took = timed_stop(master);
        stops.push((round, "a (master)", took));
        assert!(
            !a.holds("10.61.0.100") && !a.holds("10.61.0.101"),
            "a kept a VIP"
        );
        assert!(
            wait_until(within, || backup.states() == [State::Master, State::Master]
                && b.holds("10.61.0.100")),
            "round {round}: b did not take over: {:?}",
            backup.states()
        );
        // The other one stops too (as master), and starts again as the backup.
        backup.check_running();
        let took = timed_stop(backup);
        stops.push((round, "b (master)", took));
        assert!(!b.holds("10.61.0.100"), "b kept a VIP");
        backup = Node::start(&b, config(&b, 100, &dir));
    }
    let took = timed_stop(backup);
    stops.push((25, "b (backup)", took));
    let max = stops.iter().map(|s| s.2).max().unwrap();
    let over: Vec<_> = stops.iter().filter(|s| s.2 > GRACE + SLACK).collect();
    println!(
        "{} stops, slowest {:.0} ms (grace {} ms)",
        stops.len(),
        max.as_secs_f64() * 1e3,
        GRACE.as_millis()
    );
    assert!(stops.len() >= 50);
    assert!(over.is_empty(), "stops over the grace: {over:?}");
    // Every stop did its work: each master's steps were stopped and STOP notified.
    let log = std::fs::read_to_string(dir.join("a.log")).unwrap_or_default();
    assert_eq!(log.matches("stop-51-0").count(), 25, "{log}");
    assert_eq!(log.matches("stop-52-1").count(), 25, "{log}");
    assert!(log.matches("group-stop").count() >= 25, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
