//! Project automation: `cargo xtask test` runs every suite, `cargo xtask vm` runs VM tests,
//! `cargo xtask setup` installs the prerequisites, `cargo xtask lab` runs the LVS-DR lab,
//! `cargo xtask install` installs the tools with their man pages and completions.
#![forbid(unsafe_code)]

mod bench;
mod fuzz;
mod install;
mod lab;
mod publish;
mod setup;
mod suites;
mod util;
mod vm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the ha-* workspace"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every suite in order (lint, unit, host, vm, fuzz); report each with pass/fail and time.
    Test {
        /// Skip a suite by name (lint, unit, host, vm, fuzz); may be repeated. The only way to skip.
        #[arg(long = "skip", value_name = "SUITE")]
        skip: Vec<String>,
        /// Do not install missing prerequisites; print the commands instead.
        #[arg(long)]
        no_install: bool,
    },
    /// Run the VM tests (ignored tests named `vm_*`) inside a VM with the Debian kernel.
    Vm {
        /// A libtest filter narrower than `vm_` (for example `vm_ipvs`).
        #[arg(default_value = "vm_")]
        filter: String,
        /// Only test binaries of this package.
        #[arg(long, short)]
        package: Option<String>,
    },
    /// Run a script (or any program) inside the VM as root; its output is printed after.
    VmRun {
        /// The program to run inside the VM.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Run a benchmark that needs more than criterion (ipvs, healthcheck) or all criterion benches.
    Bench {
        /// ipvs | healthcheck | criterion
        name: String,
        /// Arguments passed to the bench program.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every fuzz target (libFuzzer through cargo-fuzz on the nightly toolchain) for a
    /// while; one line per target, or the crash with its input.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only these targets (default: every target of every `*/fuzz` crate).
        targets: Vec<String>,
        /// Do not install cargo-fuzz when missing; print the command instead.
        #[arg(long)]
        no_install: bool,
    },
    /// Install the prerequisites (Debian packages, virtme-ng, the VM kernel) and exit.
    Setup,
    /// Build release binaries and install them with man pages, shell completions, the systemd
    /// unit and an example configuration.
    Install {
        /// Installation prefix.
        #[arg(long, default_value = "/usr/local")]
        prefix: std::path::PathBuf,
        /// Staging root prepended to every installed path (packaging).
        #[arg(long, default_value = "/")]
        destdir: std::path::PathBuf,
        /// Install the binaries of this directory instead of building release ones.
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<std::path::PathBuf>,
    },
    /// Run the fault soak in the VM: random faults (seeded) against two directors, two real
    /// servers and a client, invariants checked after each; exit 1 on any violation.
    Soak {
        /// How long to inject faults.
        #[arg(long, default_value_t = 3)]
        minutes: u64,
        /// The seed (default: from the clock; printed first, so a run can be replayed).
        #[arg(long)]
        seed: Option<u64>,
        /// Director 2 is real keepalived.
        #[arg(long)]
        keepalived: bool,
    },
    /// Run the LVS-DR lab in the VM: a client, two directors and two real servers.
    Lab {
        /// Arguments for `ha-lab`, after `--` (for example `-- --dir2 keepalived`: director 2
        /// is real keepalived).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Test { skip, no_install } => suites::run_all(&skip, !no_install),
        Cmd::Vm { filter, package } => vm::run_tests(package.as_deref(), &filter, true),
        Cmd::VmRun { program, args } => vm::run_program(&program, &args, ""),
        Cmd::Bench { name, args } => bench::run(&name, &args),
        Cmd::Fuzz {
            seconds,
            targets,
            no_install,
        } => fuzz::run(seconds, &targets, !no_install).and_then(|r| fuzz::fail_on_crash(&r)),
        Cmd::Setup => setup::ensure(setup::Need::all(), true).map(|_| ()),
        Cmd::Lab { args } => lab::run(&args),
        Cmd::Install {
            prefix,
            destdir,
            bin_dir,
        } => install::run(&install::Options {
            prefix,
            destdir,
            bin_dir,
        }),
        Cmd::Soak {
            minutes,
            seed,
            keepalived,
        } => {
            let mut args = vec!["--minutes".to_owned(), minutes.to_string()];
            if let Some(s) = seed {
                args.extend(["--seed".to_owned(), s.to_string()]);
            }
            if keepalived {
                args.push("--keepalived".to_owned());
            }
            lab::soak(&args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
