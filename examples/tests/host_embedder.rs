//! Host suite: an outside program embeds the crates. `embedder/` (`vrrp-embed`, not a member
//! of the workspace) is built as a user builds it: against the crates as `cargo package` makes
//! them (what crates.io would serve), by version, with its own mio loop and no tokio. It then
//! runs VRRPv3 with real keepalived as its peer on a namespaced link, in both roles, with a
//! crash, a preemption and a graceful stop; tshark judges the wire.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_testsupport::{
    Host, Lab, Proc, format_mac, require_root, require_tool, tshark_fields, wait_until,
};

const VIP: &str = "10.93.0.100";
const PORT: u16 = 7000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ is in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Packages ha-vrrp-proto and ha-arp, unpacks the `.crate` files and builds `vrrp-embed`
/// against them (`[patch.crates-io]` on the command line); returns the binary.
fn build_embedder() -> PathBuf {
    let root = workspace();
    let target = root.join("target").join("embedder");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["package", "-p", "ha-vrrp-proto", "-p", "ha-arp"])
            .args(["--no-verify", "--allow-dirty", "--target-dir"])
            .arg(&target),
        "cargo package",
    );
    let unpacked = target.join("package").join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    let mut patches = Vec::new();
    for krate in ["ha-vrrp-proto", "ha-arp"] {
        let file = target
            .join("package")
            .join(format!("{krate}-{}.crate", env!("CARGO_PKG_VERSION")));
        run(
            Command::new("tar")
                .arg("xzf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked),
            "unpacking a packaged crate",
        );
        let dir = unpacked.join(format!("{krate}-{}", env!("CARGO_PKG_VERSION")));
        patches.push(format!(
            "patch.crates-io.{krate}.path={:?}",
            dir.display().to_string()
        ));
    }
    let manifest = root.join("embedder").join("Cargo.toml");
    // `sub` is the subcommand and its options; `tail` goes after `--` (to the compiler).
    let cargo_cmd = |sub: &[&str], tail: &[&str]| {
        let mut c = Command::new(&cargo);
        c.args(sub)
            .arg("--manifest-path")
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target);
        for p in &patches {
            c.args(["--config", p]);
        }
        if !tail.is_empty() {
            c.arg("--").args(tail);
        }
        c
    };
    run(
        &mut cargo_cmd(&["build", "--release"], &[]),
        "building vrrp-embed",
    );
    run(
        &mut cargo_cmd(&["clippy", "--release"], &["-D", "warnings"]),
        "clippy on vrrp-embed",
    );
    // The two crates come from the packages, and nothing pulls in tokio.
    let tree = run(
        &mut cargo_cmd(&["tree", "-e", "normal", "--prefix", "none"], &[]),
        "cargo tree",
    );
    assert!(
        !tree.lines().any(|l| l.starts_with("tokio ")),
        "vrrp-embed depends on tokio:\n{tree}"
    );
    for krate in ["ha-vrrp-proto", "ha-arp"] {
        assert!(
            tree.lines()
                .any(|l| l.starts_with(&format!("{krate} v")) && l.contains("unpacked")),
            "{krate} is not the packaged copy:\n{tree}"
        );
    }
    target.join("release").join("vrrp-embed")
}

fn embedder(lab: &mut Lab, bin: &Path, host: &Host, source: &str, priority: u8) -> Proc {
    let prio = priority.to_string();
    let port = PORT.to_string();
    let name = format!("embed-{}", host.name());
    lab.spawn(
        host,
        &[
            bin.to_str().unwrap(),
            "--interface",
            "eth0",
            "--source",
            source,
            "--vrid",
            "93",
            "--priority",
            &prio,
            "--interval-ms",
            "100",
            "--vip",
            VIP,
            "--port",
            &port,
            "--name",
            &name,
        ],
    )
}

fn keepalived(lab: &mut Lab, host: &Host, priority: u8) -> Proc {
    require_tool("keepalived", "keepalived");
    let dir = lab.dir().join("ka");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id ka\n  vrrp_garp_master_repeat 1\n}}\n\
             vrrp_instance VI_93 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 93\n  \
             version 3\n  priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
        ),
    )
    .unwrap();
    lab.spawn_keepalived(host, &conf)
}

/// What the service on the VIP answers, seen from `client` (None: nothing answers).
fn greeting(client: &Host) -> Option<String> {
    client.run_in(|| {
        let addr: SocketAddr = format!("{VIP}:{PORT}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text.trim().to_string())
    })
}

fn wait_holder(holder: &Host, other: &Host, within: Duration, why: &str) -> Duration {
    let t = Instant::now();
    assert!(
        wait_until(within, || holder.holds(VIP) && !other.holds(VIP)),
        "{why}: after {within:?} {} holds {VIP}: {}, {} holds it: {}",
        holder.name(),
        holder.holds(VIP),
        other.name(),
        other.holds(VIP)
    );
    t.elapsed()
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_embedder_built_from_packages_fails_over_with_keepalived() {
    require_root();
    require_tool("tshark", "tshark");
    let bin = build_embedder();

    let mut lab = Lab::new("embed");
    let a = lab.add_host("a", &["10.93.0.1/24"]);
    let k = lab.add_host("k", &["10.93.0.2/24"]);
    let c = lab.add_host("c", &["10.93.0.3/24"]);
    let cap = lab.capture(&c, "eth0", Some("arp or ip proto 112"));

    // 1. The embedder (150) against keepalived (100): the embedder is master, its service
    //    answers on the VIP, and keepalived stays backup (it accepts the embedder's adverts).
    let ka = keepalived(&mut lab, &k, 100);
    let emb = embedder(&mut lab, &bin, &a, "10.93.0.1", 150);
    wait_holder(&a, &k, Duration::from_secs(5), "the embedder is master");
    assert_eq!(
        greeting(&c).as_deref(),
        Some("embed-a"),
        "the service answers"
    );
    assert!(
        !wait_until(Duration::from_millis(700), || k.holds(VIP)),
        "keepalived took the VIP from a live master"
    );

    // 2. Crash: keepalived takes over within its Master_Down_Interval (3 x 100 ms + skew)
    //    plus slack, and the embedder's address is gone with it (the kernel keeps addresses
    //    of a killed process: the restart below must find and keep working with it).
    emb.kill(libc::SIGKILL);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || k.holds(VIP)),
        "keepalived takes over after the embedder's crash"
    );
    let crash_takeover = t.elapsed();
    a.sh(&format!("ip addr del {VIP}/32 dev eth0"));

    // 3. The embedder restarts with the higher priority and preempts (RFC 9568 section 6.4.2):
    //    keepalived hears priority 150 and gives the VIP back.
    emb.restart();
    wait_holder(&a, &k, Duration::from_secs(5), "the embedder preempts");
    assert!(
        wait_until(Duration::from_secs(2), || greeting(&c).as_deref()
            == Some("embed-a")),
        "the service answers again after the preemption"
    );

    // 4. Graceful stop: the embedder sends priority 0, removes the VIP and exits; keepalived
    //    takes over after Skew_Time, well before Master_Down_Interval.
    let t = Instant::now();
    emb.kill(libc::SIGTERM);
    assert!(
        emb.wait_exit(Duration::from_secs(3)),
        "the embedder exits on SIGTERM"
    );
    assert!(
        !a.holds(VIP),
        "the embedder left the VIP behind after SIGTERM"
    );
    assert!(
        wait_until(Duration::from_secs(2), || k.holds(VIP)),
        "keepalived takes over after priority 0"
    );
    let graceful_takeover = t.elapsed();

    // 5. The embedder as backup (50) behind keepalived: it stays backup, then takes over when
    //    keepalived dies, adds the VIP and announces it with gratuitous ARP from its own MAC.
    let low = embedder(&mut lab, &bin, &a, "10.93.0.1", 50);
    // It runs (and says it is a backup) before the window in which it must not take over.
    assert!(
        wait_until(Duration::from_secs(5), || low
            .stdout()
            .contains("-> BecomeBackup")),
        "the low-priority embedder did not start as backup: {}{}",
        low.stdout(),
        low.stderr()
    );
    assert!(
        !wait_until(Duration::from_millis(1500), || a.holds(VIP)),
        "the backup embedder took the VIP from keepalived"
    );
    ka.kill(libc::SIGKILL);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || a.holds(VIP)),
        "the embedder takes over after keepalived's crash: {}",
        low.stdout()
    );
    let backup_takeover = t.elapsed();
    assert!(
        wait_until(Duration::from_secs(2), || greeting(&c).as_deref()
            == Some("embed-a")),
        "the service answers on the VIP after the embedder's takeover"
    );
    low.kill(libc::SIGTERM);
    assert!(low.wait_exit(Duration::from_secs(3)));

    let pcap = cap.stop();
    let a_mac = format_mac(a.mac());
    let garps = tshark_fields(
        &pcap,
        "arp.isgratuitous == 1",
        &["arp.src.proto_ipv4", "arp.src.hw_mac"],
    );
    assert!(
        garps.iter().any(|r| r[0] == VIP && r[1] == a_mac),
        "gratuitous ARP for {VIP} from the embedder ({a_mac}): {garps:?}"
    );
    let adverts = tshark_fields(
        &pcap,
        "vrrp && ip.src == 10.93.0.1",
        &["vrrp.prio", "ip.ttl", "vrrp.version"],
    );
    assert!(
        adverts.iter().any(|r| r[0] == "150"),
        "no priority-150 advert from the embedder on the wire"
    );
    assert!(
        adverts.iter().any(|r| r[0] == "0"),
        "no priority-0 advert from the embedder's graceful stop"
    );
    assert!(
        adverts.iter().all(|r| r[1] == "255" && r[2] == "3"),
        "every advert is VRRPv3 with TTL 255: {adverts:?}"
    );
    // Loose bounds: Master_Down_Interval is about 0.35 s; the holds() polling adds its own.
    assert!(
        crash_takeover < Duration::from_millis(2500),
        "{crash_takeover:?}"
    );
    assert!(
        backup_takeover < Duration::from_millis(2500),
        "{backup_takeover:?}"
    );
    assert!(
        graceful_takeover < Duration::from_millis(2500),
        "{graceful_takeover:?}"
    );
    println!(
        "keepalived took over {crash_takeover:?} after the embedder's crash and \
         {graceful_takeover:?} after its SIGTERM; the embedder took over {backup_takeover:?} \
         after keepalived's crash"
    );
}
