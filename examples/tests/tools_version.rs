//! Every program answers `--version` (and `-V`) with its name and the crate version (plus the
//! git commit when built from a checkout), and `vrrp-speaker` takes the VRRP version as
//! `--vrrp-version`.

use std::process::Command;

fn programs() -> Vec<(&'static str, &'static str)> {
    #[allow(unused_mut)]
    let mut v = vec![
        ("ha-director", env!("CARGO_BIN_EXE_ha-director")),
        ("vrrp-speaker", env!("CARGO_BIN_EXE_vrrp-speaker")),
        ("garp", env!("CARGO_BIN_EXE_garp")),
        ("ipvsctl", env!("CARGO_BIN_EXE_ipvsctl")),
        ("check", env!("CARGO_BIN_EXE_check")),
        ("ipvs-bench", env!("CARGO_BIN_EXE_ipvs-bench")),
        ("check-scale", env!("CARGO_BIN_EXE_check-scale")),
    ];
    #[cfg(feature = "lab")]
    v.extend([
        ("ha-lab", env!("CARGO_BIN_EXE_ha-lab")),
        ("failover-bench", env!("CARGO_BIN_EXE_failover-bench")),
    ]);
    v
}

/// `NAME VERSION` or `NAME VERSION (git COMMIT)` with a 12-digit hex commit.
fn check_line(name: &str, out: &str) {
    let line = out
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{name}: {out:?}"));
    let rest = line
        .strip_prefix(&format!("{name} {}", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{name}: {line:?}"));
    if rest.is_empty() {
        return;
    }
    let commit = rest
        .strip_prefix(" (git ")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{name}: {line:?}"));
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}: {line:?}"
    );
}

#[test]
fn every_program_prints_its_version() {
    for (name, exe) in programs() {
        for flag in ["--version", "-V"] {
            let o = Command::new(exe).arg(flag).output().unwrap();
            assert!(o.status.success(), "{name} {flag}: {o:?}");
            check_line(name, &String::from_utf8_lossy(&o.stdout));
        }
    }
    // The version string is the library's constant, which the build script made.
    assert!(ha_examples::VERSION.starts_with(env!("CARGO_PKG_VERSION")));
}

#[test]
fn vrrp_speaker_takes_the_vrrp_version_as_vrrp_version() {
    let exe = env!("CARGO_BIN_EXE_vrrp-speaker");
    let o = Command::new(exe).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--vrrp-version"), "{help}");
    // A bad VRRP version is refused by name before any socket is opened.
    let o = Command::new(exe)
        .args([
            "-i",
            "lo",
            "--vrid",
            "1",
            "--vrrp-version",
            "4",
            "--vip",
            "127.0.0.9/32",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--vrrp-version 4"), "{err}");
}
