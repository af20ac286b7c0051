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
    let o = run(&["check-config", "--keepalived-conf", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", s(&o.stderr));
    assert!(
        s(&o.stdout).starts_with("configuration is valid: 2 instance(s), 1 sync group(s)"),
        "{}",
        s(&o.stdout)
    );
    assert!(
        s(&o.stderr).contains("lvs-dr-master.conf:64:5: warning: `smtp_alert`"),
        "{}",
        s(&o.stderr)
    );
}

#[test]
fn check_config_valid_toml() {
    let f = samples().join("ha-director.toml");
    let o = run(&["check-config", "--config", f.to_str().unwrap()]);
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
        out.contains("# ") && out.contains("`smtp_alert` is not supported"),
        "{out}"
    );
    let t = tmp("converted.toml", &out);
    let o = run(&["check-config", "--config", t.to_str().unwrap(), "--dump"]);
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
fn usage_errors_and_unimplemented_subcommands() {
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
    for sub in [
        &["status"][..],
        &["realserver"][..],
        &["run", "--config", "x.toml"][..],
    ] {
        let o = run(sub);
        assert_eq!(o.status.code(), Some(3), "{sub:?}");
        assert!(
            s(&o.stderr).contains("not implemented yet in this build"),
            "{}",
            s(&o.stderr)
        );
    }
    let help = s(&run(&["--help"]).stdout);
    assert!(help.contains("NOT IMPLEMENTED YET"), "{help}");
}
