//! The translation from the configuration model to the runtime's `DirectorConfig`
//! (`director::build`), on small configurations and on the sample files; the keepalived
//! sync-daemon keywords, the `[global]` observability settings and script security.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_examples::director::build::{self, Accounts, BuildError, Built};
use ha_examples::director::{self, Config};
use ha_failover::core::{InstanceId, StepKind, TrackerId, TrackerKind};
use ha_failover::vrrp::router::Config as RouterConfig;
use ha_failover::vrrp::wire::Auth;
use ha_failover::vrrp::{AdvertInterval, Priority, Version};
use ha_healthcheck::{Check, ClientCert, HttpProtocol, StartState, TlsVerify};
use ha_ipvs::model::{DaemonRole, Forward, ServiceKey};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director")
}

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\nkeepalived_script:x:996:995::/nonexistent:/usr/sbin/nologin\n".into(),
        group: "root:x:0:\nkeepalived_script:x:995:\nnogroup:x:65534:\n".into(),
    }
}

/// A resolver that knows eth0 / eth1 and records what it was asked.
fn resolver(
    asked: &mut Vec<(String, bool)>,
) -> impl FnMut(&str, bool) -> Result<IpAddr, String> + '_ {
    move |ifname: &str, v6: bool| {
        asked.push((ifname.to_owned(), v6));
        match (ifname, v6) {
            ("eth0", false) => Ok("192.168.10.2".parse().unwrap()),
            ("eth1", false) => Ok("10.0.0.1".parse().unwrap()),
            ("eth0", true) => Ok("fe80::2".parse().unwrap()),
            _ => Err("no such interface".into()),
        }
    }
}

fn toml(text: &str) -> Config {
    director::load_toml_str(text, Path::new("test.toml"))
        .unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .config
}

fn build_ok(cfg: &Config) -> Built {
    let mut asked = Vec::new();
    build::build(cfg, &mut resolver(&mut asked), &accounts()).unwrap_or_else(|e| panic!("{e}"))
}

fn router_of(b: &Built, i: u32) -> RouterConfig {
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    d.instance_config(InstanceId(i)).unwrap().router.clone()
}

#[test]
fn instances_translate_with_every_setting() {
    let cfg = toml(
        r#"
[[instances]]
name = "A"
version = 2
interface = "eth0"
vrid = 51
priority = 150
advert_int_ms = 2000
vips = ["192.168.10.100/24 dev eth0", "192.168.10.101/24 dev eth0 label eth0:1"]
excluded_vips = ["2001:db8::1/64 dev eth1"]
nopreempt = true
preempt_delay_ms = 1500
auth = { pass = "s3cret" }
unicast_peers = ["192.168.10.3"]
notify = { master = "/bin/echo master now", any = "/bin/logger -t vrrp" }

[[instances]]
name = "B"
interface = "eth0"
vrid = 52
priority = 255
advert_int_ms = 250
vips = ["fd00::100/64"]
"#,
    );
    let mut asked = Vec::new();
    let b = build::build(&cfg, &mut resolver(&mut asked), &accounts()).unwrap();
    assert_eq!(
        asked,
        [("eth0".to_owned(), false), ("eth0".to_owned(), true)]
    );
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    assert_eq!(d.instance_count(), 2);
    let a = d.instance_config(InstanceId(0)).unwrap();
    assert_eq!(a.name, "A");
    assert_eq!(a.interface, "eth0");
    assert_eq!(a.router.version, Version::V2);
    assert_eq!(a.router.vrid.get(), 51);
    assert_eq!(a.router.priority, Priority(150));
    assert!(!a.router.address_owner);
    assert_eq!(
        a.router.advert_interval,
        AdvertInterval::V2(ha_failover::vrrp::Seconds(2))
    );
    assert_eq!(
        a.router.primary_address,
        "192.168.10.2".parse::<IpAddr>().unwrap()
    );
    assert!(!a.router.preempt);
    assert_eq!(a.router.preempt_delay, Duration::from_millis(1500));
    assert_eq!(a.router.peers, ["192.168.10.3".parse::<IpAddr>().unwrap()]);
    assert_eq!(a.vips.len(), 2);
    assert_eq!(a.vips[1].prefix, 24);
    assert_eq!(a.vips[1].label.as_deref(), Some("eth0:1"));
    assert_eq!(a.vips[1].dev.as_deref(), Some("eth0"));
    assert_eq!(a.excluded_vips[0].dev.as_deref(), Some("eth1"));
    assert_eq!(
        a.notify.master.as_deref(),
        Some(&["/bin/echo".to_owned(), "master".into(), "now".into()][..])
    );
    assert_eq!(a.notify.generic.as_ref().unwrap()[0], "/bin/logger");
    assert!(a.notify.backup.is_none());
    match &a.auth {
        Auth::SimpleText(p) => assert_eq!(p.as_raw(), b"s3cret\0\0"),
        other => panic!("{other:?}"),
    }
    let bb = d.instance_config(InstanceId(1)).unwrap();
    assert_eq!(bb.router.version, Version::V3);
    assert!(bb.router.address_owner);
    assert_eq!(
        bb.router.primary_address,
        "fe80::2".parse::<IpAddr>().unwrap()
    );
    match bb.router.advert_interval {
        AdvertInterval::V3(cs) => assert_eq!(cs.get(), 25),
        other => panic!("{other:?}"),
    }
    assert!(matches!(bb.auth, Auth::None));
    assert!(b.config.ipvs.is_none(), "no virtual servers: no IPVS");
    assert!(b.config.health.is_empty());
}

#[test]
fn unicast_src_ip_is_used_and_a_missing_address_names_the_instance() {
    let mut cfg = toml(
        r#"
[[instances]]
name = "VI_X"
interface = "eth9"
vrid = 1
vips = ["10.9.0.100/24"]
"#,
    );
    let mut asked = Vec::new();
    let e = build::build(&cfg, &mut resolver(&mut asked), &accounts()).unwrap_err();
    assert!(matches!(e, BuildError::PrimaryAddress { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("\"VI_X\"") && text.contains("eth9") && text.contains("IPv4"),
        "{text}"
    );
    cfg.instances[0].unicast_src_ip = Some("10.9.0.7".parse().unwrap());
    let mut asked = Vec::new();
    let b = build::build(&cfg, &mut resolver(&mut asked), &accounts()).unwrap();
    assert!(
        asked.is_empty(),
        "the resolver is not asked when unicast_src_ip is set"
    );
    assert_eq!(
        router_of(&b, 0).primary_address,
        "10.9.0.7".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn trackers_are_shared_by_name_with_per_instance_weights() {
    let cfg = toml(
        r#"
[[scripts]]
name = "chk"
command = "/bin/true --x"
interval_ms = 3000
timeout_ms = 700
weight = -20
rise = 2
fall = 3

[[scripts]]
name = "chk2"
command = "/bin/false"
interval_ms = 1500

[[instances]]
name = "A"
interface = "eth0"
vrid = 1
vips = ["192.168.10.100"]
track_interfaces = [{ name = "eth1", weight = -30 }]
track_scripts = [{ name = "chk" }]

[[instances]]
name = "B"
interface = "eth0"
vrid = 2
vips = ["192.168.10.101"]
track_interfaces = [{ name = "eth1" }]
track_scripts = [{ name = "chk", weight = 10 }, { name = "chk2" }]
"#,
    );
    let b = build_ok(&cfg);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    assert_eq!(d.tracker_count(), 3, "eth1, chk, chk2: each once");
    let kinds: Vec<TrackerKind> = (0..3)
        .map(|t| d.tracker_config(TrackerId(t)).unwrap().kind.clone())
        .collect();
    assert_eq!(
        kinds[0],
        TrackerKind::Interface {
            ifname: "eth1".into()
        }
    );
    assert_eq!(
        kinds[1],
        TrackerKind::Script {
            argv: vec!["/bin/true".into(), "--x".into()]
        }
    );
    let chk = d.tracker_config(TrackerId(1)).unwrap();
    assert_eq!((chk.rise, chk.fall), (2, 3));
    let a = d.instance_config(InstanceId(0)).unwrap();
    let w: Vec<(u32, i32)> = a.track.iter().map(|t| (t.tracker.0, t.weight)).collect();
    assert_eq!(w, [(0, -30), (1, -20)]);
    let bb = d.instance_config(InstanceId(1)).unwrap();
    let w: Vec<(u32, i32)> = bb.track.iter().map(|t| (t.tracker.0, t.weight)).collect();
    assert_eq!(w, [(0, 0), (1, 10), (2, 0)]);
    assert_eq!(b.config.track_interval, Duration::from_millis(1500));
    assert_eq!(b.config.track_timeout, Duration::from_millis(1500));
    assert!(
        b.notes.iter().any(|n| n.contains("one interval")),
        "{:?}",
        b.notes
    );
}

#[test]
fn sync_groups_and_resource_groups_become_members_and_steps() {
    let cfg = toml(
        r#"
[[instances]]
name = "A"
interface = "eth0"
vrid = 1
vips = ["192.168.10.100/24"]

[[instances]]
name = "B"
interface = "eth1"
vrid = 2
vips = ["10.0.0.100/24"]

[[sync_groups]]
name = "G"
instances = ["B", "A"]
notify = { master = "/bin/true g" }

[[resource_groups]]
name = "web"
instance = "A"
steps = [
  { kind = "address", address = "192.168.10.102/24 label eth0:9" },
  { kind = "script", start = "/etc/ha/mount start", stop = "/etc/ha/mount stop" },
]
"#,
    );
    let b = build_ok(&cfg);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let g = d.group_of(InstanceId(0)).unwrap();
    assert_eq!(d.group_members(g), [InstanceId(1), InstanceId(0)]);
    let a = d.instance_config(InstanceId(0)).unwrap();
    assert_eq!(a.steps.len(), 2);
    // An address step is the runtime's own (added and announced like a VIP), on the
    // instance's interface unless it names one.
    match &a.steps[0].kind {
        StepKind::Address(v) => {
            assert_eq!(v.addr.to_string(), "192.168.10.102");
            assert_eq!(v.prefix, 24);
            assert_eq!(v.label.as_deref(), Some("eth0:9"));
            assert_eq!(v.dev_or(&a.interface), "eth0");
        }
        other => panic!("{other:?}"),
    }
    match &a.steps[1].kind {
        StepKind::Command { start, stop } => {
            assert_eq!(start, &["/etc/ha/mount", "start"]);
            assert_eq!(stop, &["/etc/ha/mount", "stop"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(d.instance_config(InstanceId(1)).unwrap().steps.is_empty());
}

const VS: &str = r#"
[[instances]]
name = "A"
interface = "eth0"
vrid = 1
vips = ["192.168.10.100/24"]

[[virtual_servers]]
name = "web"
address = "192.168.10.100"
port = 80
scheduler = "rr"
method = "dr"
persistence_timeout_s = 50
persistence_granularity = "255.255.255.0"
quorum = 3
hysteresis = 1
sorry_server = { address = "10.0.0.200" }
delay_loop_ms = 6000
virtualhost = "www.example.com"

[[virtual_servers.real_servers]]
address = "10.0.0.11"
weight = 3
inhibit_on_failure = true

[[virtual_servers.real_servers.checks]]
kind = "http"
connect_timeout_ms = 3000
retry = 3
delay_before_retry_ms = 2000
urls = [
    { path = "/health", status_code = 200 },
    { path = "/index.html", digest = "9b3a0c85a887a256d6939da88aabd8cd" },
]

[[virtual_servers.real_servers]]
address = "10.0.0.12"
port = 80

[[virtual_servers.real_servers.checks]]
kind = "tcp"
connect_ip = "10.0.0.99"
connect_port = 8080
bind_ip = "10.0.0.1"

[[virtual_servers.real_servers.checks]]
kind = "misc"
misc_path = "/usr/local/bin/check_rs 10.0.0.12"
misc_timeout_ms = 4000
misc_dynamic = true

[[virtual_servers]]
name = "dns"
fwmark = 10
protocol = "udp"
scheduler = "mh"
method = "tun"
alpha = true

[[virtual_servers.real_servers]]
address = "10.1.0.1"

[[virtual_servers.real_servers.checks]]
kind = "dns"
dns_type = "A"
dns_name = "example.com"

[[virtual_servers.real_servers.checks]]
kind = "smtp"
helo_name = "lb.example.com"
"#;

#[test]
fn virtual_servers_become_ipvs_services_and_health_targets() {
    let b = build_ok(&toml(VS));
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let desired = d.desired_ipvs();
    assert_eq!(desired.len(), 2);
    let web = &desired[0];
    assert_eq!(
        web.service.key,
        ServiceKey::tcp("192.168.10.100:80".parse().unwrap())
    );
    assert_eq!(web.service.scheduler.name(), "rr");
    let p = web.service.persistence.unwrap();
    assert_eq!((p.timeout, p.netmask), (50, 24));
    // Both servers start alive (no alpha): port defaults to the service's.
    let addrs: Vec<String> = web
        .destinations
        .iter()
        .map(|d| d.addr.to_string())
        .collect();
    assert_eq!(addrs, ["10.0.0.11:80", "10.0.0.12:80"]);
    assert_eq!(web.destinations[0].weight, 3);
    assert_eq!(web.destinations[0].forward, Forward::Route);
    // alpha: the fwmark pool starts dead, so the sorry server (none here) ... and no member.
    let dns = &desired[1];
    assert!(matches!(
        dns.service.key,
        ServiceKey::Fwmark { mark: 10, .. }
    ));
    assert!(dns.destinations.is_empty(), "{dns:?}");

    // One target per URL, per check.
    let h = &b.config.health;
    assert_eq!(h.len(), 2 + 2 + 2);
    let web_id = build::virtual_server_ids(&toml(VS))["web"];
    assert!(h[..4].iter().all(|t| t.server == web_id));
    assert_eq!(
        (h[0].index, h[1].index, h[2].index, h[3].index),
        (0, 0, 1, 1)
    );
    match &*h[0].target.check {
        Check::Http(c) => {
            assert_eq!(c.addr, "10.0.0.11:80".parse().unwrap());
            assert_eq!(c.path, "/health");
            assert_eq!(c.host.as_deref(), Some("www.example.com"));
            assert!(c.status_ok(200) && !c.status_ok(204));
            assert!(c.tls.is_none());
        }
        other => panic!("{other:?}"),
    }
    match &*h[1].target.check {
        Check::Http(c) => {
            assert_eq!(c.digest.unwrap()[0], 0x9b);
            assert!(c.status_ok(204), "no status_code: any 2xx");
        }
        other => panic!("{other:?}"),
    }
    let t = &h[0].target;
    assert_eq!(t.interval, Duration::from_secs(6));
    assert_eq!(t.timeout, Duration::from_secs(3));
    assert_eq!(t.retries, 3);
    assert_eq!(t.delay_before_retry, Duration::from_secs(2));
    assert_eq!(t.start, StartState::Up);
    match &*h[2].target.check {
        Check::Tcp(c) => {
            assert_eq!(c.addr, "10.0.0.99:8080".parse().unwrap());
            assert_eq!(c.socket.bind_addr, Some("10.0.0.1".parse().unwrap()));
        }
        other => panic!("{other:?}"),
    }
    match &*h[3].target.check {
        Check::Script(c) => {
            assert_eq!(c.argv, ["/usr/local/bin/check_rs", "10.0.0.12"]);
            assert!(c.dynamic);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h[3].target.timeout, Duration::from_secs(4));
    match &*h[4].target.check {
        Check::Dns(c) => {
            assert_eq!(c.server, "10.1.0.1:53".parse().unwrap());
            assert_eq!(c.name, "example.com");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h[4].target.start, StartState::Down, "alpha");
    match &*h[5].target.check {
        Check::Smtp(c) => {
            assert_eq!(c.addr, "10.1.0.1:25".parse().unwrap());
            assert_eq!(c.helo_name, "lb.example.com");
        }
        other => panic!("{other:?}"),
    }
    let ipvs = b.config.ipvs.as_ref().expect("virtual servers need IPVS");
    assert!(ipvs.remove_on_stop);
    assert!(ipvs.sync_daemon.is_none());
}

#[test]
fn a_check_with_no_port_names_its_virtual_and_real_server() {
    let cfg = toml(
        r#"
[[virtual_servers]]
name = "fw"
fwmark = 3

[[virtual_servers.real_servers]]
address = "10.1.0.1"

[[virtual_servers.real_servers.checks]]
kind = "tcp"
"#,
    );
    let mut asked = Vec::new();
    let e = build::build(&cfg, &mut resolver(&mut asked), &accounts()).unwrap_err();
    let t = e.to_string();
    assert!(
        t.contains("\"fw\"")
            && t.contains("10.1.0.1")
            && t.contains("TCP_CHECK")
            && t.contains("connect_port"),
        "{t}"
    );
}

#[test]
fn sample_toml_builds_completely() {
    let loaded = director::load_toml_file(&samples().join("ha-director.toml")).unwrap();
    let b = build_ok(&loaded.config);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    assert_eq!(d.instance_count(), 2);
    // web-http is a resource-group step of VI_EXT: not in IPVS before VI_EXT is master; the
    // group's 3 + 2 addresses and its fwmark are 6 services.
    assert_eq!(d.desired_ipvs().len(), 2 + 6);
    assert_eq!(d.pool_count(), 4);
    // 2 URLs + tcp, 1 URL, dns + smtp + misc + udp + ping.
    assert_eq!(b.config.health.len(), 3 + 1 + 5);
    // The health task keeps this list for the whole run: no spare room (pushed one by one,
    // it would have room for 16).
    assert_eq!(b.config.health.capacity(), b.config.health.len());
    assert_eq!(
        b.config.script_user.map(|u| (u.uid, u.gid)),
        Some((996, 995))
    );
    // VI_INT's unicast_src_ip; VI_EXT from the resolver.
    assert_eq!(
        router_of(&b, 1).primary_address,
        "10.0.0.1".parse::<IpAddr>().unwrap()
    );
    let web = (0..4)
        .map(|i| d.pool(ha_failover::core::VirtualServerId(i)).unwrap().0)
        .find(|c| c.name == "web-http")
        .unwrap();
    assert_eq!(
        web.gate.as_ref().map(|g| g.effect),
        Some(ha_failover::core::GateEffect::Install)
    );
    match &*b.config.health[3].target.check {
        Check::Http(c) => assert!(c.tls.is_some(), "SSL_GET is HTTPS"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&*b.config.health[7].target.check, Check::Udp(_)));
    assert!(matches!(&*b.config.health[8].target.check, Check::Ping(_)));
}

/// UDP_CHECK and PING_CHECK from a keepalived.conf become `Check::Udp` / `Check::Ping` health
/// targets with keepalived's options, defaults and timing.
#[test]
fn udp_and_ping_checks_become_udp_and_ping_targets() {
    let text = "virtual_server 10.0.0.1 53 {
 delay_loop 7
 protocol UDP
 real_server 10.0.0.2 53 {
  UDP_CHECK {
   connect_timeout 2
   bindto 10.0.0.1
   bind_port 40000
   warmup 3
   retry 4
   delay_before_retry 0.5
   payload 01 02 0304
   require_reply 8x 0
   min_reply_length 3
   max_reply_length 600
  }
  UDP_CHECK {
   connect_ip 10.0.0.3
   connect_port 5000
  }
  UDP_CHECK {
   require_reply
  }
  PING_CHECK {
   connect_ip 10.0.0.9
  }
  PING_CHECK {
  }
 }
}
";
    let loaded = director::load_keepalived_str(text, Path::new("k.conf"))
        .unwrap_or_else(|e| panic!("{}", e[0]));
    let b = build_ok(&loaded.config);
    let h = &b.config.health;
    assert_eq!(h.len(), 5);
    match &*h[0].target.check {
        Check::Udp(c) => {
            assert_eq!(c.addr, "10.0.0.2:53".parse().unwrap());
            assert_eq!(c.payload, [1, 2, 3, 4]);
            assert!(c.require_reply);
            let m = c.reply_match.as_ref().expect("require_reply HEX_STR");
            assert_eq!(
                (m.data.as_slice(), m.mask.as_slice()),
                (&[0x80, 0][..], &[0x0f, 0][..])
            );
            assert_eq!((m.min_len, m.max_len), (3, 600));
            assert_eq!(c.socket.bind_addr, Some("10.0.0.1".parse().unwrap()));
            assert_eq!(c.socket.bind_port, Some(40000));
        }
        other => panic!("{other:?}"),
    }
    let t = &h[0].target;
    assert_eq!(t.timeout, Duration::from_secs(2));
    assert_eq!(t.interval, Duration::from_secs(7));
    assert_eq!(t.warmup, Duration::from_secs(3));
    assert_eq!(t.retries, 4);
    assert_eq!(t.delay_before_retry, Duration::from_millis(500));
    match &*h[1].target.check {
        Check::Udp(c) => {
            assert_eq!(c.addr, "10.0.0.3:5000".parse().unwrap());
            assert_eq!(
                c.payload, *b"keepalived check - keepalived ch",
                "keepalived's default payload"
            );
            assert!(!c.require_reply && c.reply_match.is_none() && c.expect.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h[1].target.timeout,
        Duration::from_secs(5),
        "connect_timeout default"
    );
    assert_eq!(
        h[1].target.warmup, h[1].target.interval,
        "keepalived spreads first checks over one delay_loop by default"
    );
    match &*h[2].target.check {
        Check::Udp(c) => assert!(c.require_reply && c.reply_match.is_none()),
        other => panic!("{other:?}"),
    }
    match &*h[3].target.check {
        Check::Ping(c) => assert_eq!(c.addr, "10.0.0.9".parse::<IpAddr>().unwrap()),
        other => panic!("{other:?}"),
    }
    match &*h[4].target.check {
        Check::Ping(c) => assert_eq!(c.addr, "10.0.0.2".parse::<IpAddr>().unwrap()),
        other => panic!("{other:?}"),
    }
    assert!(h.iter().all(|t| t.index == 0));
}

#[test]
fn sample_keepalived_confs_build() {
    for f in ["lvs-dr-master.conf", "all-checks.conf"] {
        let loaded = director::load_keepalived_file(&samples().join(f))
            .unwrap_or_else(|e| panic!("{f}: {}", e[0]));
        let mut asked = Vec::new();
        let r = build::build(&loaded.config, &mut resolver(&mut asked), &accounts());
        let b = r.unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            b.config.director.clone().build(Instant::now()).is_ok(),
            "{f}"
        );
        assert_eq!(
            b.config.ipvs.is_some(),
            !loaded.config.virtual_servers.is_empty(),
            "{f}"
        );
    }
}

#[test]
fn keepalived_sync_daemon_new_and_old_spellings() {
    let base = |extra_global: &str, extra_inst: &str| {
        format!(
            "global_defs {{\n  {extra_global}\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  {extra_inst}\n  virtual_ipaddress {{\n    192.168.10.100\n  }}\n}}\n"
        )
    };
    let l = director::load_keepalived_str(
        &base(
            "lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8850 ttl 2 group 224.0.0.82",
            "",
        ),
        Path::new("k.conf"),
    )
    .unwrap();
    let sd = l.config.global.sync_daemon.clone().unwrap();
    assert_eq!(
        (
            sd.interface.as_str(),
            sd.instance.as_str(),
            sd.id,
            sd.maxlen,
            sd.port,
            sd.ttl
        ),
        ("eth1", "VI_1", Some(7), Some(1400), Some(8850), Some(2))
    );
    assert_eq!(sd.group, Some("224.0.0.82".parse().unwrap()));
    let b = build_ok(&l.config);
    let o = b.config.ipvs.unwrap().sync_daemon.unwrap();
    assert_eq!(o.instance, "VI_1");
    assert_eq!(o.daemon.role, DaemonRole::Backup);
    assert_eq!((o.daemon.ifname.as_str(), o.daemon.sync_id), ("eth1", 7));
    assert_eq!(o.daemon.mcast_ttl, Some(2));
    // TOML round trip.
    let t = director::toml_format::to_toml(&l.config).unwrap();
    assert!(t.contains("[global.sync_daemon]"), "{t}");
    assert_eq!(toml(&t), l.config);

    // Old spelling: the sync id is the VRID.
    let l = director::load_keepalived_str(
        &base("", "lvs_sync_daemon_interface eth2"),
        Path::new("k.conf"),
    )
    .unwrap();
    let b = build_ok(&l.config);
    let o = b.config.ipvs.unwrap().sync_daemon.unwrap();
    assert_eq!(
        (
            o.daemon.ifname.as_str(),
            o.daemon.sync_id,
            o.instance.as_str()
        ),
        ("eth2", 51, "VI_1")
    );

    // Errors: an unknown instance (validation), a bad option (reader, with the line).
    let e =
        director::load_keepalived_str(&base("lvs_sync_daemon eth1 VI_9", ""), Path::new("k.conf"))
            .unwrap_err();
    assert!(
        e[0].to_string().contains("unknown instance \"VI_9\""),
        "{}",
        e[0]
    );
    let e = director::load_keepalived_str(
        &base("lvs_sync_daemon eth1 VI_1 speed 3", ""),
        Path::new("k.conf"),
    )
    .unwrap_err();
    assert!(e[0].to_string().starts_with("k.conf:2:"), "{}", e[0]);
}

#[test]
fn global_observability_settings() {
    let c = toml(
        r#"
[global]
status_socket = "/tmp/x/status.sock"
metrics_listen = "127.0.0.1:9650"
"#,
    );
    assert_eq!(
        c.global.status_socket_path(),
        PathBuf::from("/tmp/x/status.sock")
    );
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9650".parse().unwrap())
    );
    let d = toml("");
    assert_eq!(
        d.global.status_socket_path(),
        PathBuf::from("/run/ha-director/status.sock")
    );
    assert!(d.global.metrics_listen.is_none());
    let e = director::load_toml_str("[global]\nmetrics_listen = \"nope\"\n", Path::new("g.toml"))
        .unwrap_err();
    assert!(e[0].to_string().starts_with("g.toml:2:"), "{}", e[0]);
}

#[test]
fn script_users_resolve_by_name_or_number() {
    let a = accounts();
    let u = build::resolve_user(&a, "keepalived_script", None).unwrap();
    assert_eq!((u.uid, u.gid), (996, 995));
    let u = build::resolve_user(&a, "keepalived_script", Some("nogroup")).unwrap();
    assert_eq!((u.uid, u.gid), (996, 65534));
    let u = build::resolve_user(&a, "1234", Some("4321")).unwrap();
    assert_eq!((u.uid, u.gid), (1234, 4321));
    let e = build::resolve_user(&a, "nobody_here", None).unwrap_err();
    assert!(e.to_string().contains("nobody_here"), "{e}");
    assert!(build::resolve_user(&a, "root", Some("nogroup_x")).is_err());
}

#[test]
fn script_security_refuses_scripts_others_can_modify() {
    let dir = std::env::temp_dir().join(format!("director-build-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("check.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = |cmd: &str, security: bool| {
        format!(
            "[global]\nscript_security = {security}\n\n[[scripts]]\nname = \"chk\"\ncommand = \"{cmd} --arg\"\n"
        )
    };
    let file = Path::new("sec.toml");
    let e = director::load_toml_str(&text(script.to_str().unwrap(), true), file).unwrap_err();
    let msg = e[0].to_string();
    assert!(
        msg.starts_with("sec.toml:5:"),
        "file:line of the script: {msg}"
    );
    assert!(
        msg.contains("writable by others") && msg.contains("check.sh"),
        "{msg}"
    );
    // Without script security it loads; a root-owned system program loads with it.
    assert!(director::load_toml_str(&text(script.to_str().unwrap(), false), file).is_ok());
    assert!(director::load_toml_str(&text("/bin/sh", true), file).is_ok());
    // A program found through PATH is checked too.
    assert!(director::load_toml_str(&text("sh", true), file).is_ok());
    // A folder writable by others (without the sticky bit) makes its scripts insecure.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = director::validate::script_insecurity(&script);
    assert!(r.is_err(), "{r:?}");
    assert!(director::validate::script_insecurity(Path::new("/bin/sh")).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_per_script_user_other_than_the_global_one_is_refused() {
    let cfg = toml(
        r#"
[global]
script_user = "keepalived_script"

[[scripts]]
name = "chk"
command = "/bin/true"
user = "root"

[[instances]]
name = "A"
interface = "eth0"
vrid = 1
vips = ["192.168.10.100"]
track_scripts = [{ name = "chk" }]
"#,
    );
    let mut asked = Vec::new();
    let e = build::build(&cfg, &mut resolver(&mut asked), &accounts()).unwrap_err();
    assert!(
        matches!(e, BuildError::Script { ref name, .. } if name == "chk"),
        "{e}"
    );
    let mut ok = cfg.clone();
    ok.scripts[0].user = Some("keepalived_script".into());
    assert!(build::build(&ok, &mut resolver(&mut asked), &accounts()).is_ok());
}

#[test]
fn interface_addresses_come_from_getifaddrs() {
    assert_eq!(
        build::interface_address("lo", false).unwrap(),
        "127.0.0.1".parse::<IpAddr>().unwrap()
    );
    let e = build::interface_address("nosuchif0", false).unwrap_err();
    assert!(e.contains("no such address"), "{e}");
}

/// keepalived's rule (`vrrp_complete_instance`): sync-group members run no floating priority
/// unless the group says `sync_group_tracking_weight`. The project's own sample: VI_EXT is in
/// VG_1 with `track_interface { eth1 weight -30 }` and a `track_script` of weight -20.
#[test]
fn sync_group_members_ignore_tracking_weights_as_keepalived() {
    let path = samples().join("lvs-dr-master.conf");
    let loaded = director::load_keepalived_file(&path).unwrap_or_else(|e| panic!("{}", e[0]));
    let mut asked = Vec::new();
    let b = build::build(&loaded.config, &mut resolver(&mut asked), &accounts()).unwrap();
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let ext = d.instance_config(InstanceId(0)).unwrap();
    assert_eq!(ext.name, "VI_EXT");
    let kinds: Vec<(String, i32)> = ext
        .track
        .iter()
        .map(|t| {
            let k = &d.tracker_config(t.tracker).unwrap().kind;
            (format!("{k:?}"), t.weight)
        })
        .collect();
    // The interface only faults (weight 0); the weighted script is not tracked at all.
    assert!(
        kinds.iter().any(|(k, w)| k.contains("eth1") && *w == 0),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(k, _)| k.contains("Script")),
        "{kinds:?}"
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("VI_EXT") && n.contains("chk_haproxy") && n.contains("sync group")),
        "{:?}",
        b.notes
    );
    // With sync_group_tracking_weight the weights apply as configured.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "vrrp_sync_group VG_1 {",
        "vrrp_sync_group VG_1 {\n    sync_group_tracking_weight",
    );
    let loaded = director::load_keepalived_str(&text, &path).unwrap();
    assert!(loaded.config.sync_groups[0].tracking_weight);
    let b = build::build(&loaded.config, &mut resolver(&mut asked), &accounts()).unwrap();
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let ext = d.instance_config(InstanceId(0)).unwrap();
    let weights: Vec<i32> = ext.track.iter().map(|t| t.weight).collect();
    assert!(
        weights.contains(&-30) && weights.contains(&-20),
        "{weights:?}"
    );
}

/// The address owner (priority 255) ignores weighted tracking, as keepalived does.
#[test]
fn the_address_owner_ignores_weighted_tracking() {
    let cfg = toml(
        r#"
[[scripts]]
name = "chk"
command = "/bin/true"
weight = -10

[[instances]]
name = "A"
interface = "eth0"
vrid = 1
priority = 255
vips = ["192.168.10.100/24"]
track_interfaces = [{ name = "eth1", weight = -5 }, { name = "eth2", weight = 0 }]
track_scripts = [{ name = "chk" }]
"#,
    );
    let b = build_ok(&cfg);
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let a = d.instance_config(InstanceId(0)).unwrap();
    let tracked: Vec<String> = a
        .track
        .iter()
        .map(|t| {
            format!(
                "{:?}/{}",
                d.tracker_config(t.tracker).unwrap().kind,
                t.weight
            )
        })
        .collect();
    assert_eq!(tracked.len(), 1, "{tracked:?}");
    assert!(
        tracked[0].contains("eth2") && tracked[0].ends_with("/0"),
        "{tracked:?}"
    );
    assert_eq!(
        b.notes
            .iter()
            .filter(|n| n.contains("address owner"))
            .count(),
        2,
        "{:?}",
        b.notes
    );
}

/// keepalived `lower_prio_no_advert` (on in strict mode): the router discards lower-priority
/// adverts as RFC 9568 section 6.4.3 says, instead of answering them.
#[test]
fn lower_prio_no_advert_discards_lower_priority_adverts() {
    use ha_failover::vrrp::router::LowerPriorityPolicy;
    let text = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.168.200.16\n }\n}\n";
    let loaded = director::load_keepalived_str(text, Path::new("k.conf")).unwrap();
    let mut asked = Vec::new();
    let b = build::build(&loaded.config, &mut resolver(&mut asked), &accounts()).unwrap();
    assert_eq!(
        router_of(&b, 0).lower_priority,
        LowerPriorityPolicy::Discard
    );
    let loaded =
        director::load_keepalived_str(&text.replace(" vrrp_strict\n", ""), Path::new("k.conf"))
            .unwrap();
    let b = build::build(&loaded.config, &mut resolver(&mut asked), &accounts()).unwrap();
    assert_eq!(
        router_of(&b, 0).lower_priority,
        LowerPriorityPolicy::Readvertise
    );
}

/// keepalived `higher_prio_send_advert` reaches the router; off by default, as there.
#[test]
fn higher_prio_send_advert_reaches_the_router() {
    let text = "vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n higher_prio_send_advert\n virtual_ipaddress {\n  192.168.200.16\n }\n}\n";
    let mut asked = Vec::new();
    for (text, want) in [
        (text.to_string(), true),
        (text.replace(" higher_prio_send_advert\n", ""), false),
    ] {
        let loaded = director::load_keepalived_str(&text, Path::new("k.conf")).unwrap();
        let b = build::build(&loaded.config, &mut resolver(&mut asked), &accounts()).unwrap();
        assert_eq!(router_of(&b, 0).higher_priority_advert, want, "{text}");
    }
}

#[test]
fn check_settings_inherit_check_then_real_then_virtual_server_then_keepalived_defaults() {
    let conf = "SSL {\n certificate /etc/ka/client.pem\n key /etc/ka/client.key\n}\n\
virtual_server 10.0.0.1 443 {\n delay_loop 10\n connect_timeout 4\n virtualhost vs.example.org\n\
 real_server 10.0.0.2 443 {\n  retry 4\n  virtualhost rs.example.org\n\
  SSL_GET {\n   enable_sni\n   url {\n    path /a\n    status_code 200-204 301\n    regex \"^ok$\"\n    regex_no_match\n    regex_min_offset 2\n   }\n   url {\n    path /b\n    virtualhost url.example.org\n   }\n  }\n\
  HTTP_GET {\n   http_protocol 1.1\n   delay_before_retry 0.5\n   warmup 0\n   bind_if eth9\n   fwmark 12\n   url {\n    path /c\n   }\n  }\n\
  DNS_CHECK {\n   name example.org\n  }\n\
  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n\
 real_server 10.0.0.3 443 {\n  TCP_CHECK {\n  }\n }\n}\n";
    let l = ha_examples::director::load_keepalived_str(conf, std::path::Path::new("k.conf"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let b = build_ok(&l.config);
    let h = &b.config.health;
    assert_eq!(h.len(), 6, "two URLs, one each for HTTP, DNS, MISC, TCP");
    let http = |i: usize| match &*h[i].target.check {
        Check::Http(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    // SSL_GET /a: status ranges, the inverted pattern with its offset, SNI on with the real
    // server's virtualhost (no check or URL one), the client certificate, no verification.
    let a = http(0);
    assert!(a.status_ok(204) && a.status_ok(301) && !a.status_ok(205) && !a.status_ok(200 + 100));
    assert_eq!(a.body_regex.as_deref(), Some(r"^ok\n?\z"));
    assert!(a.body_regex_no_match);
    assert_eq!(
        (a.body_regex_min_offset, a.body_regex_max_offset),
        (2, None)
    );
    assert_eq!(a.host.as_deref(), Some("rs.example.org"));
    assert_eq!(
        a.protocol,
        HttpProtocol::Http10,
        "keepalived's default request"
    );
    let tls = a.tls.as_ref().unwrap();
    assert!(tls.send_sni);
    assert_eq!(tls.sni.as_deref(), Some("rs.example.org"));
    assert_eq!(tls.verify, TlsVerify::Off);
    assert_eq!(
        tls.client_cert,
        Some(ClientCert {
            cert_chain: "/etc/ka/client.pem".into(),
            key: "/etc/ka/client.key".into(),
        })
    );
    // SSL_GET /b: the URL's virtualhost wins.
    assert_eq!(http(1).host.as_deref(), Some("url.example.org"));
    assert_eq!(http(1).tls.unwrap().sni.as_deref(), Some("url.example.org"));
    // HTTP_GET /c: 1.1, bind_if and fwmark on the socket.
    let c = http(2);
    assert_eq!(c.protocol, HttpProtocol::Http11);
    assert_eq!(c.socket.interface.as_deref(), Some("eth9"));
    assert_eq!(c.socket.fwmark, Some(12));
    assert!(!h[0].log_all_failures);
    assert!(c.tls.is_none());
    let t = |i: usize| &h[i].target;
    // SSL_GET: retry from the real server, timeout from the virtual server, keepalived's
    // 3 s HTTP delay_before_retry, warmup one delay_loop.
    assert_eq!(t(0).retries, 4);
    assert_eq!(t(0).timeout, Duration::from_secs(4));
    assert_eq!(t(0).interval, Duration::from_secs(10));
    assert_eq!(t(0).delay_before_retry, Duration::from_secs(3));
    assert_eq!(t(0).warmup, Duration::from_secs(10));
    // HTTP_GET: its own delay_before_retry and warmup.
    assert_eq!(t(2).delay_before_retry, Duration::from_millis(500));
    assert_eq!(t(2).warmup, Duration::ZERO);
    // DNS_CHECK on the same real server: retry 4 from the real server; delay_before_retry is
    // keepalived's DNS default, the delay_loop.
    assert_eq!(t(3).retries, 4);
    assert_eq!(t(3).delay_before_retry, Duration::from_secs(10));
    // The other real server: keepalived's per-checker defaults (MISC: no retry is on the
    // first server; TCP here: retry 1, 1 s).
    assert_eq!(t(5).retries, 1);
    assert_eq!(t(5).delay_before_retry, Duration::from_secs(1));
    assert_eq!(
        t(5).timeout,
        Duration::from_secs(4),
        "virtual server's connect_timeout"
    );
    assert_eq!(
        t(4).retries,
        4,
        "MISC_CHECK takes the real server's retry too"
    );
    // A MISC_CHECK with no retry anywhere gets keepalived's 0.
    let conf2 = "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n  DNS_CHECK {\n  }\n }\n}\n";
    let l =
        ha_examples::director::load_keepalived_str(conf2, std::path::Path::new("k.conf")).unwrap();
    let b = build_ok(&l.config);
    assert_eq!(b.config.health[0].target.retries, 0);
    assert_eq!(b.config.health[1].target.retries, 3, "DNS_CHECK default");
}

#[test]
fn alert_plan_follows_keepalived_defaults() {
    let conf = "global_defs {\n router_id LB9\n notification_email {\n  ops@example.org\n }\n smtp_server 192.0.2.25\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\nvrrp_instance VJ {\n interface eth0\n virtual_router_id 2\n smtp_alert\n virtual_ipaddress {\n  10.0.0.2\n }\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 8080 {\n  TCP_CHECK {\n  }\n }\n}\nvirtual_server fwmark 7 {\n smtp_alert\n}\n";
    let l = ha_examples::director::load_keepalived_str(conf, std::path::Path::new("k.conf"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let plan = build_ok(&l.config).alerts.expect("smtp configured");
    assert_eq!(plan.router_id, "LB9");
    assert_eq!(
        plan.mail.server,
        "192.0.2.25:25".parse().unwrap(),
        "port 25 by default"
    );
    assert_eq!(plan.mail.timeout, Duration::from_secs(30));
    assert!(
        plan.mail.from.starts_with("keepalived@"),
        "{}",
        plan.mail.from
    );
    assert_eq!(
        plan.instances,
        [("VI".to_string(), false), ("VJ".to_string(), true)],
        "instances mail only when asked"
    );
    let vs = &plan.virtual_servers;
    assert_eq!(vs[0].label, "[10.0.0.1]:tcp:80");
    assert!(!vs[0].enabled, "virtual servers: off by default");
    assert_eq!(
        vs[0].real_servers,
        [("[10.0.0.2]:tcp:8080".to_string(), true)],
        "real servers: on by default (keepalived)"
    );
    assert_eq!((vs[1].label.as_str(), vs[1].enabled), ("FWM 7", true));
}

#[test]
fn file_checks_read_their_track_file_every_second() {
    let conf = "track_file maint {\n file /run/maint-rs1\n weight 3 reverse\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  weight 20\n  FILE_CHECK {\n   track_file maint\n  }\n  FILE_CHECK {\n   track_file maint\n   weight 0\n  }\n }\n}\n";
    let l = ha_examples::director::load_keepalived_str(conf, std::path::Path::new("k.conf"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let b = build_ok(&l.config);
    let h = &b.config.health;
    assert_eq!(h.len(), 2);
    match &*h[0].target.check {
        Check::File(f) => {
            assert_eq!(f.path, std::path::Path::new("/run/maint-rs1"));
            assert_eq!(
                (f.weight, f.reverse, f.base_weight),
                (3, true, 20),
                "the file's weight"
            );
        }
        other => panic!("{other:?}"),
    }
    match &*h[1].target.check {
        Check::File(f) => assert_eq!((f.weight, f.reverse), (0, false), "the check's own weight"),
        other => panic!("{other:?}"),
    }
    let t = &h[0].target;
    assert_eq!(
        (t.interval, t.retries, t.warmup),
        (Duration::from_secs(1), 0, Duration::ZERO)
    );
}

#[test]
fn resource_steps_service_steps_fence_and_their_timeouts() {
    let b = build_ok(&toml(
        r#"[global]
service_command = "/usr/sbin/service-ctl"

[[instances]]
name = "VI_1"
interface = "eth0"
vrid = 1
vips = ["10.0.0.1/24"]
fence = { command = "/usr/local/bin/fence-peer lb2", timeout_ms = 2500 }

[[resource_groups]]
name = "rg"
instance = "VI_1"
steps = [
    { kind = "address", address = "10.0.0.50/24 dev eth1" },
    { kind = "script", start = "/bin/mount /data", stop = "/bin/umount /data", timeout_ms = 700 },
    { kind = "service", name = "nginx", timeout_ms = 9000 },
]
"#,
    ));
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    let c = d.instance_config(InstanceId(0)).unwrap();
    assert!(c.fence);
    assert_eq!(c.steps.len(), 3);
    match &c.steps[0].kind {
        StepKind::Address(v) => {
            assert_eq!(v.addr, "10.0.0.50".parse::<IpAddr>().unwrap());
            assert_eq!(v.dev.as_deref(), Some("eth1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.steps[0].timeout, None);
    assert_eq!(c.steps[1].timeout, Some(Duration::from_millis(700)));
    assert_eq!(c.steps[2].kind, StepKind::Service("nginx".into()));
    assert_eq!(c.steps[2].timeout, Some(Duration::from_secs(9)));
    let o = &b.config.instances["VI_1"];
    assert_eq!(
        o.fence.as_deref(),
        Some(&["/usr/local/bin/fence-peer".to_string(), "lb2".to_string()][..])
    );
    assert_eq!(o.fence_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(b.config.service_command, ["/usr/sbin/service-ctl"]);
}

/// heartbeat's deadtime, initdead and warntime: built into the router, refused when they
/// cannot work (with the file, line and column of the instance), noted under twice the
/// interval; the control socket's default.
#[test]
fn heartbeat_timings_are_built_and_validated() {
    let text = |dead: u64, init: u64, warn: u64| {
        format!(
            r#"
[global]
control_socket = "/run/x/control.sock"

[[instances]]
name = "hb"
interface = "eth0"
vrid = 7
advert_int_ms = 1000
vips = ["192.168.10.100/24"]
dead_interval_ms = {dead}
init_dead_ms = {init}
warn_interval_ms = {warn}
"#
        )
    };
    let cfg = toml(&text(10_000, 30_000, 5_000));
    assert_eq!(
        cfg.global.control_socket_path(),
        PathBuf::from("/run/x/control.sock")
    );
    let b = build_ok(&cfg);
    let r = router_of(&b, 0);
    assert_eq!(r.dead_interval, Some(Duration::from_secs(10)));
    assert_eq!(r.initial_dead_interval, Some(Duration::from_secs(30)));
    assert_eq!(r.warn_interval, Some(Duration::from_secs(5)));
    assert!(b.notes.iter().all(|n| !n.contains("dead_interval_ms")));
    // Under twice the interval: accepted, with a note.
    let b = build_ok(&toml(&text(1_500, 30_000, 1_000)));
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("less than twice advert_int_ms")),
        "{:?}",
        b.notes
    );
    // Not longer than the interval, or a warning after the dead interval: refused.
    for (t, word) in [
        (text(1_000, 30_000, 500), "dead_interval_ms 1000"),
        (text(10_000, 900, 5_000), "init_dead_ms 900"),
        (text(10_000, 30_000, 10_000), "warn_interval_ms 10000"),
    ] {
        let errs = director::load_toml_str(&t, Path::new("hb.toml")).unwrap_err();
        let msg = errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(msg.contains(word), "{msg}");
        assert!(msg.contains("hb.toml:"), "{msg}");
    }
    // Without them: the RFC timing, and the default control socket.
    let cfg = toml(
        r#"
[[instances]]
name = "plain"
interface = "eth0"
vrid = 8
vips = ["192.168.10.101/24"]
"#,
    );
    let r = router_of(&build_ok(&cfg), 0);
    assert_eq!(
        (r.dead_interval, r.initial_dead_interval, r.warn_interval),
        (None, None, None)
    );
    assert_eq!(
        cfg.global.control_socket_path(),
        PathBuf::from(director::model::DEFAULT_CONTROL_SOCKET)
    );
    // Beside a status socket of another name, one of its own: two directors that share a
    // folder never share a control socket.
    let mut g = cfg.global.clone();
    for (status, control) in [
        ("/tmp/lab/a.sock", "/tmp/lab/a.control.sock"),
        ("/tmp/lab/b.sock", "/tmp/lab/b.control.sock"),
        ("/run/x/status.sock", "/run/x/control.sock"),
        ("/run/x/status", "/run/x/status.control"),
        ("rel.sock", "rel.control.sock"),
    ] {
        g.status_socket = Some(status.into());
        assert_eq!(g.control_socket_path(), PathBuf::from(control), "{status}");
    }
}
