//! The director runtime driving the kernel's IPVS (VM suite: the host kernel has no IPVS).
//!
//! Two directors in their own namespaces (IPVS is per namespace), two real servers: the
//! virtual server is installed on both directors, a real server whose port closes leaves the
//! pool, the connection sync daemon runs as master on the VRRP master and as backup on the
//! backup and swaps on failover, and a stopped director removes its virtual server.
#![cfg(feature = "tokio")]

mod node_support;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use ha_failover::core::{
    DirectorBuilder, InstanceConfig, RealServer, VipSpec, VirtualServerConfig, VirtualServerId,
};
use ha_failover::runtime::director::{
    DirectorConfig, HealthTarget, IpvsOptions, SyncDaemonOptions,
};
use ha_healthcheck::{Check, TargetConfig, TcpCheck};
use ha_ipvs::model::{
    DaemonRole, Destination, Forward, Scheduler, Service, ServiceKey, SyncDaemon,
};
use ha_testsupport::{Host, Lab, require_vm, wait_until};
use ha_vrrp_proto::router::{Config as RouterConfig, State};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Version, VrId};
use node_support::Node;

const VIP: &str = "10.77.0.100";

fn config(h: &Host, primary: &str, priority: u8) -> DirectorConfig {
    let mut r = RouterConfig::new(
        Version::V3,
        VrId::new(77).unwrap(),
        primary.parse::<IpAddr>().unwrap(),
    );
    r.priority = Priority(priority);
    r.advert_interval = AdvertInterval::V3(Centiseconds::new(20).unwrap());
    let mut c = InstanceConfig::new("VI_1", h.ifname(), r);
    c.vips.push(VipSpec::parse(&format!("{VIP}/24")).unwrap());
    let mut b = DirectorBuilder::new();
    b.add_instance(c).unwrap();
    let vs: SocketAddr = format!("{VIP}:80").parse().unwrap();
    let rs: Vec<SocketAddr> = ["10.77.0.11:80", "10.77.0.12:80"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    b.add_virtual_server(VirtualServerConfig::new(
        "web",
        Service::new(ServiceKey::tcp(vs), Scheduler::Rr),
        rs.iter()
            .map(|a| RealServer::new(Destination::new(*a, Forward::Route, 1)))
            .collect(),
    ))
    .unwrap();
    let mut cfg = DirectorConfig::new(b);
    cfg.announce.second_burst_delay = None;
    cfg.ipvs = Some(IpvsOptions {
        remove_on_stop: true,
        sync_daemon: Some(SyncDaemonOptions {
            instance: "VI_1".into(),
            daemon: SyncDaemon::new(DaemonRole::Backup, h.ifname(), 7),
        }),
        ..IpvsOptions::default()
    });
    cfg.health = rs
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let mut t = TargetConfig::new(Arc::new(Check::Tcp(TcpCheck::new(*a))));
            t.interval = Duration::from_millis(300);
            t.timeout = Duration::from_millis(300);
            t.retries = 0;
            HealthTarget {
                server: VirtualServerId(0),
                index,
                target: t,
                log_all_failures: false,
            }
        })
        .collect();
    cfg
}

/// `ipvsadm -Ln` in a namespace.
fn table(h: &Host) -> String {
    h.sh("ipvsadm -Ln")
}

fn destinations(h: &Host) -> usize {
    table(h)
        .lines()
        .filter(|l| l.contains("-> 10.77.0."))
        .count()
}

fn daemon(h: &Host) -> String {
    h.sh("ipvsadm -L --daemon")
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_director_programs_ipvs_follows_health_and_moves_the_sync_daemon() {
    require_vm();
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_rr"]);
    let mut lab = Lab::new("dipvs");
    let d1 = lab.add_host("d1", &["10.77.0.2/24"]);
    let d2 = lab.add_host("d2", &["10.77.0.3/24"]);
    let rs1 = lab.add_host("rs1", &["10.77.0.11/24"]);
    let rs2 = lab.add_host("rs2", &["10.77.0.12/24"]);
    // The real servers: listening sockets in their namespaces (a TCP check only connects).
    let l1 = rs1.run_in(|| TcpListener::bind("10.77.0.11:80").unwrap());
    let _l2 = rs2.run_in(|| TcpListener::bind("10.77.0.12:80").unwrap());

    let n1 = Node::start(&d1, config(&d1, "10.77.0.2", 150));
    let n2 = Node::start(&d2, config(&d2, "10.77.0.3", 100));
    let master = |n: &Node| {
        n.status()
            .instances
            .first()
            .is_some_and(|i| i.state == State::Master)
    };
    assert!(
        wait_until(Duration::from_secs(10), || master(&n1)),
        "d1 did not become master: {:?}",
        n1.status()
    );
    // Both directors program the virtual server (keepalived does too): a backup is ready.
    for d in [&d1, &d2] {
        assert!(
            wait_until(Duration::from_secs(10), || destinations(d) == 2),
            "{}: {}",
            d.name(),
            table(d)
        );
        assert!(
            table(d).contains(&format!("TCP  {VIP}:80 rr")),
            "{}",
            table(d)
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || daemon(&d1)
            .contains("master sync daemon")),
        "d1: {}",
        daemon(&d1)
    );
    assert!(
        wait_until(Duration::from_secs(5), || daemon(&d2)
            .contains("backup sync daemon")),
        "d2: {}",
        daemon(&d2)
    );
    assert!(daemon(&d1).contains("syncid=7"), "{}", daemon(&d1));
    let st = n1.status();
    assert!(st.ipvs.enabled);
    assert!(st.ipvs.ops_applied >= 3, "{:?}", st.ipvs);
    assert_eq!(st.ipvs.ops_failed, 0, "{:?}", st.ipvs);
    assert_eq!(st.ipvs.sync_daemon, Some("master"));

    // rs1 goes away: its port refuses; it leaves both tables within a few check intervals.
    drop(l1);
    for d in [&d1, &d2] {
        assert!(
            wait_until(Duration::from_secs(5), || destinations(d) == 1),
            "{}: {}",
            d.name(),
            table(d)
        );
        assert!(!table(d).contains("10.77.0.11:80"), "{}", table(d));
    }
    let st = n1.status();
    let members = &st.pools[0].members;
    assert!(!members[0].alive && members[1].alive, "{members:?}");
    assert!(members[0].checks[0].last_failure.is_some(), "{members:?}");
    assert!(st.checks.down >= 1 && st.checks.up >= 1, "{:?}", st.checks);
    // Someone deletes d2's service behind its back. d2 believes its table in sync, so the
    // next health change reaches its IPVS task as operations only; they fail, and the task
    // must get the whole desired state from the loop and put the service back.
    d2.sh(&format!("ipvsadm -D -t {VIP}:80"));
    assert_eq!(destinations(&d2), 0, "{}", table(&d2));
    // rs1 comes back and rejoins.
    let _l1 = rs1.run_in(|| TcpListener::bind("10.77.0.11:80").unwrap());
    assert!(
        wait_until(Duration::from_secs(5), || destinations(&d1) == 2),
        "{}",
        table(&d1)
    );
    assert!(
        wait_until(Duration::from_secs(8), || destinations(&d2) == 2),
        "d2 did not put back the service deleted behind its back: {}",
        table(&d2)
    );
    assert!(
        table(&d2).contains(&format!("TCP  {VIP}:80 rr")),
        "{}",
        table(&d2)
    );
    let st2 = n2.status();
    assert!(st2.ipvs.ops_failed >= 1, "{:?}", st2.ipvs);

    // d1 stops: d2 takes over, its sync daemon becomes master; d1's service is removed.
    n1.stop();
    assert!(
        wait_until(Duration::from_secs(5), || master(&n2)),
        "d2 did not take over: {:?}",
        n2.status()
    );
    assert!(
        wait_until(Duration::from_secs(5), || daemon(&d2)
            .contains("master sync daemon")),
        "d2: {}",
        daemon(&d2)
    );
    assert!(
        !table(&d1).contains(VIP),
        "d1 kept its service: {}",
        table(&d1)
    );
    assert!(
        !daemon(&d1).contains("sync daemon"),
        "d1 kept a sync daemon: {}",
        daemon(&d1)
    );
    n2.stop();
}
