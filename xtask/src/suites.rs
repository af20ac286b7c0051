//! `cargo xtask test`: every suite, in order, each reported by name with pass/fail and time.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::setup::{self, Need};
use crate::util::{self, Result, count_passed, fmt_duration};
use crate::vm;

/// The suites, in the order they run.
pub const SUITES: &[(&str, &str)] = &[
    (
        "lint",
        "cargo fmt --check, clippy -D warnings, protocol crates free of tokio and building without default features; library docs (-D warnings, docs.rs), cargo package, minimal versions, MSRV",
    ),
    (
        "unit",
        "unit, property and simulation tests (cargo test --workspace, no privileges)",
    ),
    (
        "host",
        "host network tests (root): netns/veth/bridge topologies on this kernel",
    ),
    (
        "vm",
        "VM tests (root): a Debian kernel in virtme-ng (IPVS, the LVS-DR lab)",
    ),
    (
        "fuzz",
        "every fuzz target briefly (cargo-fuzz, nightly): a crash fails the suite",
    ),
];

/// Seconds each fuzz target runs in the test command (`cargo xtask fuzz` runs longer).
const FUZZ_SECONDS: u64 = 15;

/// The library crates: their normal dependency tree must not contain tokio (the sans-io
/// rule), and each must build on its own without default features (`cargo check
/// --no-default-features -p CRATE`), which `--workspace` builds never try: there the
/// features the other members enable (`tokio`, `sys`) are unified in.
const SANS_IO: &[&str] = &[
    "ha-vrrp-proto",
    "ha-arp",
    "ha-ipvs",
    "ha-healthcheck",
    "ha-failover",
    "ha-bgp",
    "ha-bfd",
];

enum Verdict {
    Passed(String),
    Failed(String),
    Skipped,
}

/// Runs every suite not in `skip`; Err when any failed.
pub fn run_all(skip: &[String], install: bool) -> Result<()> {
    for s in skip {
        if !SUITES.iter().any(|(name, _)| name == s) {
            let names: Vec<_> = SUITES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "--skip {s}: no such suite (suites: {})",
                names.join(", ")
            ));
        }
    }
    let mut results = Vec::new();
    for (name, what) in SUITES {
        if skip.iter().any(|s| s == name) {
            println!("\n==== suite {name}: skipped (--skip {name})");
            results.push((*name, Verdict::Skipped, Duration::ZERO));
            continue;
        }
        println!("\n==== suite {name}: {what}");
        let start = Instant::now();
        let verdict = match run_suite(name, install) {
            Ok(detail) => Verdict::Passed(detail),
            Err(reason) => Verdict::Failed(reason),
        };
        let took = start.elapsed();
        match &verdict {
            Verdict::Passed(d) => {
                println!("==== suite {name}: PASS in {} ({d})", fmt_duration(took))
            }
            Verdict::Failed(r) => {
                // The first line: the failing tests' output is above, and again after the
                // summary.
                let first = r.lines().next().unwrap_or("");
                println!("==== suite {name}: FAIL in {}: {first}", fmt_duration(took))
            }
            Verdict::Skipped => {}
        }
        results.push((*name, verdict, took));
    }
    println!("\n==== summary");
    let mut failed = 0;
    for (name, verdict, took) in &results {
        let (word, detail) = match verdict {
            Verdict::Passed(d) => ("PASS", d.as_str()),
            Verdict::Failed(r) => {
                failed += 1;
                ("FAIL", r.as_str())
            }
            Verdict::Skipped => ("SKIP", "skipped by --skip"),
        };
        let first = detail.lines().next().unwrap_or("");
        println!("{name:<5} {word}  {:>9}  {first}", fmt_duration(*took));
    }
    for (name, verdict, _) in &results {
        if let Verdict::Failed(r) = verdict
            && let Some((_, rest)) = r.split_once('\n')
            && !rest.trim().is_empty()
        {
            println!("\n==== why {name} failed\n{}", rest.trim_end());
        }
    }
    if failed > 0 {
        Err(format!("{failed} suite(s) failed"))
    } else {
        Ok(())
    }
}

fn run_suite(name: &str, install: bool) -> Result<String> {
    match name {
        "lint" => lint(install),
        "unit" => {
            let passed = cargo_test(&[])?;
            Ok(format!("{passed} tests passed"))
        }
        "host" => {
            if !util::is_root() {
                return Err(
                    "needs root to create network namespaces: run `cargo xtask test` as root"
                        .into(),
                );
            }
            setup::ensure(
                Need {
                    host: true,
                    vm: false,
                },
                install,
            )?;
            let passed = cargo_test(&["--ignored", "host_"])?;
            if passed == 0 {
                return Err("no host test ran: nothing matched `host_`".into());
            }
            Ok(format!("{passed} tests passed"))
        }
        "vm" => {
            if !util::is_root() {
                return Err(
                    "needs root to boot the VM and load modules: run `cargo xtask test` as root"
                        .into(),
                );
            }
            setup::ensure(Need::all(), install)?;
            vm::run_tests(None, "vm_", install)?;
            Ok("see the VM lines above".into())
        }
        "fuzz" => {
            let reports = crate::fuzz::run(FUZZ_SECONDS, &[], install)?;
            crate::fuzz::fail_on_crash(&reports)?;
            let execs: u64 = reports.iter().map(|r| r.execs).sum();
            Ok(format!(
                "{} targets, {execs} executions, no crash",
                reports.len()
            ))
        }
        other => Err(format!("unknown suite {other}")),
    }
}

/// Runs every lint check (all of them, even after a failure) and reports each failure.
fn lint(install: bool) -> Result<String> {
    let mut failures = Vec::new();
    if let Err(e) = util::run_inherit(util::cargo().args(["fmt", "--all", "--check"])) {
        failures.push(format!("{e}: run `cargo fmt --all`"));
    }
    // embedder/ is not a workspace member (it builds as an outside user builds); its
    // clippy runs in host_embedder, against the packaged crates.
    if let Err(e) = util::run_inherit(util::cargo().args([
        "fmt",
        "--manifest-path",
        "embedder/Cargo.toml",
        "--check",
    ])) {
        failures.push(format!(
            "{e}: run `cargo fmt --manifest-path embedder/Cargo.toml`"
        ));
    }
    if let Err(e) = util::run_inherit(util::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])) {
        failures.push(e);
    }
    for krate in SANS_IO {
        match util::run_capture(
            util::cargo().args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"]),
        ) {
            Ok(tree) => {
                if let Some(line) = tree.lines().find(|l| l.starts_with("tokio ")) {
                    failures.push(format!(
                        "{krate} depends on {line} without features: the protocol core must stay sans-io"
                    ));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    for krate in SANS_IO {
        if let Err(e) = check_without_default_features(krate) {
            failures.push(e);
        }
    }
    failures.extend(check_healthcheck_features());
    // The production director never links the test support (it is behind the examples'
    // `lab` feature, for ha-lab and failover-bench).
    match util::run_capture(util::cargo().args([
        "tree",
        "-p",
        "ha-examples",
        "-e",
        "normal",
        "--prefix",
        "none",
    ])) {
        Ok(tree) => {
            if tree.lines().any(|l| l.starts_with("ha-testsupport ")) {
                failures.push(
                    "ha-examples (ha-director) depends on ha-testsupport without the `lab` feature"
                        .into(),
                );
            }
        }
        Err(e) => failures.push(e),
    }
    // Publishing: docs, packages, minimal versions, MSRV (xtask/src/publish.rs).
    failures.extend(crate::publish::checks(install));
    if failures.is_empty() {
        Ok(format!(
            "fmt, clippy, sans-io and no-default-features builds ({} crates), no test support in ha-director, publishing (docs, package, minimal versions, MSRV)",
            SANS_IO.len()
        ))
    } else {
        Err(failures.join("; "))
    }
}

/// `cargo check --no-default-features -p KRATE`, its output echoed; Err when it fails or warns
/// (a warning there is usually an import or item that only an IO feature uses: a missing
/// cfg gate).
fn check_without_default_features(krate: &str) -> Result<()> {
    check_build(krate, None)
}

/// ha-healthcheck's probe features, each of which must build alone.
const HEALTHCHECK_FEATURES: &[&str] = &["tcp", "http", "tls", "dns"];

/// Builds ha-healthcheck with each probe feature alone (no other feature); one failure per
/// feature that does not build or warns.
fn check_healthcheck_features() -> Vec<String> {
    HEALTHCHECK_FEATURES
        .iter()
        .filter_map(|f| check_build("ha-healthcheck", Some(f)).err())
        .collect()
}

/// `cargo check -p KRATE --no-default-features [--features FEATURE]`, its output echoed; Err
/// when it fails or warns.
fn check_build(krate: &str, feature: Option<&str>) -> Result<()> {
    let mut cmd = util::cargo();
    cmd.args(["check", "-p", krate, "--no-default-features"]);
    if let Some(f) = feature {
        cmd.args(["--features", f]);
    }
    let desc = util::describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {desc}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    let how = match feature {
        None => "without default features".to_owned(),
        Some(f) => format!("with feature {f} alone"),
    };
    if !out.status.success() {
        Err(format!(
            "{krate} does not build {how}: {desc} failed ({})",
            out.status
        ))
    } else if stderr.lines().any(|l| l.starts_with("warning")) {
        Err(format!(
            "{krate} warns {how} ({desc}): a cfg gate is missing?"
        ))
    } else {
        Ok(())
    }
}

/// `cargo test --workspace --all-features -- ARGS`, echoing its output; returns how many tests
/// passed, Err when any failed.
fn cargo_test(test_args: &[&str]) -> Result<usize> {
    let mut cmd = util::cargo();
    cmd.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
    if !test_args.is_empty() {
        cmd.arg("--").args(test_args);
    }
    let (ok, stdout) = tee(&mut cmd)?;
    let passed = count_passed(&stdout).unwrap_or(0);
    if ok {
        Ok(passed)
    } else {
        Err(format!(
            "{} failed ({passed} tests passed before)\n{}",
            util::describe(&cmd),
            util::failure_excerpts(&stdout)
        ))
    }
}

/// Runs `cmd`, copying its stdout to ours as it comes; returns success and the stdout text.
fn tee(cmd: &mut Command) -> Result<(bool, String)> {
    let desc = util::describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {desc}: {e}"))?;
    let mut text = String::new();
    if let Some(out) = child.stdout.take() {
        let mut stdout = std::io::stdout();
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("reading {desc}: {e}"))?;
            let _ = writeln!(stdout, "{line}");
            text.push_str(&line);
            text.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {desc}: {e}"))?;
    Ok((status.success(), text))
}
