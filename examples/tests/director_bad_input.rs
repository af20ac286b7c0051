//! Bad input, table-driven: for every configuration reader (TOML, keepalived.conf, heartbeat's
//! ha.cf / haresources / authkeys, ldirectord.cf), malformed files and the error each must
//! give, with the place (`file:line:column`) and the words that say what is wrong. Plus the
//! file-level cases every reader shares: binary garbage, huge files, a directory, a FIFO and
//! a device where a file is expected (`include /dev/zero` must not read forever).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

#[path = "common/bad_input.rs"]
mod bad_input;

use bad_input::*;
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

#[test]
fn keepalived_conf_table() {
    for case in KEEPALIVED {
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

#[test]
fn toml_table() {
    for case in TOML {
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
    for case in LDIRECTORD {
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

#[test]
fn heartbeat_table() {
    let opts = Options {
        node: Some("alpha".into()),
        offline: true,
    };
    for case in HEARTBEAT {
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
