//! The slow side of the director, off the VRRP loop: one "effects" task that changes the host
//! in order (VIPs and routes through rtnetlink, gratuitous ARP / unsolicited NA, and the start
//! of commands that must come after what is queued before them: fences, resource steps, track
//! scripts and files), and one task that runs the notify scripts one at a time.
//!
//! Both end when the loop drops its sender, after finishing what was queued. A task that ends
//! while the loop still sends to it is fatal for the loop (see [`super::director`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use ha_arp::{Announcer, Sender as ArpSender, SourceMac};
use tokio::sync::mpsc;

use super::config::RuntimeEvent;
use super::exec;
use super::netlink::{Addresses, Vip};
use crate::core::{InstanceId, TrackResult, TrackerId};

/// A command's task, started by the effects task once what was queued before it is done.
pub(super) type Task = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A route ready for netlink: its message and a name for logs.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub msg: netlink_packet_route::route::RouteMessage,
    pub what: String,
}

/// The announcer key bit of the announcements after a lower-priority advert (instance ids
/// are far below it).
const LOWER_PRIORITY_KEY: u32 = 1 << 31;

/// What the effects task does, in order.
pub(super) enum Effect {
    /// Add an instance's VIPs.
    Add(InstanceId, Vec<Vip>),
    /// Remove an instance's VIPs (and stop announcing them).
    Remove(InstanceId, Vec<Vip>),
    /// Announce addresses, per ifindex, on the instance's schedule; `true`: the schedule after
    /// a lower-priority advert (kept apart from the master's own, whose refresh goes on).
    Announce(InstanceId, Vec<(u32, Vec<IpAddr>)>, ha_arp::Config, bool),
    /// Add or remove virtual routes.
    Routes { add: bool, routes: Vec<Route> },
    /// Add or remove policy routing rules (message, and what it is for the logs).
    Rules {
        add: bool,
        rules: Vec<(netlink_packet_route::rule::RuleMessage, String)>,
    },
    /// An address disappeared from the kernel: put it back if an instance holds it.
    Gone(Vip),
    /// Start a command's task (a resource step starts after its addresses are added, and
    /// stops after they are removed).
    Spawn(Task),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Add(i, v) => f.debug_tuple("Add").field(i).field(v).finish(),
            Effect::Remove(i, v) => f.debug_tuple("Remove").field(i).field(v).finish(),
            Effect::Announce(i, v, _, lower) => f
                .debug_tuple("Announce")
                .field(i)
                .field(v)
                .field(lower)
                .finish(),
            Effect::Routes { add, routes } => f
                .debug_struct("Routes")
                .field("add", add)
                .field(
                    "routes",
                    &routes.iter().map(|r| &r.what).collect::<Vec<_>>(),
                )
                .finish(),
            Effect::Rules { add, rules } => f
                .debug_struct("Rules")
                .field("add", add)
                .field("rules", &rules.iter().map(|r| &r.1).collect::<Vec<_>>())
                .finish(),
            Effect::Gone(v) => f.debug_tuple("Gone").field(v).finish(),
            Effect::Spawn(_) => f.write_str("Spawn"),
        }
    }
}

/// A result fed back to the loop from a command.
#[derive(Debug)]
pub(super) enum Feedback {
    Fence {
        instance: InstanceId,
        attempt: crate::core::FenceAttempt,
        ok: bool,
    },
    Step {
        instance: InstanceId,
        token: crate::core::StepToken,
        ok: bool,
    },
    Track {
        tracker: TrackerId,
        result: TrackResult,
        /// Why a script run failed, for the log (`None`: it exited 0, or not a script).
        failure: Option<ScriptFailure>,
    },
    /// A ping tracker's echo: whether it answered.
    Echo {
        echo: super::ping::Echo,
        answered: bool,
    },
    /// The IPVS task needs a virtual server's whole desired state (answered with
    /// `IpvsWork::Resync`).
    IpvsResync(crate::core::VirtualServerId),
}

/// Why a track script run failed: a `class` that only changes when the kind of failure does
/// (so the log says it once per change) and the full `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScriptFailure {
    /// `exit N`, `not started`, `timed out` or `killed`.
    pub class: String,
    /// The exit code or error with the first line of standard error.
    pub reason: String,
    /// It did not run to its end (not started, timed out, killed by a signal).
    pub error: bool,
}

/// Sends a command's result to the loop; the loop may be gone (stopping), then the result
/// has no one to act on it.
pub(super) fn feed_back(tx: &mpsc::UnboundedSender<Feedback>, fb: Feedback) {
    if let Err(e) = tx.send(fb) {
        tracing::debug!(result = ?e.0, "a command finished after the director loop ended");
    }
}

/// Reports an event to the embedder, if it listens.
pub(super) fn report(events: &Option<mpsc::UnboundedSender<RuntimeEvent>>, ev: RuntimeEvent) {
    if let Some(tx) = events
        && tx.send(ev).is_err()
    {
        tracing::trace!("the embedder no longer reads events");
    }
}

/// What the effects task did, when it ends.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct EffectsReport {
    /// Announcement frames sent.
    pub announced: u64,
}

/// The effects task's state.
pub(super) struct Effects {
    pub addrs: Addresses,
    /// AF_PACKET senders by ifindex.
    pub senders: HashMap<u32, (ArpSender, ha_arp::Interface)>,
    pub announcer: Announcer<(u32, u32)>,
    /// The VIPs each instance holds.
    pub held: HashMap<InstanceId, Vec<Vip>>,
    pub events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
    pub announced: u64,
}

impl Effects {
    /// Carries out effects until the loop drops its sender; what was queued is finished.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Effect>) -> EffectsReport {
        loop {
            self.send_announcements();
            let deadline = self.announcer.poll_timeout();
            tokio::select! {
                biased;
                e = rx.recv() => match e {
                    None => break,
                    Some(e) => self.apply(e).await,
                },
                _ = super::sleep_until(deadline) => self.announcer.handle_timeout(Instant::now()),
            }
        }
        EffectsReport {
            announced: self.announced,
        }
    }

    fn send_announcements(&mut self) {
        while let Some(frame) = self.announcer.poll_transmit() {
            match self.senders.get(&frame.ifindex) {
                Some((s, _)) => match s.send(frame.bytes) {
                    Ok(()) => self.announced += 1,
                    Err(e) => tracing::warn!(error = %e, "announcement not sent"),
                },
                None => tracing::error!(ifindex = frame.ifindex, "no announcement sender"),
            }
        }
    }

    async fn apply(&mut self, e: Effect) {
        match e {
            Effect::Add(instance, vips) => {
                for v in &vips {
                    if let Err(e) = self.addrs.add(*v).await {
                        tracing::error!(instance = instance.0, error = %e, "adding a virtual address");
                    }
                }
                self.held.insert(instance, vips);
            }
            Effect::Remove(instance, vips) => {
                self.held.remove(&instance);
                let now = Instant::now();
                for i in self.senders.keys().copied().collect::<Vec<_>>() {
                    self.announcer.cancel(now, &(instance.0, i));
                    self.announcer
                        .cancel(now, &(instance.0 | LOWER_PRIORITY_KEY, i));
                }
                for v in &vips {
                    if let Err(e) = self.addrs.remove(*v).await {
                        tracing::error!(instance = instance.0, error = %e, "removing a virtual address");
                    }
                }
            }
            Effect::Announce(instance, per_if, config, lower) => {
                let now = Instant::now();
                for (i, addresses) in per_if {
                    if let Some((_, iface)) = self.senders.get(&i) {
                        let iface = *iface;
                        let key = match lower {
                            false => (instance.0, i),
                            true => (instance.0 | LOWER_PRIORITY_KEY, i),
                        };
                        self.announcer.announce_with(
                            now,
                            key,
                            &iface,
                            &addresses,
                            SourceMac::Interface,
                            config,
                        );
                    }
                }
            }
            Effect::Routes { add, routes } => {
                for r in routes {
                    if let Err(e) = self.addrs.route(r.msg, add, &r.what).await {
                        tracing::error!(route = %r.what, add, error = %e, "virtual route");
                    }
                }
            }
            Effect::Rules { add, rules } => {
                for (msg, what) in rules {
                    if let Err(e) = self.addrs.rule(msg, add, &what).await {
                        tracing::error!(rule = %what, add, error = %e, "rule");
                    }
                }
            }
            Effect::Spawn(task) => {
                tokio::spawn(task);
            }
            Effect::Gone(v) => self.put_back(v).await,
        }
    }

    /// Puts back a held VIP that someone else removed.
    async fn put_back(&mut self, v: Vip) {
        let Some(instance) = self
            .held
            .iter()
            .find(|(_, vips)| vips.contains(&v))
            .map(|(i, _)| *i)
        else {
            return;
        };
        match self.addrs.add(v).await {
            Ok(_) => {
                tracing::warn!(vip = %v, "a held virtual address was removed: put back");
                report(
                    &self.events,
                    RuntimeEvent::VipRestored {
                        instance,
                        addr: v.addr,
                    },
                );
            }
            Err(e) => tracing::error!(vip = %v, error = %e, "putting back a virtual address"),
        }
    }
}

/// Runs the notify scripts one at a time, in order, until the loop drops its sender; returns
/// how many ran.
pub(super) async fn notify_task(
    mut rx: mpsc::UnboundedReceiver<Vec<String>>,
    timeout: Duration,
    user: Option<exec::User>,
    events: Option<mpsc::UnboundedSender<RuntimeEvent>>,
) -> u64 {
    let mut count = 0;
    while let Some(argv) = rx.recv().await {
        let ok = exec::succeeds_as("notify", &argv, timeout, user).await;
        count += 1;
        report(&events, RuntimeEvent::Notified { argv, ok });
    }
    count
}

/// keepalived `track_file`: the file's integer; a missing or unreadable file, or one that
/// does not hold an integer, counts as 0. Read off the VRRP loop.
pub(super) async fn read_track_file(path: &str) -> i64 {
    track_file_value(tokio::fs::read_to_string(path).await.ok().as_deref())
}

/// A track file's value from its text (`None`: unreadable, read as 0), with keepalived's
/// `strtol` reading ([`ha_healthcheck::track_value`]).
pub(super) fn track_file_value(text: Option<&str>) -> i64 {
    text.map_or(0, ha_healthcheck::track_value)
}

/// keepalived reads its track files and scans the processes once before the instances start
/// (so an instance does not start as if a tracked process ran, or a file held 0): the same
/// here, synchronously, before the loop. Each result is fed as a round's result would be.
pub(super) fn initial_track_results(
    trackers: &[(crate::core::TrackerId, crate::core::TrackerKind)],
) -> Vec<(crate::core::TrackerId, TrackResult)> {
    use crate::core::TrackerKind;
    trackers
        .iter()
        .filter_map(|(id, kind)| match kind {
            TrackerKind::File { path } => Some((
                *id,
                TrackResult::Value(track_file_value(
                    std::fs::read_to_string(path).ok().as_deref(),
                )),
            )),
            TrackerKind::Process(spec) => Some((
                *id,
                TrackResult::Processes(count_processes_in(std::path::Path::new("/proc"), spec)),
            )),
            _ => None,
        })
        .collect()
}

/// keepalived `vrrp_track_process`: how many processes match `spec`, counted from `/proc`
/// (keepalived listens to the kernel's process connector instead; counting on each tracking
/// round means a start or an exit is seen within one round). Zombies are not counted; threads
/// are not listed in `/proc` and so not counted, as keepalived counts processes.
///
/// Every user's processes are seen only when `/proc` shows them: a `hidepid=` mount or
/// systemd's `ProtectProc=invisible` hides other users' processes from a daemon that is not
/// root (or lacks `CAP_SYS_PTRACE`), and the count is then too low.
pub(super) async fn count_processes(spec: crate::core::ProcessSpec) -> u32 {
    match tokio::task::spawn_blocking(move || {
        count_processes_in(std::path::Path::new("/proc"), &spec)
    })
    .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "process count did not finish: counted as none");
            0
        }
    }
}

/// Why `/proc` may hide other users' processes from this daemon: a `hidepid=` option on the
/// `/proc` mount (systemd's `ProtectProc=invisible` mounts it so) while the daemon lacks
/// `CAP_SYS_PTRACE`. `None`: every process is seen (or it cannot be told).
pub(super) fn proc_hides_processes() -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    proc_hides_processes_in(&mountinfo, &status)
}

/// [`proc_hides_processes`] over the texts of `/proc/self/mountinfo` and `/proc/self/status`.
pub(super) fn proc_hides_processes_in(mountinfo: &str, status: &str) -> Option<String> {
    const CAP_SYS_PTRACE: u32 = 19;
    let hidepid = mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let sep = f.iter().position(|w| *w == "-")?;
        if f.get(4) != Some(&"/proc") || f.get(sep + 1) != Some(&"proc") {
            return None;
        }
        f.get(sep + 3)?
            .split(',')
            .find_map(|o| o.strip_prefix("hidepid="))
            .filter(|v| !matches!(*v, "0" | "off"))
            .map(str::to_owned)
    })?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
    (cap_eff & (1 << CAP_SYS_PTRACE) == 0).then(|| {
        format!(
            "/proc is mounted with hidepid={hidepid} (systemd ProtectProc=invisible does this) and this daemon lacks CAP_SYS_PTRACE: processes of other users are not counted by track_process"
        )
    })
}

/// [`count_processes`] over a `/proc`-like directory.
pub(super) fn count_processes_in(proc: &std::path::Path, spec: &crate::core::ProcessSpec) -> u32 {
    let Ok(dir) = std::fs::read_dir(proc) else {
        tracing::warn!(path = %proc.display(), "cannot list processes: counted as none");
        return 0;
    };
    let mut n = 0u32;
    for ent in dir.flatten() {
        let name = ent.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let base = proc.join(pid);
        // `/proc/PID/stat`: "PID (COMM) STATE ...", COMM may itself hold ')' and spaces.
        let Ok(stat) = std::fs::read(base.join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (
            stat.iter().position(|b| *b == b'('),
            stat.iter().rposition(|b| *b == b')'),
        ) else {
            continue;
        };
        if close < open || matches!(stat.get(close + 2), Some(b'Z' | b'X')) {
            continue;
        }
        let comm = String::from_utf8_lossy(&stat[open + 1..close]);
        let cmdline = if spec.uses_cmdline() {
            match std::fs::read(base.join("cmdline")) {
                Ok(c) => c,
                Err(_) => continue,
            }
        } else {
            Vec::new()
        };
        if spec.matches(&comm, &cmdline) {
            n = n.saturating_add(1);
        }
    }
    n
}

/// A track script's result: its exit status; a script that cannot run or times out fails.
pub(super) async fn run_track_script(
    argv: &[String],
    timeout: Duration,
    user: Option<exec::User>,
) -> (TrackResult, Option<ScriptFailure>) {
    match exec::run_as_report(argv, timeout, user).await {
        Ok(exec::Exit { code: 0, .. }) => (TrackResult::Exit(0), None),
        Ok(exec::Exit { code, stderr }) => {
            let reason = if stderr.is_empty() {
                format!("exit {code}")
            } else {
                format!("exit {code}: {stderr}")
            };
            let failure = ScriptFailure {
                class: format!("exit {code}"),
                reason,
                error: false,
            };
            (TrackResult::Exit(code), Some(failure))
        }
        Err(e) => {
            let class = match &e {
                exec::ExecError::Timeout { .. } => "timed out",
                exec::ExecError::Signal { .. } => "killed",
                _ => "not started",
            };
            let failure = ScriptFailure {
                class: class.to_owned(),
                reason: format!("{e} (counted as failed)"),
                error: true,
            };
            (TrackResult::Exit(1), Some(failure))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_file_values_as_strtol_reads_them() {
        for (text, v) in [
            (Some("42\n"), 42),
            (Some("  -7 maintenance"), -7),
            (Some("+3"), 3),
            (Some("0x1F"), 31),
            (Some("010"), 8),
            (Some("0"), 0),
            (Some("5abc"), 5),
            (Some("abc"), 0),
            (Some(""), 0),
            (None, 0),
            (Some("99999999999999999999999"), i64::from(i32::MAX)),
        ] {
            assert_eq!(track_file_value(text), v, "{text:?}");
        }
    }

    #[test]
    fn hidden_processes_are_detected() {
        let mi = "22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw,hidepid=invisible\n";
        let no_ptrace = "Name:\tx\nCapEff:\t0000000000003000\n";
        let ptrace = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        let w = proc_hides_processes_in(mi, no_ptrace).unwrap();
        assert!(w.contains("hidepid=invisible"), "{w}");
        assert_eq!(proc_hides_processes_in(mi, ptrace), None);
        let plain = mi.replace(",hidepid=invisible", "");
        assert_eq!(proc_hides_processes_in(&plain, no_ptrace), None);
        let off = mi.replace("hidepid=invisible", "hidepid=0");
        assert_eq!(proc_hides_processes_in(&off, no_ptrace), None);
    }

    #[test]
    fn process_count_from_a_proc_tree() {
        let dir = std::env::temp_dir().join(format!("ha-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let add = |pid: &str, stat: &str, cmdline: &[u8]| {
            let d = dir.join(pid);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("stat"), stat).unwrap();
            std::fs::write(d.join("cmdline"), cmdline).unwrap();
        };
        add("10", "10 (sleep) S 1 2 3", b"sleep\x001000\x00");
        add("11", "11 (sleep) S 1 2 3", b"sleep\x00999\x00");
        add("12", "12 (sleep) Z 1 2 3", b"");
        add("13", "13 (odd) name) R 1", b"x\0");
        std::fs::create_dir_all(dir.join("self-not-a-pid")).unwrap();
        let spec = crate::core::ProcessSpec::new("sleep");
        assert_eq!(
            count_processes_in(&dir, &spec),
            2,
            "the zombie is not counted"
        );
        let mut exact = spec.clone();
        exact.params = Some(vec!["1000".into()]);
        assert_eq!(count_processes_in(&dir, &exact), 1);
        assert_eq!(
            count_processes_in(&dir, &crate::core::ProcessSpec::new("odd) name")),
            1
        );
        assert_eq!(count_processes_in(&dir.join("none"), &spec), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn track_files_and_scripts() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("frt-track-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let f = dir.join("v");
            std::fs::write(&f, " -42\n").unwrap();
            assert_eq!(read_track_file(f.to_str().unwrap()).await, -42);
            std::fs::write(&f, "x").unwrap();
            assert_eq!(read_track_file(f.to_str().unwrap()).await, 0);
            assert_eq!(read_track_file(dir.join("none").to_str().unwrap()).await, 0);
            let _ = std::fs::remove_dir_all(&dir);
            let me = crate::core::ProcessSpec::new(
                std::fs::read_to_string("/proc/self/comm")
                    .unwrap()
                    .trim_end(),
            );
            assert!(
                count_processes(me).await >= 1,
                "this test's own process counts"
            );
            let argv: Vec<String> = ["sh", "-c", "echo no nginx >&2; exit 3"]
                .map(String::from)
                .into();
            let (result, failure) = run_track_script(&argv, Duration::from_secs(10), None).await;
            assert_eq!(result, TrackResult::Exit(3));
            let failure = failure.unwrap();
            assert_eq!((failure.class.as_str(), failure.error), ("exit 3", false));
            assert_eq!(failure.reason, "exit 3: no nginx");
            let argv: Vec<String> = ["sleep", "5"].map(String::from).into();
            let (result, failure) = run_track_script(&argv, Duration::from_millis(100), None).await;
            assert_eq!(result, TrackResult::Exit(1));
            assert_eq!(failure.unwrap().class, "timed out");
            let argv: Vec<String> = ["/nonexistent/check"].map(String::from).into();
            let (_, failure) = run_track_script(&argv, Duration::from_secs(1), None).await;
            let failure = failure.unwrap();
            assert!(
                failure.error && failure.class == "not started",
                "{failure:?}"
            );
            assert!(failure.reason.contains("/nonexistent/check"), "{failure:?}");
            let argv: Vec<String> = ["true"].map(String::from).into();
            assert_eq!(
                run_track_script(&argv, Duration::from_secs(1), None).await,
                (TrackResult::Exit(0), None)
            );
        });
    }
}
