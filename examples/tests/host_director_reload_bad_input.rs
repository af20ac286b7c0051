//! Host suite: every malformed file of the bad-input tables (`bad_input`), and the file-level
//! cases (binary garbage, a file over the size limit, a FIFO where the file was), given to a
//! running `ha-director` as a reload (SIGHUP), for the TOML, keepalived.conf and heartbeat
//! readers. Each reload must be refused with the error the table names (its place and its
//! words, in the log and as `reloads.last_error` in the status), counted in
//! `reloads.refused`, and the running configuration kept: the director still runs, the VIP
//! stays where it was, the instances, their state, priority and transition counts are
//! unchanged. A valid edit afterwards is applied. (ldirectord.cf needs IPVS: `vm_ldirectord`.)

#[path = "common/bad_input.rs"]
mod bad_input;
#[path = "common/reload.rs"]
mod reload;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bad_input::{AUTHKEYS, HA_CF, HARESOURCES, HEARTBEAT, KEEPALIVED, TOML, TOML_OK, VI};
use ha_testsupport::{Host, Lab, require_root, wait_until};
use reload::{
    Content, Reload, applies, file_level, put, refuse_each, running_config, start, status,
    text_cases,
};
use serde_json::{Value, json};

const VIP: &str = "10.0.0.100";

/// What a refused reload must not change here: the instances (see `running_config`) and
/// whether this host holds the VIP.
fn kept<'a>(h: &'a Host, sock: &'a Path) -> impl Fn() -> Value + 'a {
    move || json!([running_config(&status(sock)), h.holds(VIP)])
}

/// A lab with one director host on 10.0.0.0/24 (the tables' VIP is 10.0.0.100 on eth0).
fn lab(tag: &str) -> (Lab, Host, PathBuf) {
    require_root();
    let mut lab = Lab::new(tag);
    let h = lab.add_host("d", &["10.0.0.1/24"]);
    let dir = lab.dir().to_path_buf();
    (lab, h, dir)
}

/// One reader of one file: the director runs `good` (read with `flag`), every case of
/// `table` and the file-level ones are refused as reloads, then `changed` (the same with
/// priority 120) is applied in place, the VIP staying.
fn one_file_reader(
    tag: &str,
    reader: &str,
    file: &str,
    flag: &str,
    good: &str,
    changed: &str,
    table: &'static [bad_input::Case],
) {
    let (mut lab, h, dir) = lab(tag);
    let conf = dir.join(file);
    put(&conf, Content::Text(good));
    let (p, sock) = start(&mut lab, &h, &[flag, conf.to_str().unwrap()], &dir);
    assert!(
        wait_until(Duration::from_secs(10), || h.holds(VIP)),
        "{}",
        p.stderr()
    );
    let mut cases = text_cases(table, &conf);
    cases.extend(file_level(&conf));
    refuse_each(reader, &p, &sock, file, &cases, &kept(&h, &sock));
    put(&conf, Content::Text(changed));
    applies(reader, &p, &sock, |s| {
        s["instances"][0]["base_priority"] == 120
    });
    // A priority change alone is taken in place: the VIP stays.
    assert!(h.holds(VIP), "{}", p.stderr());
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_keepalived_conf_bad_input_keeps_the_running_configuration() {
    one_file_reader(
        "rbk",
        "keepalived.conf",
        "k.conf",
        "--keepalived-conf",
        VI,
        &VI.replace("priority 100", "priority 120"),
        KEEPALIVED,
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_toml_bad_input_keeps_the_running_configuration() {
    one_file_reader(
        "rbt",
        "TOML",
        "d.toml",
        "--config",
        TOML_OK,
        &format!("{TOML_OK}priority = 120\n"),
        TOML,
    );
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_heartbeat_bad_input_keeps_the_running_configuration() {
    let (mut lab, h, dir) = lab("rbh");
    let hb = dir.join("hb");
    std::fs::create_dir_all(&hb).unwrap();
    let write_all = {
        let hb = hb.clone();
        move |files: [&'static str; 3]| {
            for (name, text) in ["ha.cf", "haresources", "authkeys"].iter().zip(files) {
                put(&hb.join(name), Content::Text(text));
            }
            std::fs::set_permissions(hb.join("authkeys"), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
    };
    write_all([HA_CF, HARESOURCES, AUTHKEYS]);
    let (p, sock) = start(
        &mut lab,
        &h,
        &["--heartbeat-dir", hb.to_str().unwrap(), "--node", "alpha"],
        &dir,
    );
    // Alone, it takes its group after deadtime (10 s): wait, so no state changes below.
    assert!(
        wait_until(Duration::from_secs(25), || h.holds(VIP)),
        "{}",
        p.stderr()
    );
    let mut cases: Vec<Reload> = HEARTBEAT
        .iter()
        .map(|c| {
            let files = c.files;
            let write_all = write_all.clone();
            Reload {
                name: c.name,
                write: Box::new(move || write_all(files)),
                expect: c.expect,
            }
        })
        .collect();
    // heartbeat's file-level cases on ha.cf, each with the other two files valid.
    for mut c in file_level(&hb.join("ha.cf")) {
        let write = c.write;
        let write_all = write_all.clone();
        c.write = Box::new(move || {
            write_all([HA_CF, HARESOURCES, AUTHKEYS]);
            write();
        });
        cases.push(c);
    }
    refuse_each("heartbeat", &p, &sock, "hb/", &cases, &kept(&h, &sock));
    write_all([HA_CF, HARESOURCES, AUTHKEYS]);
    applies("heartbeat", &p, &sock, |_| true);
}
