//! `cargo xtask bench NAME`: benchmarks that need more than criterion, printed side by side with
//! the reference they are measured against.

use std::process::Command;

use crate::setup::{self, Need};
use crate::util::{self, Result};
use crate::vm;

/// The benches: name, what it measures.
pub const BENCHES: &[(&str, &str)] = &[
    (
        "ipvs",
        "install/dump/no-op reconcile of 10,000 services x 4 dests vs ipvsadm -R (in the VM)",
    ),
    (
        "healthcheck",
        "10,000 TCP connect, 10,000 TCP half-open and 2,000 HTTP targets at 1 s on loopback: on-time, CPU (and the kernel floor), memory; with --vs keepalived,ldirectord [--checks 1000,10000] [--kind tcp|http]: the same real servers checked by ha-director, keepalived and ldirectord in turn in the VM (CPU per check, peak memory, drift, detection)",
    ),
    (
        "failover",
        "VRRP takeover of our pair vs a keepalived pair (crash and graceful, 1 s and 100 ms adverts) on the host in netns; an SVG of the figures in target/bench/failover.svg",
    ),
    (
        "limits",
        "1,000+ VRRP instances per director (host, netns: CPU, RSS, advert lateness, largest N meeting the timing) and 50,000 IPVS objects (in the VM), ha-director beside keepalived; `-- vrrp ...` or `-- ipvs ...` runs one part",
    ),
    (
        "criterion",
        "every criterion bench of benches/ (codecs, state machine, scheduler)",
    ),
];

/// Where `cargo xtask bench failover` draws the takeover figures (under the workspace root).
const FAILOVER_SVG: &str = "target/bench/failover.svg";

/// Runs one bench by name.
pub fn run(name: &str, args: &[String]) -> Result<()> {
    match name {
        "ipvs" => {
            // Whichever tool installs second pays for the first one's 50,000-object flush, so
            // each order gets a freshly booted VM and both tables are printed: compare each
            // tool's first-position figures.
            let exe = build_example("ipvs-bench")?;
            let mut crate_first = args.to_vec();
            crate_first.push("--crate-first".into());
            vm::run_program(&exe, &crate_first, "modprobe ip_vs")?;
            vm::run_program(&exe, args, "modprobe ip_vs")
        }
        "healthcheck" if args.iter().any(|a| a == "--vs" || a.starts_with("--vs=")) => {
            // Ours beside keepalived's checker and ldirectord: they need IPVS, so in the VM.
            build_example("ha-director")?;
            let exe = build_example("hc-vs")?;
            vm::run_program(&exe, args, "modprobe ip_vs\nulimit -n 262144")
        }
        "healthcheck" => {
            let exe = build_example("check-scale")?;
            if !args.is_empty() {
                return util::run_inherit(Command::new(exe).args(args));
            }
            // Every run of the table; check-scale exits non-zero when a target is missed,
            // which must not hide the other runs' figures. The half-open run needs
            // CAP_NET_RAW (root).
            let tcp = util::run_inherit(&mut Command::new(&exe));
            let half_open = util::run_inherit(Command::new(&exe).args(["--kind", "tcp-half-open"]));
            let http =
                util::run_inherit(Command::new(&exe).args(["--kind", "http", "--targets", "2000"]));
            tcp.and(half_open).and(http)
        }
        "failover" => {
            build_example("vrrp-speaker")?;
            let exe = build_example("failover-bench")?;
            setup::ensure(
                Need {
                    host: true,
                    vm: false,
                },
                true,
            )?;
            let mut cmd = Command::new(exe);
            cmd.args(args);
            if !args.iter().any(|a| a == "--svg" || a.starts_with("--svg=")) {
                cmd.arg("--svg").arg(util::root().join(FAILOVER_SVG));
            }
            util::run_inherit(&mut cmd)
        }
        "limits" => {
            build_example("ha-director")?;
            let exe = build_example("ha-limits")?;
            let part = args.first().map(String::as_str);
            let host = part != Some("ipvs");
            let vm = part != Some("vrrp");
            setup::ensure(Need { host, vm }, true)?;
            // No part named: both, each with its defaults.
            let (vrrp_args, ipvs_args): (Vec<String>, Vec<String>) = match part {
                Some("vrrp" | "ipvs") => (args.to_vec(), args.to_vec()),
                Some(other) => {
                    return Err(format!(
                        "bench limits: the first argument names the part, vrrp or ipvs (got {other})"
                    ));
                }
                None => (vec!["vrrp".into()], vec!["ipvs".into()]),
            };
            let mut result = Ok(());
            if host {
                result = util::run_inherit(Command::new(&exe).args(&vrrp_args));
            }
            if vm {
                result = result.and(vm::run_program(&exe, &ipvs_args, "modprobe ip_vs"));
            }
            result
        }
        "criterion" => {
            util::run_inherit(util::cargo().args(["bench", "-p", "ha-benches"]).args(args))
        }
        other => {
            let names: Vec<_> = BENCHES.iter().map(|(n, _)| *n).collect();
            Err(format!("no bench {other} (benches: {})", names.join(", ")))
        }
    }
}

/// Builds an example binary of ha-examples in release mode; returns its path.
fn build_example(bin: &str) -> Result<String> {
    util::run_inherit(util::cargo().args([
        "build",
        "--release",
        "-p",
        "ha-examples",
        "--features",
        "lab",
        "--bin",
        bin,
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| util::root().join("target"));
    let path = target.join("release").join(bin);
    if path.is_file() {
        Ok(path.display().to_string())
    } else {
        Err(format!("{} was not built", path.display()))
    }
}
