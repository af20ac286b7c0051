//! Host suite: keepalived's mail alerts, read from a keepalived.conf (`smtp_server`,
//! `notification_email`, `smtp_alert`), delivered by a running ha-director to a real SMTP
//! server (aiosmtpd, from PyPI; `cargo xtask test` installs it) in the director's namespace.

use std::time::Duration;

use ha_testsupport::{Lab, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_mails_vrrp_state_changes_through_a_real_smtp_server() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "this test needs aiosmtpd: python3 -m pip install aiosmtpd (cargo xtask test installs it)"
    );
    let mut lab = Lab::new("alerts");
    let h = lab.add_host("d1", &["10.83.0.1/24"]);
    // The Debugging handler prints every message it accepts, headers and body.
    let smtp = lab.spawn(
        &h,
        &[
            "python3",
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            "10.83.0.1:2525",
            "-c",
            "aiosmtpd.handlers.Debugging",
        ],
    );
    let listening = wait_until(Duration::from_secs(20), || {
        h.run_in(|| {
            std::net::TcpStream::connect_timeout(
                &"10.83.0.1:2525".parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok()
        })
    });
    assert!(listening, "aiosmtpd did not start: {}", smtp.stderr());

    let dir = lab.dir().to_path_buf();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs {\n    router_id LB_ALERT\n    notification_email {\n        ops@example.org\n        oncall@example.org\n    }\n    notification_email_from lb@example.org\n    smtp_server 10.83.0.1 2525\n    smtp_connect_timeout 5\n    smtp_alert\n    vrrp_version 3\n}\nvrrp_instance VI_MAIL {\n    interface eth0\n    virtual_router_id 83\n    priority 100\n    advert_int 0.1\n    virtual_ipaddress {\n        10.83.0.100/24\n    }\n}\n",
    )
    .unwrap();
    let sock = dir.join("alerts.sock");
    let d = lab.spawn(
        &h,
        &[
            BIN,
            "run",
            "--keepalived-conf",
            conf.to_str().unwrap(),
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    let mailed = |needle: &str| smtp.stdout().contains(needle);
    let master = wait_until(Duration::from_secs(20), || {
        mailed("Subject: [LB_ALERT] VRRP Instance VI_MAIL - Entering MASTER state")
    });
    assert!(
        master,
        "no MASTER mail\n--- smtp ---\n{}\n--- director ---\n{}",
        smtp.stdout(),
        d.stderr()
    );
    let out = smtp.stdout();
    assert!(out.contains("From: lb@example.org"), "{out}");
    assert!(
        out.contains("To: ops@example.org, oncall@example.org"),
        "{out}"
    );
    assert!(
        out.contains("=> VRRP Instance is now owning VRRP VIPs <="),
        "{out}"
    );
    assert!(d.stderr().contains("alert mailed"), "{}", d.stderr());
    // A graceful stop: the instance stops, and says so by mail before the process exits.
    d.kill(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(10)), "{}", d.stderr());
    assert!(
        wait_until(Duration::from_secs(5), || mailed(
            "VRRP Instance VI_MAIL - Stopping"
        )),
        "no Stopping mail\n{}\n{}",
        smtp.stdout(),
        d.stderr()
    );
    drop(lab);
}
