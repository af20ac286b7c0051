//! The bytes on the wire (the quinn `Endpoint` shape: the core owns the bytes, the IO layer
//! only moves them).
//!
//! - Receive: [`Director::handle_packet`] takes a VRRP message as the IP layer delivered it
//!   with its [`PacketMeta`] (interface, family, source, destination, TTL / hop limit, kernel
//!   receive time). It is checked by the codec in RFC order ([`ha_vrrp_proto::wire::validate`],
//!   with the instance's authentication and checksum mode from its [`InstanceConfig`]),
//!   demultiplexed by (interface, family, VRID) to its instance and fed to its router. A
//!   late-tolerant caller splits this in two: [`Director::validate_packet`] now, and
//!   [`Director::handle_advert`] at the packet's receive time (see [`crate::late`]).
//! - Send: [`Director::poll_transmit`] writes the next advert into the caller's buffer and says
//!   from which address to which, for which instance; the IO layer sends the bytes as they are
//!   (TTL / hop limit 255) from that instance's socket.
//! - Drops: every dropped message is counted under one [`DropReason`], per instance
//!   ([`Director::drops`]: the codec's reasons and the router's own) or, when no instance could
//!   be found, for the node ([`Director::unmatched_drops`]).
//! - Authenticated adverts ([`InstanceConfig::advert_key`]): every advert sent gets the HMAC
//!   trailer of [`ha_vrrp_proto::wire::auth`] with the next sequence number (the high 32 bits
//!   the generation given by [`Director::set_advert_generation`], the low 32 a counter of the
//!   director's adverts); a received one is verified before the codec sees the VRRP message
//!   (`auth` drops) and its sequence number must be greater than the last one accepted from
//!   its source (`replay` drops; remembered per instance, so a reloaded instance forgets).
//! - Advert paths ([`InstanceConfig::paths`]): each advert the router asks for goes out on the
//!   instance's own interface (path 0) and then on every extra path (path `k` is
//!   `paths[k - 1]`), to its peers or its multicast group, from its source address. A valid
//!   advert that arrives on any path is fed to the router, so the master is declared down only
//!   when it is silent on every path. A path advert's source is given to the router as the
//!   unicast peer of the instance's own interface at the same position in the path's peer
//!   list (heartbeat's two-node `ucast` lines: one peer per path), so the router's peer check
//!   and its address tie-break (RFC 9568 section 6.4.3) see one peer address whatever the path;
//!   with a multicast own interface the path source is given as it is. Per path the director
//!   counts adverts heard and when it last heard one ([`Director::paths`]); a path that heard
//!   adverts and then none for three of the sender's advert intervals, while another path still
//!   hears them, is reported silent, and alive again at its next advert
//!   ([`DirectorEvent::PathChanged`](super::DirectorEvent::PathChanged)).
//!
//! [`InstanceConfig`]: super::InstanceConfig
//! [`InstanceConfig::advert_key`]: super::InstanceConfig::advert_key
//! [`InstanceConfig::paths`]: super::InstanceConfig::paths

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_vrrp_proto::router::{Destination, RxAdvert, Transmit as RouterTransmit};
use ha_vrrp_proto::wire::auth::{self, ReplayGuard};
use ha_vrrp_proto::wire::{self, Addresses, Advert, Auth, Family, Packet, RxContext};
use ha_vrrp_proto::{AdvertInterval, DropCounts, DropReason, Seconds, Version, VrId};

use super::config::{AdvertPath, DirectorConfigError, InstanceConfig};
use super::{Director, DirectorEvent, Inst, InstanceId};

/// What the IP layer tells about a received VRRP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta<'a> {
    /// The interface it arrived on, as the instances name it (a virtual MAC interface stands
    /// for its parent).
    pub interface: &'a str,
    /// The IP version it came over.
    pub family: Family,
    /// The IP source address.
    pub src: IpAddr,
    /// The IP destination address.
    pub dst: IpAddr,
    /// The IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// When the kernel received it (`SO_TIMESTAMPNS`), on the caller's monotonic clock.
    pub received_at: Instant,
}

/// An advert to send, written into the buffer given to [`Director::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The instance that sends it: its interface (or virtual MAC) and socket.
    pub instance: InstanceId,
    /// The IP source address (the instance's primary address).
    pub src: IpAddr,
    /// The IP destination: the VRRP multicast group or a unicast peer.
    pub dst: IpAddr,
    /// The advert's length: the bytes to send are `buf[..len]`.
    pub len: usize,
    /// The path: 0 the instance's own interface, `k` its `paths[k - 1]`
    /// ([`InstanceConfig::paths`](super::InstanceConfig::paths)).
    pub path: usize,
}

/// The longest advert the director writes: the codec's address limits
/// ([`wire::MAX_ADDRESSES_V4`], [`wire::MAX_ADDRESSES_V6`]) with the 8-byte header, VRRPv2
/// authentication data and the longest HMAC trailer ([`auth::MAX_TRAILER_LEN`]). A buffer of
/// this size never grows.
pub const MAX_ADVERT_LEN: usize = {
    let v4 = wire::HEADER_LEN + 4 * wire::MAX_ADDRESSES_V4 + wire::AUTH_DATA_LEN;
    let v6 = wire::HEADER_LEN + 16 * wire::MAX_ADDRESSES_V6;
    (if v4 > v6 { v4 } else { v6 }) + auth::MAX_TRAILER_LEN
};

/// What one advert path of an instance has heard ([`Director::paths`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStatus {
    /// Valid adverts received on it (authenticated when the instance has a key).
    pub adverts_received: u64,
    /// When the last one was received.
    pub last_heard: Option<Instant>,
    /// Whether it is silent: it heard adverts, then none for three advert intervals while
    /// another path of the instance still heard them.
    pub silent: bool,
}

/// The director's advert sequence numbers and the path copies of the last router advert.
#[derive(Debug, Clone, Default)]
pub(super) struct DirectorWire {
    /// High 32 bits of the sequence numbers: [`Director::set_advert_generation`].
    generation: u32,
    /// Adverts signed in this generation.
    counter: u32,
    /// Adverts still to send on extra paths: (instance, advert, path, destination).
    path_out: VecDeque<(InstanceId, RouterTransmit, usize, IpAddr)>,
}

impl DirectorWire {
    /// The next sequence number: strictly increasing (a wrapped counter moves to the next
    /// generation).
    fn next_sequence(&mut self) -> u64 {
        if self.counter == u32::MAX {
            self.generation = self.generation.wrapping_add(1);
            self.counter = 0;
        }
        self.counter += 1;
        auth::sequence(self.generation, self.counter)
    }
}

/// What sending and checking adverts need for one instance, computed when it is built.
#[derive(Debug, Clone, Default)]
pub(super) struct InstWire {
    /// The addresses listed in its adverts, by family (only its own family is used).
    v4: Vec<std::net::Ipv4Addr>,
    v6: Vec<std::net::Ipv6Addr>,
    /// Messages for this instance that the codec dropped.
    pub(super) drops: DropCounts,
    /// The sequence numbers accepted per source (instances with a key).
    replay: ReplayGuard,
    /// Path 0 (its interface), then its extra paths.
    paths: Vec<PathStatus>,
}

impl InstWire {
    /// The adverts' address list of an instance
    /// ([`InstanceConfig::advert_addresses`](super::InstanceConfig::advert_addresses)); an
    /// error if they do not fit one advert.
    pub(super) fn new(cfg: &super::InstanceConfig) -> Result<InstWire, wire::TooManyAddresses> {
        let mut w = InstWire::default();
        for a in cfg.advert_addresses() {
            match a {
                IpAddr::V4(a) => w.v4.push(a),
                IpAddr::V6(a) => w.v6.push(a),
            }
        }
        w.addresses(Family::of(cfg.router.primary_address))?;
        w.paths = vec![PathStatus::default(); cfg.paths.len() + 1];
        Ok(w)
    }

    fn addresses(&self, family: Family) -> Result<Addresses<'_>, wire::TooManyAddresses> {
        match family {
            Family::Ipv4 => Addresses::v4(&self.v4),
            Family::Ipv6 => Addresses::v6(&self.v6),
        }
    }
}

impl Inst {
    /// The receive checks' context of this instance for a packet with `meta`. A unicast
    /// instance's adverts sent to it by unicast are not held to TTL 255, as keepalived does
    /// not (a peer may set `unicast_ttl` to cross routers), but to the peer's range when one
    /// is configured ([`InstanceConfig::peer_ttl`](super::InstanceConfig::peer_ttl)); multicast
    /// ones always are. The codec checks for 255, so an accepted TTL is passed as 255 and a
    /// refused one as something else (counted as `bad_ttl`).
    fn rx_context(&self, meta: &PacketMeta<'_>, path: usize) -> RxContext {
        let r = &self.cfg.router;
        let peers = match path.checked_sub(1).and_then(|k| self.cfg.paths.get(k)) {
            Some(p) => &p.peers,
            None => &r.peers,
        };
        let ttl = if !peers.is_empty() && !meta.dst.is_multicast() {
            let in_range = self
                .cfg
                .peer_ttl
                .iter()
                .filter(|_| path == 0)
                .find(|p| p.0 == meta.src)
                .is_none_or(|&(_, min, max)| (min..=max).contains(&meta.ttl));
            match (in_range, meta.ttl) {
                (true, _) => wire::TTL,
                (false, wire::TTL) => 0,
                (false, t) => t,
            }
        } else {
            meta.ttl
        };
        RxContext {
            version: r.version,
            vrid: r.vrid,
            family: meta.family,
            auth: self.cfg.auth,
            v2_interval: match r.advert_interval {
                AdvertInterval::V2(s) => s,
                AdvertInterval::V3(_) => Seconds(1),
            },
            checksum_mode: self.cfg.checksum_mode,
            src: meta.src,
            dst: meta.dst,
            ttl,
        }
    }

    /// Encodes a router transmit from `src` to `dst` into `buf`, with the HMAC trailer when
    /// the instance has a key (`sequence` draws its number).
    fn encode(
        &self,
        t: &RouterTransmit,
        src: IpAddr,
        dst: IpAddr,
        buf: &mut Vec<u8>,
        sequence: impl FnOnce() -> u64,
    ) -> Option<usize> {
        let addresses = self.wire.addresses(Family::of(src)).ok()?;
        let advert = Advert {
            vrid: t.vrid,
            priority: t.priority,
            interval: t.interval,
            addresses,
            auth: match t.version {
                Version::V2 => self.cfg.auth,
                Version::V3 => Auth::None,
            },
        };
        let len = advert.buffer_len() + auth::MAX_TRAILER_LEN;
        if buf.len() < len {
            buf.resize(len.max(MAX_ADVERT_LEN), 0);
        }
        let n = advert.emit(buf, self.cfg.checksum_mode, src, dst).ok()?;
        match &self.cfg.advert_key {
            None => Some(n),
            Some(key) => key.sign(buf, n, src, dst, sequence()).ok(),
        }
    }

    /// Where a path sends: its peers, or its multicast group.
    fn path_destinations(&self, path: &AdvertPath) -> Vec<IpAddr> {
        if path.peers.is_empty() {
            vec![path.multicast_group.unwrap_or(match path.source {
                IpAddr::V4(_) => IpAddr::V4(wire::MULTICAST_V4),
                IpAddr::V6(_) => IpAddr::V6(wire::MULTICAST_V6),
            })]
        } else {
            path.peers.clone()
        }
    }

    /// The source a path advert is given to the router as (see the module docs).
    fn router_source(&self, path: usize, src: IpAddr) -> IpAddr {
        let main = &self.cfg.router.peers;
        let Some(p) = path.checked_sub(1).and_then(|k| self.cfg.paths.get(k)) else {
            return src;
        };
        if main.is_empty() {
            return src;
        }
        let at = p.peers.iter().position(|a| *a == src).unwrap_or(0);
        main.get(at).or(main.last()).copied().unwrap_or(src)
    }

    /// Counts a valid advert heard on `path` at `at` (sent at `interval`), reports the path
    /// alive again if it was silent, and reports silent the other paths that heard nothing
    /// for three intervals.
    fn heard_on(
        &mut self,
        id: InstanceId,
        path: usize,
        at: Instant,
        interval: Duration,
        events: &mut VecDeque<DirectorEvent>,
    ) {
        let name = |inst: &Inst, k: usize| match k.checked_sub(1) {
            None => inst.cfg.interface.clone(),
            Some(k) => inst
                .cfg
                .paths
                .get(k)
                .map_or_else(String::new, |p| p.interface.clone()),
        };
        let Some(p) = self.wire.paths.get_mut(path) else {
            return;
        };
        p.adverts_received += 1;
        p.last_heard = Some(at);
        if std::mem::take(&mut p.silent) {
            events.push_back(DirectorEvent::PathChanged {
                instance: id,
                path,
                interface: name(self, path),
                alive: true,
            });
        }
        if self.cfg.paths.is_empty() {
            return;
        }
        let limit = interval.saturating_mul(3);
        for k in 0..self.wire.paths.len() {
            let p = self.wire.paths[k];
            if k != path
                && !p.silent
                && p.last_heard
                    .is_some_and(|t| at.saturating_duration_since(t) > limit)
            {
                self.wire.paths[k].silent = true;
                events.push_back(DirectorEvent::PathChanged {
                    instance: id,
                    path: k,
                    interface: name(self, k),
                    alive: false,
                });
            }
        }
    }
}

/// Every interface an instance hears adverts on: its own, then its paths'.
pub(super) fn interfaces(cfg: &InstanceConfig) -> impl Iterator<Item = &String> {
    std::iter::once(&cfg.interface).chain(cfg.paths.iter().map(|p| &p.interface))
}

/// Checks an instance's advert key and paths: a key is not empty and not with VRRPv2
/// authentication; a path is on another interface than the instance's and the other paths',
/// sends from an address of the instance's family, and its peers and group are of that family.
pub(super) fn check_paths(cfg: &InstanceConfig) -> Result<(), DirectorConfigError> {
    let bad = |detail: String| DirectorConfigError::AdvertPath {
        instance: cfg.name.clone(),
        detail,
    };
    if cfg.advert_key.is_some() && cfg.auth != Auth::None {
        return Err(bad(
            "an advert key (HMAC trailer) and VRRPv2 authentication cannot be used together".into(),
        ));
    }
    let v4 = cfg.router.primary_address.is_ipv4();
    for (k, p) in cfg.paths.iter().enumerate() {
        if interfaces(cfg).take(k + 1).any(|i| *i == p.interface) {
            return Err(bad(format!(
                "advert path {} is on interface {}, which the instance already uses",
                k + 1,
                p.interface
            )));
        }
        let wrong = std::iter::once(&p.source)
            .chain(&p.peers)
            .chain(&p.multicast_group)
            .find(|a| a.is_ipv4() != v4 || a.is_unspecified());
        if let Some(a) = wrong {
            return Err(bad(format!(
                "advert path {} on {}: address {a} is unspecified or not of the family of primary address {}",
                k + 1,
                p.interface,
                cfg.router.primary_address
            )));
        }
    }
    Ok(())
}

impl Director {
    /// Validates a received VRRP message and finds its instance, without feeding it: the
    /// first half of [`Director::handle_packet`] for a caller that feeds adverts later, at
    /// their receive time ([`crate::late::LateDriver`]). A drop is counted.
    pub fn validate_packet(
        &mut self,
        meta: &PacketMeta<'_>,
        bytes: &[u8],
    ) -> Result<(InstanceId, RxAdvert), DropReason> {
        let Some(&vrid) = bytes.get(1) else {
            self.unmatched.count(DropReason::TooShort);
            return Err(DropReason::TooShort);
        };
        let Some(vrid) = VrId::new(vrid) else {
            self.unmatched.count(DropReason::ZeroVrid);
            return Err(DropReason::ZeroVrid);
        };
        let Some((id, path)) = self.find_path(meta.interface, vrid, meta.family == Family::Ipv4)
        else {
            self.unmatched.count(DropReason::VridMismatch);
            return Err(DropReason::VridMismatch);
        };
        let inst = &mut self.insts[id.0 as usize];
        let ctx = inst.rx_context(meta, path);
        // The HMAC trailer first: nothing of an unauthenticated message is looked at.
        let (vrrp, sequence) = match &inst.cfg.advert_key {
            None => (bytes, None),
            Some(key) => match key.verify(bytes, meta.family, meta.src, meta.dst) {
                Ok(v) => (v.vrrp, Some(v.sequence)),
                Err(e) => {
                    tracing::debug!(instance = %inst.cfg.name, src = %meta.src, error = %e, "advert not authenticated");
                    inst.wire.drops.count(DropReason::Auth);
                    return Err(DropReason::Auth);
                }
            },
        };
        let checked = Packet::new_checked(vrrp, meta.family)
            .and_then(|p| wire::validate(&p, &ctx).map(|a| (a.vrid, a.priority, a.interval)));
        let (vrid, priority, interval) = match checked {
            Ok(v) => v,
            Err(e) => {
                let reason = e.reason();
                inst.wire.drops.count(reason);
                return Err(reason);
            }
        };
        if let Some(seq) = sequence {
            if !inst.wire.replay.is_fresh(meta.src, seq) {
                inst.wire.drops.count(DropReason::Replay);
                return Err(DropReason::Replay);
            }
            inst.wire.replay.accept(meta.src, seq);
        }
        if let Some(p) = path.checked_sub(1).and_then(|k| inst.cfg.paths.get(k)) {
            // The router's own-advert and peer checks, for the path's addresses.
            let reason = if meta.src == p.source {
                Some(DropReason::OwnAdvert)
            } else if !p.peers.is_empty() && !p.peers.contains(&meta.src) {
                Some(DropReason::NotFromPeer)
            } else {
                None
            };
            if let Some(reason) = reason {
                inst.wire.drops.count(reason);
                return Err(reason);
            }
        }
        if meta.src != inst.cfg.router.primary_address {
            inst.heard_on(
                id,
                path,
                meta.received_at,
                interval.to_duration(),
                &mut self.events,
            );
        }
        let src = inst.router_source(path, meta.src);
        Ok((id, RxAdvert::new(src, vrid, priority, interval)))
    }

    /// The instance running `vrid` for `ipv4`'s family on `interface` and the path it is
    /// (0: the instance's own interface, `k`: its `paths[k - 1]`).
    pub fn find_path(
        &self,
        interface: &str,
        vrid: VrId,
        ipv4: bool,
    ) -> Option<(InstanceId, usize)> {
        self.insts.iter().enumerate().find_map(|(i, inst)| {
            if inst.cfg.router.vrid != vrid || inst.cfg.router.primary_address.is_ipv4() != ipv4 {
                return None;
            }
            interfaces(&inst.cfg)
                .position(|n| n == interface)
                .map(|k| (InstanceId(i as u32), k))
        })
    }

    /// What each advert path of an instance heard: path 0 its own interface, `k` its
    /// `paths[k - 1]`. Empty for an unknown instance.
    pub fn paths(&self, instance: InstanceId) -> &[PathStatus] {
        self.insts
            .get(instance.0 as usize)
            .map_or(&[], |i| &i.wire.paths[..])
    }

    /// Sets the high 32 bits of the sequence numbers of authenticated adverts: the unix time
    /// in seconds when the node started (the runtime reads the clock; this core does not).
    /// Call it once before the first [`Director::poll_transmit`]; a node restarted later
    /// continues above the numbers its peers accepted before.
    pub fn set_advert_generation(&mut self, generation: u32) {
        self.wire.generation = generation;
        self.wire.counter = 0;
    }

    /// Validates a received VRRP message, finds its instance and feeds its router at `now`.
    /// Returns the instance, or why the message was dropped (by the codec, or by the router's
    /// own rules); every drop is counted ([`Director::drops`]).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        meta: &PacketMeta<'_>,
        bytes: &[u8],
    ) -> Result<InstanceId, DropReason> {
        let (id, adv) = self.validate_packet(meta, bytes)?;
        let before = *self.insts[id.0 as usize].router.counters().drops();
        self.handle_advert(now, id, adv)
            .expect("validate_packet returns a known instance");
        let after = self.insts[id.0 as usize].router.counters().drops();
        match after
            .iter()
            .zip(before.iter())
            .find(|((_, a), (_, b))| a != b)
        {
            Some(((reason, _), _)) => Err(reason),
            None => Ok(id),
        }
    }

    /// Writes the next advert into `buf` (grown to [`MAX_ADVERT_LEN`] if shorter) and says
    /// what it is; send `buf[..len]` as it is. Adverts come in the order the instances'
    /// routers asked for them.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        loop {
            let (instance, t, path, dst) = match self.wire.path_out.pop_front() {
                Some(queued) => queued,
                None => {
                    let (instance, t) = self.transmits.pop_front()?;
                    // The same advert on every extra path, right after this one.
                    let inst = &self.insts[instance.0 as usize];
                    for (k, p) in inst.cfg.paths.iter().enumerate() {
                        for dst in inst.path_destinations(p) {
                            let copy = RouterTransmit {
                                destination: if dst.is_multicast() {
                                    Destination::Multicast(dst)
                                } else {
                                    Destination::Unicast(dst)
                                },
                                ..t
                            };
                            self.wire.path_out.push_back((instance, copy, k + 1, dst));
                        }
                    }
                    (instance, t, 0, t.destination.addr())
                }
            };
            let inst = &self.insts[instance.0 as usize];
            let src = match path.checked_sub(1).and_then(|k| inst.cfg.paths.get(k)) {
                Some(p) => p.source,
                None => inst.cfg.router.primary_address,
            };
            let wire = &mut self.wire;
            // The address list was checked when the instance was built, and the buffer is
            // long enough: encoding cannot fail.
            let Some(len) = inst.encode(&t, src, dst, buf, || wire.next_sequence()) else {
                tracing::error!(instance = %inst.cfg.name, "advert not encodable: skipped");
                continue;
            };
            return Some(Transmit {
                instance,
                src,
                dst,
                len,
                path,
            });
        }
    }

    /// Every message dropped for an instance, by reason: the codec's (authentication,
    /// checksum, TTL, ...) and its router's (own advert, not from a peer, lower priority, ...).
    pub fn drops(&self, instance: InstanceId) -> DropCounts {
        let Some(inst) = self.insts.get(instance.0 as usize) else {
            return DropCounts::default();
        };
        let mut d = inst.wire.drops;
        d.add(inst.router.counters().drops());
        d
    }

    /// Messages dropped before an instance was found: too short for a VRID, VRID 0, or a VRID
    /// that no instance runs on the interface and family it arrived on.
    pub fn unmatched_drops(&self) -> &DropCounts {
        &self.unmatched
    }
}
