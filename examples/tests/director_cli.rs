//! The `ha-director` binary: exit codes and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ha-director"))
        .args(args)
        .output()
        .expect("run ha-director")
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ha-director-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_valid_keepalived_prints_summary_and_warnings() {
    let f = samples().join("lvs-dr-master.conf");
    let o = run(&[
        "check-config",
        "--offline",
        "--keepalived-conf",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    assert!(
        s(&o.stdout).starts_with("configuration is valid: 2 instance(s), 1 sync group(s)"),
        "{}",
        s(&o.stdout)
    );
    // Every keyword of the stock-style sample is run: no warning.
    assert!(!s(&o.stderr).contains("warning:"), "{}", s(&o.stderr));
}

#[test]
fn check_config_valid_toml() {
    let f = samples().join("ha-director.toml");
    let o = run(&["check-config", "--offline", "--config", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
}

#[test]
fn check_config_invalid_gives_file_line_column_and_exit_1() {
    let f = tmp(
        "bad.conf",
        "vrrp_instance VI {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1\n  }\n",
    );
    let o = run(&["check-config", "--keepalived-conf", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let want = format!(
        "{}:1:18: syntax error: block of `vrrp_instance` opened here is never closed",
        f.display()
    );
    assert!(s(&o.stderr).contains(&want), "{}", s(&o.stderr));

    let t = tmp(
        "bad.toml",
        "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1\"]\nversion = 2\nadvert_int_ms = 300\n",
    );
    let o = run(&["check-config", "--config", t.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let want = format!(
        "{}:2:1: instance \"A\": advert interval 300 ms is not valid for VRRPv2",
        t.display()
    );
    assert!(s(&o.stderr).contains(&want), "{}", s(&o.stderr));

    let t = tmp("syntax.toml", "[[instances]\n");
    let o = run(&["check-config", "--config", t.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        s(&o.stderr).starts_with(&format!("{}:1:", t.display())),
        "{}",
        s(&o.stderr)
    );

    let o = run(&["check-config", "--config", "/nonexistent/x.toml"]);
    assert_eq!(o.status.code(), Some(1));
    for p in [f, t] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn convert_prints_toml_that_check_config_accepts() {
    let f = samples().join("lvs-dr-master.conf");
    let o = run(&["convert", "--keepalived-conf", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    let out = s(&o.stdout);
    assert!(out.contains("name = \"VI_EXT\""), "{out}");
    assert!(
        out.contains("[global.smtp]"),
        "the mail settings convert: {out}"
    );
    assert!(!out.contains("warning:"), "{out}");
    let t = tmp("converted.toml", &out);
    let o = run(&[
        "check-config",
        "--offline",
        "--config",
        t.to_str().unwrap(),
        "--dump",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    // The dump of the TOML equals the converted text minus the comment header.
    let body: String = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let dump = s(&o.stdout);
    assert_eq!(dump.split_once('\n').unwrap().1, body);
    std::fs::remove_file(t).unwrap();
}

#[test]
fn usage_errors() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(
        run(&["check-config"]).status.code(),
        Some(2),
        "a source is required"
    );
    assert_eq!(
        run(&["check-config", "--config", "a", "--keepalived-conf", "b"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["run"]).status.code(), Some(2), "run needs a source");
    assert_eq!(
        run(&["realserver"]).status.code(),
        Some(2),
        "realserver needs --vip"
    );
    assert_eq!(
        run(&["realserver", "--vip", "not-an-ip"]).status.code(),
        Some(2)
    );
    let help = s(&run(&["--help"]).stdout);
    for sub in ["run", "check-config", "convert", "status", "realserver"] {
        assert!(help.contains(sub), "{help}");
    }
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn run_refuses_an_invalid_configuration_with_exit_1() {
    let t = tmp(
        "run-bad.toml",
        "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 300\nvips = [\"10.0.0.1\"]\n",
    );
    let o = run(&["run", "--config", t.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", s(&o.stderr));
    let err = s(&o.stderr);
    assert!(err.contains("vrid 300 is outside 1..=255"), "{err}");
    assert!(err.contains("run-bad.toml:2:"), "{err}");
    std::fs::remove_file(t).unwrap();
}

#[test]
fn run_refuses_an_instance_without_a_source_address() {
    // The interface does not exist, so no primary address can be found: a configuration
    // error naming the instance (before any socket is opened).
    let t = tmp(
        "run-noif.toml",
        "[[instances]]\nname = \"VI_Z\"\ninterface = \"nosuchif0\"\nvrid = 3\nvips = [\"10.0.0.1\"]\n",
    );
    let o = run(&["run", "--config", t.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", s(&o.stderr));
    let err = s(&o.stderr);
    assert!(err.contains("VI_Z") && err.contains("nosuchif0"), "{err}");
    std::fs::remove_file(t).unwrap();
}

#[test]
fn status_without_a_director_exits_1_with_a_clear_message() {
    let sock = std::env::temp_dir().join(format!("no-director-{}.sock", std::process::id()));
    let o = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = s(&o.stderr);
    assert!(err.contains("no director is running at"), "{err}");
    assert!(err.contains(sock.to_str().unwrap()), "{err}");
}

#[test]
fn run_accepts_status_socket_and_metrics_listen_overrides() {
    let help = s(&run(&["run", "--help"]).stdout);
    assert!(
        help.contains("--status-socket") && help.contains("--metrics-listen"),
        "{help}"
    );
    assert!(help.contains("--watch-config"), "{help}");
    assert_eq!(
        run(&["run", "--config", "x.toml", "--metrics-listen", "nope"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn config_id_picks_the_conditional_lines() {
    let f = tmp(
        "cfgid.conf",
        "vrrp_instance VI {\n    interface eth0\n    virtual_router_id 7\n@lb1 priority 150\n@^lb1 priority 100\n    virtual_ipaddress {\n        10.0.0.50\n    }\n}\n",
    );
    let path = f.to_str().unwrap();
    let o = run(&["convert", "--keepalived-conf", path, "--config-id", "lb1"]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    assert!(s(&o.stdout).contains("priority = 150"), "{}", s(&o.stdout));
    let o = run(&["--config-id", "lb2", "convert", "--keepalived-conf", path]);
    assert!(s(&o.stdout).contains("priority = 100"), "{}", s(&o.stdout));
    std::fs::remove_file(&f).unwrap();
}

#[test]
fn check_config_builds_as_run_does_and_prints_its_notes() {
    // On this host (no eth1, no keepalived_script user) the sample cannot run: check-config
    // says so, as run would, naming the instance and the interface.
    let f = samples().join("lvs-dr-master.conf");
    let o = run(&["check-config", "--keepalived-conf", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", s(&o.stderr));
    let err = s(&o.stderr);
    assert!(
        err.contains("instance \"VI_INT\"") && err.contains("\"eth1\""),
        "{err}"
    );
    // --offline checks the rest and prints the build's notes (sync-group weights here) and
    // what it did not look up.
    let o = run(&[
        "check-config",
        "--offline",
        "--keepalived-conf",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    let err = s(&o.stderr);
    assert!(
        err.contains("note: interface eth1: its IPv4 address is not looked up (--offline)"),
        "{err}"
    );
    assert!(
        err.contains("note: instance \"VI_EXT\": tracked script \"chk_haproxy\""),
        "{err}"
    );
}

#[test]
fn keepalived_command_line_for_drop_in_use() {
    // An instance that builds on any host (its source address given).
    let f = tmp(
        "ka-cli.conf",
        "vrrp_instance VI {\n    interface lo\n    virtual_router_id 7\n    unicast_src_ip 127.0.0.1\n    unicast_peer {\n        127.0.0.2\n    }\n    virtual_ipaddress {\n        127.0.0.50\n    }\n}\n",
    );
    let path = f.to_str().unwrap();
    for args in [
        vec!["-f", path, "-t"],
        vec!["--use-file", path, "--config-test"],
        vec!["-n", "-l", "-D", &format!("--use-file={path}"), "-t"],
        vec!["-i", "lb1", "-f", path, "-t"],
        // keepalived's pid files (the test itself writes none).
        vec![
            "-p",
            "/run/keepalived.pid",
            "-r",
            "/run/vrrp.pid",
            "-c",
            "/run/c.pid",
            "-f",
            path,
            "-t",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", s(&o.stderr));
        assert!(
            s(&o.stdout).starts_with("configuration is valid"),
            "{args:?}"
        );
    }
    // Installed or linked as `keepalived`, the same line works.
    let link = std::env::temp_dir().join(format!("ha-cli-{}/keepalived", std::process::id()));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ha-director"), &link).unwrap();
    let o = std::process::Command::new(&link)
        .args(["-t", "-f", path])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    // A keepalived option that cannot be honoured is named; a bad file is exit 1.
    let o = run(&["-P", "-f", path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        s(&o.stderr).contains("keepalived option -P is not supported"),
        "{}",
        s(&o.stderr)
    );
    let o = run(&["-f", path, "-p"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(s(&o.stderr).contains("-p needs a file"), "{}", s(&o.stderr));
    let bad = tmp("ka-bad.conf", "vrrp_instance VI {\n    priority 400\n}\n");
    let o = run(&["-t", "-f", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", s(&o.stderr));
    assert!(run(&["-v"]).status.success());
    std::fs::remove_file(&f).unwrap();
    std::fs::remove_file(&bad).unwrap();
    std::fs::remove_dir_all(link.parent().unwrap()).unwrap();
}
