//! Host suite: our BFD driver in one network namespace against a real peer in another:
//! FRR 8.4's bfdd (`/usr/lib/frr/bfdd`, read with `vtysh ... show bfd peers json`) and BIRD 2's
//! BFD protocol (`birdc show bfd sessions`).
//!
//! The peers run in the foreground with every path under the lab's directory:
//! - bfdd: `ha_testsupport::frr::Frr::start_daemons` with bfdd alone (its files in a folder
//!   owned by `frr`, which bfdd drops to); bfdd runs without zebra for single-hop peers.
//! - bird: `bird -f -c <dir>/bird.conf -s <dir>/bird.ctl -P <dir>/bird.pid`.
//!
//! Our side runs on a tokio runtime whose worker thread was started inside our host's
//! namespace (so every socket it opens lives there).
#![allow(
    clippy::disallowed_methods,
    reason = "a test measures real time with the real clock (clippy.toml)"
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_bfd::io::{DriverConfig, Event, Handle, PeerConfig, spawn};
use ha_bfd::{Diagnostic, State, Timers, session};
use ha_testsupport::{Host, Lab, Proc, require_root, require_tool, tshark_fields, wait_until};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::UnboundedReceiver;

const US: &str = "10.61.0.1";
const PEER: &str = "10.61.0.2";
const US6: &str = "fd00:61::1";
const PEER6: &str = "fd00:61::2";

fn fast() -> Timers {
    Timers {
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        detect_mult: 3,
    }
}

/// FRR's bfdd alone (no zebra: single-hop peers need none), through the test support's FRR
/// runner (its own files under the lab's directory).
struct Frr {
    frr: ha_testsupport::frr::Frr,
}

impl Frr {
    fn start(lab: &mut Lab, host: &Host) -> Frr {
        Frr::start_with(lab, host, US, PEER)
    }

    /// bfdd with one single-hop peer `us`, from its own address `local`.
    fn start_with(lab: &mut Lab, host: &Host, us: &str, local: &str) -> Frr {
        let conf = format!(
            "bfd\n peer {us} local-address {local}\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n"
        );
        let frr = ha_testsupport::frr::Frr::start_daemons(lab, host, &[("bfdd", &conf)]);
        let frr = Frr { frr };
        let ready = wait_until(Duration::from_secs(10), || frr.peer().is_some());
        assert!(ready, "bfdd has no peer\n{}", frr.log());
        frr
    }

    fn proc(&self) -> &Proc {
        self.frr.process("bfdd").expect("bfdd runs")
    }

    /// bfdd's view of its one peer (`show bfd peers json`).
    fn peer(&self) -> Option<Value> {
        let v: Value = serde_json::from_str(&self.frr.try_vtysh("show bfd peers json")?).ok()?;
        v.as_array()?.first().cloned()
    }

    fn status(&self) -> String {
        self.peer()
            .and_then(|p| p["status"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        self.frr.logs()
    }
}

/// Our driver, on a runtime whose worker thread lives in `host`'s namespace.
struct Ours {
    rt: Runtime,
    handle: Option<Handle>,
    events: UnboundedReceiver<Event>,
    seen: Vec<(Instant, Event)>,
}

impl Ours {
    fn start(host: &Host, timers: Timers) -> Ours {
        Ours::start_with(host, US, PEER, timers)
    }

    fn start_with(host: &Host, us: &str, peer_addr: &str, timers: Timers) -> Ours {
        let (rt, handle, events) = host.run_in(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("tokio runtime");
            let (handle, events) = rt
                .block_on(async { spawn(DriverConfig::default()) })
                .expect("bind BFD sockets");
            (rt, handle, events)
        });
        let mut peer = PeerConfig::new(peer_addr.parse().unwrap());
        peer.local = Some(us.parse().unwrap());
        peer.timers = timers;
        let status = rt
            .block_on(handle.add_session(peer))
            .expect("add BFD session");
        let port = status.local_port;
        assert!((49152..=65535).contains(&port), "source port {port}");
        Ours {
            rt,
            handle: Some(handle),
            events,
            seen: Vec::new(),
        }
    }

    fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("driver running")
    }

    /// Waits (bounded) for a state change matching `pred`; returns when it was seen.
    fn wait_change(
        &mut self,
        timeout: Duration,
        pred: impl Fn(State, Diagnostic) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.seen.push((Instant::now(), ev));
                let session::Event::StateChange { to, diagnostic, .. } = ev.event else {
                    continue;
                };
                if pred(to, diagnostic) {
                    return Some(Instant::now());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn state(&self) -> State {
        let (list, _) = self.rt.block_on(self.handle().status()).expect("status");
        list[0].state
    }
}

fn lab(tag: &str) -> (Lab, Host, Host) {
    require_root();
    let mut lab = Lab::new(tag);
    let us = lab.add_host("us", &[&format!("{US}/24"), &format!("{US6}/64")]);
    let peer = lab.add_host("peer", &[&format!("{PEER}/24"), &format!("{PEER6}/64")]);
    (lab, us, peer)
}

/// Both sides Up, and FRR runs our 100 ms timers (the Poll Sequence after Up is over).
fn bring_up(frr: &Frr, ours: &mut Ours) {
    let up = ours.wait_change(Duration::from_secs(10), |s, _| s == State::Up);
    assert!(
        up.is_some(),
        "our session never came Up (events {:?}); bfdd: {:?}\n{}",
        ours.seen,
        frr.peer(),
        frr.log()
    );
    let ok = wait_until(Duration::from_secs(5), || {
        frr.peer().is_some_and(|p| {
            p["status"] == "up"
                && p["remote-transmit-interval"] == 100
                && p["remote-receive-interval"] == 100
        })
    });
    assert!(
        ok,
        "bfdd did not settle Up at 100 ms: {:?}\n{}",
        frr.peer(),
        frr.log()
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_frr_comes_up() {
    let (mut lab, us, peer) = lab("bfdup");
    let cap = lab.capture(&peer, "eth0", Some("udp port 3784"));
    let frr = Frr::start(&mut lab, &peer);
    let t0 = Instant::now();
    let mut ours = Ours::start(&us, fast());
    bring_up(&frr, &mut ours);
    println!("both Up at 100 ms timers after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let p = frr.peer().unwrap();
    let (list, stats) = ours.rt.block_on(ours.handle().status()).unwrap();
    let s = &list[0];
    assert_eq!(s.state, State::Up);
    // Discriminators agree both ways.
    assert_eq!(p["id"].as_u64(), Some(u64::from(s.remote_discriminator)));
    assert_eq!(
        p["remote-id"].as_u64(),
        Some(u64::from(s.local_discriminator.get()))
    );
    assert_eq!(
        stats.bad_ttl + stats.malformed + stats.rejected,
        0,
        "{stats:?}"
    );
    // Stays up for a while (no flaps at 100 ms).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(frr.status(), "up");
    assert_eq!(ours.state(), State::Up);
    assert!(
        ours.wait_change(Duration::from_millis(10), |_, _| true)
            .is_none(),
        "{:?}",
        ours.seen
    );
    // Our packets as tshark sees them: BFD, TTL 255, one source port in 49152-65535.
    let pcap = cap.stop();
    let rows = tshark_fields(
        &pcap,
        &format!("bfd && ip.src == {US}"),
        &["ip.ttl", "udp.srcport", "bfd.version", "bfd.sta"],
    );
    assert!(rows.len() > 20, "{rows:?}");
    let port = &rows[0][1];
    for r in &rows {
        assert_eq!(r[0], "255", "{r:?}");
        assert_eq!(&r[1], port, "one source port per session: {r:?}");
        assert_eq!(r[2], "1");
    }
    let port: u16 = port.parse().unwrap();
    assert!(port >= 49152);
    assert!(
        rows.iter().any(|r| r[3] == "0x03"),
        "no Up packet: {rows:?}"
    );
    // A graceful stop of the whole driver: AdminDown to the peer, which goes down at once.
    let handle = ours.handle.take().unwrap();
    ours.rt.block_on(handle.shutdown()).unwrap();
    let down = wait_until(Duration::from_secs(1), || {
        frr.peer().is_some_and(|p| {
            p["status"] == "down" && p["remote-diagnostic"] == "administratively down"
        })
    });
    assert!(down, "{:?}", frr.peer());
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_frr_ipv6_comes_up() {
    let (mut lab, us, peer) = lab("bfdv6");
    let cap = lab.capture(&peer, "eth0", Some("udp port 3784"));
    let frr = Frr::start_with(&mut lab, &peer, US6, PEER6);
    let mut ours = Ours::start_with(&us, US6, PEER6, fast());
    bring_up(&frr, &mut ours);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(frr.status(), "up");
    assert_eq!(ours.state(), State::Up);
    // Our packets: hop limit 255 (RFC 5881 5), and bfdd accepted them (it checks too).
    let pcap = cap.stop();
    let rows = tshark_fields(
        &pcap,
        &format!("bfd && ipv6.src == {US6}"),
        &["ipv6.hlim", "udp.srcport"],
    );
    assert!(rows.len() > 5, "{rows:?}");
    assert!(rows.iter().all(|r| r[0] == "255"), "{rows:?}");
    // bfdd's death is seen over IPv6 too.
    let t0 = Instant::now();
    frr.proc().kill(libc::SIGKILL);
    let down = ours.wait_change(Duration::from_secs(3), |s, d| {
        s == State::Down && d == Diagnostic::ControlDetectionTimeExpired
    });
    assert!(down.is_some(), "{:?}", ours.seen);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_frr_detects_our_death_within_a_second() {
    let (mut lab, us, peer) = lab("bfddeath");
    let frr = Frr::start(&mut lab, &peer);
    let mut ours = Ours::start(&us, fast());
    bring_up(&frr, &mut ours);

    // Death: the driver task stops without a word (as when the director process dies).
    let t0 = Instant::now();
    ours.handle.take().unwrap().abort();
    let down = wait_until(Duration::from_secs(3), || frr.status() == "down");
    let took = t0.elapsed();
    let p = frr.peer().unwrap();
    println!(
        "bfdd saw our death after {took:?} (diagnostic {:?})",
        p["diagnostic"]
    );
    assert!(down, "bfdd never went down: {p:?}\n{}", frr.log());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(p["diagnostic"], "control detection time expired", "{p:?}");
    drop(ours);

    // A new incarnation comes back up, then a graceful stop: AdminDown, seen at once.
    let mut ours = Ours::start(&us, fast());
    bring_up(&frr, &mut ours);
    let peer_ip: IpAddr = PEER.parse().unwrap();
    let t0 = Instant::now();
    ours.rt.block_on(ours.handle().admin_down(peer_ip)).unwrap();
    let down = wait_until(Duration::from_secs(3), || frr.status() == "down");
    let took = t0.elapsed();
    let p = frr.peer().unwrap();
    println!(
        "bfdd saw our AdminDown after {took:?} (diagnostic {:?}, remote-diagnostic {:?})",
        p["diagnostic"], p["remote-diagnostic"]
    );
    assert!(down, "bfdd never went down: {p:?}\n{}", frr.log());
    assert_eq!(p["remote-diagnostic"], "administratively down", "{p:?}");
    // At once: well within the 300 ms detection time (the bound includes vtysh's start-up).
    assert!(took < Duration::from_millis(300), "took {took:?}");
    assert_eq!(ours.state(), State::AdminDown);
    // bfdd stays down while we are AdminDown, and comes back when we are up again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(frr.status(), "down");
    ours.rt.block_on(ours.handle().admin_up(peer_ip)).unwrap();
    bring_up(&frr, &mut ours);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_we_detect_frr_death() {
    let (mut lab, us, peer) = lab("bfdwe");
    let frr = Frr::start(&mut lab, &peer);
    let mut ours = Ours::start(&us, fast());
    bring_up(&frr, &mut ours);
    // Our detection time follows bfdd's 100 ms once its own Poll Sequence is over.
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    frr.proc().kill(libc::SIGKILL);
    let down = ours.wait_change(Duration::from_secs(3), |s, _| s == State::Down);
    let took = t0.elapsed();
    println!("we saw bfdd's death after {took:?}: {:?}", ours.seen.last());
    let Some(_) = down else {
        panic!("our session never went Down: {:?}", ours.seen);
    };
    let Some((_, last)) = ours.seen.last() else {
        unreachable!()
    };
    assert_eq!(
        last.event,
        session::Event::StateChange {
            from: State::Up,
            to: State::Down,
            diagnostic: Diagnostic::ControlDetectionTimeExpired
        }
    );
    // Detection time 3 x 100 ms, plus slack for the kill and a machine shared with builds.
    assert!(took < Duration::from_millis(300 + 300), "took {took:?}");
}

fn start_bird(lab: &mut Lab, host: &Host) -> (Proc, PathBuf) {
    require_tool("bird", "bird2");
    require_tool("birdc", "bird2");
    let dir = lab.dir().to_path_buf();
    let conf = dir.join("bird.conf");
    let ctl = dir.join("bird.ctl");
    std::fs::write(
        &conf,
        format!(
            "router id {PEER};\nprotocol device {{ }}\nprotocol bfd {{\n  interface \"eth0\" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }};\n  neighbor {US} local {PEER};\n}}\n"
        ),
    )
    .unwrap();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let proc = lab.spawn(
        host,
        &[
            "bird",
            "-f",
            "-c",
            &s(&conf),
            "-s",
            &s(&ctl),
            "-P",
            &s(&dir.join("bird.pid")),
        ],
    );
    let ready = wait_until(Duration::from_secs(10), || {
        ctl.exists() || !proc.is_running()
    });
    if !ready || !proc.is_running() {
        panic!("bird did not start: {}{}", proc.stdout(), proc.stderr());
    }
    (proc, ctl)
}

fn bird_sessions(host: &Host, ctl: &Path) -> String {
    let out = host.exec(&[
        "birdc",
        "-s",
        &ctl.to_string_lossy(),
        "show",
        "bfd",
        "sessions",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_bird_comes_up_and_detects_admin_down() {
    let (mut lab, us, peer) = lab("bfdbird");
    let (bird, ctl) = start_bird(&mut lab, &peer);
    let mut ours = Ours::start(&us, fast());
    let up = ours.wait_change(Duration::from_secs(10), |s, _| s == State::Up);
    assert!(
        up.is_some(),
        "never Up with BIRD: {:?}\n{}\n{}{}",
        ours.seen,
        bird_sessions(&peer, &ctl),
        bird.stdout(),
        bird.stderr()
    );
    let line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with(US))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let ok = wait_until(Duration::from_secs(5), || {
        line(&bird_sessions(&peer, &ctl)).contains("Up")
    });
    let text = bird_sessions(&peer, &ctl);
    println!("{text}");
    assert!(ok, "BIRD not Up: {text}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ours.state(), State::Up);
    assert!(line(&bird_sessions(&peer, &ctl)).contains("Up"));
    // AdminDown: BIRD leaves Up at once.
    let t0 = Instant::now();
    ours.rt
        .block_on(ours.handle().admin_down(PEER.parse().unwrap()))
        .unwrap();
    let down = wait_until(Duration::from_secs(3), || {
        !line(&bird_sessions(&peer, &ctl)).contains("Up")
    });
    let took = t0.elapsed();
    let text = bird_sessions(&peer, &ctl);
    println!("BIRD left Up after {took:?}: {text}");
    assert!(down, "{text}");
    assert!(took < Duration::from_millis(300), "{took:?}");
    // BIRD's death: we detect it.
    ours.rt
        .block_on(ours.handle().admin_up(PEER.parse().unwrap()))
        .unwrap();
    assert!(
        ours.wait_change(Duration::from_secs(10), |s, _| s == State::Up)
            .is_some(),
        "{:?}",
        ours.seen
    );
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    bird.kill(libc::SIGKILL);
    let down = ours.wait_change(Duration::from_secs(3), |s, d| {
        s == State::Down && d == Diagnostic::ControlDetectionTimeExpired
    });
    let took = t0.elapsed();
    println!("we saw BIRD's death after {took:?}");
    assert!(down.is_some(), "{:?}", ours.seen);
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_bfd_discards_ttl_below_255() {
    let (_lab, us, peer) = lab("bfdttl");
    let mut ours = Ours::start(&us, fast());
    // A Down packet from the peer's address, as bfdd sends it (your discriminator 0).
    let packet: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0x60, 0xf6, 0x0d, 0xe1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42,
        0x40, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x00, 0xc3, 0x50,
    ];
    let send = |ttl: u32| {
        peer.run_in(move || {
            let s = std::net::UdpSocket::bind(format!("{PEER}:49999")).unwrap();
            s.set_ttl(ttl).unwrap();
            s.send_to(&packet, format!("{US}:3784")).unwrap();
        })
    };
    send(64);
    let stats = |ours: &Ours| ours.rt.block_on(ours.handle().status()).unwrap();
    assert!(wait_until(Duration::from_secs(3), || stats(&ours)
        .1
        .bad_ttl
        == 1));
    assert_eq!(stats(&ours).0[0].state, State::Down);
    // The same packet with TTL 255 is taken: Down -> Init (RFC 5880 6.8.6).
    send(255);
    assert!(
        ours.wait_change(Duration::from_secs(3), |s, _| s == State::Init)
            .is_some(),
        "{:?} {:?}",
        ours.seen,
        stats(&ours)
    );
    let (list, counters) = stats(&ours);
    assert_eq!(list[0].remote_discriminator, 0x60f6_0de1);
    assert_eq!(counters.bad_ttl, 1);
}
