//! `failover-bench`: takeover times of our VRRP pair and of a keepalived pair with the same
//! settings, side by side, on real (namespaced) links, judged from a client's capture.
//!
//! For each advert interval and implementation, a master (priority 150) and a backup (100) run
//! in two namespaces and a client pings the VIP every 10 ms. The master is then killed
//! (SIGKILL, a crash) or stopped (SIGTERM, a graceful priority-0 handoff) and the client's
//! capture gives: the new master's first advert, its first gratuitous ARP, and the first echo
//! reply from the VIP at the new master's MAC, each measured from the kill; and, for the
//! advert, from the old master's last advert, which is what Master_Down_Interval bounds.
//!
//! Run as root: `cargo xtask bench failover` (release build), or
//! `failover-bench --runs 3 --intervals-ms 1000,100`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use ha_testsupport::{Host, Lab, Proc, format_mac, require_root, tshark_fields, wait_until};

#[derive(Parser, Debug)]
#[command(about = "VRRP takeover times: ours vs keepalived")]
struct Args {
    /// Runs per configuration (the median is printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Advertisement intervals to measure, in milliseconds (VRRPv3).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000u64, 100])]
    intervals_ms: Vec<u64>,
    /// Only this implementation (ours | keepalived).
    #[arg(long)]
    only: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Ours,
    Keepalived,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ha (ours)",
            Impl::Keepalived => "keepalived",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Crash,
    Graceful,
}

/// One run's figures in milliseconds (None when not seen).
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    advert_from_kill: Option<f64>,
    advert_from_last: Option<f64>,
    garp_from_kill: Option<f64>,
    ping_from_kill: Option<f64>,
}

const VIP: &str = "10.95.0.100";

fn speaker_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.with_file_name("vrrp-speaker")
}

fn start(lab: &mut Lab, host: &Host, which: Impl, prio: u8, interval_ms: u64) -> Proc {
    match which {
        Impl::Ours => {
            let sp = speaker_path();
            let (p, i) = (prio.to_string(), interval_ms.to_string());
            lab.spawn(
                host,
                &[
                    sp.to_str().expect("utf-8 path"),
                    "--interface",
                    "eth0",
                    "--vrid",
                    "61",
                    "--version",
                    "3",
                    "--interval-ms",
                    &i,
                    "--priority",
                    &p,
                    "--vip",
                    "10.95.0.100/24",
                ],
            )
        }
        Impl::Keepalived => {
            let dir = lab.dir().join(format!("ka-{}", host.name()));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let conf = dir.join("keepalived.conf");
            std::fs::write(
                &conf,
                format!(
                    "global_defs {{\n  router_id {}\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 61\n  version 3\n  priority {prio}\n  advert_int {}\n  virtual_ipaddress {{\n    10.95.0.100/24\n  }}\n}}\n",
                    host.name(),
                    interval_ms as f64 / 1000.0
                ),
            )
            .expect("write conf");
            let s = |n: &str| dir.join(n).to_string_lossy().into_owned();
            let (c, p1, p2, p3) = (s("keepalived.conf"), s("k.pid"), s("v.pid"), s("c.pid"));
            lab.spawn(
                host,
                &[
                    "keepalived",
                    "-n",
                    "-l",
                    "-D",
                    "-P",
                    "-f",
                    &c,
                    "-p",
                    &p1,
                    "-r",
                    &p2,
                    "-c",
                    &p3,
                ],
            )
        }
    }
}

fn has_vip(h: &Host) -> bool {
    h.sh("ip -o addr show dev eth0")
        .contains(&format!(" {VIP}/"))
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn run_once(which: Impl, stop: Stop, interval_ms: u64) -> Result<Figures, String> {
    let mut lab = Lab::new("fbench");
    let a = lab.add_host("a", &["10.95.0.1/24"]);
    let b = lab.add_host("b", &["10.95.0.2/24"]);
    let c = lab.add_host("c", &["10.95.0.3/24"]);
    let interval = Duration::from_millis(interval_ms);
    let pa = start(&mut lab, &a, which, 150, interval_ms);
    if !wait_until(Duration::from_secs(10) + 5 * interval, || has_vip(&a)) {
        return Err(format!("a never became master: {}", pa.stderr()));
    }
    let _pb = start(&mut lab, &b, which, 100, interval_ms);
    std::thread::sleep(4 * interval + Duration::from_millis(500));
    if has_vip(&b) {
        return Err("b holds the VIP while a is master".into());
    }
    let cap = lab.capture(&c, "eth0", Some("ip proto 112 or arp or icmp"));
    let ping = lab.spawn(&c, &["ping", "-n", "-q", "-i", "0.01", VIP]);
    std::thread::sleep(2 * interval + Duration::from_millis(200));
    let killed = SystemTime::now();
    match stop {
        Stop::Crash => pa.signal(libc::SIGKILL),
        Stop::Graceful => pa.signal(libc::SIGTERM),
    }
    let took_over = wait_until(Duration::from_secs(10) + 5 * interval, || has_vip(&b));
    std::thread::sleep(Duration::from_millis(300));
    ping.kill(libc::SIGINT);
    let pcap = cap.stop();
    if !took_over {
        return Err("b did not take over".into());
    }
    let t_kill = epoch(killed);
    let (a_mac, b_mac) = (format_mac(a.mac()), format_mac(b.mac()));
    let num = |s: &str| s.parse::<f64>().ok();
    let adverts = tshark_fields(&pcap, "vrrp", &["frame.time_epoch", "ip.src", "vrrp.prio"]);
    let last_old = adverts
        .iter()
        .filter(|r| r[1] == "10.95.0.1" && r[2] != "0")
        .filter_map(|r| num(&r[0]))
        .filter(|t| *t <= t_kill)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
    let first_new = adverts
        .iter()
        .filter(|r| r[1] == "10.95.0.2")
        .filter_map(|r| num(&r[0]))
        .find(|t| *t > t_kill);
    let garp = tshark_fields(
        &pcap,
        "arp.isgratuitous == 1",
        &["frame.time_epoch", "eth.src", "arp.src.proto_ipv4"],
    )
    .iter()
    .filter(|r| r[1] == b_mac && r[2] == VIP)
    .filter_map(|r| num(&r[0]))
    .find(|t| *t > t_kill);
    let reply = tshark_fields(
        &pcap,
        "icmp.type == 0",
        &["frame.time_epoch", "eth.src", "ip.src"],
    )
    .iter()
    .filter(|r| r[1] == b_mac && r[2] == VIP)
    .filter_map(|r| num(&r[0]))
    .find(|t| *t > t_kill);
    let _ = a_mac;
    let ms = |t: Option<f64>, from: Option<f64>| Some((t? - from?) * 1000.0);
    Ok(Figures {
        advert_from_kill: ms(first_new, Some(t_kill)),
        advert_from_last: ms(first_new, last_old),
        garp_from_kill: ms(garp, Some(t_kill)),
        ping_from_kill: ms(reply, Some(t_kill)),
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn main() {
    let args = Args::parse();
    require_root();
    let impls: Vec<Impl> = match args.only.as_deref() {
        Some("ours") => vec![Impl::Ours],
        Some("keepalived") => vec![Impl::Keepalived],
        Some(other) => {
            eprintln!("--only {other}: ours | keepalived");
            std::process::exit(2)
        }
        None => vec![Impl::Ours, Impl::Keepalived],
    };
    if impls.contains(&Impl::Ours) && !speaker_path().is_file() {
        eprintln!(
            "{} is missing: build ha-examples' vrrp-speaker in the same profile",
            speaker_path().display()
        );
        std::process::exit(2)
    }
    println!(
        "VRRPv3, master priority 150, backup priority 100, medians of {} runs; times in ms",
        args.runs
    );
    println!(
        "{:<9} {:<9} {:<11} {:>9} {:>11} {:>12} {:>9} {:>10} {:>10}",
        "interval", "stop", "impl", "bound", "advert", "advert-last", "excess", "GARP", "ping"
    );
    let mut failed = false;
    for &interval_ms in &args.intervals_ms {
        let i = interval_ms as f64;
        // Master_Down_Interval (crash) and Skew_Time (priority 0) of the priority-100 backup.
        let skew = (256.0 - 100.0) * i / 256.0;
        for stop in [Stop::Crash, Stop::Graceful] {
            let bound = match stop {
                Stop::Crash => 3.0 * i + skew,
                Stop::Graceful => skew,
            };
            for &which in &impls {
                let mut runs = Vec::new();
                for _ in 0..args.runs {
                    match run_once(which, stop, interval_ms) {
                        Ok(f) => runs.push(f),
                        Err(e) => {
                            eprintln!("{} {interval_ms} ms {stop:?}: {e}", which.name());
                            failed = true;
                        }
                    }
                }
                let col =
                    |f: fn(&Figures) -> Option<f64>| median(runs.iter().filter_map(f).collect());
                let from_last = col(|f| f.advert_from_last);
                let (from_kill, garp, ping) = (
                    col(|f| f.advert_from_kill),
                    col(|f| f.garp_from_kill),
                    col(|f| f.ping_from_kill),
                );
                let excess = match stop {
                    Stop::Crash => from_last.map(|t| t - bound),
                    Stop::Graceful => from_kill.map(|t| t - bound),
                };
                println!(
                    "{:<9} {:<9} {:<11} {:>9.1} {:>11} {:>12} {:>9} {:>10} {:>10}",
                    format!("{interval_ms} ms"),
                    format!("{stop:?}").to_lowercase(),
                    which.name(),
                    bound,
                    cell(from_kill),
                    cell(from_last),
                    cell(excess),
                    cell(garp),
                    cell(ping)
                );
            }
        }
    }
    println!(
        "bound: Master_Down_Interval (crash) or Skew_Time (graceful) of the backup; advert: the new master's first advert after the kill; advert-last: after the old master's last advert; excess: advert-last (crash) or advert (graceful) minus the bound; GARP / ping: first gratuitous ARP / echo reply from the new master after the kill"
    );
    if failed {
        std::process::exit(1);
    }
}
