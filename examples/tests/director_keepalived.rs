//! keepalived.conf reader: samples, old spellings, warnings, safety errors, syntax errors.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use ha_examples::director::keepalived::{self, KeepalivedErrorKind, lexer, parse};
use ha_examples::director::model::*;
use ha_examples::director::{ConfigError, load_keepalived_file, load_keepalived_str};
use ha_testsupport::alloc::{CountingAlloc, live_bytes, peak_bytes_during};

/// Counts this binary's heap (per thread) for the load's peak.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tmpdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "ha-director-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reads `text` as if it were /virtual/keepalived.conf; panics on errors.
fn ok(text: &str) -> ha_examples::director::Loaded {
    match load_keepalived_str(text, Path::new("/virtual/keepalived.conf")) {
        Ok(l) => l,
        Err(e) => panic!(
            "unexpected errors: {:#?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        ),
    }
}

/// Reads `text`, expects errors; returns them displayed.
fn errs(text: &str) -> Vec<String> {
    match load_keepalived_str(text, Path::new("k.conf")) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const MIN_INSTANCE: &str = "vrrp_instance VI { interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n }\n";

#[test]
fn classic_lvs_dr_pair_parses_to_the_expected_model() {
    let path = samples().join("lvs-dr-master.conf");
    let l = load_keepalived_file(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let c = &l.config;
    assert_eq!(c.global.router_id.as_deref(), Some("LB1"));
    assert!(c.global.script_security);
    assert_eq!(c.global.script_user.as_deref(), Some("keepalived_script"));

    assert_eq!(
        c.scripts,
        vec![TrackScript {
            name: "chk_haproxy".into(),
            command: "/usr/local/bin/check_lb.sh --quick".into(),
            interval_ms: 2000,
            timeout_ms: Some(1500),
            weight: -20,
            reverse: false,
            init_fail: false,
            rise: 2,
            fall: 3,
            user: None,
            group: None,
        }]
    );

    assert_eq!(c.sync_groups.len(), 1);
    assert_eq!(c.sync_groups[0].name, "VG_1");
    assert_eq!(c.sync_groups[0].instances, vec!["VI_EXT", "VI_INT"]);
    assert_eq!(
        c.sync_groups[0].notify.master.as_deref(),
        Some("/etc/keepalived/notify.sh master")
    );

    assert_eq!(c.instances.len(), 2);
    let ext = &c.instances[0];
    assert_eq!(ext.name, "VI_EXT");
    assert_eq!(ext.version, 2);
    assert_eq!(ext.state, InitialState::Master);
    assert_eq!(ext.interface, "eth0");
    assert_eq!(ext.vrid, 51);
    assert_eq!(ext.priority, 150);
    assert_eq!(ext.advert_int_ms, 1000);
    assert_eq!(
        ext.auth,
        Some(Auth {
            pass: "s3cret".into()
        })
    );
    assert_eq!(
        ext.vips,
        vec![
            Vip {
                address: ip("192.168.10.100"),
                prefix: 24,
                dev: Some("eth0".into()),
                label: None,
                broadcast: None
            },
            Vip {
                address: ip("192.168.10.101"),
                prefix: 24,
                dev: Some("eth0".into()),
                label: Some("eth0:1".into()),
                broadcast: None
            },
        ]
    );
    assert_eq!(
        ext.track_interfaces,
        vec![TrackInterface {
            name: "eth1".into(),
            weight: -30,
            reverse: false,
        }]
    );
    assert_eq!(
        ext.track_scripts,
        vec![TrackScriptRef {
            name: "chk_haproxy".into(),
            weight: None,
            reverse: None,
        }]
    );
    assert_eq!(
        ext.notify.backup.as_deref(),
        Some("/etc/keepalived/backup.sh")
    );
    // `{` on the line after `vrrp_instance VI_INT`.
    let int = &c.instances[1];
    assert_eq!(int.name, "VI_INT");
    assert_eq!(
        int.vips,
        vec![Vip {
            address: ip("10.0.0.254"),
            prefix: 24,
            dev: None,
            label: None,
            broadcast: None
        }]
    );

    // virtual_server with HTTP_GET and TCP_CHECK, then the included one.
    assert_eq!(c.virtual_servers.len(), 2);
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.name, "192.168.10.100:80");
    assert_eq!(
        (vs.address, vs.port, vs.fwmark),
        (Some(ip("192.168.10.100")), Some(80), None)
    );
    assert_eq!(vs.scheduler, "wlc");
    assert_eq!(vs.method, Method::Dr);
    assert_eq!(vs.protocol, Protocol::Tcp);
    assert_eq!(vs.persistence_timeout_s, Some(50));
    assert_eq!(vs.delay_loop_ms, 6000);
    assert_eq!(
        vs.sorry_server,
        Some(SorryServer {
            address: ip("10.0.0.200"),
            port: Some(80),
            inhibit: false,
            method: None,
            tunnel: None,
        })
    );
    assert_eq!(vs.real_servers.len(), 2);
    let rs1 = &vs.real_servers[0];
    assert_eq!(
        (rs1.address, rs1.port, rs1.weight, rs1.inhibit_on_failure),
        (ip("10.0.0.11"), Some(80), 3, Some(true))
    );
    let mut http = Check::new(CheckKind::Http);
    http.urls = vec![
        UrlCheck {
            status_code: Some("200".parse().unwrap()),
            ..UrlCheck::new("/health")
        },
        UrlCheck {
            digest: Some("9b3a0c85a887a256d6939da88aabd8cd".into()),
            ..UrlCheck::new("/index.html")
        },
    ];
    http.connect_timeout_ms = Some(3000);
    http.retry = Some(3);
    http.delay_before_retry_ms = Some(2000);
    assert_eq!(rs1.checks, vec![http]);
    let mut tcp = Check::new(CheckKind::Tcp);
    tcp.connect_port = Some(80);
    tcp.connect_timeout_ms = Some(2500);
    assert_eq!(vs.real_servers[1].checks, vec![tcp]);

    let inc = &c.virtual_servers[1];
    assert_eq!(inc.name, "192.168.10.101:443");
    assert_eq!(inc.scheduler, "rr");
    assert_eq!(inc.real_servers[0].checks[0].kind, CheckKind::Ssl);
    assert_eq!(inc.real_servers[0].checks[0].retry, Some(2));

    // Unsupported keywords are listed with file and line.
    let w: Vec<(String, u32, String)> = l
        .warnings
        .iter()
        .map(|w| {
            (
                w.location
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                w.location.line,
                w.keyword.clone(),
            )
        })
        .collect();
    assert_eq!(
        w,
        Vec::<(String, u32, String)>::new(),
        "every keyword is run"
    );
    let smtp = c.global.smtp.as_ref().expect("the sample mails");
    assert_eq!(smtp.to, ["ops@example.com"]);
    assert_eq!(smtp.server, "127.0.0.1:25".parse().unwrap());
    assert!(l.warnings.iter().all(|w| w.action.contains("ignored")));
}

#[test]
fn every_checker_fwmark_and_v3() {
    let l = load_keepalived_file(&samples().join("all-checks.conf"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let i = &l.config.instances[0];
    assert_eq!(i.version, 3, "global vrrp_version 3 is the default");
    assert_eq!(i.advert_int_ms, 500);
    assert!(i.nopreempt);
    // keepalived 2.2.7 resets preempt_delay with nopreempt ("incompatible with nopreempt
    // mode - resetting"), and so does the reader, with a warning at the keyword.
    assert_eq!(i.preempt_delay_ms, 0);
    assert!(
        l.warnings
            .iter()
            .any(|w| w.keyword == "preempt_delay" && w.location.line == 12)
    );
    assert_eq!(
        i.unicast_src_ip,
        Some(ip("fd00::1")),
        "mcast_src_ip is the old spelling"
    );
    assert_eq!(i.unicast_peers, vec![ip("fd00::2")]);
    assert_eq!(i.notify.any.as_deref(), Some("/usr/local/bin/notify-all"));
    let vs = &l.config.virtual_servers[0];
    assert_eq!(
        (vs.fwmark, vs.address, vs.name.as_str()),
        (Some(10), None, "fwmark:10")
    );
    assert_eq!(
        (vs.method, vs.protocol, vs.quorum, vs.hysteresis),
        (Method::Tun, Protocol::Udp, 2, 1)
    );
    assert_eq!(vs.quorum_up.as_deref(), Some("/bin/true up"));
    let checks = &vs.real_servers[0].checks;
    let kinds: Vec<CheckKind> = checks.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            CheckKind::Dns,
            CheckKind::Smtp,
            CheckKind::Misc,
            CheckKind::Udp,
            CheckKind::Ping
        ]
    );
    assert_eq!(l.warnings.len(), 1, "only preempt_delay: {:?}", l.warnings);
    assert_eq!(checks[0].dns_type.as_deref(), Some("A"));
    assert_eq!(checks[0].dns_name.as_deref(), Some("example.com"));
    // Old SMTP `host {}` form: the host's address plus the block's settings.
    assert_eq!(checks[1].connect_ip, Some(ip("10.1.0.9")));
    assert_eq!(checks[1].connect_port, Some(25));
    assert_eq!(checks[1].connect_timeout_ms, Some(4000));
    assert_eq!(checks[1].helo_name.as_deref(), Some("lb.example.com"));
    assert_eq!(
        checks[2].misc_path.as_deref(),
        Some("/usr/local/bin/check_rs 10.1.0.1")
    );
    assert_eq!(checks[2].misc_timeout_ms, Some(5000));
    assert!(checks[2].misc_dynamic);
}

#[test]
fn old_spellings_map_to_the_new_ones() {
    let text = format!(
        "{MIN_INSTANCE}
vrrp_instance OLD {{
  interface eth1
  virtual_router_id 2
  mcast_src_ip 10.0.1.5
  virtual_ipaddress {{
    10.0.1.1
  }}
}}
virtual_server 10.0.0.1 80 {{
  lb_algo sh
  lb_kind DR
  real_server 10.0.0.2 80 {{
    HTTP_GET {{
      url {{
        path /
      }}
      nb_get_retry 4
      bindto 10.0.0.9
    }}
  }}
}}
virtual_server 10.0.0.1 81 {{
  lvs_sched sh
  lvs_method DR
  real_server 10.0.0.2 81 {{
    HTTP_GET {{
      url {{
        path /
      }}
      retry 4
      bindto 10.0.0.9
    }}
  }}
}}
global_defs {{
  lvs_id OLDNAME
}}
"
    );
    let l = ok(&text);
    let c = &l.config;
    assert_eq!(
        c.global.router_id.as_deref(),
        Some("OLDNAME"),
        "lvs_id -> router_id"
    );
    assert_eq!(
        c.instances[1].unicast_src_ip,
        Some(ip("10.0.1.5")),
        "mcast_src_ip -> unicast_src_ip"
    );
    let (old, new) = (&c.virtual_servers[0], &c.virtual_servers[1]);
    assert_eq!(old.scheduler, "sh", "lb_algo -> lvs_sched");
    assert_eq!(old.method, Method::Dr, "lb_kind -> lvs_method");
    assert_eq!(
        old.real_servers[0].checks[0].retry,
        Some(4),
        "nb_get_retry -> retry"
    );
    // Apart from the name/port, old and new spellings give the same model.
    let mut renamed = new.clone();
    renamed.name = old.name.clone();
    renamed.port = old.port;
    renamed.real_servers[0].port = old.real_servers[0].port;
    assert_eq!(&renamed, old);
}

#[test]
fn unsupported_keywords_are_listed_with_their_line() {
    let text = "global_defs {\n  smtp_connect_timeout 30\n}\nlinkbeat_interfaces {\n  eth0\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 1\n skip_check_adv_addr\n virtual_ipaddress {\n 10.0.0.1/24 brd 10.0.0.255 dev eth0\n }\n}\n";
    let l = ok(text);
    let w: Vec<(u32, &str)> = l
        .warnings
        .iter()
        .map(|w| (w.location.line, w.keyword.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (2, "smtp_connect_timeout"),
            (4, "linkbeat_interfaces"),
            (10, "skip_check_adv_addr"),
            (12, "brd")
        ]
    );
    assert_eq!(l.warnings[0].location.column, 3);
    assert!(
        l.warnings[3]
            .to_string()
            .starts_with("/virtual/keepalived.conf:12:2: warning: `brd`")
    );
    assert_eq!(l.config.instances[0].vips[0].dev.as_deref(), Some("eth0"));
}

fn has_unsafe(errors: &[String], line: u32, keyword: &str) {
    let want = format!("k.conf:{line}:");
    assert!(
        errors.iter().any(|e| e.starts_with(&want) && e.contains(&format!("`{keyword}` cannot be honoured"))),
        "no safety error for {keyword} at line {line}: {errors:#?}"
    );
}

#[test]
fn safety_keywords_are_errors() {
    // AH authentication cannot be honoured.
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type AH\n  auth_pass x\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    has_unsafe(&e, 5, "auth_type");
    // Unknown authentication option.
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type PASS\n  auth_pass x\n  auth_foo y\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    has_unsafe(&e, 7, "auth_foo");
    // Unsupported vrrp_script options.
    let e = errs(&format!(
        "vrrp_script s {{\n script /bin/true\n run_as_pid1\n}}\n{MIN_INSTANCE}"
    ));
    has_unsafe(&e, 3, "run_as_pid1");
    let e = errs(&format!(
        "vrrp_script s {{\n script /bin/true\n weight 10 sideways\n}}\n{MIN_INSTANCE}"
    ));
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:3:2:") && e.contains("sideways")),
        "{e:#?}"
    );
    // Tracking that cannot be done: BFD; a tracked file that is not defined.
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n track_bfd {\n  b1\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    has_unsafe(&e, 4, "track_bfd");
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n track_file {\n  f1\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:1:1: instance \"VI\"")
                && e.contains("unknown track file \"f1\"")),
        "{e:#?}"
    );
    // MISC_CHECK user option, regex in HTTP_GET.
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n   user nobody\n  }\n }\n}\n",
    );
    has_unsafe(&e, 5, "user");
    // A PCRE look-ahead has no equivalent in the regex engine: an error at the regex line.
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    regex \"ok(?=!)\"\n   }\n  }\n }\n}\n",
    );
    has_unsafe(&e, 6, "regex");
    // enable_script_security is honoured (kept in the model), not ignored.
    let l = ok(&format!(
        "global_defs {{\n enable_script_security\n script_user nobody nogroup\n}}\n{MIN_INSTANCE}"
    ));
    assert!(l.config.global.script_security);
    assert_eq!(l.config.global.script_group.as_deref(), Some("nogroup"));
    assert!(l.warnings.is_empty());
    // PASS authentication on VRRPv3 is a validation error naming the instance.
    let e = errs(
        "vrrp_instance VI {\n version 3\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type PASS\n  auth_pass x\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:1:1: instance \"VI\"") && e.contains("VRRPv3")),
        "{e:#?}"
    );
}

fn syntax_at(text: &str, line: u32, column: u32) {
    match keepalived::read_str(text, Path::new("s.conf")) {
        Ok(_) => panic!("expected a syntax error in {text:?}"),
        Err(e) => match &e[0] {
            ConfigError::Keepalived {
                location,
                kind: KeepalivedErrorKind::Syntax(_),
            } => {
                assert_eq!((location.line, location.column), (line, column), "{}", e[0]);
                assert!(
                    e[0].to_string()
                        .starts_with(&format!("s.conf:{line}:{column}: syntax error"))
                );
            }
            other => panic!("not a syntax error: {other}"),
        },
    }
}

#[test]
fn syntax_errors_have_exact_line_and_column() {
    syntax_at("global_defs {\n  router_id x\n", 1, 13); // never closed: points at the `{`
    syntax_at("global_defs {\n}\n  }\n", 3, 3); // stray `}`
    syntax_at("vrrp_script s {\n  script \"/bin/true\n}\n", 2, 10); // unterminated quote
    syntax_at("\n\n   {\n", 3, 4); // block without a keyword
    syntax_at("a {\n b {\n  c {\n }\n}\n", 1, 3); // the outer block is the one left open
}

#[test]
fn value_errors_name_the_keyword_and_place() {
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id abc\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    assert!(
        e[0].starts_with("k.conf:3:2: `virtual_router_id`: bad value \"abc\""),
        "{e:#?}"
    );
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.300\n }\n}\n",
    );
    assert!(e[0].starts_with("k.conf:5:2: "), "{e:#?}");
    let e = errs("virtual_server 10.0.0.1 80 {\n lb_kind FOO\n}\n");
    assert!(
        e[0].starts_with("k.conf:2:2: `lb_kind`: bad value \"FOO\", expected DR, NAT or TUN"),
        "{e:#?}"
    );
}

#[test]
fn validation_errors_point_at_the_item() {
    // Duplicate VRID on one interface; scheduler unknown; v2 with IPv6.
    let text = format!(
        "{MIN_INSTANCE}vrrp_instance VI2 {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{\n 10.0.0.2\n }}\n}}\nvirtual_server 10.0.0.1 80 {{\n lb_algo fastest\n}}\nvrrp_instance V6 {{\n interface eth1\n virtual_router_id 3\n virtual_ipaddress {{\n fd00::1\n }}\n}}\n"
    );
    let e = errs(&text);
    assert!(
        e.iter().any(|e| e.starts_with(
            "k.conf:7:1: instance \"VI2\": vrid 1 on eth0 is already used by instance \"VI\""
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e
                .starts_with("k.conf:14:1: virtual server \"10.0.0.1:80\": scheduler \"fastest\"")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:17:1: instance \"V6\": VRRPv2 is IPv4 only")),
        "{e:#?}"
    );
}

#[test]
fn includes_follow_globs_relative_to_the_including_file() {
    let d = tmpdir();
    std::fs::create_dir_all(d.join("sub/more")).unwrap();
    std::fs::write(
        d.join("main.conf"),
        "include sub/*.conf\ninclude sub/none-*.conf\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sub/b.conf"),
        MIN_INSTANCE
            .replace("VI", "B")
            .replace("10.0.0.1", "10.0.0.2")
            .replace("_id 1", "_id 2"),
    )
    .unwrap();
    std::fs::write(
        d.join("sub/a.conf"),
        format!("{MIN_INSTANCE}include more/x[0-9].conf\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("sub/more/x1.conf"),
        "vrrp_script s {\n script /bin/true\n}\n",
    )
    .unwrap();
    std::fs::write(d.join("sub/more/xa.conf"), "not matched {\n").unwrap();
    let l = load_keepalived_file(&d.join("main.conf")).unwrap_or_else(|e| panic!("{e:?}"));
    let names: Vec<&str> = l.config.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["VI", "B"],
        "sorted glob order a.conf then b.conf"
    );
    assert_eq!(l.config.scripts[0].name, "s");
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(l.warnings[0].location.line, 2);
    // A missing plain include is an error at the include line; an include loop stops.
    std::fs::write(d.join("bad.conf"), "\ninclude nope.conf\n").unwrap();
    let e = load_keepalived_file(&d.join("bad.conf")).unwrap_err();
    assert!(
        e[0].to_string()
            .contains("bad.conf:2:1: include \"nope.conf\""),
        "{}",
        e[0]
    );
    std::fs::write(d.join("loop.conf"), "include loop.conf\n").unwrap();
    let e = load_keepalived_file(&d.join("loop.conf")).unwrap_err();
    assert!(e[0].to_string().contains("nested deeper"), "{}", e[0]);
    // Errors inside an included file name that file.
    std::fs::write(
        d.join("sub/more/x2.conf"),
        "vrrp_script t {\n script /bin/true\n bogus_opt\n}\n",
    )
    .unwrap();
    let e = load_keepalived_file(&d.join("main.conf")).unwrap_err();
    assert!(
        e[0].to_string()
            .contains("sub/more/x2.conf:3:2: `bogus_opt` cannot be honoured"),
        "{}",
        e[0]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn tokenizer_comments_quotes_and_braces() {
    use lexer::TokenKind::*;
    let t = lexer::tokenize("a{b} # c\n! d\n\"e f\\\" g\" h!i").unwrap();
    let kinds: Vec<_> = t
        .iter()
        .map(|t| (t.kind.clone(), t.line, t.column))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Word("a".into()), 1, 1),
            (Open, 1, 2),
            (Word("b".into()), 1, 3),
            (Close, 1, 4),
            (Newline, 1, 9),
            (Newline, 2, 4),
            (Word("e f\" g".into()), 3, 1),
            (Word("h!i".into()), 3, 11),
        ]
    );
    let nodes = parse::parse_str("x 1 2 { y }\nz\n{\n}\n", Path::new("p")).unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].args, vec!["1", "2"]);
    assert_eq!(nodes[0].block.as_ref().unwrap()[0].keyword, "y");
    assert_eq!(nodes[1].block.as_deref(), Some(&[][..]));
}

#[test]
fn glob_matching() {
    use parse::wildcard_match as m;
    assert!(m("*.conf", "a.conf"));
    assert!(!m("*.conf", "a.conf~"));
    assert!(m("x[0-9]?", "x1z"));
    assert!(!m("x[!0-9]", "x1"));
    assert!(m("*a*b", "zzazzb"));
    assert!(!m("[", "["));
}

#[test]
fn timers() {
    assert_eq!(keepalived::parse_timer_ms("3"), Some(3000));
    assert_eq!(keepalived::parse_timer_ms("1.5"), Some(1500));
    assert_eq!(keepalived::parse_timer_ms(".25"), Some(250));
    assert_eq!(keepalived::parse_timer_ms("-1"), None);
    assert_eq!(keepalived::parse_timer_ms("1e3"), None);
    assert_eq!(keepalived::parse_timer_ms("."), None);
}

proptest::proptest! {
    #[test]
    fn tokenizer_and_parser_never_panic(s in "\\PC*") {
        let _ = lexer::tokenize(&s);
        let _ = keepalived::read_str(&s, Path::new("/nonexistent/p.conf"));
    }

    #[test]
    fn tokenizer_never_panics_on_keepalived_like_text(
        s in proptest::collection::vec(proptest::prop_oneof![
            proptest::strategy::Just("{".to_string()),
            proptest::strategy::Just("}".to_string()),
            proptest::strategy::Just("\n".to_string()),
            proptest::strategy::Just("\"".to_string()),
            proptest::strategy::Just("#".to_string()),
            proptest::strategy::Just("vrrp_instance".to_string()),
            proptest::strategy::Just("virtual_server".to_string()),
            proptest::strategy::Just("real_server".to_string()),
            proptest::strategy::Just("HTTP_GET".to_string()),
            proptest::strategy::Just("url".to_string()),
            proptest::strategy::Just("$A=".to_string()),
            proptest::strategy::Just("$A".to_string()),
            proptest::strategy::Just("${A}".to_string()),
            proptest::strategy::Just("@lb1".to_string()),
            proptest::strategy::Just("@^lb1".to_string()),
            proptest::strategy::Just("\\".to_string()),
            proptest::strategy::Just("~SEQ".to_string()),
            "[a-z0-9./ ]{0,8}",
        ], 0..60)
    ) {
        let text = s.join(" ");
        let _ = keepalived::read_str(&text, Path::new("/nonexistent/p.conf"));
    }

    #[test]
    fn wildcard_never_panics(p in "[*?\\[\\]!a-c-]{0,12}", n in "[a-c\\[\\]-]{0,12}") {
        let _ = parse::wildcard_match(&p, &n);
    }
}

/// `use_vmac` (with and without a name) and `vrrp_rt_priority` map to the model; a priority
/// outside 1..=99 is refused.
#[test]
fn use_vmac_and_vrrp_rt_priority() {
    let l = ok("global_defs {\n  vrrp_rt_priority 20\n  vrrp_no_swap\n}\n\
        vrrp_instance A {\n  interface eth0\n  virtual_router_id 7\n  use_vmac\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance B {\n  interface eth0\n  virtual_router_id 8\n  use_vmac vmac.b\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n");
    assert_eq!(l.config.global.realtime_priority, Some(20));
    assert_eq!(l.config.instances[0].vmac.as_deref(), Some("vrrp.7"));
    assert_eq!(l.config.instances[1].vmac.as_deref(), Some("vmac.b"));
    assert!(
        l.warnings
            .iter()
            .all(|w| !w.to_string().contains("use_vmac")),
        "{:?}",
        l.warnings
    );
    let e = errs(
        "global_defs {\n  vrrp_rt_priority 120\n}\nvrrp_instance A {\n  interface eth0\n  virtual_router_id 7\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n",
    );
    assert!(
        e.iter().any(|m| m.contains("realtime priority 120")),
        "{e:?}"
    );
}

/// UDP_CHECK with every keepalived 2.2.7 option, and PING_CHECK, land in the model; the
/// HEX_STRs are read as keepalived reads them (pairs per word, a lone digit is a byte).
#[test]
fn udp_and_ping_checks_map_with_their_options() {
    let text = "virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   connect_ip 10.0.0.3\n   connect_port 5353\n   bindto 10.0.0.1\n   bind_port 40000\n   connect_timeout 2\n   retry 3\n   delay_before_retry 0.5\n   warmup 4\n   delay_loop 6\n   payload Ab12f 3 456\n   require_reply 0a Xb c\n   min_reply_length 2\n   max_reply_length 300\n  }\n  PING_CHECK {\n   connect_ip 10.0.0.4\n   bindto 10.0.0.1\n   connect_timeout 1\n  }\n }\n}\n";
    let l = ok(text);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let checks = &l.config.virtual_servers[0].real_servers[0].checks;
    let mut udp = Check::new(CheckKind::Udp);
    udp.connect_ip = Some(ip("10.0.0.3"));
    udp.connect_port = Some(5353);
    udp.bind_ip = Some(ip("10.0.0.1"));
    udp.bind_port = Some(40000);
    udp.connect_timeout_ms = Some(2000);
    udp.retry = Some(3);
    udp.delay_before_retry_ms = Some(500);
    udp.warmup_ms = Some(4000);
    udp.delay_loop_ms = Some(6000);
    udp.udp_payload = Some("ab120f034506".into());
    udp.udp_require_reply = true;
    udp.udp_reply = Some("0axb0c".into());
    udp.udp_min_reply_length = Some(2);
    udp.udp_max_reply_length = Some(300);
    let mut ping = Check::new(CheckKind::Ping);
    ping.connect_ip = Some(ip("10.0.0.4"));
    ping.bind_ip = Some(ip("10.0.0.1"));
    ping.connect_timeout_ms = Some(1000);
    assert_eq!(checks, &vec![udp, ping]);
}

/// Reply lengths without `require_reply HEX_STR` do nothing in keepalived: they are dropped
/// with a warning at their line, not silently; a ping's port likewise.
#[test]
fn udp_lengths_without_reply_data_and_ping_ports_are_warnings() {
    let text = "virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   require_reply\n   min_reply_length 2\n   max_reply_length 9\n  }\n  PING_CHECK {\n   connect_port 80\n  }\n }\n}\n";
    let l = ok(text);
    let w: Vec<(u32, &str)> = l
        .warnings
        .iter()
        .map(|w| (w.location.line, w.keyword.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (5, "min_reply_length"),
            (6, "max_reply_length"),
            (9, "connect_port")
        ]
    );
    assert!(l.warnings[0].action.contains("require_reply HEX_STR"));
    let checks = &l.config.virtual_servers[0].real_servers[0].checks;
    assert!(checks[0].udp_require_reply && checks[0].udp_reply.is_none());
    assert_eq!(
        (
            checks[0].udp_min_reply_length,
            checks[0].udp_max_reply_length
        ),
        (None, None)
    );
    assert_eq!(checks[1].connect_port, None);
}

/// FILE_CHECK and BFD_CHECK would leave the real server with no check: errors at their
/// file:line:column naming the keyword. Bad UDP values are errors at theirs.
#[test]
fn file_and_bfd_checks_and_bad_udp_values_are_errors() {
    // FILE_CHECK runs (its track_file's value checks the server); BFD_CHECK is an error.
    let e = errs(
        "track_file tf {\n file /run/rs1\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n  FILE_CHECK {\n   track_file tf\n  }\n    BFD_CHECK {\n   name b1\n  }\n }\n}\n",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0],
        "k.conf:11:5: `BFD_CHECK` is not supported: the real server would have no check (there is no BFD here; PING_CHECK or UDP_CHECK can watch the server)"
    );
    let l = ok(
        "track_file tf {\n file /run/rs1\n weight 5\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file tf\n  }\n  FILE_CHECK {\n   track_file tf\n   weight -2 reverse\n  }\n }\n}\n",
    );
    let checks = &l.config.virtual_servers[0].real_servers[0].checks;
    assert_eq!(checks[0].kind, CheckKind::File);
    assert_eq!(checks[0].track_file.as_deref(), Some("tf"));
    assert_eq!(
        checks[0].track_file_weight, None,
        "the file's own weight applies"
    );
    assert_eq!(
        (checks[1].track_file_weight, checks[1].track_file_reverse),
        (Some(-2), true)
    );
    // A FILE_CHECK on a file nobody defined is refused (the server would go unchecked).
    let e = errs(
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file nope\n  }\n }\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.contains("track_file \"nope\" is not defined")),
        "{e:#?}"
    );
    let e = errs(
        "virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   payload 0x\n   require_reply 0g\n  }\n }\n}\n",
    );
    assert_eq!(
        e,
        [
            "k.conf:4:4: `payload`: bad value \"0x\", expected hex digits",
            "k.conf:5:4: `require_reply`: bad value \"0g\", expected hex digits (x for any nibble)",
        ]
    );
    let e = errs(
        "virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n   require_reply 01\n   min_reply_length 300\n  }\n }\n}\n",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("k.conf:5:4: `min_reply_length`: bad value \"300\""),
        "{e:#?}"
    );
}

/// keepalived's stock sample: `vrrp_strict` with `auth_type PASS`. keepalived drops the
/// authentication in strict mode (it sends and expects none), so the same file here must too,
/// or a mixed pair drops each other's adverts; preempt_delay is reset; a master never answers
/// a lower-priority advert.
#[test]
fn vrrp_strict_has_keepalived_effects() {
    let text = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 51\n priority 100\n preempt_delay 5\n authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n virtual_ipaddress {\n  192.168.200.16\n }\n}\n";
    let l = ok(text);
    let i = &l.config.instances[0];
    assert!(i.auth.is_none(), "{:?}", i.auth);
    assert_eq!(i.preempt_delay_ms, 0);
    assert!(i.lower_prio_no_advert);
    let w: Vec<(u32, &str)> = l
        .warnings
        .iter()
        .map(|w| (w.location.line, w.keyword.as_str()))
        .collect();
    assert!(w.contains(&(9, "authentication")), "{w:?}");
    assert!(w.contains(&(8, "preempt_delay")), "{w:?}");
    // Without strict mode the same instance keeps its password and answers lower priorities.
    let l = ok(&text.replace(" vrrp_strict\n", ""));
    let i = &l.config.instances[0];
    assert!(i.auth.is_some() && !i.lower_prio_no_advert && i.preempt_delay_ms == 5000);
    // An instance's own strict_mode overrides the global.
    let l = ok(&text.replace(" priority 100\n", " priority 100\n strict_mode off\n"));
    assert!(l.config.instances[0].auth.is_some());
    // Unicast peers are refused; an instance needs a VIP.
    let e = errs(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 51\n unicast_peer {\n  10.0.0.2\n }\n virtual_ipaddress {\n  10.0.0.100\n }\n}\n",
    );
    has_unsafe(&e, 7, "unicast_peer");
    let e = errs(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 51\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:4:") && e.contains("vrrp_strict requires")),
        "{e:?}"
    );
    // The TOML keeps it.
    let l = ok(text);
    let toml = ha_examples::director::toml_format::to_toml(&l.config).unwrap();
    assert!(toml.contains("lower_prio_no_advert = true"), "{toml}");
}

/// `vrrp_higher_prio_send_advert` in global_defs is every instance's default, an instance's
/// `higher_prio_send_advert [BOOL]` overrides it, a bad value is an error at its place, the
/// router gets it and the TOML keeps it.
#[test]
fn higher_prio_send_advert_global_default_and_instance_override() {
    let inst = |extra: &str| {
        format!(
            "vrrp_instance VI_{extra_len} {{\n interface eth0\n virtual_router_id {vrid}\n{extra} virtual_ipaddress {{\n  10.0.0.{vrid}\n }}\n}}\n",
            extra_len = extra.len(),
            vrid = 10 + extra.len()
        )
    };
    let flags = |text: &str| -> Vec<bool> {
        ok(text)
            .config
            .instances
            .iter()
            .map(|i| i.higher_prio_send_advert)
            .collect()
    };
    let off = inst(" higher_prio_send_advert off\n");
    let on = inst(" higher_prio_send_advert\n");
    let plain = inst("");
    assert_eq!(flags(&format!("{plain}{on}")), [false, true]);
    assert_eq!(
        flags(&format!(
            "global_defs {{\n vrrp_higher_prio_send_advert true\n}}\n{plain}{off}"
        )),
        [true, false]
    );
    let e = errs(
        "vrrp_instance VI {\n interface eth0\n virtual_router_id 5\n higher_prio_send_advert maybe\n}\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:4:2: `higher_prio_send_advert`: bad value \"maybe\"")),
        "{e:?}"
    );
    let l = ok(&on);
    let toml = ha_examples::director::toml_format::to_toml(&l.config).unwrap();
    assert!(toml.contains("higher_prio_send_advert = true"), "{toml}");
    let back = ha_examples::director::toml_format::parse_toml(&toml, Path::new("t.toml")).unwrap();
    assert!(back.instances[0].higher_prio_send_advert);
}

/// `HTTP_GET { ... }` inside a real server of a virtual server, with `extra` lines in the
/// virtual server and `rs_extra` in the real server.
fn http_conf(extra: &str, rs_extra: &str, check: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n{extra}\n real_server 10.0.0.2 80 {{\n{rs_extra}\n  HTTP_GET {{\n{check}\n  }}\n }}\n}}\n"
    )
}

#[test]
fn http_checks_carry_regex_status_ranges_virtualhost_and_protocol() {
    let l = ok(&http_conf(
        "",
        "",
        "   http_protocol 1.0C\n   virtualhost www.example.org\n   url {\n    path /health\n    status_code 200-299 301 404\n    status_code 302\n    virtualhost api.example.org\n    regex \"^service (ok|up)$\"\n    regex_options caseless no_auto_capture\n    regex_min_offset 0\n    regex_max_offset 10\n   }\n   url {\n    path /maint\n    regex MAINTENANCE\n    regex_no_match\n    regex_options dollar_endonly\n   }\n   bind_if eth1\n   fwmark 7\n   log_all_failures\n   fast_recovery",
    ));
    let ch = &l.config.virtual_servers[0].real_servers[0].checks[0];
    assert_eq!(ch.http_protocol, Some(HttpProtocol::Http10Close));
    assert_eq!(ch.virtualhost.as_deref(), Some("www.example.org"));
    assert_eq!(ch.bind_if.as_deref(), Some("eth1"));
    assert_eq!(ch.fwmark, Some(7));
    assert!(ch.log_all_failures);
    let u = &ch.urls[0];
    assert_eq!(
        u.status_code.as_ref().unwrap().0,
        [(200, 299), (301, 301), (404, 404), (302, 302)]
    );
    assert_eq!(u.virtualhost.as_deref(), Some("api.example.org"));
    // caseless became an inline flag; PCRE's `$` kept its meaning (end or before a final
    // newline); no_auto_capture changes nothing the check can see.
    assert_eq!(u.regex.as_deref(), Some(r"(?i)^service (ok|up)\n?\z"));
    assert_eq!(
        (u.regex_min_offset, u.regex_max_offset),
        (Some(0), Some(10))
    );
    let re = regex::bytes::Regex::new(u.regex.as_deref().unwrap()).unwrap();
    assert!(
        re.is_match(b"Service OK\n")
            && re.is_match(b"service up")
            && !re.is_match(b"service ok\n\n")
    );
    let m = &ch.urls[1];
    assert!(m.regex_no_match);
    assert_eq!(
        m.regex.as_deref(),
        Some("MAINTENANCE"),
        "dollar_endonly: no rewrite needed"
    );
    // fast_recovery is what happens anyway: a warning that says so, not silence.
    assert!(
        l.warnings.iter().any(|w| w.keyword == "fast_recovery"),
        "{:?}",
        l.warnings
    );
    assert!(
        !l.warnings.iter().any(|w| w.keyword != "fast_recovery"),
        "{:?}",
        l.warnings
    );

    // The converted file reads back from TOML to the same model.
    let text = ha_examples::director::toml_format::to_toml(&l.config).unwrap();
    assert!(
        text.contains("status_code = \"200-299 301 404 302\""),
        "{text}"
    );
    let back = ha_examples::director::toml_format::parse_toml(&text, Path::new("x.toml")).unwrap();
    assert_eq!(back, l.config);
}

#[test]
fn pcre_dollar_rewrite_leaves_classes_and_escapes_alone() {
    for (pcre, ours) in [
        ("a$", r"a\n?\z"),
        (r"a\$", r"a\$"),
        ("[$]x", "[$]x"),
        ("[]$]x$", r"[]$]x\n?\z"),
        (r"[^]$]\Z", r"[^]$]\n?\z"),
        (r"a\\$", r"a\\\n?\z"),
    ] {
        let l = ok(&http_conf(
            "",
            "",
            &format!(
                "   url {{\n    path /\n    regex \"{}\"\n   }}",
                pcre.replace('\\', "\\\\")
            ),
        ));
        let got = l.config.virtual_servers[0].real_servers[0].checks[0].urls[0]
            .regex
            .clone();
        assert_eq!(got.as_deref(), Some(ours), "{pcre}");
    }
}

#[test]
fn regex_options_and_ssl_settings_that_cannot_be_honoured_are_errors() {
    let e = errs(&http_conf(
        "",
        "",
        "   url {\n    path /\n    regex ok\n    regex_options firstline\n   }",
    ));
    has_unsafe(&e, 9, "regex_options");
    let e = errs(&http_conf(
        "",
        "",
        "   url {\n    path /\n    regex ok\n    regex_options shouty\n   }",
    ));
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:9:") && e.contains("shouty")),
        "{e:#?}"
    );
    let e = errs(&http_conf(
        "",
        "",
        "   url {\n    path /\n    status_code 200-1000\n   }",
    ));
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:8:") && e.contains("200-1000")),
        "{e:#?}"
    );
    let e = errs(&http_conf(
        "",
        "",
        "   http_protocol 2\n   url {\n    path /\n   }",
    ));
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:6:") && e.contains("1.0C")),
        "{e:#?}"
    );
    let e = errs(&http_conf("", "", "   alpha\n   url {\n    path /\n   }"));
    has_unsafe(&e, 6, "alpha");
    let e = errs(&format!(
        "SSL {{\n certificate /etc/c.pem\n key /etc/k.pem\n password secret\n}}\n{}",
        http_conf("", "", "   url {\n    path /\n   }")
    ));
    has_unsafe(&e, 4, "password");
    // regex parameters without a regex are dropped with a warning, as keepalived does.
    let l = ok(&http_conf(
        "",
        "",
        "   url {\n    path /\n    regex_no_match\n   }",
    ));
    assert!(!l.config.virtual_servers[0].real_servers[0].checks[0].urls[0].regex_no_match);
    assert!(l.warnings.iter().any(|w| w.keyword == "regex_no_match"));
}

#[test]
fn ssl_block_sni_and_check_defaults_at_every_level() {
    let l = ok(
        "SSL {\n certificate /etc/ka/client.pem\n key /etc/ka/client.key\n ca /etc/ka/ca.pem\n}\nvirtual_server 10.0.0.1 443 {\n delay_loop 10\n connect_timeout 4\n retry 5\n delay_before_retry 2\n warmup 1\n virtualhost vs.example.org\n real_server 10.0.0.2 443 {\n  delay_loop 7\n  connect_timeout 3\n  retry 4\n  delay_before_retry 1.5\n  warmup 0.5\n  virtualhost rs.example.org\n  SSL_GET {\n   enable_sni\n   sni_name sni.example.org\n   url {\n    path /\n   }\n  }\n }\n}\n",
    );
    let ssl = l.config.global.ssl.as_ref().unwrap();
    assert_eq!(
        ssl.certificate.as_deref(),
        Some(Path::new("/etc/ka/client.pem"))
    );
    assert_eq!(ssl.key.as_deref(), Some(Path::new("/etc/ka/client.key")));
    assert_eq!(ssl.verify_ca, None, "keepalived never verifies with its ca");
    assert!(
        l.warnings.iter().any(|w| w.keyword == "ca"),
        "{:?}",
        l.warnings
    );
    let vs = &l.config.virtual_servers[0];
    assert_eq!(
        (
            vs.connect_timeout_ms,
            vs.retry,
            vs.delay_before_retry_ms,
            vs.warmup_ms
        ),
        (Some(4000), Some(5), Some(2000), Some(1000))
    );
    let rs = &vs.real_servers[0];
    assert_eq!(
        (
            rs.delay_loop_ms,
            rs.connect_timeout_ms,
            rs.retry,
            rs.delay_before_retry_ms,
            rs.warmup_ms
        ),
        (Some(7000), Some(3000), Some(4), Some(1500), Some(500))
    );
    assert_eq!(rs.virtualhost.as_deref(), Some("rs.example.org"));
    let ch = &rs.checks[0];
    assert!(ch.enable_sni);
    assert_eq!(ch.sni_name.as_deref(), Some("sni.example.org"));
    let text = ha_examples::director::toml_format::to_toml(&l.config).unwrap();
    let back = ha_examples::director::toml_format::parse_toml(&text, Path::new("x.toml")).unwrap();
    assert_eq!(back, l.config);
}

#[test]
fn parameters_flow_through_includes_and_config_id_lines_pick_the_node() {
    let d = tmpdir();
    std::fs::write(
        d.join("defs.conf"),
        "# shared by both directors\n$IF=eth1\n$VIPS=10.0.0.50 \\\n   10.0.0.51\n$PRIO=abc\n",
    )
    .unwrap();
    let main = d.join("keepalived.conf");
    std::fs::write(
        &main,
        "include defs.conf\nvrrp_instance VI {\n    interface $IF\n    virtual_router_id 7\n@lb1 priority 150\n@^lb1 priority 100\n    virtual_ipaddress {\n        $VIPS\n    }\n}\n",
    )
    .unwrap();
    let read = |id: &str| {
        ha_examples::director::load_keepalived_file_with_config_id(&main, Some(id.into()))
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let lb1 = read("lb1");
    let i = &lb1.config.instances[0];
    assert_eq!((i.interface.as_str(), i.priority), ("eth1", 150));
    assert_eq!(
        i.vips
            .iter()
            .map(|v| v.address.to_string())
            .collect::<Vec<_>>(),
        ["10.0.0.50", "10.0.0.51"]
    );
    assert_eq!(read("lb2").config.instances[0].priority, 100);
    // A bad value from a parameter is reported at the line that used it.
    std::fs::write(
        &main,
        "include defs.conf\nvrrp_instance VI {\n    interface $IF\n    virtual_router_id 7\n    priority $PRIO\n    virtual_ipaddress {\n        $VIPS\n    }\n}\n",
    )
    .unwrap();
    let e: Vec<String> =
        match ha_examples::director::load_keepalived_file_with_config_id(&main, None) {
            Ok(_) => panic!("priority abc must be refused"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        };
    assert!(
        e.iter()
            .any(|e| e.contains("keepalived.conf:5:") && e.contains("abc")),
        "{e:#?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn mail_settings_map_with_keepalived_defaults() {
    let l = ok(&format!(
        "global_defs {{\n notification_email {{\n  ops@example.org\n  oncall@example.org\n }}\n notification_email_from lb1@example.org\n smtp_server 192.0.2.25 2525\n smtp_helo_name lb1.example.org\n smtp_connect_timeout 7\n smtp_alert\n smtp_alert_checker off\n no_email_faults\n no_checker_emails\n checker_log_all_failures\n}}\n{MIN_INSTANCE}vrrp_sync_group G {{\n group {{\n  VI\n }}\n smtp_alert false\n}}\nvirtual_server 10.0.0.1 80 {{\n smtp_alert\n real_server 10.0.0.2 80 {{\n  smtp_alert on\n  TCP_CHECK {{\n  }}\n }}\n}}\n"
    ));
    let smtp = l.config.global.smtp.as_ref().unwrap();
    assert_eq!(smtp.server, "192.0.2.25:2525".parse().unwrap());
    assert_eq!(smtp.to, ["ops@example.org", "oncall@example.org"]);
    assert_eq!(smtp.from.as_deref(), Some("lb1@example.org"));
    assert_eq!(smtp.helo_name.as_deref(), Some("lb1.example.org"));
    assert_eq!(smtp.connect_timeout_ms, 7000);
    assert!(
        smtp.alert_vrrp,
        "smtp_alert is the default of smtp_alert_vrrp"
    );
    assert_eq!(
        smtp.alert_checker,
        Some(false),
        "smtp_alert_checker wins over smtp_alert"
    );
    assert!(smtp.no_email_faults);
    assert_eq!(l.config.sync_groups[0].smtp_alert, Some(false));
    let vs = &l.config.virtual_servers[0];
    assert_eq!(vs.smtp_alert, Some(true));
    assert_eq!(vs.real_servers[0].smtp_alert, Some(true));
    assert!(
        vs.real_servers[0].checks[0].log_all_failures,
        "checker_log_all_failures"
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let text = ha_examples::director::toml_format::to_toml(&l.config).unwrap();
    let back = ha_examples::director::toml_format::parse_toml(&text, Path::new("x.toml")).unwrap();
    assert_eq!(back, l.config);

    // Without a server (or without recipients) keepalived sends nothing: a warning here.
    let l = ok(&format!(
        "global_defs {{\n notification_email {{\n  ops@example.org\n }}\n}}\n{MIN_INSTANCE}"
    ));
    assert!(l.config.global.smtp.is_none());
    assert!(
        l.warnings
            .iter()
            .any(|w| w.keyword == "notification_email" && w.action.contains("no smtp_server")),
        "{:?}",
        l.warnings
    );
    let e = errs(&format!(
        "global_defs {{\n smtp_server nowhere\n}}\n{MIN_INSTANCE}"
    ));
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:2:") && e.contains("nowhere")),
        "{e:#?}"
    );
}

/// A keepalived.conf of `n` real servers with a TCP_CHECK each, 100 per virtual server (the
/// shape `hc-vs` writes).
fn many_real_servers(n: u32) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("global_defs {\n    router_id big\n}\n");
    for g in 0..n.div_ceil(100) {
        let _ = writeln!(
            s,
            "virtual_server 10.80.{}.{} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP",
            g / 250,
            g % 250 + 1
        );
        for i in g * 100..((g + 1) * 100).min(n) {
            let _ = writeln!(
                s,
                "    real_server 10.79.{}.{} {} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 2\n            retry 1\n            delay_before_retry 1\n        }}\n    }}",
                i / 1000 / 250,
                i / 1000 % 250 + 1,
                10_000 + i % 1000
            );
        }
        s.push_str("}\n");
    }
    s
}

/// The load of a large keepalived.conf does not hold all its parsed blocks and the whole
/// configuration at once: each block is dropped once converted. Holding both was
/// ha-director's peak of memory at 10,000 real servers (heaptrack in `hc-vs`: 11 MiB of
/// parsed blocks beside 8 MiB of configuration). Here (2,000 real servers) the load peaked
/// at 3.74 MB with both held, about their sum, and peaks at 2.94 MB now (the parse's own
/// peak).
#[test]
fn a_large_conf_is_converted_without_holding_all_its_parsed_blocks_and_the_result() {
    let text = many_real_servers(2_000);
    let file = Path::new("/virtual/keepalived.conf");
    let before = live_bytes();
    let nodes = parse::parse_str(&text, file).expect("parses");
    let tree = u64::try_from(live_bytes() - before).unwrap_or(0);
    assert_eq!(nodes.len(), 21);
    drop(nodes);
    let before = live_bytes();
    let mut cfg = None;
    let peak = peak_bytes_during(|| {
        cfg = Some(keepalived::read_str(&text, file).expect("converts"));
    });
    let held = u64::try_from(live_bytes() - before).unwrap_or(0);
    let cfg = cfg.expect("set");
    assert_eq!(
        cfg.config
            .virtual_servers
            .iter()
            .map(|v| v.real_servers.len())
            .sum::<usize>(),
        2_000
    );
    assert!(tree > 0 && held > 0, "the counting allocator is installed");
    assert!(
        peak * 10 < (tree + held) * 9,
        "the load peaked at {peak} bytes: parsed blocks {tree}, configuration {held}"
    );
}

/// The preprocessed lines of a large keepalived.conf take about the file's own size: they are
/// held until the parser has built every statement, so they are part of the load's peak. One
/// string per line (a 24-byte `String` and its own allocation beside a 4-byte line number)
/// took 2.5 times the text here (850,174 bytes for 341,985) and 5.8 MB at 10,000 real
/// servers (heaptrack in `hc-vs`).
#[test]
fn preprocessed_lines_are_held_in_about_the_files_size() {
    use ha_examples::director::keepalived::preproc::{Defs, preprocess};
    let text = many_real_servers(2_000);
    let file = Path::new("/virtual/keepalived.conf");
    let before = live_bytes();
    let src =
        preprocess(&text, file, 0, &mut Defs::new(None), &mut Vec::new()).expect("preprocesses");
    let held = u64::try_from(live_bytes() - before).unwrap_or(0);
    let lines = src.lines().count();
    assert_eq!(lines, text.lines().count());
    assert_eq!(
        src.lines().nth(3),
        Some((4, "virtual_server 10.80.0.1 80 {")),
        "line numbers and text are kept"
    );
    let text_len = text.len() as u64;
    assert!(
        held < text_len * 3 / 2,
        "{lines} preprocessed lines hold {held} bytes for {text_len} bytes of text"
    );
}
