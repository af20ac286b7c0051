//! VM suite: the real ldirectord 4.12 (Debian's) and `ha-director run --ldirectord-cf` on
//! the same guide-style `examples/director/ldirectord/ldirectord.cf`, in turn, on one
//! director with two real web servers. Both must program the same IPVS table
//! (`ipvsadm -Sn`): with both servers healthy; after the first server's check page stops
//! containing the `receive` string (quiescent: weight 0); with both failing (the fallback
//! server 127.0.0.1:80 added); and both take their services away at stop (`cleanstop`).
//!
//! And every malformed ldirectord.cf of the bad-input tables given to a running
//! `ha-director --ldirectord-cf` as a reload: refused with its place, the IPVS table kept.
//!
//! Bounds are loose (the VM runs under TCG).

#[path = "common/bad_input.rs"]
mod bad_input;
#[path = "common/reload.rs"]
mod reload;

use std::path::Path;
use std::time::Duration;

use ha_testsupport::{Host, Lab, Proc, require_vm, wait_until};
use reload::{Content, applies, file_level, put, refuse_each, start, status, text_cases};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const WAIT: Duration = Duration::from_secs(60);
/// ldirectord is Perl that runs `ipvsadm` to read the table before every change and again
/// to make it: under TCG (no KVM) one round of changes takes minutes.
const WAIT_LDIRECTORD: Duration = Duration::from_secs(300);

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("director/ldirectord/ldirectord.cf")
        .to_string_lossy()
        .into_owned()
}

/// `ipvsadm -Sn`, lines sorted (the kernel lists real servers in its own order).
fn table(d: &Host) -> Vec<String> {
    let mut v: Vec<String> = d
        .sh("ipvsadm -Sn")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

fn real(d: &Host, rs: &str) -> Option<String> {
    table(d)
        .into_iter()
        .find(|l| l.contains(&format!("-r {rs}:80")))
}

fn page(dir: &Path, text: &str) {
    std::fs::write(dir.join("check.html"), text).unwrap();
}

/// Runs the three phases against whatever programs IPVS on `d` and returns the three
/// tables; `who` names it in messages.
fn phases(
    d: &Host,
    pages: &[&Path; 2],
    who: &str,
    wait: Duration,
    log: &dyn Fn() -> String,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Both healthy: each real server at weight 1, no fallback.
    let ok = wait_until(wait, || {
        real(d, "10.77.0.11").is_some_and(|l| l.ends_with("-w 1"))
            && real(d, "10.77.0.12").is_some_and(|l| l.ends_with("-w 1"))
            && real(d, "127.0.0.1").is_none()
    });
    assert!(
        ok,
        "{who}: both real servers up\n{:#?}\n{}",
        table(d),
        log()
    );
    out.push(table(d));
    // The first page stops matching `receive`: quiescent, weight 0.
    page(pages[0], "<html>Down for maintenance</html>\n");
    let ok = wait_until(wait, || {
        real(d, "10.77.0.11").is_some_and(|l| l.ends_with("-w 0"))
    });
    assert!(
        ok,
        "{who}: first real server quiescent\n{:#?}\n{}",
        table(d),
        log()
    );
    out.push(table(d));
    // Both failing: the fallback server comes in.
    page(pages[1], "<html>Down for maintenance</html>\n");
    let ok = wait_until(wait, || {
        real(d, "10.77.0.12").is_some_and(|l| l.ends_with("-w 0")) && real(d, "127.0.0.1").is_some()
    });
    assert!(ok, "{who}: fallback in\n{:#?}\n{}", table(d), log());
    out.push(table(d));
    // Healthy again (for the next run).
    page(pages[0], "<html>Still alive</html>\n");
    page(pages[1], "<html>Still alive</html>\n");
    let ok = wait_until(wait, || {
        real(d, "10.77.0.11").is_some_and(|l| l.ends_with("-w 1"))
            && real(d, "10.77.0.12").is_some_and(|l| l.ends_with("-w 1"))
            && real(d, "127.0.0.1").is_none()
    });
    assert!(ok, "{who}: back up\n{:#?}\n{}", table(d), log());
    out
}

fn stop(p: &Proc, d: &Host, who: &str) {
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(120)), "{who} did not stop");
    let ok = wait_until(Duration::from_secs(60), || table(d).is_empty());
    assert!(ok, "{who}: cleanstop leaves {:#?}", table(d));
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_ldirectord_same_ipvs_table_as_the_real_ldirectord() {
    require_vm();
    ha_testsupport::require_tool("ldirectord", "ldirectord");
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_rr"]);
    let mut lab = Lab::new("ldir");
    let d = lab.add_host("d1", &["10.77.0.1/24"]);
    let r1 = lab.add_host("r1", &["10.77.0.11/24"]);
    let r2 = lab.add_host("r2", &["10.77.0.12/24"]);
    let dirs = [lab.dir().join("www1"), lab.dir().join("www2")];
    for (dir, host) in dirs.iter().zip([&r1, &r2]) {
        std::fs::create_dir_all(dir).unwrap();
        page(dir, "<html>Still alive</html>\n");
        let _web = lab.spawn(
            host,
            &[
                "python3",
                "-m",
                "http.server",
                "--bind",
                "0.0.0.0",
                "--directory",
                dir.to_str().unwrap(),
                "80",
            ],
        );
    }
    let web_up = wait_until(WAIT, || {
        // A server not listening yet is a retry, not a failure (`|| true`: `sh` panics on a
        // non-zero exit; under TCG http.server can take seconds to start).
        d.sh("for h in 10.77.0.11 10.77.0.12; do python3 -c \"import urllib.request as u; print(u.urlopen('http://'+'$h'+'/check.html', timeout=2).read())\" 2>/dev/null || true; done")
            .matches("Still alive")
            .count()
            == 2
    });
    assert!(web_up, "the real servers' web servers did not start");
    let conf = sample();
    let pages = [dirs[0].as_path(), dirs[1].as_path()];
    assert!(table(&d).is_empty());

    // ha-director first, then the real ldirectord, on the same file.
    let sock = lab.dir().join("ldir.sock");
    let hd = lab.spawn(
        &d,
        &[
            BIN,
            "run",
            "--ldirectord-cf",
            &conf,
            "--status-socket",
            sock.to_str().unwrap(),
        ],
    );
    let hd_log = || hd.stderr();
    let our_tables = phases(&d, &pages, "ha-director", WAIT, &hd_log);
    stop(&hd, &d, "ha-director");

    // The real ldirectord, in the foreground (-d: debug, log to standard error).
    let ld = lab.spawn(&d, &["ldirectord", "-d", &conf, "start"]);
    let ld_log =
        || {
            format!(
            "--- ldirectord stderr ---\n{}\n--- stdout ---\n{}\n--- processes ---\n{}",
            ld.stderr(),
            ld.stdout(),
            d.sh("ps -eo pid,stat,wchan:32,args | grep -E 'ldirectord|ipvsadm|perl' | grep -v grep")
        )
        };
    let real_tables = phases(&d, &pages, "ldirectord", WAIT_LDIRECTORD, &ld_log);
    stop(&ld, &d, "ldirectord");

    for (i, (theirs, ours)) in real_tables.iter().zip(&our_tables).enumerate() {
        assert_eq!(
            ours, theirs,
            "phase {i}: ha-director's IPVS table (left) differs from ldirectord's (right)"
        );
    }
    drop(lab);
}

/// The ldirectord.cf the reload test runs: two real servers, no checks (`checktype=on`), so
/// the table stays as it is while the malformed reloads come.
const RELOAD_CF: &str = "checktimeout=3\ncheckinterval=1\nvirtual=10.78.0.100:80\n\treal=10.78.0.11:80 gate 1\n\treal=10.78.0.12:80 gate 2\n\tscheduler=wrr\n\tprotocol=tcp\n\tchecktype=on\n";

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_ldirectord_reload_bad_input_keeps_the_ipvs_table() {
    require_vm();
    let mut lab = Lab::new("rbl");
    let d = lab.add_host("d", &["10.78.0.1/24"]);
    let dir = lab.dir().to_path_buf();
    let cf = dir.join("l.cf");
    put(&cf, Content::Text(RELOAD_CF));
    let (p, sock) = start(
        &mut lab,
        &d,
        &["--ldirectord-cf", cf.to_str().unwrap()],
        &dir,
    );
    assert!(
        wait_until(WAIT, || real(&d, "10.78.0.12")
            .is_some_and(|l| l.ends_with("-w 2"))),
        "{:#?}\n{}",
        table(&d),
        p.stderr()
    );
    let mut cases = text_cases(bad_input::LDIRECTORD, &cf);
    cases.extend(file_level(&cf));
    // The table, and each pool member's address, weight and liveness in the status.
    let kept = || {
        let s = status(&sock);
        let members: Vec<_> = s["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["members"].as_array().cloned().unwrap_or_default())
            .map(|m| json!([m["address"], m["weight"], m["alive"]]))
            .collect();
        json!([table(&d), members])
    };
    refuse_each("ldirectord.cf", &p, &sock, "l.cf", &cases, &kept);
    put(&cf, Content::Text(&RELOAD_CF.replace("gate 2", "gate 3")));
    applies("ldirectord.cf", &p, &sock, |_| {
        real(&d, "10.78.0.12").is_some_and(|l| l.ends_with("-w 3"))
    });
    stop(&p, &d, "ha-director");
}
