//! `cargo xtask lab`: the LVS-DR lab (client, two directors, two real servers) in the VM.
//!
//! Builds `ha-lab` and `ha-director` in release, boots the VM (the host kernel has no IPVS) and
//! runs `ha-lab` there; its narration and figures are printed when the VM is done. Both
//! directors run `ha-director` unless told otherwise after `--` (or in `HA_LAB_ARGS`), for
//! example `cargo xtask lab -- --dir2 keepalived` (director 2 is real keepalived reading the
//! same keepalived.conf: the interop lab). `cargo xtask lab -- --stack heartbeat` runs both
//! directors with Debian's heartbeat and ldirectord, `--stack ha-heartbeat` with `ha-director
//! --heartbeat-dir` on the same files, `--stack both` the two in turn and prints their figures
//! side by side. The VRRP lab's SVG timeline (answers per 50 ms by real server, the steps
//! marked) ends up in `target/lab/timeline.svg`.

use std::path::PathBuf;
use std::process::Stdio;

use crate::util::{self, Result};
use crate::vm;

/// Kernel modules the lab needs inside the VM.
const MODULES: &str = "modprobe ip_vs; modprobe ip_vs_rr; modprobe veth; modprobe bridge";

/// Builds the release binaries and returns the paths of `ha-lab` and `ha-director`.
fn build() -> Result<(PathBuf, PathBuf)> {
    build_with("ha-lab")
}

/// Builds the release binaries `program` (a `lab` feature binary of ha-examples) and
/// `ha-director`, and returns their paths.
fn build_with(program: &str) -> Result<(PathBuf, PathBuf)> {
    let mut cmd = util::cargo();
    cmd.args([
        "build",
        "--release",
        "--package",
        "ha-examples",
        "--features",
        "lab",
        "--bin",
        program,
        "--bin",
        "ha-director",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.stderr(Stdio::inherit());
    println!("xtask: building {program} and ha-director (release)");
    let out = util::run_capture(&mut cmd)?;
    let (mut lab, mut director) = (None, None);
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        match v["target"]["name"].as_str() {
            Some(name) if name == program => lab = Some(PathBuf::from(exe)),
            Some("ha-director") => director = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    match (lab, director) {
        (Some(l), Some(d)) => Ok((l, d)),
        _ => Err(format!(
            "cargo build did not report the {program} and ha-director executables"
        )),
    }
}

/// Runs the lab.
pub fn run(extra_args: &[String]) -> Result<()> {
    let (lab, director) = build()?;
    let mut args = vec!["--ha-director".to_owned(), director.display().to_string()];
    args.extend(extra_args.iter().cloned());
    if let Ok(extra) = std::env::var("HA_LAB_ARGS") {
        args.extend(extra.split_whitespace().map(str::to_owned));
    }
    println!(
        "xtask: booting the VM to run {} {}",
        lab.display(),
        args.join(" ")
    );
    let ran = vm::run_program(&lab.display().to_string(), &args, MODULES)
        .map_err(|e| format!("lab: {e}"));
    copy_timeline();
    ran
}

/// Copies the SVG timeline that `ha-lab` wrote into the VM's output folder to
/// `target/lab/timeline.svg` and prints where it is (nothing when the run drew none: the
/// heartbeat lab, or a failed scenario).
fn copy_timeline() {
    let written = vm::run_dir_path("run").join("lab-timeline.svg");
    if !written.is_file() {
        return;
    }
    let dest = util::root().join("target/lab/timeline.svg");
    let copied = std::fs::create_dir_all(util::root().join("target/lab"))
        .and_then(|()| std::fs::copy(&written, &dest));
    match copied {
        Ok(_) => println!("xtask: lab timeline (SVG): {}", dest.display()),
        Err(e) => println!(
            "xtask: lab timeline (SVG): {} (copy to {} failed: {e})",
            written.display(),
            dest.display()
        ),
    }
}

/// Kernel modules the soak needs inside the VM (the lab's, and netem for `tc`).
const SOAK_MODULES: &str =
    "modprobe ip_vs; modprobe ip_vs_rr; modprobe veth; modprobe bridge; modprobe sch_netem";

/// `cargo xtask soak`: builds `ha-soak` and `ha-director` in release and runs the fault soak in
/// the VM (`args` go to `ha-soak`: `--minutes N`, `--seed S`, `--keepalived`). The fault log
/// that `ha-soak` writes in the VM's output folder is copied to `target/soak/soak.log`.
pub fn soak(args: &[String]) -> Result<()> {
    let (soak, director) = build_with("ha-soak")?;
    let mut all = vec!["--ha-director".to_owned(), director.display().to_string()];
    all.extend(args.iter().cloned());
    println!(
        "xtask: booting the VM to run {} {}",
        soak.display(),
        all.join(" ")
    );
    let ran = vm::run_program(&soak.display().to_string(), &all, SOAK_MODULES)
        .map_err(|e| format!("soak: {e}"));
    let written = vm::run_dir_path("run").join("soak.log");
    if written.is_file() {
        let dest = util::root().join("target/soak/soak.log");
        match std::fs::create_dir_all(util::root().join("target/soak"))
            .and_then(|()| std::fs::copy(&written, &dest))
        {
            Ok(_) => println!("xtask: soak log: {}", dest.display()),
            Err(e) => println!("xtask: soak log: {} (copy failed: {e})", written.display()),
        }
    }
    ran
}
