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

/// Waits until something listens on `addr` inside `host` (a TCP connect succeeds).
fn wait_listening(host: &Host, addr: &str) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let up = ha_testsupport::wait_until(Duration::from_secs(15), || {
        host.run_in(move || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })
    });
    assert!(up, "nothing listens on {addr}");
}

fn http_conf(port: u16, ssl: &str, checks: &str) -> String {
    format!(
        "{ssl}virtual_server 10.79.0.100 {port} {{\n    real_server {RS} {port} {{\n{checks}\n    }}\n}}\n"
    )
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_http_get_regex_status_ranges_and_protocol_against_a_real_web_server() {
    ha_testsupport::require_tool("python3", "python3");
    let mut lab = Lab::new("httpchk");
    let director = lab.add_host("dir", &["10.79.0.1/24"]);
    let rs = lab.add_host("rs", &[&format!("{RS}/24")]);
    let www = lab.dir().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "Service OK\n").unwrap();
    let www_s = www.to_string_lossy().into_owned();
    let server = lab.spawn(
        &rs,
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            RS,
            "--directory",
            &www_s,
        ],
    );
    wait_listening(&rs, &format!("{RS}:8080"));

    let checks = checks_of(&http_conf(
        8080,
        "",
        "        HTTP_GET {\n            connect_timeout 2\n            url {\n                path /health\n                status_code 200-299\n                regex \"^service (ok|up)$\"\n                regex_options caseless\n            }\n            url {\n                path /missing\n                status_code 301 400-404\n            }\n        }\n        HTTP_GET {\n            connect_timeout 2\n            http_protocol 1.1\n            url {\n                path /health\n                regex OK\n                regex_no_match\n            }\n            url {\n                path /missing\n            }\n        }\n",
    ));
    assert_eq!(checks.len(), 4);
    let run = |i: usize| probe_from(&director, &checks[i].0, checks[i].1);
    assert_eq!(
        run(0),
        Outcome::UP,
        "the body matches, case-insensitively, up to the final newline"
    );
    assert_eq!(run(1), Outcome::UP, "404 is inside 400-404");
    assert_eq!(
        run(2),
        Outcome::Down(Failure::BodyMismatch),
        "regex_no_match"
    );
    assert_eq!(
        run(3),
        Outcome::Down(Failure::Status(404)),
        "default: any 2xx"
    );
    // keepalived's default request is HTTP/1.0; `http_protocol 1.1` sends 1.1. The server's
    // access log shows the request lines it received.
    let log = server.stderr();
    assert!(log.contains("\"GET /health HTTP/1.0\""), "{log}");
    assert!(log.contains("\"GET /health HTTP/1.1\""), "{log}");
    // The service reports trouble: the body no longer matches, the inverted check passes.
    std::fs::write(www.join("health"), "service degraded\n").unwrap();
    assert_eq!(run(0), Outcome::Down(Failure::BodyMismatch));
    assert_eq!(run(2), Outcome::UP);
    drop(lab);
}

/// `openssl` with `args`, in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_ssl_get_presents_the_ssl_block_client_certificate_to_a_server_that_requires_one() {
    ha_testsupport::require_tool("openssl", "openssl");
    let mut lab = Lab::new("sslchk");
    let director = lab.add_host("dir", &["10.79.0.1/24"]);
    let rs = lab.add_host("rs", &[&format!("{RS}/24")]);
    let pki = lab.dir().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &pki,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=test-ca",
                "-days",
                "2",
            ],
        ]
        .concat(),
    );
    // Extensions make them X.509 v3 certificates (rustls refuses v1 ones).
    std::fs::write(
        pki.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    for name in ["server", "client"] {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let cn = format!("/CN={name}.example.org");
        openssl(
            &pki,
            &[
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", &cn],
            ]
            .concat(),
        );
        openssl(
            &pki,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "ext.cnf",
                "-out",
                &pem,
                "-days",
                "2",
            ],
        );
    }
    let p = |f: &str| pki.join(f).to_string_lossy().into_owned();
    // A TLS server that refuses clients without a certificate from our CA (`-Verify 1`);
    // `-www` answers GET / with 200 and a status page.
    let accept = format!("{RS}:8443");
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    lab.spawn(
        &rs,
        &[
            "openssl", "s_server", "-accept", &accept, "-cert", &cert, "-key", &key, "-CAfile",
            &ca, "-Verify", "1", "-www",
        ],
    );
    wait_listening(&rs, &accept);
    let check = "        SSL_GET {\n            connect_timeout 2\n            url {\n                path /\n                regex \"s_server\"\n            }\n        }\n";
    let with_cert = checks_of(&http_conf(
        8443,
        &format!(
            "SSL {{\n    certificate {}\n    key {}\n}}\n",
            p("client.pem"),
            p("client.key")
        ),
        check,
    ));
    let without = checks_of(&http_conf(8443, "", check));
    assert_eq!(
        probe_from(&director, &with_cert[0].0, with_cert[0].1),
        Outcome::UP,
        "the client certificate from the SSL block is accepted"
    );
    match probe_from(&director, &without[0].0, without[0].1) {
        Outcome::Down(Failure::Tls(_) | Failure::Reset) => {}
        o => panic!("without a client certificate the server must refuse: {o:?}"),
    }
    drop(lab);
}
