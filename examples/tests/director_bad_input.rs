//! Bad input, table-driven: for every configuration reader (TOML, keepalived.conf, heartbeat's
//! ha.cf / haresources / authkeys, ldirectord.cf), malformed files and the error each must
//! give, with the place (`file:line:column`) and the words that say what is wrong. Plus the
//! file-level cases every reader shares: binary garbage, huge files, a directory, a FIFO and
//! a device where a file is expected (`include /dev/zero` must not read forever).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use ha_examples::director::heartbeat::{Options, load_heartbeat_dir};
use ha_examples::director::{
    ConfigError, MAX_CONFIG_BYTES, load_keepalived_file, load_keepalived_str, load_ldirectord_file,
    load_ldirectord_str, load_toml_file, load_toml_str,
};

fn tmpdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "ha-bad-input-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One malformed input: its name, its text, and what the first error must contain (all of
/// the fragments, the first one being the place).
struct Case {
    name: &'static str,
    text: &'static str,
    expect: &'static [&'static str],
}

fn check(reader: &str, case: &Case, result: Result<(), Vec<ConfigError>>) {
    let errors: Vec<String> = match result {
        Ok(()) => panic!("{reader} / {}: accepted", case.name),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    assert!(
        errors
            .iter()
            .any(|e| case.expect.iter().all(|frag| e.contains(frag))),
        "{reader} / {}: no error contains all of {:?}; errors: {errors:#?}",
        case.name,
        case.expect
    );
}

/// Runs a read on its own thread and fails the test if it takes over 10 s (a reader that
/// followed `/dev/zero` or a FIFO would never return).
fn within<T: Send + 'static>(what: &str, read: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: the read did not return within 10 s ({e})"))
}

const VI: &str = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n";

#[test]
fn keepalived_conf_table() {
    let cases = [
        Case {
            name: "unterminated block",
            text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n",
            expect: &["k.conf:1:20", "never closed"],
        },
        Case {
            name: "stray closing brace",
            text: "}\n",
            expect: &["k.conf:1:1", "unexpected `}`"],
        },
        Case {
            name: "VRID out of range",
            text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 256\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
            expect: &["k.conf:3:3", "virtual_router_id", "\"256\"", "1..=255"],
        },
        Case {
            name: "priority out of range",
            text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 300\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
            expect: &["k.conf:4:3", "priority", "\"300\"", "1..=255"],
        },
        Case {
            name: "bad address",
            text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.300\n  }\n}\n",
            expect: &["k.conf:5:5", "bad value \"10.0.0.300\"", "ADDRESS"],
        },
        Case {
            name: "duplicate VRID on one interface",
            text: "vrrp_instance A {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\nvrrp_instance B {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.101\n  }\n}\n",
            expect: &[
                "k.conf:8:1",
                "vrid 51 on eth0 is already used by instance \"A\"",
            ],
        },
        Case {
            name: "one VIP in two instances",
            text: "vrrp_instance A {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\nvrrp_instance B {\n  interface eth0\n  virtual_router_id 52\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
            expect: &[
                "k.conf:8:1",
                "10.0.0.100 on eth0 is also an address of instance \"A\"",
            ],
        },
        Case {
            name: "include that does not exist",
            text: "include /nonexistent/ha-bad-input.conf\n",
            expect: &[
                "k.conf:1:1",
                "/nonexistent/ha-bad-input.conf",
                "No such file",
            ],
        },
        Case {
            name: "include of a device",
            text: "include /dev/zero\n",
            expect: &["k.conf:1:1", "/dev/zero", "a device"],
        },
        Case {
            name: "include of a directory",
            text: "include /\n",
            expect: &["k.conf:1:1", "a directory"],
        },
    ];
    for case in &cases {
        check(
            "keepalived.conf",
            case,
            within(case.name, {
                let text = case.text;
                move || load_keepalived_str(text, Path::new("k.conf")).map(drop)
            }),
        );
    }
    // The control: the instance every case breaks is fine on its own.
    load_keepalived_str(VI, Path::new("k.conf")).expect("the control instance loads");
    // An unknown keyword is what keepalived makes of it too: reported with its place and
    // skipped (never silently), and `check-config` shows it.
    let text = VI.replace("  priority 100\n", "  priority 100\n  no_such_thing 1\n");
    let l = load_keepalived_str(&text, Path::new("k.conf")).expect("loads with a warning");
    let w: Vec<String> = l
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.location, w.keyword))
        .collect();
    assert!(
        w.iter().any(|w| w.starts_with("k.conf:5:3: no_such_thing")),
        "{w:?}"
    );
}

#[test]
fn keepalived_include_loop_is_an_error_at_the_include() {
    let d = tmpdir();
    std::fs::write(d.join("a.conf"), "include b.conf\n").unwrap();
    std::fs::write(d.join("b.conf"), "include a.conf\n").unwrap();
    let e = load_keepalived_file(&d.join("a.conf")).unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.contains(".conf:1:1") && t.contains("a loop")),
        "{text:#?}"
    );
}

const TOML_OK: &str =
    "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n";

#[test]
fn toml_table() {
    let cases = [
        Case {
            name: "unterminated table header",
            text: "[[instances]\nname = \"VI_1\"\n",
            expect: &["d.toml:1:13", "unclosed"],
        },
        Case {
            name: "unterminated string",
            text: "[[instances]]\nname = \"VI_1\ninterface = \"eth0\"\n",
            expect: &["d.toml:2:13", "string"],
        },
        Case {
            name: "unknown key",
            text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nno_such_key = 1\n",
            expect: &["d.toml:6:1", "unknown field `no_such_key`"],
        },
        Case {
            name: "VRID out of range",
            text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 300\nvips = [\"10.0.0.100/24\"]\n",
            expect: &["d.toml:2:1", "vrid 300 is outside 1..=255"],
        },
        Case {
            name: "duplicate VRID on one interface",
            text: "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n[[instances]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.101/24\"]\n",
            expect: &[
                "d.toml:7:1",
                "vrid 51 on eth0 is already used by instance \"A\"",
            ],
        },
        Case {
            name: "one VIP in two instances",
            text: "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n[[instances]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 52\nvips = [\"10.0.0.100/24\"]\n",
            expect: &[
                "d.toml:7:1",
                "10.0.0.100 on eth0 is also an address of instance \"A\"",
            ],
        },
        Case {
            name: "wrong type",
            text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = \"fifty-one\"\nvips = [\"10.0.0.100/24\"]\n",
            expect: &["d.toml:4:8", "invalid type"],
        },
    ];
    for case in &cases {
        check(
            "TOML",
            case,
            load_toml_str(case.text, Path::new("d.toml")).map(drop),
        );
    }
    load_toml_str(TOML_OK, Path::new("d.toml")).expect("the control file loads");
}

#[test]
fn ldirectord_table() {
    let cases = [
        Case {
            name: "unknown directive",
            text: "checktimeout=3\nno_such_directive=1\n",
            expect: &["l.cf:2:1", "no_such_directive"],
        },
        Case {
            name: "real server outside a virtual",
            text: "real=10.0.0.2:80 gate\n",
            expect: &["l.cf:1:1", "only valid inside a virtual section"],
        },
        Case {
            name: "bad port",
            text: "virtual=10.0.0.100:99999\n\treal=10.0.0.2:80 gate\n",
            expect: &["l.cf:1:9", "\"99999\""],
        },
        Case {
            name: "bad forwarding method",
            text: "virtual=10.0.0.100:80\n\treal=10.0.0.2:80 teleport\n",
            expect: &["l.cf:2:7", "forwarding method \"teleport\""],
        },
    ];
    for case in &cases {
        check(
            "ldirectord.cf",
            case,
            load_ldirectord_str(case.text, Path::new("l.cf")).map(drop),
        );
    }
}

/// Writes a heartbeat directory from the three texts (authkeys mode 0600).
fn heartbeat_dir(ha_cf: &str, haresources: &str, authkeys: &str) -> PathBuf {
    let d = tmpdir();
    std::fs::write(d.join("ha.cf"), ha_cf).unwrap();
    std::fs::write(d.join("haresources"), haresources).unwrap();
    let k = d.join("authkeys");
    std::fs::write(&k, authkeys).unwrap();
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    d
}

const HA_CF: &str =
    "keepalive 1\ndeadtime 10\nbcast eth0\nnode alpha\nnode beta\nauto_failback on\n";
const HARESOURCES: &str = "alpha 10.0.0.100\n";
const AUTHKEYS: &str = "auth 1\n1 sha1 secret\n";

#[test]
fn heartbeat_table() {
    struct HbCase {
        name: &'static str,
        files: [&'static str; 3],
        expect: &'static [&'static str],
    }
    let cases = [
        HbCase {
            name: "unknown directive",
            files: [
                "keepalive 1\ndeadtime 10\nno_such_directive 1\nbcast eth0\nnode alpha\nnode beta\n",
                HARESOURCES,
                AUTHKEYS,
            ],
            expect: &["ha.cf:3:1", "no_such_directive"],
        },
        HbCase {
            name: "deadtime not above twice keepalive",
            files: [
                "keepalive 2\ndeadtime 3\nbcast eth0\nnode alpha\nnode beta\n",
                HARESOURCES,
                AUTHKEYS,
            ],
            expect: &["ha.cf:2:", "deadtime"],
        },
        HbCase {
            name: "bad time",
            files: [
                "keepalive soon\ndeadtime 10\nbcast eth0\nnode alpha\nnode beta\n",
                HARESOURCES,
                AUTHKEYS,
            ],
            expect: &["ha.cf:1:", "soon"],
        },
        HbCase {
            name: "resource group of an unknown node",
            files: [HA_CF, "gamma 10.0.0.100\n", AUTHKEYS],
            expect: &["haresources:1:1", "gamma"],
        },
        HbCase {
            name: "authkeys selects a missing key",
            files: [HA_CF, HARESOURCES, "auth 2\n1 sha1 secret\n"],
            expect: &["authkeys:1:", "`auth 2` names key 2", "listed: 1)"],
        },
        HbCase {
            name: "authkeys unknown method",
            files: [HA_CF, HARESOURCES, "auth 1\n1 rot13 secret\n"],
            expect: &["authkeys:2:", "rot13"],
        },
    ];
    let opts = Options {
        node: Some("alpha".into()),
        offline: true,
    };
    for case in &cases {
        let d = heartbeat_dir(case.files[0], case.files[1], case.files[2]);
        let errors: Vec<String> = match load_heartbeat_dir(&d, &opts) {
            Ok(_) => panic!("heartbeat / {}: accepted", case.name),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        };
        assert!(
            errors
                .iter()
                .any(|e| case.expect.iter().all(|frag| e.contains(frag))),
            "heartbeat / {}: no error contains all of {:?}; errors: {errors:#?}",
            case.name,
            case.expect
        );
    }
    let d = heartbeat_dir(HA_CF, HARESOURCES, AUTHKEYS);
    load_heartbeat_dir(&d, &opts).expect("the control directory loads");
}

/// Every file reader refuses what is not a configuration file, with the path and the reason,
/// before reading it: binary garbage, a file over the limit, a directory, a FIFO, a device.
#[test]
fn file_level_cases_for_every_reader() {
    let d = tmpdir();
    let garbage = d.join("garbage");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let huge = d.join("huge");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(MAX_CONFIG_BYTES + 1).unwrap(); // sparse: nothing is written
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let cases: [(&Path, &[&str]); 5] = [
        (&garbage, &["garbage", "UTF-8"]),
        (&huge, &["huge", "larger than"]),
        (&d, &["a directory"]),
        (&fifo, &["fifo", "a FIFO"]),
        (Path::new("/dev/zero"), &["/dev/zero", "a device"]),
    ];
    type Reader = fn(&Path) -> Result<(), Vec<ConfigError>>;
    let readers: [(&str, Reader); 3] = [
        ("keepalived.conf", |p| load_keepalived_file(p).map(drop)),
        ("TOML", |p| load_toml_file(p).map(drop)),
        ("ldirectord.cf", |p| load_ldirectord_file(p).map(drop)),
    ];
    for (reader, read) in readers {
        for (path, expect) in &cases {
            let p = path.to_path_buf();
            let errors: Vec<String> = match within(reader, move || read(&p)) {
                Ok(()) => panic!("{reader} read {}", path.display()),
                Err(e) => e.iter().map(ToString::to_string).collect(),
            };
            assert!(
                errors
                    .iter()
                    .any(|e| expect.iter().all(|frag| e.contains(frag))),
                "{reader} on {}: {errors:#?}",
                path.display()
            );
        }
    }
    // heartbeat: ha.cf as a FIFO.
    let hb = heartbeat_dir(HA_CF, HARESOURCES, AUTHKEYS);
    std::fs::remove_file(hb.join("ha.cf")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(hb.join("ha.cf"))
            .status()
            .unwrap()
            .success()
    );
    let opts = Options {
        node: Some("alpha".into()),
        offline: true,
    };
    let e: Vec<String> = load_heartbeat_dir(&hb, &opts)
        .map(drop)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(e.iter().any(|t| t.contains("a FIFO")), "{e:#?}");
}
