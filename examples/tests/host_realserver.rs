//! Host suite: the LVS-DR real-server side (`ha_examples::director::realserver`) inside a
//! network namespace: apply, apply again, undo, and everything is back as it was.

use std::path::PathBuf;

use ha_examples::director::realserver::{
    RealserverError, RealserverOptions, RealserverReport, VipOutcome, apply, undo,
};
use ha_testsupport::{Host, Lab};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

fn apply_in(host: &Host, opts: &RealserverOptions) -> Result<RealserverReport, RealserverError> {
    let opts = opts.clone();
    host.run_in(move || block_on(apply(&opts)))
}

fn undo_in(host: &Host, opts: &RealserverOptions) -> Result<RealserverReport, RealserverError> {
    let opts = opts.clone();
    host.run_in(move || block_on(undo(&opts)))
}

/// `conf/IF/NAME` values read inside the namespace.
fn sysctls(host: &Host) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in ["all", "lo", "eth0"] {
        for n in ["arp_ignore", "arp_announce"] {
            let v = host.sh(&format!("cat /proc/sys/net/ipv4/conf/{i}/{n}"));
            out.push((format!("{i}/{n}"), v.trim().to_owned()));
        }
    }
    out
}

fn lo_addrs(host: &Host) -> Vec<String> {
    let text = host.sh("ip -o addr show dev lo");
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.position(|w| w == "inet" || w == "inet6")?;
            it.next().map(str::to_owned)
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_realserver_apply_is_idempotent_and_undo_restores_everything() {
    let mut lab = Lab::new("rsrv");
    let rs = lab.add_host("rs", &["10.77.0.11/24"]);
    // A state before apply that undo must restore exactly: non-default values, and a VIP that
    // an administrator had already put on lo (apply finds it, undo keeps it).
    rs.sh("echo 1 > /proc/sys/net/ipv4/conf/all/arp_announce");
    rs.sh("echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_ignore");
    rs.sh("ip addr add 10.77.0.200/32 dev lo");
    let before_sysctls = sysctls(&rs);
    let before_addrs = lo_addrs(&rs);
    assert!(before_addrs.contains(&"10.77.0.200/32".to_owned()));

    let state_file: PathBuf = lab.dir().join("run/realserver.json");
    let opts = RealserverOptions {
        vips: vec![
            "10.77.0.100".parse().unwrap(),
            "fd77::100".parse().unwrap(),
            "10.77.0.200".parse().unwrap(),
        ],
        interface: Some("eth0".into()),
        state_file: state_file.clone(),
        proc_sys: "/proc/sys".into(),
    };

    let first = apply_in(&rs, &opts).expect("apply");
    assert_eq!(
        first.vips,
        [
            ("10.77.0.100".parse().unwrap(), VipOutcome::Added),
            ("fd77::100".parse().unwrap(), VipOutcome::Added),
            ("10.77.0.200".parse().unwrap(), VipOutcome::AlreadyPresent),
        ]
    );
    assert!(state_file.exists(), "apply writes its state file");
    let applied_addrs = lo_addrs(&rs);
    for a in ["10.77.0.100/32", "fd77::100/128", "10.77.0.200/32"] {
        assert!(
            applied_addrs.contains(&a.to_owned()),
            "{a} on lo: {applied_addrs:?}"
        );
    }
    let applied = sysctls(&rs);
    for (name, value) in &applied {
        let want = if name.ends_with("arp_ignore") {
            "1"
        } else {
            "2"
        };
        // eth0/arp_ignore was 2 before; apply sets the HOWTO's values everywhere.
        assert_eq!(value, want, "{name} after apply");
    }

    // Idempotent: a second apply changes nothing and keeps the values saved by the first.
    let saved = std::fs::read_to_string(&state_file).unwrap();
    let second = apply_in(&rs, &opts).expect("second apply");
    assert!(
        second
            .vips
            .iter()
            .all(|(_, o)| *o == VipOutcome::AlreadyPresent)
    );
    assert!(second.sysctls.iter().all(|c| c.before == c.after));
    assert_eq!(lo_addrs(&rs), applied_addrs);
    assert_eq!(sysctls(&rs), applied);
    assert_eq!(std::fs::read_to_string(&state_file).unwrap(), saved);

    // Undo: the added VIPs go, the pre-existing one stays, every sysctl is as before.
    let undone = undo_in(&rs, &opts).expect("undo");
    assert!(!undone.state_missing);
    assert!(
        undone
            .vips
            .contains(&("10.77.0.200".parse().unwrap(), VipOutcome::KeptPreexisting))
    );
    assert_eq!(lo_addrs(&rs), before_addrs);
    assert_eq!(sysctls(&rs), before_sysctls);
    assert!(!state_file.exists(), "undo removes the state file");

    // Undo again: nothing left to do, nothing breaks, the sysctls are left alone.
    let again = undo_in(&rs, &opts).expect("second undo");
    assert!(again.state_missing);
    assert!(
        again
            .vips
            .iter()
            .filter(|(a, _)| a.to_string() != "10.77.0.200")
            .all(|(_, o)| *o == VipOutcome::AlreadyAbsent),
        "{again:?}"
    );
    // Without a state file undo removes what it is told to: the operator named 10.77.0.200.
    assert_eq!(
        lo_addrs(&rs),
        before_addrs
            .iter()
            .filter(|a| *a != "10.77.0.200/32")
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(sysctls(&rs), before_sysctls);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_realserver_errors_name_the_sysctl_and_change_nothing() {
    let mut lab = Lab::new("rserr");
    let rs = lab.add_host("rs", &["10.78.0.11/24"]);
    let before = lo_addrs(&rs);
    let opts = RealserverOptions {
        vips: vec!["10.78.0.100".parse().unwrap()],
        interface: Some("nosuch0".into()),
        state_file: lab.dir().join("rs.json"),
        proc_sys: "/proc/sys".into(),
    };
    let err = apply_in(&rs, &opts).expect_err("a missing interface's sysctl is an error");
    let msg = err.to_string();
    assert!(
        msg.contains("/proc/sys/net/ipv4/conf/nosuch0/arp_ignore") && msg.contains("os error 2"),
        "{msg}"
    );
    assert_eq!(lo_addrs(&rs), before, "nothing was added");
    assert!(!opts.state_file.exists());
    assert_eq!(
        rs.sh("cat /proc/sys/net/ipv4/conf/all/arp_ignore").trim(),
        "0"
    );
}
