//! Reloads of malformed files given to a running `ha-director`, shared by
//! `host_director_reload_bad_input` (TOML, keepalived.conf, heartbeat) and `vm_ldirectord`
//! (ldirectord.cf, which needs IPVS). Each test uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use ha_examples::director::MAX_CONFIG_BYTES;
use ha_testsupport::{Host, Lab, Proc, director_status, wait_until};
use serde_json::{Value, json};

use crate::bad_input;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");

/// What one malformed reload writes where the configuration was.
#[derive(Clone, Copy)]
pub enum Content<'a> {
    /// This text.
    Text(&'a str),
    /// 4 KiB that are not UTF-8.
    Garbage,
    /// A sparse file one byte over the limit.
    Huge,
    /// A FIFO: a reader that opened it would wait forever.
    Fifo,
}

/// Replaces whatever is at `path` (file or FIFO) with `c`.
pub fn put(path: &Path, c: Content<'_>) {
    let _ = std::fs::remove_file(path);
    match c {
        Content::Text(t) => std::fs::write(path, t).unwrap(),
        Content::Garbage => {
            let bytes: Vec<u8> = (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
                .collect();
            std::fs::write(path, bytes).unwrap();
        }
        Content::Huge => std::fs::File::create(path)
            .unwrap()
            .set_len(MAX_CONFIG_BYTES + 1)
            .unwrap(),
        Content::Fifo => assert!(
            std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap()
                .success()
        ),
    }
}

/// One malformed reload: its name, what to write, and the fragments one logged error (and,
/// for `last_error`, the first) must contain.
pub struct Reload {
    /// What is wrong, in a few words.
    pub name: &'static str,
    /// Writes it where the configuration is.
    pub write: Box<dyn Fn()>,
    /// Every fragment one logged error must contain (the last one also `last_error`).
    pub expect: &'static [&'static str],
}

/// The file-level cases for the file at `path`.
pub fn file_level(path: &Path) -> Vec<Reload> {
    let cases: [(&'static str, Content<'static>, &'static [&'static str]); 3] = [
        ("binary garbage", Content::Garbage, &["UTF-8"]),
        ("over the size limit", Content::Huge, &["larger than"]),
        ("a FIFO", Content::Fifo, &["a FIFO"]),
    ];
    cases
        .into_iter()
        .map(|(name, c, expect)| {
            let p = path.to_path_buf();
            Reload {
                name,
                write: Box::new(move || put(&p, c)),
                expect,
            }
        })
        .collect()
}

pub fn status(sock: &Path) -> Value {
    director_status(BIN, sock).unwrap_or(Value::Null)
}

/// What a refused reload must not change: each instance's name, state, priority and
/// transition count.
pub fn running_config(s: &Value) -> Value {
    let instances = s["instances"].as_array().cloned().unwrap_or_default();
    json!(
        instances
            .iter()
            .map(|i| json!([i["name"], i["state"], i["base_priority"], i["transitions"]]))
            .collect::<Vec<_>>()
    )
}

pub fn start(lab: &mut Lab, host: &Host, source: &[&str], dir: &Path) -> (Proc, PathBuf) {
    let sock = dir.join("d.sock");
    let control = dir.join("d.control.sock");
    let mut argv = vec![BIN, "run"];
    argv.extend_from_slice(source);
    argv.extend_from_slice(&[
        "--status-socket",
        sock.to_str().unwrap(),
        "--control-socket",
        control.to_str().unwrap(),
    ]);
    let p = lab.spawn(host, &argv);
    assert!(
        wait_until(Duration::from_secs(15), || status(&sock)["reloads"]
            .is_object()),
        "the director never served its status\n{}",
        p.stderr()
    );
    (p, sock)
}

/// Gives each malformed reload to the running director and checks it is refused and changes
/// nothing: `kept` says what must stay the same (it is compared before and after each);
/// `file` is what every error's place starts with.
pub fn refuse_each(
    reader: &str,
    p: &Proc,
    sock: &Path,
    file: &str,
    cases: &[Reload],
    kept: &dyn Fn() -> Value,
) {
    let before = status(sock);
    let want = kept();
    let applied = before["reloads"]["applied"].as_u64().unwrap();
    let refused0 = before["reloads"]["refused"].as_u64().unwrap();
    for (n, case) in cases.iter().enumerate() {
        let logged = p.stderr().len();
        (case.write)();
        p.signal(libc::SIGHUP);
        let refused = refused0 + n as u64 + 1;
        assert!(
            wait_until(
                Duration::from_secs(15),
                || status(sock)["reloads"]["refused"] == refused
            ),
            "{reader} / {}: the reload was not refused within 15 s (reloads: {})\n{}",
            case.name,
            status(sock)["reloads"],
            p.stderr()
        );
        let s = status(sock);
        let err = p.stderr();
        let new = &err[logged.min(err.len())..];
        assert!(
            new.lines()
                .any(|l| case.expect.iter().all(|frag| l.contains(frag))),
            "{reader} / {}: no logged error contains all of {:?}:\n{new}",
            case.name,
            case.expect
        );
        let last = s["reloads"]["last_error"].as_str().unwrap_or_default();
        assert!(
            last.contains(file) && last.contains(case.expect[case.expect.len() - 1]),
            "{reader} / {}: reloads.last_error {last:?} does not name {file} and {:?}",
            case.name,
            case.expect
        );
        assert!(
            p.is_running(),
            "{reader} / {}: the director stopped",
            case.name
        );
        assert_eq!(
            s["reloads"]["applied"], applied,
            "{reader} / {}: {s}",
            case.name
        );
        assert_eq!(
            kept(),
            want,
            "{reader} / {}: the running configuration changed",
            case.name
        );
    }
}

/// Restores a valid configuration and checks that the reload is applied.
pub fn applies(reader: &str, p: &Proc, sock: &Path, check: impl Fn(&Value) -> bool) {
    let applied = status(sock)["reloads"]["applied"].as_u64().unwrap();
    p.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(15), || {
            let s = status(sock);
            s["reloads"]["applied"] == applied + 1 && check(&s)
        }),
        "{reader}: the valid reload was not applied: {}\n{}",
        status(sock),
        p.stderr()
    );
}

pub fn text_cases(cases: &'static [bad_input::Case], path: &Path) -> Vec<Reload> {
    cases
        .iter()
        .map(|c| {
            let p = path.to_path_buf();
            Reload {
                name: c.name,
                write: Box::new(move || put(&p, Content::Text(c.text))),
                expect: c.expect,
            }
        })
        .collect()
}
