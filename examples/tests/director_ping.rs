//! Ping trackers (`track_pings`, heartbeat `ping` / `ping_group`) and the hardware watchdog
//! (`global.watchdog`) in the configuration model: TOML in and out, validation naming the
//! item, and the translation to the runtime's trackers and watchdog settings.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ha_examples::director::build::{self, Accounts};
use ha_examples::director::model::{TrackPing, TrackScriptRef, Watchdog};
use ha_examples::director::{self, Config, toml_format};
use ha_failover::core::{InstanceId, TrackerId, TrackerKind};

const BASE: &str = r#"
[global.watchdog]
device = "/dev/watchdog"
interval_ms = 500
timeout_s = 10

[[track_pings]]
name = "gw"
addresses = ["10.0.0.254"]
weight = 2

[[track_pings]]
name = "group"
addresses = ["10.0.0.253", "2001:db8::1"]
interval_ms = 200
dead_ms = 1000
weight = 2

[[instances]]
name = "A"
interface = "eth0"
vrid = 1
vips = ["10.0.0.100/24"]
track_pings = [{ name = "gw" }, { name = "group", weight = -5, reverse = true }]

[[instances]]
name = "B"
interface = "eth0"
vrid = 2
vips = ["10.0.0.101/24"]
track_pings = [{ name = "gw" }]
"#;

fn load(text: &str) -> Result<Config, String> {
    director::load_toml_str(text, Path::new("p.toml"))
        .map(|l| l.config)
        .map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
}

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
        group: "root:x:0:\n".into(),
    }
}

#[test]
fn toml_reads_and_writes_pings_and_the_watchdog() {
    let cfg = load(BASE).unwrap();
    assert_eq!(cfg.track_pings.len(), 2);
    let gw = &cfg.track_pings[0];
    assert_eq!((gw.interval_ms, gw.dead_ms, gw.dead_ms()), (1000, 0, 3000));
    assert_eq!(cfg.track_pings[1].dead_ms(), 1000);
    assert_eq!(
        cfg.global.watchdog,
        Some(Watchdog {
            device: "/dev/watchdog".into(),
            interval_ms: 500,
            timeout_s: Some(10),
        })
    );
    assert_eq!(cfg.instances[0].track_pings[1].weight, Some(-5));
    let text = toml_format::to_toml(&cfg).unwrap();
    assert_eq!(load(&text).unwrap(), cfg, "{text}");
    // What the heartbeat reader makes.
    let p = TrackPing::new("ping 10.0.0.1", vec![IpAddr::from([10, 0, 0, 1])], 2);
    assert_eq!((p.interval_ms, p.dead_ms()), (1000, 3000));
}

#[test]
fn build_makes_one_ping_tracker_per_name_with_its_weights() {
    let cfg = load(BASE).unwrap();
    let mut resolve = |_: &str, _: bool| Ok::<IpAddr, String>(IpAddr::from([10, 0, 0, 1]));
    let built = build::build(&cfg, &mut resolve, &accounts()).unwrap();
    let wd = built.config.watchdog.clone().unwrap();
    assert_eq!(wd.device, Path::new("/dev/watchdog"));
    assert_eq!(wd.interval, Duration::from_millis(500));
    assert_eq!(wd.timeout_s, Some(10));
    let d = built.config.director.clone().build(Instant::now()).unwrap();
    assert_eq!(d.tracker_count(), 2, "each ping tracker once");
    let gw = d.tracker_config(TrackerId(0)).unwrap();
    assert_eq!(gw.name, "ping gw");
    assert_eq!(
        gw.kind,
        TrackerKind::Ping {
            addresses: vec![IpAddr::from([10, 0, 0, 254])],
            interval: Duration::from_secs(1),
            dead: Duration::from_secs(3),
        }
    );
    let TrackerKind::Ping {
        addresses,
        interval,
        dead,
    } = &d.tracker_config(TrackerId(1)).unwrap().kind
    else {
        panic!("not a ping tracker");
    };
    assert_eq!(addresses.len(), 2);
    assert_eq!(
        (*interval, *dead),
        (Duration::from_millis(200), Duration::from_secs(1))
    );
    let a = d.instance_config(InstanceId(0)).unwrap();
    let refs: Vec<(u32, i32, bool)> = a
        .track
        .iter()
        .filter(|t| t.tracker.0 < 2)
        .map(|t| (t.tracker.0, t.weight, t.reverse))
        .collect();
    assert_eq!(refs, [(0, 2, false), (1, -5, true)]);
    let b = d.instance_config(InstanceId(1)).unwrap();
    assert!(b.track.iter().any(|t| t.tracker.0 == 0 && t.weight == 2));
}

#[test]
fn validation_names_the_ping_tracker_and_the_watchdog() {
    let mut cfg = load(BASE).unwrap();
    cfg.track_pings[0].addresses.clear();
    cfg.track_pings[1].dead_ms = 100;
    cfg.track_pings[1].weight = 300;
    cfg.track_pings
        .push(TrackPing::new("mc", vec!["224.0.0.1".parse().unwrap()], 2));
    cfg.instances[1]
        .track_pings
        .push(TrackScriptRef::new("nope"));
    cfg.global.watchdog.as_mut().unwrap().timeout_s = Some(0);
    let text = toml_format::to_toml(&cfg).unwrap();
    let e = load(&text).unwrap_err();
    for want in [
        "track ping \"gw\": no addresses to ping",
        "track ping \"group\": dead_ms 100 must be at least interval_ms 200",
        "weight 300",
        "224.0.0.1 cannot be pinged",
        "instance \"B\"",
        "\"nope\"",
        "watchdog /dev/watchdog: timeout_s 0",
    ] {
        assert!(e.contains(want), "{want:?} not in:\n{e}");
    }
    // Errors name the file and the line of the item.
    assert!(e.contains("p.toml:"), "{e}");

    let mut cfg = load(BASE).unwrap();
    cfg.global.watchdog.as_mut().unwrap().timeout_s = None;
    cfg.global.watchdog.as_mut().unwrap().interval_ms = 0;
    let e = load(&toml_format::to_toml(&cfg).unwrap()).unwrap_err();
    assert!(e.contains("interval_ms 0 is outside"), "{e}");
}
