//! Host suite: who may use the status and control sockets. A running `ha-director` (TOML, one
//! instance in a netns) is asked by other users through `setpriv`:
//! - without `socket_group` both sockets are mode 0600: another user is refused by the kernel;
//! - with `socket_group = "nogroup"` they are 0660 with that group: a member gets the status,
//!   a non-member is refused;
//! - with the mode opened by hand (0666), the director's own peer check (`SO_PEERCRED`) still
//!   refuses a non-member, answers with the reason and counts it;
//! - garbage and oversize control requests get an error reply and are counted
//!   (`sockets` in the status JSON, `ha_director_socket_requests_total` in the metrics).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ha_testsupport::{Lab, require_root, require_tool, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

/// A folder every user can enter (the lab's own may not be), with a copy of the binary that
/// every user may run.
fn open_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ha-sockets-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(BIN, d.join("ha-director")).unwrap();
    std::fs::set_permissions(
        d.join("ha-director"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    d
}

fn config(dir: &Path, group: Option<&str>) -> PathBuf {
    let p = dir.join("d.toml");
    let group = group
        .map(|g| format!("socket_group = \"{g}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &p,
        format!(
            r#"[global]
status_socket = "{d}/status.sock"
control_socket = "{d}/control.sock"
{group}
[[instances]]
name = "VI_1"
version = 3
interface = "eth0"
vrid = 72
priority = 100
advert_int_ms = 200
vips = ["10.72.0.100/24"]
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

/// Runs the binary's copy in `dir` as `uid:gid` with no supplementary groups.
fn as_user(dir: &Path, uid: u32, gid: u32, args: &[&str]) -> Output {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(dir.join("ha-director"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.mode() & 0o777, m.gid())
}

/// The `sockets` counter of `socket`/`result` in the status JSON.
fn counter(dir: &Path, socket: &str, result: &str) -> u64 {
    let s = ha_testsupport::director_status(BIN, &dir.join("status.sock")).unwrap_or_default();
    s["sockets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["socket"] == socket && r["result"] == result)
        .and_then(|r| r["count"].as_u64())
        .unwrap_or_else(|| panic!("no {socket}/{result} counter in the status: {s}"))
}

const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;
const STRANGER: u32 = 4321;

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_sockets_refuse_other_users_and_count_bad_requests() {
    require_root();
    require_tool("setpriv", "util-linux");
    let mut lab = Lab::new("hdsock");
    let a = lab.add_host("a", &["10.72.0.1/24"]);

    // 1. No socket_group: 0600, another user cannot connect.
    let d1 = open_dir("private");
    let cfg = config(&d1, None);
    let pid_file = d1.join("run/ha-director.pid");
    let p = lab.spawn(
        &a,
        &[
            BIN,
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
        ],
    );
    let status = d1.join("status.sock");
    assert!(
        wait_until(Duration::from_secs(10), || {
            ha_testsupport::director_status(BIN, &status).is_some()
        }),
        "the director serves its status: {}",
        p.stderr()
    );
    // The pid file names the running director, and a second one with it is refused.
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        p.pid().to_string()
    );
    let second = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap(), "--pid-file"])
        .arg(&pid_file)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        text(&second).contains("is running"),
        "a second director with the same pid file: {}",
        text(&second)
    );
    assert_eq!(mode(&status).0, 0o600);
    assert_eq!(mode(&d1.join("control.sock")).0, 0o600);
    let o = as_user(
        &d1,
        NOBODY,
        NOGROUP,
        &["status", "--socket", status.to_str().unwrap()],
    );
    assert!(
        !o.status.success(),
        "nobody read a 0600 status socket: {}",
        text(&o)
    );
    assert!(text(&o).contains("Permission denied"), "{}", text(&o));
    let o = as_user(
        &d1,
        NOBODY,
        NOGROUP,
        &[
            "standby",
            "--socket",
            d1.join("control.sock").to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success(),
        "nobody used a 0600 control socket: {}",
        text(&o)
    );
    assert!(text(&o).contains("Permission denied"), "{}", text(&o));

    // Garbage, oversize and valid control requests (as root): error replies, counted.
    let control = d1.join("control.sock");
    let send = |line: &[u8]| -> String {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&control).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(line).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let bad_before = counter(&d1, "control", "bad_request");
    let ok_before = counter(&d1, "control", "ok");
    let r = send(b"fly me to the moon\n");
    assert!(r.contains("\"ok\":false"), "garbage: {r}");
    let r = send(&[b'x'; 4000]);
    assert!(
        r.contains("\"ok\":false") && r.contains("longer than"),
        "oversize: {r}"
    );
    let r = send(&[0xff, 0xfe, b'\n']);
    assert!(
        r.contains("\"ok\":false") && r.contains("UTF-8"),
        "binary: {r}"
    );
    let r = send(b"auto\n");
    assert!(r.contains("\"ok\":true"), "auto: {r}");
    assert_eq!(counter(&d1, "control", "bad_request"), bad_before + 3);
    assert_eq!(counter(&d1, "control", "ok"), ok_before + 1);
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(5)));
    assert!(!pid_file.exists(), "the pid file outlived the director");

    // 2. socket_group = "nogroup": 0660 with that group; a member reads, a stranger cannot.
    let d2 = open_dir("group");
    let cfg = config(&d2, Some("nogroup"));
    let p = lab.spawn(&a, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let status = d2.join("status.sock");
    assert!(
        wait_until(Duration::from_secs(10), || {
            ha_testsupport::director_status(BIN, &status).is_some()
        }),
        "the director serves its status: {}",
        p.stderr()
    );
    assert_eq!(mode(&status), (0o660, NOGROUP));
    assert_eq!(mode(&d2.join("control.sock")), (0o660, NOGROUP));
    let o = as_user(
        &d2,
        NOBODY,
        NOGROUP,
        &["status", "--socket", status.to_str().unwrap()],
    );
    assert!(
        o.status.success() && text(&o).contains("VI_1"),
        "a member of nogroup reads the status: {}",
        text(&o)
    );
    let o = as_user(
        &d2,
        STRANGER,
        STRANGER,
        &["status", "--socket", status.to_str().unwrap()],
    );
    assert!(
        !o.status.success(),
        "a stranger read the status: {}",
        text(&o)
    );
    assert!(text(&o).contains("Permission denied"), "{}", text(&o));

    // 3. The mode opened by hand: the kernel lets the stranger connect, the director's peer
    //    check refuses, says why and counts it.
    std::fs::set_permissions(&status, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(
        d2.join("control.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let refused_before = counter(&d2, "status", "refused");
    let o = as_user(
        &d2,
        STRANGER,
        STRANGER,
        &["status", "--socket", status.to_str().unwrap()],
    );
    assert!(
        text(&o).contains("permission denied: uid 4321"),
        "the peer check answers with the reason: {}",
        text(&o)
    );
    assert!(
        !text(&o).contains("VI_1"),
        "the stranger got the status: {}",
        text(&o)
    );
    assert_eq!(counter(&d2, "status", "refused"), refused_before + 1);
    let o = as_user(
        &d2,
        STRANGER,
        STRANGER,
        &[
            "standby",
            "--socket",
            d2.join("control.sock").to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("permission denied: uid 4321"),
        "{}",
        text(&o)
    );
    assert_eq!(counter(&d2, "control", "refused"), 1);
    let st = ha_testsupport::director_status(BIN, &status).unwrap();
    assert_ne!(
        st["instances"][0]["admin"]["mode"], "standby",
        "the refused standby was carried out: {st}"
    );
    p.kill(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(5)));
    let _ = std::fs::remove_dir_all(&d1);
    let _ = std::fs::remove_dir_all(&d2);
}
