//! Test support for the host network suite and the VM suite.
//!
//! A [`Lab`] is a small network of hosts, each a Linux network namespace with one interface
//! (`eth0`) plugged into a bridge. The bridge lives in a namespace of its own (the "switch"), so a
//! test never touches the machine's own interfaces and deleting the lab's namespaces removes
//! everything it made.
//!
//! ```no_run
//! use ha_testsupport::{Lab, require_root};
//! require_root();
//! let mut lab = Lab::new("doc");
//! let a = lab.add_host("a", &["10.9.0.1/24"]);
//! let b = lab.add_host("b", &["10.9.0.2/24"]);
//! let cap = lab.capture(&b, "eth0", Some("icmp"));
//! a.sh("ping -c 1 -W 1 10.9.0.2");
//! let pcap = cap.stop();
//! let rows = ha_testsupport::tshark_fields(&pcap, "icmp", &["icmp.type"]);
//! assert!(!rows.is_empty());
//! ```
//!
//! Names are unique per run: every namespace is called `hat-<pid>-<lab>-<host>`, and a lab's
//! constructor deletes the namespaces of earlier runs whose process is gone (a crashed test's
//! leftovers). Cleanup runs on drop, which also runs while a test panics.
//!
//! Also: [`alloc::CountingAlloc`], the counting global allocator of the zero-allocation tests.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod alloc;
pub mod frr;
pub mod pcap;
mod process;
mod sys;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use process::Proc;

/// Prefix of every namespace this crate makes.
const PREFIX: &str = "hat-";

/// How long a command run with [`Host::exec`] may take before it is killed.
const EXEC_CAP: Duration = Duration::from_secs(30);

/// How long [`Capture::stop`] waits for dumpcap to hand over the packets it holds.
const CAPTURE_FLUSH: Duration = Duration::from_millis(1100);

/// How long [`Lab::capture`] waits after tshark reports that it captures.
const CAPTURE_SETTLE: Duration = Duration::from_millis(500);

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Panics with the reason unless the process runs as root and `ip` (iproute2) is available.
///
/// Host network tests call this first so that a missing privilege is a failure that names its
/// cause, never a silent pass.
pub fn require_root() {
    if !sys::is_root() {
        panic!(
            "host suite needs root (uid 0) to create network namespaces; run `cargo xtask test` as root"
        );
    }
    if !tool_exists("ip") {
        panic!("host suite needs `ip` from iproute2: apt-get install -y iproute2");
    }
}

/// True when running inside the test VM (`cargo xtask test` sets `HA_VM=1` there).
pub fn in_vm() -> bool {
    std::env::var_os("HA_VM").is_some_and(|v| v == "1")
}

/// Panics with the reason unless running inside the test VM.
pub fn require_vm() {
    if !in_vm() {
        panic!(
            "vm suite test: needs the VM kernel (HA_VM=1 is not set); run it with `cargo xtask test` or `cargo xtask vm`"
        );
    }
    require_root();
}

/// Loads kernel modules with `modprobe`, panicking with modprobe's message on failure.
pub fn modprobe(modules: &[&str]) {
    for m in modules {
        let out = run(Command::new("modprobe").arg(m));
        if !out.status.success() {
            panic!(
                "modprobe {m} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

/// Polls `cond` every 10 ms until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a program is on `PATH`.
pub fn tool_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        || Path::new("/usr/sbin").join(name).is_file()
        || Path::new("/sbin").join(name).is_file()
}

/// Runs a command to completion with [`EXEC_CAP`] as an upper bound, capturing its output.
fn run(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    process::wait_with_cap(child, EXEC_CAP, &desc)
}

/// Runs a command and panics with its stderr unless it exits 0.
fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    if !out.status.success() {
        panic!(
            "{desc} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out
}

fn ip(args: &[&str]) -> Output {
    run_ok(Command::new("ip").args(args))
}

/// A host of a [`Lab`]: a network namespace with `eth0` on the lab's bridge.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    netns: String,
    port: String,
    mac: [u8; 6],
    ifindex: u32,
}

impl Host {
    /// The host's short name, as given to [`Lab::add_host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network namespace's name (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The host's interface name inside its namespace (`eth0`).
    pub fn ifname(&self) -> &str {
        "eth0"
    }

    /// The MAC address of the host's `eth0`.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The ifindex of `eth0` inside the host's namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// A command that runs `argv` inside this host's namespace (not yet started).
    pub fn command(&self, argv: &[&str]) -> Command {
        assert!(!argv.is_empty(), "empty argv");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).args(argv);
        cmd
    }

    /// Runs `argv` inside the namespace and waits (at most 30 s) for it; any exit status.
    pub fn exec(&self, argv: &[&str]) -> Output {
        run(&mut self.command(argv))
    }

    /// Runs `sh -c script` inside the namespace; panics with stderr unless it exits 0.
    /// Returns stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = run_ok(&mut self.command(&["sh", "-c", script]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `f` on a new thread that has entered this host's network namespace, and returns
    /// its result (a panic in `f` is re-raised here).
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.netns);
        let handle = std::thread::spawn(move || {
            sys::enter_netns(Path::new(&path))
                .unwrap_or_else(|e| panic!("cannot enter network namespace {path}: {e}"));
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The first IPv4 or IPv6 address of `eth0` as `ip` prints it (`10.0.0.1/24`), if any.
    pub fn addresses(&self) -> Vec<String> {
        let text = self.sh("ip -o addr show dev eth0 scope global");
        text.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.position(|w| w == "inet" || w == "inet6")?;
                it.next().map(str::to_owned)
            })
            .collect()
    }
    /// SIGKILLs every process of this host's network namespace (a crash of the whole node)
    /// but the caller; returns how many were signalled.
    pub fn kill_all(&self) -> usize {
        let out = run(Command::new("ip").args(["netns", "pids", &self.netns]));
        let me = std::process::id() as i32;
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|p| *p != me && *p > 1)
            .collect();
        for pid in &pids {
            sys::kill_pid(*pid, libc::SIGKILL);
        }
        pids.len()
    }

    /// Whether `eth0` holds `addr` (any scope), as a VRRP master holds its VIP.
    pub fn holds(&self, addr: &str) -> bool {
        self.sh("ip -o addr show dev eth0")
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }
}

/// A capture running `tshark` on one interface of one host.
#[derive(Debug)]
pub struct Capture {
    proc: Option<Proc>,
    file: PathBuf,
}

impl Capture {
    /// Stops the capture and returns the pcap file's path.
    ///
    /// dumpcap reads the kernel's packet ring in blocks that are handed over when full or after
    /// a block timeout, and a SIGINT loses the block in progress; so this waits out one block
    /// timeout before interrupting (SIGINT, so the file is closed properly).
    pub fn stop(mut self) -> PathBuf {
        if let Some(p) = self.proc.take() {
            std::thread::sleep(CAPTURE_FLUSH);
            p.signal(libc::SIGINT);
            if !p.wait_exit(Duration::from_secs(10)) {
                p.kill(libc::SIGKILL);
            }
        }
        self.file.clone()
    }

    /// The pcap file being written.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

/// Runs `tshark -r pcap -Y filter -T fields -e f1 -e f2 ...` and returns one row of field
/// values per matching packet (missing fields are empty strings).
pub fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    require_tool("tshark", "tshark");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Runs `tshark -r pcap -V -Y filter` and returns the full dissection.
pub fn tshark_verbose(pcap: &Path, filter: &str) -> String {
    require_tool("tshark", "tshark");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(["-V", "-Y", filter]);
    String::from_utf8_lossy(&run_ok(&mut cmd).stdout).into_owned()
}

/// A running director's JSON status, read with `BIN status --socket SOCK` (the
/// `ha-director` binary under test); `None` when none answers there or the reply is not JSON.
pub fn director_status(bin: &str, sock: &Path) -> Option<serde_json::Value> {
    let o = Command::new(bin)
        .arg("status")
        .arg("--socket")
        .arg(sock)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

/// Panics with the install command unless `tool` is available.
pub fn require_tool(tool: &str, debian_package: &str) {
    if !tool_exists(tool) {
        panic!(
            "this test needs `{tool}`: apt-get install -y {debian_package} (cargo xtask test installs it)"
        );
    }
}

/// A small network of namespaced hosts on one bridge; everything is removed on drop.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    switch: String,
    hosts: Vec<Host>,
    procs: Vec<Proc>,
    dir: PathBuf,
}

impl Lab {
    /// Creates an empty lab named after `tag` (a few letters), after removing stale leftovers of
    /// earlier runs. Panics with the reason when it cannot (not root, no `ip`).
    pub fn new(tag: &str) -> Lab {
        require_root();
        remove_stale();
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let prefix = format!("{PREFIX}{}-{tag}{n}", std::process::id());
        let switch = format!("{prefix}-sw");
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create lab temp dir");
        let lab = Lab {
            prefix,
            switch,
            hosts: Vec::new(),
            procs: Vec::new(),
            dir,
        };
        ip(&["netns", "add", &lab.switch]);
        ip(&["-n", &lab.switch, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &lab.switch,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        // Forward multicast (VRRP) to every port at once: no snooping, no learning delay.
        ip(&[
            "-n",
            &lab.switch,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"]);
        lab
    }

    /// A per-lab temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a host: a namespace whose `eth0` is plugged into the bridge, with `addrs` (CIDR
    /// notation, IPv4 or IPv6) on `eth0`; `lo` and `eth0` are up. IPv6 duplicate address
    /// detection is off so addresses are usable at once.
    pub fn add_host(&mut self, name: &str, addrs: &[&str]) -> Host {
        assert!(
            !self.hosts.iter().any(|h| h.name == name),
            "host {name} exists"
        );
        let netns = format!("{}-{name}", self.prefix);
        let port = format!("p{}", self.hosts.len());
        ip(&["netns", "add", &netns]);
        let host_ns = |args: &[&str]| {
            let mut v = vec!["-n", netns.as_str()];
            v.extend_from_slice(args);
            ip(&v);
        };
        host_ns(&["link", "set", "lo", "up"]);
        for (k, v) in [
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
        ] {
            run_ok(Command::new("ip").args([
                "netns",
                "exec",
                &netns,
                "sysctl",
                "-qw",
                &format!("{k}={v}"),
            ]));
        }
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        for a in addrs {
            host_ns(&["addr", "add", a, "dev", "eth0", "nodad"]);
        }
        host_ns(&["link", "set", "eth0", "up"]);
        let link = String::from_utf8_lossy(
            &ip(&["-n", &netns, "-o", "link", "show", "dev", "eth0"]).stdout,
        )
        .into_owned();
        let ifindex = link
            .split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("cannot read eth0's ifindex from {link:?}"));
        let mac = link
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .and_then(parse_mac)
            .unwrap_or_else(|| panic!("cannot read eth0's MAC from {link:?}"));
        let host = Host {
            name: name.to_owned(),
            netns,
            port,
            mac,
            ifindex,
        };
        self.hosts.push(host.clone());
        host
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in this lab"))
    }

    /// Starts keepalived in `host` on the configuration file `conf`, in the foreground mode the
    /// tests need (`-n -l -D -P`: no fork, log to the console, detailed, VRRP only) with pid
    /// files of its own beside `conf` (so that several run at once).
    pub fn spawn_keepalived(&mut self, host: &Host, conf: &Path) -> Proc {
        let dir = conf.parent().unwrap_or(&self.dir).to_path_buf();
        let s = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let stem = conf
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (p1, p2, p3) = (
            s(&format!("{stem}.k.pid")),
            s(&format!("{stem}.v.pid")),
            s(&format!("{stem}.c.pid")),
        );
        let conf = conf.to_string_lossy().into_owned();
        self.spawn(
            host,
            &[
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
                &conf,
                "-p",
                &p1,
                "-r",
                &p2,
                "-c",
                &p3,
            ],
        )
    }

    /// Starts `argv` in the background inside `host`'s namespace; stdout and stderr go to files in
    /// the lab's directory. The process is killed when the lab is dropped.
    pub fn spawn(&mut self, host: &Host, argv: &[&str]) -> Proc {
        let n = self.procs.len();
        let base = self.dir.join(format!(
            "{}-{n}-{}",
            host.name,
            Path::new(argv[0])
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let p = Proc::start(host.command(argv), base);
        self.procs.push(p.clone());
        p
    }

    /// Starts a `tshark` capture on `iface` inside `host` with an optional capture filter (BPF),
    /// returning once tshark has started capturing.
    pub fn capture(&mut self, host: &Host, iface: &str, filter: Option<&str>) -> Capture {
        require_tool("tshark", "tshark");
        let file = self
            .dir
            .join(format!("{}-{iface}-{}.pcap", host.name, self.procs.len()));
        let file_s = file.to_string_lossy().into_owned();
        let mut argv = vec!["tshark", "-n", "-i", iface, "-w", &file_s];
        if let Some(f) = filter {
            argv.extend_from_slice(&["-f", f]);
        }
        let p = self.spawn(host, &argv);
        let ready = wait_until(Duration::from_secs(15), || {
            p.stderr().contains("Capturing on") || !p.is_running()
        });
        if !ready || !p.is_running() {
            panic!(
                "tshark did not start capturing on {iface} in {}: {}",
                host.netns,
                p.stderr()
            );
        }
        // tshark reports "Capturing on" a moment before dumpcap's socket sees every packet.
        std::thread::sleep(CAPTURE_SETTLE);
        Capture {
            proc: Some(p),
            file,
        }
    }

    /// Cuts `host`'s cable: its switch port goes down, so its `eth0` loses carrier.
    pub fn cut_link(&self, host: &Host) {
        ip(&["-n", &self.switch, "link", "set", &host.port, "down"]);
    }

    /// Undoes [`Lab::cut_link`].
    pub fn restore_link(&self, host: &Host) {
        ip(&["-n", &self.switch, "link", "set", &host.port, "up"]);
    }

    /// Unplugs `host` from the bridge while its link stays up: a partition the host cannot see
    /// in its link state.
    pub fn isolate(&self, host: &Host) {
        ip(&["-n", &self.switch, "link", "set", &host.port, "nomaster"]);
    }

    /// Undoes [`Lab::isolate`].
    pub fn heal(&self, host: &Host) {
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &host.port,
            "master",
            "br0",
        ]);
    }

    /// The switch namespace that holds the bridge `br0` (for captures of all traffic).
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &self.procs {
            p.kill(libc::SIGKILL);
        }
        for h in &self.hosts {
            let _ = run(Command::new("ip").args(["netns", "del", &h.netns]));
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.switch]));
        if std::env::var_os("HA_KEEP_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deletes namespaces `hat-<pid>-...` whose process no longer exists.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(Command::new("ip").args(["netns", "del", &name]));
        }
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let mac = parse_mac("02:00:5e:00:01:0a").unwrap();
        assert_eq!(mac, [2, 0, 0x5e, 0, 1, 10]);
        assert_eq!(format_mac(mac), "02:00:5e:00:01:0a");
        assert_eq!(parse_mac("02:00:5e:00:01"), None);
        assert_eq!(parse_mac("02:00:5e:00:01:0a:00"), None);
        assert_eq!(parse_mac("zz:00:5e:00:01:0a"), None);
    }
}
