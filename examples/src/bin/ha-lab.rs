//! `ha-lab`: runs the LVS-DR lab (client, two directors, two real servers in network
//! namespaces) and narrates it: requests alternate between the real servers, a real server dies
//! and comes back, director 1 crashes and director 2 takes over, director 1 returns.
//!
//! With `--stack heartbeat|ha-heartbeat|both` the directors run heartbeat's configuration
//! instead (`ha_examples::lab::heartbeat`): Debian's heartbeat + ldirectord, or `ha-director
//! --heartbeat-dir` on the same files, or both one after the other with a side-by-side table.
//!
//! The VRRP lab also draws the client's answers per 50 ms by real server, with the failover,
//! failback and the other steps marked, as an SVG picture (`--svg`; by default
//! `$OUT/lab-timeline.svg` inside `cargo xtask lab`'s VM, which copies it to
//! `target/lab/timeline.svg`, else `lab-timeline.svg` in the current folder).
//!
//! With `--active-active` it runs the active-active lab instead (`ha_examples::lab::active`):
//! three directors announce one virtual address by BGP to an FRR router that spreads the
//! client's flows over them by ECMP; a director crashes, comes back, a real server fails, a
//! director drains, and the broken connections of each step are counted.
//!
//! Needs root and a kernel with IPVS: `cargo xtask lab` builds it and runs it in the VM.
//! Exit codes: 0 the scenario ran (its figures are printed), 1 it failed (the reason is
//! printed), 2 usage error.
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ha_examples::lab::heartbeat::{HbLabOptions, Stack, run_heartbeat_scenario, side_by_side};
use ha_examples::lab::{DirectorKind, LabOptions, run_scenario};

#[derive(Parser)]
#[command(
    name = "ha-lab",
    version = ha_examples::VERSION,
    about = "The LVS-DR lab: client, two directors (ha-director or keepalived), two real servers"
)]
struct Cli {
    /// What runs director 1 (priority 150, master): `ha` or `keepalived`.
    #[arg(long, default_value = "ha")]
    dir1: DirectorKind,
    /// What runs director 2 (priority 100, backup): `ha` or `keepalived`.
    #[arg(long, default_value = "ha")]
    dir2: DirectorKind,
    /// The ha-director binary (default: next to this program).
    #[arg(long, value_name = "PATH")]
    ha_director: Option<PathBuf>,
    /// VRRP advertisement interval in milliseconds (VRRPv3; a multiple of 10).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    advert_ms: u64,
    /// Run the heartbeat lab instead, both directors on one stack reading one set of ha.cf,
    /// authkeys, haresources and ldirectord.cf: `heartbeat` (Debian's heartbeat 3.0.6 and
    /// ldirectord 4.12), `ha-heartbeat` (`ha-director --heartbeat-dir`) or `both` (ours, then
    /// theirs, and the figures side by side).
    #[arg(long, value_name = "STACK")]
    stack: Option<String>,
    /// Where to write the SVG timeline of the VRRP lab (default: `$OUT/lab-timeline.svg`
    /// when `OUT` is set, as in the VM, else `lab-timeline.svg`).
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// Run the active-active lab instead: three ha-directors behind an FRR router (BGP, BFD,
    /// ECMP), IPVS `mh` and `sloppy_tcp`.
    #[arg(long, conflicts_with = "stack")]
    active_active: bool,
    /// With --active-active: the directors' IPVS scheduler (`mh` keeps flows when they move
    /// between directors; `rr` shows what breaks without consistent hashing).
    #[arg(long, value_name = "SCHED", default_value = "mh")]
    scheduler: String,
    /// With --active-active: leave `lvs_sloppy_tcp` off (shows what breaks without it).
    #[arg(long, requires = "active_active")]
    without_sloppy_tcp: bool,
}

/// The default path of the SVG timeline.
fn default_svg() -> PathBuf {
    std::env::var_os("OUT")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join("lab-timeline.svg")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ha_director = cli
        .ha_director
        .or_else(|| ha_examples::lab::beside_this_program("ha-director"));
    if cli.active_active {
        let Some(bin) = ha_director else {
            eprintln!("ha-lab: --active-active needs ha-director (--ha-director PATH)");
            return ExitCode::from(2);
        };
        let mut opts = ha_examples::lab::active::ActiveOptions::new(bin);
        opts.echo = true;
        opts.scheduler = cli.scheduler;
        opts.sloppy_tcp = !cli.without_sloppy_tcp;
        println!("ha-lab: active-active, three ha-directors behind an FRR router");
        return match ha_examples::lab::active::run_active_active(&opts) {
            Ok(r) => {
                println!("\n{}", r.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ha-lab: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(word) = cli.stack {
        let stacks = match Stack::parse_list(&word) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ha-lab: --stack {word}: {e}");
                return ExitCode::from(2);
            }
        };
        return heartbeat_lab(&stacks, ha_director);
    }
    let mut opts = LabOptions::new(cli.dir1, cli.dir2);
    opts.ha_director = ha_director;
    opts.config.advert_int = Duration::from_millis(cli.advert_ms);
    opts.echo = true;
    println!("ha-lab: dir1 = {}, dir2 = {}", cli.dir1, cli.dir2);
    match run_scenario(&opts) {
        Ok(report) => {
            println!("\n{}", report.summary());
            let path = cli.svg.unwrap_or_else(default_svg);
            let title = format!(
                "ha-lab, dir1 = {}, dir2 = {}: client answers per 50 ms by real server",
                cli.dir1, cli.dir2
            );
            match report.timeline.write_svg(&path, &title) {
                Ok(()) => {
                    println!("timeline: {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ha-lab: write the timeline {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("ha-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The heartbeat lab on each stack in turn; the side-by-side table when both ran.
fn heartbeat_lab(stacks: &[Stack], ha_director: Option<PathBuf>) -> ExitCode {
    let mut reports = Vec::new();
    let mut failed = false;
    for &stack in stacks {
        let mut opts = HbLabOptions::new(stack);
        opts.ha_director = ha_director.clone();
        opts.echo = true;
        println!(
            "ha-lab: heartbeat lab, both directors on {}",
            stack.describe()
        );
        match run_heartbeat_scenario(&opts) {
            Ok(report) => {
                println!("\n{}\n", report.summary());
                reports.push(report);
            }
            Err(e) => {
                eprintln!("ha-lab: the {stack} stack failed: {e}");
                failed = true;
            }
        }
    }
    let ours = reports.iter().find(|r| r.stack == Stack::HaHeartbeat);
    let theirs = reports.iter().find(|r| r.stack == Stack::Heartbeat);
    if let (Some(o), Some(t)) = (ours, theirs) {
        println!(
            "side by side (ratio = ours / heartbeat + ldirectord):\n{}",
            side_by_side(o, t)
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_option_parses() {
        for (word, n) in [("heartbeat", 1), ("ha-heartbeat", 1), ("both", 2)] {
            let cli = Cli::try_parse_from(["ha-lab", "--stack", word]).unwrap();
            assert_eq!(Stack::parse_list(&cli.stack.unwrap()).unwrap().len(), n);
        }
        assert!(Stack::parse_list("nothing").is_err());
    }
}
