//! Prerequisites: Debian packages, virtme-ng and the VM kernel (cached between runs).
//!
//! As root on Debian or Ubuntu, what is missing is installed; otherwise the exact commands are
//! printed and the suites that need them fail with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Result, find, have, is_root, run_capture, run_inherit};

/// What a suite needs.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    /// Tools for host network tests (iproute2, tshark, keepalived, ...).
    pub host: bool,
    /// The VM: qemu, virtme-ng, the kernel image and its modules.
    pub vm: bool,
}

impl Need {
    /// Everything.
    pub fn all() -> Need {
        Need {
            host: true,
            vm: true,
        }
    }
}

/// A Debian package and the program that shows it is installed.
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("tshark", "tshark"),
    ("tcpdump", "tcpdump"),
    ("keepalived", "keepalived"),
    // The real ldirectord 4.12 that vm_ldirectord compares ha-director with.
    ("ldirectord", "ldirectord"),
    // The real heartbeat 3.0.6 that host_heartbeat_and_ours_side_by_side runs beside ours.
    ("/usr/libexec/heartbeat/heartbeat", "heartbeat"),
    ("ipvsadm", "ipvsadm"),
    ("arping", "arping"),
    // iputils' ping, by its package: the tests use its `-4`/`-6` and `-W`, which GNU inetutils'
    // ping (the `ping` of some images) refuses, so a `ping` on PATH is not enough.
    ("/var/lib/dpkg/info/iputils-ping.list", "iputils-ping"),
    ("sysctl", "procps"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("killall", "psmisc"),
    ("setpriv", "util-linux"),
    // host_install: the installed man pages are rendered with groff (and man -l).
    ("groff", "groff-base"),
    ("man", "man-db"),
    // The status page rendered in a real browser (host_status_page).
    ("chromium", "chromium"),
    // Routing peers of the BGP speaker and BFD (ha-bgp, ha-bfd host tests; active-active).
    ("/usr/lib/frr/bgpd", "frr"),
    ("bird", "bird2"),
    ("gobgpd", "gobgpd"),
    // The Grafana dashboard's queries evaluated by a real Prometheus (host_dashboard).
    ("prometheus", "prometheus"),
];

const VM_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("modprobe", "kmod"),
    ("depmod", "kmod"),
    ("busybox", "busybox-static"),
    ("ipvsadm", "ipvsadm"),
    // keepalived 2.2.7's checker and VRRP in the VM: `cargo xtask bench healthcheck --vs
    // keepalived`, the LVS-DR lab's keepalived directors, vm_hc_vs.
    ("keepalived", "keepalived"),
    ("ldirectord", "ldirectord"),
    ("ip", "iproute2"),
    // The heartbeat lab's real stack (`lab_heartbeat_real`, `cargo xtask lab -- --stack
    // heartbeat`): heartbeat 3.0.6 starting ldirectord 4.12 (above); IPaddr wants ifconfig.
    ("/usr/libexec/heartbeat/heartbeat", "heartbeat"),
    ("ifconfig", "net-tools"),
    // The Grafana dashboard's queries evaluated by a real Prometheus (vm_dashboard).
    ("prometheus", "prometheus"),
    // The upstream router of the active-active lab (vm_active_active, `cargo xtask lab --
    // --active-active`).
    ("/usr/lib/frr/bgpd", "frr"),
];

/// The VM kernel, once it is ready.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The release (`6.1.0-56-amd64`).
    pub release: String,
    /// The image to boot.
    pub image: PathBuf,
}

/// What [`ensure`] found ready.
#[derive(Debug, Default)]
pub struct Ready {
    /// The VM kernel, when `need.vm`.
    pub kernel: Option<Kernel>,
}

/// The cache folder for downloads (kernel images): `$HA_CACHE_DIR`, else `~/.cache/ha-toolkit`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HA_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/ha-toolkit")
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists() && have("apt-get")
}

/// Makes sure what `need` lists is present, installing it when `install` is set and we are root
/// on Debian/Ubuntu; otherwise returns an error that lists the commands to run.
pub fn ensure(need: Need, install: bool) -> Result<Ready> {
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if need.host {
        wanted.extend_from_slice(HOST_PACKAGES);
    }
    if need.vm {
        wanted.extend_from_slice(VM_PACKAGES);
    }
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|(prog, _)| !have(prog))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    let can_install = install && is_root() && is_debian();

    if !missing.is_empty() {
        let cmd = format!(
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        if !can_install {
            return Err(format!("missing Debian packages; run as root:\n    {cmd}"));
        }
        println!("xtask: installing {}", missing.join(" "));
        apt_install(&missing)?;
    }

    if need.host && !python_has("aiosmtpd") {
        let cmd = "python3 -m pip install aiosmtpd";
        if !can_install {
            return Err(format!(
                "aiosmtpd (the SMTP server the alert tests mail to) is missing; run:\n    {cmd}"
            ));
        }
        println!("xtask: installing aiosmtpd from PyPI");
        run_inherit(Command::new("python3").args(["-m", "pip", "install", "-q", "aiosmtpd"]))?;
        if !python_has("aiosmtpd") {
            return Err("pip installed aiosmtpd but python3 cannot import it".into());
        }
    }

    let mut ready = Ready::default();
    if need.vm {
        if vng().is_none() {
            let cmd = "python3 -m pip install virtme-ng";
            if !can_install {
                return Err(format!("virtme-ng (vng) is missing; run:\n    {cmd}"));
            }
            println!("xtask: installing virtme-ng from PyPI");
            run_inherit(Command::new("python3").args(["-m", "pip", "install", "-q", "virtme-ng"]))?;
            if vng().is_none() {
                return Err("pip installed virtme-ng but `vng` is neither on PATH nor in Python's scripts folder".into());
            }
        }
        ready.kernel = Some(kernel(can_install)?);
    }
    Ok(ready)
}

/// Whether `python3` can import `module`.
fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `vng` program: on PATH, or in the scripts folder of the `python3` that pip installs into.
pub fn vng() -> Option<PathBuf> {
    find("vng").or_else(|| {
        let dir = run_capture(Command::new("python3").args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ]))
        .ok()?;
        let p = Path::new(dir.trim()).join("vng");
        p.is_file().then_some(p)
    })
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    run_inherit(
        Command::new("apt-get")
            .args(["-q", "update"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    run_inherit(
        Command::new("apt-get")
            .args(["-q", "install", "-y", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The release that Debian's `linux-image-amd64` depends on (`6.1.0-56-amd64`).
fn kernel_release(can_install: bool) -> Result<String> {
    if let Ok(r) = std::env::var("HA_VM_KERNEL") {
        return Ok(r);
    }
    let query = || -> Option<String> {
        let out =
            run_capture(Command::new("apt-cache").args(["depends", "linux-image-amd64"])).ok()?;
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
            .map(str::to_owned)
            .find(|r| r.ends_with("-amd64") && r.chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    if let Some(r) = query() {
        return Ok(r);
    }
    // A fresh machine may not have package lists yet.
    if can_install {
        run_inherit(Command::new("apt-get").args(["-q", "update"]))?;
        if let Some(r) = query() {
            return Ok(r);
        }
    }
    // Fall back to a kernel already in the cache.
    let cached = std::fs::read_dir(cache_dir().join("kernel"))
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .max()
        });
    cached.ok_or_else(|| {
        "cannot tell which kernel to boot: `apt-cache depends linux-image-amd64` names none \
         (run apt-get update) and none is cached"
            .to_owned()
    })
}

/// Downloads (once) and unpacks the Debian kernel; installs its modules under /lib/modules.
fn kernel(can_install: bool) -> Result<Kernel> {
    let release = kernel_release(can_install)?;
    let dir = cache_dir().join("kernel").join(&release);
    let image = dir.join(format!("boot/vmlinuz-{release}"));
    let pkg = format!("linux-image-{release}");
    if !image.is_file() {
        let cmds = format!(
            "mkdir -p {d} && cd {d} && apt-get download {pkg} && dpkg -x {pkg}_*.deb .",
            d = dir.display()
        );
        if !can_install {
            return Err(format!(
                "the VM kernel is not cached; run as root:\n    {cmds}"
            ));
        }
        println!("xtask: downloading {pkg} into {}", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        run_inherit(
            Command::new("apt-get")
                .args(["-q", "download", &pkg])
                .current_dir(&dir),
        )?;
        let deb = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or_else(|| format!("apt-get download {pkg} left no .deb in {}", dir.display()))?;
        run_inherit(Command::new("dpkg").arg("-x").arg(&deb).arg(&dir))?;
        let _ = std::fs::remove_file(&deb);
        if !image.is_file() {
            return Err(format!("{pkg} has no {}", image.display()));
        }
    }
    // The VM shares the host's root filesystem, so its modules must be in the host's /lib/modules.
    let modules = PathBuf::from("/lib/modules").join(&release);
    if !modules.join("modules.dep").is_file() {
        let src = dir.join("lib/modules").join(&release);
        let src = if src.is_dir() {
            src
        } else {
            dir.join("usr/lib/modules").join(&release)
        };
        let cmds = format!(
            "mkdir -p /lib/modules && cp -a {} /lib/modules/ && depmod {release}",
            src.display()
        );
        if !can_install {
            return Err(format!(
                "the VM kernel's modules are not installed; run as root:\n    {cmds}"
            ));
        }
        println!("xtask: installing modules of {release} into /lib/modules");
        std::fs::create_dir_all("/lib/modules").map_err(|e| format!("create /lib/modules: {e}"))?;
        run_inherit(Command::new("cp").arg("-a").arg(&src).arg("/lib/modules/"))?;
        run_inherit(Command::new(find("depmod").unwrap_or_else(|| "depmod".into())).arg(&release))?;
    }
    Ok(Kernel { release, image })
}

/// Makes sure a rustup toolchain (`nightly`, `1.88`) is installed: with `install`, runs
/// `rustup toolchain install NAME --profile minimal` when it is missing; otherwise says which
/// command to run.
pub fn ensure_toolchain(name: &str, install: bool) -> Result<()> {
    if !have("rustup") {
        return Err(format!(
            "the {name} toolchain is needed and rustup is not installed (https://rustup.rs)"
        ));
    }
    let installed = |n: &str| {
        Command::new("rustup")
            .args(["run", n, "rustc", "--version"])
            .env_remove("RUSTUP_TOOLCHAIN")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if installed(name) {
        return Ok(());
    }
    let cmd = format!("rustup toolchain install {name} --profile minimal");
    if !install {
        return Err(format!(
            "the Rust {name} toolchain is not installed: run `{cmd}`"
        ));
    }
    println!("installing the Rust {name} toolchain: {cmd}");
    run_inherit(Command::new("rustup").args([
        "toolchain",
        "install",
        name,
        "--profile",
        "minimal",
    ]))
    .map_err(|e| format!("{e}: the Rust {name} toolchain could not be installed"))?;
    if installed(name) {
        Ok(())
    } else {
        Err(format!(
            "`{cmd}` ran but `rustup run {name} rustc` still fails"
        ))
    }
}
