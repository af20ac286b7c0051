//! Host suite: UDP_CHECK and PING_CHECK read from a keepalived.conf, built into health
//! targets and run for real from a director namespace against a real server namespace: up
//! while the server answers, down when it does not (issue 15: these checkers used to be
//! dropped, leaving the real server in the pool with no check at all).

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ha_examples::director::build::{self, Accounts};
use ha_examples::director::load_keepalived_str;
use ha_healthcheck::{Check, Failure, Outcome};
use ha_testsupport::{Host, Lab};

const RS: &str = "10.79.0.11";

/// The checks of the only real server of `conf`, as the director would run them.
fn checks_of(conf: &str) -> Vec<(Check, Duration)> {
    let loaded =
        load_keepalived_str(conf, Path::new("host.conf")).unwrap_or_else(|e| panic!("{}", e[0]));
    let accounts = Accounts {
        passwd: String::new(),
        group: String::new(),
    };
    let mut no_instances = |_: &str, _: bool| Err("no instances here".to_owned());
    let built = build::build(&loaded.config, &mut no_instances, &accounts)
        .unwrap_or_else(|e| panic!("{e}"));
    built
        .config
        .health
        .iter()
        .map(|t| ((*t.target.check).clone(), t.target.timeout))
        .collect()
}

/// Runs one probe from inside `host`'s namespace.
fn probe_from(host: &Host, check: &Check, timeout: Duration) -> Outcome {
    let check = check.clone();
    host.run_in(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ha_healthcheck::probe::run(&check, timeout))
    })
}

/// A UDP echo server on `addr` inside `host`, until the flag is set; the socket closes when
/// the thread ends.
fn udp_echo(host: &Host, addr: &str) -> (Arc<AtomicBool>, JoinHandle<()>) {
    let addr = addr.to_owned();
    let sock = host.run_in(move || UdpSocket::bind(addr).unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::Relaxed) {
            if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                sock.send_to(&buf[..n], peer).unwrap();
            }
        }
    });
    (stop, t)
}

fn conf(checks: &str) -> String {
    format!(
        "virtual_server 10.79.0.100 5353 {{\n    protocol UDP\n    real_server {RS} 5353 {{\n{checks}\n    }}\n}}\n"
    )
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_udp_check_from_keepalived_conf_is_up_with_an_echo_server_and_down_without() {
    let mut lab = Lab::new("udpchk");
    let director = lab.add_host("dir", &["10.79.0.1/24"]);
    let rs = lab.add_host("rs", &[&format!("{RS}/24")]);

    // "hello" is 68 65 6c 6c 6f; the echo sends it back.
    let checks = checks_of(&conf(
        "        UDP_CHECK {\n            connect_timeout 1\n            payload 68656c6c6f\n            require_reply 68 6x 6c\n            min_reply_length 5\n            max_reply_length 5\n        }\n        UDP_CHECK {\n            connect_timeout 1\n            payload 68656c6c6f\n            require_reply 68 00\n        }\n        UDP_CHECK {\n            connect_timeout 1\n            require_reply\n        }\n        UDP_CHECK {\n            connect_timeout 1\n            connect_port 6000\n        }\n",
    ));
    assert_eq!(checks.len(), 4);
    let [matching, mismatching, any_reply, no_reply_needed] = [0, 1, 2, 3].map(|i| &checks[i]);
    assert!(matches!(matching.0, Check::Udp(_)), "{:?}", matching.0);
    assert_eq!(matching.1, Duration::from_secs(1));

    let (stop, echo) = udp_echo(&rs, &format!("{RS}:5353"));
    assert_eq!(
        probe_from(&director, &matching.0, matching.1),
        Outcome::UP,
        "the echo matches require_reply"
    );
    assert_eq!(
        probe_from(&director, &any_reply.0, any_reply.1),
        Outcome::UP,
        "any reply will do (keepalived's default payload echoed)"
    );
    assert_eq!(
        probe_from(&director, &mismatching.0, mismatching.1),
        Outcome::Down(Failure::ReplyMismatch),
        "the reply is checked against require_reply"
    );

    // A server that is there but never answers: down when a reply is required, up when not.
    let silent = rs.run_in(move || UdpSocket::bind(format!("{RS}:6000")).unwrap());
    let mut quiet = any_reply.0.clone();
    if let Check::Udp(u) = &mut quiet {
        u.addr = format!("{RS}:6000").parse().unwrap();
    }
    assert_eq!(
        probe_from(&director, &quiet, any_reply.1),
        Outcome::Down(Failure::NoReply)
    );
    assert_eq!(
        probe_from(&director, &no_reply_needed.0, no_reply_needed.1),
        Outcome::UP,
        "without require_reply silence is success, as in keepalived"
    );
    drop(silent);
    assert_eq!(
        probe_from(&director, &no_reply_needed.0, no_reply_needed.1),
        Outcome::Down(Failure::Refused),
        "port unreachable fails even without require_reply"
    );

    // The echo server stops: the port is closed.
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    assert_eq!(
        probe_from(&director, &matching.0, matching.1),
        Outcome::Down(Failure::Refused)
    );
    drop(lab);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_ping_check_from_keepalived_conf_is_up_while_the_host_answers() {
    let mut lab = Lab::new("pingchk");
    let director = lab.add_host("dir", &["10.79.0.1/24"]);
    let rs = lab.add_host("rs", &[&format!("{RS}/24")]);
    let checks = checks_of(&conf(
        "        PING_CHECK {\n            connect_timeout 1\n        }\n        PING_CHECK {\n            connect_ip 10.79.0.99\n            connect_timeout 1\n        }\n",
    ));
    assert_eq!(checks.len(), 2);
    match &checks[0].0 {
        Check::Ping(p) => assert_eq!(p.addr.to_string(), RS),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        probe_from(&director, &checks[0].0, checks[0].1),
        Outcome::UP
    );
    assert!(
        matches!(
            probe_from(&director, &checks[1].0, checks[1].1),
            Outcome::Down(_)
        ),
        "connect_ip: nobody has 10.79.0.99"
    );
    // The real server's link goes down: no echo reply.
    rs.sh("ip link set eth0 down");
    assert!(matches!(
        probe_from(&director, &checks[0].0, checks[0].1),
        Outcome::Down(_)
    ));
    rs.sh("ip link set eth0 up");
    assert!(
        ha_testsupport::wait_until(Duration::from_secs(5), || {
            probe_from(&director, &checks[0].0, checks[0].1) == Outcome::UP
        }),
        "up again once the host answers"
    );
    drop(lab);
}
