//! VM suite: connecting works on a kernel that has not loaded `ip_vs` yet. This Debian kernel
//! loads it by itself when the generic netlink family is asked for (the module's
//! `net-pf-16-proto-16-family-IPVS` alias); where that does not happen, `Client::connect`
//! runs `modprobe -q -- ip_vs` as ipvsadm does.
#![cfg(feature = "tokio")]

use std::process::Command;

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The loaded IPVS modules, schedulers and helpers first (they depend on `ip_vs`).
fn loaded_ipvs_modules() -> Vec<String> {
    let mods = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let mut v: Vec<String> = mods
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| m.starts_with("ip_vs"))
        .map(str::to_owned)
        .collect();
    v.sort_by_key(|m| m == "ip_vs");
    v
}

#[test]
#[ignore = "VM suite: needs the VM kernel (IPVS as a module); run by cargo xtask test"]
fn vm_connect_loads_the_ip_vs_module() {
    ha_testsupport::require_vm();
    // Nothing of IPVS may hold the module: no services, no sync daemons.
    let (ok, out) = sh(
        "ipvsadm -C && { ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null; true; }",
    );
    assert!(ok, "ipvsadm -C: {out}");
    for m in loaded_ipvs_modules() {
        let (ok, out) = sh(&format!("modprobe -r {m}"));
        assert!(
            ok,
            "cannot unload {m} to start from a kernel without IPVS: {out}"
        );
    }
    assert!(
        !std::path::Path::new("/proc/net/ip_vs").exists(),
        "IPVS is still there after unloading: {:?}",
        loaded_ipvs_modules()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = rt
        .block_on(ha_ipvs::Client::connect())
        .expect("connect on a kernel without ip_vs loaded");
    assert!(std::path::Path::new("/proc/net/ip_vs").exists());
    assert!(loaded_ipvs_modules().iter().any(|m| m == "ip_vs"));
    rt.block_on(c.flush()).expect("flush after the load");
}
