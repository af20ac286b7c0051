//! Host suite: the limits bench's VRRP part (`ha_examples::lab::limits::run_host`) at a small
//! size, both daemons: it runs and its numbers are sane. Loose bounds that catch breakage; the
//! figures and the timing targets live in `cargo xtask bench limits`.

use std::time::Duration;

use ha_examples::lab::limits::{Daemon, HostFigures, HostOptions, run_host};
use ha_testsupport::{require_root, require_tool};

const DIRECTOR: &str = env!("CARGO_BIN_EXE_ha-director");

fn small() -> HostOptions {
    HostOptions {
        instances: 300,
        per_segment: 150,
        window: Duration::from_secs(10),
        ha_director: DIRECTOR.into(),
        echo: true,
    }
}

fn check(f: &HostFigures) {
    let n = f.instances;
    eprintln!("{}\n{}", HostFigures::header(), f.row());
    assert_eq!(f.masters, n, "every instance MASTER on the master: {f:?}");
    assert_eq!(f.backups, n, "every instance BACKUP on the backup: {f:?}");
    assert_eq!(f.false_transitions, 0, "no transition once settled: {f:?}");
    assert_eq!(
        f.timing.instances_seen, n,
        "adverts from every instance in the capture: {f:?}"
    );
    // 10 s of 1 s adverts: at least 8 gaps per instance even if the edges are cut.
    assert!(f.timing.gaps >= n * 8, "gaps measured: {f:?}");
    assert!(
        f.timing.max_ms < 5_000.0,
        "no instance silent for seconds: {f:?}"
    );
    assert!(
        f.master.cpu_pct > 0.0 && f.master.cpu_pct < 200.0,
        "CPU parsed: {f:?}"
    );
    assert!(
        f.master.rss_kib > 1024 && f.backup.rss_kib > 1024,
        "RSS parsed: {f:?}"
    );
}

#[test]
#[ignore = "host suite: needs root, network namespaces and tshark (cargo xtask test)"]
fn host_limits_ours_300_instances_over_2_segments() {
    require_root();
    require_tool("tshark", "tshark");
    let f = run_host(&small(), Daemon::Ours).unwrap_or_else(|e| panic!("{e}"));
    check(&f);
}

#[test]
#[ignore = "host suite: needs root, network namespaces, tshark and keepalived (cargo xtask test)"]
fn host_limits_keepalived_300_instances_over_2_segments() {
    require_root();
    require_tool("tshark", "tshark");
    require_tool("keepalived", "keepalived");
    let f = run_host(&small(), Daemon::Keepalived).unwrap_or_else(|e| panic!("{e}"));
    check(&f);
}
