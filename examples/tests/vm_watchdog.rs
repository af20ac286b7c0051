//! VM suite: the hardware watchdog (heartbeat `watchdog /dev/watchdog`) against the kernel's
//! softdog, loaded with `soft_noboot=1` so that a firing watchdog logs instead of rebooting
//! the VM:
//! - a running `ha-director` feeds it from its loop (the timeout it set with
//!   `WDIOC_SETTIMEOUT` passes several times over and softdog does not fire), and a graceful
//!   stop disarms it with the magic close (no "did not stop" from the kernel, no firing
//!   after);
//! - a director that hangs (SIGSTOP) stops feeding it and softdog fires within its timeout.
//!
//! Bounds are loose (the VM runs under TCG).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_testsupport::{Lab, require_vm, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
/// softdog's own margin; the director sets a shorter one.
const SOFT_MARGIN: u32 = 30;
const TIMEOUT_S: u32 = 4;

fn kernel_log() -> String {
    let o = Command::new("dmesg").output().expect("dmesg");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How many times `needle` is in the kernel log.
fn logged(needle: &str) -> usize {
    kernel_log().matches(needle).count()
}

const FIRED: &str = "softdog: Triggered - Reboot ignored";
const NOT_STOPPED: &str = "watchdog did not stop!";

/// softdog's device: the VM may have another watchdog (qemu's i6300esb) as `/dev/watchdog`,
/// one that would really reset the VM.
fn softdog_device() -> Option<PathBuf> {
    std::fs::read_dir("/sys/class/watchdog")
        .ok()?
        .flatten()
        .find_map(|e| {
            let identity = std::fs::read_to_string(e.path().join("identity")).ok()?;
            (identity.trim() == "Software Watchdog").then(|| Path::new("/dev").join(e.file_name()))
        })
}

fn config(dir: &Path, sock: &Path, device: &Path) -> PathBuf {
    let text = format!(
        r#"[global]
router_id = "wd"
status_socket = "{}"

[global.watchdog]
device = "{}"
interval_ms = 250
timeout_s = {TIMEOUT_S}

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 76
priority = 100
advert_int_ms = 200
vips = ["10.76.0.100/24"]
"#,
        sock.display(),
        device.display()
    );
    let path = dir.join("wd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn status(sock: &Path) -> Option<Value> {
    ha_testsupport::director_status(BIN, sock)
}

#[test]
#[ignore = "vm suite: needs the VM kernel's softdog; run by cargo xtask vm"]
fn vm_watchdog_fires_when_the_director_hangs_and_not_while_it_runs_or_after_a_clean_stop() {
    require_vm();
    let out = Command::new("modprobe")
        .args([
            "softdog",
            "soft_noboot=1",
            &format!("soft_margin={SOFT_MARGIN}"),
        ])
        .output()
        .expect("modprobe");
    assert!(
        out.status.success(),
        "modprobe softdog: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut device = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            device = softdog_device().filter(|d| d.exists());
            device.is_some()
        }),
        "no softdog device after modprobe softdog"
    );
    let device = device.unwrap();
    eprintln!("softdog is {}", device.display());
    let mut lab = Lab::new("vmwdog");
    let h = lab.add_host("a", &["10.76.0.1/24"]);
    let dir = lab.dir().to_path_buf();
    let sock = dir.join("wd.sock");
    let conf = config(&dir, &sock, &device);
    let (fired0, not_stopped0) = (logged(FIRED), logged(NOT_STOPPED));

    // Running: fed every 250 ms, the 4 s timeout passes three times over without a firing.
    let p = lab.spawn(&h, &[BIN, "run", "--config", conf.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(30), || status(&sock).is_some_and(|s| s
            ["watchdog"]["feeds"]
            .as_u64()
            .unwrap_or(0)
            >= 2)),
        "not fed: {}",
        p.stderr()
    );
    let s = status(&sock).unwrap();
    assert_eq!(s["watchdog"]["timeout_s"], TIMEOUT_S, "{s:#}");
    assert_eq!(s["watchdog"]["errors"], 0, "{s:#}");
    std::thread::sleep(Duration::from_secs(3 * u64::from(TIMEOUT_S)));
    assert_eq!(
        logged(FIRED),
        fired0,
        "fired while the director ran:\n{}\n{}",
        kernel_log(),
        p.stderr()
    );
    // A graceful stop: magic close, the watchdog stops, nothing fires later.
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(20)), "{}", p.stderr());
    assert!(
        p.stderr().contains("magic close"),
        "no magic close: {}",
        p.stderr()
    );
    std::thread::sleep(Duration::from_secs(2 * u64::from(TIMEOUT_S)));
    assert_eq!(logged(NOT_STOPPED), not_stopped0, "{}", kernel_log());
    assert_eq!(
        logged(FIRED),
        fired0,
        "fired after a clean stop:\n{}",
        kernel_log()
    );

    // A hung director (SIGSTOP): no more feeding, softdog fires within its timeout.
    let p = lab.spawn(&h, &[BIN, "run", "--config", conf.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(30), || status(&sock).is_some_and(|s| s
            ["watchdog"]["feeds"]
            .as_u64()
            .unwrap_or(0)
            >= 2)),
        "not fed: {}",
        p.stderr()
    );
    p.signal(libc::SIGSTOP);
    let hung = Instant::now();
    assert!(
        wait_until(Duration::from_secs(6 * u64::from(TIMEOUT_S)), || logged(
            FIRED
        ) > fired0),
        "softdog did not fire for a hung director:\n{}",
        kernel_log()
    );
    let after = hung.elapsed();
    eprintln!("softdog fired {after:?} after the director hung (timeout {TIMEOUT_S} s)");
    assert!(
        after >= Duration::from_secs(u64::from(TIMEOUT_S) - 1),
        "fired too early: {after:?}"
    );
    p.signal(libc::SIGCONT);
    p.kill(libc::SIGKILL);
}
