//! Host suite: the director runtime with a VRRP virtual MAC (keepalived `use_vmac`): adverts
//! and the VIP's ARP answers come from 00:00:5e:00:01:{VRID}, so a client's neighbour entry
//! does not change when another node takes over; the interface is removed at stop.
#![cfg(feature = "tokio")]

mod node_support;

use std::net::IpAddr;
use std::time::Duration;

use ha_failover::core::{DirectorBuilder, InstanceConfig, VipSpec};
use ha_failover::runtime::director::{DirectorConfig, InstanceOptions};
use ha_failover::vrrp::router::{Config as RouterConfig, State};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Version, VrId};
use ha_testsupport::{Host, Lab, require_root, require_tool, tshark_fields, wait_until};
use node_support::Node;

const VIP: &str = "10.71.0.100";
const VMAC: &str = "00:00:5e:00:01:47";

fn config(primary: &str, priority: u8) -> DirectorConfig {
    let mut r = RouterConfig::new(
        Version::V3,
        VrId::new(71).unwrap(),
        primary.parse::<IpAddr>().unwrap(),
    );
    r.priority = Priority(priority);
    r.advert_interval = AdvertInterval::V3(Centiseconds::new(20).unwrap());
    let mut c = InstanceConfig::new("VI_1", "eth0", r);
    c.vips.push(VipSpec::parse(&format!("{VIP}/24")).unwrap());
    let mut b = DirectorBuilder::new();
    b.add_instance(c).unwrap();
    let mut cfg = DirectorConfig::new(b);
    cfg.announce.second_burst_delay = None;
    cfg.instances.insert(
        "VI_1".into(),
        InstanceOptions {
            vmac: Some("vrrp.71".into()),
            ..InstanceOptions::default()
        },
    );
    cfg
}

fn neighbour_mac(client: &Host) -> Option<String> {
    let out = client.sh(&format!("ip neigh show {VIP}"));
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_owned)
}

fn ping(client: &Host) -> bool {
    client
        .exec(&["ping", "-c", "1", "-W", "1", VIP])
        .status
        .success()
}

fn has_link(h: &Host, name: &str) -> bool {
    h.exec(&["ip", "link", "show", name]).status.success()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_vmac_keeps_the_clients_neighbour_entry_across_failover() {
    require_root();
    require_tool("tshark", "tshark");
    let mut lab = Lab::new("dvmac");
    let d1 = lab.add_host("d1", &["10.71.0.2/24"]);
    let d2 = lab.add_host("d2", &["10.71.0.3/24"]);
    let client = lab.add_host("c", &["10.71.0.10/24"]);
    let cap = lab.capture(&client, "eth0", Some("vrrp or arp"));
    let n1 = Node::start(&d1, config("10.71.0.2", 150));
    let n2 = Node::start(&d2, config("10.71.0.3", 100));
    assert!(
        wait_until(Duration::from_secs(10), || n1.states()
            == vec![State::Master]),
        "{:?}",
        n1.status()
    );
    assert!(wait_until(Duration::from_secs(5), || ping(&client)));
    assert_eq!(neighbour_mac(&client).as_deref(), Some(VMAC));
    assert!(has_link(&d1, "vrrp.71") && has_link(&d2, "vrrp.71"));
    assert_eq!(n2.states(), vec![State::Backup]);

    // d1 stops: d2 takes over with the same MAC; the client needs no update.
    n1.stop();
    assert!(
        wait_until(Duration::from_secs(5), || n2.states()
            == vec![State::Master]),
        "{:?}",
        n2.status()
    );
    assert!(wait_until(Duration::from_secs(5), || ping(&client)));
    assert_eq!(neighbour_mac(&client).as_deref(), Some(VMAC));
    assert!(
        !has_link(&d1, "vrrp.71"),
        "d1 kept its virtual MAC interface"
    );
    let pcap = cap.stop();
    n2.stop();

    // Every advert on the wire came from the virtual MAC, from both nodes.
    let adverts = tshark_fields(&pcap, "vrrp", &["eth.src", "ip.src"]);
    assert!(adverts.len() > 5, "{adverts:?}");
    assert!(adverts.iter().all(|r| r[0] == VMAC), "{adverts:?}");
    assert!(adverts.iter().any(|r| r[1] == "10.71.0.2"));
    assert!(adverts.iter().any(|r| r[1] == "10.71.0.3"));
    // ARP about the VIP (replies and gratuitous) carries the virtual MAC.
    let arp = tshark_fields(
        &pcap,
        &format!("arp.src.proto_ipv4 == {VIP}"),
        &["arp.src.hw_mac"],
    );
    assert!(!arp.is_empty(), "no ARP about the VIP");
    assert!(arp.iter().all(|r| r[0] == VMAC), "{arp:?}");
}
