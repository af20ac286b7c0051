//! Host suite: resource-group steps and fencing from the TOML model, run by the `ha-director`
//! binary in netns: an address step is added and announced (gratuitous ARP on the wire, as a
//! VIP is) and removed on stop; a step's own timeout ends a script that hangs; a fence
//! command's timeout fails the fence, so the instance does not take the addresses.

use std::path::Path;
use std::time::{Duration, Instant};

use ha_testsupport::{Lab, tshark_fields, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

fn config(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let text = format!(
        "[global]\nrouter_id = \"{name}\"\nstatus_socket = \"{}\"\n\n{body}",
        dir.join(format!("{name}.sock")).display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_address_steps_are_announced_and_step_timeouts_end_hung_scripts() {
    let mut lab = Lab::new("steps");
    let d = lab.add_host("d1", &["10.84.0.1/24"]);
    let watcher = lab.add_host("w", &["10.84.0.9/24"]);
    let dir = lab.dir().to_path_buf();
    let cfg = config(
        &dir,
        "steps",
        r#"[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 84
priority = 100
advert_int_ms = 100
vips = ["10.84.0.100/24"]

[[resource_groups]]
name = "rg"
instance = "VI_1"
steps = [
    { kind = "address", address = "10.84.0.150/24" },
    { kind = "script", start = "sleep 30", stop = "true", timeout_ms = 300 },
]
"#,
    );
    let cap = lab.capture(&watcher, "eth0", Some("arp"));
    let p = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || d.holds("10.84.0.150")),
        "the address step adds its address\n{}",
        p.stderr()
    );
    // The hung start script is ended by its own timeout (300 ms), not the default 30 s.
    let failed = wait_until(Duration::from_secs(10), || {
        p.stderr().contains("name: \"rg#2\", op: Start, ok: false")
    });
    assert!(failed, "{}", p.stderr());
    assert!(started.elapsed() < Duration::from_secs(12));
    std::thread::sleep(Duration::from_millis(500));
    let pcap = cap.stop();
    // Gratuitous ARPs for the step's address: sender and target are the address.
    let garps = tshark_fields(
        &pcap,
        "arp.src.proto_ipv4 == 10.84.0.150 && arp.dst.proto_ipv4 == 10.84.0.150",
        &["arp.opcode"],
    );
    assert!(!garps.is_empty(), "no gratuitous ARP for the address step");
    // A failed step stops the ones before it: the address goes again.
    assert!(
        wait_until(Duration::from_secs(5), || !d.holds("10.84.0.150")),
        "{}",
        p.stderr()
    );
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(10)));
    drop(lab);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_fence_timeout_fails_the_fence_and_the_instance_stays_backup() {
    let mut lab = Lab::new("fence");
    let d = lab.add_host("d1", &["10.85.0.1/24"]);
    let dir = lab.dir().to_path_buf();
    let cfg = config(
        &dir,
        "fence",
        r#"[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 85
priority = 100
advert_int_ms = 100
vips = ["10.85.0.100/24"]
fence = { command = "sleep 30", timeout_ms = 300 }
"#,
    );
    let p = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let failed = wait_until(Duration::from_secs(10), || {
        p.stderr().contains("FenceResult") && p.stderr().contains("ok: false")
    });
    assert!(failed, "the fence times out after 300 ms\n{}", p.stderr());
    assert!(!d.holds("10.85.0.100"), "no VIP without a fence");
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(10)));
    drop(lab);
}
