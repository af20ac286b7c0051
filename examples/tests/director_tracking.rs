//! keepalived tracking in the model: `track_file` / `vrrp_track_file`, `vrrp_track_process`,
//! `weight W reverse`, `init_fail`, `dont_track_primary` and sync-group tracking, read from a
//! keepalived.conf (the sample `keepalived-tracking.conf`), round-tripped through TOML and
//! built into the runtime configuration with keepalived's weight rules; and the errors and
//! warnings at `file:line:column`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_examples::director::build::{self, Accounts, Built};
use ha_examples::director::model::{
    Config, ParamMatch, TrackFile, TrackFileInit, TrackInterface, TrackProcess, TrackScriptRef,
};
use ha_examples::director::toml_format::{parse_toml, to_toml};
use ha_examples::director::{self, load_keepalived_str};
use ha_failover::core::{
    InstanceId, ParamMatch as CoreParamMatch, TrackRef, TrackerConfig, TrackerId, TrackerKind,
};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("director/keepalived-tracking.conf")
}

fn accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/bash\nkeepalived_script:x:996:995::/nonexistent:/usr/sbin/nologin\n".into(),
        group: "root:x:0:\nkeepalived_script:x:995:\n".into(),
    }
}

fn build_ok(cfg: &Config) -> Built {
    let mut resolve =
        |_: &str, _: bool| -> Result<IpAddr, String> { Ok("192.168.71.2".parse().unwrap()) };
    build::build(cfg, &mut resolve, &accounts()).unwrap_or_else(|e| panic!("{e}"))
}

fn errs(text: &str) -> Vec<String> {
    match load_keepalived_str(text, Path::new("k.conf")) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn has(e: &[String], prefix: &str, what: &str) {
    assert!(
        e.iter().any(|e| e.starts_with(prefix) && e.contains(what)),
        "no error at {prefix} with {what:?}: {e:#?}"
    );
}

fn r(name: &str, weight: Option<i32>, reverse: Option<bool>) -> TrackScriptRef {
    TrackScriptRef {
        name: name.into(),
        weight,
        reverse,
    }
}

#[test]
fn the_tracking_sample_converts_to_the_model() {
    let l = director::load_keepalived_file(&sample()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
    let c = &l.config;

    let s = &c.scripts[0];
    assert_eq!((s.weight, s.reverse, s.init_fail), (-20, true, true));

    assert_eq!(
        c.track_files,
        vec![
            TrackFile {
                name: "maint".into(),
                path: "/run/ha-director/maint".into(),
                weight: -100,
                reverse: false,
                init: Some(TrackFileInit {
                    value: 0,
                    overwrite: false
                }),
            },
            TrackFile {
                name: "bias".into(),
                path: "/run/ha-director/bias".into(),
                weight: 1,
                reverse: false,
                init: None,
            },
            TrackFile {
                name: "stop_all".into(),
                path: "/run/ha-director/stop-all".into(),
                weight: 1,
                reverse: false,
                init: None,
            },
        ]
    );
    assert_eq!(
        c.track_processes,
        vec![
            TrackProcess {
                name: "nginx".into(),
                process: "nginx".into(),
                params: None,
                param_match: None,
                full_command: false,
                weight: 10,
                reverse: false,
                quorum: 2,
                quorum_max: Some(4),
                fork_delay_ms: 1500,
                terminate_delay_ms: 1500,
            },
            TrackProcess {
                name: "worker".into(),
                process: "/usr/bin/python3".into(),
                params: Some(vec!["-m".into(), "worker".into()]),
                param_match: Some(ParamMatch::Partial),
                full_command: false,
                weight: 0,
                reverse: false,
                quorum: 1,
                quorum_max: None,
                fork_delay_ms: 0,
                terminate_delay_ms: 3000,
            },
        ]
    );

    let ext = &c.instances[0];
    assert!(ext.dont_track_primary);
    assert!(!c.instances[1].dont_track_primary);
    assert_eq!(
        ext.track_interfaces,
        vec![TrackInterface {
            name: "eth1".into(),
            weight: 10,
            reverse: true
        }]
    );
    assert_eq!(
        ext.track_scripts,
        vec![r("chk_backup_job", Some(5), Some(false))]
    );
    assert_eq!(
        ext.track_files,
        vec![r("maint", None, None), r("bias", Some(2), Some(true))]
    );
    assert_eq!(ext.track_processes, vec![r("nginx", Some(-254), None)]);

    let g = &c.sync_groups[0];
    assert!(g.tracking_weight);
    assert_eq!(
        g.track_interfaces,
        vec![TrackInterface {
            name: "eth2".into(),
            weight: -5,
            reverse: false
        }]
    );
    assert_eq!(g.track_files, vec![r("stop_all", Some(0), None)]);
    assert_eq!(g.track_processes, vec![r("worker", Some(-10), Some(true))]);
}

#[test]
fn tracking_round_trips_through_toml() {
    let l = director::load_keepalived_file(&sample()).unwrap();
    let text = to_toml(&l.config).unwrap();
    let again = parse_toml(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again, l.config, "{text}");
    for key in [
        "[[track_files]]",
        "[[track_processes]]",
        "init_fail = true",
        "reverse = true",
        "dont_track_primary = true",
        "param_match = \"partial\"",
        "quorum_max = 4",
        "fork_delay_ms = 1500",
    ] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    // And the TOML form loads with validation (names resolve, ranges hold).
    director::load_toml_str(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e:?}"));
}

fn tracker(b: &Built, id: TrackerId) -> TrackerConfig {
    b.config.director.trackers()[id.0 as usize].clone()
}

fn refs(b: &Built, i: u32) -> Vec<(String, i32, bool)> {
    b.config.director.instances()[i as usize]
        .track
        .iter()
        .map(|r: &TrackRef| (tracker(b, r.tracker).name, r.weight, r.reverse))
        .collect()
}

#[test]
fn tracking_builds_trackers_with_weights_reverse_and_group_members() {
    let l = director::load_keepalived_file(&sample()).unwrap();
    let b = build_ok(&l.config);
    let own = |s: &str, w: i32, rev: bool| (s.to_owned(), w, rev);
    assert_eq!(
        refs(&b, 0),
        vec![
            own("interface eth1", 10, true),
            own("chk_backup_job", 5, false),
            own("file maint", -100, false),
            own("file bias", 2, true),
            own("process nginx", -254, false),
            own("interface eth2", -5, false),
            own("file stop_all", 0, false),
            own("process worker", -10, true),
        ]
    );
    // The group's tracking reaches every member.
    assert_eq!(
        refs(&b, 1),
        vec![
            own("interface eth2", -5, false),
            own("file stop_all", 0, false),
            own("process worker", -10, true),
        ]
    );
    let insts = b.config.director.instances();
    assert!(insts[0].dont_track_primary && !insts[1].dont_track_primary);

    let by_name = |n: &str| {
        b.config
            .director
            .trackers()
            .iter()
            .find(|t| t.name == n)
            .cloned()
            .unwrap_or_else(|| panic!("no tracker {n}"))
    };
    let chk = by_name("chk_backup_job");
    assert!(chk.init_fail, "init_fail reaches the tracker");
    assert_eq!(
        by_name("file maint").kind,
        TrackerKind::File {
            path: "/run/ha-director/maint".into()
        }
    );
    let TrackerKind::Process(nginx) = by_name("process nginx").kind else {
        panic!("not a process tracker");
    };
    assert_eq!((nginx.quorum, nginx.quorum_max), (2, 4));
    assert_eq!(nginx.fork_delay, Duration::from_millis(1500));
    assert_eq!(nginx.terminate_delay, Duration::from_millis(1500));
    let TrackerKind::Process(worker) = by_name("process worker").kind else {
        panic!("not a process tracker");
    };
    assert_eq!(worker.param_match, Some(CoreParamMatch::Partial));
    assert_eq!(worker.quorum_max, u32::MAX);
    assert!(worker.matches("python3", b"/usr/bin/python3\0-m\0worker\0--fast\0"));
    assert!(!worker.matches("python3", b"/usr/bin/python3\0-m\0other\0"));

    // The core takes it (weights in range for each kind).
    let d = b.config.director.clone().build(Instant::now()).unwrap();
    assert!(d.instance_config(InstanceId(0)).is_some());
}

const INST: &str = "vrrp_instance VI {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n";

#[test]
fn sync_group_and_owner_rules_for_files_and_group_tracking() {
    // A member of a sync group without sync_group_tracking_weight: a tracked file with weight 1
    // (the default) is read as weight 0, one with another weight is not tracked; the group's
    // own tracking keeps its weights.
    let text = format!(
        "track_file f1 {{\n file /tmp/f1\n}}\ntrack_file f2 {{\n file /tmp/f2\n weight 5\n}}\n\
         vrrp_script s {{\n script /bin/true\n weight 7\n}}\n\
         {INST} track_file {{\n  f1\n  f2\n }}\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI\n }}\n track_script {{\n  s\n }}\n}}\n"
    );
    let l = load_keepalived_str(&text, Path::new("k.conf")).unwrap();
    let b = build_ok(&l.config);
    assert_eq!(
        refs(&b, 0),
        vec![("file f1".to_owned(), 0, false), ("s".to_owned(), 7, false)]
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("file \"f1\": weight 1 read as 0")),
        "{:#?}",
        b.notes
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("file \"f2\" with weight 5 not tracked")),
        "{:#?}",
        b.notes
    );

    // A member with priority 255 makes the group's weights 0; the instance's own interface in
    // track_interface is ignored, as keepalived does.
    let text = format!(
        "vrrp_script s {{\n script /bin/true\n weight 7\n}}\n\
         {}\n track_interface {{\n  eth0 weight 5\n }}\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI\n }}\n track_script {{\n  s\n }}\n}}\n",
        INST.replace("priority 100", "priority 255")
    );
    let l = load_keepalived_str(&text, Path::new("k.conf")).unwrap();
    let b = build_ok(&l.config);
    assert_eq!(refs(&b, 0), vec![("s".to_owned(), 0, false)]);
    assert!(
        b.notes.iter().any(|n| n.contains("own interface")),
        "{:#?}",
        b.notes
    );

    // Tracked by the instance and by its group: the group's weight applies unless the
    // instance's is 0 (keepalived's rule), and one reference remains.
    let text = format!(
        "vrrp_script s {{\n script /bin/true\n weight 7\n}}\n\
         {INST} track_script {{\n  s weight 3\n }}\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI\n }}\n sync_group_tracking_weight\n track_script {{\n  s weight -9 reverse\n }}\n}}\n"
    );
    let l = load_keepalived_str(&text, Path::new("k.conf")).unwrap();
    let b = build_ok(&l.config);
    assert_eq!(refs(&b, 0), vec![("s".to_owned(), -9, true)]);
}

#[test]
fn tracking_errors_and_warnings_are_located() {
    // A track_file without its file; an unknown option in it; a bad weight option.
    let e = errs(&format!(
        "track_file f {{\n weight 2\n}}\ntrack_file g {{\n file /x\n inotify yes\n weight 3 sideways\n}}\n{INST}}}\n"
    ));
    has(&e, "k.conf:1:1:", "`file` needs an argument");
    has(&e, "k.conf:6:2:", "inotify");
    has(&e, "k.conf:7:2:", "sideways");
    // A process tracker without a process, quorum above quorum_max, a delay of 0.
    let e = errs(&format!(
        "vrrp_track_process p {{\n weight 2\n}}\nvrrp_track_process q {{\n process x\n quorum 5\n quorum_max 3\n delay 0\n}}\n{INST}}}\n"
    ));
    has(&e, "k.conf:1:1:", "`process` needs an argument");
    has(&e, "k.conf:4:1:", "quorum 5 > quorum_max 3");
    has(&e, "k.conf:8:2:", "`delay`");
    // Weights out of range in a track_* block.
    let e = errs(&format!(
        "track_file f {{\n file /x\n}}\n{INST} track_file {{\n  f weight 255\n }}\n track_interface {{\n  eth1 weight 10 backwards\n }}\n}}\n"
    ));
    has(&e, "k.conf:12:3:", "255");
    has(&e, "k.conf:15:3:", "backwards");
    // track_src_ip and track_bfd cannot be honoured: errors at the keyword.
    let e = errs(&format!(
        "{INST} track_src_ip\n track_bfd {{\n  b\n }}\n}}\n"
    ));
    has(&e, "k.conf:8:2:", "`track_src_ip` cannot be honoured");
    has(&e, "k.conf:9:2:", "`track_bfd` cannot be honoured");
    // An undefined tracked process, from a sync group.
    let e = errs(&format!(
        "{INST}}}\nvrrp_sync_group G {{\n group {{\n  VI\n }}\n track_process {{\n  nope\n }}\n}}\n"
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("sync group \"G\"") && e.contains("unknown track process \"nope\"")),
        "{e:#?}"
    );
    // A vrrp_script weight outside -253..=253 is an error (keepalived: "must be in
    // [-253, 253]"), so is `noreverse` there.
    let e = errs(&format!(
        "vrrp_script s {{\n script /bin/true\n weight -254\n}}\nvrrp_script t {{\n script /bin/true\n weight 3 noreverse\n}}\n{INST}}}\n"
    ));
    has(&e, "k.conf:3:2:", "-254");
    has(&e, "k.conf:7:2:", "noreverse");
    // Harmless: +-254 in a track_script entry is read as +-253 (keepalived does the same), and
    // a process name longer than the kernel's 15 bytes never matches; both warnings with their
    // place.
    let l = load_keepalived_str(
        &format!(
            "vrrp_script s {{\n script /bin/true\n}}\nvrrp_track_process p {{\n process a-very-long-process-name\n}}\n{INST} track_script {{\n  s weight -254\n }}\n}}\n"
        ),
        Path::new("k.conf"),
    )
    .unwrap();
    assert_eq!(l.config.instances[0].track_scripts[0].weight, Some(-253));
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("k.conf:15:3:") && w.contains("-253")),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("k.conf:4:1:") && w.contains("15-byte")),
        "{w:#?}"
    );
    // quorum_max 0: up while none runs (quorum becomes 0).
    let l = load_keepalived_str(
        &format!("vrrp_track_process p {{\n process x\n quorum_max 0\n}}\n{INST}}}\n"),
        Path::new("k.conf"),
    )
    .unwrap();
    assert_eq!(
        (
            l.config.track_processes[0].quorum,
            l.config.track_processes[0].quorum_max
        ),
        (0, Some(0))
    );
}

#[test]
fn init_file_creates_or_overwrites_the_file() {
    let dir = std::env::temp_dir().join(format!("ha-trk-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::write(&b, "9\n").unwrap();
    let mut cfg = Config::default();
    for (name, path, overwrite) in [("a", &a, false), ("b", &b, true)] {
        cfg.track_files.push(TrackFile {
            name: name.into(),
            path: path.display().to_string(),
            weight: 1,
            reverse: false,
            init: Some(TrackFileInit {
                value: -4,
                overwrite,
            }),
        });
    }
    // A reload creates a missing file but overwrites nothing.
    assert!(build::init_track_files(&cfg, true).is_empty());
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "-4\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "9\n");
    std::fs::write(&a, "7\n").unwrap();
    // A start overwrites only with `overwrite`.
    assert!(build::init_track_files(&cfg, false).is_empty());
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "7\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "-4\n");
    // A directory where the file should be: reported, not a panic.
    cfg.track_files[1].path = dir.display().to_string();
    let p = build::init_track_files(&cfg, false);
    assert!(p.len() == 1 && p[0].contains("not a regular file"), "{p:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_commented_toml_example_tracks_files_and_processes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("director/ha-director.toml");
    let l = director::load_toml_file(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let c = &l.config;
    assert_eq!(c.track_files[0].name, "maint");
    assert_eq!(c.track_processes[0].process, "haproxy");
    assert_eq!(c.instances[0].track_files, vec![r("maint", Some(0), None)]);
    assert_eq!(
        c.instances[0].track_processes,
        vec![r("haproxy", None, None)]
    );
    let b = build_ok(c);
    assert!(
        b.config
            .director
            .trackers()
            .iter()
            .any(|t| matches!(t.kind, TrackerKind::Process(_))),
        "a process tracker is built"
    );
}
