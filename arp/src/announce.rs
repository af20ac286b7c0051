//! The announce scheduler (sans-io): when an instance becomes master, send gratuitous ARPs and
//! unsolicited Neighbor Advertisements for its addresses, on keepalived's schedule, paced per
//! interface.
//!
//! # Schedule (per announced key)
//!
//! Times are relative to the `now` given to [`Announcer::announce`] (the transition to master).
//!
//! - **First burst** at `0`: [`Config::repeat`] rounds spaced by [`Config::interval`]; each round
//!   queues one frame per address (keepalived `garp_master_repeat`, default 5).
//! - **Second burst** at [`Config::second_burst_delay`] (keepalived `garp_master_delay`, default
//!   5 s): again `repeat` rounds.
//! - **Refresh** every [`Config::refresh`] (keepalived `garp_master_refresh`, off by default):
//!   [`Config::refresh_repeat`] rounds (keepalived `garp_master_refresh_repeat`, default 1).
//!
//! A burst that starts while an earlier one still has rounds left replaces it.
//! [`Announcer::cancel`] (the instance left master) drops the schedule and every frame of that key
//! still queued.
//!
//! # Pacing (per interface, shared by every key)
//!
//! Frames are not handed out as soon as their round fires: each interface (or group of
//! interfaces, keepalived `garp_group`) has a limiter with two lanes, one for ARP and one for NA,
//! that release at most one frame per [`Pacing::arp_interval`] / [`Pacing::na_interval`]
//! (keepalived `garp_interval` / `gna_interval`). Frames wait in FIFO order. So 500 addresses
//! moving at once on one interface go out one every `arp_interval`, whichever instances own them.
//! A zero interval (the default, as in keepalived) does not pace.
//!
//! # Driving it
//!
//! Call order: [`announce`](Announcer::announce) / [`cancel`](Announcer::cancel) /
//! [`handle_timeout`](Announcer::handle_timeout) with a `now` that never goes backwards, then drain
//! [`poll_transmit`](Announcer::poll_transmit) until `None`, then sleep until
//! [`poll_timeout`](Announcer::poll_timeout). An early `handle_timeout` is a no-op. A frame is
//! released at the `now` of the call that releases it, and the next one on that lane not before
//! `now + interval`, so a late driver never causes a burst.
//!
//! Frames are emitted into one buffer owned by the announcer and lent out by `poll_transmit`: no
//! allocation per frame (queues grow to their high-water mark once).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::wire::MacAddr;
use crate::wire::arp::GarpForm;
use crate::wire::frame::{self, MAX_FRAME_LEN};

/// The interface frames go out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interface {
    /// Its index (what the sender binds to, and what pacing is keyed by).
    pub ifindex: u32,
    /// Its own MAC address ([`SourceMac::Interface`]).
    pub mac: MacAddr,
    /// A link-local IPv6 address of the interface, for [`NaSource::LinkLocal`].
    pub ipv6_link_local: Option<Ipv6Addr>,
}

impl Interface {
    /// The interface of index `ifindex` with MAC address `mac`, without a link-local IPv6
    /// address (see [`with_ipv6_link_local`](Self::with_ipv6_link_local)).
    #[must_use]
    pub const fn new(ifindex: u32, mac: MacAddr) -> Interface {
        Interface {
            ifindex,
            mac,
            ipv6_link_local: None,
        }
    }

    /// The same interface with its link-local IPv6 address, the source of Neighbor
    /// Advertisements with [`NaSource::LinkLocal`].
    ///
    /// ```
    /// use ha_arp::{Interface, MacAddr};
    /// let eth0 = Interface::new(2, MacAddr([2, 0, 0, 0, 0, 1]))
    ///     .with_ipv6_link_local("fe80::1".parse().unwrap());
    /// assert_eq!(eth0.ipv6_link_local, Some("fe80::1".parse().unwrap()));
    /// ```
    #[must_use]
    pub const fn with_ipv6_link_local(mut self, addr: Ipv6Addr) -> Interface {
        self.ipv6_link_local = Some(addr);
        self
    }
}

/// Which MAC address the frames carry (Ethernet source, ARP sender, NA target link-layer option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SourceMac {
    /// The interface's own address.
    #[default]
    Interface,
    /// The VRRP virtual router MAC of this VRID: `00-00-5E-00-01-{VRID}` for IPv4 frames and
    /// `00-00-5E-00-02-{VRID}` for IPv6 frames (RFC 9568 §7.3).
    VirtualRouter {
        /// The virtual router id.
        vrid: u8,
    },
    /// This address.
    Custom(MacAddr),
}

impl From<MacAddr> for SourceMac {
    fn from(m: MacAddr) -> Self {
        SourceMac::Custom(m)
    }
}

impl SourceMac {
    /// The MAC used for frames about `addr` on `iface`.
    pub fn resolve(&self, iface: &Interface, addr: &IpAddr) -> MacAddr {
        match (*self, addr) {
            (SourceMac::Interface, _) => iface.mac,
            (SourceMac::VirtualRouter { vrid }, IpAddr::V4(_)) => MacAddr::vrrp_v4(vrid),
            (SourceMac::VirtualRouter { vrid }, IpAddr::V6(_)) => MacAddr::vrrp_v6(vrid),
            (SourceMac::Custom(m), _) => m,
        }
    }
}

/// The IPv6 source address of unsolicited Neighbor Advertisements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NaSource {
    /// The announced address itself (what keepalived does).
    #[default]
    Target,
    /// [`Interface::ipv6_link_local`], or the announced address if the interface has none.
    LinkLocal,
}

/// What to send for each announcement (keepalived's `garp_master_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Rounds per burst; each round sends one frame per address (`garp_master_repeat`, 5).
    pub repeat: u32,
    /// Spacing of the rounds of a burst (keepalived sends them back to back: 0).
    pub interval: Duration,
    /// When the second burst starts, after the announce (`garp_master_delay`, 5 s; `None`: no
    /// second burst).
    pub second_burst_delay: Option<Duration>,
    /// Period of refresh bursts (`garp_master_refresh`; `None`, the default, or zero: none).
    pub refresh: Option<Duration>,
    /// Rounds per refresh burst (`garp_master_refresh_repeat`, 1).
    pub refresh_repeat: u32,
    /// Gratuitous ARP form (request by default).
    pub arp_form: GarpForm,
    /// Set the Router flag in Neighbor Advertisements. RFC 9568 §6.4.1 has a VRRP router set it;
    /// keepalived sets it only when the interface forwards IPv6. Off by default.
    pub na_router: bool,
    /// IPv6 source of Neighbor Advertisements.
    pub na_source: NaSource,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            repeat: 5,
            interval: Duration::ZERO,
            second_burst_delay: Some(Duration::from_secs(5)),
            refresh: None,
            refresh_repeat: 1,
            arp_form: GarpForm::Request,
            na_router: false,
            na_source: NaSource::Target,
        }
    }
}

/// Per-interface rate limit (keepalived `garp_interval` / `gna_interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pacing {
    /// Minimum gap between two ARP frames on the interface (or group).
    pub arp_interval: Duration,
    /// Minimum gap between two Neighbor Advertisements on the interface (or group).
    pub na_interval: Duration,
}

/// A frame to send now, lent by [`Announcer::poll_transmit`].
#[derive(Debug)]
pub struct Transmit<'a, K> {
    /// The key it was announced under.
    pub key: &'a K,
    /// The interface to send it on.
    pub ifindex: u32,
    /// The address it announces.
    pub address: IpAddr,
    /// What it is.
    pub repr: frame::Repr,
    /// The frame, Ethernet header included.
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Job {
    entry: u64,
    addr: IpAddr,
    eligible: Instant,
}

#[derive(Debug, Default)]
struct Lane {
    interval: Duration,
    next_free: Option<Instant>,
    queue: VecDeque<Job>,
}

impl Lane {
    fn new(interval: Duration) -> Self {
        Lane {
            interval,
            next_free: None,
            queue: VecDeque::new(),
        }
    }

    /// When the head of the queue may go, if anything is queued.
    fn next_release(&self) -> Option<Instant> {
        let head = self.queue.front()?.eligible;
        Some(match self.next_free {
            Some(f) if f > head => f,
            _ => head,
        })
    }

    fn release(&mut self, now: Instant, ready: &mut VecDeque<Job>) {
        while let Some(t) = self.next_release() {
            if t > now {
                break;
            }
            if let Some(job) = self.queue.pop_front() {
                ready.push_back(job);
            }
            if !self.interval.is_zero() {
                self.next_free = Some(now + self.interval);
            }
        }
    }
}

#[derive(Debug)]
struct Limiter {
    arp: Lane,
    na: Lane,
}

impl Limiter {
    fn new(p: Pacing) -> Self {
        Limiter {
            arp: Lane::new(p.arp_interval),
            na: Lane::new(p.na_interval),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Burst {
    next: Instant,
    left: u32,
}

#[derive(Debug)]
struct Entry<K> {
    id: u64,
    key: K,
    iface: Interface,
    mac: SourceMac,
    addresses: Vec<IpAddr>,
    config: Config,
    burst: Option<Burst>,
    second_at: Option<Instant>,
    refresh_at: Option<Instant>,
    /// Frames queued or ready and not yet handed out.
    outstanding: usize,
}

impl<K> Entry<K> {
    fn next_event(&self) -> Option<Instant> {
        [self.burst.map(|b| b.next), self.second_at, self.refresh_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn start_burst(&mut self, at: Instant, rounds: u32) {
        self.burst = (rounds > 0).then_some(Burst {
            next: at,
            left: rounds,
        });
    }
}

/// Schedules and paces announcements for many keys (VRRP instances) over many interfaces.
/// See the [module docs](self) for the schedule and the call order.
///
/// Its methods by class (the shape of every sans-io machine in the workspace):
/// - queries: [`is_announcing`](Self::is_announcing), [`queued`](Self::queued);
/// - inputs: [`handle_timeout`](Self::handle_timeout);
/// - mutators (commands): [`announce`](Self::announce),
///   [`announce_with`](Self::announce_with), [`cancel`](Self::cancel),
///   [`set_pacing`](Self::set_pacing);
/// - outputs: [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Announcer<K> {
    config: Config,
    default_pacing: Pacing,
    entries: Vec<Entry<K>>,
    next_id: u64,
    limiters: Vec<Limiter>,
    /// ifindex → index into `limiters`.
    iface_limiter: Vec<(u32, usize)>,
    ready: VecDeque<Job>,
    last_now: Option<Instant>,
    buf: [u8; MAX_FRAME_LEN],
}

impl<K: PartialEq> Announcer<K> {
    /// An announcer using `config` for [`announce`](Self::announce) and `default_pacing` for every
    /// interface not given its own with [`set_pacing`](Self::set_pacing).
    pub fn new(config: Config, default_pacing: Pacing) -> Self {
        Announcer {
            config,
            default_pacing,
            entries: Vec::new(),
            next_id: 0,
            limiters: Vec::new(),
            iface_limiter: Vec::new(),
            ready: VecDeque::new(),
            last_now: None,
            buf: [0; MAX_FRAME_LEN],
        }
    }

    /// Makes the listed interfaces share one limiter with this pacing (keepalived `garp_group`;
    /// one interface: its own `garp_interval` / `gna_interval`). Call it before announcing on
    /// them: frames already queued stay with the previous limiter.
    pub fn set_pacing(&mut self, ifindices: &[u32], pacing: Pacing) {
        let idx = self.limiters.len();
        self.limiters.push(Limiter::new(pacing));
        for &ifindex in ifindices {
            match self.iface_limiter.iter_mut().find(|(i, _)| *i == ifindex) {
                Some(slot) => slot.1 = idx,
                None => self.iface_limiter.push((ifindex, idx)),
            }
        }
    }

    /// Starts announcing `addresses` on `iface` for `key`, with the announcer's [`Config`]: the
    /// instance became master (RFC 9568 §6.4.1 and §6.4.2, on the transition to Master:
    /// "broadcast a gratuitous ARP request" for each IPv4 address, "send an unsolicited ND
    /// Neighbor Advertisement" for each IPv6 address). If `key` was already announcing, its
    /// schedule restarts and its queued frames are dropped.
    pub fn announce(
        &mut self,
        now: Instant,
        key: K,
        iface: &Interface,
        addresses: &[IpAddr],
        mac: SourceMac,
    ) {
        let config = self.config;
        self.announce_with(now, key, iface, addresses, mac, config);
    }

    /// [`announce`](Self::announce) with a per-key [`Config`].
    pub fn announce_with(
        &mut self,
        now: Instant,
        key: K,
        iface: &Interface,
        addresses: &[IpAddr],
        mac: SourceMac,
        config: Config,
    ) {
        self.remove(&key);
        self.limiter_for(iface.ifindex);
        let id = self.next_id;
        self.next_id += 1;
        let mut entry = Entry {
            id,
            key,
            iface: *iface,
            mac,
            addresses: addresses.to_vec(),
            config,
            burst: None,
            second_at: config.second_burst_delay.map(|d| now + d),
            refresh_at: config.refresh.filter(|d| !d.is_zero()).map(|d| now + d),
            outstanding: 0,
        };
        entry.start_burst(now, config.repeat);
        self.entries.push(entry);
        self.advance(now);
    }

    /// Stops announcing for `key` (the instance left master): its schedule and every frame still
    /// queued for it are dropped. Returns whether it was announcing.
    pub fn cancel(&mut self, now: Instant, key: &K) -> bool {
        let found = self.remove(key);
        self.advance(now);
        found
    }

    /// Fires due rounds and releases frames that pacing allows.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// The next frame to send, if any is due. Drain until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_, K>> {
        let (job, pos) = loop {
            let job = self.ready.pop_front()?;
            if let Some(pos) = self.entries.iter().position(|e| e.id == job.entry) {
                break (job, pos);
            }
        };
        let entry = &mut self.entries[pos];
        entry.outstanding = entry.outstanding.saturating_sub(1);
        let entry = &self.entries[pos];
        let mac = entry.mac.resolve(&entry.iface, &job.addr);
        let repr = match job.addr {
            IpAddr::V4(a) => frame::Repr::gratuitous_arp(mac, a, entry.config.arp_form),
            IpAddr::V6(a) => {
                let source = match entry.config.na_source {
                    NaSource::Target => a,
                    NaSource::LinkLocal => entry.iface.ipv6_link_local.unwrap_or(a),
                };
                frame::Repr::unsolicited_na(mac, a, source, entry.config.na_router)
            }
        };
        let len = repr.emit(&mut self.buf);
        Some(Transmit {
            key: &entry.key,
            ifindex: entry.iface.ifindex,
            address: job.addr,
            repr,
            bytes: &self.buf[..len],
        })
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` when idle. If frames
    /// are waiting in [`poll_transmit`](Self::poll_transmit), the last `now`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return self.last_now;
        }
        let entries = self.entries.iter().filter_map(Entry::next_event);
        let lanes = self
            .limiters
            .iter()
            .flat_map(|l| [l.arp.next_release(), l.na.next_release()])
            .flatten();
        entries.chain(lanes).min()
    }

    /// Whether `key` has rounds still to fire or frames still queued (with refresh on, until it
    /// is cancelled).
    pub fn is_announcing(&self, key: &K) -> bool {
        self.entries
            .iter()
            .any(|e| &e.key == key && (e.next_event().is_some() || e.outstanding > 0))
    }

    /// Frames fired but not yet handed out (waiting for pacing or for `poll_transmit`).
    pub fn queued(&self) -> usize {
        self.ready.len()
            + self
                .limiters
                .iter()
                .map(|l| l.arp.queue.len() + l.na.queue.len())
                .sum::<usize>()
    }

    fn remove(&mut self, key: &K) -> bool {
        let Some(pos) = self.entries.iter().position(|e| &e.key == key) else {
            return false;
        };
        let id = self.entries.remove(pos).id;
        self.ready.retain(|j| j.entry != id);
        for l in &mut self.limiters {
            l.arp.queue.retain(|j| j.entry != id);
            l.na.queue.retain(|j| j.entry != id);
        }
        true
    }

    fn limiter_for(&mut self, ifindex: u32) -> usize {
        if let Some(&(_, idx)) = self.iface_limiter.iter().find(|(i, _)| *i == ifindex) {
            return idx;
        }
        let idx = self.limiters.len();
        self.limiters.push(Limiter::new(self.default_pacing));
        self.iface_limiter.push((ifindex, idx));
        idx
    }

    fn advance(&mut self, now: Instant) {
        // `now` never goes backwards; tolerate a caller that does by not moving our clock back.
        let now = match self.last_now {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_now = Some(now);
        // Forget keys whose schedule is over and whose frames are all out.
        self.entries
            .retain(|e| e.next_event().is_some() || e.outstanding > 0);
        let Announcer {
            entries,
            limiters,
            iface_limiter,
            ready,
            ..
        } = self;
        for e in entries.iter_mut() {
            let Some(&(_, li)) = iface_limiter.iter().find(|(i, _)| *i == e.iface.ifindex) else {
                continue;
            };
            let limiter = &mut limiters[li];
            while let Some(t) = e.next_event() {
                if t > now {
                    break;
                }
                if e.second_at == Some(t) {
                    // keepalived garp_master_delay: a second burst after the transition.
                    e.second_at = None;
                    e.start_burst(t, e.config.repeat);
                    continue;
                }
                if e.refresh_at == Some(t) {
                    // keepalived garp_master_refresh: periodic bursts while master.
                    e.refresh_at = e.config.refresh.map(|d| t + d);
                    e.start_burst(t, e.config.refresh_repeat);
                    continue;
                }
                let Some(b) = e.burst.as_mut() else { break };
                for &addr in &e.addresses {
                    let lane = if addr.is_ipv4() {
                        &mut limiter.arp
                    } else {
                        &mut limiter.na
                    };
                    lane.queue.push_back(Job {
                        entry: e.id,
                        addr,
                        eligible: t,
                    });
                }
                e.outstanding += e.addresses.len();
                b.left -= 1;
                if b.left == 0 {
                    e.burst = None;
                } else {
                    b.next = t + e.config.interval;
                }
            }
        }
        for l in limiters.iter_mut() {
            l.arp.release(now, ready);
            l.na.release(now, ready);
        }
    }
}
