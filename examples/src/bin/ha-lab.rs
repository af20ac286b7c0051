//! `ha-lab`: runs the LVS-DR lab (client, two directors, two real servers in network
//! namespaces) and narrates it: requests alternate between the real servers, a real server dies
//! and comes back, director 1 crashes and director 2 takes over, director 1 returns.
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
use ha_examples::lab::{DirectorKind, LabOptions, run_scenario};

#[derive(Parser)]
#[command(
    name = "ha-lab",
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ha_director = cli.ha_director.or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("ha-director")))
    });
    let mut opts = LabOptions::new(cli.dir1, cli.dir2);
    opts.ha_director = ha_director;
    opts.config.advert_int = Duration::from_millis(cli.advert_ms);
    opts.echo = true;
    println!("ha-lab: dir1 = {}, dir2 = {}", cli.dir1, cli.dir2);
    match run_scenario(&opts) {
        Ok(report) => {
            println!("\n{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ha-lab: {e}");
            ExitCode::FAILURE
        }
    }
}
