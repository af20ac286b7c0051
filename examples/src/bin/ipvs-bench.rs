//! `ipvs-bench`: ha-ipvs against `ipvsadm -R` on the same rules, side by side.
//! Run as root on a kernel with IPVS (inside the test VM). It flushes the table.
//!
//! 1. install N services with D destinations each from empty (`ipvsadm -R` vs `Client::apply`);
//! 2. dump them all (`ipvsadm -Sn` vs `Client::dump`), with where the dump's time goes: the
//!    one service dump, then one destination dump per service (both tools ask that way);
//! 3. a no-op reconcile of the same set (must write nothing).
#![deny(unsafe_code)]

use clap::Parser;
use ha_ipvs::ipvsadm::to_rules;
use ha_ipvs::{Client, Destination, Forward, Scheduler, Service, ServiceKey, VirtualService};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "ipvs-bench",
    version = ha_examples::VERSION,
    about = "Benchmark ha-ipvs against ipvsadm (flushes the IPVS table)"
)]
struct Args {
    /// Number of services.
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Destinations per service.
    #[arg(long, default_value_t = 4)]
    dests: usize,
    /// The ipvsadm binary.
    #[arg(long, default_value = "ipvsadm")]
    ipvsadm: String,
    /// Turn the kernel's rate estimator off for the run
    /// (`net.ipv4.vs.run_estimation = 0`, Linux 5.18+); it walks every
    /// service and destination every 2 s and, under emulation, dominates
    /// large tables for both tools alike.
    #[arg(long)]
    no_estimation: bool,
    /// Run ha-ipvs before ipvsadm (the second one installs right after a
    /// 50,000-object flush, whose deferred frees it pays for).
    #[arg(long)]
    crate_first: bool,
    /// Seconds to wait between the first tool's flush and the second tool's install. The
    /// kernel keeps deleted destinations in a trash list for reuse, and every destination
    /// add walks that list (`ip_vs_trash_get_dest`); it frees an entry once it has been idle
    /// for 2 minutes, looking every minute, so after about 3 minutes the second tool
    /// installs into the kernel state the first one had.
    #[arg(long, default_value_t = 0)]
    settle_s: u64,
}

const RUN_ESTIMATION: &str = "/proc/sys/net/ipv4/vs/run_estimation";

fn state(n: usize, d: usize) -> Vec<VirtualService> {
    (0..n)
        .map(|i| {
            let vip = SocketAddr::from(([10, 100 + (i >> 16) as u8, (i >> 8) as u8, i as u8], 80));
            VirtualService {
                service: Service::new(ServiceKey::tcp(vip), Scheduler::Wrr),
                destinations: (0..d)
                    .map(|j| {
                        Destination::new(
                            SocketAddr::from(([172, 16, (j >> 8) as u8, j as u8 + 1], 80)),
                            Forward::Route,
                            1 + j as u32,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// CPU seconds from `/proc/self/stat`: (own user, own system, waited-for
/// children's user, children's system); clock ticks are 1/100 s on Linux.
fn cpu_times() -> [f64; 4] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime is field 14 overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|x| x.parse::<f64>().unwrap_or(0.0) / 100.0)
        .collect();
    [0, 1, 2, 3].map(|i| f.get(i).copied().unwrap_or(0.0))
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let want = state(args.services, args.dests);
    let n_ops = args.services * (1 + args.dests);
    let mut client = Client::connect().await?;
    client.flush().await?;
    let estimation_before = std::fs::read_to_string(RUN_ESTIMATION).ok();
    if args.no_estimation {
        std::fs::write(RUN_ESTIMATION, "0")
            .map_err(|e| format!("writing {RUN_ESTIMATION}: {e}"))?;
    }
    let result = bench(&args, &mut client, &want, n_ops).await;
    if let Some(v) = estimation_before {
        let _ = std::fs::write(RUN_ESTIMATION, v.trim());
    }
    client.flush().await?;
    result
}

async fn bench(
    args: &Args,
    client: &mut Client,
    want: &[VirtualService],
    n_ops: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let rules = to_rules(want);
    let order = if args.crate_first {
        [false, true]
    } else {
        [true, false]
    };
    let (mut ipvsadm_install, mut ipvsadm_dump) = (Duration::ZERO, Duration::ZERO);
    let (mut crate_install, mut crate_dump, mut crate_noop) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut cpu0, mut cpu1, mut cpu2, mut cpu3) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
    let mut noop_ops = 0;
    let (mut list_services, mut dests_one_by_one) = (Duration::ZERO, Duration::ZERO);
    for (turn, ipvsadm_turn) in order.into_iter().enumerate() {
        if turn == 1 && args.settle_s > 0 {
            eprintln!(
                "ipvs-bench: {} s for the kernel to free the flushed destinations",
                args.settle_s
            );
            tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
        }
        if ipvsadm_turn {
            // ipvsadm -R, fed the same rules.
            cpu0 = cpu_times();
            let t = Instant::now();
            let mut child = Command::new(&args.ipvsadm)
                .arg("-R")
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| format!("running {} -R: {e}", args.ipvsadm))?;
            child
                .stdin
                .take()
                .ok_or("no stdin")?
                .write_all(rules.as_bytes())?;
            let st = child.wait()?;
            ipvsadm_install = t.elapsed();
            cpu1 = cpu_times();
            if !st.success() {
                return Err(format!("ipvsadm -R failed: {st}").into());
            }
            let got = client.services().await?.len();
            if got != args.services {
                return Err(format!(
                    "ipvsadm -R installed {got} services, expected {}",
                    args.services
                )
                .into());
            }
            let t = Instant::now();
            let out = Command::new(&args.ipvsadm).arg("-Sn").output()?;
            ipvsadm_dump = t.elapsed();
            let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
            if lines != n_ops {
                return Err(format!("ipvsadm -Sn printed {lines} lines, expected {n_ops}").into());
            }
        } else {
            // ha-ipvs from empty.
            cpu2 = cpu_times();
            let t = Instant::now();
            let ops = ha_ipvs::diff(&[], want);
            let report = client.apply(&ops).await?;
            crate_install = t.elapsed();
            cpu3 = cpu_times();
            if !report.is_ok() {
                let (i, e) = report.failures().next().ok_or("failure")?;
                return Err(format!("op {i} failed: {e}").into());
            }
            // Where a dump's time goes: the one service dump, then one destination dump per
            // service (what Client::dump and ipvsadm -Sn both send).
            let t = Instant::now();
            let services = client.services().await?;
            list_services = t.elapsed();
            let t = Instant::now();
            for s in &services {
                client.destinations(&s.service.key).await?;
            }
            dests_one_by_one = t.elapsed();
            let t = Instant::now();
            let dump = client.dump().await?;
            crate_dump = t.elapsed();
            let dests: usize = dump.iter().map(|(_, d)| d.len()).sum();
            if dump.len() != args.services || dests != args.services * args.dests {
                return Err(
                    format!("dump found {} services, {dests} destinations", dump.len()).into(),
                );
            }
            let t = Instant::now();
            let noop = client.reconcile(want).await?;
            crate_noop = t.elapsed();
            noop_ops = noop.ops.len();
        }
        client.flush().await?;
    }

    let estimation = std::fs::read_to_string(RUN_ESTIMATION)
        .map(|v| if v.trim() == "0" { "off" } else { "on" })
        .unwrap_or("on (no sysctl)");
    println!(
        "IPVS: {} services x {} destinations = {n_ops} objects; kernel rate estimator {estimation}; {} first; the second {}",
        args.services,
        args.dests,
        if args.crate_first {
            "ha-ipvs"
        } else {
            "ipvsadm"
        },
        if args.settle_s > 0 {
            format!("{} s after the flush", args.settle_s)
        } else {
            "right after the flush".to_owned()
        }
    );
    println!(
        "{:<36} {:>12} {:>12} {:>9}",
        "operation", "ha-ipvs", "ipvsadm", "speedup"
    );
    println!(
        "{:<36} {:>12} {:>12} {:>8.1}x",
        "install from empty (-R / apply)",
        secs(crate_install),
        secs(ipvsadm_install),
        ipvsadm_install.as_secs_f64() / crate_install.as_secs_f64()
    );
    // User CPU is the tool's own work; system CPU includes the kernel's IPVS
    // work, which runs in the sender's sendmsg.
    let (cu, cs) = (cpu3[0] - cpu2[0], cpu3[1] - cpu2[1]);
    let (iu, is) = (cpu1[2] - cpu0[2], cpu1[3] - cpu0[3]);
    println!(
        "{:<36} {:>10.2} s {:>10.2} s {:>8.1}x",
        "  install: user CPU of the tool",
        cu,
        iu,
        iu / cu.max(0.01)
    );
    println!(
        "{:<36} {:>10.2} s {:>10.2} s",
        "  install: system CPU (incl. kernel)", cs, is
    );
    println!(
        "{:<36} {:>12} {:>12} {:>8.1}x",
        "dump all (-Sn / dump)",
        secs(crate_dump),
        secs(ipvsadm_dump),
        ipvsadm_dump.as_secs_f64() / crate_dump.as_secs_f64()
    );
    println!(
        "{:<36} {:>12}",
        "  dump: the service list (1 dump)",
        secs(list_services)
    );
    println!(
        "{:<36} {:>12}",
        format!("  dump: {} destination dumps", args.services),
        secs(dests_one_by_one)
    );
    println!(
        "{:<36} {:>12} {:>12} {:>8.1}x",
        format!("no-op reconcile ({noop_ops} ops) / -Sn"),
        secs(crate_noop),
        secs(ipvsadm_dump),
        ipvsadm_dump.as_secs_f64() / crate_noop.as_secs_f64()
    );
    if noop_ops != 0 {
        return Err(format!("no-op reconcile wrote {noop_ops} operations").into());
    }
    Ok(())
}
