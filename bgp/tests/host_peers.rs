//! Host suite: our speaker (the tokio driver, in one network namespace) against real BGP
//! daemons in another, on the lab's bridge: FRR 8.4 (zebra + bgpd), BIRD 2, GoBGP 3.
//!
//! Each test: the peer learns an IPv4 /32 and an IPv6 /128 (MP-BGP over the IPv4 session)
//! from us, forgets each on withdraw, learns them again; a `stop` (Cease / Administrative
//! Shutdown) removes them within a second; a cut link removes them when the hold time (3 s,
//! offered by the peer) expires. The FRR test also runs two speakers (two ASes) announcing the
//! same VIP and checks FRR's two multipath paths and the ECMP route zebra installs, and checks
//! our messages with tshark's dissector.
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads the real clock (clippy.toml)"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use ha_bgp::{Config, DownReason, Event, Handle, IoConfig, Prefix, RouteAttributes, State};
use ha_testsupport::frr::Frr;
use ha_testsupport::{Host, Lab, Proc, require_root, require_tool, tshark_fields, wait_until};
use serde_json::Value;

const PEER_AS: u32 = 65000;

/// Our speaker, running its own tokio runtime on a thread inside a host's namespace.
struct Speaker {
    handle: Option<Handle>,
    events: std_mpsc::Receiver<Event>,
    seen: Vec<Event>,
}

impl Speaker {
    fn start(host: &Host, config: Config, peer: IpAddr) -> Speaker {
        Speaker::start_with(host, config, IoConfig::new(peer))
    }

    fn start_with(host: &Host, config: Config, io: IoConfig) -> Speaker {
        let (htx, hrx) = std_mpsc::channel();
        let (etx, erx) = std_mpsc::channel();
        // Sockets belong to the namespace of the thread that makes them: the runtime thread is
        // spawned from inside the host's namespace and inherits it.
        host.run_in(move || {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let (handle, mut events) = ha_bgp::spawn(config, io).expect("spawn speaker");
                    htx.send(handle).expect("test is waiting for the handle");
                    while let Some(e) = events.recv().await {
                        if etx.send(e).is_err() {
                            break;
                        }
                    }
                });
            });
        });
        let handle = hrx
            .recv_timeout(Duration::from_secs(10))
            .expect("speaker started");
        Speaker {
            handle: Some(handle),
            events: erx,
            seen: Vec::new(),
        }
    }

    fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("speaker running")
    }

    fn announce(&self, prefix: &str) {
        self.handle()
            .announce(prefix.parse().unwrap(), RouteAttributes::default())
            .expect("announce");
    }

    fn withdraw(&self, prefix: &str) {
        self.handle()
            .withdraw(prefix.parse::<Prefix>().unwrap())
            .expect("withdraw");
    }

    /// Cease / Administrative Shutdown, and wait for the task to end.
    fn stop(&mut self, message: &str) {
        let h = self.handle.take().expect("speaker running");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), h.stop(Some(message)))
                .await
                .expect("stop within 5 s")
                .expect("stop");
        });
    }

    fn collect(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
    }

    /// Waits (bounded) for an event matching `f`.
    fn wait_event(&mut self, timeout: Duration, f: impl Fn(&Event) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.collect();
            if self.seen.iter().any(&f) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn established_count(&mut self) -> usize {
        self.collect();
        self.seen
            .iter()
            .filter(|e| matches!(e, Event::Established))
            .count()
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

fn speaker_config(local_as: u32, peer_as: u32, v4: &str, v6: &str) -> Config {
    let v4: Ipv4Addr = v4.parse().unwrap();
    let mut c = Config::new(local_as, peer_as, v4);
    c.hold_time = Duration::from_secs(9);
    c.connect_retry = Duration::from_secs(2);
    c.idle_hold = Duration::from_secs(1);
    c.next_hop_v4 = Some(v4);
    c.next_hop_v6 = Some(v6.parse::<Ipv6Addr>().unwrap());
    c
}

/// The common scenario, judged by `has(prefix)` (the peer's view of its RIB).
fn learns_and_forgets(
    lab: &Lab,
    speaker_host: &Host,
    mut sp: Speaker,
    vip4: &str,
    vip6: &str,
    has: &dyn Fn(&str) -> bool,
    logs: &dyn Fn() -> String,
) {
    let ok = sp.wait_event(Duration::from_secs(30), |e| matches!(e, Event::Established));
    assert!(ok, "no session: {:?}\n{}", sp.seen, logs());
    sp.announce(vip4);
    sp.announce(vip6);
    let learned = wait_until(Duration::from_secs(15), || has(vip4) && has(vip6));
    assert!(learned, "peer did not learn {vip4} and {vip6}\n{}", logs());

    sp.withdraw(vip6);
    assert!(
        wait_until(Duration::from_secs(5), || !has(vip6)),
        "peer kept {vip6} after withdraw\n{}",
        logs()
    );
    assert!(has(vip4), "withdrawing {vip6} removed {vip4}");
    sp.withdraw(vip4);
    assert!(
        wait_until(Duration::from_secs(5), || !has(vip4)),
        "peer kept {vip4} after withdraw\n{}",
        logs()
    );
    sp.announce(vip4);
    sp.announce(vip6);
    assert!(
        wait_until(Duration::from_secs(5), || has(vip4) && has(vip6)),
        "peer did not re-learn the routes\n{}",
        logs()
    );

    // The link goes: the peer's hold timer (3 s) expires and it drops our routes.
    let cut = Instant::now();
    lab.cut_link(speaker_host);
    let gone = wait_until(Duration::from_secs(10), || !has(vip4) && !has(vip6));
    let took = cut.elapsed();
    assert!(gone, "routes outlived the hold time\n{}", logs());
    assert!(
        took >= Duration::from_millis(1500),
        "routes went after {took:?}: before the hold time, not because of it"
    );
    // Ours expires too (Hold Timer Expired), and after the link is back the session comes up
    // again and the whole desired set is re-announced.
    assert!(
        sp.wait_event(Duration::from_secs(15), |e| matches!(
            e,
            Event::Down {
                reason: DownReason::HoldTimerExpired
            }
        )),
        "our hold timer did not expire: {:?}",
        sp.seen
    );
    lab.restore_link(speaker_host);
    let before = sp.established_count();
    let back = wait_until(Duration::from_secs(30), || {
        sp.established_count() > before && has(vip4) && has(vip6)
    });
    assert!(back, "no re-announce after re-establishment\n{}", logs());

    // A stop (Cease / Administrative Shutdown) removes them at once.
    let t = Instant::now();
    sp.stop("maintenance");
    let gone = wait_until(Duration::from_secs(1), || !has(vip4) && !has(vip6));
    assert!(
        gone,
        "routes still there {:?} after Cease\n{}",
        t.elapsed(),
        logs()
    );
    sp.collect();
    assert!(
        sp.seen.iter().any(|e| matches!(
            e,
            Event::Down {
                reason: DownReason::Stopped { .. }
            }
        )),
        "{:?}",
        sp.seen
    );
}

// ----------------------------------------------------------------------------------------------
// FRR
// ----------------------------------------------------------------------------------------------

const FRR_BGPD: &str = "hostname r
router bgp 65000
 bgp router-id 10.71.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 timers bgp 1 3
 neighbor 10.71.0.2 remote-as 65001
 neighbor 10.71.0.2 timers connect 1
 neighbor 10.71.0.3 remote-as 65002
 neighbor 10.71.0.3 timers connect 1
 address-family ipv4 unicast
  neighbor 10.71.0.2 activate
  neighbor 10.71.0.3 activate
  maximum-paths 8
 exit-address-family
 address-family ipv6 unicast
  neighbor 10.71.0.2 activate
  neighbor 10.71.0.3 activate
  maximum-paths 8
 exit-address-family
";

fn frr_paths(frr: &Frr, family: &str, prefix: &str) -> Vec<Value> {
    let Some(out) = frr.try_vtysh(&format!("show bgp {family} unicast json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["routes"][prefix].as_array().cloned().unwrap_or_default()
}

fn frr_has(frr: &Frr, prefix: &str) -> bool {
    let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    !frr_paths(frr, family, prefix).is_empty()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_frr_learns_and_forgets_the_vip() {
    require_root();
    require_tool("vtysh", "frr");
    let mut lab = Lab::new("bgpfrr");
    let r = lab.add_host("r", &["10.71.0.1/24", "fd71::1/64"]);
    let d1 = lab.add_host("d1", &["10.71.0.2/24", "fd71::2/64"]);
    let d2 = lab.add_host("d2", &["10.71.0.3/24", "fd71::3/64"]);
    let frr = Frr::start(&mut lab, &r, FRR_BGPD, None);
    let cap = lab.capture(&d1, "eth0", Some("tcp port 179"));
    let peer: IpAddr = "10.71.0.1".parse().unwrap();

    // Two speakers, two ASes, one VIP: FRR sees two paths, multipath, and zebra installs an
    // ECMP route.
    let mut s2 = Speaker::start(
        &d2,
        speaker_config(65002, PEER_AS, "10.71.0.3", "fd71::3"),
        peer,
    );
    let s1 = Speaker::start(
        &d1,
        speaker_config(65001, PEER_AS, "10.71.0.2", "fd71::2"),
        peer,
    );
    assert!(
        s2.wait_event(Duration::from_secs(30), |e| matches!(e, Event::Established)),
        "d2 no session: {:?}\n{}",
        s2.seen,
        frr.logs()
    );
    // The peer's OPEN as we saw it.
    assert!(s2.seen.iter().any(|e| matches!(
        e,
        Event::PeerOpen { asn: 65000, hold_time: 3, negotiated_hold_time, router_id, .. }
            if *negotiated_hold_time == Duration::from_secs(3) && *router_id == Ipv4Addr::new(10, 71, 0, 1)
    )));
    s2.announce("10.71.100.100/32");
    let shared = wait_until(Duration::from_secs(20), || {
        frr_paths(&frr, "ipv4", "10.71.100.100/32").len() == 1
    });
    assert!(shared, "FRR did not learn d2's path\n{}", frr.logs());

    let logs = || frr.logs();
    // d1's run, with d2's path to the same VIP present; check ECMP in the middle.
    let s1_vip = "10.71.100.100/32";
    let s1_vip6 = "fd71:100::100/128";
    let has = |p: &str| {
        if p == s1_vip {
            // d1's path specifically (d2 announces the same prefix).
            frr_paths(&frr, "ipv4", p)
                .iter()
                .any(|x| x["peerId"] == "10.71.0.2" || x["nexthops"][0]["ip"] == "10.71.0.2")
        } else {
            frr_has(&frr, p)
        }
    };
    // Before the shared scenario: announce from d1 and check multipath.
    let mut s1 = s1;
    assert!(
        s1.wait_event(Duration::from_secs(30), |e| matches!(e, Event::Established)),
        "d1 no session: {:?}\n{}",
        s1.seen,
        frr.logs()
    );
    s1.announce(s1_vip);
    let two = wait_until(Duration::from_secs(15), || {
        let paths = frr_paths(&frr, "ipv4", s1_vip);
        paths.len() == 2 && paths.iter().any(|p| p["multipath"] == true)
    });
    assert!(
        two,
        "FRR has no two multipath paths: {:?}\n{}",
        frr_paths(&frr, "ipv4", s1_vip),
        frr.logs()
    );
    let ecmp = wait_until(Duration::from_secs(10), || {
        let route = r.sh("ip route show 10.71.100.100");
        route.contains("10.71.0.2") && route.contains("10.71.0.3")
    });
    assert!(
        ecmp,
        "zebra did not install the ECMP route: {}",
        r.sh("ip route show 10.71.100.100")
    );
    s1.withdraw(s1_vip);
    assert!(wait_until(Duration::from_secs(5), || !has(s1_vip)));
    s2.stop("d2 done");

    // tshark's dissector agrees with our encoding (OPEN, UPDATE with 4-octet AS_PATH,
    // NEXT_HOP, MP_REACH_NLRI).
    s1.announce(s1_vip6);
    assert!(wait_until(Duration::from_secs(5), || frr_has(
        &frr, s1_vip6
    )));
    s1.withdraw(s1_vip6);
    assert!(wait_until(Duration::from_secs(5), || !frr_has(
        &frr, s1_vip6
    )));
    let pcap = cap.stop();
    let opens = tshark_fields(
        &pcap,
        "bgp.type == 1 && ip.src == 10.71.0.2",
        &["bgp.open.myas", "bgp.open.identifier"],
    );
    assert_eq!(
        opens.first().map(|r| r.join(",")),
        Some("65001,10.71.0.2".to_owned())
    );
    let updates = tshark_fields(
        &pcap,
        "bgp.type == 2 && ip.src == 10.71.0.2",
        &[
            "bgp.nlri_prefix",
            "bgp.update.path_attribute.as_path_segment.as4",
            "bgp.update.path_attribute.next_hop",
            "bgp.mp_reach_nlri_ipv6_prefix",
        ],
    );
    let text: Vec<String> = updates.iter().map(|r| r.join(",")).collect();
    assert!(
        text.iter().any(|r| r == "10.71.100.100,65001,10.71.0.2,"),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|r| r.starts_with(",65001,") && r.ends_with("fd71:100::100")),
        "{text:?}"
    );
    let malformed = tshark_fields(
        &pcap,
        "_ws.malformed || (bgp && _ws.expert.severity >= 0x00800000)",
        &["frame.number"],
    );
    assert!(malformed.is_empty(), "tshark flags frames: {malformed:?}");

    learns_and_forgets(&lab, &d1, s1, s1_vip, s1_vip6, &has, &logs);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_wrong_peer_as_is_a_typed_error() {
    require_root();
    let mut lab = Lab::new("bgpas");
    let r = lab.add_host("r", &["10.74.0.1/24"]);
    let d1 = lab.add_host("d1", &["10.74.0.2/24"]);
    let conf = "hostname r
router bgp 65000
 bgp router-id 10.74.0.1
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 neighbor 10.74.0.2 remote-as 65001
";
    let frr = Frr::start(&mut lab, &r, conf, None);
    // We expect AS 65099; FRR is AS 65000.
    let mut c = speaker_config(65001, 65099, "10.74.0.2", "fd74::2");
    c.next_hop_v6 = None;
    let mut s = Speaker::start(&d1, c, "10.74.0.1".parse().unwrap());
    let want = DownReason::BadPeerAs {
        expected: 65099,
        received: 65000,
    };
    let ok = s.wait_event(Duration::from_secs(30), |e| {
        *e == Event::Down {
            reason: want.clone(),
        }
    });
    assert!(ok, "no BadPeerAs: {:?}\n{}", s.seen, frr.logs());
    assert_eq!(
        want.to_string(),
        "peer AS mismatch: expected AS65099, the peer's OPEN says AS65000"
    );
    // FRR received our NOTIFICATION OPEN Message Error / Bad Peer AS (its log says so with
    // `bgp log-neighbor-changes`).
    let seen = wait_until(Duration::from_secs(10), || {
        frr.logs().contains("Bad Peer AS")
    });
    assert!(seen, "{}", frr.logs());
    assert!(!s.seen.iter().any(|e| matches!(
        e,
        Event::StateChanged {
            to: State::Established,
            ..
        }
    )));
}

// ----------------------------------------------------------------------------------------------
// BIRD 2
// ----------------------------------------------------------------------------------------------

fn spawn_bird(lab: &mut Lab, host: &Host, conf: &str) -> (Proc, String) {
    require_tool("bird", "bird2");
    let dir = lab.dir().join("bird");
    std::fs::create_dir_all(&dir).unwrap();
    let conf_path = dir.join("bird.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let sock = dir.join("bird.ctl").to_string_lossy().into_owned();
    let pid = dir.join("bird.pid").to_string_lossy().into_owned();
    let c = conf_path.to_string_lossy().into_owned();
    let p = lab.spawn(host, &["bird", "-f", "-c", &c, "-s", &sock, "-P", &pid]);
    let up = wait_until(Duration::from_secs(15), || {
        host.exec(&["birdc", "-s", &sock, "show", "status"])
            .status
            .success()
    });
    assert!(up, "BIRD did not start: {}{}", p.stdout(), p.stderr());
    (p, sock)
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_bird_learns_and_forgets_the_vip() {
    require_root();
    let mut lab = Lab::new("bgpbird");
    let r = lab.add_host("r", &["10.72.0.1/24", "fd72::1/64"]);
    let d1 = lab.add_host("d1", &["10.72.0.2/24", "fd72::2/64"]);
    let conf = "router id 10.72.0.1;
log stderr all;
protocol device { scan time 1; }
protocol bgp d1 {
  local 10.72.0.1 as 65000;
  neighbor 10.72.0.2 as 65001;
  hold time 3;
  keepalive time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
";
    let (bird, sock) = spawn_bird(&mut lab, &r, conf);
    let sp = Speaker::start(
        &d1,
        speaker_config(65001, PEER_AS, "10.72.0.2", "fd72::2"),
        "10.72.0.1".parse().unwrap(),
    );
    let has = |p: &str| {
        let out = r.exec(&[
            "birdc", "-s", &sock, "show", "route", "for", p, "protocol", "d1",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        // `show route for` answers the longest match; only an exact /32 or /128 counts.
        text.contains(p)
    };
    let logs = || {
        let out = r.exec(&["birdc", "-s", &sock, "show", "protocols", "all", "d1"]);
        format!(
            "{}\n--- bird stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            bird.stderr()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    learns_and_forgets(
        &lab,
        &d1,
        sp,
        "10.72.100.100/32",
        "fd72:100::100/128",
        &has,
        &logs,
    );
}

// ----------------------------------------------------------------------------------------------
// GoBGP
// ----------------------------------------------------------------------------------------------

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_gobgp_learns_and_forgets_the_vip() {
    require_root();
    require_tool("gobgpd", "gobgpd");
    let mut lab = Lab::new("bgpgo");
    let r = lab.add_host("r", &["10.73.0.1/24", "fd73::1/64"]);
    let d1 = lab.add_host("d1", &["10.73.0.2/24", "fd73::2/64"]);
    let conf = r#"[global.config]
  as = 65000
  router-id = "10.73.0.1"
  port = 179

[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.73.0.2"
    peer-as = 65001
  [neighbors.timers.config]
    hold-time = 3
    keepalive-interval = 1
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#;
    let path = lab.dir().join("gobgpd.toml");
    std::fs::write(&path, conf).unwrap();
    let p = path.to_string_lossy().into_owned();
    // The API listens on the namespace's own loopback.
    let gobgpd = lab.spawn(
        &r,
        &[
            "gobgpd",
            "-f",
            &p,
            "-t",
            "toml",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable",
        ],
    );
    let up = wait_until(Duration::from_secs(15), || {
        r.exec(&["gobgp", "-u", "127.0.0.1", "-p", "50051", "neighbor"])
            .status
            .success()
    });
    assert!(
        up,
        "gobgpd did not start: {}{}",
        gobgpd.stdout(),
        gobgpd.stderr()
    );
    let sp = Speaker::start(
        &d1,
        speaker_config(65001, PEER_AS, "10.73.0.2", "fd73::2"),
        "10.73.0.1".parse().unwrap(),
    );
    let has = |prefix: &str| {
        let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let out = r.exec(&[
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
            "global",
            "rib",
            "-a",
            family,
            "-j",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v.get(prefix)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let logs = || {
        let out = r.exec(&[
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
            "neighbor",
            "10.73.0.2",
        ]);
        format!(
            "{}\n--- gobgpd ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            gobgpd
                .stdout()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    learns_and_forgets(
        &lab,
        &d1,
        sp,
        "10.73.100.100/32",
        "fd73:100::100/128",
        &has,
        &logs,
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_frr_ibgp_passive() {
    require_root();
    let mut lab = Lab::new("bgpibgp");
    let r = lab.add_host("r", &["10.75.0.1/24", "fd75::1/64"]);
    let d1 = lab.add_host("d1", &["10.75.0.2/24", "fd75::2/64"]);
    let conf = "hostname r
router bgp 65000
 bgp router-id 10.75.0.1
 no bgp ebgp-requires-policy
 timers bgp 1 3
 neighbor 10.75.0.2 remote-as 65000
 neighbor 10.75.0.2 timers connect 1
 address-family ipv6 unicast
  neighbor 10.75.0.2 activate
 exit-address-family
";
    let frr = Frr::start(&mut lab, &r, conf, None);
    // iBGP, passive: FRR makes the connection to our port 179.
    let mut c = speaker_config(65000, 65000, "10.75.0.2", "fd75::2");
    c.passive = true;
    let mut s = Speaker::start(&d1, c, "10.75.0.1".parse().unwrap());
    assert!(
        s.wait_event(Duration::from_secs(30), |e| matches!(e, Event::Established)),
        "no session: {:?}\n{}",
        s.seen,
        frr.logs()
    );
    s.announce("10.75.100.100/32");
    s.announce("fd75:100::100/128");
    let learned = wait_until(Duration::from_secs(15), || {
        frr_has(&frr, "10.75.100.100/32") && frr_has(&frr, "fd75:100::100/128")
    });
    assert!(learned, "{}", frr.logs());
    let path = frr_paths(&frr, "ipv4", "10.75.100.100/32")[0].clone();
    assert_eq!(path["locPrf"], 100, "{path}");
    assert_eq!(path["pathFrom"], "internal", "{path}");
    let t = Instant::now();
    s.stop("bye");
    assert!(
        wait_until(Duration::from_secs(1), || !frr_has(
            &frr,
            "10.75.100.100/32"
        )),
        "route outlived the Cease by {:?}",
        t.elapsed()
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bgp_frr_gtsm_ttl_255() {
    require_root();
    let mut lab = Lab::new("bgpgtsm");
    let r = lab.add_host("r", &["10.76.0.1/24"]);
    let d1 = lab.add_host("d1", &["10.76.0.2/24"]);
    let conf = "hostname r
router bgp 65000
 bgp router-id 10.76.0.1
 no bgp ebgp-requires-policy
 timers bgp 1 3
 neighbor 10.76.0.2 remote-as 65001
 neighbor 10.76.0.2 ttl-security hops 1
 neighbor 10.76.0.2 timers connect 1
";
    let frr = Frr::start(&mut lab, &r, conf, None);
    let mut c = speaker_config(65001, PEER_AS, "10.76.0.2", "fd76::2");
    c.next_hop_v6 = None;
    let peer: IpAddr = "10.76.0.1".parse().unwrap();
    let cap = lab.capture(&d1, "eth0", Some("tcp port 179"));
    // TTL 255 (RFC 5082): up, and the route is learned.
    let mut io = IoConfig::new(peer);
    io.ttl_255 = true;
    let mut s = Speaker::start_with(&d1, c, io);
    assert!(
        s.wait_event(Duration::from_secs(20), |e| matches!(e, Event::Established)),
        "no session with TTL 255: {:?}\n{}",
        s.seen,
        frr.logs()
    );
    s.announce("10.76.100.100/32");
    assert!(
        wait_until(Duration::from_secs(10), || frr_has(
            &frr,
            "10.76.100.100/32"
        )),
        "{}",
        frr.logs()
    );
    // Every packet of ours, the SYN first, left with TTL 255. The speaker is not passive: it
    // has no socket on port 179, so when FRR's connect (every second) comes first, d1's
    // kernel answers it with a reset of its own, at the default TTL (64), as it would for
    // any closed port. That reset is not the speaker's and is left out.
    let pcap = cap.stop();
    let rows = tshark_fields(
        &pcap,
        "ip.src == 10.76.0.2 && tcp && !(tcp.srcport == 179 && tcp.flags.reset == 1)",
        &["tcp.flags.syn", "ip.ttl"],
    );
    assert!(
        rows.iter().any(|r| r[0] == "1" || r[0] == "True"),
        "{rows:?}"
    );
    assert!(
        rows.len() > 3 && rows.iter().all(|r| r[1] == "255"),
        "{rows:?}"
    );
}
