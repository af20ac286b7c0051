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

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_keepalived_conf_bad_input_keeps_the_running_configuration() {
    let (mut lab, h, dir) = lab("rbk");
    let conf = dir.join("k.conf");
    put(&conf, Content::Text(VI));
    let (p, sock) = start(
        &mut lab,
        &h,
        &["--keepalived-conf", conf.to_str().unwrap()],
        &dir,
    );
    assert!(
        wait_until(Duration::from_secs(10), || h.holds(VIP)),
        "{}",
        p.stderr()
    );
    let mut cases = text_cases(KEEPALIVED, &conf);
    cases.extend(file_level(&conf));
    refuse_each(
        "keepalived.conf",
        &p,
        &sock,
        "k.conf",
        &cases,
        &kept(&h, &sock),
    );
    put(
        &conf,
        Content::Text(&VI.replace("priority 100", "priority 120")),
    );
    applies("keepalived.conf", &p, &sock, |s| {
        s["instances"][0]["base_priority"] == 120
    });
    // A priority change alone is taken in place: the VIP stays.
    assert!(h.holds(VIP), "{}", p.stderr());
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_reload_toml_bad_input_keeps_the_running_configuration() {
    let (mut lab, h, dir) = lab("rbt");
    let conf = dir.join("d.toml");
    put(&conf, Content::Text(TOML_OK));
    let (p, sock) = start(&mut lab, &h, &["--config", conf.to_str().unwrap()], &dir);
    assert!(
        wait_until(Duration::from_secs(10), || h.holds(VIP)),
        "{}",
        p.stderr()
    );
    let mut cases = text_cases(TOML, &conf);
    cases.extend(file_level(&conf));
    refuse_each("TOML", &p, &sock, "d.toml", &cases, &kept(&h, &sock));
    put(&conf, Content::Text(&format!("{TOML_OK}priority = 120\n")));
    applies("TOML", &p, &sock, |s| {
        s["instances"][0]["base_priority"] == 120
    });
    // A priority change alone is taken in place: the VIP stays.
    assert!(h.holds(VIP), "{}", p.stderr());
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
