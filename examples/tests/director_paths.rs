//! The model's `advert_auth` and `paths` (heartbeat's `authkeys` and redundant links): TOML in
//! and out, validation, and the translation into the core's instance configuration (the
//! path's source from its interface, this host's own addresses skipped among the peers).

use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use ha_examples::director::build::{self, Accounts};
use ha_examples::director::toml_format::to_toml;
use ha_examples::director::{self, Config};
use ha_failover::core::InstanceId;
use ha_failover::vrrp::wire::auth::MacAlgorithm;

const TEXT: &str = r#"
[[instances]]
name = "A"
interface = "eth0"
vrid = 51
vips = ["192.168.10.100/24"]
unicast_peers = ["192.168.10.2", "192.168.10.3"]

[instances.advert_auth]
algorithm = "sha1"
key_id = 3
key = "s3cret"

[[instances.paths]]
interface = "eth1"
unicast_peers = ["10.0.0.1", "10.0.0.2"]

[[instances.paths]]
interface = "eth2"
mcast_group = "224.0.0.19"
"#;

fn load(text: &str) -> Result<Config, String> {
    director::load_toml_str(text, Path::new("test.toml"))
        .map(|l| l.config)
        .map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
}

fn resolve(ifname: &str, _v6: bool) -> Result<IpAddr, String> {
    match ifname {
        "eth0" => Ok("192.168.10.2".parse().unwrap()),
        "eth1" => Ok("10.0.0.1".parse().unwrap()),
        "eth2" => Ok("10.2.0.1".parse().unwrap()),
        _ => Err("no such interface".into()),
    }
}

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
        group: "root:x:0:\n".into(),
    }
}

#[test]
fn advert_auth_and_paths_build_into_the_core() {
    let cfg = load(TEXT).unwrap();
    let i = &cfg.instances[0];
    assert_eq!(i.paths.len(), 2);
    assert_eq!(i.advert_auth.as_ref().unwrap().key_id, 3);
    // TOML out and in again: the same model.
    let text = to_toml(&cfg).unwrap();
    assert!(text.contains("[instances.advert_auth]"), "{text}");
    assert!(text.contains("algorithm = \"sha1\""), "{text}");
    assert!(text.contains("[[instances.paths]]"), "{text}");
    assert_eq!(load(&text).unwrap(), cfg);

    let built = build::build(&cfg, &mut resolve, &accounts()).unwrap();
    let d = built.config.director.clone().build(Instant::now()).unwrap();
    let c = d.instance_config(InstanceId(0)).unwrap();
    let key = c.advert_key.as_ref().unwrap();
    assert_eq!(key.algorithm(), MacAlgorithm::HmacSha1);
    assert_eq!(key.key_id(), 3);
    // This host's own addresses are skipped: 192.168.10.2 on eth0, 10.0.0.1 on eth1.
    assert_eq!(c.router.peers, ["192.168.10.3".parse::<IpAddr>().unwrap()]);
    assert_eq!(c.paths[0].interface, "eth1");
    assert_eq!(c.paths[0].source, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(c.paths[0].peers, ["10.0.0.2".parse::<IpAddr>().unwrap()]);
    assert!(c.paths[1].peers.is_empty());
    assert_eq!(
        c.paths[1].multicast_group,
        Some("224.0.0.19".parse().unwrap())
    );
    // The plan gives each path a socket.
    let plan =
        ha_failover::runtime::plan::plan(&built.config.director, &built.config.instances, None)
            .unwrap();
    assert_eq!(plan.instances[0].paths.len(), 2);
}

#[test]
fn bad_keys_and_paths_are_refused_with_a_reason() {
    let cases = [
        (
            TEXT.replace("key = \"s3cret\"", "key = \"\""),
            "must not be empty",
        ),
        (
            TEXT.replace("interface = \"eth2\"", "interface = \"eth0\""),
            "already used",
        ),
        (
            TEXT.replace("interface = \"eth2\"", "interface = \"eth1\""),
            "already used",
        ),
        (
            TEXT.replace("224.0.0.19", "10.9.9.9"),
            "not a multicast address",
        ),
        (
            TEXT.replace("\"10.0.0.2\"]", "\"fd00::2\"]"),
            "address family",
        ),
        (
            TEXT.replace(
                "vrid = 51",
                "vrid = 51\nversion = 2\nauth = { pass = \"pw\" }",
            ),
            "cannot be used together",
        ),
        (
            TEXT.replace("algorithm = \"sha1\"", "algorithm = \"crc\""),
            "crc",
        ),
    ];
    for (text, want) in cases {
        let e = load(&text).unwrap_err();
        assert!(e.contains(want), "{want:?} not in: {e}");
    }
    // Peers that are all this host's own addresses leave no peer: refused when built.
    let text = TEXT.replace("\"10.0.0.1\", \"10.0.0.2\"", "\"10.0.0.1\"");
    let cfg = load(&text).unwrap();
    let e = build::build(&cfg, &mut resolve, &accounts()).unwrap_err();
    assert!(e.to_string().contains("own address"), "{e}");
    // A path interface without an address.
    let text = TEXT.replace("eth2", "eth9");
    let cfg = load(&text).unwrap();
    let e = build::build(&cfg, &mut resolve, &accounts()).unwrap_err();
    assert!(e.to_string().contains("eth9"), "{e}");
}
