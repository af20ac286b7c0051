//! `ha-limits`: how many VRRP instances and IPVS objects one director carries
//! (`ha_examples::lab::limits`), ours beside keepalived from the same run.
//!
//! - `ha-limits vrrp`: a master and a backup host in network namespaces, N instances each
//!   (1 s adverts, 250 per segment), swept over `--sizes`; a table per N, then
//!   `cpu ours/keepalived at N: R`, `rss ours/keepalived at N: R` and
//!   `largest N meeting the timing: ours A, keepalived B`.
//! - `ha-limits ipvs`: one director with `--services x --dests` IPVS objects and one VRRP
//!   instance; needs a kernel with IPVS (`cargo xtask bench limits -- ipvs` runs it in the VM).
//!
//! Needs root. Exit codes: 0 the run completed, 1 it could not run, 2 usage error.
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ha_examples::lab::limits::{
    Daemon, HostFigures, HostOptions, IpvsFigures, IpvsOptions, TIMING_RULE, largest_met, run_host,
    run_ipvs,
};
use ha_examples::lab::{beside_this_program, ratio};

#[derive(Parser)]
#[command(
    name = "ha-limits",
    version = ha_examples::VERSION,
    about = "VRRP instances and IPVS objects one director carries: ha-director beside keepalived"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// The ha-director binary (default: next to this program).
    #[arg(long, value_name = "PATH", global = true)]
    ha_director: Option<PathBuf>,
    /// Print progress lines on stderr.
    #[arg(long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum What {
    /// N VRRP instances on a master and a backup host (network namespaces; one segment per 250).
    Vrrp {
        /// The sizes to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [250usize, 500, 1000, 2000])]
        sizes: Vec<usize>,
        /// Leave out sizes above this.
        #[arg(long)]
        max: Option<usize>,
        /// Instances per segment sub-interface (at most 255 VRIDs per interface).
        #[arg(long, default_value_t = 250)]
        per_segment: usize,
        /// The measured window per size and daemon, seconds.
        #[arg(long, default_value_t = 30)]
        window: u64,
        /// Run only this daemon: `ours` or `keepalived`.
        #[arg(long)]
        only: Option<String>,
    },
    /// One director with many IPVS objects (needs IPVS: run it in the VM).
    Ipvs {
        /// Virtual servers, comma-separated for several runs.
        #[arg(long, value_delimiter = ',', default_values_t = [2500usize])]
        services: Vec<usize>,
        /// Real servers per virtual server.
        #[arg(long, default_value_t = 4)]
        dests: usize,
        /// How long to measure after the table is complete, seconds.
        #[arg(long, default_value_t = 10)]
        after: u64,
        /// How long to wait for the table, seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

fn daemons(only: Option<&str>) -> Result<Vec<Daemon>, String> {
    match only {
        None => Ok(vec![Daemon::Ours, Daemon::Keepalived]),
        Some("ours") => Ok(vec![Daemon::Ours]),
        Some("keepalived") => Ok(vec![Daemon::Keepalived]),
        Some(o) => Err(format!("--only {o}: expected ours or keepalived")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ha_director = cli
        .ha_director
        .or_else(|| beside_this_program("ha-director"))
        .unwrap_or_else(|| "ha-director".into());
    match cli.what {
        What::Vrrp {
            sizes,
            max,
            per_segment,
            window,
            only,
        } => {
            let daemons = match daemons(only.as_deref()) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("ha-limits: {e}");
                    return ExitCode::from(2);
                }
            };
            if !(1..=255).contains(&per_segment) || window == 0 {
                eprintln!("ha-limits: --per-segment must be 1-255 and --window more than 0");
                return ExitCode::from(2);
            }
            let sizes: Vec<usize> = sizes
                .into_iter()
                .filter(|n| *n > 0 && max.is_none_or(|m| *n <= m))
                .collect();
            println!(
                "limits: VRRP instances, VRRPv3, 1 s adverts, one VIP each, {per_segment} per segment, window {window} s"
            );
            println!("{TIMING_RULE}");
            let mut figs: Vec<HostFigures> = Vec::new();
            let mut failed = false;
            for &n in &sizes {
                let opts = HostOptions {
                    instances: n,
                    per_segment,
                    window: Duration::from_secs(window),
                    ha_director: ha_director.clone(),
                    echo: cli.verbose,
                };
                println!("\nN = {n}\n{}", HostFigures::header());
                for &d in &daemons {
                    match run_host(&opts, d) {
                        Ok(f) => {
                            println!("{}", f.row());
                            figs.push(f);
                        }
                        Err(e) => {
                            println!(
                                "| {n} | {} | failed: {} |",
                                d.name(),
                                e.to_string().replace('\n', " / ")
                            );
                            failed = true;
                        }
                    }
                }
            }
            println!();
            for &n in &sizes {
                let get = |d: Daemon| figs.iter().find(|f| f.instances == n && f.daemon == d);
                if let (Some(o), Some(k)) = (get(Daemon::Ours), get(Daemon::Keepalived)) {
                    println!(
                        "cpu ours/keepalived at {n}: {} (master), {} (backup)",
                        ratio(o.master.cpu_pct, k.master.cpu_pct),
                        ratio(o.backup.cpu_pct, k.backup.cpu_pct)
                    );
                    println!(
                        "rss ours/keepalived at {n}: {} (master), {} (backup)",
                        ratio(o.master.rss_kib as f64, k.master.rss_kib as f64),
                        ratio(o.backup.rss_kib as f64, k.backup.rss_kib as f64)
                    );
                }
            }
            let show = |v: Option<usize>| v.map_or_else(|| "none".into(), |n| n.to_string());
            println!(
                "largest N meeting the timing: ours {}, keepalived {} (of {})",
                show(largest_met(&figs, Daemon::Ours)),
                show(largest_met(&figs, Daemon::Keepalived)),
                sizes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if failed && figs.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        What::Ipvs {
            services,
            dests,
            after,
            timeout,
        } => {
            println!(
                "limits: IPVS objects, one VRRP instance (1 s adverts), {dests} real servers per virtual server, no checks"
            );
            println!(
                "timing met = the table complete within {timeout} s and every gap between adverts under two intervals (2 s)"
            );
            println!("{}", IpvsFigures::header());
            let mut all: Vec<IpvsFigures> = Vec::new();
            for &s in &services {
                let opts = IpvsOptions {
                    services: s,
                    dests,
                    after: Duration::from_secs(after),
                    timeout: Duration::from_secs(timeout),
                    ha_director: ha_director.clone(),
                    echo: cli.verbose,
                };
                for d in [Daemon::Ours, Daemon::Keepalived] {
                    match run_ipvs(&opts, d) {
                        Ok(f) => {
                            println!("{}", f.row());
                            all.push(f);
                        }
                        Err(e) => println!(
                            "| {} | {} | failed: {} |",
                            s * (1 + dests),
                            d.name(),
                            e.to_string().replace('\n', " / ")
                        ),
                    }
                }
            }
            for &s in &services {
                let objects = s * (1 + dests);
                let get = |d: Daemon| all.iter().find(|f| f.objects == objects && f.daemon == d);
                if let (Some(o), Some(k)) = (get(Daemon::Ours), get(Daemon::Keepalived)) {
                    let secs = |f: &IpvsFigures| f.install.map_or(f64::NAN, |d| d.as_secs_f64());
                    println!(
                        "install time ours/keepalived at {objects}: {}",
                        ratio(secs(o), secs(k))
                    );
                    println!(
                        "rss ours/keepalived at {objects}: {}",
                        ratio(o.rss_kib as f64, k.rss_kib as f64)
                    );
                }
            }
            let largest = |d: Daemon| {
                all.iter()
                    .filter(|f| f.daemon == d && f.timing_met())
                    .map(|f| f.objects)
                    .max()
                    .map_or_else(|| "none".into(), |n| n.to_string())
            };
            println!(
                "largest IPVS objects meeting the timing: ours {}, keepalived {}",
                largest(Daemon::Ours),
                largest(Daemon::Keepalived)
            );
            if all.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
