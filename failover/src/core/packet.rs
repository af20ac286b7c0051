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
//!
//! [`InstanceConfig`]: super::InstanceConfig

use std::net::IpAddr;
use std::time::Instant;

use ha_vrrp_proto::router::{RxAdvert, Transmit as RouterTransmit};
use ha_vrrp_proto::wire::{self, Addresses, Advert, Auth, Family, Packet, RxContext};
use ha_vrrp_proto::{AdvertInterval, DropCounts, DropReason, Seconds, Version, VrId};

use super::{Director, Inst, InstanceId};

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
}

/// The longest advert the director writes: the codec's address limits
/// ([`wire::MAX_ADDRESSES_V4`], [`wire::MAX_ADDRESSES_V6`]) with the 8-byte header and VRRPv2
/// authentication data. A buffer of this size never grows.
pub const MAX_ADVERT_LEN: usize = {
    let v4 = wire::HEADER_LEN + 4 * wire::MAX_ADDRESSES_V4 + wire::AUTH_DATA_LEN;
    let v6 = wire::HEADER_LEN + 16 * wire::MAX_ADDRESSES_V6;
    if v4 > v6 { v4 } else { v6 }
};

/// What sending and checking adverts need for one instance, computed when it is built.
#[derive(Debug, Clone, Default)]
pub(super) struct InstWire {
    /// The addresses listed in its adverts, by family (only its own family is used).
    v4: Vec<std::net::Ipv4Addr>,
    v6: Vec<std::net::Ipv6Addr>,
    /// Messages for this instance that the codec dropped.
    pub(super) drops: DropCounts,
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
    fn rx_context(&self, meta: &PacketMeta<'_>) -> RxContext {
        let r = &self.cfg.router;
        let ttl = if !r.peers.is_empty() && !meta.dst.is_multicast() {
            let in_range = self
                .cfg
                .peer_ttl
                .iter()
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

    /// Encodes a router transmit into `buf`.
    fn encode(&self, t: &RouterTransmit, buf: &mut Vec<u8>) -> Option<usize> {
        let src = self.cfg.router.primary_address;
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
        let len = advert.buffer_len();
        if buf.len() < len {
            buf.resize(len.max(MAX_ADVERT_LEN), 0);
        }
        advert
            .emit(buf, self.cfg.checksum_mode, src, t.destination.addr())
            .ok()
    }
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
        let Some(id) = self.find_instance(meta.interface, vrid, meta.family == Family::Ipv4) else {
            self.unmatched.count(DropReason::VridMismatch);
            return Err(DropReason::VridMismatch);
        };
        let inst = &mut self.insts[id.0 as usize];
        let ctx = inst.rx_context(meta);
        let checked = Packet::new_checked(bytes, meta.family)
            .and_then(|p| wire::validate(&p, &ctx).map(|a| (a.vrid, a.priority, a.interval)));
        match checked {
            Ok((vrid, priority, interval)) => {
                Ok((id, RxAdvert::new(meta.src, vrid, priority, interval)))
            }
            Err(e) => {
                let reason = e.reason();
                inst.wire.drops.count(reason);
                Err(reason)
            }
        }
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
            let (instance, t) = self.transmits.pop_front()?;
            let inst = &self.insts[instance.0 as usize];
            // The address list was checked when the instance was built, and the buffer is
            // long enough: encoding cannot fail.
            let Some(len) = inst.encode(&t, buf) else {
                tracing::error!(instance = %inst.cfg.name, "advert not encodable: skipped");
                continue;
            };
            return Some(Transmit {
                instance,
                src: inst.cfg.router.primary_address,
                dst: t.destination.addr(),
                len,
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
