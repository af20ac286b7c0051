//! The VRRP keywords of keepalived.conf (issue 15, "VRRP"): GARP/NA tuning, multicast groups,
//! `unicast_ttl`, `vrrp_startup_delay`, `virtual_routes`, `state MASTER` / `nopreempt`,
//! `auth_hmac`, instances without VIPs. Each is read from a keepalived.conf, printed as TOML
//! and read back to the same model, and built into the runtime configuration.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ha_examples::director::build::{self, Accounts, Built};
use ha_examples::director::model::*;
use ha_examples::director::toml_format::to_toml;
use ha_examples::director::{Loaded, load_keepalived_str, load_toml_str};

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
        group: "root:x:0:\n".into(),
    }
}

fn ok(text: &str) -> Loaded {
    load_keepalived_str(text, Path::new("k.conf")).unwrap_or_else(|e| {
        panic!(
            "unexpected errors: {:#?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    })
}

fn errs(text: &str) -> Vec<String> {
    match load_keepalived_str(text, Path::new("k.conf")) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// The model printed as TOML reads back to the same model.
fn round_trip(l: &Loaded) -> String {
    let text = to_toml(&l.config).unwrap();
    let back = load_toml_str(&text, Path::new("c.toml")).unwrap_or_else(|e| {
        panic!(
            "{:?}\n{text}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    assert_eq!(back.config, l.config, "{text}");
    text
}

fn built(cfg: &Config) -> Built {
    let mut resolve = |_: &str, v6: bool| -> Result<IpAddr, String> {
        Ok(if v6 { "fe80::2" } else { "10.0.0.2" }.parse().unwrap())
    };
    build::build(cfg, &mut resolve, &accounts()).unwrap_or_else(|e| panic!("{e}"))
}

fn warned(l: &Loaded, line: u32, keyword: &str) -> bool {
    l.warnings
        .iter()
        .any(|w| w.location.line == line && w.keyword == keyword)
}

#[test]
fn garp_tuning_global_and_per_instance() {
    let text = "global_defs {
 vrrp_garp_master_delay 2
 vrrp_garp_master_repeat 3
 vrrp_garp_master_refresh 60
 vrrp_garp_master_refresh_repeat 2
 vrrp_garp_interval 0.01
 vrrp_gna_interval 0.02
}
vrrp_instance A {
 interface eth0
 virtual_router_id 1
 garp_master_delay 0
 garp_master_repeat 1
 virtual_ipaddress {
  10.0.0.1
 }
}
vrrp_instance B {
 interface eth0
 virtual_router_id 2
 virtual_ipaddress {
  10.0.0.2
 }
}
";
    let l = ok(text);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let g = &l.config.global;
    assert_eq!(
        g.garp,
        Garp {
            master_delay_ms: Some(2000),
            master_repeat: Some(3),
            master_refresh_ms: Some(60_000),
            master_refresh_repeat: Some(2),
            lower_prio_delay_ms: None,
            lower_prio_repeat: None,
        }
    );
    assert_eq!((g.garp_interval_ms, g.gna_interval_ms), (10, 20));
    let a = &l.config.instances[0];
    assert_eq!(a.garp.master_delay_ms, Some(0));
    assert_eq!(a.garp.master_repeat, Some(1));
    let toml = round_trip(&l);
    assert!(toml.contains("[global.garp]"), "{toml}");

    let b = built(&l.config);
    let d = &b.config;
    assert_eq!(d.announce.repeat, 3);
    assert_eq!(d.announce.second_burst_delay, Some(Duration::from_secs(2)));
    assert_eq!(d.announce.refresh, Some(Duration::from_secs(60)));
    assert_eq!(d.announce.refresh_repeat, 2);
    assert_eq!(d.announce_pacing.arp_interval, Duration::from_millis(10));
    assert_eq!(d.announce_pacing.na_interval, Duration::from_millis(20));
    // A: its own repeat and no second burst; the global refresh.
    let a = d.instances["A"].announce.expect("A has its own schedule");
    assert_eq!(a.repeat, 1);
    assert_eq!(a.second_burst_delay, None);
    assert_eq!(a.refresh, Some(Duration::from_secs(60)));
    // B: the global schedule.
    assert_eq!(d.instances["B"].announce, None);
}

#[test]
fn garp_defaults_min_garp_and_lower_prio() {
    // Nothing set: keepalived's defaults (5 frames, second burst after 5 s, no refresh).
    let l = ok(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    let d = built(&l.config).config;
    assert_eq!(d.announce, ha_arp::Config::default());
    assert_eq!(d.announce.repeat, 5);
    assert_eq!(d.announce.second_burst_delay, Some(Duration::from_secs(5)));
    // vrrp_min_garp: one frame, nothing after; an explicit setting wins.
    let l = ok(
        "global_defs {\n vrrp_min_garp\n vrrp_garp_master_repeat 2\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    round_trip(&l);
    let d = built(&l.config).config;
    assert_eq!(d.announce.repeat, 2);
    assert_eq!(d.announce.second_burst_delay, None);
    assert_eq!(d.announce.refresh, None);
    // Lower-priority GARPs: keepalived's defaults are the master's schedule.
    let l = ok(
        "global_defs {\n vrrp_garp_master_repeat 4\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n garp_lower_prio_repeat 2\n garp_lower_prio_delay 3\n virtual_ipaddress {\n  10.0.0.2\n }\n}\nvrrp_instance C {\n interface eth0\n virtual_router_id 3\n garp_lower_prio_repeat 0\n virtual_ipaddress {\n  10.0.0.3\n }\n}\n",
    );
    assert_eq!(l.config.instances[1].garp.lower_prio_repeat, Some(2));
    assert_eq!(l.config.instances[1].garp.lower_prio_delay_ms, Some(3000));
    round_trip(&l);
    let d = built(&l.config).config;
    let a = d.instances["A"].announce_lower_priority.unwrap();
    assert_eq!(
        (a.repeat, a.second_burst_delay),
        (4, Some(Duration::from_secs(5)))
    );
    let b = d.instances["B"].announce_lower_priority.unwrap();
    assert_eq!(
        (b.repeat, b.second_burst_delay),
        (2, Some(Duration::from_secs(3)))
    );
    assert_eq!(b.refresh, None);
    assert_eq!(d.instances["C"].announce_lower_priority, None);
    // Strict mode: none, as keepalived.
    let l = ok(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert_eq!(
        built(&l.config).config.instances["A"].announce_lower_priority,
        None
    );
}

#[test]
fn multicast_groups_startup_delay_and_unicast_ttl() {
    let text = "global_defs {
 vrrp_mcast_group4 224.0.0.42
 vrrp_mcast_group6 ff02::42
 vrrp_startup_delay 1.5
}
vrrp_instance A {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  10.0.0.1
 }
}
vrrp_instance U {
 interface eth1
 virtual_router_id 2
 unicast_ttl 64
 unicast_peer {
  10.0.1.3
 }
 virtual_ipaddress {
  10.0.1.1
 }
}
vrrp_instance S {
 version 3
 interface eth0
 virtual_router_id 3
 virtual_ipaddress {
  fd00::1
 }
}
";
    let l = ok(text);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let g = &l.config.global;
    assert_eq!(g.mcast_group4, Some("224.0.0.42".parse().unwrap()));
    assert_eq!(g.mcast_group6, Some("ff02::42".parse().unwrap()));
    assert_eq!(g.startup_delay_ms, 1500);
    assert_eq!(l.config.instances[1].unicast_ttl, Some(64));
    round_trip(&l);
    let d = built(&l.config).config;
    let inst = d.director.instances();
    assert_eq!(
        inst[0].router.multicast_group,
        Some("224.0.0.42".parse().unwrap())
    );
    assert_eq!(
        inst[2].router.multicast_group,
        Some("ff02::42".parse().unwrap())
    );
    for i in inst {
        assert_eq!(i.router.startup_delay, Duration::from_millis(1500));
    }
    assert_eq!(d.instances["U"].unicast_ttl, Some(64));
    assert_eq!(d.instances["A"].unicast_ttl, None);

    // Not multicast, not of its family: errors at the keyword.
    let e = errs("global_defs {\n vrrp_mcast_group4 10.0.0.1\n vrrp_mcast_group6 224.0.0.18\n}\n");
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:2:2:") && e.contains("vrrp_mcast_group4")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:3:2:") && e.contains("vrrp_mcast_group6")),
        "{e:#?}"
    );
}

#[test]
fn virtual_routes_are_kept_and_checked() {
    let text = "vrrp_instance A {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  10.0.0.1/24
 }
 virtual_routes {
  10.9.0.0/16 via 10.0.0.254 dev eth0
  src 10.0.0.1 to 10.8.0.0/16 dev eth0 metric 5
  blackhole 10.7.0.0/16
 }
}
";
    let l = ok(text);
    assert_eq!(
        l.config.instances[0].virtual_routes,
        vec![
            "10.9.0.0/16 via 10.0.0.254 dev eth0",
            "src 10.0.0.1 to 10.8.0.0/16 dev eth0 metric 5",
            "blackhole 10.7.0.0/16",
        ]
    );
    round_trip(&l);
    let d = built(&l.config).config;
    assert_eq!(d.director.instances()[0].routes.len(), 3);
    // A route this runtime cannot understand is an error at its line, never half-applied.
    let e = errs(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n virtual_routes {\n  10.9.0.0/16 via 10.0.0.254 realm 7\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:8:3:") && e.contains("realm")),
        "{e:#?}"
    );
    // TOML: a bad route is a build error naming the instance.
    let mut cfg = l.config.clone();
    cfg.instances[0].virtual_routes = vec!["10.9.0.0/16 frobnicate".into()];
    let mut resolve =
        |_: &str, _: bool| -> Result<IpAddr, String> { Ok("10.0.0.2".parse().unwrap()) };
    let err = build::build(&cfg, &mut resolve, &accounts()).unwrap_err();
    assert!(err.to_string().contains("\"A\""), "{err}");
}

#[test]
fn auth_hmac_is_an_error_at_its_place() {
    let e = errs(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n auth_hmac {\n  key 1 0123456789abcdef0123456789abcdef\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:4:2:") && e.contains("`auth_hmac` cannot be honoured")),
        "{e:#?}"
    );
}

#[test]
fn state_master_priority_and_nopreempt_follow_keepalived() {
    // state MASTER without priority: the address owner.
    let l = ok(
        "vrrp_instance A {\n state MASTER\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert_eq!(l.config.instances[0].priority, 255);
    assert!(warned(&l, 2, "state"), "{:?}", l.warnings);
    round_trip(&l);
    let d = built(&l.config).config;
    assert!(d.director.instances()[0].router.address_owner);

    // state MASTER with nopreempt and preempt_delay: both cleared with a warning (keepalived
    // accepts the file); with a priority below 255 it starts as backup.
    let l = ok(
        "vrrp_instance A {\n state MASTER\n priority 150\n nopreempt\n preempt_delay 10\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    let i = &l.config.instances[0];
    assert_eq!(
        (i.priority, i.nopreempt, i.preempt_delay_ms),
        (150, false, 0)
    );
    assert!(warned(&l, 4, "nopreempt") && warned(&l, 5, "preempt_delay"));
    round_trip(&l);
    let b = built(&l.config);
    assert!(b.config.director.instances()[0].router.preempt);
    assert!(
        b.notes.iter().any(|n| n.contains("state MASTER")),
        "{:?}",
        b.notes
    );

    // The address owner always preempts; nopreempt clears preempt_delay.
    let l = ok(
        "vrrp_instance A {\n priority 255\n nopreempt\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\nvrrp_instance B {\n nopreempt\n preempt_delay 5\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  10.0.0.2\n }\n}\n",
    );
    assert!(!l.config.instances[0].nopreempt && warned(&l, 3, "nopreempt"));
    let b = &l.config.instances[1];
    assert!(b.nopreempt && b.preempt_delay_ms == 0 && warned(&l, 12, "preempt_delay"));
    round_trip(&l);
    let d = built(&l.config).config;
    assert!(!d.director.instances()[1].router.preempt);
}

#[test]
fn an_instance_without_vips_is_an_error_at_the_instance() {
    // VRRPv3: keepalived refuses the instance; so do we.
    let e = errs("vrrp_instance A {\n version 3\n interface eth0\n virtual_router_id 1\n}\n");
    assert!(
        e.iter().any(|e| e.starts_with("k.conf:1:1:")
            && e.contains("virtual_ipaddress")
            && e.contains("keepalived refuses")),
        "{e:#?}"
    );
    // VRRPv2: keepalived runs it with a warning, advertising no address, which an RFC 3768
    // receiver (ours) drops: refused here, with that reason, rather than run half-way.
    let e = errs("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n}\n");
    assert!(
        e.iter().any(|e| e.starts_with("k.conf:1:1:")
            && e.contains("virtual_ipaddress")
            && e.contains("no address")),
        "{e:#?}"
    );
}

#[test]
fn virtual_rules_and_static_addresses_routes_rules() {
    let text = "static_ipaddress {
 192.168.77.1/24 dev eth1
}
static_routes {
 10.20.0.0/16 via 192.168.77.254 dev eth1
}
static_rules {
 from 192.168.77.0/24 table 100 priority 1000
}
vrrp_instance A {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  10.0.0.1/24
 }
 virtual_rules {
  from 10.0.0.1 table 101 priority 2000
  inet6 to fd00::/8 prohibit priority 2001
 }
}
";
    let l = ok(text);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let g = &l.config.global;
    assert_eq!(g.static_addresses.len(), 1);
    assert_eq!(g.static_addresses[0].dev.as_deref(), Some("eth1"));
    assert_eq!(
        g.static_routes,
        vec!["10.20.0.0/16 via 192.168.77.254 dev eth1"]
    );
    assert_eq!(
        g.static_rules,
        vec!["from 192.168.77.0/24 table 100 priority 1000"]
    );
    assert_eq!(l.config.instances[0].virtual_rules.len(), 2);
    round_trip(&l);
    let d = built(&l.config).config;
    assert_eq!(d.statics.addresses.len(), 1);
    assert_eq!(d.statics.routes.len(), 1);
    assert_eq!(d.statics.rules.len(), 1);
    assert_eq!(d.director.instances()[0].rules.len(), 2);

    // Errors at the line: a rule word this runtime does not know, a static address with no
    // device.
    let e = errs(
        "static_rules {\n from 10.0.0.0/8 table 5 uidrange 1-2\n}\nstatic_ipaddress {\n 10.1.1.1/24\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:2:2:") && e.contains("uidrange")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:5:2:") && e.contains("dev")),
        "{e:#?}"
    );
    // TOML: checked by the build, naming what.
    let mut cfg = l.config.clone();
    cfg.global.static_rules = vec!["from all".into()];
    let mut resolve =
        |_: &str, _: bool| -> Result<IpAddr, String> { Ok("10.0.0.2".parse().unwrap()) };
    let err = build::build(&cfg, &mut resolve, &accounts()).unwrap_err();
    assert!(err.to_string().contains("from all"), "{err}");
}

/// The commented TOML example shows the VRRP settings of this file, and they build.
#[test]
fn the_commented_example_carries_the_vrrp_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/ha-director.toml");
    let l = ha_examples::director::load_toml_file(&path).unwrap_or_else(|e| panic!("{}", e[0]));
    let g = &l.config.global;
    assert_eq!(g.garp.master_repeat, Some(5));
    assert_eq!(g.garp_interval_ms, 10);
    assert_eq!(
        (
            g.static_addresses.len(),
            g.static_routes.len(),
            g.static_rules.len()
        ),
        (1, 1, 1)
    );
    let i = &l.config.instances[0];
    assert_eq!(i.garp.master_repeat, Some(2));
    assert_eq!((i.virtual_routes.len(), i.virtual_rules.len()), (1, 1));
}

/// The sample with every VRRP keyword reads, round-trips through TOML and builds.
#[test]
fn the_vrrp_keywords_sample_converts_and_builds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/vrrp-keywords.conf");
    let l =
        ha_examples::director::load_keepalived_file(&path).unwrap_or_else(|e| panic!("{}", e[0]));
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    round_trip(&l);
    let d = built(&l.config).config;
    assert!(d.director.instances()[0].router.address_owner);
    assert_eq!(d.instances["U"].unicast_ttl, Some(64));
    assert_eq!(d.statics.rules.len(), 1);
}

#[test]
fn unicast_peer_ttl_ranges() {
    let l = ok(
        "vrrp_instance U {\n interface eth0\n virtual_router_id 2\n unicast_peer {\n  10.0.1.3 min_ttl 60 max_ttl 70\n  10.0.1.4 max_ttl 200\n  10.0.1.5\n }\n virtual_ipaddress {\n  10.0.1.1\n }\n}\n",
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let i = &l.config.instances[0];
    assert_eq!(i.unicast_peers.len(), 3);
    assert_eq!(
        i.unicast_peer_ttl,
        vec![
            PeerTtl {
                peer: "10.0.1.3".parse().unwrap(),
                min_ttl: 60,
                max_ttl: 70
            },
            PeerTtl {
                peer: "10.0.1.4".parse().unwrap(),
                min_ttl: 0,
                max_ttl: 200
            },
        ]
    );
    round_trip(&l);
    let d = built(&l.config).config;
    assert_eq!(
        d.director.instances()[0].peer_ttl,
        vec![
            ("10.0.1.3".parse().unwrap(), 60, 70),
            ("10.0.1.4".parse().unwrap(), 0, 200)
        ]
    );
    let e = errs(
        "vrrp_instance U {\n interface eth0\n virtual_router_id 2\n unicast_peer {\n  10.0.1.3 min_ttl 80 max_ttl 70\n  10.0.1.4 hops 3\n }\n virtual_ipaddress {\n  10.0.1.1\n }\n}\n",
    );
    assert!(e.iter().any(|e| e.starts_with("k.conf:5:3:")), "{e:#?}");
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:6:3:") && e.contains("hops")),
        "{e:#?}"
    );
}

#[test]
fn per_instance_mcast_dst_ip_preempt_and_check_unicast_src() {
    let l = ok(
        "global_defs {\n vrrp_mcast_group4 224.0.0.42\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n mcast_dst_ip 224.0.0.43\n nopreempt\n preempt\n virtual_ipaddress {\n  10.0.0.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n check_unicast_src\n unicast_peer {\n  10.0.0.3\n }\n virtual_ipaddress {\n  10.0.0.2\n }\n}\n",
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let a = &l.config.instances[0];
    assert_eq!(a.mcast_group, Some("224.0.0.43".parse().unwrap()));
    assert!(!a.nopreempt, "preempt after nopreempt turns it back on");
    round_trip(&l);
    let d = built(&l.config).config;
    assert_eq!(
        d.director.instances()[0].router.multicast_group,
        Some("224.0.0.43".parse().unwrap()),
        "the instance's group wins over the global one"
    );
    let e = errs(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n mcast_dst_ip 10.0.0.9\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:4:2:") && e.contains("mcast_dst_ip")),
        "{e:#?}"
    );
}

#[test]
fn old_unicast_checksum_is_an_error_global_check_unicast_src_is_accepted() {
    let e = errs(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n old_unicast_checksum\n unicast_peer {\n  10.0.0.3\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert!(
        e.iter().any(|e| e.starts_with("k.conf:4:2:")
            && e.contains("`old_unicast_checksum` cannot be honoured")),
        "{e:#?}"
    );
    let l = ok(
        "global_defs {\n vrrp_check_unicast_src\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}
