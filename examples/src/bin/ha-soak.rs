//! `ha-soak`: the fault soak (`ha_examples::lab::soak`). Two directors (`ha-director`, or
//! director 2 real keepalived with `--keepalived`), two real servers and a client in network
//! namespaces; random faults from a seeded generator (SIGKILL and restart, SIGTERM and
//! restart, SIGSTOP/SIGCONT, link down/up, partition/heal, `tc netem`, the tracking script
//! failing, a real server dying, a reload with a valid or an invalid edit), and invariants
//! checked after each fault settles.
//!
//! Prints `seed: S` first, one line per fault, then `faults: N`, `checks: N` and
//! `violations: N`. The fault log (every fault with its time and parameters, every violation)
//! is written to `--log` (default `$OUT/soak.log` inside `cargo xtask soak`'s VM, else
//! `soak.log`); `--seed S` replays the same sequence.
//!
//! Needs root and a kernel with IPVS (`cargo xtask soak` runs it in the VM); `--no-ipvs` runs
//! on the host with network namespaces only (each director answers HTTP on the VIP itself and
//! the IPVS checks are left out).
//! Exit codes: 0 no violation, 1 violations or the soak could not run, 2 usage error.
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ha_examples::lab::beside_this_program;
use ha_examples::lab::soak::{SoakOptions, run_soak};

#[derive(Parser)]
#[command(
    name = "ha-soak",
    version = ha_examples::VERSION,
    about = "A randomized fault soak of two directors with invariants checked after each fault"
)]
struct Cli {
    /// How long to inject faults, in minutes (fractions allowed).
    #[arg(long, default_value_t = 3.0)]
    minutes: f64,
    /// The seed of the fault sequence (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Director 2 is real keepalived reading the same keepalived.conf.
    #[arg(long)]
    keepalived: bool,
    /// Without IPVS (the host): netns only, the IPVS checks left out.
    #[arg(long)]
    no_ipvs: bool,
    /// The ha-director binary (default: next to this program).
    #[arg(long, value_name = "PATH")]
    ha_director: Option<PathBuf>,
    /// Where to write the fault log.
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Print every check's outcome and the lab's lines too (the log has them either way).
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !(cli.minutes > 0.0 && cli.minutes < 24.0 * 60.0) {
        eprintln!("ha-soak: --minutes must be more than 0 and less than a day");
        return ExitCode::from(2);
    }
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    println!("seed: {seed}");
    let ha_director = cli
        .ha_director
        .or_else(|| beside_this_program("ha-director"))
        .unwrap_or_else(|| "ha-director".into());
    let log = cli.log.unwrap_or_else(|| {
        std::env::var_os("OUT")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join("soak.log")
    });
    println!("log: {}", log.display());
    let opts = SoakOptions {
        seed,
        duration: Duration::from_secs_f64(cli.minutes * 60.0),
        keepalived: cli.keepalived,
        ipvs: !cli.no_ipvs,
        ha_director,
        log,
        echo: cli.verbose,
    };
    match run_soak(&opts) {
        Ok(report) => {
            for v in &report.violations {
                println!("{v}");
            }
            println!("{}", report.summary());
            if report.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ha-soak: {e}");
            ExitCode::FAILURE
        }
    }
}
