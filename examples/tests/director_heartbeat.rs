//! The heartbeat reader: the files of each guide style (unicast with ping nodes and
//! auto_failback on; sha1 authkeys, deadtime 10 and a DRBD/filesystem/database group;
//! bcast plus ldirectord with a body check, fallback and quiescent) read unchanged and built,
//! per node; authkeys' mode; errors with `file:line:column`; a TOML round trip; the command
//! line.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ha_examples::director::build::{self, Accounts};
use ha_examples::director::heartbeat::{Options, load_heartbeat_dir};
use ha_examples::director::model::*;
use ha_examples::director::{Loaded, load_toml_str, toml_format};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A copy of a guide's directory with authkeys at mode 600 (git does not keep modes).
fn guide(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("director/heartbeat-guides")
        .join(name);
    let dst = std::env::temp_dir().join(format!("ha-hb-guide-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    std::fs::set_permissions(dst.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    dst
}

fn load(dir: &Path, node: &str) -> Loaded {
    let opts = Options {
        node: Some(node.into()),
        offline: true,
    };
    load_heartbeat_dir(dir, &opts).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn errors(dir: &Path, node: &str) -> Vec<String> {
    let opts = Options {
        node: Some(node.into()),
        offline: true,
    };
    match load_heartbeat_dir(dir, &opts) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
        group: "root:x:0:\n".into(),
    }
}

fn builds(cfg: &Config) {
    let mut resolve = |ifname: &str, v6: bool| -> Result<IpAddr, String> {
        match (ifname, v6) {
            ("eth0", false) => Ok(ip("192.168.1.11")),
            ("eth1", false) => Ok(ip("10.1.0.1")),
            _ => Err("no such interface".into()),
        }
    };
    build::build(cfg, &mut resolve, &accounts()).unwrap_or_else(|e| panic!("{e}"));
}

fn round_trip(cfg: &Config) {
    let text = toml_format::to_toml(cfg).unwrap();
    let back = load_toml_str(&text, Path::new("converted.toml"))
        .unwrap_or_else(|e| panic!("{text}\n{}", e[0]))
        .config;
    assert_eq!(&back, cfg, "{text}");
}

#[test]
fn unicast_with_ping_nodes_and_auto_failback_on() {
    let dir = guide("unicast-ping");
    let home = load(&dir, "web1");
    let c = &home.config;
    assert_eq!(c.instances.len(), 1);
    let i = &c.instances[0];
    assert_eq!((i.name.as_str(), i.vrid, i.version), ("group1", 1, 3));
    assert_eq!(i.priority, 101, "the home node with auto_failback on");
    assert!(!i.nopreempt);
    assert_eq!(i.advert_int_ms, 2_000);
    assert_eq!(i.dead_interval_ms, Some(30_000));
    assert_eq!(i.init_dead_ms, Some(120_000));
    assert_eq!(i.warn_interval_ms, Some(10_000));
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.unicast_peers, [ip("192.168.1.11"), ip("192.168.1.12")]);
    assert!(i.paths.is_empty());
    assert_eq!(i.advert_auth, None, "crc is plain VRRP");
    assert!(
        i.vips.is_empty(),
        "the address is a resource, started in order"
    );
    assert_eq!(c.track_pings.len(), 1);
    assert_eq!(c.track_pings[0].addresses, [ip("192.168.1.254")]);
    assert_eq!(c.track_pings[0].weight, 2);
    assert_eq!(c.track_pings[0].interval_ms, 2_000);
    assert_eq!(i.track_pings[0].name, c.track_pings[0].name);
    let steps = &c.resource_groups[0].steps;
    assert_eq!(
        steps[0],
        Step::Address {
            address: "192.168.1.100/24 dev eth0 brd 192.168.1.255"
                .parse()
                .unwrap()
        }
    );
    assert!(matches!(&steps[1], Step::Service { name, .. } if name == "apache2"));
    assert_eq!(c.global.realtime_priority, Some(50));
    // Notes for heartbeat's plumbing, none for what runs.
    let noted: Vec<&str> = home.warnings.iter().map(|w| w.keyword.as_str()).collect();
    for k in ["logfile", "logfacility", "udpport", "respawn", "apiauth"] {
        assert!(noted.contains(&k), "{k} noted: {noted:?}");
    }
    builds(c);
    round_trip(c);

    let other = load(&dir, "web2");
    assert_eq!(other.config.instances[0].priority, 100);
    assert_eq!(other.config.instances[0].init_dead_ms, Some(120_000));
}

#[test]
fn sha1_deadtime_10_with_drbd_filesystem_and_two_links() {
    let dir = guide("sha1-deadtime");
    let c = load(&dir, "db2").config;
    let i = &c.instances[0];
    assert_eq!(i.priority, 100, "auto_failback off: equal priorities");
    // The other node waits one keepalive more at start, so the home node wins.
    assert_eq!(i.init_dead_ms, Some(61_000));
    assert_eq!(i.dead_interval_ms, Some(10_000));
    assert_eq!(
        load(&dir, "db1").config.instances[0].init_dead_ms,
        Some(60_000)
    );
    assert_eq!(load(&dir, "db1").config.instances[0].priority, 100);
    // bcast eth1 first: the instance runs there; the ucast pair is a redundant path.
    assert_eq!(i.interface, "eth1");
    assert!(i.unicast_peers.is_empty());
    assert_eq!(i.paths.len(), 1);
    assert_eq!(i.paths[0].interface, "eth0");
    assert_eq!(i.paths[0].unicast_peers, [ip("10.0.0.21"), ip("10.0.0.22")]);
    assert_eq!(
        i.advert_auth,
        Some(AdvertAuth {
            algorithm: AuthAlgorithm::Sha1,
            key_id: 2,
            key: "e9b0f3c1d2a64a7f8e5b".into()
        })
    );
    let fence = i.fence.as_ref().unwrap();
    assert_eq!(
        fence.argv,
        [
            "stonith",
            "-t",
            "external/ssh",
            "-p",
            "db1 db2",
            "-T",
            "reset",
            "db1"
        ]
    );
    assert_eq!(
        c.global.watchdog.as_ref().unwrap().device,
        Path::new("/dev/watchdog")
    );
    assert_eq!(c.global.watchdog.as_ref().unwrap().interval_ms, 1_000);
    let steps = &c.resource_groups[0].steps;
    assert!(matches!(&steps[0], Step::Drbd { resource, .. } if resource == "r0"));
    assert!(matches!(
        &steps[1],
        Step::Filesystem { device, directory, fstype, options, .. }
            if device == "/dev/drbd0" && directory == "/var/lib/mysql"
                && fstype.as_deref() == Some("ext4") && options.as_deref() == Some("noatime")
    ));
    assert_eq!(
        steps[2],
        Step::Address {
            address: "10.0.0.20/24 dev eth0 label eth0:db brd 10.0.0.255"
                .parse()
                .unwrap()
        }
    );
    assert!(
        matches!(&steps[3], Step::SourceAddress { address, .. } if *address == ip("10.0.0.20"))
    );
    assert!(matches!(&steps[4], Step::Service { name, .. } if name == "mysql"));
    builds(&c);
    round_trip(&c);
}

#[test]
fn bcast_with_ldirectord_body_check_fallback_and_quiescent() {
    let dir = guide("bcast-ldirectord");
    let c = load(&dir, "lvs1").config;
    let i = &c.instances[0];
    assert_eq!(i.priority, 101);
    assert_eq!(i.dead_interval_ms, Some(5_000));
    assert_eq!(i.interface, "eth0");
    assert!(i.unicast_peers.is_empty(), "bcast: multicast on the link");
    assert_eq!(
        i.advert_auth.as_ref().unwrap().algorithm,
        AuthAlgorithm::Md5
    );
    assert_eq!(c.virtual_servers.len(), 1);
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.address, Some(ip("192.168.0.200")));
    assert_eq!(vs.port, Some(80));
    assert_eq!(vs.scheduler, "wlc");
    assert_eq!(vs.real_servers.len(), 2);
    assert!(vs.inhibit_on_failure, "quiescent=yes");
    assert_eq!(vs.sorry_server.as_ref().unwrap().address, ip("127.0.0.1"));
    let check = &vs.real_servers[0].checks[0];
    assert_eq!(check.urls[0].regex.as_deref(), Some("Still alive"));
    assert!(c.global.watch_config, "autoreload=yes");
    let steps = &c.resource_groups[0].steps;
    assert!(matches!(&steps[0], Step::Address { .. }));
    assert_eq!(
        steps[1],
        Step::VirtualServer {
            name: vs.name.clone()
        }
    );
    builds(&c);
    round_trip(&c);
}

#[test]
fn authkeys_must_be_private_and_nodes_must_match() {
    let dir = guide("unicast-ping");
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = errors(&dir, "web1");
    assert!(
        e[0].contains("authkeys:1:1") && e[0].contains("chmod 600"),
        "{e:?}"
    );
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = errors(&dir, "web3");
    assert!(
        e[0].contains("ha.cf:13:6") && e[0].contains("web3") && e[0].contains("--node"),
        "{e:?}"
    );
    std::fs::write(dir.join("haresources"), "web1 10.0.0.1\nweb9 10.0.0.2\n").unwrap();
    let e = errors(&dir, "web1");
    assert!(
        e[0].contains("haresources:2:1") && e[0].contains("web9"),
        "{e:?}"
    );
    std::fs::write(dir.join("haresources"), "web1 Filesystem::/dev/sdb1\n").unwrap();
    let e = errors(&dir, "web1");
    assert!(e[0].contains("haresources:1:6"), "{e:?}");
    // With interfaces looked up on this host, an address no network here holds is refused.
    std::fs::write(dir.join("haresources"), "web1 198.51.100.77\n").unwrap();
    let opts = Options {
        node: Some("web1".into()),
        offline: false,
    };
    let e: Vec<String> = load_heartbeat_dir(&dir, &opts)
        .err()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        e[0].contains("haresources:1:6") && e[0].contains("IP/PREFIX/INTERFACE"),
        "{e:?}"
    );
}

#[test]
fn command_line_checks_and_converts_a_heartbeat_directory() {
    let dir = guide("bcast-ldirectord");
    let out = std::process::Command::new(BIN)
        .args([
            "check-config",
            "--offline",
            "--node",
            "lvs2",
            "--heartbeat-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(BIN)
        .args(["convert", "--node", "lvs2", "--heartbeat-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let back = load_toml_str(&text, Path::new("c.toml")).unwrap().config;
    assert_eq!(back.instances[0].priority, 100);
    assert_eq!(back.virtual_servers.len(), 1);
    // A node that is not in ha.cf: exit 1 with the place.
    let out = std::process::Command::new(BIN)
        .args([
            "check-config",
            "--offline",
            "--node",
            "nobody",
            "--heartbeat-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ha.cf:9:6"));
}
