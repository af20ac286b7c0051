//! The VM runner: boots the Debian kernel with virtme-ng, sharing the host's root filesystem
//! read-only (so host-built test binaries run inside), runs a script as root, and reads the
//! results back from a shared read-write folder. The VM's own exit code is never trusted.
//!
//! KVM is tried first; when it does not boot in time (nested KVM fails on some hosts) the run
//! falls back to TCG, and the verdict is remembered in the cache for this host kernel.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::setup::{self, Kernel, Need};
use crate::util::{self, Result, count_passed, fmt_duration};

/// How long a KVM boot may take to reach the script before TCG is used instead.
const KVM_BOOT_LIMIT: Duration = Duration::from_secs(30);
/// How long a TCG boot may take to reach the script.
const TCG_BOOT_LIMIT: Duration = Duration::from_secs(180);
/// The longest a whole VM run may take.
const VM_RUN_LIMIT: Duration = Duration::from_secs(50 * 60);
/// The longest one test binary may run inside the VM.
const TEST_BINARY_LIMIT_SECS: u64 = 30 * 60;

/// Times of one VM run.
#[derive(Debug)]
pub struct VmTimes {
    /// From launching the VM until the script started.
    pub boot: Duration,
    /// From launching the VM until it was gone.
    pub total: Duration,
    /// Whether KVM was used (else TCG).
    pub kvm: bool,
}

/// A test binary built by cargo.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// The executable.
    pub path: PathBuf,
    /// The directory of its package (the working directory cargo would use).
    pub package_dir: PathBuf,
    /// Its target name (for reports).
    pub name: String,
}

/// Builds every test binary of the workspace (all features) and returns those that hold an
/// ignored test matching `filter`, optionally only of `package`.
pub fn test_binaries(package: Option<&str>, filter: &str) -> Result<Vec<TestBinary>> {
    let mut cmd = util::cargo();
    cmd.args([
        "test",
        "--all-features",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    match package {
        Some(p) => cmd.args(["--package", p]),
        None => cmd.arg("--workspace"),
    };
    cmd.stderr(Stdio::inherit());
    let out = util::run_capture(&mut cmd)?;
    let mut bins = Vec::new();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let manifest = v["manifest_path"].as_str().unwrap_or_default();
        let package_dir = Path::new(manifest)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(util::root);
        let name = format!(
            "{}::{}",
            package_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            v["target"]["name"].as_str().unwrap_or("?")
        );
        let listed = util::run_capture(Command::new(exe).args(["--list", "--ignored", filter]))?;
        if listed.lines().any(|l| l.ends_with(": test")) {
            bins.push(TestBinary {
                path: PathBuf::from(exe),
                package_dir,
                name,
            });
        }
    }
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    bins.dedup_by(|a, b| a.path == b.path);
    Ok(bins)
}

/// `cargo xtask vm`: runs the VM tests matching `filter` inside the VM.
pub fn run_tests(package: Option<&str>, filter: &str, install: bool) -> Result<()> {
    let ready = setup::ensure(
        Need {
            host: false,
            vm: true,
        },
        install,
    )?;
    let kernel = ready.kernel.expect("ensure(vm) returns the kernel");
    let bins = test_binaries(package, filter)?;
    if bins.is_empty() {
        return Err(format!("no VM tests match `{filter}`: nothing would run"));
    }
    let out = run_dir("tests")?;
    let mut script = String::new();
    for (i, b) in bins.iter().enumerate() {
        let _ = writeln!(
            script,
            "echo '== {name}'\ncd '{dir}' && CARGO_MANIFEST_DIR='{dir}' timeout -s KILL {limit} '{exe}' --ignored '{filter}' --test-threads=1 > \"$OUT/test-{i}.log\" 2>&1; echo $? > \"$OUT/test-{i}.status\"",
            name = b.name,
            dir = b.package_dir.display(),
            exe = b.path.display(),
            limit = TEST_BINARY_LIMIT_SECS,
        );
    }
    let times = boot(&kernel, &out, &script)?;
    let mut failures = Vec::new();
    let mut excerpts = String::new();
    let mut passed_total = 0;
    for (i, b) in bins.iter().enumerate() {
        let log = std::fs::read_to_string(out.join(format!("test-{i}.log"))).unwrap_or_default();
        let status = std::fs::read_to_string(out.join(format!("test-{i}.status")));
        println!("---- VM: {} ----\n{}", b.name, log.trim_end());
        passed_total += count_passed(&log).unwrap_or(0);
        match status.as_deref().map(str::trim) {
            Ok("0") => {}
            Ok(code) => {
                failures.push(format!("{} exited {code}", b.name));
                excerpts.push_str(&util::failure_excerpts(&log));
            }
            Err(_) => failures.push(format!(
                "{} left no status: the VM stopped early (console: {})",
                b.name,
                out.join("console.log").display()
            )),
        }
    }
    println!(
        "xtask: VM ({}, kernel {}) boot {}, total {}, {} test binaries, {passed_total} tests passed",
        if times.kvm { "KVM" } else { "TCG" },
        kernel.release,
        fmt_duration(times.boot),
        fmt_duration(times.total),
        bins.len()
    );
    if !failures.is_empty() {
        return Err(format!(
            "VM tests failed: {}\n{excerpts}",
            failures.join("; ")
        ));
    }
    if passed_total == 0 {
        return Err("no VM test passed (none ran?)".into());
    }
    Ok(())
}

/// `cargo xtask vm-run`: runs one program inside the VM (after the shell lines of `prelude`)
/// and prints its output; Err unless it exits 0.
pub fn run_program(program: &str, args: &[String], prelude: &str) -> Result<()> {
    let ready = setup::ensure(
        Need {
            host: false,
            vm: true,
        },
        true,
    )?;
    let kernel = ready.kernel.expect("ensure(vm) returns the kernel");
    let out = run_dir("run")?;
    let program = std::fs::canonicalize(program)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| program.to_owned());
    let mut line = shell_quote(&program);
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let script =
        format!("{prelude}\n{line} > \"$OUT/prog.log\" 2>&1; echo $? > \"$OUT/prog.status\"\n");
    let times = boot(&kernel, &out, &script)?;
    print!(
        "{}",
        std::fs::read_to_string(out.join("prog.log")).unwrap_or_default()
    );
    let status = std::fs::read_to_string(out.join("prog.status"))
        .map_err(|_| "the program left no status: the VM stopped early".to_owned())?;
    println!(
        "xtask: VM boot {}, total {}, exit status {}",
        fmt_duration(times.boot),
        fmt_duration(times.total),
        status.trim()
    );
    if status.trim() == "0" {
        Ok(())
    } else {
        Err(format!("{program} exited {} in the VM", status.trim()))
    }
}

/// Single-quotes a word for sh.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The folder of this process's VM runs of `kind` (see [`run_dir`]).
pub fn run_dir_path(kind: &str) -> PathBuf {
    util::root()
        .join("target/xtask-vm")
        .join(format!("{kind}-{}", std::process::id()))
}

/// A fresh folder for one VM run's results, under the target directory.
pub fn run_dir(kind: &str) -> Result<PathBuf> {
    let dir = run_dir_path(kind);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn kvm_verdict_file() -> PathBuf {
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    setup::cache_dir().join(format!("kvm-does-not-boot-{}", host.trim()))
}

/// Boots the VM and runs `body` (sh) as root inside it with `$OUT` set to `out` (shared
/// read-write). Returns when the VM is gone.
pub fn boot(kernel: &Kernel, out: &Path, body: &str) -> Result<VmTimes> {
    let script = out.join("run.sh");
    let text = format!(
        "#!/bin/sh\nOUT='{out}'\nexport OUT\n: > \"$OUT/started\"\n\
         export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         export HA_VM=1 RUST_BACKTRACE=1\nip link set lo up 2>/dev/null\n{body}\n: > \"$OUT/done\"\n",
        out = out.display()
    );
    std::fs::write(&script, text).map_err(|e| format!("write {}: {e}", script.display()))?;
    let mut perms = std::fs::metadata(&script)
        .map_err(|e| e.to_string())?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).map_err(|e| e.to_string())?;

    let force = std::env::var("HA_VM_KVM").ok();
    let try_kvm = match force.as_deref() {
        Some("0") => false,
        Some(_) => true,
        None => Path::new("/dev/kvm").exists() && !kvm_verdict_file().exists(),
    };
    if try_kvm {
        match attempt(kernel, out, &script, true)? {
            Some(times) => return Ok(times),
            None => {
                println!("xtask: KVM did not boot within {KVM_BOOT_LIMIT:?}; falling back to TCG");
                if force.is_none() {
                    let f = kvm_verdict_file();
                    let _ = std::fs::create_dir_all(f.parent().unwrap_or(Path::new("/")));
                    let _ = std::fs::write(
                        &f,
                        "KVM did not boot here; delete this file to try again\n",
                    );
                }
            }
        }
    }
    attempt(kernel, out, &script, false)?.ok_or_else(|| {
        format!(
            "the VM did not boot within {TCG_BOOT_LIMIT:?} under TCG (console: {})",
            out.join("console.log").display()
        )
    })
}

/// One boot; `Ok(None)` when the script did not start within the boot limit.
fn attempt(kernel: &Kernel, out: &Path, script: &Path, kvm: bool) -> Result<Option<VmTimes>> {
    let _ = std::fs::remove_file(out.join("started"));
    let console = std::fs::File::create(out.join("console.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(setup::vng().ok_or("vng (virtme-ng) is not installed")?);
    cmd.arg("--run")
        .arg(&kernel.image)
        .args(["--memory", "2G", "--cpus", "2", "--rwdir"])
        .arg(out)
        .arg("--exec")
        .arg(script);
    if !kvm {
        cmd.arg("--disable-kvm");
    }
    // Extra kernel parameters for experiments (e.g. `clocksource=tsc tsc=reliable`: under TCG
    // the guest otherwise reads the time from an emulated HPET).
    if let Some(extra) = std::env::var_os("XTASK_VM_APPEND").filter(|a| !a.is_empty()) {
        cmd.arg("--append").arg(extra);
    }
    cmd.stdin(Stdio::null())
        .stdout(console.try_clone().map_err(|e| e.to_string())?)
        .stderr(console)
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start vng: {e}"))?;
    let limit = if kvm { KVM_BOOT_LIMIT } else { TCG_BOOT_LIMIT };
    let mut boot = None;
    loop {
        if boot.is_none() && out.join("started").exists() {
            boot = Some(start.elapsed());
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if boot.is_none() && start.elapsed() > limit {
            kill(&mut child);
            return Ok(None);
        }
        if start.elapsed() > VM_RUN_LIMIT {
            kill(&mut child);
            return Err(format!(
                "the VM run exceeded {VM_RUN_LIMIT:?} and was killed"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let total = start.elapsed();
    match boot {
        Some(boot) => Ok(Some(VmTimes { boot, total, kvm })),
        None if kvm => Ok(None),
        None => Err(format!(
            "the VM exited before the script started (console: {})",
            out.join("console.log").display()
        )),
    }
}

fn kill(child: &mut Child) {
    let pgid = child.id();
    // `kill -- -PGID` reaches qemu, which vng starts in the same group.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
