//! The ldirectord.cf reader: a guide-style file, every keyword, malformed files with their
//! `file:line:column`, a TOML round trip, the command line, and a reader that never panics.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ha_examples::director::ldirectord::{LdirectordErrorKind, read_ldirectord_str};
use ha_examples::director::model::*;
use ha_examples::director::{
    ConfigError, Loaded, load_ldirectord_file, load_ldirectord_str, load_toml_str, toml_format,
};
use proptest::prelude::*;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director/ldirectord/ldirectord.cf")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ok(text: &str) -> Loaded {
    match load_ldirectord_str(text, Path::new("t.cf")) {
        Ok(l) => l,
        Err(e) => panic!(
            "expected a valid file:\n{text}\n{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn errs(text: &str) -> Vec<String> {
    match load_ldirectord_str(text, Path::new("t.cf")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn vs(l: &Loaded) -> &VirtualServer {
    &l.config.virtual_servers[0]
}

#[test]
fn guide_style_file_reads_to_the_expected_model() {
    let l = load_ldirectord_file(&sample()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(
        l.config.instances.is_empty(),
        "no VRRP from an ldirectord.cf"
    );
    assert_eq!(l.config.virtual_servers.len(), 1);
    let v = vs(&l);
    assert_eq!(v.name, "tcp:10.77.0.100:80");
    assert_eq!((v.address, v.port), (Some(ip("10.77.0.100")), Some(80)));
    assert_eq!(v.protocol, Protocol::Tcp);
    assert_eq!(v.scheduler, "rr");
    assert_eq!(v.delay_loop_ms, 2000, "checkinterval=2");
    assert!(v.inhibit_on_failure, "quiescent=yes");
    let sorry = v.sorry_server.as_ref().expect("fallback");
    assert_eq!((sorry.address, sorry.port), (ip("127.0.0.1"), Some(80)));
    assert_eq!(sorry.method, Some(Method::Dr));
    assert!(
        !sorry.inhibit,
        "ldirectord deletes a fallback server, never quiesces it"
    );
    assert_eq!(v.real_servers.len(), 2);
    for (rs, addr) in v.real_servers.iter().zip(["10.77.0.11", "10.77.0.12"]) {
        assert_eq!(rs.address, ip(addr));
        assert_eq!(
            (rs.port, rs.weight, rs.method),
            (Some(80), 1, Some(Method::Dr))
        );
        assert_eq!(
            rs.alpha,
            Some(true),
            "down until the first check, as ldirectord"
        );
        assert_eq!(rs.warmup_ms, Some(0));
        let [c] = rs.checks.as_slice() else {
            panic!("one check: {:?}", rs.checks)
        };
        assert_eq!(c.kind, CheckKind::Http);
        assert_eq!(c.connect_port, Some(80));
        assert_eq!(
            c.connect_timeout_ms,
            Some(3000),
            "negotiatetimeout from checktimeout"
        );
        assert_eq!(c.retry, Some(0), "failurecount 1");
        assert_eq!(c.urls.len(), 1);
        assert_eq!(c.urls[0].path, "/check.html");
        assert_eq!(c.urls[0].regex.as_deref(), Some("Still alive"));
        assert_eq!(c.http_protocol, Some(HttpProtocol::Http11));
    }
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(l.warnings[0].keyword, "logfile");
    assert_eq!(l.warnings[0].location.line, 10);
    assert!(!l.config.global.watch_config);
    assert_eq!(
        l.config.global.lvs_flush_on_stop, None,
        "cleanstop defaults to yes"
    );
}

#[test]
fn toml_round_trip_gives_the_same_model() {
    let texts = [
        std::fs::read_to_string(sample()).unwrap(),
        EVERYTHING.to_owned(),
    ];
    for text in texts {
        let l = ok(&text);
        let toml = toml_format::to_toml(&l.config).unwrap();
        let back = load_toml_str(&toml, Path::new("back.toml"))
            .unwrap_or_else(|e| panic!("{toml}\n{}", e[0]));
        assert_eq!(back.config, l.config, "{toml}");
    }
}

/// Most keywords at once (IPv4, no name lookups but localhost and /etc/services).
const EVERYTHING: &str = "\
checktimeout = 4
negotiatetimeout = 9
checkinterval = 5
failurecount = 3
autoreload = yes
cleanstop = no
emailalert = \"ops@example.org, oncall@example.org\"
emailalertfrom = lb@example.org
emailalertfreq = 60
smtp = 192.0.2.25
fallbackcommand = /usr/local/bin/fb
maintenancedir = /run/ldirectord-maint
fork = yes
supervised = yes

virtual = 192.0.2.10:http
    real = 192.0.2.21->192.0.2.23:80 gate 2 \"/alive\", \"^OK$\" l:5 u:50
    real = localhost:8080 masq
    service = http
    httpmethod = GET
    virtualhost = www.example.org
    request = \"/health\"
    receive = \"healthy\"
    checkport = 8081
    scheduler = wlc
    persistent = 300
    netmask = 255.255.255.0
    checkinterval = 7
    fallback = 192.0.2.99:8080 masq

virtual = 192.0.2.10:53
    real = 192.0.2.31:53 gate
    service = dns
    request = \"www.example.org\"
    receive = \"192\\.0\\.2\\.\"
    ops = yes

virtual = 7
    real = 192.0.2.41 ipip 3
    checktype = connect
    checkport = 443

virtual = 192.0.2.10:25
    real = 192.0.2.51:25 gate
    checktype = 2
    quiescent = yes

virtual = 192.0.2.10:7000
    real = 192.0.2.61:7000 gate
    service = simpletcp
    request = \"PING\\n\"
    receive = \"PONG\"

virtual = 192.0.2.10:7001
    real = 192.0.2.62:7001 gate
    checktype = external
    checkcommand = \"/usr/local/bin/check-it\"
    checktimeout = 2

virtual = 192.0.2.10:7002
    real = 192.0.2.63:7002 gate
    checktype = ping
    protocol = udp

virtual = 192.0.2.10:7003
    real = 192.0.2.64:7003 gate
    checktype = on
    schedflags = flag-1

virtual = 192.0.2.10:7004
    real = 192.0.2.65:7004 gate
    checktype = off
";

#[test]
fn every_keyword_maps_to_the_model() {
    let l = ok(EVERYTHING);
    let c = &l.config;
    assert!(c.global.watch_config, "autoreload");
    assert_eq!(
        c.global.lvs_flush_on_stop,
        Some(FlushOnStop::Keep),
        "cleanstop=no"
    );
    let smtp = c.global.smtp.as_ref().expect("emailalert");
    assert_eq!(smtp.server, "192.0.2.25:25".parse().unwrap());
    assert_eq!(smtp.to, ["ops@example.org", "oncall@example.org"]);
    assert_eq!(smtp.from.as_deref(), Some("lb@example.org"));
    assert_eq!(smtp.repeat_down_s, Some(60));
    assert_eq!(smtp.alert_checker, Some(true));
    let names: Vec<&str> = c.virtual_servers.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tcp:192.0.2.10:80",
            "udp:192.0.2.10:53",
            "fwm:7",
            "tcp:192.0.2.10:25",
            "tcp:192.0.2.10:7000",
            "tcp:192.0.2.10:7001",
            "udp:192.0.2.10:7002",
            "tcp:192.0.2.10:7003",
            "tcp:192.0.2.10:7004",
        ]
    );
    let web = &c.virtual_servers[0];
    assert_eq!(web.port, Some(80), "http from /etc/services");
    assert_eq!(web.scheduler, "wlc");
    assert_eq!(web.persistence_timeout_s, Some(300));
    assert_eq!(web.persistence_granularity, Some(ip("255.255.255.0")));
    assert_eq!(
        web.delay_loop_ms, 7000,
        "a virtual's checkinterval counts with fork = yes"
    );
    assert!(
        !web.inhibit_on_failure,
        "quiescent defaults to no (ldirectord's code)"
    );
    let sorry = web.sorry_server.as_ref().unwrap();
    assert_eq!((sorry.port, sorry.method), (Some(8080), Some(Method::Nat)));
    assert_eq!(
        web.quorum_down.as_deref(),
        Some("/usr/local/bin/fb start 192.0.2.10:80 tcp")
    );
    assert_eq!(
        web.quorum_up.as_deref(),
        Some("/usr/local/bin/fb stop 192.0.2.10:80 tcp")
    );
    let addrs: Vec<IpAddr> = web.real_servers.iter().map(|r| r.address).collect();
    assert_eq!(
        addrs,
        [
            ip("192.0.2.21"),
            ip("192.0.2.22"),
            ip("192.0.2.23"),
            ip("127.0.0.1")
        ]
    );
    let r0 = &web.real_servers[0];
    assert_eq!(
        (r0.weight, r0.lower_threshold, r0.upper_threshold),
        (2, Some(5), Some(50))
    );
    let http = &r0.checks[0];
    assert_eq!(http.kind, CheckKind::Http);
    assert_eq!(http.urls[0].path, "/alive", "the real server's own request");
    assert_eq!(http.urls[0].regex.as_deref(), Some("^OK$"));
    assert_eq!(http.virtualhost.as_deref(), Some("www.example.org"));
    assert_eq!(http.connect_port, Some(8081), "checkport");
    assert_eq!(http.connect_timeout_ms, Some(9000), "negotiatetimeout");
    assert_eq!(http.retry, Some(2), "failurecount 3");
    assert_eq!(
        http.delay_before_retry_ms,
        Some(7000),
        "a checkinterval apart"
    );
    assert_eq!(r0.checks[1].kind, CheckKind::Maintenance);
    assert_eq!(
        r0.checks[1].maintenance_dir.as_deref(),
        Some(Path::new("/run/ldirectord-maint"))
    );
    let local = &web.real_servers[3];
    assert_eq!((local.port, local.method), (Some(8080), Some(Method::Nat)));
    assert_eq!(
        local.checks[0].urls[0].path, "/health",
        "the virtual's request"
    );

    let dns = &c.virtual_servers[1];
    assert_eq!(dns.protocol, Protocol::Udp, "port 53 is UDP");
    assert!(dns.ops);
    let d = &dns.real_servers[0].checks[0];
    assert_eq!(d.kind, CheckKind::Dns);
    assert_eq!(d.dns_type.as_deref(), Some("A"));
    assert_eq!(d.dns_name.as_deref(), Some("www.example.org"));
    assert_eq!(d.dns_expect.as_deref(), Some("192\\.0\\.2\\."));

    let fwm = &c.virtual_servers[2];
    assert_eq!((fwm.fwmark, fwm.family), (Some(7), Some(Family::Inet)));
    let r = &fwm.real_servers[0];
    assert_eq!((r.port, r.weight, r.method), (None, 3, Some(Method::Tun)));
    assert_eq!(r.checks[0].kind, CheckKind::Tcp);
    assert_eq!(r.checks[0].connect_port, Some(443));
    assert_eq!(r.checks[0].connect_timeout_ms, Some(4000), "checktimeout");

    let combined = &c.virtual_servers[3];
    assert!(combined.inhibit_on_failure);
    let ch = &combined.real_servers[0].checks;
    assert_eq!(ch[0].kind, CheckKind::Tcp);
    assert_eq!(ch[1].kind, CheckKind::Smtp, "port 25 is smtp");
    assert_eq!(
        ch[1].delay_loop_ms,
        Some(15_000),
        "negotiate every 3rd check"
    );

    let simple = &c.virtual_servers[4].real_servers[0].checks[0];
    assert_eq!(simple.kind, CheckKind::Tcp);
    assert_eq!(simple.tcp_send.as_deref(), Some("PING\n"));
    assert_eq!(simple.tcp_expect.as_deref(), Some("PONG"));

    let ext = &c.virtual_servers[5].real_servers[0].checks[0];
    assert_eq!(ext.kind, CheckKind::Misc);
    assert_eq!(
        ext.misc_path.as_deref(),
        Some("/usr/local/bin/check-it 192.0.2.10 7001 192.0.2.62 7001")
    );
    assert_eq!(ext.misc_timeout_ms, Some(2000));

    let ping = &c.virtual_servers[6];
    assert_eq!(ping.protocol, Protocol::Udp);
    assert_eq!(ping.real_servers[0].checks[0].kind, CheckKind::Ping);

    let on = &c.virtual_servers[7];
    assert_eq!(on.sched_flags, [SchedFlag::Flag1]);
    assert_eq!(
        on.real_servers[0].checks.len(),
        1,
        "only the maintenance check"
    );
    assert_eq!(on.real_servers[0].checks[0].kind, CheckKind::Maintenance);
    assert_eq!(on.real_servers[0].alpha, Some(true));

    let off = &c.virtual_servers[8].real_servers[0].checks[0];
    assert_eq!(off.misc_path.as_deref(), Some("/bin/false"));

    let warned: Vec<&str> = l.warnings.iter().map(|w| w.keyword.as_str()).collect();
    assert!(
        warned.contains(&"fork") && warned.contains(&"supervised"),
        "{warned:?}"
    );
}

#[test]
fn small_files_map_as_ldirectord_means_them() {
    type Check = fn(&Loaded);
    let cases: &[(&str, Check)] = &[
        ("virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n", |l| {
            let v = vs(l);
            assert_eq!(v.scheduler, "wrr", "ldirectord's default scheduler");
            assert_eq!(v.delay_loop_ms, 10_000);
            let c = &v.real_servers[0].checks[0];
            assert_eq!(c.kind, CheckKind::Http, "negotiate, port 80 = http");
            assert_eq!(c.urls[0].path, "/");
            assert_eq!(c.urls[0].regex, None);
            assert_eq!(
                c.connect_timeout_ms,
                Some(30_000),
                "negotiatetimeout default"
            );
        }),
        (
            "virtual=10.0.0.1:443\n    real=10.0.0.2:443 gate\n    httpmethod=head\n",
            |l| {
                let c = &vs(l).real_servers[0].checks[0];
                assert_eq!(c.kind, CheckKind::Ssl);
                assert_eq!(c.http_method, Some(HttpMethod::Head));
            },
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    request=\"http://10.0.0.9:8080/x\"\n    receive=\"y\"\n",
            |l| {
                let c = &vs(l).real_servers[0].checks[0];
                assert_eq!(c.connect_ip, Some(ip("10.0.0.9")));
                assert_eq!(c.connect_port, Some(8080));
                assert_eq!(c.urls[0].path, "/x");
            },
        ),
        ("virtual=10.0.0.1:9\n    real=10.0.0.2:9 gate\n", |l| {
            assert!(
                vs(l).real_servers[0].checks.is_empty(),
                "service none: always up"
            );
            assert_eq!(vs(l).real_servers[0].alpha, None);
        }),
        (
            "virtual=10.0.0.1:53\n    real=10.0.0.2:53 gate\n    request=\"10.0.0.7\"\n    receive=\"host7\"\n",
            |l| {
                let c = &vs(l).real_servers[0].checks[0];
                assert_eq!(c.dns_type.as_deref(), Some("PTR"));
                assert_eq!(c.dns_name.as_deref(), Some("7.0.0.10.in-addr.arpa"));
            },
        ),
        (
            "virtual6=[2001:db8::1]:80\n    real6=[2001:db8::2]:80 gate\n    netmask=64\n    persistent=60\n    checktype=connect\n",
            |l| {
                let v = vs(l);
                assert_eq!(v.name, "tcp:[2001:db8::1]:80");
                assert_eq!(v.real_servers[0].address, ip("2001:db8::2"));
                assert_eq!(v.persistence_granularity, Some(ip("ffff:ffff:ffff:ffff::")));
            },
        ),
        (
            "fallback=10.0.0.99\nvirtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=connect\n",
            |l| {
                let s = vs(l).sorry_server.as_ref().unwrap();
                assert_eq!(
                    (s.address, s.port),
                    (ip("10.0.0.99"), None),
                    "the service's port"
                );
            },
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=connect\n    checkinterval=3\n",
            |l| {
                assert_eq!(vs(l).delay_loop_ms, 10_000, "ignored with fork = no");
                assert_eq!(l.warnings[0].keyword, "checkinterval");
            },
        ),
        (
            "emailalert=a@example.org\nemailalertstatus=none\nvirtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=on\n",
            |l| {
                assert_eq!(l.config.global.smtp, None, "emailalertstatus none: no mail");
            },
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=on\n    emailalert=\"a@example.org\"\nvirtual=10.0.0.1:81\n    real=10.0.0.2:81 gate\n    checktype=on\n",
            |l| {
                let s = l.config.global.smtp.as_ref().unwrap();
                assert_eq!(
                    s.server,
                    "127.0.0.1:25".parse().unwrap(),
                    "no smtp: local relay"
                );
                assert_eq!(s.alert_checker, Some(false));
                assert_eq!(
                    l.config.virtual_servers[0].real_servers[0].smtp_alert,
                    Some(true)
                );
                assert_eq!(l.config.virtual_servers[1].real_servers[0].smtp_alert, None);
            },
        ),
        (
            "# comment\n\nvirtual=10.0.0.1:80 # the VIP\n    # inside\n    real=10.0.0.2:80 gate # one\n    receive=\"a#b\"\n",
            |l| {
                assert_eq!(
                    vs(l).real_servers[0].checks[0].urls[0].regex.as_deref(),
                    Some("a#b")
                );
            },
        ),
    ];
    for (text, check) in cases {
        check(&ok(text));
    }
}

#[test]
fn malformed_files_name_line_column_and_keyword() {
    // (text, line, column, a piece of the message)
    let cases: &[(&str, u32, u32, &str)] = &[
        ("bogus=1\n", 1, 1, "`bogus`: unknown keyword"),
        (
            "checktimeout=abc\n",
            1,
            14,
            "`checktimeout`: bad value \"abc\"",
        ),
        ("quiescent=maybe\n", 1, 11, "yes or no"),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80\n",
            2,
            10,
            "`real`",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 route\n",
            2,
            10,
            "forwarding method",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    service=ftp\n",
            3,
            13,
            "supported services: http, https, dns",
        ),
        (
            "virtual=10.0.0.1:21\n    real=10.0.0.2:21 gate\n",
            1,
            9,
            "port 21 means service ftp",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=sometimes\n",
            3,
            15,
            "`checktype`",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    connecttimeout=3\n",
            3,
            20,
            "negotiatetimeout",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    receive=\"(\"\n",
            3,
            13,
            "regular expression",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n\n    checktype=on\n",
            4,
            5,
            "outside a virtual section",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    autoreload=yes\n",
            3,
            5,
            "only valid as a global",
        ),
        (
            "real=10.0.0.2:80 gate\n",
            1,
            1,
            "only valid inside a virtual section",
        ),
        ("virtual=[2001:db8::1]:80\n", 1, 9, "virtual6"),
        (
            "virtual=10.0.0.1:80\n    real6=[2001:db8::2]:80 gate\n",
            2,
            11,
            "use `real`",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.3->10.0.0.2:80 gate\n",
            2,
            10,
            "first address",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=on\nvirtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    checktype=on\n",
            4,
            1,
            "duplicate virtual server",
        ),
        (
            "virtual=10.0.0.1:53\n    real=10.0.0.2:53 gate\n",
            2,
            10,
            "needs `receive`",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    protocol=fwm\n",
            3,
            14,
            "tcp or udp",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    netmask=24\n",
            3,
            13,
            "dotted quad",
        ),
        (
            "virtual=10.0.0.1:nosuchservice\n",
            1,
            9,
            "cannot resolve \"nosuchservice\"",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    monitorfile=/tmp/x\n",
            3,
            17,
            "not supported",
        ),
        (
            "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    httpmethod=HEAD\n    receive=\"x\"\n",
            0,
            0,
            "HEAD gets no body",
        ),
        ("just words\n", 1, 1, "expected `keyword = value`"),
    ];
    for (text, line, column, piece) in cases {
        let e = errs(text);
        let want = if *line == 0 {
            String::new()
        } else {
            format!("t.cf:{line}:{column}: ")
        };
        assert!(
            e.iter().any(|m| m.starts_with(&want) && m.contains(piece)),
            "for {text:?} expected `{want}...{piece}...`, got {e:#?}"
        );
    }
}

#[test]
fn errors_are_typed() {
    let e = read_ldirectord_str("bogus = 1\n", Path::new("x.cf")).unwrap_err();
    match &e[0] {
        ConfigError::Ldirectord { location, kind } => {
            assert_eq!((location.line, location.column), (1, 1));
            assert!(
                matches!(kind, LdirectordErrorKind::Keyword { keyword, .. } if keyword == "bogus")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_merge_api_sets_only_its_global_fields() {
    let out = read_ldirectord_str(EVERYTHING, Path::new("x.cf")).unwrap();
    let g = Global {
        smtp: out.global.smtp.clone(),
        lvs_flush_on_stop: out.global.lvs_flush_on_stop,
        watch_config: out.global.watch_config,
        ..Global::default()
    };
    assert_eq!(out.global, g);
    assert_eq!(out.virtual_servers.len(), 9);
    assert_eq!(out.locations.len(), 9);
}

#[test]
fn cli_check_config_and_convert() {
    let bin = env!("CARGO_BIN_EXE_ha-director");
    let out = std::process::Command::new(bin)
        .args(["check-config", "--offline", "--ldirectord-cf"])
        .arg(sample())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 virtual server(s), 2 real server(s), 2 check(s)"),
        "{stdout}"
    );
    let out = std::process::Command::new(bin)
        .args(["convert", "--ldirectord-cf"])
        .arg(sample())
        .output()
        .unwrap();
    assert!(out.status.success());
    let toml = String::from_utf8_lossy(&out.stdout);
    let back = load_toml_str(&toml, Path::new("c.toml")).unwrap_or_else(|e| panic!("{}", e[0]));
    assert_eq!(back.config, load_ldirectord_file(&sample()).unwrap().config);
    let dir = std::env::temp_dir().join(format!("ldir-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.cf");
    std::fs::write(
        &bad,
        "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    service=pop\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["check-config", "--ldirectord-cf"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:13: `service`", bad.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #[test]
    fn reader_never_panics(s in "\\PC*") {
        let _ = read_ldirectord_str(&s, Path::new("p.cf"));
    }

    #[test]
    fn reader_never_panics_on_ldirectord_like_text(
        lines in proptest::collection::vec(
            (
                prop_oneof![Just(""), Just("    "), Just("\t"), Just("  ")],
                prop_oneof![
                    Just("virtual"), Just("virtual6"), Just("real"), Just("real6"),
                    Just("checktype"), Just("service"), Just("request"), Just("receive"),
                    Just("fallback"), Just("netmask"), Just("protocol"), Just("checkport"),
                    Just("emailalert"), Just("smtp"), Just("quiescent"), Just("bogus"),
                ],
                prop_oneof![Just("="), Just(" = "), Just(" ")],
                "[0-9a-z.:\\[\\]>\\- \"#,/]{0,30}",
            ),
            0..12,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(i, k, eq, v)| format!("{i}{k}{eq}{v}\n"))
            .collect();
        let _ = read_ldirectord_str(&text, Path::new("p.cf"));
    }
}
