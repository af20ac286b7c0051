//! TOML form: the commented example, line:column errors, validation, convert round trip.

use std::path::Path;

use ha_examples::director::model::*;
use ha_examples::director::toml_format::{line_col, parse_toml, to_toml};
use ha_examples::director::validate::{ValidationError, validate};
use ha_examples::director::{ConfigError, load_keepalived_file, load_toml_file, load_toml_str};

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director")
}

fn toml_err(text: &str) -> (u32, u32, String) {
    match parse_toml(text, Path::new("t.toml")) {
        Err(ConfigError::Toml { location, message }) => (location.line, location.column, message),
        other => panic!("expected a TOML error, got {other:?}"),
    }
}

#[test]
fn the_commented_example_is_valid_and_covers_every_feature() {
    let l = load_toml_file(&samples().join("ha-director.toml")).unwrap_or_else(|e| {
        panic!(
            "{:#?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    let c = &l.config;
    assert_eq!(c.instances.len(), 2);
    assert_eq!(
        c.instances[0].auth,
        Some(Auth {
            pass: "s3cret".into()
        })
    );
    assert_eq!(c.instances[1].unicast_peers.len(), 1);
    assert_eq!(c.sync_groups[0].instances, vec!["VI_EXT", "VI_INT"]);
    assert_eq!(c.resource_groups[0].steps.len(), 4);
    assert!(matches!(
        c.resource_groups[0].steps[1],
        Step::Script {
            timeout_ms: Some(20_000),
            ..
        }
    ));
    assert!(
        matches!(c.resource_groups[0].steps[2], Step::Service { ref name, .. } if name == "nginx")
    );
    assert!(
        matches!(c.resource_groups[0].steps[3], Step::VirtualServer { ref name } if name == "web-http")
    );
    let kinds: Vec<CheckKind> = c
        .virtual_servers
        .iter()
        .flat_map(|v| &v.real_servers)
        .flat_map(|r| &r.checks)
        .map(|c| c.kind)
        .collect();
    for k in [
        CheckKind::Tcp,
        CheckKind::Http,
        CheckKind::Ssl,
        CheckKind::Dns,
        CheckKind::Smtp,
        CheckKind::Misc,
        CheckKind::Udp,
        CheckKind::Ping,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from the example");
    }
    // Print and read back: the same model.
    let again = parse_toml(&to_toml(c).unwrap(), Path::new("x")).unwrap();
    assert_eq!(&again, c);
}

#[test]
fn toml_errors_carry_line_and_column() {
    // Syntax error: a value missing.
    let (l, c, _) = toml_err("[global]\nrouter_id = \"a\"\n\n[[instances]]\nname = \n");
    assert_eq!((l, c), (5, 8));
    // Unknown field (deny_unknown_fields).
    let (l, c, m) =
        toml_err("[[instances]]\nname = \"x\"\ninterface = \"eth0\"\nvrid = 1\n  colour = 3\n");
    assert_eq!((l, c), (5, 3), "{m}");
    assert!(m.contains("colour"), "{m}");
    // Wrong type.
    let (l, c, _) = toml_err("[[instances]]\nname = \"x\"\ninterface = \"eth0\"\nvrid = \"one\"\n");
    assert_eq!((l, c), (4, 8));
    // Bad VIP string.
    let (l, c, m) = toml_err(
        "[[instances]]\nname = \"x\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/40\"]\n",
    );
    assert_eq!((l, c), (5, 8), "{m}"); // toml points at the array holding the bad VIP
    assert!(m.contains("prefix"), "{m}");
    // Display is file:line:column: message.
    let e = parse_toml("a = ", Path::new("t.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.toml:1:5: "), "{e}");
    assert_eq!(line_col("ab\ncé\nx", 6), (2, 3));
}

fn base() -> Config {
    let text = "[[instances]]\nname = \"A\"\nversion = 2\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/24\"]\n";
    parse_toml(text, Path::new("b")).unwrap()
}

#[test]
fn validation_names_the_item() {
    assert_eq!(validate(&base()), vec![]);

    let mut c = base();
    c.instances[0].vrid = 0;
    c.instances[0].priority = 256;
    c.instances[0].advert_int_ms = 1500;
    let e = validate(&c);
    assert!(
        matches!(&e[0], ValidationError::VridOutOfRange { vrid: 0, .. }),
        "{e:?}"
    );
    assert!(
        matches!(
            &e[1],
            ValidationError::PriorityOutOfRange { priority: 256, .. }
        ),
        "{e:?}"
    );
    assert!(
        matches!(
            &e[2],
            ValidationError::IntervalOutOfRange {
                version: 2,
                interval_ms: 1500,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e[0].to_string(),
        "instance \"A\": vrid 0 is outside 1..=255"
    );

    let mut c = base();
    c.instances[0].version = 3;
    c.instances[0].advert_int_ms = 1505;
    assert!(matches!(
        &validate(&c)[0],
        ValidationError::IntervalOutOfRange { version: 3, .. }
    ));
    c.instances[0].advert_int_ms = 50;
    c.instances[0].vips.push("fd00::1".parse().unwrap());
    assert!(
        matches!(&validate(&c)[..], [ValidationError::MixedFamilies { .. }]),
        "{:?}",
        validate(&c)
    );

    let mut c = base();
    c.instances[0].vips = vec!["fd00::1/64".parse().unwrap()];
    assert!(matches!(
        &validate(&c)[..],
        [ValidationError::V2RequiresIpv4 { .. }]
    ));

    let mut c = base();
    let mut b = c.instances[0].clone();
    b.name = "B".into();
    c.instances.push(b.clone());
    // Same VRID and the same VIP on one interface: both are errors.
    assert!(
        matches!(
            &validate(&c)[..],
            [
                ValidationError::VipInTwoInstances { .. },
                ValidationError::DuplicateVrid { vrid: 1, .. }
            ]
        ),
        "{:?}",
        validate(&c)
    );
    b.vips = vec!["192.0.2.99/32".parse().unwrap()];
    c.instances[1] = b.clone();
    assert!(matches!(
        &validate(&c)[..],
        [ValidationError::DuplicateVrid { vrid: 1, .. }]
    ));
    c.instances[1].interface = "eth1".into();
    assert_eq!(validate(&c), vec![]);

    let mut c = base();
    c.instances[0].track_interfaces.push(TrackInterface {
        name: "eth1".into(),
        weight: 254,
        reverse: false,
    });
    c.instances[0].track_scripts.push(TrackScriptRef {
        name: "nope".into(),
        weight: Some(-253),
        reverse: None,
    });
    let e = validate(&c);
    assert!(
        matches!(
            &e[..],
            [
                ValidationError::WeightOutOfRange { weight: 254, .. },
                ValidationError::UnknownReference { kind: "script", .. }
            ]
        ),
        "{e:?}"
    );

    let mut c = base();
    c.virtual_servers.push(VirtualServer {
        name: "v".into(),
        address: Some("10.0.0.1".parse().unwrap()),
        port: Some(80),
        fwmark: None,
        family: None,
        protocol: Protocol::Tcp,
        scheduler: "wlc".into(),
        method: Method::Dr,
        persistence_timeout_s: None,
        persistence_granularity: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        delay_loop_ms: 1000,
        ha_suspend: false,
        alpha: false,
        omega: false,
        virtualhost: None,
        real_servers: vec![],
        connect_timeout_ms: None,
        retry: None,
        delay_before_retry_ms: None,
        warmup_ms: None,
        smtp_alert: None,
        inhibit_on_failure: false,
        sched_flags: vec![],
        announce: false,
        ops: false,
        group: None,
        persistence_engine: None,
        tunnel: None,
    });
    assert_eq!(validate(&c), vec![]);
    for s in [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos",
    ] {
        c.virtual_servers[0].scheduler = s.into();
        assert_eq!(validate(&c), vec![], "{s}");
    }
    c.virtual_servers[0].scheduler = "random".into();
    assert!(matches!(
        &validate(&c)[..],
        [ValidationError::UnknownScheduler { .. }]
    ));
    c.virtual_servers[0].scheduler = "rr".into();
    c.virtual_servers[0].fwmark = Some(3);
    assert!(matches!(
        &validate(&c)[..],
        [ValidationError::BadVirtualServer { .. }]
    ));
    c.virtual_servers[0].fwmark = None;
    let mut http = Check::new(CheckKind::Http);
    http.dns_name = Some("x".into());
    c.virtual_servers[0].real_servers.push(RealServer {
        address: "10.0.0.5".parse().unwrap(),
        port: Some(8080),
        weight: 70_000,
        inhibit_on_failure: None,
        notify_up: None,
        notify_down: None,
        checks: vec![http],
        delay_loop_ms: None,
        connect_timeout_ms: None,
        retry: None,
        delay_before_retry_ms: None,
        warmup_ms: None,
        virtualhost: None,
        smtp_alert: None,
        method: None,
        upper_threshold: None,
        lower_threshold: None,
        alpha: None,
        tunnel: None,
    });
    let e: Vec<String> = validate(&c).iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        vec![
            "virtual server \"v\": real server 10.0.0.5:8080: weight 70000 is outside 0..=65535",
            "virtual server \"v\": real server 10.0.0.5:8080: DR cannot translate port 80 to 8080",
            "virtual server \"v\": real server 10.0.0.5:8080: HTTP_GET check: needs at least one url",
            "virtual server \"v\": real server 10.0.0.5:8080: HTTP_GET check: type and name are only for DNS_CHECK",
        ]
    );
}

#[test]
fn toml_validation_errors_are_located_at_the_item() {
    let text = "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1\"]\n\n[[instances]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 300\nvips = [\"10.0.0.2\"]\n";
    let e = load_toml_str(text, Path::new("c.toml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].to_string(),
        "c.toml:8:1: instance \"B\": vrid 300 is outside 1..=255"
    );
}

#[test]
fn convert_round_trips() {
    for f in ["lvs-dr-master.conf", "all-checks.conf"] {
        let l = load_keepalived_file(&samples().join(f)).unwrap_or_else(|e| panic!("{f}: {e:?}"));
        let text = to_toml(&l.config).unwrap();
        let back = load_toml_str(&text, Path::new("converted.toml")).unwrap_or_else(|e| {
            panic!(
                "{f}: {:?}\n{text}",
                e.iter().map(ToString::to_string).collect::<Vec<_>>()
            )
        });
        assert_eq!(back.config, l.config, "{f}");
        assert!(!back.config.instances.is_empty());
    }
}

/// UDP_CHECK and PING_CHECK survive `convert`: the TOML printed reads back to the same model,
/// with the hex strings in their canonical form.
#[test]
fn udp_and_ping_checks_round_trip_through_toml() {
    let text = "virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   bind_port 40000\n   warmup 1.5\n   payload Ab12f 3\n   require_reply 0x X1\n   min_reply_length 1\n   max_reply_length 9\n  }\n  PING_CHECK {\n   connect_ip 10.0.0.9\n   connect_timeout 1\n  }\n }\n}\n";
    let l = ha_examples::director::load_keepalived_str(text, Path::new("k.conf"))
        .unwrap_or_else(|e| panic!("{}", e[0]));
    let printed = to_toml(&l.config).unwrap();
    assert!(printed.contains("udp_payload = \"ab120f03\""), "{printed}");
    assert!(printed.contains("udp_reply = \"0xx1\""), "{printed}");
    assert!(printed.contains("kind = \"ping\""), "{printed}");
    let back = load_toml_str(&printed, Path::new("converted.toml"))
        .unwrap_or_else(|e| panic!("{}\n{printed}", e[0]));
    assert_eq!(back.config, l.config);
    let checks = &back.config.virtual_servers[0].real_servers[0].checks;
    assert_eq!(checks[0].kind, CheckKind::Udp);
    assert_eq!(checks[0].bind_port, Some(40000));
    assert_eq!(checks[0].warmup_ms, Some(1500));
    assert!(checks[0].udp_require_reply);
    assert_eq!(
        (
            checks[0].udp_min_reply_length,
            checks[0].udp_max_reply_length
        ),
        (Some(1), Some(9))
    );
    assert_eq!(checks[1].kind, CheckKind::Ping);
    assert_eq!(checks[1].connect_ip, Some("10.0.0.9".parse().unwrap()));
}

/// The UDP and PING settings are validated in TOML too: each mistake is named.
#[test]
fn udp_and_ping_settings_are_validated() {
    let check = |body: &str| {
        let text = format!(
            "[[virtual_servers]]\nname = \"v\"\naddress = \"10.0.0.1\"\nport = 53\n\n[[virtual_servers.real_servers]]\naddress = \"10.0.0.2\"\n\n[[virtual_servers.real_servers.checks]]\n{body}\n"
        );
        match load_toml_str(&text, Path::new("c.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }
    };
    assert_eq!(
        check("kind = \"udp\"\nudp_reply = \"0a\"\nudp_max_reply_length = 3"),
        Vec::<String>::new()
    );
    for (body, want) in [
        (
            "kind = \"tcp\"\nudp_require_reply = true",
            "udp_* settings are only for UDP_CHECK",
        ),
        (
            "kind = \"udp\"\nudp_payload = \"0g\"",
            "udp_payload \"0g\" is not hex digits",
        ),
        (
            "kind = \"udp\"\nudp_payload = \"0x\"",
            "udp_payload \"0x\" is not hex digits",
        ),
        (
            "kind = \"udp\"\nudp_reply = \"zz\"",
            "udp_reply \"zz\" is not hex digits",
        ),
        ("kind = \"udp\"\nudp_min_reply_length = 3", "need udp_reply"),
        (
            "kind = \"udp\"\nudp_reply = \"0a\"\nudp_min_reply_length = 300",
            "exceeds udp_max_reply_length",
        ),
        (
            "kind = \"ping\"\nconnect_port = 7",
            "connect_port is not for PING_CHECK",
        ),
        (
            "kind = \"ping\"\nbind_port = 7",
            "bind_port is not for PING_CHECK",
        ),
    ] {
        let e = check(body);
        assert!(
            e.len() == 1
                && e[0].contains(want)
                && e[0].contains("UDP_CHECK check") == body.contains("\"udp\""),
            "{body}: {e:#?}"
        );
    }
}
