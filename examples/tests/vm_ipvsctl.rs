//! VM suite: `ipvsctl` speaks ipvsadm. The same ipvsadm command lines go through `ipvsctl` in
//! one network namespace and through Debian's `ipvsadm` (1.31) in another (each namespace has
//! its own IPVS table); then every listing both tools can print (`-Ln`, `--stats`, `--rate`,
//! `--exact`, `--thresholds`, `--persistent-conn`, one service, `-Sn`, `-L --timeout`,
//! `-L --daemon`, names from /etc/hosts and /etc/services) must be byte for byte the same,
//! whichever tool wrote the table and whichever reads it. Then `ipvsctl -Sn | ipvsadm -R` and
//! `ipvsadm -Sn | ipvsctl -R` round-trip, a bad `-R` line changes nothing and is named, and
//! `-Z` zeroes counters that traffic moved.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use ha_testsupport::{Host, Lab, modprobe, require_vm, wait_until};

const IPVSCTL: &str = env!("CARGO_BIN_EXE_ipvsctl");

/// The commands both tools run, one ipvsadm command line each.
const SETUP: &[&str] = &[
    "-A -t 10.80.0.100:80 -s rr",
    "-a -t 10.80.0.100:80 -r 10.80.0.11:80 -g -w 1",
    "-a -t 10.80.0.100:80 -r 10.80.0.12 -m -w 3 -x 100 -y 10",
    "-A -u 10.80.0.100:53 -s sh -b sh-port -o",
    "-a -u 10.80.0.100:53 -r 10.80.0.11:53 -i -w 2",
    "-a -u 10.80.0.100:53 -r 10.80.0.14:53 -i --tun-type gue --tun-port 6080 --tun-csum",
    "-A -t [fd00::100]:443 -s wlc -p 600 -M 64",
    "-a -t [fd00::100]:443 -r [fd00::11]:8443 -m -w 1",
    "-A -f 7 -s mh -b mh-fallback,mh-port -p 60 -M 255.255.255.0",
    "-a -f 7 -r 10.80.0.13 -g -w 0",
    "-A -f 7 -6 -s rr",
    "-A --sctp-service 10.80.0.100:5000 -s rr",
    "-A -t 10.80.0.100:8080 -s wrr -p",
    "-E -t 10.80.0.100:8080 -s lc -p 120",
    "-a -t 10.80.0.100:8080 -r 10.80.0.11 -g",
    "-e -t 10.80.0.100:8080 -r 10.80.0.11 -g -w 7",
    "-a -t 10.80.0.100:8080 -r 10.80.0.12 -g",
    "-d -t 10.80.0.100:8080 -r 10.80.0.12",
    "-A -t 10.80.0.101:80 -s rr",
    "-D -t 10.80.0.101:80",
    "-A -t 127.0.0.1:80 -s rr",
    "-a -t 127.0.0.1:80 -r 127.0.0.1:8080 -m",
];

/// The listings compared between the tools.
const LISTINGS: &[&str] = &[
    "-Ln",
    "-Ln --stats",
    "-Ln --rate",
    "-Ln --stats --exact",
    "-Ln --thresholds",
    "-Ln --persistent-conn",
    "-Ln -t 10.80.0.100:80",
    "-Ln -u 10.80.0.100:53",
    "-Ln -f 7",
    "-Sn",
    // Names: the loopback service's addresses are in /etc/hosts, its ports in /etc/services.
    "-L -t 127.0.0.1:80",
    "-L --timeout",
    "-L --daemon",
];

/// Runs a tool with an ipvsadm command line in `h`; (exit ok, stdout, stderr).
fn run(h: &Host, tool: &str, line: &str) -> (bool, String, String) {
    let mut argv = vec![tool];
    argv.extend(line.split_whitespace());
    let o = h.exec(&argv);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs a command line that must succeed; returns stdout.
fn ok(h: &Host, tool: &str, line: &str) -> String {
    let (good, out, err) = run(h, tool, line);
    assert!(good, "{} {tool} {line}: failed: {err}", h.name());
    out
}

/// `tool -R` in `h` with `input` on standard input; (exit ok, stderr).
fn restore(h: &Host, tool: &str, input: &str) -> (bool, String) {
    let mut child = h
        .command(&[tool, "-R"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every listing of `LISTINGS` is the same through both tools on both tables.
fn same_listings(a: &Host, b: &Host, listings: &[&str]) {
    for l in listings {
        let reference = ok(b, "ipvsadm", l);
        for (h, tool) in [(a, "ipvsadm"), (a, IPVSCTL), (b, IPVSCTL)] {
            let got = ok(h, tool, l);
            assert_eq!(
                got,
                reference,
                "`{l}` differs: {} on {} (left) vs ipvsadm on {} (right)",
                if tool == "ipvsadm" {
                    "ipvsadm"
                } else {
                    "ipvsctl"
                },
                h.name(),
                b.name()
            );
        }
    }
}

#[test]
#[ignore = "vm suite: needs the VM kernel's IPVS; run by cargo xtask vm"]
fn vm_ipvsctl_speaks_ipvsadm() {
    require_vm();
    modprobe(&["ip_vs"]);
    let mut lab = Lab::new("ictl");
    // a: written by ipvsctl; b: written by ipvsadm; c, d: restored into.
    let a = lab.add_host("a", &["10.80.0.1/24"]);
    let b = lab.add_host("b", &["10.80.0.2/24"]);
    let c = lab.add_host("c", &["10.80.0.3/24"]);
    let d = lab.add_host("d", &["10.80.0.4/24"]);

    for line in SETUP {
        ok(&a, IPVSCTL, line);
        ok(&b, "ipvsadm", line);
    }
    // The table's timeouts and a sync daemon each, set by each tool.
    ok(&a, IPVSCTL, "--set 901 31 121");
    ok(&b, "ipvsadm", "--set 901 31 121");
    let daemon = "--start-daemon master --mcast-interface eth0 --syncid 5";
    ok(&a, IPVSCTL, daemon);
    ok(&b, "ipvsadm", daemon);
    let backup = "--start-daemon backup --mcast-interface eth0 --syncid 9 --sync-maxlen 1400";
    ok(&a, IPVSCTL, backup);
    ok(&b, "ipvsadm", backup);

    same_listings(&a, &b, LISTINGS);
    let timeouts = ok(&a, "ipvsadm", "-L --timeout");
    assert_eq!(timeouts, "Timeout (tcp tcpfin udp): 901 31 121\n");
    let daemons = ok(&a, "ipvsadm", "-L --daemon");
    assert!(
        daemons.starts_with("master sync daemon (mcast=eth0, syncid=5")
            && daemons.contains("backup sync daemon (mcast=eth0, syncid=9, maxlen=1400"),
        "{daemons}"
    );
    // Stopping: the master goes, the backup stays.
    ok(&a, IPVSCTL, "--stop-daemon master");
    ok(&b, "ipvsadm", "--stop-daemon master");
    same_listings(&a, &b, &["-L --daemon"]);
    assert!(ok(&a, "ipvsadm", "-L --daemon").starts_with("backup sync daemon"));

    // Round trips: ipvsctl's rules restored by ipvsadm, ipvsadm's by ipvsctl.
    let rules_a = ok(&a, IPVSCTL, "-Sn");
    let rules_b = ok(&b, "ipvsadm", "-Sn");
    assert_eq!(rules_a, rules_b);
    assert!(rules_a.lines().count() >= 15, "{rules_a}");
    let (good, err) = restore(&c, "ipvsadm", &rules_a);
    assert!(good, "ipvsadm -R of ipvsctl -Sn: {err}");
    assert_eq!(ok(&c, "ipvsadm", "-Sn"), rules_a);
    let (good, err) = restore(&d, IPVSCTL, &rules_b);
    assert!(good, "ipvsctl -R of ipvsadm -Sn: {err}");
    assert_eq!(ok(&d, "ipvsadm", "-Sn"), rules_b);
    assert_eq!(ok(&d, IPVSCTL, "-Sn"), rules_b);
    // Restoring the same rules again changes nothing and is not an error.
    let (good, err) = restore(&d, IPVSCTL, &rules_b);
    assert!(good, "second ipvsctl -R: {err}");
    assert_eq!(ok(&d, "ipvsadm", "-Sn"), rules_b);

    // A bad line: nothing is applied (not even the good lines before it), the line is named.
    let bad = "-A -t 10.80.0.200:80 -s rr\n-a -t 10.80.0.200:80 -r 10.80.0.11:80 -g -w 1\n-A -t 10.80.0.201:80 -s rr --bogus\n";
    let (good, err) = restore(&d, IPVSCTL, bad);
    assert!(!good, "a bad line was accepted");
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(
        ok(&d, "ipvsadm", "-Sn"),
        rules_b,
        "a refused restore changed the table"
    );
    // A line that parses but that the kernel would refuse (port 0 without persistence): the
    // same.
    let (good, err) = restore(
        &d,
        IPVSCTL,
        "-A -t 10.80.0.202:80 -s rr\n-A -t 10.80.0.203:0 -s rr\n",
    );
    assert!(!good && err.contains("line 2"), "{err}");
    assert_eq!(ok(&d, "ipvsadm", "-Sn"), rules_b);

    // Counters: a locally sent SYN to the TCP service is scheduled and counted (the real
    // servers do not exist; the connection attempt times out). Then -Z zeroes them.
    for h in [&a, &b] {
        h.run_in(|| {
            let to: SocketAddr = "10.80.0.100:80".parse().unwrap();
            let _ = TcpStream::connect_timeout(&to, Duration::from_millis(500));
        });
    }
    let conns = |h: &Host| -> u64 {
        let s = ok(h, "ipvsadm", "-Ln --stats --exact -t 10.80.0.100:80");
        s.lines()
            .find(|l| l.starts_with("TCP  10.80.0.100:80"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no counters in {s}"))
    };
    // The kernel folds the per-CPU counters into what it reports every 2 s (the estimator).
    assert!(
        wait_until(Duration::from_secs(20), || conns(&a) >= 1 && conns(&b) >= 1),
        "no connection counted"
    );
    std::thread::sleep(Duration::from_secs(3));
    // Both tools read the same counters of a table (the tables differ now: the traffic was not
    // the same; the rates move on their own: headers only).
    for h in [&a, &b] {
        let l = "-Ln --stats --exact";
        assert_eq!(
            ok(h, IPVSCTL, l),
            ok(h, "ipvsadm", l),
            "{l} on {}",
            h.name()
        );
        let theirs = ok(h, "ipvsadm", "-Ln --rate");
        let ours = ok(h, IPVSCTL, "-Ln --rate");
        assert_eq!(
            ours.lines().take(3).collect::<Vec<_>>(),
            theirs.lines().take(3).collect::<Vec<_>>()
        );
    }
    ok(&a, IPVSCTL, "-Z -t 10.80.0.100:80");
    ok(&b, "ipvsadm", "-Z -t 10.80.0.100:80");
    assert_eq!(conns(&a), 0, "ipvsctl -Z -t did not zero");
    assert_eq!(conns(&b), 0);
    ok(&a, IPVSCTL, "-Z");
    let zeroed = ok(&a, "ipvsadm", "-Ln --stats --exact");
    assert_eq!(ok(&a, IPVSCTL, "-Ln --stats --exact"), zeroed);
    // After the version line and the two title lines.
    for l in zeroed.lines().skip(3) {
        let words: Vec<&str> = l.split_whitespace().collect();
        let counters = &words[words.len().saturating_sub(5)..];
        assert!(
            counters.iter().all(|c| *c == "0"),
            "-Z left counters: {zeroed}"
        );
    }

    // -C empties the table.
    ok(&a, IPVSCTL, "-C");
    assert_eq!(ok(&a, "ipvsadm", "-Sn"), "");
    // Usage errors exit 2 and say why.
    let o = Command::new(IPVSCTL)
        .args(["-A", "-t", "10.80.0.100:80", "-s", "rr", "-o"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("only for UDP"));
}
