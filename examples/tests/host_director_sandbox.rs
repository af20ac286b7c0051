//! Host suite: ha-director under the shipped systemd unit's sandbox runs the scripts keepalived
//! users write (issue 15, item 3).
//!
//! The sandbox is read from `examples/director/ha-director.service` itself (its user,
//! `AmbientCapabilities`, `CapabilityBoundingSet`, `NoNewPrivileges`, `ProtectProc`) and set up
//! by the test the way systemd would, without systemd: a private mount namespace with its own
//! `/proc` (`hidepid` as `ProtectProc` asks), then `setpriv` to the unprivileged user with those
//! capabilities (the user is `nobody` here: the unit's `ha-director` user need not exist on a
//! test machine). The filesystem protections (`ProtectSystem`, `PrivateTmp`) are not
//! reproduced; the scripts here write only to the test's own folder.
//!
//! Inside, a director runs a `vrrp_script` pair that checks a process of root and one of
//! another user with `pidof` and `killall -0` under `script_user root` (the most common
//! keepalived script), a notify script that records the user it runs as, and a resource step
//! that needs root's network capability (a veth pair). With the shipped unit all of them work;
//! with the unit as it was (no `CAP_SETUID`/`CAP_KILL`, `ProtectProc=invisible`) the scripts
//! cannot run, and the director says why at warn, once, and counts it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ha_testsupport::{Host, Lab, Proc, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const VIP: &str = "10.82.0.100";

/// The sandbox settings of the unit file that matter to scripts.
#[derive(Debug, Clone)]
struct Sandbox {
    ambient: Vec<String>,
    bounding: Vec<String>,
    no_new_privileges: bool,
    /// `ProtectProc=`: `default`, `invisible`, `ptraceable` or `noaccess`.
    protect_proc: String,
}

/// Reads the shipped unit.
fn shipped_unit() -> Sandbox {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/ha-director.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .next_back()
            .map(str::trim)
            .map(str::to_owned)
    };
    let caps = |key: &str| {
        value(key)
            .unwrap_or_default()
            .split_whitespace()
            .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    Sandbox {
        ambient: caps("AmbientCapabilities"),
        bounding: caps("CapabilityBoundingSet"),
        no_new_privileges: value("NoNewPrivileges").as_deref() == Some("yes"),
        protect_proc: value("ProtectProc").unwrap_or_else(|| "default".into()),
    }
}

/// `argv` as systemd would start it under `sb`: own /proc, unprivileged user, capabilities.
fn sandboxed(sb: &Sandbox, argv: &[&str]) -> Vec<String> {
    let hidepid = match sb.protect_proc.as_str() {
        "default" => "0",
        "ptraceable" => "ptraceable",
        "noaccess" => "noaccess",
        _ => "invisible",
    };
    let plus = |caps: &[String]| {
        caps.iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut setpriv = vec![
        "setpriv".to_owned(),
        "--reuid=65534".into(),
        "--regid=65534".into(),
        "--clear-groups".into(),
        format!("--bounding-set=-all,{}", plus(&sb.bounding)),
    ];
    if !sb.ambient.is_empty() {
        setpriv.push(format!("--inh-caps=-all,{}", plus(&sb.ambient)));
        setpriv.push(format!("--ambient-caps=-all,{}", plus(&sb.ambient)));
    }
    if sb.no_new_privileges {
        setpriv.push("--no-new-privs".into());
    }
    setpriv.push("--".into());
    setpriv.extend(argv.iter().map(|s| (*s).to_owned()));
    let quoted: Vec<String> = setpriv.iter().map(|a| format!("'{a}'")).collect();
    vec![
        "unshare".into(),
        "--mount".into(),
        "--propagation".into(),
        "private".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        format!(
            "mount -t proc -o hidepid={hidepid} proc /proc && exec {}",
            quoted.join(" ")
        ),
    ]
}

fn has_link(h: &Host, name: &str) -> bool {
    h.exec(&["ip", "link", "show", name]).status.success()
}

fn status(sock: &Path) -> Option<Value> {
    ha_testsupport::director_status(BIN, sock)
}

/// The director's configuration; `dir` is world-writable so the unprivileged daemon can put
/// its status socket there.
fn write_config(dir: &Path) -> (PathBuf, PathBuf) {
    let notify = dir.join("notify-master.sh");
    std::fs::write(
        &notify,
        format!("#!/bin/sh\nid -u > {}/master-uid\n", dir.display()),
    )
    .unwrap();
    set_mode(&notify, 0o755);
    let sock = dir.join("status.sock");
    let text = format!(
        r#"[global]
router_id = "sandboxed"
status_socket = "{sock}"
script_user = "root"

[[scripts]]
name = "chk_nginx_pidof"
command = "pidof fake-nginx"
interval_ms = 200

[[scripts]]
name = "chk_nginx_killall"
command = "killall -0 fake-nginx"
interval_ms = 200

[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 82
priority = 100
advert_int_ms = 100
vips = ["{VIP}/24"]
track_scripts = [{{ name = "chk_nginx_pidof" }}, {{ name = "chk_nginx_killall" }}]

[instances.notify]
master = "{notify}"

[[resource_groups]]
name = "rg"
instance = "VI_1"
steps = [{{ kind = "script", start = "ip link add hadummy0 type veth peer name hadummy1", stop = "ip link del hadummy0" }}]
"#,
        sock = sock.display(),
        notify = notify.display(),
    );
    let path = dir.join("director.toml");
    std::fs::write(&path, text).unwrap();
    (path, sock)
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `fake-nginx` (a copy of `sleep`, so that `pidof`/`killall` find it by name) as root and as
/// `www-data`, like nginx's master and worker.
fn start_fake_nginx(lab: &mut Lab, host: &Host, dir: &Path) -> (Proc, Proc) {
    let bin = dir.join("fake-nginx");
    std::fs::copy("/bin/sleep", &bin).unwrap();
    set_mode(&bin, 0o755);
    let b = bin.to_str().unwrap();
    let master = lab.spawn(host, &[b, "1000"]);
    let worker = lab.spawn(
        host,
        &[
            "setpriv",
            "--reuid=33",
            "--regid=33",
            "--clear-groups",
            b,
            "1000",
        ],
    );
    (master, worker)
}

fn counter(sock: &Path, name: &str) -> u64 {
    status(sock)
        .and_then(|v| v["counters"][name].as_u64())
        .unwrap_or(0)
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_under_the_unit_sandbox_runs_keepalived_users_scripts() {
    for tool in ["setpriv", "unshare", "pidof", "killall"] {
        ha_testsupport::require_tool(
            tool,
            if tool == "killall" {
                "psmisc"
            } else {
                "util-linux"
            },
        );
    }
    let sb = shipped_unit();
    for cap in ["net_admin", "net_raw", "setuid", "setgid", "kill"] {
        assert!(
            sb.ambient.iter().any(|c| c == cap),
            "the unit lacks CAP_{cap}: {sb:?}"
        );
    }
    let mut lab = Lab::new("sandbox");
    let h = lab.add_host("d1", &["10.82.0.1/24"]);
    let dir = lab.dir().join("sandbox");
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o777);
    let (config, sock) = write_config(&dir);
    let (nginx, worker) = start_fake_nginx(&mut lab, &h, &dir);

    let argv = sandboxed(&sb, &[BIN, "run", "--config", config.to_str().unwrap()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let d = lab.spawn(&h, &argv);
    let up = wait_until(Duration::from_secs(15), || {
        h.holds(VIP) && has_link(&h, "hadummy0") && dir.join("master-uid").exists()
    });
    assert!(
        up,
        "the scripts must pass, the notify script and the resource step run: VIP {} dummy {} notify {}\n{}",
        h.holds(VIP),
        has_link(&h, "hadummy0"),
        dir.join("master-uid").exists(),
        d.stderr()
    );
    let uid = std::fs::read_to_string(dir.join("master-uid")).unwrap();
    assert_eq!(uid.trim(), "0", "notify_master runs as script_user root");
    // The daemon itself is not root: only its scripts are.
    let daemon_uid = std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        daemon_uid.split_whitespace().nth(1) == Some("65534"),
        "{daemon_uid:?}"
    );

    // nginx stops: both scripts fail, the instance leaves master, the step is undone. The
    // reason is logged at warn once per script, not on every run.
    nginx.kill(libc::SIGKILL);
    worker.kill(libc::SIGKILL);
    let down = wait_until(Duration::from_secs(10), || {
        !h.holds(VIP) && !has_link(&h, "hadummy0")
    });
    assert!(
        down,
        "the VIP and the step go when nginx does\n{}",
        d.stderr()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let log = d.stderr();
    let failing: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("track script failing"))
        .collect();
    assert_eq!(failing.len(), 2, "once per script: {failing:#?}");
    assert!(failing.iter().all(|l| l.contains("WARN")), "{failing:#?}");
    assert!(
        failing.iter().any(|l| l.contains("exit 1")),
        "the exit code is named: {failing:#?}"
    );
    assert!(counter(&sock, "track_failures") >= 4, "{:?}", status(&sock));
    assert_eq!(
        counter(&sock, "script_errors"),
        0,
        "the scripts ran to their end"
    );
    d.kill(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(10)));
    drop(lab);
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_director_under_the_old_unit_sandbox_says_why_scripts_cannot_run() {
    // The unit as it was: no CAP_SETUID/CAP_SETGID/CAP_KILL, other users' processes hidden.
    let old = Sandbox {
        ambient: vec!["net_admin".into(), "net_raw".into()],
        bounding: vec!["net_admin".into(), "net_raw".into()],
        no_new_privileges: true,
        protect_proc: "invisible".into(),
    };
    let mut lab = Lab::new("oldsandbox");
    let h = lab.add_host("d1", &["10.82.0.1/24"]);
    let dir = lab.dir().join("sandbox");
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o777);
    let (config, sock) = write_config(&dir);
    let _nginx = start_fake_nginx(&mut lab, &h, &dir);
    let argv = sandboxed(&old, &[BIN, "run", "--config", config.to_str().unwrap()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let d = lab.spawn(&h, &argv);
    let said = wait_until(Duration::from_secs(10), || {
        d.stderr().contains("track script failing") && counter(&sock, "script_errors") >= 4
    });
    assert!(said, "{}", d.stderr());
    std::thread::sleep(Duration::from_millis(1000));
    let log = d.stderr();
    let failing: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("track script failing"))
        .collect();
    assert_eq!(failing.len(), 2, "once per script: {failing:#?}");
    assert!(
        failing
            .iter()
            .all(|l| l.contains("WARN") && l.contains("Operation not permitted")),
        "the reason (the daemon may not switch to root) is in the line: {failing:#?}"
    );
    assert!(
        !h.holds(VIP),
        "failing scripts keep the instance out of master"
    );
    drop(lab);
}
