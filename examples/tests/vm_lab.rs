//! VM suite: the LVS-DR lab's scenario (`ha_examples::lab`) as assertions, with real keepalived,
//! with ha-director as master and keepalived as backup (interop), and with two ha-directors.
//!
//! Bounds are loose (the VM runs under TCG): they catch breakage, the figures themselves are
//! printed (`cargo xtask lab` narrates them).

use std::time::Duration;

use ha_examples::lab::{DirectorKind, LabOptions, LabReport, run_scenario};

fn run(dir1: DirectorKind, dir2: DirectorKind) -> (LabOptions, LabReport) {
    ha_testsupport::require_vm();
    let mut opts = LabOptions::new(dir1, dir2);
    opts.ha_director = Some(env!("CARGO_BIN_EXE_ha-director").into());
    opts.echo = true;
    match run_scenario(&opts) {
        Ok(r) => {
            println!("{}", r.summary());
            (opts, r)
        }
        Err(e) => panic!("the lab ({dir1} + {dir2}) failed: {e}"),
    }
}

/// What every pairing of directors must do.
fn assert_scenario(opts: &LabOptions, r: &LabReport) {
    let c = &opts.config;
    // Requests alternate between the real servers (rr).
    assert!(
        r.alternates && r.first_answers.len() >= 10,
        "requests do not alternate: {:?}",
        r.first_answers
    );
    // A dead real server leaves IPVS within its fall window (loose: plus 2 s).
    let fall_bound = r.fall_window + Duration::from_secs(2);
    assert!(
        r.rs_leave <= fall_bound,
        "rs1 left the pool after {:?}, bound {fall_bound:?}",
        r.rs_leave
    );
    assert_eq!(
        r.rs1_answers_while_out, 0,
        "rs1 answered while out of the pool"
    );
    // It comes back after one good check.
    let rejoin_bound = c.delay_loop + c.connect_timeout + Duration::from_secs(3);
    assert!(
        r.rs_rejoin <= rejoin_bound,
        "rs1 rejoined after {:?}, bound {rejoin_bound:?}",
        r.rs_rejoin
    );
    // The client loses at most the takeover window on failover.
    let window = r.master_down_interval + Duration::from_millis(1500);
    assert!(
        r.failover_outage <= window,
        "client outage on failover {:?}, bound {window:?} (Master_Down_Interval {:?} + 1.5 s)",
        r.failover_outage,
        r.master_down_interval
    );
    // An established connection survives the failover through the sync daemon.
    assert!(
        r.conn_synced_to_backup,
        "the backup's IPVS never listed the keep-alive connection (sync daemon)"
    );
    assert!(
        r.conn_survived_failover(),
        "the keep-alive connection (answered by {}) after the failover: {:?}",
        r.conn_before,
        r.conn_after_failover
    );
    // Every ha-director stops within its shutdown grace (2 s; loose: plus 1 s for the process
    // to exit under TCG), and no director leaves the VIP behind.
    for st in &r.stops {
        assert!(!st.left_vip, "{st:?}");
        if st.program == "ha-director" {
            let bound = Duration::from_secs(3);
            assert!(
                st.took.is_some_and(|t| t <= bound),
                "{st:?}: a graceful stop over {bound:?}"
            );
        }
    }
    // Director 1 preempts back with a short outage.
    let back = r.master_down_interval + Duration::from_millis(1500);
    assert!(
        r.failback_outage <= back,
        "client outage on failback {:?}, bound {back:?}",
        r.failback_outage
    );
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_lab_keepalived_directors() {
    let (opts, r) = run(DirectorKind::Keepalived, DirectorKind::Keepalived);
    assert_scenario(&opts, &r);
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_lab_ha_director_master_keepalived_backup() {
    let (opts, r) = run(DirectorKind::Ha, DirectorKind::Keepalived);
    assert_scenario(&opts, &r);
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_lab_ha_directors() {
    let (opts, r) = run(DirectorKind::Ha, DirectorKind::Ha);
    assert_scenario(&opts, &r);
}
