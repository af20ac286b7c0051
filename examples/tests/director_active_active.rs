//! Active-active configuration: the `[bgp]` section, `announce` and the `lvs_` sysctls: the
//! example file, the TOML round trip, what the runtime gets, and every refusal with its place.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ha_examples::director::build::bgp_config;
use ha_examples::director::toml_format::to_toml;
use ha_examples::director::{load_toml_file, load_toml_str};
use ha_failover::core::VirtualServerId;

fn example() -> ha_examples::director::Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/active-active.toml");
    load_toml_file(&path).unwrap_or_else(|e| {
        panic!(
            "{:#?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    })
}

#[test]
fn the_example_builds_the_speaker_and_round_trips() {
    let l = example();
    let c = &l.config;
    assert_eq!(c.global.lvs_sloppy_tcp, Some(true));
    let b = bgp_config(c).expect("a [bgp] section");
    assert_eq!(b.local_as, 65001);
    assert_eq!(b.hold_time, 9);
    assert_eq!(b.connect_retry, Duration::from_secs(5));
    assert_eq!(b.drain, Duration::from_secs(5));
    assert_eq!(b.neighbors.len(), 1);
    let n = &b.neighbors[0];
    assert_eq!(n.address, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(n.peer_as, 65000);
    let bfd = n.bfd.expect("bfd = true");
    assert_eq!(
        (bfd.interval, bfd.multiplier),
        (Duration::from_millis(100), 3)
    );
    assert_eq!(
        b.routes,
        vec![(VirtualServerId(0), "10.0.0.100".parse().unwrap())]
    );
    let text = to_toml(c).unwrap();
    let back = load_toml_str(&text, Path::new("back.toml")).unwrap();
    assert_eq!(&back.config, c, "{text}");
}

const BASE: &str = "[bgp]
local_as = 65001
router_id = \"192.0.2.11\"

[[bgp.neighbors]]
address = \"192.0.2.1\"
peer_as = 65000

[[virtual_servers]]
name = \"web\"
address = \"10.0.0.100\"
port = 80
announce = true
";

#[test]
fn defaults_and_groups() {
    let l = load_toml_str(BASE, Path::new("c.toml")).unwrap();
    let b = bgp_config(&l.config).unwrap();
    assert_eq!(b.hold_time, 90);
    assert_eq!(b.connect_retry, Duration::from_secs(5));
    assert_eq!(b.drain, Duration::ZERO);
    assert_eq!(b.neighbors[0].bfd, None);
    assert_eq!(b.neighbors[0].local_address, None);
    // A group announces each of its addresses; a server without `announce` none.
    let text = "[bgp]
local_as = 65001
router_id = \"192.0.2.11\"
[[bgp.neighbors]]
address = \"192.0.2.1\"
peer_as = 65000
[[virtual_server_groups]]
name = \"g\"
entries = [\"10.0.0.1-2 80\", \"fwmark 3\"]
[[virtual_servers]]
name = \"quiet\"
address = \"10.0.0.9\"
port = 80
[[virtual_servers]]
name = \"grouped\"
group = \"g\"
announce = true
";
    let l = load_toml_str(text, Path::new("c.toml")).unwrap_or_else(|e| {
        panic!(
            "{:#?}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    let b = bgp_config(&l.config).unwrap();
    let want: Vec<(VirtualServerId, IpAddr)> = ["10.0.0.1", "10.0.0.2"]
        .iter()
        .map(|a| (VirtualServerId(1), a.parse().unwrap()))
        .collect();
    assert_eq!(b.routes, want);
}

/// Each refusal names the section or item and where it is.
#[test]
fn bad_values_are_refused_with_their_place() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "local_as = 65001",
            "local_as = 0",
            "c.toml:1:1: bgp: local_as 0 is reserved (RFC 7607)",
        ),
        (
            "router_id = \"192.0.2.11\"",
            "router_id = \"0.0.0.0\"",
            "c.toml:1:1: bgp: router_id 0.0.0.0 is not a valid BGP identifier (RFC 6286)",
        ),
        (
            "router_id = \"192.0.2.11\"",
            "router_id = \"192.0.2.11\"\nhold_time_s = 2",
            "c.toml:1:1: bgp: hold_time_s 2 is not allowed: 0 or at least 3 (RFC 4271 section 4.2)",
        ),
        (
            "router_id = \"192.0.2.11\"",
            "router_id = \"192.0.2.11\"\nconnect_retry_s = 0",
            "c.toml:1:1: bgp: connect_retry_s must be at least 1",
        ),
        (
            "peer_as = 65000",
            "peer_as = 0",
            "c.toml:1:1: bgp: neighbor 192.0.2.1: peer_as 0 is reserved (RFC 7607)",
        ),
        (
            "peer_as = 65000",
            "peer_as = 65000\nlocal_address = \"2001:db8::1\"",
            "c.toml:1:1: bgp: neighbor 192.0.2.1: local_address 2001:db8::1 is of the other address family",
        ),
        (
            "peer_as = 65000",
            "peer_as = 65000\nbfd = true\nbfd_interval_ms = 5",
            "c.toml:1:1: bgp: neighbor 192.0.2.1: bfd_interval_ms 5 is outside 10..=60000",
        ),
        (
            "peer_as = 65000",
            "peer_as = 65000\nbfd = true\nbfd_multiplier = 0",
            "c.toml:1:1: bgp: neighbor 192.0.2.1: bfd_multiplier must be at least 1 (RFC 5880 section 4.1)",
        ),
        (
            "address = \"192.0.2.1\"",
            "address = \"224.0.0.5\"",
            "c.toml:1:1: bgp: neighbor 224.0.0.5: not a unicast address",
        ),
        (
            "peer_as = 65000\n",
            "peer_as = 65000\n[[bgp.neighbors]]\naddress = \"192.0.2.1\"\npeer_as = 65000\n",
            "c.toml:1:1: bgp: neighbor 192.0.2.1 is listed twice",
        ),
        (
            "address = \"10.0.0.100\"\nport = 80\n",
            "fwmark = 7\n",
            "c.toml:10:1: virtual server \"web\": announce = true needs an address (a fwmark service has none to announce)",
        ),
    ];
    for (from, to, want) in cases {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        let errs = load_toml_str(&text, Path::new("c.toml"))
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        let errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            errs.iter().any(|e| e == want),
            "{want}\ngot {errs:#?}\n{text}"
        );
    }
    // No neighbours, and `announce` without a [bgp] section.
    let none = "[bgp]\nlocal_as = 1\nrouter_id = \"192.0.2.11\"\nneighbors = []\n";
    let errs = load_toml_str(none, Path::new("c.toml")).unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "c.toml:1:1: bgp: no neighbors: [[bgp.neighbors]] with address and peer_as"
    );
    let alone = "[[virtual_servers]]\nname = \"web\"\naddress = \"10.0.0.100\"\nport = 80\nannounce = true\n";
    let errs = load_toml_str(alone, Path::new("c.toml")).unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "c.toml:2:1: virtual server \"web\": announce = true needs a [bgp] section with the neighbours to announce to"
    );
    // The sysctls without a virtual server: not applied, and said so.
    let alone = "[global]\nlvs_sloppy_tcp = true\n";
    let l = load_toml_str(alone, Path::new("c.toml")).unwrap();
    let mut resolve = |_: &str, _: bool| -> Result<IpAddr, String> { Err("no DNS".into()) };
    let b = ha_examples::director::build::build(
        &l.config,
        &mut resolve,
        &ha_examples::director::build::Accounts {
            passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
            group: "root:x:0:\n".into(),
        },
    )
    .unwrap();
    assert!(b.config.ipvs.is_none());
    assert!(
        b.notes.iter().any(|n| n.contains("the lvs_ sysctls")),
        "{:#?}",
        b.notes
    );
    // The sysctl with a range.
    let reuse = "[global]\nlvs_conn_reuse_mode = 3\n";
    let errs = load_toml_str(reuse, Path::new("c.toml")).unwrap_err();
    assert!(
        errs[0]
            .to_string()
            .ends_with("global: lvs_conn_reuse_mode 3 is outside 0..=2"),
        "{}",
        errs[0]
    );
}

/// `convert` says that none of the converted formats has active-active.
#[test]
fn convert_says_keepalived_has_no_equivalent() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/lvs-dr-master.conf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ha-director"))
        .args(["convert", "--keepalived-conf"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("keepalived, ldirectord and\n# heartbeat have no equivalent"),
        "{text}"
    );
    // Still a TOML file that loads.
    load_toml_str(&text, Path::new("converted.toml")).unwrap();
}
