//! VM suite: the active-active lab (`ha_examples::lab::active`) as assertions: three
//! ha-directors announce one virtual address by BGP to a real FRR router (bgpd with multipath,
//! bfdd), IPVS `mh` + `sloppy_tcp` on each, the client's keep-alive connections spread over
//! them by ECMP.
//!
//! Bounds: no connection breaks when a director dies (cable pulled), comes back or drains;
//! the dead director leaves the router's route within 1 s (BFD 100 ms x 3; the hold time is
//! 9 s); every director removes a failed real server and they agree on the pool. The figures
//! are printed (`cargo xtask lab -- --active-active` narrates them).

use std::time::Duration;

use ha_examples::lab::active::{ActiveOptions, run_active_active};

#[test]
#[ignore = "VM suite: needs IPVS and FRR; run by cargo xtask test"]
fn vm_active_active_no_connection_breaks_when_a_director_dies_returns_or_drains() {
    ha_testsupport::require_vm();
    let mut opts = ActiveOptions::new(env!("CARGO_BIN_EXE_ha-director").into());
    opts.echo = true;
    let r =
        run_active_active(&opts).unwrap_or_else(|e| panic!("the active-active lab failed: {e}"));
    println!("{}", r.summary());
    for (d, n) in &r.carried {
        assert!(
            *n > 0,
            "{d} carried no connection at the start: {:?}",
            r.carried
        );
    }
    assert!(
        r.crash_withdrawn_after < Duration::from_secs(1),
        "d1 left the route {:?} after its crash (BFD 100 ms x 3)",
        r.crash_withdrawn_after
    );
    assert!(r.moved_from_d1 > 0, "d1 carried no connection");
    assert_eq!(
        r.after_crash.broken, 0,
        "after d1's crash: {:?}",
        r.after_crash
    );
    assert_eq!(
        r.after_return.broken, 0,
        "after d1's return: {:?}",
        r.after_return
    );
    assert!(
        r.new_flows_to_d1 > 0,
        "d1 took no new connection after it came back"
    );
    assert_eq!(r.rs2_removed_after.len(), 3);
    assert_eq!(r.after_rs2.broken, 0, "after rs2 failed: {:?}", r.after_rs2);
    assert!(
        r.drain_withdrawn_after < Duration::from_secs(1),
        "d3 left the route {:?} after SIGTERM",
        r.drain_withdrawn_after
    );
    assert!(
        r.drain_exit_after >= opts.drain,
        "d3 exited {:?} after SIGTERM, before its {:?} drain",
        r.drain_exit_after,
        opts.drain
    );
    assert_eq!(
        r.after_drain.broken, 0,
        "during and after d3's drain: {:?}",
        r.after_drain
    );
}
