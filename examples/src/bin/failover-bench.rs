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
//! Run as root: `cargo xtask bench failover` (release build; it also draws the table as an
//! SVG picture, `target/bench/failover.svg`, see `--svg`), or
//! `failover-bench --runs 3 --intervals-ms 1000,100`.
//!
//! `--mode load` (issue 9) runs our pair and a keepalived pair side by side (VRIDs 61 and 62)
//! at `--interval-ms` (default 10) under each of `--busy` busy loops (default 0,3,32; host
//! processes spinning, killed after), for `--duration-s` each: false takeovers are counted
//! from a client's capture (runs of adverts from the backup while the master runs), then both
//! masters are SIGKILLed under the same load and the takeover is measured.
//! `--ours-realtime N` runs our speakers with `--realtime-priority N --mlock` (which also gives
//! each a standby thread on the other CPU: see `ha_failover::runtime::sched::Standby`);
//! `--keepalived-realtime N` gives keepalived its equivalents (`vrrp_rt_priority N`,
//! `vrrp_no_swap`); `--tune-ksoftirqd N` raises the kernel's `ksoftirqd/N` threads to
//! SCHED_FIFO N while the load runs (system tuning for both pairs, restored after). Each false
//! takeover is listed with the master's silence on the wire before it, which tells a backup
//! that misjudged from a master (or a machine) that really went quiet.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use ha_examples::lab::takeover::{self, TakeoverRow};
use ha_testsupport::{Host, Lab, Proc, format_mac, require_root, tshark_fields, wait_until};

#[derive(Parser, Debug)]
#[command(
    name = "failover-bench",
    version = ha_examples::VERSION,
    about = "VRRP takeover times: ours vs keepalived"
)]
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
    /// `takeover` (the table above) or `load`: both pairs side by side under busy loops.
    #[arg(long, default_value = "takeover")]
    mode: String,
    /// Load mode: the numbers of busy loops to run (one run each).
    #[arg(long, value_delimiter = ',', default_values_t = vec![0usize, 3, 32])]
    busy: Vec<usize>,
    /// Load mode: how long each pair runs under load before its master is killed (seconds).
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Load mode: the advertisement interval in milliseconds (VRRPv3).
    #[arg(long, default_value_t = 10)]
    interval_ms: u64,
    /// Load mode: run our speakers with this realtime priority (SCHED_FIFO) and mlock.
    #[arg(long)]
    ours_realtime: Option<u8>,
    /// Load mode: run keepalived with its equivalents: `vrrp_rt_priority N` (SCHED_RR) and
    /// `vrrp_no_swap` (mlockall) in `global_defs`.
    #[arg(long)]
    keepalived_realtime: Option<u8>,
    /// Load mode, system tuning (off by default, applies to both pairs): raise the kernel's
    /// `ksoftirqd/N` threads to SCHED_FIFO at this priority while the bench runs (restored
    /// after), so packet processing the kernel defers to them is not starved by the busy loops.
    /// Use a priority below the speakers'.
    #[arg(long)]
    tune_ksoftirqd: Option<u8>,
    /// Takeover mode: also draw the table as an SVG picture at this path (one panel per
    /// interval and stop, ours beside keepalived, the bound marked).
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
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
    start_vr(lab, host, which, prio, interval_ms, 61, VIP, None, None)
}

/// Starts one speaker of `which` for VRID `vrid` holding `vip`/24.
#[allow(clippy::too_many_arguments)]
fn start_vr(
    lab: &mut Lab,
    host: &Host,
    which: Impl,
    prio: u8,
    interval_ms: u64,
    vrid: u8,
    vip: &str,
    realtime: Option<u8>,
    ka_realtime: Option<u8>,
) -> Proc {
    let vip_prefix = format!("{vip}/24");
    match which {
        Impl::Ours => {
            let sp = speaker_path();
            let realtime_args: Vec<String> = match realtime {
                Some(p) => vec![
                    "--realtime-priority".into(),
                    p.to_string(),
                    "--mlock".into(),
                ],
                None => Vec::new(),
            };
            let (p, i) = (prio.to_string(), interval_ms.to_string());
            lab.spawn(
                host,
                &[
                    sp.to_str().expect("utf-8 path"),
                    "--interface",
                    "eth0",
                    "--vrid",
                    &vrid.to_string(),
                    "--vrrp-version",
                    "3",
                    "--interval-ms",
                    &i,
                    "--priority",
                    &p,
                    "--vip",
                    &vip_prefix,
                ]
                .into_iter()
                .chain(realtime_args.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            )
        }
        Impl::Keepalived => {
            let dir = lab.dir().join(format!("ka-{}", host.name()));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let conf = dir.join("keepalived.conf");
            // keepalived's own realtime settings (keepalived.conf(5), global_defs).
            let rt = ka_realtime.map_or_else(String::new, |p| {
                format!("  vrrp_rt_priority {p}\n  vrrp_no_swap\n")
            });
            std::fs::write(
                &conf,
                format!(
                    "global_defs {{\n  router_id {}\n{rt}}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  version 3\n  priority {prio}\n  advert_int {}\n  virtual_ipaddress {{\n    {vip_prefix}\n  }}\n}}\n",
                    host.name(),
                    interval_ms as f64 / 1000.0
                ),
            )
            .expect("write conf");
            lab.spawn_keepalived(host, &dir.join("keepalived.conf"))
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
    if args.mode == "load" {
        std::process::exit(load::main(&args));
    } else if args.mode != "takeover" {
        eprintln!("--mode {}: takeover | load", args.mode);
        std::process::exit(2)
    }
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
    let mut rows = Vec::new();
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
                rows.push(TakeoverRow {
                    interval_ms,
                    stop: match stop {
                        Stop::Crash => "crash (SIGKILL)",
                        Stop::Graceful => "graceful (priority 0)",
                    }
                    .into(),
                    implementation: which.name().into(),
                    bound_ms: bound,
                    advert_ms: match stop {
                        Stop::Crash => from_last,
                        Stop::Graceful => from_kill,
                    },
                    ping_ms: ping,
                });
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
    if let Some(path) = &args.svg {
        let title = format!(
            "VRRPv3 takeover: ours vs keepalived (medians of {} runs, ms)",
            args.runs
        );
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, takeover::svg(&rows, &title)));
        match written {
            Ok(()) => println!("picture: {}", path.display()),
            Err(e) => {
                eprintln!("write {}: {e}", path.display());
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// `--mode load`: our pair and a keepalived pair side by side at a short advert interval,
/// under busy loops; false takeovers counted from a client's capture, then a real crash.
mod load {
    use super::*;
    use ha_failover::runtime::sched::KsoftirqdBoost;
    use std::process::{Child, Command, Stdio};

    /// Busy loops (`sh -c 'while :; do :; done'` on the host), killed on drop.
    struct Busy(Vec<Child>);

    impl Busy {
        fn start(n: usize) -> Busy {
            Busy(
                (0..n)
                    .map(|_| {
                        Command::new("sh")
                            .args(["-c", "while :; do :; done"])
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .spawn()
                            .expect("spawn a busy loop")
                    })
                    .collect(),
            )
        }
    }

    impl Drop for Busy {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// One pair's figures under one load.
    #[derive(Debug, Default)]
    struct PairFigures {
        /// Runs of adverts from the backup before the kill: each is a false takeover (two
        /// transitions: to master and back).
        false_takeovers: usize,
        /// The largest gap between two adverts of the master before the kill (ms).
        max_gap: Option<f64>,
        /// Adverts from the master before the kill.
        master_adverts: usize,
        /// The backup's first advert after the kill, from the master's last (ms).
        takeover: Option<f64>,
        /// Each false takeover: when (s since the first advert of the capture) and how long
        /// the master had been silent on the wire before it (ms).
        false_detail: Vec<(f64, f64)>,
        /// When the largest gap ended (s since the first advert of the capture).
        max_gap_at: Option<f64>,
        /// Time with two masters (ms): from each false takeover's first advert of the backup
        /// to the master's next advert, after which the backup yields (RFC 9568 section
        /// 6.4.3). A count alone misleads: a master that sends few adverts leaves its
        /// backup master for long runs that count once each.
        two_masters_ms: f64,
    }

    struct Pair {
        which: Impl,
        vrid: u8,
        vip: &'static str,
        master: (&'static str, &'static str),
        backup: (&'static str, &'static str),
    }

    const PAIRS: [Pair; 2] = [
        Pair {
            which: Impl::Ours,
            vrid: 61,
            vip: "10.95.0.100",
            master: ("oa", "10.95.0.1"),
            backup: ("ob", "10.95.0.2"),
        },
        Pair {
            which: Impl::Keepalived,
            vrid: 62,
            vip: "10.95.0.101",
            master: ("ka", "10.95.0.3"),
            backup: ("kb", "10.95.0.4"),
        },
    ];

    fn holds(h: &Host, vip: &str) -> bool {
        h.sh("ip -o addr show dev eth0")
            .contains(&format!(" {vip}/"))
    }

    fn analyse(rows: &[Vec<String>], p: &Pair, t_kill: f64) -> PairFigures {
        let vrid = p.vrid.to_string();
        let mut f = PairFigures::default();
        let mut last_master: Option<f64> = None;
        let mut in_backup_run = false;
        let mut last_gap = 0.0f64;
        // The start of the backup's current run of adverts.
        let mut run_start: Option<f64> = None;
        let t0 = rows
            .first()
            .and_then(|r| r[0].parse::<f64>().ok())
            .unwrap_or(0.0);
        for r in rows.iter().filter(|r| r[3] == vrid) {
            let (Ok(t), src, prio) = (r[0].parse::<f64>(), r[1].as_str(), r[2].as_str()) else {
                continue;
            };
            if t > t_kill {
                // A run still going at the kill lasted until it.
                if let Some(b) = run_start.take() {
                    f.two_masters_ms += (t_kill - b).max(0.0) * 1000.0;
                }
                if src == p.backup.1 && f.takeover.is_none() {
                    f.takeover = last_master.map(|m| (t - m) * 1000.0);
                }
                continue;
            }
            if src == p.master.1 && prio != "0" {
                if let Some(m) = last_master {
                    let gap = (t - m) * 1000.0;
                    last_gap = gap;
                    if f.max_gap.is_none_or(|g| gap > g) {
                        f.max_gap = Some(gap);
                        f.max_gap_at = Some(t - t0);
                    }
                }
                last_master = Some(t);
                f.master_adverts += 1;
                in_backup_run = false;
                if let Some(b) = run_start.take() {
                    f.two_masters_ms += (t - b) * 1000.0;
                }
            } else if src == p.backup.1 && prio != "0" {
                if !in_backup_run {
                    f.false_takeovers += 1;
                    // The master's silence the backup judged: the one still running, or the
                    // one its last advert just ended (both woke from the same stall).
                    let since = last_master.map_or(f64::NAN, |m| (t - m) * 1000.0);
                    let silence = since.max(last_gap);
                    f.false_detail.push((t - t0, silence));
                    run_start = Some(t);
                }
                in_backup_run = true;
            }
        }
        f
    }

    /// Runs every load level; returns the exit code.
    pub fn main(args: &Args) -> i32 {
        if !speaker_path().is_file() {
            eprintln!(
                "{} is missing: build vrrp-speaker in the same profile",
                speaker_path().display()
            );
            return 2;
        }
        let i = args.interval_ms as f64;
        let bound = 3.0 * i + (256.0 - 100.0) * i / 256.0;
        println!(
            "load mode: VRRPv3 at {} ms, master 150 / backup 100 (Master_Down_Interval {bound:.2} ms), {} s under load per level; ours realtime: {}; keepalived realtime: {}; ksoftirqd: {}",
            args.interval_ms,
            args.duration_s,
            args.ours_realtime
                .map_or("off".to_owned(), |p| format!("SCHED_FIFO {p} + mlock")),
            args.keepalived_realtime
                .map_or("off".to_owned(), |p| format!(
                    "vrrp_rt_priority {p} (SCHED_RR) + vrrp_no_swap"
                )),
            args.tune_ksoftirqd
                .map_or("untouched".to_owned(), |p| format!(
                    "SCHED_FIFO {p} during the load"
                )),
        );
        println!(
            "{:>5} {:<11} {:>15} {:>15} {:>11} {:>14} {:>12} {:>9}",
            "busy",
            "impl",
            "false-takeovers",
            "two-masters(ms)",
            "adverts",
            "max-gap(ms)",
            "takeover(ms)",
            "excess"
        );
        let mut code = 0;
        for &n in &args.busy {
            match run_level(args, n, bound) {
                Ok(()) => {}
                Err(e) => {
                    eprintln!("busy {n}: {e}");
                    code = 1;
                }
            }
        }
        println!(
            "false-takeovers: runs of adverts from the backup while the master ran (each is two transitions); two-masters: the time both were master, from each run's first advert to the master's next; adverts: the master's during the load; max-gap: the largest gap between two of them; takeover: the backup's first advert after the master's last, on SIGKILL under the same load; excess: takeover minus Master_Down_Interval"
        );
        code
    }

    fn run_level(args: &Args, n: usize, bound: f64) -> Result<(), String> {
        let mut lab = Lab::new("fload");
        let hosts: Vec<Host> = [
            ("oa", "10.95.0.1/24"),
            ("ob", "10.95.0.2/24"),
            ("ka", "10.95.0.3/24"),
            ("kb", "10.95.0.4/24"),
            ("c", "10.95.0.5/24"),
        ]
        .iter()
        .map(|(name, a)| lab.add_host(name, &[a]))
        .collect();
        let host = |name: &str| hosts.iter().find(|h| h.name() == name).expect("host");
        let rt = args.ours_realtime;
        let mut masters = Vec::new();
        for p in &PAIRS {
            let h = host(p.master.0);
            masters.push(start_vr(
                &mut lab,
                h,
                p.which,
                150,
                args.interval_ms,
                p.vrid,
                p.vip,
                rt,
                args.keepalived_realtime,
            ));
        }
        for p in &PAIRS {
            if !wait_until(Duration::from_secs(10), || holds(host(p.master.0), p.vip)) {
                return Err(format!("{} master never took {}", p.which.name(), p.vip));
            }
        }
        let mut backups = Vec::new();
        for p in &PAIRS {
            let h = host(p.backup.0);
            backups.push(start_vr(
                &mut lab,
                h,
                p.which,
                100,
                args.interval_ms,
                p.vrid,
                p.vip,
                rt,
                args.keepalived_realtime,
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
        for p in &PAIRS {
            if holds(host(p.backup.0), p.vip) {
                return Err(format!(
                    "{} backup holds {} at the start",
                    p.which.name(),
                    p.vip
                ));
            }
        }
        let cap = lab.capture(host("c"), "eth0", Some("ip proto 112"));
        // System tuning for both pairs, restored when the level ends (also on an error).
        let boost = match args.tune_ksoftirqd {
            Some(p) => {
                Some(KsoftirqdBoost::apply(p).map_err(|e| format!("--tune-ksoftirqd {p}: {e}"))?)
            }
            None => None,
        };
        let busy = Busy::start(n);
        std::thread::sleep(Duration::from_secs(args.duration_s));
        let killed = SystemTime::now();
        for m in &masters {
            m.signal(libc::SIGKILL);
        }
        let took = PAIRS
            .iter()
            .map(|p| wait_until(Duration::from_secs(10), || holds(host(p.backup.0), p.vip)))
            .collect::<Vec<_>>();
        std::thread::sleep(Duration::from_millis(300));
        drop(busy);
        if let Some(b) = boost {
            b.restore()
                .map_err(|e| format!("restoring ksoftirqd scheduling: {e}"))?;
        }
        let pcap = cap.stop();
        // Our backup prints its lateness counters when stopped.
        backups[0].signal(libc::SIGTERM);
        let _ = backups[0].wait_exit(Duration::from_secs(5));
        let rows = tshark_fields(
            &pcap,
            "vrrp",
            &[
                "frame.time_epoch",
                "ip.src",
                "vrrp.prio",
                "vrrp.virt_rtr_id",
            ],
        );
        let t_kill = epoch(killed);
        let figures: Vec<PairFigures> = PAIRS.iter().map(|p| analyse(&rows, p, t_kill)).collect();
        for ((p, took), f) in PAIRS.iter().zip(took).zip(&figures) {
            println!(
                "{:>5} {:<11} {:>15} {:>15.1} {:>11} {:>14} {:>12} {:>9}",
                n,
                p.which.name(),
                f.false_takeovers,
                f.two_masters_ms,
                f.master_adverts,
                cell(f.max_gap),
                if took {
                    cell(f.takeover)
                } else {
                    "none".into()
                },
                cell(f.takeover.map(|t| t - bound))
            );
        }
        // Side by side in the same run: the ratio the issue asks for (a pair with no false
        // takeover at all counts as 0 ms).
        let (ours, theirs) = (&figures[0], &figures[1]);
        println!(
            "[busy {n}] false takeovers ours/keepalived: {}/{}; two-master time ours/keepalived: {:.1}/{:.1} ms{}",
            ours.false_takeovers,
            theirs.false_takeovers,
            ours.two_masters_ms,
            theirs.two_masters_ms,
            if theirs.two_masters_ms > 0.0 {
                format!(
                    " (ratio {:.2})",
                    ours.two_masters_ms / theirs.two_masters_ms
                )
            } else {
                String::new()
            }
        );
        for (p, f) in PAIRS.iter().zip(&figures) {
            if let Some(at) = f.max_gap_at {
                println!("      {}: largest gap ends at +{at:.3} s", p.which.name());
            }
            for (at, silence) in f.false_detail.iter().take(12) {
                let kind = if *silence >= bound {
                    "the master was silent on the wire for longer than Master_Down_Interval"
                } else {
                    "the master's adverts were on the wire in time"
                };
                println!(
                    "      {}: false takeover at +{at:.3} s after a {silence:.1} ms silence of the master ({kind})",
                    p.which.name()
                );
            }
        }
        for line in backups[0]
            .stderr()
            .lines()
            .filter(|l| l.contains("vrrp-speaker:") || l.contains("VRRP standby stopped"))
        {
            let line = match line.find("VRRP standby stopped") {
                // The tracing line: keep the message and its fields, drop the time, the level
                // and any colour codes.
                Some(i) => strip_ansi(&line[i..]),
                None => line.trim_start_matches("vrrp-speaker: ").to_owned(),
            };
            println!("      ours (backup): {line}");
        }
        Ok(())
    }

    /// `s` without ANSI colour sequences (`ESC [ ... m`).
    fn strip_ansi(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn row(t: f64, src: &str, prio: &str) -> Vec<String> {
            vec![format!("{t:.3}"), src.into(), prio.into(), "61".into()]
        }

        /// Two false takeovers: one the master's next advert ends after 15 ms, one still
        /// going when the master is killed (50 ms to the kill); the backup's adverts after
        /// the kill are the takeover, not a false one.
        #[test]
        fn two_master_time_runs_from_the_backups_first_advert_to_the_masters_next() {
            let (m, b) = ("10.95.0.1", "10.95.0.2");
            let rows = vec![
                row(100.000, m, "150"),
                row(100.010, m, "150"),
                row(100.060, b, "100"),
                row(100.070, b, "100"),
                row(100.075, m, "150"),
                row(100.085, m, "150"),
                row(100.200, b, "100"),
                row(100.300, b, "100"),
            ];
            let f = analyse(&rows, &PAIRS[0], 100.250);
            assert_eq!(f.false_takeovers, 2);
            assert!(
                (f.two_masters_ms - 65.0).abs() < 0.01,
                "{}",
                f.two_masters_ms
            );
            assert_eq!(f.master_adverts, 4);
            assert!((f.takeover.unwrap() - 215.0).abs() < 0.01);
        }
    }
}
