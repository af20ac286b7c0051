//! `cargo xtask fuzz [--seconds N] [TARGET...]`: every fuzz target of the workspace, run by
//! libFuzzer through cargo-fuzz on the nightly toolchain, one line per target.
//!
//! Targets are found in every `*/fuzz/Cargo.toml` (`[[bin]]` names). Each runs on its growing
//! corpus `FUZZ_DIR/corpus/TARGET` (not committed) and read-only seeds: the committed
//! `FUZZ_DIR/seeds/TARGET` (small binary inputs written from the codec fixtures) and the
//! fixture directories `FUZZ_DIR/seeds.txt` names for it (`TARGET DIR...`: the example
//! configurations, used in place, not copied). A crash stops that target:
//! its input is printed in hex and kept under `FUZZ_DIR/artifacts/TARGET/`, and the command
//! fails after the other targets ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{self, Result, fmt_duration};

/// One fuzz target: its cargo-fuzz directory and its name.
#[derive(Debug, Clone)]
pub struct Target {
    /// The directory holding the fuzz crate (`vrrp-proto/fuzz`), relative to the root.
    pub dir: PathBuf,
    /// The `[[bin]]` name.
    pub name: String,
}

/// Every target of the workspace, in directory then declaration order.
pub fn targets() -> Result<Vec<Target>> {
    let root = util::root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|e| format!("reading {}: {e}", root.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("fuzz"))
        .filter(|d| d.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
        let rel = dir.strip_prefix(&root).unwrap_or(&dir).to_path_buf();
        for name in bin_names(&text) {
            out.push(Target {
                dir: rel.clone(),
                name,
            });
        }
    }
    Ok(out)
}

/// The `name` of every `[[bin]]` table of a fuzz crate's manifest.
fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if in_bin && let Some(v) = line.strip_prefix("name") {
            let v = v
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            names.push(v.to_string());
        }
    }
    names
}

/// `cargo +nightly ...` through rustup's proxy, without the variables of the stable cargo
/// that runs us (they would pin its rustc).
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(util::root());
    for v in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

/// One target directory for every fuzz crate (their dependencies are built once).
fn target_dir() -> PathBuf {
    util::root().join("target").join("fuzz")
}

/// Installs cargo-fuzz when `cargo +nightly fuzz` is missing; checks the nightly toolchain.
pub fn ensure_tools(install: bool) -> Result<()> {
    let nightly = nightly_cargo().arg("--version").output();
    if !nightly.as_ref().is_ok_and(|o| o.status.success()) {
        return Err(
            "fuzzing needs the nightly toolchain (`rustup toolchain install nightly`): \
             `cargo +nightly --version` failed"
                .into(),
        );
    }
    let have = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    let mut cmd = util::cargo();
    cmd.args(["install", "cargo-fuzz", "--locked"]);
    if !install {
        return Err(format!(
            "cargo-fuzz is missing: install it with `{}`",
            util::describe(&cmd)
        ));
    }
    println!("xtask: installing cargo-fuzz: {}", util::describe(&cmd));
    util::run_inherit(&mut cmd)
}

/// What one run of a target gave.
pub struct RunReport {
    /// The target.
    pub target: Target,
    /// Executions libFuzzer reported.
    pub execs: u64,
    /// Files in the target's growing corpus after the run.
    pub corpus: usize,
    /// The crash, if any: its description and the input.
    pub crash: Option<String>,
}

/// Builds every fuzz crate once, then runs each target for `seconds`.
pub fn run(seconds: u64, only: &[String], install: bool) -> Result<Vec<RunReport>> {
    ensure_tools(install)?;
    let all = targets()?;
    if let Some(unknown) = only.iter().find(|o| !all.iter().any(|t| &t.name == *o)) {
        return Err(format!(
            "no fuzz target named {unknown}; targets: {}",
            all.iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let chosen: Vec<Target> = all
        .into_iter()
        .filter(|t| only.is_empty() || only.contains(&t.name))
        .collect();
    let mut dirs: Vec<&Path> = chosen.iter().map(|t| t.dir.as_path()).collect();
    dirs.dedup();
    for dir in dirs {
        let started = Instant::now();
        util::run_inherit(
            nightly_cargo()
                .args(["fuzz", "build", "--fuzz-dir"])
                .arg(dir)
                .arg("--target-dir")
                .arg(target_dir()),
        )
        .map_err(|e| format!("building the fuzz targets of {}: {e}", dir.display()))?;
        println!(
            "xtask: built the fuzz targets of {} in {}",
            dir.display(),
            fmt_duration(started.elapsed())
        );
    }
    let mut reports = Vec::new();
    for t in chosen {
        let r = run_one(&t, seconds)?;
        match &r.crash {
            None => println!(
                "target {}: ok, {} execs, {} corpus",
                t.name, r.execs, r.corpus
            ),
            Some(c) => println!("target {}: CRASH\n{c}", t.name),
        }
        reports.push(r);
    }
    Ok(reports)
}

/// Err naming every target that crashed.
pub fn fail_on_crash(reports: &[RunReport]) -> Result<()> {
    let crashed: Vec<&str> = reports
        .iter()
        .filter(|r| r.crash.is_some())
        .map(|r| r.target.name.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("crashes in: {}", crashed.join(", ")))
    }
}

fn run_one(t: &Target, seconds: u64) -> Result<RunReport> {
    let root = util::root();
    let corpus = root.join(&t.dir).join("corpus").join(&t.name);
    let seeds = root.join(&t.dir).join("seeds").join(&t.name);
    let artifacts = root.join(&t.dir).join("artifacts").join(&t.name);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let mut cmd = nightly_cargo();
    cmd.args(["fuzz", "run", "--fuzz-dir"])
        .arg(&t.dir)
        .arg("--target-dir")
        .arg(target_dir())
        .arg(&t.name)
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    for d in seed_dirs(&root.join(&t.dir).join("seeds.txt"), &t.name)? {
        cmd.arg(root.join(d));
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    let desc = util::describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {desc}: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let execs = final_stat(&log, "stat::number_of_executed_units:")
        .or_else(|| done_runs(&log))
        .unwrap_or(0);
    let files = std::fs::read_dir(&corpus)
        .map(|d| d.filter_map(|e| e.ok()).count())
        .unwrap_or(0);
    let crash = if out.status.success() {
        None
    } else {
        Some(describe_crash(&log, &desc))
    };
    if crash.is_none() && execs == 0 {
        return Err(format!(
            "target {}: libFuzzer ran no input ({desc}):\n{}",
            t.name,
            tail(&log, 20)
        ));
    }
    Ok(RunReport {
        target: t.clone(),
        execs,
        corpus: files,
        crash,
    })
}

/// The fixture directories a `seeds.txt` names for `target` (each must exist).
fn seed_dirs(list: &Path, target: &str) -> Result<Vec<PathBuf>> {
    let Ok(text) = std::fs::read_to_string(list) else {
        return Ok(Vec::new());
    };
    let mut dirs = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        if words.next() != Some(target) {
            continue;
        }
        for w in words {
            let dir = PathBuf::from(w);
            if !util::root().join(&dir).is_dir() {
                return Err(format!(
                    "{}:{}: {w} is not a directory of the workspace",
                    list.display(),
                    no + 1
                ));
            }
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// `stat::NAME: N` from libFuzzer's final stats.
fn final_stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|v| v.trim().parse().ok())
        .next_back()
}

/// `Done N runs in S second(s)`.
fn done_runs(log: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("Done "))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .next_back()
}

/// The crash's summary, the artifact path and the input in hex (from the artifact file).
fn describe_crash(log: &str, cmd: &str) -> String {
    let summary: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("panicked at")
                || l.starts_with("==")
                || l.contains("SUMMARY:")
                || l.contains("Test unit written to")
                || l.contains("ERROR: libFuzzer")
        })
        .take(12)
        .collect();
    let artifact = log
        .lines()
        .find_map(|l| l.split("Test unit written to ").nth(1))
        .map(|p| p.trim().to_string());
    let mut s = summary.join("\n");
    match artifact {
        Some(p) => {
            let bytes = std::fs::read(&p).unwrap_or_default();
            let hex: String = bytes.iter().take(512).map(|b| format!("{b:02x}")).collect();
            s.push_str(&format!(
                "\ninput ({} bytes, at {p}): {hex}{}",
                bytes.len(),
                if bytes.len() > 512 { "..." } else { "" }
            ));
        }
        None => s.push_str(&format!("\n(no artifact; last lines)\n{}", tail(log, 30))),
    }
    s.push_str(&format!("\nran: {cmd}"));
    s
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_names_are_read_from_bin_tables_only() {
        let m = "[package]\nname = \"x-fuzz\"\n\n[[bin]]\nname = \"parse\"\npath = \"a.rs\"\n\n[[bin]]\nname=\"auth\"\n[dependencies]\nname = \"no\"\n";
        assert_eq!(bin_names(m), ["parse", "auth"]);
    }

    #[test]
    fn libfuzzer_figures_are_read() {
        let log = "#2\tINITED\nDone 12345 runs in 3 second(s)\nstat::number_of_executed_units: 12346\nstat::peak_rss_mb: 40\n";
        assert_eq!(
            final_stat(log, "stat::number_of_executed_units:"),
            Some(12346)
        );
        assert_eq!(done_runs(log), Some(12345));
        assert_eq!(final_stat("", "stat::x:"), None);
    }

    #[test]
    fn seed_lists_name_existing_directories() {
        let examples = util::root().join("examples/fuzz/seeds.txt");
        let dirs = seed_dirs(&examples, "keepalived_conf").unwrap();
        assert_eq!(dirs, [PathBuf::from("examples/director")]);
        assert!(seed_dirs(&examples, "no_such_target").unwrap().is_empty());
        let bad = std::env::temp_dir().join(format!("xtask-seeds-{}.txt", std::process::id()));
        std::fs::write(&bad, "# c\nt examples/director\nt no/such/dir\n").unwrap();
        let e = seed_dirs(&bad, "t").unwrap_err();
        std::fs::remove_file(&bad).unwrap();
        assert!(
            e.ends_with(":3: no/such/dir is not a directory of the workspace"),
            "{e}"
        );
    }

    #[test]
    fn every_workspace_fuzz_dir_has_targets() {
        let t = targets().unwrap();
        for dir in [
            "vrrp-proto/fuzz",
            "arp/fuzz",
            "ipvs/fuzz",
            "healthcheck/fuzz",
            "bgp/fuzz",
            "bfd/fuzz",
        ] {
            assert!(
                t.iter().any(|t| t.dir == Path::new(dir)),
                "{dir} has no target: {t:?}"
            );
        }
    }
}
