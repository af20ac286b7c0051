//! keepalived's LVS keywords: `quorum_up`/`quorum_down`, real-server `notify_up`/`notify_down`,
//! `omega`, virtual-server `inhibit_on_failure`, `sorry_server_inhibit`, the scheduler flags and
//! `ops`, `lvs_timeouts`, `lvs_flush`, `lvs_flush_on_stop`, `virtual_server_group`: from
//! keepalived.conf to the model, through TOML and back, and into the runtime configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use ha_examples::director::build::{self, Accounts, Built};
use ha_examples::director::model::*;
use ha_examples::director::toml_format::{parse_toml, to_toml};
use ha_examples::director::{Loaded, load_keepalived_str};
use ha_failover::core::VirtualServerId;
use ha_ipvs::model::{Destination, Family as IpvsFamily, Forward, Protocol as P, ServiceKey};

/// Every LVS keyword of this part, as a keepalived user writes them (`keepalived -t` accepts
/// it: see [`keepalived_accepts_the_lvs_sample`]).
const CONF: &str = r#"global_defs {
    router_id lvs1
    lvs_timeouts tcp 900 tcpfin 30 udp 120
    lvs_flush
    lvs_flush_on_stop VS
    rs_init_notifies
}

virtual_server_group WEB {
    10.0.0.100-102 80
    10.0.0.110 8080
    fwmark 7
}

virtual_server group WEB {
    delay_loop 3
    lvs_sched mh
    mh-port
    mh-fallback
    lvs_method DR
    protocol TCP
    inhibit_on_failure
    quorum 2
    hysteresis 1
    quorum_up "/usr/local/bin/lvs-notify up"
    quorum_down "/usr/local/bin/lvs-notify down"
    omega
    sorry_server 10.0.0.200
    sorry_server_inhibit
    sorry_server_lvs_method NAT
    real_server 10.0.0.11 {
        weight 2
        notify_up "/usr/local/bin/rs-notify 11 up"
        notify_down "/usr/local/bin/rs-notify 11 down"
        TCP_CHECK {
            connect_port 80
        }
    }
    real_server 10.0.0.12 {
        inhibit_on_failure false
        lvs_method TUN type gue port 6080 csum
        uthreshold 1000
        lthreshold 800
        alpha
        TCP_CHECK {
            connect_port 80
        }
    }
}

virtual_server 10.0.0.100 53 {
    weight 5
    lvs_sched sh
    sh-port
    sh-fallback
    flag-3
    ops
    lvs_method DR
    protocol UDP
    persistence_timeout 60
    persistence_engine sip
    real_server 10.0.0.11 53 {
    }
}
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn load(text: &str) -> Loaded {
    load_keepalived_str(text, Path::new("lvs.conf")).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn errs(text: &str) -> Vec<String> {
    match load_keepalived_str(text, Path::new("lvs.conf")) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn build_ok(cfg: &Config) -> Built {
    let accounts = Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
        group: "root:x:0:\n".into(),
    };
    let mut resolve = |_: &str, _: bool| -> Result<IpAddr, String> { Ok(ip("10.0.0.2")) };
    build::build(cfg, &mut resolve, &accounts).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lvs_keywords_convert_to_the_model() {
    let l = load(CONF);
    assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
    let c = &l.config;
    let g = &c.global;
    assert_eq!(
        g.lvs_timeouts,
        Some(LvsTimeouts {
            tcp_s: Some(900),
            tcp_fin_s: Some(30),
            udp_s: Some(120),
        })
    );
    assert!(g.lvs_flush);
    assert_eq!(g.lvs_flush_on_stop, Some(FlushOnStop::Vs));
    assert!(g.rs_init_notifies);
    assert_eq!(
        c.virtual_server_groups,
        vec![VirtualServerGroup {
            name: "WEB".into(),
            entries: vec![
                "10.0.0.100-102 80".parse().unwrap(),
                "10.0.0.110 8080".parse().unwrap(),
                "fwmark 7".parse().unwrap(),
            ],
        }]
    );
    let web = &c.virtual_servers[0];
    assert_eq!(web.name, "group:WEB");
    assert_eq!(web.group.as_deref(), Some("WEB"));
    assert_eq!((web.address, web.port, web.fwmark), (None, None, None));
    assert_eq!(
        web.sched_flags,
        vec![SchedFlag::MhPort, SchedFlag::MhFallback]
    );
    assert!(web.inhibit_on_failure && web.omega);
    assert_eq!(
        web.quorum_up.as_deref(),
        Some("/usr/local/bin/lvs-notify up")
    );
    assert_eq!(
        web.quorum_down.as_deref(),
        Some("/usr/local/bin/lvs-notify down")
    );
    assert_eq!(
        web.sorry_server,
        Some(SorryServer {
            address: ip("10.0.0.200"),
            port: None,
            inhibit: true,
            method: Some(Method::Nat),
            tunnel: None,
        })
    );
    let rs = &web.real_servers;
    assert_eq!(
        rs[0].inhibit_on_failure, None,
        "the virtual server's default"
    );
    assert_eq!(rs[1].inhibit_on_failure, Some(false));
    assert_eq!(
        rs[0].notify_up.as_deref(),
        Some("/usr/local/bin/rs-notify 11 up")
    );
    assert_eq!(
        rs[0].notify_down.as_deref(),
        Some("/usr/local/bin/rs-notify 11 down")
    );
    let dns = &c.virtual_servers[1];
    assert_eq!(
        dns.sched_flags,
        vec![SchedFlag::ShPort, SchedFlag::ShFallback, SchedFlag::Flag3]
    );
    assert!(dns.ops);
    assert_eq!(dns.real_servers[0].weight, 5, "the virtual server's weight");
    assert_eq!(rs[0].weight, 2);
    assert_eq!(rs[1].weight, 1);
    assert_eq!(dns.persistence_engine.as_deref(), Some("sip"));
    assert_eq!(rs[1].method, Some(Method::Tun));
    assert_eq!(
        rs[1].tunnel,
        Some(TunnelOptions {
            kind: TunnelKind::Gue,
            port: Some(6080),
            checksum: Some(TunnelChecksum::Csum),
        })
    );
    assert_eq!(
        (rs[1].upper_threshold, rs[1].lower_threshold),
        (Some(1000), Some(800))
    );
    assert_eq!((rs[0].alpha, rs[1].alpha), (None, Some(true)));

    // TOML and back, unchanged; the TOML spells them as documented.
    let text = to_toml(c).unwrap();
    for want in [
        "lvs_flush = true",
        "lvs_flush_on_stop = \"vs\"",
        "tcp_fin_s = 30",
        "entries = [\"10.0.0.100-102 80\", \"10.0.0.110 8080\", \"fwmark 7\"]",
        "group = \"WEB\"",
        "sched_flags = [\"mh-port\", \"mh-fallback\"]",
        "sched_flags = [\"sh-port\", \"sh-fallback\", \"flag-3\"]",
        "ops = true",
        "inhibit = true",
        "inhibit_on_failure = false",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert_eq!(&parse_toml(&text, Path::new("lvs.toml")).unwrap(), c);
}

#[test]
fn lvs_keywords_reach_the_runtime_configuration() {
    let b = build_ok(&load(CONF).config);
    let ipvs = b.config.ipvs.as_ref().expect("IPVS is driven");
    assert!(ipvs.flush_on_start);
    assert!(!ipvs.flush_on_stop, "VS: delete our services (the default)");
    assert!(ipvs.remove_on_stop);
    let t = ipvs.timeouts.expect("timeouts");
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 30, 120));
    assert!(
        !b.notes
            .iter()
            .any(|n| n.contains("not applied") || n.contains("not run")),
        "{:#?}",
        b.notes
    );

    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let (web, _) = d.pool(VirtualServerId(0)).unwrap();
    let tcp = |a: &str| ServiceKey::Inet {
        protocol: P::Tcp,
        addr: sa(a),
    };
    assert_eq!(
        web.keys().collect::<Vec<_>>(),
        vec![
            tcp("10.0.0.100:80"),
            tcp("10.0.0.101:80"),
            tcp("10.0.0.102:80"),
            tcp("10.0.0.110:8080"),
            ServiceKey::Fwmark {
                mark: 7,
                family: IpvsFamily::Inet
            },
        ]
    );
    assert!(web.service.sched_flags.port && web.service.sched_flags.fallback);
    assert!(!web.service.sched_flags.flag3 && !web.service.one_packet);
    assert!(web.real_servers[0].inhibit_on_failure);
    assert!(!web.real_servers[1].inhibit_on_failure);
    let argv = |s: &str| Some(s.split(' ').map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(
        web.real_servers[0].notify_up,
        argv("/usr/local/bin/rs-notify 11 up")
    );
    assert_eq!(
        web.real_servers[0].notify_down,
        argv("/usr/local/bin/rs-notify 11 down")
    );
    assert_eq!(web.quorum_up, argv("/usr/local/bin/lvs-notify up"));
    assert_eq!(web.quorum_down, argv("/usr/local/bin/lvs-notify down"));
    assert!(web.omega && web.sorry_inhibit && web.init_notifies);
    assert_eq!((web.quorum, web.hysteresis), (2, 1));
    assert_eq!(
        web.real_servers[1].destination,
        Destination {
            upper_threshold: 1000,
            lower_threshold: 800,
            ..Destination::new(
                sa("10.0.0.12:0"),
                Forward::Tunnel(ha_ipvs::model::Tunnel {
                    kind: ha_ipvs::model::TunnelType::Gue,
                    port: 6080,
                    csum: true,
                    remcsum: false,
                }),
                1,
            )
        }
    );
    // Every service of the group gets the real servers on its own port. rs2 starts down
    // (alpha), so the live weight 2 is below quorum 2 + hysteresis 1: the sorry server (NAT)
    // takes the traffic and rs1 (inhibit_on_failure) stays at weight 0, as keepalived does.
    let all = d.desired_services_of(VirtualServerId(0));
    assert_eq!(all.len(), 5);
    assert_eq!(d.pool_quorum(VirtualServerId(0)), Some(false));
    assert_eq!(
        all[3].destinations,
        vec![
            Destination::new(sa("10.0.0.11:8080"), Forward::Route, 0),
            Destination::new(sa("10.0.0.200:8080"), Forward::Masq, 1),
        ]
    );
    assert_eq!(all[4].destinations[0].addr, sa("10.0.0.11:0"));

    // Real-server alpha: rs2 starts down (its check too), rs1 alive.
    assert_eq!(d.pool(VirtualServerId(0)).unwrap().1, &[true, false]);
    let starts: Vec<_> = b
        .config
        .health
        .iter()
        .filter(|h| h.server == VirtualServerId(0))
        .map(|h| (h.index, h.target.start))
        .collect();
    assert_eq!(
        starts,
        vec![
            (0, ha_healthcheck::StartState::Up),
            (1, ha_healthcheck::StartState::Down)
        ]
    );
    let (dns, _) = d.pool(VirtualServerId(1)).unwrap();
    let f = dns.service.sched_flags;
    assert!(f.port && f.fallback && f.flag3);
    assert!(dns.service.one_packet);
    assert_eq!(dns.service.pe_name.as_deref(), Some("sip"));
}

#[test]
fn flush_on_stop_all_and_settings_without_virtual_servers() {
    let conf = "global_defs {\n lvs_flush_onstop\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n";
    let l = load(conf);
    assert_eq!(l.config.global.lvs_flush_on_stop, Some(FlushOnStop::All));
    let b = build_ok(&l.config);
    assert!(b.config.ipvs.unwrap().flush_on_stop);
    // Without a virtual server they do nothing (keepalived's checker does not run): a note.
    let conf = "global_defs {\n lvs_timeouts udp 5\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
    let l = load(conf);
    assert_eq!(
        l.config.global.lvs_timeouts,
        Some(LvsTimeouts {
            udp_s: Some(5),
            ..LvsTimeouts::default()
        })
    );
    let b = build_ok(&l.config);
    assert!(b.config.ipvs.is_none());
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("lvs_timeouts are not applied")),
        "{:#?}",
        b.notes
    );
}

#[test]
fn lvs_keyword_mistakes_are_located() {
    // lvs_timeouts needs NAME VALUE pairs of known names.
    let e = errs("global_defs {\n lvs_timeouts tcp\n}\n");
    assert!(e[0].starts_with("lvs.conf:2:2: `lvs_timeouts`"), "{e:#?}");
    let e = errs("global_defs {\n lvs_timeouts tcp 5 syn 3\n}\n");
    assert!(e[0].contains("\"syn\""), "{e:#?}");
    let e = errs("global_defs {\n lvs_flush_on_stop RS\n}\n");
    assert!(
        e[0].starts_with("lvs.conf:2:2: `lvs_flush_on_stop`"),
        "{e:#?}"
    );
    // A group entry that does not parse, with its place.
    let e = errs("virtual_server_group G {\n 10.0.0.1-300 80\n}\n");
    assert!(
        e[0].starts_with("lvs.conf:2:2: virtual_server_group entry \"10.0.0.1-300 80\""),
        "{e:#?}"
    );
    let e = errs("virtual_server_group G {\n 10.0.0.0/16 80\n}\n");
    assert!(e[0].contains("more than 256 addresses"), "{e:#?}");
    // A user after a checker script (keepalived's USER[:GROUP]) is an error: scripts run as
    // the global script_user; unquoted words after the script are that user, not arguments.
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n quorum_up /bin/notify up\n real_server 10.0.0.2 80 {\n  notify_down \"/bin/notify down\" nobody\n }\n}\n",
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("lvs.conf:2:2: `quorum_up` cannot be honoured: \"up\" after the script"),
        "{e:#?}"
    );
    assert!(e[1].starts_with("lvs.conf:4:3: `notify_down`"), "{e:#?}");
    // Tunnel options keepalived refuses, and options after DR.
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n lvs_method TUN type gue\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert!(
        e[0].starts_with("lvs.conf:2:2: `lvs_method TUN type gue`: a gue tunnel needs a port"),
        "{e:#?}"
    );
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n lvs_method TUN type ipip csum\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert!(e[0].contains("takes no checksum"), "{e:#?}");
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n lvs_method DR type gre\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert!(e[0].contains("no options after DR or NAT"), "{e:#?}");
    // A group that is not defined, or mixes families.
    let e = errs("virtual_server group NOPE {\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert!(
        e[0].starts_with("lvs.conf:1:1: virtual server \"group:NOPE\"") && e[0].contains("NOPE"),
        "{e:#?}"
    );
    let e = errs("virtual_server_group G {\n 10.0.0.1 80\n fd00::1 80\n}\n");
    assert!(e[0].contains("mixes IPv4 and IPv6"), "{e:#?}");
    // A scheduler flag for another scheduler: keepalived ignores it with a message; so do we.
    let l = load(
        "virtual_server 10.0.0.1 80 {\n lvs_sched rr\n sh-port\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings[0].keyword, "sh-port");
    assert!(l.config.virtual_servers[0].sched_flags.is_empty());
    // sorry_server_inhibit before the sorry server: ignored, as keepalived does, with a warning.
    let l = load(
        "virtual_server 10.0.0.1 80 {\n sorry_server_inhibit\n sorry_server 10.0.0.9 80\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(l.warnings[0].keyword, "sorry_server_inhibit");
    assert!(
        !l.config.virtual_servers[0]
            .sorry_server
            .as_ref()
            .unwrap()
            .inhibit
    );
}

/// keepalived's IPVS persistence granularity of an IPv6 service is a prefix length.
#[test]
fn ipv6_persistence_granularity_is_a_prefix_length() {
    let l = load(
        "virtual_server fd00::100 80 {\n persistence_timeout 30\n persistence_granularity 64\n real_server fd00::2 80 {\n }\n}\n",
    );
    let vs = &l.config.virtual_servers[0];
    assert_eq!(
        vs.persistence_granularity,
        Some(ip("ffff:ffff:ffff:ffff::"))
    );
    let b = build_ok(&l.config);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let p = d.pool(VirtualServerId(0)).unwrap().0.service.persistence;
    assert_eq!(p.map(|p| (p.timeout, p.netmask)), Some((30, 64)));
}

#[test]
fn group_entries_parse_and_print_as_keepalived_writes_them() {
    for (text, n) in [
        ("10.0.0.1 80", 1),
        ("10.0.0.1-4 80", 4),
        ("10.0.0.8/30 443", 4),
        ("fd00::1-a 80", 10),
        ("fwmark 9 inet6", 0),
        ("10.0.0.1 0", 1),
    ] {
        let e: GroupEntry = text.parse().unwrap();
        assert_eq!(e.to_string(), text);
        assert_eq!(e.addresses().len(), n, "{text}");
    }
    // No port reads as 0 (keepalived's default).
    assert_eq!(
        "10.0.0.1".parse::<GroupEntry>().unwrap().to_string(),
        "10.0.0.1 0"
    );
    for bad in [
        "10.0.0.5-2 80",
        "10.0.0.1/29 80",
        "x 80",
        "fwmark x",
        "10.0.0.1 80 90",
    ] {
        assert!(bad.parse::<GroupEntry>().is_err(), "{bad}");
    }
}

/// keepalived 2.2.7 itself accepts the sample (so it is what its users write). In the host
/// suite: it needs keepalived, which `cargo xtask test` installs before that suite.
#[test]
#[ignore = "host suite: needs keepalived (installed by cargo xtask test before the host suite)"]
fn host_keepalived_accepts_the_lvs_sample() {
    ha_testsupport::require_tool("keepalived", "keepalived");
    let dir = std::env::temp_dir().join(format!("ha-lvs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, CONF).unwrap();
    let out = std::process::Command::new("keepalived")
        .args(["-t", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "keepalived -t refused it:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ha_suspend` (keepalived: checks suspended while the virtual address is not on the host)
/// becomes a suspend gate on the instances carrying the address; a resource group's
/// `virtual_server` step an install gate on its instance; each with a note where keepalived
/// would do something else.
#[test]
fn ha_suspend_and_virtual_server_steps_become_mastership_gates() {
    use ha_failover::core::{GateEffect, InstanceId};
    let conf = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.2/24\n }\n virtual_ipaddress_excluded {\n 10.0.0.50\n }\n}\nvirtual_server_group G {\n 10.0.0.50-51 80\n}\nvirtual_server 10.0.0.1 80 {\n ha_suspend\n real_server 10.0.0.9 80 {\n }\n}\nvirtual_server group G {\n ha_suspend\n real_server 10.0.0.9 80 {\n }\n}\nvirtual_server 10.0.0.77 80 {\n ha_suspend\n real_server 10.0.0.9 80 {\n }\n}\nvirtual_server fwmark 3 {\n ha_suspend\n real_server 10.0.0.9 80 {\n }\n}\n";
    let l = load(conf);
    assert_eq!(l.warnings.len(), 1, "{:#?}", l.warnings);
    assert_eq!(l.warnings[0].keyword, "ha_suspend");
    assert_eq!(l.warnings[0].location.line, 37);
    assert!(!l.config.virtual_servers[3].ha_suspend);
    let b = build_ok(&l.config);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let gate = |i: u32| d.pool(VirtualServerId(i)).unwrap().0.gate.clone();
    let g0 = gate(0).unwrap();
    assert_eq!(
        (g0.instances, g0.effect),
        (vec![InstanceId(0)], GateEffect::SuspendChecks)
    );
    assert_eq!(
        gate(1).unwrap().instances,
        vec![InstanceId(1)],
        "excluded VIP"
    );
    assert_eq!(gate(2), None);
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("10.0.0.77:80") && n.contains("no VRRP instance carries")),
        "{:#?}",
        b.notes
    );
    assert_eq!(gate(3), None);

    // A resource group's virtual-server step: an install gate, and no note about IPVS.
    let mut cfg = l.config.clone();
    cfg.resource_groups.push(ResourceGroup {
        name: "rg".into(),
        instance: "B".into(),
        steps: vec![Step::VirtualServer {
            name: "10.0.0.1:80".into(),
        }],
    });
    let b = build_ok(&cfg);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let g = d.pool(VirtualServerId(0)).unwrap().0.gate.clone().unwrap();
    assert_eq!(
        (g.instances, g.effect),
        (vec![InstanceId(1)], GateEffect::Install)
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("ha_suspend has no effect")),
        "{:#?}",
        b.notes
    );
    assert!(!b.notes.iter().any(|n| n.contains("not gated")));
    // Not installed before B is master.
    assert!(d.desired_services_of(VirtualServerId(0)).is_empty());
}
