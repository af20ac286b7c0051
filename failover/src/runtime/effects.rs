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
    },
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
    match tokio::fs::read_to_string(path).await {
        Ok(s) => s
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// A track script's result: its exit status; a script that cannot run or times out fails.
pub(super) async fn run_track_script(
    argv: &[String],
    timeout: Duration,
    user: Option<exec::User>,
) -> TrackResult {
    match exec::run_as(argv, timeout, user).await {
        Ok(code) => TrackResult::Exit(code),
        Err(e) => {
            tracing::warn!(?argv, error = %e, "track script did not run to its end: counted as failed");
            TrackResult::Exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let argv: Vec<String> = ["sh", "-c", "exit 3"].map(String::from).into();
            assert_eq!(
                run_track_script(&argv, Duration::from_secs(10), None).await,
                TrackResult::Exit(3)
            );
            let argv: Vec<String> = ["sleep", "5"].map(String::from).into();
            assert_eq!(
                run_track_script(&argv, Duration::from_millis(100), None).await,
                TrackResult::Exit(1)
            );
        });
    }
}
