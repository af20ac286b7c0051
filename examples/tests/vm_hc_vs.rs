//! VM suite: `hc-vs` at a small size (20 real servers, TCP connect), ha-director beside
//! keepalived's checker: both put every real server into IPVS, every real server saw checks
//! from each in the window, the figures are there, and each took the stopped real server out
//! of IPVS; each row has its kernel floor, and the ratios above it are printed. ldirectord is
//! left to the bench: under TCG it had 1 of 20 real servers in IPVS after 60 s (it runs
//! `ipvsadm` twice per real server and checks one server at a time), too slow for the test
//! command; `vm_ldirectord` covers it with two real servers.
//!
//! Bounds are loose (the VM runs under TCG); the figures themselves are the bench's
//! (`cargo xtask bench healthcheck --vs keepalived,ldirectord`).

use std::process::Command;

use ha_testsupport::require_vm;

const BIN: &str = env!("CARGO_BIN_EXE_hc-vs");
const DIRECTOR: &str = env!("CARGO_BIN_EXE_ha-director");

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_hc_vs_every_checker_checks_every_real_server_and_detects_a_stop() {
    require_vm();
    ha_testsupport::require_tool("keepalived", "keepalived");
    let out = Command::new(BIN)
        .args([
            "--checks",
            "20",
            "--per-vs",
            "10",
            "--window",
            "5",
            "--settle-limit",
            "60",
            "--detect-limit",
            "20",
            "--floor-checks",
            "1000",
            "--vs",
            "keepalived",
            "--ha-director",
            DIRECTOR,
        ])
        .output()
        .expect("run hc-vs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).expect("a RESULT line is JSON"))
        .collect();
    let tools: Vec<&str> = rows.iter().filter_map(|r| r["tool"].as_str()).collect();
    assert_eq!(tools, ["ha-director", "keepalived"], "{stdout}\n{stderr}");
    for r in &rows {
        let who = r["tool"].as_str().unwrap_or("?");
        assert!(
            r["error"].is_null(),
            "{who}: {}\n{stdout}\n{stderr}",
            r["error"]
        );
        assert_eq!(r["in_ipvs"], 20, "{who}: table\n{stdout}");
        assert_eq!(
            r["unchecked"], 0,
            "{who}: a real server saw no check\n{stdout}"
        );
        assert!(
            r["seen"].as_u64().unwrap_or(0) >= 20,
            "{who}: checks\n{stdout}"
        );
        assert!(
            r["cpu_per_check_us"].as_f64().is_some(),
            "{who}: cpu\n{stdout}"
        );
        assert!(
            r["peak_rss_kib"].as_u64().unwrap_or(0) > 0,
            "{who}: memory\n{stdout}"
        );
        assert!(
            r["drift_p50_ms"].as_f64().is_some(),
            "{who}: drift\n{stdout}"
        );
        for f in ["floor_before_us", "floor_after_us"] {
            assert!(
                r[f].as_f64().is_some_and(|us| us > 0.0),
                "{who}: {f}\n{stdout}"
            );
        }
        assert!(
            r["detect_ms"].as_f64().is_some(),
            "{who}: the stopped real server stayed in IPVS\n{stdout}"
        );
    }
    for line in [
        "cpu per check ours/keepalived: ",
        "cpu per check above the kernel floor ours/keepalived: ",
        "kernel floor / keepalived's cpu per check: ",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
}
