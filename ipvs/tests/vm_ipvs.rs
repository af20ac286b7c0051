//! VM suite: every operation against a real kernel's IPVS, cross-checked with ipvsadm.
//! Run inside the test VM (HA_VM=1), one thread: they share the kernel's table.
#![cfg(feature = "tokio")]

use ha_ipvs::ipvsadm::{parse_rules, to_rules};
use ha_ipvs::*;
use std::net::SocketAddr;
use std::process::Command;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The schedulers this kernel ships as modules (`twos` arrived in Linux 6.7).
fn kernel_schedulers() -> Vec<Scheduler> {
    let release = sh("uname -r");
    Scheduler::ALL
        .iter()
        .filter(|s| {
            let p = format!(
                "/lib/modules/{}/kernel/net/netfilter/ipvs/ip_vs_{}.ko",
                release.trim(),
                s.name()
            );
            let there = std::path::Path::new(&p).exists();
            if !there {
                eprintln!("note: kernel {} has no scheduler {s}", release.trim());
            }
            there
        })
        .cloned()
        .collect()
}

static MODULES: std::sync::Once = std::sync::Once::new();

fn setup() -> (tokio::runtime::Runtime, Client) {
    ha_testsupport::require_vm();
    MODULES.call_once(|| {
        let mut mods: Vec<String> = ["ip_vs", "dummy", "ip_vs_pe_sip"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        mods.extend(
            kernel_schedulers()
                .iter()
                .map(|s| format!("ip_vs_{}", s.name())),
        );
        let refs: Vec<&str> = mods.iter().map(String::as_str).collect();
        ha_testsupport::modprobe(&refs);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = rt.block_on(Client::connect()).expect("connect to IPVS");
    rt.block_on(c.flush()).expect("flush");
    (rt, c)
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ipvsadm_restore(rules: &str) {
    let path = std::env::temp_dir().join(format!("ipvs-rules-{}", std::process::id()));
    std::fs::write(&path, rules).unwrap();
    sh(&format!("ipvsadm -R < {}", path.display()));
}

/// What ipvsadm reads: `ipvsadm -Sn` (which omits thresholds) completed with
/// the thresholds from `ipvsadm -Ln --thresholds` (same order of services and
/// destinations, both come from one sorted listing).
fn ipvsadm_state() -> Vec<VirtualService> {
    let mut state = parse_rules(&sh("ipvsadm -Sn")).unwrap();
    let listing = sh("ipvsadm -Ln --thresholds");
    let mut rows = listing
        .lines()
        .filter(|l| l.starts_with("  -> "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // ["->", addr, uthreshold, lthreshold, activeconn, inactconn]
            match (f.get(2), f.get(3)) {
                (Some(u), Some(l)) => Some((
                    f[1].to_string(),
                    u.parse::<u32>().ok()?,
                    l.parse::<u32>().ok()?,
                )),
                _ => None,
            }
        });
    for vs in &mut state {
        for d in &mut vs.destinations {
            let (addr, u, l) = rows
                .next()
                .unwrap_or_else(|| panic!("no threshold row for {}:\n{listing}", d.addr));
            assert!(
                addr.starts_with(&d.addr.ip().to_string())
                    || addr.contains(&d.addr.ip().to_string()),
                "row {addr} for {}",
                d.addr
            );
            d.upper_threshold = u;
            d.lower_threshold = l;
        }
    }
    state
}

fn normalise(mut v: Vec<VirtualService>) -> Vec<VirtualService> {
    v.sort_by_key(|a| a.service.key);
    for s in &mut v {
        s.destinations.sort_by_key(|d| d.addr);
    }
    v
}

/// A desired state touching every feature ipvsadm can express.
fn rich_state() -> Vec<VirtualService> {
    let mut v = Vec::new();
    let mut s = Service::new(ServiceKey::tcp(sa("10.0.0.1:80")), Scheduler::Wrr);
    s.persistence = Some(Persistence {
        timeout: 600,
        netmask: 24,
    });
    v.push(VirtualService {
        service: s,
        destinations: vec![
            Destination::new(sa("10.0.1.1:80"), Forward::Route, 1),
            Destination {
                addr: sa("10.0.1.2:8080"),
                forward: Forward::Masq,
                weight: 5,
                upper_threshold: 100,
                lower_threshold: 10,
            },
            Destination::new(sa("10.0.1.3:80"), Forward::Tunnel(Tunnel::default()), 2),
            Destination::new(
                sa("10.0.1.4:80"),
                Forward::Tunnel(Tunnel {
                    kind: TunnelType::Gue,
                    port: 6080,
                    csum: true,
                    remcsum: false,
                }),
                3,
            ),
            Destination::new(
                sa("10.0.1.5:80"),
                Forward::Tunnel(Tunnel {
                    kind: TunnelType::Gre,
                    port: 0,
                    csum: false,
                    remcsum: true,
                }),
                4,
            ),
        ],
    });
    let mut s = Service::new(ServiceKey::udp(sa("[2001:db8::1]:53")), Scheduler::Rr);
    s.one_packet = true;
    v.push(VirtualService {
        service: s,
        destinations: vec![
            Destination::new(sa("[2001:db8::2]:53"), Forward::Masq, 1),
            Destination::new(sa("[2001:db8::3]:5353"), Forward::Masq, 0),
        ],
    });
    v.push(VirtualService {
        service: Service::new(
            ServiceKey::Inet {
                protocol: Protocol::Sctp,
                addr: sa("10.0.0.2:3868"),
            },
            Scheduler::Lc,
        ),
        destinations: vec![Destination::new(sa("10.0.2.1:3868"), Forward::Route, 1)],
    });
    let mut s = Service::new(ServiceKey::fwmark(7, Family::Inet), Scheduler::Sh);
    s.sched_flags = SchedFlags {
        fallback: true,
        port: true,
        flag3: false,
    };
    v.push(VirtualService {
        service: s,
        destinations: vec![Destination::new(sa("10.0.3.1:0"), Forward::Route, 1)],
    });
    let mut s = Service::new(ServiceKey::fwmark(8, Family::Inet6), Scheduler::Mh);
    s.sched_flags.port = true;
    s.persistence = Some(Persistence {
        timeout: 30,
        netmask: 64,
    });
    v.push(VirtualService {
        service: s,
        destinations: vec![Destination::new(
            sa("[2001:db8::7]:0"),
            Forward::Tunnel(Tunnel::default()),
            1,
        )],
    });
    let mut s = Service::new(ServiceKey::udp(sa("10.0.0.3:5060")), Scheduler::Rr);
    s.persistence = Some(Persistence {
        timeout: 300,
        netmask: 32,
    });
    s.pe_name = Some("sip".into());
    v.push(VirtualService {
        service: s,
        destinations: vec![],
    });
    v
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_crate_writes_ipvsadm_reads() {
    let (rt, mut c) = setup();
    let want = rich_state();
    let ops = plan(&[], &want).unwrap();
    let report = rt.block_on(c.apply(&ops)).unwrap();
    assert!(
        report.is_ok(),
        "{:?}",
        report.failures().collect::<Vec<_>>()
    );
    // What ipvsadm reads back is what we wrote.
    let saved = sh("ipvsadm -Sn");
    eprintln!("ipvsadm -Sn:\n{saved}");
    eprintln!("{}", sh("ipvsadm -Ln --thresholds"));
    assert_eq!(normalise(ipvsadm_state()), normalise(want.clone()));
    eprintln!("{}", sh("ipvsadm -Ln --stats"));
    // And what we read back is what we wrote.
    let state = rt.block_on(c.state()).unwrap();
    assert_eq!(normalise(state), normalise(want));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_ipvsadm_writes_crate_reads() {
    let (rt, mut c) = setup();
    // Literal rules, as a person would write them for ipvsadm.
    let rules = "\
-A -t 192.168.10.1:443 -s wlc -p 120 -M 255.255.0.0
-a -t 192.168.10.1:443 -r 192.168.20.1:443 -g -w 10
-a -t 192.168.10.1:443 -r 192.168.20.2:8443 -m -w 20 -x 50 -y 5
-a -t 192.168.10.1:443 -r 192.168.20.3:443 -i -w 30
-A -u [fd00::1]:53 -s dh -o
-a -u [fd00::1]:53 -r [fd00::10]:53 -m -w 1
-A -f 42 -s mh -b mh-fallback
-a -f 42 -r 192.168.30.1:0 -g -w 7
-A -f 43 -6 -s nq
-A --sctp-service 192.168.10.2:9 -s fo
";
    ipvsadm_restore(rules);
    eprintln!("{}", sh("ipvsadm -Ln --thresholds"));
    let state = rt.block_on(c.state()).unwrap();
    let t = |s: &str| sa(s);
    let mut s1 = Service::new(ServiceKey::tcp(t("192.168.10.1:443")), Scheduler::Wlc);
    s1.persistence = Some(Persistence {
        timeout: 120,
        netmask: 16,
    });
    let mut s2 = Service::new(ServiceKey::udp(t("[fd00::1]:53")), Scheduler::Dh);
    s2.one_packet = true;
    let mut s3 = Service::new(ServiceKey::fwmark(42, Family::Inet), Scheduler::Mh);
    s3.sched_flags.fallback = true;
    let expected = vec![
        VirtualService {
            service: s1,
            destinations: vec![
                Destination::new(t("192.168.20.1:443"), Forward::Route, 10),
                Destination {
                    addr: t("192.168.20.2:8443"),
                    forward: Forward::Masq,
                    weight: 20,
                    upper_threshold: 50,
                    lower_threshold: 5,
                },
                Destination::new(
                    t("192.168.20.3:443"),
                    Forward::Tunnel(Tunnel::default()),
                    30,
                ),
            ],
        },
        VirtualService {
            service: s2,
            destinations: vec![Destination::new(t("[fd00::10]:53"), Forward::Masq, 1)],
        },
        VirtualService {
            service: s3,
            destinations: vec![Destination::new(t("192.168.30.1:0"), Forward::Route, 7)],
        },
        VirtualService {
            service: Service::new(ServiceKey::fwmark(43, Family::Inet6), Scheduler::Nq),
            destinations: vec![],
        },
        VirtualService {
            service: Service::new(
                ServiceKey::Inet {
                    protocol: Protocol::Sctp,
                    addr: t("192.168.10.2:9"),
                },
                Scheduler::Fo,
            ),
            destinations: vec![],
        },
    ];
    assert_eq!(normalise(state), normalise(expected.clone()));
    // The same through the -S/-R text both ways.
    assert_eq!(normalise(ipvsadm_state()), normalise(expected));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_every_scheduler_round_trips() {
    let (rt, mut c) = setup();
    let scheds = kernel_schedulers();
    assert!(scheds.len() >= 13, "{scheds:?}");
    let want: Vec<VirtualService> = scheds
        .iter()
        .enumerate()
        .map(|(i, s)| VirtualService {
            service: Service::new(
                ServiceKey::tcp(SocketAddr::from(([10, 5, 0, i as u8 + 1], 80))),
                s.clone(),
            ),
            destinations: vec![Destination::new(
                SocketAddr::from(([10, 6, 0, i as u8 + 1], 80)),
                Forward::Route,
                1,
            )],
        })
        .collect();
    let r = rt.block_on(c.reconcile(&want)).unwrap();
    assert!(
        r.report.is_ok(),
        "{:?}",
        r.report.failures().collect::<Vec<_>>()
    );
    assert_eq!(r.ops.len(), 2 * scheds.len());
    assert_eq!(
        normalise(rt.block_on(c.state()).unwrap()),
        normalise(want.clone())
    );
    let saved = sh("ipvsadm -Sn");
    for s in &scheds {
        assert!(
            saved.contains(&format!("-s {} ", s.name()))
                || saved.contains(&format!("-s {}\n", s.name())),
            "{s} missing in\n{saved}"
        );
    }
    // Change every scheduler: one EDIT_SERVICE each, nothing else.
    let mut next = want.clone();
    for (i, v) in next.iter_mut().enumerate() {
        v.service.scheduler = scheds[(i + 1) % scheds.len()].clone();
    }
    let r = rt.block_on(c.reconcile(&next)).unwrap();
    assert!(
        r.report.is_ok(),
        "{:?}",
        r.report.failures().collect::<Vec<_>>()
    );
    assert_eq!(r.ops.len(), scheds.len());
    assert!(r.ops.iter().all(|o| matches!(o, Op::EditService(_))));
    assert_eq!(normalise(rt.block_on(c.state()).unwrap()), normalise(next));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_edit_delete_zero_flush_info() {
    let (rt, mut c) = setup();
    let key = ServiceKey::tcp(sa("10.7.0.1:80"));
    let mut s = Service::new(key, Scheduler::Rr);
    rt.block_on(c.add_service(&s)).unwrap();
    let d = Destination::new(sa("10.7.0.2:80"), Forward::Route, 1);
    rt.block_on(c.add_dest(&key, &d)).unwrap();
    // Edit service and destination.
    s.scheduler = Scheduler::Wlc;
    s.persistence = Some(Persistence {
        timeout: 77,
        netmask: 32,
    });
    rt.block_on(c.edit_service(&s)).unwrap();
    let d2 = Destination {
        forward: Forward::Masq,
        weight: 9,
        upper_threshold: 8,
        lower_threshold: 2,
        ..d.clone()
    };
    rt.block_on(c.edit_dest(&key, &d2)).unwrap();
    let got = rt.block_on(c.service(&key)).unwrap().unwrap();
    assert_eq!(got.service, s);
    let dests = rt.block_on(c.destinations(&key)).unwrap();
    assert_eq!(dests.len(), 1);
    assert_eq!(dests[0].destination, d2);
    let saved = sh("ipvsadm -Sn");
    assert!(saved.contains("-A -t 10.7.0.1:80 -s wlc -p 77"), "{saved}");
    assert!(
        saved.contains("-a -t 10.7.0.1:80 -r 10.7.0.2:80 -m -w 9"),
        "{saved}"
    );
    assert_eq!(ipvsadm_state()[0].destinations[0], d2);
    // Zero and info.
    rt.block_on(c.zero(Some(&key))).unwrap();
    rt.block_on(c.zero(None)).unwrap();
    let info = rt.block_on(c.info()).unwrap();
    let header = sh("ipvsadm -Ln | head -1");
    assert!(
        header.contains(&format!(
            "version {} (size={})",
            info.version_string(),
            info.conn_tab_size
        )),
        "{header} vs {info:?}"
    );
    // Delete.
    rt.block_on(c.del_dest(&key, d.addr)).unwrap();
    assert!(rt.block_on(c.destinations(&key)).unwrap().is_empty());
    rt.block_on(c.del_service(&key)).unwrap();
    assert!(rt.block_on(c.service(&key)).unwrap().is_none());
    // Flush.
    ipvsadm_restore("-A -t 1.1.1.1:1 -s rr\n-A -u 1.1.1.1:1 -s rr\n");
    assert_eq!(rt.block_on(c.services()).unwrap().len(), 2);
    rt.block_on(c.flush()).unwrap();
    assert!(rt.block_on(c.services()).unwrap().is_empty());
    assert_eq!(sh("ipvsadm -Sn"), "");
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_timeouts_both_ways() {
    let (rt, mut c) = setup();
    rt.block_on(c.set_timeouts(&Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    }))
    .unwrap();
    let out = sh("ipvsadm -L --timeout");
    assert!(out.contains("901 121 301"), "{out}");
    sh("ipvsadm --set 902 122 302");
    let t = rt.block_on(c.timeouts()).unwrap();
    assert_eq!(
        t,
        Timeouts {
            tcp: 902,
            tcp_fin: 122,
            udp: 302
        }
    );
    // 0 leaves a value unchanged.
    rt.block_on(c.set_timeouts(&Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 60,
    }))
    .unwrap();
    let t = rt.block_on(c.timeouts()).unwrap();
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (902, 122, 60));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_sync_daemon_both_ways() {
    let (rt, mut c) = setup();
    let _ = Command::new("ip")
        .args(["link", "del", "ipvssync0"])
        .stderr(std::process::Stdio::null())
        .status();
    sh(
        "ip link add ipvssync0 type dummy && ip link set ipvssync0 multicast on up && ip addr add 10.99.0.1/24 dev ipvssync0",
    );
    for r in [DaemonRole::Master, DaemonRole::Backup] {
        let _ = rt.block_on(c.stop_daemon(r));
    }
    let mut m = SyncDaemon::new(DaemonRole::Master, "ipvssync0", 12);
    m.max_len = Some(1400);
    m.mcast_group = Some("239.1.2.3".parse().unwrap());
    m.mcast_port = Some(8850);
    m.mcast_ttl = Some(3);
    rt.block_on(c.start_daemon(&m)).unwrap();
    let out = sh("ipvsadm -L --daemon");
    eprintln!("{out}");
    assert!(
        out.contains("master sync daemon (mcast=ipvssync0, syncid=12"),
        "{out}"
    );
    assert!(out.contains("239.1.2.3"), "{out}");
    // Starting it again is EEXIST, typed.
    match rt.block_on(c.start_daemon(&m)) {
        Err(Error::Kernel(e)) => assert!(e.is_exists(), "{e}"),
        other => panic!("expected EEXIST, got {other:?}"),
    }
    // ipvsadm starts the backup; the crate reads both.
    sh("ipvsadm --start-daemon backup --mcast-interface ipvssync0 --syncid 13");
    let ds = rt.block_on(c.daemons()).unwrap();
    assert_eq!(ds.len(), 2, "{ds:?}");
    let master = ds.iter().find(|d| d.role == DaemonRole::Master).unwrap();
    assert_eq!(master.ifname, "ipvssync0");
    assert_eq!(master.sync_id, 12);
    assert_eq!(master.max_len, Some(1400));
    assert_eq!(master.mcast_group, m.mcast_group);
    assert_eq!(master.mcast_port, Some(8850));
    assert_eq!(master.mcast_ttl, Some(3));
    let backup = ds.iter().find(|d| d.role == DaemonRole::Backup).unwrap();
    assert_eq!((backup.ifname.as_str(), backup.sync_id), ("ipvssync0", 13));
    // Stop both through the crate; ipvsadm sees none.
    rt.block_on(c.stop_daemon(DaemonRole::Master)).unwrap();
    rt.block_on(c.stop_daemon(DaemonRole::Backup)).unwrap();
    assert!(rt.block_on(c.daemons()).unwrap().is_empty());
    assert_eq!(sh("ipvsadm -L --daemon").trim(), "");
    sh("ip link del ipvssync0");
}

fn n_services(n: usize) -> Vec<VirtualService> {
    (0..n)
        .map(|i| VirtualService {
            service: Service::new(
                ServiceKey::tcp(SocketAddr::from((
                    [10, 20, (i / 250) as u8, (i % 250) as u8 + 1],
                    80,
                ))),
                Scheduler::Wrr,
            ),
            destinations: (1..=4)
                .map(|j| {
                    Destination::new(SocketAddr::from(([10, 30, 0, j], 80)), Forward::Route, 1)
                })
                .collect(),
        })
        .collect()
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_reconcile_counts_operations() {
    let (rt, mut c) = setup();
    let n = 300;
    let mut want = n_services(n);
    // Empty to N services with 4 destinations each: N + 4N operations.
    let r = rt.block_on(c.reconcile(&want)).unwrap();
    assert_eq!(r.ops.len(), n * 5);
    assert_eq!(r.report.succeeded(), n * 5);
    assert_eq!(
        normalise(rt.block_on(c.state()).unwrap()),
        normalise(want.clone())
    );
    assert_eq!(sh("ipvsadm -Sn | grep -c '^-A'").trim(), n.to_string());
    assert_eq!(
        sh("ipvsadm -Sn | grep -c '^-a'").trim(),
        (4 * n).to_string()
    );
    // One weight: one EDIT_DEST.
    want[17].destinations[2].weight = 42;
    let r = rt.block_on(c.reconcile(&want)).unwrap();
    assert_eq!(
        r.ops,
        vec![Op::EditDest(
            want[17].service.key,
            want[17].destinations[2].clone()
        )]
    );
    assert!(r.report.is_ok());
    let saved = sh("ipvsadm -Sn");
    assert!(
        saved.contains("-a -t 10.20.0.18:80 -r 10.30.0.3:80 -g -w 42"),
        "weight not applied"
    );
    // Remove one destination: one DEL_DEST.
    let gone = want[5].destinations.remove(0);
    let r = rt.block_on(c.reconcile(&want)).unwrap();
    assert_eq!(r.ops, vec![Op::DelDest(want[5].service.key, gone.addr)]);
    assert!(r.report.is_ok());
    assert_eq!(
        sh("ipvsadm -Sn | grep -c '^-a'").trim(),
        (4 * n - 1).to_string()
    );
    // No-op: nothing.
    let r = rt.block_on(c.reconcile(&want)).unwrap();
    assert!(r.ops.is_empty(), "{:?}", r.ops);
    assert_eq!(normalise(rt.block_on(c.state()).unwrap()), normalise(want));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_bad_input_typed_errors() {
    let (rt, mut c) = setup();
    // Unknown scheduler: ENOENT naming the service; its destination then fails with ESRCH.
    let key = ServiceKey::tcp(sa("10.40.0.1:80"));
    let bad = VirtualService {
        service: Service::new(key, Scheduler::Other("nosuch".into())),
        destinations: vec![Destination::new(sa("10.40.0.2:80"), Forward::Route, 1)],
    };
    let good = n_services(1);
    let mut desired = good.clone();
    desired.push(bad);
    let r = rt.block_on(c.reconcile(&desired)).unwrap();
    let fails: Vec<_> = r.report.failures().collect();
    assert_eq!(fails.len(), 2, "{fails:?}");
    let svc_err = fails
        .iter()
        .find(|(i, _)| matches!(r.ops[*i], Op::AddService(_)))
        .unwrap()
        .1;
    assert_eq!(svc_err.errno, Errno::ENOENT, "{svc_err}");
    assert!(
        svc_err.to_string().contains("TCP 10.40.0.1:80"),
        "{svc_err}"
    );
    assert!(svc_err.to_string().contains("nosuch"), "{svc_err}");
    let dest_err = fails
        .iter()
        .find(|(i, _)| matches!(r.ops[*i], Op::AddDest(..)))
        .unwrap()
        .1;
    assert_eq!(dest_err.errno, Errno::ESRCH, "{dest_err}");
    // The good service went in whole.
    assert_eq!(
        normalise(rt.block_on(c.state()).unwrap()),
        normalise(good.clone())
    );

    // Destination on a missing service.
    match rt.block_on(c.add_dest(
        &ServiceKey::udp(sa("10.41.0.1:53")),
        &Destination::new(sa("10.41.0.2:53"), Forward::Masq, 1),
    )) {
        Err(Error::Kernel(e)) => {
            assert!(e.is_no_service(), "{e}");
            let t = e.to_string();
            assert!(
                t.contains("10.41.0.2:53") && t.contains("UDP 10.41.0.1:53"),
                "{t}"
            );
        }
        other => panic!("expected ESRCH, got {other:?}"),
    }
    // Add of an existing service: EEXIST, typed.
    match rt.block_on(c.add_service(&good[0].service)) {
        Err(Error::Kernel(e)) => assert!(e.is_exists(), "{e}"),
        other => panic!("expected EEXIST, got {other:?}"),
    }
    // Invalid desired state (a v6 destination behind DR on a v4 service; a
    // duplicate): rejected before anything is sent.
    let before = sh("ipvsadm -Sn");
    let mut invalid = n_services(3);
    invalid[2].destinations[0].addr = sa("[2001:db8::1]:80");
    match rt.block_on(c.reconcile(&invalid)) {
        Err(Error::Model(e)) => assert!(e.to_string().contains("10.20.0.3:80"), "{e}"),
        other => panic!("expected a model error, got {other:?}"),
    }
    #[cfg(feature = "serde")]
    {
        let spec: ha_ipvs::spec::StateSpec =
            toml::from_str("[[service]]\nfwmark = 3\nport = 80\nscheduler = \"rr\"\n").unwrap();
        let e = spec.to_model().unwrap_err();
        assert!(
            e.to_string()
                .contains("service fwmark 3: a port is not allowed"),
            "{e}"
        );
    }
    assert_eq!(sh("ipvsadm -Sn"), before, "nothing may be half-applied");
    // Raw: a destination weight the kernel refuses (negative as int) is ERANGE.
    let mut d = Destination::new(sa("10.30.0.9:80"), Forward::Route, 1);
    d.weight = u32::MAX;
    let msg = Op::AddDest(good[0].service.key, d).to_message();
    let codes = rt.block_on(c.execute_raw(&[msg])).unwrap();
    assert_eq!(codes, vec![34]);
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_stats_are_read() {
    let (rt, mut c) = setup();
    // Traffic through a local NAT service: connections to 127.0.0.1 are not
    // hooked, so use the stats of an otherwise idle service: all zero, and
    // both 32 and 64-bit sets decoded (ipvsadm agrees).
    let want = n_services(2);
    rt.block_on(c.reconcile(&want)).unwrap();
    let dump = rt.block_on(c.dump()).unwrap();
    assert_eq!(dump.len(), 2);
    for (s, ds) in &dump {
        assert_eq!(s.stats, Stats::default());
        assert_eq!(ds.len(), 4);
    }
    let out = sh("ipvsadm -Ln --stats");
    assert!(out.contains("TCP  10.20.0.1:80"), "{out}");
    let rules = to_rules(&want);
    assert_eq!(normalise(parse_rules(&rules).unwrap()), normalise(want));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_eexist_on_identical_add_is_success_in_idempotent_mode() {
    let (rt, mut c) = setup();
    let want = n_services(2);
    let ops = plan(&[], &want).unwrap();
    assert!(rt.block_on(c.apply(&ops)).unwrap().is_ok());
    // Plain apply: every add is EEXIST.
    let again = rt.block_on(c.apply(&ops)).unwrap();
    assert_eq!(again.failures().count(), ops.len());
    assert!(again.failures().all(|(_, e)| e.is_exists()));
    // Idempotent apply: identical objects are success.
    let again = rt.block_on(c.apply_idempotent(&ops)).unwrap();
    assert!(again.is_ok(), "{:?}", again.failures().collect::<Vec<_>>());
    // A conflicting add is an error naming both.
    let mut other = want[0].service.clone();
    other.scheduler = Scheduler::Rr;
    let mut d = want[1].destinations[0].clone();
    d.weight = 77;
    let conflict = vec![Op::AddService(other), Op::AddDest(want[1].service.key, d)];
    let r = rt.block_on(c.apply_idempotent(&conflict)).unwrap();
    let fails: Vec<_> = r.failures().map(|(_, e)| e.to_string()).collect();
    assert_eq!(fails.len(), 2, "{fails:?}");
    assert!(
        fails[0].contains("scheduler rr")
            && fails[0].contains("existing")
            && fails[0].contains("Wrr"),
        "{}",
        fails[0]
    );
    assert!(
        fails[1].contains("weight 77") && fails[1].contains("weight: 1"),
        "{}",
        fails[1]
    );
    // Nothing changed.
    assert_eq!(normalise(rt.block_on(c.state()).unwrap()), normalise(want));
}
